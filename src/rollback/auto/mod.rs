//! The rollback orchestrator: from a judged policy event (or a person's request) to a revert
//! pushed exactly once, with its ledger entry, a comment on the pull request and a metric.
//!
//! [`Orchestrator::on_event`] attributes an event's commit to the merge that introduced it on
//! the default branch ([`attribution`]), gathers the merge's facts (its decision record — the
//! ledger first, then the git note on the pull request's head —, labels from the [`Forge`],
//! reverts on the branch, the parent's baseline from the store), asks
//! [`crate::policy::evaluate`] and, on `Revert`, runs the one rollback flow that
//! [`Orchestrator::manual_rollback`] (`/patchgate rollback`, the check run's button,
//! `patchgate rollback --github`) shares:
//!
//! 1. record the rollback (`rollbacks` row, state `planned`; `UNIQUE (repo, merge)` turns a
//!    second attempt into a resumption of the first);
//! 2. plan the revert on the freshly fetched mirror and commit it under a private ref
//!    (`refs/patchgate/rollback/<merge>`), then record `committed` with its sha;
//! 3. push it (action `push`: to the default branch, fast-forward only; a push that loses a
//!    race refetches, re-plans on the new tip and retries, [`PUSH_RETRIES`] times; action
//!    `pull-request`: to `patchgate/revert-<short>`, then a labelled revert PR; action
//!    `comment`: no push), then record `pushed`;
//! 4. append the ledger entry, comment on the pull request, count
//!    `patchgate_rollback_triggered_total{trigger}`, record `reported`.
//!
//! Every step first looks at where the previous attempt got (a revert of the merge already on
//! the remote branch is *the* revert), so a process killed anywhere and restarted —
//! [`Orchestrator::resume_pending`] at start-up and periodically — ends with one revert or a
//! clearly reported failure. `PATCHGATE_FAILPOINT=<step>` (read once, at construction) aborts
//! the process at a [`Step`], to test exactly that.
//!
//! What it must never do: push a conflicting revert (a conflict records `failed` and comments
//! the paths), revert a merge twice, revert a revert without a person, force-push, or put a
//! token in a log, an error, a comment or a commit message.

pub mod attribution;
pub mod forge;
pub mod git;
mod report;

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use crate::meta::notes;
use crate::policy::{
    evaluate, Decision, MergeFacts, PolicyEvent, PolicySet, RepoState, RollbackAction,
};
use crate::rollback::sink::{Applied, EventSink, RollbackMetrics};
use crate::rollback::{
    find_pr_merge, find_reverts_of, plan_revert_with, RevertMessage, RevertOptions, RevertReason,
    RevertTarget, RollbackError,
};
use crate::store::rollbacks::{Begun, NewRollback, RollbackRow, RollbackState};
use crate::store::Store;

use attribution::{introducing, merge_git, resolve_commit, ChainCache, MergeGit};
pub use forge::{Forge, GitHubForge, LocalAction, LocalForge, PrInfo, RevertPr};
pub use git::{GitAccess, LocalGit, PushError};

/// Environment variable naming the [`Step`] at which to abort (tests only).
pub const FAILPOINT_ENV: &str = "PATCHGATE_FAILPOINT";

/// How many times a push that lost a race is refetched, re-planned and retried.
pub const PUSH_RETRIES: u32 = 3;

/// A repository's rollback settings (`rollback:` in its config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackSettings {
    /// What to do with a revert.
    pub action: RollbackAction,
    /// Labels of a revert pull request.
    pub labels: Vec<String>,
}

/// A point of the flow where `PATCHGATE_FAILPOINT` can abort the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The row is recorded `planned`.
    AfterPlanned,
    /// The revert commit is made and recorded `committed`.
    AfterCommit,
    /// The revert is pushed and recorded `pushed`.
    AfterPush,
    /// The ledger entry is appended and recorded.
    AfterLedger,
    /// The comment is posted and recorded.
    AfterComment,
}

impl Step {
    /// Every step, in flow order.
    pub const ALL: [Step; 5] = [
        Step::AfterPlanned,
        Step::AfterCommit,
        Step::AfterPush,
        Step::AfterLedger,
        Step::AfterComment,
    ];

    /// The name `PATCHGATE_FAILPOINT` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::AfterPlanned => "after-planned",
            Step::AfterCommit => "after-commit",
            Step::AfterPush => "after-push",
            Step::AfterLedger => "after-ledger",
            Step::AfterComment => "after-comment",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.as_str() == s.trim())
    }
}

/// "Now", injected.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How a rollback ended (or where it stands, if a step failed and will be resumed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackOutcome {
    /// The rollback's row as it is now (`reported` or `failed` when finished).
    pub row: RollbackRow,
    /// The merge had been rolled back (or had failed) before this call: nothing was done.
    pub already_done: bool,
}

/// An event judged: the decision and what it was judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// The policy's decision.
    pub decision: Decision,
    /// The merge's facts, when the event was attributed to a merge.
    pub facts: Option<MergeFacts>,
    /// The merge's decision record hash, when it has one.
    pub record_hash: Option<String>,
    /// The merge's pull request, when known.
    pub pr: Option<PrInfo>,
}

/// Why a rollback was asked for, as stored in the row's `reason` column (JSON), so a resumed
/// rollback writes the same commit message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct StoredReason {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    manual: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    /// One human line.
    text: String,
}

impl StoredReason {
    fn parse(s: &str) -> StoredReason {
        serde_json::from_str(s).unwrap_or_else(|_| StoredReason {
            text: s.to_string(),
            ..StoredReason::default()
        })
    }

    fn revert_reason(&self) -> RevertReason {
        match (&self.policy, &self.observed) {
            (Some(p), Some(o)) => RevertReason::Policy {
                policy: p.clone(),
                observed: o.clone(),
            },
            _ => {
                let r = match (&self.manual, &self.actor) {
                    (Some(m), Some(a)) if !m.trim().is_empty() => Some(format!("{m} (by {a})")),
                    (_, Some(a)) => Some(format!("asked by {a}")),
                    (Some(m), None) => Some(m.clone()),
                    (None, None) => None,
                };
                RevertReason::Manual(r)
            }
        }
    }
}

/// Everything the git part of a rollback needs, rebuilt from the row when resuming.
#[derive(Debug, Clone)]
struct Plan {
    branch: String,
    target: RevertTarget,
    title: Option<String>,
    reason: StoredReason,
}

/// What one look at the mirror found.
enum GitStep {
    /// The revert is already on the remote branch (ours, from an earlier attempt).
    Found(Oid),
    /// A revert commit ready to push, under the private ref.
    Ready(Oid),
    /// The revert cannot be made (a conflict, or a refusal): nothing was written.
    Refused(RollbackError),
}

/// The orchestrator. Cheap to share (`Arc`); one per process.
pub struct Orchestrator {
    store: Store,
    git: Arc<dyn GitAccess>,
    forge: Arc<dyn Forge>,
    metrics: Option<Arc<dyn RollbackMetrics>>,
    policy: PolicySet,
    settings: RollbackSettings,
    clock: Clock,
    failpoint: Option<Step>,
    chains: Arc<ChainCache>,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Signs the revert commits when set (see [`Orchestrator::with_signing_key`]).
    signing_key: Option<Arc<crate::meta::sshsig::SigningKey>>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("settings", &self.settings)
            .field("failpoint", &self.failpoint)
            .finish_non_exhaustive()
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn private_ref(merge: &str) -> String {
    format!("refs/patchgate/rollback/{merge}")
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn pr_branch(merge: &str) -> String {
    format!("patchgate/revert-{}", short(merge))
}

/// Run blocking git work off the async threads.
async fn blocking<T, F>(f: F) -> anyhow::Result<T>
where
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .context("git task panicked")?
}

impl Orchestrator {
    /// An orchestrator over `store`, a repository access and a forge, with a policy (embedded
    /// defaults overlaid with the repository's `policy:`) and rollback settings. Reads
    /// `PATCHGATE_FAILPOINT` once, here.
    pub fn new(
        store: Store,
        git: Arc<dyn GitAccess>,
        forge: Arc<dyn Forge>,
        policy: PolicySet,
        settings: RollbackSettings,
    ) -> Orchestrator {
        let failpoint = std::env::var(FAILPOINT_ENV)
            .ok()
            .and_then(|s| Step::parse(&s));
        Orchestrator {
            store,
            git,
            forge,
            metrics: None,
            policy,
            settings,
            clock: Arc::new(Utc::now),
            failpoint,
            chains: Arc::new(ChainCache::default()),
            locks: std::sync::Mutex::new(HashMap::new()),
            signing_key: None,
        }
    }

    /// Sign the revert commits with `key` (the deployment's key, `PATCHGATE_SIGNING_KEY`).
    pub fn with_signing_key(
        mut self,
        key: Option<Arc<crate::meta::sshsig::SigningKey>>,
    ) -> Orchestrator {
        self.signing_key = key;
        self
    }

    /// Count rollbacks in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn RollbackMetrics>) -> Orchestrator {
        self.metrics = Some(metrics);
        self
    }

    /// Use `clock` for "now".
    pub fn with_clock(mut self, clock: Clock) -> Orchestrator {
        self.clock = clock;
        self
    }

    /// Override the fail point read from the environment.
    pub fn with_failpoint(mut self, step: Option<Step>) -> Orchestrator {
        self.failpoint = step;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn hit(&self, step: Step) {
        if self.failpoint == Some(step) {
            eprintln!("patchgate: fail point {} reached: aborting", step.as_str());
            std::process::abort();
        }
    }

    /// One rollback at a time per repository in this process (they share a mirror).
    async fn lock(&self, repo: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = match self.locks.lock() {
            Ok(mut map) => map.entry(repo.to_string()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        };
        m.lock_owned().await
    }

    /// Judge one event and act on the decision: the [`EventSink`] entry.
    pub async fn on_event(&self, event: PolicyEvent, _event_row: i64) -> anyhow::Result<Applied> {
        let _guard = self.lock(&event.repo).await;
        let judged = self.judge(&event).await?;
        let merge_sha = judged.facts.as_ref().map(|f| f.merge_sha.clone());
        if let Decision::Revert {
            policy,
            observed,
            merge,
            reason,
            ..
        } = &judged.decision
        {
            let stored = StoredReason {
                policy: Some(policy.clone()),
                observed: Some(observed.to_string()),
                text: reason.clone(),
                ..StoredReason::default()
            };
            let repo = event.repo.clone();
            let branch = self.default_branch(&repo).await?;
            let m = merge.clone();
            let target = blocking({
                let git = self.git.clone();
                let repo = repo.clone();
                move || {
                    let mirror = git.open(&repo)?;
                    target_of(&mirror, &m)
                }
            })
            .await?;
            let plan = Plan {
                branch,
                target,
                title: judged.pr.as_ref().map(|p| p.title.clone()),
                reason: stored,
            };
            self.execute(
                &repo,
                &plan,
                judged.pr.as_ref().map(|p| p.number),
                judged.record_hash.clone(),
                "policy",
            )
            .await
            .with_context(|| format!("rolling back {}", short(merge)))?;
        }
        Ok(Applied {
            decision: serde_json::to_value(&judged.decision)?,
            audit_hash: judged.record_hash,
            merge_sha,
        })
    }

    async fn default_branch(&self, repo: &str) -> anyhow::Result<String> {
        let git = self.git.clone();
        let repo = repo.to_string();
        blocking(move || git.default_branch(&repo)).await
    }

    /// Attribute the event, gather the merge's facts and the repository's counters, and
    /// evaluate the policy. Changes nothing.
    pub async fn judge(&self, event: &PolicyEvent) -> anyhow::Result<Judged> {
        let repo = event.repo.clone();
        let branch = self.default_branch(&repo).await?;
        let mg: Option<MergeGit> = blocking({
            let git = self.git.clone();
            let chains = self.chains.clone();
            let (repo, branch, commit) = (repo.clone(), branch.clone(), event.commit.clone());
            move || {
                let mirror = git.fetch(&repo)?;
                let Some(c) = resolve_commit(&mirror, &commit) else {
                    return Ok(None);
                };
                let tip = mirror.refname_to_id(&format!("refs/heads/{branch}"))?;
                let line = chains.line(&repo, &mirror, tip)?;
                match introducing(&mirror, &line, c)? {
                    Some(m) => Ok(Some(merge_git(&mirror, &branch, m)?)),
                    None => Ok(None),
                }
            }
        })
        .await?;
        let now = self.now();
        let Some(mg) = mg else {
            let decision = evaluate(&self.policy, event, None, &RepoState::default(), now);
            return Ok(Judged {
                decision,
                facts: None,
                record_hash: None,
                pr: None,
            });
        };
        let merge = mg.merge.to_string();
        let pr = match self.forge.pr_for_merge(&repo, &merge, &mg.message).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(repo = %repo, merge = %merge, error = %e, "no pull request for the merge");
                None
            }
        };
        let record_hash = self.record_of(&repo, &mg, pr.as_ref()).await?;
        let mut parent_baseline = BTreeMap::new();
        if let Some(fp) = mg.first_parent {
            if let Some(v) = self
                .store
                .metric_value_at(&repo, &fp.to_string(), &event.metric)
                .await?
            {
                parent_baseline.insert(event.metric.clone(), v);
            }
        }
        let facts = MergeFacts {
            merge_sha: merge.clone(),
            merged_at: mg.merged_at,
            gated: record_hash.is_some(),
            labels: pr.as_ref().map(|p| p.labels.clone()).unwrap_or_default(),
            already_reverted: mg.reverted_by.is_some()
                || self
                    .store
                    .rollback_get(&repo, &merge)
                    .await?
                    .is_some_and(|r| r.state != RollbackState::Failed),
            is_revert: mg.is_revert,
            parent_baseline,
        };
        let mut state = RepoState {
            reverts_today: self
                .store
                .rollbacks_since(&repo, "policy", ms(start_of_day(now)))
                .await?,
            ..RepoState::default()
        };
        let count = self
            .store
            .violation_count(&repo, &merge, &event.metric)
            .await?;
        state
            .violations_so_far
            .insert((merge.clone(), event.metric.clone()), count);
        let decision = evaluate(&self.policy, event, Some(&facts), &state, now);
        Ok(Judged {
            decision,
            facts: Some(facts),
            record_hash,
            pr,
        })
    }

    /// The merge's decision record hash: the ledger (shared by the server and the command
    /// line) first, then the git note on the pull request's head (which travels with the
    /// repository), then on the merge itself.
    async fn record_of(
        &self,
        repo: &str,
        mg: &MergeGit,
        pr: Option<&PrInfo>,
    ) -> anyhow::Result<Option<String>> {
        let mut heads: Vec<String> = Vec::new();
        if let Some(p) = mg.second_parent {
            heads.push(p.to_string());
        }
        if let Some(h) = pr.and_then(|p| p.head_sha.clone()) {
            heads.push(h.to_ascii_lowercase());
        }
        heads.push(mg.merge.to_string());
        heads.dedup();
        for h in &heads {
            if let Some((hash, _)) = self.store.ledger_record_for_head(repo, h).await? {
                return Ok(Some(hash));
            }
        }
        let git = self.git.clone();
        let repo = repo.to_string();
        blocking(move || {
            let mirror = git.open(&repo)?;
            for h in heads {
                let Ok(oid) = Oid::from_str(&h) else { continue };
                if let Ok(Some(r)) = notes::read(&mirror, oid) {
                    if let Some(hash) = r.record_hash {
                        return Ok(Some(hash));
                    }
                }
            }
            Ok(None)
        })
        .await
    }

    /// Roll back pull request `pr` of `repo` because a person asked (`trigger`: `comment`,
    /// `check_action` or `cli`): no policy, but never twice, and a revert of a revert is
    /// allowed (a person asked).
    pub async fn manual_rollback(
        &self,
        repo: &str,
        pr: u64,
        reason: &str,
        actor: &str,
        trigger: &str,
    ) -> anyhow::Result<RollbackOutcome> {
        let _guard = self.lock(repo).await;
        let branch = self.default_branch(repo).await?;
        let info = self.forge.pull(repo, pr).await?;
        let known_merge = info.as_ref().and_then(|p| p.merge_sha.clone());
        let (target, mg) = blocking({
            let git = self.git.clone();
            let (repo, branch) = (repo.to_string(), branch.clone());
            move || {
                let mirror = git.fetch(&repo)?;
                let target = match known_merge {
                    Some(m) => target_of(&mirror, &m)?,
                    None => find_pr_merge(&mirror, &branch, pr)?,
                };
                let mg = merge_git(&mirror, &branch, target.head())?;
                Ok((target, mg))
            }
        })
        .await?;
        let merge = target.head().to_string();
        if let Some(row) = self.store.rollback_get(repo, &merge).await? {
            if row.state.is_final() {
                return Ok(RollbackOutcome {
                    row,
                    already_done: true,
                });
            }
        } else if let Some(by) = mg.reverted_by {
            return Err(RollbackError::AlreadyReverted {
                target: mg.merge,
                by,
                merge: matches!(target, RevertTarget::Merge(_)),
            }
            .into());
        }
        let pr_info = match info {
            Some(p) => Some(p),
            None => self.forge.pr_for_merge(repo, &merge, &mg.message).await?,
        };
        let record_hash = self.record_of(repo, &mg, pr_info.as_ref()).await?;
        let plan = Plan {
            branch,
            target,
            title: pr_info.as_ref().map(|p| p.title.clone()),
            reason: StoredReason {
                manual: Some(reason.trim().to_string()).filter(|r| !r.is_empty()),
                actor: Some(actor.to_string()),
                text: if reason.trim().is_empty() {
                    format!("manual rollback asked by {actor}")
                } else {
                    format!("manual rollback asked by {actor}: {}", reason.trim())
                },
                ..StoredReason::default()
            },
        };
        self.execute(repo, &plan, Some(pr), record_hash, trigger)
            .await
    }

    /// Finish every rollback a crash (or a failed step) left unfinished. Never makes a second
    /// revert: each step first looks at where the previous attempt got.
    pub async fn resume_pending(&self) -> anyhow::Result<Vec<RollbackOutcome>> {
        self.resume_where(|_| true).await
    }

    /// [`resume_pending`](Self::resume_pending) for one repository only (the server builds an
    /// orchestrator per repository: its git access and forge are that repository's).
    pub async fn resume_pending_of(&self, repo: &str) -> anyhow::Result<Vec<RollbackOutcome>> {
        self.resume_where(|r| r.repo == repo).await
    }

    async fn resume_where(
        &self,
        keep: impl Fn(&RollbackRow) -> bool,
    ) -> anyhow::Result<Vec<RollbackOutcome>> {
        let rows: Vec<RollbackRow> = self
            .store
            .rollbacks_open()
            .await?
            .into_iter()
            .filter(|r| keep(r))
            .collect();
        let mut out = Vec::new();
        let mut first_err = None;
        for row in rows {
            match self.resume_row(row).await {
                Ok(o) => out.push(o),
                Err(e) => {
                    tracing::warn!(error = %e, "resuming a rollback failed; will retry");
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    async fn resume_row(&self, row: RollbackRow) -> anyhow::Result<RollbackOutcome> {
        let _guard = self.lock(&row.repo).await;
        let Some(row) = self.store.rollback_by_id(row.id).await? else {
            anyhow::bail!("rollback {} vanished", row.id);
        };
        if row.state.is_final() {
            return Ok(RollbackOutcome {
                row,
                already_done: true,
            });
        }
        let branch = self.default_branch(&row.repo).await?;
        let (target, message) = blocking({
            let git = self.git.clone();
            let (repo, merge) = (row.repo.clone(), row.merge_sha.clone());
            move || {
                let mirror = git.fetch(&repo)?;
                let t = target_of(&mirror, &merge)?;
                let c = mirror.find_commit(t.head())?;
                Ok((t, String::from_utf8_lossy(c.message_bytes()).into_owned()))
            }
        })
        .await?;
        let title = match row.pr {
            Some(_) => self
                .forge
                .pr_for_merge(&row.repo, &row.merge_sha, &message)
                .await
                .ok()
                .flatten()
                .map(|p| p.title),
            None => None,
        };
        let plan = Plan {
            branch,
            target,
            title,
            reason: StoredReason::parse(&row.reason),
        };
        self.drive(row, &plan).await
    }

    /// Record the rollback (or find it) and drive it to its end.
    async fn execute(
        &self,
        repo: &str,
        plan: &Plan,
        pr: Option<u64>,
        record_hash: Option<String>,
        trigger: &str,
    ) -> anyhow::Result<RollbackOutcome> {
        let new = NewRollback {
            repo: repo.to_string(),
            merge_sha: plan.target.head().to_string(),
            trigger: trigger.to_string(),
            action: self.settings.action.as_str().to_string(),
            reason: serde_json::to_string(&plan.reason)?,
            pr,
            record_hash,
        };
        let row = match self.store.rollback_begin(&new, ms(self.now())).await? {
            Begun::New(row) => {
                self.hit(Step::AfterPlanned);
                row
            }
            Begun::Existing(row) if row.state.is_final() => {
                return Ok(RollbackOutcome {
                    row,
                    already_done: true,
                })
            }
            Begun::Existing(row) => row,
        };
        self.drive(row, plan).await
    }

    /// Take a recorded rollback from wherever it is to `reported` or `failed`.
    async fn drive(&self, mut row: RollbackRow, plan: &Plan) -> anyhow::Result<RollbackOutcome> {
        // An unknown stored action is an error (the row stays where it is), never a push.
        let action = RollbackAction::parse(&row.action).map_err(|e| {
            anyhow::anyhow!(
                "rollback {} of {}: stored action: {e}",
                row.id,
                row.merge_sha
            )
        })?;
        if matches!(row.state, RollbackState::Planned | RollbackState::Committed) {
            let mut attempt = 0u32;
            loop {
                let step = self.git_step(&row, plan, action).await?;
                match step {
                    GitStep::Found(oid) => {
                        self.store
                            .rollback_advance(
                                row.id,
                                RollbackState::Pushed,
                                Some(&oid.to_string()),
                                ms(self.now()),
                            )
                            .await?;
                        break;
                    }
                    GitStep::Refused(e) => return self.fail(row, plan, &e.to_string()).await,
                    GitStep::Ready(oid) => {
                        let sha = oid.to_string();
                        self.store
                            .rollback_advance(
                                row.id,
                                RollbackState::Committed,
                                Some(&sha),
                                ms(self.now()),
                            )
                            .await?;
                        row.revert_sha = Some(sha.clone());
                        self.hit(Step::AfterCommit);
                        if action == RollbackAction::Comment {
                            break;
                        }
                        let remote_ref = match action {
                            RollbackAction::PullRequest => {
                                format!("refs/heads/{}", pr_branch(&row.merge_sha))
                            }
                            _ => format!("refs/heads/{}", plan.branch),
                        };
                        let git = self.git.clone();
                        let (repo, local) = (row.repo.clone(), private_ref(&row.merge_sha));
                        let pushed = tokio::task::spawn_blocking(move || {
                            git.push(&repo, &local, &remote_ref)
                        })
                        .await
                        .context("git task panicked")?;
                        match pushed {
                            Ok(()) => {
                                self.store
                                    .rollback_advance(
                                        row.id,
                                        RollbackState::Pushed,
                                        None,
                                        ms(self.now()),
                                    )
                                    .await?;
                                self.hit(Step::AfterPush);
                                break;
                            }
                            Err(PushError::Rejected { message, .. }) if attempt < PUSH_RETRIES => {
                                tracing::info!(repo = %row.repo, merge = %row.merge_sha, %message,
                                    "revert push lost a race; refetching");
                                attempt += 1;
                            }
                            Err(e) => {
                                let text = e.to_string();
                                self.store
                                    .rollback_note_error(row.id, &text, ms(self.now()))
                                    .await?;
                                anyhow::bail!(
                                    "pushing the revert of {}: {text}",
                                    short(&row.merge_sha)
                                );
                            }
                        }
                    }
                }
            }
            row = self.reload(row.id).await?;
        }
        self.report(row, plan, action).await
    }

    async fn reload(&self, id: i64) -> anyhow::Result<RollbackRow> {
        self.store
            .rollback_by_id(id)
            .await?
            .with_context(|| format!("rollback {id} vanished"))
    }

    /// Fetch, look for the revert on the remote, else (re)plan and commit it.
    async fn git_step(
        &self,
        row: &RollbackRow,
        plan: &Plan,
        action: RollbackAction,
    ) -> anyhow::Result<GitStep> {
        let git = self.git.clone();
        let row = row.clone();
        let plan = plan.clone();
        let key = self.signing_key.clone();
        blocking(move || {
            let mirror = git.fetch(&row.repo)?;
            let merge = plan.target.head();
            let branch_ref = format!("refs/heads/{}", plan.branch);
            let tip = mirror.refname_to_id(&branch_ref)?;
            if let Some((_, by)) = find_reverts_of(&mirror, &plan.branch, merge, &[merge])? {
                return Ok(GitStep::Found(by));
            }
            if action == RollbackAction::PullRequest {
                let pr_ref = format!("refs/heads/{}", pr_branch(&row.merge_sha));
                if let Ok(id) = mirror.refname_to_id(&pr_ref) {
                    if reverts(&mirror, id, merge)? {
                        return Ok(GitStep::Found(id));
                    }
                }
            }
            let private = private_ref(&row.merge_sha);
            // A commit made by an earlier attempt still fits when the branch has not moved.
            if let Some(sha) = &row.revert_sha {
                if let Ok(oid) = Oid::from_str(sha) {
                    if let Ok(c) = mirror.find_commit(oid) {
                        if c.parent_id(0).ok() == Some(tip) {
                            mirror.reference(&private, oid, true, "patchgate rollback: reuse")?;
                            return Ok(GitStep::Ready(oid));
                        }
                    }
                }
            }
            let msg = RevertMessage {
                title: plan.title.clone(),
                reason: plan.reason.revert_reason(),
                record_hash: row.record_hash.clone(),
            };
            let opts = RevertOptions {
                allow_revert_of_revert: row.trigger != "policy",
            };
            let p = match plan_revert_with(&mirror, &plan.branch, plan.target, &msg, &opts) {
                Ok(p) => p,
                Err(RollbackError::Git(e)) => return Err(e.into()),
                // git missing, too old or failing is the server's problem, not the merge's:
                // an error (retried later), never a rollback recorded as failed.
                Err(
                    e @ (RollbackError::GitMissing(_)
                    | RollbackError::GitTooOld { .. }
                    | RollbackError::GitFailed { .. }),
                ) => return Err(e.into()),
                Err(e) => return Ok(GitStep::Refused(e)),
            };
            let sig = git2::Signature::now("patchgate", "patchgate@localhost")?;
            let tree = mirror.find_tree(p.tree)?;
            let parent = mirror.find_commit(p.parent)?;
            let oid = match &key {
                Some(k) => crate::meta::anchor::signed_commit(
                    &mirror,
                    &sig,
                    &tree,
                    &[&parent],
                    &p.message,
                    k,
                )?,
                None => mirror.commit(None, &sig, &sig, &p.message, &tree, &[&parent])?,
            };
            mirror.reference(&private, oid, true, "patchgate rollback: revert")?;
            Ok(GitStep::Ready(oid))
        })
        .await
    }

    /// Ledger entry, comment, metric, `reported` — each step done once.
    async fn report(
        &self,
        row: RollbackRow,
        plan: &Plan,
        action: RollbackAction,
    ) -> anyhow::Result<RollbackOutcome> {
        let mut row = row;
        let reason = plan.reason.text.clone();
        if action == RollbackAction::PullRequest && row.revert_pr.is_none() {
            let title = format!(
                "Revert \"{}\"",
                plan.title
                    .clone()
                    .unwrap_or_else(|| short(&row.merge_sha).to_string())
            );
            let req = RevertPr {
                title,
                head: pr_branch(&row.merge_sha),
                base: plan.branch.clone(),
                body: format!("{reason}\n\n{}", report::marker(&row.merge_sha)),
                labels: self.settings.labels.clone(),
            };
            let n = self.forge.open_revert_pr(&row.repo, &req).await?;
            self.store
                .rollback_set_revert_pr(row.id, n, ms(self.now()))
                .await?;
            row.revert_pr = Some(n);
        }
        if row.ledger_hash.is_none() {
            let h =
                report::append_entry(&self.store, &row, &plan.branch, &reason, self.now()).await?;
            self.store
                .rollback_set_ledger(row.id, &h, ms(self.now()))
                .await?;
            row.ledger_hash = Some(h);
            self.hit(Step::AfterLedger);
        }
        if row.comment_id.is_none() {
            if let Some(pr) = row.pr {
                let body = report::done_comment(&row, &plan.branch, &reason);
                let id = self.forge.comment(&row.repo, pr, &body).await?;
                self.store
                    .rollback_set_comment(row.id, id, ms(self.now()))
                    .await?;
                self.hit(Step::AfterComment);
            }
        }
        if self
            .store
            .rollback_advance(row.id, RollbackState::Reported, None, ms(self.now()))
            .await?
        {
            if let Some(m) = &self.metrics {
                m.rollback(&row.trigger);
            }
        }
        Ok(RollbackOutcome {
            row: self.reload(row.id).await?,
            already_done: false,
        })
    }

    /// Record `failed` (nothing was pushed) and say why on the pull request.
    async fn fail(
        &self,
        row: RollbackRow,
        plan: &Plan,
        error: &str,
    ) -> anyhow::Result<RollbackOutcome> {
        self.store
            .rollback_fail(row.id, error, ms(self.now()))
            .await?;
        if let (Some(pr), None) = (row.pr, row.comment_id) {
            let body = report::failed_comment(&row, &plan.reason.text, error);
            match self.forge.comment(&row.repo, pr, &body).await {
                Ok(id) => {
                    self.store
                        .rollback_set_comment(row.id, id, ms(self.now()))
                        .await?
                }
                Err(e) => {
                    tracing::warn!(repo = %row.repo, error = %e, "could not comment a failed rollback")
                }
            }
        }
        Ok(RollbackOutcome {
            row: self.reload(row.id).await?,
            already_done: false,
        })
    }
}

impl EventSink for Orchestrator {
    fn apply(
        &self,
        event: PolicyEvent,
        event_row: i64,
    ) -> Pin<Box<dyn std::future::Future<Output = anyhow::Result<Applied>> + Send + '_>> {
        Box::pin(self.on_event(event, event_row))
    }
}

/// How to revert the commit `sha`: a merge against its first parent, or a single commit.
fn target_of(repo: &Repository, sha: &str) -> anyhow::Result<RevertTarget> {
    let oid = Oid::from_str(sha).with_context(|| format!("{sha:?} is not a commit id"))?;
    let c = repo.find_commit(oid)?;
    Ok(if c.parent_count() >= 2 {
        RevertTarget::Merge(oid)
    } else {
        RevertTarget::Commit(oid)
    })
}

/// Does commit `id`'s message say it reverts `merge`?
fn reverts(repo: &Repository, id: Oid, merge: Oid) -> anyhow::Result<bool> {
    let c = repo.find_commit(id)?;
    let text = String::from_utf8_lossy(c.message_bytes());
    let hex = merge.to_string();
    Ok(text.lines().any(|l| {
        l.trim()
            .strip_prefix("Patchgate-Reverts:")
            .is_some_and(|s| s.trim() == hex)
    }))
}

fn start_of_day(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_and_reasons_rebuild_the_message() {
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
        assert_eq!(Step::parse("nope"), None);
        let r = StoredReason {
            policy: Some("latency_p95_ms.max".into()),
            observed: Some("900".into()),
            text: "x".into(),
            ..StoredReason::default()
        };
        let back = StoredReason::parse(&serde_json::to_string(&r).unwrap());
        assert_eq!(back, r);
        assert_eq!(
            back.revert_reason(),
            RevertReason::Policy {
                policy: "latency_p95_ms.max".into(),
                observed: "900".into()
            }
        );
    }
}
