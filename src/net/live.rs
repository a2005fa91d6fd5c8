//! Live runs (`imcpm run --transport udp|tcp`): the same scenarios, with the embedded reference
//! server behind real sockets on loopback. The server runs in the tokio driver on its own
//! thread; in the world its place is taken by [`LiveSut`], which owns a real UDP socket and TCP
//! listener at every simulated node's (127.0.0.0/8) address, sends what the world hands the
//! server over those sockets, and hands back what the server sends. Virtual time is paced to the
//! wall clock, so the server's timers and the world's agree. The trace is recorded by the world
//! exactly as in the simulation, and the same oracle judges it.

use crate::base::Level;
use crate::base::{Instant, Packet, Transport};
use crate::node::im_server::{ImServer, ServerConfig};
use crate::node::{Input, Output, SansIo};
use crate::scenario::run::{AddressPlan, run_in};
use crate::scenario::{RunOptions, Scenario, ScenarioRun};
use crate::sip::framing::{StreamFrame, check_stream};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

struct Conn {
    node: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The server under test, reached over real loopback sockets.
pub struct LiveSut {
    server: SocketAddr,
    udp: Vec<(SocketAddr, UdpSocket)>,
    listeners: Vec<(SocketAddr, TcpListener)>,
    conns: Vec<Conn>,
    out: VecDeque<Packet>,
    now: Instant,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveSut {
    fn poll_sockets(&mut self) {
        let mut buf = vec![0u8; 65_536];
        for (node, s) in &self.udp {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                if from == self.server {
                    self.out.push_back(Packet { transport: Transport::Udp, from, to: *node, bytes: buf[..n].to_vec() });
                }
            }
        }
        for (node, l) in &self.listeners {
            while let Ok((stream, _)) = l.accept() {
                if stream.set_nonblocking(true).is_ok() {
                    self.conns.push(Conn { node: *node, stream, buf: Vec::new() });
                }
            }
        }
        for c in &mut self.conns {
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => c.buf.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
            loop {
                match check_stream(&c.buf) {
                    Ok(StreamFrame::KeepAlive(n)) => {
                        c.buf.drain(..n);
                    }
                    Ok(StreamFrame::Message { start, end }) => {
                        let bytes = c.buf[start..end].to_vec();
                        c.buf.drain(..end);
                        self.out.push_back(Packet { transport: Transport::Tcp, from: self.server, to: c.node, bytes });
                    }
                    Err(crate::sip::framing::FramingError::Incomplete) => break,
                    Err(e) => {
                        // The server framed badly: what it sent is not a message. Log it and
                        // drop the buffer so that later messages on the connection still arrive.
                        tracing::warn!(error = %e, "live: framing error on a connection from the server");
                        c.buf.clear();
                        break;
                    }
                }
            }
        }
    }

    fn send(&mut self, p: Packet) -> io::Result<()> {
        match p.transport {
            Transport::Udp => {
                let s = self
                    .udp
                    .iter()
                    .find(|(a, _)| *a == p.from)
                    .map(|x| &x.1)
                    .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no socket"))?;
                s.send_to(&p.bytes, self.server).map(|_| ())
            }
            Transport::Tcp => {
                if !self.conns.iter().any(|c| c.node == p.from) {
                    let stream = TcpStream::connect_timeout(&self.server, Duration::from_secs(2))?;
                    stream.set_nonblocking(true)?;
                    self.conns.push(Conn { node: p.from, stream, buf: Vec::new() });
                }
                let c = self
                    .conns
                    .iter_mut()
                    .find(|c| c.node == p.from)
                    .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no connection"))?;
                let mut rest = &p.bytes[..];
                let mut spins = 0;
                while !rest.is_empty() {
                    match c.stream.write(rest) {
                        Ok(n) => rest = &rest[n..],
                        Err(e) if e.kind() == ErrorKind::WouldBlock && spins < 1000 => {
                            spins += 1;
                            std::thread::sleep(Duration::from_micros(100));
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }
    }
}

impl SansIo for LiveSut {
    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Receive { now, packet } => {
                self.now = now;
                if let Err(e) = self.send(packet) {
                    tracing::warn!(error = %e, "live: could not send to the server");
                }
            }
            Input::Timeout(now) | Input::Unreachable { now, .. } => self.now = now,
        }
    }

    fn poll_output(&mut self) -> Output {
        if self.out.is_empty() {
            self.poll_sockets();
        }
        match self.out.pop_front() {
            Some(p) => Output::Transmit(p),
            // Keep the world polling the sockets every millisecond.
            None => Output::Timeout(self.now + Duration::from_millis(1)),
        }
    }
}

impl Drop for LiveSut {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A started server: its address, where its configuration goes, how to stop it, its thread.
type Started = (SocketAddr, mpsc::Sender<ServerConfig>, tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>);

/// Node sockets: the plan and a UDP socket and TCP listener per node address.
type NodeSockets = (AddressPlan, Vec<(SocketAddr, UdpSocket)>, Vec<(SocketAddr, TcpListener)>);

/// Start the reference server on loopback (UDP and TCP on one port) in its own thread. It waits
/// for its configuration on the returned channel.
fn start_server() -> io::Result<Started> {
    let (addr_tx, addr_rx) = mpsc::channel::<io::Result<SocketAddr>>();
    let (cfg_tx, cfg_rx) = mpsc::channel::<ServerConfig>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        super::block_on(async move {
            let mut bound = None;
            for _ in 0..20 {
                let probe = match UdpSocket::bind("127.0.0.1:0") {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                let Ok(port) = probe.local_addr().map(|a| a.port()) else { continue };
                drop(probe);
                let a = SocketAddr::from(([127, 0, 0, 1], port));
                let cfg = super::NetConfig {
                    listens: vec![super::Listen::udp(a), super::Listen::tcp(a)],
                    ..super::NetConfig::default()
                };
                if let Ok(b) = super::Bound::bind(cfg).await {
                    bound = Some((b, a));
                    break;
                }
            }
            let Some((bound, a)) = bound else {
                let _ = addr_tx.send(Err(io::Error::new(ErrorKind::AddrInUse, "no free loopback port for the server")));
                return;
            };
            let _ = addr_tx.send(Ok(a));
            let Ok(cfg) = cfg_rx.recv() else { return };
            bound
                .run(ImServer::new(cfg), async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| io::Error::new(ErrorKind::TimedOut, "the server did not start"))??;
    Ok((addr, cfg_tx, stop_tx, thread))
}

/// Bind a UDP socket and a TCP listener at every node address of the plan (same port on
/// 127.0.0.x and 127.0.1.x), trying a few ports.
fn bind_nodes(server: SocketAddr, actors: usize) -> io::Result<NodeSockets> {
    let mut last = io::Error::new(ErrorKind::AddrInUse, "no free port");
    for _ in 0..10 {
        let probe = UdpSocket::bind("127.0.0.2:0")?;
        let port = probe.local_addr()?.port();
        drop(probe);
        let plan = AddressPlan::loopback(server, port);
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut ok = true;
        for a in plan.all(actors) {
            match (UdpSocket::bind(a), TcpListener::bind(a)) {
                (Ok(u), Ok(t)) => {
                    u.set_nonblocking(true)?;
                    t.set_nonblocking(true)?;
                    udp.push((a, u));
                    tcp.push((a, t));
                }
                (Err(e), _) | (_, Err(e)) => {
                    last = e;
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return Ok((plan, udp, tcp));
        }
    }
    Err(last)
}

/// Run a scenario at a level against the embedded reference server behind real sockets, with
/// every message between the harness and the server over `transport` (the server may still
/// switch a large request to TCP).
pub fn run_scenario_live(
    s: &Scenario,
    level: Level,
    opts: &RunOptions,
    transport: Transport,
) -> io::Result<ScenarioRun> {
    let (server, cfg_tx, stop, thread) = start_server()?;
    let (plan, udp, listeners) = bind_nodes(server, s.actors.len())?;
    let mut s = s.clone();
    s.transport = transport.as_str().to_ascii_lowercase();
    let sut = std::sync::Mutex::new(Some(LiveSut {
        server,
        udp,
        listeners,
        conns: Vec::new(),
        out: VecDeque::new(),
        now: Instant::ZERO,
        stop: Some(stop),
        thread: Some(thread),
    }));
    let factory = move |cfg: ServerConfig| -> Box<dyn SansIo + Send> {
        let _ = cfg_tx.send(cfg);
        // The factory is called once per run: the adapter is taken out of the slot then.
        Box::new(sut.lock().map(|mut g| g.take()).ok().flatten().expect("the live adapter is built once per run"))
    };
    let start = std::time::Instant::now();
    let pacer = Box::new(move |t: Instant| {
        let target = start + Duration::from_micros(t.0);
        let now = std::time::Instant::now();
        if target > now {
            std::thread::sleep(target - now);
        }
    });
    Ok(run_in(&s, level, opts, &factory, plan, Some(pacer)))
}
