//! The exporter: finished spans in, OTLP/HTTP JSON (`ExportTraceServiceRequest`) out.
//!
//! A thread of its own with a one-thread tokio runtime and a `reqwest` client (the client the
//! project already builds): spans arrive on a bounded channel from [`OtelLayer`]; the first
//! span of a batch starts the schedule delay, and the batch is posted when the delay is over
//! or [`MAX_BATCH`] spans are waiting. A failed post is logged (the collector's host and the
//! status, never the headers) and the batch is dropped: traces are worth less than the work
//! they describe, so nothing waits or retries for them. Dropping the [`ExportGuard`] flushes
//! what is waiting, within [`FLUSH_LIMIT`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as Json};
use tokio::sync::{mpsc, oneshot};

use super::layer::{OtelLayer, OtelSpan, Value};
use super::OtelConfig;

/// Spans waiting at most; more are dropped (and counted) until the exporter catches up.
const CHANNEL_CAPACITY: usize = 8192;

/// Spans per request at most.
pub(super) const MAX_BATCH: usize = 512;

/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long dropping the guard waits for the last batch.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// Keeps the exporter running; dropping it sends what is waiting and stops the thread.
pub struct ExportGuard {
    stop: Option<oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Drop for ExportGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            let _ = self.done.recv_timeout(FLUSH_LIMIT);
        }
    }
}

pub(super) fn start(config: OtelConfig) -> anyhow::Result<(OtelLayer, ExportGuard)> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let client = reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .build()
        .map_err(|e| anyhow::anyhow!("the OTLP exporter's HTTP client: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("the OTLP exporter's runtime: {e}"))?;
    let counter = Arc::clone(&dropped);
    std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || {
            runtime.block_on(run(config, client, rx, stop_rx, counter));
            let _ = done_tx.send(());
        })
        .map_err(|e| anyhow::anyhow!("starting the OTLP exporter: {e}"))?;
    Ok((
        OtelLayer::new(tx, dropped),
        ExportGuard {
            stop: Some(stop_tx),
            done: done_rx,
        },
    ))
}

async fn run(
    config: OtelConfig,
    client: reqwest::Client,
    mut rx: mpsc::Receiver<OtelSpan>,
    mut stop: oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
) {
    let mut failures = 0u32;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => if n == 0 { return },
            _ = &mut stop => stopping = true,
        }
        let deadline = tokio::time::Instant::now() + config.delay;
        while !stopping && batch.len() < MAX_BATCH {
            let room = MAX_BATCH - batch.len();
            tokio::select! {
                n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = &mut stop => stopping = true,
            }
        }
        if stopping {
            while let Ok(span) = rx.try_recv() {
                batch.push(span);
            }
        }
        for chunk in batch.chunks(MAX_BATCH) {
            post(&config, &client, chunk, &mut failures).await;
        }
        batch.clear();
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                spans = lost,
                "OTLP exporter: spans dropped (the collector is slower than the spans come)"
            );
        }
    }
}

async fn post(
    config: &OtelConfig,
    client: &reqwest::Client,
    spans: &[OtelSpan],
    failures: &mut u32,
) {
    if spans.is_empty() {
        return;
    }
    let mut req = client
        .post(config.endpoint.clone())
        .header("content-type", "application/json");
    for (name, value) in &config.headers {
        req = req.header(name, value);
    }
    let body = request_body(&config.service_name, spans).to_string();
    let failed = match req.body(body).send().await {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Some("timed out".to_string()),
        Err(e) if e.is_connect() => Some("cannot connect".to_string()),
        Err(_) => Some("request failed".to_string()),
    };
    match failed {
        None => *failures = 0,
        Some(why) => {
            *failures = failures.saturating_add(1);
            // The first failure, then every power of two: a collector that is down for hours
            // does not fill the log.
            if failures.is_power_of_two() {
                tracing::warn!(
                    collector = config.endpoint.host_str().unwrap_or("-"),
                    error = %why,
                    spans = spans.len(),
                    failures = *failures,
                    "OTLP exporter: could not send spans; they are dropped"
                );
            }
        }
    }
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn any_value(v: &Value) -> Json {
    match v {
        Value::Str(s) => json!({"stringValue": s}),
        // OTLP/JSON writes 64-bit integers as strings.
        Value::Int(i) => json!({"intValue": i.to_string()}),
        Value::Float(f) if f.is_finite() => json!({"doubleValue": f}),
        Value::Float(f) => json!({"stringValue": f.to_string()}),
        Value::Bool(b) => json!({"boolValue": b}),
    }
}

fn key_value(key: &str, v: &Value) -> Json {
    json!({"key": key, "value": any_value(v)})
}

/// One `ExportTraceServiceRequest` in OTLP's JSON mapping (ids in hex, times in nanoseconds
/// as strings, kinds and status codes as numbers).
pub(super) fn request_body(service_name: &str, spans: &[OtelSpan]) -> Json {
    let spans: Vec<Json> = spans
        .iter()
        .map(|s| {
            let mut span = json!({
                "traceId": format!("{:032x}", s.ctx.trace_id),
                "spanId": format!("{:016x}", s.ctx.span_id),
                "name": s.name,
                "kind": s.kind as u8,
                "startTimeUnixNano": nanos(s.start),
                "endTimeUnixNano": nanos(s.end),
                "attributes": s.attributes.iter().map(|(k, v)| key_value(k, v)).collect::<Vec<_>>(),
                "status": {"code": if s.error { 2 } else { 0 }},
            });
            if let Some(p) = s.parent {
                span["parentSpanId"] = json!(format!("{p:016x}"));
            }
            span
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            key_value("service.name", &Value::Str(service_name.to_string())),
            key_value("service.version", &Value::Str(env!("CARGO_PKG_VERSION").to_string())),
        ]},
        "scopeSpans": [{
            "scope": {"name": "patchgate", "version": env!("CARGO_PKG_VERSION")},
            "spans": spans,
        }],
    }]})
}
