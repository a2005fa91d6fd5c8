//! `imcpm rewrite`: the reference Appendix T rewrite of one request, printed byte for byte.
//!
//! When there is nothing to map, the input is printed unchanged and a warning on stderr says
//! why (exit 0, as the reference server forwards such a message unchanged): a response
//! (docs/decisions.md#d5), a request other than MESSAGE and INVITE (REGISTER among them), a
//! request already in the form `--direction` maps to, and a request whose only IM tags are
//! negated.

use super::input::read_message;
use super::term;
use crate::base::Direction;
use crate::base::Service;
use crate::interop::classify::{Form, form_of};
use crate::interop::interwork::{Ids, RewriteOptions, rewrite};
use crate::sip::{Message, Method};
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
    if let Some(why) = nothing_to_map(&msg, a.direction) {
        term::warn(&format!("{}: {why}; printed unchanged", term::path(&a.file)));
        std::io::stdout().write_all(msg.bytes()).map_err(|e| miette::miette!("writing standard output: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
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
    .map_err(|e| miette::miette!("{}: {e}", term::path(&a.file)))?;
    std::io::stdout().write_all(&out).map_err(|e| miette::miette!("writing standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Why the reference rewrite leaves `msg` as it is in `direction`, if it does.
fn nothing_to_map(msg: &Message, direction: Direction) -> Option<String> {
    if let Some(code) = msg.status() {
        return Some(format!("a response ({code}) is not rewritten: responses are not mapped (docs/decisions.md#d5)"));
    }
    match msg.method()? {
        Method::Message | Method::Invite => {}
        Method::Register => {
            return Some(
                "a REGISTER is not rewritten: the server reads third-party REGISTERs to learn who is an IM \
                 or a CPM client (docs/decisions.md#d8) and maps no tag in them; the rewrite applies to \
                 MESSAGE and INVITE"
                    .to_string(),
            );
        }
        m => {
            return Some(format!(
                "{} {m} request is not rewritten: the rewrite applies to MESSAGE and INVITE, the requests of \
                 the services of Appendix T",
                crate::base::a_or_an(&m.to_string())
            ));
        }
    }
    match (direction, form_of(msg)) {
        (Direction::ImToCpm, Form::Cpm) => Some(
            "--direction im-to-cpm, but the request is already in CPM form (a CPM ICSI in Accept-Contact, \
             Contact or P-Asserted-Service): nothing to map"
                .to_string(),
        ),
        (Direction::ImToCpm, Form::Negated) => Some(
            "--direction im-to-cpm, but the request's only IM tags are negated (+g.oma.sip-im=\"FALSE\"): \
             it is not an IM request, nothing to map"
                .to_string(),
        ),
        (Direction::CpmToIm, Form::Im) => Some(
            "--direction cpm-to-im, but the request is already in IM form (+g.oma.sip-im and no CPM ICSI): \
             nothing to map"
                .to_string(),
        ),
        (Direction::CpmToIm, Form::Negated | Form::Neither) => {
            Some("--direction cpm-to-im, but the request carries no CPM ICSI: nothing to map".to_string())
        }
        _ => None,
    }
}
