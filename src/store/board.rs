//! What the web view lists besides decisions: the open and parked jobs, one job, and the
//! policy events that led to a rollback (the violations attributed to its merge).

use super::jobs::admin::{summary, SummaryRow, SUMMARY_COLUMNS};
use super::jobs::JobSummary;
use super::{map_err, Store, StoreError};

impl Store {
    /// Jobs queued, running or parked, newest first, at most `limit`.
    pub async fn open_jobs(&self, limit: i64) -> Result<Vec<JobSummary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM jobs WHERE state IN ('queued', 'running', 'parked') \
             ORDER BY id DESC LIMIT $1"
        );
        let rows: Vec<SummaryRow> = on_pool!(self, &sql, |p, sql| sqlx::query_as(sql)
            .bind(limit)
            .fetch_all(p)
            .await)
        .map_err(|e| map_err("open jobs", e))?;
        Ok(rows.into_iter().map(summary).collect())
    }

    /// One job (no payload).
    pub async fn job_summary(&self, id: i64) -> Result<Option<JobSummary>, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<SummaryRow> = on_pool!(self, &sql, |p, sql| sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("job", e))?;
        Ok(row.map(summary))
    }

    /// The judged policy events attributed to merge `merge_sha` of `repo` whose verdict was a
    /// violation of a policy: `(metric, value, commit, verdict)`, in the order they were measured.
    pub async fn violations_of_merge(
        &self,
        repo: &str,
        merge_sha: &str,
    ) -> Result<Vec<(String, f64, String, String)>, StoreError> {
        const SQL: &str = "SELECT metric, value, commit_sha, COALESCE(verdict, '') \
             FROM policy_events WHERE repo = $1 AND merge_sha = $2 \
             AND verdict IN ('violation', 'report_only', 'would_revert', 'revert') \
             ORDER BY at_ms, id";
        on_pool!(self, SQL, |p, sql| sqlx::query_as(sql)
            .bind(repo)
            .bind(merge_sha)
            .fetch_all(p)
            .await)
        .map_err(|e| map_err("violations of merge", e))
    }
}

impl Store {
    /// The repositories with at least one rollback, sorted.
    pub async fn rollback_repos(&self) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT DISTINCT repo FROM rollbacks ORDER BY repo";
        let rows: Vec<(String,)> =
            on_pool!(self, SQL, |p, sql| sqlx::query_as(sql).fetch_all(p).await)
                .map_err(|e| map_err("rollback repos", e))?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }
}
