//! Checking a config file: every problem with its key path, before serde sees the file, so a
//! user gets all of them at once with what is allowed. Never accepts a key that could make
//! patchgate call an address, use a credential or run a program.

use serde_yaml::{Mapping, Value};

use super::target::parse_extends;
use super::{apply_rules, RepoConfig, RepoConfigError, MAX_CONFIG_BYTES};
use crate::astdiff::exclude::PathFilter;
use crate::audit::rule_guard::RuleSet;
use crate::policy::{PolicyError, PolicySet};
use crate::util::{code_span, did_you_mean};

const TOP_KEYS: [&str; 8] = [
    "threshold_percent",
    "rules",
    "advisory",
    "render_b",
    "diff",
    "rollback",
    "policy",
    "_extends",
];
const RULES_KEYS: [&str; 2] = ["disable", "add"];
const RENDER_B_KEYS: [&str; 5] = ["required", "builder", "when", "label", "paths"];
const RENDER_B_WHEN: [&str; 3] = ["always", "label", "paths"];
const DIFF_KEYS: [&str; 1] = ["exclude"];
const ROLLBACK_KEYS: [&str; 5] = [
    "action",
    "labels",
    "window_hours",
    "max_per_day",
    "freeze_exempt_label",
];
/// What a config that still sets `rollback.auto_merge` is told.
const AUTO_MERGE_REMOVED: &str = "rollback.auto_merge was removed: patchgate never turned on GitHub's auto-merge (the key only added a sentence to the revert pull request); delete the key, and turn on auto-merge for the revert pull request on GitHub if you want it";

const ROLLBACK_ACTIONS: [&str; 3] = ["push", "pull-request", "comment"];

/// Keys that would make patchgate call an address, use a credential or run a program.
const FORBIDDEN_KEYS: [&str; 18] = [
    "base_url",
    "url",
    "endpoint",
    "endpoints",
    "api_url",
    "api_key",
    "api_key_env",
    "api_keys",
    "key",
    "keys",
    "token",
    "secret",
    "secrets",
    "private_key",
    "password",
    "command",
    "commands",
    "exec",
];

/// Keys of the server config that a repository cannot set.
const SERVER_ONLY_KEYS: [&str; 7] = [
    "auditors", "quorum", "budget", "prices", "model", "models", "builders",
];

pub(super) type Found = Vec<(String, String)>;

/// The file's YAML; an empty file is an empty mapping.
pub(super) fn parse_value(text: &str) -> Result<Value, String> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "the file is {} bytes; a config file may be at most {MAX_CONFIG_BYTES}",
            text.len()
        ));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_yaml::from_str(text).map_err(|e| format!("not valid YAML: {e}"))
}

/// One file on its own: shapes, types, ranges, forbidden and unknown keys.
pub(super) fn check_file(v: &Value, out: &mut Found) {
    let Some(m) = mapping(v, "", "a mapping of keys, like `threshold_percent: 5`", out) else {
        return;
    };
    for (key, val, path) in entries(m, "", out) {
        match key {
            "_extends" => {
                if let Some(s) = string(val, &path, out) {
                    if let Err(e) = parse_extends(s, "owner") {
                        out.push((path, e));
                    }
                }
            }
            "threshold_percent" => {
                if let Some(t) = number(val, &path, out) {
                    if !(t.is_finite() && (0.0..=100.0).contains(&t)) {
                        out.push((
                            path,
                            format!("{t} is not a percentage: write a number from 0 to 100"),
                        ));
                    }
                }
            }
            "advisory" => {
                boolean(val, &path, out);
            }
            "render_b" => {
                if let Some(m) = mapping(val, &path, "a mapping like `{required: true}`", out) {
                    for (k, v, p) in entries(m, &path, out) {
                        match k {
                            "required" => {
                                boolean(v, &p, out);
                            }
                            "builder" | "label" => {
                                if let Some(s) = string(v, &p, out) {
                                    if s.trim().is_empty() {
                                        out.push((p, "must not be empty".into()));
                                    }
                                }
                            }
                            "when" => {
                                if let Some(s) = string(v, &p, out) {
                                    if !RENDER_B_WHEN.contains(&s) {
                                        out.push((
                                            p,
                                            format!(
                                                "`{s}` is not one of {}",
                                                RENDER_B_WHEN.join(", ")
                                            ),
                                        ));
                                    }
                                }
                            }
                            "paths" => {
                                for (item, ip) in sequence(v, &p, out) {
                                    if let Some(g) = string(item, &ip, out) {
                                        if let Err(e) = PathFilter::new(&[g]) {
                                            out.push((ip, e.to_string()));
                                        }
                                    }
                                }
                            }
                            _ => unknown(k, v, &p, &RENDER_B_KEYS, out),
                        }
                    }
                }
            }
            "diff" => {
                if let Some(m) = mapping(
                    val,
                    &path,
                    "a mapping like `{exclude: [\"scratch/**\"]}`",
                    out,
                ) {
                    for (k, v, p) in entries(m, &path, out) {
                        match k {
                            "exclude" => {
                                for (item, ip) in sequence(v, &p, out) {
                                    if let Some(g) = string(item, &ip, out) {
                                        if let Err(e) = PathFilter::new(&[g]) {
                                            out.push((ip, e.to_string()));
                                        }
                                    }
                                }
                            }
                            _ => unknown(k, v, &p, &DIFF_KEYS, out),
                        }
                    }
                }
            }
            "rollback" => check_rollback(val, &path, out),
            "rules" => {
                if let Some(m) = mapping(val, &path, "a mapping with `disable:` and `add:`", out) {
                    for (k, v, p) in entries(m, &path, out) {
                        match k {
                            "disable" => {
                                for (item, ip) in sequence(v, &p, out) {
                                    string(item, &ip, out);
                                }
                            }
                            "add" => {
                                for (item, ip) in sequence(v, &p, out) {
                                    mapping(
                                        item,
                                        &ip,
                                        "a rule, in the format of `rules/*.yaml`",
                                        out,
                                    );
                                }
                            }
                            _ => unknown(k, v, &p, &RULES_KEYS, out),
                        }
                    }
                }
            }
            "policy" => {
                if mapping(val, &path, "a mapping of `rules/policy.yaml`'s keys", out).is_some() {
                    if let Err(e) =
                        PolicySet::embedded().and_then(|p| p.with_repo_overrides(&yaml_text(val)))
                    {
                        out.push(policy_problem(e));
                    }
                }
            }
            _ => unknown(key, val, &path, &TOP_KEYS, out),
        }
    }
}

fn check_rollback(val: &Value, path: &str, out: &mut Found) {
    let Some(m) = mapping(val, path, "a mapping like `{action: pull-request}`", out) else {
        return;
    };
    for (k, v, p) in entries(m, path, out) {
        match k {
            "action" => {
                if let Some(a) = string(v, &p, out) {
                    if !ROLLBACK_ACTIONS.contains(&a) {
                        let hint = did_you_mean(a, &ROLLBACK_ACTIONS)
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        out.push((p, format!("{} is not an action{hint}: write one of push, pull-request, comment", code_span(a))));
                    }
                }
            }
            "labels" => {
                for (item, ip) in sequence(v, &p, out) {
                    label(item, &ip, out);
                }
            }
            "freeze_exempt_label" => label(v, &p, out),
            "auto_merge" => out.push((p, AUTO_MERGE_REMOVED.into())),
            "window_hours" => {
                if let Some(n) = whole(v, &p, out) {
                    if n == 0 {
                        out.push((p, "must be at least 1 (set `max_per_day: 0` to turn automatic reverts off)".into()));
                    }
                }
            }
            "max_per_day" => {
                whole(v, &p, out);
            }
            _ => unknown(k, v, &p, &ROLLBACK_KEYS, out),
        }
    }
}

/// What only the merge of all files can show (a file's own problems are already known).
pub(super) fn check_merged(v: &Value, out: &mut Found) {
    let Ok(cfg) = to_config(v.clone()) else {
        // Every shape problem was reported by `check_file`; `to_config` reports the rest.
        return;
    };
    if let Err(e) = cfg.effective_policy() {
        let (path, message) = policy_problem(e);
        let both_set = |k: &str| cfg.policy.as_ref().and_then(|p| p.get(k)).is_some();
        let message = if both_set("window_hours")
            || both_set("max_reverts_per_day")
            || both_set("freeze_label")
        {
            format!("{message} (`rollback.window_hours`, `max_per_day` and `freeze_exempt_label` set the same as `policy.window_hours`, `max_reverts_per_day` and `freeze_label`, and win)")
        } else {
            message
        };
        out.push((path, message));
    }
}

/// The merged `rules:` against the built-in rule pack (a secret rule cannot be disabled, an
/// added rule must compile).
pub(super) fn check_rules(v: &Value, out: &mut Found) {
    let Ok(cfg) = to_config(v.clone()) else {
        return;
    };
    if !cfg.rules.add.is_empty() || !cfg.rules.disable.is_empty() {
        match RuleSet::embedded() {
            Ok(pack) => {
                if let Err(e) = apply_rules(pack, &cfg, "base") {
                    let message = match e {
                        RepoConfigError::Rules { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    out.push(("rules".into(), format!("{message}: fix or remove that entry")));
                }
            }
            Err(e) => out.push(("rules".into(), format!("the built-in rule pack did not load ({e}); report this to the patchgate operators"))),
        }
    }
}

fn policy_problem(e: PolicyError) -> (String, String) {
    match e {
        PolicyError::Invalid { path, message, .. } => (format!("policy.{path}"), message),
        PolicyError::Yaml { message, .. } => (
            "policy".into(),
            format!("{message} (allowed: failure_limit, window_hours, max_reverts_per_day, freeze_label, dry_run, inconclusive, required_checks, metrics)"),
        ),
    }
}

/// The mapping's string keys with their values and paths; other keys are reported.
fn entries<'a>(m: &'a Mapping, parent: &str, out: &mut Found) -> Vec<(&'a str, &'a Value, String)> {
    let mut v = Vec::new();
    for (k, val) in m {
        match k.as_str() {
            Some(k) => v.push((k, val, join(parent, k))),
            None => out.push((
                shown_path(parent).to_string(),
                format!("a key must be a name, not {}", kind(k)),
            )),
        }
    }
    v
}

fn unknown(key: &str, val: &Value, path: &str, allowed: &[&str], out: &mut Found) {
    let lower = key.to_ascii_lowercase();
    let mut hits = Vec::new();
    if FORBIDDEN_KEYS.contains(&lower.as_str()) {
        hits.push(path.to_string());
    }
    forbidden_inside(val, path, &mut hits, 0);
    let message = if !hits.is_empty() {
        format!(
            "a repository config may not set endpoints, keys or commands (found {}): they live in the server config only, so that a repository cannot make patchgate call an address or run a program of its choosing; ask the patchgate operators",
            hits.iter().map(|h| code_span(h)).collect::<Vec<_>>().join(", ")
        )
    } else if SERVER_ONLY_KEYS.contains(&lower.as_str()) {
        format!("{} is set in the server config (PATCHGATE_CONFIG), not by a repository; ask the patchgate operators", code_span(key))
    } else {
        let hint = did_you_mean(key, allowed)
            .map(|s| format!(" Did you mean `{s}`?"))
            .unwrap_or_default();
        format!(
            "unknown key {}.{hint} Allowed here: {}",
            code_span(key),
            allowed.join(", ")
        )
    };
    out.push((path.to_string(), message));
}

fn forbidden_inside(v: &Value, path: &str, hits: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                let Some(k) = k.as_str() else { continue };
                let p = join(path, k);
                if FORBIDDEN_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                    hits.push(p.clone());
                }
                forbidden_inside(val, &p, hits, depth + 1);
            }
        }
        Value::Sequence(s) => {
            for (i, item) in s.iter().enumerate() {
                forbidden_inside(item, &format!("{path}[{i}]"), hits, depth + 1);
            }
        }
        Value::Tagged(t) => forbidden_inside(&t.value, path, hits, depth + 1),
        _ => {}
    }
}

fn mapping<'a>(v: &'a Value, path: &str, what: &str, out: &mut Found) -> Option<&'a Mapping> {
    match v {
        Value::Mapping(m) => Some(m),
        Value::Null => None,
        other => {
            out.push((
                path.to_string(),
                format!("expected {what}, found {}", kind(other)),
            ));
            None
        }
    }
}

fn sequence<'a>(v: &'a Value, path: &str, out: &mut Found) -> Vec<(&'a Value, String)> {
    match v {
        Value::Sequence(s) => s
            .iter()
            .enumerate()
            .map(|(i, x)| (x, format!("{path}[{i}]")))
            .collect(),
        Value::Null => Vec::new(),
        other => {
            out.push((
                path.to_string(),
                format!("expected a list like `[a, b]`, found {}", kind(other)),
            ));
            Vec::new()
        }
    }
}

fn string<'a>(v: &'a Value, path: &str, out: &mut Found) -> Option<&'a str> {
    match v {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => {
            out.push((
                path.to_string(),
                format!("expected a string, found {}", kind(other)),
            ));
            None
        }
    }
}

fn boolean(v: &Value, path: &str, out: &mut Found) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Null => None,
        other => {
            out.push((
                path.to_string(),
                format!("expected true or false, found {}", kind(other)),
            ));
            None
        }
    }
}

fn number(v: &Value, path: &str, out: &mut Found) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Null => None,
        other => {
            out.push((
                path.to_string(),
                format!("expected a number, found {}", kind(other)),
            ));
            None
        }
    }
}

/// A whole number that fits the policy's counters.
fn whole(v: &Value, path: &str, out: &mut Found) -> Option<u32> {
    if v.is_null() {
        return None;
    }
    match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Some(n),
        None => {
            out.push((
                path.to_string(),
                format!(
                    "expected a whole number from 0 to {}, found {}",
                    u32::MAX,
                    kind(v)
                ),
            ));
            None
        }
    }
}

/// A GitHub label name.
fn label(v: &Value, path: &str, out: &mut Found) {
    if let Some(s) = string(v, path, out) {
        if s.trim().is_empty() || s.chars().count() > 50 || s.chars().any(char::is_control) {
            out.push((
                path.to_string(),
                "a label is 1 to 50 characters, with no control characters".into(),
            ));
        }
    }
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!(
            "the string {}",
            code_span(&s.chars().take(40).collect::<String>())
        ),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

pub(super) fn shown_path(path: &str) -> &str {
    if path.is_empty() {
        "the file"
    } else {
        path
    }
}

pub(super) fn yaml_text(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_default()
}

/// The typed config of a checked value; `key: null` means "not set" (except under `policy:`,
/// where a metric set to `null` drops that metric's rule).
pub(super) fn to_config(mut v: Value) -> Result<RepoConfig, String> {
    if let Value::Mapping(m) = &mut v {
        m.retain(|_, x| !x.is_null());
        for section in ["render_b", "diff", "rollback", "rules"] {
            if let Some(Value::Mapping(s)) = m.get_mut(section) {
                s.retain(|_, x| !x.is_null());
            }
        }
    }
    if v.is_null() {
        return Ok(RepoConfig::default());
    }
    serde_yaml::from_value(v).map_err(|e| e.to_string())
}
