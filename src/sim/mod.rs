//! The deterministic world: sans-IO nodes exchanging packets over simulated links in virtual
//! time, stepped by the earliest deadline (quinn's test `Pair`). Links have a delay and, where
//! configured, seeded loss, duplication and reordering. Every delivered message is recorded in a
//! [`Trace`] (the sniffer sits at the receiving end, so a lost packet is never seen). A bounded
//! drive turns a livelock into an error.
//!
//! A world may also have a peer outside it (a server under test on a real network): with
//! [`World::export`] on, a packet addressed to no node of the world leaves through
//! [`World::pop_export`] (recorded in the trace as it leaves), and what that peer sends comes in
//! through [`World::inject`]. Both cross the link of the node inside, so its impairments apply;
//! a packet going out has the link's delay, one coming in none of its own (it crossed a real
//! network). The world has no clock: whoever hosts it says what time it is.

use crate::base::Trace;
use crate::base::ids::IdGen;
use crate::base::{Instant, Packet};
use crate::node::core::Core;
use crate::node::focus::Focus;
use crate::node::ue::Ue;
use crate::node::{Input, Output, SansIo};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

/// A node of the world.
pub enum SimNode {
    /// A simulated client.
    Ue(Box<Ue>),
    /// A simulated core.
    Core(Box<Core>),
    /// A conference focus.
    Focus(Box<Focus>),
    /// The IM server under test (the embedded reference server, or an adapter to a real one).
    Server(Box<dyn SansIo + Send>),
}

impl SimNode {
    fn io(&mut self) -> &mut dyn SansIo {
        match self {
            SimNode::Ue(n) => n.as_mut(),
            SimNode::Core(n) => n.as_mut(),
            SimNode::Focus(n) => n.as_mut(),
            SimNode::Server(n) => n.as_mut(),
        }
    }
}

/// One node with its name and address.
pub struct Slot {
    /// Name shown in flows.
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// The node.
    pub node: SimNode,
    deadline: Instant,
}

/// Impairments of a link (applied to packets between two named nodes, both ways). On TCP a
/// loss becomes a delay and nothing is duplicated or reordered (the transport repairs them).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is delivered twice.
    pub duplicate: f64,
    /// Probability a packet is held back (delivered after later ones).
    pub reorder: f64,
}

/// Why the world stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Too many steps without reaching the requested time: a livelock.
    #[error("livelock: more than {0} steps before t={1} ms")]
    Livelock(u64, u64),
}

struct InFlight {
    packet: Packet,
}

/// The world.
pub struct World {
    /// The nodes.
    pub nodes: Vec<Slot>,
    /// Everything delivered, in order.
    pub trace: Trace,
    /// Packets addressed to nobody.
    pub undeliverable: Vec<Packet>,
    now: Instant,
    delay: Duration,
    impaired: Vec<(SocketAddr, SocketAddr, Impairment)>,
    rng: IdGen,
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    flights: Vec<Option<InFlight>>,
    seq: u64,
    /// Bound on steps per drive.
    pub max_steps: u64,
    /// Packets to addresses outside the world leave through [`World::pop_export`] (live runs);
    /// off in the simulation, where they are undeliverable.
    pub export: bool,
    exports: std::collections::VecDeque<Packet>,
    last_packet: Instant,
    /// The last arrival time scheduled on each reliable (stream) flow, to keep its order.
    stream_tail: std::collections::HashMap<(SocketAddr, SocketAddr), Instant>,
    /// When the latest request left for the outside (until the next packet comes in), and the
    /// longest the outside peer took to send something after one (under 1 s).
    last_export: Option<Instant>,
    slowest_answer: Duration,
}

impl World {
    /// An empty world with this seed (for link impairments).
    pub fn new(seed: u64) -> World {
        World {
            nodes: Vec::new(),
            trace: Trace::default(),
            undeliverable: Vec::new(),
            now: Instant::ZERO,
            delay: Duration::from_millis(1),
            impaired: Vec::new(),
            rng: IdGen::new(seed),
            queue: BinaryHeap::new(),
            flights: Vec::new(),
            seq: 0,
            max_steps: 1_000_000,
            export: false,
            exports: std::collections::VecDeque::new(),
            last_packet: Instant::ZERO,
            stream_tail: std::collections::HashMap::new(),
            last_export: None,
            slowest_answer: Duration::ZERO,
        }
    }
    /// Add a node.
    pub fn add(&mut self, name: &str, addr: SocketAddr, node: SimNode) {
        self.nodes.push(Slot { name: name.to_string(), addr, node, deadline: Instant::ZERO });
    }
    /// Impair the link between two addresses (both directions).
    pub fn impair(&mut self, a: SocketAddr, b: SocketAddr, i: Impairment) {
        self.impaired.push((a, b, i));
    }
    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }
    /// A node by name.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut SimNode> {
        self.nodes.iter_mut().find(|s| s.name == name).map(|s| &mut s.node)
    }
    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&SimNode> {
        self.nodes.iter().find(|s| s.name == name).map(|s| &s.node)
    }
    /// The name of the node at an address.
    pub fn name_of(&self, addr: SocketAddr) -> String {
        self.nodes.iter().find(|s| s.addr == addr).map_or_else(|| addr.to_string(), |s| s.name.clone())
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    fn enqueue(&mut self, packet: Packet) {
        let imp = self
            .impaired
            .iter()
            .find(|(a, b, _)| (packet.from == *a && packet.to == *b) || (packet.from == *b && packet.to == *a))
            .map(|x| x.2);
        let mut copies = 1;
        // What comes in from outside has crossed a real network already; what goes out crosses
        // the node's link first, like any packet of the world.
        let inbound = self.export && !self.is_inside(packet.from);
        let mut delay = if inbound { Duration::ZERO } else { self.delay };
        if let Some(i) = imp.filter(|_| packet.transport.is_reliable()) {
            // A reliable transport repairs loss, duplication and reordering itself: what is left
            // of a loss is the delay of its retransmission.
            if self.chance(i.loss) {
                delay += Duration::from_millis(200);
            }
        } else if let Some(i) = imp {
            if self.chance(i.loss) {
                return;
            }
            if self.chance(i.duplicate) {
                copies = 2;
            }
            if self.chance(i.reorder) {
                delay += Duration::from_millis(5);
            }
        }
        for c in 0..copies {
            self.seq += 1;
            let mut at = self.now + delay + Duration::from_micros(c * 100);
            if packet.transport.is_reliable() {
                // A stream delivers in order: nothing overtakes a delayed segment.
                let tail = self.stream_tail.entry((packet.from, packet.to)).or_insert(Instant::ZERO);
                at = at.max(*tail);
                *tail = at;
            }
            self.flights.push(Some(InFlight { packet: packet.clone() }));
            self.queue.push(Reverse((at, self.seq, self.flights.len() - 1)));
        }
    }

    /// Drain every node's outputs into the links; note their deadlines.
    fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            loop {
                match self.nodes[i].node.io().poll_output() {
                    Output::Transmit(p) => self.enqueue(p),
                    Output::Timeout(t) => {
                        self.nodes[i].deadline = t;
                        break;
                    }
                }
            }
        }
    }

    /// Run until virtual time `end`.
    pub fn run_until(&mut self, end: Instant) -> Result<(), SimError> {
        let mut steps = 0u64;
        loop {
            self.flush();
            steps += 1;
            if steps > self.max_steps {
                return Err(SimError::Livelock(self.max_steps, end.as_millis()));
            }
            let arrival = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let deadline = self.nodes.iter().map(|s| s.deadline).min().unwrap_or(Instant::NEVER);
            let next = arrival.unwrap_or(Instant::NEVER).min(deadline);
            if next > end {
                self.now = self.now.max(end);
                return Ok(());
            }
            self.now = self.now.max(next);
            if arrival.is_some_and(|a| a <= deadline) {
                let Some(Reverse((_, _, idx))) = self.queue.pop() else { continue };
                let Some(f) = self.flights[idx].take() else { continue };
                self.deliver(f.packet);
            } else {
                let now = self.now;
                for s in self.nodes.iter_mut().filter(|s| s.deadline <= now) {
                    s.node.io().handle_input(Input::Timeout(now));
                    s.deadline = Instant::NEVER;
                }
            }
            if self.queue.is_empty() {
                self.flights.clear();
            }
        }
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        let end = self.now + d;
        self.run_until(end)
    }

    fn is_inside(&self, a: SocketAddr) -> bool {
        self.nodes.iter().any(|s| s.addr == a)
    }

    fn deliver(&mut self, p: Packet) {
        let Some(i) = self.nodes.iter().position(|s| s.addr == p.to) else {
            if self.export {
                self.last_packet = self.now;
                // A request (not an ACK) calls for an answer: time it from the latest one (one
                // the server never answers must not make the next answer look slow).
                if !p.bytes.starts_with(b"SIP/") && !p.bytes.starts_with(b"ACK ") {
                    self.last_export = Some(self.now);
                }
                self.trace.push(self.now, p.clone());
                self.exports.push_back(p);
            } else {
                self.undeliverable.push(p);
            }
            return;
        };
        self.last_packet = self.now;
        self.trace.push(self.now, p.clone());
        let now = self.now;
        self.nodes[i].node.io().handle_input(Input::Receive { now, packet: p });
    }

    /// A packet from outside the world arrives at `now` (which must not be before
    /// [`World::now`]): it crosses the link to its node and is delivered by the next drive.
    pub fn inject(&mut self, now: Instant, packet: Packet) {
        self.now = self.now.max(now);
        // The first packet after a packet left answers it; a gap of a second or more is not
        // an answer but something the peer sent of its own accord.
        if let Some(t) = self.last_export.take() {
            let gap = now.since(t);
            if gap < Duration::from_secs(1) {
                self.slowest_answer = self.slowest_answer.max(gap);
            }
        }
        self.enqueue(packet);
    }

    /// The longest time between a packet leaving for the outside and the next packet coming
    /// in (an upper bound of the outside peer's answering time).
    pub fn slowest_answer(&self) -> Duration {
        self.slowest_answer
    }

    /// The next packet for the outside, in the order they left.
    pub fn pop_export(&mut self) -> Option<Packet> {
        self.exports.pop_front()
    }

    /// When the world next has something to do (a packet arrives, a node's timer fires), after
    /// draining every node's output; [`Instant::NEVER`] for nothing.
    pub fn next_event(&mut self) -> Instant {
        self.flush();
        let arrival = self.queue.peek().map_or(Instant::NEVER, |Reverse((t, _, _))| *t);
        self.nodes.iter().map(|s| s.deadline).min().unwrap_or(Instant::NEVER).min(arrival)
    }

    /// When a packet last arrived at a node or left the world.
    pub fn last_packet(&self) -> Instant {
        self.last_packet
    }

    /// True while a packet is on a link or a node of the world (the server under test aside)
    /// waits for a final response or has yet to send one.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty()
            || self.nodes.iter().any(|s| match &s.node {
                SimNode::Ue(n) => n.awaiting_final() > 0,
                SimNode::Core(n) => n.awaiting_final() > 0,
                SimNode::Focus(n) => n.awaiting_final() > 0,
                SimNode::Server(_) => false,
            })
    }

    /// Let a node act now (e.g. a client sends); its outputs go out on the next drive.
    pub fn with_ue<R>(&mut self, name: &str, f: impl FnOnce(&mut Ue, Instant) -> R) -> Option<R> {
        let now = self.now;
        match self.node_mut(name) {
            Some(SimNode::Ue(u)) => Some(f(u, now)),
            _ => None,
        }
    }
}
