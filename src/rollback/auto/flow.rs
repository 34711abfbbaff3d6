//! The recorded flow of one rollback: the row recorded (or found), then driven from `planned`
//! through `committed` to `pushed` — a push that lost a race refetched and retried — and on to
//! its report.

use anyhow::Context;
use git2::Oid;

use super::reason::Plan;
use super::{
    ms, pr_branch, private_ref, short, Orchestrator, PushError, RollbackOutcome, Step, PUSH_RETRIES,
};
use crate::policy::RollbackAction;
use crate::rollback::RollbackError;
use crate::store::rollbacks::{Begun, NewRollback, RollbackRow, RollbackState};

/// What one look at the mirror found.
pub(super) enum GitStep {
    /// The revert is already on the remote branch (ours, from an earlier attempt).
    Found(Oid),
    /// A revert commit ready to push, under the private ref.
    Ready(Oid),
    /// The revert cannot be made (a conflict, or a refusal): nothing was written.
    Refused(RollbackError),
}

impl Orchestrator {
    /// Record the rollback (or find it) and drive it to its end.
    pub(super) async fn execute(
        &self,
        repo: &str,
        plan: &Plan,
        pr: Option<u64>,
        record_hash: Option<String>,
        trigger: &str,
    ) -> anyhow::Result<RollbackOutcome> {
        let new = NewRollback {
            repo: repo.to_string(),
            merge_sha: plan.target.head().to_string(),
            trigger: trigger.to_string(),
            action: self.settings.action.as_str().to_string(),
            reason: serde_json::to_string(&plan.reason)?,
            pr,
            record_hash,
        };
        let row = match self.store.rollback_begin(&new, ms(self.now())).await? {
            Begun::New(row) => {
                self.hit(Step::AfterPlanned);
                row
            }
            Begun::Existing(row) if row.state.is_final() => {
                return Ok(RollbackOutcome {
                    row,
                    already_done: true,
                })
            }
            Begun::Existing(row) => row,
        };
        self.drive(row, plan).await
    }

    /// Take a recorded rollback from wherever it is to `reported` or `failed`.
    pub(super) async fn drive(
        &self,
        mut row: RollbackRow,
        plan: &Plan,
    ) -> anyhow::Result<RollbackOutcome> {
        // An unknown stored action is an error (the row stays where it is), never a push.
        let action = RollbackAction::parse(&row.action).map_err(|e| {
            anyhow::anyhow!(
                "rollback {} of {}: stored action: {e}",
                row.id,
                row.merge_sha
            )
        })?;
        if matches!(row.state, RollbackState::Planned | RollbackState::Committed) {
            let mut attempt = 0u32;
            loop {
                let step = self.git_step(&row, plan, action).await?;
                match step {
                    GitStep::Found(oid) => {
                        self.store
                            .rollback_advance(
                                row.id,
                                RollbackState::Pushed,
                                Some(&oid.to_string()),
                                ms(self.now()),
                            )
                            .await?;
                        break;
                    }
                    GitStep::Refused(e) => return self.fail(row, plan, &e.to_string()).await,
                    GitStep::Ready(oid) => {
                        let sha = oid.to_string();
                        self.store
                            .rollback_advance(
                                row.id,
                                RollbackState::Committed,
                                Some(&sha),
                                ms(self.now()),
                            )
                            .await?;
                        row.revert_sha = Some(sha.clone());
                        self.hit(Step::AfterCommit);
                        if action == RollbackAction::Comment {
                            break;
                        }
                        let remote_ref = match action {
                            RollbackAction::PullRequest => {
                                format!("refs/heads/{}", pr_branch(&row.merge_sha))
                            }
                            _ => format!("refs/heads/{}", plan.branch),
                        };
                        let git = self.git.clone();
                        let (repo, local) = (row.repo.clone(), private_ref(&row.merge_sha));
                        let pushed = tokio::task::spawn_blocking(move || {
                            git.push(&repo, &local, &remote_ref)
                        })
                        .await
                        .context("git task panicked")?;
                        match pushed {
                            Ok(()) => {
                                self.store
                                    .rollback_advance(
                                        row.id,
                                        RollbackState::Pushed,
                                        None,
                                        ms(self.now()),
                                    )
                                    .await?;
                                self.hit(Step::AfterPush);
                                break;
                            }
                            Err(PushError::Rejected { message, .. }) if attempt < PUSH_RETRIES => {
                                tracing::info!(repo = %row.repo, merge = %row.merge_sha, %message,
                                    "revert push lost a race; refetching");
                                attempt += 1;
                            }
                            Err(e) => {
                                let text = e.to_string();
                                self.store
                                    .rollback_note_error(row.id, &text, ms(self.now()))
                                    .await?;
                                anyhow::bail!(
                                    "pushing the revert of {}: {text}",
                                    short(&row.merge_sha)
                                );
                            }
                        }
                    }
                }
            }
            row = self.reload(row.id).await?;
        }
        self.report(row, plan, action).await
    }

    pub(super) async fn reload(&self, id: i64) -> anyhow::Result<RollbackRow> {
        self.store
            .rollback_by_id(id)
            .await?
            .with_context(|| format!("rollback {id} vanished"))
    }
}
