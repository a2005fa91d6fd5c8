//! The capture reader on captures made by third-party tools (tests/fixtures/captures/, made by
//! scripts/make-capture-fixtures.sh with text2pcap, editcap, mergecap and dumpcap).

use imcpm::base::Transport;
use imcpm::capture::{CaptureError, NotJudged, ReadOptions, ReadStats, SipMessage, read_captures};
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures").join(name)
}

fn read_with(names: &[&str], opts: &ReadOptions) -> (Vec<SipMessage>, ReadStats, Option<CaptureError>) {
    let paths: Vec<PathBuf> = names.iter().map(|n| path(n)).collect();
    let mut msgs = Vec::new();
    let (stats, err) = read_captures(&paths, opts, |m| msgs.push(m));
    (msgs, stats, err)
}

fn read(names: &[&str]) -> (Vec<SipMessage>, ReadStats) {
    let (msgs, stats, err) = read_with(names, &ReadOptions::default());
    assert!(err.is_none(), "{names:?}: {err:?}");
    assert_eq!(stats.sip, msgs.len() as u64);
    (msgs, stats)
}

/// `req6` or `ok6` (the fixtures' Call-ID is `N@fixture`), then `/TCP` when over TCP.
fn label(m: &SipMessage) -> String {
    let text = String::from_utf8_lossy(&m.packet.bytes);
    let n = text
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .and_then(|v| v.strip_suffix("@fixture"))
        .unwrap_or("?")
        .to_string();
    let kind = if text.starts_with("SIP/2.0 200") { "ok" } else { "req" };
    let tcp = if m.packet.transport == Transport::Tcp { "/TCP" } else { "" };
    format!("{kind}{n}{tcp}")
}

fn labels(msgs: &[SipMessage]) -> Vec<String> {
    msgs.iter().map(label).collect()
}

/// Each message is exactly one SIP message: its Content-Length matches its body.
fn assert_whole(msgs: &[SipMessage]) {
    for m in msgs {
        let text = String::from_utf8_lossy(&m.packet.bytes);
        let (head, body) = text.split_once("\r\n\r\n").expect("header end");
        let cl: usize =
            head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).expect("Content-Length").parse().unwrap();
        assert_eq!(body.len(), cl, "{}", label(m));
    }
}

const T0_US: u64 = 1_714_564_800_000_000; // 2024-05-01 12:00:00 UTC

/// The loopback traffic of the kernel captures, in order.
const LOOPBACK: [&str; 17] = [
    "req1", "ok1", "req3", "ok3", "req2", "ok2", "req4", "ok4", "req5", "req6/TCP", "req7/TCP", "ok6/TCP", "ok7/TCP",
    "req8/TCP", "ok8/TCP", "req9/TCP", "ok9/TCP",
];

#[test]
fn kernel_captures_on_ethernet_sll_and_sll2() {
    for name in ["lo.pcapng", "any-sll2.pcapng", "any-sll.pcap"] {
        let (msgs, stats) = read(&[name]);
        assert_eq!(labels(&msgs), LOOPBACK, "{name}");
        assert_whole(&msgs);
        // IPv6 UDP, and IPv4 and IPv6 datagrams of 2000-byte bodies fragmented at MTU 1280.
        assert!(msgs[4].packet.from.is_ipv6() && msgs[6].packet.to.is_ipv6(), "{name}");
        assert!(msgs[2].packet.bytes.ends_with(&[b'x'; 2000]) && msgs[6].packet.bytes.len() > 2000, "{name}");
        // Two requests in one segment: both from the same frame.
        assert_eq!(msgs[9].frame, msgs[10].frame, "{name}");
        // SIP on port 15060, by its content.
        assert_eq!(msgs[8].packet.to.port(), 15060, "{name}");
        assert_eq!(stats.gaps, 0, "{name}");
        assert_eq!(stats.duplicates, 0, "{name}");
        assert!(!stats.not_judged.contains_key(&NotJudged::FragmentDropped), "{name}: {:?}", stats.not_judged);
        assert!(stats.not_judged.contains_key(&NotJudged::TcpNoPayload), "{name}");
        assert!(msgs.windows(2).all(|w| w[0].time_us <= w[1].time_us), "{name}");
    }
}

#[test]
fn tcp_out_of_order_and_retransmitted() {
    let (msgs, stats) = read(&["tcp-reordered.pcapng"]);
    assert_eq!(labels(&msgs), LOOPBACK);
    assert_whole(&msgs);
    // The request in three segments completes with the last of them to arrive (c2): the frame
    // after c3 (moved before c1) and c1.
    let req8 = &msgs[13];
    let (lo, _) = read(&["lo.pcapng"]);
    assert!(req8.frame > lo[10].frame);
    assert!(stats.retransmissions >= 1, "{stats:?}");
    assert_eq!(stats.gaps, 0);
}

#[test]
fn tcp_gap_is_reported_and_framing_resynchronises() {
    let (msgs, stats) = read(&["tcp-gap.pcapng"]);
    // req8 lost its middle segment: it is gone, req9 (glued to req8's tail) is found again.
    let want: Vec<&str> = LOOPBACK.iter().copied().filter(|l| *l != "req8/TCP").collect();
    assert_eq!(labels(&msgs), want);
    assert_whole(&msgs);
    assert_eq!(stats.gaps, 1);
    assert_eq!(stats.not_judged.get(&NotJudged::TcpGap), Some(&1));
}

#[test]
fn pcap_byte_orders_and_resolutions_read_the_same() {
    let (usec, _) = read(&["udp-usec.pcap"]);
    assert_eq!(labels(&usec), ["req11", "ok11"]);
    assert_eq!(usec[0].time_us, T0_US + 100_000);
    assert_eq!(usec[1].time_us, T0_US + 150_000);
    assert_eq!(usec[0].frame, 1);
    assert_eq!(usec[1].packet.from, "192.0.2.20:5060".parse().unwrap());
    for other in ["udp-nsec.pcap", "udp-be.pcap"] {
        let (msgs, _) = read(&[other]);
        assert_eq!(msgs, usec, "{other}");
    }
}

#[test]
fn raw_null_loop_and_vlan_link_types() {
    let cases: [(&str, &[&str]); 7] = [
        ("raw-ipv4.pcap", &["req12"]),
        ("raw-ipv6.pcap", &["req13"]),
        ("raw.pcap", &["req14", "req15"]),
        ("null.pcap", &["req14", "req15"]),
        ("null-be.pcap", &["req14", "req15"]),
        ("loop.pcap", &["req14", "req15"]),
        ("vlan.pcap", &["req16", "req17"]),
    ];
    for (name, want) in cases {
        let (msgs, stats) = read(&[name]);
        assert_eq!(labels(&msgs), want, "{name}");
        assert!(stats.not_judged.is_empty(), "{name}: {:?}", stats.not_judged);
        assert_whole(&msgs);
    }
    let (v6, _) = read(&["raw-ipv6.pcap"]);
    assert_eq!(v6[0].packet.from, "[2001:db8::10]:5060".parse().unwrap());
}

#[test]
fn pcapng_two_interfaces_duplicate_and_comments() {
    let (msgs, stats) = read(&["two-interfaces.pcapng"]);
    assert_eq!(labels(&msgs), ["req18", "ok18", "req19"]);
    assert_eq!(msgs.iter().map(|m| m.frame).collect::<Vec<_>>(), [1, 3, 4]);
    // Interface 1 has nanosecond timestamps, interface 0 microseconds.
    assert_eq!(msgs[1].time_us, T0_US + 200_000);
    assert_eq!(stats.frames, 4);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.retransmissions, 0);
    let comments: Vec<(usize, u64, &str)> = stats.comments.iter().map(|(f, n, c)| (*f, *n, c.as_str())).collect();
    assert_eq!(comments, [(0, 1, "first copy, on the Ethernet interface"), (0, 3, "the answer, on the raw interface")]);
}

#[test]
fn two_files_merge_in_time_order_with_a_duplicate() {
    let (msgs, stats) = read(&["merge-a.pcapng", "merge-b.pcap"]);
    assert_eq!(labels(&msgs), ["req21", "req22", "req23", "req24", "req25"]);
    assert_eq!(msgs.iter().map(|m| (m.file, m.frame)).collect::<Vec<_>>(), [(0, 1), (1, 1), (0, 2), (1, 2), (0, 3)]);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.frames, 6);
    assert_eq!(stats.frames_per_file, [3, 3]);
    // The pcapng file has one section; the pcap file has none.
    let sections: Vec<(usize, u64, u64)> = stats.sections.iter().map(|s| (s.file, s.first_frame, s.frames)).collect();
    assert_eq!(sections, [(0, 1, 3)]);
    // Without duplicate detection the copy counts as a second message.
    let opts = ReadOptions { duplicate_window_us: 0, ..ReadOptions::default() };
    let (all, stats, _) = read_with(&["merge-a.pcapng", "merge-b.pcap"], &opts);
    assert_eq!(all.len(), 6);
    assert_eq!(stats.duplicates, 0);
}

#[test]
fn truncated_files_name_file_and_frame_and_keep_what_came_before() {
    let (msgs, stats, err) = read_with(&["truncated.pcap"], &ReadOptions::default());
    assert_eq!(labels(&msgs), ["req30", "req31"]);
    let err = err.expect("an error");
    assert!(matches!(err, CaptureError::Truncated { frame: 3, file: 0, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("truncated.pcap") && text.contains("frame 3"), "{text}");
    assert_eq!(stats.frames, 2);

    let (msgs, _, err) = read_with(&["truncated.pcapng"], &ReadOptions::default());
    assert_eq!(labels(&msgs), ["req30", "req31", "req32", "req33"]);
    assert!(matches!(err, Some(CaptureError::Truncated { frame: 5, .. })), "{err:?}");

    // A broken file among good ones: the good one is read whole, the error names the bad one.
    let (msgs, stats, err) = read_with(&["udp-usec.pcap", "truncated.pcap"], &ReadOptions::default());
    assert_eq!(msgs.len(), 4);
    assert_eq!(err.map(|e| (e.file(), e.frame())), Some((1, 3)));
    assert!(stats.later_errors.is_empty());
}

#[test]
fn missing_and_foreign_files_are_errors() {
    let (_, _, err) = read_with(&["no-such-file.pcap"], &ReadOptions::default());
    assert!(matches!(err, Some(CaptureError::Open { .. })), "{err:?}");
    let (_, _, err) = read_with(&["README.md"], &ReadOptions::default());
    assert!(matches!(err, Some(CaptureError::NotACapture { .. })), "{err:?}");
}

#[test]
fn what_cannot_be_judged_is_counted_by_reason() {
    let (msgs, stats) = read(&["not-judged.pcapng"]);
    assert!(msgs.is_empty(), "{:?}", labels(&msgs));
    let want = [
        (NotJudged::Tls, 1),
        (NotJudged::Sctp, 1),
        (NotJudged::Esp, 1),
        (NotJudged::NotSipUdp, 1),
        (NotJudged::NotIp, 1),
        (NotJudged::UnknownLinkType(147), 1),
        (NotJudged::KeepAlive, 1),
        (NotJudged::UnframableSip, 1),
        (NotJudged::CutBySnaplen, 1),
    ];
    assert_eq!(stats.not_judged, want.into_iter().collect());
    assert_eq!(stats.frames, 9);
}

#[test]
fn user_ports_make_sip_of_any_text() {
    // The 15060 request is SIP by its content already; declaring the port changes nothing.
    let opts = ReadOptions { sip_ports: vec![5060, 15060], ..ReadOptions::default() };
    let (msgs, _, err) = read_with(&["lo.pcapng"], &opts);
    assert!(err.is_none());
    assert_eq!(labels(&msgs), LOOPBACK);
    // Declaring 5061 as TLS turns nothing here into TLS; declaring 5060 does.
    let opts = ReadOptions { tls_ports: vec![5060], ..ReadOptions::default() };
    let (msgs, stats, _) = read_with(&["udp-usec.pcap"], &opts);
    assert!(msgs.is_empty());
    assert_eq!(stats.not_judged.get(&NotJudged::Tls), Some(&2));
}

#[test]
fn what_the_pcapng_writer_writes_reads_back() {
    use imcpm::base::{Instant, Packet, Trace};
    use imcpm::capture::{PcapngOptions, read_streams, write_pcapng_with};
    let a = "192.0.2.1:5060".parse().unwrap();
    let b = "[2001:db8::2]:5062".parse().unwrap();
    let msg = |n: u8, body: usize| {
        let mut m = format!("MESSAGE sip:b@x SIP/2.0\r\nCall-ID: {n}\r\nContent-Length: {body}\r\n\r\n").into_bytes();
        m.resize(m.len() + body, b'b');
        m
    };
    let mut trace = Trace::default();
    trace.push(Instant(0), Packet::new(Transport::Udp, a, a, msg(1, 2)));
    trace.push(Instant(1_000), Packet::new(Transport::Tcp, b, b, msg(2, 0)));
    trace.push(Instant(2_000), Packet::new(Transport::Tcp, b, b, msg(3, 100_000)));
    trace.push(Instant(3_000), Packet::new(Transport::Udp, b, b, msg(4, 0)));
    let mut file = Vec::new();
    let opts = PcapngOptions { time_base_us: T0_US, comment: Some("round trip".into()) };
    write_pcapng_with(&trace, &opts, &mut file).unwrap();
    let mut got = Vec::new();
    let input: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(file));
    let (stats, err) = read_streams(vec![("mem.pcapng".into(), input)], &ReadOptions::default(), |m| got.push(m));
    assert!(err.is_none(), "{err:?}");
    let packets: Vec<Packet> = got.iter().map(|m| m.packet.clone()).collect();
    let want: Vec<Packet> = trace.events.iter().map(|o| o.packet.clone()).collect();
    assert_eq!(packets, want);
    assert_eq!(got.iter().map(|m| m.time_us - T0_US).collect::<Vec<_>>(), [0, 1_000, 2_000, 3_000]);
    assert!(stats.not_judged.is_empty(), "{:?}", stats.not_judged);
    assert_eq!(stats.comments.first().map(|c| (c.0, c.1, c.2.as_str())), Some((0, 0, "round trip")));
}

#[test]
fn the_sample_captures_read_whole() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures");
    for (name, run) in [("sim-t1-pager-L1", "t1/pager L1"), ("sim-t2-term-ft", "t2/term/ft L2")] {
        let listing = std::fs::read_to_string(root.join(format!("{name}.txt"))).unwrap();
        let mut n = 0;
        let (stats, err) = read_captures(&[root.join(format!("{name}.pcapng"))], &ReadOptions::default(), |_| n += 1);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(n, listing.lines().count(), "{name}");
        assert!(stats.not_judged.is_empty(), "{name}: {:?}", stats.not_judged);
        // Written by `imcpm run --pcap` for one scenario at one level: one section, named.
        let comments: Vec<&str> = stats.sections.iter().map(|s| s.comment.as_str()).collect();
        assert_eq!(comments, [format!("imcpm run: {run}")], "{name}");
        assert_eq!((stats.sections[0].first_frame, stats.sections[0].frames), (1, stats.frames), "{name}");
    }
}
