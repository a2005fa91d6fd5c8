//! `imcpm run`: the main job. Every scenario at every level it declares (or `--level`), against
//! the embedded reference server in the simulated world (or behind real sockets with
//! `--transport udp|tcp`), judged by the oracle; a summary table and the failures on the
//! terminal, and report.json, junit.xml, report.md and report.html in the report directory.

use super::Format;
use crate::base::Level;
use crate::interop::finding::Verdict;
use crate::interop::rules::ReqId;
use crate::interop::rules::catalogue;
use crate::node::im_server::faults::FaultSet;
use crate::report::model::{RunInfo, RunReport, ScenarioFile, file_hash};
use crate::report::{self, ResultItem};
use crate::scenario::{RunOptions, Scenario, ScenarioRun, load_dir, render};
use clap::ValueEnum;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabled::settings::Style;
use tabled::{Table, Tabled};

/// How the harness reaches the embedded server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// The in-memory world (default).
    Sim,
    /// Real UDP sockets on loopback.
    Udp,
    /// Real TCP sockets on loopback.
    Tcp,
}

/// Arguments of `imcpm run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only scenarios that apply at this level, run at this level (default: each level a
    /// scenario declares).
    #[arg(long, value_enum)]
    pub level: Option<Level>,
    /// The scenario directory.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Scenario names or requirement IDs to run (glob: `*`, `?`; repeatable). A scenario runs
    /// when its name or one of the IDs it names matches.
    #[arg(long)]
    pub filter: Vec<String>,
    /// How the harness reaches the embedded server.
    #[arg(long, value_enum, default_value = "sim")]
    pub transport: TransportArg,
    /// Where the reports go; an existing run there is moved to `previous` beside it.
    #[arg(long, default_value = "reports/latest")]
    pub report_dir: PathBuf,
    /// What goes to stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// A deliberate defect of the embedded reference server (repeatable; see `imcpm faults`).
    #[arg(long = "fault")]
    pub fault: Vec<String>,
    /// Also write everything sent and received as pcapng.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Compare with an earlier report.json: each result marked unchanged, new PASS, new FAIL
    /// (a regression) or new.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Fixed time fields in the reports (for diffs and snapshots).
    #[arg(long)]
    pub deterministic: bool,
}

/// Match a simple glob (`*` any run, `?` one character), case-sensitive.
pub fn glob(pat: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), s.as_bytes())
}

fn selected(s: &Scenario, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| glob(f, &s.name) || s.requirements.iter().any(|id| glob(f, id.as_str())))
}

/// The runs a command asks for: (scenario index, level).
pub fn plan(all: &[Scenario], level: Option<Level>, filters: &[String]) -> Vec<(usize, Level)> {
    let mut v = Vec::new();
    for (i, s) in all.iter().enumerate().filter(|(_, s)| selected(s, filters)) {
        for &l in &s.levels {
            if level.is_none_or(|x| x == l) {
                v.push((i, l));
            }
        }
    }
    v
}

/// CPU seconds used by this process so far (Linux /proc; 0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// RFC 3339 UTC time of a Unix timestamp.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[derive(Tabled)]
struct SummaryRow {
    requirement: &'static str,
    verdict: String,
    #[tabled(rename = "pass")]
    pass: usize,
    #[tabled(rename = "n-strict")]
    non_strict: usize,
    #[tabled(rename = "fail")]
    fail: usize,
    #[tabled(rename = "other")]
    other: usize,
}

/// The terminal summary: one row per requirement ID (catalogue order) with its overall verdict
/// and counts of results per verdict. Fits 80 columns.
pub fn summary_table(results: &[ResultItem], color: bool) -> String {
    let mut rows = Vec::new();
    for r in catalogue() {
        let mine: Vec<&ResultItem> = results.iter().filter(|x| x.requirement == r.id).collect();
        if mine.is_empty() {
            continue;
        }
        let count = |v: Verdict| mine.iter().filter(|x| x.verdict == v).count();
        let worst = mine.iter().map(|x| x.verdict).max().unwrap_or(Verdict::NotApplicable);
        let other = mine.len() - count(Verdict::Pass) - count(Verdict::NonStrict) - count(Verdict::Fail);
        rows.push(SummaryRow {
            requirement: r.id.as_str(),
            verdict: worst.to_string(),
            pass: count(Verdict::Pass),
            non_strict: count(Verdict::NonStrict),
            fail: count(Verdict::Fail),
            other,
        });
    }
    let mut t = Table::new(rows).with(Style::sharp()).to_string();
    if color {
        for (word, code) in [
            ("NON-STRICT", "33"),
            ("INCONCLUSIVE", "90"),
            ("PASS", "32"),
            ("FAIL", "31;1"),
            ("ERROR", "31;1"),
            ("XPASS", "35"),
            ("XFAIL", "36"),
        ] {
            t = t.replace(&format!("│ {word} "), &format!("│ \x1b[{code}m{word}\x1b[0m "));
        }
    }
    t
}

/// The failures: every finding that is not PASS or NOT-APPLICABLE, like a compiler diagnostic.
pub fn failures(results: &[ResultItem]) -> String {
    let mut s = String::new();
    for r in results {
        for f in r.findings.iter().filter(|f| !matches!(f.verdict, Verdict::Pass | Verdict::NotApplicable)) {
            s.push_str(&format!(
                "{} {} in {} [L{}] ({})\n  at {}\n  expected: {}\n  observed: {}\n",
                f.verdict, f.requirement, r.scenario, r.level, r.clause, f.location, f.expected, f.observed
            ));
        }
    }
    s
}

fn move_previous(dir: &Path) -> std::io::Result<()> {
    if !dir.join("report.json").exists() {
        return Ok(());
    }
    let prev = match dir.file_name().and_then(|n| n.to_str()) {
        Some("latest") => dir.with_file_name("previous"),
        _ => PathBuf::from(format!("{}.previous", dir.display())),
    };
    if prev.exists() {
        // Only ever replace an earlier run of ours, never someone's directory.
        if !prev.join("report.json").exists() {
            return Err(std::io::Error::other(format!(
                "{} exists and holds no report.json; move it away",
                prev.display()
            )));
        }
        std::fs::remove_dir_all(&prev)?;
    }
    std::fs::rename(dir, &prev)
}

/// A run the harness could not carry out: one ERROR result (D11), the others go on.
fn harness_error(s: &Scenario, level: Level, why: &str) -> ScenarioRun {
    let f = crate::interop::Finding::new(ReqId::ROUTE_VIA_IMS, Verdict::Error, "the harness runs the scenario", why);
    let findings = vec![f];
    ScenarioRun {
        scenario: s.name.clone(),
        level,
        results: report::group(&s.name, level, &findings),
        findings,
        trace: Default::default(),
        names: Vec::new(),
        pairs: Vec::new(),
    }
}

/// Run the scenarios and build the report (no file output).
pub fn execute(
    a: &Args,
    all: &[Scenario],
    faults: &FaultSet,
    progress: &mut dyn FnMut(&ScenarioRun),
) -> miette::Result<(RunReport, Vec<ScenarioRun>)> {
    let jobs = plan(all, a.level, &a.filter);
    if jobs.is_empty() {
        return Err(miette::miette!(
            "no scenario matches (scenarios in {}, --level {:?}, --filter {:?})",
            a.scenarios.display(),
            a.level,
            a.filter
        ));
    }
    let opts = RunOptions { faults: faults.clone() };
    let mut runs = Vec::with_capacity(jobs.len());
    let live = match a.transport {
        TransportArg::Sim => None,
        TransportArg::Udp => Some(crate::base::Transport::Udp),
        TransportArg::Tcp => Some(crate::base::Transport::Tcp),
    };
    for (i, level) in jobs {
        let run = match live {
            None => crate::scenario::run_scenario(&all[i], level, &opts),
            Some(t) => crate::net::live::run_scenario_live(&all[i], level, &opts, t)
                .unwrap_or_else(|e| harness_error(&all[i], level, &e.to_string())),
        };
        progress(&run);
        runs.push(run);
    }
    let mut results: Vec<ResultItem> = runs.iter().flat_map(|r| r.results.clone()).collect();
    results.sort_by(|x, y| (&x.scenario, x.level, x.requirement).cmp(&(&y.scenario, y.level, y.requirement)));
    let mut levels: Vec<Level> = runs.iter().map(|r| r.level).collect();
    levels.sort();
    levels.dedup();
    let mut used: Vec<&Scenario> = runs.iter().filter_map(|r| all.iter().find(|s| s.name == r.scenario)).collect();
    used.dedup_by(|x, y| x.name == y.name);
    let report = RunReport {
        schema_version: report::SCHEMA_VERSION,
        run: RunInfo {
            tool: "imcpm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sut: "embedded reference server".into(),
            fault: (!a.fault.is_empty()).then(|| a.fault.join(",")),
            levels,
            transport: format!("{:?}", a.transport).to_lowercase(),
            started: String::new(),
            duration_ms: 0,
            scenarios: used.iter().map(|s| ScenarioFile { name: s.name.clone(), hash: file_hash(&s.source) }).collect(),
        },
        summary: report::summary(&results),
        results,
        changes: Vec::new(),
        flows: runs.iter().map(render::flow).collect(),
    };
    Ok((report, runs))
}

/// Run `imcpm run`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let started = std::time::SystemTime::now();
    let wall = std::time::Instant::now();
    let cpu0 = cpu_seconds();
    let faults = FaultSet::parse(&a.fault).map_err(|e| miette::miette!("--fault: {e}"))?;
    let all = load_dir(&a.scenarios).map_err(|e| miette::miette!("{e}"))?;
    if let Some(p) = &a.pcap {
        // Fail on an unwritable --pcap before running anything.
        std::fs::File::create(p).map_err(|e| miette::miette!("--pcap {}: {e}", p.display()))?;
    }
    let total = plan(&all, a.level, &a.filter).len() as u64;
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
                b.set_message(format!("{} L{}", r.scenario, r.level));
                b.inc(1);
            }
            None => eprintln!("[{n}/{total}] {} L{} {worst}", r.scenario, r.level),
        }
    };
    let (mut report, runs) = execute(&a, &all, &faults, &mut progress)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let cpu = cpu_seconds() - cpu0;
    let elapsed = wall.elapsed();
    if !a.deterministic {
        let secs = started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        report.run.started = rfc3339(secs);
        report.run.duration_ms = elapsed.as_millis() as u64;
    } else {
        report.run.started = rfc3339(0);
    }
    if let Some(b) = &a.baseline {
        let text = std::fs::read_to_string(b).map_err(|e| miette::miette!("--baseline {}: {e}", b.display()))?;
        let base =
            report::json::load_baseline(&text).map_err(|e| miette::miette!("--baseline {}: {e}", b.display()))?;
        report.changes = report::json::compare(&report.results, &base);
    }
    write_reports(&a, &report)?;
    if let Some(p) = &a.pcap {
        write_pcap(p, &runs)?;
    }
    let mut out = std::io::stdout().lock();
    let text = match a.format {
        Format::Json => report::json::to_json(&report),
        Format::Markdown => report::markdown::to_markdown(&report),
        Format::Text => {
            let mut s = summary_table(&report.results, tty);
            s.push('\n');
            let fails = failures(&report.results);
            if !fails.is_empty() {
                s.push_str("\nFindings other than PASS:\n");
                s.push_str(&fails);
            }
            if !report.changes.is_empty() {
                let counts = report::json::change_counts(&report.changes);
                s.push_str(&format!(
                    "\nCompared with the baseline: {}\n",
                    counts.iter().map(|(k, n)| format!("{n} {k:?}")).collect::<Vec<_>>().join(", ")
                ));
            }
            let counts: Vec<String> =
                report.summary.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
            s.push_str(&format!(
                "\n{} results from {} runs of {} scenarios: {}\n{} scenario runs in {:.0} ms ({:.3} s CPU). Reports in {}\n",
                report.results.len(),
                runs.len(),
                report.run.scenarios.len(),
                counts.join(", "),
                runs.len(),
                elapsed.as_secs_f64() * 1000.0,
                cpu,
                a.report_dir.display()
            ));
            s
        }
    };
    let _ = out.write_all(text.as_bytes());
    Ok(if report::failing(&report.results) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn write_reports(a: &Args, r: &RunReport) -> miette::Result<()> {
    let dir = &a.report_dir;
    move_previous(dir).map_err(|e| miette::miette!("moving the previous run out of {}: {e}", dir.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| miette::miette!("{}: {e}", dir.display()))?;
    for (name, body) in [
        ("report.json", report::json::to_json(r)),
        ("junit.xml", report::junit::to_junit(r)),
        ("report.md", report::markdown::to_markdown(r)),
        ("report.html", report::html::to_html(r)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| miette::miette!("{}: {e}", p.display()))?;
    }
    Ok(())
}

fn write_pcap(p: &Path, runs: &[ScenarioRun]) -> miette::Result<()> {
    // One capture of the whole run: each scenario's trace after the previous one in time.
    let mut all = crate::base::Trace::default();
    let mut offset = 0u64;
    for r in runs {
        let mut end = offset;
        for o in &r.trace.events {
            let t = crate::base::Instant(o.time.0 + offset);
            end = end.max(t.0);
            all.push(t, o.packet.clone());
        }
        offset = end + 1_000_000;
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| miette::miette!("{}: {e}", p.display()))?);
    crate::capture::pcapng::write_pcapng(&all, &mut f).map_err(|e| miette::miette!("{}: {e}", p.display()))?;
    f.flush().map_err(|e| miette::miette!("{}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_dates() {
        assert!(glob("t1/*", "t1/pager"));
        assert!(glob("T1.TERM.*", "T1.TERM.LMM"));
        assert!(!glob("t1/*", "t2/orig/pager"));
        assert!(glob("t?/orig/*", "t2/orig/ft"));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
