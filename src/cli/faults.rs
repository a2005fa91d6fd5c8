//! `imcpm faults`: the deliberate defects of the reference server (the ratchet, docs/requirements.md):
//! the name for `--fault`, then every requirement ID it is meant to make fail; a table that
//! fits the terminal (80 columns off a terminal), JSON or Markdown.

use super::Format;
use crate::node::im_server::faults::Fault;
use std::process::ExitCode;

/// Arguments of `imcpm faults`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// One fault: the fields of every format.
#[derive(serde::Serialize)]
struct Row {
    name: &'static str,
    targets: Vec<&'static str>,
}

fn rows() -> Vec<Row> {
    Fault::ALL
        .iter()
        .map(|f| Row { name: f.name(), targets: f.targets().iter().map(|r| r.as_str()).collect() })
        .collect()
}

/// The listing; the text table fits `width` columns.
pub fn render(format: Format, width: usize) -> String {
    match format {
        // Plain data: serialising it cannot fail.
        Format::Json => serde_json::to_string_pretty(&rows()).unwrap_or_default() + "\n",
        Format::Markdown => {
            let mut s = String::from("| fault | requirement IDs it makes fail |\n| --- | --- |\n");
            for r in rows() {
                let ids: Vec<String> = r.targets.iter().map(|i| format!("`{i}`")).collect();
                s.push_str(&format!("| `{}` | {} |\n", r.name, ids.join(" ")));
            }
            s
        }
        Format::Text => {
            let rows = rows().into_iter().map(|r| vec![r.name.to_string(), r.targets.join(" ")]).collect();
            super::term::table(&["fault", "requirement IDs it makes fail"], rows, &[None, None], width)
        }
    }
}

/// Run `imcpm faults`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    super::term::out(&render(a.format, super::term::width(1)));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_fault_name_first_ids_spelled_out() {
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json, 80)).unwrap();
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), Fault::ALL.len());
        for (row, f) in rows.iter().zip(Fault::ALL) {
            assert_eq!(row["name"], f.name());
            let ids: Vec<&str> = row["targets"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
            assert_eq!(ids, f.targets().iter().map(|r| r.as_str()).collect::<Vec<_>>());
        }
    }
}
