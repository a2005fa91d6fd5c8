//! `imcpm rules`: the requirement catalogue as a table that fits the terminal (80 columns off
//! a terminal), as JSON or as Markdown.

use super::Format;
use crate::interop::rules::catalogue;
use std::process::ExitCode;

/// Arguments of `imcpm rules`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Render the catalogue; the text table fits `width` columns.
pub fn render(format: Format, width: usize) -> String {
    match format {
        // The keys are those of the catalogue: id, clause, grade, text.
        Format::Json => serde_json::to_string_pretty(catalogue()).unwrap_or_default() + "\n",
        Format::Markdown => {
            let mut s = String::from("| ID | clause | grade | requirement |\n| --- | --- | --- | --- |\n");
            for r in catalogue() {
                s.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    r.id,
                    super::term::md_cell(r.clause),
                    r.grade.as_str(),
                    super::term::md_cell(r.text)
                ));
            }
            s
        }
        Format::Text => {
            // The grade under the ID, so that the requirement's text keeps most of the width.
            let rows = catalogue()
                .iter()
                .map(|r| vec![format!("{}\n{}", r.id, r.grade.as_str()), r.clause.to_string(), r.text.to_string()])
                .collect();
            super::term::table(&["ID / grade", "clause", "requirement"], rows, &[None, Some(16), None], width)
        }
    }
}

/// Run `imcpm rules`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    super::term::out(&render(a.format, super::term::width(1)));
    Ok(ExitCode::SUCCESS)
}
