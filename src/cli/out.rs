//! Output that never kills a command halfway: a closed stdout (`patchgate … | head -2`) or
//! stderr must end the command quietly, not with a panic (Rust's `println!` panics on a
//! closed pipe, exit 101).
//!
//! Two layers. [`outln!`] writes a line and ignores a failed write, for commands whose work
//! must go on after printing (`rollback` prints the commit it made, then pushes it): they
//! finish and exit with their own code. Everywhere else `println!` stays, and a panic caused
//! by a closed stdout is caught — no message, exit [`CLOSED_STDOUT`] (141, what a process
//! killed by SIGPIPE reports to a shell) — as is an error that is a broken pipe.

use std::any::Any;

/// The exit code of a command stopped by a closed stdout.
pub(crate) const CLOSED_STDOUT: u8 = 141;

/// `println!` that never panics: a line lost to a closed stdout is ignored.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use outln;

/// Is this panic `println!`'s on a closed stdout?
pub(crate) fn closed_stdout_panic(payload: &(dyn Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.starts_with("failed printing to stdout")
        && (text.contains("Broken pipe") || text.contains("os error 32"))
}

/// Keep the default panic message for every panic but the one of a closed stdout, which
/// unwinds silently to `main` (or, in a build that aborts on panic, exits at once).
pub(crate) fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if closed_stdout_panic(info.payload()) {
            if cfg!(panic = "abort") {
                std::process::exit(i32::from(CLOSED_STDOUT));
            }
            return;
        }
        default(info)
    }));
}

/// Is this error (or a cause of it) a write to a closed pipe?
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Print an error and its causes to stderr (never panicking if stderr is closed too), each
/// cause once: a cause whose text the line above already contains is not repeated.
pub(crate) fn report_error(e: &anyhow::Error) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let mut shown = e.to_string();
    let _ = writeln!(err, "patchgate: error: {shown}");
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if shown.contains(&text) {
            continue;
        }
        let _ = writeln!(err, "  caused by: {text}");
        shown = text;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_stdout_is_quiet() {
        let p: Box<dyn Any + Send> =
            Box::new("failed printing to stdout: Broken pipe (os error 32)".to_string());
        assert!(closed_stdout_panic(p.as_ref()));
        let p: Box<dyn Any + Send> = Box::new(
            "failed printing to stdout: No space left on device (os error 28)".to_string(),
        );
        assert!(!closed_stdout_panic(p.as_ref()));
        let p: Box<dyn Any + Send> = Box::new("index out of bounds");
        assert!(!closed_stdout_panic(p.as_ref()));
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the report");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
