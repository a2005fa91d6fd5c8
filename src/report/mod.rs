//! The report model shared by every command that judges (`check`, `run`, `check-pcap`,
//! `replay`): results keyed by scenario, level and requirement, each with its findings, and a
//! summary of counts keyed by verdict name. Renderers turn it into text, JSON and more.

pub mod aggregate;
pub mod html;
pub mod json;
pub mod junit;
pub mod load;
pub mod markdown;
pub mod matrix;
pub mod model;
pub mod text;
pub mod write;

use crate::base::Level;
use crate::interop::finding::{Finding, Verdict, worst};
use crate::interop::rules::ReqId;
use serde::Serialize;
use std::collections::BTreeMap;

/// Version of the JSON schema (docs/report-format.md).
pub const SCHEMA_VERSION: u32 = 4;

/// One result: a requirement judged in one scenario at one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultItem {
    /// Scenario name (empty for a single `check`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scenario: String,
    /// Interop level.
    pub level: Level,
    /// Requirement ID.
    pub requirement: ReqId,
    /// Its clause.
    pub clause: String,
    /// The worst verdict of its findings.
    pub verdict: Verdict,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// Group findings into results by requirement (catalogue order), for one scenario and level.
pub fn group(scenario: &str, level: Level, findings: &[Finding]) -> Vec<ResultItem> {
    group_owned(scenario, level, findings.to_vec())
}

/// [`group`], taking the findings (moved into the results, not copied). Within a requirement
/// they keep their order.
pub fn group_owned(scenario: &str, level: Level, mut findings: Vec<Finding>) -> Vec<ResultItem> {
    // A stable sort: the findings of one requirement stay in the order given.
    findings.sort_by_key(|f| f.requirement);
    let mut out = Vec::new();
    while let Some(last) = findings.last() {
        let id = last.requirement;
        let start = findings.partition_point(|f| f.requirement < id);
        // The first requirement's findings are the whole rest: moved as they are.
        let fs = if start == 0 { std::mem::take(&mut findings) } else { findings.split_off(start) };
        out.push(ResultItem {
            scenario: scenario.to_string(),
            level,
            clause: id.rule().clause.to_string(),
            verdict: worst(&fs),
            requirement: id,
            findings: fs,
        });
    }
    out.reverse();
    out
}

/// Counts of results keyed by verdict name (every verdict present, zero included).
pub fn summary(results: &[ResultItem]) -> BTreeMap<&'static str, usize> {
    let mut m: BTreeMap<&'static str, usize> = Verdict::ALL.iter().map(|v| (v.as_str(), 0)).collect();
    for r in results {
        *m.entry(r.verdict.as_str()).or_default() += 1;
    }
    m
}

/// True when the results make the exit status 1 (a FAIL, ERROR or XPASS).
pub fn failing(results: &[ResultItem]) -> bool {
    results.iter().any(|r| r.verdict.is_failing())
}

/// [`failing`], and with `strict` (`--strict`) an INCONCLUSIVE too.
pub fn failing_strict(results: &[ResultItem], strict: bool) -> bool {
    failing(results) || (strict && results.iter().any(|r| r.verdict == Verdict::Inconclusive))
}

/// The lines of a message, line ends removed.
pub fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b).split('\n').map(|l| l.trim_end_matches('\r').to_string()).collect()
}

/// A line diff (LCS): each line of `b` marked ` ` (kept) or `+` (added), with `-` lines of `a`
/// that were removed, in order.
pub fn diff(a: &[String], b: &[String]) -> Vec<(char, String)> {
    let (n, m) = (a.len(), b.len());
    let mut dp = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            dp[i][j] = if a[i] == b[j] { dp[i + 1][j + 1] + 1 } else { dp[i + 1][j].max(dp[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push((' ', b[j].clone()));
            i += 1;
            j += 1;
        } else if i < n && (j == m || dp[i + 1][j] >= dp[i][j + 1]) {
            out.push(('-', a[i].clone()));
            i += 1;
        } else {
            out.push(('+', b[j].clone()));
            j += 1;
        }
    }
    out
}

/// The most line pairs [`changed_lines`] compares (its table has one cell per pair).
pub const MAX_DIFF_CELLS: usize = 250_000;

/// 0-based lines of message `b` that are not in message `a` (the lines a rewrite added or
/// changed), for highlighting in ladders.
/// Messages too long to compare (more than [`MAX_DIFF_CELLS`] line pairs) show no changed
/// lines.
pub fn changed_lines(a: &[u8], b: &[u8]) -> Vec<usize> {
    let (la, lb) = (lines(a), lines(b));
    if la.len().saturating_mul(lb.len()) > MAX_DIFF_CELLS {
        return Vec::new();
    }
    diff(&la, &lb)
        .iter()
        .filter(|(m, _)| *m != '-')
        .enumerate()
        .filter(|(_, (m, _))| *m == '+')
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::finding::Location;

    fn f(id: ReqId, verdict: Verdict, observed: &str) -> Finding {
        Finding::new(id, verdict, "x", observed).at(Location { message: Some(1), ..Location::default() })
    }

    #[test]
    fn group_orders_requirements_by_catalogue_and_keeps_finding_order() {
        let findings = vec![
            f(ReqId::SIP_PROXY, Verdict::Pass, "a"),
            f(ReqId::T1_TERM_PAGER, Verdict::Fail, "b"),
            f(ReqId::SIP_PROXY, Verdict::Fail, "c"),
            f(ReqId::T1_TERM_PAGER, Verdict::Pass, "d"),
            f(ReqId::SIP_PROXY, Verdict::Inconclusive, "e"),
        ];
        let results = group_owned("s", Level::One, findings.clone());
        assert_eq!(results, group("s", Level::One, &findings));
        let got: Vec<(ReqId, Verdict, Vec<&str>)> = results
            .iter()
            .map(|r| (r.requirement, r.verdict, r.findings.iter().map(|x| x.observed.as_str()).collect()))
            .collect();
        assert_eq!(
            got,
            vec![
                (ReqId::T1_TERM_PAGER, Verdict::Fail, vec!["b", "d"]),
                (ReqId::SIP_PROXY, Verdict::Fail, vec!["a", "c", "e"]),
            ]
        );
        assert!(results.iter().all(|r| r.scenario == "s" && r.clause == r.requirement.rule().clause));
        assert!(group_owned("s", Level::One, Vec::new()).is_empty());
    }
}
