//! The `git` command line, for what only git itself does exactly as `git revert`: the revert's
//! three-way merge (`git merge-tree --write-tree --merge-base`, git's ort strategy with its
//! histogram diff, rename detection and directory-rename conflicts, no work tree) and the list
//! of worktrees that have a branch checked out (`git worktree list`).
//!
//! Why not libgit2: its tree merge aligns lines with the Myers diff and detects renames its own
//! way, so on real histories its revert sometimes lands a restored block elsewhere, conflicts
//! where git does not, or misses a rename git sees. libgit2 (git2) stays for reading, refs,
//! notes and pushing.
//!
//! What it must never do: write a ref, the index or a work tree (merge-tree writes only
//! unreachable objects), or hand the child process the caller's secrets: the child's
//! environment is cleared down to what git needs to find itself and its configuration (the
//! command and the version check are [`crate::gitcmd`]'s, shared with render B's checkout).
//!
//! The `git` found on `PATH` must be 2.40 or newer (`--merge-base` appeared in 2.40); an older
//! one is a [`RollbackError::GitTooOld`] naming the version found.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Oid, Repository};

use super::{Result, RollbackError};
use crate::gitcmd::{self, GitUnusable};

/// The oldest git whose `merge-tree` takes `--merge-base`.
pub use crate::gitcmd::MIN_GIT;

/// A `git` command on `repo`'s git directory, with a cleaned environment
/// ([`gitcmd::command`]).
fn command(repo: &Repository) -> Command {
    gitcmd::command(repo.path())
}

/// Check once per process that the `git` on `PATH` is recent enough.
fn check_version() -> Result<()> {
    gitcmd::check_version().map_err(|e| match e {
        GitUnusable::Missing(why) => RollbackError::GitMissing(why),
        GitUnusable::TooOld(found) => RollbackError::GitTooOld { found },
    })
}

/// Run `cmd`; its stdout, or [`RollbackError::GitFailed`] with what git said.
fn run(mut cmd: Command, what: &str) -> Result<(std::process::ExitStatus, Vec<u8>)> {
    let out = cmd
        .output()
        .map_err(|e| RollbackError::GitMissing(e.to_string()))?;
    if out.status.code().is_none() || out.status.code().is_some_and(|c| c > 1) {
        return Err(RollbackError::GitFailed {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok((out.status, out.stdout))
}

/// The outcome of one revert step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// A clean result: the tree.
    Clean(Oid),
    /// Conflicts: the paths git names (at their place in the result), sorted.
    Conflict(Vec<String>),
}

/// Revert `commit` against `parent` on top of the commit `ours`: git's three-way merge with the
/// reverted commit as the base, `ours` as the first side and `parent` as the second — what
/// `git revert [-m 1] commit` computes on a branch at `ours`.
pub fn revert_merge(repo: &Repository, commit: Oid, parent: Oid, ours: Oid) -> Result<Merged> {
    check_version()?;
    let mut cmd = command(repo);
    cmd.args(["merge-tree", "--write-tree", "-z", "--name-only"])
        .arg(format!("--merge-base={commit}"))
        .arg(ours.to_string())
        .arg(parent.to_string());
    let (status, stdout) = run(cmd, "git merge-tree")?;
    parse_merge_tree(&stdout, status.code() == Some(0))
}

/// `git merge-tree --write-tree -z --name-only` output: `<tree>NUL`, then (on a conflict) the
/// conflicted paths each followed by NUL, an empty field, then the messages.
fn parse_merge_tree(stdout: &[u8], clean: bool) -> Result<Merged> {
    let mut fields = stdout.split(|b| *b == 0);
    let tree = fields
        .next()
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|s| Oid::from_str(s.trim()).ok())
        .ok_or_else(|| RollbackError::GitFailed {
            what: "git merge-tree".into(),
            stderr: format!(
                "unexpected output: {:?}",
                String::from_utf8_lossy(&stdout[..stdout.len().min(200)])
            ),
        })?;
    if clean {
        return Ok(Merged::Clean(tree));
    }
    let mut paths: Vec<String> = Vec::new();
    for f in fields.by_ref() {
        if f.is_empty() {
            break;
        }
        paths.push(String::from_utf8_lossy(f).into_owned());
    }
    if paths.is_empty() {
        // Conflicts with no conflicted entry (none known, but never report an empty list):
        // the messages name `<count>NUL<path>…NUL<type>NUL<message>NUL` records.
        let rest: Vec<&[u8]> = fields.collect();
        let mut i = 0;
        while i < rest.len() {
            let Some(n) = std::str::from_utf8(rest[i])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                break;
            };
            for p in rest.iter().skip(i + 1).take(n) {
                paths.push(String::from_utf8_lossy(p).into_owned());
            }
            i += n + 3;
        }
    }
    paths.sort();
    paths.dedup();
    Ok(Merged::Conflict(paths))
}

/// A worktree that has a branch checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkout {
    /// The worktree's top directory.
    pub path: PathBuf,
    /// Is it the worktree of the repository asked about (`repo.workdir()`)?
    pub current: bool,
}

/// Every worktree (the main one and the linked ones, git's own list) whose HEAD is
/// `refname`.
pub(crate) fn checkouts_of(repo: &Repository, refname: &str) -> Result<Vec<Checkout>> {
    check_version()?;
    let mut cmd = command(repo);
    cmd.args(["worktree", "list", "--porcelain", "-z"]);
    let (status, stdout) = run(cmd, "git worktree list")?;
    if !status.success() {
        return Err(RollbackError::GitFailed {
            what: "git worktree list".into(),
            stderr: String::new(),
        });
    }
    let here = repo.workdir().map(canonical);
    let mut out = Vec::new();
    let mut path: Option<PathBuf> = None;
    let mut bare = false;
    let mut branch: Option<String> = None;
    // Records are `key value` fields, NUL-terminated, each worktree ended by an empty field.
    for field in stdout.split(|b| *b == 0) {
        if field.is_empty() {
            if let (Some(p), Some(b), false) = (path.take(), branch.take(), bare) {
                if b == refname {
                    let current = here.as_deref() == Some(canonical(&p).as_path());
                    out.push(Checkout { path: p, current });
                }
            }
            path = None;
            branch = None;
            bare = false;
            continue;
        }
        let text = String::from_utf8_lossy(field);
        let (key, value) = text.split_once(' ').unwrap_or((&text, ""));
        match key {
            "worktree" => path = Some(PathBuf::from(OsStr::new(value))),
            "branch" => branch = Some(value.to_string()),
            "bare" => bare = true,
            _ => {}
        }
    }
    Ok(out)
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_tree_output_parses() {
        let t = "a690b1c111e9f259bfbc3aa8980302c501ee455f";
        let clean = format!("{t}\0");
        assert_eq!(
            parse_merge_tree(clean.as_bytes(), true).unwrap(),
            Merged::Clean(Oid::from_str(t).unwrap())
        );
        let conflict = format!(
            "{t}\0e/x\0\x002\0e/x\0d/x\0CONFLICT (directory rename suggested)\0CONFLICT (file location): …\n\0"
        );
        assert_eq!(
            parse_merge_tree(conflict.as_bytes(), false).unwrap(),
            Merged::Conflict(vec!["e/x".into()])
        );
        let only_messages = format!("{t}\0\x001\0b.txt\0CONFLICT (contents)\0m\n\0");
        assert_eq!(
            parse_merge_tree(only_messages.as_bytes(), false).unwrap(),
            Merged::Conflict(vec!["b.txt".into()])
        );
        assert!(parse_merge_tree(b"fatal\n", true).is_err());
    }
}
