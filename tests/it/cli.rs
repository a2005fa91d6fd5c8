//! The command line as a user drives it: `rewrite` and `check` on the example and tricky-variant
//! fixtures, `rules`, `faults`, `run --fault`, `run --pcap`, and bad input (exit 2, a message
//! naming the file and line, never a panic).

use imcpm::interop::classify::{Form, form_of};
use imcpm::sip::{HeaderName, Message};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn imcpm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imcpm")).args(args).output().expect("imcpm runs")
}

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    v.sort();
    v
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// What a correct proxy does besides the Appendix T rewrite: its Via on top, Max-Forwards - 1,
/// its own Route entry (the first) removed.
fn proxied(rewritten: &[u8]) -> Vec<u8> {
    let m = Message::parse(rewritten.to_vec()).unwrap();
    let mut edits = Vec::new();
    let via_at = m.first(&HeaderName::Via).map_or(0, |h| h.line.start);
    edits.push(imcpm::sip::Edit::header_before(
        &m,
        via_at,
        "Via",
        "SIP/2.0/TCP imserver.im.example.net:5060;branch=z9hG4bKcli1",
    ));
    if let Some(h) = m.first(&HeaderName::MaxForwards) {
        let n: u32 = m.value(h).trim().parse().unwrap();
        edits.push(imcpm::sip::Edit::replace(h.value, (n - 1).to_string()));
    }
    if let Some(h) = m.first(&HeaderName::Route) {
        let els = imcpm::sip::split_list(m.bytes(), h.value);
        edits.push(match els.get(1) {
            Some(n) => imcpm::sip::Edit::remove(imcpm::sip::Span::new(els[0].start, n.start)),
            None => imcpm::sip::Edit::remove(h.line),
        });
    }
    imcpm::sip::apply_edits(m.bytes(), &edits).unwrap()
}

fn check_args(ingress: &Path, egress: &Path, form: Form) -> Vec<String> {
    let (level, client) = if form == Form::Cpm { ("1", "im") } else { ("2", "cpm") };
    ["check", "--level", level, "--case", "term", "--client", client, "--ingress"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            ingress.display().to_string(),
            "--egress".into(),
            egress.display().to_string(),
            "--format".into(),
            "json".into(),
        ])
        .collect()
}

#[test]
fn rewrite_and_check_every_fixture() {
    let mut checked = 0;
    for f in fixtures("examples").into_iter().chain(fixtures("variants")) {
        let input = std::fs::read(&f).unwrap();
        let m = Message::parse(input.clone()).unwrap();
        let form = form_of(&m);
        let dir = if form == Form::Cpm { "cpm-to-im" } else { "im-to-cpm" };
        let out = imcpm(&["rewrite", "--direction", dir, f.to_str().unwrap()]);
        if !out.status.success() {
            // Only requests that are no Appendix T service may be refused, with a message.
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("cannot tell the service"), "{}: {err}", f.display());
            continue;
        }
        if form == Form::Negated {
            // Not an IM request (its only IM tag is negated, vector 13): left as it is.
            assert_eq!(out.stdout, input, "{}: a negated-only request must not be rewritten", f.display());
            continue;
        }
        let r = Message::parse(out.stdout.clone()).unwrap();
        assert_eq!(r.body(), m.body(), "{}: body changed", f.display());
        assert_eq!(r.content_length().unwrap(), Some(r.body().len()), "{}", f.display());
        if form == Form::Cpm {
            let left: Vec<_> = r
                .list_values(&HeaderName::AcceptContact)
                .iter()
                .map(|v| r.text(*v).to_lowercase())
                .filter(|v| {
                    v.contains("oma.cpm.msg\"")
                        || v.contains("oma.cpm.session\"")
                        || v.contains("oma.cpm.largemsg\"")
                        || v.contains("oma.cpm.filetransfer\"")
                })
                .collect();
            assert!(left.is_empty(), "{}: CPM ICSI left: {left:?}", f.display());
        }
        if m.first(&HeaderName::Via).is_none() || m.method().is_none() {
            continue;
        }
        // `check` passes the correct egress and fails a broken one.
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let eg = tmp(&format!("{name}.egress"));
        std::fs::write(&eg, proxied(&out.stdout)).unwrap();
        let args = check_args(&f, &eg, form);
        let ok = imcpm(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let text = String::from_utf8_lossy(&ok.stdout);
        assert_eq!(ok.status.code(), Some(0), "{name}: {text}");
        // Break what the direction owns: the IM tag (-> IM), P-Asserted-Service (-> CPM), in
        // the header section only (the body's bytes, binary ones too, stay as they are).
        let whole = proxied(&out.stdout);
        let split = Message::parse(whole.clone()).unwrap().body_span().start;
        let good = String::from_utf8(whole[..split].to_vec()).unwrap();
        let bad = if form == Form::Cpm {
            good.replace("+g.oma.sip-im", "+g.oma.sip-im.x")
        } else {
            let at = good.find("P-Asserted-Service:").unwrap_or(0);
            let end = good[at..].find("\r\n").map_or(at, |e| at + e + 2);
            format!("{}{}", &good[..at], &good[end..])
        };
        assert_ne!(bad, good, "{name}: the mutation changed nothing");
        let bad_path = tmp(&format!("{name}.bad"));
        std::fs::write(&bad_path, [bad.as_bytes(), &whole[split..]].concat()).unwrap();
        let args = check_args(&f, &bad_path, form);
        let res = imcpm(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let json: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
        assert_eq!(res.status.code(), Some(1), "{name}: a broken egress must fail");
        let ids: Vec<&str> = json["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["verdict"] == "FAIL")
            .filter_map(|r| r["requirement"].as_str())
            .collect();
        let owner = if form == Form::Cpm { "T1.TERM." } else { "T2.TERM." };
        assert!(ids.iter().any(|i| i.starts_with(owner)), "{name}: {ids:?}");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} fixtures went through check");
}

#[test]
fn check_names_the_id_of_a_forgotten_lmm_tag() {
    let ex = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/examples");
    let bad = std::fs::read_to_string(ex.join("2b_lmm_im_tx.sip"))
        .unwrap()
        .replace("Accept-Contact: *;+g.oma.sip-im;+g.oma.sip-im.large-message", "Accept-Contact: *;+g.oma.sip-im");
    let (head, body) = bad.split_once("\r\n\r\n").unwrap();
    let p = tmp("lmm_forgotten.sip");
    std::fs::write(&p, format!("{head}\r\n\r\n{body}")).unwrap();
    let out = imcpm(&[
        "check",
        "--level",
        "1",
        "--case",
        "term",
        "--client",
        "im",
        "--ingress",
        ex.join("2a_lmm_cpm_rx.sip").to_str().unwrap(),
        "--egress",
        p.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL T1.TERM.LMM"), "{text}");
    assert!(text.contains("| Accept-Contact: *;+g.oma.sip-im"), "points at the line: {text}");
}

#[test]
fn rules_and_faults_list_everything() {
    let out = imcpm(&["rules", "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), imcpm::interop::rules::catalogue().len());
    let text = String::from_utf8_lossy(&imcpm(&["rules"]).stdout).to_string();
    for r in imcpm::interop::rules::catalogue() {
        assert!(text.contains(r.id.as_str()), "{} missing from `imcpm rules`", r.id);
    }
    let out = imcpm(&["faults", "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for f in imcpm::node::im_server::faults::Fault::ALL {
        let row =
            v.as_array().unwrap().iter().find(|r| r["name"] == f.name()).unwrap_or_else(|| panic!("{f} not listed"));
        let ids: Vec<&str> = row["targets"].as_array().unwrap().iter().filter_map(|i| i.as_str()).collect();
        assert_eq!(ids, f.targets().iter().map(|i| i.as_str()).collect::<Vec<_>>());
    }
}

#[test]
fn bad_input_exits_2_and_names_the_place() {
    let p = tmp("bad.sip");
    std::fs::write(&p, "MESSAGE sip:bob@im.example.net SIP/2.0\r\nVia SIP/2.0/TCP x\r\n\r\n").unwrap();
    let out = imcpm(&["rewrite", "--direction", "cpm-to-im", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.sip") && err.contains("line 2"), "{err}");
    let out = imcpm(&["rewrite", "--direction", "cpm-to-im", "/nonexistent/x.sip"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.sip"));
    let out = imcpm(&["check", "--level", "3", "--case", "term", "--client", "im", "--ingress", "a", "--egress", "b"]);
    assert_eq!(out.status.code(), Some(2));
    let out = imcpm(&["run", "--fault", "no-such-fault", "--report-dir", tmp("r-bad").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-fault"));
}

#[test]
fn run_with_a_fault_exits_1_and_reports_the_fail() {
    let dir = tmp("r-fault");
    let out = imcpm(&["run", "--fault", "forget-lmm-tag", "--report-dir", dir.to_str().unwrap(), "--deterministic"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let fails: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "FAIL")
        .filter_map(|r| r["requirement"].as_str())
        .collect();
    assert!(fails.contains(&"T1.TERM.LMM"), "{fails:?}");
    for f in ["junit.xml", "report.md", "report.html"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().filter(|l| l.starts_with('│') || l.starts_with('┌')).all(|l| l.chars().count() <= 80),
        "summary fits 80 columns"
    );
    // A second run moves the first to `<dir>.previous`, and compares with it.
    let base = dir.join("report.json");
    let keep = tmp("baseline.json");
    std::fs::copy(&base, &keep).unwrap();
    let out =
        imcpm(&["run", "--report-dir", dir.to_str().unwrap(), "--deterministic", "--baseline", keep.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(PathBuf::from(format!("{}.previous", dir.display())).join("report.json").exists());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Compared with the baseline") && text.contains("new-pass"), "{text}");
}

#[test]
fn run_pcap_writes_one_section_per_scenario_and_level() {
    use imcpm::capture::{ReadOptions, read_captures};
    let pcap = tmp("t1-pager.pcapng");
    let dir = tmp("r-pcap");
    let out = imcpm(&[
        "run",
        "--filter",
        "t1/pager",
        "--pcap",
        pcap.to_str().unwrap(),
        "--report-dir",
        dir.to_str().unwrap(),
        "--deterministic",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut n = 0u64;
    let (stats, err) = read_captures(std::slice::from_ref(&pcap), &ReadOptions::default(), |_| n += 1);
    assert!(err.is_none(), "{err:?}");
    let comments: Vec<&str> = stats.sections.iter().map(|s| s.comment.as_str()).collect();
    assert_eq!(comments, ["imcpm run: t1/pager L1", "imcpm run: t1/pager L2"]);
    assert_eq!(stats.sections[0].first_frame, 1);
    assert_eq!(stats.sections[1].first_frame, 1 + stats.sections[0].frames);
    assert!(stats.sections.iter().all(|s| s.frames > 0), "{:?}", stats.sections);
    assert_eq!(stats.sections.iter().map(|s| s.frames).sum::<u64>(), stats.frames);
    assert_eq!(n, stats.frames, "every frame one SIP message");
}

/// `--strict` makes INCONCLUSIVE fail the run (exit 1) for every judging command; without it
/// INCONCLUSIVE alone exits 0 (SPEC A.3).
#[test]
fn strict_makes_inconclusive_fail_every_judging_command() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // run: a scenario naming an ID nothing in it judges is INCONCLUSIVE for that ID.
    let dir = tmp("strict-scenarios");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("t1")).unwrap();
    let pager = std::fs::read_to_string(root.join("scenarios/t1/pager.toml")).unwrap();
    let pager = pager.replacen("requirements = [", "requirements = [\"SIP.ROBUST\", ", 1);
    std::fs::write(dir.join("t1/pager.toml"), pager).unwrap();
    let reports = tmp("strict-reports");
    let d = dir.to_str().unwrap();
    let r = reports.to_str().unwrap();
    let base = ["run", "--scenarios", d, "--report-dir", r];
    let out = imcpm(&base);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INCONCLUSIVE SIP.ROBUST"));
    assert_eq!(imcpm(&[&base[..], &["--strict"]].concat()).status.code(), Some(1));
    // Every report says what the exit status says.
    let md = std::fs::read_to_string(reports.join("report.md")).unwrap();
    assert!(
        md.contains("**FAILED**: exit status 1 (0 FAIL, 0 ERROR, 0 XPASS, 2 INCONCLUSIVE with --strict in 16 results)"),
        "{md}"
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("type=\"INCONCLUSIVE\"") && junit.contains("<failure"), "{junit}");
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("<title>imcpm report: FAILED</title>"));
    let json = std::fs::read_to_string(reports.join("report.json")).unwrap();
    assert!(json.contains("\"strict\": true"));
    // check-pcap: a level-1 server's capture judged at level 2 leaves client kinds unknown.
    let cap = root.join("captures/kamailio-l1-correct.pcapng");
    let cap = cap.to_str().unwrap();
    let base = ["check-pcap", cap, "--sut", "127.0.0.1:5070", "--level", "2", "--no-reports"];
    let out = imcpm(&base);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INCONCLUSIVE"));
    assert_eq!(imcpm(&[&base[..], &["--strict"]].concat()).status.code(), Some(1));
    // Nothing INCONCLUSIVE: --strict changes nothing.
    let base = ["check-pcap", cap, "--sut", "127.0.0.1:5070", "--level", "1", "--no-reports", "--strict"];
    assert_eq!(imcpm(&base).status.code(), Some(0));
}

/// `imcpm serve --listen udp:127.0.0.1:0 --level 1`, killed when dropped, and its address.
struct Serve(std::process::Child, std::net::SocketAddr);

impl Serve {
    fn start() -> Serve {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
            .args(["serve", "--listen", "udp:127.0.0.1:0", "--level", "1"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let addr = std::io::BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("imcpm serve: listening on udp:").and_then(|a| a.parse().ok()))
            .expect("serve prints its address");
        Serve(child, addr)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `replay` too: a capture without the third-party REGISTERs, judged at level 2, leaves the
/// recipients' client kinds unknown (INCONCLUSIVE), exit 0; with `--strict`, exit 1. Each run
/// against a fresh `imcpm serve` (the capture's transactions are new to it).
#[test]
fn strict_makes_inconclusive_fail_a_replay() {
    let cap = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/kamailio-l1-correct.pcapng");
    for (strict, code) in [(false, 0), (true, 1)] {
        let serve = Serve::start();
        let sut = format!("udp:{}", serve.1);
        let reports = tmp(&format!("strict-replay-{strict}"));
        let _ = std::fs::remove_dir_all(&reports);
        let mut args = vec!["replay", cap.to_str().unwrap(), "--capture-sut", "127.0.0.1:5070", "--sut", &sut];
        args.extend(["--level", "2", "--speed", "max", "--report-dir", reports.to_str().unwrap()]);
        if strict {
            args.push("--strict");
        }
        let out = imcpm(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(code),
            "--strict {strict}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("results: 5 INCONCLUSIVE, 27 PASS."), "{stdout}");
        let json = std::fs::read_to_string(reports.join("report.json")).unwrap();
        assert_eq!(json.contains("\"strict\": true"), strict, "{json}");
    }
}

/// A selection that matches nothing is a usage error that says what was asked, in the words of
/// the command line (no Rust debug names such as `Some(One)`).
#[test]
fn an_empty_selection_is_named_as_it_was_asked() {
    let out = imcpm(&["run", "--level", "1", "--filter", "zz*", "--report-dir", tmp("empty").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--level 1") && err.contains("--filter zz*"), "{err}");
    assert!(!err.contains("Some(") && !err.contains("One") && !err.contains("[\""), "{err}");
    let out = imcpm(&["run", "--filter", "zz*", "--report-dir", tmp("empty").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("every level"));
}

/// The dialogs still held when a capture ends are judged in capture order, so the results a
/// report lists in full are the same in every run. Judged in a hash map's order they differed
/// from run to run on this capture (about one run in three), counts alike.
#[test]
fn check_pcap_lists_the_same_results_every_time() {
    let (cap, reports) = (tmp("udp-over-1300.pcapng"), tmp("udp-over-1300-run"));
    let _ = std::fs::remove_file(&cap);
    let (cap_s, reports_s) = (cap.to_str().unwrap(), reports.to_str().unwrap());
    let run = ["run", "--deterministic", "--fault", "udp-over-1300", "--pcap", cap_s, "--report-dir", reports_s];
    assert_eq!(imcpm(&run).status.code(), Some(1), "the fault fails the run");
    let listed = || {
        let args = ["check-pcap", cap_s, "--sut", "192.0.2.1", "--level", "2", "--format", "json", "--no-reports"];
        let out = imcpm(&args);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let results = v["results"].as_array().expect("results").iter();
        results.map(|r| format!("{} {} {}", r["scenario"], r["requirement"], r["verdict"])).collect::<Vec<_>>()
    };
    let first = listed();
    assert!(!first.is_empty());
    for _ in 0..10 {
        assert_eq!(listed(), first);
    }
}
