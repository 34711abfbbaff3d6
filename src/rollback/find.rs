//! Finding what to revert (a pull request's merge on a branch) and whether it was already
//! reverted.
//!
//! Read-only: must never write to the repository.

use git2::{Oid, Repository, Sort};

use super::message::{looks_like_revert, reverted_shas};
use super::{branch_ref, Result, RevertTarget, RollbackError};

/// Find the merge of pull request `pr` on `branch`, newest first along the first-parent line:
/// GitHub's merge commit message `Merge pull request #N from …` gives [`RevertTarget::Merge`];
/// a squash merge's title ending in ` (#N)` gives [`RevertTarget::Commit`].
///
/// A rebase-merged pull request leaves no trace in commit messages (its commits keep their own
/// messages), so it cannot be found here: the caller must name the range (from the GitHub API,
/// or by hand) as [`RevertTarget::Range`].
pub fn find_pr_merge(repo: &Repository, branch: &str, pr: u64) -> Result<RevertTarget> {
    let tip = repo.refname_to_id(&branch_ref(branch)?)?;
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.simplify_first_parent()?;
    let merge_prefix = format!("Merge pull request #{pr} from ");
    let squash_suffix = format!(" (#{pr})");
    for oid in walk {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        let summary = String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default());
        if commit.parent_count() >= 2 && summary.starts_with(&merge_prefix) {
            return Ok(RevertTarget::Merge(oid));
        }
        if commit.parent_count() == 1 && summary.trim_end().ends_with(&squash_suffix) {
            return Ok(RevertTarget::Commit(oid));
        }
    }
    Err(RollbackError::PrNotFound {
        pr,
        branch: branch.to_string(),
    })
}

/// The range git writes `from..to` — the commits reachable from `to` and not from `from` — as a
/// [`RevertTarget::Range`], when they form one line of single-parent commits on top of `from`
/// (what a rebase merge leaves). `from` itself is not in the range, as in git; `A^..B` takes A
/// too. Anything else (an empty range, a merge inside, `from` not below `to`) is refused,
/// naming why.
pub fn linear_range(repo: &Repository, from: Oid, to: Oid) -> Result<RevertTarget> {
    const LIMIT: usize = 10_000;
    if from == to {
        return Err(RollbackError::BadTarget(format!(
            "{from}..{to} is empty (git's A..B excludes A; write A^..B to include it)"
        )));
    }
    let mut cur = repo.find_commit(to)?;
    for _ in 0..LIMIT {
        if cur.parent_count() != 1 {
            return Err(RollbackError::BadTarget(format!(
                "{} in range {from}..{to} has {} parents; a rebase-merged range is a line of single-parent commits",
                cur.id(),
                cur.parent_count()
            )));
        }
        let parent = cur.parent_id(0)?;
        if parent == from {
            return Ok(RevertTarget::Range {
                first: cur.id(),
                last: to,
            });
        }
        cur = repo.find_commit(parent)?;
    }
    Err(RollbackError::BadTarget(format!(
        "{from} is not below {to} on a line of single-parent commits within {LIMIT} commits"
    )))
}

/// The first commit on `branch` after `since` (newest first) whose message says it reverts one
/// of `targets` (a `Patchgate-Reverts:` trailer, or git's `This reverts commit <sha>`), if any.
pub fn find_reverts_of(
    repo: &Repository,
    branch: &str,
    since: Oid,
    targets: &[Oid],
) -> Result<Option<(Oid, Oid)>> {
    let tip = repo.refname_to_id(&branch_ref(branch)?)?;
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL)?;
    walk.push(tip)?;
    walk.hide(since)?;
    let hexes: Vec<(Oid, String)> = targets.iter().map(|t| (*t, t.to_string())).collect();
    for oid in walk {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        for sha in reverted_shas(&message) {
            if let Some((t, _)) = hexes.iter().find(|(_, hex)| hex.starts_with(&sha)) {
                return Ok(Some((*t, oid)));
            }
        }
    }
    Ok(None)
}

/// Is this commit itself a revert (`Revert "…"`, a `Patchgate-Reverts:` trailer, or git's
/// `This reverts commit` line)?
pub fn is_revert(repo: &Repository, commit: Oid) -> Result<bool> {
    let c = repo.find_commit(commit)?;
    Ok(looks_like_revert(&String::from_utf8_lossy(
        c.message_bytes(),
    )))
}
