//! Conversation identity across a trace (docs/decisions.md D10): Conversation-IDs the server
//! generates are stable per pair or group and distinct between them, the one a local CPM client
//! sent first is reused toward it, an IMDN carries the IDs of the message it reports on, and
//! Contribution-IDs are fresh per contribution.

use super::judge::Judge;
use super::trace::Delivery;
use crate::base::Service;
use crate::interop::finding::Location;
use crate::interop::rules::ReqId;
use std::collections::BTreeMap;

/// A message of a trace named by its number, as findings locate it: `message #n`, from 1.
pub fn trace_message(index: usize) -> String {
    format!("message #{}", Location::number(index))
}

fn loc(d: &Delivery) -> Location {
    Location {
        message: Some(Location::number(d.egress)),
        side: Some("egress".into()),
        header: Some("Conversation-ID".into()),
        ..Location::default()
    }
}

/// Judge every delivery of a trace together. `name` names the message at a position (an
/// ingress or egress of a delivery) in a finding's text: [`trace_message`] on a trace.
pub fn judge_conversations(j: &mut Judge, all: &[Delivery], name: &dyn Fn(usize) -> String) {
    judge_conversations_after(j, all, name, &mut Earlier::default());
}

/// The first Conversation-ID of each pair or group in deliveries judged before (earlier batches
/// of a long capture or load run), so that a change of ID between two batches is seen as within
/// one. At most [`Earlier::CAP`] pairs or groups are remembered; past that the ones first met
/// later are not.
#[derive(Debug, Default)]
pub struct Earlier {
    first: std::collections::HashMap<String, String>,
}

impl Earlier {
    /// Pairs or groups remembered at most.
    pub const CAP: usize = 100_000;
}

/// [`judge_conversations`] for one batch of deliveries, after the batches in `earlier` (which
/// it then updates).
pub fn judge_conversations_after(
    j: &mut Judge,
    all: &[Delivery],
    name: &dyn Fn(usize) -> String,
    earlier: &mut Earlier,
) {
    // Conversation-IDs seen per key, in order: what the local CPM client sent (originating) and
    // what the server delivered (terminating); `None` for an earlier batch's.
    let mut first: BTreeMap<&str, (String, Option<usize>)> = BTreeMap::new();
    // Every Conversation-ID seen, with the pair or group and the message it was seen at.
    let mut owners: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
    for d in all {
        if let Some(c) = &d.conv_in {
            owners.entry(c.as_str()).or_default().push((d.key.as_str(), d.ingress));
        }
        if let (true, Some(c)) = (d.to_cpm, &d.conv_out) {
            owners.entry(c.as_str()).or_default().push((d.key.as_str(), d.egress));
        }
    }
    for d in all {
        if !first.contains_key(d.key.as_str()) {
            if let Some(c) = earlier.first.get(&d.key) {
                first.insert(&d.key, (c.clone(), None));
            }
        }
        if !d.to_cpm {
            if let Some(c) = &d.conv_in {
                first.entry(&d.key).or_insert((c.clone(), Some(d.ingress)));
            }
            continue;
        }
        if d.service == Service::Imdn {
            continue; // judged below against its message
        }
        let Some(out) = &d.conv_out else { continue };
        if d.conv_in.is_some() {
            continue; // kept from the request: T2.CONVID.KEPT judges it
        }
        // Judged (PASS or not) only where there is something to compare with: the pair's or
        // group's first Conversation-ID, here or in an earlier batch.
        match first.get(d.key.as_str()) {
            Some((c, at)) => {
                j.checked(ReqId::T2_CONVID_STABLE, "one Conversation-ID per pair or group, reusing the client's own");
                if c != out {
                    let seen = at.map_or_else(|| "an earlier message".to_string(), name);
                    j.violation(
                        ReqId::T2_CONVID_STABLE,
                        format!("Conversation-ID: {c} (as first seen at {seen} for {})", d.key),
                        format!("Conversation-ID: {out}"),
                        loc(d),
                    );
                }
            }
            None => {
                first.insert(&d.key, (out.clone(), Some(d.egress)));
            }
        }
        j.checked(ReqId::T2_CONVID_DISTINCT, "different Conversation-IDs for different pairs or groups");
        // An ID the server chose must not be one another pair or group used before, whether the
        // server chose it there too or a client sent it.
        let other = owners
            .get(out.as_str())
            .and_then(|seen| seen.iter().find(|(k, at)| *k != d.key.as_str() && *at < d.egress))
            .map(|(k, _)| *k);
        if let Some(other) = other {
            j.violation(
                ReqId::T2_CONVID_DISTINCT,
                format!("a Conversation-ID of its own for {}", d.key),
                format!("Conversation-ID: {out}, also used for {other}"),
                loc(d),
            );
        }
    }
    for (key, (c, _)) in &first {
        if earlier.first.len() < Earlier::CAP || earlier.first.contains_key(*key) {
            earlier.first.entry((*key).to_string()).or_insert_with(|| c.clone());
        }
    }
    // Contribution-IDs the server generated: fresh per contribution.
    let mut contribs: BTreeMap<&str, usize> = BTreeMap::new();
    for d in all.iter().filter(|d| d.to_cpm && d.contrib_in.is_none() && d.service != Service::Imdn) {
        if let Some(c) = &d.contrib_out {
            j.checked(ReqId::T2_CONTRIB_ADDED, "a fresh Contribution-ID per contribution");
            if let Some(at) = contribs.insert(c, d.egress) {
                j.violation(
                    ReqId::T2_CONTRIB_ADDED,
                    "a fresh Contribution-ID per contribution",
                    format!("Contribution-ID: {c}, already used at {}", name(at)),
                    Location { header: Some("Contribution-ID".into()), ..loc(d) },
                );
            }
        }
    }
    // IMDNs toward a CPM client carry the IDs of the message they report on.
    for d in all.iter().filter(|d| d.to_cpm && d.service == Service::Imdn) {
        let Some(mid) = &d.reports_on else { continue };
        let Some(orig) = all.iter().find(|m| m.message_id.as_deref() == Some(mid.as_str()) && m.ingress < d.ingress)
        else {
            continue;
        };
        let (conv, contrib) =
            if orig.to_cpm { (&orig.conv_out, &orig.contrib_out) } else { (&orig.conv_in, &orig.contrib_in) };
        // Judged only where there is something to compare: the IMDN came without IDs of its
        // own (one it carried is T2.CONVID.KEPT's to judge) and its message had them.
        if d.conv_in.is_none() && conv.is_some() {
            j.checked(ReqId::T2_CONVID_STABLE, "an IMDN carries the Conversation-ID of its message");
        }
        if d.conv_in.is_none() && conv.is_some() && &d.conv_out != conv {
            j.violation(
                ReqId::T2_CONVID_STABLE,
                format!("Conversation-ID: {} (that of message {mid})", conv.as_deref().unwrap_or("")),
                format!("Conversation-ID: {}", d.conv_out.as_deref().unwrap_or("absent")),
                loc(d),
            );
        }
        if d.contrib_in.is_none() && contrib.is_some() {
            j.checked(ReqId::T2_CONTRIB_ADDED, "an IMDN carries the Contribution-ID of its message");
        }
        if d.contrib_in.is_none() && contrib.is_some() && &d.contrib_out != contrib {
            j.violation(
                ReqId::T2_CONTRIB_ADDED,
                format!("Contribution-ID: {} (that of message {mid})", contrib.as_deref().unwrap_or("")),
                format!("Contribution-ID: {}", d.contrib_out.as_deref().unwrap_or("absent")),
                Location { header: Some("Contribution-ID".into()), ..loc(d) },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::finding::{Finding, Verdict};

    const AB: &str = "sip:alice@im.example.net sip:bob@im.example.net";
    const AC: &str = "sip:alice@im.example.net sip:carol@im.example.net";

    /// A pager delivery toward (`to_cpm`) or from a local CPM client, for conversation `key`,
    /// at trace indices `at` (ingress) and `at + 1` (egress).
    fn d(to_cpm: bool, key: &str, conv_in: Option<&str>, conv_out: Option<&str>, at: usize) -> Delivery {
        Delivery {
            to_cpm,
            key: key.into(),
            local: String::new(),
            peer: String::new(),
            service: Service::Pager,
            conv_in: conv_in.map(Into::into),
            conv_out: conv_out.map(Into::into),
            contrib_in: None,
            contrib_out: None,
            message_id: None,
            reports_on: None,
            ingress: at,
            egress: at + 1,
        }
    }

    fn judge(all: &[Delivery]) -> Vec<Finding> {
        let mut j = Judge::default();
        judge_conversations(&mut j, all, &trace_message);
        j.finish_trace()
    }

    fn pairs(f: &[Finding]) -> Vec<(ReqId, Verdict)> {
        f.iter().map(|x| (x.requirement, x.verdict)).collect()
    }

    #[test]
    fn one_id_per_pair_and_distinct_ids_pass() {
        let all =
            [d(true, AB, None, Some("c1"), 0), d(true, AB, None, Some("c1"), 2), d(true, AC, None, Some("c2"), 4)];
        assert_eq!(
            pairs(&judge(&all)),
            vec![(ReqId::T2_CONVID_DISTINCT, Verdict::Pass), (ReqId::T2_CONVID_STABLE, Verdict::Pass)]
        );
    }

    /// Stability is judged only where there is something to compare: one delivery per pair is
    /// no PASS of it (nothing was compared), however many pairs.
    #[test]
    fn one_delivery_per_pair_judges_no_stability() {
        let all = [d(true, AB, None, Some("c1"), 0), d(true, AC, None, Some("c2"), 2)];
        assert_eq!(pairs(&judge(&all)), vec![(ReqId::T2_CONVID_DISTINCT, Verdict::Pass)]);
    }

    /// A pair's ID that changes between two batches (a long capture or load run) is found as
    /// within one; the earlier batch's message is named as such.
    #[test]
    fn a_change_between_batches_is_seen() {
        let mut earlier = Earlier::default();
        let mut j = Judge::default();
        judge_conversations_after(&mut j, &[d(true, AB, None, Some("c1"), 0)], &trace_message, &mut earlier);
        assert_eq!(pairs(&j.finish_trace()), vec![(ReqId::T2_CONVID_DISTINCT, Verdict::Pass)]);
        let mut j = Judge::default();
        judge_conversations_after(&mut j, &[d(true, AB, None, Some("c2"), 0)], &trace_message, &mut earlier);
        let f = j.finish_trace();
        assert!(pairs(&f).contains(&(ReqId::T2_CONVID_STABLE, Verdict::NonStrict)), "{f:?}");
        let stable = f.iter().find(|x| x.requirement == ReqId::T2_CONVID_STABLE).unwrap();
        assert_eq!(stable.expected, format!("Conversation-ID: c1 (as first seen at an earlier message for {AB})"));
        // The same ID again in a third batch: a PASS.
        let mut j = Judge::default();
        judge_conversations_after(&mut j, &[d(true, AB, None, Some("c1"), 0)], &trace_message, &mut earlier);
        assert!(pairs(&j.finish_trace()).contains(&(ReqId::T2_CONVID_STABLE, Verdict::Pass)));
    }

    #[test]
    fn two_ids_for_one_pair_are_non_strict_stable() {
        let all = [d(true, AB, None, Some("c1"), 0), d(true, AB, None, Some("c2"), 2)];
        let f = judge(&all);
        assert_eq!(
            pairs(&f),
            vec![(ReqId::T2_CONVID_STABLE, Verdict::NonStrict), (ReqId::T2_CONVID_DISTINCT, Verdict::Pass)]
        );
        assert_eq!(f[0].location.message, Some(4), "the egress at index 3 is message #4");
        assert_eq!(f[0].observed, "Conversation-ID: c2");
        assert_eq!(f[0].expected, format!("Conversation-ID: c1 (as first seen at message #2 for {AB})"));
    }

    #[test]
    fn one_id_for_two_pairs_is_non_strict_distinct() {
        let all = [d(true, AB, None, Some("c1"), 0), d(true, AC, None, Some("c1"), 2)];
        let f = judge(&all);
        assert_eq!(pairs(&f), vec![(ReqId::T2_CONVID_DISTINCT, Verdict::NonStrict)]);
        assert_eq!(f[0].location.message, Some(4), "the egress at index 3 is message #4");
        assert_eq!(f[0].observed, format!("Conversation-ID: c1, also used for {AB}"));
    }

    #[test]
    fn an_id_a_client_sent_for_one_pair_is_not_generated_for_another() {
        // The client used "x" with B; the server later chose "x" toward the pair with C.
        let all = [d(false, AB, Some("x"), Some("x"), 0), d(true, AC, None, Some("x"), 2)];
        let f = judge(&all);
        assert!(pairs(&f).contains(&(ReqId::T2_CONVID_DISTINCT, Verdict::NonStrict)), "{f:?}");
    }

    #[test]
    fn the_id_a_cpm_client_sent_first_is_reused_toward_it() {
        // The local CPM client opened the conversation with its own ID ...
        let sent = d(false, AB, Some("mine"), Some("mine"), 0);
        // ... then the peer answers through the server: the client's ID is expected.
        let reused = [sent.clone(), d(true, AB, None, Some("mine"), 2)];
        assert_eq!(
            pairs(&judge(&reused)),
            vec![(ReqId::T2_CONVID_STABLE, Verdict::Pass), (ReqId::T2_CONVID_DISTINCT, Verdict::Pass)]
        );
        let fresh = [sent, d(true, AB, None, Some("other"), 2)];
        assert_eq!(
            pairs(&judge(&fresh)),
            vec![(ReqId::T2_CONVID_STABLE, Verdict::NonStrict), (ReqId::T2_CONVID_DISTINCT, Verdict::Pass)]
        );
    }

    #[test]
    fn an_id_kept_from_the_request_is_not_judged_here() {
        // T2.CONVID.KEPT (pair rule) judges an ID that was already on the request.
        let all = [d(true, AB, None, Some("c1"), 0), d(true, AB, Some("theirs"), Some("theirs"), 2)];
        assert_eq!(pairs(&judge(&all)), vec![(ReqId::T2_CONVID_DISTINCT, Verdict::Pass)]);
        // Nothing generated by the server at all: nothing checked.
        assert!(judge(&[d(true, AB, Some("theirs"), Some("theirs"), 0)]).is_empty());
        assert!(judge(&[d(true, AB, None, None, 0)]).is_empty());
    }

    #[test]
    fn a_contribution_id_reused_is_non_strict() {
        let with = |at: usize, c: &str| Delivery { contrib_out: Some(c.into()), ..d(true, AB, None, Some("c1"), at) };
        let f = judge(&[with(0, "k1"), with(2, "k2")]);
        assert!(f.iter().all(|x| x.verdict == Verdict::Pass), "{:?}", pairs(&f));
        assert!(pairs(&f).contains(&(ReqId::T2_CONTRIB_ADDED, Verdict::Pass)));
        let f = judge(&[with(0, "k1"), with(2, "k1")]);
        let bad: Vec<_> = pairs(&f).into_iter().filter(|x| x.1 != Verdict::Pass).collect();
        assert_eq!(bad, vec![(ReqId::T2_CONTRIB_ADDED, Verdict::NonStrict)]);
    }

    #[test]
    fn an_imdn_carries_the_ids_of_its_message() {
        // The local CPM client sent a message (originating) with its IDs; the IMDN about it
        // comes back toward the client.
        let msg = Delivery {
            message_id: Some("m-1".into()),
            contrib_in: Some("k1".into()),
            ..d(false, AB, Some("c1"), Some("c1"), 0)
        };
        let imdn = |conv: &str, contrib: &str| Delivery {
            service: Service::Imdn,
            reports_on: Some("m-1".into()),
            contrib_out: Some(contrib.into()),
            ..d(true, AB, None, Some(conv), 2)
        };
        let ok = judge(&[msg.clone(), imdn("c1", "k1")]);
        assert_eq!(
            pairs(&ok),
            vec![(ReqId::T2_CONVID_STABLE, Verdict::Pass), (ReqId::T2_CONTRIB_ADDED, Verdict::Pass)]
        );
        let other_conv = judge(&[msg.clone(), imdn("c9", "k1")]);
        assert_eq!(
            pairs(&other_conv),
            vec![(ReqId::T2_CONVID_STABLE, Verdict::NonStrict), (ReqId::T2_CONTRIB_ADDED, Verdict::Pass)]
        );
        let other_contrib = judge(&[msg.clone(), imdn("c1", "k9")]);
        assert_eq!(
            pairs(&other_contrib),
            vec![(ReqId::T2_CONTRIB_ADDED, Verdict::NonStrict), (ReqId::T2_CONVID_STABLE, Verdict::Pass)]
        );
        // Nothing to compare, nothing judged: an IMDN that came with IDs of its own (the pair
        // rule T2.CONVID.KEPT judges those), and an IMDN about a message that had none.
        let own = Delivery { contrib_in: Some("k7".into()), ..imdn("c7", "k7") };
        let own = Delivery { conv_in: Some("c7".into()), ..own };
        assert_eq!(pairs(&judge(&[msg.clone(), own])), vec![]);
        let bare = Delivery { conv_in: None, conv_out: None, contrib_in: None, ..msg };
        assert_eq!(pairs(&judge(&[bare, imdn("c1", "k1")])), vec![]);
    }
}
