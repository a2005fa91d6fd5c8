//! report.html: one self-contained page (inline CSS, JS and SVG; nothing fetched) rendered with
//! minijinja from `templates/report.html`, auto-escaped as HTML. Header with run info and
//! verdict badges; the requirement x scenario grid coloured by verdict (rows scenario-levels,
//! columns requirements, see [`super::matrix`]), each cell linking to its section; the failures;
//! then per scenario-level its results and a ladder diagram of its flow, every arrow linking to
//! the message's full text with the rewritten lines highlighted and the lines findings point
//! at marked.
//!
//! All geometry is computed here; the template only places numbers and escaped text.

use super::junit::folder;
use super::matrix::{Matrix, css_class, row_label, short, sorted};
use super::model::{ChangeKind, Flow, FlowMessage, RunReport};
use super::{ResultItem, json::change_counts};
use crate::base::Level;
use crate::interop::finding::{Finding, Location, Verdict};
use minijinja::value::Value;
use minijinja::{Environment, context};
use std::collections::{BTreeMap, BTreeSet};

const TEMPLATE: &str = include_str!("templates/report.html");

/// Ladder geometry, in SVG user units (pixels).
mod geo {
    /// Left margin holding the time column.
    pub(super) const LEFT: u32 = 64;
    /// Distance between lifelines.
    pub(super) const COL: u32 = 230;
    /// Top of the node boxes.
    pub(super) const TOP: u32 = 8;
    /// Height of the node boxes.
    pub(super) const BOX_H: u32 = 26;
    /// y of the first arrow.
    pub(super) const FIRST: u32 = TOP + BOX_H + 30;
    /// Distance between arrows.
    pub(super) const ROW: u32 = 32;
    /// Width of one label character (11px monospace).
    pub(super) const CHAR_W: f32 = 6.7;
    /// Width of a self-message loop.
    pub(super) const LOOP_W: u32 = 28;
}

/// Key of a section: scenario and level.
type Key = (String, Level);

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The start line without the protocol version: `INVITE sip:bob@b`, `200 OK`.
fn short_summary(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix("SIP/2.0 ").or_else(|| s.strip_suffix(" SIP/2.0")).unwrap_or(s)
}

fn is_response(m: &FlowMessage) -> bool {
    m.summary.trim_start().starts_with("SIP/")
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
        requirement => f.requirement.as_str(),
        location => if f.location == Location::default() { String::new() } else { f.location.to_string() },
        expected => f.expected.as_str(),
        observed => f.observed.as_str(),
        href => target.map(|n| format!("#{}", msg_anchor(section, n))),
    }
}

/// Lines of each message that a non-PASS finding points at: message number -> 0-based lines.
/// A finding without a line marks the whole message (`None` in the set).
fn hits(results: &[&ResultItem]) -> BTreeMap<usize, BTreeSet<Option<usize>>> {
    let mut m: BTreeMap<usize, BTreeSet<Option<usize>>> = BTreeMap::new();
    for f in results.iter().flat_map(|r| &r.findings).filter(|f| f.verdict != Verdict::Pass) {
        if let Some(i) = f.location.message {
            m.entry(i).or_default().insert(f.location.line.map(|l| l.saturating_sub(1)));
        }
    }
    m
}

fn ladder(flow: &Flow, section: usize, hit: &BTreeMap<usize, BTreeSet<Option<usize>>>) -> Value {
    let mut nodes: Vec<&str> = flow.nodes.iter().map(String::as_str).collect();
    for m in &flow.messages {
        for n in [m.from.as_str(), m.to.as_str()] {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
    }
    let x = |name: &str| {
        let i = nodes.iter().position(|n| *n == name).unwrap_or(0) as u32;
        geo::LEFT + geo::COL / 2 + i * geo::COL
    };
    let lifelines: Vec<Value> = nodes
        .iter()
        .map(|n| {
            context! {
                x => x(n),
                box_x => x(n) - geo::COL / 2 + 8,
                label => truncate(n, ((geo::COL - 24) as f32 / geo::CHAR_W) as usize),
                name => *n,
            }
        })
        .collect();
    let arrows: Vec<Value> = flow
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let y = geo::FIRST + i as u32 * geo::ROW;
            let (x1, x2) = (x(&m.from), x(&m.to));
            let full = format!("#{} {}", m.number, short_summary(&m.summary));
            let mut cls = vec![if is_response(m) { "resp" } else { "req" }];
            if !m.changed_lines.is_empty() {
                cls.push("rw");
            }
            if hit.contains_key(&m.number) {
                cls.push("bad");
            }
            let title = format!("#{} {} ms {} → {} {}: {}", m.number, m.time_ms, m.from, m.to, m.transport, m.summary);
            let common = context! {
                y => y,
                time => format!("{} ms", m.time_ms),
                href => format!("#{}", msg_anchor(section, m.number)),
                cls => cls.join(" "),
                title => title,
                transport => m.transport.as_str(),
            };
            if x1 == x2 {
                let w = geo::LOOP_W;
                let chars = ((geo::COL - w - 12) as f32 / geo::CHAR_W) as usize;
                return context! {
                    self_loop => true,
                    path => format!("M{x1} {y} h{w} v12 h-{w}"),
                    head => format!("{x1},{} {},{} {},{}", y + 12, x1 + 8, y + 8, x1 + 8, y + 16),
                    label => truncate(&full, chars),
                    label_x => x1 + w + 6,
                    label_y => y + 10,
                    anchor => "start",
                    ..common
                };
            }
            let span = x1.abs_diff(x2);
            let chars = ((span.saturating_sub(14)) as f32 / geo::CHAR_W) as usize;
            let head = if x2 > x1 {
                format!("{x2},{y} {},{} {},{}", x2 - 9, y - 4, x2 - 9, y + 4)
            } else {
                format!("{x2},{y} {},{} {},{}", x2 + 9, y - 4, x2 + 9, y + 4)
            };
            context! {
                self_loop => false,
                x1 => x1,
                x2 => x2,
                hit_x => x1.min(x2),
                hit_w => span,
                head => head,
                label => truncate(&full, chars.max(4)),
                label_x => (x1 + x2) / 2,
                label_y => y - 6,
                anchor => "middle",
                ..common
            }
        })
        .collect();
    let n = flow.messages.len() as u32;
    context! {
        width => geo::LEFT + nodes.len() as u32 * geo::COL + 10,
        height => geo::FIRST + n * geo::ROW,
        bottom => geo::FIRST + n.saturating_sub(1) * geo::ROW + 14,
        box_top => geo::TOP,
        box_h => geo::BOX_H,
        box_w => geo::COL - 16,
        lifeline_top => geo::TOP + geo::BOX_H,
        lifelines => lifelines,
        arrows => arrows,
    }
}

fn messages(flow: &Flow, section: usize, hit: &BTreeMap<usize, BTreeSet<Option<usize>>>) -> Vec<Value> {
    flow.messages
        .iter()
        .map(|m| {
            let marks = hit.get(&m.number);
            // A final line break ends the last line; it does not start another.
            let text = m.text.strip_suffix('\n').unwrap_or(&m.text);
            let lines: Vec<Value> = text
                .split('\n')
                .enumerate()
                .map(|(i, text)| {
                    let mut cls = Vec::new();
                    if m.changed_lines.contains(&i) {
                        cls.push("chg");
                    }
                    if marks.is_some_and(|s| s.contains(&Some(i))) {
                        cls.push("hit");
                    }
                    context! { text => text, cls => cls.join(" ") }
                })
                .collect();
            context! {
                anchor => msg_anchor(section, m.number),
                number => m.number,
                time => m.time_ms,
                from => m.from.as_str(),
                to => m.to.as_str(),
                transport => m.transport.as_str(),
                summary => m.summary.as_str(),
                ingress => m.from_ingress.map(|k| format!("#{}", msg_anchor(section, k))),
                ingress_number => m.from_ingress,
                changed => m.changed_lines.len(),
                flagged => marks.is_some(),
                lines => lines,
            }
        })
        .collect()
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

    let mut failures: Vec<Value> = Vec::new();
    let mut sections: Vec<Value> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let mine: Vec<&ResultItem> =
            results.iter().copied().filter(|x| x.scenario == key.0 && x.level == key.1).collect();
        let flow = flows.get(key).copied();
        let numbers: BTreeSet<usize> = flow.map(|f| f.messages.iter().map(|m| m.number).collect()).unwrap_or_default();
        let hit = hits(&mine);
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
                if x.verdict.is_failing() {
                    for f in x.findings.iter().filter(|f| f.verdict.is_failing()) {
                        let mut v = finding_value(f, i, &numbers);
                        v = context! { scenario => label.as_str(), section => format!("#s{i}"), ..v };
                        failures.push(v);
                    }
                }
                context! {
                    requirement => x.requirement.as_str(),
                    clause => x.clause.as_str(),
                    verdict => x.verdict.as_str(),
                    cls => css_class(x.verdict),
                    count => x.findings.len(),
                    findings => notable,
                }
            })
            .collect();
        let worst_v = mine.iter().map(|x| x.verdict).max();
        sections.push(context! {
            anchor => format!("s{i}"),
            label => label,
            verdict => worst_v.map(Verdict::as_str),
            cls => worst_v.map(css_class),
            results => items,
            ladder => flow.map(|f| ladder(f, i, &hit)),
            messages => flow.map(|f| messages(f, i, &hit)),
            nodes => flow.map(|f| f.nodes.join(" · ")),
        });
    }

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

    let ctx = context! {
        run => run_value(r),
        failing => failing,
        total => r.aggregate.as_ref().map_or(r.results.len(), |a| a.results),
        counts => counts,
        left_out => left_out,
        notes => notes,
        badges => badges,
        columns => columns,
        rows => rows,
        not_exercised => not_exercised,
        failures => failures,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_drop_the_version() {
        assert_eq!(short_summary("INVITE sip:b@x SIP/2.0"), "INVITE sip:b@x");
        assert_eq!(short_summary("SIP/2.0 200 OK"), "200 OK");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
