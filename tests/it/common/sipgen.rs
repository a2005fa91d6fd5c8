//! Generated SIP messages with a known structure, shared by the property tests in
//! `sip_roundtrip` and `rsip_differential`.
//!
//! A [`GenMsg`] records, per header field, the name as written, the exact text the parser must
//! report as the value span and, for list headers, the elements `split_list` must return; it
//! also records the typed values (CSeq, tags, top Via branch, Content-Length, ...). Knobs switch
//! on the odd-but-valid spellings of RFC 3261 §7.3.1 / RFC 4475 `wsinv`: compact names, mixed
//! case, HCOLON whitespace, HTAB as LWS, folded lines, tel: URIs and binary bodies.

#![allow(dead_code)]

use imcpm::sip::HeaderName;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;

/// Which odd-but-valid spellings one message may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Knobs {
    /// Compact header names (`v`, `f`, `a`, `m`, `l`, ...).
    pub compact: bool,
    /// Header names in odd letter case.
    pub casing: bool,
    /// Whitespace between a header name and its colon (HCOLON).
    pub hcolon: bool,
    /// HTAB and runs of SP as LWS inside values.
    pub tabs: bool,
    /// Folded header lines (CRLF followed by SP or HT).
    pub fold: bool,
    /// tel: URIs in the Request-URI, From and To.
    pub tel: bool,
    /// A binary body (any octets).
    pub binary: bool,
}

/// One generated header field.
#[derive(Debug, Clone)]
pub(crate) struct GenHeader {
    /// The header's identity (what `HeaderName::parse` of the written name must give).
    pub expect: HeaderName,
    /// The name as written.
    pub name: String,
    /// Whitespace between the name and the colon.
    pub before_colon: &'static str,
    /// Whitespace after the colon (may hold a fold).
    pub after_colon: &'static str,
    /// The exact value span text (no leading or trailing whitespace).
    pub value: Vec<u8>,
    /// For list headers: the elements `split_list` must return.
    pub elements: Option<Vec<Vec<u8>>>,
}

/// The first line of a generated message.
#[derive(Debug, Clone)]
pub(crate) enum GenStart {
    /// A request line.
    Request {
        /// The method (upper case, from RFC 3261 and extensions).
        method: &'static str,
        /// The Request-URI.
        uri: String,
    },
    /// A status line.
    Response {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: &'static str,
    },
}

/// A generated message and its expected reading.
#[derive(Clone)]
pub(crate) struct GenMsg {
    /// The spellings switched on.
    pub knobs: Knobs,
    /// The start line.
    pub start: GenStart,
    /// Header fields in wire order.
    pub headers: Vec<GenHeader>,
    /// The body.
    pub body: Vec<u8>,
    /// Call-ID value.
    pub call_id: String,
    /// CSeq number and method.
    pub cseq: (u32, &'static str),
    /// Max-Forwards, when written.
    pub max_forwards: Option<u32>,
    /// From tag.
    pub from_tag: String,
    /// To tag, when written.
    pub to_tag: Option<String>,
    /// Branch of the topmost Via value.
    pub top_branch: String,
}

impl std::fmt::Debug for GenMsg {
    // The wire form is what a person needs to read a failing case.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "GenMsg {:?}", self.knobs)?;
        f.write_str(&String::from_utf8_lossy(&self.bytes()).escape_debug().to_string().replace("\\r\\n", "\\r\\n\n"))
    }
}

impl GenMsg {
    /// The message as it goes on the wire: CRLF line ends, exact Content-Length.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + self.body.len());
        match &self.start {
            GenStart::Request { method, uri } => out.extend_from_slice(format!("{method} {uri} SIP/2.0").as_bytes()),
            GenStart::Response { code, reason } => out.extend_from_slice(format!("SIP/2.0 {code} {reason}").as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
        for h in &self.headers {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(h.before_colon.as_bytes());
            out.push(b':');
            out.extend_from_slice(h.after_colon.as_bytes());
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Mixed letter case driven by the bits of `mask`.
fn mixed_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
        .collect()
}

fn arb_knobs() -> impl Strategy<Value = Knobs> {
    let w = || proptest::bool::weighted(0.3);
    (w(), w(), w(), w(), w(), w(), w()).prop_map(|(compact, casing, hcolon, tabs, fold, tel, binary)| Knobs {
        compact,
        casing,
        hcolon,
        tabs,
        fold,
        tel,
        binary,
    })
}

/// A header name as written: canonical, odd case or compact, as the knobs allow.
fn arb_name(long: &'static str, compact: Option<char>, k: Knobs) -> BoxedStrategy<String> {
    let mut alts: Vec<(u32, BoxedStrategy<String>)> = vec![(3, Just(long.to_string()).boxed())];
    if k.casing {
        alts.push((1, Just(long.to_ascii_lowercase()).boxed()));
        alts.push((1, Just(long.to_ascii_uppercase()).boxed()));
        alts.push((2, any::<u64>().prop_map(move |m| mixed_case(long, m)).boxed()));
    }
    if let (true, Some(c)) = (k.compact, compact) {
        alts.push((4, Just(c.to_string()).boxed()));
        if k.casing {
            alts.push((1, Just(c.to_ascii_uppercase().to_string()).boxed()));
        }
    }
    Union::new_weighted(alts).boxed()
}

fn pick(base: &[&'static str], extra: &[(bool, &[&'static str])]) -> BoxedStrategy<&'static str> {
    let mut all: Vec<&'static str> = base.to_vec();
    for (on, more) in extra {
        if *on {
            all.extend_from_slice(more);
        }
    }
    select(all).boxed()
}

fn before_colon(k: Knobs) -> BoxedStrategy<&'static str> {
    pick(&["", "", ""], &[(k.hcolon, &[" ", "\t", " \t "])])
}

fn after_colon(k: Knobs) -> BoxedStrategy<&'static str> {
    pick(&[" ", " ", " ", ""], &[(k.tabs, &["\t", "  \t"]), (k.fold, &["\r\n ", " \r\n\t", "\r\n\t  "])])
}

/// COMMA = SWS "," SWS
fn comma(k: Knobs) -> BoxedStrategy<&'static str> {
    pick(&[",", ", ", ", "], &[(k.tabs, &[",\t", " ,  "]), (k.fold, &[",\r\n ", " ,\r\n\t"])])
}

/// SEMI = SWS ";" SWS (only where our own grammar allows it: header parameters).
fn semi(k: Knobs) -> BoxedStrategy<&'static str> {
    pick(&[";", ";", ";"], &[(k.tabs, &[" ;", "\t; "]), (k.fold, &["\r\n\t;", "\r\n ; "])])
}

/// LWS between words (Subject, CSeq).
fn lws(k: Knobs) -> BoxedStrategy<&'static str> {
    pick(&[" ", " "], &[(k.tabs, &["\t", "   "]), (k.fold, &["\r\n ", " \r\n\t"])])
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,9}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9]{0,7}(\\.[a-z][a-z0-9]{0,7}){0,2}\\.example\\.(net|com)",
        (0u8..=255).prop_map(|n| format!("192.0.2.{n}")),
    ]
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(String::new()), 1 => (1u16..=65535).prop_map(|p| format!(":{p}"))]
}

/// A SIP URI; `params` allows URI parameters (only inside `<>` or on the Request-URI).
fn sip_uri(params: bool) -> impl Strategy<Value = String> {
    let user = prop_oneof![Just(String::new()), "[a-z][a-z0-9-]{0,8}@", "\\+1555[0-9]{7}@",];
    let p: BoxedStrategy<&'static str> =
        if params { select(vec!["", "", ";transport=tcp", ";lr", ";user=phone"]).boxed() } else { Just("").boxed() };
    (user, host(), port(), p).prop_map(|(u, h, po, pa)| format!("sip:{u}{h}{po}{pa}"))
}

fn tel_uri() -> impl Strategy<Value = String> {
    "tel:\\+1555[0-9]{7}"
}

fn uri(k: Knobs, params: bool) -> BoxedStrategy<String> {
    if k.tel { prop_oneof![sip_uri(params), tel_uri()].boxed() } else { sip_uri(params).boxed() }
}

const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "MESSAGE",
    "REFER",
    "SUBSCRIBE",
    "NOTIFY",
    "UPDATE",
    "PRACK",
    "INFO",
    "PUBLISH",
];

const REASONS: &[&str] =
    &["OK", "Trying", "Ringing", "Not Found", "Temporarily Unavailable", "Busy Here", "Custom reason, odd"];

fn arb_start(k: Knobs) -> BoxedStrategy<GenStart> {
    prop_oneof![
        4 => (select(METHODS), uri(k, true)).prop_map(|(method, uri)| GenStart::Request { method, uri }),
        1 => (100u16..=699, select(REASONS)).prop_map(|(code, reason)| GenStart::Response { code, reason }),
    ]
    .boxed()
}

/// A header whose value is one opaque text.
fn single(
    expect: HeaderName,
    long: &'static str,
    compact: Option<char>,
    k: Knobs,
    value: BoxedStrategy<String>,
) -> BoxedStrategy<GenHeader> {
    (arb_name(long, compact, k), before_colon(k), after_colon(k), value)
        .prop_map(move |(name, before_colon, after_colon, v)| GenHeader {
            expect: expect.clone(),
            name,
            before_colon,
            after_colon,
            value: v.into_bytes(),
            elements: None,
        })
        .boxed()
}

/// A list header: 1..=max elements joined by generated COMMA separators.
fn list(
    expect: HeaderName,
    long: &'static str,
    compact: Option<char>,
    k: Knobs,
    element: BoxedStrategy<String>,
    max: usize,
) -> BoxedStrategy<GenHeader> {
    (arb_name(long, compact, k), before_colon(k), after_colon(k), prop::collection::vec((element, comma(k)), 1..=max))
        .prop_map(move |(name, before_colon, after_colon, els)| {
            let mut value = Vec::new();
            let n = els.len();
            for (i, (e, sep)) in els.iter().enumerate() {
                value.extend_from_slice(e.as_bytes());
                if i + 1 < n {
                    value.extend_from_slice(sep.as_bytes());
                }
            }
            GenHeader {
                expect: expect.clone(),
                name,
                before_colon,
                after_colon,
                value,
                elements: Some(els.into_iter().map(|(e, _)| e.into_bytes()).collect()),
            }
        })
        .boxed()
}

/// `head` followed by parameters joined with generated SEMI separators.
fn with_params(
    k: Knobs,
    head: BoxedStrategy<String>,
    param: BoxedStrategy<String>,
    max: usize,
) -> BoxedStrategy<String> {
    (head, prop::collection::vec((semi(k), param), 0..=max))
        .prop_map(|(h, ps)| {
            let mut s = h;
            for (sep, p) in ps {
                s.push_str(sep);
                s.push_str(&p);
            }
            s
        })
        .boxed()
}

const ICSIS: &[&str] = &[
    "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg",
    "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg",
    "urn%3aurn-7%3a3gpp-service.ims.icsi.oma.cpm.session",
    "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer",
    "urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel",
    "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg",
];

fn icsi_param(k: Knobs) -> BoxedStrategy<String> {
    let name = if k.casing {
        select(vec!["+g.3gpp.icsi-ref", "+G.3GPP.ICSI-REF"]).boxed()
    } else {
        Just("+g.3gpp.icsi-ref").boxed()
    };
    (name, prop::collection::vec(select(ICSIS), 1..=3)).prop_map(|(n, l)| format!("{n}=\"{}\"", l.join(","))).boxed()
}

fn ac_value(k: Knobs) -> BoxedStrategy<String> {
    let flag = select(vec![
        "+g.oma.sip-im",
        "+g.oma.sip-im.large-message",
        "+g.oma.sip-im=\"FALSE\"",
        "require",
        "explicit",
        "+g.3gpp.iari-ref=\"urn%3Aurn-7%3A3gpp-application.ims.iari.rcs.fthttp\"",
        "+g.gsma.rcs.botversion=\"#=1,#=2\"",
        "+sip.video",
    ])
    .prop_map(str::to_string);
    let param = prop_oneof![icsi_param(k), flag].boxed();
    with_params(k, Just("*".to_string()).boxed(), param, 4)
}

fn display_name() -> BoxedStrategy<String> {
    select(vec!["", "", "Alice ", "\"Alice, CPM\" ", "\"Q \\\"x, y\\\"\" ", "\"Grüße\" "])
        .prop_map(str::to_string)
        .boxed()
}

fn contact_value(k: Knobs) -> BoxedStrategy<String> {
    let head = (display_name(), sip_uri(true)).prop_map(|(d, u)| format!("{d}<{u}>")).boxed();
    let flag = select(vec![
        "+sip.instance=\"<urn:uuid:6f474eac-f1a1-4085-b654-c9ed5c9cf1c3>\"",
        "+g.oma.sip-im",
        "expires=600",
        "q=0.5",
        "isfocus",
    ])
    .prop_map(str::to_string);
    let param = prop_oneof![icsi_param(k), flag].boxed();
    with_params(k, head, param, 3)
}

fn route_value() -> BoxedStrategy<String> {
    prop_oneof![
        host().prop_map(|h| format!("<sip:{h};lr>")),
        (host(), token()).prop_map(|(h, t)| format!("<sip:{h};lr;odi={t}>")),
        (host(), port()).prop_map(|(h, p)| format!("<sip:{h}{p};transport=tcp;lr>")),
    ]
    .boxed()
}

fn via_value(k: Knobs, branch: String) -> BoxedStrategy<String> {
    // sent-protocol with SLASH = SWS "/" SWS (RFC 4475 wsinv: `SIP  / 2.0  / TCP`).
    let slash = pick(&["/", "/", "/"], &[(k.tabs, &[" / ", "\t/  "]), (k.fold, &["\r\n /", " /\r\n\t"])]);
    let proto_sep = pick(&[" "], &[(k.tabs, &["\t", "  "]), (k.fold, &["\r\n  "])]);
    let extra = select(vec!["", "", ";rport", ";received=192.0.2.7", ";rport=5060;received=192.0.2.7"]);
    (select(vec!["TCP", "UDP", "TLS", "SCTP"]), slash.clone(), slash, proto_sep, host(), port(), extra)
        .prop_map(move |(t, s1, s2, sep, h, p, x)| format!("SIP{s1}2.0{s2}{t}{sep}{h}{p};branch={branch}{x}"))
        .boxed()
}

fn branch() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.-]{1,12}".prop_map(|s| format!("z9hG4bK{s}"))
}

/// One Via field (1..=3 values); returns the header and its first branch.
fn via_field(k: Knobs) -> BoxedStrategy<(GenHeader, String)> {
    (prop::collection::vec(branch(), 1..=3), arb_name("Via", Some('v'), k), before_colon(k), after_colon(k))
        .prop_flat_map(move |(branches, name, bc, ac)| {
            let first = branches[0].clone();
            let vals: Vec<BoxedStrategy<(String, &'static str)>> =
                branches.into_iter().map(|b| (via_value(k, b), comma(k)).boxed()).collect();
            (Just((name, bc, ac, first)), vals)
        })
        .prop_map(|((name, before_colon, after_colon, first), els)| {
            let mut value = Vec::new();
            let n = els.len();
            for (i, (e, sep)) in els.iter().enumerate() {
                value.extend_from_slice(e.as_bytes());
                if i + 1 < n {
                    value.extend_from_slice(sep.as_bytes());
                }
            }
            let h = GenHeader {
                expect: HeaderName::Via,
                name,
                before_colon,
                after_colon,
                value,
                elements: Some(els.into_iter().map(|(e, _)| e.into_bytes()).collect()),
            };
            (h, first)
        })
        .boxed()
}

/// From or To: a name-addr or addr-spec with an optional tag.
fn addr_header(
    expect: HeaderName,
    long: &'static str,
    c: char,
    k: Knobs,
    tag: Option<String>,
) -> BoxedStrategy<GenHeader> {
    let tagp = tag.map(|t| format!("tag={t}"));
    let name_addr = (display_name(), uri(k, true), semi(k), select(vec!["", ";x=1", ";+g.oma.sip-im"]))
        .prop_map(move |(d, u, s, extra)| (format!("{d}<{u}>"), s, extra.to_string()))
        .boxed();
    let addr_spec = (uri(k, false), Just(";"), Just(String::new())).prop_map(|(u, s, e)| (u, s, e)).boxed();
    let value = prop_oneof![3 => name_addr, 1 => addr_spec]
        .prop_map(move |(head, s, extra)| match &tagp {
            Some(t) => format!("{head}{s}{t}{extra}"),
            None => format!("{head}{extra}"),
        })
        .boxed();
    single(expect, long, Some(c), k, value)
}

fn text_words(k: Knobs) -> BoxedStrategy<String> {
    let word =
        prop_oneof!["[A-Za-z0-9,.!?;:'()=<>@-]{1,8}", Just("\"quoted, text\"".to_string()), Just("Grüße".to_string()),];
    prop::collection::vec((word, lws(k)), 1..=5)
        .prop_map(|ws| {
            let n = ws.len();
            let mut s = String::new();
            for (i, (w, sep)) in ws.into_iter().enumerate() {
                s.push_str(&w);
                if i + 1 < n {
                    s.push_str(sep);
                }
            }
            s
        })
        .boxed()
}

/// Optional header fields (any number, any order).
fn optional_header(k: Knobs) -> BoxedStrategy<GenHeader> {
    let s = |v: Vec<&'static str>| select(v).prop_map(str::to_string).boxed();
    prop_oneof![
        list(HeaderName::AcceptContact, "Accept-Contact", Some('a'), k, ac_value(k), 3),
        list(HeaderName::Contact, "Contact", Some('m'), k, contact_value(k), 2),
        list(HeaderName::Route, "Route", None, k, route_value(), 3),
        list(HeaderName::RecordRoute, "Record-Route", None, k, route_value(), 3),
        list(
            HeaderName::PAssertedIdentity,
            "P-Asserted-Identity",
            None,
            k,
            prop_oneof![
                sip_uri(true).prop_map(|u| format!("<{u}>")),
                tel_uri().prop_map(|u| format!("<{u}>")),
                sip_uri(true).prop_map(|u| format!("\"Alice, CPM\" <{u}>")),
            ]
            .boxed(),
            2
        ),
        list(
            HeaderName::PAssertedService,
            "P-Asserted-Service",
            None,
            k,
            s(vec![
                "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg",
                "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session",
                "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.largemsg",
            ]),
            2
        ),
        list(
            HeaderName::Supported,
            "Supported",
            Some('k'),
            k,
            s(vec!["timer", "100rel", "gruu", "path", "recipient-list-message"]),
            4
        ),
        single(HeaderName::Subject, "Subject", Some('s'), k, text_words(k)),
        single(
            HeaderName::ContentType,
            "Content-Type",
            Some('c'),
            k,
            s(vec![
                "message/cpim",
                "text/plain;charset=UTF-8",
                "application/sdp",
                "application/octet-stream",
                "multipart/mixed;boundary=\"b,1\""
            ])
        ),
        single(HeaderName::ConversationId, "Conversation-ID", None, k, "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}".boxed()),
        ("X-[A-Z][a-z]{0,6}", before_colon(k), after_colon(k), text_words(k)).prop_map(
            |(n, before_colon, after_colon, v)| {
                GenHeader {
                    expect: HeaderName::parse(&n),
                    name: n,
                    before_colon,
                    after_colon,
                    value: v.into_bytes(),
                    elements: None,
                }
            }
        ),
    ]
    .boxed()
}

/// A complete message.
pub(crate) fn arb_message() -> impl Strategy<Value = GenMsg> {
    arb_knobs()
        .prop_flat_map(|k| (Just(k), arb_start(k)))
        .prop_flat_map(|(k, start)| {
            let cseq_method: BoxedStrategy<&'static str> = match &start {
                GenStart::Request { method, .. } => Just(*method).boxed(),
                GenStart::Response { .. } => select(METHODS).boxed(),
            };
            let body: BoxedStrategy<Vec<u8>> = if k.binary {
                prop::collection::vec(any::<u8>(), 0..300).boxed()
            } else {
                prop::collection::vec("[ -~]{0,40}", 0..6).prop_map(|ls| ls.join("\r\n").into_bytes()).boxed()
            };
            let is_request = matches!(start, GenStart::Request { .. });
            let mf: BoxedStrategy<Option<(u32, &'static str)>> = if is_request {
                (0u32..=255, select(vec!["", "", "", "0"])).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            (
                Just((k, start)),
                body,
                prop::collection::vec(via_field(k), 1..=2),
                token(),
                proptest::option::of(token()),
                (token(), prop_oneof![Just(String::new()), host().prop_map(|h| format!("@{h}"))]),
                (any::<u32>(), cseq_method, lws(k)),
                mf,
                prop::collection::vec(optional_header(k), 0..=6),
            )
        })
        .prop_flat_map(|((k, start), body, vias, ftag, ttag, cid, cseq, mf, extra)| {
            let from = addr_header(HeaderName::From, "From", 'f', k, Some(ftag.clone()));
            let to = addr_header(HeaderName::To, "To", 't', k, ttag.clone());
            let call_id = format!("{}{}", cid.0, cid.1);
            let cid_h = single(HeaderName::CallId, "Call-ID", Some('i'), k, Just(call_id.clone()).boxed());
            let cseq_h =
                single(HeaderName::CSeq, "CSeq", None, k, Just(format!("{}{}{}", cseq.0, cseq.2, cseq.1)).boxed());
            let mf_h: BoxedStrategy<Option<GenHeader>> = match mf {
                Some((n, z)) => {
                    single(HeaderName::MaxForwards, "Max-Forwards", None, k, Just(format!("{z}{n}")).boxed())
                        .prop_map(Some)
                        .boxed()
                }
                None => Just(None).boxed(),
            };
            let cl_h =
                single(HeaderName::ContentLength, "Content-Length", Some('l'), k, Just(body.len().to_string()).boxed());
            let branches: Vec<String> = vias.iter().map(|(_, b)| b.clone()).collect();
            let fixed: Vec<GenHeader> = vias.into_iter().map(|(h, _)| h).chain(extra).collect();
            // Every field tagged with its generation index, then shuffled; the Via fields get
            // their relative order back afterwards (the top Via is the first one generated).
            let shuffled = (from, to, cid_h, cseq_h, mf_h, cl_h)
                .prop_map(move |(f, t, c, s, m, l)| {
                    let mut all = fixed.clone();
                    all.extend([f, t, c, s]);
                    all.extend(m);
                    all.push(l);
                    all.into_iter().enumerate().collect::<Vec<(usize, GenHeader)>>()
                })
                .prop_shuffle();
            let meta = (k, start, body, ftag, ttag, call_id, (cseq.0, cseq.1), mf.map(|m| m.0), branches[0].clone());
            (Just(meta), shuffled)
        })
        .prop_map(|((knobs, start, body, from_tag, to_tag, call_id, cseq, max_forwards, top_branch), mut hs)| {
            let slots: Vec<usize> = (0..hs.len()).filter(|&i| hs[i].1.expect == HeaderName::Via).collect();
            let mut vias: Vec<(usize, GenHeader)> = slots.iter().map(|&i| hs[i].clone()).collect();
            vias.sort_by_key(|(orig, _)| *orig);
            for (slot, via) in slots.into_iter().zip(vias) {
                hs[slot] = via;
            }
            GenMsg {
                knobs,
                start,
                headers: hs.into_iter().map(|(_, h)| h).collect(),
                body,
                call_id,
                cseq,
                max_forwards,
                from_tag,
                to_tag,
                top_branch,
            }
        })
}
