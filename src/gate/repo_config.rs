//! A repository's own settings, `.github/patchgate.yml`, always read from the **base** commit —
//! never from the change's head, so a change cannot relax its own gate.
//!
//! It may set the variance threshold, add or disable Rule-Guard rules by id, make the check
//! advisory, require a render B, shape rollbacks and override the post-merge policy. It may not
//! disable or replace a secret rule, and it can never name endpoints, keys or commands (those
//! live in the server config only, so a repository cannot make patchgate call an address or run
//! a program of its choosing). Every key is optional; unknown keys are refused with their path.
//!
//! Inheritance follows Probot's `_extends` convention: `_extends: .github` (the owner's
//! `.github` repository), `_extends: other-repo`, `_extends: owner/repo`, each with an optional
//! `:path/to/file.yml` (default `.github/patchgate.yml`). The extended file is the base and the
//! file's own keys win: mappings merge key by key, anything else (lists included) is replaced,
//! and `key: null` undoes what a base set. A repository with no file at all takes its owner's
//! `.github` repository's file, if there is one. Chains stop after [`MAX_EXTENDS_DEPTH`] hops
//! and cycles are refused. Fetching other repositories' files is the caller's I/O, through
//! [`ConfigSource`]; this module never fetches anything itself.
//!
//! Invalid configuration fails closed: [`resolve`] returns every problem it found and the
//! built-in defaults, and the caller blocks the merge until the base branch is fixed. Offline
//! (the CLI), [`resolve_offline`] reads only the local file: `_extends` is not followed there and
//! a note says so.

use std::future::Future;

use git2::{Oid, Repository};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::audit::rule_guard::{RuleError, RuleSet};
use crate::github::commands::did_you_mean;
use crate::policy::{PolicyError, PolicySet};

/// Where the file lives in a repository.
pub const REPO_CONFIG_PATH: &str = ".github/patchgate.yml";

/// `_extends` hops followed from a repository's file before giving up.
pub const MAX_EXTENDS_DEPTH: usize = 5;

/// Config files larger than this are refused (a config is a few hundred bytes).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// `.github/patchgate.yml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Dual-render variance threshold, percent (a flag or `PATCHGATE_THRESHOLD_PERCENT` wins).
    #[serde(default)]
    pub threshold_percent: Option<f64>,
    #[serde(default)]
    pub rules: RepoRules,
    /// The check concludes `neutral` instead of `failure` (it reports, it does not block).
    #[serde(default)]
    pub advisory: bool,
    #[serde(default)]
    pub render_b: RenderBConfig,
    #[serde(default)]
    pub rollback: RollbackConfig,
    /// Overrides of the post-merge policy (`rules/policy.yaml`'s keys), handed to
    /// [`PolicySet::with_repo_overrides`]; see [`RepoConfig::effective_policy`].
    #[serde(default)]
    pub policy: Option<Value>,
    /// The file this one extends, as written (only set by [`parse`]; [`resolve`] follows it).
    #[serde(default, rename = "_extends")]
    pub extends: Option<String>,
}

/// `render_b:` — whether a change needs a second rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderBConfig {
    /// A change without a render B does not pass.
    #[serde(default)]
    pub required: bool,
}

/// `rollback:` — how a merge is reverted. Unset keys take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackConfig {
    #[serde(default)]
    pub action: Option<RollbackAction>,
    /// Labels put on a revert pull request.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Turn on auto-merge for a revert pull request (`action: pull-request` only).
    #[serde(default)]
    pub auto_merge: bool,
    /// Automatic reverts only this many hours after the merge (policy `window_hours`).
    #[serde(default)]
    pub window_hours: Option<u32>,
    /// Automatic reverts per day (policy `max_reverts_per_day`; 0 = only report).
    #[serde(default)]
    pub max_per_day: Option<u32>,
    /// A PR with this label is never reverted automatically (policy `freeze_label`).
    #[serde(default)]
    pub freeze_exempt_label: Option<String>,
}

/// `rollback.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackAction {
    /// Push the revert commit to the branch.
    Push,
    /// Open a revert pull request.
    PullRequest,
    /// Only comment what would be reverted and why.
    Comment,
}

/// `rules:` — the repository's changes to the Rule-Guard pack.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoRules {
    /// Rule ids to switch off (never a secret rule).
    #[serde(default)]
    pub disable: Vec<String>,
    /// Rules of the repository's own, in the format of `rules/*.yaml`.
    #[serde(default)]
    pub add: Vec<serde_yaml::Value>,
}

impl RepoConfig {
    /// The embedded policy overlaid with `policy:`, then with `rollback.window_hours`,
    /// `rollback.max_per_day` and `rollback.freeze_exempt_label` (which name the same settings).
    pub fn effective_policy(&self) -> Result<PolicySet, PolicyError> {
        let mut set = PolicySet::embedded()?;
        if let Some(p) = &self.policy {
            set = set.with_repo_overrides(&yaml_text(p))?;
        }
        let mut m = Mapping::new();
        if let Some(h) = self.rollback.window_hours {
            m.insert("window_hours".into(), h.into());
        }
        if let Some(n) = self.rollback.max_per_day {
            m.insert("max_reverts_per_day".into(), n.into());
        }
        if let Some(l) = &self.rollback.freeze_exempt_label {
            m.insert("freeze_label".into(), l.as_str().into());
        }
        if m.is_empty() {
            Ok(set)
        } else {
            set.with_repo_overrides(&yaml_text(&Value::Mapping(m)))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RepoConfigError {
    #[error("{REPO_CONFIG_PATH} at {commit}: {detail}")]
    Invalid { commit: String, detail: String },
    #[error("{REPO_CONFIG_PATH} at {commit}: {source}")]
    Rules { commit: String, source: RuleError },
    #[error("reading {REPO_CONFIG_PATH} at {commit}: {source}")]
    Git { commit: String, source: git2::Error },
}

/// The repository config at `commit`, if the file exists there.
pub fn load_at(repo: &Repository, commit: Oid) -> Result<Option<RepoConfig>, RepoConfigError> {
    let git = |source| RepoConfigError::Git {
        commit: commit.to_string(),
        source,
    };
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(git)?;
    let entry = match tree.get_path(std::path::Path::new(REPO_CONFIG_PATH)) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git(e)),
    };
    let blob = entry
        .to_object(repo)
        .and_then(|o| o.peel_to_blob())
        .map_err(git)?;
    parse(
        &String::from_utf8_lossy(blob.content()),
        &commit.to_string(),
    )
    .map(Some)
}

/// The repository config at `commit` (default when absent) and the rule pack it makes of `pack`.
pub fn rules_at(
    repo: &Repository,
    commit: Oid,
    pack: RuleSet,
) -> Result<(RepoConfig, RuleSet), RepoConfigError> {
    let cfg = load_at(repo, commit)?.unwrap_or_default();
    let rules = apply_rules(pack, &cfg, &commit.to_string())?;
    Ok((cfg, rules))
}

/// Parse and check one repository config file on its own (`_extends` is kept, not followed).
pub fn parse(text: &str, commit: &str) -> Result<RepoConfig, RepoConfigError> {
    let invalid = |detail: String| RepoConfigError::Invalid {
        commit: commit.to_string(),
        detail,
    };
    let value = parse_value(text).map_err(invalid)?;
    let mut found = Vec::new();
    check_file(&value, &mut found);
    if found.is_empty() {
        check_merged(&value, &mut found);
    }
    if !found.is_empty() {
        let detail = found
            .iter()
            .map(|(path, message)| format!("{}: {message}", shown_path(path)))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(invalid(detail));
    }
    to_config(value).map_err(invalid)
}

/// The rule pack with the repository's additions and removals (secret rules stay).
pub fn apply_rules(
    pack: RuleSet,
    cfg: &RepoConfig,
    commit: &str,
) -> Result<RuleSet, RepoConfigError> {
    if cfg.rules.add.is_empty() && cfg.rules.disable.is_empty() {
        return Ok(pack);
    }
    let rules_err = |source| RepoConfigError::Rules {
        commit: commit.to_string(),
        source,
    };
    let added = if cfg.rules.add.is_empty() {
        RuleSet::from_rules(Vec::new()).map_err(rules_err)?
    } else {
        let text = serde_yaml::to_string(&cfg.rules.add).map_err(|e| RepoConfigError::Invalid {
            commit: commit.to_string(),
            detail: format!("rules.add: {e}"),
        })?;
        RuleSet::from_yaml(&text, REPO_CONFIG_PATH).map_err(rules_err)?
    };
    pack.with_repo_overrides(added, &cfg.rules.disable)
        .map_err(rules_err)
}

// ---------------------------------------------------------------------------------------------
// Inheritance: `_extends`, the organisation default, and the resolved result.

/// Where the files another repository's config names come from: the caller's I/O (the GitHub
/// API in the server, a map in tests). Never asked for the repository's own file: that one is
/// read from the change's base commit and handed to [`resolve`].
pub trait ConfigSource {
    /// The file's text at the repository's default branch, `None` when absent.
    fn fetch(
        &self,
        repo: &str, /* "owner/name" */
        path: &str,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send;
}

/// The repository's effective config, where it came from, and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    /// The merged config; the built-in defaults ([`RepoConfig::default`]) when there are
    /// problems, so that a broken file never relaxes anything.
    pub config: RepoConfig,
    /// The files read, `owner/repo:path@ref`, in the order applied (the deepest base first,
    /// the repository's own file last). `@base` is the change's base commit, `@default-branch`
    /// another repository's default branch.
    pub sources: Vec<String>,
    /// Everything that makes the config unusable; not empty = the check must block the merge.
    pub problems: Vec<ConfigProblem>,
    /// Remarks that change nothing about the verdict (e.g. `_extends` not followed offline).
    pub notes: Vec<String>,
}

impl ResolvedConfig {
    /// No problems: `config` is what the files say.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file, `owner/repo:path@ref` (several joined by ` + ` when only their merge is wrong).
    pub source: String,
    /// The key path, like `rollback.action` or `rollback.labels[1]`; empty for the whole file.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The repository's config, following `_extends` and the organisation default.
///
/// `local`: the text of `.github/patchgate.yml` at the change's base commit (`None` when the
/// file is absent); `repo`: `"owner/name"`. Never fails: problems are returned, with the
/// built-in defaults as the config.
pub async fn resolve<S: ConfigSource>(
    local: Option<&str>,
    repo: &str,
    source: &S,
) -> ResolvedConfig {
    let mut r = Resolution::default();
    let Some((owner, _)) = split_repo(repo) else {
        r.problem(
            repo,
            "",
            format!(
                "{} is not a repository name of the form owner/name",
                quoted(repo)
            ),
        );
        return r.finish();
    };
    let org = format!("{owner}/.github");
    let (mut label, mut text, mut file_repo) = match local {
        Some(t) => (
            label_of(repo, REPO_CONFIG_PATH, "base"),
            t.to_string(),
            repo.to_string(),
        ),
        None if org.eq_ignore_ascii_case(repo) => return r.finish(),
        None => {
            let label = label_of(&org, REPO_CONFIG_PATH, "default-branch");
            match source.fetch(&org, REPO_CONFIG_PATH).await {
                Ok(None) => return r.finish(),
                Ok(Some(t)) => (label, t, org.clone()),
                Err(e) => {
                    r.problem(&label, "", format!(
                        "this repository has no {REPO_CONFIG_PATH}, and the organisation default could not be read ({e:#}); run `/patchgate recheck` once GitHub answers"
                    ));
                    return r.finish();
                }
            }
        }
    };
    let mut seen = vec![(file_repo.to_ascii_lowercase(), REPO_CONFIG_PATH.to_string())];
    loop {
        let Some(value) = r.read_layer(&label, &text) else {
            break;
        };
        let extends = value
            .get("_extends")
            .and_then(Value::as_str)
            .map(str::to_string);
        r.layers.push((label.clone(), value));
        let Some(extends) = extends else { break };
        if r.layers.len() > MAX_EXTENDS_DEPTH {
            r.problem(&label, "_extends", format!(
                "more than {MAX_EXTENDS_DEPTH} levels of `_extends` ({}): point this file straight at the config it means",
                r.chain_text()
            ));
            break;
        }
        let file_owner = split_repo(&file_repo).map_or(owner, |(o, _)| o).to_string();
        // A malformed value was reported by the layer's own check.
        let Ok(target) = parse_extends(&extends, &file_owner) else {
            break;
        };
        let key = (target.repo.to_ascii_lowercase(), target.path.clone());
        if let Some(i) = seen.iter().position(|k| *k == key) {
            let mut names: Vec<String> =
                seen[i..].iter().map(|(r, p)| format!("{r}:{p}")).collect();
            names.push(format!("{}:{}", key.0, key.1));
            r.problem(
                &label,
                "_extends",
                format!(
                "`_extends` makes a cycle ({}): one of these files must stop extending the others",
                names.join(" → ")
            ),
            );
            break;
        }
        seen.push(key);
        let next = label_of(&target.repo, &target.path, "default-branch");
        match source.fetch(&target.repo, &target.path).await {
            Ok(Some(t)) => {
                label = next;
                text = t;
                file_repo = target.repo;
            }
            Ok(None) => {
                r.problem(&label, "_extends", format!(
                    "`_extends: {extends}` names {}, which does not exist on that repository's default branch (or patchgate cannot read it): fix the name or install the app there",
                    quoted(&format!("{}:{}", target.repo, target.path))
                ));
                break;
            }
            Err(e) => {
                r.problem(&label, "_extends", format!(
                    "`_extends: {extends}` could not be read ({e:#}); run `/patchgate recheck` once GitHub answers"
                ));
                break;
            }
        }
    }
    r.finish()
}

/// The repository config for a run with no network (the CLI): only `local` counts. An
/// `_extends` is not followed — a note says so — and no organisation default is consulted.
pub fn resolve_offline(local: Option<&str>, repo: &str) -> ResolvedConfig {
    let mut r = Resolution::default();
    let Some(text) = local else { return r.finish() };
    let label = label_of(repo, REPO_CONFIG_PATH, "base");
    if let Some(value) = r.read_layer(&label, text) {
        if let Some(e) = value.get("_extends").and_then(Value::as_str) {
            r.notes.push(format!(
                "`_extends: {e}` is not followed offline: only {REPO_CONFIG_PATH}'s own keys apply to this run (the GitHub App and the Action follow it)"
            ));
        }
        r.layers.push((label, value));
    }
    r.finish()
}

/// Problems as a Markdown list for a check run: file, key path, what is wrong and allowed.
pub fn render_problems(problems: &[ConfigProblem]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "**The repository configuration cannot be used** ({} problem{}). The gate runs with the built-in defaults and blocks the merge until the base branch's `{REPO_CONFIG_PATH}` (or the file it extends) is fixed:\n\n",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!(
            "- {} in {}: {}\n",
            if p.path.is_empty() {
                "the file".to_string()
            } else {
                quoted(&p.path)
            },
            quoted(&p.source),
            p.message.replace('\n', " ")
        ));
    }
    out.push_str(&format!(
        "\nCheck a file locally with `patchgate config check {REPO_CONFIG_PATH}`.\n"
    ));
    out
}

/// Where `_extends` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendsTarget {
    /// `owner/name`.
    pub repo: String,
    /// The file in that repository.
    pub path: String,
}

/// Read an `_extends` value written in a file of `owner`'s: `.github`, `repo`, `owner/repo`,
/// each optionally followed by `:path`.
pub fn parse_extends(value: &str, owner: &str) -> Result<ExtendsTarget, String> {
    let form =
        "write `.github`, `other-repo` or `owner/repo`, optionally followed by `:path/to/file.yml`";
    let value = value.trim();
    let (target, path) = match value.split_once(':') {
        Some((t, p)) => (t, p),
        None => (value, REPO_CONFIG_PATH),
    };
    let repo = match target.split_once('/') {
        Some((o, n)) if valid_owner(o) && valid_repo_name(n) => format!("{o}/{n}"),
        None if valid_repo_name(target) => format!("{owner}/{target}"),
        _ => return Err(format!("{} is not a repository: {form}", quoted(target))),
    };
    let bad_path = path.is_empty()
        || path.len() > 1024
        || path.starts_with('/')
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad_path {
        return Err(format!(
            "{} is not a file path inside a repository (relative, no `..`): {form}",
            quoted(path)
        ));
    }
    Ok(ExtendsTarget {
        repo,
        path: path.to_string(),
    })
}

#[derive(Default)]
struct Resolution {
    /// The files read, the repository's own (or the org default) first.
    layers: Vec<(String, Value)>,
    problems: Vec<ConfigProblem>,
    notes: Vec<String>,
}

impl Resolution {
    fn problem(&mut self, source: &str, path: &str, message: String) {
        self.problems.push(ConfigProblem {
            source: source.to_string(),
            path: path.to_string(),
            message,
        });
    }

    /// A file's YAML, checked on its own; `None` when it is not YAML at all.
    fn read_layer(&mut self, label: &str, text: &str) -> Option<Value> {
        let value = match parse_value(text) {
            Ok(v) => v,
            Err(message) => {
                self.problem(label, "", message);
                return None;
            }
        };
        let mut found = Vec::new();
        check_file(&value, &mut found);
        for (path, message) in found {
            self.problem(label, &path, message);
        }
        Some(value)
    }

    fn chain_text(&self) -> String {
        self.layers
            .iter()
            .map(|(l, _)| l.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    }

    fn finish(mut self) -> ResolvedConfig {
        let sources: Vec<String> = self.layers.iter().rev().map(|(l, _)| l.clone()).collect();
        let mut config = RepoConfig::default();
        if self.problems.is_empty() && !self.layers.is_empty() {
            let merged = self
                .layers
                .iter()
                .rev()
                .map(|(_, v)| without_extends(v))
                .reduce(deep_merge)
                .unwrap_or(Value::Null);
            let mut found = Vec::new();
            check_merged(&merged, &mut found);
            if found.is_empty() {
                check_rules(&merged, &mut found);
            }
            let label = sources.join(" + ");
            for (path, message) in found {
                self.problem(&label, &path, message);
            }
            if self.problems.is_empty() {
                match to_config(merged) {
                    Ok(c) => config = c,
                    Err(message) => self.problem(&label, "", message),
                }
            }
        }
        ResolvedConfig {
            config,
            sources,
            problems: self.problems,
            notes: self.notes,
        }
    }
}

fn label_of(repo: &str, path: &str, at: &str) -> String {
    format!("{repo}:{path}@{at}")
}

fn split_repo(repo: &str) -> Option<(&str, &str)> {
    repo.split_once('/')
        .filter(|(o, n)| valid_owner(o) && valid_repo_name(n))
}

/// A GitHub user or organisation name.
fn valid_owner(o: &str) -> bool {
    (1..=39).contains(&o.len()) && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A GitHub repository name.
fn valid_repo_name(n: &str) -> bool {
    (1..=100).contains(&n.len())
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `b` over `a`: mappings merge key by key (recursively), anything else in `b` replaces `a`.
fn deep_merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Mapping(mut a), Value::Mapping(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(old) => deep_merge(old, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Mapping(a)
        }
        (_, b) => b,
    }
}

fn without_extends(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Mapping(m) = &mut v {
        m.remove("_extends");
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Checking: every problem with its key path, before serde sees the file.

const TOP_KEYS: [&str; 7] = [
    "threshold_percent",
    "rules",
    "advisory",
    "render_b",
    "rollback",
    "policy",
    "_extends",
];
const RULES_KEYS: [&str; 2] = ["disable", "add"];
const RENDER_B_KEYS: [&str; 1] = ["required"];
const ROLLBACK_KEYS: [&str; 6] = [
    "action",
    "labels",
    "auto_merge",
    "window_hours",
    "max_per_day",
    "freeze_exempt_label",
];
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
const SERVER_ONLY_KEYS: [&str; 6] = ["auditors", "quorum", "budget", "prices", "model", "models"];

type Found = Vec<(String, String)>;

/// The file's YAML; an empty file is an empty mapping.
fn parse_value(text: &str) -> Result<Value, String> {
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
fn check_file(v: &Value, out: &mut Found) {
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
                            _ => unknown(k, v, &p, &RENDER_B_KEYS, out),
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
                        out.push((p, format!("{} is not an action{hint}: write one of push, pull-request, comment", quoted(a))));
                    }
                }
            }
            "labels" => {
                for (item, ip) in sequence(v, &p, out) {
                    label(item, &ip, out);
                }
            }
            "freeze_exempt_label" => label(v, &p, out),
            "auto_merge" => {
                boolean(v, &p, out);
            }
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
fn check_merged(v: &Value, out: &mut Found) {
    let Ok(cfg) = to_config(v.clone()) else {
        // Every shape problem was reported by `check_file`; `to_config` reports the rest.
        return;
    };
    if cfg.rollback.auto_merge
        && matches!(
            cfg.rollback.action,
            Some(RollbackAction::Push | RollbackAction::Comment)
        )
    {
        out.push((
            "rollback.auto_merge".into(),
            "auto-merge applies to a revert pull request only: set `rollback.action: pull-request` or drop `auto_merge`".into(),
        ));
    }
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
fn check_rules(v: &Value, out: &mut Found) {
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
            hits.iter().map(|h| quoted(h)).collect::<Vec<_>>().join(", ")
        )
    } else if SERVER_ONLY_KEYS.contains(&lower.as_str()) {
        format!("{} is set in the server config (PATCHGATE_CONFIG), not by a repository; ask the patchgate operators", quoted(key))
    } else {
        let hint = did_you_mean(key, allowed)
            .map(|s| format!(" Did you mean `{s}`?"))
            .unwrap_or_default();
        format!(
            "unknown key {}.{hint} Allowed here: {}",
            quoted(key),
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
            quoted(&s.chars().take(40).collect::<String>())
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

fn shown_path(path: &str) -> &str {
    if path.is_empty() {
        "the file"
    } else {
        path
    }
}

/// `text` as inline code, whatever backticks it holds.
fn quoted(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("{fence}{text}{fence}")
    } else {
        format!("{fence} {text} {fence}")
    }
}

fn yaml_text(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_default()
}

/// The typed config of a checked value; `key: null` means "not set" (except under `policy:`,
/// where a metric set to `null` drops that metric's rule).
fn to_config(mut v: Value) -> Result<RepoConfig, String> {
    if let Value::Mapping(m) = &mut v {
        m.retain(|_, x| !x.is_null());
        for section in ["render_b", "rollback", "rules"] {
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
