//! Terminal colour: one ANSI helper for every report. Callers decide whether colour is on (only
//! for a terminal, and never when `NO_COLOR` is set); nothing here inspects the environment.

/// `s` in the ANSI colour `code` (e.g. `1;31` bold red) when `on`, else `s` as it is.
pub fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}
