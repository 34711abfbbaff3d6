//! The worker side of the queue: [`Store::claim`] under a lease (parking jobs whose worker was
//! lost on their last attempt), [`Store::heartbeat`], and the owner-checked ends
//! [`Store::complete`], [`Store::fail`] and [`Store::release`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::payload::decode_payload;
use super::{
    dur_ms, from_ms, ms, truncate, Claim, FailOutcome, Job, LostJob, RetryPolicy, MAX_ERROR_CHARS,
};
use crate::store::{map_err, Store, StoreError};

type JobRow = (
    i64,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    i64,
    Option<String>,
);
type LostRow = (i64, String, String, String, i64, i64);

/// Takes the oldest ready job. A running job whose lease ran out is taken again only while it
/// has attempts left (`$4` = `max_attempts`); taking it counts its lost worker.
const CLAIM: &str = "UPDATE jobs SET state = 'running', lease_until = $1, worker = $2, \
     attempts = attempts + 1, updated_at = $3, \
     lost = lost + CASE WHEN state = 'running' THEN 1 ELSE 0 END \
     WHERE id = (SELECT id FROM jobs \
        WHERE (state = 'queued' AND run_after <= $3) \
           OR (state = 'running' AND lease_until <= $3 AND attempts < $4) \
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, delivery_id, event, repo, payload, attempts, lease_until, traceparent";

/// Most lost jobs one claim parks (the rest are parked by the next claims).
const PARK_LOST_MAX: i64 = 100;

/// Parks running jobs whose lease ran out by `$1` on their last attempt (`attempts >= $2`):
/// the worker was lost each time it got that far, so taking the job again would only repeat it.
/// The previous failure's text, if any, is kept after the explanation.
const PARK_LOST: &str = "UPDATE jobs SET state = 'parked', run_after = $1, lease_until = NULL, \
     worker = NULL, updated_at = $1, lost = lost + 1, \
     last_error = substr('worker lost on ' || (lost + 1) || ' of ' || attempts || \
        ' attempts (its lease ran out before the job ended: killed, out of memory, or \
stalled); parked after the last one' || COALESCE('; earlier error: ' || last_error, ''), 1, $3) \
     WHERE id IN (SELECT id FROM jobs \
        WHERE state = 'running' AND lease_until <= $1 AND attempts >= $2 \
        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING id, delivery_id, event, repo, attempts, lost";

impl Store {
    /// Take the oldest ready job — queued with `run_after <= now`, or running with a lease
    /// that ran out by `now` and attempts left — for `worker` until `now + lease`; counts an
    /// attempt. First, in the same transaction, every running job whose lease ran out on its
    /// last attempt (`attempts >= max_attempts`) is parked ([`Claim::parked`]): a job that
    /// kills its worker each time ends like one that fails each time. `job` is `None` when
    /// nothing is ready. Atomic across processes: no two claims get the same job while its
    /// lease holds.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let until = ms(now).saturating_add(dur_ms(lease));
        let max = i64::from(max_attempts.max(1));
        let max_error = i32::try_from(MAX_ERROR_CHARS).unwrap_or(i32::MAX);
        let (lost, row): (Vec<LostRow>, Option<JobRow>) = in_tx!(self, "claim", |tx, sql| {
            let lost: Vec<LostRow> = sqlx::query_as(&sql(PARK_LOST))
                .bind(ms(now))
                .bind(max)
                .bind(max_error)
                .bind(PARK_LOST_MAX)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| map_err("claim: park lost jobs", e))?;
            let row: Option<JobRow> = sqlx::query_as(&sql(CLAIM))
                .bind(until)
                .bind(worker)
                .bind(ms(now))
                .bind(max)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| map_err("claim", e))?;
            (lost, row)
        });
        let mut parked: Vec<LostJob> = lost
            .into_iter()
            .map(|(id, delivery_id, event, repo, attempts, lost)| LostJob {
                id,
                delivery_id,
                event,
                repo,
                attempts,
                lost,
            })
            .collect();
        parked.sort_by_key(|j| j.id);
        let job = match row {
            None => None,
            Some((id, delivery_id, event, repo, payload, attempts, lease_until, traceparent)) => {
                Some(Job {
                    id,
                    delivery_id,
                    event,
                    repo,
                    payload: decode_payload(payload)?,
                    attempts,
                    lease_until: from_ms(lease_until),
                    traceparent,
                })
            }
        };
        Ok(Claim { job, parked })
    }

    /// Extend `worker`'s lease on job `id` to `now + lease`. `false` (and nothing changed)
    /// when the worker no longer owns the job.
    pub async fn heartbeat(
        &self,
        id: i64,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET lease_until = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND worker = $4";
        let until = ms(now).saturating_add(dur_ms(lease));
        let n = on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(until)
            .bind(ms(now))
            .bind(id)
            .bind(worker)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("heartbeat", e))?;
        Ok(n == 1)
    }

    /// Mark job `id` done at `now` (retention counts from then). `true` when `worker` owned
    /// it; `false` (and nothing changed) when not — e.g. its lease ran out and another worker
    /// took the job.
    pub async fn complete(
        &self,
        id: i64,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET state = 'done', lease_until = NULL, worker = NULL, \
             last_error = NULL, updated_at = $3 WHERE id = $1 AND state = 'running' AND worker = $2";
        let n = on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(id)
            .bind(worker)
            .bind(ms(now))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("complete", e))?;
        Ok(n == 1)
    }

    /// Record a failed attempt of job `id` by `worker`: back to queued, claimable from
    /// `now + policy.backoff(attempts)`, or parked once `attempts >= policy.max_attempts`.
    /// `error` must already be redacted; it is truncated to [`MAX_ERROR_CHARS`].
    pub async fn fail(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        policy: &RetryPolicy,
        now: DateTime<Utc>,
    ) -> Result<FailOutcome, StoreError> {
        const OWNED: &str = "SELECT attempts FROM jobs \
             WHERE id = $1 AND state = 'running' AND worker = $2 FOR UPDATE";
        const UPDATE: &str = "UPDATE jobs SET state = $1, run_after = $2, lease_until = NULL, \
             worker = NULL, last_error = $3, updated_at = $4 WHERE id = $5";
        let error = truncate(error);
        let outcome = in_tx!(self, "fail", |tx, sql| {
            let attempts: Option<i64> = sqlx::query_scalar(&sql(OWNED))
                .bind(id)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| map_err("fail: owner", e))?;
            match attempts {
                None => FailOutcome::NotOwner,
                Some(attempts) => {
                    let park = attempts >= i64::from(policy.max_attempts.max(1));
                    let (state, run_after, outcome) = if park {
                        ("parked", ms(now), FailOutcome::Parked { attempts })
                    } else {
                        let at = ms(now).saturating_add(dur_ms(policy.backoff(attempts)));
                        (
                            "queued",
                            at,
                            FailOutcome::Retry {
                                attempts,
                                run_after: from_ms(at),
                            },
                        )
                    };
                    sqlx::query(&sql(UPDATE))
                        .bind(state)
                        .bind(run_after)
                        .bind(error)
                        .bind(ms(now))
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err("fail: update", e))?;
                    outcome
                }
            }
        });
        Ok(outcome)
    }

    /// Give job `id` back (graceful shutdown): queued and ready at once, this attempt not
    /// counted. `false` (and nothing changed) when `worker` did not own it.
    pub async fn release(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET state = 'queued', run_after = 0, lease_until = NULL, \
             worker = NULL, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
             WHERE id = $1 AND state = 'running' AND worker = $2";
        let n = on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(id)
            .bind(worker)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("release", e))?;
        Ok(n == 1)
    }
}
