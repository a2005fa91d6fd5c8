//! The pcapng writer's output as Wireshark sees it: `tshark -Y sip` decodes every SIP message,
//! UDP and TCP, IPv4 and IPv6, with the addresses of the trace, in a file of one section and in
//! one of a section per run (`imcpm run --pcap`), which `capinfos` lists section by section.
//! Needs `tshark` and `capinfos` (Debian `tshark`, `wireshark-common`); fails, naming the
//! package, when they are not installed.
#![cfg(feature = "interop")]
// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::base::{Instant, Packet, Trace, Transport};
use imcpm::capture::{write_pcapng, write_runs_pcapng};
use std::net::SocketAddr;
use std::process::Command;

fn sip(first: &str, n: usize) -> Vec<u8> {
    let body = "hello";
    format!(
        "{first}\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{n}\r\nFrom: <sip:alice@cpm.example>;tag=a\r\n\
         To: <sip:bob@im.example>\r\nCall-ID: call-{n}\r\nCSeq: {n} MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn tshark_decodes_every_sip_message() {
    assert!(
        Command::new("tshark").arg("--version").output().is_ok(),
        "tshark is missing: install it (Debian: apt-get install tshark) to run the interop tests"
    );
    let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
    let core: SocketAddr = "10.0.0.2:5060".parse().unwrap();
    let ims: SocketAddr = "10.0.0.3:5070".parse().unwrap();
    let b6: SocketAddr = "[2001:db8::4]:5060".parse().unwrap();
    let c6: SocketAddr = "[2001:db8::2]:5060".parse().unwrap();
    let mut t = Trace::default();
    push(&mut t, Instant(1_000), a, core, Transport::Udp, sip("MESSAGE sip:bob@im.example SIP/2.0", 1));
    push(&mut t, Instant(2_000), core, ims, Transport::Tcp, sip("MESSAGE sip:bob@im.example SIP/2.0", 2));
    push(&mut t, Instant(3_000), ims, core, Transport::Tcp, sip("MESSAGE sip:bob@im.example SIP/2.0", 3));
    push(&mut t, Instant(4_000), core, ims, Transport::Tcp, sip("SIP/2.0 200 OK", 3));
    push(&mut t, Instant(5_000), ims, core, Transport::Tcp, sip("SIP/2.0 200 OK", 2));
    push(&mut t, Instant(6_000), c6, b6, Transport::Udp, sip("MESSAGE sip:bob@im.example SIP/2.0", 6));

    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tshark-check.pcapng");
    let mut file = Vec::new();
    write_pcapng(&t, &mut file).unwrap();
    std::fs::write(&path, &file).unwrap();

    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args(["-Y", "sip", "-T", "fields", "-E", "separator=|"])
        .args(["-e", "ip.src", "-e", "ipv6.src", "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID"])
        .args(["-e", "frame.comment"])
        .output()
        .expect("tshark runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), t.events.len(), "every message decoded as SIP:\n{stdout}\n{stderr}");
    let methods: Vec<String> = lines.iter().map(|l| l.split('|').nth(2).unwrap_or("").to_string()).collect();
    assert_eq!(methods, ["MESSAGE", "MESSAGE", "MESSAGE", "", "", "MESSAGE"], "{stdout}");
    assert!(lines[0].starts_with("10.0.0.1|"), "{stdout}");
    assert!(lines[5].contains("2001:db8::2"), "{stdout}");
    assert!(lines[3].contains("|200|call-3"), "{stdout}");
}

/// Two runs, each its own section: tshark reads the file whole and decodes every message of
/// both, each in its section (the TCP streams going on from the first section to the second),
/// and `capinfos` shows both sections with their comments.
#[test]
fn tshark_decodes_every_message_of_a_two_section_file() {
    let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
    let core: SocketAddr = "10.0.0.2:5060".parse().unwrap();
    let ims: SocketAddr = "10.0.0.3:5070".parse().unwrap();
    let b6: SocketAddr = "[2001:db8::4]:5060".parse().unwrap();
    let c6: SocketAddr = "[2001:db8::2]:5060".parse().unwrap();
    let request = "MESSAGE sip:bob@im.example SIP/2.0";
    let mut first = Trace::default();
    push(&mut first, Instant(1_000), a, core, Transport::Udp, sip(request, 1));
    push(&mut first, Instant(2_000), core, ims, Transport::Tcp, sip(request, 2));
    push(&mut first, Instant(3_000), ims, core, Transport::Tcp, sip("SIP/2.0 200 OK", 2));
    push(&mut first, Instant(4_000), c6, b6, Transport::Udp, sip(request, 4));
    // The second run starts its clock at 0 again and uses the same TCP connection.
    let mut second = Trace::default();
    push(&mut second, Instant(0), core, ims, Transport::Tcp, sip(request, 5));
    push(&mut second, Instant(1_000), ims, core, Transport::Tcp, sip(request, 6));
    push(&mut second, Instant(2_000), core, ims, Transport::Tcp, sip("SIP/2.0 200 OK", 6));
    push(&mut second, Instant(3_000), ims, core, Transport::Tcp, sip("SIP/2.0 200 OK", 5));
    push(&mut second, Instant(4_000), b6, c6, Transport::Udp, sip("SIP/2.0 200 OK", 4));
    let runs = [("t1/pager L1".to_string(), &first), ("t1/pager L2".to_string(), &second)];
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tshark-sections.pcapng");
    std::fs::write(&path, write_runs_pcapng(&runs, Vec::new()).unwrap()).unwrap();

    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args(["-Y", "sip", "-T", "fields", "-E", "separator=|"])
        .args(["-e", "frame.section_number", "-e", "sip.Call-ID", "-e", "frame.comment", "-e", "frame.time_relative"])
        .output()
        .expect("tshark runs (Debian: apt-get install tshark)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('|').collect()).collect();
    let got: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
    let want = [
        ("1", "call-1", "message #1"),
        ("1", "call-2", "message #2"),
        ("1", "call-2", "message #3"),
        ("1", "call-4", "message #4"),
        ("2", "call-5", "message #1"),
        ("2", "call-6", "message #2"),
        ("2", "call-6", "message #3"),
        ("2", "call-5", "message #4"),
        ("2", "call-4", "message #5"),
    ];
    assert_eq!(got, want, "every message of both sections decoded as SIP:\n{stdout}\n{stderr}");
    let times: Vec<f64> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times keep increasing: {times:?}");
    assert!(times[4] >= 1.0, "the second run a second after the first: {times:?}");

    let out =
        Command::new("capinfos").arg(&path).output().expect("capinfos runs (Debian: apt-get install wireshark-common)");
    assert!(out.status.success(), "capinfos failed: {}", String::from_utf8_lossy(&out.stderr));
    let info = String::from_utf8_lossy(&out.stdout);
    let first_at = info.find("imcpm run: t1/pager L1");
    let second_at = info.find("imcpm run: t1/pager L2");
    assert!(first_at.is_some() && first_at < second_at, "both section comments, in order:\n{info}");
    assert!(info.contains("Section 1:") || info.contains("Number of sections"), "two sections:\n{info}");
}

fn push(t: &mut Trace, time: Instant, from: SocketAddr, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
    t.push(time, Packet::new(transport, from, to, bytes));
}
