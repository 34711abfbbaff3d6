//! OpenTelemetry traces of `patchgate serve` (docs/operations.md, "Traces"): the real binary,
//! a signed delivery, the fake GitHub, a loopback model that reports its token usage, and a
//! loopback OTLP/HTTP receiver that keeps every span it is sent.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::otlp::{FakeModel, OtlpReceiver, ReceivedSpan};
use support::world::{World, SECRET};

/// The World's server config with one auditor swapped for a model on `model_url`: Rule-Guard,
/// a command auditor and the model, two approvals required.
fn config_with_a_model(w: &World, model_url: &str) {
    let auditor = w.dir.path().join("auditor.sh");
    std::fs::write(
        &w.config,
        format!(
            "auditors:\n  - {{name: rule-guard, kind: rules}}\n  - {{name: team-a, kind: command, command: [sh, {a}], timeout_s: 120}}\n  - {{name: reviewer, kind: openai, base_url: \"{model_url}/v1\", model: fake-model, api_key_env: FAKE_MODEL_API_KEY, timeout_s: 30}}\nquorum: {{required: 2}}\nprices: {{fake-model: {{input: 1.0, output: 2.0}}}}\n",
            a = auditor.display()
        ),
    )
    .unwrap();
}

/// The JSON lines of a server log.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

fn one<'a>(
    spans: &'a [ReceivedSpan],
    what: &str,
    f: impl Fn(&ReceivedSpan) -> bool,
) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| f(s)).collect();
    assert_eq!(found.len(), 1, "expected one {what} span in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_delivery_is_one_trace_from_intake_through_the_worker_gate_auditors_and_github() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    let model = FakeModel::start(321, 45).await;
    config_with_a_model(&w, &model.url);
    let otlp = OtlpReceiver::start().await;
    let endpoint = otlp.url();
    let mut s = w.serve(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-collector-key=collector-secret-1",
            ),
            ("FAKE_MODEL_API_KEY", "model-key-Zq81"),
        ],
    );
    let (status, body) = s
        .deliver(
            "pull_request",
            "d-otel-1",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    // The job's span ends last (after the check run): wait for it to be exported.
    let spans = s.wait_until("the job's span at the receiver", 30, || {
        let spans = otlp.spans();
        spans.iter().any(|s| s.name == "job").then_some(spans)
    });
    assert!(otlp.problems().is_empty(), "{:#?}", otlp.problems());

    // One trace: intake is its root, and every span of the delivery is in it.
    let intake = one(&spans, "intake", |s| s.name == "POST /webhook/github");
    assert_eq!(intake.parent, None);
    assert_eq!(intake.kind, 2, "server");
    assert_eq!(intake.attr("delivery").as_deref(), Some("d-otel-1"));
    assert_eq!(intake.attr("event").as_deref(), Some("pull_request"));
    assert_eq!(
        intake.attr("http.response.status_code").as_deref(),
        Some("202")
    );
    let trace = intake.trace_id.clone();
    let ours: Vec<ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == trace)
        .cloned()
        .collect();
    assert_eq!(
        ours.len(),
        spans.len(),
        "every span belongs to the delivery's trace: {spans:#?}"
    );
    assert_eq!(
        intake.resource.get("service.name"),
        Some(&serde_json::json!({"stringValue": "patchgate"}))
    );

    // intake -> job (through the queue) -> gate -> one span per auditor -> the model's call.
    let job = one(&ours, "job", |s| s.name == "job");
    assert_eq!(
        job.parent.as_deref(),
        Some(intake.span_id.as_str()),
        "the job continues the delivery's trace"
    );
    assert_eq!(job.kind, 5, "consumer");
    assert_eq!(job.attr("delivery").as_deref(), Some("d-otel-1"));
    assert_eq!(job.attr("outcome").as_deref(), Some("done"));
    let gate = one(&ours, "gate", |s| s.name == "gate");
    assert_eq!(gate.parent.as_deref(), Some(job.span_id.as_str()));
    assert_eq!(gate.attr("pr").as_deref(), Some("1"));
    assert_eq!(
        gate.attr("patchgate.quorum_passed").as_deref(),
        Some("true")
    );
    for name in ["rule-guard", "team-a", "reviewer"] {
        let a = one(&ours, name, |s| s.name == format!("audit {name}"));
        assert_eq!(a.parent.as_deref(), Some(gate.span_id.as_str()), "{name}");
        assert_eq!(a.attr("patchgate.auditor").as_deref(), Some(name));
        assert_eq!(
            a.attr("patchgate.verdict").as_deref(),
            Some("approve"),
            "{name}"
        );
    }
    let reviewer = one(&ours, "reviewer", |s| s.name == "audit reviewer");
    let chat = one(&ours, "model call", |s| s.name == "chat fake-model");
    assert_eq!(chat.parent.as_deref(), Some(reviewer.span_id.as_str()));
    assert_eq!(chat.kind, 3, "client");
    for (key, value) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.system", "openai"),
        ("gen_ai.request.model", "fake-model"),
        ("gen_ai.usage.input_tokens", "321"),
        ("gen_ai.usage.output_tokens", "45"),
    ] {
        assert_eq!(chat.attr(key).as_deref(), Some(value), "{key}: {chat:#?}");
    }
    // USD 1 per million input tokens, 2 per million output tokens.
    let cost: f64 = chat.attr("patchgate.cost_usd").unwrap().parse().unwrap();
    assert!((cost - (321.0 + 90.0) / 1e6).abs() < 1e-12, "{cost}");

    // GitHub calls: the check run is created and completed inside the gate, the pull request
    // is read by the job before it.
    let github: Vec<&ReceivedSpan> = ours
        .iter()
        .filter(|s| s.name.starts_with("GitHub "))
        .collect();
    let check_runs: Vec<&&ReceivedSpan> = github
        .iter()
        .filter(|s| {
            s.attr("url.path")
                .is_some_and(|p| p.contains("/check-runs"))
        })
        .collect();
    assert!(check_runs.len() >= 2, "{github:#?}");
    for c in &check_runs {
        assert_eq!(c.parent.as_deref(), Some(gate.span_id.as_str()), "{c:#?}");
        assert_eq!(c.kind, 3, "client");
    }
    let created = check_runs
        .iter()
        .find(|c| c.name == "GitHub POST")
        .expect("the check run's creation");
    assert_eq!(created.attr("http.request.method").as_deref(), Some("POST"));
    assert_eq!(
        created.attr("http.response.status_code").as_deref(),
        Some("201")
    );
    assert!(
        github
            .iter()
            .any(|g| g.parent.as_deref() == Some(job.span_id.as_str())
                && g.attr("url.path").as_deref() == Some("/repos/octo/linkwatch/pulls/1")),
        "{github:#?}"
    );

    // Nothing secret in any span: no webhook secret, token, header value or prompt.
    for span in &spans {
        let text = format!("{:?}", span.attributes);
        for secret in [
            SECRET,
            "collector-secret-1",
            "model-key-Zq81",
            "ghs_",
            "Bearer",
            "exponential backoff",
        ] {
            assert!(!text.contains(secret), "{secret} in {span:#?}");
        }
    }
    // The collector got its header, and the log never shows it.
    assert!(otlp
        .headers()
        .iter()
        .all(|h| h.get("x-collector-key").map(String::as_str) == Some("collector-secret-1")));

    // The trace id is on the JSON log lines of the delivery: intake's and the job's.
    let log = s.log();
    assert!(!log.contains("collector-secret-1"));
    let lines = json_lines(&log);
    let traced = |message: &str| {
        lines
            .iter()
            .any(|l| l["message"] == message && l["trace_id"] == trace.as_str())
    };
    assert!(
        traced("webhook"),
        "no webhook line with trace id {trace}:\n{log}"
    );
    assert!(
        traced("job done"),
        "no job line with trace id {trace}:\n{log}"
    );
    assert!(
        lines.iter().any(|l| l["message"] == "gate decided"
            && l["trace_id"] == trace.as_str()
            && l["span_id"] == gate.span_id.as_str()),
        "the gate's line names the gate's span:\n{log}"
    );
    let (status, _) = s.stop();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_exported_and_logs_have_no_trace_id() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    let otlp = OtlpReceiver::start().await;
    let endpoint = otlp.url();
    // An endpoint, but the SDK switched off: the same as none.
    let disabled = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SDK_DISABLED", "true"),
    ];
    let no_endpoint = [("OTEL_BSP_SCHEDULE_DELAY", "100")];
    for (n, env) in [&disabled[..], &no_endpoint[..]].into_iter().enumerate() {
        let mut s = w.serve(&[], env);
        let delivery = format!("d-quiet-{n}");
        let (status, body) = s
            .deliver(
                "pull_request",
                &delivery,
                &w.pull_request_payload("opened", 1),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let log_path = s.log.clone();
        let done = s.wait_until("the job to be done", 120, || {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            log.contains("\"job done\"").then_some(log)
        });
        // Longer than the exporter's delay: anything exported would have arrived.
        let settle = Instant::now() + Duration::from_millis(600);
        while Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(50));
        }
        let lines = json_lines(&done);
        assert!(lines.iter().any(|l| l["message"] == "webhook"), "{done}");
        assert!(
            lines.iter().all(|l| l.get("trace_id").is_none()),
            "a trace id without traces:\n{done}"
        );
        assert!(!done.contains("traces: exporting"), "{done}");
        let (status, _) = s.stop();
        assert!(status.success());
    }
    assert_eq!(otlp.requests(), 0, "{:?}", otlp.spans());
}

use support::pg::Fixture;

both_backends!(
    "pgotel";
    the_queue_keeps_each_jobs_traceparent,
);

/// The trace context survives the queue (migration 0011): a job prepared with intake's
/// `traceparent` is claimed with it, in the batch's order, and a job queued without one (a
/// reconciliation or redelivery pass) is claimed without.
async fn the_queue_keeps_each_jobs_traceparent(f: &Fixture, backend: &str) {
    use patchgate::store::{NewJob, PreparedJob};
    let s = f.open().await;
    let job = |n: u32| NewJob {
        delivery_id: format!("d-{n}"),
        event: "pull_request".into(),
        payload: br#"{"action":"opened"}"#.to_vec(),
        repo: "octo/linkwatch".into(),
    };
    let tp = |n: u32| format!("00-{:032x}-{:016x}-01", 0xabc0 + n, 0x10 + n);
    let batch = vec![
        PreparedJob::new(job(1)).with_traceparent(Some(tp(1))),
        PreparedJob::new(job(2)),
        PreparedJob::new(job(3)).with_traceparent(Some(tp(3))),
    ];
    s.enqueue_prepared(&batch).await.unwrap();
    s.enqueue(&job(4)).await.unwrap();
    let mut got = Vec::new();
    let now = chrono::Utc::now();
    while let Some(j) = s
        .claim("w", Duration::from_secs(30), 5, now)
        .await
        .unwrap()
        .job
    {
        got.push((j.delivery_id, j.traceparent));
    }
    assert_eq!(
        got,
        vec![
            ("d-1".to_string(), Some(tp(1))),
            ("d-2".to_string(), None),
            ("d-3".to_string(), Some(tp(3))),
            ("d-4".to_string(), None),
        ],
        "{backend}"
    );
}
