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
        for v in crate::sip::split_list(buf, h.value) {
            let pl = ParamList::parse(buf, v);
            if pl.head.of(buf) != b"*" {
                return Err(bad("Accept-Contact", "value does not start with *", v.start));
            }
        }
    }
    for h in msg.all(&HeaderName::Contact) {
        if !quotes_balanced(msg.slice(h.value)) {
            return Err(bad("Contact", "unbalanced quotes", h.value.start));
        }
        for v in crate::sip::split_list(buf, h.value) {
            if v.of(buf) != b"*" && NameAddr::parse(buf, v).is_none() {
                return Err(bad("Contact", "not a name-addr", v.start));
            }
        }
    }
    for v in msg.list_values(&HeaderName::PAssertedService) {
        if !is_valid_service_id(&msg.text(v)) {
            return Err(bad("P-Asserted-Service", "not an RFC 6050 Service-ID", v.start));
        }
    }
    for v in msg.list_values(&HeaderName::PServedUser) {
        if NameAddr::parse(buf, v).is_none() {
            return Err(bad("P-Served-User", "not a name-addr", v.start));
        }
    }
    Ok(())
}
