//! Loopback test doubles for traces: an OTLP/HTTP receiver (`POST /v1/traces`, JSON bodies, as
//! a collector takes them) that keeps every span it got, and an OpenAI-compatible model that
//! approves every change and reports its token usage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// One span as the receiver got it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent: Option<String>,
    pub name: String,
    pub kind: u64,
    pub status: u64,
    /// Each attribute's value as OTLP typed it (`{"stringValue": …}`, `{"intValue": "…"}`, …).
    pub attributes: BTreeMap<String, Value>,
    /// The resource's attributes (`service.name`, …).
    pub resource: BTreeMap<String, Value>,
}

impl ReceivedSpan {
    /// A string attribute, or an integer one as its text.
    pub fn attr(&self, key: &str) -> Option<String> {
        let v = self.attributes.get(key)?;
        ["stringValue", "intValue"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
            .or_else(|| v.get("boolValue").map(|b| b.to_string()))
            .or_else(|| v.get("doubleValue").map(|d| d.to_string()))
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    requests: usize,
    /// Header values of each request, by name.
    headers: Vec<BTreeMap<String, String>>,
    problems: Vec<String>,
}

/// The receiver: `url()` is what `OTEL_EXPORTER_OTLP_ENDPOINT` is set to.
pub struct OtlpReceiver {
    url: String,
    got: Arc<Mutex<Received>>,
}

impl OtlpReceiver {
    pub async fn start() -> OtlpReceiver {
        let got = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(Arc::clone(&got));
        let url = serve(app).await;
        OtlpReceiver { url, got }
    }

    /// `http://127.0.0.1:PORT`: the base endpoint (the exporter appends `/v1/traces`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.got.lock().unwrap().spans.clone()
    }

    /// Export requests received.
    pub fn requests(&self) -> usize {
        self.got.lock().unwrap().requests
    }

    pub fn headers(&self) -> Vec<BTreeMap<String, String>> {
        self.got.lock().unwrap().headers.clone()
    }

    /// Requests that were not OTLP JSON as the specification writes it.
    pub fn problems(&self) -> Vec<String> {
        self.got.lock().unwrap().problems.clone()
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("loopback server");
    });
    url
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn key_values(v: &Value) -> BTreeMap<String, Value> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            Some((
                kv.get("key")?.as_str()?.to_string(),
                kv.get("value")?.clone(),
            ))
        })
        .collect()
}

async fn traces(
    State(got): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Json<Value> {
    let mut got = got.lock().unwrap();
    got.requests += 1;
    got.headers.push(
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
    );
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        got.problems
            .push("content-type is not application/json".into());
    }
    let doc: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            got.problems.push(format!("not JSON: {e}"));
            return Json(json!({}));
        }
    };
    for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
        let resource = key_values(&rs["resource"]["attributes"]);
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
                let span = ReceivedSpan {
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent: s["parentSpanId"].as_str().map(str::to_string),
                    name: text("name"),
                    kind: s["kind"].as_u64().unwrap_or(0),
                    status: s["status"]["code"].as_u64().unwrap_or(0),
                    attributes: key_values(&s["attributes"]),
                    resource: resource.clone(),
                };
                let times = ["startTimeUnixNano", "endTimeUnixNano"]
                    .map(|k| s[k].as_str().and_then(|t| t.parse::<u128>().ok()));
                let well_formed = is_hex(&span.trace_id, 32)
                    && is_hex(&span.span_id, 16)
                    && span.parent.as_deref().is_none_or(|p| is_hex(p, 16))
                    && matches!(times, [Some(a), Some(b)] if a > 0 && a <= b);
                if !well_formed {
                    got.problems.push(format!("malformed span: {s}"));
                }
                got.spans.push(span);
            }
        }
    }
    Json(json!({}))
}

/// An OpenAI-compatible chat endpoint (`{url}/v1/chat/completions`) that approves every change
/// and reports `usage` as given.
pub struct FakeModel {
    pub url: String,
}

impl FakeModel {
    pub async fn start(prompt_tokens: u64, completion_tokens: u64) -> FakeModel {
        let answer = json!({
            "verdict": "approve",
            "reason": "looks fine",
            "findings": [],
            "explanation": "The change retries failed fetches with backoff.",
        });
        let reply = json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.to_string()},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        });
        let app = Router::new().route(
            "/v1/chat/completions",
            post(move || {
                let reply = reply.clone();
                async move { Json(reply) }
            }),
        );
        FakeModel {
            url: serve(app).await,
        }
    }
}
