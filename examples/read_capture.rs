//! The floor of `imcpm check-pcap`: read captures and frame their SIP messages, nothing else
//! (no parsing, no judging, no reports). Each message is counted and dropped as it comes, so
//! memory stays that of the reader. `scripts/bench-capture.sh` times it against check-pcap.
//!
//! `cargo run --release --example read_capture -- FILE...`
//! prints `frames N, sip messages N, sip bytes N` and what was not judged; exit status 2 when a
//! file is truncated or corrupt (what came before is counted).

use imcpm::capture::{ReadOptions, read_captures};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        eprintln!("usage: read_capture FILE...");
        return ExitCode::from(2);
    }
    let mut messages = 0u64;
    let mut bytes = 0u64;
    let (stats, error) = read_captures(&files, &ReadOptions::default(), |m| {
        messages += 1;
        bytes += m.packet.bytes.len() as u64;
    });
    println!("frames {}, sip messages {messages}, sip bytes {bytes}", stats.frames);
    for (reason, n) in &stats.not_judged {
        println!("not judged: {n} {reason}");
    }
    match error {
        Some(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        None => ExitCode::SUCCESS,
    }
}
