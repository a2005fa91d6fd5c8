//! What the IM server must be able to parse to do its job. A request that fails here
//! must be rejected with 400 (or dropped when no response can be formed), never repaired and
//! forwarded. The reference server and the oracle share this one definition.

use crate::sip::error::{ParseError, ParseErrorKind};
use crate::sip::params::{ParamList, is_valid_service_id};
use crate::sip::{HeaderName, Message, NameAddr};

fn quotes_balanced(b: &[u8]) -> bool {
    let mut in_q = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_q => i += 1,
            b'"' => in_q = !in_q,
            _ => {}
        }
        i += 1;
    }
    !in_q
}

/// True when a header the server need not parse is malformed (D15: such a request is forwarded
/// untouched, neither rejected nor repaired). Checked: Date (RFC 3261 §20.17, an RFC 1123 date
/// in GMT) and the numeric Expires.
pub fn malformed_elsewhere(msg: &Message) -> bool {
    msg.headers().iter().any(|h| bad_optional(&h.name, msg.slice(h.value)))
}

/// True when this value of a header the server need not parse is malformed.
pub fn bad_optional(name: &HeaderName, v: &[u8]) -> bool {
    let text = crate::sip::lossy(v);
    let t = text.trim();
    match name {
        HeaderName::Date => !is_rfc1123(t),
        HeaderName::Expires => t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

/// `Wkday, DD Mon YYYY HH:MM:SS GMT` (RFC 1123, as RFC 3261 §20.17 requires).
fn is_rfc1123(t: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let Some((day, rest)) = t.split_once(',') else { return false };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time = |s: &str| {
        let p: Vec<&str> = s.split(':').collect();
        p.len() == 3 && p.iter().all(|x| digits(x, 2))
    };
    DAYS.contains(&day.trim())
        && f.len() == 5
        && digits(f[0], 2)
        && MONTHS.contains(&f[1])
        && digits(f[2], 4)
        && time(f[3])
        && f[4] == "GMT"
}

/// Validate the headers of D15: start line, Via, CSeq, Call-ID, From, To, Max-Forwards, Route,
/// Content-Length, and the headers Appendix T rewrites: Accept-Contact, Contact,
/// P-Asserted-Service, P-Served-User.
pub fn validate(msg: &Message) -> Result<(), ParseError> {
    msg.validate_for_proxy()?;
    let buf = msg.bytes();
    // RFC 4475 `clerr`: a body shorter than Content-Length is malformed, never repaired.
    if let Ok(Some(n)) = msg.content_length() {
        if n > msg.body().len() {
            let at = msg.first(&HeaderName::ContentLength).map_or(0, |h| h.value.start);
            return Err(ParseError::at(
                ParseErrorKind::BadValue { name: "Content-Length", why: "larger than the body" },
                buf,
                at,
            ));
        }
    }
    let bad = |name, why, off| ParseError::at(ParseErrorKind::BadValue { name, why }, buf, off);
    for h in msg.all(&HeaderName::AcceptContact) {
        if !quotes_balanced(msg.slice(h.value)) {
            return Err(bad("Accept-Contact", "unbalanced quotes", h.value.start));
        }
        for v in crate::sip::params::ListItems::new(buf, h.value) {
            if ParamList::head_of(buf, v).of(buf) != b"*" {
                return Err(bad("Accept-Contact", "value does not start with *", v.start));
            }
        }
    }
    for h in msg.all(&HeaderName::Contact) {
        if !quotes_balanced(msg.slice(h.value)) {
            return Err(bad("Contact", "unbalanced quotes", h.value.start));
        }
        for v in crate::sip::params::ListItems::new(buf, h.value) {
            if v.of(buf) != b"*" && NameAddr::uri_of(buf, v).is_none() {
                return Err(bad("Contact", "not a name-addr", v.start));
            }
        }
    }
    for v in msg.list_iter(&HeaderName::PAssertedService) {
        if !is_valid_service_id(&msg.text(v)) {
            return Err(bad("P-Asserted-Service", "not an RFC 6050 Service-ID", v.start));
        }
    }
    for v in msg.list_iter(&HeaderName::PServedUser) {
        if NameAddr::uri_of(buf, v).is_none() {
            return Err(bad("P-Served-User", "not a name-addr", v.start));
        }
    }
    Ok(())
}
