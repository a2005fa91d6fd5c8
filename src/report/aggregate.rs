//! The aggregated report model, for inputs too big to list every result: counts per
//! requirement and verdict over every result, the first results of each (requirement, verdict)
//! in full, and which catalogue IDs the input exercised. `check-pcap` fills it as it judges;
//! memory stays bounded by the catalogue size times the number kept per kind.
//! Schema: docs/report-format.md, "aggregate".

use super::ResultItem;
use crate::interop::finding::Verdict;
use crate::interop::rules::ReqId;
use serde::Serialize;
use std::collections::BTreeMap;

/// Results kept in full per (requirement, verdict) unless told otherwise.
pub const DEFAULT_KEEP: usize = 20;

/// Counts of every result, and the first of each kind in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// How many results of each (requirement, verdict) are kept in full.
    pub keep: usize,
    /// Results per requirement and verdict (every result added).
    pub counts: BTreeMap<ReqId, BTreeMap<Verdict, usize>>,
    /// The first `keep` results of each (requirement, verdict), in the order added.
    pub kept: Vec<ResultItem>,
    /// Results counted but not kept.
    pub left_out: usize,
}

impl Aggregate {
    /// An empty aggregate keeping `keep` results of each kind.
    pub fn new(keep: usize) -> Aggregate {
        Aggregate { keep, counts: BTreeMap::new(), kept: Vec::new(), left_out: 0 }
    }

    /// Count `r`, and keep it when fewer than `keep` of its kind are kept.
    pub fn add(&mut self, r: ResultItem) {
        if self.count(r.requirement, r.verdict) {
            self.kept.push(r);
        }
    }

    /// Count a result of `requirement` with `verdict` as [`Aggregate::add`] counts it, without
    /// the result itself: true when it is to be kept in full, which the caller then does with
    /// [`Aggregate::keep_counted`] (a result left out need not be built at all).
    pub fn count(&mut self, requirement: ReqId, verdict: Verdict) -> bool {
        let n = self.counts.entry(requirement).or_default().entry(verdict).or_default();
        *n += 1;
        if *n <= self.keep {
            true
        } else {
            self.left_out += 1;
            false
        }
    }

    /// Keep a result [`Aggregate::count`] counted and said to keep.
    pub fn keep_counted(&mut self, r: ResultItem) {
        self.kept.push(r);
    }

    /// Every result counted.
    pub fn total(&self) -> usize {
        self.counts.values().flat_map(|m| m.values()).sum()
    }

    /// Counts keyed by verdict name, every verdict present (as [`super::summary`]).
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        let mut m: BTreeMap<&'static str, usize> = Verdict::ALL.iter().map(|v| (v.as_str(), 0)).collect();
        for (v, n) in self.counts.values().flat_map(|c| c.iter()) {
            *m.entry(v.as_str()).or_default() += n;
        }
        m
    }

    /// True when some result makes the exit status 1 (a FAIL, ERROR or XPASS), kept or not.
    pub fn failing(&self) -> bool {
        self.counts.values().flat_map(|c| c.iter()).any(|(v, n)| *n > 0 && v.is_failing())
    }

    /// The catalogue IDs with at least one judged result (PASS, NON-STRICT, FAIL, XFAIL or
    /// XPASS: exercised), and the others (never judged: no result, or only NOT-APPLICABLE,
    /// INCONCLUSIVE or ERROR), both in catalogue order.
    pub fn coverage(&self) -> Coverage {
        let judged = |v: &Verdict| !matches!(v, Verdict::NotApplicable | Verdict::Inconclusive | Verdict::Error);
        let used = |id: &ReqId| self.counts.get(id).is_some_and(|c| c.iter().any(|(v, n)| *n > 0 && judged(v)));
        Coverage {
            exercised: ReqId::ALL.iter().copied().filter(used).collect(),
            not_exercised: ReqId::ALL.iter().copied().filter(|id| !used(id)).collect(),
        }
    }

    /// The JSON section of the report.
    pub fn info(&self) -> AggregateInfo {
        AggregateInfo {
            results: self.total(),
            kept_per_kind: self.keep,
            left_out: self.left_out,
            requirements: self
                .counts
                .iter()
                .map(|(id, c)| RequirementCounts {
                    requirement: *id,
                    verdict: c.iter().filter(|(_, n)| **n > 0).map(|(v, _)| *v).max().unwrap_or(Verdict::NotApplicable),
                    counts: c.iter().filter(|(_, n)| **n > 0).map(|(v, n)| (v.as_str(), *n)).collect(),
                })
                .collect(),
            coverage: self.coverage(),
        }
    }
}

/// Which catalogue IDs `results` exercised (see [`Aggregate::coverage`]).
pub fn coverage_of(results: &[ResultItem]) -> Coverage {
    let mut a = Aggregate::new(0);
    for r in results {
        *a.counts.entry(r.requirement).or_default().entry(r.verdict).or_default() += 1;
    }
    a.coverage()
}

/// Which catalogue IDs an input exercised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// IDs with a judged result (PASS, NON-STRICT, FAIL, XFAIL or XPASS).
    pub exercised: Vec<ReqId>,
    /// The other IDs of the catalogue.
    pub not_exercised: Vec<ReqId>,
}

/// Counts of one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementCounts {
    /// The requirement.
    pub requirement: ReqId,
    /// The worst verdict among its results.
    pub verdict: Verdict,
    /// Results per verdict name (verdicts with none left out).
    pub counts: BTreeMap<&'static str, usize>,
}

/// The `aggregate` section of report.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AggregateInfo {
    /// Every result counted (`results` of the report holds the kept ones).
    pub results: usize,
    /// How many of each (requirement, verdict) are kept in `results`.
    pub kept_per_kind: usize,
    /// Results counted but not in `results`.
    pub left_out: usize,
    /// Per requirement, in catalogue order.
    pub requirements: Vec<RequirementCounts>,
    /// Which catalogue IDs the input exercised.
    pub coverage: Coverage,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Level;

    fn item(id: ReqId, v: Verdict, key: &str) -> ResultItem {
        ResultItem {
            scenario: key.into(),
            level: Level::One,
            requirement: id,
            clause: String::new(),
            verdict: v,
            findings: Vec::new(),
        }
    }

    #[test]
    fn counts_everything_keeps_the_first_of_each_kind() {
        let mut a = Aggregate::new(2);
        for k in 0..5 {
            a.add(item(ReqId::SIP_PROXY, Verdict::Pass, &format!("p{k}")));
        }
        a.add(item(ReqId::SIP_PROXY, Verdict::Fail, "f0"));
        a.add(item(ReqId::T1_TERM_PAGER, Verdict::NotApplicable, "n0"));
        assert_eq!(a.total(), 7);
        assert_eq!(a.left_out, 3);
        let keys: Vec<&str> = a.kept.iter().map(|r| r.scenario.as_str()).collect();
        assert_eq!(keys, ["p0", "p1", "f0", "n0"]);
        assert!(a.failing());
        assert_eq!(a.summary()["PASS"], 5);
        assert_eq!(a.summary()["FAIL"], 1);
        let c = a.coverage();
        assert_eq!(c.exercised, vec![ReqId::SIP_PROXY]);
        assert!(c.not_exercised.contains(&ReqId::T1_TERM_PAGER));
        assert_eq!(c.exercised.len() + c.not_exercised.len(), ReqId::ALL.len());
        let info = a.info();
        let proxy = info.requirements.iter().find(|c| c.requirement == ReqId::SIP_PROXY).unwrap();
        assert_eq!(proxy.verdict, Verdict::Fail);
        assert_eq!(proxy.counts, BTreeMap::from([("PASS", 5), ("FAIL", 1)]));
    }

    #[test]
    fn counting_first_keeps_and_leaves_out_as_add_does() {
        let (mut a, mut b) = (Aggregate::new(2), Aggregate::new(2));
        for (k, (id, v)) in [
            (ReqId::SIP_PROXY, Verdict::Pass),
            (ReqId::SIP_PROXY, Verdict::Pass),
            (ReqId::SIP_PROXY, Verdict::Fail),
            (ReqId::SIP_PROXY, Verdict::Pass),
            (ReqId::T3_MAP, Verdict::Pass),
        ]
        .into_iter()
        .enumerate()
        {
            a.add(item(id, v, &format!("r{k}")));
            if b.count(id, v) {
                b.keep_counted(item(id, v, &format!("r{k}")));
            }
        }
        assert_eq!(a, b);
        assert_eq!(b.left_out, 1);
    }

    #[test]
    fn a_failure_left_out_still_fails() {
        let mut a = Aggregate::new(0);
        a.add(item(ReqId::SIP_PROXY, Verdict::Fail, "f0"));
        assert!(a.kept.is_empty() && a.failing());
    }
}
