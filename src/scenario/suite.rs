//! A suite run (`imcpm run`): the planned scenarios, each at its levels (see [`super::plan`]),
//! against the embedded reference server in the simulated world or behind real sockets on
//! loopback, judged by the oracle and gathered into one [`RunReport`].

use super::{RunOptions, Scenario, ScenarioRun, render, run_scenario};
use crate::base::{Level, Transport};
use crate::node::im_server::faults::FaultSet;
use crate::report::ResultItem;
use crate::report::model::{RunInfo, RunReport, ScenarioFile, file_hash};

/// How a suite runs.
#[derive(Debug, Clone, Default)]
pub struct SuiteOptions {
    /// How the harness reaches the embedded server: `None` for the simulated world, or real
    /// sockets on loopback over this transport.
    pub transport: Option<Transport>,
    /// Deliberate faults of the embedded server.
    pub faults: FaultSet,
    /// The faults as asked for (`--fault`), for the report's `run.fault`.
    pub fault_names: Vec<String>,
}

/// Run the `jobs` (scenario index in `all`, level) in the simulated world (`opts.transport` is
/// only recorded: live runs are made by `crate::live` and reported with [`report_of`]), calling
/// `progress` after each, and build
/// the report (no file output; start time and duration left empty, see
/// [`crate::report::write::stamp`]). Also returns the runs, in job order.
pub fn execute(
    all: &[Scenario],
    jobs: &[(usize, Level)],
    opts: &SuiteOptions,
    progress: &mut dyn FnMut(&ScenarioRun),
) -> (RunReport, Vec<ScenarioRun>) {
    let run_opts = RunOptions { faults: opts.faults.clone() };
    let mut runs = Vec::with_capacity(jobs.len());
    for &(i, level) in jobs {
        let run = run_scenario(&all[i], level, &run_opts);
        progress(&run);
        runs.push(run);
    }
    let report = report_of(all, &runs, opts, "embedded reference server");
    (report, runs)
}

/// The report of a suite's `runs` (however they ran; `sut` names the server under test).
pub fn report_of(all: &[Scenario], runs: &[ScenarioRun], opts: &SuiteOptions, sut: &str) -> RunReport {
    let mut results: Vec<ResultItem> = runs.iter().flat_map(|r| r.results.clone()).collect();
    results.sort_by(|x, y| (&x.scenario, x.level, x.requirement).cmp(&(&y.scenario, y.level, y.requirement)));
    let mut levels: Vec<Level> = runs.iter().map(|r| r.level).collect();
    levels.sort();
    levels.dedup();
    let mut used: Vec<&Scenario> = runs.iter().filter_map(|r| all.iter().find(|s| s.name == r.scenario)).collect();
    used.dedup_by(|x, y| x.name == y.name);
    let mut info = RunInfo::new(
        sut.into(),
        opts.transport.map_or("sim", |t| t.as_str()).to_lowercase(),
        levels,
        used.iter().map(|s| ScenarioFile { name: s.name.clone(), hash: file_hash(&s.source) }).collect(),
    );
    info.fault = (!opts.fault_names.is_empty()).then(|| opts.fault_names.join(","));
    let mut report = RunReport::new(info, results);
    report.coverage = Some(crate::report::aggregate::coverage_of(&report.results));
    report.flows = runs.iter().map(render::flow).collect();
    report
}
