//! The server's own configuration: which auditors vote, the quorum, the budget, model prices.
//!
//! Precedence: command-line flags > environment variables > the server config file
//! (`--config`, `PATCHGATE_CONFIG`, or `patchgate.yml` in the data directory) > the embedded
//! defaults ([`DEFAULT_SERVER_CONFIG`]). This file is never read from a repository: endpoints,
//! keys and commands live here only, so a pull request cannot make patchgate call an address
//! of its choosing. Unknown keys are refused, and every problem is reported with its path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod builders;
pub mod gate;
mod parse;
mod settings;
#[cfg(test)]
mod tests;

pub use gate::{AgreementSection, EscalationSection, HumanVotesSection, JudgeSection, Permission};
pub use settings::{explain, redact_url, resolve, ConfigOrigin, Flags, Origin, Settings};

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
    /// Where builders run and what is done with a render B they make (`docs/render-b.md`).
    #[serde(default)]
    pub render_b: builders::RenderBServer,
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
