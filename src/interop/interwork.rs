//! The reference rewrite of Appendix T (T.1, T.2, Table 1; the rewrite vectors as amended by D16, with
//! D1/D2 for P-Asserted-Service). Produces span edits against the original bytes: every byte that
//! is not part of a mapped parameter or an added/removed header field is copied verbatim.
//!
//! Per Accept-Contact value (every field, compact `a:` included) and per Contact value, whatever
//! the method (D18):
//! - CPM -> IM: mapped CPM ICSIs leave the `+g.3gpp.icsi-ref` list (the parameter goes when the
//!   list empties); `+g.oma.sip-im` (plus `+g.oma.sip-im.large-message` for LMM) takes the place
//!   of the removed parameter, never twice. Values without a CPM ICSI are untouched (D16).
//! - IM -> CPM: TRUE-valued IM tags are replaced by the service's percent-encoded ICSI, merged
//!   into an existing `+g.3gpp.icsi-ref` list. Negated tags (`="FALSE"`) are untouched, and a
//!   request whose only IM tags are negated is not an IM request: it is left as it is.
//!
//! Reject-Contact is not rewritten (Appendix T names Contact and Accept-Contact only).

use crate::base::Service;
use crate::interop::classify::{Form, classify, cpm_icsis, form_of};
use crate::interop::table::{CpmIcsi, ICSI_REF, IM_TAG, LMM_TAG};
use crate::sip::edit::EditError;
use crate::sip::params::{Param, ParamList, norm_eq};
use crate::sip::{Edit, HeaderName, Message, Span, apply_edits};

pub use crate::base::Direction;

/// Conversation identity the caller (the server, which owns the state) supplies for IM -> CPM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    /// Inserted when the request has no Conversation-ID.
    pub conversation_id: Option<String>,
    /// Inserted when the request has no Contribution-ID.
    pub contribution_id: Option<String>,
}

/// What to rewrite and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteOptions {
    /// The direction.
    pub direction: Direction,
    /// The service; `None` classifies the request (the classification rules).
    pub service: Option<Service>,
    /// Conversation-ID / Contribution-ID to add on IM -> CPM.
    pub ids: Ids,
}

/// Why a rewrite could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterworkError {
    /// The request is not a service of Table 1 and no service was given.
    #[error("cannot tell the service of this request (give --service)")]
    Unclassified,
    /// IM -> CPM needs a Conversation-ID and neither the request nor the caller has one.
    #[error("IM -> CPM needs a Conversation-ID: the request has none and none was supplied")]
    NoConversationId,
    /// Internal edit conflict (a bug of ours).
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// A planned rewrite: the edits plus what they amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The service the rewrite used.
    pub service: Service,
    /// The span edits (apply with [`apply_edits`]).
    pub edits: Vec<Edit>,
    /// How many Accept-Contact / Contact values were mapped.
    pub mapped_values: usize,
}

/// Plan the rewrite of `msg`.
pub fn plan(msg: &Message, opts: &RewriteOptions) -> Result<Plan, InterworkError> {
    let service = match opts.service {
        Some(s) => s,
        None => classify(msg).ok_or(InterworkError::Unclassified)?,
    };
    let buf = msg.bytes();
    let mut edits = Vec::new();
    let mut mapped = 0;
    // Not an IM request: its only IM tags are negated. Forwarded unchanged.
    if opts.direction == Direction::ImToCpm && form_of(msg) == Form::Negated {
        return Ok(Plan { service, edits, mapped_values: 0 });
    }
    // Every Accept-Contact value, and the Contact whatever the method (D18: CPM and RCS stacks
    // put one in MESSAGE too).
    let mut targets: Vec<Span> = msg.list_values(&HeaderName::AcceptContact);
    let ac_count = targets.len();
    targets.extend(msg.list_values(&HeaderName::Contact));
    let mut ac_mapped = 0;
    for (i, v) in targets.iter().enumerate() {
        let e = value_edits(buf, *v, opts.direction, service);
        if !e.is_empty() {
            mapped += 1;
            if i < ac_count {
                ac_mapped += 1;
            }
            edits.extend(e);
        }
    }
    match opts.direction {
        Direction::CpmToIm => cpm_to_im_headers(msg, service, ac_mapped, &mut edits),
        Direction::ImToCpm => im_to_cpm_headers(msg, service, ac_mapped, &opts.ids, &mut edits)?,
    }
    Ok(Plan { service, edits, mapped_values: mapped })
}

/// Rewrite `msg` into new bytes (the reference behaviour).
pub fn rewrite(msg: &Message, opts: &RewriteOptions) -> Result<Vec<u8>, InterworkError> {
    let p = plan(msg, opts)?;
    Ok(apply_edits(msg.bytes(), &p.edits)?)
}

/// The edits for one Accept-Contact / Contact value (empty when it needs no change).
pub fn value_edits(buf: &[u8], value: Span, dir: Direction, service: Service) -> Vec<Edit> {
    let pl = ParamList::parse(buf, value);
    match dir {
        Direction::CpmToIm => cpm_to_im_value(buf, &pl, service),
        Direction::ImToCpm => im_to_cpm_value(buf, &pl, service),
    }
}

/// The region a parameter occupies including its leading `;` (from the end of what precedes it).
fn region(pl: &ParamList, idx: usize) -> Span {
    let start = if idx == 0 { pl.head.end } else { pl.params[idx - 1].span.end };
    Span::new(start, pl.params[idx].span.end)
}

fn cpm_to_im_value(buf: &[u8], pl: &ParamList, service: Service) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut was_lmm = false;
    // Where the IM tags go: in place of a removed parameter (index into edits) or after a kept one.
    let mut anchor: Option<Result<usize, usize>> = None;
    for (idx, p) in pl.params.iter().enumerate() {
        if !p.is(buf, ICSI_REF) {
            continue;
        }
        // Each item recognised once: the CPM ICSIs go, the rest stay.
        let (mut cpm, mut keep) = (false, Vec::new());
        for i in p.value_items_iter(buf) {
            match CpmIcsi::from_raw(i.of(buf)) {
                Some(icsi) => {
                    cpm = true;
                    was_lmm |= icsi.is_lmm();
                }
                None => keep.push(i),
            }
        }
        if !cpm {
            continue;
        }
        if keep.is_empty() {
            edits.push(Edit::remove(region(pl, idx)));
            anchor.get_or_insert(Ok(edits.len() - 1));
        } else if let Some(v) = p.value {
            edits.push(Edit::replace(v, quoted_list(buf, &keep, None)));
            anchor.get_or_insert(Err(p.span.end));
        }
    }
    let Some(anchor) = anchor else { return edits };
    let mut add = Vec::new();
    if !has_name(buf, pl, IM_TAG) {
        add.extend_from_slice(b";");
        add.extend_from_slice(IM_TAG.as_bytes());
    }
    if (was_lmm || service == Service::Lmm) && !has_name(buf, pl, LMM_TAG) {
        add.extend_from_slice(b";");
        add.extend_from_slice(LMM_TAG.as_bytes());
    }
    match anchor {
        Ok(i) => edits[i].with = add,
        Err(at) if !add.is_empty() => edits.push(Edit::insert(at, add)),
        Err(_) => {}
    }
    edits
}

fn im_to_cpm_value(buf: &[u8], pl: &ParamList, service: Service) -> Vec<Edit> {
    let im: Vec<usize> = (0..pl.params.len())
        .filter(|&i| {
            let p = &pl.params[i];
            (p.is(buf, IM_TAG) || p.is(buf, LMM_TAG)) && p.boolean(buf) == Some(true)
        })
        .collect();
    if im.is_empty() {
        return Vec::new();
    }
    let enc = service.row().icsi_encoded;
    let mut edits: Vec<Edit> = im.iter().map(|&i| Edit::remove(region(pl, i))).collect();
    match pl.params.iter().find(|p| p.is(buf, ICSI_REF)) {
        Some(existing) => {
            let items = existing.value_items(buf);
            let want = service.row().icsi;
            if !items.iter().any(|i| norm_eq(i.of(buf), want)) {
                if let Some(v) = existing.value {
                    edits.push(Edit::replace(v, quoted_list(buf, &items, Some(enc))));
                }
            }
        }
        None => edits[0].with = format!(";{ICSI_REF}=\"{enc}\"").into_bytes(),
    }
    edits
}

fn has_name(buf: &[u8], pl: &ParamList, name: &str) -> bool {
    pl.params.iter().any(|p: &Param| p.is(buf, name))
}

fn quoted_list(buf: &[u8], items: &[Span], extra: Option<&str>) -> Vec<u8> {
    let mut out = vec![b'"'];
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(s.of(buf));
    }
    if let Some(e) = extra {
        if !items.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(e.as_bytes());
    }
    out.push(b'"');
    out
}

/// D1 and D16 on CPM -> IM: drop CPM values of P-Asserted-Service / P-Preferred-Service, and add
/// an IM Accept-Contact when the CPM ICSI was only in P-Asserted-Service.
fn cpm_to_im_headers(msg: &Message, service: Service, ac_mapped: usize, edits: &mut Vec<Edit>) {
    let buf = msg.bytes();
    for name in [HeaderName::PAssertedService, HeaderName::PPreferredService] {
        for h in msg.all(&name) {
            let values = crate::sip::split_list(buf, h.value);
            let keep: Vec<Span> = values.iter().copied().filter(|v| CpmIcsi::from_raw(v.of(buf)).is_none()).collect();
            if keep.len() == values.len() {
                continue;
            }
            if keep.is_empty() {
                edits.push(Edit::remove(h.line));
            } else {
                let joined: Vec<&[u8]> = keep.iter().map(|s| s.of(buf)).collect();
                edits.push(Edit::replace(h.value, joined.join(&b", "[..])));
            }
        }
    }
    if ac_mapped == 0 && !cpm_icsis(msg).is_empty() {
        let mut v = format!("*;{IM_TAG}");
        if service == Service::Lmm {
            v.push(';');
            v.push_str(LMM_TAG);
        }
        edits.push(Edit::append_header(msg, "Accept-Contact", &v));
    }
}

/// D2 on IM -> CPM: P-Asserted-Service with the service's ICSI; Conversation-ID when absent
/// (mandatory) and Contribution-ID when absent; an Accept-Contact with the ICSI when no value
/// carried an IM tag.
fn im_to_cpm_headers(
    msg: &Message,
    service: Service,
    ac_mapped: usize,
    ids: &Ids,
    edits: &mut Vec<Edit>,
) -> Result<(), InterworkError> {
    let row = service.row();
    let buf = msg.bytes();
    let pas: Vec<_> = msg.all(&HeaderName::PAssertedService).collect();
    let already = pas.len() == 1 && {
        let vals = crate::sip::split_list(buf, pas[0].value);
        vals.len() == 1 && vals[0].of(buf) == row.icsi.as_bytes()
    };
    if !already {
        for h in &pas {
            edits.push(Edit::remove(h.line));
        }
        let before = msg
            .headers()
            .iter()
            .find(|h| matches!(h.name, HeaderName::Contact | HeaderName::AcceptContact))
            .map(|h| h.line.start)
            .filter(|&at| !pas.iter().any(|h| h.line.start == at));
        edits.push(match before {
            Some(at) => Edit::header_before(msg, at, "P-Asserted-Service", row.icsi),
            None => Edit::append_header(msg, "P-Asserted-Service", row.icsi),
        });
    }
    if ac_mapped == 0 {
        edits.push(Edit::append_header(msg, "Accept-Contact", &format!("*;{ICSI_REF}=\"{}\"", row.icsi_encoded)));
    }
    // New identity headers go before Content-Type (where the CPM examples carry them).
    let at = msg.first(&HeaderName::ContentType).map(|h| h.line.start);
    let add = |name: &str, value: &str| match at {
        Some(at) => Edit::header_before(msg, at, name, value),
        None => Edit::append_header(msg, name, value),
    };
    if msg.first(&HeaderName::ConversationId).is_none() {
        let id = ids.conversation_id.as_deref().ok_or(InterworkError::NoConversationId)?;
        edits.push(add("Conversation-ID", id));
    }
    if msg.first(&HeaderName::ContributionId).is_none() {
        if let Some(id) = ids.contribution_id.as_deref() {
            edits.push(add("Contribution-ID", id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem(dir: Direction, svc: Service, v: &str) -> String {
        let buf = v.as_bytes();
        let e = value_edits(buf, Span::new(0, buf.len()), dir, svc);
        String::from_utf8(apply_edits(buf, &e).unwrap()).unwrap()
    }

    #[test]
    fn vector_1_and_6() {
        let cpm = r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#;
        assert_eq!(elem(Direction::CpmToIm, Service::Pager, cpm), "*;+g.oma.sip-im");
        let both = format!("*;+g.oma.sip-im;{}", &cpm[2..]);
        assert_eq!(elem(Direction::CpmToIm, Service::Pager, &both), "*;+g.oma.sip-im");
    }

    #[test]
    fn negated_untouched() {
        let v = r#"*;+g.oma.sip-im="FALSE""#;
        assert_eq!(elem(Direction::ImToCpm, Service::Pager, v), v);
    }
}
