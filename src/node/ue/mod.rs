//! Simulated user equipment: an IM client or a CPM client behind the SIP/IP core. It registers
//! with the right feature tags, sends each service request in its own form ([`build`]),
//! answers incoming requests (200; INVITE with Record-Route copied and an SDP answer; a CPM client
//! rejects an LMM INVITE without Conversation-ID or Contribution-ID with 400, as real ones do),
//! completes INVITE dialogs with ACK and BYE through the route set, and records what it received.

pub mod build;

use crate::base::ClientKind;
use crate::base::Service;
use crate::base::ids::IdGen;
use crate::base::{Instant, Packet, Transport};
use crate::node::transaction::response_with_reason;
use crate::node::transaction::{ClientTx, Flow, TimerConfig, TransactionLayer, TxEvent, response_to};
use crate::sip::StatusCode;
use crate::sip::{Edit, HeaderName, Message, Method, NameAddr, SipUri, apply_edits};
use build::{Draft, register_tags};
use std::collections::HashMap;
use std::net::SocketAddr;

/// How a client is set up.
#[derive(Debug, Clone)]
pub struct UeConfig {
    /// Display name in flows (`alice`).
    pub name: String,
    /// Address of record (`sip:alice@cpm.example.com`).
    pub aor: String,
    /// IM or CPM.
    pub kind: ClientKind,
    /// Its address.
    pub addr: SocketAddr,
    /// Transport to its core.
    pub transport: Transport,
    /// Its registrar / outbound proxy: host name and address.
    pub core: (String, SocketAddr),
    /// Registrar domain.
    pub domain: String,
    /// Host names of the world.
    pub hosts: HashMap<String, SocketAddr>,
    /// Seed for its ids.
    pub seed: u64,
}

/// A request the client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// When.
    pub time: Instant,
    /// The method.
    pub method: Method,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A request the client sent, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Method.
    pub method: Method,
    /// Service, for service requests.
    pub service: Option<Service>,
    /// Call-ID.
    pub call_id: String,
    /// CPIM message id (pager, LMM).
    pub message_id: String,
    /// Final response code (408 when the transaction timed out).
    pub final_code: Option<StatusCode>,
    /// Why the request could not be sent, when it could not (e.g. it does not parse).
    pub unsent: Option<String>,
}

/// What a send step asks for.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// Replacement Accept-Contact lines.
    pub accept_contact: Option<Vec<String>>,
    /// Extra header lines.
    pub extra: Vec<String>,
    /// Pad the body by this many bytes.
    pub pad: usize,
    /// Group participants.
    pub participants: Vec<String>,
    /// IMDN: the message id reported on.
    pub reports_on: Option<String>,
    /// A literal request template (placeholders filled in, Content-Length fixed).
    pub template: Option<String>,
    /// Send BYE after an INVITE is answered (default true).
    pub bye: bool,
    /// Override the Conversation-ID (CPM clients).
    pub conversation_id: Option<String>,
}

struct Dialog {
    call_id: String,
    from_tag: String,
    to_header: String,
    route: Vec<String>,
    target: String,
    cseq: u32,
}

/// A simulated IM or CPM client.
pub struct Ue {
    cfg: UeConfig,
    layer: TransactionLayer,
    ids: IdGen,
    now: Instant,
    cseq: u32,
    /// Requests received, in order.
    pub received: Vec<Received>,
    /// Requests sent, in order.
    pub sent: Vec<Sent>,
    conversations: HashMap<String, String>,
    invites: HashMap<ClientTx, (usize, bool)>,
    requests: HashMap<ClientTx, usize>,
}

impl Ue {
    /// Transactions of this element still waiting for a final response (see
    /// [`TransactionLayer::awaiting_final`]).
    pub fn awaiting_final(&self) -> usize {
        self.layer.awaiting_final()
    }

    /// A client.
    pub fn new(cfg: UeConfig) -> Ue {
        Ue {
            layer: TransactionLayer::new(TimerConfig::default()),
            ids: IdGen::new(cfg.seed),
            now: Instant::ZERO,
            cseq: 0,
            received: Vec::new(),
            sent: Vec::new(),
            conversations: HashMap::new(),
            invites: HashMap::new(),
            requests: HashMap::new(),
            cfg,
        }
    }
    /// Its configuration.
    pub fn config(&self) -> &UeConfig {
        &self.cfg
    }
    fn flow_to(&self, to: SocketAddr) -> Flow {
        Flow { transport: self.cfg.transport, local: self.cfg.addr, remote: to }
    }
    fn via(&self) -> String {
        format!("SIP/2.0/{} {}:{}", self.cfg.transport.as_str(), self.cfg.addr.ip(), self.cfg.addr.port())
    }
    fn contact(&self) -> String {
        let user = self.cfg.aor.split(':').nth(1).and_then(|s| s.split('@').next()).unwrap_or("ue");
        format!(
            "sip:{user}@{}:{};transport={}",
            self.cfg.addr.ip(),
            self.cfg.addr.port(),
            self.cfg.transport.as_str().to_ascii_lowercase()
        )
    }
    fn resolve(&self, uri: &str) -> Option<SocketAddr> {
        let u = SipUri::parse(uri)?;
        match u.host.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(SocketAddr::new(ip, u.port.unwrap_or(5060))),
            Err(_) => self.cfg.hosts.get(&u.host).map(|a| SocketAddr::new(a.ip(), u.port.unwrap_or(a.port()))),
        }
    }

    /// Register (or de-register with `expires = 0`) with the core.
    pub fn register(&mut self, now: Instant, expires: u32) {
        self.now = now;
        self.cseq += 1;
        let instance = self.instance();
        let req = format!(
            "REGISTER sip:{domain} SIP/2.0\r\nVia: {via};branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\nFrom: <{aor}>;tag={tag}\r\nTo: <{aor}>\r\nCall-ID: reg-{name}@{ip}\r\nCSeq: {cseq} REGISTER\r\nContact: <{contact}>{tags}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
            domain = self.cfg.domain,
            via = self.via(),
            b = self.ids.token(12),
            aor = self.cfg.aor,
            tag = self.ids.token(8),
            name = self.cfg.name,
            ip = self.cfg.addr.ip(),
            cseq = self.cseq,
            contact = self.contact(),
            tags = register_tags(self.cfg.kind, &instance),
        );
        let flow = self.flow_to(self.cfg.core.1);
        self.start(flow, req.into_bytes(), None, Method::Register);
    }

    fn instance(&self) -> String {
        format!("urn:uuid:{}", IdGen::new(self.cfg.seed ^ 0x5eed).uuid())
    }

    /// The Conversation-ID this CPM client uses toward `peer` (one per peer, reused).
    fn conversation(&mut self, peer: &str) -> String {
        if let Some(c) = self.conversations.get(peer) {
            return c.clone();
        }
        let c = self.ids.uuid();
        self.conversations.insert(peer.to_string(), c.clone());
        c
    }

    /// Send a service request to `to`; returns its index in [`Ue::sent`].
    pub fn send(&mut self, now: Instant, service: Service, to: &str, opts: SendOptions) -> usize {
        self.now = now;
        let (text, call_id, message_id) = self.compose(service, to, &opts);
        let method = if matches!(service, Service::Pager | Service::Imdn) { Method::Message } else { Method::Invite };
        self.sent.push(Sent {
            method: method.clone(),
            service: Some(service),
            call_id,
            message_id,
            final_code: None,
            unsent: None,
        });
        let idx = self.sent.len() - 1;
        let flow = self.flow_to(self.cfg.core.1);
        if let Some(tx) = self.start(flow, text.into_bytes(), Some(idx), method.clone()) {
            if method == Method::Invite {
                self.invites.insert(tx, (idx, opts.bye));
            }
        }
        idx
    }

    /// The request [`Ue::send`] would send for these options next, without sending it: a
    /// scenario's requests are built once when it is loaded, to find one that would never be
    /// sent (the bytes, or why [`TransactionLayer::send_request`] would refuse them).
    pub fn preview(&mut self, service: Service, to: &str, opts: &SendOptions) -> Result<Vec<u8>, String> {
        let (text, _, _) = self.compose(service, to, opts);
        crate::node::transaction::check_sendable(text.as_bytes()).map_err(|e| e.to_string())?;
        Ok(text.into_bytes())
    }

    /// The next service request's text, Call-ID and Message-ID (the ids advance).
    fn compose(&mut self, service: Service, to: &str, opts: &SendOptions) -> (String, String, String) {
        self.cseq += 1;
        let call_id = format!("{}-{}@{}", service.name(), self.ids.token(10), self.cfg.addr.ip());
        let message_id = format!("m{}", self.ids.token(10));
        let ids = (self.cfg.kind == ClientKind::Cpm).then(|| {
            let conv = opts.conversation_id.clone().unwrap_or_else(|| self.conversation(to));
            (conv, self.ids.uuid())
        });
        let draft = Draft {
            service,
            kind: self.cfg.kind,
            to,
            from: &self.cfg.aor.clone(),
            via: self.via(),
            branch: format!("z9hG4bK{}", self.ids.token(12)),
            tag: self.ids.token(8),
            call_id: call_id.clone(),
            cseq: self.cseq,
            contact: self.contact(),
            route: format!("<sip:{};lr>", self.cfg.core.0),
            ids,
            message_id: message_id.clone(),
            reports_on: opts.reports_on.clone(),
            accept_contact: opts.accept_contact.clone(),
            extra: opts.extra.clone(),
            pad: opts.pad,
            participants: opts.participants.clone(),
            instance: self.instance(),
        };
        let text = match &opts.template {
            Some(t) => fill_template(t, &draft, &self.cfg),
            None => build::request(&draft, &self.cfg.addr.ip().to_string()),
        };
        (text, call_id, message_id)
    }

    fn start(&mut self, flow: Flow, bytes: Vec<u8>, idx: Option<usize>, method: Method) -> Option<ClientTx> {
        match self.layer.send_request(flow, bytes, self.now) {
            Ok(tx) => {
                if let Some(i) = idx {
                    self.requests.insert(tx, i);
                }
                Some(tx)
            }
            Err(e) => {
                tracing::warn!(ue = %self.cfg.name, %method, error = %e, "request not sent");
                if let Some(i) = idx {
                    self.sent[i].unsent = Some(e.to_string());
                }
                None
            }
        }
    }

    fn on_request(&mut self, tx: crate::node::transaction::ServerTx, msg: &Message) {
        let method = msg.method().cloned().unwrap_or(Method::Other(String::new()));
        self.received.push(Received { time: self.now, method: method.clone(), bytes: msg.bytes().to_vec() });
        let tag = self.ids.token(8);
        let resp = match method {
            Method::Invite => {
                let lmm = crate::interop::classify::classify(msg) == Some(Service::Lmm);
                let missing = msg.first(&HeaderName::ConversationId).is_none()
                    || msg.first(&HeaderName::ContributionId).is_none();
                if self.cfg.kind == ClientKind::Cpm && lmm && missing {
                    response_with_reason(
                        msg,
                        StatusCode::BAD_REQUEST,
                        "Missing Conversation-ID or Contribution-ID",
                        Some(&tag),
                    )
                } else {
                    self.invite_ok(msg, &tag)
                }
            }
            _ => response_to(msg, StatusCode::OK, Some(&tag)),
        };
        let _ = self.layer.respond(tx, resp, self.now);
    }

    fn invite_ok(&self, msg: &Message, tag: &str) -> Vec<u8> {
        let base = response_to(msg, StatusCode::OK, Some(tag));
        let Ok(r) = Message::parse(base.clone()) else { return base };
        let ip = self.cfg.addr.ip().to_string();
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\na=setup:passive\r\na=path:msrp://{ip}:9/a1;tcp\r\na=accept-types:message/cpim\r\na=recvonly\r\n"
        );
        let svc = crate::interop::classify::classify(msg).unwrap_or(Service::Session);
        let mut e = vec![Edit::append_header(
            &r,
            "Contact",
            &format!("<{}>{}", self.contact(), build::contact_tags(self.cfg.kind, svc, &self.instance())),
        )];
        for h in msg.all(&HeaderName::RecordRoute) {
            e.push(Edit::append_header(&r, "Record-Route", &msg.value(h)));
        }
        if self.cfg.kind == ClientKind::Cpm {
            for n in [HeaderName::ConversationId, HeaderName::ContributionId] {
                if let Some(v) = msg.first_value(&n) {
                    e.push(Edit::append_header(&r, n.canonical(), &v));
                }
            }
        }
        e.push(Edit::append_header(&r, "Content-Type", "application/sdp"));
        e.push(Edit::content_length(&r, sdp.len()));
        e.push(Edit::insert(r.bytes().len(), sdp.into_bytes()));
        apply_edits(&base, &e).unwrap_or(base)
    }

    fn on_response(&mut self, tx: ClientTx, msg: &Message) {
        let Some(code) = msg.status() else { return };
        if code.is_provisional() {
            return;
        }
        if let Some(i) = self.requests.get(&tx).copied() {
            if self.sent[i].final_code.is_none() {
                self.sent[i].final_code = Some(code);
            }
        }
        if code.is_success() {
            if let Some((_, bye)) = self.invites.remove(&tx) {
                if let Some(d) = self.dialog_from(tx, msg) {
                    self.send_in_dialog(&d, Method::Ack);
                    if bye {
                        let mut d = d;
                        d.cseq += 1;
                        self.send_in_dialog(&d, Method::Bye);
                    }
                }
            }
        }
    }

    fn dialog_from(&self, tx: ClientTx, resp: &Message) -> Option<Dialog> {
        let req = self.layer.client_request(tx)?;
        let mut route: Vec<String> =
            resp.list_values(&HeaderName::RecordRoute).iter().map(|s| resp.text(*s).into_owned()).collect();
        route.reverse();
        let target = resp
            .list_values(&HeaderName::Contact)
            .first()
            .and_then(|v| NameAddr::parse(resp.bytes(), *v))
            .map(|na| na.uri_text(resp.bytes()))
            .or_else(|| req.request_uri().map(|u| u.into_owned()))?;
        Some(Dialog {
            call_id: req.call_id()?.into_owned(),
            from_tag: req.from_tag().unwrap_or_default(),
            to_header: resp.first_value(&HeaderName::To)?.into_owned(),
            route,
            target,
            cseq: req.cseq().ok()?.0,
        })
    }

    fn send_in_dialog(&mut self, d: &Dialog, method: Method) {
        let routes: String = d.route.iter().map(|r| format!("Route: {r}\r\n")).collect();
        let req = format!(
            "{method} {target} SIP/2.0\r\nVia: {via};branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\n{routes}From: <{aor}>;tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            target = d.target,
            via = self.via(),
            b = self.ids.token(12),
            aor = self.cfg.aor,
            ft = d.from_tag,
            to = d.to_header,
            cid = d.call_id,
            cseq = d.cseq,
        );
        let first = d.route.first().and_then(|r| {
            let b = r.as_bytes();
            NameAddr::parse(b, crate::sip::Span::new(0, b.len())).map(|na| na.uri_text(b))
        });
        let Some(to) = first.or_else(|| Some(d.target.clone())).and_then(|u| self.resolve(&u)) else { return };
        let flow = self.flow_to(to);
        if method == Method::Ack {
            self.layer.send_stateless(flow.packet(req.into_bytes()));
        } else {
            self.start(flow, req.into_bytes(), None, method);
        }
    }

    fn drain(&mut self) {
        while let Some(ev) = self.layer.poll_event() {
            match ev {
                TxEvent::Request { tx, msg, .. } => self.on_request(tx, &msg),
                TxEvent::Cancel { tx, msg, .. } => {
                    let _ = self.layer.respond(tx, response_to(&msg, StatusCode::OK, None), self.now);
                }
                TxEvent::Ack { msg, .. } => {
                    self.received.push(Received { time: self.now, method: Method::Ack, bytes: msg.bytes().to_vec() })
                }
                TxEvent::Response { tx, msg, .. } => self.on_response(tx, &msg),
                TxEvent::Timeout { tx, .. } => {
                    if let Some(i) = self.requests.get(&tx).copied() {
                        self.sent[i].final_code.get_or_insert(StatusCode::REQUEST_TIMEOUT);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The placeholders of a request template, in the order they are filled in (a scenario's
/// template may use no other `{word}`).
pub const TEMPLATE_PLACEHOLDERS: [&str; 12] = [
    "call_id",
    "branch",
    "tag",
    "from",
    "to",
    "via",
    "route",
    "contact",
    "cseq",
    "conversation_id",
    "contribution_id",
    "message_id",
];

/// Fill a literal request template: each of [`TEMPLATE_PLACEHOLDERS`] in braces (`{call_id}`)
/// becomes its value; line ends become CRLF and Content-Length is set to the body.
pub fn fill_template(t: &str, d: &Draft<'_>, _cfg: &UeConfig) -> String {
    let (conv, contrib) = d.ids.clone().unwrap_or_default();
    let mut s = t.to_string();
    for name in TEMPLATE_PLACEHOLDERS {
        let value = match name {
            "call_id" => d.call_id.clone(),
            "branch" => d.branch.clone(),
            "tag" => d.tag.clone(),
            "from" => d.from.to_string(),
            "to" => d.to.to_string(),
            "via" => d.via.clone(),
            "route" => d.route.clone(),
            "contact" => d.contact.clone(),
            "cseq" => d.cseq.to_string(),
            "conversation_id" => conv.clone(),
            "contribution_id" => contrib.clone(),
            "message_id" => d.message_id.clone(),
            _ => continue,
        };
        s = s.replace(&format!("{{{name}}}"), &value);
    }
    let s = s.replace("\r\n", "\n").replace('\n', "\r\n");
    match s.split_once("\r\n\r\n") {
        Some((head, body)) => {
            let head: Vec<String> = head
                .split("\r\n")
                .filter(|l| {
                    !l.to_ascii_lowercase().starts_with("content-length:")
                        && !l.eq_ignore_ascii_case("l:")
                        && !l.to_ascii_lowercase().starts_with("l:")
                })
                .map(str::to_string)
                .collect();
            format!("{}\r\nContent-Length: {}\r\n\r\n{body}", head.join("\r\n"), body.len())
        }
        None => format!("{}\r\nContent-Length: 0\r\n\r\n", s.trim_end()),
    }
}

crate::node::sans_io_over_layer!(Ue);

/// A packet's first line, for logs.
pub fn first_line(p: &Packet) -> String {
    String::from_utf8_lossy(&p.bytes).lines().next().unwrap_or("").to_string()
}
