//! Live runs over real sockets on loopback give the verdicts of the simulated run: against the
//! embedded reference server (`--transport udp|tcp`) and against `imcpm serve` started as a
//! separate process (`--sut`, IPv4 and IPv6, UDP and TCP, levels 1 and 2, with a pool of users
//! the server was started with). Also: an unreachable server is a clear error, not a hang, and
//! Ctrl-C writes the partial report. Every process started here is killed at the end.

use imcpm::base::{Level, Transport};
use imcpm::interop::finding::Verdict;
use imcpm::live::{LiveError, LiveOptions, PoolUser, Target, run_jobs};
use imcpm::net::Listen;
use imcpm::report::ResultItem;
use imcpm::scenario::{Scenario, SuiteOptions, execute, load_dir, plan, report_of};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

type Verdicts = BTreeMap<(String, u8, String), Verdict>;

fn scenarios() -> Vec<Scenario> {
    load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap()
}

fn verdicts(results: &[ResultItem]) -> Verdicts {
    results.iter().map(|r| ((r.scenario.clone(), r.level.number(), r.requirement.to_string()), r.verdict)).collect()
}

fn simulated(all: &[Scenario], level: Option<Level>) -> Verdicts {
    let jobs = plan(all, level, &[]);
    let (report, _) = execute(all, &jobs, &SuiteOptions::default(), &mut |_| {});
    verdicts(&report.results)
}

fn live(all: &[Scenario], level: Option<Level>, opts: &LiveOptions) -> Verdicts {
    let jobs = plan(all, level, &[]);
    let runs = run_jobs(all, &jobs, opts, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), jobs.len());
    verdicts(&report_of(all, &runs, &SuiteOptions::default(), "test").results)
}

/// The keys whose verdicts differ, with both verdicts.
fn differences(a: &Verdicts, b: &Verdicts) -> Vec<String> {
    let mut d: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| format!("{k:?}: simulated {v}, live {:?}", b.get(k)))
        .collect();
    d.extend(b.keys().filter(|k| !a.contains_key(*k)).map(|k| format!("{k:?}: only live")));
    d
}

#[test]
fn the_embedded_server_over_udp_and_tcp_gives_the_simulated_verdicts() {
    let all = scenarios();
    let sim = simulated(&all, None);
    assert!(sim.values().all(|v| matches!(v, Verdict::Pass | Verdict::NotApplicable)), "{sim:?}");
    let threads: Vec<_> = [Transport::Udp, Transport::Tcp]
        .into_iter()
        .map(|t| {
            let all = all.clone();
            std::thread::spawn(move || (t, live(&all, None, &LiveOptions::new(Target::Embedded(t)))))
        })
        .collect();
    for h in threads {
        let (t, got) = h.join().unwrap();
        assert_eq!(differences(&sim, &got), Vec::<String>::new(), "over {t}");
    }
}

/// `imcpm serve` as a separate process; killed when dropped.
struct Serve(Child, SocketAddr);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pool of users for the server and the harness: 8 IM and 8 CPM clients.
fn pool_file() -> PathBuf {
    let mut text = String::from("[users]\n");
    for k in ["im", "cpm"] {
        for i in 1..=8 {
            text.push_str(&format!("\"sip:{k}{i}@im.example.net\" = \"{k}\"\n"));
        }
    }
    // A file of its own per call: the tests run in parallel in one process, and one that
    // removed a shared file at its end took it from under another's server starting up.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("imcpm-live-pool-{}-{n}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn pool() -> Vec<PoolUser> {
    let mut v = Vec::new();
    for (k, kind) in [("im", imcpm::base::ClientKind::Im), ("cpm", imcpm::base::ClientKind::Cpm)] {
        for i in 1..=8 {
            v.push(PoolUser { aor: format!("sip:{k}{i}@im.example.net"), kind });
        }
    }
    v
}

/// A port free for both UDP and TCP on `ip`.
fn free_port(ip: &str) -> u16 {
    let host = ip.trim_matches(|c| c == '[' || c == ']');
    for _ in 0..50 {
        let u = std::net::UdpSocket::bind((host, 0)).unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind((host, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// Start `imcpm serve ARGS` on a free port of `ip`, UDP and TCP; ready once it says where it
/// listens.
fn spawn_serve(ip: &str, args: &[&str]) -> Serve {
    // The same port for UDP and TCP, found free a moment before: another process may take it
    // in between, so a server that could not bind is started again on another (a few times).
    for _ in 0..5 {
        let port = free_port(ip);
        let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
            .arg("serve")
            .args(args)
            .args(["--listen", &format!("udp:{ip}:{port}"), "--listen", &format!("tcp:{ip}:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let addr = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("imcpm serve: listening on tcp:").and_then(|a| a.parse::<SocketAddr>().ok()));
        match addr {
            Some(addr) => return Serve(child, addr),
            None => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    panic!("imcpm serve could not bind a free port on {ip} in 5 tries");
}

/// Start `imcpm serve` at `level` on a free port of `ip` (UDP and TCP), with the pool.
fn serve(ip: &str, level: Level, users: &std::path::Path) -> Serve {
    let users = users.to_str().unwrap();
    spawn_serve(ip, &["--level", &level.number().to_string(), "--users", users])
}

#[test]
fn imcpm_serve_as_a_separate_process_gives_the_simulated_verdicts() {
    let all = scenarios();
    let users = pool_file();
    let mut handles = Vec::new();
    for level in [Level::One, Level::Two] {
        for ip in ["127.0.0.1", "[::1]"] {
            for t in [Transport::Udp, Transport::Tcp] {
                let (all, users) = (all.clone(), users.clone());
                handles.push(std::thread::spawn(move || {
                    let server = serve(ip, level, &users);
                    let mut opts = LiveOptions::new(Target::External {
                        sut: Listen { transport: t, addr: server.1 },
                        listen: None,
                    });
                    opts.pool = pool();
                    let got = live(&all, Some(level), &opts);
                    drop(server);
                    (level, ip, t, got)
                }));
            }
        }
    }
    let sims: BTreeMap<u8, Verdicts> =
        [Level::One, Level::Two].into_iter().map(|l| (l.number(), simulated(&all, Some(l)))).collect();
    for h in handles {
        let (level, ip, t, got) = h.join().unwrap();
        let mut diff = differences(&sims[&level.number()], &got);
        // Over TCP the server's own 100 Trying and the downstream one reach the harness on two
        // connections read by two tasks, so the harness may record the downstream one first
        // (always under the impaired network's 200 ms delay; now and then for an INVITE on a
        // machine busy with other tests: t2/term/group, seen once in four full runs). That
        // order is undecidable (INCONCLUSIVE), never a FAIL, and only that is tolerated.
        // The scenarios name UDP; an external server reached over TCP runs them over TCP.
        if t == Transport::Tcp {
            diff.retain(|d| !(d.contains("SIP.PROXY") && d.contains("simulated PASS, live Some(Inconclusive)")));
        }
        assert_eq!(diff, Vec::<String>::new(), "level {level}, {t} over {ip}");
    }
    let _ = std::fs::remove_file(users);
}

#[test]
fn an_unreachable_server_is_a_clear_error_not_a_hang() {
    let all = scenarios();
    let jobs = plan(&all, Some(Level::One), &["t1/pager".to_string()]);
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for t in [Transport::Udp, Transport::Tcp] {
        let sut = Listen { transport: t, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let opts = LiveOptions::new(Target::External { sut, listen: None });
        let started = std::time::Instant::now();
        match run_jobs(&all, &jobs, &opts, &mut |_| {}) {
            Err(LiveError::Unreachable { sut: s, why }) => {
                assert_eq!(s, sut.to_string());
                assert!(why.contains("refused") || why.contains("unreachable"), "{why}");
            }
            other => panic!("over {t}: expected Unreachable, got {:?}", other.map(|r| r.len())),
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no hang");
    }
}

#[test]
fn scenarios_whose_users_the_pool_cannot_give_are_errors_naming_the_pool() {
    let all = scenarios();
    let users = pool_file();
    let server = serve("127.0.0.1", Level::Two, &users);
    let jobs = plan(&all, Some(Level::Two), &["t2/term/pager".to_string()]);
    let mut opts = LiveOptions::new(Target::External { sut: Listen::udp(server.1), listen: None });
    // Only IM users: the scenario's CPM actor cannot be mapped.
    opts.pool = pool().into_iter().filter(|u| u.kind == imcpm::base::ClientKind::Im).collect();
    let runs = run_jobs(&all, &jobs, &opts, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].findings.iter().all(|f| f.verdict == Verdict::Error), "{:?}", runs[0].findings);
    assert!(runs[0].findings.iter().all(|f| f.observed.contains("the pool (--users) has 0")), "{:?}", runs[0].findings);
    drop(server);
    let _ = std::fs::remove_file(users);
}

#[test]
fn ctrl_c_writes_the_partial_report() {
    let dir = std::env::temp_dir().join(format!("imcpm-live-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--transport", "udp", "--filter", "online/offline", "--report-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The scenario waits 5 s by design: interrupt it during the wait.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling a child process we started.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("interrupted (Ctrl-C) during step"), "{stdout}");
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    assert!(json.contains("interrupted (Ctrl-C)"), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `imcpm run --sut-config`: a server with a known defect (`imcpm serve --fault
/// forget-lmm-tag`) listed as a deviation exits 0 with XFAIL; a deviation on a requirement that
/// passes is XPASS and exits 1; a broken config is exit 2 naming file, line and column.
#[test]
fn sut_config_deviations_are_xfail_and_a_passing_one_is_xpass() {
    let dir = std::env::temp_dir().join(format!("imcpm-live-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users.toml");
    std::fs::write(&users, "[users]\n\"sip:u1@im.example.net\" = \"im\"\n").unwrap();
    let server = spawn_serve("127.0.0.1", &["--level", "1", "--fault", "forget-lmm-tag"]);
    let port = server.1.port();
    let run = |cfg: &str| {
        let path = dir.join("sut.toml");
        std::fs::write(&path, cfg).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_imcpm"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "--filter", "t1/lmm", "--filter", "t1/pager", "--sut-config"])
            .arg(&path)
            .arg("--report-dir")
            .arg(dir.join("reports"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let base = format!("sut = \"udp:127.0.0.1:{port}\"\nlevel = 1\n");
    // Without the deviation: the defect FAILs.
    let (code, stdout, _) = run(&base);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("FAIL T1.TERM.LMM in t1/lmm"), "{stdout}");
    // Listed: XFAIL with the reason, exit 0.
    let dev = "[[deviations]]\nrequirement = \"T1.TERM.LMM\"\nscenario = \"t1/lmm\"\nreason = \"drops the large-message tag\"\n";
    let (code, stdout, _) = run(&format!("{base}{dev}"));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("XFAIL"), "{stdout}");
    assert!(stdout.contains("known deviation: drops the large-message tag"), "{stdout}");
    // A deviation on what passes: XPASS, exit 1.
    let xpass =
        "[[deviations]]\nrequirement = \"T1.TERM.PAGER\"\nscenario = \"t1/pager\"\nreason = \"thought broken\"\n";
    let (code, stdout, _) = run(&format!("{base}{dev}{xpass}"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("XPASS T1.TERM.PAGER in t1/pager"), "{stdout}");
    // A broken config: exit 2, file:line:column.
    let (code, _, stderr) = run(&format!("{base}colour = \"blue\"\n"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("sut.toml:3:1: unknown field `colour`"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = users;
}

/// The quick start of docs/live-testing.md, as written there (the port replaced by a free one,
/// the files by temporary ones, run from the checkout): `imcpm serve` in the background with the pool
/// file the doc shows, then `imcpm run --sut` against it, exit 0.
#[test]
fn docs_commands_run() {
    let doc = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/live-testing.md")).unwrap();
    let block = |lang: &str| -> String {
        let start = doc.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
        doc[start..start + doc[start..].find("```").unwrap()].to_string()
    };
    let sh = block("sh");
    let lines: Vec<&str> = sh.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{sh}");
    let dir = std::env::temp_dir().join(format!("imcpm-live-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pool.toml"), block("toml")).unwrap();
    let port = free_port("127.0.0.1");
    let args = |line: &str| -> Vec<String> {
        line.trim_end_matches('&')
            .split_whitespace()
            .skip(1) // `imcpm`
            .map(|w| {
                let w = w.replace("127.0.0.1:5070", &format!("127.0.0.1:{port}"));
                match w.as_str() {
                    "pool.toml" => dir.join("pool.toml").display().to_string(),
                    "reports/live" => dir.join("reports").display().to_string(),
                    _ => w,
                }
            })
            .collect()
    };
    assert!(lines[0].starts_with("imcpm serve ") && lines[0].ends_with('&'), "{}", lines[0]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .current_dir(&dir)
        .args(args(lines[0]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut out = BufReader::new(out).lines();
    while !out.next().unwrap().unwrap().starts_with("imcpm serve: listening on tcp:") {}
    let _server = Serve(child, SocketAddr::from(([127, 0, 0, 1], port)));
    assert!(lines[1].starts_with("imcpm run --sut "), "{}", lines[1]);
    // From any folder: the suite is built into the binary.
    let run = Command::new(env!("CARGO_BIN_EXE_imcpm")).current_dir(&dir).args(args(lines[1])).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let json = std::fs::read_to_string(dir.join("reports/report.json")).unwrap();
    assert!(json.contains(&format!("\"sut\": \"udp:127.0.0.1:{port}\"")), "{json}");
    assert!(json.contains("\"coverage\""), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `imcpm replay`: the level-1 scenarios' traffic, captured from the simulated run (`imcpm run
/// --pcap`, the server at 192.0.2.1:5060), re-sent to `imcpm serve` on loopback: every result
/// PASS (exit 0) against the reference server, FAIL T1.TERM.LMM against one with the
/// `forget-lmm-tag` defect, and the report puts the captured and live egress side by side.
#[test]
fn replay_of_a_capture_judges_the_live_server() {
    let dir = std::env::temp_dir().join(format!("imcpm-live-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("t1.pcapng");
    let st = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--level", "1", "--filter", "t1/*", "--pcap"])
        .arg(&pcap)
        .arg("--report-dir")
        .arg(dir.join("sim"))
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0));
    for (fault, want_code) in [(None, 0), (Some("forget-lmm-tag"), 1)] {
        let mut args = vec!["--level", "1"];
        if let Some(f) = fault {
            args.extend(["--fault", f]);
        }
        let server = spawn_serve("127.0.0.1", &args);
        let port = server.1.port();
        let reports = dir.join(format!("replay-{}", fault.unwrap_or("none")));
        let out = Command::new(env!("CARGO_BIN_EXE_imcpm"))
            .arg("replay")
            .arg(&pcap)
            .args(["--capture-sut", "192.0.2.1:5060", "--sut", &format!("udp:127.0.0.1:{port}"), "--level", "1"])
            .args(["--speed", "max", "--report-dir"])
            .arg(&reports)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(want_code), "{fault:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap()).unwrap();
        let failing: Vec<String> = json["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["verdict"] != "PASS")
            .map(|r| format!("{} {} {}", r["scenario"], r["requirement"], r["verdict"]))
            .collect();
        match fault {
            None => assert!(failing.is_empty(), "{failing:?}"),
            Some(_) => {
                assert!(!failing.is_empty());
                assert!(failing.iter().all(|f| f.contains("T1.TERM.LMM") && f.contains("FAIL")), "{failing:?}");
            }
        }
        // Every request the capture shows the server sending on, the live server sent on too.
        let pairs = json["replay"]["pairs"].as_array().unwrap();
        assert!(pairs.len() >= 6, "{pairs:?}");
        for p in pairs {
            assert!(!p["captured"].is_null() && !p["live"].is_null(), "{p}");
        }
        assert!(std::fs::read_to_string(reports.join("report.md")).unwrap().contains("## Captured vs live egress"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `routing = "next-hop"`: the core sends requests to the server with no Route set, and the
/// server (`imcpm serve` with its next hop for both domains fixed to the core's `--listen`
/// address by `--host-map`) sends everything back there: the verdicts of the simulated run.
#[test]
fn a_server_with_a_fixed_next_hop_gives_the_simulated_verdicts() {
    let all = scenarios();
    let users = pool_file();
    let core = SocketAddr::from(([127, 0, 0, 2], free_port("127.0.0.2")));
    let (im, cpm) = (format!("im.example.net={core}"), format!("cpm.example.com={core}"));
    let u = users.to_str().unwrap();
    let server = spawn_serve("127.0.0.1", &["--level", "2", "--host-map", &im, "--host-map", &cpm, "--users", u]);
    let port = server.1.port();
    let filters: Vec<String> = ["t1/pager", "t1/lmm", "t1/session", "t2/orig/pager", "t2/term/pager", "t2/term/group"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let jobs = plan(&all, Some(Level::Two), &filters);
    let mut opts = LiveOptions::new(Target::External {
        sut: Listen::udp(SocketAddr::from(([127, 0, 0, 1], port))),
        listen: Some(core),
    });
    opts.pool = pool();
    opts.route_set = false;
    let runs = run_jobs(&all, &jobs, &opts, &mut |_| {}).unwrap();
    let got = verdicts(&report_of(&all, &runs, &SuiteOptions::default(), "test").results);
    let (report, _) = execute(&all, &jobs, &SuiteOptions::default(), &mut |_| {});
    let sim = verdicts(&report.results);
    assert_eq!(differences(&sim, &got), Vec::<String>::new());
    // No initial request reached the server with a Route set.
    let mut initial = 0;
    for r in &runs {
        for e in r.trace.events.iter().filter(|e| e.packet.to.port() == port) {
            let m = imcpm::sip::Message::parse(e.packet.bytes.clone()).unwrap();
            if m.is_request() && m.to_tag().is_none() && m.method() != Some(&imcpm::sip::Method::Register) {
                initial += 1;
                assert!(m.first(&imcpm::sip::HeaderName::Route).is_none(), "{}", String::from_utf8_lossy(m.bytes()));
            }
        }
    }
    assert!(initial >= 6, "{initial}");
    let _ = std::fs::remove_file(users);
}

/// A server of another domain (`imcpm serve --domain ims.example.org`, its pool there): the
/// harness's core and local users take that domain (`LiveOptions::domain`, `--domain`), and the
/// level-2 scenarios give the simulated verdicts.
#[test]
fn a_server_of_another_domain_gives_the_simulated_verdicts() {
    let all = scenarios();
    let dir = std::env::temp_dir().join(format!("imcpm-live-domain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("pool.toml");
    let pool_path = pool_file();
    let text = std::fs::read_to_string(&pool_path).unwrap().replace("@im.example.net", "@ims.example.org");
    let _ = std::fs::remove_file(pool_path);
    std::fs::write(&users, text).unwrap();
    let u = users.to_str().unwrap();
    let server = spawn_serve("127.0.0.1", &["--level", "2", "--domain", "ims.example.org", "--users", u]);
    let port = server.1.port();
    let filters: Vec<String> = ["t2/*", "online/*", "convid/*"].iter().map(|s| s.to_string()).collect();
    let jobs = plan(&all, Some(Level::Two), &filters);
    let mut opts = LiveOptions::new(Target::External { sut: Listen::udp(([127, 0, 0, 1], port).into()), listen: None });
    opts.pool = pool()
        .into_iter()
        .map(|u| PoolUser { aor: u.aor.replace("@im.example.net", "@ims.example.org"), ..u })
        .collect();
    opts.domain = "ims.example.org".into();
    let runs = run_jobs(&all, &jobs, &opts, &mut |_| {}).unwrap();
    let got = verdicts(&report_of(&all, &runs, &SuiteOptions::default(), "test").results);
    let (report, _) = execute(&all, &jobs, &SuiteOptions::default(), &mut |_| {});
    assert_eq!(differences(&verdicts(&report.results), &got), Vec::<String>::new());
    assert!(
        runs.iter().all(|r| r
            .trace
            .events
            .iter()
            .all(|e| !String::from_utf8_lossy(&e.packet.bytes).contains("@im.example.net")))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A third-party capture with an in-dialog BYE whose Request-URI is the captured callee's
/// Contact (an IP address of the capture): the replay sends it to the harness, which plays the
/// callee, so a correct live server passes (it once got a false FAIL ROUTE.VIA-IMS: the BYE went
/// to the captured address, outside the harness).
#[test]
fn replay_of_a_third_party_capture_sends_in_dialog_requests_to_the_harness() {
    let dir = std::env::temp_dir().join(format!("imcpm-live-replay-kam-{}", std::process::id()));
    let server = spawn_serve("127.0.0.1", &["--level", "1"]);
    let port = server.1.port();
    let out = Command::new(env!("CARGO_BIN_EXE_imcpm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "captures/kamailio-l1-correct.pcapng", "--capture-sut", "127.0.0.1:5070"])
        .args(["--sut", &format!("udp:127.0.0.1:{port}"), "--level", "1", "--speed", "max", "--report-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("FAIL"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(json["summary"]["PASS"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
