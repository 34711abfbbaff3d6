//! The merge queue.
//!
//! A merge queue makes a merge-group commit (branch `gh-readonly-queue/<base>/pr-<N>-<sha>`)
//! and waits for every required check on it. patchgate does not audit that commit again: the
//! gate judged PR N's change (its renders, its audit quorum) on N's head, and that verdict is
//! what the merge group's `patchgate/quorum` run reports. It passes only when this App's latest
//! run on N's current head passed (`neutral` when that run was advisory); anything else —
//! never gated, still gating, blocked — fails, saying why, and the job never waits.

use anyhow::Result;
use tracing::{info, warn};

use super::messages::{self, merge_group_result};
use super::{external_id_pr, AppHandler, Target, CHECK_NAME};
use crate::github::app::{CheckRunInfo, GitHubError};
use crate::webhook::{CheckRun, Event, MergeGroupEvent};

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
        latest: Option<CheckRunInfo>,
    },
}

/// This App's latest `patchgate/quorum` run for PR `pr` on `head` among `runs`: named so, on
/// exactly `head`, and whose external id names PR `pr` (a run this App made for another PR on
/// the same commit, or for a merge group, is not PR `pr`'s verdict).
pub fn latest_pr_run(runs: &[CheckRunInfo], pr: u64, head: &str) -> Option<CheckRunInfo> {
    runs.iter()
        .filter(|r| {
            r.name == CHECK_NAME
                && r.head_sha == head
                && r.external_id.as_deref().and_then(external_id_pr) == Some(pr)
        })
        .max_by_key(|r| r.id)
        .cloned()
}

impl AppHandler {
    /// `merge_group` `checks_requested`: report PR N's gate verdict on the merge group's commit.
    /// A `head_ref` that names no PR is logged and dropped (retrying cannot fix it).
    pub(super) async fn on_merge_group(
        &self,
        job: &str,
        event: &Event,
        e: &MergeGroupEvent,
    ) -> Result<()> {
        let group = &e.merge_group;
        let group_head = group.head_sha.as_str();
        let head_ref = group.head_ref.as_str();
        let named = match parse_merge_group_ref(head_ref) {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, merge_group = %group_head, "merge group names no pull request; no check reported on it");
                return Ok(());
            }
        };
        let base = group
            .base_ref
            .as_deref()
            .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string())
            .unwrap_or_else(|| named.base.clone());
        let t = self.target(job, event).await?;
        self.report_merge_group(&t, named.pr, group_head, &base)
            .await
    }

    /// *Re-run* on a merge group's run (`check_run` `rerequested`): the group's commit is the
    /// run's head, its base is in the queue branch the run's suite is on.
    pub(super) async fn rerun_merge_group(
        &self,
        job: &str,
        event: &Event,
        run: &CheckRun,
        pr: u64,
    ) -> Result<()> {
        let group_head = run.head_sha.as_str();
        let branch = run.head_branch().unwrap_or("");
        let named = match parse_merge_group_ref(branch) {
            Ok(n) if n.pr == pr => n,
            Ok(_) | Err(_) => {
                warn!(pr, merge_group = %group_head, branch, "re-run of a merge group's check whose suite is not on that PR's queue branch; nothing done");
                return Ok(());
            }
        };
        let t = self.target(job, event).await?;
        self.report_merge_group(&t, pr, group_head, &named.base)
            .await
    }

    /// Report PR `pr`'s gate verdict on the merge group's commit `group_head` (into `base`).
    pub(super) async fn report_merge_group(
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
    pub(super) async fn merge_group_pr(
        &self,
        t: &Target,
        pr: u64,
        base: &str,
    ) -> Result<MergeGroupPr> {
        let pull = match t.inst.pull(&t.repo, pr).await {
            Ok(p) => p,
            Err(e) if GitHubError::of(&e).is_some_and(GitHubError::is_not_found) => {
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
    pub(super) async fn merge_group_check(
        &self,
        t: &Target,
        pr: u64,
        group_head: &str,
    ) -> Result<u64> {
        let ext = merge_group_external_id(pr, &t.job);
        let runs = self.job_runs(t, group_head, &ext).await?;
        if let Some(r) = runs.iter().max_by_key(|r| r.id) {
            return Ok(r.id);
        }
        t.inst
            .create_check_run(&t.repo, &messages::merge_group_run(pr, group_head, ext))
            .await
    }
}

#[cfg(test)]
mod tests;
