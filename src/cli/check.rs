//! `imcpm check`: run the pair rules on one ingress request and what left the server.

use super::Format;
use super::input::read_message;
use crate::base::Level;
use crate::base::Transport;
use crate::base::escape::escape;
use crate::base::{ClientKind, SessionCase};
use crate::interop::verify::{Egress, PairContext, check_pair};
use crate::report::{self, ResultItem};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `imcpm check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interop level of the server.
    #[arg(long, value_enum)]
    pub level: Level,
    /// Session case (docs/decisions.md D13).
    #[arg(long, value_enum)]
    pub case: SessionCase,
    /// The recipient's kind (terminating) or the sender's (originating).
    #[arg(long, value_enum)]
    pub client: ClientKind,
    /// The request as it entered the IM server.
    #[arg(long)]
    pub ingress: PathBuf,
    /// What left it: the forwarded request, or the final response it gave.
    #[arg(long)]
    pub egress: PathBuf,
    /// The transport the egress request went out on (judges the 1300-byte rule).
    #[arg(long, value_enum)]
    pub egress_transport: Option<Transport>,
    /// The terminating CPM client is offline (not registered).
    #[arg(long)]
    pub offline: bool,
    /// INCONCLUSIVE fails the run too (exit 1): for CI, where a requirement that could not be
    /// judged must not pass unnoticed.
    #[arg(long)]
    pub strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Run `imcpm check`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let ingress = read_message(&a.ingress)?;
    let egress = read_message(&a.egress)?;
    if !ingress.is_request() {
        return Err(miette::miette!("{}: the ingress must be a request", super::term::path(&a.ingress)));
    }
    let mut ctx = PairContext::new(a.level, a.case, Some(a.client));
    ctx.online = a.offline.then_some(false);
    ctx.egress_transport = a.egress_transport;
    let eg = if egress.is_request() { Egress::Forwarded(&egress) } else { Egress::Responded(&egress) };
    let findings = check_pair(&ctx, &ingress, eg);
    let results = report::group("", a.level, &findings);
    super::term::out(&render(a.format, &results, &ingress, &egress));
    Ok(if report::failing_strict(&results, a.strict) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn render(
    format: Format,
    results: &[ResultItem],
    ingress: &crate::sip::Message,
    egress: &crate::sip::Message,
) -> String {
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "schema_version": report::SCHEMA_VERSION,
                "summary": report::summary(results),
                "results": results,
            });
            // Serialising plain data cannot fail.
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
        }
        Format::Markdown => {
            let mut s = String::from("| requirement | clause | verdict | findings |\n| --- | --- | --- | ---: |\n");
            for r in results {
                s.push_str(&format!("| `{}` | {} | {} | {} |\n", r.requirement, r.clause, r.verdict, r.findings.len()));
            }
            for r in results {
                for f in r.findings.iter().filter(|f| f.verdict != crate::interop::Verdict::Pass) {
                    s.push_str(&format!(
                        "\n- **{}** `{}` at {}: expected {}; observed {}\n",
                        f.verdict,
                        f.requirement,
                        escape(&f.location.to_string()),
                        escape(&f.expected),
                        escape(&f.observed)
                    ));
                }
            }
            s
        }
        Format::Text => {
            let source = |loc: &crate::interop::Location| {
                let m = match loc.side.as_deref()? {
                    "ingress" => ingress,
                    _ => egress,
                };
                let n = loc.line?;
                let text = String::from_utf8_lossy(m.bytes()).into_owned();
                text.lines().nth(n - 1).map(|l| l.trim_end().to_string())
            };
            let mut out = report::text::results_table(results);
            out.push('\n');
            out.push_str(&report::text::details(results, &source));
            out
        }
    }
}
