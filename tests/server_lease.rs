//! A gate that runs longer than its job's lease (issue #15, "nothing blocks the runtime"):
//! the worker's heartbeat keeps the lease while the auditors are held, so the server's other
//! worker, polling all along, never claims the job a second time — one check run, concluded
//! once, one vote per auditor, one job attempt, one record in the ledger.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::world::{job_counts, jobs, metric, metric_samples, World, REPO};

/// The seconds of the server's job lease (the world's default, passed explicitly here).
const LEASE_SECS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_held_past_the_lease_makes_one_check_run_and_one_record() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    let head = w.sha("render-a");
    // The command auditors wait while `hold` exists.
    std::fs::write(w.hold(), "").unwrap();
    let lease = LEASE_SECS.to_string();
    let mut s = w.serve(&["--workers", "2", "--lease-secs", &lease], &[]);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-held",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202);
    s.wait_until("the gate's auditors to be held", 120, || {
        w.started().exists().then_some(())
    });
    // Held for more than two leases while the second worker polls.
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(LEASE_SECS * 2 + 2) {
        s.assert_alive();
        let j = jobs(&w);
        let c = job_counts(&j);
        assert_eq!(
            (c.get("running"), c.get("queued")),
            (Some(&1), Some(&0)),
            "the held job left its worker: {j}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(w.runs(&head).len(), 1, "{:#?}", w.runs(&head));
    std::fs::remove_file(w.hold()).unwrap();
    let run = w.completed_run(&head, &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:#?}");

    // Every count final once the job is done (the run completes just before the row does).
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let (code, metrics) = s.get("/metrics").await;
        assert_eq!(code, 200);
        if metric(&metrics, "patchgate_jobs", &[("state", "done")]) == Some(1.0) {
            break metrics;
        }
        s.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the job never got done:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // One check run on the head, created once and concluded once.
    let runs = w.runs(&head);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let requests = w.fake.requests();
    let created = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == format!("/repos/{REPO}/check-runs"))
        .filter(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| b["head_sha"] == head.as_str() && b["name"] == "patchgate/quorum")
        })
        .count();
    assert_eq!(created, 1, "check runs created");
    let concluded = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == format!("/repos/{REPO}/check-runs/{}", run.id))
        .filter(|r| r.body.as_ref().is_some_and(|b| !b["conclusion"].is_null()))
        .count();
    assert_eq!(concluded, 1, "conclusions sent");
    // One attempt: each auditor voted once, the job ended once, as done.
    for auditor in ["rule-guard", "team-a", "team-b"] {
        assert_eq!(
            metric(
                &metrics,
                "patchgate_audit_votes_total",
                &[("auditor", auditor), ("verdict", "approve")]
            ),
            Some(1.0),
            "{auditor}:\n{metrics}"
        );
    }
    assert_eq!(
        metric_samples(&metrics, "patchgate_jobs_processed_total").len(),
        1,
        "one outcome only:\n{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "patchgate_jobs_processed_total",
            &[("event", "pull_request"), ("outcome", "done")]
        ),
        Some(1.0),
        "{metrics}"
    );
    let log = s.log();
    assert!(!log.contains("lease lost"), "{log}");
    // One record in the ledger, and its chain intact.
    let out = Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(["ledger", "verify", "--format", "json"])
        .env("PATCHGATE_DATA_DIR", w.data())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["records"], 1, "{report}");
    assert!(report["problem"].is_null(), "{report}");
    w.assert_no_violations();
}
