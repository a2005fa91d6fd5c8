//! Sans-IO protocol parts: the RFC 3261 transaction layer and the nodes built on it. Nothing
//! here touches sockets, tasks or the clock: time and bytes are inputs; packets to send, events
//! and the next deadline are outputs (`handle_input` / `poll_output`, drained until
//! `Output::Timeout`).

/// `SansIo` for a node built on a [`transaction::TransactionLayer`] (fields `layer` and `now`,
/// and a `drain(&mut self)` that handles the layer's events): time advances, timers fire, received
/// packets go to the layer, and outputs are the layer's packets then its next deadline.
macro_rules! sans_io_over_layer {
    ($t:ty) => {
        impl $crate::node::SansIo for $t {
            fn handle_input(&mut self, input: $crate::node::Input) {
                match input {
                    $crate::node::Input::Receive { now, packet } => {
                        self.now = self.now.max(now);
                        self.layer.handle_timeout(self.now);
                        // A message the layer cannot take is not ours to answer: dropped.
                        let _ = self.layer.handle_packet(packet, self.now);
                    }
                    $crate::node::Input::Timeout(now) | $crate::node::Input::Unreachable { now, .. } => {
                        self.now = self.now.max(now);
                        self.layer.handle_timeout(self.now);
                    }
                }
                self.drain();
            }

            fn poll_output(&mut self) -> $crate::node::Output {
                self.drain();
                match self.layer.poll_transmit() {
                    Some(p) => $crate::node::Output::Transmit(p),
                    None => {
                        $crate::node::Output::Timeout(self.layer.next_timeout().unwrap_or($crate::base::Instant::NEVER))
                    }
                }
            }
        }
    };
}
pub(crate) use sans_io_over_layer;

pub mod core;
pub mod focus;
pub mod im_server;
pub mod route;
pub mod transaction;
pub mod ue;

pub use crate::base::{Instant, Packet, Transport};

/// An input to a sans-IO node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A message arrived (`packet.to` is the node's own address it arrived on).
    Receive {
        /// When it arrived.
        now: Instant,
        /// The message.
        packet: Packet,
    },
    /// Time has advanced to `now` (a deadline the node asked for was reached, or later).
    Timeout(Instant),
    /// A packet the node sent could not be delivered (its TCP connection could not be made):
    /// RFC 3261 §18.4, a transport error, which a proxy treats as a 503 from that hop (§16.9).
    Unreachable {
        /// When the driver learnt it.
        now: Instant,
        /// The packet, as the node sent it.
        packet: Packet,
    },
}

/// An output of a sans-IO node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this message (`packet.from` is the node's own address to send from).
    Transmit(Packet),
    /// Nothing more to do now: call again with [`Input::Timeout`] at this time at the latest.
    /// [`Instant::NEVER`] when the node has no timer running.
    Timeout(Instant),
}

/// The one dialect every stateful part speaks (docs/architecture.md): feed inputs, then drain
/// `poll_output` until it returns [`Output::Timeout`].
pub trait SansIo {
    /// Feed one input.
    fn handle_input(&mut self, input: Input);
    /// The next output.
    fn poll_output(&mut self) -> Output;
    /// True once the participant has nothing more to do and its driver may stop (a scenario
    /// that has played to its end). Servers never finish: they run until shut down.
    fn finished(&self) -> bool {
        false
    }
}
