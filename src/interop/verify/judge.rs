//! Collects findings for one judged unit and turns "checked and nothing wrong" into PASS
//! findings, so that reports count passes as well as failures.

use crate::interop::finding::{Finding, Location, Verdict};
use crate::interop::rules::rule;

/// A finding collector.
#[derive(Debug, Default)]
pub struct Judge {
    findings: Vec<Finding>,
    checked: Vec<(&'static str, String)>,
}

impl Judge {
    /// Record that `id` was checked, with a short statement of what was expected.
    pub fn checked(&mut self, id: &'static str, expected: impl Into<String>) {
        if !self.checked.iter().any(|(i, _)| *i == id) {
            self.checked.push((id, expected.into()));
        }
    }
    /// A violation of `id`, graded by the catalogue (FAIL or NON-STRICT).
    pub fn violation(
        &mut self,
        id: &'static str,
        expected: impl Into<String>,
        observed: impl Into<String>,
        loc: Location,
    ) {
        let verdict = match rule(id).map(|r| r.grade) {
            Some(crate::interop::rules::Grade::NonStrict) => Verdict::NonStrict,
            _ => Verdict::Fail,
        };
        self.push(id, verdict, expected, observed, loc);
    }
    /// A finding with an explicit verdict (e.g. a NON-STRICT finding of a FAIL-grade ID, D3).
    pub fn push(
        &mut self,
        id: &'static str,
        verdict: Verdict,
        expected: impl Into<String>,
        observed: impl Into<String>,
        loc: Location,
    ) {
        self.checked(id, "");
        let f = Finding::new(id, verdict, expected, observed).at(loc);
        if !self.findings.contains(&f) {
            self.findings.push(f);
        }
    }
    /// All findings: the recorded ones, then a PASS for every checked ID without one.
    pub fn finish(mut self, pass_loc: Location) -> Vec<Finding> {
        for (id, expected) in &self.checked {
            if !self.findings.iter().any(|f| f.requirement == *id) {
                self.findings
                    .push(Finding::new(id, Verdict::Pass, expected.clone(), "as expected").at(pass_loc.clone()));
            }
        }
        self.findings
    }
}
