//! Deliberate defects of the reference server, for the ratchet: every check of the oracle
//! must be shown to fail against a server that breaks it. Off by default; only an explicit
//! `--fault NAME` (or [`FaultSet::parse`]) turns one on.

use std::fmt;

macro_rules! faults {
    ($( $(#[$doc:meta])* $var:ident = $name:literal => [$($id:literal),* $(,)?] ;)*) => {
        /// A named deliberate defect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Fault { $( $(#[$doc])* $var, )* }

        impl Fault {
            /// Every fault, in listing order.
            pub const ALL: &'static [Fault] = &[ $( Fault::$var, )* ];
            /// The name used on the command line.
            pub fn name(self) -> &'static str { match self { $( Fault::$var => $name, )* } }
            /// The requirement IDs this fault is meant to make fail.
            pub fn targets(self) -> &'static [&'static str] { match self { $( Fault::$var => &[$($id),*], )* } }
            /// Look a fault up by name.
            pub fn from_name(s: &str) -> Option<Fault> { match s { $( $name => Some(Fault::$var), )* _ => None } }
        }
    };
}

faults! {
    /// CPM -> IM: leave out `+g.oma.sip-im.large-message` for large message mode.
    ForgetLmmTag = "forget-lmm-tag" => ["T1.TERM.LMM", "T2.ORIG.LMM"];
    /// CPM -> IM: keep the CPM ICSI next to the IM tag.
    KeepCpmIcsi = "keep-cpm-icsi" => ["T1.TERM.PAGER", "T1.TERM.IMDN", "T1.TERM.FT", "T1.TERM.SESSION", "T1.TERM.GROUP", "T1.TERM.LMM", "T2.ORIG.PAGER", "T2.ORIG.IMDN", "T2.ORIG.FT", "T2.ORIG.SESSION", "T2.ORIG.GROUP", "T2.ORIG.LMM"];
    /// IM -> CPM: keep `+g.oma.sip-im` next to the CPM ICSI.
    KeepImTag = "keep-im-tag" => ["T2.TERM.PAGER", "T2.TERM.IMDN", "T2.TERM.FT", "T2.TERM.SESSION", "T2.TERM.GROUP", "T2.TERM.LMM"];
    /// IM -> CPM: map a file transfer to `oma.cpm.msg`.
    FtAsMsg = "ft-as-msg" => ["T3.MAP"];
    /// IM -> CPM: write the ICSI inside the tag with a raw `:` instead of `%3A`.
    UnencodedIcsi = "unencoded-icsi" => ["T3.MAP"];
    /// IM -> CPM: no P-Asserted-Service toward the CPM client.
    OmitPas = "omit-pas" => ["T2.TERM.PAGER", "T2.TERM.IMDN", "T2.TERM.FT", "T2.TERM.SESSION", "T2.TERM.GROUP", "T2.TERM.LMM"];
    /// CPM -> IM: leave the CPM P-Asserted-Service on the IM-bound request.
    KeepCpmPas = "keep-cpm-pas" => ["X.PAS-REMOVED"];
    /// IM -> CPM: no Conversation-ID.
    OmitConversationId = "omit-conversation-id" => ["T2.CONVID.ADDED"];
    /// IM -> CPM: replace an incoming Conversation-ID by one of its own.
    ReplaceConversationId = "replace-conversation-id" => ["T2.CONVID.KEPT"];
    /// IM -> CPM: a new Conversation-ID for every message.
    NewConversationIdPerMessage = "new-conversation-id-per-message" => ["T2.CONVID.STABLE"];
    /// IM -> CPM: the same Conversation-ID for every pair.
    OneConversationId = "one-conversation-id" => ["T2.CONVID.DISTINCT"];
    /// IM -> CPM: no Contribution-ID.
    OmitContributionId = "omit-contribution-id" => ["T2.CONTRIB.ADDED"];
    /// Offline CPM client: answer 202, store, and deliver when it registers again.
    DeferOffline = "defer-offline" => ["T2.ONLINE-ONLY"];
    /// Level 1: serve a local CPM client instead of refusing it with 403.
    ServeLocalCpm = "serve-local-cpm" => ["T1.NO-LOCAL-CPM"];
    /// Forward without decrementing Max-Forwards.
    KeepMaxForwards = "keep-max-forwards" => ["SIP.PROXY"];
    /// Forward a retransmitted request again, with a new branch.
    ForwardRetransmissions = "forward-retransmissions" => ["SIP.PROXY"];
    /// Change the body while forwarding (Content-Length kept right).
    AlterBody = "alter-body" => ["SIP.PRESERVE"];
    /// Drop `require` from Accept-Contact values.
    DropRequire = "drop-require" => ["SIP.PRESERVE"];
    /// Forward with a Content-Length one more than the body.
    WrongContentLength = "wrong-content-length" => ["SIP.FRAMING"];
    /// Keep UDP for a request that grew past 1300 bytes.
    UdpOver1300 = "udp-over-1300" => ["SIP.FRAMING"];
    /// Forward a request whose Via is malformed after "repairing" it.
    RepairMalformedVia = "repair-malformed-via" => ["SIP.ROBUST"];
    /// Deliver straight to the UE's registered contact instead of the next Route hop.
    BypassCore = "bypass-core" => ["ROUTE.VIA-IMS"];
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
#[error("unknown fault {0:?} (see `imcpm faults`)")]
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
    use crate::interop::rules::{Grade, catalogue, rule};

    #[test]
    fn every_fail_grade_id_has_a_fault_and_targets_exist() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_name(f.name()), Some(*f));
            for id in f.targets() {
                assert!(rule(id).is_some(), "{f}: {id}");
            }
        }
        for r in catalogue().iter().filter(|r| r.grade == Grade::Fail) {
            assert!(Fault::ALL.iter().any(|f| f.targets().contains(&r.id)), "no fault targets {}", r.id);
        }
        assert!(FaultSet::parse(&["nope"]).is_err());
    }
}
