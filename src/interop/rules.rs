//! The requirement catalogue (SPEC A.2) as code. Every verdict names one of these IDs; IDs are
//! stable because reports, snapshots, scenario files and CI jobs refer to them.

use crate::interop::table::Service;
use serde::Serialize;

/// The worst verdict a requirement's findings can get (SPEC D11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Grade {
    /// Violations are FAIL.
    Fail,
    /// Violations are NON-STRICT.
    NonStrict,
}

impl Grade {
    /// The D11 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Fail => "FAIL",
            Grade::NonStrict => "NON-STRICT",
        }
    }
}

/// One requirement of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable ID, e.g. `T1.TERM.LMM`.
    pub id: &'static str,
    /// The clause(s) of Appendix T / the RFCs / SPEC decisions it rests on.
    pub clause: &'static str,
    /// The worst verdict its findings can get.
    pub grade: Grade,
    /// What the IM server must do.
    pub text: &'static str,
}

macro_rules! per_service {
    ($prefix:literal, $clause:literal, $lmm_clause:literal, $text:literal) => {
        [
            Rule {
                id: concat!($prefix, ".PAGER"),
                clause: $clause,
                grade: Grade::Fail,
                text: concat!($text, " (pager-mode standalone message)."),
            },
            Rule {
                id: concat!($prefix, ".IMDN"),
                clause: $clause,
                grade: Grade::Fail,
                text: concat!($text, " (standalone-message disposition notification)."),
            },
            Rule {
                id: concat!($prefix, ".FT"),
                clause: $clause,
                grade: Grade::Fail,
                text: concat!($text, " (file transfer INVITE: Contact and Accept-Contact)."),
            },
            Rule {
                id: concat!($prefix, ".SESSION"),
                clause: $clause,
                grade: Grade::Fail,
                text: concat!($text, " (1-1 session INVITE)."),
            },
            Rule {
                id: concat!($prefix, ".GROUP"),
                clause: concat!($clause, ", D17"),
                grade: Grade::Fail,
                text: concat!($text, " (group chat INVITE)."),
            },
            Rule {
                id: concat!($prefix, ".LMM"),
                clause: $lmm_clause,
                grade: Grade::Fail,
                text: concat!($text, " (large-message-mode INVITE: both IM tags <-> cpm.largemsg)."),
            },
        ]
    };
}

const T1_TERM: [Rule; 6] = per_service!(
    "T1.TERM",
    "T.1, T.2 bullet 1, T.3 row 1",
    "T.1, T.3 row 2",
    "A CPM request delivered to an IM client carries +g.oma.sip-im (LMM: plus +g.oma.sip-im.large-message) in place of the CPM ICSI, in every Accept-Contact value that had one and in the Contact of an INVITE; no CPM ICSI remains; no tag appears twice"
);
const T2_ORIG: [Rule; 6] = per_service!(
    "T2.ORIG",
    "T.2 bullet 2, T.3",
    "T.2 bullet 2, T.3",
    "A request from a local CPM client leaves the originating IM server in the IM form, with the same mapping as T1.TERM"
);
const T2_TERM: [Rule; 6] = per_service!(
    "T2.TERM",
    "T.2 bullet 3, T.3",
    "T.2 bullet 3, T.3",
    "An IM request delivered to a local CPM client carries the service's CPM ICSI (percent-encoded +g.3gpp.icsi-ref) in place of the IM tags, in Accept-Contact and in the Contact of an INVITE, and P-Asserted-Service with that ICSI"
);

const OTHERS: [Rule; 14] = [
    Rule {
        id: "T2.CONVID.ADDED",
        clause: "T.2 bullet 3",
        grade: Grade::Fail,
        text: "Every request delivered to a local CPM client carries exactly one well-formed Conversation-ID.",
    },
    Rule {
        id: "T2.CONVID.STABLE",
        clause: "T.2, CPM Conv. Functions",
        grade: Grade::NonStrict,
        text: "The Conversation-ID is the same for every contribution between the same pair (any service) or of the same group, and the one a local CPM client sent first is reused toward it.",
    },
    Rule {
        id: "T2.CONVID.DISTINCT",
        clause: "T.2, CPM Conv. Functions",
        grade: Grade::NonStrict,
        text: "Different pairs (or groups) get different Conversation-IDs.",
    },
    Rule {
        id: "T2.CONVID.KEPT",
        clause: "T.2, CPM Conv. Functions",
        grade: Grade::Fail,
        text: "A Conversation-ID already present on the incoming request is forwarded unchanged.",
    },
    Rule {
        id: "T2.CONTRIB.ADDED",
        clause: "CPM Conv. Functions, D10",
        grade: Grade::NonStrict,
        text: "Requests delivered to a local CPM client carry a Contribution-ID, fresh per contribution (IMDN: that of its message).",
    },
    Rule {
        id: "T2.ONLINE-ONLY",
        clause: "T.2 NOTE 3, D3",
        grade: Grade::Fail,
        text: "No deferred delivery to an offline local CPM client: 480, never 2xx/202, nothing delivered later.",
    },
    Rule {
        id: "T1.NO-LOCAL-CPM",
        clause: "T.1, D7",
        grade: Grade::Fail,
        text: "A level-1 server does not serve local CPM clients (403).",
    },
    Rule {
        id: "T3.MAP",
        clause: "T.3, D12",
        grade: Grade::Fail,
        text: "Identifiers are spelled exactly as Table 1: ICSI percent-encoded inside the feature tag, plain in P-Asserted-Service, the ICSI that matches the service, no CPM ICSI invented.",
    },
    Rule {
        id: "X.PAS-REMOVED",
        clause: "D1",
        grade: Grade::NonStrict,
        text: "No CPM P-Asserted-Service / P-Preferred-Service left on an IM-bound request.",
    },
    Rule {
        id: "SIP.PRESERVE",
        clause: "RFC 3261 §16.6",
        grade: Grade::Fail,
        text: "Request-URI, From, To, Call-ID, CSeq, the body (byte for byte), unrelated headers and all other feature params (require, explicit, +sip.instance, iari-ref, +g.gsma.*, isfocus, q, expires) survive.",
    },
    Rule {
        id: "SIP.PROXY",
        clause: "RFC 3261 §16",
        grade: Grade::Fail,
        text: "Own Via with a z9hG4bK branch on top, Max-Forwards decremented by one (483 at zero), own Route entry removed; responses relayed upstream with its Via removed; 100 Trying not forwarded upstream; a retransmitted request not forwarded twice.",
    },
    Rule {
        id: "SIP.FRAMING",
        clause: "RFC 3261 §7.5, §18",
        grade: Grade::Fail,
        text: "Content-Length matches the body; a request over 1300 bytes is not sent over UDP.",
    },
    Rule {
        id: "SIP.ROBUST",
        clause: "RFC 3261 §16.3, D15",
        grade: Grade::Fail,
        text: "Malformed input as D15 says: 400 for what the server must parse, never repaired and forwarded; untouched forwarding otherwise; the server keeps serving.",
    },
    Rule {
        id: "ROUTE.VIA-IMS",
        clause: "T.1 NOTE 1, T.2 NOTE 2",
        grade: Grade::Fail,
        text: "The IM server sends a request on toward the next hop of the ISC Route set (back to the core), not straight to the UE, and it reaches the intended client.",
    },
];

/// The whole catalogue, in SPEC A.2 order.
pub fn catalogue() -> &'static [Rule] {
    static ALL: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::with_capacity(32);
        v.extend(T1_TERM);
        v.extend(T2_ORIG);
        v.extend(T2_TERM);
        v.extend(OTHERS);
        v
    })
}

/// Look a rule up by ID.
pub fn rule(id: &str) -> Option<&'static Rule> {
    catalogue().iter().find(|r| r.id == id)
}

/// The per-service ID of a family (`T1.TERM`, `T2.ORIG`, `T2.TERM`) and service.
pub fn service_rule(family: Family, service: Service) -> &'static str {
    let table = match family {
        Family::T1Term => &T1_TERM,
        Family::T2Orig => &T2_ORIG,
        Family::T2Term => &T2_TERM,
    };
    // The per_service! arrays are in the order PAGER, IMDN, FT, SESSION, GROUP, LMM.
    let i = match service {
        Service::Pager => 0,
        Service::Imdn => 1,
        Service::Ft => 2,
        Service::Session => 3,
        Service::Group => 4,
        Service::Lmm => 5,
    };
    table[i].id
}

/// The per-service requirement families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// CPM -> IM on the terminating side (T.1).
    T1Term,
    /// CPM -> IM on the originating side of a local CPM client (T.2).
    T2Orig,
    /// IM -> CPM toward a local CPM client (T.2).
    T2Term,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_complete_and_unique() {
        let c = catalogue();
        assert_eq!(c.len(), 32);
        let mut ids: Vec<_> = c.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 32);
        for s in Service::ALL {
            for f in [Family::T1Term, Family::T2Orig, Family::T2Term] {
                let id = service_rule(f, s);
                assert!(id.ends_with(s.id_part()), "{id} for {s}");
                assert!(rule(id).is_some());
            }
        }
    }
}
