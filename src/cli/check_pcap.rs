//! `imcpm check-pcap`: judge the SIP traffic of captures with the oracle of every other command.

use super::Format;
use crate::base::Level;
use crate::capture::ReadOptions;
use crate::check::{CaptureJob, CaptureVerdicts, SutAddr, judge_captures, redact};
use crate::report::model::{RunInfo, RunReport, ScenarioFile, file_hash};
use crate::report::{self, write};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `imcpm check-pcap`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// pcap or pcapng files, merged in time order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The IM server's address in the capture: HOST (any port) or HOST:PORT (repeatable).
    #[arg(long, required = true)]
    pub sut: Vec<SutAddr>,
    /// The IM server's interop level (a capture cannot tell it: docs/decisions.md#d14).
    #[arg(long, value_enum)]
    pub level: Level,
    /// A domain the IM server serves: a Request-URI in it is terminating when nothing else says
    /// (repeatable; docs/decisions.md#d13).
    #[arg(long)]
    pub domain: Vec<String>,
    /// Who is an IM and who a CPM client (TOML `[users]`, as for `imcpm serve`); third-party
    /// REGISTERs in the capture add to it.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// A port whose traffic is SIP whatever its content (repeatable; 5060 and 5080 always are).
    #[arg(long)]
    pub port: Vec<u16>,
    /// Where the reports go; an existing run there is moved to `previous` beside it.
    #[arg(long, default_value = "reports/latest")]
    pub report_dir: PathBuf,
    /// What goes to stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Only results whose requirement ID or dialog key matches (glob: `*`, `?`; repeatable).
    #[arg(long)]
    pub filter: Vec<String>,
    /// Replace user parts of SIP/tel URIs and phone numbers in every report with stable
    /// pseudonyms (captures from live networks).
    #[arg(long)]
    pub redact: bool,
}

/// Run `imcpm check-pcap`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let started = std::time::SystemTime::now();
    let wall = std::time::Instant::now();
    let users = match &a.users {
        Some(p) => super::serve::load_users(p)?.into_iter().collect(),
        None => Default::default(),
    };
    let mut read = ReadOptions::default();
    read.sip_ports.extend(&a.port);
    let job = CaptureJob {
        files: a.files.clone(),
        sut: a.sut.clone(),
        level: a.level,
        domains: a.domain.clone(),
        users,
        read,
    };
    let mut v = judge_captures(&job);
    if !a.filter.is_empty() {
        v.results.retain(|r| {
            a.filter
                .iter()
                .any(|f| crate::scenario::glob(f, r.requirement.as_str()) || crate::scenario::glob(f, &r.scenario))
        });
    }
    if a.redact {
        redact::redact(&mut v.results);
    }
    let mut r = report_of(&a, &v);
    write::stamp(&mut r, started, wall.elapsed(), false);
    write::write_reports(&a.report_dir, &r).map_err(|e| miette::miette!("{e}"))?;
    let text = match a.format {
        Format::Json => report::json::to_json(&r),
        Format::Markdown => report::markdown::to_markdown(&r),
        Format::Text => text(&a, &v, std::io::stdout().is_terminal()),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if let Some(e) = &v.error {
        // Everything before the broken frame was judged and reported above.
        return Err(miette::miette!("{e} (what came before it is judged above)"));
    }
    Ok(if report::failing(&r.results) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn report_of(a: &Args, v: &CaptureVerdicts) -> RunReport {
    let sut: Vec<String> = a
        .sut
        .iter()
        .map(|s| match s {
            SutAddr::Host(h) => h.to_string(),
            SutAddr::Addr(x) => x.to_string(),
        })
        .collect();
    let files = a
        .files
        .iter()
        .map(|f| ScenarioFile { name: f.display().to_string(), hash: file_hash(&std::fs::read(f).unwrap_or_default()) })
        .collect();
    RunReport::new(
        RunInfo::new(format!("capture: {}", sut.join(", ")), "capture".into(), vec![a.level], files),
        v.results.clone(),
    )
}

fn text(a: &Args, v: &CaptureVerdicts, color: bool) -> String {
    let mut out = report::text::summary_table(&v.results, color);
    out.push('\n');
    out.push_str(&report::text::failures(&v.results));
    let s = &v.stats;
    out.push_str(&format!(
        "\n{} frames, {} SIP messages, {} requests to the IM server judged; {} results: {}\n",
        s.frames,
        s.sip,
        v.pairs,
        v.results.len(),
        counts(&v.results)
    ));
    if !s.not_judged.is_empty() {
        let parts: Vec<String> = s.not_judged.iter().map(|(k, n)| format!("{n} {k}")).collect();
        out.push_str(&format!("Not judged: {}\n", parts.join(", ")));
    }
    if s.duplicates > 0 {
        out.push_str(&format!("{} duplicate frames counted once\n", s.duplicates));
    }
    let (_, never) = v.coverage();
    if !never.is_empty() {
        let ids: Vec<&str> = never.iter().map(|i| i.as_str()).collect();
        out.push_str(&format!("Not exercised by this capture: {}\n", ids.join(" ")));
    }
    out.push_str(&format!("Reports in {}\n", a.report_dir.display()));
    out
}

fn counts(results: &[report::ResultItem]) -> String {
    let parts: Vec<String> =
        report::summary(results).into_iter().filter(|(_, n)| *n > 0).map(|(v, n)| format!("{n} {v}")).collect();
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}
