//! Reconciliation: deliveries GitHub never made (or that were lost) leave open pull requests
//! without a live `patchgate/quorum` run; a periodic pass, queued once per interval slot across
//! replicas, finds them and queues a gate job for each.

use std::time::Duration;

use anyhow::Result;
use tracing::{info, warn};

use super::{CHECK_NAME, RECONCILE_EVENT, RECONCILE_PASS_EVENT, STALE_RUN};
use crate::github::app::{CheckRunInfo, GitHubApp};
use crate::store::{Enqueued, NewJob, Store};

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
pub fn reconcile_pass_delivery(now: chrono::DateTime<chrono::Utc>, every: Duration) -> String {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    format!("{RECONCILE_EVENT}:{}", secs / every.as_secs().max(1))
}

/// Queue this slot's reconciliation pass unless some replica already did; `true` when this
/// call queued it.
pub async fn queue_reconcile_pass(store: &Store, every: Duration) -> Result<bool> {
    let job = NewJob {
        delivery_id: reconcile_pass_delivery(chrono::Utc::now(), every),
        event: RECONCILE_PASS_EVENT.into(),
        payload: b"{}".to_vec(),
        repo: String::new(),
    };
    Ok(matches!(store.enqueue(&job).await?, Enqueued::New(_)))
}

/// Whether a run counts as the head's patchgate check: completed, or in progress for less
/// than [`STALE_RUN`] (a run whose start GitHub does not give is taken as live).
fn live_run(r: &CheckRunInfo, now: chrono::DateTime<chrono::Utc>) -> bool {
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
                    Ok(Enqueued::New(_)) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::app::CheckRunOutputInfo;
    use chrono::{TimeZone, Utc};

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
