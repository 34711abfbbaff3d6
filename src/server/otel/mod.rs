//! OpenTelemetry traces of `patchgate serve`: the `tracing` spans the code already opens,
//! exported over OTLP/HTTP with JSON bodies when an endpoint is configured.
//!
//! What it is for: one trace per delivery, from intake (`intake`) through the job queue (the
//! job row carries the intake span's W3C `traceparent`, see [`current_traceparent`] and
//! [`set_parent`]) to the worker (`job`), the gate (`gate`), each auditor (`audit`), each model
//! call (`chat <model>`, with the GenAI semantic conventions) and each GitHub request
//! (`GitHub <METHOD>`); and the trace id on every JSON log line written inside one of those
//! spans ([`WithTraceId`]).
//!
//! How: [`layer::OtelLayer`] is a `tracing` layer that gives each span of patchgate's own
//! targets a span id (and a trace id, inherited from its parent), keeps its attributes, and
//! hands the finished span to [`export`], a thread of its own that batches spans and posts
//! them to the collector. No endpoint: no layer, no thread — nothing beyond the spans the logs
//! already had.
//!
//! What it must never do: put a secret in a span (the spans carry only the fields the code
//! declares on them: delivery ids, repository names, routes, model names, token counts, cost —
//! never a prompt, a completion, a token or a header), print the collector's headers (they
//! often hold an API key), or block a request or a job on the collector (spans are dropped,
//! and counted, when the exporter falls behind).

mod export;
mod layer;

use std::time::Duration;

use anyhow::{bail, Context as _};
use tracing::Subscriber;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub use export::ExportGuard;
pub use layer::OtelLayer;

/// The default `service.name` (`OTEL_SERVICE_NAME` overrides it).
pub const DEFAULT_SERVICE_NAME: &str = "patchgate";

/// The default wait between exports (`OTEL_BSP_SCHEDULE_DELAY`, milliseconds).
pub const DEFAULT_DELAY: Duration = Duration::from_millis(5000);

/// Where and how traces are exported. `Debug` shows the collector's host, never its headers.
#[derive(Clone)]
pub struct OtelConfig {
    /// The full URL spans are posted to (`…/v1/traces`).
    pub endpoint: reqwest::Url,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`): often a collector's API key.
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    pub service_name: String,
    /// How long finished spans wait before they are sent (unless a batch fills first).
    pub delay: Duration,
}

impl std::fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelConfig")
            .field("endpoint_host", &self.endpoint.host_str())
            .field(
                "headers",
                &format!("{} (values hidden)", self.headers.len()),
            )
            .field("service_name", &self.service_name)
            .field("delay", &self.delay)
            .finish()
    }
}

impl OtelConfig {
    /// The exporter's configuration from the `serve` flag `--otlp-endpoint` (a base URL, like
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`) and the standard variables, read through `env`:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (`/v1/traces` appended), `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`,
    /// `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` (only `http/json`), `OTEL_SERVICE_NAME`,
    /// `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_SDK_DISABLED`. `None`: no endpoint (or disabled),
    /// so nothing is exported. Bad values are errors that name the variable, never its value.
    pub fn from_env(
        flag: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<OtelConfig>> {
        let var = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let flag = flag.map(str::trim).filter(|f| !f.is_empty());
        let (what, url) = if let Some(f) = flag {
            ("--otlp-endpoint", with_traces_path(f))
        } else if let Some(t) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", t)
        } else if let Some(b) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            ("OTEL_EXPORTER_OTLP_ENDPOINT", with_traces_path(&b))
        } else {
            return Ok(None);
        };
        let endpoint = reqwest::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .with_context(|| {
                format!("{what}: not an http:// or https:// URL (e.g. http://127.0.0.1:4318)")
            })?;
        for key in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(p) = var(key) {
                if p != "http/json" {
                    bail!(
                        "{key}={:?}: patchgate exports traces as OTLP over HTTP with JSON only; \
                         set it to http/json or unset it",
                        p.chars().take(32).collect::<String>()
                    );
                }
                break;
            }
        }
        let headers = match [
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ]
        .into_iter()
        .find_map(|k| var(k).map(|v| (k, v)))
        {
            Some((key, text)) => parse_headers(key, &text)?,
            None => Vec::new(),
        };
        let delay = match var("OTEL_BSP_SCHEDULE_DELAY") {
            None => DEFAULT_DELAY,
            Some(ms) => match ms.parse::<u64>() {
                Ok(ms) if (1..=600_000).contains(&ms) => Duration::from_millis(ms),
                _ => bail!("OTEL_BSP_SCHEDULE_DELAY: milliseconds from 1 to 600000 expected"),
            },
        };
        Ok(Some(OtelConfig {
            endpoint,
            headers,
            service_name: var("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string()),
            delay,
        }))
    }
}

/// A base endpoint with the traces path: `http://c:4318` → `http://c:4318/v1/traces`.
fn with_traces_path(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// `key1=value1,key2=value2` (values percent-decoded, as the OTLP exporter spec says). An
/// error names the variable and the entry's position, never a value.
fn parse_headers(
    var: &str,
    text: &str,
) -> anyhow::Result<Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>> {
    let mut out = Vec::new();
    for (i, entry) in text.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let bad = || anyhow::anyhow!("{var}: entry {} is not name=value", i + 1);
        let (name, value) = entry.split_once('=').ok_or_else(bad)?;
        let name =
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let mut value = reqwest::header::HeaderValue::from_bytes(&percent_decode(value.trim()))
            .map_err(|_| {
                anyhow::anyhow!(
                    "{var}: entry {}: the value is not a valid header value",
                    i + 1
                )
            })?;
        value.set_sensitive(true);
        out.push((name, value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A span's place in a trace: the W3C trace context of one span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: u128,
    pub span_id: u64,
}

impl SpanContext {
    /// The W3C `traceparent` header value (`00-<trace>-<span>-01`: sampled).
    pub fn traceparent(&self) -> String {
        format!("00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }

    /// Reads a `traceparent` (version `00`: four parts, lowercase hex, ids not all zero).
    pub fn parse(text: &str) -> Option<SpanContext> {
        let mut parts = text.trim().split('-');
        let (v, t, s, f) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if parts.next().is_some() || v != "00" || !hex(t, 32) || !hex(s, 16) || !hex(f, 2) {
            return None;
        }
        let ctx = SpanContext {
            trace_id: u128::from_str_radix(t, 16).ok()?,
            span_id: u64::from_str_radix(s, 16).ok()?,
        };
        (ctx.trace_id != 0 && ctx.span_id != 0).then_some(ctx)
    }
}

/// The `traceparent` of the current span, when traces are exported (else `None`): stored with
/// a queued job so that the worker's span continues the delivery's trace.
pub fn current_traceparent() -> Option<String> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            let ext = span.extensions();
            ext.get::<layer::OtelSpan>().map(|s| s.ctx.traceparent())
        })
        .flatten()
}

/// Make `span` a child of the remote span `traceparent` (a job's, stored by intake). Call it
/// right after creating the span, before any child of it exists. Does nothing when traces
/// are not exported or `traceparent` cannot be read (the span then starts a trace of its own).
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(remote) = traceparent.and_then(SpanContext::parse) else {
        return;
    };
    span.with_subscriber(|(id, dispatch)| {
        if let Some(span) = dispatch
            .downcast_ref::<tracing_subscriber::Registry>()
            .and_then(|r| r.span(id))
        {
            if let Some(s) = span.extensions_mut().get_mut::<layer::OtelSpan>() {
                s.ctx.trace_id = remote.trace_id;
                s.parent = Some(remote.span_id);
            }
        }
    });
}

/// The layer that records spans for export, and the guard that flushes the exporter when it
/// is dropped (keep it until the process ends).
pub fn start(config: OtelConfig) -> anyhow::Result<(OtelLayer, ExportGuard)> {
    export::start(config)
}

/// A JSON log line formatter that puts `"trace_id"` and `"span_id"` first in every line logged
/// inside an exported span (the innermost one), so that a log line leads to its trace. Lines
/// outside any exported span are the inner formatter's, unchanged.
pub struct WithTraceId<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let found = ctx.event_scope().and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<layer::OtelSpan>().map(|s| s.ctx))
        });
        let Some(found) = found else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{:032x}\",\"span_id\":\"{:016x}\"{}{rest}",
                found.trace_id,
                found.span_id,
                if rest.starts_with('}') { "" } else { "," }
            ),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests;
