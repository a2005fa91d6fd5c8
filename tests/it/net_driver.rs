//! The tokio driver (`imcpm::net`) over real loopback sockets, with a tiny sans-IO node that
//! answers every request with 200, answers `later@` requests after a 50 ms timer, and forwards
//! `relay@` requests over TCP to a second address (exercising connect-out and reading the
//! answer on that connection). Every wait is bounded by `T`.
//!
//! `RUST_LOG=imcpm=debug cargo test --test net_driver -- --nocapture` shows the driver's logs.

use imcpm::base::{Instant, Packet, Transport};
use imcpm::net::{self, Bound, Listen, NetConfig, Served, Way};
use imcpm::node::{Input, Output, SansIo};
use imcpm::sip::framing::{FramingError, StreamFrame, check_stream};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Upper bound on every wait.
const T: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- the test node

#[derive(Debug, Default)]
struct TestNode {
    /// Where `relay@` requests go (over TCP).
    relay_to: Option<SocketAddr>,
    out: VecDeque<Packet>,
    timers: Vec<(Instant, Packet)>,
    received: Vec<Packet>,
    timeouts: usize,
    /// Call-ID of a relayed request -> (transport, our address, requester).
    origins: HashMap<String, (Transport, SocketAddr, SocketAddr)>,
    unreachable: Vec<Packet>,
}

impl SansIo for TestNode {
    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Receive { now, packet } => self.on_packet(now, packet),
            Input::Timeout(now) => {
                self.timeouts += 1;
                let (due, later) = self.timers.drain(..).partition(|(at, _)| *at <= now);
                self.timers = later;
                self.out.extend(due.into_iter().map(|(_, p)| p));
            }
            Input::Unreachable { packet, .. } => self.unreachable.push(packet),
        }
    }

    fn poll_output(&mut self) -> Output {
        match self.out.pop_front() {
            Some(p) => Output::Transmit(p),
            None => Output::Timeout(self.timers.iter().map(|(at, _)| *at).min().unwrap_or(Instant::NEVER)),
        }
    }
}

impl TestNode {
    fn on_packet(&mut self, now: Instant, packet: Packet) {
        self.received.push(packet.clone());
        let text = String::from_utf8_lossy(&packet.bytes).into_owned();
        let call_id = header(&text, "Call-ID").unwrap_or_default();
        let first = text.lines().next().unwrap_or_default();
        if first.starts_with("SIP/2.0 ") {
            if let Some((transport, from, to)) = self.origins.remove(&call_id) {
                self.out.push_back(Packet { transport, from, to, bytes: packet.bytes });
            }
            return;
        }
        let user = first.split_once("sip:").and_then(|(_, r)| r.split_once('@')).map_or("", |(u, _)| u);
        let reply = Packet { transport: packet.transport, from: packet.to, to: packet.from, bytes: ok_response(&text) };
        match (user, self.relay_to) {
            ("relay", Some(target)) => {
                self.origins.insert(call_id, (packet.transport, packet.to, packet.from));
                self.out.push_back(Packet {
                    transport: Transport::Tcp,
                    from: packet.to,
                    to: target,
                    bytes: packet.bytes,
                });
            }
            ("later", _) => self.timers.push((now + Duration::from_millis(50), reply)),
            _ => self.out.push_back(reply),
        }
    }
}

fn header(text: &str, name: &str) -> Option<String> {
    let head = text.split("\r\n\r\n").next()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn ok_response(request: &str) -> Vec<u8> {
    let head = request.split("\r\n\r\n").next().unwrap_or_default();
    let mut r = String::from("SIP/2.0 200 OK\r\n");
    for line in head.split("\r\n").skip(1) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if ["via", "from", "to", "call-id", "cseq"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            r.push_str(line);
            r.push_str("\r\n");
        }
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r.into_bytes()
}

fn request(user: &str, call_id: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:{user}@example.com SIP/2.0\r\nVia: SIP/2.0/TCP client.invalid;branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:{user}@example.com>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn assert_ok_for(msg: &[u8], call_id: &str) {
    let text = String::from_utf8_lossy(msg);
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "not a 200: {text}");
    assert_eq!(header(&text, "Call-ID").as_deref(), Some(call_id), "{text}");
}

// ---------------------------------------------------------------- harness

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

struct Running {
    addrs: Vec<Listen>,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Served<TestNode>>,
}

impl Running {
    async fn start(cfg: NetConfig, node: TestNode) -> Running {
        Running::start_bound(Bound::bind(cfg).await.expect("bind"), node)
    }

    fn start_bound(bound: Bound, node: TestNode) -> Running {
        init_logs();
        let addrs = bound.local_addrs().to_vec();
        let (stop, rx) = oneshot::channel();
        let handle = tokio::spawn(bound.run(node, async {
            let _ = rx.await;
        }));
        Running { addrs, stop, handle }
    }

    fn addr(&self, transport: Transport) -> SocketAddr {
        self.addrs.iter().find(|l| l.transport == transport).expect("listen of that transport").addr
    }

    async fn stop(self) -> Served<TestNode> {
        let _ = self.stop.send(());
        timeout(T, self.handle).await.expect("shutdown within T").expect("driver task")
    }
}

fn cfg(listens: &[&str]) -> NetConfig {
    NetConfig { listens: listens.iter().map(|l| l.parse().expect("listen")).collect(), ..NetConfig::default() }
}

async fn udp_exchange(client: &UdpSocket, to: SocketAddr, msg: &[u8]) -> (Vec<u8>, SocketAddr) {
    client.send_to(msg, to).await.expect("send_to");
    let mut buf = vec![0u8; 65536];
    let (n, from) = timeout(T, client.recv_from(&mut buf)).await.expect("UDP answer within T").expect("recv");
    (buf[..n].to_vec(), from)
}

/// Read one message from a stream (skipping CR/LF keep-alives); bounded by `T`.
async fn read_msg(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<u8> {
    let read = async {
        loop {
            match check_stream(buf) {
                Ok(StreamFrame::KeepAlive(n)) => drop(buf.drain(..n)),
                Ok(StreamFrame::Message { start, end }) => {
                    let msg = buf[start..end].to_vec();
                    buf.drain(..end);
                    return msg;
                }
                Err(FramingError::Incomplete) => {
                    let n = stream.read_buf(buf).await.expect("read");
                    assert!(n > 0, "connection closed while waiting for a message");
                }
                Err(e) => panic!("framing: {e}"),
            }
        }
    };
    timeout(T, read).await.expect("TCP message within T")
}

/// True when the server closes (or resets) the connection within `T`.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    };
    timeout(T, read).await.unwrap_or(false)
}

fn has_ipv6_loopback() -> bool {
    std::net::UdpSocket::bind("[::1]:0").is_ok() && std::net::TcpListener::bind("[::1]:0").is_ok()
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn udp_request_gets_200() {
    let server = Running::start(cfg(&["udp:127.0.0.1:0"]), TestNode::default()).await;
    let to = server.addr(Transport::Udp);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (answer, from) = udp_exchange(&client, to, &request("bob", "u1", "hi")).await;
    assert_ok_for(&answer, "u1");
    assert_eq!(from, to, "answered from the listen socket");
    let served = server.stop().await;
    let got = &served.node.received;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].transport, got[0].from, got[0].to), (Transport::Udp, client.local_addr().unwrap(), to));
    assert_eq!(got[0].bytes, request("bob", "u1", "hi"));
    assert_eq!((served.stats.received, served.stats.sent), (1, 1));
}

#[tokio::test]
async fn tcp_request_gets_200_on_the_same_connection() {
    let server = Running::start(cfg(&["tcp:127.0.0.1:0"]), TestNode::default()).await;
    let addr = server.addr(Transport::Tcp);
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    for call in ["t1", "t2"] {
        c.write_all(&request("bob", call, "hello")).await.unwrap();
        assert_ok_for(&read_msg(&mut c, &mut buf).await, call);
    }
    let served = server.stop().await;
    assert_eq!(served.stats.accepted, 1);
    assert_eq!(served.stats.connected, 0, "responses reuse the incoming connection");
    let p = &served.node.received[0];
    assert_eq!((p.transport, p.from, p.to), (Transport::Tcp, c.local_addr().unwrap(), addr));
}

#[tokio::test]
async fn tcp_two_pipelined_messages_get_two_responses() {
    let server = Running::start(cfg(&["tcp:127.0.0.1:0"]), TestNode::default()).await;
    let mut c = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    let mut both = request("bob", "p1", "one");
    both.extend_from_slice(&request("carol", "p2", "two"));
    c.write_all(&both).await.unwrap();
    let mut buf = Vec::new();
    assert_ok_for(&read_msg(&mut c, &mut buf).await, "p1");
    assert_ok_for(&read_msg(&mut c, &mut buf).await, "p2");
    assert_eq!(server.stop().await.node.received.len(), 2);
}

#[tokio::test]
async fn tcp_crlf_ping_gets_crlf_pong() {
    let server = Running::start(cfg(&["tcp:127.0.0.1:0"]), TestNode::default()).await;
    let mut c = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    c.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    timeout(T, c.read_exact(&mut pong)).await.expect("pong within T").unwrap();
    assert_eq!(&pong, b"\r\n");
    // The connection stays usable, and the first thing after the pong is the 200.
    c.write_all(&request("bob", "k1", "")).await.unwrap();
    let mut buf = Vec::new();
    let msg = read_msg(&mut c, &mut buf).await;
    assert_ok_for(&msg, "k1");
    let served = server.stop().await;
    assert_eq!(served.node.received.len(), 1, "keep-alives never reach the node");
}

#[tokio::test]
async fn tcp_message_split_across_writes() {
    let server = Running::start(cfg(&["tcp:127.0.0.1:0"]), TestNode::default()).await;
    let mut c = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    c.set_nodelay(true).unwrap();
    let msg = request("bob", "s1", "a body that arrives in pieces");
    // Cut inside the start line, inside a header, at the blank line and inside the body.
    let blank = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let cuts = [0, 7, 60, blank + 2, blank + 10, msg.len()];
    for w in cuts.windows(2) {
        c.write_all(&msg[w[0]..w[1]]).await.unwrap();
        c.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut buf = Vec::new();
    assert_ok_for(&read_msg(&mut c, &mut buf).await, "s1");
    let served = server.stop().await;
    assert_eq!(served.node.received.len(), 1);
    assert_eq!(served.node.received[0].bytes, msg);
}

#[tokio::test]
async fn ipv6_loopback_udp_and_tcp() {
    if !has_ipv6_loopback() {
        println!("note: no IPv6 loopback (::1) on this machine; IPv6 test skipped");
        return;
    }
    let listens = ["udp:[::1]:0", "tcp:[::1]:0", "udp:127.0.0.1:0"];
    let server = Running::start(cfg(&listens), TestNode::default()).await;
    let (udp6, tcp6, udp4) = (server.addrs[0].addr, server.addrs[1].addr, server.addrs[2].addr);
    assert!(udp6.is_ipv6() && tcp6.is_ipv6() && udp4.is_ipv4());
    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    let (answer, from) = udp_exchange(&client, udp6, &request("bob", "v6u", "")).await;
    assert_ok_for(&answer, "v6u");
    assert_eq!(from, udp6);
    let client4 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (answer, from) = udp_exchange(&client4, udp4, &request("bob", "v4u", "")).await;
    assert_ok_for(&answer, "v4u");
    assert_eq!(from, udp4, "v4 answers leave from the v4 socket");
    let mut c = TcpStream::connect(tcp6).await.unwrap();
    c.write_all(&request("bob", "v6t", "x")).await.unwrap();
    assert_ok_for(&read_msg(&mut c, &mut Vec::new()).await, "v6t");
    let served = server.stop().await;
    let tos: Vec<SocketAddr> = served.node.received.iter().map(|p| p.to).collect();
    assert_eq!(tos, vec![udp6, udp4, tcp6]);
}

#[tokio::test]
async fn tcp_connection_beyond_max_connections_is_refused() {
    let config = NetConfig { max_connections: 2, ..cfg(&["tcp:127.0.0.1:0"]) };
    let server = Running::start(config, TestNode::default()).await;
    let addr = server.addr(Transport::Tcp);
    let mut open = Vec::new();
    for call in ["m1", "m2"] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&request("bob", call, "")).await.unwrap();
        assert_ok_for(&read_msg(&mut c, &mut Vec::new()).await, call);
        open.push(c);
    }
    // The kernel completes the handshake; the driver then resets the connection.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(&request("bob", "m3", "")).await;
    assert!(closed_by_server(&mut third).await, "third connection not closed");
    // Closing one frees its slot (bounded retries while the driver notices the close).
    drop(open.remove(0));
    let mut freed = false;
    for _ in 0..40 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        if c.write_all(&request("bob", "m4", "")).await.is_ok() {
            let mut buf = Vec::new();
            let read = timeout(Duration::from_millis(500), c.read_buf(&mut buf)).await;
            if matches!(read, Ok(Ok(n)) if n > 0) {
                freed = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "slot not freed after a connection closed");
    let served = server.stop().await;
    assert!(served.stats.refused >= 1, "{:?}", served.stats);
    assert!(!served.node.received.iter().any(|p| String::from_utf8_lossy(&p.bytes).contains("Call-ID: m3")));
}

#[tokio::test]
async fn shutdown_returns_promptly_and_hands_back_the_node() {
    let server = Running::start(cfg(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]), TestNode::default()).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp_exchange(&client, server.addr(Transport::Udp), &request("bob", "x1", "")).await;
    // An idle connection and a half-sent message must not hold shutdown up.
    let mut idle = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    let mut half = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    half.write_all(&request("bob", "x2", "body")[..40]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let served = server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(1), "shutdown took {:?}", started.elapsed());
    assert_eq!(served.node.received.len(), 1);
    assert!(closed_by_server(&mut idle).await);
    assert!(closed_by_server(&mut half).await);
}

#[tokio::test]
async fn relay_connects_out_reads_the_answer_and_reuses_the_connection() {
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = TestNode { relay_to: Some(target.local_addr().unwrap()), ..TestNode::default() };
    let server = Running::start(cfg(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]), node).await;
    let udp = server.addr(Transport::Udp);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let first = request("relay", "r1", "forward me");
    client.send_to(&first, server.addr(Transport::Udp)).await.unwrap();
    let (mut downstream, peer) = timeout(T, target.accept()).await.expect("connect-out within T").unwrap();
    assert_eq!(peer.ip(), server.addr(Transport::Tcp).ip());
    let mut buf = Vec::new();
    let forwarded = read_msg(&mut downstream, &mut buf).await;
    assert_eq!(forwarded, first, "forwarded byte for byte");
    // The answer comes back on the driver's own connection and is relayed to the client.
    downstream.write_all(&ok_response(&String::from_utf8_lossy(&forwarded))).await.unwrap();
    let mut answer = vec![0u8; 65536];
    let (n, _) = timeout(T, client.recv_from(&mut answer)).await.expect("relayed answer").unwrap();
    assert_ok_for(&answer[..n], "r1");
    // A second relayed request reuses the connection.
    let second = request("relay", "r2", "again");
    client.send_to(&second, server.addr(Transport::Udp)).await.unwrap();
    assert_eq!(read_msg(&mut downstream, &mut buf).await, second);
    assert!(timeout(Duration::from_millis(100), target.accept()).await.is_err(), "a second connection was opened");
    let served = server.stop().await;
    assert_eq!((served.stats.connected, served.stats.connect_failures), (1, 0));
    let answer_in = served.node.received.iter().find(|p| p.bytes.starts_with(b"SIP/2.0 200")).unwrap();
    assert_eq!((answer_in.transport, answer_in.from), (Transport::Tcp, target.local_addr().unwrap()));
    assert_eq!(answer_in.to, udp, "`to` is the node address that opened the connection");
}

#[tokio::test]
async fn connect_failure_tells_the_node_and_the_driver_goes_on() {
    // A port with nothing listening: bind, note the port, close.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let node = TestNode { relay_to: Some(dead), ..TestNode::default() };
    let server = Running::start(cfg(&["udp:127.0.0.1:0"]), node).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&request("relay", "d1", ""), server.addr(Transport::Udp)).await.unwrap();
    let (answer, _) = udp_exchange(&client, server.addr(Transport::Udp), &request("bob", "d2", "")).await;
    assert_ok_for(&answer, "d2");
    // Let the failed connect be reported (bounded).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let served = server.stop().await;
    assert_eq!((served.stats.connect_failures, served.stats.dropped), (1, 1), "{:?}", served.stats);
    // The node is told which packet did not go, as it sent it.
    let lost = &served.node.unreachable;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!((lost[0].transport, lost[0].to), (Transport::Tcp, dead));
    assert!(lost[0].bytes.windows(2).any(|w| w == b"d1"), "{:?}", String::from_utf8_lossy(&lost[0].bytes));
}

#[tokio::test]
async fn node_timer_fires_through_the_driver() {
    let server = Running::start(cfg(&["udp:127.0.0.1:0"]), TestNode::default()).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sent = std::time::Instant::now();
    let (answer, _) = udp_exchange(&client, server.addr(Transport::Udp), &request("later", "l1", "")).await;
    assert_ok_for(&answer, "l1");
    assert!(sent.elapsed() >= Duration::from_millis(45), "answered after {:?}", sent.elapsed());
    assert!(server.stop().await.node.timeouts >= 1);
}

#[tokio::test]
async fn tcp_framing_error_closes_the_connection() {
    let server = Running::start(cfg(&["tcp:127.0.0.1:0"]), TestNode::default()).await;
    let mut c = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    c.write_all(b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\n\r\n").await.unwrap();
    assert!(closed_by_server(&mut c).await, "no Content-Length on TCP must close the connection");
    let served = server.stop().await;
    assert!(served.node.received.is_empty());
    assert_eq!(served.stats.closed_on_error, 1);
}

#[tokio::test]
async fn tcp_message_over_max_message_closes_the_connection() {
    let config = NetConfig { max_message: 400, ..cfg(&["tcp:127.0.0.1:0"]) };
    let server = Running::start(config, TestNode::default()).await;
    let mut c = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    let mut buf = Vec::new();
    c.write_all(&request("bob", "small", "fits")).await.unwrap();
    assert_ok_for(&read_msg(&mut c, &mut buf).await, "small");
    c.write_all(&request("bob", "big", &"x".repeat(1000))).await.unwrap();
    assert!(closed_by_server(&mut c).await);
    let served = server.stop().await;
    assert_eq!(served.node.received.len(), 1);
    assert_eq!(served.stats.closed_on_error, 1);
}

#[tokio::test]
async fn udp_datagrams_are_cut_or_fed_raw() {
    let server = Running::start(cfg(&["udp:127.0.0.1:0"]), TestNode::default()).await;
    let to = server.addr(Transport::Udp);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Keep-alive: ignored. Bytes past Content-Length: cut (RFC 4475 dblreq).
    client.send_to(b"\r\n\r\n", to).await.unwrap();
    let mut extra = request("bob", "g1", "ab");
    extra.extend_from_slice(b"trailing garbage");
    udp_exchange(&client, to, &extra).await;
    // Body shorter than Content-Length (clerr): passed on raw for the node to answer 400.
    let mut clerr = request("bob", "g2", "abcdef");
    clerr.truncate(clerr.len() - 3);
    udp_exchange(&client, to, &clerr).await;
    let served = server.stop().await;
    let got: Vec<&[u8]> = served.node.received.iter().map(|p| p.bytes.as_slice()).collect();
    assert_eq!(got, vec![&request("bob", "g1", "ab")[..], &clerr[..]]);
}

#[tokio::test]
async fn udp_burst_under_a_read_hold_is_answered_in_order_and_an_oversized_datagram_counted() {
    let config = NetConfig { udp_hold: Duration::from_millis(20), max_message: 2000, ..cfg(&["udp:127.0.0.1:0"]) };
    let server = Running::start(config, TestNode::default()).await;
    let to = server.addr(Transport::Udp);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // 60 requests at once, an oversized datagram among them: they queue during the holds and
    // are read and answered in batches.
    for i in 0..60 {
        client.send_to(&request("bob", &format!("b{i}"), "x"), to).await.unwrap();
        if i == 30 {
            client.send_to(&[b'x'; 3000], to).await.unwrap();
        }
    }
    let mut buf = vec![0u8; 65536];
    for i in 0..60 {
        let (n, _) = timeout(T, client.recv_from(&mut buf)).await.expect("answer within T").unwrap();
        // One socket, one order: the answers leave as the requests came.
        assert_ok_for(&buf[..n], &format!("b{i}"));
    }
    let served = server.stop().await;
    assert_eq!((served.stats.received, served.stats.sent, served.stats.oversized), (60, 60, 1));
}

/// More datagrams queued than one wake-up reads (64 batches of 32), none of them answered (so
/// no send of the server's re-arms anything): all are read without a further datagram, with
/// and without a hold.
#[tokio::test]
async fn a_backlog_longer_than_one_wake_up_reads_is_read_to_the_end() {
    for hold in [0, 5] {
        let config = NetConfig { udp_hold: Duration::from_millis(hold), ..cfg(&["udp:127.0.0.1:0"]) };
        let server = Running::start(config, TestNode::default()).await;
        let to = server.addr(Transport::Udp);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Sent from this (the runtime's) thread without yielding: they all queue first.
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let answer = ok_response(std::str::from_utf8(&request("bob", "q", "x")).unwrap());
        for _ in 0..3000 {
            client.send_to(&answer, to).unwrap(); // a response: the node answers nothing
        }
        // Ample for 3,000 datagrams; with the reader stuck, no wait would be.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = server.stop().await.stats;
        assert_eq!(s.received + s.udp_drops, 3000, "hold {hold} ms: {s:?}");
        assert!(s.received > 2048, "hold {hold} ms: {s:?}");
    }
}

#[tokio::test]
async fn the_read_hold_delays_no_first_datagram_only_those_that_come_during_it() {
    let hold = Duration::from_millis(1500);
    let config = NetConfig { udp_hold: hold, ..cfg(&["udp:127.0.0.1:0"]) };
    let server = Running::start(config, TestNode::default()).await;
    let to = server.addr(Transport::Udp);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // An idle server reads at once.
    let t0 = std::time::Instant::now();
    udp_exchange(&client, to, &request("bob", "h1", "x")).await;
    assert!(t0.elapsed() < hold / 2, "the first datagram waited for the hold: {:?}", t0.elapsed());
    // The next one comes during the hold that read started: it waits for the hold's end.
    let t1 = std::time::Instant::now();
    udp_exchange(&client, to, &request("bob", "h2", "x")).await;
    assert!(t1.elapsed() >= hold / 2, "read during the hold: {:?}", t1.elapsed());
    // After a hold that found nothing the socket is watched again: at once.
    tokio::time::sleep(hold + Duration::from_millis(300)).await;
    let t2 = std::time::Instant::now();
    udp_exchange(&client, to, &request("bob", "h3", "x")).await;
    assert!(t2.elapsed() < hold / 2, "an idle server's datagram waited: {:?}", t2.elapsed());
    assert_eq!(server.stop().await.stats.received, 3);
}

#[tokio::test]
async fn idle_tcp_connection_is_closed() {
    let config = NetConfig { tcp_idle: Duration::from_millis(200), ..cfg(&["tcp:127.0.0.1:0"]) };
    let server = Running::start(config, TestNode::default()).await;
    let mut c = TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    let opened = std::time::Instant::now();
    assert!(closed_by_server(&mut c).await);
    assert!(opened.elapsed() >= Duration::from_millis(150), "closed after {:?}", opened.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn tap_sees_every_message_both_ways() {
    type Seen = (Way, Transport, SocketAddr, SocketAddr, Vec<u8>);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = seen.clone();
    let bound = Bound::bind(cfg(&["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])).await.unwrap().with_tap(move |e| {
        sink.lock().unwrap().push((e.direction, e.transport, e.from, e.to, e.bytes.to_vec()));
    });
    let server = Running::start_bound(bound, TestNode::default());
    let (udp, tcp) = (server.addr(Transport::Udp), server.addr(Transport::Tcp));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (answer, _) = udp_exchange(&client, udp, &request("bob", "w1", "")).await;
    let mut c = TcpStream::connect(tcp).await.unwrap();
    c.write_all(b"\r\n\r\n").await.unwrap();
    c.write_all(&request("bob", "w2", "")).await.unwrap();
    let tcp_answer = read_msg(&mut c, &mut Vec::new()).await;
    server.stop().await;
    let (cu, ct) = (client.local_addr().unwrap(), c.local_addr().unwrap());
    let seen = seen.lock().unwrap().clone();
    let expected: Vec<Seen> = vec![
        (Way::In, Transport::Udp, cu, udp, request("bob", "w1", "")),
        (Way::Out, Transport::Udp, udp, cu, answer),
        (Way::In, Transport::Tcp, ct, tcp, request("bob", "w2", "")),
        (Way::Out, Transport::Tcp, tcp, ct, tcp_answer),
    ];
    assert_eq!(seen, expected);
}

#[test]
fn block_on_and_serve_with_a_shutdown_future() {
    let mut listens = vec!["udp:127.0.0.1:0", "tcp:127.0.0.1:0"];
    if has_ipv6_loopback() {
        listens.push("tcp:[::1]:0");
    }
    let started = std::time::Instant::now();
    // The timer is made inside the runtime (a `tokio::time::sleep` needs one to exist).
    let shutdown = async { tokio::time::sleep(Duration::from_millis(100)).await };
    let served = net::block_on(net::serve(TestNode::default(), cfg(&listens), shutdown)).expect("serve");
    assert!(started.elapsed() < T);
    assert_eq!(served.stats, net::NetStats::default());
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let l = format!("udp:{}", taken.local_addr().unwrap());
    let err = Bound::bind(cfg(&[&l])).await.err().expect("address in use");
    assert!(err.to_string().contains(&l), "{err}");
}
