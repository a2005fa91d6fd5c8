//! The simulated SIP/IP core: an S-CSCF-like stateful proxy and registrar for one domain
//! (the protocol notes). It keeps registrations and sends third-party REGISTERs with the UE's REGISTER as
//! a `message/sip` body to the IM server (D8); routes initial MESSAGE/INVITE requests of local
//! users through the IM server on the ISC interface, originating and terminating, with the Route
//! set `<sip:AS;lr[;orig]>, <sip:core;lr;odi=N>` and `P-Served-User` (D13), and takes them back;
//! then selects the terminating contact by RFC 3841, or hands the request to another domain's
//! core or to a conference focus. A core with no IM server configured is a remote network.

pub mod select;

use crate::base::ids::IdGen;
use crate::base::{Instant, Packet, Transport};
use crate::interop::classify::{classify, cpm_icsis, has_true_tag};
use crate::interop::table::IM_TAG;
use crate::node::im_server::proxy::strip_top_via;
use crate::node::transaction::{
    ClientTx, Flow, ServerTx, Timer, TimerConfig, TransactionLayer, TxEvent, TxHandle, cancel_for, response_to,
    response_with_reason,
};
use crate::sip::StatusCode;
use crate::sip::{Edit, HeaderName, Message, Method, NameAddr, SipUri, Span, apply_edits};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How a core is set up.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Host name (`scscf.im.example.net`).
    pub host: String,
    /// Address.
    pub addr: SocketAddr,
    /// The domain it serves.
    pub domain: String,
    /// The IM server's host name, when this network has one (iFC target).
    pub im_server: Option<String>,
    /// Other domains: domain -> that domain's core host name.
    pub peers: HashMap<String, String>,
    /// Conference factory user (`conf-factory`) and the focus's host name.
    pub factory: Option<(String, String)>,
    /// Host names to addresses.
    pub hosts: HashMap<String, SocketAddr>,
    /// Transport toward the IM server.
    pub as_transport: Transport,
    /// Route requests to the IM server with the ISC Route set (`<sip:AS;lr>, <sip:core;lr;odi>`);
    /// false: send them to it with no Route set (a server whose next hop is fixed to this core),
    /// recognising each one coming back by the branch of this core's Via under the server's.
    pub isc_route_set: bool,
    /// Seed for branches and odi tokens.
    pub seed: u64,
}

#[derive(Debug, Clone)]
struct Binding {
    aor: String,
    contact: Vec<u8>,
    uri: String,
    addr: SocketAddr,
    transport: Transport,
    until: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    OrigDone,
    TermDone,
}

struct Proxied {
    server: ServerTx,
    forwarded: Vec<u8>,
    flow: Flow,
}

/// The core node.
pub struct Core {
    cfg: CoreConfig,
    layer: TransactionLayer,
    ids: IdGen,
    now: Instant,
    bindings: Vec<Binding>,
    odi: HashMap<String, (Phase, String)>,
    /// Without the ISC Route set: the branch of our Via on a request sent to the IM server, and
    /// what its return means.
    as_branch: HashMap<String, (Phase, String)>,
    proxied: HashMap<ClientTx, Proxied>,
    by_server: HashMap<ServerTx, ClientTx>,
    /// Requests that found no route (for diagnostics).
    pub unroutable: Vec<String>,
}

impl Core {
    /// Transactions of this element still waiting for a final response (see
    /// [`TransactionLayer::awaiting_final`]).
    pub fn awaiting_final(&self) -> usize {
        self.layer.awaiting_final()
    }

    /// A core.
    pub fn new(cfg: CoreConfig) -> Core {
        Core {
            layer: TransactionLayer::new(TimerConfig::default()),
            ids: IdGen::new(cfg.seed),
            now: Instant::ZERO,
            bindings: Vec::new(),
            odi: HashMap::new(),
            as_branch: HashMap::new(),
            proxied: HashMap::new(),
            by_server: HashMap::new(),
            unroutable: Vec::new(),
            cfg,
        }
    }

    fn resolve(&self, u: &SipUri) -> Option<SocketAddr> {
        match u.host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>() {
            Ok(ip) => Some(SocketAddr::new(ip, u.port.unwrap_or(5060))),
            Err(_) => self.cfg.hosts.get(&u.host).map(|a| SocketAddr::new(a.ip(), u.port.unwrap_or(a.port()))),
        }
    }

    /// The transport toward a next hop named by `u` at `to`: its `transport` parameter; toward
    /// the IM server without one UDP (RFC 3263 §4.1: the server may be anyone's, and need not
    /// listen on TCP); toward the rest of the world the transport the request came in on.
    fn next_transport(&self, u: &SipUri, to: SocketAddr, came_in: Transport) -> Transport {
        let server = self.cfg.im_server.as_ref().and_then(|h| self.cfg.hosts.get(h));
        let default = if server == Some(&to) { Transport::Udp } else { came_in };
        transport_of(u, default)
    }

    fn is_own(&self, u: &SipUri) -> bool {
        let host = u.host.trim_matches(|c| c == '[' || c == ']');
        u.host.eq_ignore_ascii_case(&self.cfg.host)
            || (host == self.cfg.addr.ip().to_string() && u.port.is_none_or(|p| p == self.cfg.addr.port()))
            || self.resolve(u) == Some(self.cfg.addr)
    }

    /// How this core names itself in the Route and Record-Route entries it writes: its host
    /// name, resolved by its peers; or, when that name is an IP literal (a core facing a real
    /// server), `IP:PORT` and, over TCP, `;transport=tcp`, so that a peer needs nothing else.
    fn route_host(&self) -> String {
        if self.cfg.host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>().is_err() {
            return self.cfg.host.clone();
        }
        let t = if self.cfg.as_transport == Transport::Tcp { ";transport=tcp" } else { "" };
        format!("{}:{}{t}", self.cfg.host, self.cfg.addr.port())
    }

    fn alive(&self, aor: &str) -> Vec<&Binding> {
        self.bindings.iter().filter(|b| b.aor == aor && b.until > self.now).collect()
    }

    fn on_register(&mut self, tx: ServerTx, msg: &Message, flow: Flow) {
        let Some(aor) = msg.to_addr().ok().and_then(|na| crate::interop::registration::aor(&na.uri_text(msg.bytes())))
        else {
            let _ = self.layer.respond(tx, response_to(msg, StatusCode::BAD_REQUEST, Some("r")), self.now);
            return;
        };
        let expires: u64 = msg.first_value(&HeaderName::Expires).and_then(|v| v.trim().parse().ok()).unwrap_or(3600);
        self.bindings.retain(|b| b.aor != aor);
        if expires > 0 {
            for v in msg.list_values(&HeaderName::Contact) {
                let Some(na) = NameAddr::parse(msg.bytes(), v) else { continue };
                let uri = na.uri_text(msg.bytes());
                let Some(u) = SipUri::parse(&uri) else { continue };
                let addr = self.resolve(&u).unwrap_or(flow.remote);
                let transport = match u.param("transport") {
                    Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
                    Some(_) => Transport::Udp,
                    None => flow.transport,
                };
                self.bindings.push(Binding {
                    aor: aor.clone(),
                    contact: msg.slice(v).to_vec(),
                    uri,
                    addr,
                    transport,
                    until: self.now + Duration::from_secs(expires),
                });
            }
        }
        let tag = self.ids.token(8);
        let mut ok = response_to(msg, StatusCode::OK, Some(&tag));
        if let Ok(r) = Message::parse(ok.clone()) {
            ok = apply_edits(&ok, &[Edit::append_header(&r, "Expires", &expires.to_string())]).unwrap_or(ok);
        }
        let _ = self.layer.respond(tx, ok, self.now);
        if let Some(asn) = self.cfg.im_server.clone() {
            self.third_party_register(&asn, &aor, expires, msg);
        }
    }

    fn third_party_register(&mut self, asn: &str, aor: &str, expires: u64, ue_register: &Message) {
        let Some(to) = self.cfg.hosts.get(asn).copied() else { return };
        let body = ue_register.bytes();
        let req = format!(
            "REGISTER sip:{asn} SIP/2.0\r\nVia: SIP/2.0/{t} {host}:{port};branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\nFrom: <sip:{host}>;tag={tag}\r\nTo: <{aor}>\r\nCall-ID: 3pr-{c}@{host}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{host}>\r\nExpires: {expires}\r\nContent-Type: message/sip\r\nContent-Length: {len}\r\n\r\n",
            t = self.cfg.as_transport.as_str(),
            host = self.cfg.host,
            port = self.cfg.addr.port(),
            b = self.ids.token(12),
            tag = self.ids.token(8),
            c = self.ids.token(10),
            len = body.len(),
        );
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        let flow = Flow { transport: self.cfg.as_transport, local: self.cfg.addr, remote: to };
        let _ = self.layer.send_request(flow, bytes, self.now);
    }

    /// Route the request: pop our own Route entry and work out what to do next.
    fn on_request(&mut self, tx: ServerTx, msg: Message, flow: Flow) {
        let method = msg.method().cloned().unwrap_or(Method::Other(String::new()));
        let ruri_local = msg
            .request_uri()
            .and_then(|u| SipUri::parse(&u))
            .is_some_and(|u| u.host.eq_ignore_ascii_case(&self.cfg.domain));
        let has_route = msg.first(&HeaderName::Route).is_some();
        if method == Method::Register && ruri_local && !has_route {
            return self.on_register(tx, &msg, flow);
        }
        let buf = msg.bytes().to_vec();
        let popped = crate::node::route::pop_own(&msg, |u| self.is_own(&u.to_uri()));
        let mut edits = popped.edits;
        let mut phase: Option<(Phase, String)> = popped
            .own
            .iter()
            .filter_map(|s| SipUri::parse(&msg.text(*s)))
            .find_map(|u| u.param("odi").map(str::to_string))
            .and_then(|t| self.odi.get(&t).cloned());
        if phase.is_none() && !self.cfg.isc_route_set && msg.to_tag().is_none() {
            // Back from an IM server with a fixed next hop: our Via is under its own.
            let vias = msg.list_values(&HeaderName::Via);
            let ours = vias
                .get(1)
                .and_then(|v| crate::sip::uri::Via::parse(msg.bytes(), *v))
                .and_then(|v| v.branch(msg.bytes()));
            phase = ours.and_then(|b| self.as_branch.get(&b).cloned());
        }
        let next_route = popped.next;
        let in_dialog = msg.to_tag().is_some();
        if let Some(u) = next_route.filter(|_| in_dialog || phase.is_none()) {
            // Loose routing along a Route set (in-dialog requests, or someone else's route).
            let Some(to) = self.resolve(&u) else { return self.reject(tx, &msg, StatusCode::NOT_FOUND) };
            return self.forward(tx, &msg, edits, to, self.next_transport(&u, to, flow.transport), false);
        }
        if in_dialog {
            let Some(u) = msg.request_uri().and_then(|u| SipUri::parse(&u)) else { return };
            let Some(to) = self.resolve(&u) else { return self.reject(tx, &msg, StatusCode::NOT_FOUND) };
            return self.forward(tx, &msg, edits, to, self.next_transport(&u, to, flow.transport), false);
        }
        let from = msg
            .from_addr()
            .ok()
            .and_then(|na| crate::interop::registration::aor(&na.uri_text(&buf)))
            .unwrap_or_default();
        let ruri = msg.request_uri().map(|u| u.into_owned()).unwrap_or_default();
        let target = crate::interop::registration::aor(&ruri).unwrap_or_default();
        let service = matches!(method, Method::Message | Method::Invite) && classify(&msg).is_some();
        let tagged = !cpm_icsis(&msg).is_empty() || has_true_tag(&msg, IM_TAG);
        let first_pass = phase.is_none();
        // P-Preferred-Service becomes P-Asserted-Service at the originating S-CSCF (TS 24.229).
        if first_pass {
            for h in msg.all(&HeaderName::PPreferredService) {
                edits.push(Edit::replace(h.name_span, "P-Asserted-Service"));
            }
        }
        let from_local = from.ends_with(&format!("@{}", self.cfg.domain)) && !self.alive(&from).is_empty();
        match phase {
            None if from_local && service && tagged && self.cfg.im_server.is_some() => {
                self.via_im_server(tx, &msg, edits, "orig", Phase::OrigDone, &from, true);
            }
            Some((Phase::TermDone, user)) => self.deliver(tx, &msg, edits, &user),
            _ => {
                // Originating part done (or none): route by the Request-URI.
                strip_served_user(&msg, &mut edits);
                if self.is_factory(&target) {
                    let Some((_, focus)) = self.cfg.factory.clone() else {
                        return self.reject(tx, &msg, StatusCode::NOT_FOUND);
                    };
                    let Some(to) = self.cfg.hosts.get(&focus).copied() else {
                        return self.reject(tx, &msg, StatusCode::NOT_FOUND);
                    };
                    // Record-Route toward the focus too (as toward a UE), so in-dialog requests
                    // come back through the core: the server need not reach the focus itself.
                    return self.forward(tx, &msg, edits, to, flow.transport, true);
                }
                let domain = SipUri::parse(&ruri).map(|u| u.host).unwrap_or_default();
                if domain.eq_ignore_ascii_case(&self.cfg.domain) {
                    if service && self.cfg.im_server.is_some() {
                        return self.via_im_server(tx, &msg, edits, "term", Phase::TermDone, &target, true);
                    }
                    return self.deliver(tx, &msg, edits, &target);
                }
                match self.cfg.peers.get(&domain.to_ascii_lowercase()).and_then(|h| self.cfg.hosts.get(h)).copied() {
                    // Likewise toward another network.
                    Some(to) => self.forward(tx, &msg, edits, to, flow.transport, true),
                    None => {
                        self.unroutable.push(ruri.clone());
                        self.reject(tx, &msg, StatusCode::NOT_FOUND)
                    }
                }
            }
        }
    }

    fn is_factory(&self, target: &str) -> bool {
        self.cfg.factory.as_ref().is_some_and(|(u, _)| target == format!("sip:{u}@{}", self.cfg.domain))
    }

    #[allow(clippy::too_many_arguments)]
    fn via_im_server(
        &mut self,
        tx: ServerTx,
        msg: &Message,
        mut edits: Vec<Edit>,
        sescase: &str,
        phase: Phase,
        user: &str,
        record_route: bool,
    ) {
        let Some(asn) = self.cfg.im_server.clone() else { return };
        let Some(to) = self.cfg.hosts.get(&asn).copied() else {
            return self.reject_with(tx, msg, StatusCode::SERVER_INTERNAL_ERROR, "No IM Server");
        };
        let regstate = if self.alive(user).is_empty() { "unreg" } else { "reg" };
        if self.cfg.isc_route_set {
            let token = self.ids.token(6);
            self.odi.insert(token.clone(), (phase, user.to_string()));
            let orig = if sescase == "orig" { ";orig" } else { "" };
            let at = msg
                .first(&HeaderName::Route)
                .map_or_else(|| msg.first(&HeaderName::Via).map_or(0, |h| h.line.start), |h| h.line.start);
            // The ISC Route set goes before any remaining Route entries.
            edits.push(Edit::header_before(
                msg,
                at,
                "Route",
                &format!("<sip:{asn};lr{orig}>, <sip:{};lr;odi={token}>", self.route_host()),
            ));
        }
        strip_served_user(msg, &mut edits);
        let cseq_at = msg.first(&HeaderName::CSeq).map_or(msg.headers_end().start, |h| h.line.start + h.line.len());
        edits.push(Edit::insert(cseq_at, format!("P-Served-User: <{user}>;sescase={sescase};regstate={regstate}\r\n")));
        self.forward(tx, msg, edits, to, self.cfg.as_transport, record_route);
        if !self.cfg.isc_route_set {
            // Remember our branch: the request comes back with it under the server's Via.
            let sent = self.by_server.get(&tx).and_then(|c| self.proxied.get(c)).map(|p| p.forwarded.clone());
            if let Some(b) = sent.and_then(|b| Message::parse(b).ok()).and_then(|m| m.top_via_branch()) {
                self.as_branch.insert(b, (phase, user.to_string()));
            }
        }
    }

    fn deliver(&mut self, tx: ServerTx, msg: &Message, mut edits: Vec<Edit>, user: &str) {
        strip_served_user(msg, &mut edits);
        let mut best: Option<(f64, Binding)> = None;
        for b in self.alive(user) {
            let Some(s) = select::score(msg, &b.contact, Span::new(0, b.contact.len())) else { continue };
            if best.as_ref().is_none_or(|(q, _)| s > *q) {
                best = Some((s, b.clone()));
            }
        }
        let Some((_, b)) = best else { return self.reject(tx, msg, StatusCode::TEMPORARILY_UNAVAILABLE) };
        // Retarget the Request-URI to the chosen contact (the terminating S-CSCF, TS 24.229).
        if let crate::sip::StartLine::Request { uri, .. } = msg.start() {
            edits.push(Edit::replace(*uri, b.uri.clone()));
        }
        // Record-Route toward the UE too, so in-dialog requests come back through the core.
        self.forward(tx, msg, edits, b.addr, b.transport, true);
    }

    fn reject(&mut self, tx: ServerTx, msg: &Message, code: StatusCode) {
        self.reject_with(tx, msg, code, code.reason());
    }

    fn reject_with(&mut self, tx: ServerTx, msg: &Message, code: StatusCode, reason: &str) {
        let tag = self.ids.token(8);
        let _ = self.layer.respond(tx, response_with_reason(msg, code, reason, Some(&tag)), self.now);
    }

    fn forward(
        &mut self,
        tx: ServerTx,
        msg: &Message,
        mut edits: Vec<Edit>,
        to: SocketAddr,
        transport: Transport,
        record_route: bool,
    ) {
        let via_at = msg.first(&HeaderName::Via).map_or(0, |h| h.line.start);
        let branch = format!("z9hG4bK{}", self.ids.token(14));
        edits.push(Edit::header_before(
            msg,
            via_at,
            "Via",
            &format!("SIP/2.0/{} {}:{};branch={branch}", transport.as_str(), self.cfg.host, self.cfg.addr.port()),
        ));
        if let Some(h) = msg.first(&HeaderName::MaxForwards) {
            let n: u32 = msg.value(h).trim().parse().unwrap_or(70);
            if n == 0 {
                return self.reject(tx, msg, StatusCode::TOO_MANY_HOPS);
            }
            edits.push(Edit::replace(h.value, (n - 1).to_string()));
        }
        if record_route && msg.method() == Some(&Method::Invite) && msg.to_tag().is_none() {
            let at = msg.first(&HeaderName::RecordRoute).map_or(msg.headers_end().start, |h| h.line.start);
            edits.push(Edit::header_before(msg, at, "Record-Route", &format!("<sip:{};lr>", self.route_host())));
        }
        let Ok(bytes) = apply_edits(msg.bytes(), &edits) else {
            return self.reject_with(tx, msg, StatusCode::SERVER_INTERNAL_ERROR, "Edit Conflict");
        };
        let flow = Flow { transport, local: self.cfg.addr, remote: to };
        if msg.method() == Some(&Method::Ack) {
            self.layer.send_stateless(flow.packet(bytes));
            return;
        }
        match self.layer.send_request(flow, bytes.clone(), self.now) {
            Ok(c) => {
                self.proxied.insert(c, Proxied { server: tx, forwarded: bytes, flow });
                self.by_server.insert(tx, c);
            }
            Err(_) => self.reject(tx, msg, StatusCode::SERVER_INTERNAL_ERROR),
        }
    }

    fn drain(&mut self) {
        while let Some(ev) = self.layer.poll_event() {
            match ev {
                TxEvent::Request { tx, msg, flow } => {
                    if msg.method() == Some(&Method::Invite) {
                        let _ = self.layer.respond(tx, crate::node::transaction::trying_for(&msg), self.now);
                    }
                    self.on_request(tx, msg, flow)
                }
                TxEvent::Ack { msg, flow } => {
                    // Forward the 2xx ACK along its Route set, statelessly.
                    let m = msg.clone();
                    self.route_ack(m, flow);
                }
                TxEvent::Cancel { tx, target, msg, .. } => {
                    let _ = self.layer.respond(
                        tx,
                        response_to(
                            &msg,
                            if target.is_some() { StatusCode::OK } else { StatusCode::CALL_DOES_NOT_EXIST },
                            None,
                        ),
                        self.now,
                    );
                    if let Some(c) = target.and_then(|t| self.by_server.get(&t).copied()) {
                        if let Some(p) = self.proxied.get(&c) {
                            if let Ok(fm) = Message::parse(p.forwarded.clone()) {
                                let flow = p.flow;
                                let _ = self.layer.send_request(flow, cancel_for(&fm), self.now);
                            }
                        }
                    }
                }
                TxEvent::Response { tx, msg, .. } => {
                    if msg.status() == Some(StatusCode::TRYING) {
                        continue;
                    }
                    if let Some(p) = self.proxied.get(&tx) {
                        let server = p.server;
                        let out = strip_top_via(&msg);
                        if self.layer.respond(server, out.clone(), self.now).is_err() {
                            if let (Some(req), Some(flow)) =
                                (self.layer.server_request(server), self.layer.server_reply_flow(server))
                            {
                                let to = crate::node::transaction::response_target(req, &flow);
                                self.layer.send_stateless(Packet {
                                    transport: flow.transport,
                                    from: flow.local,
                                    to,
                                    bytes: out,
                                });
                            }
                        }
                    }
                }
                TxEvent::Timeout { tx, timer } => {
                    if let Some(p) = self.proxied.remove(&tx) {
                        self.by_server.remove(&p.server);
                        if timer == Timer::B {
                            if let Some(req) = self.layer.server_request(p.server).cloned() {
                                self.reject(p.server, &req, StatusCode::REQUEST_TIMEOUT);
                            }
                        } else {
                            self.layer.abandon(p.server);
                        }
                    }
                }
                TxEvent::Terminated(TxHandle::Client(c)) => {
                    if let Some(p) = self.proxied.remove(&c) {
                        self.by_server.remove(&p.server);
                    }
                }
                _ => {}
            }
        }
    }

    fn route_ack(&mut self, msg: Message, flow: Flow) {
        let buf = msg.bytes().to_vec();
        let popped = crate::node::route::pop_own(&msg, |u| self.is_own(&u.to_uri()));
        let mut edits = popped.edits;
        let next = popped.next;
        let target = next.or_else(|| msg.request_uri().and_then(|u| SipUri::parse(&u)));
        let Some(u) = target else { return };
        let Some(to) = self.resolve(&u) else { return };
        let via_at = msg.first(&HeaderName::Via).map_or(0, |h| h.line.start);
        let t = self.next_transport(&u, to, flow.transport);
        edits.push(Edit::header_before(
            &msg,
            via_at,
            "Via",
            &format!(
                "SIP/2.0/{} {}:{};branch=z9hG4bK{}",
                t.as_str(),
                self.cfg.host,
                self.cfg.addr.port(),
                self.ids.token(14)
            ),
        ));
        if let Ok(bytes) = apply_edits(&buf, &edits) {
            self.layer.send_stateless(Packet { transport: t, from: self.cfg.addr, to, bytes });
        }
    }
}

fn transport_of(u: &SipUri, default: Transport) -> Transport {
    match u.param("transport") {
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        Some(t) if t.eq_ignore_ascii_case("udp") => Transport::Udp,
        _ => default,
    }
}

fn strip_served_user(msg: &Message, edits: &mut Vec<Edit>) {
    for h in msg.all(&HeaderName::PServedUser) {
        if !edits.iter().any(|e| e.span == h.line) {
            edits.push(Edit::remove(h.line));
        }
    }
}

crate::node::sans_io_over_layer!(Core);
