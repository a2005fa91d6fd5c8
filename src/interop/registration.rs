//! Who is served and how (docs/decisions.md D8, D13): the served user and session case of a request on the
//! ISC interface, whether the core says the user is unregistered, and what a third-party
//! REGISTER teaches. One definition for the reference server and the oracle.

use crate::base::Level;
use crate::base::{ClientKind, SessionCase};
use crate::interop::classify::{cpm_icsis, has_true_tag};
use crate::interop::table::IM_TAG;
use crate::sip::params::ParamList;
use crate::sip::uri::SipUriRef;
use crate::sip::{HeaderName, Message, NameAddr};

/// The address of record of a URI text, lowercased (`sip:user@host`, `tel:number`). One user's
/// E.164 number has one key whatever the form: `tel:+1-555-123`, `sip:+1555123@host;user=phone`
/// and `sip:+1555123@host` all give `tel:+1555123` (RFC 3966 visual separators dropped), so that
/// Conversation-IDs and registrations of one user meet.
pub fn aor(uri: &str) -> Option<String> {
    let u = SipUriRef::parse(uri)?;
    if let Some(n) = e164(&u) {
        return Some(n);
    }
    // `sip:user@host`, `sip:host` or `tel:number` (SipUri::aor), lowercased.
    let mut out = String::with_capacity(uri.len());
    match u.user {
        Some(user) if u.is_tel() => {
            out.push_str("tel:");
            out.push_str(user);
        }
        Some(user) => {
            out.push_str("sip:");
            out.push_str(user);
            out.push('@');
            out.push_str(u.host);
        }
        None => {
            out.push_str("sip:");
            out.push_str(u.host);
        }
    }
    out.make_ascii_lowercase();
    Some(out)
}

/// `tel:` and the global number of a tel URI, or of a SIP URI whose user part is one (`+` and
/// digits, `user=phone` or not).
fn e164(u: &SipUriRef<'_>) -> Option<String> {
    let user = u.user?;
    let num = user.split(';').next()?.strip_prefix('+')?;
    let digits = num.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')'));
    let phone = u.is_tel() || u.param("user").is_some_and(|v| v.eq_ignore_ascii_case("phone"));
    let numeric = digits.clone().next().is_some() && digits.clone().all(|c| c.is_ascii_digit());
    // A SIP user part of `+` and digits only is taken as the number too (RCS stacks often
    // leave `user=phone` out); visual separators need the explicit phone form.
    (numeric && (phone || num.bytes().all(|b| b.is_ascii_digit()))).then(|| {
        let mut out = String::with_capacity(num.len() + 5);
        out.push_str("tel:+");
        out.extend(digits);
        out
    })
}

/// The address of record of a name-addr of `buf`.
pub fn aor_of(buf: &[u8], na: &NameAddr) -> Option<String> {
    aor(&na.uri_text(buf))
}

/// The AoR of a message's `isfocus` Contact: the conference focus that sent an INVITE, or that
/// a conference factory's 2xx names (docs/decisions.md D17: a group's Conversation-ID is kept
/// per focus).
pub fn focus_aor(m: &Message) -> Option<String> {
    m.list_iter(&HeaderName::Contact).find_map(|v| {
        let focus = ParamList::parse(m.bytes(), v).has(m.bytes(), "isfocus");
        focus.then(|| NameAddr::parse(m.bytes(), v)).flatten().and_then(|na| aor_of(m.bytes(), &na))
    })
}

/// The session case from P-Served-User, then the `orig` Route parameter, then the
/// Request-URI's domain (docs/decisions.md D13).
pub fn session_case(msg: &Message, domains: &[String]) -> SessionCase {
    psu_sescase(msg).unwrap_or_else(|| case_without_sescase(msg, domains))
}

/// [`session_case`] for a caller that has read the topmost Route entry already: `top_orig`
/// says it is a URI with an `orig` parameter (a proxy that pops its own entries reads it then).
pub fn session_case_knowing_route(msg: &Message, domains: &[String], top_orig: bool) -> SessionCase {
    match psu_sescase(msg) {
        Some(case) => case,
        None if top_orig => SessionCase::Orig,
        None => case_by_request_uri(msg, domains),
    }
}

/// The session case P-Served-User's `sescase` says, if any.
fn psu_sescase(msg: &Message) -> Option<SessionCase> {
    let h = msg.first(&HeaderName::PServedUser)?;
    case_named(&ParamList::find(msg.bytes(), h.value, "sescase")?.value_text(msg.bytes()))
}

/// The session case a `sescase` value names (ASCII case ignored), if any.
fn case_named(v: &str) -> Option<SessionCase> {
    if v.eq_ignore_ascii_case("orig") {
        Some(SessionCase::Orig)
    } else if v.eq_ignore_ascii_case("term") {
        Some(SessionCase::Term)
    } else {
        None
    }
}

/// The session case P-Served-User's `sescase` names (its parameters `pl`), if any.
fn sescase(buf: &[u8], pl: &ParamList) -> Option<SessionCase> {
    case_named(&pl.get(buf, "sescase")?.value_text(buf))
}

/// [`session_case`] when P-Served-User does not say: by the top Route, then the Request-URI.
fn case_without_sescase(msg: &Message, domains: &[String]) -> SessionCase {
    if let Some(r) = msg.list_iter(&HeaderName::Route).next() {
        if let Some(span) = NameAddr::uri_of(msg.bytes(), r) {
            let uri = crate::sip::lossy(span.of(msg.bytes()));
            if SipUriRef::parse(&uri).is_some_and(|u| u.has_param("orig")) {
                return SessionCase::Orig;
            }
        }
    }
    case_by_request_uri(msg, domains)
}

/// The session case by the Request-URI's domain: terminating when it is one of `domains` (or
/// none is configured).
fn case_by_request_uri(msg: &Message, domains: &[String]) -> SessionCase {
    let ruri = msg.request_uri().unwrap_or_default();
    let host = SipUriRef::parse(&ruri).map_or("", |u| u.host);
    if domains.is_empty() || domains.iter().any(|d| d.eq_ignore_ascii_case(host)) {
        SessionCase::Term
    } else {
        SessionCase::Orig
    }
}

/// The served user's AoR: P-Served-User, else the Request-URI (terminating) or From.
pub fn served_user(msg: &Message, case: SessionCase) -> Option<String> {
    if let Some(h) = msg.first(&HeaderName::PServedUser) {
        if let Some(na) = NameAddr::parse(msg.bytes(), h.value) {
            return aor_of(msg.bytes(), &na);
        }
    }
    served_user_by_case(msg, case)
}

/// [`served_user`] without P-Served-User: the Request-URI (terminating) or From.
fn served_user_by_case(msg: &Message, case: SessionCase) -> Option<String> {
    match case {
        SessionCase::Term => msg.request_uri().and_then(|u| aor(&u)),
        SessionCase::Orig => msg.from_addr().ok().and_then(|na| aor_of(msg.bytes(), &na)),
    }
}

/// True when the core says the served user is not registered (`P-Served-User: ...;regstate=unreg`,
/// RFC 5502).
pub fn unregistered(msg: &Message) -> bool {
    msg.first(&HeaderName::PServedUser)
        .is_some_and(|h| regstate_unreg(msg.bytes(), &ParamList::parse(msg.bytes(), h.value)))
}

/// P-Served-User's parameters `pl` say `regstate=unreg`.
fn regstate_unreg(buf: &[u8], pl: &ParamList) -> bool {
    pl.get(buf, "regstate").is_some_and(|p| p.value_text(buf).eq_ignore_ascii_case("unreg"))
}

/// [`session_case`], [`served_user`] in that case and [`unregistered`] at once, P-Served-User
/// read once (the oracle asks all three of every request).
pub fn served(msg: &Message, domains: &[String]) -> (SessionCase, Option<String>, bool) {
    let buf = msg.bytes();
    let Some(h) = msg.first(&HeaderName::PServedUser) else {
        let case = case_without_sescase(msg, domains);
        return (case, served_user_by_case(msg, case), false);
    };
    // A name-addr's parameters are those ParamList::parse finds in the same value.
    let na = NameAddr::parse(buf, h.value);
    let parsed;
    let pl = match &na {
        Some(na) => &na.params,
        None => {
            parsed = ParamList::parse(buf, h.value);
            &parsed
        }
    };
    let case = sescase(buf, pl).unwrap_or_else(|| case_without_sescase(msg, domains));
    let user = match &na {
        Some(na) => aor_of(buf, na),
        None => served_user_by_case(msg, case),
    };
    (case, user, regstate_unreg(buf, pl))
}

/// What a third-party REGISTER says (TS 24.229 §5.7.1.1, the UE's REGISTER as a `message/sip`
/// body: D8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyRegister {
    /// The served user (To).
    pub user: String,
    /// IM or CPM by the UE's Contact tags; at level 2 a contact with both is CPM.
    pub kind: Option<ClientKind>,
    /// The UE's contact URI.
    pub contact: Option<String>,
    /// The expiry: the first contact's `expires`, else the Expires header (outer, then inner).
    pub expires: Option<u64>,
}

/// Read a third-party REGISTER.
pub fn third_party_register(msg: &Message, level: Level) -> Option<ThirdPartyRegister> {
    let user = msg.to_addr().ok().and_then(|na| aor_of(msg.bytes(), &na))?;
    let mut r = ThirdPartyRegister {
        user,
        kind: None,
        contact: None,
        expires: msg.first_value(&HeaderName::Expires).and_then(|v| v.trim().parse().ok()),
    };
    let ct = msg.first_value(&HeaderName::ContentType).unwrap_or_default().to_ascii_lowercase();
    if !ct.starts_with("message/sip") {
        return Some(r);
    }
    let Ok(inner) = Message::parse(msg.body().to_vec()) else { return Some(r) };
    r.kind = match (!cpm_icsis(&inner).is_empty(), has_true_tag(&inner, IM_TAG)) {
        (true, true) if level == Level::Two => Some(ClientKind::Cpm),
        (true, true) | (false, true) => Some(ClientKind::Im),
        (true, false) => Some(ClientKind::Cpm),
        (false, false) => None,
    };
    if r.expires.is_none() {
        r.expires = inner.first_value(&HeaderName::Expires).and_then(|v| v.trim().parse().ok());
    }
    if let Some(v) = inner.list_iter(&HeaderName::Contact).next() {
        if let Some(na) = NameAddr::parse(inner.bytes(), v) {
            r.contact = Some(na.uri_text(inner.bytes()));
        }
        if let Some(p) = ParamList::parse(inner.bytes(), v).get(inner.bytes(), "expires") {
            r.expires = p.value_text(inner.bytes()).trim().parse().ok().or(r.expires);
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `served` gives what session_case, served_user and unregistered give one by one.
    #[test]
    fn served_reads_p_served_user_as_the_three_do() {
        let psus = [
            None,
            Some("<sip:bob@im.example.net>;sescase=term;regstate=reg"),
            Some("<sip:bob@im.example.net>;sescase=orig;regstate=unreg"),
            Some("<sip:bob@im.example.net>;SESCASE=Term;RegState=UNREG"),
            Some("<sip:bob@im.example.net>;sescase=other"),
            Some("sip:bob@im.example.net;regstate=unreg"),
            Some("\"unterminated <sip:bob@im.example.net>;sescase=orig;regstate=unreg"),
            Some("<>;sescase=orig"),
            Some(""),
        ];
        for psu in psus {
            for route in ["", "Route: <sip:scscf.example.net;lr;orig>\r\n", "Route: <sip:scscf.example.net;lr>\r\n"] {
                for ruri in ["sip:bob@im.example.net", "sip:carol@elsewhere.example.com"] {
                    let psu_line = psu.map(|v| format!("P-Served-User: {v}\r\n")).unwrap_or_default();
                    let text = format!(
                        "MESSAGE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\n{route}{psu_line}From: <sip:alice@cpm.example.com>;tag=1\r\nTo: <{ruri}>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
                    );
                    let m = Message::parse(text.into_bytes()).unwrap();
                    for domains in [vec![], vec!["im.example.net".to_string()]] {
                        let case = session_case(&m, &domains);
                        assert_eq!(
                            served(&m, &domains),
                            (case, served_user(&m, case), unregistered(&m)),
                            "{psu:?} {route} {ruri}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn one_key_per_e164_user() {
        let k = Some("tel:+15551230001".to_string());
        assert_eq!(aor("tel:+1-555-123-0001"), k);
        assert_eq!(aor("sip:+15551230001@im.example.net;user=phone"), k);
        assert_eq!(aor("sip:+15551230001@im.example.net"), k);
        assert_eq!(aor("tel:+15551230001;phone-context=example.net"), k);
        assert_eq!(aor("sip:Alice@IM.example.net").as_deref(), Some("sip:alice@im.example.net"));
        assert_eq!(aor("sip:+1555-123@im.example.net").as_deref(), Some("sip:+1555-123@im.example.net"));
        assert_eq!(aor("sip:+1555-123@im.example.net;user=PHONE").as_deref(), Some("tel:+1555123"));
        assert_eq!(aor("SIPS:Bob:pw@Example.COM:5061;lr").as_deref(), Some("sip:bob@example.com"));
        assert_eq!(aor("sip:IM.Example.net").as_deref(), Some("sip:im.example.net"));
        assert_eq!(aor("TEL:+1(555)123").as_deref(), Some("tel:+1555123"));
        assert_eq!(aor("tel:Alice").as_deref(), Some("tel:alice"));
        assert_eq!(aor("sip:+@h").as_deref(), Some("sip:+@h"));
        assert_eq!(aor("sip:a@h:x"), None);
        assert_eq!(aor("no scheme"), None);
    }
}
