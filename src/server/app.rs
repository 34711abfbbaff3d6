//! What the GitHub App does with a job: the gate on pull requests (reported as a check run),
//! comment commands, check-run buttons and re-runs, and reconciliation of missed deliveries.
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

use anyhow::{anyhow, bail, Context, Result};
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
/// Internal event of reconciliation jobs.
pub const RECONCILE_EVENT: &str = "patchgate.reconcile";

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

/// The repository and installation a payload is about.
struct Target {
    inst: Installation,
    repo: RepoRef,
    clone_url: String,
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
            self.dispatch(&job.event, &payload).await
        })
    }
}

impl AppHandler {
    async fn dispatch(&self, event: &str, p: &Value) -> Result<()> {
        let action = str_at(p, "/action").unwrap_or("");
        match (event, action) {
            ("pull_request", "opened" | "synchronize" | "reopened" | "ready_for_review") => {
                let t = self.target(p).await?;
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
                let t = self.target(p).await?;
                let head = str_at(p, "/pull_request/head/sha").context("pull_request.head.sha")?;
                self.offer_rollback(&t, head).await
            }
            (RECONCILE_EVENT, _) => {
                let t = self.target(p).await?;
                let number = u64_at(p, "/pull_request/number").context("pull_request.number")?;
                let head = str_at(p, "/pull_request/head/sha").context("pull_request.head.sha")?;
                self.gate_pr(&t, number, Some(head), true).await
            }
            ("issue_comment", "created") => self.on_comment(p).await,
            ("check_run", "rerequested") | ("check_suite", "rerequested") => {
                let key = if event == "check_run" {
                    "/check_run"
                } else {
                    "/check_suite"
                };
                if event == "check_run" && str_at(p, "/check_run/name") != Some(CHECK_NAME) {
                    return Ok(());
                }
                let t = self.target(p).await?;
                let prs = p
                    .pointer(&format!("{key}/pull_requests"))
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
            ("check_run", "requested_action") => self.on_requested_action(p).await,
            ("check_run", "completed") | ("status", _) => match &self.rollbacks {
                Some(r) => {
                    let t = self.target(p).await?;
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

    async fn target(&self, p: &Value) -> Result<Target> {
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
        let check_id = self.start_check(t, &head).await?;
        match self.run_gate(t, number, &pull, &head, render_of).await {
            Ok(GateResult::Outcome(outcome, advisory, notes)) => {
                let result = check_result(&outcome, advisory, &notes);
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
                    actions: Vec::new(),
                };
                t.inst
                    .complete_check_run(&t.repo, check_id, &result)
                    .await?;
                Ok(())
            }
            Ok(GateResult::RenderBMissing { why, advisory }) => {
                let result = render_b_missing_result(&why, advisory);
                t.inst
                    .complete_check_run(&t.repo, check_id, &result)
                    .await?;
                info!(pr = number, head = %head, "render B not found: the gate did not run");
                Ok(())
            }
            Err(e) => {
                // Say so on the check (it would otherwise stay in progress), then let the job
                // retry: the next attempt finds this run and completes it.
                let result = CheckRunResult {
                    conclusion: Conclusion::Failure,
                    title: "patchgate could not decide".into(),
                    summary: format!(
                        "## BLOCKED — the gate failed to run\n\n```\n{}\n```\n\nThe job is retried automatically; `/patchgate recheck` runs it again.",
                        truncate(&format!("{e:#}"), 4000)
                    ),
                    text: None,
                    annotations: Vec::new(),
                    actions: Vec::new(),
                };
                if let Err(e2) = t.inst.complete_check_run(&t.repo, check_id, &result).await {
                    warn!(error = %format!("{e2:#}"), "could not report the failure on the check run");
                }
                Err(e)
            }
        }
    }

    /// The in-progress `patchgate/quorum` run on `head`: an earlier attempt's (a retried job),
    /// else a new one.
    async fn start_check(&self, t: &Target, head: &str) -> Result<u64> {
        let runs = t.inst.check_runs_for_ref(&t.repo, head, CHECK_NAME).await?;
        if let Some(r) = runs
            .iter()
            .find(|r| r.name == CHECK_NAME && r.head_sha == head && r.status != "completed")
        {
            return Ok(r.id);
        }
        t.inst
            .create_check_run(
                &t.repo,
                &NewCheckRun {
                    name: CHECK_NAME.into(),
                    head_sha: head.to_string(),
                    external_id: None,
                    details_url: None,
                    title: "Gating…".into(),
                    summary: "patchgate is comparing the renders and asking its auditors.".into(),
                },
            )
            .await
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
                for other in t.inst.open_pulls(&t.repo).await? {
                    if other.number == number
                        || other.body.as_deref().and_then(commands::render_of) != Some(number)
                    {
                        continue;
                    }
                    match self.render_of_problem(t, &other, pull).await? {
                        None => {
                            render_b_pr = Some(other.number);
                            break;
                        }
                        Some(why) => notes.push(format!(
                            "#{} declares `Render-Of: #{number}`, but {why}; it is not taken as render B.",
                            other.number
                        )),
                    }
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

    /// After a merge: the check run on the merged head offers a Rollback button.
    async fn offer_rollback(&self, t: &Target, head: &str) -> Result<()> {
        let runs = t.inst.check_runs_for_ref(&t.repo, head, CHECK_NAME).await?;
        for r in runs.iter().filter(|r| r.status == "completed") {
            t.inst
                .set_check_run_actions(&t.repo, r.id, &[rollback_button()])
                .await?;
        }
        Ok(())
    }

    async fn on_comment(&self, p: &Value) -> Result<()> {
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
        let t = self.target(p).await?;
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

    async fn on_requested_action(&self, p: &Value) -> Result<()> {
        if str_at(p, "/requested_action/identifier") != Some(ROLLBACK_ACTION)
            || str_at(p, "/check_run/name") != Some(CHECK_NAME)
        {
            return Ok(());
        }
        let t = self.target(p).await?;
        let user = str_at(p, "/sender/login")
            .context("sender.login")?
            .to_string();
        let prs = p
            .pointer("/check_run/pull_requests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let number = match prs.first().and_then(|pr| u64_at(pr, "/number")) {
            Some(n) => n,
            None => bail!("the check run names no pull request to roll back"),
        };
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

/// Reconciliation: every open, non-draft PR of every installed repository whose head has no
/// `patchgate/quorum` check run gets a gate job. The delivery id names the head, so several
/// replicas reconciling at once queue one job.
pub async fn reconcile(app: &GitHubApp, store: &Store) -> Result<usize> {
    let mut queued = 0;
    for inst_id in app.installations().await? {
        let inst = app.installation(inst_id).await?;
        for repo in inst.repositories().await? {
            let pulls = match inst.open_pulls(&repo).await {
                Ok(p) => p,
                Err(e) => {
                    warn!(repo = %repo, error = %format!("{e:#}"), "reconcile: listing pull requests failed");
                    continue;
                }
            };
            for pr in pulls.into_iter().filter(|p| !p.draft) {
                let runs = inst
                    .check_runs_for_ref(&repo, &pr.head_sha, CHECK_NAME)
                    .await?;
                if runs.iter().any(|r| r.name == CHECK_NAME) {
                    continue;
                }
                let payload = serde_json::json!({
                    "action": "reconcile",
                    "installation": {"id": inst_id},
                    "repository": {"full_name": repo.to_string(), "clone_url": pr.clone_url},
                    "pull_request": {"number": pr.number, "head": {"sha": pr.head_sha}},
                });
                let job = NewJob {
                    delivery_id: format!("reconcile:{repo}#{}@{}", pr.number, pr.head_sha),
                    event: RECONCILE_EVENT.into(),
                    payload: serde_json::to_vec(&payload)?,
                    repo: repo.to_string(),
                };
                if let crate::store::Enqueued::New(_) = store.enqueue(&job).await? {
                    info!(repo = %repo, pr = pr.number, "reconcile: missed pull request queued");
                    queued += 1;
                }
            }
        }
    }
    Ok(queued)
}

/// Fail loudly on an unexpected shape rather than guess.
pub fn require_app(app: Option<GitHubApp>) -> Result<GitHubApp> {
    app.ok_or_else(|| anyhow!("GitHub App credentials are required"))
}
