//! `imcpm check-pcap`: judge the SIP traffic of captures with the oracle of every other command.

use super::Format;
use crate::base::Level;
use crate::capture::ReadOptions;
use crate::check::{CaptureJob, CaptureVerdicts, SutAddr, judge_captures};
use crate::report::model::{CaptureInfo, FileHasher, RunInfo, RunReport, ScenarioFile, file_hash};
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
    /// Where the reports go. The report files of an earlier run there (a report.json) are moved
    /// aside first: to `previous` beside a directory named `latest` (the default:
    /// reports/previous), else to `DIR.previous`, replacing an earlier run's there. Other files
    /// in DIR are left alone.
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
    /// Results listed in full per requirement and verdict; every result is counted.
    #[arg(long, default_value_t = crate::report::aggregate::DEFAULT_KEEP, value_name = "N")]
    pub max_results: usize,
    /// Dialog ladders in report.html (failing dialogs first).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_ladders: usize,
    /// Judge and print only: write no report files (the exit status is the same).
    #[arg(long)]
    pub no_reports: bool,
    /// INCONCLUSIVE fails the run too (exit 1): for CI, where a requirement that could not be
    /// judged must not pass unnoticed.
    #[arg(long)]
    pub strict: bool,
    /// Megabytes of SIP messages held while their dialogs wait to be judged (docs/captures.md).
    #[arg(long, default_value_t = 24, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub window_mb: u64,
    /// Threads judging dialogs, besides those reading, hashing and filing the messages
    /// (default: one per CPU the process may use, none with one CPU; 0: none, each dialog
    /// judged where it is filed). The verdicts and reports are the same whatever the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=256))]
    pub jobs: Option<u16>,
}

/// Run `imcpm check-pcap`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let started = std::time::SystemTime::now();
    let wall = std::time::Instant::now();
    for f in &a.files {
        // A capture that cannot be opened is named before anything is judged or moved.
        std::fs::File::open(f).map_err(|e| miette::miette!("{}: {e}", super::term::path(f)))?;
    }
    if !a.no_reports {
        write::check_report_dir(&a.report_dir).map_err(|e| miette::miette!("--report-dir {e}"))?;
    }
    let users = match &a.users {
        Some(p) => super::serve::load_users(p)?.into_iter().collect(),
        None => Default::default(),
    };
    let mut read = ReadOptions::default();
    read.sip_ports.extend(&a.port);
    let mut job = CaptureJob::new(a.files.clone(), a.sut.clone(), a.level);
    job.domains = a.domain.clone();
    job.users = users;
    job.read = read;
    job.window.max_bytes = usize::try_from(a.window_mb << 20).unwrap_or(usize::MAX);
    job.keep = a.max_results;
    job.ladders = a.max_ladders;
    job.threads = match a.jobs {
        Some(n) => n.into(),
        // One judging thread beside the filing one buys nothing on one CPU.
        None => std::thread::available_parallelism().map_or(0, |n| if n.get() > 1 { n.get().min(256) } else { 0 }),
    };
    job.filter = a.filter.clone();
    job.redact = a.redact;
    // The files' hashes (for the report) are computed beside the judging.
    let (v, hashes) = std::thread::scope(|scope| {
        let hashes = scope.spawn(|| a.files.iter().map(|f| hash_file(f)).collect::<Vec<String>>());
        let v = judge_captures(&job);
        (v, hashes.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    });
    let mut r = report_of(&a, &v, hashes);
    write::stamp(&mut r, started, wall.elapsed(), false);
    r.run.strict = a.strict;
    if !a.no_reports {
        write::write_reports(&a.report_dir, &r).map_err(|e| miette::miette!("{e}"))?;
    }
    let text = match a.format {
        Format::Json => report::json::to_json(&r),
        Format::Markdown => report::markdown::to_markdown(&r),
        Format::Text => text(&a, &r, super::color(std::io::stdout().is_terminal())),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if let Some(e) = &v.error {
        // Everything before the broken frame was judged and reported above.
        return Err(miette::miette!("{e} (what came before it is judged above)"));
    }
    Ok(if r.failing_strict(a.strict) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn report_of(a: &Args, v: &CaptureVerdicts, hashes: Vec<String>) -> RunReport {
    let sut: Vec<String> = a
        .sut
        .iter()
        .map(|s| match s {
            SutAddr::Host(h) => h.to_string(),
            SutAddr::Addr(x) => x.to_string(),
        })
        .collect();
    let files =
        a.files.iter().zip(hashes).map(|(f, hash)| ScenarioFile { name: f.display().to_string(), hash }).collect();
    let mut r = RunReport::aggregated(
        RunInfo::new(format!("capture: {}", sut.join(", ")), "capture".into(), vec![a.level], files),
        &v.aggregate,
    );
    r.flows = v.flows.clone();
    let s = &v.stats;
    r.capture = Some(CaptureInfo {
        frames: s.frames,
        sip_messages: s.sip,
        requests_judged: v.pairs,
        not_judged: s.not_judged.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        duplicates: s.duplicates,
        tcp_retransmissions: s.retransmissions,
        tcp_gaps: s.gaps,
        window: v.window.clone(),
        ladders: v.flows.len(),
        ladders_left_out: v.flows_left_out,
        error: v.error.as_ref().map(ToString::to_string),
    });
    r
}

/// The file's hash, read in pieces (a capture may be larger than memory should hold).
fn hash_file(p: &std::path::Path) -> String {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(p) else { return file_hash(b"") };
    let mut h = FileHasher::default();
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finish()
}

fn text(a: &Args, r: &RunReport, color: bool) -> String {
    let mut out = report::text::aggregate_text(r, color);
    if let Some(x) = &r.aggregate {
        if x.left_out > 0 {
            out.push_str(&format!(
                "\n{} results counted; the first {} of each requirement and verdict are listed in the reports, {} more counted only.\n",
                x.results, x.kept_per_kind, x.left_out
            ));
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    for n in r.capture.as_ref().map(CaptureInfo::notes).unwrap_or_default() {
        out.push_str(&crate::base::escape::escape(&n));
        out.push('\n');
    }
    out.push_str(&format!("Results: {}\n", counts(&r.summary)));
    if let Some(x) = &r.aggregate {
        if !x.coverage.not_exercised.is_empty() {
            let ids: Vec<&str> = x.coverage.not_exercised.iter().map(|i| i.as_str()).collect();
            out.push_str(&format!("Not exercised by this capture: {}\n", ids.join(" ")));
        }
    }
    if !a.no_reports {
        out.push_str(&format!("Reports in {}\n", super::term::path(&a.report_dir)));
    }
    out
}

fn counts(summary: &std::collections::BTreeMap<&'static str, usize>) -> String {
    let parts: Vec<String> = summary.iter().filter(|(_, n)| **n > 0).map(|(v, n)| format!("{n} {v}")).collect();
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}
