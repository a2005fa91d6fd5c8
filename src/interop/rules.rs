//! The requirement catalogue (docs/requirements.md) as code. Every verdict names one of these IDs; IDs are
//! stable because reports, snapshots, scenario files and CI jobs refer to them.

use crate::base::{Level, Role, Service};
use serde::Serialize;
use std::fmt;

/// The worst verdict a requirement's findings can get (docs/decisions.md D11).
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

/// Which interop levels a requirement applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applies {
    /// Both levels (level 2 includes level 1).
    Both,
    /// Level 1 only.
    Level1,
    /// Level 2 only.
    Level2,
}

impl Applies {
    /// True when the requirement applies at `level`.
    pub fn at(self, level: Level) -> bool {
        match self {
            Applies::Both => true,
            Applies::Level1 => level == Level::One,
            Applies::Level2 => level == Level::Two,
        }
    }
}

/// One requirement of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable ID, e.g. `T1.TERM.LMM`.
    pub id: ReqId,
    /// The clause(s) of Appendix T, the RFCs and the decisions it rests on.
    pub clause: &'static str,
    /// The worst verdict its findings can get.
    pub grade: Grade,
    /// What the IM server must do.
    pub text: &'static str,
    /// The levels it applies to.
    #[serde(skip)]
    pub applies: Applies,
    /// The server roles it applies to (only proxy is judged for now).
    #[serde(skip)]
    pub roles: &'static [Role],
}

impl Rule {
    /// True when the requirement applies to a server of this level and role.
    pub fn applies_to(&self, level: Level, role: Role) -> bool {
        self.applies.at(level) && self.roles.contains(&role)
    }
}

/// The catalogue as one table: each line gives the enum variant, the stable ID, its grade, the
/// levels it applies to, its clause and its text. The macro generates [`ReqId`] (so that an
/// unknown ID does not compile), its spelling and the [`catalogue`] in this order.
macro_rules! requirements {
    ($( $var:ident = $id:literal, $grade:ident, $applies:ident, $clause:expr, $text:expr; )*) => {
        /// A requirement ID of the catalogue (`imcpm rules`, docs/requirements.md). Ordered as
        /// the catalogue.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReqId {
            $( #[doc = concat!("`", $id, "`")] $var, )*
        }

        impl ReqId {
            /// Every ID, in catalogue order.
            pub const ALL: &'static [ReqId] = &[$(ReqId::$var,)*];
            /// The stable spelling, e.g. `T1.TERM.LMM`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ReqId::$var => $id,)*
                }
            }
        }

        static CATALOGUE: &[Rule] = &[
            $(Rule {
                id: ReqId::$var,
                clause: $clause,
                grade: Grade::$grade,
                text: $text,
                applies: Applies::$applies,
                roles: &[Role::Proxy],
            },)*
        ];
    };
}

macro_rules! t1_term_text {
    ($what:literal) => {
        concat!(
            "A CPM request delivered to an IM client carries +g.oma.sip-im (LMM: plus +g.oma.sip-im.large-message) in place of the CPM ICSI, in every Accept-Contact value that had one and in Contact when present, whatever the method; no CPM ICSI remains in any Accept-Contact or Contact value; no tag appears twice; when no Accept-Contact value carried the ICSI, an Accept-Contact with the IM tag(s) is added (",
            $what,
            ")."
        )
    };
}
macro_rules! t2_orig_text {
    ($what:literal) => {
        concat!(
            "A request from a local CPM client leaves the originating IM server in the IM form, with the same mapping as T1.TERM (",
            $what,
            ")."
        )
    };
}
macro_rules! t2_term_text {
    ($what:literal) => {
        concat!(
            "An IM request delivered to a local CPM client carries the service's CPM ICSI (percent-encoded +g.3gpp.icsi-ref) in place of the IM tags, in Accept-Contact and in Contact when present, and P-Asserted-Service with that ICSI; no IM tag remains (",
            $what,
            ")."
        )
    };
}

requirements! {
    T1_TERM_PAGER = "T1.TERM.PAGER", Fail, Both, "T.1, T.2 bullet 1, T.3 row 1", t1_term_text!("pager-mode standalone message");
    T1_TERM_IMDN = "T1.TERM.IMDN", Fail, Both, "T.1, T.2 bullet 1, T.3 row 1", t1_term_text!("standalone-message disposition notification");
    T1_TERM_FT = "T1.TERM.FT", Fail, Both, "T.1, T.2 bullet 1, T.3 row 1", t1_term_text!("file transfer INVITE: Contact and Accept-Contact");
    T1_TERM_SESSION = "T1.TERM.SESSION", Fail, Both, "T.1, T.2 bullet 1, T.3 row 1", t1_term_text!("1-1 session INVITE");
    T1_TERM_GROUP = "T1.TERM.GROUP", Fail, Both, "T.1, T.2 bullet 1, T.3 row 1, decisions.md#d17", t1_term_text!("group chat INVITE");
    T1_TERM_LMM = "T1.TERM.LMM", Fail, Both, "T.1, T.3 row 2", t1_term_text!("large-message-mode INVITE: both IM tags <-> cpm.largemsg");
    T2_ORIG_PAGER = "T2.ORIG.PAGER", Fail, Level2, "T.2 bullet 2, T.3", t2_orig_text!("pager-mode standalone message");
    T2_ORIG_IMDN = "T2.ORIG.IMDN", Fail, Level2, "T.2 bullet 2, T.3", t2_orig_text!("standalone-message disposition notification");
    T2_ORIG_FT = "T2.ORIG.FT", Fail, Level2, "T.2 bullet 2, T.3", t2_orig_text!("file transfer INVITE: Contact and Accept-Contact");
    T2_ORIG_SESSION = "T2.ORIG.SESSION", Fail, Level2, "T.2 bullet 2, T.3", t2_orig_text!("1-1 session INVITE");
    T2_ORIG_GROUP = "T2.ORIG.GROUP", Fail, Level2, "T.2 bullet 2, T.3, decisions.md#d17", t2_orig_text!("group chat INVITE");
    T2_ORIG_LMM = "T2.ORIG.LMM", Fail, Level2, "T.2 bullet 2, T.3", t2_orig_text!("large-message-mode INVITE: both IM tags <-> cpm.largemsg");
    T2_TERM_PAGER = "T2.TERM.PAGER", Fail, Level2, "T.2 bullet 3, T.3", t2_term_text!("pager-mode standalone message");
    T2_TERM_IMDN = "T2.TERM.IMDN", Fail, Level2, "T.2 bullet 3, T.3", t2_term_text!("standalone-message disposition notification");
    T2_TERM_FT = "T2.TERM.FT", Fail, Level2, "T.2 bullet 3, T.3", t2_term_text!("file transfer INVITE: Contact and Accept-Contact");
    T2_TERM_SESSION = "T2.TERM.SESSION", Fail, Level2, "T.2 bullet 3, T.3", t2_term_text!("1-1 session INVITE");
    T2_TERM_GROUP = "T2.TERM.GROUP", Fail, Level2, "T.2 bullet 3, T.3, decisions.md#d17", t2_term_text!("group chat INVITE");
    T2_TERM_LMM = "T2.TERM.LMM", Fail, Level2, "T.2 bullet 3, T.3", t2_term_text!("large-message-mode INVITE: both IM tags <-> cpm.largemsg");
    T2_CONVID_ADDED = "T2.CONVID.ADDED", Fail, Level2, "T.2 bullet 3",
        "Every request delivered to a local CPM client carries exactly one well-formed Conversation-ID.";
    T2_CONVID_STABLE = "T2.CONVID.STABLE", NonStrict, Level2, "T.2, CPM Conv. Functions",
        "The Conversation-ID is the same for every contribution between the same pair (any service) or of the same group, and the one a local CPM client sent first is reused toward it.";
    T2_CONVID_DISTINCT = "T2.CONVID.DISTINCT", NonStrict, Level2, "T.2, CPM Conv. Functions",
        "Different pairs (or groups) get different Conversation-IDs.";
    T2_CONVID_KEPT = "T2.CONVID.KEPT", Fail, Level2, "T.2, CPM Conv. Functions",
        "A Conversation-ID already present on the incoming request is forwarded unchanged.";
    T2_CONTRIB_ADDED = "T2.CONTRIB.ADDED", NonStrict, Level2, "CPM Conv. Functions, decisions.md#d10",
        "Requests delivered to a local CPM client carry a Contribution-ID, fresh per contribution (IMDN: that of its message).";
    T2_ONLINE_ONLY = "T2.ONLINE-ONLY", Fail, Level2, "T.2 NOTE 3, decisions.md#d3",
        "No deferred delivery to an offline local CPM client: 480, never 2xx/202, nothing delivered later.";
    T1_NO_LOCAL_CPM = "T1.NO-LOCAL-CPM", Fail, Level1, "T.1, decisions.md#d7",
        "A level-1 server does not serve local CPM clients (403).";
    T3_MAP = "T3.MAP", Fail, Both, "T.3, decisions.md#d12",
        "Identifiers are spelled exactly as Table 1: ICSI percent-encoded inside the feature tag, plain in P-Asserted-Service, the ICSI that matches the service, no CPM ICSI invented.";
    X_PAS_REMOVED = "X.PAS-REMOVED", NonStrict, Both, "decisions.md#d1",
        "No CPM P-Asserted-Service / P-Preferred-Service left on an IM-bound request.";
    SIP_PRESERVE = "SIP.PRESERVE", Fail, Both, "RFC 3261 §16.6",
        "Request-URI, From, To, Call-ID, CSeq, the body (byte for byte), unrelated headers and all other feature params (require, explicit, +sip.instance, iari-ref, +g.gsma.*, isfocus, q, expires) survive.";
    SIP_PROXY = "SIP.PROXY", Fail, Both, "RFC 3261 §16",
        "Own Via with a z9hG4bK branch on top, Max-Forwards decremented by one (483 at zero), own Route entry removed; responses relayed upstream with its Via removed; 100 Trying not forwarded upstream; a retransmitted request not forwarded twice.";
    SIP_FRAMING = "SIP.FRAMING", Fail, Both, "RFC 3261 §7.5, §18",
        "Content-Length matches the body; a request over 1300 bytes is not sent over UDP.";
    SIP_ROBUST = "SIP.ROBUST", Fail, Both, "RFC 3261 §16.3, decisions.md#d15",
        "Malformed input as decisions.md#d15 says: 400 for what the server must parse, never repaired and forwarded; untouched forwarding otherwise; the server keeps serving.";
    ROUTE_VIA_IMS = "ROUTE.VIA-IMS", Fail, Both, "T.1 NOTE 1, T.2 NOTE 2",
        "The IM server sends a request on toward the next hop of the ISC Route set (back to the core), not straight to the UE, and it reaches the intended client. The core's own routing is the harness's: a failure there is INCONCLUSIVE, not a finding against the server.";
}

impl ReqId {
    /// The catalogue entry.
    pub fn rule(self) -> &'static Rule {
        // CATALOGUE has one entry per variant, in declaration order.
        &CATALOGUE[self as usize]
    }
    /// The worst verdict this requirement's findings can get.
    pub fn grade(self) -> Grade {
        self.rule().grade
    }
    /// Parse a stable spelling (exact, as in the catalogue).
    pub fn parse(s: &str) -> Option<ReqId> {
        ReqId::ALL.iter().copied().find(|r| r.as_str() == s)
    }
    /// The per-service ID of a family and service.
    pub fn of_service(family: Family, service: Service) -> ReqId {
        use ReqId::*;
        let row = match family {
            Family::T1Term => [T1_TERM_PAGER, T1_TERM_IMDN, T1_TERM_FT, T1_TERM_SESSION, T1_TERM_GROUP, T1_TERM_LMM],
            Family::T2Orig => [T2_ORIG_PAGER, T2_ORIG_IMDN, T2_ORIG_FT, T2_ORIG_SESSION, T2_ORIG_GROUP, T2_ORIG_LMM],
            Family::T2Term => [T2_TERM_PAGER, T2_TERM_IMDN, T2_TERM_FT, T2_TERM_SESSION, T2_TERM_GROUP, T2_TERM_LMM],
        };
        row[match service {
            Service::Pager => 0,
            Service::Imdn => 1,
            Service::Ft => 2,
            Service::Session => 3,
            Service::Group => 4,
            Service::Lmm => 5,
        }]
    }
}

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for ReqId {
    type Err = UnknownRequirement;
    fn from_str(s: &str) -> Result<ReqId, UnknownRequirement> {
        ReqId::parse(s).ok_or_else(|| UnknownRequirement(s.to_string()))
    }
}

impl PartialEq<str> for ReqId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ReqId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A string that names no requirement of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown requirement ID {0:?} (see `imcpm rules`)")]
pub struct UnknownRequirement(pub String);

impl Serialize for ReqId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ReqId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ReqId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The whole catalogue, in order.
pub fn catalogue() -> &'static [Rule] {
    CATALOGUE
}

/// Look a rule up by its spelling.
pub fn rule(id: &str) -> Option<&'static Rule> {
    ReqId::parse(id).map(ReqId::rule)
}

/// docs/requirements.md: the catalogue as a document, generated from this table (a test keeps
/// the file current). Decision numbers in clauses link to docs/decisions.md.
pub fn requirements_markdown() -> String {
    let link = |clause: &str| -> String {
        let clause = clause.replace("decisions.md#d", "D");
        let clause = clause.as_str();
        let mut out = String::new();
        let mut rest = clause;
        while let Some(i) = rest.find('D') {
            let digits: String = rest[i + 1..].chars().take_while(char::is_ascii_digit).collect();
            let boundary = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
            out.push_str(&rest[..i]);
            if boundary && !digits.is_empty() {
                out.push_str(&format!("[D{digits}](decisions.md#d{digits})"));
            } else {
                out.push_str(&rest[i..i + 1 + digits.len()]);
            }
            rest = &rest[i + 1 + digits.len()..];
        }
        out.push_str(rest);
        out
    };
    let mut s = String::from(
        "# Requirements\n\n\
         <!-- Generated from src/interop/rules.rs by `IMCPM_BLESS=1 cargo test --lib requirements_doc`. -->\n\n\
         Every verdict the harness gives names exactly one of these requirement IDs. The IDs are \
         stable: reports, scenario files and CI jobs refer to them. `imcpm rules` prints the same \
         table. The grade is the worst verdict a requirement's findings can get (FAIL, or NON-STRICT \
         for recommended practice); single findings may be graded lower where a decision says so \
         ([D3](decisions.md#d3), [D11](decisions.md#d11)). Clauses name Appendix T (T.1, T.2, T.3 \
         and its notes), the RFCs, and the project's decisions ([docs/decisions.md](decisions.md)).\n\n\
         | ID | grade | levels | clause | requirement |\n| --- | --- | --- | --- | --- |\n",
    );
    for r in catalogue() {
        let levels = match r.applies {
            Applies::Both => "1, 2",
            Applies::Level1 => "1",
            Applies::Level2 => "2",
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            r.id,
            r.grade.as_str(),
            levels,
            link(r.clause),
            link(r.text)
        ));
    }
    s
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
        for (i, r) in c.iter().enumerate() {
            assert_eq!(r.id as usize, i, "{}", r.id);
            assert_eq!(ReqId::parse(r.id.as_str()), Some(r.id));
        }
        let mut ids: Vec<_> = c.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 32);
        for s in Service::ALL {
            for f in [Family::T1Term, Family::T2Orig, Family::T2Term] {
                let id = ReqId::of_service(f, s);
                assert!(id.as_str().ends_with(s.id_part()), "{id} for {s}");
            }
        }
    }

    #[test]
    fn requirements_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/requirements.md");
        let want = requirements_markdown();
        if std::env::var_os("IMCPM_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/requirements.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/requirements.md is stale: run IMCPM_BLESS=1 cargo test --lib requirements_doc");
    }

    #[test]
    fn applicability_is_data() {
        assert!(ReqId::T2_CONVID_ADDED.rule().applies_to(Level::Two, Role::Proxy));
        assert!(!ReqId::T2_CONVID_ADDED.rule().applies_to(Level::One, Role::Proxy));
        assert!(!ReqId::T1_NO_LOCAL_CPM.rule().applies_to(Level::Two, Role::Proxy));
        assert!(ReqId::T1_TERM_LMM.rule().applies_to(Level::Two, Role::Proxy));
        assert!(ReqId::parse("T1.TERM.LMN").is_none());
    }
}
