//! Model-backed auditors: a reviewer behind an OpenAI-compatible chat-completions endpoint
//! or the Anthropic Messages API, reached over `reqwest`, configured only in the server's
//! own config (never a repository's).
//!
//! One vote: build the prompt within its token budget (secrets masked, see [`prompt`]);
//! reserve its estimated cost in the daily [`Budget`] — the main model, else each configured
//! fallback in order, else abstain `budget` without calling anything (near the cap the
//! reservation waits, within the vote's deadline, until no other call sharing the budget is
//! in flight, so overruns of concurrent auditors never stack); call the endpoint,
//! retrying 429 and 5xx with backoff, jitter and `Retry-After` ([`retry`]), all within one
//! deadline per vote; settle the reservation at the actual cost (answer's token usage ×
//! [`price::PriceTable`]); parse the answer strictly. Anything else is an abstention with its
//! reason: no key (`not configured`), `PATCHGATE_AUDIT_MODE=degraded`, an outage, a timeout,
//! a malformed answer.
//!
//! It must never send a secret to a model (everything is masked before it leaves the
//! process), never put the API key in a log, a vote or a reason (it is a [`Secret`], sent
//! only in a header marked sensitive; error texts are masked and cut to 200 characters),
//! never follow a redirect (the key goes only to the configured address), never call a model
//! without a reservation, and never turn a failure into an approval.

pub mod anthropic;
pub mod judge;
pub mod openai;
pub mod price;
pub mod prompt;
pub mod retry;
mod trace;

mod auditor;
pub use auditor::ModelAuditor;

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use self::price::PriceError;
// The module docs link to it.
#[cfg(doc)]
use super::budget::Budget;

/// Default output limit of one call.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 1024;
/// Default prompt budget (input tokens, estimated as `ceil(chars / 4)`).
pub const DEFAULT_PROMPT_TOKENS: u64 = 12_000;
/// Default deadline of one vote.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How much longer than its own deadline the quorum waits for a model auditor, so that the
/// auditor's own timeout (which settles the reservation) wins.
const SETTLE_GRACE: Duration = Duration::from_millis(500);
/// The largest answer body read.
const MAX_BODY: usize = 4 << 20;
/// The longest piece of a response body quoted in a reason.
const MAX_ECHO: usize = 200;

/// An API key. Its `Debug` and `Display` print `***`; only [`Secret::expose`] shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The key itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which wire format an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// OpenAI-compatible chat completions (OpenAI, Gemini's compatible endpoint, vLLM,
    /// Ollama, llama.cpp server).
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
}

pub use crate::audit::vote::AuditMode;

/// One model auditor in the server config (`auditors:` entries of kind `openai` or
/// `anthropic`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelAuditorConfig {
    pub name: String,
    pub kind: EndpointKind,
    /// `https://api.openai.com/v1`, `https://api.anthropic.com`, `http://127.0.0.1:11434/v1`…
    pub base_url: String,
    pub model: String,
    /// Cheaper models tried in order when the main model's estimate does not fit the budget.
    #[serde(default)]
    pub fallback_models: Vec<String>,
    /// The environment variable holding the API key. Unset or empty variable: the auditor
    /// abstains `not configured`.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// A server that needs no key (a local vLLM/Ollama/llama.cpp). Without it, an auditor
    /// with no `api_key_env` is not configured.
    #[serde(default)]
    pub keyless: bool,
    /// The deadline of one vote, retries included (seconds; default 60).
    #[serde(default)]
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// The prompt's budget in estimated input tokens (default 12 000).
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
}

/// A configuration error, found when the auditor is built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmConfigError {
    #[error("auditor {auditor:?}: {source}")]
    Price { auditor: String, source: PriceError },
    #[error("auditor {auditor:?}: base_url {url:?} is not an http(s) URL")]
    BaseUrl { auditor: String, url: String },
    #[error("auditor {auditor:?}: {what}")]
    Invalid { auditor: String, what: String },
}

/// A resolved endpoint: where to call, which models, with which key.
#[derive(Debug, Clone)]
pub struct ModelEndpoint {
    pub kind: EndpointKind,
    pub base_url: String,
    pub model: String,
    pub fallback_models: Vec<String>,
    /// `None`: not configured (or keyless when `keyless`).
    pub api_key: Option<Secret>,
    pub keyless: bool,
    pub timeout: Duration,
    pub max_output_tokens: u32,
    pub prompt_tokens: u64,
}

impl ModelEndpoint {
    /// A keyed endpoint with the defaults.
    pub fn new(
        kind: EndpointKind,
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: Option<Secret>,
    ) -> Self {
        ModelEndpoint {
            kind,
            base_url: base_url.into(),
            model: model.into(),
            fallback_models: Vec::new(),
            api_key,
            keyless: false,
            timeout: DEFAULT_TIMEOUT,
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            prompt_tokens: DEFAULT_PROMPT_TOKENS,
        }
    }

    /// Resolve a config entry, reading the key from the variable `api_key_env` names through
    /// `env` (pass `|k| std::env::var(k).ok()` in production).
    pub fn from_config(
        cfg: &ModelAuditorConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmConfigError> {
        let invalid = |what: String| LlmConfigError::Invalid {
            auditor: cfg.name.clone(),
            what,
        };
        let timeout = match cfg.timeout_s {
            None => DEFAULT_TIMEOUT,
            Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
            Some(s) => return Err(invalid(format!("timeout_s must be in (0, 3600], not {s}"))),
        };
        let api_key = cfg
            .api_key_env
            .as_deref()
            .and_then(env)
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(Secret);
        Ok(ModelEndpoint {
            kind: cfg.kind,
            base_url: cfg.base_url.clone(),
            model: cfg.model.clone(),
            fallback_models: cfg.fallback_models.clone(),
            api_key,
            keyless: cfg.keyless,
            timeout,
            max_output_tokens: cfg.max_output_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS),
            prompt_tokens: cfg.prompt_tokens.unwrap_or(DEFAULT_PROMPT_TOKENS),
        })
    }

    fn configured(&self) -> bool {
        self.api_key.is_some() || self.keyless
    }
}

/// What a provider's answer held: the text, or why there is none, and the token usage
/// `(input, output)` when the server reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderAnswer {
    pub text: Result<String, String>,
    pub usage: Option<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let e = ModelEndpoint::new(EndpointKind::Openai, "http://x", "m", Some(s));
        assert!(!format!("{e:?}").contains("sk-live"));
    }

    #[test]
    fn config_reads_the_key_from_the_named_variable() {
        let cfg: ModelAuditorConfig = serde_json::from_str(
            r#"{"name":"reviewer-1","kind":"openai","base_url":"https://api.openai.com/v1",
                "model":"o3-mini","fallback_models":["gpt-4o-mini"],"api_key_env":"K","timeout_s":60}"#,
        )
        .unwrap();
        let e =
            ModelEndpoint::from_config(&cfg, &|k| (k == "K").then(|| "sk-1".to_string())).unwrap();
        assert_eq!(e.api_key.as_ref().map(Secret::expose), Some("sk-1"));
        let e = ModelEndpoint::from_config(&cfg, &|_| Some("  ".into())).unwrap();
        assert!(e.api_key.is_none());
        assert!(serde_json::from_str::<ModelAuditorConfig>(
            r#"{"name":"a","kind":"openai","base_url":"u","model":"m","api_key":"sk-inline"}"#
        )
        .is_err());
    }
}
