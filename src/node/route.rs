//! Loose routing (RFC 3261 §16.4, §16.6 step 6): pop this element's own entries from the top of
//! the Route set and find the next hop, as span edits. Shared by the IM server and the core.

use crate::sip::uri::SipUriRef;
use crate::sip::{Edit, HeaderName, Message, NameAddr, SipUri, Span, split_list};

/// The result of popping.
#[derive(Debug, Default)]
pub struct Popped {
    /// Edits removing the popped entries (whole lines when a field empties).
    pub edits: Vec<Edit>,
    /// The URIs of the popped entries (spans of the message), in order.
    pub own: Vec<Span>,
    /// The first remaining entry: the next hop.
    pub next: Option<SipUri>,
}

/// Pop the leading Route entries for which `is_own` holds (the element's own entry, and any own
/// entries right after it: an element that Record-Routed on two passes is listed twice). Each
/// entry is read in place ([`SipUriRef`]); only the next hop is made an owned [`SipUri`].
pub fn pop_own(msg: &Message, is_own: impl Fn(&SipUriRef<'_>) -> bool) -> Popped {
    let buf = msg.bytes();
    let mut out = Popped::default();
    for h in msg.all(&HeaderName::Route) {
        let els = split_list(buf, h.value);
        let mut popped = 0;
        for el in &els {
            let span = NameAddr::uri_of(buf, *el);
            // Text as `uri_text` gives it (lossy), borrowed when it is UTF-8.
            let text = span.map(|s| crate::sip::lossy(s.of(buf)));
            let uri = text.as_deref().and_then(SipUriRef::parse);
            match (uri, span) {
                (Some(u), Some(span)) if is_own(&u) => {
                    popped += 1;
                    out.own.push(span);
                }
                (u, _) => {
                    out.next = u.map(|u| u.to_uri());
                    break;
                }
            }
        }
        match popped {
            0 => {}
            n if n == els.len() => out.edits.push(Edit::remove(h.line)),
            n => out.edits.push(Edit::remove(Span::new(els[0].start, els[n].start))),
        }
        if out.next.is_some() || popped < els.len() {
            break;
        }
    }
    out
}
