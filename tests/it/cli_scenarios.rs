//! Scenarios on the command line: a broken scenario is a usage error at load (exit 2, the file,
//! line and what is wrong; nothing runs), `imcpm list`, `--scenarios FILE`, the built-in suite
//! run from any directory and exported as the start of one's own, shell completions and the
//! manual page.

use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `imcpm ARGS` run in `dir`, with colours and terminal-dependent rendering off.
fn imcpm_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_GRAPHICS")
        .env_remove("FORCE_HYPERLINK")
        .output()
        .expect("imcpm runs")
}

/// A fresh, empty folder for one test.
fn fresh(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-scenarios").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A pager from Alice (remote CPM) to Bob (local IM), with `step` added to its one step.
fn pager(step: &str) -> String {
    format!(
        r#"title = "A pager message"
levels = [1]
requirements = ["T1.TERM.PAGER"]

[actors]
alice = {{ kind = "cpm", network = "remote" }}
bob = {{ kind = "im" }}

[[steps]]
from = "alice"
send = "pager"
to = "bob"
{step}
"#
    )
}

/// Write `files` into a fresh folder and `imcpm run --scenarios FIRST` there: it must exit 2
/// having run nothing; its stderr is returned.
fn broken(case: &str, files: &[(&str, &str)]) -> String {
    let dir = fresh(case);
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let out = imcpm_in(&dir, &["run", "--scenarios", files[0].0, "--report-dir", "reports"]);
    assert_eq!(out.status.code(), Some(2), "{case}: {}{}", stdout(&out), stderr(&out));
    assert!(!dir.join("reports").exists(), "{case}: nothing runs, no report is written");
    assert!(stdout(&out).is_empty(), "{case}: {}", stdout(&out));
    stderr(&out)
}

fn snap(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../../snapshots/cli", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn a_header_line_without_a_colon_is_a_usage_error() {
    let err = broken("no-colon", &[("bad.toml", &pager(r#"headers = ["Date: today", "X-Foo bar"]"#))]);
    snap("scenario_header_without_colon", &err);
}

#[test]
fn a_placeholder_the_client_does_not_fill_in_is_a_usage_error() {
    let template = std::fs::read_to_string(root().join("scenarios/proxy/max-forwards.sip")).unwrap();
    let template = template.replace("{call_id}", "{callid}");
    let err = broken("placeholder", &[("bad.toml", &pager(r#"template = "mf.sip""#)), ("mf.sip", &template)]);
    snap("scenario_unknown_placeholder", &err);
}

#[test]
fn a_missing_template_is_a_usage_error() {
    let err = broken("no-template", &[("bad.toml", &pager(r#"template = "no-such.sip""#))]);
    snap("scenario_missing_template", &err);
}

#[test]
fn a_group_without_participants_is_a_usage_error() {
    let text = pager("").replace(r#"send = "pager""#, r#"send = "group""#);
    let err = broken("group", &[("bad.toml", &text)]);
    snap("scenario_group_without_participants", &err);
}

#[test]
fn a_status_that_is_no_final_response_code_is_a_usage_error() {
    let err = broken("status-999", &[("bad.toml", &pager(r#"expect = { status = 999 }"#))]);
    snap("scenario_status_999", &err);
    let err = broken("status-180", &[("bad.toml", &pager(r#"expect = { status = 180 }"#))]);
    assert!(err.contains("bad.toml:13:21: step 1: status 180 is not a final response code"), "{err}");
}

/// A step that never passes through the IM server under test (between two clients of the
/// remote network, or to its own sender) could only end INCONCLUSIVE, and a `delivered_to` that
/// names an actor the step does not send to could only be a FAIL blamed on the server: both
/// are refused at load.
#[test]
fn a_step_the_server_never_sees_and_a_delivery_to_an_actor_not_addressed_are_usage_errors() {
    let text = r#"title = "Steps that show nothing of the IM server"
levels = [1]
requirements = ["T1.TERM.PAGER"]

[actors]
alice = { kind = "cpm", network = "remote" }
dave = { kind = "cpm", network = "remote" }
bob = { kind = "im" }

[[steps]]
from = "alice"
send = "pager"
to = "dave"

[[steps]]
from = "alice"
send = "pager"
to = "alice"

[[steps]]
from = "alice"
send = "pager"
to = "bob"
expect = { status = 200, delivered_to = ["bob", "alice"] }

[[steps]]
from = "alice"
send = "group"
participants = ["dave"]

[[steps]]
from = "bob"
send = "group"
participants = ["alice"]
expect = { delivered_to = ["dave"] }

[[steps]]
from = "alice"
send = "pager"
expect = { delivered_to = ["bob"] }
"#;
    let err = broken("outside-the-server", &[("bad.toml", text)]);
    snap("scenario_steps_outside_the_server", &err);
}

/// What the checks above must not refuse: a local client writing to itself (its request passes
/// the server on both its sides), and `delivered_to` on a `register` or `wait` step (a message
/// stored for an IM client and delivered when it registers, or one delivered late): the file
/// loads.
#[test]
fn a_local_self_send_and_late_deliveries_are_valid_steps() {
    let text = r#"title = "Steps the checks must let through"
levels = [1]
requirements = ["T1.TERM.PAGER", "ROUTE.VIA-IMS"]

[actors]
alice = { kind = "cpm", network = "remote" }
bob = { kind = "im" }

[[steps]]
from = "bob"
send = "pager"
to = "bob"
expect = { status = 200, delivered_to = ["bob"] }

[[steps]]
from = "alice"
send = "pager"
to = "bob"

[[steps]]
register = "bob"
expect = { delivered_to = ["bob"] }

[[steps]]
wait = "1s"
expect = { delivered_to = ["bob"] }
"#;
    let dir = fresh("valid-steps");
    std::fs::write(dir.join("ok.toml"), text).unwrap();
    let out = imcpm_in(&dir, &["list", "--scenarios", "ok.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("ok"), "{}", stdout(&out));
}

/// The folders `list --export` and `man --dir` write to are named escaped in what they print.
#[test]
fn export_and_man_name_their_folder_escaped() {
    let dir = fresh("escaped-folders");
    for args in [&["list", "--export", "a\x1b[31mb"][..], &["man", "--dir", "m\x1b[31mn"][..]] {
        let out = imcpm_in(&dir, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!text.contains('\x1b') && text.contains("\\x1b[31m"), "{args:?}: {text}");
    }
}

/// A folder `suite` in a fresh folder `name`: one good scenario and two files with three
/// problems between them.
fn several_problems(name: &str) -> PathBuf {
    let dir = fresh(name);
    std::fs::create_dir_all(dir.join("suite/a")).unwrap();
    std::fs::write(dir.join("suite/a/one.toml"), pager(r#"headers = ["X-Foo bar"]"#)).unwrap();
    let two = pager(r#"reports_on = "nowhere""#).replace(r#"to = "bob""#, r#"to = "carol""#);
    std::fs::write(dir.join("suite/two.toml"), two).unwrap();
    std::fs::copy(root().join("scenarios/t1/pager.toml"), dir.join("suite/ok.toml")).unwrap();
    dir
}

/// Every problem of every file is shown before anything runs, and counted; off a terminal
/// (here a pipe) each one's sentence stays on one line, as a single error's does.
#[test]
fn every_problem_of_every_file_is_reported_at_once() {
    let dir = several_problems("several");
    let out = imcpm_in(&dir, &["run", "--scenarios", "suite", "--report-dir", "reports"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(!dir.join("reports").exists());
    snap("scenario_several_problems", &stderr(&out));
}

/// On a terminal the problems are wrapped at its width, between words.
#[test]
fn several_problems_are_wrapped_at_the_terminal_width() {
    let dir = several_problems("several-on-a-terminal");
    let args = ["run", "--scenarios", "suite", "--report-dir", "reports", "--color", "never"];
    let screen = crate::common::pty::imcpm_on_terminal(&dir, &args, &[], 60);
    assert_eq!(screen.code, Some(2), "{}", screen.text);
    assert!(screen.text.lines().all(|l| l.chars().count() <= 60), "{}", screen.text);
    assert!(
        flat(&screen.text).contains("step 1: \"carol\" is not an actor (the actors: alice, bob)"),
        "{}",
        screen.text
    );
    snap("scenario_several_problems_terminal_60", &screen.text);
}

/// The problems a template step can have besides its placeholders: keys the template makes
/// pointless, a request line of the wrong method, a header line without a colon.
#[test]
fn a_template_is_checked_line_by_line() {
    let template = "INVITE {to} SIP/2.0\nVia: {via};branch={branch}\nMax-Forwards 70\n\nhello\n";
    let step = "template = \"t.sip\"\npad = 10";
    let err = broken("template-lines", &[("bad.toml", &pager(step)), ("t.sip", template)]);
    let headlines: Vec<&str> = err.lines().filter_map(|l| l.strip_prefix("  × ")).collect();
    assert_eq!(headlines.len(), 4, "{err}");
    assert!(headlines[0].starts_with("bad.toml:14:1: step 1: `pad` does not apply to a step with a"), "{err}");
    assert!(headlines[1].starts_with("t.sip:1:1: template of step 1 in bad.toml: the step sends pager"), "{err}");
    assert!(headlines[2].starts_with("t.sip:3:1: template of step 1 in bad.toml: \"Max-Forwards 70\" has"), "{err}");
    assert_eq!(headlines[3], "3 problems in the scenario files (each shown above)");
}

/// A template whose request is not of the step's method names the method it needs, with its
/// article (a session is sent as an INVITE).
#[test]
fn a_template_of_the_wrong_method_names_the_one_the_step_sends() {
    let template = "MESSAGE {to} SIP/2.0\nVia: {via};branch={branch}\n\nhello\n";
    let text = pager("template = \"t.sip\"").replace(r#"send = "pager""#, r#"send = "session""#);
    let err = flat(&broken("template-method", &[("bad.toml", &text), ("t.sip", template)]));
    assert!(
        err.contains("t.sip:1:1: template of step 1 in bad.toml: the step sends session (an INVITE) but the template's request is MESSAGE"),
        "{err}"
    );
}

/// A request the client could not send (two CSeq fields: its transaction layer cannot match
/// the answer) is found by building it at load time.
#[test]
fn a_request_the_client_could_not_send_is_found_at_load() {
    // A second CSeq: refused already by the check of `headers` (the dry send behind it would
    // find it too).
    let err = flat(&broken("dry-send", &[("bad.toml", &pager(r#"headers = ["CSeq: 7 MESSAGE"]"#))]));
    assert!(err.contains("bad.toml:13:12: step 1: headers: CSeq is written by the client itself"), "{err}");
}

#[test]
fn list_shows_title_levels_requirements_and_origin_in_80_columns() {
    let here = root();
    let out = imcpm_in(&here, &["list", "--filter", "t1/*"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    snap("list_t1", &stdout(&out));
    let out = imcpm_in(&here, &["list"]);
    let text = stdout(&out);
    let long: Vec<&str> = text.lines().filter(|l| l.chars().count() > 80).collect();
    assert!(long.is_empty(), "lines over 80 columns: {long:#?}");
    let builtin = imcpm::scenario::builtin().unwrap();
    assert!(text.ends_with(&format!("{} scenarios, {} runs (one per scenario and level)\n", builtin.len(), {
        builtin.iter().map(|s| s.levels.len()).sum::<usize>()
    })));
    // --level as for run: a level-2-only scenario is not listed at level 1.
    let out = imcpm_in(&here, &["list", "--level", "1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"t1/pager") && !names.contains(&"t2/term/pager"), "{names:?}");
    let pager = v.as_array().unwrap().iter().find(|s| s["name"] == "t1/pager").unwrap();
    assert_eq!(pager["origin"], "built-in");
    assert_eq!(pager["levels"], serde_json::json!([1, 2]));
    assert!(pager["requirements"].as_array().unwrap().contains(&serde_json::json!("T1.TERM.PAGER")));
    let out = imcpm_in(&here, &["list", "--filter", "T1.TERM.LMM", "--format", "markdown"]);
    assert!(stdout(&out).starts_with("| scenario | levels | requirements | what it shows | from |\n"));
    assert!(stdout(&out).contains("| `t1/lmm` | 1, 2 |"), "{}", stdout(&out));
    let out = imcpm_in(&here, &["list", "--filter", "zz*"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no scenario matches (the built-in scenarios, every level, --filter zz*)"));
}

/// `--scenarios` takes one file as well as a folder, for `list` and `run`.
#[test]
fn scenarios_takes_a_single_file() {
    let here = root();
    let out = imcpm_in(&here, &["list", "--scenarios", "scenarios/proxy/max-forwards.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("max-forwards  [levels 1, 2]  scenarios/proxy/max-forwards.toml\n"),
        "{}",
        stdout(&out)
    );
    let reports = fresh("single-file-reports");
    let out = imcpm_in(
        &here,
        &[
            "run",
            "--scenarios",
            "scenarios/proxy/max-forwards.toml",
            "--report-dir",
            reports.join("latest").to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> =
        v["run"]["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["max-forwards"]);
}

/// The results of a report, and the scenario files it names with their hashes.
fn results(report_dir: &Path) -> (serde_json::Value, serde_json::Value) {
    let text = std::fs::read_to_string(report_dir.join("report.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (v["results"].clone(), v["run"]["scenarios"].clone())
}

/// The built-in suite run from an empty folder gives what the files of the checkout give,
/// hashes included; exported and run with `--scenarios`, it gives the same again.
#[test]
fn the_built_in_suite_runs_anywhere_and_exports_as_a_start() {
    let checkout = fresh("suite-checkout");
    let out = imcpm_in(
        &root(),
        &["run", "--scenarios", "scenarios", "--report-dir", checkout.join("r").to_str().unwrap(), "--deterministic"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (want, files) = results(&checkout.join("r"));
    assert!(files.as_array().unwrap().len() > 40, "{files}");

    let anywhere = fresh("suite-anywhere");
    let out = imcpm_in(&anywhere, &["run", "--report-dir", "r", "--deterministic"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(results(&anywhere.join("r")), (want.clone(), files.clone()));

    let out = imcpm_in(&anywhere, &["list", "--export", "mine"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    snap("list_export", &stdout(&out));
    let out = imcpm_in(&anywhere, &["run", "--scenarios", "mine", "--report-dir", "r2", "--deterministic"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(results(&anywhere.join("r2")), (want, files));
    let out = imcpm_in(&anywhere, &["list", "--scenarios", "mine", "--filter", "proxy/*"]);
    assert!(
        stdout(&out).starts_with("proxy/max-forwards  [levels 1, 2]  mine/proxy/max-forwards.toml\n"),
        "{}",
        stdout(&out)
    );

    // Exporting again overwrites nothing: exit 2, naming what is in the way.
    std::fs::write(anywhere.join("mine/t1/pager.toml"), "mine now").unwrap();
    let out = imcpm_in(&anywhere, &["list", "--export", "mine", "--filter", "t1/*"]);
    assert_eq!(out.status.code(), Some(2));
    snap("list_export_refuses_to_overwrite", &stderr(&out));
    assert_eq!(std::fs::read_to_string(anywhere.join("mine/t1/pager.toml")).unwrap(), "mine now");
    // Into a fresh folder, a selection takes the templates its scenarios use.
    let out = imcpm_in(&anywhere, &["list", "--export", "proxy-only", "--filter", "proxy/*"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(anywhere.join("proxy-only/proxy/max-forwards.sip").exists());
    assert!(!anywhere.join("proxy-only/t1").exists());
}

#[test]
fn completions_and_the_manual_page_name_every_subcommand() {
    let here = root();
    let subcommands: Vec<String> =
        imcpm::cli::Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
    assert!(subcommands.len() >= 10, "{subcommands:?}");
    let out = imcpm_in(&here, &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bash = stdout(&out);
    for c in &subcommands {
        assert!(bash.contains(&format!("imcpm,{c})")), "bash completion lacks {c}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = imcpm_in(&here, &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("check-pcap"), "{shell}");
    }
    let out = imcpm_in(&here, &["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    // Past the preamble that defines the apostrophe string, the page starts with its title.
    let first = page.lines().find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ")).unwrap_or("");
    assert!(first.starts_with(".TH imcpm 1"), "{}", &page[..page.len().min(200)]);
    for c in &subcommands {
        assert!(page.contains(&format!("imcpm\\-{}", c.replace('-', "\\-"))), "the page names {c}");
    }
    let dir = fresh("man");
    let out = imcpm_in(&dir, &["man", "--dir", "pages"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for c in subcommands.iter().map(|c| format!("imcpm-{c}.1")).chain(["imcpm.1".to_string()]) {
        let text = std::fs::read_to_string(dir.join("pages").join(&c)).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert!(text.contains("\n.TH "), "{c}");
    }
}

/// A header the client writes itself cannot be given again in `headers` (the request would
/// carry two, and the server's rightful 400 would be blamed on it); a network so lossy that
/// retransmissions cannot be counted on is refused too.
#[test]
fn headers_the_client_writes_and_a_hopeless_network_are_usage_errors() {
    for (case, line, says) in [
        ("call-id", r#"headers = ["Call-ID: dup"]"#, "Call-ID is written by the client itself"),
        ("content-length", r#"headers = ["l: 5"]"#, "Content-Length is written by the client itself"),
        ("max-forwards", r#"headers = ["Max-Forwards: abc"]"#, "Max-Forwards is written by the client itself"),
    ] {
        let err = flat(&broken(case, &[("bad.toml", &pager(line))]));
        assert!(err.contains(says), "{case}: {err}");
    }
    let lossy = format!("{}\n[network]\nloss = 1.0\n", pager(""));
    let err = flat(&broken("loss", &[("bad.toml", &lossy)]));
    assert!(err.contains("network loss 1 is above 0.5"), "{err}");
}

/// An error's text with its wrapping undone.
fn flat(err: &str) -> String {
    err.replace('\u{2502}', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}
