//! Rollbacks through the App: the orchestrator of `crate::rollback::auto` bound to a
//! repository's mirror (fetched and pushed with the installation token), its installation (the
//! forge: comments, revert PRs, labels), and its policy and rollback settings read from the
//! repository's config on the default branch.
//!
//! Three doors lead here: `/webhook/meta` policy events ([`AppRollbacks`] is the
//! [`EventSink`]), CI results on the default branch (`check_run` / `status` webhooks, turned into
//! `ci` events), and a person (`/patchgate rollback`, the check run's Rollback button). All go
//! through the same exactly-once flow; what this module adds is only *which* repository,
//! installation and settings.
//!
//! What it must never do: revert without the orchestrator's guards, or put the token into an
//! error (the mirror code redacts it; push errors are re-worded here without it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;
use tracing::{info, warn};

use crate::github::app::{GitHubApp, Installation, RepoName};
use crate::github::mirror::Mirrors;
use crate::policy::{ci::ci_events, PolicyEvent, PolicySet};
use crate::rollback::auto::{GitAccess, GitHubForge, Orchestrator, PushError, RollbackSettings};
use crate::rollback::sink::{Applied, EventSink};
use crate::server::app::{ManualRollback, Rollbacks};
use crate::server::metrics::Metrics;
use crate::store::Store;
use crate::webhook::Event;

/// A repository's mirror with the installation's token.
struct AppGit {
    mirrors: Arc<Mirrors>,
    repo: RepoName,
    url: String,
    token: String,
}

const FETCH_SPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/notes/*:refs/notes/*"];

impl GitAccess for AppGit {
    fn default_branch(&self, _repo: &str) -> Result<String> {
        let git = self.fetch(_repo)?;
        // The mirror's remote HEAD is not fetched by refspecs; ask the remote.
        let mut remote = git.remote_anonymous(&self.url)?;
        let mut cbs = git2::RemoteCallbacks::new();
        let token = self.token.clone();
        cbs.credentials(move |_, _, _| git2::Cred::userpass_plaintext("x-access-token", &token));
        let conn = remote
            .connect_auth(git2::Direction::Fetch, Some(cbs), None)
            .map_err(|e| {
                anyhow::anyhow!(
                    "asking {} for its default branch: {}",
                    self.repo,
                    e.message()
                )
            })?;
        let head = conn.default_branch().map_err(|e| {
            anyhow::anyhow!("{} names no default branch: {}", self.repo, e.message())
        })?;
        let name = head
            .as_str()
            .unwrap_or("")
            .trim_start_matches("refs/heads/")
            .to_string();
        if name.is_empty() {
            anyhow::bail!("{} names no default branch", self.repo);
        }
        Ok(name)
    }

    fn fetch(&self, _repo: &str) -> Result<git2::Repository> {
        let specs: Vec<String> = FETCH_SPECS.iter().map(|s| s.to_string()).collect();
        self.mirrors
            .fetch(&self.repo, &self.url, Some(&self.token), &specs)
    }

    fn open(&self, _repo: &str) -> Result<git2::Repository> {
        self.mirrors.open(&self.repo)
    }

    fn push(&self, _repo: &str, local_ref: &str, remote_ref: &str) -> Result<(), PushError> {
        let spec = format!("{local_ref}:{remote_ref}");
        match self
            .mirrors
            .push(&self.repo, &self.url, Some(&self.token), &spec)
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let text = format!("{e:#}");
                if text.contains("rejected")
                    || text.contains("not fast-forward")
                    || text.contains("non-fast-forward")
                    || text.contains("cannot push because a reference that you are trying to update on the remote contains commits")
                {
                    Err(PushError::Rejected {
                        refname: remote_ref.to_string(),
                        message: text,
                    })
                } else {
                    Err(PushError::Other(e))
                }
            }
        }
    }
}

/// The App's rollbacks: one orchestrator per call, bound to the repository.
pub struct AppRollbacks {
    pub app: GitHubApp,
    pub mirrors: Arc<Mirrors>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Signs the revert commits when set.
    pub signing_key: Option<Arc<crate::meta::sshsig::SigningKey>>,
}

impl AppRollbacks {
    pub fn new(app: GitHubApp, mirrors: Arc<Mirrors>, store: Store, metrics: Arc<Metrics>) -> Self {
        AppRollbacks {
            app,
            mirrors,
            store,
            metrics,
            signing_key: None,
        }
    }

    /// Sign the revert commits with the deployment's key.
    pub fn with_signing_key(mut self, key: Option<Arc<crate::meta::sshsig::SigningKey>>) -> Self {
        self.signing_key = key;
        self
    }

    /// The repository's clone URL: as its webhooks gave it (kept in the store, see
    /// `AppHandler`), else github.com's or GitHub Enterprise Server's convention.
    async fn clone_url(&self, repo: &RepoName) -> String {
        if let Ok(Some(u)) = self.store.clone_url(&repo.to_string()).await {
            return u;
        }
        let base = self.app.api_base().trim_end_matches('/');
        let web = if base == "https://api.github.com" {
            "https://github.com".to_string()
        } else {
            base.trim_end_matches("/api/v3").to_string()
        };
        format!("{web}/{repo}.git")
    }

    async fn orchestrator(
        &self,
        inst: &Installation,
        repo: &RepoName,
        clone_url: &str,
    ) -> Result<Orchestrator> {
        let token = inst.token().await?;
        let git = Arc::new(AppGit {
            mirrors: self.mirrors.clone(),
            repo: repo.clone(),
            url: clone_url.to_string(),
            token,
        });
        let (policy, settings) = {
            let git = git.clone();
            let name = repo.to_string();
            tokio::task::spawn_blocking(move || repo_settings(&*git, &name))
                .await
                .context("reading the repository's rollback settings")??
        };
        Ok(Orchestrator::new(
            self.store.clone(),
            git,
            Arc::new(GitHubForge::new(inst.clone())),
            policy,
            settings,
        )
        .with_metrics(self.metrics.clone())
        .with_signing_key(self.signing_key.clone()))
    }

    /// Finish every rollback a crash left half done (at start-up and on each reconciliation
    /// pass): per repository, with that repository's installation and mirror.
    pub async fn resume_all(&self) -> Result<usize> {
        let rows = self.store.rollbacks_open().await?;
        let mut repos: Vec<String> = rows.into_iter().map(|r| r.repo).collect();
        repos.sort();
        repos.dedup();
        let mut done = 0;
        for name in repos {
            let result: Result<usize> = async {
                let repo = RepoName::parse(&name)?;
                let inst = self
                    .app
                    .installation(self.app.repo_installation(&repo).await?)
                    .await?;
                let url = self.clone_url(&repo).await;
                let orch = self.orchestrator(&inst, &repo, &url).await?;
                Ok(orch.resume_pending_of(&name).await?.len())
            }
            .await;
            match result {
                Ok(n) => done += n,
                Err(e) => warn_err(
                    &format!("resuming the rollbacks of {name} failed; will retry"),
                    &e,
                ),
            }
        }
        Ok(done)
    }

    /// `patchgate rollback --github owner/name --pr N`: a person's rollback through the App.
    pub async fn manual_cli(
        &self,
        repo: &RepoName,
        pr: u64,
        reason: &str,
        actor: &str,
    ) -> Result<String> {
        let inst = self
            .app
            .installation(self.app.repo_installation(repo).await?)
            .await?;
        // The pull request names its repository's clone URL (a guess from the API base would be
        // wrong for mirrors and some Enterprise set-ups).
        let url = match inst.pull(repo, pr).await {
            Ok(p) if !p.clone_url.is_empty() => p.clone_url,
            _ => self.clone_url(repo).await,
        };
        Rollbacks::manual(
            self,
            ManualRollback {
                inst: &inst,
                repo,
                clone_url: &url,
                pr,
                reason,
                actor,
                trigger: "cli",
            },
        )
        .await
    }

    async fn judge_event(&self, event: PolicyEvent, row: i64) -> Result<Applied> {
        let repo = RepoName::parse(&event.repo)?;
        let inst_id = self
            .app
            .repo_installation(&repo)
            .await
            .with_context(|| format!("the App is not installed on {repo}"))?;
        let inst = self.app.installation(inst_id).await?;
        let url = self.clone_url(&repo).await;
        let orch = self.orchestrator(&inst, &repo, &url).await?;
        orch.on_event(event, row).await
    }
}

/// The policy and rollback settings of a repository: the embedded defaults overlaid with its
/// config's `policy:` and `rollback:` on the default branch (never a PR head).
fn repo_settings(git: &dyn GitAccess, repo: &str) -> Result<(PolicySet, RollbackSettings)> {
    let branch = git.default_branch(repo)?;
    let mirror = git.open(repo)?;
    let text = match mirror
        .revparse_single(&format!("refs/heads/{branch}"))
        .and_then(|o| o.peel_to_commit())
        .and_then(|c| c.tree())
    {
        Ok(tree) => match tree.get_path(std::path::Path::new(
            crate::gate::repo_config::REPO_CONFIG_PATH,
        )) {
            Ok(e) => {
                let blob = e.to_object(&mirror)?.peel_to_blob()?;
                Some(String::from_utf8_lossy(blob.content()).into_owned())
            }
            Err(_) => None,
        },
        Err(_) => None,
    };
    settings_from(text.as_deref())
}

/// The policy and rollback settings a config text gives (the defaults without one). The
/// `_extends` chain is not followed here: post-merge settings come from the repository's own
/// file.
fn settings_from(text: Option<&str>) -> Result<(PolicySet, RollbackSettings)> {
    use crate::gate::repo_config::{parse, RepoConfig};
    let cfg = match text {
        Some(t) => parse(t, "the default branch")?,
        None => RepoConfig::default(),
    };
    let policy = cfg
        .effective_policy()
        .map_err(|e| anyhow::anyhow!("the repository's policy: {e}"))?;
    let action = cfg.rollback.action.unwrap_or_default();
    Ok((
        policy,
        RollbackSettings {
            action,
            labels: cfg.rollback.labels.clone(),
        },
    ))
}

impl EventSink for AppRollbacks {
    fn apply(
        &self,
        event: PolicyEvent,
        event_row: i64,
    ) -> Pin<Box<dyn Future<Output = Result<Applied>> + Send + '_>> {
        Box::pin(self.judge_event(event, event_row))
    }
}

impl Rollbacks for AppRollbacks {
    fn manual<'a>(
        &'a self,
        req: ManualRollback<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<String>> + Send + 'a>> {
        let ManualRollback {
            inst,
            repo,
            clone_url,
            pr,
            reason,
            actor,
            trigger,
        } = req;
        Box::pin(async move {
            let orch = self.orchestrator(inst, repo, clone_url).await?;
            let out = orch
                .manual_rollback(&repo.to_string(), pr, reason, actor, trigger)
                .await?;
            let row = &out.row;
            Ok(if out.already_done {
                format!(
                    "This pull request's merge was already rolled back ({}); nothing was done.",
                    row.state
                )
            } else if row.state == crate::store::rollbacks::RollbackState::Failed {
                format!(
                    "Rollback of #{pr} failed: {}",
                    row.error.as_deref().unwrap_or("see the server log")
                )
            } else {
                format!(
                    "Rolled back #{pr} as asked by @{actor}: revert {} ({}).",
                    row.revert_sha.as_deref().unwrap_or("(not pushed)"),
                    row.state
                )
            })
        })
    }

    fn ci_webhook<'a>(
        &'a self,
        inst: &'a Installation,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let events = ci_events(event, true);
            if events.is_empty() {
                return Ok(());
            }
            let (_, repository) = event.target().context("the event names no repository")?;
            let repo = repository.full_name.clone();
            // `AppHandler::target` stored this payload's clone URL before calling here.
            let url = self.clone_url(&repo).await;
            let orch = self.orchestrator(inst, &repo, &url).await?;
            for ev in events {
                let row = self
                    .store
                    .insert_policy_event(&ev, None, chrono::Utc::now())
                    .await?;
                let applied = orch.on_event(ev, row).await?;
                self.store
                    .set_event_decision(row, applied.merge_sha.as_deref(), &applied.decision)
                    .await?;
                self.metrics.policy_event(
                    applied
                        .decision
                        .get("decision")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown"),
                );
                info!(repo = %repo, decision = %applied.decision, "ci result judged");
            }
            Ok(())
        })
    }
}

/// Log and swallow: used where a failure must not fail the caller.
pub fn warn_err(what: &str, e: &anyhow::Error) {
    warn!(error = %format!("{e:#}"), "{what}");
}
