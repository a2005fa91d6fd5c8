//! Reading SIP input files for `rewrite` and `check`: one message per file, framed as a server
//! would frame it (the message layer's parser and `sip::framing`, nothing of our own), with an
//! error naming the file and line for what cannot be read one way only, and a warning for what
//! is read otherwise than the bytes say (README, "Terminal output and input files"):
//! - LF-only line ends: read as CRLF, with a warning (a header section that mixes the two is an
//!   error);
//! - blank lines after the body Content-Length gives: ignored, with a warning;
//! - a second message after the first, a duplicate Content-Length, a Content-Length that
//!   disagrees with the body, a malformed line (an empty header name among them): errors.

use super::term;
use crate::base::escape::escape_source;
use crate::sip::framing::{FramingError, frame_datagram};
use crate::sip::{HeaderName, Message, ParseErrorKind};
use miette::{Diagnostic, NamedSource, SourceSpan};
use std::io::Read;
use std::path::Path;

/// A SIP file that cannot be read as one message, shown with the offending line.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{path}: {message}")]
pub struct SipInputError {
    /// The file.
    pub path: String,
    /// What is wrong, starting with `line N`.
    pub message: String,
    #[help]
    help: Option<String>,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    at: SourceSpan,
}

impl SipInputError {
    /// An error at byte `offset` of the file `bytes`, its label over the rest of that line.
    fn new(path: &Path, bytes: &[u8], offset: usize, message: String, help: Option<&str>) -> SipInputError {
        let offset = offset.min(bytes.len());
        let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |e| offset + e);
        let end = if end > offset && bytes[end - 1] == b'\r' { end - 1 } else { end };
        // The listing is escaped here, so that its spans point at the escaped text.
        let (text, map) = escape_source(bytes);
        let (start, stop) = (map[offset], map[end]);
        SipInputError {
            path: term::path(path),
            message,
            help: help.map(str::to_string),
            src: NamedSource::new(term::path(path), text),
            at: (start, stop.saturating_sub(start).max(1)).into(),
        }
    }
}

/// Read a file (or stdin for `-`) completely.
pub fn read_bytes(path: &Path) -> miette::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| miette::miette!("reading standard input: {e}"))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| miette::miette!("{}: {e}", term::path(path)))
}

/// Parse bytes as one SIP message, or explain where it fails.
pub fn parse(path: &Path, bytes: Vec<u8>) -> miette::Result<Message> {
    Message::parse(bytes.clone()).map_err(|error| {
        let help = match error.kind {
            ParseErrorKind::HeaderLine(_) => Some("a header field is one line `Name: value` (RFC 3261 §7.3)"),
            _ => None,
        };
        SipInputError::new(path, &bytes, error.offset, error.to_string(), help).into()
    })
}

/// 1-based line of byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count()
}

/// Read and parse one SIP file, framed as one message (see the module's doc).
pub fn read_message(path: &Path) -> miette::Result<Message> {
    let bytes = read_bytes(path)?;
    let m = parse(path, bytes)?;
    let m = line_ends(path, m)?;
    frame(path, m)
}

/// LF-only line ends are read as CRLF (with a warning); a header section that mixes the two is
/// an error.
fn line_ends(path: &Path, m: Message) -> miette::Result<Message> {
    let b = m.bytes();
    let head_end = m.headers_end().end;
    let start = m.start_line_span().start;
    let mut first_lf_only = None;
    let mut first_crlf = None;
    for nl in memchr::memchr_iter(b'\n', &b[start..head_end]).map(|i| start + i) {
        if nl > 0 && b[nl - 1] == b'\r' {
            first_crlf.get_or_insert(nl);
        } else {
            first_lf_only.get_or_insert(nl);
        }
    }
    match (first_crlf, first_lf_only) {
        (_, None) => Ok(m),
        (Some(crlf), Some(lf)) => {
            let at = b[..lf].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
            Err(SipInputError::new(
                path,
                b,
                at,
                format!(
                    "line {} ends in LF alone, line {} in CRLF: the header section mixes line ends",
                    line_of(b, lf),
                    line_of(b, crlf)
                ),
                Some("end every line with CRLF, as SIP sends it (RFC 3261 §7)"),
            )
            .into())
        }
        (None, Some(_)) => {
            let body_has_cr = m.body().contains(&b'\r');
            let crlf = |s: &[u8], out: &mut Vec<u8>| {
                for &c in s {
                    if c == b'\n' {
                        out.push(b'\r');
                    }
                    out.push(c);
                }
            };
            let mut out = Vec::with_capacity(b.len() + b.len() / 20);
            crlf(&b[..head_end], &mut out);
            if body_has_cr {
                out.extend_from_slice(&b[head_end..]);
            } else {
                crlf(&b[head_end..], &mut out);
            }
            term::warn(&format!(
                "{}: the file's line ends are LF only; it is read with CRLF line ends, as SIP sends it (RFC 3261 §7){}",
                term::path(path),
                if body_has_cr {
                    ": the header section only (the body holds CR bytes and is read as it is)"
                } else {
                    ""
                }
            ));
            parse(path, out)
        }
    }
}

/// The message as a server frames it: Content-Length (one field, a number) gives the body; blank
/// lines past it are ignored with a warning; anything else past it, or a body shorter than it,
/// is an error.
fn frame(path: &Path, m: Message) -> miette::Result<Message> {
    let b = m.bytes();
    let shown = term::path(path);
    let cl_fields: Vec<_> = m.all(&HeaderName::ContentLength).collect();
    let err = |offset: usize, message: String, help: &str| -> miette::Report {
        SipInputError::new(path, b, offset, message, Some(help)).into()
    };
    let body_line = line_of(b, m.body_span().start);
    let lead = m.start_line_span().start;
    let framed = match frame_datagram(b) {
        Ok(framed) => lead + framed.len(),
        Err(FramingError::BadContentLength { .. }) => {
            return Err(match cl_fields.as_slice() {
                [first, second, ..] => err(
                    second.line.start,
                    format!(
                        "line {}: Content-Length appears twice (lines {} and {}); a message has one",
                        second.line_no, first.line_no, second.line_no
                    ),
                    "keep one Content-Length field, the number of bytes after the empty line",
                ),
                [h] => err(
                    h.line.start,
                    format!("line {}: Content-Length `{}` is not a number of bytes", h.line_no, m.value(h)),
                    "Content-Length is the number of bytes after the empty line",
                ),
                [] => err(lead, "Content-Length cannot be read".into(), "give one Content-Length field"),
            });
        }
        Err(FramingError::BodyTooShort { declared, available }) => {
            let h = cl_fields.first().map_or((lead, 0), |h| (h.line.start, h.line_no));
            return Err(err(
                h.0,
                format!(
                    "line {}: Content-Length is {declared} but the body (from line {body_line}) holds {available} bytes, as read (CRLF line ends)",
                    h.1
                ),
                "set Content-Length to the number of bytes after the empty line",
            ));
        }
        Err(e) => return Err(miette::miette!("{shown}: {e}")),
    };
    if framed == b.len() {
        if cl_fields.is_empty() {
            second_message_in_body(path, &m)?;
        }
        return Ok(m);
    }
    // Bytes past the body that Content-Length gives.
    let extra = &b[framed..];
    if extra.iter().all(|c| matches!(c, b'\r' | b'\n')) {
        term::warn(&format!(
            "{shown}: {} blank byte(s) after the {}-byte body ignored",
            extra.len(),
            framed - m.body_span().start
        ));
        return parse(path, b[..framed].to_vec());
    }
    let skip = extra.iter().take_while(|c| matches!(c, b'\r' | b'\n')).count();
    let next = framed + skip;
    if starts_a_message(&b[next..]) {
        return Err(err(
            next,
            format!("line {}: a second SIP message starts here; a file holds one message", line_of(b, next)),
            "put each message in its own file",
        ));
    }
    let (at, line) = cl_fields.first().map_or((lead, 0), |h| (h.line.start, h.line_no));
    Err(err(
        at,
        format!(
            "line {line}: Content-Length is {} but the body (from line {body_line}) holds {} bytes, as read (CRLF line ends); the last {} would be cut off",
            framed - m.body_span().start,
            b.len() - m.body_span().start,
            b.len() - framed
        ),
        "set Content-Length to the number of bytes after the empty line",
    ))
}

/// Whether `rest` starts with a SIP start line (the message layer's parser decides).
fn starts_a_message(rest: &[u8]) -> bool {
    let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
    !line.is_empty() && Message::parse([line, b"\r\n\r\n"].concat()).is_ok()
}

/// Without Content-Length the body runs to the end of the file (as in a datagram); a line of
/// it that is a SIP start line is taken for a second message (unless the body is a
/// `message/sip`, which holds one by design).
fn second_message_in_body(path: &Path, m: &Message) -> miette::Result<()> {
    let ct = m.first_value(&HeaderName::ContentType).unwrap_or_default().to_ascii_lowercase();
    if ct.contains("message/sip") {
        return Ok(());
    }
    let b = m.bytes();
    let mut at = m.body_span().start;
    while at < b.len() {
        if starts_a_message(&b[at..]) {
            let line = line_of(b, at);
            return Err(SipInputError::new(
                path,
                b,
                at,
                format!(
                    "line {line}: a second SIP message starts here, inside the body of the first, which has no Content-Length to end it"
                ),
                Some("put each message in its own file, or give the first a Content-Length"),
            )
            .into());
        }
        at = memchr::memchr(b'\n', &b[at..]).map_or(b.len(), |e| at + e + 1);
    }
    Ok(())
}
