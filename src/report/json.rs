//! report.json (schema in docs/report-format.md) and the baseline comparison of `--baseline`:
//! read the verdicts of a previous report back and mark each result of this run as unchanged,
//! new pass, new fail (a regression), new, changed or removed.

use super::matrix::sorted;
use super::model::{Change, ChangeKind, RunInfo, RunReport};
use super::{ResultItem, SCHEMA_VERSION};
use crate::base::Level;
use crate::interop::finding::Verdict;
use crate::interop::rules::ReqId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The report as written: the model's keys in the model's order, results in stable order.
#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    run: &'a RunInfo,
    summary: &'a BTreeMap<&'static str, usize>,
    results: Vec<&'a ResultItem>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    changes: &'a [Change],
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate: Option<&'a super::aggregate::AggregateInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capture: Option<&'a super::model::CaptureInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<&'a super::aggregate::Coverage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay: Option<&'a super::model::ReplayInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    load: Option<&'a super::load::LoadStats>,
}

/// report.json: pretty-printed, keys in schema order, results sorted by scenario, level and
/// requirement (catalogue order), ending with a newline. The same report gives the same bytes.
pub fn to_json(r: &RunReport) -> String {
    let view = JsonReport {
        schema_version: r.schema_version,
        run: &r.run,
        summary: &r.summary,
        results: sorted(&r.results),
        changes: &r.changes,
        aggregate: r.aggregate.as_ref(),
        capture: r.capture.as_ref(),
        coverage: r.coverage.as_ref(),
        replay: r.replay.as_ref(),
        load: r.load.as_ref(),
    };
    // Invariant: every field is a string, integer, sequence or string-keyed map; serde_json
    // cannot fail on those.
    let mut s = serde_json::to_string_pretty(&view).expect("the report serialises to JSON");
    s.push('\n');
    s
}

/// One result of a baseline report: what [`compare`] needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BaselineResult {
    /// Scenario name (empty for a single `check`).
    #[serde(default)]
    pub scenario: String,
    /// Level.
    pub level: Level,
    /// Requirement ID.
    pub requirement: String,
    /// Verdict name as written (D11 spelling).
    pub verdict: String,
}

/// Why a baseline report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Not JSON, or a result lacks `level`, `requirement` or `verdict`.
    #[error("baseline report is not a valid report.json: {0}")]
    Json(#[from] serde_json::Error),
    /// Written by a newer imcpm with a schema this one does not know.
    #[error("baseline report has schema_version {found}; this imcpm reads up to {SCHEMA_VERSION}")]
    Schema {
        /// The version found in the file.
        found: u32,
    },
}

#[derive(Deserialize)]
struct BaselineFile {
    schema_version: u32,
    results: Vec<BaselineResult>,
}

/// Read scenario, level, requirement and verdict of every result of a report.json.
pub fn load_baseline(json: &str) -> Result<Vec<BaselineResult>, BaselineError> {
    let f: BaselineFile = serde_json::from_str(json)?;
    if f.schema_version > SCHEMA_VERSION {
        return Err(BaselineError::Schema { found: f.schema_version });
    }
    Ok(f.results)
}

fn parse_verdict(s: &str) -> Option<Verdict> {
    Verdict::ALL.into_iter().find(|v| v.as_str() == s)
}

/// The kind of change from `before` to `after`. "Failing" is what makes the exit status 1
/// (FAIL, ERROR, XPASS): a new fail is a result that fails the run now and did not before.
fn kind(before: &str, after: Verdict) -> ChangeKind {
    if before == after.as_str() {
        return ChangeKind::Unchanged;
    }
    match parse_verdict(before).map(Verdict::is_failing) {
        Some(false) if after.is_failing() => ChangeKind::NewFail,
        Some(true) if !after.is_failing() => ChangeKind::NewPass,
        // An unknown verdict name in the baseline is a change we cannot classify further.
        _ => ChangeKind::Changed,
    }
}

/// Compare this run's results with a baseline. One change per result of `now`, in stable
/// order, then one [`ChangeKind::Removed`] per baseline result that this run no longer has.
pub fn compare(now: &[ResultItem], baseline: &[BaselineResult]) -> Vec<Change> {
    let index: HashMap<(&str, Level, &str), &BaselineResult> =
        baseline.iter().map(|b| ((b.scenario.as_str(), b.level, b.requirement.as_str()), b)).collect();
    let mut out: Vec<Change> = sorted(now)
        .into_iter()
        .map(|r| {
            let before = index.get(&(r.scenario.as_str(), r.level, r.requirement.as_str()));
            Change {
                scenario: r.scenario.clone(),
                level: r.level,
                requirement: r.requirement.to_string(),
                change: before.map_or(ChangeKind::New, |b| kind(&b.verdict, r.verdict)),
                before: before.map(|b| b.verdict.clone()),
                after: r.verdict.as_str().to_string(),
            }
        })
        .collect();
    let present: std::collections::HashSet<(&str, Level, &str)> =
        now.iter().map(|r| (r.scenario.as_str(), r.level, r.requirement.as_str())).collect();
    let mut removed: Vec<&BaselineResult> = baseline
        .iter()
        .filter(|b| !present.contains(&(b.scenario.as_str(), b.level, b.requirement.as_str())))
        .collect();
    removed.sort_by(|a, b| {
        let order = |id: &str| ReqId::parse(id).map_or(usize::MAX, |r| r as usize);
        (a.scenario.as_str(), a.level, order(&a.requirement), a.requirement.as_str()).cmp(&(
            b.scenario.as_str(),
            b.level,
            order(&b.requirement),
            b.requirement.as_str(),
        ))
    });
    removed.dedup_by(|a, b| a.scenario == b.scenario && a.level == b.level && a.requirement == b.requirement);
    out.extend(removed.into_iter().map(|b| Change {
        scenario: b.scenario.clone(),
        level: b.level,
        requirement: b.requirement.clone(),
        change: ChangeKind::Removed,
        before: Some(b.verdict.clone()),
        after: String::new(),
    }));
    out
}

/// Counts of changes keyed by kind, for summaries (kinds with zero changes left out).
pub fn change_counts(changes: &[Change]) -> Vec<(ChangeKind, usize)> {
    ChangeKind::ALL
        .iter()
        .map(|k| (*k, changes.iter().filter(|c| c.change == *k).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(s: &str, level: Level, id: ReqId, v: Verdict) -> ResultItem {
        ResultItem { scenario: s.into(), level, requirement: id, clause: String::new(), verdict: v, findings: vec![] }
    }

    fn base(s: &str, level: Level, id: &str, v: &str) -> BaselineResult {
        BaselineResult { scenario: s.into(), level, requirement: id.into(), verdict: v.into() }
    }

    #[test]
    fn every_kind() {
        let now = [
            item("a", Level::One, ReqId::T1_TERM_PAGER, Verdict::Pass),
            item("a", Level::One, ReqId::T1_TERM_IMDN, Verdict::Fail),
            item("a", Level::One, ReqId::T1_TERM_FT, Verdict::Pass),
            item("a", Level::One, ReqId::T1_TERM_SESSION, Verdict::NonStrict),
            item("a", Level::Two, ReqId::T1_TERM_PAGER, Verdict::Pass),
        ];
        let before = [
            base("a", Level::One, ReqId::T1_TERM_PAGER.as_str(), "PASS"),
            base("a", Level::One, ReqId::T1_TERM_IMDN.as_str(), "NON-STRICT"),
            base("a", Level::One, ReqId::T1_TERM_FT.as_str(), "ERROR"),
            base("a", Level::One, ReqId::T1_TERM_SESSION.as_str(), "PASS"),
            base("b", Level::One, ReqId::T3_MAP.as_str(), "FAIL"),
        ];
        let c = compare(&now, &before);
        let kinds: Vec<ChangeKind> = c.iter().map(|c| c.change).collect();
        assert_eq!(
            kinds,
            [
                ChangeKind::Unchanged,
                ChangeKind::NewFail,
                ChangeKind::NewPass,
                ChangeKind::Changed,
                ChangeKind::New,
                ChangeKind::Removed
            ]
        );
        assert_eq!(c[4].before, None);
        assert_eq!(c[5].after, "");
    }

    #[test]
    fn newer_schema_is_refused() {
        let e = load_baseline(r#"{"schema_version": 99, "results": []}"#).unwrap_err();
        assert!(matches!(e, BaselineError::Schema { found: 99 }));
        assert!(load_baseline("not json").is_err());
    }
}
