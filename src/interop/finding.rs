//! Verdicts and findings (docs/decisions.md D11). A finding is a judgement of the server under test,
//! never an error of ours: it names exactly one requirement ID, says what was expected and what
//! was observed, and points at the message and header line like a compiler diagnostic. The one
//! exception is marked: an ERROR with cause `harness` says the harness could not run the case.

use crate::interop::rules::ReqId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A verdict (docs/decisions.md D11). Ordered from best to worst for aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Verdict {
    /// Not applicable to this case.
    #[serde(rename = "NOT-APPLICABLE")]
    NotApplicable,
    /// Conforms.
    #[serde(rename = "PASS")]
    Pass,
    /// Deviates from recommended practice, not from a SHALL.
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    /// A listed known deviation that failed as expected.
    #[serde(rename = "XFAIL")]
    Xfail,
    /// What must be judged was not observed.
    #[serde(rename = "INCONCLUSIVE")]
    Inconclusive,
    /// A listed known deviation that now passes (a stale entry).
    #[serde(rename = "XPASS")]
    Xpass,
    /// Violates a SHALL, an RFC 3261 invariant, or a FAIL decision.
    #[serde(rename = "FAIL")]
    Fail,
    /// The harness itself could not run the case.
    #[serde(rename = "ERROR")]
    Error,
}

impl Verdict {
    /// Every verdict, best first.
    pub const ALL: [Verdict; 8] = [
        Verdict::Pass,
        Verdict::NonStrict,
        Verdict::Fail,
        Verdict::Inconclusive,
        Verdict::NotApplicable,
        Verdict::Error,
        Verdict::Xfail,
        Verdict::Xpass,
    ];
    /// The D11 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::NotApplicable => "NOT-APPLICABLE",
            Verdict::Error => "ERROR",
            Verdict::Xfail => "XFAIL",
            Verdict::Xpass => "XPASS",
        }
    }
    /// True for the verdicts that make the exit status 1 (FAIL, ERROR, XPASS).
    pub fn is_failing(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Error | Verdict::Xpass)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finding points.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Location {
    /// The message's number, counted from 1 as Wireshark numbers frames: trace index + 1 when
    /// judged on a trace (the ladders' `#n`), the frame number when judged on a capture. Build it
    /// from a trace index with [`Location::number`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<usize>,
    /// Which message of the pair: `ingress`, `egress` or `response`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    /// 1-based line in that message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The header name (canonical spelling), when the finding is about a header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Capture time of that message (RFC 3339 UTC, microseconds), when judged on a capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl Location {
    /// The message number (from 1) of the message at trace index `index` (from 0).
    pub fn number(index: usize) -> usize {
        index + 1
    }
    /// The trace index (from 0) of the message this location names, when it names one.
    pub fn index(&self) -> Option<usize> {
        self.message.and_then(|m| m.checked_sub(1))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(m) = self.message {
            parts.push(format!("message #{m}"));
        }
        if let Some(s) = &self.side {
            parts.push(s.clone());
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        if let Some(h) = &self.header {
            parts.push(h.clone());
        }
        if let Some(t) = &self.time {
            parts.push(t.clone());
        }
        if parts.is_empty() { f.write_str("-") } else { f.write_str(&parts.join(", ")) }
    }
}

/// Why a finding is not a judgement of the server under test. Absent for the oracle's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The harness could not run the case (a step that cannot run, a world that livelocks, an
    /// I/O error); the finding's `observed` says why.
    Harness,
}

impl Cause {
    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Harness => "harness",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One judgement against one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The requirement ID.
    pub requirement: ReqId,
    /// The verdict.
    pub verdict: Verdict,
    /// What the requirement expects here.
    pub expected: String,
    /// What was observed.
    pub observed: String,
    /// Where.
    pub location: Location,
    /// Set when the finding is not about the server (an ERROR of the harness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl Finding {
    /// A new finding.
    pub fn new(
        requirement: ReqId,
        verdict: Verdict,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Finding {
        Finding {
            requirement,
            verdict,
            expected: expected.into(),
            observed: observed.into(),
            location: Location::default(),
            cause: None,
        }
    }
    /// An ERROR of the harness under `requirement`: it could not run what judges it, because of
    /// `why`.
    pub fn harness(requirement: ReqId, expected: impl Into<String>, why: impl Into<String>) -> Finding {
        Finding { cause: Some(Cause::Harness), ..Finding::new(requirement, Verdict::Error, expected, why) }
    }
    /// The same finding pointing at `loc`.
    pub fn at(mut self, loc: Location) -> Finding {
        self.location = loc;
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} at {}", self.verdict, self.requirement, self.location)?;
        if let Some(c) = self.cause {
            write!(f, " (cause: {c})")?;
        }
        write!(f, "\n  expected: {}\n  observed: {}", self.expected, self.observed)
    }
}

/// The worst verdict of a set of findings (PASS when empty).
pub fn worst<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Verdict {
    findings.into_iter().map(|f| f.verdict).max().unwrap_or(Verdict::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_numbered_from_one_everywhere() {
        let l = Location { message: Some(Location::number(0)), side: Some("egress".into()), ..Location::default() };
        assert_eq!(l.message, Some(1));
        assert_eq!(l.index(), Some(0));
        assert_eq!(l.to_string(), "message #1, egress");
        assert_eq!(Location { message: Some(0), ..Location::default() }.index(), None);
    }
}
