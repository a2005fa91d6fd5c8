//! Readers for the bodies the classifier and the conversation rules look into: CPIM
//! (RFC 3862), IMDN (RFC 5438), MIME multipart (RFC 2046) and the SDP lines the classifier
//! needs. Shared by the reference server, the simulated nodes and the oracle; tolerant of LF-only
//! line ends, as bodies from the field are.

use crate::sip::{HeaderName, Message};

/// True when a disposition notification is inside: a `message/cpim` body wrapping a part with
/// `Content-Type: message/imdn+xml` and `Content-Disposition: notification` (RFC 5438), directly
/// or inside a `multipart/mixed` body.
pub fn is_imdn(msg: &Message) -> bool {
    // Fast rejection: no `imdn+xml` anywhere in the body (any case).
    let body = msg.body();
    let has = memchr::memchr_iter(b'+', body)
        .any(|i| i >= 4 && body.get(i - 4..i + 4).is_some_and(|w| w.eq_ignore_ascii_case(b"imdn+xml")));
    if !has {
        return false;
    }
    let ct = msg.first_value(&HeaderName::ContentType).unwrap_or_default().to_ascii_lowercase();
    body_is_imdn(&ct, msg.body(), 0)
}

fn body_is_imdn(content_type: &str, body: &[u8], depth: usize) -> bool {
    if depth > 4 {
        return false;
    }
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime == "message/cpim" {
        // CPIM: message headers, blank line, inner MIME headers, blank line, content.
        let Some((_, after_cpim)) = split_block(body) else { return false };
        let Some((inner, _)) = split_block(after_cpim) else { return false };
        let ict = block_header(inner, "content-type").unwrap_or_default().to_ascii_lowercase();
        let disp = block_header(inner, "content-disposition").unwrap_or_default().to_ascii_lowercase();
        return ict.starts_with("message/imdn+xml") && disp.split(';').next().unwrap_or("").trim() == "notification";
    }
    if mime.starts_with("multipart/") {
        let Some(boundary) = mime_param(content_type, "boundary") else { return false };
        return multipart_parts(body, &boundary).into_iter().any(|part| {
            split_block(part).is_some_and(|(hdrs, content)| {
                let pct = block_header(hdrs, "content-type").unwrap_or_default().to_ascii_lowercase();
                body_is_imdn(&pct, content, depth + 1)
            })
        });
    }
    false
}

/// Split at the first empty line: (header block, rest).
fn split_block(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut i = 0;
    // An empty block (the text starts with an empty line).
    if b.starts_with(b"\r\n") {
        return Some((&b[..0], &b[2..]));
    }
    if b.starts_with(b"\n") {
        return Some((&b[..0], &b[1..]));
    }
    while let Some(nl) = memchr::memchr(b'\n', &b[i..]) {
        let at = i + nl + 1;
        if b[at..].starts_with(b"\r\n") {
            return Some((&b[..at], &b[at + 2..]));
        }
        if b[at..].starts_with(b"\n") {
            return Some((&b[..at], &b[at + 1..]));
        }
        i = at;
    }
    None
}

/// A header's value in a MIME/CPIM header block (case-insensitive name).
fn block_header(block: &[u8], name: &str) -> Option<String> {
    let text = crate::sip::lossy(block);
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn mime_param(ct: &str, name: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let Some(first) = find(rest, delim.as_bytes()) else { return parts };
    rest = &rest[first + delim.len()..];
    while !rest.starts_with(b"--") {
        let start = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |p| p + 1);
        let rest2 = &rest[start..];
        let Some(end) = find(rest2, delim.as_bytes()) else { break };
        let mut part = &rest2[..end];
        if part.ends_with(b"\r\n") {
            part = &part[..part.len() - 2];
        } else if part.ends_with(b"\n") {
            part = &part[..part.len() - 1];
        }
        parts.push(part);
        rest = &rest2[end + delim.len()..];
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

pub(crate) fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

/// True when some line of `body` starts with `prefix`.
pub(crate) fn contains_line(body: &[u8], prefix: &[u8]) -> bool {
    body.starts_with(prefix) || memchr::memmem::find_iter(body, prefix).any(|i| i > 0 && body[i - 1] == b'\n')
}

/// The CPIM `imdn.Message-ID` header of a body.
pub fn cpim_message_id(body: &[u8]) -> Option<String> {
    let text = crate::sip::lossy(body);
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case("imdn.Message-ID").then(|| v.trim().to_string())
    })
}

/// The `<message-id>` an IMDN reports on.
pub fn imdn_reports_on(body: &[u8]) -> Option<String> {
    let text = crate::sip::lossy(body);
    let start = text.find("<message-id>")? + "<message-id>".len();
    let end = text[start..].find("</message-id>")? + start;
    Some(text[start..end].trim().to_string())
}
