//! The socket tasks around the run loop: a receiver per UDP socket, an acceptor per TCP
//! listener and one connector per outgoing connection. They own no protocol state; they turn
//! socket readiness into [`Event`]s for the run loop, which alone talks to the node.

use super::stream::CloseReason;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Identifies one TCP connection for the driver's lifetime.
pub(crate) type ConnId = u64;

/// Pause after an accept error (EMFILE and the like) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a socket task reports to the run loop.
pub(crate) enum Event {
    /// Datagrams arrived on UDP socket number `sock`, in order, each with its sender; `None`
    /// for one larger than `max_message` (dropped). `_room` holds one place per datagram in
    /// the budget of datagrams waiting for the run loop, given back when the event is dropped.
    Datagrams { sock: usize, list: Vec<(SocketAddr, Option<Vec<u8>>)>, _room: OwnedSemaphorePermit },
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

/// Receive datagrams of up to `max` bytes, every one queued on the socket at each wake-up
/// (`recvmmsg` batches), and report them as one [`Event::Datagrams`] a batch; a larger one is
/// reported as `None` and dropped. `socket` is this task's own descriptor of the socket (a
/// duplicate: the run loop sends on the original, which is on no reactor).
///
/// With a `hold`, a read that found something is followed by a pause of `hold` with the socket
/// off the reactor, then a read of what came meanwhile: a busy socket wakes the thread once per
/// hold instead of once per datagram, each datagram waiting at most `hold` longer. Without one
/// (zero), each wake-up reads and goes back to waiting at once.
///
/// `budget` bounds the datagrams read and not yet handled by the run loop (all UDP sockets
/// together): a read waits for room for a whole batch, so a slow loop leaves the excess in the
/// kernel's buffer, as it did when each datagram was its own event.
pub(crate) async fn udp_recv(
    sock: usize,
    socket: std::net::UdpSocket,
    max: usize,
    hold: Duration,
    budget: Arc<Semaphore>,
    events: mpsc::Sender<Event>,
    mut stop: Stop,
) {
    use super::batch::{BATCH, DatagramBatch, unwatch, watch};
    /// Failed reads in a row after which the socket is waited for again.
    const FAILED_READS: usize = 8;
    let mut batch = DatagramBatch::new();
    let mut udp = Some(super::batch::Udp::Unwatched(socket));
    let mut wait = true;
    let mut watch_failures = 0u64;
    loop {
        if wait {
            // Readable only: the run loop sends on another descriptor of the same socket, and
            // its writability must not wake this task.
            let fd = match watch(&mut udp, tokio::io::Interest::READABLE) {
                Ok(Some(fd)) => fd,
                Ok(None) => return, // cannot happen: `udp` is always set
                Err(e) => {
                    // The reactor refused it (out of memory, epoll limits): read on a timer
                    // instead of not at all, and say so (the 1st, 10th, 100th, ... time).
                    watch_failures += 1;
                    if watch_failures.checked_ilog10().is_some_and(|x| 10u64.pow(x) == watch_failures) {
                        tracing::warn!(transport = "UDP", error = %e, failures = watch_failures, "cannot watch the socket; reading it every millisecond meanwhile");
                    }
                    tokio::select! {
                        biased;
                        _ = stop.stopped() => return,
                        () = tokio::time::sleep(hold.max(Duration::from_millis(1))) => {}
                    }
                    wait = false;
                    continue;
                }
            };
            tokio::select! {
                biased;
                _ = stop.stopped() => return,
                r = fd.readable() => match r {
                    // Cleared before reading: a datagram that comes after sets it again.
                    Ok(mut guard) => guard.clear_ready(),
                    Err(e) => {
                        tracing::error!(transport = "UDP", error = %e, "socket not readable; receiving stopped");
                        return;
                    }
                },
            }
        }
        let Some(u) = udp.as_ref() else { return };
        let mut got = 0;
        // The socket was read empty (a short batch, or WouldBlock): only then may the task wait
        // for readiness again, which was cleared before these reads.
        let mut drained = false;
        let mut failed = 0;
        // Bounded: a peer sending without pause cannot keep the task here.
        for _ in 0..64 {
            let mut room = tokio::select! {
                biased;
                _ = stop.stopped() => return,
                r = budget.clone().acquire_many_owned(BATCH as u32) => match r {
                    Ok(room) => room,
                    Err(_) => return, // closed: the run loop is gone
                },
            };
            match batch.recv(u.socket()) {
                Ok(n) => {
                    got += n;
                    drop(room.split(BATCH - n)); // only the places used stay taken
                    let list = (batch.datagrams().iter().enumerate())
                        .map(|(i, d)| (d.peer, (d.len <= max).then(|| batch.bytes(i).to_vec())))
                        .collect();
                    if events.send(Event::Datagrams { sock, list, _room: room }).await.is_err() {
                        return;
                    }
                    failed = 0;
                    if n < BATCH {
                        drained = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                // ICMP errors surface here on some systems (WSAECONNRESET); the socket lives on,
                // and what is queued behind the error is read on.
                Err(e) => {
                    tracing::debug!(transport = "UDP", error = %e, "recvmmsg failed");
                    failed += 1;
                    if failed == FAILED_READS {
                        drained = true; // not read empty, but no use reading on now
                        break;
                    }
                }
            }
        }
        if !drained && hold.is_zero() {
            // Stopped at the bound with datagrams left: read on once the run loop has had its
            // turn, rather than wait for a readiness that was cleared before these reads.
            tokio::task::yield_now().await;
            wait = false;
            continue;
        }
        wait = got == 0 || hold.is_zero();
        if !wait {
            // Off the reactor for the hold: a datagram arriving meanwhile must not wake the
            // thread, which is the point of the hold.
            unwatch(&mut udp);
            tokio::select! {
                biased;
                _ = stop.stopped() => return,
                () = tokio::time::sleep(hold) => {}
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
