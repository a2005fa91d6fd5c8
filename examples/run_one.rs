//! Run one scenario file at one level against the embedded reference server and print its
//! results: `cargo run --example run_one -- scenarios/t1/pager.toml 1`.

// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::interop::finding::Verdict;
use imcpm::scenario::{RunOptions, Scenario, run_scenario};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    print!("{}", output(&args, std::env::var_os("RENDER").is_some(), std::env::var_os("TRACE").is_some()));
}

/// What `run_one ARGS` prints: the results, then with `render` the ladder and with `trace`
/// every packet (numbered from 1, as the ladders and reports number messages).
/// tests/it/doc_examples.rs calls it with the arguments docs/scenarios.md gives.
pub(crate) fn output(args: &[String], render: bool, trace: bool) -> String {
    use std::fmt::Write;
    let path = args.first().map_or("scenarios/t1/pager.toml", |s| s.as_str());
    let level = args
        .get(1)
        .and_then(|l| l.parse().ok())
        .and_then(imcpm::base::Level::from_number)
        .unwrap_or(imcpm::base::Level::One);
    let text = std::fs::read_to_string(path).expect("readable scenario file");
    let s = Scenario::parse(path, Path::new(path), &text).expect("valid scenario");
    let run = run_scenario(&s, level, &RunOptions::default());
    let mut out = String::new();
    for r in &run.results {
        writeln!(out, "{:<20} {}", r.requirement, r.verdict).unwrap();
        for f in r.findings.iter().filter(|f| f.verdict != Verdict::Pass) {
            writeln!(out, "    {} at {}: expected {} / observed {}", f.verdict, f.location, f.expected, f.observed)
                .unwrap();
        }
    }
    if render {
        writeln!(out, "{}", imcpm::scenario::render::render(&run, &s.title)).unwrap();
    }
    if trace {
        for (i, o) in run.trace.events.iter().enumerate() {
            let name = |a| run.names.iter().find(|(x, _)| *x == a).map_or("?".to_string(), |(_, n)| n.clone());
            writeln!(
                out,
                "#{} {} -> {}: {}",
                i + 1,
                name(o.packet.from),
                name(o.packet.to),
                String::from_utf8_lossy(&o.packet.bytes).lines().next().unwrap_or("")
            )
            .unwrap();
        }
    }
    out
}
