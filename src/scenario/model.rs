//! The scenario file format (TOML; docs/scenarios.md): actors, the levels a scenario applies
//! to, steps, the requirement IDs it exercises, and optional explicit expectations.

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
    /// Where it was read from.
    #[serde(skip)]
    pub path: PathBuf,
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

/// A scenario that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Reading failed.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// TOML or schema error.
    #[error("{path}: {err}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        err: String,
    },
    /// A reference that does not resolve, a bad level or ID.
    #[error("{path}: {err}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        err: String,
    },
}

impl Scenario {
    /// Parse a scenario from text (`name` and `path` for messages).
    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let p = path.display().to_string();
        let mut s: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::Syntax { path: p.clone(), err: e.to_string() })?;
        s.name = name.to_string();
        s.path = path.to_path_buf();
        s.source = text.as_bytes().to_vec();
        s.validate().map_err(|err| ScenarioError::Invalid { path: p, err })?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        if self.levels.is_empty() {
            return Err("levels must be a non-empty list of 1 and 2".to_string());
        }
        if !matches!(self.transport.as_str(), "udp" | "tcp") {
            return Err(format!("transport must be udp or tcp, got {:?}", self.transport));
        }
        let actor = |n: &str, what: &str, i: usize| -> Result<(), String> {
            if self.actors.contains_key(n) {
                Ok(())
            } else {
                Err(format!("step {}: {what} {n:?} is not an actor", i + 1))
            }
        };
        let ids: Vec<&str> = self.steps.iter().filter_map(|s| s.id.as_deref()).collect();
        for (i, st) in self.steps.iter().enumerate() {
            let actions = [st.send.is_some(), st.register.is_some(), st.deregister.is_some(), st.wait.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if actions != 1 {
                return Err(format!("step {}: give exactly one of send, register, deregister, wait", i + 1));
            }
            if let Some(svc) = st.send {
                actor(st.from.as_deref().ok_or(format!("step {}: send needs from", i + 1))?, "from", i)?;
                if svc != Service::Group {
                    actor(st.to.as_deref().ok_or(format!("step {}: send needs to", i + 1))?, "to", i)?;
                }
                for p in &st.participants {
                    actor(p, "participant", i)?;
                }
                if let Some(r) = &st.reports_on {
                    if !ids.contains(&r.as_str()) {
                        return Err(format!("step {}: reports_on {r:?} names no step id", i + 1));
                    }
                }
            }
            for n in st.register.iter().chain(&st.deregister) {
                actor(n, "actor", i)?;
            }
            if let Some(w) = &st.wait {
                parse_duration(w)
                    .ok_or(format!("step {}: wait {w:?} is not a duration like \"40s\" or \"500ms\"", i + 1))?;
            }
            for e in [&st.expect, &st.expect_level1, &st.expect_level2].into_iter().flatten() {
                for n in e.delivered_to.iter().chain(&e.nothing_to) {
                    actor(n, "expected actor", i)?;
                }
            }
        }
        Ok(())
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

/// Load every `*.toml` below `dir`, sorted by name (the path below `dir`, without `.toml`).
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|err| ScenarioError::Io { path: dir.display().to_string(), err })?;
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).map_err(|err| ScenarioError::Io { path: f.display().to_string(), err })?;
        let name = f.strip_prefix(dir).unwrap_or(&f).with_extension("").to_string_lossy().replace('\\', "/");
        out.push(Scenario::parse(&name, &f, &text)?);
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    Ok(())
}
