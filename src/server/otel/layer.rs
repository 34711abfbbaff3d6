//! The `tracing` layer behind the traces: each span it sees gets ids and keeps its fields as
//! attributes; a closed span goes to the exporter's channel.
//!
//! Field conventions (as `tracing-opentelemetry` reads them): `otel.name` replaces the span's
//! name, `otel.kind` sets its kind (`server`, `client`, `producer`, `consumer`, else
//! internal), `otel.status_code = "error"` marks it failed. Every other field is an attribute
//! under its own name. A span whose parent the layer saw continues that parent's trace; a span
//! without one starts a trace (or continues a remote one, [`super::set_parent`]).
//!
//! What it must never do: block. A span that finds the exporter's channel full is dropped and
//! counted (the exporter logs the count).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::SpanContext;

/// An attribute's value, as OTLP types it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// OTLP span kinds (`SPAN_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// A span being recorded (kept in the span's extensions), and what is exported once it closed.
#[derive(Debug, Clone)]
pub(super) struct OtelSpan {
    pub(super) ctx: SpanContext,
    /// The parent's span id (local or remote); `None` for a trace's root.
    pub(super) parent: Option<u64>,
    pub(super) name: String,
    pub(super) kind: Kind,
    pub(super) start: SystemTime,
    pub(super) end: SystemTime,
    pub(super) attributes: Vec<(&'static str, Value)>,
    pub(super) error: bool,
}

impl OtelSpan {
    fn set(&mut self, key: &'static str, value: Value) {
        match key {
            "otel.name" => {
                if let Value::Str(s) = value {
                    self.name = s;
                }
            }
            "otel.kind" => {
                if let Value::Str(s) = value {
                    self.kind = match s.to_ascii_lowercase().as_str() {
                        "server" => Kind::Server,
                        "client" => Kind::Client,
                        "producer" => Kind::Producer,
                        "consumer" => Kind::Consumer,
                        _ => Kind::Internal,
                    };
                }
            }
            "otel.status_code" => {
                self.error = matches!(&value, Value::Str(s) if s.eq_ignore_ascii_case("error"));
            }
            // The log's own message field is not an attribute.
            "message" => {}
            _ => match self.attributes.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => *v = value,
                None => self.attributes.push((key, value)),
            },
        }
    }
}

struct Fields<'a>(&'a mut OtelSpan);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.set(field.name(), Value::Str(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.set(field.name(), Value::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let v = i64::try_from(value).map_or_else(|_| Value::Str(value.to_string()), Value::Int);
        self.0.set(field.name(), v);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.set(field.name(), Value::Float(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.set(field.name(), Value::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.set(field.name(), Value::Str(format!("{value:?}")));
    }
}

/// Records spans and hands each closed one to the exporter.
pub struct OtelLayer {
    tx: mpsc::Sender<OtelSpan>,
    dropped: Arc<AtomicU64>,
}

impl OtelLayer {
    pub(super) fn new(tx: mpsc::Sender<OtelSpan>, dropped: Arc<AtomicU64>) -> OtelLayer {
        OtelLayer { tx, dropped }
    }
}

/// A random id that is not zero (zero means "no id" in OTLP).
fn nonzero<T: Default + PartialEq>(mut make: impl FnMut() -> T) -> T {
    loop {
        let v = make();
        if v != T::default() {
            return v;
        }
    }
}

impl<S> Layer<S> for OtelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<OtelSpan>().map(|s| s.ctx));
        let now = SystemTime::now();
        let mut data = OtelSpan {
            ctx: SpanContext {
                trace_id: parent.map_or_else(|| nonzero(rand::random::<u128>), |p| p.trace_id),
                span_id: nonzero(rand::random::<u64>),
            },
            parent: parent.map(|p| p.span_id),
            name: attrs.metadata().name().to_string(),
            kind: Kind::Internal,
            start: now,
            end: now,
            attributes: Vec::new(),
            error: false,
        };
        attrs.record(&mut Fields(&mut data));
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(data) = span.extensions_mut().get_mut::<OtelSpan>() {
                values.record(&mut Fields(data));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut data) = span.extensions_mut().remove::<OtelSpan>() else {
            return;
        };
        data.end = SystemTime::now();
        if self.tx.try_send(data).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
