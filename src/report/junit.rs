//! junit.xml for CI: one testsuite per scenario folder, one testcase per scenario x level x
//! requirement. Every D11 verdict maps to a JUnit status that CI shows for what it is; no
//! verdict but PASS and NON-STRICT is ever reported as a plain pass (table in
//! docs/report-format.md).

use super::ResultItem;
use super::matrix::sorted;
use super::model::RunReport;
use crate::interop::finding::Verdict;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::time::Duration;

/// The suite of a scenario: its name up to the last `/`, or `scenarios` for a top-level one.
pub fn folder(scenario: &str) -> &str {
    match scenario.rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() => dir,
        _ => "scenarios",
    }
}

/// `<scenario> [L<level>] <requirement>`.
pub fn case_name(r: &ResultItem) -> String {
    if r.scenario.is_empty() {
        format!("[L{}] {}", r.level, r.requirement)
    } else {
        format!("{} [L{}] {}", r.scenario, r.level, r.requirement)
    }
}

/// The findings worth showing for a result: its clause, then every finding that is not a plain
/// PASS. (No per-testcase properties: the Ant JUnit schema that some CI tools validate against
/// has none; the name carries scenario, level and requirement.)
fn notable(r: &ResultItem) -> String {
    let mut out = if r.clause.is_empty() { String::new() } else { format!("clause: {}\n", r.clause) };
    for f in r.findings.iter().filter(|f| f.verdict != Verdict::Pass) {
        out.push_str(&format!(
            "{} {} at {}\n  expected: {}\n  observed: {}\n",
            f.verdict, f.requirement, f.location, f.expected, f.observed
        ));
    }
    out
}

/// A one-line message: the result's verdict with its first finding of that verdict.
fn message(r: &ResultItem, lead: &str) -> String {
    match r.findings.iter().find(|f| f.verdict == r.verdict) {
        Some(f) => format!("{lead}: expected {}; observed {} (at {})", f.expected, f.observed, f.location),
        None => lead.to_string(),
    }
}

fn status(r: &ResultItem, strict: bool) -> (TestCaseStatus, Option<String>) {
    let non_success = |kind, lead: &str| {
        let mut s = TestCaseStatus::non_success(kind);
        s.set_type(r.verdict.as_str()).set_message(message(r, lead)).set_description(notable(r));
        s
    };
    let skipped = |lead: &str| {
        let mut s = TestCaseStatus::skipped();
        s.set_type(r.verdict.as_str()).set_message(message(r, lead)).set_description(notable(r));
        s
    };
    match r.verdict {
        Verdict::Pass => (TestCaseStatus::success(), None),
        Verdict::NonStrict => (
            TestCaseStatus::success(),
            Some(format!("NON-STRICT: passes, short of recommended practice\n{}", notable(r))),
        ),
        Verdict::Fail => (non_success(NonSuccessKind::Failure, "FAIL"), None),
        Verdict::Xpass => (
            non_success(NonSuccessKind::Failure, "XPASS: a listed known deviation now passes; remove the stale entry"),
            None,
        ),
        Verdict::Error => (non_success(NonSuccessKind::Error, "ERROR: the harness could not run this case"), None),
        Verdict::Inconclusive if strict => (
            non_success(
                NonSuccessKind::Failure,
                "INCONCLUSIVE, failing with --strict: what must be judged was not observed",
            ),
            None,
        ),
        Verdict::Inconclusive => (skipped("INCONCLUSIVE: what must be judged was not observed"), None),
        Verdict::NotApplicable => (skipped("NOT-APPLICABLE"), None),
        Verdict::Xfail => (skipped("XFAIL: a listed known deviation, failing as expected"), None),
    }
}

fn test_case(r: &ResultItem, strict: bool) -> TestCase {
    let (st, out) = status(r, strict);
    let mut tc = TestCase::new(case_name(r), st);
    tc.set_classname(if r.scenario.is_empty() { "check".to_string() } else { r.scenario.replace('/', ".") });
    if let Some(out) = out {
        tc.set_system_out(out);
    }
    tc
}

/// junit.xml: suites in folder-name order, cases in stable result order.
pub fn to_junit(r: &RunReport) -> String {
    let mut suites: BTreeMap<&str, Vec<TestCase>> = BTreeMap::new();
    for item in sorted(&r.results) {
        suites.entry(folder(&item.scenario)).or_default().push(test_case(item, r.run.strict));
    }
    let mut report = Report::new("imcpm");
    report.set_time(Duration::from_millis(r.run.duration_ms));
    for (name, cases) in suites {
        let mut suite = TestSuite::new(name);
        suite.add_property(Property::new("tool", format!("{} {}", r.run.tool, r.run.version)));
        suite.add_property(Property::new("sut", r.run.sut.as_str()));
        suite.add_property(Property::new("transport", r.run.transport.as_str()));
        if let Some(fault) = &r.run.fault {
            suite.add_property(Property::new("fault", fault.as_str()));
        }
        suite.add_test_cases(cases);
        report.add_test_suite(suite);
    }
    // An aggregated report lists some results only: one case per requirement over all of them,
    // so that a failure left out of the listing still fails the JUnit report too.
    if let Some(a) = &r.aggregate {
        let mut suite = TestSuite::new("all results");
        suite.add_property(Property::new("results", a.results.to_string()));
        suite.add_property(Property::new("listed per requirement and verdict", a.kept_per_kind.to_string()));
        for c in &a.requirements {
            let counts: Vec<String> = c.counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
            let text = format!("{}: {}", c.requirement, counts.join(", "));
            let inconclusive = r.run.strict && c.counts.contains_key(Verdict::Inconclusive.as_str());
            let status = if c.verdict.is_failing() || inconclusive {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type(c.verdict.as_str()).set_message(text.clone());
                s
            } else {
                TestCaseStatus::success()
            };
            let mut tc = TestCase::new(format!("{} (all results)", c.requirement), status);
            tc.set_classname("all-results");
            tc.set_system_out(text);
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    // Invariant: serialising into a Vec cannot hit an I/O error, and quick-junit filters the
    // characters XML cannot carry.
    report.to_string().expect("a JUnit report serialises to a string")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders() {
        assert_eq!(folder("t1/pager"), "t1");
        assert_eq!(folder("negative/deep/x"), "negative/deep");
        assert_eq!(folder("pager"), "scenarios");
        assert_eq!(folder(""), "scenarios");
        assert_eq!(folder("/x"), "scenarios");
    }
}
