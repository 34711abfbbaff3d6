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

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::{map_err, Store, StoreError};

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
type SummaryRow = (
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

/// Deletes up to `$2` done jobs last changed before `$1` (oldest first). Rows another
/// transaction holds are skipped, so replicas pruning at once do not wait on each other.
const PRUNE_DONE: &str = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
     WHERE state = 'done' AND updated_at < $1 \
     ORDER BY updated_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Payloads at least this long are stored deflated (a webhook body is JSON that compresses
/// about 10x; writing a tenth of the bytes is what keeps the queue's commits short).
const COMPRESS_FROM: usize = 1024;
/// Marks a deflated payload. A stored payload is either the body as received (JSON: never
/// starts with a NUL byte) or this marker followed by the raw-deflated body.
const DEFLATED: &[u8] = b"\0pgz1";

/// A payload as stored: the deflated form, or `None` when the body is best stored as it is
/// (short, or deflating does not make it shorter). A body that itself starts with a NUL byte
/// is always deflated, so a payload stored as it is never looks like a deflated one.
fn encode_payload(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let must = body.starts_with(b"\0");
    if body.len() < COMPRESS_FROM && !must {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 + DEFLATED.len());
    out.extend_from_slice(DEFLATED);
    let mut enc = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
    match enc.write_all(body).and_then(|_| enc.finish()) {
        Ok(v) if must || v.len() < body.len() => Some(v),
        _ => None,
    }
}

/// The body as received, from a stored payload.
fn decode_payload(stored: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    use std::io::Read;
    match stored.strip_prefix(DEFLATED) {
        None => Ok(stored),
        Some(packed) => {
            let mut out = Vec::with_capacity(packed.len() * 8);
            flate2::read::DeflateDecoder::new(packed)
                .read_to_end(&mut out)
                .map_err(|e| {
                    StoreError::Query(format!("a stored payload does not inflate: {e}"))
                })?;
            Ok(out)
        }
    }
}

const ENQUEUE_EXISTING: &str = "SELECT id FROM jobs WHERE delivery_id = $1";

/// Rows per multi-row INSERT in [`Store::enqueue_prepared`]: 5 parameters each, far below
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
const ENQUEUE_ROWS_PER_STATEMENT: usize = 512;

/// `INSERT … VALUES ($1, $2, $3, $4, $5), ($6, …) ON CONFLICT (delivery_id) DO NOTHING RETURNING
/// id, delivery_id` for `rows` jobs: only the rows actually inserted come back, in no
/// particular order.
fn enqueue_insert_rows(rows: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(96 + rows * 30);
    sql.push_str("INSERT INTO jobs (delivery_id, event, repo, payload, traceparent) VALUES ");
    for r in 0..rows {
        let p = r * 5;
        let sep = if r == 0 { "" } else { ", " };
        let _ = write!(
            sql,
            "{sep}(${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        );
    }
    sql.push_str(" ON CONFLICT (delivery_id) DO NOTHING RETURNING id, delivery_id");
    sql
}

impl Store {
    /// Queue a delivery. Returns once the row is committed (answer `202` only after this).
    /// A delivery id seen before — whatever its job's state — is a `Duplicate` that changes
    /// nothing.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued, StoreError> {
        if job.delivery_id.trim().is_empty() {
            return Err(StoreError::Invalid(
                "enqueue: empty delivery id".to_string(),
            ));
        }
        let done = self
            .enqueue_prepared(&[PreparedJob::new(job.clone())])
            .await?;
        Ok(done[0])
    }

    /// Queue several deliveries in ONE transaction (group commit: one `fsync` for the batch).
    /// Returns once the transaction committed, one [`Enqueued`] per job in order, with the
    /// semantics of [`enqueue`](Self::enqueue): a delivery id seen before — in an existing row
    /// or earlier in the same batch — is a `Duplicate` of that job. All or nothing: on an error
    /// no job of the batch was queued. An empty delivery id anywhere refuses the whole batch
    /// (`Invalid`) before anything is written; an empty batch does nothing.
    pub async fn enqueue_many(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let prepared: Vec<PreparedJob> = jobs.iter().cloned().map(PreparedJob::new).collect();
        self.enqueue_prepared(&prepared).await
    }

    /// [`enqueue_many`](Self::enqueue_many) for jobs already [prepared](PreparedJob::new):
    /// the transaction only writes.
    pub async fn enqueue_prepared(
        &self,
        jobs: &[PreparedJob],
    ) -> Result<Vec<Enqueued>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(i) = jobs.iter().position(|j| j.delivery_id.trim().is_empty()) {
            return Err(StoreError::Invalid(format!(
                "enqueue_many: job {i} of the batch has an empty delivery id"
            )));
        }
        // Inserted in delivery-id order (a stable sort: within one id, the batch's own order),
        // so two transactions inserting overlapping batches take the unique index's locks in
        // the same order and cannot deadlock on PostgreSQL.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by(|&a, &b| jobs[a].delivery_id.cmp(&jobs[b].delivery_id));
        // One multi-row INSERT per chunk (not one statement per job): the SQLite driver runs
        // each statement on its connection's thread, so every statement is a round trip
        // between threads, and on PostgreSQL one over the network.
        let out = in_tx!(self, "enqueue_many", |tx, sql| {
            let existing = sql(ENQUEUE_EXISTING);
            let mut out = vec![Enqueued::Duplicate(0); jobs.len()];
            let mut inserted: std::collections::HashMap<String, i64> =
                std::collections::HashMap::with_capacity(jobs.len());
            for chunk in order.chunks(ENQUEUE_ROWS_PER_STATEMENT) {
                let text = sql(&enqueue_insert_rows(chunk.len()));
                let mut insert = sqlx::query_as::<_, (i64, String)>(&text);
                for &i in chunk {
                    let job = &jobs[i];
                    insert = insert
                        .bind(&job.delivery_id)
                        .bind(&job.event)
                        .bind(&job.repo)
                        .bind(&job.stored)
                        .bind(&job.traceparent);
                }
                let rows = insert
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| map_err("enqueue_many", e))?;
                inserted.extend(rows.into_iter().map(|(id, delivery_id)| (delivery_id, id)));
            }
            // The first job of each inserted delivery id is new; any other is a duplicate —
            // of a row committed before this transaction (PostgreSQL waits for a concurrent
            // insert of the same key to commit before skipping it) or of this batch's own.
            let mut claimed = std::collections::HashSet::with_capacity(jobs.len());
            for &i in &order {
                let d = jobs[i].delivery_id.as_str();
                out[i] = match inserted.get(d) {
                    Some(&id) if claimed.insert(d) => Enqueued::New(id),
                    Some(&id) => Enqueued::Duplicate(id),
                    None => Enqueued::Duplicate(
                        sqlx::query_scalar(&existing)
                            .bind(d)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| map_err("enqueue_many: existing", e))?,
                    ),
                };
            }
            out
        });
        Ok(out)
    }

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

    /// Parked jobs, oldest first (for `patchgate jobs`).
    pub async fn parked(&self) -> Result<Vec<JobSummary>, StoreError> {
        const SQL: &str = "SELECT id, delivery_id, event, repo, state, attempts, lost, \
             last_error, updated_at FROM jobs WHERE state = 'parked' ORDER BY id";
        let rows: Vec<SummaryRow> =
            on_pool!(self, SQL, |p, sql| sqlx::query_as(sql).fetch_all(p).await)
                .map_err(|e| map_err("parked", e))?;
        Ok(rows
            .into_iter()
            .map(
                |(id, delivery_id, event, repo, state, attempts, lost, last_error, updated_at)| {
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
                },
            )
            .collect())
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

#[cfg(test)]
mod payload_tests {
    use super::{decode_payload, NewJob, PreparedJob, DEFLATED};

    /// The payload a job is stored with.
    fn stored(payload: &[u8]) -> Vec<u8> {
        PreparedJob::new(NewJob {
            delivery_id: "d".to_string(),
            event: "pull_request".to_string(),
            payload: payload.to_vec(),
            repo: "o/r".to_string(),
        })
        .stored
    }

    #[test]
    fn payloads_round_trip_and_large_ones_shrink() {
        let small = br#"{"action":"opened"}"#.to_vec();
        assert_eq!(stored(&small), small);
        let big = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/github/webhooks/pull_request.opened.json"
        ))
        .unwrap();
        let packed = stored(&big);
        assert!(packed.starts_with(DEFLATED));
        assert!(
            packed.len() * 4 < big.len(),
            "{} of {}",
            packed.len(),
            big.len()
        );
        assert_eq!(decode_payload(packed).unwrap(), big);
        // A body that looks like the marker is deflated too, so it round-trips.
        let odd = b"\0pgz1 not deflate".to_vec();
        let packed = stored(&odd);
        assert_ne!(packed, odd);
        assert_eq!(decode_payload(packed).unwrap(), odd);
        // A stored payload that claims to be deflated but is not is an error, never garbage.
        assert!(decode_payload(b"\0pgz1 not deflate".to_vec()).is_err());
    }
}
