//! `imcpm rewrite`: the reference Appendix T rewrite of one request, printed byte for byte.

use super::input::read_message;
use crate::interop::interwork::{Direction, Ids, RewriteOptions, rewrite};
use crate::interop::table::Service;
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Mapping direction on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Dir {
    /// CPM form to IM form (T.1 terminating, T.2 originating).
    CpmToIm,
    /// IM form to CPM form (T.2 terminating).
    ImToCpm,
}

/// Service on the command line (`auto` classifies the request).
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Svc {
    /// Classify the request (SPEC B §5.1).
    #[default]
    Auto,
    /// Pager-mode standalone message.
    Pager,
    /// Disposition notification.
    Imdn,
    /// Large message mode.
    Lmm,
    /// File transfer.
    Ft,
    /// 1-1 session.
    Session,
    /// Group chat.
    Group,
}

impl Svc {
    /// The service, or None for auto.
    pub fn service(self) -> Option<Service> {
        match self {
            Svc::Auto => None,
            Svc::Pager => Some(Service::Pager),
            Svc::Imdn => Some(Service::Imdn),
            Svc::Lmm => Some(Service::Lmm),
            Svc::Ft => Some(Service::Ft),
            Svc::Session => Some(Service::Session),
            Svc::Group => Some(Service::Group),
        }
    }
}

/// Arguments of `imcpm rewrite`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which way to map.
    #[arg(long, value_enum)]
    pub direction: Dir,
    /// The service (default: classify the request).
    #[arg(long, value_enum, default_value = "auto")]
    pub service: Svc,
    /// Conversation-ID to add on im-to-cpm when the request has none (default: derived from
    /// the Call-ID, so the output is reproducible).
    #[arg(long)]
    pub conversation_id: Option<String>,
    /// Contribution-ID to add on im-to-cpm when the request has none (default: derived from
    /// the Call-ID and CSeq).
    #[arg(long)]
    pub contribution_id: Option<String>,
    /// The request (a file, or - for standard input).
    #[arg(default_value = "-")]
    pub file: PathBuf,
}

/// A UUIDv4 derived from `seed` (FNV-1a of the text seeds the id generator), so the output of
/// `rewrite` is reproducible.
pub fn derived_uuid(seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    crate::interop::ids::IdGen::new(h).uuid()
}

/// Run `imcpm rewrite`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let msg = read_message(&a.file)?;
    let call_id = msg.call_id().map(|c| c.into_owned()).unwrap_or_default();
    let cseq = msg.cseq().map(|(n, m)| format!("{n} {m}")).unwrap_or_default();
    let direction = match a.direction {
        Dir::CpmToIm => Direction::CpmToIm,
        Dir::ImToCpm => Direction::ImToCpm,
    };
    let ids = Ids {
        conversation_id: Some(a.conversation_id.unwrap_or_else(|| derived_uuid(&format!("conversation {call_id}")))),
        contribution_id: Some(
            a.contribution_id.unwrap_or_else(|| derived_uuid(&format!("contribution {call_id} {cseq}"))),
        ),
    };
    let out = rewrite(&msg, &RewriteOptions { direction, service: a.service.service(), ids })
        .map_err(|e| miette::miette!("{}: {e}", a.file.display()))?;
    std::io::stdout().write_all(&out).map_err(|e| miette::miette!("writing standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
