//! Scenarios: the file model ([`model`]), running them in the simulated world ([`run`]: the world
//! is built by [`world`], the steps are played by `steps` and their explicit expectations checked
//! by `expect`) and rendering a run for people and snapshots ([`render`]).

mod expect;
pub mod model;
pub mod render;
pub mod run;
mod steps;
pub mod world;

pub use model::{Scenario, ScenarioError, load_dir};
pub use run::{RunOptions, ScenarioRun, harness_failure, harness_findings, run_scenario, run_with};
