//! Live runs: the scenarios' world against an IM server over real sockets.
//!
//! Each (scenario, level) job is one [`Player`], a sans-IO participant hosting the whole
//! simulated world (clients, cores, foci); the tokio driver of `net` runs it like any node.
//! Packets between simulated nodes stay in memory; packets to the server under test leave
//! through the local core's real UDP socket or TCP connection, and what the server sends to the
//! core comes back in. The driver's clock is the world's clock: no pacing, no polling.
//!
//! Two targets:
//! - [`Target::Embedded`] (`imcpm run --transport udp|tcp`): the reference server, started per
//!   job on loopback in the same runtime: the special case "the external server happens to be
//!   ours".
//! - [`Target::External`] (`imcpm run --sut`): a server the harness does not start. Actors are
//!   mapped onto users of a pool (`--users`) or given addresses of record unique to the run.
//!
//! Jobs run concurrently where they share no user: with the embedded server each job has its
//! own server; with an external one each job has its own core port and its own users.

// A driver reads the clock (clippy.toml).
#![allow(clippy::disallowed_methods)]

use crate::base::{ClientKind, Level, Transport};
use crate::net::{Bound, Listen, NetConfig};
use crate::node::im_server::ImServer;
use crate::scenario::model::Where;
use crate::scenario::run::AddressPlan;
pub mod sutconfig;

use crate::scenario::{Player, RunOptions, Scenario, ScenarioRun, harness_failure, judge, prepare_outside};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::watch;

/// Where the server under test is.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The embedded reference server, started per job on 127.0.0.1 over this transport.
    Embedded(Transport),
    /// A server at `sut`; the harness's core binds `listen` (default: an address on the
    /// loopback, or on the interface that routes to the server, with a free port per job).
    External {
        /// The server's transport address.
        sut: Listen,
        /// Where the harness's core listens (all jobs then run one after the other).
        listen: Option<SocketAddr>,
    },
}

/// A pool user: a local subscriber the server under test knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUser {
    /// Its address of record.
    pub aor: String,
    /// IM or CPM client.
    pub kind: ClientKind,
}

/// How a live run goes.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The server.
    pub target: Target,
    /// Faults of the embedded server.
    pub run: RunOptions,
    /// A phase of a scenario ends once the world has been quiet this long with nothing waiting
    /// for an answer.
    pub quiet: Duration,
    /// Most jobs at once.
    pub parallel: usize,
    /// Local users the server knows (mapped onto actors); empty: addresses of record unique to
    /// this run, learnt by the server from the third-party REGISTERs only.
    pub pool: Vec<PoolUser>,
    /// The core reaches the server with the ISC Route set (true), or with none: the server's
    /// next hop is fixed to the core's `--listen` address.
    pub route_set: bool,
    /// The server's domain (its local users' and the core's).
    pub domain: String,
}

impl LiveOptions {
    /// Defaults for a target: quiet 30 ms, 8 jobs at once, no pool.
    pub fn new(target: Target) -> LiveOptions {
        LiveOptions {
            target,
            run: RunOptions::default(),
            quiet: Duration::from_millis(30),
            parallel: 8,
            pool: Vec::new(),
            route_set: true,
            domain: crate::scenario::run::DOMAIN.to_string(),
        }
    }
}

/// A live run that could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Nothing listens at the server's address.
    #[error("the server under test at {sut} is unreachable: {why}")]
    Unreachable {
        /// `udp:IP:PORT` or `tcp:IP:PORT`.
        sut: String,
        /// What the network said.
        why: String,
    },
    /// The runtime or a socket could not be set up.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A replay's capture could not be used.
    #[error(transparent)]
    Replay(#[from] crate::check::replay::ReplayError),
}

/// What `imcpm replay` replays, and against what.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The capture files.
    pub files: Vec<std::path::PathBuf>,
    /// The IM server's addresses in the capture.
    pub capture_sut: Vec<crate::check::capture::SutAddr>,
    /// The live server.
    pub sut: Listen,
    /// Where the harness listens (default as for `--sut` runs).
    pub listen: Option<SocketAddr>,
    /// Timing.
    pub speed: crate::check::replay::Speed,
    /// Capture reader options.
    pub read: crate::capture::ReadOptions,
}

/// Replay the requests a capture shows going to the IM server against a live one (see
/// [`crate::check::replay`]); the finished (or, on Ctrl-C, interrupted) replayer, its trace
/// ready to judge.
pub fn replay(o: &ReplayOptions) -> Result<crate::check::replay::Replayer, LiveError> {
    let script = crate::check::replay::load(&o.files, &o.capture_sut, &o.read)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        probe(o.sut).await?;
        let ip = match o.listen {
            Some(a) => a.ip(),
            None => local_ip_toward(o.sut.addr)?,
        };
        let (bound, listen) = bind_pair(ip, o.listen.map(|a| a.port())).await?;
        let r = crate::check::replay::Replayer::new(
            script,
            o.capture_sut.clone(),
            o.sut.addr,
            listen,
            o.sut.transport,
            o.speed,
            &run_tag(),
        );
        let served = bound.run(r, crate::net::shutdown_signal()).await;
        let mut r = served.node;
        r.dropped = served.stats.udp_drops;
        Ok(r)
    })
}

/// Run `jobs` (scenario index in `all`, level) live, calling `progress` after each. Ctrl-C
/// stops the running jobs (each judged as far as it got, its unplayed part an ERROR) and skips
/// the rest; the runs are returned in job order, interrupted ones included.
pub fn run_jobs(
    all: &[Scenario],
    jobs: &[(usize, Level)],
    opts: &LiveOptions,
    progress: &mut dyn FnMut(&ScenarioRun),
) -> Result<Vec<ScenarioRun>, LiveError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        if let Target::External { sut, listen } = &opts.target {
            probe(*sut).await?;
            // A --listen that cannot be bound is a usage error, found before any scenario runs.
            if let Some(a) = listen {
                if *a == sut.addr {
                    return Err(LiveError::Io(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("--listen {a} is the server's own address"),
                    )));
                }
                bind_pair(a.ip(), Some(a.port()))
                    .await
                    .map_err(|e| LiveError::Io(io::Error::new(e.kind(), format!("--listen {a}: {e}"))))?;
            }
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let ctrl_c = tokio::task::spawn_local(async move {
            crate::net::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let out = schedule(all, jobs, opts, stop_rx, progress).await;
        ctrl_c.abort();
        Ok(out)
    })
}

/// Run the jobs, at most `opts.parallel` at once (one at a time with a fixed `--listen`), each
/// starting when the pool has users for it.
async fn schedule(
    all: &[Scenario],
    jobs: &[(usize, Level)],
    opts: &LiveOptions,
    stop: watch::Receiver<bool>,
    progress: &mut dyn FnMut(&ScenarioRun),
) -> Vec<ScenarioRun> {
    let parallel = match &opts.target {
        Target::External { listen: Some(_), .. } => 1,
        _ => opts.parallel.max(1),
    };
    let tag = run_tag();
    let mut free: Vec<bool> = vec![true; opts.pool.len()];
    let mut ever: Vec<bool> = vec![false; opts.pool.len()];
    let mut started: std::collections::HashMap<tokio::task::Id, (usize, Vec<usize>)> = Default::default();
    let mut done: Vec<Option<ScenarioRun>> = (0..jobs.len()).map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    // The scenarios that wait on timers by design (an explicit wait, link impairments) start
    // first, so that the others run beside them; results keep the job order.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&n| {
        let s = &all[jobs[n].0];
        std::cmp::Reverse(s.network.is_some() || s.steps.iter().any(|st| st.wait.is_some()))
    });
    let mut next = 0;
    while next < jobs.len() || !running.is_empty() {
        while next < jobs.len() && running.len() < parallel && !*stop.borrow() {
            let n = order[next];
            let (i, level) = jobs[n];
            let s = all[i].clone();
            match assign(&s, &opts.pool, &free, &ever, &tag, n, &opts.target, &opts.domain) {
                Assign::Users(aors, taken) => {
                    for &k in &taken {
                        free[k] = false;
                        ever[k] = true;
                    }
                    let job = Job { s, level, aors, opts: opts.clone(), stop: stop.clone() };
                    let id = running.spawn_local(async move { job.run().await }).id();
                    started.insert(id, (n, taken));
                    next += 1;
                }
                Assign::Wait if !running.is_empty() => break,
                Assign::Wait | Assign::Never(_) => {
                    let all_free = vec![true; opts.pool.len()];
                    let why = match assign(&s, &opts.pool, &all_free, &all_free, &tag, n, &opts.target, &opts.domain) {
                        Assign::Never(why) => why,
                        _ => "the user pool is too small".to_string(),
                    };
                    let r = harness_failure(&s, level, &why);
                    progress(&r);
                    done[n] = Some(r);
                    next += 1;
                }
            }
        }
        if *stop.borrow() && running.is_empty() {
            break;
        }
        let Some(joined) = running.join_next_with_id().await else { continue };
        let (id, run) = match joined {
            Ok((id, run)) => (id, Ok(run)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some((n, taken)) = started.remove(&id) else { continue };
        for k in taken {
            free[k] = true;
        }
        // A job that panicked is an ERROR of its scenario, never a run left out.
        let run = run.unwrap_or_else(|e| {
            let (i, level) = jobs[n];
            harness_failure(&all[i], level, &format!("the live run failed: {e}"))
        });
        progress(&run);
        done[n] = Some(run);
    }
    done.into_iter().flatten().collect()
}

/// Whether a job can start, with the addresses of record of its actors and the pool users it
/// takes.
enum Assign {
    Users(BTreeMap<String, String>, Vec<usize>),
    /// Not now: the pool users it needs are taken by running jobs.
    Wait,
    /// Never: why.
    Never(String),
}

/// Map the actors of `s` onto users: local actors onto free pool users of their kind (with a
/// pool), every other actor onto `sip:NAME-TAG-JOB@DOMAIN`, an address no other run uses.
#[allow(clippy::too_many_arguments)]
fn assign(
    s: &Scenario,
    pool: &[PoolUser],
    free: &[bool],
    ever: &[bool],
    tag: &str,
    job: usize,
    target: &Target,
    domain: &str,
) -> Assign {
    let mut aors = BTreeMap::new();
    let mut taken = Vec::new();
    let external = matches!(target, Target::External { .. });
    for (name, actor) in &s.actors {
        let local = actor.network == Where::Local;
        if external && local && !pool.is_empty() {
            // Users no scenario of the run has had first; one another scenario had (and
            // de-registered at its end) only when the pool has no fresh one left.
            let fits = |k: usize| free[k] && !taken.contains(&k) && pool[k].kind == actor.kind;
            let Some(k) = (0..pool.len()).find(|&k| fits(k) && !ever[k]).or_else(|| (0..pool.len()).find(|&k| fits(k)))
            else {
                let have = pool.iter().filter(|u| u.kind == actor.kind).count();
                let need = s.actors.values().filter(|a| a.network == Where::Local && a.kind == actor.kind).count();
                if need > have {
                    return Assign::Never(format!(
                        "the scenario needs {need} local {} users and the pool (--users) has {have}",
                        actor.kind
                    ));
                }
                return Assign::Wait;
            };
            taken.push(k);
            aors.insert(name.clone(), pool[k].aor.clone());
            continue;
        }
        if external {
            if local && !actor.online {
                return Assign::Never(format!(
                    "actor {name} is a local user who is not registered at the start: the server can only know its \
                     client kind from a users file; give the users it knows with --users"
                ));
            }
            let domain =
                if local { domain.to_string() } else { crate::scenario::world::domain_of(actor.network).to_string() };
            aors.insert(name.clone(), format!("sip:{name}-{tag}-{job}@{domain}"));
        }
    }
    Assign::Users(aors, taken)
}

/// A short token unique to this run (base 36 of the clock and the process id), so that users
/// of one run never meet the registrations an earlier run left at the server.
fn run_tag() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut n = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    let mut s = String::new();
    for _ in 0..6 {
        let d = (n % 36) as u8;
        s.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
        n /= 36;
    }
    s
}

/// One job: a scenario at a level.
struct Job {
    s: Scenario,
    level: Level,
    aors: BTreeMap<String, String>,
    opts: LiveOptions,
    stop: watch::Receiver<bool>,
}

impl Job {
    async fn run(mut self) -> ScenarioRun {
        let (s, level) = (self.s.clone(), self.level);
        match self.go().await {
            Ok(run) => run,
            Err(e) => harness_failure(&s, level, &format!("could not set up the live run: {e}")),
        }
    }

    async fn go(&mut self) -> io::Result<ScenarioRun> {
        match self.opts.target.clone() {
            Target::Embedded(t) => {
                // The embedded server listens on both: a scenario that names its transport
                // (e.g. UDP for its link impairments) keeps it.
                if !self.s.names_transport() {
                    self.s.transport = t.as_str().to_ascii_lowercase();
                }
                let (server, server_addr) = bind_pair(IpAddr::V4(Ipv4Addr::LOCALHOST), None).await?;
                let (world, core) = bind_pair(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), None).await?;
                let plan = AddressPlan::facing(server_addr, core);
                let player = self.player(plan);
                let cfg = player.server_config().clone();
                let (halt, halted) = tokio::sync::oneshot::channel::<()>();
                let stop = self.stop.clone();
                let hosted = async move {
                    let served = world.run(player, stopped(stop)).await;
                    let _ = halt.send(());
                    served
                };
                let srv = server.run(ImServer::new(cfg), async move {
                    let _ = halted.await;
                });
                let (_, served) = tokio::join!(srv, hosted);
                let mut p = served.node;
                p.set_dropped(served.stats.udp_drops);
                Ok(finish(p))
            }
            Target::External { sut, listen } => {
                self.s.transport = sut.transport.as_str().to_ascii_lowercase();
                let ip = match listen {
                    Some(a) => a.ip(),
                    None => local_ip_toward(sut.addr)?,
                };
                let (world, core) = bind_pair(ip, listen.map(|a| a.port())).await?;
                let plan = AddressPlan::facing(sut.addr, core);
                let player = self.player(plan);
                let served = world.run(player, stopped(self.stop.clone())).await;
                let mut p = served.node;
                p.set_dropped(served.stats.udp_drops);
                Ok(finish(p))
            }
        }
    }

    fn player(&self, plan: AddressPlan) -> Player {
        let outside = crate::scenario::world::Outside { route_set: self.opts.route_set, domain: &self.opts.domain };
        prepare_outside(&self.s, self.level, &self.opts.run, plan, self.opts.quiet, &self.aors, outside)
    }
}

/// Judge a hosted play; one the driver gave back unfinished was interrupted.
fn finish(mut p: Player) -> ScenarioRun {
    if !crate::node::SansIo::finished(&p) {
        p.interrupt("interrupted (Ctrl-C)");
    }
    judge(p)
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Bind UDP and TCP on one port of `ip` (`port`, or a free one), as a driver.
async fn bind_pair(ip: IpAddr, port: Option<u16>) -> io::Result<(Bound, SocketAddr)> {
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free port");
    for _ in 0..20 {
        let udp = Listen::udp(SocketAddr::new(ip, port.unwrap_or(0)));
        let probe = match Bound::bind(NetConfig { listens: vec![udp], ..NetConfig::default() }).await {
            Ok(b) => b,
            Err(e) => return Err(e),
        };
        let Some(a) = probe.local_addr(Transport::Udp) else { continue };
        drop(probe);
        let cfg = NetConfig { listens: vec![Listen::udp(a), Listen::tcp(a)], ..NetConfig::default() };
        match Bound::bind(cfg).await {
            Ok(b) => return Ok((b, a)),
            Err(e) if port.is_some() => return Err(e),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The local address that routes to `sut` (nothing is sent): 127.0.0.2 beside a server on
/// 127.0.0.1 (any other loopback address as is), else the kernel's choice of source address.
fn local_ip_toward(sut: SocketAddr) -> io::Result<IpAddr> {
    match sut.ip() {
        IpAddr::V4(v) if v == Ipv4Addr::LOCALHOST => Ok(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
        ip if ip.is_loopback() => Ok(ip),
        _ => {
            let any: SocketAddr =
                if sut.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(io::Error::other)?;
            let s = std::net::UdpSocket::bind(any)?;
            s.connect(sut)?;
            Ok(s.local_addr()?.ip())
        }
    }
}

/// Check that something listens at the server's address before any job runs: a TCP connect,
/// or over UDP an OPTIONS from a connected socket, whose ICMP port-unreachable shows as
/// "connection refused". A UDP server that stays silent is given the benefit of the doubt.
async fn probe(sut: Listen) -> Result<(), LiveError> {
    let unreachable = |why: String| LiveError::Unreachable { sut: sut.to_string(), why };
    match sut.transport {
        Transport::Tcp => {
            match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(sut.addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(unreachable(format!("TCP connect: {e}"))),
                Err(_) => Err(unreachable("TCP connect: no answer within 3 s".into())),
            }
        }
        Transport::Udp => {
            let any: SocketAddr =
                if sut.addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(io::Error::other)?;
            let s = tokio::net::UdpSocket::bind(any).await?;
            s.connect(sut.addr).await?;
            let local = s.local_addr()?;
            let host = match sut.addr.ip() {
                IpAddr::V6(v) => format!("[{v}]"),
                IpAddr::V4(v) => v.to_string(),
            };
            let lhost = match local.ip() {
                IpAddr::V6(v) => format!("[{v}]"),
                IpAddr::V4(v) => v.to_string(),
            };
            let tag = run_tag();
            let options = format!(
                "OPTIONS sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {lhost}:{lport};branch=z9hG4bKprobe{tag}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{lhost}>;tag={tag}\r\nTo: <sip:{host}:{port}>\r\nCall-ID: probe-{tag}@{lhost}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                port = sut.addr.port(),
                lport = local.port()
            );
            s.send(options.as_bytes()).await.map_err(|e| unreachable(format!("UDP: {e}")))?;
            let mut buf = vec![0u8; 65_536];
            match tokio::time::timeout(Duration::from_secs(2), s.recv(&mut buf)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    Err(unreachable("nothing listens on that UDP port (ICMP port unreachable)".into()))
                }
                Ok(Err(e)) => Err(unreachable(format!("UDP: {e}"))),
                Err(_) => {
                    tracing::warn!(%sut, "the server did not answer an OPTIONS within 2 s; running anyway");
                    Ok(())
                }
            }
        }
    }
}
