//! `check-pcap` judges captures with the oracle of every other command. Three proofs:
//! - real traffic made by third-party software (Kamailio configured as a level-1 IM server,
//!   sipp clients, dumpcap; captures/README.md): the correct config passes, the faulty one
//!   fails T1.TERM.LMM and is NON-STRICT under X.PAS-REMOVED, and nothing else;
//! - a capture of each run of the reference suite, written by our pcapng writer and read back
//!   by the capture reader, gets the verdict per requirement that the run's oracle gave;
//! - a capture of the reference server under each fault of the ratchet gets the verdict the
//!   targeted IDs' grade implies.

use imcpm::base::{Level, Role};
use imcpm::capture::write_pcapng;
use imcpm::check::{CaptureJob, SutAddr, judge_captures};
use imcpm::interop::finding::Verdict;
use imcpm::interop::rules::{Grade, ReqId};
use imcpm::interop::verify::{TraceContext, check_trace};
use imcpm::node::im_server::faults::{Fault, FaultSet};
use imcpm::scenario::run::{DOMAIN, server_addr};
use imcpm::scenario::{RunOptions, Scenario, ScenarioRun, load_dir, run_scenario};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Worst verdict per requirement.
fn worst(findings: impl IntoIterator<Item = (ReqId, Verdict)>) -> BTreeMap<ReqId, Verdict> {
    let mut m = BTreeMap::new();
    for (id, v) in findings {
        let e = m.entry(id).or_insert(v);
        *e = (*e).max(v);
    }
    m
}

fn kamailio(name: &str) -> BTreeMap<ReqId, Verdict> {
    let job =
        CaptureJob::new(vec![root().join("captures").join(name)], vec!["127.0.0.1:5070".parse().unwrap()], Level::One);
    let v = judge_captures(&job);
    assert!(v.error.is_none(), "{:?}", v.error);
    assert_eq!(v.pairs, 7, "3 MESSAGEs, 2 INVITEs and their BYEs");
    worst(v.aggregate.counts.iter().flat_map(|(id, c)| c.keys().map(move |v| (*id, *v))))
}

#[test]
fn kamailio_correct_config_passes_and_faulty_fails_what_it_breaks() {
    let good = kamailio("kamailio-l1-correct.pcapng");
    assert!(good.values().all(|v| *v == Verdict::Pass), "{good:?}");
    assert!(good.contains_key(&ReqId::T1_TERM_LMM) && good.contains_key(&ReqId::T1_TERM_PAGER));
    let bad = kamailio("kamailio-l1-faulty.pcapng");
    let not_pass: BTreeMap<_, _> = bad.into_iter().filter(|(_, v)| *v != Verdict::Pass).collect();
    assert_eq!(
        not_pass,
        BTreeMap::from([(ReqId::T1_TERM_LMM, Verdict::Fail), (ReqId::X_PAS_REMOVED, Verdict::NonStrict)])
    );
}

/// One judgement: requirement, verdict, and the message it points at (a frame number).
type Judged = (ReqId, Verdict, Option<usize>);

/// Judge the capture of one run: the run's trace written as pcapng, read back, judged with the
/// context `imcpm check-pcap` would be given (the server's address, the level, the domain and
/// the scenario's users as a users file). Also returns the frame of each trace message.
fn judge_run_findings(s: &Scenario, run: &ScenarioRun, dir: &std::path::Path) -> (Vec<Judged>, Vec<usize>) {
    let file = dir.join(format!("{}-L{}.pcapng", s.name.replace('/', "_"), run.level));
    let mut out = Vec::new();
    write_pcapng(&run.trace, &mut out).unwrap();
    std::fs::write(&file, out).unwrap();
    let mut job = CaptureJob::new(vec![file], vec![SutAddr::Addr(server_addr())], run.level);
    job.domains = vec![DOMAIN.into()];
    job.users = users(s);
    job.keep = usize::MAX;
    let v = judge_captures(&job);
    assert!(v.error.is_none(), "{}: {:?}", s.name, v.error);
    assert_eq!(v.aggregate.left_out, 0);
    // One frame per trace message, in order. A packet the simulated link duplicated within
    // 2 ms reads back once (the reader cannot tell it from one frame seen on two interfaces):
    // then the frames are not one per message.
    let frames = if v.stats.sip == run.trace.len() as u64 { (1..=run.trace.len()).collect() } else { Vec::new() };
    let mut judged: Vec<Judged> = v
        .aggregate
        .kept
        .iter()
        .flat_map(|r| r.findings.iter().map(|f| (f.requirement, f.verdict, f.location.message)))
        .collect();
    judged.sort();
    judged.dedup();
    (judged, frames)
}

fn judge_run(s: &Scenario, run: &ScenarioRun, dir: &std::path::Path) -> BTreeMap<ReqId, Verdict> {
    worst(judge_run_findings(s, run, dir).0.into_iter().map(|(id, v, _)| (id, v)))
}

fn users(s: &Scenario) -> BTreeMap<String, imcpm::base::ClientKind> {
    s.actors
        .iter()
        .filter(|(_, a)| a.network == imcpm::scenario::model::Where::Local)
        .map(|(n, a)| (format!("sip:{n}@{DOMAIN}"), a.kind))
        .collect()
}

/// The run's own oracle findings (the trace judged as complete), messages as capture frames.
fn oracle(s: &Scenario, run: &ScenarioRun, frames: &[usize]) -> Vec<Judged> {
    let ctx = TraceContext {
        level: run.level,
        sut: vec![server_addr()],
        sut_hosts: Vec::new(),
        role: Role::Proxy,
        domains: vec![DOMAIN.into()],
        users: users(s),
        complete: true,
        lossy: false,
    };
    let mut judged: Vec<Judged> = check_trace(&ctx, &run.trace)
        .findings
        .iter()
        .map(|f| (f.requirement, f.verdict, f.location.index().map(|i| frames[i])))
        .collect();
    judged.sort();
    judged.dedup();
    judged
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Per (requirement, verdict, message): the same findings, the message numbered by its frame.
#[test]
fn a_capture_of_each_reference_run_gets_the_runs_verdicts() {
    let dir = tmp("check_pcap_reference");
    let all = load_dir(&root().join("scenarios")).unwrap();
    let mut differ = Vec::new();
    for s in &all {
        for &level in &s.levels {
            let run = run_scenario(s, level, &RunOptions::default());
            let (got, frames) = judge_run_findings(s, &run, &dir);
            if frames.is_empty() {
                // Known difference: duplicates merged (network/impaired); compare per requirement.
                assert_eq!(s.name, "network/impaired", "only the impaired link duplicates packets");
                let want = worst(
                    oracle(s, &run, &(0..run.trace.len()).collect::<Vec<_>>()).into_iter().map(|(i, v, _)| (i, v)),
                );
                let got = worst(got.into_iter().map(|(i, v, _)| (i, v)));
                assert_eq!(want, got, "{} L{level}", s.name);
                continue;
            }
            let want = oracle(s, &run, &frames);
            if want != got {
                differ.push(format!("{} L{level}: run {want:?}\n  capture {got:?}", s.name));
            }
        }
    }
    assert!(differ.is_empty(), "{} runs judged differently from their capture:\n{}", differ.len(), differ.join("\n"));
}

#[test]
fn a_capture_under_each_fault_fails_what_the_fault_targets() {
    let dir = tmp("check_pcap_faults");
    let all = load_dir(&root().join("scenarios")).unwrap();
    let mut missing = Vec::new();
    for f in Fault::ALL {
        let mut seen: BTreeMap<ReqId, Verdict> = BTreeMap::new();
        // The scenarios that name one of the fault's targets (the ratchet shows they catch it).
        for s in all.iter().filter(|s| s.requirements.iter().any(|id| f.targets().contains(id))) {
            for &level in &s.levels {
                let run = run_scenario(s, level, &RunOptions { faults: FaultSet::one(*f) });
                for (id, v) in judge_run(s, &run, &dir) {
                    let e = seen.entry(id).or_insert(v);
                    *e = (*e).max(v);
                }
            }
        }
        for id in f.targets() {
            let want = match id.grade() {
                Grade::Fail => Verdict::Fail,
                Grade::NonStrict => Verdict::NonStrict,
            };
            let got = seen.get(id).copied().unwrap_or(Verdict::NotApplicable);
            if got != want {
                missing.push(format!("fault {f}: {id} is {got} in the captures, want {want}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

fn imcpm(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_imcpm")).args(args).output().expect("imcpm runs")
}

/// `imcpm run --pcap` writes a section per run; `check-pcap` judges each section at the level
/// its comment names, and finds the fault the run was made with.
#[test]
fn check_pcap_judges_a_run_capture_section_by_section() {
    let dir = tmp("check_pcap_cli");
    for (fault, want_exit) in [(None, 0), (Some("forget-lmm-tag"), 1)] {
        let pcap = dir.join(format!("{}.pcapng", fault.unwrap_or("none")));
        let mut run = vec!["run", "--filter", "t1/*", "--report-dir"];
        let rd = dir.join(format!("run-{}", fault.unwrap_or("none")));
        let rd = rd.to_str().unwrap().to_string();
        run.push(&rd);
        let p = pcap.to_str().unwrap().to_string();
        run.extend(["--pcap", &p]);
        if let Some(f) = fault {
            run.extend(["--fault", f]);
        }
        let out = imcpm(&run);
        assert_eq!(out.status.code(), Some(want_exit), "{}", String::from_utf8_lossy(&out.stderr));
        let cd = dir.join(format!("check-{}", fault.unwrap_or("none")));
        let cd = cd.to_str().unwrap().to_string();
        let out = imcpm(&[
            "check-pcap",
            &p,
            "--sut",
            "192.0.2.1:5060",
            "--level",
            "1",
            "--domain",
            "im.example.net",
            "--report-dir",
            &cd,
            "--format",
            "json",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(want_exit), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let results = json["results"].as_array().unwrap();
        assert!(results.iter().any(|r| r["scenario"].as_str().unwrap().contains("[imcpm run: t1/pager L2]")));
        assert!(results.iter().any(|r| r["level"] == 2), "sections at level 2 judged at level 2");
        let failing: Vec<&str> =
            results.iter().filter(|r| r["verdict"] == "FAIL").map(|r| r["requirement"].as_str().unwrap()).collect();
        match fault {
            None => assert!(failing.is_empty(), "{failing:?}"),
            Some(_) => assert!(failing.iter().all(|id| *id == "T1.TERM.LMM") && !failing.is_empty(), "{failing:?}"),
        }
    }
}

/// A truncated capture: the error names the file and the frame, exit 2, and what came before
/// it is still judged and reported.
#[test]
fn a_truncated_capture_is_judged_up_to_the_broken_frame() {
    let dir = tmp("check_pcap_truncated");
    let cd = dir.join("r");
    let out = imcpm(&[
        "check-pcap",
        root().join("tests/fixtures/captures/truncated.pcapng").to_str().unwrap(),
        "--sut",
        "127.0.0.1",
        "--level",
        "1",
        "--report-dir",
        cd.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("truncated.pcapng") && err.contains("frame"), "{err}");
    assert!(cd.join("report.json").exists(), "what came before the broken frame is reported");
}

fn kamailio_job(name: &str) -> CaptureJob {
    CaptureJob::new(vec![root().join("captures").join(name)], vec!["127.0.0.1:5070".parse().unwrap()], Level::One)
}

/// A window too small to hold a dialog judges each one early: requests lose their egress and
/// responses their requests, which must come out INCONCLUSIVE, never FAIL (nor PASS for what
/// was not seen whole), and the report must say how many dialogs were cut.
#[test]
fn a_window_too_small_gives_inconclusive_and_says_so() {
    for name in ["kamailio-l1-correct.pcapng", "kamailio-l1-faulty.pcapng"] {
        let mut job = kamailio_job(name);
        job.window.max_bytes = 1;
        job.keep = usize::MAX;
        let v = judge_captures(&job);
        assert!(v.window.closed_early > 0, "{name}: {:?}", v.window);
        let fails: Vec<String> = v
            .aggregate
            .kept
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| format!("{} {}", r.requirement, r.scenario))
            .collect();
        assert!(fails.is_empty(), "{name}: FAIL from a cut dialog: {fails:?}");
        assert!(v.aggregate.counts.values().any(|c| c.contains_key(&Verdict::Inconclusive)), "{name}");
        // No service requirement passes on half a pair.
        for id in [ReqId::T1_TERM_LMM, ReqId::T1_TERM_PAGER] {
            assert!(!v.aggregate.counts.get(&id).is_some_and(|c| c.contains_key(&Verdict::Pass)), "{name}: {id} PASS");
        }
    }
}

/// Every result is counted, only the first of each kind is kept, and what is left out still
/// fails the run; the ladders kept are the failing dialogs' first.
#[test]
fn aggregated_results_count_everything_and_ladders_put_failures_first() {
    let mut job = kamailio_job("kamailio-l1-faulty.pcapng");
    job.keep = 0;
    job.ladders = 1;
    let v = judge_captures(&job);
    assert!(v.aggregate.kept.is_empty());
    assert_eq!(v.aggregate.left_out, v.aggregate.total());
    assert!(v.aggregate.failing(), "a FAIL counted but not kept still fails");
    assert_eq!(v.flows.len(), 1);
    assert_eq!(v.flows_left_out + 1, v.window.dialogs);
    // The one ladder kept is a dialog with a finding other than PASS: its key is one of theirs.
    let mut all = kamailio_job("kamailio-l1-faulty.pcapng");
    all.keep = usize::MAX;
    let w = judge_captures(&all);
    let notable: Vec<&str> = w
        .aggregate
        .kept
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::NotApplicable))
        .map(|r| r.scenario.as_str())
        .collect();
    assert!(notable.contains(&v.flows[0].scenario.as_str()), "{} not in {notable:?}", v.flows[0].scenario);
    // Frames, not trace indices: the ladder numbers its messages by frame.
    assert!(v.flows[0].messages.windows(2).all(|m| m[0].number < m[1].number));
}

/// `--max-results 0`: report.json lists no result, counts them all, and the exit status is
/// still 1 for the FAIL it does not list.
#[test]
fn check_pcap_exit_status_counts_results_not_listed() {
    let dir = tmp("check_pcap_aggregate");
    let cd = dir.join("r");
    let out = imcpm(&[
        "check-pcap",
        root().join("captures/kamailio-l1-faulty.pcapng").to_str().unwrap(),
        "--sut",
        "127.0.0.1:5070",
        "--level",
        "1",
        "--max-results",
        "0",
        "--report-dir",
        cd.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema_version"], 4);
    assert!(json["results"].as_array().unwrap().is_empty());
    assert!(json["summary"]["FAIL"].as_u64().unwrap() >= 1);
    let lmm = json["aggregate"]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["requirement"] == "T1.TERM.LMM")
        .expect("T1.TERM.LMM counted");
    assert_eq!(lmm["verdict"], "FAIL");
    assert!(json["aggregate"]["coverage"]["not_exercised"].as_array().unwrap().iter().any(|x| x == "T2.ORIG.PAGER"));
    assert!(json["capture"]["frames"].as_u64().unwrap() > 0);
    assert!(json["capture"]["window"]["dialogs"].as_u64().unwrap() > 0);
    // JUnit too fails the requirement whose results are not listed.
    let junit = std::fs::read_to_string(cd.join("junit.xml")).unwrap();
    let case =
        junit.split("<testcase").find(|c| c.contains("T1.TERM.LMM (all results)")).expect("a case per requirement");
    assert!(case.contains("<failure"), "{case}");
}

const CORE: &str = "10.0.0.1:5060";
const SUT: &str = "10.0.0.2:5060";

/// A SIP message from lines (CRLF, Content-Length 0).
fn sip(lines: &[&str]) -> Vec<u8> {
    let mut s: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    s.push_str("Content-Length: 0\r\n\r\n");
    s.into_bytes()
}

/// The worst verdict per requirement of `trace` judged whole by the oracle and judged as a
/// capture by check-pcap's streaming judge.
fn whole_and_streamed(
    name: &str,
    trace: &imcpm::base::Trace,
    level: Level,
    users: BTreeMap<String, imcpm::base::ClientKind>,
) -> (BTreeMap<ReqId, Verdict>, BTreeMap<ReqId, Verdict>) {
    let ctx = TraceContext {
        level,
        sut: vec![SUT.parse().unwrap()],
        sut_hosts: Vec::new(),
        role: Role::Proxy,
        domains: vec!["im.example.net".into()],
        users: users.clone(),
        complete: false,
        lossy: false,
    };
    let whole = worst(check_trace(&ctx, trace).findings.iter().map(|f| (f.requirement, f.verdict)));
    let file = tmp("check_pcap_streamed").join(format!("{name}.pcapng"));
    let mut out = Vec::new();
    write_pcapng(trace, &mut out).unwrap();
    std::fs::write(&file, out).unwrap();
    let mut job = CaptureJob::new(vec![file], vec![SutAddr::Addr(SUT.parse().unwrap())], level);
    job.domains = vec!["im.example.net".into()];
    job.users = users;
    let v = judge_captures(&job);
    assert!(v.error.is_none());
    let streamed = worst(v.aggregate.counts.iter().flat_map(|(id, c)| c.keys().map(move |v| (*id, *v))));
    (whole, streamed)
}

fn at(t: &mut imcpm::base::Trace, ms: u64, from: &str, to: &str, bytes: Vec<u8>) {
    t.push(
        imcpm::base::Instant(1_700_000_000_000_000 + ms * 1000),
        imcpm::base::Packet::new(imcpm::base::Transport::Udp, from.parse().unwrap(), to.parse().unwrap(), bytes),
    );
}

/// A server that changes the Call-ID of what it forwards is paired by the Via chain, as the
/// whole-trace oracle pairs it, not by Call-ID: SIP.PRESERVE fails in both.
#[test]
fn a_forward_with_another_call_id_is_paired_by_its_via() {
    let common = [
        "Max-Forwards: 70",
        "From: <sip:alice@im.example.net>;tag=a1",
        "To: <sip:bob@im.example.net>",
        "CSeq: 1 MESSAGE",
        "Accept-Contact: *;+g.oma.sip-im",
    ];
    let via_core = "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKcore1";
    let via_sut = "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKsut1";
    let mut ing =
        vec!["MESSAGE sip:bob@im.example.net SIP/2.0", via_core, "Route: <sip:10.0.0.2;lr>, <sip:10.0.0.1;lr>"];
    ing.extend(common);
    ing.push("Call-ID: X@test");
    let mut eg = vec!["MESSAGE sip:bob@im.example.net SIP/2.0", via_sut, via_core, "Route: <sip:10.0.0.1;lr>"];
    eg.extend(common.iter().map(|l| if l.starts_with("Max-Forwards") { "Max-Forwards: 69" } else { l }));
    eg.push("Call-ID: Y@test");
    let ok = |vias: &[&str]| {
        let mut l = vec!["SIP/2.0 200 OK"];
        l.extend(vias);
        l.extend(["From: <sip:alice@im.example.net>;tag=a1", "To: <sip:bob@im.example.net>;tag=b1", "CSeq: 1 MESSAGE"]);
        l.push("Call-ID: Y@test");
        sip(&l)
    };
    let mut t = imcpm::base::Trace::default();
    at(&mut t, 0, CORE, SUT, sip(&ing));
    at(&mut t, 1, SUT, CORE, sip(&eg));
    at(&mut t, 2, CORE, SUT, ok(&[via_sut, via_core]));
    at(&mut t, 3, SUT, CORE, ok(&[via_core]));
    let (whole, streamed) = whole_and_streamed("callid-rewrite", &t, Level::One, BTreeMap::new());
    assert_eq!(whole.get(&ReqId::SIP_PRESERVE), Some(&Verdict::Fail), "{whole:?}");
    assert_eq!(whole, streamed);
}

/// The no-deferral rule compares positions in the capture, not the order in which dialogs
/// fall quiet: a request the server sends of its own accord to an offline client after the
/// 480 fails it even when the dialog of the 480 is judged last.
#[test]
fn no_deferral_is_judged_in_capture_order() {
    let offered = sip(&[
        "MESSAGE sip:bob@im.example.net SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKoff1",
        "Route: <sip:10.0.0.2;lr>, <sip:10.0.0.1;lr>",
        "P-Served-User: <sip:bob@im.example.net>;sescase=term;regstate=unreg",
        "Max-Forwards: 70",
        "From: <sip:alice@im.example.net>;tag=a1",
        "To: <sip:bob@im.example.net>",
        "Call-ID: A@test",
        "CSeq: 1 MESSAGE",
        "Accept-Contact: *;+g.oma.sip-im",
    ]);
    let refused = sip(&[
        "SIP/2.0 480 Temporarily Unavailable",
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKoff1",
        "From: <sip:alice@im.example.net>;tag=a1",
        "To: <sip:bob@im.example.net>;tag=s1",
        "Call-ID: A@test",
        "CSeq: 1 MESSAGE",
    ]);
    let own = sip(&[
        "MESSAGE sip:bob@im.example.net SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKown1",
        "Max-Forwards: 70",
        "From: <sip:alice@im.example.net>;tag=a1",
        "To: <sip:bob@im.example.net>",
        "Call-ID: B@test",
        "CSeq: 1 MESSAGE",
    ]);
    let other = sip(&[
        "OPTIONS sip:carol@im.example.net SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKc1",
        "Max-Forwards: 70",
        "From: <sip:alice@im.example.net>;tag=a2",
        "To: <sip:carol@im.example.net>",
        "Call-ID: C@test",
        "CSeq: 1 OPTIONS",
    ]);
    let mut t = imcpm::base::Trace::default();
    at(&mut t, 0, CORE, SUT, offered.clone());
    at(&mut t, 1, SUT, CORE, refused.clone());
    at(&mut t, 10_000, SUT, CORE, own);
    // The offer retransmitted: its dialog stays open past the server's own request's.
    at(&mut t, 20_000, CORE, SUT, offered);
    at(&mut t, 20_001, SUT, CORE, refused);
    at(&mut t, 45_000, CORE, SUT, other);
    let users = BTreeMap::from([("sip:bob@im.example.net".to_string(), imcpm::base::ClientKind::Cpm)]);
    let (whole, streamed) = whole_and_streamed("deferral-order", &t, Level::Two, users);
    assert_eq!(whole.get(&ReqId::T2_ONLINE_ONLY), Some(&Verdict::Fail), "{whole:?}");
    assert_eq!(streamed.get(&ReqId::T2_ONLINE_ONLY), Some(&Verdict::Fail), "{streamed:?}");
}

/// Dialogs judged on other threads give the same results, ladders and window figures, in the
/// same order, as dialogs judged one after the other: on captures of level-2 runs (third-party
/// REGISTERs, Conversation-IDs across dialogs) with a fault, and on the Kamailio captures, with
/// the default window, one that judges every dialog early, and one that judges the deliveries
/// in batches of two.
#[test]
fn judging_threads_change_nothing_but_the_time() {
    let dir = tmp("check_pcap_threads");
    let pcap = dir.join("t2.pcapng");
    let p = pcap.to_str().unwrap().to_string();
    let rd = dir.join("run").to_str().unwrap().to_string();
    let out = imcpm(&[
        "run",
        "--filter",
        "t2/*",
        "--fault",
        "new-conversation-id-per-message",
        "--report-dir",
        &rd,
        "--pcap",
        &p,
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    // Many dialogs in one section, judged together at the end (more than the threads take at
    // a time), every seventh forwarded with another Call-ID (SIP.PRESERVE fails). Some carry a
    // message from another port of the server, which a request from that port (its Via naming
    // the server's address) makes the server's halfway through: their ladders must draw it as
    // the judge knew it when it judged them.
    const EPHEMERAL: &str = "10.0.0.2:40000";
    let mut t = imcpm::base::Trace::default();
    for i in 0..400u64 {
        let (call, via_core, via_sut) = (
            format!("Call-ID: D{i}@test"),
            format!("Via: SIP/2.0/UDP {CORE};branch=z9hG4bKc{i}"),
            format!("Via: SIP/2.0/UDP {SUT};branch=z9hG4bKs{i}"),
        );
        let out_call = if i % 7 == 3 { format!("Call-ID: E{i}@test") } else { call.clone() };
        let common = ["From: <sip:alice@im.example.net>;tag=a1", "To: <sip:bob@im.example.net>", "CSeq: 1 MESSAGE"];
        let request = |vias: &[&str], route: &str, mf: &str, call: &str| {
            let mut l = vec!["MESSAGE sip:bob@im.example.net SIP/2.0"];
            l.extend(vias);
            l.extend([route, mf, call, "Accept-Contact: *;+g.oma.sip-im"]);
            l.extend(common);
            sip(&l)
        };
        let ok = |vias: &[&str], call: &str| {
            let mut l = vec!["SIP/2.0 200 OK"];
            l.extend(vias);
            l.extend([
                "From: <sip:alice@im.example.net>;tag=a1",
                "To: <sip:bob@im.example.net>;tag=b1",
                "CSeq: 1 MESSAGE",
                call,
            ]);
            sip(&l)
        };
        let route_in = "Route: <sip:10.0.0.2;lr>, <sip:10.0.0.1;lr>";
        at(&mut t, 4 * i, CORE, SUT, request(&[&via_core], route_in, "Max-Forwards: 70", &call));
        at(
            &mut t,
            4 * i + 1,
            SUT,
            CORE,
            request(&[&via_sut, &via_core], "Route: <sip:10.0.0.1;lr>", "Max-Forwards: 69", &out_call),
        );
        at(&mut t, 4 * i + 2, CORE, SUT, ok(&[&via_sut, &via_core], &out_call));
        at(&mut t, 4 * i + 3, SUT, CORE, ok(&[&via_core], &call));
        if i % 50 == 10 {
            at(&mut t, 4 * i + 3, EPHEMERAL, CORE, ok(&[&via_core], &call));
        }
        if i == 300 {
            let via = ["Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKeph"];
            at(
                &mut t,
                4 * i + 3,
                EPHEMERAL,
                CORE,
                request(&via, "Route: <sip:10.0.0.1;lr>", "Max-Forwards: 70", "Call-ID: P@test"),
            );
        }
    }
    let many = dir.join("many.pcapng");
    let mut out = Vec::new();
    write_pcapng(&t, &mut out).unwrap();
    std::fs::write(&many, out).unwrap();
    let jobs = [
        CaptureJob::new(vec![many], vec![SutAddr::Addr(SUT.parse().unwrap())], Level::One),
        CaptureJob::new(vec![pcap.clone()], vec!["192.0.2.1:5060".parse().unwrap()], Level::Two),
        kamailio_job("kamailio-l1-faulty.pcapng"),
        kamailio_job("kamailio-l1-correct.pcapng"),
    ];
    let mut compared = 0;
    for base in jobs {
        for window in 0..3 {
            let mut job = base.clone();
            job.keep = usize::MAX;
            job.ladders = usize::MAX;
            match window {
                1 => job.window.max_bytes = 1,
                2 => job.window.max_deliveries = 2,
                _ => {}
            }
            let seen = |threads: usize| {
                let mut job = job.clone();
                job.threads = threads;
                let v = judge_captures(&job);
                assert!(v.error.is_none(), "{:?}", v.error);
                assert!(v.pairs > 0 && !v.aggregate.counts.is_empty(), "nothing judged in {:?}", job.files);
                format!("{:#?}\n{:#?}\n{} {:?} {}", v.aggregate, v.flows, v.flows_left_out, v.window, v.pairs)
            };
            let one = seen(0);
            if window == 1 {
                // Dialogs leave the window one by one: the judging threads' bound is reached.
                let mut job = job.clone();
                job.threads = 1;
                let v = judge_captures(&job);
                let most = v.out_peak.0;
                assert!(most > 0 && most <= 4 * 32 + 1, "{:?}: {most} dialogs out at once with one thread", job.files);
                // (The byte bound, 4 MiB, is not reached by these small dialogs, and the
                // judging thread keeps up with larger ones: no test here can hold it to it.)
            }
            if job.files[0].ends_with("many.pcapng") && window == 1 {
                // Judged as they leave the window: some before the port was learnt, some after.
                let ephemeral = format!("\"{EPHEMERAL}\"");
                assert!(one.contains(&ephemeral) && one.contains(&format!("IM server {EPHEMERAL}")), "{one}");
            }
            for threads in [1, 3] {
                let got = seen(threads);
                if got != one {
                    let line = one.lines().zip(got.lines()).position(|(a, b)| a != b).unwrap_or(0);
                    panic!(
                        "{:?} window {window}, {threads} thread(s): differs at line {line}:\n  one thread: {}\n  threads:    {}",
                        job.files,
                        one.lines().nth(line).unwrap_or(""),
                        got.lines().nth(line).unwrap_or("")
                    );
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 24);
}
