//! Every scenario file under scenarios/ is one test case (discovered with rstest's `#[files]`,
//! so adding a file adds a case). It runs in the simulated world at every level it declares,
//! against the embedded reference server: it must pass, and its rendered flow (ladder, the
//! messages through the IM server as line diffs, verdicts) is snapshotted under
//! snapshots/scenarios/.

use imcpm::interop::finding::{Cause, Verdict};
use imcpm::interop::rules::ReqId;
use imcpm::scenario::{RunOptions, Scenario, harness_failure, harness_findings, render::render, run_scenario};
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

/// A scenario whose first step cannot run: it names a template but was built without the
/// template's text (loading a file reads every template or fails; a run never reads files).
fn missing_template(requirements: &str) -> Scenario {
    let text = format!(
        r#"
title = "A step whose template was never read"
levels = [1, 2]
requirements = [{requirements}]

[actors]
bob = {{ kind = "im" }}
carol = {{ kind = "im" }}

[[steps]]
from = "bob"
send = "pager"
to = "carol"
expect = {{ status = 200, delivered_to = ["carol"] }}

[[steps]]
from = "carol"
send = "pager"
to = "bob"
expect = {{ status = 200, delivered_to = ["bob"] }}
"#
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/harness-test/missing-template.toml");
    let mut s = Scenario::parse("harness-test/missing-template", &path, &text).unwrap_or_else(|e| panic!("{e}"));
    s.steps[0].template = Some("no-such-template.sip".into());
    s
}

/// A request its client cannot send (a header line without a colon, which loading a file
/// refuses) is a harness ERROR of the step, never a silent INCONCLUSIVE.
#[test]
fn a_request_the_client_cannot_send_is_a_harness_error() {
    let mut s = missing_template(r#""T1.TERM.PAGER""#);
    s.steps[0].template = None;
    s.steps[0].headers = vec!["X-Foo bar".into()];
    let run = run_scenario(&s, imcpm::base::Level::One, &RunOptions::default());
    let r = run.results.iter().find(|r| r.requirement == ReqId::T1_TERM_PAGER).unwrap();
    assert_harness_error(r, "step 1: bob's client could not send the request");
}

/// Every file under scenarios/ is built into the binary, byte for byte, and the built-in
/// suite is the suite of the files.
#[test]
fn every_scenario_file_is_built_in() {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_str().unwrap().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let embedded: Vec<&str> = imcpm::scenario::builtin_files().iter().map(|(p, _)| *p).collect();
    assert_eq!(embedded, files, "the files under scenarios/ and the built-in ones");
    for (p, bytes) in imcpm::scenario::builtin_files() {
        assert_eq!(*bytes, std::fs::read(root.join(p)).unwrap().as_slice(), "{p}");
    }
    let builtin = imcpm::scenario::builtin().unwrap_or_else(|e| panic!("{e}"));
    let files = imcpm::scenario::load_dir(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(builtin.len(), files.len());
    for (b, f) in builtin.iter().zip(&files) {
        assert_eq!((&b.name, &b.source, &b.steps), (&f.name, &f.source, &f.steps));
        assert_eq!(b.origin, imcpm::scenario::Origin::BuiltIn);
        assert_eq!(f.origin, imcpm::scenario::Origin::File(root.join(format!("{}.toml", f.name))));
    }
}

/// The harness findings of a result: ERROR, cause `harness`, the reason as observed.
fn assert_harness_error(r: &imcpm::report::ResultItem, why: &str) {
    assert_eq!(r.verdict, Verdict::Error, "{}: {:?}", r.requirement, r.findings);
    let h: Vec<_> = r.findings.iter().filter(|f| f.cause == Some(Cause::Harness)).collect();
    assert_eq!(h.len(), 1, "{}: one harness finding: {:?}", r.requirement, r.findings);
    assert_eq!(h[0].verdict, Verdict::Error);
    assert!(h[0].observed.contains(why), "{}: observed {:?}", r.requirement, h[0].observed);
    let json = serde_json::to_value(h[0]).expect("finding serialises");
    assert_eq!(json["cause"], "harness");
}

#[test]
fn a_step_that_cannot_run_is_a_harness_error_of_every_listed_requirement() {
    let s = missing_template(r#""T1.TERM.PAGER", "SIP.PROXY""#);
    let listed = [ReqId::T1_TERM_PAGER, ReqId::SIP_PROXY];
    for &level in &s.levels {
        let run = run_scenario(&s, level, &RunOptions::default());
        for id in listed {
            let r = run.results.iter().find(|r| r.requirement == id).unwrap_or_else(|| panic!("L{level}: no {id}"));
            assert_harness_error(r, "no-such-template.sip");
        }
        assert!(
            run.findings.iter().all(|f| f.requirement != ReqId::ROUTE_VIA_IMS),
            "L{level}: a finding under ROUTE.VIA-IMS, which the scenario does not list: {:?}",
            run.findings.iter().filter(|f| f.requirement == ReqId::ROUTE_VIA_IMS).collect::<Vec<_>>()
        );
        assert!(
            run.findings.iter().filter(|f| f.cause.is_some()).all(|f| listed.contains(&f.requirement)),
            "L{level}: harness findings only under listed requirements"
        );
        // The play stopped at the step that could not run: nothing was sent.
        assert!(run.trace.events.iter().all(|e| !String::from_utf8_lossy(&e.packet.bytes).starts_with("MESSAGE ")));
    }
}

#[test]
fn a_harness_error_under_a_listed_route_via_ims_is_reported_once() {
    let s = missing_template(r#""ROUTE.VIA-IMS""#);
    let run = run_scenario(&s, imcpm::base::Level::One, &RunOptions::default());
    let r: Vec<_> = run.results.iter().filter(|r| r.requirement == ReqId::ROUTE_VIA_IMS).collect();
    assert_eq!(r.len(), 1);
    assert_harness_error(r[0], "no-such-template.sip");
}

#[test]
fn a_run_the_harness_cannot_start_errs_under_every_listed_requirement() {
    let s = missing_template(r#""T1.TERM.PAGER", "SIP.PROXY", "T1.TERM.PAGER""#);
    let run = harness_failure(&s, imcpm::base::Level::Two, "cannot bind 127.0.0.1:5060");
    let ids: Vec<ReqId> = run.results.iter().map(|r| r.requirement).collect();
    assert_eq!(ids, vec![ReqId::T1_TERM_PAGER, ReqId::SIP_PROXY]);
    for r in &run.results {
        assert_harness_error(r, "cannot bind");
    }
    assert_eq!(harness_findings(&[], "why")[0].requirement, ReqId::ROUTE_VIA_IMS);
}

#[test]
fn findings_of_the_server_carry_no_cause() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = load(&root.join("t1/pager.toml"));
    let run = run_scenario(&s, imcpm::base::Level::One, &RunOptions::default());
    assert!(!run.findings.is_empty());
    for f in &run.findings {
        assert_eq!(f.cause, None);
        let json = serde_json::to_value(f).expect("finding serialises");
        assert!(json.get("cause").is_none(), "{json}");
    }
}
