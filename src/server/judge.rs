//! Judging stored policy events until each is judged once (or its batch is parked).
//!
//! What it is for: `/webhook/meta` stores a whole batch and its job in one transaction
//! ([`Store::store_event_batch`]), then judges it right away ([`judge_batch`], in a task of its
//! own, so a client that disconnects or a request timeout cannot stop it half way). Whatever is
//! left without a decision — the sink failed (GitHub answered 502), the process died — stays
//! in the store with the batch's job, which the queue's workers retry with the usual backoff
//! ([`PolicyEventJobs`], routed by [`WithPolicyEvents`]) until every event of the batch is
//! judged, or park after the retry limit (shown by `patchgate jobs`, counted in
//! `patchgate_jobs_parked_total{event="policy_events"}`).
//!
//! Each event is judged in line order and at most once *successfully*: only events without a
//! recorded decision are handed to the sink. An event whose sink call succeeded but whose
//! decision could not be recorded is judged again; the sink's actions are themselves
//! exactly-once (the rollback flow dedupes by merge), so a repeat changes nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tracing::{error, warn};

use super::metrics::Metrics;
use super::worker::{redact, JobHandler};
use crate::rollback::sink::{Applied, EventSink};
use crate::store::events::BATCH_JOB_EVENT;
use crate::store::{FailOutcome, Job, RetryPolicy, Store, StoreError};

/// What one pass over a batch's pending events did.
#[derive(Debug, Default)]
pub struct Judged {
    /// Events judged in this pass: line, row and what the sink decided.
    pub decisions: Vec<(usize, i64, Applied)>,
    /// Events still without a decision: line and the reason (internal: for logs and the job's
    /// last error, never for a client).
    pub failed: Vec<(usize, String)>,
}

/// Judge every event of batch `webhook_id` that has no decision yet, in line order. A sink
/// error leaves that event pending and goes on with the next ones.
pub async fn judge_pending(
    store: &Store,
    sink: &dyn EventSink,
    metrics: &Metrics,
    webhook_id: &str,
) -> Result<Judged, StoreError> {
    let mut out = Judged::default();
    for p in store.pending_events(webhook_id).await? {
        match sink.apply(p.event, p.row).await {
            Ok(applied) => {
                let recorded = store
                    .set_event_decision(p.row, applied.merge_sha.as_deref(), &applied.decision)
                    .await;
                if let Err(e) = recorded {
                    error!(error = %e, row = p.row, line = p.line, "cannot record a policy decision; the event will be judged again");
                    metrics.policy_event("error");
                    out.failed
                        .push((p.line, format!("recording the decision failed: {e}")));
                    continue;
                }
                let outcome = applied
                    .decision
                    .get("decision")
                    .and_then(|d| d.as_str())
                    .unwrap_or("judged");
                metrics.policy_event(outcome);
                out.decisions.push((p.line, p.row, applied));
            }
            Err(e) => {
                let text = redact(&format!("{e:#}"));
                error!(error = %text, row = p.row, line = p.line, "the policy sink failed; the event will be judged again");
                metrics.policy_event("error");
                out.failed.push((p.line, text));
            }
        }
    }
    Ok(out)
}

/// How a batch's job is held and retried.
#[derive(Debug, Clone)]
pub struct JudgeOptions {
    /// The lease on the batch's job while this process judges it (renewed at a third).
    pub lease: Duration,
    /// Retries of what is left unjudged (the workers' policy).
    pub retry: RetryPolicy,
    /// How long `/webhook/meta` waits for the judgement before it answers `202` (the events
    /// are stored; judging goes on).
    pub wait: Duration,
}

impl Default for JudgeOptions {
    fn default() -> Self {
        let w = super::WorkerOptions::default();
        JudgeOptions {
            lease: w.lease,
            retry: w.retry,
            wait: Duration::from_secs(20),
        }
    }
}

/// Judge batch `webhook_id`, whose job `job` `owner` holds (as created by
/// [`Store::store_event_batch`]), heartbeating the lease; then end the job: done when every
/// event is judged, else failed (retried by the workers with backoff, parked after the limit).
pub async fn judge_batch(
    store: &Store,
    sink: &dyn EventSink,
    metrics: &Metrics,
    opts: &JudgeOptions,
    webhook_id: &str,
    job: i64,
    owner: &str,
) -> Result<Judged, StoreError> {
    let work = judge_pending(store, sink, metrics, webhook_id);
    tokio::pin!(work);
    let mut beat = tokio::time::interval((opts.lease / 3).max(Duration::from_millis(100)));
    beat.tick().await;
    let judged = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = beat.tick() => {
                if let Err(e) = store.heartbeat(job, owner, opts.lease, Utc::now()).await {
                    warn!(error = %e, job, "heartbeat of a policy-event batch failed");
                }
            }
        }
    };
    let outcome = match &judged {
        Ok(j) if j.failed.is_empty() => {
            store.complete(job, owner, Utc::now()).await.map(|_| "done")
        }
        Ok(j) => {
            let text = failure_text(webhook_id, j);
            match store.fail(job, owner, &text, &opts.retry, Utc::now()).await {
                Ok(FailOutcome::Parked { .. }) => {
                    metrics.job_parked(BATCH_JOB_EVENT);
                    Ok("parked")
                }
                Ok(_) => Ok("retry"),
                Err(e) => Err(e),
            }
        }
        Err(e) => {
            let text = format!("reading the batch's events failed: {e}");
            store
                .fail(job, owner, &text, &opts.retry, Utc::now())
                .await
                .map(|_| "retry")
        }
    };
    match outcome {
        Ok(o) => metrics.job_done(BATCH_JOB_EVENT, o, 0.0),
        Err(e) => {
            warn!(error = %e, job, "ending a policy-event batch's job failed; its lease will run out and a worker retries it")
        }
    }
    judged
}

fn failure_text(webhook_id: &str, j: &Judged) -> String {
    let lines: Vec<String> = j.failed.iter().map(|(l, _)| l.to_string()).collect();
    let first = j.failed.first().map(|(_, e)| e.as_str()).unwrap_or("");
    format!(
        "webhook-id {webhook_id}: {} event(s) not judged (lines {}): {first}",
        j.failed.len(),
        lines.join(", ")
    )
}

/// The job handler of [`BATCH_JOB_EVENT`] jobs: judges what is left of the batch; an error
/// (some event still unjudged) makes the worker retry it with backoff.
pub struct PolicyEventJobs {
    pub store: Store,
    pub sink: Arc<dyn EventSink>,
    pub metrics: Arc<Metrics>,
}

impl PolicyEventJobs {
    async fn run(&self, job: &Job) -> anyhow::Result<()> {
        let payload: serde_json::Value =
            serde_json::from_slice(&job.payload).context("the batch job's payload is not JSON")?;
        let id = payload
            .get("webhook_id")
            .and_then(|v| v.as_str())
            .context("the batch job's payload names no webhook_id")?;
        let judged = judge_pending(&self.store, &*self.sink, &self.metrics, id).await?;
        if judged.failed.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(failure_text(id, &judged))
        }
    }
}

impl JobHandler for PolicyEventJobs {
    fn handle<'a>(
        &'a self,
        job: &'a Job,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(self.run(job))
    }
}

/// Routes [`BATCH_JOB_EVENT`] jobs to [`PolicyEventJobs`], every other job to `inner`.
pub struct WithPolicyEvents {
    pub inner: Arc<dyn JobHandler>,
    pub events: Arc<PolicyEventJobs>,
}

impl JobHandler for WithPolicyEvents {
    fn handle<'a>(
        &'a self,
        job: &'a Job,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        if job.event == BATCH_JOB_EVENT {
            self.events.handle(job)
        } else {
            self.inner.handle(job)
        }
    }
}
