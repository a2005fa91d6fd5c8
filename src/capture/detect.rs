//! What is SIP by its content: a start line of RFC 3261 §7.1/§7.2, `Method SP Request-URI SP
//! SIP/2.0` or `SIP/2.0 SP 3DIGIT SP Reason-Phrase`.

/// Longest start line looked at.
pub(crate) const MAX_START_LINE: usize = 8 * 1024;

fn is_token_char(b: u8) -> bool {
    // RFC 3261 §25.1 token.
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `line` (without its line end) is a SIP request line or status line.
pub(crate) fn is_start_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
        return rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) && rest.get(3).is_none_or(|&b| b == b' ');
    }
    let Some(uri_and_version) = line.strip_suffix(b" SIP/2.0") else { return false };
    let Some(sp) = memchr::memchr(b' ', uri_and_version) else { return false };
    let (method, uri) = (&uri_and_version[..sp], &uri_and_version[sp + 1..]);
    !method.is_empty()
        && method.iter().all(|&b| is_token_char(b))
        && !uri.is_empty()
        && memchr::memchr(b':', uri).is_some()
        && !uri.iter().any(|&b| b == b' ' || b.is_ascii_control())
}

/// The RFC 3261, 3262, 3265, 3311, 3428, 3515, 3903 and 6086 methods: a start line found glued
/// to the end of a body (`hiMESSAGE sip:...`) starts at the method.
const METHODS: [&[u8]; 14] = [
    b"INVITE",
    b"ACK",
    b"BYE",
    b"CANCEL",
    b"OPTIONS",
    b"REGISTER",
    b"PRACK",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"PUBLISH",
    b"INFO",
    b"REFER",
    b"MESSAGE",
    b"UPDATE",
];

/// Where the next SIP message starts in a stream that lost its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resync {
    /// A start line begins at this offset.
    At(usize),
    /// None yet; the bytes before this offset can go (what follows is an unfinished line).
    Before(usize),
}

/// Find the next SIP start line in `buf`: at a line start, or glued to the end of a body that
/// does not end in CRLF (a status line anywhere in a line; a request line whose method has a
/// well-known method as suffix starts at that method).
pub(crate) fn find_start(buf: &[u8]) -> Resync {
    let mut pos = 0;
    while let Some(nl) = memchr::memchr(b'\n', &buf[pos..]).map(|i| pos + i) {
        let line = &buf[pos..nl];
        if is_start_line(line) {
            if line.starts_with(b"SIP/2.0 ") {
                return Resync::At(pos);
            }
            let method = line.split(|&b| b == b' ').next().unwrap_or_default();
            let skip =
                METHODS.iter().filter(|m| method.ends_with(m)).map(|m| method.len() - m.len()).min().unwrap_or(0);
            return Resync::At(pos + skip);
        }
        if let Some(i) = memchr::memmem::find_iter(line, b"SIP/2.0 ").find(|&i| is_start_line(&line[i..])) {
            return Resync::At(pos + i);
        }
        pos = nl + 1;
    }
    if buf.len() - pos > MAX_START_LINE { Resync::Before(buf.len()) } else { Resync::Before(pos) }
}

/// `buf`, after any CR/LF keep-alive, begins with a SIP start line.
pub(crate) fn starts_with_sip(buf: &[u8]) -> bool {
    let lead = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    let buf = &buf[lead..];
    let window = &buf[..buf.len().min(MAX_START_LINE)];
    match memchr::memchr(b'\n', window) {
        Some(nl) => is_start_line(&window[..nl]),
        None => false,
    }
}

/// `buf` holds nothing but CR and LF (RFC 5626 keep-alives).
pub(crate) fn is_keepalive(buf: &[u8]) -> bool {
    !buf.is_empty() && buf.iter().all(|&b| b == b'\r' || b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lines() {
        assert!(is_start_line(b"MESSAGE sip:bob@example.com SIP/2.0\r"));
        assert!(is_start_line(b"INVITE tel:+15551234 SIP/2.0"));
        assert!(is_start_line(b"SIP/2.0 200 OK\r"));
        assert!(is_start_line(b"SIP/2.0 100"));
        assert!(!is_start_line(b"GET / HTTP/1.1\r"));
        assert!(!is_start_line(b"SIP/2.0 20 OK"));
        assert!(!is_start_line(b"Via: SIP/2.0/UDP a"));
        assert!(!is_start_line(b"MESSAGE  SIP/2.0"));
        assert!(starts_with_sip(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n"));
        assert!(!starts_with_sip(b"OPTIONS sip:a@b SIP/2.0"));
        assert_eq!(find_start(b"2.0\r\nl: 2\r\n\r\nhiSIP/2.0 200 OK\r\n"), Resync::At(15));
        assert_eq!(find_start(b"x\r\nhiMESSAGE sip:a@b SIP/2.0\r\n"), Resync::At(5));
        assert_eq!(find_start(b"x\r\nFOO sip:a@b SIP/2.0\r\n"), Resync::At(3));
        assert_eq!(find_start(b"x\r\nMESSAGE sip:a@b"), Resync::Before(3));
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(!is_keepalive(b""));
    }
}
