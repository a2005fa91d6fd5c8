//! The HTML report in a real browser: headless Chromium (Debian `chromium`) loads the report of
//! a run with a fault, and the test checks the rendered page (the grid, the ladders, the failure)
//! and takes a screenshot, kept under target/report-screenshot/ for review. Needs the cargo
//! feature `interop`; fails, naming the package, when Chromium is missing.
#![cfg(feature = "interop")]
// Tests and measurement code: unwrap is the assertion, and timing reads the clock.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::scenario::{SuiteOptions, execute, load_dir, plan};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser"] {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return c;
        }
    }
    panic!("Chromium is missing: install it (Debian: apt-get install chromium) to run the interop tests");
}

fn run_browser(args: &[&str], out_file: Option<&std::path::Path>) -> std::process::Output {
    let profile = tempdir();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(args);
    let child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().expect("chromium starts");
    let out = wait_bounded(child, Duration::from_secs(60));
    if let Some(f) = out_file {
        assert!(f.exists(), "chromium wrote no {}", f.display());
    }
    out
}

fn wait_bounded(child: std::process::Child, limit: Duration) -> std::process::Output {
    // Read the pipes while waiting (a large DOM would fill the pipe and block chromium), and
    // kill it from a watchdog thread if it overruns.
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        true
    });
    let out = child.wait_with_output().expect("chromium output");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(!watchdog.join().unwrap_or(false), "chromium did not finish within {limit:?}");
    out
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("imcpm-chromium-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let all = load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap();
    let jobs = plan(&all, None, &["t1/*".into(), "t2/term/*".into()]);
    let opts = SuiteOptions {
        transport: None,
        faults: FaultSet::one(Fault::ForgetLmmTag),
        fault_names: vec!["forget-lmm-tag".into()],
    };
    let (r, _) = execute(&all, &jobs, &opts, &mut |_| {});
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    std::fs::write(&html, imcpm::report::html::to_html(&r)).unwrap();
    let url = format!("file://{}", html.display());

    // The DOM after scripts ran: the grid, one ladder per flow, the failing cell.
    let dom = run_browser(&["--dump-dom", &url], None);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("T1.TERM.LMM"), "the grid names the requirement");
    assert!(
        dom.matches("<svg").count() >= r.flows.len(),
        "one ladder per flow: {} svg for {} flows",
        dom.matches("<svg").count(),
        r.flows.len()
    );
    assert!(dom.contains("FAIL"), "the failure is shown");

    let png = dir.join("report.png");
    let _ = std::fs::remove_file(&png);
    run_browser(&[&format!("--screenshot={}", png.display()), "--window-size=1400,1000", &url], Some(&png));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "a real screenshot ({} bytes)", bytes.len());
}
