//! Building the simulated world of a scenario: the IM server under test on its ISC interface,
//! the local core and conference focus in the server's domain, a remote CPM network with its own
//! core and focus, and one client per actor. Every host name lives in this module, and every
//! node's seed comes from [`node_seed`].

use super::model::{Scenario, Where};
use crate::base::{ClientKind, Level, Transport};
use crate::node::SansIo;
use crate::node::core::{Core, CoreConfig};
use crate::node::focus::{Focus, FocusConfig};
use crate::node::im_server::ServerConfig;
use crate::node::im_server::faults::FaultSet;
use crate::node::ue::{Ue, UeConfig};
use crate::sim::{Impairment, SimNode, World};
use crate::sip::Method;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// The IM server's host name in the simulated network.
pub const SERVER_HOST: &str = "imserver.im.example.net";
/// The local domain.
pub const DOMAIN: &str = "im.example.net";
/// The remote CPM network's domain.
pub const REMOTE_DOMAIN: &str = "cpm.example.com";
/// The local core (S-CSCF).
pub const CORE_HOST: &str = "scscf.im.example.net";
/// The local conference focus.
pub const FOCUS_HOST: &str = "focus.im.example.net";
/// The remote network's core.
pub const REMOTE_CORE_HOST: &str = "scscf.cpm.example.com";
/// The remote network's conference focus.
pub const REMOTE_FOCUS_HOST: &str = "focus.cpm.example.com";
/// The user part of each focus's conference factory URI.
pub const CONF_FACTORY: &str = "conf-factory";
/// The IM server's node name in the trace.
pub const SERVER_NODE: &str = "im-server";

/// One of the two networks around the server: its domain, hosts and node names.
#[derive(Debug, Clone, Copy)]
struct Side {
    domain: &'static str,
    core_host: &'static str,
    focus_host: &'static str,
    core_node: &'static str,
    focus_node: &'static str,
    /// Whether its core routes to the IM server (only the local one does).
    im_server: bool,
    /// The kind of client its focus serves.
    form: ClientKind,
}

const LOCAL: Side = Side {
    domain: DOMAIN,
    core_host: CORE_HOST,
    focus_host: FOCUS_HOST,
    core_node: "core",
    focus_node: "focus",
    im_server: true,
    form: ClientKind::Im,
};

const REMOTE: Side = Side {
    domain: REMOTE_DOMAIN,
    core_host: REMOTE_CORE_HOST,
    focus_host: REMOTE_FOCUS_HOST,
    core_node: "remote-core",
    focus_node: "remote-focus",
    im_server: false,
    form: ClientKind::Cpm,
};

const fn side(w: Where) -> Side {
    match w {
        Where::Local => LOCAL,
        Where::Remote => REMOTE,
    }
}

const fn other(w: Where) -> Where {
    match w {
        Where::Local => Where::Remote,
        Where::Remote => Where::Local,
    }
}

/// The domain of a network.
pub fn domain_of(w: Where) -> &'static str {
    side(w).domain
}

/// The conference factory URI of a network's focus.
pub fn factory_uri(w: Where) -> String {
    factory_uri_in(domain_of(w))
}

/// The conference factory URI of the focus of `domain`.
pub fn factory_uri_in(domain: &str) -> String {
    format!("sip:{CONF_FACTORY}@{domain}")
}

fn a(s: &str) -> SocketAddr {
    // Constant literals of this module: always valid.
    s.parse().expect("valid socket address literal")
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
    /// The local core's address when it is not on the plan's grid (a live run).
    core: Option<SocketAddr>,
}

impl AddressPlan {
    /// The simulated network.
    pub fn sim() -> AddressPlan {
        AddressPlan { server: a("192.0.2.1:5060"), local: [192, 0, 2], remote: [198, 51, 100], port: 5060, core: None }
    }
    /// Loopback addresses: the server at `server`, everyone else on `port` of 127.0.0.x
    /// (local) and 127.0.1.x (remote).
    pub fn loopback(server: SocketAddr, port: u16) -> AddressPlan {
        AddressPlan { server, local: [127, 0, 0], remote: [127, 0, 1], port, core: None }
    }
    /// A live run's plan: the server at `server`, the local core (the one node the server
    /// talks to) at `core`, every other node inside the world on 127.0.0.x (local) and
    /// 127.0.1.x (remote) at `core`'s port, never on the wire.
    pub fn facing(server: SocketAddr, core: SocketAddr) -> AddressPlan {
        AddressPlan { core: Some(core), ..AddressPlan::loopback(server, core.port()) }
    }
    fn at(&self, w: Where, host: u8) -> SocketAddr {
        let net = if w == Where::Local { self.local } else { self.remote };
        SocketAddr::from(([net[0], net[1], net[2], host], self.port))
    }
    /// The core of a network.
    pub fn core_of(&self, w: Where) -> SocketAddr {
        match (w, self.core) {
            (Where::Local, Some(c)) => c,
            _ => self.at(w, 2),
        }
    }
    /// The conference focus of a network.
    pub fn focus_of(&self, w: Where) -> SocketAddr {
        self.at(w, 3)
    }
    /// The local core.
    pub fn core(&self) -> SocketAddr {
        self.core_of(Where::Local)
    }
    /// The local conference focus.
    pub fn focus(&self) -> SocketAddr {
        self.focus_of(Where::Local)
    }
    /// The remote network's core.
    pub fn remote_core(&self) -> SocketAddr {
        self.core_of(Where::Remote)
    }
    /// The remote network's focus.
    pub fn remote_focus(&self) -> SocketAddr {
        self.focus_of(Where::Remote)
    }
    /// The i-th client.
    pub fn ue(&self, remote: bool, i: usize) -> SocketAddr {
        self.at(if remote { Where::Remote } else { Where::Local }, 10 + i as u8)
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
            (CORE_HOST, self.core()),
            (FOCUS_HOST, self.focus()),
            (REMOTE_CORE_HOST, self.remote_core()),
            (REMOTE_FOCUS_HOST, self.remote_focus()),
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

/// How the world faces a server outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outside<'a> {
    /// The core sends requests to the server with the ISC Route set; false: with none (a
    /// server whose next hop is fixed to the core).
    pub route_set: bool,
    /// The server's domain: the local users' and the core's (default [`DOMAIN`]).
    pub domain: &'a str,
}

impl Default for Outside<'_> {
    fn default() -> Self {
        Outside { route_set: true, domain: DOMAIN }
    }
}

/// Where the server under test runs.
#[derive(Clone, Copy)]
pub enum ServerAt<'a> {
    /// A node of the world, built by the factory (the simulation).
    Inside(ServerFactory<'a>),
    /// Outside the world, at `plan.server`, reached over a real network: packets to it leave
    /// the world ([`World::export`]), and the core and the server are named on the wire by
    /// their IP literals (`IP:PORT`), since the server resolves none of the world's names.
    Outside(Outside<'a>),
}

/// What draws random numbers in a world, for [`node_seed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// The network itself (link impairments).
    Network,
    /// The IM server under test.
    Server,
    /// The core of a network.
    Core(Where),
    /// The conference focus of a network.
    Focus(Where),
    /// The client of the i-th actor (in name order).
    Ue(usize),
}

/// The seed of a scenario at a level: FNV-1a 64 of its name, offset by the level.
pub fn scenario_seed(name: &str, level: Level) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(level.number());
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The seed of one node of a world whose scenario seed is `seed`. The salts are part of the
/// recorded flows and reports: changing one changes every Call-ID, tag and branch of that node.
pub fn node_seed(seed: u64, role: NodeRole) -> u64 {
    let salt = match role {
        NodeRole::Network => 0,
        NodeRole::Server => 0x5e_7e_7e,
        NodeRole::Core(Where::Local) => 1,
        NodeRole::Core(Where::Remote) => 2,
        NodeRole::Focus(Where::Local) => 3,
        NodeRole::Focus(Where::Remote) => 4,
        NodeRole::Ue(i) => 100 + i as u64,
    };
    seed ^ salt
}

/// A built world and what the steps and the oracle need to know about it.
pub struct Built {
    /// The world, every node added, nothing sent yet.
    pub world: World,
    /// Each actor's address-of-record, by actor name.
    pub aors: BTreeMap<String, String>,
    /// The local subscribers and their client kinds (for the oracle).
    pub users: BTreeMap<String, ClientKind>,
    /// The server under test's address.
    pub server: SocketAddr,
    /// The local domain (the server's).
    pub local_domain: String,
    /// Other addresses the server sent from (over a real network: the TCP connections it
    /// opened), judged as the server.
    pub server_peers: Vec<SocketAddr>,
    /// The configuration the embedded reference server gets (or would get) in this world.
    pub server_config: ServerConfig,
    /// Packets for the server under test that its driver could not send (connection refused).
    pub unreachable: Vec<crate::base::Packet>,
}

/// What the world is built from besides the scenario.
struct Ctx<'a> {
    seed: u64,
    plan: AddressPlan,
    hosts: HashMap<String, SocketAddr>,
    transport: Transport,
    s: &'a Scenario,
    /// The server's name on the wire (its host name, or `IP:PORT` when it is outside).
    server_host: String,
    /// Whether nodes facing the server name themselves by IP literal.
    literal: bool,
    /// Addresses of record other than `sip:NAME@DOMAIN`, by actor.
    aors: &'a BTreeMap<String, String>,
    /// Whether the core reaches the server with the ISC Route set.
    route_set: bool,
    /// The local domain (the server's).
    local: String,
}

impl Ctx<'_> {
    /// The domain of a network.
    fn domain(&self, w: Where) -> &str {
        match w {
            Where::Local => &self.local,
            Where::Remote => REMOTE_DOMAIN,
        }
    }
    /// The address of record of an actor.
    fn aor(&self, name: &str, w: Where) -> String {
        self.aors.get(name).cloned().unwrap_or_else(|| format!("sip:{name}@{}", self.domain(w)))
    }
}

/// An IP address as a SIP host: IPv6 in brackets.
fn ip_host(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => v.ip().to_string(),
        SocketAddr::V6(v) => format!("[{}]", v.ip()),
    }
}

/// Build the world of `s` at `level`, with the server `make` builds and every node at the
/// address `plan` gives. Nodes are added in a fixed order: the server, the cores, the foci, then
/// the clients in actor-name order.
///
/// `aors` gives an actor another address of record than `sip:NAME@DOMAIN` (a live run maps
/// actors onto users a real server knows, distinct per scenario).
pub fn build(
    s: &Scenario,
    level: Level,
    faults: &FaultSet,
    server: ServerAt<'_>,
    plan: AddressPlan,
    aors: &BTreeMap<String, String>,
) -> Built {
    let transport = if s.transport == "udp" { Transport::Udp } else { Transport::Tcp };
    let literal = matches!(server, ServerAt::Outside(_));
    let outside = match server {
        ServerAt::Outside(o) => o,
        ServerAt::Inside(_) => Outside::default(),
    };
    let mut hosts = plan.hosts();
    let server_host = if literal {
        let h = format!("{}:{}", ip_host(plan.server), plan.server.port());
        hosts.insert(h.clone(), plan.server);
        h
    } else {
        SERVER_HOST.to_string()
    };
    let cx = Ctx {
        seed: scenario_seed(&s.name, level),
        plan,
        hosts,
        transport,
        s,
        server_host,
        literal,
        aors,
        route_set: outside.route_set,
        local: outside.domain.to_string(),
    };
    let mut world = World::new(node_seed(cx.seed, NodeRole::Network));
    let server_config = server_config(&cx, level, faults);
    match server {
        ServerAt::Inside(make) => world.add(SERVER_NODE, plan.server, SimNode::Server(make(server_config.clone()))),
        ServerAt::Outside(_) => world.export = true,
    }
    for w in [Where::Local, Where::Remote] {
        world.add(side(w).core_node, plan.core_of(w), SimNode::Core(Box::new(Core::new(core_config(&cx, w)))));
    }
    for w in [Where::Local, Where::Remote] {
        world.add(side(w).focus_node, plan.focus_of(w), SimNode::Focus(Box::new(Focus::new(focus_config(&cx, w)))));
    }
    if let Some(n) = &s.network {
        world.impair(plan.core(), plan.server, Impairment { loss: n.loss, duplicate: n.duplicate, reorder: n.reorder });
    }
    let mut built = Built {
        world,
        aors: BTreeMap::new(),
        users: BTreeMap::new(),
        server: plan.server,
        local_domain: cx.local.clone(),
        server_peers: Vec::new(),
        server_config,
        unreachable: Vec::new(),
    };
    add_clients(&cx, &mut built);
    built
}

fn server_config(cx: &Ctx<'_>, level: Level, faults: &FaultSet) -> ServerConfig {
    let plan = cx.plan;
    let host = if cx.literal { ip_host(plan.server) } else { SERVER_HOST.to_string() };
    let mut cfg =
        ServerConfig::new(level, &host, &cx.local, vec![(Transport::Udp, plan.server), (Transport::Tcp, plan.server)]);
    cfg.hosts = cx.hosts.clone();
    cfg.faults = faults.clone();
    cfg.seed = node_seed(cx.seed, NodeRole::Server);
    // The IM server knows its subscribers' kinds (D8's static alternative); whether they are
    // online it learns from third-party REGISTERs and P-Served-User.
    cfg.users =
        cx.s.actors
            .iter()
            .filter(|(_, x)| x.network == Where::Local)
            .map(|(n, x)| (cx.aor(n, Where::Local), x.kind))
            .collect();
    cfg
}

fn core_config(cx: &Ctx<'_>, w: Where) -> CoreConfig {
    let (me, peer) = (side(w), side(other(w)));
    let addr = cx.plan.core_of(w);
    CoreConfig {
        host: if cx.literal && me.im_server { ip_host(addr) } else { me.core_host.into() },
        addr,
        domain: cx.domain(w).into(),
        im_server: me.im_server.then(|| cx.server_host.clone()),
        peers: [(cx.domain(other(w)).to_string(), peer.core_host.to_string())].into_iter().collect(),
        factory: Some((CONF_FACTORY.into(), me.focus_host.into())),
        hosts: cx.hosts.clone(),
        as_transport: cx.transport,
        isc_route_set: cx.route_set,
        seed: node_seed(cx.seed, NodeRole::Core(w)),
    }
}

fn focus_config(cx: &Ctx<'_>, w: Where) -> FocusConfig {
    let me = side(w);
    FocusConfig {
        host: me.focus_host.into(),
        addr: cx.plan.focus_of(w),
        domain: cx.domain(w).into(),
        core: (me.core_host.into(), cx.plan.core_of(w)),
        form: me.form,
        hosts: cx.hosts.clone(),
        seed: node_seed(cx.seed, NodeRole::Focus(w)),
    }
}

fn add_clients(cx: &Ctx<'_>, built: &mut Built) {
    for (i, (name, actor)) in cx.s.actors.iter().enumerate() {
        let w = actor.network;
        let me = side(w);
        let aor = cx.aor(name, w);
        if w == Where::Local {
            built.users.insert(aor.clone(), actor.kind);
        }
        built.aors.insert(name.clone(), aor.clone());
        let cfg = UeConfig {
            name: name.clone(),
            aor,
            kind: actor.kind,
            addr: cx.plan.ue(w == Where::Remote, i),
            transport: cx.transport,
            core: (me.core_host.into(), cx.plan.core_of(w)),
            domain: cx.domain(w).into(),
            hosts: cx.hosts.clone(),
            seed: node_seed(cx.seed, NodeRole::Ue(i)),
        };
        built.world.add(name, cfg.addr, SimNode::Ue(Box::new(Ue::new(cfg))));
    }
}

/// The client of an actor.
pub(super) fn ue<'a>(w: &'a World, name: &str) -> Option<&'a Ue> {
    match w.node(name) {
        Some(SimNode::Ue(u)) => Some(u),
        _ => None,
    }
}

/// Service requests (MESSAGE, INVITE) an actor has received so far.
pub(super) fn received_service(w: &World, name: &str) -> usize {
    ue(w, name)
        .map_or(0, |u| u.received.iter().filter(|r| matches!(r.method, Method::Message | Method::Invite)).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The salts are the ones the recorded flows were made with.
    #[test]
    fn node_seeds_keep_their_salts() {
        let s = 0x1234_5678_9abc_def0;
        assert_eq!(node_seed(s, NodeRole::Network), s);
        assert_eq!(node_seed(s, NodeRole::Server), s ^ 0x5e_7e_7e);
        assert_eq!(node_seed(s, NodeRole::Core(Where::Local)), s ^ 1);
        assert_eq!(node_seed(s, NodeRole::Core(Where::Remote)), s ^ 2);
        assert_eq!(node_seed(s, NodeRole::Focus(Where::Local)), s ^ 3);
        assert_eq!(node_seed(s, NodeRole::Focus(Where::Remote)), s ^ 4);
        assert_eq!(node_seed(s, NodeRole::Ue(0)), s ^ 100);
        assert_eq!(node_seed(s, NodeRole::Ue(7)), s ^ 107);
    }

    #[test]
    fn hosts_name_every_node_but_the_clients() {
        let p = AddressPlan::sim();
        let h = p.hosts();
        assert_eq!(h.len(), 5);
        assert_eq!(h[SERVER_HOST], p.server);
        assert_eq!(h[CORE_HOST], p.core());
        assert_eq!(h[REMOTE_FOCUS_HOST], p.remote_focus());
        assert_eq!(factory_uri(Where::Remote), "sip:conf-factory@cpm.example.com");
    }
}
