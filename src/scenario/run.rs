//! Running a scenario in the simulated world at one level: build the topology (clients, the
//! local core with the IM server on its ISC interface, a remote CPM network, conference foci),
//! play the steps, then judge the trace with the oracle and the scenario's explicit expectations.

use super::model::{Scenario, Where, parse_duration};
use crate::base::Level;
use crate::base::Service;
use crate::base::Trace;
use crate::base::Transport;
use crate::base::{ClientKind, Role};
use crate::interop::finding::{Finding, Location, Verdict};
use crate::interop::rules::ReqId;
use crate::interop::verify::judge::Judge;
use crate::interop::verify::trace::{PairRecord, TraceContext, check_trace};
use crate::node::SansIo;
use crate::node::core::{Core, CoreConfig};
use crate::node::focus::{Focus, FocusConfig};
use crate::node::im_server::faults::FaultSet;
use crate::node::im_server::{ImServer, ServerConfig};
use crate::node::ue::{SendOptions, Ue, UeConfig};
use crate::report::{self, ResultItem};
use crate::sim::{Impairment, SimNode, World};
use crate::sip::Method;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

/// The IM server's host name in the simulated network.
pub const SERVER_HOST: &str = "imserver.im.example.net";
/// The local domain.
pub const DOMAIN: &str = "im.example.net";
/// The remote CPM network's domain.
pub const REMOTE_DOMAIN: &str = "cpm.example.com";

fn a(s: &str) -> SocketAddr {
    // Constant literals of this module: always valid.
    s.parse().expect("valid socket address literal")
}

/// A settle time per step: virtual time in the simulation; in live runs (paced) real time.
fn settle_time(s: &Scenario, live: bool) -> Duration {
    match (s.network.is_some(), live) {
        (true, _) => Duration::from_secs(20),
        (false, false) => Duration::from_secs(2),
        (false, true) => Duration::from_millis(400),
    }
}

/// Where each node of the world lives. The simulation uses documentation addresses
/// (192.0.2.0/24 local, 198.51.100.0/24 remote); live runs use 127.0.0.0/8 so that nothing the
/// server sends can leave the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPlan {
    /// The IM server.
    pub server: SocketAddr,
    local: [u8; 3],
    remote: [u8; 3],
    port: u16,
}

impl AddressPlan {
    /// The simulated network.
    pub fn sim() -> AddressPlan {
        AddressPlan { server: a("192.0.2.1:5060"), local: [192, 0, 2], remote: [198, 51, 100], port: 5060 }
    }
    /// Loopback addresses: the server at `server`, everyone else on `port` of 127.0.0.x
    /// (local) and 127.0.1.x (remote).
    pub fn loopback(server: SocketAddr, port: u16) -> AddressPlan {
        AddressPlan { server, local: [127, 0, 0], remote: [127, 0, 1], port }
    }
    fn at(&self, net: [u8; 3], host: u8) -> SocketAddr {
        SocketAddr::from(([net[0], net[1], net[2], host], self.port))
    }
    /// The local core.
    pub fn core(&self) -> SocketAddr {
        self.at(self.local, 2)
    }
    /// The local conference focus.
    pub fn focus(&self) -> SocketAddr {
        self.at(self.local, 3)
    }
    /// The remote network's core.
    pub fn remote_core(&self) -> SocketAddr {
        self.at(self.remote, 2)
    }
    /// The remote network's focus.
    pub fn remote_focus(&self) -> SocketAddr {
        self.at(self.remote, 3)
    }
    /// The i-th client.
    pub fn ue(&self, remote: bool, i: usize) -> SocketAddr {
        self.at(if remote { self.remote } else { self.local }, 10 + i as u8)
    }
    /// Every node address but the server's, for a scenario with `n` actors.
    pub fn all(&self, n: usize) -> Vec<SocketAddr> {
        let mut v = vec![self.core(), self.focus(), self.remote_core(), self.remote_focus()];
        for i in 0..n {
            v.push(self.ue(false, i));
            v.push(self.ue(true, i));
        }
        v
    }
    /// Host names of the world.
    pub fn hosts(&self) -> HashMap<String, SocketAddr> {
        [
            (SERVER_HOST, self.server),
            ("scscf.im.example.net", self.core()),
            ("focus.im.example.net", self.focus()),
            ("scscf.cpm.example.com", self.remote_core()),
            ("focus.cpm.example.com", self.remote_focus()),
        ]
        .into_iter()
        .map(|(h, x)| (h.to_string(), x))
        .collect()
    }
}

/// The IM server's address in the simulated network.
pub fn server_addr() -> SocketAddr {
    AddressPlan::sim().server
}

/// Builds the server under test for a level (the embedded reference server by default).
pub type ServerFactory<'a> = &'a dyn Fn(ServerConfig) -> Box<dyn SansIo + Send>;

/// The outcome of one scenario at one level.
pub struct ScenarioRun {
    /// Scenario name.
    pub scenario: String,
    /// Level.
    pub level: Level,
    /// Every finding (oracle, explicit expectations, declared-but-not-judged).
    pub findings: Vec<Finding>,
    /// Findings grouped into results (catalogue order).
    pub results: Vec<ResultItem>,
    /// The trace.
    pub trace: Trace,
    /// Node names by address, for rendering.
    pub names: Vec<(SocketAddr, String)>,
    /// Pairs the oracle judged.
    pub pairs: Vec<PairRecord>,
}

/// Options of a run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Faults of the embedded server.
    pub faults: FaultSet,
}

fn seed_of(name: &str, level: Level) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(level.number());
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The embedded reference server.
pub fn reference_server(cfg: ServerConfig) -> Box<dyn SansIo + Send> {
    Box::new(ImServer::new(cfg))
}

/// Run a scenario at a level against the embedded reference server.
pub fn run_scenario(s: &Scenario, level: Level, opts: &RunOptions) -> ScenarioRun {
    run_with(s, level, opts, &reference_server)
}

/// Run a scenario at a level against the server `make` builds, in the simulated network.
pub fn run_with(s: &Scenario, level: Level, opts: &RunOptions, make: ServerFactory<'_>) -> ScenarioRun {
    run_in(s, level, opts, make, AddressPlan::sim(), None)
}

/// A pacer makes virtual time follow the wall clock (live runs): called with the time the world
/// is about to reach, it returns when that time has come.
pub type Pacer = Box<dyn FnMut(crate::base::Instant)>;

/// Run a scenario at a level against the server `make` builds, with every node at the address
/// `plan` gives, optionally paced in real time.
pub fn run_in(
    s: &Scenario,
    level: Level,
    opts: &RunOptions,
    make: ServerFactory<'_>,
    plan: AddressPlan,
    pacer: Option<Pacer>,
) -> ScenarioRun {
    let seed = seed_of(&s.name, level);
    let transport = if s.transport == "udp" { Transport::Udp } else { Transport::Tcp };
    let hosts = plan.hosts();
    let mut world = World::new(seed);
    world.pacer = pacer;
    let mut scfg = ServerConfig::new(
        level,
        SERVER_HOST,
        DOMAIN,
        vec![(Transport::Udp, plan.server), (Transport::Tcp, plan.server)],
    );
    scfg.hosts = hosts.clone();
    scfg.faults = opts.faults.clone();
    scfg.seed = seed ^ 0x5e_7e_7e;
    // The IM server knows its subscribers' kinds (D8's static alternative); whether they are
    // online it learns from third-party REGISTERs and P-Served-User.
    scfg.users = s
        .actors
        .iter()
        .filter(|(_, x)| x.network == Where::Local)
        .map(|(n, x)| (format!("sip:{n}@{DOMAIN}"), x.kind))
        .collect();
    world.add("im-server", plan.server, SimNode::Server(make(scfg)));
    let core =
        |host: &str, addr: SocketAddr, domain: &str, im: bool, peer: (&str, &str), focus: &str, n: u64| CoreConfig {
            host: host.into(),
            addr,
            domain: domain.into(),
            im_server: im.then(|| SERVER_HOST.to_string()),
            peers: [(peer.0.to_string(), peer.1.to_string())].into_iter().collect(),
            factory: Some(("conf-factory".into(), focus.into())),
            hosts: hosts.clone(),
            as_transport: transport,
            seed: seed ^ n,
        };
    world.add(
        "core",
        plan.core(),
        SimNode::Core(Box::new(Core::new(core(
            "scscf.im.example.net",
            plan.core(),
            DOMAIN,
            true,
            (REMOTE_DOMAIN, "scscf.cpm.example.com"),
            "focus.im.example.net",
            1,
        )))),
    );
    world.add(
        "remote-core",
        plan.remote_core(),
        SimNode::Core(Box::new(Core::new(core(
            "scscf.cpm.example.com",
            plan.remote_core(),
            REMOTE_DOMAIN,
            false,
            (DOMAIN, "scscf.im.example.net"),
            "focus.cpm.example.com",
            2,
        )))),
    );
    let focus = |host: &str, addr: SocketAddr, domain: &str, core: (&str, SocketAddr), form: ClientKind, n: u64| {
        Focus::new(FocusConfig {
            host: host.into(),
            addr,
            domain: domain.into(),
            core: (core.0.into(), core.1),
            form,
            hosts: hosts.clone(),
            seed: seed ^ n,
        })
    };
    world.add(
        "focus",
        plan.focus(),
        SimNode::Focus(Box::new(focus(
            "focus.im.example.net",
            plan.focus(),
            DOMAIN,
            ("scscf.im.example.net", plan.core()),
            ClientKind::Im,
            3,
        ))),
    );
    world.add(
        "remote-focus",
        plan.remote_focus(),
        SimNode::Focus(Box::new(focus(
            "focus.cpm.example.com",
            plan.remote_focus(),
            REMOTE_DOMAIN,
            ("scscf.cpm.example.com", plan.remote_core()),
            ClientKind::Cpm,
            4,
        ))),
    );
    if let Some(n) = &s.network {
        world.impair(plan.core(), plan.server, Impairment { loss: n.loss, duplicate: n.duplicate, reorder: n.reorder });
    }
    let mut aors: BTreeMap<String, String> = BTreeMap::new();
    let mut users = BTreeMap::new();
    for (i, (name, actor)) in s.actors.iter().enumerate() {
        let (domain, addr, core) = match actor.network {
            Where::Local => (DOMAIN, plan.ue(false, i), ("scscf.im.example.net", plan.core())),
            Where::Remote => (REMOTE_DOMAIN, plan.ue(true, i), ("scscf.cpm.example.com", plan.remote_core())),
        };
        let aor = format!("sip:{name}@{domain}");
        if actor.network == Where::Local {
            users.insert(aor.clone(), actor.kind);
        }
        aors.insert(name.clone(), aor.clone());
        let cfg = UeConfig {
            name: name.clone(),
            aor,
            kind: actor.kind,
            addr,
            transport,
            core: (core.0.into(), core.1),
            domain: domain.into(),
            hosts: hosts.clone(),
            seed: seed ^ (100 + i as u64),
        };
        world.add(name, cfg.addr, SimNode::Ue(Box::new(Ue::new(cfg))));
    }
    let mut judge = Judge::default();
    let mut error = None;
    let settle = settle_time(s, world.pacer.is_some());
    for (name, actor) in &s.actors {
        if actor.online {
            world.with_ue(name, |u, now| u.register(now, 3600));
        }
    }
    if let Err(e) = world.run_for(Duration::from_secs(1)) {
        error = Some(e.to_string());
    }
    let mut step_ids: HashMap<String, (String, usize)> = HashMap::new();
    for (i, st) in s.steps.iter().enumerate() {
        if error.is_some() {
            break;
        }
        let before: HashMap<String, usize> =
            s.actors.keys().map(|n| (n.clone(), received_service(&world, n))).collect();
        let mut sent: Option<(String, usize)> = None;
        if let Some(svc) = st.send {
            let from = st.from.clone().unwrap_or_default();
            let to_uri = match (svc, st.to.as_ref()) {
                (Service::Group, _) => {
                    let net = s.actors.get(&from).map_or(Where::Local, |x| x.network);
                    format!("sip:conf-factory@{}", if net == Where::Local { DOMAIN } else { REMOTE_DOMAIN })
                }
                (_, Some(t)) => aors.get(t).cloned().unwrap_or_default(),
                _ => String::new(),
            };
            let reports_on = st
                .reports_on
                .as_ref()
                .and_then(|r| step_ids.get(r))
                .and_then(|(who, idx)| ue(&world, who).map(|u| u.sent[*idx].message_id.clone()));
            let template = st.template.as_ref().map(|t| {
                let p = s.path.parent().map(|d| d.join(t)).unwrap_or_else(|| t.into());
                std::fs::read_to_string(&p).unwrap_or_else(|e| {
                    error = Some(format!("step {}: template {}: {e}", i + 1, p.display()));
                    String::new()
                })
            });
            let opts = SendOptions {
                accept_contact: st.accept_contact.clone(),
                extra: st.headers.clone(),
                pad: st.pad,
                participants: st.participants.iter().filter_map(|p| aors.get(p).cloned()).collect(),
                reports_on,
                template,
                bye: st.bye.unwrap_or(true),
                conversation_id: st.conversation_id.clone(),
            };
            let idx = world.with_ue(&from, |u, now| u.send(now, svc, &to_uri, opts));
            if let Some(idx) = idx {
                sent = Some((from.clone(), idx));
                if let Some(id) = &st.id {
                    step_ids.insert(id.clone(), (from, idx));
                }
            }
        }
        if let Some(n) = &st.register {
            world.with_ue(n, |u, now| u.register(now, 3600));
        }
        if let Some(n) = &st.deregister {
            world.with_ue(n, |u, now| u.register(now, 0));
        }
        let run = match st.wait.as_deref().and_then(parse_duration) {
            Some(d) => world.run_for(d),
            None => world.run_for(settle),
        };
        if let Err(e) = run {
            error = Some(e.to_string());
        }
        if let Some(e) = Scenario::expect_at(st, level) {
            let id = e.requirement.unwrap_or(ReqId::ROUTE_VIA_IMS);
            let loc = Location { side: Some(format!("step {}", i + 1)), ..Location::default() };
            if let (Some(want), Some((who, idx))) = (e.status, &sent) {
                let got = ue(&world, who).and_then(|u| u.sent[*idx].final_code);
                let exp = format!("step {}: {who} gets {want}", i + 1);
                judge.checked(id, exp.clone());
                if got != Some(want) {
                    judge.violation(
                        id,
                        exp,
                        got.map_or("no final response".to_string(), |c| format!("{c}")),
                        loc.clone(),
                    );
                }
            }
            for n in &e.delivered_to {
                let exp = format!("step {}: {n} receives the request", i + 1);
                judge.checked(id, exp.clone());
                if received_service(&world, n) <= before.get(n).copied().unwrap_or(0) {
                    judge.violation(id, exp, "nothing received", loc.clone());
                }
            }
            for n in &e.nothing_to {
                let exp = format!("step {}: nothing reaches {n}", i + 1);
                judge.checked(id, exp.clone());
                let got = received_service(&world, n) - before.get(n).copied().unwrap_or(0);
                if got > 0 {
                    judge.violation(id, exp, format!("{got} request(s) received"), loc.clone());
                }
            }
        }
    }
    if error.is_none() {
        if let Err(e) = world.run_for(Duration::from_secs(1)) {
            error = Some(e.to_string());
        }
    }
    let ctx = TraceContext {
        level,
        sut: vec![plan.server],
        role: Role::Proxy,
        domains: vec![DOMAIN.into()],
        users,
        complete: true,
    };
    let report = check_trace(&ctx, &world.trace);
    let mut findings = report.findings;
    findings.extend(judge.finish(Location::default()));
    if let Some(e) = error {
        findings.push(Finding::new(ReqId::ROUTE_VIA_IMS, Verdict::Error, "the scenario runs to its end", e));
    }
    for &id in &s.requirements {
        if !findings.iter().any(|f| f.requirement == id) {
            let applies = id.rule().applies_to(level, Role::Proxy);
            let v = if applies { Verdict::Inconclusive } else { Verdict::NotApplicable };
            findings.push(Finding::new(
                id,
                v,
                "judged by this scenario (it names the ID)",
                if applies { "nothing judged it in this run" } else { "does not apply at this level" },
            ));
        }
    }
    let results = report::group(&s.name, level, &findings);
    let names = world.nodes.iter().map(|n| (n.addr, n.name.clone())).collect();
    ScenarioRun { scenario: s.name.clone(), level, findings, results, trace: world.trace, names, pairs: report.pairs }
}

fn ue<'a>(w: &'a World, name: &str) -> Option<&'a Ue> {
    match w.node(name) {
        Some(SimNode::Ue(u)) => Some(u),
        _ => None,
    }
}

/// Service requests (MESSAGE, INVITE) an actor has received so far.
fn received_service(w: &World, name: &str) -> usize {
    ue(w, name)
        .map_or(0, |u| u.received.iter().filter(|r| matches!(r.method, Method::Message | Method::Invite)).count())
}
