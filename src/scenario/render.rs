//! A scenario run rendered for people and for snapshots: a numbered ladder of who sent what to
//! whom, then each message through the IM server as a line diff against what entered it, then the
//! verdict table. Also the [`Flow`] the HTML report draws.

use super::run::ScenarioRun;
use crate::base::ClientKind;
use crate::interop::finding::Verdict;
use crate::report::model::{Flow, FlowMessage};
pub use crate::report::{diff, lines};
use std::fmt::Write;
use std::net::SocketAddr;

fn name(run: &ScenarioRun, a: SocketAddr) -> String {
    run.names.iter().find(|(x, _)| *x == a).map_or_else(|| a.to_string(), |(_, n)| n.clone())
}

/// The text rendering snapshotted for every scenario.
pub fn render(run: &ScenarioRun, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} at level {}: {title}\n", run.scenario, run.level);
    let _ = writeln!(s, "Flow");
    for (i, o) in run.trace.events.iter().enumerate() {
        let first = String::from_utf8_lossy(&o.packet.bytes).lines().next().unwrap_or("").to_string();
        let _ = writeln!(
            s,
            "{:>4}  {:>8.3}s  {:<12} -> {:<12} {}  {first}",
            i + 1,
            o.time.0 as f64 / 1e6,
            name(run, o.packet.from),
            name(run, o.packet.to),
            o.packet.transport
        );
    }
    let _ = writeln!(s, "\nThrough the IM server");
    for p in &run.pairs {
        let ing = &run.trace.events[p.ingress];
        let first = String::from_utf8_lossy(&ing.packet.bytes).lines().next().unwrap_or("").to_string();
        match (p.egress, p.response) {
            (Some(e), _) => {
                let _ = writeln!(
                    s,
                    "  #{} -> #{}  {first}  ({}, {})",
                    p.ingress + 1,
                    e + 1,
                    p.case.as_str(),
                    p.client.map_or("unknown client", |c| match c {
                        ClientKind::Im => "IM client",
                        ClientKind::Cpm => "CPM client",
                    })
                );
                let d = diff(&lines(&ing.packet.bytes), &lines(&run.trace.events[e].packet.bytes));
                for (mark, l) in d.iter().filter(|(m, _)| *m != ' ') {
                    let _ = writeln!(s, "      {mark} {l}");
                }
            }
            (None, Some(r)) => {
                let st =
                    String::from_utf8_lossy(&run.trace.events[r].packet.bytes).lines().next().unwrap_or("").to_string();
                let _ = writeln!(s, "  #{} -> answered #{}: {st}  ({first})", p.ingress + 1, r + 1);
            }
            (None, None) => {
                let _ = writeln!(s, "  #{} -> nothing  ({first})", p.ingress + 1);
            }
        }
    }
    let _ = writeln!(s, "\nVerdicts");
    for r in &run.results {
        let counts: Vec<String> = Verdict::ALL
            .iter()
            .filter_map(|v| {
                let n = r.findings.iter().filter(|f| f.verdict == *v).count();
                (n > 0).then(|| format!("{n} {v}"))
            })
            .collect();
        let _ = writeln!(s, "  {:<20} {:<14} {}", r.requirement, r.verdict.as_str(), counts.join(", "));
        for f in r.findings.iter().filter(|f| f.verdict != Verdict::Pass) {
            let _ = writeln!(
                s,
                "      {} at {}\n        expected: {}\n        observed: {}",
                f.verdict, f.location, f.expected, f.observed
            );
        }
    }
    s
}

/// The flow of a run, for the HTML ladder.
pub fn flow(run: &ScenarioRun) -> Flow {
    let mut nodes: Vec<String> = Vec::new();
    for o in &run.trace.events {
        for n in [name(run, o.packet.from), name(run, o.packet.to)] {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
    }
    let messages = run
        .trace
        .events
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let text = String::from_utf8_lossy(&o.packet.bytes).replace("\r\n", "\n");
            let pair = run.pairs.iter().find(|p| p.egress == Some(i));
            let changed_lines = pair
                .map(|p| {
                    let d = diff(&lines(&run.trace.events[p.ingress].packet.bytes), &lines(&o.packet.bytes));
                    d.iter()
                        .filter(|(m, _)| *m != '-')
                        .enumerate()
                        .filter(|(_, (m, _))| *m == '+')
                        .map(|(k, _)| k)
                        .collect()
                })
                .unwrap_or_default();
            FlowMessage {
                number: i + 1,
                time_ms: o.time.as_millis(),
                from: name(run, o.packet.from),
                to: name(run, o.packet.to),
                transport: o.packet.transport.as_str().to_string(),
                summary: text.lines().next().unwrap_or("").to_string(),
                text,
                from_ingress: pair.map(|p| p.ingress + 1),
                changed_lines,
            }
        })
        .collect();
    Flow { scenario: run.scenario.clone(), level: run.level, nodes, messages }
}
