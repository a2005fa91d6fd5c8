//! Addresses: name-addr / addr-spec (From, To, Route, Contact, P-Served-User), a small SIP/tel
//! URI reader, and the Via value (RFC 3261 §20.42). Spans point into the message buffer.

use crate::sip::params::ParamList;
use crate::sip::span::Span;

/// A name-addr (`"Display" <uri>;params`) or addr-spec (`uri;params`) with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The URI, without angle brackets.
    pub uri: Span,
    /// The header parameters after the address (`;tag=...`, feature tags, ...).
    pub params: ParamList,
}

impl NameAddr {
    /// Parse one list element as a name-addr or addr-spec. None when malformed (an unbalanced
    /// quote or `<`, an empty URI, or a URI without a scheme).
    pub fn parse(buf: &[u8], value: Span) -> Option<NameAddr> {
        let uri = NameAddr::uri_of(buf, value)?;
        Some(NameAddr { uri, params: ParamList::parse(buf, value) })
    }

    /// The URI span [`NameAddr::parse`] finds, None exactly when it is None, without reading
    /// the header parameters: for a check of the value, or a caller that needs only the URI.
    pub fn uri_of(buf: &[u8], value: Span) -> Option<Span> {
        let head_span = ParamList::head_of(buf, value);
        let head = head_span.of(buf);
        if head.is_empty() {
            return None;
        }
        // Balanced quotes in the display name.
        let mut in_q = false;
        let mut i = 0;
        let mut lt = None;
        while i < head.len() {
            match head[i] {
                b'\\' if in_q => i += 1,
                b'"' => in_q = !in_q,
                b'<' if !in_q => {
                    lt = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        if in_q {
            return None;
        }
        let uri = match lt {
            Some(l) => {
                let gt = head.iter().rposition(|&b| b == b'>')?;
                if gt <= l + 1 || gt != head.len() - 1 {
                    return None;
                }
                Span::new(head_span.start + l + 1, head_span.start + gt)
            }
            None => {
                if head.iter().any(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'"') {
                    return None;
                }
                head_span
            }
        };
        let u = uri.of(buf);
        let colon = u.iter().position(|&b| b == b':')?;
        if colon == 0 || !u[..colon].iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)) {
            return None;
        }
        if u.iter().any(|b| b.is_ascii_whitespace()) {
            return None;
        }
        Some(uri)
    }

    /// A header parameter's value (unquoted), if present.
    pub fn param(&self, buf: &[u8], name: &str) -> Option<String> {
        self.params.get(buf, name).map(|p| p.value_text(buf).into_owned())
    }
    /// The URI as text.
    pub fn uri_text(&self, buf: &[u8]) -> String {
        crate::sip::lossy(self.uri.of(buf)).into_owned()
    }
}

/// A minimal reading of a SIP, SIPS or tel URI: enough to route and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// Scheme, lowercased (`sip`, `sips`, `tel`, ...).
    pub scheme: String,
    /// User part (SIP) or the number (tel), as written.
    pub user: Option<String>,
    /// Host, lowercased (empty for tel).
    pub host: String,
    /// Port, when written.
    pub port: Option<u16>,
    /// URI parameters (`;lr`, `;transport=tcp`, ...) as (lowercased name, value).
    pub params: Vec<(String, Option<String>)>,
}

impl SipUri {
    /// Parse a URI's text. None when it has no scheme or an invalid port.
    pub fn parse(s: &str) -> Option<SipUri> {
        SipUriRef::parse(s).map(|u| u.to_uri())
    }
    /// True when the URI carries this parameter (e.g. `lr`, `orig`).
    pub fn has_param(&self, name: &str) -> bool {
        self.params.iter().any(|(n, _)| n == name)
    }
    /// A URI parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
    /// The address-of-record form `scheme:user@host` (or `tel:number`) for comparisons.
    pub fn aor(&self) -> String {
        match (&self.user, self.scheme.as_str()) {
            (Some(u), "tel") => format!("tel:{u}"),
            (Some(u), _) => format!("sip:{u}@{}", self.host),
            (None, _) => format!("sip:{}", self.host),
        }
    }
}

/// A URI read in place, as [`SipUri::parse`] reads it but without copying: the scheme and host
/// as written (compare them ignoring ASCII case), the parameters walked on demand. For hot
/// comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUriRef<'a> {
    /// Scheme as written.
    pub scheme: &'a str,
    /// User part (SIP) or the number (tel), as written.
    pub user: Option<&'a str>,
    /// Host as written (empty for tel).
    pub host: &'a str,
    /// Port, when written.
    pub port: Option<u16>,
    /// The text after the host part's first `;` (empty when there is none).
    params: &'a str,
}

impl<'a> SipUriRef<'a> {
    /// Parse a URI's text. None when it has no scheme or an invalid port.
    pub fn parse(s: &'a str) -> Option<SipUriRef<'a>> {
        // Each delimiter is ASCII, found by a plain byte search (a URI is short: setting up a
        // vector search costs more than it saves), so every cut falls on a char boundary.
        let first = |t: &str, c: u8| t.bytes().position(|b| b == c);
        let colon = first(s, b':')?;
        let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
        let tel = scheme.eq_ignore_ascii_case("tel");
        // Strip URI headers (`?...`).
        let rest = &rest[..first(rest, b'?').unwrap_or(rest.len())];
        // The user part may hold `;` (RFC 4475 `semiuri`): parameters start after the host.
        let (userinfo, hostrest) = match rest.bytes().rposition(|b| b == b'@') {
            Some(at) if !tel => (Some(&rest[..at]), &rest[at + 1..]),
            _ => (None, rest),
        };
        let (hostpart, params) = match first(hostrest, b';') {
            Some(i) => (&hostrest[..i], &hostrest[i + 1..]),
            None => (hostrest, ""),
        };
        if tel {
            return Some(SipUriRef { scheme, user: Some(hostpart), host: "", port: None, params });
        }
        let user = userinfo.map(|u| &u[..first(u, b':').unwrap_or(u.len())]);
        let (host, port) = split_host_port(hostpart)?;
        if host.is_empty() {
            return None;
        }
        Some(SipUriRef { scheme, user, host, port, params })
    }
    /// True for a tel URI.
    pub fn is_tel(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("tel")
    }
    /// The owned reading, as [`SipUri::parse`] gives it (scheme and host lowercased).
    pub fn to_uri(&self) -> SipUri {
        SipUri {
            scheme: self.scheme.to_ascii_lowercase(),
            user: self.user.map(str::to_string),
            host: self.host.to_ascii_lowercase(),
            port: self.port,
            params: self.params().map(|(n, v)| (n.to_ascii_lowercase(), v.map(str::to_string))).collect(),
        }
    }
    /// The URI parameters in order as (name as written, value), empty ones skipped.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        self.params.split(';').filter(|p| !p.is_empty()).map(|p| match p.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (p, None),
        })
    }
    /// The value of the first parameter with this name (ASCII case ignored), as
    /// [`SipUri::param`] gives it.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params().find(|(n, _)| n.eq_ignore_ascii_case(name)).and_then(|(_, v)| v)
    }
    /// True when the URI carries this parameter (ASCII case ignored).
    pub fn has_param(&self, name: &str) -> bool {
        self.params().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

fn split_host_port(hp: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((h, port));
    }
    match hp.bytes().rposition(|b| b == b':') {
        Some(i) => Some((&hp[..i], Some(hp[i + 1..].parse().ok()?))),
        None => Some((hp, None)),
    }
}

/// A Via value as the oracle compares it: the bytes without the `received` and `rport`
/// parameters a proxy or UAS may add (RFC 3261 §18.2.1, RFC 3581).
pub fn via_key(buf: &[u8], value: Span) -> Vec<u8> {
    let pl = ParamList::parse(buf, value);
    let mut out = pl.head.of(buf).to_vec();
    for p in &pl.params {
        if !(p.is(buf, "received") || p.is(buf, "rport")) {
            out.push(b';');
            out.extend_from_slice(p.span.of(buf));
        }
    }
    out
}

/// A Via value: `SIP/2.0/<transport> host[:port];params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport, uppercased (UDP, TCP, ...).
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters (branch, received, rport, ...).
    pub params: ParamList,
}

/// A Via value read in place, as [`Via::parse`] reads it but without copying: the transport
/// and sent-by host as written, the parameters found on demand. For the hot paths (matching a
/// request to its transaction, checking a request's Vias, where a response goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViaRef<'a> {
    /// Transport as written (compare ignoring ASCII case).
    pub transport: &'a str,
    /// sent-by host as written.
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// The whole value (the parameters follow the head).
    pub value: Span,
}

impl<'a> ViaRef<'a> {
    /// Read one Via list element. None when malformed (exactly when [`Via::parse`] is None).
    pub fn parse(buf: &'a [u8], value: Span) -> Option<ViaRef<'a>> {
        let head = std::str::from_utf8(ParamList::head_of(buf, value).of(buf)).ok()?;
        // SLASH = SWS "/" SWS: LWS may surround the slashes (RFC 4475 `wsinv`). The first two
        // slashes split it as `splitn(3, '/')` would (found by byte: `/` is ASCII).
        let s1 = memchr::memchr(b'/', head.as_bytes())?;
        let s2 = s1 + 1 + memchr::memchr(b'/', &head.as_bytes()[s1 + 1..])?;
        let (name, ver) = (head[..s1].trim(), head[s1 + 1..s2].trim());
        let mut it = head[s2 + 1..].split_ascii_whitespace();
        let transport = it.next()?;
        let sent_by = it.next()?;
        if it.next().is_some() {
            return None;
        }
        if !name.eq_ignore_ascii_case("SIP") || ver != "2.0" || transport.contains('/') {
            return None;
        }
        let (host, port) = split_host_port(sent_by)?;
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b)) {
            return None;
        }
        Some(ViaRef { transport, host, port, value })
    }
    /// The first parameter with this name (ASCII case ignored).
    pub fn param(&self, buf: &[u8], name: &str) -> Option<crate::sip::params::Param> {
        ParamList::find(buf, self.value, name)
    }
    /// The branch parameter (unquoted), as [`Via::branch`] gives it.
    pub fn branch(&self, buf: &[u8]) -> Option<String> {
        self.param(buf, "branch").map(|p| p.value_text(buf).into_owned())
    }
}

impl Via {
    /// Parse one Via list element. None when malformed.
    pub fn parse(buf: &[u8], value: Span) -> Option<Via> {
        let v = ViaRef::parse(buf, value)?;
        Some(Via {
            transport: v.transport.to_ascii_uppercase(),
            host: v.host.to_string(),
            port: v.port,
            params: ParamList::parse(buf, value),
        })
    }
    /// The branch parameter.
    pub fn branch(&self, buf: &[u8]) -> Option<String> {
        self.params.get(buf, "branch").map(|p| p.value_text(buf).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let b = br#""Bob \"B\"" <sip:bob@h;transport=tcp>;tag=9"#;
        let na = NameAddr::parse(b, Span::new(0, b.len())).unwrap();
        assert_eq!(na.uri.of(b), b"sip:bob@h;transport=tcp");
        assert_eq!(na.param(b, "tag").as_deref(), Some("9"));
        let b = b"tel:+15551230001;tag=x";
        let na = NameAddr::parse(b, Span::new(0, b.len())).unwrap();
        assert_eq!(na.uri.of(b), b"tel:+15551230001");
        assert!(NameAddr::parse(b"\"unterminated <sip:a@b>", Span::new(0, 22)).is_none());
    }

    #[test]
    fn uris_and_via() {
        let u = SipUri::parse("sip:imserver.im.example.net;lr;orig").unwrap();
        assert!(u.has_param("lr") && u.has_param("orig"));
        assert_eq!(SipUri::parse("sip:[::1]:5070").unwrap().port, Some(5070));
        let semi = SipUri::parse("sip:user;par=u%40example.net@example.com;lr").unwrap();
        assert_eq!((semi.host.as_str(), semi.user.as_deref()), ("example.com", Some("user;par=u%40example.net")));
        assert!(semi.has_param("lr"));
        let b = b"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx;rport";
        let v = Via::parse(b, Span::new(0, b.len())).unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.branch(b).as_deref(), Some("z9hG4bKx"));
        assert!(Via::parse(b"SIP/2.0/UDP", Span::new(0, 11)).is_none());
    }

    /// [`ViaRef::parse`] as first written (`splitn(3, '/')`), the reference for the byte search.
    fn via_reference(buf: &[u8], value: Span) -> Option<(&str, &str, Option<u16>)> {
        let head = std::str::from_utf8(ParamList::head_of(buf, value).of(buf)).ok()?;
        let mut pp = head.splitn(3, '/');
        let (name, ver) = (pp.next()?.trim(), pp.next()?.trim());
        let mut it = pp.next()?.split_ascii_whitespace();
        let (transport, sent_by) = (it.next()?, it.next()?);
        if it.next().is_some() || !name.eq_ignore_ascii_case("SIP") || ver != "2.0" || transport.contains('/') {
            return None;
        }
        let (host, port) = split_host_port(sent_by)?;
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b)) {
            return None;
        }
        Some((transport, host, port))
    }

    proptest::proptest! {
        #[test]
        fn via_heads_split_as_the_reference_splits_them(
            parts in (
                proptest::sample::select(vec!["SIP", "sip", " SIP", "SIP\u{a0}", "SIP\u{b}", "SIPS", ""]),
                proptest::sample::select(vec!["/", " / ", "/ ", "//", ""]),
                proptest::sample::select(vec!["2.0", " 2.0\t", "2.1", "2.0/", ""]),
                proptest::sample::select(vec!["/", " /", "\t/ ", ""]),
                proptest::sample::select(vec!["UDP", "tcp", "U/DP", "é", ""]),
                proptest::sample::select(vec![" ", "\t", "  ", "\u{a0}", "\u{b}", ""]),
                proptest::sample::select(vec!["h", "h:5060", "[::1]:5", "[::1]", "é", "h:x", "h:99999", "h_1", ""]),
                proptest::sample::select(vec!["", " ", " x", ";branch=z9hG4bK1", " ;rport", "/"]),
            ),
        ) {
            let (a, b, c, d, e, f, g, h) = parts;
            let parts = [a, b, c, d, e, f, g, h];
            let head = parts.concat();
            let b = head.as_bytes();
            let span = Span::new(0, b.len());
            let got = ViaRef::parse(b, span).map(|v| (v.transport, v.host, v.port));
            proptest::prop_assert_eq!(got, via_reference(b, span), "{:?}", head);
        }
    }
}
