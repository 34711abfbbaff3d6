//! Traces of render B builders (docs/operations.md, "Traces"): through `patchgate serve`, the
//! fake GitHub and the loopback OTLP receiver, a PR whose repository config asks a command
//! builder and a PR that asks a model builder each get a `build <name>` span, a child of their
//! delivery's `gate` span: the builder's name and kind, the outcome, its seconds and cost; the
//! model builder's call is the build span's child with the GenAI attributes (model, tokens,
//! cost), as an auditor's call is. Nothing of the request, the answer or the key is in a span.

use crate::render_b_serve::branches_named;
use crate::support;

use support::builders::{command_builder, demo_tree, fake_model};
use support::otlp::{OtlpReceiver, ReceivedSpan};
use support::world::World;

const BUILDER_KEY: &str = "builder-key-Wq71";

fn one(spans: &[ReceivedSpan], f: impl Fn(&ReceivedSpan) -> bool) -> &ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| f(s)).collect();
    assert_eq!(found.len(), 1, "{spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_and_model_builders_are_spans_of_their_deliverys_gate() {
    let mut w = World::new().await;
    branches_named(&mut w, "rb", "render_b: {builder: twin}\n");
    branches_named(&mut w, "rm", "render_b: {builder: coder}\n");
    // The model answers what is no render B: the build is unavailable, after a paid call.
    let model = fake_model(vec!["no files here".into()], (1200, 80)).await;
    let config = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(
        &w.config,
        format!(
            "{config}builders:\n{}  - {{name: coder, kind: openai, base_url: '{}', model: fake-coder, api_key_env: BUILDER_KEY, timeout_s: 20}}\nprices:\n  fake-coder: {{input: 1.0, output: 2.0}}\n",
            command_builder(
                "twin",
                "copy-tree.sh",
                &[&demo_tree("render-b"), "Add exponential-backoff retries"],
                ", timeout_s: 60",
            ),
            model.url
        ),
    )
    .unwrap();
    w.open_pr(7, "rb-a", "rb-base", "Retry HTTP fetches with backoff.");
    w.open_pr(8, "rm-a", "rm-base", "Retry HTTP fetches with backoff.");
    let otlp = OtlpReceiver::start().await;
    let endpoint = otlp.url();
    let mut s = w.serve(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("BUILDER_KEY", BUILDER_KEY),
        ],
    );
    for (n, d) in [(7, "d-build-7"), (8, "d-build-8")] {
        let (status, body) = s
            .deliver("pull_request", d, &w.pull_request_payload("opened", n))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    for head in ["rb-a", "rm-a"] {
        w.completed_run(&w.sha(head), &mut s);
    }
    let spans = s.wait_until("both jobs' spans at the receiver", 60, || {
        let spans = otlp.spans();
        (spans.iter().filter(|s| s.name == "job").count() >= 2).then_some(spans)
    });
    assert!(otlp.problems().is_empty(), "{:#?}", otlp.problems());

    // Each build is a child of its delivery's gate.
    for (name, kind, outcome, pr) in [
        ("twin", "command", "built", "7"),
        ("coder", "openai", "unavailable", "8"),
    ] {
        let build = one(&spans, |s| s.name == format!("build {name}"));
        let gate = one(&spans, |s| {
            s.name == "gate" && s.attr("pr").as_deref() == Some(pr)
        });
        assert_eq!(
            build.parent.as_deref(),
            Some(gate.span_id.as_str()),
            "{name}"
        );
        assert_eq!(build.trace_id, gate.trace_id, "{name}");
        assert_eq!(build.attr("patchgate.builder").as_deref(), Some(name));
        assert_eq!(build.attr("patchgate.builder.kind").as_deref(), Some(kind));
        assert_eq!(
            build.attr("patchgate.outcome").as_deref(),
            Some(outcome),
            "{build:#?}"
        );
        let seconds: f64 = build.attr("patchgate.seconds").unwrap().parse().unwrap();
        assert!(seconds >= 0.0, "{build:#?}");
        assert!(build.attr("patchgate.cost_usd").is_some(), "{build:#?}");
    }
    let coder = one(&spans, |s| s.name == "build coder");
    assert_eq!(coder.attr("error.type").as_deref(), Some("unavailable"));
    assert_eq!(
        coder.attr("gen_ai.request.model").as_deref(),
        Some("fake-coder")
    );
    // The model builder's call: a GenAI span under its build span.
    let chat = one(&spans, |s| s.name == "chat fake-coder");
    assert_eq!(chat.parent.as_deref(), Some(coder.span_id.as_str()));
    assert_eq!(chat.kind, 3, "client");
    for (key, value) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.system", "openai"),
        ("gen_ai.request.model", "fake-coder"),
        ("gen_ai.usage.input_tokens", "1200"),
        ("gen_ai.usage.output_tokens", "80"),
    ] {
        assert_eq!(chat.attr(key).as_deref(), Some(value), "{key}: {chat:#?}");
    }
    // USD 1 per million input tokens, 2 per million output tokens: the build's cost is the call's.
    let cost: f64 = chat.attr("patchgate.cost_usd").unwrap().parse().unwrap();
    assert!((cost - (1200.0 + 160.0) / 1e6).abs() < 1e-12, "{cost}");
    let build_cost: f64 = coder.attr("patchgate.cost_usd").unwrap().parse().unwrap();
    assert!((build_cost - cost).abs() < 1e-12, "{build_cost} vs {cost}");

    for span in &spans {
        let text = format!("{:?}", span.attributes);
        for secret in [BUILDER_KEY, "no files here", "exponential-backoff retries"] {
            assert!(!text.contains(secret), "{secret} in {span:#?}");
        }
    }
    w.assert_no_violations();
    let (status, _) = s.stop();
    assert!(status.success());
}
