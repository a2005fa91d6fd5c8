//! Every example command in README.md and docs/*.md is run by a test, so the documents cannot
//! drift from the tool. Each command line found in a code block must be listed below with how
//! it is checked:
//! - `Run`: run here (the binary for `imcpm` and `cargo run --release --`), from a scratch
//!   directory that sees the checkout's `tests/`, `captures/`, `scenarios/` and `scripts/`; its
//!   exit status must be the one its comment promises (`# exit N`, else 0), and when the comment
//!   names verdicts (`# exit 1: FAIL A, B; NON-STRICT C`) the report must give exactly those IDs
//!   those verdicts;
//! - `Elsewhere`: run by another test (named; this test checks that it still holds the command);
//! - `Synopsis`: a usage line with placeholders (`FILE...`, `[--x]`), not a command;
//! - `Tooling`: installs or runs tools or benchmarks (cargo, apt-get, the benchmark scripts).
//!
//! A command added to a document without an entry here fails the test, and so does an entry
//! whose command no document holds any more.
//!
//! Commands written inline in the prose (code spans that start with `imcpm ` or `cargo run`)
//! are accounted for too: a span that is a block command of the same document (or one part of
//! an `A && B` one) is run as that block; a span that only names a command or one of its
//! options (`imcpm serve`, `imcpm run --pcap`, `imcpm serve --udp-rcvbuf BYTES`) or is a synopsis
//! (`[...]`, `A|B`, `...`) is checked against the command line itself (the subcommand and every
//! `--option` exist); every other span must be listed in `INLINE`, where `Run` runs it from an
//! empty directory (`A | B` pipes into B when B is installed), `Example` calls the example's own
//! code with the documented arguments, and `Label` marks a span that is not a command (a label
//! the tool writes, a line of a file).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

enum How {
    Run,
    Elsewhere(&'static str, &'static str),
    Synopsis,
    Tooling,
    /// `cargo run --example NAME -- ARGS`: the example's code, called here with ARGS.
    Example,
    /// Not a command: a label the tool writes, a line of a file.
    Label,
}

/// The inline commands (code spans in prose) that are not a block command of their document,
/// not a mere mention of a command or option, and not a synopsis.
const INLINE: &[(&str, &str, How)] = &[
    ("README.md", "imcpm man | man -l -", How::Run),
    ("README.md", "imcpm list --export scenarios", How::Run),
    ("README.md", "imcpm run: SCENARIO LLEVEL", How::Label),
    ("README.md", "imcpm run: SCENARIO LN", How::Label),
    ("docs/captures.md", "imcpm run: t1/pager L2", How::Label),
    ("docs/report-format.md", "imcpm run: SCENARIO LLEVEL", How::Label),
    ("docs/report-format.md", "imcpm run: t1/pager L1", How::Label),
    ("docs/report-format.md", "imcpm VERSION", How::Label),
    ("docs/fuzzing.md", r#"imcpm = { path = ".." }"#, How::Label),
    ("docs/scenarios.md", "imcpm run --filter convid/reused", How::Run),
    ("docs/scenarios.md", "cargo run --example run_one -- scenarios/convid/reused.toml 2", How::Example),
    (
        "docs/live-testing.md",
        "imcpm serve --fault forget-lmm-tag",
        How::Elsewhere("tests/it/live.rs", "\"forget-lmm-tag\""),
    ),
    (
        "docs/PERFORMANCE.md",
        "imcpm serve --listen udp:127.0.0.1:0 --level 1",
        How::Elsewhere("tests/it/serve_sockets.rs", r#"["serve", "--listen", "udp:127.0.0.1:0", "--level", "1"]"#),
    ),
    ("docs/PERFORMANCE.md", "imcpm serve --level 1", How::Tooling),
    ("docs/PERFORMANCE.md", "imcpm load --level 1 --rate 5000 --duration 60s --mix pager=1", How::Tooling),
    ("docs/PERFORMANCE.md", "imcpm load --level 1 --rate 1000 --duration 60s", How::Tooling),
    ("docs/PERFORMANCE.md", "imcpm load --level 2 --rate 1000 --duration 60s", How::Tooling),
    ("docs/PERFORMANCE.md", "imcpm load --level 1 --mix pager=1 --rate 2000 --duration 15s", How::Tooling),
    ("docs/PERFORMANCE.md", "imcpm load --sut udp:127.0.0.1:PORT --level 1 --rate 2000 --duration 600s", How::Tooling),
    ("docs/PERFORMANCE.md", "cargo run --release --example prof_rewrite", How::Tooling),
    (
        "docs/PERFORMANCE.md",
        "cargo run -- run --report-dir /tmp/ref && ls -l /tmp/ref/report.html",
        How::Elsewhere("tests/it/report_reference_run.rs", "fn html_of_the_reference_run_is_under_one_megabyte"),
    ),
];

/// (document, the command as written there, joined over `\` continuations, comment cut off).
const EXAMPLES: &[(&str, &str, How)] = &[
    ("README.md", "cargo run --release -- run", How::Run),
    ("README.md", "cargo test", How::Tooling),
    ("README.md", "sudo apt-get install sip-tester kamailio tshark chromium", How::Tooling),
    (
        "README.md",
        "cargo test --features interop --test interop --test interop_report --test report_pcap_tshark --test interop_live --test interop_soak -- --test-threads=1",
        How::Tooling,
    ),
    ("README.md", "imcpm run --filter 't2/*'", How::Run),
    ("README.md", "imcpm list --filter 'T1.TERM.*'", How::Run),
    ("README.md", "imcpm list --export my-suite && imcpm run --scenarios my-suite", How::Run),
    ("README.md", "imcpm run --scenarios my-suite/t1/pager.toml", How::Run),
    ("README.md", "imcpm run --fault forget-lmm-tag", How::Run),
    ("README.md", "imcpm run --transport udp", How::Run),
    (
        "README.md",
        "imcpm run --sut udp:127.0.0.1:5070 --level 2 --users pool.toml",
        // The same command with --report-dir, as docs/live-testing.md's quick start has it.
        How::Elsewhere("tests/it/live.rs", "fn docs_commands_run"),
    ),
    ("README.md", "imcpm run --baseline reports/previous/report.json", How::Run),
    ("README.md", "imcpm run --filter 't1/*' --pcap t1.pcapng", How::Run),
    ("README.md", "imcpm check-pcap captures/kamailio-l1-faulty.pcapng --sut 127.0.0.1:5070 --level 1", How::Run),
    ("README.md", "imcpm rewrite --direction cpm-to-im tests/fixtures/examples/2a_lmm_cpm_rx.sip", How::Run),
    (
        "README.md",
        "imcpm check --level 2 --case term --client cpm --ingress tests/fixtures/examples/4a_ft_im_rx.sip --egress tests/fixtures/examples/4b_ft_cpm_tx.sip",
        How::Run,
    ),
    (
        "README.md",
        "mkdir -p ~/.local/share/bash-completion/completions ~/.zfunc ~/.config/fish/completions ~/.local/share/man/man1",
        How::Run,
    ),
    ("README.md", "imcpm completions bash > ~/.local/share/bash-completion/completions/imcpm", How::Run),
    ("README.md", "imcpm completions zsh  > ~/.zfunc/_imcpm", How::Run),
    ("README.md", "imcpm completions fish > ~/.config/fish/completions/imcpm.fish", How::Run),
    ("README.md", "imcpm man --dir ~/.local/share/man/man1", How::Run),
    ("docs/scenarios.md", "imcpm list --export my-suite", How::Run),
    ("docs/scenarios.md", "imcpm list --export my-t1 --filter 't1/*'", How::Run),
    ("docs/scenarios.md", "imcpm run --scenarios my-suite", How::Run),
    ("docs/scenarios.md", "imcpm run --scenarios my-suite/t1/pager.toml", How::Run),
    ("docs/PERFORMANCE.md", "bash scripts/load.sh --repeat 3 --quiet-wait 300", How::Tooling),
    ("docs/PERFORMANCE.md", "bash scripts/bench-capture.sh --runs 3 --big 10", How::Tooling),
    (
        "docs/PERFORMANCE.md",
        "bash scripts/bench-load.sh --rate 2000 --duration 30 --mix-rate 1000 --ramp 4000:16000:2000 --ramp-duration 10",
        How::Tooling,
    ),
    ("docs/PERFORMANCE.md", "bash scripts/soak.sh", How::Tooling),
    (
        "docs/PERFORMANCE.md",
        "bash scripts/soak.sh --duration 30",
        How::Elsewhere("tests/interop_soak.rs", ".args([\"--duration\", \"30\"])"),
    ),
    (
        "docs/captures.md",
        "imcpm check-pcap FILE... --sut HOST[:PORT] [--sut ...] --level 1|2 [--domain D] [--users FILE] [--port N] [--report-dir DIR] [--format text|json|markdown] [--filter GLOB] [--redact] [--max-results N] [--max-ladders N] [--window-mb MB] [--jobs N] [--no-reports]",
        How::Synopsis,
    ),
    (
        "docs/live-testing.md",
        "imcpm serve --listen udp:127.0.0.1:5070 --listen tcp:127.0.0.1:5070 --level 2 --users pool.toml &",
        How::Elsewhere("tests/it/live.rs", "fn docs_commands_run"),
    ),
    (
        "docs/live-testing.md",
        "imcpm run --sut udp:127.0.0.1:5070 --level 2 --users pool.toml --report-dir reports/live",
        How::Elsewhere("tests/it/live.rs", "fn docs_commands_run"),
    ),
    (
        "docs/live-testing.md",
        "kamailio -f scripts/kamailio/imcpm-l1.cfg -DD -E -Y /tmp/kam -l udp:127.0.0.1:5070 -m 64 -M 8 &",
        How::Elsewhere("tests/interop_live.rs", "kamailio_shm(cfg, dir, 64)"),
    ),
    (
        "docs/live-testing.md",
        "imcpm run --sut-config scripts/kamailio/imcpm-l1.sut.toml",
        How::Elsewhere("tests/interop_live.rs", "[\"run\", \"--sut-config\", \"scripts/kamailio/imcpm-l1.sut.toml\"]"),
    ),
    (
        "docs/live-testing.md",
        "imcpm replay trace.pcapng --capture-sut 10.1.2.3:5060 --sut udp:127.0.0.1:5070 --level 1 [--listen udp:IP:PORT] [--speed original|max] [--pcap out.pcapng] [--users FILE] [--report-dir DIR]",
        How::Synopsis,
    ),
    (
        "docs/load.md",
        "imcpm load --sut udp|tcp:IP:PORT --level 1|2 [--sut-config FILE] [--users FILE | --population N] [--mix NAME=W,...] [--rate N | --ramp FROM:TO:STEP [--max-p99 MS]] [--duration D] [--listen udp|tcp:IP:PORT] [--domain D] [--udp-rcvbuf BYTES] [--report-dir DIR] [--format text|json|markdown] [--max-results N] [--strict]",
        How::Synopsis,
    ),
    ("docs/fuzzing.md", "cargo install --locked cargo-fuzz@0.13.2", How::Tooling),
    (
        "docs/fuzzing.md",
        "cargo fuzz run -s none sip_parse fuzz/corpus/sip_parse fuzz/seeds/sip_parse -- -runs=10000000 -max_total_time=900 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1",
        How::Tooling,
    ),
];

/// First words that make a code-block line a command.
const COMMANDS: [&str; 9] = ["imcpm", "cargo", "sudo", "bash", "python3", "kamailio", "sipp", "tshark", "mkdir"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The documents: README.md and every docs/*.md.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_string()];
    let mut more: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// (command, comment) of every command line in the fenced code blocks of `text` (not in rust,
/// toml or json blocks), `\` continuations joined.
fn commands(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut pending = String::new();
    for line in text.lines() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            fence = if fence.is_some() { None } else { Some(lang.trim().to_string()) };
            pending.clear();
            continue;
        }
        let Some(lang) = &fence else { continue };
        if matches!(lang.as_str(), "rust" | "toml" | "json" | "xml" | "html") {
            continue;
        }
        let line = line.trim();
        let line = line.strip_prefix("$ ").unwrap_or(line);
        let joined = if pending.is_empty() { line.to_string() } else { format!("{pending} {line}") };
        if let Some(head) = joined.strip_suffix('\\') {
            pending = head.trim_end().to_string();
            continue;
        }
        pending.clear();
        let first = joined.split_whitespace().next().unwrap_or("");
        if !COMMANDS.contains(&first) {
            continue;
        }
        let (cmd, comment) = match joined.find(" # ") {
            Some(i) => (joined[..i].trim_end().to_string(), joined[i + 3..].trim().to_string()),
            None => (joined.trim_end().to_string(), String::new()),
        };
        out.push((cmd, comment));
    }
    out
}

/// The code spans of `text`'s prose (outside fenced blocks) that start with `imcpm ` or
/// `cargo run`, each once, in order; a span over two lines is joined with a space.
fn inline_commands(text: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            prose.push('\n');
            continue;
        }
        if !fenced {
            prose.push_str(line);
        }
        prose.push('\n');
    }
    let mut out: Vec<String> = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find('`') {
        let ticks = rest[i..].len() - rest[i..].trim_start_matches('`').len();
        let body = &rest[i + ticks..];
        let fence = "`".repeat(ticks);
        let Some(end) = body.find(&fence) else { break };
        let span = body[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        if (span.starts_with("imcpm ") || span.starts_with("cargo run")) && !out.contains(&span) {
            out.push(span);
        }
        rest = &body[end + ticks..];
    }
    out
}

/// Whether `span` only names a command or one option of it: `imcpm SUB`, `imcpm SUB --opt`,
/// `imcpm SUB --opt VALUE` with VALUE a placeholder (`FILE`, `L`) or alternatives (`udp|tcp`).
fn mention(span: &str) -> bool {
    let w: Vec<&str> = span.split_whitespace().collect();
    let placeholder = |v: &str| v.chars().all(|c| c.is_ascii_uppercase()) || v.contains('|');
    w.first() == Some(&"imcpm")
        && match w.len() {
            2 => !w[1].starts_with('-'),
            3 => w[2].starts_with("--"),
            4 => w[2].starts_with("--") && placeholder(w[3]),
            _ => false,
        }
}

/// Whether `span` is a synopsis: optional parts, alternatives (`a|b`; a ` | ` between spaces is
/// a pipe) or repetition.
fn synopsis(span: &str) -> bool {
    span.contains('[') || span.contains("...") || span.replace(" | ", " ").contains('|')
}

/// The subcommand of an `imcpm SUB ...` line exists and so does every `--option` it names
/// (its own or a global one).
fn options_exist(line: &str) -> Result<(), String> {
    use clap::CommandFactory;
    let root = imcpm::cli::Cli::command();
    let line = line.replace("\\|", "|");
    let mut w = line.split_whitespace();
    assert_eq!(w.next(), Some("imcpm"), "{line}");
    let sub = w.next().unwrap_or("");
    let Some(cmd) = root.find_subcommand(sub) else {
        return Err(format!("`{line}`: imcpm has no command `{sub}`"));
    };
    let longs: BTreeSet<String> = cmd
        .get_arguments()
        .chain(root.get_arguments())
        .filter_map(|a| a.get_long().map(str::to_string))
        .chain(["help".to_string()])
        .collect();
    for word in w.flat_map(|x| x.split('|')) {
        let word = word.trim_start_matches('[').trim_end_matches(']');
        let Some(opt) = word.strip_prefix("--") else { continue };
        let opt = opt.split('=').next().unwrap_or("");
        if !longs.contains(opt) {
            return Err(format!("`{line}`: imcpm {sub} has no option --{opt}"));
        }
    }
    Ok(())
}

/// Split a command line as a POSIX shell would for these examples (single quotes only).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmd.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The verdicts a comment promises: `exit 1: FAIL A, B; NON-STRICT C` -> exit 1 and
/// {FAIL: {A, B}, NON-STRICT: {C}}.
fn promise(comment: &str) -> (i32, BTreeMap<String, BTreeSet<String>>) {
    let Some(rest) = comment.strip_prefix("exit ") else { return (0, BTreeMap::new()) };
    let (code, claims) = rest.split_once(':').unwrap_or((rest, ""));
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for part in claims.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (verdict, ids) = part.split_once(' ').unwrap();
        want.entry(verdict.to_string())
            .or_default()
            .extend(ids.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()));
    }
    (code.trim().parse().unwrap(), want)
}

/// Requirement IDs per verdict (other than PASS and NOT-APPLICABLE) in a report.json: from its
/// aggregate counts when it has them (check-pcap), else from its results.
fn verdicts(report: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |verdict: &str, id: &str| {
        if verdict != "PASS" && verdict != "NOT-APPLICABLE" {
            got.entry(verdict.to_string()).or_default().insert(id.to_string());
        }
    };
    if let Some(reqs) = report["aggregate"]["requirements"].as_array() {
        for r in reqs {
            for (verdict, n) in r["counts"].as_object().unwrap() {
                if n.as_u64().unwrap_or(0) > 0 {
                    add(verdict, r["requirement"].as_str().unwrap());
                }
            }
        }
    } else {
        for r in report["results"].as_array().unwrap() {
            add(r["verdict"].as_str().unwrap(), r["requirement"].as_str().unwrap());
        }
    }
    got
}

/// A scratch directory per document that sees the checkout's inputs (symbolic links), as a
/// user's checkout; `home` inside it stands for `~`.
fn scratch(doc: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc_examples").join(doc.replace('/', "_"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for name in ["tests", "captures", "scenarios", "scripts"] {
        std::os::unix::fs::symlink(root().join(name), d.join(name)).unwrap();
    }
    d
}

/// Run one documented command line in `dir`: `A && B` one after the other (stopping at the
/// first failure), `> FILE` into that file, `A | B` with A's output into B (when B is
/// installed; else A alone), `~` as `dir/home`, `mkdir -p` done here.
fn run_line(dir: &Path, line: &str) -> std::process::Output {
    let home = dir.join("home");
    let line = line.replace('~', home.to_str().unwrap());
    let mut last = None;
    for cmd in line.split(" && ") {
        if let Some((a, b)) = cmd.split_once(" | ") {
            let out = run_here(dir, a);
            let ok = out.status.success();
            last = Some(pipe_into(dir, out, b));
            if !ok {
                break;
            }
            continue;
        }
        let (cmd, into) = match cmd.split_once(" > ") {
            Some((c, f)) => (c.trim(), Some(PathBuf::from(f.trim()))),
            None => (cmd, None),
        };
        let out = if let Some(dirs) = cmd.strip_prefix("mkdir -p ") {
            for d in dirs.split_whitespace() {
                std::fs::create_dir_all(d).unwrap();
            }
            Command::new("true").output().unwrap()
        } else {
            run_here(dir, cmd)
        };
        if let Some(f) = into {
            assert!(!out.stdout.is_empty(), "{cmd} printed nothing");
            std::fs::write(f, &out.stdout).unwrap();
        }
        let ok = out.status.success();
        last = Some(out);
        if !ok {
            break;
        }
    }
    last.unwrap()
}

/// `out`'s stdout given to the command line `b` (run in `dir`, no pager); `out` itself when
/// `b`'s program is not installed here.
fn pipe_into(dir: &Path, out: std::process::Output, b: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let w = words(b);
    let child = Command::new(&w[0])
        .args(&w[1..])
        .current_dir(dir)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{} is not installed here: only the command before `|` is run", w[0]);
            return out;
        }
        Err(e) => panic!("{b}: {e}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = out.stdout.clone();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let piped = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    piped
}

fn run_here(dir: &Path, cmd: &str) -> std::process::Output {
    let mut w = words(cmd);
    let args: Vec<String> = match w.first().map(String::as_str) {
        Some("imcpm") => w.split_off(1),
        Some("cargo") if cmd.starts_with("cargo run --release -- ") => w.split_off(4),
        _ => panic!("not a command this test runs: {cmd}"),
    };
    Command::new(env!("CARGO_BIN_EXE_imcpm")).current_dir(dir).env("NO_COLOR", "1").args(&args).output().unwrap()
}

#[test]
fn every_documented_command_is_listed_and_the_runnable_ones_run() {
    let mut found: Vec<(String, String, String)> = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(root().join(&doc)).unwrap();
        found.extend(commands(&text).into_iter().map(|(c, k)| (doc.clone(), c, k)));
    }
    let listed: BTreeSet<(&str, &str)> = EXAMPLES.iter().map(|(d, c, _)| (*d, *c)).collect();
    let unlisted: Vec<String> = found
        .iter()
        .filter(|(d, c, _)| !listed.contains(&(d.as_str(), c.as_str())))
        .map(|(d, c, _)| format!("{d}: {c}"))
        .collect();
    assert!(unlisted.is_empty(), "commands in the documents that this test does not know:\n{}", unlisted.join("\n"));
    let gone: Vec<String> = EXAMPLES
        .iter()
        .filter(|(d, c, _)| !found.iter().any(|(fd, fc, _)| fd == d && fc == c))
        .map(|(d, c, _)| format!("{d}: {c}"))
        .collect();
    assert!(gone.is_empty(), "listed here but in no document any more:\n{}", gone.join("\n"));

    // In document order, from one scratch directory per document (so that `--baseline
    // reports/previous` finds the runs before it, as a user who runs them in turn would).
    let mut ran = 0;
    for (doc, cmd, comment) in &found {
        let dir = scratch_of(doc);
        let how = &EXAMPLES.iter().find(|(d, c, _)| d == doc && c == cmd).unwrap().2;
        match how {
            How::Run => {
                let out = run_line(&dir, cmd);
                let (code, want) = promise(comment);
                let shown = format!(
                    "{doc}: {cmd}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(out.status.code(), Some(code), "{shown}");
                if !want.is_empty() {
                    let report: Value =
                        serde_json::from_slice(&std::fs::read(dir.join("reports/latest/report.json")).unwrap())
                            .unwrap();
                    assert_eq!(verdicts(&report), want, "the comment's verdicts: {shown}");
                }
                ran += 1;
            }
            How::Elsewhere(file, needle) => {
                let text = std::fs::read_to_string(root().join(file)).unwrap();
                assert!(
                    text.contains(needle),
                    "{doc}: {cmd} is said to be run by {file}, which no longer has {needle:?}"
                );
            }
            How::Synopsis => {
                assert!(cmd.contains('[') || cmd.contains("..."), "{doc}: {cmd} is not a synopsis");
                if cmd.starts_with("imcpm ") {
                    options_exist(cmd).unwrap_or_else(|e| panic!("{doc}: {e}"));
                }
            }
            How::Tooling => {}
            How::Example | How::Label => panic!("{doc}: {cmd}: for inline commands only"),
        }
    }
    assert!(ran >= 20, "{ran} commands run");
    let readme = scratch_of("README.md");
    assert!(readme.join("t1.pcapng").exists(), "the --pcap example wrote its capture");
    assert!(readme.join("home/.local/share/man/man1/imcpm-run.1").exists(), "the man pages were written");
    let bash = std::fs::read_to_string(readme.join("home/.local/share/bash-completion/completions/imcpm")).unwrap();
    assert!(bash.contains("check-pcap"), "a bash completion script");
}

/// Every command written inline in the prose is accounted for (see the module's doc): run,
/// checked against the command line, or listed as what it is.
#[test]
fn every_inline_command_is_accounted_for_and_the_runnable_ones_run() {
    let mut blocks: BTreeSet<String> = BTreeSet::new();
    let mut found: Vec<(String, String)> = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(root().join(&doc)).unwrap();
        for (cmd, _) in commands(&text) {
            blocks.extend(cmd.split(" && ").map(str::to_string));
            blocks.insert(cmd);
        }
        found.extend(inline_commands(&text).into_iter().map(|c| (doc.clone(), c)));
    }
    let mut unlisted = Vec::new();
    let mut ran = 0;
    for (doc, span) in &found {
        let Some((_, _, how)) = INLINE.iter().find(|(d, c, _)| d == doc && c == span) else {
            if blocks.contains(span) {
                continue; // run (or accounted for) as that block command
            }
            if span.starts_with("imcpm ") && (mention(span) || synopsis(span)) {
                options_exist(span).unwrap_or_else(|e| panic!("{doc}: {e}"));
                continue;
            }
            unlisted.push(format!("{doc}: {span}"));
            continue;
        };
        match how {
            How::Run => {
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc_examples_inline").join(format!("{ran}"));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                let out = run_line(&dir, span);
                assert!(
                    out.status.success(),
                    "{doc}: {span}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(!out.stdout.is_empty(), "{doc}: {span} printed nothing");
                ran += 1;
            }
            How::Example => {
                let args: Vec<String> =
                    span.split_once(" -- ").unwrap().1.split_whitespace().map(String::from).collect();
                assert!(
                    span.starts_with("cargo run --example run_one -- "),
                    "{doc}: {span}: only run_one is called here"
                );
                let printed = run_one::output(&args, false, false);
                let verdicts: Vec<&str> = printed.lines().filter_map(|l| l.split_whitespace().nth(1)).collect();
                assert!(!verdicts.is_empty() && verdicts.iter().all(|v| *v == "PASS"), "{doc}: {span}:\n{printed}");
            }
            How::Elsewhere(file, needle) => {
                let text = std::fs::read_to_string(root().join(file)).unwrap();
                assert!(
                    text.contains(needle),
                    "{doc}: {span} is said to be run by {file}, which no longer has {needle:?}"
                );
            }
            How::Tooling | How::Synopsis => {
                if span.starts_with("imcpm ") {
                    options_exist(span).unwrap_or_else(|e| panic!("{doc}: {e}"));
                }
            }
            How::Label => assert!(options_exist(span).is_err(), "{doc}: {span} is a command"),
        }
    }
    assert!(
        unlisted.is_empty(),
        "inline commands in the documents that this test does not know:\n{}",
        unlisted.join("\n")
    );
    let gone: Vec<String> = INLINE
        .iter()
        .filter(|(d, c, _)| !found.iter().any(|(fd, fc)| fd == d && fc == c))
        .map(|(d, c, _)| format!("{d}: {c}"))
        .collect();
    assert!(gone.is_empty(), "listed in INLINE but in no document any more:\n{}", gone.join("\n"));
    assert!(ran >= 2, "{ran} inline commands run");
}

/// The example `run_one`, whose code docs/scenarios.md's inline `cargo run --example run_one`
/// runs.
#[path = "../../examples/run_one.rs"]
#[allow(dead_code)]
mod run_one;

/// The scratch directory of `doc`, made (empty) the first time it is asked for in this run.
fn scratch_of(doc: &str) -> PathBuf {
    static MADE: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    let mut made = MADE.lock().unwrap();
    if made.insert(doc.to_string()) {
        scratch(doc)
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc_examples").join(doc.replace('/', "_"))
    }
}

/// README's Rust example is the code of `tests/it/harness_api.rs::appendix_t`, which compiles
/// and runs in `cargo test`.
#[test]
fn the_readme_rust_example_is_compiled_and_run() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```rust\n").unwrap() + "```rust\n".len();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    // Line by line, indentation aside (the test has it in a module).
    let trim = |t: &str| t.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
    let code = trim(block);
    let api = std::fs::read_to_string(root().join("tests/it/harness_api.rs")).unwrap();
    assert!(trim(&api).contains(&code), "README's example differs from harness_api.rs:\n{code}");
}
