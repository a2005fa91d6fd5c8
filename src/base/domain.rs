//! The Appendix T vocabulary, declared once: interop level, client kind, session case, the
//! server's role, the service kinds of Table 1 and the mapping direction. The command line, the
//! scenario files, the reports, the server and the oracle all use these types directly.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The interop level an IM server implements (Appendix T: T.1 or T.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    /// Level 1: remote CPM clients reach local IM clients (T.1).
    #[value(name = "1")]
    One,
    /// Level 2: level 1, plus the server's own CPM clients (T.2).
    #[value(name = "2")]
    Two,
}

impl Level {
    /// Both levels, in order.
    pub const ALL: [Level; 2] = [Level::One, Level::Two];
    /// 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            Level::One => 1,
            Level::Two => 2,
        }
    }
    /// The level numbered `n`, if any.
    pub fn from_number(n: u64) -> Option<Level> {
        match n {
            1 => Some(Level::One),
            2 => Some(Level::Two),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.number(), f)
    }
}

impl Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        let n = u64::deserialize(d)?;
        Level::from_number(n)
            .ok_or_else(|| serde::de::Error::invalid_value(serde::de::Unexpected::Unsigned(n), &"level 1 or 2"))
    }
}

/// Whether the IM server acts for the originating or the terminating user (docs/decisions.md,
/// D13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SessionCase {
    /// Originating side (`sescase=orig`).
    Orig,
    /// Terminating side (`sescase=term`).
    Term,
}

impl SessionCase {
    /// `orig` or `term`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionCase::Orig => "orig",
            SessionCase::Term => "term",
        }
    }
}

impl fmt::Display for SessionCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IM or a CPM client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// OMA SIMPLE IM client.
    Im,
    /// OMA CPM client.
    Cpm,
}

impl ClientKind {
    /// `im` or `cpm`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Im => "im",
            ClientKind::Cpm => "cpm",
        }
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server's declared role (docs/decisions.md, D6: only proxy is judged for now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A proxy AS on the ISC interface.
    #[default]
    Proxy,
}

/// An Appendix T service kind (a row of Table 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Pager-mode standalone message (SIP MESSAGE).
    Pager,
    /// Standalone-message disposition notification (MESSAGE carrying an IMDN).
    Imdn,
    /// Large Message Mode standalone message (INVITE + MSRP).
    Lmm,
    /// File transfer (INVITE + MSRP + RFC 5547 SDP).
    Ft,
    /// 1-1 session (INVITE + MSRP).
    Session,
    /// Group chat (INVITE to a conference factory, or from a focus).
    Group,
}

impl Service {
    /// All services in table order.
    pub const ALL: [Service; 6] =
        [Service::Pager, Service::Imdn, Service::Lmm, Service::Ft, Service::Session, Service::Group];

    /// The short name used in requirement IDs (`PAGER`, `IMDN`, ...).
    pub fn id_part(self) -> &'static str {
        match self {
            Service::Pager => "PAGER",
            Service::Imdn => "IMDN",
            Service::Lmm => "LMM",
            Service::Ft => "FT",
            Service::Session => "SESSION",
            Service::Group => "GROUP",
        }
    }
    /// The name used on the command line and in files (`pager`, `imdn`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Service::Pager => "pager",
            Service::Imdn => "imdn",
            Service::Lmm => "lmm",
            Service::Ft => "ft",
            Service::Session => "session",
            Service::Group => "group",
        }
    }
    /// Parse a name (case-insensitive).
    pub fn from_name(s: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|x| x.name().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which way the identifiers are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// CPM form to IM form (T.1 terminating, T.2 originating).
    CpmToIm,
    /// IM form to CPM form (T.2 terminating).
    ImToCpm,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_round_trips_as_a_number() {
        assert_eq!(serde_json::to_string(&Level::Two).unwrap_or_default(), "2");
        let l: Result<Level, _> = serde_json::from_str("1");
        assert_eq!(l.ok(), Some(Level::One));
        assert!(serde_json::from_str::<Level>("3").is_err());
    }
}
