//! The soak script, short: `scripts/soak.sh --duration 30` drives `imcpm serve` (release build,
//! which the script builds) with sipp at 2000 MESSAGE/s for 30 s and must print a PASS verdict:
//! every transaction completed, none failed at the UAC or at the UAS's IM-form checks, no
//! retransmission or unexpected message, no 503 or drop at the server (docs/PERFORMANCE.md,
//! "Soak"). A 30 s run has no sample after the first minute, so memory growth is not judged
//! here; the RSS samples are printed. Needs `sipp` (Debian `sip-tester`) and the cargo feature
//! `interop`: `cargo test --features interop --test interop_soak`.
// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[allow(dead_code)]
#[path = "interop/support.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{Proc, require_tool, work_dir};

#[test]
fn soak_30_seconds_at_2000_messages_per_second_is_clean() {
    require_tool("sipp", "sip-tester");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = work_dir("soak");
    let out = dir.join("soak.out");
    let child = Command::new("bash")
        .arg(root.join("scripts/soak.sh"))
        .args(["--duration", "30"])
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.join("soak.err")).unwrap())
        .spawn()
        .unwrap();
    let mut soak = Proc { name: "scripts/soak.sh".into(), child };
    // The release build (when not built yet) comes first; the run itself takes about 35 s.
    let status = soak.wait_for(Duration::from_secs(1800));
    let text = std::fs::read_to_string(&out).unwrap();
    let err = std::fs::read_to_string(dir.join("soak.err")).unwrap_or_default();
    let why = format!("{text}\n-- stderr --\n{err}\n-- logs in {}", dir.display());
    let verdict =
        text.lines().rev().find(|l| l.starts_with("soak verdict: ")).unwrap_or_else(|| panic!("no verdict\n{why}"));
    assert!(verdict.starts_with("soak verdict: PASS: 60000 of 60000 MESSAGE transactions completed"), "{why}");
    assert!(verdict.contains("; failures 0 (UAC failed 0, UAS checks failed 0, retransmissions 0, unexpected messages 0, not completed 0)"), "{why}");
    assert!(verdict.contains("server 503 when full 0, dropped 0;"), "{why}");
    assert!(verdict.contains("growth not judged (no sample after the first minute in a 30 s run)"), "{why}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("t=20s RSS ")), "RSS sampled every 10 s\n{why}");
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{why}");
    let _ = std::fs::remove_dir_all(&dir);
}
