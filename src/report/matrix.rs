//! What the Markdown and HTML reports share: the stable order of results (scenario, level,
//! requirement in catalogue order), the requirement x scenario matrix, and short verdict labels.
//!
//! Orientation: one row per scenario x level, one column per requirement. A suite has ~80
//! scenario-levels and 32 IDs; 80 rows scroll vertically like any page, whereas 80 columns would
//! need sideways scrolling on every screen, and the rows are what links to the per-scenario
//! sections. Only requirements with at least one result get a column.

use super::ResultItem;
use crate::base::Level;
use crate::interop::finding::Verdict;
use crate::interop::rules::ReqId;
use std::collections::BTreeMap;

/// The results in stable order: scenario, level, requirement (catalogue order, then by name).
/// Ties keep their input order.
pub fn sorted(results: &[ResultItem]) -> Vec<&ResultItem> {
    let mut v: Vec<&ResultItem> = results.iter().collect();
    v.sort_by(|a, b| (a.scenario.as_str(), a.level, a.requirement).cmp(&(b.scenario.as_str(), b.level, b.requirement)));
    v
}

/// A short label for a matrix cell.
pub fn short(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::NonStrict => "NS",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive => "inc",
        Verdict::NotApplicable => "n/a",
        Verdict::Error => "ERR",
        Verdict::Xfail => "xfail",
        Verdict::Xpass => "XPASS",
    }
}

/// A CSS class name for a verdict (`v-pass`, `v-non-strict`, ...).
pub fn css_class(v: Verdict) -> String {
    format!("v-{}", v.as_str().to_ascii_lowercase())
}

/// One row of the matrix: a scenario at a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixRow {
    /// Scenario name.
    pub scenario: String,
    /// Level.
    pub level: Level,
    /// One cell per column: the result's verdict, `None` when that requirement was not judged.
    pub cells: Vec<Option<Verdict>>,
}

/// The requirement x scenario matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// Requirement IDs with at least one result, in catalogue order.
    pub columns: Vec<ReqId>,
    /// Scenario-levels in stable order.
    pub rows: Vec<MatrixRow>,
}

impl Matrix {
    /// Build the matrix of a set of results. Two results for the same cell (not expected) keep
    /// the worse verdict.
    pub fn of(results: &[ResultItem]) -> Matrix {
        let sorted = sorted(results);
        let mut columns: Vec<ReqId> = sorted.iter().map(|r| r.requirement).collect();
        columns.sort();
        columns.dedup();
        let col: BTreeMap<ReqId, usize> = columns.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut rows: Vec<MatrixRow> = Vec::new();
        for r in sorted {
            let same = rows.last().is_some_and(|row| row.scenario == r.scenario && row.level == r.level);
            if !same {
                rows.push(MatrixRow { scenario: r.scenario.clone(), level: r.level, cells: vec![None; columns.len()] });
            }
            // Invariant: a row was pushed above when the last one was not this scenario-level,
            // and every requirement of `sorted` has a column.
            let row = rows.last_mut().expect("row pushed above");
            let cell = &mut row.cells[col[&r.requirement]];
            *cell = Some(cell.map_or(r.verdict, |v| v.max(r.verdict)));
        }
        Matrix { columns, rows }
    }

    /// Catalogue IDs that no result names (not exercised by this run).
    pub fn not_exercised(&self) -> Vec<ReqId> {
        ReqId::ALL.iter().copied().filter(|id| !self.columns.contains(id)).collect()
    }
}

/// `scenario [L1]`, or `[L1]` alone for a nameless scenario (a single `check`).
pub fn row_label(scenario: &str, level: Level) -> String {
    if scenario.is_empty() { format!("[L{level}]") } else { format!("{scenario} [L{level}]") }
}
