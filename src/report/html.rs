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
    if r.capture.is_none() && r.replay.is_none() {
        format!("{total} results from {} runs of {} scenarios: {counts}", r.flows.len(), r.run.scenarios.len())
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
    let failing = r.failing();
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
