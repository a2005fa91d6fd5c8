//! What transactions produce: packets to send, events for the TU, and timer deadlines. The
//! deadlines live in one min-heap with lazy deletion: an entry is live only while its
//! transaction still holds that deadline for that timer, so a stopped or restarted timer
//! needs no search. Ties fire in (deadline, transaction id, timer) order: deterministic.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use super::timer::{Timer, TimerSet};
use super::{Flow, TxEvent};
use crate::base::Instant;
use crate::base::Packet;

/// One scheduled deadline: when, which transaction, which timer.
pub(super) type Deadline = (Instant, u64, Timer);

/// The layer's outputs, shared by every transaction.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Packets to send, in order.
    pub(super) transmit: VecDeque<Packet>,
    /// Events for the TU, in order.
    pub(super) events: VecDeque<TxEvent>,
    /// Deadlines, earliest first; may hold stale entries (see the module docs).
    pub(super) deadlines: BinaryHeap<Reverse<Deadline>>,
}

impl Outbox {
    /// Queue `bytes` for sending along `flow`.
    pub(super) fn send(&mut self, flow: &Flow, bytes: Vec<u8>) {
        self.transmit.push_back(flow.packet(bytes));
    }
    /// Queue an event for the TU.
    pub(super) fn event(&mut self, e: TxEvent) {
        self.events.push_back(e);
    }
    /// Arm `timer` of transaction `id` to fire `after` from `now`.
    pub(super) fn arm(&mut self, timers: &mut TimerSet, id: u64, timer: Timer, now: Instant, after: Duration) {
        let at = now + after;
        timers.set(timer, at);
        self.deadlines.push(Reverse((at, id, timer)));
    }
    /// Remove and return the earliest deadline if it is due at `now` (stale or not).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        let Reverse(top) = self.deadlines.peek()?;
        if top.0 > now {
            return None;
        }
        self.deadlines.pop().map(|Reverse(d)| d)
    }
    /// Drop stale entries from the top until the earliest one is live.
    pub(super) fn prune(&mut self, is_live: impl Fn(&Deadline) -> bool) {
        while let Some(Reverse(top)) = self.deadlines.peek() {
            if is_live(top) {
                break;
            }
            self.deadlines.pop();
        }
    }
    /// The earliest deadline (live after [`Outbox::prune`]).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse(d)| d.0)
    }
}
