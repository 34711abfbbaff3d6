//! The audit quorum: the [`Auditor`] trait and [`run_quorum`], which asks every auditor at
//! once, each under its own timeout, and hands the votes to the pure rule
//! ([`decide`](super::decide::decide)) that turns them into a [`Decision`].
//!
//! It must never turn an error into an approval. Only an auditor's explicit `approve` counts
//! towards `required`; a timeout, a panic, a missing auditor or any other failure is an
//! abstention, and abstentions never count. A configuration that could not be decided sensibly
//! (`required == 0`, `required` above the number of auditors, two auditors with one name) is
//! an error, never a decision.
//!
//! Isolation: each auditor runs in its own `tokio::spawn`ed task, under
//! `tokio::time::timeout`. A panic surfaces as a `JoinError` and becomes an abstention
//! (`crashed: …`); a timeout drops the auditor's future (a command auditor's child is killed)
//! and becomes an abstention (`timed out after …`). An auditor must not block its thread
//! (no synchronous sleeps or I/O inside `review`): a blocking future cannot be interrupted,
//! though on a multi-threaded runtime it still does not delay the others. Synchronous work
//! (Rule-Guard's) goes through [`on_blocking_pool`], which runs it on tokio's blocking pool:
//! its timeout then applies like any other auditor's, and the runtime keeps running.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

use super::decide::{check_unique, decide, Decision, QuorumConfig, QuorumError};
use super::vote::{AbstainReason, AuditInput, Vote};

/// How long after an auditor's own timeout the quorum stops waiting for its task, should the
/// task fail to stop at its timeout (it only matters for futures that block their thread).
const STRAGGLER_GRACE: Duration = Duration::from_millis(100);

/// An independent reviewer of a change.
///
/// `review` returns a vote, always: an auditor reports its own failures as
/// [`Vote::abstain`]. The quorum enforces `timeout()` and catches panics regardless.
pub trait Auditor: Send + Sync {
    /// The name its votes are recorded under (unique within a quorum).
    fn name(&self) -> &str;
    /// How long the quorum waits for its vote.
    fn timeout(&self) -> Duration;
    /// Review the change and vote.
    fn review<'a>(
        &'a self,
        input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>>;
}

/// A synchronous auditor's `review`: `work` runs on tokio's blocking pool, so the quorum's
/// timeout can give up on it (the vote is then an abstention; the thread finishes unobserved)
/// and it never stalls the runtime. A panic in `work` is re-raised in the auditor's task, where
/// the quorum records it as a crash.
pub fn on_blocking_pool<F>(work: F) -> Pin<Box<dyn Future<Output = Vote> + Send + 'static>>
where
    F: FnOnce() -> Vote + Send + 'static,
{
    Box::pin(async move {
        match tokio::task::spawn_blocking(work).await {
            Ok(vote) => vote,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the blocking pool dropped the auditor's work: {e}"),
        }
    })
}

/// Asks every auditor concurrently, each under its own timeout, and decides.
///
/// Returns one vote per auditor, in the auditors' order, each recorded under the auditor's
/// configured `name()` (whatever name the vote itself carried), and the decision. A slow
/// auditor delays the result by at most its own timeout; a timed-out auditor abstains
/// (`timed out after …`), a panicking one abstains (`crashed: …`).
///
/// The configuration is checked before any auditor runs. Must be called within a tokio
/// runtime.
pub async fn run_quorum(
    auditors: &[Arc<dyn Auditor>],
    input: &AuditInput,
    required: usize,
) -> Result<(Vec<Vote>, Decision), QuorumError> {
    QuorumConfig::new(required, auditors.len())?;
    check_unique(auditors.iter().map(|a| a.name()))?;

    let input = Arc::new(input.clone());
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = auditors
        .iter()
        .map(|auditor| {
            let auditor = Arc::clone(auditor);
            let input = Arc::clone(&input);
            let limit = auditor.timeout();
            // One span per auditor (its model or command calls are its children); the task
            // is instrumented with it, so the trace follows the vote into its own task.
            let span = tracing::info_span!(
                "audit",
                otel.name = %format!("audit {}", auditor.name()),
                patchgate.auditor = auditor.name(),
                patchgate.verdict = tracing::field::Empty,
                patchgate.cost_usd = tracing::field::Empty,
            );
            let handle = tokio::spawn(
                async move { tokio::time::timeout(limit, auditor.review(&input)).await }
                    .instrument(span.clone()),
            );
            (handle, limit, span)
        })
        .collect();

    let mut votes = Vec::with_capacity(auditors.len());
    for (auditor, (mut handle, limit, span)) in auditors.iter().zip(tasks) {
        let name = auditor.name();
        let joined = match started.checked_add(limit.saturating_add(STRAGGLER_GRACE)) {
            Some(deadline) => tokio::time::timeout_at(deadline, &mut handle).await.ok(),
            None => Some((&mut handle).await),
        };
        let vote = match joined {
            Some(Ok(Ok(mut vote))) => {
                vote.auditor = name.to_string();
                vote
            }
            Some(Ok(Err(_))) | None => {
                handle.abort();
                Vote::abstain(name, AbstainReason::Timeout(limit))
            }
            Some(Err(join_error)) => {
                let why = if join_error.is_panic() {
                    format!("panicked: {}", panic_message(join_error.into_panic()))
                } else {
                    "task cancelled".to_string()
                };
                Vote::abstain(name, AbstainReason::Crashed(why))
            }
        };
        span.record("patchgate.verdict", vote.verdict.to_string().as_str());
        span.record("patchgate.cost_usd", vote.cost_usd);
        drop(span);
        votes.push(vote);
    }

    let decision = decide(required, &votes)?;
    Ok((votes, decision))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
