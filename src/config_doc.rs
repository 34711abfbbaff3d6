//! The configuration reference, `docs/configuration.md`, generated from the config types.
//!
//! What it is for: one page that lists every setting (its environment variable, flag, default
//! and where it may be set) and every key of the two config files, built from the code so it
//! cannot drift. `tests/config_doc.rs` keeps the file byte for byte equal to
//! [`reference_markdown`], fails on any config key without a description here
//! ([`undocumented`]), and on any `PATCHGATE_*` variable of `src/` missing from the page.
//!
//! How the keys are found: the file types refuse unknown keys (`deny_unknown_fields`), and
//! serde's refusal names every field the type has. [`fields_of`] feeds each type a probe key
//! and reads the field list from the error, so a key added to [`ServerConfig`] or
//! [`RepoConfig`] appears here (and fails the test until it is described) without anyone
//! remembering to. Enum values are found the same way. Defaults come from the embedded server
//! config ([`DEFAULT_SERVER_CONFIG`]), [`config::resolve`] with nothing set, and the compiled-in
//! policy ([`EMBEDDED_POLICY`]).
//!
//! What it must never do: invent a key that the types do not have. A described key the types
//! lack is left out of the page (so descriptions may be written ahead of the code).

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use crate::config::{self, AuditorConfig, Flags, ServerConfig, DEFAULT_SERVER_CONFIG};
use crate::gate::repo_config::{RepoConfig, REPO_CONFIG_PATH};
use crate::policy::EMBEDDED_POLICY;

mod tables;

pub use tables::{settings, Place, Setting};
use tables::{REPO_KEYS, SERVER_KEYS};

/// The probe key: no config type has a field of this name.
const PROBE: &str = "__probe__";

/// One key of a config file, as found in the types.
#[derive(Debug, Clone, PartialEq)]
pub struct FileKey {
    pub path: String,
    /// The description, or `None` when [`SERVER_KEYS`]/[`REPO_KEYS`] has none.
    pub meaning: Option<&'static str>,
    /// The values an enum key takes.
    pub values: Vec<String>,
    pub default: Option<String>,
}

/// Build a YAML document that puts `leaf` at `path` (`a.b[].<k>.c` notation).
fn probe_doc(path: &str, leaf: Value) -> Value {
    let mut v = leaf;
    if path.is_empty() {
        return v;
    }
    for seg in path.rsplit('.') {
        let (name, list) = match seg.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (seg, false),
        };
        if list {
            v = Value::Sequence(vec![v]);
        }
        let key = if name.starts_with('<') { "x" } else { name };
        let mut m = Mapping::new();
        m.insert(Value::String(key.to_string()), v);
        v = Value::Mapping(m);
    }
    v
}

/// The names in backticks after `marker` in a serde error (`expected one of `a`, `b``).
fn expected_names(error: &str, marker: &str) -> Option<Vec<String>> {
    let rest = &error[error.find(marker)? + marker.len()..];
    if rest.contains("there are no fields") || rest.contains("there are no variants") {
        return Some(Vec::new());
    }
    let rest = rest.lines().next().unwrap_or("");
    let rest = rest.split(" at line ").next().unwrap_or(rest);
    Some(
        rest.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

/// The fields of the struct at `path` in a `T` document, from serde's refusal of a probe key;
/// `None` when the type there does not refuse unknown keys (or is not a struct).
pub fn fields_of<T: DeserializeOwned>(path: &str) -> Option<Vec<String>> {
    let mut m = Mapping::new();
    m.insert(Value::String(PROBE.into()), Value::Number(1.into()));
    let err = serde_yaml::from_value::<T>(probe_doc(path, Value::Mapping(m))).err()?;
    expected_names(&err.to_string(), &format!("unknown field `{PROBE}`"))
}

/// The variants of the enum at `path` in a `T` document, if it is one.
pub fn variants_of<T: DeserializeOwned>(path: &str) -> Vec<String> {
    serde_yaml::from_value::<T>(probe_doc(path, Value::String(PROBE.into())))
        .err()
        .and_then(|e| expected_names(&e.to_string(), &format!("unknown variant `{PROBE}`")))
        .unwrap_or_default()
}

/// The child container of `path` that `described` implies: `path[]`, `path.<name>`, or `path`.
fn container_of(path: &str, described: &[(&str, &str)]) -> Option<String> {
    let mut found = None;
    for (k, _) in described {
        if let Some(rest) = k.strip_prefix(path) {
            if rest.starts_with("[].") {
                return Some(format!("{path}[]"));
            }
            if let Some(r) = rest.strip_prefix(".<") {
                let name = r.split('>').next().unwrap_or("name");
                return Some(format!("{path}.<{name}>"));
            }
            if rest.starts_with('.') {
                found = Some(path.to_string());
            }
        }
    }
    found
}

/// Join a container path and a field.
fn join(container: &str, field: &str) -> String {
    if container.is_empty() {
        field.to_string()
    } else {
        format!("{container}.{field}")
    }
}

/// Walk the keys of a `T` document from `root`, depth first in declaration order.
fn walk<T: DeserializeOwned>(
    container: &str,
    described: &[(&'static str, &'static str)],
    fallback: &dyn Fn(&str) -> Option<Vec<String>>,
    defaults: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<FileKey>,
) {
    let fields = match fields_of::<T>(container).or_else(|| fallback(container)) {
        Some(f) => f,
        None => return,
    };
    for f in fields {
        let path = join(container, &f);
        let meaning = described.iter().find(|(k, _)| *k == path).map(|(_, m)| *m);
        out.push(FileKey {
            values: variants_of::<T>(&path),
            default: defaults(&path),
            path: path.clone(),
            meaning,
        });
        if let Some(child) = container_of(&path, described) {
            walk::<T>(&child, described, fallback, defaults, out);
        }
    }
}

/// The value at a plain dotted path of a YAML value.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, seg| v.get(seg))
}

/// A scalar or a short list as inline YAML.
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "`null`".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(s) if s.is_empty() => "`[]`".into(),
        Value::Mapping(m) if m.is_empty() => "`{}`".into(),
        other => format!(
            "`{}`",
            serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .replace('\n', " ")
        ),
    }
}

/// The server config file's keys, as the types have them.
pub fn server_keys() -> Vec<FileKey> {
    let default = serde_yaml::to_value(ServerConfig::embedded_default()).unwrap_or(Value::Null);
    let timeout = serde_yaml::from_str::<AuditorConfig>("{name: a, kind: rules}")
        .map(|a| a.timeout_s())
        .unwrap_or(60);
    let defaults = move |path: &str| -> Option<String> {
        match path {
            "auditors" => Some("Rule-Guard, `reviewer-1` (OpenAI), `reviewer-2` (Anthropic): the embedded default below".into()),
            "auditors[].timeout_s" => Some(format!("`{timeout}`")),
            "prices" => Some("the embedded default's models".into()),
            p if p.contains("[]") || p.contains('<') => None,
            p => lookup(&default, p)
                .filter(|v| !v.is_mapping())
                .map(inline),
        }
    };
    let mut out = Vec::new();
    walk::<ServerConfig>("", SERVER_KEYS, &|_| None, &defaults, &mut out);
    out
}

/// `.github/patchgate.yml`'s keys, as the types have them.
pub fn repo_keys() -> Vec<FileKey> {
    let policy: Value = serde_yaml::from_str(EMBEDDED_POLICY).unwrap_or(Value::Null);
    let policy_keys: Vec<String> = policy
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // `policy:` may be kept as YAML and overlaid on rules/policy.yaml later: then its keys are
    // those of rules/policy.yaml.
    let fallback = move |container: &str| -> Option<Vec<String>> {
        (container == "policy").then(|| policy_keys.clone())
    };
    let defaults = move |path: &str| -> Option<String> {
        if let Some(p) = path.strip_prefix("policy.") {
            if p.contains('<') {
                return None;
            }
            return lookup(&policy, p).map(inline);
        }
        match path {
            "threshold_percent" => Some("the server's threshold".into()),
            "advisory" => Some("`false`".into()),
            "rules.disable" | "rules.add" => Some("`[]`".into()),
            "diff.exclude" => Some("scratch scripts and backups (see the meaning)".into()),
            _ => None,
        }
    };
    let mut out = Vec::new();
    walk::<RepoConfig>("", REPO_KEYS, &fallback, &defaults, &mut out);
    out
}

/// Keys the types have that no description covers (`server: path` / `repo: path`).
pub fn undocumented() -> Vec<String> {
    let mut out = Vec::new();
    for (file, keys) in [("server", server_keys()), ("repo", repo_keys())] {
        for k in keys {
            if k.meaning.is_none() {
                out.push(format!("{file}: {}", k.path));
            }
        }
    }
    out
}

fn cell(s: &str) -> String {
    if s.is_empty() {
        "—".into()
    } else {
        s.replace('|', "\\|")
    }
}

fn code(s: &str) -> String {
    if s.is_empty() {
        "—".into()
    } else {
        s.split(", ")
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn key_table(out: &mut String, keys: &[FileKey]) {
    out.push_str("| key | default | meaning |\n| --- | --- | --- |\n");
    for k in keys {
        let mut meaning = k
            .meaning
            .unwrap_or("**undocumented**: describe it in `src/config_doc.rs`")
            .to_string();
        if !k.values.is_empty() {
            let vals: Vec<String> = k.values.iter().map(|v| format!("`{v}`")).collect();
            meaning.push_str(&format!(" One of: {}.", vals.join(", ")));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            k.path,
            cell(k.default.as_deref().unwrap_or("")),
            cell(&meaning)
        ));
    }
}

/// The whole of `docs/configuration.md`.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "<!-- Generated by src/config_doc.rs: do not edit. Regenerate with\n     PATCHGATE_BLESS=1 cargo test --test config_doc -->\n\n",
    );
    out.push_str("# Configuration reference\n\n");
    out.push_str(
        "patchgate has three sources of configuration, and one rule between them:\n\n\
         1. **Settings of the process**: command-line flags, then environment variables.\n\
         2. **The server config file** (YAML): the auditors, the quorum, the budget, model prices. \
         `--config FILE`, `PATCHGATE_CONFIG`, or `patchgate.yml` in the data directory; else the \
         embedded default (below). It is never read from a repository: endpoints, keys and commands \
         live here only, so a pull request cannot make patchgate call an address of its choosing.\n\
         3. **The repository config** `.github/patchgate.yml`, always read from the pull request's \
         **base** commit, never from its head: a change cannot relax its own gate. A PR that edits it \
         is told the edit applies after merge. It may not name endpoints, keys or commands.\n\n\
         Precedence: **flags > environment > server file > defaults**; a repository's \
         `threshold_percent` applies only when neither a flag nor the environment set one. \
         Unknown keys are refused in both files, with their path. Every problem of a file is \
         reported at once, each with its path: unknown keys at any depth with a \"did you mean\" \
         and the keys allowed there, values of the wrong type, unknown values (`kind: comand` → \
         `command`), missing required keys, and the checks that follow (a model without a price, \
         a quorum above the number of auditors, …); `patchgate serve` refuses to start with the \
         same list. An API key variable that is not set is not a config problem: that auditor \
         abstains \"not configured\", and `check` says which variable to set. \
         `patchgate config check [FILE]` \
         validates either kind of file and prints every problem with its path; \
         `patchgate config explain` prints the effective settings and where each came from \
         (flag, env, file, default).\n\n\
         Rows marked `serve` belong to `patchgate serve` (the GitHub App), rows marked \
         *action input* are set by `action.yml` for `patchgate check --github-actions`.\n\n",
    );

    out.push_str("## Settings\n\n");
    out.push_str("| setting | environment | flag | default | may be set in | meaning |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for s in settings() {
        let places: Vec<&str> = s.places.iter().map(|p| p.label()).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            s.key,
            code(s.env),
            if s.flag.is_empty() {
                "—".to_string()
            } else {
                format!("`{}`", s.flag)
            },
            cell(&s.default),
            places.join(", "),
            cell(s.meaning)
        ));
    }
    out.push_str(
        "\nThe global flags (`--data-dir`, `--database-url`, `--config`, `--audit-mode`) go before or \
         after any command; `--threshold` belongs to `check` and `diff`.\n\n",
    );

    out.push_str("## Server config file\n\n");
    out.push_str(
        "A list entry is written `auditors[]`, a key of your choosing `<model>`. Keys of a model \
         auditor (`openai`, `anthropic`) and of a `command` auditor are checked against its kind.\n\n",
    );
    key_table(&mut out, &server_keys());
    out.push_str(
        "\nThe embedded default (`DEFAULT_SERVER_CONFIG` in `src/config.rs`):\n\n```yaml\n",
    );
    out.push_str(DEFAULT_SERVER_CONFIG.trim_end());
    out.push_str("\n```\n\n");

    out.push_str(&format!("## Repository config `{REPO_CONFIG_PATH}`\n\n"));
    out.push_str(
        "Every key is optional; an empty or missing file means the defaults. Read from the base \
         commit of the pull request (for the post-merge policy: from the default branch).\n\n",
    );
    key_table(&mut out, &repo_keys());
    out.push_str(
        "\nThe post-merge policy defaults (`rules/policy.yaml`, compiled in):\n\n```yaml\n",
    );
    out.push_str(EMBEDDED_POLICY.trim_end());
    out.push_str("\n```\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_finds_the_fields_and_variants_of_the_types() {
        let root = fields_of::<ServerConfig>("").unwrap();
        assert!(root.contains(&"auditors".to_string()), "{root:?}");
        let auditor = fields_of::<ServerConfig>("auditors[]").unwrap();
        assert!(auditor.contains(&"api_key_env".to_string()), "{auditor:?}");
        let price = fields_of::<ServerConfig>("prices.<model>").unwrap();
        assert_eq!(price, ["input", "output"]);
        assert_eq!(
            variants_of::<ServerConfig>("auditors[].kind"),
            ["rules", "openai", "anthropic", "command"]
        );
        assert!(fields_of::<ServerConfig>("quorum.required").is_none());
    }

    #[test]
    fn every_key_the_types_have_is_described() {
        assert_eq!(undocumented(), Vec::<String>::new());
    }
}
