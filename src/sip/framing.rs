//! Framing before parsing (RFC 3261 §7.5, §18.3): where one message ends in a UDP datagram or
//! in a TCP byte stream. Serves the TCP reader of the live driver and pcap TCP reassembly alike.

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrame {
    /// `n` bytes of CR/LF keep-alive before any message (RFC 5626 ping/pong); consume them.
    KeepAlive(usize),
    /// A complete message at `buf[start..end]`.
    Message {
        /// First byte of the start line.
        start: usize,
        /// One past the last body byte.
        end: usize,
    },
}

/// Why a frame could not be cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// More bytes are needed.
    #[error("incomplete message: more bytes needed")]
    Incomplete,
    /// A stream message has no Content-Length (mandatory on TCP, RFC 3261 §18.3).
    #[error("no Content-Length on a stream transport (line {line})")]
    MissingContentLength {
        /// 1-based line where the header section ends.
        line: usize,
    },
    /// Content-Length is not a single non-negative number (RFC 4475 `ncl`, `mcl01`).
    #[error("invalid Content-Length at line {line}")]
    BadContentLength {
        /// 1-based line of the offending field.
        line: usize,
    },
    /// The datagram holds fewer body bytes than Content-Length says (RFC 4475 `clerr`).
    #[error("body shorter than Content-Length: {declared} declared, {available} present")]
    BodyTooShort {
        /// The declared length.
        declared: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// The header section exceeds the allowed size without ending.
    #[error("header section larger than {0} bytes")]
    TooLarge(usize),
}

/// Largest header section the framer waits for before giving up.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Find the end of the header section: index one past the empty line, and where the
/// Content-Length value(s) sit. Accepts CRLF and bare LF line ends.
/// (line number, value start, value end) of a Content-Length field.
type ClField = (usize, usize, usize);

fn scan_headers(buf: &[u8], from: usize) -> Option<(usize, Vec<ClField>)> {
    let mut cls = Vec::new();
    let mut line_start = from;
    let mut line_no = 1;
    // The field above is a Content-Length field (a folded continuation line extends it).
    let mut in_cl = false;
    loop {
        let nl = memchr::memchr(b'\n', &buf[line_start..])? + line_start;
        let content_end = if nl > line_start && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
        if content_end == line_start && line_start != from {
            return Some((nl + 1, cls));
        }
        let line = &buf[line_start..content_end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // RFC 3261 §7.3.1 folding: `Content-Length:\r\n 42` is one field.
            if let (true, Some(last)) = (in_cl, cls.last_mut()) {
                last.2 = content_end;
            }
        } else if !matches!(line.first(), Some(b'c' | b'C' | b'l' | b'L')) {
            // Not a Content-Length field: its name (`Content-Length` or `l`) starts the line.
            in_cl = false;
        } else if let Some(colon) = memchr::memchr(b':', line) {
            let name = line[..colon].trim_ascii_end();
            in_cl = name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l");
            if in_cl {
                cls.push((line_no, line_start + colon + 1, content_end));
            }
        } else {
            in_cl = false;
        }
        line_start = nl + 1;
        line_no += 1;
    }
}

fn content_length(buf: &[u8], cls: &[ClField]) -> Result<Option<usize>, FramingError> {
    match cls {
        [] => Ok(None),
        [(line, s, e)] => {
            let v = buf[*s..*e].trim_ascii();
            if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
                return Err(FramingError::BadContentLength { line: *line });
            }
            Ok(Some(v.iter().fold(0usize, |n, d| n * 10 + (d - b'0') as usize)))
        }
        [_, (line, ..), ..] => Err(FramingError::BadContentLength { line: *line }),
    }
}

/// Cut the next item from a stream buffer. Returns `Err(Incomplete)` until a whole message
/// (header section plus Content-Length body bytes) is present.
pub fn check_stream(buf: &[u8]) -> Result<StreamFrame, FramingError> {
    let lead = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    if lead > 0 {
        return Ok(StreamFrame::KeepAlive(lead));
    }
    if buf.is_empty() {
        return Err(FramingError::Incomplete);
    }
    let Some((body_start, cls)) = scan_headers(buf, 0) else {
        if buf.len() > MAX_HEADER_BYTES {
            return Err(FramingError::TooLarge(MAX_HEADER_BYTES));
        }
        return Err(FramingError::Incomplete);
    };
    let line = 1 + buf[..body_start].iter().filter(|&&b| b == b'\n').count();
    let len = content_length(buf, &cls)?.ok_or(FramingError::MissingContentLength { line })?;
    let end = body_start + len;
    if buf.len() < end {
        return Err(FramingError::Incomplete);
    }
    Ok(StreamFrame::Message { start: 0, end })
}

/// Cut the message out of one UDP datagram: bytes past Content-Length are ignored (RFC 4475
/// `dblreq`), a body shorter than Content-Length is an error (`clerr`), and without
/// Content-Length the body runs to the end of the datagram. Leading CR/LF are skipped.
pub fn frame_datagram(buf: &[u8]) -> Result<&[u8], FramingError> {
    let lead = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    // Line numbers count from the start of the datagram, as the parser's do.
    let lead_lines = buf[..lead].iter().filter(|&&b| b == b'\n').count();
    let buf = &buf[lead..];
    let Some((body_start, cls)) = scan_headers(buf, 0) else {
        return Err(FramingError::Incomplete);
    };
    let declared = content_length(buf, &cls).map_err(|e| match e {
        FramingError::BadContentLength { line } => FramingError::BadContentLength { line: line + lead_lines },
        e => e,
    })?;
    match declared {
        None => Ok(buf),
        Some(len) => {
            let available = buf.len() - body_start;
            if available < len {
                return Err(FramingError::BodyTooShort { declared: len, available });
            }
            Ok(&buf[..body_start + len])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhi";

    #[test]
    fn stream_pipelining_and_keepalive() {
        let mut s = b"\r\n\r\n".to_vec();
        s.extend_from_slice(A);
        s.extend_from_slice(A);
        assert_eq!(check_stream(&s), Ok(StreamFrame::KeepAlive(4)));
        let rest = &s[4..];
        let StreamFrame::Message { start, end } = check_stream(rest).unwrap() else { panic!() };
        assert_eq!(&rest[start..end], A);
        assert_eq!(check_stream(&rest[end..]), Ok(StreamFrame::Message { start: 0, end: A.len() }));
        assert_eq!(check_stream(&A[..A.len() - 1]), Err(FramingError::Incomplete));
        assert_eq!(check_stream(&A[..10]), Err(FramingError::Incomplete));
    }

    #[test]
    fn datagram_rules() {
        let mut d = A.to_vec();
        d.extend_from_slice(b"garbage");
        assert_eq!(frame_datagram(&d).unwrap(), A);
        assert!(matches!(
            frame_datagram(&A[..A.len() - 1]),
            Err(FramingError::BodyTooShort { declared: 2, available: 1 })
        ));
        let ncl = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(frame_datagram(ncl), Err(FramingError::BadContentLength { line: 2 })));
        let no_cl = b"MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\n\r\nbody";
        assert_eq!(frame_datagram(no_cl).unwrap(), no_cl);
        assert!(matches!(check_stream(no_cl), Err(FramingError::MissingContentLength { .. })));
    }
}
