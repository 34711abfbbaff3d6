//! One exchange with the model: reserve in the budget (main model, else a fallback), call
//! the endpoint with retries within the vote's deadline, settle at the actual cost.

use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::{ModelAuditor, Ready};
use crate::audit::llm::prompt::{snippet, Prompt};
use crate::audit::llm::retry::{parse_retry_after, retryable};
use crate::audit::llm::{
    anthropic, openai, trace, EndpointKind, ProviderAnswer, MAX_BODY, MAX_ECHO,
};
use crate::audit::spend::Usage;
use crate::audit::vote::AbstainReason;

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

impl ModelAuditor {
    /// One exchange: reserve, call, settle. `Ok((model, text or why it is unreadable))`.
    #[allow(clippy::type_complexity)]
    pub(super) async fn complete(
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
