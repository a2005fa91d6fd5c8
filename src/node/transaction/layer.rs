//! The transaction layer: classifies incoming messages (RFC 3261 §17.1.3, §17.2.3), owns the
//! transactions, fires their timers, and queues packets and events for the driver and the TU.
//! Terminated transactions are removed at once, so memory is bounded by the transactions
//! alive within 64·T1 (or Timer D) of now, and by [`TransactionLayer::set_limit`] in entries:
//! a layer holding that many transactions creates no more (a new request is passed up as
//! [`TxEvent::Refused`], a new client transaction fails with [`TxError::Full`]).

use super::client::{ClientTransaction, Sent};
use super::index::{IdSlab, KeyIndex};
use super::key::{ClientKey, ServerKey};
use super::outbox::{Deadline, Outbox};
use super::server::ServerTransaction;
use super::timer::TimerConfig;
use super::{ClientTx, Flow, ServerTx, TxError, TxEvent, TxHandle, TxState};
use crate::base::Instant;
use crate::base::Packet;
use crate::sip::StatusCode;
use crate::sip::{Message, Method};
use std::net::SocketAddr;

/// A sans-IO RFC 3261 transaction layer for one SIP element (proxy, UA or core).
///
/// Inputs: [`handle_packet`](Self::handle_packet) / [`handle_message`](Self::handle_message)
/// for received messages, [`send_request`](Self::send_request) and
/// [`respond`](Self::respond) from the TU, [`handle_timeout`](Self::handle_timeout) for time.
/// Outputs: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event) and
/// [`next_timeout`](Self::next_timeout).
#[derive(Debug, Default)]
pub struct TransactionLayer {
    config: TimerConfig,
    next_id: u64,
    servers: IdSlab<ServerTransaction>,
    /// Server transactions by key, 16 bytes a slot (see [`KeyIndex`]).
    server_index: KeyIndex<ServerKey>,
    clients: IdSlab<ClientTransaction>,
    /// Client transactions by key, 16 bytes a slot (see [`KeyIndex`]).
    client_index: KeyIndex<ClientKey>,
    out: Outbox,
    /// Most transactions alive at once (None: no bound).
    limit: Option<usize>,
}

/// Stale timer entries are dropped in one pass once the heap holds more than this many per
/// live transaction (each has at most two timers armed), plus [`DEADLINE_SLACK`].
const DEADLINES_PER_TX: usize = 4;
/// See [`DEADLINES_PER_TX`].
const DEADLINE_SLACK: usize = 64;

impl TransactionLayer {
    /// An empty layer with these timer values.
    pub fn new(config: TimerConfig) -> Self {
        TransactionLayer { config, ..Default::default() }
    }

    /// The timer values in use.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Hold at most `max` transactions (server and client together; at least 1). When the
    /// table is full, a new request creates no server transaction and is passed up as
    /// [`TxEvent::Refused`], and [`send_request`](Self::send_request) fails with
    /// [`TxError::Full`]; retransmissions, ACKs and responses of live transactions are
    /// handled as always.
    pub fn set_limit(&mut self, max: usize) {
        self.limit = Some(max.max(1));
    }

    /// The bound set with [`set_limit`](Self::set_limit), if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// True when no transaction can be created.
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|max| self.len() >= max)
    }

    /// A received packet: parse it and [`handle_message`](Self::handle_message). The bytes
    /// must hold one framed message (see [`crate::sip::framing`]).
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) -> Result<(), TxError> {
        let flow = Flow::of_received(&packet);
        let msg = Message::parse(packet.bytes)?;
        self.handle_message(msg, flow, now)
    }

    /// A received message, already parsed. Requests are new (event), retransmissions
    /// (absorbed, last response re-sent), ACKs (absorbed by their INVITE transaction, or
    /// passed up) or CANCELs (event naming the target); responses go to their client
    /// transaction or are reported as stray.
    pub fn handle_message(&mut self, msg: Message, flow: Flow, now: Instant) -> Result<(), TxError> {
        self.handle_message_keeping(msg, flow, now).map_err(|(e, _)| e)
    }

    /// [`handle_packet`](Self::handle_packet) that gives the packet's bytes back with the error
    /// when the layer cannot take it (they do not parse, or the message cannot be matched to a
    /// transaction): for a caller that answers such a request itself, without a copy of every
    /// packet kept for the rare error.
    pub fn handle_packet_keeping(&mut self, packet: Packet, now: Instant) -> Result<(), (TxError, Vec<u8>)> {
        let flow = Flow::of_received(&packet);
        let msg = Message::parse_keeping(packet.bytes).map_err(|(e, b)| (TxError::from(e), b))?;
        self.handle_message_keeping(msg, flow, now)
    }

    /// What [`handle_message`](Self::handle_message) does; on an error (which comes before
    /// the message is taken: its key cannot be made) the message's bytes come back.
    fn handle_message_keeping(&mut self, msg: Message, flow: Flow, now: Instant) -> Result<(), (TxError, Vec<u8>)> {
        let r = if msg.is_request() {
            match ServerKey::of_request_replying(&msg, &flow) {
                Ok((key, reply)) => {
                    self.handle_request(msg, key, flow, reply, now);
                    Ok(())
                }
                Err(e) => Err((e, msg.into_bytes())),
            }
        } else {
            match ClientKey::of_response(&msg) {
                Ok(key) => {
                    self.handle_response(msg, key, flow, now);
                    Ok(())
                }
                Err(e) => Err((e, msg.into_bytes())),
            }
        };
        self.prune();
        r
    }

    /// A request with its key, received along `flow`; its responses go to `reply`.
    fn handle_request(&mut self, msg: Message, key: ServerKey, flow: Flow, reply: SocketAddr, now: Instant) {
        // A request's key has its method: `of_request` refused one without.
        let Some(method) = msg.method().cloned() else { return };
        if method == Method::Ack {
            if let Some(id) = self.ack_target(&key, &msg) {
                let absorbed = match self.servers.get_mut(id) {
                    Some(tx) => tx.on_ack(now, &self.config, &mut self.out),
                    None => false,
                };
                self.reap_server(id);
                if absorbed {
                    return;
                }
            }
            self.out.event(TxEvent::Ack { msg, flow });
            return;
        }
        if let Some(id) = self.server_id(&key) {
            if let Some(tx) = self.servers.get_mut(id) {
                tx.on_retransmission(&mut self.out);
            }
            return;
        }
        if self.is_full() {
            self.out.event(TxEvent::Refused { msg, flow });
            return;
        }
        let id = self.alloc_id();
        let target = (method == Method::Cancel)
            .then(|| self.server_id(&key.with_method(Method::Invite)))
            .flatten()
            .map(ServerTx);
        let tx = ServerTransaction::new(id, key, msg.clone(), Flow { remote: reply, ..flow });
        self.servers.insert(id, tx);
        let servers = &self.servers;
        if let Some(key) = servers.get(id).map(|t| &t.key) {
            self.server_index.insert(key, id, |id| servers.get(id).map(|t| &t.key));
        }
        let tx = ServerTx(id);
        self.out.event(match method {
            Method::Cancel => TxEvent::Cancel { tx, target, msg, flow },
            _ => TxEvent::Request { tx, msg, flow },
        });
    }

    /// The INVITE server transaction an ACK (keyed as INVITE) belongs to. RFC 2543 keys also
    /// need the ACK's To tag to equal the tag of the response the transaction sent.
    fn ack_target(&self, key: &ServerKey, ack: &Message) -> Option<u64> {
        if let Some(id) = self.server_id(key) {
            return Some(id);
        }
        if !key.is_legacy() {
            return None;
        }
        let tag = ack.to_tag();
        let id = self.server_id(&key.with_to_tag(None))?;
        let tx = self.servers.get(id)?;
        (tag.is_some() && tx.response_to_tag == tag).then_some(id)
    }

    /// The live server transaction indexed under `key`.
    fn server_id(&self, key: &ServerKey) -> Option<u64> {
        self.server_index.get(key, |id| self.servers.get(id).map(|t| &t.key))
    }

    /// The live client transaction indexed under `key`.
    fn client_id(&self, key: &ClientKey) -> Option<u64> {
        self.client_index.get(key, |id| self.clients.get(id).map(|t| &t.key))
    }

    fn handle_response(&mut self, msg: Message, key: ClientKey, flow: Flow, now: Instant) {
        match self.client_id(&key) {
            Some(id) => {
                if let Some(tx) = self.clients.get_mut(id) {
                    tx.on_response(msg, flow, now, &self.config, &mut self.out);
                }
                self.reap_client(id);
            }
            None => self.out.event(TxEvent::StrayResponse { msg, flow }),
        }
    }

    /// Start a client transaction: `request` (one whole request, not ACK, whose top Via
    /// carries the branch the TU chose, RFC 3261 §8.1.1.7) is sent along `flow` now and
    /// retransmitted over UDP until a response or a timeout.
    pub fn send_request(&mut self, flow: Flow, request: Vec<u8>, now: Instant) -> Result<ClientTx, TxError> {
        let (mut msg, key) = sendable(request)?;
        // Held for the transaction's life (an INVITE's up to 32 s): no spare index room.
        msg.shrink_to_fit();
        self.start_client(flow, Sent::Parsed(msg), key, now)
    }

    /// [`send_request`](Self::send_request) for a non-INVITE request whose key the caller
    /// knows because it built the request (a proxy's forward: the branch it put in its own
    /// Via, the method of the request it forwards): not parsed again. The caller vouches that
    /// `request` is one [`check_sendable`] accepts with this key (checked in debug builds).
    pub fn send_request_known(
        &mut self,
        flow: Flow,
        request: Vec<u8>,
        key: ClientKey,
        now: Instant,
    ) -> Result<ClientTx, TxError> {
        debug_assert!(
            key.method != Method::Invite && sendable(request.clone()).is_ok_and(|(_, k)| k == key),
            "send_request_known: the request's own key is not {key:?}"
        );
        self.start_client(flow, Sent::Raw(request, Default::default()), key, now)
    }

    fn start_client(&mut self, flow: Flow, request: Sent, key: ClientKey, now: Instant) -> Result<ClientTx, TxError> {
        if self.client_id(&key).is_some() {
            return Err(TxError::Duplicate);
        }
        if self.is_full() {
            return Err(TxError::Full(self.len()));
        }
        let id = self.alloc_id();
        let tx = ClientTransaction::start(id, key, request, flow, now, &self.config, &mut self.out);
        self.clients.insert(id, tx);
        let clients = &self.clients;
        if let Some(key) = clients.get(id).map(|t| &t.key) {
            self.client_index.insert(key, id, |id| clients.get(id).map(|t| &t.key));
        }
        self.prune();
        Ok(ClientTx(id))
    }

    /// The TU answers server transaction `tx` with `response` (one whole response). It is
    /// sent now, stored for request retransmissions, and drives the state machine: a non-2xx
    /// final to INVITE is retransmitted over UDP until the ACK (Timer G). Errors when the
    /// transaction is gone or the state forbids the response (e.g. a second final).
    pub fn respond(&mut self, tx: ServerTx, response: Vec<u8>, now: Instant) -> Result<(), TxError> {
        let msg = Message::parse(response)?;
        let code = msg.status().ok_or(TxError::NotAResponse)?;
        let to_tag = msg.to_tag();
        self.respond_known(tx, code, to_tag, msg.into_bytes(), now)
    }

    /// [`respond`](Self::respond) for a response whose status code and To tag the caller
    /// already knows (a proxy relaying a response it parsed, less its top Via): not parsed
    /// again.
    pub fn respond_known(
        &mut self,
        tx: ServerTx,
        code: StatusCode,
        to_tag: Option<String>,
        response: Vec<u8>,
        now: Instant,
    ) -> Result<(), TxError> {
        let t = self.servers.get_mut(tx.0);
        let t = t.ok_or(TxError::UnknownTransaction(TxHandle::Server(tx)))?;
        let r = t.respond(code, to_tag, response, now, &self.config, &mut self.out);
        self.reap_server(tx.0);
        self.prune();
        r
    }

    /// Queue a packet outside any transaction: an ACK for a 2xx, a response forwarded
    /// statelessly, a deliberately faulty message. It keeps its place among the layer's
    /// other packets.
    pub fn send_stateless(&mut self, packet: Packet) {
        self.out.transmit.push_back(packet);
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, id, timer)) = self.out.pop_due(now) {
            if let Some(tx) = self.servers.get_mut(id) {
                if tx.timers.get(timer) == Some(at) {
                    tx.timers.clear(timer);
                    tx.on_timer(timer, now, &self.config, &mut self.out);
                    self.reap_server(id);
                }
            } else if let Some(tx) = self.clients.get_mut(id) {
                if tx.timers.get(timer) == Some(at) {
                    tx.timers.clear(timer);
                    tx.on_timer(timer, now, &self.config, &mut self.out);
                    self.reap_client(id);
                }
            }
        }
        self.prune();
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        self.out.transmit.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.out.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` when no
    /// timer is armed.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.out.next_deadline()
    }

    /// The state of a live server transaction.
    pub fn server_state(&self, tx: ServerTx) -> Option<TxState> {
        self.servers.get(tx.0).map(|t| t.state)
    }

    /// The state of a live client transaction.
    pub fn client_state(&self, tx: ClientTx) -> Option<TxState> {
        self.clients.get(tx.0).map(|t| t.state)
    }

    /// The request that created a live server transaction: an INVITE for the transaction's
    /// whole life, another request until its final response is sent (then `None`).
    pub fn server_request(&self, tx: ServerTx) -> Option<&Message> {
        self.servers.get(tx.0).and_then(|t| t.request.as_ref())
    }

    /// True for a live INVITE server transaction (the only kind whose responses' To tag it
    /// keeps: RFC 2543 ACK matching).
    pub fn server_is_invite(&self, tx: ServerTx) -> bool {
        self.servers.get(tx.0).is_some_and(|t| t.invite)
    }

    /// Where a live server transaction sends its responses (RFC 3261 §18.2.2).
    pub fn server_reply_flow(&self, tx: ServerTx) -> Option<Flow> {
        self.servers.get(tx.0).map(|t| t.reply)
    }

    /// The request a live client transaction sent: an INVITE for the transaction's whole
    /// life, another request until it has received a final response (then `None`).
    pub fn client_request(&self, tx: ClientTx) -> Option<&Message> {
        self.clients.get(tx.0).and_then(|t| t.request.as_ref()).and_then(Sent::message)
    }

    /// The bytes of [`client_request`](Self::client_request), without parsing them.
    pub fn client_request_bytes(&self, tx: ClientTx) -> Option<&[u8]> {
        self.clients.get(tx.0).and_then(|t| t.request.as_ref()).map(Sent::bytes)
    }

    /// The live client transaction a key names (a request's top-Via branch and method).
    pub fn client_by_key(&self, key: &ClientKey) -> Option<ClientTx> {
        self.client_id(key).map(ClientTx)
    }

    /// Number of live transactions (server and client).
    pub fn len(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Transactions still waiting for a final response: client transactions that have not
    /// received one, server transactions that have not sent one. Zero when everything this
    /// element started or was asked has been answered (timers absorbing retransmissions may
    /// still run).
    pub fn awaiting_final(&self) -> usize {
        let open = |s: TxState| matches!(s, TxState::Calling | TxState::Trying | TxState::Proceeding);
        self.clients.values().filter(|t| open(t.state)).count()
            + self.servers.values().filter(|t| open(t.state)).count()
    }

    /// Number of live server transactions.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// Number of live client transactions.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Number of scheduled deadlines, stale ones included: at most 4 per live transaction
    /// plus 64 after every call (stale entries are dropped in one pass past that).
    pub fn deadline_entries(&self) -> usize {
        self.out.deadlines.len()
    }

    /// Bytes of SIP messages the live transactions hold (each its request, and its last
    /// response or ACK); the parsed index of each message adds a few words per header line.
    pub fn held_bytes(&self) -> usize {
        let servers = self
            .servers
            .values()
            .map(|t| t.request.as_ref().map_or(0, |r| r.bytes().len()) + t.last_response.as_ref().map_or(0, Vec::len));
        let clients = self.clients.values().map(|t| t.request.as_ref().map_or(0, |r| r.bytes().len()) + t.ack_len());
        servers.chain(clients).sum()
    }

    /// Drop a server transaction without a final response (RFC 4320 §4.2: an element that
    /// cannot answer a non-INVITE request before it expires sends nothing at all).
    pub fn abandon(&mut self, tx: ServerTx) {
        if let Some(t) = self.servers.get_mut(tx.0) {
            t.state = TxState::Terminated;
        }
        self.reap_server(tx.0);
        self.prune();
    }

    /// End a client transaction whose request could not be sent (RFC 3261 §17.1.4: a transport
    /// failure terminates it; the TU is told by the caller), so that nothing is retransmitted.
    pub fn abandon_client(&mut self, tx: ClientTx) {
        if let Some(t) = self.clients.get_mut(tx.0) {
            t.state = TxState::Terminated;
        }
        self.reap_client(tx.0);
        self.prune();
    }

    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn reap_server(&mut self, id: u64) {
        if self.servers.get(id).is_some_and(|t| t.state == TxState::Terminated) {
            if let Some(t) = self.servers.remove(id) {
                self.server_index.remove(&t.key, id);
            }
            self.out.event(TxEvent::Terminated(TxHandle::Server(ServerTx(id))));
        }
    }

    fn reap_client(&mut self, id: u64) {
        if self.clients.get(id).is_some_and(|t| t.state == TxState::Terminated) {
            if let Some(t) = self.clients.remove(id) {
                self.client_index.remove(&t.key, id);
            }
            self.out.event(TxEvent::Terminated(TxHandle::Client(ClientTx(id))));
        }
    }

    /// Drop stale deadlines from the top of the heap so `next_timeout` is exact, and all of
    /// them once they outnumber the live ones (a timer stopped early, e.g. Timer F by the final
    /// response, leaves its entry behind until its time: at a high request rate that is many).
    fn prune(&mut self) {
        let (servers, clients) = (&self.servers, &self.clients);
        let live = |&(at, id, timer): &Deadline| {
            let held = servers.get(id).map(|t| t.timers.get(timer));
            let held = held.or_else(|| clients.get(id).map(|t| t.timers.get(timer)));
            held.flatten() == Some(at)
        };
        if self.out.deadlines.len() > DEADLINES_PER_TX * (servers.len() + clients.len()) + DEADLINE_SLACK {
            self.out.deadlines.retain(live);
        }
        self.out.prune(live);
    }
}

/// Whether `request` is one [`TransactionLayer::send_request`] would start a transaction for
/// (it parses, is a request other than ACK, has a top Via branch and a CSeq of its method);
/// why not, otherwise. A scenario's requests are checked with this when it is loaded.
pub fn check_sendable(request: &[u8]) -> Result<(), TxError> {
    sendable(request.to_vec()).map(|_| ())
}

fn sendable(request: Vec<u8>) -> Result<(Message, ClientKey), TxError> {
    let msg = Message::parse(request)?;
    let method = msg.method().cloned().ok_or(TxError::NotARequest)?;
    if method == Method::Ack {
        return Err(TxError::AckIsNotATransaction);
    }
    let branch = msg.top_via_branch().filter(|b| !b.is_empty());
    let branch = branch.ok_or(TxError::Unmatchable("no branch in the top Via"))?;
    let (_, cseq_method) = msg.cseq()?;
    if cseq_method != method {
        return Err(TxError::Unmatchable("the CSeq method differs from the request method"));
    }
    Ok((msg, ClientKey { branch, method }))
}
