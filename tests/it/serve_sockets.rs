//! `imcpm serve` answers real SIP over UDP and over TCP on loopback: the test plays both the core
//! that hands the server a CPM MESSAGE (with the ISC Route set pointing back at the test's own
//! socket) and the next hop that receives the IM form and answers 200, which must come back
//! relayed. Every wait is bounded; the server is killed at the end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `imcpm serve` on free loopback ports; returns it with its UDP and TCP addresses.
fn start() -> (Server, SocketAddr, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--level", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("imcpm serve starts");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let (mut udp, mut tcp) = (None, None);
    while udp.is_none() || tcp.is_none() {
        let line = lines.next().expect("serve prints its addresses").expect("readable");
        if let Some(a) = line.strip_prefix("imcpm serve: listening on udp:") {
            udp = a.parse().ok();
        }
        if let Some(a) = line.strip_prefix("imcpm serve: listening on tcp:") {
            tcp = a.parse().ok();
        }
    }
    (Server(child), udp.unwrap(), tcp.unwrap())
}

fn message(server: SocketAddr, hop: SocketAddr, transport: &str, via: SocketAddr) -> String {
    // RFC 3263: a next hop without a transport parameter is reached over UDP; a TCP one says so.
    let hop_tp = if transport == "TCP" { ";transport=tcp" } else { "" };
    let body = "From: <sip:alice@cpm.example.com>\r\nTo: <sip:bob@im.example.net>\r\nimdn.Message-ID: s1\r\n\r\nContent-Type: text/plain\r\n\r\nHello";
    format!(
        "MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/{transport} {via};branch=z9hG4bKsock{transport}\r\nRoute: <sip:{server};lr>, <sip:{hop}{hop_tp};lr>\r\nMax-Forwards: 67\r\nFrom: <sip:alice@cpm.example.com>;tag=a1\r\nTo: <sip:bob@im.example.net>\r\nCall-ID: sock-{transport}@test\r\nCSeq: 1 MESSAGE\r\nP-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg\r\nAccept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\r\nContent-Type: message/cpim\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A 200 OK to a request (Via, From, To, Call-ID, CSeq copied).
fn ok_for(req: &str) -> String {
    let keep: String = req
        .split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter(|l| ["Via:", "From:", "To:", "Call-ID:", "CSeq:"].iter().any(|p| l.starts_with(p)))
        .map(|l| format!("{l}\r\n"))
        .collect();
    format!("SIP/2.0 200 OK\r\n{keep}Content-Length: 0\r\n\r\n")
}

fn check_im_form(req: &str) {
    assert!(req.contains("Accept-Contact: *;+g.oma.sip-im\r\n"), "IM form: {req}");
    assert!(!req.contains("cpm.msg"), "no CPM ICSI left: {req}");
    assert!(req.contains("Max-Forwards: 66"), "{req}");
}

#[test]
fn serve_answers_over_udp() {
    let (_s, udp, _) = start();
    let core = UdpSocket::bind("127.0.0.1:0").unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = core.local_addr().unwrap();
    core.send_to(message(udp, me, "UDP", me).as_bytes(), udp).unwrap();
    let mut buf = [0u8; 65536];
    // The forwarded request reaches the next hop (our socket), then our 200 is relayed back.
    let (n, from) = core.recv_from(&mut buf).expect("the server forwards the MESSAGE");
    let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(fwd.starts_with("MESSAGE "), "{fwd}");
    check_im_form(&fwd);
    core.send_to(ok_for(&fwd).as_bytes(), from).unwrap();
    let (n, _) = core.recv_from(&mut buf).expect("the 200 is relayed");
    let resp = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
    assert_eq!(resp.matches("Via:").count(), 1, "the server's Via is removed: {resp}");
}

#[test]
fn serve_answers_over_tcp() {
    let (_s, _, tcp) = start();
    let hop = TcpListener::bind("127.0.0.1:0").unwrap();
    let hop_addr = hop.local_addr().unwrap();
    let mut up = TcpStream::connect_timeout(&tcp, Duration::from_secs(5)).unwrap();
    up.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let via = up.local_addr().unwrap();
    up.write_all(message(tcp, hop_addr, "TCP", via).as_bytes()).unwrap();
    // The server connects to the next hop and sends the IM form.
    hop.set_nonblocking(false).unwrap();
    let (mut down, _) = {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(hop.accept());
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("the server connects to the next hop").unwrap()
    };
    down.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let fwd = read_message(&mut down);
    check_im_form(&fwd);
    down.write_all(ok_for(&fwd).as_bytes()).unwrap();
    let resp = read_message(&mut up);
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
}

/// Read one message (headers and Content-Length body) from a stream, bounded by its timeout.
fn read_message(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if buf.len() >= end + 4 + len {
                return String::from_utf8_lossy(&buf[..end + 4 + len]).into_owned();
            }
        }
        let n = s.read(&mut chunk).expect("a message within the timeout");
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A request addressed to the server itself, with no Route (the Request-URI is its own
/// address), is answered, never forwarded: once such a datagram made the server forward it to
/// itself without end (Max-Forwards 0 exempted OPTIONS, and each pass put it back to 0), a
/// denial of service by one datagram. Each datagram here gets one answer; the server's own
/// counters at shutdown show it received and sent exactly that many messages, and its memory
/// stays small.
#[test]
fn a_request_to_the_server_itself_is_answered_not_forwarded_to_itself() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--level", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("imcpm serve starts");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let udp: SocketAddr = loop {
        let line = lines.next().expect("serve prints its address").expect("readable");
        if let Some(a) = line.strip_prefix("imcpm serve: listening on udp:") {
            break a.parse().unwrap();
        }
    };
    let server = Server(child);
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    me.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let at = me.local_addr().unwrap();
    let cases = [
        ("OPTIONS", format!("sip:{udp}"), 0, "SIP/2.0 200"),
        ("OPTIONS", format!("sip:{udp}"), 70, "SIP/2.0 200"),
        ("MESSAGE", format!("sip:{udp}"), 70, "SIP/2.0 405"),
        ("MESSAGE", format!("sip:{udp}"), 0, "SIP/2.0 483"),
        ("MESSAGE", format!("sip:bob@{udp}"), 70, "SIP/2.0 404"),
        // Routed to itself by its own Route entry, then by the Request-URI: still answered.
        ("MESSAGE", format!("sip:{udp};transport=udp"), 5, "SIP/2.0 405"),
    ];
    let mut buf = [0u8; 65536];
    for (n, (method, ru, mf, want)) in cases.iter().enumerate() {
        let route = if n == 5 { format!("Route: <sip:{udp};lr>\r\n") } else { String::new() };
        let req = format!(
            "{method} {ru} SIP/2.0\r\nVia: SIP/2.0/UDP {at};branch=z9hG4bKself{n}\r\n{route}Max-Forwards: {mf}\r\n\
             From: <sip:probe@example.com>;tag=p{n}\r\nTo: <{ru}>\r\nCall-ID: self-{n}@test\r\nCSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        me.send_to(req.as_bytes(), udp).unwrap();
        let (len, from) = me.recv_from(&mut buf).expect("an answer");
        let resp = String::from_utf8_lossy(&buf[..len]).into_owned();
        assert_eq!(from, udp);
        assert!(resp.starts_with(want), "case {n} ({method} {ru}, Max-Forwards {mf}): want {want}, got {resp}");
    }
    // Nothing more arrives: no retransmitted or looping traffic.
    me.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    assert!(me.recv_from(&mut buf).is_err(), "more than one answer per request");
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").to_string()))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(rss_kb < 64 * 1024, "the server grew to {rss_kb} kB");
    // Stop it and read its counters.
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let summary = lines.map_while(Result::ok).find(|l| l.contains("stopped after")).expect("a summary at shutdown");
    drop(server);
    let count = |what: &str| -> u64 {
        summary
            .split(what)
            .nth(1)
            .and_then(|r| r.trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .unwrap()
    };
    assert_eq!(count("messages received"), cases.len() as u64, "{summary}");
    assert_eq!(count("sent"), cases.len() as u64, "{summary}");
    assert_eq!(count("forwarded"), 0, "{summary}");
}

/// `--udp-rcvbuf`: the size the kernel gave is printed; as root (`SO_RCVBUFFORCE`) it is at
/// least the size asked, past net.core.rmem_max.
#[test]
fn serve_sizes_its_udp_receive_buffer_and_says_what_it_got() {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:").map(|v| v.split_whitespace().nth(1) == Some("0"))))
        .unwrap_or(false);
    let rmem_max: usize =
        std::fs::read_to_string("/proc/sys/net/core/rmem_max").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let asked = (rmem_max * 2).max(1 << 20);
    let child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--level", "1", "--udp-rcvbuf", &asked.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("imcpm serve starts");
    let mut server = Server(child);
    let lines = BufReader::new(server.0.stdout.take().expect("stdout")).lines();
    let line = lines
        .map_while(Result::ok)
        .find(|l| l.contains("receive buffer"))
        .expect("serve prints the receive buffer it got");
    let got: usize = line.split("receive buffer ").nth(1).and_then(|r| r.split(' ').next()?.parse().ok()).unwrap();
    assert!(line.contains(&format!("(asked {asked})")), "{line}");
    if root {
        assert!(got >= asked, "privileged: {got} < {asked} asked ({line})");
    } else {
        assert!(got > 0, "{line}");
    }
}

/// A next hop that is down (TCP connection refused): the request is answered 500 upstream
/// (RFC 3261 §16.9: a transport error is a 503 from that hop; §16.7 step 6: a proxy sends 500
/// in place of a lone 503), never left unanswered.
#[test]
fn a_next_hop_that_is_down_gets_the_client_a_500() {
    let (_s, udp, _) = start();
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed again: connecting to it is refused
    let core = UdpSocket::bind("127.0.0.1:0").unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = core.local_addr().unwrap();
    let req = message(udp, down, "TCP", me)
        .replace(";branch=z9hG4bKsockTCP", ";branch=z9hG4bKdown")
        .replace("Via: SIP/2.0/TCP", "Via: SIP/2.0/UDP");
    core.send_to(req.as_bytes(), udp).unwrap();
    let mut buf = [0u8; 65536];
    let (n, _) = core.recv_from(&mut buf).expect("a final answer for the unreachable next hop");
    let resp = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(resp.starts_with("SIP/2.0 500"), "{resp}");
}

/// `serve` says why it rejects (a Warning header, RFC 3261 §20.43, and an info log line) and
/// logs one info line per forwarded request with the rewrite it applied.
#[test]
fn serve_says_why_it_rejects_and_logs_each_forward() {
    let log = std::env::temp_dir().join(format!("imcpm-serve-log-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--level", "1"])
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let udp: SocketAddr = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("imcpm serve: listening on udp:").and_then(|a| a.parse().ok()))
        .expect("serve prints its address");
    let server = Server(child);
    let core = UdpSocket::bind("127.0.0.1:0").unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = core.local_addr().unwrap();
    let mut buf = [0u8; 65536];
    // Each rejection is answered with a Warning saying why, and logged at info with the same
    // words: (Call-ID, request, status line, why).
    let numbered = |n: &str| {
        message(udp, me, "UDP", me)
            .replace("branch=z9hG4bKsockUDP", &format!("branch=z9hG4bKrej{n}"))
            .replace("Call-ID: sock-UDP@test", &format!("Call-ID: rej{n}@test"))
    };
    let rejections = [
        // A next hop the server cannot resolve.
        (
            "rej1@test",
            numbered("1").replace(&format!("<sip:{me};lr>"), "<sip:nowhere.invalid;lr>"),
            "SIP/2.0 503 Service Unavailable",
            "next hop nowhere.invalid cannot be resolved (not an IP address or a configured host)",
        ),
        // A Request-URI with a headers component.
        (
            "rej2@test",
            numbered("2").replacen(
                "sip:bob@im.example.net SIP/2.0",
                "sip:bob@im.example.net?Route=%3Csip:x%3E SIP/2.0",
                1,
            ),
            "SIP/2.0 400 Bad Request (headers in the Request-URI)",
            "a Request-URI carries no headers component (RFC 3261 19.1.5)",
        ),
        // A request the transaction layer cannot take (answered statelessly).
        (
            "rej3@test",
            numbered("3").replace(&format!("Via: SIP/2.0/UDP {me};branch=z9hG4bKrej3"), "Via: garbage"),
            "SIP/2.0 400 Bad Request",
            "cannot match to a transaction: malformed top Via",
        ),
        // No hop left.
        (
            "rej4@test",
            numbered("4").replace("Max-Forwards: 67", "Max-Forwards: 0"),
            "SIP/2.0 483 Too Many Hops",
            "Max-Forwards is 0",
        ),
        // An extension the proxy is required to support and does not.
        (
            "rej5@test",
            numbered("5").replace("CSeq: 1 MESSAGE\r\n", "CSeq: 1 MESSAGE\r\nProxy-Require: foo\r\n"),
            "SIP/2.0 420 Bad Extension",
            "Proxy-Require option(s) not supported: foo",
        ),
    ];
    for (_, req, status, why) in &rejections {
        core.send_to(req.as_bytes(), udp).unwrap();
        let (n, _) = core.recv_from(&mut buf).expect("an answer");
        let resp = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(resp.starts_with(&format!("{status}\r\n")), "{resp}");
        assert!(resp.contains(&format!("\r\nWarning: 399 127.0.0.1 \"{why}\"\r\n")), "{resp}");
    }
    // A Call-ID with an ESC from the wire: logged escaped, never raw.
    let req = message(udp, me, "UDP", me)
        .replace(&format!("<sip:{me};lr>"), "<sip:nowhere.invalid;lr>")
        .replace("branch=z9hG4bKsockUDP", "branch=z9hG4bKsockESC")
        .replace("Call-ID: sock-UDP@test", "Call-ID: esc\u{1b}[31mred@test");
    core.send_to(req.as_bytes(), udp).unwrap();
    let _ = core.recv_from(&mut buf).expect("an answer");
    // A forwarded one: logged with the rewrite.
    let req = message(udp, me, "UDP", me).replace("branch=z9hG4bKsockUDP", "branch=z9hG4bKsockUDP2");
    core.send_to(req.as_bytes(), udp).unwrap();
    let (n, from) = core.recv_from(&mut buf).expect("the forwarded MESSAGE");
    let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
    core.send_to(ok_for(&fwd).as_bytes(), from).unwrap();
    let _ = core.recv_from(&mut buf).expect("the 200 relayed");
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let line = |needle: &str| logged.lines().find(|l| l.contains(needle)).map(str::to_string);
    for (call_id, _, status, why) in &rejections {
        let code = status.split(' ').nth(1).unwrap();
        let rejected = line(&format!("call_id={call_id}")).unwrap_or_else(|| panic!("{call_id} not logged:\n{logged}"));
        assert!(
            rejected.contains(" INFO ")
                && rejected.contains(&format!("rejected: {why} "))
                && rejected.contains(&format!("status={code}")),
            "{rejected}"
        );
    }
    assert!(!logged.contains('\u{1b}'), "a raw ESC from the wire in the log:\n{logged}");
    assert!(logged.contains("call_id=esc\\x1b[31mred@test"), "{logged}");
    let forwarded = line("forwarded:").unwrap_or_else(|| panic!("no forward logged:\n{logged}"));
    assert!(forwarded.contains(" INFO ") && forwarded.contains("forwarded: pager CPM to IM"), "{forwarded}");
    assert!(!forwarded.contains("imcpm::"), "no module path before the message: {forwarded}");
    assert!(
        forwarded.contains("method=MESSAGE")
            && forwarded.contains("case=term")
            && forwarded.contains(&format!("next_hop={me}")),
        "{forwarded}"
    );
}
