//! Running a scenario in the simulated world at one level: build the world ([`super::world`]),
//! play the steps (`scenario/steps.rs`) checking their explicit expectations
//! (`scenario/expect.rs`), then judge the trace with the oracle. When the harness cannot carry a run
//! through, every requirement the scenario lists gets an ERROR with cause `harness`
//! ([`harness_findings`]).

use super::expect::Expectations;
use super::model::Scenario;
use super::steps;
use super::world::{self, Built};
use crate::base::{Level, Role, Trace};
use crate::interop::finding::{Finding, Verdict};
use crate::interop::rules::ReqId;
use crate::interop::verify::trace::{PairRecord, TraceContext, check_trace};
use crate::node::SansIo;
use crate::node::im_server::faults::FaultSet;
use crate::node::im_server::{ImServer, ServerConfig};
use crate::report::{self, ResultItem};
use std::net::SocketAddr;

pub use super::world::{AddressPlan, DOMAIN, Pacer, REMOTE_DOMAIN, SERVER_HOST, ServerFactory, server_addr};

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
#[derive(Clone, Default)]
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
    run_in(s, level, opts, make, AddressPlan::sim(), None)
}

/// Run a scenario at a level against the server `make` builds, with every node at the address
/// `plan` gives, optionally paced in real time.
pub fn run_in(
    s: &Scenario,
    level: Level,
    opts: &RunOptions,
    make: ServerFactory<'_>,
    plan: AddressPlan,
    pacer: Option<Pacer>,
) -> ScenarioRun {
    let mut built = world::build(s, level, &opts.faults, make, plan, pacer);
    let mut expect = Expectations::default();
    let stopped = steps::play(s, level, &mut built, &mut expect).err();
    let ctx = TraceContext {
        level,
        sut: vec![plan.server],
        sut_hosts: Vec::new(),
        role: Role::Proxy,
        domains: vec![DOMAIN.into()],
        users: std::mem::take(&mut built.users),
        complete: true,
    };
    let oracle = check_trace(&ctx, &built.world.trace);
    let mut findings = oracle.findings;
    findings.extend(expect.finish());
    if let Some(why) = stopped {
        findings.extend(harness_findings(&s.requirements, &why));
    }
    not_judged(s, level, &mut findings);
    finish(s, level, findings, built, oracle.pairs)
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
