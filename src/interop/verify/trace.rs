//! Trace rules: pair every request that entered the IM server with what left it, judge each
//! pair ([`super::pair`]), then judge what needs the whole trace: a retransmission forwarded
//! once, responses relayed with the server's Via removed, Conversation-ID stable / distinct /
//! reused, IMDNs following their message, and no delivery after an offline 480 (docs/decisions.md D3, D10,
//! D14). The same code judges a simulated run, a live run and a capture.

use super::context::{Egress, PairContext};
use super::judge::Judge;
use super::pair::{Expectation, check_pair_of, expectation_of};
use crate::base::Level;
use crate::base::Service;
use crate::base::Trace;
use crate::base::{ClientKind, Instant, Role, SessionCase};
use crate::interop::classify::Identifiers;
use crate::interop::finding::{Finding, Location, Verdict};
use crate::interop::registration::{aor, aor_of, focus_aor, served, third_party_register};
use crate::interop::rules::ReqId;
use crate::sip::StatusCode;
use crate::sip::{HeaderName, Message, Method};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// What the oracle knows about the run besides the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// Interop level, 1 or 2.
    pub level: Level,
    /// The IM server's addresses.
    pub sut: Vec<SocketAddr>,
    /// The IM server's hosts, whatever the port (a capture's `--sut HOST` without a port: the
    /// connections it opens come from ephemeral ports).
    pub sut_hosts: Vec<std::net::IpAddr>,
    /// Its declared role.
    pub role: Role,
    /// Domains the IM server serves (Request-URI in one of them = terminating, D13 fallback).
    pub domains: Vec<String>,
    /// Client kinds of local users by address of record (`sip:user@host`, lowercased), from a
    /// users file or the scenario. Third-party REGISTERs in the trace add to it.
    pub users: BTreeMap<String, ClientKind>,
    /// True when the trace is complete (simulation, live): missing output is a failure.
    pub complete: bool,
    /// True when the observer is known to have lost messages (its own socket dropped
    /// datagrams): see [`PairContext::lossy`]; a response not seen relayed upstream is never
    /// taken as dropped by the server, however long the trace runs on.
    pub lossy: bool,
}

/// One judged pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairRecord {
    /// Trace index of the request entering the server.
    pub ingress: usize,
    /// Trace index of the request the server forwarded, if any.
    pub egress: Option<usize>,
    /// Trace index of the final response the server sent upstream for this request, if any: its
    /// own answer, or the one it relayed.
    pub response: Option<usize>,
    /// Session case used.
    pub case: SessionCase,
    /// Client kind used.
    pub client: Option<ClientKind>,
    /// Service, when the request is one of Table 1.
    pub service: Option<Service>,
}

/// The oracle's result over a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    /// Every pair judged.
    pub pairs: Vec<PairRecord>,
    /// Every finding, pair rules first (in pair order), then trace rules.
    pub findings: Vec<Finding>,
}

/// Registration state learnt from third-party REGISTERs (D8): per user, its registrations in
/// time order as (kind, registered since, registered until), the last few kept, so that a
/// request is judged by the registration that held when it arrived even when a later REGISTER
/// has been learnt already (a capture judged dialog by dialog).
#[derive(Debug, Default, Clone)]
pub(crate) struct Registrations {
    state: HashMap<String, Vec<(Option<ClientKind>, Instant, Instant)>>,
}

/// Registrations kept per user.
const REGISTRATION_HISTORY: usize = 4;

impl Registrations {
    /// Learn from `msg` if it is a third-party REGISTER, received at `now`.
    pub(crate) fn learn(&mut self, msg: &Message, level: Level, now: Instant) {
        let Some(r) = third_party_register(msg, level) else { return };
        // No expiry given: RFC 3261 §10.2.1's default of one hour.
        let until = now + std::time::Duration::from_secs(r.expires.unwrap_or(3600));
        let history = self.state.entry(r.user).or_default();
        match history.last_mut() {
            // A refresh of the registration that holds, the kind unchanged (or not said).
            Some(last) if now < last.2 && (r.kind.is_none() || r.kind == last.0) => last.2 = until,
            last => {
                let kind = r.kind.or_else(|| last.map(|l| l.0).unwrap_or(None));
                if let Some(l) = history.last_mut() {
                    l.2 = l.2.min(now); // a change of kind ends the previous one here
                }
                history.push((kind, now, until));
                if history.len() > REGISTRATION_HISTORY {
                    history.remove(0);
                }
            }
        }
    }
    /// The user's kind and whether a registration held at `now`, from the last registration
    /// that began at or before `now`; nothing before the first seen (a capture may show it
    /// only later).
    fn at(&self, user: &str, now: Instant) -> Option<(Option<ClientKind>, bool)> {
        let h = self.state.get(user)?;
        let (kind, _, until) = h.iter().rev().find(|(_, since, _)| *since <= now)?;
        Some((*kind, now < *until))
    }
    /// Users known.
    pub(crate) fn len(&self) -> usize {
        self.state.len()
    }
    /// Whether `user` is known.
    pub(crate) fn knows(&self, user: &str) -> bool {
        self.state.contains_key(user)
    }
    /// Forget the users whose every registration ended before `t`.
    pub(crate) fn forget_ended_before(&mut self, t: Instant) {
        self.state.retain(|_, h| h.iter().any(|(_, _, until)| *until >= t));
    }
}

struct Parsed<'m> {
    msg: Option<&'m Message>,
    /// The message's Via values, found when first asked.
    vias: std::cell::OnceCell<Vec<ViaValue>>,
}

/// One Via value, with its meaning ([`via_meaning`]) worked out when first needed: values
/// spelled exactly alike mean the same, so most comparisons never need it.
struct ViaValue {
    span: crate::sip::Span,
    meaning: std::cell::OnceCell<Vec<u8>>,
}

impl<'m> Parsed<'m> {
    fn new(msg: Option<&'m Message>) -> Parsed<'m> {
        Parsed { msg, vias: std::cell::OnceCell::new() }
    }
    /// The Via values; empty for a message that did not parse.
    fn vias(&self) -> &[ViaValue] {
        self.vias.get_or_init(|| {
            let Some(m) = &self.msg else { return Vec::new() };
            m.list_iter(&HeaderName::Via).map(|span| ViaValue { span, meaning: std::cell::OnceCell::new() }).collect()
        })
    }
    /// The meaning of Via value `i` (there must be one).
    fn via_meaning(&self, i: usize) -> &[u8] {
        let v = &self.vias()[i];
        v.meaning.get_or_init(|| via_meaning(self.msg.expect("a message with Via values parsed"), v.span))
    }
    /// Via value `i` here means what Via value `o` of `other` means (false when either is
    /// missing).
    fn via_same(&self, i: usize, other: &Parsed, o: usize) -> bool {
        let (Some(a), Some(b), Some(ma), Some(mb)) = (self.vias().get(i), other.vias().get(o), self.msg, other.msg)
        else {
            return false;
        };
        ma.slice(a.span) == mb.slice(b.span) || self.via_meaning(i) == other.via_meaning(o)
    }
    /// The Via values from `i` on here mean, one for one, `other`'s from `o` on.
    fn vias_same_from(&self, i: usize, other: &Parsed, o: usize) -> bool {
        let n = self.vias().len().saturating_sub(i);
        n == other.vias().len().saturating_sub(o) && (0..n).all(|d| self.via_same(i + d, other, o + d))
    }
}

/// Judge a whole trace.
pub fn check_trace(ctx: &TraceContext, trace: &Trace) -> TraceReport {
    let mut l = judge_local(ctx, trace);
    judge_deferred(&mut l.judge, &l.offline, &l.sent);
    super::convid::judge_conversations(&mut l.judge, &l.delivered, &super::convid::trace_message);
    l.report.findings.extend(l.judge.finish_trace());
    l.report
}

/// A request the server sent (MESSAGE or INVITE) of its own accord, not the forwarding of one
/// it received, for the no-deferral rule.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// Trace index.
    pub(crate) index: usize,
    /// The AoR of its Request-URI.
    pub(crate) target: Option<String>,
    /// Its Call-ID.
    pub(crate) call_id: Option<String>,
    /// Its method.
    pub(crate) method: String,
}

/// An offline client's request the server should have refused: (user, Call-ID, trace index).
pub(crate) type Offline = (String, String, usize);

/// What judging one trace gives, before the rules that may span several traces (no later
/// delivery to an offline client; Conversation-IDs).
pub(crate) struct Local {
    /// Pairs and the findings of the pair and trace rules.
    pub(crate) report: TraceReport,
    /// The trace rules' judge (its passes not finished yet).
    pub(crate) judge: Judge,
    /// Contributions to or from local CPM clients.
    pub(crate) delivered: Vec<Delivery>,
    /// Requests toward offline clients.
    pub(crate) offline: Vec<Offline>,
    /// Requests the server sent of its own accord ([`Sent`]): the forwardings of requests it
    /// received concern no rule that reads these, and are left out.
    pub(crate) sent: Vec<Sent>,
}

/// Judge a trace but for the rules that span traces ([`check_trace`] adds them).
pub(crate) fn judge_local(ctx: &TraceContext, trace: &Trace) -> Local {
    judge_local_in(ctx, trace, None, None)
}

/// [`judge_local`] of a part of a longer trace (one dialog of a capture): `known` holds the
/// registrations learnt from the whole trace so far (consulted after the part's own), and
/// `end` is when the whole trace was last seen (for "the capture ran on long enough"), when
/// later than the part's last message.
pub(crate) fn judge_local_in(
    ctx: &TraceContext,
    trace: &Trace,
    known: Option<&Registrations>,
    end: Option<Instant>,
) -> Local {
    let msgs: Vec<Option<Message>> = trace.events.iter().map(|o| Message::parse(o.packet.bytes.clone()).ok()).collect();
    judge_local_of(ctx, trace, &msgs, known, end)
}

/// [`judge_local_in`] of a trace whose messages are parsed already: `msgs[i]` is event `i`'s
/// message, None when it did not parse (its packet's bytes are not read).
pub(crate) fn judge_local_of(
    ctx: &TraceContext,
    trace: &Trace,
    msgs: &[Option<Message>],
    known: Option<&Registrations>,
    end: Option<Instant>,
) -> Local {
    let parsed: Vec<Parsed> = msgs.iter().map(|m| Parsed::new(m.as_ref())).collect();
    let is_sut = |a: &SocketAddr| ctx.sut.contains(a) || ctx.sut_hosts.contains(&a.ip());
    let mut report = TraceReport::default();
    let mut regs = Registrations::default();
    let mut seen_tx: HashMap<(Vec<u8>, String), usize> = HashMap::new();
    let mut used_egress = vec![false; parsed.len()];
    let mut delivered: Vec<Delivery> = Vec::new();
    let mut offline_480: Vec<(String, String, usize)> = Vec::new();
    let mut j = Judge::default();

    for (i, (obs, p)) in trace.events.iter().zip(&parsed).enumerate() {
        let Some(m) = &p.msg else { continue };
        if !is_sut(&obs.packet.to) || !m.is_request() {
            continue;
        }
        let method = m.method().cloned().unwrap_or(Method::Other(String::new()));
        if method == Method::Register {
            regs.learn(m, ctx.level, obs.time);
            continue;
        }
        if matches!(method, Method::Ack | Method::Cancel) {
            continue;
        }
        if p.vias().is_empty() {
            continue;
        }
        let key = (p.via_meaning(0).to_vec(), method.to_string());
        if seen_tx.contains_key(&key) {
            continue; // a retransmission: judged with its first copy
        }
        seen_tx.insert(key, i);

        // Egress requests of this transaction: the server's Via on top of ours.
        let egress: Vec<usize> = (i + 1..parsed.len())
            .filter(|&k| {
                let o = &trace.events[k];
                let Some(e) = &parsed[k].msg else { return false };
                is_sut(&o.packet.from) && e.method() == Some(&method) && parsed[k].via_same(1, p, 0)
            })
            .collect();
        let response = (i + 1..parsed.len()).find(|&k| {
            let o = &trace.events[k];
            parsed[k].msg.as_ref().is_some_and(|r| {
                is_sut(&o.packet.from)
                    && r.status().is_some_and(StatusCode::is_final)
                    && r.cseq().is_ok_and(|(_, m)| m == method)
                    && parsed[k].via_same(0, p, 0)
            })
        });
        let (case, user, unreg) = served(m, &ctx.domains);
        let (reg_kind, registered) = user
            .as_ref()
            .and_then(|u| regs.at(u, obs.time).or_else(|| known.and_then(|k| k.at(u, obs.time))))
            .map_or((None, None), |(k, r)| (k, Some(r)));
        let client = user.as_ref().and_then(|u| ctx.users.get(u).copied()).or(reg_kind);
        let mut pctx = PairContext::new(ctx.level, case, client);
        pctx.role = ctx.role;
        pctx.complete = ctx.complete;
        pctx.lossy = ctx.lossy;
        pctx.ingress_index = Some(i);
        // The core's `regstate=unreg` wins over what the registrations said (D3).
        pctx.online = if unreg { Some(false) } else { registered };
        // The server's own final answer given before it forwarded anything is its answer to the
        // request (e.g. a 202 for a stored message); what it sends on later is a later delivery,
        // left to the trace rules (D3), not the forwarding of this request.
        let answered_first = matches!((egress.first(), response), (Some(&k), Some(r)) if r < k);
        let egress: Vec<usize> = if answered_first { Vec::new() } else { egress };
        let first_egress = egress.first().copied();
        pctx.egress_index = first_egress.or(response);
        pctx.egress_transport = first_egress.map(|k| trace.events[k].packet.transport);
        let eg = match (first_egress, response) {
            (Some(k), _) => Egress::Forwarded(parsed[k].msg.as_ref().expect("egress indices hold parsed requests")),
            (None, Some(k)) => {
                Egress::Responded(parsed[k].msg.as_ref().expect("response indices hold parsed responses"))
            }
            (None, None) => Egress::Nothing,
        };
        let ids = Identifiers::new(m);
        let exp = expectation_of(&pctx, &ids);
        report.findings.extend(check_pair_of(&pctx, m, &ids, eg));
        for &k in &egress {
            used_egress[k] = true;
        }

        // Forwarded twice: distinct egress branches for one ingress transaction.
        let mut branches: Vec<String> =
            egress.iter().filter_map(|&k| parsed[k].msg.as_ref()?.top_via_branch()).collect();
        branches.dedup();
        branches.sort();
        branches.dedup();
        if branches.len() > 1 {
            j.violation(
                ReqId::SIP_PROXY,
                "a request forwarded once (retransmissions absorbed by the transaction)",
                format!("forwarded {} times with distinct branches", branches.len()),
                Location {
                    message: egress.get(1).map(|&i| Location::number(i)),
                    side: Some("egress".into()),
                    ..Location::default()
                },
            );
        }
        if let (Expectation::Offline, Some(u)) = (exp, &user) {
            if let Some(cid) = m.call_id() {
                offline_480.push((u.clone(), cid.into_owned(), i));
            }
        }
        let service = ids.classify();
        if let (Some(k), Some(svc)) = (first_egress, service) {
            let to_cpm = ctx.level == Level::Two && case == SessionCase::Term && client == Some(ClientKind::Cpm);
            let from_cpm = ctx.level == Level::Two && case == SessionCase::Orig && client == Some(ClientKind::Cpm);
            if to_cpm || from_cpm {
                // A group's focus: the `isfocus` Contact of the focus's INVITE (toward the
                // client), or of the factory's 2xx (from the client): D17 keeps the
                // Conversation-ID per focus, so the factory INVITE and the focus's INVITEs meet.
                let answer =
                    response.and_then(|r| parsed[r].msg).filter(|r| r.status().is_some_and(StatusCode::is_success));
                let focus = if to_cpm { focus_aor(m) } else { answer.and_then(focus_aor) };
                if let Some(d) =
                    Delivery::new(m, parsed[k].msg.as_ref().expect("parsed egress"), svc, to_cpm, focus, i, k)
                {
                    delivered.push(d);
                }
            }
        }
        if let Some(k) = first_egress {
            judge_next_hop(&mut j, trace, &parsed, i, k);
        }
        report.pairs.push(PairRecord { ingress: i, egress: first_egress, response, case, client, service });
    }

    if !ctx.complete {
        judge_unpaired_egress(&mut j, trace, &parsed, &used_egress, &is_sut);
    }
    let last = trace.events.last().map_or(Instant::ZERO, |e| e.time);
    let end = end.map_or(last, |e| e.max(last));
    judge_relayed_responses(&mut j, trace, &parsed, &is_sut, ctx.complete, ctx.lossy, end);
    judge_trying_not_relayed(&mut j, trace, &parsed, &is_sut);
    let sent = (0..parsed.len())
        .filter_map(|n| {
            let m = parsed[n].msg.as_ref()?;
            let service = matches!(m.method(), Some(Method::Message | Method::Invite));
            let own = !used_egress[n];
            (is_sut(&trace.events[n].packet.from) && m.is_request() && service && own).then(|| Sent {
                index: n,
                target: m.request_uri().and_then(|u| aor(&u)),
                call_id: m.call_id().map(|c| c.into_owned()),
                method: m.method().map(|x| x.to_string()).unwrap_or_default(),
            })
        })
        .collect();
    Local { report, judge: j, delivered, offline: offline_480, sent }
}

/// A contribution delivered to or sent by a local CPM client, for the Conversation-ID rules.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// True: toward the local CPM client (terminating); false: from it (originating).
    pub to_cpm: bool,
    /// The conversation key: a sorted pair of AoRs, or a group focus.
    pub key: String,
    /// The local CPM user.
    pub local: String,
    /// The peer (or focus).
    pub peer: String,
    /// The service.
    pub service: Service,
    /// Conversation-ID on the ingress request.
    pub conv_in: Option<String>,
    /// Conversation-ID the server forwarded.
    pub conv_out: Option<String>,
    /// Contribution-ID on the ingress.
    pub contrib_in: Option<String>,
    /// Contribution-ID forwarded.
    pub contrib_out: Option<String>,
    /// CPIM `imdn.Message-ID` of the message (pager / LMM).
    pub message_id: Option<String>,
    /// For an IMDN: the `<message-id>` it reports on.
    pub reports_on: Option<String>,
    /// Trace indices.
    pub ingress: usize,
    /// Trace index of the egress.
    pub egress: usize,
}

impl Delivery {
    fn new(
        ing: &Message,
        eg: &Message,
        service: Service,
        to_cpm: bool,
        focus: Option<String>,
        ingress: usize,
        egress: usize,
    ) -> Option<Delivery> {
        let from = ing.from_addr().ok().and_then(|na| aor_of(ing.bytes(), &na))?;
        let to = ing.to_addr().ok().and_then(|na| aor_of(ing.bytes(), &na))?;
        let (local, peer) = if to_cpm { (to, from) } else { (from, to) };
        let key = if let (Service::Group, Some(f)) = (service, &focus) {
            format!("group {f}")
        } else if service == Service::Group && !to_cpm {
            format!("group {peer}")
        } else {
            let (a, b) = if local <= peer { (&local, &peer) } else { (&peer, &local) };
            format!("{a} {b}")
        };
        let get = |m: &Message, n: HeaderName| m.first_value(&n).map(|v| v.into_owned());
        Some(Delivery {
            to_cpm,
            key,
            local,
            peer,
            service,
            conv_in: get(ing, HeaderName::ConversationId),
            conv_out: get(eg, HeaderName::ConversationId),
            contrib_in: get(ing, HeaderName::ContributionId),
            contrib_out: get(eg, HeaderName::ContributionId),
            message_id: crate::interop::bodies::cpim_message_id(ing.body()),
            reports_on: crate::interop::bodies::imdn_reports_on(ing.body()),
            ingress,
            egress,
        })
    }
}

/// A Via value by meaning (D19), without `received`/`rport`, which next hops add.
fn via_meaning(m: &Message, v: crate::sip::Span) -> Vec<u8> {
    super::meaning::canonical(&HeaderName::Via, &crate::sip::uri::via_key(m.bytes(), v))
}

/// Everything but the Via fields, for telling a relayed response from one of the server's own.
fn without_via(m: &Message) -> (Vec<(HeaderName, Vec<u8>)>, Vec<u8>) {
    let h =
        m.headers().iter().filter(|h| h.name != HeaderName::Via).map(|h| (h.name.clone(), m.slice(h.value).to_vec()));
    (h.collect(), m.body().to_vec())
}

fn judge_relayed_responses(
    j: &mut Judge,
    trace: &Trace,
    parsed: &[Parsed],
    is_sut: &dyn Fn(&SocketAddr) -> bool,
    complete: bool,
    lossy: bool,
    end: Instant,
) {
    // A response received by the server whose top Via is the server's must go upstream with that
    // Via removed (RFC 3261 §16.7 step 3); a final response must go at all (§16.7 step 5: the
    // best final response is forwarded; a 2xx always). Retransmissions are judged with their
    // first copy; a response to CANCEL is hop by hop.
    let mut seen: Vec<(&Parsed, Option<StatusCode>)> = Vec::new();
    for (k, (o, p)) in trace.events.iter().zip(parsed).enumerate() {
        let Some(r) = &p.msg else { continue };
        if !is_sut(&o.packet.to) || r.is_request() || r.status() == Some(StatusCode::TRYING) {
            continue;
        }
        let vias = p.vias().len();
        if vias < 2 {
            continue;
        }
        j.checked(ReqId::SIP_PROXY, "responses relayed upstream with the server's Via removed");
        let first_copy = !seen.iter().any(|(q, s)| *s == r.status() && q.vias_same_from(0, p, 0));
        if first_copy {
            seen.push((p, r.status()));
        }
        // RFC 3261 §16.7 step 6: a proxy may send a 500 upstream in place of a 503.
        let same_status = |x: &Message| {
            x.status() == r.status()
                || (r.status() == Some(StatusCode::SERVICE_UNAVAILABLE)
                    && x.status() == Some(StatusCode::SERVER_INTERNAL_ERROR))
        };
        let relayed = (k + 1..parsed.len()).find(|&n| {
            is_sut(&trace.events[n].packet.from)
                && parsed[n].msg.as_ref().is_some_and(|x| {
                    same_status(x)
                        && x.call_id() == r.call_id()
                        && (parsed[n].via_same(0, p, 1) || parsed[n].via_same(0, p, 0))
                })
        });
        let to_cancel = r.cseq().is_ok_and(|(_, m)| m == Method::Cancel);
        // In a capture the relay may simply be missing; once the capture runs on for 64*T1 (32 s,
        // every transaction timer of RFC 3261 has fired) without it, it was dropped; unless the
        // observer itself is known to have lost messages.
        let seen_long = !lossy && end.since(o.time) >= std::time::Duration::from_secs(32);
        if relayed.is_none() && first_copy && !to_cancel && r.status().is_some_and(StatusCode::is_final) {
            let sure = complete || seen_long;
            j.push(
                ReqId::SIP_PROXY,
                if sure { Verdict::Fail } else { Verdict::Inconclusive },
                format!("the {} relayed upstream", r.status().map_or(String::new(), |s| s.to_string())),
                if sure {
                    "dropped: never sent upstream"
                } else {
                    "not seen upstream in the capture (it ends within 32 s)"
                },
                Location {
                    message: Some(Location::number(k)),
                    side: Some("response".into()),
                    line: Some(1),
                    ..Location::default()
                },
            );
        }
        if let Some(n) = relayed {
            if !parsed[n].vias_same_from(0, p, 1) {
                j.violation(
                    ReqId::SIP_PROXY,
                    "the response relayed upstream without the server's own Via",
                    format!("{} Via values (received {})", parsed[n].vias().len(), vias),
                    Location {
                        message: Some(Location::number(n)),
                        side: Some("response".into()),
                        header: Some("Via".into()),
                        ..Location::default()
                    },
                );
            }
        }
    }
}

/// In a capture, a request the server sent with no ingress seen for it: INCONCLUSIVE (the
/// capture may start after the ingress, or miss the interface it arrived on).
fn judge_unpaired_egress(
    j: &mut Judge,
    trace: &Trace,
    parsed: &[Parsed],
    used: &[bool],
    is_sut: &dyn Fn(&SocketAddr) -> bool,
) {
    for (k, (o, p)) in trace.events.iter().zip(parsed).enumerate() {
        let Some(m) = &p.msg else { continue };
        if used[k] || !is_sut(&o.packet.from) || is_sut(&o.packet.to) || !m.is_request() {
            continue;
        }
        if matches!(m.method(), Some(Method::Ack | Method::Cancel | Method::Register)) {
            continue;
        }
        j.push(
            ReqId::SIP_PROXY,
            Verdict::Inconclusive,
            "the request the server forwarded, judged with the one it received",
            "no ingress request seen for it (the capture may start after it)",
            Location { message: Some(Location::number(k)), side: Some("egress".into()), ..Location::default() },
        );
    }
}

/// 100 Trying is hop by hop (RFC 3261 §16.7 step 3): a 100 the server sends upstream after a
/// 100 arrived from downstream is a relay, unless the upstream retransmitted the request in
/// between (the server transaction then repeats its own 100). It is a FAIL when the server sends
/// two 100s upstream for the transaction (its own, and one equal to the downstream one less the
/// Via, in either order of arrival). A single 100 arriving after the downstream one is
/// INCONCLUSIVE: it may be the server's own, sent or delivered late, and a 100 carries nothing
/// that tells the two apart.
fn judge_trying_not_relayed(j: &mut Judge, trace: &Trace, parsed: &[Parsed], is_sut: &dyn Fn(&SocketAddr) -> bool) {
    let mut judged: Vec<&Parsed> = Vec::new();
    for (k, (o, p)) in trace.events.iter().zip(parsed).enumerate() {
        let Some(r) = &p.msg else { continue };
        if !is_sut(&o.packet.to) || r.status() != Some(StatusCode::TRYING) {
            continue;
        }
        if p.vias().len() < 2 || judged.iter().any(|q| q.vias_same_from(0, p, 0)) {
            continue;
        }
        judged.push(p);
        j.checked(ReqId::SIP_PROXY, "100 Trying not forwarded upstream");
        // The Via values upstream: this one's from the second on.
        let upstream = |q: &Parsed| q.vias_same_from(0, p, 1);
        let upstream_top = |q: &Parsed| q.via_same(0, p, 1);
        let mut last = k;
        for n in k + 1..parsed.len() {
            let Some(x) = &parsed[n].msg else { continue };
            let from_sut = is_sut(&trace.events[n].packet.from);
            if from_sut && x.status() == Some(StatusCode::TRYING) && upstream(&parsed[n]) {
                let retransmitted = (last + 1..n).any(|q| {
                    is_sut(&trace.events[q].packet.to)
                        && parsed[q].msg.as_ref().is_some_and(|m| {
                            m.is_request()
                                && !matches!(m.method(), Some(Method::Cancel | Method::Ack))
                                && upstream_top(&parsed[q])
                        })
                });
                if !retransmitted {
                    // The downstream 100 itself, less the server's Via, is a relay once the
                    // server has sent its own 100 before it; otherwise this may be the server's
                    // own, sent (or delivered) late (RFC 3261 §17.2.1): not decidable.
                    let own_before = (0..n).any(|q| {
                        is_sut(&trace.events[q].packet.from)
                            && parsed[q]
                                .msg
                                .as_ref()
                                .is_some_and(|m| m.status() == Some(StatusCode::TRYING) && upstream(&parsed[q]))
                    });
                    // Two 100s from the server for one transaction: one of them is not its own.
                    let another_after = (n + 1..parsed.len()).any(|q| {
                        is_sut(&trace.events[q].packet.from)
                            && parsed[q]
                                .msg
                                .as_ref()
                                .is_some_and(|m| m.status() == Some(StatusCode::TRYING) && upstream(&parsed[q]))
                            && !(n + 1..q).any(|w| {
                                is_sut(&trace.events[w].packet.to)
                                    && parsed[w].msg.as_ref().is_some_and(|m| {
                                        m.is_request()
                                            && !matches!(m.method(), Some(Method::Cancel | Method::Ack))
                                            && upstream_top(&parsed[w])
                                    })
                            })
                    });
                    let relay = (own_before || another_after) && without_via(x) == without_via(r);
                    j.push(
                        ReqId::SIP_PROXY,
                        if relay { Verdict::Fail } else { Verdict::Inconclusive },
                        "100 Trying absorbed (hop by hop, never forwarded upstream)",
                        if relay {
                            "the downstream 100 Trying relayed upstream"
                        } else {
                            "a 100 Trying sent upstream after the downstream one: a relay, or the server's own late one"
                        },
                        Location {
                            message: Some(Location::number(n)),
                            side: Some("response".into()),
                            line: Some(1),
                            ..Location::default()
                        },
                    );
                    break;
                }
                last = n;
            }
        }
    }
}

/// ROUTE.VIA-IMS by where the packet went, not only by the Route header: an initial request goes
/// to the next hop its Route set names (an IP literal: that address; the core's own host name
/// when it came from the core: the host it came from), never straight to the UE.
fn judge_next_hop(j: &mut Judge, trace: &Trace, parsed: &[Parsed], i: usize, k: usize) {
    let (Some(ing), Some(eg)) = (&parsed[i].msg, &parsed[k].msg) else { return };
    if ing.to_tag().is_some() {
        return;
    }
    let uri = |m: &Message, v: crate::sip::Span| {
        crate::sip::NameAddr::parse(m.bytes(), v).and_then(|na| crate::sip::SipUri::parse(&na.uri_text(m.bytes())))
    };
    let Some(next) = eg.list_iter(&HeaderName::Route).next().and_then(|v| uri(eg, v)) else { return };
    let to = trace.events[k].packet.to;
    // Where it should have gone: an address, or the host the request came from (any port).
    let (ip, port) = match next.host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(ip) => (ip, Some(next.port.unwrap_or(5060))),
        Err(_) => {
            // A host name: judged when it names the element the request came from (the core).
            let back = ing
                .list_iter(&HeaderName::Route)
                .nth(1)
                .and_then(|v| uri(ing, v))
                .is_some_and(|u| u.host == next.host && u.port == next.port);
            let from = trace.events[i].packet.from;
            if !back {
                return;
            }
            (from.ip(), None)
        }
    };
    j.checked(ReqId::ROUTE_VIA_IMS, "sent to the next hop of the ISC Route set");
    if to.ip() != ip || port.is_some_and(|p| p != to.port()) {
        let what = match port {
            Some(p) => format!("{ip}:{p}"),
            None => format!("{} ({ip})", next.host),
        };
        j.violation(
            ReqId::ROUTE_VIA_IMS,
            format!("sent to the next hop of its Route set, {what}"),
            format!("sent to {to}"),
            Location { message: Some(Location::number(k)), side: Some("egress".into()), ..Location::default() },
        );
    }
}

/// No delivery to an offline client after the server should have refused it (D3): a later
/// request the server sent on its own (not the forwarding of one it received) with the same
/// Call-ID or toward the same user.
pub(crate) fn judge_deferred(j: &mut Judge, offline: &[Offline], sent: &[Sent]) {
    for (user, call_id, at) in offline {
        j.checked(ReqId::T2_ONLINE_ONLY, "nothing delivered later to a CPM client that was offline");
        // The earliest such delivery (`sent` need not be in message order).
        let later = sent.iter().filter(|s| s.index > *at);
        if let Some(s) = later
            .filter(|s| s.call_id.as_deref() == Some(call_id.as_str()) || s.target.as_deref() == Some(user.as_str()))
            .min_by_key(|s| s.index)
        {
            j.violation(
                ReqId::T2_ONLINE_ONLY,
                format!("nothing delivered to {user} after the 480 (no deferral, NOTE 3)"),
                format!("{} sent by the server later", s.method),
                Location {
                    message: Some(Location::number(s.index)),
                    side: Some("egress".into()),
                    ..Location::default()
                },
            );
        }
    }
}

impl Judge {
    /// Trace-level findings: like [`Judge::finish`] with no particular location for passes.
    pub fn finish_trace(self) -> Vec<Finding> {
        self.finish(Location::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{Instant, Packet, Transport};

    const UP: &str = "10.0.0.1:5060";
    const SUT: &str = "10.0.0.2:5060";
    const DOWN: &str = "10.0.0.3:5060";
    const VIA_UP: &str = "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKup1";
    const VIA_SUT: &str = "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKas1";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A later delivery to an offline client is named by its earliest message, whatever the
    /// order the dialogs were judged in (and so `sent` was filled in).
    #[test]
    fn a_deferred_delivery_is_named_by_its_earliest_message() {
        let sent = |index, method: &str| Sent {
            index,
            target: Some("sip:carol@im.example.net".into()),
            call_id: None,
            method: method.into(),
        };
        let offline = vec![("sip:carol@im.example.net".to_string(), "c1".to_string(), 3)];
        for order in [vec![sent(12, "INVITE"), sent(11, "MESSAGE")], vec![sent(11, "MESSAGE"), sent(12, "INVITE")]] {
            let mut j = Judge::default();
            judge_deferred(&mut j, &offline, &order);
            let f = j.finish_trace();
            let v: Vec<_> = f.iter().filter(|f| f.verdict == Verdict::Fail).collect();
            assert_eq!(v.len(), 1, "{f:?}");
            assert_eq!(v[0].observed, "MESSAGE sent by the server later");
            assert_eq!(v[0].location.message, Some(Location::number(11)));
        }
    }

    #[test]
    fn via_values_compare_by_meaning_and_spelling_alike_needs_no_meaning() {
        let m = |vias: &[&str]| {
            let mut l = vec!["SIP/2.0 200 OK"];
            l.extend_from_slice(vias);
            Parsed::new(Some(&*Box::leak(Box::new(Message::parse(frame(&l, "")).unwrap()))))
        };
        let a = m(&["Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKas1", VIA_UP]);
        let b = m(&["Via: sip/2.0/udp 10.0.0.2:5060 ; branch=z9hG4bKas1;received=10.9.9.9;rport=1", VIA_UP]);
        let c = m(&[VIA_UP]);
        let other = m(&["Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKas2", VIA_UP]);
        // Spelled alike: no meaning worked out.
        assert!(c.via_same(0, &a, 1));
        assert!(c.vias_same_from(0, &a, 1));
        assert!(a.vias()[1].meaning.get().is_none() && c.vias()[0].meaning.get().is_none());
        // Spelled otherwise: by meaning, `received` and `rport` left out.
        assert!(a.via_same(0, &b, 0) && a.vias_same_from(0, &b, 0));
        assert_eq!(a.via_meaning(0), b.via_meaning(0));
        assert!(!a.via_same(0, &other, 0) && !a.vias_same_from(0, &other, 0));
        // Missing values.
        assert!(!c.via_same(1, &a, 1) && !a.vias_same_from(0, &c, 0));
        assert!(c.vias_same_from(1, &a, 2));
        assert!(!Parsed::new(None).via_same(0, &c, 0));
    }

    /// `lines` and `body` as message bytes with CRLF line ends and an exact Content-Length.
    fn frame(lines: &[&str], body: &str) -> Vec<u8> {
        let mut s = String::new();
        for l in lines {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s.into_bytes()
    }

    /// A request from alice to bob; `top` are the lines before the common ones (Vias, Route).
    fn request(method: &str, top: &[&str], mf: u32) -> Vec<u8> {
        let mf = format!("Max-Forwards: {mf}");
        let cseq = format!("CSeq: 1 {method}");
        let start = format!("{method} sip:bob@im.example.net SIP/2.0");
        let mut l: Vec<&str> = vec![&start];
        l.extend_from_slice(top);
        l.extend_from_slice(&[
            &mf,
            "From: <sip:alice@im.example.net>;tag=a1",
            "To: <sip:bob@im.example.net>",
            "Call-ID: call-1@im.example.net",
            &cseq,
            "Accept-Contact: *;+g.oma.sip-im",
        ]);
        frame(&l, "")
    }

    /// A response to [`request`] with the given Via lines.
    fn response(status: &str, method: &str, vias: &[&str]) -> Vec<u8> {
        let start = format!("SIP/2.0 {status}");
        let cseq = format!("CSeq: 1 {method}");
        let mut l: Vec<&str> = vec![&start];
        l.extend_from_slice(vias);
        l.extend_from_slice(&[
            "From: <sip:alice@im.example.net>;tag=a1",
            "To: <sip:bob@im.example.net>;tag=b1",
            "Call-ID: call-1@im.example.net",
            &cseq,
        ]);
        frame(&l, "")
    }

    fn trace(packets: Vec<(&str, &str, Vec<u8>)>) -> Trace {
        let mut t = Trace::default();
        for (n, (from, to, bytes)) in packets.into_iter().enumerate() {
            t.push(Instant(n as u64 * 1000), Packet::new(Transport::Udp, addr(from), addr(to), bytes));
        }
        t
    }

    /// A registration learnt later (a capture judged dialog by dialog learns REGISTERs as they
    /// arrive) does not change what held earlier: the one that ended at 10 s leaves bob
    /// unregistered at 15 s even once the one of 20 s is known.
    #[test]
    fn registrations_answer_for_the_time_asked() {
        let reg = |exp: u32| {
            let t = format!(
                "REGISTER sip:im.example.net SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKr{exp}\r\n\
                 From: <sip:scscf@im.example.net>;tag=r\r\nTo: <sip:bob@im.example.net>\r\nCall-ID: r{exp}\r\n\
                 CSeq: 1 REGISTER\r\nExpires: {exp}\r\nContent-Length: 0\r\n\r\n"
            );
            Message::parse(t.into_bytes()).unwrap()
        };
        let s = |n: u64| Instant(n * 1_000_000);
        let mut r = Registrations::default();
        r.learn(&reg(10), Level::Two, s(0));
        r.learn(&reg(3600), Level::Two, s(20));
        let bob = "sip:bob@im.example.net";
        assert_eq!(r.at(bob, s(5)), Some((None, true)));
        assert_eq!(r.at(bob, s(15)), Some((None, false)), "expired at 10 s, whatever came later");
        assert_eq!(r.at(bob, s(25)), Some((None, true)));
        // Before the first registration seen: nothing known.
        let mut late = Registrations::default();
        late.learn(&reg(3600), Level::Two, s(20));
        assert_eq!(late.at(bob, s(15)), None);
        // A refresh extends, a deregistration (Expires: 0) ends.
        r.learn(&reg(0), Level::Two, s(30));
        assert_eq!(r.at(bob, s(29)), Some((None, true)));
        assert_eq!(r.at(bob, s(31)), Some((None, false)));
    }

    fn ctx(complete: bool) -> TraceContext {
        TraceContext {
            level: Level::One,
            sut: vec![addr(SUT)],
            sut_hosts: Vec::new(),
            role: Role::Proxy,
            domains: vec!["im.example.net".into()],
            users: BTreeMap::new(),
            complete,
            lossy: false,
        }
    }

    fn non_pass(r: &TraceReport) -> Vec<(ReqId, Verdict, Option<usize>)> {
        r.findings
            .iter()
            .filter(|f| f.verdict != Verdict::Pass)
            .map(|f| (f.requirement, f.verdict, f.location.index()))
            .collect()
    }

    /// An INVITE from upstream, forwarded downstream correctly.
    fn invite_forwarded() -> Vec<(&'static str, &'static str, Vec<u8>)> {
        vec![(UP, SUT, request("INVITE", &[VIA_UP], 70)), (SUT, DOWN, request("INVITE", &[VIA_SUT, VIA_UP], 69))]
    }

    #[test]
    fn a_request_forwarded_and_its_answer_relayed_pass() {
        let mut p = invite_forwarded();
        p.push((DOWN, SUT, response("100 Trying", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((DOWN, SUT, response("200 OK", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((SUT, UP, response("200 OK", "INVITE", &[VIA_UP])));
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![]);
        assert_eq!(r.pairs.len(), 1);
        // `response` is the server's final answer on the ingress transaction: here the relayed 200.
        assert_eq!((r.pairs[0].ingress, r.pairs[0].egress, r.pairs[0].response), (0, Some(1), Some(4)));
        assert_eq!(r.pairs[0].case, SessionCase::Term);
        assert_eq!(r.pairs[0].service, Some(Service::Session));
        assert!(r.findings.iter().any(|f| f.requirement == ReqId::SIP_PROXY && f.verdict == Verdict::Pass));
    }

    /// An INVITE from upstream, answered by the server's own 100, and forwarded downstream.
    fn invite_tried_and_forwarded() -> Vec<(&'static str, &'static str, Vec<u8>)> {
        vec![
            (UP, SUT, request("INVITE", &[VIA_UP], 70)),
            (SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])),
            (SUT, DOWN, request("INVITE", &[VIA_SUT, VIA_UP], 69)),
        ]
    }

    #[test]
    fn a_relayed_100_after_an_upstream_cancel_is_still_a_relay() {
        let mut p = invite_tried_and_forwarded();
        p.push((DOWN, SUT, response("100 Trying", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((UP, SUT, request("CANCEL", &[VIA_UP], 70)));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        let r = check_trace(&ctx(true), &trace(p));
        assert!(non_pass(&r).contains(&(ReqId::SIP_PROXY, Verdict::Fail, Some(5))), "{:?}", non_pass(&r));
    }

    #[test]
    fn the_200_to_a_cancel_is_not_the_answer_to_the_invite() {
        // A level-1 server refuses a local CPM client's INVITE with 403; the client cancels and
        // gets its 200 for the CANCEL first. The INVITE's answer is the 403.
        let cpm = "Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"";
        let served = "P-Served-User: <sip:alice@im.example.net>;sescase=orig;regstate=reg";
        let inv = String::from_utf8(request("INVITE", &[VIA_UP, served], 70))
            .unwrap()
            .replace("Accept-Contact: *;+g.oma.sip-im", cpm);
        let p = vec![
            (UP, SUT, inv.clone().into_bytes()),
            (UP, SUT, request("CANCEL", &[VIA_UP], 70)),
            (SUT, UP, response("200 OK", "CANCEL", &[VIA_UP])),
            (SUT, UP, response("403 Forbidden", "INVITE", &[VIA_UP])),
        ];
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![], "{:?}", r.findings);
        assert_eq!(r.pairs[0].response, Some(3));
    }

    #[test]
    fn a_downstream_100_trying_relayed_upstream_fails_sip_proxy() {
        let mut p = invite_tried_and_forwarded();
        p.push((DOWN, SUT, response("100 Trying", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![(ReqId::SIP_PROXY, Verdict::Fail, Some(4))]);
    }

    #[test]
    fn two_100s_from_the_server_after_the_downstream_one_are_a_relay() {
        // Its own 100 delayed past the downstream one, then the relay: still a FAIL.
        let mut p = invite_forwarded();
        p.push((DOWN, SUT, response("100 Trying", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![(ReqId::SIP_PROXY, Verdict::Fail, Some(3))]);
    }

    #[test]
    fn the_servers_only_100_arriving_after_the_downstream_one_is_inconclusive() {
        // Its own 100, delayed (a TCP retransmission, a slow transaction layer), looks exactly
        // like a relay: no FAIL on that alone.
        let mut p = invite_forwarded();
        p.push((DOWN, SUT, response("100 Trying", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![(ReqId::SIP_PROXY, Verdict::Inconclusive, Some(3))]);
    }

    #[test]
    fn a_100_trying_after_an_upstream_retransmission_is_the_servers_own() {
        let mut p = invite_forwarded();
        p.push((DOWN, SUT, response("100 Trying", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((UP, SUT, request("INVITE", &[VIA_UP], 70)));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![]);
        // One pair: the retransmission is judged with its first copy.
        assert_eq!(r.pairs.len(), 1);
        // A second 100 without a retransmission before it is a relay again.
        let mut p = invite_forwarded();
        p.push((DOWN, SUT, response("100 Trying", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((UP, SUT, request("INVITE", &[VIA_UP], 70)));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        p.push((SUT, UP, response("100 Trying", "INVITE", &[VIA_UP])));
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![(ReqId::SIP_PROXY, Verdict::Fail, Some(5))]);
    }

    #[test]
    fn a_final_response_never_relayed_fails_in_a_run_and_is_inconclusive_in_a_capture() {
        let mut p =
            vec![(UP, SUT, request("MESSAGE", &[VIA_UP], 70)), (SUT, DOWN, request("MESSAGE", &[VIA_SUT, VIA_UP], 69))];
        p.push((DOWN, SUT, response("200 OK", "MESSAGE", &[VIA_SUT, VIA_UP])));
        let t = trace(p.clone());
        assert_eq!(non_pass(&check_trace(&ctx(true), &t)), vec![(ReqId::SIP_PROXY, Verdict::Fail, Some(2))]);
        assert_eq!(non_pass(&check_trace(&ctx(false), &t)), vec![(ReqId::SIP_PROXY, Verdict::Inconclusive, Some(2))]);
        // Relayed with the server's Via removed: nothing to report.
        p.push((SUT, UP, response("200 OK", "MESSAGE", &[VIA_UP])));
        assert_eq!(non_pass(&check_trace(&ctx(true), &trace(p.clone()))), vec![]);
        // Relayed with the server's own Via still on: a relay defect at the relayed copy.
        p.pop();
        p.push((SUT, UP, response("200 OK", "MESSAGE", &[VIA_SUT, VIA_UP])));
        assert_eq!(non_pass(&check_trace(&ctx(true), &trace(p))), vec![(ReqId::SIP_PROXY, Verdict::Fail, Some(3))]);
    }

    /// A capture that runs on 32 s past a final response never relayed shows it dropped (FAIL);
    /// an observer known to have lost messages may have lost the relay itself (INCONCLUSIVE).
    #[test]
    fn a_final_response_not_relayed_is_dropped_only_if_nothing_was_lost() {
        let p = vec![
            (UP, SUT, request("MESSAGE", &[VIA_UP], 70)),
            (SUT, DOWN, request("MESSAGE", &[VIA_SUT, VIA_UP], 69)),
            (DOWN, SUT, response("200 OK", "MESSAGE", &[VIA_SUT, VIA_UP])),
        ];
        let mut t = trace(p);
        // Something else seen 40 s later, between two other hosts.
        t.push(Instant(40_000_000), Packet::new(Transport::Udp, addr(UP), addr(DOWN), b"junk".to_vec()));
        assert_eq!(non_pass(&check_trace(&ctx(false), &t)), vec![(ReqId::SIP_PROXY, Verdict::Fail, Some(2))]);
        let lossy = TraceContext { lossy: true, ..ctx(false) };
        let r = check_trace(&lossy, &t);
        assert_eq!(non_pass(&r), vec![(ReqId::SIP_PROXY, Verdict::Inconclusive, Some(2))]);
    }

    #[test]
    fn a_response_to_cancel_is_hop_by_hop() {
        let mut p = invite_forwarded();
        p.push((UP, SUT, request("CANCEL", &[VIA_UP], 70)));
        p.push((SUT, UP, response("200 OK", "CANCEL", &[VIA_UP])));
        p.push((SUT, DOWN, request("CANCEL", &[VIA_SUT, VIA_UP], 70)));
        p.push((DOWN, SUT, response("200 OK", "CANCEL", &[VIA_SUT, VIA_UP])));
        p.push((DOWN, SUT, response("487 Request Terminated", "INVITE", &[VIA_SUT, VIA_UP])));
        p.push((SUT, UP, response("487 Request Terminated", "INVITE", &[VIA_UP])));
        assert_eq!(non_pass(&check_trace(&ctx(true), &trace(p))), vec![]);
    }

    const ROUTE_IN: &str = "Route: <sip:10.0.0.2;lr>, <sip:10.0.0.1:5060;lr>";
    const ROUTE_OUT: &str = "Route: <sip:10.0.0.1:5060;lr>";

    #[test]
    fn a_request_sent_past_its_ip_literal_next_hop_fails_route_via_ims() {
        let ue = "10.0.0.9:5060";
        let p = vec![
            (UP, SUT, request("MESSAGE", &[VIA_UP, ROUTE_IN], 70)),
            (SUT, ue, request("MESSAGE", &[VIA_SUT, VIA_UP, ROUTE_OUT], 69)),
        ];
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![(ReqId::ROUTE_VIA_IMS, Verdict::Fail, Some(1))]);
        let f = r.findings.iter().find(|f| f.verdict == Verdict::Fail).unwrap();
        assert_eq!(f.expected, "sent to the next hop of its Route set, 10.0.0.1:5060");
        assert_eq!(f.observed, "sent to 10.0.0.9:5060");
        // The right address, but another port.
        let p = vec![
            (UP, SUT, request("MESSAGE", &[VIA_UP, ROUTE_IN], 70)),
            (SUT, "10.0.0.1:5070", request("MESSAGE", &[VIA_SUT, VIA_UP, ROUTE_OUT], 69)),
        ];
        assert_eq!(non_pass(&check_trace(&ctx(true), &trace(p))), vec![(ReqId::ROUTE_VIA_IMS, Verdict::Fail, Some(1))]);
    }

    #[test]
    fn a_request_sent_to_its_next_hop_passes_route_via_ims() {
        let p = vec![
            (UP, SUT, request("MESSAGE", &[VIA_UP, ROUTE_IN], 70)),
            (SUT, UP, request("MESSAGE", &[VIA_SUT, VIA_UP, ROUTE_OUT], 69)),
        ];
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![]);
        assert!(r.findings.iter().any(|f| f.requirement == ReqId::ROUTE_VIA_IMS && f.verdict == Verdict::Pass));
    }

    #[test]
    fn a_request_forwarded_twice_fails_sip_proxy() {
        let mut p = invite_forwarded();
        p.push((UP, SUT, request("INVITE", &[VIA_UP], 70)));
        p.push((SUT, DOWN, request("INVITE", &["Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKas2", VIA_UP], 69)));
        let r = check_trace(&ctx(true), &trace(p));
        assert_eq!(non_pass(&r), vec![(ReqId::SIP_PROXY, Verdict::Fail, Some(3))]);
        // The same branch again is a retransmission of the server's own client transaction.
        let mut p = invite_forwarded();
        p.push((UP, SUT, request("INVITE", &[VIA_UP], 70)));
        p.push((SUT, DOWN, request("INVITE", &[VIA_SUT, VIA_UP], 69)));
        assert_eq!(non_pass(&check_trace(&ctx(true), &trace(p))), vec![]);
    }

    #[test]
    fn nothing_sent_for_a_mapped_request_fails_in_a_run() {
        let cpm_ac = r#"Accept-Contact: *;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#;
        let bytes = frame(
            &[
                "MESSAGE sip:bob@im.example.net SIP/2.0",
                VIA_UP,
                "Max-Forwards: 70",
                "From: <sip:alice@cpm.example.com>;tag=a1",
                "To: <sip:bob@im.example.net>",
                "Call-ID: call-2@cpm.example.com",
                "CSeq: 1 MESSAGE",
                cpm_ac,
            ],
            "",
        );
        let t = trace(vec![(UP, SUT, bytes)]);
        assert_eq!(non_pass(&check_trace(&ctx(true), &t)), vec![(ReqId::T1_TERM_PAGER, Verdict::Fail, Some(0))]);
        assert_eq!(
            non_pass(&check_trace(&ctx(false), &t)),
            vec![(ReqId::T1_TERM_PAGER, Verdict::Inconclusive, Some(0))]
        );
    }

    /// A MESSAGE to bob that the core flags as unregistered (D3).
    fn to_offline_bob(call_id: &str) -> Vec<u8> {
        let call_id = format!("Call-ID: {call_id}");
        frame(
            &[
                "MESSAGE sip:bob@im.example.net SIP/2.0",
                VIA_UP,
                "Max-Forwards: 70",
                "From: <sip:alice@im.example.net>;tag=a1",
                "To: <sip:bob@im.example.net>",
                &call_id,
                "CSeq: 1 MESSAGE",
                "P-Served-User: <sip:bob@im.example.net>;sescase=term;regstate=unreg",
                "Accept-Contact: *;+g.oma.sip-im",
            ],
            "",
        )
    }

    fn level_2_bob_cpm() -> TraceContext {
        let mut c = ctx(true);
        c.level = Level::Two;
        c.users.insert("sip:bob@im.example.net".into(), ClientKind::Cpm);
        c
    }

    #[test]
    fn nothing_delivered_after_an_offline_480() {
        let mut p = vec![
            (UP, SUT, to_offline_bob("off-1@im.example.net")),
            (SUT, UP, response("480 Temporarily Unavailable", "MESSAGE", &[VIA_UP])),
        ];
        let r = check_trace(&level_2_bob_cpm(), &trace(p.clone()));
        assert_eq!(non_pass(&r), vec![]);
        assert_eq!(
            r.findings.iter().filter(|f| f.requirement == ReqId::T2_ONLINE_ONLY).map(|f| f.verdict).collect::<Vec<_>>(),
            vec![Verdict::Pass, Verdict::Pass]
        );
        // The server stored it and delivers it later, on a request of its own.
        let mut later = String::from_utf8(to_offline_bob("off-1@im.example.net")).unwrap();
        later = later.replacen(VIA_UP, VIA_SUT, 1);
        p.push((SUT, DOWN, later.into_bytes()));
        let r = check_trace(&level_2_bob_cpm(), &trace(p));
        assert_eq!(non_pass(&r), vec![(ReqId::T2_ONLINE_ONLY, Verdict::Fail, Some(2))]);
    }
}
