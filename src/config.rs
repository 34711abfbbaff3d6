//! The server's own configuration: which auditors vote, the quorum, the budget, model prices.
//!
//! Precedence: command-line flags > environment variables > the server config file
//! (`--config`, `PATCHGATE_CONFIG`, or `patchgate.yml` in the data directory) > the embedded
//! defaults ([`DEFAULT_SERVER_CONFIG`]). This file is never read from a repository: endpoints,
//! keys and commands live here only, so a pull request cannot make patchgate call an address
//! of its choosing. Unknown keys are refused, and every problem is reported with its path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod builders;
pub mod gate;
mod parse;

pub use gate::{AgreementSection, EscalationSection, HumanVotesSection, JudgeSection, Permission};

/// The embedded default: Rule-Guard plus two model reviewers whose keys come from the
/// environment. With no keys set, the reviewers abstain ("not configured") and the quorum of 2
/// cannot pass on Rule-Guard alone — by design.
pub const DEFAULT_SERVER_CONFIG: &str = r#"# patchgate server configuration (embedded default)
auditors:
  - {name: rule-guard, kind: rules}
  - name: reviewer-1
    kind: openai                  # any OpenAI-compatible chat-completions endpoint
    base_url: https://api.openai.com/v1
    model: o3-mini
    fallback_models: [gpt-4o-mini]
    api_key_env: OPENAI_API_KEY
    timeout_s: 60
  - name: reviewer-2
    kind: anthropic
    base_url: https://api.anthropic.com
    model: claude-sonnet-4-0
    fallback_models: [claude-3-5-haiku-latest]
    api_key_env: ANTHROPIC_API_KEY
    timeout_s: 60
quorum: {required: 2}
budget: {daily_usd: 0.50}
prices:                           # USD per million tokens
  o3-mini: {input: 1.10, output: 4.40}
  gpt-4o-mini: {input: 0.15, output: 0.60}
  claude-sonnet-4-0: {input: 3.00, output: 15.00}
  claude-3-5-haiku-latest: {input: 0.80, output: 4.00}
"#;

/// What kind of auditor an entry configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditorKind {
    /// The deterministic Rule-Guard.
    Rules,
    /// An OpenAI-compatible chat-completions endpoint.
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
    /// An external program: the change as JSON on stdin, a vote as JSON on stdout.
    Command,
}

/// One `auditors:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditorConfig {
    pub name: String,
    pub kind: AuditorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_models: Vec<String>,
    /// The environment variable holding the API key (the key itself is never in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// `kind: command`: the program and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `kind: command`: the most bytes read from its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<usize>,
    /// Model auditors: the most tokens asked for in an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
}

impl AuditorConfig {
    /// Seconds before the auditor's vote is an abstention.
    pub fn timeout_s(&self) -> u64 {
        self.timeout_s.unwrap_or(60)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumSection {
    pub required: usize,
}

impl Default for QuorumSection {
    fn default() -> Self {
        QuorumSection { required: 2 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    /// Daily cap across all model auditors, USD.
    pub daily_usd: f64,
}

impl Default for BudgetSection {
    fn default() -> Self {
        BudgetSection { daily_usd: 0.50 }
    }
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// The server config file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub auditors: Vec<AuditorConfig>,
    #[serde(default)]
    pub quorum: QuorumSection,
    #[serde(default)]
    pub budget: BudgetSection,
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// What a Rule-Guard finding of each severity does to its vote (default: an `error`
    /// rejects; warnings and infos approve). Secret findings always reject.
    #[serde(default)]
    pub rule_guard: RuleGuardSection,
    /// What renders or explanations that differ need to pass.
    #[serde(default)]
    pub escalation: EscalationSection,
    /// What agreeing renders may stand in for.
    #[serde(default)]
    pub agreement: AgreementSection,
    /// The model that judges two explanations by meaning (none by default: not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSection>,
    /// Who may `/patchgate approve|block`.
    #[serde(default)]
    pub human_votes: HumanVotesSection,
    /// The builders that may make a render B on demand (`docs/render-b.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builders: Vec<builders::BuilderConfig>,
}

/// `rule_guard:` — how findings become a vote.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGuardSection {
    #[serde(default)]
    pub severity: crate::audit::rule_guard::SeverityPolicy,
}

/// A configuration problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `auditors[1].model`
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: not valid configuration YAML: {detail}")]
    Parse { source_name: String, detail: String },
    #[error("{source_name}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
    #[error("cannot read config file {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{name}: {detail}")]
    Env { name: String, detail: String },
}

impl ServerConfig {
    /// The embedded default.
    pub fn embedded_default() -> Self {
        Self::from_yaml(DEFAULT_SERVER_CONFIG, "embedded default")
            .expect("the embedded default is valid")
    }

    /// Parse and validate a server config: every problem at once (unknown keys with a "did
    /// you mean", bad types and values, then the checks of [`ServerConfig::problems`]).
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        parse::parse_collecting(text, source_name)
    }

    /// Every problem of a parsed config.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut p = |path: String, message: &str| {
            out.push(Problem {
                path,
                message: message.to_string(),
            })
        };
        if self.auditors.is_empty() {
            p("auditors".into(), "at least one auditor is needed");
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, a) in self.auditors.iter().enumerate() {
            let at = |f: &str| format!("auditors[{i}].{f}");
            if a.name.trim().is_empty() {
                p(at("name"), "must not be empty");
            } else if !names.insert(a.name.as_str()) {
                p(at("name"), "two auditors share this name");
            }
            if a.timeout_s == Some(0) {
                p(at("timeout_s"), "must be at least 1");
            }
            match a.kind {
                AuditorKind::Rules => {}
                AuditorKind::Openai | AuditorKind::Anthropic => {
                    match a.base_url.as_deref() {
                        None => p(at("base_url"), "required for a model auditor"),
                        Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                            p(at("base_url"), "must be an http(s) URL")
                        }
                        Some(_) => {}
                    }
                    match a.model.as_deref() {
                        None => p(at("model"), "required for a model auditor"),
                        Some(m) => {
                            for model in std::iter::once(m)
                                .chain(a.fallback_models.iter().map(String::as_str))
                            {
                                if !self.prices.contains_key(model) {
                                    p(
                                        at("model"),
                                        &format!("no price for model `{model}` under `prices:` (a model is never free)"),
                                    );
                                }
                            }
                        }
                    }
                    if a.api_key_env.is_none() {
                        p(
                            at("api_key_env"),
                            "required: the environment variable holding the API key",
                        );
                    }
                }
                AuditorKind::Command => {
                    if a.command.is_empty() {
                        p(
                            at("command"),
                            "required for a command auditor: [program, args…]",
                        );
                    }
                }
            }
        }
        if self.quorum.required == 0 {
            p("quorum.required".into(), "must be at least 1");
        } else if self.quorum.required > self.auditors.len() {
            p(
                "quorum.required".into(),
                &format!(
                    "is {} but only {} auditor(s) are configured",
                    self.quorum.required,
                    self.auditors.len()
                ),
            );
        }
        gate::problems(self, &mut p);
        builders::problems(self, &mut p);
        if !(self.budget.daily_usd.is_finite() && self.budget.daily_usd >= 0.0) {
            p("budget.daily_usd".into(), "must be a non-negative amount");
        }
        for (model, price) in &self.prices {
            if !(price.input >= 0.0
                && price.output >= 0.0
                && price.input.is_finite()
                && price.output.is_finite())
            {
                p(
                    format!("prices.{model}"),
                    "prices must be non-negative numbers",
                );
            }
        }
        out
    }
}

/// `PATCHGATE_AUDIT_MODE`: defined beside the model auditors it switches off.
pub use crate::audit::llm::AuditMode;

/// What the command line said (each `None` falls through to the environment).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub config: Option<PathBuf>,
    pub threshold_percent: Option<f64>,
    pub audit_mode: Option<AuditMode>,
}

/// Where the server config came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    File(PathBuf),
    EmbeddedDefault,
}

/// Where one effective value came from (`patchgate config explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(name) => write!(f, "flag {name}"),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// The effective settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub threshold_percent: f64,
    /// Whether a flag or the environment set the threshold (else a repository may).
    pub threshold_explicit: bool,
    pub daily_budget_usd: f64,
    pub audit_mode: AuditMode,
    pub source: ConfigOrigin,
    pub server: ServerConfig,
    /// Where each setting came from, by name (`data_dir`, `threshold_percent`, …).
    pub origins: BTreeMap<&'static str, Origin>,
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The OS data directory + `patchgate` (`$XDG_DATA_HOME`, else `~/.local/share`).
fn default_data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(x) = env("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return Path::new(&x).join("patchgate");
    }
    if let Some(home) = env("HOME").filter(|s| !s.is_empty()) {
        return Path::new(&home).join(".local/share/patchgate");
    }
    PathBuf::from(".patchgate")
}

/// Resolve flags, the environment (`env`), the config file and the defaults.
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let mut origins: BTreeMap<&'static str, Origin> = BTreeMap::new();
    let set = |v: Option<String>| v.filter(|s| !s.is_empty());
    let data_dir = if let Some(d) = flags.data_dir.clone() {
        origins.insert("data_dir", Origin::Flag("--data-dir"));
        d
    } else if let Some(d) = set(env("PATCHGATE_DATA_DIR")) {
        origins.insert("data_dir", Origin::Env("PATCHGATE_DATA_DIR"));
        PathBuf::from(d)
    } else {
        origins.insert("data_dir", Origin::Default);
        default_data_dir(env)
    };
    let database_url = if let Some(u) = flags.database_url.clone() {
        origins.insert("database_url", Origin::Flag("--database-url"));
        Some(u)
    } else if let Some(u) = set(env("DATABASE_URL")) {
        origins.insert("database_url", Origin::Env("DATABASE_URL"));
        Some(u)
    } else {
        origins.insert("database_url", Origin::Default);
        None
    };
    let config_path = if let Some(p) = flags.config.clone() {
        origins.insert("config", Origin::Flag("--config"));
        Some(p)
    } else if let Some(p) = set(env("PATCHGATE_CONFIG")) {
        origins.insert("config", Origin::Env("PATCHGATE_CONFIG"));
        Some(PathBuf::from(p))
    } else {
        None
    };
    let (server, source) = match config_path {
        Some(p) => (load_file(&p)?, ConfigOrigin::File(p)),
        None => {
            let p = data_dir.join("patchgate.yml");
            if p.is_file() {
                origins.insert("config", Origin::File(p.clone()));
                (load_file(&p)?, ConfigOrigin::File(p))
            } else {
                origins.insert("config", Origin::Default);
                (
                    ServerConfig::embedded_default(),
                    ConfigOrigin::EmbeddedDefault,
                )
            }
        }
    };
    let file_origin = match &source {
        ConfigOrigin::File(p) => Origin::File(p.clone()),
        ConfigOrigin::EmbeddedDefault => Origin::Default,
    };
    for key in [
        "auditors",
        "quorum.required",
        "prices",
        "rule_guard.severity",
        "builders",
    ] {
        origins.insert(key, file_origin.clone());
    }
    let parse_f64 = |name: &str| -> Result<Option<f64>, ConfigError> {
        match set(env(name)) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .map(Some)
                .ok_or(ConfigError::Env {
                    name: name.to_string(),
                    detail: format!("`{v}` is not a non-negative number"),
                }),
        }
    };
    let (threshold_percent, threshold_explicit) = match flags.threshold_percent {
        Some(t) => {
            origins.insert("threshold_percent", Origin::Flag("--threshold"));
            (t, true)
        }
        None => match parse_f64("PATCHGATE_THRESHOLD_PERCENT")? {
            Some(t) => {
                origins.insert(
                    "threshold_percent",
                    Origin::Env("PATCHGATE_THRESHOLD_PERCENT"),
                );
                (t, true)
            }
            None => {
                origins.insert("threshold_percent", Origin::Default);
                (3.0, false)
            }
        },
    };
    let daily_budget_usd = match parse_f64("PATCHGATE_COST_DAILY_LIMIT_USD")? {
        Some(b) => {
            origins.insert(
                "budget.daily_usd",
                Origin::Env("PATCHGATE_COST_DAILY_LIMIT_USD"),
            );
            b
        }
        None => {
            origins.insert("budget.daily_usd", file_origin);
            server.budget.daily_usd
        }
    };
    let audit_mode = match flags.audit_mode {
        Some(m) => {
            origins.insert("audit_mode", Origin::Flag("--audit-mode"));
            m
        }
        None => match set(env("PATCHGATE_AUDIT_MODE")) {
            None => {
                origins.insert("audit_mode", Origin::Default);
                AuditMode::Normal
            }
            Some(v) => {
                origins.insert("audit_mode", Origin::Env("PATCHGATE_AUDIT_MODE"));
                v.parse().map_err(|detail| ConfigError::Env {
                    name: "PATCHGATE_AUDIT_MODE".into(),
                    detail,
                })?
            }
        },
    };
    Ok(Settings {
        data_dir,
        database_url,
        threshold_percent,
        threshold_explicit,
        daily_budget_usd,
        audit_mode,
        source,
        server,
        origins,
    })
}

/// The effective configuration, one line per setting with where it came from.
pub fn explain(s: &Settings) -> String {
    let origin = |k: &str| {
        s.origins
            .get(k)
            .map(|o| o.to_string())
            .unwrap_or_else(|| "default".into())
    };
    let kind = |k: AuditorKind| {
        serde_json::to_value(k)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let auditors: Vec<String> = s
        .server
        .auditors
        .iter()
        .map(|a| format!("{} ({})", a.name, kind(a.kind)))
        .collect();
    let sev = &s.server.rule_guard.severity;
    let rows: Vec<(&str, String)> = vec![
        ("data_dir", s.data_dir.display().to_string()),
        (
            "database_url",
            s.database_url
                .as_deref()
                .map(redact_url)
                .unwrap_or_else(|| {
                    format!(
                        "(unset: SQLite {})",
                        s.data_dir.join("patchgate.db").display()
                    )
                }),
        ),
        (
            "config",
            match &s.source {
                ConfigOrigin::File(p) => p.display().to_string(),
                ConfigOrigin::EmbeddedDefault => "(embedded default)".into(),
            },
        ),
        ("threshold_percent", s.threshold_percent.to_string()),
        ("budget.daily_usd", s.daily_budget_usd.to_string()),
        ("audit_mode", format!("{:?}", s.audit_mode).to_lowercase()),
        ("quorum.required", s.server.quorum.required.to_string()),
        ("auditors", auditors.join(", ")),
        (
            "prices",
            s.server
                .prices
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "builders",
            if s.server.builders.is_empty() {
                "(none)".to_string()
            } else {
                s.server
                    .builders
                    .iter()
                    .map(|b| format!("{} ({})", b.name, b.kind.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        (
            "rule_guard.severity",
            format!(
                "error: {}, warning: {}, info: {}",
                sev.error, sev.warning, sev.info
            ),
        ),
    ];
    rows.iter()
        .map(|(k, v)| format!("{k:<20} {v:<52} ({})\n", origin(k)))
        .collect()
}

fn load_file(path: &Path) -> Result<ServerConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    ServerConfig::from_yaml(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
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
}
