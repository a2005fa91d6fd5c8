//! Client transactions: Timers A/B/E/F/D/K/M, ACK generation for non-2xx finals, absorption
//! of response retransmissions, 2xx reported every time, request validation.

use super::*;
use crate::base::Transport::{Tcp, Udp};

/// Send `bytes` from the UE; the first transmission is checked and consumed.
fn send(l: &mut TransactionLayer, bytes: Vec<u8>, t: Transport, now: Instant) -> ClientTx {
    let tx = l.send_request(ue_flow(t), bytes.clone(), now).unwrap();
    assert_eq!(transmits(l), vec![ue_flow(t).packet(bytes)]);
    tx
}

/// Deliver a response from the server.
fn deliver(l: &mut TransactionLayer, bytes: Vec<u8>, t: Transport, now: Instant) {
    l.handle_packet(from_srv(bytes, t), now).unwrap();
}

fn response_codes(ev: &[TxEvent]) -> Vec<u16> {
    ev.iter()
        .filter_map(|e| match e {
            TxEvent::Response { msg, .. } => msg.status().map(crate::sip::StatusCode::as_u16),
            _ => None,
        })
        .collect()
}

#[test]
fn timer_e_retransmits_over_udp_then_timer_f_times_out() {
    let mut l = layer();
    let msg = req("MESSAGE", &via("z9hG4bKe1"), "", "");
    let tx = send(&mut l, msg.clone(), Udp, ms(0));
    let sent = run_until(&mut l, ms(60_000));
    assert_eq!(times(&sent), T2_CAPPED_32S.to_vec());
    assert!(sent.iter().all(|(_, p)| p.bytes == msg));
    // RFC 4320 §4.2: the TU reports the failure but sends no 408 upstream for a non-INVITE.
    assert_eq!(
        events(&mut l),
        vec![TxEvent::Timeout { tx, timer: Timer::F }, TxEvent::Terminated(TxHandle::Client(tx))]
    );
    assert!(l.is_empty() && l.next_timeout().is_none());
}

#[test]
fn no_retransmissions_over_tcp() {
    for method in ["MESSAGE", "INVITE"] {
        let mut l = layer();
        let tx = send(&mut l, req(method, &via("z9hG4bKe2"), "", ""), Tcp, ms(0));
        assert!(run_until(&mut l, ms(31_999)).is_empty());
        assert!(l.client_state(tx).is_some());
        run_until(&mut l, ms(32_000));
        let timer = if method == "INVITE" { Timer::B } else { Timer::F };
        assert_eq!(events(&mut l)[0], TxEvent::Timeout { tx, timer });
        assert!(l.is_empty());
    }
}

#[test]
fn timer_e_uses_t2_in_proceeding() {
    let mut l = layer();
    let msg = req("MESSAGE", &via("z9hG4bKe3"), "", "");
    let tx = send(&mut l, msg.clone(), Udp, ms(0));
    assert_eq!(times(&run_until(&mut l, ms(600))), vec![500]);
    deliver(&mut l, resp(&msg, 100, None), Udp, ms(600));
    assert_eq!(l.client_state(tx), Some(TxState::Proceeding));
    assert_eq!(response_codes(&events(&mut l)), vec![100]);
    let sent = run_until(&mut l, ms(60_000));
    assert_eq!(times(&sent), vec![1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
    assert_eq!(events(&mut l)[0], TxEvent::Timeout { tx, timer: Timer::F });
}

#[test]
fn timer_a_doubles_then_timer_b_times_out() {
    let mut l = layer();
    let tx = send(&mut l, req("INVITE", &via("z9hG4bKa1"), "", ""), Udp, ms(0));
    // RFC 3261 leaves Timer A uncapped: 0.5, 1, 2, 4, 8, 16 s intervals until Timer B.
    let sent = run_until(&mut l, ms(60_000));
    assert_eq!(times(&sent), vec![500, 1500, 3500, 7500, 15500, 31500]);
    // Timer B: the proxy TU answers 408 upstream.
    assert_eq!(events(&mut l)[0], TxEvent::Timeout { tx, timer: Timer::B });
    assert!(l.is_empty());

    let capped = TimerConfig { timer_a_cap: Some(TimerConfig::RFC3261.t2), ..TimerConfig::RFC3261 };
    let mut l = TransactionLayer::new(capped);
    send(&mut l, req("INVITE", &via("z9hG4bKa2"), "", ""), Udp, ms(0));
    assert_eq!(times(&run_until(&mut l, ms(60_000))), T2_CAPPED_32S.to_vec());
}

#[test]
fn provisional_stops_timers_a_and_b() {
    let mut l = layer();
    let inv = req("INVITE", &via("z9hG4bKa3"), "", "");
    let tx = send(&mut l, inv.clone(), Udp, ms(0));
    deliver(&mut l, resp(&inv, 100, None), Udp, ms(100));
    assert!(run_until(&mut l, ms(100_000)).is_empty());
    assert_eq!(l.client_state(tx), Some(TxState::Proceeding), "Timer C is the TU's job");
    // A CANCEL shares the branch but is a transaction of its own.
    let m = l.client_request(tx).unwrap().clone();
    let cancel = cancel_for(&m);
    let ctx = send(&mut l, cancel.clone(), Udp, ms(100_000));
    assert_ne!(ctx, tx);
    deliver(&mut l, resp(&cancel, 200, Some("s1")), Udp, ms(100_050));
    deliver(&mut l, resp(&inv, 487, Some("s1")), Udp, ms(100_060));
    let ev = events(&mut l);
    assert!(ev.contains(&TxEvent::Response {
        tx: ctx,
        msg: Message::parse(resp(&cancel, 200, Some("s1"))).unwrap(),
        flow: Flow::of_received(&from_srv(vec![], Udp)),
    }));
    assert_eq!(response_codes(&ev), vec![100, 200, 487]);
    assert_eq!(first_line(&transmits(&mut l)[0]), "ACK sip:bob@im.example.net SIP/2.0");
}

#[test]
fn ack_generated_for_non_2xx_final_and_resent() {
    let route = "Route: <sip:pcscf.example.net;lr>\r\n";
    let inv = req("INVITE", &via("z9hG4bKk1"), "", route);
    let expected_ack = req("ACK", &via("z9hG4bKk1"), "s1", route);
    let mut l = layer();
    let tx = send(&mut l, inv.clone(), Udp, ms(0));
    let busy = resp(&inv, 486, Some("s1"));
    deliver(&mut l, busy.clone(), Udp, ms(200));
    assert_eq!(transmits(&mut l), vec![ue_flow(Udp).packet(expected_ack.clone())]);
    assert_eq!(response_codes(&events(&mut l)), vec![486]);
    assert_eq!(l.client_state(tx), Some(TxState::Completed));
    // A retransmitted final: the ACK is re-sent, the TU hears nothing.
    deliver(&mut l, busy, Udp, ms(700));
    assert_eq!(transmits(&mut l), vec![ue_flow(Udp).packet(expected_ack.clone())]);
    assert!(events(&mut l).is_empty());
    // Timer D (32 s over UDP) removes it; nothing is retransmitted meanwhile.
    assert!(run_until(&mut l, ms(32_199)).is_empty());
    assert_eq!(l.len(), 1);
    run_until(&mut l, ms(32_200));
    assert!(l.is_empty());

    // Over TCP, Timer D is zero: ACK sent, transaction gone at once.
    let mut l = layer();
    send(&mut l, inv.clone(), Tcp, ms(0));
    deliver(&mut l, resp(&inv, 486, Some("s1")), Tcp, ms(200));
    assert_eq!(transmits(&mut l), vec![ue_flow(Tcp).packet(expected_ack)]);
    assert!(l.is_empty() && l.next_timeout().is_none());
}

#[test]
fn every_2xx_to_invite_is_reported() {
    let mut l = layer();
    let inv = req("INVITE", &via("z9hG4bKk2"), "", "");
    let tx = send(&mut l, inv.clone(), Udp, ms(0));
    let ok = resp(&inv, 200, Some("s1"));
    deliver(&mut l, resp(&inv, 180, Some("s1")), Udp, ms(100));
    deliver(&mut l, ok.clone(), Udp, ms(200));
    assert_eq!(l.client_state(tx), Some(TxState::Accepted));
    deliver(&mut l, ok.clone(), Udp, ms(700));
    deliver(&mut l, resp(&inv, 180, Some("s1")), Udp, ms(800));
    assert_eq!(response_codes(&events(&mut l)), vec![180, 200, 200]);
    assert!(transmits(&mut l).is_empty(), "no ACK for a 2xx, no retransmission");
    // Timer M ends the Accepted state; later 2xx are stray (a proxy forwards them).
    run_until(&mut l, ms(32_200));
    assert!(l.is_empty());
    events(&mut l);
    deliver(&mut l, ok, Udp, ms(40_000));
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::StrayResponse { .. }]));
}

#[test]
fn non_invite_final_retransmission_absorbed_then_timer_k() {
    for (t, gone_at) in [(Udp, 5200), (Tcp, 200)] {
        let mut l = layer();
        let msg = req("MESSAGE", &via("z9hG4bKk3"), "", "");
        send(&mut l, msg.clone(), t, ms(0));
        let ok = resp(&msg, 200, Some("s1"));
        deliver(&mut l, ok.clone(), t, ms(200));
        assert_eq!(response_codes(&events(&mut l)), vec![200]);
        if t == Udp {
            deliver(&mut l, ok, t, ms(300));
            assert!(events(&mut l).is_empty());
            assert!(run_until(&mut l, ms(gone_at - 1)).is_empty());
            assert_eq!(l.len(), 1);
        }
        run_until(&mut l, ms(gone_at));
        assert!(l.is_empty() && l.deadline_entries() == 0, "{t}");
    }
}

#[test]
fn send_request_checks_what_matching_needs() {
    let mut l = layer();
    let f = ue_flow(Udp);
    let ack = req("ACK", &via("z9hG4bKq1"), "s", "");
    assert_eq!(l.send_request(f, ack, ms(0)), Err(TxError::AckIsNotATransaction));
    let nobranch = req("MESSAGE", "SIP/2.0/UDP 192.0.2.1", "", "");
    assert!(matches!(l.send_request(f, nobranch, ms(0)), Err(TxError::Unmatchable(_))));
    let msg = req("MESSAGE", &via("z9hG4bKq2"), "", "");
    assert_eq!(l.send_request(f, resp(&msg, 200, None), ms(0)), Err(TxError::NotARequest));
    assert!(matches!(l.send_request(f, b"x".to_vec(), ms(0)), Err(TxError::Parse(_))));
    l.send_request(f, msg.clone(), ms(0)).unwrap();
    assert_eq!(l.send_request(f, msg, ms(0)), Err(TxError::Duplicate));
    let stray = resp(&req("MESSAGE", &via("z9hG4bKq3"), "", ""), 200, None);
    deliver(&mut l, stray, Udp, ms(1));
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::StrayResponse { .. }]));
    let no_branch = resp(&req("MESSAGE", "SIP/2.0/UDP h", "", ""), 200, None);
    assert!(l.handle_packet(from_srv(no_branch, Udp), ms(2)).is_err());
}

/// Timer F's entry stays in the heap after the final response stops it; at a high rate those
/// stale entries are dropped in one pass, so the heap stays within 4 per live transaction + 64.
#[test]
fn stale_deadlines_are_bounded_by_the_live_transactions() {
    let mut l = layer();
    let mut most = 0;
    for i in 0..20_000u64 {
        let msg = req("MESSAGE", &via(&format!("z9hG4bKst{i}")), "", "");
        send(&mut l, msg.clone(), Tcp, ms(i / 10));
        deliver(&mut l, resp(&msg, 200, Some("s")), Tcp, ms(i / 10));
        events(&mut l);
        most = most.max(l.deadline_entries());
        assert!(
            l.deadline_entries() <= 4 * l.len() + 64,
            "{} entries for {} transactions",
            l.deadline_entries(),
            l.len()
        );
    }
    assert!(l.is_empty(), "over TCP Timer K is 0: gone at once");
    assert!(most <= 64, "{most}");
}

#[test]
fn a_request_sent_with_its_key_known_retransmits_and_is_let_go_once_answered() {
    let mut l = layer();
    let msg = req("MESSAGE", &via("z9hG4bKk1"), "", "");
    let key = ClientKey { branch: "z9hG4bKk1".into(), method: crate::sip::Method::Message };
    let tx = l.send_request_known(ue_flow(Udp), msg.clone(), key.clone(), ms(0)).unwrap();
    assert_eq!(transmits(&mut l), vec![ue_flow(Udp).packet(msg.clone())]);
    assert_eq!(l.client_by_key(&key), Some(tx));
    // Held as bytes, parsed when asked for: the same message.
    assert_eq!(l.client_request_bytes(tx), Some(&msg[..]));
    assert_eq!(l.client_request(tx).map(|m| m.bytes().to_vec()), Some(msg.clone()));
    // Timer E resends those bytes; a duplicate key is refused.
    let sent = run_until(&mut l, ms(600));
    assert_eq!(sent.iter().map(|(_, p)| p.bytes.clone()).collect::<Vec<_>>(), vec![msg.clone()]);
    assert!(l.send_request_known(ue_flow(Udp), msg.clone(), key, ms(600)).is_err());
    // Answered: completed (Timer K), the request let go, nothing resent.
    deliver(&mut l, resp(&msg, 200, Some("s1")), Udp, ms(700));
    assert_eq!(response_codes(&events(&mut l)), vec![200]);
    assert_eq!(l.client_state(tx), Some(TxState::Completed));
    assert_eq!(l.client_request(tx), None);
    assert_eq!(l.client_request_bytes(tx), None);
    assert!(run_until(&mut l, ms(5_000)).is_empty());
}

#[test]
fn an_invite_keeps_its_request_after_its_final_response() {
    let mut l = layer();
    let inv = req("INVITE", &via("z9hG4bKk2"), "", "");
    let tx = send(&mut l, inv.clone(), Udp, ms(0));
    deliver(&mut l, resp(&inv, 486, Some("s1")), Udp, ms(100));
    let _ = events(&mut l);
    assert_eq!(l.client_request(tx).map(|m| m.bytes().to_vec()), Some(inv));
}
