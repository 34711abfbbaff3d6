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

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use tokio::time::Instant;
use tracing::Instrument as _;

use self::price::{ModelPrice, PriceError, PriceTable};
use self::prompt::{snippet, Prompt};
use self::retry::{parse_retry_after, retryable, RetryPolicy};
use super::budget::Budget;
use super::quorum::Auditor;
use super::rule_guard::{mask_secrets, RuleSet};
use super::spend::Usage;
use super::vote::{AbstainReason, AuditInput, Verdict, Vote};

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

/// Whether a failed call may have been billed, and so what its reservation settles at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Billed {
    /// The server refused or failed before doing the work (429, 5xx, 4xx, no connection).
    No,
    /// Unknown (the answer was lost in transit): settle at the estimate.
    Unknown,
}

enum CallOutcome {
    Answered(ProviderAnswer),
    Failed(String, Billed),
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

    /// One exchange: reserve, call, settle. `Ok((model, text or why it is unreadable))`.
    #[allow(clippy::type_complexity)]
    async fn complete(
        &self,
        r: &Ready,
        prompt: &Prompt,
    ) -> (Result<(String, Result<String, String>), AbstainReason>, f64) {
        let deadline = Instant::now() + r.endpoint.timeout;
        let input_tokens = prompt.estimated_tokens();
        let max_out = u64::from(r.endpoint.max_output_tokens);

        // The main model, else the first fallback whose estimate fits.
        let mut chosen = None;
        for (model, price) in &r.models {
            let estimate = price.cost(input_tokens, max_out);
            // Near the cap the reservation waits for other calls to settle (see
            // [`Budget`]); that wait is part of the vote's deadline.
            let reserved =
                tokio::time::timeout_at(deadline, r.budget.reserve(&self.name, model, estimate))
                    .await;
            match reserved {
                Err(_) => return (Err(AbstainReason::Timeout(r.endpoint.timeout)), 0.0),
                Ok(Ok(Some(ticket))) => {
                    chosen = Some((model.as_str(), *price, estimate, ticket));
                    break;
                }
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => {
                    return (
                        Err(AbstainReason::Unavailable(format!("spend store: {e}"))),
                        0.0,
                    );
                }
            }
        }
        let Some((model, price, estimate, ticket)) = chosen else {
            return (Err(AbstainReason::Budget), 0.0);
        };

        let span = trace::chat_span(r.endpoint.kind, model, r.endpoint.max_output_tokens);
        let outcome = tokio::time::timeout_at(deadline, self.call(r, model, prompt, deadline))
            .instrument(span.clone())
            .await;
        let (reported, error) = match &outcome {
            Err(_) => (None, Some("timeout")),
            Ok(CallOutcome::Failed(..)) => (None, Some("unavailable")),
            Ok(CallOutcome::Answered(a)) => (a.usage, None),
        };
        let (answer, cost) = match outcome {
            Err(_) => (
                Err(AbstainReason::Timeout(r.endpoint.timeout)),
                Usage {
                    usd: estimate,
                    ..Usage::default()
                },
            ),
            Ok(CallOutcome::Failed(why, billed)) => {
                let usd = if billed == Billed::Unknown {
                    estimate
                } else {
                    0.0
                };
                (
                    Err(AbstainReason::Unavailable(self.clean(r, &why))),
                    Usage {
                        usd,
                        ..Usage::default()
                    },
                )
            }
            Ok(CallOutcome::Answered(answer)) => {
                // Usage as reported; a server that reports none is charged the estimate.
                let usage = match answer.usage {
                    Some((i, o)) => Usage {
                        usd: price.cost(i, o),
                        input_tokens: i,
                        output_tokens: o,
                    },
                    None => Usage {
                        usd: estimate,
                        input_tokens,
                        output_tokens: max_out,
                    },
                };
                (Ok((model.to_string(), answer.text)), usage)
            }
        };
        let usd = cost.usd;
        trace::finish(&span, reported, usd, error);
        let id = ticket.id();
        if let Err(e) = r.budget.settle(ticket, cost).await {
            // The reservation stays at its estimate: the budget errs on the side of spend.
            eprintln!(
                "patchgate: auditor {}: could not settle spend reservation {}: {e}",
                self.name, id.0
            );
        }
        (answer, usd)
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

    fn headers(&self, r: &Ready) -> Result<HeaderMap, String> {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let key = r.endpoint.api_key.as_ref();
        match r.endpoint.kind {
            EndpointKind::Openai => {
                if let Some(k) = key {
                    let mut v = HeaderValue::from_str(&format!("Bearer {}", k.expose()))
                        .map_err(|_| "the API key is not a valid header value".to_string())?;
                    v.set_sensitive(true);
                    h.insert("authorization", v);
                }
            }
            EndpointKind::Anthropic => {
                if let Some(k) = key {
                    let mut v = HeaderValue::from_str(k.expose())
                        .map_err(|_| "the API key is not a valid header value".to_string())?;
                    v.set_sensitive(true);
                    h.insert("x-api-key", v);
                }
                h.insert(
                    "anthropic-version",
                    HeaderValue::from_static(anthropic::API_VERSION),
                );
            }
        }
        Ok(h)
    }

    /// One vote's HTTP exchange, with retries. The caller bounds it by the deadline.
    async fn call(
        &self,
        r: &Ready,
        model: &str,
        prompt: &Prompt,
        deadline: Instant,
    ) -> CallOutcome {
        let (url, body) = match r.endpoint.kind {
            EndpointKind::Openai => (
                openai::url(&r.endpoint.base_url),
                openai::body(model, prompt, r.endpoint.max_output_tokens),
            ),
            EndpointKind::Anthropic => (
                anthropic::url(&r.endpoint.base_url),
                anthropic::body(model, prompt, r.endpoint.max_output_tokens),
            ),
        };
        let headers = match self.headers(r) {
            Ok(h) => h,
            Err(e) => return CallOutcome::Failed(e, Billed::No),
        };
        let body = match serde_json::to_vec(&body) {
            Ok(b) => b,
            Err(e) => return CallOutcome::Failed(format!("request: {e}"), Billed::No),
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = r
                .client
                .post(&url)
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await;
            let (why, retry_after) = match sent {
                Err(e) if e.is_connect() => (format!("cannot connect to {url}"), None),
                Err(e) => {
                    let why = format!("request to {url} failed: {}", self.clean(r, &e.to_string()));
                    return CallOutcome::Failed(why, Billed::Unknown);
                }
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                    let bytes = match read_capped(resp).await {
                        Ok(b) => b,
                        Err(e) => {
                            let why = format!("reading the answer: {}", self.clean(r, &e));
                            let billed = if status.is_success() {
                                Billed::Unknown
                            } else {
                                Billed::No
                            };
                            return CallOutcome::Failed(why, billed);
                        }
                    };
                    if status.is_success() {
                        return match serde_json::from_slice::<serde_json::Value>(&bytes) {
                            Ok(v) => CallOutcome::Answered(match r.endpoint.kind {
                                EndpointKind::Openai => openai::parse(&v),
                                EndpointKind::Anthropic => anthropic::parse(&v),
                            }),
                            Err(e) => CallOutcome::Answered(ProviderAnswer {
                                text: Err(format!(
                                    "HTTP {status} answer is not JSON ({e}): {}",
                                    snippet(&String::from_utf8_lossy(&bytes), 60)
                                )),
                                usage: None,
                            }),
                        };
                    }
                    let text = String::from_utf8_lossy(&bytes);
                    let why = format!(
                        "HTTP {} from {url}: {}",
                        status.as_u16(),
                        self.clean(r, &snippet(&text, MAX_ECHO))
                    );
                    if !retryable(status.as_u16()) {
                        return CallOutcome::Failed(why, Billed::No);
                    }
                    (why, retry_after)
                }
            };
            if attempt >= r.retry.max_attempts {
                return CallOutcome::Failed(
                    format!("gave up after {attempt} attempts; last: {why}"),
                    Billed::No,
                );
            }
            let Some(delay) = r.retry.delay(attempt, retry_after) else {
                return CallOutcome::Failed(
                    format!(
                        "{why}; Retry-After is longer than {} s",
                        r.retry.max_retry_after.as_secs()
                    ),
                    Billed::No,
                );
            };
            if Instant::now() + delay >= deadline {
                return CallOutcome::Failed(
                    format!("{why}; the next retry would pass the vote's deadline"),
                    Billed::No,
                );
            }
            tokio::time::sleep(delay).await;
        }
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(format!("answer larger than {} bytes", MAX_BODY));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
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
