//! The scenario file format (TOML; docs/scenarios.md): actors, the levels a scenario applies
//! to, steps, the requirement IDs it exercises, and optional explicit expectations. Reading
//! files (a folder, one file, the built-in suite) is `scenario/load.rs`; what a file must
//! satisfy beyond its types is `scenario/validate.rs`.

use super::problem::ScenarioError;
use crate::base::ClientKind;
use crate::base::Level;
use crate::base::Service;
use crate::interop::rules::ReqId;
use crate::sip::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A scenario file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Set from the file's path below the scenario directory (e.g. `t1/pager`).
    #[serde(skip)]
    pub name: String,
    /// Where it was read from (a built-in scenario: its path in the source tree).
    #[serde(skip)]
    pub path: PathBuf,
    /// Whether it is built in or was read from a file.
    #[serde(skip)]
    pub origin: Origin,
    /// The file's bytes, for the report's hash.
    #[serde(skip)]
    pub source: Vec<u8>,
    /// What it shows, in a sentence.
    pub title: String,
    /// Longer notes for readers.
    #[serde(default)]
    pub description: String,
    /// The interop levels it applies to (it runs once per level).
    pub levels: Vec<Level>,
    /// The requirement IDs it exercises (docs/requirements.md).
    pub requirements: Vec<ReqId>,
    /// Transport between the clients, the core and the IM server (`udp` or `tcp`).
    #[serde(default = "default_transport")]
    pub transport: String,
    /// The people.
    pub actors: BTreeMap<String, Actor>,
    /// Impairments of the core <-> IM server links.
    #[serde(default)]
    pub network: Option<Network>,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Whether the file names its transport (a top-level `transport` key) rather than taking
    /// the default: a live run against the embedded server keeps a named transport.
    pub fn names_transport(&self) -> bool {
        std::str::from_utf8(&self.source)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .is_some_and(|t| t.contains_key("transport"))
    }
}

fn default_transport() -> String {
    "tcp".into()
}

fn yes() -> bool {
    true
}

/// An actor: a client of some kind, local to the IM server's domain or remote.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// `im` or `cpm`.
    pub kind: ClientKind,
    /// `local` (served by the IM server under test) or `remote` (a CPM network elsewhere).
    #[serde(default)]
    pub network: Where,
    /// Registered when the scenario starts (default true).
    #[serde(default = "yes")]
    pub online: bool,
}

/// Local or remote.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    /// In the IM server's domain (`im.example.net`).
    #[default]
    Local,
    /// In a remote CPM network (`cpm.example.com`).
    Remote,
}

/// Link impairments between the core and the IM server.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Loss probability.
    #[serde(default)]
    pub loss: f64,
    /// Duplication probability.
    #[serde(default)]
    pub duplicate: f64,
    /// Reordering probability.
    #[serde(default)]
    pub reorder: f64,
}

/// One step.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name other steps can refer to (e.g. an IMDN's `reports_on`).
    #[serde(default)]
    pub id: Option<String>,
    /// Who sends.
    #[serde(default)]
    pub from: Option<String>,
    /// What: pager, imdn, lmm, ft, session, group.
    #[serde(default)]
    pub send: Option<Service>,
    /// To whom (an actor name).
    #[serde(default)]
    pub to: Option<String>,
    /// Group participants (actor names).
    #[serde(default)]
    pub participants: Vec<String>,
    /// IMDN: the step whose message it reports on.
    #[serde(default)]
    pub reports_on: Option<String>,
    /// Replacement Accept-Contact lines, written as on the wire (any spelling, compact `a:`).
    #[serde(default)]
    pub accept_contact: Option<Vec<String>>,
    /// Extra header lines.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Pad the body by this many bytes.
    #[serde(default)]
    pub pad: usize,
    /// A literal request template, relative to the scenario file.
    #[serde(default)]
    pub template: Option<String>,
    /// The template's text, read when the scenario was loaded (a run never reads files).
    #[serde(skip)]
    pub template_text: Option<String>,
    /// Conversation-ID override for a CPM sender.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Send BYE once an INVITE is answered (default true).
    #[serde(default)]
    pub bye: Option<bool>,
    /// Register this actor (again).
    #[serde(default)]
    pub register: Option<String>,
    /// De-register this actor.
    #[serde(default)]
    pub deregister: Option<String>,
    /// Let virtual time pass, e.g. `"40s"`, `"500ms"`.
    #[serde(default)]
    pub wait: Option<String>,
    /// Explicit expectations (all levels).
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Explicit expectations at level 1 only (override `expect`).
    #[serde(default)]
    pub expect_level1: Option<Expect>,
    /// Explicit expectations at level 2 only (override `expect`).
    #[serde(default)]
    pub expect_level2: Option<Expect>,
}

/// What must happen after a step.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The final response code the sender gets.
    #[serde(default)]
    pub status: Option<StatusCode>,
    /// Actors that must receive the request.
    #[serde(default)]
    pub delivered_to: Vec<String>,
    /// Actors that must not receive anything new.
    #[serde(default)]
    pub nothing_to: Vec<String>,
    /// The requirement these explicit checks are reported under (default `ROUTE.VIA-IMS`).
    #[serde(default)]
    pub requirement: Option<ReqId>,
}

/// Where a scenario came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// The suite built into the binary (the files under `scenarios/` of its source tree).
    #[default]
    BuiltIn,
    /// A file (`--scenarios DIR|FILE`, or the library's loaders).
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Scenario {
    /// Parse a scenario from the text of the file at `path` (`name` is its name in reports),
    /// reading the templates its steps use, relative to `path`, and checking everything
    /// (docs/scenarios.md): every problem found, each at its file, line and column.
    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        super::load::parse_file(name, path, text)
    }

    /// The expectation of a step at a level.
    pub fn expect_at(step: &Step, level: Level) -> Option<&Expect> {
        match level {
            Level::One => step.expect_level1.as_ref().or(step.expect.as_ref()),
            _ => step.expect_level2.as_ref().or(step.expect.as_ref()),
        }
    }
}

/// Parse `"40s"`, `"500ms"`, `"2m"`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(std::time::Duration::from_millis(n)),
        "s" => Some(std::time::Duration::from_secs(n)),
        "m" => Some(std::time::Duration::from_secs(n * 60)),
        _ => None,
    }
}
