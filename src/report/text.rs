//! Terminal rendering of results: a compact table, then each non-passing finding like a
//! compiler diagnostic (verdict, ID, where, expected, observed, the offending line).

use super::ResultItem;
use crate::interop::finding::Verdict;
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
            out.push_str(&format!("{} {} [{}] at {}\n", f.verdict, f.requirement, r.clause, f.location));
            out.push_str(&format!("  expected: {}\n  observed: {}\n", f.expected, f.observed));
            if let Some(line) = source(&f.location) {
                let n = f.location.line.unwrap_or(0);
                out.push_str(&format!("  {n:>4} | {line}\n"));
            }
        }
    }
    out
}
