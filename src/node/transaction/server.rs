//! Server transactions: INVITE (RFC 3261 §17.2.1 with the RFC 6026 Accepted state) and
//! non-INVITE (§17.2.2). A transaction stores the last response the TU sent so it can answer
//! request retransmissions, retransmits a non-2xx final to INVITE over UDP (Timer G) until
//! the ACK arrives, and removes itself after Timers H, I, J or L.

use std::time::Duration;

use super::key::ServerKey;
use super::outbox::Outbox;
use super::timer::{Timer, TimerConfig, TimerSet};
use super::{Flow, ServerTx, TxError, TxEvent, TxState};
use crate::base::Instant;
use crate::sip::{Message, Method, StatusCode};

/// One server transaction.
#[derive(Debug)]
pub(super) struct ServerTransaction {
    /// Layer-wide id.
    pub(super) id: u64,
    /// INVITE (else non-INVITE; CANCEL is non-INVITE).
    pub(super) invite: bool,
    /// The key it is indexed under.
    pub(super) key: ServerKey,
    /// Current state.
    pub(super) state: TxState,
    /// Where responses go: the request's flow with the §18.2.2 destination.
    pub(super) reply: Flow,
    /// The request that created the transaction; a non-INVITE one lets it go once it has sent
    /// its final response (it then only answers retransmissions, for up to 64·T1, from the
    /// stored response, so holding the request would double its memory for nothing).
    pub(super) request: Option<Message>,
    /// The last response the TU sent (re-sent on request retransmissions and by Timer G).
    pub(super) last_response: Option<Vec<u8>>,
    /// The To tag of the last response (RFC 2543 ACK matching).
    pub(super) response_to_tag: Option<String>,
    /// The current Timer G interval.
    interval: Duration,
    /// Armed deadlines.
    pub(super) timers: TimerSet,
}

impl ServerTransaction {
    /// A transaction for a new request; its responses go along `reply` (the flow it came on,
    /// toward [`super::response_target`]).
    pub(super) fn new(id: u64, key: ServerKey, request: Message, reply: Flow) -> Self {
        let invite = request.method() == Some(&Method::Invite);
        ServerTransaction {
            id,
            invite,
            key,
            // An INVITE server transaction starts in Proceeding (§17.2.1), others in Trying.
            state: if invite { TxState::Proceeding } else { TxState::Trying },
            reply,
            request: Some(request),
            last_response: None,
            response_to_tag: None,
            interval: Duration::ZERO,
            timers: TimerSet::default(),
        }
    }

    fn handle(&self) -> ServerTx {
        ServerTx(self.id)
    }

    fn resend_last(&self, out: &mut Outbox) {
        if let Some(b) = &self.last_response {
            out.send(&self.reply, b.clone());
        }
    }

    /// Arm `timer` with its table value, or terminate at once when that value is zero (the
    /// "0 for reliable transports" timers).
    fn arm_or_terminate(&mut self, timer: Timer, now: Instant, cfg: &TimerConfig, out: &mut Outbox) {
        let d = cfg.initial(timer, self.reply.transport);
        if d.is_zero() {
            self.state = TxState::Terminated;
        } else {
            out.arm(&mut self.timers, self.id, timer, now, d);
        }
    }

    /// A retransmission of the request: re-send the last response in Proceeding and
    /// Completed; absorb silently in Trying (nothing sent yet), Confirmed and Accepted
    /// (RFC 6026 §8.5: the TU retransmits the 2xx itself).
    pub(super) fn on_retransmission(&mut self, out: &mut Outbox) {
        if matches!(self.state, TxState::Proceeding | TxState::Completed) {
            self.resend_last(out);
        }
    }

    /// An ACK matched this transaction. Returns true when absorbed (Completed: move to
    /// Confirmed; Confirmed: an ACK retransmission); false when the TU should see it (any
    /// other state, e.g. an ACK for a 2xx that reused the INVITE branch in Accepted).
    pub(super) fn on_ack(&mut self, now: Instant, cfg: &TimerConfig, out: &mut Outbox) -> bool {
        match self.state {
            TxState::Completed => {
                self.timers.clear_all();
                self.state = TxState::Confirmed;
                self.arm_or_terminate(Timer::I, now, cfg, out);
                true
            }
            TxState::Confirmed => true,
            _ => false,
        }
    }

    /// The TU sends a response. `code` and `to_tag` come from `bytes`, parsed by the caller.
    pub(super) fn respond(
        &mut self,
        code: StatusCode,
        to_tag: Option<String>,
        bytes: Vec<u8>,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut Outbox,
    ) -> Result<(), TxError> {
        let provisional = code.is_provisional();
        let success = code.is_success();
        let next = match (self.invite, self.state) {
            (true, TxState::Proceeding) if provisional => TxState::Proceeding,
            (true, TxState::Proceeding) if success => TxState::Accepted,
            (true, TxState::Proceeding) => TxState::Completed,
            // RFC 6026 §8.6: further 2xx from the TU are sent in Accepted.
            (true, TxState::Accepted) if success => TxState::Accepted,
            (false, TxState::Trying | TxState::Proceeding) if provisional => TxState::Proceeding,
            (false, TxState::Trying | TxState::Proceeding) => TxState::Completed,
            (_, state) => return Err(TxError::WrongState { state, code }),
        };
        out.send(&self.reply, bytes.clone());
        if !self.invite && next == TxState::Completed {
            self.request = None;
        }
        self.response_to_tag = to_tag;
        self.last_response = Some(bytes);
        let entered = next != self.state;
        self.state = next;
        if !entered {
            return Ok(());
        }
        match (self.invite, next) {
            (true, TxState::Accepted) => {
                out.arm(&mut self.timers, self.id, Timer::L, now, cfg.t1x64());
            }
            (true, TxState::Completed) => {
                if !self.reply.transport.is_reliable() {
                    self.interval = cfg.initial(Timer::G, self.reply.transport);
                    out.arm(&mut self.timers, self.id, Timer::G, now, self.interval);
                }
                out.arm(&mut self.timers, self.id, Timer::H, now, cfg.t1x64());
            }
            (false, TxState::Completed) => self.arm_or_terminate(Timer::J, now, cfg, out),
            _ => {}
        }
        Ok(())
    }

    /// A timer of this transaction fired (the layer has already disarmed it).
    pub(super) fn on_timer(&mut self, timer: Timer, now: Instant, cfg: &TimerConfig, out: &mut Outbox) {
        match (timer, self.state) {
            (Timer::G, TxState::Completed) => {
                self.resend_last(out);
                self.interval = cfg.next_interval(Timer::G, self.interval);
                out.arm(&mut self.timers, self.id, Timer::G, now, self.interval);
            }
            (Timer::H, TxState::Completed) => {
                out.event(TxEvent::AckTimeout { tx: self.handle() });
                self.state = TxState::Terminated;
            }
            (Timer::I, TxState::Confirmed) | (Timer::J, TxState::Completed) | (Timer::L, TxState::Accepted) => {
                self.state = TxState::Terminated
            }
            _ => {}
        }
    }
}
