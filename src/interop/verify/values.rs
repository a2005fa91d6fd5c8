//! Semantic views of one Accept-Contact / Contact value, and the value-level rules. RFC 3840
//! gives parameter order no meaning, so values compare as sets of feature parameters; the
//! mapped tags are judged under the per-service ID, their spelling under `T3.MAP`, everything
//! else under `SIP.PRESERVE`.

use super::judge::Judge;
use crate::base::Service;
use crate::interop::finding::Location;
use crate::interop::rules::ReqId;
use crate::interop::table::{CpmIcsi, ICSI_REF, IM_TAG, LMM_TAG};
use crate::sip::Span;
use crate::sip::params::{Param, ParamList, norm};

/// One value seen semantically.
#[derive(Debug)]
pub struct ValueView<'a> {
    buf: &'a [u8],
    /// The value's text.
    pub text: String,
    /// `*`, or the address.
    pub head: &'a [u8],
    /// `+g.oma.sip-im` parameters (any value).
    pub im: Vec<Param>,
    /// `+g.oma.sip-im.large-message` parameters (any value).
    pub lmm: Vec<Param>,
    /// TRUE-valued `+g.oma.sip-im` count.
    pub im_true: usize,
    /// TRUE-valued `+g.oma.sip-im.large-message` count.
    pub lmm_true: usize,
    /// `+g.3gpp.icsi-ref` parameters.
    pub icsi: Vec<Param>,
    /// Every icsi-ref item, raw.
    pub icsi_raw: Vec<Span>,
    /// Every icsi-ref item, normalised.
    pub icsi_norm: Vec<String>,
    /// Mapped CPM ICSIs among them.
    pub cpm: Vec<CpmIcsi>,
    /// Normalised icsi-ref items that are not mapped CPM ICSIs.
    pub other_icsi: Vec<String>,
    /// Every other parameter: (lowercased name, raw value).
    pub others: Vec<(String, Vec<u8>)>,
    /// Every parameter as [`ValueView::all_params`] lists them, worked out when first asked
    /// (the fields above are not changed after that).
    all: std::cell::OnceCell<Vec<(String, Vec<u8>)>>,
}

impl<'a> ValueView<'a> {
    /// View the value at `span` of `buf`.
    pub fn new(buf: &'a [u8], span: Span) -> ValueView<'a> {
        let pl = ParamList::parse(buf, span);
        let mut v = ValueView {
            buf,
            text: crate::sip::lossy(span.of(buf)).into_owned(),
            head: pl.head.of(buf),
            im: Vec::new(),
            lmm: Vec::new(),
            im_true: 0,
            lmm_true: 0,
            icsi: Vec::new(),
            icsi_raw: Vec::new(),
            icsi_norm: Vec::new(),
            cpm: Vec::new(),
            other_icsi: Vec::new(),
            others: Vec::new(),
            all: std::cell::OnceCell::new(),
        };
        for p in &pl.params {
            if p.is(buf, IM_TAG) {
                v.im_true += usize::from(p.boolean(buf) == Some(true));
                v.im.push(*p);
            } else if p.is(buf, LMM_TAG) {
                v.lmm_true += usize::from(p.boolean(buf) == Some(true));
                v.lmm.push(*p);
            } else if p.is(buf, ICSI_REF) {
                v.icsi.push(*p);
                for item in p.value_items_iter(buf) {
                    let n = norm(item.of(buf));
                    match CpmIcsi::from_norm(&n) {
                        Some(c) => v.cpm.push(c),
                        None => v.other_icsi.push(n.clone()),
                    }
                    v.icsi_raw.push(item);
                    v.icsi_norm.push(n);
                }
            } else {
                v.others.push((
                    p.name_text(buf).to_ascii_lowercase(),
                    p.value.map(|s| pct_upper(s.of(buf))).unwrap_or_default(),
                ));
            }
        }
        v.others.sort();
        v.other_icsi.sort();
        v
    }

    /// Every parameter, (lowercased name, value with upper-case percent-escapes), sorted.
    fn all_params(&self) -> &[(String, Vec<u8>)] {
        self.all.get_or_init(|| {
            let mut all = self.others.clone();
            for p in self.im.iter().chain(&self.lmm).chain(&self.icsi) {
                all.push((
                    p.name_text(self.buf).to_ascii_lowercase(),
                    p.value.map(|s| pct_upper(s.of(self.buf))).unwrap_or_default(),
                ));
            }
            all.sort();
            all
        })
    }
}

/// Percent-escapes with upper-case hex digits: `%3a` and `%3A` mean the same (RFC 3986 §2.1).
fn pct_upper(v: &[u8]) -> Vec<u8> {
    let mut out = v.to_vec();
    let mut i = 0;
    while i + 2 < out.len() {
        if out[i] == b'%' && out[i + 1].is_ascii_hexdigit() && out[i + 2].is_ascii_hexdigit() {
            out[i + 1] = out[i + 1].to_ascii_uppercase();
            out[i + 2] = out[i + 2].to_ascii_uppercase();
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

fn diff_others(a: &ValueView<'_>, b: &ValueView<'_>) -> Option<String> {
    let show = |v: &[(String, Vec<u8>)]| {
        v.iter()
            .map(|(n, val)| if val.is_empty() { n.clone() } else { format!("{n}={}", crate::sip::lossy(val)) })
            .collect::<Vec<_>>()
            .join(";")
    };
    let missing: Vec<_> = a.others.iter().filter(|x| !b.others.contains(x)).cloned().collect();
    let added: Vec<_> = b.others.iter().filter(|x| !a.others.contains(x)).cloned().collect();
    if missing.is_empty() && added.is_empty() && a.head == b.head && a.other_icsi == b.other_icsi {
        return None;
    }
    let mut parts = Vec::new();
    if a.head != b.head {
        parts.push(format!("address {} became {}", crate::sip::lossy(a.head), crate::sip::lossy(b.head)));
    }
    if !missing.is_empty() {
        parts.push(format!("lost {}", show(&missing)));
    }
    if !added.is_empty() {
        parts.push(format!("gained {}", show(&added)));
    }
    if a.other_icsi != b.other_icsi {
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        parts.push(format!("non-CPM icsi-ref items {} became {}", list(&a.other_icsi), list(&b.other_icsi)));
    }
    Some(parts.join("; "))
}

/// True when `b` means the same as `a` (RFC 3840: parameter order and name case are free).
pub fn same_meaning(a: &ValueView<'_>, b: &ValueView<'_>) -> bool {
    a.head == b.head && a.all_params() == b.all_params()
}

/// True when `b` keeps every parameter of `a` that the mapping does not own.
pub fn keeps_others(a: &ValueView<'_>, b: &ValueView<'_>) -> bool {
    let a_cpm_other: Vec<&String> = a.other_icsi.iter().filter(|n| !is_cpm_family(n)).collect();
    let b_cpm_other: Vec<&String> = b.other_icsi.iter().filter(|n| !is_cpm_family(n)).collect();
    a.head == b.head && a.others == b.others && a_cpm_other == b_cpm_other
}

/// An `oma.cpm.*` ICSI that Table 1 does not map (deferred, systemmsg, ...).
pub fn is_cpm_family(n: &str) -> bool {
    n.contains("3gpp-service.ims.icsi.oma.cpm.")
}

/// A value the mapping does not own must arrive unchanged (semantically). On CPM -> IM a value
/// that gained a CPM ICSI is left to the leftover and `T3.MAP` rules: one defect, one ID.
pub fn judge_untouched(
    j: &mut Judge,
    a: &ValueView<'_>,
    b: &ValueView<'_>,
    header: &str,
    loc: Location,
    cpm_to_im: bool,
) {
    let invented = cpm_to_im && b.cpm.iter().any(|c| !a.cpm.contains(c));
    if !invented && !same_meaning(a, b) {
        j.violation(
            ReqId::SIP_PRESERVE,
            format!("{header}: {} (unchanged)", a.text),
            format!("{header}: {}", b.text),
            loc,
        );
    }
}

/// CPM -> IM, a value that carried a mapped CPM ICSI.
pub fn judge_cpm_to_im_value(j: &mut Judge, id: ReqId, a: &ValueView<'_>, b: &ValueView<'_>, lmm: bool, loc: Location) {
    // What the tags should be, written only for a finding that says it.
    let want = || if lmm { format!("{IM_TAG};{LMM_TAG}") } else { IM_TAG.to_string() };
    if b.im_true == 0 {
        j.violation(id, format!("{} in place of the CPM ICSI", want()), &b.text, loc.clone());
    }
    if lmm && b.lmm_true == 0 {
        j.violation(id, format!("{} (large message mode: both IM tags)", want()), &b.text, loc.clone());
    }
    if b.im.len() > 1 || b.lmm.len() > 1 || b.icsi.len() > 1 {
        j.violation(id, "no feature tag twice in one value (RFC 3841)", &b.text, loc.clone());
    }
    if !lmm && !b.lmm.is_empty() && a.lmm.is_empty() {
        j.violation(ReqId::T3_MAP, format!("{IM_TAG} only (not a large-message request)"), &b.text, loc.clone());
    }
    for p in b.im.iter().chain(&b.lmm) {
        let name = p.name.of(b.buf);
        if (name != IM_TAG.as_bytes() && name != LMM_TAG.as_bytes()) || p.value.is_some() {
            j.violation(
                ReqId::T3_MAP,
                format!("{} spelled exactly as Table 1", want()),
                crate::sip::lossy(p.span.of(b.buf)).into_owned(),
                loc.clone(),
            );
            break;
        }
    }
    // The IM tag written inside the address (a URI parameter, not a feature tag) is one defect,
    // judged above under the service's ID (no IM tag); the address is otherwise the same.
    let head = strip_tags(b.head);
    let b_head = ValueView { head: &head, ..ValueView::new(b.buf, Span::new(0, 0)) };
    let b2 = ValueView { others: b.others.clone(), other_icsi: b.other_icsi.clone(), ..b_head };
    if let Some(d) = diff_others(a, &b2) {
        j.violation(ReqId::SIP_PRESERVE, format!("every other parameter of {} kept", a.text), d, loc);
    }
}

/// `head` without IM feature tags written as URI parameters (`<sip:b@h;+g.oma.sip-im>`).
fn strip_tags(head: &[u8]) -> Vec<u8> {
    let text = crate::sip::lossy(head);
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(i) = rest.to_ascii_lowercase().find(";+g.oma.sip-im") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find([';', '>', '?']).unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out.into_bytes()
}

/// IM -> CPM, a value that carried a TRUE IM tag.
pub fn judge_im_to_cpm_value(
    j: &mut Judge,
    id: ReqId,
    a: &ValueView<'_>,
    b: &ValueView<'_>,
    service: Service,
    loc: Location,
) {
    let row = service.row();
    let want_norm = norm(row.icsi.as_bytes());
    let want_text = format!("{ICSI_REF}=\"{}\"", row.icsi_encoded);
    match b.icsi_norm.iter().position(|n| *n == want_norm) {
        // Another CPM ICSI than the service's (e.g. cpm.msg for a file transfer, or the
        // deferred ICSI the server never emits): a Table 1 spelling defect.
        None if !b.cpm.is_empty() || b.other_icsi.iter().any(|n| is_cpm_family(n)) => {
            j.violation(ReqId::T3_MAP, format!("{want_text} (the ICSI of {service})"), &b.text, loc.clone())
        }
        None => j.violation(id, format!("{want_text} in place of the IM tags"), &b.text, loc.clone()),
        Some(i) => {
            let raw = b.icsi_raw[i].of(b.buf);
            let quoted = b.icsi.iter().all(|p| p.is_quoted(b.buf));
            let exact_name = b.icsi.iter().all(|p| p.name.of(b.buf) == ICSI_REF.as_bytes());
            if raw != row.icsi_encoded.as_bytes() || !quoted || !exact_name {
                j.violation(
                    ReqId::T3_MAP,
                    format!("{want_text} (percent-encoded, quoted, as Table 1)"),
                    &b.text,
                    loc.clone(),
                );
            } else if b.cpm.iter().any(|c| Some(*c) != CpmIcsi::from_norm(&want_norm)) {
                j.violation(ReqId::T3_MAP, format!("only the ICSI of {service}"), &b.text, loc.clone());
            }
        }
    }
    if b.icsi.len() > 1 {
        j.violation(id, "one +g.3gpp.icsi-ref parameter (merged list, RFC 3841)", &b.text, loc.clone());
    }
    let keep = |v: &ValueView<'_>| v.other_icsi.iter().filter(|n| !is_cpm_family(n)).cloned().collect::<Vec<_>>();
    let mut a2 = ValueView { other_icsi: keep(a), ..ValueView::new(a.buf, Span::new(0, 0)) };
    a2.head = a.head;
    a2.others = a.others.clone();
    a2.text = a.text.clone();
    // Negated IM tags are not mapped: they count among the other parameters on both sides.
    let neg = |v: &ValueView<'_>| -> Vec<(String, Vec<u8>)> {
        v.im.iter()
            .chain(&v.lmm)
            .filter(|p| p.boolean(v.buf) != Some(true))
            .map(|p| {
                (p.name_text(v.buf).to_ascii_lowercase(), p.value.map(|s| s.of(v.buf).to_vec()).unwrap_or_default())
            })
            .collect()
    };
    a2.others.extend(neg(a));
    a2.others.sort();
    let mut b2 = ValueView { other_icsi: keep(b), ..ValueView::new(b.buf, Span::new(0, 0)) };
    b2.head = b.head;
    b2.others = b.others.clone();
    b2.others.extend(neg(b));
    b2.others.sort();
    if let Some(d) = diff_others(&a2, &b2) {
        j.violation(ReqId::SIP_PRESERVE, format!("every other parameter of {} kept", a.text), d, loc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::finding::{Finding, Verdict};

    const MSG: &str = r#"+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg""#;
    const LARGE: &str = r#"+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg""#;

    fn view(s: &str) -> ValueView<'_> {
        ValueView::new(s.as_bytes(), Span::new(0, s.len()))
    }

    fn pairs(f: &[Finding]) -> Vec<(ReqId, Verdict)> {
        f.iter().map(|x| (x.requirement, x.verdict)).collect()
    }

    /// The findings of one value rule on its own.
    fn run(rule: impl FnOnce(&mut Judge)) -> Vec<(ReqId, Verdict)> {
        let mut j = Judge::default();
        rule(&mut j);
        pairs(&j.finish(Location::default()))
    }

    #[test]
    fn view_sorts_parameters_by_role() {
        let s = format!(r#"*;{MSG};+g.oma.sip-im="FALSE";+sip.instance="<urn:uuid:1>";Require"#);
        let v = view(&s);
        assert_eq!(v.head, b"*");
        assert_eq!(v.cpm, vec![CpmIcsi::Msg]);
        assert_eq!(v.im.len(), 1);
        assert_eq!(v.im_true, 0);
        assert_eq!(v.lmm_true, 0);
        assert_eq!(
            v.others,
            vec![("+sip.instance".to_string(), b"\"<urn:uuid:1>\"".to_vec()), ("require".to_string(), Vec::new())]
        );
    }

    #[test]
    fn same_meaning_ignores_order_and_name_case() {
        let a = view(r#"<sip:bob@192.0.2.1>;+sip.instance="<urn:uuid:1>";expires=60;+g.oma.sip-im"#);
        let b = view(r#"<sip:bob@192.0.2.1>;+G.OMA.SIP-IM;EXPIRES=60;+SIP.Instance="<urn:uuid:1>""#);
        assert!(same_meaning(&a, &b));
        assert!(same_meaning(&b, &a));
    }

    #[test]
    fn same_meaning_sees_value_and_address_changes() {
        let a = view(r#"<sip:bob@192.0.2.1>;+sip.instance="<urn:uuid:1>";expires=60"#);
        assert!(!same_meaning(&a, &view(r#"<sip:bob@192.0.2.1>;+sip.instance="<urn:uuid:2>";expires=60"#)));
        assert!(!same_meaning(&a, &view(r#"<sip:bob@192.0.2.1>;+sip.instance="<urn:uuid:1>";expires=61"#)));
        assert!(!same_meaning(&a, &view(r#"<sip:bob@192.0.2.1>;+sip.instance="<urn:uuid:1>""#)));
        assert!(!same_meaning(&a, &view(r#"<sip:bob@192.0.2.1>;+sip.instance="<urn:uuid:1>";expires=60;q=0.5"#)));
        assert!(!same_meaning(&a, &view(r#"<sip:bob@192.0.2.2>;+sip.instance="<urn:uuid:1>";expires=60"#)));
        // A mapped tag is a parameter like any other here.
        assert!(!same_meaning(&view("*;+g.oma.sip-im"), &view(&format!("*;{MSG}"))));
    }

    #[test]
    fn keeps_others_ignores_the_mapped_tags() {
        let a = format!(r#"<sip:bob@192.0.2.1>;{MSG};+sip.instance="<urn:uuid:1>";require"#);
        let b = r#"<sip:bob@192.0.2.1>;+g.oma.sip-im;+sip.instance="<urn:uuid:1>";require"#;
        assert!(keeps_others(&view(&a), &view(b)));
        // Tags of either family, mapped or left behind, are not "others".
        let both =
            format!(r#"<sip:bob@192.0.2.1>;{LARGE};+g.oma.sip-im.large-message;require;+sip.instance="<urn:uuid:1>""#);
        assert!(keeps_others(&view(&a), &view(&both)));
    }

    #[test]
    fn keeps_others_sees_a_dropped_or_changed_parameter() {
        let a = format!(r#"<sip:bob@192.0.2.1>;{MSG};+sip.instance="<urn:uuid:1>";require"#);
        assert!(!keeps_others(&view(&a), &view("<sip:bob@192.0.2.1>;+g.oma.sip-im;require")));
        assert!(!keeps_others(&view(&a), &view(r#"<sip:bob@192.0.2.1>;+g.oma.sip-im;+sip.instance="<urn:uuid:1>""#)));
        assert!(!keeps_others(
            &view(&a),
            &view(r#"<sip:bob@192.0.2.9>;+g.oma.sip-im;+sip.instance="<urn:uuid:1>";require"#)
        ));
        // A non-CPM icsi-ref item is another parameter: it must stay.
        let mmtel = r#"*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel""#;
        assert!(!keeps_others(&view(mmtel), &view("*;+g.oma.sip-im")));
        assert!(keeps_others(&view(mmtel), &view(&format!("{mmtel};+g.oma.sip-im"))));
    }

    #[test]
    fn cpm_to_im_lmm_without_the_large_message_tag_is_a_violation_of_the_given_id() {
        let a = format!("*;{LARGE}");
        let f = run(|j| {
            judge_cpm_to_im_value(j, ReqId::T2_ORIG_LMM, &view(&a), &view("*;+g.oma.sip-im"), true, Location::default())
        });
        assert_eq!(f, vec![(ReqId::T2_ORIG_LMM, Verdict::Fail)]);
        // Both tags: nothing to report.
        let ok = run(|j| {
            let b = view("*;+g.oma.sip-im;+g.oma.sip-im.large-message");
            judge_cpm_to_im_value(j, ReqId::T2_ORIG_LMM, &view(&a), &b, true, Location::default())
        });
        assert_eq!(ok, vec![]);
    }

    #[test]
    fn cpm_to_im_value_defects_under_their_own_ids() {
        let a = format!(r#"*;{MSG};+sip.instance="<urn:uuid:1>""#);
        let id = ReqId::T1_TERM_PAGER;
        let judge = |b: &str| run(|j| judge_cpm_to_im_value(j, id, &view(&a), &view(b), false, Location::default()));
        assert_eq!(judge(r#"*;+g.oma.sip-im;+sip.instance="<urn:uuid:1>""#), vec![]);
        // The IM tag missing.
        assert_eq!(judge(&format!(r#"*;{MSG};+sip.instance="<urn:uuid:1>""#)), vec![(id, Verdict::Fail)]);
        // Twice in one value.
        assert_eq!(judge(r#"*;+g.oma.sip-im;+g.oma.sip-im;+sip.instance="<urn:uuid:1>""#), vec![(id, Verdict::Fail)]);
        // A large-message tag on a request that is not one.
        assert_eq!(
            judge(r#"*;+g.oma.sip-im;+g.oma.sip-im.large-message;+sip.instance="<urn:uuid:1>""#),
            vec![(ReqId::T3_MAP, Verdict::Fail)]
        );
        // Spelled otherwise than Table 1 (D12).
        assert_eq!(
            judge(r#"*;+g.oma.sip-im="TRUE";+sip.instance="<urn:uuid:1>""#),
            vec![(ReqId::T3_MAP, Verdict::Fail)]
        );
        assert_eq!(judge(r#"*;+G.OMA.SIP-IM;+sip.instance="<urn:uuid:1>""#), vec![(ReqId::T3_MAP, Verdict::Fail)]);
        // Another parameter lost.
        assert_eq!(judge("*;+g.oma.sip-im"), vec![(ReqId::SIP_PRESERVE, Verdict::Fail)]);
    }

    #[test]
    fn im_to_cpm_value_rules() {
        let a = r#"<sip:bob@192.0.2.1>;+g.oma.sip-im;+sip.instance="<urn:uuid:1>""#;
        let id = ReqId::T2_TERM_PAGER;
        let judge =
            |b: &str| run(|j| judge_im_to_cpm_value(j, id, &view(a), &view(b), Service::Pager, Location::default()));
        assert_eq!(judge(&format!(r#"<sip:bob@192.0.2.1>;{MSG};+sip.instance="<urn:uuid:1>""#)), vec![]);
        // No ICSI at all.
        assert_eq!(judge(r#"<sip:bob@192.0.2.1>;+sip.instance="<urn:uuid:1>""#), vec![(id, Verdict::Fail)]);
        // The ICSI of another service, or unencoded.
        assert_eq!(
            judge(&format!(r#"<sip:bob@192.0.2.1>;{LARGE};+sip.instance="<urn:uuid:1>""#)),
            vec![(ReqId::T3_MAP, Verdict::Fail)]
        );
        assert_eq!(
            judge(
                r#"<sip:bob@192.0.2.1>;+g.3gpp.icsi-ref="urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg";+sip.instance="<urn:uuid:1>""#
            ),
            vec![(ReqId::T3_MAP, Verdict::Fail)]
        );
        // +sip.instance lost.
        assert_eq!(judge(&format!("<sip:bob@192.0.2.1>;{MSG}")), vec![(ReqId::SIP_PRESERVE, Verdict::Fail)]);
    }

    #[test]
    fn untouched_value_changed_is_sip_preserve_unless_a_cpm_icsi_was_invented() {
        let a = view(r##"*;+g.gsma.rcs.botversion="#=1";require"##);
        let same = run(|j| {
            judge_untouched(
                j,
                &a,
                &view(r##"*;Require;+g.gsma.rcs.botversion="#=1""##),
                "Accept-Contact",
                Location::default(),
                true,
            )
        });
        assert_eq!(same, vec![]);
        let changed = run(|j| {
            judge_untouched(
                j,
                &a,
                &view(r##"*;+g.gsma.rcs.botversion="#=1""##),
                "Accept-Contact",
                Location::default(),
                true,
            )
        });
        assert_eq!(changed, vec![(ReqId::SIP_PRESERVE, Verdict::Fail)]);
        // On CPM -> IM, gaining a CPM ICSI is judged elsewhere (leftovers, T3.MAP); on IM -> CPM
        // an untouched value that gained the ICSI changed.
        let invented = format!(r##"*;+g.gsma.rcs.botversion="#=1";require;{MSG}"##);
        assert_eq!(
            run(|j| judge_untouched(j, &a, &view(&invented), "Accept-Contact", Location::default(), true)),
            vec![]
        );
        assert_eq!(
            run(|j| judge_untouched(j, &a, &view(&invented), "Accept-Contact", Location::default(), false)),
            vec![(ReqId::SIP_PRESERVE, Verdict::Fail)]
        );
    }

    #[test]
    fn cpm_family_is_every_oma_cpm_icsi() {
        assert!(is_cpm_family("urn:urn-7:3gpp-service.ims.icsi.oma.cpm.deferred"));
        assert!(is_cpm_family("urn:urn-7:3gpp-service.ims.icsi.oma.cpm.systemmsg"));
        assert!(!is_cpm_family("urn:urn-7:3gpp-service.ims.icsi.mmtel"));
    }
}
