//! The `patchgate` command line: a thin shell over the library. The argument types are in
//! `cli/args.rs`, each command's body in `cli/<command>.rs`.
//!
//! Exit status: 0 when the renders agree (or the command succeeded), 1 when they escalate,
//! 2 on any error — the error chain is printed to stderr.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let cli = cli::args::Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("patchgate: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
