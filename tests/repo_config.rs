//! `.github/patchgate.yml`: the keys, what a repository may never set, and `_extends`
//! inheritance resolved through an in-memory `ConfigSource`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use patchgate::astdiff::registry::Registry;
use patchgate::audit::rule_guard::{Expectation, RuleSet};
use patchgate::gate::repo_config::{
    apply_rules, own_rule_failures, parse, parse_extends, render_problems, resolve,
    resolve_offline, ConfigSource, RepoConfig, ResolvedConfig, RollbackAction, MAX_EXTENDS_DEPTH,
    REPO_CONFIG_PATH,
};

/// Other repositories' files, by `(repo, path)`; `fail` makes every fetch of that repo an error.
#[derive(Default)]
struct Files {
    files: HashMap<(String, String), String>,
    fail: Option<String>,
    fetches: AtomicUsize,
}

impl Files {
    fn with(mut self, repo: &str, path: &str, text: &str) -> Self {
        self.files
            .insert((repo.to_string(), path.to_string()), text.to_string());
        self
    }
}

impl ConfigSource for Files {
    fn fetch(
        &self,
        repo: &str,
        path: &str,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let result = if self.fail.as_deref() == Some(repo) {
            Err(anyhow::anyhow!("GitHub answered 502"))
        } else {
            Ok(self
                .files
                .get(&(repo.to_string(), path.to_string()))
                .cloned())
        };
        async move { result }
    }
}

const DEFAULT_PATH: &str = REPO_CONFIG_PATH;

fn problems_text(r: &ResolvedConfig) -> String {
    r.problems
        .iter()
        .map(|p| format!("{} | {} | {}", p.source, p.path, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_ok(r: &ResolvedConfig) {
    assert!(r.is_ok(), "unexpected problems:\n{}", problems_text(r));
}

fn assert_problem(r: &ResolvedConfig, path: &str, needle: &str) {
    assert!(
        r.problems
            .iter()
            .any(|p| p.path == path && p.message.contains(needle)),
        "no problem at `{path}` containing {needle:?}:\n{}",
        problems_text(r)
    );
    assert_eq!(
        r.config,
        RepoConfig::default(),
        "a broken config must fall back to the defaults"
    );
}

// --- single files ------------------------------------------------------------------------------

#[test]
fn every_key_is_optional_and_unknown_keys_are_refused() {
    assert_eq!(parse("", "c").unwrap(), RepoConfig::default());
    assert_eq!(
        parse("threshold_percent: 5\n", "c")
            .unwrap()
            .threshold_percent,
        Some(5.0)
    );
    let err = parse(
        "auditors: [{name: x, kind: openai, base_url: http://evil}]\n",
        "c",
    )
    .unwrap_err();
    assert!(err.to_string().contains("auditors"), "{err}");
    assert!(parse("threshold_percent: 300\n", "c").is_err());
}

#[test]
fn a_repository_may_disable_and_add_rules_but_not_weaken_secret_rules() {
    let pack = RuleSet::embedded().unwrap();
    let n = pack.len();
    let cfg = parse(
        "rules:\n  disable: [rust-dbg-macro]\n  add:\n    - id: no-todo-comments\n      message: TODO left in\n      severity: warning\n      added_line: 'TODO'\n      examples:\n        match: ['// TODO fix']\n        no_match: ['// done']\n",
        "c",
    )
    .unwrap();
    let rules = apply_rules(pack, &cfg, "c").unwrap();
    assert_eq!(rules.len(), n);
    assert!(rules.get("rust-dbg-macro").is_none());
    assert!(rules.get("no-todo-comments").is_some());
    let weaken = parse("rules:\n  disable: [secret-private-key]\n", "c").unwrap();
    let err = apply_rules(RuleSet::embedded().unwrap(), &weaken, "c").unwrap_err();
    assert!(err.to_string().contains("secret-private-key"), "{err}");
}

#[test]
fn only_the_repositorys_own_rules_failing_their_examples_are_reported() {
    let registry = Registry::embedded().unwrap();
    let good = "    - id: no-todo-comments\n      message: TODO left in\n      severity: warning\n      added_line: 'TODO'\n      examples:\n        match: ['// TODO fix']\n        no_match: ['// done']\n";
    let bad = "    - id: no-fixme\n      message: FIXME left in\n      severity: warning\n      added_line: 'FIXME'\n      examples:\n        match: ['// nothing here']\n        no_match: ['// done']\n";
    let cfg = parse(&format!("rules:\n  add:\n{good}"), "c").unwrap();
    assert_eq!(cfg.rules.added_ids(), ["no-todo-comments"]);
    let rules = apply_rules(RuleSet::embedded().unwrap(), &cfg, "c").unwrap();
    assert!(own_rule_failures(&cfg, &rules, &registry).is_empty());

    let cfg = parse(&format!("rules:\n  add:\n{good}{bad}"), "c").unwrap();
    let rules = apply_rules(RuleSet::embedded().unwrap(), &cfg, "c").unwrap();
    let failures = own_rule_failures(&cfg, &rules, &registry);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].rule_id, "no-fixme");
    assert_eq!(failures[0].expectation, Expectation::Match);
    assert_eq!(failures[0].index, Some(0));
}

#[test]
fn the_new_keys_parse() {
    let cfg = parse(
        "advisory: true\nrender_b: {required: true}\nrollback:\n  action: pull-request\n  labels: [revert, urgent]\n  window_hours: 12\n  max_per_day: 2\n  freeze_exempt_label: hold\npolicy:\n  failure_limit: 2\n  metrics:\n    latency_p95_ms: {max: 400}\n_extends: .github\n",
        "c",
    )
    .unwrap();
    assert!(cfg.advisory);
    assert!(cfg.render_b.required);
    assert_eq!(cfg.rollback.action, Some(RollbackAction::PullRequest));
    assert_eq!(cfg.rollback.labels, vec!["revert", "urgent"]);
    assert_eq!(cfg.extends.as_deref(), Some(".github"));
    let policy = cfg.effective_policy().unwrap();
    assert_eq!(policy.failure_limit, 2);
    assert_eq!(policy.window_hours, 12);
    assert_eq!(policy.max_reverts_per_day, 2);
    assert_eq!(policy.freeze_label, "hold");
    assert_eq!(policy.rule("latency_p95_ms").unwrap().max, Some(400.0));
}

#[tokio::test]
async fn bad_types_are_reported_with_their_key_paths_all_at_once() {
    let text = "advisory: yes please\nrender_b: {required: 3}\nrollback:\n  action: revert\n  labels: [ok, '']\n  window_hours: 0\n  max_per_day: -1\n  auto_merge: maybe\nthreshold_percent: high\nrules: {disable: build}\n";
    let r = resolve(Some(text), "acme/app", &Files::default()).await;
    assert_problem(&r, "advisory", "expected true or false");
    assert_problem(&r, "render_b.required", "expected true or false");
    assert_problem(&r, "rollback.action", "push, pull-request, comment");
    assert_problem(&r, "rollback.labels[1]", "1 to 50 characters");
    assert_problem(&r, "rollback.window_hours", "at least 1");
    assert_problem(&r, "rollback.max_per_day", "whole number");
    assert_problem(&r, "rollback.auto_merge", "rollback.auto_merge was removed");
    assert_problem(&r, "threshold_percent", "expected a number");
    assert_problem(&r, "rules.disable", "expected a list");
    assert_eq!(r.problems.len(), 9, "{}", problems_text(&r));
    assert!(r
        .problems
        .iter()
        .all(|p| p.source == "acme/app:.github/patchgate.yml@base"));
}

/// `rollback.auto_merge` was accepted once but never did what it said; a config that still
/// sets it is told so by name (whatever its value, in the file itself or in a base it
/// extends), and nothing of it is applied.
#[tokio::test]
async fn a_removed_key_is_named_with_what_to_do() {
    let text = "rollback:\n  action: pull-request\n  auto_merge: true\n";
    let r = resolve(Some(text), "acme/app", &Files::default()).await;
    assert_problem(&r, "rollback.auto_merge", "rollback.auto_merge was removed");
    assert_problem(&r, "rollback.auto_merge", "delete the key");
    assert_eq!(r.problems.len(), 1, "{}", problems_text(&r));
    // The server reads the default branch's file with `parse`: the same message.
    let e = parse(text, "abc123").unwrap_err().to_string();
    assert!(e.contains("rollback.auto_merge was removed"), "{e}");
    // In a base the repository extends: reported against that file.
    let files = Files::default().with(
        "acme/.github",
        DEFAULT_PATH,
        "rollback: {auto_merge: false}\n",
    );
    let r = resolve(Some("_extends: .github\n"), "acme/app", &files).await;
    assert_problem(&r, "rollback.auto_merge", "rollback.auto_merge was removed");
    assert!(
        r.problems
            .iter()
            .all(|p| p.source.starts_with("acme/.github:")),
        "{}",
        problems_text(&r)
    );
}

#[tokio::test]
async fn unknown_keys_get_a_suggestion_and_the_allowed_list() {
    let r = resolve(
        Some("advisroy: true\nrollback: {acton: push}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "advisroy", "Did you mean `advisory`?");
    assert_problem(&r, "rollback.acton", "Did you mean `action`?");
    assert_problem(&r, "rollback.acton", "Allowed here: action, labels");
    let r = resolve(
        Some("rollback: {action: pull_request}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "rollback.action", "did you mean `pull-request`?");
}

#[tokio::test]
async fn a_repository_can_never_set_endpoints_keys_or_commands() {
    let r = resolve(
        Some("auditors:\n  - {name: x, kind: openai, base_url: 'http://evil', api_key_env: AWS_SECRET}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "auditors", "may not set endpoints, keys or commands");
    assert_problem(&r, "auditors", "auditors[0].base_url");
    assert_problem(&r, "auditors", "auditors[0].api_key_env");
    let r = resolve(
        Some("rollback: {command: [rm, -rf]}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "rollback.command", "call an address or run a program");
    let r = resolve(
        Some("quorum: {required: 1}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "quorum", "server config");
    // Forbidden keys in an extended file are just as forbidden.
    let files = Files::default().with("acme/.github", DEFAULT_PATH, "base_url: http://evil\n");
    let r = resolve(Some("_extends: .github\n"), "acme/app", &files).await;
    assert_problem(&r, "base_url", "may not set endpoints");
    assert_eq!(
        r.problems[0].source,
        "acme/.github:.github/patchgate.yml@default-branch"
    );
}

#[tokio::test]
async fn policy_errors_surface_here() {
    let r = resolve(
        Some("policy:\n  failure_limit: 0\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "policy.failure_limit", "at least 1");
    let r = resolve(
        Some("policy:\n  metrics:\n    latency: {min: 5, max: 1}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "policy.metrics.latency", "min is above max");
    let r = resolve(
        Some("policy: {falure_limit: 2}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "policy", "falure_limit");
}

#[tokio::test]
async fn not_yaml_and_not_a_mapping() {
    let r = resolve(Some("a: [b\n"), "acme/app", &Files::default()).await;
    assert_problem(&r, "", "not valid YAML");
    let r = resolve(Some("- just\n- a list\n"), "acme/app", &Files::default()).await;
    assert_problem(&r, "", "expected a mapping of keys");
}

#[tokio::test]
async fn cross_key_checks_see_the_merged_result() {
    // A secret rule cannot be disabled through inheritance either.
    let files = Files::default().with(
        "acme/.github",
        DEFAULT_PATH,
        "rules: {disable: [secret-private-key]}\n",
    );
    let r = resolve(Some("_extends: .github\n"), "acme/app", &files).await;
    assert_problem(&r, "rules", "secret-private-key");
}

// --- _extends ----------------------------------------------------------------------------------

#[test]
fn extends_forms() {
    let t = parse_extends(".github", "acme").unwrap();
    assert_eq!(
        (t.repo.as_str(), t.path.as_str()),
        ("acme/.github", DEFAULT_PATH)
    );
    let t = parse_extends("shared-config", "acme").unwrap();
    assert_eq!(t.repo, "acme/shared-config");
    let t = parse_extends("other/base", "acme").unwrap();
    assert_eq!(
        (t.repo.as_str(), t.path.as_str()),
        ("other/base", DEFAULT_PATH)
    );
    let t = parse_extends("other/base:configs/patchgate.yml", "acme").unwrap();
    assert_eq!(t.path, "configs/patchgate.yml");
    let t = parse_extends(".github:teams/web.yml", "acme").unwrap();
    assert_eq!(
        (t.repo.as_str(), t.path.as_str()),
        ("acme/.github", "teams/web.yml")
    );
    for bad in [
        "",
        "a/b/c",
        "owner/",
        "../x",
        "x:../../etc/passwd",
        "x:/abs.yml",
        "x:",
        "has space",
    ] {
        assert!(parse_extends(bad, "acme").is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn extends_dot_github() {
    let files = Files::default().with(
        "acme/.github",
        DEFAULT_PATH,
        "threshold_percent: 4\nadvisory: true\n",
    );
    let r = resolve(
        Some("_extends: .github\nadvisory: false\n"),
        "acme/app",
        &files,
    )
    .await;
    assert_ok(&r);
    assert_eq!(r.config.threshold_percent, Some(4.0));
    assert!(!r.config.advisory, "the repository's own key wins");
    assert_eq!(
        r.sources,
        vec![
            "acme/.github:.github/patchgate.yml@default-branch",
            "acme/app:.github/patchgate.yml@base"
        ]
    );
}

#[tokio::test]
async fn extends_a_sibling_repository_and_an_other_owners_with_a_path() {
    let files = Files::default()
        .with("acme/shared", DEFAULT_PATH, "render_b: {required: true}\n")
        .with(
            "platform/configs",
            "patchgate/strict.yml",
            "threshold_percent: 1\n",
        );
    let r = resolve(Some("_extends: shared\n"), "acme/app", &files).await;
    assert_ok(&r);
    assert!(r.config.render_b.required);
    let r = resolve(
        Some("_extends: platform/configs:patchgate/strict.yml\n"),
        "acme/app",
        &files,
    )
    .await;
    assert_ok(&r);
    assert_eq!(r.config.threshold_percent, Some(1.0));
    assert_eq!(
        r.sources[0],
        "platform/configs:patchgate/strict.yml@default-branch"
    );
}

#[tokio::test]
async fn a_relative_extends_is_relative_to_the_file_that_says_it() {
    // platform/configs extends `base`: that is platform/base, not acme/base.
    let files = Files::default()
        .with("platform/configs", DEFAULT_PATH, "_extends: base\n")
        .with("platform/base", DEFAULT_PATH, "advisory: true\n")
        .with("acme/base", DEFAULT_PATH, "threshold_percent: 9\n");
    let r = resolve(Some("_extends: platform/configs\n"), "acme/app", &files).await;
    assert_ok(&r);
    assert!(r.config.advisory);
    assert_eq!(r.config.threshold_percent, None);
    assert_eq!(r.sources.len(), 3);
}

#[tokio::test]
async fn deep_merge_precedence() {
    let files = Files::default()
        .with(
            "acme/.github",
            DEFAULT_PATH,
            "_extends: org-base\nrollback: {action: pull-request, labels: [revert, org]}\n",
        )
        .with(
            "acme/org-base",
            DEFAULT_PATH,
            "threshold_percent: 2\nrollback: {action: push, freeze_exempt_label: hold, max_per_day: 5}\npolicy:\n  metrics:\n    latency_p95_ms: {max: 500}\n    coverage_pct: {min: 70}\n",
        );
    let local = "_extends: .github\nrollback:\n  labels: [revert]\n  max_per_day: null\npolicy:\n  metrics:\n    coverage_pct: null\n    latency_p95_ms: {max_increase: '10%'}\n";
    let r = resolve(Some(local), "acme/app", &files).await;
    assert_ok(&r);
    let c = &r.config;
    assert_eq!(c.threshold_percent, Some(2.0), "kept from the deepest base");
    assert_eq!(
        c.rollback.action,
        Some(RollbackAction::PullRequest),
        "the nearer base wins"
    );
    assert_eq!(
        c.rollback.freeze_exempt_label.as_deref(),
        Some("hold"),
        "mappings merge key by key"
    );
    assert_eq!(c.rollback.labels, vec!["revert"], "lists are replaced");
    assert_eq!(c.rollback.max_per_day, None, "null undoes a base's value");
    let policy = c.effective_policy().unwrap();
    assert!(
        policy.rule("coverage_pct").is_none(),
        "null drops a metric's rule"
    );
    let latency = policy.rule("latency_p95_ms").unwrap();
    assert_eq!(latency.max, Some(500.0));
    assert!(latency.max_increase.is_some());
    assert_eq!(
        r.sources,
        vec![
            "acme/org-base:.github/patchgate.yml@default-branch",
            "acme/.github:.github/patchgate.yml@default-branch",
            "acme/app:.github/patchgate.yml@base"
        ]
    );
}

#[tokio::test]
async fn the_organisation_default_applies_only_without_a_file() {
    let files = Files::default().with("acme/.github", DEFAULT_PATH, "advisory: true\n");
    let r = resolve(None, "acme/app", &files).await;
    assert_ok(&r);
    assert!(r.config.advisory);
    assert_eq!(
        r.sources,
        vec!["acme/.github:.github/patchgate.yml@default-branch"]
    );
    // A file of the repository's own, even an empty one, replaces the default entirely.
    let r = resolve(Some(""), "acme/app", &files).await;
    assert_ok(&r);
    assert!(!r.config.advisory);
    // No file anywhere: the defaults, nothing read, no problem.
    let r = resolve(None, "acme/app", &Files::default()).await;
    assert_ok(&r);
    assert!(r.sources.is_empty());
    assert_eq!(r.config, RepoConfig::default());
    // The org's .github repository itself does not fall back on itself.
    let r = resolve(None, "acme/.github", &files).await;
    assert_ok(&r);
    assert!(r.sources.is_empty());
    // The org default may extend too.
    let files = Files::default()
        .with("acme/.github", DEFAULT_PATH, "_extends: policies\n")
        .with("acme/policies", DEFAULT_PATH, "threshold_percent: 6\n");
    let r = resolve(None, "acme/app", &files).await;
    assert_ok(&r);
    assert_eq!(r.config.threshold_percent, Some(6.0));
}

#[tokio::test]
async fn fetch_failures_and_missing_files_fail_closed() {
    let files = Files {
        fail: Some("acme/.github".into()),
        ..Files::default()
    };
    let r = resolve(None, "acme/app", &files).await;
    assert_problem(&r, "", "could not be read");
    assert_problem(&r, "", "502");
    let r = resolve(
        Some("_extends: .github\nadvisory: true\n"),
        "acme/app",
        &files,
    )
    .await;
    assert_problem(&r, "_extends", "could not be read");
    let r = resolve(Some("_extends: nowhere\n"), "acme/app", &Files::default()).await;
    assert_problem(&r, "_extends", "does not exist");
}

#[tokio::test]
async fn cycles_are_refused() {
    let files = Files::default()
        .with("acme/a", DEFAULT_PATH, "_extends: b\n")
        .with("acme/b", DEFAULT_PATH, "_extends: acme/a\n");
    let r = resolve(Some("_extends: a\n"), "acme/app", &files).await;
    assert_problem(&r, "_extends", "cycle");
    assert_problem(&r, "_extends", "acme/a:.github/patchgate.yml → acme/b:.github/patchgate.yml → acme/a:.github/patchgate.yml");
    // Back to the repository itself.
    let files = Files::default().with("acme/.github", DEFAULT_PATH, "_extends: app\n");
    let r = resolve(Some("_extends: .github\n"), "acme/app", &files).await;
    assert_problem(&r, "_extends", "cycle");
    // Names are compared ignoring case, as GitHub does.
    let files = Files::default().with("acme/.github", DEFAULT_PATH, "_extends: ACME/App\n");
    let r = resolve(Some("_extends: .github\n"), "acme/app", &files).await;
    assert_problem(&r, "_extends", "cycle");
}

#[tokio::test]
async fn the_depth_is_limited() {
    // app → r1 → r2 → … : MAX_EXTENDS_DEPTH hops are followed, one more is refused.
    let chain = |hops: usize| {
        let mut files = Files::default();
        for i in 1..=hops {
            let text = if i < hops {
                format!("_extends: r{}\n", i + 1)
            } else {
                "advisory: true\n".to_string()
            };
            files = files.with(&format!("acme/r{i}"), DEFAULT_PATH, &text);
        }
        files
    };
    let files = chain(MAX_EXTENDS_DEPTH);
    let r = resolve(Some("_extends: r1\n"), "acme/app", &files).await;
    assert_ok(&r);
    assert!(r.config.advisory);
    assert_eq!(r.sources.len(), MAX_EXTENDS_DEPTH + 1);
    let files = chain(MAX_EXTENDS_DEPTH + 1);
    let r = resolve(Some("_extends: r1\n"), "acme/app", &files).await;
    assert_problem(&r, "_extends", "more than 5 levels");
    assert_eq!(files.fetches.load(Ordering::SeqCst), MAX_EXTENDS_DEPTH);
}

#[tokio::test]
async fn a_malformed_extends_is_a_problem_and_nothing_is_fetched() {
    let files = Files::default();
    let r = resolve(Some("_extends: ../../etc\n"), "acme/app", &files).await;
    assert_problem(&r, "_extends", "is not a repository");
    let r = resolve(Some("_extends: [a, b]\n"), "acme/app", &files).await;
    assert_problem(&r, "_extends", "expected a string");
    assert_eq!(files.fetches.load(Ordering::SeqCst), 0);
}

#[test]
fn offline_extends_is_a_note_not_a_problem() {
    let r = resolve_offline(
        Some("_extends: .github\nthreshold_percent: 7\n"),
        "acme/app",
    );
    assert_ok(&r);
    assert_eq!(r.config.threshold_percent, Some(7.0));
    assert_eq!(r.notes.len(), 1);
    assert!(r.notes[0].contains("not followed offline"), "{:?}", r.notes);
    let r = resolve_offline(Some("advisory: 1\n"), "acme/app");
    assert_problem(&r, "advisory", "true or false");
    let r = resolve_offline(None, "acme/app");
    assert_ok(&r);
    assert!(r.notes.is_empty());
}

#[tokio::test]
async fn problems_render_as_a_markdown_list() {
    assert_eq!(render_problems(&[]), "");
    let r = resolve(
        Some("rollback: {action: revert}\nadvisory: 2\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    let md = render_problems(&r.problems);
    assert!(md.contains("2 problems"), "{md}");
    assert!(
        md.contains("- `rollback.action` in `acme/app:.github/patchgate.yml@base`:"),
        "{md}"
    );
    assert!(
        md.contains("write one of push, pull-request, comment"),
        "{md}"
    );
    assert!(md.contains("blocks the merge"), "{md}");
    assert_eq!(md.lines().filter(|l| l.starts_with("- ")).count(), 2);
}

#[tokio::test]
async fn diff_exclude_parses_defaults_and_refuses_bad_globs() {
    let cfg = parse("diff: {exclude: ['scratch/**', '*.tmp']}\n", "c").unwrap();
    let f = cfg.diff.filter().unwrap();
    assert_eq!(f.matching("scratch/a.py"), Some("scratch/**"));
    assert_eq!(
        f.matching("reproduce_bug.py"),
        None,
        "the list replaces the defaults"
    );
    let none = parse("diff: {exclude: []}\n", "c").unwrap();
    assert_eq!(
        none.diff.filter().unwrap().matching("reproduce_bug.py"),
        None
    );
    let default = parse("advisory: false\n", "c").unwrap();
    assert!(default
        .diff
        .filter()
        .unwrap()
        .matching("reproduce_bug.py")
        .is_some());
    let r = resolve(
        Some("diff: {exclude: ['src/[oops', 3], excludes: []}\n"),
        "acme/app",
        &Files::default(),
    )
    .await;
    assert_problem(&r, "diff.exclude[0]", "invalid glob");
    assert_problem(&r, "diff.exclude[1]", "expected a string");
    assert_problem(&r, "diff.excludes", "exclude");
    assert_eq!(r.problems.len(), 3, "{}", problems_text(&r));
}
