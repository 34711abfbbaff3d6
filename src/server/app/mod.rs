//! What the GitHub App does with a job: the gate on pull requests (reported as a check run),
//! comment commands, check-run buttons and re-runs, merge-queue checks (a merge group's
//! `patchgate/quorum` reports its PR's verdict), and reconciliation of missed deliveries.
//!
//! It runs the same pipeline as `patchgate check` ([`run_check`]) on the repository's mirror in
//! the data directory, with the repository configuration read from the base (with `_extends`
//! and the organisation's defaults), and reports through a `patchgate/quorum` check run bound
//! to the exact head SHA. Every command except help is authorised in ONE place,
//! [`AppHandler::authorize`], through the collaborator-permission API; a denied command gets a
//! reply and changes nothing.
//!
//! What it must never do: report `success` for anything but `quorum_passed`; read the
//! repository's configuration from the PR head; act on a comment from a bot (itself included);
//! put a token into a log, a comment or an error.
//!
//! The rooms: this file holds the handler, the dispatch of a job by its event and the target
//! (installation, repository, clone URL) it acts on; [`gate`] runs the gate on a pull request
//! and reports it, [`render_of`] finds render B (`Render-Of`, `/patchgate render-b`),
//! [`commands`] answers comment commands and the Rollback button, [`merge_group`] reports a
//! queued PR's verdict on its merge group, [`reconcile`] gates what missed deliveries left
//! ungated, [`check_run`] finds and starts this App's check runs, and [`messages`] holds every
//! text a person reads (check-run titles and summaries, comment replies).

mod check_run;
mod commands;
mod gate;
mod merge_group;
mod messages;
mod reconcile;
mod render_of;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use tracing::{info, warn};

use crate::astdiff::registry::Registry;
use crate::audit::rule_guard::RuleSet;
use crate::config::Settings;
use crate::github::app::{GitHubApp, Installation, RepoRef};
use crate::github::mirror::Mirrors;
use crate::server::metrics::Metrics;
use crate::server::worker::JobHandler;
use crate::store::{Job, Store};

pub use check_run::{external_id, external_id_pr};
pub use merge_group::{
    latest_pr_run, merge_group_external_id, merge_group_external_id_pr, parse_merge_group_ref,
    BadMergeGroupRef, MergeGroupPr, MergeGroupRef,
};
pub use messages::{check_result, merge_group_result, rollback_button};
pub use reconcile::{queue_reconcile_pass, reconcile, reconcile_pass_delivery, ReconcileReport};

use check_run::{check_run_pr, foreign_app};

/// The check run's name: make it a required status check to block merging until the quorum
/// passes.
pub const CHECK_NAME: &str = "patchgate/quorum";
/// Identifier of the check run's Rollback button.
pub const ROLLBACK_ACTION: &str = "rollback";
/// Internal event of reconciliation jobs (one missed pull request each).
pub const RECONCILE_EVENT: &str = "patchgate.reconcile";
/// Internal event of a reconciliation pass (one per `--reconcile-interval` slot, whichever
/// replica queues it first).
pub const RECONCILE_PASS_EVENT: &str = "patchgate.reconcile.pass";
/// A `patchgate/quorum` run still in progress this long after it started is taken for lost
/// (its job parked, or gone) by reconciliation, which gates its pull request again.
pub const STALE_RUN: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Rollbacks through the App (the orchestrator lives in `crate::rollback::auto`).
pub trait Rollbacks: Send + Sync + 'static {
    /// Revert PR `pr`'s merge because a person asked (`trigger`: `comment` or `check_action`);
    /// returns the reply to post.
    fn manual<'a>(
        &'a self,
        req: ManualRollback<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<String>> + Send + 'a>>;

    /// CI results on the default branch (`check_run`, `status` webhooks) as policy events.
    fn ci_webhook<'a>(
        &'a self,
        inst: &'a Installation,
        event: &'a str,
        payload: &'a Value,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
}

/// A person's request to roll back a pull request's merge.
pub struct ManualRollback<'a> {
    pub inst: &'a Installation,
    pub repo: &'a RepoRef,
    pub clone_url: &'a str,
    pub pr: u64,
    pub reason: &'a str,
    pub actor: &'a str,
    /// `comment` or `check_action`.
    pub trigger: &'a str,
}

/// Everything a gate run needs besides the change.
pub struct GateContext {
    pub settings: Settings,
    pub registry: Arc<Registry>,
    pub rules: RuleSet,
    pub env: crate::server::EnvFn,
}

/// The job handler of `patchgate serve` with a GitHub App.
pub struct AppHandler {
    pub app: GitHubApp,
    pub mirrors: Arc<Mirrors>,
    pub store: Store,
    pub gate: GateContext,
    pub metrics: Arc<Metrics>,
    pub rollbacks: Option<Arc<dyn Rollbacks>>,
}

/// The repository and installation a payload is about, and the job acting on it.
struct Target {
    inst: Installation,
    repo: RepoRef,
    clone_url: String,
    /// The delivery id of the job being run (named by the check runs it starts).
    job: String,
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn u64_at(v: &Value, ptr: &str) -> Option<u64> {
    v.pointer(ptr).and_then(Value::as_u64)
}

impl JobHandler for AppHandler {
    fn handle<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let payload: Value =
                serde_json::from_slice(&job.payload).context("the stored payload is not JSON")?;
            self.dispatch(&job.delivery_id, &job.event, &payload).await
        })
    }
}

impl AppHandler {
    async fn dispatch(&self, job: &str, event: &str, p: &Value) -> Result<()> {
        let action = str_at(p, "/action").unwrap_or("");
        match (event, action) {
            ("pull_request", "opened" | "synchronize" | "reopened" | "ready_for_review") => {
                let t = self.target(job, p).await?;
                if p.pointer("/pull_request/draft").and_then(Value::as_bool) == Some(true) {
                    info!("draft pull request: gated when it is ready for review");
                    return Ok(());
                }
                let number = u64_at(p, "/pull_request/number").context("pull_request.number")?;
                let head = str_at(p, "/pull_request/head/sha").context("pull_request.head.sha")?;
                self.gate_pr(&t, number, Some(head), true).await
            }
            ("pull_request", "closed") => {
                if p.pointer("/pull_request/merged").and_then(Value::as_bool) != Some(true) {
                    return Ok(());
                }
                let t = self.target(job, p).await?;
                let head = str_at(p, "/pull_request/head/sha").context("pull_request.head.sha")?;
                self.offer_rollback(&t, head).await
            }
            (RECONCILE_EVENT, _) => {
                let t = self.target(job, p).await?;
                let number = u64_at(p, "/pull_request/number").context("pull_request.number")?;
                let head = str_at(p, "/pull_request/head/sha").context("pull_request.head.sha")?;
                self.gate_pr(&t, number, Some(head), true).await
            }
            (RECONCILE_PASS_EVENT, _) => {
                let r = reconcile(&self.app, &self.store).await;
                if r.errors > 0 {
                    warn!(
                        queued = r.queued,
                        errors = r.errors,
                        "reconciliation pass finished with errors (each logged above)"
                    );
                } else {
                    info!(queued = r.queued, "reconciliation pass finished");
                }
                Ok(())
            }
            ("issue_comment", "created") => self.on_comment(job, p).await,
            ("check_run", "rerequested") => {
                let run = p.pointer("/check_run").context("check_run")?;
                if str_at(run, "/name") != Some(CHECK_NAME) || foreign_app(run, self.app.app_id()) {
                    return Ok(());
                }
                // A merge group's run: report the queued PR's verdict on the group again.
                if let Some(pr) = str_at(run, "/external_id").and_then(merge_group_external_id_pr) {
                    return self.rerun_merge_group(job, p, run, pr).await;
                }
                // The PR from the run's external id: GitHub lists only open PRs on a run.
                let Some(n) = check_run_pr(run) else {
                    warn!(
                        check_run = u64_at(run, "/id").unwrap_or(0),
                        "re-run requested on a check run that names no pull request; nothing to gate"
                    );
                    return Ok(());
                };
                let t = self.target(job, p).await?;
                self.gate_pr(&t, n, None, true).await
            }
            ("check_suite", "rerequested") => {
                let suite = p.pointer("/check_suite").context("check_suite")?;
                if foreign_app(suite, self.app.app_id()) {
                    return Ok(());
                }
                let t = self.target(job, p).await?;
                let prs = suite
                    .pointer("/pull_requests")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for pr in prs {
                    if let Some(n) = u64_at(&pr, "/number") {
                        self.gate_pr(&t, n, None, true).await?;
                    }
                }
                Ok(())
            }
            ("check_run", "requested_action") => self.on_requested_action(job, p).await,
            ("merge_group", "checks_requested") => self.on_merge_group(job, p).await,
            ("check_run", "completed") | ("status", _) => match &self.rollbacks {
                Some(r) => {
                    let t = self.target(job, p).await?;
                    r.ci_webhook(&t.inst, event, p).await
                }
                None => Ok(()),
            },
            _ => {
                info!(event, action, "nothing to do for this event");
                Ok(())
            }
        }
    }

    async fn target(&self, job: &str, p: &Value) -> Result<Target> {
        let inst_id = u64_at(p, "/installation/id")
            .context("the payload names no installation (is the App installed?)")?;
        let full = str_at(p, "/repository/full_name").context("repository.full_name")?;
        let repo = RepoRef::parse(full)?;
        let given_url = str_at(p, "/repository/clone_url");
        let clone_url = given_url
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://github.com/{full}.git"));
        // Policy events and resumed rollbacks name only the repository: remember where it is
        // cloned from (a write only when it changed, not one per job).
        if let Some(u) = given_url {
            let known = self.store.clone_url(full).await.ok().flatten();
            if known.as_deref() != Some(u) {
                if let Err(e) = self.store.set_clone_url(full, u).await {
                    warn!(error = %e, "could not remember the repository's clone URL");
                }
            }
        }
        let inst = self
            .app
            .installation(inst_id)
            .await
            .with_context(|| format!("installation {inst_id}"))?;
        Ok(Target {
            inst,
            repo,
            clone_url,
            job: job.to_string(),
        })
    }

    /// The one place a command's author is checked: write, maintain or admin on the repository.
    async fn authorize(&self, t: &Target, user: &str) -> Result<bool> {
        let perm = t
            .inst
            .permission(&t.repo, user)
            .await
            .with_context(|| format!("reading {user}'s permission on {}", t.repo))?;
        Ok(perm.can_write())
    }

    async fn fetch(&self, t: &Target, refspecs: Vec<String>) -> Result<PathBuf> {
        let token = t.inst.token().await.context("installation token")?;
        let mirrors = self.mirrors.clone();
        let repo = t.repo.clone();
        let url = t.clone_url.clone();
        tokio::task::spawn_blocking(move || -> Result<PathBuf> {
            mirrors.fetch(&repo, &url, Some(&token), &refspecs)?;
            Ok(mirrors.path(&repo))
        })
        .await
        .context("mirror fetch task")?
    }
}

/// Fail loudly on an unexpected shape rather than guess.
pub fn require_app(app: Option<GitHubApp>) -> Result<GitHubApp> {
    app.ok_or_else(|| anyhow!("GitHub App credentials are required"))
}
