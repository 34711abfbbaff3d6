//! The model auditor: its state (not configured, off in degraded mode, ready), building it
//! from an endpoint, and turning an answer into a vote. The exchange itself is in
//! [`exchange`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::price::{ModelPrice, PriceTable};
use super::prompt::{self, Prompt};
use super::retry::RetryPolicy;
use super::{AuditMode, LlmConfigError, ModelAuditorConfig, ModelEndpoint, MAX_ECHO, SETTLE_GRACE};
use crate::audit::budget::Budget;
use crate::audit::quorum::Auditor;
use crate::audit::rule_guard::{mask_secrets, RuleSet};
use crate::audit::vote::{AbstainReason, AuditInput, Verdict, Vote};

mod exchange;

/// A model auditor.
pub struct ModelAuditor {
    name: String,
    state: State,
}

enum State {
    /// Named in the config but with no endpoint or no key.
    NotConfigured,
    /// Named but with no key, in degraded mode: off like every model auditor there.
    Off,
    Ready(Box<Ready>),
}

struct Ready {
    endpoint: ModelEndpoint,
    /// The main model then the fallbacks, each with its price.
    models: Vec<(String, ModelPrice)>,
    budget: Budget,
    ruleset: Arc<RuleSet>,
    mode: AuditMode,
    retry: RetryPolicy,
    client: reqwest::Client,
}

impl fmt::Debug for ModelAuditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ModelAuditor");
        d.field("name", &self.name);
        match &self.state {
            State::NotConfigured => d.field("state", &"not configured"),
            State::Off => d.field("state", &"off (degraded mode)"),
            State::Ready(r) => d.field("endpoint", &r.endpoint).field("mode", &r.mode),
        };
        d.finish()
    }
}

/// Why a model auditor does not vote in degraded mode.
fn degraded_mode() -> AbstainReason {
    AbstainReason::Skipped(
        "degraded mode, model auditors are off (--audit-mode degraded or PATCHGATE_AUDIT_MODE=degraded)"
            .to_string(),
    )
}

impl ModelAuditor {
    /// An auditor that is named but not configured: every vote is `abstain: not configured`.
    pub fn not_configured(name: impl Into<String>) -> Self {
        ModelAuditor {
            name: name.into(),
            state: State::NotConfigured,
        }
    }

    /// An auditor over `endpoint`. Every model it may call (main and fallbacks) must have a
    /// price in `prices`. Without a key (and not `keyless`) it is
    /// [`not_configured`](Self::not_configured), without touching anything else.
    pub fn new(
        name: impl Into<String>,
        endpoint: ModelEndpoint,
        prices: &PriceTable,
        budget: Budget,
        ruleset: Arc<RuleSet>,
    ) -> Result<Self, LlmConfigError> {
        let name = name.into();
        let invalid = |what: &str| LlmConfigError::Invalid {
            auditor: name.clone(),
            what: what.to_string(),
        };
        let url_ok = reqwest::Url::parse(&endpoint.base_url)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false);
        if !url_ok {
            return Err(LlmConfigError::BaseUrl {
                auditor: name,
                url: endpoint.base_url.clone(),
            });
        }
        if endpoint.model.trim().is_empty() {
            return Err(invalid("model is empty"));
        }
        if endpoint.max_output_tokens == 0 {
            return Err(invalid("max_output_tokens must be at least 1"));
        }
        if endpoint.prompt_tokens < 1000 {
            return Err(invalid("prompt_tokens must be at least 1000"));
        }
        let mut models = Vec::new();
        for m in std::iter::once(&endpoint.model).chain(&endpoint.fallback_models) {
            let price = prices.get(m).map_err(|source| LlmConfigError::Price {
                auditor: name.clone(),
                source,
            })?;
            models.push((m.clone(), price));
        }
        if !endpoint.configured() {
            return Ok(Self::not_configured(name));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10).min(endpoint.timeout))
            .build()
            .map_err(|e| invalid(&format!("HTTP client: {e}")))?;
        Ok(ModelAuditor {
            name,
            state: State::Ready(Box::new(Ready {
                endpoint,
                models,
                budget,
                ruleset,
                mode: AuditMode::Normal,
                retry: RetryPolicy::default(),
                client,
            })),
        })
    }

    /// Build from a config entry, reading the key through `env`.
    pub fn from_config(
        cfg: &ModelAuditorConfig,
        env: &dyn Fn(&str) -> Option<String>,
        prices: &PriceTable,
        budget: Budget,
        ruleset: Arc<RuleSet>,
    ) -> Result<Self, LlmConfigError> {
        let endpoint = ModelEndpoint::from_config(cfg, env)?;
        Self::new(cfg.name.clone(), endpoint, prices, budget, ruleset)
    }

    /// Set the audit mode (`PATCHGATE_AUDIT_MODE`).
    /// In degraded mode every model auditor abstains "not asked: degraded mode", with a key
    /// or without one (never "not configured": that is not why it did not vote).
    pub fn with_mode(mut self, mode: AuditMode) -> Self {
        match &mut self.state {
            State::Ready(r) => r.mode = mode,
            State::NotConfigured if mode == AuditMode::Degraded => self.state = State::Off,
            State::NotConfigured | State::Off => {}
        }
        self
    }

    /// Set the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        if let State::Ready(r) = &mut self.state {
            r.retry = RetryPolicy {
                max_attempts: retry.max_attempts.max(1),
                ..retry
            };
        }
        self
    }

    /// Whether the auditor has an endpoint and a key.
    pub fn is_configured(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    /// One vote on `input`, its Rule-Guard findings in the prompt (see the module docs).
    pub async fn vote(&self, input: &AuditInput) -> Vote {
        let r = match self.ready() {
            Ok(r) => r,
            Err(reason) => return Vote::abstain(&self.name, reason),
        };
        let prompt = prompt::build(input, &r.ruleset, r.endpoint.prompt_tokens);
        let (answer, cost) = self.complete(r, &prompt).await;
        let mut vote = match answer {
            Err(reason) => Vote::abstain(&self.name, reason),
            Ok((model, text)) => self.vote_from(r, &model, text),
        };
        vote.cost_usd = cost;
        vote
    }

    /// Send `prompt` and return the answer's text and its cost in USD, under the same rules as
    /// a vote (reservation in the daily budget, fallbacks, retries, one deadline, settlement);
    /// anything else is the reason it could not be asked. Used by the explanation judge.
    pub async fn ask(&self, prompt: &Prompt) -> (Result<String, AbstainReason>, f64) {
        let r = match self.ready() {
            Ok(r) => r,
            Err(reason) => return (Err(reason), 0.0),
        };
        let (answer, cost) = self.complete(r, prompt).await;
        let answer = match answer {
            Err(reason) => Err(reason),
            Ok((_, Ok(text))) => Ok(text),
            Ok((_, Err(why))) => Err(AbstainReason::Malformed(self.clean(r, &why))),
        };
        (answer, cost)
    }

    /// The prompt budget in estimated tokens (`None` when not configured).
    pub fn prompt_tokens(&self) -> Option<u64> {
        match &self.state {
            State::Ready(r) => Some(r.endpoint.prompt_tokens),
            State::NotConfigured | State::Off => None,
        }
    }

    /// The endpoint, unless the auditor cannot be asked (no key, degraded mode).
    fn ready(&self) -> Result<&Ready, AbstainReason> {
        match &self.state {
            State::NotConfigured => Err(AbstainReason::NotConfigured),
            State::Off => Err(degraded_mode()),
            State::Ready(r) if r.mode == AuditMode::Degraded => Err(degraded_mode()),
            State::Ready(r) => Ok(r),
        }
    }

    fn vote_from(&self, r: &Ready, model: &str, text: Result<String, String>) -> Vote {
        let text = match text {
            Ok(t) => t,
            Err(why) => {
                return Vote::abstain(&self.name, AbstainReason::Malformed(self.clean(r, &why)))
            }
        };
        match prompt::parse_answer(&text) {
            Err(why) => Vote::abstain(&self.name, AbstainReason::Malformed(self.clean(r, &why))),
            Ok(a) => {
                let reason = a.reason.trim().to_string();
                let reason = match a.verdict {
                    Verdict::Abstain => Some(format!("model abstained: {reason}")),
                    _ if reason.is_empty() => None,
                    _ => Some(reason),
                };
                let mut v = Vote::new(&self.name, a.verdict);
                v.reason = reason.map(|s| self.clean(r, &s));
                v.findings = a.findings;
                v.explanation = if a.explanation.trim().is_empty() {
                    format!("({model} gave no explanation)")
                } else {
                    a.explanation
                };
                v
            }
        }
    }

    /// A text for a reason: secrets masked, the key removed, at most ~200 characters.
    fn clean(&self, r: &Ready, text: &str) -> String {
        let mut t = mask_secrets(text, &r.ruleset);
        if let Some(k) = &r.endpoint.api_key {
            if !k.expose().is_empty() {
                t = t.replace(k.expose(), "***");
            }
        }
        if t.chars().count() > MAX_ECHO {
            t = t.chars().take(MAX_ECHO).collect::<String>() + "…";
        }
        t
    }
}

impl Auditor for ModelAuditor {
    fn name(&self) -> &str {
        &self.name
    }

    fn timeout(&self) -> Duration {
        match &self.state {
            State::NotConfigured | State::Off => Duration::from_secs(1),
            State::Ready(r) => r.endpoint.timeout + SETTLE_GRACE,
        }
    }

    fn review<'a>(
        &'a self,
        input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
        Box::pin(self.vote(input))
    }
}
