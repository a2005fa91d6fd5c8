//! What the command line shows on a terminal, the same for every command: bytes from input
//! escaped in errors and findings, no diagnostic code before a message, input files framed as
//! a server frames them (warnings and errors naming file and line), `--color`, tables within 80
//! columns, and `rewrite` saying what it leaves unchanged. Snapshots under snapshots/cli/.

use std::path::{Path, PathBuf};
use std::process::Command;

const ESC_RED: &str = "\x1b[31m";

fn examples(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples").join(name);
    std::fs::read_to_string(p).unwrap()
}

/// A fresh directory for one test's files (commands run inside it, so that the snapshots name
/// files relative to it).
fn workdir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_terminal").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

fn imcpm_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imcpm"));
    c.current_dir(dir).args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("imcpm runs");
    Run { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// The command, its exit status, stderr and (when `with_stdout`) stdout, for a snapshot.
fn transcript(args: &[&str], r: &Run, with_stdout: bool) -> String {
    let mut s = format!("$ imcpm {}\nexit {}\n--- stderr\n{}", args.join(" "), r.code.unwrap_or(-1), r.stderr);
    if with_stdout {
        s.push_str(&format!("--- stdout\n{}", String::from_utf8_lossy(&r.stdout)));
    }
    s
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../../snapshots/cli", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!(name, text);
    });
}

/// 1a with `line` inserted before Content-Type.
fn with_header(base: &str, line: &str) -> String {
    base.replacen("Content-Type: message/cpim\r\n", &format!("{line}\r\nContent-Type: message/cpim\r\n"), 1)
}

fn check_args<'a>(ingress: &'a str, egress: &'a str) -> Vec<&'a str> {
    vec!["check", "--level", "1", "--case", "term", "--client", "im", "--ingress", ingress, "--egress", egress]
}

#[test]
fn bytes_from_input_are_escaped_in_errors_and_findings() {
    let d = workdir("escape");
    let rx = examples("1a_pager_cpm_rx.sip");
    let tx = examples("1b_pager_im_tx.sip");
    // A header value with ESC: kept by the server in one file, changed in the other.
    std::fs::write(d.join("in.sip"), with_header(&rx, &format!("Subject: {ESC_RED}red"))).unwrap();
    std::fs::write(d.join("out.sip"), with_header(&tx, &format!("Subject: {ESC_RED}green"))).unwrap();
    // A start line with ESC, in a file whose name has one too.
    let bad_start = rx.replacen("MESSAGE sip:", &format!("MES{ESC_RED}SAGE sip:"), 1);
    let bad_name = format!("bad{ESC_RED}start.sip");
    std::fs::write(d.join(&bad_name), bad_start).unwrap();
    // A header value with ESC where the file's framing is read.
    std::fs::write(d.join("cl.sip"), rx.replacen("Content-Length: 282", &format!("Content-Length: {ESC_RED}282"), 1))
        .unwrap();
    let mut shots = String::new();
    for (args, stdout) in [
        (check_args("in.sip", "out.sip"), true),
        (check_args(&bad_name, "out.sip"), false),
        (check_args("in.sip", "cl.sip"), false),
        (vec!["rewrite", "--direction", "cpm-to-im", &bad_name], false),
        (vec!["rewrite", "--direction", "cpm-to-im", "cl.sip"], false),
    ] {
        let r = imcpm_in(&d, &args, &[]);
        let shown = args.iter().map(|a| a.replace('\x1b', "<ESC>")).collect::<Vec<_>>();
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        assert!(!r.stderr.contains('\x1b') && !r.stdout.contains(&0x1b), "{}", transcript(&shown, &r, true));
        assert!(!r.stderr.contains("imcpm::"), "no diagnostic code: {}", r.stderr);
        shots.push_str(&transcript(&shown, &r, stdout));
        shots.push('\n');
    }
    assert!(shots.contains("Subject: \\x1b[31mred"), "{shots}");
    snapshot("escaped_input", &shots);
}

/// A value on the command line with a control character is named escaped in the usage error
/// (`\x01`), by the value parsers of every command and by clap's own echo of the value, which
/// would otherwise drop the character and name a value that was not given.
#[test]
fn argument_values_are_escaped_in_usage_errors() {
    let d = workdir("escape-args");
    let mut shots = String::new();
    for args in [
        vec!["run", "--sut", "udp:1.2.3.4\\x01:5", "--level", "1"],
        vec!["check-pcap", "x.pcap", "--sut", "1.2.3.4\\x07", "--level", "1"],
        vec!["load", "--sut", "udp:1.2.3.4\\x1b[31m:5", "--level", "1"],
        vec!["replay", "x.pcap", "--capture-sut", "10.0.0.1\\x01", "--sut", "udp:127.0.0.1:9", "--level", "1"],
        vec!["serve", "--listen", "udp:127.0.0.1:0\\x01", "--level", "1"],
        vec!["serve", "--listen", "udp:127.0.0.1:0", "--level", "1", "--domain", "im\\x1b[31m.example.net"],
        vec!["load", "--sut", "udp:127.0.0.1:9", "--level", "1", "--mix", "pa\\x01ger=1"],
        vec!["check", "--level", "3\\x01", "--case", "term", "--client", "im", "--ingress", "a", "--egress", "b"],
        vec!["run", "--filter\\x01"],
    ] {
        // Written here as `\xNN`, given to the command as the byte itself.
        let raw: Vec<String> = args.iter().map(|a| unescape(a)).collect();
        let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
        let r = imcpm_in(&d, &raw, &[]);
        assert_eq!(r.code, Some(2), "{}", transcript(&args, &r, true));
        assert!(!r.stderr.contains(|c: char| c.is_control() && c != '\n'), "{}", transcript(&args, &r, true));
        assert!(r.stdout.is_empty(), "{}", transcript(&args, &r, true));
        shots.push_str(&transcript(&args, &r, false));
        shots.push('\n');
    }
    snapshot("escaped_argument_values", &shots);
}

/// `\xNN` in `s` as the byte itself.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        out.push(char::from(u8::from_str_radix(&rest[i + 2..i + 4], 16).unwrap()));
        rest = &rest[i + 4..];
    }
    out + rest
}

/// Every way a file can be framed otherwise than it looks, for `rewrite` and for `check`.
#[test]
fn input_files_are_framed_as_they_will_be_judged() {
    let d = workdir("framing");
    let rx = examples("1a_pager_cpm_rx.sip");
    let tx = examples("1b_pager_im_tx.sip");
    std::fs::write(d.join("in.sip"), &rx).unwrap();
    std::fs::write(d.join("out.sip"), &tx).unwrap();
    let cases: Vec<(&str, String, String)> = vec![
        ("lf-only", rx.replace("\r\n", "\n"), tx.replace("\r\n", "\n")),
        (
            "mixed-line-ends",
            rx.replacen("CSeq: 1 MESSAGE\r\n", "CSeq: 1 MESSAGE\n", 1),
            tx.replacen("CSeq: 1 MESSAGE\r\n", "CSeq: 1 MESSAGE\n", 1),
        ),
        ("two-messages", format!("{rx}{rx}"), format!("{tx}\r\n{tx}")),
        (
            "two-messages-no-content-length",
            format!("{}{rx}", rx.replacen("Content-Length: 282\r\n", "", 1)),
            format!("{}{tx}", tx.replacen("Content-Length: 282\r\n", "", 1)),
        ),
        (
            "duplicate-content-length",
            rx.replacen("Content-Length: 282\r\n", "Content-Length: 282\r\nContent-Length: 282\r\n", 1),
            tx.replacen("Content-Length: 282\r\n", "Content-Length: 282\r\nl: 282\r\n", 1),
        ),
        (
            "content-length-too-large",
            rx.replacen("Content-Length: 282", "Content-Length: 290", 1),
            tx.replacen("Content-Length: 282", "Content-Length: 290", 1),
        ),
        (
            "content-length-too-small",
            rx.replacen("Content-Length: 282", "Content-Length: 270", 1),
            tx.replacen("Content-Length: 282", "Content-Length: 270", 1),
        ),
        ("trailing-blank-line", format!("{rx}\r\n"), format!("{tx}\n")),
        ("empty-header-name", with_header(&rx, ": nothing"), with_header(&tx, ": nothing")),
    ];
    for (name, ingress, egress) in cases {
        let (i, e) = (format!("{name}.in.sip"), format!("{name}.out.sip"));
        std::fs::write(d.join(&i), &ingress).unwrap();
        std::fs::write(d.join(&e), &egress).unwrap();
        let mut shots = String::new();
        let rewrite = ["rewrite", "--direction", "cpm-to-im", &i];
        let r = imcpm_in(&d, &rewrite, &[]);
        shots.push_str(&transcript(&rewrite, &r, false));
        let ok = matches!(name, "lf-only" | "trailing-blank-line");
        assert_eq!(r.code, Some(if ok { 0 } else { 2 }), "{name}: {}", r.stderr);
        assert!(r.stderr.contains(&i), "{name}: names the file: {}", r.stderr);
        if ok {
            assert!(r.stderr.starts_with("warning: "), "{name}: {}", r.stderr);
            // What was read is what a server gets: CRLF line ends, no blank line after the body.
            let expected = imcpm_in(&d, &["rewrite", "--direction", "cpm-to-im", "in.sip"], &[]).stdout;
            assert_eq!(String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&expected), "{name}");
        } else {
            assert!(r.stdout.is_empty(), "{name}");
            assert!(r.stderr.contains("line "), "{name}: names the line: {}", r.stderr);
        }
        // `check`: the egress is the file in question; for the LF-only case both are.
        let ing = if name == "lf-only" { i.as_str() } else { "in.sip" };
        let check = check_args(ing, &e);
        let r = imcpm_in(&d, &check, &[]);
        shots.push('\n');
        shots.push_str(&transcript(&check, &r, ok));
        assert_eq!(r.code, Some(if ok { 0 } else { 2 }), "{name}: {}", r.stderr);
        snapshot(&format!("framing_{name}"), &shots);
    }
}

/// On a terminal (`--color auto`, the default) every command colours its output; `NO_COLOR`
/// set to a non-empty value turns that off, for the table of `run` as for the findings of
/// `check-pcap` and the errors; `--color always` colours whatever `NO_COLOR` says.
#[test]
fn no_color_wins_on_a_terminal() {
    use crate::common::pty::imcpm_on_terminal;
    let d = workdir("no-color-terminal");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cap = root.join("captures/kamailio-l1-faulty.pcapng");
    let cap = cap.to_str().unwrap();
    let commands: [&[&str]; 3] = [
        &["run", "--filter", "t1/lmm", "--level", "1", "--fault", "forget-lmm-tag", "--report-dir", "reports"],
        &["check-pcap", cap, "--sut", "127.0.0.1:5070", "--level", "1", "--no-reports"],
        &["rewrite", "--direction", "cpm-to-im", "no-such.sip"],
    ];
    // An SGR sequence (colour, bold): ESC [ digits and semicolons, then `m`.
    let sgr = |t: &str| {
        t.match_indices("\x1b[").any(|(i, _)| {
            let rest = &t[i + 2..];
            let n = rest.find(|c: char| !c.is_ascii_digit() && c != ';').unwrap_or(rest.len());
            rest[n..].starts_with('m')
        })
    };
    let mut shots = String::new();
    for args in commands {
        let auto = imcpm_on_terminal(&d, args, &[], 80);
        assert!(sgr(&auto.text), "colour on a terminal: imcpm {}\n{}", args.join(" "), auto.text);
        let no = imcpm_on_terminal(&d, args, &[("NO_COLOR", "1")], 80);
        assert_eq!(no.code, auto.code, "{}", no.text);
        assert!(!sgr(&no.text), "NO_COLOR=1 on a terminal: imcpm {}\n{}", args.join(" "), no.text);
        let always: Vec<&str> = args.iter().copied().chain(["--color", "always"]).collect();
        let forced = imcpm_on_terminal(&d, &always, &[("NO_COLOR", "1")], 80);
        assert!(sgr(&forced.text), "--color always beats NO_COLOR: {}", forced.text);
        if args[0] == "check-pcap" {
            shots = format!(
                "$ NO_COLOR=1 imcpm {} (on an 80-column terminal)\nexit {}\n{}",
                args.join(" ").replace(cap, "captures/kamailio-l1-faulty.pcapng"),
                no.code.unwrap_or(-1),
                no.text
            );
        }
    }
    snapshot("no_color_on_a_terminal", &shots);
}

/// A capture in which nothing went through the server named by `--sut`: no results, and no
/// table left open (a header without rows or bottom border), only the lines that say so.
#[test]
fn check_pcap_without_results_prints_no_open_table() {
    let d = workdir("no-results");
    let cap = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/kamailio-l1-correct.pcapng");
    std::fs::copy(cap, d.join("capture.pcapng")).unwrap();
    let args = ["check-pcap", "capture.pcapng", "--sut", "192.0.2.99", "--level", "1", "--no-reports"];
    let r = imcpm_in(&d, &args, &[("NO_COLOR", "1")]);
    assert_eq!(r.code, Some(0), "{}", transcript(&args, &r, true));
    assert!(!String::from_utf8_lossy(&r.stdout).contains('\u{250c}'), "no table");
    snapshot("check_pcap_no_results", &transcript(&args, &r, true));
}

fn ansi(b: &[u8]) -> bool {
    b.windows(2).any(|w| w == b"\x1b[")
}

#[test]
fn color_always_never_and_no_color() {
    let d = workdir("color");
    let reports = d.join("reports");
    let r = reports.to_str().unwrap();
    let scenarios = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = scenarios.to_str().unwrap();
    let run = ["run", "--scenarios", s, "--filter", "t1/pager", "--deterministic", "--report-dir", r];
    let with = |extra: &[&str], env: &[(&str, &str)]| imcpm_in(&d, &[&run[..], extra].concat(), env);
    assert!(ansi(&with(&["--color", "always"], &[]).stdout), "always: colour into a pipe");
    assert!(ansi(&with(&["--color=always"], &[("NO_COLOR", "1")]).stdout), "always overrides NO_COLOR");
    assert!(!ansi(&with(&[], &[]).stdout), "auto: no colour into a pipe");
    assert!(!ansi(&with(&["--color", "never"], &[]).stdout), "never");
    assert!(!ansi(&with(&["--color", "never"], &[("NO_COLOR", "")]).stdout), "never wins");
    // The global option stands before the command too, and colours errors (miette) as well.
    std::fs::write(d.join("bad.sip"), "MESSAGE sip:a@b SIP/2.0\r\nVia x\r\n\r\n").unwrap();
    let bad = |pre: &[&str], env: &[(&str, &str)]| {
        imcpm_in(&d, &[pre, &["rewrite", "--direction", "cpm-to-im", "bad.sip"]].concat(), env)
    };
    let r = bad(&["--color", "always"], &[]);
    assert!(ansi(r.stderr.as_bytes()) && r.code == Some(2), "{}", r.stderr);
    let r = bad(&["--color", "never"], &[("NO_COLOR", "1")]);
    assert!(!ansi(r.stderr.as_bytes()) && r.code == Some(2), "{}", r.stderr);
    // check-pcap colours its table the same way.
    let cap = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/kamailio-l1-correct.pcapng");
    let pcap = ["check-pcap", cap.to_str().unwrap(), "--sut", "127.0.0.1:5070", "--level", "1", "--no-reports"];
    assert!(ansi(&imcpm_in(&d, &[&pcap[..], &["--color", "always"]].concat(), &[]).stdout));
    assert!(!ansi(&imcpm_in(&d, &pcap, &[("NO_COLOR", "1")]).stdout));
}

#[test]
fn rules_and_faults_fit_80_columns_in_every_format() {
    let d = workdir("tables");
    for cmd in ["rules", "faults"] {
        for format in ["text", "json", "markdown"] {
            let r = imcpm_in(&d, &[cmd, "--format", format], &[]);
            assert_eq!(r.code, Some(0), "{}", r.stderr);
            let out = String::from_utf8(r.stdout).unwrap();
            match format {
                "text" => {
                    let widest = out.lines().map(|l| l.chars().count()).max().unwrap_or(0);
                    assert!(widest <= 80, "imcpm {cmd}: a line of {widest} characters:\n{out}");
                }
                "json" => {
                    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                    assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{out}");
                }
                _ => assert!(out.lines().all(|l| l.starts_with('|')), "{out}"),
            }
            snapshot(&format!("{cmd}_{format}"), &out);
        }
    }
}

#[test]
fn rewrite_says_what_it_leaves_unchanged() {
    let d = workdir("unchanged");
    let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bK77e1.term\r\n\
        From: <sip:+15551230001@cpm.example.com>;tag=a73ksz\r\nTo: <sip:bob@im.example.net>;tag=b1\r\n\
        Call-ID: m1-4f9a@cpm.example.com\r\nCSeq: 1 MESSAGE\r\nContact: <sip:bob@192.0.2.20>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\r\nContent-Length: 0\r\n\r\n";
    let register = "REGISTER sip:im.example.net SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.20:5060;branch=z9hG4bKr1\r\n\
        Max-Forwards: 70\r\nFrom: <sip:bob@im.example.net>;tag=r1\r\nTo: <sip:bob@im.example.net>\r\n\
        Call-ID: reg-1@192.0.2.20\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@192.0.2.20>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg\"\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n";
    let files = [
        ("response.sip", response.to_string()),
        ("register.sip", register.to_string()),
        ("cpm.sip", examples("1a_pager_cpm_rx.sip")),
        ("im.sip", examples("1b_pager_im_tx.sip")),
        ("negated.sip", {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/variants/negated_sip_im_false_pager.sip");
            std::fs::read_to_string(p).unwrap()
        }),
        // Other methods, named with their article (an OPTIONS, a SUBSCRIBE).
        ("options.sip", register.replace("REGISTER", "OPTIONS")),
        ("subscribe.sip", register.replace("REGISTER", "SUBSCRIBE")),
    ];
    for (f, text) in &files {
        std::fs::write(d.join(f), text).unwrap();
    }
    let mut shots = String::new();
    for (file, dir, extra) in [
        ("response.sip", "cpm-to-im", None),
        ("register.sip", "cpm-to-im", None),
        ("register.sip", "im-to-cpm", Some("--service=pager")),
        ("cpm.sip", "im-to-cpm", None),
        ("im.sip", "cpm-to-im", None),
        ("negated.sip", "im-to-cpm", None),
        ("negated.sip", "cpm-to-im", None),
        ("options.sip", "cpm-to-im", None),
        ("subscribe.sip", "cpm-to-im", None),
    ] {
        let mut args = vec!["rewrite", "--direction", dir];
        args.extend(extra);
        args.push(file);
        let r = imcpm_in(&d, &args, &[]);
        let input = &files.iter().find(|(f, _)| f == &file).unwrap().1;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert_eq!(String::from_utf8_lossy(&r.stdout), input.as_str(), "printed unchanged");
        assert!(r.stderr.starts_with("warning: ") && r.stderr.contains("printed unchanged"), "{}", r.stderr);
        shots.push_str(&transcript(&args, &r, false));
        shots.push('\n');
    }
    snapshot("rewrite_unchanged", &shots);
}
