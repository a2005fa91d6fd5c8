//! A user's first hour: arguments checked before anything runs, help that says what happens.

use std::path::PathBuf;
use std::process::{Command, Output};

fn imcpm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .args(args)
        .output()
        .expect("imcpm runs")
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("first_hour").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// stderr with the temporary directory written as `TMP`, an error's wrapped lines joined (the
/// wrapping depends on the length of the path).
fn stderr_of(out: &Output, dir: &std::path::Path) -> String {
    let text = String::from_utf8_lossy(&out.stderr).replace('\u{2502}', "");
    let joined: Vec<&str> = text.split_whitespace().collect();
    joined.join(" ").replace(dir.to_str().unwrap(), "TMP")
}

/// A report directory or baseline that would fail after the run fails before it: exit 2, the
/// option and the path named, no scenario run (nothing on stdout).
#[test]
fn report_dir_and_baseline_are_checked_before_anything_runs() {
    let dir = tmp("args");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let not_report = dir.join("not-report.json");
    std::fs::write(&not_report, "{\"x\": 1}").unwrap();
    let held = dir.join("held");
    std::fs::create_dir_all(&held).unwrap();
    std::fs::write(held.join("report.json"), "{}").unwrap();
    std::fs::create_dir_all(dir.join("held.previous")).unwrap(); // someone's directory, no report.json
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("file", vec!["run".into(), "--report-dir".into(), s(&file)]),
        ("under a file", vec!["run".into(), "--report-dir".into(), format!("{}/sub", s(&file))]),
        ("previous taken", vec!["run".into(), "--report-dir".into(), s(&held)]),
        ("baseline missing", vec!["run".into(), "--baseline".into(), format!("{}/none.json", s(&dir))]),
        ("baseline not a report", vec!["run".into(), "--baseline".into(), s(&not_report)]),
        (
            "check-pcap",
            vec![
                "check-pcap".into(),
                "tests/fixtures/captures/lo.pcapng".into(),
                "--sut".into(),
                "127.0.0.1:5070".into(),
                "--level".into(),
                "1".into(),
                "--report-dir".into(),
                s(&file),
            ],
        ),
    ];
    let mut shown = String::new();
    for (what, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = imcpm(&args);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stderr_of(&out, &dir));
        assert!(out.stdout.is_empty(), "{what}: nothing ran");
        shown.push_str(&format!("$ {what}\n{}\n", stderr_of(&out, &dir).trim_end()));
    }
    // A capture that does not exist is named before anything is judged, and the earlier run
    // stays where it was.
    let out = imcpm(&[
        "check-pcap",
        dir.join("no-such.pcap").to_str().unwrap(),
        "--sut",
        "127.0.0.1:5070",
        "--level",
        "1",
        "--report-dir",
        held.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing judged");
    shown.push_str(&format!("$ missing capture\n{}\n", stderr_of(&out, &dir).trim_end()));
    assert!(held.join("report.json").exists(), "the earlier run stays where it was");
    insta::assert_snapshot!("report_dir_and_baseline_errors", shown);
}

/// The help says where the earlier run goes, as it really does.
#[test]
fn report_dir_help_says_where_the_previous_run_goes() {
    let dir = tmp("previous");
    let mine = dir.join("mine");
    for _ in 0..2 {
        let out = imcpm(&["run", "--filter", "t1/pager", "--level", "1", "--report-dir", mine.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(dir.join("mine.previous/report.json").exists(), "DIR.previous for a directory not named latest");
    let latest = dir.join("latest");
    for _ in 0..2 {
        let out = imcpm(&["run", "--filter", "t1/pager", "--level", "1", "--report-dir", latest.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0));
    }
    assert!(dir.join("previous/report.json").exists(), "previous beside latest");
    let help = String::from_utf8_lossy(&imcpm(&["run", "--help"]).stdout).to_string();
    assert!(help.contains("`previous` beside a directory named `latest`"), "{help}");
    assert!(help.contains("`DIR.previous`"), "{help}");
}

/// Rust debug spellings that must never reach a user.
const DEBUG_NAMES: [&str; 14] = [
    "Some(",
    "None",
    "NewPass",
    "NewFail",
    "Unchanged",
    "faults [",
    "(Term,",
    "(Orig,",
    "Im client",
    "Cpm client",
    "Host(",
    "Addr(",
    "NetStats",
    " { ",
];

fn no_debug_names(what: &str, text: &str) {
    for d in DEBUG_NAMES {
        assert!(!text.contains(d), "{what} shows the Rust name `{d}`:\n{text}");
    }
}

/// The baseline comparison names the results that regressed, in words; no command prints a
/// Rust debug name.
#[test]
fn baseline_lists_regressions_and_no_output_shows_debug_names() {
    let dir = tmp("debug-names");
    let clean = dir.join("clean");
    let out = imcpm(&["run", "--filter", "t1/lmm", "--level", "1", "--report-dir", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    no_debug_names("run", &String::from_utf8_lossy(&out.stdout));
    let base = clean.join("report.json");
    let out = imcpm(&[
        "run",
        "--filter",
        "t1/lmm",
        "--level",
        "1",
        "--fault",
        "forget-lmm-tag",
        "--baseline",
        base.to_str().unwrap(),
        "--report-dir",
        dir.join("faulty").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    no_debug_names("run --baseline", &text);
    let from = text.find("Compared with the baseline").expect("a comparison");
    let to = text[from..].find("\n\n").map_or(text.len(), |n| from + n);
    insta::assert_snapshot!("baseline_regressions", &text[from..to]);

    // Replay of a capture where the given server address never appears: the address as typed.
    let out = imcpm(&[
        "replay",
        "tests/fixtures/captures/lo.pcapng",
        "--capture-sut",
        "192.0.2.99",
        "--sut",
        "udp:127.0.0.1:9",
        "--level",
        "1",
        "--report-dir",
        dir.join("replay").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("192.0.2.99"), "{err}");
    no_debug_names("replay", &err);

    // serve's banner and its counters at the end.
    let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--level", "1", "--fault", "forget-lmm-tag"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let banner = lines.by_ref().map_while(Result::ok).find(|l| l.contains(", faults")).expect("a banner");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let _ = child.wait();
    assert!(banner.ends_with("faults: forget-lmm-tag"), "{banner}");
    no_debug_names("serve", &format!("{banner}\n{}", rest.join("\n")));
}

/// Output into a closed pipe (`imcpm run 2>&1 | head -1`) is not an error of ours: no panic,
/// the reports are written, the exit status is the run's.
#[test]
fn a_closed_stdout_or_stderr_is_no_panic() {
    let dir = tmp("closed-pipe");
    for args in [
        vec!["run", "--filter", "t1/pager", "--report-dir", dir.join("r").to_str().unwrap()],
        vec!["rules"],
        vec!["faults"],
        vec!["list"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close both read ends before the command writes anything.
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: no panic (101) on a closed pipe");
    }
    assert!(dir.join("r/report.json").exists(), "the reports are written");
}

/// Only the report files rotate: a user's own files in the report directory stay where they
/// are, run after run, and `--report-dir .` works a second time.
#[test]
fn the_report_rotation_moves_only_report_files() {
    let dir = tmp("rotation");
    let proj = dir.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("notes.txt"), "mine").unwrap();
    for _ in 0..3 {
        let out = imcpm(&["run", "--filter", "t1/pager", "--level", "1", "--report-dir", proj.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(std::fs::read_to_string(proj.join("notes.txt")).unwrap(), "mine");
    assert!(proj.join("report.json").exists() && dir.join("proj.previous/report.json").exists());
    assert!(!dir.join("proj.previous/notes.txt").exists());
    // `--report-dir .`, twice: the earlier run goes to `../here.previous`.
    let here = dir.join("here");
    std::fs::create_dir_all(&here).unwrap();
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_imcpm"))
            .current_dir(&here)
            .args(["run", "--filter", "t1/pager", "--level", "1", "--report-dir", "."])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(here.join("report.json").exists() && dir.join("here.previous/report.json").exists());
}

/// `imcpm list` shows what a scenario file says with control characters escaped, as every other
/// command does.
#[test]
fn list_escapes_control_characters_from_scenario_files() {
    let dir = tmp("list-esc");
    let pager =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/t1/pager.toml")).unwrap();
    let at = if pager.starts_with("title = ") { 0 } else { pager.find("\ntitle = ").expect("a title") + 1 };
    let end = at + pager[at..].find('\n').unwrap();
    let evil = format!("{}title = \"evil \\u001b[31m title\"{}", &pager[..at], &pager[end..]);
    std::fs::write(dir.join("x\u{1b}[31mred.toml"), evil).unwrap();
    for format in ["text", "markdown"] {
        let out = imcpm(&["list", "--scenarios", dir.to_str().unwrap(), "--format", format]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains('\u{1b}'), "{format}: raw ESC in {text}");
        assert!(text.contains("x\\x1b[31mred") && text.contains("evil \\x1b[31m title"), "{format}: {text}");
    }
}
