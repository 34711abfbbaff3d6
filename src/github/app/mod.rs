//! The GitHub App's identity and every REST call patchgate makes, through octocrab.
//!
//! [`GitHubApp`] signs JWTs with the App's key and mints installation tokens; [`Installation`]
//! makes the calls a job needs (pull requests, check runs, comments, permissions, files) with
//! that installation's token. Tokens are cached per installation until five minutes before
//! they expire, and concurrent callers of one installation share a single token request.
//!
//! Responses are decoded into small types of our own ([`PullInfo`], [`CheckRunInfo`], …) that
//! hold only what patchgate uses, not octocrab's models, so a field GitHub adds or drops
//! elsewhere cannot break a job. Failures are [`GitHubError`]s inside `anyhow`: the operation,
//! the repository and the HTTP status, and whether retrying may help.
//!
//! What this module must never do: put a token, a JWT or the private key into an error, a log
//! line or a `Debug` string (octocrab's own `Debug` prints tokens, so no `Octocrab` is ever
//! formatted here), or send a token to a host other than the configured API base.
//!
//! The rooms: [`auth`] (the App's credentials, JWT-signed calls and the installation-token
//! cache), [`http`] (one request through octocrab, pagination, routes), [`checks`] (check runs),
//! [`pulls`] (pull requests, comments, reactions, labels), [`repos`] (an installation's
//! repositories, permissions and files), [`hooks`] (the App's webhook deliveries), with
//! [`error`] ([`GitHubError`]) and [`text`] (GitHub's text limits) beside them. A repository's
//! name is [`RepoName`], `crate::webhook::RepoName`.

mod auth;
mod checks;
mod error;
mod hooks;
mod http;
mod pulls;
mod repos;
mod text;

/// A repository's `owner/name`: the one type, parsed where a webhook is read.
pub use crate::webhook::RepoName;
pub use auth::{AppCredentials, GitHubApp, Installation};
pub use checks::{
    Annotation, AnnotationLevel, CheckAction, CheckRunInfo, CheckRunOutputInfo, CheckRunResult,
    Conclusion, NewCheckRun,
};
pub use error::{is_transient, GitHubError};
pub use hooks::HookDelivery;
pub use pulls::PullInfo;
pub use repos::Permission;
pub use text::truncate_text;
