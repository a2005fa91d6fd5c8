//! Client transactions: INVITE (RFC 3261 §17.1.1 with the RFC 6026 Accepted state) and
//! non-INVITE (§17.1.2). A transaction sends the request, retransmits it over UDP (Timers A
//! and E), reports responses once (2xx to INVITE every time), acknowledges a non-2xx final
//! to INVITE itself (§17.1.1.3), reports Timer B or F expiry, and removes itself after
//! Timers D, K or M.

use std::time::Duration;

use super::build::ack_for;
use super::key::ClientKey;
use super::outbox::Outbox;
use super::timer::{Timer, TimerConfig, TimerSet};
use super::{ClientTx, Flow, TxEvent, TxState};
use crate::base::Instant;
use crate::sip::{Class, Message, Method};

/// One client transaction.
#[derive(Debug)]
pub(super) struct ClientTransaction {
    /// Layer-wide id.
    pub(super) id: u64,
    /// INVITE (else non-INVITE; CANCEL is non-INVITE).
    invite: bool,
    /// The key it is indexed under.
    pub(super) key: ClientKey,
    /// Current state.
    pub(super) state: TxState,
    /// Where the request goes.
    flow: Flow,
    /// The request as sent; a non-INVITE one is let go once the transaction completes (it then
    /// only absorbs response retransmissions, for T4).
    pub(super) request: Option<Sent>,
    /// The ACK for a non-2xx final (INVITE), re-sent on final retransmissions.
    ack: Option<Vec<u8>>,
    /// The current Timer A or E interval.
    interval: Duration,
    /// Armed deadlines.
    pub(super) timers: TimerSet,
}

impl ClientTransaction {
    /// Create the transaction and send the request (the caller checked it is a request other
    /// than ACK, with a branch and a CSeq).
    pub(super) fn start(
        id: u64,
        key: ClientKey,
        request: Sent,
        flow: Flow,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut Outbox,
    ) -> Self {
        out.send(&flow, request.bytes().to_vec());
        let invite = key.method == Method::Invite;
        let (retransmit, timeout) = if invite { (Timer::A, Timer::B) } else { (Timer::E, Timer::F) };
        let mut tx = ClientTransaction {
            id,
            invite,
            key,
            state: if invite { TxState::Calling } else { TxState::Trying },
            flow,
            request: Some(request),
            ack: None,
            interval: cfg.initial(retransmit, flow.transport),
            timers: TimerSet::default(),
        };
        if !flow.transport.is_reliable() {
            out.arm(&mut tx.timers, id, retransmit, now, tx.interval);
        }
        out.arm(&mut tx.timers, id, timeout, now, cfg.t1x64());
        tx
    }

    fn handle(&self) -> ClientTx {
        ClientTx(self.id)
    }

    /// Bytes of the ACK it keeps for final retransmissions (0 when none).
    pub(super) fn ack_len(&self) -> usize {
        self.ack.as_ref().map_or(0, Vec::len)
    }

    /// Enter a state that waits for retransmissions with `timer` (D or K), or terminate at
    /// once when its value is zero (reliable transports).
    fn complete(&mut self, timer: Timer, now: Instant, cfg: &TimerConfig, out: &mut Outbox) {
        self.timers.clear_all();
        self.state = TxState::Completed;
        if !self.invite {
            self.request = None;
        }
        let d = cfg.initial(timer, self.flow.transport);
        if d.is_zero() {
            self.state = TxState::Terminated;
        } else {
            out.arm(&mut self.timers, self.id, timer, now, d);
        }
    }

    /// A response matched this transaction.
    pub(super) fn on_response(&mut self, msg: Message, flow: Flow, now: Instant, cfg: &TimerConfig, out: &mut Outbox) {
        let Some(code) = msg.status() else { return };
        let tx = self.handle();
        let report = |msg, out: &mut Outbox| {
            out.event(TxEvent::Response { tx, msg, flow });
        };
        if self.invite {
            match (self.state, code.class()) {
                (TxState::Calling | TxState::Proceeding, Class::Provisional) => {
                    // §17.1.1.2: no retransmission and no Timer B in Proceeding (Timer C is
                    // the proxy TU's business).
                    self.timers.clear_all();
                    self.state = TxState::Proceeding;
                    report(msg, out);
                }
                (TxState::Calling | TxState::Proceeding, Class::Success) => {
                    self.timers.clear_all();
                    self.state = TxState::Accepted;
                    out.arm(&mut self.timers, self.id, Timer::M, now, cfg.t1x64());
                    report(msg, out);
                }
                (TxState::Calling | TxState::Proceeding, _) => {
                    // The request of an INVITE is held for its whole life (and INVITEs are
                    // always handed over parsed: `send_request_known` takes no INVITE).
                    let req = self.request.as_ref().and_then(Sent::message);
                    debug_assert!(req.is_some(), "an INVITE client transaction without its request");
                    if let Some(req) = req {
                        let ack = ack_for(req, &msg);
                        out.send(&self.flow, ack.clone());
                        self.ack = Some(ack);
                    }
                    report(msg, out);
                    self.complete(Timer::D, now, cfg, out);
                }
                // RFC 6026 §8.4: every 2xx in Accepted goes to the TU. A 2xx after a non-2xx
                // final (Completed) is passed up too: a 2xx must never be lost.
                (TxState::Accepted | TxState::Completed, Class::Success) => report(msg, out),
                (TxState::Completed, Class::Failure) => {
                    if let Some(ack) = &self.ack {
                        out.send(&self.flow, ack.clone());
                    }
                }
                _ => {}
            }
        } else {
            match (self.state, code.class()) {
                (TxState::Trying | TxState::Proceeding, Class::Provisional) => {
                    self.state = TxState::Proceeding;
                    report(msg, out);
                }
                (TxState::Trying | TxState::Proceeding, _) => {
                    report(msg, out);
                    self.complete(Timer::K, now, cfg, out);
                }
                // Completed: response retransmissions are absorbed.
                _ => {}
            }
        }
    }

    fn resend(&self, out: &mut Outbox) {
        if let Some(r) = &self.request {
            out.send(&self.flow, r.bytes().to_vec());
        }
    }

    /// A timer of this transaction fired (the layer has already disarmed it).
    pub(super) fn on_timer(&mut self, timer: Timer, now: Instant, cfg: &TimerConfig, out: &mut Outbox) {
        match (timer, self.state) {
            (Timer::A, TxState::Calling) | (Timer::E, TxState::Trying) => {
                self.resend(out);
                self.interval = cfg.next_interval(timer, self.interval);
                out.arm(&mut self.timers, self.id, timer, now, self.interval);
            }
            (Timer::E, TxState::Proceeding) => {
                self.resend(out);
                self.interval = cfg.proceeding_interval();
                out.arm(&mut self.timers, self.id, Timer::E, now, self.interval);
            }
            (Timer::B, TxState::Calling) | (Timer::F, TxState::Trying | TxState::Proceeding) => {
                out.event(TxEvent::Timeout { tx: self.handle(), timer });
                self.state = TxState::Terminated;
            }
            (Timer::D | Timer::K, TxState::Completed) | (Timer::M, TxState::Accepted) => {
                self.state = TxState::Terminated;
            }
            _ => {}
        }
    }
}

/// A request a client transaction sent: parsed when the TU handed it over parsed-checked, or
/// bytes whose key the TU vouched for ([`super::TransactionLayer::send_request_known`]),
/// parsed only if someone asks for the message.
#[derive(Debug)]
pub(super) enum Sent {
    /// Parsed when sent.
    Parsed(Message),
    /// Bytes, and their parse once asked for.
    Raw(Vec<u8>, std::cell::OnceCell<Option<Message>>),
}

impl Sent {
    /// The bytes as sent.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Sent::Parsed(m) => m.bytes(),
            Sent::Raw(b, _) => b,
        }
    }

    /// The request parsed (`None` only if bytes handed over as known do not parse).
    pub(super) fn message(&self) -> Option<&Message> {
        match self {
            Sent::Parsed(m) => Some(m),
            Sent::Raw(b, parsed) => parsed.get_or_init(|| Message::parse(b.clone()).ok()).as_ref(),
        }
    }
}
