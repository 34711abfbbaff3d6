//! The client side of `POST /webhook/meta`: what `patchgate event` uses to report a measurement
//! (coverage, latency, cost…) from a CI script.
//!
//! [`event_from_args`] builds one event from command-line values through the same strict
//! validation the server applies; [`send`] signs a body the Standard Webhooks way (a fresh
//! `msg_<random>` id, the current time) and posts it.
//!
//! What it must never do: put the secret into an error, a log line or the outcome, or send an
//! unsigned request.

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use super::event::{parse_event, EventError, PolicyEvent};
use super::signing::{sign, EventsSecret};

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// The `webhook-id` the request was signed with.
    pub webhook_id: String,
    /// HTTP status code.
    pub status: u16,
    /// `X-Audit-Hash`: the record hash of the merge judged, when one was.
    pub audit_hash: Option<String>,
    /// The answer's body (JSON: accepted, rejected lines, decisions).
    pub body: String,
}

impl SendOutcome {
    /// Whether the server accepted the request (2xx).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A fresh Standard Webhooks message id: `msg_` and 32 random hex digits.
pub fn new_message_id() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("msg_{}", hex::encode(bytes))
}

/// Sign `body` and POST it to `url` (the server's `/webhook/meta`), as one JSON event
/// (`Content-Type: application/json`) or NDJSON lines (`application/x-ndjson`). Any answer is an
/// `Ok` (look at [`SendOutcome::status`]); only a failure to reach the server is an `Err`.
pub async fn send(
    url: &str,
    secret: &EventsSecret,
    body: Vec<u8>,
    ndjson: bool,
) -> anyhow::Result<SendOutcome> {
    let id = new_message_id();
    let now = Utc::now().timestamp();
    let signature = sign(secret, &id, now, &body);
    let content_type = if ndjson {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("patchgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let resp = client
        .post(url)
        .header("content-type", content_type)
        .header("webhook-id", &id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot send the event to {}", redact_url(url)))?;
    let status = resp.status().as_u16();
    let audit_hash = resp
        .headers()
        .get("x-audit-hash")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .text()
        .await
        .context("cannot read the server's answer")?;
    Ok(SendOutcome {
        webhook_id: id,
        status,
        audit_hash,
        body,
    })
}

/// The URL without user information (`https://user:pass@host/…` → `https://host/…`), for
/// error messages.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// One event from command-line values, validated as the server would (`at` defaults to now;
/// `check` is required for metric `ci` and refused for any other).
pub fn event_from_args(
    repo: &str,
    commit: &str,
    metric: &str,
    value: f64,
    at: Option<&str>,
    check: Option<&str>,
) -> Result<PolicyEvent, EventError> {
    let at = match at {
        Some(a) => a.to_string(),
        None => Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    if !value.is_finite() {
        return Err(EventError::NotFinite);
    }
    let mut obj = serde_json::json!({
        "repo": repo,
        "commit": commit,
        "metric": metric,
        "value": value,
        "at": at,
    });
    if let Some(c) = check {
        obj["check"] = c.into();
    }
    parse_event(&obj.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_from_args_are_validated() {
        let e = event_from_args("o/r", "ABCDEF1", "coverage", 81.5, None, None).unwrap();
        assert_eq!(e.commit, "abcdef1");
        assert!((Utc::now() - e.at).num_seconds().abs() < 5);
        let e = event_from_args(
            "o/r",
            "abcdef1",
            "ci",
            1.0,
            Some("2026-01-02T03:04:05Z"),
            Some("build"),
        )
        .unwrap();
        assert_eq!(e.check.as_deref(), Some("build"));
        assert_eq!(
            event_from_args("o/r", "abcdef1", "ci", 1.0, None, None),
            Err(EventError::CiWithoutCheck)
        );
        assert!(matches!(
            event_from_args("o/r", "abcdef1", "cov", 1.0, Some("yesterday"), None),
            Err(EventError::BadTimestamp(_))
        ));
        assert_eq!(
            event_from_args("o/r", "abcdef1", "cov", f64::NAN, None, None),
            Err(EventError::NotFinite)
        );
    }

    #[test]
    fn ids_are_fresh_and_urls_redacted() {
        let a = new_message_id();
        assert!(a.starts_with("msg_") && a.len() == 36);
        assert_ne!(a, new_message_id());
        assert_eq!(
            redact_url("https://u:hunter2@h.example/webhook/meta"),
            "https://h.example/webhook/meta"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
