//! The Appendix T decision of the reference server: which rewrite (or refusal) a request gets,
//! given the level, the session case and who the served user is (docs/decisions.md D3, D7, D8, D10, D13).
//! The rewrite itself is [`crate::interop::interwork`], shared with `imcpm rewrite`.

use super::ImServer;
use super::faults::Fault;
use super::state::conversation_key;
use crate::base::Direction;
use crate::base::Instant;
use crate::base::Level;
use crate::base::Service;
use crate::base::{ClientKind, SessionCase};
use crate::interop::bodies::{cpim_message_id, imdn_reports_on};
use crate::interop::classify::{Form, classify, form_of};
use crate::interop::interwork::{Ids, RewriteOptions, plan};
use crate::interop::registration::unregistered;
use crate::sip::StatusCode;
use crate::sip::{Edit, HeaderName, Message};

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it with these Appendix T edits (possibly none).
    Forward {
        /// Edits against the received bytes.
        edits: Vec<Edit>,
        /// The mapping applied, if any.
        mapped: Option<(Direction, Service)>,
    },
    /// Answer with this final response, for this reason (its Warning text).
    Reject(StatusCode, String),
    /// Fault `defer-offline`: answer 202 and keep it for a later registration.
    Defer,
}

impl ImServer {
    /// Decide for a request in session case `case` served for `user`.
    pub(super) fn decide(&mut self, msg: &Message, case: SessionCase, user: Option<&str>, now: Instant) -> Decision {
        let none = Decision::Forward { edits: Vec::new(), mapped: None };
        let Some(service) = classify(msg) else { return none };
        let form = form_of(msg);
        let level = self.config.level;
        let faults = self.config.faults.clone();
        match case {
            SessionCase::Term => {
                let kind = match (level, user) {
                    (Level::One, _) | (_, None) => ClientKind::Im,
                    (_, Some(u)) => self.registry.kind(u).unwrap_or(ClientKind::Im),
                };
                if kind == ClientKind::Cpm {
                    let user = user.unwrap_or_default().to_string();
                    if !self.registry.online(&user, now) || unregistered(msg) {
                        return if faults.has(Fault::DeferOffline) {
                            Decision::Defer
                        } else {
                            Decision::Reject(
                                StatusCode::TEMPORARILY_UNAVAILABLE,
                                format!(
                                    "CPM client {user} is not online; requests are not deferred (docs/decisions.md#d3)"
                                ),
                            )
                        };
                    }
                    if form == Form::Negated {
                        // Not an IM request (its only IM tag is negated): forwarded unchanged.
                        if faults.has(Fault::MapNegated) {
                            let ids = self.ids_toward_cpm(msg, service, &user);
                            return Decision::Forward { edits: id_edits(msg, &ids), mapped: None };
                        }
                        return none;
                    }
                    let ids = self.ids_toward_cpm(msg, service, &user);
                    if form == Form::Cpm {
                        // Already in the CPM form: only the identity headers are added.
                        return Decision::Forward { edits: id_edits(msg, &ids), mapped: None };
                    }
                    let svc =
                        if service == Service::Ft && faults.has(Fault::FtAsMsg) { Service::Pager } else { service };
                    return self.mapped(msg, Direction::ImToCpm, svc, ids, service);
                }
                if form == Form::Cpm {
                    self.mapped(msg, Direction::CpmToIm, service, Ids::default(), service)
                } else {
                    none
                }
            }
            SessionCase::Orig => {
                let kind = user.and_then(|u| self.registry.kind(u));
                let cpm = form == Form::Cpm && kind != Some(ClientKind::Im);
                if !cpm {
                    return none;
                }
                if level == Level::One && !faults.has(Fault::ServeLocalCpm) {
                    return Decision::Reject(
                        StatusCode::FORBIDDEN,
                        "a level 1 IM server serves no CPM client of its own (docs/decisions.md#d7)".to_string(),
                    );
                }
                self.learn_from_local_cpm(msg, service);
                self.mapped(msg, Direction::CpmToIm, service, Ids::default(), service)
            }
        }
    }

    fn mapped(&mut self, msg: &Message, dir: Direction, svc: Service, ids: Ids, real: Service) -> Decision {
        match plan(msg, &RewriteOptions { direction: dir, service: Some(svc), ids }) {
            Ok(mut p) => {
                if dir == Direction::CpmToIm && self.config.faults.has(Fault::SkipD16) {
                    // The appended Accept-Contact is an insertion at the end of the header block.
                    let end = msg.headers_end().start;
                    p.edits.retain(|e| {
                        !(e.span.is_empty() && e.span.start == end && e.with.starts_with(b"Accept-Contact"))
                    });
                }
                if self.config.faults.has(Fault::SkipContact) {
                    let contact: Vec<_> = msg.all(&HeaderName::Contact).map(|h| h.line).collect();
                    // Edits inside a Contact field (an insertion at its very end belongs to the next).
                    let inside = |c: &crate::sip::Span, e: &crate::sip::Span| {
                        c.start <= e.start && e.end <= c.end && e.start < c.end
                    };
                    p.edits.retain(|e| !contact.iter().any(|c| inside(c, &e.span)));
                }
                if dir == Direction::CpmToIm && self.config.faults.has(Fault::KeepCpmPas) {
                    let pas: Vec<_> = msg
                        .headers()
                        .iter()
                        .filter(|h| matches!(h.name, HeaderName::PAssertedService | HeaderName::PPreferredService))
                        .flat_map(|h| [h.line, h.value])
                        .collect();
                    p.edits.retain(|e| !pas.contains(&e.span));
                }
                Decision::Forward { edits: p.edits, mapped: Some((dir, real)) }
            }
            // The only planning error left with a service given is a missing Conversation-ID,
            // which ids_toward_cpm always supplies; forward unmapped rather than drop.
            Err(_) => Decision::Forward { edits: Vec::new(), mapped: None },
        }
    }

    /// D17: a conference factory's 2xx names the focus (`isfocus` Contact); the group's
    /// Conversation-ID, as the creating client sent it, is kept for that focus, so that the
    /// focus's INVITEs toward other local CPM clients carry it.
    pub(super) fn learn_focus(&mut self, forwarded: &[u8], answer: &Message) {
        if self.config.faults.has(Fault::ForgetGroupFocus) || !answer.status().is_some_and(StatusCode::is_success) {
            return;
        }
        if !super::proxy::is_invite(forwarded) {
            return;
        }
        let Ok(req) = Message::parse(forwarded.to_vec()) else { return };
        if req.method() != Some(&crate::sip::Method::Invite) || classify(&req) != Some(Service::Group) {
            return;
        }
        let (Some(focus), Some(conv)) =
            (crate::interop::registration::focus_aor(answer), req.first_value(&HeaderName::ConversationId))
        else {
            return;
        };
        let key = conversation_key("", "", Some(&focus));
        if self.convs.by_key.get(&key).is_none() {
            self.convs.by_key.put(key, conv.into_owned());
        }
    }

    /// D10: remember what a local CPM client sends (Conversation-ID per peer or group, and
    /// the IDs of its messages for their IMDNs).
    fn learn_from_local_cpm(&mut self, msg: &Message, service: Service) {
        let conv = msg.first_value(&HeaderName::ConversationId).map(|v| v.into_owned());
        let contrib = msg.first_value(&HeaderName::ContributionId).map(|v| v.into_owned());
        let from = msg.from_addr().ok().and_then(|na| crate::interop::registration::aor_of(msg.bytes(), &na));
        let to = msg.to_addr().ok().and_then(|na| crate::interop::registration::aor_of(msg.bytes(), &na));
        if let (Some(c), Some(f), Some(t)) = (&conv, &from, &to) {
            let group = (service == Service::Group).then_some(t.as_str());
            self.convs.by_key.put(conversation_key(f, t, group), c.clone());
        }
        if let (Some(mid), Some(c)) = (cpim_message_id(msg.body()), &conv) {
            self.convs.by_message.put(mid, (c.clone(), contrib.unwrap_or_default()));
        }
    }

    /// D10: the Conversation-ID and Contribution-ID toward a local CPM client.
    fn ids_toward_cpm(&mut self, msg: &Message, service: Service, user: &str) -> Ids {
        let faults = self.config.faults.clone();
        let from = msg
            .from_addr()
            .ok()
            .and_then(|na| crate::interop::registration::aor_of(msg.bytes(), &na))
            .unwrap_or_default();
        let focus = crate::interop::registration::focus_aor(msg).filter(|_| service == Service::Group);
        let key = conversation_key(user, &from, focus.as_deref());
        let incoming = msg.first_value(&HeaderName::ConversationId).map(|v| v.into_owned());
        let reported = (service == Service::Imdn)
            .then(|| imdn_reports_on(msg.body()))
            .flatten()
            .and_then(|mid| self.convs.by_message.get(&mid));
        let conv = if faults.has(Fault::OneConversationId) {
            "00000000-0000-4000-8000-000000000000".to_string()
        } else if faults.has(Fault::NewConversationIdPerMessage) {
            self.ids.uuid()
        } else if let Some((c, _)) = &reported {
            c.clone()
        } else if let Some(c) = incoming.clone().or_else(|| self.convs.by_key.get(&key)) {
            c
        } else {
            self.ids.uuid()
        };
        if incoming.is_none() {
            self.convs.by_key.put(key, conv.clone());
        }
        let contrib = match (&reported, msg.first_value(&HeaderName::ContributionId)) {
            (_, Some(c)) => c.into_owned(),
            (Some((_, c)), None) if !c.is_empty() => c.clone(),
            _ => self.ids.uuid(),
        };
        if let Some(mid) = cpim_message_id(msg.body()) {
            let c = incoming.clone().unwrap_or_else(|| conv.clone());
            self.convs.by_message.put(mid, (c, contrib.clone()));
        }
        Ids {
            conversation_id: Some(conv),
            contribution_id: (!faults.has(Fault::OmitContributionId)).then_some(contrib),
        }
    }
}

/// Conversation-ID / Contribution-ID insertions for a request already in the CPM form.
fn id_edits(msg: &Message, ids: &Ids) -> Vec<Edit> {
    let at = msg.first(&HeaderName::ContentType).map_or(msg.headers_end().start, |h| h.line.start);
    let mut v = Vec::new();
    if msg.first(&HeaderName::ConversationId).is_none() {
        if let Some(c) = &ids.conversation_id {
            v.push(Edit::header_before(msg, at, "Conversation-ID", c));
        }
    }
    if msg.first(&HeaderName::ContributionId).is_none() {
        if let Some(c) = &ids.contribution_id {
            v.push(Edit::header_before(msg, at, "Contribution-ID", c));
        }
    }
    v
}
