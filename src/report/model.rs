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
    /// Counts of every result when `results` holds only some of them (captures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<super::aggregate::AggregateInfo>,
    /// What a capture held and what of it could not be judged (captures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureInfo>,
    /// Which catalogue IDs a suite run exercised (`imcpm run`, simulated or live).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<super::aggregate::Coverage>,
    /// A replay's captured and live egress side by side (`imcpm replay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayInfo>,
    /// What a load run measured: rates, latency, per step and per second (`imcpm load`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<super::load::LoadStats>,
}

/// What a replay sent and how the live server's egress compares with the captured one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayInfo {
    /// Requests sent (ACKs included).
    pub sent: usize,
    /// Requests that could not be rewritten and were not sent: frame and why.
    pub skipped: Vec<(u64, String)>,
    /// Captured and live egress of each request sent (ACKs aside), in capture order; at most
    /// [`MAX_REPLAY_PAIRS`].
    pub pairs: Vec<ReplayPair>,
    /// Pairs beyond that, counted only.
    pub pairs_left_out: usize,
}

/// Pairs listed in a replay report.
pub const MAX_REPLAY_PAIRS: usize = 200;

/// A captured egress beside the live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayPair {
    /// The captured ingress request's frame.
    pub frame: u64,
    /// Its captured Call-ID.
    pub call_id: String,
    /// Its CSeq.
    pub cseq: String,
    /// The frame of what the captured server sent on, if anything.
    pub captured_frame: Option<u64>,
    /// What the captured server sent on, if anything.
    pub captured: Option<String>,
    /// What the live server sent on, if anything.
    pub live: Option<String>,
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
            aggregate: None,
            capture: None,
            coverage: None,
            replay: None,
            load: None,
        }
    }

    /// A report of the results an [`super::aggregate::Aggregate`] kept, its summary counting
    /// every result.
    pub fn aggregated(run: RunInfo, a: &super::aggregate::Aggregate) -> RunReport {
        let mut r = RunReport::new(run, a.kept.clone());
        r.summary = a.summary();
        r.aggregate = Some(a.info());
        r
    }

    /// True when the run's results make the exit status 1 (a FAIL, ERROR or XPASS), counting
    /// the results left out of an aggregated report too.
    pub fn failing(&self) -> bool {
        self.aggregate
            .as_ref()
            .map_or_else(|| super::failing(&self.results), |a| a.requirements.iter().any(|r| r.verdict.is_failing()))
    }

    /// [`RunReport::failing`], and with `strict` (`--strict`) any INCONCLUSIVE result too,
    /// counted or kept.
    pub fn failing_strict(&self, strict: bool) -> bool {
        let inconclusive = match &self.aggregate {
            Some(a) => a
                .requirements
                .iter()
                .any(|r| r.counts.contains_key(crate::interop::finding::Verdict::Inconclusive.as_str())),
            None => self.results.iter().any(|r| r.verdict == crate::interop::finding::Verdict::Inconclusive),
        };
        self.failing() || (strict && inconclusive)
    }

    /// The exit status these results give, as every report states it: 2 when a capture could
    /// not be read to its end, 1 when failing ([`RunReport::failing_strict`] with the run's
    /// `strict`), else 0.
    pub fn exit_status(&self) -> u8 {
        if self.capture.as_ref().is_some_and(|c| c.error.is_some()) {
            2
        } else {
            u8::from(self.failing_strict(self.run.strict))
        }
    }
}

/// What a capture held and what of it could not be judged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaptureInfo {
    /// Frames read (all files).
    pub frames: u64,
    /// SIP messages found in them.
    pub sip_messages: u64,
    /// Requests to the IM server paired with what it did and judged.
    pub requests_judged: usize,
    /// Frames (or messages) not judged, by reason.
    pub not_judged: BTreeMap<String, u64>,
    /// Frames seen twice (two interfaces, or merged files) counted once.
    pub duplicates: u64,
    /// TCP segments retransmitted.
    pub tcp_retransmissions: u64,
    /// Holes in TCP streams.
    pub tcp_gaps: u64,
    /// The judging window.
    pub window: WindowInfo,
    /// Dialogs whose ladder is in report.html, and those left out.
    pub ladders: usize,
    /// Dialogs judged whose ladder was left out of report.html.
    pub ladders_left_out: usize,
    /// The file that could not be read to its end, and where (everything before it is judged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CaptureInfo {
    /// The facts a reader of the report needs besides the results, one sentence each.
    pub fn notes(&self) -> Vec<String> {
        let mut n = vec![format!(
            "{} frames, {} SIP messages, {} requests to the IM server paired and judged.",
            self.frames, self.sip_messages, self.requests_judged
        )];
        if !self.not_judged.is_empty() {
            let parts: Vec<String> = self.not_judged.iter().map(|(k, c)| format!("{c} {k}")).collect();
            n.push(format!("Not judged: {}.", parts.join(", ")));
        }
        if self.duplicates > 0 {
            n.push(format!("{} duplicate frames (two interfaces or merged files) counted once.", self.duplicates));
        }
        if self.tcp_gaps > 0 {
            n.push(format!("{} holes in TCP streams: the bytes missing there were not judged.", self.tcp_gaps));
        }
        let w = &self.window;
        n.push(format!(
            "{} dialogs judged, each once quiet for {} s of capture time (at most {} held at once, {} KiB of messages).",
            w.dialogs,
            w.idle_ms / 1000,
            w.peak_dialogs,
            w.peak_bytes / 1024
        ));
        if w.closed_early > 0 {
            n.push(format!(
                "{} dialogs judged early because the window held {} MiB: a message of theirs after that is judged apart.",
                w.closed_early,
                w.max_bytes >> 20
            ));
        }
        if w.conversation_batches > 1 {
            n.push(format!(
                "Conversation-IDs compared in {} batches of up to {} deliveries, not across batches.",
                w.conversation_batches, w.max_deliveries
            ));
        }
        if w.pending_not_kept > 0 {
            n.push(format!(
                "{} requests not kept for the no-deferral rule (over {}): not judged by it.",
                w.pending_not_kept, w.max_pending
            ));
        }
        if w.registrations_not_kept > 0 {
            n.push(format!("{} third-party REGISTERs of users beyond the bound not learnt.", w.registrations_not_kept));
        }
        if self.ladders_left_out > 0 {
            n.push(format!(
                "Ladders of {} dialogs in the HTML report (failing ones first); {} left out.",
                self.ladders, self.ladders_left_out
            ));
        }
        if let Some(e) = &self.error {
            n.push(format!("{e}: everything before it is judged."));
        }
        n
    }
}

/// What the capture judge's window held, and what fell outside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WindowInfo {
    /// A dialog quiet this long (capture time, ms) is judged.
    pub idle_ms: u64,
    /// Bound on the bytes of SIP messages held.
    pub max_bytes: usize,
    /// Deliveries compared together by the Conversation-ID rules.
    pub max_deliveries: usize,
    /// Bound on requests kept for the no-deferral rule (each kind).
    pub max_pending: usize,
    /// Dialogs judged.
    pub dialogs: usize,
    /// Dialogs judged before being quiet for `idle_ms`, because `max_bytes` was reached: a
    /// response or retransmission after that is judged apart from its dialog.
    pub closed_early: usize,
    /// Most bytes held at once.
    pub peak_bytes: usize,
    /// Most dialogs held at once.
    pub peak_dialogs: usize,
    /// Batches the Conversation-ID rules judged apart (more than one: IDs are not compared
    /// across batches).
    pub conversation_batches: usize,
    /// Requests not kept for the no-deferral rule (not judged by it).
    pub pending_not_kept: usize,
    /// Third-party REGISTERs of users beyond the bound, not learnt.
    pub registrations_not_kept: usize,
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
            strict: false,
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
    /// `--strict`: INCONCLUSIVE fails the run too (exit status 1), in every report.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
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
    let mut h = FileHasher::default();
    h.update(bytes);
    h.finish()
}

/// [`file_hash`] fed in pieces.
#[derive(Debug, Clone, Copy)]
pub struct FileHasher(u64);

impl Default for FileHasher {
    fn default() -> FileHasher {
        FileHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl FileHasher {
    /// Add bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// `fnv1a64:<16 hex>`.
    pub fn finish(self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}
