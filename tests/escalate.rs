//! The decision table through `patchgate check` on the demo repository: command auditors
//! approving, rejecting, abstaining and timing out, on agreed (render B = `render-b`),
//! escalated (`render-c`, a different backoff) and single-render changes; the agreement
//! options, degraded mode, the explanation judge (a loopback fake) and the record's `gate`
//! entry, which `meta verify` recomputes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) repo: PathBuf,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("demo");
    let out = Command::new("bash")
        .arg(root().join("fixtures/demo/make-repo.sh"))
        .arg(&repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, body) in [
        (
            "approve",
            "cat >/dev/null\necho '{\"verdict\":\"approve\",\"reason\":\"reviewed\"}'\n",
        ),
        (
            "reject",
            "cat >/dev/null\necho '{\"verdict\":\"reject\",\"reason\":\"wrong backoff\"}'\n",
        ),
        (
            "abstain",
            "cat >/dev/null\necho '{\"verdict\":\"abstain\",\"reason\":\"cannot tell\"}'\n",
        ),
        (
            "slow",
            "cat >/dev/null\nsleep 5\necho '{\"verdict\":\"approve\",\"reason\":\"late\"}'\n",
        ),
        // Records what it was shown, then approves.
        (
            "spy",
            "cat > \"$0.input.json\"\necho '{\"verdict\":\"approve\",\"reason\":\"seen\"}'\n",
        ),
    ] {
        std::fs::write(dir.path().join(format!("{name}.sh")), body).unwrap();
    }
    World { dir, repo }
}

impl World {
    /// A server config: Rule-Guard and command auditors running the named scripts.
    pub(crate) fn config(&self, auditors: &[&str], extra: &str) -> PathBuf {
        let mut text = String::from("auditors:\n  - {name: rule-guard, kind: rules}\n");
        for (i, a) in auditors.iter().enumerate() {
            let timeout = if *a == "slow" { 1 } else { 20 };
            text.push_str(&format!(
                "  - {{name: team-{i}, kind: command, command: [sh, '{}'], timeout_s: {timeout}}}\n",
                self.dir.path().join(format!("{a}.sh")).display()
            ));
        }
        text.push_str("quorum: {required: 2}\n");
        text.push_str(extra);
        let p = self.dir.path().join(format!("server-{}.yml", rand_name()));
        std::fs::write(&p, text).unwrap();
        p
    }

    pub(crate) fn check(
        &self,
        config: &Path,
        render_b: Option<&str>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (Option<i32>, Value, String) {
        let mut args: Vec<String> = vec![
            "check".into(),
            "--config".into(),
            config.display().to_string(),
            "--repo".into(),
            self.repo.display().to_string(),
            "--base".into(),
            "main".into(),
            "--head".into(),
            "render-a".into(),
            "--no-note".into(),
        ];
        if let Some(b) = render_b {
            args.extend(["--render-b".to_string(), b.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let json = run(
            self,
            &[args.clone(), vec!["--format".into(), "json".into()]].concat(),
            env,
        );
        let text = run(self, &args, env);
        let v: Value = serde_json::from_slice(&json.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&json.stderr)));
        assert_eq!(json.status.code(), text.status.code());
        (json.status.code(), v, out(&text))
    }
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

pub(crate) fn run(w: &World, args: &[String], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patchgate"));
    c.args(args)
        .current_dir(root())
        .env("PATCHGATE_DATA_DIR", w.dir.path().join("data"))
        .env("NO_COLOR", "1")
        .env_remove("PATCHGATE_CONFIG")
        .env_remove("DATABASE_URL")
        .env_remove("PATCHGATE_AUDIT_MODE")
        .env_remove("PATCHGATE_THRESHOLD_PERCENT")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run patchgate")
}

pub(crate) fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn gate(v: &Value) -> &Value {
    &v["record"]["gate"]
}

/// (render B, auditors, passes?, path)
#[test]
fn the_decision_table_through_check() {
    let w = world();
    let cases: &[(Option<&str>, &[&str], bool, &str)] = &[
        // Agreed: the normal quorum of 2 (Rule-Guard and one more).
        (Some("render-b"), &["approve", "approve"], true, "agreed"),
        (Some("render-b"), &["approve", "abstain"], true, "agreed"),
        (Some("render-b"), &["abstain", "slow"], false, "agreed"),
        (Some("render-b"), &["reject", "reject"], false, "agreed"),
        // Escalated: every auditor must approve; an abstention, a timeout or a rejection fails it.
        (Some("render-c"), &["approve", "approve"], true, "escalated"),
        (
            Some("render-c"),
            &["approve", "abstain"],
            false,
            "escalated",
        ),
        (Some("render-c"), &["approve", "slow"], false, "escalated"),
        (Some("render-c"), &["approve", "reject"], false, "escalated"),
        // One render: the normal quorum.
        (None, &["approve", "approve"], true, "one_render"),
        (None, &["abstain", "slow"], false, "one_render"),
        (None, &["reject", "approve"], true, "one_render"),
    ];
    for (b, auditors, passes, path) in cases {
        let cfg = w.config(auditors, "");
        let (code, v, text) = w.check(&cfg, *b, &[], &[]);
        let ctx = format!("{b:?} {auditors:?}:\n{text}");
        assert_eq!(code, Some(if *passes { 0 } else { 1 }), "{ctx}");
        assert_eq!(v["quorum_passed"], *passes, "{ctx}");
        assert_eq!(gate(&v)["path"], *path, "{ctx}");
        // The summary leads with the path, under the verdict.
        let second = text.lines().nth(1).unwrap_or_default();
        assert!(second.starts_with("  path          "), "{ctx}");
        if !passes {
            assert!(text.contains("to pass:"), "{ctx}");
        }
        if auditors.contains(&"slow") {
            assert!(text.contains("timed out after 1 s"), "{ctx}");
        }
    }
}

#[test]
fn the_escalated_audit_shows_both_renders_and_the_summary_names_the_differences() {
    let w = world();
    let cfg = w.config(&["spy", "abstain"], "");
    let (code, v, text) = w.check(&cfg, Some("render-c"), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(gate(&v)["path"], "escalated");
    assert!(gate(&v)["why"]
        .as_str()
        .unwrap()
        .contains("the renders differ"));
    assert_eq!(
        v["record"]["audit"]["required"], 3,
        "the escalated quorum: all 3"
    );
    let diffs = gate(&v)["differences"].as_array().unwrap();
    assert!(!diffs.is_empty(), "{v}");
    assert!(text.contains("where the renders differ"), "{text}");
    assert!(
        text.contains("      A | ") && text.contains("      B | "),
        "{text}"
    );
    assert!(text.contains("/patchgate approve"), "{text}");
    // What a command auditor was shown: both renders, the edit script, both explanations.
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(w.dir.path().join("spy.sh.input.json")).unwrap(),
    )
    .unwrap();
    let esc = &seen["escalation"];
    assert_eq!(esc["render_b"], "render-c");
    assert!(!esc["differences"].as_array().unwrap().is_empty());
    assert!(!esc["render_b_files"].as_array().unwrap().is_empty());
    assert!(
        esc["explanation_b"]
            .as_str()
            .unwrap()
            .contains("linear backoff"),
        "{esc}"
    );
    assert!(
        esc["explanation_a"]
            .as_str()
            .unwrap()
            .contains("exponential backoff"),
        "{esc}"
    );
    // On the agreed path nothing escalates.
    let (_, v, _) = w.check(&cfg, Some("render-b"), &[], &[]);
    assert_eq!(gate(&v)["path"], "agreed");
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(w.dir.path().join("spy.sh.input.json")).unwrap(),
    )
    .unwrap();
    assert!(seen.get("escalation").is_none(), "{seen}");
}

#[test]
fn an_agreement_may_count_as_a_vote_but_never_on_the_escalated_path() {
    let w = world();
    let cfg = w.config(
        &["abstain", "abstain"],
        "agreement: {counts_as_vote: true}\n",
    );
    let (code, v, text) = w.check(&cfg, Some("render-b"), &[], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(gate(&v)["basis"], "agreement_vote");
    let (code, _, text) = w.check(&cfg, Some("render-c"), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
    let (code, _, text) = w.check(&cfg, None, &[], &[]);
    assert_eq!(code, Some(1), "no agreement without a render B: {text}");
}

#[test]
fn skipping_the_paid_auditors_on_agreement_asks_no_model() {
    let w = world();
    // A model auditor at a closed port with a key: asked, it would abstain (unavailable).
    let extra = "agreement: {skip_paid_auditors: true}\nprices: {m: {input: 1, output: 1}}\n";
    let mut cfg_text = std::fs::read_to_string(w.config(&["approve"], extra)).unwrap();
    cfg_text = cfg_text.replace(
        "quorum:",
        "  - {name: reviewer-1, kind: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: PG_TEST_KEY, timeout_s: 5}\nquorum:",
    );
    let cfg = w.dir.path().join("skip.yml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let (code, v, text) = w.check(&cfg, Some("render-b"), &[], &[("PG_TEST_KEY", "sk-x")]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        gate(&v)["basis"],
        "quorum",
        "rule-guard and team-0 make 2: {text}"
    );
    let votes = v["record"]["audit"]["votes"].as_array().unwrap();
    assert!(
        votes[2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not asked"),
        "{v}"
    );
    assert_eq!(votes[2]["kind"], "model");
    // Escalated: the model is asked (and, unreachable, fails the escalated quorum closed).
    let (code, v, text) = w.check(&cfg, Some("render-c"), &[], &[("PG_TEST_KEY", "sk-x")]);
    assert_eq!(code, Some(1), "{text}");
    let votes = v["record"]["audit"]["votes"].as_array().unwrap();
    assert!(
        votes[2]["reason"].as_str().unwrap().contains("unavailable"),
        "{v}"
    );
}

#[test]
fn degraded_mode_passes_agreeing_renders_that_rule_guard_approves_and_nothing_else() {
    let w = world();
    // Rule-Guard and two model auditors (no keys needed: degraded mode turns them off).
    let cfg = w.dir.path().join("models.yml");
    std::fs::write(
        &cfg,
        "auditors:\n  - {name: rule-guard, kind: rules}\n  - {name: reviewer-1, kind: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: PG_TEST_KEY}\n  - {name: reviewer-2, kind: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: PG_TEST_KEY}\nquorum: {required: 2}\nprices: {m: {input: 1, output: 1}}\n",
    )
    .unwrap();
    let degraded = ["--audit-mode", "degraded"];
    let (code, v, text) = w.check(
        &cfg,
        Some("render-b"),
        &degraded,
        &[("PG_TEST_KEY", "sk-x")],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(gate(&v)["basis"], "degraded");
    assert_eq!(gate(&v)["mode"], "degraded");
    let votes = v["record"]["audit"]["votes"].as_array().unwrap();
    assert!(
        votes.iter().skip(1).all(|v| v["verdict"] == "abstain"),
        "abstentions stay abstentions"
    );
    for b in [Some("render-c"), None] {
        let (code, _, text) = w.check(&cfg, b, &degraded, &[("PG_TEST_KEY", "sk-x")]);
        assert_eq!(code, Some(1), "{b:?}: {text}");
        assert!(text.contains("in degraded mode"), "{text}");
    }
    // Not degraded: the same agreeing renders do not pass on Rule-Guard alone.
    let (code, _, text) = w.check(&cfg, Some("render-b"), &[], &[]);
    assert_eq!(code, Some(1), "{text}");
}

#[test]
fn explanations_are_judged_by_the_configured_model_and_not_judged_without_it() {
    let w = world();
    // No judge: the demo's two explanations differ in words; not judged, agreed path.
    let cfg = w.config(&["approve", "abstain"], "");
    let (code, v, text) = w.check(&cfg, Some("render-b"), &[], &[]);
    assert_eq!(code, Some(0), "{text}");
    let e = &v["record"]["explanations"];
    assert_eq!(e["status"], "not_judged");
    assert_eq!(e["agreed"], false);
    assert!(
        e["similarity"].as_f64().unwrap() > 0.0,
        "the lexical measure is recorded"
    );
    assert!(text.contains("explanations  not judged"), "{text}");

    // A judge behind a loopback fake.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _keep) = rt.block_on(fake_judge());
    let judge = |score: &str| {
        w.config(
            &["approve", "abstain"],
            &format!(
                "judge: {{kind: openai, base_url: '{url}/{score}/v1', model: jm, api_key_env: PG_JUDGE_KEY, timeout_s: 5}}\nprices: {{jm: {{input: 1, output: 1}}}}\n"
            ),
        )
    };
    let key = [("PG_JUDGE_KEY", "sk-judge")];
    // Judged the same: agreed path, passes on the normal quorum.
    let (code, v, text) = w.check(&judge("0.93"), Some("render-b"), &[], &key);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(v["record"]["explanations"]["status"], "judged_same");
    assert_eq!(v["record"]["explanations"]["judge"]["score"], 0.93);
    // Judged different: agreeing renders escalate, and the abstaining auditor now blocks.
    let (code, v, text) = w.check(&judge("0.2"), Some("render-b"), &[], &key);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(gate(&v)["path"], "escalated");
    assert!(gate(&v)["why"]
        .as_str()
        .unwrap()
        .contains("explanations were judged different"));
    // Malformed or down: not judged, neither passes nor blocks by itself.
    for bad in ["malformed", "down"] {
        let (code, v, text) = w.check(&judge(bad), Some("render-b"), &[], &key);
        assert_eq!(code, Some(0), "{bad}: {text}");
        assert_eq!(v["record"]["explanations"]["status"], "not_judged", "{bad}");
        assert!(
            v["record"]["explanations"]["judge"]["reason"]
                .as_str()
                .unwrap()
                .starts_with("abstained"),
            "{bad}: {v}"
        );
    }
}

/// A judge whose answer is chosen by the first path segment: a score, `malformed` or `down`.
async fn fake_judge() -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::{StatusCode, Uri};
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(|uri: Uri| async move {
        let first = uri.path().trim_start_matches('/').split('/').next().unwrap_or("").to_string();
        let content = match first.as_str() {
            "down" => return (StatusCode::SERVICE_UNAVAILABLE, "down".to_string()).into_response(),
            "malformed" => "They look alike to me.".to_string(),
            score => format!("{{\"score\": {score}, \"reason\": \"compared both\"}}"),
        };
        let body = serde_json::json!({
            "id": "c", "object": "chat.completion", "model": "jm",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        });
        (StatusCode::OK, body.to_string()).into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), handle)
}

#[test]
fn the_record_of_an_escalated_pass_verifies_and_a_forged_pass_does_not() {
    use patchgate::meta::record::{verify_yaml, MetaRecord};
    let w = world();
    let meta = w.dir.path().join("meta.yaml");
    let cfg = w.config(&["approve", "approve"], "");
    let (code, _, text) = w.check(
        &cfg,
        Some("render-c"),
        &["--write-meta", meta.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    let yaml = std::fs::read_to_string(&meta).unwrap();
    assert!(yaml.contains("path: escalated"), "{yaml}");
    verify_yaml(&yaml).unwrap();
    // Claim the pass on a record whose escalated audit had an abstention, and re-seal it.
    let mut r = MetaRecord::from_yaml(&yaml).unwrap();
    r.audit.votes[2].verdict = patchgate::audit::vote::Verdict::Abstain;
    let prev = r.prev_record_hash.clone().unwrap().parse().unwrap();
    let forged = r.seal(&prev).unwrap();
    let e = verify_yaml(&forged.to_yaml().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("the decision table does not pass it"), "{e}");
    // A path that does not follow from the renders is named.
    let mut r = MetaRecord::from_yaml(&yaml).unwrap();
    r.gate.as_mut().unwrap().path = patchgate::meta::decision::Path::Agreed;
    let forged = r.seal(&prev).unwrap();
    let e = verify_yaml(&forged.to_yaml().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gate.path is agreed"), "{e}");
}

#[test]
fn a_maintainers_vote_counts_on_its_head_only() {
    use patchgate::astdiff::registry::Registry;
    use patchgate::astdiff::DiffOptions;
    use patchgate::audit::rule_guard::RuleSet;
    use patchgate::config::{self, Flags};
    use patchgate::gate::check::{run_check_with, CheckRequest, RenderBSource};
    use patchgate::meta::decision::{HumanVerdict, HumanVote};
    use std::sync::Arc;
    let w = world();
    let cfg = w.config(&["approve", "abstain"], "");
    let settings = config::resolve(
        &Flags {
            config: Some(cfg),
            data_dir: Some(w.dir.path().join("data")),
            ..Flags::default()
        },
        &|_| None,
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let head = git2::Repository::open(&w.repo)
        .unwrap()
        .revparse_single("render-a")
        .unwrap()
        .id()
        .to_string();
    let req = CheckRequest {
        repo: w.repo.clone(),
        base: "main".into(),
        head: "render-a".into(),
        render_b: Some(RenderBSource::Rev("render-c".into())),
        write_meta: None,
        attach_note: false,
        diff: DiffOptions::default(),
        pr_number: Some(7),
        pr_body: None,
        repo_name: Some("o/demo".into()),
        repo_config: None,
    };
    let vote = |verdict, on: &str| HumanVote {
        verdict,
        by: "maria".into(),
        permission: "maintain".into(),
        reason: "read both; A's backoff is the one asked for".into(),
        head: on.into(),
        at: None,
    };
    let run = |human: Option<HumanVote>| {
        rt.block_on(async {
            let store = Arc::new(
                patchgate::store::Store::open(&settings.data_dir, None)
                    .await
                    .unwrap(),
            );
            run_check_with(
                &settings,
                store,
                Arc::new(Registry::embedded().unwrap()),
                RuleSet::embedded().unwrap(),
                &req,
                &|_| None,
                human,
            )
            .await
            .unwrap()
        })
    };
    let o = run(None);
    assert!(!o.record.quorum_passed, "escalated, one abstention");
    let o = run(Some(vote(HumanVerdict::Approve, &head)));
    assert!(o.record.quorum_passed, "{}", o.gate.reason);
    assert_eq!(
        o.record.gate.as_ref().unwrap().basis,
        patchgate::meta::decision::Basis::Human
    );
    o.record.verify().unwrap();
    let text = patchgate::gate::summary::render_check_text(&o, false);
    assert!(
        text.contains("maintainer    approve by @maria (maintain) on this head"),
        "{text}"
    );
    // The ledger holds the vote, bound to the head; the standing vote is read back from it.
    let rows = rt.block_on(async {
        use patchgate::meta::ledger::LedgerStore;
        let store = patchgate::store::Store::open(&settings.data_dir, None)
            .await
            .unwrap();
        store.all().await.unwrap()
    });
    let standing = patchgate::meta::human::standing_vote(&rows, "o/demo", &head).unwrap();
    assert_eq!(standing.verdict, HumanVerdict::Approve);
    // A new push: a vote given on another head counts for nothing.
    let o = run(Some(vote(
        HumanVerdict::Approve,
        "0000000000000000000000000000000000000000",
    )));
    assert!(!o.record.quorum_passed);
    assert!(o.gate.human_voided);
    let text = patchgate::gate::summary::render_check_text(&o, false);
    assert!(text.contains("VOID"), "{text}");
    // A block blocks even an escalated audit every auditor approved.
    let o = run(Some(vote(HumanVerdict::Block, &head)));
    assert!(!o.record.quorum_passed);
    assert!(
        o.gate.reason.starts_with("blocked by @maria"),
        "{}",
        o.gate.reason
    );
}
