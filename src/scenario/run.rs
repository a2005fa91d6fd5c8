//! Running a scenario in the simulated world at one level: build the topology (clients, the
//! local core with the IM server on its ISC interface, a remote CPM network, conference foci),
//! play the steps, then judge the trace with the oracle and the scenario's explicit expectations.

use super::model::{Scenario, Where, parse_duration};
use crate::interop::finding::{Finding, Location, Verdict};
use crate::interop::table::Service;
use crate::interop::verify::judge::Judge;
use crate::interop::verify::trace::{PairRecord, Trace, TraceContext, check_trace};
use crate::interop::verify::{ClientKind, Role};
use crate::node::core::{Core, CoreConfig};
use crate::node::focus::{Focus, FocusConfig};
use crate::node::im_server::faults::FaultSet;
use crate::node::im_server::{ImServer, ServerConfig};
use crate::node::ue::{SendOptions, Ue, UeConfig};
use crate::node::{SansIo, Transport};
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

/// Addresses of the fixed nodes.
pub fn server_addr() -> SocketAddr {
    a("192.0.2.1:5060")
}

/// Builds the server under test for a level (the embedded reference server by default).
pub type ServerFactory<'a> = &'a dyn Fn(ServerConfig) -> Box<dyn SansIo + Send>;

/// The outcome of one scenario at one level.
pub struct ScenarioRun {
    /// Scenario name.
    pub scenario: String,
    /// Level.
    pub level: u8,
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

fn hosts() -> HashMap<String, SocketAddr> {
    [
        (SERVER_HOST, "192.0.2.1:5060"),
        ("scscf.im.example.net", "192.0.2.2:5060"),
        ("focus.im.example.net", "192.0.2.3:5060"),
        ("scscf.cpm.example.com", "198.51.100.2:5060"),
        ("focus.cpm.example.com", "198.51.100.3:5060"),
    ]
    .into_iter()
    .map(|(h, x)| (h.to_string(), a(x)))
    .collect()
}

fn seed_of(name: &str, level: u8) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(level);
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
pub fn run_scenario(s: &Scenario, level: u8, opts: &RunOptions) -> ScenarioRun {
    run_with(s, level, opts, &reference_server)
}

/// Run a scenario at a level against the server `make` builds.
pub fn run_with(s: &Scenario, level: u8, opts: &RunOptions, make: ServerFactory<'_>) -> ScenarioRun {
    let seed = seed_of(&s.name, level);
    let transport = if s.transport == "udp" { Transport::Udp } else { Transport::Tcp };
    let hosts = hosts();
    let mut world = World::new(seed);
    let mut scfg = ServerConfig::new(level, SERVER_HOST, DOMAIN, vec![(Transport::Udp, server_addr()), (Transport::Tcp, server_addr())]);
    scfg.hosts = hosts.clone();
    scfg.faults = opts.faults.clone();
    scfg.seed = seed ^ 0x5e_7e_7e;
    world.add("im-server", server_addr(), SimNode::Server(make(scfg)));
    let core = |host: &str, addr: &str, domain: &str, im: bool, peer: (&str, &str), focus: &str, n: u64| CoreConfig {
        host: host.into(),
        addr: a(addr),
        domain: domain.into(),
        im_server: im.then(|| SERVER_HOST.to_string()),
        peers: [(peer.0.to_string(), peer.1.to_string())].into_iter().collect(),
        factory: Some(("conf-factory".into(), focus.into())),
        hosts: hosts.clone(),
        as_transport: transport,
        seed: seed ^ n,
    };
    world.add("core", a("192.0.2.2:5060"), SimNode::Core(Box::new(Core::new(core("scscf.im.example.net", "192.0.2.2:5060", DOMAIN, true, (REMOTE_DOMAIN, "scscf.cpm.example.com"), "focus.im.example.net", 1)))));
    world.add("remote-core", a("198.51.100.2:5060"), SimNode::Core(Box::new(Core::new(core("scscf.cpm.example.com", "198.51.100.2:5060", REMOTE_DOMAIN, false, (DOMAIN, "scscf.im.example.net"), "focus.cpm.example.com", 2)))));
    let focus = |host: &str, addr: &str, domain: &str, core: (&str, &str), form: ClientKind, n: u64| {
        Focus::new(FocusConfig { host: host.into(), addr: a(addr), domain: domain.into(), core: (core.0.into(), a(core.1)), form, hosts: hosts.clone(), seed: seed ^ n })
    };
    world.add("focus", a("192.0.2.3:5060"), SimNode::Focus(Box::new(focus("focus.im.example.net", "192.0.2.3:5060", DOMAIN, ("scscf.im.example.net", "192.0.2.2:5060"), ClientKind::Im, 3))));
    world.add("remote-focus", a("198.51.100.3:5060"), SimNode::Focus(Box::new(focus("focus.cpm.example.com", "198.51.100.3:5060", REMOTE_DOMAIN, ("scscf.cpm.example.com", "198.51.100.2:5060"), ClientKind::Cpm, 4))));
    if let Some(n) = &s.network {
        world.impair(a("192.0.2.2:5060"), server_addr(), Impairment { loss: n.loss, duplicate: n.duplicate, reorder: n.reorder });
    }
    let mut aors: BTreeMap<String, String> = BTreeMap::new();
    let mut users = BTreeMap::new();
    for (i, (name, actor)) in s.actors.iter().enumerate() {
        let (domain, ip, core) = match actor.network {
            Where::Local => (DOMAIN, format!("192.0.2.{}", 10 + i), ("scscf.im.example.net", "192.0.2.2:5060")),
            Where::Remote => (REMOTE_DOMAIN, format!("198.51.100.{}", 10 + i), ("scscf.cpm.example.com", "198.51.100.2:5060")),
        };
        let aor = format!("sip:{name}@{domain}");
        if actor.network == Where::Local {
            users.insert(aor.clone(), ClientKind::from(actor.kind));
        }
        aors.insert(name.clone(), aor.clone());
        let cfg = UeConfig {
            name: name.clone(),
            aor,
            kind: actor.kind.into(),
            addr: a(&format!("{ip}:5060")),
            transport,
            core: (core.0.into(), a(core.1)),
            domain: domain.into(),
            hosts: hosts.clone(),
            seed: seed ^ (100 + i as u64),
        };
        world.add(name, cfg.addr, SimNode::Ue(Box::new(Ue::new(cfg))));
    }
    let mut judge = Judge::default();
    let mut error = None;
    let settle = if s.network.is_some() { Duration::from_secs(20) } else { Duration::from_secs(2) };
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
        let before: HashMap<String, usize> = s.actors.keys().map(|n| (n.clone(), received_service(&world, n))).collect();
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
            let reports_on = st.reports_on.as_ref().and_then(|r| step_ids.get(r)).and_then(|(who, idx)| ue(&world, who).map(|u| u.sent[*idx].message_id.clone()));
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
            let id: &'static str = e.requirement.as_deref().and_then(crate::interop::rules::rule).map_or("ROUTE.VIA-IMS", |r| r.id);
            let loc = Location { side: Some(format!("step {}", i + 1)), ..Location::default() };
            if let (Some(want), Some((who, idx))) = (e.status, &sent) {
                let got = ue(&world, who).and_then(|u| u.sent[*idx].final_code);
                let exp = format!("step {}: {who} gets {want}", i + 1);
                judge.checked(id, exp.clone());
                if got != Some(want) {
                    judge.violation(id, exp, got.map_or("no final response".to_string(), |c| format!("{c}")), loc.clone());
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
    let ctx = TraceContext { level, sut: vec![server_addr()], role: Role::Proxy, domains: vec![DOMAIN.into()], users, complete: true };
    let report = check_trace(&ctx, &world.trace);
    let mut findings = report.findings;
    findings.extend(judge.finish(Location::default()));
    if let Some(e) = error {
        findings.push(Finding::new("ROUTE.VIA-IMS", Verdict::Error, "the scenario runs to its end", e));
    }
    for id in &s.requirements {
        if !findings.iter().any(|f| &f.requirement == id) {
            let applies = !(id.starts_with("T2.") && level == 1 || id == "T1.NO-LOCAL-CPM" && level == 2);
            let v = if applies { Verdict::Inconclusive } else { Verdict::NotApplicable };
            findings.push(Finding::new(id, v, "judged by this scenario (it names the ID)", if applies { "nothing judged it in this run" } else { "does not apply at this level" }));
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
    ue(w, name).map_or(0, |u| u.received.iter().filter(|r| matches!(r.method, Method::Message | Method::Invite)).count())
}
