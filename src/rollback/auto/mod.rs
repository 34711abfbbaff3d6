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
//!
//! The parts of the orchestrator: `judge` (a policy event judged, and acted on), `manual` (a
//! person's request), `resume` (what a crash left unfinished), `flow` (the recorded steps,
//! from `planned` to `pushed`), `commit` (finding or making the revert commit on the mirror),
//! `finish` (revert PR, ledger entry, comment, metric; or `failed`), `reason` (why, as stored);
//! [`attribution`] finds the merge, [`forge`] and [`git`] are its ports, `report` writes the
//! ledger entry and the comments.

pub mod attribution;
mod commit;
mod finish;
mod flow;
pub mod forge;
pub mod git;
mod judge;
mod manual;
mod reason;
mod report;
mod resume;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use git2::{Oid, Repository};

use crate::policy::{Decision, MergeFacts, PolicyEvent, PolicySet, RollbackAction};
use crate::rollback::sink::{Applied, EventSink, RollbackMetrics};
use crate::rollback::RevertTarget;
use crate::store::rollbacks::RollbackRow;
use crate::store::Store;

use attribution::ChainCache;
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

/// "Now", injected: the crate's one clock type.
pub use crate::util::Clock;

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

    async fn default_branch(&self, repo: &str) -> anyhow::Result<String> {
        let git = self.git.clone();
        let repo = repo.to_string();
        blocking(move || git.default_branch(&repo)).await
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
