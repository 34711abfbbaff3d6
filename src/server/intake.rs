//! `POST /webhook/github`: GitHub's deliveries in, durable jobs out.
//!
//! What it is for: acknowledge fast, work durably. A delivery is checked in a fixed order —
//! body size cap (25 MiB, `413`), `X-Hub-Signature-256` verified in constant time over the raw
//! bytes *before anything is parsed* (`401`), `X-GitHub-Event` / `X-GitHub-Delivery` present
//! (`400`), body is JSON (`400`, one-line reason), [`handled`] event (else `200`, nothing
//! queued), `repository.full_name` present (`400`), every field the worker reads present and
//! of its type (`400` naming the field, never its value: [`crate::webhook::parse`]) — and then
//! queued. The answer `202
//! {"job": id, "duplicate": bool}` goes out only after the row is committed; a redelivery is a
//! duplicate that adds nothing. Store down: `503`, so GitHub's delivery shows the failure and
//! can be redelivered.
//!
//! Writes go through an [`Enqueuer`]: each request deflates its own payload
//! ([`PreparedJob`]), then one background task takes pending deliveries off a channel and
//! commits them in one transaction per batch ([`Store::enqueue_prepared`]) — group commit, so
//! thousands of deliveries a second cost a few `fsync`s instead of one each, without weakening
//! durability. The writer does no CPU work of its own: after a disk stall it commits the
//! backlog in one transaction at once instead of first deflating it, one body after another.
//!
//! Limits ([`limit_webhooks`], [`ListenerLimits`]; flags of `serve`): at most so many webhook
//! requests in flight — more are shed at once with `503` and `Retry-After` (GitHub shows the
//! failed delivery, which can be redelivered) instead of queueing without bound —, and at most
//! so many body bytes held, charged as they *arrive* (a client that declares 25 MiB and sends
//! one byte holds one KiB; a request whose bytes would go over is `503`); the whole body must arrive within the body timeout (`408`, nothing
//! queued); a request not answered within the request timeout gets `503` (a store that stalls
//! cannot hold a request, or graceful shutdown, forever).
//!
//! What it must never do: parse, store or log a body whose signature did not verify; log or
//! return the secret, the signature header, a header map or a body; send internal error text to
//! the client; answer `202` before the commit; work on the event inside the request (workers do).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use octocrab::models::webhook_events::verification::{verify_signature, WebhookVerificationError};
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::Instrument as _;

use super::metrics::Metrics;
use super::otel;
use crate::store::{Enqueued, NewJob, PreparedJob, Store, StoreError};
use crate::webhook;

/// Largest accepted body (GitHub caps payloads at 25 MB; larger ones are refused with `413`).
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Pending deliveries the [`Enqueuer`] buffers before callers wait for room.
const QUEUE_CAPACITY: usize = 4096;

/// Bodies from this size on are deflated on the blocking pool rather than in the request's
/// task (a 25 MiB body takes tens of milliseconds: too long to hold an async worker).
const DEFLATE_INLINE_MAX: usize = 256 * 1024;

/// Longest delivery id or event name accepted (GitHub's are 36 and ~30 characters).
const MAX_HEADER_CHARS: usize = 128;

/// The GitHub webhook secret. Never printed: `Debug` shows `WebhookSecret(***)`, and there is
/// no `Display`.
#[derive(Clone)]
pub struct WebhookSecret(Arc<str>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// The webhook secret given was empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the webhook secret is empty: set PATCHGATE_WEBHOOK_SECRET to the secret configured in the \
     GitHub App's webhook settings"
)]
pub struct EmptySecret;

impl TryFrom<String> for WebhookSecret {
    type Error = EmptySecret;

    /// Refuses an empty (or all-whitespace) secret: it would make every signature forgeable.
    fn try_from(s: String) -> Result<WebhookSecret, EmptySecret> {
        if s.trim().is_empty() {
            return Err(EmptySecret);
        }
        Ok(WebhookSecret(Arc::from(s)))
    }
}

impl WebhookSecret {
    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// What the webhook route needs.
#[derive(Clone, Debug)]
pub struct IntakeState {
    pub metrics: Arc<Metrics>,
    pub secret: WebhookSecret,
    pub queue: Enqueuer,
}

/// Whether patchgate handles this event/action (decided from the `X-GitHub-Event` header and
/// the parsed body's `action`). Everything else — `ping`, `installation`, `push`, … — is
/// acknowledged with `200` and queues nothing.
pub fn handled(event: &str, action: Option<&str>) -> bool {
    webhook::Kind::of(event, action).is_some()
}

/// Only `POST /webhook/github`, with the 25 MiB body cap.
pub fn github_routes(state: IntakeState) -> Router {
    Router::new()
        .route("/webhook/github", post(webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

use super::limits::busy;
pub use super::limits::{
    limit_webhooks, over_budget, ListenerLimits, OverBudget, PROBE_CONNECTIONS,
};

/// Whether reading the body failed because its deadline passed.
fn body_timed_out(r: &BytesRejection) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(r);
    while let Some(e) = cur {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A header value fit for a log line and a metric: printable ASCII without spaces, bounded.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    let ok =
        !v.is_empty() && v.len() <= MAX_HEADER_CHARS && v.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(v)
}

/// Check an `X-Hub-Signature-256` header value against the HMAC-SHA256 of `body` under
/// `secret`; the error is the one-line reason the client is told (never an echo of the header).
pub fn check_signature(header: &str, secret: &[u8], body: &[u8]) -> Result<(), &'static str> {
    verify_signature(header, secret, body).map_err(|e| match e {
        WebhookVerificationError::DeprecatedSha1 => {
            "sha1= signatures are not accepted; send X-Hub-Signature-256"
        }
        WebhookVerificationError::Mismatch => "signature does not match the body",
        _ => "malformed X-Hub-Signature-256 header (expected sha256=<64 hex digits>)",
    })
}

/// Whether `id` can be a GitHub delivery id (a UUID; letters, digits and `-` are accepted):
/// never one of patchgate's own job ids, which all contain `:`.
pub fn is_github_delivery_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// One answer: status, one-line body, and the metric outcome it counts as.
struct Answer {
    status: StatusCode,
    outcome: &'static str,
    body: Response,
}

fn text(status: StatusCode, outcome: &'static str, reason: String) -> Answer {
    Answer {
        status,
        outcome,
        body: (status, format!("{reason}\n")).into_response(),
    }
}

async fn webhook(
    State(st): State<IntakeState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let event = header(&headers, "x-github-event");
    let delivery = header(&headers, "x-github-delivery");
    // The root of the delivery's trace (the queued job carries it to the worker).
    let span = tracing::info_span!(
        "intake",
        otel.name = "POST /webhook/github",
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        delivery = delivery.unwrap_or("-"),
        event = event.unwrap_or("none"),
        outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    let answer = check_and_queue(&st, &headers, event, delivery, body)
        .instrument(span.clone())
        .await;
    let _in_span = span.enter();
    span.record("outcome", answer.outcome);
    span.record("http.response.status_code", answer.status.as_u16());
    if answer.status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    let event_label = event.unwrap_or("none");
    st.metrics.webhook(event_label, answer.outcome);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let (delivery, status) = (delivery.unwrap_or("-"), answer.status.as_u16());
    match answer.outcome {
        "queued" | "duplicate" | "ignored" => tracing::info!(
            delivery,
            event = event_label,
            outcome = answer.outcome,
            status,
            ms,
            "webhook"
        ),
        _ => tracing::warn!(
            delivery,
            event = event_label,
            outcome = answer.outcome,
            status,
            ms,
            "webhook refused"
        ),
    }
    answer.body
}

async fn check_and_queue(
    st: &IntakeState,
    headers: &HeaderMap,
    event: Option<&str>,
    delivery: Option<&str>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    // 1. Size cap (the body limit makes the extractor fail with 413).
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("body larger than {MAX_BODY_BYTES} bytes"),
            )
        }
        Err(r) if over_budget(&r) => {
            return Answer {
                status: StatusCode::SERVICE_UNAVAILABLE,
                outcome: "unavailable",
                body: busy("webhook body bytes"),
            }
        }
        Err(r) if body_timed_out(&r) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "malformed",
                "the body did not arrive in time".to_string(),
            )
        }
        Err(r) => {
            return text(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("cannot read the body: {}", r.body_text()),
            )
        }
    };

    // 2. Signature over the raw bytes, before anything looks inside them.
    let Some(signature) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
    else {
        return text(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "missing X-Hub-Signature-256 header".to_string(),
        );
    };
    if let Err(reason) = check_signature(signature, st.secret.as_bytes(), &body) {
        return text(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            reason.to_string(),
        );
    }

    // 3. Required headers.
    let Some(event) = event else {
        return text(
            StatusCode::BAD_REQUEST,
            "malformed",
            "missing or invalid X-GitHub-Event header".to_string(),
        );
    };
    let Some(delivery) = delivery else {
        return text(
            StatusCode::BAD_REQUEST,
            "malformed",
            "missing or invalid X-GitHub-Delivery header".to_string(),
        );
    };
    // The header is not covered by the signature: a replayed body could otherwise claim the
    // delivery id of one of patchgate's own jobs (reconciliation and redelivery passes, which
    // all contain ':') and so suppress it. GitHub's delivery ids are UUIDs.
    if !is_github_delivery_id(delivery) {
        return text(
            StatusCode::BAD_REQUEST,
            "malformed",
            "invalid X-GitHub-Delivery header: letters, digits and '-' only (GitHub's delivery ids are UUIDs)".to_string(),
        );
    }

    // 4-6. JSON, handled at all, and the fields the worker needs (`repository.full_name`
    // first) — the body read once, in one pass, into the event the worker will act on (the
    // raw body is what is queued: the worker reads it again when it runs the job).
    let repo = match webhook::parse(event, &body) {
        Ok(Some(ev)) => match ev.target() {
            Some((_, r)) => r.full_name.to_string(),
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    "repository.full_name missing".to_string(),
                )
            }
        },
        Ok(None) => {
            return Answer {
                status: StatusCode::OK,
                outcome: "ignored",
                body: (StatusCode::OK, Json(serde_json::json!({"ignored": true}))).into_response(),
            }
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
    };

    // 7. Queue; answer after the commit.
    let job = NewJob {
        delivery_id: delivery.to_string(),
        event: event.to_string(),
        payload: body.to_vec(),
        repo,
    };
    match st.queue.enqueue(job).await {
        Ok(done) => {
            let (outcome, duplicate) = match done {
                Enqueued::New(_) => ("queued", false),
                Enqueued::Duplicate(_) => ("duplicate", true),
            };
            Answer {
                status: StatusCode::ACCEPTED,
                outcome,
                body: (
                    StatusCode::ACCEPTED,
                    Json(serde_json::json!({"job": done.id(), "duplicate": duplicate})),
                )
                    .into_response(),
            }
        }
        Err(e) => {
            // The detail goes to the log only; the client learns that it may retry.
            tracing::error!(delivery, error = %e, "webhook: cannot queue the delivery");
            let status = match e {
                StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            text(
                status,
                "unavailable",
                "the job queue is unavailable; redeliver later".to_string(),
            )
        }
    }
}

type Reply = oneshot::Sender<Result<Enqueued, StoreError>>;

/// Group commit in front of [`Store::enqueue_prepared`]: callers prepare their job and hand it
/// to one background task, which writes everything pending (up to `max_batch`) in one
/// transaction and then answers each caller — and, when the batch added a new job (not only
/// duplicates), wakes this process's idle workers ([`Enqueuer::start_waking`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Enqueuer {
    tx: mpsc::Sender<(PreparedJob, Reply)>,
}

impl Enqueuer {
    /// Start the writer task on the current tokio runtime. It ends when every `Enqueuer`
    /// clone is dropped. `max_batch` is at least 1. Each commit's duration goes to
    /// `patchgate_intake_commit_seconds`.
    pub fn start(store: Store, max_batch: usize, metrics: Arc<Metrics>) -> Enqueuer {
        Self::spawn(store, max_batch, metrics, None)
    }

    /// [`start`](Self::start), and after each commit that added a new job, notify every
    /// worker waiting on `wake` (see [`run_worker`](super::worker::run_worker)), so a delivery
    /// is picked up at once instead of at the workers' next poll.
    pub fn start_waking(
        store: Store,
        max_batch: usize,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Enqueuer {
        Self::spawn(store, max_batch, metrics, Some(wake))
    }

    fn spawn(
        store: Store,
        max_batch: usize,
        metrics: Arc<Metrics>,
        wake: Option<Arc<Notify>>,
    ) -> Enqueuer {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(store, rx, max_batch.max(1), metrics, wake));
        Enqueuer { tx }
    }

    /// Queue one job; returns once its batch committed (or failed). Same answers as
    /// [`Store::enqueue`]. When traces are exported, the job carries the caller's span as its
    /// `traceparent` (the worker's span continues that trace).
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        if job.delivery_id.trim().is_empty() {
            return Err(StoreError::Invalid(
                "enqueue: empty delivery id".to_string(),
            ));
        }
        let traceparent = otel::current_traceparent();
        let job = if job.payload.len() < DEFLATE_INLINE_MAX {
            PreparedJob::new(job)
        } else {
            tokio::task::spawn_blocking(move || PreparedJob::new(job))
                .await
                .map_err(|e| StoreError::Unavailable(format!("preparing the job: {e}")))?
        }
        .with_traceparent(traceparent);
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the job queue writer has stopped".to_string());
        self.tx.send((job, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(
    store: Store,
    mut rx: mpsc::Receiver<(PreparedJob, Reply)>,
    max_batch: usize,
    metrics: Arc<Metrics>,
    wake: Option<Arc<Notify>>,
) {
    let mut pending: Vec<(PreparedJob, Reply)> = Vec::with_capacity(max_batch);
    // `recv_many` waits for at least one job, then takes whatever else is already waiting.
    while rx.recv_many(&mut pending, max_batch).await > 0 {
        let (jobs, replies): (Vec<PreparedJob>, Vec<Reply>) = pending.drain(..).unzip();
        let started = std::time::Instant::now();
        let written = store.enqueue_prepared(&jobs).await;
        let secs = started.elapsed().as_secs_f64();
        metrics.intake_commit(secs);
        tracing::debug!(
            batch = jobs.len(),
            ms = secs * 1e3,
            ok = written.is_ok(),
            "group commit"
        );
        match written {
            Ok(done) => {
                // Committed: workers may take the new jobs now (duplicates add no work).
                if let Some(wake) = &wake {
                    if done.iter().any(|d| matches!(d, Enqueued::New(_))) {
                        wake.notify_waiters();
                    }
                }
                for (reply, d) in replies.into_iter().zip(done) {
                    // A caller that went away (client disconnected) needs no answer.
                    let _ = reply.send(Ok(d));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(same_error(&e)));
                }
            }
        }
    }
}

/// A copy of `e` for each caller of a failed batch (`StoreError` is not `Clone`).
fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Query(m) => StoreError::Query(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Invalid(m) => StoreError::Invalid(m.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_documented_test_vector() {
        let secret = WebhookSecret::try_from("It's a Secret to Everybody".to_string()).unwrap();
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(sig, secret.as_bytes(), b"Hello, World!").is_ok());
        assert!(verify_signature(sig, secret.as_bytes(), b"Hello, World?").is_err());
    }

    #[test]
    fn secret_is_never_printed_and_never_empty() {
        let s = WebhookSecret::try_from("hunter2".to_string()).unwrap();
        assert_eq!(format!("{s:?}"), "WebhookSecret(***)");
        assert_eq!(
            WebhookSecret::try_from(" ".to_string()).unwrap_err(),
            EmptySecret
        );
        assert!(EmptySecret.to_string().contains("PATCHGATE_WEBHOOK_SECRET"));
    }

    #[test]
    fn handled_is_the_webhook_modules_one_list() {
        // The table itself is tested in `webhook::tests::handled_events`.
        assert!(handled("pull_request", Some("opened")));
        assert!(!handled("pull_request", Some("labeled")));
        assert!(!handled("ping", None));
    }
}
