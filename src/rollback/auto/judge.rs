//! A policy event judged: attributed to the merge that introduced its commit, the merge's facts
//! gathered (decision record, labels, reverts, the parent's baseline), the policy evaluated —
//! and on `Revert`, the rollback flow started.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use git2::Oid;

use super::attribution::{introducing, merge_git, resolve_commit, MergeGit};
use super::reason::{Plan, StoredReason};
use super::{blocking, ms, short, target_of, Judged, Orchestrator, PrInfo};
use crate::meta::notes;
use crate::policy::{evaluate, Decision, MergeFacts, PolicyEvent, RepoState};
use crate::rollback::sink::Applied;
use crate::store::rollbacks::RollbackState;

impl Orchestrator {
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
    pub(super) async fn record_of(
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
}

fn start_of_day(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now)
}
