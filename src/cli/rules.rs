//! `imcpm rules`: the requirement catalogue as a table.

use super::Format;
use crate::interop::rules::catalogue;
use std::process::ExitCode;
use tabled::settings::{Style, Width, object::Columns};
use tabled::{Table, Tabled};

/// Arguments of `imcpm rules`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "ID")]
    id: &'static str,
    #[tabled(rename = "clause")]
    clause: &'static str,
    #[tabled(rename = "grade")]
    grade: &'static str,
    #[tabled(rename = "requirement")]
    text: &'static str,
}

/// Render the catalogue.
pub fn render(format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(catalogue()).unwrap_or_default() + "\n",
        Format::Markdown => {
            let mut s = String::from("| ID | clause | grade | requirement |\n| --- | --- | --- | --- |\n");
            for r in catalogue() {
                s.push_str(&format!("| `{}` | {} | {} | {} |\n", r.id, r.clause, r.grade.as_str(), r.text));
            }
            s
        }
        Format::Text => {
            let rows: Vec<Row> = catalogue()
                .iter()
                .map(|r| Row { id: r.id.as_str(), clause: r.clause, grade: r.grade.as_str(), text: r.text })
                .collect();
            Table::new(rows)
                .with(Style::sharp())
                .modify(Columns::new(3..4), Width::wrap(60).keep_words(true))
                .modify(Columns::new(1..2), Width::wrap(18).keep_words(true))
                .to_string()
                + "\n"
        }
    }
}

/// Run `imcpm rules`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    print!("{}", render(a.format));
    Ok(ExitCode::SUCCESS)
}
