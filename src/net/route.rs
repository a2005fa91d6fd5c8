//! Where `Output::Transmit` goes (the rules are in the module docs of `net`): the UDP socket
//! for a packet, and the table of TCP connections (reuse, connect-out, packets waiting for a
//! connection to open or to report its close).

use super::driver::{Driver, log_message};
use super::stream::ConnTask;
use super::tasks::{self, ConnId};
use super::{TapEvent, Way};
use crate::base::{Packet, Transport};
use crate::node::SansIo;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// One TCP connection as the run loop sees it.
pub(super) struct Conn {
    /// The node's address for this connection (`packet.to` of what arrives on it).
    pub(super) node_local: SocketAddr,
    /// The socket's real local address, once known.
    pub(super) wire_local: Option<SocketAddr>,
    pub(super) peer: SocketAddr,
    pub(super) state: ConnState,
}

pub(super) enum ConnState {
    /// Connecting out; packets wait here.
    Connecting(Vec<Vec<u8>>),
    /// The connection task is writing what is sent here.
    Open(mpsc::UnboundedSender<Vec<u8>>),
    /// The task stopped taking packets; those sent meanwhile wait for its `Closed` event.
    Closing(Vec<Vec<u8>>),
}

impl ConnState {
    /// Preference when several connections lead to the same peer.
    fn rank(&self) -> u8 {
        match self {
            ConnState::Open(_) => 2,
            ConnState::Connecting(_) => 1,
            ConnState::Closing(_) => 0,
        }
    }

    /// The packets waiting here (none once open).
    pub(super) fn into_queue(self) -> Vec<Vec<u8>> {
        match self {
            ConnState::Connecting(q) | ConnState::Closing(q) => q,
            ConnState::Open(_) => Vec::new(),
        }
    }
}

impl<N: SansIo> Driver<N> {
    pub(super) async fn transmit(&mut self, p: Packet) {
        match p.transport {
            Transport::Udp => self.send_udp(p),
            Transport::Tcp => {
                let id = match self.conn_for(&p) {
                    Some(id) => id,
                    None => self.connect(&p),
                };
                self.send_on(id, p.bytes);
            }
        }
    }

    /// Queue a datagram for the next [`flush_udp`](Self::flush_udp).
    fn send_udp(&mut self, p: Packet) {
        let Some(sock) = self.udp_socket_for(&p) else {
            tracing::warn!(transport = "UDP", from = %p.from, to = %p.to, "no UDP socket of this address family; dropped");
            self.stats.dropped += 1;
            return;
        };
        self.udp_out.push((sock, p));
    }

    /// Send the queued datagrams, in order, as few system calls as the platform allows a
    /// socket (`sendmmsg`). A full send buffer is waited out; a datagram the kernel refuses
    /// otherwise is dropped with a warning (as a lost datagram: the node's timers see to it).
    pub(super) async fn flush_udp(&mut self) {
        if self.udp_out.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.udp_out);
        let mut start = 0;
        while start < out.len() {
            // A run of datagrams leaving from the same socket.
            let sock = out[start].0;
            let end = start + out[start..].iter().take_while(|(s, _)| *s == sock).count();
            let (local, socket) = (self.udp[sock].0, self.udp[sock].1.clone());
            let mut at = start;
            // Bounded: each turn sends at least one datagram, drops one, or waits for room.
            for _ in 0..=2 * (end - start) {
                if at == end {
                    break;
                }
                let msgs: Vec<(SocketAddr, &[u8])> = out[at..end].iter().map(|(_, p)| (p.to, &p.bytes[..])).collect();
                let (sent, err) = super::batch::send_batch(&*socket, &msgs);
                let now = self.clock.now();
                for (_, p) in &out[at..at + sent] {
                    log_message(Way::Out, Transport::Udp, p.to, &p.bytes);
                    self.tap(now, Way::Out, Transport::Udp, local, p.to, &p.bytes);
                }
                self.stats.sent += sent as u64;
                at += sent;
                let Some(e) = err else { continue };
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue; // a signal: the same datagram again
                }
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    // The send buffer is full: wait for room, then go on from here.
                    if !writable(&socket).await {
                        break;
                    }
                    continue;
                }
                let p = &out[at].1;
                tracing::warn!(transport = "UDP", peer = %p.to, error = %e, "send failed; datagram dropped");
                self.stats.dropped += 1;
                at += 1;
            }
            if at < end {
                // The send buffer stayed full for a whole wait: the rest is dropped and counted
                // (as lost datagrams: the node's timers see to them), never kept waiting.
                tracing::warn!(transport = "UDP", local = %local, dropped = end - at, "send buffer full; datagrams dropped");
                self.stats.dropped += (end - at) as u64;
            }
            start = end;
        }
        out.clear();
        // Keep the allocation for the next batch.
        self.udp_out = out;
    }

    /// The socket bound to `p.from`, else a wildcard one on its port, else any of the family.
    fn udp_socket_for(&self, p: &Packet) -> Option<usize> {
        let family = |a: &SocketAddr| a.is_ipv4() == p.to.is_ipv4();
        let udp = &self.udp;
        (udp.iter().position(|(a, _)| *a == p.from))
            .or_else(|| udp.iter().position(|(a, _)| a.ip().is_unspecified() && a.port() == p.from.port() && family(a)))
            .or_else(|| udp.iter().position(|(a, _)| family(a)))
    }

    /// The connection to `p.to`: open before connecting before closing, then one whose node
    /// address is `p.from`, then the newest.
    fn conn_for(&self, p: &Packet) -> Option<ConnId> {
        (self.conns.iter().filter(|(_, c)| c.peer == p.to))
            .max_by_key(|(id, c)| (c.state.rank(), c.node_local == p.from, **id))
            .map(|(id, _)| *id)
    }

    /// Start connecting to `p.to`; packets queue on the new entry meanwhile.
    fn connect(&mut self, p: &Packet) -> ConnId {
        let id = self.new_id();
        let conn = Conn { node_local: p.from, wire_local: None, peer: p.to, state: ConnState::Connecting(Vec::new()) };
        self.conns.insert(id, conn);
        let (events, stop) = (self.events.clone(), self.stop.clone());
        let task =
            tasks::connect_out(id, p.to, self.source_ip(p), self.permits.clone(), self.connect_timeout, events, stop);
        self.tasks.spawn(task);
        tracing::debug!(transport = "TCP", peer = %p.to, "connecting");
        id
    }

    /// Bind an outgoing connection to `p.from`'s IP when it is one of our listen IPs.
    fn source_ip(&self, p: &Packet) -> Option<IpAddr> {
        let ip = p.from.ip();
        let ours = self.tcp_addrs.iter().chain(self.udp.iter().map(|(a, _)| a)).any(|a| a.ip() == ip);
        let routable = !ip.is_loopback() || p.to.ip().is_loopback();
        (ours && routable && !ip.is_unspecified() && ip.is_ipv4() == p.to.is_ipv4()).then_some(ip)
    }

    /// Hand `bytes` to connection `id` (which exists).
    pub(super) fn send_on(&mut self, id: ConnId, bytes: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        let bytes = match &mut conn.state {
            ConnState::Connecting(q) | ConnState::Closing(q) => {
                q.push(bytes);
                return;
            }
            ConnState::Open(tx) => {
                let (from, to) = (conn.wire_local.unwrap_or(conn.node_local), conn.peer);
                log_message(Way::Out, Transport::Tcp, to, &bytes);
                let now = self.clock.now();
                if let Some(tap) = self.tap.as_mut() {
                    let (transport, direction) = (Transport::Tcp, Way::Out);
                    tap(&TapEvent { at: now, direction, transport, from, to, bytes: &bytes });
                }
                match tx.send(bytes) {
                    Ok(()) => {
                        self.stats.sent += 1;
                        return;
                    }
                    Err(mpsc::error::SendError(bytes)) => bytes,
                }
            }
        };
        conn.state = ConnState::Closing(vec![bytes]);
    }

    pub(super) fn spawn_conn(
        &mut self,
        id: ConnId,
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
    ) -> mpsc::UnboundedSender<Vec<u8>> {
        let _ = stream.set_nodelay(true);
        let (tx, out) = mpsc::unbounded_channel();
        let (events, stop, limits) = (self.events.clone(), self.stop.clone(), self.limits);
        self.tasks.spawn(ConnTask { id, stream, out, events, stop, limits, permit }.run());
        tx
    }
}

/// Wait (at most a second) until `socket` has room to send: a descriptor of it registered for
/// writability alone, for the wait only (the socket is otherwise on no reactor). False when
/// it still has none.
async fn writable(socket: &std::net::UdpSocket) -> bool {
    const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
    let Ok(own) = socket.try_clone() else { return false };
    // SAFETY: a `std::net::UdpSocket` owns its descriptor, which stays open and the same for
    // as long as the socket lives, and `as_raw_fd` always gives that one.
    match unsafe { tokio::io::unix::AsyncFd::register_with_interest(own, tokio::io::Interest::WRITABLE) } {
        Ok(fd) => matches!(tokio::time::timeout(MAX_WAIT, fd.writable()).await, Ok(Ok(_))),
        Err(_) => {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            true
        }
    }
}
