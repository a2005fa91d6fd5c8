//! Deliberate defects of the reference server, for the ratchet: every check of the oracle
//! must be shown to fail against a server that breaks it. Off by default; only an explicit
//! `--fault NAME` (or [`FaultSet::parse`]) turns one on.

use crate::interop::rules::ReqId;
use std::fmt;

macro_rules! faults {
    ($( $(#[$doc:meta])* $var:ident = $name:literal => [$($id:ident),* $(,)?] ;)*) => {
        /// A named deliberate defect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Fault { $( $(#[$doc])* $var, )* }

        impl Fault {
            /// Every fault, in listing order.
            pub const ALL: &'static [Fault] = &[ $( Fault::$var, )* ];
            /// The name used on the command line.
            pub fn name(self) -> &'static str { match self { $( Fault::$var => $name, )* } }
            /// The requirement IDs this fault is meant to make fail.
            pub fn targets(self) -> &'static [ReqId] { match self { $( Fault::$var => &[$(ReqId::$id),*], )* } }
            /// Look a fault up by name.
            pub fn from_name(s: &str) -> Option<Fault> { match s { $( $name => Some(Fault::$var), )* _ => None } }
        }
    };
}

faults! {
    /// CPM -> IM: leave out `+g.oma.sip-im.large-message` for large message mode.
    ForgetLmmTag = "forget-lmm-tag" => [T1_TERM_LMM, T2_ORIG_LMM];
    /// Leave every Contact value as it came (the source tag stays in Contact, MESSAGE or INVITE).
    SkipContact = "skip-contact" => [T1_TERM_PAGER, T1_TERM_FT, T1_TERM_SESSION, T1_TERM_GROUP, T1_TERM_LMM, T2_ORIG_PAGER, T2_ORIG_FT, T2_ORIG_SESSION, T2_ORIG_GROUP, T2_ORIG_LMM, T2_TERM_PAGER, T2_TERM_FT, T2_TERM_SESSION, T2_TERM_GROUP, T2_TERM_LMM];
    /// CPM -> IM: keep the CPM ICSI next to the IM tag.
    KeepCpmIcsi = "keep-cpm-icsi" => [T1_TERM_PAGER, T1_TERM_IMDN, T1_TERM_FT, T1_TERM_SESSION, T1_TERM_GROUP, T1_TERM_LMM, T2_ORIG_PAGER, T2_ORIG_IMDN, T2_ORIG_FT, T2_ORIG_SESSION, T2_ORIG_GROUP, T2_ORIG_LMM];
    /// IM -> CPM: keep `+g.oma.sip-im` next to the CPM ICSI.
    KeepImTag = "keep-im-tag" => [T2_TERM_PAGER, T2_TERM_IMDN, T2_TERM_FT, T2_TERM_SESSION, T2_TERM_GROUP, T2_TERM_LMM];
    /// IM -> CPM: map a file transfer to `oma.cpm.msg`.
    FtAsMsg = "ft-as-msg" => [T3_MAP];
    /// IM -> CPM: write the ICSI inside the tag with a raw `:` instead of `%3A`.
    UnencodedIcsi = "unencoded-icsi" => [T3_MAP];
    /// IM -> CPM: no P-Asserted-Service toward the CPM client.
    OmitPas = "omit-pas" => [T2_TERM_PAGER, T2_TERM_IMDN, T2_TERM_FT, T2_TERM_SESSION, T2_TERM_GROUP, T2_TERM_LMM];
    /// CPM -> IM: leave the CPM P-Asserted-Service on the IM-bound request.
    KeepCpmPas = "keep-cpm-pas" => [X_PAS_REMOVED];
    /// IM -> CPM: no Conversation-ID.
    OmitConversationId = "omit-conversation-id" => [T2_CONVID_ADDED];
    /// IM -> CPM: replace an incoming Conversation-ID by one of its own.
    ReplaceConversationId = "replace-conversation-id" => [T2_CONVID_KEPT];
    /// IM -> CPM: a new Conversation-ID for every message.
    NewConversationIdPerMessage = "new-conversation-id-per-message" => [T2_CONVID_STABLE];
    /// IM -> CPM: the same Conversation-ID for every pair.
    OneConversationId = "one-conversation-id" => [T2_CONVID_DISTINCT];
    /// IM -> CPM: no Contribution-ID.
    OmitContributionId = "omit-contribution-id" => [T2_CONTRIB_ADDED];
    /// Offline CPM client: answer 202, store, and deliver when it registers again.
    DeferOffline = "defer-offline" => [T2_ONLINE_ONLY];
    /// Relay a 100 Trying from downstream upstream (it is hop by hop).
    ForwardTrying = "forward-trying" => [SIP_PROXY];
    /// Drop the final responses from downstream instead of relaying them.
    DropFinal = "drop-final" => [SIP_PROXY];
    /// Pop the Route set right but send the packet straight to the UE's registered contact.
    Misroute = "misroute" => [ROUTE_VIA_IMS];
    /// Do not learn a group's focus from the factory's 2xx: the focus's INVITEs get a new
    /// Conversation-ID instead of the creator's.
    ForgetGroupFocus = "forget-group-focus" => [T2_CONVID_STABLE];
    /// Give a request whose only IM tag is negated the Conversation-ID and Contribution-ID of
    /// an IM request toward a CPM client.
    MapNegated = "map-negated" => [SIP_PRESERVE];
    /// CPM -> IM: add no Accept-Contact when the CPM ICSI was only in P-Asserted-Service / Contact.
    SkipD16 = "skip-d16" => [T1_TERM_PAGER, T1_TERM_SESSION];
    /// CPM -> IM: add a second Accept-Contact field with the IM tag.
    DuplicateImTag = "duplicate-im-tag" => [T1_TERM_PAGER, T1_TERM_SESSION, T1_TERM_FT, T1_TERM_LMM, T2_ORIG_PAGER];
    /// Level 1: serve a local CPM client instead of refusing it with 403.
    ServeLocalCpm = "serve-local-cpm" => [T1_NO_LOCAL_CPM];
    /// Forward without decrementing Max-Forwards.
    KeepMaxForwards = "keep-max-forwards" => [SIP_PROXY];
    /// Forward a retransmitted request again, with a new branch.
    ForwardRetransmissions = "forward-retransmissions" => [SIP_PROXY];
    /// Change the body while forwarding (Content-Length kept right).
    AlterBody = "alter-body" => [SIP_PRESERVE];
    /// Drop `require` from Accept-Contact values.
    DropRequire = "drop-require" => [SIP_PRESERVE];
    /// Forward with a Content-Length one more than the body.
    WrongContentLength = "wrong-content-length" => [SIP_FRAMING];
    /// Keep UDP for a request that grew past 1300 bytes.
    UdpOver1300 = "udp-over-1300" => [SIP_FRAMING];
    /// Forward a request whose Via is malformed after "repairing" it.
    RepairMalformedVia = "repair-malformed-via" => [SIP_ROBUST];
    /// Deliver straight to the UE's registered contact instead of the next Route hop.
    BypassCore = "bypass-core" => [ROUTE_VIA_IMS];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of faults switched on (empty by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultSet(Vec<Fault>);

/// An unknown fault name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{}` (see `imcpm faults`)", crate::base::escape::escape(.0))]
pub struct UnknownFault(pub String);

impl FaultSet {
    /// No fault.
    pub fn none() -> FaultSet {
        FaultSet(Vec::new())
    }
    /// Faults by name.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<FaultSet, UnknownFault> {
        let mut v = Vec::new();
        for n in names {
            let f = Fault::from_name(n.as_ref()).ok_or_else(|| UnknownFault(n.as_ref().to_string()))?;
            if !v.contains(&f) {
                v.push(f);
            }
        }
        Ok(FaultSet(v))
    }
    /// One fault.
    pub fn one(f: Fault) -> FaultSet {
        FaultSet(vec![f])
    }
    /// Whether `f` is on.
    pub fn has(&self, f: Fault) -> bool {
        self.0.contains(&f)
    }
    /// True when no fault is on.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The faults that are on.
    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::rules::{Grade, catalogue};

    #[test]
    fn every_fail_grade_id_has_a_fault_and_targets_exist() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_name(f.name()), Some(*f));
        }
        for r in catalogue().iter().filter(|r| r.grade == Grade::Fail) {
            assert!(Fault::ALL.iter().any(|f| f.targets().contains(&r.id)), "no fault targets {}", r.id);
        }
        assert!(FaultSet::parse(&["nope"]).is_err());
    }
}
