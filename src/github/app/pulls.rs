//! Pull requests, as patchgate needs them: reading one, listing the open ones, opening one,
//! commenting, reacting to a comment and labelling.

use anyhow::bail;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Installation;
use super::http::{repo_route, Caller, Id, Login};
use super::text::{truncate_text, TEXT_LIMIT};
use super::RepoName;

impl Installation {
    pub async fn pull(&self, repo: &RepoName, number: u64) -> anyhow::Result<PullInfo> {
        let action = format!("get pull request #{number} of {repo}");
        let wire: PullWire = Caller::Inst(self)
            .get(action, &repo_route(repo, &format!("/pulls/{number}")))
            .await?;
        Ok(wire.into())
    }

    /// An issue's title and body (what a pull request that closes it was asked to do).
    pub async fn issue(&self, repo: &RepoName, number: u64) -> anyhow::Result<(String, String)> {
        #[derive(Deserialize)]
        struct IssueWire {
            title: String,
            #[serde(default)]
            body: Option<String>,
        }
        let action = format!("get issue #{number} of {repo}");
        let wire: IssueWire = Caller::Inst(self)
            .get(action, &repo_route(repo, &format!("/issues/{number}")))
            .await?;
        Ok((wire.title, wire.body.unwrap_or_default()))
    }

    /// Every open pull request, all pages.
    pub async fn open_pulls(&self, repo: &RepoName) -> anyhow::Result<Vec<PullInfo>> {
        let action = format!("list open pull requests of {repo}");
        let route = repo_route(repo, "/pulls?state=open");
        let wires: Vec<PullWire> = Caller::Inst(self).get_all(action, &route, None).await?;
        Ok(wires.into_iter().map(PullInfo::from).collect())
    }

    /// Comment on an issue or pull request; returns the comment's id.
    pub async fn comment(&self, repo: &RepoName, issue: u64, body: &str) -> anyhow::Result<u64> {
        let action = format!("comment on #{issue} of {repo}");
        let route = repo_route(repo, &format!("/issues/{issue}/comments"));
        let body = json!({ "body": truncate_text(body, TEXT_LIMIT) });
        let created: Id = Caller::Inst(self).post(action, &route, &body).await?;
        Ok(created.id)
    }

    /// React to an issue comment: `+1`, `-1`, `laugh`, `confused`, `heart`, `hooray`, `rocket`
    /// or `eyes`.
    pub async fn react(
        &self,
        repo: &RepoName,
        comment_id: u64,
        content: &str,
    ) -> anyhow::Result<()> {
        const REACTIONS: [&str; 8] = [
            "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
        ];
        if !REACTIONS.contains(&content) {
            bail!(
                "{content:?} is not a GitHub reaction (one of {})",
                REACTIONS.join(", ")
            );
        }
        let action = format!("react {content} to comment {comment_id} in {repo}");
        let route = repo_route(repo, &format!("/issues/comments/{comment_id}/reactions"));
        let _: Value = Caller::Inst(self)
            .post(action, &route, &json!({ "content": content }))
            .await?;
        Ok(())
    }

    /// Open a pull request; returns its number.
    pub async fn create_pull(
        &self,
        repo: &RepoName,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> anyhow::Result<u64> {
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        let action = format!("open a pull request {head} -> {base} in {repo}");
        let body = json!({
            "title": title,
            "head": head,
            "base": base,
            "body": truncate_text(body, TEXT_LIMIT),
        });
        let created: Created = Caller::Inst(self)
            .post(action, &repo_route(repo, "/pulls"), &body)
            .await?;
        Ok(created.number)
    }

    /// Add labels to an issue or pull request (nothing to do for none).
    pub async fn add_labels(
        &self,
        repo: &RepoName,
        issue: u64,
        labels: &[String],
    ) -> anyhow::Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let action = format!("add labels {labels:?} to #{issue} of {repo}");
        let route = repo_route(repo, &format!("/issues/{issue}/labels"));
        let _: Value = Caller::Inst(self)
            .post(action, &route, &json!({ "labels": labels }))
            .await?;
        Ok(())
    }
}

/// A pull request, as patchgate needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullInfo {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub head_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    pub base_sha: String,
    /// The base repository's clone URL.
    pub clone_url: String,
    pub html_url: String,
    pub user_login: String,
    pub labels: Vec<String>,
}

#[derive(Deserialize)]
struct PullWire {
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    draft: Option<bool>,
    /// Absent from listings (`pull-request-simple`): then `merged_at` says it.
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    head: BranchWire,
    base: BranchWire,
    html_url: String,
    user: Option<Login>,
    #[serde(default)]
    labels: Vec<LabelWire>,
}

#[derive(Deserialize)]
struct BranchWire {
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    repo: Option<RepoWire>,
}

#[derive(Deserialize)]
struct RepoWire {
    clone_url: String,
}

#[derive(Deserialize)]
struct LabelWire {
    name: String,
}

impl From<PullWire> for PullInfo {
    fn from(w: PullWire) -> PullInfo {
        PullInfo {
            number: w.number,
            title: w.title,
            body: w.body,
            state: w.state,
            draft: w.draft.unwrap_or(false),
            merged: w.merged.unwrap_or(w.merged_at.is_some()),
            merge_commit_sha: w.merge_commit_sha,
            head_sha: w.head.sha,
            head_ref: w.head.git_ref,
            base_ref: w.base.git_ref,
            base_sha: w.base.sha,
            clone_url: w.base.repo.map(|r| r.clone_url).unwrap_or_default(),
            html_url: w.html_url,
            user_login: w.user.map(|u| u.login).unwrap_or_default(),
            labels: w.labels.into_iter().map(|l| l.name).collect(),
        }
    }
}
