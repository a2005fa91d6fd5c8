//! Pair rules: one request entering the IM server, and what left it. Each violation is reported
//! under exactly one requirement ID, the most specific (docs/decisions.md D11): a forgotten large-message tag
//! is `T1.TERM.LMM`, not also `T3.MAP`. Comparison is semantic where RFC 3840 says order does
//! not matter, byte-exact for bodies and untouched headers.

use super::context::{Egress, PairContext};
use super::judge::Judge;
use super::meaning;
use super::values::{self, ValueView};
use crate::base::Direction;
use crate::base::Level;
use crate::base::Service;
use crate::base::Transport;
use crate::base::{ClientKind, SessionCase};
use crate::interop::classify::{Form, Identifiers};
use crate::interop::finding::{Finding, Location, Verdict};
use crate::interop::rules::Family;
use crate::interop::rules::ReqId;
use crate::interop::table::{CpmIcsi, ICSI_REF, IM_TAG, LMM_TAG};
use crate::interop::wellformed;
use crate::sip::StatusCode;
use crate::sip::params::{is_valid_conv_id, norm};
use crate::sip::{HeaderName, Message, Method, Span, StartLine};

/// What the server should do with an ingress request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// Forward it, rewritten in `dir`, judged under the family's per-service ID.
    Map {
        /// Direction.
        dir: Direction,
        /// The requirement family.
        family: Family,
        /// The service.
        service: Service,
    },
    /// Forward it without an Appendix T mapping (IM to IM, CPM to a CPM client, other methods).
    PassThrough,
    /// Answer 403 (level 1, a local CPM client originating: D7).
    Reject403,
    /// Answer 480 (offline local CPM client: D3).
    Offline,
    /// Level 2 and the client kind is unknown: the Appendix T rules are INCONCLUSIVE.
    Unknown,
}

/// Decide what the server should do (docs/decisions.md D3, D7, D8, D13, D14).
pub fn expectation(ctx: &PairContext, ingress: &Message) -> Expectation {
    expectation_of(ctx, &Identifiers::new(ingress))
}

/// [`expectation`] of a request whose identifiers are read already.
pub(crate) fn expectation_of(ctx: &PairContext, ids: &Identifiers<'_>) -> Expectation {
    let Some(service) = ids.classify() else { return Expectation::PassThrough };
    let form = ids.form();
    match ctx.case {
        SessionCase::Term => {
            // D8: at level 1 every local user is treated as an IM user for delivery.
            let kind = if ctx.level == Level::One { Some(ClientKind::Im) } else { ctx.client };
            match (kind, form) {
                (None, _) => Expectation::Unknown,
                (Some(ClientKind::Im), Form::Cpm) => {
                    Expectation::Map { dir: Direction::CpmToIm, family: Family::T1Term, service }
                }
                (Some(ClientKind::Im), _) => Expectation::PassThrough,
                (Some(ClientKind::Cpm), _) if ctx.online == Some(false) => Expectation::Offline,
                (Some(ClientKind::Cpm), Form::Cpm | Form::Negated) => Expectation::PassThrough,
                (Some(ClientKind::Cpm), _) => {
                    Expectation::Map { dir: Direction::ImToCpm, family: Family::T2Term, service }
                }
            }
        }
        SessionCase::Orig => {
            // A CPM-form request on the originating side comes from a CPM client.
            let kind = ctx.client.or(if form == Form::Cpm { Some(ClientKind::Cpm) } else { None });
            match (kind, form) {
                // D7: a level-1 server serves no local CPM client, whatever else it registered.
                (_, Form::Cpm) if ctx.level == Level::One => Expectation::Reject403,
                (Some(ClientKind::Cpm), Form::Cpm) => {
                    Expectation::Map { dir: Direction::CpmToIm, family: Family::T2Orig, service }
                }
                _ => Expectation::PassThrough,
            }
        }
    }
}

/// True when the request is delivered to a local CPM client (level 2, terminating).
fn to_local_cpm(ctx: &PairContext) -> bool {
    ctx.level == Level::Two && ctx.case == SessionCase::Term && ctx.client == Some(ClientKind::Cpm)
}

/// Judge one pair.
pub fn check_pair(ctx: &PairContext, ingress: &Message, egress: Egress<'_>) -> Vec<Finding> {
    check_pair_of(ctx, ingress, &Identifiers::new(ingress), egress)
}

/// [`check_pair`] of a request whose identifiers are read already.
pub(crate) fn check_pair_of(
    ctx: &PairContext,
    ingress: &Message,
    ids: &Identifiers<'_>,
    egress: Egress<'_>,
) -> Vec<Finding> {
    let mut j = Judge::default();
    let p = Pos { ctx, ingress, ids, views: Views::new(ingress) };
    let pass_loc = p.loc_egress(None, None);

    // D15 first: malformed must-parse input is rejected, never repaired and forwarded.
    if let Err(e) = wellformed::validate(ingress) {
        let exp = format!("400 (or dropped) for malformed input: {e}");
        match egress {
            Egress::Forwarded(_) => j.violation(ReqId::SIP_ROBUST, exp, "forwarded", p.loc_egress(None, None)),
            Egress::Responded(r) if r.status() == Some(e.status()) => j.checked(ReqId::SIP_ROBUST, exp),
            Egress::Responded(r) => {
                j.violation(ReqId::SIP_ROBUST, exp, format!("answered {}", status(r)), p.loc_resp())
            }
            // Dropping it is allowed; but where the trace may miss messages, a forward of it
            // may be what is missing.
            Egress::Nothing if ctx.complete => j.checked(ReqId::SIP_ROBUST, exp),
            Egress::Nothing => j.push(
                ReqId::SIP_ROBUST,
                Verdict::Inconclusive,
                exp,
                "nothing seen from the server (neither the 400 nor a forward)",
                Location { message: ctx.ingress_index.map(Location::number), ..Location::default() },
            ),
        }
        return j.finish(pass_loc);
    }
    // Max-Forwards 0: 483 (RFC 3261 §16.3 step 3).
    // An OPTIONS may instead be answered by the proxy itself as a UAS; none is forwarded.
    if ingress.max_forwards().ok().flatten() == Some(0) {
        let options = ingress.method() == Some(&Method::Options);
        let exp = if options {
            "answered (483, or as a UAS) for Max-Forwards 0, never forwarded"
        } else {
            "483 Too Many Hops for Max-Forwards 0"
        };
        match egress {
            Egress::Responded(r) if r.status() == Some(StatusCode::TOO_MANY_HOPS) => j.checked(ReqId::SIP_PROXY, exp),
            Egress::Responded(r) if options && r.status().is_some_and(StatusCode::is_final) => {
                j.checked(ReqId::SIP_PROXY, exp)
            }
            Egress::Responded(r) => j.violation(ReqId::SIP_PROXY, exp, format!("answered {}", status(r)), p.loc_resp()),
            Egress::Forwarded(_) => j.violation(ReqId::SIP_PROXY, exp, "forwarded", p.loc_egress(None, None)),
            Egress::Nothing => nothing(&mut j, ctx, ReqId::SIP_PROXY, exp),
        }
        return j.finish(pass_loc);
    }

    let exp = expectation_of(ctx, ids);
    match (exp, egress) {
        (Expectation::Reject403, e) => judge_reject(
            &mut j,
            &p,
            e,
            ReqId::T1_NO_LOCAL_CPM,
            StatusCode::FORBIDDEN,
            "403 Forbidden: a level-1 server serves no local CPM client",
            Lowering::None,
        ),
        (Expectation::Offline, e) => judge_reject(
            &mut j,
            &p,
            e,
            ReqId::T2_ONLINE_ONLY,
            StatusCode::TEMPORARILY_UNAVAILABLE,
            "480 Temporarily Unavailable: no deferred delivery to an offline CPM client",
            Lowering::Offline,
        ),
        (exp, Egress::Forwarded(eg)) => {
            if ctx.role == crate::base::Role::Proxy {
                judge_proxy(&mut j, &p, eg);
            }
            let eg_ids = Identifiers::new(eg);
            let ev = Views::new(eg);
            judge_preserve(&mut j, &p, eg, &ev, &eg_ids, exp);
            judge_framing(&mut j, &p, eg);
            judge_invented(&mut j, &p, &ev, &eg_ids, exp);
            match exp {
                Expectation::Map { dir: Direction::CpmToIm, family, service } => {
                    judge_cpm_to_im(&mut j, &p, eg, &ev, ReqId::of_service(family, service), service);
                }
                Expectation::Map { dir: Direction::ImToCpm, family, service } => {
                    judge_im_to_cpm(&mut j, &p, eg, &ev, ReqId::of_service(family, service), service);
                }
                Expectation::Unknown => j.push(
                    ReqId::T2_CONVID_ADDED,
                    Verdict::Inconclusive,
                    "the recipient's client kind (IM or CPM), from a third-party REGISTER or --users",
                    "unknown at level 2",
                    p.loc_ingress(None, None),
                ),
                _ => {}
            }
            // A request whose only IM tags are negated is forwarded unchanged (a negated tag is no IM tag: it is not an IM request).
            // Conversation identity goes with the contributions (MESSAGE, INVITE), not with the
            // rest of a dialog (BYE, UPDATE, ...).
            if to_local_cpm(ctx) && ids.form() != Form::Negated && ids.classify().is_some() {
                judge_conv_ids(&mut j, &p, eg);
            }
        }
        // A request the server could have parsed (D15: malformed elsewhere is forwarded
        // untouched). A mapped request refused although every header was well-formed (e.g. a
        // tolerated spelling, D12) is a failure to map, judged below under the service's ID.
        (exp, Egress::Responded(r))
            if r.status() == Some(StatusCode::BAD_REQUEST)
                && (!matches!(exp, Expectation::Map { .. }) || wellformed::malformed_elsewhere(ingress)) =>
        {
            j.violation(
                ReqId::SIP_ROBUST,
                "forwarded: every header the server must parse is well-formed (decisions.md#d15)",
                "answered 400",
                p.loc_resp(),
            );
        }
        (Expectation::Map { family, service, .. }, Egress::Responded(r)) => {
            let id = ReqId::of_service(family, service);
            answered_instead(&mut j, &p, id, "the request forwarded in the mapped form", r);
        }
        (Expectation::Map { family, service, .. }, Egress::Nothing) => {
            nothing(&mut j, ctx, ReqId::of_service(family, service), "the request forwarded in the mapped form");
        }
        // Nothing to map, but still the server's to send on toward its client (NOTE 1, NOTE 2).
        (Expectation::PassThrough, Egress::Nothing) => {
            nothing(&mut j, ctx, ReqId::ROUTE_VIA_IMS, "the request sent on toward the next hop");
        }
        (Expectation::PassThrough, Egress::Responded(r)) if r.status().is_some_and(StatusCode::is_final) => {
            answered_instead(
                &mut j,
                &p,
                ReqId::ROUTE_VIA_IMS,
                "the request sent on toward the next hop (nothing to map, nothing to refuse)",
                r,
            );
        }
        _ => {}
    }
    j.finish(pass_loc)
}

fn status(r: &Message) -> String {
    match r.start() {
        StartLine::Response { code, reason } => format!("{code} {}", r.text(*reason)),
        StartLine::Request { .. } => "a request".into(),
    }
}

/// The server answered a request it should have sent on, and nothing it sent on was seen: a
/// violation, unless the observer lost messages ([`PairContext::lossy`]) and the answer is the
/// one a server gives on its own when a forward of its is never answered (408 Request Timeout,
/// RFC 3261 §16.7 step 6, or 504 Server Time-out): the lossy observer is the downstream side
/// too, so a forward it lost was never answered, and the pair is INCONCLUSIVE. Any other answer
/// proves the server answered instead of forwarding, whatever was lost.
fn answered_instead(j: &mut Judge, p: &Pos<'_>, id: ReqId, exp: &str, r: &Message) {
    let timeout = matches!(r.status().map(|c| c.as_u16()), Some(408 | 504));
    if p.ctx.lossy && timeout {
        j.push(
            id,
            Verdict::Inconclusive,
            exp,
            format!(
                "answered {}, no forward seen; the observer lost messages: a forward of the server's may have been lost, and this its timeout",
                status(r)
            ),
            p.loc_resp(),
        );
    } else {
        j.violation(id, exp, format!("answered {}", status(r)), p.loc_resp());
    }
}

fn nothing(j: &mut Judge, ctx: &PairContext, id: ReqId, exp: &str) {
    let verdict = if ctx.complete { Verdict::Fail } else { Verdict::Inconclusive };
    j.push(
        id,
        verdict,
        exp,
        "nothing left the server",
        Location { message: ctx.ingress_index.map(Location::number), ..Location::default() },
    );
}

/// How a refusal that is not the expected code is graded. Each lowering below the
/// requirement's grade comes from a decision; there is no generic one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lowering {
    /// None: anything but the code is a violation (D7: 403).
    None,
    /// D3: any other 4xx/5xx, and forwarding (neither storing nor a later delivery; the trace
    /// rules still make a later delivery a FAIL), are NON-STRICT.
    Offline,
}

fn judge_reject(j: &mut Judge, p: &Pos<'_>, e: Egress<'_>, id: ReqId, code: StatusCode, exp: &str, low: Lowering) {
    match e {
        Egress::Responded(r) if r.status() == Some(code) => j.checked(id, exp),
        Egress::Responded(r)
            if low == Lowering::Offline && r.status().is_some_and(|c| (400..600).contains(&c.as_u16())) =>
        {
            j.push(id, Verdict::NonStrict, exp, format!("answered {}", status(r)), p.loc_resp());
        }
        Egress::Responded(r) => j.violation(id, exp, format!("answered {}", status(r)), p.loc_resp()),
        Egress::Forwarded(_) if low == Lowering::Offline => {
            j.push(id, Verdict::NonStrict, exp, "forwarded toward the offline client", p.loc_egress(None, None));
        }
        Egress::Forwarded(_) => j.violation(id, exp, "forwarded", p.loc_egress(None, None)),
        Egress::Nothing => nothing(j, p.ctx, id, exp),
    }
}

/// Positions for locations.
struct Pos<'a> {
    ctx: &'a PairContext,
    ingress: &'a Message,
    /// The ingress's identifiers.
    ids: &'a Identifiers<'a>,
    /// The ingress's Accept-Contact and Contact values.
    views: Views<'a>,
}

/// The Accept-Contact and Contact values of one message, each seen ([`ValueView`]) once, when
/// first asked for, however many rules look at them.
struct Views<'m> {
    m: &'m Message,
    /// Per [`TARGETS`] entry: the values' spans and views.
    sets: [std::cell::OnceCell<(Vec<Span>, Vec<ValueView<'m>>)>; 2],
}

impl<'m> Views<'m> {
    fn new(m: &'m Message) -> Views<'m> {
        Views { m, sets: Default::default() }
    }
    /// The values of `TARGETS[t]`: their spans and views, in order.
    fn of(&self, t: usize) -> (&[Span], &[ValueView<'m>]) {
        let (spans, views) = self.sets[t].get_or_init(|| {
            let spans = self.m.list_values(&TARGETS[t]);
            let views = spans.iter().map(|s| ValueView::new(self.m.bytes(), *s)).collect();
            (spans, views)
        });
        (spans, views)
    }
    /// The values of `name` when it is one of [`TARGETS`].
    fn named(&self, name: &HeaderName) -> Option<(&[Span], &[ValueView<'m>])> {
        TARGETS.iter().position(|t| t == name).map(|t| self.of(t))
    }
}

impl Pos<'_> {
    fn loc(&self, msg: Option<&Message>, index: Option<usize>, side: &str, span: Option<Span>) -> Location {
        let mut l =
            Location { message: index.map(Location::number), side: Some(side.to_string()), ..Location::default() };
        if let (Some(m), Some(s)) = (msg, span) {
            if let Some(h) = m.headers().iter().find(|h| h.line.contains(s) || h.line.start == s.start) {
                l.line = Some(h.line_no);
                l.header = Some(h.name.canonical().to_string());
            } else if s.start >= m.body_span().start {
                l.header = Some("body".into());
            } else {
                l.line = Some(1);
            }
        }
        l
    }
    fn loc_ingress(&self, _m: Option<&Message>, span: Option<Span>) -> Location {
        self.loc(Some(self.ingress), self.ctx.ingress_index, "ingress", span)
    }
    fn loc_egress(&self, eg: Option<&Message>, span: Option<Span>) -> Location {
        self.loc(eg, self.ctx.egress_index, "egress", span)
    }
    fn loc_resp(&self) -> Location {
        Location {
            message: self.ctx.egress_index.map(Location::number),
            side: Some("response".into()),
            line: Some(1),
            header: None,
            time: None,
        }
    }
    fn header_loc(&self, eg: &Message, name: &HeaderName) -> Location {
        match eg.first(name) {
            Some(h) => self.loc_egress(Some(eg), Some(h.line)),
            None => Location { header: Some(name.canonical().to_string()), ..self.loc_egress(None, None) },
        }
    }
}

fn judge_proxy(j: &mut Judge, p: &Pos<'_>, eg: &Message) {
    let ing = p.ingress;
    j.checked(ReqId::SIP_PROXY, "own Via on top, Max-Forwards - 1, own Route entry removed");
    // Compared by meaning (D19) and without `received`/`rport`, which the next hops may add
    // (RFC 3261 §18.2.1).
    let via = |m: &Message, s: &Span| meaning::canonical(&HeaderName::Via, &crate::sip::uri::via_key(m.bytes(), *s));
    let (si, se) = (ing.list_values(&HeaderName::Via), eg.list_values(&HeaderName::Via));
    // Values spelled exactly alike mean the same: their meaning is worked out only when not.
    let same = |a: &Span, b: &Span| ing.slice(*a) == eg.slice(*b) || via(ing, a) == via(eg, b);
    let via_loc = p.header_loc(eg, &HeaderName::Via);
    let (vi, ve) = (&si, &se);
    if ve.len() != vi.len() + 1 || !vi.iter().zip(&ve[1..]).all(|(a, b)| same(a, b)) {
        j.violation(
            ReqId::SIP_PROXY,
            format!("{} Via values: its own on top, then the {} received unchanged", vi.len() + 1, vi.len()),
            format!("{} Via values{}", ve.len(), if ve.len() == vi.len() + 1 { ", received ones altered" } else { "" }),
            via_loc.clone(),
        );
    }
    let bi = ing.top_via_branch().unwrap_or_default();
    match eg.top_via_branch() {
        Some(b) if b.starts_with("z9hG4bK") && b != bi => {}
        other => j.violation(
            ReqId::SIP_PROXY,
            "a fresh branch starting with z9hG4bK on its own Via",
            format!("branch {:?}", other.unwrap_or_default()),
            via_loc,
        ),
    }
    let mi = ing.max_forwards().ok().flatten();
    let me = eg.max_forwards().ok().flatten();
    // Without one, the proxy adds one (RFC 3261 §16.6 step 3: SHOULD be 70, so any value).
    let want = mi.map_or(me.filter(|m| *m > 0).unwrap_or(70), |m| m.saturating_sub(1));
    if me != Some(want) {
        j.violation(
            ReqId::SIP_PROXY,
            format!("Max-Forwards: {want}"),
            format!("Max-Forwards: {}", me.map_or("absent".into(), |m| m.to_string())),
            p.header_loc(eg, &HeaderName::MaxForwards),
        );
    }
    let (ri, re) = (Entries::new(ing, &HeaderName::Route), Entries::new(eg, &HeaderName::Route));
    let text = |m: &Message, k: usize| {
        m.list_values(&HeaderName::Route).get(k).map(|s| m.text(*s).into_owned()).unwrap_or_default()
    };
    // The ISC Route set is judged on initial requests; in-dialog requests follow the dialog's
    // route set, which may end at the server.
    // A Route set that still starts with the server's own entry is a pop defect (below), not a
    // misroute.
    if ri.len() >= 2 && ing.to_tag().is_none() && (re.len() == 0 || !re.same(0, &ri, 0)) {
        j.checked(ReqId::ROUTE_VIA_IMS, "sent on toward the next hop of the ISC Route set");
        if !(0..re.len()).any(|k| re.same(k, &ri, 1)) {
            j.violation(
                ReqId::ROUTE_VIA_IMS,
                format!("top Route {}", text(ing, 1)),
                if re.len() == 0 {
                    "no Route: sent straight to the UE".to_string()
                } else {
                    format!("top Route {}", text(eg, 0))
                },
                p.header_loc(eg, &HeaderName::Route),
            );
            return;
        }
    }
    // The server's own entry is the first; repeated own entries right after it (it Record-Routed
    // on two passes) may be popped with it.
    ri.borrow_keys(&re);
    let own = (0..ri.len()).take_while(|&k| ri.same(k, &ri, 0)).count();
    if ri.len() > 0 && (1..=own).all(|k| !re.tail_is(0, &ri, k)) {
        let obs = if re.tail_is(0, &ri, 0) {
            "its own Route entry still on top".to_string()
        } else {
            format!("Route set {}", (0..re.len()).map(|k| text(eg, k)).collect::<Vec<_>>().join(", "))
        };
        j.violation(
            ReqId::SIP_PROXY,
            "the received Route set minus its own entry",
            obs,
            p.header_loc(eg, &HeaderName::Route),
        );
    }
}

/// The first field's value as spelled.
fn first_raw<'m>(m: &'m Message, name: &HeaderName) -> Option<&'m [u8]> {
    m.first(name).map(|h| m.slice(h.value))
}

/// The Route (or Record-Route) entries of one message, compared by meaning ([`route_key`]). An
/// entry's key is worked out only when its spelling differs from the entry it is compared with:
/// entries spelled exactly alike mean the same.
struct Entries<'a> {
    m: &'a Message,
    spans: Vec<Span>,
    keys: Vec<std::cell::OnceCell<Vec<u8>>>,
}

impl<'a> Entries<'a> {
    fn new(m: &'a Message, name: &HeaderName) -> Entries<'a> {
        let spans = m.list_values(name);
        let keys = spans.iter().map(|_| std::cell::OnceCell::new()).collect();
        Entries { m, spans, keys }
    }
    fn len(&self) -> usize {
        self.spans.len()
    }
    fn key(&self, k: usize) -> &[u8] {
        self.keys[k].get_or_init(|| route_key(self.m, self.spans[k]))
    }
    /// Take the keys `other` has worked out for entries spelled as some of these (an entry's
    /// key depends on its spelling alone): the Route entry the server should have popped to
    /// the top is usually spelled in both messages alike.
    fn borrow_keys(&self, other: &Entries<'_>) {
        for (k, cell) in self.keys.iter().enumerate() {
            if cell.get().is_some() {
                continue;
            }
            let spelled = self.m.slice(self.spans[k]);
            let known = (0..other.len())
                .filter(|&o| other.m.slice(other.spans[o]) == spelled)
                .find_map(|o| other.keys[o].get());
            if let Some(key) = known {
                let _ = cell.set(key.clone());
            }
        }
    }
    /// Entry `k` here means what entry `o` of `other` means.
    fn same(&self, k: usize, other: &Entries<'_>, o: usize) -> bool {
        self.m.slice(self.spans[k]) == other.m.slice(other.spans[o]) || self.key(k) == other.key(o)
    }
    /// The entries from `k` on are, one for one, `other`'s entries from `o` on.
    fn tail_is(&self, k: usize, other: &Entries<'_>, o: usize) -> bool {
        self.len().checked_sub(k) == other.len().checked_sub(o)
            && (0..self.len().saturating_sub(k)).all(|d| self.same(k + d, other, o + d))
    }
}

/// A Route or Record-Route entry by meaning: the URI's scheme, user, host and port and its
/// parameters in any order (RFC 3261 §19.1.4), then the header parameters; the display name
/// and spelling are free. An entry that does not parse compares by its canonical text.
fn route_key(m: &Message, v: Span) -> Vec<u8> {
    let buf = m.bytes();
    let Some(na) = crate::sip::NameAddr::parse(buf, v) else {
        return meaning::canonical(&HeaderName::Route, v.of(buf));
    };
    let uri = crate::sip::lossy(na.uri.of(buf));
    let Some(u) = crate::sip::uri::SipUriRef::parse(&uri) else {
        return meaning::canonical(&HeaderName::Route, v.of(buf));
    };
    // `scheme:user@host:port;n=v;...|n=v;...`: scheme, host and parameter names lowercased,
    // each parameter list sorted as the text `n=v`.
    let mut params: Vec<(&str, &str)> = u.params().map(|(n, v)| (n, v.unwrap_or(""))).collect();
    params.sort_by(|a, b| entry_cmp(a.0, a.1, b.0, b.1));
    let mut hp: Vec<_> = na.params.params.iter().map(|p| (p.name_text(buf), p.value_text(buf))).collect();
    hp.sort_by(|a, b| entry_cmp(&a.0, &a.1, &b.0, &b.1));
    let mut out = String::with_capacity(uri.len() + 16);
    let lower = |out: &mut String, s: &str| {
        let at = out.len();
        out.push_str(s);
        out[at..].make_ascii_lowercase();
    };
    lower(&mut out, u.scheme);
    out.push(':');
    out.push_str(u.user.unwrap_or(""));
    out.push('@');
    lower(&mut out, u.host);
    out.push(':');
    if let Some(p) = u.port {
        use std::fmt::Write;
        let _ = write!(out, "{p}");
    }
    let list = |out: &mut String, entries: &mut dyn Iterator<Item = (&str, &str)>| {
        for (k, (n, v)) in entries.enumerate() {
            if k > 0 {
                out.push(';');
            }
            lower(out, n);
            out.push('=');
            out.push_str(v);
        }
    };
    out.push(';');
    list(&mut out, &mut params.iter().copied());
    out.push('|');
    list(&mut out, &mut hp.iter().map(|(n, v)| (&**n, &**v)));
    out.into_bytes()
}

/// The order of two parameters as the texts `name=value` with the names lowercased, without
/// writing them.
fn entry_cmp(an: &str, av: &str, bn: &str, bv: &str) -> std::cmp::Ordering {
    let a = an.bytes().map(|c| c.to_ascii_lowercase()).chain(std::iter::once(b'=')).chain(av.bytes());
    let b = bn.bytes().map(|c| c.to_ascii_lowercase()).chain(std::iter::once(b'=')).chain(bv.bytes());
    a.cmp(b)
}

/// Headers whose change the preserve rule does not judge (other rules do).
fn managed(name: &HeaderName, exp: Expectation, to_cpm: bool) -> bool {
    let always = matches!(
        name,
        HeaderName::Via
            | HeaderName::Route
            | HeaderName::RecordRoute
            | HeaderName::MaxForwards
            | HeaderName::ContentLength
    );
    let mapped = matches!(exp, Expectation::Map { .. } | Expectation::Unknown)
        && matches!(
            name,
            HeaderName::AcceptContact
                | HeaderName::Contact
                | HeaderName::PAssertedService
                | HeaderName::PPreferredService
        );
    let ids = to_cpm
        && matches!(name, HeaderName::ConversationId | HeaderName::ContributionId | HeaderName::PAssertedService);
    always || mapped || ids
}

fn judge_preserve(
    j: &mut Judge,
    p: &Pos<'_>,
    eg: &Message,
    ev: &Views<'_>,
    eg_ids: &Identifiers<'_>,
    exp: Expectation,
) {
    let ing = p.ingress;
    j.checked(ReqId::SIP_PRESERVE, "Request-URI, From, To, Call-ID, CSeq, body and unrelated headers unchanged");
    // Record-Route: the proxy may add its own entries on top, never drop or change others.
    let rri = Entries::new(ing, &HeaderName::RecordRoute);
    let rre = Entries::new(eg, &HeaderName::RecordRoute);
    if rre.len() < rri.len() || !rre.tail_is(rre.len() - rri.len(), &rri, 0) {
        j.violation(
            ReqId::SIP_PRESERVE,
            format!("the {} received Record-Route entries kept below any the server adds", rri.len()),
            format!("{} Record-Route entries", rre.len()),
            p.header_loc(eg, &HeaderName::RecordRoute),
        );
    }
    if let (StartLine::Request { method: mi, uri: ui }, StartLine::Request { method: me, uri: ue }) =
        (ing.start(), eg.start())
    {
        if mi != me || ing.slice(*ui) != eg.slice(*ue) {
            j.violation(
                ReqId::SIP_PRESERVE,
                format!("request line {} {}", mi, ing.text(*ui)),
                format!("{} {}", me, eg.text(*ue)),
                p.loc_egress(Some(eg), Some(eg.start_line_span())),
            );
        }
    }
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq] {
        // By meaning (D19), except the Call-ID, which is compared exactly (RFC 3261 §8.1.1.4).
        let view = |m: &Message| {
            m.first(&name).map(|h| {
                let v = m.slice(h.value);
                if name == HeaderName::CallId { v.trim_ascii().to_vec() } else { meaning::canonical(&name, v) }
            })
        };
        if first_raw(ing, &name) != first_raw(eg, &name) && view(ing) != view(eg) {
            let a = ing.first(&name).map(|h| ing.value(h).into_owned());
            let b = eg.first(&name).map(|h| eg.value(h).into_owned());
            j.violation(
                ReqId::SIP_PRESERVE,
                format!("{}: {}", name.canonical(), a.as_deref().unwrap_or("(absent)")),
                b.unwrap_or_else(|| "(absent)".into()),
                p.header_loc(eg, &name),
            );
        }
    }
    if ing.body() != eg.body() {
        let at =
            ing.body().iter().zip(eg.body()).position(|(a, b)| a != b).unwrap_or(ing.body().len().min(eg.body().len()));
        j.violation(
            ReqId::SIP_PRESERVE,
            format!("the body unchanged ({} bytes)", ing.body().len()),
            format!("{} bytes, first difference at body byte {at}", eg.body().len()),
            Location { header: Some("body".into()), ..p.loc_egress(None, None) },
        );
    }
    let to_cpm = to_local_cpm(p.ctx) && p.ids.form() != Form::Negated && p.ids.classify().is_some();
    // A request that is not an IM request (its only IM tags are negated) is forwarded unchanged:
    // nothing added either (no Conversation-ID, Contribution-ID or Accept-Contact; an added
    // CPM P-Asserted-Service is T3.MAP's, as an invented ICSI).
    let invented = eg_ids.cpm_icsis().iter().any(|c| !p.ids.cpm_icsis().contains(c));
    if to_local_cpm(p.ctx) && p.ids.form() == Form::Negated && !invented {
        for name in
            [HeaderName::ConversationId, HeaderName::ContributionId, HeaderName::AcceptContact, HeaderName::Contact]
        {
            let (a, b) = (ing.list_iter(&name).count(), eg.list_iter(&name).count());
            if b > a {
                j.violation(
                    ReqId::SIP_PRESERVE,
                    format!(
                        "{} as received ({a} values): a request that is not an IM request is forwarded unchanged",
                        name.canonical()
                    ),
                    format!("{b} values"),
                    p.header_loc(eg, &name),
                );
            }
        }
    }
    // Every other header by meaning (D19): per name, the sequence of values (Accept-Contact: the
    // multiset); the order of fields with different names is free.
    let mut seen: Vec<&HeaderName> = Vec::new();
    for h in ing.headers() {
        if seen.contains(&&h.name) || managed(&h.name, exp, to_cpm) {
            continue;
        }
        seen.push(&h.name);
        if matches!(h.name, HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq) {
            continue;
        }
        // Fields spelled exactly alike, in the same order, mean the same.
        if ing.all(&h.name).map(|x| ing.slice(x.value)).eq(eg.all(&h.name).map(|x| eg.slice(x.value))) {
            continue;
        }
        // Accept-Contact and Contact values as feature-parameter sets (RFC 3840: parameter order
        // and name case are free; Accept-Contact order too, D19).
        if let (Some((_, vi)), Some((_, ve))) = (p.views.named(&h.name), ev.named(&h.name)) {
            let same = vi.len() == ve.len()
                && if h.name == HeaderName::Contact {
                    vi.iter().zip(ve).all(|(x, y)| values::same_meaning(x, y))
                } else {
                    let mut used = vec![false; ve.len()];
                    vi.iter().all(|x| match (0..ve.len()).find(|&k| !used[k] && values::same_meaning(x, &ve[k])) {
                        Some(k) => {
                            used[k] = true;
                            true
                        }
                        None => false,
                    })
                };
            if same {
                continue;
            }
        }
        let a = meaning::values(ing, &h.name);
        let b = meaning::values(eg, &h.name);
        if a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0) {
            continue;
        }
        // One defect, one ID: a CPM ICSI invented in these values is T3.MAP's; a malformed
        // header the server need not parse, changed, is SIP.ROBUST's (D15: forwarded untouched).
        if matches!(h.name, HeaderName::AcceptContact | HeaderName::Contact) && invented {
            continue;
        }
        if ing.all(&h.name).any(|x| wellformed::bad_optional(&h.name, ing.slice(x.value))) {
            j.violation(
                ReqId::SIP_ROBUST,
                format!(
                    "{}: {} forwarded untouched (malformed, not needed by the server)",
                    h.name.canonical(),
                    ing.value(h)
                ),
                "changed or removed",
                p.loc_ingress(None, Some(h.line)),
            );
            continue;
        }
        // The first value of the ingress that the egress lost or changed.
        let bv: Vec<&Vec<u8>> = b.iter().map(|x| &x.0).collect();
        let got: Vec<String> = b.iter().map(|x| crate::sip::lossy(&x.0).into_owned()).collect();
        let Some((_, lost)) = a.iter().enumerate().find(|(k, x)| bv.get(*k) != Some(&&x.0)) else {
            // Nothing lost or changed: the egress has the ingress's values and more after them.
            j.violation(
                ReqId::SIP_PRESERVE,
                format!("{}: its {} received values only, none added", h.name.canonical(), a.len()),
                format!("{}: {}", h.name.canonical(), got.join(", ")),
                p.header_loc(eg, &h.name),
            );
            continue;
        };
        let line = ing.headers().iter().find(|x| x.line_no == lost.1).map(|x| x.line);
        j.violation(
            ReqId::SIP_PRESERVE,
            format!("{}: {} (its values unchanged, in order)", h.name.canonical(), crate::sip::lossy(&lost.0)),
            if b.len() < a.len() {
                format!("{} of {} values", b.len(), a.len())
            } else {
                format!("{}: {}", h.name.canonical(), got.join(", "))
            },
            p.loc_ingress(None, line),
        );
    }
}

fn judge_framing(j: &mut Judge, p: &Pos<'_>, eg: &Message) {
    j.checked(ReqId::SIP_FRAMING, "Content-Length equals the body length; over 1300 bytes not on UDP");
    // The transport the request went out on: as observed, else the one its own top Via names
    // (the Via the server added says how it sent the request, RFC 3261 §18.1.1).
    let transport = p.ctx.egress_transport.or_else(|| via_transport(eg));
    match eg.content_length() {
        Ok(Some(n)) if n == eg.body().len() => {}
        Ok(None) if transport != Some(Transport::Tcp) => {}
        Ok(v) => j.violation(
            ReqId::SIP_FRAMING,
            format!("Content-Length: {}", eg.body().len()),
            format!("Content-Length: {}", v.map_or("absent".into(), |n| n.to_string())),
            p.header_loc(eg, &HeaderName::ContentLength),
        ),
        Err(e) => j.violation(
            ReqId::SIP_FRAMING,
            format!("Content-Length: {}", eg.body().len()),
            e.to_string(),
            p.header_loc(eg, &HeaderName::ContentLength),
        ),
    }
    if transport == Some(Transport::Udp) && eg.bytes().len() > 1300 {
        j.violation(
            ReqId::SIP_FRAMING,
            "a request over 1300 bytes sent over TCP (RFC 3261 §18.1.1)",
            format!("{} bytes over UDP", eg.bytes().len()),
            p.loc_egress(None, None),
        );
    }
}

/// The transport of the top Via (`SIP/2.0/UDP host` -> UDP).
fn via_transport(m: &Message) -> Option<Transport> {
    let v = crate::sip::uri::Via::parse(m.bytes(), m.top_via()?)?;
    Transport::from_via(&v.transport)
}

/// T3.MAP: no CPM ICSI invented (one the ingress did not carry, other than the one IM -> CPM adds).
fn judge_invented(j: &mut Judge, p: &Pos<'_>, ev: &Views<'_>, eg_ids: &Identifiers<'_>, exp: Expectation) {
    let eg = eg_ids.message();
    let before = p.ids.cpm_icsis();
    let allowed = match exp {
        Expectation::Map { dir: Direction::ImToCpm, service, .. } => CpmIcsi::from_norm(service.row().icsi),
        _ => None,
    };
    j.checked(ReqId::T3_MAP, "identifiers spelled as Table 1; no CPM ICSI invented");
    for &i in eg_ids.cpm_icsis() {
        if !before.contains(&i) && Some(i) != allowed && exp != Expectation::Unknown {
            let what = match allowed {
                Some(a) => format!("no CPM ICSI but {} (Table 1 for this service)", a.urn()),
                None => "no CPM ICSI the request did not carry".to_string(),
            };
            // Point at the header that carries it.
            let at = [
                HeaderName::PAssertedService,
                HeaderName::PPreferredService,
                HeaderName::AcceptContact,
                HeaderName::Contact,
            ]
            .into_iter()
            .find(|n| match ev.named(n) {
                Some((spans, views)) => spans
                    .iter()
                    .zip(views)
                    .any(|(v, view)| CpmIcsi::from_raw(v.of(eg.bytes())) == Some(i) || view.cpm.contains(&i)),
                None => eg.list_iter(n).any(|v| {
                    CpmIcsi::from_raw(v.of(eg.bytes())) == Some(i) || ValueView::new(eg.bytes(), v).cpm.contains(&i)
                }),
            })
            .unwrap_or(HeaderName::AcceptContact);
            j.violation(ReqId::T3_MAP, what, format!("{} added", i.urn()), p.header_loc(eg, &at));
            return;
        }
    }
}

/// The values a rewrite judges: every Accept-Contact value and every Contact value, whatever
/// the method (a MESSAGE's Contact too: D18).
const TARGETS: [HeaderName; 2] = [HeaderName::AcceptContact, HeaderName::Contact];

/// How one direction's values are told apart.
#[derive(Clone, Copy)]
struct ValueRules<'f> {
    /// The per-service requirement.
    id: ReqId,
    /// An ingress value the direction maps.
    mapped: &'f dyn Fn(&ValueView<'_>) -> bool,
    /// An egress value that carries the target form.
    looks_mapped: &'f dyn Fn(&ValueView<'_>) -> bool,
    /// CPM -> IM (else IM -> CPM).
    cpm_to_im: bool,
}

/// A pairing test between an ingress and an egress value.
type Fit<'a> = &'a mut dyn FnMut(&ValueView<'_>, &ValueView<'_>) -> bool;

/// Walk the ingress's Accept-Contact and Contact values with their egress counterparts: a value
/// the direction maps (`mapped`) is judged by `judge`, any other must arrive unchanged, a missing
/// one is a violation of `id`. Accept-Contact values are paired by content, not position (their
/// order carries no meaning, D19); Contact values by position.
fn each_value(
    j: &mut Judge,
    p: &Pos<'_>,
    eg: &Message,
    ev: &Views<'_>,
    rules: &ValueRules<'_>,
    mut judge: impl FnMut(&mut Judge, &ValueView<'_>, &ValueView<'_>, Location),
) -> Walk {
    let ValueRules { id, mapped, looks_mapped, cpm_to_im } = *rules;
    let mut walk = Walk::default();
    for (t, name) in TARGETS.iter().enumerate() {
        let (_, vi) = p.views.of(t);
        let (se, ve) = ev.of(t);
        let mut used = vec![false; ve.len()];
        let mut pair: Vec<Option<usize>> = vec![None; vi.len()];
        // Accept-Contact values are paired by content, in stages from the most to the least
        // constrained: untouched values with an egress value of the same meaning; mapped values
        // with one that keeps their other parameters and carries the target form; then with one
        // that keeps their other parameters. Contact values (and what is left) go by position,
        // preferring, for an untouched value, an egress value that does not look mapped.
        if *name == HeaderName::AcceptContact {
            // A mapped value whose mapping is right in full, when one is there: of two egress
            // values that both keep its other parameters (its twin untouched value, wrongly
            // tagged, and its correct mapping), the correct one is its own.
            let mut mapped_right = |a: &ValueView<'_>, e: &ValueView<'_>| {
                let mut scratch = Judge::default();
                judge(&mut scratch, a, e, Location::default());
                scratch.clean()
            };
            // Stage 3's test; stage 2 is the same with the trial judging on top.
            let in_form =
                |a: &ValueView<'_>, e: &ValueView<'_>| mapped(a) && values::keeps_others(a, e) && looks_mapped(e);
            let stages: [Fit<'_>; 4] = [
                &mut |a, e| !mapped(a) && values::same_meaning(a, e),
                &mut |a, e| in_form(a, e) && mapped_right(a, e),
                &mut |a, e| in_form(a, e),
                &mut |a, e| mapped(a) && values::keeps_others(a, e),
            ];
            for (stage, fits) in stages.into_iter().enumerate() {
                // The trial judging of the second stage only chooses among candidates: a single
                // value with at most one candidate the third stage would take ends paired as
                // without it (with it, or by the third stage; no other value competes).
                if stage == 1
                    && vi.len() == 1
                    && pair[0].is_none()
                    && (0..ve.len()).filter(|&x| !used[x] && in_form(&vi[0], &ve[x])).count() <= 1
                {
                    continue;
                }
                for (k, a) in vi.iter().enumerate() {
                    if pair[k].is_some() {
                        continue;
                    }
                    let mut free = |x: usize| !used[x] && fits(a, &ve[x]);
                    let at_k = k < ve.len() && free(k);
                    if let Some(x) = at_k.then_some(k).or_else(|| (0..ve.len()).find(|&x| free(x))) {
                        used[x] = true;
                        pair[k] = Some(x);
                    }
                }
            }
        }
        for k in 0..vi.len() {
            if pair[k].is_some() {
                continue;
            }
            let prefer = |x: usize| !used[x] && (mapped(&vi[k]) || !looks_mapped(&ve[x]));
            let x = (k < ve.len() && prefer(k))
                .then_some(k)
                .or_else(|| (0..ve.len()).find(|&x| prefer(x)))
                .or_else(|| (k < ve.len() && !used[k]).then_some(k))
                .or_else(|| (0..ve.len()).find(|&x| !used[x]));
            if let Some(x) = x {
                used[x] = true;
                pair[k] = Some(x);
            }
        }
        for (k, a) in vi.iter().enumerate() {
            let Some(x) = pair[k] else {
                j.violation(
                    if mapped(a) { id } else { ReqId::SIP_PRESERVE },
                    format!("{} value {} kept", name.canonical(), a.text),
                    "missing",
                    p.header_loc(eg, name),
                );
                continue;
            };
            let loc = p.loc_egress(Some(eg), Some(se[x]));
            if mapped(a) {
                walk.mapped[t] += 1;
                judge(j, a, &ve[x], loc);
            } else {
                values::judge_untouched(j, a, &ve[x], name.canonical(), loc, cpm_to_im);
            }
        }
        if *name == HeaderName::AcceptContact {
            walk.added_ac = (0..se.len()).filter(|&x| !used[x]).collect();
        }
    }
    walk
}

/// What [`each_value`] found.
#[derive(Default)]
struct Walk {
    /// Ingress values mapped: Accept-Contact, Contact.
    mapped: [usize; 2],
    /// Egress Accept-Contact values with no ingress counterpart (the server added them), by
    /// their index among the egress's Accept-Contact values.
    added_ac: Vec<usize>,
}

/// After the mapping no source tag remains in ANY Accept-Contact or Contact value of the
/// egress, added or duplicated ones included (D19), and the target tag is not carried by more
/// values than the mapping produces ("no tag appears twice").
fn judge_leftovers(
    j: &mut Judge,
    p: &Pos<'_>,
    eg: &Message,
    ev: &Views<'_>,
    id: ReqId,
    left: impl Fn(&ValueView<'_>) -> bool,
    what: &str,
) {
    for (t, name) in TARGETS.iter().enumerate() {
        let (spans, views) = ev.of(t);
        for (&s, v) in spans.iter().zip(views) {
            if left(v) {
                j.violation(
                    id,
                    format!("no {what} left in any {} value", name.canonical()),
                    format!("{}: {}", name.canonical(), v.text),
                    p.loc_egress(Some(eg), Some(s)),
                );
            }
        }
    }
}

fn judge_cpm_to_im(j: &mut Judge, p: &Pos<'_>, eg: &Message, ev: &Views<'_>, id: ReqId, service: Service) {
    let tags = if service == Service::Lmm { format!("{IM_TAG};{LMM_TAG}") } else { IM_TAG.to_string() };
    j.checked(id, format!("{tags} in place of the CPM ICSI"));
    j.checked(ReqId::X_PAS_REMOVED, "no CPM P-Asserted-Service / P-Preferred-Service");
    let rules = ValueRules {
        id,
        mapped: &|a| !a.cpm.is_empty(),
        looks_mapped: &|e| e.im_true > 0 && e.cpm.is_empty(),
        cpm_to_im: true,
    };
    let walk = each_value(j, p, eg, ev, &rules, |j, a, b, loc| {
        let lmm = service == Service::Lmm || a.cpm.contains(&CpmIcsi::LargeMsg);
        values::judge_cpm_to_im_value(j, id, a, b, lmm, loc);
    });
    judge_leftovers(j, p, eg, ev, id, |v| !v.cpm.is_empty(), "CPM ICSI");
    let (_, ac_in) = p.views.of(0);
    let (ac_spans, ac_views) = ev.of(0);
    let ac_out: Vec<(Span, &ValueView<'_>)> = ac_spans.iter().copied().zip(ac_views).collect();
    // D16: no Accept-Contact value carried a CPM ICSI (whatever Contact carries): one IM
    // Accept-Contact value must be added, with the large-message tag for LMM.
    let d16 = walk.mapped[0] == 0;
    if d16 {
        let added = ac_out.iter().find(|(_, v)| v.im_true == 1 && (service != Service::Lmm || v.lmm_true == 1));
        // The added value is spelled as Table 1 too (D12).
        if let Some((at, v)) = added {
            let exact = v.im.iter().chain(&v.lmm).all(|p| {
                let name = p.name.of(eg.bytes());
                (name == IM_TAG.as_bytes() || name == LMM_TAG.as_bytes()) && p.value.is_none()
            });
            if !exact {
                j.violation(
                    ReqId::T3_MAP,
                    format!("Accept-Contact: *;{tags} spelled exactly as Table 1"),
                    v.text.clone(),
                    p.loc_egress(Some(eg), Some(*at)),
                );
            }
        }
        if added.is_none() {
            j.violation(
                id,
                format!(
                    "Accept-Contact: *;{tags} added (docs/decisions.md#d16: no Accept-Contact value carried the CPM ICSI)"
                ),
                "no Accept-Contact value with the IM tag(s)",
                p.header_loc(eg, &HeaderName::AcceptContact),
            );
        }
    }
    // Added values: at most the one D16 calls for carries the IM tag (no tag appears twice).
    let allowed = usize::from(d16);
    let added: Vec<Span> = walk.added_ac.iter().filter(|&&x| ac_views[x].im_true > 0).map(|&x| ac_spans[x]).collect();
    if added.len() > allowed {
        j.violation(
            id,
            format!("{allowed} added Accept-Contact value(s) with {IM_TAG} (no tag appears twice)"),
            format!("{} added values with {IM_TAG}", added.len()),
            p.loc_egress(Some(eg), Some(added[allowed])),
        );
    }
    // Values the server added: no large-message tag for a non-LMM request.
    if service != Service::Lmm {
        for (s, v) in &ac_out {
            if !v.lmm.is_empty() && !ac_in.iter().any(|a| !a.lmm.is_empty()) {
                j.violation(
                    ReqId::T3_MAP,
                    format!("{IM_TAG} only (not a large-message request)"),
                    v.text.clone(),
                    p.loc_egress(Some(eg), Some(*s)),
                );
                break;
            }
        }
    }
    for name in [HeaderName::PAssertedService, HeaderName::PPreferredService] {
        for v in eg.list_iter(&name) {
            if CpmIcsi::from_raw(v.of(eg.bytes())).is_some() {
                j.violation(
                    ReqId::X_PAS_REMOVED,
                    format!("no CPM {} on an IM-bound request (decisions.md#d1)", name.canonical()),
                    eg.text(v).into_owned(),
                    p.loc_egress(Some(eg), Some(v)),
                );
            }
        }
    }
}

fn judge_im_to_cpm(j: &mut Judge, p: &Pos<'_>, eg: &Message, ev: &Views<'_>, id: ReqId, service: Service) {
    let row = service.row();
    j.checked(
        id,
        format!("{ICSI_REF}=\"{}\" in place of the IM tags, and P-Asserted-Service: {}", row.icsi_encoded, row.icsi),
    );
    let rules = ValueRules {
        id,
        mapped: &|a| a.im_true > 0 || a.lmm_true > 0,
        looks_mapped: &|e| !e.cpm.is_empty() && e.im_true == 0,
        cpm_to_im: false,
    };
    let walk =
        each_value(j, p, eg, ev, &rules, |j, a, b, loc| values::judge_im_to_cpm_value(j, id, a, b, service, loc));
    judge_leftovers(j, p, eg, ev, id, |v| v.im_true > 0 || v.lmm_true > 0, "IM tag");
    let want = norm(row.icsi.as_bytes());
    let (ac, ac_views) = ev.of(0);
    let with_icsi = |x: usize| ac_views[x].icsi_norm.contains(&want);
    let mirror = walk.mapped[0] == 0;
    if mirror {
        // The mirror of D16: no Accept-Contact value carried an IM tag: one with the ICSI is added,
        // spelled as Table 1 (D12). Another CPM ICSI in its place is a spelling defect (T3.MAP,
        // judged with the invented ones), not a second one under the service's ID.
        match (0..ac.len()).find(|&x| with_icsi(x)) {
            Some(x) => {
                let (s, v) = (&ac[x], &ac_views[x]);
                let i = v.icsi_norm.iter().position(|n| *n == want).unwrap_or(0);
                let exact = v.icsi_raw.get(i).is_some_and(|r| r.of(eg.bytes()) == row.icsi_encoded.as_bytes())
                    && v.icsi.iter().all(|p| p.is_quoted(eg.bytes()) && p.name.of(eg.bytes()) == ICSI_REF.as_bytes());
                if !exact {
                    j.violation(
                        ReqId::T3_MAP,
                        format!("{ICSI_REF}=\"{}\" (percent-encoded, quoted, as Table 1)", row.icsi_encoded),
                        v.text.clone(),
                        p.loc_egress(Some(eg), Some(*s)),
                    );
                }
            }
            None if ac_views
                .iter()
                .any(|v| !v.cpm.is_empty() || v.other_icsi.iter().any(|n| values::is_cpm_family(n))) =>
            {
                j.violation(
                    ReqId::T3_MAP,
                    format!("{ICSI_REF}=\"{}\" (the ICSI of {service})", row.icsi_encoded),
                    "another CPM ICSI in the added Accept-Contact value",
                    p.header_loc(eg, &HeaderName::AcceptContact),
                );
            }
            None => j.violation(
                id,
                format!("an Accept-Contact value with {ICSI_REF}=\"{}\"", row.icsi_encoded),
                "none",
                p.header_loc(eg, &HeaderName::AcceptContact),
            ),
        }
    }
    // Added values: at most the one the mirror of D16 calls for carries the ICSI.
    let allowed = usize::from(mirror);
    let added: Vec<Span> = walk.added_ac.iter().copied().filter(|&x| with_icsi(x)).map(|x| ac[x]).collect();
    if added.len() > allowed {
        j.violation(
            id,
            format!("{allowed} added Accept-Contact value(s) with the ICSI (no tag appears twice)"),
            format!("{} added values with the ICSI", added.len()),
            p.loc_egress(Some(eg), Some(added[allowed])),
        );
    }
    // P-Asserted-Service with the plain ICSI (D2).
    let pas = eg.list_values(&HeaderName::PAssertedService);
    let loc = p.header_loc(eg, &HeaderName::PAssertedService);
    if pas.is_empty() {
        j.violation(id, format!("P-Asserted-Service: {}", row.icsi), "absent", loc);
    } else if !pas.iter().any(|v| v.of(eg.bytes()) == row.icsi.as_bytes()) {
        let got: Vec<String> = pas.iter().map(|v| eg.text(*v).into_owned()).collect();
        let id2 = if pas.iter().any(|v| norm(v.of(eg.bytes())).contains("3gpp-service.ims.icsi.oma.cpm.")) {
            ReqId::T3_MAP
        } else {
            id
        };
        j.violation(
            id2,
            format!("P-Asserted-Service: {} (plain URN, Table 1)", row.icsi),
            format!("P-Asserted-Service: {}", got.join(", ")),
            loc,
        );
    }
}

fn judge_conv_ids(j: &mut Judge, p: &Pos<'_>, eg: &Message) {
    let ing = p.ingress;
    j.checked(ReqId::T2_CONVID_ADDED, "exactly one well-formed Conversation-ID");
    let conv: Vec<_> = eg.all(&HeaderName::ConversationId).collect();
    match conv.as_slice() {
        [] => j.violation(
            ReqId::T2_CONVID_ADDED,
            "Conversation-ID: <1-256 word characters>",
            "absent",
            p.header_loc(eg, &HeaderName::ConversationId),
        ),
        [h] if !is_valid_conv_id(eg.slice(h.value)) => j.violation(
            ReqId::T2_CONVID_ADDED,
            "Conversation-ID: <1-256 word characters>",
            format!("Conversation-ID: {}", eg.value(h)),
            p.loc_egress(Some(eg), Some(h.line)),
        ),
        [_] => {}
        many => j.violation(
            ReqId::T2_CONVID_ADDED,
            "exactly one Conversation-ID",
            format!("{} Conversation-ID fields", many.len()),
            p.loc_egress(Some(eg), Some(many[1].line)),
        ),
    }
    if let Some(hi) = ing.first(&HeaderName::ConversationId) {
        j.checked(ReqId::T2_CONVID_KEPT, "the incoming Conversation-ID forwarded unchanged");
        let v = ing.slice(hi.value);
        if !conv.iter().any(|h| eg.slice(h.value) == v) {
            j.violation(
                ReqId::T2_CONVID_KEPT,
                format!("Conversation-ID: {}", crate::sip::lossy(v)),
                conv.first().map_or("absent".into(), |h| format!("Conversation-ID: {}", eg.value(h))),
                p.header_loc(eg, &HeaderName::ConversationId),
            );
        }
    }
    j.checked(ReqId::T2_CONTRIB_ADDED, "a well-formed Contribution-ID");
    match eg.first(&HeaderName::ContributionId) {
        None => j.violation(
            ReqId::T2_CONTRIB_ADDED,
            "Contribution-ID: <1-256 word characters>",
            "absent",
            p.header_loc(eg, &HeaderName::ContributionId),
        ),
        Some(h) if !is_valid_conv_id(eg.slice(h.value)) => j.violation(
            ReqId::T2_CONTRIB_ADDED,
            "Contribution-ID: <1-256 word characters>",
            format!("Contribution-ID: {}", eg.value(h)),
            p.loc_egress(Some(eg), Some(h.line)),
        ),
        Some(h) => {
            if let Some(hi) = ing.first(&HeaderName::ContributionId) {
                if ing.slice(hi.value) != eg.slice(h.value) {
                    j.violation(
                        ReqId::T2_CONTRIB_ADDED,
                        format!("Contribution-ID: {} (kept)", ing.value(hi)),
                        format!("Contribution-ID: {}", eg.value(h)),
                        p.loc_egress(Some(eg), Some(h.line)),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_options_with_max_forwards_0_is_answered_never_forwarded() {
        let opt = "OPTIONS sip:bob@im.example.net SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKo1\r\nMax-Forwards: 0\r\nFrom: <sip:a@im.example.net>;tag=1\r\nTo: <sip:bob@im.example.net>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(opt.as_bytes().to_vec()).unwrap();
        let fwd = opt.replacen("Via:", "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKx\r\nVia:", 1);
        let f = Message::parse(fwd.into_bytes()).unwrap();
        let ctx = PairContext::new(Level::One, SessionCase::Term, Some(ClientKind::Im));
        let bad: Vec<_> = check_pair(&ctx, &m, Egress::Forwarded(&f))
            .into_iter()
            .filter(|x| x.verdict != Verdict::Pass)
            .map(|x| (x.requirement, x.verdict))
            .collect();
        assert_eq!(bad, vec![(ReqId::SIP_PROXY, Verdict::Fail)]);
    }

    use super::*;
    use crate::base::Role;

    /// The Route key as first written (every part copied, then formatted), for comparison.
    fn route_key_copied(m: &Message, v: Span) -> Vec<u8> {
        let buf = m.bytes();
        let Some(na) = crate::sip::NameAddr::parse(buf, v) else {
            return meaning::canonical(&HeaderName::Route, v.of(buf));
        };
        let Some(u) = crate::sip::SipUri::parse(&na.uri_text(buf)) else {
            return meaning::canonical(&HeaderName::Route, v.of(buf));
        };
        let mut params: Vec<String> =
            u.params.iter().map(|(n, v)| format!("{n}={}", v.as_deref().unwrap_or(""))).collect();
        params.sort();
        let mut hp: Vec<String> = na
            .params
            .params
            .iter()
            .map(|p| format!("{}={}", p.name_text(buf).to_ascii_lowercase(), p.value_text(buf)))
            .collect();
        hp.sort();
        format!(
            "{}:{}@{}:{};{}|{}",
            u.scheme,
            u.user.as_deref().unwrap_or(""),
            u.host,
            u.port.map_or(String::new(), |p| p.to_string()),
            params.join(";"),
            hp.join(";")
        )
        .into_bytes()
    }

    #[test]
    fn route_keys_are_the_formatted_ones() {
        let entries = [
            "<sip:192.0.2.2;lr;odi=X>",
            "<SIP:IMS.Example.NET:5060;ODI=a;Lr;transport=TCP>;Foo=\"Q;x\";bar",
            "\"Core\" <sip:user;par=u%40example.net@Example.com;lr>;a=1;B=2;a=0",
            "sip:scscf.example.net;lr",
            "<tel:+1-555-123;phone-context=x>",
            "<sips:[2001:DB8::1]:5061;lr;;>",
            "<sip:h:notaport;lr>",
            "not a route",
            "<sip:a@b;lr;lr=;z;y=\u{e9}>;\u{e9}=1",
        ];
        let mut text = String::from("OPTIONS sip:bob@h SIP/2.0\r\n");
        for e in entries {
            text.push_str(&format!("Route: {e}\r\n"));
        }
        text.push_str("\r\n");
        let m = Message::parse(text.into_bytes()).unwrap();
        let spans = m.list_values(&HeaderName::Route);
        assert_eq!(spans.len(), entries.len());
        for s in spans {
            assert_eq!(route_key(&m, s), route_key_copied(&m, s), "{}", m.text(s));
        }
    }

    const CPM_AC: &str = r#"Accept-Contact: *;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#;
    const IM_AC: &str = "Accept-Contact: *;+g.oma.sip-im";
    const NEG_AC: &str = r#"Accept-Contact: *;+g.oma.sip-im="FALSE""#;

    /// `lines` and `body` as a message with CRLF line ends and an exact Content-Length.
    fn frame(lines: &[String], body: &str) -> Message {
        let mut s = String::new();
        for l in lines {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        Message::parse(s.into_bytes()).unwrap()
    }

    /// A MESSAGE from alice to bob as the core hands it to the server (its Route entry on top),
    /// with the header lines `extra`.
    fn ingress(mf: u32, extra: &[&str], body: &str) -> Message {
        let mut l: Vec<String> = vec![
            "MESSAGE sip:bob@im.example.net SIP/2.0".into(),
            "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bKcore1".into(),
            "Route: <sip:imserver.im.example.net;lr>, <sip:scscf.im.example.net;lr>".into(),
            format!("Max-Forwards: {mf}"),
            "From: <sip:alice@im.example.net>;tag=a1".into(),
            "To: <sip:bob@im.example.net>".into(),
            "Call-ID: call-1@im.example.net".into(),
            "CSeq: 1 MESSAGE".into(),
        ];
        l.extend(extra.iter().map(|x| x.to_string()));
        l.push("Content-Type: text/plain".into());
        frame(&l, body)
    }

    /// What a correct proxy sends on for [`ingress`]: its own Via (over `transport`) on top, its
    /// Route entry popped, Max-Forwards lowered by one.
    fn forwarded(transport: &str, mf: u32, extra: &[&str], body: &str) -> Message {
        let mut l: Vec<String> = vec![
            "MESSAGE sip:bob@im.example.net SIP/2.0".into(),
            format!("Via: SIP/2.0/{transport} imserver.im.example.net:5060;branch=z9hG4bKas1"),
            "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bKcore1".into(),
            "Route: <sip:scscf.im.example.net;lr>".into(),
            format!("Max-Forwards: {mf}"),
            "From: <sip:alice@im.example.net>;tag=a1".into(),
            "To: <sip:bob@im.example.net>".into(),
            "Call-ID: call-1@im.example.net".into(),
            "CSeq: 1 MESSAGE".into(),
        ];
        l.extend(extra.iter().map(|x| x.to_string()));
        l.push("Content-Type: text/plain".into());
        frame(&l, body)
    }

    /// The server's final response to [`ingress`], e.g. `"483 Too Many Hops"`.
    fn response(status: &str) -> Message {
        let l: Vec<String> = vec![
            format!("SIP/2.0 {status}"),
            "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bKcore1".into(),
            "From: <sip:alice@im.example.net>;tag=a1".into(),
            "To: <sip:bob@im.example.net>;tag=s1".into(),
            "Call-ID: call-1@im.example.net".into(),
            "CSeq: 1 MESSAGE".into(),
        ];
        frame(&l, "")
    }

    fn ctx(level: Level, case: SessionCase, client: Option<ClientKind>) -> PairContext {
        PairContext::new(level, case, client)
    }

    fn pairs(f: &[Finding]) -> Vec<(ReqId, Verdict)> {
        f.iter().map(|x| (x.requirement, x.verdict)).collect()
    }

    fn non_pass(f: &[Finding]) -> Vec<(ReqId, Verdict)> {
        f.iter().filter(|x| x.verdict != Verdict::Pass).map(|x| (x.requirement, x.verdict)).collect()
    }

    fn fixture(text: &str) -> Message {
        Message::parse(text.as_bytes().to_vec()).unwrap()
    }

    fn map(dir: Direction, family: Family, service: Service) -> Expectation {
        Expectation::Map { dir, family, service }
    }

    // --- expectation ------------------------------------------------------------------------

    #[test]
    fn level_1_terminating_cpm_form_maps_to_im_under_t1_term() {
        let m = fixture(include_str!("../../../tests/fixtures/examples/1a_pager_cpm_rx.sip"));
        let want = map(Direction::CpmToIm, Family::T1Term, Service::Pager);
        // D8: at level 1 every local user is an IM user, whatever kind is declared.
        for client in [Some(ClientKind::Im), Some(ClientKind::Cpm), None] {
            assert_eq!(expectation(&ctx(Level::One, SessionCase::Term, client), &m), want, "{client:?}");
        }
        let lmm = fixture(include_str!("../../../tests/fixtures/examples/2a_lmm_cpm_rx.sip"));
        assert_eq!(
            expectation(&ctx(Level::One, SessionCase::Term, None), &lmm),
            map(Direction::CpmToIm, Family::T1Term, Service::Lmm)
        );
    }

    #[test]
    fn level_2_terminating_im_form_to_a_cpm_client_maps_under_t2_term() {
        let m = fixture(include_str!("../../../tests/fixtures/examples/4a_ft_im_rx.sip"));
        assert_eq!(
            expectation(&ctx(Level::Two, SessionCase::Term, Some(ClientKind::Cpm)), &m),
            map(Direction::ImToCpm, Family::T2Term, Service::Ft)
        );
        let pager = ingress(70, &[IM_AC], "hi");
        assert_eq!(
            expectation(&ctx(Level::Two, SessionCase::Term, Some(ClientKind::Cpm)), &pager),
            map(Direction::ImToCpm, Family::T2Term, Service::Pager)
        );
        // The same request to an IM client is IM to IM.
        assert_eq!(
            expectation(&ctx(Level::Two, SessionCase::Term, Some(ClientKind::Im)), &pager),
            Expectation::PassThrough
        );
    }

    #[test]
    fn level_2_terminating_cpm_form_to_a_cpm_client_passes_through() {
        let m = ingress(70, &[CPM_AC], "hi");
        assert_eq!(
            expectation(&ctx(Level::Two, SessionCase::Term, Some(ClientKind::Cpm)), &m),
            Expectation::PassThrough
        );
        // The same request to an IM client at level 2 is mapped under T1.TERM.
        assert_eq!(
            expectation(&ctx(Level::Two, SessionCase::Term, Some(ClientKind::Im)), &m),
            map(Direction::CpmToIm, Family::T1Term, Service::Pager)
        );
    }

    #[test]
    fn only_a_negated_im_tag_passes_through_to_a_cpm_client() {
        let m = ingress(70, &[NEG_AC], "hi");
        assert_eq!(crate::interop::classify::form_of(&m), Form::Negated);
        assert_eq!(
            expectation(&ctx(Level::Two, SessionCase::Term, Some(ClientKind::Cpm)), &m),
            Expectation::PassThrough
        );
    }

    #[test]
    fn an_offline_cpm_client_expects_480() {
        let mut c = ctx(Level::Two, SessionCase::Term, Some(ClientKind::Cpm));
        c.online = Some(false);
        for tags in [IM_AC, CPM_AC, NEG_AC] {
            assert_eq!(expectation(&c, &ingress(70, &[tags], "hi")), Expectation::Offline, "{tags}");
        }
        // Online or unknown: not offline.
        c.online = None;
        assert_ne!(expectation(&c, &ingress(70, &[IM_AC], "hi")), Expectation::Offline);
        // An offline IM client is not this rule's.
        let mut im = ctx(Level::Two, SessionCase::Term, Some(ClientKind::Im));
        im.online = Some(false);
        assert_eq!(expectation(&im, &ingress(70, &[IM_AC], "hi")), Expectation::PassThrough);
    }

    #[test]
    fn level_1_originating_cpm_form_expects_403() {
        let m = ingress(70, &[CPM_AC], "hi");
        for client in [Some(ClientKind::Cpm), Some(ClientKind::Im), None] {
            assert_eq!(expectation(&ctx(Level::One, SessionCase::Orig, client), &m), Expectation::Reject403);
        }
        // An IM-form request of a level-1 local user goes through.
        let im = ingress(70, &[IM_AC], "hi");
        assert_eq!(expectation(&ctx(Level::One, SessionCase::Orig, None), &im), Expectation::PassThrough);
    }

    #[test]
    fn level_2_originating_cpm_form_maps_under_t2_orig() {
        let m = ingress(70, &[CPM_AC], "hi");
        let want = map(Direction::CpmToIm, Family::T2Orig, Service::Pager);
        assert_eq!(expectation(&ctx(Level::Two, SessionCase::Orig, Some(ClientKind::Cpm)), &m), want);
        // Unknown sender: the CPM form says it is a CPM client.
        assert_eq!(expectation(&ctx(Level::Two, SessionCase::Orig, None), &m), want);
        // A declared IM client's CPM-form request is not mapped.
        assert_eq!(
            expectation(&ctx(Level::Two, SessionCase::Orig, Some(ClientKind::Im)), &m),
            Expectation::PassThrough
        );
    }

    #[test]
    fn level_2_terminating_unknown_client_is_unknown() {
        for tags in [IM_AC, CPM_AC] {
            let m = ingress(70, &[tags], "hi");
            assert_eq!(expectation(&ctx(Level::Two, SessionCase::Term, None), &m), Expectation::Unknown, "{tags}");
        }
    }

    #[test]
    fn requests_outside_table_1_pass_through() {
        let opts = frame(
            &[
                "OPTIONS sip:bob@im.example.net SIP/2.0".into(),
                "Via: SIP/2.0/TCP scscf.im.example.net:5060;branch=z9hG4bKo1".into(),
                "Max-Forwards: 70".into(),
                "From: <sip:alice@im.example.net>;tag=a1".into(),
                "To: <sip:bob@im.example.net>".into(),
                "Call-ID: o-1@im.example.net".into(),
                "CSeq: 1 OPTIONS".into(),
                CPM_AC.into(),
            ],
            "",
        );
        assert_eq!(expectation(&ctx(Level::One, SessionCase::Orig, None), &opts), Expectation::PassThrough);
        assert_eq!(expectation(&ctx(Level::Two, SessionCase::Term, None), &opts), Expectation::PassThrough);
    }

    // --- check_pair -------------------------------------------------------------------------

    #[test]
    fn a_correct_pass_through_gives_only_passes() {
        let ing = ingress(70, &[IM_AC], "hi");
        let eg = forwarded("TCP", 69, &[IM_AC], "hi");
        let f = check_pair(&ctx(Level::One, SessionCase::Term, Some(ClientKind::Im)), &ing, Egress::Forwarded(&eg));
        assert_eq!(
            pairs(&f),
            vec![
                (ReqId::SIP_PROXY, Verdict::Pass),
                (ReqId::ROUTE_VIA_IMS, Verdict::Pass),
                (ReqId::SIP_PRESERVE, Verdict::Pass),
                (ReqId::SIP_FRAMING, Verdict::Pass),
                (ReqId::T3_MAP, Verdict::Pass),
            ]
        );
    }

    #[test]
    fn max_forwards_zero_answered_483_passes() {
        let ing = ingress(0, &[IM_AC], "hi");
        let r = response("483 Too Many Hops");
        let f = check_pair(&ctx(Level::One, SessionCase::Term, Some(ClientKind::Im)), &ing, Egress::Responded(&r));
        assert_eq!(pairs(&f), vec![(ReqId::SIP_PROXY, Verdict::Pass)]);
    }

    #[test]
    fn max_forwards_zero_forwarded_fails_sip_proxy() {
        let ing = ingress(0, &[IM_AC], "hi");
        let eg = forwarded("TCP", 0, &[IM_AC], "hi");
        let c = ctx(Level::One, SessionCase::Term, Some(ClientKind::Im));
        let f = check_pair(&c, &ing, Egress::Forwarded(&eg));
        assert_eq!(pairs(&f), vec![(ReqId::SIP_PROXY, Verdict::Fail)]);
        assert_eq!(f[0].observed, "forwarded");
        // Another answer than 483 is a failure too; nothing seen in a capture is inconclusive.
        let ok = response("200 OK");
        let f = check_pair(&c, &ing, Egress::Responded(&ok));
        assert_eq!(pairs(&f), vec![(ReqId::SIP_PROXY, Verdict::Fail)]);
        assert_eq!(f[0].observed, "answered 200 OK");
        let capture = PairContext { complete: false, ..c.clone() };
        assert_eq!(
            pairs(&check_pair(&capture, &ing, Egress::Nothing)),
            vec![(ReqId::SIP_PROXY, Verdict::Inconclusive)]
        );
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Nothing)), vec![(ReqId::SIP_PROXY, Verdict::Fail)]);
    }

    #[test]
    fn level_1_local_cpm_client_any_answer_but_403_fails() {
        let ing = ingress(70, &[CPM_AC], "hi");
        let c = ctx(Level::One, SessionCase::Orig, Some(ClientKind::Cpm));
        let r403 = response("403 Forbidden");
        assert_eq!(
            pairs(&check_pair(&c, &ing, Egress::Responded(&r403))),
            vec![(ReqId::T1_NO_LOCAL_CPM, Verdict::Pass)]
        );
        // D7 has no lowering: a 488 is a FAIL, not NON-STRICT (unlike D3's 4xx for offline).
        let r488 = response("488 Not Acceptable Here");
        let f = check_pair(&c, &ing, Egress::Responded(&r488));
        assert_eq!(pairs(&f), vec![(ReqId::T1_NO_LOCAL_CPM, Verdict::Fail)]);
        assert_eq!(f[0].observed, "answered 488 Not Acceptable Here");
        let eg = forwarded("TCP", 69, &[IM_AC], "hi");
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Forwarded(&eg))), vec![(ReqId::T1_NO_LOCAL_CPM, Verdict::Fail)]);
    }

    #[test]
    fn offline_cpm_client_forwarded_is_non_strict() {
        let ing = ingress(70, &[IM_AC], "hi");
        let mut c = ctx(Level::Two, SessionCase::Term, Some(ClientKind::Cpm));
        c.online = Some(false);
        let eg = forwarded("TCP", 69, &[IM_AC], "hi");
        let f = check_pair(&c, &ing, Egress::Forwarded(&eg));
        assert_eq!(pairs(&f), vec![(ReqId::T2_ONLINE_ONLY, Verdict::NonStrict)]);
        assert_eq!(f[0].observed, "forwarded toward the offline client");
    }

    #[test]
    fn offline_cpm_client_answers_graded_as_d3() {
        let ing = ingress(70, &[IM_AC], "hi");
        let mut c = ctx(Level::Two, SessionCase::Term, Some(ClientKind::Cpm));
        c.online = Some(false);
        let judge = |status: &str| pairs(&check_pair(&c, &ing, Egress::Responded(&response(status))));
        assert_eq!(judge("480 Temporarily Unavailable"), vec![(ReqId::T2_ONLINE_ONLY, Verdict::Pass)]);
        assert_eq!(judge("486 Busy Here"), vec![(ReqId::T2_ONLINE_ONLY, Verdict::NonStrict)]);
        assert_eq!(judge("500 Server Internal Error"), vec![(ReqId::T2_ONLINE_ONLY, Verdict::NonStrict)]);
        assert_eq!(judge("202 Accepted"), vec![(ReqId::T2_ONLINE_ONLY, Verdict::Fail)]);
        assert_eq!(judge("200 OK"), vec![(ReqId::T2_ONLINE_ONLY, Verdict::Fail)]);
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Nothing)), vec![(ReqId::T2_ONLINE_ONLY, Verdict::Fail)]);
    }

    #[test]
    fn over_1300_bytes_on_udp_by_its_own_via_fails_framing() {
        let body = "x".repeat(1400);
        let ing = ingress(70, &[IM_AC], &body);
        let eg = forwarded("UDP", 69, &[IM_AC], &body);
        assert!(eg.bytes().len() > 1300);
        let c = ctx(Level::One, SessionCase::Term, Some(ClientKind::Im));
        assert_eq!(c.egress_transport, None);
        let f = check_pair(&c, &ing, Egress::Forwarded(&eg));
        assert_eq!(non_pass(&f), vec![(ReqId::SIP_FRAMING, Verdict::Fail)]);
        // Over TCP by its Via, or seen on TCP whatever the Via says: no framing defect.
        let tcp = forwarded("TCP", 69, &[IM_AC], &body);
        assert!(non_pass(&check_pair(&c, &ing, Egress::Forwarded(&tcp))).is_empty());
        let seen_tcp = PairContext { egress_transport: Some(Transport::Tcp), ..c.clone() };
        assert!(non_pass(&check_pair(&seen_tcp, &ing, Egress::Forwarded(&eg))).is_empty());
        // Small enough for UDP.
        let small = forwarded("UDP", 69, &[IM_AC], "hi");
        assert!(non_pass(&check_pair(&c, &ingress(70, &[IM_AC], "hi"), Egress::Forwarded(&small))).is_empty());
    }

    #[test]
    fn content_length_absent_is_a_framing_defect_on_tcp_only() {
        let ing = ingress(70, &[IM_AC], "");
        let no_cl = |transport: &str| {
            let text = String::from_utf8(forwarded(transport, 69, &[IM_AC], "").into_bytes()).unwrap();
            Message::parse(text.replace("Content-Length: 0\r\n", "").into_bytes()).unwrap()
        };
        let c = ctx(Level::One, SessionCase::Term, Some(ClientKind::Im));
        let tcp = no_cl("TCP");
        assert_eq!(tcp.content_length().unwrap(), None);
        assert_eq!(non_pass(&check_pair(&c, &ing, Egress::Forwarded(&tcp))), vec![(ReqId::SIP_FRAMING, Verdict::Fail)]);
        assert!(non_pass(&check_pair(&c, &ing, Egress::Forwarded(&no_cl("UDP")))).is_empty());
    }

    #[test]
    fn answering_400_to_a_well_formed_request_fails_robust() {
        let ing = ingress(70, &[IM_AC], "hi");
        let r = response("400 Bad Request");
        let f = check_pair(&ctx(Level::One, SessionCase::Term, Some(ClientKind::Im)), &ing, Egress::Responded(&r));
        assert_eq!(pairs(&f), vec![(ReqId::SIP_ROBUST, Verdict::Fail)]);
    }

    #[test]
    fn malformed_must_parse_input_answered_400_or_forwarded() {
        // D15: an Accept-Contact value not starting with `*` is malformed.
        let ing = ingress(70, &["Accept-Contact: <sip:x@y>;+g.oma.sip-im"], "hi");
        assert!(wellformed::validate(&ing).is_err());
        let c = ctx(Level::One, SessionCase::Term, Some(ClientKind::Im));
        let r = response("400 Bad Request");
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Responded(&r))), vec![(ReqId::SIP_ROBUST, Verdict::Pass)]);
        let eg = forwarded("TCP", 69, &["Accept-Contact: <sip:x@y>;+g.oma.sip-im"], "hi");
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Forwarded(&eg))), vec![(ReqId::SIP_ROBUST, Verdict::Fail)]);
        // Dropped: a PASS where the trace is complete; where it may miss messages (a capture),
        // a forward of it may be what is missing.
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Nothing)), vec![(ReqId::SIP_ROBUST, Verdict::Pass)]);
        let capture = PairContext { complete: false, ..c.clone() };
        assert_eq!(
            pairs(&check_pair(&capture, &ing, Egress::Nothing)),
            vec![(ReqId::SIP_ROBUST, Verdict::Inconclusive)]
        );
    }

    #[test]
    fn unknown_client_at_level_2_is_inconclusive() {
        let ing = ingress(70, &[IM_AC], "hi");
        let eg = forwarded("TCP", 69, &[IM_AC], "hi");
        let f = check_pair(&ctx(Level::Two, SessionCase::Term, None), &ing, Egress::Forwarded(&eg));
        assert_eq!(non_pass(&f), vec![(ReqId::T2_CONVID_ADDED, Verdict::Inconclusive)]);
    }

    #[test]
    fn a_mapped_request_not_forwarded_fails_its_service_id() {
        let ing = ingress(70, &[CPM_AC], "hi");
        let c = ctx(Level::One, SessionCase::Term, Some(ClientKind::Im));
        let r = response("404 Not Found");
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Responded(&r))), vec![(ReqId::T1_TERM_PAGER, Verdict::Fail)]);
        let capture = PairContext { complete: false, ..c.clone() };
        assert_eq!(
            pairs(&check_pair(&capture, &ing, Egress::Nothing)),
            vec![(ReqId::T1_TERM_PAGER, Verdict::Inconclusive)]
        );
    }

    /// An observer that lost messages (and plays the downstream side) cannot tell whether a
    /// timeout answer (408, 504) where a forward was expected followed a forward it lost: such a
    /// pair is INCONCLUSIVE, for a mapped request and a request sent on unchanged alike; any
    /// other answer, and what an answer proves whatever was lost (a 483 not given, a local CPM
    /// client at level 1 answered otherwise than 403), stays FAIL.
    #[test]
    fn an_answer_in_place_of_a_forward_proves_nothing_when_messages_were_lost() {
        let c = ctx(Level::One, SessionCase::Term, Some(ClientKind::Im));
        let lossy = PairContext { complete: false, lossy: true, ..c.clone() };
        let r408 = response("408 Request Timeout");
        let ing = ingress(70, &[CPM_AC], "hi");
        assert_eq!(pairs(&check_pair(&c, &ing, Egress::Responded(&r408))), vec![(ReqId::T1_TERM_PAGER, Verdict::Fail)]);
        let f = check_pair(&lossy, &ing, Egress::Responded(&r408));
        assert_eq!(pairs(&f), vec![(ReqId::T1_TERM_PAGER, Verdict::Inconclusive)]);
        assert!(
            f[0].observed.starts_with("answered 408 Request Timeout, no forward seen; the observer lost"),
            "{}",
            f[0].observed
        );
        // Any answer but a timeout proves the server answered instead of forwarding.
        for other in ["503 Service Unavailable", "202 Accepted", "480 Temporarily Unavailable"] {
            let r = response(other);
            assert_eq!(
                pairs(&check_pair(&lossy, &ing, Egress::Responded(&r))),
                vec![(ReqId::T1_TERM_PAGER, Verdict::Fail)]
            );
        }
        let r504 = response("504 Server Time-out");
        assert_eq!(
            pairs(&check_pair(&lossy, &ing, Egress::Responded(&r504))),
            vec![(ReqId::T1_TERM_PAGER, Verdict::Inconclusive)]
        );
        // Incomplete alone (a capture) keeps the FAIL: only known loss lowers it.
        let capture = PairContext { complete: false, ..c.clone() };
        assert_eq!(
            pairs(&check_pair(&capture, &ing, Egress::Responded(&r408))),
            vec![(ReqId::T1_TERM_PAGER, Verdict::Fail)]
        );
        // Nothing to map: still the server's to send on.
        let plain = ingress(70, &[IM_AC], "hi");
        assert_eq!(
            pairs(&check_pair(&c, &plain, Egress::Responded(&r408))),
            vec![(ReqId::ROUTE_VIA_IMS, Verdict::Fail)]
        );
        assert_eq!(
            pairs(&check_pair(&lossy, &plain, Egress::Responded(&r408))),
            vec![(ReqId::ROUTE_VIA_IMS, Verdict::Inconclusive)]
        );
        // A 400 for a well-formed request is the server's own, whatever was lost.
        let r400 = response("400 Bad Request");
        assert_eq!(
            pairs(&check_pair(&lossy, &plain, Egress::Responded(&r400))),
            vec![(ReqId::SIP_ROBUST, Verdict::Fail)]
        );
        // Max-Forwards 0: forwarded or answered otherwise than 483, a FAIL either way.
        let mf0 = ingress(0, &[IM_AC], "hi");
        assert_eq!(pairs(&check_pair(&lossy, &mf0, Egress::Responded(&r408))), vec![(ReqId::SIP_PROXY, Verdict::Fail)]);
        // A level-1 local CPM client: any answer but 403 is a FAIL, forwarded or not.
        let orig = PairContext { case: SessionCase::Orig, client: Some(ClientKind::Cpm), ..lossy.clone() };
        assert_eq!(
            pairs(&check_pair(&orig, &ing, Egress::Responded(&r408))),
            vec![(ReqId::T1_NO_LOCAL_CPM, Verdict::Fail)]
        );
    }

    #[test]
    fn proxy_role_defects_are_sip_proxy() {
        let ing = ingress(70, &[IM_AC], "hi");
        let c = ctx(Level::One, SessionCase::Term, Some(ClientKind::Im));
        assert_eq!(c.role, Role::Proxy);
        // Max-Forwards not lowered.
        let eg = forwarded("TCP", 70, &[IM_AC], "hi");
        let f = check_pair(&c, &ing, Egress::Forwarded(&eg));
        assert_eq!(non_pass(&f), vec![(ReqId::SIP_PROXY, Verdict::Fail)]);
        assert_eq!(f[0].expected, "Max-Forwards: 69");
    }

    // --- via_transport ----------------------------------------------------------------------

    fn with_via(via: &str) -> Message {
        frame(
            &[
                "MESSAGE sip:bob@im.example.net SIP/2.0".into(),
                format!("Via: {via}"),
                "Max-Forwards: 70".into(),
                "From: <sip:alice@im.example.net>;tag=a1".into(),
                "To: <sip:bob@im.example.net>".into(),
                "Call-ID: v-1@im.example.net".into(),
                "CSeq: 1 MESSAGE".into(),
            ],
            "",
        )
    }

    #[test]
    fn via_transport_reads_the_top_via() {
        assert_eq!(via_transport(&with_via("SIP/2.0/UDP h.example.net;branch=z9hG4bK1")), Some(Transport::Udp));
        assert_eq!(via_transport(&with_via("SIP / 2.0 / TCP h.example.net;branch=z9hG4bK1")), Some(Transport::Tcp));
        assert_eq!(via_transport(&with_via("SIP/2.0/udp h.example.net;branch=z9hG4bK1")), Some(Transport::Udp));
        assert_eq!(via_transport(&with_via("SIP/2.0/TLS h.example.net;branch=z9hG4bK1")), None);
        // The top value of a list decides.
        assert_eq!(
            via_transport(&with_via("SIP/2.0/TCP a.example.net;branch=z9hG4bK1, SIP/2.0/UDP b.example.net")),
            Some(Transport::Tcp)
        );
    }
}
