//! The reference IM server: a sans-IO proxy AS on the ISC interface that implements Appendix T
//! at level 1 or 2 (docs/decisions.md). It is the embedded default server under test, so it must be right
//! on every point of the requirement catalogue and the decisions; the fault switch ([`faults`]) breaks it on purpose for the ratchet.
//!
//! Inputs are packets and time; outputs are packets and the next deadline ([`SansIo`]). RFC 3261
//! transactions absorb retransmissions; the proxy core relays responses; the Appendix T decision
//! lives in [`appendix`].

pub mod appendix;
pub mod faults;
pub mod limits;
pub mod mangle;
pub mod proxy;
pub mod state;

use crate::base::Level;
use crate::base::ids::IdGen;
use crate::base::{ClientKind, SessionCase};
use crate::base::{Instant, Packet, Transport};
use crate::interop::registration::{served_user, session_case_knowing_route};
use crate::interop::wellformed;
use crate::node::transaction::response_with_reason;
use crate::node::transaction::{
    ClientTx, Flow, IdMap, ServerTx, Timer, TimerConfig, TransactionLayer, TxEvent, TxHandle, cancel_for,
    response_target, response_to, trying_for,
};
use crate::node::{Input, Output, SansIo};
use crate::sip::StatusCode;
use crate::sip::{HeaderName, Message, Method};
use appendix::Decision;
use faults::{Fault, FaultSet};
use state::{Conversations, Lru, Registry};
use std::collections::HashMap;
use std::net::SocketAddr;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Interop level, 1 or 2.
    pub level: Level,
    /// Our host name, used in Via and Record-Route and to recognise our Route entry.
    pub host: String,
    /// Domains we serve (Request-URI in one of them = terminating, when nothing else says).
    pub domains: Vec<String>,
    /// Our listen addresses.
    pub addrs: Vec<(Transport, SocketAddr)>,
    /// Names of other nodes (the S-CSCF) to addresses.
    pub hosts: HashMap<String, SocketAddr>,
    /// Static users (always online), in addition to third-party REGISTERs.
    pub users: Vec<(String, ClientKind)>,
    /// Deliberate faults (none by default).
    pub faults: FaultSet,
    /// RFC 3261 timer values.
    pub timers: TimerConfig,
    /// Seed of the id generator (branches, Conversation-IDs, tags).
    pub seed: u64,
    /// Bound of each conversation map (D10).
    pub conversation_capacity: usize,
    /// Most transactions alive at once, server and client together (docs/architecture.md#resource-bounds).
    pub max_transactions: usize,
    /// Most registrations learned from third-party REGISTERs.
    pub max_registrations: usize,
}

impl ServerConfig {
    /// A level-`level` server named `host`, serving `domain`, at `addrs`.
    pub fn new(level: Level, host: &str, domain: &str, addrs: Vec<(Transport, SocketAddr)>) -> ServerConfig {
        ServerConfig {
            level,
            host: host.to_string(),
            domains: vec![domain.to_string()],
            addrs,
            hosts: HashMap::new(),
            users: Vec::new(),
            faults: FaultSet::none(),
            timers: TimerConfig::default(),
            seed: 0x1c9_0001,
            conversation_capacity: 10_000,
            max_transactions: limits::MAX_TRANSACTIONS,
            max_registrations: limits::MAX_REGISTRATIONS,
        }
    }
}

/// A forward pending: the server transaction it answers and where it went (the forwarded
/// request itself is held by the client transaction).
struct Proxied {
    server: ServerTx,
    flow: Flow,
}

struct Deferred {
    user: String,
    forward: proxy::Forward,
}

/// Counters for logs and benches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (new transactions).
    pub requests: u64,
    /// Requests forwarded.
    pub forwarded: u64,
    /// Requests answered locally with a final response.
    pub answered: u64,
    /// Messages that could not be parsed or matched.
    pub malformed: u64,
    /// Requests answered 503 because a table was full (transactions, registrations, deferred).
    pub refused_full: u64,
}

/// The reference IM server.
pub struct ImServer {
    config: ServerConfig,
    layer: TransactionLayer,
    registry: Registry,
    convs: Conversations,
    ids: IdGen,
    now: Instant,
    proxied: IdMap<ClientTx, Proxied>,
    by_server: IdMap<ServerTx, ClientTx>,
    deferred: Vec<Deferred>,
    last_forward: Lru<(Vec<u8>, Flow)>,
    stats: Stats,
    /// To tag of stateless refusals ([`limits`]).
    refusal_tag: String,
    /// When the last "table full" warning was logged, and refusals since.
    full_warned: Option<Instant>,
}

impl ImServer {
    /// A server with this configuration.
    pub fn new(config: ServerConfig) -> ImServer {
        let mut layer = TransactionLayer::new(config.timers);
        layer.set_limit(config.max_transactions);
        ImServer {
            layer,
            registry: Registry::with_static(config.users.clone()).with_capacity(config.max_registrations),
            convs: Conversations::new(config.conversation_capacity),
            ids: IdGen::new(config.seed),
            now: Instant::ZERO,
            proxied: IdMap::default(),
            by_server: IdMap::default(),
            deferred: Vec::new(),
            last_forward: Lru::new(limits::LAST_FORWARDS),
            stats: Stats::default(),
            refusal_tag: limits::refusal_tag(&config),
            full_warned: None,
            config,
        }
    }
    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }
    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
    /// Transactions alive (bounded memory check).
    pub fn transactions(&self) -> usize {
        self.layer.len()
    }

    fn on_packet(&mut self, packet: Packet) {
        if self.config.faults.has(Fault::ForwardRetransmissions) {
            self.refire_retransmission(&packet);
        }
        let flow = Flow::of_received(&packet);
        if let Err((e, bytes)) = self.layer.handle_packet_keeping(packet, self.now) {
            self.stats.malformed += 1;
            tracing::debug!(error = %e, "message not taken by the transaction layer");
            self.reject_unmatchable(bytes, flow, &e.to_string());
        }
    }

    /// A request the transaction layer could not take (e.g. a malformed Via), `why`: 400 to its
    /// source when a response can be formed (D15), with a Warning saying why, else dropped.
    fn reject_unmatchable(&mut self, bytes: Vec<u8>, flow: Flow, why: &str) {
        let msg = match Message::parse(bytes.clone()) {
            Ok(m) => m,
            Err(e) => {
                // Not even a message (a start line with a TAB, a `<>`-enclosed Request-URI,
                // leading or trailing whitespace, an unknown SIP version): answered when the
                // header lines a response needs are there (RFC 3261 §8.2.2 via §16.3 step 1),
                // 505 for the version (§21.5.7), else 400.
                if !self.config.faults.has(Fault::RepairMalformedVia) {
                    let why = format!("not a SIP message: {e}");
                    if let Some(r) =
                        raw_response(&bytes, e.status(), &self.ids.token(8), &warning(&self.config.host, &why))
                    {
                        tracing::info!(status = %e.status(), "rejected: {}", esc(&why));
                        self.layer.send_stateless(flow.packet(r));
                        self.stats.answered += 1;
                    }
                }
                return;
            }
        };
        if !msg.is_request() || msg.method() == Some(&Method::Ack) {
            return;
        }
        if self.config.faults.has(Fault::RepairMalformedVia) {
            if let Ok(f) = self.build_forward(&msg, Vec::new(), None) {
                let local = self.local_addr(f.transport).1;
                self.layer.send_stateless(Packet { transport: f.transport, from: local, to: f.to, bytes: f.bytes });
            }
            return;
        }
        if msg.first(&HeaderName::Via).is_some() && msg.first(&HeaderName::CallId).is_some() {
            log_rejection(&msg, StatusCode::BAD_REQUEST, why);
            let r = response_to(&msg, StatusCode::BAD_REQUEST, Some(&self.ids.token(8)));
            let r = self.with_headers(r, &[("Warning", warning(&self.config.host, why))]);
            self.layer.send_stateless(flow.packet(r));
            self.stats.answered += 1;
        }
    }

    fn refire_retransmission(&mut self, packet: &Packet) {
        let Ok(m) = Message::parse(packet.bytes.clone()) else { return };
        if !m.is_request() || matches!(m.method(), Some(Method::Ack | Method::Cancel)) {
            return;
        }
        let Some(b) = m.top_via_branch() else { return };
        if let Some((bytes, flow)) = self.last_forward.get(&b) {
            let Ok(fm) = Message::parse(bytes.clone()) else { return };
            let old = fm.top_via_branch().unwrap_or_default();
            let new = format!("z9hG4bK{}", self.ids.token(16));
            let text = String::from_utf8_lossy(&bytes).replacen(&old, &new, 1);
            self.layer.send_stateless(flow.packet(text.into_bytes()));
        }
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.layer.poll_event() {
            match ev {
                TxEvent::Request { tx, msg, .. } => self.on_request(tx, msg),
                TxEvent::Cancel { tx, target, msg, .. } => self.on_cancel(tx, target, &msg),
                TxEvent::Ack { msg, .. } => self.on_ack(&msg),
                TxEvent::Response { tx, msg, .. } => self.on_response(tx, &msg),
                TxEvent::StrayResponse { msg, .. } => {
                    tracing::debug!(status = %msg.status().map_or_else(|| "-".to_string(), |s| s.to_string()), "stray response dropped")
                }
                TxEvent::Timeout { tx, timer } => self.on_client_timeout(tx, timer),
                TxEvent::AckTimeout { .. } => {}
                TxEvent::Terminated(TxHandle::Client(c)) => {
                    if let Some(p) = self.proxied.remove(&c) {
                        self.by_server.remove(&p.server);
                    }
                }
                TxEvent::Terminated(TxHandle::Server(s)) => {
                    if let Some(c) = self.by_server.remove(&s) {
                        self.proxied.remove(&c);
                    }
                }
                TxEvent::Refused { msg, flow } => self.refuse_when_full(&msg, flow),
            }
        }
    }

    fn answer(&mut self, tx: ServerTx, msg: &Message, code: StatusCode, extra: &[(&str, String)]) {
        self.answer_with(tx, msg, code, code.reason(), extra);
    }

    /// Reject `msg` with `code`, saying why: a `Warning: 399 HOST "why"` header (RFC 3261
    /// §20.43) and an info log line.
    fn reject(&mut self, tx: ServerTx, msg: &Message, code: StatusCode, why: &str, extra: &[(&str, String)]) {
        self.reject_with(tx, msg, code, code.reason(), why, extra);
    }

    fn reject_with(
        &mut self,
        tx: ServerTx,
        msg: &Message,
        code: StatusCode,
        reason: &str,
        why: &str,
        extra: &[(&str, String)],
    ) {
        log_rejection(msg, code, why);
        let mut all: Vec<(&str, String)> = extra.to_vec();
        all.push(("Warning", warning(&self.config.host, why)));
        self.answer_with(tx, msg, code, reason, &all);
    }

    fn answer_with(&mut self, tx: ServerTx, msg: &Message, code: StatusCode, reason: &str, extra: &[(&str, String)]) {
        let tag = self.ids.token(10);
        let mut r = response_with_reason(msg, code, reason, (!code.is_provisional()).then_some(tag.as_str()));
        if !extra.is_empty() {
            if let Ok(m) = Message::parse(r.clone()) {
                let edits: Vec<_> = extra.iter().map(|(n, v)| crate::sip::Edit::append_header(&m, n, v)).collect();
                r = crate::sip::apply_edits(&r, &edits).unwrap_or(r);
            }
        }
        if code.is_final() {
            self.stats.answered += 1;
        }
        if let Err(e) = self.layer.respond(tx, r, self.now) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    fn on_request(&mut self, tx: ServerTx, msg: Message) {
        self.stats.requests += 1;
        let method = msg.method().cloned().unwrap_or(Method::Other(String::new()));
        if method == Method::Register {
            return self.on_register(tx, &msg);
        }
        if let Err(e) = wellformed::validate(&msg) {
            if !self.config.faults.has(Fault::RepairMalformedVia) {
                let reason = format!("Bad Request ({})", e.kind);
                return self.reject_with(tx, &msg, e.status(), &reason, &e.to_string(), &[]);
            }
        }
        // A request addressed to this server itself (its Request-URI names us and no Route
        // entry but ours is left) is answered here as a UAS (RFC 3261 §11, §16.4), never
        // forwarded: forwarding it would send it back to us, again and again.
        // A Request-URI with a headers component (`?Route=...`): not allowed there (RFC 3261
        // §19.1.5, the Request-URI table of §19.1.1); rejected rather than forwarded with it.
        // (A `?` in the user part is just a character there: only one after the host counts.)
        let uri_headers = |u: &str| u.rsplit_once('@').map_or(u, |(_, host)| host).contains('?');
        if msg.request_uri().is_some_and(|u| u.starts_with("sip") && uri_headers(&u)) {
            return self.reject_with(
                tx,
                &msg,
                StatusCode::BAD_REQUEST,
                "Bad Request (headers in the Request-URI)",
                "a Request-URI carries no headers component (RFC 3261 19.1.5)",
                &[],
            );
        }
        // RFC 3261 §16.3 in its order. Step 2: a Request-URI scheme the server cannot route on,
        // when it must (no Route entry but its own is left). Our own Route entries are popped
        // once here, for every step below and the forward.
        let popped = crate::node::route::pop_own(&msg, |u| self.is_own_at(u.host, u.port));
        if popped.next.is_none() {
            let scheme = msg.request_uri().and_then(|u| u.split_once(':').map(|(s, _)| s.to_ascii_lowercase()));
            if scheme.as_ref().is_some_and(|s| !matches!(s.as_str(), "sip" | "sips" | "tel")) {
                let why = format!("cannot route on the Request-URI scheme {}", scheme.unwrap_or_default());
                return self.reject(tx, &msg, StatusCode::UNSUPPORTED_URI_SCHEME, &why, &[]);
            }
        }
        let to_us = popped.next.is_none() && self.names_us(&msg);
        // Step 3: Max-Forwards on every path; an OPTIONS for the server itself is answered as a
        // UAS (§16.3 step 3, §11).
        if msg.max_forwards().ok().flatten() == Some(0) && !(to_us && method == Method::Options) {
            return self.reject(tx, &msg, StatusCode::TOO_MANY_HOPS, "Max-Forwards is 0", &[]);
        }
        if to_us {
            return self.answer_as_uas(tx, &msg, &method);
        }
        // This server supports no extension a proxy must understand (RFC 3261 §16.3 step 5).
        let required: Vec<String> =
            msg.list_values(&HeaderName::ProxyRequire).iter().map(|v| msg.text(*v).trim().to_string()).collect();
        if !required.is_empty() {
            let why = format!("Proxy-Require option(s) not supported: {}", required.join(", "));
            return self.reject(tx, &msg, StatusCode::BAD_EXTENSION, &why, &[("Unsupported", required.join(", "))]);
        }
        if method == Method::Invite {
            let t = trying_for(&msg);
            let _ = self.layer.respond(tx, t, self.now);
        }
        let case = session_case_knowing_route(&msg, &self.config.domains, popped.top_orig);
        let user = served_user(&msg, case);
        let decision = self.decide(&msg, case, user.as_deref(), self.now);
        let (edits, rewrite) = match decision {
            Decision::Reject(code, why) => return self.reject(tx, &msg, code, &why, &[]),
            Decision::Defer => return self.defer(tx, &msg, user.unwrap_or_default()),
            Decision::Forward { edits, mapped } => {
                // Said in the info line only: not made when that line is not logged.
                let rewrite = match mapped {
                    _ if !tracing::enabled!(tracing::Level::INFO) => String::new(),
                    Some((crate::base::Direction::CpmToIm, s)) => format!("{} CPM to IM", s.name()),
                    Some((crate::base::Direction::ImToCpm, s)) => format!("{} IM to CPM", s.name()),
                    None if edits.is_empty() => "unchanged".to_string(),
                    None => "identity headers added".to_string(),
                };
                (edits, rewrite)
            }
        };
        let bypass = match (&user, case) {
            (Some(u), SessionCase::Term) if self.config.faults.has(Fault::BypassCore) => {
                self.registry.contact(u).and_then(crate::sip::SipUri::parse).and_then(|u| self.resolve(&u)).map(|x| x.0)
            }
            _ => None,
        };
        let misroute = match (&user, case) {
            (Some(u), SessionCase::Term) if self.config.faults.has(Fault::Misroute) => {
                self.registry.contact(u).and_then(crate::sip::SipUri::parse).and_then(|u| self.resolve(&u)).map(|x| x.0)
            }
            _ => None,
        };
        match self.build_forward_popped(&msg, popped, edits, bypass) {
            Ok(mut f) => {
                if let Some(to) = misroute {
                    f.to = to;
                }
                let to = f.to;
                if self.send_forward(tx, &msg, f) {
                    tracing::info!(
                        method = %esc(method.as_str()),
                        call_id = %esc(&msg.call_id().unwrap_or_default()),
                        case = %case.as_str(),
                        user = %esc(user.as_deref().unwrap_or("-")),
                        next_hop = %to,
                        "forwarded: {rewrite}"
                    );
                }
            }
            Err(proxy::NoRoute::Unresolvable(h)) => {
                tracing::warn!(host = %esc(&h), "next hop unresolvable");
                let why = format!("next hop {h} cannot be resolved (not an IP address or a configured host)");
                self.reject(tx, &msg, StatusCode::SERVICE_UNAVAILABLE, &why, &[])
            }
            Err(proxy::NoRoute::EditConflict) => self.reject(
                tx,
                &msg,
                StatusCode::SERVER_INTERNAL_ERROR,
                "the rewrite's edits of this request overlap",
                &[],
            ),
            Err(proxy::NoRoute::ToSelf(a)) => {
                tracing::debug!(next_hop = %a, "next hop is this server: loop");
                let why = format!("the next hop {a} is this server");
                self.reject(tx, &msg, StatusCode::LOOP_DETECTED, &why, &[])
            }
        }
    }

    /// The request's Request-URI names one of our addresses (with no Route entry other than
    /// ours left, the request is for this server itself).
    fn names_us(&self, msg: &Message) -> bool {
        msg.request_uri().and_then(|u| crate::sip::SipUri::parse(&u)).is_some_and(|u| {
            // A Request-URI without a port means 5060 (5061 for sips), not any port: a UA's
            // Contact on our host with another port is not us.
            let port = u.port.unwrap_or(if u.scheme.eq_ignore_ascii_case("sips") { 5061 } else { 5060 });
            self.is_own(&crate::sip::SipUri { port: Some(port), ..u })
        })
    }

    /// Answer a request addressed to this server as a UAS: in-dialog 481 (it has no dialogs);
    /// an unknown Require option 420 (§8.2.2.3); an unknown method 501; OPTIONS 200 with what it
    /// allows (§11.2); a user at its address 404; any other method 405 with Allow.
    fn answer_as_uas(&mut self, tx: ServerTx, msg: &Message, method: &Method) {
        const ALLOW: &str = "OPTIONS, REGISTER";
        match method {
            // An in-dialog request for the server itself: it has no dialogs of its own.
            _ if msg.to_tag().is_some() => {
                self.reject(tx, msg, StatusCode::CALL_DOES_NOT_EXIST, "this server has no dialogs of its own", &[])
            }
            // A UAS rejects what it is required to support and does not (RFC 3261 §8.2.2.3).
            _ if msg.first(&HeaderName::Require).is_some() => {
                let required: Vec<String> =
                    msg.list_values(&HeaderName::Require).iter().map(|v| msg.text(*v).trim().to_string()).collect();
                let why = format!("Require option(s) not supported: {}", required.join(", "));
                self.reject(tx, msg, StatusCode::BAD_EXTENSION, &why, &[("Unsupported", required.join(", "))]);
            }
            // A method it does not know at all: 501 (§8.2.1), not 405.
            Method::Other(_) => self.reject(tx, msg, StatusCode::NOT_IMPLEMENTED, "unknown method", &[]),
            Method::Options => self.answer(tx, msg, StatusCode::OK, &[("Allow", ALLOW.into())]),
            _ if msg.request_uri().and_then(|u| crate::sip::SipUri::parse(&u)).is_some_and(|u| u.user.is_some()) => {
                self.reject(tx, msg, StatusCode::NOT_FOUND, "no user at this server's own address", &[])
            }
            _ => self.reject(
                tx,
                msg,
                StatusCode::METHOD_NOT_ALLOWED,
                "this server itself accepts only OPTIONS and REGISTER",
                &[("Allow", ALLOW.into())],
            ),
        }
    }

    /// Forward `f`; true when sent (else `msg` is answered 500).
    fn send_forward(&mut self, tx: ServerTx, msg: &Message, f: proxy::Forward) -> bool {
        let local = self.local_addr(f.transport).1;
        let out_flow = Flow { transport: f.transport, local, remote: f.to };
        // A non-INVITE forward this server built itself, with no fault altering it, has a key
        // known without a parse: our branch and the method of the request it forwards.
        let method = msg.method().filter(|m| **m != Method::Invite && self.config.faults.is_empty());
        let sent = match method {
            Some(m) => {
                let key = crate::node::transaction::ClientKey { branch: f.branch.clone(), method: m.clone() };
                self.layer.send_request_known(out_flow, f.bytes.clone(), key, self.now)
            }
            None => self.layer.send_request(out_flow, f.bytes.clone(), self.now),
        };
        match sent {
            Ok(c) => {
                self.stats.forwarded += 1;
                // Kept only for the fault that re-forwards retransmissions (read nowhere else).
                if self.config.faults.has(Fault::ForwardRetransmissions) {
                    if let Some(b) = msg.top_via_branch() {
                        self.last_forward.put(b, (f.bytes.clone(), out_flow));
                    }
                }
                self.proxied.insert(c, Proxied { server: tx, flow: out_flow });
                self.by_server.insert(tx, c);
                true
            }
            Err(e @ crate::node::transaction::TxError::Full(_)) => {
                self.stats.refused_full += 1;
                let why = format!("could not forward: {e}; try again later");
                self.reject(tx, msg, StatusCode::SERVICE_UNAVAILABLE, &why, &self.full_table_extra());
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "forward failed");
                let why = format!("could not forward: {e}");
                self.reject(tx, msg, StatusCode::SERVER_INTERNAL_ERROR, &why, &[]);
                false
            }
        }
    }

    fn defer(&mut self, tx: ServerTx, msg: &Message, user: String) {
        // The faulty behaviour D3 forbids: accept now, deliver when the client registers.
        if self.deferred.len() >= limits::MAX_DEFERRED {
            self.stats.refused_full += 1;
            let why = format!("{} requests already kept for later registrations; try again later", self.deferred.len());
            return self.reject(tx, msg, StatusCode::SERVICE_UNAVAILABLE, &why, &self.full_table_extra());
        }
        if let Ok(forward) = self.build_forward(msg, Vec::new(), None) {
            self.deferred.push(Deferred { user, forward });
        }
        self.answer(tx, msg, StatusCode::ACCEPTED, &[]);
    }

    fn on_register(&mut self, tx: ServerTx, msg: &Message) {
        let learned = match self.registry.learn(msg, self.now, self.config.level) {
            Ok(l) => l,
            Err(state::RegistryFull(n)) => {
                self.stats.refused_full += 1;
                let why = format!("registration table full ({n} registrations, none lapsed); try again later");
                return self.reject(tx, msg, StatusCode::SERVICE_UNAVAILABLE, &why, &self.full_table_extra());
            }
        };
        let expires = learned.as_ref().map_or(0, |l| l.expires);
        if let Some(l) = learned.filter(|l| l.registered) {
            let (ready, keep): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.deferred).into_iter().partition(|d| d.user == l.user);
            self.deferred = keep;
            for d in ready {
                let local = self.local_addr(d.forward.transport).1;
                let flow = Flow { transport: d.forward.transport, local, remote: d.forward.to };
                let _ = self.layer.send_request(flow, d.forward.bytes, self.now);
            }
        }
        self.answer(tx, msg, StatusCode::OK, &[("Expires", expires.to_string())]);
    }

    fn on_cancel(&mut self, tx: ServerTx, target: Option<ServerTx>, msg: &Message) {
        let Some(target) = target else {
            // No response context: forwarded statelessly (RFC 3261 §16.10), by its Route set or
            // Request-URI as the request it cancels would have been; unanswered here.
            self.layer.abandon(tx);
            if let Ok(f) = self.build_forward(msg, Vec::new(), None) {
                let local = self.local_addr(f.transport).1;
                self.layer.send_stateless(Packet { transport: f.transport, from: local, to: f.to, bytes: f.bytes });
            }
            return;
        };
        self.answer(tx, msg, StatusCode::OK, &[]);
        if let Some(c) = self.by_server.get(&target).copied() {
            if let Some(p) = self.proxied.get(&c) {
                if let Some(fm) = self.layer.client_request(c) {
                    let cancel = cancel_for(fm);
                    let flow = p.flow;
                    let _ = self.layer.send_request(flow, cancel, self.now);
                }
            }
        }
    }

    fn on_ack(&mut self, msg: &Message) {
        if self.acks_our_refusal(msg) {
            return;
        }
        // The ACK for a 2xx: end to end, routed by its Route set (we Record-Routed).
        if let Ok(f) = self.build_forward(msg, Vec::new(), None) {
            let local = self.local_addr(f.transport).1;
            self.layer.send_stateless(Packet { transport: f.transport, from: local, to: f.to, bytes: f.bytes });
        }
    }

    fn on_response(&mut self, c: ClientTx, msg: &Message) {
        if msg.status() == Some(StatusCode::TRYING) && !self.config.faults.has(Fault::ForwardTrying) {
            return; // hop by hop: never relayed
        }
        if msg.status().is_some_and(StatusCode::is_final) && self.config.faults.has(Fault::DropFinal) {
            return;
        }
        let Some(p) = self.proxied.get(&c) else { return };
        let server = p.server;
        // Only an INVITE's answer can name a group's focus (learn_focus): no copy otherwise.
        if let Some(forwarded) = self.layer.client_request_bytes(c).filter(|b| proxy::is_invite(b)) {
            let forwarded = forwarded.to_vec();
            self.learn_focus(&forwarded, msg);
        }
        let Some(code) = msg.status() else { return };
        // The relayed response is this one less its top Via: the same status and To tag.
        let out = proxy::strip_top_via(msg);
        // Its To tag matters to an INVITE transaction only (the ACK that may follow).
        let tag = if self.layer.server_is_invite(server) { msg.to_tag() } else { None };
        if let Err(e) = self.layer.respond_known(server, code, tag, out, self.now) {
            // A 2xx retransmission after the server transaction accepted: relay statelessly.
            if code.is_success() {
                if let (Some(req), Some(flow)) =
                    (self.layer.server_request(server), self.layer.server_reply_flow(server))
                {
                    let to = response_target(req, &flow);
                    let bytes = proxy::strip_top_via(msg);
                    self.layer.send_stateless(Packet { transport: flow.transport, from: flow.local, to, bytes });
                }
            } else {
                tracing::debug!(error = %e, "response not relayed");
            }
        }
    }

    /// A request this server forwarded could not be delivered: as a 503 from that hop, and the
    /// only response, so 500 upstream (RFC 3261 §16.9, §16.7 step 6); never silence.
    fn on_unreachable(&mut self, packet: &Packet) {
        // The client transaction that sent it, by its top-Via branch and method (no scan).
        let key = Message::parse(packet.bytes.clone())
            .ok()
            .and_then(|m| crate::node::transaction::ClientKey::of_response(&m).ok());
        let Some(c) = key.and_then(|k| self.layer.client_by_key(&k)).filter(|c| self.proxied.contains_key(c)) else {
            return;
        };
        let Some(p) = self.proxied.remove(&c) else { return };
        self.by_server.remove(&p.server);
        self.layer.abandon_client(c);
        tracing::debug!(to = %packet.to, "next hop unreachable: 500 upstream");
        match self.layer.server_request(p.server).cloned() {
            Some(req) if req.method() != Some(&Method::Ack) => {
                let why = format!("next hop {} unreachable", packet.to);
                self.reject(p.server, &req, StatusCode::SERVER_INTERNAL_ERROR, &why, &[]);
            }
            _ => self.layer.abandon(p.server),
        }
    }

    fn on_client_timeout(&mut self, c: ClientTx, timer: Timer) {
        let Some(p) = self.proxied.remove(&c) else { return };
        self.by_server.remove(&p.server);
        // RFC 4320: no 408 upstream for a non-INVITE (Timer F); Timer B: 408.
        if timer == Timer::B {
            if let Some(req) = self.layer.server_request(p.server).cloned() {
                let why = format!("no final response from the next hop {}", p.flow.remote);
                self.reject(p.server, &req, StatusCode::REQUEST_TIMEOUT, &why, &[]);
            }
        } else {
            self.layer.abandon(p.server);
        }
    }
}

impl SansIo for ImServer {
    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Receive { now, packet } => {
                self.now = self.now.max(now);
                self.layer.handle_timeout(self.now);
                self.on_packet(packet);
            }
            Input::Timeout(now) => {
                self.now = self.now.max(now);
                self.layer.handle_timeout(self.now);
            }
            Input::Unreachable { now, packet } => {
                self.now = self.now.max(now);
                self.layer.handle_timeout(self.now);
                self.on_unreachable(&packet);
            }
        }
        self.drain_events();
    }

    fn poll_output(&mut self) -> Output {
        self.drain_events();
        match self.layer.poll_transmit() {
            Some(p) => Output::Transmit(p),
            None => Output::Timeout(self.layer.next_timeout().unwrap_or(Instant::NEVER)),
        }
    }
}

/// A response with `status` to request bytes that do not parse as a message, from their raw
/// header lines: `None` unless it is a request (not ACK) carrying Via, From, To, Call-ID and
/// CSeq lines. The To gets `tag` when it has none.
/// Text from the wire as a log line may show it: control characters escaped
/// ([`crate::base::escape`]), so that no peer can write to the operator's terminal.
fn esc(s: &str) -> String {
    crate::base::escape::escape(s).into_owned()
}

/// The info line of every request the server answers with a rejection of its own: why, with
/// the method, Call-ID and status (escaped: they come from the wire).
fn log_rejection(msg: &Message, code: StatusCode, why: &str) {
    tracing::info!(
        method = %esc(msg.method().map_or("?", Method::as_str)),
        call_id = %esc(&msg.call_id().unwrap_or_default()),
        status = %code,
        "rejected: {}",
        esc(why)
    );
}

/// A Warning header value (RFC 3261 §20.43): warn-code 399 (miscellaneous), this server's
/// host, and `why` as a quoted-string (quotes and backslashes escaped, control characters
/// dropped).
fn warning(host: &str, why: &str) -> String {
    let mut text = String::with_capacity(why.len());
    for c in why.chars() {
        match c {
            '"' | '\\' => {
                text.push('\\');
                text.push(c);
            }
            c if c.is_control() => {}
            c => text.push(c),
        }
    }
    format!("399 {host} \"{text}\"")
}

fn raw_response(bytes: &[u8], status: StatusCode, tag: &str, warning: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let start = lines.next()?.trim_start();
    let method = start.split_ascii_whitespace().next()?;
    if start.starts_with("SIP/") || method.eq_ignore_ascii_case("ACK") {
        return None;
    }
    let keep = ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"];
    let names = ["Via", "From", "To", "Call-ID", "CSeq"];
    let mut out = format!("SIP/2.0 {} {}\r\n", status.as_u16(), status.reason());
    let mut seen = [false; 5];
    for l in lines {
        // Only `Name: value` lines whose name is exactly one of these (no folding, no spaces in
        // it), written back with the name spelt out and the value trimmed.
        let Some((name, value)) = l.split_once(':') else { continue };
        let Some(k) = keep.iter().position(|x| name.trim_end().eq_ignore_ascii_case(x)) else { continue };
        let value = value.trim();
        // Echo nothing that could carry more than the one header value it claims to be.
        if name.starts_with([' ', '\t'])
            || value.len() > 1024
            || value.bytes().any(|b| b.is_ascii_control() && b != b'\t')
        {
            return None;
        }
        let slot = [0, 0, 1, 1, 2, 2, 3, 3, 4][k];
        seen[slot] = true;
        let tag = if slot == 2 && !value.to_ascii_lowercase().contains("tag=") {
            format!(";tag={tag}")
        } else {
            String::new()
        };
        out.push_str(&format!("{}: {value}{tag}\r\n", names[slot]));
    }
    if !seen.iter().all(|x| *x) {
        return None;
    }
    out.push_str(&format!("Warning: {warning}\r\nContent-Length: 0\r\n\r\n"));
    // Only ever a response that is itself well formed (the request's lines may not be).
    Message::parse(out.clone().into_bytes()).ok()?;
    Some(out.into_bytes())
}
