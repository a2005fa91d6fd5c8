//! The harness's sockets, behind one small interface so that the schedule, the timers and the
//! judging are the same whatever the transport. Toward a UDP server: a UDP socket, and a TCP
//! listener on the same address (the core listens on TCP too, so that a server can send on
//! over TCP a request grown past 1300 bytes, docs/decisions.md D9). Toward a TCP server: a TCP
//! listener for the connections the server opens toward the harness, and one connection the
//! harness opens to the server for its own requests (opened again at the next send when it
//! closes). Each TCP connection has a reader task that cuts its byte stream into messages with
//! the project's stream framing ([`check_stream`](crate::sip::framing::check_stream), RFC 3261
//! §18.3) and a writer task; what the readers get comes to the run loop through one channel,
//! with the peer's address, and the harness answers a request on the connection it came in on.

use crate::base::Transport;
use crate::net::batch::{Udp, register, unwatch, watch};
/// The harness's UDP socket is watched for reading and, when its send buffer is full, writing.
const BOTH: tokio::io::Interest = tokio::io::Interest::READABLE.add(tokio::io::Interest::WRITABLE);
use crate::sip::framing::{FramingError, StreamFrame, check_stream};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Largest message a connection may carry (as `imcpm serve`'s default): past it the
/// connection is closed.
const MAX_MESSAGE: usize = 65_535;
/// Connection events waiting for the run loop; a full queue slows the readers down.
const EVENT_QUEUE: usize = 4096;
/// Pause after a failed accept (EMFILE and the like).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait for the connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a message goes to or comes from: the transport and the peer's address (for TCP, the
/// connection to or from that address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hop {
    /// UDP or TCP.
    pub transport: Transport,
    /// The peer.
    pub peer: SocketAddr,
}

/// What the connection tasks report.
pub(super) enum Event {
    /// A connection from `peer` was accepted; `writer` writes on it.
    Accepted { peer: SocketAddr, local: SocketAddr, writer: Writer },
    /// A whole message arrived on the connection with `peer`.
    Message { peer: SocketAddr, bytes: Vec<u8> },
    /// The connection between `local` and `peer` ended (closed by the peer, an error, a
    /// framing error).
    Closed { peer: SocketAddr, local: SocketAddr, why: String },
}

/// What the writer task of a connection takes: at most [`WRITE_QUEUE`] messages waiting.
pub(super) type Writer = mpsc::Sender<Arc<Vec<u8>>>;

/// Messages queued for one connection at most: past that (a peer that stopped reading) a
/// message is not sent but counted in `unsent`, so the harness's memory stays bounded.
const WRITE_QUEUE: usize = 8192;

/// An open connection: our end's address, and its writer.
struct Conn {
    local: SocketAddr,
    writer: Writer,
}

/// A message received: how and from whom. The harness's end is its listening address on any
/// connection, one it opened included (a server may send its requests back over that one:
/// connection reuse), as its Via and Route entries name it.
pub(super) struct Received {
    pub hop: Hop,
    pub bytes: Vec<u8>,
    /// When it arrived: the kernel's receive stamp for a datagram (`SO_TIMESTAMPNS`), else
    /// when it was read.
    pub at: tokio::time::Instant,
}

/// The harness's sockets.
pub(super) struct Sockets {
    /// The harness's address (the TCP listener's, and the UDP socket's toward a UDP server).
    pub me: SocketAddr,
    /// Toward a UDP server.
    udp: Option<Udp>,
    /// The receive buffer the kernel gave the UDP socket (0 without one).
    pub rcvbuf: usize,
    /// The server: the one peer the harness opens connections to.
    server: SocketAddr,
    events_tx: mpsc::Sender<Event>,
    events: mpsc::Receiver<Event>,
    conns: HashMap<SocketAddr, Conn>,
    /// Connections that ended while the run went on.
    pub closed: u64,
    /// Messages that could not be sent (no connection to their peer, or none could be made).
    pub unsent: u64,
    /// The far ends of connections accepted from the server's IP since last taken: the server
    /// speaking from an ephemeral port (the judge is told they are the server's).
    pub accepted: Vec<SocketAddr>,
    batch: crate::net::batch::DatagramBatch,
}

/// A UDP socket bound to `addr` with `rcvbuf` bytes of receive buffer asked, as the server's
/// own ([`crate::net::udp_socket`]); and what it got.
fn bind_udp(addr: SocketAddr, rcvbuf: usize) -> io::Result<(Udp, usize)> {
    let (s, got) = crate::net::udp_socket(addr, rcvbuf)?;
    // Arrival stamps: the run loop reads the socket at most once per `receive_until` hold, and
    // the latencies are measured to when each datagram came, not to when it was read.
    crate::net::batch::enable_rx_timestamps(&s);
    Ok((Udp::Watched(register(s, BOTH).map_err(|(_, e)| e)?), got))
}

impl Sockets {
    /// Toward a UDP server: bind UDP at `listen` (port 0: any) and TCP at the same address.
    /// Toward a TCP server: TCP at `listen`. Then start accepting. Must run inside the runtime.
    pub(super) async fn bind(
        listen: SocketAddr,
        transport: Transport,
        rcvbuf: usize,
        server: SocketAddr,
    ) -> io::Result<Sockets> {
        let (udp, got, at) = match transport {
            Transport::Udp => {
                let (udp, got) = bind_udp(listen, rcvbuf)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot bind udp:{listen}: {e}")))?;
                let me = udp.socket().local_addr()?;
                (Some(udp), got, me)
            }
            Transport::Tcp => (None, 0, listen),
        };
        let listener = TcpListener::bind(at).await.map_err(|e| {
            let beside =
                if udp.is_some() { format!(" (beside udp:{at}, for the server's TCP)") } else { String::new() };
            io::Error::new(e.kind(), format!("cannot listen on tcp:{at}{beside}: {e}"))
        })?;
        let me = listener.local_addr()?;
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(accept(listener, events_tx.clone()));
        Ok(Sockets {
            me,
            udp,
            rcvbuf: got,
            server,
            events_tx,
            events,
            conns: HashMap::new(),
            closed: 0,
            unsent: 0,
            accepted: Vec::new(),
            batch: crate::net::batch::DatagramBatch::new(),
        })
    }

    /// Datagrams the kernel dropped on the UDP socket so far (none without one).
    pub(super) fn drops(&self) -> u64 {
        self.udp.as_ref().map_or(0, |u| crate::net::udp_socket_drops(u.socket()))
    }

    /// Send `bytes` along `hop`; false when nothing was sent (no connection to the peer, or its
    /// write queue full: counted in `unsent`).
    pub(super) async fn send(&mut self, hop: Hop, bytes: &Arc<Vec<u8>>) -> bool {
        let sent = match (hop.transport, &self.udp) {
            (Transport::Udp, Some(udp)) => {
                if let Err(e) = udp.socket().send_to(bytes, hop.peer) {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        // The send buffer is full: wait until there is room (watched for that),
                        // then once more.
                        if let Ok(Some(fd)) = watch(&mut self.udp, BOTH) {
                            if let Ok(mut guard) = fd.writable().await {
                                guard.clear_ready();
                            }
                            let _ = fd.get_ref().send_to(bytes, hop.peer);
                        }
                    }
                    // Otherwise a failed send is as a lost datagram (the retransmissions and
                    // the judge see to it).
                }
                true
            }
            (Transport::Udp, None) => false,
            (Transport::Tcp, _) => {
                use mpsc::error::TrySendError;
                match self.conns.get(&hop.peer).map(|c| c.writer.try_send(bytes.clone())) {
                    Some(Ok(())) => true,
                    // The peer stopped reading: nothing more is queued for it.
                    Some(Err(TrySendError::Full(_))) => false,
                    // No connection (or its writer is gone): to the server, a new one.
                    _ if hop.peer == self.server => self.connect(bytes).await,
                    _ => false,
                }
            }
        };
        if !sent {
            self.unsent += 1;
        }
        sent
    }

    /// Open a connection to the server and queue `bytes` on it; false when none could be made.
    async fn connect(&mut self, bytes: &Arc<Vec<u8>>) -> bool {
        let server = self.server;
        self.conns.remove(&server);
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%server, error = %e, "connect failed");
                return false;
            }
            Err(_) => {
                tracing::debug!(%server, "connect timed out");
                return false;
            }
        };
        let Ok(local) = stream.local_addr() else { return false };
        let writer = start(stream, server, local, &self.events_tx);
        if writer.try_send(bytes.clone()).is_err() {
            return false;
        }
        self.conns.insert(server, Conn { local, writer });
        true
    }

    /// Wait until `wake` for what comes in, then take everything queued. Without `hold`, the
    /// first datagram or connection message ends the wait; with one, nothing does before it
    /// (or `wake`, if sooner): a busy run loop then wakes once per hold for all that came
    /// meanwhile rather than once per datagram, each datagram keeping its arrival time.
    pub(super) async fn receive_until(
        &mut self,
        wake: tokio::time::Instant,
        hold: Option<tokio::time::Instant>,
    ) -> io::Result<Vec<Received>> {
        let mut out = Vec::new();
        match hold {
            Some(h) => {
                // Off the reactor until the hold ends: a connection's message still ends it
                // (after the datagrams that came before it), a datagram does not.
                unwatch(&mut self.udp);
                let ev = tokio::select! {
                    _ = tokio::time::sleep_until(wake.min(h)) => None,
                    Some(ev) = self.events.recv() => Some(ev),
                };
                self.drain_udp(&mut out)?;
                if let Some(r) = ev.and_then(|ev| self.event(ev)) {
                    out.push(r);
                }
            }
            None => {
                let fd = watch(&mut self.udp, BOTH)?;
                tokio::select! {
                    r = readable(fd) => r?,
                    Some(ev) = self.events.recv() => {
                        self.drain_udp(&mut out)?;
                        if let Some(r) = self.event(ev) {
                            out.push(r);
                        }
                    }
                    _ = tokio::time::sleep_until(wake) => return Ok(out),
                }
                self.drain_udp(&mut out)?;
            }
        }
        while let Ok(ev) = self.events.try_recv() {
            if let Some(r) = self.event(ev) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Every datagram queued on the UDP socket, a batch per system call.
    fn drain_udp(&mut self, out: &mut Vec<Received>) -> io::Result<()> {
        let Some(udp) = self.udp.as_ref() else { return Ok(()) };
        // Bounded: a peer sending without pause cannot keep the loop here.
        for _ in 0..64 {
            match self.batch.recv(udp.socket()) {
                Ok(n) => {
                    for (i, d) in self.batch.datagrams().iter().enumerate() {
                        out.push(Received {
                            hop: Hop { transport: Transport::Udp, peer: d.peer },
                            bytes: self.batch.bytes(i).to_vec(),
                            at: tokio::time::Instant::from_std(d.at),
                        });
                    }
                    if n < crate::net::batch::BATCH {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // ICMP port unreachable and the like from an earlier send: not fatal to a load run.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn event(&mut self, ev: Event) -> Option<Received> {
        match ev {
            Event::Accepted { peer, local, writer } => {
                self.conns.insert(peer, Conn { local, writer });
                if peer.ip() == self.server.ip() {
                    self.accepted.push(peer);
                }
                None
            }
            Event::Message { peer, bytes } => {
                Some(Received { hop: Hop { transport: Transport::Tcp, peer }, bytes, at: tokio::time::Instant::now() })
            }
            Event::Closed { peer, local, why } => {
                tracing::debug!(%peer, why, "connection closed");
                // Only if it is still the one open with that peer (not a newer one).
                if self.conns.get(&peer).is_some_and(|c| c.local == local) {
                    self.conns.remove(&peer);
                }
                self.closed += 1;
                None
            }
        }
    }
}

/// Accept connections for as long as the run loop listens.
async fn accept(listener: TcpListener, events: mpsc::Sender<Event>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else { continue };
        if attach(stream, peer, local, &events).await.is_err() {
            return;
        }
    }
}

/// Wait until `udp` is readable; without a socket, never. The readiness is cleared: the caller
/// then reads until the socket is empty, and a datagram that comes after sets it again.
async fn readable(udp: Option<&AsyncFd<std::net::UdpSocket>>) -> io::Result<()> {
    match udp {
        Some(u) => {
            u.readable().await?.clear_ready();
            Ok(())
        }
        None => std::future::pending().await,
    }
}

/// Start the tasks of an accepted connection and tell the run loop (before any of its
/// messages).
async fn attach(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    events: &mpsc::Sender<Event>,
) -> Result<(), mpsc::error::SendError<Event>> {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
    tokio::spawn(write(w, queue));
    events.send(Event::Accepted { peer, local, writer }).await?;
    tokio::spawn(read(r, peer, local, events.clone()));
    Ok(())
}

/// Start the tasks of a connection the harness opened; its writer.
fn start(stream: TcpStream, peer: SocketAddr, local: SocketAddr, events: &mpsc::Sender<Event>) -> Writer {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
    tokio::spawn(write(w, queue));
    tokio::spawn(read(r, peer, local, events.clone()));
    writer
}

async fn write(mut w: OwnedWriteHalf, mut queue: mpsc::Receiver<Arc<Vec<u8>>>) {
    while let Some(bytes) = queue.recv().await {
        if w.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

/// Read a connection: each whole message to the run loop, CR/LF keep-alives skipped; a framing
/// error or a message past [`MAX_MESSAGE`] ends it.
async fn read(mut r: OwnedReadHalf, peer: SocketAddr, local: SocketAddr, events: mpsc::Sender<Event>) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let why = 'conn: loop {
        match r.read_buf(&mut buf).await {
            Ok(0) => break "closed by the peer".to_string(),
            Ok(_) => {}
            Err(e) => break format!("read failed: {e}"),
        }
        loop {
            match check_stream(&buf) {
                Ok(StreamFrame::KeepAlive(n)) => {
                    buf.drain(..n);
                }
                Ok(StreamFrame::Message { start, end }) => {
                    let bytes = buf[start..end].to_vec();
                    buf.drain(..end);
                    if events.send(Event::Message { peer, bytes }).await.is_err() {
                        return;
                    }
                }
                Err(FramingError::Incomplete) if buf.len() > MAX_MESSAGE => {
                    break 'conn format!("a message larger than {MAX_MESSAGE} bytes");
                }
                Err(FramingError::Incomplete) => break,
                Err(e) => break 'conn format!("framing error: {e}"),
            }
        }
    };
    let _ = events.send(Event::Closed { peer, local, why }).await;
}
