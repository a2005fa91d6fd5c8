//! Run one scenario file at one level against the embedded reference server and print its
//! results: `cargo run --example run_one -- scenarios/t1/pager.toml 1`.

// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::interop::finding::Verdict;
use imcpm::scenario::{RunOptions, Scenario, run_scenario};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("scenarios/t1/pager.toml", |s| s.as_str());
    let level = args
        .get(2)
        .and_then(|l| l.parse().ok())
        .and_then(imcpm::base::Level::from_number)
        .unwrap_or(imcpm::base::Level::One);
    let text = std::fs::read_to_string(path).expect("readable scenario file");
    let s = Scenario::parse(path, Path::new(path), &text).expect("valid scenario");
    let run = run_scenario(&s, level, &RunOptions::default());
    for r in &run.results {
        println!("{:<20} {}", r.requirement, r.verdict);
        for f in r.findings.iter().filter(|f| f.verdict != Verdict::Pass) {
            println!("    {} at {}: expected {} / observed {}", f.verdict, f.location, f.expected, f.observed);
        }
    }
    if std::env::var_os("RENDER").is_some() {
        println!("{}", imcpm::scenario::render::render(&run, &s.title));
    }
    if std::env::var_os("TRACE").is_some() {
        for (i, o) in run.trace.events.iter().enumerate() {
            let name = |a| run.names.iter().find(|(x, _)| *x == a).map_or("?".to_string(), |(_, n)| n.clone());
            println!(
                "#{i} {} -> {}: {}",
                name(o.packet.from),
                name(o.packet.to),
                String::from_utf8_lossy(&o.packet.bytes).lines().next().unwrap_or("")
            );
        }
    }
}
