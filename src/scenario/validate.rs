//! What a scenario file must satisfy beyond its types (docs/scenarios.md), checked when it is
//! loaded so that a broken scenario is a user error before anything runs, never a verdict
//! blamed on the server: references to actors and step ids resolve, every key of a step
//! applies to what the step does, header lines are header lines, statuses are final response
//! codes, a group has participants, templates exist, use only the placeholders the client
//! fills in and make a request of the step's method; and the request of every `send` step is
//! built once, as the client would build it, to find one the client could never send. Every
//! problem found is reported with its line and column (in the template for what is wrong
//! inside one).

use super::lines::{header_line_problem, template_problems};
use super::load::Files;
use super::model::{Scenario, Step, Where, parse_duration};
use super::problem::Problem;
use super::world;
use crate::base::escape::escape;
use crate::base::{Level, Service, Transport};
use crate::node::ue::{SendOptions, Ue, UeConfig};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step into the document: a key of a table or an index of an array.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    K(&'a str),
    I(usize),
}
use Seg::{I, K};

/// The scenario file's text and its spanned document, to point at keys and values.
struct Doc<'i> {
    path: String,
    text: &'i str,
    root: Option<Spanned<DeTable<'i>>>,
}

impl Doc<'_> {
    /// The span of the value at `segs`, or of the deepest part of the path that exists.
    fn value(&self, segs: &[Seg<'_>]) -> Range<usize> {
        (0..=segs.len()).rev().find_map(|n| self.lookup(&segs[..n])).map_or(0..0, |(span, _)| span)
    }

    /// The span of the key that ends `segs` (`key = ...`), else that of its value.
    fn key(&self, segs: &[Seg<'_>]) -> Range<usize> {
        if let Some((K(k), parent)) = segs.split_last().map(|(l, p)| (*l, p)) {
            if let Some((_, Some(table))) = self.lookup(parent) {
                if let Some((key, _)) = table.get_key_value(k) {
                    return key.span();
                }
            }
        }
        self.value(segs)
    }

    /// Whether the document has a value at `segs`.
    fn has(&self, segs: &[Seg<'_>]) -> bool {
        self.lookup(segs).is_some()
    }

    /// The span of the value at `segs`, and the value itself when it is a table.
    fn lookup(&self, segs: &[Seg<'_>]) -> Option<(Range<usize>, Option<&DeTable<'_>>)> {
        let root = self.root.as_ref()?;
        let Some((first, rest)) = segs.split_first() else {
            return Some((root.span(), Some(root.get_ref())));
        };
        let K(k) = *first else { return None };
        let mut v: &Spanned<DeValue<'_>> = root.get_ref().get(k)?;
        for s in rest {
            v = match *s {
                K(k) => v.get_ref().get(k)?,
                I(i) => v.get_ref().get(i)?,
            };
        }
        Some((v.span(), v.get_ref().as_table()))
    }
}

/// The problems found so far.
struct Out<'d, 'i> {
    doc: &'d Doc<'i>,
    problems: Vec<Problem>,
}

impl Out<'_, '_> {
    fn at(&mut self, span: Range<usize>, message: String) {
        self.problems.push(Problem::at(&self.doc.path, self.doc.text, span, message));
    }
}

/// Every problem of `s` (parsed from `text`); the text of each template it uses, read through
/// `files`, is stored in its step.
pub(super) fn validate(s: &mut Scenario, text: &str, files: &dyn Files) -> Vec<Problem> {
    let doc = Doc { path: s.path.display().to_string(), text, root: DeTable::parse(text).ok() };
    let mut out = Out { doc: &doc, problems: Vec::new() };
    top(s, &mut out);
    let ids = step_ids(s, &mut out);
    for i in 0..s.steps.len() {
        let before = out.problems.len();
        let text = step(s, i, &ids, &mut out, files);
        s.steps[i].template_text = text;
        if out.problems.len() == before && s.steps[i].send.is_some() {
            dry_send(s, i, &mut out);
        }
    }
    let mut seen = BTreeSet::new();
    out.problems.retain(|p| seen.insert(p.to_string()));
    out.problems
}

/// The top-level keys: levels, transport, actors, network.
fn top(s: &Scenario, out: &mut Out<'_, '_>) {
    if s.levels.is_empty() {
        out.at(out.doc.value(&[K("levels")]), "levels must be a non-empty list of 1 and 2".into());
    }
    for (j, l) in s.levels.iter().enumerate() {
        if s.levels[..j].contains(l) {
            out.at(out.doc.value(&[K("levels"), I(j)]), format!("level {l} is listed twice (it would run twice)"));
        }
    }
    if !matches!(s.transport.as_str(), "udp" | "tcp") {
        out.at(
            out.doc.value(&[K("transport")]),
            format!("transport must be \"udp\" or \"tcp\", not \"{}\"", escape(&s.transport)),
        );
    }
    for name in s.actors.keys() {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'+".contains(&b)) {
            out.at(
                out.doc.key(&[K("actors"), K(name)]),
                format!(
                    "actor name \"{name_q}\": it is the user part of the actor's SIP address, so only letters, digits and - _ . ! ~ * ' +", name_q = escape(&name.to_string())),
            );
        }
    }
    if let Some(n) = &s.network {
        for (key, p) in [("loss", n.loss), ("duplicate", n.duplicate), ("reorder", n.reorder)] {
            if !(0.0..=1.0).contains(&p) {
                out.at(
                    out.doc.value(&[K("network"), K(key)]),
                    format!("network {key} is a probability: 0 to 1, not {p}"),
                );
            } else if key == "loss" && p > MAX_LOSS {
                out.at(
                    out.doc.value(&[K("network"), K(key)]),
                    format!(
                        "network loss {p} is above {MAX_LOSS}: RFC 3261 retransmissions could not be counted on to get a request through, and a lost one would be blamed on the server"
                    ),
                );
            }
        }
    }
}

/// Header fields the simulated client writes itself (with their compact forms): `headers` may
/// not give them, or the request would carry two and the server's 400 would be blamed on it.
const CLIENT_WRITES: [(&str, Option<&str>); 8] = [
    ("Via", Some("v")),
    ("Call-ID", Some("i")),
    ("CSeq", None),
    ("From", Some("f")),
    ("To", Some("t")),
    ("Content-Length", Some("l")),
    ("Max-Forwards", None),
    ("Route", None),
];

/// The highest `[network] loss` a scenario may ask for.
const MAX_LOSS: f64 = 0.5;

/// The step ids, by step index; a repeated id is a problem.
fn step_ids(s: &Scenario, out: &mut Out<'_, '_>) -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = Vec::new();
    for (i, st) in s.steps.iter().enumerate() {
        if let Some(id) = &st.id {
            if let Some(j) = ids.iter().position(|x| x.as_ref() == Some(id)) {
                let span = out.doc.value(&[K("steps"), I(i), K("id")]);
                out.at(
                    span,
                    format!(
                        "step {}: id \"{id_q}\" is already the id of step {}",
                        i + 1,
                        j + 1,
                        id_q = escape(&id.to_string())
                    ),
                );
            }
        }
        ids.push(st.id.clone());
    }
    ids
}

/// The keys a step may have only when it sends.
const SEND_KEYS: [&str; 11] = [
    "id",
    "from",
    "to",
    "participants",
    "reports_on",
    "accept_contact",
    "headers",
    "pad",
    "template",
    "conversation_id",
    "bye",
];

/// The problems of step `i`; the text of its template, when it has a readable one.
fn step(s: &Scenario, i: usize, ids: &[Option<String>], out: &mut Out<'_, '_>, files: &dyn Files) -> Option<String> {
    let st = &s.steps[i];
    let n = i + 1;
    let here = |k: &'static str| [K("steps"), I(i), K(k)];
    let actions: Vec<&str> = [
        ("send", st.send.is_some()),
        ("register", st.register.is_some()),
        ("deregister", st.deregister.is_some()),
        ("wait", st.wait.is_some()),
    ]
    .iter()
    .filter(|(_, x)| *x)
    .map(|(k, _)| *k)
    .collect();
    if actions.len() != 1 {
        let has = if actions.is_empty() { "none".to_string() } else { actions.join(", ") };
        let span = actions.get(1).map_or_else(|| out.doc.value(&[K("steps"), I(i)]), |k| out.doc.key(&here(k)));
        out.at(span, format!("step {n}: give exactly one of send, register, deregister, wait (this step has {has})"));
    }
    if let Some(who) = &st.register {
        actor(s, out, who, &here("register"), n);
    }
    if let Some(who) = &st.deregister {
        actor(s, out, who, &here("deregister"), n);
    }
    if let Some(w) = &st.wait {
        if parse_duration(w).is_none() {
            out.at(
                out.doc.value(&here("wait")),
                format!(
                    "step {n}: wait \"{w_q}\" is not a duration like \"40s\" or \"500ms\"",
                    w_q = escape(&w.to_string())
                ),
            );
        }
    }
    expectations(s, i, out);
    let Some(svc) = st.send else {
        for k in SEND_KEYS.iter().filter(|k| out.doc.has(&here(k))) {
            out.at(out.doc.key(&here(k)), format!("step {n}: `{k}` only goes with `send` (this step sends nothing)"));
        }
        return None;
    };
    send(s, i, svc, ids, out);
    let t = st.template.as_ref()?;
    template(s, i, svc, t, out, files)
}

/// `name` must be an actor of `s`; `segs` is where it is written.
fn actor(s: &Scenario, out: &mut Out<'_, '_>, name: &str, segs: &[Seg<'_>], n: usize) -> bool {
    if s.actors.contains_key(name) {
        return true;
    }
    let known: Vec<&str> = s.actors.keys().map(String::as_str).collect();
    out.at(
        out.doc.value(segs),
        format!("step {n}: \"{name_q}\" is not an actor (the actors: {})", known.join(", "), name_q = escape(name)),
    );
    false
}

/// The keys of a `send` step.
fn send(s: &Scenario, i: usize, svc: Service, ids: &[Option<String>], out: &mut Out<'_, '_>) {
    let st = &s.steps[i];
    let n = i + 1;
    let here = |k: &'static str| [K("steps"), I(i), K(k)];
    match &st.from {
        Some(f) => {
            actor(s, out, f, &here("from"), n);
        }
        None => out.at(out.doc.key(&here("send")), format!("step {n}: send needs `from`, the actor who sends")),
    }
    if svc == Service::Group {
        if st.to.is_some() {
            out.at(
                out.doc.key(&here("to")),
                format!(
                    "step {n}: a group is sent to the sender's conference factory, not to an actor: name the invitees in `participants`"
                ),
            );
        }
        if st.participants.is_empty() {
            out.at(
                out.doc.key(&here("send")),
                format!("step {n}: send = \"group\" needs `participants`, the actors invited (at least one)"),
            );
        }
        for (j, p) in st.participants.iter().enumerate() {
            let segs = [K("steps"), I(i), K("participants"), I(j)];
            if actor(s, out, p, &segs, n) && st.participants[..j].contains(p) {
                out.at(
                    out.doc.value(&segs),
                    format!("step {n}: participant \"{p_q}\" is listed twice", p_q = escape(&p.to_string())),
                );
            }
        }
    } else {
        match &st.to {
            Some(t) => {
                actor(s, out, t, &here("to"), n);
            }
            None => out.at(out.doc.key(&here("send")), format!("step {n}: send needs `to`, the actor it is for")),
        }
        if out.doc.has(&here("participants")) {
            out.at(
                out.doc.key(&here("participants")),
                format!("step {n}: `participants` only goes with send = \"group\" (this step sends {})", svc.name()),
            );
        }
    }
    all_remote(s, i, svc, out);
    if let Some(r) = &st.reports_on {
        let span = out.doc.value(&here("reports_on"));
        if svc != Service::Imdn {
            out.at(span, format!("step {n}: `reports_on` only goes with send = \"imdn\""));
        } else if !ids[..i].iter().any(|x| x.as_ref() == Some(r)) {
            let later = ids[i..].iter().any(|x| x.as_ref() == Some(r));
            let why = if later { "names a step that comes later" } else { "names no step id" };
            out.at(
                span,
                format!(
                    "step {n}: reports_on \"{r_q}\" {why}: it must name the id of an earlier step",
                    r_q = escape(&r.to_string())
                ),
            );
        }
    }
    if let (Some(_), Some(f)) = (&st.conversation_id, st.from.as_ref().and_then(|f| s.actors.get(f))) {
        if f.kind != crate::base::ClientKind::Cpm {
            out.at(
                out.doc.key(&here("conversation_id")),
                format!(
                    "step {n}: `conversation_id` is for a CPM sender (an IM client sends none); add a Conversation-ID header with `headers` instead"
                ),
            );
        }
    }
    for (j, line) in st.headers.iter().enumerate() {
        let why = header_line_problem(line).or_else(|| {
            let name = line.split_once(':').map_or("", |(x, _)| x.trim());
            CLIENT_WRITES.iter().find(|(long, short)| name.eq_ignore_ascii_case(long) || short.is_some_and(|c| name.eq_ignore_ascii_case(c))).map(|(long, _)| {
                format!(
                    "{long} is written by the client itself; a scenario cannot set it in `headers` (write the whole request in a `template` to send such a request)"
                )
            })
        });
        if let Some(why) = why {
            out.at(out.doc.value(&[K("steps"), I(i), K("headers"), I(j)]), format!("step {n}: headers: {why}"));
        }
    }
    for (j, line) in st.accept_contact.iter().flatten().enumerate() {
        let why = header_line_problem(line).or_else(|| {
            let name = line.split_once(':').map_or("", |(x, _)| x.trim());
            (!name.eq_ignore_ascii_case("accept-contact") && !name.eq_ignore_ascii_case("a")).then(|| {
                format!(
                    "\"{line_q}\" is not an Accept-Contact line (`Accept-Contact: ...` or `a: ...`)",
                    line_q = escape(&line.to_string())
                )
            })
        });
        if let Some(why) = why {
            out.at(
                out.doc.value(&[K("steps"), I(i), K("accept_contact"), I(j)]),
                format!("step {n}: accept_contact: {why}"),
            );
        }
    }
    if st.template.is_some() {
        for k in ["headers", "accept_contact", "pad", "participants"].iter().filter(|k| out.doc.has(&here(k))) {
            out.at(
                out.doc.key(&here(k)),
                format!("step {n}: `{k}` does not apply to a step with a `template`: write it into the template"),
            );
        }
    }
}

/// A step whose every end is a client of the remote CPM network (a remote client writing to
/// itself included): nothing of it passes through the IM server under test, so none of it could
/// be judged (every result would be INCONCLUSIVE). A local client writing to itself is judged:
/// its request passes the server on both its sides.
fn all_remote(s: &Scenario, i: usize, svc: Service, out: &mut Out<'_, '_>) {
    let st = &s.steps[i];
    let remote = |name: &str| s.actors.get(name).map(|a| a.network == Where::Remote);
    let Some(from) = st.from.as_deref().filter(|f| remote(f) == Some(true)) else { return };
    let (others, key): (Vec<&str>, &str) = if svc == Service::Group {
        (st.participants.iter().map(String::as_str).collect(), "participants")
    } else {
        (st.to.as_deref().into_iter().collect(), "to")
    };
    // Only when every end is a known actor (an unknown one is a problem of its own).
    if others.is_empty() || !others.iter().all(|o| remote(o) == Some(true)) {
        return;
    }
    let them = if others == [from] { "it" } else { "one of them" };
    let who = if others == [from] {
        format!("\"{}\" writes to itself, and it is", escape(from))
    } else if svc == Service::Group {
        format!("\"{}\" and every participant are", escape(from))
    } else {
        format!("\"{}\" and \"{}\" are both", escape(from), escape(others[0]))
    };
    out.at(
        out.doc.value(&[K("steps"), I(i), K(key)]),
        format!(
            "step {}: {who} in the remote CPM network ({}): nothing of this step passes through the IM server under test, so none of it could be judged; make {them} a local client (network = \"local\", the default)",
            i + 1,
            world::domain_of(Where::Remote)
        ),
    );
}

/// The expectations of step `i`.
fn expectations(s: &Scenario, i: usize, out: &mut Out<'_, '_>) {
    let st = &s.steps[i];
    let n = i + 1;
    let all = [
        ("expect", &st.expect, None),
        ("expect_level1", &st.expect_level1, Some(Level::One)),
        ("expect_level2", &st.expect_level2, Some(Level::Two)),
    ];
    for (key, e, level) in all {
        let Some(e) = e else { continue };
        if let Some(l) = level.filter(|l| !s.levels.contains(l)) {
            out.at(
                out.doc.key(&[K("steps"), I(i), K(key)]),
                format!("step {n}: `{key}` is never used: the scenario does not run at level {l}"),
            );
        }
        if let Some(code) = e.status {
            let span = out.doc.value(&[K("steps"), I(i), K(key), K("status")]);
            if !(200..=699).contains(&code.as_u16()) {
                out.at(span, format!("step {n}: status {code} is not a final response code (200 to 699)"));
            } else if st.send.is_none() {
                out.at(
                    span,
                    format!("step {n}: `status` needs a step that sends: only a request gets a final response"),
                );
            }
        }
        for (list, names) in [("delivered_to", &e.delivered_to), ("nothing_to", &e.nothing_to)] {
            for (j, a) in names.iter().enumerate() {
                let segs = [K("steps"), I(i), K(key), K(list), I(j)];
                let known = actor(s, out, a, &segs, n);
                if known && list == "delivered_to" {
                    delivery(st, a, out, &segs, n);
                }
                if known && list == "nothing_to" && e.delivered_to.contains(a) {
                    out.at(
                        out.doc.value(&segs),
                        format!(
                            "step {n}: \"{a_q}\" is in both delivered_to and nothing_to",
                            a_q = escape(&a.to_string())
                        ),
                    );
                }
            }
        }
    }
}

/// `delivered_to` entry `a` of step `st` (number `n`, written at `segs`): only the actor a step
/// sends to (its `to`, or a group's participants) can receive its request.
fn delivery(st: &Step, a: &str, out: &mut Out<'_, '_>, segs: &[Seg<'_>], n: usize) {
    let a_q = escape(a);
    let why = match st.send {
        // A register or wait step: any actor may receive something late (a message stored
        // for an IM client and delivered when it registers, or a slow delivery).
        None => return,
        Some(Service::Group) if !st.participants.iter().any(|p| p == a) => format!(
            "step {n}: delivered_to \"{a_q}\" is not a participant: a group's request reaches the actors in `participants`"
        ),
        Some(Service::Group) => return,
        // Without `to` the step is refused for that already.
        Some(_) => match st.to.as_deref() {
            Some(t) if t != a => format!(
                "step {n}: delivered_to \"{a_q}\" is not the actor the step sends to (\"{}\"): only `to` can receive its request",
                escape(t)
            ),
            _ => return,
        },
    };
    out.at(out.doc.value(segs), why);
}

/// Read and check the template `t` of step `i`; its text when it could be read.
fn template(s: &Scenario, i: usize, svc: Service, t: &str, out: &mut Out<'_, '_>, files: &dyn Files) -> Option<String> {
    let n = i + 1;
    let path = s.path.parent().unwrap_or(Path::new("")).join(t);
    let text = match files.read(&path) {
        Ok(x) => x,
        Err(e) => {
            let span = out.doc.value(&[K("steps"), I(i), K("template")]);
            out.at(span, format!("step {n}: cannot read the template {}: {e}", path.display()));
            return None;
        }
    };
    let shown = path.display().to_string();
    for (span, why) in template_problems(&text, svc) {
        out.problems.push(Problem::at(&shown, &text, span, format!("template of step {n} in {}: {why}", out.doc.path)));
    }
    Some(text)
}

/// Build the request of `send` step `i` as its client would, in a world of the simulation's
/// names, and check that the client could send it.
fn dry_send(s: &Scenario, i: usize, out: &mut Out<'_, '_>) {
    let st: &Step = &s.steps[i];
    let (Some(svc), Some(from)) = (st.send, st.from.as_deref()) else { return };
    let Some(sender) = s.actors.get(from) else { return };
    let aor = |name: &str| -> String {
        let w = s.actors.get(name).map_or(Where::Local, |a| a.network);
        format!("sip:{name}@{}", world::domain_of(w))
    };
    let plan = world::AddressPlan::sim();
    let core = plan.core_of(sender.network);
    let mut ue = Ue::new(UeConfig {
        name: from.to_string(),
        aor: aor(from),
        kind: sender.kind,
        addr: plan.ue(sender.network == Where::Remote, 0),
        transport: if s.transport == "udp" { Transport::Udp } else { Transport::Tcp },
        core: (world::CORE_HOST.into(), core),
        domain: world::domain_of(sender.network).into(),
        hosts: Default::default(),
        seed: 0,
    });
    let to = match (svc, st.to.as_deref()) {
        (Service::Group, _) => world::factory_uri(sender.network),
        (_, Some(t)) => aor(t),
        _ => return,
    };
    let opts = SendOptions {
        accept_contact: st.accept_contact.clone(),
        extra: st.headers.clone(),
        pad: st.pad,
        participants: st.participants.iter().map(|p| aor(p)).collect(),
        reports_on: st.reports_on.as_ref().map(|_| "m0000000000".to_string()),
        template: st.template_text.clone(),
        bye: st.bye.unwrap_or(true),
        conversation_id: st.conversation_id.clone(),
    };
    if let Err(why) = ue.preview(svc, &to, &opts) {
        let key = if st.template.is_some() { "template" } else { "send" };
        let span = out.doc.key(&[K("steps"), I(i), K(key)]);
        out.at(span, format!("step {}: the client could not send this request: {why}", i + 1));
    }
}
