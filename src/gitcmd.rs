//! Running the `git` command line for the few things git itself does best (the revert's merge,
//! the list of worktrees, writing a tree out as files): one place that builds the command with a
//! cleared environment and checks git's version.
//!
//! The child's environment is cleared down to what git needs to find itself and its
//! configuration — no tokens, no keys, nothing of the caller's secrets. The `git` found on
//! `PATH` must be 2.40 or newer (`merge-tree --merge-base` and `--attr-source` appeared in 2.40).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The oldest git patchgate runs: `merge-tree --merge-base` and `--attr-source` are 2.40's.
pub const MIN_GIT: (u32, u32) = (2, 40);

/// Environment variables passed through to git: where it is, where its configuration is (so a
/// merge honours the same `merge.*`/`diff.*` settings a person's git does), and nothing else.
const PASS_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "TMPDIR",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXEC_PATH",
];

/// Why git cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitUnusable {
    /// `git` could not be started (what the system said).
    Missing(String),
    /// `git --version` named an older (or an unknown) version: what it said.
    TooOld(String),
}

/// A `git` command on the git directory `git_dir`, with a cleaned environment, `LC_ALL=C`, no
/// terminal prompt and no stdin.
pub fn command(git_dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear();
    for (k, v) in std::env::vars_os() {
        let keep = k.to_str().is_some_and(|k| {
            PASS_ENV.contains(&k)
                || k.starts_with("GIT_CONFIG_KEY_")
                || k.starts_with("GIT_CONFIG_VALUE_")
        });
        if keep {
            cmd.env(k, v);
        }
    }
    cmd.env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .arg("--git-dir")
        .arg(git_dir)
        .stdin(Stdio::null());
    cmd
}

/// `git version 2.47.3` (or `2.39.3 (Apple Git-145)`, `2.41.0.windows.1`) → (2, 47).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let v = text.trim().strip_prefix("git version ")?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Check once per process that the `git` on `PATH` is recent enough (a failure is checked
/// again next time, so installing git fixes a running server).
pub fn check_version() -> Result<(), GitUnusable> {
    static OK: OnceLock<()> = OnceLock::new();
    if OK.get().is_some() {
        return Ok(());
    }
    let out = Command::new("git")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitUnusable::Missing(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match parse_version(&text) {
        Some(v) if v >= MIN_GIT => {
            let _ = OK.set(());
            Ok(())
        }
        _ => Err(GitUnusable::TooOld(text.trim().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_on_every_platform_form() {
        assert_eq!(parse_version("git version 2.47.3\n"), Some((2, 47)));
        assert_eq!(
            parse_version("git version 2.39.3 (Apple Git-145)"),
            Some((2, 39))
        );
        assert_eq!(parse_version("git version 2.41.0.windows.1"), Some((2, 41)));
        assert_eq!(parse_version("hub version 2.14"), None);
        assert!((2, 39) < MIN_GIT && (2, 40) >= MIN_GIT && (3, 0) >= MIN_GIT);
    }
}
