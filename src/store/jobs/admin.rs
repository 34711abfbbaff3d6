//! Reading and upkeep of the queue outside the workers: parked jobs for `patchgate jobs`
//! (list, requeue, discard), pruning done jobs, counts for metrics, and which deliveries
//! are known (redelivery).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{from_ms, ms, JobSummary, MAX_ERROR_CHARS, STATES};
use crate::store::{map_err, Store, StoreError};

/// The columns of a [`JobSummary`], in the order of [`SummaryRow`].
pub(in crate::store) const SUMMARY_COLUMNS: &str =
    "id, delivery_id, event, repo, state, attempts, lost, last_error, updated_at";

/// One row of [`SUMMARY_COLUMNS`].
pub(in crate::store) type SummaryRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    i64,
);

/// A [`JobSummary`] from its row.
pub(in crate::store) fn summary(r: SummaryRow) -> JobSummary {
    let (id, delivery_id, event, repo, state, attempts, lost, last_error, updated_at) = r;
    JobSummary {
        id,
        delivery_id,
        event,
        repo,
        state,
        attempts,
        lost,
        last_error,
        updated_at: from_ms(updated_at),
    }
}

/// Deletes up to `$2` done jobs last changed before `$1` (oldest first). Rows another
/// transaction holds are skipped, so replicas pruning at once do not wait on each other.
const PRUNE_DONE: &str = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
     WHERE state = 'done' AND updated_at < $1 \
     ORDER BY updated_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)";

impl Store {
    /// Parked jobs, oldest first (for `patchgate jobs`).
    pub async fn parked(&self) -> Result<Vec<JobSummary>, StoreError> {
        const SQL: &str = "SELECT id, delivery_id, event, repo, state, attempts, lost, \
             last_error, updated_at FROM jobs WHERE state = 'parked' ORDER BY id";
        let rows: Vec<SummaryRow> =
            on_pool!(self, SQL, |p, sql| sqlx::query_as(sql).fetch_all(p).await)
                .map_err(|e| map_err("parked", e))?;
        Ok(rows.into_iter().map(summary).collect())
    }

    /// Put parked job `id` back in the queue at `now`, ready at once, with its attempts (and
    /// lost workers) reset and its last error cleared. `false` (and nothing changed) when it
    /// was not parked.
    pub async fn requeue(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET state = 'queued', run_after = 0, attempts = 0, \
             lost = 0, last_error = NULL, updated_at = $2 WHERE id = $1 AND state = 'parked'";
        let n = on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(id)
            .bind(ms(now))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("requeue", e))?;
        Ok(n == 1)
    }

    /// Give up on parked job `id` at `now`: it becomes done without being run (its last error
    /// is kept, marked as discarded), so a redelivery stays a duplicate until retention prunes
    /// it like any done job. `false` (and nothing changed) when it was not parked.
    pub async fn discard(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET state = 'done', lease_until = NULL, worker = NULL, \
             last_error = substr('discarded while parked' || \
                COALESCE('; last error: ' || last_error, ''), 1, $3), \
             updated_at = $2 WHERE id = $1 AND state = 'parked'";
        let max_error = i32::try_from(MAX_ERROR_CHARS).unwrap_or(i32::MAX);
        let n = on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(id)
            .bind(ms(now))
            .bind(max_error)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("discard", e))?;
        Ok(n == 1)
    }

    /// Delete up to `batch` done jobs that were done before `cutoff`, oldest first; returns how
    /// many went. One short statement, so it never holds the write lock long (call it again
    /// while it returns `batch`). Queued, running and parked jobs are never deleted. A pruned
    /// delivery is no longer a duplicate: keep done jobs longer than GitHub redelivers (3 days).
    pub async fn prune_done(&self, cutoff: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        if batch == 0 {
            return Err(StoreError::Invalid(
                "prune_done: a batch of 0 rows deletes nothing".to_string(),
            ));
        }
        on_pool!(self, PRUNE_DONE, |p, sql| sqlx::query(sql)
            .bind(ms(cutoff))
            .bind(i64::from(batch))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("prune_done", e))
    }

    /// Jobs per state (every state in [`STATES`] present, zero included), for metrics.
    pub async fn counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        const SQL: &str = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
        let rows: Vec<(String, i64)> =
            on_pool!(self, SQL, |p, sql| sqlx::query_as(sql).fetch_all(p).await)
                .map_err(|e| map_err("counts", e))?;
        let mut out: BTreeMap<String, i64> = STATES.iter().map(|s| (s.to_string(), 0)).collect();
        out.extend(rows);
        Ok(out)
    }
}

/// Delivery ids per `IN (…)` lookup in [`Store::known_deliveries`].
const KNOWN_PER_STATEMENT: usize = 500;

impl Store {
    /// Which of `ids` are the delivery ids of jobs in the store, whatever their state (for
    /// automatic redelivery: a delivery GitHub reports as failed may have been queued after
    /// all, when only its answer was lost).
    pub async fn known_deliveries(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut known = std::collections::HashSet::new();
        for chunk in ids.chunks(KNOWN_PER_STATEMENT) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let text = format!(
                "SELECT delivery_id FROM jobs WHERE delivery_id IN ({})",
                marks.join(", ")
            );
            let rows: Vec<String> = on_pool!(self, &text, |p, sql| {
                let mut q = sqlx::query_scalar::<_, String>(sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await
            })
            .map_err(|e| map_err("known_deliveries", e))?;
            known.extend(rows);
        }
        Ok(known)
    }

    /// The delivery id of the newest (highest id) job of `event` that completed, if any — a
    /// parked job given up with `patchgate jobs discard` is done too but did not complete (its
    /// `last_error` says so), and is not it. Cheap when such jobs are frequent: the primary key
    /// is walked backwards to the first match.
    pub async fn last_done(&self, event: &str) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT delivery_id FROM jobs WHERE event = $1 AND state = 'done' \
             AND last_error IS NULL ORDER BY id DESC LIMIT 1";
        on_pool!(self, SQL, |p, sql| sqlx::query_scalar::<_, String>(sql)
            .bind(event)
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("last_done", e))
    }
}
