//! Render B on demand for a pull request: when the PR has no render B (no `Render-Of`, no
//! `/patchgate render-b`) and the repository config (from the base) names a builder whose
//! `when` asks for this change, the builder is asked for one before the gate runs
//! (`crate::builder`; its git and process work on the blocking pool, never on the runtime).
//!
//! What the builder is given: the issue the PR closes (title and body), else the PR's title
//! and body with render A's own account left out; and the base commit. A render B built
//! before for the same base, request and builder is reused (a recheck does not pay twice).
//!
//! With the server config's `render_b.push_branch`, render B is also pushed to the repository
//! as the branch `patchgate/render-b/<pr>` for people to read — from the mirror, with the
//! installation token, as reverts are pushed. The branch is patchgate's: it is moved to each
//! new render B of the PR (forced), but a branch of that name holding anything that is not a
//! render B patchgate made (no build note in the mirror) is never overwritten. A push that
//! fails is logged and the check run names the hidden ref instead; the gate goes on.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tracing::{info, warn};

use super::{AppHandler, Target};
use crate::builder::request::{closed_issue, Request};
use crate::builder::{self, commit as build_commit, BuildContext, BuildTarget, Built};
use crate::gate::check::RenderBSource;
use crate::gate::repo_config::RepoConfig;
use crate::github::app::PullInfo;

impl AppHandler {
    /// Render B from the builder the repository config asks for, `None` when it asks none.
    pub(super) async fn render_b_on_demand(
        &self,
        t: &Target,
        number: u64,
        pull: &PullInfo,
        head: &str,
        mirror: &Path,
        cfg: &RepoConfig,
    ) -> Result<Option<RenderBSource>> {
        let asked = {
            let (path, base, head, cfg, labels) = (
                mirror.to_path_buf(),
                pull.base_sha.clone(),
                head.to_string(),
                cfg.clone(),
                pull.labels.clone(),
            );
            tokio::task::spawn_blocking(move || {
                crate::gate::render_b::asked_builder(&path, &base, &head, Some(&cfg), &labels)
            })
            .await
            .context("deciding whether to ask a builder")??
        };
        let Some(name) = asked else {
            return Ok(None);
        };
        let body = pull.body.clone().unwrap_or_default();
        let request = match closed_issue(&pull.title, &body) {
            Some(issue) => match t.inst.issue(&t.repo, issue).await {
                Ok((title, text)) => Request::from_issue(issue, &title, &text),
                Err(e) => {
                    warn!(error = %format!("{e:#}"), pr = number, issue, "the closed issue could not be read: the builder gets the pull request's request");
                    Request::from_pull_request(number, &pull.title, &body)
                }
            },
            None => Request::from_pull_request(number, &pull.title, &body),
        };
        let env = self.gate.env.clone();
        let env_fn = move |k: &str| env(k);
        let ctx = BuildContext {
            settings: &self.gate.settings,
            spend: Arc::new(self.store.clone()),
            rules: Arc::new(self.gate.rules.clone()),
            env: &env_fn,
            scratch_dir: None,
        };
        let target = BuildTarget {
            repo: mirror.to_path_buf(),
            base: pull.base_sha.clone(),
            request,
            pr: Some((number, head.to_string())),
        };
        Ok(Some(match builder::build(&name, &ctx, &target).await {
            Ok(b) => {
                info!(pr = number, builder = %name, commit = %b.commit, reused = b.reused, seconds = b.facts.seconds, cost_usd = b.facts.cost_usd, "render B built");
                let mut build = b.record();
                if self.gate.settings.server.render_b.push_branch {
                    match self.push_branch(t, number, &b).await {
                        Ok(branch) => {
                            info!(pr = number, branch = %branch, commit = %b.commit, "render B pushed as a branch");
                            if let Some(m) = build.as_object_mut() {
                                m.insert("branch".into(), branch.clone().into());
                                if let Some(url) = branch_url(&pull.html_url, number, &branch) {
                                    m.insert("branch_url".into(), url.into());
                                }
                            }
                        }
                        Err(e) => {
                            warn!(pr = number, error = %format!("{e:#}"), "render B was not pushed as a branch: the check run names its hidden ref");
                        }
                    }
                }
                RenderBSource::Built {
                    rev: b.commit.clone(),
                    source: b.source(),
                    build,
                }
            }
            Err(u) => {
                info!(pr = number, builder = %name, reason = %u.reason, "render B unavailable");
                RenderBSource::Unavailable(u.record())
            }
        }))
    }
}

/// The branch a pull request's render B is pushed as.
pub fn branch_name(pr: u64) -> String {
    format!("patchgate/render-b/{pr}")
}

/// The web page of `branch`, from the pull request's own page (`…/owner/repo/pull/N`, on
/// github.com or a GitHub Enterprise Server): `…/owner/repo/tree/<branch>`.
fn branch_url(pull_html_url: &str, pr: u64, branch: &str) -> Option<String> {
    let repo_url = pull_html_url.strip_suffix(&format!("/pull/{pr}"))?;
    Some(format!("{repo_url}/tree/{branch}"))
}

/// Where the repository's branch is fetched to in the mirror, to be looked at before it is
/// overwritten.
fn remote_copy(pr: u64) -> String {
    format!("refs/patchgate/render-b-branch/{pr}")
}

impl AppHandler {
    /// Push render B as [`branch_name`], unless the repository's branch of that name holds a
    /// commit that is not a render B patchgate made. The branch pushed.
    async fn push_branch(&self, t: &Target, number: u64, b: &Built) -> Result<String> {
        let branch = branch_name(number);
        let copy = remote_copy(number);
        // What the repository's branch holds now (nothing, when it has none): a copy left by
        // an earlier push is dropped first, so a branch deleted since is not judged by it.
        {
            let (mirrors, repo, copy) = (self.mirrors.clone(), t.repo.clone(), copy.clone());
            tokio::task::spawn_blocking(move || -> Result<()> {
                if let Ok(git) = mirrors.open(&repo) {
                    if let Ok(mut r) = git.find_reference(&copy) {
                        r.delete().context("dropping the old copy of the branch")?;
                    }
                }
                Ok(())
            })
            .await
            .context("dropping the old copy of the branch")??;
        }
        let path = self
            .fetch(t, vec![format!("+refs/heads/{branch}:{copy}")])
            .await
            .with_context(|| format!("fetching the repository's {branch}"))?;
        let token = t.inst.token().await.context("installation token")?;
        let (mirrors, repo, url) = (self.mirrors.clone(), t.repo.clone(), t.clone_url.clone());
        let (source_ref, want) = (b.reference.clone(), b.commit.clone());
        let dst = format!("refs/heads/{branch}");
        tokio::task::spawn_blocking(move || -> Result<()> {
            let git = git2::Repository::open_bare(&path)
                .with_context(|| format!("opening the mirror {}", path.display()))?;
            if let Ok(held) = git.refname_to_id(&copy) {
                let ours = git.find_note(Some(build_commit::NOTES_REF), held).is_ok();
                if !ours && held.to_string() != want {
                    anyhow::bail!(
                        "the repository's branch {dst} holds {held}, which is not a render B patchgate made: not overwritten"
                    );
                }
            }
            mirrors.push(&repo, &url, Some(&token), &format!("+{source_ref}:{dst}"))
        })
        .await
        .context("pushing render B")??;
        Ok(branch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_page_is_beside_the_pull_requests() {
        assert_eq!(
            branch_url("https://github.com/o/r/pull/7", 7, &branch_name(7)).as_deref(),
            Some("https://github.com/o/r/tree/patchgate/render-b/7")
        );
        assert_eq!(
            branch_url(
                "https://ghe.example/o/r/pull/12",
                12,
                "patchgate/render-b/12"
            )
            .as_deref(),
            Some("https://ghe.example/o/r/tree/patchgate/render-b/12")
        );
        assert_eq!(branch_url("https://github.com/o/r/pull/7", 8, "x"), None);
    }
}
