//! Unit tests of the server configuration: defaults, precedence, errors with their path.

use std::path::PathBuf;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

#[test]
fn the_embedded_default_is_valid_and_needs_two_of_three() {
    let c = ServerConfig::embedded_default();
    assert_eq!(c.auditors.len(), 3);
    assert_eq!(c.quorum.required, 2);
    assert_eq!(c.budget.daily_usd, 0.50);
    assert!(c.problems().is_empty());
}

#[test]
fn unknown_keys_and_bad_values_are_reported_with_their_path() {
    let err = ServerConfig::from_yaml("auditors: [{name: a, kind: rules, colour: red}]", "t")
        .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    let err = ServerConfig::from_yaml(
        "auditors:\n  - {name: a, kind: rules}\n  - {name: a, kind: openai, base_url: ftp://x, model: m}\n  - {name: c, kind: command}\nquorum: {required: 4}\n",
        "t",
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "auditors[1].name: two auditors share this name",
        "auditors[1].base_url: must be an http(s) URL",
        "auditors[1].model: no price for model `m`",
        "auditors[1].api_key_env: required",
        "auditors[2].command: required",
        "quorum.required: is 4 but only 3",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
}

#[test]
fn the_severity_policy_is_configurable() {
    use crate::audit::rule_guard::Ruling;
    let c = ServerConfig::from_yaml(
        "auditors: [{name: r, kind: rules}]\nquorum: {required: 1}\nrule_guard: {severity: {warning: reject}}\n",
        "t",
    )
    .unwrap();
    assert_eq!(c.rule_guard.severity.warning, Ruling::Reject);
    assert_eq!(c.rule_guard.severity.error, Ruling::Reject);
    assert_eq!(c.rule_guard.severity.info, Ruling::Approve);
    assert!(ServerConfig::from_yaml("auditors: [{name: r, kind: rules}]\nquorum: {required: 1}\nrule_guard: {severity: {fatal: reject}}\n", "t").is_err());
}

#[test]
fn precedence_is_flags_then_env_then_file_then_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    std::fs::write(
        dir.path().join("patchgate.yml"),
        "auditors: [{name: rule-guard, kind: rules}]\nquorum: {required: 1}\nbudget: {daily_usd: 2.0}\n",
    )
    .unwrap();
    let env = env_of(&[
        ("PATCHGATE_DATA_DIR", &data),
        ("PATCHGATE_THRESHOLD_PERCENT", "5"),
    ]);
    let s = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(
        s.source,
        ConfigOrigin::File(dir.path().join("patchgate.yml"))
    );
    assert_eq!(s.server.quorum.required, 1);
    assert_eq!(s.daily_budget_usd, 2.0);
    assert_eq!(s.threshold_percent, 5.0);
    let flags = Flags {
        threshold_percent: Some(1.5),
        audit_mode: Some(AuditMode::Degraded),
        ..Flags::default()
    };
    let env = env_of(&[
        ("PATCHGATE_DATA_DIR", &data),
        ("PATCHGATE_THRESHOLD_PERCENT", "5"),
        ("PATCHGATE_COST_DAILY_LIMIT_USD", "0.1"),
        ("PATCHGATE_AUDIT_MODE", "normal"),
    ]);
    let s = resolve(&flags, &env).unwrap();
    assert_eq!(s.threshold_percent, 1.5);
    assert_eq!(s.daily_budget_usd, 0.1);
    assert_eq!(s.audit_mode, AuditMode::Degraded);
}

#[test]
fn audit_mode_parses_leniently_and_refuses_anything_else() {
    assert_eq!(" Degraded ".parse::<AuditMode>(), Ok(AuditMode::Degraded));
    assert_eq!("normal".parse::<AuditMode>(), Ok(AuditMode::Normal));
    assert!("off".parse::<AuditMode>().is_err());
}

#[test]
fn explain_names_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let env = env_of(&[
        ("PATCHGATE_DATA_DIR", &data),
        ("DATABASE_URL", "postgres://app:hunter2@db:5432/pg"),
        ("PATCHGATE_COST_DAILY_LIMIT_USD", "1.5"),
    ]);
    let flags = Flags {
        threshold_percent: Some(2.0),
        ..Flags::default()
    };
    let s = resolve(&flags, &env).unwrap();
    let text = explain(&s);
    let row = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("data_dir").ends_with("(env PATCHGATE_DATA_DIR)"),
        "{text}"
    );
    assert!(
        row("database_url").contains("postgres://app:***@db:5432/pg"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        row("threshold_percent").ends_with("(flag --threshold)"),
        "{text}"
    );
    assert!(row("budget.daily_usd").contains("1.5"), "{text}");
    assert!(
        row("budget.daily_usd").ends_with("(env PATCHGATE_COST_DAILY_LIMIT_USD)"),
        "{text}"
    );
    assert!(row("quorum.required").ends_with("(default)"), "{text}");
}

#[test]
fn without_a_file_the_embedded_default_applies() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_of(&[("PATCHGATE_DATA_DIR", dir.path().to_str().unwrap())]);
    let s = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(s.source, ConfigOrigin::EmbeddedDefault);
    assert_eq!(s.threshold_percent, 3.0);
    assert_eq!(s.daily_budget_usd, 0.5);
    assert_eq!(s.audit_mode, AuditMode::Normal);
}

#[test]
fn a_missing_config_file_or_a_bad_env_value_is_a_clear_error() {
    let flags = Flags {
        config: Some(PathBuf::from("/no/such/patchgate.yml")),
        ..Flags::default()
    };
    let err = resolve(&flags, &env_of(&[])).unwrap_err().to_string();
    assert!(err.contains("/no/such/patchgate.yml"), "{err}");
    let err = resolve(
        &Flags::default(),
        &env_of(&[("HOME", "/tmp/x"), ("PATCHGATE_AUDIT_MODE", "fast")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PATCHGATE_AUDIT_MODE") && err.contains("fast"),
        "{err}"
    );
}
