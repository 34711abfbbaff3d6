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
