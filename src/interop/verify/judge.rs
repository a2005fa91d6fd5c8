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
    /// True when nothing other than PASS has been recorded.
    pub fn clean(&self) -> bool {
        self.findings.iter().all(|f| f.verdict == Verdict::Pass)
    }

    /// All findings: the recorded ones, then a PASS for every checked ID without one.
    pub fn finish(self, mut pass_loc: Location) -> Vec<Finding> {
        let Judge { mut findings, mut checked } = self;
        checked.retain(|(id, _)| !findings.iter().any(|f| f.requirement == *id));
        findings.reserve(checked.len());
        let mut passes = checked.into_iter().peekable();
        while let Some((id, expected)) = passes.next() {
            // The last PASS takes the location itself, the others a copy.
            let loc = if passes.peek().is_some() { pass_loc.clone() } else { std::mem::take(&mut pass_loc) };
            findings.push(Finding::new(id, Verdict::Pass, expected, "as expected").at(loc));
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(message: usize) -> Location {
        Location { message: Some(message), ..Location::default() }
    }

    fn pairs(f: &[Finding]) -> Vec<(ReqId, Verdict)> {
        f.iter().map(|x| (x.requirement, x.verdict)).collect()
    }

    #[test]
    fn violation_takes_the_grade_of_the_catalogue() {
        assert_eq!(ReqId::T2_CONVID_STABLE.grade(), Grade::NonStrict);
        assert_eq!(ReqId::SIP_PROXY.grade(), Grade::Fail);
        let mut j = Judge::default();
        j.violation(ReqId::T2_CONVID_STABLE, "one ID per pair", "two IDs", at(1));
        j.violation(ReqId::SIP_PROXY, "Max-Forwards: 69", "Max-Forwards: 70", at(2));
        let f = j.finish(Location::default());
        assert_eq!(pairs(&f), vec![(ReqId::T2_CONVID_STABLE, Verdict::NonStrict), (ReqId::SIP_PROXY, Verdict::Fail)]);
        assert_eq!(f[1].expected, "Max-Forwards: 69");
        assert_eq!(f[1].observed, "Max-Forwards: 70");
        assert_eq!(f[1].location, at(2));
    }

    #[test]
    fn push_keeps_an_explicit_verdict_below_the_grade() {
        let mut j = Judge::default();
        j.push(ReqId::T2_ONLINE_ONLY, Verdict::NonStrict, "480", "answered 486", at(3));
        let f = j.finish(Location::default());
        assert_eq!(pairs(&f), vec![(ReqId::T2_ONLINE_ONLY, Verdict::NonStrict)]);
    }

    #[test]
    fn finish_passes_each_checked_id_without_findings_once() {
        let mut j = Judge::default();
        j.checked(ReqId::SIP_PRESERVE, "unchanged");
        j.checked(ReqId::SIP_PROXY, "own Via on top");
        j.checked(ReqId::SIP_FRAMING, "Content-Length right");
        // Checked again: still one PASS, with the first statement of what was expected.
        j.checked(ReqId::SIP_PRESERVE, "something else");
        j.violation(ReqId::SIP_PROXY, "own Via on top", "no Via added", at(4));
        let f = j.finish(at(9));
        assert_eq!(
            pairs(&f),
            vec![
                (ReqId::SIP_PROXY, Verdict::Fail),
                (ReqId::SIP_PRESERVE, Verdict::Pass),
                (ReqId::SIP_FRAMING, Verdict::Pass),
            ]
        );
        assert_eq!(f[1].expected, "unchanged");
        assert_eq!(f[1].observed, "as expected");
        assert_eq!(f[1].location, at(9));
        assert_eq!(f[2].location, at(9));
    }

    #[test]
    fn a_violation_without_checked_still_suppresses_the_pass() {
        let mut j = Judge::default();
        j.violation(ReqId::T3_MAP, "Table 1 spelling", "+G.OMA.SIP-IM", at(1));
        assert_eq!(pairs(&j.finish(Location::default())), vec![(ReqId::T3_MAP, Verdict::Fail)]);
    }

    #[test]
    fn nothing_checked_gives_no_findings() {
        assert!(Judge::default().finish(Location::default()).is_empty());
    }

    #[test]
    fn identical_findings_are_recorded_once() {
        let mut j = Judge::default();
        for _ in 0..3 {
            j.violation(ReqId::SIP_PROXY, "483", "forwarded", at(1));
        }
        // The same ID with another location or text is another finding.
        j.violation(ReqId::SIP_PROXY, "483", "forwarded", at(2));
        j.violation(ReqId::SIP_PROXY, "483", "answered 200 OK", at(2));
        let f = j.finish(Location::default());
        assert_eq!(f.len(), 3);
        assert_eq!(f.iter().filter(|x| x.location == at(1)).count(), 1);
        assert!(f.iter().all(|x| x.requirement == ReqId::SIP_PROXY && x.verdict == Verdict::Fail));
    }

    #[test]
    fn finish_trace_passes_without_a_location() {
        let mut j = Judge::default();
        j.checked(ReqId::T2_CONVID_DISTINCT, "distinct");
        let f = j.finish_trace();
        assert_eq!(pairs(&f), vec![(ReqId::T2_CONVID_DISTINCT, Verdict::Pass)]);
        assert_eq!(f[0].location, Location::default());
    }
}
