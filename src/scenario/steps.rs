//! Playing a scenario's steps in a built world: register the online actors, then per step send,
//! register, de-register or wait, let the world settle, and hand the step to the expectation
//! checks. A step that cannot run (an unreadable template, a world that livelocks) ends the play
//! with the reason, a harness failure.

use super::expect::{Expectations, Snapshot};
use super::model::{Scenario, Step, Where, parse_duration};
use super::world::{self, Built, factory_uri};
use crate::base::{Level, Service};
use crate::node::ue::SendOptions;
use crate::sim::World;
use std::collections::HashMap;
use std::time::Duration;

/// Expiry of the registrations the clients make.
const REGISTER_EXPIRES: u32 = 3600;
/// Virtual time for the initial registrations and for the world to drain after the last step.
const SETTLE_EDGES: Duration = Duration::from_secs(1);

/// A settle time per step: virtual time in the simulation; in live runs (paced) real time.
fn settle_time(s: &Scenario, live: bool) -> Duration {
    match (s.network.is_some(), live) {
        (true, _) => Duration::from_secs(20),
        (false, false) => Duration::from_secs(2),
        (false, true) => Duration::from_millis(400),
    }
}

/// A request a step sent: the sender and the index in its `sent` list.
pub(super) type Sent = (String, usize);

/// The state of a play.
struct Play<'a> {
    s: &'a Scenario,
    b: &'a mut Built,
    /// Requests sent by steps with an `id`, for `reports_on`.
    step_ids: HashMap<String, Sent>,
    settle: Duration,
}

/// Play every step of `s` in `b`, checking each step's expectations at `level` into `expect`.
/// Returns why the play stopped early, if it did.
pub(super) fn play(s: &Scenario, level: Level, b: &mut Built, expect: &mut Expectations) -> Result<(), String> {
    let settle = settle_time(s, b.world.pacer.is_some());
    let mut p = Play { s, b, step_ids: HashMap::new(), settle };
    for (name, actor) in &s.actors {
        if actor.online {
            p.b.world.with_ue(name, |u, now| u.register(now, REGISTER_EXPIRES));
        }
    }
    run_for(&mut p.b.world, SETTLE_EDGES)?;
    for (i, st) in s.steps.iter().enumerate() {
        let before = Snapshot::take(s, &p.b.world);
        let sent = p.step(i, st)?;
        if let Some(e) = Scenario::expect_at(st, level) {
            expect.check(i + 1, e, sent.as_ref(), &before, &p.b.world);
        }
    }
    run_for(&mut p.b.world, SETTLE_EDGES)
}

fn run_for(w: &mut World, d: Duration) -> Result<(), String> {
    w.run_for(d).map_err(|e| e.to_string())
}

impl Play<'_> {
    /// Run step `i` (0-based) and let the world settle; the request it sent, if any.
    fn step(&mut self, i: usize, st: &Step) -> Result<Option<Sent>, String> {
        let sent = match st.send {
            Some(svc) => self.send(i, st, svc)?,
            None => None,
        };
        if let Some(n) = &st.register {
            self.b.world.with_ue(n, |u, now| u.register(now, REGISTER_EXPIRES));
        }
        if let Some(n) = &st.deregister {
            self.b.world.with_ue(n, |u, now| u.register(now, 0));
        }
        let d = st.wait.as_deref().and_then(parse_duration).unwrap_or(self.settle);
        run_for(&mut self.b.world, d)?;
        Ok(sent)
    }

    fn send(&mut self, i: usize, st: &Step, svc: Service) -> Result<Option<Sent>, String> {
        let from = st.from.clone().unwrap_or_default();
        let to_uri = self.target(&from, st, svc);
        let template = match &st.template {
            Some(t) => Some(self.template(i, t)?),
            None => None,
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
        if let Some(id) = &st.id {
            self.step_ids.insert(id.clone(), (from.clone(), idx));
        }
        Ok(Some((from, idx)))
    }

    /// The request URI: the sender's conference factory for a group, else the addressee's AoR.
    fn target(&self, from: &str, st: &Step, svc: Service) -> String {
        match (svc, st.to.as_ref()) {
            (Service::Group, _) => factory_uri(self.s.actors.get(from).map_or(Where::Local, |x| x.network)),
            (_, Some(t)) => self.b.aors.get(t).cloned().unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// The Message-ID an IMDN reports on.
    fn reports_on(&self, st: &Step) -> Option<String> {
        let (who, idx) = self.step_ids.get(st.reports_on.as_ref()?)?;
        world::ue(&self.b.world, who).map(|u| u.sent[*idx].message_id.clone())
    }

    /// A request template, relative to the scenario file.
    fn template(&self, i: usize, t: &str) -> Result<String, String> {
        let p = self.s.path.parent().map(|d| d.join(t)).unwrap_or_else(|| t.into());
        std::fs::read_to_string(&p).map_err(|e| format!("step {}: template {}: {e}", i + 1, p.display()))
    }
}
