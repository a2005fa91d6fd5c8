//! The run loop: binds the listens, then owns the node and feeds it. Socket tasks report
//! [`Event`]s; the loop turns them into [`Input`]s, drains [`Output`]s after every input and
//! routes each `Transmit` (the rules are in the module docs of `net`).

use super::clock::Clock;
use super::route::{Conn, ConnState};
use super::stream::{CloseReason, StreamLimits};
use super::tasks::{self, ConnId, Event, Stop};
use super::{Listen, NetConfig, NetStats, Served, Tap, TapEvent, Way};
use crate::base::{Instant, Packet, Transport};
use crate::node::{Input, Output, SansIo};
use crate::sip::framing::frame_datagram;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Socket events waiting for the run loop; a full queue slows the readers down.
const EVENT_QUEUE: usize = 1024;
/// UDP datagrams read and waiting for the run loop (a batch of them is one event); the
/// receivers read no more until there is room for a whole batch.
const UDP_QUEUE: usize = 1024;
/// How long shutdown waits for connections to flush before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Sockets bound and ready to run a node.
pub struct Bound {
    cfg: NetConfig,
    udp: Vec<(SocketAddr, Arc<std::net::UdpSocket>)>,
    tcp: Vec<(SocketAddr, TcpListener)>,
    local: Vec<Listen>,
    rcvbuf: Vec<(SocketAddr, usize)>,
    clock: Clock,
    tap: Option<Tap>,
}

/// A non-blocking UDP socket bound to `addr` with a receive buffer of `rcvbuf` bytes asked (0:
/// the default: `SO_RCVBUFFORCE` when privileged, else `SO_RCVBUF` capped by the kernel), and
/// the size the kernel reports.
pub(crate) fn udp_socket(addr: SocketAddr, rcvbuf: usize) -> io::Result<(std::net::UdpSocket, usize)> {
    let s =
        socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if rcvbuf > 0 && !force_rcvbuf(&s, rcvbuf) {
        // Not privileged: the kernel caps it at net.core.rmem_max.
        s.set_recv_buffer_size(rcvbuf)?;
    }
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    let got = s.recv_buffer_size()?;
    Ok((s.into(), got))
}

/// `SO_RCVBUFFORCE` (Linux, privileged: not capped by net.core.rmem_max). False when refused.
#[cfg(target_os = "linux")]
fn force_rcvbuf(s: &socket2::Socket, size: usize) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(v) = libc::c_int::try_from(size) else { return false };
    set_int_option(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
}

/// `setsockopt(fd, level, name, value)` for an option whose value is a C int; false when
/// refused.
#[cfg(target_os = "linux")]
pub(super) fn set_int_option(fd: i32, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: setsockopt on a descriptor the caller holds open, with a pointer to a c_int and
    // its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

#[cfg(not(target_os = "linux"))]
fn force_rcvbuf(_: &socket2::Socket, _: usize) -> bool {
    false
}

impl Bound {
    /// Bind every address of `cfg.listens` (all or nothing). The clock starts here.
    pub async fn bind(cfg: NetConfig) -> io::Result<Bound> {
        let (mut udp, mut tcp, mut local) = (Vec::new(), Vec::new(), Vec::new());
        let mut rcvbuf = Vec::new();
        for l in &cfg.listens {
            let context = |e: io::Error| io::Error::new(e.kind(), format!("cannot bind {l}: {e}"));
            let addr = match l.transport {
                Transport::Udp => {
                    let (s, got) = udp_socket(l.addr, cfg.udp_rcvbuf).map_err(context)?;
                    let addr = s.local_addr()?;
                    rcvbuf.push((addr, got));
                    udp.push((addr, Arc::new(s)));
                    addr
                }
                Transport::Tcp => {
                    let s = TcpListener::bind(l.addr).await.map_err(context)?;
                    let addr = s.local_addr()?;
                    tcp.push((addr, s));
                    addr
                }
            };
            local.push(Listen { transport: l.transport, addr });
        }
        Ok(Bound { cfg, udp, tcp, local, rcvbuf, clock: Clock::start(), tap: None })
    }

    /// The receive buffer of each UDP socket as the kernel reports it (Linux reports twice the
    /// size asked, the other half being its bookkeeping).
    pub fn udp_rcvbuf(&self) -> &[(SocketAddr, usize)] {
        &self.rcvbuf
    }

    /// The bound addresses, in the order of `cfg.listens`, with the ports the OS chose.
    pub fn local_addrs(&self) -> &[Listen] {
        &self.local
    }

    /// The first bound address of `transport`.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.local.iter().find(|l| l.transport == transport).map(|l| l.addr)
    }

    /// The driver's clock (its epoch is `Instant::ZERO` for the node and the tap).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Call `tap` with every message received and sent (see [`TapEvent`]).
    pub fn with_tap(mut self, tap: impl FnMut(&TapEvent<'_>) + Send + 'static) -> Bound {
        self.tap = Some(Box::new(tap));
        self
    }

    /// Run `node` until `shutdown` resolves or the node says it has
    /// [`finished`](SansIo::finished); then stop accepting, let connections flush what
    /// is queued (briefly), close every socket and hand the node back.
    pub async fn run<N: SansIo>(self, node: N, shutdown: impl Future<Output = ()>) -> Served<N> {
        let Bound { cfg, udp, tcp, local, clock, tap, rcvbuf: _ } = self;
        let (events, mut inbox) = mpsc::channel(EVENT_QUEUE);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut d = Driver {
            node,
            clock,
            tap,
            udp,
            tcp_addrs: tcp.iter().map(|(a, _)| *a).collect(),
            conns: HashMap::new(),
            next_id: 0,
            events,
            stop: Stop(stop_rx),
            permits: Arc::new(Semaphore::new(cfg.max_connections.min(Semaphore::MAX_PERMITS))),
            tasks: JoinSet::new(),
            limits: StreamLimits { max_message: cfg.max_message, idle: cfg.tcp_idle },
            connect_timeout: cfg.connect_timeout,
            stats: NetStats::default(),
            deadline: Instant::NEVER,
            udp_out: Vec::new(),
        };
        // Datagrams read and not yet handled, all UDP sockets together.
        let udp_budget = Arc::new(Semaphore::new(UDP_QUEUE));
        for (i, (addr, socket)) in d.udp.iter().enumerate() {
            // The receiver reads its own descriptor of the socket, which it takes on and off
            // the reactor; the run loop sends on this one, which is on none.
            let own = match socket.try_clone() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(transport = "UDP", local = %addr, error = %e, "cannot duplicate the socket; nothing will be received on it");
                    continue;
                }
            };
            let budget = udp_budget.clone();
            let task = tasks::udp_recv(i, own, cfg.max_message, cfg.udp_hold, budget, d.events.clone(), d.stop.clone());
            d.tasks.spawn(task);
        }
        for (i, (_, listener)) in tcp.into_iter().enumerate() {
            let task = tasks::accept_loop(i, listener, d.permits.clone(), d.events.clone(), d.stop.clone());
            d.tasks.spawn(task);
        }
        let listens: Vec<String> = local.iter().map(Listen::to_string).collect();
        tracing::info!(listen = %listens.join(" "), "net driver started");

        d.drain().await;
        d.flush_udp().await;
        let mut shutdown = std::pin::pin!(shutdown);
        // One timer for the whole run, moved when the node's deadline moves (a new one per
        // turn of the loop would be registered and dropped at every message).
        let mut armed = d.clock.deadline(d.deadline);
        let sleep = tokio::time::sleep_until(armed.unwrap_or_else(tokio::time::Instant::now));
        let mut sleep = std::pin::pin!(sleep);
        while !d.node.finished() {
            let wake = d.clock.deadline(d.deadline);
            if wake != armed {
                if let Some(t) = wake {
                    sleep.as_mut().reset(t);
                }
                armed = wake;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    let now = d.clock.now();
                    d.node.handle_input(Input::Timeout(now));
                    d.drain().await;
                }
                Some(event) = inbox.recv() => {
                    d.on_event(event).await;
                    // What else is queued goes in the same batch of sends (bounded: the queue
                    // refills while the loop works).
                    for _ in 0..EVENT_QUEUE {
                        let Ok(event) = inbox.try_recv() else { break };
                        d.on_event(event).await;
                    }
                }
                Some(Err(e)) = d.tasks.join_next(), if !d.tasks.is_empty() => {
                    if e.is_panic() {
                        tracing::error!(error = %e, "a socket task panicked");
                    }
                }
            }
            d.flush_udp().await;
        }
        let _ = stop_tx.send(true);
        drop(inbox); // tasks blocked on a full queue give up
        d.finish().await
    }
}

pub(super) struct Driver<N> {
    pub(super) node: N,
    pub(super) clock: Clock,
    pub(super) tap: Option<Tap>,
    pub(super) udp: Vec<(SocketAddr, Arc<std::net::UdpSocket>)>,
    pub(super) tcp_addrs: Vec<SocketAddr>,
    pub(super) conns: HashMap<ConnId, Conn>,
    pub(super) next_id: ConnId,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) stop: Stop,
    pub(super) permits: Arc<Semaphore>,
    pub(super) tasks: JoinSet<()>,
    pub(super) limits: StreamLimits,
    pub(super) connect_timeout: Duration,
    pub(super) stats: NetStats,
    /// The node's next deadline.
    pub(super) deadline: Instant,
    /// Datagrams the node emitted since the last [`flush_udp`](Self::flush_udp): which
    /// socket, and the packet. Sent together once the loop has handled what woke it.
    pub(super) udp_out: Vec<(usize, Packet)>,
}

impl<N: SansIo> Driver<N> {
    /// After every input: drain `poll_output` until the next deadline.
    async fn drain(&mut self) {
        loop {
            match self.node.poll_output() {
                Output::Transmit(p) => self.transmit(p).await,
                Output::Timeout(t) => {
                    self.deadline = t;
                    return;
                }
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Datagrams { sock, list, _room } => {
                let local = self.udp[sock].0;
                for (peer, bytes) in list {
                    let Some(bytes) = bytes else {
                        self.stats.oversized += 1;
                        let n = self.stats.oversized;
                        // The 1st, 10th, 100th, ...: a flood of them must not flood the log.
                        if n.checked_ilog10().is_some_and(|e| 10u64.pow(e) == n) {
                            tracing::warn!(transport = "UDP", %peer, %local, max = self.limits.max_message, dropped = n, "datagram larger than max_message dropped");
                        }
                        continue;
                    };
                    if let Some(bytes) = datagram_message(bytes, peer) {
                        self.receive(Packet { transport: Transport::Udp, from: peer, to: local, bytes }, local).await;
                    }
                }
            }
            Event::Accepted { listen, stream, peer, permit } => {
                let node_local = self.tcp_addrs[listen];
                let wire_local = stream.local_addr().ok();
                tracing::debug!(transport = "TCP", %peer, local = %node_local, "connection accepted");
                self.stats.accepted += 1;
                let id = self.new_id();
                let tx = self.spawn_conn(id, stream, permit);
                self.conns.insert(id, Conn { node_local, wire_local, peer, state: ConnState::Open(tx) });
            }
            Event::Refused { listen, peer } => {
                self.stats.refused += 1;
                let local = self.tcp_addrs[listen];
                tracing::warn!(transport = "TCP", %peer, %local, "connection refused: max_connections reached");
            }
            Event::Connected { id, result } => {
                if self.on_connected(id, result) {
                    self.drain().await;
                }
            }
            Event::Message { id, bytes } => {
                let Some(c) = self.conns.get(&id) else { return };
                let packet = Packet { transport: Transport::Tcp, from: c.peer, to: c.node_local, bytes };
                let wire_to = c.wire_local.unwrap_or(c.node_local);
                self.receive(packet, wire_to).await;
            }
            Event::Closed { id, reason, unsent } => self.on_closed(id, reason, unsent).await,
        }
    }

    /// A connection attempt ended; true when the node was told of undelivered packets (then it
    /// has output to drain).
    fn on_connected(&mut self, id: ConnId, result: io::Result<(TcpStream, OwnedSemaphorePermit)>) -> bool {
        match result {
            Ok((stream, permit)) => {
                if !self.conns.contains_key(&id) {
                    return false; // cannot happen: only `Closed` removes an entry, and this one has no task yet
                }
                let wire_local = stream.local_addr().ok();
                let tx = self.spawn_conn(id, stream, permit);
                self.stats.connected += 1;
                let Some(conn) = self.conns.get_mut(&id) else { return false };
                conn.wire_local = wire_local;
                tracing::debug!(transport = "TCP", peer = %conn.peer, local = ?wire_local, "connected");
                let queued = std::mem::replace(&mut conn.state, ConnState::Open(tx)).into_queue();
                for bytes in queued {
                    self.send_on(id, bytes);
                }
                false
            }
            Err(e) => {
                let Some(conn) = self.conns.remove(&id) else { return false };
                let queued = conn.state.into_queue();
                tracing::warn!(transport = "TCP", peer = %conn.peer, error = %e, dropped = queued.len(), "connect failed; the node is told");
                self.stats.connect_failures += 1;
                self.stats.dropped += queued.len() as u64;
                // The node learns that what it sent did not go (a proxy answers upstream).
                let now = self.clock.now();
                for bytes in queued {
                    let packet = Packet { transport: Transport::Tcp, from: conn.node_local, to: conn.peer, bytes };
                    self.node.handle_input(Input::Unreachable { now, packet });
                }
                true
            }
        }
    }

    async fn on_closed(&mut self, id: ConnId, reason: CloseReason, unsent: Vec<Vec<u8>>) {
        let Some(conn) = self.conns.remove(&id) else { return };
        if reason.is_error() {
            self.stats.closed_on_error += 1;
            tracing::warn!(transport = "TCP", peer = %conn.peer, %reason, "connection closed");
        } else {
            tracing::debug!(transport = "TCP", peer = %conn.peer, %reason, "connection closed");
        }
        let later = conn.state.into_queue();
        if matches!(reason, CloseReason::WriteStalled) {
            // The peer reads nothing: a new connection to it would stall the same way. The
            // node's transaction timers notice what was lost.
            self.stats.dropped += (unsent.len() + later.len()) as u64;
            return;
        }
        // Queued but never written: send again by the usual rules (another connection, or a
        // new one to the same peer).
        for bytes in unsent.into_iter().chain(later) {
            let p = Packet { transport: Transport::Tcp, from: conn.node_local, to: conn.peer, bytes };
            self.transmit(p).await;
        }
    }

    /// Feed one received message to the node, then drain.
    async fn receive(&mut self, packet: Packet, wire_to: SocketAddr) {
        let now = self.clock.now();
        log_message(Way::In, packet.transport, packet.from, &packet.bytes);
        self.tap(now, Way::In, packet.transport, packet.from, wire_to, &packet.bytes);
        self.stats.received += 1;
        self.node.handle_input(Input::Receive { now, packet });
        self.drain().await;
    }

    pub(super) fn new_id(&mut self) -> ConnId {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn tap(
        &mut self,
        at: Instant,
        direction: Way,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) {
        if let Some(tap) = self.tap.as_mut() {
            tap(&TapEvent { at, direction, transport, from, to, bytes });
        }
    }

    /// Shutdown has been signalled: wait briefly for the tasks, abort the rest.
    async fn finish(mut self) -> Served<N> {
        self.stats.udp_drops = udp_drops(&self.udp);
        let queued: usize = self.conns.drain().map(|(_, c)| c.state.into_queue().len()).sum();
        let drained =
            tokio::time::timeout(SHUTDOWN_GRACE, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(left = self.tasks.len(), "connections still flushing after {SHUTDOWN_GRACE:?}; aborted");
            self.tasks.shutdown().await;
        }
        self.stats.dropped += queued as u64;
        tracing::info!(stats = %self.stats, "net driver stopped");
        Served { node: self.node, stats: self.stats }
    }
}

/// Datagrams the kernel dropped on these sockets (receive buffer full): the `drops` column of
/// /proc/net/udp and /proc/net/udp6 for each socket's inode.
#[cfg(target_os = "linux")]
fn udp_drops(sockets: &[(SocketAddr, Arc<std::net::UdpSocket>)]) -> u64 {
    use std::os::fd::AsRawFd;
    let fds: Vec<i32> = sockets.iter().map(|(_, s)| s.as_raw_fd()).collect();
    udp_drops_of_fds(&fds)
}

/// Datagrams the kernel dropped on the UDP sockets with these file descriptors (Linux: each
/// socket's `sk_drops`, read with `SO_MEMINFO`, the counter the `drops` column of /proc/net/udp
/// shows; 0 elsewhere). One system call a socket, where reading /proc/net/udp costs a line of
/// text per socket on the machine.
#[cfg(target_os = "linux")]
pub(super) fn udp_drops_of_fds(fds: &[i32]) -> u64 {
    fds.iter().map(|&fd| sk_drops(fd).unwrap_or_else(|| proc_drops(fd))).sum()
}

/// `SK_MEMINFO_DROPS` of `SO_MEMINFO` (linux/sock_diag.h: the ninth of its counters).
#[cfg(target_os = "linux")]
fn sk_drops(fd: i32) -> Option<u64> {
    const SK_MEMINFO_DROPS: usize = libc::SK_MEMINFO_DROPS as usize;
    let mut info = [0u32; 16];
    let mut len = size_of::<[u32; 16]>() as libc::socklen_t;
    // SAFETY: getsockopt with a buffer this function owns and its true size in `len`.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_MEMINFO, info.as_mut_ptr().cast(), &mut len) };
    (r == 0 && len as usize > SK_MEMINFO_DROPS * 4).then(|| u64::from(info[SK_MEMINFO_DROPS]))
}

/// The `drops` column of /proc/net/udp and /proc/net/udp6 for the socket `fd` (kernels without
/// `SO_MEMINFO`).
#[cfg(target_os = "linux")]
fn proc_drops(fd: i32) -> u64 {
    let Some(inode) = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .and_then(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse::<u64>().ok())
    else {
        return 0;
    };
    let mut total = 0;
    for f in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for line in text.lines().skip(1) {
            // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 13 && cols[9].parse::<u64>().is_ok_and(|i| i == inode) {
                total += cols[12].parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

#[cfg(not(target_os = "linux"))]
fn udp_drops(_: &[(SocketAddr, Arc<std::net::UdpSocket>)]) -> u64 {
    0
}

#[cfg(not(target_os = "linux"))]
pub(super) fn udp_drops_of_fds(_: &[i32]) -> u64 {
    0
}

/// The message in one datagram; `None` for a whitespace-only keep-alive. A datagram that
/// fails framing is passed on as received, so the node can answer 400 (RFC 4475 `clerr`).
fn datagram_message(bytes: Vec<u8>, peer: SocketAddr) -> Option<Vec<u8>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        tracing::trace!(transport = "UDP", %peer, "keep-alive datagram ignored");
        return None;
    }
    match frame_datagram(&bytes) {
        Ok(msg) if msg.len() == bytes.len() => Some(bytes),
        Ok(msg) => Some(msg.to_vec()),
        Err(e) => {
            tracing::warn!(transport = "UDP", %peer, error = %e, "framing error; datagram passed on as received");
            Some(bytes)
        }
    }
}

/// One debug line per message: direction, transport, peer and the start line.
pub(super) fn log_message(direction: Way, transport: Transport, peer: SocketAddr, bytes: &[u8]) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        let end = memchr::memchr2(b'\r', b'\n', bytes).unwrap_or(bytes.len()).min(200);
        let first_line = crate::base::escape::escape(&String::from_utf8_lossy(&bytes[..end])).into_owned();
        let dir = match direction {
            Way::In => "in",
            Way::Out => "out",
        };
        tracing::debug!(dir, %transport, %peer, len = bytes.len(), %first_line, "sip message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_cutting() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(datagram_message(b"\r\n\r\n".to_vec(), peer), None);
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n";
        let mut d = b"\r\n".to_vec();
        d.extend_from_slice(msg);
        d.extend_from_slice(b"trailing");
        assert_eq!(datagram_message(d, peer).unwrap(), msg);
        let clerr = b"OPTIONS sip:a@b SIP/2.0\r\nl: 9\r\n\r\nab".to_vec();
        assert_eq!(datagram_message(clerr.clone(), peer).unwrap(), clerr);
    }
}
