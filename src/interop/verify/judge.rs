//! Collects findings for one judged unit and turns "checked and nothing wrong" into PASS
//! findings, so that reports count passes as well as failures.

use crate::interop::finding::{Finding, Location, Verdict};
use crate::interop::rules::{Grade, ReqId};

/// A finding collector.
#[derive(Debug, Default)]
pub struct Judge {
    findings: Vec<Finding>,
    checked: Vec<(ReqId, String)>,
}

impl Judge {
    /// Record that `id` was checked, with a short statement of what was expected.
    pub fn checked(&mut self, id: ReqId, expected: impl Into<String>) {
        if !self.checked.iter().any(|(i, _)| *i == id) {
            self.checked.push((id, expected.into()));
        }
    }
    /// A violation of `id`, graded by the catalogue (FAIL or NON-STRICT).
    pub fn violation(&mut self, id: ReqId, expected: impl Into<String>, observed: impl Into<String>, loc: Location) {
        let verdict = match id.grade() {
            Grade::NonStrict => Verdict::NonStrict,
            Grade::Fail => Verdict::Fail,
        };
        self.push(id, verdict, expected, observed, loc);
    }
    /// A finding with an explicit verdict (e.g. a NON-STRICT finding of a FAIL-grade ID, D3).
    pub fn push(
        &mut self,
        id: ReqId,
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
                    .push(Finding::new(*id, Verdict::Pass, expected.clone(), "as expected").at(pass_loc.clone()));
            }
        }
        self.findings
    }
}
