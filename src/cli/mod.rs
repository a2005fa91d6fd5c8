//! The command line: clap subcommands, each a thin adapter (pick a driver, judge, render).
//! Exit status per docs/decisions.md D11: 0 when no FAIL, ERROR or XPASS; 1 when there is; 2 for bad usage
//! or input.

// A driver and the command line read the clock; nothing else does (clippy.toml).
#![allow(clippy::disallowed_methods)]

pub mod check;
pub mod check_pcap;
pub mod faults;
pub mod generate;
pub mod input;
pub mod list;
pub mod load;
pub mod replay;
pub mod rewrite;
pub mod rules;
pub mod run;
pub mod serve;
pub mod term;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// imcpm: a conformance harness for OMA SIMPLE IM Appendix T (interoperability with OMA CPM
/// clients).
#[derive(Debug, Parser)]
#[command(name = "imcpm", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// When to colour the output (errors, tables, logs).
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto", global = true)]
    pub color: term::ColorChoice,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a request rewritten by the reference behaviour (byte-faithful).
    Rewrite(rewrite::Args),
    /// Judge one pair: a request entering the IM server and what left it.
    Check(check::Args),
    /// Judge the SIP traffic of pcap/pcapng captures (the IM server given by --sut).
    CheckPcap(check_pcap::Args),
    /// List the requirement catalogue (docs/requirements.md).
    Rules(rules::Args),
    /// Run the reference IM server over real UDP/TCP sockets until Ctrl-C or SIGTERM.
    Serve(serve::Args),
    /// List the deliberate faults of the reference server and the IDs each targets.
    Faults(faults::Args),
    /// Run the scenarios (the built-in suite, or --scenarios DIR|FILE) against the embedded
    /// reference server (or, with --sut, your own server over the network) and write reports.
    Run(run::Args),
    /// List the scenarios a run would play, or write the built-in ones out (--export DIR).
    List(list::Args),
    /// Re-send a capture's requests to the IM server to a live server and judge what it does.
    Replay(replay::Args),
    /// Offer requests to a server at a fixed rate (open loop) and judge every message.
    Load(load::Args),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(generate::CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into --dir.
    Man(generate::ManArgs),
}

/// What goes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Text for people.
    #[default]
    Text,
    /// JSON (findings with the keys of report.json).
    Json,
    /// Markdown.
    Markdown,
}

/// Whether output to a stream may use colour, under `--color` ([`term::ColorChoice`]): `never`
/// wins, `always` overrides `NO_COLOR`, and `auto` colours a terminal unless `NO_COLOR` is set
/// to a non-empty value (no-color.org). Every command that colours asks this.
pub fn color(stream_is_terminal: bool) -> bool {
    term::color_for(term::color_choice(), stream_is_terminal, std::env::var_os("NO_COLOR").as_deref())
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    // `--color` is looked up before clap parses, so that its help and usage errors follow it
    // too (clap's `auto` honours NO_COLOR as ours does).
    let clap_color = match term::color_arg(std::env::args_os().skip(1)).unwrap_or_default() {
        term::ColorChoice::Auto => clap::ColorChoice::Auto,
        term::ColorChoice::Always => clap::ColorChoice::Always,
        term::ColorChoice::Never => clap::ColorChoice::Never,
    };
    let cli = Cli::command()
        .color(clap_color)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
        .unwrap_or_else(|e| term::escape_clap_error(e).exit());
    term::set_color_choice(cli.color);
    let result = match cli.command {
        Command::Rewrite(a) => rewrite::run(a),
        Command::Check(a) => check::run(a),
        Command::CheckPcap(a) => check_pcap::run(a),
        Command::Rules(a) => rules::run(a),
        Command::Serve(a) => serve::run(a, cli.verbose),
        Command::Faults(a) => faults::run(a),
        Command::Run(a) => run::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Load(a) => load::run(a),
        Command::List(a) => list::run(a),
        Command::Completions(a) => generate::completions(a),
        Command::Man(a) => generate::man(a),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            term::err(&term::render_error(&report));
            ExitCode::from(2)
        }
    }
}
