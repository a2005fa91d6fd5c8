//! Loose routing (RFC 3261 §16.4, §16.6 step 6): pop this element's own entries from the top of
//! the Route set and find the next hop, as span edits. Shared by the IM server and the core.

use crate::sip::params::ListItems;
use crate::sip::uri::SipUriRef;
use crate::sip::{Edit, HeaderName, Message, NameAddr, SipUri, Span};

/// The result of popping.
#[derive(Debug, Default)]
pub struct Popped {
    /// Edits removing the popped entries (whole lines when a field empties).
    pub edits: Vec<Edit>,
    /// The URIs of the popped entries (spans of the message), in order.
    pub own: Vec<Span>,
    /// The first remaining entry: the next hop.
    pub next: Option<SipUri>,
    /// The topmost Route entry (popped or not) is a URI with an `orig` parameter (the session
    /// case, docs/decisions.md D13: read here, where the entry is parsed anyway).
    pub top_orig: bool,
}

/// Pop the leading Route entries for which `is_own` holds (the element's own entry, and any own
/// entries right after it: an element that Record-Routed on two passes is listed twice). Each
/// entry is read in place ([`SipUriRef`]); only the next hop is made an owned [`SipUri`].
pub fn pop_own(msg: &Message, is_own: impl Fn(&SipUriRef<'_>) -> bool) -> Popped {
    let buf = msg.bytes();
    let mut out = Popped::default();
    let mut top = true;
    for h in msg.all(&HeaderName::Route) {
        // The field's entries walked once: the first one's start, and where the first one not
        // popped starts (None: every entry of the field was popped).
        let mut first = None;
        let mut kept = None;
        let mut popped = 0;
        for el in ListItems::new(buf, h.value) {
            first.get_or_insert(el.start);
            let span = NameAddr::uri_of(buf, el);
            // Text as `uri_text` gives it (lossy), borrowed when it is UTF-8.
            let text = span.map(|s| crate::sip::lossy(s.of(buf)));
            let uri = text.as_deref().and_then(SipUriRef::parse);
            if std::mem::take(&mut top) {
                out.top_orig = uri.as_ref().is_some_and(|u| u.has_param("orig"));
            }
            match (uri, span) {
                (Some(u), Some(span)) if is_own(&u) => {
                    popped += 1;
                    out.own.push(span);
                }
                (u, _) => {
                    out.next = u.map(|u| u.to_uri());
                    kept = Some(el.start);
                    break;
                }
            }
        }
        match (popped, first, kept) {
            (0, _, _) => {}
            (_, _, None) => out.edits.push(Edit::remove(h.line)),
            (_, Some(f), Some(k)) => out.edits.push(Edit::remove(Span::new(f, k))),
            (_, None, Some(_)) => {}
        }
        if kept.is_some() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::registration::{session_case, session_case_knowing_route};
    use crate::sip::split_list;

    /// [`pop_own`] as it was before it walked the entries without collecting them and read the
    /// top entry's `orig`: the reference.
    fn pop_own_reference(msg: &Message, is_own: impl Fn(&SipUriRef<'_>) -> bool) -> Popped {
        let buf = msg.bytes();
        let mut out = Popped::default();
        for h in msg.all(&HeaderName::Route) {
            let els = split_list(buf, h.value);
            let mut popped = 0;
            for el in &els {
                let span = NameAddr::uri_of(buf, *el);
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

    /// The topmost entry is the first of the first field that has one: an empty field before
    /// it is no entry.
    #[test]
    fn the_top_entry_follows_an_empty_route_field() {
        let text = "MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\n\
                    Route: \r\nRoute: , <sip:scscf.example.net;lr;orig>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\n\
                    Call-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
        let msg = Message::parse(text.as_bytes().to_vec()).unwrap();
        let popped = pop_own(&msg, own);
        assert!(popped.top_orig);
        assert_eq!(popped.next.map(|u| u.host), Some("scscf.example.net".to_string()));
        let domains = vec!["im.example.net".to_string()];
        assert_eq!(session_case(&msg, &domains), crate::base::SessionCase::Orig);
    }

    fn own(u: &SipUriRef<'_>) -> bool {
        u.host.eq_ignore_ascii_case("im.example.net")
    }

    proptest::proptest! {
        /// The same edits, popped entries and next hop as the code it replaced, and `top_orig`
        /// exactly when the session case read from the message itself says `orig` by Route.
        #[test]
        fn pops_as_the_reference_and_reads_the_top_orig(
            fields in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "<sip:im.example.net;lr>", "<sip:im.example.net;lr;orig>", "<sip:IM.example.net:5070;lr>",
                        "<sip:scscf.example.net;lr>", "<sip:scscf.example.net;lr;orig>", "sip:im.example.net;orig",
                        "<tel:+1555>", "<bad", "\"n\" <sip:im.example.net;lr>", "", " ",
                    ]),
                    0..4,
                ),
                0..4,
            ),
            ruri in proptest::sample::select(vec!["sip:bob@im.example.net", "sip:bob@other.net", "tel:+1555"]),
            psu in proptest::sample::select(vec![
                "", "P-Served-User: <sip:bob@im.example.net>;sescase=term\r\n", "P-Served-User: <sip:bob@im.example.net>\r\n",
            ]),
        ) {
            let routes: String = fields.iter().map(|f| format!("Route: {}\r\n", f.join(", "))).collect();
            let text = format!(
                "MESSAGE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\n{routes}{psu}\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
            );
            let msg = Message::parse(text.into_bytes()).unwrap();
            let (got, want) = (pop_own(&msg, own), pop_own_reference(&msg, own));
            proptest::prop_assert_eq!(&got.edits, &want.edits);
            proptest::prop_assert_eq!(&got.own, &want.own);
            proptest::prop_assert_eq!(&got.next, &want.next);
            let domains = vec!["im.example.net".to_string()];
            proptest::prop_assert_eq!(
                session_case_knowing_route(&msg, &domains, got.top_orig),
                session_case(&msg, &domains)
            );
        }
    }
}
