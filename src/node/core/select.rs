//! RFC 3841 caller preferences: which registered contacts a request may reach (the protocol notes).
//! Contacts without feature parameters are immune; Reject-Contact discards on a full match;
//! each Accept-Contact value scores matched/N, `require` discards on a mismatch, `explicit`
//! zeroes a partial score, `explicit;require` discards contacts not advertising every feature.

use crate::sip::params::{Param, ParamList, norm};
use crate::sip::{HeaderName, Message, Span};

const NOT_FEATURES: [&str; 5] = ["require", "explicit", "q", "expires", "+sip.instance"];

fn features<'a>(buf: &'a [u8], pl: &'a ParamList) -> Vec<&'a Param> {
    pl.params
        .iter()
        .filter(|p| {
            let n = p.name_text(buf).to_ascii_lowercase();
            (n.starts_with('+')
                || [
                    "audio",
                    "video",
                    "text",
                    "isfocus",
                    "methods",
                    "events",
                    "automata",
                    "class",
                    "duplex",
                    "data",
                    "control",
                    "mobility",
                    "description",
                    "priority",
                    "schemes",
                    "application",
                    "language",
                    "type",
                    "actor",
                    "extensions",
                ]
                .contains(&n.as_str()))
                && !NOT_FEATURES.contains(&n.as_str())
        })
        .collect()
}

fn values(buf: &[u8], p: &Param) -> Vec<String> {
    match p.value {
        None => vec!["true".into()],
        Some(_) => p.value_items(buf).iter().map(|i| norm(i.of(buf)).trim_start_matches('!').to_string()).collect(),
    }
}

fn negated(buf: &[u8], p: &Param) -> bool {
    p.value.is_some() && p.value_text(buf).starts_with('!')
}

/// Does the contact's feature `c` match the requested feature `r`?
fn matches(rb: &[u8], r: &Param, cb: &[u8], c: &Param) -> bool {
    let rv = values(rb, r);
    let cv = values(cb, c);
    let any = rv.iter().any(|v| cv.contains(v));
    if negated(rb, r) { !any } else { any }
}

/// A contact's score for a request: None when discarded, else Qa in [0, 1].
pub fn score(req: &Message, contact: &[u8], contact_span: Span) -> Option<f64> {
    let cpl = ParamList::parse(contact, contact_span);
    let cf = features(contact, &cpl);
    if cf.is_empty() {
        return Some(1.0);
    }
    let rb = req.bytes();
    for v in req.list_values(&HeaderName::RejectContact) {
        let pl = ParamList::parse(rb, v);
        let rf = features(rb, &pl);
        if !rf.is_empty()
            && rf.iter().all(|r| {
                cf.iter()
                    .any(|c| c.name_text(contact).eq_ignore_ascii_case(&r.name_text(rb)) && matches(rb, r, contact, c))
            })
        {
            return None;
        }
    }
    let acs = req.list_values(&HeaderName::AcceptContact);
    if acs.is_empty() {
        return Some(1.0);
    }
    let mut total = 0.0;
    for v in &acs {
        let pl = ParamList::parse(rb, *v);
        let rf = features(rb, &pl);
        let require = pl.has(rb, "require");
        let explicit = pl.has(rb, "explicit");
        if rf.is_empty() {
            total += 1.0;
            continue;
        }
        let mut matched = 0usize;
        let mut mismatch = false;
        let mut unknown = false;
        for r in &rf {
            match cf.iter().find(|c| c.name_text(contact).eq_ignore_ascii_case(&r.name_text(rb))) {
                Some(c) if matches(rb, r, contact, c) => matched += 1,
                Some(_) => mismatch = true,
                None => unknown = true,
            }
        }
        if require && (mismatch || (explicit && unknown)) {
            return None;
        }
        let s = if mismatch { 0.0 } else { matched as f64 / rf.len() as f64 };
        total += if explicit && s < 1.0 { 0.0 } else { s };
    }
    Some(total / acs.len() as f64)
}
