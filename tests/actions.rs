//! The GitHub Actions edge (`patchgate::gate::actions`), run as a runner runs a step: a real
//! `pull_request` payload pointed at the demo repository that `fixtures/demo/make-repo.sh`
//! builds, the whole gate run in-process, and what the step prints and writes checked as the
//! runner would read it. Plus the action's own files: `action.yml` and the example workflow.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use patchgate::astdiff::registry::Registry;
use patchgate::astdiff::DiffOptions;
use patchgate::audit::rule_guard::RuleSet;
use patchgate::audit::vote::{Finding, Severity};
use patchgate::config::{self, Flags};
use patchgate::gate::actions::{self, ActionsContext, ActionsError, FailOn};
use patchgate::gate::check::{run_check, CheckOutcome, RenderBSource};
use patchgate::store::Store;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct World {
    dir: tempfile::TempDir,
    repo: PathBuf,
    env: HashMap<String, String>,
}

impl World {
    fn env(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |k: &str| self.env.get(k).cloned()
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn git(repo: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The demo repository, the fixture `pull_request.opened` payload rewritten to point at it
/// (base `main`, head `render-a`, a PR body), and the environment the runner gives a step.
fn world(extra: &[(&str, &str)]) -> World {
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
    let base = git(&repo, &["rev-parse", "main"]);
    let head = git(&repo, &["rev-parse", "render-a"]);

    let mut payload: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/github/webhooks/pull_request.opened.json")).unwrap(),
    )
    .unwrap();
    let pr = payload.get_mut("pull_request").unwrap();
    pr["base"]["sha"] = base.clone().into();
    pr["base"]["ref"] = "main".into();
    pr["head"]["sha"] = head.clone().into();
    pr["head"]["ref"] = "render-a".into();
    // The PR body is the builder's explanation of render A (it comes first, before the head
    // commit's message, as render A's explanation).
    pr["body"] = git(&repo, &["log", "-1", "--format=%B", "render-a"]).into();
    let event = dir.path().join("event.json");
    std::fs::write(&event, serde_json::to_vec_pretty(&payload).unwrap()).unwrap();

    let ok = dir.path().join("ok.sh");
    std::fs::write(
        &ok,
        "cat >/dev/null\necho '{\"verdict\":\"approve\",\"reason\":\"reviewed\",\"explanation\":\"fine\"}'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("server.yml"),
        format!(
            "auditors:\n  - {{name: rule-guard, kind: rules}}\n  - {{name: team-a, kind: command, command: [sh, {ok}], timeout_s: 20}}\n  - {{name: team-b, kind: command, command: [sh, {ok}], timeout_s: 20}}\nquorum: {{required: 2}}\n",
            ok = ok.display()
        ),
    )
    .unwrap();

    let temp = dir.path().join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let mut env: HashMap<String, String> = [
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_REPOSITORY", "octo/demo".to_string()),
        ("GITHUB_EVENT_NAME", "pull_request".to_string()),
        ("GITHUB_EVENT_PATH", event.display().to_string()),
        ("GITHUB_BASE_REF", "main".to_string()),
        ("GITHUB_HEAD_REF", "render-a".to_string()),
        ("GITHUB_SHA", "f".repeat(40)),
        ("GITHUB_WORKSPACE", repo.display().to_string()),
        (
            "GITHUB_STEP_SUMMARY",
            dir.path().join("summary.md").display().to_string(),
        ),
        (
            "GITHUB_OUTPUT",
            dir.path().join("output.txt").display().to_string(),
        ),
        ("RUNNER_TEMP", temp.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    World { dir, repo, env }
}

/// The whole gate, in-process, as `patchgate check --github-actions` runs it.
fn run_gate(w: &World, ctx: &ActionsContext, approving: bool) -> CheckOutcome {
    let flags = Flags {
        data_dir: Some(w.path("data")),
        database_url: None,
        config: approving.then(|| w.path("server.yml")),
        threshold_percent: None,
        audit_mode: None,
    };
    // Only what the runner gave: no keys from the machine running the tests.
    let env = w.env();
    let settings = config::resolve(&flags, &env).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(Store::open(&settings.data_dir, None).await.unwrap());
        let registry = Arc::new(Registry::embedded().unwrap());
        let rules = RuleSet::embedded().unwrap();
        let req = ctx.check_request(DiffOptions {
            threshold_percent: settings.threshold_percent,
            ..DiffOptions::default()
        });
        run_check(&settings, store, registry, rules, &req, &env)
            .await
            .unwrap()
    })
}

/// Parse a `GITHUB_OUTPUT` file the way the runner does.
fn parse_outputs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (name, delim) = line
            .split_once("<<")
            .unwrap_or_else(|| panic!("not heredoc form: {line}"));
        assert!(delim.starts_with("ghadelimiter_"), "{delim}");
        let mut value = Vec::new();
        loop {
            let l = lines.next().expect("unterminated heredoc");
            if l == delim {
                break;
            }
            value.push(l);
        }
        out.push((name.to_string(), value.join("\n")));
    }
    out
}

#[test]
fn a_pull_request_step_passes_with_outputs_summary_and_record() {
    let w = world(&[
        ("PATCHGATE_RENDER_B", "render-b"),
        ("OPENAI_API_KEY", "sk-test-0123456789"),
    ]);
    let ctx = ActionsContext::from_env(&w.env()).unwrap();
    let pr = ctx.pull_request.as_ref().unwrap();
    assert_eq!(pr.number, 2);
    assert_eq!(pr.base_ref, "main");
    assert_eq!(ctx.base, git(&w.repo, &["rev-parse", "main"]));
    assert_eq!(ctx.head, git(&w.repo, &["rev-parse", "render-a"]));
    assert_eq!(ctx.pr_number(), Some(2));
    assert!(ctx.pr_body().unwrap().starts_with("Retry HTTP fetches"));
    assert!(matches!(&ctx.render_b, Some(RenderBSource::Rev(r)) if r == "render-b"));
    assert_eq!(ctx.fail_on, FailOn::Quorum);
    assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);

    // Masks first, then everything else.
    let secrets = actions::secrets_to_mask(
        &w.env(),
        &w.env.keys().cloned().collect::<Vec<_>>(),
        &["OPENAI_API_KEY".to_string()],
    );
    let mut stdout = actions::mask_commands(&secrets).into_bytes();
    let outcome = run_gate(&w, &ctx, true);
    let code = actions::finish(&outcome, &ctx, &mut stdout).unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(
        stdout.starts_with("::add-mask::sk-test-0123456789\n"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("sk-test-0123456789").count(), 1, "{stdout}");

    assert!(outcome.record.quorum_passed);
    assert_eq!(code, 0);

    let outputs = parse_outputs(&std::fs::read_to_string(w.path("output.txt")).unwrap());
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "quorum-passed",
            "variance-percent",
            "record-hash",
            "record-path"
        ]
    );
    let get = |n: &str| outputs.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(get("quorum-passed"), "true");
    let variance: f64 = get("variance-percent").parse().unwrap();
    assert!((0.0..=3.0).contains(&variance), "{variance}");
    assert_eq!(Some(get("record-hash")), outcome.record.record_hash.clone());
    assert!(get("record-hash").starts_with("sha256:"));
    let record_path = PathBuf::from(get("record-path"));
    assert_eq!(record_path, w.path("runner-temp/patchgate/meta.yaml"));
    let yaml = std::fs::read_to_string(&record_path).unwrap();
    assert!(yaml.contains("quorum_passed: true"), "{yaml}");

    let summary = std::fs::read_to_string(w.path("summary.md")).unwrap();
    assert!(
        summary.starts_with("## ✅ patchgate: passed — `quorum_passed: true`"),
        "{summary}"
    );
    let at = |s: &str| summary.find(s).unwrap_or_else(|| panic!("{s}: {summary}"));
    assert!(at("variance **") < at("### Votes"));
    for v in &outcome.audit.votes {
        assert!(summary.contains(&format!("| {} |", v.auditor)), "{summary}");
    }
    assert!(
        summary.contains("| team-a | ✅ approve | reviewed |"),
        "{summary}"
    );
    assert!(at("### Votes") < at("### Record"));
    assert!(summary.contains(outcome.record.record_hash.as_deref().unwrap()));
    assert!(at("### Record") < at("### What to do next"));
}

#[test]
fn a_failed_quorum_fails_the_step_unless_fail_on_never() {
    let w = world(&[("PATCHGATE_FAIL_ON", "never")]);
    let ctx = ActionsContext::from_env(&w.env()).unwrap();
    assert_eq!(ctx.fail_on, FailOn::Never);
    // Nothing configured: the model auditors abstain and the quorum cannot pass.
    let outcome = run_gate(&w, &ctx, false);
    assert!(!outcome.record.quorum_passed);
    assert_eq!(actions::exit_code(&outcome, FailOn::Never), 0);
    assert_eq!(actions::exit_code(&outcome, FailOn::Quorum), 1);
    let mut stdout = Vec::new();
    assert_eq!(actions::finish(&outcome, &ctx, &mut stdout).unwrap(), 0);

    let outputs = parse_outputs(&std::fs::read_to_string(w.path("output.txt")).unwrap());
    assert_eq!(outputs[0], ("quorum-passed".into(), "false".into()));
    // One render: no variance to report.
    assert_eq!(outputs[1], ("variance-percent".into(), String::new()));
    let summary = std::fs::read_to_string(w.path("summary.md")).unwrap();
    assert!(
        summary.starts_with("## ❌ patchgate: blocked — `quorum_passed: false`"),
        "{summary}"
    );
    assert!(summary.contains("not configured"), "{summary}");
    assert!(summary.contains("OPENAI_API_KEY"), "{summary}");
}

fn finding(sev: Severity, i: usize, message: &str) -> Finding {
    Finding {
        rule: format!("rule.{sev}"),
        file: Some(format!("src/f{i},x:y.rs")),
        line: Some(i + 1),
        severity: sev,
        message: message.to_string(),
    }
}

#[test]
fn annotations_go_most_severe_first_escaped_and_ten_per_level() {
    let w = world(&[]);
    let ctx = ActionsContext::from_env(&w.env()).unwrap();
    let mut outcome = run_gate(&w, &ctx, true);
    let v = &mut outcome.audit.votes[0];
    v.findings.clear();
    for i in 0..12 {
        v.findings.push(finding(Severity::Info, i, "fyi"));
    }
    for i in 0..14 {
        v.findings.push(finding(Severity::Warning, i, "hmm"));
    }
    for i in 0..25 {
        v.findings
            .push(finding(Severity::Error, i, "50% wrong\r\nline two"));
    }
    let a = actions::annotations(&outcome);
    let kinds: Vec<&str> = a
        .iter()
        .map(|l| l.split([' ', ':']).nth(2).unwrap())
        .collect();
    let errors = kinds.iter().filter(|k| **k == "error").count();
    let warnings = kinds.iter().filter(|k| **k == "warning").count();
    let notices = kinds.iter().filter(|k| **k == "notice").count();
    assert_eq!((errors, warnings, notices), (10, 10, 10), "{a:#?}");
    // Ordered: every error before every warning before every notice.
    let rank = |k: &str| match k {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    assert!(
        kinds.windows(2).all(|p| rank(p[0]) <= rank(p[1])),
        "{kinds:?}"
    );
    assert_eq!(
        a[0],
        format!(
            "::error file=src/f0%2Cx%3Ay.rs,line=1,endLine=1,title=patchgate {}%3A rule.error::50%25 wrong%0D%0Aline two",
            outcome.audit.votes[0].auditor
        )
    );
    // The last is the summary line, and it counts what was left out: 15 errors, 4 warnings,
    // 3 notices (one notice slot went to this line).
    let last = a.last().unwrap();
    assert!(last.starts_with("::notice title=patchgate%3A more findings::22 more finding(s) (15 errors, 4 warnings, 3 notices)"), "{last}");
    assert!(last.contains("step summary"));
    // No annotation line breaks.
    assert!(a.iter().all(|l| !l.contains('\n') && !l.contains('\r')));

    // Few findings: all of them, no summary line.
    outcome.audit.votes[0].findings.truncate(3);
    let a = actions::annotations(&outcome);
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|l| l.starts_with("::notice file=")));
}

#[test]
fn the_summary_stays_under_1_mib_for_a_huge_change() {
    let w = world(&[("PATCHGATE_RENDER_B", "render-b")]);
    let ctx = ActionsContext::from_env(&w.env()).unwrap();
    let mut outcome = run_gate(&w, &ctx, true);
    let long = "x".repeat(3_000);
    for v in &mut outcome.audit.votes {
        v.reason = Some(format!("{long}|<script>"));
        for i in 0..20_000 {
            v.findings
                .push(finding(Severity::Warning, i, &format!("{i} {long}")));
        }
    }
    let dual = outcome.dual.as_mut().unwrap();
    let template = dual.files[0].clone();
    for i in 0..50_000 {
        let mut f = template.clone();
        f.path = format!("src/generated/file_{i}.rs");
        f.differing = 1;
        dual.files.push(f);
    }
    let s = actions::step_summary(&outcome);
    assert!(s.len() < 1024 * 1024, "{} bytes", s.len());
    assert!(s.starts_with("## ✅ patchgate: passed"), "{}", &s[..200]);
    assert!(s.contains("more finding(s) not shown"));
    // Hashes and what to do next survive the cut; reasons are capped and escaped.
    assert!(s.contains(outcome.record.record_hash.as_deref().unwrap()));
    assert!(s.contains("### What to do next"));
    assert!(!s.contains("<script>"));
    // The annotations are still ten per level.
    assert!(actions::annotations(&outcome).len() <= 31);
}

#[test]
fn masks_cover_every_secret_line_and_come_first() {
    let pem =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----\n";
    let w = world(&[
        ("ANTHROPIC_API_KEY", "sk-ant-abc"),
        ("PATCHGATE_WEBHOOK_SECRET", "whsec-1"),
        ("PATCHGATE_GITHUB_PRIVATE_KEY", pem),
        ("GITHUB_TOKEN", "ghs_token"),
        ("PATCHGATE_LISTEN", "127.0.0.1:8080"),
    ]);
    let names: Vec<String> = w.env.keys().cloned().collect();
    let secrets = actions::secrets_to_mask(
        &w.env(),
        &names,
        &["OPENAI_API_KEY".into(), "ANTHROPIC_API_KEY".into()],
    );
    for s in ["sk-ant-abc", "whsec-1", "ghs_token", pem] {
        assert!(secrets.iter().any(|x| x == s), "{s} in {secrets:?}");
    }
    assert!(!secrets.iter().any(|x| x.contains("127.0.0.1")));
    let masks = actions::mask_commands(&secrets);
    for line in [
        "sk-ant-abc",
        "whsec-1",
        "ghs_token",
        "MIIEvQIBADANBg",
        "kqhkiG9w0BAQEF",
    ] {
        assert!(masks.contains(&format!("::add-mask::{line}\n")), "{masks}");
    }
    assert!(masks.lines().all(|l| l.starts_with("::add-mask::")));
}

#[test]
fn clear_errors_for_a_broken_environment() {
    let w = world(&[]);
    let without = |k: &'static str| {
        let env = w.env();
        move |n: &str| if n == k { None } else { env(n) }
    };
    let e = ActionsContext::from_env(&without("GITHUB_EVENT_PATH")).unwrap_err();
    assert!(
        matches!(e, ActionsError::Missing("GITHUB_EVENT_PATH")),
        "{e}"
    );
    assert!(e.to_string().contains("GitHub Actions"), "{e}");

    let missing = w.path("nope.json");
    let env = |n: &str| {
        if n == "GITHUB_EVENT_PATH" {
            Some(missing.display().to_string())
        } else {
            w.env.get(n).cloned()
        }
    };
    let e = ActionsContext::from_env(&env).unwrap_err();
    assert!(matches!(e, ActionsError::EventFile { .. }), "{e}");
    assert!(e.to_string().contains("nope.json"), "{e}");

    std::fs::write(w.path("bad.json"), "{not json").unwrap();
    let bad = w.path("bad.json");
    let env = |n: &str| {
        if n == "GITHUB_EVENT_PATH" {
            Some(bad.display().to_string())
        } else {
            w.env.get(n).cloned()
        }
    };
    assert!(matches!(
        ActionsContext::from_env(&env).unwrap_err(),
        ActionsError::EventJson { .. }
    ));

    let env = |n: &str| {
        if n == "PATCHGATE_FAIL_ON" {
            Some("sometimes".into())
        } else {
            w.env.get(n).cloned()
        }
    };
    let e = ActionsContext::from_env(&env).unwrap_err();
    assert!(e.to_string().contains("PATCHGATE_FAIL_ON"), "{e}");

    // A push event: the base is the push's `before`, the head GITHUB_SHA.
    std::fs::write(
        w.path("push.json"),
        r#"{"before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222"}"#,
    )
    .unwrap();
    let push = w.path("push.json");
    let env = |n: &str| match n {
        "GITHUB_EVENT_PATH" => Some(push.display().to_string()),
        "GITHUB_EVENT_NAME" => Some("push".into()),
        "GITHUB_BASE_REF" => Some(String::new()),
        "PATCHGATE_RENDER_B" => Some("b.patch".into()),
        _ => w.env.get(n).cloned(),
    };
    let ctx = ActionsContext::from_env(&env).unwrap();
    assert_eq!(ctx.base, "1".repeat(40));
    assert_eq!(ctx.head, "f".repeat(40));
    assert!(ctx.pull_request.is_none());
    assert!(matches!(&ctx.render_b, Some(RenderBSource::Patch(p)) if *p == w.repo.join("b.patch")));

    // A pull_request event whose payload has no pull request is an error, not a guess.
    std::fs::write(w.path("empty.json"), "{}").unwrap();
    let empty = w.path("empty.json");
    let env = |n: &str| match n {
        "GITHUB_EVENT_PATH" => Some(empty.display().to_string()),
        _ => w.env.get(n).cloned(),
    };
    let e = ActionsContext::from_env(&env).unwrap_err();
    assert!(e.to_string().contains("pull_request"), "{e}");

    // pull_request_target and a server config in the checkout are warned about.
    let env = |n: &str| match n {
        "GITHUB_EVENT_NAME" => Some("pull_request_target".into()),
        "PATCHGATE_CONFIG" => Some(".github/patchgate-server.yml".into()),
        _ => w.env.get(n).cloned(),
    };
    let ctx = ActionsContext::from_env(&env).unwrap();
    assert_eq!(ctx.warnings.len(), 2, "{:?}", ctx.warnings);
}

#[test]
fn outputs_survive_multi_line_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out");
    std::fs::write(&p, "earlier<<EOF\nx\nEOF\n").unwrap();
    actions::write_outputs(
        &p,
        &[
            ("a".into(), "one\ntwo\nEOF".into()),
            ("b".into(), String::new()),
        ],
    )
    .unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with("earlier<<EOF\nx\nEOF\n"),
        "appends: {text}"
    );
    let parsed = parse_outputs(&text["earlier<<EOF\nx\nEOF\n".len()..]);
    assert_eq!(
        parsed,
        vec![
            ("a".to_string(), "one\ntwo\nEOF".to_string()),
            ("b".to_string(), String::new())
        ]
    );
    assert!(actions::write_outputs(&p, &[("bad\nname".into(), "v".into())]).is_err());
}

// ---------------------------------------------------------------------------------------------
// The action's files.

fn yaml(path: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join(path)).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `${{ <prefix>.NAME` in `text`.
fn refs<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let needle = format!("{prefix}.");
    for expr in text.split("${{").skip(1) {
        let expr = expr.split("}}").next().unwrap();
        let mut rest = expr;
        while let Some(i) = rest.find(&needle) {
            let name = &rest[i + needle.len()..];
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(name.len());
            out.push(&name[..end]);
            rest = &name[end..];
        }
    }
    out
}

#[test]
fn action_yml_declares_what_it_uses_and_gives_secrets_only_to_the_check() {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let a = yaml("action.yml");
    assert_eq!(a["runs"]["using"].as_str(), Some("composite"));
    let inputs = a["inputs"].as_mapping().unwrap();
    let declared: Vec<&str> = inputs.keys().map(|k| k.as_str().unwrap()).collect();
    for want in [
        "render-b",
        "config",
        "threshold",
        "fail-on",
        "openai-api-key",
        "anthropic-api-key",
        "version",
    ] {
        assert!(declared.contains(&want), "input {want} missing");
    }
    let used = refs(&text, "inputs");
    for u in &used {
        assert!(
            declared.contains(u),
            "${{{{ inputs.{u} }}}} is not declared"
        );
    }
    for d in &declared {
        assert!(used.contains(d), "input {d} is declared but never used");
    }
    for secret in ["openai-api-key", "anthropic-api-key"] {
        let desc = inputs[secret]["description"].as_str().unwrap();
        assert!(desc.contains("Secret"), "{secret}: {desc}");
    }

    let steps = a["runs"]["steps"].as_sequence().unwrap();
    let ids: Vec<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    // Outputs come from the check step, one per output the step writes.
    let outputs = a["outputs"].as_mapping().unwrap();
    for name in [
        "quorum-passed",
        "variance-percent",
        "record-hash",
        "record-path",
    ] {
        let v = outputs[name]["value"].as_str().unwrap();
        assert_eq!(v, format!("${{{{ steps.check.outputs.{name} }}}}"));
    }
    for s in refs(&text, "steps") {
        assert!(ids.contains(&s), "steps.{s} is not a step id");
    }
    // Composite steps need a shell; secrets reach only the step running the check.
    for s in steps {
        let is_check = s["id"].as_str() == Some("check");
        if s["run"].is_string() {
            assert!(s["shell"].is_string(), "{s:?} has no shell");
        }
        let env = serde_yaml::to_string(&s["env"]).unwrap();
        let with = serde_yaml::to_string(&s["with"]).unwrap();
        for secret in ["inputs.openai-api-key", "inputs.anthropic-api-key"] {
            assert_eq!(
                env.contains(secret) || with.contains(secret),
                is_check && env.contains(secret),
                "{secret} in {s:?}"
            );
        }
        // Inputs reach scripts through env, never spliced into the script text.
        if let Some(run) = s["run"].as_str() {
            assert!(!run.contains("${{"), "expression in a script: {run}");
        }
        if is_check {
            assert!(s["run"]
                .as_str()
                .unwrap()
                .contains("patchgate check --github-actions"));
            assert_eq!(
                s["env"]["PATCHGATE_FAIL_ON"].as_str(),
                Some("${{ inputs.fail-on }}")
            );
        }
    }
    // The source build happens in the action's directory, not the (untrusted) workspace.
    let build = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("cargo install"))
        })
        .unwrap();
    assert!(build["run"].as_str().unwrap().contains("--locked"));
    assert_eq!(
        build["working-directory"].as_str(),
        Some("${{ github.action_path }}")
    );
    assert!(text.contains("sha256sum"), "the release binary is verified");
    // The record as a page: written even when the gate blocked, uploaded, linked.
    let report = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("report"))
        .unwrap();
    assert!(report["if"].as_str().unwrap().starts_with("always()"));
    assert!(report["run"]
        .as_str()
        .unwrap()
        .contains("patchgate report \"$RECORD\" --html \"$OUT\""));
    let upload = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("upload"))
        .unwrap();
    assert!(upload["uses"]
        .as_str()
        .unwrap()
        .starts_with("actions/upload-artifact@"));
    assert!(text.contains("steps.upload.outputs.artifact-url"));
    assert!(text.contains(">> \"$GITHUB_STEP_SUMMARY\""));
}

#[test]
fn the_example_workflow_uses_pull_request_with_minimal_permissions() {
    let w = yaml("examples/workflows/patchgate.yml");
    let on = &w["on"];
    assert!(on.get("pull_request").is_some());
    assert!(on.get("pull_request_target").is_none());
    let text = std::fs::read_to_string(root().join("examples/workflows/patchgate.yml")).unwrap();
    assert!(text.contains("Why `pull_request` and not `pull_request_target`"));
    assert_eq!(
        serde_yaml::to_string(&w["permissions"]).unwrap().trim(),
        "contents: read"
    );
    let steps = w["jobs"]["gate"]["steps"].as_sequence().unwrap();
    let checkout = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        })
        .unwrap();
    assert_eq!(checkout["with"]["fetch-depth"].as_u64(), Some(0));
    assert!(steps.iter().any(|s| s["uses"]
        .as_str()
        .is_some_and(|u| u.starts_with("patchgate/patchgate@"))));

    let r = yaml(".github/workflows/release.yml");
    let matrix = serde_yaml::to_string(&r["jobs"]["build"]["strategy"]["matrix"]).unwrap();
    for t in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        assert!(matrix.contains(t), "{t}");
    }
}

/// The binary itself, as the action's step runs it: `patchgate check --github-actions`.
#[test]
fn the_binary_runs_as_an_actions_step() {
    let w = world(&[
        ("PATCHGATE_RENDER_B", "render-b"),
        ("OPENAI_API_KEY", "sk-test-secret-value-123"),
    ]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchgate"));
    cmd.args(["check", "--github-actions", "--config"])
        .arg(w.path("server.yml"))
        .arg("--data-dir")
        .arg(w.path("data"))
        .env_clear();
    for (k, v) in &w.env {
        cmd.env(k, v);
    }
    for k in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    let o = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.starts_with("::add-mask::"),
        "masks come first: {stdout}"
    );
    assert!(
        stdout.contains("::add-mask::sk-test-secret-value-123"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("sk-test-secret-value-123").count(),
        1,
        "only the mask names it"
    );
    let outputs = std::fs::read_to_string(&w.env["GITHUB_OUTPUT"]).unwrap();
    for name in [
        "quorum-passed",
        "variance-percent",
        "record-hash",
        "record-path",
    ] {
        assert!(
            outputs.contains(&format!("{name}<<")),
            "{name} missing: {outputs}"
        );
    }
    let summary = std::fs::read_to_string(&w.env["GITHUB_STEP_SUMMARY"]).unwrap();
    assert!(summary.starts_with("## ✅ patchgate: passed"), "{summary}");
}
