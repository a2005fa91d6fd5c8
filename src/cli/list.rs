//! `imcpm list`: the scenarios a run would play (the built-in suite, or `--scenarios DIR|FILE`,
//! selected by `--level` and `--filter` as `run` selects them), with title, levels,
//! requirement IDs and where each came from; `--export DIR` writes the selected built-in
//! scenarios and their templates out as the start of a suite of one's own.

use super::Format;
use crate::base::Level;
use crate::scenario::{Origin, Scenario, builtin, builtin_files, load_path, plan};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `imcpm list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// List the scenarios of this folder (every `*.toml` below it) or this one file instead of
    /// the built-in suite.
    #[arg(long, value_name = "DIR|FILE")]
    pub scenarios: Option<PathBuf>,
    /// Only scenarios that apply at this level.
    #[arg(long, value_enum)]
    pub level: Option<Level>,
    /// Scenario names or requirement IDs (glob: `*`, `?`; repeatable), as for `run`.
    #[arg(long)]
    pub filter: Vec<String>,
    /// What goes to stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the listed built-in scenarios and the templates they use into DIR (created if
    /// need be), as the start of your own suite: `imcpm run --scenarios DIR` then runs them.
    /// Existing files are never overwritten: if one is in the way, nothing is written.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["scenarios", "format"])]
    pub export: Option<PathBuf>,
}

/// The scenarios of `--scenarios` (a folder or a file), or the built-in suite. Problems in the
/// files are a usage error: one is the error itself; several are each shown on stderr, and the
/// error counts them.
pub(super) fn load(scenarios: Option<&Path>) -> miette::Result<Vec<Scenario>> {
    let loaded = match scenarios {
        Some(p) => load_path(p),
        None => builtin(),
    };
    loaded.map_err(|e| {
        let mut problems = e.problems;
        if problems.len() == 1 {
            return miette::Report::new(problems.remove(0));
        }
        let n = problems.len();
        for p in problems {
            super::term::err(&(super::term::render_error(&miette::Report::new(p)) + "\n"));
        }
        miette::miette!("{n} problems in the scenario files (each shown above)")
    })
}

/// Where the scenarios come from, for messages: `the built-in scenarios` or `scenarios in PATH`.
pub(super) fn describe(scenarios: Option<&Path>) -> String {
    scenarios.map_or_else(|| "the built-in scenarios".to_string(), |p| format!("scenarios in {}", p.display()))
}

/// Run `imcpm list`.
pub fn run(a: Args) -> miette::Result<ExitCode> {
    let all = load(a.scenarios.as_deref())?;
    let jobs = plan(&all, a.level, &a.filter);
    let mut chosen: Vec<&Scenario> = Vec::new();
    for &(i, _) in &jobs {
        if !chosen.iter().any(|s| s.name == all[i].name) {
            chosen.push(&all[i]);
        }
    }
    if chosen.is_empty() {
        let level = a.level.map_or_else(|| "every level".to_string(), |l| format!("--level {}", l.number()));
        let filter =
            if a.filter.is_empty() { "no --filter".to_string() } else { format!("--filter {}", a.filter.join(" ")) };
        return Err(miette::miette!("no scenario matches ({}, {level}, {filter})", describe(a.scenarios.as_deref())));
    }
    if let Some(dir) = &a.export {
        return export(&chosen, dir);
    }
    let out = match a.format {
        Format::Text => text(&chosen, jobs.len()),
        Format::Json => json(&chosen),
        Format::Markdown => markdown(&chosen),
    };
    super::term::out(&out);
    Ok(ExitCode::SUCCESS)
}

/// What a scenario shows: its title, or its description when the title is empty.
fn what(s: &Scenario) -> String {
    let t = if s.title.trim().is_empty() { &s.description } else { &s.title };
    esc(&t.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Text from a scenario file as the terminal may show it (control characters escaped).
fn esc(s: &str) -> String {
    crate::base::escape::escape(s).into_owned()
}

fn levels(s: &Scenario) -> String {
    s.levels.iter().map(|l| l.number().to_string()).collect::<Vec<_>>().join(", ")
}

/// Where a scenario came from: `built-in` or its file.
fn origin(s: &Scenario) -> String {
    match &s.origin {
        Origin::BuiltIn => "built-in".to_string(),
        Origin::File(p) => esc(&p.display().to_string()),
    }
}

/// Text for a terminal, each scenario a block that fits 80 columns (words wrapped).
fn text(chosen: &[&Scenario], runs: usize) -> String {
    const WIDTH: usize = 80;
    let mut out = String::new();
    for s in chosen {
        let head = format!("{}  [level{} {}]", esc(&s.name), if s.levels.len() == 1 { "" } else { "s" }, levels(s));
        let from = origin(s);
        if head.len() + 2 + from.len() <= WIDTH {
            out.push_str(&format!("{head}  {from}\n"));
        } else {
            out.push_str(&format!("{head}\n    from {from}\n"));
        }
        wrap(&mut out, &what(s), "    ", "    ", WIDTH);
        let ids: Vec<String> = s.requirements.iter().map(|r| r.as_str().to_string()).collect();
        wrap(&mut out, &format!("requirements: {}", ids.join(", ")), "    ", "      ", WIDTH);
        out.push('\n');
    }
    let n = chosen.len();
    out.push_str(&format!(
        "{n} scenario{}, {runs} run{} (one per scenario and level)\n",
        if n == 1 { "" } else { "s" },
        if runs == 1 { "" } else { "s" }
    ));
    out
}

/// Append `text` wrapped at word boundaries to `width` columns: the first line indented by
/// `first`, the others by `rest`. A word longer than a line stands alone on its line.
fn wrap(out: &mut String, text: &str, first: &str, rest: &str, width: usize) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    if !empty {
        out.push_str(&line);
        out.push('\n');
    }
}

fn json(chosen: &[&Scenario]) -> String {
    let v: Vec<serde_json::Value> = chosen
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "title": s.title,
                "description": s.description.trim(),
                "levels": s.levels.iter().map(|l| l.number()).collect::<Vec<_>>(),
                "requirements": s.requirements.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "origin": origin(s),
            })
        })
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

fn markdown(chosen: &[&Scenario]) -> String {
    let mut out =
        String::from("| scenario | levels | requirements | what it shows | from |\n| --- | --- | --- | --- | --- |\n");
    let cell = |t: &str| t.replace('|', "\\|");
    for s in chosen {
        let ids: Vec<String> = s.requirements.iter().map(|r| format!("`{}`", r.as_str())).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            esc(&s.name),
            levels(s),
            ids.join(", "),
            cell(&what(s)),
            cell(&origin(s))
        ));
    }
    out
}

/// Write the built-in files of `chosen` (scenario files and the templates they use) below
/// `dir`; nothing when any of them exists already (exit 2, naming them).
fn export(chosen: &[&Scenario], dir: &Path) -> miette::Result<ExitCode> {
    if let Some(s) = chosen.iter().find(|s| s.origin != Origin::BuiltIn) {
        return Err(miette::miette!("--export writes built-in scenarios only; {} comes from {}", s.name, origin(s)));
    }
    let mut rels: Vec<String> = Vec::new();
    for s in chosen {
        for r in crate::scenario::load::builtin_files_of(s) {
            if !rels.contains(&r) {
                rels.push(r);
            }
        }
    }
    rels.sort();
    let target = |r: &str| dir.join(r.replace('/', std::path::MAIN_SEPARATOR_STR));
    let existing: Vec<String> = rels
        .iter()
        .map(|r| target(r))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| format!("  {}", p.display()))
        .collect();
    if !existing.is_empty() {
        return Err(miette::miette!(
            "--export {}: {} file(s) exist already; nothing was written (remove them or export into another folder):\n{}",
            dir.display(),
            existing.len(),
            existing.join("\n")
        ));
    }
    for r in &rels {
        let bytes = builtin_files()
            .iter()
            .find(|(p, _)| p == r)
            .map(|(_, b)| *b)
            .ok_or_else(|| miette::miette!("{r}: not a file of the built-in suite"))?;
        let p = target(r);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| miette::miette!("--export {}: {e}", parent.display()))?;
        }
        // `create_new`: a file that appeared since the check above is not overwritten either.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| miette::miette!("--export {}: {e}", super::term::path(&p)))?;
        std::io::Write::write_all(&mut f, bytes)
            .map_err(|e| miette::miette!("--export {}: {e}", super::term::path(&p)))?;
    }
    let templates = rels.len() - chosen.len();
    super::term::out(&format!(
        "wrote {} scenario file{} and {templates} template{} to {}\nrun them with: imcpm run --scenarios {}\n",
        chosen.len(),
        if chosen.len() == 1 { "" } else { "s" },
        if templates == 1 { "" } else { "s" },
        super::term::path(dir),
        super::term::path(dir)
    ));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_keeps_words_and_width() {
        let mut out = String::new();
        wrap(&mut out, "aaa bbb ccc ddd", "  ", "    ", 10);
        assert_eq!(out, "  aaa bbb\n    ccc\n    ddd\n");
        let mut out = String::new();
        wrap(&mut out, "a-very-long-word x", "  ", "  ", 8);
        assert_eq!(out, "  a-very-long-word\n  x\n");
    }
}
