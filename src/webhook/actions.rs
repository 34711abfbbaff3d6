//! The event payload of a GitHub Actions run (`GITHUB_EVENT_PATH`), as `patchgate check
//! --github-actions` reads it. Lenient, as a step's environment is: a field that is empty or
//! of another type counts as absent, and the caller says which one it needed.

use serde_json::Value;

/// What the Actions edge reads of its event payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionsEvent {
    /// `pull_request`, when the payload has one (an object).
    pub pull_request: Option<ActionsPull>,
    /// A push's `before`.
    pub before: Option<String>,
}

/// A pull request in an Actions event payload; each field `None` when absent or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionsPull {
    /// `pull_request.number`, else the payload's `number`.
    pub number: Option<u64>,
    pub base_sha: Option<String>,
    pub base_ref: Option<String>,
    pub head_sha: Option<String>,
    pub head_ref: Option<String>,
    /// The description, unless blank.
    pub body: Option<String>,
}

fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl ActionsEvent {
    /// Read the payload; only a body that is not JSON is an error.
    pub fn parse(bytes: &[u8]) -> Result<ActionsEvent, serde_json::Error> {
        let payload: Value = serde_json::from_slice(bytes)?;
        let pull_request = match payload.get("pull_request") {
            Some(pr) if pr.is_object() => Some(ActionsPull {
                number: pr
                    .get("number")
                    .and_then(Value::as_u64)
                    .or_else(|| payload.get("number").and_then(Value::as_u64)),
                base_sha: text(pr, "/base/sha"),
                base_ref: text(pr, "/base/ref"),
                head_sha: text(pr, "/head/sha"),
                head_ref: text(pr, "/head/ref"),
                body: pr
                    .get("body")
                    .and_then(Value::as_str)
                    .filter(|b| !b.trim().is_empty())
                    .map(str::to_string),
            }),
            _ => None,
        };
        Ok(ActionsEvent {
            pull_request,
            before: text(&payload, "/before"),
        })
    }
}
