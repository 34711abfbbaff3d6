//! The OpenAI-compatible chat-completions wire format (`POST {base_url}/chat/completions`):
//! OpenAI itself (o-series included), Gemini's OpenAI-compatible endpoint, vLLM, Ollama and
//! llama.cpp servers. Builds the request body and reads the answer text and token usage.
//!
//! It must never put the API key in a body (it goes in the `Authorization` header, marked
//! sensitive, by the caller) and never guess at an answer it cannot find.

use serde_json::{json, Value};

use super::prompt::Prompt;
use super::ProviderAnswer;

/// The endpoint URL for a base URL such as `https://api.openai.com/v1`.
pub fn url(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

/// Whether a model takes `max_completion_tokens` and no `temperature` (OpenAI's reasoning
/// models: o1, o3, o4-mini, gpt-5…). Other servers get the classic `max_tokens`.
fn reasoning_model(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    let mut c = m.chars();
    (c.next() == Some('o') && c.next().is_some_and(|d| d.is_ascii_digit()))
        || m.starts_with("gpt-5")
}

/// The request body: system and user messages, JSON mode, the output limit.
pub fn body(model: &str, prompt: &Prompt, max_output_tokens: u32) -> Value {
    let mut b = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        "response_format": {"type": "json_object"},
        "stream": false,
    });
    if reasoning_model(model) {
        b["max_completion_tokens"] = json!(max_output_tokens);
    } else {
        b["max_tokens"] = json!(max_output_tokens);
        b["temperature"] = json!(0);
    }
    b
}

/// The answer text (`choices[0].message.content`) and usage
/// (`usage.prompt_tokens`/`completion_tokens`, `None` when the server sent none).
pub fn parse(v: &Value) -> ProviderAnswer {
    let usage = v.get("usage").and_then(|u| {
        Some((
            u.get("prompt_tokens")?.as_u64()?,
            u.get("completion_tokens")?.as_u64()?,
        ))
    });
    let text = match v.pointer("/choices/0/message") {
        None => Err("no choices[0].message in the answer".to_string()),
        Some(message) => match message.get("content") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ if message.get("refusal").is_some_and(|r| !r.is_null()) => {
                Err("the model refused".to_string())
            }
            _ => Err("choices[0].message.content is not text".to_string()),
        },
    };
    ProviderAnswer { text, usage }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shapes() {
        let p = Prompt {
            system: "s".into(),
            user: "u".into(),
        };
        let b = body("gpt-4o-mini", &p, 100);
        assert_eq!(b["max_tokens"], 100);
        assert_eq!(b["response_format"]["type"], "json_object");
        let b = body("o3-mini", &p, 100);
        assert_eq!(b["max_completion_tokens"], 100);
        assert!(b.get("temperature").is_none());
        assert_eq!(url("http://x/v1/"), "http://x/v1/chat/completions");
    }

    #[test]
    fn parses_content_and_usage() {
        let v = json!({"choices":[{"message":{"role":"assistant","content":"{}"}}],
                       "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}});
        let a = parse(&v);
        assert_eq!(a.text.as_deref(), Ok("{}"));
        assert_eq!(a.usage, Some((10, 5)));
        assert!(parse(&json!({"choices":[]})).text.is_err());
    }
}
