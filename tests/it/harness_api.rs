//! The public API a user's own test suite uses: one rstest case per scenario file (discovered
//! with `#[files]`), readable failures, and a fault that the API reports as a failure.

use imcpm::harness::Case;
use imcpm::interop::Verdict;
use imcpm::node::im_server::faults::{Fault, FaultSet};
use std::path::PathBuf;

/// README.md's "From your own tests" example, verbatim (tests/it/doc_examples.rs checks it), in
/// a module of its own as in a user's file.
mod readme_example {
    use imcpm::harness::Case;

    #[rstest::rstest]
    fn appendix_t(#[files("scenarios/**/*.toml")] path: std::path::PathBuf) {
        for case in Case::from_file(&path).unwrap() {
            case.run().assert_pass(); // or case.run_against(&your_server_factory)
        }
    }
}

#[test]
fn a_fault_is_reported_with_its_id_and_clause() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/t1/lmm.toml");
    let case = Case::from_file(&path).unwrap().remove(0);
    let outcome = case.run_with_faults(FaultSet::one(Fault::ForgetLmmTag));
    assert!(!outcome.passed());
    outcome.assert_verdict("T1.TERM.LMM", Verdict::Fail);
    let text = outcome.problems();
    assert!(text.contains("FAIL T1.TERM.LMM (T.1, T.3 row 2)"), "{text}");
    assert!(text.contains("+g.oma.sip-im.large-message"), "{text}");
    let panic = std::panic::catch_unwind(|| outcome.assert_pass()).unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("did not pass") && msg.contains("Through the IM server"), "{msg}");
    // Messages are numbered from 1, as in every report: the finding and the ladder row name
    // the same message, the INVITE the server sent on.
    assert!(msg.contains("at message #13, egress, line 14, Accept-Contact"), "{msg}");
    let row = msg.lines().find(|l| l.trim_start().starts_with("13 ")).unwrap_or_else(|| panic!("no row 13: {msg}"));
    let row = row.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(row, "13 1.004s im-server -> core TCP INVITE sip:bob@im.example.net SIP/2.0", "{msg}");
    assert!(msg.contains("#11 -> #13  INVITE sip:bob@im.example.net"), "{msg}");
}
