//! The `patchgate` command line: a thin shell over the library. The argument types are in
//! `cli/args.rs`, each command's body in `cli/<command>.rs`.
//!
//! Exit status: 0 when the renders agree (or the command succeeded), 1 when they escalate,
//! 2 on any error — the error chain is printed to stderr (`rollback` has its own codes, see
//! the README). A closed stdout (`patchgate … | head`) ends a command quietly with 141, as a
//! process killed by SIGPIPE (`cli/out.rs`).

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let cli = cli::args::Cli::parse();
    cli::out::quiet_on_closed_stdout();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cli::run(cli)));
    match run {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) if cli::out::is_broken_pipe(&e) => ExitCode::from(cli::out::CLOSED_STDOUT),
        Ok(Err(e)) => {
            cli::out::report_error(&e);
            ExitCode::from(2)
        }
        Err(p) if cli::out::closed_stdout_panic(p.as_ref()) => {
            ExitCode::from(cli::out::CLOSED_STDOUT)
        }
        Err(p) => std::panic::resume_unwind(p),
    }
}
