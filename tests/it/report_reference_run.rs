//! The reports of the reference run (every scenario, every level, embedded reference server,
//! deterministic times): Markdown and JSON snapshotted for review; JUnit well-formed with counts
//! that match the summary; HTML with the counts of the JSON summary and the terminal, under
//! 1 MB; a run with a fault reports the FAIL for the ID it targets, and the HTML lists its
//! INCONCLUSIVE findings as the terminal does.

use imcpm::interop::Verdict;
use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::report::model::RunReport;
use imcpm::scenario::{SuiteOptions, execute, load_dir, plan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every scenario at every level it declares, in the simulated world, deterministic times.
fn run_all(opts: &SuiteOptions) -> RunReport {
    let all = load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap();
    let jobs = plan(&all, None, &[]);
    let (mut r, runs) = execute(&all, &jobs, opts, &mut |_| {});
    assert_eq!(runs.len(), r.flows.len(), "one flow per run");
    r.run.started = "1970-01-01T00:00:00Z".into();
    r
}

/// What `imcpm run` prints for `r`.
fn terminal(r: &RunReport) -> String {
    imcpm::report::text::run_text(r, r.flows.len(), Duration::ZERO, 0.0, Path::new("reports/latest"), false)
}

/// The verdict badges of a report.html: name and count.
fn badges(html: &str) -> BTreeMap<String, usize> {
    html.split("<span class=\"badge ")
        .skip(1)
        .map(|b| {
            let text = &b[b.find('>').unwrap() + 1..];
            let name = text[..text.find(' ').unwrap()].to_string();
            let n = text.split("<span class=\"n\">").nth(1).unwrap().split('<').next().unwrap();
            (name, n.parse().unwrap())
        })
        .collect()
}

/// The number of rows of report.html's "Findings other than PASS" table.
fn listed(html: &str) -> usize {
    html.find("id=\"findings-list\"")
        .map_or(0, |i| html[i..i + html[i..].find("</table>").unwrap()].matches("<tr").count() - 1)
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
fn html_of_the_reference_run_counts_what_json_and_terminal_count() {
    let r = reference();
    let html = imcpm::report::html::to_html(&r);
    // The badges are the JSON summary: results per verdict, every verdict.
    let json: serde_json::Value = serde_json::from_str(&imcpm::report::json::to_json(&r)).unwrap();
    let summary: BTreeMap<String, usize> =
        json["summary"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap() as usize)).collect();
    assert_eq!(badges(&html), summary);
    assert_eq!(summary.values().sum::<usize>(), r.results.len());
    // The line of counts is the terminal's: `N results from M runs of K scenarios: ...`.
    let text = terminal(&r);
    let line = text.lines().find(|l| l.contains(" results from ")).unwrap();
    assert!(line.starts_with(&format!("{} results from {} runs of ", r.results.len(), r.flows.len())), "{line}");
    assert!(html.contains(&format!("<p class=\"sum\" id=\"counts-line\">{line}</p>")), "{line}");
    // As many findings listed as the terminal lists (none: the reference server passes).
    assert_eq!(listed(&html), imcpm::report::text::failures(&r.results).matches("\n  expected: ").count());
    assert!(html.contains(&format!("<a href=\"#scenarios\">Scenarios ({})</a>", r.flows.len())));
}

#[test]
fn html_of_the_reference_run_is_under_one_megabyte() {
    let html = imcpm::report::html::to_html(&reference());
    // docs/PERFORMANCE.md records the size; the message flows are data drawn by the page.
    assert!(html.len() < 1_000_000, "report.html of the reference run: {} bytes", html.len());
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
    let html = imcpm::report::html::to_html(&r);
    assert!(html.contains("T1.TERM.LMM"));
    // The HTML lists every finding the terminal lists, INCONCLUSIVE ones included.
    let text = terminal(&r);
    let inconclusive = text.lines().filter(|l| l.starts_with("INCONCLUSIVE ")).count();
    assert!(inconclusive > 0, "the fault leaves an ID unjudged:\n{text}");
    assert_eq!(listed(&html), text.matches("\n  expected: ").count());
    let i = html.find("id=\"findings-list\"").unwrap();
    let list = &html[i..i + html[i..].find("</table>").unwrap()];
    assert_eq!(list.matches(">INCONCLUSIVE</span>").count(), inconclusive);
    assert_eq!(badges(&html)["FAIL"], r.summary["FAIL"]);
}
