//! Criterion bench: the reference IM server core per forwarded MESSAGE transaction, input to
//! output with no sockets. Each iteration feeds a CPM pager MESSAGE (fixture 1a, a fresh branch
//! and Call-ID, over UDP) to a level-1 `ImServer`, drains what it sends (the IM-form MESSAGE
//! toward the core), feeds the core's 200 OK back and drains again (the 200 relayed upstream).
//! Virtual time advances 500 us per transaction (2000/s), so Timer J/K expiries and the
//! transaction table (about 64k server transactions alive at steady state) are part of the cost,
//! as under `scripts/load.sh`. Only the server's work is timed; building the inputs is not. It
//! allocates through the binary's allocator (mimalloc), as `imcpm serve` does.
//!
//! `cargo bench --bench server -- --warm-up-time 1 --measurement-time 3`

// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imcpm::base::{Instant, Packet, Transport};
use imcpm::node::im_server::{ImServer, ServerConfig};
use imcpm::node::transaction::response_to;
use imcpm::node::{Input, Output, SansIo};
use imcpm::sip::Message;
use imcpm::sip::StatusCode;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The binary's allocator, so that the figures are those of `imcpm serve`.
#[global_allocator]
static ALLOCATOR: imcpm::base::alloc::Mi = imcpm::base::alloc::Mi;

const SERVER: &str = "192.0.2.1:5060";
const CORE: &str = "192.0.2.2:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples").join(name);
    String::from_utf8(std::fs::read(p).expect("fixture")).expect("UTF-8 fixture")
}

fn server() -> ImServer {
    let mut c = ServerConfig::new(
        imcpm::base::Level::One,
        "imserver.im.example.net",
        "im.example.net",
        vec![(Transport::Udp, addr(SERVER)), (Transport::Tcp, addr(SERVER))],
    );
    c.hosts.insert("scscf.im.example.net".into(), addr(CORE));
    ImServer::new(c)
}

/// The fixture as the core sends it over UDP, with `n` in its branch and Call-ID.
fn request(template: &str, n: u64) -> Vec<u8> {
    template
        .replace(
            "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
            &format!("Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK{n:x}.term"),
        )
        .replace("Call-ID: m1-4f9a@cpm.example.com", &format!("Call-ID: m{n:x}@cpm.example.com"))
        .into_bytes()
}

/// Drain until the server's next deadline; returns what it sent.
fn drain(s: &mut ImServer, out: &mut Vec<Packet>) {
    loop {
        match s.poll_output() {
            Output::Transmit(p) => out.push(p),
            Output::Timeout(_) => return,
        }
    }
}

/// Per transaction: request in, forwarded request out, 200 in, 200 out.
struct Bench {
    server: ImServer,
    template: String,
    n: u64,
    now: Instant,
    out: Vec<Packet>,
}

impl Bench {
    fn new() -> Bench {
        Bench { server: server(), template: fixture("1a_pager_cpm_rx.sip"), n: 0, now: Instant::ZERO, out: Vec::new() }
    }

    /// One transaction; returns the time the server spent on it.
    fn transaction(&mut self) -> Duration {
        self.n += 1;
        self.now = self.now + Duration::from_micros(500);
        let bytes = request(&self.template, self.n);
        let packet = Packet { transport: Transport::Udp, from: addr(CORE), to: addr(SERVER), bytes };
        self.out.clear();
        let t0 = std::time::Instant::now();
        self.server.handle_input(Input::Receive { now: self.now, packet });
        drain(&mut self.server, &mut self.out);
        let mut spent = t0.elapsed();
        // Not timed: the core's 200 OK to what the server forwarded.
        let fwd = self.out.iter().find(|p| !p.bytes.starts_with(b"SIP/2.0")).expect("the MESSAGE was forwarded");
        let (to, from) = (fwd.from, fwd.to);
        let msg = Message::parse(fwd.bytes.clone()).expect("the server forwards parseable SIP");
        let ok = response_to(&msg, StatusCode::OK, Some("b0b"));
        let packet = Packet { transport: Transport::Udp, from, to, bytes: ok };
        self.out.clear();
        let t1 = std::time::Instant::now();
        self.server.handle_input(Input::Receive { now: self.now, packet });
        drain(&mut self.server, &mut self.out);
        spent += t1.elapsed();
        debug_assert!(self.out.iter().any(|p| p.bytes.starts_with(b"SIP/2.0 200")), "the 200 was relayed");
        black_box(&self.out);
        spent
    }
}

fn bench(c: &mut Criterion) {
    // Sanity: one transaction really forwards and relays.
    let mut b = Bench::new();
    b.transaction();
    assert!(b.out.iter().any(|p| p.bytes.starts_with(b"SIP/2.0 200") && p.to == addr(CORE)));
    let mut g = c.benchmark_group("server");
    g.throughput(Throughput::Elements(1));
    let mut b = Bench::new();
    // Reach the steady state of the transaction table first (Timer J = 32 s at 2000/s).
    for _ in 0..70_000 {
        b.transaction();
    }
    let alive = b.server.transactions();
    g.bench_function("pager_message_transaction_l1_udp", |bch| {
        bch.iter_custom(|iters| (0..iters).map(|_| b.transaction()).sum())
    });
    g.finish();
    eprintln!("transactions alive at steady state: {alive}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
