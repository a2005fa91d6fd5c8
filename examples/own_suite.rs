//! Using imcpm from your own test suite: every scenario file, every level, against the embedded
//! reference server (swap `run()` for `run_against(&your_factory)` to test your own server).
//!
//! `cargo run --example own_suite [scenario-dir]`

// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::harness::Case;
use std::path::PathBuf;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios"), PathBuf::from);
    let cases = match Case::from_dir(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut failed = 0;
    for case in &cases {
        let outcome = case.run();
        if outcome.passed() {
            println!("ok   {case}");
        } else {
            failed += 1;
            println!("FAIL {case}\n{}", outcome.problems());
        }
    }
    println!("{} passed, {failed} failed", cases.len() - failed);
    std::process::exit(i32::from(failed > 0));
}
