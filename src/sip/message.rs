//! A parsed SIP message: the original bytes plus spans of the start line, every header field
//! and the body (RFC 3261 §7). Parsing never copies or normalises the input.

use crate::sip::StatusCode;
use crate::sip::error::{ParseError, ParseErrorKind};
use crate::sip::header::{Header, HeaderName};
use crate::sip::method::Method;
use crate::sip::params::ParamList;
use crate::sip::span::Span;
use crate::sip::uri::NameAddr;

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`
    Request {
        /// The method.
        method: Method,
        /// The Request-URI span.
        uri: Span,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`
    Response {
        /// The status code (100..=699).
        code: StatusCode,
        /// The reason phrase span (may be empty).
        reason: Span,
    },
}

/// A SIP message as original bytes plus spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    bytes: Vec<u8>,
    start: StartLine,
    start_line: Span,
    headers: Vec<Header>,
    /// Where the empty line that ends the header section starts (an insertion point for new
    /// header fields).
    headers_end: Span,
    body: Span,
    crlf: bool,
}

/// RFC 3261 `token` characters, as a lookup table (the parser checks every header-name byte).
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
        i += 1;
    }
    t
};

fn is_token_byte(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Find the end of the line starting at `from`: returns (content end, line end incl. EOL).
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let nl = memchr::memchr(b'\n', buf.get(from..)?)? + from;
    let content_end = if nl > from && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    Some((content_end, nl + 1))
}

impl Message {
    /// Parse exactly one message: the body runs to the end of `bytes`. Leading CR/LF bytes are
    /// skipped (RFC 3261 §7.5). A Content-Length that disagrees with the body is *not* an error
    /// here (framing enforces it; the oracle reports it): see [`crate::sip::framing`].
    pub fn parse(bytes: impl Into<Vec<u8>>) -> Result<Message, ParseError> {
        let bytes = bytes.into();
        let mut m = parse_parts(&bytes)?;
        m.bytes = bytes;
        Ok(m)
    }

    /// [`Message::parse`] that gives the bytes back, with the error, when they do not parse.
    pub fn parse_keeping(bytes: Vec<u8>) -> Result<Message, (ParseError, Vec<u8>)> {
        match parse_parts(&bytes) {
            Ok(mut m) => {
                m.bytes = bytes;
                Ok(m)
            }
            Err(e) => Err((e, bytes)),
        }
    }

    /// [`Message::parse`] that gives the bytes back when they do not parse.
    pub fn parse_or_keep(bytes: Vec<u8>) -> Result<Message, Vec<u8>> {
        match parse_parts(&bytes) {
            Ok(mut m) => {
                m.bytes = bytes;
                Ok(m)
            }
            Err(_) => Err(bytes),
        }
    }

    /// The whole message as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Consume the message, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    /// The parsed start line.
    pub fn start(&self) -> &StartLine {
        &self.start
    }
    /// The start line's span (without its line end).
    pub fn start_line_span(&self) -> Span {
        self.start_line
    }
    /// Every header field in order.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }
    /// Give back the spare capacity of the header index (up to half of it after parsing), for
    /// a message kept a long time (a client transaction holds its request up to 32 s). A clone
    /// has none.
    pub fn shrink_to_fit(&mut self) {
        self.headers.shrink_to_fit();
        self.bytes.shrink_to_fit();
    }
    /// The body span.
    pub fn body_span(&self) -> Span {
        self.body
    }
    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        self.body.of(&self.bytes)
    }
    /// The empty line that ends the header section (an insertion point for new fields).
    pub fn headers_end(&self) -> Span {
        self.headers_end
    }
    /// The line end this message uses (`\r\n`, or `\n` for LF-only input).
    pub fn eol(&self) -> &'static [u8] {
        if self.crlf { b"\r\n" } else { b"\n" }
    }
    /// Bytes of a span of this message.
    pub fn slice(&self, span: Span) -> &[u8] {
        span.of(&self.bytes)
    }
    /// A span's bytes as text (lossy for non-UTF-8 bytes).
    pub fn text(&self, span: Span) -> std::borrow::Cow<'_, str> {
        crate::sip::lossy(self.slice(span))
    }
    /// The value of a header field as text.
    pub fn value(&self, h: &Header) -> std::borrow::Cow<'_, str> {
        self.text(h.value)
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }
    /// The method of a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }
    /// The status code of a response.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }
    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<std::borrow::Cow<'_, str>> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(self.text(*uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// Every field with this name, in order.
    pub fn all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Header> + 'a {
        self.headers.iter().filter(move |h| &h.name == name)
    }
    /// The first field with this name.
    pub fn first(&self, name: &HeaderName) -> Option<&Header> {
        self.headers.iter().find(|h| &h.name == name)
    }
    /// The first field's value as text.
    pub fn first_value(&self, name: &HeaderName) -> Option<std::borrow::Cow<'_, str>> {
        self.first(name).map(|h| self.value(h))
    }
    /// Every list element of every field with this name, in order (for list headers:
    /// comma-separated values split outside quotes and `<>`).
    pub fn list_values(&self, name: &HeaderName) -> Vec<Span> {
        self.list_iter(name).collect()
    }
    /// [`Message::list_values`] one by one, nothing collected (for a caller that only walks
    /// them, counts them or takes the first).
    pub fn list_iter<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = Span> + 'a {
        self.all(name).flat_map(move |h| crate::sip::params::ListItems::new(&self.bytes, h.value))
    }

    /// The Call-ID value.
    pub fn call_id(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.first_value(&HeaderName::CallId)
    }
    /// CSeq number and method.
    pub fn cseq(&self) -> Result<(u32, Method), ParseError> {
        let h = self.required(&HeaderName::CSeq, "CSeq")?;
        let v = self.value(h);
        let mut it = v.split_ascii_whitespace();
        let bad = |why| ParseError::at(ParseErrorKind::BadValue { name: "CSeq", why }, &self.bytes, h.value.start);
        let num = it.next().ok_or_else(|| bad("empty"))?;
        let num: u32 = num.parse().map_err(|_| bad("sequence number is not a 32-bit number"))?;
        let m = it.next().ok_or_else(|| bad("no method"))?;
        if it.next().is_some() {
            return Err(bad("trailing text"));
        }
        Ok((num, Method::from_token(m)))
    }
    /// Max-Forwards, when present.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        let Some(h) = self.single(&HeaderName::MaxForwards, "Max-Forwards")? else {
            return Ok(None);
        };
        let v = self.value(h);
        // 1*DIGIT: leading zeros are valid (RFC 4475 `wsinv` sends `0068`).
        if v.is_empty() || v.trim_start_matches('0').len() > 3 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::at(
                ParseErrorKind::BadValue { name: "Max-Forwards", why: "not a number 0..=255" },
                &self.bytes,
                h.value.start,
            ));
        }
        let n: u32 = v.parse().unwrap_or(u32::MAX);
        if n > 255 {
            return Err(ParseError::at(
                ParseErrorKind::BadValue { name: "Max-Forwards", why: "not a number 0..=255" },
                &self.bytes,
                h.value.start,
            ));
        }
        Ok(Some(n))
    }
    /// Content-Length, when present (exactly one field allowed).
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        let Some(h) = self.single(&HeaderName::ContentLength, "Content-Length")? else {
            return Ok(None);
        };
        let v = self.value(h);
        if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::at(
                ParseErrorKind::BadValue { name: "Content-Length", why: "not a non-negative number" },
                &self.bytes,
                h.value.start,
            ));
        }
        Ok(v.parse().ok())
    }
    /// The From header as a name-addr.
    pub fn from_addr(&self) -> Result<NameAddr, ParseError> {
        self.name_addr(&HeaderName::From, "From")
    }
    /// The To header as a name-addr.
    pub fn to_addr(&self) -> Result<NameAddr, ParseError> {
        self.name_addr(&HeaderName::To, "To")
    }
    /// The `tag` parameter of From.
    pub fn from_tag(&self) -> Option<String> {
        self.from_addr().ok().and_then(|a| a.param(&self.bytes, "tag"))
    }
    /// The `tag` parameter of To.
    pub fn to_tag(&self) -> Option<String> {
        // As `to_addr` then its `tag`, without collecting the other parameters.
        let h = self.single(&HeaderName::To, "To").ok().flatten()?;
        NameAddr::uri_of(&self.bytes, h.value)?;
        ParamList::find(&self.bytes, h.value, "tag").map(|p| p.value_text(&self.bytes).into_owned())
    }
    /// The topmost Via value.
    pub fn top_via(&self) -> Option<Span> {
        self.list_iter(&HeaderName::Via).next()
    }
    /// The `branch` parameter of the topmost Via.
    pub fn top_via_branch(&self) -> Option<String> {
        let v = self.top_via()?;
        ParamList::find(&self.bytes, v, "branch").map(|p| p.value_text(&self.bytes).into_owned())
    }

    /// The single field with this name; error when it appears twice.
    pub fn single(&self, name: &HeaderName, label: &'static str) -> Result<Option<&Header>, ParseError> {
        let mut it = self.headers.iter().filter(|h| &h.name == name);
        let first = it.next();
        if let Some(second) = it.next() {
            return Err(ParseError::at(ParseErrorKind::Duplicate(label), &self.bytes, second.line.start));
        }
        Ok(first)
    }
    fn required(&self, name: &HeaderName, label: &'static str) -> Result<&Header, ParseError> {
        self.single(name, label)?
            .ok_or_else(|| ParseError::at(ParseErrorKind::Missing(label), &self.bytes, self.headers_end.start))
    }
    fn name_addr(&self, name: &HeaderName, label: &'static str) -> Result<NameAddr, ParseError> {
        let uri = self.name_addr_uri(name, label)?;
        let h = self.required(name, label)?;
        Ok(NameAddr { uri, params: ParamList::parse(&self.bytes, h.value) })
    }

    /// The URI of [`Message::name_addr`]: the same errors, the parameters not read.
    fn name_addr_uri(&self, name: &HeaderName, label: &'static str) -> Result<Span, ParseError> {
        let h = self.required(name, label)?;
        NameAddr::uri_of(&self.bytes, h.value).ok_or_else(|| {
            ParseError::at(
                ParseErrorKind::BadValue { name: label, why: "not a name-addr or addr-spec" },
                &self.bytes,
                h.value.start,
            )
        })
    }

    /// Check what a proxy must be able to parse to do its job (RFC 3261 §16.3 and docs/decisions.md D15):
    /// Via, CSeq, Call-ID, From, To, Max-Forwards, Route, Content-Length.
    pub fn validate_for_proxy(&self) -> Result<(), ParseError> {
        let at = |kind, off| ParseError::at(kind, &self.bytes, off);
        let mut vias = 0;
        for v in self.list_iter(&HeaderName::Via) {
            vias += 1;
            crate::sip::uri::ViaRef::parse(&self.bytes, v).ok_or_else(|| {
                at(ParseErrorKind::BadValue { name: "Via", why: "not SIP/2.0/<transport> host[:port]" }, v.start)
            })?;
        }
        if vias == 0 {
            return Err(at(ParseErrorKind::Missing("Via"), self.headers_end.start));
        }
        let (_, cseq_method) = self.cseq()?;
        if let Some(m) = self.method() {
            if cseq_method != *m {
                let h = self.first(&HeaderName::CSeq).map(|h| h.value.start).unwrap_or(0);
                return Err(at(
                    ParseErrorKind::BadValue { name: "CSeq", why: "method does not match the request line" },
                    h,
                ));
            }
        }
        let cid = self.required(&HeaderName::CallId, "Call-ID")?;
        if cid.value.is_empty() || self.slice(cid.value).iter().any(|b| b.is_ascii_whitespace()) {
            return Err(at(
                ParseErrorKind::BadValue { name: "Call-ID", why: "empty or contains whitespace" },
                cid.value.start,
            ));
        }
        self.name_addr_uri(&HeaderName::From, "From")?;
        self.name_addr_uri(&HeaderName::To, "To")?;
        self.max_forwards()?;
        self.content_length()?;
        for r in self.list_iter(&HeaderName::Route) {
            NameAddr::uri_of(&self.bytes, r)
                .ok_or_else(|| at(ParseErrorKind::BadValue { name: "Route", why: "not a name-addr" }, r.start))?;
        }
        Ok(())
    }
}

/// What [`Message::parse`] finds in `bytes`, as a message whose own bytes are still empty (the
/// caller hands them over: a parse that fails leaves them with the caller).
fn parse_parts(bytes: &[u8]) -> Result<Message, ParseError> {
    let mut pos = 0;
    while pos < bytes.len() && (bytes[pos] == b'\r' || bytes[pos] == b'\n') {
        pos += 1;
    }
    if pos >= bytes.len() {
        return Err(ParseError::at(ParseErrorKind::Empty, bytes, pos));
    }
    let (sl_end, mut next) =
        line_end(bytes, pos).ok_or_else(|| ParseError::at(ParseErrorKind::Unterminated, bytes, bytes.len()))?;
    let crlf = sl_end < next - 1;
    let start_line = Span::new(pos, sl_end);
    let start = parse_start_line(bytes, start_line)?;

    // Room for a typical request's header fields up front (growing 4, 8, 16 costs three
    // allocations and copies per message).
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    let mut line_no = 1 + bytes[..pos].iter().filter(|&&b| b == b'\n').count();
    loop {
        line_no += 1;
        let (content_end, eol) =
            line_end(bytes, next).ok_or_else(|| ParseError::at(ParseErrorKind::Unterminated, bytes, bytes.len()))?;
        if content_end == next {
            // The empty line: the body follows.
            let headers_end = Span::new(next, eol);
            let body = Span::new(eol, bytes.len());
            return Ok(Message { bytes: Vec::new(), start, start_line, headers, headers_end, body, crlf });
        }
        let first = bytes[next];
        if first == b' ' || first == b'\t' {
            // Folded continuation (RFC 3261 §7.3.1): extend the previous field.
            let Some(h) = headers.last_mut() else {
                return Err(ParseError::at(ParseErrorKind::LeadingContinuation, bytes, next));
            };
            h.line.end = eol;
            if content_end > h.value.end || h.value.is_empty() {
                let trimmed = trim_end_ws(bytes, next, content_end);
                if trimmed > next {
                    if h.value.is_empty() {
                        let s = skip_ws(bytes, next, content_end);
                        h.value = Span::new(s, trimmed);
                    } else {
                        h.value.end = trimmed;
                    }
                }
            }
            next = eol;
            continue;
        }
        let line = &bytes[next..content_end];
        // A header line is a token, blanks, then the colon: found in one pass.
        let token = line.iter().position(|&b| !is_token_byte(b)).unwrap_or(line.len());
        let blanks = line[token..].iter().position(|&b| b != b' ' && b != b'\t').map_or(line.len(), |k| token + k);
        if token == 0 || line.get(blanks) != Some(&b':') {
            return Err(ParseError::at(ParseErrorKind::HeaderLine(header_line_fault(line)), bytes, next));
        }
        let name_span = Span::new(next, next + token);
        let name = HeaderName::parse_bytes(&line[..token]);
        let vstart = skip_ws(bytes, next + blanks + 1, content_end);
        let vend = trim_end_ws(bytes, vstart, content_end);
        headers.push(Header { name, name_span, value: Span::new(vstart, vend), line: Span::new(next, eol), line_no });
        next = eol;
    }
}

/// Why `line` is not `token *(SP / HTAB) ":" value`.
fn header_line_fault(line: &[u8]) -> &'static str {
    let Some(colon) = memchr::memchr(b':', line) else { return "no colon" };
    if line[..colon].iter().all(|&b| b == b' ' || b == b'\t') {
        "empty header name (the line starts with `:`)"
    } else {
        "invalid header name"
    }
}

fn skip_ws(buf: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

fn trim_end_ws(buf: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(buf[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

fn parse_start_line(buf: &[u8], sl: Span) -> Result<StartLine, ParseError> {
    let line = sl.of(buf);
    let err = |why, off: usize| ParseError::at(ParseErrorKind::StartLine(why), buf, sl.start + off);
    if line.starts_with(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp1 = memchr::memchr(b' ', line).ok_or_else(|| err("status line without a space", 0))?;
        if &line[..sp1] != b"SIP/2.0" {
            return Err(ParseError::at(ParseErrorKind::Version, buf, sl.start));
        }
        let rest = &line[sp1 + 1..];
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&b| b != b' ') {
            return Err(err("status code is not three digits", sp1 + 1));
        }
        let code = (rest[0] - b'0') as u16 * 100 + (rest[1] - b'0') as u16 * 10 + (rest[2] - b'0') as u16;
        if !(100..=699).contains(&code) {
            return Err(err("status code out of range 100..=699", sp1 + 1));
        }
        let reason_start = (sp1 + 5).min(line.len());
        return Ok(StartLine::Response { code: StatusCode::new(code), reason: sl.sub(reason_start, line.len()) });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF (single spaces, RFC 4475 lwsstart)
    let sp1 = memchr::memchr(b' ', line).ok_or_else(|| err("request line without a space", 0))?;
    let method = &line[..sp1];
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(err("method is not a token", 0));
    }
    let rest = &line[sp1 + 1..];
    let sp2 = memchr::memrchr(b' ', rest).ok_or_else(|| err("request line has no SIP version", sp1 + 1))?;
    let uri = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    if !version.starts_with(b"SIP/") {
        return Err(err("request line has no SIP version", sp1 + 2 + sp2));
    }
    if version != b"SIP/2.0" {
        return Err(ParseError::at(ParseErrorKind::Version, buf, sl.start + sp1 + 2 + sp2));
    }
    if uri.is_empty() || uri.iter().any(|&b| b == b' ' || b == b'\t' || b == b'<' || b == b'>') {
        return Err(err("Request-URI is empty or holds whitespace or <>", sp1 + 1));
    }
    if !uri.contains(&b':') {
        return Err(err("Request-URI has no scheme", sp1 + 1));
    }
    let method = Method::from_token(std::str::from_utf8(method).unwrap_or(""));
    Ok(StartLine::Request { method, uri: sl.sub(sp1 + 1, sp1 + 1 + sp2) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP a.example;branch=z9hG4bK1\r\na: *;+g.oma.sip-im,\r\n *;explicit\r\nCall-ID: x@y\r\nCSeq: 1 MESSAGE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@im.example.net>\r\nl: 2\r\n\r\nhi";

    #[test]
    fn shrink_to_fit_keeps_the_message_and_drops_spare_capacity() {
        // Seven header fields: the index grew to eight slots while parsing.
        let mut m = Message::parse(MSG.to_vec()).unwrap();
        assert!(m.headers.capacity() > m.headers.len());
        let before = (m.headers().to_vec(), m.bytes().to_vec());
        m.shrink_to_fit();
        assert_eq!(m.headers.capacity(), m.headers.len());
        assert_eq!((m.headers().to_vec(), m.bytes().to_vec()), before);
    }

    #[test]
    fn parses_spans_and_folds() {
        let m = Message::parse(MSG).unwrap();
        assert_eq!(m.method(), Some(&Method::Message));
        assert_eq!(m.request_uri().unwrap(), "sip:bob@im.example.net");
        let ac = m.first(&HeaderName::AcceptContact).unwrap();
        assert_eq!(m.slice(ac.name_span), b"a");
        assert_eq!(m.value(ac), "*;+g.oma.sip-im,\r\n *;explicit");
        assert_eq!(m.list_values(&HeaderName::AcceptContact).len(), 2);
        assert_eq!(m.content_length().unwrap(), Some(2));
        assert_eq!(m.body(), b"hi");
        assert_eq!(m.top_via_branch().as_deref(), Some("z9hG4bK1"));
        assert_eq!(m.from_tag().as_deref(), Some("1"));
        m.validate_for_proxy().unwrap();
    }

    #[test]
    fn errors_name_the_line() {
        let e = Message::parse(&b"MESSAGE sip:a@b SIP/2.0\r\nVia x\r\n\r\n"[..]).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("line 2"));
        let e = Message::parse(&b"MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\n: v\r\n\r\n"[..]).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("empty header name"), "{e}");
        let e = Message::parse(&b"INVITE sip:a@b SIP/7.0\r\n\r\n"[..]).unwrap_err();
        assert_eq!(e.status(), StatusCode::VERSION_NOT_SUPPORTED);
    }

    #[test]
    fn a_header_line_is_a_token_blanks_and_a_colon() {
        let parse = |line: &str| Message::parse(format!("OPTIONS sip:a@b SIP/2.0\r\n{line}\r\n\r\n").into_bytes());
        let m = parse("X-Foo \t : v").unwrap();
        assert_eq!((m.headers()[0].name_span.of(m.bytes()), m.value(&m.headers()[0]).as_ref()), (&b"X-Foo"[..], "v"));
        for (line, why) in [
            ("X-Foo v", "no colon"),
            (": v", "empty header name"),
            ("X Foo: v", "invalid header name"),
            ("X@Foo: v", "invalid header name"),
            ("X-Foo\x0c: v", "invalid header name"),
        ] {
            let e = parse(line).unwrap_err();
            assert!(e.to_string().contains(why), "{line:?}: {e}");
        }
    }
}
