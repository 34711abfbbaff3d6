use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tracing_subscriber::layer::SubscriberExt as _;

use super::layer::{Kind, OtelLayer, OtelSpan, Value};
use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn config(flag: Option<&str>, pairs: &[(&str, &str)]) -> anyhow::Result<Option<OtelConfig>> {
    OtelConfig::from_env(flag, &env_of(pairs))
}

#[test]
fn no_endpoint_no_exporter() {
    assert!(config(None, &[]).unwrap().is_none());
    assert!(config(Some(" "), &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])
        .unwrap()
        .is_none());
    // Disabled wins over any endpoint.
    let off = [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
    ];
    assert!(config(Some("http://127.0.0.1:4318"), &off)
        .unwrap()
        .is_none());
}

#[test]
fn endpoints_in_order_of_precedence() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/");
    let traces = (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "https://traces:4318/custom/path",
    );
    let url =
        |flag, pairs: &[(&str, &str)]| config(flag, pairs).unwrap().unwrap().endpoint.to_string();
    assert_eq!(url(None, &[base]), "http://base:4318/v1/traces");
    assert_eq!(
        url(None, &[base, traces]),
        "https://traces:4318/custom/path"
    );
    assert_eq!(
        url(Some("http://flag:4318"), &[base, traces]),
        "http://flag:4318/v1/traces"
    );
    let c = config(None, &[base]).unwrap().unwrap();
    assert_eq!(c.service_name, "patchgate");
    assert_eq!(c.delay, DEFAULT_DELAY);
    let c = config(
        None,
        &[
            base,
            ("OTEL_SERVICE_NAME", "gate-eu"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(c.service_name, "gate-eu");
    assert_eq!(c.delay, Duration::from_millis(250));
}

#[test]
fn bad_settings_are_errors_that_name_the_variable_not_the_value() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://user:hunter2@x")],
            "OTEL_EXPORTER_OTLP_ENDPOINT: not an http",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "hunter2")],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: not an http",
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            "JSON only",
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ],
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=hunter2,hunter2"),
            ],
            "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not name=value",
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x=hunter2%0A"),
            ],
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 1: the value is not a valid header value",
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
            ],
            "OTEL_BSP_SCHEDULE_DELAY",
        ),
    ];
    for (pairs, says) in cases {
        let e = format!("{:#}", config(None, pairs).unwrap_err());
        assert!(e.contains(says), "{pairs:?}: {e}");
        assert!(!e.contains("hunter2"), "{pairs:?} echoed a value: {e}");
    }
    let e = format!("{:#}", config(Some("not a url"), &[]).unwrap_err());
    assert!(e.contains("--otlp-endpoint"), "{e}");
}

#[test]
fn headers_are_decoded_and_never_printed() {
    let c = config(
        None,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=s3cr%3Dt, x-tenant = acme ,",
            ),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(c.headers.len(), 2);
    assert_eq!(c.headers[0].0.as_str(), "x-api-key");
    assert_eq!(c.headers[0].1.as_bytes(), b"s3cr=t");
    assert!(c.headers[0].1.is_sensitive());
    assert_eq!(c.headers[1].1.as_bytes(), b"acme");
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("s3cr") && !shown.contains("acme"),
        "{shown}"
    );
    assert!(shown.contains("\"c\""), "{shown}");
}

#[test]
fn traceparent_round_trips_and_refuses_garbage() {
    let ctx = SpanContext {
        trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
        span_id: 0x00f067aa0ba902b7,
    };
    let tp = ctx.traceparent();
    assert_eq!(
        tp,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(SpanContext::parse(&tp), Some(ctx));
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ] {
        assert_eq!(SpanContext::parse(bad), None, "{bad:?}");
    }
}

/// A subscriber with the layer, and the channel its closed spans arrive on.
fn recording() -> (
    impl tracing::Subscriber + Send + Sync,
    mpsc::Receiver<OtelSpan>,
) {
    let (tx, rx) = mpsc::channel(64);
    let layer = OtelLayer::new(tx, Arc::new(AtomicU64::new(0)));
    (tracing_subscriber::registry().with(layer), rx)
}

fn drain(rx: &mut mpsc::Receiver<OtelSpan>) -> Vec<OtelSpan> {
    let mut out = Vec::new();
    while let Ok(s) = rx.try_recv() {
        out.push(s);
    }
    out
}

#[test]
fn spans_form_one_trace_across_the_queue() {
    let (subscriber, mut rx) = recording();
    tracing::subscriber::with_default(subscriber, || {
        let intake = tracing::info_span!("intake", otel.kind = "server", delivery = "d-1");
        let stored = intake.in_scope(current_traceparent).expect("a traceparent");
        drop(intake);
        // The worker, later: its span continues the stored trace.
        let job = tracing::info_span!(
            "job",
            otel.kind = "consumer",
            outcome = tracing::field::Empty
        );
        set_parent(&job, Some(&stored));
        job.in_scope(|| {
            let chat = tracing::info_span!(
                "chat",
                otel.name = "chat m1",
                otel.status_code = tracing::field::Empty,
                gen_ai.usage.input_tokens = tracing::field::Empty,
            );
            chat.record("gen_ai.usage.input_tokens", 12u64);
            chat.record("otel.status_code", "error");
        });
        job.record("outcome", "done");
    });
    let spans = drain(&mut rx);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["intake", "chat m1", "job"]);
    let (intake, chat, job) = (&spans[0], &spans[1], &spans[2]);
    assert_eq!(intake.parent, None);
    assert_eq!(intake.kind, Kind::Server);
    assert_eq!(job.kind, Kind::Consumer);
    assert_eq!(job.parent, Some(intake.ctx.span_id));
    assert_eq!(chat.parent, Some(job.ctx.span_id));
    for s in [&job, &chat] {
        assert_eq!(s.ctx.trace_id, intake.ctx.trace_id);
    }
    assert!(chat.error && !job.error);
    assert_eq!(
        chat.attributes,
        vec![("gen_ai.usage.input_tokens", Value::Int(12))]
    );
    assert!(job
        .attributes
        .contains(&("outcome", Value::Str("done".into()))));
    assert!(job.start <= job.end);
}

#[test]
fn an_unreadable_traceparent_starts_a_trace_of_its_own() {
    let (subscriber, mut rx) = recording();
    tracing::subscriber::with_default(subscriber, || {
        let job = tracing::info_span!("job");
        set_parent(&job, Some("garbage"));
        drop(job);
    });
    let spans = drain(&mut rx);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent, None);
    assert_ne!(spans[0].ctx.trace_id, 0);
}

#[test]
fn without_the_layer_there_is_no_trace_context() {
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("intake");
        assert_eq!(span.in_scope(current_traceparent), None);
    });
}

#[test]
fn json_log_lines_carry_the_trace_id() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let out = buf.clone();
    let (tx, mut rx) = mpsc::channel(64);
    let lines = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_writer(move || out.clone())
        .map_event_format(WithTraceId);
    let subscriber = tracing_subscriber::registry()
        .with(lines)
        .with(OtelLayer::new(tx, Arc::new(AtomicU64::new(0))));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside");
        tracing::info_span!("job").in_scope(|| tracing::info!(n = 1, "inside"));
    });
    let spans = drain(&mut rx);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].get("trace_id").is_none(), "{text}");
    assert_eq!(
        lines[1]["trace_id"],
        format!("{:032x}", spans[0].ctx.trace_id)
    );
    assert_eq!(
        lines[1]["span_id"],
        format!("{:016x}", spans[0].ctx.span_id)
    );
    assert_eq!(lines[1]["message"], "inside");
}

#[test]
fn the_request_body_is_otlp_json() {
    let span = OtelSpan {
        ctx: SpanContext {
            trace_id: 1,
            span_id: 2,
        },
        parent: Some(3),
        name: "chat m1".into(),
        kind: Kind::Client,
        start: std::time::UNIX_EPOCH + Duration::from_nanos(5),
        end: std::time::UNIX_EPOCH + Duration::from_nanos(9),
        attributes: vec![
            ("gen_ai.system", Value::Str("openai".into())),
            ("gen_ai.usage.input_tokens", Value::Int(120)),
            ("patchgate.cost_usd", Value::Float(0.25)),
            ("ok", Value::Bool(true)),
        ],
        error: true,
    };
    let body = export::request_body("patchgate", &[span]);
    let rs = &body["resourceSpans"][0];
    assert_eq!(
        rs["resource"]["attributes"][0],
        serde_json::json!({"key": "service.name", "value": {"stringValue": "patchgate"}})
    );
    let s = &rs["scopeSpans"][0]["spans"][0];
    assert_eq!(s["traceId"], "00000000000000000000000000000001");
    assert_eq!(s["spanId"], "0000000000000002");
    assert_eq!(s["parentSpanId"], "0000000000000003");
    assert_eq!(s["kind"], 3);
    assert_eq!(s["startTimeUnixNano"], "5");
    assert_eq!(s["endTimeUnixNano"], "9");
    assert_eq!(s["status"]["code"], 2);
    assert_eq!(
        s["attributes"],
        serde_json::json!([
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
            {"key": "patchgate.cost_usd", "value": {"doubleValue": 0.25}},
            {"key": "ok", "value": {"boolValue": true}},
        ])
    );
}
