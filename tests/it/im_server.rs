//! The reference IM server driven with scripted packets in virtual time (no sockets), its output
//! judged by the same oracle the harness uses.

use crate::common::*;
use imcpm::base::Level;
use imcpm::base::{ClientKind, SessionCase};
use imcpm::base::{Packet, Transport};
use imcpm::interop::finding::Verdict;
use imcpm::interop::verify::{Egress, PairContext, check_pair};
use imcpm::node::SansIo;
use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::sip::Message;
use imcpm::sip::StatusCode;
use rstest::rstest;
use std::time::Duration;

fn judge(level: Level, case: SessionCase, client: ClientKind, ingress: &str, out: &[Packet]) -> Vec<(String, Verdict)> {
    let i = Message::parse(ingress.as_bytes().to_vec()).unwrap();
    let fwd = requests(out).into_iter().find(|p| p.to == addr(CORE));
    let resp = responses(out).into_iter().find(|p| !first_line(p).contains(" 100 "));
    let mut ctx = PairContext::new(level, case, Some(client));
    ctx.egress_transport = fwd.map(|p| p.transport);
    let fm = fwd.map(|p| Message::parse(p.bytes.clone()).unwrap());
    let rm = resp.map(|p| Message::parse(p.bytes.clone()).unwrap());
    let eg = match (&fm, &rm) {
        (Some(f), _) => Egress::Forwarded(f),
        (None, Some(r)) => Egress::Responded(r),
        _ => Egress::Nothing,
    };
    check_pair(&ctx, &i, eg)
        .into_iter()
        .filter(|f| f.verdict != Verdict::Pass)
        .map(|f| (f.requirement.to_string(), f.verdict))
        .collect()
}

/// An IM-form request to local user carol, as the core hands it to the server (terminating).
fn im_rx_to_carol(tx: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let (head, body) = tx.split_once("\r\n\r\n").unwrap();
    let mut skipped_via = false;
    for l in head.split("\r\n") {
        if l.starts_with("Via: SIP/2.0/TCP imserver") && l.contains("branch=z9hG4bKfoc") {
            // The group focus is a node of its own (D17), not the server under test.
            lines.push(l.replace("imserver.im.example.net", "focus.im.example.net").replace(".bob@i", ".bob"));
            continue;
        }
        if l.starts_with("Via: SIP/2.0/TCP imserver") && !skipped_via {
            skipped_via = true;
            continue;
        }
        if l.starts_with("Conversation-ID") || l.starts_with("Contribution-ID") || l.starts_with("P-Asserted-Service") {
            continue;
        }
        let l = l.replace("Record-Route: <sip:imserver.im.example.net;lr>, ", "Record-Route: ");
        let l = if l.starts_with("Route: ") {
            "Route: <sip:imserver.im.example.net;lr>, <sip:scscf.im.example.net;lr;odi=Ax7t>".to_string()
        } else {
            l
        };
        let l = if l.starts_with("Max-Forwards") { "Max-Forwards: 67".to_string() } else { l };
        lines.push(l.replace("sip:bob@im.example.net", "sip:carol@im.example.net"));
    }
    if !lines.iter().any(|l| l.starts_with("Route:")) {
        lines.insert(1, "Route: <sip:imserver.im.example.net;lr>, <sip:scscf.im.example.net;lr;odi=Ax7t>".into());
    }
    reframe(&format!("{}\r\n\r\n{body}", lines.join("\r\n")))
}

/// A CPM-form request from local CPM user carol, as the core hands it to the server (originating).
fn cpm_orig_from_carol(rx: &str) -> String {
    let s = rx
        .replace("Route: <sip:imserver.im.example.net;lr>,", "Route: <sip:imserver.im.example.net;lr;orig>,")
        .replace(
            "Route: <sip:pcscf.im.example.net;lr>",
            "Route: <sip:imserver.im.example.net;lr;orig>, <sip:scscf.im.example.net;lr>",
        )
        .replace("P-Preferred-Service:", "P-Asserted-Service:")
        .replace("<sip:+15551230001@cpm.example.com>;tag", "<sip:carol@im.example.net>;tag")
        .replace("To: <sip:bob@im.example.net>", "To: <sip:+15551230001@cpm.example.com>")
        .replace(" sip:bob@im.example.net SIP/2.0", " sip:+15551230001@cpm.example.com SIP/2.0")
        .replacen("CSeq:", "P-Served-User: <sip:carol@im.example.net>;sescase=orig;regstate=reg\r\nCSeq:", 1);
    reframe(&s)
}

fn register_carol(d: &mut Driver, tags: &str, expires: u32, n: u32) -> Vec<Packet> {
    d.send(Transport::Tcp, CORE, &third_party_register("sip:carol@im.example.net", tags, expires, n))
}

#[rstest]
#[case::pager("1a_pager_cpm_rx.sip")]
#[case::lmm("2a_lmm_cpm_rx.sip")]
#[case::imdn("3a_imdn_cpm_rx.sip")]
#[case::session("5a_session_cpm_rx.sip")]
#[case::group_focus("6d_focus_to_cpm.sip")]
fn t1_terminating_cpm_to_im(#[case] rx: &str, #[values(Level::One, Level::Two)] level: Level) {
    let mut rx = fixture(rx);
    if !rx.contains("Route: <sip:imserver") {
        rx = rx
            .replace(
                "Route: <sip:scscf.im.example.net;lr>",
                "Route: <sip:imserver.im.example.net;lr>, <sip:scscf.im.example.net;lr>",
            )
            .replace("sip:carol@", "sip:bob@");
    }
    let mut d = Driver::new(server(level, FaultSet::none()));
    let out = d.send(Transport::Tcp, CORE, &rx);
    assert_eq!(requests(&out).len(), 1, "{out:?}");
    let bad = judge(level, SessionCase::Term, ClientKind::Im, &rx, &out);
    assert!(bad.is_empty(), "{bad:?}\n{}", text(requests(&out)[0]));
}

#[rstest]
#[case::pager("1b_pager_im_tx.sip")]
#[case::lmm("2b_lmm_im_tx.sip")]
#[case::imdn("3b_imdn_im_tx.sip")]
#[case::ft("4a_ft_im_rx.sip")]
#[case::session("5b_session_im_tx.sip")]
#[case::group_focus("6c_focus_to_im.sip")]
fn t2_terminating_im_to_cpm(#[case] tx: &str) {
    let rx = im_rx_to_carol(&fixture(tx));
    let mut d = Driver::new(server(Level::Two, FaultSet::none()));
    let reg = register_carol(&mut d, CPM_TAGS, 3600, 1);
    assert!(first_line(&reg[0]).starts_with("SIP/2.0 200"));
    let out = d.send(Transport::Tcp, CORE, &rx);
    let bad = judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &rx, &out);
    assert!(bad.is_empty(), "{bad:?}\n{}", requests(&out).first().map(|p| text(p)).unwrap_or_default());
    assert!(text(requests(&out)[0]).contains("Conversation-ID: "));
}

#[rstest]
#[case::pager("1a_pager_cpm_rx.sip")]
#[case::lmm("2a_lmm_cpm_rx.sip")]
#[case::imdn("3a_imdn_cpm_rx.sip")]
#[case::session("5a_session_cpm_rx.sip")]
#[case::group("6b_group_cpm_ue.sip")]
fn t2_originating_cpm_to_im_and_level1_refusal(#[case] rx: &str) {
    let rx = cpm_orig_from_carol(&fixture(rx));
    let mut d = Driver::new(server(Level::Two, FaultSet::none()));
    register_carol(&mut d, CPM_TAGS, 3600, 1);
    let out = d.send(Transport::Tcp, CORE, &rx);
    let bad = judge(Level::Two, SessionCase::Orig, ClientKind::Cpm, &rx, &out);
    assert!(bad.is_empty(), "{bad:?}\n{}", requests(&out).first().map(|p| text(p)).unwrap_or_default());
    // Level 1: a local CPM client is refused with 403 (D7).
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let out = d.send(Transport::Tcp, CORE, &rx);
    assert!(requests(&out).is_empty());
    assert!(responses(&out).iter().any(|p| first_line(p).starts_with("SIP/2.0 403")), "{out:?}");
    assert!(judge(Level::One, SessionCase::Orig, ClientKind::Cpm, &rx, &out).is_empty());
}

#[test]
fn retransmissions_are_absorbed_and_answered_from_the_transaction() {
    let rx = fixture("1a_pager_cpm_rx.sip").replace(
        "SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
        "SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK77e1.term",
    );
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let mut fwd = 0;
    for _ in 0..3 {
        fwd += requests(&d.send(Transport::Udp, CORE, &rx)).iter().filter(|p| p.to == addr(CORE)).count();
    }
    assert_eq!(fwd, 1);
    // The downstream 200 is relayed once, with the server's Via removed; a later retransmission
    // is answered from the transaction.
    let f = d.out.iter().find(|(_, p)| !p.bytes.starts_with(b"SIP/2.0")).unwrap().1.clone();
    let fm = Message::parse(f.bytes.clone()).unwrap();
    let ok = imcpm::node::transaction::response_to(&fm, StatusCode::OK, Some("b1"));
    let up = d.send(f.transport, CORE, std::str::from_utf8(&ok).unwrap());
    assert_eq!(up.len(), 1);
    // Relayed with the server's own Via removed: the two Vias of the ingress remain.
    assert_eq!(text(&up[0]).matches("Via:").count(), 2);
    assert!(!text(&up[0]).contains("Via: SIP/2.0/UDP imserver.im.example.net"), "{}", text(&up[0]));
    let again = d.send(Transport::Udp, CORE, &rx);
    assert_eq!(again.len(), 1);
    assert!(first_line(&again[0]).starts_with("SIP/2.0 200"));
    // With the fault on, each retransmission is forwarded again.
    let mut d = Driver::new(server(Level::One, FaultSet::one(Fault::ForwardRetransmissions)));
    let n: usize = (0..3).map(|_| requests(&d.send(Transport::Udp, CORE, &rx)).len()).sum();
    assert_eq!(n, 3);
}

fn udp(rx: &str) -> String {
    rx.replace(
        "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
        "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK77e1.term",
    )
}

#[test]
fn timer_b_expiry_sends_408_upstream() {
    let rx = udp(&fixture("5a_session_cpm_rx.sip"));
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let out = d.send(Transport::Udp, CORE, &rx);
    assert!(first_line(responses(&out)[0]).starts_with("SIP/2.0 100"));
    let later = d.advance(Duration::from_secs(40));
    assert!(requests(&later).len() >= 5, "Timer A retransmissions: {}", requests(&later).len());
    assert!(responses(&later).iter().any(|p| first_line(p).starts_with("SIP/2.0 408")));
}

#[test]
fn timer_f_expiry_ends_without_408() {
    let rx = udp(&fixture("1a_pager_cpm_rx.sip"));
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    d.send(Transport::Udp, CORE, &rx);
    let later = d.advance(Duration::from_secs(40));
    assert!(requests(&later).len() >= 5, "Timer E retransmissions");
    assert!(
        responses(&later).is_empty(),
        "RFC 4320: no 408 for a non-INVITE: {:?}",
        responses(&later).iter().map(|p| first_line(p)).collect::<Vec<_>>()
    );
    d.advance(Duration::from_secs(40));
    assert_eq!(d.server.transactions(), 0, "transactions are removed");
}

#[test]
fn cancel_is_answered_and_forwarded() {
    let rx = fixture("5a_session_cpm_rx.sip");
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let out = d.send(Transport::Tcp, CORE, &rx);
    let fwd = Message::parse(requests(&out)[0].bytes.clone()).unwrap();
    let im = Message::parse(rx.as_bytes().to_vec()).unwrap();
    let cancel = imcpm::node::transaction::cancel_for(&im);
    let out = d.send(Transport::Tcp, CORE, std::str::from_utf8(&cancel).unwrap());
    assert!(responses(&out).iter().any(|p| first_line(p).starts_with("SIP/2.0 200") && text(p).contains("CANCEL")));
    assert!(requests(&out).iter().any(|p| first_line(p).starts_with("CANCEL ")));
    let r487 =
        imcpm::node::transaction::response_with_reason(&fwd, StatusCode::new(487), "Request Terminated", Some("t9"));
    let up = d.send(Transport::Tcp, CORE, std::str::from_utf8(&r487).unwrap());
    assert!(up.iter().any(|p| first_line(p).starts_with("SIP/2.0 487")), "{up:?}");
}

#[test]
fn max_forwards_zero_gets_483() {
    let rx = reframe(&fixture("1a_pager_cpm_rx.sip").replace("Max-Forwards: 67", "Max-Forwards: 0"));
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let out = d.send(Transport::Tcp, CORE, &rx);
    assert_eq!(out.len(), 1);
    assert!(first_line(&out[0]).starts_with("SIP/2.0 483"));
}

#[test]
fn offline_cpm_client_gets_480_and_nothing_later() {
    let rx = im_rx_to_carol(&fixture("1b_pager_im_tx.sip"));
    let mut d = Driver::new(server(Level::Two, FaultSet::none()));
    register_carol(&mut d, CPM_TAGS, 3600, 1);
    register_carol(&mut d, CPM_TAGS, 0, 2);
    let out = d.send(Transport::Tcp, CORE, &rx);
    assert!(first_line(&out[0]).starts_with("SIP/2.0 480"), "{out:?}");
    let again = register_carol(&mut d, CPM_TAGS, 3600, 3);
    assert!(requests(&again).is_empty());
    // The fault defers: 202 now, delivery on registration.
    let mut d = Driver::new(server(Level::Two, FaultSet::one(Fault::DeferOffline)));
    register_carol(&mut d, CPM_TAGS, 0, 1);
    let mut d2 = d;
    assert!(first_line(&d2.send(Transport::Tcp, CORE, &rx)[0]).starts_with("SIP/2.0 202"));
    assert_eq!(requests(&register_carol(&mut d2, CPM_TAGS, 3600, 2)).len(), 1);
}

#[test]
fn registration_expiry_makes_the_client_offline() {
    let rx = im_rx_to_carol(&fixture("1b_pager_im_tx.sip"));
    let mut d = Driver::new(server(Level::Two, FaultSet::none()));
    let r = register_carol(&mut d, CPM_TAGS, 60, 1);
    assert!(text(&r[0]).contains("Expires: 60"));
    let out = d.send(Transport::Tcp, CORE, &rx);
    assert!(text(requests(&out)[0]).contains("oma.cpm.msg"));
    d.advance(Duration::from_secs(61));
    let out = d.send(
        Transport::Tcp,
        CORE,
        &rx.replace("CSeq: 1 MESSAGE", "CSeq: 2 MESSAGE").replace("branch=z9hG4bK77e1.term", "branch=z9hG4bK77e2.term"),
    );
    assert!(first_line(&out[0]).starts_with("SIP/2.0 480"), "{out:?}");
    // An IM client registration makes the same user an IM user: no mapping.
    let mut d = Driver::new(server(Level::Two, FaultSet::none()));
    register_carol(&mut d, IM_TAGS, 3600, 1);
    let out = d.send(Transport::Tcp, CORE, &rx);
    assert!(text(requests(&out)[0]).contains("Accept-Contact: *;+g.oma.sip-im"));
}

#[test]
fn over_1300_bytes_switches_from_udp_to_tcp() {
    let rx = udp(&im_rx_to_carol(&fixture("4a_ft_im_rx.sip")).replace(
        "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
        "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK77e1.term",
    ));
    assert!(rx.len() < 1300);
    let mut d = Driver::new(server(Level::Two, FaultSet::none()));
    register_carol(&mut d, CPM_TAGS, 3600, 1);
    let out = d.send(Transport::Udp, CORE, &rx);
    let f = requests(&out)[0];
    assert!(f.bytes.len() > 1300);
    assert_eq!(f.transport, Transport::Tcp);
    assert!(text(f).starts_with("INVITE sip:carol@im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP "));
    let mut d = Driver::new(server(Level::Two, FaultSet::one(Fault::UdpOver1300)));
    register_carol(&mut d, CPM_TAGS, 3600, 1);
    assert_eq!(requests(&d.send(Transport::Udp, CORE, &rx))[0].transport, Transport::Udp);
}

#[test]
fn malformed_input_gets_400_and_the_server_keeps_serving() {
    let good = fixture("1a_pager_cpm_rx.sip");
    let bad_via = good.replace(
        "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
        "Via: SIP/2.0/TCP scscf.im.example.net:5060 junk;branch=z9hG4bK77e1.term",
    );
    let bad_cseq = good.replace("CSeq: 1 MESSAGE", "CSeq: 1 INVITE");
    let bad_ac =
        good.replace(r#"Accept-Contact: *;+g.3gpp.icsi-ref="urn%3A"#, r#"Accept-Contact: *;+g.3gpp.icsi-ref=urn%3A"#);
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    for (i, bad) in [&bad_via, &bad_cseq, &bad_ac].into_iter().enumerate() {
        let out = d.send(Transport::Tcp, CORE, bad);
        assert!(requests(&out).is_empty(), "case {i}: never repaired and forwarded");
        assert!(out.iter().any(|p| first_line(p).starts_with("SIP/2.0 400")), "{out:?}");
    }
    d.send(Transport::Tcp, CORE, "garbage\r\n\r\n");
    // A malformed header the server does not need is forwarded untouched.
    let bad_date = reframe(&good.replace("CSeq: 1 MESSAGE\r\n", "CSeq: 1 MESSAGE\r\nDate: not a date\r\n"));
    let out = d.send(Transport::Tcp, CORE, &bad_date);
    assert!(text(requests(&out)[0]).contains("Date: not a date\r\n"));
    let out = d.send(Transport::Tcp, CORE, &good.replace("z9hG4bK77e1.term", "z9hG4bK77e9.term"));
    assert_eq!(requests(&out).len(), 1);
}

/// RFC 3261 §16.3's checks before routing, and answers to requests that do not parse but carry
/// what a response needs (RFC 4475-style input), each one datagram from the core.
#[test]
fn odd_requests_get_the_answer_rfc_3261_gives_them() {
    let good = fixture("1a_pager_cpm_rx.sip");
    let start = good.lines().next().unwrap().to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown SIP version", good.replacen(&start, &start.replace("SIP/2.0", "SIP/7.0"), 1), "SIP/2.0 505"),
        (
            "TAB and double space in the request line",
            good.replacen(&start, &start.replacen(' ', "\t", 1).replacen(" SIP/2.0", "  SIP/2.0", 1), 1),
            "SIP/2.0 400",
        ),
        ("leading whitespace", good.replacen(&start, &format!(" {start}"), 1), "SIP/2.0 400"),
        (
            "Proxy-Require with an unknown option",
            reframe(&good.replace("CSeq: 1 MESSAGE\r\n", "CSeq: 1 MESSAGE\r\nProxy-Require: com.example.foo\r\n")),
            "SIP/2.0 420",
        ),
        ("CSeq beyond 32 bits", good.replace("CSeq: 1 MESSAGE", "CSeq: 4294967296 MESSAGE"), "SIP/2.0 400"),
        (
            "headers in the Request-URI",
            good.replacen(
                &start,
                &start.replace("im.example.net SIP", "im.example.net?Route=%3Csip:evil.example%3E SIP"),
                1,
            ),
            "SIP/2.0 400",
        ),
    ];
    for (what, bytes, want) in cases {
        let mut d = Driver::new(server(Level::One, FaultSet::none()));
        let out = d.send(Transport::Udp, CORE, &bytes);
        assert!(requests(&out).is_empty(), "{what}: forwarded");
        let answers: Vec<String> = out.iter().map(first_line).collect();
        assert!(answers.iter().any(|l| l.starts_with(want)), "{what}: want {want}, got {answers:?}");
        if want.ends_with("420") {
            let r = out.iter().map(text).find(|t| t.starts_with(want)).unwrap();
            assert!(r.contains("Unsupported: com.example.foo\r\n"), "{r}");
        }
    }
    // A Request-URI scheme the server would have to route on and cannot: 416. The server's own
    // Route entry is popped first; nothing else is left to route on.
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let route_line = good.lines().find(|l| l.starts_with("Route:")).unwrap().to_string();
    let own = route_line.split(',').next().unwrap().to_string();
    let mailto = good.replacen(&start, "MESSAGE mailto:bob@im.example.net SIP/2.0", 1).replace(&route_line, &own);
    let out = d.send(Transport::Udp, CORE, &mailto);
    assert!(
        out.iter().any(|p| first_line(p).starts_with("SIP/2.0 416")),
        "{:?}",
        out.iter().map(first_line).collect::<Vec<_>>()
    );
}

/// RFC 3263 §4.1: a next hop whose URI has no transport parameter is reached over UDP, whatever
/// the request came in on; `transport=tcp` (or D9's 1300 bytes) makes it TCP, with or without
/// a TCP listener of the server's own.
#[test]
fn the_next_hop_transport_follows_its_uri_not_the_incoming_one() {
    let good = fixture("1a_pager_cpm_rx.sip");
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let out = d.send(Transport::Tcp, CORE, &good);
    assert_eq!(requests(&out)[0].transport, Transport::Udp, "no transport parameter: UDP");
    let tcp =
        good.replace("<sip:scscf.im.example.net;lr;odi=Ax7t>", "<sip:scscf.im.example.net;transport=tcp;lr;odi=Ax7t>");
    let tcp = tcp.replace("z9hG4bK77e1.term", "z9hG4bK77e2.term");
    let out = d.send(Transport::Udp, CORE, &tcp);
    let fwd = requests(&out)[0];
    assert_eq!(fwd.transport, Transport::Tcp, "transport=tcp: TCP");
    assert!(text(fwd).contains("Via: SIP/2.0/TCP "), "{}", text(fwd));
}

/// Requests for the server itself, in RFC 3261 §16.3's order: Max-Forwards 0 is 483 unless it
/// is an OPTIONS for the server (answered as a UAS); an in-dialog request for it 481; and a
/// Request-URI on the server's host without a port means 5060, so with the server on 5070 it
/// is a UA's Contact to forward, not the server.
#[test]
fn requests_for_the_server_itself_in_rfc_3261_order() {
    let req = |method: &str, ru: &str, mf: u32, to_tag: &str, n: u32| {
        format!(
            "{method} {ru} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKus{n}\r\nMax-Forwards: {mf}\r\n\
             From: <sip:alice@im.example.net>;tag=a{n}\r\nTo: <sip:bob@im.example.net>{to_tag}\r\n\
             Call-ID: us{n}@test\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    for (n, (method, mf, to_tag, want)) in [
        ("MESSAGE", 0, "", "SIP/2.0 483"),
        ("MESSAGE", 70, "", "SIP/2.0 405"),
        ("OPTIONS", 0, "", "SIP/2.0 200"),
        ("OPTIONS", 70, ";tag=b1", "SIP/2.0 481"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = d.send(Transport::Udp, CORE, &req(method, "sip:192.0.2.1", mf, to_tag, n as u32));
        assert!(requests(&out).is_empty(), "{method} Max-Forwards {mf}: forwarded");
        let lines: Vec<String> = out.iter().map(first_line).collect();
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "{method} Max-Forwards {mf} {to_tag}: want {want}, got {lines:?}"
        );
    }
    // The server on 5070: `sip:bob@192.0.2.1` is 192.0.2.1:5060, someone else.
    let c = imcpm::node::im_server::ServerConfig::new(
        Level::One,
        "192.0.2.1",
        "im.example.net",
        vec![(Transport::Udp, "192.0.2.1:5070".parse().unwrap())],
    );
    let mut d = Driver::new(imcpm::node::im_server::ImServer::new(c));
    let out = d.send(Transport::Udp, CORE, &req("MESSAGE", "sip:bob@192.0.2.1", 70, ";tag=b2", 9));
    let fwd = requests(&out);
    assert_eq!(fwd.len(), 1, "{:?}", out.iter().map(first_line).collect::<Vec<_>>());
    assert_eq!(fwd[0].to, "192.0.2.1:5060".parse().unwrap());
}

/// A CANCEL matching no transaction of the server is forwarded statelessly (RFC 3261 §16.10:
/// the server may have forwarded the request it cancels statelessly), not answered 481.
#[test]
fn a_cancel_matching_nothing_is_forwarded_statelessly() {
    let cancel = "CANCEL sip:bob@im.example.net SIP/2.0\r\n\
        Via: SIP/2.0/UDP scscf.im.example.net:5060;branch=z9hG4bKlost1\r\n\
        Route: <sip:imserver.im.example.net;lr>, <sip:scscf.im.example.net;lr>\r\n\
        Max-Forwards: 70\r\nFrom: <sip:alice@im.example.net>;tag=a1\r\nTo: <sip:bob@im.example.net>\r\n\
        Call-ID: lost-cancel@test\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let out = d.send(Transport::Udp, CORE, cancel);
    let fwd = requests(&out);
    assert_eq!(fwd.len(), 1, "{:?}", out.iter().map(first_line).collect::<Vec<_>>());
    assert!(first_line(fwd[0]).starts_with("CANCEL sip:bob@im.example.net"));
    assert!(!out.iter().any(|p| first_line(p).starts_with("SIP/2.0 481")));
}

/// A forwarded request the driver could not deliver (TCP connection refused) comes back as
/// `Input::Unreachable`: the server answers 500 upstream at once (RFC 3261 §16.9 treats it as a
/// 503, §16.7 step 6 sends 500), once, and forgets the transaction; an unknown packet changes
/// nothing.
#[test]
fn an_unreachable_next_hop_gets_500_upstream() {
    let rx = udp(&fixture("1a_pager_cpm_rx.sip"));
    let mut d = Driver::new(server(Level::One, FaultSet::none()));
    let out = d.send(Transport::Udp, CORE, &rx);
    let fwd = requests(&out).into_iter().next().expect("forwarded").clone();
    // A stranger's packet first: nothing happens.
    let mut other = fwd.clone();
    other.bytes = String::from_utf8(other.bytes).unwrap().replace("branch=z9hG4bK", "branch=z9hG4bKzz").into_bytes();
    d.server.handle_input(imcpm::node::Input::Unreachable { now: d.now, packet: other });
    assert!(d.advance(Duration::from_millis(1)).is_empty());
    d.server.handle_input(imcpm::node::Input::Unreachable { now: d.now, packet: fwd });
    let later = d.advance(Duration::from_secs(40));
    let finals: Vec<String> =
        responses(&later).iter().map(|p| first_line(p)).filter(|l| !l.contains(" 100 ")).collect();
    assert_eq!(finals, vec!["SIP/2.0 500 Server Internal Error".to_string()], "{finals:?}");
    assert!(requests(&later).is_empty(), "no retransmission toward the unreachable hop");
}
