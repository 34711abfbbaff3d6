//! `POST /webhook/meta`: policy events in, signed the Standard Webhooks way
//! ([`crate::policy::signing`]) with the events secret.
//!
//! What it is for: a CI script or a monitoring system reports measurements after a merge (one
//! JSON object, or NDJSON lines); each verified event is stored and handed to the
//! [`EventSink`] (the rollback orchestrator), which judges it against the policy and acts.
//!
//! How a request is handled:
//! 1. `webhook-id`, `webhook-timestamp` and `webhook-signature` are required; a missing or
//!    malformed one, or a timestamp more than 5 minutes off, is `401` with a one-line reason,
//!    before a byte of the body is read.
//! 2. The body is read as a stream and split into lines as chunks arrive. Each line is parsed
//!    and validated as soon as it is complete (line numbers from 1, blank lines skipped, a line
//!    over [`MAX_LINE_BYTES`] is malformed without being kept), and the HMAC is updated chunk by
//!    chunk. Memory holds one line, the HMAC state, and the parsed events waiting for the
//!    signature — never the raw body; the body cap ([`MAX_BODY_BYTES`], `413` beyond) bounds
//!    the waiting events.
//! 3. **Never act on unauthenticated bytes.** The signature covers the whole body, so it can
//!    only be checked at its end; until then events are judged (parsed, validated) but nothing
//!    is applied — not stored, not sent to the sink. A forged or truncated stream (`401`)
//!    changes nothing. This is deliberate: a long stream waits for its end before any of it is
//!    acted on, in exchange for which an attacker who can reach the port cannot revert a merge.
//! 4. Then, in ONE transaction ([`Store::store_event_batch`]), the id is claimed, every valid
//!    event is stored with its line number, and a job that judges them is created (held by
//!    this request). A replay — an id seen before — is answered **`409 Conflict`** ("webhook-id
//!    … already seen") saying how far that batch got (events stored, judged, waiting), and
//!    nothing new is applied. A store failure is `503` and truly nothing was applied (the
//!    transaction rolled back, the id is not used up): resend it as is.
//! 5. The stored events are then judged in line order by a task of their own
//!    ([`super::judge::judge_batch`]): a client that disconnects or a request that times out
//!    does not stop it half way. An event the sink fails on (GitHub answered 502) stays stored
//!    without a decision and the batch's job retries it durably (`patchgate jobs`; parked after
//!    the retry limit). Malformed lines are reported with their number and never applied; the
//!    valid lines around them still are.
//!
//! The answer is `200` with `{"accepted": n, "rejected": [{"line": 3, "error": "…"}],
//! "decisions": [{"line": 1, "decision": {…}}], "job": id}`. `accepted` counts the events stored
//! and judged; an event stored but not judged yet is listed in `rejected` with an error saying
//! it will be judged again, and `pending` lists those lines. When judging takes longer than
//! [`JudgeOptions::wait`] the answer is `202` with the lines still `pending`: every event is
//! stored and its judgement goes on. `X-Audit-Hash` is the record hash of the merge judged: when several merges were
//! judged, the one of the last event that was attributed to a merge with a record; the header
//! is absent when no event was.
//!
//! Content types: `application/json` is one event (which may be pretty-printed over several
//! lines; a body that is not one event but several lines is read as NDJSON);
//! `application/x-ndjson` (also `application/ndjson`, `application/jsonl`,
//! `application/x-jsonlines`) and a missing content type are NDJSON; anything else is `415`.
//!
//! What it must never do: apply an event before the signature is verified, apply one twice for
//! a replayed id, put the secret or internal error detail into an answer, or log a body.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::policy::signing::{parse_signatures, EventsSecret, Verifier};
use crate::policy::{parse_event, PolicyEvent};
use crate::rollback::sink::EventSink;
use crate::server::judge::{judge_batch, JudgeOptions, Judged};
use crate::server::metrics::Metrics;
use crate::store::events::{BatchStatus, BatchStored};
use crate::store::Store;

/// Largest body accepted (25 MiB); beyond it, `413`.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Longest line (one event) accepted (64 KiB); a longer one is malformed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Called with each line number as soon as that line has been parsed — before the body has
/// ended, hence before it is authenticated. For observation (tests, tracing) only: it must not
/// act on the line.
pub type LineHook = Arc<dyn Fn(usize) + Send + Sync>;

/// The receiver's clock (injected so tests control time): the crate's one clock type.
pub use crate::util::Clock;

/// Everything `POST /webhook/meta` needs.
#[derive(Clone)]
pub struct EventsState {
    pub store: Store,
    pub secret: EventsSecret,
    pub sink: Arc<dyn EventSink>,
    pub metrics: Arc<Metrics>,
    /// See [`LineHook`]; `None` in production.
    pub on_line: Option<LineHook>,
    /// "Now" for the timestamp window and the id claim.
    pub clock: Clock,
    /// How the batch's job is held, retried and waited for.
    pub judge: JudgeOptions,
}

impl EventsState {
    /// With the wall clock and no line hook.
    pub fn new(
        store: Store,
        secret: EventsSecret,
        sink: Arc<dyn EventSink>,
        metrics: Arc<Metrics>,
    ) -> EventsState {
        EventsState {
            store,
            secret,
            sink,
            metrics,
            on_line: None,
            clock: Arc::new(Utc::now),
            judge: JudgeOptions::default(),
        }
    }
}

/// The router of `POST /webhook/meta` (body cap [`MAX_BODY_BYTES`]).
pub fn events_routes(state: EventsState) -> Router {
    Router::new()
        .route("/webhook/meta", post(webhook_meta))
        .with_state(Arc::new(state))
}

/// A refusal: status and a one-line reason (never internal detail).
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn unauthorized(reason: impl Into<String>) -> Refusal {
    Refusal(StatusCode::UNAUTHORIZED, reason.into())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Refusal> {
    let v = headers
        .get(name)
        .ok_or_else(|| unauthorized(format!("missing {name} header")))?;
    v.to_str()
        .map(str::trim)
        .map_err(|_| unauthorized(format!("{name} header is not visible ASCII")))
}

/// How the body is split into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One JSON object (possibly over several lines).
    Single,
    /// One event per line.
    Ndjson,
}

fn mode(headers: &HeaderMap) -> Result<Mode, Refusal> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Mode::Ndjson);
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    match essence {
        "application/json" => Ok(Mode::Single),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => Ok(Mode::Ndjson),
        _ => Err(Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type must be application/json (one event) or application/x-ndjson".into(),
        )),
    }
}

/// Splits bytes into lines as they arrive, keeping at most [`MAX_LINE_BYTES`] of one line.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    /// The current line passed the cap (its bytes are dropped, not kept).
    overlong: bool,
    /// Number of the current (incomplete) line, from 1.
    number: usize,
}

/// One complete line: its number and its bytes, or `None` when it was over the cap.
type Line = (usize, Option<Vec<u8>>);

impl Lines {
    fn push_bytes(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.buf.len() + bytes.len() > MAX_LINE_BYTES {
            self.overlong = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn take(&mut self) -> Line {
        self.number += 1;
        let line = if self.overlong {
            None
        } else {
            let mut l = std::mem::take(&mut self.buf);
            if l.last() == Some(&b'\r') {
                l.pop();
            }
            Some(l)
        };
        self.overlong = false;
        (self.number, line)
    }

    /// Feed a chunk; complete lines go to `out`.
    fn feed(&mut self, mut chunk: &[u8], out: &mut impl FnMut(Line)) {
        while let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            self.push_bytes(&chunk[..i]);
            out(self.take());
            chunk = &chunk[i + 1..];
        }
        self.push_bytes(chunk);
    }

    /// The body ended: the last line, if it had any byte.
    fn finish(&mut self, out: &mut impl FnMut(Line)) {
        if self.overlong || !self.buf.is_empty() {
            out(self.take());
        }
    }
}

/// Events parsed so far (waiting for the signature) and lines refused.
#[derive(Default)]
struct Parsed {
    events: Vec<(usize, PolicyEvent)>,
    rejected: Vec<(usize, String)>,
}

impl Parsed {
    /// Judge one line: blank lines are skipped, the others parsed strictly.
    fn line(&mut self, (number, bytes): Line, hook: Option<&LineHook>) {
        let outcome = match bytes {
            None => Some(Err(format!("line is over {} KiB", MAX_LINE_BYTES / 1024))),
            Some(b) => match std::str::from_utf8(&b) {
                Err(_) => Some(Err("line is not UTF-8".to_string())),
                Ok(text) if text.trim().is_empty() => None,
                Ok(text) => Some(parse_event(text).map_err(|e| e.to_string())),
            },
        };
        match outcome {
            None => return,
            Some(Ok(ev)) => self.events.push((number, ev)),
            Some(Err(e)) => self.rejected.push((number, e)),
        }
        if let Some(h) = hook {
            h(number);
        }
    }
}

async fn webhook_meta(
    State(state): State<Arc<EventsState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(state.clone(), &headers, body).await {
        Ok(r) => r,
        Err(refusal) => {
            let outcome = match refusal.0 {
                StatusCode::UNAUTHORIZED => "unauthenticated",
                StatusCode::CONFLICT => "replay",
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                s if s.is_server_error() => "error",
                _ => "refused",
            };
            state.metrics.policy_event(outcome);
            refusal.into_response()
        }
    }
}

async fn handle(
    state: Arc<EventsState>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let id = header_str(headers, "webhook-id")?;
    let timestamp = header_str(headers, "webhook-timestamp")?;
    let signatures = header_str(headers, "webhook-signature")?;
    let mode = mode(headers)?;
    parse_signatures(signatures).map_err(|e| unauthorized(e.to_string()))?;
    let now = (state.clock)();
    let mut verifier = Verifier::new(&state.secret, id, timestamp, now.timestamp())
        .map_err(|e| unauthorized(e.to_string()))?;
    let too_large = || {
        Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is over {} MiB", MAX_BODY_BYTES / (1024 * 1024)),
        )
    };
    if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        let len = len.to_str().ok().and_then(|l| l.parse::<u64>().ok());
        if len.is_some_and(|l| l > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
    }

    // Read, hash and judge the body as it arrives; act on nothing yet.
    let hook = state.on_line.as_ref();
    let mut parsed = Parsed::default();
    let mut lines = Lines::default();
    let mut single: Vec<u8> = Vec::new();
    let mut single_overlong = false;
    let mut total = 0usize;
    let mut stream = body.into_data_stream();
    loop {
        let frame = poll_fn(|cx| Pin::new(&mut stream).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| {
            if crate::server::intake::over_budget(&e) {
                return Refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many body bytes in flight; nothing was applied; retry later".into(),
                );
            }
            Refusal(
                StatusCode::BAD_REQUEST,
                "the body could not be read to its end; nothing was applied".into(),
            )
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(chunk.len());
        if total > MAX_BODY_BYTES {
            return Err(too_large());
        }
        verifier.update(&chunk);
        match mode {
            Mode::Ndjson => lines.feed(&chunk, &mut |l| parsed.line(l, hook)),
            Mode::Single => {
                if single.len() + chunk.len() > MAX_LINE_BYTES {
                    single_overlong = true;
                    single = Vec::new();
                } else if !single_overlong {
                    single.extend_from_slice(&chunk);
                }
            }
        }
    }
    match mode {
        Mode::Ndjson => lines.finish(&mut |l| parsed.line(l, hook)),
        Mode::Single => judge_single(single, single_overlong, &mut parsed, hook),
    }

    // Authenticate before acting on anything.
    verifier
        .finish(signatures)
        .map_err(|e| unauthorized(format!("{e}; nothing was applied")))?;
    store_and_judge(state, id.to_string(), now, parsed).await
}

/// `application/json`: the whole body is one event; failing that, a body of several lines is
/// read as NDJSON.
fn judge_single(body: Vec<u8>, overlong: bool, parsed: &mut Parsed, hook: Option<&LineHook>) {
    if overlong {
        parsed.line((1, None), hook);
        return;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        parsed.line((1, Some(body)), hook);
        return;
    };
    match parse_event(text) {
        Ok(ev) => {
            parsed.events.push((1, ev));
            if let Some(h) = hook {
                h(1);
            }
        }
        Err(_) if text.trim().lines().filter(|l| !l.trim().is_empty()).count() > 1 => {
            let mut lines = Lines::default();
            lines.feed(text.as_bytes(), &mut |l| parsed.line(l, hook));
            lines.finish(&mut |l| parsed.line(l, hook));
        }
        Err(e) if text.trim().is_empty() => parsed.rejected.push((1, format!("empty body: {e}"))),
        Err(e) => {
            parsed.rejected.push((1, e.to_string()));
            if let Some(h) = hook {
                h(1);
            }
        }
    }
}

/// Store the verified events (all or nothing), then judge them in a task of their own and
/// answer with what was decided.
async fn store_and_judge(
    state: Arc<EventsState>,
    id: String,
    now: DateTime<Utc>,
    parsed: Parsed,
) -> Result<Response, Refusal> {
    let Parsed { events, rejected } = parsed;
    for _ in &rejected {
        state.metrics.policy_event("rejected");
    }
    let lines: Vec<usize> = events.iter().map(|(l, _)| *l).collect();
    let (stored_tx, stored_rx) = tokio::sync::oneshot::channel();
    let (judged_tx, judged_rx) = tokio::sync::oneshot::channel();
    {
        // From here on nothing the client does stops the work: the batch is stored, then
        // judged, even if this request is dropped.
        let state = state.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let owner = format!("meta:{}:{}", std::process::id(), id);
            let stored = state
                .store
                .store_event_batch(&id, &events, &owner, state.judge.lease, now)
                .await;
            let job = match &stored {
                Ok(BatchStored::Stored { job: Some(job), .. }) => Some(*job),
                _ => None,
            };
            let _ = stored_tx.send(stored);
            if let Some(job) = job {
                let judged = judge_batch(
                    &state.store,
                    &*state.sink,
                    &state.metrics,
                    &state.judge,
                    &id,
                    job,
                    &owner,
                )
                .await;
                let _ = judged_tx.send(judged);
            }
        });
    }
    let unavailable = || {
        Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable; nothing was applied; retry later".into(),
        )
    };
    let job = match stored_rx.await {
        Ok(Ok(BatchStored::Stored { job, .. })) => job,
        Ok(Ok(BatchStored::Replay)) => {
            let status = state.store.batch_status(&id).await.map_err(|e| {
                tracing::error!(error = %e, "webhook/meta: cannot read a batch's status");
                Refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("webhook-id {id} already seen (a replay); nothing new was applied; its status is unavailable"),
                )
            })?;
            return Err(Refusal(StatusCode::CONFLICT, replay_text(&id, &status)));
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "webhook/meta: cannot store the batch");
            return Err(unavailable());
        }
        Err(_) => return Err(unavailable()),
    };
    let Some(job) = job else {
        // No valid event: the id is used, nothing to judge.
        return Ok(answer(
            StatusCode::OK,
            0,
            &rejected,
            &Judged::default(),
            &[],
            None,
        ));
    };
    match tokio::time::timeout(state.judge.wait, judged_rx).await {
        Ok(Ok(Ok(judged))) => {
            let pending: Vec<usize> = judged.failed.iter().map(|(l, _)| *l).collect();
            let mut rejected = rejected;
            rejected.extend(pending.iter().map(|&l| {
                (
                    l,
                    format!("stored but not judged yet: internal error (see the server log); it is judged again automatically (job {job})"),
                )
            }));
            Ok(answer(
                StatusCode::OK,
                judged.decisions.len(),
                &rejected,
                &judged,
                &pending,
                Some(job),
            ))
        }
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "webhook/meta: cannot read the stored batch back");
            Ok(answer(
                StatusCode::ACCEPTED,
                0,
                &rejected,
                &Judged::default(),
                &lines,
                Some(job),
            ))
        }
        // Judging takes long (or its task ended): everything is stored, the job goes on.
        Ok(Err(_)) | Err(_) => Ok(answer(
            StatusCode::ACCEPTED,
            0,
            &rejected,
            &Judged::default(),
            &lines,
            Some(job),
        )),
    }
}

/// The 409 text for a replayed id: what that batch became.
fn replay_text(id: &str, s: &BatchStatus) -> String {
    if s.stored == 0 {
        return format!("webhook-id {id} already seen (a replay); nothing new was applied");
    }
    let waiting = s.stored - s.judged;
    let job = match &s.job {
        Some((job, state)) if waiting > 0 => format!(" (job {job}, {state})"),
        _ => String::new(),
    };
    format!(
        "webhook-id {id} already seen (a replay); nothing new was applied: all {} events of it \
         are stored, {} judged, {waiting} waiting to be judged{job}",
        s.stored, s.judged
    )
}

fn answer(
    status: StatusCode,
    accepted: usize,
    rejected: &[(usize, String)],
    judged: &Judged,
    pending: &[usize],
    job: Option<i64>,
) -> Response {
    let mut rejected = rejected.to_vec();
    rejected.sort_by_key(|(l, _)| *l);
    let rejected: Vec<_> = rejected
        .into_iter()
        .map(|(line, error)| json!({ "line": line, "error": error }))
        .collect();
    let decisions: Vec<_> = judged
        .decisions
        .iter()
        .map(|(line, _, a)| json!({ "line": line, "decision": a.decision }))
        .collect();
    let audit_hash = judged
        .decisions
        .iter()
        .rev()
        .find_map(|(_, _, a)| a.audit_hash.clone());
    let mut body = json!({
        "accepted": accepted,
        "rejected": rejected,
        "decisions": decisions,
    });
    if let Some(job) = job {
        body["job"] = json!(job);
        body["pending"] = json!(pending);
    }
    let mut resp = (status, Json(body)).into_response();
    if let Some(h) = audit_hash.and_then(|h| HeaderValue::from_str(&h).ok()) {
        resp.headers_mut().insert("x-audit-hash", h);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Line> {
        let mut out = Vec::new();
        let mut l = Lines::default();
        for c in chunks {
            l.feed(c, &mut |x| out.push(x));
        }
        l.finish(&mut |x| out.push(x));
        out
    }

    #[test]
    fn lines_split_across_chunks_with_numbers_and_crlf() {
        let got = split(&[b"ab", b"c\r\n\nde", b"f\n", b"g"]);
        assert_eq!(
            got,
            vec![
                (1, Some(b"abc".to_vec())),
                (2, Some(Vec::new())),
                (3, Some(b"def".to_vec())),
                (4, Some(b"g".to_vec())),
            ]
        );
        assert_eq!(split(&[b"x\n"]), vec![(1, Some(b"x".to_vec()))]);
    }

    #[test]
    fn an_overlong_line_is_dropped_not_kept() {
        let big = vec![b'a'; MAX_LINE_BYTES + 1];
        let got = split(&[&big[..10], &big[10..], b"\nok"]);
        assert_eq!(got, vec![(1, None), (2, Some(b"ok".to_vec()))]);
        let exact = vec![b'a'; MAX_LINE_BYTES];
        assert_eq!(split(&[&exact]), vec![(1, Some(exact.clone()))]);
    }

    #[test]
    fn blank_lines_are_skipped_and_bad_ones_numbered() {
        let mut p = Parsed::default();
        let ok = br#"{"repo":"o/r","commit":"abcdef1","metric":"m","value":1,"at":"2026-01-02T03:04:05Z"}"#;
        for l in split(&[ok, b"\n  \n{nope}\n", ok]) {
            p.line(l, None);
        }
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.events[1].0, 4);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].0, 3);
    }
}
