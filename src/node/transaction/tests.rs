//! Scripted tests of the transaction layer in virtual time: helpers here, server-side cases
//! in `tests/server.rs`, client-side cases in `tests/client.rs`.

mod client;
mod server;

use std::net::SocketAddr;

use super::*;
use crate::base::Instant;
use crate::base::{Packet, Transport};

/// The UE (Via sent-by 192.0.2.1:5060).
pub(super) const UE: &str = "192.0.2.1:5060";
/// The element under the layer (a proxy).
pub(super) const SRV: &str = "192.0.2.10:5060";

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// `n` milliseconds after the epoch.
pub(super) fn ms(n: u64) -> Instant {
    Instant(n * 1000)
}

/// A top Via from the UE with this branch.
pub(super) fn via(branch: &str) -> String {
    format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch}")
}

/// A request from the UE: `via` is the whole Via value, `to_tag` may be empty, `extra` is
/// inserted after Via (whole lines with CRLF).
pub(super) fn req(method: &str, via: &str, to_tag: &str, extra: &str) -> Vec<u8> {
    let tag = if to_tag.is_empty() { String::new() } else { format!(";tag={to_tag}") };
    format!(
        "{method} sip:bob@im.example.net SIP/2.0\r\nVia: {via}\r\n{extra}Max-Forwards: 70\r\n\
         From: <sip:alice@example.net>;tag=a1\r\nTo: <sip:bob@im.example.net>{tag}\r\n\
         Call-ID: call-1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A response to `request` built with the layer's own helper.
pub(super) fn resp(request: &[u8], code: u16, to_tag: Option<&str>) -> Vec<u8> {
    let m = Message::parse(request).expect("test request");
    response_with_reason(&m, crate::sip::StatusCode::new(code), "Reason", to_tag)
}

/// A packet from the UE to the server over `t`.
pub(super) fn from_ue(bytes: Vec<u8>, t: Transport) -> Packet {
    Packet { transport: t, from: addr(UE), to: addr(SRV), bytes }
}

/// A packet from the server to the UE over `t`.
pub(super) fn from_srv(bytes: Vec<u8>, t: Transport) -> Packet {
    Packet { transport: t, from: addr(SRV), to: addr(UE), bytes }
}

/// The UE's flow toward the server.
pub(super) fn ue_flow(t: Transport) -> Flow {
    Flow { transport: t, local: addr(UE), remote: addr(SRV) }
}

pub(super) fn transmits(l: &mut TransactionLayer) -> Vec<Packet> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

pub(super) fn events(l: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

/// The single pending event.
pub(super) fn one_event(l: &mut TransactionLayer) -> TxEvent {
    let mut ev = events(l);
    assert_eq!(ev.len(), 1, "expected exactly one event: {ev:?}");
    ev.remove(0)
}

/// The first line of a packet.
pub(super) fn first_line(p: &Packet) -> String {
    let s = String::from_utf8_lossy(&p.bytes);
    s.lines().next().unwrap_or("").to_string()
}

/// Step virtual time from deadline to deadline up to `end` (inclusive), returning when each
/// packet was sent. Panics on a livelock (more than 10 000 steps).
pub(super) fn run_until(l: &mut TransactionLayer, end: Instant) -> Vec<(Instant, Packet)> {
    let mut sent = Vec::new();
    for _ in 0..10_000 {
        match l.next_timeout() {
            Some(t) if t <= end => {
                l.handle_timeout(t);
                sent.extend(transmits(l).into_iter().map(|p| (t, p)));
            }
            _ => return sent,
        }
    }
    panic!("livelock: more than 10 000 timer steps");
}

/// The instants of `sent`, in milliseconds.
pub(super) fn times(sent: &[(Instant, Packet)]) -> Vec<u64> {
    sent.iter().map(|(t, _)| t.as_millis()).collect()
}

/// A fresh layer with the RFC values.
pub(super) fn layer() -> TransactionLayer {
    TransactionLayer::new(TimerConfig::RFC3261)
}

/// Timer G, E (Trying) and A-capped-at-T2 retransmission instants within 32 s at the RFC
/// values: 0.5, 1.5, 3.5, 7.5 s, then every 4 s.
pub(super) const T2_CAPPED_32S: [u64; 10] = [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500];
