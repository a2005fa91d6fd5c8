//! The tokio driver: runs any sans-IO [`SansIo`] node over real UDP and TCP sockets. This is the
//! only module that does socket I/O or reads the real clock (docs/architecture.md). It implements
//! the transport parts of RFC 3261 §7.5 and §18, and RFC 5626 keep-alive.
//!
//! # Use
//! ```no_run
//! # use imcpm::net::{self, Bound, NetConfig};
//! # use imcpm::node::{Input, Instant, Output, SansIo};
//! # struct Idle;
//! # impl SansIo for Idle {
//! #     fn handle_input(&mut self, _: Input) {}
//! #     fn poll_output(&mut self) -> Output { Output::Timeout(Instant::NEVER) }
//! # }
//! # fn node() -> Idle { Idle }
//! let cfg = NetConfig { listens: vec!["udp:127.0.0.1:5060".parse()?], ..NetConfig::default() };
//! let served = net::block_on(async {
//!     let bound = Bound::bind(cfg).await?;          // port 0 works: see `local_addrs()`
//!     std::io::Result::Ok(bound.run(node(), net::shutdown_signal()).await)
//! })?;
//! println!("{:?}", served.stats);                     // `served.node` is handed back
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the node sees
//! - Time: [`Instant`] is microseconds since `bind` (a `tokio::time::Instant`, so paused test
//!   time works). After every input `poll_output` is drained until [`Output::Timeout`]; the
//!   driver sleeps until that deadline and feeds [`Input::Timeout`]`(now)`.
//! - `Input::Receive`: `packet.from` is the peer; `packet.to` is the node's own address: the
//!   bound listen address the message arrived on (as in [`Bound::local_addrs`], so a wildcard
//!   listen gives `0.0.0.0:port`), or, on a connection the driver opened, the `from` of the
//!   packet that made the driver open it.
//! - `Input::Unreachable`: a TCP connection the driver opened for the node's packets failed
//!   (refused, timed out); each packet queued on it comes back to the node as it was sent. A
//!   proxy answers upstream (the reference server: 500). UDP has no such report here.
//! - UDP reading: at each wake-up a socket is read until it is empty (`recvmmsg`, up to 32 a
//!   call; past 2,048 the run loop gets a turn, or the hold passes, before reading on), while
//!   there is room among the 1,024 datagrams the readers may have waiting for the run loop;
//!   with [`NetConfig::udp_hold`], a read that found some is followed by that long with the
//!   socket off the reactor, so a busy socket wakes the thread once per hold.
//! - UDP: one datagram is one message, cut with [`frame_datagram`](crate::sip::frame_datagram)
//!   (leading CRLFs and bytes past Content-Length dropped). A datagram that fails framing
//!   (e.g. RFC 4475 `clerr`) is logged and **fed raw**, so the node answers 400 itself;
//!   whitespace-only datagrams (keep-alives) are dropped.
//! - TCP: the stream is cut with [`check_stream`](crate::sip::check_stream); a CRLFCRLF ping is
//!   answered with one CRLF pong (RFC 5626 §4.4.1) and never reaches the node; a framing error
//!   or a message larger than `max_message` closes the connection.
//!
//! # Where `Output::Transmit` goes
//! - UDP: queued, and sent once the run loop has handled everything that woke it (the timer,
//!   or every event waiting), a `sendmmsg` per run of datagrams from one socket, in order; a
//!   full send buffer is waited out (a second at most), a datagram the kernel refuses otherwise
//!   is dropped and counted.
//! - UDP: sent from the UDP socket whose bound address equals `packet.from` (a wildcard socket
//!   on the same port also matches), else from the first UDP socket of `packet.to`'s address
//!   family; with none, the packet is dropped with a warning.
//! - TCP: written to an open connection whose peer is `packet.to` (a request's connection is
//!   reused for its responses); among several, one whose node address equals `packet.from`,
//!   then the newest. Without one, the driver connects to `packet.to` (within
//!   `connect_timeout` and `max_connections`, from `packet.from`'s IP when it is one of ours),
//!   queues the packet, and keeps the connection for later sends and to read what comes back.
//!   A failed connect drops its queue with a warning: the node's transaction timers notice.
//!   Packets queued on a connection that closes before writing them are sent again by the same
//!   rules. Inbound and outbound connections share the `max_connections` budget.

// A driver and the command line read the clock; nothing else does (clippy.toml).
#![allow(clippy::disallowed_methods)]

pub mod batch;
mod clock;
mod driver;
mod listen;
mod route;
mod stream;
mod tasks;

pub use clock::Clock;
pub use driver::Bound;
pub(crate) use driver::udp_socket;
pub use listen::{Listen, ListenParseError};

use crate::base::{Instant, Transport};
use crate::node::SansIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(doc)]
use crate::node::{Input, Output};

/// Where to listen and the limits to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Addresses to bind, in order (port 0: any free port).
    pub listens: Vec<Listen>,
    /// Largest message accepted, in bytes; a larger datagram is dropped and a larger stream
    /// message closes its connection.
    pub max_message: usize,
    /// Most TCP connections open at once, accepted and opened together; further incoming
    /// connections are reset at once, further outgoing ones fail.
    pub max_connections: usize,
    /// A TCP connection with no traffic either way for this long is closed.
    pub tcp_idle: Duration,
    /// Longest wait for an outgoing TCP connection.
    pub connect_timeout: Duration,
    /// Receive buffer asked for each UDP socket, in bytes (0: the kernel's default). Set with
    /// `SO_RCVBUFFORCE` where allowed (root, `CAP_NET_ADMIN`), else `SO_RCVBUF`, which the
    /// kernel caps at `net.core.rmem_max`; [`Bound::udp_rcvbuf`] tells what it gave.
    pub udp_rcvbuf: usize,
    /// After a read of a UDP socket that found datagrams, wait this long before reading it
    /// again (zero: read again as soon as the next one comes). Under load the run loop then
    /// wakes once per hold for all that came meanwhile, at the price of that much latency.
    pub udp_hold: Duration,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            listens: Vec::new(),
            max_message: 65535,
            max_connections: 1024,
            tcp_idle: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            udp_rcvbuf: 4 << 20,
            udp_hold: Duration::ZERO,
        }
    }
}

/// Which way a tapped message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Way {
    /// Received from the network.
    In,
    /// Sent (handed to the socket).
    Out,
}

/// One message seen by the driver, for traces and `--pcap`. Addresses are the socket's view:
/// on TCP the connection's real local address (an ephemeral port for connections the driver
/// opened), on UDP the bound socket address. Keep-alives are not tapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapEvent<'a> {
    /// When (received: when the run loop took it; sent: when handed to the socket). UDP
    /// datagrams are sent together once the run loop has handled everything that woke it, so
    /// the datagrams received in one batch are all tapped before the answers to them, and a
    /// UDP answer may be tapped after a TCP message the node emitted later; per socket the
    /// order is the sending order.
    pub at: Instant,
    /// In or out.
    pub direction: Way,
    /// UDP or TCP.
    pub transport: Transport,
    /// Sender address.
    pub from: SocketAddr,
    /// Receiver address.
    pub to: SocketAddr,
    /// The whole message as framed (one SIP message).
    pub bytes: &'a [u8],
}

/// A hook called with every message received and sent (see [`Bound::with_tap`]).
pub type Tap = Box<dyn FnMut(&TapEvent<'_>) + Send>;

/// Counters over one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages fed to the node.
    pub received: u64,
    /// Messages sent (UDP) or queued on a connection (TCP).
    pub sent: u64,
    /// Messages the node emitted that could not be sent (no socket, failed connect, a datagram
    /// the kernel refused, a UDP send buffer still full after a second's wait).
    pub dropped: u64,
    /// Datagrams dropped on receipt for being larger than `max_message`.
    pub oversized: u64,
    /// Incoming TCP connections accepted.
    pub accepted: u64,
    /// Incoming TCP connections refused at `max_connections`.
    pub refused: u64,
    /// Outgoing TCP connections made.
    pub connected: u64,
    /// Outgoing TCP connections that failed.
    pub connect_failures: u64,
    /// Connections closed for a framing error, an oversized message or a socket error.
    pub closed_on_error: u64,
    /// Datagrams the kernel dropped on the UDP sockets for want of buffer room, over the
    /// sockets' lifetime (Linux: the `drops` column of /proc/net/udp; 0 elsewhere).
    pub udp_drops: u64,
}

impl std::fmt::Display for NetStats {
    /// `received 10, sent 12, dropped 0, ...`: every counter, named as in the field docs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "received {}, sent {}, dropped {}, oversized datagrams {}, TCP accepted {}, refused {}, connected {}, connect failures {}, closed on error {}, UDP drops {}",
            self.received,
            self.sent,
            self.dropped,
            self.oversized,
            self.accepted,
            self.refused,
            self.connected,
            self.connect_failures,
            self.closed_on_error,
            self.udp_drops
        )
    }
}

/// Datagrams the kernel dropped on this UDP socket for want of buffer room, over its lifetime
/// (Linux: the `drops` column of /proc/net/udp; 0 elsewhere).
pub fn udp_socket_drops(socket: &impl std::os::fd::AsRawFd) -> u64 {
    driver::udp_drops_of_fds(&[socket.as_raw_fd()])
}

/// What a run hands back: the node, for inspection, and the counters.
#[derive(Debug)]
pub struct Served<N> {
    /// The node, as it was at shutdown.
    pub node: N,
    /// Counters.
    pub stats: NetStats,
}

/// Bind `cfg.listens`, then run `node` until `shutdown` resolves.
pub async fn serve<N: SansIo>(node: N, cfg: NetConfig, shutdown: impl Future<Output = ()>) -> io::Result<Served<N>> {
    Ok(Bound::bind(cfg).await?.run(node, shutdown).await)
}

/// [`serve`], calling `tap` with every message received and sent.
pub async fn serve_with_tap<N, F>(
    node: N,
    cfg: NetConfig,
    shutdown: impl Future<Output = ()>,
    tap: F,
) -> io::Result<Served<N>>
where
    N: SansIo,
    F: FnMut(&TapEvent<'_>) + Send + 'static,
{
    Ok(Bound::bind(cfg).await?.with_tap(tap).run(node, shutdown).await)
}

/// Run a future on a fresh current-thread runtime (I/O and timers enabled).
///
/// # Panics
/// When the runtime cannot be built (the OS refuses an event-queue descriptor); see
/// [`try_block_on`] to get that as an error.
pub fn block_on<F: Future>(f: F) -> F::Output {
    // Building fails only when the OS cannot give an epoll/kqueue descriptor or timer; the
    // program cannot do any network work then.
    try_block_on(f).expect("cannot build the tokio runtime")
}

/// [`block_on`], with a runtime build failure as an error.
pub fn try_block_on<F: Future>(f: F) -> io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(rt.block_on(f))
}

/// Resolves on Ctrl-C or, on unix, SIGTERM. A signal that cannot be watched is logged and
/// ignored (so this never resolves spuriously).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("Ctrl-C: shutting down"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                tracing::info!("SIGTERM: shutting down");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
