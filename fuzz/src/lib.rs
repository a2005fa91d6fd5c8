//! The checks behind each fuzz target, one function per target, taking the raw fuzz input.
//!
//! The binaries in `fuzz_targets/` only call these. The main crate's regression tests
//! (`tests/it/fuzz_regressions.rs`) include this file with `#[path]` and call the same
//! functions, so a minimised crash replays there exactly as the fuzzer ran it. This file may
//! therefore name only `imcpm`, `etherparse` and `std`.

use etherparse::PacketBuilder;
use imcpm::base::{ClientKind, Direction, Instant, Level, Packet, Service, SessionCase, Transport};
use imcpm::capture::{NotJudged, ReadOptions, SipMessage, read_streams};
use imcpm::interop::interwork::{Ids, RewriteOptions, rewrite as reference_rewrite};
use imcpm::interop::verify::{Egress, PairContext, check_pair};
use imcpm::node::im_server::{ImServer, ServerConfig};
use imcpm::node::{Input, Output, SansIo};
use imcpm::sip::{FramingError, HeaderName, Message, Span, StreamFrame, check_stream, frame_datagram};
use std::io::{Cursor, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Separates the parts of an input made of several pieces (capture files, ingress/egress).
/// Chosen so that no fixture contains it.
pub const SPLIT: &[u8] = b"\0--8<--\0";

/// Split `data` at [`SPLIT`], into at most `max` parts (the last keeps any further marker).
pub fn split_parts(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() + 1 < max {
        match rest.windows(SPLIT.len()).position(|w| w == SPLIT) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + SPLIT.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

/// A little reader over the fuzz input; every read past the end yields `None`.
struct Input8<'a>(&'a [u8]);

impl<'a> Input8<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

fn span_ok(s: Span, len: usize) -> bool {
    s.start <= s.end && s.end <= len
}

fn within(inner: Span, outer: Span) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn stat(stats: &imcpm::capture::ReadStats, why: NotJudged) -> u64 {
    stats.not_judged.get(&why).copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// capture_read

/// Target `capture_read`: the input is one capture file, or several separated by [`SPLIT`]
/// (read together, merged in time order, as `imcpm check` reads several files). Every message
/// is consumed; the statistics must agree with what was delivered.
pub fn capture_read(data: &[u8]) {
    let files = split_parts(data, 4);
    let n_files = files.len();
    let inputs: Vec<(PathBuf, Box<dyn Read + Send>)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (PathBuf::from(format!("fuzz-{i}")), Box::new(Cursor::new(f.to_vec())) as Box<dyn Read + Send>))
        .collect();
    let mut delivered = 0u64;
    let mut bytes = 0usize;
    let (stats, err) = read_streams(inputs, &ReadOptions::default(), |m: SipMessage| {
        assert!(m.file < n_files, "message from file {} of {n_files}", m.file);
        delivered += 1;
        bytes += m.packet.bytes.len();
    });
    assert_eq!(stats.sip, delivered, "ReadStats::sip counts the messages delivered");
    assert_eq!(stats.frames_per_file.len(), n_files);
    assert_eq!(stats.frames, stats.frames_per_file.iter().sum::<u64>());
    assert_eq!(stats.gaps, stat(&stats, NotJudged::TcpGap), "NotJudged::TcpGap equals ReadStats::gaps");
    // Nothing is made from nothing: messages are cut from the input's bytes.
    assert!(bytes <= data.len(), "{bytes} message bytes out of a {}-byte input", data.len());
    if let Some(e) = err {
        assert!(e.file() < n_files);
        let _ = e.to_string();
    }
    for e in &stats.later_errors {
        assert!(e.file() < n_files);
    }
}

// ---------------------------------------------------------------------------------------------
// tcp_reassembly

/// The endpoints of connection `c` (0..4): the client, and the server on 5060 (15060 for
/// connection 3, which is SIP by content only).
fn conn_addrs(c: u8, v6: bool) -> (SocketAddr, SocketAddr) {
    let sport = if c == 3 { 15060 } else { 5060 };
    if v6 {
        let cl = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1 + u16::from(c));
        let sv = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
        (SocketAddr::new(IpAddr::V6(cl), 40000 + u16::from(c)), SocketAddr::new(IpAddr::V6(sv), sport))
    } else {
        let cl = Ipv4Addr::new(10, 0, 0, 1 + c);
        let sv = Ipv4Addr::new(10, 0, 0, 100);
        (SocketAddr::new(IpAddr::V4(cl), 40000 + u16::from(c)), SocketAddr::new(IpAddr::V4(sv), sport))
    }
}

/// Initial sequence number of a direction; connection 0's client side wraps around 2^32 soon.
fn isn(c: u8, to_client: bool, v6: bool) -> u32 {
    match (c, to_client) {
        (0, false) => u32::MAX - 700,
        _ => 0x1000_0000u32.wrapping_mul(u32::from(c) + 1) ^ (u32::from(to_client) << 20) ^ (u32::from(v6) << 8),
    }
}

/// One Ethernet/IP/TCP frame.
fn tcp_frame(from: SocketAddr, to: SocketAddr, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = match (from.ip(), to.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => eth.ipv4(a.octets(), b.octets(), 64),
        (IpAddr::V6(a), IpAddr::V6(b)) => eth.ipv6(a.octets(), b.octets(), 64),
        _ => unreachable!("both ends of a connection have one family"),
    };
    let mut tcp = ip.tcp(from.port(), to.port(), seq, 65535).ack(1);
    if flags & 0x02 != 0 {
        tcp = tcp.syn();
    }
    if flags & 0x04 != 0 {
        tcp = tcp.fin();
    }
    if flags & 0x08 != 0 {
        tcp = tcp.rst();
    }
    if !payload.is_empty() {
        tcp = tcp.psh();
    }
    let mut out = Vec::with_capacity(tcp.size(payload.len()));
    #[allow(clippy::unwrap_used)]
    tcp.write(&mut out, payload).unwrap();
    out
}

/// A little-endian microsecond pcap (Ethernet) of `frames`: (time µs, frame bytes).
pub fn pcap(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (t, f) in frames {
        out.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The reader's bounds for a `tcp_reassembly` input: the defaults, or (by the bits of the first
/// byte) small ones that the fuzzer can reach: eviction, the per-direction bound, the message
/// bound and a short gap wait.
pub fn tcp_options(b: u8) -> ReadOptions {
    let mut o = ReadOptions::default();
    if b & 0x01 != 0 {
        o.max_direction_bytes = 1500;
    }
    if b & 0x02 != 0 {
        o.max_total_bytes = 3000;
    }
    if b & 0x04 != 0 {
        o.max_directions = 2;
    }
    if b & 0x08 != 0 {
        o.max_message_bytes = 900;
    }
    if b & 0x10 != 0 {
        o.tcp_gap_wait_us = 20_000;
    }
    if b & 0x20 != 0 {
        o.duplicate_window_us = 0;
    }
    o
}

/// Largest TCP payload one record makes.
pub const MAX_SEGMENT: usize = 1460;

/// Build the capture a `tcp_reassembly` input describes.
///
/// Layout: one options byte ([`tcp_options`]), then records until the input ends:
/// - flags: bit 0 direction (server to client), bit 1 SYN, bit 2 FIN, bit 3 RST, bits 4-5 the
///   connection (0-3), bit 6 a jump of 4 s in time (longer than the default gap wait), bit 7
///   IPv6;
/// - i16 LE: sequence number relative to the highest one sent so far in that direction
///   (0 continues the stream, negative retransmits or overlaps, positive leaves a hole);
/// - u8: milliseconds since the previous frame;
/// - u16 LE: payload length (at most [`MAX_SEGMENT`], cut at the end of the input), then the
///   payload.
///
/// The first SYN of a direction should use offset -1 (its sequence number is the ISN).
pub fn tcp_capture(data: &[u8]) -> (ReadOptions, Vec<u8>) {
    let mut r = Input8(data);
    let opts = tcp_options(r.u8().unwrap_or(0));
    // Highest sequence number sent per (connection, direction, family): the next byte.
    let mut next: [[[Option<u32>; 2]; 2]; 4] = [[[None; 2]; 2]; 4];
    let mut t: u64 = 1_714_564_800_000_000;
    let mut frames = Vec::new();
    while let (Some(flags), Some(off), Some(dt)) = (r.u8(), r.u16(), r.u8()) {
        let len = usize::from(r.u16().unwrap_or(0)).min(MAX_SEGMENT);
        let payload = r.take(len);
        let to_client = flags & 0x01 != 0;
        let c = (flags >> 4) & 0x03;
        let v6 = flags & 0x80 != 0;
        t += u64::from(dt) * 1000 + if flags & 0x40 != 0 { 4_000_000 } else { 0 };
        let (cl, sv) = conn_addrs(c, v6);
        let (from, to) = if to_client { (sv, cl) } else { (cl, sv) };
        let hw = &mut next[usize::from(c)][usize::from(to_client)][usize::from(v6)];
        let base = *hw.get_or_insert_with(|| isn(c, to_client, v6).wrapping_add(1));
        let seq = base.wrapping_add(i32::from(off as i16) as u32);
        let used = payload.len() as u32 + u32::from(flags & 0x06 != 0);
        let end = seq.wrapping_add(used);
        if (end.wrapping_sub(base) as i32) > 0 {
            *hw = Some(end);
        }
        frames.push((t, tcp_frame(from, to, seq, flags, payload)));
    }
    (opts, pcap(&frames))
}

/// Target `tcp_reassembly`: TCP segments (see [`tcp_capture`]) through the capture reader.
/// True when the head of `b` ends and its Content-Length (or `l`) claims more bytes than follow.
fn claims_more(b: &[u8]) -> bool {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let body = b.len() - end - 4;
    b[..end].split(|c| *c == b'\n').any(|line| {
        let Some(colon) = line.iter().position(|c| *c == b':') else { return false };
        let name = line[..colon].trim_ascii();
        (name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l"))
            && std::str::from_utf8(line[colon + 1..].trim_ascii())
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|n| n > body)
    })
}

/// Every message delivered must be one whole stream frame, parse or be counted as not parsing,
/// and come in capture-time order; the statistics must agree with what was delivered.
/// Returns (delivered, parsed).
pub fn tcp_reassembly(data: &[u8]) -> (u64, u64) {
    let (opts, file) = tcp_capture(data);
    let mut delivered = 0u64;
    let mut parsed = 0u64;
    let mut last_time = 0u64;
    let input: Box<dyn Read + Send> = Box::new(Cursor::new(file));
    let (stats, err) = read_streams(vec![(PathBuf::from("tcp.pcap"), input)], &opts, |m: SipMessage| {
        delivered += 1;
        assert_eq!(m.packet.transport, Transport::Tcp);
        let b = &m.packet.bytes;
        // Cut by the stream framer at the front of the buffer: it frames to exactly itself, or,
        // when its Content-Length claims more than the stream holds before a segment that starts
        // with a start line, it was cut there (the wrong length shows, for the judge): the framer
        // then wants more bytes than the message has.
        let framed = check_stream(b);
        let cut_short = framed == Err(FramingError::Incomplete) && claims_more(b);
        assert!(
            framed == Ok(StreamFrame::Message { start: 0, end: b.len() }) || cut_short,
            "{framed:?} for {:?}",
            String::from_utf8_lossy(b)
        );
        assert!(m.time_us >= last_time, "delivered out of time order: {} after {last_time}", m.time_us);
        last_time = m.time_us;
        if Message::parse(b.clone()).is_ok() {
            parsed += 1;
        }
    });
    assert!(err.is_none(), "the synthetic pcap is well formed: {err:?}");
    assert_eq!(stats.sip, delivered);
    assert_eq!(stats.gaps, stat(&stats, NotJudged::TcpGap));
    (delivered, parsed)
}

// ---------------------------------------------------------------------------------------------
// sip_parse

/// Every span of a parsed message lies within its buffer, and each header's name and value lie
/// within its line.
pub fn check_spans(m: &Message) {
    let len = m.bytes().len();
    assert!(span_ok(m.start_line_span(), len));
    assert!(span_ok(m.body_span(), len));
    assert!(span_ok(m.headers_end(), len));
    assert_eq!(m.body_span().end, len, "the body runs to the end");
    for h in m.headers() {
        assert!(span_ok(h.line, len), "{h:?} in {len} bytes");
        assert!(span_ok(h.name_span, len), "{h:?} in {len} bytes");
        assert!(span_ok(h.value, len), "{h:?} in {len} bytes");
        assert!(within(h.name_span, h.line), "{h:?}");
        assert!(within(h.value, h.line), "{h:?}");
        let _ = m.value(h);
        for v in imcpm::sip::split_list(m.bytes(), h.value) {
            assert!(within(v, h.value), "list element {v:?} outside {h:?}");
        }
    }
    if let imcpm::sip::StartLine::Request { uri, .. } = m.start() {
        assert!(within(*uri, m.start_line_span()));
    }
}

/// Target `sip_parse`: datagram and stream framing, then the parser and its accessors.
pub fn sip_parse(data: &[u8]) {
    match frame_datagram(data) {
        Ok(f) => {
            let start = f.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + f.len() <= data.len());
            if f.len() != data.len()
                && let Ok(m) = Message::parse(f.to_vec())
            {
                check_spans(&m);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match check_stream(data) {
        Ok(StreamFrame::KeepAlive(n)) => assert!(n > 0 && n <= data.len()),
        Ok(StreamFrame::Message { start, end }) => {
            assert!(start <= end && end <= data.len());
            assert_eq!(check_stream(&data[..end]), Ok(StreamFrame::Message { start, end }));
        }
        Err(_) => {}
    }
    if let Ok(m) = Message::parse(data.to_vec()) {
        check_spans(&m);
        let _ = m.cseq();
        let _ = m.max_forwards();
        let _ = m.content_length();
        let _ = m.from_addr();
        let _ = m.to_addr();
        let _ = m.from_tag();
        let _ = m.to_tag();
        let _ = m.top_via_branch();
        let _ = m.request_uri();
        let _ = m.validate_for_proxy();
        for name in [HeaderName::Via, HeaderName::AcceptContact, HeaderName::Contact, HeaderName::Route] {
            for v in m.list_values(&name) {
                assert!(span_ok(v, m.bytes().len()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rewrite

/// Target `rewrite`: the reference rewrite in both directions on a message that parses, with
/// the service classified, and forced when the request cannot be classified. The output must
/// parse, keep the body, and keep Content-Length equal to the body length when the input had
/// it so.
pub fn rewrite(data: &[u8]) {
    let Ok(m) = Message::parse(data.to_vec()) else { return };
    let framed = m.content_length().ok().flatten() == Some(m.body().len());
    let ids = if data.len() % 2 == 0 {
        Ids {
            conversation_id: Some("3b241101-e2bb-4255-8caf-4136c566a962".into()),
            contribution_id: Some("9c858901-8a57-4791-81fe-4c455b099bc9".into()),
        }
    } else {
        Ids::default()
    };
    let forced = Service::ALL[data.len() % Service::ALL.len()];
    for direction in [Direction::CpmToIm, Direction::ImToCpm] {
        for service in [None, Some(forced)] {
            let opts = RewriteOptions { direction, service, ids: ids.clone() };
            let Ok(out) = reference_rewrite(&m, &opts) else { continue };
            let o = match Message::parse(out.clone()) {
                Ok(o) => o,
                Err(e) => panic!(
                    "{direction:?} {service:?}: the rewrite does not parse: {e}\n--- in\n{}\n--- out\n{}",
                    String::from_utf8_lossy(data),
                    String::from_utf8_lossy(&out)
                ),
            };
            check_spans(&o);
            assert_eq!(o.body(), m.body(), "{direction:?} {service:?}: the body changed");
            if framed {
                assert_eq!(
                    o.content_length().ok().flatten(),
                    Some(o.body().len()),
                    "{direction:?} {service:?}: Content-Length no longer matches the body"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// oracle_check

/// The context a configuration byte selects: bit 0 level, bit 1 session case, bits 2-3 client
/// (none, IM, CPM, IM), bit 6 the recipient offline, bit 7 an incomplete trace (a capture).
pub fn oracle_context(b: u8) -> PairContext {
    let level = if b & 1 == 0 { Level::One } else { Level::Two };
    let case = if b & 2 == 0 { SessionCase::Orig } else { SessionCase::Term };
    let client = [None, Some(ClientKind::Im), Some(ClientKind::Cpm), Some(ClientKind::Im)][usize::from((b >> 2) & 3)];
    let mut ctx = PairContext::new(level, case, client);
    if b & 0x40 != 0 {
        ctx.online = Some(false);
    }
    if b & 0x80 != 0 {
        ctx.complete = false;
    }
    ctx
}

/// Target `oracle_check`: a configuration byte ([`oracle_context`]; bits 4-5 choose the egress:
/// as it is, forwarded, responded, nothing), then ingress and egress separated by [`SPLIT`].
pub fn oracle_check(data: &[u8]) {
    let Some((&b, rest)) = data.split_first() else { return };
    let parts = split_parts(rest, 2);
    let [ingress, egress] = parts.as_slice() else { return };
    let (Ok(i), Ok(e)) = (Message::parse(ingress.to_vec()), Message::parse(egress.to_vec())) else { return };
    let ctx = oracle_context(b);
    let eg = match (b >> 4) & 3 {
        0 if e.is_request() => Egress::Forwarded(&e),
        0 => Egress::Responded(&e),
        1 => Egress::Forwarded(&e),
        2 => Egress::Responded(&e),
        _ => Egress::Nothing,
    };
    for f in check_pair(&ctx, &i, eg) {
        let _ = f.requirement.to_string();
    }
}

// ---------------------------------------------------------------------------------------------
// server

/// The reference server's address (UDP and TCP).
pub const SERVER: &str = "192.0.2.1:5060";
/// The S-CSCF (`scscf.im.example.net`).
pub const CORE: &str = "192.0.2.2:5060";
/// Senders a `server` input can choose from.
const PEERS: [&str; 4] = [CORE, "192.0.2.10:5060", "198.51.100.7:5060", "[2001:db8::7]:5060"];
/// Most inputs one `server` run takes.
pub const MAX_STEPS: usize = 48;
/// Most outputs one input may cause before the server must ask for time.
pub const MAX_OUTPUTS: usize = 10_000;

fn addr(s: &str) -> SocketAddr {
    #[allow(clippy::unwrap_used)]
    s.parse().unwrap()
}

/// The reference server as the tests build it; bit 0 of `b` chooses the level, bit 1 adds
/// static users (carol on IM, dave on CPM).
pub fn fuzz_server(b: u8) -> ImServer {
    let level = if b & 1 == 0 { Level::One } else { Level::Two };
    let mut c = ServerConfig::new(
        level,
        "imserver.im.example.net",
        "im.example.net",
        vec![(Transport::Udp, addr(SERVER)), (Transport::Tcp, addr(SERVER))],
    );
    c.hosts.insert("scscf.im.example.net".into(), addr(CORE));
    if b & 2 != 0 {
        c.users.push(("sip:carol@im.example.net".into(), ClientKind::Im));
        c.users.push(("sip:dave@im.example.net".into(), ClientKind::Cpm));
    }
    ImServer::new(c)
}

/// A response with `code` to `req` (the header fields RFC 3261 §8.2.6.2 copies).
fn reply(req: &Message, code: u16) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {code} Fuzz\r\n").into_bytes();
    for h in req.headers() {
        if matches!(h.name, HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq) {
            out.extend_from_slice(req.slice(h.line));
        } else if h.name == HeaderName::To {
            out.extend_from_slice(req.slice(Span::new(h.line.start, h.value.end)));
            if code > 100 && req.to_tag().is_none() {
                out.extend_from_slice(b";tag=fz1");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

/// Status codes a reply step chooses from.
const CODES: [u16; 12] = [100, 180, 183, 200, 202, 403, 404, 408, 480, 486, 503, 603];

/// Target `server`: the reference server fed what the input says, draining its output after
/// each input until it asks for time. Layout: a configuration byte ([`fuzz_server`]), then up
/// to [`MAX_STEPS`] steps, each an op byte and its operands:
/// - op & 3 == 0: receive; bit 2 TCP, bits 3-4 the sender ([`PEERS`]); u16 LE length, bytes;
/// - 1: time advances by the next byte × 10 ms (× 1000 with bit 2);
/// - 2: time advances to the deadline the server last asked for;
/// - 3: the last request the server sent is answered, with the status code chosen by the next
///   byte, from where it went to the server.
///
/// Every packet the server sends must come from its own address and parse. Returns the
/// packets sent.
pub fn server(data: &[u8]) -> Vec<Packet> {
    let mut r = Input8(data);
    let Some(cfg) = r.u8() else { return Vec::new() };
    let mut s = fuzz_server(cfg);
    let mut now = Instant::ZERO;
    let mut sent: Vec<Packet> = Vec::new();
    let mut last_request: Option<Packet> = None;
    let mut deadline = Instant::NEVER;
    let drain = |s: &mut ImServer, sent: &mut Vec<Packet>, last_request: &mut Option<Packet>| -> Instant {
        for _ in 0..MAX_OUTPUTS {
            match s.poll_output() {
                Output::Transmit(p) => {
                    assert_eq!(p.from, addr(SERVER), "the server sends from its own address");
                    if let Err(e) = Message::parse(p.bytes.clone()) {
                        panic!("the server sent what does not parse: {e}\n{}", String::from_utf8_lossy(&p.bytes));
                    }
                    if !p.bytes.starts_with(b"SIP/2.0") {
                        *last_request = Some(p.clone());
                    }
                    if sent.len() < 1024 {
                        sent.push(p);
                    }
                }
                Output::Timeout(t) => return t,
            }
        }
        panic!("the server did not settle after {MAX_OUTPUTS} outputs");
    };
    for _ in 0..MAX_STEPS {
        let Some(op) = r.u8() else { break };
        let input = match op & 3 {
            0 => {
                let transport = if op & 4 != 0 { Transport::Tcp } else { Transport::Udp };
                let from = addr(PEERS[usize::from((op >> 3) & 3)]);
                let len = usize::from(r.u16().unwrap_or(0));
                let bytes = r.take(len).to_vec();
                Input::Receive { now, packet: Packet::new(transport, from, addr(SERVER), bytes) }
            }
            1 => {
                let step = u64::from(r.u8().unwrap_or(0)) * if op & 4 != 0 { 10_000_000 } else { 10_000 };
                now = Instant(now.0 + step);
                Input::Timeout(now)
            }
            2 => {
                if deadline != Instant::NEVER {
                    now = now.max(deadline);
                }
                Input::Timeout(now)
            }
            _ => {
                let code = CODES[usize::from(r.u8().unwrap_or(0)) % CODES.len()];
                let Some(p) = last_request.as_ref() else { continue };
                let Ok(req) = Message::parse(p.bytes.clone()) else { continue };
                Input::Receive { now, packet: Packet::new(p.transport, p.to, p.from, reply(&req, code)) }
            }
        };
        s.handle_input(input);
        deadline = drain(&mut s, &mut sent, &mut last_request);
    }
    // Whatever is still pending runs out: every timer fires, within a bounded number of steps.
    for _ in 0..64 {
        if deadline == Instant::NEVER {
            break;
        }
        now = now.max(deadline).plus(Duration::from_millis(1));
        s.handle_input(Input::Timeout(now));
        deadline = drain(&mut s, &mut sent, &mut last_request);
    }
    sent
}
