//! Planning a revert in memory and applying it as one commit on a branch.
//!
//! Must never touch refs, HEAD, the index or the working tree while planning, nor when anything
//! fails; the only write of [`apply_revert`] to a ref is a compare-and-swap on the branch's tip
//! as the plan saw it.

use std::cell::RefCell;

use git2::build::CheckoutBuilder;
use git2::{CheckoutNotificationType, Commit, Oid, Repository, Signature, StatusOptions};

use super::find::{find_reverts_of, is_revert};
use super::gitcli::{checkouts_of, revert_merge, Merged};
use super::message::{build, RevertMessage};
use super::{branch_ref, Result, RevertTarget, RollbackError};

/// Longest rebase-merged range accepted.
const MAX_RANGE: usize = 10_000;

/// Knobs of [`plan_revert_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevertOptions {
    /// Allow reverting a commit that is itself a revert (a person's decision, never automatic).
    pub allow_revert_of_revert: bool,
}

/// A revert computed in memory, ready for [`apply_revert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertPlan {
    /// The tree of the revert commit.
    pub tree: Oid,
    /// The revert commit's message.
    pub message: String,
    /// The branch tip the revert goes on top of (and the value the ref must still have).
    pub parent: Oid,
    /// The commits reverted, newest first (one for a merge or a squash commit).
    pub reverted: Vec<Oid>,
}

/// [`plan_revert_with`] with the default options (a revert of a revert is refused).
pub fn plan_revert(
    repo: &Repository,
    branch: &str,
    target: RevertTarget,
    msg: &RevertMessage,
) -> Result<RevertPlan> {
    plan_revert_with(repo, branch, target, msg, &RevertOptions::default())
}

/// The commits to revert, newest first, each with the parent it is reverted against.
fn steps<'r>(repo: &'r Repository, target: RevertTarget) -> Result<Vec<(Commit<'r>, Commit<'r>)>> {
    match target {
        RevertTarget::Merge(m) => {
            let c = repo.find_commit(m)?;
            if c.parent_count() < 2 {
                return Err(RollbackError::BadTarget(format!(
                    "{m} is not a merge commit (it has {} parent(s))",
                    c.parent_count()
                )));
            }
            let p = c.parent(0)?;
            Ok(vec![(c, p)])
        }
        RevertTarget::Commit(o) => {
            let c = repo.find_commit(o)?;
            if c.parent_count() != 1 {
                return Err(RollbackError::BadTarget(format!(
                    "{o} has {} parents; a squash merge has exactly one",
                    c.parent_count()
                )));
            }
            let p = c.parent(0)?;
            Ok(vec![(c, p)])
        }
        RevertTarget::Range { first, last } => {
            let mut out = Vec::new();
            let mut cur = repo.find_commit(last)?;
            loop {
                if cur.parent_count() != 1 {
                    return Err(RollbackError::BadTarget(format!(
                        "{} in range {first}^..{last} has {} parents; a rebase-merged range is linear",
                        cur.id(),
                        cur.parent_count()
                    )));
                }
                let p = cur.parent(0)?;
                let done = cur.id() == first;
                out.push((cur, p.clone()));
                if done {
                    return Ok(out);
                }
                if out.len() >= MAX_RANGE {
                    return Err(RollbackError::BadTarget(format!(
                        "{first} is not an ancestor of {last} within {MAX_RANGE} commits"
                    )));
                }
                cur = p;
            }
        }
    }
}

/// Revert `commit` (against `parent`) on top of the commit `ours`, with git's own merge (see
/// [`gitcli`](super::gitcli)): the reverted commit is the base, `ours` the first side, the
/// parent the second — exactly `git revert`'s merge.
fn revert_tree(repo: &Repository, commit: Oid, parent: Oid, ours: Oid) -> Result<Oid> {
    match revert_merge(repo, commit, parent, ours)? {
        Merged::Clean(tree) => Ok(tree),
        Merged::Conflict(paths) => Err(RollbackError::Conflict {
            target: commit,
            paths,
        }),
    }
}

/// Plan the revert of `target` on `branch`, in memory: refuses a target not on the branch, one
/// already reverted there, and (unless allowed) a target that is itself a revert; fails on a
/// conflict, naming the paths. Writes only tree objects, never a ref, the index or the working
/// tree. A dry run is this call alone.
///
/// A range becomes ONE revert commit: each commit is reverted newest first on top of the
/// previous in-memory result, so its tree equals `git revert --no-edit last … first` in
/// sequence; its message carries one `Patchgate-Reverts:` trailer per commit.
pub fn plan_revert_with(
    repo: &Repository,
    branch: &str,
    target: RevertTarget,
    msg: &RevertMessage,
    opts: &RevertOptions,
) -> Result<RevertPlan> {
    if let Some(h) = &msg.record_hash {
        if h.is_empty() || h.chars().any(char::is_whitespace) {
            return Err(RollbackError::Invalid(format!("record hash {h:?}")));
        }
    }
    let refname = branch_ref(branch)?;
    let tip = repo.refname_to_id(&refname)?;
    let steps = steps(repo, target)?;
    let reverted: Vec<Oid> = steps.iter().map(|(c, _)| c.id()).collect();
    let oldest_parent = steps.last().map(|(_, p)| p.id()).unwrap_or(tip);

    for &c in &reverted {
        if c != tip && !repo.graph_descendant_of(tip, c)? {
            return Err(RollbackError::NotOnBranch {
                target: c,
                branch: branch.to_string(),
            });
        }
    }
    if let Some((t, by)) = find_reverts_of(repo, branch, target.head(), &reverted)? {
        return Err(RollbackError::AlreadyReverted {
            target: t,
            by,
            merge: matches!(target, RevertTarget::Merge(_)),
        });
    }
    if !opts.allow_revert_of_revert {
        for &c in &reverted {
            if is_revert(repo, c)? {
                return Err(RollbackError::RevertOfRevert { target: c });
            }
        }
    }

    let tip_tree = repo.find_commit(tip)?.tree_id();
    // Newest first, each step on top of the previous one's result, as `git revert` of a range
    // does; a step's result becomes an (unreachable) commit for the next step to merge onto.
    let mut ours = tip;
    let mut tree = tip_tree;
    for (i, (c, p)) in steps.iter().enumerate() {
        if i > 0 {
            let sig = Signature::now("patchgate", "patchgate@localhost")?;
            let t = repo.find_tree(tree)?;
            let prev = repo.find_commit(ours)?;
            ours = repo.commit(None, &sig, &sig, "patchgate: revert step", &t, &[&prev])?;
        }
        tree = revert_tree(repo, c.id(), p.id(), ours)?;
    }
    if tree == tip_tree {
        return Err(RollbackError::NothingToRevert {
            target: target.head(),
        });
    }

    let head = repo.find_commit(target.head())?;
    let default_title =
        String::from_utf8_lossy(head.summary_bytes().unwrap_or_default()).into_owned();
    let first_parent = match target {
        RevertTarget::Merge(_) => Some(oldest_parent),
        _ => None,
    };
    let message = build(msg, &target, &reverted, first_parent, &default_title);
    Ok(RevertPlan {
        tree,
        message,
        parent: tip,
        reverted,
    })
}

/// The identity the revert commit is made with: the repository's `user.name`/`user.email`, or
/// `patchgate <patchgate@localhost>` when none is configured.
fn signature(repo: &Repository) -> Result<Signature<'static>> {
    match repo.signature() {
        Ok(s) => Ok(s),
        Err(_) => Ok(Signature::now("patchgate", "patchgate@localhost")?),
    }
}

/// Bring the work tree and index from the branch's tip to `tree` before the branch moves, the
/// way git's checkout does: never overwriting an untracked file (a conflict of libgit2's safe
/// checkout, checked before anything is written), ignored files being expendable as in git.
fn update_worktree(repo: &Repository, tree: Oid) -> Result<()> {
    let in_the_way = RefCell::new(Vec::<String>::new());
    let result = {
        let mut co = CheckoutBuilder::new();
        co.safe()
            .notify_on(CheckoutNotificationType::CONFLICT)
            .notify(|_, path, _, _, _| {
                if let Some(p) = path {
                    in_the_way
                        .borrow_mut()
                        .push(p.to_string_lossy().into_owned());
                }
                true
            });
        let t = repo.find_tree(tree)?;
        repo.checkout_tree(t.as_object(), Some(&mut co))
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.code() == git2::ErrorCode::Conflict => {
            let mut paths = in_the_way.into_inner();
            paths.sort();
            paths.dedup();
            Err(RollbackError::UntrackedInTheWay { paths })
        }
        Err(e) => Err(e.into()),
    }
}

/// Create the planned revert commit on `branch` and move the branch to it, by compare-and-swap
/// on `plan.parent`: a branch that moved is an error and nothing is written.
///
/// A branch checked out in another worktree is refused (git refuses too: that worktree would
/// show the revert as staged reverse changes). When the branch is checked out here, the work
/// tree must be clean (untracked files aside) and is brought to the revert first, refusing
/// — with nothing written — when that would overwrite an untracked file, as `git revert` does.
/// Returns the new commit.
pub fn apply_revert(repo: &Repository, branch: &str, plan: &RevertPlan) -> Result<Oid> {
    apply_revert_signed(repo, branch, plan, None)
}

/// [`apply_revert`], the commit SSH-signed with `key` when given (as git signs commits:
/// `git verify-commit` with `gpg.format=ssh` checks it).
pub fn apply_revert_signed(
    repo: &Repository,
    branch: &str,
    plan: &RevertPlan,
    key: Option<&crate::meta::sshsig::SigningKey>,
) -> Result<Oid> {
    let refname = branch_ref(branch)?;
    let actual = repo.refname_to_id(&refname)?;
    if actual != plan.parent {
        return Err(RollbackError::BranchMoved {
            branch: branch.to_string(),
            expected: plan.parent,
            actual,
        });
    }
    let checkouts = checkouts_of(repo, &refname)?;
    if let Some(other) = checkouts.iter().find(|c| !c.current) {
        return Err(RollbackError::CheckedOutElsewhere {
            branch: branch.to_string(),
            path: other.path.display().to_string(),
        });
    }
    let on_worktree = !checkouts.is_empty() && !repo.is_bare();
    let old_tree = repo.find_commit(plan.parent)?.tree_id();
    if on_worktree {
        let mut so = StatusOptions::new();
        so.include_untracked(false).include_ignored(false);
        if !repo.statuses(Some(&mut so))?.is_empty() {
            return Err(RollbackError::DirtyWorktree(branch.to_string()));
        }
        update_worktree(repo, plan.tree)?;
    }
    let moved = |actual: Oid| RollbackError::BranchMoved {
        branch: branch.to_string(),
        expected: plan.parent,
        actual,
    };
    let committed = (|| -> Result<Oid> {
        let sig = signature(repo)?;
        let tree = repo.find_tree(plan.tree)?;
        let parent = repo.find_commit(plan.parent)?;
        let oid = match key {
            Some(k) => {
                crate::meta::anchor::signed_commit(repo, &sig, &tree, &[&parent], &plan.message, k)?
            }
            None => repo.commit(None, &sig, &sig, &plan.message, &tree, &[&parent])?,
        };
        let log = format!(
            "patchgate rollback: revert {}",
            plan.reverted.first().copied().unwrap_or(plan.parent)
        );
        match repo.reference_matching(&refname, oid, true, plan.parent, &log) {
            Ok(_) => Ok(oid),
            Err(e) => match repo.refname_to_id(&refname)? {
                actual if actual != plan.parent => Err(moved(actual)),
                _ => Err(e.into()),
            },
        }
    })();
    if committed.is_err() && on_worktree {
        // The branch did not move: put the work tree back where it was (it holds exactly the
        // revert's files, written a moment ago).
        let mut co = CheckoutBuilder::new();
        co.force();
        let t = repo.find_tree(old_tree)?;
        repo.checkout_tree(t.as_object(), Some(&mut co))?;
    }
    committed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(repo: &Repository, parents: &[Oid], files: &[(&str, &str)], msg: &str) -> Oid {
        let mut tb = repo.treebuilder(None).unwrap();
        for (name, content) in files {
            let blob = repo.blob(content.as_bytes()).unwrap();
            tb.insert(name, blob, 0o100644).unwrap();
        }
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let parents: Vec<Commit> = parents
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&Commit> = parents.iter().collect();
        let sig = Signature::now("t", "t@example.com").unwrap();
        repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
    }

    #[test]
    fn plans_a_single_commit_revert_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let a = commit(&repo, &[], &[("f", "1\n2\n3\n")], "base");
        let b = commit(&repo, &[a], &[("f", "1\nX\n3\n")], "change (#4)");
        repo.reference("refs/heads/main", b, true, "t").unwrap();
        let msg = RevertMessage {
            title: None,
            reason: super::super::RevertReason::Manual(None),
            record_hash: None,
        };
        let plan = plan_revert(&repo, "main", RevertTarget::Commit(b), &msg).unwrap();
        assert_eq!(plan.tree, repo.find_commit(a).unwrap().tree_id());
        assert!(plan.message.starts_with("Revert \"change (#4)\"\n"));
        assert_eq!(repo.refname_to_id("refs/heads/main").unwrap(), b);
        assert!(matches!(
            plan_revert(&repo, "main", RevertTarget::Merge(b), &msg),
            Err(RollbackError::BadTarget(_))
        ));
    }
}
