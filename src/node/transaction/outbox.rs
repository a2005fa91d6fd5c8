//! What transactions produce: packets to send, events for the TU, and timer deadlines. The
//! deadlines live in a [`Deadlines`] queue with lazy deletion: an entry is live only while its
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
    pub(super) deadlines: Deadlines,
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
        self.deadlines.push(after, (at, id, timer));
    }
    /// Remove and return the earliest deadline if it is due at `now` (stale or not).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        let (at, _, _) = self.deadlines.peek()?;
        if at > now {
            return None;
        }
        self.deadlines.pop()
    }
    /// Drop stale entries from the top until the earliest one is live.
    pub(super) fn prune(&mut self, is_live: impl Fn(&Deadline) -> bool) {
        while let Some(top) = self.deadlines.peek() {
            if is_live(&top) {
                break;
            }
            self.deadlines.pop();
        }
    }
    /// The earliest deadline (live after [`Outbox::prune`]).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|d| d.0)
    }
}

/// Most lanes a [`Deadlines`] queue keeps (one per timer and duration in use: a proxy's
/// MESSAGE traffic uses about eight, E doubling from T1 to T2, F, J and K; INVITEs add A, B,
/// D, G, H, I, L and M).
const MAX_LANES: usize = 24;

/// A priority queue of deadlines that costs O(1) for the usual case. Transaction timers are
/// armed with a handful of fixed durations (T1, 2·T1, ..., T4, 64·T1), and time only moves
/// forward, so the deadlines of one timer armed with one duration come in order: each (timer,
/// duration) gets a FIFO lane, appended at the back and taken from the front, and the
/// earliest deadline is the least of the lanes' fronts. (A lane per duration alone put a
/// server transaction's Timer J behind a newer client transaction's Timer F armed at the same
/// instant, 64·T1 both: a tie broken by the smaller id, so into the heap.) An entry that would
/// break its lane's order (time going backwards, or a tie broken by a smaller transaction id)
/// and lanes beyond [`MAX_LANES`] go to a binary heap beside the lanes. The order of what is popped is
/// exactly that of one min-heap of (deadline, transaction id, timer), with none of its
/// O(log n) sifts through a table of 100,000 entries that mostly miss the cache.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    /// ((duration, timer), their deadlines in ascending order).
    lanes: Vec<((Duration, Timer), VecDeque<Deadline>)>,
    /// Whatever fits no lane.
    heap: BinaryHeap<Reverse<Deadline>>,
}

impl Deadlines {
    /// Schedule `d`, armed `after` from its arming time.
    pub(super) fn push(&mut self, after: Duration, d: Deadline) {
        let kind = (after, d.2);
        let lane = match self.lanes.iter().position(|(k, _)| *k == kind) {
            Some(i) => Some(i),
            None if self.lanes.len() < MAX_LANES => {
                self.lanes.push((kind, VecDeque::new()));
                Some(self.lanes.len() - 1)
            }
            None => None,
        };
        if let Some(i) = lane {
            let q = &mut self.lanes[i].1;
            if q.back().is_none_or(|b| *b <= d) {
                q.push_back(d);
                return;
            }
        }
        self.heap.push(Reverse(d));
    }

    /// Where the earliest entry is: `Some(lane)`, or `None` for the heap.
    fn earliest(&self) -> Option<(Deadline, Option<usize>)> {
        let mut best = self.heap.peek().map(|Reverse(d)| (*d, None));
        for (i, (_, q)) in self.lanes.iter().enumerate() {
            if let Some(f) = q.front() {
                if best.is_none_or(|(b, _)| *f < b) {
                    best = Some((*f, Some(i)));
                }
            }
        }
        best
    }

    /// The earliest entry.
    pub(super) fn peek(&self) -> Option<Deadline> {
        self.earliest().map(|(d, _)| d)
    }

    /// Remove and return the earliest entry.
    pub(super) fn pop(&mut self) -> Option<Deadline> {
        match self.earliest()?.1 {
            Some(i) => self.lanes[i].1.pop_front(),
            None => self.heap.pop().map(|Reverse(d)| d),
        }
    }

    /// Entries held, stale ones included.
    pub(super) fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(|(_, q)| q.len()).sum::<usize>()
    }

    /// Keep only the entries `keep` accepts (order is kept).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Deadline) -> bool) {
        self.heap.retain(|Reverse(d)| keep(d));
        for (_, q) in &mut self.lanes {
            q.retain(|d| keep(d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    proptest! {
        /// Whatever is pushed (time going backwards, ties, more durations than lanes), the
        /// queue pops what one min-heap of the same entries pops, in the same order.
        #[test]
        fn pops_as_one_min_heap(
            ops in proptest::collection::vec((0u64..40, 0u64..25, 0u64..6, 0usize..12, any::<bool>()), 0..400)
        ) {
            let mut q = Deadlines::default();
            let mut h: BinaryHeap<Reverse<Deadline>> = BinaryHeap::new();
            for (now, after, id, timer, pop) in ops {
                if pop {
                    prop_assert_eq!(q.peek(), h.peek().map(|Reverse(d)| *d));
                    prop_assert_eq!(q.pop(), h.pop().map(|Reverse(d)| d));
                } else {
                    let after = Duration::from_millis(after * 100);
                    let d = (at(now * 100) + after, id, Timer::ALL[timer]);
                    q.push(after, d);
                    h.push(Reverse(d));
                }
                prop_assert_eq!(q.len(), h.len());
            }
            while let Some(Reverse(d)) = h.pop() {
                prop_assert_eq!(q.pop(), Some(d));
            }
            prop_assert_eq!(q.pop(), None);
        }
    }

    #[test]
    fn a_server_timer_armed_with_a_newer_client_timer_of_the_same_duration_stays_in_a_lane() {
        // A proxy relays the 200 of transaction pair (server 1, client 2) at the instant it
        // forwards the next request (client 4): J of 1 after F of 4, the same deadline.
        let mut q = Deadlines::default();
        let d = Duration::from_secs(32);
        q.push(d, (at(0) + d, 2, Timer::F));
        q.push(d, (at(1) + d, 4, Timer::F));
        q.push(d, (at(1) + d, 1, Timer::J));
        assert!(q.heap.is_empty());
        assert_eq!(q.pop(), Some((at(0) + d, 2, Timer::F)));
        assert_eq!(q.pop(), Some((at(1) + d, 1, Timer::J)));
        assert_eq!(q.pop(), Some((at(1) + d, 4, Timer::F)));
    }

    #[test]
    fn in_order_arming_stays_in_the_lanes() {
        let mut q = Deadlines::default();
        for t in 0..100u64 {
            for (i, after) in [500u64, 5_000, 32_000].into_iter().enumerate() {
                q.push(
                    Duration::from_millis(after),
                    (at(t) + Duration::from_millis(after), t * 3 + i as u64, Timer::J),
                );
            }
        }
        assert!(q.heap.is_empty());
        assert_eq!(q.lanes.len(), 3);
        q.retain(|d| d.1 % 2 == 0);
        assert_eq!(q.len(), 150);
        let mut last = None;
        while let Some(d) = q.pop() {
            assert!(last.is_none_or(|l| l <= d));
            last = Some(d);
        }
    }
}
