//! Policy events and the webhook ids of `POST /webhook/meta`, durably.
//!
//! What it is for: [`Store::claim_webhook_id`] remembers every Standard Webhooks id accepted,
//! so a captured request replayed inside the five-minute timestamp window is refused even
//! across restarts and replicas (ids are pruned once older than [`WEBHOOK_ID_RETENTION`]: a
//! replay that old fails the timestamp check anyway). [`Store::insert_policy_event`] keeps each
//! verified event; the orchestrator records what it decided with
//! [`Store::set_event_decision`], and reads back what it needs to judge the next one: the
//! events of a merge ([`Store::events_for`]), a commit's latest value of a metric as the
//! parent's baseline ([`Store::metric_value_at`]) and the violations counted so far
//! ([`Store::violation_count`]).
//!
//! A `/webhook/meta` request is stored in ONE transaction ([`Store::store_event_batch`]): its
//! id is claimed, every valid event is inserted with its line number, and a job
//! ([`BATCH_JOB_EVENT`], delivery id `meta:<webhook-id>`) is created already running under the
//! caller's lease. So a batch is stored all or nothing, and whatever of it is not judged yet —
//! the request was dropped, the process died, the sink failed — is judged later by the job
//! queue's workers ([`Store::pending_events`]: the batch's events without a decision, in line
//! order); [`Store::batch_status`] says how far a batch got (the answer to a replay).
//!
//! Times are injected (`now`, `received_at`) and stored as integer milliseconds since the Unix
//! epoch. What it must never do: store an event that was not verified (the caller verifies;
//! this module only stores), forget a claimed id before the timestamp window has closed, or
//! decide anything — no policy lives here.

use chrono::{DateTime, TimeZone, Utc};

use super::{map_err, Store, StoreError};
use crate::policy::PolicyEvent;

/// How long a claimed webhook id is remembered at least. The timestamp check refuses any
/// request more than 5 minutes off the receiver's clock, so an id seen at `t` can only be
/// replayed successfully before `t + 10 min`; the extra 5 minutes absorb clock skew between
/// replicas.
pub const WEBHOOK_ID_RETENTION: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Decision tags that count as a violation (see `policy::eval`: every decision carrying a
/// violation adds one to the count of its merge and metric).
pub const VIOLATION_VERDICTS: [&str; 4] = ["violation", "report_only", "would_revert", "revert"];

/// A stored policy event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Row id.
    pub id: i64,
    pub event: PolicyEvent,
    pub received_at: DateTime<Utc>,
    /// The merge it was attributed to, once judged.
    pub merge_sha: Option<String>,
    /// The policy decision (JSON), once judged.
    pub decision: Option<serde_json::Value>,
    /// The `webhook-id` (or `X-GitHub-Delivery`) it arrived with.
    pub webhook_id: Option<String>,
}

/// `jobs.event` of the job that judges what is left of a `/webhook/meta` batch.
pub const BATCH_JOB_EVENT: &str = "policy_events";

/// The job delivery id of batch `webhook_id` (contains `:`, so never a GitHub delivery id).
pub fn batch_job_id(webhook_id: &str) -> String {
    format!("meta:{webhook_id}")
}

/// What [`Store::store_event_batch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchStored {
    /// The webhook id was claimed before: nothing was written.
    Replay,
    /// The id is claimed and every event stored: their rows in line order, and the job that
    /// judges them (`None` when the batch had no valid event).
    Stored { rows: Vec<i64>, job: Option<i64> },
}

/// How far a batch got ([`Store::batch_status`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchStatus {
    /// Events stored under the webhook id.
    pub stored: i64,
    /// Of them, judged (a decision recorded).
    pub judged: i64,
    /// The batch's job and its state, if it has one.
    pub job: Option<(i64, String)>,
}

/// A stored event not judged yet ([`Store::pending_events`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    pub row: i64,
    /// Its line in the request (0 when unknown).
    pub line: usize,
    pub event: PolicyEvent,
}

type EventRow = (
    i64,
    String,
    String,
    String,
    f64,
    Option<String>,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

const EVENT_COLUMNS: &str = "id, repo, commit_sha, metric, value, check_name, at_ms, \
     received_at_ms, merge_sha, decision, webhook_id";

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn to_stored(row: EventRow) -> Result<StoredEvent, StoreError> {
    let (id, repo, commit, metric, value, check, at_ms, received_ms, merge_sha, decision, wid) =
        row;
    let decision = decision
        .map(|d| serde_json::from_str(&d))
        .transpose()
        .map_err(|e| {
            StoreError::Invalid(format!("policy event {id}: decision is not JSON: {e}"))
        })?;
    Ok(StoredEvent {
        id,
        event: PolicyEvent {
            repo,
            commit,
            metric,
            value,
            at: from_ms(at_ms),
            check,
        },
        received_at: from_ms(received_ms),
        merge_sha,
        decision,
        webhook_id: wid,
    })
}

impl Store {
    /// Remember webhook id `id`, seen at `now`. `true` the first time; `false` when it was
    /// claimed before (a replay: act on nothing). Ids older than [`WEBHOOK_ID_RETENTION`] are
    /// pruned on the way. Atomic across processes (primary key).
    pub async fn claim_webhook_id(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        if id.is_empty() {
            return Err(StoreError::Invalid("claim_webhook_id: empty id".into()));
        }
        const PRUNE: &str = "DELETE FROM webhook_ids WHERE seen_at_ms < $1";
        const CLAIM: &str = "INSERT INTO webhook_ids (id, seen_at_ms) VALUES ($1, $2) \
             ON CONFLICT (id) DO NOTHING";
        let now_ms = now.timestamp_millis();
        let horizon = now_ms.saturating_sub(WEBHOOK_ID_RETENTION.as_millis() as i64);
        on_pool!(self, PRUNE, |p, sql| sqlx::query(sql)
            .bind(horizon)
            .execute(p)
            .await
            .map(drop))
        .map_err(|e| map_err("claim webhook id: prune", e))?;
        let n = on_pool!(self, CLAIM, |p, sql| sqlx::query(sql)
            .bind(id)
            .bind(now_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("claim webhook id", e))?;
        Ok(n == 1)
    }

    /// Store a verified `/webhook/meta` request in ONE transaction: claim `webhook_id` (pruning
    /// ids past [`WEBHOOK_ID_RETENTION`]), insert each event with its line number, and create
    /// the batch's job ([`batch_job_id`]) already running for `worker` until `now + lease`
    /// (attempt 1), so that no other worker takes it while the caller judges — and any worker
    /// does once that lease runs out. All or nothing: on an error nothing was written and the
    /// id is not claimed. [`BatchStored::Replay`] (nothing written) when the id was claimed
    /// before.
    pub async fn store_event_batch(
        &self,
        webhook_id: &str,
        events: &[(usize, PolicyEvent)],
        worker: &str,
        lease: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<BatchStored, StoreError> {
        if webhook_id.is_empty() {
            return Err(StoreError::Invalid("store_event_batch: empty id".into()));
        }
        const PRUNE: &str = "DELETE FROM webhook_ids WHERE seen_at_ms < $1";
        const CLAIM: &str = "INSERT INTO webhook_ids (id, seen_at_ms) VALUES ($1, $2) \
             ON CONFLICT (id) DO NOTHING";
        const INSERT: &str = "INSERT INTO policy_events (repo, commit_sha, metric, value, \
             check_name, at_ms, received_at_ms, webhook_id, line) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        // A job of the same id exists only when an id older than the retention came back
        // (a new request): it is taken over for the new events.
        const JOB: &str = "INSERT INTO jobs (delivery_id, event, repo, payload, state, attempts, \
             lease_until, worker, updated_at) VALUES ($1, $2, $3, $4, 'running', 1, $5, $6, $7) \
             ON CONFLICT (delivery_id) DO UPDATE SET state = 'running', attempts = 1, lost = 0, \
             lease_until = $5, worker = $6, updated_at = $7, last_error = NULL, run_after = 0 \
             RETURNING id";
        let now_ms = now.timestamp_millis();
        let horizon = now_ms.saturating_sub(WEBHOOK_ID_RETENTION.as_millis() as i64);
        let until = now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let payload = serde_json::json!({ "webhook_id": webhook_id }).to_string();
        let out = in_tx!(self, "store event batch", |tx, sql| {
            sqlx::query(&sql(PRUNE))
                .bind(horizon)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err("store event batch: prune", e))?;
            let claimed = sqlx::query(&sql(CLAIM))
                .bind(webhook_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err("store event batch: claim", e))?
                .rows_affected();
            if claimed != 1 {
                BatchStored::Replay
            } else {
                let mut rows = Vec::with_capacity(events.len());
                for (line, event) in events {
                    let row: i64 = sqlx::query_scalar(&sql(INSERT))
                        .bind(&event.repo)
                        .bind(&event.commit)
                        .bind(&event.metric)
                        .bind(event.value)
                        .bind(&event.check)
                        .bind(event.at.timestamp_millis())
                        .bind(now_ms)
                        .bind(webhook_id)
                        .bind(i64::try_from(*line).unwrap_or(i64::MAX))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| map_err("store event batch: insert", e))?;
                    rows.push(row);
                }
                let job = match events.first() {
                    None => None,
                    Some((_, first)) => Some(
                        sqlx::query_scalar::<_, i64>(&sql(JOB))
                            .bind(batch_job_id(webhook_id))
                            .bind(BATCH_JOB_EVENT)
                            .bind(&first.repo)
                            .bind(payload.as_bytes())
                            .bind(until)
                            .bind(worker)
                            .bind(now_ms)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| map_err("store event batch: job", e))?,
                    ),
                };
                BatchStored::Stored { rows, job }
            }
        });
        Ok(out)
    }

    /// The events stored under `webhook_id` that have no decision yet, in line order.
    pub async fn pending_events(&self, webhook_id: &str) -> Result<Vec<PendingEvent>, StoreError> {
        let text = format!(
            "SELECT {EVENT_COLUMNS}, line FROM policy_events \
             WHERE webhook_id = $1 AND decision IS NULL ORDER BY id"
        );
        type Row = (
            i64,
            String,
            String,
            String,
            f64,
            Option<String>,
            i64,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<Row> = on_pool!(self, text.as_str(), |p, sql| sqlx::query_as(sql)
            .bind(webhook_id)
            .fetch_all(p)
            .await)
        .map_err(|e| map_err("pending events", e))?;
        rows.into_iter()
            .map(|r| {
                let line = r.11.and_then(|l| usize::try_from(l).ok()).unwrap_or(0);
                let stored = to_stored((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10))?;
                Ok(PendingEvent {
                    row: stored.id,
                    line,
                    event: stored.event,
                })
            })
            .collect()
    }

    /// How far the batch `webhook_id` got: events stored, judged, and its job.
    pub async fn batch_status(&self, webhook_id: &str) -> Result<BatchStatus, StoreError> {
        const COUNT: &str = "SELECT COUNT(*), COUNT(decision) FROM policy_events \
             WHERE webhook_id = $1";
        const JOB: &str = "SELECT id, state FROM jobs WHERE delivery_id = $1";
        let (stored, judged): (i64, i64) = on_pool!(self, COUNT, |p, sql| sqlx::query_as(sql)
            .bind(webhook_id)
            .fetch_one(p)
            .await)
        .map_err(|e| map_err("batch status", e))?;
        let job: Option<(i64, String)> = on_pool!(self, JOB, |p, sql| sqlx::query_as(sql)
            .bind(batch_job_id(webhook_id))
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("batch status: job", e))?;
        Ok(BatchStatus {
            stored,
            judged,
            job,
        })
    }

    /// Forget a claimed webhook id, so the sender's retry of a request that failed before
    /// anything of it was applied is accepted. Only for that case: never after an event of it
    /// was applied.
    pub async fn release_webhook_id(&self, id: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM webhook_ids WHERE id = $1";
        on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(id)
            .execute(p)
            .await
            .map(drop))
        .map_err(|e| map_err("release webhook id", e))
    }

    /// Store a verified event, received at `received_at` in the request `webhook_id`; returns
    /// its row id. Not yet judged: no merge, no decision.
    pub async fn insert_policy_event(
        &self,
        event: &PolicyEvent,
        webhook_id: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO policy_events (repo, commit_sha, metric, value, \
             check_name, at_ms, received_at_ms, webhook_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        on_pool!(self, SQL, |p, sql| sqlx::query_scalar(sql)
            .bind(&event.repo)
            .bind(&event.commit)
            .bind(&event.metric)
            .bind(event.value)
            .bind(&event.check)
            .bind(event.at.timestamp_millis())
            .bind(received_at.timestamp_millis())
            .bind(webhook_id)
            .fetch_one(p)
            .await)
        .map_err(|e| map_err("insert policy event", e))
    }

    /// Record what was decided about event `id`: the merge it was attributed to (if any) and
    /// the policy `Decision` as JSON (its `decision` tag is kept apart for counting).
    /// [`StoreError::Invalid`] when no such event exists.
    pub async fn set_event_decision(
        &self,
        id: i64,
        merge_sha: Option<&str>,
        decision: &serde_json::Value,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "UPDATE policy_events SET merge_sha = $1, decision = $2, verdict = $3 WHERE id = $4";
        let verdict = decision.get("decision").and_then(|v| v.as_str());
        let text = decision.to_string();
        let n = on_pool!(self, SQL, |p, sql| sqlx::query(sql)
            .bind(merge_sha)
            .bind(&text)
            .bind(verdict)
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| map_err("set event decision", e))?;
        if n != 1 {
            return Err(StoreError::Invalid(format!(
                "set event decision: no policy event {id}"
            )));
        }
        Ok(())
    }

    /// The events of `metric` attributed to merge `merge_sha` of `repo`, in the order they were
    /// measured (then stored).
    pub async fn events_for(
        &self,
        repo: &str,
        merge_sha: &str,
        metric: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let text = format!(
            "SELECT {EVENT_COLUMNS} FROM policy_events \
             WHERE repo = $1 AND merge_sha = $2 AND metric = $3 ORDER BY at_ms, id"
        );
        let rows: Vec<EventRow> = on_pool!(self, text.as_str(), |p, sql| sqlx::query_as(sql)
            .bind(repo)
            .bind(merge_sha)
            .bind(metric)
            .fetch_all(p)
            .await)
        .map_err(|e| map_err("events for merge", e))?;
        rows.into_iter().map(to_stored).collect()
    }

    /// The latest value of `metric` measured on `commit_sha` of `repo` (latest `at`, then the
    /// last stored) — the baseline of a relative rule when `commit_sha` is a merge's parent.
    /// The commit is compared exactly (lower-case; an event sent with an abbreviated sha does
    /// not match the full one). `None` without any.
    pub async fn metric_value_at(
        &self,
        repo: &str,
        commit_sha: &str,
        metric: &str,
    ) -> Result<Option<f64>, StoreError> {
        const SQL: &str = "SELECT value FROM policy_events \
             WHERE repo = $1 AND commit_sha = $2 AND metric = $3 \
             ORDER BY at_ms DESC, id DESC LIMIT 1";
        let commit = commit_sha.to_ascii_lowercase();
        on_pool!(self, SQL, |p, sql| sqlx::query_scalar(sql)
            .bind(repo)
            .bind(&commit)
            .bind(metric)
            .fetch_optional(p)
            .await)
        .map_err(|e| map_err("metric value at commit", e))
    }

    /// How many events of `metric` attributed to `merge_sha` of `repo` were decided as a
    /// violation ([`VIOLATION_VERDICTS`]).
    pub async fn violation_count(
        &self,
        repo: &str,
        merge_sha: &str,
        metric: &str,
    ) -> Result<u32, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM policy_events \
             WHERE repo = $1 AND merge_sha = $2 AND metric = $3 \
             AND verdict IN ('violation', 'report_only', 'would_revert', 'revert')";
        let n: i64 = on_pool!(self, SQL, |p, sql| sqlx::query_scalar(sql)
            .bind(repo)
            .bind(merge_sha)
            .bind(metric)
            .fetch_one(p)
            .await)
        .map_err(|e| map_err("violation count", e))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}
