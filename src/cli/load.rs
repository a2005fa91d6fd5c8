//! `imcpm load`: offer requests to a server at a fixed rate on an open-loop schedule and judge
//! every message with the oracle (docs/load.md).

use super::Format;
use crate::base::escape::escape;
use crate::base::{Level, Service};
use crate::load::{LoadOptions, LocalUsers, Progress, Step, run_load};
use crate::report::load::{LoadStats, Percentiles};
use crate::report::model::{RunInfo, RunReport};
use crate::report::{self, write};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `imcpm load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server under test, `udp:IP:PORT` or `tcp:IP:PORT` (IPv6 in brackets): the harness
    /// sends its requests over that transport. Needed unless --sut-config names it.
    #[arg(long, value_name = "TRANSPORT:IP:PORT")]
    pub sut: Option<crate::net::Listen>,
    /// The server's interop level. Needed unless --sut-config gives it.
    #[arg(long, value_enum)]
    pub level: Option<Level>,
    /// A SUT config (TOML, as for `imcpm run --sut-config`; docs/live-testing.md): it gives
    /// --sut, --listen, --level, --domain and the local users (its pool) where those flags are
    /// not given; the flags win. `routing = "next-hop"` sends the requests with no Route set.
    /// Its known deviations are not applied by `load` (said on stderr).
    #[arg(long, value_name = "FILE")]
    pub sut_config: Option<PathBuf>,
    /// Where the harness (the S-CSCF and the clients behind it) listens, over the server's
    /// transport [default: 127.0.0.1:0 over it]. Toward a UDP server the harness listens on TCP
    /// at the same address too, for what the server sends on over TCP (over 1300 bytes).
    #[arg(long, value_name = "TRANSPORT:IP:PORT")]
    pub listen: Option<crate::net::Listen>,
    /// The server's domain: its local users are in it [default: im.example.net].
    #[arg(long)]
    pub domain: Option<String>,
    /// The local users the server knows (the TOML `[users]` table of `imcpm serve --users`;
    /// AoRs in its domain): requests go to or come from them instead of made-up users. At
    /// level 1 its IM clients; at level 2 both kinds, each needed. Not with --population.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Made-up local users the requests go to or come from (`user0@DOMAIN` ...; at level 2
    /// every other one a CPM client, registered first), each with its remote peer [default:
    /// 100]. Not with --users.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000), conflicts_with = "users")]
    pub population: Option<u64>,
    /// The services offered and their weights, `NAME=WEIGHT,...` from pager, imdn, lmm, ft,
    /// session and group (a remote conference focus inviting a local user; at level 2 also a
    /// local CPM client starting a group at a remote conference factory).
    #[arg(long, value_name = "NAME=W,...", default_value = "pager=60,imdn=20,lmm=5,ft=5,session=5,group=5", value_parser = parse_mix)]
    pub mix: Mix,
    /// Initial requests offered per second, on an open-loop schedule.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,
    /// Step the rate from FROM to TO by STEP per second (`--duration` each step), stopping
    /// after the first step that is not clean (a failing result, an unanswered request, or p99
    /// latency over --max-p99); the report names the last clean step. Replaces --rate.
    #[arg(long, value_name = "FROM:TO:STEP", value_parser = parse_ramp, conflicts_with = "rate")]
    pub ramp: Option<(u32, u32, u32)>,
    /// A step whose p99 latency (scheduled send to final response) is above this is not clean.
    #[arg(long, value_name = "MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub max_p99: u64,
    /// How long to offer them, or each step of a ramp (`30s`, `2m`; whole seconds, at most
    /// 1 h). Each step then waits for its last transactions, at most 64·T1 (32 s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: std::time::Duration,
    /// Receive buffer asked for the harness's UDP socket (toward a UDP server), bytes, as for
    /// `imcpm serve --udp-rcvbuf` (`SO_RCVBUFFORCE` when privileged, else capped by the kernel).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub udp_rcvbuf: usize,
    /// Where the reports go. The report files of an earlier run there (a report.json) are moved
    /// aside first: to `previous` beside a directory named `latest` (the default:
    /// reports/previous), else to `DIR.previous`, replacing an earlier run's there. Other files
    /// in DIR are left alone.
    #[arg(long, default_value = "reports/latest")]
    pub report_dir: PathBuf,
    /// What goes to stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Results listed in full per requirement and verdict; every result is counted.
    #[arg(long, default_value_t = crate::report::aggregate::DEFAULT_KEEP, value_name = "N")]
    pub max_results: usize,
    /// INCONCLUSIVE fails the run too (exit 1): for CI, where a requirement that could not be
    /// judged must not pass unnoticed.
    #[arg(long)]
    pub strict: bool,
}

/// `--mix`: services and their weights.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(Service, u32)>);

fn parse_mix(s: &str) -> Result<Mix, String> {
    let mut out: Vec<(Service, u32)> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let part_q = escape(part);
        let (name, w) = part.split_once('=').ok_or_else(|| format!("`{part_q}` is not NAME=WEIGHT"))?;
        let name = name.trim();
        let Some(svc) = Service::from_name(name) else {
            return Err(format!("`{}` is not a service: pager, imdn, lmm, ft, session or group", escape(name)));
        };
        let w: u32 = w.trim().parse().map_err(|_| format!("`{part_q}`: the weight is a whole number"))?;
        if w > 1000 {
            return Err(format!("`{part_q}`: weights up to 1000"));
        }
        if out.iter().any(|(o, _)| *o == svc) {
            return Err(format!("`{}` is given twice", escape(name)));
        }
        if w > 0 {
            out.push((svc, w));
        }
    }
    if out.is_empty() {
        return Err("no service with a weight above 0".into());
    }
    Ok(Mix(out))
}

fn parse_ramp(s: &str) -> Result<(u32, u32, u32), String> {
    let bad =
        || format!("`{}` is not FROM:TO:STEP (rates per second, FROM <= TO, STEP > 0, at most 100 steps)", escape(s));
    let v: Vec<u32> = s.split(':').map(|x| x.trim().parse::<u32>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    match v[..] {
        [from, to, step] if from >= 1 && from <= to && step > 0 && to <= 100_000 && (to - from) / step < 100 => {
            Ok((from, to, step))
        }
        _ => Err(bad()),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::scenario::model::parse_duration(s)
        .ok_or_else(|| format!("`{}` is not a duration like `30s` or `2m`", escape(s)))?;
    if d.as_secs() == 0 || d.subsec_nanos() != 0 || d.as_secs() > 3600 {
        return Err(format!("`{}`: whole seconds from 1 s to 1 h", escape(s)));
    }
    Ok(d)
}

/// What a run is against: the flags, with a SUT config's values where they are not given.
struct Target {
    sut: crate::net::Listen,
    listen: crate::net::Listen,
    level: Level,
    domain: String,
    users: LocalUsers,
    route_set: bool,
}

/// The flags merged with the SUT config (the flags win, as in `imcpm run`), checked.
fn target(a: &Args) -> miette::Result<Target> {
    let config = match &a.sut_config {
        Some(p) => Some((p, crate::live::sutconfig::load(p)?)),
        None => None,
    };
    let named = |p: &PathBuf| format!("--sut-config {}", p.display());
    let sut = a.sut.or(config.as_ref().map(|(_, c)| c.sut)).ok_or_else(|| {
        miette::miette!(
            "--sut is missing: give --sut udp:IP:PORT or tcp:IP:PORT, or a --sut-config FILE that names the server"
        )
    })?;
    let level = a.level.or(config.as_ref().map(|(_, c)| c.level)).ok_or_else(|| {
        miette::miette!(
            "--level is missing: give --level 1|2 (the level the server implements), or a --sut-config FILE"
        )
    })?;
    let listen = a
        .listen
        .or(config.as_ref().and_then(|(_, c)| c.listen))
        .unwrap_or(crate::net::Listen { transport: sut.transport, addr: ([127, 0, 0, 1], 0).into() });
    if listen.transport != sut.transport {
        // Name where each came from: a flag, or the SUT config.
        let origin = |flag: bool, key: &str| match (&config, flag) {
            (Some((path, _)), false) => format!("`{key}` of {}", path.display()),
            _ => format!("--{key}"),
        };
        return Err(miette::miette!(
            "{} {listen} is over {} but {} {sut} is over {}: the harness listens over the server's transport",
            origin(a.listen.is_some(), "listen"),
            listen.transport,
            origin(a.sut.is_some(), "sut"),
            sut.transport
        ));
    }
    let domain = super::run::server_domain(a.domain.as_deref(), config.as_ref().map(|(_, c)| c.domain.as_str()))?;
    let route_set = config.as_ref().is_none_or(|(_, c)| c.route_set);
    if let (Some((p, c)), Some(flag)) = (&config, a.listen) {
        // With next-hop routing the server sends everything to the config's `listen`: the
        // harness must be there.
        if let (false, Some(fixed)) = (c.route_set, c.listen) {
            if fixed != flag {
                return Err(miette::miette!(
                    "--listen {flag}: {} routes next-hop, so the server sends everything to its `listen` ({fixed}), where the harness must listen; leave out --listen",
                    named(p)
                ));
            }
        }
    }
    if let Some((p, c)) = &config {
        if !c.deviations.is_empty() {
            super::term::err(&format!(
                "note: {}: its {} known deviation(s) are not applied by load: every result is reported as judged\n",
                named(p),
                c.deviations.len()
            ));
        }
    }
    // The users: --users, else the SUT config's pool, else made up (--population).
    let (users, from) = match (&a.users, &config) {
        (Some(p), _) => {
            let pool = super::run::read_pool(p, &domain)?;
            (Some(pool), format!("--users {}", p.display()))
        }
        (None, Some((p, c))) if !c.users.is_empty() => {
            if let Some(n) = a.population {
                return Err(miette::miette!(
                    "--population {n} with {}, whose pool gives the local users: leave out --population, or give --users",
                    named(p)
                ));
            }
            super::run::pool_in_domain(&c.users, p, &domain)?;
            (Some(c.users.clone()), named(p))
        }
        _ => (None, String::new()),
    };
    let users = match users {
        Some(pool) => LocalUsers::Listed(pool.into_iter().map(|u| (u.aor, u.kind)).collect()),
        None => LocalUsers::Generated(usize::try_from(a.population.unwrap_or(100)).unwrap_or(usize::MAX)),
    };
    if let Some(why) = users.unusable(level) {
        return Err(miette::miette!("{from}: {why}"));
    }
    if let (Level::One, LocalUsers::Listed(list)) = (level, &users) {
        let cpm = list.iter().filter(|(_, k)| *k == crate::base::ClientKind::Cpm).count();
        if cpm > 0 {
            super::term::err(&format!(
                "note: {from}: its {cpm} CPM client(s) are not local users at level 1 (a level-1 server serves no local CPM client); the requests go to its {} IM client(s)\n",
                list.len() - cpm
            ));
        }
    }
    // The judge keeps the registrations of at most this many users (check-pcap's window).
    let max = crate::check::capture::Window::default().max_users;
    let count = match &users {
        LocalUsers::Generated(n) => *n,
        LocalUsers::Listed(l) => l.len(),
    };
    if level == Level::Two && count > max {
        let what = if from.is_empty() { format!("--population {count}") } else { format!("{from}: {count} users") };
        return Err(miette::miette!(
            "{what} at --level 2: at most {max}, each user registered and its kind kept for the whole run"
        ));
    }
    Ok(Target { sut, listen, level, domain, users, route_set })
}

/// Run `imcpm load`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let t = target(&a)?;
    write::check_report_dir(&a.report_dir).map_err(|e| miette::miette!("--report-dir {e}"))?;
    let started = std::time::SystemTime::now();
    let wall = std::time::Instant::now();
    let o = LoadOptions {
        sut: t.sut.addr,
        transport: t.sut.transport,
        listen: t.listen.addr,
        level: t.level,
        domain: t.domain.clone(),
        users: t.users.clone(),
        route_set: t.route_set,
        steps: match a.ramp {
            Some((from, to, step)) => {
                (from..=to).step_by(step as usize).map(|rate| Step { rate, duration: a.duration }).collect()
            }
            None => vec![Step { rate: a.rate, duration: a.duration }],
        },
        mix: a.mix.0.clone(),
        udp_rcvbuf: a.udp_rcvbuf,
        keep: a.max_results,
        ramp: a.ramp.is_some(),
        max_p99: std::time::Duration::from_millis(a.max_p99),
    };
    let tty = std::io::stderr().is_terminal();
    let mut progress = |p: &Progress| {
        let line = progress_line(p);
        if tty {
            super::term::err(&format!("\r{line}\x1b[K"));
        } else {
            super::term::err(&format!("{line}\n"));
        }
    };
    let outcome = run_load(&o, &mut progress).map_err(|e| miette::miette!("load: {e}"))?;
    if tty {
        super::term::err("\n");
    }
    let v = &outcome.verdicts;
    let mut r = RunReport::aggregated(
        RunInfo::new(
            format!("load: {}", t.sut),
            t.sut.transport.as_str().to_ascii_lowercase(),
            vec![t.level],
            Vec::new(),
        ),
        &v.aggregate,
    );
    r.flows = v.flows.clone();
    r.load = Some(outcome.stats.clone());
    write::stamp(&mut r, started, wall.elapsed(), false);
    r.run.strict = a.strict;
    write::write_reports(&a.report_dir, &r).map_err(|e| miette::miette!("{e}"))?;
    let text = match a.format {
        Format::Json => report::json::to_json(&r),
        Format::Markdown => report::markdown::to_markdown(&r),
        Format::Text => text(&a, &r, &outcome.stats, super::color(std::io::stdout().is_terminal())),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    let unsent = outcome.stats.totals.unsent;
    if unsent > 0 {
        // Requests that never reached the server have no verdict: the run cannot pass.
        super::term::err(&format!(
            "load: {unsent} request(s) could not be sent to {} (no connection to it could be made, or its write queue was full), so they were not judged (ERROR results); the run fails\n",
            a_sut(&r)
        ));
    }
    Ok(if r.failing_strict(a.strict) || unsent > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The server as the report names it.
fn a_sut(r: &RunReport) -> String {
    r.load.as_ref().map_or_else(String::new, |l| l.sut.clone())
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

fn progress_line(p: &Progress) -> String {
    format!(
        "{:>5.0} s  offered {}/s  achieved {}/s  sent {}  answered {}  unanswered {}  in flight {}  p50 {}  p99 {}",
        p.elapsed_s,
        p.rate,
        p.answered_last_s,
        p.totals.sent,
        p.totals.answered,
        p.totals.unanswered,
        p.in_flight,
        ms(p.latency.p50_us),
        ms(p.latency.p99_us)
    )
}

fn latency_line(what: &str, p: &Percentiles) -> String {
    format!(
        "{what}: p50 {}, p90 {}, p99 {}, p99.9 {}, max {} ({} samples)\n",
        ms(p.p50_us),
        ms(p.p90_us),
        ms(p.p99_us),
        ms(p.p999_us),
        ms(p.max_us),
        p.count
    )
}

fn text(a: &Args, r: &RunReport, s: &LoadStats, color: bool) -> String {
    let mut out = report::text::aggregate_text(r, color);
    let t = &s.totals;
    let schedule = match a.ramp {
        Some((from, to, step)) => {
            format!("a ramp from {from}/s to {to}/s by {step}, {} s each step", a.duration.as_secs())
        }
        None => format!("{}/s for {} s", a.rate, a.duration.as_secs()),
    };
    out.push_str(&format!(
        "\nOffered {} requests ({schedule}) to {} over {}: sent {}, answered {} ({} not 2xx), unanswered {}, retransmitted {}; {} messages judged; {}.\n",
        t.offered,
        s.sut,
        s.transport.to_ascii_uppercase(),
        t.sent,
        t.answered,
        t.rejected,
        t.unanswered,
        t.retransmissions,
        s.messages,
        s.transport_note()
    ));
    for (i, st) in s.steps.iter().enumerate() {
        out.push_str(&format!(
            "step {}: {}/s, achieved {:.0}/s, {} failing results, {} unanswered, p99 {}: {}\n",
            i + 1,
            st.rate,
            st.achieved,
            st.failing,
            st.counts.unanswered,
            ms(st.latency.p99_us),
            if st.clean { "clean" } else { "not clean" }
        ));
    }
    if a.ramp.is_some() {
        out.push_str(&match s.last_clean_rate {
            Some(r) if s.steps.iter().all(|x| x.clean) => format!(
                "Highest clean rate: {r}/s (p99 within {} ms), the ramp's top: every step was clean; ramp higher to find the limit\n",
                s.max_p99_ms
            ),
            Some(r) => format!("Highest clean rate: {r}/s (p99 within {} ms)\n", s.max_p99_ms),
            None => "No clean step: the first step was not clean.\n".to_string(),
        });
    }
    for (svc, p) in &s.latency {
        out.push_str(&latency_line(&format!("{svc}, scheduled send to final response"), p));
    }
    for (svc, p) in &s.egress_latency {
        out.push_str(&latency_line(&format!("{svc}, harness send to server egress"), p));
    }
    let counts: Vec<String> = r.summary.iter().filter(|(_, n)| **n > 0).map(|(v, n)| format!("{n} {v}")).collect();
    out.push_str(&format!(
        "Results: {}\nReports in {}\n",
        if counts.is_empty() { "none".to_string() } else { counts.join(", ") },
        super::term::path(&a.report_dir)
    ));
    out
}
