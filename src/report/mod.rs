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
    let mut by: BTreeMap<ReqId, Vec<Finding>> = BTreeMap::new();
    for f in findings {
        by.entry(f.requirement).or_default().push(f.clone());
    }
    by.into_values()
        .map(|fs| {
            let id = fs[0].requirement;
            ResultItem {
                scenario: scenario.to_string(),
                level,
                clause: id.rule().clause.to_string(),
                verdict: worst(&fs),
                requirement: id,
                findings: fs,
            }
        })
        .collect()
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
