//! A rollback a person asked for (`/patchgate rollback`, the check run's button, the command
//! line): no policy, but never twice.

use super::attribution::merge_git;
use super::reason::{Plan, StoredReason};
use super::{blocking, target_of, Orchestrator, RollbackOutcome};
use crate::rollback::{find_pr_merge, RevertTarget, RollbackError};

impl Orchestrator {
    /// Roll back pull request `pr` of `repo` because a person asked (`trigger`: `comment`,
    /// `check_action` or `cli`): no policy, but never twice, and a revert of a revert is
    /// allowed (a person asked).
    pub async fn manual_rollback(
        &self,
        repo: &str,
        pr: u64,
        reason: &str,
        actor: &str,
        trigger: &str,
    ) -> anyhow::Result<RollbackOutcome> {
        let _guard = self.lock(repo).await;
        let branch = self.default_branch(repo).await?;
        let info = self.forge.pull(repo, pr).await?;
        let known_merge = info.as_ref().and_then(|p| p.merge_sha.clone());
        let (target, mg) = blocking({
            let git = self.git.clone();
            let (repo, branch) = (repo.to_string(), branch.clone());
            move || {
                let mirror = git.fetch(&repo)?;
                let target = match known_merge {
                    Some(m) => target_of(&mirror, &m)?,
                    None => find_pr_merge(&mirror, &branch, pr)?,
                };
                let mg = merge_git(&mirror, &branch, target.head())?;
                Ok((target, mg))
            }
        })
        .await?;
        let merge = target.head().to_string();
        if let Some(row) = self.store.rollback_get(repo, &merge).await? {
            if row.state.is_final() {
                return Ok(RollbackOutcome {
                    row,
                    already_done: true,
                });
            }
        } else if let Some(by) = mg.reverted_by {
            return Err(RollbackError::AlreadyReverted {
                target: mg.merge,
                by,
                merge: matches!(target, RevertTarget::Merge(_)),
            }
            .into());
        }
        let pr_info = match info {
            Some(p) => Some(p),
            None => self.forge.pr_for_merge(repo, &merge, &mg.message).await?,
        };
        let record_hash = self.record_of(repo, &mg, pr_info.as_ref()).await?;
        let plan = Plan {
            branch,
            target,
            title: pr_info.as_ref().map(|p| p.title.clone()),
            reason: StoredReason {
                manual: Some(reason.trim().to_string()).filter(|r| !r.is_empty()),
                actor: Some(actor.to_string()),
                text: if reason.trim().is_empty() {
                    format!("manual rollback asked by {actor}")
                } else {
                    format!("manual rollback asked by {actor}: {}", reason.trim())
                },
                ..StoredReason::default()
            },
        };
        self.execute(repo, &plan, Some(pr), record_hash, trigger)
            .await
    }
}
