//! Queue workers: take jobs from the store under a lease, run them, and end them.
//!
//! What it is for: the only place jobs are run. A worker claims the oldest ready job
//! ([`Store::claim`], atomic across processes), keeps the lease alive with a heartbeat while the
//! handler runs, and then completes the job, or fails it (the store backs off and, after the
//! retry policy's limit, parks it — logged and counted). A worker killed mid-job leaves a
//! running row whose lease runs out; the next claim anywhere takes it again.
//!
//! Shutdown: when the shutdown signal flips, a worker takes no new job. A job in hand is given
//! `grace` to finish; if it does not, its handler is dropped and the job is released (back to
//! queued with its attempt given back), so another process — or this one after a restart —
//! runs it. What it must never do: end a job it no longer owns (every store call checks the
//! owner), or log a payload.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn, Instrument};

use crate::server::metrics::Metrics;
use crate::store::{FailOutcome, Job, RetryPolicy, Store};

/// Runs one job. An `Err` is retried with backoff (after the policy's limit: parked).
pub trait JobHandler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        job: &'a Job,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;
}

/// How workers behave.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// Wait between polls of an empty queue (new jobs of this process wake workers at once).
    pub poll: Duration,
    pub retry: RetryPolicy,
    /// How long a job in hand may run on after shutdown was asked for.
    pub grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            retry: RetryPolicy {
                max_attempts: 5,
                base_backoff: Duration::from_secs(5),
                max_backoff: Duration::from_secs(600),
            },
            grace: Duration::from_secs(20),
        }
    }
}

/// One worker's loop. Returns when `shutdown` becomes true (after finishing or releasing the
/// job in hand).
pub async fn run_worker(
    name: String,
    store: Store,
    handler: Arc<dyn JobHandler>,
    metrics: Arc<Metrics>,
    opts: WorkerOptions,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    info!(worker = %name, "worker started");
    let mut store_errors = 0u32;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let job = match store.claim(&name, opts.lease, Utc::now()).await {
            Ok(j) => {
                store_errors = 0;
                j
            }
            Err(e) => {
                store_errors = store_errors.saturating_add(1);
                if store_errors == 1 || store_errors.is_power_of_two() {
                    warn!(worker = %name, error = %e, "claiming a job failed; retrying");
                }
                let pause = opts.poll * store_errors.min(20);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        };
        let Some(job) = job else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(opts.poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let span = tracing::info_span!(
            "job",
            job = job.id,
            delivery = %job.delivery_id,
            event = %job.event,
            repo = %job.repo,
            attempt = job.attempts
        );
        run_one(
            &name,
            &store,
            &*handler,
            &metrics,
            &opts,
            &job,
            &mut shutdown,
        )
        .instrument(span)
        .await;
    }
    info!(worker = %name, "worker stopped");
}

/// Run one claimed job to its end (complete, fail, or release on shutdown).
async fn run_one(
    name: &str,
    store: &Store,
    handler: &dyn JobHandler,
    metrics: &Metrics,
    opts: &WorkerOptions,
    job: &Job,
    shutdown: &mut watch::Receiver<bool>,
) {
    let started = Instant::now();
    let work = handler.handle(job);
    tokio::pin!(work);
    // Heartbeat at a third of the lease.
    let mut beat = tokio::time::interval(opts.lease / 3);
    beat.tick().await;
    let mut deadline: Option<tokio::time::Instant> = None;
    let result = loop {
        let grace_over = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = &mut work => break Some(r),
            _ = beat.tick() => {
                match store.heartbeat(job.id, name, opts.lease, Utc::now()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Someone else owns it now (our lease ran out): stop, change nothing.
                        warn!("lease lost; abandoning the job to its new owner");
                        return;
                    }
                    Err(e) => warn!(error = %e, "heartbeat failed"),
                }
            }
            _ = shutdown.changed(), if deadline.is_none() => {
                if *shutdown.borrow() {
                    info!(grace_s = opts.grace.as_secs_f64(), "shutdown: finishing the job in hand");
                    deadline = Some(tokio::time::Instant::now() + opts.grace);
                }
            }
            _ = grace_over => break None,
        }
    };
    let secs = started.elapsed().as_secs_f64();
    match result {
        None => {
            match store.release(job.id, name).await {
                Ok(_) => info!("shutdown: job released for another worker"),
                Err(e) => {
                    warn!(error = %e, "shutdown: releasing the job failed; its lease will run out")
                }
            }
            metrics.job_done(&job.event, "released", secs);
        }
        Some(Ok(())) => {
            match store.complete(job.id, name).await {
                Ok(true) => info!(secs, "job done"),
                Ok(false) => warn!("job finished but its lease had been taken over"),
                Err(e) => error!(error = %e, "job finished but could not be marked done"),
            }
            metrics.job_done(&job.event, "done", secs);
        }
        Some(Err(e)) => {
            let text = format!("{e:#}");
            match store
                .fail(job.id, name, &text, &opts.retry, Utc::now())
                .await
            {
                Ok(FailOutcome::Retry {
                    attempts,
                    run_after,
                }) => {
                    warn!(error = %text, attempts, retry_at = %run_after, "job failed; will retry");
                }
                Ok(FailOutcome::Parked { attempts }) => {
                    error!(error = %text, attempts, "job failed too often; parked (see `patchgate jobs`)");
                    metrics.job_parked(&job.event);
                }
                Ok(FailOutcome::NotOwner) => {
                    warn!(error = %text, "job failed after its lease was taken over");
                }
                Err(se) => {
                    error!(error = %text, store_error = %se, "job failed and the failure could not be recorded")
                }
            }
            metrics.job_done(&job.event, "failed", secs);
        }
    }
}
