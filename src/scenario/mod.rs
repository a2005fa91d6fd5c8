//! Scenarios: the file model ([`model`]), reading and checking files or the built-in suite
//! ([`load`], `validate`, `lines`, [`problem`]), choosing them ([`select`]), running one in the
//! simulated world ([`run`]: the world is built by [`world`], the steps are played by `steps` and
//! their explicit expectations checked by `expect`), running a suite of them into one report
//! ([`suite`]) and rendering a run for people and snapshots ([`render`]).

mod expect;
mod lines;
pub mod load;
pub mod model;
pub mod problem;
pub mod render;
pub mod run;
pub mod select;
pub mod steps;
pub mod suite;
mod validate;
pub mod world;

pub use load::{builtin, builtin_files, load_dir, load_path};
pub use model::{Origin, Scenario};
pub use problem::{Problem, ScenarioError};
pub use run::{
    RunOptions, ScenarioRun, harness_failure, harness_findings, judge, prepare_outside, run_scenario, run_with,
};
pub use select::{glob, plan, selected};
pub use steps::Player;
pub use suite::{SuiteOptions, execute, report_of};
