//! Local revert engine: undoes a merged change on a repository (the server's bare mirror, or a
//! user's clone for `patchgate rollback`) with git2 alone, offline.
//!
//! A rollback is planned in memory ([`plan_revert`]: the revert's tree and message, computed
//! with libgit2's tree merge, equal to what `git revert` would produce), then applied
//! ([`apply_revert`]: one commit on the branch, the ref moved by compare-and-swap), then
//! optionally pushed ([`push`]). A dry run is a plan only.
//!
//! What this module must never do:
//! - push, or move any ref, when the revert conflicts: a conflict is an error naming the paths,
//!   and the repository's refs, HEAD, index and working tree are left exactly as they were;
//! - revert a change that was already reverted on the branch (a `Patchgate-Reverts: <sha>`
//!   trailer or git's `This reverts commit <sha>` line), ever;
//! - revert a revert unless a person asked for it ([`RevertOptions::allow_revert_of_revert`]);
//! - force-push or overwrite a branch that moved since the plan was made.
//!
//! Planning writes only unreachable objects (trees) into the object database — never a ref,
//! the index or the working tree. Policy evaluation, policy events and the server-side flow
//! (revert PRs, GitHub comments) live elsewhere and call into this module.

pub mod auto;
mod find;
mod message;
mod push;
mod revert;
pub mod sink;

pub use find::{find_pr_merge, find_reverts_of, is_revert};
pub use message::{RevertMessage, RevertReason};
pub use push::push;
pub use revert::{apply_revert, plan_revert, plan_revert_with, RevertOptions, RevertPlan};

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
        "{target} was already reverted on the branch by {by}; a merge is never reverted twice"
    )]
    AlreadyReverted {
        /// The reverted commit.
        target: Oid,
        /// The commit that reverted it.
        by: Oid,
    },
    /// The target is itself a revert.
    #[error(
        "{target} is itself a revert; reverting a revert needs a person (allow_revert_of_revert)"
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
    /// Invalid input (a branch name, a record hash).
    #[error("invalid input: {0}")]
    Invalid(String),
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
