//! The git part of a rollback on the fetched mirror: the revert found on the remote (from an
//! earlier attempt), an earlier commit reused, or the revert planned and committed (signed when
//! a key is set) under the private ref.

use git2::{Oid, Repository};

use super::flow::GitStep;
use super::reason::Plan;
use super::{blocking, pr_branch, private_ref, Orchestrator};
use crate::policy::RollbackAction;
use crate::rollback::{
    find_reverts_of, plan_revert_with, RevertMessage, RevertOptions, RollbackError,
};
use crate::store::rollbacks::RollbackRow;

impl Orchestrator {
    /// Fetch, look for the revert on the remote, else (re)plan and commit it.
    pub(super) async fn git_step(
        &self,
        row: &RollbackRow,
        plan: &Plan,
        action: RollbackAction,
    ) -> anyhow::Result<GitStep> {
        let git = self.git.clone();
        let row = row.clone();
        let plan = plan.clone();
        let key = self.signing_key.clone();
        blocking(move || {
            let mirror = git.fetch(&row.repo)?;
            let merge = plan.target.head();
            let branch_ref = format!("refs/heads/{}", plan.branch);
            let tip = mirror.refname_to_id(&branch_ref)?;
            if let Some((_, by)) = find_reverts_of(&mirror, &plan.branch, merge, &[merge])? {
                return Ok(GitStep::Found(by));
            }
            if action == RollbackAction::PullRequest {
                let pr_ref = format!("refs/heads/{}", pr_branch(&row.merge_sha));
                if let Ok(id) = mirror.refname_to_id(&pr_ref) {
                    if reverts(&mirror, id, merge)? {
                        return Ok(GitStep::Found(id));
                    }
                }
            }
            let private = private_ref(&row.merge_sha);
            // A commit made by an earlier attempt still fits when the branch has not moved.
            if let Some(sha) = &row.revert_sha {
                if let Ok(oid) = Oid::from_str(sha) {
                    if let Ok(c) = mirror.find_commit(oid) {
                        if c.parent_id(0).ok() == Some(tip) {
                            mirror.reference(&private, oid, true, "patchgate rollback: reuse")?;
                            return Ok(GitStep::Ready(oid));
                        }
                    }
                }
            }
            let msg = RevertMessage {
                title: plan.title.clone(),
                reason: plan.reason.revert_reason(),
                record_hash: row.record_hash.clone(),
            };
            let opts = RevertOptions {
                allow_revert_of_revert: row.trigger != "policy",
            };
            let p = match plan_revert_with(&mirror, &plan.branch, plan.target, &msg, &opts) {
                Ok(p) => p,
                Err(RollbackError::Git(e)) => return Err(e.into()),
                // git missing, too old or failing is the server's problem, not the merge's:
                // an error (retried later), never a rollback recorded as failed.
                Err(
                    e @ (RollbackError::GitMissing(_)
                    | RollbackError::GitTooOld { .. }
                    | RollbackError::GitFailed { .. }),
                ) => return Err(e.into()),
                Err(e) => return Ok(GitStep::Refused(e)),
            };
            let sig = git2::Signature::now("patchgate", "patchgate@localhost")?;
            let tree = mirror.find_tree(p.tree)?;
            let parent = mirror.find_commit(p.parent)?;
            let oid = match &key {
                Some(k) => crate::meta::anchor::signed_commit(
                    &mirror,
                    &sig,
                    &tree,
                    &[&parent],
                    &p.message,
                    k,
                )?,
                None => mirror.commit(None, &sig, &sig, &p.message, &tree, &[&parent])?,
            };
            mirror.reference(&private, oid, true, "patchgate rollback: revert")?;
            Ok(GitStep::Ready(oid))
        })
        .await
    }
}

/// Does commit `id`'s message say it reverts `merge`?
fn reverts(repo: &Repository, id: Oid, merge: Oid) -> anyhow::Result<bool> {
    let c = repo.find_commit(id)?;
    let text = String::from_utf8_lossy(c.message_bytes());
    let hex = merge.to_string();
    Ok(text.lines().any(|l| {
        l.trim()
            .strip_prefix("Patchgate-Reverts:")
            .is_some_and(|s| s.trim() == hex)
    }))
}
