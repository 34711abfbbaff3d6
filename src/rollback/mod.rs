//! Local revert engine: undoes a merged change on a repository (the server's bare mirror, or a
//! user's clone for `patchgate rollback`), offline.
//!
//! A rollback is planned in memory ([`plan_revert`]: the revert's tree and message; the tree is
//! computed by git itself, `git merge-tree --write-tree --merge-base` — the merge `git revert`
//! makes, with git's diff and rename detection, so it is git's revert), then applied
//! ([`apply_revert`]: the work tree updated when the branch is checked out, then one commit on
//! the branch, the ref moved by compare-and-swap), then optionally pushed ([`push`]). A dry run
//! is a plan only. git2 reads, writes refs and commits, and pushes; the `git` command (2.40 or
//! newer, [`gitcli`]) merges.
//!
//! What this module must never do:
//! - push, or move any ref, when the revert conflicts: a conflict is an error naming the paths,
//!   and the repository's refs, HEAD, index and working tree are left exactly as they were;
//! - revert a change that was already reverted on the branch (a `Patchgate-Reverts: <sha>`
//!   trailer or git's `This reverts commit <sha>` line), ever;
//! - revert a revert unless a person asked for it ([`RevertOptions::allow_revert_of_revert`]);
//! - force-push or overwrite a branch that moved since the plan was made;
//! - overwrite an untracked file, or move a branch checked out in another worktree (git refuses
//!   both, and so does this module).
//!
//! Planning writes only unreachable objects (trees) into the object database — never a ref,
//! the index or the working tree. Policy evaluation, policy events and the server-side flow
//! (revert PRs, GitHub comments) live elsewhere and call into this module.

pub mod auto;
mod find;
pub mod gitcli;
mod message;
mod push;
mod revert;
pub mod sink;

pub use find::{find_pr_merge, find_reverts_of, is_revert, linear_range};
pub use message::{RevertMessage, RevertReason};
pub use push::{check_remote, push, RemoteState};
pub use revert::{
    apply_revert, apply_revert_signed, plan_revert, plan_revert_with, RevertOptions, RevertPlan,
};

use git2::Oid;

/// What to revert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevertTarget {
    /// A merge commit, reverted against its first parent (`git revert -m 1`).
    Merge(Oid),
    /// A single-parent commit: a squash merge (or any single commit).
    Commit(Oid),
    /// A rebase-merged range of single-parent commits, `first` the oldest and `last` the newest
    /// (`first^..last`). Reverted newest first, into ONE revert commit whose tree equals
    /// `git revert --no-edit last … first` applied in sequence.
    Range {
        /// Oldest commit of the range.
        first: Oid,
        /// Newest commit of the range.
        last: Oid,
    },
}

impl RevertTarget {
    /// The commit that names the change: the merge, the squash commit, or the newest of a range.
    pub fn head(&self) -> Oid {
        match *self {
            RevertTarget::Merge(o) | RevertTarget::Commit(o) => o,
            RevertTarget::Range { last, .. } => last,
        }
    }
}

/// Why a rollback was not made. Every variant means nothing was written to refs, HEAD, index or
/// working tree.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// libgit2 failed.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    /// The revert conflicts with later changes on the branch.
    #[error("revert of {target} conflicts with later changes on the branch in: {}", .paths.join(", "))]
    Conflict {
        /// The commit whose revert conflicted.
        target: Oid,
        /// The conflicting paths, sorted.
        paths: Vec<String>,
    },
    /// The target was already reverted on the branch.
    #[error(
        "{target} was already reverted on the branch by {by}; {}",
        if *.merge { "a merge is never reverted twice" } else { "a change is never reverted twice" }
    )]
    AlreadyReverted {
        /// The reverted commit.
        target: Oid,
        /// The commit that reverted it.
        by: Oid,
        /// Is the target a merge commit?
        merge: bool,
    },
    /// The target is itself a revert.
    #[error(
        "{target} is itself a revert; reverting a revert needs a person (`patchgate rollback --allow-revert-of-revert`)"
    )]
    RevertOfRevert {
        /// The revert commit.
        target: Oid,
    },
    /// The target is not reachable from the branch.
    #[error("{target} is not on branch {branch}")]
    NotOnBranch {
        /// The target commit.
        target: Oid,
        /// The branch.
        branch: String,
    },
    /// The target does not have the shape its kind needs.
    #[error("bad revert target: {0}")]
    BadTarget(String),
    /// The revert would change nothing.
    #[error("nothing to revert: the revert of {target} leaves the branch's tree unchanged")]
    NothingToRevert {
        /// The target commit.
        target: Oid,
    },
    /// The branch moved between plan and apply.
    #[error("branch {branch} moved: expected {expected}, found {actual}; nothing was written")]
    BranchMoved {
        /// The branch.
        branch: String,
        /// Its tip when the plan was made.
        expected: Oid,
        /// Its tip now.
        actual: Oid,
    },
    /// No merge of that pull request was found.
    #[error("no merge of pull request #{pr} found on {branch} (rebase-merged pull requests cannot be found from commit messages; name the range)")]
    PrNotFound {
        /// The pull request number.
        pr: u64,
        /// The branch searched.
        branch: String,
    },
    /// The branch is checked out with local changes.
    #[error("branch {0} is checked out with uncommitted changes; commit or stash them first")]
    DirtyWorktree(String),
    /// The remote refused the push.
    #[error("push of {refname} rejected: {message}")]
    PushRejected {
        /// The ref pushed.
        refname: String,
        /// The remote's reason.
        message: String,
    },
    /// Invalid input (a branch name, a record hash, a range).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Checking out the revert would overwrite untracked files (git refuses the same way).
    #[error("untracked working tree files would be overwritten by the revert: {}; move or remove them first (nothing was written)", .paths.join(", "))]
    UntrackedInTheWay {
        /// The untracked paths in the way, sorted.
        paths: Vec<String>,
    },
    /// The branch is checked out in another worktree.
    #[error("branch {branch} is checked out in another worktree, at {path}; run the rollback there (nothing was written)")]
    CheckedOutElsewhere {
        /// The branch.
        branch: String,
        /// The other worktree's directory.
        path: String,
    },
    /// The `git` command could not be run.
    #[error("cannot run git ({0}): patchgate computes reverts with git 2.40 or newer, which must be on PATH")]
    GitMissing(String),
    /// The `git` command is older than 2.40.
    #[error("{found:?} is too old: patchgate computes reverts with `git merge-tree --merge-base`, which needs git 2.40 or newer on PATH")]
    GitTooOld {
        /// What `git --version` said.
        found: String,
    },
    /// The `git` command failed.
    #[error("{what} failed: {stderr}")]
    GitFailed {
        /// The command.
        what: String,
        /// What git said on stderr.
        stderr: String,
    },
    /// The remote to push to is missing or unreachable.
    #[error("remote {remote}: {message}")]
    Remote {
        /// The remote's name or URL.
        remote: String,
        /// What is wrong with it.
        message: String,
    },
}

impl RollbackError {
    /// The `patchgate rollback` exit code of this error (README, "`patchgate rollback`"):
    /// 1 a conflict, 2 a usage error (a target that is not a revertable change on the branch,
    /// an unknown pull request, a revert of a revert without the flag, invalid input), 3 already reverted (or a revert that would
    /// change nothing), 4 anything else (the repository's state, git, the remote).
    pub fn exit_code(&self) -> u8 {
        match self {
            RollbackError::Conflict { .. } => 1,
            RollbackError::BadTarget(_)
            | RollbackError::NotOnBranch { .. }
            | RollbackError::PrNotFound { .. }
            | RollbackError::RevertOfRevert { .. }
            | RollbackError::Invalid(_) => 2,
            RollbackError::AlreadyReverted { .. } | RollbackError::NothingToRevert { .. } => 3,
            _ => 4,
        }
    }
}

/// The result type of this module.
pub type Result<T, E = RollbackError> = std::result::Result<T, E>;

/// `refs/heads/<branch>`, accepting a full ref name too.
pub(crate) fn branch_ref(branch: &str) -> Result<String> {
    let name = if branch.starts_with("refs/") {
        branch.to_string()
    } else {
        format!("refs/heads/{branch}")
    };
    if !git2::Reference::is_valid_name(&name) {
        return Err(RollbackError::Invalid(format!(
            "not a valid branch name: {branch:?}"
        )));
    }
    Ok(name)
}
