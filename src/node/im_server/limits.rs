//! The reference server's resource bounds (docs/architecture.md#resource-bounds). Every table
//! that grows per request has a bound in entries, because requests can arrive faster than
//! their entries expire (a non-INVITE transaction lives up to 64·T1 = 32 s, RFC 3261 §17.1.2.2).
//! A request that needs an entry of a full table is answered 503 with `Retry-After` and a
//! `Warning: 399 HOST "why"` naming the table (RFC 3261 §21.5.4, §20.33, §20.43), never queued:
//! - transactions (server and client together, [`ServerConfig::max_transactions`]): a new
//!   request is answered statelessly, so the refusal itself takes no entry; its To tag marks
//!   the ACK of a refused INVITE, which is then dropped rather than routed on;
//! - registrations learned from third-party REGISTERs ([`ServerConfig::max_registrations`]):
//!   when full, the ones that lapsed are forgotten first; a REGISTER for a new user that still
//!   finds no room gets the 503;
//! - requests kept for a later registration (fault `defer-offline` only): [`MAX_DEFERRED`].
//!
//! The proxy's own maps (`proxied`, `by_server`) hold one entry per client transaction, so the
//! transaction bound bounds them; the conversation maps (D10) and the last-forward map forget
//! their least recently used entry instead (they are caches, not work in progress).

use super::{ImServer, ServerConfig};
use crate::base::Packet;
use crate::base::ids::IdGen;
use crate::node::transaction::{Flow, response_target, response_to};
use crate::sip::{Edit, Message, StatusCode, apply_edits};

/// Default of [`ServerConfig::max_transactions`]. A MESSAGE forwarded over UDP holds a server
/// transaction for 32 s after its answer (Timer J; about 2 KB then) and a client one for 5 s
/// (Timer K; it lets the request it sent go once answered, so less than the 3 KB it held
/// with a 1 KB request before): this allows some 13,000 MESSAGE/s sustained, in at most
/// about 1 GB.
pub const MAX_TRANSACTIONS: usize = 500_000;
/// Default of [`ServerConfig::max_registrations`].
pub const MAX_REGISTRATIONS: usize = 100_000;
/// Most requests kept for a later registration (fault `defer-offline`).
pub const MAX_DEFERRED: usize = 1024;
/// At most one "table full" warning per this long (a flood would otherwise flood the log).
const FULL_WARNING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Entries of the last-forward map (read by fault `forward-retransmissions`).
pub const LAST_FORWARDS: usize = 1024;

/// How many entries each table holds ([`ImServer::table_sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSizes {
    /// Live server transactions.
    pub server_transactions: usize,
    /// Live client transactions.
    pub client_transactions: usize,
    /// Scheduled timer entries, stale ones included (at most 4 per transaction + 64).
    pub timer_entries: usize,
    /// Forwarded requests by client transaction.
    pub proxied: usize,
    /// The same, by server transaction.
    pub by_server: usize,
    /// The last-forward map ([`LAST_FORWARDS`]).
    pub last_forward: usize,
    /// Conversation-IDs by peer pair or group ([`ServerConfig::conversation_capacity`]).
    pub conversations: usize,
    /// Conversation-IDs by CPIM message ID ([`ServerConfig::conversation_capacity`]).
    pub message_ids: usize,
    /// Registrations learned from third-party REGISTERs.
    pub registrations: usize,
    /// Requests kept for a later registration.
    pub deferred: usize,
    /// Bytes of SIP messages all of them hold (transactions, the last-forward map, deferred
    /// requests); each message is at most the transport's largest message.
    pub held_bytes: usize,
}

impl TableSizes {
    /// Entries that hold or name a message: transactions, forwards pending (the forwarded
    /// request itself is held by its client transaction), last forwards, deferred.
    pub fn message_entries(&self) -> usize {
        self.server_transactions + self.client_transactions + self.proxied + self.last_forward + self.deferred
    }
}

/// The To tag of this server's stateless refusals (from its seed, not from its id stream, so
/// the simulation's ids do not move).
pub(super) fn refusal_tag(config: &ServerConfig) -> String {
    format!("full{}", IdGen::new(config.seed ^ 0x0503_0503_0503_0503).token(10))
}

impl ImServer {
    /// How many entries each table holds now (walks the transactions to add up their bytes).
    pub fn table_sizes(&self) -> TableSizes {
        let deferred_bytes: usize = self.deferred.iter().map(|d| d.forward.bytes.len()).sum();
        let last_bytes: usize = self.last_forward.values().map(|(b, _)| b.len()).sum();
        TableSizes {
            server_transactions: self.layer.server_count(),
            client_transactions: self.layer.client_count(),
            timer_entries: self.layer.deadline_entries(),
            proxied: self.proxied.len(),
            by_server: self.by_server.len(),
            last_forward: self.last_forward.len(),
            conversations: self.convs.by_key.len(),
            message_ids: self.convs.by_message.len(),
            registrations: self.registry.len(),
            deferred: self.deferred.len(),
            held_bytes: self.layer.held_bytes() + last_bytes + deferred_bytes,
        }
    }

    /// `Retry-After` of a refusal: the longest a transaction lives (64·T1), in whole seconds.
    pub(super) fn retry_after(&self) -> String {
        self.layer.config().t1x64().as_secs().max(1).to_string()
    }

    /// A new request (never an ACK: the layer passes those up as they are) found the
    /// transaction table full: 503 sent statelessly (no transaction, so a flood cannot grow
    /// the table by being refused). A warning in the log at most every 10 s.
    pub(super) fn refuse_when_full(&mut self, msg: &Message, flow: Flow) {
        self.stats.refused_full += 1;
        let live = self.layer.len();
        if self.full_warned.is_none_or(|t| self.now >= t + FULL_WARNING_EVERY) {
            self.full_warned = Some(self.now);
            tracing::warn!(
                transactions = live,
                refused = self.stats.refused_full,
                "transaction table full: new requests get 503 until entries expire (logged every {FULL_WARNING_EVERY:?} at most)"
            );
        }
        let why = format!("transaction table full ({live} transactions); try again later");
        let r = response_to(msg, StatusCode::SERVICE_UNAVAILABLE, Some(&self.refusal_tag));
        let r = self.with_headers(
            r,
            &[("Retry-After", self.retry_after()), ("Warning", super::warning(&self.config.host, &why))],
        );
        let to = response_target(msg, &flow);
        self.layer.send_stateless(Packet { transport: flow.transport, from: flow.local, to, bytes: r });
        self.stats.answered += 1;
    }

    /// True for the ACK of one of this server's stateless refusals (its To tag is ours): it
    /// ends there, there is nothing downstream to acknowledge.
    pub(super) fn acks_our_refusal(&self, ack: &Message) -> bool {
        ack.to_tag().is_some_and(|t| t == self.refusal_tag)
    }

    /// `r` with header lines appended (unchanged if it does not parse, which our own responses
    /// always do).
    pub(super) fn with_headers(&self, r: Vec<u8>, extra: &[(&str, String)]) -> Vec<u8> {
        let Ok(m) = Message::parse(r.clone()) else { return r };
        let edits: Vec<_> = extra.iter().map(|(n, v)| Edit::append_header(&m, n, v)).collect();
        apply_edits(&r, &edits).unwrap_or(r)
    }

    /// The `Retry-After` line of a stateful refusal for a full table.
    pub(super) fn full_table_extra(&self) -> [(&'static str, String); 1] {
        [("Retry-After", self.retry_after())]
    }
}
