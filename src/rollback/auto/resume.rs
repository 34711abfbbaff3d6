//! Resuming what a crash (or a failed step) left unfinished: each open rollback rebuilt from
//! its row and driven on from where it stands.

use super::reason::{Plan, StoredReason};
use super::{blocking, target_of, Orchestrator, RollbackOutcome};
use crate::store::rollbacks::RollbackRow;

impl Orchestrator {
    /// Finish every rollback a crash (or a failed step) left unfinished. Never makes a second
    /// revert: each step first looks at where the previous attempt got.
    pub async fn resume_pending(&self) -> anyhow::Result<Vec<RollbackOutcome>> {
        self.resume_where(|_| true).await
    }

    /// [`resume_pending`](Self::resume_pending) for one repository only (the server builds an
    /// orchestrator per repository: its git access and forge are that repository's).
    pub async fn resume_pending_of(&self, repo: &str) -> anyhow::Result<Vec<RollbackOutcome>> {
        self.resume_where(|r| r.repo == repo).await
    }

    async fn resume_where(
        &self,
        keep: impl Fn(&RollbackRow) -> bool,
    ) -> anyhow::Result<Vec<RollbackOutcome>> {
        let rows: Vec<RollbackRow> = self
            .store
            .rollbacks_open()
            .await?
            .into_iter()
            .filter(|r| keep(r))
            .collect();
        let mut out = Vec::new();
        let mut first_err = None;
        for row in rows {
            match self.resume_row(row).await {
                Ok(o) => out.push(o),
                Err(e) => {
                    tracing::warn!(error = %e, "resuming a rollback failed; will retry");
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    async fn resume_row(&self, row: RollbackRow) -> anyhow::Result<RollbackOutcome> {
        let _guard = self.lock(&row.repo).await;
        let Some(row) = self.store.rollback_by_id(row.id).await? else {
            anyhow::bail!("rollback {} vanished", row.id);
        };
        if row.state.is_final() {
            return Ok(RollbackOutcome {
                row,
                already_done: true,
            });
        }
        let branch = self.default_branch(&row.repo).await?;
        let (target, message) = blocking({
            let git = self.git.clone();
            let (repo, merge) = (row.repo.clone(), row.merge_sha.clone());
            move || {
                let mirror = git.fetch(&repo)?;
                let t = target_of(&mirror, &merge)?;
                let c = mirror.find_commit(t.head())?;
                Ok((t, String::from_utf8_lossy(c.message_bytes()).into_owned()))
            }
        })
        .await?;
        let title = match row.pr {
            Some(_) => self
                .forge
                .pr_for_merge(&row.repo, &row.merge_sha, &message)
                .await
                .ok()
                .flatten()
                .map(|p| p.title),
            None => None,
        };
        let plan = Plan {
            branch,
            target,
            title,
            reason: StoredReason::parse(&row.reason),
        };
        self.drive(row, &plan).await
    }
}
