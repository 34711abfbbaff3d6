//! A failed GitHub call, [`GitHubError`]: what was attempted, the status, GitHub's message and
//! whether retrying may help — never a token.

use super::text::truncate_chars;

/// A failed GitHub call: what was attempted, the HTTP status GitHub answered with (`None` when
/// no answer came: connection, timeout, or an answer that could not be read), and GitHub's
/// message. Never carries a token. Find it in an `anyhow::Error` with [`GitHubError::of`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("GitHub: {action}: {}{message}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
pub struct GitHubError {
    pub action: String,
    pub status: Option<u16>,
    pub message: String,
    transient: bool,
}

impl GitHubError {
    /// The `GitHubError` in an error's chain, if any.
    pub fn of(err: &anyhow::Error) -> Option<&GitHubError> {
        err.chain().find_map(|e| e.downcast_ref::<GitHubError>())
    }

    /// Whether trying again later may succeed: no answer, a 5xx, or a rate limit.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}

/// Whether `err` is a GitHub failure worth retrying (see [`GitHubError::is_transient`]).
pub fn is_transient(err: &anyhow::Error) -> bool {
    GitHubError::of(err).is_some_and(GitHubError::is_transient)
}

/// A failure before it is given its action.
pub(super) struct Failure {
    pub(super) status: Option<u16>,
    pub(super) message: String,
    pub(super) transient: bool,
}

impl Failure {
    pub(super) fn from_octocrab(err: octocrab::Error) -> Failure {
        match err {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                let mut message = source.message.clone();
                if let Some(errors) = source.errors.as_ref().filter(|e| !e.is_empty()) {
                    let detail = serde_json::to_string(errors).unwrap_or_default();
                    message = format!("{message} {}", truncate_chars(&detail, 500));
                }
                let rate_limited = status == 429
                    || (status == 403 && message.to_ascii_lowercase().contains("rate limit"));
                Failure {
                    status: Some(status),
                    message,
                    transient: status >= 500 || status == 408 || rate_limited,
                }
            }
            other => {
                let transient = matches!(
                    other,
                    octocrab::Error::Service { .. } | octocrab::Error::Hyper { .. }
                );
                let mut message = other.to_string();
                let mut source = std::error::Error::source(&other);
                while let Some(s) = source {
                    message = format!("{message}: {s}");
                    source = s.source();
                }
                Failure {
                    status: None,
                    message,
                    transient,
                }
            }
        }
    }

    /// A failure retrying cannot mend (an answer we cannot read).
    pub(super) fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            status: None,
            message: message.into(),
            transient: false,
        }
    }

    pub(super) fn decode(err: serde_json::Error) -> Failure {
        Failure::permanent(format!("unexpected response from GitHub: {err}"))
    }

    pub(super) fn into_error(self, action: String, secret: Option<&str>) -> anyhow::Error {
        let message = match secret {
            Some(s) if !s.is_empty() => self.message.replace(s, "***"),
            _ => self.message,
        };
        anyhow::Error::new(GitHubError {
            action,
            status: self.status,
            message,
            transient: self.transient,
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_error_display_and_lookup() {
        let e = Failure {
            status: Some(422),
            message: "Validation Failed".into(),
            transient: false,
        }
        .into_error("create check run on o/r".into(), None)
        .context("job 7");
        let g = GitHubError::of(&e).unwrap();
        assert_eq!(g.status, Some(422));
        assert!(!is_transient(&e));
        assert_eq!(
            format!("{e:#}"),
            "job 7: GitHub: create check run on o/r: HTTP 422: Validation Failed"
        );
        let e = Failure {
            status: None,
            message: "token ghs_x leaked".into(),
            transient: true,
        }
        .into_error("x".into(), Some("ghs_x"));
        assert!(is_transient(&e) && !format!("{e:#}").contains("ghs_x"));
    }
}
