//! Scenarios: the file model ([`model`]), running them in the simulated world ([`run`]) and
//! rendering a run for people and snapshots ([`render`]).

pub mod model;
pub mod render;
pub mod run;

pub use model::{Scenario, ScenarioError, load_dir};
pub use run::{RunOptions, ScenarioRun, run_scenario, run_with};
