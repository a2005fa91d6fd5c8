//! A torture suite for the reference server as a SIP proxy, in RFC 4475's four categories
//! (valid but tortuous, invalid, transaction layer, application layer), around CPM pager and
//! session traffic: `tests/fixtures/torture/cases.toml`, each case one datagram with the
//! outcome the RFCs expect, written before any run. Each is sent over real UDP to `imcpm serve`
//! by a socket playing the core, with the ISC Route set pointing past the server at a second
//! socket playing the next hop, which answers what reaches it 200.
//!
//! A forwarded case must arrive at the next hop with the server's own Route entry popped, its
//! Via on top, Max-Forwards one lower, and every other header the same in meaning (D19: the
//! oracle's canonical form) but those Appendix T rewrites (Accept-Contact, Contact,
//! P-Asserted-Service) and Content-Length; its body unchanged.
//!
//! Cases the server does not pass yet are listed in [`KNOWN_FAILING`] with the reason; the
//! test fails when one of them starts passing (remove it then), as the fault ratchet does.

use imcpm::interop::verify::meaning::canonical;
use imcpm::sip::{HeaderName, Message};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Cases that fail today, with why. Each must still fail; a fix removes its line.
const KNOWN_FAILING: &[(&str, &str)] = &[
    (
        "invalid-unknown-method-cseq-mismatch",
        "answered 400, the CSeq error found first; RFC 4475 §3.1.2.18 prefers 501 at a proxy and accepts 400",
    ),
    (
        "txn-branch-magic-cookie-only",
        "forwarded: the bare magic cookie is taken as a branch like any other; RFC 4475 §3.2.1 allows falling back to RFC 2543 matching and forwarding, and prefers a 400",
    ),
];

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    category: String,
    rule: String,
    expect: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    why: String,
    #[serde(default)]
    raw: bool,
    message: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    case: Vec<Case>,
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Serve, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--level", "1", "--domain", "im.example.net"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("imcpm serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        let line = lines.next().expect("serve prints its address").expect("readable");
        if let Some(a) = line.strip_prefix("imcpm serve: listening on udp:") {
            break a.parse().unwrap();
        }
    };
    (Serve(child), addr)
}

/// What `{N}` becomes in case `n`: in its branch and Call-ID, so that what arrives for it is
/// told from what arrives late for an earlier case.
fn marker(n: usize) -> String {
    format!("t{n}x")
}

/// The datagram of a case: placeholders replaced; unless `raw`, LF made CRLF and
/// Content-Length set to the body's length.
fn datagram(c: &Case, n: usize, server: SocketAddr, next: SocketAddr, core: SocketAddr) -> Vec<u8> {
    let text = c
        .message
        .replace("{SERVER}", &server.to_string())
        .replace("{NEXT}", &next.to_string())
        .replace("{CORE}", &core.to_string())
        .replace("{N}", &marker(n));
    if c.raw {
        return text.into_bytes();
    }
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let (head, body) = match text.split_once("\r\n\r\n") {
        Some((h, b)) => (h.to_string(), b.to_string()),
        None => (text.trim_end_matches("\r\n").to_string(), String::new()),
    };
    let mut lines: Vec<String> = head
        .split("\r\n")
        .filter(|l| {
            let n = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
            n != "content-length" && n != "l"
        })
        .map(str::to_string)
        .collect();
    lines.push(format!("Content-Length: {}", body.len()));
    format!("{}\r\n\r\n{body}", lines.join("\r\n")).into_bytes()
}

/// Datagrams received: sender and bytes.
type Got = Vec<(SocketAddr, Vec<u8>)>;

/// What arrives on `s` within `wait`, that `keep` accepts; returns early once `enough` holds
/// for what was kept.
fn collect(s: &UdpSocket, wait: Duration, keep: &dyn Fn(&[u8]) -> bool, enough: &dyn Fn(&Got) -> bool) -> Got {
    let end = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if enough(&out) {
            break;
        }
        s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match s.recv_from(&mut buf) {
            Ok((n, from)) if keep(&buf[..n]) => out.push((from, buf[..n].to_vec())),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out
}

fn is_final(b: &[u8]) -> bool {
    Message::parse(b.to_vec()).ok().and_then(|m| m.status()).is_some_and(|s| s.as_u16() >= 200)
}

/// A 200 OK to a request (its Vias, From, To with a tag, Call-ID, CSeq).
fn ok_for(req: &Message) -> Vec<u8> {
    let mut r = String::from("SIP/2.0 200 OK\r\n");
    for h in req.headers() {
        if matches!(h.name, HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq) {
            r.push_str(&String::from_utf8_lossy(req.slice(h.line)));
            r.push_str("\r\n");
        }
        if h.name == HeaderName::To {
            r.push_str(&String::from_utf8_lossy(req.slice(h.line)));
            if req.to_tag().is_none() {
                r.push_str(";tag=nh1");
            }
            r.push_str("\r\n");
        }
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r.into_bytes()
}

/// Headers compared by meaning between what came in and what went on.
fn meaning(m: &Message) -> BTreeMap<String, Vec<Vec<u8>>> {
    let skip = [
        HeaderName::Via,
        HeaderName::Route,
        HeaderName::MaxForwards,
        HeaderName::RecordRoute,
        HeaderName::AcceptContact,
        HeaderName::Contact,
        HeaderName::PAssertedService,
        HeaderName::ContentLength,
    ];
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for h in m.headers().iter().filter(|h| !skip.contains(&h.name)) {
        out.entry(h.name.canonical().to_ascii_lowercase()).or_default().push(canonical(&h.name, m.slice(h.value)));
    }
    out
}

/// What went wrong with a forwarded case, if anything.
fn check_forward(sent: &[u8], got: &[u8], server: SocketAddr) -> Result<(), String> {
    // As the server frames it: a datagram's bytes past its Content-Length are not part of it.
    let sent = imcpm::sip::frame_datagram(sent).map_err(|e| format!("the case itself does not frame: {e}"))?;
    let i = Message::parse(sent.to_vec()).map_err(|e| format!("the case itself does not parse: {e}"))?;
    let e = Message::parse(got.to_vec()).map_err(|e| format!("the forwarded request does not parse: {e}"))?;
    if i.method() != e.method() {
        return Err(format!("method {:?} became {:?}", i.method(), e.method()));
    }
    let own = format!("sip:{server}");
    if e.list_values(&HeaderName::Route).iter().any(|v| e.text(*v).contains(&own)) {
        return Err("the server's own Route entry is still there".into());
    }
    let vi = i.list_values(&HeaderName::Via).len();
    let ve = e.list_values(&HeaderName::Via).len();
    if ve != vi + 1 {
        return Err(format!("{vi} Via values in, {ve} out (one added on top expected)"));
    }
    match (i.max_forwards(), e.max_forwards()) {
        (Ok(Some(a)), Ok(Some(b))) if b + 1 == a => {}
        (Ok(None), Ok(Some(_))) => {}
        (a, b) => return Err(format!("Max-Forwards {a:?} became {b:?}")),
    }
    if i.body() != e.body() {
        return Err("the body changed".into());
    }
    let (mi, me) = (meaning(&i), meaning(&e));
    for (name, vals) in &mi {
        if me.get(name) != Some(vals) {
            return Err(format!("{name} changed meaning: {:?} -> {:?}", vals, me.get(name)));
        }
    }
    if let Some(extra) = me.keys().find(|k| !mi.contains_key(*k)) {
        return Err(format!("{extra} added"));
    }
    Ok(())
}

#[test]
fn every_torture_case_gets_the_outcome_the_rfcs_give() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torture/cases.toml");
    let file: File = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(file.case.len() >= 40, "{} cases", file.case.len());
    for cat in ["valid", "invalid", "transaction", "application"] {
        assert!(file.case.iter().any(|c| c.category == cat), "no {cat} case");
    }
    let (_serve, server) = start();
    let core = UdpSocket::bind("127.0.0.1:0").unwrap();
    let next = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (core_addr, next_addr) = (core.local_addr().unwrap(), next.local_addr().unwrap());
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    for (n, c) in file.case.iter().enumerate() {
        let bytes = datagram(c, n, server, next_addr, core_addr);
        core.send_to(&bytes, server).unwrap();
        let tag = marker(n);
        let mine = |b: &[u8]| b.windows(tag.len()).any(|w| w == tag.as_bytes());
        let never = |_: &Got| false;
        let any = |o: &Got| !o.is_empty();
        // Wait for what the case expects (at most a second), or 300 ms of nothing for a drop.
        let (next_wait, core_wait) = match c.expect.as_str() {
            "forward" => (Duration::from_secs(1), Duration::from_millis(50)),
            "reject" => (Duration::from_millis(30), Duration::from_secs(1)),
            _ => (Duration::from_millis(300), Duration::from_millis(30)),
        };
        let first_is_forward = c.expect == "forward";
        let mut at_next = collect(&next, next_wait, &mine, if first_is_forward { &any } else { &never });
        // Answer what reached the next hop, so that the server's transaction ends.
        for (from, b) in &at_next {
            if let Ok(m) = Message::parse(b.clone()) {
                if m.is_request() && m.method() != Some(&imcpm::sip::Method::Ack) {
                    next.send_to(&ok_for(&m), from).unwrap();
                }
            }
        }
        let has_final = |o: &Got| o.iter().any(|(_, b)| is_final(b));
        let at_core = collect(&core, core_wait, &mine, if c.expect == "reject" { &has_final } else { &never });
        at_next.retain(|(_, b)| !b.starts_with(b"SIP/2.0"));
        let finals: Vec<u16> = at_core
            .iter()
            .filter_map(|(_, b)| Message::parse(b.clone()).ok()?.status().map(|s| s.as_u16()))
            .filter(|s| *s >= 200)
            .collect();
        let outcome = match c.expect.as_str() {
            "forward" => match at_next.first() {
                None => Err(format!("not forwarded; answered {finals:?}")),
                Some((_, got)) => check_forward(&bytes, got, server),
            },
            "reject" => {
                let want = c.status.expect("a reject case names its status");
                if !at_next.is_empty() {
                    Err(format!("forwarded (want {want})"))
                } else if finals.first() != Some(&want) {
                    Err(format!("answered {finals:?}, want {want}"))
                } else {
                    Ok(())
                }
            }
            "drop" => {
                if at_next.is_empty() && finals.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} forwarded, answered {finals:?}", at_next.len()))
                }
            }
            other => panic!("{}: unknown expect {other:?}", c.name),
        };
        if let Err(e) = outcome {
            failed.insert(c.name.clone(), format!("[{}] {e} ({}; {})", c.category, c.rule, c.why));
        }
        // Drain late retransmissions before the next case (later ones are told apart by marker).
        let all = |_: &[u8]| true;
        let _ = collect(&next, Duration::from_millis(2), &all, &never);
        let _ = collect(&core, Duration::from_millis(2), &all, &never);
    }
    let known: BTreeMap<&str, &str> = KNOWN_FAILING.iter().copied().collect();
    let new_fail: Vec<String> =
        failed.iter().filter(|(n, _)| !known.contains_key(n.as_str())).map(|(n, e)| format!("{n}: {e}")).collect();
    let now_pass: Vec<&str> = known.keys().copied().filter(|n| !failed.contains_key(*n)).collect();
    assert!(
        new_fail.is_empty() && now_pass.is_empty(),
        "{} of {} cases fail beyond the known ones:\n{}\nknown failing that now pass (remove from KNOWN_FAILING): {now_pass:?}",
        new_fail.len(),
        file.case.len(),
        new_fail.join("\n")
    );
}
