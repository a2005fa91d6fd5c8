//! Judging captures: the SIP messages of one or more pcap/pcapng files (the capture reader,
//! [`crate::capture::read_captures`]) are judged by the same oracle as every other command, as
//! an incomplete trace: what the capture does not show is INCONCLUSIVE, never a PASS or a
//! FAIL. The IM server is told by its addresses (`--sut`); packets to it are ingress, packets
//! from it egress.
//!
//! Streaming, in bounded memory: a proxy keeps the Call-ID, so the messages are held per
//! dialog (Call-ID) and each dialog is judged on its own (`judge_local_in`, the pair and
//! trace rules unchanged) once it has been quiet for [`Window::idle`] of capture time (64*T1,
//! every transaction timer of RFC 3261 has fired), or earlier, least recently active first,
//! when the messages held pass [`Window::max_bytes`] (counted: "closed early"). What spans
//! dialogs is kept in small, bounded state: registrations learnt from third-party REGISTERs,
//! the deliveries the Conversation-ID rules compare (judged in batches of
//! [`Window::max_deliveries`]), and the requests toward offline clients and the requests the
//! server sent of its own accord (the no-deferral rule, at most [`Window::max_pending`] each).
//! What falls outside is counted in [`WindowInfo`] and reported, never silently dropped.
//!
//! Results are keyed by capture file and dialog (Call-ID) in place of a scenario, and findings
//! point at the capture's own frame numbers (1-based, as Wireshark numbers them). They go into
//! an [`Aggregate`]: counts of every result, the first of each kind in full.

use super::redact;
use crate::base::{ClientKind, Instant, Level, Role, Trace};
use crate::capture::{CaptureError, ReadOptions, ReadStats, SipMessage, read_captures};
use crate::interop::finding::{Finding, Verdict};
use crate::interop::registration::aor_of;
use crate::interop::verify::TraceContext;
use crate::interop::verify::convid::{Earlier, judge_conversations_after};
use crate::interop::verify::judge::Judge;
use crate::interop::verify::trace::{
    Delivery, Offline, PairRecord, Registrations, Sent, judge_deferred, judge_local_of,
};
use crate::report::aggregate::{Aggregate, DEFAULT_KEEP};
use crate::report::model::{Flow, FlowMessage};
use crate::report::{self, ResultItem};
use crate::scenario::glob;
use crate::sip::Message;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Which address of a capture is the IM server: a host (any port) or a host and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SutAddr {
    /// Every port of this host.
    Host(IpAddr),
    /// This address only.
    Addr(SocketAddr),
}

impl std::fmt::Display for SutAddr {
    /// As given on the command line: `192.0.2.1`, `192.0.2.1:5060`, `[2001:db8::1]:5060`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SutAddr::Host(h) => write!(f, "{h}"),
            SutAddr::Addr(a) => write!(f, "{a}"),
        }
    }
}

impl std::str::FromStr for SutAddr {
    type Err = String;
    /// `HOST` or `HOST:PORT`; an IPv6 host in brackets (`[2001:db8::1]:5060`) or bare.
    fn from_str(s: &str) -> Result<SutAddr, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(SutAddr::Addr(a));
        }
        let host = s.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(s);
        host.parse::<IpAddr>().map(SutAddr::Host).map_err(|_| {
            format!(
                "`{}` is not an IP address with an optional port (192.0.2.1, 192.0.2.1:5060, [2001:db8::1]:5060)",
                crate::base::escape::escape(s)
            )
        })
    }
}

/// The bounds of the judging window. Defaults: docs/captures.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// A dialog quiet this long (capture time) is judged and forgotten.
    pub idle: Duration,
    /// At most this many bytes of SIP messages held; past it the least recently active dialog
    /// is judged early.
    pub max_bytes: usize,
    /// Deliveries to or from local CPM clients compared together by the Conversation-ID rules.
    pub max_deliveries: usize,
    /// Requests toward offline clients, and requests the server sent of its own accord, kept
    /// for the no-deferral rule (each).
    pub max_pending: usize,
    /// Users whose registrations are remembered.
    pub max_users: usize,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            idle: Duration::from_secs(32),
            max_bytes: 24 << 20,
            max_deliveries: 20_000,
            max_pending: 10_000,
            max_users: 100_000,
        }
    }
}

/// What to judge and how.
#[derive(Debug, Clone)]
pub struct CaptureJob {
    /// The capture files, merged in time order.
    pub files: Vec<PathBuf>,
    /// The IM server's addresses.
    pub sut: Vec<SutAddr>,
    /// Its interop level (a capture cannot tell: docs/decisions.md D14).
    pub level: Level,
    /// Domains it serves (terminating when the Request-URI is in one; D13's last resort).
    pub domains: Vec<String>,
    /// Client kinds of local users, from a users file (third-party REGISTERs add to them).
    pub users: BTreeMap<String, ClientKind>,
    /// Reader options (extra SIP ports, bounds).
    pub read: ReadOptions,
    /// The judging window.
    pub window: Window,
    /// Results kept in full per (requirement, verdict).
    pub keep: usize,
    /// Ladders (message flows of dialogs) kept for the HTML report, failing dialogs first.
    pub ladders: usize,
    /// Only results whose requirement ID or key matches one of these globs (none: all).
    pub filter: Vec<String>,
    /// Pseudonymise user parts and phone numbers in results and ladders.
    pub redact: bool,
    /// The messages are everything the server sent and received on the observed path (a load
    /// run's own sockets, which dropped nothing): a request the server never forwarded nor
    /// answered is FAIL, not INCONCLUSIVE as in a capture.
    pub complete: bool,
    /// Counters the judge keeps up to date as it goes, for a caller that feeds it live.
    pub progress: Option<Arc<JudgeProgress>>,
    /// Threads that judge dialogs beside the one that files them ([`judge_captures`] only; 0:
    /// each dialog judged where it is filed). The results are the same, in the same order,
    /// whatever the number.
    pub threads: usize,
}

/// What a live-fed judge has done so far ([`CaptureJob::progress`]).
#[derive(Debug, Default)]
pub struct JudgeProgress {
    /// [`Feed::Done`] words handled.
    pub done: std::sync::atomic::AtomicU64,
    /// Results that fail a run (FAIL, ERROR, XPASS) counted so far.
    pub failing: std::sync::atomic::AtomicU64,
}

impl CaptureJob {
    /// A job with the default window, results and ladders, no domain, users or filter.
    pub fn new(files: Vec<PathBuf>, sut: Vec<SutAddr>, level: Level) -> CaptureJob {
        CaptureJob {
            files,
            sut,
            level,
            domains: Vec::new(),
            users: BTreeMap::new(),
            read: ReadOptions::default(),
            window: Window::default(),
            keep: DEFAULT_KEEP,
            ladders: 20,
            filter: Vec::new(),
            redact: false,
            complete: false,
            progress: None,
            threads: 0,
        }
    }
}

/// What [`judge_feed`] is fed: messages as a capture reader would deliver them, and word that a
/// dialog is over.
#[derive(Debug)]
pub enum Feed {
    /// One message.
    Message(SipMessage),
    /// The dialog of this Call-ID (file 0) is over: judge it now rather than after the window's
    /// idle time.
    Done(Box<[u8]>),
    /// From here on the feed may miss messages (the observer dropped some): what was not seen
    /// is INCONCLUSIVE, as in a capture, even with [`CaptureJob::complete`].
    Incomplete,
    /// This address is the server's too (its end of a TCP connection it opened toward the
    /// feeder, from an ephemeral port), whatever its messages' Via says.
    SutPeer(SocketAddr),
    /// A request the feeder meant to offer but could not send, so nothing of it can be judged:
    /// an ERROR of the harness under the requirement that would have judged it (its dialog's
    /// Call-ID as the result's key), counted as every result is.
    Unjudged {
        /// The requirement that would have judged it.
        requirement: crate::interop::rules::ReqId,
        /// The dialog's Call-ID.
        call: Box<[u8]>,
        /// Why it was not sent.
        why: String,
    },
}

/// The verdicts of a capture.
#[derive(Debug)]
pub struct CaptureVerdicts {
    /// Every result counted, the first of each kind in full.
    pub aggregate: Aggregate,
    /// Ladders of some dialogs (failing ones first), numbered by frame.
    pub flows: Vec<Flow>,
    /// Dialogs judged whose ladder was not kept.
    pub flows_left_out: usize,
    /// What the reader counted, including what it could not judge.
    pub stats: ReadStats,
    /// The first truncated or corrupt file, if any: everything before it was judged.
    pub error: Option<CaptureError>,
    /// Requests entering the server that were paired and judged.
    pub pairs: usize,
    /// What the window held and what fell outside it.
    pub window: WindowInfo,
    /// Most dialogs, and most bytes of their messages, out with the judging threads at once
    /// ([`CaptureJob::threads`]; 0 without them).
    pub out_peak: (usize, usize),
}

/// A judged unit of the capture: the whole merged capture, or one `imcpm run` section.
struct Part {
    /// Key of results not tied to a message.
    label: String,
    /// Shared with the dialogs being judged on other threads; changed only when none is
    /// ([`Streaming::settle`] first).
    ctx: Arc<TraceContext>,
    regs: Arc<Registrations>,
    /// Deliveries not judged yet, their message IDs global.
    deliveries: Vec<Delivery>,
    offline: Vec<Offline>,
    sent: Vec<Sent>,
    /// Result key and frame of each global message ID the cross-dialog state refers to.
    ids: HashMap<usize, (Arc<str>, u64, Instant)>,
    /// Each pair's or group's first Conversation-ID in the batches judged so far.
    earlier: Earlier,
}

/// The messages of one dialog not judged yet.
struct Bucket {
    trace: Trace,
    /// File, frame and arrival number (capture order, all files) of each message.
    at: Vec<(usize, u64, usize)>,
    /// Bytes held for it, per-message overhead included.
    bytes: usize,
    /// Bumped at each message: a queue entry with an older one is stale.
    generation: u64,
    /// Top-Via branches of the requests it holds that entered the server (for pairing what the
    /// server sends with another Call-ID).
    branches: Vec<Box<[u8]>>,
    /// A dialog of this key was judged early before: this one may hold the rest of it.
    after_cut: bool,
}

/// Messages of a dialog drawn in its ladder.
const MAX_LADDER_MESSAGES: usize = 200;
/// Bytes of a message shown in a ladder.
const MAX_LADDER_TEXT: usize = 16 << 10;

/// Bytes counted per message held besides its own (its place in the trace, the queue and the
/// maps).
const OVERHEAD: usize = 160;
/// Keys of dialogs judged early that are remembered, for twice the idle time at most (a later
/// message of one is judged apart, and what it holds is not trusted by the no-deferral rule).
const MAX_CUT_KEYS: usize = 65_536;

type BucketKey = (usize, Box<[u8]>);

/// A dialog key in use: the key, its bucket while it holds messages not judged yet, and how
/// many queue entries name it. The slot (and the key's number) is given up when neither is left,
/// so that a key keeps its number as long as a queue entry can name it.
struct Slot {
    key: BucketKey,
    bucket: Option<Bucket>,
    refs: usize,
    /// Given up (on [`Streaming::free`]).
    freed: bool,
}

/// Messages handed from the reader thread to the judge at a time (or fewer, up to
/// [`BATCH_BYTES`]).
const BATCH: usize = 256;
/// Bytes of messages handed over at a time.
const BATCH_BYTES: usize = 64 << 10;
/// Batches in flight between them.
const READ_AHEAD: usize = 8;

struct Streaming<'a> {
    job: &'a CaptureJob,
    names: Vec<String>,
    parts: Vec<Part>,
    part_of: HashMap<(usize, u32), usize>,
    /// Dialog keys in use, by number ([`Slot`]); `free` lists the numbers given up.
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// The number of each key in use.
    numbers: HashMap<BucketKey, usize>,
    /// Buckets held.
    dialogs_held: usize,
    /// Activity order: (time, generation, key number), one entry per message, stale ones skipped.
    queue: VecDeque<(Instant, u64, usize)>,
    held: usize,
    now: Instant,
    /// Arrival number of the next message.
    seq: usize,
    /// Ingress top-Via branch -> the dialog holding that request.
    by_branch: HashMap<Box<[u8]>, usize>,
    /// Hashes of the keys of dialogs judged early, oldest first, with when (a collision only
    /// makes a dialog's requests untrusted by the no-deferral rule).
    cut: (VecDeque<(Instant, u64)>, std::collections::HashSet<u64>),
    /// The pcapng section each file is in (by file index; None before its first message).
    section_now: Vec<Option<u32>>,
    aggregate: Aggregate,
    flows: Vec<(bool, Flow)>,
    flows_left_out: usize,
    pairs: usize,
    info: WindowInfo,
    /// Other addresses of a `--sut IP:PORT` the server spoke from (connections it opened).
    sut_peers: std::collections::HashSet<SocketAddr>,
    /// The feed was marked [`Feed::Incomplete`]: every part, including one made later, judges
    /// as an incomplete, lossy trace.
    lossy: bool,
    /// Threads judging dialogs, when there are any.
    pool: Option<Pool>,
    /// [`CaptureVerdicts::out_peak`].
    out_peak: (usize, usize),
}

/// A dialog to judge on another thread: what [`judge_dialog`] needs, owned or shared.
struct Job {
    ctx: Arc<TraceContext>,
    regs: Arc<Registrations>,
    trace: Trace,
    now: Instant,
}

/// Dialogs handed over together (a thread woken per dialog would cost as much as judging it),
/// the first with sequence number `seq`, the others after it.
struct Jobs {
    seq: u64,
    list: Vec<Job>,
}

/// What judging a dialog gives ([`judge_dialog`]).
struct Judged {
    /// The dialog's messages, given back.
    trace: Trace,
    pairs: Vec<PairRecord>,
    /// The pair and trace rules' findings, message indices local to the dialog.
    findings: Vec<Finding>,
    delivered: Vec<Delivery>,
    offline: Vec<Offline>,
    sent: Vec<Sent>,
}

/// A dialog filed and handed over, waiting for its result to be taken in its turn.
struct Waiting {
    part: usize,
    /// The dialog without its messages (they are with the judging thread).
    bucket: Bucket,
    keys: Vec<Arc<str>>,
    first_key: Arc<str>,
    early: bool,
    result: Option<Judged>,
}

/// Threads judging dialogs ([`CaptureJob::threads`]). Dialogs are handed over in the order the
/// sequential judge would judge them, and their results taken in that same order
/// ([`Streaming::collect`]), so reports do not depend on which thread finished first.
struct Pool {
    jobs: std::sync::mpsc::Sender<Jobs>,
    results: std::sync::mpsc::Receiver<(u64, std::thread::Result<Vec<Judged>>)>,
    /// Handed over (or about to be, in `batch`) and not taken yet, oldest first; the first has
    /// sequence number `first`.
    waiting: VecDeque<Waiting>,
    first: u64,
    /// Dialogs not handed over yet: the last ones of `waiting`.
    batch: Vec<Job>,
    batch_bytes: usize,
    /// Bytes of the dialogs in `waiting` (bounded by [`IN_FLIGHT_BYTES`]).
    bytes: usize,
    /// At most this many dialogs in `waiting`.
    limit: usize,
}

impl Pool {
    /// Hand over the dialogs gathered.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let seq = self.first + (self.waiting.len() - self.batch.len()) as u64;
        self.batch_bytes = 0;
        let list = std::mem::replace(&mut self.batch, Vec::with_capacity(JOB_DIALOGS));
        if self.jobs.send(Jobs { seq, list }).is_err() {
            unreachable!("the judging threads end only when the pool is dropped");
        }
    }
}

/// Dialogs handed over at a time, at most, or fewer up to [`JOB_BYTES`].
const JOB_DIALOGS: usize = 32;
/// Bytes of dialogs handed over at a time.
const JOB_BYTES: usize = 128 << 10;
/// Bytes of messages out with the judging threads at most (besides the window's).
const IN_FLIGHT_BYTES: usize = 4 << 20;

/// Judge the messages of a dialog: each parsed in place (its bytes lent to the parse and given
/// back after), the pair and trace rules run, their findings gathered.
fn judge_dialog(ctx: &TraceContext, regs: &Registrations, mut trace: Trace, now: Instant) -> Judged {
    let msgs: Vec<Option<Message>> = trace
        .events
        .iter_mut()
        .map(|e| Message::parse_or_keep(std::mem::take(&mut e.packet.bytes)).map_err(|x| e.packet.bytes = x).ok())
        .collect();
    let local = judge_local_of(ctx, &trace, &msgs, Some(regs), Some(now));
    for (e, m) in trace.events.iter_mut().zip(msgs) {
        if let Some(m) = m {
            e.packet.bytes = m.into_bytes();
        }
    }
    let mut findings = local.report.findings;
    findings.extend(local.judge.finish_trace());
    Judged {
        trace,
        pairs: local.report.pairs,
        findings,
        delivered: local.delivered,
        offline: local.offline,
        sent: local.sent,
    }
}

/// At most this many [`Streaming::sut_peers`] are learnt (one per TCP connection the server
/// opens); past it, more connections of the server are not recognised as the server's.
const MAX_SUT_PEERS: usize = 4096;

/// Judge the capture files of `job`. A pcapng section whose comment names an `imcpm run`
/// (`imcpm run: t1/pager L2`, as `imcpm run --pcap` writes one per scenario and level) is
/// judged on its own at the level it names; everything else together.
pub fn judge_captures(job: &CaptureJob) -> CaptureVerdicts {
    // The reader runs on a thread of its own and hands over messages in batches (a bounded
    // channel: at most READ_AHEAD batches in flight), so reading and judging overlap; dialogs
    // are judged on `job.threads` more.
    let (s, stats, error) = std::thread::scope(|scope| {
        // Made here, so that a panic drops it (and with it the pool's end of the channel its
        // threads wait on) before the scope waits for them.
        let mut s = streaming(job);
        if job.threads > 0 {
            let (jobs, queue) = std::sync::mpsc::channel::<Jobs>();
            let queue = Arc::new(std::sync::Mutex::new(queue));
            let (done, results) = std::sync::mpsc::channel();
            let mut started = 0;
            for i in 0..job.threads {
                let (queue, done) = (queue.clone(), done.clone());
                let worker = move || {
                    loop {
                        // The lock is held only to take a job; a poisoned one still hands them out.
                        let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                        let Ok(Jobs { seq, list }) = next else { return };
                        // A panic goes back with the results, to be raised where the sequential
                        // judge would have raised it.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                            list.into_iter().map(|j| judge_dialog(&j.ctx, &j.regs, j.trace, j.now)).collect()
                        }));
                        if done.send((seq, r)).is_err() {
                            return;
                        }
                    }
                };
                // A system that refuses more threads (a process limit) gets the judging done
                // on those it gave, or on this one.
                match std::thread::Builder::new().name(format!("judge-{i}")).spawn_scoped(scope, worker) {
                    Ok(_) => started += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "judging thread {} of {} not started; judging on {started}", i + 1, job.threads);
                        break;
                    }
                }
            }
            if started > 0 {
                s.pool = Some(Pool {
                    jobs,
                    results,
                    waiting: VecDeque::new(),
                    first: 0,
                    batch: Vec::with_capacity(JOB_DIALOGS),
                    batch_bytes: 0,
                    bytes: 0,
                    limit: 4 * JOB_DIALOGS * started,
                });
            }
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<SipMessage>>(READ_AHEAD);
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut bytes = 0;
            let out = read_captures(&job.files, &job.read, |m| {
                bytes += m.packet.bytes.len();
                batch.push(m);
                if batch.len() == BATCH || bytes >= BATCH_BYTES {
                    bytes = 0;
                    // The judge hangs up only by ending, and it never ends before the reader.
                    let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            });
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            out
        });
        for batch in rx {
            for m in batch {
                s.push(m);
            }
        }
        s.finish();
        // Its threads end when the channel they wait on closes.
        s.pool = None;
        let (stats, error) = reader.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (s, stats, error)
    });
    verdicts(s, stats, error)
}

/// Judge messages fed one by one (a load run's own traffic, say) as [`judge_captures`] judges a
/// capture: `job.files` names the source (one entry; every message has `file` 0). `stats`
/// counts messages and SIP messages fed.
pub fn judge_feed(job: &CaptureJob, feed: impl IntoIterator<Item = Feed>) -> CaptureVerdicts {
    let mut s = streaming(job);
    let mut n = 0;
    for f in feed {
        match f {
            Feed::Message(m) => {
                n += 1;
                s.push(m);
            }
            Feed::Done(call) => s.done(call),
            Feed::Incomplete => {
                s.settle();
                s.lossy = true;
                for p in &mut s.parts {
                    let ctx = Arc::make_mut(&mut p.ctx);
                    ctx.complete = false;
                    ctx.lossy = true;
                }
            }
            Feed::SutPeer(a) => s.add_sut_peer(a),
            Feed::Unjudged { requirement, call, why } => {
                let f = Finding::harness(requirement, "the request offered to the server", why);
                let key = String::from_utf8_lossy(&call).into_owned();
                let level = job.level;
                for r in report::group_owned(&key, level, vec![f]) {
                    s.add(r);
                }
            }
        }
    }
    let stats = ReadStats { frames: n, frames_per_file: vec![n], sip: n, ..ReadStats::default() };
    s.finish();
    verdicts(s, stats, None)
}

/// The verdicts of a judge that has finished ([`Streaming::finish`]).
fn verdicts(s: Streaming<'_>, stats: ReadStats, error: Option<CaptureError>) -> CaptureVerdicts {
    let mut flows: Vec<(bool, Flow)> = s.flows;
    flows.sort_by_key(|(failing, _)| !*failing);
    CaptureVerdicts {
        aggregate: s.aggregate,
        flows: flows.into_iter().map(|(_, f)| f).collect(),
        flows_left_out: s.flows_left_out,
        stats,
        error,
        pairs: s.pairs,
        window: s.info,
        out_peak: s.out_peak,
    }
}

fn streaming(job: &CaptureJob) -> Streaming<'_> {
    let names = (0..job.files.len())
        .map(|i| job.files[i].file_name().map_or_else(|| format!("file {i}"), |n| n.to_string_lossy().into_owned()))
        .collect::<Vec<_>>();
    let label = names.join(" + ");
    let mut s = Streaming {
        job,
        parts: Vec::new(),
        names,
        part_of: HashMap::new(),
        slots: Vec::new(),
        free: Vec::new(),
        numbers: HashMap::new(),
        dialogs_held: 0,
        queue: VecDeque::new(),
        held: 0,
        now: Instant::ZERO,
        seq: 0,
        by_branch: HashMap::new(),
        cut: (VecDeque::new(), std::collections::HashSet::new()),
        section_now: Vec::new(),
        sut_peers: std::collections::HashSet::new(),
        lossy: false,
        pool: None,
        out_peak: (0, 0),
        aggregate: Aggregate::new(job.keep),
        flows: Vec::new(),
        flows_left_out: 0,
        pairs: 0,
        info: WindowInfo {
            idle_ms: job.window.idle.as_millis() as u64,
            max_bytes: job.window.max_bytes,
            max_deliveries: job.window.max_deliveries,
            max_pending: job.window.max_pending,
            ..WindowInfo::default()
        },
    };
    s.new_part(label, job.level);
    s
}

fn key_hash(k: &BucketKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    k.hash(&mut h);
    h.finish()
}

/// A capture time (µs since the Unix epoch) in RFC 3339 UTC with microseconds.
fn capture_time(t: Instant) -> String {
    let mut s = report::write::rfc3339(t.0 / 1_000_000);
    // `...:SSZ` -> `...:SS.ffffffZ`
    s.pop();
    s.push('.');
    crate::base::push_digits(&mut s, t.0 % 1_000_000, 6);
    s.push('Z');
    s
}

/// The lines of a message after its first, split at LF (a CR before it kept), up to the end of
/// the bytes: `bytes.split(|b| *b == b'\n').skip(1)`, found with memchr.
fn lines_after_first(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    // One search over the bytes, its state kept from line to line.
    let mut ends = memchr::memchr_iter(b'\n', bytes);
    let mut start = ends.next().map(|i| i + 1);
    std::iter::from_fn(move || {
        let s = start?;
        Some(match ends.next() {
            Some(i) => {
                start = Some(i + 1);
                &bytes[s..i]
            }
            None => {
                start = None;
                &bytes[s..]
            }
        })
    })
}

/// The `branch` parameters of the first two Via values of a message, by a scan of its header
/// lines (`Via` or `v`, several values on a line split at commas outside quotes).
fn via_branches(bytes: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    let mut found: [Option<&[u8]>; 2] = [None, None];
    let mut n = 0;
    for line in lines_after_first(bytes) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || n == 2 {
            break;
        }
        // The name (trimmed) starts with the line's first non-blank byte.
        if !matches!(line.iter().find(|b| !b.is_ascii_whitespace()), Some(b'v' | b'V')) {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else { continue };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v")) {
            continue;
        }
        // The values split at commas outside quotes, jumping from one `"` or `,` to the next.
        let mut quoted = false;
        let mut start = colon + 1;
        let mut i = colon + 1;
        while n < 2 {
            match memchr::memchr2(b'"', b',', &line[i..]) {
                Some(k) => {
                    let at = i + k;
                    if line[at] == b'"' {
                        quoted = !quoted;
                    } else if !quoted {
                        found[n] = branch_of(&line[start..at]);
                        n += 1;
                        start = at + 1;
                    }
                    i = at + 1;
                }
                None => {
                    found[n] = branch_of(&line[start..]);
                    n += 1;
                    break;
                }
            }
        }
    }
    (found[0], found[1])
}

/// The value of the `branch` parameter of one Via value.
fn branch_of(via: &[u8]) -> Option<&[u8]> {
    // The parts after the first `;`, each `name=value`: the first named `branch` with a value.
    let mut rest = &via[memchr::memchr(b';', via)? + 1..];
    loop {
        let (part, next) = match memchr::memchr(b';', rest) {
            Some(k) => (&rest[..k], Some(&rest[k + 1..])),
            None => (rest, None),
        };
        if let Some(eq) = part.iter().position(|b| *b == b'=') {
            let v = part[eq + 1..].trim_ascii();
            if part[..eq].trim_ascii().eq_ignore_ascii_case(b"branch") && !v.is_empty() {
                return Some(v);
            }
        }
        rest = next?;
    }
}

/// The Call-ID of a message, by a scan of its header lines (`Call-ID` or `i`), trimmed.
fn call_id_of(bytes: &[u8]) -> &[u8] {
    for line in lines_after_first(bytes) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        // The name (trimmed) starts with the line's first non-blank byte.
        if !matches!(line.iter().find(|b| !b.is_ascii_whitespace()), Some(b'c' | b'C' | b'i' | b'I')) {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else { continue };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
            return line[colon + 1..].trim_ascii();
        }
    }
    b""
}

impl Streaming<'_> {
    fn new_part(&mut self, label: String, level: Level) -> usize {
        let job = self.job;
        let peers = self.sut_peers.iter().copied();
        self.parts.push(Part {
            label,
            ctx: Arc::new(TraceContext {
                level,
                sut: job
                    .sut
                    .iter()
                    .filter_map(|s| if let SutAddr::Addr(a) = s { Some(*a) } else { None })
                    .chain(peers)
                    .collect(),
                sut_hosts: job
                    .sut
                    .iter()
                    .filter_map(|s| if let SutAddr::Host(h) = s { Some(*h) } else { None })
                    .collect(),
                role: Role::Proxy,
                domains: job.domains.clone(),
                users: job.users.clone(),
                complete: job.complete && !self.lossy,
                lossy: self.lossy,
            }),
            regs: Arc::default(),
            deliveries: Vec::new(),
            offline: Vec::new(),
            sent: Vec::new(),
            ids: HashMap::new(),
            earlier: Earlier::default(),
        });
        self.parts.len() - 1
    }

    fn part_for(&mut self, m: &SipMessage) -> usize {
        if !m.section_comment.starts_with(crate::capture::RUN_COMMENT_PREFIX) {
            return 0;
        }
        if let Some(p) = self.part_of.get(&(m.file, m.section)) {
            return *p;
        }
        let label = format!("{} [{}]", self.names[m.file], m.section_comment.replace('\n', " "));
        let p = self.new_part(label, section_level(&m.section_comment).unwrap_or(self.job.level));
        self.part_of.insert((m.file, m.section), p);
        p
    }

    fn push(&mut self, m: SipMessage) {
        let time = Instant(m.time_us);
        self.now = self.now.max(time);
        // An `imcpm run` section of a file that has moved on to its next section is over.
        if self.section_now.len() <= m.file {
            self.section_now.resize(m.file + 1, None);
        }
        if self.section_now[m.file].replace(m.section).is_some_and(|s| s != m.section) {
            let over: Vec<usize> =
                self.part_of.iter().filter(|((f, s), _)| *f == m.file && *s != m.section).map(|(_, p)| *p).collect();
            for p in over {
                self.finish_part(p);
            }
        }
        self.learn_sut_peer(&m);
        let part = self.part_for(&m);
        let to_sut = self.is_sut(&m.packet.to);
        if m.packet.bytes.starts_with(b"REGISTER ") && to_sut {
            self.learn_registration(part, &m.packet.bytes, time);
        }
        let bytes = &m.packet.bytes;
        let (top, second) = via_branches(bytes);
        // The dialog of the request the server received that this message answers or carries
        // on (the server's Via on top of it), whatever its Call-ID; else its Call-ID's.
        let held = [second, top].into_iter().flatten().find_map(|b| self.by_branch.get(b).copied());
        let id = match held {
            Some(id) => id,
            None => self.number((part, call_id_of(bytes).into())),
        };
        let ingress = to_sut && !bytes.starts_with(b"SIP/") && !bytes.starts_with(b"ACK ");
        let slot = &mut self.slots[id];
        let len = bytes.len() + OVERHEAD + slot.key.1.len();
        if slot.bucket.is_none() {
            let cut = &self.cut.1;
            let after_cut = !cut.is_empty() && cut.contains(&key_hash(&slot.key));
            slot.bucket = Some(Bucket {
                trace: Trace::default(),
                at: Vec::new(),
                bytes: 0,
                generation: 0,
                branches: Vec::new(),
                after_cut,
            });
            self.dialogs_held += 1;
        }
        let Some(b) = slot.bucket.as_mut() else { unreachable!("a bucket was put in the slot just above") };
        if let (true, Some(t)) = (ingress, top) {
            if !self.by_branch.contains_key(t) {
                self.by_branch.insert(t.into(), id);
                b.branches.push(t.into());
            }
        }
        b.trace.push(time, m.packet);
        b.at.push((m.file, m.frame, self.seq));
        self.seq += 1;
        b.bytes += len;
        b.generation += 1;
        self.queue.push_back((time, b.generation, id));
        slot.refs += 1;
        self.held += len;
        self.info.peak_bytes = self.info.peak_bytes.max(self.held);
        self.info.peak_dialogs = self.info.peak_dialogs.max(self.dialogs_held);
        self.sweep();
    }

    /// The number of a dialog key, given one when it has none.
    fn number(&mut self, key: BucketKey) -> usize {
        if let Some(&id) = self.numbers.get(&key) {
            return id;
        }
        let slot = Slot { key: key.clone(), bucket: None, refs: 0, freed: false };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.numbers.insert(key, id);
        id
    }

    /// One queue entry naming key `id` fewer.
    fn unref(&mut self, id: usize) {
        self.slots[id].refs -= 1;
        self.release(id);
    }

    /// Give up key number `id` when nothing names it any more.
    fn release(&mut self, id: usize) {
        let slot = &mut self.slots[id];
        if slot.refs == 0 && slot.bucket.is_none() && !slot.freed {
            slot.freed = true;
            let key = std::mem::take(&mut slot.key.1);
            self.numbers.remove(&(slot.key.0, key));
            self.free.push(id);
        }
    }

    fn is_sut(&self, a: &SocketAddr) -> bool {
        self.job.sut.iter().any(|s| match s {
            SutAddr::Host(h) => *h == a.ip(),
            SutAddr::Addr(x) => x == a,
        }) || self.sut_peers.contains(a)
    }

    /// Take `a` as the server's from now on (bounded as the learnt ones are).
    fn add_sut_peer(&mut self, a: SocketAddr) {
        if self.sut_peers.len() >= MAX_SUT_PEERS || self.is_sut(&a) {
            return;
        }
        // The dialogs judged so far were judged without it.
        self.settle();
        self.sut_peers.insert(a);
        for p in &mut self.parts {
            Arc::make_mut(&mut p.ctx).sut.push(a);
        }
    }

    /// A request from the IP of a `--sut IP:PORT` but from another port, whose top Via names
    /// that `--sut` address (RFC 3261 §18.1.1: the sent-by of a request is where it wants the
    /// responses): the server speaking over a TCP connection it opened, from an ephemeral port.
    /// From then on that address is the server's too.
    fn learn_sut_peer(&mut self, m: &SipMessage) {
        let from = m.packet.from;
        let bytes = &m.packet.bytes;
        if bytes.starts_with(b"SIP/") || self.sut_peers.len() >= MAX_SUT_PEERS || self.is_sut(&from) {
            return;
        }
        if !self.job.sut.iter().any(|s| matches!(s, SutAddr::Addr(a) if a.ip() == from.ip())) {
            return;
        }
        let Ok(msg) = Message::parse(bytes.clone()) else { return };
        let Some(via) = msg.top_via().and_then(|v| crate::sip::uri::Via::parse(msg.bytes(), v)) else { return };
        let Ok(ip) = via.host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() else { return };
        let sent_by = SocketAddr::new(ip, via.port.unwrap_or(5060));
        if self.job.sut.iter().any(|s| matches!(s, SutAddr::Addr(a) if *a == sent_by)) {
            self.add_sut_peer(from);
        }
    }

    /// Judge the dialogs that have been quiet long enough, then, while too much is held, the
    /// least recently active ones.
    fn sweep(&mut self) {
        while let Some(&(time, generation, id)) = self.queue.front() {
            let live = self.slots[id].bucket.as_ref().is_some_and(|b| b.generation == generation);
            if !live {
                self.queue.pop_front();
                self.unref(id);
                continue;
            }
            let quiet = self.now.since(time) >= self.job.window.idle;
            if !quiet && self.held <= self.job.window.max_bytes {
                break;
            }
            if !quiet {
                self.info.closed_early += 1;
            }
            self.queue.pop_front();
            self.judge_bucket(id, !quiet);
            self.unref(id);
        }
    }

    /// Learn a third-party REGISTER, within the bound on users (expired ones make room).
    fn learn_registration(&mut self, part: usize, bytes: &[u8], time: Instant) {
        let Ok(msg) = Message::parse(bytes.to_vec()) else { return };
        let max = self.job.window.max_users;
        // Dialogs out with the judging threads hold the registrations as they were: taken
        // back first, so that the registrations are changed in place rather than copied (the
        // copy would be as right, and cost the whole table per REGISTER).
        if Arc::strong_count(&self.parts[part].regs) > 1 {
            self.settle();
        }
        let p = &mut self.parts[part];
        let level = p.ctx.level;
        let regs = Arc::make_mut(&mut p.regs);
        let user = msg.to_addr().ok().and_then(|na| aor_of(msg.bytes(), &na));
        let known = user.is_some_and(|u| regs.knows(&u));
        if !known && regs.len() >= max {
            // Forget users whose registrations all ended before the dialogs still held began.
            let keep_from = self.now.0.saturating_sub(2 * self.job.window.idle.as_micros() as u64);
            regs.forget_ended_before(Instant(keep_from));
        }
        if known || regs.len() < max {
            regs.learn(&msg, level, time);
        } else {
            self.info.registrations_not_kept += 1;
        }
    }

    /// Judge every dialog of `part` still held and what spans its dialogs, then forget them.
    fn finish_part(&mut self, part: usize) {
        // In capture order (each dialog's first message), not the map's: which results a
        // report lists in full, and which delivery a cross-dialog finding names, must not
        // change from one run to the next.
        let mut ids: Vec<(usize, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.key.0 == part)
            .filter_map(|(id, s)| Some((s.bucket.as_ref()?.at.first().map_or(usize::MAX, |a| a.2), id)))
            .collect();
        ids.sort_unstable();
        for (_, id) in ids {
            self.judge_bucket(id, false);
            self.release(id);
        }
        self.settle();
        self.judge_conversations(part);
        let p = &mut self.parts[part];
        let (offline, sent) = (std::mem::take(&mut p.offline), std::mem::take(&mut p.sent));
        if !offline.is_empty() {
            let mut j = Judge::default();
            judge_deferred(&mut j, &offline, &sent);
            let findings = j.finish_trace();
            self.add_cross(part, findings);
        }
        let p = &mut self.parts[part];
        p.ids.clear();
        p.regs = Arc::default();
    }

    fn key_of(&self, part: usize, at: (usize, u64, usize), call: &[u8]) -> Arc<str> {
        let call = if call.is_empty() { "(no Call-ID)".into() } else { String::from_utf8_lossy(call) };
        let p = &self.parts[part];
        if part == 0 {
            Arc::from(format!("{} {call}", self.names[at.0]))
        } else {
            Arc::from(format!("{} {call}", p.label))
        }
    }

    /// Judge a dialog (`early`: before it was quiet, because the window was full).
    fn judge_bucket(&mut self, id: usize, early: bool) {
        let Some(mut b) = self.slots[id].bucket.take() else { return };
        self.dialogs_held -= 1;
        let key = &self.slots[id].key.clone();
        self.held -= b.bytes;
        self.info.dialogs += 1;
        for br in &b.branches {
            self.by_branch.remove(br);
        }
        if early && self.cut.1.insert(key_hash(key)) {
            self.cut.0.push_back((self.now, key_hash(key)));
        }
        // A message of a dialog cut more than twice the idle time ago starts a new one.
        while let Some(&(t, h)) = self.cut.0.front() {
            if self.cut.0.len() <= MAX_CUT_KEYS && self.now.since(t) <= 2 * self.job.window.idle {
                break;
            }
            self.cut.0.pop_front();
            self.cut.1.remove(&h);
        }
        let part = key.0;
        // The key depends on the file only (one Call-ID per dialog): worked out once per file.
        let mut keys: Vec<Arc<str>> = Vec::with_capacity(b.at.len());
        for (i, &at) in b.at.iter().enumerate() {
            let k = match i.checked_sub(1).map(|p| (b.at[p].0, &keys[p])) {
                Some((file, k)) if file == at.0 => k.clone(),
                _ => self.key_of(part, at, &key.1),
            };
            keys.push(k);
        }
        let first_key = keys.first().cloned().unwrap_or_else(|| Arc::from(self.parts[part].label.as_str()));
        let p = &self.parts[part];
        let trace = std::mem::take(&mut b.trace);
        let Some(pool) = self.pool.as_mut() else {
            let judged = judge_dialog(&p.ctx, &p.regs, trace, self.now);
            return self.judged(Waiting { part, bucket: b, keys, first_key, early, result: Some(judged) });
        };
        pool.bytes += b.bytes;
        pool.batch_bytes += b.bytes;
        pool.batch.push(Job { ctx: p.ctx.clone(), regs: p.regs.clone(), trace, now: self.now });
        pool.waiting.push_back(Waiting { part, bucket: b, keys, first_key, early, result: None });
        self.out_peak = (self.out_peak.0.max(pool.waiting.len()), self.out_peak.1.max(pool.bytes));
        if pool.batch.len() >= JOB_DIALOGS || pool.batch_bytes >= JOB_BYTES {
            pool.flush();
        }
        self.collect(false);
    }

    /// Take the results of the dialogs judged on other threads, in the order they were handed
    /// over: those ready (`all`: every one, waiting for them), and, while too many dialogs or
    /// bytes are out, the oldest.
    fn collect(&mut self, all: bool) {
        loop {
            let Some(pool) = self.pool.as_mut() else { return };
            if pool.waiting.front().is_some_and(|w| w.result.is_some()) {
                let Some(w) = pool.waiting.pop_front() else { unreachable!("just seen") };
                pool.first += 1;
                pool.bytes -= w.bucket.bytes;
                self.judged(w);
                continue;
            }
            let wait = if all {
                !pool.waiting.is_empty()
            } else {
                pool.waiting.len() > pool.limit || pool.bytes > IN_FLIGHT_BYTES
            };
            let got = if wait {
                pool.flush();
                match pool.results.recv() {
                    Ok(r) => r,
                    Err(_) => unreachable!("the judging threads hold their senders while the pool lives"),
                }
            } else {
                match pool.results.try_recv() {
                    Ok(r) => r,
                    Err(_) => return,
                }
            };
            let (seq, judged) = got;
            let judged = judged.unwrap_or_else(|e| std::panic::resume_unwind(e));
            let at = usize::try_from(seq - pool.first).unwrap_or(usize::MAX);
            for (i, j) in judged.into_iter().enumerate() {
                let Some(w) = pool.waiting.get_mut(at + i) else {
                    unreachable!("a result comes once, for a dialog handed over")
                };
                w.result = Some(j);
            }
        }
    }

    /// Take every result still out ([`Streaming::collect`]): before what the dialogs judged
    /// so far depend on changes, and before the rules that span dialogs run.
    fn settle(&mut self) {
        self.collect(true);
    }

    /// File the result of a judged dialog: its findings by key, its ladder, and what the rules
    /// that span dialogs need of it.
    fn judged(&mut self, w: Waiting) {
        let Waiting { part, bucket: mut b, keys, first_key, early, result } = w;
        let Some(j) = result else { unreachable!("only a dialog with its result is filed") };
        let Judged { trace, pairs, findings, delivered, offline, sent } = j;
        b.trace = trace;
        self.pairs += pairs.len();
        // Findings by key (file and Call-ID of the message they point at), at frames.
        let mut by_key: BTreeMap<Arc<str>, Vec<Finding>> = BTreeMap::new();
        // Each message's capture time written once, however many findings point at it.
        let times: Vec<std::cell::OnceCell<String>> = b.at.iter().map(|_| std::cell::OnceCell::new()).collect();
        for mut f in findings {
            let k = match f.location.index() {
                Some(i) if i < b.at.len() => {
                    f.location.message = usize::try_from(b.at[i].1).ok();
                    f.location.time =
                        b.trace.events.get(i).map(|e| times[i].get_or_init(|| capture_time(e.time)).clone());
                    keys[i].clone()
                }
                _ => {
                    f.location.message = None;
                    first_key.clone()
                }
            };
            by_key.entry(k).or_default().push(f);
        }
        let level = self.parts[part].ctx.level;
        let mut notable = false;
        for (k, fs) in by_key {
            notable |= self.add_findings(&k, level, fs);
        }
        self.keep_flow(part, &b, &keys, &pairs, notable);
        // Cross-dialog state, message indices made global: their arrival numbers, so that the
        // rules that compare positions see capture order whatever order dialogs are judged in.
        let p = &mut self.parts[part];
        let pin = |ids: &mut HashMap<usize, (Arc<str>, u64, Instant)>, i: usize| {
            let g = b.at[i].2;
            ids.insert(g, (keys[i].clone(), b.at[i].1, b.trace.events[i].time));
            g
        };
        for mut d in delivered {
            d.ingress = pin(&mut p.ids, d.ingress);
            d.egress = pin(&mut p.ids, d.egress);
            p.deliveries.push(d);
        }
        for (user, call, i) in offline {
            if p.offline.len() < self.job.window.max_pending {
                let g = pin(&mut p.ids, i);
                p.offline.push((user, call, g));
            } else {
                self.info.pending_not_kept += 1;
            }
        }
        // A request the server sent whose ingress may lie in a part of the dialog judged apart
        // (cut by the window) cannot be told from a delivery of its own accord: not kept.
        let whole = !early && !b.after_cut;
        for mut s in sent {
            if whole && p.sent.len() < self.job.window.max_pending {
                s.index = pin(&mut p.ids, s.index);
                p.sent.push(s);
            } else {
                self.info.pending_not_kept += 1;
            }
        }
        if p.deliveries.len() >= self.job.window.max_deliveries {
            self.judge_conversations(part);
        }
    }

    /// Judge the deliveries held for `part` together, then forget them.
    fn judge_conversations(&mut self, part: usize) {
        let p = &mut self.parts[part];
        if p.deliveries.is_empty() {
            return;
        }
        self.info.conversation_batches += 1;
        // In capture order (dialogs are judged in the order they fall quiet).
        p.deliveries.sort_by_key(|d| (d.ingress, d.egress));
        let mut j = Judge::default();
        let ids = &p.ids;
        let name = |g: usize| match ids.get(&g) {
            Some((k, frame, _)) => format!("frame {frame} ({k})"),
            None => "an earlier message".to_string(),
        };
        judge_conversations_after(&mut j, &p.deliveries, &name, &mut p.earlier);
        let deliveries = std::mem::take(&mut p.deliveries);
        let findings = j.finish_trace();
        self.add_cross(part, findings);
        let p = &mut self.parts[part];
        let pinned: std::collections::HashSet<usize> =
            p.offline.iter().map(|o| o.2).chain(p.sent.iter().map(|s| s.index)).collect();
        for d in deliveries {
            for i in [d.ingress, d.egress] {
                if !pinned.contains(&i) {
                    p.ids.remove(&i);
                }
            }
        }
    }

    /// Results of the rules that span dialogs: findings at global message IDs.
    fn add_cross(&mut self, part: usize, findings: Vec<Finding>) {
        let p = &self.parts[part];
        let mut by_key: BTreeMap<Arc<str>, Vec<Finding>> = BTreeMap::new();
        for mut f in findings {
            let k = match f.location.index().and_then(|g| p.ids.get(&g)) {
                Some((k, frame, time)) => {
                    f.location.message = usize::try_from(*frame).ok();
                    f.location.time = Some(capture_time(*time));
                    k.clone()
                }
                None => {
                    f.location.message = None;
                    Arc::from(p.label.as_str())
                }
            };
            by_key.entry(k).or_default().push(f);
        }
        let level = p.ctx.level;
        for (k, fs) in by_key {
            self.add_findings(&k, level, fs);
        }
    }

    /// Add the results of `findings` under `key`, one per requirement as
    /// [`report::group_owned`] makes them and in its order, as [`Streaming::add`] adds each;
    /// a result the aggregate only counts is not built. True when one of them (filtered out or
    /// not) is other than PASS or NOT-APPLICABLE.
    fn add_findings(&mut self, key: &str, level: Level, mut findings: Vec<Finding>) -> bool {
        // A stable sort: the findings of one requirement stay in the order given.
        findings.sort_by_key(|f| f.requirement);
        let mut groups: Vec<(crate::interop::rules::ReqId, usize, Verdict)> = Vec::new();
        let mut start = 0;
        while start < findings.len() {
            let id = findings[start].requirement;
            let end = start + findings[start..].partition_point(|f| f.requirement == id);
            groups.push((id, end - start, crate::interop::finding::worst(&findings[start..end])));
            start = end;
        }
        let mut notable = false;
        let mut rest = findings.into_iter();
        for (id, n, verdict) in groups {
            notable |= !matches!(verdict, Verdict::Pass | Verdict::NotApplicable);
            let fs = rest.by_ref().take(n);
            let f = &self.job.filter;
            if !f.is_empty() && !f.iter().any(|g| glob(g, id.as_str()) || glob(g, key)) {
                fs.for_each(drop);
                continue;
            }
            if let (Some(p), true) = (&self.job.progress, verdict.is_failing()) {
                p.failing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if !self.aggregate.count(id, verdict) {
                fs.for_each(drop);
                continue;
            }
            let mut r = ResultItem {
                scenario: key.to_string(),
                level,
                clause: id.rule().clause.to_string(),
                verdict,
                requirement: id,
                findings: fs.collect(),
            };
            if self.job.redact {
                redact::redact(std::slice::from_mut(&mut r));
            }
            self.aggregate.keep_counted(r);
        }
        notable
    }

    fn add(&mut self, mut r: ResultItem) {
        let f = &self.job.filter;
        if !f.is_empty() && !f.iter().any(|g| glob(g, r.requirement.as_str()) || glob(g, &r.scenario)) {
            return;
        }
        if self.job.redact {
            redact::redact(std::slice::from_mut(&mut r));
        }
        if let (Some(p), true) = (&self.job.progress, r.verdict.is_failing()) {
            p.failing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.aggregate.add(r);
    }

    /// Keep the ladder of a judged dialog while there is room, a notable one (a verdict other
    /// than PASS) in place of an unremarkable one when there is not.
    fn keep_flow(&mut self, part: usize, b: &Bucket, keys: &[Arc<str>], pairs: &[PairRecord], notable: bool) {
        let limit = self.job.ladders;
        let replace = if self.flows.len() < limit {
            None
        } else if notable {
            match self.flows.iter().position(|(n, _)| !n) {
                Some(i) => Some(i),
                None => {
                    self.flows_left_out += 1;
                    return;
                }
            }
        } else {
            self.flows_left_out += 1;
            return;
        };
        let flow = self.flow(part, b, keys, pairs);
        match replace {
            Some(i) => {
                self.flows_left_out += 1;
                self.flows[i] = (notable, flow);
            }
            None => self.flows.push((notable, flow)),
        }
    }

    /// The ladder of a dialog: nodes are the capture's addresses, messages numbered by frame.
    fn flow(&self, part: usize, b: &Bucket, keys: &[Arc<str>], pairs: &[PairRecord]) -> Flow {
        let node = |a: SocketAddr| {
            if self.is_sut(&a) { format!("IM server {a}") } else { a.to_string() }
        };
        let mut nodes: Vec<String> = Vec::new();
        for e in &b.trace.events {
            for n in [node(e.packet.from), node(e.packet.to)] {
                if !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
        }
        let start = b.trace.events.first().map_or(Instant::ZERO, |e| e.time);
        let red = |s: String| if self.job.redact { redact::redact_text(&s) } else { s };
        let messages = b
            .trace
            .events
            .iter()
            .enumerate()
            .take(MAX_LADDER_MESSAGES)
            .map(|(i, e)| {
                let bytes = &e.packet.bytes;
                let mut text =
                    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LADDER_TEXT)]).replace("\r\n", "\n");
                if bytes.len() > MAX_LADDER_TEXT {
                    text.push_str(&format!("\n… ({} bytes more)", bytes.len() - MAX_LADDER_TEXT));
                }
                let pair = pairs.iter().find(|p| p.egress == Some(i));
                let changed_lines = pair
                    .map(|p| report::changed_lines(&b.trace.events[p.ingress].packet.bytes, &e.packet.bytes))
                    .unwrap_or_default();
                FlowMessage {
                    number: usize::try_from(b.at[i].1).unwrap_or(usize::MAX),
                    time_ms: e.time.since(start).as_millis() as u64,
                    from: node(e.packet.from),
                    to: node(e.packet.to),
                    transport: e.packet.transport.as_str().to_string(),
                    summary: red(text.lines().next().unwrap_or("").to_string()),
                    text: red(text),
                    from_ingress: pair.and_then(|p| usize::try_from(b.at[p.ingress].1).ok()),
                    changed_lines,
                }
            })
            .collect();
        let scenario = keys.first().map_or_else(|| self.parts[part].label.clone(), |k| red(k.to_string()));
        Flow { scenario, level: self.parts[part].ctx.level, nodes, messages }
    }

    /// Judge every dialog still held and what spans dialogs.
    /// The dialog of `call` (file 0's part) is over: judge it now.
    fn done(&mut self, call: Box<[u8]>) {
        if let Some(&id) = self.numbers.get(&(0, call)) {
            self.judge_bucket(id, false);
            self.release(id);
        }
        if let Some(p) = &self.job.progress {
            p.done.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    fn finish(&mut self) {
        while let Some((_, _, id)) = self.queue.pop_front() {
            self.judge_bucket(id, false);
            self.unref(id);
        }
        for part in 0..self.parts.len() {
            self.finish_part(part);
        }
    }
}

/// What the judging window held, and what fell outside it (report.json `capture.window`).
pub use crate::report::model::WindowInfo;

/// The level a section's comment names, as `imcpm run --pcap` writes it (`... L1` / `... L2`).
fn section_level(comment: &str) -> Option<Level> {
    let rest = comment.strip_prefix(crate::capture::RUN_COMMENT_PREFIX)?;
    match rest.rsplit(' ').next()? {
        "L1" => Some(Level::One),
        "L2" => Some(Level::Two),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_after_the_first_split_as_split_does() {
        for b in [&b"a\nb\r\n\nc"[..], b"no line end", b"x\n", b"\n\n", b"", b"a\r\nVia: x\r\n\r\nbody\nmore"] {
            let want: Vec<&[u8]> = b.split(|c| *c == b'\n').skip(1).collect();
            assert_eq!(lines_after_first(b).collect::<Vec<_>>(), want, "{}", String::from_utf8_lossy(b));
        }
        let m = b"MESSAGE sip:b@h SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z1, SIP/2.0/UDP b;branch=z2\r\ni:  c1 \r\n\r\n";
        assert_eq!(via_branches(m), (Some(&b"z1"[..]), Some(&b"z2"[..])));
        assert_eq!(call_id_of(m), b"c1");
        let odd =
            b"M sip:b@h SIP/2.0\r\n  VIA : SIP/2.0/UDP a;branch=z3\r\n\tI:c2\r\nx-v: y\r\n:v\r\nv:b;branch=z4\r\n\r\n";
        assert_eq!(via_branches(odd), (Some(&b"z3"[..]), Some(&b"z4"[..])));
        assert_eq!(call_id_of(odd), b"c2");
    }

    /// The scan as first written, byte by byte: the reference for [`via_branches`].
    fn via_branches_bytewise(bytes: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
        let branch = |via: &'_ [u8]| -> Option<Vec<u8>> {
            via.split(|b| *b == b';').skip(1).find_map(|p| {
                let eq = p.iter().position(|b| *b == b'=')?;
                let v = p[eq + 1..].trim_ascii();
                (p[..eq].trim_ascii().eq_ignore_ascii_case(b"branch") && !v.is_empty()).then(|| v.to_vec())
            })
        };
        let mut found: [Option<Vec<u8>>; 2] = [None, None];
        let mut n = 0;
        for line in bytes.split(|b| *b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || n == 2 {
                break;
            }
            if !matches!(line.iter().find(|b| !b.is_ascii_whitespace()), Some(b'v' | b'V')) {
                continue;
            }
            let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
            let name = line[..colon].trim_ascii();
            if !(name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v")) {
                continue;
            }
            let mut quoted = false;
            let mut start = colon + 1;
            for i in colon + 1..=line.len() {
                let c = line.get(i).copied();
                if c == Some(b'"') {
                    quoted = !quoted;
                }
                if (c == Some(b',') && !quoted) || c.is_none() {
                    if n < 2 {
                        found[n] = branch(&line[start..i]);
                        n += 1;
                    }
                    start = i + 1;
                }
            }
        }
        // Found again in `bytes` (the same text at the same place: compared by value below).
        let find = |v: &Option<Vec<u8>>| {
            v.as_ref().map(|v| {
                let at = bytes.windows(v.len()).position(|w| w == &v[..]).expect("found in the bytes");
                &bytes[at..at + v.len()]
            })
        };
        (find(&found[0]), find(&found[1]))
    }

    #[test]
    fn via_branches_as_the_bytewise_scan() {
        for m in [
            &b"M s SIP/2.0\r\nVia: a;branch=z1\r\n\r\n"[..],
            b"M s SIP/2.0\r\nVia: a;x=\"q,r\";branch=z1, b;branch=z2, c;branch=z3\r\nv: d;branch=z4\r\n\r\n",
            b"M s SIP/2.0\r\nVia: a;branch=, b ; BRANCH = z2 ;branch=z9\r\n\r\n",
            b"M s SIP/2.0\r\nVia: \"a,b\r\nVia: c;branch=z5\r\n\r\n",
            b"M s SIP/2.0\r\nVia: a;branch=z1;\r\nv:b;branch\r\n via :c;;branch=z7,\r\n\r\n",
            b"M s SIP/2.0\nVia: a;branch=z1,,b;branch=z2\nCall-ID: x\n\nVia: body;branch=zz\n",
            b"M s SIP/2.0\r\nVia: a\r\nvia: ;branch=z2\r\nVia: c;branch=z3\r\n",
            b"no line end",
            b"",
        ] {
            assert_eq!(via_branches(m), via_branches_bytewise(m), "{}", String::from_utf8_lossy(m));
        }
    }

    /// A load run's feed is complete until its socket drops a datagram: a CPM MESSAGE the server
    /// answered 408 without a forward seen is FAIL before the `Incomplete` mark and
    /// INCONCLUSIVE after it (the server's timeout of a forward the harness may have lost).
    #[test]
    fn an_answer_without_a_forward_after_a_loss_is_inconclusive() {
        use crate::base::{Packet, Transport};
        let (up, sut): (SocketAddr, SocketAddr) = ("10.0.0.1:5060".parse().unwrap(), "10.0.0.2:5060".parse().unwrap());
        let request = |n: u32| {
            format!(
                "MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKc{n}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{n}\r\nTo: <sip:bob@im.example.net>\r\n\
                 Call-ID: c{n}\r\nCSeq: 1 MESSAGE\r\nP-Served-User: <sip:bob@im.example.net>;sescase=term\r\n\
                 Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\r\n\
                 Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
            )
        };
        let timeout = |n: u32| {
            format!(
                "SIP/2.0 408 Request Timeout\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKc{n}\r\n\
                 From: <sip:alice@example.com>;tag=a{n}\r\nTo: <sip:bob@im.example.net>;tag=s{n}\r\nCall-ID: c{n}\r\n\
                 CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let msg = |frame: u64, from, to, text: String| {
            Feed::Message(SipMessage {
                file: 0,
                frame,
                time_us: frame * 1000,
                section: 0,
                section_comment: Arc::from(""),
                packet: Packet::new(Transport::Udp, from, to, text.into_bytes()),
            })
        };
        let judge = |mark: bool| {
            let mut job = CaptureJob::new(vec![PathBuf::from("load")], vec![SutAddr::Addr(sut)], Level::One);
            job.complete = true;
            let mut feed =
                vec![msg(1, up, sut, request(1)), msg(2, sut, up, timeout(1)), Feed::Done(Box::from(&b"c1"[..]))];
            if mark {
                feed.push(Feed::Incomplete);
            }
            feed.extend([msg(3, up, sut, request(2)), msg(4, sut, up, timeout(2)), Feed::Done(Box::from(&b"c2"[..]))]);
            judge_feed(&job, feed).aggregate.counts[&crate::interop::rules::ReqId::T1_TERM_PAGER].clone()
        };
        let fail = Verdict::Fail;
        let inconclusive = Verdict::Inconclusive;
        assert_eq!(judge(false), BTreeMap::from([(fail, 2)]));
        assert_eq!(judge(true), BTreeMap::from([(fail, 1), (inconclusive, 1)]));
    }

    #[test]
    fn sut_addresses_parse() {
        assert_eq!("192.0.2.1".parse(), Ok(SutAddr::Host("192.0.2.1".parse().unwrap())));
        assert_eq!("192.0.2.1:5070".parse(), Ok(SutAddr::Addr("192.0.2.1:5070".parse().unwrap())));
        assert_eq!("[2001:db8::1]:5060".parse(), Ok(SutAddr::Addr("[2001:db8::1]:5060".parse().unwrap())));
        assert_eq!("2001:db8::1".parse(), Ok(SutAddr::Host("2001:db8::1".parse().unwrap())));
        assert!("imserver.example.net".parse::<SutAddr>().is_err());
    }
}
