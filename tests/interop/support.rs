//! Processes for the interop tests: `imcpm serve` and sipp, started on loopback with free ports,
//! bounded in time, and killed by PID when a test ends (or panics).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Scenario files.
pub(crate) fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/sipp").join(name)
}

/// Fail (never skip) when a tool is missing, naming the Debian package to install.
pub(crate) fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]) {
        let p = dir.join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{tool}` is missing: the interop tests need it and never pass by skipping; \
         install it with `apt-get install {package}` (.ci/run does)"
    );
}

/// A fresh directory for one test's logs; kept when the test fails.
pub(crate) fn work_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let d = std::env::temp_dir().join(format!("imcpm-interop-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The release build of `imcpm`, built now if needed (`cargo build --release --bin imcpm`, as
/// `scripts/soak.sh` and `scripts/load.sh` build it: one build serves all three), for the
/// tests that measure or load as a user would run it.
#[allow(dead_code)] // not every test binary that includes this file loads a server
pub(crate) fn release_imcpm() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "imcpm"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(status.success(), "`cargo build --release --bin imcpm` failed: {status}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join("release/imcpm");
    assert!(bin.is_file(), "{} missing after the release build", bin.display());
    bin
}

/// A loopback UDP port free right now (released before use; the window is tiny).
pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A free loopback port for a sipp of `transport` (`u1` or `t1`): free for both UDP and TCP.
pub(crate) fn free_port() -> u16 {
    for _ in 0..100 {
        let p = free_udp_port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free loopback port");
}

/// A child process killed by PID when dropped.
pub(crate) struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait up to `limit`; on timeout kill it (by PID) and return None.
    pub(crate) fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= end {
                eprintln!("{} (pid {}) still running after {limit:?}: killed", self.name, self.pid());
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM by PID (the clean shutdown path), then wait up to `limit`.
    pub(crate) fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        self.wait_for(limit)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `imcpm serve`, with its stdout lines collected by a thread.
pub(crate) struct Server {
    pub proc: Proc,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    lines: mpsc::Receiver<String>,
    pub stdout: Vec<String>,
    pub stderr_log: PathBuf,
}

impl Server {
    /// Start `imcpm serve --level 1` on free loopback UDP and TCP ports, plus `extra` args; wait
    /// for the bound addresses it prints.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Server {
        let stderr_log = dir.join("imcpm-serve.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imcpm"));
        cmd.args(["serve", "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--level", "1", "-v"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap());
        let mut child = cmd.spawn().expect("start imcpm serve");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut s = Server {
            proc: Proc { name: "imcpm serve".into(), child },
            udp: "0.0.0.0:0".parse().unwrap(),
            tcp: "0.0.0.0:0".parse().unwrap(),
            lines,
            stdout: Vec::new(),
            stderr_log,
        };
        let end = Instant::now() + Duration::from_secs(10);
        while s.udp.port() == 0 || s.tcp.port() == 0 {
            let left = end.saturating_duration_since(Instant::now());
            let line = s
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("imcpm serve printed no bound addresses: {:?}\n{}", s.stdout, s.stderr()));
            if let Some(a) = line.strip_prefix("imcpm serve: listening on udp:") {
                s.udp = a.parse().unwrap();
            }
            if let Some(a) = line.strip_prefix("imcpm serve: listening on tcp:") {
                s.tcp = a.parse().unwrap();
            }
            s.stdout.push(line);
        }
        s
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// SIGTERM; the exit status and the summary line it prints on the way out.
    pub(crate) fn stop(&mut self) -> (Option<ExitStatus>, String) {
        let status = self.proc.terminate(Duration::from_secs(5));
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.stdout.push(l);
        }
        let summary = self.stdout.iter().find(|l| l.contains("stopped after")).cloned().unwrap_or_default();
        (status, summary)
    }
}

/// A number in the summary line: `forwarded 5` -> 5.
pub(crate) fn summary_count(summary: &str, key: &str) -> Option<u64> {
    let at = summary.find(&format!("{key} "))? + key.len() + 1;
    summary[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// What one sipp run reported.
#[derive(Debug)]
pub(crate) struct SippOutcome {
    pub role: &'static str,
    /// None when it had to be killed.
    pub exit: Option<i32>,
    pub successful: u64,
    pub failed: u64,
    pub errors: String,
    pub messages: PathBuf,
}

impl SippOutcome {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}: exit {:?}, successful {}, failed {}\n-- errors --\n{}\n-- messages: {}",
            self.role,
            self.exit,
            self.successful,
            self.failed,
            self.errors,
            self.messages.display()
        )
    }
}

/// One sipp pair's set-up.
pub(crate) struct SippRun<'a> {
    pub dir: &'a Path,
    /// `pager` or `lmm` (files `NAME_uac.xml`, `NAME_uas.xml`).
    pub scenario: &'a str,
    /// Where the UAC sends (the server).
    pub server: SocketAddr,
    /// sipp transport of the UAC (`u1` or `t1`); it must match `server`'s transport.
    pub uac_transport: &'a str,
    /// sipp transport of the UAS; `t1` adds `;transport=tcp` to its Route entry.
    pub uas_transport: &'a str,
    pub calls: u32,
}

fn sipp_cmd(dir: &Path, role: &str) -> Command {
    let mut c = Command::new(require_tool("sipp", "sip-tester"));
    c.current_dir(dir)
        .args(["-nostdin", "-trace_err", "-trace_msg", "-trace_stat", "-fd", "1"])
        .arg("-error_file")
        .arg(dir.join(format!("{role}_errors.log")))
        .arg("-message_file")
        .arg(dir.join(format!("{role}_messages.log")))
        .arg("-stf")
        .arg(dir.join(format!("{role}_stats.csv")))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{role}_screen.log"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{role}_stderr.log"))).unwrap());
    c
}

/// The last row of a sipp `-trace_stat` CSV: SuccessfulCall(C) and FailedCall(C).
fn sipp_counts(csv: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(csv).unwrap_or_default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else { return (0, 0) };
    let Some(last) = lines.next_back() else { return (0, 0) };
    let cols: Vec<&str> = header.split(';').collect();
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        cols.iter().position(|c| *c == name).and_then(|i| vals.get(i)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}

fn outcome(dir: &Path, role: &'static str, exit: Option<ExitStatus>) -> SippOutcome {
    let (successful, failed) = sipp_counts(&dir.join(format!("{role}_stats.csv")));
    let mut errors = std::fs::read_to_string(dir.join(format!("{role}_errors.log"))).unwrap_or_default();
    errors.push_str(&std::fs::read_to_string(dir.join(format!("{role}_stderr.log"))).unwrap_or_default());
    SippOutcome {
        role,
        exit: exit.and_then(|s| s.code()),
        successful,
        failed,
        errors,
        messages: dir.join(format!("{role}_messages.log")),
    }
}

/// Start the UAS, wait until it holds its port, run the UAC to the end (bounded), then let the
/// UAS finish (bounded). Everything is killed by PID on the way out.
pub(crate) fn run_sipp_pair(r: &SippRun<'_>) -> (SippOutcome, SippOutcome) {
    let uas_port = free_port();
    let calls = r.calls.to_string();
    let mut uas_cmd = sipp_cmd(r.dir, "uas");
    uas_cmd
        .arg("-sf")
        .arg(scenario(&format!("{}_uas.xml", r.scenario)))
        .args(["-t", r.uas_transport, "-i", "127.0.0.1", "-p", &uas_port.to_string(), "-m", &calls])
        .args(["-timeout", "30s"]);
    let mut uas = Proc { name: "sipp UAS".into(), child: uas_cmd.spawn().expect("start sipp UAS") };
    // Ready when its port is taken (or give up and let the UAC's failure tell).
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        let taken = if r.uas_transport == "t1" {
            std::net::TcpListener::bind(("127.0.0.1", uas_port)).is_err()
        } else {
            UdpSocket::bind(("127.0.0.1", uas_port)).is_err()
        };
        if taken || uas.child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut uas_route = format!("127.0.0.1:{uas_port}");
    if r.uas_transport == "t1" {
        uas_route.push_str(";transport=tcp");
    }
    let mut uac_cmd = sipp_cmd(r.dir, "uac");
    uac_cmd
        .arg(r.server.to_string())
        .arg("-sf")
        .arg(scenario(&format!("{}_uac.xml", r.scenario)))
        .args(["-t", r.uac_transport, "-i", "127.0.0.1", "-p", &free_port().to_string(), "-m", &calls])
        .args(["-r", "10", "-key", "uas", &uas_route, "-default_behaviors", "all,-bye", "-timeout", "30s"]);
    let mut uac = Proc { name: "sipp UAC".into(), child: uac_cmd.spawn().expect("start sipp UAC") };
    let uac_exit = uac.wait_for(Duration::from_secs(40));
    let uas_exit = uas.wait_for(Duration::from_secs(10));
    (outcome(r.dir, "uac", uac_exit), outcome(r.dir, "uas", uas_exit))
}
