//! Model builders against a fake OpenAI-compatible endpoint on 127.0.0.1: a valid answer
//! becomes render B, a malformed one and one that does not apply leave it unavailable; what the
//! model is shown (the request and the base, masked; never render A); the daily budget spent
//! before a build and during one.

use std::sync::Arc;

use serde_json::json;

use patchgate::audit::llm::AuditMode;
use patchgate::audit::rule_guard::RuleSet;
use patchgate::audit::spend::SpendStore;
use patchgate::builder::{build, BuildContext, BuildTarget, Built, Request, Unavailable};
use patchgate::config::Settings;
use patchgate::store::Store;

use crate::support::builders::{fake_model, root, BuilderWorld, FakeModel, DEMO_REQUEST};

const KEY: &str = "sk-builder-key-0123456789";
const PLANTED: &str = concat!("AKIA", "ZXCVBNMASDFGHJKL");

fn env(k: &str) -> Option<String> {
    (k == "BUILDER_KEY").then(|| KEY.to_string())
}

fn yaml(w: &BuilderWorld, model: &FakeModel, daily_usd: f64) -> String {
    w.server_yaml(
        daily_usd,
        &format!(
            "  - {{name: coder, kind: openai, base_url: '{}', model: fake-coder, api_key_env: BUILDER_KEY, timeout_s: 20, max_output_tokens: 4000}}\n",
            model.url
        ),
        "prices:\n  fake-coder: {input: 0.1, output: 0.1}\n",
    )
}

async fn ask(
    w: &BuilderWorld,
    settings: &Settings,
    store: Arc<Store>,
    request: &str,
) -> Result<Built, Unavailable> {
    let ctx = BuildContext {
        settings,
        spend: store,
        rules: Arc::new(RuleSet::embedded().unwrap()),
        env: &env,
        scratch_dir: None,
    };
    let target = BuildTarget {
        repo: w.repo.clone(),
        base: "main".into(),
        request: Request::from_text(request),
        pr: None,
    };
    build("coder", &ctx, &target).await
}

fn answer(files: serde_json::Value) -> String {
    json!({"explanation": "Retry fetches with a doubling delay.", "files": files}).to_string()
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_answer_becomes_render_b_and_the_model_never_sees_render_a() {
    let w = BuilderWorld::new();
    let settings_py =
        std::fs::read_to_string(root().join("fixtures/demo/render-b/tools/settings.py")).unwrap();
    let model = fake_model(
        vec![format!(
            "```json\n{}\n```",
            answer(json!([{"path": "tools/settings.py", "content": settings_py}]))
        )],
        (2000, 500),
    )
    .await;
    let settings = w.settings(&yaml(&w, &model, 1.0), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    let request = format!("{DEMO_REQUEST}\nThe staging token is {PLANTED}.");
    let b = ask(&w, &settings, store.clone(), &request).await.unwrap();
    assert_eq!(b.facts.model.as_deref(), Some("fake-coder"));
    assert_eq!(b.facts.files, 1);
    let cost = 2500.0 * 0.1 / 1e6;
    assert!(
        (b.facts.cost_usd - cost).abs() < 1e-12,
        "{}",
        b.facts.cost_usd
    );
    assert!((store.spent(&today()).await.unwrap() - cost).abs() < 1e-12);
    assert_eq!(
        w.git(&["show", &format!("{}:tools/settings.py", b.commit)]),
        settings_py.trim_end()
    );
    assert_eq!(
        w.git(&["log", "-1", "--format=%B", &b.commit]),
        "Retry fetches with a doubling delay."
    );

    // What the model was shown: the request (masked) and the base's files it names.
    let sent = model.requests.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let prompt: String = sent[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(prompt.contains("Retry HTTP fetches with exponential backoff"));
    assert!(
        !prompt.contains(PLANTED),
        "the planted key reached the model"
    );
    assert!(!prompt.contains(KEY));
    let base_http = std::fs::read_to_string(root().join("fixtures/demo/base/src/http.rs")).unwrap();
    let a_http =
        std::fs::read_to_string(root().join("fixtures/demo/render-a/src/http.rs")).unwrap();
    let first_base_line = base_http.lines().find(|l| l.trim().len() > 20).unwrap();
    assert!(
        prompt.contains(first_base_line),
        "the base's src/http.rs, named by the request"
    );
    let only_in_a: Vec<&str> = a_http
        .lines()
        .filter(|l| l.trim().len() > 20 && !base_http.contains(l.trim()))
        .collect();
    assert!(!only_in_a.is_empty());
    for l in only_in_a {
        assert!(
            !prompt.contains(l.trim()),
            "render A's line reached the model: {l}"
        );
    }

    // The same request again: reused, the model is not asked, nothing is paid.
    let again = ask(&w, &settings, store.clone(), &request).await.unwrap();
    assert!(again.reused);
    assert_eq!(model.requests.lock().unwrap().len(), 1);
    assert!((store.spent(&today()).await.unwrap() - cost).abs() < 1e-12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_not_applying_answers_leave_render_b_unavailable() {
    let w = BuilderWorld::new();
    let model = fake_model(
        vec![
            "Sure! I changed tools/settings.py to retry.".to_string(),
            answer(json!([{"path": "tools/gone.py", "delete": true}])),
            answer(json!([{"path": "src/main.rs/inner.rs", "content": "x"}])),
            answer(json!([{"path": "../../etc/cron.d/x", "content": "x"}])),
            answer(json!([{"path": "src/main.rs", "content": std::fs::read_to_string(root().join("fixtures/demo/base/src/main.rs")).unwrap()}])),
        ],
        (100, 100),
    )
    .await;
    let settings = w.settings(&yaml(&w, &model, 1.0), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    for (i, want) in [
        "the model's answer is malformed",
        "does not apply: it deletes tools/gone.py",
        "the change does not apply",
        "leaves the worktree",
        "changed nothing",
    ]
    .iter()
    .enumerate()
    {
        let u = ask(&w, &settings, store.clone(), &format!("request {i}"))
            .await
            .unwrap_err();
        assert!(u.reason.contains(want), "{i}: {u}");
        // A failed answer was still paid for, and says so.
        assert!(u.cost_usd > 0.0, "{u:?}");
    }
    assert_eq!(w.git(&["for-each-ref", "refs/patchgate/render-b/"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_budget_spent_before_or_during_a_build() {
    let w = BuilderWorld::new();
    let model = fake_model(
        vec![answer(json!([{"path": "NOTES.md", "content": "retry\n"}]))],
        // Far more than estimated: this call takes the day past its cap.
        (1_000_000, 1_000_000),
    )
    .await;
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    // Before: a cap of zero asks nothing.
    let settings = w.settings(&yaml(&w, &model, 0.0), AuditMode::Normal);
    let u = ask(&w, &settings, store.clone(), "first")
        .await
        .unwrap_err();
    assert!(u.reason.contains("daily budget spent"), "{u}");
    assert!(model.requests.lock().unwrap().is_empty());
    // During: the estimate fits, the call costs 0.2 — one call over the cap, never two.
    let settings = w.settings(&yaml(&w, &model, 0.05), AuditMode::Normal);
    let b = ask(&w, &settings, store.clone(), "first").await.unwrap();
    assert!((b.facts.cost_usd - 0.2).abs() < 1e-9);
    let u = ask(&w, &settings, store.clone(), "second")
        .await
        .unwrap_err();
    assert!(u.reason.contains("daily budget spent"), "{u}");
    assert_eq!(model.requests.lock().unwrap().len(), 1);
    assert!((store.spent(&today()).await.unwrap() - 0.2).abs() < 1e-9);
}
