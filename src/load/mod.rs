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
//!   finds them FAIL, unless the harness's own UDP socket dropped datagrams: then the feed is
//!   marked incomplete before any later transaction is judged, and what cannot be known is
//!   INCONCLUSIVE;
//! - per second: offered, sent, answered, unanswered, latency percentiles.
//!
//! Services offered ([`Service`], mixed by weight): the pager-mode MESSAGE and the disposition
//! notification (non-INVITE transactions, RFC 3261 Timer E/F; no Timer E over TCP), and the 1-1
//! chat session, the file transfer, the large-message-mode session and the group chat (an INVITE
//! with Timer A/B, no Timer A over TCP, the 200 OK retransmitted by the harness's UAS until its
//! ACK, the ACK and a BYE along the dialog's route set). At level 1 they go from remote CPM clients to local IM clients (T.1); at
//! level 2 the harness first registers its local users by third-party REGISTER, half of them CPM
//! clients, which also receive IM requests and send CPM ones (T.2), a group chat being started
//! at the remote network's conference factory, which the harness plays as the focus (D17).
//!
//! The server is reached over UDP or TCP ([`sockets`]: one interface for both, so the schedule,
//! the timers and the judging are shared). Toward a UDP server the harness listens on TCP too,
//! at its UDP address: a server sends on over TCP a request grown past 1300 bytes (D9), such as
//! a group chat INVITE with its resource list.

// A driver: it reads the clock and opens sockets (docs/architecture.md).
#![allow(clippy::disallowed_methods)]

use crate::base::{ClientKind, Level, Packet, Service, Transport};
use crate::capture::SipMessage;
use crate::check::capture::{CaptureJob, CaptureVerdicts, Feed, JudgeProgress, SutAddr, judge_feed};
use crate::interop::rules::{Family, ReqId};
use crate::interop::table::{ICSI_REF, IM_TAG, LMM_TAG};
use crate::node::ue::build::{self, contact_tags, register_tags};
use crate::sip::Message;
use hdrhistogram::Histogram;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

mod sockets;
use sockets::{Hop, Received, Sockets};

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
/// After a read that found something, the next read waits this long (or for the next send or
/// timer, if sooner): a busy run loop wakes about once a millisecond for everything that came
/// meanwhile, not once per datagram. Each datagram keeps its arrival time (the kernel's receive
/// stamp), so only the harness's own answers as the called side wait for it (docs/load.md).
const READ_HOLD: Duration = Duration::from_millis(1);
/// Third-party REGISTERs in flight at once at the start of a level-2 run.
const REG_WINDOW: usize = 200;
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

/// Whether service `svc` is offered as an INVITE dialog (else a MESSAGE).
fn invite(svc: Service) -> bool {
    !matches!(svc, Service::Pager | Service::Imdn)
}

/// One cycle of a smooth weighted round robin over `mix` (each service as often as its weight,
/// spread out): request `k` takes slot `k mod len`.
pub fn mix_cycle(mix: &[(Service, u32)]) -> Vec<Service> {
    let total: i64 = mix.iter().map(|(_, w)| i64::from(*w)).sum();
    let mut current: Vec<i64> = vec![0; mix.len()];
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, (_, w)) in current.iter_mut().zip(mix) {
            *c += i64::from(*w);
        }
        let Some(best) = (0..mix.len()).max_by_key(|&i| (current[i], Reverse(i))) else { break };
        current[best] -= total;
        out.push(mix[best].0);
    }
    out
}

/// How a load run goes.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server under test.
    pub sut: SocketAddr,
    /// The transport to it (and of the harness's `listen` address).
    pub transport: Transport,
    /// Where the harness listens (port 0: any).
    pub listen: SocketAddr,
    /// The server's interop level.
    pub level: Level,
    /// The server's domain (its local users are in it).
    pub domain: String,
    /// The local users the requests go to or come from (each with its remote peers).
    pub users: LocalUsers,
    /// Reach the server with the ISC Route set (true), or with no Route set, its next hop
    /// being fixed to the harness (a SUT config's `routing = "next-hop"`).
    pub route_set: bool,
    /// The schedule, step after step.
    pub steps: Vec<Step>,
    /// The services offered and their weights (request `k` takes the `k`-th slot of a smooth
    /// weighted round robin over them).
    pub mix: Vec<(Service, u32)>,
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

/// Where a request of the harness's client side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The initial MESSAGE, not answered yet.
    Message,
    /// The initial INVITE: provisional response seen or not.
    Invite { provisional: bool },
    /// The BYE of an established dialog.
    Bye,
}

/// One request (and its dialog) in flight.
struct Tx {
    service: Service,
    /// From a local CPM client (originating).
    orig: bool,
    /// Its pair of users ([`Local::pair`]).
    pair: usize,
    /// When it was due.
    due: Instant,
    /// First sent (of the current request: the initial one, then the BYE).
    sent: Instant,
    /// The current request's bytes and where they go, for retransmissions.
    bytes: Arc<Vec<u8>>,
    to: Hop,
    /// The ACK for the dialog's 2xx, resent when the 2xx is.
    ack: Option<(Arc<Vec<u8>>, Hop)>,
    phase: Phase,
    /// Bumped at each phase: a timer of an earlier one is stale.
    generation: u32,
    /// The server's egress of the initial request, when seen.
    egress: Option<Instant>,
    /// When that egress arrived and when the harness, as the called side, answered it: the
    /// time between is the harness's, not the server's (taken off the request's latency when
    /// its final response came after that answer).
    held: Option<(Instant, Instant)>,
    /// The next retransmission interval.
    interval: Duration,
    /// Its step and second (by due time).
    step: usize,
    second: usize,
}

/// One second of the run (by due time): its counts, and its latency histogram while its
/// requests may still be answered, its percentiles after.
#[derive(Default)]
struct SecondSlot {
    counts: Counts,
    hist: Option<Histogram<u64>>,
    closed: bool,
    done: Percentiles,
}

impl SecondSlot {
    fn close(&mut self) {
        if let Some(h) = self.hist.take() {
            self.done = percentiles(&h);
        }
        self.closed = true;
    }
    fn percentiles(&self) -> Percentiles {
        self.hist.as_ref().map_or(self.done, percentiles)
    }
}

/// Seconds after its due time that a second's histogram is kept: past 64·T1 from the latest
/// first send of its requests, with room for a late send.
const SECOND_OPEN: usize = 40;

/// The harness's UAS side: a 2xx to an INVITE, resent until its ACK (RFC 3261 §13.3.1.4).
struct Uas {
    bytes: Arc<Vec<u8>>,
    to: Hop,
    first: Instant,
    interval: Duration,
}

/// When a client transaction's first timer fires: its first retransmission over UDP (Timer A
/// or E, at T1), Timer B or F (64·T1) over TCP, where nothing is retransmitted.
fn first_timer(to: Hop) -> Duration {
    if to.transport == Transport::Tcp { TIMER_F } else { T1 }
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The client side of request `k`, at this generation.
    Client(u64, u32),
    /// The UAS 2xx of request `k`.
    Uas(u64),
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

/// The body and its Content-Type of service `svc`'s initial request `k` (after spec examples
/// 5.3.1-5.3.5), from `sender` to `recipient`.
fn body(
    svc: Service,
    k: u64,
    ip: std::net::IpAddr,
    sender: &str,
    recipient: &str,
    imdn_of: Option<u64>,
) -> (&'static str, String) {
    let cpim = |inner: &str| {
        format!(
            "From: <{sender}>\r\nTo: <{recipient}>\r\nDateTime: 2024-05-01T10:15:00.000Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: ld{k:x}\r\n{inner}"
        )
    };
    let sdp = |extra: &str| {
        format!(
            "v=0\r\no=- 3913312800 3913312800 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\na=setup:active\r\na=path:msrp://{ip}:9/ld{k:x};tcp\r\n{extra}"
        )
    };
    match svc {
        Service::Pager => (
            "message/cpim",
            cpim(&format!(
                "imdn.Disposition-Notification: positive-delivery\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\nHello {k}\r\n"
            )),
        ),
        Service::Imdn => {
            // The message reported on: one the harness carried (`imdn.Message-ID: ld<k>` of its
            // CPIM), or else one it never did.
            let about = imdn_of.map_or_else(|| format!("m{k:x}"), |m| format!("ld{m:x}"));
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\r\n <message-id>{about}</message-id>\r\n <datetime>2024-05-01T10:16:03.000Z</datetime>\r\n <delivery-notification><status><delivered/></status></delivery-notification>\r\n</imdn>\r\n"
            );
            (
                "message/cpim",
                cpim(&format!(
                    "\r\nContent-Type: message/imdn+xml\r\nContent-Disposition: notification\r\nContent-Length: {}\r\n\r\n{xml}",
                    xml.len()
                )),
            )
        }
        Service::Session => (
            "application/sdp",
            sdp(
                "a=accept-types:message/cpim application/im-iscomposing+xml\r\na=accept-wrapped-types:text/plain message/imdn+xml\r\na=sendrecv\r\n",
            ),
        ),
        Service::Lmm => {
            ("application/sdp", sdp("a=accept-types:message/cpim\r\na=accept-wrapped-types:*\r\na=sendonly\r\n"))
        }
        Service::Group => {
            ("application/sdp", sdp("a=accept-types:message/cpim application/conference-info+xml\r\na=sendrecv\r\n"))
        }
        Service::Ft => (
            "application/sdp",
            sdp(&format!(
                "a=sendonly\r\na=accept-types:image/jpeg\r\na=file-selector:name:\"f{k:x}.jpg\" type:image/jpeg size:32349\r\na=file-transfer-id:ld{k:x}\r\na=file-disposition:attachment\r\n"
            )),
        ),
    }
}

/// The local users of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalUsers {
    /// `user0@DOMAIN` ... `user<N-1>@DOMAIN`, made up by the harness: at level 2 every other
    /// one a CPM client ([`is_cpm`]).
    Generated(usize),
    /// The users the server knows (a users file, a SUT config's pool): AoRs in its domain and
    /// their kinds. At level 1 only the IM clients are local users; at level 2 both kinds are.
    Listed(Vec<(String, ClientKind)>),
}

impl LocalUsers {
    /// Why these users cannot serve a run at `level`, if they cannot: at level 1 there must be
    /// an IM client, at level 2 an IM client and a CPM client.
    pub fn unusable(&self, level: Level) -> Option<String> {
        let LocalUsers::Listed(list) = self else {
            return matches!(self, LocalUsers::Generated(0)).then(|| "no local user".to_string());
        };
        let has = |k: ClientKind| list.iter().any(|(_, kind)| *kind == k);
        match (level, has(ClientKind::Im), has(ClientKind::Cpm)) {
            (Level::One, false, _) => Some(
                "no IM client: at level 1 the local users are the IM clients of the list (a level-1 server serves no local CPM client)".into(),
            ),
            (Level::Two, false, _) => Some(
                "no IM client: at level 2 the harness needs IM clients (to receive CPM-form requests, T.1) and CPM clients (T.2)".into(),
            ),
            (Level::Two, _, false) => Some(
                "no CPM client: at level 2 the harness needs CPM clients (to receive and send, T.2) and IM clients (T.1)".into(),
            ),
            _ => None,
        }
    }
}

/// One request's local user.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Local {
    /// Its number: `n` of `user<n>`, or its place in the list (its `+sip.instance`, its
    /// registration).
    n: usize,
    /// Its address of record.
    aor: String,
    /// A CPM client (else an IM client).
    cpm: bool,
    /// The request comes from it (originating), else goes to it.
    orig: bool,
    /// Names its remote peer, their conversation and its group: one per pair of users and
    /// direction, so that a client's own Conversation-ID and one the server chose never meet.
    pair: usize,
    /// For an IMDN toward a CPM client: the request `k` of the pager-mode message it reports
    /// on (the last one the client sent that peer), when there is one.
    imdn_of: Option<u64>,
}

/// The local users of a run at a level, and how requests take them.
struct Users {
    level: Level,
    domain: String,
    generated: usize,
    listed: Vec<(String, ClientKind)>,
    /// Places in `listed` of the CPM clients, and of the IM clients.
    cpm: Vec<usize>,
    im: Vec<usize>,
}

impl Users {
    fn new(o: &LoadOptions) -> Users {
        let (generated, listed) = match &o.users {
            LocalUsers::Generated(n) => (*n, Vec::new()),
            LocalUsers::Listed(l) => (0, l.clone()),
        };
        let of = |k: ClientKind| listed.iter().enumerate().filter(|(_, u)| u.1 == k).map(|(i, _)| i).collect();
        Users {
            level: o.level,
            domain: o.domain.clone(),
            generated,
            cpm: of(ClientKind::Cpm),
            im: of(ClientKind::Im),
            listed,
        }
    }

    /// The local users the requests take.
    fn count(&self) -> usize {
        match (self.listed.is_empty(), self.level) {
            (true, _) => self.generated,
            (false, Level::One) => self.im.len(),
            (false, Level::Two) => self.listed.len(),
        }
    }

    /// Local user `n` (below [`Users::count`] for made-up users, a place in the list for listed
    /// ones): its AoR, and whether it is a CPM client.
    fn user(&self, n: usize) -> (String, bool) {
        match self.listed.get(n) {
            Some((aor, kind)) => (aor.clone(), *kind == ClientKind::Cpm),
            None => (format!("sip:user{n}@{}", self.domain), is_cpm(self.level, n)),
        }
    }

    /// The local user of request `k`, the `seen`-th of its service. Made-up users: [`user_of`].
    /// Listed users: at level 1 the IM clients round robin; at level 2 the four kinds in turn
    /// as for made-up users, kinds 0 (receiving) and 2 (sending) taking the CPM clients and
    /// kinds 1 and 3 the IM clients, each list in turn over the two kinds that take it.
    fn pick(&self, k: u64, seen: u64) -> Local {
        if self.listed.is_empty() {
            let n = user_of(k, self.level, seen, self.generated);
            let (aor, cpm) = self.user(n);
            return Local { n, aor, cpm, orig: is_orig(self.level, n), pair: n, imdn_of: None };
        }
        let at = |list: &[usize], i: u64| list[(i % list.len().max(1) as u64) as usize];
        let (n, orig) = match self.level {
            Level::One => (at(&self.im, k), false),
            Level::Two => {
                let kind = seen % 4;
                let i = 2 * (seen / 4) + kind / 2;
                if kind % 2 == 0 { (at(&self.cpm, i), kind == 2) } else { (at(&self.im, i), false) }
            }
        };
        let (aor, cpm) = self.user(n);
        // A client that also sends meets other remote peers than the ones it receives from.
        let pair = if orig { self.listed.len() + n } else { n };
        Local { n, aor, cpm, orig, pair, imdn_of: None }
    }

    /// The local user of request `k` of service `svc` ([`Users::pick`]), except that an IMDN
    /// toward a CPM client goes to a CPM client that sends (the one of kind 2 in the same round),
    /// from the remote peer it sends to: so that an IMDN can report on a message the harness
    /// did carry, and the rule that it carries that message's Conversation-ID and
    /// Contribution-ID (D10) is exercised.
    fn pick_for(&self, svc: Service, k: u64, seen: u64) -> Local {
        let u = self.pick(k, seen);
        if svc != Service::Imdn || self.level != Level::Two || !u.cpm || u.orig {
            return u;
        }
        let sender = self.pick(k, seen - seen % 4 + 2);
        if !sender.cpm || !sender.orig {
            return u;
        }
        Local { orig: false, ..sender }
    }
}

/// The user part of a `sip:user@host` AoR (for its Contacts at the harness).
fn user_part(aor: &str) -> &str {
    let rest = aor.split_once(':').map_or(aor, |(_, r)| r);
    rest.split('@').next().unwrap_or(rest)
}

/// Whether made-up local user `n` is a CPM client: at level 2 every other user is one (the
/// others are IM clients), so both halves of Appendix T are offered; at level 1 none is.
fn is_cpm(level: Level, n: usize) -> bool {
    level == Level::Two && n % 2 == 0
}

/// The local user of request `k` (the one it goes to, or comes from). At level 1: round robin
/// over the population. At level 2 each service's requests take the four kinds of user in turn
/// (a receiving CPM client, n mod 4 = 0; an IM client, 1; a sending CPM client, 2; an IM client,
/// 3), and within a kind its users round robin, so that every service reaches every kind from
/// its first four requests on, whatever the mix and the population. `seen` is how many
/// requests of `k`'s service came before it.
fn user_of(k: u64, level: Level, seen: u64, population: usize) -> usize {
    let n = population.max(1) as u64;
    if level == Level::One || n < 4 {
        let i = if level == Level::One { k } else { seen };
        return (i % n) as usize;
    }
    let kind = seen % 4;
    let of_kind = (n - kind).div_ceil(4); // users kind, kind + 4, ... below n
    (kind + 4 * ((seen / 4) % of_kind)) as usize
}

/// For each slot of the mix cycle, how many slots of the same service come before it in the
/// cycle, and how many the service has in a whole cycle: request `k`'s service has had
/// `(k / len) * per_cycle + before` requests before it.
fn occurrences(cycle: &[Service]) -> Vec<(u64, u64)> {
    cycle
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let before = cycle[..i].iter().filter(|x| *x == o).count() as u64;
            (before, cycle.iter().filter(|x| *x == o).count() as u64)
        })
        .collect()
}

/// Initial request `k` of service `svc` to local user `n`, terminating session case, routed
/// through the server to the harness (the ISC Route set). To an IM client it comes from a
/// remote CPM user in the CPM form (spec examples 5.3.1-5.3.5: the CPM ICSI in Accept-Contact
/// and Contact, P-Asserted-Service, Conversation-ID and Contribution-ID); to a local CPM client
/// (level 2) from a remote IM user in the IM form (`+g.oma.sip-im`, for large messages with
/// `+g.oma.sip-im.large-message`; no P-Asserted-Service, no Conversation-ID: the server adds
/// what a CPM client expects).
fn initial(svc: Service, k: u64, u: &Local, run: &str, from: SocketAddr, o: &LoadOptions) -> Vec<u8> {
    let (n, me) = (u.pair, &u.aor);
    let (via, tp) = (o.transport.as_str(), tp(o));
    let method = if invite(svc) { "INVITE" } else { "MESSAGE" };
    let row = svc.row();
    let to_cpm = u.cpm;
    let (peer, tag) = if to_cpm {
        (
            format!("sip:im{n}@im.remote.example"),
            if svc == Service::Lmm { format!("{IM_TAG};{LMM_TAG}") } else { IM_TAG.to_string() },
        )
    } else {
        (format!("sip:+1555{n:07}@cpm.example.com"), format!("{ICSI_REF}=\"{}\"", row.icsi_encoded))
    };
    let peer_host = if to_cpm { "im.remote.example" } else { "cpm.example.com" };
    // A group chat invitation comes from the remote network's conference focus: its conference
    // URI in From and in the `isfocus` Contact, the inviting user in Referred-By (one
    // conference per local user).
    let (from_uri, contact, extra) = if svc == Service::Group {
        (
            format!("sip:conf{n:x}-{run}@{peer_host}"),
            format!("Contact: <sip:conf{n:x}@{from}{tp}>;{tag};isfocus\r\n"),
            format!("Referred-By: <{peer}>\r\nSubject: group {n}\r\n"),
        )
    } else {
        let user = peer.trim_start_matches("sip:").split('@').next().unwrap_or_default().to_string();
        let contact = if invite(svc) { format!("Contact: <sip:{user}@{from}{tp}>;{tag}\r\n") } else { String::new() };
        (peer.clone(), contact, String::new())
    };
    let cpm_only = if to_cpm {
        String::new()
    } else {
        let conv = if svc == Service::Group { format!("g{n:x}-{run}") } else { format!("c{n:x}-{run}") };
        format!(
            "P-Asserted-Service: {}\r\n{contact}{extra}Accept-Contact: *;{tag}\r\nConversation-ID: {conv}\r\nContribution-ID: ld{k:x}\r\n",
            row.icsi
        )
    };
    let im_only = if to_cpm { format!("{contact}{extra}Accept-Contact: *;{tag}\r\n") } else { String::new() };
    // The focus asserts its own identity, not the inviting user's.
    let asserted = if svc == Service::Group { from_uri.clone() } else { peer.clone() };
    // At level 2, where the users are registered, the S-CSCF names the served user (D13).
    let served = if o.level == Level::Two {
        format!("P-Served-User: <{me}>;sescase=term;regstate=reg\r\n")
    } else {
        String::new()
    };
    let (ctype, body) = body(svc, k, from.ip(), &peer, me, u.imdn_of);
    let route = route(o, from, false);
    // Written piece by piece rather than by one `format!` of thirty arguments: this runs for
    // every request of a load run.
    let mut out = String::with_capacity(640 + body.len() + cpm_only.len());
    for piece in [method, " ", me, " SIP/2.0\r\nVia: SIP/2.0/", via, " "] {
        out.push_str(piece);
    }
    let _ = write!(out, "{from};branch=z9hG4bKld{run}-{k:x}\r\n");
    for piece in [&route, "Max-Forwards: 70\r\nFrom: <", &from_uri] {
        out.push_str(piece);
    }
    let _ = write!(out, ">;tag=ld{k:x}\r\nTo: <{me}>\r\nCall-ID: ld{k:x}-{run}@harness\r\nCSeq: 1 ");
    for piece in [
        method,
        "\r\nP-Asserted-Identity: <",
        &asserted,
        ">\r\n",
        &served,
        &cpm_only,
        &im_only,
        "Content-Type: ",
        ctype,
        "\r\nContent-Length: ",
    ] {
        out.push_str(piece);
    }
    let _ = write!(out, "{}\r\n\r\n", body.len());
    out.push_str(&body);
    out.into_bytes()
}

/// Whether requests involving local user `n` are originating: at level 2, every other CPM
/// client sends (n mod 4 = 2) where the rest receive, every service alike (a group chat is
/// started at a conference factory, [`originating_group`]).
fn is_orig(level: Level, n: usize) -> bool {
    is_cpm(level, n) && n % 4 == 2
}

/// The user part of the conference factory URI of the remote network's focus (as in the
/// simulated world, `conf-factory@DOMAIN`).
const CONF_FACTORY: &str = "conf-factory";
/// The remote IM network: its users `im<n>@...` and its conference focus.
const REMOTE_IM: &str = "im.remote.example";

/// Initial request `k` of service `svc` from local CPM client `n` (level 2, originating session
/// case) to the remote IM user `im<n>@im.remote.example`, as the S-CSCF hands it to the server:
/// the ISC Route set with `orig` on the server's entry, P-Served-User with `sescase=orig`, the
/// CPM form the client sent (the CPM ICSI in Accept-Contact and Contact, P-Asserted-Service as
/// the S-CSCF asserts it from the client's P-Preferred-Service, the client's Conversation-ID
/// and Contribution-ID). The server must send it on in the IM form (T.2 bullet 2).
fn originating(svc: Service, k: u64, u: &Local, run: &str, from: SocketAddr, o: &LoadOptions) -> Vec<u8> {
    if svc == Service::Group {
        return originating_group(k, u, run, from, o);
    }
    let method = if invite(svc) { "INVITE" } else { "MESSAGE" };
    let row = svc.row();
    let tag = format!("{ICSI_REF}=\"{}\"", row.icsi_encoded);
    let n = u.pair;
    let (via, tp) = (o.transport.as_str(), tp(o));
    let (me, peer) = (&u.aor, format!("sip:im{n}@{REMOTE_IM}"));
    let contact = if invite(svc) {
        let user = user_part(me);
        format!("Contact: <sip:{user}@{from}{tp}>{}\r\n", contact_tags(ClientKind::Cpm, svc, &instance(u.n)))
    } else {
        String::new()
    };
    let (ctype, body) = body(svc, k, from.ip(), me, &peer, None);
    let route = route(o, from, true);
    format!(
        "{method} {peer} SIP/2.0\r\nVia: SIP/2.0/{via} {from};branch=z9hG4bKld{run}-{k:x}\r\n{route}Max-Forwards: 70\r\nFrom: <{me}>;tag=ld{k:x}\r\nTo: <{peer}>\r\nCall-ID: ld{k:x}-{run}@harness\r\nCSeq: 1 {method}\r\nP-Asserted-Identity: <{me}>\r\nP-Served-User: <{me}>;sescase=orig;regstate=reg\r\nP-Asserted-Service: {pas}\r\n{contact}Accept-Contact: *;{tag}\r\nConversation-ID: c{n:x}-{run}\r\nContribution-ID: ld{k:x}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n\r\n{body}",
        pas = row.icsi,
        len = body.len()
    )
    .into_bytes()
}

/// Group chat request `k` started by local CPM client `n` (level 2, originating session case,
/// docs/decisions.md D17): an INVITE to the conference factory of the remote IM network's
/// focus, `sip:conf-factory@im.remote.example`, with the resource list of the invitees (the
/// remote IM user `im<n>@im.remote.example` and the remote CPM user `+1555<n>@cpm.example.com`),
/// written by the simulated CPM client's own builder ([`build::request`]: the CPM ICSI of group
/// chat in Contact and Accept-Contact, `Require: recipient-list-invite`, a `multipart/mixed`
/// body of SDP and `application/resource-lists+xml`, the client's Conversation-ID, one per
/// group), then as the S-CSCF hands it to the server: the ISC Route set with `orig`,
/// P-Asserted-Identity, P-Served-User, and P-Preferred-Service asserted as P-Asserted-Service.
/// The harness answers it as the focus ([`answer`] with an `isfocus` Contact).
fn originating_group(k: u64, u: &Local, run: &str, from: SocketAddr, o: &LoadOptions) -> Vec<u8> {
    let (n, me) = (u.pair, &u.aor);
    let factory = format!("sip:{CONF_FACTORY}@{REMOTE_IM}");
    let route = route(o, from, true);
    let draft = build::Draft {
        service: Service::Group,
        kind: ClientKind::Cpm,
        to: &factory,
        from: me,
        via: format!("SIP/2.0/{} {from}", o.transport.as_str()),
        branch: format!("z9hG4bKld{run}-{k:x}"),
        tag: format!("ld{k:x}"),
        call_id: format!("ld{k:x}-{run}@harness"),
        cseq: 1,
        contact: format!("sip:{}@{from}{}", user_part(me), tp(o)),
        route: route.trim_start_matches("Route: ").trim_end().to_string(),
        ids: Some((format!("g{n:x}-{run}"), format!("ld{k:x}"))),
        message_id: format!("ld{k:x}"),
        reports_on: None,
        accept_contact: None,
        extra: vec![format!("P-Asserted-Identity: <{me}>"), format!("P-Served-User: <{me}>;sescase=orig;regstate=reg")],
        pad: 0,
        participants: vec![format!("sip:im{n}@{REMOTE_IM}"), format!("sip:+1555{n:07}@cpm.example.com")],
        instance: instance(u.n),
    };
    // The originating S-CSCF asserts the client's preferred service (TS 24.229), as the
    // simulated core does. The builder always writes a Route line: none without a Route set.
    let out = build::request(&draft, &from.ip().to_string()).replacen(
        "\r\nP-Preferred-Service: ",
        "\r\nP-Asserted-Service: ",
        1,
    );
    if route.is_empty() { out.replacen("\r\nRoute: \r\n", "\r\n", 1) } else { out }.into_bytes()
}

/// The Route set the S-CSCF puts on a request for the server (`orig` on the server's entry in
/// the originating case), the harness's own entry after it; none when the server's next hop
/// is fixed to the harness (`routing = "next-hop"`).
fn route(o: &LoadOptions, me: SocketAddr, orig: bool) -> String {
    if !o.route_set {
        return String::new();
    }
    let sut = o.sut;
    format!("Route: <sip:{sut};lr{}>, <sip:{me};lr{}>\r\n", if orig { ";orig" } else { "" }, tp(o))
}

/// The `transport` URI parameter of the harness's own URIs (its Route entry, Contacts): none
/// over UDP (RFC 3263 §4.1: UDP by default), `;transport=tcp` over TCP.
fn tp(o: &LoadOptions) -> &'static str {
    if o.transport == Transport::Tcp { ";transport=tcp" } else { "" }
}

/// Local user `n`'s CPM client instance (`+sip.instance`).
fn instance(n: usize) -> String {
    format!("urn:uuid:00000000-0000-4000-8000-{n:012x}")
}

/// The third-party REGISTER (docs/decisions.md D8) by which the harness, as the S-CSCF, tells
/// the server that local user `n` (AoR `aor`) registered, with the user's own REGISTER as its
/// body: a CPM client's Contact carries every CPM ICSI, an IM client's the IM tags.
fn third_party_register(
    (n, aor, cpm): (usize, &str, bool),
    run: &str,
    me: SocketAddr,
    o: &LoadOptions,
    expires: u64,
) -> Vec<u8> {
    let d = &o.domain;
    let (via, tp) = (o.transport.as_str(), tp(o));
    let kind = if cpm { ClientKind::Cpm } else { ClientKind::Im };
    let tags = register_tags(kind, &instance(n));
    let user = user_part(aor);
    let ue = format!(
        "REGISTER sip:{d} SIP/2.0\r\nVia: SIP/2.0/{via} {me};branch=z9hG4bKue{n:x}\r\nMax-Forwards: 70\r\nFrom: <{aor}>;tag=ue{n:x}\r\nTo: <{aor}>\r\nCall-ID: ue{n:x}-{run}@harness\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@{me}{tp}>{tags}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n"
    );
    let sut = o.sut;
    format!(
        "REGISTER sip:{sut} SIP/2.0\r\nVia: SIP/2.0/{via} {me};branch=z9hG4bKld{run}-reg-{n:x}\r\nMax-Forwards: 70\r\nFrom: <sip:{me}>;tag=reg{n:x}\r\nTo: <{aor}>\r\nCall-ID: ldreg{n:x}-{run}@harness\r\nCSeq: 1 REGISTER\r\nContact: <sip:{me}{tp}>\r\nExpires: {expires}\r\nContent-Type: message/sip\r\nContent-Length: {len}\r\n\r\n{ue}",
        len = ue.len()
    )
    .into_bytes()
}

/// `k` of a branch or Call-ID this run made (`z9hG4bKldRUN-<hex>`, `z9hG4bKldRUN-ack-<hex>`,
/// `z9hG4bKldRUN-bye-<hex>`, `ld<hex>-RUN@harness`), and for a branch which request it names.
/// The run's token in the branches keeps them unique across runs from one address (RFC 3261
/// §8.1.1.7): a server still holding an earlier run's transactions must not take a request of
/// this one for a retransmission.
fn k_of(branch_or_call: &str, run: &str) -> Option<(u64, &'static str)> {
    let (hex, what) = if let Some(b) =
        branch_or_call.strip_prefix("z9hG4bKld").and_then(|b| b.strip_prefix(run)).and_then(|b| b.strip_prefix('-'))
    {
        match b.split_once('-') {
            Some(("ack", h)) => (h, "ack"),
            Some(("bye", h)) => (h, "bye"),
            _ => (b, "initial"),
        }
    } else {
        let rest = branch_or_call.strip_prefix("ld")?.strip_suffix("@harness")?;
        (rest.strip_suffix(run)?.strip_suffix('-')?, "call")
    };
    Some((u64::from_str_radix(hex, 16).ok()?, what))
}

/// The URI inside `<...>` of a name-addr (or the whole value when there are no brackets).
fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The address a `sip:` URI names when its host is an IP literal.
fn addr_of(uri: &str) -> Option<SocketAddr> {
    let u = crate::sip::SipUri::parse(uri)?;
    let ip: std::net::IpAddr = u.host.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
    Some(SocketAddr::new(ip, u.port.unwrap_or(5060)))
}

/// An in-dialog request of the harness's caller side for the dialog its 2xx `resp` set up: the
/// Route set is the 2xx's Record-Route reversed, the Request-URI its Contact (RFC 3261
/// §12.1.2, §12.2.1.1); it goes to the first Route entry (or the Contact), over the transport
/// its `transport` parameter names, else over `transport` (the harness's toward the server).
fn in_dialog(
    method: &str,
    branch: &str,
    cseq: u32,
    resp: &Message,
    me: SocketAddr,
    transport: Transport,
) -> Option<(Vec<u8>, Hop)> {
    let contact = resp.first_value(&crate::sip::HeaderName::Contact)?;
    let target = uri_of(&contact).to_string();
    let mut routes: Vec<String> = resp
        .list_values(&crate::sip::HeaderName::RecordRoute)
        .iter()
        .map(|v| resp.text(*v).trim().to_string())
        .collect();
    routes.reverse();
    let next = match routes.first() {
        Some(r) => uri_of(r).to_string(),
        None => target.clone(),
    };
    let to = addr_of(&next)?;
    let transport = match crate::sip::SipUri::parse(&next).and_then(|u| u.param("transport").map(str::to_string)) {
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        Some(t) if t.eq_ignore_ascii_case("udp") => Transport::Udp,
        _ => transport,
    };
    let mut out = format!("{method} {target} SIP/2.0\r\nVia: SIP/2.0/{} {me};branch={branch}\r\n", transport.as_str());
    if !routes.is_empty() {
        out.push_str(&format!("Route: {}\r\n", routes.join(", ")));
    }
    let line = |name: &crate::sip::HeaderName| resp.first(name).map(|h| resp.text(h.value).into_owned());
    out.push_str(&format!(
        "Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
        line(&crate::sip::HeaderName::From)?,
        line(&crate::sip::HeaderName::To)?,
        line(&crate::sip::HeaderName::CallId)?
    ));
    Some((out.into_bytes(), Hop { transport, peer: to }))
}

/// The harness's answer, as the recipient's side, to a request the server sent it: 200 OK (Via,
/// From, To with a tag, Call-ID, CSeq); to an INVITE also its Record-Route, a Contact (the
/// harness) and an SDP answer. To an INVITE for a conference factory it answers as the remote
/// IM network's focus (D17): the Contact is the conference `focus` (at the harness) in the IM
/// form with `isfocus`, which names the focus to the server and to the judge.
fn answer(req: &Message, (me, tp): (SocketAddr, &str), k: u64, focus: Option<&str>) -> Vec<u8> {
    let tag = format!("ldt{k:x}");
    let plain = crate::node::transaction::response_to(req, crate::sip::StatusCode::OK, Some(&tag));
    if req.method() != Some(&crate::sip::Method::Invite) {
        return plain;
    }
    let head_end = plain.len() - b"Content-Length: 0\r\n\r\n".len();
    let mut out = plain[..head_end].to_vec();
    for h in req.all(&crate::sip::HeaderName::RecordRoute) {
        out.extend_from_slice(b"Record-Route: ");
        out.extend_from_slice(req.slice(h.value));
        out.extend_from_slice(b"\r\n");
    }
    let ip = me.ip();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\na=setup:passive\r\na=path:msrp://{ip}:9/ldt{k:x};tcp\r\na=accept-types:message/cpim\r\na=recvonly\r\n"
    );
    let contact = match focus {
        Some(conf) => format!("<sip:{conf}@{me}{tp}>;{IM_TAG};isfocus"),
        None => format!("<sip:user@{me}{tp}>"),
    };
    out.extend_from_slice(
        format!("Contact: {contact}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len())
            .as_bytes(),
    );
    out
}

/// Run the load: bind, offer the schedule, wait for the last transactions (at most 64·T1),
/// and judge everything. `progress` is called about once a second.
pub fn run_load(o: &LoadOptions, progress: &mut dyn FnMut(&Progress)) -> io::Result<LoadOutcome> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let net = rt.block_on(Sockets::bind(o.listen, o.transport, o.udp_rcvbuf, o.sut))?;
    let mut job = CaptureJob::new(vec![PathBuf::from("load")], vec![SutAddr::Addr(o.sut)], o.level);
    job.domains = vec![o.domain.clone()];
    job.keep = o.keep;
    job.complete = true;
    let counters = Arc::new(JudgeProgress::default());
    job.progress = Some(counters.clone());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Feed>>(4096);
    let judge =
        std::thread::Builder::new().name("judge".into()).spawn(move || judge_feed(&job, rx.into_iter().flatten()))?;
    let stats = rt.block_on(drive(o, net, tx, &counters, progress));
    let verdicts = judge.join().map_err(|_| io::Error::other("the judge panicked"))?;
    Ok(LoadOutcome { verdicts, stats: stats? })
}

struct Driver<'a> {
    o: &'a LoadOptions,
    users: Users,
    net: Sockets,
    me: SocketAddr,
    run: String,
    t0: Instant,
    wall0_us: u64,
    cycle: Vec<Service>,
    /// [`occurrences`] of `cycle`.
    occurrences: Vec<(u64, u64)>,
    feed: Vec<Feed>,
    /// `Done` words held until the next drop check.
    done: Vec<Feed>,
    /// `Done` words handed to the judge.
    dones: u64,
    out: std::sync::mpsc::SyncSender<Vec<Feed>>,
    frame: u64,
    flight: HashMap<u64, Tx>,
    uas: HashMap<u64, Uas>,
    /// The last pager-mode message each pair's CPM client sent and had a 2xx for, by pair:
    /// what an IMDN to it reports on.
    sent_pager: HashMap<usize, u64>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    steps: Vec<(Counts, Histogram<u64>)>,
    seconds: Vec<SecondSlot>,
    latency: BTreeMap<Service, Histogram<u64>>,
    egress: BTreeMap<Service, Histogram<u64>>,
    totals: Counts,
    drops: u64,
    incomplete: bool,
    /// Third-party REGISTERs not yet answered (level 2), by user.
    regs: HashMap<usize, Reg>,
    /// The first REGISTER the server refused: user and status line.
    reg_refused: Option<(usize, String)>,
    /// The first registration the server granted for less than `expires`: user and seconds.
    reg_short: Option<(usize, u64)>,
    /// The registration time asked for.
    expires: u64,
    /// The next read waits until then (see [`READ_HOLD`]).
    hold: Option<Instant>,
}

/// A third-party REGISTER in flight (a non-INVITE client transaction).
struct Reg {
    bytes: Arc<Vec<u8>>,
    first: Instant,
    next: Instant,
    interval: Duration,
}

impl Driver<'_> {
    fn tap(&mut self, transport: Transport, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, at: Instant) {
        self.frame += 1;
        let time_us = self.wall0_us + at.saturating_duration_since(self.t0).as_micros() as u64;
        self.feed.push(Feed::Message(SipMessage {
            file: 0,
            frame: self.frame,
            time_us,
            section: 0,
            section_comment: Arc::from(""),
            packet: Packet::new(transport, from, to, bytes),
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
        let d = self.net.drops();
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

    /// The slot of a second, made (with a histogram) when first needed.
    fn slot(&mut self, second: usize) -> &mut SecondSlot {
        if self.seconds.len() <= second {
            self.seconds.resize_with(second + 1, SecondSlot::default);
        }
        let slot = &mut self.seconds[second];
        if slot.hist.is_none() && !slot.closed {
            slot.hist = Some(histogram());
        }
        slot
    }

    /// Seconds whose requests are all over (due more than [`SECOND_OPEN`] ago) keep their
    /// percentiles only: memory stays bounded however long the run.
    fn close_seconds(&mut self, now: Instant) {
        let open_from = self.second_of(now).saturating_sub(SECOND_OPEN);
        for slot in self.seconds.iter_mut().take(open_from).filter(|s| !s.closed) {
            slot.close();
        }
    }

    fn count(&mut self, step: usize, second: usize, f: impl Fn(&mut Counts)) {
        f(&mut self.totals);
        f(&mut self.steps[step].0);
        f(&mut self.slot(second).counts);
    }

    /// Send `bytes` along `to` and hand them to the judge; false when they could not be sent
    /// (no TCP connection could be made, or its write queue was full): then the judge never
    /// sees them.
    async fn send(&mut self, bytes: &Arc<Vec<u8>>, to: Hop) -> bool {
        let sent = self.net.send(to, bytes).await;
        if sent {
            // Our end as the judge knows it: the listening address, whichever connection (see
            // `sockets::Received`).
            let now = Instant::now();
            self.tap(to.transport, self.me, to.peer, bytes.to_vec(), now);
        }
        sent
    }

    /// Where the harness's requests toward the server go.
    fn sut(&self) -> Hop {
        Hop { transport: self.o.transport, peer: self.o.sut }
    }

    fn call_id(&self, k: u64) -> Box<[u8]> {
        format!("ld{k:x}-{}@harness", self.run).into_bytes().into()
    }

    /// The dialog of request `k` is over: the judge may take it (at the next drop check).
    fn over(&mut self, k: u64) {
        self.flight.remove(&k);
        self.uas.remove(&k);
        let call = self.call_id(k);
        self.done.push(Feed::Done(call));
    }

    async fn offer(&mut self, k: u64, due: Instant, step: usize) {
        let slot = (k as usize) % self.cycle.len();
        let service = self.cycle[slot];
        let (before, per_cycle) = self.occurrences[slot];
        let seen = (k / self.cycle.len() as u64) * per_cycle + before;
        let mut u = self.users.pick_for(service, k, seen);
        if service == Service::Imdn && u.cpm && !u.orig {
            u.imdn_of = self.sent_pager.get(&u.pair).copied();
        }
        let bytes = Arc::new(if u.orig {
            originating(service, k, &u, &self.run, self.me, self.o)
        } else {
            initial(service, k, &u, &self.run, self.me, self.o)
        });
        let second = self.second_of(due);
        let sut = self.sut();
        // Taken before the send: the server's egress (stamped on arrival) cannot come before it.
        let sent_at = Instant::now();
        let sent = self.send(&bytes, sut).await;
        self.count(step, second, |c| {
            c.offered += 1;
            if sent {
                c.sent += 1;
            } else {
                c.unsent += 1;
            }
        });
        if !sent {
            // Never on the wire, so nothing of it can be judged: an ERROR of the harness under
            // the requirement that would have judged it, and the run fails (docs/load.md).
            let family = match (u.orig, u.cpm) {
                (true, _) => Family::T2Orig,
                (false, true) => Family::T2Term,
                (false, false) => Family::T1Term,
            };
            let call = self.call_id(k);
            self.feed.push(Feed::Unjudged {
                requirement: ReqId::of_service(family, service),
                call,
                why: format!(
                    "not sent: no TCP connection to the server {} could be made, or its write queue was full",
                    self.o.sut
                ),
            });
            return;
        }
        let now = sent_at;
        let phase = if invite(service) { Phase::Invite { provisional: false } } else { Phase::Message };
        self.flight.insert(
            k,
            Tx {
                service,
                orig: u.orig,
                pair: u.pair,
                due,
                sent: now,
                bytes,
                to: sut,
                ack: None,
                phase,
                generation: 0,
                egress: None,
                held: None,
                interval: T1,
                step,
                second,
            },
        );
        self.timers.push(Reverse((now + first_timer(sut), Timer::Client(k, 0))));
    }

    async fn on_timer(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Client(k, generation) => self.client_timer(k, generation, now).await,
            Timer::Uas(k) => {
                let Some(u) = self.uas.get_mut(&k) else { return };
                if now.saturating_duration_since(u.first) >= TIMER_F {
                    // No ACK within 64·T1: the UAS gives up (RFC 3261 §13.3.1.4).
                    self.uas.remove(&k);
                    return;
                }
                u.interval = (u.interval * 2).min(T2);
                let (bytes, to, next) = (u.bytes.clone(), u.to, now + u.interval);
                self.timers.push(Reverse((next, Timer::Uas(k))));
                self.send(&bytes, to).await;
            }
        }
    }

    async fn client_timer(&mut self, k: u64, generation: u32, now: Instant) {
        let Some(tx) = self.flight.get_mut(&k).filter(|t| t.generation == generation) else { return };
        if now.saturating_duration_since(tx.sent) >= TIMER_F {
            // Timer F (non-INVITE) or B (INVITE): no final response within 64·T1 (over TCP
            // too, whether or not the connection it went on is still open).
            let (step, second) = (tx.step, tx.second);
            self.count(step, second, |c| c.unanswered += 1);
            self.over(k);
            return;
        }
        if tx.to.transport == Transport::Tcp {
            // A reliable transport: no Timer A or E (RFC 3261 §17.1.1.2, §17.1.2.2), only B/F.
            let at = tx.sent + TIMER_F;
            self.timers.push(Reverse((at, Timer::Client(k, generation))));
            return;
        }
        let resend = !matches!(tx.phase, Phase::Invite { provisional: true });
        // Timer A doubles without bound; Timer E up to T2.
        tx.interval =
            if matches!(tx.phase, Phase::Invite { .. }) { tx.interval * 2 } else { (tx.interval * 2).min(T2) };
        let next = (now + tx.interval).min(tx.sent + TIMER_F);
        let (bytes, to, step, second) = (tx.bytes.clone(), tx.to, tx.step, tx.second);
        self.timers.push(Reverse((next, Timer::Client(k, generation))));
        if resend {
            self.count(step, second, |c| c.retransmissions += 1);
            self.send(&bytes, to).await;
        }
    }

    /// The final response to request `k`'s initial request: its latency.
    fn answered(&mut self, k: u64, status: crate::sip::StatusCode, now: Instant) {
        let Some(tx) = self.flight.get(&k) else { return };
        let (due, sent, egress, service, step, second) = (tx.due, tx.sent, tx.egress, tx.service, tx.step, tx.second);
        if service == Service::Pager && tx.orig && status.is_success() {
            // Delivered: from now on an IMDN may report on it (never before the message could
            // have reached its recipient).
            self.sent_pager.insert(tx.pair, k);
        }
        // The time the harness held the server's egress before answering it is its own, when
        // the final response waited for that answer (not one the server gave of itself).
        let held = match self.flight.get(&k).and_then(|t| t.held) {
            Some((arrived, answered)) if now >= answered => answered.saturating_duration_since(arrived),
            _ => Duration::ZERO,
        };
        let lat = now.saturating_duration_since(due).saturating_sub(held).as_micros() as u64;
        let _ = self.latency.entry(service).or_insert_with(histogram).record(lat.max(1));
        let _ = self.steps[step].1.record(lat.max(1));
        if let Some(h) = self.slot(second).hist.as_mut() {
            let _ = h.record(lat.max(1));
        }
        if let Some(e) = egress {
            let us = e.saturating_duration_since(sent).as_micros().max(1) as u64;
            let _ = self.egress.entry(service).or_insert_with(histogram).record(us);
        }
        let rejected = !status.is_success();
        self.count(step, second, |c| {
            c.answered += 1;
            if rejected {
                c.rejected += 1;
            }
        });
    }

    async fn on_response(&mut self, msg: Message, now: Instant) {
        let Some(status) = msg.status() else { return };
        let branch = msg.top_via_branch().unwrap_or_default();
        let registration = branch.strip_prefix("z9hG4bKld").and_then(|b| b.strip_prefix(self.run.as_str()));
        if let Some(hex) = registration.and_then(|b| b.strip_prefix("-reg-")) {
            let Some(n) = usize::from_str_radix(hex, 16).ok().filter(|n| self.regs.contains_key(n)) else { return };
            if status.is_final() {
                self.regs.remove(&n);
                // What the server granted (RFC 3261 §10.3: Expires, or the Contact's expires).
                let granted =
                    msg.first_value(&crate::sip::HeaderName::Expires).and_then(|v| v.trim().parse::<u64>().ok());
                if let Some(g) = granted.filter(|g| status.is_success() && *g < self.expires) {
                    self.reg_short.get_or_insert((n, g));
                }
                self.done.push(Feed::Done(format!("ldreg{n:x}-{}@harness", self.run).into_bytes().into()));
                if !status.is_success() && self.reg_refused.is_none() {
                    let line = String::from_utf8_lossy(msg.slice(msg.start_line_span())).into_owned();
                    self.reg_refused = Some((n, line));
                }
            }
            return;
        }
        let Some((k, what)) = msg.top_via_branch().and_then(|b| k_of(&b, &self.run)) else { return };
        let Some(tx) = self.flight.get_mut(&k) else { return };
        match (tx.phase, what) {
            (Phase::Message, "initial") if status.is_final() => {
                self.answered(k, status, now);
                self.over(k);
            }
            (Phase::Invite { .. }, "initial") if !status.is_final() => {
                tx.phase = Phase::Invite { provisional: true };
            }
            (Phase::Invite { .. }, "initial") if !status.is_success() => {
                // A non-2xx final: ACK it hop by hop (RFC 3261 §17.1.1.3); the dialog is over.
                self.answered(k, status, now);
                let Ok(invite) = Message::parse(self.flight[&k].bytes.to_vec()) else { return };
                let ack = Arc::new(crate::node::transaction::ack_for(&invite, &msg));
                let sut = self.sut();
                self.send(&ack, sut).await;
                self.over(k);
            }
            (Phase::Invite { .. }, "initial") => {
                // The 2xx: ACK it along the dialog's route, then hang up with a BYE.
                self.answered(k, status, now);
                let t = self.sut().transport;
                let run = &self.run;
                let ack = in_dialog("ACK", &format!("z9hG4bKld{run}-ack-{k:x}"), 1, &msg, self.me, t);
                let bye = in_dialog("BYE", &format!("z9hG4bKld{run}-bye-{k:x}"), 2, &msg, self.me, t);
                let (Some((ack, ack_to)), Some((bye, bye_to))) = (ack, bye) else {
                    // A 2xx the harness cannot follow (no Contact, a host name): nothing more.
                    self.over(k);
                    return;
                };
                let tx = self.flight.get_mut(&k).expect("present");
                let (ack, bye) = (Arc::new(ack), Arc::new(bye));
                tx.ack = Some((ack.clone(), ack_to));
                tx.phase = Phase::Bye;
                tx.generation += 1;
                tx.bytes = bye.clone();
                tx.to = bye_to;
                tx.sent = now;
                tx.interval = T1;
                let g = tx.generation;
                self.timers.push(Reverse((now + first_timer(bye_to), Timer::Client(k, g))));
                self.send(&ack, ack_to).await;
                self.send(&bye, bye_to).await;
            }
            (Phase::Bye, "initial") if status.is_success() => {
                // The 2xx again (our ACK was lost): the ACK again.
                if let Some((ack, to)) = tx.ack.clone() {
                    self.send(&ack, to).await;
                }
            }
            (Phase::Bye, "bye") if status.is_final() => self.over(k),
            _ => {}
        }
    }

    /// A message received: to the judge, then handled (a response to one of the harness's
    /// requests; a request the server sent on, answered on the connection it came in on).
    async fn on_message(&mut self, r: Received, now: Instant) {
        let Received { hop: from, bytes, .. } = r;
        self.tap(from.transport, from.peer, self.me, bytes.clone(), now);
        let Ok(msg) = Message::parse(bytes) else { return };
        if msg.status().is_some() {
            return self.on_response(msg, now).await;
        }
        // A request the server sent on to the harness: answered as the recipient's side would.
        let k = msg.call_id().and_then(|c| k_of(&c, &self.run)).map(|(k, _)| k);
        let method = msg.method().cloned();
        if method == Some(crate::sip::Method::Ack) {
            if let Some(k) = k {
                self.uas.remove(&k);
            }
            return;
        }
        // The initial request's first egress: how long it waits here for its answer is noted.
        let first_egress = match k.and_then(|k| self.flight.get_mut(&k)) {
            Some(tx) if matches!(tx.phase, Phase::Message | Phase::Invite { .. }) && tx.egress.is_none() => {
                tx.egress = Some(now);
                true
            }
            _ => false,
        };
        let k = k.unwrap_or(0);
        if method == Some(crate::sip::Method::Invite) {
            if let Some(u) = self.uas.get(&k) {
                // The INVITE again: the same 2xx again.
                let bytes = u.bytes.clone();
                self.send(&bytes, from).await;
                return;
            }
            // A conference factory's INVITE: the harness is the focus, one conference per
            // group (per creating user).
            let factory = msg
                .request_uri()
                .and_then(|u| crate::sip::SipUri::parse(&u))
                .is_some_and(|u| u.user.as_deref() == Some(CONF_FACTORY));
            let focus = factory.then(|| format!("group{:x}-{}", self.flight.get(&k).map_or(0, |t| t.pair), self.run));
            let resp = Arc::new(answer(&msg, (self.me, tp(self.o)), k, focus.as_deref()));
            self.uas.insert(k, Uas { bytes: resp.clone(), to: from, first: now, interval: T1 });
            self.timers.push(Reverse((now + T1, Timer::Uas(k))));
            self.send(&resp, from).await;
            self.note_held(first_egress, k, now);
            return;
        }
        let resp = Arc::new(answer(&msg, (self.me, tp(self.o)), k, None));
        self.send(&resp, from).await;
        self.note_held(first_egress, k, now);
    }

    /// Request `k`'s first egress, which arrived at `arrived`, has just been answered: how long
    /// the harness held it.
    fn note_held(&mut self, first_egress: bool, k: u64, arrived: Instant) {
        if let Some(tx) = self.flight.get_mut(&k).filter(|_| first_egress) {
            tx.held = Some((arrived, Instant::now()));
        }
    }
}

/// Level 2: register every local user with the server by third-party REGISTER before the
/// schedule starts (at most [`REG_WINDOW`] in flight, each retransmitted as a non-INVITE client
/// transaction), so that it knows which of them are CPM clients. A REGISTER refused, or not
/// answered within 64·T1, ends the run before any request is offered: the run could not judge
/// what it meant to.
async fn register_all(d: &mut Driver<'_>) -> io::Result<()> {
    let total: u64 = d.o.steps.iter().map(|s| s.duration.as_secs()).sum();
    let expires = total + 600;
    let users = d.users.count();
    let sut = d.sut();
    let mut next_user = 0;
    let mut next_drop_check = Instant::now() + DROP_CHECK;
    d.expires = expires;
    loop {
        let now = Instant::now();
        while next_user < users && d.regs.len() < REG_WINDOW {
            let (aor, cpm) = d.users.user(next_user);
            let bytes = Arc::new(third_party_register((next_user, &aor, cpm), &d.run, d.me, d.o, expires));
            if !d.send(&bytes, sut).await {
                return Err(io::Error::other(format!(
                    "could not send the third-party REGISTER of {aor} to {}: no TCP connection to it could be made (docs/load.md)",
                    d.o.sut
                )));
            }
            d.regs.insert(next_user, Reg { bytes, first: now, next: now + first_timer(sut), interval: T1 });
            next_user += 1;
        }
        let mut resend = Vec::new();
        for (n, r) in d.regs.iter_mut() {
            if now.saturating_duration_since(r.first) >= TIMER_F {
                return Err(io::Error::other(format!(
                    "the server did not answer the third-party REGISTER of {} within 64*T1 (32 s): at level 2 it must learn its CPM clients from them (docs/load.md)",
                    d.users.user(*n).0
                )));
            }
            if r.next <= now && sut.transport == Transport::Udp {
                r.interval = (r.interval * 2).min(T2);
                r.next = now + r.interval;
                resend.push(r.bytes.clone());
            }
        }
        for b in resend {
            d.send(&b, sut).await;
        }
        if let Some((n, line)) = d.reg_refused.take() {
            return Err(io::Error::other(format!(
                "the server answered the third-party REGISTER of {} with {}: at level 2 it must accept them to learn its CPM clients (docs/load.md)",
                d.users.user(n).0,
                crate::base::escape::escape(&line)
            )));
        }
        if let Some((n, granted)) = d.reg_short.take() {
            return Err(io::Error::other(format!(
                "the server granted the registration of {} for {granted} s, shorter than the run needs ({expires} s asked: the schedule plus 600 s); the harness does not refresh registrations, so shorten the run or let the server grant longer (docs/load.md)",
                d.users.user(n).0
            )));
        }
        if now >= next_drop_check {
            // Let the judge have the registrations answered so far.
            d.check_drops();
            next_drop_check = now + DROP_CHECK;
        }
        if next_user >= users && d.regs.is_empty() {
            d.check_drops();
            return Ok(());
        }
        let wake = d.regs.values().map(|r| r.next).min().unwrap_or(now + T1).min(now + Duration::from_millis(20));
        receive_until(d, wake).await?;
    }
}

/// Wait for datagrams until `wake`: handle the first that comes and every other queued behind
/// it, each at the time it is read.
async fn receive_until(d: &mut Driver<'_>, wake: Instant) -> io::Result<()> {
    // The runtime's timers have 1 ms ticks: sends due within the same millisecond go together.
    let received = d.net.receive_until(wake, d.hold).await?;
    // Over TCP every segment wakes the runtime for its connection's reader anyway: no hold.
    let udp = d.o.transport == Transport::Udp;
    d.hold = (udp && !received.is_empty()).then(|| Instant::now() + READ_HOLD);
    // Connections the server opened: their messages are the server's whatever their Via says
    // (told before any of them is handed to the judge).
    for peer in std::mem::take(&mut d.net.accepted) {
        d.feed.push(Feed::SutPeer(peer));
    }
    for r in received {
        let at = r.at;
        d.on_message(r, at).await;
    }
    Ok(())
}

async fn drive(
    o: &LoadOptions,
    net: Sockets,
    out: std::sync::mpsc::SyncSender<Vec<Feed>>,
    judge: &JudgeProgress,
    progress: &mut dyn FnMut(&Progress),
) -> io::Result<LoadStats> {
    let t0 = Instant::now() + Duration::from_millis(50);
    let wall0_us =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64) + 50_000;
    let run = format!("{:x}", wall0_us % 0xffff_ffff);
    let cycle = {
        let c = mix_cycle(&o.mix);
        if c.is_empty() { vec![Service::Pager] } else { c }
    };
    let (me, rcvbuf) = (net.me, net.rcvbuf);
    let drops = net.drops();
    let mut d = Driver {
        o,
        users: Users::new(o),
        net,
        me,
        run,
        t0,
        wall0_us,
        cycle: cycle.clone(),
        occurrences: occurrences(&cycle),
        feed: Vec::with_capacity(BATCH),
        done: Vec::new(),
        dones: 0,
        out,
        frame: 0,
        flight: HashMap::new(),
        uas: HashMap::new(),
        sent_pager: HashMap::new(),
        timers: BinaryHeap::new(),
        steps: o.steps.iter().map(|_| (Counts::default(), histogram())).collect(),
        seconds: Vec::new(),
        latency: BTreeMap::new(),
        egress: BTreeMap::new(),
        totals: Counts::default(),
        drops,
        incomplete: false,
        regs: HashMap::new(),
        reg_refused: None,
        reg_short: None,
        expires: 0,
        hold: None,
    };
    // Drops during the registrations count too (they mark the feed incomplete as any other).
    let base_drops = d.drops;
    if o.level == Level::Two {
        register_all(&mut d).await?;
        // The schedule starts now, not before the registrations.
        d.t0 = Instant::now() + Duration::from_millis(50);
        d.wall0_us =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |x| x.as_micros() as u64)
                + 50_000;
    }
    let t0 = d.t0;

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
                let lat = d.seconds.get(second).map(SecondSlot::percentiles).unwrap_or_default();
                d.close_seconds(now);
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
            receive_until(&mut d, wake).await?;
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
        let clean = failing == before && c.unanswered == 0 && c.unsent == 0 && p99 <= o.max_p99;
        ran.push((failing - before, clean));
        if o.ramp && !clean {
            break;
        }
    }
    d.flush();
    let per = |m: &BTreeMap<Service, Histogram<u64>>| -> Vec<(String, Percentiles)> {
        m.iter().map(|(svc, h)| (svc.name().to_string(), percentiles(h))).collect()
    };
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
        .map(|(i, slot)| Second { at_s: i as u64, counts: slot.counts, latency: slot.percentiles() })
        .collect();
    Ok(LoadStats {
        sut: o.sut.to_string(),
        transport: o.transport.as_str().to_ascii_lowercase(),
        harness: me.to_string(),
        population: d.users.count(),
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
        tcp_closed: d.net.closed,
        unsent: d.net.unsent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default mix of `--mix`.
    const DEFAULT_MIX: [(Service, u32); 6] = [
        (Service::Pager, 60),
        (Service::Imdn, 20),
        (Service::Lmm, 5),
        (Service::Ft, 5),
        (Service::Session, 5),
        (Service::Group, 5),
    ];

    /// At level 2 every service reaches the four kinds of user in its first four requests, and
    /// every user of each kind in turn, whatever the mix and the population; the third kind
    /// sends (the originating case), group chat included.
    #[test]
    fn every_service_meets_every_kind_and_every_user() {
        let mixes: [&[(Service, u32)]; 3] =
            [&[(Service::Pager, 1)], &[(Service::Pager, 1), (Service::Imdn, 1), (Service::Session, 1)], &DEFAULT_MIX];
        for mix in mixes {
            let cycle = mix_cycle(mix);
            let occ = occurrences(&cycle);
            for population in [1usize, 2, 3, 4, 5, 6, 7, 10, 101] {
                for (svc, _) in mix {
                    let mut kinds = Vec::new();
                    let mut users = std::collections::BTreeSet::new();
                    let mut seen_of = 0u64;
                    for k in 0..(cycle.len() as u64 * 4 * population as u64) {
                        let slot = (k as usize) % cycle.len();
                        if cycle[slot] != *svc {
                            continue;
                        }
                        let (before, per) = occ[slot];
                        let seen = (k / cycle.len() as u64) * per + before;
                        assert_eq!(seen, seen_of, "the count of earlier requests of {svc:?}");
                        seen_of += 1;
                        let n = user_of(k, Level::Two, seen, population);
                        assert!(n < population);
                        if kinds.len() < 4 {
                            kinds.push(n % 4);
                        }
                        assert_eq!(is_orig(Level::Two, n), n % 4 == 2, "{svc:?}, user {n}");
                        assert!(!is_orig(Level::One, n));
                        users.insert(n);
                    }
                    if population >= 4 {
                        assert_eq!(kinds, [0, 1, 2, 3], "{svc:?}, population {population}");
                        // Every service, group chat too, is sent by a local CPM client too.
                        assert!(kinds.iter().any(|&kind| is_orig(Level::Two, kind)), "{svc:?}");
                    }
                    assert_eq!(users.len(), population, "{svc:?}, population {population}");
                }
            }
        }
        assert_eq!((0..5).map(|k| user_of(k, Level::One, 0, 3)).collect::<Vec<_>>(), [0, 1, 2, 0, 1]);
    }

    #[test]
    fn the_mix_cycle_gives_each_service_its_weight_spread_out() {
        let mix = DEFAULT_MIX;
        let c = mix_cycle(&mix);
        assert_eq!(c.len(), 100);
        for (o, w) in mix {
            assert_eq!(c.iter().filter(|x| **x == o).count(), w as usize, "{o:?}");
        }
        // Spread out: no more than 3 pagers in a row, IMDNs every few slots.
        assert!(c.windows(4).all(|w| !w.iter().all(|x| *x == Service::Pager)));
        assert_eq!(mix_cycle(&[(Service::Ft, 1)]), vec![Service::Ft]);
    }

    #[test]
    fn a_closed_second_keeps_its_percentiles_and_drops_its_histogram() {
        let mut slot = SecondSlot { hist: Some(histogram()), ..SecondSlot::default() };
        for us in 1..=100 {
            let _ = slot.hist.as_mut().unwrap().record(us * 1000);
        }
        let open = slot.percentiles();
        slot.close();
        assert!(slot.hist.is_none() && slot.closed);
        assert_eq!(slot.percentiles(), open);
        assert_eq!(open.count, 100);
    }

    pub(super) fn options(level: Level) -> LoadOptions {
        LoadOptions {
            sut: "127.0.0.1:5060".parse().unwrap(),
            transport: Transport::Udp,
            listen: "127.0.0.1:0".parse().unwrap(),
            level,
            domain: "im.example.net".into(),
            users: LocalUsers::Generated(8),
            route_set: true,
            steps: vec![Step { rate: 1, duration: Duration::from_secs(1) }],
            mix: vec![(Service::Group, 1)],
            udp_rcvbuf: 0,
            keep: 10,
            ramp: false,
            max_p99: Duration::from_millis(200),
        }
    }

    /// A group chat started by a local CPM client: a group chat INVITE in the CPM form to the
    /// remote network's conference factory with its resource list, as the S-CSCF hands it to
    /// the server (originating); the focus's answer names it with `isfocus`.
    #[test]
    fn a_local_cpm_client_starts_a_group_at_the_conference_factory() {
        use crate::interop::classify::{Form, classify, form_of};
        let o = options(Level::Two);
        let me: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let u = Users::new(&o).pick(2, 2);
        assert_eq!((u.n, u.orig, u.aor.as_str()), (2, true, "sip:user2@im.example.net"));
        let m = Message::parse(originating(Service::Group, 0x1f, &u, "r", me, &o)).unwrap();
        assert_eq!(m.request_uri().as_deref(), Some("sip:conf-factory@im.remote.example"));
        assert_eq!((classify(&m), form_of(&m)), (Some(Service::Group), Form::Cpm));
        let h = |n: crate::sip::HeaderName| m.first_value(&n).map(|v| v.into_owned()).unwrap_or_default();
        assert_eq!(h(crate::sip::HeaderName::Route), "<sip:127.0.0.1:5060;lr;orig>, <sip:127.0.0.1:7000;lr>");
        assert_eq!(h(crate::sip::HeaderName::PServedUser), "<sip:user2@im.example.net>;sescase=orig;regstate=reg");
        assert_eq!(h(crate::sip::HeaderName::PAssertedService), Service::Group.row().icsi);
        assert!(m.first(&crate::sip::HeaderName::PPreferredService).is_none());
        assert_eq!(h(crate::sip::HeaderName::ConversationId), "g2-r");
        assert_eq!(h(crate::sip::HeaderName::CallId), "ld1f-r@harness");
        let body = String::from_utf8_lossy(m.body()).into_owned();
        assert!(body.contains("application/resource-lists+xml"), "{body}");
        assert!(body.contains("<entry uri=\"sip:im2@im.remote.example\""), "{body}");
        assert!(body.contains("<entry uri=\"sip:+15550000002@cpm.example.com\""), "{body}");
        let ok = Message::parse(answer(&m, (me, ""), 0x1f, Some("group2-r"))).unwrap();
        assert_eq!(
            crate::interop::registration::focus_aor(&ok).as_deref(),
            Some("sip:group2-r@127.0.0.1"),
            "the focus named by its 2xx"
        );
        let plain = Message::parse(answer(&m, (me, ""), 0x1f, None)).unwrap();
        assert!(crate::interop::registration::focus_aor(&plain).is_none());
    }

    /// Listed users: at level 1 the IM clients in turn; at level 2 the four kinds in turn,
    /// receiving and sending CPM clients from the CPM clients of the list, IM clients from its
    /// IM clients, each list in turn; a sending client's pairs apart from its receiving ones.
    #[test]
    fn listed_users_take_the_kinds_from_their_lists() {
        let list = vec![
            ("sip:alice@im.example.net".to_string(), ClientKind::Cpm),
            ("sip:bob@im.example.net".to_string(), ClientKind::Im),
            ("sip:carol@im.example.net".to_string(), ClientKind::Cpm),
            ("sip:dave@im.example.net".to_string(), ClientKind::Im),
            ("sip:erin@im.example.net".to_string(), ClientKind::Im),
        ];
        let mut o = options(Level::One);
        o.users = LocalUsers::Listed(list.clone());
        let users = Users::new(&o);
        assert_eq!(users.count(), 3);
        let who: Vec<String> = (0..4).map(|k| users.pick(k, k).aor).collect();
        assert_eq!(
            who,
            ["sip:bob@im.example.net", "sip:dave@im.example.net", "sip:erin@im.example.net", "sip:bob@im.example.net"]
        );
        assert!((0..4).all(|k| !users.pick(k, k).cpm && !users.pick(k, k).orig));
        let mut o = options(Level::Two);
        o.users = LocalUsers::Listed(list.clone());
        let users = Users::new(&o);
        assert_eq!(users.count(), 5);
        let who: Vec<(String, bool, bool)> = (0..8)
            .map(|seen| {
                let u = users.pick(seen, seen);
                (user_part(&u.aor).to_string(), u.cpm, u.orig)
            })
            .collect();
        let w = |n: &str, cpm, orig| (n.to_string(), cpm, orig);
        assert_eq!(
            who,
            [
                w("alice", true, false),
                w("bob", false, false),
                w("carol", true, true),
                w("dave", false, false),
                w("alice", true, false),
                w("erin", false, false),
                w("carol", true, true),
                w("bob", false, false),
            ]
        );
        // Alice receives from peer 0; Carol sends to peer 5 + 2 and receives from none.
        assert_eq!((users.pick(0, 0).pair, users.pick(2, 2).pair), (0, 7));
        assert_eq!(users.user(3), ("sip:dave@im.example.net".to_string(), false));
        assert_eq!(LocalUsers::Listed(list[1..2].to_vec()).unusable(Level::One), None);
        assert!(LocalUsers::Listed(list[..1].to_vec()).unusable(Level::One).unwrap().starts_with("no IM client"));
        assert!(LocalUsers::Listed(list[..1].to_vec()).unusable(Level::Two).unwrap().starts_with("no IM client"));
        assert!(LocalUsers::Listed(list[1..2].to_vec()).unusable(Level::Two).unwrap().starts_with("no CPM client"));
        assert_eq!(LocalUsers::Listed(list).unusable(Level::Two), None);
    }

    #[test]
    fn branches_and_call_ids_name_their_request() {
        assert_eq!(k_of("z9hG4bKldr-1f", "r"), Some((31, "initial")));
        assert_eq!(k_of("z9hG4bKldr-ack-1f", "r"), Some((31, "ack")));
        assert_eq!(k_of("z9hG4bKldr-bye-b", "r"), Some((11, "bye")));
        // Another run's branch (an earlier run from the same address) is not this run's.
        assert_eq!(k_of("z9hG4bKldq-1f", "r"), None);
        assert_eq!(k_of("ldb-r@harness", "r"), Some((11, "call")));
        assert_eq!(k_of("ldb-other@harness", "r"), None);
        assert_eq!(k_of("z9hG4bKxyz", "r"), None);
    }
}
