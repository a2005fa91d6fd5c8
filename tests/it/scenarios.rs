//! Every scenario file under scenarios/ is one test case (discovered with rstest's `#[files]`,
//! so adding a file adds a case). It runs in the simulated world at every level it declares,
//! against the embedded reference server: it must pass, and its rendered flow (ladder, the
//! messages through the IM server as line diffs, verdicts) is snapshotted under
//! snapshots/scenarios/.

use imcpm::interop::finding::Verdict;
use imcpm::scenario::{RunOptions, Scenario, render::render, run_scenario};
use rstest::rstest;
use std::path::{Path, PathBuf};

fn load(path: &Path) -> Scenario {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let name = path.strip_prefix(&root).unwrap_or(path).with_extension("").to_string_lossy().replace('\\', "/");
    let text = std::fs::read_to_string(path).expect("readable scenario");
    Scenario::parse(&name, path, &text).unwrap_or_else(|e| panic!("{e}"))
}

#[rstest]
fn scenario(#[files("scenarios/**/*.toml")] path: PathBuf) {
    let s = load(&path);
    let mut failures = Vec::new();
    for &level in &s.levels {
        let run = run_scenario(&s, level, &RunOptions::default());
        for r in &run.results {
            for f in r.findings.iter().filter(|f| !matches!(f.verdict, Verdict::Pass | Verdict::NotApplicable)) {
                failures.push(format!(
                    "L{level}: {} {} at {}: expected {} / observed {}",
                    f.verdict, f.requirement, f.location, f.expected, f.observed
                ));
            }
        }
        let name = format!("{}.L{level}", s.name.replace('/', "__"));
        insta::with_settings!({snapshot_path => "../../snapshots/scenarios", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, render(&run, &s.title));
        });
    }
    assert!(
        failures.is_empty(),
        "{}: {} findings against the reference server:\n{}",
        s.name,
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_suite_is_deterministic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = load(&root.join("network/impaired.toml"));
    let a = run_scenario(&s, imcpm::base::Level::One, &RunOptions::default());
    let b = run_scenario(&s, imcpm::base::Level::One, &RunOptions::default());
    assert_eq!(render(&a, &s.title), render(&b, &s.title));
    assert_eq!(a.trace.events.len(), b.trace.events.len());
}
