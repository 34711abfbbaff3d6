//! Render B on demand with command builders (`fixtures/builders/`) on the demo repository: a
//! render that agrees with render A, one that differs, and every way a builder can fail —
//! timeout, no change, too much, a write outside its worktree, a symlink out, a planted secret —
//! then the gate over what was built, its record, and reuse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::DiffOptions;
use patchgate::audit::llm::AuditMode;
use patchgate::audit::rule_guard::RuleSet;
use patchgate::audit::spend::SpendStore;
use patchgate::builder::{build, BuildContext, BuildTarget, Built, Request, Unavailable};
use patchgate::config::Settings;
use patchgate::gate::check::{run_check, CheckOutcome, CheckRequest, RenderBSource};
use patchgate::gate::repo_config::RepoConfig;
use patchgate::gate::summary::render_check_text;
use patchgate::store::Store;

use crate::support::builders::{command_builder, demo_tree, BuilderWorld, DEMO_REQUEST};

const PLANTED: &str = concat!("AKIA", "QWERTYUIOPASDFGH");

fn env(k: &str) -> Option<String> {
    match k {
        "PATH" => std::env::var("PATH").ok(),
        // A key the server holds: never passed to a builder that does not list it.
        "OPENAI_API_KEY" => Some("sk-server-key-0123456789".into()),
        _ => None,
    }
}

async fn build_with(
    w: &BuilderWorld,
    settings: &Settings,
    store: Arc<Store>,
    name: &str,
    request: &str,
) -> Result<Built, Unavailable> {
    let ctx = BuildContext {
        settings,
        spend: store,
        rules: Arc::new(RuleSet::embedded().unwrap()),
        env: &env,
        scratch_dir: Some(w.dir.path().join("scratch")),
    };
    std::fs::create_dir_all(w.dir.path().join("scratch")).unwrap();
    let target = BuildTarget {
        repo: w.repo.clone(),
        base: "main".into(),
        request: Request::from_text(request),
        pr: None,
    };
    build(name, &ctx, &target).await
}

async fn gate(
    w: &BuilderWorld,
    settings: &Settings,
    store: Arc<Store>,
    render_b: RenderBSource,
    repo_config: Option<RepoConfig>,
) -> CheckOutcome {
    let req = CheckRequest {
        repo: w.repo.clone(),
        base: "main".into(),
        head: "render-a".into(),
        render_b: Some(render_b),
        write_meta: None,
        attach_note: false,
        diff: DiffOptions::default(),
        pr_number: None,
        pr_body: None,
        repo_name: Some("demo/linkwatch".into()),
        repo_config,
    };
    run_check(
        settings,
        store,
        Arc::new(Registry::embedded().unwrap()),
        RuleSet::embedded().unwrap(),
        &req,
        &env,
    )
    .await
    .unwrap()
}

fn source_of(b: &Built) -> RenderBSource {
    RenderBSource::Built {
        rev: b.commit.clone(),
        source: b.source(),
        build: b.record(),
    }
}

fn builders(w: &BuilderWorld) -> String {
    let scratch = w.dir.path().join("outside-target");
    std::fs::create_dir_all(&scratch).unwrap();
    [
        command_builder(
            "agree",
            "copy-tree.sh",
            &[
                &demo_tree("render-b"),
                "Add exponential-backoff retries to the HTTP fetch helpers",
            ],
            ", price_usd: 0.05",
        ),
        command_builder(
            "differ",
            "copy-tree.sh",
            &[
                &demo_tree("render-c"),
                "Retry failed fetches with a linear backoff",
            ],
            "",
        ),
        command_builder("slow", "slow.sh", &[], ", timeout_s: 1"),
        command_builder("nothing", "nothing.sh", &[], ""),
        command_builder("outside", "outside.sh", &[], ""),
        command_builder(
            "symlink",
            "symlink.sh",
            &[&scratch.display().to_string()],
            "",
        ),
        command_builder("secret", "secret.sh", &[], ""),
        command_builder("fails", "fails.sh", &[], ""),
        command_builder("many", "many.sh", &[], ""),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_that_reproduces_render_a_in_another_style_agrees() {
    let w = BuilderWorld::new();
    let settings = w.settings(&w.server_yaml(1.0, &builders(&w), ""), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    let b = build_with(&w, &settings, store.clone(), "agree", DEMO_REQUEST)
        .await
        .unwrap();
    assert!(!b.reused);
    assert_eq!(b.facts.builder, "agree");
    assert!(b.facts.command.as_deref().unwrap().contains("copy-tree.sh"));
    assert_eq!(b.facts.cost_usd, 0.05);
    // The commit is on the base, kept under the request's ref, its message the explanation.
    let main = w.git(&["rev-parse", "main"]);
    assert_eq!(w.git(&["rev-parse", &format!("{}^", b.commit)]), main);
    assert_eq!(w.git(&["rev-parse", &b.reference]), b.commit);
    assert!(b
        .reference
        .starts_with("refs/patchgate/render-b/by-request/agree/"));
    assert_eq!(
        w.git(&["log", "-1", "--format=%B", &b.commit]),
        "Add exponential-backoff retries to the HTTP fetch helpers"
    );
    // Its tree is render B's, and no .git of the builder's came along.
    assert_eq!(
        w.git(&["rev-parse", &format!("{}^{{tree}}", b.commit)]),
        w.git(&["rev-parse", "render-b^{tree}"])
    );

    let o = gate(&w, &settings, store.clone(), source_of(&b), None).await;
    assert!(o.record.ast_diff.agreed, "{}", o.yaml);
    let rb = o.record.renders.b.as_ref().unwrap();
    assert_eq!(rb.source, "builder:agree");
    assert_eq!(rb.extra["build"]["builder"], "agree");
    assert_eq!(
        rb.extra["build"]["request_hash"],
        Request::from_text(DEMO_REQUEST).hash().to_string()
    );
    assert_eq!(rb.extra["build"]["reused"], false);
    // The record stays verifiable with the new fields.
    patchgate::meta::record::verify_yaml(&o.yaml).unwrap();
    let text = render_check_text(&o, false);
    assert!(text.contains("render B built by agree"), "{text}");

    // A recheck reuses render B: nothing runs, nothing is paid twice.
    let spent = store
        .spent(&chrono::Utc::now().format("%Y-%m-%d").to_string())
        .await
        .unwrap();
    let again = build_with(&w, &settings, store.clone(), "agree", DEMO_REQUEST)
        .await
        .unwrap();
    assert!(again.reused);
    assert_eq!(again.commit, b.commit);
    let spent_after = store
        .spent(&chrono::Utc::now().format("%Y-%m-%d").to_string())
        .await
        .unwrap();
    assert_eq!(spent, spent_after);
    assert!((spent - 0.05).abs() < 1e-9, "spent {spent}");
    // Another request is another render.
    let other = build_with(&w, &settings, store, "agree", "Something else entirely")
        .await
        .unwrap();
    assert!(!other.reused);
    assert_ne!(other.reference, b.reference);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_that_makes_a_different_change_escalates() {
    let w = BuilderWorld::new();
    let settings = w.settings(&w.server_yaml(1.0, &builders(&w), ""), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    let b = build_with(&w, &settings, store.clone(), "differ", DEMO_REQUEST)
        .await
        .unwrap();
    let o = gate(&w, &settings, store, source_of(&b), None).await;
    assert!(!o.record.ast_diff.agreed, "{}", o.yaml);
    let esc = o.escalation.as_ref().expect("escalated");
    assert!(!esc.differences.is_empty());
    assert!(!o.record.gate.as_ref().unwrap().differences.is_empty());
    patchgate::meta::record::verify_yaml(&o.yaml).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_builders_leave_render_b_unavailable_with_the_reason() {
    let w = BuilderWorld::new();
    let settings = w.settings(&w.server_yaml(1.0, &builders(&w), ""), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    let started = Instant::now();
    let u = build_with(&w, &settings, store.clone(), "slow", DEMO_REQUEST)
        .await
        .unwrap_err();
    assert!(u.reason.contains("timed out after 1 s"), "{u}");
    // The grandchild held the output pipes: only killing the whole group returns this soon.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    let cases = [
        ("nothing", "changed nothing"),
        ("outside", "wrote outside its worktree: ../escape.txt"),
        ("symlink", "symlink, refused: out ->"),
        ("fails", "exited with status 3"),
        ("many", "too large: more than 50 files"),
        ("no-such", "no builder is named `no-such`"),
    ];
    for (name, want) in cases {
        let u = build_with(&w, &settings, store.clone(), name, DEMO_REQUEST)
            .await
            .unwrap_err();
        assert!(u.reason.contains(want), "{name}: {u}");
        assert!(!u.reason.contains(PLANTED), "{name}: {u}");
    }
    // Nothing of theirs was kept.
    assert_eq!(w.git(&["for-each-ref", "refs/patchgate/render-b/"]), "");
    // Scratch directories are gone.
    let left: Vec<_> = std::fs::read_dir(w.dir.path().join("scratch"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_secret_never_reaches_the_record_the_commit_or_the_summary() {
    let w = BuilderWorld::new();
    let settings = w.settings(&w.server_yaml(1.0, &builders(&w), ""), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    let b = build_with(&w, &settings, store.clone(), "secret", DEMO_REQUEST)
        .await
        .unwrap();
    let message = w.git(&["log", "-1", "--format=%B", &b.commit]);
    assert!(!message.contains(PLANTED), "{message}");
    assert!(message.contains("Updated the README."), "{message}");
    // The builder was given PATH and patchgate's two variables, nothing of the server's.
    let seen = w.git(&["show", &format!("{}:seen-env.txt", b.commit)]);
    let names: Vec<&str> = seen.lines().collect();
    assert!(names.contains(&"PATH"), "{seen}");
    assert!(names.contains(&"PATCHGATE_REQUEST_FILE") && names.contains(&"PATCHGATE_BASE"));
    assert!(!names.contains(&"OPENAI_API_KEY"), "{seen}");
    assert!(!names.contains(&"HOME"), "{seen}");
    let o = gate(&w, &settings, store, source_of(&b), None).await;
    let text = render_check_text(&o, false);
    for out in [&o.yaml, &text, &serde_json::to_string(&o.audit).unwrap()] {
        assert!(!out.contains(PLANTED));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_and_degraded_mode_skip_builders_and_say_so() {
    let w = BuilderWorld::new();
    // The day's budget is smaller than one run of `agree` (0.05): refused before it runs.
    let settings = w.settings(&w.server_yaml(0.01, &builders(&w), ""), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    let u = build_with(&w, &settings, store.clone(), "agree", DEMO_REQUEST)
        .await
        .unwrap_err();
    assert_eq!(u.reason, "daily budget spent");
    assert_eq!(w.git(&["for-each-ref", "refs/patchgate/render-b/"]), "");
    let settings = w.settings(&w.server_yaml(1.0, &builders(&w), ""), AuditMode::Degraded);
    let u = build_with(&w, &settings, store, "agree", DEMO_REQUEST)
        .await
        .unwrap_err();
    assert!(u.reason.contains("degraded mode"), "{u}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_render_b_that_is_unavailable_blocks_with_the_reason() {
    let w = BuilderWorld::new();
    let settings = w.settings(&w.server_yaml(1.0, &builders(&w), ""), AuditMode::Normal);
    let store = Arc::new(Store::open(&w.data, None).await.unwrap());
    let u = build_with(&w, &settings, store.clone(), "nothing", DEMO_REQUEST)
        .await
        .unwrap_err();
    let cfg: RepoConfig =
        serde_yaml::from_str("render_b: {required: true, builder: nothing}").unwrap();
    let o = gate(
        &w,
        &settings,
        store.clone(),
        RenderBSource::Unavailable(u.record()),
        Some(cfg),
    )
    .await;
    assert!(!o.record.quorum_passed);
    assert_eq!(
        o.record.ast_diff.extra["render_b_unavailable"]["reason"],
        "the builder changed nothing"
    );
    patchgate::meta::record::verify_yaml(&o.yaml).unwrap();
    let text = render_check_text(&o, false);
    assert!(
        text.contains("render B unavailable: builder nothing — the builder changed nothing"),
        "{text}"
    );
    // Not required: one render, and the record still says why there is no second.
    let o = gate(
        &w,
        &settings,
        store,
        RenderBSource::Unavailable(u.record()),
        None,
    )
    .await;
    assert!(o.record.quorum_passed, "{}", o.yaml);
    assert!(o.record.ast_diff.extra.contains_key("render_b_unavailable"));
}
