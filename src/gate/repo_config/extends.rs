//! Inheritance: `_extends`, the organisation default, and the resolved result. The files of
//! other repositories come through [`ConfigSource`], the caller's I/O; nothing is fetched here.

use std::future::Future;

use serde_yaml::Value;

use super::check::{check_file, check_merged, check_rules, parse_value, to_config};
use super::target::{parse_extends, split_repo};
use super::{RepoConfig, MAX_EXTENDS_DEPTH, REPO_CONFIG_PATH};
use crate::util::code_span;

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
                code_span(repo)
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
                    "{} names {}, which does not exist on that repository's default branch (or patchgate cannot read it): fix the name or install the app there",
                    code_span(&format!("_extends: {extends}")),
                    code_span(&format!("{}:{}", target.repo, target.path))
                ));
                break;
            }
            Err(e) => {
                r.problem(
                    &label,
                    "_extends",
                    format!(
                    "{} could not be read ({e:#}); run `/patchgate recheck` once GitHub answers",
                    code_span(&format!("_extends: {extends}"))
                ),
                );
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
                "`_extends: {e}` is not followed offline: only {REPO_CONFIG_PATH}'s own keys apply to this run (the GitHub App follows it)"
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
                code_span(&p.path)
            },
            code_span(&p.source),
            p.message.replace('\n', " ")
        ));
    }
    out.push_str(&format!(
        "\nCheck a file locally with `patchgate config check {REPO_CONFIG_PATH}`.\n"
    ));
    out
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
