//! The run report: what `imcpm run` (and later `check-pcap`, `replay`) writes as report.json
//! and renders as Markdown, HTML and JUnit. Schema: docs/report-format.md.

use super::ResultItem;
use crate::base::Level;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Schema version ([`super::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// What ran, against what.
    pub run: RunInfo,
    /// Result counts keyed by verdict name (every verdict present).
    pub summary: BTreeMap<&'static str, usize>,
    /// Results in stable order: scenario, level, requirement (catalogue order).
    pub results: Vec<ResultItem>,
    /// Comparison with a baseline report, when asked for (`--baseline`), keyed like results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The message flows, for the ladders of the HTML report (not in report.json).
    #[serde(skip)]
    pub flows: Vec<Flow>,
}

impl RunReport {
    /// A report of `results` (its summary counted from them), without comparison or flows.
    pub fn new(run: RunInfo, results: Vec<ResultItem>) -> RunReport {
        RunReport {
            schema_version: super::SCHEMA_VERSION,
            run,
            summary: super::summary(&results),
            results,
            changes: Vec::new(),
            flows: Vec::new(),
        }
    }
}

impl RunInfo {
    /// Metadata of this tool against `sut` over `transport`; times are stamped later
    /// (`report::write::stamp`).
    pub fn new(sut: String, transport: String, levels: Vec<Level>, scenarios: Vec<ScenarioFile>) -> RunInfo {
        RunInfo {
            tool: "imcpm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sut,
            fault: None,
            levels,
            transport,
            started: String::new(),
            duration_ms: 0,
            scenarios,
        }
    }
}

/// Run metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Always `imcpm`.
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// The server under test: `embedded reference server` or `udp:HOST:PORT`.
    pub sut: String,
    /// The deliberate fault of the embedded server, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Levels run.
    pub levels: Vec<Level>,
    /// `sim`, `udp` or `tcp`.
    pub transport: String,
    /// Start time, RFC 3339 UTC (fixed to the epoch by `--deterministic` for snapshots).
    pub started: String,
    /// Wall-clock duration in milliseconds (0 with `--deterministic`).
    pub duration_ms: u64,
    /// Each scenario file used, with a hash of its bytes.
    pub scenarios: Vec<ScenarioFile>,
}

/// One scenario file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioFile {
    /// Scenario name (its path below the scenario directory, without `.toml`).
    pub name: String,
    /// `fnv1a64:` and 16 hex digits of the file's bytes.
    pub hash: String,
}

/// How a result compares with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Same verdict as before.
    Unchanged,
    /// Failed before, passes now.
    NewPass,
    /// Passed before, fails now: a regression.
    NewFail,
    /// Not in the baseline.
    New,
    /// Another change of verdict.
    Changed,
    /// In the baseline, not in this run (a scenario or a check gone: look at it, it may hide a
    /// regression). `after` is empty.
    Removed,
}

impl ChangeKind {
    /// Every kind, in report order.
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::NewFail,
        ChangeKind::NewPass,
        ChangeKind::Changed,
        ChangeKind::New,
        ChangeKind::Removed,
        ChangeKind::Unchanged,
    ];
    /// The JSON spelling (`new-fail`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Unchanged => "unchanged",
            ChangeKind::NewPass => "new-pass",
            ChangeKind::NewFail => "new-fail",
            ChangeKind::New => "new",
            ChangeKind::Changed => "changed",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One compared result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Scenario.
    pub scenario: String,
    /// Level.
    pub level: Level,
    /// Requirement.
    pub requirement: String,
    /// The kind of change.
    pub change: ChangeKind,
    /// Verdict in the baseline, if present there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Verdict now (empty, and left out of the JSON, for [`ChangeKind::Removed`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub after: String,
}

/// The messages of one scenario run, for ladder diagrams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// Scenario name.
    pub scenario: String,
    /// Level.
    pub level: Level,
    /// The nodes, left to right (e.g. `alice (CPM, remote)`, `core`, `im-server`, `bob (IM)`).
    pub nodes: Vec<String>,
    /// The messages in order.
    pub messages: Vec<FlowMessage>,
}

/// One message of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowMessage {
    /// 1-based number in the ladder (= trace index + 1).
    pub number: usize,
    /// Virtual (or wall) time in milliseconds since the start.
    pub time_ms: u64,
    /// Sender node name (one of `nodes`).
    pub from: String,
    /// Receiver node name.
    pub to: String,
    /// `UDP` or `TCP`.
    pub transport: String,
    /// The start line (request line or status line).
    pub summary: String,
    /// The whole message as text (CRLF shown as LF; non-UTF-8 bytes replaced).
    pub text: String,
    /// For a request the IM server sent on: the number of the message it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_ingress: Option<usize>,
    /// For such a request: 0-based line indices of `text` that differ from the ingress.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_lines: Vec<usize>,
}

/// FNV-1a 64-bit hash of bytes, as `fnv1a64:<16 hex>`.
pub fn file_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}
