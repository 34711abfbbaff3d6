//! Render B on demand for a pull request: when the PR has no render B (no `Render-Of`, no
//! `/patchgate render-b`) and the repository config (from the base) names a builder whose
//! `when` asks for this change, the builder is asked for one before the gate runs
//! (`crate::builder`; its git and process work on the blocking pool, never on the runtime).
//!
//! What the builder is given: the issue the PR closes (title and body), else the PR's title
//! and body with render A's own account left out; and the base commit. A render B built
//! before for the same base, request and builder is reused (a recheck does not pay twice).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tracing::{info, warn};

use super::{AppHandler, Target};
use crate::builder::request::{closed_issue, Request};
use crate::builder::{self, BuildContext, BuildTarget};
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
                RenderBSource::Built {
                    rev: b.commit.clone(),
                    source: b.source(),
                    build: b.record(),
                }
            }
            Err(u) => {
                info!(pr = number, builder = %name, reason = %u.reason, "render B unavailable");
                RenderBSource::Unavailable(u.record())
            }
        }))
    }
}
