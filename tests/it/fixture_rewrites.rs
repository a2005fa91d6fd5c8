//! Each example fixture rewritten by the reference behaviour: snapshotted for review under
//! snapshots/, and for the rx/tx pairs, compared with the tx form line for line (after removing
//! the proxy's own lines: Via, Route, Max-Forwards, Record-Route, which `rewrite` does not touch).

use imcpm::base::Direction;
use imcpm::interop::classify::{Form, form_of};
use imcpm::interop::interwork::{Ids, RewriteOptions, rewrite};
use imcpm::sip::Message;
use rstest::rstest;
use std::path::PathBuf;

fn fixture(name: &str) -> Message {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples").join(name);
    Message::parse(std::fs::read(&p).unwrap()).unwrap()
}

fn ids() -> Ids {
    Ids {
        conversation_id: Some("3b241101-e2bb-4255-8caf-4136c566a962".into()),
        contribution_id: Some("9c858901-8a57-4791-81fe-4c455b099bc9".into()),
    }
}

fn rewritten(name: &str) -> (Direction, Vec<u8>) {
    let m = fixture(name);
    let dir = if form_of(&m) == Form::Cpm { Direction::CpmToIm } else { Direction::ImToCpm };
    let out = rewrite(&m, &RewriteOptions { direction: dir, service: None, ids: ids() }).unwrap();
    (dir, out)
}

#[rstest]
#[case("1a_pager_cpm_rx.sip")]
#[case("1b_pager_im_tx.sip")]
#[case("2a_lmm_cpm_rx.sip")]
#[case("2b_lmm_im_tx.sip")]
#[case("3a_imdn_cpm_rx.sip")]
#[case("3b_imdn_im_tx.sip")]
#[case("4a_ft_im_rx.sip")]
#[case("4b_ft_cpm_tx.sip")]
#[case("5a_session_cpm_rx.sip")]
#[case("5b_session_im_tx.sip")]
#[case("6a_group_im_ue.sip")]
#[case("6b_group_cpm_ue.sip")]
#[case("6c_focus_to_im.sip")]
#[case("6d_focus_to_cpm.sip")]
fn rewritten_fixture(#[case] name: &str) {
    let (dir, out) = rewritten(name);
    // Byte-faithful: the body is untouched and Content-Length still matches it.
    let m = Message::parse(out.clone()).unwrap();
    assert_eq!(m.body(), fixture(name).body());
    assert_eq!(m.content_length().unwrap(), Some(m.body().len()));
    let text = String::from_utf8_lossy(&out).replace("\r\n", "\n");
    insta::with_settings!({snapshot_path => "../../snapshots/fixtures", prepend_module_to_snapshot => false, description => format!("{name} rewritten {dir:?}")}, {
        insta::assert_snapshot!(name.trim_end_matches(".sip"), text);
    });
}

fn without_proxy_lines(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .split("\r\n")
        .filter(|l| !["Via:", "Route:", "Max-Forwards:", "Record-Route:"].iter().any(|p| l.starts_with(p)))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[rstest]
#[case("1a_pager_cpm_rx.sip", "1b_pager_im_tx.sip")]
#[case("2a_lmm_cpm_rx.sip", "2b_lmm_im_tx.sip")]
#[case("3a_imdn_cpm_rx.sip", "3b_imdn_im_tx.sip")]
#[case("4a_ft_im_rx.sip", "4b_ft_cpm_tx.sip")]
#[case("5a_session_cpm_rx.sip", "5b_session_im_tx.sip")]
fn matches_the_tx_example(#[case] rx: &str, #[case] tx: &str) {
    let (_, out) = rewritten(rx);
    let want = fixture(tx);
    assert_eq!(without_proxy_lines(&out), without_proxy_lines(want.bytes()), "{rx} -> {tx}");
}
