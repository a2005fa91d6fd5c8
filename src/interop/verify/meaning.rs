//! What "untouched" means (docs/decisions.md, D19; RFC 3261 §7.3.1): header values are compared
//! by meaning, not by bytes. Folding and unfolding, whitespace around separators, splitting or
//! combining the fields of a comma-list header, and the case of case-insensitive tokens (header
//! and parameter names, media types, option tags) change nothing. Quoted strings, URIs and
//! Call-IDs keep their case; values of one name keep their relative order (Accept-Contact
//! values excepted: RFC 3841 combines them, so their order carries no meaning).

use crate::sip::{HeaderName, Message};

/// Extension headers known to be comma lists (beyond [`HeaderName::is_list`]).
const OTHER_LISTS: &[&str] = &[
    "allow",
    "accept-encoding",
    "accept-language",
    "content-encoding",
    "content-language",
    "in-reply-to",
    "call-info",
    "alert-info",
    "error-info",
    "p-associated-uri",
    "security-client",
    "security-server",
    "security-verify",
    "reason",
    "p-early-media",
];

/// Headers whose leading part (before any `;`) is case-insensitive (Via: protocol, transport and
/// sent-by host).
const TOKEN_CASE_FREE: &[&str] = &[
    "via",
    "content-type",
    "accept",
    "content-disposition",
    "content-encoding",
    "accept-encoding",
    "accept-language",
    "content-language",
    "supported",
    "require",
    "proxy-require",
    "unsupported",
    "allow-events",
    "event",
    "subscription-state",
    "privacy",
    "request-disposition",
];

/// Headers whose value is free text (RFC 3261 TEXT-UTF8 and comments): only the amount of
/// whitespace is free; `;`, `/`, `:` and letter case are part of the text.
const FREE_TEXT: &[&str] = &["subject", "user-agent", "server", "organization"];

/// True when the header's values may be split on commas (and the fields of one name combined).
pub fn is_list(name: &HeaderName) -> bool {
    name.is_list() || named(OTHER_LISTS, name)
}

/// Whether `name` is one of `names` (lowercase), without allocating.
fn named(names: &[&str], name: &HeaderName) -> bool {
    let c = name.canonical();
    names.iter().any(|n| n.eq_ignore_ascii_case(c))
}

fn token_case_free(name: &HeaderName) -> bool {
    named(TOKEN_CASE_FREE, name)
}

/// The canonical text of one header value (one list element for list headers).
pub fn canonical(name: &HeaderName, raw: &[u8]) -> Vec<u8> {
    if named(FREE_TEXT, name) {
        // Runs of whitespace (folding included) are one space; nothing else changes.
        let text = crate::sip::lossy(raw);
        return text.split_whitespace().collect::<Vec<_>>().join(" ").into_bytes();
    }
    let lower_lead = token_case_free(name);
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let (mut in_q, mut in_a, mut space) = (false, false, false);
    // Parameter names (after `;` outside quotes and `<>`) and, where the header says so, the
    // leading token are case-insensitive.
    let mut lower = lower_lead;
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if in_q {
            out.push(c);
            if c == b'\\' && i + 1 < raw.len() {
                out.push(raw[i + 1]);
                i += 1;
            } else if c == b'"' {
                in_q = false;
            }
            i += 1;
            continue;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            space = true;
            i += 1;
            continue;
        }
        let sep = matches!(c, b';' | b',' | b'=' | b'/' | b'<' | b'>' | b':') && !in_a;
        let after_sep = out.last().is_some_and(|l| matches!(l, b';' | b',' | b'=' | b'/' | b'<' | b'>' | b':'));
        if space && !out.is_empty() && !sep && !after_sep {
            out.push(b' ');
        }
        space = false;
        match c {
            b'"' => {
                in_q = true;
                lower = false;
                out.push(c);
            }
            b'<' => {
                in_a = true;
                lower = false;
                out.push(c);
            }
            b'>' => {
                in_a = false;
                out.push(c);
            }
            b';' if !in_a => {
                lower = true;
                out.push(c);
            }
            b',' if !in_a => {
                lower = lower_lead;
                out.push(c);
            }
            b'=' if !in_a => {
                lower = false;
                out.push(c);
            }
            _ => out.push(if lower && !in_a { c.to_ascii_lowercase() } else { c }),
        }
        i += 1;
    }
    out
}

/// Every value of `name` in `m`, canonical, in order (list headers split on commas).
pub fn values(m: &Message, name: &HeaderName) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    for h in m.all(name) {
        if is_list(name) {
            for v in crate::sip::split_list(m.bytes(), h.value) {
                out.push((canonical(name, v.of(m.bytes())), h.line_no));
            }
        } else {
            out.push((canonical(name, m.slice(h.value)), h.line_no));
        }
    }
    if *name == HeaderName::AcceptContact {
        out.sort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, v: &str) -> String {
        String::from_utf8(canonical(&HeaderName::parse(name), v.as_bytes())).unwrap_or_default()
    }

    #[test]
    fn equivalent_spellings_agree() {
        assert_eq!(c("From", "<sip:a@x>;TAG=1"), c("From", "<sip:a@x> ; tag=1"));
        assert_eq!(c("Content-Type", "Message/CPIM"), c("Content-Type", "message/cpim"));
        assert_eq!(c("Subject", "Hello\r\n  world"), c("Subject", "Hello world"));
        assert_eq!(c("Contact", "\"Bob\" <sip:b@x>;expires=60"), c("Contact", "\"Bob\"<sip:b@x>;Expires = 60"));
    }

    #[test]
    fn meaningful_differences_stay() {
        assert_ne!(c("Subject", "Hello"), c("Subject", "hello"));
        assert_ne!(c("From", "\"Bob\" <sip:a@x>"), c("From", "\"bob\" <sip:a@x>"));
        assert_ne!(c("To", "<sip:Bob@x>"), c("To", "<sip:bob@x>"));
        assert_ne!(c("Allow", "MESSAGE"), c("Allow", "message"));
        assert_ne!(c("Subject", "Meet;Now at 5 / room B"), c("Subject", "Meet;now at 5/room B"));
        assert_ne!(c("User-Agent", "X/1 (Linux; Android 14)"), c("User-Agent", "X/1 (Linux;android 14)"));
        assert_eq!(c("Subject", "Meet  at\r\n 5"), c("Subject", "Meet at 5"));
    }

    /// A request with the header lines `extra`, CRLF line ends, exact Content-Length.
    fn with(extra: &[&str]) -> Message {
        let mut s = String::from(
            "OPTIONS sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:bob@im.example.net>\r\nCall-ID: v1\r\nCSeq: 1 OPTIONS\r\n",
        );
        for l in extra {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        Message::parse(s.into_bytes()).unwrap()
    }

    fn vals(m: &Message, name: &str) -> Vec<String> {
        values(m, &HeaderName::parse(name)).into_iter().map(|(v, _)| String::from_utf8(v).unwrap()).collect()
    }

    #[test]
    fn list_fields_split_and_merged_agree() {
        let one = with(&["Supported: timer, 100rel"]);
        let two = with(&["Supported: timer", "Supported: 100rel"]);
        assert_eq!(vals(&one, "Supported"), vec!["timer", "100rel"]);
        assert_eq!(vals(&one, "Supported"), vals(&two, "Supported"));
        // An extension list header of OTHER_LISTS splits too.
        assert!(is_list(&HeaderName::parse("Allow")));
        assert_eq!(vals(&with(&["Allow: INVITE,MESSAGE"]), "Allow"), vec!["INVITE", "MESSAGE"]);
        // Not a list: a comma is part of the value.
        assert!(!is_list(&HeaderName::parse("Subject")));
        assert_eq!(vals(&with(&["Subject: a, b"]), "Subject"), vec!["a, b"]);
    }

    #[test]
    fn order_counts_except_in_accept_contact() {
        let a = with(&["Supported: timer, 100rel"]);
        let b = with(&["Supported: 100rel, timer"]);
        assert_ne!(vals(&a, "Supported"), vals(&b, "Supported"));
        let a = with(&["Accept-Contact: *;+g.oma.sip-im, *;require;explicit"]);
        let b = with(&["Accept-Contact: *;require;explicit", "Accept-Contact: *;+g.oma.sip-im"]);
        assert_eq!(vals(&a, "Accept-Contact"), vals(&b, "Accept-Contact"));
        let c = with(&["Accept-Contact: *;require;explicit"]);
        assert_ne!(vals(&a, "Accept-Contact"), vals(&c, "Accept-Contact"));
    }

    #[test]
    fn quoted_strings_keep_case_and_spacing() {
        assert_ne!(c("Contact", "\"Bob  Smith\" <sip:b@x>"), c("Contact", "\"Bob Smith\" <sip:b@x>"));
        assert_eq!(c("Content-Type", "text/plain; charset=UTF-8"), "text/plain;charset=UTF-8");
        assert_ne!(c("Content-Type", "text/plain;charset=UTF-8"), c("Content-Type", "text/plain;charset=utf-8"));
    }
}
