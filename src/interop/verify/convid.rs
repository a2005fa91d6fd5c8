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

fn loc(d: &Delivery) -> Location {
    Location {
        message: Some(d.egress),
        side: Some("egress".into()),
        header: Some("Conversation-ID".into()),
        ..Location::default()
    }
}

/// Judge every delivery of a trace together.
pub fn judge_conversations(j: &mut Judge, all: &[Delivery]) {
    // Conversation-IDs seen per key, in order: what the local CPM client sent (originating) and
    // what the server delivered (terminating).
    let mut first: BTreeMap<&str, (String, usize)> = BTreeMap::new();
    let mut generated: BTreeMap<String, &str> = BTreeMap::new();
    for d in all {
        if !d.to_cpm {
            if let Some(c) = &d.conv_in {
                first.entry(&d.key).or_insert((c.clone(), d.ingress));
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
        j.checked(ReqId::T2_CONVID_STABLE, "one Conversation-ID per pair or group, reusing the client's own");
        match first.get(d.key.as_str()) {
            Some((c, at)) if c != out => j.violation(
                ReqId::T2_CONVID_STABLE,
                format!("Conversation-ID: {c} (as first seen at message #{at} for {})", d.key),
                format!("Conversation-ID: {out}"),
                loc(d),
            ),
            Some(_) => {}
            None => {
                first.insert(&d.key, (out.clone(), d.egress));
            }
        }
        j.checked(ReqId::T2_CONVID_DISTINCT, "different Conversation-IDs for different pairs or groups");
        match generated.get(out) {
            Some(other) if *other != d.key => j.violation(
                ReqId::T2_CONVID_DISTINCT,
                format!("a Conversation-ID of its own for {}", d.key),
                format!("Conversation-ID: {out}, also used for {other}"),
                loc(d),
            ),
            _ => {
                generated.insert(out.clone(), &d.key);
            }
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
                    format!("Contribution-ID: {c}, already used at message #{at}"),
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
        j.checked(ReqId::T2_CONVID_STABLE, "an IMDN carries the Conversation-ID of its message");
        if d.conv_in.is_none() && conv.is_some() && &d.conv_out != conv {
            j.violation(
                ReqId::T2_CONVID_STABLE,
                format!("Conversation-ID: {} (that of message {mid})", conv.as_deref().unwrap_or("")),
                format!("Conversation-ID: {}", d.conv_out.as_deref().unwrap_or("absent")),
                loc(d),
            );
        }
        if d.contrib_in.is_none() && contrib.is_some() && &d.contrib_out != contrib {
            j.checked(ReqId::T2_CONTRIB_ADDED, "an IMDN carries the Contribution-ID of its message");
            j.violation(
                ReqId::T2_CONTRIB_ADDED,
                format!("Contribution-ID: {} (that of message {mid})", contrib.as_deref().unwrap_or("")),
                format!("Contribution-ID: {}", d.contrib_out.as_deref().unwrap_or("absent")),
                Location { header: Some("Contribution-ID".into()), ..loc(d) },
            );
        }
    }
}
