//! The fuzz targets' checks (fuzz/src/lib.rs, included as it is) on their committed seeds and
//! on the inputs the fuzzers found. docs/fuzzing.md says how a crash becomes a test here.

#[path = "../../fuzz/src/lib.rs"]
#[allow(unreachable_pub, dead_code, missing_docs)]
mod harness;

use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

#[test]
fn capture_read_seeds() {
    for (_, s) in seeds("capture_read") {
        harness::capture_read(&s);
    }
}

#[test]
fn tcp_reassembly_seeds_deliver_messages() {
    for (name, s) in seeds("tcp_reassembly") {
        let (delivered, parsed) = harness::tcp_reassembly(&s);
        if name.starts_with("bounds-") {
            continue;
        }
        assert!(delivered > 0, "{name}: nothing delivered");
        // With the SYN seen, the stream is taken to start with a message: the junk before the
        // first start line is framed with it (a message that does not parse, counted).
        if name != "keepalive-junk" {
            assert!(parsed > 0, "{name}: {delivered} delivered, none parses");
        }
    }
}

#[test]
fn sip_parse_seeds() {
    for (_, s) in seeds("sip_parse") {
        harness::sip_parse(&s);
    }
}

#[test]
fn rewrite_seeds() {
    for (_, s) in seeds("rewrite") {
        harness::rewrite(&s);
    }
}

#[test]
fn oracle_check_seeds() {
    for (_, s) in seeds("oracle_check") {
        harness::oracle_check(&s);
    }
}

#[test]
fn server_seeds_get_answers() {
    for (name, s) in seeds("server") {
        let sent = harness::server(&s);
        assert!(!sent.is_empty(), "{name}: the server sent nothing");
    }
}

/// capture_read: a pcapng whose second block is a Process Information Block (type 0x80000001)
/// with a block length of 8. pcap-parser 0.17.0 computes `block_len - 12` before checking it
/// (pcapng/block.rs:162): "attempt to subtract with overflow" wherever overflow is checked;
/// without overflow checks the length wraps. The reader rejects a block shorter than 12 bytes
/// before pcap-parser sees it: a corrupt-file error naming the file and the frame.
#[test]
fn pcapng_short_pib() {
    let mut file = Vec::new();
    // Section Header Block, little-endian, version 1.0, section length unknown.
    for w in [0x0A0D_0D0Au32, 28, 0x1A2B_3C4D] {
        file.extend_from_slice(&w.to_le_bytes());
    }
    file.extend_from_slice(&1u16.to_le_bytes());
    file.extend_from_slice(&0u16.to_le_bytes());
    file.extend_from_slice(&(-1i64).to_le_bytes());
    file.extend_from_slice(&28u32.to_le_bytes());
    // Process Information Block with a total length of 8 (at least 12 is required).
    file.extend_from_slice(&0x8000_0001u32.to_le_bytes());
    file.extend_from_slice(&8u32.to_le_bytes());
    assert_eq!(file.len(), 36);
    harness::capture_read(&file);
    let input: Vec<(PathBuf, Box<dyn std::io::Read + Send>)> =
        vec![("short-pib.pcapng".into(), Box::new(std::io::Cursor::new(file)))];
    let (stats, err) = imcpm::capture::read_streams(input, &imcpm::capture::ReadOptions::default(), |_| {});
    assert_eq!(stats.frames, 0);
    let msg = err.expect("a corrupt-file error").to_string();
    assert!(msg.contains("short-pib.pcapng") && msg.contains("0x80000001") && msg.contains("frame 1"), "{msg}");
}

/// oracle_check: a forwarded MESSAGE whose ingress has `Supported:` with no value and whose
/// egress has `Supported: x` (any list header does: Allow, Require, P-Asserted-Identity...).
/// `judge_preserve` (src/interop/verify/pair.rs) compared the value lists, found them
/// different, and took the first ingress value as the one lost when none differed at an
/// index: `&a[0]` on an empty list, "index out of bounds: the len is 0 but the index is 0".
/// Found by the fuzzer as `P-Asserted-Identity:` gaining `8`; minimised by hand. Now a FAIL of
/// SIP.PRESERVE naming the value added.
#[test]
fn oracle_empty_list_header_gains_values() {
    use imcpm::interop::finding::Verdict;
    use imcpm::interop::rules::ReqId;
    use imcpm::interop::verify::{Egress, check_pair};
    let head = "MESSAGE sip:bob@im.example.net SIP/2.0\r\n\
        Via: SIP/2.0/TCP scscf.im.example.net;branch=z9hG4bK1\r\n\
        From: <sip:alice@im.example.net>;tag=1\r\n\
        To: <sip:bob@im.example.net>\r\n\
        Call-ID: c1\r\n\
        CSeq: 1 MESSAGE\r\n\
        Max-Forwards: 70\r\n";
    let ingress = format!("{head}Supported:\r\nContent-Length: 0\r\n\r\n");
    let egress = format!("{head}Supported: x\r\nContent-Length: 0\r\n\r\n");
    // Level 1, originating, client unknown, the egress as it is (forwarded).
    let mut input = vec![0u8];
    input.extend_from_slice(ingress.as_bytes());
    input.extend_from_slice(harness::SPLIT);
    input.extend_from_slice(egress.as_bytes());
    harness::oracle_check(&input);
    let (i, e) = (imcpm::sip::Message::parse(ingress).unwrap(), imcpm::sip::Message::parse(egress).unwrap());
    let ctx = harness::oracle_context(0);
    let f = check_pair(&ctx, &i, Egress::Forwarded(&e));
    let bad: Vec<_> = f.iter().filter(|x| x.requirement == ReqId::SIP_PRESERVE && x.verdict == Verdict::Fail).collect();
    assert_eq!(bad.len(), 1, "{f:#?}");
    assert!(bad[0].observed.contains("Supported: x"), "{:?}", bad[0]);
}

/// tcp_reassembly: a message whose Content-Length (282) claims more than its connection holds
/// before a segment that starts with a start line. The reader cuts it at that segment (so the
/// wrong length shows in the message, for the judge to see); the target's check wanted every
/// delivered message to frame to exactly itself, and now accepts this cut. Found by the fuzzer.
#[test]
fn tcp_message_cut_at_a_segment_with_a_start_line() {
    let input =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz/tcp_reassembly-cut-short"))
            .unwrap();
    let (delivered, _) = harness::tcp_reassembly(&input);
    assert!(delivered > 0);
}

/// server: a datagram that does not parse but has the header lines a response needs, one of
/// them with a name the response could not carry as it was. The stateless answer echoed the
/// line as received and sent a response that does not parse itself. It now writes each header
/// with its name spelt out and sends nothing unless the response parses. Found by the fuzzer.
#[test]
fn server_answers_an_unparsable_request_only_with_a_response_that_parses() {
    let input = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz/server-raw-response-unparsable"),
    )
    .unwrap();
    let _ = harness::server(&input);
}
