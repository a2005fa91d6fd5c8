//! Packets on the wire and the trace of them: what the drivers (the simulated world, the
//! socket driver, the capture reader) produce and the oracle judges.

use super::time::Instant;
use std::net::SocketAddr;

/// A transport protocol for SIP.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP: one message per datagram, unreliable (timers A, E, G retransmit).
    Udp,
    /// TCP: a reliable byte stream (no retransmissions; timers D, I, J, K are zero).
    Tcp,
}

impl Transport {
    /// True for reliable transports.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
    /// The Via transport token parsed (case-insensitive); `None` for transports we do not
    /// carry (TLS, SCTP, WS).
    pub fn from_via(token: &str) -> Option<Transport> {
        if token.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else if token.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SIP message on the wire: who sent it to whom over what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Transport used.
    pub transport: Transport,
    /// Sender address.
    pub from: SocketAddr,
    /// Receiver address.
    pub to: SocketAddr,
    /// The message bytes (one whole SIP message).
    pub bytes: Vec<u8>,
}

impl Packet {
    /// A packet.
    pub fn new(transport: Transport, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) -> Packet {
        Packet { transport, from, to, bytes }
    }
}

/// A packet and when it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traced {
    /// When it was seen.
    pub time: Instant,
    /// What was seen.
    pub packet: Packet,
}

/// The packets seen, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The packets, in order.
    pub events: Vec<Traced>,
}

impl Trace {
    /// Record one packet.
    pub fn push(&mut self, time: Instant, packet: Packet) {
        self.events.push(Traced { time, packet });
    }
    /// Number of packets.
    pub fn len(&self) -> usize {
        self.events.len()
    }
    /// True when nothing was seen.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}
