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
//! [`render_b`] asks a builder for render B when the repository config says so,
//! [`commands`] answers comment commands and the Rollback button, [`votes`] casts a
//! maintainer's vote (comment, button or web view: one code path), [`merge_group`] reports a
//! queued PR's verdict on its merge group, [`reconcile`] gates what missed deliveries left
//! ungated, [`check_run`] finds and starts this App's check runs, and [`messages`] holds every
//! text a person reads (check-run titles and summaries, comment replies).

mod check_run;
mod commands;
mod gate;
mod merge_group;
pub(crate) mod messages;
mod publish;
mod reconcile;
mod render_b;
mod render_of;
mod votes;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use tracing::{info, warn};

use crate::astdiff::registry::Registry;
use crate::audit::rule_guard::RuleSet;
use crate::config::Settings;
use crate::github::app::{GitHubApp, Installation, RepoName};
use crate::github::mirror::Mirrors;
use crate::server::metrics::Metrics;
use crate::server::worker::JobHandler;
use crate::store::{Job, Store};
use crate::webhook::{self, Event};

pub use check_run::{external_id, external_id_pr};
pub use merge_group::{
    latest_pr_run, merge_group_external_id, merge_group_external_id_pr, parse_merge_group_ref,
    BadMergeGroupRef, MergeGroupPr, MergeGroupRef,
};
pub use messages::{check_result, merge_group_result, rollback_button, vote_buttons};
pub use reconcile::{queue_reconcile_pass, reconcile, reconcile_pass_delivery, ReconcileReport};
pub use votes::{VoteOutcome, WebVote, WebVotes};

pub use crate::webhook::{RECONCILE_EVENT, RECONCILE_PASS_EVENT};
use check_run::check_run_pr;

/// The check run's name: make it a required status check to block merging until the quorum
/// passes.
pub const CHECK_NAME: &str = "patchgate/quorum";
/// Identifier of the check run's Rollback button.
pub const ROLLBACK_ACTION: &str = "rollback";
/// Identifier of the Approve button on an escalated change's check run (a maintainer's
/// `/patchgate approve`).
pub const APPROVE_ACTION: &str = "approve";
/// Identifier of the Block button on an escalated change's check run (`/patchgate block`).
pub const BLOCK_ACTION: &str = "block";
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

    /// CI results on the default branch (`check_run` completed, `status`) as policy events.
    fn ci_webhook<'a>(
        &'a self,
        inst: &'a Installation,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
}

/// A person's request to roll back a pull request's merge.
pub struct ManualRollback<'a> {
    pub inst: &'a Installation,
    pub repo: &'a RepoName,
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
    repo: RepoName,
    clone_url: String,
    /// The delivery id of the job being run (named by the check runs it starts).
    job: String,
}

impl JobHandler for AppHandler {
    fn handle<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let event = webhook::parse_job(&job.event, &job.payload)
                .map_err(|e| anyhow!("the stored payload: {e}"))?;
            match event {
                Some(event) => self.dispatch(&job.delivery_id, &event).await,
                None => {
                    info!(event = %job.event, "nothing to do for this event");
                    Ok(())
                }
            }
        })
    }
}

impl AppHandler {
    async fn dispatch(&self, job: &str, event: &Event) -> Result<()> {
        match event {
            Event::PullRequestUpdated(p) => {
                let t = self.target(job, event).await?;
                if p.pull_request.is_draft() {
                    info!("draft pull request: gated when it is ready for review");
                    return Ok(());
                }
                let pr = &p.pull_request;
                self.gate_pr(&t, pr.number.get(), Some(pr.head.sha.as_str()), true)
                    .await
            }
            Event::PullRequestClosed(p) => {
                if !p.pull_request.is_merged() {
                    return Ok(());
                }
                let t = self.target(job, event).await?;
                self.offer_rollback(&t, p.pull_request.head.sha.as_str())
                    .await
            }
            Event::Reconcile(p) => {
                let t = self.target(job, event).await?;
                let pr = &p.pull_request;
                self.gate_pr(&t, pr.number.get(), Some(pr.head.sha.as_str()), true)
                    .await
            }
            Event::ReconcilePass => {
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
            Event::CommentCreated(c) => self.on_comment(job, event, c).await,
            Event::CheckRunRerequested(e) => {
                let run = &e.check_run;
                if run.name.as_deref() != Some(CHECK_NAME) || run.foreign_app(self.app.app_id()) {
                    return Ok(());
                }
                // A merge group's run: report the queued PR's verdict on the group again.
                if let Some(pr) = run
                    .external_id
                    .as_deref()
                    .and_then(merge_group_external_id_pr)
                {
                    return self.rerun_merge_group(job, event, run, pr).await;
                }
                // The PR from the run's external id: GitHub lists only open PRs on a run.
                let Some(n) = check_run_pr(run) else {
                    warn!(
                        check_run = run.id.unwrap_or(0),
                        "re-run requested on a check run that names no pull request; nothing to gate"
                    );
                    return Ok(());
                };
                let t = self.target(job, event).await?;
                self.gate_pr(&t, n, None, true).await
            }
            Event::CheckSuiteRerequested(e) => {
                if e.check_suite.foreign_app(self.app.app_id()) {
                    return Ok(());
                }
                let t = self.target(job, event).await?;
                for n in e.check_suite.pull_requests.iter().filter_map(|p| p.number) {
                    self.gate_pr(&t, n.get(), None, true).await?;
                }
                Ok(())
            }
            Event::CheckRunRequestedAction(e) => self.on_requested_action(job, event, e).await,
            Event::MergeGroupChecksRequested(e) => self.on_merge_group(job, event, e).await,
            Event::CheckRunCompleted(_) | Event::Status(_) => match &self.rollbacks {
                Some(r) => {
                    let t = self.target(job, event).await?;
                    r.ci_webhook(&t.inst, event).await
                }
                None => Ok(()),
            },
        }
    }

    async fn target(&self, job: &str, event: &Event) -> Result<Target> {
        let (inst, repository) = event.target().context("the event names no repository")?;
        let inst_id = inst
            .map(|i| i.id)
            .context("the payload names no installation (is the App installed?)")?;
        let repo = repository.full_name.clone();
        let full = repo.to_string();
        let given_url = repository.clone_url.as_deref();
        let clone_url = given_url
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://github.com/{full}.git"));
        // Policy events and resumed rollbacks name only the repository: remember where it is
        // cloned from (a write only when it changed, not one per job).
        if let Some(u) = given_url {
            let known = self.store.clone_url(&full).await.ok().flatten();
            if known.as_deref() != Some(u) {
                if let Err(e) = self.store.set_clone_url(&full, u).await {
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
        Ok(self
            .authorize_at(t, user, crate::config::Permission::Write)
            .await?
            .is_ok())
    }

    /// The same check against a configured level (`human_votes.permission` for `approve` and
    /// `block`): `Ok(level)` with the user's level when it is at or above `need`, else
    /// `Err(level)` (`None`: no access to the repository at all).
    async fn authorize_at(
        &self,
        t: &Target,
        user: &str,
        need: crate::config::Permission,
    ) -> Result<Result<crate::config::Permission, Option<crate::config::Permission>>> {
        let perm = t
            .inst
            .permission(&t.repo, user)
            .await
            .with_context(|| format!("reading {user}'s permission on {}", t.repo))?;
        Ok(permitted(perm, need))
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

/// THE rule of who may act (comment commands, the check run's button and the web view's
/// operator actions all come here): `Ok(level)` with the user's level when it is at or above
/// `need`, else `Err(level)` (`None`: no access to the repository at all).
pub fn permitted(
    perm: crate::github::app::Permission,
    need: crate::config::Permission,
) -> Result<crate::config::Permission, Option<crate::config::Permission>> {
    match permission_level(perm) {
        Some(level) if level >= need => Ok(level),
        level => Err(level),
    }
}

/// A user's permission as a configurable level; `None` for no access at all.
fn permission_level(p: crate::github::app::Permission) -> Option<crate::config::Permission> {
    use crate::config::Permission as L;
    use crate::github::app::Permission as P;
    match p {
        P::Admin => Some(L::Admin),
        P::Maintain => Some(L::Maintain),
        P::Write => Some(L::Write),
        P::Triage => Some(L::Triage),
        P::Read => Some(L::Read),
        P::None => None,
    }
}

/// Fail loudly on an unexpected shape rather than guess.
pub fn require_app(app: Option<GitHubApp>) -> Result<GitHubApp> {
    app.ok_or_else(|| anyhow!("GitHub App credentials are required"))
}
