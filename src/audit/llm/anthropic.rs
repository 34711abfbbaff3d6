//! The Anthropic Messages API wire format (`POST {base_url}/v1/messages`, headers
//! `x-api-key` and `anthropic-version: 2023-06-01`). Builds the request body and reads the
//! answer text and token usage.
//!
//! It must never put the API key in a body (the caller sends it in `x-api-key`, marked
//! sensitive) and never guess at an answer it cannot find.

use serde_json::{json, Value};

use super::prompt::Prompt;
use super::ProviderAnswer;

/// The API version sent in `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

/// The endpoint URL for a base URL such as `https://api.anthropic.com` (a trailing `/v1` is
/// accepted too).
pub fn url(base_url: &str) -> String {
    let b = base_url.trim_end_matches('/');
    let b = b.strip_suffix("/v1").unwrap_or(b);
    format!("{b}/v1/messages")
}

/// The request body: the system prompt, one user message, the output limit.
pub fn body(model: &str, prompt: &Prompt, max_output_tokens: u32) -> Value {
    json!({
        "model": model,
        "max_tokens": max_output_tokens,
        "system": prompt.system,
        "messages": [{"role": "user", "content": prompt.user}],
        "temperature": 0,
    })
}

/// The answer text (the `text` blocks of `content`, joined) and usage
/// (`usage.input_tokens`/`output_tokens`).
pub fn parse(v: &Value) -> ProviderAnswer {
    let usage = v.get("usage").and_then(|u| {
        Some((
            u.get("input_tokens")?.as_u64()?,
            u.get("output_tokens")?.as_u64()?,
        ))
    });
    let text = match v.get("content").and_then(Value::as_array) {
        None => Err("no content in the answer".to_string()),
        Some(blocks) => {
            let text: String = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            if text.is_empty() {
                Err("the answer has no text block".to_string())
            } else {
                Ok(text)
            }
        }
    };
    ProviderAnswer { text, usage }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            url("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(url("http://h/v1/"), "http://h/v1/messages");
        let a = parse(&json!({"content":[{"type":"text","text":"{}"}],
                              "usage":{"input_tokens":3,"output_tokens":4}}));
        assert_eq!((a.text.as_deref(), a.usage), (Ok("{}"), Some((3, 4))));
        assert!(parse(&json!({"content":[]})).text.is_err());
    }
}
