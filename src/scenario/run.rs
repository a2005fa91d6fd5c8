//! Running a scenario in the simulated world at one level: build the world ([`super::world`]),
//! play the steps (`scenario/steps.rs`) checking their explicit expectations
//! (`scenario/expect.rs`), then judge the trace with the oracle. When the harness cannot carry a run
//! through, every requirement the scenario lists gets an ERROR with cause `harness`
//! ([`harness_findings`]).

use super::model::Scenario;
use super::steps::{Player, Settle};
use super::world::{self, Built, ServerAt};
use crate::base::{Level, Role, Trace};
use crate::interop::finding::{Finding, Verdict};
use crate::interop::rules::ReqId;
use crate::interop::verify::trace::{PairRecord, TraceContext, check_trace};
use crate::node::SansIo;
use crate::node::im_server::faults::FaultSet;
use crate::node::im_server::{ImServer, ServerConfig};
use crate::report::{self, ResultItem};
use std::collections::BTreeMap;
use std::net::SocketAddr;

pub use super::world::{AddressPlan, DOMAIN, REMOTE_DOMAIN, SERVER_HOST, ServerFactory, server_addr};
use std::time::Duration;

/// The outcome of one scenario at one level.
pub struct ScenarioRun {
    /// Scenario name.
    pub scenario: String,
    /// Level.
    pub level: Level,
    /// Every finding (oracle, explicit expectations, declared-but-not-judged).
    pub findings: Vec<Finding>,
    /// Findings grouped into results (catalogue order).
    pub results: Vec<ResultItem>,
    /// The trace.
    pub trace: Trace,
    /// Node names by address, for rendering.
    pub names: Vec<(SocketAddr, String)>,
    /// Pairs the oracle judged.
    pub pairs: Vec<PairRecord>,
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Faults of the embedded server.
    pub faults: FaultSet,
}

/// The embedded reference server.
pub fn reference_server(cfg: ServerConfig) -> Box<dyn SansIo + Send> {
    Box::new(ImServer::new(cfg))
}

/// Run a scenario at a level against the embedded reference server.
pub fn run_scenario(s: &Scenario, level: Level, opts: &RunOptions) -> ScenarioRun {
    run_with(s, level, opts, &reference_server)
}

/// Run a scenario at a level against the server `make` builds, in the simulated network.
pub fn run_with(s: &Scenario, level: Level, opts: &RunOptions, make: ServerFactory<'_>) -> ScenarioRun {
    run_in(s, level, opts, make, AddressPlan::sim())
}

/// Run a scenario at a level against the server `make` builds, in the simulated network with
/// every node at the address `plan` gives.
pub fn run_in(
    s: &Scenario,
    level: Level,
    opts: &RunOptions,
    make: ServerFactory<'_>,
    plan: AddressPlan,
) -> ScenarioRun {
    let built = world::build(s, level, &opts.faults, ServerAt::Inside(make), plan, &Default::default());
    let mut player = Player::new(s, level, built, Settle::simulated(s));
    player.play_out();
    judge(player)
}

/// A scenario at a level ready to be played against a server outside the world, at
/// `plan.server`, by a driver that hosts the returned [`Player`] (a sans-IO participant) over
/// real sockets; `quiet` ends a phase early once the world has been idle that long. The
/// configuration the embedded reference server would need in this world is in
/// [`Player::server_config`]. Judge the play with [`judge`].
///
/// `aors` maps actors onto the addresses of record the server knows (unmapped actors are
/// `sip:NAME@DOMAIN`); `outside` says how the world faces the server (Route set or a fixed
/// next hop, the server's domain).
pub fn prepare_outside(
    s: &Scenario,
    level: Level,
    opts: &RunOptions,
    plan: AddressPlan,
    quiet: Duration,
    aors: &BTreeMap<String, String>,
    outside: world::Outside<'_>,
) -> Player {
    let built = world::build(s, level, &opts.faults, ServerAt::Outside(outside), plan, aors);
    Player::new(s, level, built, Settle::live(s, quiet))
}

/// Judge a play (finished, or stopped early: what remains unplayed is a harness ERROR): the
/// oracle over the trace, the steps' expectations, and INCONCLUSIVE for every requirement the
/// scenario names that nothing judged.
pub fn judge(mut p: Player) -> ScenarioRun {
    let (s, level) = (p.scenario().clone(), p.level());
    let ctx = TraceContext {
        level,
        sut: std::iter::once(p.b.server).chain(p.b.server_peers.iter().copied()).collect(),
        sut_hosts: Vec::new(),
        role: Role::Proxy,
        domains: vec![p.b.local_domain.clone()],
        users: std::mem::take(&mut p.b.users),
        // What the harness's own sockets dropped may be missing from the trace.
        complete: p.dropped == 0,
        lossy: p.dropped > 0,
    };
    let oracle = check_trace(&ctx, &p.b.world.trace);
    let mut findings = oracle.findings;
    if p.dropped > 0 {
        for f in findings.iter_mut().filter(|f| f.verdict == Verdict::Inconclusive) {
            f.observed = format!("{} (the harness's sockets dropped {} datagrams)", f.observed, p.dropped);
        }
    }
    findings.extend(std::mem::take(&mut p.expect).finish(p.dropped));
    if let Some(why) = &p.stopped {
        findings.extend(harness_findings(&s.requirements, why));
    }
    if !p.b.unreachable.is_empty() {
        let why = format!(
            "the server under test at {} could not be reached: {} message(s) not delivered (TCP connection refused or timed out)",
            p.b.server,
            p.b.unreachable.len()
        );
        findings.extend(harness_findings(&s.requirements, &why));
    }
    not_judged(&s, level, &mut findings);
    finish(&s, level, findings, p.b, oracle.pairs)
}

/// What a harness ERROR finding says was expected.
const HARNESS_EXPECTED: &str = "the harness runs the scenario to its end";

/// The findings of a run the harness could not carry out because of `why`: an ERROR with cause
/// `harness` for each requirement in `requirements` (those a scenario lists), `why` as what was
/// observed. With no requirement listed, the ERROR goes under `ROUTE.VIA-IMS` so that it is
/// not lost.
pub fn harness_findings(requirements: &[ReqId], why: &str) -> Vec<Finding> {
    let mut ids: Vec<ReqId> = Vec::new();
    for &id in requirements {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        ids.push(ReqId::ROUTE_VIA_IMS);
    }
    ids.into_iter().map(|id| Finding::harness(id, HARNESS_EXPECTED, why)).collect()
}

/// A run of `s` at `level` that the harness could not carry out at all (e.g. the sockets of a
/// live run could not be opened): [`harness_findings`] of the scenario's requirements, no trace.
pub fn harness_failure(s: &Scenario, level: Level, why: &str) -> ScenarioRun {
    let findings = harness_findings(&s.requirements, why);
    ScenarioRun {
        scenario: s.name.clone(),
        level,
        results: report::group(&s.name, level, &findings),
        findings,
        trace: Trace::default(),
        names: Vec::new(),
        pairs: Vec::new(),
    }
}

/// An INCONCLUSIVE (or NOT-APPLICABLE at this level) finding for each requirement the scenario
/// lists that nothing judged.
fn not_judged(s: &Scenario, level: Level, findings: &mut Vec<Finding>) {
    for &id in &s.requirements {
        if !findings.iter().any(|f| f.requirement == id) {
            let applies = id.rule().applies_to(level, Role::Proxy);
            let v = if applies { Verdict::Inconclusive } else { Verdict::NotApplicable };
            findings.push(Finding::new(
                id,
                v,
                "judged by this scenario (it names the ID)",
                if applies { "nothing judged it in this run" } else { "does not apply at this level" },
            ));
        }
    }
}

fn finish(s: &Scenario, level: Level, findings: Vec<Finding>, built: Built, pairs: Vec<PairRecord>) -> ScenarioRun {
    let results = report::group(&s.name, level, &findings);
    let names = built.world.nodes.iter().map(|n| (n.addr, n.name.clone())).collect();
    ScenarioRun { scenario: s.name.clone(), level, findings, results, trace: built.world.trace, names, pairs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pager() -> Scenario {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        super::super::load_dir(&dir).unwrap().into_iter().find(|s| s.name == "t1/pager").unwrap()
    }

    /// A server that never answers: played out in virtual time against nobody.
    fn silent(dropped: u64) -> ScenarioRun {
        let plan = AddressPlan::facing("192.0.2.1:5060".parse().unwrap(), "192.0.2.2:5060".parse().unwrap());
        let mut p = prepare_outside(
            &pager(),
            Level::One,
            &RunOptions::default(),
            plan,
            Duration::from_millis(30),
            &BTreeMap::new(),
            world::Outside::default(),
        );
        p.play_out();
        p.set_dropped(dropped);
        judge(p)
    }

    #[test]
    fn a_request_the_server_never_forwards_is_a_fail_unless_the_harness_dropped_datagrams() {
        let run = silent(0);
        let f = run.findings.iter().find(|f| f.requirement == ReqId::T1_TERM_PAGER).unwrap();
        assert_eq!((f.verdict, f.observed.as_str()), (Verdict::Fail, "nothing left the server"));
        let run = silent(3);
        let f = run.findings.iter().find(|f| f.requirement == ReqId::T1_TERM_PAGER).unwrap();
        assert_eq!(f.verdict, Verdict::Inconclusive);
        assert!(f.observed.contains("the harness's sockets dropped 3 datagrams"), "{}", f.observed);
        // The step's own expectations (a 200 for alice, bob receives it) likewise: FAIL when
        // nothing was dropped, INCONCLUSIVE when the harness may have lost what was missing.
        let steps = |run: &ScenarioRun| -> Vec<(Verdict, String)> {
            run.findings
                .iter()
                .filter(|f| f.requirement == ReqId::ROUTE_VIA_IMS && f.verdict != Verdict::Pass)
                .filter(|f| f.location.side.as_deref().is_some_and(|s| s.starts_with("step ")))
                .map(|f| (f.verdict, f.observed.clone()))
                .collect()
        };
        let clean = steps(&silent(0));
        assert!(!clean.is_empty() && clean.iter().all(|(v, _)| *v == Verdict::Fail), "{clean:?}");
        let lossy = steps(&silent(3));
        assert_eq!(lossy.len(), clean.len(), "{lossy:?}");
        assert!(
            lossy.iter().all(|(v, o)| *v == Verdict::Inconclusive && o.ends_with("(the harness's sockets dropped 3 datagrams)")),
            "{lossy:?}"
        );
        assert!(run.findings.iter().all(|f| f.verdict != Verdict::Fail), "{:?}", run.findings);
    }
}
