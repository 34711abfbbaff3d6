//! The explanation judge against a loopback OpenAI-compatible fake: agreeing, disagreeing,
//! malformed answer, outage, budget spent, no key — and the explanation corpus
//! (`fixtures/explanations/pairs.jsonl`) measured by the lexical similarity, whose figures
//! `docs/decisions.md` quotes.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use patchgate::audit::budget::Budget;
use patchgate::audit::llm::judge::{Judge, JudgeCase, JudgeOutcome};
use patchgate::audit::llm::price::PriceTable;
use patchgate::audit::llm::retry::RetryPolicy;
use patchgate::audit::llm::{EndpointKind, ModelAuditor, ModelEndpoint, Secret};
use patchgate::audit::rule_guard::RuleSet;
use patchgate::audit::spend::{MemorySpend, SpendStore};
use patchgate::meta::text_similarity;

const KEY: &str = "sk-judge-0123456789";
const SECRET_IN_CHANGE: &str = "AKIAIOSFODNN7EXAMPLQ";

type Responder = Arc<dyn Fn(usize) -> (u16, String) + Send + Sync>;

struct Fake {
    bodies: Mutex<Vec<String>>,
    responder: Responder,
}

async fn handle(axum::extract::State(s): axum::extract::State<Arc<Fake>>, body: Bytes) -> Response {
    let n = {
        let mut b = s.bodies.lock().unwrap();
        b.push(String::from_utf8_lossy(&body).into_owned());
        b.len() - 1
    };
    let (status, text) = (s.responder)(n);
    (StatusCode::from_u16(status).unwrap(), text).into_response()
}

async fn serve(
    responder: impl Fn(usize) -> (u16, String) + Send + Sync + 'static,
) -> (String, Arc<Fake>) {
    let state = Arc::new(Fake {
        bodies: Mutex::new(Vec::new()),
        responder: Arc::new(responder),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), state)
}

fn answer(content: &str) -> (u16, String) {
    (
        200,
        json!({
            "id": "c", "object": "chat.completion", "model": "judge-m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050}
        })
        .to_string(),
    )
}

fn judge(url: &str, key: Option<&str>, cap: f64, spend: Arc<dyn SpendStore>) -> Judge {
    let prices = PriceTable::new().with("judge-m", 1.0, 2.0).unwrap();
    let mut e = ModelEndpoint::new(EndpointKind::Openai, url, "judge-m", key.map(Secret::new));
    e.timeout = Duration::from_secs(5);
    let rules = Arc::new(RuleSet::embedded().unwrap());
    let model = ModelAuditor::new(
        "judge",
        e,
        &prices,
        Budget::new(cap, spend).unwrap(),
        rules.clone(),
    )
    .unwrap()
    .with_retry(RetryPolicy {
        max_attempts: 2,
        base: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(1),
    });
    Judge::new("judge", model, 0.85, rules)
}

fn case() -> JudgeCase<'static> {
    JudgeCase {
        explanation_a: "Retries up to 3 times, doubling the delay from 200 ms.",
        explanation_b: "Transient failures are retried, at most three attempts, waits growing twice as long from 0.2 s.",
        change_a: "@@ -1 +1 @@\n-    return get(url)\n+    for attempt in range(3):\n",
        change_b: "@@ -1 +1 @@\n-    return get(url)\n+    key = \"AKIAIOSFODNN7EXAMPLQ\"\n+    while attempt < 3:\n",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agreeing_judge_scores_high_is_paid_for_and_sees_no_secret() {
    let (url, fake) = serve(|_| {
        answer(r#"{"score": 0.92, "reason": "both retry three times with doubling waits"}"#)
    })
    .await;
    let spend = Arc::new(MemorySpend::new());
    let j = judge(&url, Some(KEY), 1.0, spend.clone());
    match j.judge(&case()).await {
        JudgeOutcome::Judged {
            score,
            reason,
            cost_usd,
        } => {
            assert_eq!(score, 0.92);
            assert!(reason.contains("doubling"), "{reason}");
            assert!(cost_usd > 0.0, "the judge's call is priced");
        }
        other => panic!("{other:?}"),
    }
    let bodies = fake.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].contains("Explanation of render A"),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[0].contains("while attempt"),
        "render B's change is shown"
    );
    assert!(
        !bodies[0].contains(SECRET_IN_CHANGE),
        "a secret reached the judge"
    );
    assert!(!bodies[0].contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disagreeing_judge_scores_low() {
    let (url, _) = serve(|_| {
        answer("```json\n{\"score\": 0.2, \"reason\": \"B retries without a limit\"}\n```")
    })
    .await;
    let j = judge(&url, Some(KEY), 1.0, Arc::new(MemorySpend::new()));
    assert!(matches!(j.judge(&case()).await, JudgeOutcome::Judged { score, .. } if score == 0.2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_an_outage_a_spent_budget_and_no_key_abstain() {
    for bad in [
        "They describe the same change.",
        r#"{"score": 1.5, "reason": "x"}"#,
        r#"{"score": 0.9, "reason": "x", "confidence": "high"}"#,
    ] {
        let bad = bad.to_string();
        let (url, _) = serve(move |_| answer(&bad)).await;
        let j = judge(&url, Some(KEY), 1.0, Arc::new(MemorySpend::new()));
        match j.judge(&case()).await {
            JudgeOutcome::Abstained { reason, .. } => {
                assert!(reason.starts_with("malformed answer"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    let (url, fake) = serve(|_| (503, "overloaded".into())).await;
    let j = judge(&url, Some(KEY), 1.0, Arc::new(MemorySpend::new()));
    match j.judge(&case()).await {
        JudgeOutcome::Abstained { reason, cost_usd } => {
            assert!(
                reason.contains("unavailable") && reason.contains("503"),
                "{reason}"
            );
            assert_eq!(cost_usd, 0.0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.bodies.lock().unwrap().len(), 2, "retried once");
    let (url, fake) = serve(|_| answer(r#"{"score": 1, "reason": "x"}"#)).await;
    let j = judge(&url, Some(KEY), 0.0, Arc::new(MemorySpend::new()));
    match j.judge(&case()).await {
        JudgeOutcome::Abstained { reason, .. } => assert_eq!(reason, "daily budget spent"),
        other => panic!("{other:?}"),
    }
    let j = judge(&url, None, 1.0, Arc::new(MemorySpend::new()));
    match j.judge(&case()).await {
        JudgeOutcome::Abstained { reason, .. } => assert_eq!(reason, "not configured"),
        other => panic!("{other:?}"),
    }
    assert!(
        fake.bodies.lock().unwrap().is_empty(),
        "nothing was sent without budget or key"
    );
}

/// The lexical measure on the explanation corpus: the figures of docs/decisions.md.
#[test]
fn corpus_the_lexical_measure_cannot_tell_the_labels_apart() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("fixtures/explanations/pairs.jsonl")).unwrap();
    let mut same = Vec::new();
    let mut different = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let s = text_similarity(v["a"].as_str().unwrap(), v["b"].as_str().unwrap());
        match v["label"].as_str().unwrap() {
            "same" => same.push(s),
            "different" => different.push(s),
            other => panic!("label {other}"),
        }
    }
    assert_eq!((same.len(), different.len()), (15, 15));
    let sorted = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let agreed = |v: &[f64]| v.iter().filter(|s| **s >= 0.85).count();
    let (s_min, s_med, s_max) = sorted(&mut same);
    let (d_min, d_med, d_max) = sorted(&mut different);
    let r = |x: f64| (x * 100.0).round() / 100.0;
    assert_eq!(
        (r(s_min), r(s_med), r(s_max), agreed(&same)),
        (0.20, 0.30, 0.57, 0)
    );
    assert_eq!(
        (r(d_min), r(d_med), r(d_max), agreed(&different)),
        (0.50, 0.76, 0.98, 5)
    );
    let wins: f64 = same
        .iter()
        .flat_map(|s| {
            different.iter().map(move |d| {
                if s > d {
                    1.0
                } else if s == d {
                    0.5
                } else {
                    0.0
                }
            })
        })
        .sum();
    let auc = wins / (same.len() * different.len()) as f64;
    assert!(auc < 0.05, "AUC {auc}");
}
