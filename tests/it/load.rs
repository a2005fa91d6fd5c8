//! `imcpm load` against `imcpm serve` on loopback: every message judged by the oracle at rate,
//! the verdict a fault's grade implies, the measurements in report.json, bad arguments.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `imcpm serve --level 1 [--fault F]` on a free UDP port.
fn serve(fault: Option<&str>) -> (Serve, SocketAddr) {
    serve_at("1", fault)
}

/// `imcpm serve --level LEVEL [--fault F]` on a free UDP port.
fn serve_at(level: &str, fault: Option<&str>) -> (Serve, SocketAddr) {
    let mut args = vec!["--level", level];
    if let Some(f) = fault {
        args.extend(["--fault", f]);
    }
    serve_with(&args, None)
}

/// `imcpm serve --listen udp:127.0.0.1:0 ARGS...`, its log (`RUST_LOG=info`) to `log` when
/// given.
fn serve_with(args: &[&str], log: Option<&std::path::Path>) -> (Serve, SocketAddr) {
    serve_on("udp", args, log)
}

/// `imcpm serve --listen TRANSPORT:127.0.0.1:0 ARGS...`, its log to `log` when given.
fn serve_on(transport: &str, args: &[&str], log: Option<&std::path::Path>) -> (Serve, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imcpm"));
    cmd.args(["serve", "--listen", &format!("{transport}:127.0.0.1:0")]).args(args);
    let stderr = match log {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::null(),
    };
    let level = if log.is_some() { "info" } else { "warn" };
    let mut child =
        cmd.env("RUST_LOG", level).env("NO_COLOR", "1").stdout(Stdio::piped()).stderr(stderr).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let addr = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix(&format!("imcpm serve: listening on {transport}:")).and_then(|a| a.parse().ok()))
        .expect("serve prints its address");
    (Serve(child), addr)
}

/// A scratch file under the test's temporary directory.
fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load").join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `imcpm load ARGS...` (no --sut or --level added): its output and report.json.
fn load_raw(dir: &str, extra: &[&str]) -> (Output, Value) {
    let reports = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load").join(dir);
    let _ = std::fs::remove_dir_all(&reports);
    let mut args = vec!["load", "--report-dir", reports.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_imcpm")).args(&args).env("NO_COLOR", "1").output().unwrap();
    let json =
        std::fs::read(reports.join("report.json")).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or(Value::Null);
    (out, json)
}

fn load(sut: SocketAddr, dir: &str, extra: &[&str]) -> (Output, Value) {
    load_at("1", sut, dir, extra)
}

fn load_at(level: &str, sut: SocketAddr, dir: &str, extra: &[&str]) -> (Output, Value) {
    load_over("udp", level, sut, dir, extra)
}

fn load_over(transport: &str, level: &str, sut: SocketAddr, dir: &str, extra: &[&str]) -> (Output, Value) {
    let reports = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load").join(dir);
    let _ = std::fs::remove_dir_all(&reports);
    let sut = format!("{transport}:{sut}");
    let mut args = vec!["load", "--sut", &sut, "--level", level, "--report-dir", reports.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_imcpm")).args(&args).env("NO_COLOR", "1").output().unwrap();
    let json =
        std::fs::read(reports.join("report.json")).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or(Value::Null);
    (out, json)
}

/// Count of `verdict` for `id` in report.json's aggregate.
fn count(json: &Value, id: &str, verdict: &str) -> u64 {
    json["aggregate"]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["requirement"] == id)
        .filter_map(|r| r["counts"][verdict].as_u64())
        .sum()
}

#[test]
fn a_correct_server_passes_every_request_judged() {
    let (_s, sut) = serve(None);
    let (out, json) =
        load(sut, "correct", &["--rate", "200", "--duration", "2s", "--population", "7", "--mix", "pager=1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let totals = &json["load"]["totals"];
    assert_eq!(totals["offered"], 400);
    assert_eq!(totals["answered"], 400);
    assert_eq!(totals["unanswered"], 0);
    // Every request judged: one T1.TERM.PAGER PASS each, and nothing else than PASS.
    assert_eq!(count(&json, "T1.TERM.PAGER", "PASS"), 400, "{text}");
    assert_eq!(
        json["summary"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "PASS")
            .map(|(_, n)| n.as_u64().unwrap())
            .sum::<u64>(),
        0
    );
    // 4 messages per transaction, all handed to the judge.
    assert_eq!(json["load"]["messages"], 1600);
    let p = &json["load"]["latency"][0][1];
    assert_eq!(json["load"]["latency"][0][0], "pager");
    assert_eq!(p["count"], 400);
    assert!(p["p50_us"].as_u64().unwrap() <= p["p99_us"].as_u64().unwrap());
    assert_eq!(json["load"]["steps"][0]["rate"], 200);
    assert!(json["load"]["seconds"].as_array().unwrap().len() >= 2);
    assert!(text.contains("Offered 400 requests (200/s for 2 s)"), "{text}");
    // report.html: the load section with its chart, one bar per second, drawn without script.
    let html = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load").join("correct").join("report.html"),
    )
    .unwrap();
    let at = html.find("<svg class=\"loadchart\"").expect("a chart");
    let chart = &html[at..at + html[at..].find("</svg>").unwrap()];
    let seconds = json["load"]["seconds"].as_array().unwrap().len();
    assert_eq!(chart.matches("<title>").count(), seconds, "one bar per second");
    assert!(html.contains("2800 results: 2800 PASS"), "the counts line of a load run");
    assert!(!html.contains("http://") && !html.contains("https://"), "no fetches");
}

/// A FAIL-grade fault fails every request it touches; a NON-STRICT-grade one is NON-STRICT and
/// exits 0.
#[test]
fn faults_get_the_verdict_their_grade_implies() {
    let (_s, sut) = serve(Some("keep-cpm-icsi"));
    let (out, json) = load(sut, "keep-cpm-icsi", &["--rate", "100", "--duration", "1s", "--mix", "pager=1"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(count(&json, "T1.TERM.PAGER", "FAIL"), 100);
    drop(_s);
    let (_s, sut) = serve(Some("keep-cpm-pas"));
    let (out, json) = load(sut, "keep-cpm-pas", &["--rate", "100", "--duration", "1s", "--mix", "pager=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(count(&json, "X.PAS-REMOVED", "NON-STRICT"), 100);
    assert_eq!(count(&json, "T1.TERM.PAGER", "PASS"), 100);
}

#[test]
fn bad_arguments_exit_2_before_anything_is_sent() {
    for (args, says) in [
        (
            vec!["--sut", "tcp:127.0.0.1:5060", "--listen", "udp:127.0.0.1:0"],
            "the harness listens over the server's transport",
        ),
        (vec!["--sut", "udp:127.0.0.1:5060", "--duration", "0s"], "whole seconds"),
        (vec!["--sut", "udp:127.0.0.1:5060", "--duration", "fast"], "not a duration"),
        (vec!["--sut", "udp:127.0.0.1:5060", "--rate", "0"], "--rate"),
        (vec!["--sut", "udp:127.0.0.1:5060", "--mix", "pager=1,pager=2"], "given twice"),
        (vec!["--sut", "udp:127.0.0.1:5060", "--mix", "fax=1"], "not a service"),
        (vec!["--sut", "udp:127.0.0.1:5060", "--level", "2", "--population", "100001"], "at most 100000"),
    ] {
        let mut args = args;
        if !args.contains(&"--level") {
            args.extend(["--level", "1"]);
        }
        usage_error(&args, says);
    }
}

/// `imcpm load ARGS...` is a usage error (exit 2) whose message contains `says`.
fn usage_error(args: &[&str], says: &str) {
    let mut all = vec!["load"];
    all.extend(args);
    let out = Command::new(env!("CARGO_BIN_EXE_imcpm")).args(&all).env("NO_COLOR", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{all:?}: {err}");
    assert!(err.contains(says), "{all:?}: {err}");
}

/// A ramp runs its steps while they are clean and names the highest clean rate; a step with a
/// failing result stops it there.
#[test]
fn a_ramp_stops_at_the_first_step_that_is_not_clean() {
    let (_s, sut) = serve(None);
    let (out, json) = load(sut, "ramp-clean", &["--ramp", "50:150:50", "--duration", "1s", "--mix", "pager=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let steps = json["load"]["steps"].as_array().unwrap();
    assert_eq!(steps.iter().map(|s| s["rate"].as_u64().unwrap()).collect::<Vec<_>>(), [50, 100, 150]);
    assert!(steps.iter().all(|s| s["clean"] == true && s["failing"] == 0));
    assert_eq!(json["load"]["last_clean_rate"], 150);
    assert_eq!(json["load"]["totals"]["answered"], 300);
    drop(_s);
    let (_s, sut) = serve(Some("keep-cpm-icsi"));
    let (out, json) = load(sut, "ramp-fault", &["--ramp", "50:150:50", "--duration", "1s", "--mix", "pager=1"]);
    assert_eq!(out.status.code(), Some(1));
    let steps = json["load"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "stopped after the first step");
    assert_eq!(steps[0]["clean"], false);
    assert!(steps[0]["failing"].as_u64().unwrap() >= 50, "{}", steps[0]);
    assert_eq!(json["load"]["last_clean_rate"], Value::Null);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No clean step: the first step was not clean."), "{text}");
}

/// The default mix: every service judged (MESSAGEs and INVITE dialogs with their ACK and BYE),
/// each request by its service's ID, nothing but PASS; a fault in one service fails exactly its
/// requests.
#[test]
fn the_default_mix_is_judged_per_service() {
    let (_s, sut) = serve(None);
    let (out, json) = load(sut, "mix", &["--rate", "100", "--duration", "2s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // pager=60, imdn=20, lmm=5, ft=5, session=5, group=5 over 200 requests: the 100 slots twice.
    let per: Vec<(&str, u64)> =
        ["T1.TERM.PAGER", "T1.TERM.IMDN", "T1.TERM.LMM", "T1.TERM.FT", "T1.TERM.SESSION", "T1.TERM.GROUP"]
            .iter()
            .map(|id| (*id, count(&json, id, "PASS")))
            .collect();
    assert_eq!(per.iter().map(|x| x.1).sum::<u64>(), 200, "{per:?}");
    assert!(per.iter().all(|x| x.1 > 0), "every service offered: {per:?}");
    assert_eq!(per.iter().map(|x| x.1).collect::<Vec<_>>(), [120, 40, 10, 10, 10, 10], "{per:?}");
    let not_pass: u64 = json["summary"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "PASS")
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert_eq!(not_pass, 0, "{text}");
    // A MESSAGE is 4 messages; an INVITE dialog 11 (INVITE, 100, 200, ACK, BYE and its 200).
    let invites = per[2].1 + per[3].1 + per[4].1 + per[5].1;
    assert_eq!(json["load"]["messages"].as_u64().unwrap(), 4 * (200 - invites) + 11 * invites);
    let services: Vec<&str> =
        json["load"]["latency"].as_array().unwrap().iter().map(|x| x[0].as_str().unwrap()).collect();
    assert_eq!(services, ["pager", "imdn", "lmm", "ft", "session", "group"]);
    drop(_s);
    let (_s, sut) = serve(Some("forget-lmm-tag"));
    let (out, json) = load(sut, "mix-lmm-fault", &["--rate", "100", "--duration", "1s", "--mix", "lmm=1,pager=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(count(&json, "T1.TERM.LMM", "FAIL"), 50);
    assert_eq!(count(&json, "T1.TERM.PAGER", "PASS"), 50);
    drop(_s);
    // Group chat: the focus's `isfocus` Contact left in the CPM form fails each invitation.
    let (_s, sut) = serve(Some("skip-contact"));
    let (out, json) = load(sut, "mix-group-fault", &["--rate", "100", "--duration", "1s", "--mix", "group=1,pager=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(count(&json, "T1.TERM.GROUP", "FAIL"), 50);
    assert_eq!(count(&json, "T1.TERM.PAGER", "PASS"), 50);
}

const SERVICES: [&str; 6] = ["PAGER", "IMDN", "LMM", "FT", "SESSION", "GROUP"];

fn not_pass(json: &Value) -> u64 {
    json["summary"].as_object().unwrap().iter().filter(|(k, _)| *k != "PASS").map(|(_, n)| n.as_u64().unwrap()).sum()
}

/// Level 2: the harness registers its users with the server by third-party REGISTER (every
/// other one a CPM client), then offers CPM-form requests to the IM clients (T.1), IM-form
/// requests to half the CPM clients (T.2 terminating) and CPM-form requests from the other half
/// to remote IM users, or for group chat to the remote network's conference factory (T.2
/// originating). Every service of each is judged and passes, the Conversation-ID rules across
/// the run included; a fault fails exactly its IDs.
#[test]
fn level_2_registers_its_users_and_judges_both_halves() {
    let (_s, sut) = serve_at("2", None);
    let args = ["--rate", "100", "--duration", "2s", "--population", "6"];
    let (out, json) = load_at("2", sut, "level-2", &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(not_pass(&json), 0, "{text}");
    let per = |prefix: &str| -> Vec<u64> {
        SERVICES.iter().map(|s| count(&json, &format!("{prefix}.{s}"), "PASS")).collect()
    };
    let (t1, t2, orig) = (per("T1.TERM"), per("T2.TERM"), per("T2.ORIG"));
    assert!(t1.iter().chain(&t2).all(|n| *n > 0), "every service to both kinds: {t1:?} {t2:?}");
    // Users 0..5: IM clients 1, 3, 5; CPM clients 0 and 4 receive, 2 sends (group chat too: to a
    // conference factory, answered by the harness as the focus).
    assert!(orig.iter().all(|n| *n > 0), "every service originating: {orig:?}");
    let sum = |v: &[u64]| v.iter().sum::<u64>();
    assert_eq!(sum(&t1) + sum(&t2) + sum(&orig), 200, "{t1:?} {t2:?} {orig:?}");
    // Each service's requests take the four kinds in turn: half go to IM clients, a quarter to
    // receiving CPM clients, a quarter come from sending ones (of 10 requests, kinds 0, 1, 2, 3,
    // 0, 1, 2, 3, 0, 1: 3 received by CPM clients, 2 sent).
    assert_eq!(t1, [60, 20, 5, 5, 5, 5], "{t1:?}");
    assert_eq!(t2, [30, 10, 3, 3, 3, 3], "{t2:?}");
    assert_eq!(orig, [30, 10, 2, 2, 2, 2], "{orig:?}");
    // The server adds a Conversation-ID to each request for a CPM client, one per pair of users.
    assert_eq!(count(&json, "T2.CONVID.ADDED", "PASS"), sum(&t2));
    assert!(count(&json, "T2.CONVID.STABLE", "PASS") > 0 && count(&json, "T2.CONVID.DISTINCT", "PASS") > 0);
    // Six REGISTERs and their 200s are judged with the rest.
    let invites = [2, 3, 4, 5].iter().map(|&i| t1[i] + t2[i] + orig[i]).sum::<u64>();
    assert_eq!(json["load"]["messages"].as_u64().unwrap(), 4 * (200 - invites) + 11 * invites + 12);
    drop(_s);

    // A new Conversation-ID for every message: the stability rule, NON-STRICT by its grade.
    let (_s, sut) = serve_at("2", Some("new-conversation-id-per-message"));
    let (out, json) = load_at("2", sut, "level-2-convid", &args);
    assert_eq!(out.status.code(), Some(0), "NON-STRICT alone is exit 0");
    assert!(count(&json, "T2.CONVID.STABLE", "NON-STRICT") > 0, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(not_pass(&json), count(&json, "T2.CONVID.STABLE", "NON-STRICT"));
    // Among them IMDNs that do not carry the Conversation-ID of the message they report on: the
    // harness's IMDNs toward a CPM client report on a message that client sent (D10).
    assert!(json.to_string().contains("(that of message ld"), "an IMDN judged against its message");
    drop(_s);

    // No P-Asserted-Service toward CPM clients: each of their requests fails, nothing else.
    let (_s, sut) = serve_at("2", Some("omit-pas"));
    let (out, json) = load_at("2", sut, "level-2-pas", &args);
    assert_eq!(out.status.code(), Some(1));
    let failed: u64 = SERVICES.iter().map(|s| count(&json, &format!("T2.TERM.{s}"), "FAIL")).sum();
    assert_eq!(failed, sum(&t2));
    assert_eq!(json["summary"]["FAIL"].as_u64(), Some(failed));
    drop(_s);

    // The CPM ICSI left in place on the way to IM users: every CPM-form request fails (T.1
    // toward the IM clients, T.2 originating from the CPM clients); IM-form ones do not.
    let (_s, sut) = serve_at("2", Some("keep-cpm-icsi"));
    let (out, json) = load_at("2", sut, "level-2-icsi", &args);
    assert_eq!(out.status.code(), Some(1));
    let fails = |prefix: &str| -> u64 { SERVICES.iter().map(|s| count(&json, &format!("{prefix}.{s}"), "FAIL")).sum() };
    assert_eq!((fails("T1.TERM"), fails("T2.ORIG"), fails("T2.TERM")), (sum(&t1), sum(&orig), 0));
    // The group chats the CPM client started among them: the factory INVITE left in the CPM form.
    assert_eq!(count(&json, "T2.ORIG.GROUP", "FAIL"), orig[5]);
    assert_eq!(count(&json, "T2.ORIG.GROUP", "PASS"), 0);
}

/// A stand-in server on a free UDP port: `answer` is given each request parsed and how many
/// copies of it (by Via branch) came before, and says what to send back, if anything.
struct Fake {
    sut: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(answer: fn(&imcpm::sip::Message, usize) -> Option<Vec<u8>>) -> Fake {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sut = sock.local_addr().unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopper = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut copies: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            let mut buf = [0u8; 65_536];
            while !stopper.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
                let Ok(req) = imcpm::sip::Message::parse(buf[..n].to_vec()) else { continue };
                let seen = copies.entry(req.top_via_branch().unwrap_or_default()).or_insert(0);
                if let Some(resp) = answer(&req, *seen) {
                    let _ = sock.send_to(&resp, from);
                }
                *seen += 1;
            }
        });
        Fake { sut, stop, thread: Some(thread) }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A server that refuses the third-party REGISTERs cannot be judged at level 2: the run stops
/// before offering anything, with an error that says so (exit 2), never a verdict.
#[test]
fn level_2_with_registrations_refused_is_an_error_not_a_verdict() {
    let fake = Fake::start(|req, _| {
        Some(imcpm::node::transaction::response_to(req, imcpm::sip::StatusCode::FORBIDDEN, Some("x")))
    });
    let (out, _) =
        load_at("2", fake.sut, "level-2-refused", &["--rate", "10", "--duration", "1s", "--population", "3"]);
    drop(fake);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("third-party REGISTER") && err.contains("403 Forbidden"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Results"), "nothing judged");
}

/// A REGISTER whose first copy is lost is retransmitted (at T1, as a non-INVITE transaction);
/// a registration granted for less than the run needs is an error before anything is offered
/// (the harness does not refresh, and the server would take the user for offline mid-run).
#[test]
fn level_2_registers_retransmit_and_a_short_grant_is_an_error() {
    let fake = Fake::start(|req, copy| {
        // The first copy of each REGISTER is lost; the retransmission gets 200 for 60 s.
        (copy > 0).then(|| {
            let ok = imcpm::node::transaction::response_to(req, imcpm::sip::StatusCode::OK, Some("x"));
            let head = ok.len() - b"Content-Length: 0\r\n\r\n".len();
            [&ok[..head], b"Expires: 60\r\nContent-Length: 0\r\n\r\n"].concat()
        })
    });
    let started = std::time::Instant::now();
    let (out, _) = load_at("2", fake.sut, "level-2-short", &["--rate", "10", "--duration", "1s", "--population", "2"]);
    drop(fake);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("granted the registration of sip:user") && err.contains("for 60 s"), "{err}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(450), "answered only after T1");
}

const USERS: &str = "[users]\n\"sip:alice@im.example.net\" = \"cpm\"\n\"sip:bob@im.example.net\" = \"im\"\n\"sip:carol@im.example.net\" = \"cpm\"\n\"sip:dave@im.example.net\" = \"im\"\n";

/// The initial requests `imcpm serve` forwarded, from its log: (method, session case, served
/// user).
fn forwarded(log: &std::path::Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(log).unwrap();
    let field = |l: &str, name: &str| {
        l.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).unwrap_or_default().to_string()
    };
    text.lines()
        .filter(|l| l.contains("INFO forwarded:"))
        .map(|l| (field(l, "method"), field(l, "case"), field(l, "user")))
        .filter(|(m, _, _)| m == "MESSAGE" || m == "INVITE")
        .collect()
}

/// `--users FILE` at level 2, against `imcpm serve --users` the same file: every request goes
/// to or comes from those users (the IM clients receive, the CPM clients receive or send, as
/// the server's log of what it forwarded shows), every service to each kind, all PASS.
#[test]
fn users_from_a_file_are_the_local_users() {
    let users = scratch("users-2im-2cpm.toml", USERS);
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load").join("users-serve.log");
    let (_s, sut) = serve_with(&["--level", "2", "--users", users.to_str().unwrap()], Some(&log));
    let (out, json) =
        load_at("2", sut, "users-file", &["--users", users.to_str().unwrap(), "--rate", "100", "--duration", "2s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(not_pass(&json), 0, "{text}");
    assert_eq!(json["load"]["totals"]["answered"], 200);
    assert_eq!(json["load"]["population"], 4);
    let per = |prefix: &str| -> Vec<u64> {
        SERVICES.iter().map(|s| count(&json, &format!("{prefix}.{s}"), "PASS")).collect()
    };
    assert_eq!(per("T1.TERM"), [60, 20, 5, 5, 5, 5]);
    assert_eq!(per("T2.TERM"), [30, 10, 3, 3, 3, 3]);
    assert_eq!(per("T2.ORIG"), [30, 10, 2, 2, 2, 2]);
    drop(_s);
    let fw = forwarded(&log);
    assert_eq!(fw.len(), 200, "every initial request forwarded once");
    let who = |case: &str| -> std::collections::BTreeSet<String> {
        fw.iter().filter(|f| f.1 == case).map(|f| f.2.clone()).collect()
    };
    let set =
        |v: &[&str]| v.iter().map(|s| format!("sip:{s}@im.example.net")).collect::<std::collections::BTreeSet<_>>();
    // The CPM clients take the receiving and the sending kinds in turn: with two, Alice
    // receives and Carol sends (and receives the IMDNs about her messages); the IM clients
    // receive.
    assert_eq!(who("term"), set(&["alice", "bob", "carol", "dave"]), "{fw:?}");
    assert_eq!(who("orig"), set(&["carol"]), "{fw:?}");
    let imdns_to_carol = fw.iter().filter(|f| f.1 == "term" && f.2.contains("carol")).count();
    assert_eq!(
        imdns_to_carol, 10,
        "the 40 IMDNs take the four kinds in turn; the 10 of kind 0 go to the sender: {fw:?}"
    );
}

/// At level 1 a users file's CPM clients are not local users (a level-1 server serves none):
/// the requests go to its IM clients only, and the terminal says the others were left out.
#[test]
fn at_level_1_a_users_file_gives_its_im_clients_and_says_so() {
    let users = scratch("users-2im-2cpm-l1.toml", USERS);
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load").join("users-l1-serve.log");
    let (_s, sut) = serve_with(&["--level", "1", "--users", users.to_str().unwrap()], Some(&log));
    let (out, json) = load_at(
        "1",
        sut,
        "users-file-l1",
        &["--users", users.to_str().unwrap(), "--rate", "20", "--duration", "1s", "--mix", "pager=1"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(not_pass(&json), 0);
    assert!(
        err.contains("its 2 CPM client(s) are not local users at level 1") && err.contains("its 2 IM client(s)"),
        "{err}"
    );
    drop(_s);
    let to: std::collections::BTreeSet<String> = forwarded(&log).into_iter().map(|f| f.2).collect();
    let want: std::collections::BTreeSet<String> =
        ["sip:bob@im.example.net", "sip:dave@im.example.net"].iter().map(|s| s.to_string()).collect();
    assert_eq!(to, want);
}

/// A SUT config gives the server, its level, the harness's address, its routing and the
/// users; its known deviations are said not to apply. `routing = "next-hop"`: no Route set, the
/// server (`imcpm serve --host-map` for every domain) sends everything to the harness's fixed
/// `listen` address.
#[test]
fn a_sut_config_gives_the_server_its_level_and_users() {
    let users = scratch("users-sutconfig.toml", USERS);
    let harness = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let maps: Vec<String> =
        ["im.example.net", "cpm.example.com", "im.remote.example"].iter().map(|d| format!("{d}={harness}")).collect();
    let mut args = vec!["--level", "2", "--users", users.to_str().unwrap()];
    for m in &maps {
        args.extend(["--host-map", m.as_str()]);
    }
    let (_s, sut) = serve_with(&args, None);
    for (name, routing) in [("route-set", "route-set"), ("next-hop", "next-hop")] {
        let config = scratch(
            &format!("sut-{name}.toml"),
            &format!(
                "sut = \"udp:{sut}\"\nlisten = \"udp:{harness}\"\nlevel = 2\nrouting = \"{routing}\"\n\n[[users]]\naor = \"sip:alice@im.example.net\"\nkind = \"cpm\"\n[[users]]\naor = \"sip:bob@im.example.net\"\nkind = \"im\"\n\n[[deviations]]\nrequirement = \"T1.TERM.LMM\"\nscenario = \"t1/lmm\"\nreason = \"a known defect\"\n"
            ),
        );
        let (out, json) = load_raw(
            &format!("sut-config-{name}"),
            &["--sut-config", config.to_str().unwrap(), "--rate", "100", "--duration", "1s"],
        );
        let (text, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{name}: {text}{err}");
        assert!(err.contains("1 known deviation(s) are not applied by load"), "{err}");
        assert_eq!(json["load"]["sut"], sut.to_string());
        assert_eq!(json["load"]["harness"], harness.to_string());
        assert_eq!(json["load"]["population"], 2);
        assert_eq!(not_pass(&json), 0, "{name}: {text}");
        assert!(count(&json, "T2.ORIG.PAGER", "PASS") > 0 && count(&json, "T1.TERM.PAGER", "PASS") > 0);
        // With the ISC Route set the server's next hop is judged; without it there is none.
        assert_eq!(count(&json, "ROUTE.VIA-IMS", "PASS") > 0, routing == "route-set", "{name}");
    }
}

/// Bad users or a missing server: exit 2 and a message that says what, before anything is sent.
#[test]
fn bad_users_and_missing_flags_are_errors() {
    let cpm_only = scratch("users-cpm-only.toml", "[users]\n\"sip:alice@im.example.net\" = \"cpm\"\n");
    let im_only = scratch("users-im-only.toml", "[users]\n\"sip:bob@im.example.net\" = \"im\"\n");
    let elsewhere = scratch("users-elsewhere.toml", "[users]\n\"sip:bob@other.example\" = \"im\"\n");
    let bad_kind = scratch("users-bad-kind.toml", "[users]\n\"sip:bob@im.example.net\" = \"fax\"\n");
    let no_sut = scratch("sut-no-sut.toml", "level = 1\n");
    let next_hop = scratch(
        "sut-next-hop.toml",
        "sut = \"udp:127.0.0.1:9\"\nlisten = \"udp:127.0.0.1:5999\"\nlevel = 1\nrouting = \"next-hop\"\n",
    );
    let nh = next_hop.to_str().unwrap();
    let (c, i, e, b, n) = (
        cpm_only.to_str().unwrap(),
        im_only.to_str().unwrap(),
        elsewhere.to_str().unwrap(),
        bad_kind.to_str().unwrap(),
        no_sut.to_str().unwrap(),
    );
    let sut = "udp:127.0.0.1:9";
    for (args, says) in [
        (vec!["--sut", sut, "--level", "1", "--users", c], "no IM client: at level 1"),
        (vec!["--sut", sut, "--level", "2", "--users", i], "no CPM client"),
        (vec!["--sut", sut, "--level", "2", "--users", c], "no IM client"),
        (vec!["--sut", sut, "--level", "2", "--users", i, "--population", "5"], "cannot be used with"),
        (vec!["--sut", sut, "--level", "1", "--users", e], "is not in im.example.net"),
        (vec!["--sut", sut, "--level", "1", "--users", b], "users-bad-kind.toml:2:28"),
        (vec!["--level", "1"], "--sut is missing"),
        (vec!["--sut", sut], "--level is missing"),
        (vec!["--sut-config", n], "sut-no-sut.toml:1:1"),
        (vec!["--sut-config", nh, "--listen", "udp:127.0.0.1:0"], "routes next-hop, so the server sends everything"),
    ] {
        usage_error(&args, says);
    }
}

/// Over TCP: the harness connects to the server for its requests, accepts the server's
/// connections toward it, retransmits nothing, and every message is judged as TCP. Level 1 and
/// level 2 against `imcpm serve --listen tcp:`: all PASS with the same per-service counts as over
/// UDP; a fault fails exactly its requirement.
#[test]
fn over_tcp_every_request_is_judged() {
    let (_s, sut) = serve_on("tcp", &["--level", "1"], None);
    let (out, json) = load_over("tcp", "1", sut, "tcp-l1", &["--rate", "100", "--duration", "2s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(not_pass(&json), 0, "{text}");
    let per = |json: &Value, prefix: &str| -> Vec<u64> {
        SERVICES.iter().map(|s| count(json, &format!("{prefix}.{s}"), "PASS")).collect()
    };
    assert_eq!(per(&json, "T1.TERM"), [120, 40, 10, 10, 10, 10]);
    assert_eq!(json["run"]["transport"], "tcp");
    let load = &json["load"];
    assert_eq!(load["transport"], "tcp");
    assert_eq!((load["totals"]["answered"].as_u64(), load["totals"]["retransmissions"].as_u64()), (Some(200), Some(0)));
    assert_eq!((load["unsent"].as_u64(), load["drops"].as_u64()), (Some(0), Some(0)));
    // Every message judged: a MESSAGE is 4, an INVITE dialog 11, as over UDP.
    assert_eq!(load["messages"].as_u64().unwrap(), 4 * 160 + 11 * 40);
    assert!(text.contains("to 127.0.0.1:") && text.contains(" over TCP: "), "{text}");
    drop(_s);

    let (_s, sut) = serve_on("tcp", &["--level", "2"], None);
    let (out, json) = load_over("tcp", "2", sut, "tcp-l2", &["--rate", "100", "--duration", "2s", "--population", "6"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(not_pass(&json), 0, "{text}");
    assert_eq!(per(&json, "T1.TERM"), [60, 20, 5, 5, 5, 5]);
    assert_eq!(per(&json, "T2.TERM"), [30, 10, 3, 3, 3, 3]);
    assert_eq!(per(&json, "T2.ORIG"), [30, 10, 2, 2, 2, 2]);
    assert_eq!(json["load"]["totals"]["retransmissions"], 0);
    drop(_s);

    let (_s, sut) = serve_on("tcp", &["--level", "1", "--fault", "forget-lmm-tag"], None);
    let (out, json) =
        load_over("tcp", "1", sut, "tcp-fault", &["--rate", "100", "--duration", "1s", "--mix", "lmm=1,pager=1"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(count(&json, "T1.TERM.LMM", "FAIL"), 50);
    assert_eq!(json["summary"]["FAIL"].as_u64(), Some(50), "nothing else fails");
    assert_eq!(count(&json, "T1.TERM.PAGER", "PASS"), 50);
}

/// A server whose Via names it by host name (as spec example 6c does), over TCP: the
/// connections it opens toward the harness come from ephemeral ports that no Via names, and
/// are the server's all the same (the harness accepted them from it). All PASS, as over UDP.
#[test]
fn over_tcp_a_server_named_by_host_name_is_still_the_server() {
    let (_s, sut) = serve_on("tcp", &["--level", "1", "--host", "imserver.im.example.net"], None);
    let (out, json) =
        load_over("tcp", "1", sut, "tcp-host", &["--rate", "50", "--duration", "1s", "--mix", "pager=1,session=1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(not_pass(&json), 0, "{text}");
    assert_eq!(count(&json, "T1.TERM.PAGER", "PASS"), 25, "{text}");
    assert_eq!(count(&json, "T1.TERM.SESSION", "PASS"), 25, "{text}");
}

/// Nothing listens where `--sut tcp:` points: no request reaches a server, none can be judged,
/// and the run fails (exit 1) saying so, rather than passing with no result.
#[test]
fn over_tcp_requests_that_cannot_be_sent_fail_the_run() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (out, json) =
        load_over("tcp", "1", closed, "tcp-refused", &["--rate", "5", "--duration", "1s", "--mix", "pager=1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("5 request(s) could not be sent to"), "{err}");
    let totals = &json["load"]["totals"];
    assert_eq!((totals["sent"].as_u64(), totals["unsent"].as_u64()), (Some(0), Some(5)), "{totals}");
    // Each is an ERROR of the harness under the requirement that would have judged it, so
    // every report (JUnit included) shows the run failing, not only the exit status.
    assert_eq!(count(&json, "T1.TERM.PAGER", "ERROR"), 5);
    assert_eq!(json["summary"]["ERROR"].as_u64(), Some(5));
    assert_eq!(not_pass(&json), 5);
    // And a ramp step with requests not sent is not clean.
    let (out, json) = load_over(
        "tcp",
        "1",
        closed,
        "tcp-refused-ramp",
        &["--ramp", "5:10:5", "--duration", "1s", "--mix", "pager=1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["load"]["last_clean_rate"], Value::Null, "{}", json["load"]);
    assert_eq!(json["load"]["steps"].as_array().map(Vec::len), Some(1), "stopped at the first step");
    // At level 2 the registrations come first: one that cannot be sent ends the run at once.
    let (out, _) = load_over("tcp", "2", closed, "tcp-refused-l2", &["--rate", "5", "--duration", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("could not send the third-party REGISTER of sip:user0@"), "{err}");
}

/// A server that takes the connection and closes it with requests in flight: nothing is
/// retransmitted, each request is counted unanswered when its Timer F fires (64·T1 after it
/// was sent), the judge finds them FAIL, the run ends (exit 1) instead of waiting for ever.
#[test]
fn a_server_closing_its_connection_leaves_requests_unanswered_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sut = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopper = stop.clone();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let fake = std::thread::spawn(move || {
        while !stopper.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut c, _)) => {
                    // Take what the harness sends first, then hang up.
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = c.set_read_timeout(Some(std::time::Duration::from_millis(200)));
                    let _ = std::io::Read::read(&mut c, &mut [0u8; 4096]);
                    drop(c);
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    });
    let started = std::time::Instant::now();
    let (out, json) =
        load_over("tcp", "1", sut, "tcp-closed", &["--rate", "5", "--duration", "1s", "--mix", "pager=1"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = fake.join();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let load = &json["load"];
    assert_eq!(load["totals"]["unanswered"], 5, "{text}");
    assert_eq!((load["totals"]["answered"].as_u64(), load["totals"]["retransmissions"].as_u64()), (Some(0), Some(0)));
    assert!(load["tcp_closed"].as_u64().unwrap() >= 1, "{load}");
    assert!(accepted.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(count(&json, "T1.TERM.PAGER", "FAIL") + count(&json, "SIP.PROXY", "FAIL") >= 5, "{text}");
    // Timer F (32 s) after the last request, and not much more.
    assert!(
        elapsed >= std::time::Duration::from_secs(32) && elapsed < std::time::Duration::from_secs(60),
        "{elapsed:?}"
    );
}
