//! Using imcpm from your own `cargo test`: load scenario files, run them against the embedded
//! reference server (or a server of yours that speaks [`crate::node::SansIo`]), and assert on the
//! verdicts with messages that say what failed, where, and under which clause.
//!
//! One case per scenario file and level, rstest-friendly:
//!
//! ```
//! use imcpm::harness::Case;
//!
//! // In a test: `#[rstest] fn appendix_t(#[files("scenarios/**/*.toml")] path: PathBuf)`
//! // and then the same two lines with `path`.
//! let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/t1/lmm.toml");
//! for case in Case::from_file(&path).unwrap() {
//!     let outcome = case.run();
//!     outcome.assert_pass();
//!     assert_eq!(outcome.verdict("T1.TERM.LMM"), Some(imcpm::interop::Verdict::Pass));
//! }
//! ```

use crate::base::Level;
use crate::interop::finding::Verdict;
use crate::node::SansIo;
use crate::node::im_server::ServerConfig;
use crate::node::im_server::faults::FaultSet;
use crate::report::ResultItem;
use crate::scenario::{
    Problem, RunOptions, Scenario, ScenarioError, ScenarioRun, load_dir, render, run_scenario, run_with,
};
use std::fmt;
use std::path::Path;

/// One scenario at one level.
#[derive(Debug, Clone)]
pub struct Case {
    /// The scenario.
    pub scenario: Scenario,
    /// The level it runs at.
    pub level: Level,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [level {}]", self.scenario.name, self.level)
    }
}

impl Case {
    /// Every case of one scenario file (one per level it declares).
    pub fn from_file(path: &Path) -> Result<Vec<Case>, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::one(Problem::file(&path.display().to_string(), e.to_string())))?;
        let name = path
            .with_extension("")
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let s = Scenario::parse(&name, path, &text)?;
        Ok(s.levels.clone().into_iter().map(|level| Case { scenario: s.clone(), level }).collect())
    }

    /// Every case of every scenario file below `dir`.
    pub fn from_dir(dir: &Path) -> Result<Vec<Case>, ScenarioError> {
        Ok(load_dir(dir)?
            .into_iter()
            .flat_map(|s| s.levels.clone().into_iter().map(move |level| Case { scenario: s.clone(), level }))
            .collect())
    }

    /// Run against the embedded reference server.
    pub fn run(&self) -> Outcome {
        Outcome {
            run: run_scenario(&self.scenario, self.level, &RunOptions::default()),
            title: self.scenario.title.clone(),
        }
    }

    /// Run against the embedded reference server with deliberate faults on.
    pub fn run_with_faults(&self, faults: FaultSet) -> Outcome {
        Outcome {
            run: run_scenario(&self.scenario, self.level, &RunOptions { faults }),
            title: self.scenario.title.clone(),
        }
    }

    /// Run against a server of yours: `make` receives the configuration the world needs (level,
    /// addresses, host names) and returns your sans-IO server.
    pub fn run_against(&self, make: &dyn Fn(ServerConfig) -> Box<dyn SansIo + Send>) -> Outcome {
        Outcome {
            run: run_with(&self.scenario, self.level, &RunOptions::default(), make),
            title: self.scenario.title.clone(),
        }
    }
}

/// What a case produced.
pub struct Outcome {
    /// The run: trace, findings, results.
    pub run: ScenarioRun,
    title: String,
}

impl Outcome {
    /// The results, one per requirement judged.
    pub fn results(&self) -> &[ResultItem] {
        &self.run.results
    }
    /// The overall verdict of a requirement in this case.
    pub fn verdict(&self, id: &str) -> Option<Verdict> {
        self.run.results.iter().find(|r| r.requirement == id).map(|r| r.verdict)
    }
    /// True when nothing is FAIL, ERROR, XPASS or INCONCLUSIVE.
    pub fn passed(&self) -> bool {
        self.run
            .results
            .iter()
            .all(|r| matches!(r.verdict, Verdict::Pass | Verdict::NonStrict | Verdict::NotApplicable | Verdict::Xfail))
    }
    /// The findings that are not PASS, rendered one per paragraph.
    pub fn problems(&self) -> String {
        let mut s = String::new();
        for r in &self.run.results {
            for f in r.findings.iter().filter(|f| !matches!(f.verdict, Verdict::Pass | Verdict::NotApplicable)) {
                s.push_str(&format!(
                    "{} {} ({})\n  at {}\n  expected: {}\n  observed: {}\n",
                    f.verdict, f.requirement, r.clause, f.location, f.expected, f.observed
                ));
            }
        }
        s
    }
    /// Panic, with the failing findings and the flow, unless the case passed.
    #[track_caller]
    pub fn assert_pass(&self) {
        if !self.passed() {
            panic!(
                "{} [level {}] did not pass:\n{}\n{}",
                self.run.scenario,
                self.run.level,
                self.problems(),
                render::render(&self.run, &self.title)
            );
        }
    }
    /// Panic unless requirement `id` got exactly `verdict`.
    #[track_caller]
    pub fn assert_verdict(&self, id: &str, verdict: Verdict) {
        let got = self.verdict(id);
        if got != Some(verdict) {
            panic!(
                "{} [level {}]: {id} is {}, expected {verdict}\n{}",
                self.run.scenario,
                self.run.level,
                got.map_or_else(|| "not judged".to_string(), |v| v.to_string()),
                self.problems()
            );
        }
    }
}
