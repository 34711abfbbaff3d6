//! The gate on a pull request: fetch its base, head and render B into the mirror, read the
//! repository's configuration from the base, run [`run_check_with`] (with the maintainer's vote
//! standing on the head in the ledger, if any) and complete this job's check
//! run with the verdict (or with why the gate could not run); with a signing key, the signed
//! records are pushed to the repository first (see [`super::publish`]). A head a newer push
//! superseded is not gated.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tracing::{info, warn, Instrument as _};

use super::messages::{
    check_result, config_problems_result, gate_failed_result, render_b_missing_result,
    rollback_button, superseded_result, vote_buttons,
};
use super::render_of::RenderOf;
use super::{AppHandler, Target};
use crate::astdiff::DiffOptions;
use crate::gate::check::{run_check_with, CheckOutcome, CheckRequest, RenderBSource};
use crate::gate::repo_config::{self, ConfigSource};
use crate::github::app::{Installation, PullInfo, RepoName};
use crate::meta::decision::{HumanVote, Path as GatePath};
use crate::meta::human::standing_vote;

impl AppHandler {
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
    pub(super) async fn gate_pr(
        &self,
        t: &Target,
        number: u64,
        head: Option<&str>,
        follow_render_of: bool,
    ) -> Result<()> {
        self.gate_pr_voting(t, number, head, follow_render_of, None)
            .await
    }

    /// [`AppHandler::gate_pr`] with a maintainer's vote just cast on PR `number` (it is sealed
    /// into the ledger with the record). Without one, the vote standing on the head in the
    /// ledger, if any, is used.
    pub(super) async fn gate_pr_voting(
        &self,
        t: &Target,
        number: u64,
        head: Option<&str>,
        follow_render_of: bool,
        vote: Option<HumanVote>,
    ) -> Result<()> {
        let pull = t.inst.pull(&t.repo, number).await?;
        let head = head.unwrap_or(&pull.head_sha).to_string();
        let render_of = self.declared_render_of(t, &pull).await?;
        // One span per gated head: the check run, the gate, its auditors and GitHub calls.
        let span = tracing::info_span!(
            "gate",
            pr = number,
            head = %head,
            patchgate.quorum_passed = tracing::field::Empty,
        );
        self.gate_one(t, number, pull, head, &render_of, vote)
            .instrument(span)
            .await?;
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

    /// Gate one pull request, `pull` at `head`, and complete its check run.
    async fn gate_one(
        &self,
        t: &Target,
        number: u64,
        pull: PullInfo,
        head: String,
        render_of: &RenderOf,
        vote: Option<HumanVote>,
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
        match self
            .run_gate(t, number, &pull, &head, render_of, vote)
            .await
        {
            Ok(GateResult::Outcome(outcome, advisory, notes)) => {
                let mut result = check_result(&outcome, advisory, &notes);
                result.actions = buttons;
                // An escalated change of an open PR: a maintainer may decide it from the run
                // (the same vote as `/patchgate approve|block`, bound to this head).
                if outcome.gate.path == GatePath::Escalated && !pull.merged {
                    result.actions.extend(vote_buttons());
                }
                self.observe(&outcome);
                tracing::Span::current()
                    .record("patchgate.quorum_passed", outcome.record.quorum_passed);
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
                let mut result = config_problems_result(&pull.base_ref, &text);
                result.actions = buttons;
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
                let mut result = gate_failed_result(&e);
                result.actions = buttons;
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

    async fn run_gate(
        &self,
        t: &Target,
        number: u64,
        pull: &PullInfo,
        head: &str,
        render_of: &RenderOf,
        vote: Option<HumanVote>,
    ) -> Result<GateResult> {
        let choice = self.choose_render_b(t, number, pull, render_of).await?;
        let lookup = choice.lookup();
        let mut refspecs = vec![
            format!("+refs/heads/{0}:refs/heads/{0}", pull.base_ref),
            format!("+refs/pull/{number}/head:refs/pull/{number}/head"),
        ];
        refspecs.extend(lookup.refspecs);
        let candidates = lookup.candidates;
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
        if let Some(spec) = lookup.by_id {
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
        let resolved = repo_config::resolve(local.as_deref(), &t.repo.to_string(), &source).await;
        if !resolved.problems.is_empty() {
            return Ok(GateResult::ConfigProblems(repo_config::render_problems(
                &resolved.problems,
            )));
        }
        let advisory = resolved.config.advisory;

        let render_b = if candidates.is_empty() {
            // No render B linked: the builder the repository config asks for, if any.
            self.render_b_on_demand(t, number, pull, head, &path, &resolved.config)
                .await?
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
                    let why = choice.missing_why(&t.repo, fetch_error);
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
        // The maintainer's vote: the one just cast, else the one standing on this head.
        let human = match vote {
            Some(v) => Some(v),
            None => {
                let repo = t.repo.to_string();
                let rows = self.store.ledger_rows_for_head(&repo, head).await?;
                standing_vote(&rows, &repo, head)
            }
        };
        let env = self.gate.env.clone();
        let env_fn = move |k: &str| env(k);
        let outcome = run_check_with(
            &self.gate.settings,
            Arc::new(self.store.clone()),
            self.gate.registry.clone(),
            self.gate.rules.clone(),
            &req,
            &env_fn,
            human,
        )
        .await?;
        // The signed note, its signature and the ledger's anchor leave the mirror for the
        // repository before the check run says the gate decided.
        if self.signs_records() {
            self.publish_records(t).await;
        }
        Ok(GateResult::Outcome(
            Box::new(outcome),
            advisory,
            choice.notes,
        ))
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

/// The commit `current_ref` names in the mirror at `path`, when it differs from `head` and
/// descends from it (so `head` is an older push of the same PR); else `None`.
fn superseded_in(path: &Path, current_ref: &str, head: &str) -> Result<Option<String>> {
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

/// The first of `candidates` that names a commit in the mirror at `path`.
fn first_commit(path: &Path, candidates: &[String]) -> Result<Option<String>> {
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

/// `.github/patchgate.yml` at `commit` of the mirror at `path`, if present.
fn config_text_at(path: &Path, commit: &str) -> Result<Option<String>> {
    let repo = git2::Repository::open(path)?;
    let oid = git2::Oid::from_str(commit).context("base sha")?;
    let tree = repo.find_commit(oid)?.tree()?;
    let entry = match tree.get_path(Path::new(repo_config::REPO_CONFIG_PATH)) {
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

impl ConfigSource for ApiConfigSource<'_> {
    fn fetch(&self, repo: &str, path: &str) -> impl Future<Output = Result<Option<String>>> + Send {
        let repo = RepoName::parse(repo);
        let path = path.to_string();
        async move {
            let repo = repo?;
            self.inst.file(&repo, &path, None).await
        }
    }
}
