//! The durable job queue: one row in `jobs` per GitHub delivery, taken by workers under leases.
//!
//! What it is for ("nothing lost, nothing twice"): intake calls [`Store::enqueue`] (or
//! [`Store::enqueue_many`], one transaction for a batch: group commit) and answers `202` only
//! after it returned (the row is committed); a redelivery with the same
//! `X-GitHub-Delivery` is a [`Enqueued::Duplicate`] that adds nothing, and rows are kept after
//! completion so the dedupe is durable. Workers [`claim`](Store::claim) the oldest ready job
//! (queued with `run_after <= now`, or running with an expired lease) under a lease, extend it
//! with [`heartbeat`](Store::heartbeat), and end it with [`complete`](Store::complete),
//! [`fail`](Store::fail) (exponential backoff, parked after `max_attempts`) or
//! [`release`](Store::release) (graceful shutdown). A worker killed mid-job leaves a running
//! row whose lease runs out; the next claim after that takes it. Every write that ends a job
//! checks ownership (`state = 'running' AND worker = ?`), so a worker whose lease was taken over
//! changes nothing. Claims are atomic across processes: PostgreSQL `FOR UPDATE SKIP LOCKED`,
//! SQLite `BEGIN IMMEDIATE`.
//!
//! Time is injected: every `now` comes from the caller, and times are stored as integer
//! milliseconds since the Unix epoch (`run_after`, `lease_until`, `updated_at`); `run_after = 0`
//! means "ready now". Only the informational `enqueued_at` column uses the database clock.
//!
//! What it must never do: lose a job that `enqueue` acknowledged, hand one job to two live
//! leases, let a non-owner complete/fail/extend a job, or store a secret. Payloads are stored
//! as received (GitHub webhook bodies carry no credentials; the signature header is not
//! stored); error texts are the caller's and must already be redacted (they are truncated to
//! [`MAX_ERROR_CHARS`]). This module logs nothing and counts nothing itself: the worker logs a
//! [`FailOutcome::Parked`] and each [`Claim::parked`] job, and metrics read
//! [`Store::counts`].

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

// The docs above and below link to the methods the submodules define on it.
#[cfg(doc)]
use super::Store;

pub(super) mod admin;
mod enqueue;
mod lease;
mod payload;

use payload::encode_payload;

/// Longest error text kept in `last_error` (characters).
pub const MAX_ERROR_CHARS: usize = 4000;

/// Job states, as stored in `jobs.state`.
pub const STATES: [&str; 4] = ["queued", "running", "done", "parked"];

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// `X-GitHub-Delivery`: unique per delivery; the dedupe key.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The body exactly as received.
    pub payload: Vec<u8>,
    /// `owner/name`.
    pub repo: String,
}

/// A [`NewJob`] whose payload is already encoded as it will be stored (deflated when that
/// pays). Encoding is the CPU-heavy part of queueing a delivery; preparing a job wherever CPU
/// is plentiful — intake does it in each request's own task, in parallel — leaves a single
/// group-commit writer nothing to do but write ([`Store::enqueue_prepared`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedJob {
    delivery_id: String,
    event: String,
    repo: String,
    stored: Vec<u8>,
    traceparent: Option<String>,
}

impl PreparedJob {
    pub fn new(job: NewJob) -> PreparedJob {
        let NewJob {
            delivery_id,
            event,
            payload,
            repo,
        } = job;
        let stored = encode_payload(&payload).unwrap_or(payload);
        PreparedJob {
            delivery_id,
            event,
            repo,
            stored,
            traceparent: None,
        }
    }

    /// The W3C `traceparent` of the span that queued the job (stored in `jobs.traceparent`;
    /// the worker's span continues that trace). Ids only: never a secret.
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> PreparedJob {
        self.traceparent = traceparent;
        self
    }

    /// Bytes the payload takes as stored.
    pub fn stored_len(&self) -> usize {
        self.stored.len()
    }
}

/// What [`Store::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job with this id.
    New(i64),
    /// The delivery was already queued (in any state) as this job; nothing was added.
    Duplicate(i64),
}

impl Enqueued {
    /// The job's id either way.
    pub fn id(self) -> i64 {
        match self {
            Enqueued::New(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub delivery_id: String,
    pub event: String,
    pub repo: String,
    pub payload: Vec<u8>,
    /// Attempts so far, this one included (1 on the first claim).
    pub attempts: i64,
    /// When this claim's lease runs out unless extended.
    pub lease_until: DateTime<Utc>,
    /// The trace context of the span that queued it ([`PreparedJob::with_traceparent`]).
    pub traceparent: Option<String>,
}

/// A job for listings (`patchgate jobs`): no payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    pub id: i64,
    pub delivery_id: String,
    pub event: String,
    pub repo: String,
    pub state: String,
    pub attempts: i64,
    /// Attempts whose worker was lost (its lease ran out before the job ended).
    pub lost: i64,
    pub last_error: Option<String>,
    /// Last state change (the caller's clock).
    pub updated_at: DateTime<Utc>,
}

/// A job that [`Store::claim`] parked instead of taking: its lease ran out (the worker was
/// killed, ran out of memory, or stalled) on an attempt that was its last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostJob {
    pub id: i64,
    pub delivery_id: String,
    pub event: String,
    pub repo: String,
    /// Attempts made, the lost one included (`>= max_attempts`).
    pub attempts: i64,
    /// How many of them lost their worker.
    pub lost: i64,
}

/// What [`Store::claim`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claim {
    /// The job taken, if one was ready.
    pub job: Option<Job>,
    /// Jobs parked by this claim (see [`LostJob`]); the caller logs and counts them.
    pub parked: Vec<LostJob>,
}

/// How failed jobs are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// A job that has failed this many attempts is parked (at least 1).
    pub max_attempts: u32,
    /// Delay after the first failure; doubled after each further one.
    pub base_backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Delay before the next attempt after `attempts` failed ones (`attempts >= 1`):
    /// `base * 2^(attempts-1)`, capped at `max_backoff`.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = attempts.saturating_sub(1).clamp(0, 62) as u32;
        let factor = 1u64.checked_shl(exp).unwrap_or(u64::MAX);
        let base = u64::try_from(self.base_backoff.as_millis()).unwrap_or(u64::MAX);
        let max = u64::try_from(self.max_backoff.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(base.saturating_mul(factor).min(max))
    }
}

/// What [`Store::fail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Back to queued; not claimable before `run_after`.
    Retry {
        attempts: i64,
        run_after: DateTime<Utc>,
    },
    /// Failed `attempts >= max_attempts` times: parked until `patchgate jobs` requeues it.
    Parked { attempts: i64 },
    /// The worker no longer owned the job (lease taken over, or not running): nothing changed.
    NotOwner,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(MAX_ERROR_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite_sql;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
        };
        assert_eq!(p.backoff(1), Duration::from_secs(2));
        assert_eq!(p.backoff(2), Duration::from_secs(4));
        assert_eq!(p.backoff(3), Duration::from_secs(8));
        assert_eq!(p.backoff(4), Duration::from_secs(10));
        assert_eq!(p.backoff(400), Duration::from_secs(10));
    }

    #[test]
    fn sqlite_dialect() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE x = $1 FOR UPDATE SKIP LOCKED"),
            "SELECT a FROM t WHERE x = ?1"
        );
        assert_eq!(truncate(&"é".repeat(5000)).chars().count(), MAX_ERROR_CHARS);
    }
}
