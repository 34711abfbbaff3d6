//! Queue workers: take jobs from the store under a lease, run them, and end them.
//!
//! What it is for: the only place jobs are run. A worker claims the oldest ready job
//! ([`Store::claim`], atomic across processes), keeps the lease alive with a heartbeat while the
//! handler runs — a task of its own, so a handler that blocks its thread cannot starve it and a
//! job that runs longer than the lease is not claimed a second time — and then completes the
//! job, or fails it (the store backs off and, after the retry policy's limit, parks it — logged
//! and counted). A worker killed mid-job leaves a running row whose lease runs out; the next
//! claim anywhere takes it again, or parks it when
//! that was its last attempt (logged and counted like any other park).
//!
//! An idle worker sleeps until the poll interval passes or `wake` is notified: intake's writer
//! notifies it after committing a new job, reconciliation after queueing missed ones. The
//! worker registers for the notification before it looks at the queue, so a job committed
//! between an empty claim and the wait still wakes it.
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
use tokio::sync::{oneshot, watch, Notify};
use tracing::{error, info, warn, Instrument};

use crate::server::metrics::Metrics;
use crate::server::otel;
use crate::store::{Claim, FailOutcome, Job, LostJob, RetryPolicy, Store};

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
    /// Wait between polls of an empty queue. New jobs committed by this process (intake, or
    /// reconciliation) wake idle workers at once; the poll finds jobs queued by other
    /// replicas and retries whose backoff ran out.
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
        // Registered before the claim: a wake-up sent after this point is not missed.
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let claim = store.claim(&name, opts.lease, opts.retry.max_attempts, Utc::now());
        let job = match claim.await {
            Ok(Claim { job, parked }) => {
                store_errors = 0;
                for lost in &parked {
                    parked_lost(&name, lost, &metrics);
                }
                job
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
                _ = woken => {}
                _ = tokio::time::sleep(opts.poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let span = tracing::info_span!(
            "job",
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            job = job.id,
            delivery = %job.delivery_id,
            event = %job.event,
            repo = %job.repo,
            attempt = job.attempts,
            outcome = tracing::field::Empty,
        );
        // The delivery's trace, carried through the queue from intake's span.
        otel::set_parent(&span, job.traceparent.as_deref());
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

/// Log and count a job that a claim parked because its worker was lost on its last attempt.
fn parked_lost(name: &str, lost: &LostJob, metrics: &Metrics) {
    error!(
        worker = %name,
        job = lost.id,
        delivery = %lost.delivery_id,
        event = %lost.event,
        repo = %lost.repo,
        attempts = lost.attempts,
        lost = lost.lost,
        "job lost its worker on its last attempt (killed, out of memory, or stalled); parked (see `patchgate jobs`)"
    );
    metrics.job_parked(&lost.event);
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
    // The heartbeat is its own task: a handler that blocks its thread (or just never yields)
    // cannot starve it, so the lease holds for as long as the job runs. It is aborted when the
    // job ends (dropped with `_beat`).
    let (lost_tx, mut lost) = oneshot::channel();
    let (ready_tx, ready) = oneshot::channel();
    let _beat = AbortOnDrop(tokio::spawn(
        heartbeat(
            store.clone(),
            job.id,
            name.to_string(),
            opts.lease,
            ready_tx,
            lost_tx,
        )
        .in_current_span(),
    ));
    // Wait for the heartbeat's first poll: a task just spawned sits in this thread's LIFO slot,
    // which no other thread may steal, until this task yields; the job must not block the
    // thread before the heartbeat has armed its timer.
    let _ = ready.await;
    let work = handler.handle(job);
    tokio::pin!(work);
    let mut beating = true;
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
            gone = &mut lost, if beating => {
                beating = false;
                if gone.is_ok() {
                    // Someone else owns it now (our lease ran out): stop, change nothing.
                    warn!("lease lost; abandoning the job to its new owner");
                    return;
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
    if beating && lost.try_recv().is_ok() {
        // The job ended while its lease was being lost: it is no longer ours to end.
        warn!("lease lost while the job ran; leaving the job to its new owner");
        return;
    }
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
            tracing::Span::current().record("outcome", "released");
        }
        Some(Ok(())) => {
            match store.complete(job.id, name, Utc::now()).await {
                Ok(true) => info!(secs, "job done"),
                Ok(false) => warn!("job finished but its lease had been taken over"),
                Err(e) => error!(error = %e, "job finished but could not be marked done"),
            }
            metrics.job_done(&job.event, "done", secs);
            tracing::Span::current().record("outcome", "done");
        }
        Some(Err(e)) => {
            let text = redact(&format!("{e:#}"));
            let outcome = match store
                .fail(job.id, name, &text, &opts.retry, Utc::now())
                .await
            {
                Ok(FailOutcome::Retry {
                    attempts,
                    run_after,
                }) => {
                    warn!(error = %text, attempts, retry_at = %run_after, "job failed; will retry");
                    "retry"
                }
                Ok(FailOutcome::Parked { attempts }) => {
                    error!(error = %text, attempts, "job failed too often; parked (see `patchgate jobs`)");
                    metrics.job_parked(&job.event);
                    "parked"
                }
                Ok(FailOutcome::NotOwner) => {
                    warn!(error = %text, "job failed after its lease was taken over");
                    "retry"
                }
                Err(se) => {
                    error!(error = %text, store_error = %se, "job failed and the failure could not be recorded");
                    "retry"
                }
            };
            metrics.job_done(&job.event, outcome, secs);
            let span = tracing::Span::current();
            span.record("outcome", outcome);
            span.record("otel.status_code", "error");
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keep `worker`'s lease on job `id` alive: renew it every third of the lease until aborted.
/// Sends on `ready` once it is running (its timer armed), on `lost` when the store says the job
/// is no longer the worker's (then it stops). A failed renewal is logged and tried again at the
/// next beat.
async fn heartbeat(
    store: Store,
    id: i64,
    worker: String,
    lease: Duration,
    ready: oneshot::Sender<()>,
    lost: oneshot::Sender<()>,
) {
    let mut beat = tokio::time::interval(lease / 3);
    beat.tick().await;
    let _ = ready.send(());
    loop {
        beat.tick().await;
        match store.heartbeat(id, &worker, lease, Utc::now()).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = lost.send(());
                return;
            }
            Err(e) => warn!(error = %e, "heartbeat failed"),
        }
    }
}

/// A job's error text as it may be stored and logged: anything that looks like a GitHub token
/// (installation `ghs_`, user-to-server `ghu_`, OAuth `gho_`, refresh `ghr_`, classic `ghp_`,
/// fine-grained `github_pat_`), a bearer credential, credentials in a URL, a JWT or a private
/// key is masked. The code below the worker already keeps secrets out of its errors; this is
/// the second line.
pub fn redact(text: &str) -> String {
    use std::sync::OnceLock;
    static PATTERNS: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    let pats = PATTERNS.get_or_init(|| {
        [
            r"\bgh[pousr]_[A-Za-z0-9_]{16,}",
            r"\bgithub_pat_[A-Za-z0-9_]{16,}",
            r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{16,}",
            r"://[^/\s:@]+:[^/\s@]+@",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ]
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect()
    });
    let mut out = text.to_string();
    for re in pats {
        out = re
            .replace_all(&out, |c: &regex::Captures| {
                if c[0].starts_with("://") {
                    "://***@".to_string()
                } else {
                    "***".to_string()
                }
            })
            .into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn job_errors_lose_their_secrets() {
        let t =
            "fetch https://x-access-token:ghs_abcdefghijklmnopqrstuvwx@github.com/o/r.git failed; \
                 header Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjMifQ.c2lnbmF0dXJlc2ln; \
                 key -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- end";
        let r = redact(t);
        for secret in ["ghs_abcdef", "eyJhbGci", "MIIE", "x-access-token:"] {
            assert!(!r.contains(secret), "{secret} survived: {r}");
        }
        assert!(r.contains("github.com/o/r.git failed"), "{r}");
        assert!(r.ends_with(" end"), "{r}");
        assert_eq!(
            redact("plain error: 404 Not Found"),
            "plain error: 404 Not Found"
        );
    }

    #[test]
    fn every_kind_of_github_token_is_masked() {
        for token in [
            "ghs_16CharactersOrMore0123",
            "ghu_16CharactersOrMore0123",
            "gho_16CharactersOrMore0123",
            "ghr_16CharactersOrMore0123",
            "ghp_16CharactersOrMore0123",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU",
        ] {
            for text in [
                format!("push failed: {token}"),
                format!("{token} was refused"),
                format!("url https://api.example.com/x?access_token={token}&y=1"),
                format!("\"{token}\""),
            ] {
                let r = redact(&text);
                assert!(!r.contains(&token[token.len() - 10..]), "{token} survived in {r:?}");
                assert!(r.contains("***"), "{r:?}");
            }
        }
        // Names that merely start alike are not tokens.
        for plain in [
            "ghs_short",
            "the github_pat_ prefix",
            "ghost_writer_of_this_text",
        ] {
            assert_eq!(redact(plain), plain);
        }
    }
}
