//! `imcpm faults`: the deliberate defects of the reference server (the ratchet, docs/requirements.md), one
//! per line: the name for `--fault`, then every requirement ID it is meant to make fail.

use crate::node::im_server::faults::Fault;
use std::process::ExitCode;

/// Arguments of `imcpm faults` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The listing: `NAME  ID ID ...`, names padded to one column.
pub fn render() -> String {
    let width = Fault::ALL.iter().map(|f| f.name().len()).max().unwrap_or(0);
    let mut s = String::new();
    for f in Fault::ALL {
        s.push_str(&format!(
            "{:<width$}  {}\n",
            f.name(),
            f.targets().iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" ")
        ));
    }
    s
}

/// Run `imcpm faults`.
pub fn run(_: Args) -> miette::Result<ExitCode> {
    print!("{}", render());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_fault_name_first_ids_spelled_out() {
        let out = render();
        assert_eq!(out.lines().count(), Fault::ALL.len());
        for (line, f) in out.lines().zip(Fault::ALL) {
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some(f.name()));
            assert_eq!(words.collect::<Vec<_>>(), f.targets().iter().map(|r| r.as_str()).collect::<Vec<_>>());
            assert!(!line.contains('{') && !line.contains(','), "{line}");
        }
    }
}
