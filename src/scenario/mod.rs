//! Scenarios: the file model ([`model`]), choosing them ([`select`]), running one in the
//! simulated world ([`run`]), running a suite of them into one report ([`suite`]) and rendering
//! a run for people and snapshots ([`render`]).

pub mod model;
pub mod render;
pub mod run;
pub mod select;
pub mod suite;

pub use model::{Scenario, ScenarioError, load_dir};
pub use run::{RunOptions, ScenarioRun, run_scenario, run_with};
pub use select::{glob, plan, selected};
pub use suite::{SuiteOptions, execute};
