//! Every check of the pair oracle must be able to fail: each case takes a correct rx/tx example
//! pair, breaks the egress the way a faulty server would, and asserts the FAIL (or NON-STRICT)
//! under the one most specific requirement ID. The unbroken pair passes.

use imcpm::base::Level;
use imcpm::base::Transport;
use imcpm::base::{ClientKind, SessionCase};
use imcpm::interop::finding::{Finding, Verdict};
use imcpm::interop::verify::{Egress, PairContext, check_pair};
use imcpm::sip::Message;
use rstest::rstest;

use crate::common::{fixture as text, reframe};

fn edit(s: &str, from: &str, to: &str) -> String {
    assert!(s.contains(from), "fixture lacks {from:?}");
    reframe(&s.replacen(from, to, 1))
}

fn judge(
    level: Level,
    case: SessionCase,
    client: ClientKind,
    ingress: &str,
    egress: &str,
    tweak: impl Fn(&mut PairContext),
) -> Vec<Finding> {
    let i = Message::parse(ingress.as_bytes().to_vec()).unwrap();
    let e = Message::parse(egress.as_bytes().to_vec()).unwrap();
    let mut ctx = PairContext::new(level, case, Some(client));
    tweak(&mut ctx);
    let eg = if e.is_request() { Egress::Forwarded(&e) } else { Egress::Responded(&e) };
    check_pair(&ctx, &i, eg)
}

fn non_pass(f: &[Finding]) -> Vec<(String, Verdict)> {
    f.iter().filter(|x| x.verdict != Verdict::Pass).map(|x| (x.requirement.to_string(), x.verdict)).collect()
}

const MSG_ENC: &str = r#"+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#;

#[rstest]
#[case::pager("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip")]
#[case::lmm("2a_lmm_cpm_rx.sip", "2b_lmm_im_tx.sip")]
#[case::imdn("3a_imdn_cpm_rx.sip", "3b_imdn_im_tx.sip")]
#[case::session("5a_session_cpm_rx.sip", "5b_session_im_tx.sip")]
fn correct_l1_pairs_pass(#[case] rx: &str, #[case] tx: &str) {
    for level in Level::ALL {
        let f = judge(level, SessionCase::Term, ClientKind::Im, &text(rx), &text(tx), |_| {});
        assert!(non_pass(&f).is_empty(), "{rx}: {:?}", non_pass(&f));
        assert!(f.iter().any(|x| x.requirement.as_str().starts_with("T1.TERM.")));
    }
}

#[test]
fn correct_l2_term_ft_passes() {
    let f = judge(
        Level::Two,
        SessionCase::Term,
        ClientKind::Cpm,
        &text("4a_ft_im_rx.sip"),
        &text("4b_ft_cpm_tx.sip"),
        |_| {},
    );
    assert!(non_pass(&f).is_empty(), "{:?}", non_pass(&f));
    assert!(f.iter().any(|x| x.requirement == "T2.TERM.FT" && x.verdict == Verdict::Pass));
}

type Mutate = fn(&str) -> String;

#[rstest]
#[case::lmm_tag_forgotten("2a_lmm_cpm_rx.sip", "2b_lmm_im_tx.sip", |s: &str| edit(s, "Accept-Contact: *;+g.oma.sip-im;+g.oma.sip-im.large-message", "Accept-Contact: *;+g.oma.sip-im"), "T1.TERM.LMM", Verdict::Fail)]
#[case::cpm_icsi_left("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Accept-Contact: *;+g.oma.sip-im", &format!("Accept-Contact: *;+g.oma.sip-im;{MSG_ENC}")), "T1.TERM.PAGER", Verdict::Fail)]
#[case::tag_duplicated("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Accept-Contact: *;+g.oma.sip-im", "Accept-Contact: *;+g.oma.sip-im;+g.oma.sip-im"), "T1.TERM.PAGER", Verdict::Fail)]
#[case::tag_not_replaced("3a_imdn_cpm_rx.sip", "3b_imdn_im_tx.sip", |s: &str| edit(s, "Accept-Contact: *;+g.oma.sip-im", &format!("Accept-Contact: *;{MSG_ENC}")), "T1.TERM.IMDN", Verdict::Fail)]
#[case::contact_not_mapped("5a_session_cpm_rx.sip", "5b_session_im_tx.sip", |s: &str| edit(s, r#"+g.oma.sip-im
Accept"#.replace('\n', "\r\n").as_str(), &r#"+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session"
Accept"#.replace('\n', "\r\n")), "T1.TERM.SESSION", Verdict::Fail)]
#[case::body_changed("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Hello Bob", "Hello Rob"), "SIP.PRESERVE", Verdict::Fail)]
#[case::unrelated_header_dropped("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "P-Asserted-Identity: <sip:+15551230001@cpm.example.com>\r\n", ""), "SIP.PRESERVE", Verdict::Fail)]
#[case::content_length_wrong("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| s.replacen("Content-Length: 282", "Content-Length: 281", 1), "SIP.FRAMING", Verdict::Fail)]
#[case::max_forwards_kept("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Max-Forwards: 66", "Max-Forwards: 67"), "SIP.PROXY", Verdict::Fail)]
#[case::own_route_kept("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Route: <sip:scscf", "Route: <sip:imserver.im.example.net;lr>, <sip:scscf"), "SIP.PROXY", Verdict::Fail)]
#[case::no_own_via("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Via: SIP/2.0/TCP imserver.im.example.net:5060;branch=z9hG4bKas.0a9c\r\n", ""), "SIP.PROXY", Verdict::Fail)]
#[case::straight_to_ue("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Route: <sip:scscf.im.example.net;lr;odi=Ax7t>\r\n", ""), "ROUTE.VIA-IMS", Verdict::Fail)]
#[case::cpm_pas_left("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Accept-Contact:", "P-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg\r\nAccept-Contact:"), "X.PAS-REMOVED", Verdict::NonStrict)]
#[case::lmm_tag_on_pager("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Accept-Contact: *;+g.oma.sip-im", "Accept-Contact: *;+g.oma.sip-im;+g.oma.sip-im.large-message"), "T3.MAP", Verdict::Fail)]
#[case::im_tag_misspelt("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip", |s: &str| edit(s, "Accept-Contact: *;+g.oma.sip-im", "Accept-Contact: *;+G.OMA.SIP-IM"), "T3.MAP", Verdict::Fail)]
fn broken_l1_egress_fails(
    #[case] rx: &str,
    #[case] tx: &str,
    #[case] break_it: Mutate,
    #[case] id: &str,
    #[case] verdict: Verdict,
) {
    let egress = break_it(&text(tx));
    let f = judge(Level::One, SessionCase::Term, ClientKind::Im, &text(rx), &egress, |_| {});
    let bad = non_pass(&f);
    assert!(bad.contains(&(id.to_string(), verdict)), "{id}: got {bad:?}");
    // The most specific ID only: a mapping defect is not also reported as T3.MAP and vice versa.
    if id.starts_with("T1.") {
        assert!(!bad.iter().any(|(i, _)| i == "T3.MAP"), "{bad:?}");
    }
}

#[test]
fn require_dropped_is_a_preserve_failure() {
    let rx = edit(
        &text("2a_lmm_cpm_rx.sip"),
        "Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg\"",
        "Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg\";require;explicit",
    );
    let good = edit(
        &text("2b_lmm_im_tx.sip"),
        "Accept-Contact: *;+g.oma.sip-im;+g.oma.sip-im.large-message",
        "Accept-Contact: *;+g.oma.sip-im;+g.oma.sip-im.large-message;require;explicit",
    );
    assert!(non_pass(&judge(Level::One, SessionCase::Term, ClientKind::Im, &rx, &good, |_| {})).is_empty());
    let bad = edit(&good, ";require;explicit", ";explicit");
    let f = non_pass(&judge(Level::One, SessionCase::Term, ClientKind::Im, &rx, &bad, |_| {}));
    assert_eq!(f, vec![("SIP.PRESERVE".to_string(), Verdict::Fail)]);
}

const FT_ENC: &str = r#"+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer""#;

#[rstest]
#[case::no_conversation_id(|s: &str| edit(s, "Conversation-ID: 3b241101-e2bb-4255-8caf-4136c566a962\r\n", ""), "T2.CONVID.ADDED", Verdict::Fail)]
#[case::two_conversation_ids(|s: &str| edit(s, "Conversation-ID:", "Conversation-ID: 1111\r\nConversation-ID:"), "T2.CONVID.ADDED", Verdict::Fail)]
#[case::bad_conversation_id(|s: &str| edit(s, "Conversation-ID: 3b241101-e2bb-4255-8caf-4136c566a962", "Conversation-ID: a b c"), "T2.CONVID.ADDED", Verdict::Fail)]
#[case::no_contribution_id(|s: &str| edit(s, "Contribution-ID: 9c858901-8a57-4791-81fe-4c455b099bc9\r\n", ""), "T2.CONTRIB.ADDED", Verdict::NonStrict)]
#[case::icsi_unencoded(|s: &str| s.replace(FT_ENC, r#"+g.3gpp.icsi-ref="urn:urn-7:3gpp-service.ims.icsi.oma.cpm.filetransfer""#), "T3.MAP", Verdict::Fail)]
#[case::ft_mapped_to_msg(|s: &str| reframe(&s.replace("oma.cpm.filetransfer", "oma.cpm.msg")), "T3.MAP", Verdict::Fail)]
#[case::pas_omitted(|s: &str| edit(s, "P-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.oma.cpm.filetransfer\r\n", ""), "T2.TERM.FT", Verdict::Fail)]
#[case::pas_encoded(|s: &str| edit(s, "P-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.oma.cpm.filetransfer", "P-Asserted-Service: urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer"), "T3.MAP", Verdict::Fail)]
#[case::im_tag_kept(|s: &str| edit(s, &format!("Accept-Contact: *;{FT_ENC}"), &format!("Accept-Contact: *;+g.oma.sip-im;{FT_ENC}")), "T2.TERM.FT", Verdict::Fail)]
#[case::icsi_missing(|s: &str| edit(s, &format!("Accept-Contact: *;{FT_ENC}"), "Accept-Contact: *"), "T2.TERM.FT", Verdict::Fail)]
#[case::user_agent_dropped(|s: &str| edit(s, "User-Agent: IM-client/OMA1.0 ExampleIM/1.0\r\n", ""), "SIP.PRESERVE", Verdict::Fail)]
fn broken_l2_term_egress_fails(#[case] break_it: Mutate, #[case] id: &str, #[case] verdict: Verdict) {
    let egress = break_it(&text("4b_ft_cpm_tx.sip"));
    let f = non_pass(&judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &text("4a_ft_im_rx.sip"), &egress, |_| {}));
    assert!(f.contains(&(id.to_string(), verdict)), "{id}: got {f:?}");
}

#[test]
fn conversation_id_replaced_fails_kept() {
    let rx =
        edit(&text("4a_ft_im_rx.sip"), "Supported: timer\r\n", "Supported: timer\r\nConversation-ID: keep-me-1\r\n");
    let ok = edit(
        &text("4b_ft_cpm_tx.sip"),
        "Conversation-ID: 3b241101-e2bb-4255-8caf-4136c566a962",
        "Conversation-ID: keep-me-1",
    );
    assert!(non_pass(&judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &rx, &ok, |_| {})).is_empty());
    let f = non_pass(&judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &rx, &text("4b_ft_cpm_tx.sip"), |_| {}));
    assert!(f.contains(&("T2.CONVID.KEPT".to_string(), Verdict::Fail)), "{f:?}");
}

fn response(code: u16, reason: &str, req: &str) -> String {
    let m = Message::parse(req.as_bytes().to_vec()).unwrap();
    let keep = |n: &imcpm::sip::HeaderName| {
        m.all(n).map(|h| String::from_utf8_lossy(m.slice(h.line)).into_owned()).collect::<String>()
    };
    use imcpm::sip::HeaderName as H;
    format!(
        "SIP/2.0 {code} {reason}\r\n{}{}{}{}{}Content-Length: 0\r\n\r\n",
        keep(&H::Via),
        keep(&H::From),
        keep(&H::To),
        keep(&H::CallId),
        keep(&H::CSeq)
    )
}

#[test]
fn level1_local_cpm_must_be_refused() {
    let rx = text("6b_group_cpm_ue.sip");
    let ok = response(403, "Forbidden", &rx);
    assert!(non_pass(&judge(Level::One, SessionCase::Orig, ClientKind::Cpm, &rx, &ok, |_| {})).is_empty());
    let f = non_pass(&judge(Level::One, SessionCase::Orig, ClientKind::Cpm, &rx, &rx, |_| {}));
    assert!(f.contains(&("T1.NO-LOCAL-CPM".to_string(), Verdict::Fail)), "{f:?}");
    let f = non_pass(&judge(
        Level::One,
        SessionCase::Orig,
        ClientKind::Cpm,
        &rx,
        &response(488, "Not Acceptable Here", &rx),
        |_| {},
    ));
    // D7 says 403 and no decision lowers another refusal: a 488 is a FAIL.
    assert_eq!(f, vec![("T1.NO-LOCAL-CPM".to_string(), Verdict::Fail)]);
}

#[test]
fn offline_cpm_client_gets_480_not_202() {
    let rx = text("4a_ft_im_rx.sip");
    let offline = |c: &mut PairContext| c.online = Some(false);
    assert!(
        non_pass(&judge(
            Level::Two,
            SessionCase::Term,
            ClientKind::Cpm,
            &rx,
            &response(480, "Temporarily Unavailable", &rx),
            offline
        ))
        .is_empty()
    );
    for bad in [response(202, "Accepted", &rx), response(200, "OK", &rx)] {
        let f = non_pass(&judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &rx, &bad, offline));
        assert!(f.contains(&("T2.ONLINE-ONLY".to_string(), Verdict::Fail)), "{f:?}");
    }
    // D3: forwarding is neither storing nor a later delivery (the trace rules judge those):
    // NON-STRICT, as is another 4xx/5xx.
    for lenient in [text("4b_ft_cpm_tx.sip"), response(486, "Busy Here", &rx)] {
        let f = non_pass(&judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &rx, &lenient, offline));
        assert_eq!(f, vec![("T2.ONLINE-ONLY".to_string(), Verdict::NonStrict)]);
    }
}

#[test]
fn over_1300_bytes_on_udp_fails_framing() {
    let rx = text("4a_ft_im_rx.sip");
    let tx = text("4b_ft_cpm_tx.sip");
    assert!(tx.len() > 1300);
    let f = non_pass(&judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &rx, &tx, |c| {
        c.egress_transport = Some(Transport::Udp)
    }));
    assert_eq!(f, vec![("SIP.FRAMING".to_string(), Verdict::Fail)]);
    assert!(
        non_pass(&judge(Level::Two, SessionCase::Term, ClientKind::Cpm, &rx, &tx, |c| c.egress_transport =
            Some(Transport::Tcp)))
        .is_empty()
    );
}

#[test]
fn malformed_via_must_not_be_repaired_and_forwarded() {
    let rx = edit(
        &text("1a_pager_cpm_rx.sip"),
        "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term",
        "Via: SIP/2.0/TCP scscf.im.example.net:5060 extra;branch=z9hG4bK77e1.term",
    );
    let f = non_pass(&judge(Level::One, SessionCase::Term, ClientKind::Im, &rx, &text("1b_pager_im_tx.sip"), |_| {}));
    assert_eq!(f, vec![("SIP.ROBUST".to_string(), Verdict::Fail)]);
    assert!(
        non_pass(&judge(
            Level::One,
            SessionCase::Term,
            ClientKind::Im,
            &rx,
            &response(400, "Bad Request", &text("1a_pager_cpm_rx.sip")),
            |_| {}
        ))
        .is_empty()
    );
}

#[test]
fn max_forwards_zero_needs_483() {
    let rx = edit(&text("1a_pager_cpm_rx.sip"), "Max-Forwards: 67", "Max-Forwards: 0");
    let f = non_pass(&judge(Level::One, SessionCase::Term, ClientKind::Im, &rx, &text("1b_pager_im_tx.sip"), |_| {}));
    assert_eq!(f, vec![("SIP.PROXY".to_string(), Verdict::Fail)]);
    assert!(
        non_pass(&judge(
            Level::One,
            SessionCase::Term,
            ClientKind::Im,
            &rx,
            &response(483, "Too Many Hops", &rx),
            |_| {}
        ))
        .is_empty()
    );
}
