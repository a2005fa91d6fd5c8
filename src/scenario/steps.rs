//! Playing a scenario's steps in a built world, as a sans-IO participant ([`Player`]): register
//! the online actors, then per step send, register, de-register or wait, let the world settle,
//! and hand the step to the expectation checks; at the end let the world drain. A step that
//! cannot run (a scenario built without its template's text, a world that livelocks) ends the
//! play with the reason, a harness failure. A play never reads files: templates are read when
//! the scenario is loaded.
//!
//! The player has no clock. In the simulation [`Player::play_out`] drives it in virtual time
//! (each phase lasts its settle time exactly, so every run is the same); over real sockets a
//! driver of `net` hosts it like any node, and a phase ends early once the world has been quiet
//! for [`Settle::quiet`] with nothing left waiting for an answer.

use super::expect::{Expectations, Snapshot};
use super::model::{Scenario, Step, Where, parse_duration};
use super::world::{self, Built, factory_uri};
use crate::base::{Instant, Level, Service};
use crate::node::ue::SendOptions;
use crate::node::{Input, Output, SansIo};
use std::collections::HashMap;
use std::time::Duration;

/// Expiry of the registrations the clients make.
const REGISTER_EXPIRES: u32 = 3600;
/// Virtual time for the initial registrations and for the world to drain after the last step.
const SETTLE_EDGES: Duration = Duration::from_secs(1);

/// How long the phases of a play last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    /// Longest time a step (without its own `wait`) is given to settle.
    pub step: Duration,
    /// Longest time for the initial registrations and for the final drain.
    pub edges: Duration,
    /// End a phase (other than an explicit `wait`) once nothing has been sent or received for
    /// this long and nothing waits for a final response; `None`: phases last their full time.
    pub quiet: Option<Duration>,
    /// After the last step, de-register every actor still registered, so that a real server
    /// keeps no registration of the run.
    pub deregister: bool,
}

impl Settle {
    /// The simulation's fixed times: 2 s per step (20 s with link impairments), 1 s at the
    /// edges, no early end.
    pub fn simulated(s: &Scenario) -> Settle {
        let step = if s.network.is_some() { Duration::from_secs(20) } else { Duration::from_secs(2) };
        Settle { step, edges: SETTLE_EDGES, quiet: None, deregister: false }
    }
    /// Real time: the same bounds, each phase ending once the world has been quiet for `quiet`.
    pub fn live(s: &Scenario, quiet: Duration) -> Settle {
        Settle { quiet: Some(quiet), deregister: true, ..Settle::simulated(s) }
    }
}

/// A request a step sent: the sender and the index in its `sent` list.
pub(super) type Sent = (String, usize);

/// Where a play is.
enum Phase {
    /// The online actors register.
    Registering,
    /// Step `i` (0-based) runs; the counts before it and the request it sent.
    Step { i: usize, before: Snapshot, sent: Option<Sent> },
    /// After the last step.
    Draining,
    /// Played out (or stopped).
    Done,
}

/// A scenario being played in its world: a sans-IO participant.
pub struct Player {
    s: Scenario,
    level: Level,
    pub(super) b: Built,
    pub(super) expect: Expectations,
    step_ids: HashMap<String, Sent>,
    /// Actors registered now (as far as the steps go).
    registered: std::collections::BTreeSet<String>,
    settle: Settle,
    phase: Phase,
    /// When the phase began and when it ends at the latest.
    since: Instant,
    deadline: Instant,
    /// Why the play stopped early.
    pub(super) stopped: Option<String>,
    /// Datagrams the hosting driver's sockets dropped (the trace may then miss messages).
    pub(super) dropped: u64,
}

impl Player {
    /// A play of `s` at `level` in `b`; the online actors register at once.
    pub(super) fn new(s: &Scenario, level: Level, b: Built, settle: Settle) -> Player {
        let mut p = Player {
            s: s.clone(),
            level,
            b,
            expect: Expectations::default(),
            step_ids: HashMap::new(),
            registered: Default::default(),
            settle,
            phase: Phase::Registering,
            since: Instant::ZERO,
            deadline: Instant::ZERO,
            stopped: None,
            dropped: 0,
        };
        for (name, actor) in &p.s.actors {
            if actor.online {
                p.b.world.with_ue(name, |u, now| u.register(now, REGISTER_EXPIRES));
                p.registered.insert(name.clone());
            }
        }
        p.begin(settle.edges);
        p
    }

    /// The scenario played.
    pub fn scenario(&self) -> &Scenario {
        &self.s
    }
    /// The level it is played at.
    pub fn level(&self) -> Level {
        self.level
    }
    /// The configuration the embedded reference server gets in this world.
    pub fn server_config(&self) -> &crate::node::im_server::ServerConfig {
        &self.b.server_config
    }

    /// Play to the end in virtual time (the simulation).
    pub(super) fn play_out(&mut self) {
        while !matches!(self.phase, Phase::Done) {
            let d = self.deadline;
            self.advance(d);
        }
    }

    /// The 1-based step running, for messages.
    fn where_now(&self) -> String {
        match &self.phase {
            Phase::Registering => "during the initial registrations".into(),
            Phase::Step { i, .. } => format!("during step {}", i + 1),
            Phase::Draining => "after the last step".into(),
            Phase::Done => "after the end".into(),
        }
    }

    /// The driver's sockets dropped `n` datagrams during the play: what the server sent may be
    /// missing from the trace, so a missing forward is INCONCLUSIVE, not a FAIL.
    pub fn set_dropped(&mut self, n: u64) {
        self.dropped = n;
    }

    /// Stop the play now (e.g. interrupted), saying why; the requirements get a harness ERROR.
    pub fn interrupt(&mut self, why: &str) {
        if !matches!(self.phase, Phase::Done) {
            self.stopped = Some(format!("{why} {}", self.where_now()));
            self.phase = Phase::Done;
        }
    }

    fn begin(&mut self, max: Duration) {
        self.since = self.b.world.now();
        self.deadline = self.since + max;
    }

    /// Whether an early end is possible for the current phase, and after how much quiet: the
    /// configured quiet time, or three times the longest the server has taken to answer, if
    /// longer. Never for an explicit wait. Ten times that for a step whose expectations say
    /// someone receives nothing or that (de-)registers someone, and for the final drain: a
    /// server may act late (a stored message delivered on registration), and absence is only
    /// shown by waiting.
    fn quiet_for(&self) -> Option<Duration> {
        let q = self.settle.quiet?.max(3 * self.b.world.slowest_answer());
        match &self.phase {
            Phase::Step { i, .. } => {
                let st = &self.s.steps[*i];
                let absence = Scenario::expect_at(st, self.level).is_some_and(|e| !e.nothing_to.is_empty());
                let registration = st.register.is_some() || st.deregister.is_some();
                match (st.wait.is_some(), absence || registration) {
                    (true, _) => None,
                    (false, true) => Some(10 * q),
                    (false, false) => Some(q),
                }
            }
            Phase::Draining => Some(10 * q),
            _ => Some(q),
        }
    }

    /// When the current phase could end early (the world quiet for long enough), if it can.
    fn quiet_end(&self) -> Option<Instant> {
        let q = self.quiet_for()?;
        if self.b.world.busy() {
            return None;
        }
        Some(self.b.world.last_packet().max(self.since) + q)
    }

    /// Bring the world to `now`, moving through every phase that ends by then.
    fn advance(&mut self, now: Instant) {
        loop {
            if matches!(self.phase, Phase::Done) {
                return;
            }
            let target = self.deadline.min(now);
            if let Err(e) = self.b.world.run_until(target) {
                self.stopped = Some(e.to_string());
                self.phase = Phase::Done;
                return;
            }
            let t = self.b.world.now();
            let over = t >= self.deadline || self.quiet_end().is_some_and(|q| t >= q);
            if !over {
                return;
            }
            self.next_phase();
        }
    }

    /// The current phase is over: check its step's expectations and start the next one.
    fn next_phase(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Registering => self.start_step(0),
            Phase::Step { i, before, sent } => {
                if let Some(e) = Scenario::expect_at(&self.s.steps[i], self.level) {
                    self.expect.check(i + 1, e, sent.as_ref(), &before, &self.b.world);
                }
                self.start_step(i + 1);
            }
            Phase::Draining | Phase::Done => {}
        }
    }

    /// Start step `i`, or the drain after the last one.
    fn start_step(&mut self, i: usize) {
        let Some(st) = self.s.steps.get(i).cloned() else {
            if self.settle.deregister {
                for name in std::mem::take(&mut self.registered) {
                    self.b.world.with_ue(&name, |u, now| u.register(now, 0));
                }
            }
            self.phase = Phase::Draining;
            self.begin(self.settle.edges);
            return;
        };
        let before = Snapshot::take(&self.s, &self.b.world);
        match self.step(i, &st) {
            Ok(sent) => {
                let d = st.wait.as_deref().and_then(parse_duration).unwrap_or(self.settle.step);
                self.phase = Phase::Step { i, before, sent };
                self.begin(d);
            }
            Err(why) => {
                self.stopped = Some(why);
                self.phase = Phase::Done;
            }
        }
    }

    /// Run step `i` (0-based); the request it sent, if any.
    fn step(&mut self, i: usize, st: &Step) -> Result<Option<Sent>, String> {
        let sent = match st.send {
            Some(svc) => self.send(i, st, svc)?,
            None => None,
        };
        if let Some(n) = &st.register {
            self.b.world.with_ue(n, |u, now| u.register(now, REGISTER_EXPIRES));
            self.registered.insert(n.clone());
        }
        if let Some(n) = &st.deregister {
            self.b.world.with_ue(n, |u, now| u.register(now, 0));
            self.registered.remove(n);
        }
        Ok(sent)
    }

    fn send(&mut self, i: usize, st: &Step, svc: Service) -> Result<Option<Sent>, String> {
        let from = st.from.clone().unwrap_or_default();
        let to_uri = self.target(&from, st, svc);
        let template = match (&st.template, &st.template_text) {
            (Some(t), None) => {
                return Err(format!(
                    "step {}: template \"{t_q}\" was not read when the scenario was loaded",
                    i + 1,
                    t_q = crate::base::escape::escape(&t.to_string())
                ));
            }
            (_, text) => text.clone(),
        };
        let opts = SendOptions {
            accept_contact: st.accept_contact.clone(),
            extra: st.headers.clone(),
            pad: st.pad,
            participants: st.participants.iter().filter_map(|p| self.b.aors.get(p).cloned()).collect(),
            reports_on: self.reports_on(st),
            template,
            bye: st.bye.unwrap_or(true),
            conversation_id: st.conversation_id.clone(),
        };
        let Some(idx) = self.b.world.with_ue(&from, |u, now| u.send(now, svc, &to_uri, opts)) else {
            return Ok(None);
        };
        // Loading a scenario builds each request once to catch this; a request that still
        // cannot be sent is the harness's failure, not a verdict on the server.
        if let Some(why) = world::ue(&self.b.world, &from).and_then(|u| u.sent[idx].unsent.clone()) {
            return Err(format!("step {}: {from}'s client could not send the request: {why}", i + 1));
        }
        if let Some(id) = &st.id {
            self.step_ids.insert(id.clone(), (from.clone(), idx));
        }
        Ok(Some((from, idx)))
    }

    /// The request URI: the sender's conference factory for a group, else the addressee's AoR.
    fn target(&self, from: &str, st: &Step, svc: Service) -> String {
        match (svc, st.to.as_ref()) {
            (Service::Group, _) => match self.s.actors.get(from).map_or(Where::Local, |x| x.network) {
                Where::Local => world::factory_uri_in(&self.b.local_domain),
                Where::Remote => factory_uri(Where::Remote),
            },
            (_, Some(t)) => self.b.aors.get(t).cloned().unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// The Message-ID an IMDN reports on.
    fn reports_on(&self, st: &Step) -> Option<String> {
        let (who, idx) = self.step_ids.get(st.reports_on.as_ref()?)?;
        world::ue(&self.b.world, who).map(|u| u.sent[*idx].message_id.clone())
    }

    /// When the player next needs to be woken.
    fn wake_at(&mut self) -> Instant {
        if matches!(self.phase, Phase::Done) {
            return Instant::NEVER;
        }
        let mut t = self.b.world.next_event().min(self.deadline);
        if let Some(q) = self.quiet_end() {
            t = t.min(q);
        }
        t
    }
}

/// Hosted by a driver: packets to the server under test leave as `Transmit`, what it sends
/// comes in as `Receive`, and the driver's clock moves the play on.
impl SansIo for Player {
    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Receive { now, packet } => {
                self.advance(now);
                // The server also speaks from other ports of its address (TCP connections it
                // opens): those are the server too.
                if packet.from.ip() == self.b.server.ip() && !self.b.server_peers.contains(&packet.from) {
                    self.b.server_peers.push(packet.from);
                }
                self.b.world.inject(now, packet);
                self.advance(now);
            }
            Input::Timeout(now) => self.advance(now),
            Input::Unreachable { now, packet } => {
                self.advance(now);
                self.b.unreachable.push(packet);
            }
        }
    }

    fn poll_output(&mut self) -> Output {
        if let Some(p) = self.b.world.pop_export() {
            return Output::Transmit(p);
        }
        Output::Timeout(self.wake_at())
    }

    fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }
}
