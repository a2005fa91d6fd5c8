//! The `imcpm` binary: see `imcpm --help`.

fn main() -> std::process::ExitCode {
    imcpm::cli::main()
}
