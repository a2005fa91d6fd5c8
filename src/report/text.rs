//! Terminal rendering of results, for every command: a compact table, then each non-passing
//! finding like a compiler diagnostic (verdict, ID, where, expected, observed, the offending
//! line). `check` shows one row per result ([`results_table`], [`details`]); `run` one row per
//! requirement with counts ([`summary_table`], [`failures`], all of it in [`run_text`]).
//! Everything that comes from input (expected and observed texts, locations, scenario names,
//! source lines, paths) is escaped ([`crate::base::escape`]): bytes of a file or of the wire
//! never reach the terminal raw.

use super::ResultItem;
use super::model::RunReport;
use crate::base::escape::escape;
use crate::interop::finding::Verdict;
use crate::interop::rules::{ReqId, catalogue};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tabled::settings::Style;
use tabled::{Table, Tabled};

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "requirement")]
    id: String,
    #[tabled(rename = "verdict")]
    verdict: String,
    #[tabled(rename = "findings")]
    findings: usize,
}

/// A table of results, one row per requirement.
pub fn results_table(results: &[ResultItem]) -> String {
    let rows: Vec<Row> = results
        .iter()
        .map(|r| Row { id: r.requirement.to_string(), verdict: r.verdict.to_string(), findings: r.findings.len() })
        .collect();
    Table::new(rows).with(Style::sharp()).to_string()
}

/// Each finding that is not a PASS, with the source line it points at when `source` gives the
/// message text for a (side, index).
pub fn details(results: &[ResultItem], source: &dyn Fn(&crate::interop::Location) -> Option<String>) -> String {
    let mut out = String::new();
    for r in results {
        for f in r.findings.iter().filter(|f| f.verdict != Verdict::Pass) {
            let at = escape(&f.location.to_string()).into_owned();
            out.push_str(&format!("{} {} [{}] at {at}\n", f.verdict, f.requirement, r.clause));
            out.push_str(&format!("  expected: {}\n  observed: {}\n", escape(&f.expected), escape(&f.observed)));
            if let Some(line) = source(&f.location) {
                let n = f.location.line.unwrap_or(0);
                out.push_str(&format!("  {n:>4} | {}\n", escape(&line)));
            }
        }
    }
    out
}

#[derive(Tabled)]
struct SummaryRow {
    requirement: &'static str,
    verdict: String,
    #[tabled(rename = "pass")]
    pass: usize,
    #[tabled(rename = "n-strict")]
    non_strict: usize,
    #[tabled(rename = "fail")]
    fail: usize,
    #[tabled(rename = "other")]
    other: usize,
}

/// The summary of a run: one row per requirement ID (catalogue order) with its overall verdict
/// and counts of results per verdict, verdicts in colour when `color`. Fits 80 columns.
pub fn summary_table(results: &[ResultItem], color: bool) -> String {
    let mut rows: Vec<(ReqId, BTreeMap<&'static str, usize>)> = Vec::new();
    for r in catalogue() {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for x in results.iter().filter(|x| x.requirement == r.id) {
            *counts.entry(x.verdict.as_str()).or_default() += 1;
        }
        if !counts.is_empty() {
            rows.push((r.id, counts));
        }
    }
    counts_table(&rows, color)
}

/// [`summary_table`] from counts per requirement and verdict name (an aggregated report).
pub fn counts_table(rows: &[(ReqId, BTreeMap<&'static str, usize>)], color: bool) -> String {
    let mut out = Vec::new();
    for r in catalogue() {
        let Some((_, counts)) = rows.iter().find(|(id, _)| *id == r.id) else { continue };
        let count = |v: Verdict| counts.get(v.as_str()).copied().unwrap_or(0);
        let total: usize = counts.values().sum();
        let worst = Verdict::ALL.iter().copied().filter(|v| count(*v) > 0).max().unwrap_or(Verdict::NotApplicable);
        let other = total - count(Verdict::Pass) - count(Verdict::NonStrict) - count(Verdict::Fail);
        out.push(SummaryRow {
            requirement: r.id.as_str(),
            verdict: worst.to_string(),
            pass: count(Verdict::Pass),
            non_strict: count(Verdict::NonStrict),
            fail: count(Verdict::Fail),
            other,
        });
    }
    if out.is_empty() {
        // No table at all rather than a header with no rows and no bottom border: the line of
        // counts after it says that there are no results.
        return String::new();
    }
    let mut t = Table::new(out).with(Style::sharp()).to_string();
    if color {
        for (word, code) in [
            ("NON-STRICT", "33"),
            ("INCONCLUSIVE", "90"),
            ("PASS", "32"),
            ("FAIL", "31;1"),
            ("ERROR", "31;1"),
            ("XPASS", "35"),
            ("XFAIL", "36"),
        ] {
            t = t.replace(&format!("│ {word} "), &format!("│ \x1b[{code}m{word}\x1b[0m "));
        }
    }
    t
}

/// The failures of a run: every finding that is not PASS or NOT-APPLICABLE, like a compiler
/// diagnostic, naming its scenario and level.
pub fn failures(results: &[ResultItem]) -> String {
    let mut s = String::new();
    for r in results {
        for f in r.findings.iter().filter(|f| !matches!(f.verdict, Verdict::Pass | Verdict::NotApplicable)) {
            s.push_str(&format!(
                "{} {} in {} [L{}] ({})\n  at {}\n  expected: {}\n  observed: {}\n",
                f.verdict,
                f.requirement,
                escape(&r.scenario),
                r.level,
                r.clause,
                escape(&f.location.to_string()),
                escape(&f.expected),
                escape(&f.observed)
            ));
        }
    }
    s
}

/// What `imcpm run` prints: the [`summary_table`], the [`failures`], the comparison with the
/// baseline when there is one, and a closing line of counts (`runs` scenario runs in `elapsed`
/// with `cpu` seconds of CPU, reports in `report_dir`).
pub fn run_text(r: &RunReport, runs: usize, elapsed: Duration, cpu: f64, report_dir: &Path, color: bool) -> String {
    let mut s = summary_table(&r.results, color);
    s.push('\n');
    let fails = failures(&r.results);
    if !fails.is_empty() {
        s.push_str("\nFindings other than PASS:\n");
        s.push_str(&fails);
    }
    if !r.changes.is_empty() {
        s.push_str(&baseline_text(&r.changes));
    }
    if let Some(c) = r.coverage.as_ref().filter(|c| !c.not_exercised.is_empty()) {
        let ids: Vec<&str> = c.not_exercised.iter().map(|i| i.as_str()).collect();
        s.push_str(&format!("\nNot exercised by this run: {}\n", ids.join(" ")));
    }
    let counts: Vec<String> = r.summary.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
    s.push_str(&format!(
        "\n{}\n{} in {:.0} ms ({:.3} s CPU). Reports in {}\n",
        results_line(r.results.len(), runs, r.run.scenarios.len(), &counts.join(", ")),
        plural(runs, "scenario run"),
        elapsed.as_secs_f64() * 1000.0,
        cpu,
        escape(&report_dir.display().to_string())
    ));
    s
}

/// The baseline comparison: the count of each kind of change, then the results that regressed
/// (PASS or better before, FAIL now), changed otherwise, or are gone, one line each.
pub fn baseline_text(changes: &[super::model::Change]) -> String {
    use super::model::ChangeKind;
    let counts = super::json::change_counts(changes);
    let mut s = format!(
        "\nCompared with the baseline: {}\n",
        counts.iter().map(|(k, n)| format!("{n} {}", k.as_str())).collect::<Vec<_>>().join(", ")
    );
    for (kind, title) in [
        (ChangeKind::NewFail, "Regressions (failing now, not before)"),
        (ChangeKind::Changed, "Other changes of verdict"),
        (ChangeKind::Removed, "In the baseline, not in this run"),
    ] {
        let these: Vec<_> = changes.iter().filter(|c| c.change == kind).collect();
        if these.is_empty() {
            continue;
        }
        s.push_str(&format!("{title}:\n"));
        for c in these {
            let before = c.before.as_deref().unwrap_or("-");
            let after = if c.after.is_empty() { "-" } else { c.after.as_str() };
            s.push_str(&format!(
                "  {} in {} [L{}]: {before} -> {after}\n",
                c.requirement,
                c.scenario,
                c.level.number()
            ));
        }
    }
    s
}

/// `N thing` or `N things`.
pub fn plural(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// The line that sums up a suite run, the same on the terminal and in report.html:
/// `480 results from 62 runs of 43 scenarios: 478 PASS, 2 NOT-APPLICABLE`.
pub fn results_line(results: usize, runs: usize, scenarios: usize, counts: &str) -> String {
    format!("{} from {} of {}: {counts}", plural(results, "result"), plural(runs, "run"), plural(scenarios, "scenario"))
}

/// The counts table of an aggregated report (one row per requirement, every result counted),
/// then the findings other than PASS of the results it lists.
pub fn aggregate_text(r: &RunReport, color: bool) -> String {
    let rows: Vec<_> = r
        .aggregate
        .as_ref()
        .map(|x| x.requirements.iter().map(|c| (c.requirement, c.counts.clone())).collect())
        .unwrap_or_default();
    let mut out = counts_table(&rows, color);
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&failures(&r.results));
    out
}
