//! This App's `patchgate/quorum` check runs: the external id that ties a run to its pull
//! request and job, the runs one job started (so a retried job keeps one run), and the
//! Rollback button on a merged head's runs.

use anyhow::Result;
use tracing::warn;

use super::messages::{gating_run, rollback_button, superseded_by_retry_result, superseded_result};
use super::{AppHandler, Target, CHECK_NAME};
use crate::github::app::CheckRunInfo;
use crate::webhook::CheckRun;

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
pub(super) fn check_run_pr(run: &CheckRun) -> Option<u64> {
    run.external_id
        .as_deref()
        .and_then(external_id_pr)
        .or_else(|| run.first_listed_pr().map(|n| n.get()))
}

impl AppHandler {
    /// After a newer push: this job's run on the old `head` (an earlier attempt's, still in
    /// progress) is closed as `cancelled` — a conclusion that never satisfies a required check.
    pub(super) async fn cancel_own_run(
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
    pub(super) async fn job_runs(
        &self,
        t: &Target,
        head: &str,
        ext: &str,
    ) -> Result<Vec<CheckRunInfo>> {
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
    pub(super) async fn start_check(&self, t: &Target, number: u64, head: &str) -> Result<u64> {
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
            .create_check_run(&t.repo, &gating_run(head, ext))
            .await?;
        // The earlier attempt's run already carries annotations (it failed between the
        // requests that complete a run): GitHub only appends them, so completing it again
        // would show them twice. The new run reports; the old one, if left in progress, is
        // closed as failure (it must pass for nothing; a required check reads the newer run).
        if let Some(r) = earlier.filter(|r| r.status != "completed") {
            let result = superseded_by_retry_result(id);
            if let Err(e) = t.inst.complete_check_run(&t.repo, r.id, &result).await {
                warn!(check_run = r.id, error = %format!("{e:#}"), "could not close the superseded check run");
            }
        }
        Ok(id)
    }

    /// After a merge: this App's completed check runs on the merged head offer a Rollback
    /// button (a run of the same name by anyone else is not looked at).
    pub(super) async fn offer_rollback(&self, t: &Target, head: &str) -> Result<()> {
        let runs = t.inst.check_runs_for_ref(&t.repo, head, CHECK_NAME).await?;
        for r in runs.iter().filter(|r| r.status == "completed") {
            t.inst
                .set_check_run_actions(&t.repo, r.id, &[rollback_button()])
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A webhook's check run: `fields` on a run of some commit.
    fn check_run(mut fields: serde_json::Value) -> CheckRun {
        fields["head_sha"] = "a".repeat(40).into();
        serde_json::from_value(fields).unwrap()
    }

    fn foreign_app(fields: &serde_json::Value, ours: u64) -> bool {
        check_run(fields.clone()).foreign_app(ours)
    }

    #[test]
    fn a_webhook_check_run_names_its_pr_by_external_id_then_by_listed_prs() {
        let run = check_run(
            serde_json::json!({"external_id": "pr=5;job=d", "pull_requests": [{"number": 9}]}),
        );
        assert_eq!(check_run_pr(&run), Some(5));
        let run =
            check_run(serde_json::json!({"external_id": "", "pull_requests": [{"number": 9}]}));
        assert_eq!(check_run_pr(&run), Some(9));
        let run = check_run(serde_json::json!({"external_id": null, "pull_requests": []}));
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
}
