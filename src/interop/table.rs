//! Table 1 of Appendix T (T.3): the mapping between SIMPLE IM service identifiers / feature tags
//! and OMA CPM identifiers, as one static table, plus the CPM ICSIs of docs/decisions.md D4 (including the
//! `.group` specialisations, mapped like their parent).

use serde::Serialize;

/// The IM service feature tag (`+g.oma.sip-im`).
pub const IM_TAG: &str = "+g.oma.sip-im";
/// The IM large-message feature tag.
pub const LMM_TAG: &str = "+g.oma.sip-im.large-message";
/// The 3GPP ICSI feature tag (RFC 3840 token list, percent-encoded URNs).
pub const ICSI_REF: &str = "+g.3gpp.icsi-ref";
/// Prefix of every ICSI URN.
pub const ICSI_PREFIX: &str = "urn:urn-7:3gpp-service.ims.icsi.";

pub use crate::base::Service;

impl Service {
    /// This service's row of Table 1.
    pub fn row(self) -> &'static Row {
        // TABLE_1 has one row per service, in Service::ALL order.
        &TABLE_1[self as usize]
    }
}

/// One row of Table 1 (T.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The service.
    pub service: Service,
    /// The SIMPLE IM service name of the table's first column.
    pub im_service: &'static str,
    /// IM form: feature tags in Contact and Accept-Contact.
    pub im_tags: &'static [&'static str],
    /// CPM form: the ICSI URN (plain, as in P-Asserted-Service).
    pub icsi: &'static str,
    /// CPM form: the ICSI as a `+g.3gpp.icsi-ref` tag-value (percent-encoded).
    pub icsi_encoded: &'static str,
}

/// Table 1, one row per [`Service`] in [`Service::ALL`] order. Disposition notifications use the
/// pager ICSI; group chat uses the session ICSI (T.3 rows 1 and 2, Table 1).
pub static TABLE_1: [Row; 6] = [
    Row {
        service: Service::Pager,
        im_service: "SIMPLE IM Pager Mode",
        im_tags: &[IM_TAG],
        icsi: "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg",
        icsi_encoded: "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg",
    },
    Row {
        service: Service::Imdn,
        im_service: "SIMPLE IM Pager Mode (disposition notification)",
        im_tags: &[IM_TAG],
        icsi: "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg",
        icsi_encoded: "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg",
    },
    Row {
        service: Service::Lmm,
        im_service: "SIMPLE IM Large Message Mode",
        im_tags: &[IM_TAG, LMM_TAG],
        icsi: "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.largemsg",
        icsi_encoded: "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg",
    },
    Row {
        service: Service::Ft,
        im_service: "SIMPLE IM File Transfer",
        im_tags: &[IM_TAG],
        icsi: "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.filetransfer",
        icsi_encoded: "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.filetransfer",
    },
    Row {
        service: Service::Session,
        im_service: "SIMPLE IM Session",
        im_tags: &[IM_TAG],
        icsi: "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session",
        icsi_encoded: "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session",
    },
    Row {
        service: Service::Group,
        im_service: "SIMPLE IM Session (group)",
        im_tags: &[IM_TAG],
        icsi: "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session",
        icsi_encoded: "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session",
    },
];

/// A CPM ICSI that Appendix T maps (docs/decisions.md D4), with the service family it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CpmIcsi {
    /// `oma.cpm.msg`: pager or disposition notification.
    Msg,
    /// `oma.cpm.msg.group` ("is a" `oma.cpm.msg`).
    MsgGroup,
    /// `oma.cpm.largemsg`.
    LargeMsg,
    /// `oma.cpm.filetransfer`.
    FileTransfer,
    /// `oma.cpm.session`.
    Session,
    /// `oma.cpm.session.group` ("is a" `oma.cpm.session`).
    SessionGroup,
}

impl CpmIcsi {
    /// The ICSI URN, plain (as in P-Asserted-Service).
    pub fn urn(self) -> &'static str {
        match self {
            CpmIcsi::Msg => "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg",
            CpmIcsi::MsgGroup => "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg.group",
            CpmIcsi::LargeMsg => "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.largemsg",
            CpmIcsi::FileTransfer => "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.filetransfer",
            CpmIcsi::Session => "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session",
            CpmIcsi::SessionGroup => "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session.group",
        }
    }
    /// Recognise a normalised (percent-decoded, lowercased) ICSI URN. `oma.cpm.deferred` and
    /// `oma.cpm.systemmsg` are not mapped (they pass through untouched).
    pub fn from_norm(urn: &str) -> Option<CpmIcsi> {
        let rest = urn.strip_prefix(ICSI_PREFIX)?;
        Some(match rest {
            "oma.cpm.msg" => CpmIcsi::Msg,
            "oma.cpm.msg.group" => CpmIcsi::MsgGroup,
            "oma.cpm.largemsg" => CpmIcsi::LargeMsg,
            "oma.cpm.filetransfer" => CpmIcsi::FileTransfer,
            "oma.cpm.session" => CpmIcsi::Session,
            "oma.cpm.session.group" => CpmIcsi::SessionGroup,
            _ => return None,
        })
    }
    /// Recognise a raw (possibly percent-encoded, any case) ICSI without allocating.
    pub fn from_raw(raw: &[u8]) -> Option<CpmIcsi> {
        // The two spellings requests use, read in place: decoded (a P-Asserted-Service value)
        // or with only the two colons of `urn:urn-7:` encoded (a `g.3gpp.icsi-ref` item), the
        // rest in lower case without `%`. Anything else is decoded and folded first.
        const URN: &[u8] = b"urn:urn-7:";
        const URN_ENCODED: &[u8] = b"urn%3aurn-7%3a";
        let plain = |b: &[u8]| !b.iter().fold(false, |odd, &c| odd | (c == b'%') | c.is_ascii_uppercase());
        for head in [URN, URN_ENCODED] {
            if raw.len() >= head.len() && raw[..head.len()].eq_ignore_ascii_case(head) && plain(&raw[head.len()..]) {
                return CpmIcsi::from_suffix(raw[head.len()..].strip_prefix(&ICSI_PREFIX.as_bytes()[URN.len()..])?);
            }
        }
        let mut buf = [0u8; 128];
        let n = crate::sip::params::norm_into(raw, &mut buf)?;
        CpmIcsi::from_suffix(n.strip_prefix(ICSI_PREFIX.as_bytes())?)
    }
    /// The ICSI whose normalised form is [`ICSI_PREFIX`] then `rest`.
    fn from_suffix(rest: &[u8]) -> Option<CpmIcsi> {
        Some(match rest {
            b"oma.cpm.msg" => CpmIcsi::Msg,
            b"oma.cpm.msg.group" => CpmIcsi::MsgGroup,
            b"oma.cpm.largemsg" => CpmIcsi::LargeMsg,
            b"oma.cpm.filetransfer" => CpmIcsi::FileTransfer,
            b"oma.cpm.session" => CpmIcsi::Session,
            b"oma.cpm.session.group" => CpmIcsi::SessionGroup,
            _ => return None,
        })
    }
    /// True for the large-message ICSI.
    pub fn is_lmm(self) -> bool {
        matches!(self, CpmIcsi::LargeMsg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::params::{norm, norm_into};

    /// [`CpmIcsi::from_raw`] as first written (always decoded and folded first): the reference.
    fn from_raw_reference(raw: &[u8]) -> Option<CpmIcsi> {
        let mut buf = [0u8; 128];
        let n = norm_into(raw, &mut buf)?;
        CpmIcsi::from_suffix(n.strip_prefix(ICSI_PREFIX.as_bytes())?)
    }

    proptest::proptest! {
        /// The same ICSI (or none) as the reference, for spellings built from the parts of
        /// real ones: each colon plain or encoded in either case, parts in either case or with
        /// a letter encoded, the six CPM suffixes and near misses.
        #[test]
        fn raw_icsis_are_recognised_as_the_reference_recognises_them(
            parts in (
                proptest::sample::select(vec!["urn", "URN", "Urn", "ur%6E", "urx", ""]),
                proptest::sample::select(vec![":", "%3A", "%3a", "%3", ";", ""]),
                proptest::sample::select(vec!["urn-7", "URN-7", "urn-8"]),
                proptest::sample::select(vec![":", "%3A", "%3a", "%"]),
                proptest::sample::select(vec!["3gpp-service.ims.icsi.", "3GPP-service.ims.icsi.", "3gpp%2Dservice.ims.icsi.", "3gpp-service.ims.icsi"]),
                proptest::sample::select(vec![
                    "oma.cpm.msg", "oma.cpm.msg.group", "oma.cpm.largemsg", "oma.cpm.filetransfer",
                    "oma.cpm.session", "oma.cpm.session.group", "oma.cpm.deferred", "OMA.cpm.msg",
                    "oma.cpm.ms%67", "oma.cpm.msg ", "", "oma.cpm.msg.group.x",
                ]),
            ),
        ) {
            let (a, b, c, d, e, f) = parts;
            let raw = [a, b, c, d, e, f].concat();
            proptest::prop_assert_eq!(CpmIcsi::from_raw(raw.as_bytes()), from_raw_reference(raw.as_bytes()), "{}", raw);
        }
    }

    #[test]
    fn rows_are_consistent() {
        for (i, s) in Service::ALL.into_iter().enumerate() {
            let r = s.row();
            assert_eq!(r.service, s);
            assert_eq!(TABLE_1[i].service, s);
            assert_eq!(norm(r.icsi_encoded.as_bytes()), r.icsi);
            assert!(r.icsi_encoded.contains("%3A") && !r.icsi_encoded.contains(':'));
            assert!(CpmIcsi::from_norm(r.icsi).is_some());
        }
        assert_eq!(Service::Lmm.row().im_tags, &[IM_TAG, LMM_TAG]);
        assert_eq!(CpmIcsi::from_norm("urn:urn-7:3gpp-service.ims.icsi.oma.cpm.deferred"), None);
    }
}
