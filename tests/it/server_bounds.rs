//! The reference server's tables under floods, in virtual time (no sockets): each stays within
//! its stated bound (docs/architecture.md#resource-bounds), the messages it holds per entry stay
//! bounded, a full table answers 503 with Retry-After and a Warning saying which, and every
//! entry is freed when its timer fires.

use crate::common::*;
use imcpm::base::Level;
use imcpm::base::{ClientKind, Instant, Packet, Transport};
use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::node::im_server::limits::{LAST_FORWARDS, MAX_DEFERRED, MAX_TRANSACTIONS, TableSizes};
use imcpm::node::im_server::{ImServer, ServerConfig};
use imcpm::node::{Input, Output, SansIo};
use std::time::Duration;

fn config(level: Level) -> ServerConfig {
    let mut c = ServerConfig::new(
        level,
        "imserver.im.example.net",
        "im.example.net",
        vec![(Transport::Udp, addr(SERVER)), (Transport::Tcp, addr(SERVER))],
    );
    c.hosts.insert("scscf.im.example.net".into(), addr(CORE));
    c
}

/// Feeds one server and keeps only the output of the last input (a flood's output would not
/// fit in memory), counting what went where.
struct Flood {
    server: ImServer,
    now: Instant,
    /// Requests sent toward the next hop (first sends and retransmissions).
    downstream: u64,
}

impl Flood {
    fn new(config: ServerConfig) -> Flood {
        Flood { server: ImServer::new(config), now: Instant::ZERO, downstream: 0 }
    }

    fn drain(&mut self, out: &mut Vec<Packet>) -> Instant {
        loop {
            match self.server.poll_output() {
                Output::Transmit(p) => {
                    if !p.bytes.starts_with(b"SIP/2.0") && p.to == addr(CORE) {
                        self.downstream += 1;
                    }
                    out.push(p);
                }
                Output::Timeout(t) => return t,
            }
        }
    }

    /// `bytes` from the core over UDP at the current time; what the server sent for it.
    fn send(&mut self, bytes: String) -> Vec<Packet> {
        let packet = Packet { transport: Transport::Udp, from: addr(CORE), to: addr(SERVER), bytes: bytes.into() };
        self.server.handle_input(Input::Receive { now: self.now, packet });
        let mut out = Vec::new();
        self.drain(&mut out);
        out
    }

    /// Fire every deadline up to `t` (what is sent meanwhile is counted, not kept).
    fn run_to(&mut self, t: Instant) {
        loop {
            let mut out = Vec::new();
            let next = self.drain(&mut out);
            if next > t {
                break;
            }
            self.now = next.max(self.now);
            self.server.handle_input(Input::Timeout(self.now));
        }
        self.now = t;
        self.server.handle_input(Input::Timeout(t));
        self.drain(&mut Vec::new());
    }
}

/// Fixture 1a as the core sends it over UDP, with `n` in its branch and Call-ID: a CPM pager
/// MESSAGE for the next hop `scscf.im.example.net` (the test's CORE address).
fn message(n: u64) -> String {
    static TEMPLATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEMPLATE
        .get_or_init(|| fixture("1a_pager_cpm_rx.sip"))
        .replace(
            "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
            &format!("Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKfl{n:x}"),
        )
        .replace("Call-ID: m1-4f9a@cpm.example.com", &format!("Call-ID: flood-{n:x}@cpm.example.com"))
}

/// Every table within its bound, and the bytes held per message-holding entry at most twice
/// the largest request fed (a request and its forwarded copy, or a response).
fn assert_within(s: &TableSizes, max_transactions: usize, largest: usize) {
    assert!(s.server_transactions + s.client_transactions <= max_transactions, "{s:?}");
    assert!(s.proxied <= s.client_transactions && s.by_server == s.proxied, "{s:?}");
    assert!(s.timer_entries <= 4 * (s.server_transactions + s.client_transactions) + 64, "{s:?}");
    assert!(s.last_forward <= LAST_FORWARDS, "{s:?}");
    assert!(s.held_bytes <= s.message_entries() * 2 * largest, "{s:?}: more than {} bytes per entry", 2 * largest);
}

/// 50,000 MESSAGEs with distinct Call-IDs at 5,000/s, forwarded to a next hop that never
/// answers: nothing expires for 32 s (Timer F), so all of them are alive at once, within the
/// default bound; once Timer F has fired for each, every table is empty again.
#[test]
fn a_flood_never_answered_downstream_stays_within_the_default_bounds() {
    let mut f = Flood::new(config(Level::One));
    let largest = message(50_000).len() + 200;
    let mut peak = TableSizes::default();
    for n in 0..50_000u64 {
        f.run_to(Instant::ZERO + Duration::from_micros(200 * n));
        let out = f.send(message(n));
        assert!(out.iter().all(|p| !p.bytes.starts_with(b"SIP/2.0")), "nothing answered upstream: {:?}", out.first());
        if n % 1000 == 999 {
            let s = f.server.table_sizes();
            assert_within(&s, MAX_TRANSACTIONS, largest);
            peak = s;
        }
    }
    assert_eq!((peak.server_transactions, peak.client_transactions, peak.proxied), (50_000, 50_000, 50_000));
    assert_eq!(f.server.stats().forwarded, 50_000);
    assert_eq!(f.server.stats().refused_full, 0);
    f.run_to(f.now + Duration::from_secs(33));
    // Timer E retransmitted each over UDP (0.5, 1.5, 3.5, 7.5 s, then every 4 s) until Timer F.
    assert_eq!(f.downstream, 50_000 * 11, "sent and retransmitted");
    let s = f.server.table_sizes();
    let left = (s.server_transactions, s.client_transactions, s.proxied, s.by_server, s.timer_entries);
    assert_eq!(left, (0, 0, 0, 0, 0), "{s:?}");
    assert!(s.held_bytes <= LAST_FORWARDS * largest, "{s:?}");
}

/// With the fault that re-forwards retransmissions on, the map it reads (each forwarded
/// request by its upstream branch) is filled, and stays within its bound under a flood; without
/// the fault it is never filled (nothing reads it).
#[test]
fn the_last_forward_map_is_filled_only_for_its_fault_and_stays_bounded() {
    for on in [true, false] {
        let mut c = config(Level::One);
        if on {
            c.faults = FaultSet::one(Fault::ForwardRetransmissions);
        }
        let mut f = Flood::new(c);
        for n in 0..(LAST_FORWARDS as u64 + 500) {
            f.run_to(Instant::ZERO + Duration::from_micros(200 * n));
            f.send(message(n));
        }
        let s = f.server.table_sizes();
        assert_eq!(s.last_forward, if on { LAST_FORWARDS } else { 0 }, "fault on: {on}; {s:?}");
    }
}

/// The same flood against a table of 1,000 transactions: 500 MESSAGEs get one server and one
/// client transaction each; every further one is answered 503 at once, statelessly (the table
/// never grows past its bound), with Retry-After and a Warning saying why. Once Timer F frees
/// entries, requests are forwarded again.
#[test]
fn a_full_transaction_table_answers_503_with_retry_after_and_a_warning() {
    let mut c = config(Level::One);
    c.max_transactions = 1000;
    let mut f = Flood::new(c);
    let largest = message(5000).len() + 200;
    let mut refusals = Vec::new();
    for n in 0..5000u64 {
        f.run_to(Instant::ZERO + Duration::from_millis(n));
        let out = f.send(message(n));
        let s = f.server.table_sizes();
        assert_within(&s, 1000, largest);
        if n >= 500 {
            assert_eq!(out.len(), 1, "one answer: {out:?}");
            refusals.push(out[0].clone());
        }
    }
    assert_eq!(f.server.stats().forwarded, 500);
    assert_eq!(f.server.stats().refused_full, 4500);
    let r = &refusals[0];
    assert_eq!(r.to, addr(CORE));
    insta::assert_snapshot!("server_bounds_full_table_503", text(r));
    // The refused request's retransmission gets the same answer, still without an entry.
    let again = f.send(message(600));
    assert!(first_line(&again[0]).starts_with("SIP/2.0 503"));
    assert_eq!(f.server.table_sizes().server_transactions, 500);
    // Timer F (32 s after each forward) frees them; then a new request is forwarded.
    f.run_to(Instant::ZERO + Duration::from_secs(40));
    assert_eq!(f.server.transactions(), 0);
    let out = f.send(message(9999));
    assert!(out.iter().any(|p| p.to == addr(CORE) && p.bytes.starts_with(b"MESSAGE ")), "{out:?}");
}

/// An INVITE refused for a full table: the ACK for the 503 (which carries the 503's To tag)
/// ends at the server, it is not routed on; and when the server transaction takes the last
/// entry, the forward that finds no room is answered 503 from that transaction.
#[test]
fn a_refused_invite_s_ack_stops_here_and_a_forward_without_room_gets_503() {
    let invite = fixture("5a_session_cpm_rx.sip").replace(
        "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
        "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKinv1",
    );
    let mut c = config(Level::One);
    c.max_transactions = 3;
    let mut f = Flood::new(c);
    // One forwarded MESSAGE: two transactions.
    assert!(f.send(message(1)).iter().any(|p| p.bytes.starts_with(b"MESSAGE ")));
    // The INVITE's server transaction takes the third entry; its forward finds none: 503 from
    // the transaction (after the 100 Trying), with Retry-After.
    let out = f.send(invite.clone());
    let finals: Vec<String> = out.iter().map(text).filter(|t| t.starts_with("SIP/2.0 503")).collect();
    assert_eq!(finals.len(), 1, "{out:?}");
    assert!(finals[0].contains("\r\nRetry-After: 32\r\n"), "{}", finals[0]);
    assert!(finals[0].contains("could not forward: the transaction table is full (3 transactions)"), "{}", finals[0]);
    assert!(out.iter().all(|p| !p.bytes.starts_with(b"INVITE")), "not forwarded");
    // Now full: a second INVITE gets a stateless 503; its ACK (same branch, the 503's To tag)
    // goes nowhere.
    let second = invite.replace("branch=z9hG4bKinv1", "branch=z9hG4bKinv2").replace("Call-ID: ", "Call-ID: 2");
    let out = f.send(second.clone());
    assert_eq!(out.len(), 1, "{out:?}");
    let r = text(&out[0]);
    assert!(r.starts_with("SIP/2.0 503 "), "{r}");
    let to = r.lines().find(|l| l.starts_with("To: ")).unwrap().to_string();
    let ack = ack_for(&second, &to);
    assert!(f.send(ack).is_empty(), "the ACK of a stateless refusal is not routed on");
    assert_eq!(f.server.transactions(), 3);
}

/// The ACK for a non-2xx response to `invite`: its Request-URI, top Via, From, Call-ID and
/// Route, CSeq method ACK, and the response's `To` line.
fn ack_for(invite: &str, to_line: &str) -> String {
    let head = invite.split("\r\n\r\n").next().unwrap();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap().replacen("INVITE", "ACK", 1);
    let mut out = vec![start];
    let mut via = false;
    for l in lines {
        if l.starts_with("Via:") && !via {
            via = true;
            out.push(l.to_string());
        } else if ["From:", "Call-ID:", "Route:", "Max-Forwards:"].iter().any(|p| l.starts_with(p)) {
            out.push(l.to_string());
        } else if l.starts_with("CSeq:") {
            out.push(l.replace("INVITE", "ACK"));
        }
    }
    out.push(to_line.to_string());
    format!("{}\r\nContent-Length: 0\r\n\r\n", out.join("\r\n"))
}

/// Third-party REGISTERs for ever new users: at most `max_registrations` are held; a REGISTER
/// for one more gets 503 with Retry-After and a Warning; once registrations lapse, new users
/// take their place.
#[test]
fn registrations_are_bounded() {
    let mut c = config(Level::Two);
    c.max_registrations = 100;
    let mut f = Flood::new(c);
    let reg = |n: u32| third_party_register(&format!("sip:u{n}@im.example.net"), CPM_TAGS, 60, n);
    for n in 0..150 {
        let out = f.send(reg(n));
        let r = text(&out[0]);
        if n < 100 {
            assert!(r.starts_with("SIP/2.0 200"), "{r}");
        } else {
            assert!(r.starts_with("SIP/2.0 503 "), "{r}");
            assert!(r.contains("\r\nRetry-After: 32\r\n"), "{r}");
            assert!(
                r.contains("\r\nWarning: 399 imserver.im.example.net \"registration table full (100 registrations, none lapsed); try again later\"\r\n"),
                "{r}"
            );
        }
        assert!(f.server.table_sizes().registrations <= 100);
    }
    // A known user renews; after the lapse (60 s), new users are taken.
    assert!(
        text(&f.send(reg(7).replace("CSeq: 7 REGISTER", "CSeq: 8 REGISTER").replace("tp7", "tp7b"))[0])
            .starts_with("SIP/2.0 200")
    );
    f.run_to(Instant::ZERO + Duration::from_secs(61));
    assert!(text(&f.send(reg(200))[0]).starts_with("SIP/2.0 200"));
    assert!(f.server.table_sizes().registrations <= 100);
    assert_eq!(f.server.stats().refused_full, 50);
}

/// Level 2, IM pager MESSAGEs to a local CPM user from ever new senders, each with its own
/// CPIM message ID: both conversation maps (D10) keep at most `conversation_capacity` entries,
/// forgetting the least recently used.
#[test]
fn conversation_maps_are_bounded() {
    let mut c = config(Level::Two);
    c.conversation_capacity = 200;
    c.users = vec![("sip:carol@im.example.net".into(), ClientKind::Cpm)];
    let mut f = Flood::new(c);
    let im = fixture("1b_pager_im_tx.sip");
    for n in 0..1000u64 {
        let m = im
            .replace("Via: SIP/2.0/TCP imserver.im.example.net:5060;branch=z9hG4bKas.0a9c\r\n", "")
            .replace(
                "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
                &format!("Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKcv{n}"),
            )
            .replace(
                "Route: <sip:scscf.im.example.net;lr;odi=Ax7t>",
                "Route: <sip:imserver.im.example.net;lr>, <sip:scscf.im.example.net;lr>",
            )
            .replace("sip:bob@im.example.net", "sip:carol@im.example.net")
            .replace("+15551230001@cpm.example.com", &format!("+1555{n:07}@cpm.example.com"))
            .replace("Conversation-ID: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n", "")
            .replace("Contribution-ID: 7c9e6679-7425-40de-944b-e07fc1f90ae7\r\n", "")
            .replace("Mq5cR1e2", &format!("Mq{n}"))
            .replace("Call-ID: m1-4f9a", &format!("Call-ID: cv{n}"));
        let out = f.send(reframe(&m));
        assert!(out.iter().any(|p| text(p).contains("Conversation-ID: ")), "mapped toward CPM: {out:?}");
        let s = f.server.table_sizes();
        assert!(s.conversations <= 200 && s.message_ids <= 200, "{s:?}");
    }
    let s = f.server.table_sizes();
    assert_eq!((s.conversations, s.message_ids), (200, 200));
}

/// Fault `defer-offline` keeps requests for a later registration: at most MAX_DEFERRED; the
/// next one gets 503.
#[test]
fn deferred_requests_are_bounded() {
    let mut c = config(Level::Two);
    c.faults = FaultSet::one(Fault::DeferOffline);
    let mut f = Flood::new(c);
    // carol is a CPM client who registered and then deregistered: offline.
    let reg = third_party_register("sip:carol@im.example.net", CPM_TAGS, 0, 1);
    assert!(text(&f.send(reg)[0]).starts_with("SIP/2.0 200"));
    let im = fixture("1b_pager_im_tx.sip")
        .replace("Via: SIP/2.0/TCP imserver.im.example.net:5060;branch=z9hG4bKas.0a9c\r\n", "")
        .replace(
            "Route: <sip:scscf.im.example.net;lr;odi=Ax7t>",
            "Route: <sip:imserver.im.example.net;lr>, <sip:scscf.im.example.net;lr>",
        )
        .replace("sip:bob@im.example.net", "sip:carol@im.example.net");
    for n in 0..(MAX_DEFERRED as u64 + 10) {
        let m = im
            .replace(
                "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
                &format!("Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKdf{n}"),
            )
            .replace("Call-ID: m1-4f9a", &format!("Call-ID: df{n}"));
        let r = text(&f.send(reframe(&m))[0]);
        let want = if n < MAX_DEFERRED as u64 { "SIP/2.0 202" } else { "SIP/2.0 503" };
        assert!(r.starts_with(want), "{n}: {r}");
    }
    assert_eq!(f.server.table_sizes().deferred, MAX_DEFERRED);
}
