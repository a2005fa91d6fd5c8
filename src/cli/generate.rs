//! `imcpm completions SHELL` and `imcpm man [--dir DIR]`: shell completions and manual pages,
//! generated from the command-line definition itself (clap_complete, clap_mangen), so they
//! always match the binary. README.md says how to install them.

use clap::CommandFactory;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `imcpm completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `imcpm man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write imcpm.1 and one page per subcommand (imcpm-run.1, ...) into DIR instead of
    /// printing imcpm.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Run `imcpm completions`: the script on stdout.
pub fn completions(a: CompletionsArgs) -> miette::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "imcpm", &mut out);
    std::io::stdout().lock().write_all(&out).map_err(|e| miette::miette!("stdout: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Run `imcpm man`: the main page on stdout, or every page into `--dir`.
pub fn man(a: ManArgs) -> miette::Result<ExitCode> {
    let cmd = super::Cli::command();
    match a.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| miette::miette!("--dir {}: {e}", super::term::path(&dir)))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| miette::miette!("--dir {}: {e}", super::term::path(&dir)))?;
            super::term::err(&format!("wrote the manual pages to {}\n", super::term::path(&dir)));
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out).map_err(|e| miette::miette!("{e}"))?;
            std::io::stdout().lock().write_all(&out).map_err(|e| miette::miette!("stdout: {e}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
