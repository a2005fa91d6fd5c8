//! Every scenario file under scenarios/ runs in the simulated world at every level it declares,
//! against the embedded reference server: it must pass, and its rendered flow (ladder, the
//! messages through the IM server as line diffs, verdicts) is snapshotted under
//! snapshots/scenarios/. Adding a file adds a case.

use imcpm::interop::finding::Verdict;
use imcpm::scenario::{RunOptions, load_dir, render::render, run_scenario};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn every_scenario_passes_against_the_reference_server() {
    let scenarios = load_dir(&dir()).expect("scenario files load");
    assert!(!scenarios.is_empty());
    let mut failures = Vec::new();
    for s in &scenarios {
        for &level in &s.levels {
            let run = run_scenario(s, level, &RunOptions::default());
            for r in &run.results {
                if !matches!(r.verdict, Verdict::Pass | Verdict::NotApplicable) {
                    for f in r.findings.iter().filter(|f| !matches!(f.verdict, Verdict::Pass | Verdict::NotApplicable)) {
                        failures.push(format!("{} L{level}: {} {} at {}: expected {} / observed {}", s.name, f.verdict, f.requirement, f.location, f.expected, f.observed));
                    }
                }
            }
            let snap = render(&run, &s.title);
            let name = format!("{}.L{level}", s.name.replace('/', "__"));
            insta::with_settings!({snapshot_path => "../snapshots/scenarios", prepend_module_to_snapshot => false, omit_expression => true}, {
                insta::assert_snapshot!(name, snap);
            });
        }
    }
    assert!(failures.is_empty(), "{} findings against the reference server:\n{}", failures.len(), failures.join("\n"));
}
