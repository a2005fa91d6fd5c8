//! `imcpm run`: the main job. Every scenario of the built-in suite (or of `--scenarios
//! DIR|FILE`) at every level it declares (or `--level`), against the embedded reference server
//! in the simulated world (or behind real sockets with `--transport udp|tcp`), judged by the
//! oracle; a summary table and the failures on the terminal, and report.json, junit.xml,
//! report.md and report.html in the report directory.

use super::Format;
use crate::base::{Level, Trace, Transport};
use crate::interop::finding::Verdict;
use crate::live::{LiveOptions, PoolUser, Target, run_jobs};
use crate::node::im_server::faults::FaultSet;
use crate::report::{self, write};
use crate::scenario::{ScenarioRun, SuiteOptions, execute, plan, report_of};
use clap::ValueEnum;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `imcpm run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only scenarios that apply at this level, run at this level (default: each level a
    /// scenario declares).
    #[arg(long, value_enum)]
    pub level: Option<Level>,
    /// Run the scenarios of this folder (every `*.toml` below it) or this one file instead of
    /// the built-in suite (`imcpm list` shows it; `imcpm list --export DIR` writes it out as a
    /// start for your own).
    #[arg(long, value_name = "DIR|FILE")]
    pub scenarios: Option<PathBuf>,
    /// Scenario names or requirement IDs to run (glob: `*`, `?`; repeatable). A scenario runs
    /// when its name or one of the IDs it names matches.
    #[arg(long)]
    pub filter: Vec<String>,
    /// How the harness reaches the embedded server.
    // `std::option::Option` keeps clap from making the flag optional: `sim` parses to `None`.
    #[arg(long, value_parser = transport_parser(), default_value = "sim")]
    #[allow(unused_qualifications)]
    pub transport: std::option::Option<Transport>,
    /// An external IM server under test, `udp:IP:PORT` or `tcp:IP:PORT` (IPv6 in brackets):
    /// the harness plays the core, the clients, the foci and the remote network over real
    /// sockets (docs/live-testing.md). Needs `--level` (or a SUT config that gives it).
    #[arg(long, value_name = "TRANSPORT:IP:PORT", conflicts_with_all = ["transport", "fault"])]
    pub sut: Option<crate::net::Listen>,
    /// A SUT config (TOML: the server's address, level, user pool, known deviations; see
    /// docs/live-testing.md). `--sut`, `--listen`, `--level` and `--users` given on the command
    /// line win over its values.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["transport", "fault"])]
    pub sut_config: Option<PathBuf>,
    /// Where the harness's core listens for the server under test (default: a free port on
    /// 127.0.0.2, [::1] or the interface that routes to the server, one per scenario; with
    /// a fixed address the scenarios run one after the other).
    #[arg(long, value_name = "TRANSPORT:IP:PORT")]
    pub listen: Option<crate::net::Listen>,
    /// The local users the server under test knows (the TOML `[users]` table of `imcpm
    /// serve --users`): scenario actors are mapped onto them, each scenario getting users no
    /// other running scenario uses. Without it, actors get addresses of record unique to the
    /// run, which the server learns from the third-party REGISTERs.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// The server's domain in a live run (`--sut`): its local users' and the harness's core's
    /// (default im.example.net).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// The server's declared role; only `proxy` is judged.
    #[arg(long, value_enum, default_value = "proxy")]
    pub role: RoleArg,
    /// Most scenarios run at once in a live run.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Where the reports go. The report files of an earlier run there (a report.json) are moved
    /// aside first: to `previous` beside a directory named `latest` (the default:
    /// reports/previous), else to `DIR.previous`, replacing an earlier run's there. Other files
    /// in DIR are left alone.
    #[arg(long, default_value = "reports/latest")]
    pub report_dir: PathBuf,
    /// What goes to stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// A deliberate defect of the embedded reference server (repeatable; see `imcpm faults`).
    #[arg(long = "fault")]
    pub fault: Vec<String>,
    /// Also write everything sent and received as pcapng: one section per scenario and level,
    /// its header commented `imcpm run: SCENARIO LLEVEL`, the runs one after the other in time.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Compare with an earlier report.json: each result marked unchanged, new PASS, new FAIL
    /// (a regression) or new.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// INCONCLUSIVE fails the run too (exit 1): for CI, where a requirement that could not be
    /// judged must not pass unnoticed.
    #[arg(long)]
    pub strict: bool,
    /// Fixed time fields in the reports (for diffs and snapshots).
    #[arg(long)]
    pub deterministic: bool,
}

/// `--role`: the declared role of the server under test (D6: only a proxy is judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// A SIP proxy on the ISC interface.
    Proxy,
}

/// `--transport`: `sim` (the in-memory world, `None`) or each [`Transport`] over real sockets.
fn transport_parser() -> impl TypedValueParser<Value = Option<Transport>> {
    let sim = PossibleValue::new("sim").help("The in-memory world (default)");
    let real = Transport::value_variants()
        .iter()
        .filter_map(|t| Some(t.to_possible_value()?.help(format!("Real {} sockets on loopback", t.as_str()))));
    PossibleValuesParser::new(std::iter::once(sim).chain(real))
        .map(|s| <Transport as ValueEnum>::from_str(&s, false).ok())
}

/// Run `imcpm run`.
pub fn run(mut a: Args) -> miette::Result<ExitCode> {
    let sut_config = match &a.sut_config {
        Some(p) => Some(crate::live::sutconfig::load(p)?),
        None => None,
    };
    if let Some(c) = &sut_config {
        a.sut = a.sut.or(Some(c.sut));
        a.listen = a.listen.or(c.listen);
        a.level = a.level.or(Some(c.level));
    }
    if a.sut.is_none() && (a.listen.is_some() || a.users.is_some() || a.domain.is_some()) {
        return Err(miette::miette!(
            "--listen, --users and --domain are for a live run against an external server: give --sut"
        ));
    }
    let domain = server_domain(a.domain.as_deref(), sut_config.as_ref().map(|c| c.domain.as_str()))?;
    if let Some((c, p)) = sut_config.as_ref().zip(a.sut_config.as_ref()) {
        pool_in_domain(&c.users, p, &domain)?;
    }
    if a.sut.is_some() && a.level.is_none() {
        return Err(miette::miette!("--sut needs --level 1|2 (the level the server under test implements)"));
    }
    if let (Some(sut), Some(l)) = (a.sut, a.listen) {
        if sut.transport != l.transport {
            return Err(miette::miette!(
                "--listen {l} is over {} but --sut {sut} is over {}",
                l.transport,
                sut.transport
            ));
        }
    }
    let started = std::time::SystemTime::now();
    let wall = std::time::Instant::now();
    let cpu0 = write::cpu_seconds();
    let faults = FaultSet::parse(&a.fault).map_err(|e| miette::miette!("--fault: {e}"))?;
    let all = super::list::load(a.scenarios.as_deref())?;
    if let Some(p) = &a.pcap {
        // Fail on an unwritable --pcap before running anything.
        std::fs::File::create(p).map_err(|e| miette::miette!("--pcap {}: {e}", p.display()))?;
    }
    // And on a report directory or baseline that would fail at the end.
    write::check_report_dir(&a.report_dir).map_err(|e| miette::miette!("--report-dir {e}"))?;
    let baseline = match &a.baseline {
        Some(b) => {
            let text = std::fs::read_to_string(b).map_err(|e| miette::miette!("--baseline {}: {e}", b.display()))?;
            Some(report::json::load_baseline(&text).map_err(|e| miette::miette!("--baseline {}: {e}", b.display()))?)
        }
        None => None,
    };
    let jobs = plan(&all, a.level, &a.filter);
    if jobs.is_empty() {
        let level = a.level.map_or_else(|| "every level".to_string(), |l| format!("--level {}", l.number()));
        let filter =
            if a.filter.is_empty() { "no --filter".to_string() } else { format!("--filter {}", a.filter.join(" ")) };
        let from = super::list::describe(a.scenarios.as_deref());
        return Err(miette::miette!("no scenario matches ({from}, {level}, {filter})"));
    }
    let total = jobs.len() as u64;
    let tty = std::io::stdout().is_terminal();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut n = 0;
    let mut progress = |r: &ScenarioRun| {
        n += 1;
        let worst = r.results.iter().map(|x| x.verdict).max().unwrap_or(Verdict::NotApplicable);
        match &bar {
            Some(b) => {
                b.set_message(format!("{} L{}", crate::base::escape::escape(&r.scenario), r.level));
                b.inc(1);
            }
            None => super::term::err(&format!(
                "[{n}/{total}] {} L{} {worst}\n",
                crate::base::escape::escape(&r.scenario),
                r.level
            )),
        }
    };
    let transport = a.sut.map(|s| Some(s.transport)).unwrap_or(a.transport);
    let opts = SuiteOptions { transport, faults: faults.clone(), fault_names: a.fault.clone() };
    let (mut report, runs) = match (a.sut, a.transport) {
        (None, None) => execute(&all, &jobs, &opts, &mut progress),
        (sut, t) => {
            let (target, name) = match (sut, t) {
                (Some(sut), _) => (Target::External { sut, listen: a.listen.map(|l| l.addr) }, sut.to_string()),
                (None, Some(t)) => (Target::Embedded(t), "embedded reference server".to_string()),
                (None, None) => unreachable!("handled above"),
            };
            let mut live = LiveOptions::new(target);
            live.run.faults = faults;
            live.parallel = usize::from(a.parallel);
            if let Some(c) = &sut_config {
                live.pool = c.users.clone();
                live.route_set = c.route_set;
                if let Some(q) = c.quiet {
                    live.quiet = q;
                }
            }
            live.domain = domain.clone();
            if let Some(p) = &a.users {
                live.pool = read_pool(p, &domain)?;
            }
            let runs = run_jobs(&all, &jobs, &live, &mut progress).map_err(|e| miette::miette!("{e}"))?;
            let mut report = report_of(&all, &runs, &opts, &name);
            if let Some(c) = &sut_config {
                // A stale deviation fails only a run that held every scenario it names: a filtered
                // run may simply not hold those where it fails.
                let suite: Vec<String> = plan(&all, a.level, &[]).iter().map(|&(i, _)| all[i].name.clone()).collect();
                for d in crate::live::sutconfig::apply(&c.deviations, &mut report.results, &suite) {
                    super::term::err(&format!(
                        "note: the known deviation {} in {} matched no failure of this run\n",
                        d.requirement,
                        crate::base::escape::escape(&d.scenario)
                    ));
                }
                report.summary = report::summary(&report.results);
            }
            (report, runs)
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let cpu = write::cpu_seconds() - cpu0;
    let elapsed = wall.elapsed();
    write::stamp(&mut report, started, elapsed, a.deterministic);
    if let Some(base) = &baseline {
        report.changes = report::json::compare(&report.results, base);
    }
    report.run.strict = a.strict;
    write::write_reports(&a.report_dir, &report).map_err(|e| miette::miette!("{e}"))?;
    if let Some(p) = &a.pcap {
        // One section per (scenario, level) run, commented `imcpm run: SCENARIO LLEVEL`.
        let sections: Vec<(String, &Trace)> =
            runs.iter().map(|r| (format!("{} L{}", r.scenario, r.level), &r.trace)).collect();
        crate::capture::write_runs_pcapng_file(p, &sections).map_err(|e| miette::miette!("{}: {e}", p.display()))?;
    }
    let text = match a.format {
        Format::Json => report::json::to_json(&report),
        Format::Markdown => report::markdown::to_markdown(&report),
        Format::Text => report::text::run_text(&report, runs.len(), elapsed, cpu, &a.report_dir, super::color(tty)),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(if report::failing_strict(&report.results, a.strict) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The server's domain of a live run: `--domain`, else the SUT config's, else the default;
/// lowercased, and a host name that is not the remote network's.
pub(super) fn server_domain(flag: Option<&str>, config: Option<&str>) -> miette::Result<String> {
    let domain = flag.or(config).unwrap_or(crate::scenario::run::DOMAIN).to_ascii_lowercase();
    if domain.is_empty()
        || !domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        || domain == crate::scenario::run::REMOTE_DOMAIN
    {
        return Err(miette::miette!(
            "--domain `{domain}`: a host name (letters, digits, dots, dashes), not the remote network's {}",
            crate::scenario::run::REMOTE_DOMAIN
        ));
    }
    Ok(domain)
}

/// Every user of a SUT config's pool (`path`) is in the server's `domain`.
pub(super) fn pool_in_domain(pool: &[PoolUser], path: &std::path::Path, domain: &str) -> miette::Result<()> {
    match pool.iter().find(|u| !u.aor.ends_with(&format!("@{domain}"))) {
        Some(u) => Err(miette::miette!(
            "--sut-config {}: user `{}` is not in {domain}, the server's domain of this run",
            path.display(),
            u.aor
        )),
        None => Ok(()),
    }
}

/// The user pool of `--users`: the `[users]` table of `imcpm serve --users`.
pub(crate) fn read_pool(p: &std::path::Path, domain: &str) -> miette::Result<Vec<PoolUser>> {
    let text = std::fs::read_to_string(p).map_err(|e| miette::miette!("--users {}: {e}", p.display()))?;
    let users = super::serve::parse_users(p, &text).map_err(|e| miette::Report::new(*e))?;
    // The harness's core serves one domain: a user elsewhere could never be reached.
    let at = format!("@{domain}");
    if let Some((aor, _)) = users.iter().find(|(aor, _)| !aor.ends_with(&at)) {
        return Err(miette::miette!(
            "--users {}: `{aor}` is not in {domain}: the harness's core serves that domain, and a pool user must be in it",
            p.display()
        ));
    }
    Ok(users.into_iter().map(|(aor, kind)| PoolUser { aor, kind }).collect())
}
