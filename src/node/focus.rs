//! A conference focus for group chat (docs/decisions.md D17): not the server under test, a node of its own.
//! It accepts an INVITE to its conference-factory URI, answers it with a conference URI
//! (`Contact: ...;isfocus`), and invites every listed participant through its core, in the IM
//! form (`+g.oma.sip-im;isfocus`) or the CPM form (`cpm.session` ICSI; `Conversation-ID` of the
//! group), like examples 6c and 6d.

use crate::base::ClientKind;
use crate::base::Service;
use crate::base::ids::IdGen;
use crate::base::{Instant, Transport};
use crate::interop::table::{ICSI_REF, IM_TAG};
use crate::node::transaction::{ClientTx, Flow, TimerConfig, TransactionLayer, TxEvent, response_to};
use crate::sip::StatusCode;
use crate::sip::{Edit, HeaderName, Message, Method, NameAddr, SipUri, apply_edits};
use std::collections::HashMap;
use std::net::SocketAddr;

/// How the focus is set up.
#[derive(Debug, Clone)]
pub struct FocusConfig {
    /// Host name.
    pub host: String,
    /// Address.
    pub addr: SocketAddr,
    /// Domain of its conference URIs.
    pub domain: String,
    /// Its core: host name and address.
    pub core: (String, SocketAddr),
    /// Which form its participant INVITEs take.
    pub form: ClientKind,
    /// Host names.
    pub hosts: HashMap<String, SocketAddr>,
    /// Seed.
    pub seed: u64,
}

/// A participant to invite into a conference.
#[derive(Debug, Clone)]
struct Invitation {
    conf: String,
    contact: String,
    to: String,
    inviter: String,
    subject: String,
    conv: String,
    contrib: String,
}

/// The focus node.
pub struct Focus {
    cfg: FocusConfig,
    layer: TransactionLayer,
    ids: IdGen,
    now: Instant,
    invites: HashMap<ClientTx, ()>,
    /// Invitations waiting for the creator's ACK, by the creating INVITE's Call-ID.
    waiting: HashMap<String, Vec<Invitation>>,
    /// Conferences created (conference URI, participants invited).
    pub conferences: Vec<(String, Vec<String>)>,
}

impl Focus {
    /// Transactions of this element still waiting for a final response (see
    /// [`TransactionLayer::awaiting_final`]).
    pub fn awaiting_final(&self) -> usize {
        self.layer.awaiting_final()
    }

    /// A focus.
    pub fn new(cfg: FocusConfig) -> Focus {
        Focus {
            layer: TransactionLayer::new(TimerConfig::default()),
            ids: IdGen::new(cfg.seed),
            now: Instant::ZERO,
            invites: HashMap::new(),
            waiting: HashMap::new(),
            conferences: Vec::new(),
            cfg,
        }
    }

    fn on_invite(&mut self, tx: crate::node::transaction::ServerTx, msg: &Message) {
        let user = format!("conf-{}", self.ids.token(6));
        let conf = format!("sip:{user}@{}", self.cfg.domain);
        // The conference's contact is routable: in-dialog requests reach the focus itself.
        let contact = format!("sip:{user}@{}:{};transport=tcp", self.cfg.host, self.cfg.addr.port());
        let tag = self.ids.token(8);
        let base = response_to(msg, StatusCode::OK, Some(&tag));
        let ok = match Message::parse(base.clone()) {
            Ok(r) => {
                let mut e = vec![Edit::append_header(&r, "Contact", &format!("<{contact}>;{IM_TAG};isfocus"))];
                for h in msg.all(&HeaderName::RecordRoute) {
                    e.push(Edit::append_header(&r, "Record-Route", &msg.value(h)));
                }
                apply_edits(&base, &e).unwrap_or(base)
            }
            Err(_) => base,
        };
        let _ = self.layer.respond(tx, ok, self.now);
        let inviter = msg.from_addr().ok().map(|na| na.uri_text(msg.bytes())).unwrap_or_default();
        let body = String::from_utf8_lossy(msg.body()).into_owned();
        let mut parts = Vec::new();
        for seg in body.split("<entry uri=\"").skip(1) {
            if let Some(uri) = seg.split('"').next() {
                if uri != inviter {
                    parts.push(uri.to_string());
                }
            }
        }
        let conv =
            msg.first_value(&HeaderName::ConversationId).map(|c| c.into_owned()).unwrap_or_else(|| self.ids.uuid());
        let contrib =
            msg.first_value(&HeaderName::ContributionId).map(|c| c.into_owned()).unwrap_or_else(|| self.ids.uuid());
        let subject = msg.first_value(&HeaderName::Subject).map(|c| c.into_owned()).unwrap_or_else(|| "Group".into());
        // The participants are invited once the creator's ACK confirms the conference (so
        // that every element on the path has seen the 2xx, whatever the transports' order).
        let invitations = parts
            .iter()
            .map(|p| Invitation {
                conf: conf.clone(),
                contact: contact.clone(),
                to: p.clone(),
                inviter: inviter.clone(),
                subject: subject.clone(),
                conv: conv.clone(),
                contrib: contrib.clone(),
            })
            .collect();
        if let Some(cid) = msg.call_id() {
            self.waiting.insert(cid.into_owned(), invitations);
        }
        self.conferences.push((conf, parts));
    }

    /// The creator's ACK: invite the participants of its conference.
    fn on_ack(&mut self, msg: &Message) {
        let Some(list) = msg.call_id().and_then(|c| self.waiting.remove(c.as_ref())) else { return };
        for i in list {
            self.invite(&i.conf, &i.contact, &i.to, &i.inviter, &i.subject, &i.conv, &i.contrib);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn invite(&mut self, conf: &str, contact: &str, to: &str, inviter: &str, subject: &str, conv: &str, contrib: &str) {
        let (contact_tags, ac, ids) = match self.cfg.form {
            ClientKind::Im => (format!(";{IM_TAG};isfocus"), format!("*;{IM_TAG}"), String::new()),
            ClientKind::Cpm => {
                let enc = Service::Session.row().icsi_encoded;
                (
                    format!(";{ICSI_REF}=\"{enc}\";isfocus"),
                    format!("*;{ICSI_REF}=\"{enc}\""),
                    format!("Conversation-ID: {conv}\r\nContribution-ID: {contrib}\r\n"),
                )
            }
        };
        let ip = self.cfg.addr.ip();
        let sdp = format!(
            "v=0\r\no=- 3913312800 3913312800 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=message 7394 TCP/MSRP *\r\na=setup:actpass\r\na=path:msrp://{ip}:7394/cf88;tcp\r\na=accept-types:message/cpim application/conference-info+xml\r\na=sendrecv\r\n"
        );
        let req = format!(
            "INVITE {to} SIP/2.0\r\nVia: SIP/2.0/TCP {host}:{port};branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\nRoute: <sip:{core};lr>\r\nFrom: <{conf}>;tag={tag}\r\nTo: <{to}>\r\nCall-ID: foc-{cid}@{host}\r\nCSeq: 1 INVITE\r\nReferred-By: <{inviter}>\r\nSubject: {subject}\r\nContact: <{contact}>{contact_tags}\r\nAccept-Contact: {ac}\r\n{ids}Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            host = self.cfg.host,
            port = self.cfg.addr.port(),
            b = self.ids.token(12),
            core = self.cfg.core.0,
            tag = self.ids.token(8),
            cid = self.ids.token(10),
            len = sdp.len(),
        );
        let flow = Flow { transport: Transport::Tcp, local: self.cfg.addr, remote: self.cfg.core.1 };
        if let Ok(tx) = self.layer.send_request(flow, req.into_bytes(), self.now) {
            self.invites.insert(tx, ());
        }
    }

    fn ack(&mut self, tx: ClientTx, resp: &Message) {
        let Some(req) = self.layer.client_request(tx).cloned() else { return };
        let mut route: Vec<String> =
            resp.list_values(&HeaderName::RecordRoute).iter().map(|s| resp.text(*s).into_owned()).collect();
        route.reverse();
        let target = resp
            .list_values(&HeaderName::Contact)
            .first()
            .and_then(|v| NameAddr::parse(resp.bytes(), *v))
            .map(|na| na.uri_text(resp.bytes()));
        let Some(target) = target else { return };
        let routes: String = route.iter().map(|r| format!("Route: {r}\r\n")).collect();
        let ack = format!(
            "ACK {target} SIP/2.0\r\nVia: SIP/2.0/TCP {}:{};branch=z9hG4bK{}\r\nMax-Forwards: 70\r\n{routes}From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            self.cfg.host,
            self.cfg.addr.port(),
            self.ids.token(12),
            req.first_value(&HeaderName::From).unwrap_or_default(),
            resp.first_value(&HeaderName::To).unwrap_or_default(),
            req.call_id().unwrap_or_default(),
        );
        let first = route.first().and_then(|r| {
            let b = r.as_bytes();
            NameAddr::parse(b, crate::sip::Span::new(0, b.len())).map(|na| na.uri_text(b))
        });
        let uri = first.unwrap_or(target);
        let Some(u) = SipUri::parse(&uri) else { return };
        let to = match u.host.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, u.port.unwrap_or(5060)),
            Err(_) => match self.cfg.hosts.get(&u.host) {
                Some(a) => *a,
                None => return,
            },
        };
        let flow = Flow { transport: Transport::Tcp, local: self.cfg.addr, remote: to };
        self.layer.send_stateless(flow.packet(ack.into_bytes()));
    }

    fn drain(&mut self) {
        while let Some(ev) = self.layer.poll_event() {
            match ev {
                TxEvent::Request { tx, msg, .. } => match msg.method() {
                    Some(Method::Invite) => self.on_invite(tx, &msg),
                    _ => {
                        let _ = self.layer.respond(tx, response_to(&msg, StatusCode::OK, Some("f")), self.now);
                    }
                },
                TxEvent::Ack { msg, .. } => self.on_ack(&msg),
                TxEvent::Response { tx, msg, .. }
                    if msg.status().is_some_and(StatusCode::is_success) && self.invites.remove(&tx).is_some() =>
                {
                    self.ack(tx, &msg)
                }
                _ => {}
            }
        }
    }
}

crate::node::sans_io_over_layer!(Focus);
