//! Server transactions: retransmission absorption, Timers G/H/I/J/L, ACK and CANCEL matching,
//! RFC 2543 fallback, response routing, bounded memory.

use super::*;
use crate::base::Transport::{Tcp, Udp};
use crate::sip::StatusCode;

/// Receive `bytes` from the UE and return the new server transaction (earlier Terminated
/// events are dropped).
fn new_request(l: &mut TransactionLayer, bytes: Vec<u8>, t: Transport, now: Instant) -> ServerTx {
    l.handle_packet(from_ue(bytes, t), now).unwrap();
    let mut ev = events(l);
    ev.retain(|e| !matches!(e, TxEvent::Terminated(_)));
    match ev.as_slice() {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("expected one Request event, got {other:?}"),
    }
}

#[test]
fn retransmitted_request_absorbed_and_response_resent_3x() {
    let mut l = layer();
    let msg = req("MESSAGE", &via("z9hG4bKm1"), "", "");
    let tx = new_request(&mut l, msg.clone(), Udp, ms(0));
    // Trying: nothing sent yet, so a retransmission is absorbed silently.
    l.handle_packet(from_ue(msg.clone(), Udp), ms(100)).unwrap();
    assert!(transmits(&mut l).is_empty() && events(&mut l).is_empty());
    let ok = resp(&msg, 200, Some("s1"));
    l.respond(tx, ok.clone(), ms(200)).unwrap();
    assert_eq!(transmits(&mut l), vec![from_srv(ok.clone(), Udp)]);
    for at in [500, 1500, 3500] {
        l.handle_packet(from_ue(msg.clone(), Udp), ms(at)).unwrap();
        assert_eq!(transmits(&mut l), vec![from_srv(ok.clone(), Udp)], "re-sent at {at}");
        assert!(events(&mut l).is_empty(), "the TU never sees a retransmission");
    }
    assert_eq!(l.server_state(tx), Some(TxState::Completed));
    // A second final response is refused, not sent.
    let err = l.respond(tx, resp(&msg, 500, None), ms(4000)).unwrap_err();
    assert!(matches!(err, TxError::WrongState { state: TxState::Completed, code: StatusCode::SERVER_INTERNAL_ERROR }));
    assert!(transmits(&mut l).is_empty());
}

#[test]
fn invite_retransmission_resends_last_provisional() {
    let mut l = layer();
    let inv = req("INVITE", &via("z9hG4bKi1"), "", "");
    let tx = new_request(&mut l, inv.clone(), Udp, ms(0));
    assert_eq!(l.server_state(tx), Some(TxState::Proceeding));
    let m = l.server_request(tx).unwrap().clone();
    l.respond(tx, trying_for(&m), ms(10)).unwrap();
    let ringing = resp(&inv, 180, Some("s1"));
    l.respond(tx, ringing.clone(), ms(20)).unwrap();
    transmits(&mut l);
    l.handle_packet(from_ue(inv, Udp), ms(500)).unwrap();
    assert_eq!(transmits(&mut l), vec![from_srv(ringing, Udp)]);
    assert!(events(&mut l).is_empty());
}

#[test]
fn timer_g_retransmits_final_over_udp_until_ack_then_timer_i() {
    let mut l = layer();
    let inv = req("INVITE", &via("z9hG4bKi2"), "", "");
    let tx = new_request(&mut l, inv.clone(), Udp, ms(0));
    let busy = resp(&inv, 486, Some("s1"));
    l.respond(tx, busy.clone(), ms(0)).unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    let sent = run_until(&mut l, ms(8000));
    assert_eq!(times(&sent), vec![500, 1500, 3500, 7500]);
    assert!(sent.iter().all(|(_, p)| *p == from_srv(busy.clone(), Udp)));
    // The ACK for the non-2xx has the INVITE's branch: absorbed, Completed -> Confirmed.
    let ack = req("ACK", &via("z9hG4bKi2"), "s1", "");
    l.handle_packet(from_ue(ack.clone(), Udp), ms(8000)).unwrap();
    assert!(events(&mut l).is_empty());
    assert_eq!(l.server_state(tx), Some(TxState::Confirmed));
    l.handle_packet(from_ue(ack, Udp), ms(9000)).unwrap();
    assert!(events(&mut l).is_empty() && transmits(&mut l).is_empty());
    // No more retransmissions; Timer I (T4) removes the transaction at 8 s + 5 s.
    assert!(run_until(&mut l, ms(12_999)).is_empty());
    assert_eq!(l.len(), 1);
    run_until(&mut l, ms(13_000));
    assert!(l.is_empty());
    assert_eq!(events(&mut l), vec![TxEvent::Terminated(TxHandle::Server(tx))]);
    assert_eq!(l.next_timeout(), None);
}

#[test]
fn timer_h_fires_without_ack() {
    for t in [Udp, Tcp] {
        let mut l = layer();
        let inv = req("INVITE", &via("z9hG4bKi3"), "", "");
        let tx = new_request(&mut l, inv.clone(), t, ms(0));
        l.respond(tx, resp(&inv, 603, Some("s1")), ms(0)).unwrap();
        transmits(&mut l);
        let sent = run_until(&mut l, ms(60_000));
        // Timer G only over UDP: T1 doubling, capped at T2, until Timer H (64·T1).
        let expected: Vec<u64> = if t == Udp { T2_CAPPED_32S.to_vec() } else { vec![] };
        assert_eq!(times(&sent), expected, "{t}");
        let ev = events(&mut l);
        assert_eq!(ev, vec![TxEvent::AckTimeout { tx }, TxEvent::Terminated(TxHandle::Server(tx))]);
        assert!(l.is_empty() && l.deadline_entries() == 0);
    }
}

#[test]
fn non_invite_removed_after_timer_j_udp_and_at_once_tcp() {
    let mut l = layer();
    let msg = req("MESSAGE", &via("z9hG4bKj1"), "", "");
    let tx = new_request(&mut l, msg.clone(), Udp, ms(0));
    l.respond(tx, resp(&msg, 200, Some("s")), ms(0)).unwrap();
    assert_eq!(l.next_timeout(), Some(ms(32_000)));
    run_until(&mut l, ms(32_000));
    assert!(l.is_empty());
    // After Timer J the same request is new again.
    new_request(&mut l, msg.clone(), Udp, ms(33_000));

    let mut l = layer();
    let tx = new_request(&mut l, msg.clone(), Tcp, ms(0));
    l.respond(tx, resp(&msg, 200, Some("s")), ms(0)).unwrap();
    assert!(l.is_empty() && l.next_timeout().is_none());
    assert_eq!(events(&mut l), vec![TxEvent::Terminated(TxHandle::Server(tx))]);
}

#[test]
fn bounded_memory_after_timers() {
    let mut l = layer();
    for i in 0..500 {
        let t = if i % 2 == 0 { Udp } else { Tcp };
        let branch = format!("z9hG4bKb{i}");
        let msg = req("MESSAGE", &via(&branch), "", "");
        let tx = new_request(&mut l, msg.clone(), t, ms(i));
        l.respond(tx, resp(&msg, 202, Some("s")), ms(i)).unwrap();
        let inv = req("INVITE", &via(&format!("{branch}i")), "", "");
        let tx = new_request(&mut l, inv.clone(), t, ms(i));
        l.respond(tx, resp(&inv, 486, Some("s")), ms(i)).unwrap();
        l.handle_packet(from_ue(req("ACK", &via(&format!("{branch}i")), "s", ""), t), ms(i + 1)).unwrap();
    }
    assert_eq!(l.len(), 500, "the UDP ones wait for Timers J and I");
    run_until(&mut l, ms(40_000));
    assert!(l.is_empty());
    assert_eq!(l.deadline_entries(), 0);
    assert_eq!(l.next_timeout(), None);
}

#[test]
fn accepted_state_after_2xx_to_invite() {
    let mut l = layer();
    let inv = req("INVITE", &via("z9hG4bKi4"), "", "");
    let tx = new_request(&mut l, inv.clone(), Udp, ms(0));
    let ok = resp(&inv, 200, Some("s1"));
    l.respond(tx, ok.clone(), ms(0)).unwrap();
    transmits(&mut l);
    assert_eq!(l.server_state(tx), Some(TxState::Accepted));
    // RFC 6026: the INVITE retransmission is absorbed and nothing is re-sent (the TU
    // retransmits its 2xx itself) ...
    l.handle_packet(from_ue(inv, Udp), ms(400)).unwrap();
    assert!(transmits(&mut l).is_empty() && events(&mut l).is_empty());
    l.respond(tx, ok.clone(), ms(500)).unwrap();
    assert_eq!(transmits(&mut l), vec![from_srv(ok, Udp)]);
    // ... and the ACK for the 2xx (a new branch) goes to the TU.
    let ack = req("ACK", &via("z9hG4bKa4"), "s1", "");
    l.handle_packet(from_ue(ack, Udp), ms(600)).unwrap();
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::Ack { .. }]));
    run_until(&mut l, ms(32_000));
    assert!(l.is_empty(), "Timer L ends the Accepted state");
}

#[test]
fn cancel_matches_its_invite() {
    let mut l = layer();
    let inv = req("INVITE", &via("z9hG4bKc1"), "", "");
    let invite_tx = new_request(&mut l, inv.clone(), Udp, ms(0));
    let cancel = req("CANCEL", &via("z9hG4bKc1"), "", "");
    l.handle_packet(from_ue(cancel.clone(), Udp), ms(100)).unwrap();
    let TxEvent::Cancel { tx, target, .. } = one_event(&mut l) else {
        panic!("expected a Cancel event");
    };
    assert_eq!(target, Some(invite_tx));
    let ok = resp(&cancel, 200, Some("s1"));
    l.respond(tx, ok.clone(), ms(110)).unwrap();
    l.respond(invite_tx, resp(&inv, 487, Some("s1")), ms(120)).unwrap();
    transmits(&mut l);
    // A CANCEL retransmission is absorbed by the CANCEL's own transaction.
    l.handle_packet(from_ue(cancel, Udp), ms(200)).unwrap();
    assert_eq!(transmits(&mut l), vec![from_srv(ok, Udp)]);
    assert!(events(&mut l).is_empty());
    // A CANCEL for an unknown branch targets nothing (the TU answers 481).
    l.handle_packet(from_ue(req("CANCEL", &via("z9hG4bKzz"), "", ""), Udp), ms(300)).unwrap();
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::Cancel { target: None, .. }]));
}

#[test]
fn sent_by_is_part_of_the_key() {
    let mut l = layer();
    let a = req("MESSAGE", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKs1", "", "");
    let b = req("MESSAGE", "SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKs1", "", "");
    let ta = new_request(&mut l, a, Udp, ms(0));
    let tb = new_request(&mut l, b, Udp, ms(0));
    assert_ne!(ta, tb);
}

#[test]
fn rfc2543_fallback_without_magic_cookie() {
    // No branch at all, and RFC 4475 `badbranch` (the cookie with no identifier).
    for v in ["SIP/2.0/UDP 192.0.2.1:5060", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK"] {
        let mut l = layer();
        let inv = req("INVITE", v, "", "");
        let tx = new_request(&mut l, inv.clone(), Udp, ms(0));
        l.handle_packet(from_ue(inv.clone(), Udp), ms(100)).unwrap();
        assert!(events(&mut l).is_empty(), "retransmission absorbed ({v})");
        l.respond(tx, resp(&inv, 486, Some("s1")), ms(200)).unwrap();
        // An ACK with another To tag does not match: it goes to the TU.
        l.handle_packet(from_ue(req("ACK", v, "other", ""), Udp), ms(300)).unwrap();
        assert!(matches!(events(&mut l).as_slice(), [TxEvent::Ack { .. }]));
        // The ACK with the response's To tag is absorbed.
        l.handle_packet(from_ue(req("ACK", v, "s1", ""), Udp), ms(400)).unwrap();
        assert!(events(&mut l).is_empty());
        assert_eq!(l.server_state(tx), Some(TxState::Confirmed));
        // CANCEL matching works the same way (Request-URI, tags, Call-ID, CSeq number, Via).
        let mut l = layer();
        let tx = new_request(&mut l, inv, Udp, ms(0));
        l.handle_packet(from_ue(req("CANCEL", v, "", ""), Udp), ms(100)).unwrap();
        assert!(matches!(
            events(&mut l).as_slice(),
            [TxEvent::Cancel { target: Some(t), .. }] if *t == tx
        ));
    }
}

#[test]
fn responses_follow_the_top_via() {
    let cases = [
        // Over UDP without rport: the source IP and the sent-by port.
        ("SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKv1", Udp, "192.0.2.1:5070"),
        ("SIP/2.0/UDP ue.example.net;branch=z9hG4bKv2", Udp, "192.0.2.1:5060"),
        // RFC 3581 rport: the source address and port.
        ("SIP/2.0/UDP 192.0.2.1:5070;rport;branch=z9hG4bKv3", Udp, "192.0.2.1:40000"),
        // Reliable transport: back along the connection.
        ("SIP/2.0/TCP 192.0.2.1:5070;branch=z9hG4bKv4", Tcp, "192.0.2.1:40000"),
    ];
    for (v, t, expected) in cases {
        let mut l = layer();
        let msg = req("MESSAGE", v, "", "");
        let p = Packet { transport: t, from: addr("192.0.2.1:40000"), to: addr(SRV), bytes: msg.clone() };
        l.handle_packet(p, ms(0)).unwrap();
        let TxEvent::Request { tx, .. } = one_event(&mut l) else { panic!("no Request") };
        l.respond(tx, resp(&msg, 200, Some("s")), ms(0)).unwrap();
        assert_eq!(transmits(&mut l)[0].to, addr(expected), "{v}");
    }
}

#[test]
fn trying_copies_via_from_to_call_id_cseq() {
    let raw = b"INVITE sip:bob@h SIP/2.0\r\nv: SIP/2.0/UDP p.example;branch=z9hG4bKp\r\n\
                Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKu\r\nf: <sip:a@h>;tag=1\r\nTo: <sip:bob@h>\r\n\
                i: c@h\r\nCSeq: 7 INVITE\r\nTimestamp: 54\r\nContact: <sip:a@192.0.2.1>\r\n\
                Content-Length: 0\r\n\r\n";
    let m = Message::parse(&raw[..]).unwrap();
    let t = String::from_utf8(trying_for(&m)).unwrap();
    assert_eq!(
        t,
        "SIP/2.0 100 Trying\r\nv: SIP/2.0/UDP p.example;branch=z9hG4bKp\r\n\
         Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKu\r\nf: <sip:a@h>;tag=1\r\nTo: <sip:bob@h>\r\n\
         i: c@h\r\nCSeq: 7 INVITE\r\nTimestamp: 54\r\nContent-Length: 0\r\n\r\n"
    );
    let r = String::from_utf8(response_with_reason(&m, StatusCode::new(486), "Busy\r\nX: y", Some("t9"))).unwrap();
    assert!(r.starts_with("SIP/2.0 486 BusyX: y\r\n"));
    assert!(r.contains("\r\nTo: <sip:bob@h>;tag=t9\r\n") && !r.contains("Timestamp"));
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let mut l = layer();
    let no_via = b"MESSAGE sip:a@b SIP/2.0\r\nCSeq: 1 MESSAGE\r\nCall-ID: x\r\n\r\n".to_vec();
    assert_eq!(l.handle_packet(from_ue(no_via, Udp), ms(0)), Err(TxError::Unmatchable("no Via")));
    let legacy_no_cseq = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n".to_vec();
    assert!(l.handle_packet(from_ue(legacy_no_cseq, Udp), ms(0)).is_err());
    assert!(matches!(l.handle_packet(from_ue(b"junk".to_vec(), Udp), ms(0)), Err(TxError::Parse(_))));
    let gone = ServerTx(99);
    let ok = resp(&req("MESSAGE", &via("z9hG4bKx"), "", ""), 200, None);
    assert_eq!(l.respond(gone, ok, ms(0)), Err(TxError::UnknownTransaction(TxHandle::Server(gone))));
    assert!(l.is_empty() && events(&mut l).is_empty());
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
                                   head in 0usize..4) {
        let heads: [&[u8]; 4] = [b"", b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=",
                                 b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK", b"ACK sip:a@b SIP/2.0\r\nv: "];
        let mut l = layer();
        let mut b = heads[head].to_vec();
        b.extend_from_slice(&bytes);
        let _ = l.handle_packet(from_ue(b.clone(), Udp), ms(0));
        let _ = l.handle_packet(from_ue(b, Tcp), ms(1));
        run_until(&mut l, ms(100_000));
    }
}

#[test]
fn a_full_layer_refuses_new_requests_and_keeps_serving_live_ones() {
    let mut l = layer();
    l.set_limit(2);
    let a = req("MESSAGE", &via("z9hG4bKfull1"), "", "");
    let ta = new_request(&mut l, a.clone(), Udp, ms(0));
    let b = req("MESSAGE", &via("z9hG4bKfull2"), "", "");
    new_request(&mut l, b.clone(), Udp, ms(0));
    assert!(l.is_full());
    // A third request: no transaction, passed up as refused (and again when retransmitted).
    let c = req("MESSAGE", &via("z9hG4bKfull3"), "", "");
    for at in [1, 500] {
        l.handle_packet(from_ue(c.clone(), Udp), ms(at)).unwrap();
        match events(&mut l).as_slice() {
            [TxEvent::Refused { msg, flow }] => {
                assert_eq!(msg.bytes(), c.as_slice());
                assert_eq!(flow.remote, addr(UE));
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        assert_eq!(l.len(), 2);
    }
    // No client transaction either.
    let out = req("MESSAGE", &via("z9hG4bKfull4"), "", "");
    assert_eq!(l.send_request(ue_flow(Udp), out, ms(2)), Err(TxError::Full(2)));
    // A live transaction still absorbs its retransmission and is answered.
    l.respond(ta, resp(&a, 200, Some("s")), ms(3)).unwrap();
    transmits(&mut l);
    l.handle_packet(from_ue(a, Udp), ms(4)).unwrap();
    assert_eq!(transmits(&mut l).len(), 1, "the 200 is sent again");
    assert!(events(&mut l).is_empty());
    // Once a transaction ends (Timer J), a new request gets one again.
    run_until(&mut l, ms(33_000));
    assert_eq!(l.len(), 1);
    new_request(&mut l, c, Udp, ms(33_000));
}

/// A non-INVITE server transaction answers retransmissions from its stored response for 64·T1
/// after its final one: it lets the request go then (half its memory); an INVITE keeps it.
#[test]
fn a_completed_non_invite_transaction_holds_only_its_response() {
    let mut l = layer();
    let msg = req("MESSAGE", &via("z9hG4bKh1"), "", "");
    let tx = new_request(&mut l, msg.clone(), Udp, ms(0));
    assert_eq!(l.server_request(tx).map(|m| m.bytes().to_vec()), Some(msg.clone()));
    assert_eq!(l.held_bytes(), msg.len());
    let ok = resp(&msg, 200, Some("s"));
    l.respond(tx, ok.clone(), ms(1)).unwrap();
    transmits(&mut l);
    assert_eq!(l.server_request(tx), None);
    assert_eq!(l.held_bytes(), ok.len());
    // Still answers a retransmission.
    l.handle_packet(from_ue(msg, Udp), ms(2)).unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    let inv = req("INVITE", &via("z9hG4bKh2"), "", "");
    let tx = new_request(&mut l, inv.clone(), Udp, ms(3));
    l.respond(tx, resp(&inv, 486, Some("s")), ms(3)).unwrap();
    assert!(l.server_request(tx).is_some());
}
