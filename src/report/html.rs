//! report.html: one self-contained page (inline CSS, JS and SVG; nothing fetched) rendered with
//! minijinja from `templates/report.html`, auto-escaped as HTML. Header with run info, the
//! verdict badges (results per verdict) and the terminal's closing count of results; the
//! requirement x scenario grid coloured by verdict (rows scenario-levels, columns requirements,
//! see [`super::matrix`]), each cell linking to its section; the findings other than PASS, as
//! the terminal lists them; then per scenario-level its results and its message flow.
//!
//! Everything but the flows is plain HTML and needs no script. A flow (its ladder diagram and
//! every message's full text, with the rewritten lines highlighted and the lines findings point
//! at marked) is drawn by the page's script from compact data (`html/flows.rs`) when its section's
//! "message flow" is opened or a link points into it: drawn in advance, the flows of a whole
//! run made several megabytes.

mod flows;

use super::junit::folder;
use super::matrix::{Matrix, css_class, row_label, short, sorted};
use super::model::{ChangeKind, Flow, RunReport};
use super::{ResultItem, json::change_counts};
use crate::base::Level;
use crate::interop::finding::{Finding, Location, Verdict};
use flows::Hits;
use minijinja::value::Value;
use minijinja::{Environment, context};
use std::collections::{BTreeMap, BTreeSet};

const TEMPLATE: &str = include_str!("templates/report.html");
const SCRIPT: &str = include_str!("templates/report.js");

/// Key of a section: scenario and level.
type Key = (String, Level);

/// True for the findings the report lists under "Findings other than PASS": every verdict but
/// PASS and NOT-APPLICABLE, as the terminal lists them after a run ([`super::text::failures`]).
fn listed(v: Verdict) -> bool {
    !matches!(v, Verdict::Pass | Verdict::NotApplicable)
}

/// Anchor of a message of a section.
fn msg_anchor(section: usize, number: usize) -> String {
    format!("m{section}-{number}")
}

fn finding_value(f: &Finding, section: usize, numbers: &BTreeSet<usize>) -> Value {
    // Location.message is the message's number in the flow (a capture's frame number).
    let target = f.location.message.filter(|n| numbers.contains(n));
    context! {
        verdict => f.verdict.as_str(),
        cls => css_class(f.verdict),
        failing => f.verdict.is_failing(),
        requirement => f.requirement.as_str(),
        location => if f.location == Location::default() { String::new() } else { f.location.to_string() },
        expected => f.expected.as_str(),
        observed => f.observed.as_str(),
        href => target.map(|n| format!("#{}", msg_anchor(section, n))),
    }
}

/// Lines of each message that a non-PASS finding points at.
fn hits(results: &[&ResultItem]) -> Hits {
    let mut m = Hits::new();
    for f in results.iter().flat_map(|r| &r.findings).filter(|f| f.verdict != Verdict::Pass) {
        if let Some(i) = f.location.message {
            m.entry(i).or_default().insert(f.location.line.map(|l| l.saturating_sub(1)));
        }
    }
    m
}

/// What a result's PASS findings say: `3 findings, all PASS` or `1 finding, PASS` when they are
/// all it has, `and 3 PASS findings` below its other findings.
fn pass_count(n: usize, alone: bool) -> String {
    match (n, alone) {
        (1, true) => "1 finding, PASS".into(),
        (n, true) => format!("{n} findings, all PASS"),
        (1, false) => "and 1 PASS finding".into(),
        (n, false) => format!("and {n} PASS findings"),
    }
}

/// `1 finding`, `3 findings`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// `480 results from 62 runs of 43 scenarios: 2 NOT-APPLICABLE, 478 PASS`, the terminal's
/// closing count after `imcpm run`; a capture or a replay has no runs: `N results: ...`.
fn counts_line(r: &RunReport, total: usize) -> String {
    let counts: Vec<String> = r.summary.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
    let counts = if counts.is_empty() { "none".to_string() } else { counts.join(", ") };
    if r.capture.is_none() && r.replay.is_none() && r.load.is_none() {
        super::text::results_line(total, r.flows.len(), r.run.scenarios.len(), &counts)
    } else {
        format!("{total} results: {counts}")
    }
}

fn run_value(r: &RunReport) -> Value {
    let run = &r.run;
    let levels: Vec<String> = run.levels.iter().map(Level::to_string).collect();
    context! {
        tool => run.tool.as_str(),
        version => run.version.as_str(),
        sut => run.sut.as_str(),
        fault => run.fault.as_deref(),
        levels => levels.join(", "),
        transport => run.transport.as_str(),
        started => run.started.as_str(),
        duration_ms => run.duration_ms,
        scenario_files => run.scenarios.len(),
        schema_version => r.schema_version,
    }
}

fn grid(m: &Matrix, anchors: &BTreeMap<Key, String>) -> (Vec<Value>, Vec<Value>) {
    let columns: Vec<Value> = m
        .columns
        .iter()
        .map(|id| {
            let r = id.rule();
            let title = format!("{id} ({}): {}", r.clause, r.text);
            context! { id => id.as_str(), title => title }
        })
        .collect();
    let rows: Vec<Value> = m
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let first_of_folder = i > 0 && folder(&m.rows[i - 1].scenario) != folder(&row.scenario);
            let label = row_label(&row.scenario, row.level);
            let href = anchors.get(&(row.scenario.clone(), row.level)).map(|a| format!("#{a}"));
            let worst_v = row.cells.iter().flatten().copied().max();
            let cells: Vec<Value> = row
                .cells
                .iter()
                .zip(&m.columns)
                .map(|(c, id)| match c {
                    Some(v) => context! {
                        abbr => short(*v),
                        cls => css_class(*v),
                        title => format!("{label} · {id}: {v}"),
                    },
                    None => context! { abbr => "", cls => "" , title => "" },
                })
                .collect();
            context! {
                label => label,
                href => href,
                failing => worst_v.is_some_and(Verdict::is_failing),
                folder_start => first_of_folder,
                notable => worst_v.is_some_and(|v| v != Verdict::Pass),
                cells => cells,
            }
        })
        .collect();
    (columns, rows)
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// A load run's section: its totals, steps, latency, and a chart of it second by second.
fn load_value(l: &crate::report::load::LoadStats) -> Value {
    let summary = l.summary();
    let steps: Vec<Value> = l
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            context! {
                n => i + 1, rate => s.rate, seconds => s.duration_s, achieved => format!("{:.0}", s.achieved),
                answered => s.counts.answered, unanswered => s.counts.unanswered, failing => s.failing,
                p50 => ms(s.latency.p50_us), p99 => ms(s.latency.p99_us), max => ms(s.latency.max_us), clean => s.clean,
            }
        })
        .collect();
    let latency: Vec<Value> = [("scheduled send to final response", &l.latency), ("send to egress", &l.egress_latency)]
        .into_iter()
        .flat_map(|(what, list)| {
            list.iter().map(move |(svc, p)| {
                context! {
                    service => svc, what => what, count => p.count, p50 => ms(p.p50_us), p90 => ms(p.p90_us),
                    p99 => ms(p.p99_us), p999 => ms(p.p999_us), max => ms(p.max_us),
                }
            })
        })
        .collect();
    context! {
        summary => summary,
        steps => steps,
        latency => latency,
        last_clean_rate => l.last_clean_rate,
        max_p99_ms => l.max_p99_ms,
        chart => Value::from_safe_string(load_chart(l)),
    }
}

/// An inline SVG of the run second by second (by scheduled send time): requests answered per
/// second (bars) against those offered (grey line), p99 latency (red line, right axis), and
/// seconds with unanswered requests (red marks under the axis). Only numbers and fixed labels go
/// into it.
fn load_chart(l: &crate::report::load::LoadStats) -> String {
    use std::fmt::Write;
    let (w, h, left, right, top, bottom) = (760.0_f64, 220.0_f64, 56.0, 96.0, 12.0, 28.0);
    let n = l.seconds.len().max(1) as f64;
    let max_rate = l.seconds.iter().map(|s| s.counts.offered.max(s.counts.answered)).max().unwrap_or(0).max(1) as f64;
    let max_p99 = l.seconds.iter().map(|s| s.latency.p99_us).max().unwrap_or(0).max(1) as f64;
    let (pw, ph) = (w - left - right, h - top - bottom);
    let x = |i: f64| left + pw * i / n;
    let yr = |v: f64| top + ph * (1.0 - v / max_rate);
    let yl = |v: f64| top + ph * (1.0 - v / max_p99);
    let mut s = format!(
        "<svg class=\"loadchart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"requests per second and p99 latency, second by second\">"
    );
    let _ = write!(s, "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#ccc\"/>");
    let bw = (pw / n * 0.8).max(1.0);
    let mut offered = String::new();
    let mut p99 = String::new();
    for (i, sec) in l.seconds.iter().enumerate() {
        let c = &sec.counts;
        let xi = x(i as f64);
        let _ = write!(
            s,
            "<rect x=\"{xi:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#9cc3e6\"><title>{} s: {} offered, {} answered, {} unanswered, p99 {} ms</title></rect>",
            yr(c.answered as f64),
            top + ph - yr(c.answered as f64),
            sec.at_s,
            c.offered,
            c.answered,
            c.unanswered,
            ms(sec.latency.p99_us)
        );
        let xm = xi + bw / 2.0;
        let _ = write!(offered, "{}{xm:.1},{:.1}", if i == 0 { "M" } else { " L" }, yr(c.offered as f64));
        let _ = write!(p99, "{}{xm:.1},{:.1}", if i == 0 { "M" } else { " L" }, yl(sec.latency.p99_us as f64));
        if c.unanswered > 0 {
            let _ = write!(
                s,
                "<rect x=\"{xi:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"6\" fill=\"#c0392b\"/>",
                top + ph + 2.0
            );
        }
    }
    let _ = write!(s, "<path d=\"{offered}\" fill=\"none\" stroke=\"#777\" stroke-dasharray=\"4 3\"/>");
    let _ = write!(s, "<path d=\"{p99}\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\"/>");
    let _ = write!(
        s,
        "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\" font-size=\"11\">{max_rate:.0}/s</text><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\" font-size=\"11\">0</text>",
        left - 4.0,
        top + 10.0,
        left - 4.0,
        top + ph
    );
    let _ = write!(
        s,
        "<text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\" fill=\"#c0392b\">p99 {} ms</text>",
        w - right + 4.0,
        top + 10.0,
        ms(max_p99 as u64)
    );
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{:.0}\" font-size=\"11\">0 s</text><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\" font-size=\"11\">{} s</text></svg>",
        h - 4.0,
        w - right,
        h - 4.0,
        l.seconds.len()
    );
    s
}

/// report.html.
pub fn to_html(r: &RunReport) -> String {
    let results = sorted(&r.results);
    // Sections: every scenario-level with results or a flow, in stable order.
    let mut keys: BTreeSet<Key> = results.iter().map(|x| (x.scenario.clone(), x.level)).collect();
    keys.extend(r.flows.iter().map(|f| (f.scenario.clone(), f.level)));
    let anchors: BTreeMap<Key, String> = keys.iter().enumerate().map(|(i, k)| (k.clone(), format!("s{i}"))).collect();
    let flows: BTreeMap<Key, &Flow> = r.flows.iter().map(|f| ((f.scenario.clone(), f.level), f)).collect();

    let mut listed_findings: Vec<Value> = Vec::new();
    let mut listed_results = 0;
    let mut sections: Vec<Value> = Vec::new();
    let mut hits: Vec<Hits> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let mine: Vec<&ResultItem> =
            results.iter().copied().filter(|x| x.scenario == key.0 && x.level == key.1).collect();
        let flow = flows.get(key).copied();
        let numbers: BTreeSet<usize> = flow.map(|f| f.messages.iter().map(|m| m.number).collect()).unwrap_or_default();
        hits.push(self::hits(&mine));
        let label = row_label(&key.0, key.1);
        let items: Vec<Value> = mine
            .iter()
            .map(|x| {
                let notable: Vec<Value> = x
                    .findings
                    .iter()
                    .filter(|f| f.verdict != Verdict::Pass)
                    .map(|f| finding_value(f, i, &numbers))
                    .collect();
                let mut any = false;
                for f in x.findings.iter().filter(|f| listed(f.verdict)) {
                    let v = finding_value(f, i, &numbers);
                    listed_findings.push(context! {
                        scenario => label.as_str(),
                        section => format!("#s{i}"),
                        clause => x.clause.as_str(),
                        ..v
                    });
                    any = true;
                }
                listed_results += usize::from(any);
                let passes = x.findings.iter().filter(|f| f.verdict == Verdict::Pass).count();
                context! {
                    requirement => x.requirement.as_str(),
                    clause => x.clause.as_str(),
                    verdict => x.verdict.as_str(),
                    cls => css_class(x.verdict),
                    passes => (passes > 0).then(|| pass_count(passes, notable.is_empty())),
                    findings => notable,
                }
            })
            .collect();
        let worst_v = mine.iter().map(|x| x.verdict).max();
        sections.push(context! {
            anchor => format!("s{i}"),
            index => i,
            label => label,
            verdict => worst_v.map(Verdict::as_str),
            cls => worst_v.map(css_class),
            results => items,
            messages => flow.map(|f| f.messages.len()),
            // A flow a listed finding points into is open (and drawn) from the start.
            open => mine.iter().flat_map(|x| &x.findings).any(|f| listed(f.verdict) && f.location.message.is_some()),
            nodes => flow.map(|f| f.nodes.join(" · ")),
        });
    }
    let flow_data =
        flows::data(&keys.iter().zip(&hits).map(|(k, h)| flows.get(k).map(|f| (*f, h))).collect::<Vec<_>>());

    let m = Matrix::of(&r.results);
    let (columns, rows) = grid(&m, &anchors);
    let badges: Vec<Value> = Verdict::ALL
        .iter()
        .map(|v| {
            let n = r.summary.get(v.as_str()).copied().unwrap_or(0);
            context! { name => v.as_str(), count => n, cls => css_class(*v) }
        })
        .collect();
    let change_rows: Vec<Value> = r
        .changes
        .iter()
        .filter(|c| c.change != ChangeKind::Unchanged)
        .map(|c| {
            context! {
                kind => c.change.as_str(),
                label => row_label(&c.scenario, c.level),
                href => anchors.get(&(c.scenario.clone(), c.level)).map(|a| format!("#{a}")),
                requirement => c.requirement.as_str(),
                before => c.before.as_deref().unwrap_or("-"),
                after => if c.after.is_empty() { "-" } else { c.after.as_str() },
            }
        })
        .collect();
    let change_summary: Vec<Value> =
        change_counts(&r.changes).into_iter().map(|(k, n)| context! { kind => k.as_str(), count => n }).collect();
    let not_exercised: Vec<&str> = m.not_exercised().iter().map(|id| id.as_str()).collect();
    let failing = r.exit_status() != 0;
    let (not_exercised, counts): (Vec<&str>, Vec<Value>) = match &r.aggregate {
        Some(a) => (
            a.coverage.not_exercised.iter().map(|id| id.as_str()).collect(),
            a.requirements
                .iter()
                .map(|c| {
                    let text: Vec<String> = c.counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
                    context! {
                        requirement => c.requirement.as_str(),
                        verdict => c.verdict.as_str(),
                        cls => css_class(c.verdict),
                        counts => text.join(", "),
                    }
                })
                .collect(),
        ),
        None => (not_exercised, Vec::new()),
    };
    let left_out = r.aggregate.as_ref().filter(|a| a.left_out > 0).map(|a| {
        format!(
            "{} results counted; the first {} of each requirement and verdict are listed, {} more counted only.",
            a.results, a.kept_per_kind, a.left_out
        )
    });
    let notes: Vec<String> = r.capture.as_ref().map(|c| c.notes()).unwrap_or_default();
    let total = r.aggregate.as_ref().map_or(r.results.len(), |a| a.results);
    let findings_line = format!("{} in {}", plural(listed_findings.len(), "finding"), plural(listed_results, "result"));

    let ctx = context! {
        run => run_value(r),
        failing => failing,
        total => total,
        counts => counts,
        left_out => left_out,
        notes => notes,
        badges => badges,
        columns => columns,
        rows => rows,
        not_exercised => not_exercised,
        findings => listed_findings,
        findings_line => findings_line,
        counts_line => counts_line(r, total),
        flow_data => flow_data,
        script => SCRIPT,
        compared => !r.changes.is_empty(),
        change_summary => change_summary,
        changes => change_rows,
        sections => sections,
        load => r.load.as_ref().map(load_value),
    };
    let mut env = Environment::new();
    // Invariant: the template and this syntax are constants of this crate, checked by the
    // report tests; a syntax or render error in them is a bug of ours.
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.add_template("report.html", TEMPLATE).expect("report.html template parses");
    env.get_template("report.html").and_then(|t| t.render(ctx)).expect("report.html template renders")
}
