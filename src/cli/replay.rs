//! `imcpm replay`: re-send the requests a capture shows going to the IM server to a live server,
//! answer what it sends on as the captured peers did, and judge it (docs/live-testing.md).

use super::Format;
use crate::base::Level;
use crate::capture::ReadOptions;
use crate::check::SutAddr;
use crate::check::replay::Speed;
use crate::live::{ReplayOptions, replay};
use crate::report::model::{MAX_REPLAY_PAIRS, ReplayInfo, RunInfo, RunReport, ScenarioFile, file_hash};
use crate::report::{self, write};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `imcpm replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The capture (pcap or pcapng; several are merged in time order).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The IM server's address in the capture: HOST (any port) or HOST:PORT (repeatable).
    #[arg(long, required = true, value_name = "HOST[:PORT]")]
    pub capture_sut: Vec<SutAddr>,
    /// The live server: `udp:IP:PORT` or `tcp:IP:PORT`.
    #[arg(long, value_name = "TRANSPORT:IP:PORT")]
    pub sut: crate::net::Listen,
    /// The live server's interop level.
    #[arg(long, value_enum)]
    pub level: Level,
    /// Where the harness listens (default: a free port on 127.0.0.2, [::1] or the interface
    /// that routes to the server).
    #[arg(long, value_name = "TRANSPORT:IP:PORT")]
    pub listen: Option<crate::net::Listen>,
    /// The capture's relative timing, or as fast as the server answers.
    #[arg(long, value_enum, default_value = "original")]
    pub speed: Speed,
    /// A domain the server serves (repeatable; default im.example.net).
    #[arg(long)]
    pub domain: Vec<String>,
    /// Who is an IM and who a CPM client (TOML `[users]`); replayed third-party REGISTERs add.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// A port whose traffic is SIP whatever its content (repeatable).
    #[arg(long)]
    pub port: Vec<u16>,
    /// Also write what was sent and received as pcapng.
    #[arg(long, value_name = "OUT")]
    pub pcap: Option<PathBuf>,
    /// Where the reports go. The report files of an earlier run there (a report.json) are moved
    /// aside first: to `previous` beside a directory named `latest` (the default:
    /// reports/previous), else to `DIR.previous`, replacing an earlier run's there. Other files
    /// in DIR are left alone.
    #[arg(long, default_value = "reports/latest")]
    pub report_dir: PathBuf,
    /// INCONCLUSIVE fails the run too (exit 1): for CI, where a requirement that could not be
    /// judged must not pass unnoticed.
    #[arg(long)]
    pub strict: bool,
    /// What goes to stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Run `imcpm replay`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let started = std::time::SystemTime::now();
    let wall = std::time::Instant::now();
    for f in &a.files {
        std::fs::File::open(f).map_err(|e| miette::miette!("{}: {e}", super::term::path(f)))?;
    }
    write::check_report_dir(&a.report_dir).map_err(|e| miette::miette!("--report-dir {e}"))?;
    if let Some(l) = &a.listen {
        if l.transport != a.sut.transport {
            return Err(miette::miette!(
                "--listen {l} is over {} but --sut {} is over {}",
                l.transport,
                a.sut,
                a.sut.transport
            ));
        }
    }
    let users = match &a.users {
        Some(p) => super::serve::load_users(p)?.into_iter().collect(),
        None => Default::default(),
    };
    if let Some(p) = &a.pcap {
        std::fs::File::create(p).map_err(|e| miette::miette!("--pcap {}: {e}", p.display()))?;
    }
    let mut read = ReadOptions::default();
    read.sip_ports.extend(&a.port);
    let o = ReplayOptions {
        files: a.files.clone(),
        capture_sut: a.capture_sut.clone(),
        sut: a.sut,
        listen: a.listen.map(|l| l.addr),
        speed: a.speed,
        read,
    };
    let r = replay(&o).map_err(|e| miette::miette!("{e}"))?;
    let domains = if a.domain.is_empty() { vec![crate::scenario::run::DOMAIN.to_string()] } else { a.domain.clone() };
    let judged = crate::check::replay::judge(&r, a.level, domains, users, Vec::new());
    let files = a
        .files
        .iter()
        .map(|f| ScenarioFile {
            name: f.display().to_string(),
            hash: std::fs::read(f).map(|b| file_hash(&b)).unwrap_or_default(),
        })
        .collect();
    let mut report = RunReport::new(
        RunInfo::new(a.sut.to_string(), a.sut.transport.as_str().to_ascii_lowercase(), vec![a.level], files),
        judged.results,
    );
    report.coverage = Some(report::aggregate::coverage_of(&report.results));
    let sent =
        r.trace.events.iter().filter(|e| e.packet.to == a.sut.addr && !e.packet.bytes.starts_with(b"SIP/")).count();
    let left = judged.pairs.len().saturating_sub(MAX_REPLAY_PAIRS);
    report.replay = Some(ReplayInfo {
        sent,
        skipped: r.skipped.clone(),
        pairs: judged.pairs.into_iter().take(MAX_REPLAY_PAIRS).collect(),
        pairs_left_out: left,
    });
    write::stamp(&mut report, started, wall.elapsed(), false);
    report.run.strict = a.strict;
    write::write_reports(&a.report_dir, &report).map_err(|e| miette::miette!("{e}"))?;
    if let Some(p) = &a.pcap {
        let sections = vec![("imcpm replay".to_string(), &r.trace)];
        crate::capture::write_runs_pcapng_file(p, &sections).map_err(|e| miette::miette!("{}: {e}", p.display()))?;
    }
    let text = match a.format {
        Format::Json => report::json::to_json(&report),
        Format::Markdown => report::markdown::to_markdown(&report),
        Format::Text => {
            let tty = super::color(std::io::stdout().is_terminal());
            let mut s = report::text::summary_table(&report.results, tty);
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(&report::text::failures(&report.results));
            let mut counts: Vec<String> =
                report.summary.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
            if counts.is_empty() {
                counts.push("none".into());
            }
            s.push_str(&format!(
                "\nReplayed {} requests of {} to {} ({} not sent); results: {}. Reports in {}\n",
                sent,
                a.files.iter().map(|f| super::term::path(f)).collect::<Vec<_>>().join(", "),
                a.sut,
                r.skipped.len(),
                counts.join(", "),
                super::term::path(&a.report_dir)
            ));
            s
        }
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(if report::failing_strict(&report.results, a.strict) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
