//! The payload of each webhook patchgate handles, as serde types holding only what it reads.
//! A field GitHub always sends and the worker needs is required (its absence is a `400` at
//! intake); a field the worker does without when absent is an `Option` (or an empty list), as
//! it was when payloads were read by JSON pointer.

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;

use super::ids::{CommitSha, PrNumber, RepoName};

/// `null` or absent: the default (GitHub sends `null` for some empty lists).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The App's installation a delivery is for (absent when the App is not installed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstallationRef {
    pub id: u64,
}

/// The repository a delivery is about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    pub full_name: RepoName,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// A GitHub user (a person, or an App's bot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct User {
    #[serde(default)]
    pub login: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl User {
    /// A bot (GitHub Apps, including this one): its comments are never commands.
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot")
            || self.login.as_deref().is_some_and(|l| l.ends_with("[bot]"))
    }
}

/// An App, as named on a check run or suite.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AppRef {
    #[serde(default)]
    pub id: Option<u64>,
}

/// A pull request named on a check run or suite.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRef {
    #[serde(default)]
    pub number: Option<PrNumber>,
}

/// `pull_request` (opened, synchronize, reopened, ready_for_review, closed), and patchgate's
/// own reconciliation jobs, which carry the same fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequestEvent {
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub repository: Repository,
    pub pull_request: PullRequest,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    pub number: PrNumber,
    #[serde(default)]
    pub draft: Option<bool>,
    #[serde(default)]
    pub merged: Option<bool>,
    pub head: Head,
}

impl PullRequest {
    pub fn is_draft(&self) -> bool {
        self.draft == Some(true)
    }

    pub fn is_merged(&self) -> bool {
        self.merged == Some(true)
    }
}

/// A pull request's head commit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Head {
    pub sha: CommitSha,
}

/// `issue_comment` created.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueCommentEvent {
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub repository: Repository,
    pub issue: Issue,
    pub comment: Comment,
    #[serde(default)]
    pub sender: Option<User>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Issue {
    pub number: PrNumber,
    /// Present when the issue is a pull request.
    #[serde(default, deserialize_with = "present")]
    pub pull_request: bool,
}

/// Whether the field is there at all (any value, `null` included).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
}

impl IssueCommentEvent {
    /// The comment's author: the comment's user, else the delivery's sender.
    pub fn author(&self) -> Option<&str> {
        self.comment
            .user
            .as_ref()
            .and_then(|u| u.login.as_deref())
            .or_else(|| self.sender.as_ref().and_then(|s| s.login.as_deref()))
    }
}

/// `check_run` (rerequested, requested_action, completed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRunEvent {
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub repository: Repository,
    pub check_run: CheckRun,
    /// The button pressed (`requested_action` only).
    #[serde(default)]
    pub requested_action: Option<RequestedAction>,
    #[serde(default)]
    pub sender: Option<User>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    pub head_sha: CommitSha,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub app: Option<AppRef>,
    #[serde(default, deserialize_with = "nullable")]
    pub pull_requests: Vec<PullRef>,
    #[serde(default)]
    pub check_suite: Option<SuiteRef>,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
}

/// The suite a check run belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SuiteRef {
    #[serde(default)]
    pub head_branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RequestedAction {
    #[serde(default)]
    pub identifier: Option<String>,
}

/// Whether a check run or suite belongs to another App than `ours`. GitHub sends these events
/// only to the App that owns the run, so this is a second line of defence; a payload without
/// the App's id is taken as ours.
fn foreign(app: Option<&AppRef>, ours: u64) -> bool {
    app.and_then(|a| a.id).is_some_and(|id| id != ours)
}

impl CheckRun {
    /// See [`foreign`].
    pub fn foreign_app(&self, ours: u64) -> bool {
        foreign(self.app.as_ref(), ours)
    }

    /// The first pull request GitHub lists on the run (open pull requests only).
    pub fn first_listed_pr(&self) -> Option<PrNumber> {
        self.pull_requests.first().and_then(|p| p.number)
    }

    /// The branch of the run's suite.
    pub fn head_branch(&self) -> Option<&str> {
        self.check_suite.as_ref()?.head_branch.as_deref()
    }
}

/// `check_suite` rerequested.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckSuiteEvent {
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub repository: Repository,
    pub check_suite: CheckSuite,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckSuite {
    #[serde(default)]
    pub app: Option<AppRef>,
    #[serde(default, deserialize_with = "nullable")]
    pub pull_requests: Vec<PullRef>,
}

impl CheckSuite {
    /// See [`foreign`].
    pub fn foreign_app(&self, ours: u64) -> bool {
        foreign(self.app.as_ref(), ours)
    }
}

/// `merge_group` checks_requested.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MergeGroupEvent {
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub repository: Repository,
    pub merge_group: MergeGroup,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MergeGroup {
    pub head_sha: CommitSha,
    pub head_ref: String,
    #[serde(default)]
    pub base_ref: Option<String>,
}

/// `status`: a commit status. Only a result on a known commit becomes anything; fields GitHub
/// might leave out make it no event at all (see `policy::ci`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatusEvent {
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub repository: Repository,
    pub sha: CommitSha,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub branches: Vec<BranchRef>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BranchRef {
    #[serde(default)]
    pub name: Option<String>,
}
