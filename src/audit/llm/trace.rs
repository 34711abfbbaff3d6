//! The span of one model call, named and attributed by the OpenTelemetry GenAI semantic
//! conventions: `chat <model>`, `gen_ai.operation.name`, `gen_ai.system`,
//! `gen_ai.request.model`, `gen_ai.request.max_tokens`, the usage the server reported
//! (`gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`), and what the call cost
//! (`patchgate.cost_usd`: the budget's settled amount, which is the estimate when the server
//! reported no usage). `error.type` says why a call gave no answer.
//!
//! What it must never record: the prompt, the completion, the API key or the endpoint's URL
//! (a base URL may carry credentials) — only the fields below.

use tracing::field::Empty;

use super::EndpointKind;

/// `gen_ai.system` of an endpoint kind.
fn system(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Openai => "openai",
        EndpointKind::Anthropic => "anthropic",
    }
}

/// The span of one call to `model` (retries included).
pub(super) fn chat_span(kind: EndpointKind, model: &str, max_tokens: u32) -> tracing::Span {
    tracing::info_span!(
        "chat",
        otel.name = %format!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.system = system(kind),
        gen_ai.request.model = model,
        gen_ai.request.max_tokens = max_tokens,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        patchgate.cost_usd = Empty,
        error.type = Empty,
    )
}

/// What the call came to: the usage the server reported, the cost charged, and why it failed.
pub(super) fn finish(
    span: &tracing::Span,
    reported: Option<(u64, u64)>,
    cost_usd: f64,
    error: Option<&'static str>,
) {
    if let Some((input, output)) = reported {
        span.record("gen_ai.usage.input_tokens", input);
        span.record("gen_ai.usage.output_tokens", output);
    }
    span.record("patchgate.cost_usd", cost_usd);
    if let Some(e) = error {
        span.record("error.type", e);
        span.record("otel.status_code", "error");
    }
}
