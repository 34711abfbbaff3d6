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

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use tracing::{info, warn};

use crate::astdiff::registry::Registry;
use crate::astdiff::DiffOptions;
use crate::audit::rule_guard::RuleSet;
use crate::audit::vote::Severity;
use crate::config::Settings;
use crate::gate::actions::{all_findings, step_summary};
use crate::gate::check::{run_check, CheckOutcome, CheckRequest, RenderBSource};
use crate::github::app::{
    Annotation, AnnotationLevel, CheckAction, CheckRunResult, Conclusion, GitHubApp, Installation,
    NewCheckRun, RepoRef,
};
use crate::github::commands::{self, Command, Parsed, RenderBRef};
use crate::github::mirror::Mirrors;
use crate::server::metrics::Metrics;
use crate::server::worker::JobHandler;
use crate::store::{Job, NewJob, Store};

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

/// The `external_id` of the check run job `job` reports PR `pr` on: `pr=<N>;job=<delivery>`.
/// The PR is read back from it when GitHub no longer lists the PR on the run (after a merge
/// `check_run.pull_requests` is empty); the job finds the run its earlier attempt started.
pub fn external_id(pr: u64, job: &str) -> String {
    format!("pr={pr};job={job}")
}

/// The pull request an `external_id` of [`external_id`]'s form names.
pub fn external_id_pr(id: &str) -> Option<u64> {
    let (pr, _job) = id.strip_prefix("pr=")?.split_once(";job=")?;
    pr.parse().ok()
}

/// The pull request a webhook's check run is about: the one its external id names, else the
/// first one GitHub lists on it (open pull requests only).
fn check_run_pr(run: &Value) -> Option<u64> {
    str_at(run, "/external_id")
        .and_then(external_id_pr)
        .or_else(|| u64_at(run, "/pull_requests/0/number"))
}

/// Whether a webhook's check run or suite (`obj`) belongs to another App. GitHub sends these
/// events only to the App that owns the run, so this is a second line of defence; a payload
/// without the App's id is taken as ours.
fn foreign_app(obj: &Value, ours: u64) -> bool {
    u64_at(obj, "/app/id").is_some_and(|id| id != ours)
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn u64_at(v: &Value, ptr: &str) -> Option<u64> {
    v.pointer(ptr).and_then(Value::as_u64)
}

/// A user that is a bot (GitHub Apps, including this one): their comments are never commands.
fn is_bot(user: &Value) -> bool {
    str_at(user, "/type") == Some("Bot")
        || str_at(user, "/login").is_some_and(|l| l.ends_with("[bot]"))
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

    /// Gate pull request `number` and report it on a check run on `head` (the PR's current head
    /// when `None`).
    ///
    /// A PR whose description says `Render-Of: #N` is render B of #N: it is gated in its own
    /// right with #N as its render B (variance is symmetric, so it is the same comparison; its
    /// own audit runs on its own change), then — when `follow_render_of` — #N is gated again
    /// with this PR as its render B. The re-gate never follows `Render-Of` again, so two PRs
    /// naming each other are each gated once. A `Render-Of` line that cannot be honoured (see
    /// [`AppHandler::render_of_problem`]) is ignored and said so in the summary: the PR is gated
    /// without it, never waved through.
    async fn gate_pr(
        &self,
        t: &Target,
        number: u64,
        head: Option<&str>,
        follow_render_of: bool,
    ) -> Result<()> {
        let pull = t.inst.pull(&t.repo, number).await?;
        let head = head.unwrap_or(&pull.head_sha).to_string();
        let render_of = self.declared_render_of(t, &pull).await?;
        self.gate_one(t, number, pull, head, &render_of).await?;
        if let (true, RenderOf::Linked(of)) = (follow_render_of, &render_of) {
            info!(
                pr = number,
                of = *of,
                "render B gated: gating the PR it renders again"
            );
            Box::pin(self.gate_pr(t, *of, None, false)).await?;
        }
        Ok(())
    }

    /// How PR `pull`'s own `Render-Of: #N` line is taken.
    async fn declared_render_of(
        &self,
        t: &Target,
        pull: &crate::github::app::PullInfo,
    ) -> Result<RenderOf> {
        let Some(of) = pull.body.as_deref().and_then(commands::render_of) else {
            return Ok(RenderOf::None);
        };
        let ignored = |why: String| {
            RenderOf::Ignored(format!(
                "this pull request declares `Render-Of: #{of}`, but {why}; the line is ignored: this pull request is gated without #{of} as its render B, and #{of} does not take it as its render B."
            ))
        };
        if of == pull.number {
            return Ok(ignored("it names this pull request itself".into()));
        }
        let a = match t.inst.pull(&t.repo, of).await {
            Ok(a) => a,
            Err(e)
                if crate::github::app::GitHubError::of(&e)
                    .is_some_and(crate::github::app::GitHubError::is_not_found) =>
            {
                return Ok(ignored(format!(
                    "#{of} is not a pull request of {}",
                    t.repo
                )));
            }
            Err(e) => return Err(e.context(format!("reading #{of}, named by `Render-Of`"))),
        };
        Ok(match self.render_of_problem(t, pull, &a).await? {
            None => RenderOf::Linked(of),
            Some(why) => ignored(why),
        })
    }

    /// Why PR `b`'s `Render-Of` line naming PR `a` is not honoured; `None` when it is: `a` is
    /// open, both target the same base branch, and `b`'s author is `a`'s author or may write to
    /// the repository (the same [`AppHandler::authorize`] check `/patchgate render-b` needs, so
    /// a stranger's PR cannot make itself someone else's render B).
    async fn render_of_problem(
        &self,
        t: &Target,
        b: &crate::github::app::PullInfo,
        a: &crate::github::app::PullInfo,
    ) -> Result<Option<String>> {
        if a.state != "open" || a.merged {
            let state = if a.merged { "merged" } else { "closed" };
            return Ok(Some(format!("#{} is {state}", a.number)));
        }
        if a.base_ref != b.base_ref {
            return Ok(Some(format!(
                "#{} targets `{}` and #{} targets `{}`",
                a.number, a.base_ref, b.number, b.base_ref
            )));
        }
        if b.user_login != a.user_login && !self.authorize(t, &b.user_login).await? {
            return Ok(Some(format!(
                "#{}'s author @{} is not #{}'s author and has no write permission on {}",
                b.number, b.user_login, a.number, t.repo
            )));
        }
        Ok(None)
    }

    /// Gate one pull request, `pull` at `head`, and complete its check run.
    async fn gate_one(
        &self,
        t: &Target,
        number: u64,
        pull: crate::github::app::PullInfo,
        head: String,
        render_of: &RenderOf,
    ) -> Result<()> {
        // A push that GitHub already followed with another: the newer head has (or will have)
        // its own job, so gating this one would spend the auditors on a commit nobody can
        // merge. Only a head the PR's current head descends from counts as superseded; after
        // a force-push (or while GitHub's API still shows the old head) it is gated as usual.
        if pull.head_sha != head {
            if let Some(current) = self.superseded_by(t, number, &head).await? {
                info!(pr = number, head = %head, current = %current, "a newer push superseded this head: not gated");
                self.cancel_own_run(t, number, &head, &current).await?;
                return Ok(());
            }
        }
        let check_id = self.start_check(t, number, &head).await?;
        // A merged PR's run keeps offering the Rollback button (a recheck after the merge
        // would otherwise take it away).
        let buttons = if pull.merged {
            vec![rollback_button()]
        } else {
            Vec::new()
        };
        match self.run_gate(t, number, &pull, &head, render_of).await {
            Ok(GateResult::Outcome(outcome, advisory, notes)) => {
                let mut result = check_result(&outcome, advisory, &notes);
                result.actions = buttons;
                self.observe(&outcome);
                t.inst
                    .complete_check_run(&t.repo, check_id, &result)
                    .await?;
                info!(
                    pr = number,
                    head = %head,
                    quorum_passed = outcome.record.quorum_passed,
                    record = outcome.record.record_hash.as_deref().unwrap_or(""),
                    "gate decided"
                );
                Ok(())
            }
            Ok(GateResult::ConfigProblems(text)) => {
                let result = CheckRunResult {
                    conclusion: Conclusion::Failure,
                    title: "Repository configuration is invalid".into(),
                    summary: format!(
                        "## BLOCKED — the repository configuration has problems\n\npatchgate reads `.github/patchgate.yml` from the base branch `{}` and fails closed while it is invalid. Fix these on the base branch, then comment `/patchgate recheck`:\n\n{text}",
                        pull.base_ref
                    ),
                    text: None,
                    annotations: Vec::new(),
                    actions: buttons,
                };
                t.inst
                    .complete_check_run(&t.repo, check_id, &result)
                    .await?;
                Ok(())
            }
            Ok(GateResult::Superseded { current }) => {
                t.inst
                    .complete_check_run(&t.repo, check_id, &superseded_result(&current))
                    .await?;
                info!(pr = number, head = %head, current = %current, "a newer push superseded this head: not gated");
                Ok(())
            }
            Ok(GateResult::RenderBMissing { why, advisory }) => {
                let mut result = render_b_missing_result(&why, advisory);
                result.actions = buttons;
                t.inst
                    .complete_check_run(&t.repo, check_id, &result)
                    .await?;
                info!(pr = number, head = %head, "render B not found: the gate did not run");
                Ok(())
            }
            Err(e) => {
                // Say so on the check (it would otherwise stay in progress), then let the job
                // retry: the retry finds this run by its external id (this job's) and
                // completes it again, so one job keeps one run however often it is retried.
                let result = CheckRunResult {
                    conclusion: Conclusion::Failure,
                    title: "patchgate could not decide".into(),
                    summary: format!(
                        "## BLOCKED — the gate failed to run\n\n```\n{}\n```\n\nThe job is retried automatically; `/patchgate recheck` runs it again.",
                        truncate(&format!("{e:#}"), 4000)
                    ),
                    text: None,
                    annotations: Vec::new(),
                    actions: buttons,
                };
                if let Err(e2) = t.inst.complete_check_run(&t.repo, check_id, &result).await {
                    warn!(error = %format!("{e2:#}"), "could not report the failure on the check run");
                }
                Err(e)
            }
        }
    }

    /// The PR's current head when `head` is an older commit of it (the current head descends
    /// from it), after fetching the PR's head into the mirror; `None` when `head` is the current
    /// head or not one of its ancestors (a force-push, or not fetched yet).
    async fn superseded_by(&self, t: &Target, number: u64, head: &str) -> Result<Option<String>> {
        let r = format!("refs/pull/{number}/head");
        let path = self.fetch(t, vec![format!("+{r}:{r}")]).await?;
        let head = head.to_string();
        tokio::task::spawn_blocking(move || superseded_in(&path, &r, &head))
            .await
            .context("comparing the PR's heads")?
    }

    /// After a newer push: this job's run on the old `head` (an earlier attempt's, still in
    /// progress) is closed as `cancelled` — a conclusion that never satisfies a required check.
    async fn cancel_own_run(
        &self,
        t: &Target,
        number: u64,
        head: &str,
        current: &str,
    ) -> Result<()> {
        let ext = external_id(number, &t.job);
        let runs = self.job_runs(t, head, &ext).await?;
        for r in runs.iter().filter(|r| r.status != "completed") {
            t.inst
                .complete_check_run(&t.repo, r.id, &superseded_result(current))
                .await?;
        }
        Ok(())
    }

    /// The `patchgate/quorum` runs on `head` whose external id is `ext` (the runs of one job:
    /// earlier attempts of the same job), as listed for this App.
    async fn job_runs(
        &self,
        t: &Target,
        head: &str,
        ext: &str,
    ) -> Result<Vec<crate::github::app::CheckRunInfo>> {
        let runs = t.inst.check_runs_for_ref(&t.repo, head, CHECK_NAME).await?;
        Ok(runs
            .into_iter()
            .filter(|r| {
                r.name == CHECK_NAME && r.head_sha == head && r.external_id.as_deref() == Some(ext)
            })
            .collect())
    }

    /// This job's `patchgate/quorum` run for PR `number` on `head`: the one an earlier attempt
    /// of the same job started (its external id names the PR and the job), completed or not;
    /// else a new one. Another job's run on the same head — a push and a recheck gated at the
    /// same time — is never taken over, and only this App's runs are looked at.
    async fn start_check(&self, t: &Target, number: u64, head: &str) -> Result<u64> {
        let ext = external_id(number, &t.job);
        let runs = self.job_runs(t, head, &ext).await?;
        let earlier = runs.iter().max_by_key(|r| r.id);
        if let Some(r) = earlier {
            if r.output.annotations_count == 0 {
                return Ok(r.id);
            }
        }
        let id = t
            .inst
            .create_check_run(
                &t.repo,
                &NewCheckRun {
                    name: CHECK_NAME.into(),
                    head_sha: head.to_string(),
                    external_id: Some(ext),
                    details_url: None,
                    title: "Gating…".into(),
                    summary: "patchgate is comparing the renders and asking its auditors.".into(),
                },
            )
            .await?;
        // The earlier attempt's run already carries annotations (it failed between the
        // requests that complete a run): GitHub only appends them, so completing it again
        // would show them twice. The new run reports; the old one, if left in progress, is
        // closed as failure (it must pass for nothing; a required check reads the newer run).
        if let Some(r) = earlier.filter(|r| r.status != "completed") {
            let result = CheckRunResult {
                conclusion: Conclusion::Failure,
                title: "Superseded by a retry".into(),
                summary: format!(
                    "This attempt failed while reporting. The retry reports on check run {id}."
                ),
                text: None,
                annotations: Vec::new(),
                actions: Vec::new(),
            };
            if let Err(e) = t.inst.complete_check_run(&t.repo, r.id, &result).await {
                warn!(check_run = r.id, error = %format!("{e:#}"), "could not close the superseded check run");
            }
        }
        Ok(id)
    }

    async fn run_gate(
        &self,
        t: &Target,
        number: u64,
        pull: &crate::github::app::PullInfo,
        head: &str,
        render_of: &RenderOf,
    ) -> Result<GateResult> {
        // Render B, in this order: `/patchgate render-b`; this PR's own `Render-Of: #N`; an open
        // PR declaring `Render-Of: #number` (honoured only under `render_of_problem`'s rules).
        let mut notes: Vec<String> = Vec::new();
        if let RenderOf::Ignored(why) = render_of {
            notes.push(why.clone());
        }
        let link = self.store.render_b(&t.repo.to_string(), number).await?;
        let mut render_b_pr: Option<u64> = None;
        let mut render_b_ref: Option<String> = None;
        match (link.as_deref(), render_of) {
            (Some(l), _) => {
                if let RenderOf::Linked(of) = render_of {
                    notes.push(format!(
                        "render B was set with `/patchgate render-b` to {}, which takes precedence over this pull request's `Render-Of: #{of}`.",
                        commands::code(l)
                    ));
                }
                match l.strip_prefix('#') {
                    Some(n) => render_b_pr = Some(n.parse().context("stored render B link")?),
                    None => render_b_ref = Some(l.to_string()),
                }
            }
            (None, RenderOf::Linked(of)) => render_b_pr = Some(*of),
            (None, _) => {
                // Anyone may open PRs naming this one: at most a few are looked into (each may
                // cost a permission lookup) and named in the summary; the rest are counted.
                const MAX_REFUSED: usize = 3;
                // The author's own PRs first: they need no permission lookup, and strangers'
                // PRs cannot crowd them out.
                let mut candidates: Vec<_> = t
                    .inst
                    .open_pulls(&t.repo)
                    .await?
                    .into_iter()
                    .filter(|o| {
                        o.number != number
                            && o.body.as_deref().and_then(commands::render_of) == Some(number)
                    })
                    .collect();
                candidates.sort_by_key(|o| (o.user_login != pull.user_login, o.number));
                let (mut refused, mut unexamined) = (0usize, 0usize);
                for other in candidates {
                    if refused == MAX_REFUSED {
                        unexamined += 1;
                        continue;
                    }
                    match self.render_of_problem(t, &other, pull).await? {
                        None => {
                            render_b_pr = Some(other.number);
                            break;
                        }
                        Some(why) => {
                            refused += 1;
                            notes.push(format!(
                                "#{} declares `Render-Of: #{number}`, but {why}; it is not taken as render B.",
                                other.number
                            ));
                        }
                    }
                }
                if render_b_pr.is_none() && unexamined > 0 {
                    notes.push(format!(
                        "{unexamined} more open pull request(s) declare `Render-Of: #{number}` and were not examined (after {MAX_REFUSED} that could not be taken); link render B with `/patchgate render-b #N`."
                    ));
                }
            }
        }
        let mut refspecs = vec![
            format!("+refs/heads/{0}:refs/heads/{0}", pull.base_ref),
            format!("+refs/pull/{number}/head:refs/pull/{number}/head"),
        ];
        // Where render B may be found in the mirror after the fetch, first match wins. A
        // refspec whose source the remote does not have fetches nothing (no error), so a name
        // is looked up as both a branch and a tag; a full commit id is fetched by itself.
        let mut candidates: Vec<String> = Vec::new();
        let mut by_id: Option<String> = None;
        if let Some(b) = render_b_pr {
            let r = format!("refs/pull/{b}/head");
            refspecs.push(format!("+{r}:{r}"));
            candidates.push(r);
        }
        if let Some(r) = &render_b_ref {
            if is_full_commit_id(r) {
                by_id = Some(format!("+{r}:refs/patchgate/render-b/{r}"));
                candidates.push(r.clone());
            } else if r.starts_with("refs/") {
                refspecs.push(format!("+{r}:{r}"));
                candidates.push(r.clone());
            } else {
                for kind in ["heads", "tags"] {
                    refspecs.push(format!("+refs/{kind}/{r}:refs/{kind}/{r}"));
                    candidates.push(format!("refs/{kind}/{r}"));
                }
                // An abbreviated commit id: found only among what the mirror has.
                if r.len() >= 7 && r.bytes().all(|c| c.is_ascii_hexdigit()) {
                    candidates.push(r.clone());
                }
            }
        }
        let path = self.fetch(t, refspecs).await?;
        // A head the PR no longer points at (force-pushed over since the webhook): fetched by
        // its id, so the job gates what the webhook named instead of failing until parked.
        let head_known = {
            let (path, head) = (path.clone(), vec![head.to_string()]);
            tokio::task::spawn_blocking(move || first_commit(&path, &head))
                .await
                .context("looking up the head")??
                .is_some()
        };
        if !head_known {
            let fetched = self
                .fetch(t, vec![format!("+{head}:refs/patchgate/heads/{head}")])
                .await
                .with_context(|| format!("fetching head {head}, which the PR no longer points at"));
            match fetched {
                Ok(_) => {}
                // Force-pushed away and no longer served: nobody can merge it, and the newer
                // head has its own job. (While the PR still points at it, it is an error and
                // the job is retried.)
                Err(e) if pull.head_sha != head => {
                    warn!(error = %format!("{e:#}"), pr = number, head = %head, "a force-pushed-over head cannot be fetched: not gated");
                    return Ok(GateResult::Superseded {
                        current: pull.head_sha.clone(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let mut fetch_error: Option<String> = None;
        if let Some(spec) = by_id {
            // An unknown id (or a remote that cannot serve one) is an answer about render B,
            // not a reason to retry the job.
            if let Err(e) = self.fetch(t, vec![spec]).await {
                warn!(error = %format!("{e:#}"), "fetching render B by commit id failed");
                fetch_error = Some(format!("{e:#}"));
            }
        }

        // The repository's configuration, from the base only.
        let local = {
            let path = path.clone();
            let base = pull.base_sha.clone();
            tokio::task::spawn_blocking(move || config_text_at(&path, &base))
                .await
                .context("reading the repository config")??
        };
        let source = ApiConfigSource { inst: &t.inst };
        let resolved =
            crate::gate::repo_config::resolve(local.as_deref(), &t.repo.to_string(), &source).await;
        if !resolved.problems.is_empty() {
            return Ok(GateResult::ConfigProblems(
                crate::gate::repo_config::render_problems(&resolved.problems),
            ));
        }
        let advisory = resolved.config.advisory;

        let render_b = if candidates.is_empty() {
            None
        } else {
            let found = {
                let path = path.clone();
                let candidates = candidates.clone();
                tokio::task::spawn_blocking(move || first_commit(&path, &candidates))
                    .await
                    .context("looking up render B")??
            };
            match found {
                Some(rev) => Some(RenderBSource::Rev(rev)),
                None => {
                    let why = match (render_b_pr, &render_b_ref) {
                        (Some(b), _) => format!(
                            "render B is pull request #{b}, but {} has no `refs/pull/{b}/head` (is #{b} a pull request of this repository?)",
                            t.repo
                        ),
                        (None, Some(r)) if is_full_commit_id(r) => format!(
                            "render B is commit {}, which could not be fetched from {}{}",
                            commands::code(r),
                            t.repo,
                            fetch_error
                                .map(|e| format!(":\n\n```\n{}\n```", truncate(&e, 2000)))
                                .unwrap_or_default()
                        ),
                        (None, Some(r)) => format!(
                            "render B is {}, which is neither a branch nor a tag of {} (nor a commit of its mirror)",
                            commands::code(r),
                            t.repo
                        ),
                        (None, None) => unreachable!("candidates come from a render B"),
                    };
                    return Ok(GateResult::RenderBMissing { why, advisory });
                }
            }
        };
        let req = CheckRequest {
            repo: path,
            base: pull.base_sha.clone(),
            head: head.to_string(),
            render_b,
            write_meta: None,
            attach_note: true,
            diff: DiffOptions {
                threshold_percent: self.gate.settings.threshold_percent,
                ..DiffOptions::default()
            },
            pr_number: Some(number),
            pr_body: pull.body.clone(),
            repo_name: Some(t.repo.to_string()),
            repo_config: Some(resolved.config),
        };
        let env = self.gate.env.clone();
        let env_fn = move |k: &str| env(k);
        let outcome = run_check(
            &self.gate.settings,
            Arc::new(self.store.clone()),
            self.gate.registry.clone(),
            self.gate.rules.clone(),
            &req,
            &env_fn,
        )
        .await?;
        Ok(GateResult::Outcome(Box::new(outcome), advisory, notes))
    }

    fn observe(&self, o: &CheckOutcome) {
        let r = &o.record;
        if r.renders.b.is_some() {
            self.metrics.ast_diff_percent(r.ast_diff.variance_percent);
        }
        for v in &o.audit.votes {
            self.metrics.vote(&v.auditor, &v.verdict.to_string());
        }
        if r.explanations.is_some() {
            self.metrics.meta_explained();
        }
        self.metrics.decision(r.quorum_passed);
    }

    /// After a merge: this App's completed check runs on the merged head offer a Rollback
    /// button (a run of the same name by anyone else is not looked at).
    async fn offer_rollback(&self, t: &Target, head: &str) -> Result<()> {
        let runs = t.inst.check_runs_for_ref(&t.repo, head, CHECK_NAME).await?;
        for r in runs.iter().filter(|r| r.status == "completed") {
            t.inst
                .set_check_run_actions(&t.repo, r.id, &[rollback_button()])
                .await?;
        }
        Ok(())
    }

    async fn on_comment(&self, job: &str, p: &Value) -> Result<()> {
        if p.pointer("/issue/pull_request").is_none() {
            return Ok(()); // an issue, not a pull request
        }
        let comment = p.pointer("/comment").context("comment")?;
        if comment.pointer("/user").is_some_and(is_bot) {
            return Ok(());
        }
        let body = str_at(comment, "/body").unwrap_or("");
        let parsed = commands::parse_comment(body);
        if parsed.is_empty() {
            return Ok(());
        }
        let t = self.target(job, p).await?;
        let number = u64_at(p, "/issue/number").context("issue.number")?;
        let comment_id = u64_at(comment, "/id").unwrap_or(0);
        let user = str_at(comment, "/user/login")
            .or_else(|| str_at(p, "/sender/login"))
            .context("comment.user.login")?
            .to_string();
        for item in parsed {
            match item {
                Parsed::Unknown { word, suggestion } => {
                    t.inst
                        .comment(&t.repo, number, &commands::reply_unknown(&word, suggestion))
                        .await?;
                }
                Parsed::Invalid { command, message } => {
                    t.inst
                        .comment(
                            &t.repo,
                            number,
                            &format!("`/patchgate {command}`: {message}\n\n`/patchgate help` lists the commands."),
                        )
                        .await?;
                }
                Parsed::Command(cmd) => {
                    if commands::needs_write(&cmd) && !self.authorize(&t, &user).await? {
                        info!(user = %user, "command denied: no write permission");
                        t.inst
                            .comment(
                                &t.repo,
                                number,
                                &format!(
                                    "@{user} `/patchgate {}` needs write permission on {}; nothing was done.",
                                    command_word(&cmd),
                                    t.repo
                                ),
                            )
                            .await?;
                        continue;
                    }
                    if comment_id != 0 {
                        if let Err(e) = t.inst.react(&t.repo, comment_id, "eyes").await {
                            warn!(error = %format!("{e:#}"), "could not react to the comment");
                        }
                    }
                    self.run_command(&t, number, &user, cmd).await?;
                }
            }
        }
        Ok(())
    }

    async fn run_command(&self, t: &Target, number: u64, user: &str, cmd: Command) -> Result<()> {
        match cmd {
            Command::Help => {
                t.inst
                    .comment(&t.repo, number, &commands::help_text())
                    .await?;
            }
            Command::Recheck => self.gate_pr(t, number, None, true).await?,
            Command::RenderB(r) => {
                let text = match &r {
                    RenderBRef::Pr(n) => format!("#{n}"),
                    RenderBRef::Ref(s) => s.clone(),
                };
                self.store
                    .set_render_b(&t.repo.to_string(), number, &text, user)
                    .await?;
                t.inst
                    .comment(
                        &t.repo,
                        number,
                        &format!("Render B of this pull request is now `{text}` (set by @{user}); gating again."),
                    )
                    .await?;
                self.gate_pr(t, number, None, true).await?;
            }
            Command::Rollback { reason } => {
                let reason = reason.unwrap_or_else(|| "asked in a comment".into());
                self.rollback_and_reply(t, number, &reason, user, "comment")
                    .await?;
            }
        }
        Ok(())
    }

    /// A person's rollback of PR `number` (already authorised), answered on the PR.
    async fn rollback_and_reply(
        &self,
        t: &Target,
        number: u64,
        reason: &str,
        actor: &str,
        trigger: &str,
    ) -> Result<()> {
        let reply = match &self.rollbacks {
            Some(r) => r
                .manual(ManualRollback {
                    inst: &t.inst,
                    repo: &t.repo,
                    clone_url: &t.clone_url,
                    pr: number,
                    reason,
                    actor,
                    trigger,
                })
                .await
                .unwrap_or_else(|e| format!("Rollback failed: {e:#}")),
            None => "Rollback is not available on this server.".to_string(),
        };
        t.inst.comment(&t.repo, number, &reply).await?;
        Ok(())
    }

    async fn on_requested_action(&self, job: &str, p: &Value) -> Result<()> {
        let run = p.pointer("/check_run").context("check_run")?;
        if str_at(p, "/requested_action/identifier") != Some(ROLLBACK_ACTION)
            || str_at(run, "/name") != Some(CHECK_NAME)
            || foreign_app(run, self.app.app_id())
        {
            return Ok(());
        }
        // After a merge GitHub lists no pull request on the run: the PR is in its external id.
        let Some(number) = check_run_pr(run) else {
            warn!(
                check_run = u64_at(run, "/id").unwrap_or(0),
                "the Rollback button was pressed on a check run that names no pull request; nothing was done"
            );
            return Ok(());
        };
        let t = self.target(job, p).await?;
        let user = str_at(p, "/sender/login")
            .context("sender.login")?
            .to_string();
        if !self.authorize(&t, &user).await? {
            t.inst
                .comment(
                    &t.repo,
                    number,
                    &format!(
                        "@{user} the Rollback button needs write permission on {}; nothing was done.",
                        t.repo
                    ),
                )
                .await?;
            return Ok(());
        }
        self.rollback_and_reply(
            &t,
            number,
            "Rollback button on the patchgate check",
            &user,
            "check_action",
        )
        .await?;
        Ok(())
    }
}

enum GateResult {
    /// The gate's outcome, whether the repository is advisory, and notes about render B for
    /// the summary (a `Render-Of` line that was ignored, and why).
    Outcome(Box<CheckOutcome>, bool, Vec<String>),
    ConfigProblems(String),
    /// The head was force-pushed over and can no longer be fetched: `current` is the PR's head.
    Superseded {
        current: String,
    },
    /// Render B was asked for but is not there: the gate does not run on a guess.
    RenderBMissing {
        why: String,
        advisory: bool,
    },
}

/// How a PR's own `Render-Of: #N` line is taken.
enum RenderOf {
    /// No such line.
    None,
    /// Honoured: #N is this PR's render B, and this PR is #N's.
    Linked(u64),
    /// Ignored; the sentence says why, for the summary.
    Ignored(String),
}

/// A full commit id (SHA-1 or SHA-256, hexadecimal).
fn is_full_commit_id(r: &str) -> bool {
    matches!(r.len(), 40 | 64) && r.bytes().all(|c| c.is_ascii_hexdigit())
}

/// The commit `current_ref` names in the mirror at `path`, when it differs from `head` and
/// descends from it (so `head` is an older push of the same PR); else `None`.
fn superseded_in(path: &std::path::Path, current_ref: &str, head: &str) -> Result<Option<String>> {
    let repo = git2::Repository::open(path)?;
    let Ok(current) = repo
        .revparse_single(current_ref)
        .and_then(|o| o.peel_to_commit())
    else {
        return Ok(None);
    };
    let Ok(old) = git2::Oid::from_str(head) else {
        return Ok(None);
    };
    if current.id() == old || repo.find_commit(old).is_err() {
        return Ok(None);
    }
    Ok(repo
        .graph_descendant_of(current.id(), old)?
        .then(|| current.id().to_string()))
}

/// The check run of a head a newer push replaced before it was gated: `cancelled`, which
/// never satisfies a required check (a head pushed again gets a webhook and a run of its own).
fn superseded_result(current: &str) -> CheckRunResult {
    CheckRunResult {
        conclusion: Conclusion::Cancelled,
        title: "Superseded by a newer push".into(),
        summary: format!(
            "A newer commit ({}) was pushed to this pull request before this one was gated; the gate runs on the newer head.",
            short_sha(current)
        ),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The first of `candidates` that names a commit in the mirror at `path`.
fn first_commit(path: &std::path::Path, candidates: &[String]) -> Result<Option<String>> {
    let repo = git2::Repository::open(path)?;
    Ok(candidates
        .iter()
        .find(|c| {
            repo.revparse_single(c)
                .and_then(|o| o.peel_to_commit())
                .is_ok()
        })
        .cloned())
}

/// The check run when render B is not there: blocked (neutral when advisory), saying what to do.
fn render_b_missing_result(why: &str, advisory: bool) -> CheckRunResult {
    let (conclusion, verdict) = if advisory {
        (Conclusion::Neutral, "WOULD BLOCK (advisory)")
    } else {
        (Conclusion::Failure, "BLOCKED")
    };
    CheckRunResult {
        conclusion,
        title: "Render B not found".into(),
        summary: format!(
            "## {verdict} — render B not found\n\n{}.\n\nThe gate did not run. Name an existing render B with `/patchgate render-b #N` (a pull request) or `/patchgate render-b <branch, tag or full commit id>`, or push it and comment `/patchgate recheck`.",
            why
        ),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    }
}

fn command_word(c: &Command) -> &'static str {
    match c {
        Command::Recheck => "recheck",
        Command::RenderB(_) => "render-b",
        Command::Rollback { .. } => "rollback",
        Command::Help => "help",
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The Rollback button.
pub fn rollback_button() -> CheckAction {
    CheckAction {
        label: "Rollback".into(),
        description: "Revert this merge (write access)".into(),
        identifier: ROLLBACK_ACTION.into(),
    }
}

/// The check run's conclusion and output for a gate outcome; `notes` (about render B, e.g. an
/// ignored `Render-Of` line) are shown under the verdict.
pub fn check_result(o: &CheckOutcome, advisory: bool, notes: &[String]) -> CheckRunResult {
    let passed = o.record.quorum_passed;
    let conclusion = match (passed, advisory) {
        (true, _) => Conclusion::Success,
        (false, true) => Conclusion::Neutral,
        (false, false) => Conclusion::Failure,
    };
    let approvals = o.audit.decision.approvals;
    let required = o.audit.decision.required;
    let title = if passed {
        format!("Passed: {approvals} of {required} approvals")
    } else if advisory {
        format!("Would block (advisory): {approvals} of {required} approvals")
    } else {
        format!("Blocked: {approvals} of {required} approvals")
    };
    // Verdict first: `step_summary` opens with it (and carries the config-edit note itself);
    // notes about render B go right under the verdict's heading.
    let mut summary = step_summary(o);
    if !notes.is_empty() {
        let at = summary.find("\n\n").map_or(summary.len(), |i| i + 2);
        let block: String = notes
            .iter()
            .map(|n| format!("> **Render B:** {n}\n\n"))
            .collect();
        summary.insert_str(at, &block);
    }
    let annotations = all_findings(o)
        .into_iter()
        .filter_map(|x| {
            let path = x.f.file.clone().filter(|p| !p.is_empty())?;
            let line = x.f.line.unwrap_or(1).max(1) as u32;
            Some(Annotation {
                path,
                start_line: line,
                end_line: line,
                level: match x.f.severity {
                    Severity::Error => AnnotationLevel::Failure,
                    Severity::Warning => AnnotationLevel::Warning,
                    Severity::Info => AnnotationLevel::Notice,
                },
                title: format!("patchgate {}: {}", x.auditor, x.f.rule),
                message: x.f.message.clone(),
            })
        })
        .collect();
    CheckRunResult {
        conclusion,
        title,
        summary,
        text: Some(format!("```yaml\n{}```", o.yaml)),
        annotations,
        actions: Vec::new(),
    }
}

/// `.github/patchgate.yml` at `commit` of the mirror at `path`, if present.
fn config_text_at(path: &std::path::Path, commit: &str) -> Result<Option<String>> {
    let repo = git2::Repository::open(path)?;
    let oid = git2::Oid::from_str(commit).context("base sha")?;
    let tree = repo.find_commit(oid)?.tree()?;
    let entry = match tree.get_path(std::path::Path::new(
        crate::gate::repo_config::REPO_CONFIG_PATH,
    )) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let blob = entry.to_object(&repo)?.peel_to_blob()?;
    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
}

/// Other repositories' config files (`_extends`, the organisation's `.github`), through the API.
struct ApiConfigSource<'a> {
    inst: &'a Installation,
}

impl crate::gate::repo_config::ConfigSource for ApiConfigSource<'_> {
    fn fetch(&self, repo: &str, path: &str) -> impl Future<Output = Result<Option<String>>> + Send {
        let repo = RepoRef::parse(repo);
        let path = path.to_string();
        async move {
            let repo = repo?;
            self.inst.file(&repo, &path, None).await
        }
    }
}

/// What a reconciliation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Gate jobs queued for pull requests without a live patchgate check run.
    pub queued: usize,
    /// Installations, repositories or pull requests that could not be looked at (each logged
    /// as a warning); the pass went on with the others.
    pub errors: usize,
}

/// The delivery id of the reconciliation pass of the `--reconcile-interval` slot `now` falls
/// in: `patchgate.reconcile:<unix seconds / interval>`. Every replica queues the pass under the
/// same id, so the queue's delivery dedupe runs one pass per slot across replicas.
pub fn reconcile_pass_delivery(
    now: chrono::DateTime<chrono::Utc>,
    every: std::time::Duration,
) -> String {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    format!("{RECONCILE_EVENT}:{}", secs / every.as_secs().max(1))
}

/// Queue this slot's reconciliation pass unless some replica already did; `true` when this
/// call queued it.
pub async fn queue_reconcile_pass(store: &Store, every: std::time::Duration) -> Result<bool> {
    let job = NewJob {
        delivery_id: reconcile_pass_delivery(chrono::Utc::now(), every),
        event: RECONCILE_PASS_EVENT.into(),
        payload: b"{}".to_vec(),
        repo: String::new(),
    };
    Ok(matches!(
        store.enqueue(&job).await?,
        crate::store::Enqueued::New(_)
    ))
}

/// Whether a run counts as the head's patchgate check: completed, or in progress for less
/// than [`STALE_RUN`] (a run whose start GitHub does not give is taken as live).
fn live_run(r: &crate::github::app::CheckRunInfo, now: chrono::DateTime<chrono::Utc>) -> bool {
    if r.status == "completed" {
        // `cancelled` is what a head taken for superseded gets; on a PR's current head (GitHub's
        // API lagged behind the push) it decides nothing, so the head is gated again.
        return r.conclusion.as_deref() != Some("cancelled");
    }
    let stale = chrono::Duration::from_std(STALE_RUN).unwrap_or(chrono::Duration::MAX);
    r.started().is_none_or(|t| now - t < stale)
}

/// Reconciliation: every open, non-draft PR of every installed repository whose head has no
/// live `patchgate/quorum` check run of this App (none, or only runs left in progress for
/// longer than [`STALE_RUN`]) gets a gate job. The delivery id names the head
/// (`reconcile:<repo>#<N>@<sha>`; for a head whose runs are all stale,
/// `…:regate`, so such a head is gated again once, never in a loop). A run counts as live
/// when completed (unless `cancelled`) or in progress for less than [`STALE_RUN`]. A failing installation,
/// repository or API call is logged, counted and skipped: the pass goes on with the rest.
pub async fn reconcile(app: &GitHubApp, store: &Store) -> ReconcileReport {
    let mut report = ReconcileReport::default();
    let installations = match app.installations().await {
        Ok(i) => i,
        Err(e) => {
            warn!(error = %format!("{e:#}"), "reconcile: listing the App's installations failed");
            report.errors += 1;
            return report;
        }
    };
    for inst_id in installations {
        let inst = match app.installation(inst_id).await {
            Ok(i) => i,
            Err(e) => {
                warn!(installation = inst_id, error = %format!("{e:#}"), "reconcile: installation unavailable; skipped");
                report.errors += 1;
                continue;
            }
        };
        let repos = match inst.repositories().await {
            Ok(r) => r,
            Err(e) => {
                warn!(installation = inst_id, error = %format!("{e:#}"), "reconcile: listing the installation's repositories failed; skipped");
                report.errors += 1;
                continue;
            }
        };
        for repo in repos {
            let pulls = match inst.open_pulls(&repo).await {
                Ok(p) => p,
                Err(e) => {
                    warn!(repo = %repo, error = %format!("{e:#}"), "reconcile: listing pull requests failed");
                    report.errors += 1;
                    continue;
                }
            };
            for pr in pulls.into_iter().filter(|p| !p.draft) {
                let runs = match inst
                    .check_runs_for_ref(&repo, &pr.head_sha, CHECK_NAME)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        warn!(repo = %repo, pr = pr.number, error = %format!("{e:#}"), "reconcile: listing check runs failed");
                        report.errors += 1;
                        continue;
                    }
                };
                let now = chrono::Utc::now();
                let ours: Vec<_> = runs.iter().filter(|r| r.name == CHECK_NAME).collect();
                if ours.iter().any(|r| live_run(r, now)) {
                    continue;
                }
                let mut delivery_id = format!("reconcile:{repo}#{}@{}", pr.number, pr.head_sha);
                if !ours.is_empty() {
                    // Runs there, none live: gated again ONCE per head. Keyed on the head, not
                    // the run — a gate that kills its worker each time is parked, leaves its run
                    // in progress, and must not be started afresh every 30 minutes for ever.
                    delivery_id.push_str(":regate");
                }
                let payload = serde_json::json!({
                    "action": "reconcile",
                    "installation": {"id": inst_id},
                    "repository": {"full_name": repo.to_string(), "clone_url": pr.clone_url},
                    "pull_request": {"number": pr.number, "head": {"sha": pr.head_sha}},
                });
                let job = NewJob {
                    delivery_id,
                    event: RECONCILE_EVENT.into(),
                    payload: payload.to_string().into_bytes(),
                    repo: repo.to_string(),
                };
                match store.enqueue(&job).await {
                    Ok(crate::store::Enqueued::New(_)) => {
                        info!(repo = %repo, pr = pr.number, stale = !ours.is_empty(), "reconcile: pull request without a live check run queued");
                        report.queued += 1;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        warn!(repo = %repo, pr = pr.number, error = %e, "reconcile: queueing the gate job failed");
                        report.errors += 1;
                    }
                }
            }
        }
    }
    report
}

/// Fail loudly on an unexpected shape rather than guess.
pub fn require_app(app: Option<GitHubApp>) -> Result<GitHubApp> {
    app.ok_or_else(|| anyhow!("GitHub App credentials are required"))
}

// ---- merge queue ----
//
// A merge queue makes a merge-group commit (branch `gh-readonly-queue/<base>/pr-<N>-<sha>`)
// and waits for every required check on it. patchgate does not audit that commit again: the
// gate judged PR N's change (its renders, its audit quorum) on N's head, and that verdict is
// what the merge group's `patchgate/quorum` run reports. It passes only when this App's latest
// run on N's current head passed (`neutral` when that run was advisory); anything else —
// never gated, still gating, blocked — fails, saying why, and the job never waits.

/// What a merge group's `head_ref` names: the base branch it merges into and the pull request
/// it is for (the last one of the group, whose branch contains those queued before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeGroupRef {
    pub base: String,
    pub pr: u64,
}

/// Why a merge group's `head_ref` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("merge group head_ref {head_ref:?} {why}; expected refs/heads/gh-readonly-queue/<base branch>/pr-<number>-<sha>")]
pub struct BadMergeGroupRef {
    pub head_ref: String,
    pub why: &'static str,
}

/// Read a merge group's `head_ref`: `[refs/heads/]gh-readonly-queue/<base>/pr-<N>-<sha>` (the
/// base may itself contain `/`; N is a positive number; the tail is a hexadecimal commit id).
pub fn parse_merge_group_ref(head_ref: &str) -> Result<MergeGroupRef, BadMergeGroupRef> {
    let bad = |why| BadMergeGroupRef {
        head_ref: head_ref.chars().take(200).collect(),
        why,
    };
    let branch = head_ref.strip_prefix("refs/heads/").unwrap_or(head_ref);
    let rest = branch
        .strip_prefix("gh-readonly-queue/")
        .ok_or_else(|| bad("is not a merge queue branch"))?;
    let (base, entry) = rest
        .rsplit_once('/')
        .ok_or_else(|| bad("names no base branch"))?;
    if base.is_empty() || base.split('/').any(str::is_empty) {
        return Err(bad("has an empty base branch"));
    }
    let (number, sha) = entry
        .strip_prefix("pr-")
        .and_then(|e| e.split_once('-'))
        .ok_or_else(|| bad("does not end in pr-<number>-<sha>"))?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("has no pull request number after pr-"));
    }
    let pr: u64 = number
        .parse()
        .map_err(|_| bad("has a pull request number out of range"))?;
    if pr == 0 {
        return Err(bad("names pull request 0"));
    }
    if sha.is_empty() || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(
            "does not end in a commit id after the pull request number",
        ));
    }
    Ok(MergeGroupRef {
        base: base.to_string(),
        pr,
    })
}

/// The `external_id` of the run job `job` reports merge group of PR `pr` on:
/// `merge_group=<N>;job=<delivery>` (never read as a PR's own run: it does not start `pr=`).
pub fn merge_group_external_id(pr: u64, job: &str) -> String {
    format!("merge_group={pr};job={job}")
}

/// The PR a [`merge_group_external_id`] names.
pub fn merge_group_external_id_pr(id: &str) -> Option<u64> {
    let (pr, _job) = id.strip_prefix("merge_group=")?.split_once(";job=")?;
    pr.parse().ok()
}

/// Where a merge group's PR stands, as far as its `patchgate/quorum` run on the merge group
/// goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeGroupPr {
    /// PR N is not a pull request of the repository.
    Missing,
    /// PR N is closed (or merged) — the queue should not hold it.
    NotOpen { merged: bool },
    /// PR N targets another branch than the merge group.
    OtherBase { pr_base: String },
    /// PR N is open on the group's base; `latest` is this App's latest `patchgate/quorum`
    /// run for N on N's current head `head`, if any.
    Open {
        head: String,
        latest: Option<crate::github::app::CheckRunInfo>,
    },
}

/// This App's latest `patchgate/quorum` run for PR `pr` on `head` among `runs`: named so, on
/// exactly `head`, and whose external id names PR `pr` (a run this App made for another PR on
/// the same commit, or for a merge group, is not PR `pr`'s verdict).
pub fn latest_pr_run(
    runs: &[crate::github::app::CheckRunInfo],
    pr: u64,
    head: &str,
) -> Option<crate::github::app::CheckRunInfo> {
    runs.iter()
        .filter(|r| {
            r.name == CHECK_NAME
                && r.head_sha == head
                && r.external_id.as_deref().and_then(external_id_pr) == Some(pr)
        })
        .max_by_key(|r| r.id)
        .cloned()
}

/// The merge group's check run for PR `pr` standing as `state`; `group_head` is the merge
/// group's commit, `base` its base branch.
pub fn merge_group_result(
    pr: u64,
    group_head: &str,
    base: &str,
    state: &MergeGroupPr,
) -> CheckRunResult {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let not_audited = format!(
        "The merge group's commit `{}` is not audited again: the gate judged #{pr}'s change (its renders and its audit quorum) on #{pr}'s head, and this check reports that verdict. The merge queue's other required checks test the combined commit.",
        short(group_head)
    );
    let requeue = format!(
        "The merge queue takes #{pr} out of the queue when this check fails; add it again once #{pr}'s own `{CHECK_NAME}` check has passed."
    );
    let blocked = |title: String, heading: String, body: String| CheckRunResult {
        conclusion: Conclusion::Failure,
        title,
        summary: format!("## BLOCKED — {heading}\n\n{body}\n\n{requeue}\n\n{not_audited}"),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    };
    let run_link = |r: &crate::github::app::CheckRunInfo| match &r.html_url {
        Some(u) if !u.is_empty() => format!("[check run {}]({u})", r.id),
        _ => format!("check run {}", r.id),
    };
    match state {
        MergeGroupPr::Missing => blocked(
            format!("Blocked: #{pr} is not a pull request here"),
            format!("#{pr} is not a pull request of this repository"),
            format!("The merge group's branch names pull request #{pr}, which this repository does not have, so there is no gate verdict to report."),
        ),
        MergeGroupPr::NotOpen { merged } => {
            let state = if *merged { "merged" } else { "closed" };
            blocked(
                format!("Blocked: #{pr} is {state}"),
                format!("#{pr} is {state}"),
                format!("The merge group is for pull request #{pr}, which is {state}; a gate verdict on it is not reported for a merge group."),
            )
        }
        MergeGroupPr::OtherBase { pr_base } => blocked(
            format!("Blocked: #{pr} targets another branch"),
            format!("#{pr} targets `{pr_base}`, not `{base}`"),
            format!("The merge group merges into `{base}`, but #{pr} targets `{pr_base}`: its gate verdict was reached against another base and is not reported here."),
        ),
        MergeGroupPr::Open { head, latest: None } => blocked(
            format!("Blocked: #{pr} has not been gated"),
            format!("#{pr} has not been gated"),
            format!(
                "patchgate has no `{CHECK_NAME}` run of its own for #{pr} on its head `{}` (a run of that name by anyone else does not count). Comment `/patchgate recheck` on #{pr} to gate it.",
                short(head)
            ),
        ),
        MergeGroupPr::Open {
            head,
            latest: Some(r),
        } if r.status != "completed" => blocked(
            format!("Blocked: #{pr} is still being gated"),
            format!("#{pr}'s gate is still running"),
            format!(
                "patchgate's {} for #{pr} on its head `{}` is still {}{}. The merge group is not held waiting for it.",
                run_link(r),
                short(head),
                r.status.replace('_', " "),
                r.started_at
                    .as_deref()
                    .map(|t| format!(" (started {t})"))
                    .unwrap_or_default()
            ),
        ),
        MergeGroupPr::Open {
            head,
            latest: Some(r),
        } => {
            let concluded = r.conclusion.as_deref().unwrap_or("none");
            let said = format!(
                "patchgate's {} for #{pr} on its head `{}` concluded `{concluded}`.",
                run_link(r),
                short(head)
            );
            match concluded {
                "success" => CheckRunResult {
                    conclusion: Conclusion::Success,
                    title: format!("Passed: #{pr} passed the gate"),
                    summary: format!("## PASSED — #{pr} passed the gate\n\n{said}\n\n{not_audited}"),
                    text: None,
                    annotations: Vec::new(),
                    actions: Vec::new(),
                },
                "neutral" => CheckRunResult {
                    conclusion: Conclusion::Neutral,
                    title: format!("Would block (advisory): #{pr}"),
                    summary: format!(
                        "## WOULD BLOCK (advisory) — #{pr} did not pass the gate\n\n{said} The repository's configuration says `advisory: true`, so its verdict does not block.\n\n{not_audited}"
                    ),
                    text: None,
                    annotations: Vec::new(),
                    actions: Vec::new(),
                },
                _ => blocked(
                    format!("Blocked: #{pr} did not pass the gate"),
                    format!("#{pr} did not pass the gate"),
                    format!("{said} Its summary says why and what to do; once #{pr} passes (fix it and push, or `/patchgate recheck`), the merge group can pass."),
                ),
            }
        }
    }
}

impl AppHandler {
    /// `merge_group` `checks_requested`: report PR N's gate verdict on the merge group's commit.
    /// A `head_ref` that names no PR is logged and dropped (retrying cannot fix it).
    async fn on_merge_group(&self, job: &str, p: &Value) -> Result<()> {
        let group = p.pointer("/merge_group").context("merge_group")?;
        let group_head = str_at(group, "/head_sha").context("merge_group.head_sha")?;
        let head_ref = str_at(group, "/head_ref").context("merge_group.head_ref")?;
        let named = match parse_merge_group_ref(head_ref) {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, merge_group = %group_head, "merge group names no pull request; no check reported on it");
                return Ok(());
            }
        };
        let base = str_at(group, "/base_ref")
            .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string())
            .unwrap_or_else(|| named.base.clone());
        let t = self.target(job, p).await?;
        self.report_merge_group(&t, named.pr, group_head, &base)
            .await
    }

    /// *Re-run* on a merge group's run (`check_run` `rerequested`): the group's commit is the
    /// run's head, its base is in the queue branch the run's suite is on.
    async fn rerun_merge_group(&self, job: &str, p: &Value, run: &Value, pr: u64) -> Result<()> {
        let group_head = str_at(run, "/head_sha").context("check_run.head_sha")?;
        let branch = str_at(run, "/check_suite/head_branch").unwrap_or("");
        let named = match parse_merge_group_ref(branch) {
            Ok(n) if n.pr == pr => n,
            Ok(_) | Err(_) => {
                warn!(pr, merge_group = %group_head, branch, "re-run of a merge group's check whose suite is not on that PR's queue branch; nothing done");
                return Ok(());
            }
        };
        let t = self.target(job, p).await?;
        self.report_merge_group(&t, pr, group_head, &named.base)
            .await
    }

    /// Report PR `pr`'s gate verdict on the merge group's commit `group_head` (into `base`).
    async fn report_merge_group(
        &self,
        t: &Target,
        pr: u64,
        group_head: &str,
        base: &str,
    ) -> Result<()> {
        let state = self.merge_group_pr(t, pr, base).await?;
        let result = merge_group_result(pr, group_head, base, &state);
        let id = self.merge_group_check(t, pr, group_head).await?;
        t.inst.complete_check_run(&t.repo, id, &result).await?;
        info!(
            pr,
            merge_group = %group_head,
            conclusion = result.conclusion.as_str(),
            "merge group checked"
        );
        Ok(())
    }

    /// Where PR `pr` stands for a merge group into `base`.
    async fn merge_group_pr(&self, t: &Target, pr: u64, base: &str) -> Result<MergeGroupPr> {
        let pull = match t.inst.pull(&t.repo, pr).await {
            Ok(p) => p,
            Err(e)
                if crate::github::app::GitHubError::of(&e)
                    .is_some_and(crate::github::app::GitHubError::is_not_found) =>
            {
                return Ok(MergeGroupPr::Missing);
            }
            Err(e) => return Err(e.context(format!("reading #{pr}, named by the merge group"))),
        };
        if pull.state != "open" || pull.merged {
            return Ok(MergeGroupPr::NotOpen {
                merged: pull.merged,
            });
        }
        if pull.base_ref != base {
            return Ok(MergeGroupPr::OtherBase {
                pr_base: pull.base_ref,
            });
        }
        let runs = t
            .inst
            .check_runs_for_ref(&t.repo, &pull.head_sha, CHECK_NAME)
            .await?;
        Ok(MergeGroupPr::Open {
            latest: latest_pr_run(&runs, pr, &pull.head_sha),
            head: pull.head_sha,
        })
    }

    /// This job's run on the merge group's commit: the one an earlier attempt of the job
    /// started, else a new one.
    async fn merge_group_check(&self, t: &Target, pr: u64, group_head: &str) -> Result<u64> {
        let ext = merge_group_external_id(pr, &t.job);
        let runs = self.job_runs(t, group_head, &ext).await?;
        if let Some(r) = runs.iter().max_by_key(|r| r.id) {
            return Ok(r.id);
        }
        t.inst
            .create_check_run(
                &t.repo,
                &NewCheckRun {
                    name: CHECK_NAME.into(),
                    head_sha: group_head.to_string(),
                    external_id: Some(ext),
                    details_url: None,
                    title: "Checking the merge group…".into(),
                    summary: format!("patchgate is reading #{pr}'s gate verdict."),
                },
            )
            .await
    }
}

#[cfg(test)]
mod merge_queue_tests {
    use super::*;
    use crate::github::app::{CheckRunInfo, CheckRunOutputInfo};

    #[test]
    fn a_merge_group_ref_names_its_base_and_pull_request() {
        let sha = "929f8209d40f77f4abc622a499c93a83babdbe64";
        for (r, base, pr) in [
            (
                format!("refs/heads/gh-readonly-queue/main/pr-104-{sha}"),
                "main",
                104,
            ),
            (format!("gh-readonly-queue/main/pr-7-{sha}"), "main", 7),
            (
                format!("refs/heads/gh-readonly-queue/release/1.x/pr-12-{sha}"),
                "release/1.x",
                12,
            ),
        ] {
            assert_eq!(
                parse_merge_group_ref(&r),
                Ok(MergeGroupRef {
                    base: base.into(),
                    pr
                }),
                "{r}"
            );
        }
    }

    #[test]
    fn a_bad_merge_group_ref_is_a_clear_error() {
        let sha = "929f8209d40f77f4abc622a499c93a83babdbe64";
        for (r, why) in [
            ("refs/heads/main".to_string(), "is not a merge queue branch"),
            (
                format!("refs/heads/feature/pr-1-{sha}"),
                "is not a merge queue branch",
            ),
            ("gh-readonly-queue/pr-1-abc".into(), "names no base branch"),
            (
                format!("gh-readonly-queue//pr-1-{sha}"),
                "has an empty base branch",
            ),
            (
                format!("gh-readonly-queue/a//b/pr-1-{sha}"),
                "has an empty base branch",
            ),
            (
                format!("gh-readonly-queue/main/pull-1-{sha}"),
                "does not end in pr-<number>-<sha>",
            ),
            (
                "gh-readonly-queue/main/pr-1".into(),
                "does not end in pr-<number>-<sha>",
            ),
            (
                format!("gh-readonly-queue/main/pr--{sha}"),
                "has no pull request number after pr-",
            ),
            (
                format!("gh-readonly-queue/main/pr-x1-{sha}"),
                "has no pull request number after pr-",
            ),
            (
                format!("gh-readonly-queue/main/pr-+1-{sha}"),
                "has no pull request number after pr-",
            ),
            (
                format!("gh-readonly-queue/main/pr-0-{sha}"),
                "names pull request 0",
            ),
            (
                format!("gh-readonly-queue/main/pr-99999999999999999999999-{sha}"),
                "has a pull request number out of range",
            ),
            (
                "gh-readonly-queue/main/pr-1-".into(),
                "does not end in a commit id after the pull request number",
            ),
            (
                "gh-readonly-queue/main/pr-1-xyz".into(),
                "does not end in a commit id after the pull request number",
            ),
            (String::new(), "is not a merge queue branch"),
        ] {
            let e = parse_merge_group_ref(&r).expect_err(&r);
            assert_eq!(e.why, why, "{r}");
            let text = e.to_string();
            assert!(
                text.contains(why)
                    && text.contains("gh-readonly-queue/<base branch>/pr-<number>-<sha>"),
                "{text}"
            );
        }
        // A long ref is cut in the message.
        let long = format!("refs/heads/{}", "x".repeat(5000));
        assert!(parse_merge_group_ref(&long).unwrap_err().to_string().len() < 400);
    }

    #[test]
    fn a_merge_group_run_is_never_taken_for_the_prs_own() {
        let id = merge_group_external_id(4, "d-1");
        assert_eq!(id, "merge_group=4;job=d-1");
        assert_eq!(external_id_pr(&id), None);
        assert_eq!(merge_group_external_id_pr(&id), Some(4));
        assert_eq!(merge_group_external_id_pr(&external_id(4, "d-1")), None);
        assert_eq!(merge_group_external_id_pr("merge_group=x;job=d"), None);
    }

    fn run(
        id: u64,
        head: &str,
        ext: Option<&str>,
        status: &str,
        conclusion: Option<&str>,
    ) -> CheckRunInfo {
        CheckRunInfo {
            id,
            name: CHECK_NAME.into(),
            head_sha: head.into(),
            status: status.into(),
            conclusion: conclusion.map(str::to_string),
            external_id: ext.map(str::to_string),
            started_at: Some("2026-01-01T00:00:00Z".into()),
            output: CheckRunOutputInfo::default(),
            html_url: Some(format!("https://github.com/o/r/runs/{id}")),
        }
    }

    #[test]
    fn the_latest_run_for_the_pr_on_its_head_is_the_verdict() {
        let h = "a".repeat(40);
        let runs = vec![
            run(5, &h, Some("pr=1;job=d-1"), "completed", Some("success")),
            run(9, &h, Some("pr=1;job=d-2"), "completed", Some("failure")),
            // Another PR on the same commit, a merge group's run, another head, no id.
            run(12, &h, Some("pr=2;job=d-3"), "completed", Some("success")),
            run(
                13,
                &h,
                Some("merge_group=1;job=d-4"),
                "completed",
                Some("success"),
            ),
            run(
                14,
                &"b".repeat(40),
                Some("pr=1;job=d-5"),
                "completed",
                Some("success"),
            ),
            run(15, &h, None, "completed", Some("success")),
        ];
        assert_eq!(latest_pr_run(&runs, 1, &h).map(|r| r.id), Some(9));
        assert_eq!(latest_pr_run(&runs, 3, &h), None);
    }

    fn conclude(latest: Option<CheckRunInfo>) -> CheckRunResult {
        merge_group_result(
            1,
            &"c".repeat(40),
            "main",
            &MergeGroupPr::Open {
                head: "a".repeat(40),
                latest,
            },
        )
    }

    #[test]
    fn a_merge_group_passes_only_on_a_passing_run() {
        let h = "a".repeat(40);
        let pass = conclude(Some(run(
            5,
            &h,
            Some("pr=1;job=d"),
            "completed",
            Some("success"),
        )));
        assert_eq!(pass.conclusion, Conclusion::Success);
        assert!(
            pass.summary.contains("not audited again"),
            "{}",
            pass.summary
        );
        assert!(
            pass.summary.contains("https://github.com/o/r/runs/5"),
            "{}",
            pass.summary
        );
        let advisory = conclude(Some(run(
            5,
            &h,
            Some("pr=1;job=d"),
            "completed",
            Some("neutral"),
        )));
        assert_eq!(advisory.conclusion, Conclusion::Neutral);
        for (latest, says) in [
            (None, "has not been gated"),
            (
                Some(run(6, &h, Some("pr=1;job=d"), "in_progress", None)),
                "still in progress",
            ),
            (
                Some(run(6, &h, Some("pr=1;job=d"), "queued", None)),
                "still queued",
            ),
            (
                Some(run(7, &h, Some("pr=1;job=d"), "completed", Some("failure"))),
                "concluded `failure`",
            ),
            (
                Some(run(
                    7,
                    &h,
                    Some("pr=1;job=d"),
                    "completed",
                    Some("cancelled"),
                )),
                "concluded `cancelled`",
            ),
            (
                Some(run(7, &h, Some("pr=1;job=d"), "completed", None)),
                "concluded `none`",
            ),
        ] {
            let r = conclude(latest);
            assert_eq!(r.conclusion, Conclusion::Failure, "{says}");
            assert!(r.summary.starts_with("## BLOCKED"), "{}", r.summary);
            assert!(r.summary.contains(says), "{says}: {}", r.summary);
            assert!(r.summary.contains("add it again"), "{}", r.summary);
            assert!(r.summary.contains("not audited again"), "{}", r.summary);
        }
        for state in [
            MergeGroupPr::Missing,
            MergeGroupPr::NotOpen { merged: false },
            MergeGroupPr::NotOpen { merged: true },
            MergeGroupPr::OtherBase {
                pr_base: "dev".into(),
            },
        ] {
            let r = merge_group_result(1, &"c".repeat(40), "main", &state);
            assert_eq!(r.conclusion, Conclusion::Failure, "{state:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::app::{CheckRunInfo, CheckRunOutputInfo};
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    #[test]
    fn external_ids_name_the_pull_request_and_the_job() {
        let id = external_id(17, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(id, "pr=17;job=72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(external_id_pr(&id), Some(17));
        // A job id with the separators in it still reads back the PR.
        assert_eq!(
            external_id_pr(&external_id(3, "reconcile:o/r#3@abc;job=x")),
            Some(3)
        );
        for other in ["", "42", "pr=;job=d", "pr=x;job=d", "pr=4", "job=d;pr=4"] {
            assert_eq!(external_id_pr(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_webhook_check_run_names_its_pr_by_external_id_then_by_listed_prs() {
        let run =
            serde_json::json!({"external_id": "pr=5;job=d", "pull_requests": [{"number": 9}]});
        assert_eq!(check_run_pr(&run), Some(5));
        let run = serde_json::json!({"external_id": "", "pull_requests": [{"number": 9}]});
        assert_eq!(check_run_pr(&run), Some(9));
        let run = serde_json::json!({"external_id": null, "pull_requests": []});
        assert_eq!(check_run_pr(&run), None);
        assert!(foreign_app(
            &serde_json::json!({"app": {"id": 15368}}),
            4242
        ));
        assert!(!foreign_app(
            &serde_json::json!({"app": {"id": 4242}}),
            4242
        ));
        assert!(!foreign_app(&serde_json::json!({}), 4242));
    }

    #[test]
    fn one_reconciliation_pass_per_interval_slot() {
        let every = Duration::from_secs(600);
        let t = |s| Utc.timestamp_opt(s, 0).unwrap();
        assert_eq!(
            reconcile_pass_delivery(t(1_800_000_000), every),
            "patchgate.reconcile:3000000"
        );
        assert_eq!(
            reconcile_pass_delivery(t(1_800_000_599), every),
            reconcile_pass_delivery(t(1_800_000_000), every)
        );
        assert_ne!(
            reconcile_pass_delivery(t(1_800_000_600), every),
            reconcile_pass_delivery(t(1_800_000_599), every)
        );
    }

    #[tokio::test]
    async fn replicas_queue_the_pass_of_a_slot_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).await.unwrap();
        // A slot of about 32 years: both ticks fall in the same one.
        let every = Duration::from_secs(1 << 30);
        assert!(queue_reconcile_pass(&store, every).await.unwrap());
        assert!(!queue_reconcile_pass(&store, every).await.unwrap());
        store.close().await;
    }

    fn run(status: &str, started: Option<String>) -> CheckRunInfo {
        CheckRunInfo {
            id: 1,
            name: CHECK_NAME.into(),
            head_sha: "a".repeat(40),
            status: status.into(),
            conclusion: None,
            external_id: None,
            started_at: started,
            output: CheckRunOutputInfo::default(),
            html_url: None,
        }
    }

    #[test]
    fn a_run_left_in_progress_goes_stale() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let ago = |m: i64| {
            Some(
                (now - chrono::Duration::minutes(m))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )
        };
        assert!(live_run(&run("in_progress", ago(5)), now));
        assert!(live_run(&run("in_progress", ago(29)), now));
        assert!(!live_run(&run("in_progress", ago(31)), now));
        assert!(!live_run(&run("queued", ago(120)), now));
        assert!(live_run(&run("completed", ago(600)), now));
        // No start given: taken as live rather than gated twice.
        assert!(live_run(&run("in_progress", None), now));
        // A completed run decides, but for `cancelled` (a head taken for superseded).
        for (conclusion, live) in [("success", true), ("failure", true), ("cancelled", false)] {
            let mut r = run("completed", ago(600));
            r.conclusion = Some(conclusion.into());
            assert_eq!(live_run(&r, now), live, "{conclusion}");
        }
    }
}
