//! Service recognition (the classification rules), for both the CPM and the IM form of a request: ordered
//! tests, the first match wins. Precedence for the CPM form: P-Asserted-Service, then the
//! Accept-Contact ICSI, then Contact, then body heuristics (CPIM/IMDN, SDP, resource-lists).

use crate::base::Service;
use crate::interop::bodies::{contains_line, find_ci, is_imdn};
use crate::interop::table::{CpmIcsi, ICSI_REF, IM_TAG, LMM_TAG};
use crate::sip::params::{ParamList, norm_eq};
use crate::sip::{HeaderName, Message, Method};

/// Which identifier family a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// At least one mapped CPM ICSI (Accept-Contact, Contact of INVITE, P-Asserted-Service or
    /// P-Preferred-Service).
    Cpm,
    /// `+g.oma.sip-im` (TRUE) in Accept-Contact or Contact, and no CPM ICSI.
    Im,
    /// IM tags present, but only negated (`+g.oma.sip-im="FALSE"`), and no CPM ICSI: not an IM
    /// request, forwarded unchanged.
    Negated,
    /// Neither.
    Neither,
}

/// What the identifier headers of a request say, gathered in one pass over P-Asserted-Service,
/// P-Preferred-Service, Accept-Contact and Contact.
#[derive(Debug, Default)]
struct Tags {
    /// Mapped CPM ICSIs in precedence order.
    cpm: Vec<CpmIcsi>,
    /// A TRUE `+g.oma.sip-im` or `+g.oma.sip-im.large-message` in Accept-Contact or Contact.
    im: bool,
    /// A TRUE `+g.oma.sip-im` in Accept-Contact or Contact.
    im_tag: bool,
    /// A TRUE `+g.oma.sip-im.large-message` in Accept-Contact.
    lmm_ac: bool,
    /// An IM tag whose value is not TRUE (a negation) in Accept-Contact or Contact.
    im_negated: bool,
    /// `oma.cpm.deferred` in P-Asserted-Service or Accept-Contact.
    deferred: bool,
    /// A Contact with `isfocus`.
    focus: bool,
}

const DEFERRED: &str = "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.deferred";

fn scan(msg: &Message) -> Tags {
    let buf = msg.bytes();
    let mut t = Tags::default();
    for name in [HeaderName::PAssertedService, HeaderName::PPreferredService] {
        for v in msg.list_iter(&name) {
            let raw = v.of(buf);
            match CpmIcsi::from_raw(raw) {
                Some(i) => t.cpm.push(i),
                None => t.deferred |= name == HeaderName::PAssertedService && norm_eq(raw, DEFERRED),
            }
        }
    }
    for name in [HeaderName::AcceptContact, HeaderName::Contact] {
        let ac = name == HeaderName::AcceptContact;
        for v in msg.list_iter(&name) {
            let pl = ParamList::parse(buf, v);
            for p in &pl.params {
                if p.is(buf, ICSI_REF) {
                    for item in p.value_items_iter(buf) {
                        match CpmIcsi::from_raw(item.of(buf)) {
                            Some(i) => t.cpm.push(i),
                            None => t.deferred |= ac && norm_eq(item.of(buf), DEFERRED),
                        }
                    }
                } else if p.is(buf, IM_TAG) || p.is(buf, LMM_TAG) {
                    if p.boolean(buf) != Some(true) {
                        t.im_negated = true;
                    } else if p.is(buf, IM_TAG) {
                        t.im = true;
                        t.im_tag = true;
                    } else {
                        t.im = true;
                        t.lmm_ac |= ac;
                    }
                } else if !ac && p.is(buf, "isfocus") {
                    t.focus = true;
                }
            }
        }
    }
    t
}

/// Every mapped CPM ICSI a request names, in precedence order: P-Asserted-Service,
/// P-Preferred-Service, Accept-Contact, Contact.
pub fn cpm_icsis(msg: &Message) -> Vec<CpmIcsi> {
    scan(msg).cpm
}

/// True when any Accept-Contact or Contact value carries `tag` with a TRUE value.
pub fn has_true_tag(msg: &Message, tag: &str) -> bool {
    [HeaderName::AcceptContact, HeaderName::Contact].iter().any(|name| {
        msg.list_iter(name).any(|v| {
            let pl = ParamList::parse(msg.bytes(), v);
            pl.get_all(msg.bytes(), tag).any(|p| p.boolean(msg.bytes()) == Some(true))
        })
    })
}

fn form_from(t: &Tags) -> Form {
    if !t.cpm.is_empty() {
        Form::Cpm
    } else if t.im {
        Form::Im
    } else if t.im_negated {
        Form::Negated
    } else {
        Form::Neither
    }
}

/// The identifier family of a request.
pub fn form_of(msg: &Message) -> Form {
    form_from(&scan(msg))
}

/// Classify a MESSAGE or INVITE into its Appendix T service (the classification rules). None for other
/// methods and for INVITEs that match no rule.
pub fn classify(msg: &Message) -> Option<Service> {
    Identifiers::new(msg).classify()
}

/// The identifiers of one request, read once however many questions are asked of them (the
/// oracle asks [`classify`], [`form_of`] and [`cpm_icsis`] of each request several times).
pub struct Identifiers<'m> {
    msg: &'m Message,
    tags: std::cell::OnceCell<Tags>,
}

impl<'m> Identifiers<'m> {
    /// The identifiers of `msg` (read when first asked).
    pub fn new(msg: &'m Message) -> Identifiers<'m> {
        Identifiers { msg, tags: std::cell::OnceCell::new() }
    }
    fn tags(&self) -> &Tags {
        self.tags.get_or_init(|| scan(self.msg))
    }
    /// [`classify`].
    pub fn classify(&self) -> Option<Service> {
        match self.msg.method()? {
            Method::Message => Some(if is_imdn(self.msg) { Service::Imdn } else { Service::Pager }),
            Method::Invite => classify_invite(self.msg, self.tags()),
            _ => None,
        }
    }
    /// [`form_of`].
    pub fn form(&self) -> Form {
        form_from(self.tags())
    }
    /// [`cpm_icsis`].
    pub fn cpm_icsis(&self) -> &[CpmIcsi] {
        &self.tags().cpm
    }
    /// The request.
    pub fn message(&self) -> &'m Message {
        self.msg
    }
}

fn classify_invite(msg: &Message, t: &Tags) -> Option<Service> {
    let body = msg.body();
    // Rule 3: Large Message Mode.
    if t.cpm.first() == Some(&CpmIcsi::LargeMsg) || t.deferred || t.lmm_ac {
        return Some(Service::Lmm);
    }
    // Rule 4: file transfer.
    if t.cpm.first() == Some(&CpmIcsi::FileTransfer) || contains_line(body, b"a=file-selector") {
        return Some(Service::Ft);
    }
    // Rule 5: group chat.
    let rl_invite = header_has_token(msg, HeaderName::Require, "recipient-list-invite")
        && find_ci(body, b"application/resource-lists+xml").is_some();
    if rl_invite || t.focus || t.cpm.contains(&CpmIcsi::SessionGroup) {
        return Some(Service::Group);
    }
    // Rule 6: 1-1 session.
    if t.cpm.contains(&CpmIcsi::Session) || t.im_tag || contains_line(body, b"m=message") {
        return Some(Service::Session);
    }
    // A CPM ICSI of the pager family on an INVITE: not a service of Table 1.
    None
}

fn header_has_token(msg: &Message, name: HeaderName, token: &str) -> bool {
    msg.list_iter(&name).any(|v| msg.slice(v).eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(head: &str, ct: &str, body: &str) -> Message {
        let s = format!(
            "{head}\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Message::parse(s.into_bytes()).unwrap()
    }

    #[test]
    fn imdn_and_pager() {
        let imdn = "From: <sip:a@b>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\r\nContent-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n\r\n<imdn/>";
        let m = msg("MESSAGE sip:b@h SIP/2.0", "message/cpim", imdn);
        assert_eq!(classify(&m), Some(Service::Imdn));
        let p =
            msg("MESSAGE sip:b@h SIP/2.0", "message/cpim", "From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\nhi");
        assert_eq!(classify(&p), Some(Service::Pager));
        let mp = format!("--b1\r\nContent-Type: message/cpim\r\n\r\n{imdn}\r\n--b1--\r\n");
        let m = msg("MESSAGE sip:b@h SIP/2.0", "multipart/mixed;boundary=b1", &mp);
        assert_eq!(classify(&m), Some(Service::Imdn));
    }

    #[test]
    fn invites_by_sdp_and_tags() {
        let ft = msg(
            "INVITE sip:b@h SIP/2.0\r\nAccept-Contact: *;+g.oma.sip-im",
            "application/sdp",
            "v=0\r\nm=message 9 TCP/MSRP *\r\na=file-selector:name:\"x\"\r\n",
        );
        assert_eq!(classify(&ft), Some(Service::Ft));
        assert_eq!(form_of(&ft), Form::Im);
        let lmm = msg(
            "INVITE sip:b@h SIP/2.0\r\nAccept-Contact: *;+g.oma.sip-im;+g.oma.sip-im.large-message",
            "application/sdp",
            "v=0\r\nm=message 9 TCP/MSRP *\r\n",
        );
        assert_eq!(classify(&lmm), Some(Service::Lmm));
        let s = msg(
            "INVITE sip:b@h SIP/2.0\r\na: *;+g.3gpp.icsi-ref=\"urn%3aurn-7%3a3gpp-service.ims.icsi.oma.cpm.session\"",
            "application/sdp",
            "v=0\r\nm=message 9 TCP/MSRP *\r\n",
        );
        assert_eq!(classify(&s), Some(Service::Session));
        assert_eq!(form_of(&s), Form::Cpm);
        let g = msg(
            "INVITE sip:b@h SIP/2.0\r\nContact: <sip:conf@h>;+g.oma.sip-im;isfocus",
            "application/sdp",
            "v=0\r\nm=message 9 TCP/MSRP *\r\n",
        );
        assert_eq!(classify(&g), Some(Service::Group));
        let neg = msg("MESSAGE sip:b@h SIP/2.0\r\nAccept-Contact: *;+g.oma.sip-im=\"FALSE\"", "text/plain", "x");
        assert_eq!(form_of(&neg), Form::Negated);
        let none = msg("MESSAGE sip:b@h SIP/2.0\r\nSubject: x", "text/plain", "x");
        assert_eq!(form_of(&none), Form::Neither);
        // Read once, asked many times: the same answers.
        for m in [&ft, &lmm, &s, &g, &neg, &none] {
            let ids = Identifiers::new(m);
            for _ in 0..2 {
                assert_eq!((ids.classify(), ids.form()), (classify(m), form_of(m)));
                assert_eq!(ids.cpm_icsis(), cpm_icsis(m).as_slice());
            }
        }
    }
}
