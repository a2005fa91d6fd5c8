//! The RFC 3261 transaction layer, sans-IO: server and client transactions for INVITE and
//! non-INVITE requests, their retransmissions and timers. Time and messages are inputs;
//! packets to send, events for the transaction user (TU) and the next deadline are outputs.
//!
//! Clauses implemented:
//! - RFC 3261 §17.1.1 INVITE client transaction (Timers A, B, D) and §17.1.1.3 the ACK for a
//!   non-2xx final response, generated here;
//! - §17.1.2 non-INVITE client transaction (Timers E, F, K);
//! - §17.1.3 matching responses to client transactions (branch + CSeq method);
//! - §17.2.1 INVITE server transaction (Timers G, H, I) and §17.2.2 non-INVITE server
//!   transaction (Timer J);
//! - §17.2.3 matching requests to server transactions (branch + sent-by + method, ACK and
//!   CANCEL to the INVITE), with the RFC 2543 fallback for branches without `z9hG4bK`;
//! - §18.2.2 and RFC 3581 where responses are sent;
//! - §8.2.6 and §9.1 helpers: responses, 100 Trying, CANCEL ([`response_to`], [`trying_for`],
//!   [`cancel_for`]);
//! - RFC 6026: the Accepted state on both sides (Timers L and M), so a 2xx to INVITE does not
//!   end the transaction at once: INVITE retransmissions are absorbed and 2xx
//!   retransmissions are passed to the TU;
//! - RFC 4320: Timer F expiry is reported, but the TU must not send 408 upstream for a
//!   non-INVITE request (see [`TxEvent::Timeout`]).
//!
//! Run-loop rule: after every `handle_*` call drain [`TransactionLayer::poll_transmit`] and
//! [`TransactionLayer::poll_event`], then call [`TransactionLayer::handle_timeout`] at
//! [`TransactionLayer::next_timeout`].

mod build;
mod client;
mod index;
mod key;
mod layer;
mod outbox;
mod server;
mod timer;

#[cfg(test)]
mod tests;

pub use build::{ack_for, cancel_for, response_to, response_with_reason, trying_for};
pub(crate) use index::IdMap;
pub use key::{ClientKey, MAGIC_COOKIE, ServerKey, is_rfc3261_branch, response_target};
pub use layer::{TransactionLayer, check_sendable};
pub use timer::{Timer, TimerConfig};

use std::net::SocketAddr;

use crate::base::{Packet, Transport};
use crate::sip::{Message, ParseError};

/// The path a message travels: transport plus our and the peer's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport.
    pub transport: Transport,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
}

impl Flow {
    /// The flow of a received packet (we are its destination).
    pub fn of_received(p: &Packet) -> Flow {
        Flow { transport: p.transport, local: p.to, remote: p.from }
    }
    /// A packet carrying `bytes` from us to the peer.
    pub fn packet(&self, bytes: Vec<u8>) -> Packet {
        Packet { transport: self.transport, from: self.local, to: self.remote, bytes }
    }
}

/// A server transaction (a request we received), as the TU refers to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTx(pub(crate) u64);

/// A client transaction (a request we sent), as the TU refers to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTx(pub(crate) u64);

/// Either kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxHandle {
    /// A server transaction.
    Server(ServerTx),
    /// A client transaction.
    Client(ClientTx),
}

/// Transaction states (RFC 3261 §17 and RFC 6026 "Accepted"). A terminated transaction is
/// removed at once, so the accessors never report `Terminated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    /// INVITE client: request sent, no response yet.
    Calling,
    /// Non-INVITE client: request sent, no response yet; non-INVITE server: request
    /// received, no response sent yet.
    Trying,
    /// A provisional response was received (client) or sent (server). An INVITE server
    /// transaction starts here.
    Proceeding,
    /// A final response (non-2xx for INVITE) was received or sent; absorbing retransmissions.
    Completed,
    /// INVITE server: the ACK for a non-2xx final response arrived; absorbing ACK
    /// retransmissions (Timer I).
    Confirmed,
    /// INVITE (RFC 6026): a 2xx was received or sent; 2xx retransmissions pass through.
    Accepted,
    /// Finished; about to be removed.
    Terminated,
}

/// What the layer tells the TU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request (not a retransmission, not ACK or CANCEL): a server transaction was
    /// created; answer it with [`TransactionLayer::respond`].
    Request {
        /// The new server transaction.
        tx: ServerTx,
        /// The request.
        msg: Message,
        /// Where it came from.
        flow: Flow,
    },
    /// A new CANCEL (RFC 3261 §9.2). It has a server transaction of its own that the TU
    /// answers (200, or 481 when `target` is `None`).
    Cancel {
        /// The CANCEL's own server transaction.
        tx: ServerTx,
        /// The INVITE server transaction it cancels, when one matches.
        target: Option<ServerTx>,
        /// The CANCEL.
        msg: Message,
        /// Where it came from.
        flow: Flow,
    },
    /// An ACK that no INVITE server transaction absorbed: the ACK for a 2xx, an end-to-end
    /// request of its own (RFC 3261 §17.2.3, §13.2.2.4). No transaction was created.
    Ack {
        /// The ACK.
        msg: Message,
        /// Where it came from.
        flow: Flow,
    },
    /// A response for a client transaction: every provisional, the final response once, and
    /// every 2xx to INVITE (each retransmission too: a proxy relays them upstream).
    Response {
        /// The client transaction.
        tx: ClientTx,
        /// The response.
        msg: Message,
        /// Where it came from.
        flow: Flow,
    },
    /// A response that matches no client transaction (RFC 3261 §18.1.2: passed to the core;
    /// a proxy forwards it statelessly, §16.7).
    StrayResponse {
        /// The response.
        msg: Message,
        /// Where it came from.
        flow: Flow,
    },
    /// A client transaction timed out without a final response: Timer B (INVITE, the TU
    /// sends 408 upstream) or Timer F (non-INVITE; RFC 4320 §4.2: a stateful element sends
    /// no 408 to a non-INVITE request, so the TU sends nothing upstream).
    Timeout {
        /// The client transaction, now gone.
        tx: ClientTx,
        /// B or F.
        timer: Timer,
    },
    /// Timer H fired: no ACK arrived for a non-2xx final response to INVITE (RFC 3261
    /// §17.2.1, a transaction failure).
    AckTimeout {
        /// The INVITE server transaction, now gone.
        tx: ServerTx,
    },
    /// A transaction ended and was removed; a TU drops its state for it.
    Terminated(TxHandle),
    /// A new request (not a retransmission, not ACK) arrived while the layer held as many
    /// transactions as its limit ([`TransactionLayer::set_limit`]): no transaction was
    /// created. The TU answers it statelessly (a proxy: 503 with Retry-After) or drops it; a
    /// retransmission of it comes up the same way.
    Refused {
        /// The request.
        msg: Message,
        /// Where it came from.
        flow: Flow,
    },
}

/// Bad input to the transaction layer. A peer's malformed message is an `Err` here; whether
/// it is a finding is the caller's business.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes are not a SIP message.
    #[error("not a SIP message: {0}")]
    Parse(#[from] ParseError),
    /// The message lacks what transaction matching needs.
    #[error("cannot match to a transaction: {0}")]
    Unmatchable(&'static str),
    /// A response was expected.
    #[error("a request was given where a response is expected")]
    NotAResponse,
    /// A request was expected.
    #[error("a response was given where a request is expected")]
    NotARequest,
    /// ACK is not sent through a client transaction: an ACK for a 2xx goes through
    /// [`TransactionLayer::send_stateless`]; the ACK for a non-2xx is generated here.
    #[error("ACK is not a client transaction; send it statelessly")]
    AckIsNotATransaction,
    /// A client transaction with this branch and method is already running.
    #[error("a client transaction with this branch and method already exists")]
    Duplicate,
    /// The layer holds as many transactions as its limit ([`TransactionLayer::set_limit`]).
    #[error("the transaction table is full ({0} transactions)")]
    Full(usize),
    /// The transaction is gone (terminated) or never existed.
    #[error("no such transaction: {0:?}")]
    UnknownTransaction(TxHandle),
    /// The response is not allowed in the transaction's state (e.g. a second final).
    #[error("a {code} response is not allowed in state {state:?}")]
    WrongState {
        /// The transaction's state.
        state: TxState,
        /// The refused status code.
        code: crate::sip::StatusCode,
    },
}
