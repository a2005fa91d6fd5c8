//! `imcpm serve` under abuse, over real sockets on loopback (docs/architecture.md#resource-bounds):
//! the TCP connection count, the idle timeout (a silent connection, and one that sends half a
//! message and stops), a write the peer never reads, the largest message on UDP and on TCP,
//! and UDP service going on while every TCP connection is held by an abuser. Every wait is
//! bounded; the server is stopped by PID (SIGTERM, for its summary line), else killed.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Upper bound on every wait.
const T: Duration = Duration::from_secs(10);

/// `imcpm serve` on free loopback ports, with its stdout lines read by a thread.
struct Serve {
    child: Child,
    udp: SocketAddr,
    tcp: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
            .args(["serve", "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--level", "1"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("imcpm serve starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut s = Serve { child, udp: "0.0.0.0:0".parse().unwrap(), tcp: "0.0.0.0:0".parse().unwrap(), lines };
        while s.udp.port() == 0 || s.tcp.port() == 0 {
            let l = s.lines.recv_timeout(T).expect("serve prints its addresses");
            if let Some(a) = l.strip_prefix("imcpm serve: listening on udp:") {
                s.udp = a.parse().unwrap();
            }
            if let Some(a) = l.strip_prefix("imcpm serve: listening on tcp:") {
                s.tcp = a.parse().unwrap();
            }
        }
        s
    }

    /// SIGTERM by PID; the summary line it prints on the way out. A peer sees a close or a
    /// reset just before the server's run loop counts it, so it is given a moment first (a
    /// shutdown stops the loop at once).
    fn stop(self) -> String {
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let end = Instant::now() + T;
        while Instant::now() < end {
            match self.lines.recv_timeout(end.saturating_duration_since(Instant::now())) {
                Ok(l) if l.contains("stopped after") => return l,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no summary line within {T:?}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number of the summary line: `count(s, "oversized datagrams")`.
fn count(summary: &str, key: &str) -> u64 {
    let at = summary.find(&format!("{key} ")).unwrap_or_else(|| panic!("no `{key}` in {summary}")) + key.len() + 1;
    summary[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// The `tcp accepted N, refused N` counters.
fn tcp_counts(summary: &str) -> (u64, u64) {
    let tcp = &summary[summary.find("tcp accepted").unwrap()..];
    (count(tcp, "tcp accepted"), count(tcp, "refused"))
}

fn connect(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&to, T).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    s
}

/// True when the server has closed or reset `s`; false when it is still open (no data, no
/// end within the read timeout).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

/// Wait up to `T` for the server to close `s`; how long it took.
fn wait_closed(s: &mut TcpStream) -> Duration {
    let start = Instant::now();
    while Instant::now() < start + T {
        if closed(s) {
            return start.elapsed();
        }
    }
    panic!("the connection is still open after {T:?}");
}

/// A CPM pager MESSAGE for the server with a body of `body` bytes, routed to `hop`.
fn message(server: SocketAddr, hop: &str, transport: &str, via: SocketAddr, n: u32, body: usize) -> String {
    let body = "x".repeat(body);
    format!(
        "MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/{transport} {via};branch=z9hG4bKlim{n}\r\n\
         Route: <sip:{server};lr>, <sip:{hop};lr>\r\nMax-Forwards: 70\r\n\
         From: <sip:alice@cpm.example.com>;tag=a{n}\r\nTo: <sip:bob@im.example.net>\r\nCall-ID: lim-{n}@test\r\n\
         CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An OPTIONS for the server itself: answered 200 by it (never forwarded).
fn options(server: SocketAddr, via: SocketAddr, n: u32) -> String {
    format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bKopt{n}\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@example.com>;tag=o{n}\r\nTo: <sip:{server}>\r\nCall-ID: opt-{n}@test\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The server answers an OPTIONS over UDP: it is serving.
fn answers_options(s: &Serve, n: u32) {
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    me.set_read_timeout(Some(T)).unwrap();
    me.send_to(options(s.udp, me.local_addr().unwrap(), n).as_bytes(), s.udp).unwrap();
    let mut buf = [0u8; 65536];
    let (len, _) = me.recv_from(&mut buf).expect("the server answers");
    assert!(buf[..len].starts_with(b"SIP/2.0 200"), "{}", String::from_utf8_lossy(&buf[..len]));
}

/// `--max-connections 4`: four connections are accepted and kept; a fifth is reset at once and
/// counted; once one of the four closes, a new one is accepted again.
#[test]
fn connections_past_max_connections_are_reset_and_counted() {
    let s = Serve::start(&["--max-connections", "4"]);
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect(s.tcp)).collect();
    for c in &mut held {
        assert!(!closed(c), "accepted and kept");
    }
    // The server accepts the fifth and resets it at once. On a busy machine the reset can
    // arrive before the connect has finished checking the socket, or before the read timeout
    // is set: the reset then shows as those calls' error, and it was at once all the same.
    match TcpStream::connect_timeout(&s.tcp, T) {
        Ok(mut fifth) => match fifth.set_read_timeout(Some(Duration::from_millis(300))) {
            Ok(()) => assert!(wait_closed(&mut fifth) < Duration::from_secs(2), "reset at once"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        },
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    drop(held.pop());
    // The server sees the close, then has room again.
    let end = Instant::now() + T;
    let mut refused_after = 0;
    loop {
        // On a busy machine the connect itself may fail while the server is at its limit (a
        // reset racing the handshake): not counted by the server, tried again.
        let Ok(mut c) = TcpStream::connect_timeout(&s.tcp, T) else {
            assert!(Instant::now() < end, "no room after a connection closed");
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        // A reset may come late on a busy machine: a second of silence means accepted.
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        if !closed(&mut c) {
            break;
        }
        refused_after += 1;
        assert!(Instant::now() < end, "no room after a connection closed");
    }
    answers_options(&s, 1);
    let summary = s.stop();
    assert_eq!(tcp_counts(&summary), (5, 1 + refused_after), "{summary}");
}

/// `--tcp-idle 1`: a connection that sends nothing, and one that sends half a message and then
/// stops, are both closed after about a second (not before), and the half message gets no
/// answer; a message larger than `--max-message`, finished or not, closes its connection at
/// once (counted as closed on error).
#[test]
fn idle_connections_half_messages_and_oversized_messages_are_closed() {
    let s = Serve::start(&["--tcp-idle", "1", "--max-message", "2000"]);
    let mut silent = connect(s.tcp);
    let mut half = connect(s.tcp);
    let hop = "127.0.0.1:9;transport=tcp";
    let whole = message(s.tcp, hop, "TCP", half.local_addr().unwrap(), 1, 500);
    half.write_all(&whole.as_bytes()[..whole.len() - 250]).unwrap();
    let started = Instant::now();
    let took = [wait_closed(&mut silent), wait_closed(&mut half)];
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "closed before the idle time: {took:?}");
    assert!(waited < Duration::from_secs(5), "{took:?}");
    // Larger than 2000 bytes: a whole message, and an unfinished one (its header says more).
    let mut big = connect(s.tcp);
    big.write_all(message(s.tcp, hop, "TCP", big.local_addr().unwrap(), 2, 2500).as_bytes()).unwrap();
    assert!(wait_closed(&mut big) < Duration::from_millis(800), "closed at once, not after the idle time");
    let mut unfinished = connect(s.tcp);
    let m = message(s.tcp, hop, "TCP", unfinished.local_addr().unwrap(), 3, 5000);
    unfinished.write_all(&m.as_bytes()[..2100]).unwrap();
    assert!(wait_closed(&mut unfinished) < Duration::from_millis(800), "closed once past the limit");
    let summary = s.stop();
    assert_eq!(count(&summary, "closed on error"), 2, "{summary}");
    assert_eq!(count(&summary, "requests"), 0, "nothing reached the server core: {summary}");
}

/// `--max-message 1200` on UDP: a larger datagram is dropped unanswered and counted; one at
/// the limit is served (forwarded over UDP: it is under 1300 bytes).
#[test]
fn a_datagram_larger_than_max_message_is_dropped_and_counted() {
    let s = Serve::start(&["--max-message", "1200"]);
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = me.local_addr().unwrap();
    let big = message(s.udp, &at.to_string(), "UDP", at, 1, 1000);
    assert!(big.len() > 1200);
    me.send_to(big.as_bytes(), s.udp).unwrap();
    me.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0u8; 65536];
    assert!(me.recv_from(&mut buf).is_err(), "no answer, nothing forwarded");
    // Exactly 1200 bytes: forwarded to us (the next hop).
    let fits = (0..1200).rev().map(|b| message(s.udp, &at.to_string(), "UDP", at, 2, b)).find(|m| m.len() == 1200);
    let fits = fits.unwrap();
    me.send_to(fits.as_bytes(), s.udp).unwrap();
    me.set_read_timeout(Some(T)).unwrap();
    let (n, _) = me.recv_from(&mut buf).expect("the request at the limit is forwarded");
    assert!(buf[..n].starts_with(b"MESSAGE "), "{}", String::from_utf8_lossy(&buf[..n]));
    let summary = s.stop();
    assert_eq!(count(&summary, "oversized datagrams"), 1, "{summary}");
    assert_eq!(count(&summary, "requests"), 1, "{summary}");
}

/// A next hop that accepts the server's TCP connection and never reads: once the server's
/// writes stall for `--tcp-idle`, the connection is closed and what was queued for it is
/// dropped (counted), instead of holding the connection and its queue for ever.
#[test]
fn a_next_hop_that_never_reads_is_cut_off_after_tcp_idle() {
    // A listener with a small receive buffer, so the server's writes stall soon.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    sock.listen(8).unwrap();
    let listener: std::net::TcpListener = sock.into();
    let hop = listener.local_addr().unwrap();
    let (tx, accepted) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(listener.accept());
    });
    let s = Serve::start(&["--tcp-idle", "1"]);
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = me.local_addr().unwrap();
    // Requests of 60 KB for the hop (over 1300 bytes: forwarded over TCP), 1 MB more than the
    // kernel's largest TCP send buffer can take.
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let requests = ((wmem_max + (1 << 20)) / 60_000).min(400) as u32;
    for n in 0..requests {
        let m = message(s.udp, &format!("{hop};transport=tcp"), "UDP", at, n, 60_000);
        me.send_to(m.as_bytes(), s.udp).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let (_hop_conn, _) = accepted.recv_timeout(T).expect("the server connects to the hop").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    answers_options(&s, 2);
    let summary = s.stop();
    assert!(count(&summary, "closed on error") >= 1, "{summary}");
    assert!(count(&summary, "dropped") >= 1, "{summary}");
}

/// Every TCP connection `--max-connections` allows is held by a peer that sent half a message;
/// one more is refused; meanwhile a MESSAGE over UDP is forwarded and its 200 relayed back.
#[test]
fn udp_is_served_while_every_tcp_connection_is_held_by_an_abuser() {
    let s = Serve::start(&["--max-connections", "16", "--tcp-idle", "30"]);
    let mut abusers: Vec<TcpStream> = (0..16).map(|_| connect(s.tcp)).collect();
    for (n, c) in abusers.iter_mut().enumerate() {
        let m = message(s.tcp, "127.0.0.1:9", "TCP", c.local_addr().unwrap(), 100 + n as u32, 800);
        c.write_all(&m.as_bytes()[..m.len() / 2]).unwrap();
    }
    let mut extra = connect(s.tcp);
    assert!(wait_closed(&mut extra) < Duration::from_secs(2), "refused: every connection is taken");
    // UDP: the MESSAGE reaches the next hop (this socket), the 200 comes back relayed.
    let core = UdpSocket::bind("127.0.0.1:0").unwrap();
    core.set_read_timeout(Some(T)).unwrap();
    let me = core.local_addr().unwrap();
    core.send_to(message(s.udp, &me.to_string(), "UDP", me, 1, 100).as_bytes(), s.udp).unwrap();
    let mut buf = [0u8; 65536];
    let (n, from) = core.recv_from(&mut buf).expect("forwarded while TCP is full");
    let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(fwd.starts_with("MESSAGE "), "{fwd}");
    let keep: String = fwd
        .split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter(|l| ["Via:", "From:", "To:", "Call-ID:", "CSeq:"].iter().any(|p| l.starts_with(p)))
        .map(|l| format!("{l}\r\n"))
        .collect();
    core.send_to(format!("SIP/2.0 200 OK\r\n{keep}Content-Length: 0\r\n\r\n").as_bytes(), from).unwrap();
    let (n, _) = core.recv_from(&mut buf).expect("the 200 is relayed");
    assert!(buf[..n].starts_with(b"SIP/2.0 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    for c in &mut abusers {
        assert!(!closed(c), "the abusers are still connected (idle time 30 s)");
    }
    let summary = s.stop();
    assert_eq!(tcp_counts(&summary), (16, 1), "{summary}");
    assert_eq!(count(&summary, "forwarded"), 1, "{summary}");
}
