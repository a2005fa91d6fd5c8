//! The reading pipeline behind [`super::read_captures`]: each file through a small reorder
//! buffer, a k-way merge of the files in timestamp order, duplicate detection, IP
//! reassembly, UDP and TCP, and an output queue that delivers the messages in time order.

use super::defrag::{Defrag, Defragged, FragInfo, frag_info};
use super::detect;
use super::link;
use super::read::{CaptureError, NotJudged, ReadOptions, ReadStats, SipMessage};
use super::source::{FileSource, FrameData, RawFrame};
use super::tcp::{Limits, Seen, Segment, StreamMessage, Tcp};
use crate::base::{Packet, Transport};
use crate::sip::frame_datagram;
use etherparse::{IpNumber, NetSlice, TcpSlice, UdpSlice};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::Hasher;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Capture time between two sweeps for stale TCP holes and old fragments.
const SWEEP_NS: u64 = 100_000_000;

/// A frame waiting in a file's reorder buffer, ordered by time then frame number.
struct Queued(RawFrame);

impl Queued {
    fn key(&self) -> (u64, u64) {
        (self.0.time_ns, self.0.frame)
    }
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}

/// One file in the merge.
struct Lane {
    src: Option<FileSource>,
    queue: BinaryHeap<Reverse<Queued>>,
    ended: bool,
}

impl Lane {
    /// The file's next frame in time order (within the reorder window).
    fn pull(&mut self, window: usize, errors: &mut Vec<CaptureError>) -> Option<RawFrame> {
        while !self.ended && self.queue.len() < window {
            let Some(src) = self.src.as_mut() else {
                self.ended = true;
                break;
            };
            match src.next_frame() {
                Ok(Some(f)) => self.queue.push(Reverse(Queued(f))),
                Ok(None) => self.ended = true,
                Err(e) => {
                    errors.push(e);
                    self.ended = true;
                }
            }
        }
        self.queue.pop().map(|Reverse(Queued(f))| f)
    }
}

/// Recently seen packets, for duplicates.
struct Recent {
    window_ns: u64,
    /// The keyed hash of packets ([`Recent::hash`]).
    keys: std::collections::hash_map::RandomState,
    order: VecDeque<(u64, u64)>,
    /// Hashes seen, by themselves: they come from a hash keyed at random per run, so they need
    /// no hashing again to spread over the table, and cannot be chosen from the capture's bytes.
    present: HashMap<u64, u32, std::hash::BuildHasherDefault<PassThrough>>,
}

/// A hasher that takes a `u64` as its own hash (for keys that are hashes already).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any other input is still hashed, byte by byte.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Most packets remembered for duplicate detection, whatever the window.
const MAX_RECENT: usize = 16_384;

impl Recent {
    /// A packet's hash, keyed at random for this run (SipHash).
    fn hash(&self, src: IpAddr, dst: IpAddr, proto: u8, frag: Option<&FragInfo>, payload: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.keys.hash_one((src, dst, proto, frag, payload))
    }
    /// True when `hash` was seen within the window before `time_ns`; remembers it otherwise.
    fn repeat(&mut self, hash: u64, time_ns: u64) -> bool {
        if self.window_ns == 0 {
            return false;
        }
        while let Some(&(t, h)) = self.order.front() {
            if t.saturating_add(self.window_ns) >= time_ns && self.order.len() < MAX_RECENT {
                break;
            }
            self.order.pop_front();
            if let Some(n) = self.present.get_mut(&h) {
                *n -= 1;
                if *n == 0 {
                    self.present.remove(&h);
                }
            }
        }
        if self.present.contains_key(&hash) {
            return true;
        }
        self.order.push_back((time_ns, hash));
        *self.present.entry(hash).or_default() += 1;
        false
    }
}

/// A message waiting for the messages before it in time.
struct Ready {
    key: (u64, usize, u64, u64),
    msg: SipMessage,
}
impl PartialEq for Ready {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ready {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

/// The reading state of one call.
struct Reader<'o, F> {
    opts: &'o ReadOptions,
    sink: F,
    stats: ReadStats,
    recent: Recent,
    defrag: Defrag,
    tcp: Tcp,
    /// Whether a TCP connection on ports not known as SIP carries SIP (by its first payload).
    tcp_kind: HashMap<(SocketAddr, SocketAddr), bool>,
    clock_ns: u64,
    next_sweep_ns: u64,
    out: Vec<StreamMessage>,
    /// Messages not delivered yet: a TCP stream waiting behind a hole may still give earlier
    /// ones.
    ready: BinaryHeap<Reverse<Ready>>,
    made: u64,
    /// The comment of each pcapng section seen: (file, section number) -> comment.
    section_comments: HashMap<(usize, u32), std::sync::Arc<str>>,
}

pub(super) fn run(
    inputs: Vec<(PathBuf, Option<Box<dyn Read + Send>>)>,
    mut errors: Vec<CaptureError>,
    opts: &ReadOptions,
    sink: impl FnMut(SipMessage),
) -> (ReadStats, Option<CaptureError>) {
    let mut lanes: Vec<Lane> = Vec::new();
    for (file, (path, input)) in inputs.into_iter().enumerate() {
        let src = input.and_then(|r| match FileSource::new(file, &path, r, opts.max_block_bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(e);
                None
            }
        });
        lanes.push(Lane { src, queue: BinaryHeap::new(), ended: false });
    }
    let mut reader = Reader::new(opts, sink);
    let window = opts.reorder_frames.max(1);
    let mut heads: Vec<Option<RawFrame>> = lanes.iter_mut().map(|l| l.pull(window, &mut errors)).collect();
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|f| ((f.time_ns, i, f.frame), i)))
            .min()
            .map(|(_, i)| i);
        let Some(i) = next else { break };
        let (Some(frame), Some(lane)) = (heads[i].take(), lanes.get_mut(i)) else { break };
        heads[i] = lane.pull(window, &mut errors);
        reader.frame(frame);
    }
    reader.finish();
    let mut stats = reader.stats;
    for (file, lane) in lanes.iter_mut().enumerate() {
        let src = lane.src.as_mut();
        stats.frames_per_file.push(src.as_ref().map_or(0, |s| s.frames()));
        if let Some(s) = src {
            stats.comments.extend(s.take_file_comments().into_iter().map(|c| (file, 0, c)));
            stats.sections.extend(s.take_sections());
        }
    }
    stats.comments.sort_by_key(|(file, frame, _)| (*file, *frame));
    let mut errors = errors.into_iter();
    let first = errors.next();
    stats.later_errors = errors.collect();
    (stats, first)
}

/// A message's bytes in a buffer whose capacity is rounded up to 256 bytes: messages that
/// differ by a few bytes (a longer Call-ID) then come from the same allocator size classes,
/// so a long capture does not leave freed blocks of the old sizes behind when its IDs grow.
pub(super) fn message_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len().next_multiple_of(256));
    v.extend_from_slice(b);
    v
}

impl<'o, F: FnMut(SipMessage)> Reader<'o, F> {
    fn new(opts: &'o ReadOptions, sink: F) -> Self {
        let us = |v: u64| v.saturating_mul(1000);
        Reader {
            opts,
            sink,
            stats: ReadStats::default(),
            recent: Recent {
                window_ns: us(opts.duplicate_window_us),
                keys: std::collections::hash_map::RandomState::new(),
                order: VecDeque::new(),
                present: HashMap::default(),
            },
            defrag: Defrag::new(opts.max_pending_datagrams, us(opts.fragment_timeout_us)),
            tcp: Tcp::new(Limits {
                gap_wait_ns: us(opts.tcp_gap_wait_us),
                max_direction_bytes: opts.max_direction_bytes,
                max_total_bytes: opts.max_total_bytes,
                max_directions: opts.max_directions.max(1),
                max_message_bytes: opts.max_message_bytes,
            }),
            tcp_kind: HashMap::new(),
            clock_ns: 0,
            next_sweep_ns: 0,
            out: Vec::new(),
            ready: BinaryHeap::new(),
            made: 0,
            section_comments: HashMap::new(),
        }
    }

    /// Deliver the messages that no TCP hole can precede any more (all of them when `all`).
    fn deliver(&mut self, all: bool) {
        let watermark = if all { None } else { self.tcp.oldest_held() };
        while let Some(Reverse(top)) = self.ready.peek() {
            if watermark.is_some_and(|w| top.key.0 >= w) {
                break;
            }
            if let Some(Reverse(r)) = self.ready.pop() {
                (self.sink)(r.msg);
            }
        }
    }

    fn emit(&mut self, transport: Transport, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, seen: Seen) {
        self.stats.sip += 1;
        self.made += 1;
        let msg = SipMessage {
            file: seen.file,
            frame: seen.frame,
            time_us: seen.time_ns / 1000,
            section: seen.section,
            section_comment: self.section_comments.get(&(seen.file, seen.section)).cloned().unwrap_or_default(),
            packet: Packet::new(transport, from, to, bytes),
        };
        self.ready.push(Reverse(Ready { key: (seen.time_ns, seen.file, seen.frame, self.made), msg }));
    }

    fn emit_stream(&mut self) {
        for m in std::mem::take(&mut self.out) {
            self.emit(Transport::Tcp, m.from, m.to, m.bytes, m.seen);
        }
    }

    fn frame(&mut self, f: RawFrame) {
        self.one_frame(f);
        self.deliver(false);
    }

    fn one_frame(&mut self, f: RawFrame) {
        self.stats.frames += 1;
        if !f.section.1.is_empty() {
            self.section_comments.entry((f.file, f.section.0)).or_insert_with(|| f.section.1.clone());
        }
        for c in &f.comments {
            if self.stats.comments.len() < super::read::MAX_COMMENTS {
                self.stats.comments.push((f.file, f.frame, c.clone()));
            } else {
                self.stats.comments_not_kept += 1;
            }
        }
        if f.time_ns > self.clock_ns {
            self.clock_ns = f.time_ns;
        }
        if self.clock_ns >= self.next_sweep_ns {
            self.next_sweep_ns = self.clock_ns.saturating_add(SWEEP_NS);
            self.tcp.sweep(self.clock_ns, &mut self.out);
            self.emit_stream();
            self.defrag.expire(self.clock_ns);
        }
        let (linktype, bytes, cut) = match &f.data {
            FrameData::Packet { linktype, bytes, cut } => (*linktype, bytes.as_slice(), *cut),
            FrameData::Unreadable(_) => return self.stats.count(NotJudged::UnreadableRecord, 1),
        };
        let undecodable = if cut { NotJudged::CutBySnaplen } else { NotJudged::Undecodable };
        let sliced = match link::slice(linktype, bytes) {
            Ok(s) => s,
            Err(NotJudged::Undecodable) => return self.stats.count(undecodable, 1),
            Err(why) => return self.stats.count(why, 1),
        };
        let (src, dst): (IpAddr, IpAddr) = match &sliced.net {
            Some(NetSlice::Ipv4(v4)) => (v4.header().source_addr().into(), v4.header().destination_addr().into()),
            Some(NetSlice::Ipv6(v6)) => (v6.header().source_addr().into(), v6.header().destination_addr().into()),
            _ => return self.stats.count(NotJudged::NotIp, 1),
        };
        let Some(ip) = sliced.ip_payload() else { return self.stats.count(NotJudged::NotIp, 1) };
        let frag = frag_info(&sliced);
        let hash = self.recent.hash(src, dst, ip.ip_number.0, frag.as_ref(), ip.payload);
        if self.recent.repeat(hash, f.time_ns) {
            self.stats.duplicates += 1;
            return;
        }
        let seen = Seen { time_ns: f.time_ns, file: f.file, frame: f.frame, section: f.section.0 };
        let (proto, payload) = match &frag {
            None => (ip.ip_number, Cow::Borrowed(ip.payload)),
            Some(info) => match self.defrag.add(&sliced, info, f.time_ns) {
                Defragged::Pending => return,
                Defragged::Rejected => return self.stats.count(NotJudged::FragmentRejected, 1),
                Defragged::Complete(whole) => (ip.ip_number, Cow::Owned(whole)),
            },
        };
        self.transport(src, dst, proto, &payload, seen, undecodable);
    }

    fn transport(&mut self, src: IpAddr, dst: IpAddr, proto: IpNumber, payload: &[u8], seen: Seen, bad: NotJudged) {
        match proto {
            IpNumber::UDP => match UdpSlice::from_slice(payload) {
                Ok(udp) => self.udp(src, dst, &udp, seen),
                Err(_) => self.stats.count(bad, 1),
            },
            IpNumber::TCP => match TcpSlice::from_slice(payload) {
                Ok(tcp) => self.tcp(src, dst, &tcp, seen),
                Err(_) => self.stats.count(bad, 1),
            },
            IpNumber::SCTP => self.stats.count(NotJudged::Sctp, 1),
            IpNumber::ENCAPSULATING_SECURITY_PAYLOAD => self.stats.count(NotJudged::Esp, 1),
            other => self.stats.count(NotJudged::IpProtocol(other.0), 1),
        }
    }

    fn sip_port(&self, a: u16, b: u16) -> bool {
        self.opts.sip_ports.contains(&a) || self.opts.sip_ports.contains(&b)
    }

    fn tls_port(&self, a: u16, b: u16) -> bool {
        self.opts.tls_ports.contains(&a) || self.opts.tls_ports.contains(&b)
    }

    fn udp(&mut self, src: IpAddr, dst: IpAddr, udp: &UdpSlice<'_>, seen: Seen) {
        let (sp, dp) = (udp.source_port(), udp.destination_port());
        if self.tls_port(sp, dp) {
            return self.stats.count(NotJudged::Tls, 1);
        }
        let data = udp.payload();
        let on_port = self.sip_port(sp, dp);
        if on_port && detect::is_keepalive(data) {
            return self.stats.count(NotJudged::KeepAlive, 1);
        }
        // On a SIP port, text is SIP (a malformed start line is for the judge to see); binary
        // (STUN keep-alives, ...) is not.
        let text = data.iter().find(|&&b| b != b'\r' && b != b'\n').is_some_and(|b| b.is_ascii_graphic());
        let sip = (on_port && text) || detect::starts_with_sip(data);
        if !sip {
            return self.stats.count(NotJudged::NotSipUdp, 1);
        }
        match frame_datagram(data) {
            Ok(msg) => {
                let bytes = message_bytes(msg);
                self.emit(Transport::Udp, SocketAddr::new(src, sp), SocketAddr::new(dst, dp), bytes, seen);
            }
            Err(_) => self.stats.count(NotJudged::UnframableSip, 1),
        }
    }

    fn tcp(&mut self, src: IpAddr, dst: IpAddr, tcp: &TcpSlice<'_>, seen: Seen) {
        let (sp, dp) = (tcp.source_port(), tcp.destination_port());
        if self.tls_port(sp, dp) {
            return self.stats.count(NotJudged::Tls, 1);
        }
        let from = SocketAddr::new(src, sp);
        let to = SocketAddr::new(dst, dp);
        let data = tcp.payload();
        if !self.sip_port(sp, dp) {
            let conn = if from <= to { (from, to) } else { (to, from) };
            let is_sip = match self.tcp_kind.get(&conn) {
                Some(k) => *k,
                None if data.is_empty() => false,
                None => {
                    if self.tcp_kind.len() >= self.opts.max_directions.max(1).saturating_mul(4) {
                        self.tcp_kind.clear();
                    }
                    let k = detect::starts_with_sip(data);
                    self.tcp_kind.insert(conn, k);
                    k
                }
            };
            if !is_sip {
                return self.stats.count(NotJudged::NotSipTcp, 1);
            }
        }
        if data.is_empty() {
            self.stats.count(NotJudged::TcpNoPayload, 1);
        }
        let seg =
            Segment { seq: tcp.sequence_number(), syn: tcp.syn(), fin: tcp.fin(), rst: tcp.rst(), payload: data, seen };
        self.tcp.segment(from, to, seg, &mut self.out);
        self.emit_stream();
    }

    fn finish(&mut self) {
        self.tcp.finish(&mut self.out);
        self.emit_stream();
        self.deliver(true);
        self.defrag.finish();
        let c = self.tcp.counts;
        let s = &mut self.stats;
        s.gaps = c.gaps;
        s.retransmissions = c.retransmissions;
        s.count(NotJudged::TcpGap, c.gaps);
        s.count(NotJudged::NotSipTcp, c.not_sip);
        s.count(NotJudged::UnframableSip, c.unframable);
        s.count(NotJudged::TcpEvicted, c.evicted);
        s.count(NotJudged::TcpIncomplete, c.incomplete);
        s.count(NotJudged::FragmentDropped, self.defrag.dropped);
    }
}
