//! `imcpm load`: conformance under load. The harness plays the S-CSCF and the clients behind
//! it, offers initial requests to the server under test on an open-loop schedule (request `k`
//! is due at a fixed time whatever happened to the ones before it), answers what the server
//! forwards as the terminating side would, and hands every message it sends or receives to the
//! same streaming judge as `check-pcap` ([`crate::check::capture::judge_feed`]): every pair is
//! judged by the oracle, and each transaction is judged as soon as it is over.
//!
//! What is measured besides the verdicts (docs/load.md):
//! - the latency of each request from its **scheduled** send time to the arrival of its final
//!   response at the harness (a late send counts against the latency: no coordinated
//!   omission), and from the harness's first send to the server's egress of the rewritten
//!   request (its processing time);
//! - requests neither forwarded nor answered within 64·T1 (RFC 3261 Timer F, 32 s): the judge
//!   finds them FAIL, unless the harness's own socket dropped datagrams: then the feed is marked
//!   incomplete before any later transaction is judged, and what cannot be known is
//!   INCONCLUSIVE;
//! - per second: offered, sent, answered, unanswered, latency percentiles.
//!
//! Services offered so far: the pager-mode MESSAGE of a remote CPM client to a local IM client
//! (T.1, terminating; a UDP non-INVITE transaction with RFC 3261 Timer E retransmissions).

// A driver: it reads the clock and opens sockets (docs/architecture.md).
#![allow(clippy::disallowed_methods)]

use crate::base::{Level, Packet, Transport};
use crate::capture::SipMessage;
use crate::check::capture::{CaptureJob, CaptureVerdicts, Feed, JudgeProgress, SutAddr, judge_feed};
use crate::sip::Message;
use hdrhistogram::Histogram;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// RFC 3261 T1.
const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2.
const T2: Duration = Duration::from_secs(4);
/// Timer F: 64·T1.
const TIMER_F: Duration = Duration::from_secs(32);
/// How often the socket's drop counter is read; `Done` words wait for the next reading, so that
/// no transaction is judged complete before a drop that could have hidden its messages shows.
const DROP_CHECK: Duration = Duration::from_millis(100);
/// Messages handed to the judge at a time.
const BATCH: usize = 256;
/// Longest wait, after a step, for the judge to finish that step's transactions.
const JUDGE_WAIT: Duration = Duration::from_secs(30);

/// One step of the schedule: a rate for a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Initial requests per second.
    pub rate: u32,
    /// How long.
    pub duration: Duration,
}

/// How a load run goes.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server under test (UDP).
    pub sut: SocketAddr,
    /// Where the harness listens (port 0: any).
    pub listen: SocketAddr,
    /// The server's interop level.
    pub level: Level,
    /// The server's domain (its local users are `userN@DOMAIN`).
    pub domain: String,
    /// Local users the requests go to, and remote CPM users they come from.
    pub population: usize,
    /// The schedule, step after step.
    pub steps: Vec<Step>,
    /// Receive buffer asked for the harness's socket.
    pub udp_rcvbuf: usize,
    /// Results kept in full per requirement and verdict.
    pub keep: usize,
    /// Stop after the first step that is not clean (a ramp).
    pub ramp: bool,
    /// A step whose p99 latency is above this is not clean.
    pub max_p99: Duration,
}

pub use crate::report::load::{Counts, LoadStats, Percentiles, Second, StepReport};

/// A load run's verdicts and measurements.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The judge's verdicts (every message).
    pub verdicts: CaptureVerdicts,
    /// The measurements.
    pub stats: LoadStats,
}

/// A snapshot for the progress line, once a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Seconds since the start.
    pub elapsed_s: f64,
    /// The rate of the current step.
    pub rate: u32,
    /// Totals so far.
    pub totals: Counts,
    /// Answered in the last second.
    pub answered_last_s: u64,
    /// Latency of the last second.
    pub latency: Percentiles,
    /// Transactions in flight.
    pub in_flight: usize,
}

/// One transaction in flight.
struct Tx {
    /// When it was due.
    due: Instant,
    /// First sent.
    sent: Instant,
    /// Its bytes, for retransmissions.
    bytes: Arc<Vec<u8>>,
    /// The server's egress of it, when seen.
    egress: Option<Instant>,
    /// The next retransmission interval.
    interval: Duration,
    /// Its step and second (by due time).
    step: usize,
    second: usize,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    Percentiles {
        count: h.len(),
        p50_us: h.value_at_quantile(0.50),
        p90_us: h.value_at_quantile(0.90),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 64 s at 3 significant digits: bounds that are always valid.
    Histogram::new_with_bounds(1, 64_000_000, 3).expect("valid histogram bounds")
}

/// A UDP socket bound to `addr` with `rcvbuf` bytes of receive buffer asked; and what it got.
fn bind(addr: SocketAddr, rcvbuf: usize) -> io::Result<(UdpSocket, usize)> {
    let s =
        socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if rcvbuf > 0 {
        s.set_recv_buffer_size(rcvbuf)?;
    }
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    let got = s.recv_buffer_size()?;
    Ok((UdpSocket::from_std(s.into())?, got))
}

/// The CPM-form pager MESSAGE of request `k` (spec example 5.3.1, terminating session case),
/// routed through the server to the harness (the ISC Route set).
fn pager(k: u64, run: &str, from: SocketAddr, sut: SocketAddr, o: &LoadOptions) -> Vec<u8> {
    let n = (k as usize) % o.population.max(1);
    let body = format!(
        "From: <sip:+1555{n:07}@cpm.example.com>\r\nTo: <sip:user{n}@{d}>\r\nDateTime: 2024-05-01T10:15:00.000Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: ld{k:x}\r\nimdn.Disposition-Notification: positive-delivery\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nHello {k}\r\n",
        d = o.domain
    );
    format!(
        "MESSAGE sip:user{n}@{d} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKld{k:x}\r\nRoute: <sip:{sut};lr>, <sip:{from};lr>\r\nMax-Forwards: 70\r\nFrom: <sip:+1555{n:07}@cpm.example.com>;tag=ld{k:x}\r\nTo: <sip:user{n}@{d}>\r\nCall-ID: ld{k:x}-{run}@harness\r\nCSeq: 1 MESSAGE\r\nP-Asserted-Identity: <sip:+1555{n:07}@cpm.example.com>\r\nP-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg\r\nAccept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\r\nConversation-ID: {conv}\r\nContribution-ID: ld{k:x}\r\nContent-Type: message/cpim\r\nContent-Length: {len}\r\n\r\n{body}",
        d = o.domain,
        conv = format_args!("c{n:x}-{run}"),
        len = body.len()
    )
    .into_bytes()
}

/// `k` of a branch or Call-ID this run made (`z9hG4bKld<hex>`, `ld<hex>-RUN@harness`).
fn k_of(branch_or_call: &[u8], run: &str) -> Option<u64> {
    let s = std::str::from_utf8(branch_or_call).ok()?;
    let hex = match s.strip_prefix("z9hG4bKld") {
        Some(h) => h,
        None => s.strip_prefix("ld")?.strip_suffix(&format!("-{run}@harness"))?,
    };
    u64::from_str_radix(hex, 16).ok()
}

/// A 200 OK (or `status`) to a request the server sent the harness: its Via, From, To (with
/// a tag), Call-ID and CSeq.
fn answer(req: &Message, status: crate::sip::StatusCode) -> Vec<u8> {
    crate::node::transaction::response_with_reason(req, status, status.reason(), Some("ldterm"))
}

/// Run the load: bind, offer the schedule, wait for the last transactions (at most 64·T1),
/// and judge everything. `progress` is called about once a second.
pub fn run_load(o: &LoadOptions, progress: &mut dyn FnMut(&Progress)) -> io::Result<LoadOutcome> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (socket, rcvbuf) = rt.block_on(async { bind(o.listen, o.udp_rcvbuf) })?;
    let me = socket.local_addr()?;
    let mut job = CaptureJob::new(vec![PathBuf::from("load")], vec![SutAddr::Addr(o.sut)], o.level);
    job.domains = vec![o.domain.clone()];
    job.keep = o.keep;
    job.complete = true;
    let counters = Arc::new(JudgeProgress::default());
    job.progress = Some(counters.clone());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Feed>>(4096);
    let judge =
        std::thread::Builder::new().name("judge".into()).spawn(move || judge_feed(&job, rx.into_iter().flatten()))?;
    let stats = rt.block_on(drive(o, &socket, me, rcvbuf, tx, &counters, progress));
    let verdicts = judge.join().map_err(|_| io::Error::other("the judge panicked"))?;
    Ok(LoadOutcome { verdicts, stats: stats? })
}

struct Driver<'a> {
    o: &'a LoadOptions,
    socket: &'a UdpSocket,
    me: SocketAddr,
    run: String,
    t0: Instant,
    wall0_us: u64,
    feed: Vec<Feed>,
    /// `Done` words held until the next drop check.
    done: Vec<Feed>,
    /// `Done` words handed to the judge.
    dones: u64,
    out: std::sync::mpsc::SyncSender<Vec<Feed>>,
    frame: u64,
    flight: HashMap<u64, Tx>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    steps: Vec<(Counts, Histogram<u64>)>,
    seconds: Vec<(Counts, Histogram<u64>)>,
    latency: Histogram<u64>,
    egress: Histogram<u64>,
    totals: Counts,
    drops: u64,
    incomplete: bool,
}

impl Driver<'_> {
    fn tap(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, at: Instant) {
        self.frame += 1;
        let time_us = self.wall0_us + at.saturating_duration_since(self.t0).as_micros() as u64;
        self.feed.push(Feed::Message(SipMessage {
            file: 0,
            frame: self.frame,
            time_us,
            section: 0,
            section_comment: Arc::from(""),
            packet: Packet::new(Transport::Udp, from, to, bytes),
        }));
        if self.feed.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.feed.is_empty() {
            let batch = std::mem::take(&mut self.feed);
            // The judge hangs up only by ending, and it ends only when this sender is dropped.
            let _ = self.out.send(batch);
        }
    }

    /// Read the drop counter; then let the held `Done` words go (after an `Incomplete` mark if
    /// datagrams were dropped).
    fn check_drops(&mut self) {
        let d = crate::net::udp_socket_drops(self.socket);
        if d > self.drops && !self.incomplete {
            self.incomplete = true;
            self.feed.push(Feed::Incomplete);
        }
        self.drops = d;
        let done = std::mem::take(&mut self.done);
        self.dones += done.len() as u64;
        self.feed.extend(done);
        self.flush();
    }

    fn second_of(&self, due: Instant) -> usize {
        (due.saturating_duration_since(self.t0).as_secs()) as usize
    }

    fn count(&mut self, step: usize, second: usize, f: impl Fn(&mut Counts)) {
        f(&mut self.totals);
        f(&mut self.steps[step].0);
        if self.seconds.len() <= second {
            self.seconds.resize_with(second + 1, || (Counts::default(), histogram()));
        }
        f(&mut self.seconds[second].0);
    }

    async fn send(&mut self, bytes: &[u8], to: SocketAddr) {
        // Loopback sends do not block for long; a failed send is as a lost datagram (the
        // retransmissions and the judge see to it).
        let _ = self.socket.send_to(bytes, to).await;
        let now = Instant::now();
        self.tap(self.me, to, bytes.to_vec(), now);
    }

    async fn offer(&mut self, k: u64, due: Instant, step: usize) {
        let bytes = Arc::new(pager(k, &self.run, self.me, self.o.sut, self.o));
        let second = self.second_of(due);
        self.count(step, second, |c| {
            c.offered += 1;
            c.sent += 1;
        });
        let sut = self.o.sut;
        self.send(&bytes, sut).await;
        let now = Instant::now();
        self.flight.insert(k, Tx { due, sent: now, bytes, egress: None, interval: T1, step, second });
        self.timers.push(Reverse((now + T1, k)));
    }

    async fn on_timer(&mut self, k: u64, now: Instant) {
        let Some(tx) = self.flight.get_mut(&k) else { return };
        if now.saturating_duration_since(tx.sent) >= TIMER_F {
            let tx = self.flight.remove(&k).expect("present");
            self.count(tx.step, tx.second, |c| c.unanswered += 1);
            self.done.push(Feed::Done(format!("ld{k:x}-{}@harness", self.run).into_bytes().into()));
            return;
        }
        let bytes = tx.bytes.clone();
        let (step, second) = (tx.step, tx.second);
        tx.interval = (tx.interval * 2).min(T2);
        let next = (now + tx.interval).min(tx.sent + TIMER_F);
        self.timers.push(Reverse((next, k)));
        self.count(step, second, |c| c.retransmissions += 1);
        let sut = self.o.sut;
        self.send(&bytes, sut).await;
    }

    async fn on_datagram(&mut self, bytes: Vec<u8>, from: SocketAddr, now: Instant) {
        self.tap(from, self.me, bytes.clone(), now);
        let Ok(msg) = Message::parse(bytes) else { return };
        if let Some(status) = msg.status() {
            // A response to one of ours: by its top Via's branch.
            let Some(k) = msg.top_via_branch().and_then(|b| k_of(b.as_bytes(), &self.run)) else { return };
            if !status.is_final() {
                return;
            }
            let Some(tx) = self.flight.remove(&k) else { return };
            let lat = now.saturating_duration_since(tx.due).as_micros() as u64;
            let _ = self.latency.record(lat.max(1));
            let _ = self.steps[tx.step].1.record(lat.max(1));
            if self.seconds.len() <= tx.second {
                self.seconds.resize_with(tx.second + 1, || (Counts::default(), histogram()));
            }
            let _ = self.seconds[tx.second].1.record(lat.max(1));
            if let Some(e) = tx.egress {
                let _ = self.egress.record(e.saturating_duration_since(tx.sent).as_micros().max(1) as u64);
            }
            let rejected = !status.is_success();
            self.count(tx.step, tx.second, |c| {
                c.answered += 1;
                if rejected {
                    c.rejected += 1;
                }
            });
            self.done.push(Feed::Done(format!("ld{k:x}-{}@harness", self.run).into_bytes().into()));
            return;
        }
        // A request the server sent on to the harness (the next hop): as the terminating side,
        // answer it (ACK aside).
        if msg.method() == Some(&crate::sip::Method::Ack) {
            return;
        }
        if let Some(k) = msg.call_id().and_then(|c| k_of(c.as_bytes(), &self.run)) {
            if let Some(tx) = self.flight.get_mut(&k) {
                tx.egress.get_or_insert(now);
            }
        }
        let resp = answer(&msg, crate::sip::StatusCode::OK);
        self.send(&resp, from).await;
    }
}

async fn drive(
    o: &LoadOptions,
    socket: &UdpSocket,
    me: SocketAddr,
    rcvbuf: usize,
    out: std::sync::mpsc::SyncSender<Vec<Feed>>,
    judge: &JudgeProgress,
    progress: &mut dyn FnMut(&Progress),
) -> io::Result<LoadStats> {
    let t0 = Instant::now() + Duration::from_millis(50);
    let wall0_us =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64) + 50_000;
    let run = format!("{:x}", wall0_us % 0xffff_ffff);
    let mut d = Driver {
        o,
        socket,
        me,
        run,
        t0,
        wall0_us,
        feed: Vec::with_capacity(BATCH),
        done: Vec::new(),
        dones: 0,
        out,
        frame: 0,
        flight: HashMap::new(),
        timers: BinaryHeap::new(),
        steps: o.steps.iter().map(|_| (Counts::default(), histogram())).collect(),
        seconds: Vec::new(),
        latency: histogram(),
        egress: histogram(),
        totals: Counts::default(),
        drops: crate::net::udp_socket_drops(socket),
        incomplete: false,
    };
    let base_drops = d.drops;
    let mut buf = vec![0u8; 65_536];
    let mut next_drop_check = t0 + DROP_CHECK;
    let mut next_progress = t0 + Duration::from_secs(1);
    let mut answered_before = 0;
    let mut first = 0u64;
    let mut ran: Vec<(u64, bool)> = Vec::new();
    for (step, st) in o.steps.iter().enumerate() {
        // Each step starts once the one before has settled (every transaction over and judged).
        let start = if step == 0 { t0 } else { Instant::now() + Duration::from_millis(20) };
        let rate = u64::from(st.rate.max(1));
        let n = rate * st.duration.as_secs();
        let due_of = |k: u64| start + Duration::from_nanos((k - first) * 1_000_000_000 / rate);
        let (end, last) = (start + st.duration, first + n);
        let mut next_k = first;
        loop {
            let now = Instant::now();
            // Everything due by now is sent now (late sends count against the latency).
            while next_k < last && due_of(next_k) <= now {
                d.offer(next_k, due_of(next_k), step).await;
                next_k += 1;
            }
            while let Some(Reverse((t, k))) = d.timers.peek().copied() {
                if t > now {
                    break;
                }
                d.timers.pop();
                d.on_timer(k, now).await;
            }
            if now >= next_drop_check {
                d.check_drops();
                next_drop_check = now + DROP_CHECK;
            }
            if now >= next_progress {
                let second = d.second_of(now).saturating_sub(1);
                let lat = d.seconds.get(second).map(|s| percentiles(&s.1)).unwrap_or_default();
                progress(&Progress {
                    elapsed_s: now.saturating_duration_since(t0).as_secs_f64(),
                    rate: st.rate,
                    totals: d.totals,
                    answered_last_s: d.totals.answered - answered_before,
                    latency: lat,
                    in_flight: d.flight.len(),
                });
                answered_before = d.totals.answered;
                next_progress += Duration::from_secs(1);
            }
            if next_k >= last && d.flight.is_empty() && now >= end {
                break;
            }
            let mut wake = next_drop_check.min(next_progress);
            if next_k < last {
                wake = wake.min(due_of(next_k));
            }
            if let Some(Reverse((t, _))) = d.timers.peek() {
                wake = wake.min(*t);
            }
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    let (n, from) = r?;
                    let now = Instant::now();
                    d.on_datagram(buf[..n].to_vec(), from, now).await;
                    // Drain what else is queued without waiting.
                    while let Ok((n, from)) = socket.try_recv_from(&mut buf) {
                        d.on_datagram(buf[..n].to_vec(), from, Instant::now()).await;
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        first = last;
        // Let the judge catch up with this step (bounded), then see whether it was clean.
        d.check_drops();
        let caught_up = Instant::now() + JUDGE_WAIT;
        while judge.done.load(Ordering::Acquire) < d.dones && Instant::now() < caught_up {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let failing = judge.failing.load(Ordering::Relaxed);
        let before: u64 = ran.iter().map(|r| r.0).sum();
        let (c, h) = &d.steps[step];
        let p99 = Duration::from_micros(percentiles(h).p99_us);
        let clean = failing == before && c.unanswered == 0 && p99 <= o.max_p99;
        ran.push((failing - before, clean));
        if o.ramp && !clean {
            break;
        }
    }
    d.flush();
    let per = |h: &Histogram<u64>| vec![("pager".to_string(), percentiles(h))];
    let steps: Vec<StepReport> = ran
        .iter()
        .zip(o.steps.iter().zip(&d.steps))
        .map(|(&(failing, clean), (s, (c, h)))| StepReport {
            rate: s.rate,
            duration_s: s.duration.as_secs(),
            achieved: c.answered as f64 / s.duration.as_secs_f64().max(1.0),
            counts: *c,
            latency: percentiles(h),
            failing,
            clean,
        })
        .collect();
    let last_clean_rate = steps.iter().take_while(|s| s.clean).last().map(|s| s.rate);
    let seconds = d
        .seconds
        .iter()
        .enumerate()
        .map(|(i, (c, h))| Second { at_s: i as u64, counts: *c, latency: percentiles(h) })
        .collect();
    Ok(LoadStats {
        sut: o.sut.to_string(),
        harness: me.to_string(),
        population: o.population,
        steps,
        last_clean_rate,
        max_p99_ms: o.max_p99.as_millis() as u64,
        seconds,
        latency: per(&d.latency),
        egress_latency: per(&d.egress),
        totals: d.totals,
        drops: d.drops - base_drops,
        rcvbuf,
        messages: d.frame,
    })
}
