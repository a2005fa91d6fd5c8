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
        let mut buf = [0u8; 128];
        let n = crate::sip::params::norm_into(raw, &mut buf)?;
        let rest = n.strip_prefix(ICSI_PREFIX.as_bytes())?;
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
    use crate::sip::params::norm;

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
