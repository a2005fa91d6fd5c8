//! Checking a scenario's explicit step expectations (`expect`, `expect_level1`, `expect_level2`):
//! the final response the sender gets, who receives the request and who receives nothing. The
//! results are oracle findings ([`Finding`]) under the expectation's requirement ID
//! (`ROUTE.VIA-IMS` unless it names one), located at the step; a checked ID without a violation
//! gets a PASS.

use super::model::{Expect, Scenario};
use super::steps::Sent;
use super::world::{received_service, ue};
use crate::interop::finding::{Finding, Location};
use crate::interop::rules::ReqId;
use crate::interop::verify::judge::Judge;
use crate::sim::World;
use std::collections::HashMap;

/// The requirement explicit checks are reported under when the expectation names none.
const DEFAULT_REQUIREMENT: ReqId = ReqId::ROUTE_VIA_IMS;

/// Service requests each actor had received before a step.
pub(super) struct Snapshot(HashMap<String, usize>);

impl Snapshot {
    /// The counts now.
    pub(super) fn take(s: &Scenario, w: &World) -> Snapshot {
        Snapshot(s.actors.keys().map(|n| (n.clone(), received_service(w, n))).collect())
    }
    fn of(&self, name: &str) -> usize {
        self.0.get(name).copied().unwrap_or(0)
    }
}

/// The findings of the explicit expectations of one run.
#[derive(Debug, Default)]
pub(super) struct Expectations {
    judge: Judge,
    /// Violations shown by something missing (no final response, nothing received, the
    /// server's own timeout): judged at the end, when it is known whether the harness's sockets
    /// dropped datagrams (then what is missing may have been lost there: INCONCLUSIVE).
    absent: Vec<(ReqId, String, String, Location)>,
}

/// A final status a server gives on its own when a forward of its was never answered (RFC 3261
/// §16.7 step 6: 408; 504 Server Time-out): what it answers when the harness lost the forward.
fn timeout(code: u16) -> bool {
    matches!(code, 408 | 504)
}

impl Expectations {
    /// Check the expectation `e` of step `n` (1-based), which sent `sent`, against the world
    /// after the step; `before` are the counts before it.
    pub(super) fn check(&mut self, n: usize, e: &Expect, sent: Option<&Sent>, before: &Snapshot, w: &World) {
        let id = e.requirement.unwrap_or(DEFAULT_REQUIREMENT);
        let loc = Location { side: Some(format!("step {n}")), ..Location::default() };
        if let (Some(want), Some((who, idx))) = (e.status, sent) {
            let got = ue(w, who).and_then(|u| u.sent[*idx].final_code);
            let observed = got.map_or("no final response".to_string(), |c| format!("{c}"));
            let absent = got.is_none_or(|c| timeout(c.as_u16()) && !timeout(want.as_u16()));
            self.expect(id, format!("step {n}: {who} gets {want}"), got == Some(want), observed, &loc, absent);
        }
        for a in &e.delivered_to {
            let ok = received_service(w, a) > before.of(a);
            self.expect(id, format!("step {n}: {a} receives the request"), ok, "nothing received", &loc, true);
        }
        for a in &e.nothing_to {
            let got = received_service(w, a) - before.of(a);
            let observed = format!("{got} request(s) received");
            self.expect(id, format!("step {n}: nothing reaches {a}"), got == 0, observed, &loc, false);
        }
    }

    /// Record one check of `id`; a violation when it did not hold (one shown by something
    /// missing, `absent`, is held back for [`Expectations::finish`]).
    fn expect(
        &mut self,
        id: ReqId,
        expected: String,
        held: bool,
        observed: impl Into<String>,
        loc: &Location,
        absent: bool,
    ) {
        self.judge.checked(id, expected.clone());
        match (held, absent) {
            (true, _) => {}
            (false, true) => self.absent.push((id, expected, observed.into(), loc.clone())),
            (false, false) => self.judge.violation(id, expected, observed, loc.clone()),
        }
    }

    /// Every finding: the violations, then a PASS for each checked ID without one. `dropped`:
    /// datagrams the harness's sockets dropped during the play; when any were, a violation shown
    /// by something missing is INCONCLUSIVE (it may have been lost at the harness).
    pub(super) fn finish(mut self, dropped: u64) -> Vec<Finding> {
        for (id, expected, observed, loc) in std::mem::take(&mut self.absent) {
            if dropped > 0 {
                let observed = format!("{observed} (the harness's sockets dropped {dropped} datagrams)");
                self.judge.push(id, crate::interop::finding::Verdict::Inconclusive, expected, observed, loc);
            } else {
                self.judge.violation(id, expected, observed, loc);
            }
        }
        self.judge.finish(Location::default())
    }
}
