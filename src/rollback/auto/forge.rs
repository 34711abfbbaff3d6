//! Where a rollback is reported: a [`Forge`] (GitHub through the App's installation, or the
//! [`LocalForge`] of the command line and the tests, which keeps what it was told in memory and
//! optionally in a JSON-lines file).
//!
//! What it is for: the orchestrator comments on the reverted pull request, opens revert pull
//! requests and reads a merge's pull request (number, title, labels) through this trait alone,
//! so the same flow runs with GitHub or with no GitHub at all.
//!
//! What it must never do: put a token in a comment, a log line or an error (the GitHub
//! implementation asks the installation for nothing but API calls), or invent a pull request
//! (a merge whose message names none has `None`).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;

use crate::github::app::{Installation, RepoName};
use crate::util::BoxFuture;

/// A pull request, as the orchestrator needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrInfo {
    /// The number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// The head commit, when known (the decision record is attached to it).
    pub head_sha: Option<String>,
    /// The merge (or squash) commit on the base branch, when merged and known.
    pub merge_sha: Option<String>,
}

/// A revert pull request to open (action `pull-request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertPr {
    /// `Revert "<title>"`.
    pub title: String,
    /// The branch holding the revert (`patchgate/revert-<short sha>`).
    pub head: String,
    /// The default branch.
    pub base: String,
    /// The revert commit's message and the reason.
    pub body: String,
    /// Labels to put on it.
    pub labels: Vec<String>,
}

/// The pull-request side of a forge. Every call may fail; the orchestrator retries later
/// (`resume_pending`) and never repeats a step it recorded as done.
pub trait Forge: Send + Sync {
    /// Comment on issue or pull request `issue`; returns the comment's id.
    fn comment<'a>(
        &'a self,
        repo: &'a str,
        issue: u64,
        body: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<u64>>;
    /// Open a revert pull request (labelled); returns its number.
    fn open_revert_pr<'a>(
        &'a self,
        repo: &'a str,
        pr: &'a RevertPr,
    ) -> BoxFuture<'a, anyhow::Result<u64>>;
    /// Add labels to issue or pull request `issue`.
    fn add_labels<'a>(
        &'a self,
        repo: &'a str,
        issue: u64,
        labels: &'a [String],
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// The pull request merged as `merge_sha` (whose commit message is `message`), if any.
    fn pr_for_merge<'a>(
        &'a self,
        repo: &'a str,
        merge_sha: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<PrInfo>>>;
    /// Pull request `number`, if the forge knows it (a local forge knows none: the merge is
    /// then found in the history by its message).
    fn pull<'a>(
        &'a self,
        repo: &'a str,
        number: u64,
    ) -> BoxFuture<'a, anyhow::Result<Option<PrInfo>>>;
}

/// The pull request a merge's message names: GitHub's `Merge pull request #N from …`, or a
/// squash title ending in ` (#N)`.
pub fn pr_number_in(message: &str) -> Option<u64> {
    let summary = message.lines().next().unwrap_or("").trim_end();
    if let Some(rest) = summary.strip_prefix("Merge pull request #") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return digits.parse().ok();
    }
    let inner = summary.strip_suffix(')')?;
    let (_, n) = inner.rsplit_once(" (#")?;
    n.parse().ok()
}

/// The title a merge's message gives its pull request: the first body line of a merge commit
/// (`Merge pull request #N from …\n\n<title>`), or a squash summary without ` (#N)`.
pub fn pr_title_in(message: &str) -> String {
    let mut lines = message.lines();
    let summary = lines.next().unwrap_or("").trim_end();
    if summary.starts_with("Merge pull request #") {
        if let Some(t) = lines.map(str::trim).find(|l| !l.is_empty()) {
            return t.to_string();
        }
        return summary.to_string();
    }
    match summary.rsplit_once(" (#") {
        Some((t, _)) if summary.ends_with(')') => t.to_string(),
        _ => summary.to_string(),
    }
}

/// What a [`LocalForge`] was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LocalAction {
    /// A comment.
    Comment {
        repo: String,
        issue: u64,
        body: String,
    },
    /// A revert pull request.
    RevertPr {
        repo: String,
        number: u64,
        title: String,
        head: String,
        base: String,
        labels: Vec<String>,
    },
    /// Labels added.
    Labels {
        repo: String,
        issue: u64,
        labels: Vec<String>,
    },
}

/// A forge without GitHub: pull requests are read from merge messages, labels come from
/// [`LocalForge::set_labels`], and comments and revert pull requests are kept in memory (and
/// appended to a JSON-lines file when one is given), numbered from 1.
#[derive(Debug, Default)]
pub struct LocalForge {
    labels: Mutex<HashMap<u64, Vec<String>>>,
    actions: Mutex<Vec<LocalAction>>,
    log: Option<PathBuf>,
}

impl LocalForge {
    /// An empty local forge.
    pub fn new() -> LocalForge {
        LocalForge::default()
    }

    /// One that also appends every action to `path` as a JSON line.
    pub fn with_log(path: impl Into<PathBuf>) -> LocalForge {
        LocalForge {
            log: Some(path.into()),
            ..LocalForge::default()
        }
    }

    /// Labels of pull request `number`.
    pub fn set_labels(&self, number: u64, labels: &[&str]) {
        if let Ok(mut m) = self.labels.lock() {
            m.insert(number, labels.iter().map(|s| s.to_string()).collect());
        }
    }

    /// Everything done so far, in order.
    pub fn actions(&self) -> Vec<LocalAction> {
        self.actions.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// The comments posted so far: `(issue, body)`.
    pub fn comments(&self) -> Vec<(u64, String)> {
        self.actions()
            .into_iter()
            .filter_map(|a| match a {
                LocalAction::Comment { issue, body, .. } => Some((issue, body)),
                _ => None,
            })
            .collect()
    }

    fn record(&self, action: LocalAction) -> anyhow::Result<u64> {
        if let Some(path) = &self.log {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            let line = serde_json::to_string(&action)?;
            writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))?;
            f.sync_all().ok();
        }
        let mut a = self
            .actions
            .lock()
            .map_err(|_| anyhow::anyhow!("local forge poisoned"))?;
        a.push(action);
        Ok(a.len() as u64)
    }

    fn labels_of(&self, number: u64) -> Vec<String> {
        self.labels
            .lock()
            .ok()
            .and_then(|m| m.get(&number).cloned())
            .unwrap_or_default()
    }
}

impl Forge for LocalForge {
    fn comment<'a>(
        &'a self,
        repo: &'a str,
        issue: u64,
        body: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        Box::pin(async move {
            self.record(LocalAction::Comment {
                repo: repo.to_string(),
                issue,
                body: body.to_string(),
            })
        })
    }

    fn open_revert_pr<'a>(
        &'a self,
        repo: &'a str,
        pr: &'a RevertPr,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        Box::pin(async move {
            let number = 10_000 + self.actions().len() as u64 + 1;
            self.record(LocalAction::RevertPr {
                repo: repo.to_string(),
                number,
                title: pr.title.clone(),
                head: pr.head.clone(),
                base: pr.base.clone(),
                labels: pr.labels.clone(),
            })?;
            Ok(number)
        })
    }

    fn add_labels<'a>(
        &'a self,
        repo: &'a str,
        issue: u64,
        labels: &'a [String],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.record(LocalAction::Labels {
                repo: repo.to_string(),
                issue,
                labels: labels.to_vec(),
            })
            .map(drop)
        })
    }

    fn pr_for_merge<'a>(
        &'a self,
        _repo: &'a str,
        merge_sha: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<PrInfo>>> {
        Box::pin(async move {
            Ok(pr_number_in(message).map(|number| PrInfo {
                number,
                title: pr_title_in(message),
                labels: self.labels_of(number),
                head_sha: None,
                merge_sha: Some(merge_sha.to_string()),
            }))
        })
    }

    fn pull<'a>(
        &'a self,
        _repo: &'a str,
        _number: u64,
    ) -> BoxFuture<'a, anyhow::Result<Option<PrInfo>>> {
        Box::pin(async { Ok(None) })
    }
}

/// GitHub, as one App installation.
#[derive(Debug, Clone)]
pub struct GitHubForge {
    installation: Installation,
}

impl GitHubForge {
    /// A forge acting as `installation`.
    pub fn new(installation: Installation) -> GitHubForge {
        GitHubForge { installation }
    }
}

impl Forge for GitHubForge {
    fn comment<'a>(
        &'a self,
        repo: &'a str,
        issue: u64,
        body: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        Box::pin(async move {
            let r = RepoName::parse(repo)?;
            self.installation.comment(&r, issue, body).await
        })
    }

    fn open_revert_pr<'a>(
        &'a self,
        repo: &'a str,
        pr: &'a RevertPr,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        Box::pin(async move {
            let r = RepoName::parse(repo)?;
            let n = self
                .installation
                .create_pull(&r, &pr.title, &pr.head, &pr.base, &pr.body)
                .await?;
            if !pr.labels.is_empty() {
                self.installation.add_labels(&r, n, &pr.labels).await?;
            }
            Ok(n)
        })
    }

    fn add_labels<'a>(
        &'a self,
        repo: &'a str,
        issue: u64,
        labels: &'a [String],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let r = RepoName::parse(repo)?;
            self.installation.add_labels(&r, issue, labels).await
        })
    }

    fn pr_for_merge<'a>(
        &'a self,
        repo: &'a str,
        merge_sha: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<PrInfo>>> {
        Box::pin(async move {
            let Some(n) = pr_number_in(message) else {
                return Ok(None);
            };
            let Some(pr) = self.pull(repo, n).await? else {
                return Ok(None);
            };
            // A message can name any number: believe it only when GitHub agrees.
            match &pr.merge_sha {
                Some(m) if m.eq_ignore_ascii_case(merge_sha) => Ok(Some(pr)),
                _ => Ok(None),
            }
        })
    }

    fn pull<'a>(
        &'a self,
        repo: &'a str,
        number: u64,
    ) -> BoxFuture<'a, anyhow::Result<Option<PrInfo>>> {
        Box::pin(async move {
            let r = RepoName::parse(repo)?;
            let p = self.installation.pull(&r, number).await?;
            Ok(Some(PrInfo {
                number: p.number,
                title: p.title,
                labels: p.labels,
                head_sha: Some(p.head_sha),
                merge_sha: if p.merged { p.merge_commit_sha } else { None },
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_numbers_and_titles_from_merge_messages() {
        let m = "Merge pull request #12 from o/feature\n\nAdd the cache\n";
        assert_eq!(pr_number_in(m), Some(12));
        assert_eq!(pr_title_in(m), "Add the cache");
        assert_eq!(pr_number_in("Add the cache (#13)\n\nbody"), Some(13));
        assert_eq!(pr_title_in("Add the cache (#13)"), "Add the cache");
        assert_eq!(pr_number_in("Add the cache"), None);
        assert_eq!(pr_number_in("Fix (#x)"), None);
    }
}
