//! Model auditors against fake OpenAI-compatible and Anthropic servers on 127.0.0.1 that
//! record every request: verdicts and cost, secret masking, retries, timeouts, malformed
//! answers, missing keys, degraded mode, the daily budget and its fallback, the prompt budget.
//!
//! It must never reach the network beyond 127.0.0.1, nor take long: backoffs are
//! milliseconds, `Retry-After` at most 1 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use patchgate::audit::budget::Budget;
use patchgate::audit::llm::price::PriceTable;
use patchgate::audit::llm::retry::RetryPolicy;
use patchgate::audit::llm::{
    prompt, AuditMode, EndpointKind, ModelAuditor, ModelAuditorConfig, ModelEndpoint, Secret,
};
use patchgate::audit::quorum::Auditor;
use patchgate::audit::rule_guard::{FileStatus, RuleSet};
use patchgate::audit::spend::{MemorySpend, SpendStore};
use patchgate::audit::vote::{AuditInput, ChangedFileView, Verdict};

const KEY: &str = "sk-test-0123456789";

/// One recorded request.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HashMap<String, String>,
    raw: String,
    body: Value,
}

/// One scripted answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    fn status(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

type Responder = Arc<dyn Fn(usize, &Value) -> Reply + Send + Sync>;

struct Fake {
    recorded: Mutex<Vec<Recorded>>,
    responder: Responder,
}

struct Server {
    url: String,
    state: Arc<Fake>,
}

impl Server {
    fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }
}

async fn handle(
    axum::extract::State(s): axum::extract::State<Arc<Fake>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = String::from_utf8_lossy(&body).to_string();
    let json: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let n = {
        let mut r = s.recorded.lock().unwrap();
        r.push(Recorded {
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            raw,
            body: json.clone(),
        });
        r.len() - 1
    };
    let reply = (s.responder)(n, &json);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap(),
        reply.body.clone(),
    )
        .into_response();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

async fn serve(responder: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static) -> Server {
    let state = Arc::new(Fake {
        recorded: Mutex::new(Vec::new()),
        responder: Arc::new(responder),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        url: format!("http://{addr}"),
        state,
    }
}

fn verdict_json(verdict: &str) -> String {
    json!({
        "verdict": verdict,
        "reason": format!("the change looks {verdict}"),
        "findings": if verdict == "reject" {
            json!([{"category":"security","file":"src/lib.rs","line":2,"severity":"error",
                    "message":"unchecked input"}])
        } else { json!([]) },
        "explanation": "adds a function",
    })
    .to_string()
}

fn openai_answer(text: &str, prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "m",
        "choices": [{"index":0,"message":{"role":"assistant","content":text},"finish_reason":"stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}
    })
}

fn anthropic_answer(text: &str, input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type":"text","text":text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}
    })
}

fn prices() -> PriceTable {
    PriceTable::new()
        .with("main", 1.0, 2.0)
        .unwrap()
        .with("claude", 3.0, 15.0)
        .unwrap()
        .with("big", 100.0, 400.0)
        .unwrap()
        .with("small", 0.1, 0.4)
        .unwrap()
}

fn fixed_clock() -> Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> {
    let t = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    Arc::new(move || t)
}

fn budget(cap: f64, store: Arc<dyn SpendStore>) -> Budget {
    Budget::with_clock(cap, store, fixed_clock()).unwrap()
}

fn ruleset() -> Arc<RuleSet> {
    Arc::new(RuleSet::embedded().unwrap())
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    }
}

fn endpoint(kind: EndpointKind, url: &str, model: &str) -> ModelEndpoint {
    let base = match kind {
        EndpointKind::Openai => format!("{url}/v1"),
        EndpointKind::Anthropic => url.to_string(),
    };
    let mut e = ModelEndpoint::new(kind, base, model, Some(Secret::new(KEY)));
    e.timeout = Duration::from_secs(10);
    e
}

fn auditor(e: ModelEndpoint, b: Budget) -> ModelAuditor {
    ModelAuditor::new("reviewer-1", e, &prices(), b, ruleset())
        .unwrap()
        .with_retry(fast_retry(3))
}

fn small_input() -> AuditInput {
    AuditInput {
        repo: "o/r".into(),
        base: "b".repeat(40),
        head: "h".repeat(40),
        files: vec![ChangedFileView {
            path: "src/lib.rs".into(),
            language: Some("rust".into()),
            status: FileStatus::Modified,
            hunks: "@@ -1,2 +1,3 @@\n fn a() {}\n+fn b(x: &str) -> usize { x.len() }\n fn c() {}\n"
                .into(),
            entities: vec!["b".into()],
        }],
        structural_summary: "1 function added: b".into(),
        explanations: vec!["adds b".into()],
        rule_findings: vec![],
        escalation: None,
    }
}

fn spent(store: &MemorySpend) -> f64 {
    futures_lite_block(store.spent("2026-11-23"))
}

fn futures_lite_block<
    F: std::future::Future<Output = Result<f64, patchgate::audit::spend::SpendError>>,
>(
    f: F,
) -> f64 {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_approve_with_cost_from_usage() {
    let server = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 1000, 200))).await;
    let store = Arc::new(MemorySpend::new());
    let a = auditor(
        endpoint(EndpointKind::Openai, &server.url, "main"),
        budget(0.5, store.clone()),
    );
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Approve, "{v:?}");
    assert_eq!(v.auditor, "reviewer-1");
    assert_eq!(v.reason.as_deref(), Some("the change looks approve"));
    assert_eq!(v.explanation, "adds a function");
    // 1000 × $1/M + 200 × $2/M
    assert!((v.cost_usd - 0.0014).abs() < 1e-12, "{}", v.cost_usd);
    assert!((spent(&store) - 0.0014).abs() < 1e-12);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(r.body["model"], "main");
    assert_eq!(r.body["response_format"]["type"], "json_object");
    assert_eq!(r.body["messages"][0]["role"], "system");
    let user = r.body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("fn b(x: &str)") && user.contains("1 function added: b"));
    assert!(!r.raw.contains(KEY), "the key is never in a body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_reject_with_findings() {
    let server =
        serve(|_, _| Reply::ok(anthropic_answer(&verdict_json("reject"), 2000, 100))).await;
    let store = Arc::new(MemorySpend::new());
    let a = auditor(
        endpoint(EndpointKind::Anthropic, &server.url, "claude"),
        budget(0.5, store.clone()),
    );
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Reject, "{v:?}");
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].rule, "security");
    assert_eq!(v.findings[0].line, Some(2));
    // 2000 × $3/M + 100 × $15/M
    assert!((v.cost_usd - 0.0075).abs() < 1e-12, "{}", v.cost_usd);
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.headers["x-api-key"], KEY);
    assert_eq!(r.headers["anthropic-version"], "2023-06-01");
    assert!(!r.headers.contains_key("authorization"));
    assert_eq!(r.body["model"], "claude");
    assert!(r.body["system"].as_str().unwrap().contains("\"verdict\""));
    assert_eq!(r.body["messages"][0]["role"], "user");
    assert_eq!(r.body["max_tokens"], 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_reach_the_model() {
    let aws = format!("AKIA{}", "QWERTYUIOPASDFGH");
    let pem_body = "MIIEowIBAAKCAQEAx7pLantedPrivateKeyMaterialZZZ";
    let diff = format!(
        "@@ -1,2 +1,8 @@\n fn a() {{}}\n+const KEY: &str = \"{aws}\";\n+const PEM: &str = r\"\n\
         +-----BEGIN RSA PRIVATE KEY-----\n+{pem_body}\n+AnotherLineOfKeyMaterialQQQ\n\
         +-----END RSA PRIVATE KEY-----\n+\";\n"
    );
    let mut input = small_input();
    input.files[0].hunks = diff;
    input.files[0].entities.push(format!("KEY = {aws}"));
    input.structural_summary = format!("adds constant KEY = {aws}");
    input.explanations = vec![format!("stores {aws} for the uploader")];
    // A key id glued to an identifier, inside an entity name: `\b` used to miss it.
    let glued = format!("AKIA{}", "IOSFODNN7EXAMPLQ");
    input.files[0]
        .hunks
        .push_str(&format!("+fn load_{glued}() {{}}\n+let key_{glued} = 1;\n"));
    input.files[0].entities.push(format!("load_{glued}"));
    input.files[0].entities.push(format!("fn load{glued}()"));
    input
        .explanations
        .push(format!("adds load_{glued} and key_{glued}"));

    for kind in [EndpointKind::Openai, EndpointKind::Anthropic] {
        let server = serve(move |_, _| match kind {
            EndpointKind::Openai => Reply::ok(openai_answer(&verdict_json("reject"), 10, 10)),
            EndpointKind::Anthropic => Reply::ok(anthropic_answer(&verdict_json("reject"), 10, 10)),
        })
        .await;
        let model = if kind == EndpointKind::Openai {
            "main"
        } else {
            "claude"
        };
        let a = auditor(
            endpoint(kind, &server.url, model),
            budget(0.5, Arc::new(MemorySpend::new())),
        );
        let v = a.review(&input).await;
        assert_eq!(v.verdict, Verdict::Reject, "{v:?}");
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        for r in &reqs {
            for needle in [
                aws.as_str(),
                &aws[4..],
                glued.as_str(),
                &glued[4..],
                pem_body,
                "AnotherLineOfKeyMaterialQQQ",
                "BEGIN RSA PRIVATE KEY",
            ] {
                assert!(
                    !r.raw.contains(needle),
                    "{kind:?}: {needle} reached the model: {}",
                    r.raw
                );
            }
            assert!(
                r.raw.contains("[REDACTED:secret-aws-access-key-id]"),
                "{}",
                r.raw
            );
            assert!(r.raw.contains("[REDACTED:secret-private-key]"), "{}", r.raw);
            assert!(
                r.raw.contains("load_[REDACTED:secret-aws-access-key-id]"),
                "the identifier around a masked key stays: {}",
                r.raw
            );
            assert!(
                r.raw.contains("fn a()"),
                "the rest of the diff is still there"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_retried_honouring_retry_after() {
    let server = serve(|n, _| {
        if n == 0 {
            let mut r = Reply::status(429, r#"{"error":{"message":"rate limited"}}"#);
            r.headers.push(("retry-after", "1".into()));
            r
        } else {
            Reply::ok(openai_answer(&verdict_json("approve"), 10, 10))
        }
    })
    .await;
    let a = auditor(
        endpoint(EndpointKind::Openai, &server.url, "main"),
        budget(0.5, Arc::new(MemorySpend::new())),
    );
    let t = Instant::now();
    let v = a.review(&small_input()).await;
    let took = t.elapsed();
    assert_eq!(v.verdict, Verdict::Approve, "{v:?}");
    assert_eq!(server.requests().len(), 2);
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After honoured: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_give_up_and_abstain_without_echoing_the_body() {
    let long = format!("{KEY} {}", "internal error ".repeat(100));
    let server = serve(move |_, _| Reply::status(500, &long)).await;
    let store = Arc::new(MemorySpend::new());
    let a = auditor(
        endpoint(EndpointKind::Anthropic, &server.url, "claude"),
        budget(0.5, store.clone()),
    );
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Abstain);
    let reason = v.reason.unwrap();
    assert!(
        reason.starts_with("unavailable: gave up after 3 attempts"),
        "{reason}"
    );
    assert!(reason.contains("HTTP 500"), "{reason}");
    assert!(!reason.contains(KEY), "{reason}");
    assert!(reason.chars().count() < 400, "{}", reason.len());
    assert_eq!(server.requests().len(), 3);
    assert_eq!(spent(&store), 0.0, "a failed call is not billed");

    // A 4xx other than 429 is not retried.
    let server = serve(|_, _| Reply::status(401, "bad key")).await;
    let a = auditor(
        endpoint(EndpointKind::Openai, &server.url, "main"),
        budget(0.5, Arc::new(MemorySpend::new())),
    );
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Abstain);
    assert!(v.reason.unwrap().contains("HTTP 401"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_is_a_timeout() {
    let server = serve(|_, _| {
        let mut r = Reply::ok(openai_answer(&verdict_json("approve"), 10, 10));
        r.delay = Duration::from_secs(5);
        r
    })
    .await;
    let store = Arc::new(MemorySpend::new());
    let mut e = endpoint(EndpointKind::Openai, &server.url, "main");
    e.timeout = Duration::from_millis(300);
    let a = auditor(e, budget(0.5, store.clone()));
    assert!(
        a.timeout() > Duration::from_millis(300),
        "the quorum waits a little longer"
    );
    let t = Instant::now();
    let v = a.review(&small_input()).await;
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(v.verdict, Verdict::Abstain);
    assert_eq!(v.reason.as_deref(), Some("timed out after 300 ms"));
    // Whether the provider billed it is unknown: the estimate stays spent.
    assert!(spent(&store) > 0.0);
    assert!((v.cost_usd - spent(&store)).abs() < 1e-12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_abstain_with_the_reason() {
    let cases = [
        ("Looks good to me, ship it!", "not a JSON verdict"),
        (r#"{"verdict":"approve"}"#, "missing field `reason`"),
        (
            r#"{"verdict":"maybe","reason":"x"}"#,
            "unknown variant `maybe`",
        ),
        (
            r#"{"verdict":"approve","reason":"x","score":1}"#,
            "unknown field `score`",
        ),
        (
            r#"{"result":{"verdict":"approve"}}"#,
            "unknown field `result`",
        ),
    ];
    for (text, expect) in cases {
        let text = text.to_string();
        let server = serve(move |_, _| Reply::ok(openai_answer(&text, 100, 10))).await;
        let store = Arc::new(MemorySpend::new());
        let a = auditor(
            endpoint(EndpointKind::Openai, &server.url, "main"),
            budget(0.5, store.clone()),
        );
        let v = a.review(&small_input()).await;
        assert_eq!(v.verdict, Verdict::Abstain, "{v:?}");
        let reason = v.reason.unwrap();
        assert!(reason.starts_with("malformed answer: "), "{reason}");
        assert!(reason.contains(expect), "{reason} lacks {expect}");
        // The call was made and billed all the same.
        assert!((v.cost_usd - (100.0 + 20.0) / 1e6).abs() < 1e-12);
    }
    // A body that is not JSON at all.
    let server = serve(|_, _| Reply::status(200, "<html>gateway</html>")).await;
    let a = auditor(
        endpoint(EndpointKind::Anthropic, &server.url, "claude"),
        budget(0.5, Arc::new(MemorySpend::new())),
    );
    let v = a.review(&small_input()).await;
    assert!(v.reason.unwrap().starts_with("malformed answer: HTTP 200"));
    // A fenced object is accepted (Anthropic has no JSON mode).
    let fenced = format!("```json\n{}\n```", verdict_json("approve"));
    let server = serve(move |_, _| Reply::ok(anthropic_answer(&fenced, 1, 1))).await;
    let a = auditor(
        endpoint(EndpointKind::Anthropic, &server.url, "claude"),
        budget(0.5, Arc::new(MemorySpend::new())),
    );
    assert_eq!(a.review(&small_input()).await.verdict, Verdict::Approve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_is_not_configured_and_sends_nothing() {
    let server = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 1, 1))).await;
    let cfg: ModelAuditorConfig = serde_json::from_value(json!({
        "name": "reviewer-1", "kind": "openai", "base_url": format!("{}/v1", server.url),
        "model": "main", "api_key_env": "PATCHGATE_TEST_NO_SUCH_KEY",
    }))
    .unwrap();
    let a = ModelAuditor::from_config(
        &cfg,
        &|_| None,
        &prices(),
        budget(0.5, Arc::new(MemorySpend::new())),
        ruleset(),
    )
    .unwrap();
    assert!(!a.is_configured());
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Abstain);
    assert_eq!(v.reason.as_deref(), Some("not configured"));
    let v = ModelAuditor::not_configured("reviewer-2")
        .review(&small_input())
        .await;
    assert_eq!(v.reason.as_deref(), Some("not configured"));
    assert!(server.requests().is_empty());

    // An unknown model's price is a config error, never free.
    let mut cfg = cfg;
    cfg.fallback_models = vec!["unpriced".into()];
    let err = ModelAuditor::from_config(
        &cfg,
        &|_| Some(KEY.into()),
        &prices(),
        budget(0.5, Arc::new(MemorySpend::new())),
        ruleset(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unpriced"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_mode_abstains_without_calling() {
    let server = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 1, 1))).await;
    let a = auditor(
        endpoint(EndpointKind::Openai, &server.url, "main"),
        budget(0.5, Arc::new(MemorySpend::new())),
    )
    .with_mode(AuditMode::Degraded);
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Abstain);
    assert_eq!(
        v.reason.as_deref(),
        Some("not asked: degraded mode, model auditors are off (--audit-mode degraded or PATCHGATE_AUDIT_MODE=degraded)")
    );
    assert!(server.requests().is_empty());
    // Without a key, degraded mode is still the reason: not "not configured".
    let v = ModelAuditor::not_configured("reviewer-2")
        .with_mode(AuditMode::Degraded)
        .review(&small_input())
        .await;
    assert_eq!(v.verdict, Verdict::Abstain);
    let reason = v.reason.unwrap_or_default();
    assert!(reason.starts_with("not asked: degraded mode"), "{reason}");
    // And in normal mode a keyless auditor is "not configured", as before.
    let v = ModelAuditor::not_configured("reviewer-2")
        .with_mode(AuditMode::Normal)
        .review(&small_input())
        .await;
    assert_eq!(v.reason.as_deref(), Some("not configured"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_falls_back_to_the_cheaper_model_then_abstains() {
    let server = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 500, 100))).await;
    let store = Arc::new(MemorySpend::new());
    let mut e = endpoint(EndpointKind::Openai, &server.url, "big");
    e.fallback_models = vec!["small".into()];
    // big: 1024 output tokens × $400/M alone is 0.41 > 0.01; small fits.
    let a = auditor(e.clone(), budget(0.01, store.clone()));
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Approve, "{v:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body["model"], "small");
    assert!((v.cost_usd - (500.0 * 0.1 + 100.0 * 0.4) / 1e6).abs() < 1e-12);

    // Nothing fits: abstain `budget`, no request.
    let a = auditor(e, budget(0.000_01, Arc::new(MemorySpend::new())));
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Abstain);
    assert_eq!(v.reason.as_deref(), Some("daily budget spent"));
    assert_eq!(
        server.requests().len(),
        1,
        "no request without a reservation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_is_never_passed_by_more_than_one_calls_overrun() {
    let max_out = 256u32;
    let input = small_input();
    let estimate_tokens = prompt::build(&input, &ruleset(), 12_000).estimated_tokens();
    let price = prices().get("main").unwrap();
    let estimate = price.cost(estimate_tokens, u64::from(max_out));
    // Actual usage is random, up to twice the estimate either way.
    let server = serve(move |_, _| {
        let p = rand::random_range(0..=2 * estimate_tokens);
        let c = rand::random_range(0..=2 * u64::from(max_out));
        Reply::ok(openai_answer(&verdict_json("approve"), p, c))
    })
    .await;
    let store = Arc::new(MemorySpend::new());
    let cap = 0.05;
    let mut e = endpoint(EndpointKind::Openai, &server.url, "main");
    e.max_output_tokens = max_out;
    let a = auditor(e, budget(cap, store.clone()));
    let (mut calls, mut budget_abstentions, mut max_overrun) = (0usize, 0usize, 0.0f64);
    for _ in 0..200 {
        let v = a.review(&input).await;
        match v.verdict {
            Verdict::Approve => {
                calls += 1;
                max_overrun = f64::max(max_overrun, v.cost_usd - estimate);
            }
            _ => {
                assert_eq!(v.reason.as_deref(), Some("daily budget spent"));
                budget_abstentions += 1;
            }
        }
        let now = spent(&store);
        assert!(
            now <= cap + max_overrun.max(0.0) + 1e-12,
            "{now} > {cap} + {max_overrun}"
        );
    }
    assert!(
        calls > 5 && budget_abstentions > 0,
        "{calls} {budget_abstentions}"
    );
    assert_eq!(server.requests().len(), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_survives_a_restart() {
    let server = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 5000, 2000))).await;
    let store: Arc<MemorySpend> = Arc::new(MemorySpend::new());
    let before = {
        let a = auditor(
            endpoint(EndpointKind::Openai, &server.url, "main"),
            budget(0.01, store.clone()),
        );
        a.review(&small_input()).await.cost_usd
    };
    // "Restart": a new budget and a new auditor over the same store.
    let b = budget(0.01, store.clone());
    assert!((b.spent_today().await.unwrap() - before).abs() < 1e-12);
    let a = auditor(endpoint(EndpointKind::Openai, &server.url, "main"), b);
    let v = a.review(&small_input()).await;
    assert_eq!(v.reason.as_deref(), Some("daily budget spent"), "{v:?}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_huge_change_is_summarised_by_entity_without_cutting_a_hunk() {
    let mut files = Vec::new();
    for f in 0..300 {
        let mut hunks = String::new();
        for h in 0..4 {
            hunks.push_str(&format!(
                "@@ -{0},30 +{0},31 @@ hunk-{f}-{h}\n",
                h * 100 + 1
            ));
            for l in 0..30 {
                hunks.push_str(&format!("+    let v{l} = compute_{f}_{h}({l});\n"));
            }
            hunks.push_str(&format!(" end-of-hunk-{f}-{h}\n"));
        }
        files.push(ChangedFileView {
            path: format!("src/module_{f}.rs"),
            language: Some("rust".into()),
            status: FileStatus::Modified,
            hunks,
            entities: vec![format!("fn_{f}_alpha"), format!("fn_{f}_beta")],
        });
    }
    let input = AuditInput {
        repo: "o/r".into(),
        base: "b".into(),
        head: "h".into(),
        files,
        structural_summary: "many functions changed\n".repeat(2000),
        explanations: vec!["a large refactor".into(); 2],
        rule_findings: vec![],
        escalation: None,
    };
    let budget = 8_000;
    let p = prompt::build(&input, &ruleset(), budget);
    assert!(p.estimated_tokens() <= budget, "{}", p.estimated_tokens());
    for f in &input.files {
        assert!(p.user.contains(&format!("- {} (modified", f.path)));
        for e in &f.entities {
            assert!(p.user.contains(e.as_str()), "entity {e} missing");
        }
        for h in prompt::split_hunks(&f.hunks) {
            let header = h.lines().next().unwrap();
            // Either the whole hunk is there, or none of it.
            if p.user.contains(header) {
                assert!(p.user.contains(&h), "hunk {header} cut");
            } else {
                let last = h.lines().last().unwrap();
                assert!(!p.user.contains(last), "tail of {header} without its head");
            }
        }
    }
    assert!(p.user.contains("left out for size"));
    assert!(p.user.contains("[… truncated]"));
    assert!(p.user.contains("hunk-0-0"), "early hunks are included");
}

/// A store that is down.
struct DownStore;

impl SpendStore for DownStore {
    fn try_reserve<'a>(
        &'a self,
        _r: &'a patchgate::audit::spend::Reservation,
        _cap_usd: f64,
    ) -> patchgate::util::BoxFuture<
        'a,
        Result<Option<patchgate::audit::spend::ReservationId>, patchgate::audit::spend::SpendError>,
    > {
        Box::pin(async {
            Err(patchgate::audit::spend::SpendError::Storage(
                "store unavailable: disk gone".into(),
            ))
        })
    }
    fn settle(
        &self,
        _id: patchgate::audit::spend::ReservationId,
        _actual: patchgate::audit::spend::Usage,
    ) -> patchgate::util::BoxFuture<'_, Result<(), patchgate::audit::spend::SpendError>> {
        Box::pin(async { Ok(()) })
    }
    fn spent<'a>(
        &'a self,
        _day: &'a str,
    ) -> patchgate::util::BoxFuture<'a, Result<f64, patchgate::audit::spend::SpendError>> {
        Box::pin(async { Ok(0.0) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spend_store_failure_abstains_without_calling() {
    let server = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 1, 1))).await;
    let a = auditor(
        endpoint(EndpointKind::Openai, &server.url, "main"),
        budget(0.5, Arc::new(DownStore)),
    );
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Abstain);
    assert!(v.reason.unwrap().contains("spend store"));
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_local_server_gets_no_authorization_header() {
    let server = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 1, 1))).await;
    let cfg: ModelAuditorConfig = serde_json::from_value(json!({
        "name": "local", "kind": "openai", "base_url": format!("{}/v1", server.url),
        "model": "main", "keyless": true, "timeout_s": 5,
    }))
    .unwrap();
    let a = ModelAuditor::from_config(
        &cfg,
        &|_| None,
        &prices(),
        budget(0.5, Arc::new(MemorySpend::new())),
        ruleset(),
    )
    .unwrap();
    assert_eq!(a.review(&small_input()).await.verdict, Verdict::Approve);
    let r = &server.requests()[0];
    assert!(!r.headers.contains_key("authorization"));
    assert!(!r.headers.contains_key("x-api-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_usage_is_charged_at_the_estimate() {
    let server = serve(|_, _| {
        let mut v = openai_answer(&verdict_json("approve"), 0, 0);
        v.as_object_mut().unwrap().remove("usage");
        Reply::ok(v)
    })
    .await;
    let store = Arc::new(MemorySpend::new());
    let a = auditor(
        endpoint(EndpointKind::Openai, &server.url, "main"),
        budget(0.5, store.clone()),
    );
    let v = a.review(&small_input()).await;
    assert_eq!(v.verdict, Verdict::Approve);
    let tokens = prompt::build(&small_input(), &ruleset(), 12_000).estimated_tokens();
    let estimate = prices().get("main").unwrap().cost(tokens, 1024);
    assert!((v.cost_usd - estimate).abs() < 1e-12);
    assert!((spent(&store) - estimate).abs() < 1e-12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_model_auditors_in_a_quorum_share_the_budget() {
    use patchgate::audit::quorum::run_quorum;
    let oa = serve(|_, _| Reply::ok(openai_answer(&verdict_json("approve"), 100, 10))).await;
    let an = serve(|_, _| Reply::ok(anthropic_answer(&verdict_json("approve"), 100, 10))).await;
    let store = Arc::new(MemorySpend::new());
    let b = budget(0.5, store.clone());
    let r1 = ModelAuditor::new(
        "reviewer-1",
        endpoint(EndpointKind::Openai, &oa.url, "main"),
        &prices(),
        b.clone(),
        ruleset(),
    )
    .unwrap();
    let r2 = ModelAuditor::new(
        "reviewer-2",
        endpoint(EndpointKind::Anthropic, &an.url, "claude"),
        &prices(),
        b.clone(),
        ruleset(),
    )
    .unwrap();
    let auditors: Vec<Arc<dyn Auditor>> = vec![
        Arc::new(ModelAuditor::not_configured("reviewer-3")),
        Arc::new(r1),
        Arc::new(r2),
    ];
    let (votes, decision) = run_quorum(&auditors, &small_input(), 2).await.unwrap();
    assert!(decision.passed, "{decision}");
    assert_eq!(votes[0].reason.as_deref(), Some("not configured"));
    let total: f64 = votes.iter().map(|v| v.cost_usd).sum();
    assert!((spent(&store) - total).abs() < 1e-12);
    assert!((b.spent_today().await.unwrap() - total).abs() < 1e-12);

    // Degraded: the model auditors abstain and the quorum fails closed.
    let auditors: Vec<Arc<dyn Auditor>> = vec![
        Arc::new(
            ModelAuditor::new(
                "reviewer-1",
                endpoint(EndpointKind::Openai, &oa.url, "main"),
                &prices(),
                b.clone(),
                ruleset(),
            )
            .unwrap()
            .with_mode(AuditMode::Degraded),
        ),
        Arc::new(
            ModelAuditor::new(
                "reviewer-2",
                endpoint(EndpointKind::Anthropic, &an.url, "claude"),
                &prices(),
                b,
                ruleset(),
            )
            .unwrap()
            .with_mode(AuditMode::Degraded),
        ),
    ];
    let (_, decision) = run_quorum(&auditors, &small_input(), 1).await.unwrap();
    assert!(!decision.passed);
    assert!(decision.reason.contains("degraded"), "{decision}");
    assert_eq!(oa.requests().len() + an.requests().len(), 2);
}
