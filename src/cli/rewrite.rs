//! `imcpm rewrite`: the reference Appendix T rewrite of one request, printed byte for byte.

use super::input::read_message;
use crate::base::Direction;
use crate::base::Service;
use crate::interop::interwork::{Ids, RewriteOptions, rewrite};
use clap::ValueEnum;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `--service`: a service, or `auto` to classify the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceArg {
    /// Classify the request.
    #[default]
    Auto,
    /// This service.
    Is(Service),
}

impl ValueEnum for ServiceArg {
    fn value_variants<'a>() -> &'a [Self] {
        use Service::*;
        &[
            ServiceArg::Auto,
            ServiceArg::Is(Pager),
            ServiceArg::Is(Imdn),
            ServiceArg::Is(Lmm),
            ServiceArg::Is(Ft),
            ServiceArg::Is(Session),
            ServiceArg::Is(Group),
        ]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self {
            ServiceArg::Auto => clap::builder::PossibleValue::new("auto").help("Classify the request"),
            ServiceArg::Is(s) => s.to_possible_value()?,
        })
    }
}

/// Arguments of `imcpm rewrite`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which way to map.
    #[arg(long, value_enum)]
    pub direction: Direction,
    /// The service (default: classify the request).
    #[arg(long, value_enum, default_value = "auto")]
    pub service: ServiceArg,
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
    crate::base::ids::IdGen::new(h).uuid()
}

/// Run `imcpm rewrite`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let msg = read_message(&a.file)?;
    let call_id = msg.call_id().map(|c| c.into_owned()).unwrap_or_default();
    let cseq = msg.cseq().map(|(n, m)| format!("{n} {m}")).unwrap_or_default();
    let direction = a.direction;
    let ids = Ids {
        conversation_id: Some(a.conversation_id.unwrap_or_else(|| derived_uuid(&format!("conversation {call_id}")))),
        contribution_id: Some(
            a.contribution_id.unwrap_or_else(|| derived_uuid(&format!("contribution {call_id} {cseq}"))),
        ),
    };
    let out = rewrite(
        &msg,
        &RewriteOptions {
            direction,
            service: match a.service {
                ServiceArg::Auto => None,
                ServiceArg::Is(s) => Some(s),
            },
            ids,
        },
    )
    .map_err(|e| miette::miette!("{}: {e}", a.file.display()))?;
    std::io::stdout().write_all(&out).map_err(|e| miette::miette!("writing standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
