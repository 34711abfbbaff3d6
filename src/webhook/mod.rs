//! GitHub's webhook payloads, parsed once into types: the one place a delivery's JSON is read.
//!
//! [`Kind::of`] says from the `X-GitHub-Event` header and the body's `action` whether patchgate
//! handles a delivery at all; [`parse`] turns the body into an [`Event`] — or `None` for an
//! event patchgate ignores (`ping`, `push`, a `pull_request` that was `labeled`, …), or a
//! [`PayloadError`] saying which field is missing or of the wrong type. A body is read once:
//! one deserialisation of the payload type its event name calls for, which picks up the
//! `action` on the way (`tap`); only a body that pass refuses is read again, the slow way that
//! names the field at fault. Intake answers `400` with that error and the worker matches on
//! the [`Event`]; `policy::ci` and the GitHub Actions edge read the same types. patchgate's own jobs (reconciliation) are parsed here too, by
//! [`parse_job`], under event names GitHub never sends (intake refuses them).
//!
//! What it must never do: echo any part of a body in an error (serde's messages can quote the
//! input; [`PayloadError`] keeps only the field's path and what was expected), or accept an
//! internal event name from a webhook.

mod actions;
mod ids;
mod payload;
mod tap;

use std::fmt;

use serde::Deserialize;

pub use actions::{ActionsEvent, ActionsPull};
pub use ids::{CommitSha, PrNumber, RepoName, COMMIT_SHA_EXPECTED};
pub use payload::{
    AppRef, BranchRef, CheckRun, CheckRunEvent, CheckSuite, CheckSuiteEvent, Comment, Head,
    InstallationRef, Issue, IssueCommentEvent, MergeGroup, MergeGroupEvent, PullRef, PullRequest,
    PullRequestEvent, Repository, RequestedAction, StatusEvent, SuiteRef, User,
};

/// Internal event of reconciliation jobs (one missed pull request each).
pub const RECONCILE_EVENT: &str = "patchgate.reconcile";
/// Internal event of a reconciliation pass (one per `--reconcile-interval` slot, whichever
/// replica queues it first).
pub const RECONCILE_PASS_EVENT: &str = "patchgate.reconcile.pass";

/// A delivery (or an internal job) patchgate acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `pull_request` opened, synchronize, reopened or ready_for_review: gate the head.
    PullRequestUpdated(PullRequestEvent),
    /// `pull_request` closed: a merged one's runs offer the Rollback button.
    PullRequestClosed(PullRequestEvent),
    /// `issue_comment` created: perhaps `/patchgate` commands.
    CommentCreated(IssueCommentEvent),
    /// `check_run` rerequested: *Re-run* on a run.
    CheckRunRerequested(CheckRunEvent),
    /// `check_run` requested_action: a button on a run was pressed.
    CheckRunRequestedAction(CheckRunEvent),
    /// `check_run` completed: a CI result (a policy event on the default branch).
    CheckRunCompleted(CheckRunEvent),
    /// `check_suite` rerequested: *Re-run all*.
    CheckSuiteRerequested(CheckSuiteEvent),
    /// `merge_group` checks_requested: a merge queue asks for the required checks.
    MergeGroupChecksRequested(MergeGroupEvent),
    /// `status`: a commit status (a CI result).
    Status(StatusEvent),
    /// patchgate's own: gate a pull request reconciliation found without a live run.
    Reconcile(PullRequestEvent),
    /// patchgate's own: run one reconciliation pass.
    ReconcilePass,
}

/// What kind of [`Event`] a delivery is, decided from its event name and `action` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PullRequestUpdated,
    PullRequestClosed,
    CommentCreated,
    CheckRunRerequested,
    CheckRunRequestedAction,
    CheckRunCompleted,
    CheckSuiteRerequested,
    MergeGroupChecksRequested,
    Status,
}

impl Kind {
    /// The kind of a GitHub delivery patchgate handles; `None` for everything else — `ping`,
    /// `installation`, `push`, other actions, and patchgate's internal event names.
    pub fn of(event: &str, action: Option<&str>) -> Option<Kind> {
        Some(match (event, action) {
            ("pull_request", Some("opened" | "synchronize" | "reopened" | "ready_for_review")) => {
                Kind::PullRequestUpdated
            }
            ("pull_request", Some("closed")) => Kind::PullRequestClosed,
            ("issue_comment", Some("created")) => Kind::CommentCreated,
            ("check_run", Some("rerequested")) => Kind::CheckRunRerequested,
            ("check_run", Some("requested_action")) => Kind::CheckRunRequestedAction,
            ("check_run", Some("completed")) => Kind::CheckRunCompleted,
            ("check_suite", Some("rerequested")) => Kind::CheckSuiteRerequested,
            // A merge queue asks for the required checks on a merge group's commit;
            // `destroyed` (the group merged, dequeued or invalidated) needs nothing.
            ("merge_group", Some("checks_requested")) => Kind::MergeGroupChecksRequested,
            ("status", _) => Kind::Status,
            _ => return None,
        })
    }
}

/// Why a body is refused. The text names a line and column, or a field's path and what was
/// expected there — never a value from the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON (or cut short).
    #[error("{0}")]
    Json(String),
    /// JSON, but a field patchgate needs is missing or not what it must be.
    #[error("{0}")]
    Field(String),
}

/// The fields every delivery is first read for; the rest is skipped but still syntax-checked,
/// so a truncated body is refused before anything else.
#[derive(Debug, Deserialize)]
struct Envelope {
    action: Option<String>,
    repository: Option<EnvelopeRepository>,
}

#[derive(Debug, Deserialize)]
struct EnvelopeRepository {
    full_name: Option<String>,
}

/// Parse a delivery of GitHub event `event` (the `X-GitHub-Event` header): `Ok(None)` when
/// patchgate does not handle it (checked after the body is known to be JSON), else the event.
///
/// One pass reads the body ([`one_pass`]: the payload type the event name calls for, with the
/// `action` picked up on the way). Only a body that pass does not accept is read again, by
/// [`diagnose`], whose answer — the event, `Ok(None)`, or the refusal and its text — is the
/// reference the one pass agrees with.
pub fn parse(event: &str, body: &[u8]) -> Result<Option<Event>, PayloadError> {
    match one_pass(event, body) {
        Some(parsed) => Ok(parsed),
        None => diagnose(event, body),
    }
}

/// The envelope first (is it JSON, is the event handled, is the repository named), then the
/// typed payload, each read with the path of the value that failed: the slow reading, which
/// names what is wrong with a body. (Public only for `benches/webhook_parse.rs`, which times
/// it against [`parse`]; everything else calls [`parse`].)
#[doc(hidden)]
pub fn diagnose(event: &str, body: &[u8]) -> Result<Option<Event>, PayloadError> {
    let envelope: Envelope = from_slice(body)?;
    let Some(kind) = Kind::of(event, envelope.action.as_deref()) else {
        return Ok(None);
    };
    let named = envelope
        .repository
        .and_then(|r| r.full_name)
        .is_some_and(|n| !n.trim().is_empty());
    if !named {
        return Err(PayloadError::Field("repository.full_name missing".into()));
    }
    typed(kind, body).map(Some)
}

/// A payload read in one pass, before its action said which event it is.
enum Payload {
    PullRequest(PullRequestEvent),
    Comment(IssueCommentEvent),
    CheckRun(CheckRunEvent),
    CheckSuite(CheckSuiteEvent),
    MergeGroup(MergeGroupEvent),
    Status(StatusEvent),
}

/// The one pass: `Some` with [`diagnose`]'s answer, or `None` when this pass cannot tell (a
/// malformed body, or one shaped unlike any GitHub sends — see [`tap`]). Without the path
/// bookkeeping of the slow reading.
fn one_pass(event: &str, body: &[u8]) -> Option<Option<Event>> {
    fn read<'a, T: Deserialize<'a>>(
        body: &'a [u8],
        wrap: fn(T) -> Payload,
    ) -> Option<(Payload, Option<String>)> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let (value, action) = tap::with_action::<T, _>(&mut de).ok()?;
        Some((wrap(value), action.into_value()))
    }
    let (payload, action) = match event {
        "pull_request" => read(body, Payload::PullRequest)?,
        "issue_comment" => read(body, Payload::Comment)?,
        "check_run" => read(body, Payload::CheckRun)?,
        "check_suite" => read(body, Payload::CheckSuite)?,
        "merge_group" => read(body, Payload::MergeGroup)?,
        "status" => read(body, Payload::Status)?,
        // No action of any other event is handled: the envelope alone answers.
        _ => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let envelope = Envelope::deserialize(&mut de).ok()?;
            return match Kind::of(event, envelope.action.as_deref()) {
                None => Some(None),
                Some(_) => None,
            };
        }
    };
    let Some(kind) = Kind::of(event, action.as_deref()) else {
        return Some(None);
    };
    // The repository is named: the payload's `repository.full_name` is a `RepoName`, never
    // blank.
    Some(Some(match (kind, payload) {
        (Kind::PullRequestUpdated, Payload::PullRequest(p)) => Event::PullRequestUpdated(p),
        (Kind::PullRequestClosed, Payload::PullRequest(p)) => Event::PullRequestClosed(p),
        (Kind::CommentCreated, Payload::Comment(c)) => Event::CommentCreated(c),
        (Kind::CheckRunRerequested, Payload::CheckRun(c)) => Event::CheckRunRerequested(c),
        (Kind::CheckRunRequestedAction, Payload::CheckRun(c)) => Event::CheckRunRequestedAction(c),
        (Kind::CheckRunCompleted, Payload::CheckRun(c)) => Event::CheckRunCompleted(c),
        (Kind::CheckSuiteRerequested, Payload::CheckSuite(s)) => Event::CheckSuiteRerequested(s),
        (Kind::MergeGroupChecksRequested, Payload::MergeGroup(m)) => {
            Event::MergeGroupChecksRequested(m)
        }
        (Kind::Status, Payload::Status(s)) => Event::Status(s),
        // A kind read under another event name's payload: the slow reading decides.
        _ => return None,
    }))
}

/// Parse a stored job: a GitHub delivery, or one of patchgate's own jobs. A GitHub event
/// patchgate does not handle is `Ok(None)`.
pub fn parse_job(event: &str, body: &[u8]) -> Result<Option<Event>, PayloadError> {
    match event {
        RECONCILE_EVENT => from_slice::<PullRequestEvent>(body).map(|p| Some(Event::Reconcile(p))),
        RECONCILE_PASS_EVENT => Ok(Some(Event::ReconcilePass)),
        _ => parse(event, body),
    }
}

fn typed(kind: Kind, body: &[u8]) -> Result<Event, PayloadError> {
    Ok(match kind {
        Kind::PullRequestUpdated => Event::PullRequestUpdated(from_slice(body)?),
        Kind::PullRequestClosed => Event::PullRequestClosed(from_slice(body)?),
        Kind::CommentCreated => Event::CommentCreated(from_slice(body)?),
        Kind::CheckRunRerequested => Event::CheckRunRerequested(from_slice(body)?),
        Kind::CheckRunRequestedAction => Event::CheckRunRequestedAction(from_slice(body)?),
        Kind::CheckRunCompleted => Event::CheckRunCompleted(from_slice(body)?),
        Kind::CheckSuiteRerequested => Event::CheckSuiteRerequested(from_slice(body)?),
        Kind::MergeGroupChecksRequested => Event::MergeGroupChecksRequested(from_slice(body)?),
        Kind::Status => Event::Status(from_slice(body)?),
    })
}

/// Deserialize `T`, turning serde's error into a [`PayloadError`] that names the field.
fn from_slice<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, PayloadError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            PayloadError::Field(field_reason(&path, &inner.to_string()))
        } else {
            PayloadError::Json(json_reason(&inner))
        }
    })
}

/// `pull_request.head.sha: missing`, `pull_request.number: expected u64`, … from serde's
/// message for the value at `path`. Only what serde says it *expected* (which comes from the
/// types here) is kept; what it found (which comes from the body) is dropped.
fn field_reason(path: &str, message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let at = |field: &str| match path {
        "" | "." => field.to_string(),
        p => format!("{p}.{field}"),
    };
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return format!("{} missing", at(field));
    }
    let path = if path.is_empty() { "." } else { path };
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, e)| e)
        .filter(|_| message.starts_with("invalid type: ") || message.starts_with("invalid value: "))
        .filter(|e| !e.contains('"') && !e.contains('`'));
    match expected {
        Some(e) if message.starts_with("invalid type: ") => {
            format!("{path}: wrong type, expected {e}")
        }
        Some(e) => format!("{path}: invalid value, expected {e}"),
        None => format!("{path}: invalid value"),
    }
}

/// `malformed JSON at line 1 column 17: expected value` — one line, no input echoed.
///
/// serde_json's own text quotes the input for type and value errors (`invalid type: string
/// "…", expected struct Repository`, `unknown variant `…``), so only what the error's
/// category allows is kept: syntax errors (which name the token expected, never the input),
/// the end of the input, and for a wrong type or value only what was *expected* (it comes from
/// the type definition, not the body).
pub fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let full = e.to_string();
    let what = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => full.as_str(),
    };
    let what = what.lines().next().unwrap_or("invalid JSON");
    let what = match e.classify() {
        Category::Syntax => what.to_string(),
        Category::Eof => "the document ends early".to_string(),
        Category::Io => "the body could not be read".to_string(),
        Category::Data => match what.rsplit_once(", expected ") {
            // The expectation is a type's description: no quotes, so nothing of the input.
            Some((_, expected)) if !expected.contains(['"', '`', '\'']) => {
                format!("a value has the wrong type or is not allowed here (expected {expected})")
            }
            _ => "a value has the wrong type or is not allowed here".to_string(),
        },
    };
    format!(
        "malformed JSON at line {} column {}: {what}",
        e.line(),
        e.column()
    )
}

impl Event {
    /// The installation and repository the event is about (`None` for a reconciliation pass).
    pub fn target(&self) -> Option<(Option<&InstallationRef>, &Repository)> {
        let (inst, repo) = match self {
            Event::PullRequestUpdated(p) | Event::PullRequestClosed(p) | Event::Reconcile(p) => {
                (&p.installation, &p.repository)
            }
            Event::CommentCreated(c) => (&c.installation, &c.repository),
            Event::CheckRunRerequested(c)
            | Event::CheckRunRequestedAction(c)
            | Event::CheckRunCompleted(c) => (&c.installation, &c.repository),
            Event::CheckSuiteRerequested(s) => (&s.installation, &s.repository),
            Event::MergeGroupChecksRequested(m) => (&m.installation, &m.repository),
            Event::Status(s) => (&s.installation, &s.repository),
            Event::ReconcilePass => return None,
        };
        Some((inst.as_ref(), repo))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests;
