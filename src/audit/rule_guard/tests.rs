//! Unit tests of Rule-Guard: the pack's self-test, each matcher type, changed-syntax-only,
//! secret protection, masking and the vote table.

use super::*;

fn registry() -> Registry {
    Registry::embedded().expect("embedded registry")
}

fn added(path: &str, code: &str) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        language: None,
        old: None,
        new: Some(code.into()),
    }
}

fn modified(path: &str, old: &str, new: &str) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        language: None,
        old: Some(old.into()),
        new: Some(new.into()),
    }
}

fn ids(findings: &[Hit]) -> Vec<&str> {
    findings.iter().map(|f| f.rule_id.as_str()).collect()
}

#[test]
fn embedded_pack_passes_its_self_test() {
    let set = RuleSet::embedded().expect("pack loads");
    let report = set.self_test(&registry());
    assert!(report.passed(), "{report}");
    assert!(set.len() >= 25, "{} rules", set.len());
    assert_eq!(report.rules, set.len());
    assert!(report.examples >= 2 * set.len());
    for rule in set.rules() {
        assert!(!rule.examples.matching.is_empty(), "{}", rule.id);
        assert!(!rule.examples.no_match.is_empty(), "{}", rule.id);
    }
    let secret = set.rules().iter().filter(|r| r.secret).count();
    assert!(secret >= 8, "{secret} secret rules");
}

#[test]
fn every_matcher_kind_is_in_the_pack() {
    let set = RuleSet::embedded().unwrap();
    for kind in ["syntax", "query", "added_line", "path"] {
        assert!(set.rules().iter().any(|r| r.kind() == kind), "{kind}");
    }
}

#[test]
fn self_test_lists_mismatches_with_rule_index_and_reason() {
    let set = RuleSet::from_yaml(
        r#"
- id: no-todo
  message: TODO added
  severity: info
  added_line: 'TODO'
  examples:
    match: ["// TODO later", "// nothing here"]
    no_match: ["// done", "// TODO: oops"]
- id: lonely
  message: no examples
  severity: info
  path: x
"#,
        "test",
    )
    .unwrap();
    let report = set.self_test(&registry());
    assert!(!report.passed());
    let f: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert_eq!(report.failures.len(), 3, "{f:?}");
    assert_eq!(report.failures[0].rule_id, "no-todo");
    assert_eq!(report.failures[0].expectation, Expectation::Match);
    assert_eq!(report.failures[0].index, Some(1));
    assert!(report.failures[0].reason.contains("expected a finding"));
    assert_eq!(report.failures[1].expectation, Expectation::NoMatch);
    assert_eq!(report.failures[1].index, Some(1));
    assert!(report.failures[1].reason.contains("expected no finding"));
    assert_eq!(report.failures[2].rule_id, "lonely");
    assert_eq!(report.failures[2].expectation, Expectation::Rule);
    assert!(report.to_string().contains("3 failed"));
}

#[test]
fn self_test_fails_an_unknown_language_and_a_bad_pattern() {
    let set = RuleSet::from_yaml(
        r#"
- id: cobol-thing
  message: m
  severity: info
  languages: [cobol]
  rule: {kind: paragraph}
  examples: {match: ["x"], no_match: ["y"]}
- id: bad-kind
  message: m
  severity: info
  languages: [rust]
  rule: {kind: no_such_kind}
  examples: {match: ["fn a() {}"], no_match: ["fn b() {}"]}
"#,
        "test",
    )
    .unwrap();
    let report = set.self_test(&registry());
    let text = report.to_string();
    assert!(
        text.contains("cobol-thing: language `cobol` is not in the language registry"),
        "{text}"
    );
    assert!(
        text.contains("bad-kind: does not compile for `rust`"),
        "{text}"
    );
}

#[test]
fn syntax_rule_ast_grep_pattern_with_meta_variables() {
    let set = RuleSet::from_yaml(
        r#"
id: no-expect-on-env
message: expect on an environment variable
severity: warning
languages: [rust]
rule:
  pattern: std::env::var($NAME).expect($$$)
"#,
        "repo",
    )
    .unwrap();
    let code = "fn a() {\n    let k = std::env::var(\"KEY\").expect(\"KEY\");\n}\n";
    let f = set.scan(&registry(), &[added("src/a.rs", code)]);
    assert_eq!(ids(&f), ["no-expect-on-env"]);
    assert_eq!((f[0].line, f[0].end_line), (Some(2), Some(2)));
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(!f[0].secret);
    let f = set.scan(&registry(), &[added("src/a.py", code)]);
    assert!(f.is_empty(), "rust rule on a python file: {f:?}");
}

#[test]
fn python_meta_variables_use_the_expando_char() {
    let set = RuleSet::from_yaml(
        r#"
id: requests-no-timeout
message: requests call without timeout
severity: warning
languages: [python]
rule:
  all:
    - pattern: requests.$METHOD($$$ARGS)
    - not:
        has:
          kind: argument_list
          has: {kind: keyword_argument, regex: '^timeout'}
"#,
        "repo",
    )
    .unwrap();
    let f = set.scan(
        &registry(),
        &[added(
            "a.py",
            "r = requests.get(url)\nok = requests.get(url, timeout=5)\n",
        )],
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].line, Some(1));
}

#[test]
fn query_rule_reports_the_match_capture() {
    let set = RuleSet::from_yaml(
        r#"
id: no-unwrap
message: unwrap added
severity: info
languages: [rust]
query: '((call_expression function: (field_expression field: (field_identifier) @m)) @match (#eq? @m "unwrap"))'
"#,
        "repo",
    )
    .unwrap();
    let code = "fn a() {\n    let x = f().unwrap();\n    let y = g().unwrap_or(1);\n}\n";
    let f = set.scan(&registry(), &[added("a.rs", code)]);
    assert_eq!(ids(&f), ["no-unwrap"]);
    assert_eq!(f[0].line, Some(2));
}

#[test]
fn a_query_without_match_capture_is_refused() {
    let err = RuleSet::from_yaml(
        "id: q\nmessage: m\nseverity: info\nlanguages: [rust]\nquery: '(identifier) @id'\n",
        "t",
    )
    .unwrap_err();
    assert!(err.to_string().contains("@match"), "{err}");
}

#[test]
fn added_line_rule_sees_added_lines_only() {
    let set = RuleSet::from_yaml(
        "id: fixme\nmessage: FIXME added\nseverity: info\nadded_line: 'FIXME'\n",
        "t",
    )
    .unwrap();
    let old = "a\n// FIXME old\nb\n";
    let new = "a\n// FIXME old\nb\n// FIXME new\n";
    let f = set.scan(&registry(), &[modified("x.txt", old, new)]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].line, Some(4));
    // deleted files have no added lines
    let deleted = ChangedFile {
        path: "x.txt".into(),
        language: None,
        old: Some(new.into()),
        new: None,
    };
    assert!(set.scan(&registry(), &[deleted]).is_empty());
}

#[test]
fn files_and_ignores_globs_scope_a_rule() {
    let set = RuleSet::from_yaml(
        r#"
id: sql-raw
message: raw SQL
severity: info
files: ['src/**']
ignores: ['**/migrations/**']
added_line: 'SELECT \*'
"#,
        "t",
    )
    .unwrap();
    let r = registry();
    assert_eq!(
        set.scan(&r, &[added("src/db.rs", "SELECT * FROM t")]).len(),
        1
    );
    assert!(set
        .scan(&r, &[added("lib/db.rs", "SELECT * FROM t")])
        .is_empty());
    assert!(set
        .scan(&r, &[added("src/migrations/1.sql", "SELECT * FROM t")])
        .is_empty());
}

#[test]
fn path_rule_with_status_and_unless_changed() {
    let set = RuleSet::embedded().unwrap();
    let r = registry();
    let lock = modified("Cargo.lock", "a\n", "b\n");
    let f = set.scan(&r, std::slice::from_ref(&lock));
    assert_eq!(ids(&f), ["cargo-lock-without-manifest"]);
    assert_eq!(f[0].line, None);
    let manifest = modified("Cargo.toml", "a\n", "b\n");
    assert!(set.scan(&r, &[lock, manifest]).is_empty());

    // {dir}: a lockfile is excused by its own package.json, not by another directory's
    let lock = modified("web/package-lock.json", "{}", "{ }");
    let other = modified("api/package.json", "{}", "{ }");
    let own = modified("web/package.json", "{}", "{ }");
    assert_eq!(
        ids(&set.scan(&r, &[lock.clone(), other])),
        ["npm-lock-without-manifest"]
    );
    assert!(set.scan(&r, &[lock, own]).is_empty());
}

#[test]
fn deleted_test_file_is_reported() {
    let set = RuleSet::embedded().unwrap();
    let gone = ChangedFile {
        path: "tests/upload.rs".into(),
        language: None,
        old: Some("#[test]\nfn t() {}\n".into()),
        new: None,
    };
    assert_eq!(ids(&set.scan(&registry(), &[gone])), ["test-file-deleted"]);
}

const SAFE: &str = "fn a() -> u8 {\n    1\n}\n\nfn b(p: *const u8) -> u8 {\n    unsafe { *p }\n}\n";

#[test]
fn untouched_unsafe_block_is_not_reported() {
    let set = RuleSet::embedded().unwrap();
    let new = SAFE.replace("    1\n", "    2\n");
    let f = set.scan(&registry(), &[modified("src/lib.rs", SAFE, &new)]);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn new_unsafe_block_is_reported_on_its_lines() {
    let set = RuleSet::embedded().unwrap();
    let new = format!("{SAFE}\nfn c(p: *mut u8) {{\n    unsafe {{\n        *p = 0;\n    }}\n}}\n");
    let f = set.scan(&registry(), &[modified("src/lib.rs", SAFE, &new)]);
    assert_eq!(ids(&f), ["rust-unsafe-added"]);
    assert_eq!((f[0].line, f[0].end_line), (Some(10), Some(12)));
}

#[test]
fn editing_inside_an_existing_unsafe_block_is_reported() {
    let set = RuleSet::embedded().unwrap();
    let new = SAFE.replace("unsafe { *p }", "unsafe { *p.add(1) }");
    let f = set.scan(&registry(), &[modified("src/lib.rs", SAFE, &new)]);
    assert_eq!(ids(&f), ["rust-unsafe-added"]);
}

#[test]
fn a_rule_that_cannot_run_fails_closed() {
    let set = RuleSet::from_yaml(
        "id: broken\nmessage: m\nseverity: info\nlanguages: [rust]\nrule: {kind: not_a_kind}\n",
        "repo",
    )
    .unwrap();
    let f = set.scan(
        &registry(),
        &[added("a.rs", "fn a() {}\n"), added("b.rs", "fn b() {}\n")],
    );
    assert_eq!(f.len(), 1, "one failure per rule and language: {f:?}");
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].message.contains("could not run"));
    assert_eq!(vote_for(&f, &SeverityPolicy::default()).0, Ruling::Reject);
}

#[test]
fn secret_rules_cannot_be_disabled_or_overridden() {
    let base = RuleSet::embedded().unwrap();
    let err = base
        .clone()
        .with_repo_overrides(RuleSet::default(), &["secret-aws-access-key-id"])
        .unwrap_err();
    assert!(matches!(
        err,
        RuleError::SecretProtected {
            action: "disable",
            ..
        }
    ));
    assert!(
        err.to_string().contains("secret-aws-access-key-id"),
        "{err}"
    );

    let weaker = RuleSet::from_yaml(
        "id: secret-github-token\nmessage: meh\nseverity: info\nadded_line: 'never-matches-xyz'\n",
        "repo",
    )
    .unwrap();
    let err = base
        .clone()
        .with_repo_overrides(weaker, &[] as &[&str])
        .unwrap_err();
    assert!(matches!(
        err,
        RuleError::SecretProtected {
            action: "override",
            ..
        }
    ));
    assert!(err.to_string().contains("secret-github-token"));
}

#[test]
fn repo_may_disable_override_and_add_rules() {
    let base = RuleSet::embedded().unwrap();
    let n = base.len();
    let repo = RuleSet::from_yaml(
        r#"
- id: rust-dbg-macro
  message: dbg! is fine here, but tell us
  severity: info
  languages: [rust]
  rule: {kind: macro_invocation, regex: '^dbg!'}
- id: repo-no-println-in-handlers
  message: no println in handlers
  severity: error
  languages: [rust]
  files: ['src/handlers/**']
  rule: {pattern: 'println!($$$)'}
"#,
        "repo",
    )
    .unwrap();
    let set = base
        .with_repo_overrides(repo, &["rust-unsafe-added"])
        .unwrap();
    assert_eq!(set.len(), n); // -1 disabled, +1 added, 1 replaced
    assert!(set.get("rust-unsafe-added").is_none());
    assert_eq!(set.get("rust-dbg-macro").unwrap().severity, Severity::Info);
    let f = set.scan(
        &registry(),
        &[added(
            "src/handlers/user.rs",
            "fn h(p: *const u8) {\n    println!(\"x\");\n    unsafe { *p };\n}\n",
        )],
    );
    let got = ids(&f);
    assert!(got.contains(&"repo-no-println-in-handlers"), "{got:?}");
    assert!(!got.contains(&"rust-unsafe-added"), "{got:?}");

    let err = RuleSet::embedded()
        .unwrap()
        .with_repo_overrides(RuleSet::default(), &["no-such-rule"])
        .unwrap_err();
    assert!(matches!(err, RuleError::UnknownRule(_)));
}

#[test]
fn secret_findings_show_only_a_prefix() {
    let set = RuleSet::embedded().unwrap();
    let key = "AKIAIOSFODNN7EXAMPLE";
    let f = set.scan(
        &registry(),
        &[added("config.py", &format!("KEY = \"{key}\"\n"))],
    );
    assert_eq!(ids(&f), ["secret-aws-access-key-id"]);
    assert!(f[0].secret);
    assert_eq!(f[0].message, "AWS access key id (AKIA…) added");
    let json = serde_json::to_string(&f).unwrap();
    assert!(!json.contains(key));
    let (verdict, reason) = vote_for(&f, &SeverityPolicy::default());
    assert_eq!(verdict, Ruling::Reject);
    assert!(!reason.contains(key));
}

#[test]
fn generic_secret_needs_entropy() {
    let set = RuleSet::embedded().unwrap();
    let r = registry();
    let f = set.scan(&r, &[added("a.py", "API_TOKEN = \"q7Zr2LkP9xWv4Tn8\"\n")]);
    assert_eq!(ids(&f), ["secret-generic-assignment"]);
    assert!(!f[0].message.contains("q7Zr2LkP9xWv4Tn8"));
    assert!(set
        .scan(&r, &[added("a.py", "API_TOKEN = \"aaaaaaaaaaaaaaaa\"\n")])
        .is_empty());
}

#[test]
fn mask_secrets_redacts_every_secret_rule() {
    let set = RuleSet::embedded().unwrap();
    let text = "\
+aws_access_key_id = AKIAIOSFODNN7EXAMPLE
+GITHUB_TOKEN=ghp_0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R
+-----BEGIN OPENSSH PRIVATE KEY-----
+b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ
+-----END OPENSSH PRIVATE KEY-----
+password = \"hunter2hunter2\"
 fn untouched() {}
";
    let masked = mask_secrets(text, &set);
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        "hunter2hunter2",
    ] {
        assert!(!masked.contains(secret), "{secret} left in:\n{masked}");
    }
    assert!(
        masked.contains("[REDACTED:secret-aws-access-key-id]"),
        "{masked}"
    );
    assert!(
        masked.contains("[REDACTED:secret-github-token]"),
        "{masked}"
    );
    assert!(masked.contains("[REDACTED:secret-private-key]"), "{masked}");
    assert!(
        masked.contains("password = \"[REDACTED:secret-generic-assignment]\""),
        "{masked}"
    );
    assert!(masked.contains(" fn untouched() {}"));
    // text without secrets is unchanged
    let plain = "fn main() { let token = read_token(); }";
    assert_eq!(mask_secrets(plain, &set), plain);
}

#[test]
fn vote_follows_the_severity_table() {
    let finding = |severity: Severity, secret: bool| Hit {
        rule_id: format!("r-{severity}"),
        severity,
        path: "a.rs".into(),
        line: Some(1),
        end_line: Some(1),
        message: "m".into(),
        secret,
    };
    let default = SeverityPolicy::default();
    let strict = SeverityPolicy {
        error: Ruling::Reject,
        warning: Ruling::Reject,
        info: Ruling::Approve,
    };
    let lax = SeverityPolicy {
        error: Ruling::Approve,
        warning: Ruling::Approve,
        info: Ruling::Approve,
    };
    use Ruling::*;
    use Severity::*;
    type Row<'a> = (&'a [(Severity, bool)], &'a SeverityPolicy, Ruling);
    let table: &[Row] = &[
        (&[], &default, Approve),
        (&[(Info, false)], &default, Approve),
        (&[(Warning, false)], &default, Approve),
        (&[(Error, false)], &default, Reject),
        (&[(Warning, false), (Error, false)], &default, Reject),
        (&[(Warning, false)], &strict, Reject),
        (&[(Info, false)], &strict, Approve),
        (&[(Error, false)], &lax, Approve),
        // a secret always rejects, whatever the table says
        (&[(Error, true)], &lax, Reject),
        (&[(Info, true)], &default, Reject),
    ];
    for (i, (findings, policy, want)) in table.iter().enumerate() {
        let fs: Vec<Hit> = findings.iter().map(|(s, sec)| finding(*s, *sec)).collect();
        let (got, reason) = vote_for(&fs, policy);
        assert_eq!(got, *want, "row {i}: {reason}");
        assert!(!reason.is_empty());
    }
}

#[test]
fn severity_policy_reads_from_yaml() {
    let p: SeverityPolicy = serde_yaml::from_str("warning: reject").unwrap();
    assert_eq!(p.warning, Ruling::Reject);
    assert_eq!(p.error, Ruling::Reject);
    assert_eq!(p.info, Ruling::Approve);
    assert!(serde_yaml::from_str::<SeverityPolicy>("fatal: reject").is_err());
}

#[test]
fn malformed_rules_are_load_errors() {
    let cases = [
        ("id: a\nmessage: m\nseverity: info\n", "exactly one matcher"),
        (
            "id: a\nmessage: m\nseverity: info\nadded_line: x\npath: y\n",
            "exactly one matcher",
        ),
        (
            "id: a\nmessage: m\nseverity: info\nrule: {kind: x}\n",
            "needs `languages`",
        ),
        (
            "id: a\nmessage: m\nseverity: error\nsecret: true\npath: x\n",
            "secret rule must be an `added_line`",
        ),
        (
            "id: a\nmessage: m\nseverity: fatal\nadded_line: x\n",
            "fatal",
        ),
        (
            "id: a\nmessage: m\nseverity: info\nadded_line: x\ncolour: red\n",
            "colour",
        ),
        (
            "id: a\nmessage: m\nseverity: info\nadded_line: '('\n",
            "regular expression",
        ),
        (
            "id: A B\nmessage: m\nseverity: info\nadded_line: x\n",
            "ids are",
        ),
        (
            "id: a\nmessage: m\nseverity: info\nadded_line: x\nstatus: deleted\n",
            "only goes with `path`",
        ),
    ];
    for (yaml, want) in cases {
        let err = RuleSet::from_yaml(yaml, "t")
            .err()
            .unwrap_or_else(|| panic!("{yaml} loaded"));
        assert!(err.to_string().contains(want), "{yaml}: {err}");
    }
    let dup = "- {id: a, message: m, severity: info, added_line: x}\n- {id: a, message: m, severity: info, added_line: y}\n";
    assert!(matches!(
        RuleSet::from_yaml(dup, "t"),
        Err(RuleError::Duplicate { .. })
    ));
}

#[test]
fn multi_document_files_and_load_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "id: one\nmessage: m\nseverity: info\nadded_line: one\n---\n- id: two\n  message: m\n  severity: info\n  added_line: two\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("policy.yaml"), "policies: []\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
    let set = RuleSet::load_dir(dir.path()).unwrap();
    let got: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got, ["one", "two"]);
}

#[test]
fn the_rules_directory_is_the_embedded_pack() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let from_dir = RuleSet::load_dir(&dir).unwrap();
    let embedded = RuleSet::embedded().unwrap();
    let mut a: Vec<&str> = from_dir.rules().iter().map(|r| r.id.as_str()).collect();
    let mut b: Vec<&str> = embedded.rules().iter().map(|r| r.id.as_str()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "a rules/*.yaml file is missing from EMBEDDED_PACK");
}

#[test]
fn generic_secret_rule_defers_to_specific_ones() {
    let set = RuleSet::embedded().unwrap();
    let code = "SLACK_TOKEN = \"xoxb-2048437925-1523945312-Q5jzXg8mVbN3cR7tL2kPyW9a\"\nAPI_TOKEN = \"q7Zr2LkP9xWv4Tn8\"\n";
    let f = set.scan(&registry(), &[added("a.py", code)]);
    assert_eq!(ids(&f), ["secret-slack-token", "secret-generic-assignment"]);
    assert_eq!((f[0].line, f[1].line), (Some(1), Some(2)));
}

#[test]
fn a_rule_set_can_be_shared_between_workers() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<RuleSet>();
    shared::<Hit>();
}
