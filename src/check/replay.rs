//! Replaying a capture against a live server (`imcpm replay`): the requests a capture shows
//! going to the IM server are sent again, in order, to another server, and what it does with
//! them is judged by the oracle.
//!
//! - [`load`] reads the capture (whole: a replay keeps every request it will send) and builds
//!   the [`Script`]: the requests sent to the captured server (`--capture-sut`), with their
//!   capture times; the server's egress requests, by Call-ID and CSeq (for the side-by-side
//!   report); and the final response the next hop gave to each of them (the answer to give).
//! - [`Replayer`] is a sans-IO participant a socket driver hosts at the harness's address. It
//!   sends each request with span edits only: the top Via names the harness (one fresh branch per
//!   captured branch, so retransmissions, CANCEL and the ACK of a failed INVITE keep theirs), the
//!   Call-ID gets a suffix unique to the run, the top Route entry (the server's own) and any
//!   naming the captured server name the live one, every other Route entry the harness, and a
//!   Request-URI naming the captured server names the live one (one naming another IP address,
//!   a captured peer's Contact, names the harness). What the live server sends on reaches the
//!   harness, which answers with the status (and To tag) the captured next hop gave. Timing is
//!   the capture's ([`Speed::Original`]) or as fast as the server answers ([`Speed::Max`]: the
//!   next request once every earlier one has a final response, or after 2 s).
//! - [`judge`] runs the oracle over what was sent and received (a complete trace: a request the
//!   server neither forwards nor answers is a FAIL; a lossy one when the replay's own UDP
//!   sockets dropped datagrams, [`Replayer::dropped`]), keys the results by capture file and the
//!   captured Call-ID, and pairs each captured egress with the live one.

use super::capture::SutAddr;
use crate::base::{ClientKind, Instant, Level, Packet, Role, Trace, Transport};
use crate::capture::{CaptureError, ReadOptions, read_captures};
use crate::interop::finding::Finding;
use crate::interop::verify::trace::{TraceContext, check_trace};
use crate::node::transaction::response_to;
use crate::node::{Input, Output, SansIo};
use crate::report::model::ReplayPair;
use crate::report::{self, ResultItem};
use crate::sip::{Edit, HeaderName, Message, Method, NameAddr, SipUri, StatusCode, apply_edits};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How fast requests are re-sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Speed {
    /// With the capture's relative timing.
    Original,
    /// The next request once every earlier one has a final response (or after 2 s).
    Max,
}

/// One request to send again.
#[derive(Debug, Clone)]
pub struct Item {
    /// Capture time, µs since the first item.
    pub at_us: u64,
    /// Its frame in the capture.
    pub frame: u64,
    /// As captured.
    pub bytes: Vec<u8>,
    /// Captured Call-ID.
    pub call_id: String,
    /// CSeq as captured (`1 INVITE`).
    pub cseq: String,
}

/// What a replay sends and how it answers.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The requests the captured server received, in capture order.
    pub items: Vec<Item>,
    /// The captured server's egress requests by (Call-ID, CSeq): frame and bytes.
    pub egress: HashMap<(String, String), (u64, Vec<u8>)>,
    /// The next hop's final answer to each egress by (Call-ID, CSeq): status and To tag.
    pub answers: HashMap<(String, String), (u16, Option<String>)>,
    /// Capture file names.
    pub files: Vec<String>,
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The capture could not be read to its end.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Nothing in it went to the captured server.
    #[error("no request to {0} in the capture: check --capture-sut")]
    Empty(String),
}

fn cseq_text(m: &Message) -> Option<String> {
    m.cseq().ok().map(|(n, method)| format!("{n} {method}"))
}

fn is_sut(sut: &[SutAddr], a: &SocketAddr) -> bool {
    sut.iter().any(|s| match s {
        SutAddr::Host(h) => *h == a.ip(),
        SutAddr::Addr(x) => x == a,
    })
}

/// Read `files` and build the script of a replay of the server at `capture_sut`.
pub fn load(files: &[PathBuf], capture_sut: &[SutAddr], read: &ReadOptions) -> Result<Script, ReplayError> {
    let mut script = Script {
        files: files
            .iter()
            .map(|f| f.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()))
            .collect(),
        ..Script::default()
    };
    let mut first: Option<u64> = None;
    let (_, err) = read_captures(files, read, |m| {
        let Ok(msg) = Message::parse(m.packet.bytes.clone()) else { return };
        let (Some(call_id), Some(cseq)) = (msg.call_id().map(|c| c.into_owned()), cseq_text(&msg)) else { return };
        let to_sut = is_sut(capture_sut, &m.packet.to);
        let from_sut = is_sut(capture_sut, &m.packet.from);
        if msg.is_request() && to_sut {
            let t0 = *first.get_or_insert(m.time_us);
            script.items.push(Item {
                at_us: m.time_us.saturating_sub(t0),
                frame: m.frame,
                bytes: m.packet.bytes.clone(),
                call_id,
                cseq,
            });
        } else if msg.is_request() && from_sut {
            script.egress.entry((call_id, cseq)).or_insert((m.frame, m.packet.bytes.clone()));
        } else if let (Some(status), true) = (msg.status(), to_sut) {
            let key = (call_id, cseq);
            if status.is_final() && script.egress.contains_key(&key) {
                script.answers.entry(key).or_insert((status.as_u16(), msg.to_tag()));
            }
        }
    });
    if let Some(e) = err {
        return Err(e.into());
    }
    if script.items.is_empty() {
        let names: Vec<String> = capture_sut.iter().map(ToString::to_string).collect();
        return Err(ReplayError::Empty(names.join(", ")));
    }
    Ok(script)
}

/// An IP literal as a SIP host.
fn host(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(v) => format!("{v}:{}", a.port()),
        IpAddr::V6(v) => format!("[{v}]:{}", a.port()),
    }
}

/// The replaying participant.
pub struct Replayer {
    script: Script,
    capture_sut: Vec<SutAddr>,
    sut: SocketAddr,
    listen: SocketAddr,
    transport: Transport,
    speed: Speed,
    /// Suffix of every Call-ID and branch of this replay.
    tag: String,
    next: usize,
    start: Option<Instant>,
    last_send: Instant,
    last_activity: Instant,
    branches: u64,
    /// Captured top-Via branch -> the branch sent in its place.
    branch_map: HashMap<String, String>,
    /// (live Call-ID, CSeq) of requests sent and not finally answered.
    pending: HashSet<(String, String)>,
    out: VecDeque<Packet>,
    /// Everything sent and received.
    pub trace: Trace,
    /// Live Call-ID -> captured Call-ID.
    pub call_ids: HashMap<String, String>,
    /// Other addresses the server spoke from (connections it opened).
    pub server_peers: Vec<SocketAddr>,
    /// Requests that could not be rewritten (frame and why).
    pub skipped: Vec<(u64, String)>,
    /// Datagrams the kernel dropped on the replay's own UDP sockets (set by the driver that ran
    /// it): when any were, the trace may miss messages and is judged as lossy.
    pub dropped: u64,
    done: bool,
}

/// How long a replay waits after its last message before it ends.
const QUIET: Duration = Duration::from_millis(200);
/// The longest a replay waits for answers after its last request (64*T1).
const LAST_WAIT: Duration = Duration::from_secs(32);
/// At [`Speed::Max`], the longest wait for a final response before the next request.
const MAX_GAP: Duration = Duration::from_secs(2);

impl Replayer {
    /// A replay of `script` toward `sut` over `transport`, the harness at `listen`; `tag`
    /// makes its Call-IDs and branches its own.
    pub fn new(
        script: Script,
        capture_sut: Vec<SutAddr>,
        sut: SocketAddr,
        listen: SocketAddr,
        transport: Transport,
        speed: Speed,
        tag: &str,
    ) -> Replayer {
        Replayer {
            script,
            capture_sut,
            sut,
            listen,
            transport,
            speed,
            tag: tag.to_string(),
            next: 0,
            start: None,
            last_send: Instant::ZERO,
            last_activity: Instant::ZERO,
            branches: 0,
            branch_map: HashMap::new(),
            pending: HashSet::new(),
            out: VecDeque::new(),
            trace: Trace::default(),
            call_ids: HashMap::new(),
            server_peers: Vec::new(),
            skipped: Vec::new(),
            dropped: 0,
            done: false,
        }
    }

    /// The script replayed.
    pub fn script(&self) -> &Script {
        &self.script
    }

    fn live_call_id(&self, captured: &str) -> String {
        format!("{captured}-r{}", self.tag)
    }

    /// The request of `item` as sent to the live server.
    fn rewrite(&mut self, item: &Item) -> Result<Vec<u8>, String> {
        let msg = Message::parse(item.bytes.clone()).map_err(|e| format!("unparsable: {e}"))?;
        let mut edits = Vec::new();
        let via = msg.top_via().ok_or("no Via")?;
        // One new branch per captured branch: a retransmission stays a retransmission, and a
        // CANCEL or the ACK of a failed INVITE keeps its INVITE's branch.
        // Keyed by sent-by and branch, and only for RFC 3261 branches (unique by construction):
        // an RFC 2543 or missing branch gets a branch of its own.
        let captured_branch = msg
            .top_via_branch()
            .filter(|b| b.starts_with("z9hG4bK"))
            .map(|b| format!("{} {b}", String::from_utf8_lossy(via.of(msg.bytes())).split(';').next().unwrap_or("")));
        let mapped = captured_branch.as_ref().and_then(|k| self.branch_map.get(k)).cloned();
        let branch = match mapped {
            Some(b) => b,
            None => {
                self.branches += 1;
                let b = format!("z9hG4bKr{}x{}", self.tag, self.branches);
                if let Some(k) = captured_branch {
                    self.branch_map.insert(k, b.clone());
                }
                b
            }
        };
        edits.push(Edit::replace(
            via,
            format!("SIP/2.0/{} {};branch={branch}", self.transport.as_str(), host(self.listen)),
        ));
        // A Request-URI naming the captured server names the live one; one naming another IP
        // address (a captured peer's Contact, as an in-dialog request has it) names the
        // harness, which plays every captured peer: the live server's forward must reach it.
        if let crate::sip::StartLine::Request { uri, .. } = msg.start() {
            if let Some(u) = SipUri::parse(&String::from_utf8_lossy(uri.of(msg.bytes()))) {
                let ip = u.host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().ok();
                let to = ip.map(|ip| {
                    if is_sut(&self.capture_sut, &SocketAddr::new(ip, u.port.unwrap_or(5060))) {
                        self.sut
                    } else {
                        self.listen
                    }
                });
                if let Some(to) = to {
                    let text = String::from_utf8_lossy(uri.of(msg.bytes())).into_owned();
                    let rest = strip_transport(text.find(';').map_or("", |i| &text[i..]));
                    let t = if self.transport == Transport::Tcp { ";transport=tcp" } else { "" };
                    let user = u.user.as_ref().map_or(String::new(), |x| format!("{x}@"));
                    edits.push(Edit::replace(*uri, format!("sip:{user}{}{t}{rest}", host(to))));
                }
            }
        }
        let cid = msg.first(&HeaderName::CallId).ok_or("no Call-ID")?;
        let live = self.live_call_id(&item.call_id);
        edits.push(Edit::replace(cid.value, live.clone()));
        self.call_ids.insert(live, item.call_id.clone());
        for (i, v) in msg.list_values(&HeaderName::Route).into_iter().enumerate() {
            let Some(na) = NameAddr::parse(msg.bytes(), v) else { continue };
            let uri = na.uri_text(msg.bytes());
            let Some(u) = SipUri::parse(&uri) else { continue };
            let ip = u.host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().ok();
            let named = ip.map(|ip| SocketAddr::new(ip, u.port.unwrap_or(5060)));
            // The first entry of a request sent to the server is the server's own (loose
            // routing sends a request to its top Route), whatever name it uses; so is any
            // entry naming the captured server's address. Every other hop is the harness.
            let own = i == 0 || named.is_some_and(|a| is_sut(&self.capture_sut, &a));
            let to = if own { self.sut } else { self.listen };
            // Keep the URI's parameters (lr, orig, odi, ...): replace scheme..host[:port].
            let params = uri.find(';').map_or("", |i| &uri[i..]);
            let params = strip_transport(params);
            let t = if self.transport == Transport::Tcp { ";transport=tcp" } else { "" };
            edits.push(Edit::replace(na.uri, format!("sip:{}{t}{params}", host(to))));
        }
        apply_edits(msg.bytes(), &edits).map_err(|e| format!("edit: {e}"))
    }

    fn send(&mut self, now: Instant, bytes: Vec<u8>) {
        let p = Packet { transport: self.transport, from: self.listen, to: self.sut, bytes };
        self.trace.push(now, p.clone());
        self.out.push_back(p);
        self.last_send = now;
        self.last_activity = now;
    }

    fn send_due(&mut self, now: Instant) {
        let Some(start) = self.start else { return };
        while self.next < self.script.items.len() {
            let item = self.script.items[self.next].clone();
            let due = match self.speed {
                Speed::Original => start + Duration::from_micros(item.at_us) <= now,
                Speed::Max => self.pending.is_empty() || now.since(self.last_send) >= MAX_GAP,
            };
            if !due {
                return;
            }
            self.next += 1;
            match self.rewrite(&item) {
                Ok(bytes) => {
                    let is_ack = bytes.starts_with(b"ACK ");
                    self.send(now, bytes);
                    if !is_ack {
                        self.pending.insert((self.live_call_id(&item.call_id), item.cseq.clone()));
                    }
                }
                Err(why) => self.skipped.push((item.frame, why)),
            }
        }
    }

    fn on_packet(&mut self, now: Instant, p: Packet) {
        self.last_activity = now;
        if p.from.ip() == self.sut.ip() && p.from != self.sut && !self.server_peers.contains(&p.from) {
            self.server_peers.push(p.from);
        }
        self.trace.push(now, p.clone());
        let Ok(msg) = Message::parse(p.bytes.clone()) else { return };
        let (Some(cid), Some(cseq)) = (msg.call_id().map(|c| c.into_owned()), cseq_text(&msg)) else { return };
        if let Some(status) = msg.status() {
            if status.is_final() {
                self.pending.remove(&(cid, cseq));
            }
            return;
        }
        if msg.method() == Some(&Method::Ack) {
            return;
        }
        // The server sent a request on: answer as the captured next hop did (200 when the
        // capture shows no answer).
        let captured = self.call_ids.get(&cid).cloned().unwrap_or(cid);
        let (status, tag) = self.script.answers.get(&(captured, cseq)).cloned().unwrap_or((200, None));
        let tag = tag.unwrap_or_else(|| format!("r{}", self.tag));
        let status = StatusCode::new(status);
        let resp = response_to(&msg, status, Some(&tag));
        let back = Packet { transport: p.transport, from: p.to, to: p.from, bytes: resp };
        self.trace.push(now, back.clone());
        self.out.push_back(back);
    }

    fn maybe_finish(&mut self, now: Instant) {
        if self.next < self.script.items.len() {
            return;
        }
        let quiet = now.since(self.last_activity) >= QUIET;
        if (self.pending.is_empty() && quiet) || now.since(self.last_send) >= LAST_WAIT {
            self.done = true;
        }
    }

    fn wake(&self) -> Instant {
        if self.done {
            return Instant::NEVER;
        }
        let Some(start) = self.start else { return Instant::ZERO };
        if let Some(item) = self.script.items.get(self.next) {
            return match self.speed {
                Speed::Original => start + Duration::from_micros(item.at_us),
                Speed::Max if self.pending.is_empty() => self.last_send,
                Speed::Max => self.last_send + MAX_GAP,
            };
        }
        // The quiet time ends the replay only once every request has its final response
        // ([`Replayer::maybe_finish`]); while one is missing, the next thing to wait for is
        // the last wait's end (waking at a quiet time already past would spin).
        if self.pending.is_empty() {
            (self.last_activity + QUIET).min(self.last_send + LAST_WAIT)
        } else {
            self.last_send + LAST_WAIT
        }
    }
}

/// The parameters of a URI without its `transport` (the replay picks the transport).
fn strip_transport(params: &str) -> String {
    params
        .split(';')
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("transport="))
        .map(|p| format!(";{p}"))
        .collect()
}

impl SansIo for Replayer {
    fn handle_input(&mut self, input: Input) {
        let now = match input {
            Input::Receive { now, packet } => {
                self.on_packet(now, packet);
                now
            }
            Input::Timeout(now) => now,
            Input::Unreachable { now, packet } => {
                self.skipped.push((0, format!("not delivered to {} (connection refused)", packet.to)));
                now
            }
        };
        if self.start.is_none() {
            self.start = Some(now);
            self.last_send = now;
            self.last_activity = now;
        }
        self.send_due(now);
        self.maybe_finish(now);
    }

    fn poll_output(&mut self) -> Output {
        match self.out.pop_front() {
            Some(p) => Output::Transmit(p),
            None => Output::Timeout(self.wake()),
        }
    }

    fn finished(&self) -> bool {
        self.done
    }
}

/// The results of a replay.
pub struct Replayed {
    /// Results keyed `FILE CALL-ID` (the captured Call-ID), or the file names for findings about
    /// the whole replay.
    pub results: Vec<ResultItem>,
    /// Captured and live egress side by side, in capture order (requests that neither server
    /// sent on left out).
    pub pairs: Vec<ReplayPair>,
}

/// Judge a finished replay at `level`.
pub fn judge(
    r: &Replayer,
    level: Level,
    domains: Vec<String>,
    users: BTreeMap<String, ClientKind>,
    findings_extra: Vec<Finding>,
) -> Replayed {
    let ctx = TraceContext {
        level,
        sut: std::iter::once(r.sut).chain(r.server_peers.iter().copied()).collect(),
        sut_hosts: Vec::new(),
        role: Role::Proxy,
        domains,
        users,
        // What the replay's own sockets dropped may be missing from the trace.
        complete: r.dropped == 0,
        lossy: r.dropped > 0,
    };
    let mut report = check_trace(&ctx, &r.trace);
    if r.dropped > 0 {
        for f in report.findings.iter_mut().filter(|f| f.verdict == crate::interop::finding::Verdict::Inconclusive) {
            f.observed = format!("{} (the replay's sockets dropped {} datagrams)", f.observed, r.dropped);
        }
    }
    let file = r.script.files.join(" + ");
    let key_of = |i: usize| -> Option<String> {
        let m = Message::parse(r.trace.events.get(i)?.packet.bytes.clone()).ok()?;
        let live = m.call_id()?.into_owned();
        Some(format!("{file} {}", r.call_ids.get(&live).cloned().unwrap_or(live)))
    };
    let mut by_key: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for f in report.findings.into_iter().chain(findings_extra) {
        let key = f.location.index().and_then(key_of).unwrap_or_else(|| file.clone());
        by_key.entry(key).or_default().push(f);
    }
    let results = by_key.iter().flat_map(|(k, fs)| report::group(k, level, fs)).collect();
    // Captured egress beside the live one, for each request the replay sent (ACKs aside).
    let mut pairs = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for item in r.script.items.iter().filter(|i| !i.bytes.starts_with(b"ACK ")) {
        let key = (item.call_id.clone(), item.cseq.clone());
        if !seen.insert(key.clone()) {
            continue; // a retransmission
        }
        let captured = r.script.egress.get(&key).map(|(f, b)| (*f, String::from_utf8_lossy(b).into_owned()));
        let live_cid = format!("{}-r{}", item.call_id, r.tag);
        let live = r.trace.events.iter().find_map(|e| {
            if !(e.packet.from == r.sut || r.server_peers.contains(&e.packet.from)) {
                return None;
            }
            let m = Message::parse(e.packet.bytes.clone()).ok()?;
            (m.is_request() && m.call_id()? == live_cid.as_str() && cseq_text(&m)? == item.cseq)
                .then(|| String::from_utf8_lossy(&e.packet.bytes).into_owned())
        });
        if captured.is_none() && live.is_none() {
            continue; // answered by the server itself both times (e.g. a REGISTER)
        }
        pairs.push(ReplayPair {
            frame: item.frame,
            call_id: item.call_id.clone(),
            cseq: item.cseq.clone(),
            captured_frame: captured.as_ref().map(|c| c.0),
            captured: captured.map(|c| c.1),
            live,
        });
    }
    Replayed { results, pairs }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that never answers: the replay waits for its last wait to end, asleep, instead
    /// of waking at a quiet time that has already passed (a busy loop of 32 s).
    #[test]
    fn a_replay_waiting_for_answers_sleeps_until_its_last_wait_ends() {
        let bytes = b"MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKa1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@cpm.example.com>;tag=a\r\nTo: <sip:bob@im.example.net>\r\nCall-ID: c1@x\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n".to_vec();
        let item = Item { at_us: 0, frame: 1, bytes, call_id: "c1@x".into(), cseq: "1 MESSAGE".into() };
        let script = Script { items: vec![item], files: vec!["c.pcap".into()], ..Script::default() };
        let (sut, me) = ("127.0.0.1:5060".parse().unwrap(), "127.0.0.1:5070".parse().unwrap());
        let mut r = Replayer::new(script, vec![], sut, me, Transport::Udp, Speed::Max, "t");
        let t0 = Instant::ZERO + Duration::from_secs(1);
        r.handle_input(Input::Timeout(t0));
        assert!(matches!(r.poll_output(), Output::Transmit(_)), "the request is sent");
        assert!(r.skipped.is_empty(), "{:?}", r.skipped);
        for after in [Duration::from_millis(300), Duration::from_secs(5), Duration::from_secs(31)] {
            let now = t0 + after;
            r.handle_input(Input::Timeout(now));
            let Output::Timeout(wake) = r.poll_output() else { panic!("nothing more to send") };
            assert_eq!(wake, t0 + LAST_WAIT, "{after:?} after the request, with no answer");
            assert!(!r.finished());
        }
        r.handle_input(Input::Timeout(t0 + LAST_WAIT));
        assert!(r.finished(), "the last wait is over");
    }

    /// A CPM MESSAGE replayed, the server's answer a 408 and no forward seen: a FAIL when the
    /// replay's sockets dropped nothing, INCONCLUSIVE (saying so) when they dropped datagrams
    /// (the forward may have been lost at the replay, the 408 the server's timeout of it).
    #[test]
    fn a_timeout_answer_is_inconclusive_when_the_replay_dropped_datagrams() {
        let (sut, me): (SocketAddr, SocketAddr) =
            ("127.0.0.1:5060".parse().unwrap(), "127.0.0.1:5070".parse().unwrap());
        let req = "MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\n\
                   Max-Forwards: 70\r\nFrom: <sip:alice@cpm.example.com>;tag=a\r\nTo: <sip:bob@im.example.net>\r\n\
                   Call-ID: c1-rt\r\nCSeq: 1 MESSAGE\r\nP-Served-User: <sip:bob@im.example.net>;sescase=term\r\n\
                   Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\r\n\
                   Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
        let resp = "SIP/2.0 408 Request Timeout\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\n\
                    From: <sip:alice@cpm.example.com>;tag=a\r\nTo: <sip:bob@im.example.net>;tag=s\r\nCall-ID: c1-rt\r\n\
                    CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
        let judged = |dropped: u64| {
            let script = Script { files: vec!["c.pcap".into()], ..Script::default() };
            let mut r = Replayer::new(script, vec![], sut, me, Transport::Udp, Speed::Max, "t");
            r.trace.push(Instant::ZERO, Packet::new(Transport::Udp, me, sut, req.as_bytes().to_vec()));
            r.trace.push(Instant(1000), Packet::new(Transport::Udp, sut, me, resp.as_bytes().to_vec()));
            r.dropped = dropped;
            let out = judge(&r, Level::One, vec!["im.example.net".into()], BTreeMap::new(), Vec::new());
            out.results
                .into_iter()
                .filter(|x| x.requirement == crate::interop::rules::ReqId::T1_TERM_PAGER)
                .map(|x| (x.verdict, x.findings.first().map(|f| f.observed.clone()).unwrap_or_default()))
                .collect::<Vec<_>>()
        };
        let clean = judged(0);
        assert_eq!(clean.len(), 1, "{clean:?}");
        assert_eq!(clean[0].0, crate::interop::finding::Verdict::Fail, "{clean:?}");
        let lossy = judged(4);
        assert_eq!(lossy.len(), 1, "{lossy:?}");
        assert_eq!(lossy[0].0, crate::interop::finding::Verdict::Inconclusive, "{lossy:?}");
        assert!(lossy[0].1.ends_with("(the replay's sockets dropped 4 datagrams)"), "{lossy:?}");
    }
}
