//! The end of a rollback: the revert pull request, the ledger entry, the comment and the metric,
//! each done once, then `reported` — or `failed`, said on the pull request.

use super::reason::Plan;
use super::{ms, pr_branch, report, short, Orchestrator, RevertPr, RollbackOutcome, Step};
use crate::policy::RollbackAction;
use crate::store::rollbacks::{RollbackRow, RollbackState};

impl Orchestrator {
    /// Ledger entry, comment, metric, `reported` — each step done once.
    pub(super) async fn report(
        &self,
        row: RollbackRow,
        plan: &Plan,
        action: RollbackAction,
    ) -> anyhow::Result<RollbackOutcome> {
        let mut row = row;
        let reason = plan.reason.text.clone();
        if action == RollbackAction::PullRequest && row.revert_pr.is_none() {
            let title = format!(
                "Revert \"{}\"",
                plan.title
                    .clone()
                    .unwrap_or_else(|| short(&row.merge_sha).to_string())
            );
            let req = RevertPr {
                title,
                head: pr_branch(&row.merge_sha),
                base: plan.branch.clone(),
                body: format!("{reason}\n\n{}", report::marker(&row.merge_sha)),
                labels: self.settings.labels.clone(),
            };
            let n = self.forge.open_revert_pr(&row.repo, &req).await?;
            self.store
                .rollback_set_revert_pr(row.id, n, ms(self.now()))
                .await?;
            row.revert_pr = Some(n);
        }
        if row.ledger_hash.is_none() {
            let h =
                report::append_entry(&self.store, &row, &plan.branch, &reason, self.now()).await?;
            self.store
                .rollback_set_ledger(row.id, &h, ms(self.now()))
                .await?;
            row.ledger_hash = Some(h);
            self.hit(Step::AfterLedger);
        }
        if row.comment_id.is_none() {
            if let Some(pr) = row.pr {
                let body = report::done_comment(&row, &plan.branch, &reason);
                let id = self.forge.comment(&row.repo, pr, &body).await?;
                self.store
                    .rollback_set_comment(row.id, id, ms(self.now()))
                    .await?;
                self.hit(Step::AfterComment);
            }
        }
        if self
            .store
            .rollback_advance(row.id, RollbackState::Reported, None, ms(self.now()))
            .await?
        {
            if let Some(m) = &self.metrics {
                m.rollback(&row.trigger);
            }
        }
        Ok(RollbackOutcome {
            row: self.reload(row.id).await?,
            already_done: false,
        })
    }

    /// Record `failed` (nothing was pushed) and say why on the pull request.
    pub(super) async fn fail(
        &self,
        row: RollbackRow,
        plan: &Plan,
        error: &str,
    ) -> anyhow::Result<RollbackOutcome> {
        self.store
            .rollback_fail(row.id, error, ms(self.now()))
            .await?;
        if let (Some(pr), None) = (row.pr, row.comment_id) {
            let body = report::failed_comment(&row, &plan.reason.text, error);
            match self.forge.comment(&row.repo, pr, &body).await {
                Ok(id) => {
                    self.store
                        .rollback_set_comment(row.id, id, ms(self.now()))
                        .await?
                }
                Err(e) => {
                    tracing::warn!(repo = %row.repo, error = %e, "could not comment a failed rollback")
                }
            }
        }
        Ok(RollbackOutcome {
            row: self.reload(row.id).await?,
            already_done: false,
        })
    }
}
