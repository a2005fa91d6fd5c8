//! The socket tasks around the run loop: a receiver per UDP socket, an acceptor per TCP
//! listener and one connector per outgoing connection. They own no protocol state; they turn
//! socket readiness into [`Event`]s for the run loop, which alone talks to the node.

use super::stream::CloseReason;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Identifies one TCP connection for the driver's lifetime.
pub(crate) type ConnId = u64;

/// Pause after an accept error (EMFILE and the like) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a socket task reports to the run loop.
pub(crate) enum Event {
    /// A datagram arrived on UDP socket number `sock`.
    Datagram { sock: usize, peer: SocketAddr, bytes: Vec<u8> },
    /// A datagram larger than `max_message` arrived on UDP socket number `sock`; dropped.
    Oversized { sock: usize, peer: SocketAddr },
    /// TCP listener number `listen` accepted a connection within `max_connections`.
    Accepted { listen: usize, stream: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit },
    /// TCP listener number `listen` refused a connection: `max_connections` reached.
    Refused { listen: usize, peer: SocketAddr },
    /// An outgoing connection was made (or not).
    Connected { id: ConnId, result: io::Result<(TcpStream, OwnedSemaphorePermit)> },
    /// A whole message arrived on a connection.
    Message { id: ConnId, bytes: Vec<u8> },
    /// A connection ended; `unsent` were queued for it but never written.
    Closed { id: ConnId, reason: CloseReason, unsent: Vec<Vec<u8>> },
}

/// The shutdown flag every task watches.
#[derive(Clone)]
pub(crate) struct Stop(pub watch::Receiver<bool>);

impl Stop {
    /// Resolves once shutdown has begun (or the run loop is gone).
    pub(crate) async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Receive datagrams of up to `max` bytes; a larger one is dropped (the buffer has one spare
/// byte, so truncation is seen).
pub(crate) async fn udp_recv(
    sock: usize,
    socket: Arc<UdpSocket>,
    max: usize,
    events: mpsc::Sender<Event>,
    mut stop: Stop,
) {
    let mut buf = vec![0u8; max.saturating_add(1)];
    loop {
        tokio::select! {
            biased;
            _ = stop.stopped() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    let event = if n > max {
                        Event::Oversized { sock, peer }
                    } else {
                        Event::Datagram { sock, peer, bytes: buf[..n].to_vec() }
                    };
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
                // ICMP errors surface here on some systems (WSAECONNRESET); the socket lives on.
                Err(e) => tracing::debug!(transport = "UDP", error = %e, "recv_from failed"),
            }
        }
    }
}

/// Accept connections while fewer than `max_connections` are open; refuse the others with a
/// reset (zero linger), so a flood cannot exhaust descriptors.
pub(crate) async fn accept_loop(
    listen: usize,
    listener: TcpListener,
    permits: Arc<Semaphore>,
    events: mpsc::Sender<Event>,
    mut stop: Stop,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.stopped() => return,
            r = listener.accept() => r,
        };
        let event = match accepted {
            Ok((stream, peer)) => match permits.clone().try_acquire_owned() {
                Ok(permit) => Event::Accepted { listen, stream, peer, permit },
                Err(_) => {
                    let _ = stream.set_zero_linger();
                    drop(stream);
                    Event::Refused { listen, peer }
                }
            },
            Err(e) => {
                tracing::warn!(transport = "TCP", error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// Open connection `id` to `to`, from `bind_ip` when given, within `max_connections` and
/// `timeout`.
pub(crate) async fn connect_out(
    id: ConnId,
    to: SocketAddr,
    bind_ip: Option<IpAddr>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    events: mpsc::Sender<Event>,
    mut stop: Stop,
) {
    let connect = async {
        let permit = permits.try_acquire_owned().map_err(|_| io::Error::other("max_connections reached"))?;
        let socket = if to.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(ip) = bind_ip {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = tokio::time::timeout(timeout, socket.connect(to))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {timeout:?}")))??;
        Ok((stream, permit))
    };
    let result = tokio::select! {
        biased;
        _ = stop.stopped() => return,
        r = connect => r,
    };
    let _ = events.send(Event::Connected { id, result }).await;
}
