//! The report model shared by every command that judges (`check`, `run`, `check-pcap`,
//! `replay`): results keyed by scenario, level and requirement, each with its findings, and a
//! summary of counts keyed by verdict name. Renderers turn it into text, JSON and more.

pub mod html;
pub mod json;
pub mod junit;
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
pub const SCHEMA_VERSION: u32 = 2;

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
