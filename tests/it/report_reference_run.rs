//! The reports of the reference run (every scenario, every level, embedded reference server,
//! deterministic times): Markdown and JSON snapshotted for review; JUnit well-formed with counts
//! that match the summary; a run with a fault reports the FAIL for the ID it targets.

use imcpm::interop::Verdict;
use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::report::model::RunReport;
use imcpm::scenario::{SuiteOptions, execute, load_dir, plan};
use std::path::PathBuf;

/// Every scenario at every level it declares, in the simulated world, deterministic times.
fn run_all(opts: &SuiteOptions) -> RunReport {
    let all = load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap();
    let jobs = plan(&all, None, &[]);
    let (mut r, _) = execute(&all, &jobs, opts, &mut |_| {});
    r.run.started = "1970-01-01T00:00:00Z".into();
    r
}

fn reference() -> RunReport {
    run_all(&SuiteOptions::default())
}

#[test]
fn markdown_and_json_of_the_reference_run() {
    let r = reference();
    assert!(!imcpm::report::failing(&r.results));
    insta::with_settings!({snapshot_path => "../../snapshots/reports", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("reference_run_md", imcpm::report::markdown::to_markdown(&r));
        insta::assert_snapshot!("reference_run_json", imcpm::report::json::to_json(&r));
    });
}

#[test]
fn junit_of_the_reference_run_matches_the_summary() {
    let r = reference();
    let xml = imcpm::report::junit::to_junit(&r);
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("well-formed JUnit");
    let cases: usize = parsed.test_suites.iter().map(|s| s.test_cases.len()).sum();
    assert_eq!(cases, r.results.len());
    let skipped = r.summary["INCONCLUSIVE"] + r.summary["NOT-APPLICABLE"] + r.summary["XFAIL"];
    let n_skipped: usize = parsed
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::Skipped { .. }))
        .count();
    assert_eq!(n_skipped, skipped);
    let n_fail: usize = parsed
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::NonSuccess { .. }))
        .count();
    assert_eq!(n_fail, r.summary["FAIL"] + r.summary["XPASS"] + r.summary["ERROR"]);
    let suites: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert!(suites.contains(&"t1") && suites.contains(&"t2/term"), "{suites:?}");
}

#[test]
fn a_fault_shows_as_fail_in_every_report() {
    let r = run_all(&SuiteOptions {
        transport: None,
        faults: FaultSet::one(Fault::ForgetLmmTag),
        fault_names: vec!["forget-lmm-tag".into()],
    });
    assert!(imcpm::report::failing(&r.results));
    let fails: Vec<&str> =
        r.results.iter().filter(|x| x.verdict == Verdict::Fail).map(|x| x.requirement.as_str()).collect();
    assert!(fails.contains(&"T1.TERM.LMM") && fails.contains(&"T2.ORIG.LMM"), "{fails:?}");
    assert!(imcpm::report::json::to_json(&r).contains("\"verdict\": \"FAIL\""));
    assert!(imcpm::report::markdown::to_markdown(&r).contains("T1.TERM.LMM"));
    assert!(imcpm::report::junit::to_junit(&r).contains("<failure"));
    assert!(imcpm::report::html::to_html(&r).contains("T1.TERM.LMM"));
}
