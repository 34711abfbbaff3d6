//! Rule-Guard through the public API: the default pack's self-test, a realistic multi-language
//! change, repository overrides, prompt masking and the vote.

use patchgate::astdiff::registry::Registry;
use patchgate::audit::rule_guard::{
    mask_secrets, vote_for, ChangedFile, Hit, RuleError, RuleSet, Ruling, Severity, SeverityPolicy,
};

fn registry() -> Registry {
    Registry::embedded().expect("embedded registry")
}

fn file(path: &str, old: Option<&str>, new: Option<&str>) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        language: None,
        old: old.map(str::to_string),
        new: new.map(str::to_string),
    }
}

fn hits(findings: &[Hit]) -> Vec<(String, String, Option<usize>)> {
    findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.path.clone(), f.line))
        .collect()
}

#[test]
fn default_pack_passes_rules_test() {
    let set = RuleSet::embedded().unwrap();
    let report = set.self_test(&registry());
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(set.len() >= 25);
}

const LIB_OLD: &str = "\
pub fn read(p: *const u8) -> u8 {
    unsafe { *p }
}
";

const LIB_NEW: &str = "\
pub fn read(p: *const u8) -> u8 {
    unsafe { *p }
}

pub fn total(xs: &[u32]) -> u32 {
    dbg!(xs.iter().sum())
}
";

const APP_TEST: &str = "\
describe('cart', () => {
  it.only('adds', () => {
    expect(add(1, 2)).toBe(3);
  });
});
";

const HANDLER_PY: &str = "\
import pickle

def restore(blob):
    return pickle.loads(blob)

AWS_KEY = \"AKIAIOSFODNN7EXAMPLE\"
";

const WORKFLOW: &str = "\
on:
  pull_request_target:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
";

fn change() -> Vec<ChangedFile> {
    vec![
        file("src/lib.rs", Some(LIB_OLD), Some(LIB_NEW)),
        file("web/src/cart.test.ts", None, Some(APP_TEST)),
        file("app/handler.py", None, Some(HANDLER_PY)),
        file(
            ".github/workflows/ci.yml",
            Some("on: push\n"),
            Some(WORKFLOW),
        ),
        file("tests/old_case.py", Some("def test_x():\n    pass\n"), None),
        file("Cargo.lock", Some("a\n"), Some("b\n")),
        file("logo.png", None, Some("\u{0}PNG")),
    ]
}

#[test]
fn a_realistic_change() {
    let set = RuleSet::embedded().unwrap();
    let findings = set.scan(&registry(), &change());
    let got = hits(&findings);
    let want = [
        ("ci-action-not-pinned", ".github/workflows/ci.yml", Some(7)),
        (
            "ci-pull-request-target-checkout",
            ".github/workflows/ci.yml",
            Some(9),
        ),
        ("ci-workflow-changed", ".github/workflows/ci.yml", None),
        ("cargo-lock-without-manifest", "Cargo.lock", None),
        ("python-unsafe-deserialization", "app/handler.py", Some(4)),
        ("secret-aws-access-key-id", "app/handler.py", Some(6)),
        ("rust-dbg-macro", "src/lib.rs", Some(6)),
        ("test-file-deleted", "tests/old_case.py", None),
        ("js-test-only", "web/src/cart.test.ts", Some(2)),
    ];
    for (id, path, line) in want {
        assert!(
            got.contains(&(id.to_string(), path.to_string(), line)),
            "missing {id} {path}:{line:?} in {got:#?}"
        );
    }
    // the untouched unsafe block of src/lib.rs is not this change's business
    assert!(
        !got.iter().any(|(id, _, _)| id == "rust-unsafe-added"),
        "{got:#?}"
    );
    assert_eq!(got.len(), want.len(), "{got:#?}");
    // no finding carries the key
    for f in &findings {
        assert!(!f.message.contains("AKIAIOSFODNN7EXAMPLE"));
    }
    let (verdict, reason) = vote_for(&findings, &SeverityPolicy::default());
    assert_eq!(verdict, Ruling::Reject);
    assert!(reason.contains("secret"), "{reason}");
    assert!(!reason.contains("AKIAIOSFODNN7EXAMPLE"));
}

#[test]
fn languages_of_the_registry_all_work() {
    let set = RuleSet::embedded().unwrap();
    let r = registry();
    let cases = [
        (
            "src/a.rs",
            "fn f() { let _ = unsafe { g() }; }\n",
            "rust-unsafe-added",
        ),
        (
            "lib/a.py",
            "def f(x):\n    return eval(x)\n",
            "python-eval-exec",
        ),
        ("src/a.js", "const v = eval(input);\n", "js-eval"),
        ("src/a.ts", "const v: number = eval(input);\n", "js-eval"),
        (
            "src/a.tsx",
            "const C = () => <div dangerouslySetInnerHTML={{ __html: h }} />;\n",
            "jsx-dangerously-set-inner-html",
        ),
        (
            "store/a.go",
            "package store\n\nimport \"unsafe\"\n",
            "go-unsafe-import",
        ),
        (
            "store/a_test.go",
            "package store\n\nfunc TestA(t *testing.T) {\n\tt.Skipf(\"later %d\", 1)\n}\n",
            "go-test-skipped",
        ),
    ];
    for (path, code, id) in cases {
        let f = set.scan(&r, &[file(path, None, Some(code))]);
        assert!(
            f.iter().any(|f| f.rule_id == id),
            "{path}: want {id}, got {:?}",
            hits(&f)
        );
    }
}

#[test]
fn repository_rules_and_opt_outs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("team.yaml"),
        r#"
- id: team-no-sleep-in-handlers
  message: "`time.sleep` in a request handler blocks the worker"
  severity: error
  languages: [python]
  files: ['app/handlers/**']
  rule:
    pattern: time.sleep($$$)
  examples:
    match:
      - code: "def h(req):\n    time.sleep(1)\n"
        path: app/handlers/user.py
    no_match:
      - code: "def h(req):\n    await asyncio.sleep(1)\n"
        path: app/handlers/user.py
"#,
    )
    .unwrap();
    let repo = RuleSet::load_dir(dir.path()).unwrap();
    assert!(repo.self_test(&registry()).passed());
    let set = RuleSet::embedded()
        .unwrap()
        .with_repo_overrides(repo, &["python-print-in-library"])
        .unwrap();
    let code = "import time\n\ndef get(req):\n    print(req)\n    time.sleep(2)\n";
    let f = set.scan(
        &registry(),
        &[file("app/handlers/user.py", None, Some(code))],
    );
    assert_eq!(
        hits(&f),
        [(
            "team-no-sleep-in-handlers".to_string(),
            "app/handlers/user.py".to_string(),
            Some(5)
        )]
    );
    assert_eq!(f[0].severity, Severity::Error);

    let err = RuleSet::embedded()
        .unwrap()
        .with_repo_overrides(RuleSet::default(), &["secret-private-key"])
        .unwrap_err();
    assert!(matches!(err, RuleError::SecretProtected { .. }));
    assert_eq!(
        err.to_string(),
        "rule `secret-private-key` is a secret rule: a repository may not disable it"
    );
}

#[test]
fn a_diff_is_masked_before_a_model_sees_it() {
    let set = RuleSet::embedded().unwrap();
    let diff = "\
--- a/app/settings.py
+++ b/app/settings.py
@@ -1,2 +1,4 @@
 DEBUG = False
+SLACK_WEBHOOK = \"https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/n6Pq3Xy7Zt2Lk9Vw4Rm8Sb1C\"
+DATABASE_URL = \"postgres://app:Xq7v9LmT2pRz4KwY@db.internal:5432/app\"
+STRIPE_KEY = \"sk_live_51Hx7kQ2eZvKYlo2Cabcdef0123456789XYZ\"
";
    let masked = mask_secrets(diff, &set);
    for secret in [
        "n6Pq3Xy7Zt2Lk9Vw4Rm8Sb1C",
        "Xq7v9LmT2pRz4KwY",
        "sk_live_51Hx7kQ2eZvKYlo2Cabcdef0123456789XYZ",
    ] {
        assert!(!masked.contains(secret), "{secret}:\n{masked}");
    }
    assert!(masked.contains("[REDACTED:secret-slack-webhook]"));
    assert!(masked.contains("postgres://app:[REDACTED:secret-url-credentials]@db.internal"));
    assert!(masked.contains("[REDACTED:secret-stripe-live-key]"));
    assert!(masked.starts_with(
        "--- a/app/settings.py\n+++ b/app/settings.py\n@@ -1,2 +1,4 @@\n DEBUG = False\n"
    ));
}

#[test]
fn severity_policy_maps_findings_to_a_vote() {
    let set = RuleSet::embedded().unwrap();
    let r = registry();
    let warn_only = set.scan(
        &r,
        &[file("src/a.rs", None, Some("fn f() -> u32 { dbg!(1) }\n"))],
    );
    assert!(warn_only.iter().all(|f| f.severity == Severity::Warning));
    assert_eq!(
        vote_for(&warn_only, &SeverityPolicy::default()).0,
        Ruling::Approve
    );
    let strict = SeverityPolicy {
        warning: Ruling::Reject,
        ..SeverityPolicy::default()
    };
    assert_eq!(vote_for(&warn_only, &strict).0, Ruling::Reject);
    assert_eq!(vote_for(&[], &strict).0, Ruling::Approve);
}

/// Regression: an AWS key id glued to an identifier (`key_AKIA…`) used to escape the mask,
/// because the rule began with a word boundary; it reached a model's prompt inside an
/// entity name. The characters around the key stay in the text.
#[test]
fn aws_key_glued_to_an_identifier_is_masked() -> Result<(), RuleError> {
    let set = RuleSet::embedded()?;
    let masked = mask_secrets("let key_AKIAIOSFODNN7EXAMPLQ = 1;", &set);
    assert!(!masked.contains("AKIAIOSFODNN7EXAMPLQ"));
    assert_eq!(masked, "let key_[REDACTED:secret-aws-access-key-id] = 1;");
    for text in [
        "fn loadAKIAIOSFODNN7EXAMPLQ() {}",
        "AKIAIOSFODNN7EXAMPLQ",
        "a=AKIAIOSFODNN7EXAMPLE,AKIAIOSFODNN7EXAMPLQ",
        "a=AKIAIOSFODNN7EXAMPLE_AKIAIOSFODNN7EXAMPLQ",
        "a=AKIAIOSFODNN7EXAMPLE__AKIAIOSFODNN7EXAMPLQ;",
        "x_ASIAY34FZKBOKMUTVV7A_y",
    ] {
        let masked = mask_secrets(text, &set);
        assert!(!masked.contains("EXAMPLQ"), "not masked: {masked}");
        assert!(!masked.contains("EXAMPLE"), "not masked: {masked}");
        assert!(!masked.contains("OKMUTVV7A"), "not masked: {masked}");
    }
    // a longer run of uppercase letters and digits is not a key id
    let long = "ID XAKIAIOSFODNN7EXAMPLQ AKIAIOSFODNN7EXAMPLQ9";
    assert_eq!(mask_secrets(long, &set), long);
    Ok(())
}
