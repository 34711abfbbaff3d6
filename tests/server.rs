//! `patchgate serve` as GitHub sees it: the real binary, started as a process, fed signed real
//! webhook payloads (`fixtures/github/webhooks`) on loopback, talking through octocrab to the
//! stateful fake GitHub (`tests/support`), which checks every request against GitHub's REST
//! description. Repository contents come from a bare repository on disk that the fake names as
//! the repository's clone URL (the server mirrors it with git2, as it would github.com).

use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::world::{job_counts, jobs, metric, metric_samples, World, REPO, SECRET};
use support::{sign_github, webhook_payload, BOT_LOGIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_opened_gets_a_success_check_with_a_summary() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    let mut s = w.serve(&[], &[]);
    let (status, body) = s
        .deliver("pull_request", "d-1", &w.pull_request_payload("opened", 1))
        .await;
    assert_eq!(status, 202, "{body}");
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    let summary = run.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("PASSED") || summary.contains("passed"),
        "{summary}"
    );
    for word in ["rule-guard", "team-a", "team-b", "sha256:"] {
        assert!(summary.contains(word), "summary lacks {word}: {summary}");
    }
    assert!(run
        .output
        .title
        .as_deref()
        .unwrap_or("")
        .starts_with("Passed"));
    // One run, created then completed, on the exact head.
    assert_eq!(w.runs(&w.sha("render-a")).len(), 1);
    w.assert_no_violations();
    // Operations endpoints.
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/readyz").await.0, 200);
    // The check run completes before the worker records the job done; scrape until it has
    // (the gauge is read from the store at scrape), then every count is final.
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
        std::thread::sleep(Duration::from_millis(100));
    };
    let value = |name: &str, labels: &[(&str, &str)]| {
        metric(&metrics, name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{metrics}"))
    };
    for state in ["queued", "running", "parked"] {
        assert_eq!(value("patchgate_jobs", &[("state", state)]), 0.0, "{state}");
    }
    assert_eq!(
        value(
            "patchgate_webhook_requests_total",
            &[("event", "pull_request"), ("outcome", "queued")]
        ),
        1.0
    );
    assert_eq!(
        metric_samples(&metrics, "patchgate_webhook_requests_total").len(),
        1,
        "one delivery, one series:\n{metrics}"
    );
    assert_eq!(
        value("patchgate_quorum_decisions_total", &[("passed", "true")]),
        1.0
    );
    assert_eq!(
        value("patchgate_quorum_decisions_total", &[("passed", "false")]),
        0.0
    );
    for auditor in ["rule-guard", "team-a", "team-b"] {
        assert_eq!(
            value(
                "patchgate_audit_votes_total",
                &[("auditor", auditor), ("verdict", "approve")]
            ),
            1.0,
            "{auditor}"
        );
    }
    assert_eq!(
        metric_samples(&metrics, "patchgate_audit_votes_total").len(),
        3,
        "no other vote:\n{metrics}"
    );
    // One render (no `Render-of:` link): nothing to compare, so no variance observed.
    assert_eq!(value("patchgate_quorum_ast_diff_percent_count", &[]), 0.0);
    assert_eq!(
        value(
            "patchgate_jobs_processed_total",
            &[("event", "pull_request"), ("outcome", "done")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "patchgate_job_duration_seconds_count",
            &[("event", "pull_request"), ("outcome", "done")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "patchgate_http_request_duration_seconds_count",
            &[("route", "/webhook/github"), ("status", "202")]
        ),
        1.0
    );
    assert_eq!(value("patchgate_cost_daily_burn_usd", &[]), 0.0);
    for trigger in ["policy", "comment", "check_action", "cli"] {
        assert_eq!(
            value(
                "patchgate_rollback_triggered_total",
                &[("trigger", trigger)]
            ),
            0.0,
            "{trigger}"
        );
    }
    // Graceful stop: exit 0. (`Server::stop` also checks that no secret reached its output.)
    let (status, log) = s.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("job done") && l.contains("\"delivery\":\"d-1\"")),
        "the job's log lines carry its delivery id:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_audit_gives_a_failure_check_with_annotations() {
    let w = World::new().await;
    w.open_pr(3, "leaky", "main", "Add the deploy credentials.");
    let mut s = w.serve(&[], &[]);
    let (status, _) = s
        .deliver("pull_request", "d-3", &w.pull_request_payload("opened", 3))
        .await;
    assert_eq!(status, 202);
    let run = w.completed_run(&w.sha("leaky"), &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(run
        .output
        .title
        .as_deref()
        .unwrap_or("")
        .starts_with("Blocked"));
    assert!(
        run.annotations
            .iter()
            .any(|a| a["path"] == "creds.py" && a["annotation_level"] == "failure"),
        "annotations: {:#?}",
        run.annotations
    );
    w.assert_no_violations();
    let metrics = s.get("/metrics").await.1;
    assert_eq!(
        metric(
            &metrics,
            "patchgate_quorum_decisions_total",
            &[("passed", "false")]
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signature_is_refused_and_queues_nothing() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "x");
    let s = w.serve(&["--workers", "0"], &[]);
    let body = serde_json::to_vec(&w.pull_request_payload("opened", 1)).unwrap();
    let forged = sign_github("not-the-secret", &body);
    let (status, text) = s
        .deliver_raw("pull_request", "d-forged", &body, &forged)
        .await;
    assert_eq!(status, 401, "{text}");
    let (status, _) = s.deliver_raw("pull_request", "d-nosig", &body, "").await;
    assert_eq!(status, 401);
    // Malformed JSON with a valid signature: 400, one line.
    let bad = b"{\"action\": \"opened\",";
    let (status, text) = s
        .deliver_raw("pull_request", "d-bad", bad, &sign_github(SECRET, bad))
        .await;
    assert_eq!(status, 400);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    // An event patchgate does not handle: 200, no job.
    let (status, _) = s.deliver("ping", "d-ping", &webhook_payload("ping")).await;
    assert_eq!(status, 200);
    drop(s);
    let j = job_counts(&jobs(&w));
    assert!(j.values().all(|n| *n == 0), "{j:?}");
    // Nothing reached GitHub: refused and unhandled deliveries cause no request.
    let sent = w.fake.requests();
    assert!(sent.is_empty(), "requests to GitHub: {sent:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_twice_is_one_job() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    let mut s = w.serve(&[], &[]);
    let p = w.pull_request_payload("opened", 1);
    let (a, body_a) = s.deliver("pull_request", "d-twice", &p).await;
    let (b, body_b) = s.deliver("pull_request", "d-twice", &p).await;
    assert_eq!((a, b), (202, 202));
    let (ja, jb): (Value, Value) = (
        serde_json::from_str(&body_a).unwrap(),
        serde_json::from_str(&body_b).unwrap(),
    );
    assert_eq!(ja["job"], jb["job"]);
    assert_eq!(jb["duplicate"], true);
    w.completed_run(&w.sha("render-a"), &mut s);
    // The check run completes before the job is recorded done; wait for that (generously).
    let deadline = Instant::now() + Duration::from_secs(60);
    while job_counts(&jobs(&w)).get("done") != Some(&1) {
        s.assert_alive();
        assert!(Instant::now() < deadline, "{}", jobs(&w));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(s);
    let j = job_counts(&jobs(&w));
    let one_done: std::collections::BTreeMap<String, u64> =
        [("queued", 0), ("running", 0), ("done", 1), ("parked", 0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(j, one_done);
    assert_eq!(w.runs(&w.sha("render-a")).len(), 1);
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_completes_it_once_after_restart() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    std::fs::write(w.hold(), "").unwrap();
    let mut s = w.serve(&[], &[]);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-kill",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202);
    // Wait until an auditor of the job is running, then kill the server outright.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !w.started().exists() {
        s.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the job never started:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = s.kill();
    assert!(w
        .runs(&w.sha("render-a"))
        .iter()
        .all(|r| r.status != "completed"));
    std::fs::remove_file(w.hold()).unwrap();
    // Restart: once the dead worker's lease (3 s) runs out, the job runs again and completes.
    let mut s2 = w.serve(&[], &[]);
    let run = w.completed_run(&w.sha("render-a"), &mut s2);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    // Exactly one check run for the head, completed once; the job done once.
    let runs = w.runs(&w.sha("render-a"));
    assert_eq!(runs.len(), 1, "{runs:#?}");
    // The run completes before the worker records the job done: wait for that, not a race.
    wait_jobs_done(&w, 1, &mut s2);
    drop(s2);
    let j = job_counts(&jobs(&w));
    assert_eq!(
        (
            j.get("done"),
            j.get("queued"),
            j.get("running"),
            j.get("parked")
        ),
        (Some(&1), Some(&0), Some(&0), Some(&0)),
        "{j:?}"
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_from_a_user_without_write_access_is_denied() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    w.fake.set_permission(REPO, "mallory", "read");
    w.fake.set_permission(REPO, "maintainer", "write");
    let mut s = w.serve(&[], &[]);
    let p = w.comment_payload(
        1,
        "mallory",
        "Please undo this.\n\n/patchgate rollback it broke prod\n",
    );
    let (status, _) = s.deliver("issue_comment", "d-c1", &p).await;
    assert_eq!(status, 202);
    // The reply arrives; nothing else happens.
    let deadline = Instant::now() + Duration::from_secs(60);
    let reply = loop {
        if let Some(c) = w
            .fake
            .comments(REPO, 1)
            .into_iter()
            .find(|c| c.user == BOT_LOGIN)
        {
            break c;
        }
        s.assert_alive();
        assert!(Instant::now() < deadline, "no reply:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(reply.body.contains("@mallory"), "{}", reply.body);
    assert!(reply.body.contains("write permission"), "{}", reply.body);
    assert!(reply.body.contains("nothing was done"), "{}", reply.body);
    assert!(w.fake.check_runs(REPO).is_empty());
    assert!(w.fake.pulls_created(REPO).is_empty());
    // A command in a code block or a quote is not a command; an unknown one gets a suggestion.
    let p = w.comment_payload(
        1,
        "maintainer",
        "> /patchgate rollback\n\n```\n/patchgate rollback\n```\n/patchgate rechek\n",
    );
    s.deliver("issue_comment", "d-c2", &p).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let replies: Vec<_> = w
            .fake
            .comments(REPO, 1)
            .into_iter()
            .filter(|c| c.user == BOT_LOGIN)
            .collect();
        if replies.len() >= 2 {
            assert_eq!(replies.len(), 2, "{replies:#?}");
            assert!(replies[1].body.contains("recheck"), "{}", replies[1].body);
            break;
        }
        s.assert_alive();
        assert!(Instant::now() < deadline, "no did-you-mean:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // `/patchgate recheck` by a writer gates the PR.
    let p = w.comment_payload(1, "maintainer", "/patchgate recheck");
    s.deliver("issue_comment", "d-c3", &p).await;
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_error_is_shown_on_the_check() {
    let w = World::new().await;
    w.open_pr(4, "on-bad-config", "bad-config", "Add notes.");
    let mut s = w.serve(&[], &[]);
    s.deliver("pull_request", "d-4", &w.pull_request_payload("opened", 4))
        .await;
    let run = w.completed_run(&w.sha("on-bad-config"), &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let summary = run.output.summary.unwrap_or_default();
    assert!(summary.contains("threshold_percent"), "{summary}");
    assert!(summary.contains("rolback"), "{summary}");
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_of_links_two_prs_and_compares_them() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    w.open_pr(
        2,
        "render-b",
        "main",
        &format!("Render-Of: #1\n\n{}", explanation(&w, "render-b")),
    );
    let mut s = w.serve(&[], &[]);
    s.deliver("pull_request", "d-rb", &w.pull_request_payload("opened", 2))
        .await;
    // Render B is gated in its own right, with #1 as its render B (never a free `neutral`).
    let b = w.completed_run(&w.sha("render-b"), &mut s);
    assert_eq!(b.conclusion.as_deref(), Some("success"), "{:?}", b.output);
    let b_text = b.output.text.clone().unwrap_or_default();
    assert!(b_text.contains("refs/pull/1/head"), "{b_text}");
    let a = w.completed_run(&w.sha("render-a"), &mut s);
    let summary = a.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("variance") || summary.contains("Variance"),
        "{summary}"
    );
    assert!(
        a.output.text.as_deref().unwrap_or("").contains("pr#2")
            || a.output
                .text
                .as_deref()
                .unwrap_or("")
                .contains("refs/pull/2/head"),
        "{:?}",
        a.output.text
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_gates_a_pull_request_whose_webhook_was_missed() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    let mut s = w.serve(&["--reconcile-interval", "1"], &[]);
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    // Further passes find the run and queue nothing more.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(w.runs(&w.sha("render-a")).len(), 1);
    w.assert_no_violations();
}

fn patchgate(w: &World, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(args)
        .env("PATCHGATE_DATA_DIR", w.data())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_is_parked_and_patchgate_jobs_requeues_it() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    // GitHub answers 502 to the pull request lookup: with one attempt allowed, the job parks.
    w.fake
        .fail_next("GET", "/repos/octo/linkwatch/pulls/1", 502, 1);
    let mut s = w.serve(&["--max-attempts", "1"], &[]);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-park",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    let listing = loop {
        let j = jobs(&w);
        if job_counts(&j).get("parked") == Some(&1) {
            break j;
        }
        s.assert_alive();
        assert!(Instant::now() < deadline, "never parked: {j}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(listing.contains("d-park"), "{listing}");
    assert!(
        listing.contains("502"),
        "the last error is shown: {listing}"
    );
    assert!(w
        .runs(&w.sha("render-a"))
        .iter()
        .all(|r| r.status != "completed" || r.conclusion.as_deref() != Some("success")));
    let metrics = s.get("/metrics").await.1;
    assert!(
        metrics.contains("patchgate_jobs_parked_total{event=\"pull_request\"} 1"),
        "{metrics}"
    );
    // Requeued by a person: it runs again and passes.
    let o = patchgate(&w, &["jobs", "requeue", "--all"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("requeued #"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if w.runs(&w.sha("render-a"))
            .iter()
            .any(|r| r.conclusion.as_deref() == Some("success"))
        {
            break;
        }
        s.assert_alive();
        assert!(
            Instant::now() < deadline,
            "no success after requeue:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_jobs_done(&w, 1, &mut s);
    drop(s);
    let j = job_counts(&jobs(&w));
    assert_eq!(
        (j.get("done"), j.get("parked")),
        (Some(&1), Some(&0)),
        "{j:?}"
    );
    // Requeueing a job that is not parked says so and fails.
    let o = patchgate(&w, &["jobs", "requeue", "1"]);
    assert_eq!(o.status.code(), Some(1));
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisation_default_applies_and_a_config_edit_gets_a_note() {
    let w = World::new().await;
    // The organisation's `.github` repository makes every check advisory.
    w.fake
        .add_repo("octo/.github", w.bare.to_str().unwrap(), "main");
    w.fake
        .add_installation(support::world::INSTALLATION, &[REPO, "octo/.github"]);
    w.fake
        .set_file("octo/.github", ".github/patchgate.yml", "advisory: true\n");
    w.open_pr(3, "leaky", "main", "Add the deploy credentials.");
    w.open_pr(5, "bad-config", "main", "Tune patchgate.");
    let mut s = w.serve(&[], &[]);
    s.deliver(
        "pull_request",
        "d-org-3",
        &w.pull_request_payload("opened", 3),
    )
    .await;
    let run = w.completed_run(&w.sha("leaky"), &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("neutral"),
        "{:?}",
        run.output
    );
    assert!(run
        .output
        .title
        .as_deref()
        .unwrap_or("")
        .contains("advisory"));
    // A change to the config is judged by the base's config and told so.
    s.deliver(
        "pull_request",
        "d-org-5",
        &w.pull_request_payload("opened", 5),
    )
    .await;
    let run = w.completed_run(&w.sha("bad-config"), &mut s);
    let summary = run.output.summary.unwrap_or_default();
    // Verdict first, and the note once (not also prepended above the verdict).
    assert!(
        summary.starts_with("## ✅ patchgate: passed")
            || summary.starts_with("## ❌ patchgate: blocked"),
        "the summary does not open with the verdict: {summary}"
    );
    assert_eq!(
        summary.matches("applies after merge").count(),
        1,
        "{summary}"
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_b_set_by_command_is_compared() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    w.open_pr(
        2,
        "render-c",
        "main",
        "Retry failed fetches with a linear backoff.",
    );
    w.fake.set_permission(REPO, "maintainer", "write");
    let mut s = w.serve(&[], &[]);
    let p = w.comment_payload(1, "maintainer", "/patchgate render-b #2");
    s.deliver("issue_comment", "d-rb-cmd", &p).await;
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    // render-c is a different backoff: the renders escalate and the gate blocks.
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.output
    );
    let text = run.output.text.unwrap_or_default();
    assert!(text.contains("refs/pull/2/head"), "{text}");
    assert!(
        w.fake
            .comments(REPO, 1)
            .iter()
            .any(|c| c.user == BOT_LOGIN && c.body.contains("`#2`")),
        "the command is acknowledged"
    );
    w.assert_no_violations();
}

// ---- check-run lifecycle ----

/// PATCHes that concluded run `id` (carried a conclusion).
fn conclusions_sent(w: &World, id: u64) -> usize {
    let path = format!("/repos/{REPO}/check-runs/{id}");
    w.fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .filter(|r| r.body.as_ref().is_some_and(|b| !b["conclusion"].is_null()))
        .count()
}

/// This App's runs on `head` (runs of the same name by anyone else left out).
fn own_runs(w: &World, head: &str) -> Vec<support::CheckRunState> {
    w.runs(head)
        .into_iter()
        .filter(|r| r.app_id == support::APP_ID)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_jobs_on_one_head_each_report_on_their_own_run() {
    let w = World::new().await;
    w.open_pr(3, "leaky", "main", "Add the deploy credentials.");
    w.fake.set_permission(REPO, "maintainer", "write");
    let head = w.sha("leaky");
    // The auditors wait while `hold` exists, so both jobs are in flight together.
    std::fs::write(w.hold(), "").unwrap();
    let mut s = w.serve(&["--workers", "2"], &[]);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-sync",
            &w.pull_request_payload("synchronize", 3),
        )
        .await;
    assert_eq!(status, 202);
    s.wait_until("the push's run", 120, || {
        (w.runs(&head).len() == 1).then_some(())
    });
    let p = w.comment_payload(3, "maintainer", "/patchgate recheck");
    let (status, _) = s.deliver("issue_comment", "d-recheck", &p).await;
    assert_eq!(status, 202);
    // The recheck starts a run of its own while the push's is still in progress.
    let runs = s.wait_until("the recheck's own run", 120, || {
        let r = w.runs(&head);
        (r.len() == 2).then_some(r)
    });
    assert!(runs.iter().all(|r| r.status == "in_progress"), "{runs:#?}");
    std::fs::remove_file(w.hold()).unwrap();
    let runs = s.wait_until("both runs completed", 120, || {
        let r = w.runs(&head);
        r.iter().all(|r| r.status == "completed").then_some(r)
    });
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let mut ids: Vec<&str> = runs
        .iter()
        .map(|r| r.external_id.as_deref().unwrap_or(""))
        .collect();
    ids.sort();
    assert_eq!(ids, ["pr=3;job=d-recheck", "pr=3;job=d-sync"]);
    for r in &runs {
        assert_eq!(r.conclusion.as_deref(), Some("failure"), "{r:#?}");
        // Each run concluded once, with its own job's annotations, none twice.
        assert_eq!(conclusions_sent(&w, r.id), 1, "{r:#?}");
        assert!(
            r.annotations.iter().any(|a| a["path"] == "creds.py"),
            "{r:#?}"
        );
        let distinct: std::collections::HashSet<String> =
            r.annotations.iter().map(Value::to_string).collect();
        assert_eq!(distinct.len(), r.annotations.len(), "{:#?}", r.annotations);
    }
    assert_eq!(runs[0].annotations.len(), runs[1].annotations.len());
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_gate_reports_on_the_run_of_its_first_attempt() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    // The repository cannot be fetched for now (its clone URL leads nowhere): the gate fails,
    // and the job is retried until it is back.
    let away = w.dir.path().join("linkwatch.git.away");
    std::fs::rename(&w.bare, &away).unwrap();
    let head = w.sha("render-a");
    let mut s = w.serve(&["--max-attempts", "50"], &[]);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-retry",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202);
    let failed = w.completed_run(&head, &mut s);
    assert_eq!(failed.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        failed.output.title.as_deref(),
        Some("patchgate could not decide")
    );
    std::fs::rename(&away, &w.bare).unwrap();
    let runs = s.wait_until("a retry that passes", 120, || {
        let r = w.runs(&head);
        r.iter()
            .any(|r| r.conclusion.as_deref() == Some("success"))
            .then_some(r)
    });
    // Every attempt of the job reported on the one run its first attempt started.
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].id, failed.id);
    assert_eq!(runs[0].external_id.as_deref(), Some("pr=1;job=d-retry"));
    assert!(conclusions_sent(&w, failed.id) >= 2);
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patchgate_quorum_run_of_another_app_is_neither_reused_nor_trusted() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    let head = w.sha("render-a");
    // A workflow (GitHub Actions' App) posts runs named like patchgate's: one passing, one in
    // progress.
    let spoofed_pass = w.fake.add_check_run(
        REPO,
        "patchgate/quorum",
        &head,
        "completed",
        Some("success"),
    );
    let spoofed_open = w
        .fake
        .add_check_run(REPO, "patchgate/quorum", &head, "in_progress", None);
    // Reconciliation does not take them for patchgate's check: the PR is gated, on a run of
    // this App's own.
    let mut s = w.serve(&["--reconcile-interval", "1"], &[]);
    let run = s.wait_until("patchgate's own run, completed", 120, || {
        own_runs(&w, &head)
            .into_iter()
            .find(|r| r.status == "completed")
    });
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:#?}");
    assert!(
        run.external_id
            .as_deref()
            .is_some_and(|e| e.starts_with("pr=1;job=reconcile:")),
        "{run:#?}"
    );
    // After the merge the Rollback button goes on this App's run only.
    w.fake.update_pull(REPO, 1, |p| p.merged = true);
    let mut closed = w.pull_request_payload("closed", 1);
    closed["pull_request"]["merged"] = serde_json::json!(true);
    closed["pull_request"]["state"] = serde_json::json!("closed");
    let (status, _) = s.deliver("pull_request", "d-closed", &closed).await;
    assert_eq!(status, 202);
    s.wait_until("the Rollback button", 60, || {
        own_runs(&w, &head)
            .into_iter()
            .find(|r| r.actions.iter().any(|a| a["identifier"] == "rollback"))
    });
    for id in [spoofed_pass, spoofed_open] {
        let r = w
            .fake
            .check_runs(REPO)
            .into_iter()
            .find(|r| r.id == id)
            .unwrap();
        assert_eq!(r.updates, 0, "another App's run was written to: {r:#?}");
        assert!(r.actions.is_empty() && r.external_id.is_none(), "{r:#?}");
    }
    assert!(
        w.fake.requests().iter().all(|r| r.status != 403),
        "a request was refused: {:#?}",
        w.fake
            .requests()
            .iter()
            .filter(|r| r.status == 403)
            .collect::<Vec<_>>()
    );
    assert!(!s.log().contains("job failed"), "{}", s.log());
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_goes_on_past_an_installation_that_fails() {
    let w = World::new().await;
    // Another installation, listed first, whose tokens GitHub refuses (a suspended one).
    w.fake.add_installation(17, &[]);
    w.fake.fail_next(
        "POST",
        "/app/installations/17/access_tokens",
        403,
        1_000_000,
    );
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    let mut s = w.serve(&["--reconcile-interval", "1"], &[]);
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let log = s.log();
    assert!(log.contains("installation unavailable"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("reconciliation pass finished with errors")
                && l.contains("\"errors\":1")),
        "{log}"
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_gates_again_a_run_left_in_progress() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    w.open_pr(3, "leaky", "main", "Add the deploy credentials.");
    let at = |ago: chrono::Duration| {
        (chrono::Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let in_progress = |head: String, job: &str, started: String| support::CheckRunState {
        app_id: support::APP_ID,
        name: "patchgate/quorum".into(),
        head_sha: head,
        status: "in_progress".into(),
        external_id: Some(job.into()),
        started_at: Some(started),
        ..support::CheckRunState::default()
    };
    // PR 1's run was left in progress two hours ago (its job lost); PR 3's started a minute
    // ago (its job still at work).
    let lost = w.fake.insert_check_run(
        REPO,
        in_progress(
            w.sha("render-a"),
            "pr=1;job=d-lost",
            at(chrono::Duration::hours(2)),
        ),
    );
    let busy = w.fake.insert_check_run(
        REPO,
        in_progress(
            w.sha("leaky"),
            "pr=3;job=d-busy",
            at(chrono::Duration::minutes(1)),
        ),
    );
    let mut s = w.serve(&["--reconcile-interval", "1"], &[]);
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_ne!(run.id, lost);
    assert!(
        run.external_id
            .as_deref()
            .is_some_and(|e| e.starts_with("pr=1;job=reconcile:")),
        "{run:#?}"
    );
    // Two more passes: the lost run is gated again once, the busy one not at all.
    let passes = |log: &str| {
        log.lines()
            .filter(|l| l.contains("reconciliation pass finished"))
            .count()
    };
    let s_log = s.log.clone();
    let seen = passes(&s.log());
    s.wait_until("two more reconciliation passes", 60, || {
        let log = std::fs::read_to_string(&s_log).unwrap_or_default();
        (passes(&log) >= seen + 2).then_some(())
    });
    assert_eq!(w.runs(&w.sha("render-a")).len(), 2);
    let leaky = w.runs(&w.sha("leaky"));
    assert_eq!(leaky.len(), 1, "{leaky:#?}");
    assert_eq!(
        (leaky[0].id, leaky[0].status.as_str()),
        (busy, "in_progress")
    );
    w.assert_no_violations();
}

// ---- Render-Of and summaries ----

/// Wait until `head` has at least `n` completed patchgate check runs; the `n`-th one.
fn nth_completed_run(
    w: &World,
    head: &str,
    n: usize,
    s: &mut support::world::Server,
) -> support::CheckRunState {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let done: Vec<_> = w
            .runs(head)
            .into_iter()
            .filter(|r| r.status == "completed")
            .collect();
        if done.len() >= n {
            let mut done = done;
            done.sort_by_key(|r| r.id);
            return done[n - 1].clone();
        }
        s.assert_alive();
        assert!(
            Instant::now() < deadline,
            "{} completed run(s) on {head}, waiting for {n}:\n{}",
            done.len(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait until the job list says `done {n}` with nothing queued or running.
fn wait_jobs_done(w: &World, n: usize, s: &mut support::world::Server) -> String {
    s.wait_until(&format!("all jobs done, {n} of them"), 180, || {
        let j = jobs(w);
        let c = job_counts(&j);
        let is = |state: &str, v: u64| c.get(state) == Some(&v);
        (is("queued", 0) && is("running", 0) && is("done", n as u64)).then_some(j)
    })
}

/// The builder's explanation of a demo render: its commit message.
fn explanation(w: &World, branch: &str) -> String {
    support::world::git(&w.bare, &["log", "-1", "--format=%B", branch])
}

/// A new commit on `branch` (same tree as `from`, its own message), so it has its own head SHA.
fn branch_copy(w: &mut World, branch: &str, from: &str, message: &str) {
    let tree = format!("{from}^{{tree}}");
    let sha = support::world::git(&w.bare, &["commit-tree", &tree, "-p", from, "-m", message]);
    support::world::git(
        &w.bare,
        &["update-ref", &format!("refs/heads/{branch}"), &sha],
    );
    w.shas.insert(branch.to_string(), sha);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_of_never_lets_a_pull_request_pass_ungated() {
    let mut w = World::new().await;
    branch_copy(
        &mut w,
        "self-ref",
        "render-a",
        "Retry HTTP fetches (self-named).",
    );
    branch_copy(
        &mut w,
        "names-closed",
        "render-a",
        "Retry HTTP fetches (closed pair).",
    );
    branch_copy(
        &mut w,
        "other-base",
        "render-a",
        "Retry HTTP fetches (other base).",
    );
    // #3 commits a key and names a PR that does not exist: it is still gated, and blocked.
    w.open_pr(
        3,
        "leaky",
        "main",
        "Render-Of: #99\n\nAdd the deploy credentials.",
    );
    // #6 names itself; #7 names a closed PR; #8 names a PR on another base branch.
    w.open_pr(6, "self-ref", "main", "Render-Of: #6");
    w.open_pr(1, "render-b", "main", "Retry HTTP fetches.");
    w.fake.update_pull(REPO, 1, |p| p.closed = true);
    w.open_pr(7, "names-closed", "main", "Render-Of: #1");
    w.open_pr(4, "on-bad-config", "bad-config", "Add notes.");
    w.open_pr(8, "other-base", "main", "Render-Of: #4");
    let mut s = w.serve(&[], &[]);
    for n in [3, 6, 7, 8] {
        s.deliver(
            "pull_request",
            &format!("d-ro-{n}"),
            &w.pull_request_payload("opened", n),
        )
        .await;
    }
    let leaky = w.completed_run(&w.sha("leaky"), &mut s);
    assert_eq!(
        leaky.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        leaky.output
    );
    let summary = leaky.output.summary.clone().unwrap_or_default();
    assert!(summary.starts_with("## ❌ patchgate: blocked"), "{summary}");
    assert!(
        summary.contains("`Render-Of: #99`") && summary.contains("#99 is not a pull request"),
        "{summary}"
    );
    // The audit ran on the change: the key is found.
    assert!(
        leaky.annotations.iter().any(|a| a["path"] == "creds.py"),
        "{:#?}",
        leaky.annotations
    );
    for (branch, why) in [
        ("self-ref", "names this pull request itself"),
        ("names-closed", "#1 is closed"),
        (
            "other-base",
            "#4 targets `bad-config` and #8 targets `main`",
        ),
    ] {
        let run = w.completed_run(&w.sha(branch), &mut s);
        let summary = run.output.summary.clone().unwrap_or_default();
        assert!(summary.starts_with("## "), "{branch}: {summary}");
        assert!(summary.contains(why), "{branch}: {summary}");
        assert!(
            summary.contains("the line is ignored"),
            "{branch}: {summary}"
        );
        // Gated as a single render: a real verdict, not a pass-through.
        assert!(run
            .output
            .text
            .unwrap_or_default()
            .contains("quorum_passed"));
        assert_ne!(run.conclusion.as_deref(), Some("neutral"), "{branch}");
    }
    // The PRs named were not gated on their behalf, and every job completed (none parked).
    wait_jobs_done(&w, 4, &mut s);
    assert!(w.runs(&w.sha("render-b")).is_empty());
    assert!(w.runs(&w.sha("on-bad-config")).is_empty());
    let j = jobs(&w);
    assert!(j.contains("parked 0"), "{j}");
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_of_from_an_outsider_is_ignored_until_they_may_write() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    // A stranger's divergent PR claims to be render B of #1.
    w.open_pr(2, "render-c", "main", "Render-Of: #1\n\nA linear backoff.");
    w.fake.update_pull(REPO, 2, |p| p.user = "mallory".into());
    w.fake.set_permission(REPO, "mallory", "read");
    w.fake.set_permission(REPO, "maintainer", "write");
    let mut s = w.serve(&[], &[]);
    s.deliver(
        "pull_request",
        "d-out-2",
        &w.pull_request_payload("opened", 2),
    )
    .await;
    let b = w.completed_run(&w.sha("render-c"), &mut s);
    let summary = b.output.summary.clone().unwrap_or_default();
    assert!(summary.starts_with("## "), "{summary}");
    assert!(
        summary.contains("@mallory") && summary.contains("no write permission"),
        "{summary}"
    );
    assert!(!b
        .output
        .text
        .unwrap_or_default()
        .contains("refs/pull/1/head"));
    wait_jobs_done(&w, 1, &mut s);
    assert!(
        w.runs(&w.sha("render-a")).is_empty(),
        "#1 was gated on a stranger's say-so"
    );
    // #1 itself: the stranger's PR is not its render B, and its summary says so.
    s.deliver(
        "pull_request",
        "d-out-1",
        &w.pull_request_payload("opened", 1),
    )
    .await;
    let a = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(a.conclusion.as_deref(), Some("success"), "{:?}", a.output);
    let summary = a.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("#2 declares `Render-Of: #1`")
            && summary.contains("not taken as render B"),
        "{summary}"
    );
    assert!(!a
        .output
        .text
        .unwrap_or_default()
        .contains("refs/pull/2/head"));
    // Once the author may write, the same line links them: #1 escalates against render-c.
    w.fake.set_permission(REPO, "mallory", "write");
    let p = w.comment_payload(1, "maintainer", "/patchgate recheck");
    s.deliver("issue_comment", "d-out-c", &p).await;
    let a2 = nth_completed_run(&w, &w.sha("render-a"), 2, &mut s);
    assert_eq!(a2.conclusion.as_deref(), Some("failure"), "{:?}", a2.output);
    assert!(a2
        .output
        .text
        .unwrap_or_default()
        .contains("refs/pull/2/head"));
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pull_requests_naming_each_other_are_each_gated_once() {
    let w = World::new().await;
    let (a, b) = (explanation(&w, "render-a"), explanation(&w, "render-b"));
    w.open_pr(1, "render-a", "main", &format!("Render-Of: #2\n\n{a}"));
    w.open_pr(2, "render-b", "main", &format!("Render-Of: #1\n\n{b}"));
    let mut s = w.serve(&[], &[]);
    s.deliver(
        "pull_request",
        "d-loop-1",
        &w.pull_request_payload("opened", 1),
    )
    .await;
    let j = wait_jobs_done(&w, 1, &mut s);
    assert!(j.contains("parked 0"), "{j}");
    for (mine, other) in [("render-a", 2), ("render-b", 1)] {
        let runs = w.runs(&w.sha(mine));
        assert_eq!(runs.len(), 1, "{mine}: {runs:#?}");
        assert_eq!(runs[0].status, "completed");
        assert_eq!(
            runs[0].conclusion.as_deref(),
            Some("success"),
            "{:?}",
            runs[0].output
        );
        let text = runs[0].output.text.clone().unwrap_or_default();
        assert!(
            text.contains(&format!("refs/pull/{other}/head")),
            "{mine}: {text}"
        );
    }
    // The other side's event: again one gate each, and the job completes.
    s.deliver(
        "pull_request",
        "d-loop-2",
        &w.pull_request_payload("opened", 2),
    )
    .await;
    wait_jobs_done(&w, 2, &mut s);
    assert_eq!(w.runs(&w.sha("render-a")).len(), 2);
    assert_eq!(w.runs(&w.sha("render-b")).len(), 2);
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_b_may_be_a_tag_or_a_commit_and_a_missing_one_is_said() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", &explanation(&w, "render-a"));
    // An annotated tag on the divergent render, and render-b's commit known only by its id.
    support::world::git(
        &w.bare,
        &["tag", "-a", "v1.2", "-m", "linear backoff", "render-c"],
    );
    w.fake.set_permission(REPO, "maintainer", "write");
    let head = w.sha("render-a");
    let mut s = w.serve(&[], &[]);
    let steps: Vec<(String, &str, &str)> = vec![
        ("v1.2".into(), "failure", "refs/tags/v1.2"),
        ("refs/tags/v1.2".into(), "failure", "refs/tags/v1.2"),
        (w.sha("render-b"), "success", ""),
    ];
    let mut n = 0;
    for (i, (r, conclusion, source)) in steps.iter().enumerate() {
        let p = w.comment_payload(1, "maintainer", &format!("/patchgate render-b {r}"));
        s.deliver("issue_comment", &format!("d-ref-{i}"), &p).await;
        n += 1;
        let run = nth_completed_run(&w, &head, n, &mut s);
        assert_eq!(
            run.conclusion.as_deref(),
            Some(*conclusion),
            "{r}: {:?}",
            run.output
        );
        let text = run.output.text.unwrap_or_default();
        let source = if source.is_empty() {
            r.as_str()
        } else {
            source
        };
        assert!(text.contains(source), "{r}: {text}");
    }
    // A branch that does not exist, and a commit id the remote does not have: said on the
    // check, and the job is done (not retried, not parked).
    for (i, (r, said)) in [
        ("no-such-branch", "`no-such-branch`"),
        (
            "0123456789abcdef0123456789abcdef01234567",
            "`0123456789abcdef0123456789abcdef01234567`",
        ),
        ("#99", "`refs/pull/99/head`"),
    ]
    .iter()
    .enumerate()
    {
        let p = w.comment_payload(1, "maintainer", &format!("/patchgate render-b {r}"));
        s.deliver("issue_comment", &format!("d-miss-{i}"), &p).await;
        n += 1;
        let run = nth_completed_run(&w, &head, n, &mut s);
        assert_eq!(
            run.conclusion.as_deref(),
            Some("failure"),
            "{r}: {:?}",
            run.output
        );
        assert_eq!(run.output.title.as_deref(), Some("Render B not found"));
        let summary = run.output.summary.unwrap_or_default();
        assert!(
            summary.starts_with("## BLOCKED — render B not found"),
            "{summary}"
        );
        assert!(summary.contains(said), "{summary}");
    }
    let j = wait_jobs_done(&w, 6, &mut s);
    assert!(j.contains("parked 0"), "{j}");
    w.assert_no_violations();
}

// ---- superseded heads ----

/// Move PR `number`'s head to `sha` (a push): the fake's PR and `refs/pull/N/head`.
fn push_head(w: &World, number: u64, sha: &str) {
    support::world::git(
        &w.bare,
        &["update-ref", &format!("refs/pull/{number}/head"), sha],
    );
    w.fake
        .update_pull(REPO, number, |p| p.head_sha = sha.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_a_newer_push_superseded_is_not_gated() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    let old = w.sha("render-a");
    let old_push = w.pull_request_payload("opened", 1);
    // A second commit on top of the first, pushed before the first webhook's job ran.
    let tree = support::world::git(&w.bare, &["rev-parse", &format!("{old}^{{tree}}")]);
    let new = support::world::git(
        &w.bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            &old,
            "-m",
            "Tidy the retry loop",
        ],
    );
    push_head(&w, 1, &new);
    let mut s = w.serve(&[], &[]);
    let (status, _) = s.deliver("pull_request", "d-old", &old_push).await;
    assert_eq!(status, 202);
    wait_jobs_done(&w, 1, &mut s);
    assert!(
        w.runs(&old).is_empty(),
        "a superseded head is not gated: {:#?}",
        w.runs(&old)
    );
    assert!(s.log().contains("superseded"), "{}", s.log());
    // The newer head's own webhook gates it.
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-new",
            &w.pull_request_payload("synchronize", 1),
        )
        .await;
    assert_eq!(status, 202);
    let run = w.completed_run(&new, &mut s);
    assert_eq!(run.external_id.as_deref(), Some("pr=1;job=d-new"));
    assert!(run.conclusion.is_some(), "{run:#?}");
    wait_jobs_done(&w, 2, &mut s);
    assert!(w.runs(&old).is_empty(), "{:#?}", w.runs(&old));
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_force_pushed_over_head_that_cannot_be_fetched_is_closed_as_superseded() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    // The first head: render A's change as a commit no branch names, so only the PR's head
    // ref reaches it.
    let tree = support::world::git(
        &w.bare,
        &["rev-parse", &format!("{}^{{tree}}", w.sha("render-a"))],
    );
    let old = support::world::git(
        &w.bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            &w.sha("main"),
            "-m",
            "Retry HTTP fetches with exponential backoff.",
        ],
    );
    push_head(&w, 1, &old);
    let old_push = w.pull_request_payload("opened", 1);
    // A force-push to an unrelated commit: the old head is no ancestor of the new one, and no
    // ref the mirror fetches reaches it any more (it is fetched by its id).
    push_head(&w, 1, &w.sha("render-c"));
    let mut s = w.serve(&[], &[]);
    let (status, _) = s.deliver("pull_request", "d-old", &old_push).await;
    assert_eq!(status, 202);
    // Fetched by id where the remote serves it (GitHub does for commits it still has), gated;
    // where it cannot be fetched any more (this local remote), closed as superseded — never
    // retried until parked, never a pass.
    let run = w.completed_run(&old, &mut s);
    assert_eq!(run.external_id.as_deref(), Some("pr=1;job=d-old"));
    assert_eq!(run.conclusion.as_deref(), Some("cancelled"), "{run:#?}");
    assert_eq!(
        run.output.title.as_deref(),
        Some("Superseded by a newer push"),
        "{run:#?}"
    );
    wait_jobs_done(&w, 1, &mut s);
    let j = job_counts(&jobs(&w));
    assert_eq!(j.get("parked"), Some(&0), "{j:?}");
    w.assert_no_violations();
}

// ---- merge queue ----

/// A merge group for PR `number` as a merge queue makes it: a commit merging the PR's head into
/// its base, on its `gh-readonly-queue/<base>/pr-<N>-<sha>` branch in the bare repository, and
/// the `merge_group` `checks_requested` delivery for it (the vendored example, pointed at this
/// repository). `entry` names the queue entry in the commit message, so each call makes a
/// commit of its own. Returns the payload and the merge group's commit.
fn merge_group_payload(w: &World, number: u64, entry: &str) -> (Value, String) {
    let pr = w.fake.pull(REPO, number).expect("known PR");
    let tree = format!("{}^{{tree}}", pr.head_sha);
    let message = format!("Merge pull request #{number} (queue entry {entry})");
    let sha = support::world::git(
        &w.bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            &pr.base_sha,
            "-p",
            &pr.head_sha,
            "-m",
            &message,
        ],
    );
    let branch = format!(
        "gh-readonly-queue/{}/pr-{number}-{}",
        pr.base_ref, pr.base_sha
    );
    support::world::git(
        &w.bare,
        &["update-ref", &format!("refs/heads/{branch}"), &sha],
    );
    let mut p = webhook_payload("merge_group.checks_requested");
    assert_eq!(p["action"], "checks_requested");
    p["installation"] = serde_json::json!({"id": support::world::INSTALLATION, "node_id": "x"});
    p["repository"]["full_name"] = serde_json::json!(REPO);
    p["repository"]["name"] = serde_json::json!("linkwatch");
    p["repository"]["owner"]["login"] = serde_json::json!("octo");
    p["repository"]["clone_url"] = serde_json::json!(w.bare.to_str().unwrap());
    let g = &mut p["merge_group"];
    g["head_sha"] = serde_json::json!(sha);
    g["head_ref"] = serde_json::json!(format!("refs/heads/{branch}"));
    g["base_sha"] = serde_json::json!(pr.base_sha);
    g["base_ref"] = serde_json::json!(format!("refs/heads/{}", pr.base_ref));
    g["head_commit"]["id"] = serde_json::json!(sha);
    g["head_commit"]["message"] = serde_json::json!(message);
    (p, sha)
}

/// This App's completed `patchgate/quorum` run on `head`, waited for.
fn own_completed_run(
    w: &World,
    head: &str,
    s: &mut support::world::Server,
) -> support::CheckRunState {
    s.wait_until(
        &format!("a completed run of this App on {head}"),
        120,
        || {
            own_runs(w, head)
                .into_iter()
                .find(|r| r.status == "completed")
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_group_reports_the_queued_prs_gate_verdict() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    w.open_pr(3, "leaky", "main", "Add the deploy credentials.");
    let mut s = w.serve(&[], &[]);
    for n in [1, 3] {
        let (status, _) = s
            .deliver(
                "pull_request",
                &format!("d-open-{n}"),
                &w.pull_request_payload("opened", n),
            )
            .await;
        assert_eq!(status, 202);
    }
    let passed = own_completed_run(&w, &w.sha("render-a"), &mut s);
    assert_eq!(passed.conclusion.as_deref(), Some("success"), "{passed:#?}");
    let blocked = own_completed_run(&w, &w.sha("leaky"), &mut s);
    assert_eq!(
        blocked.conclusion.as_deref(),
        Some("failure"),
        "{blocked:#?}"
    );

    // The queue asks for checks on each PR's merge group.
    let (p1, group1) = merge_group_payload(&w, 1, "d-mg-1");
    let (p3, group3) = merge_group_payload(&w, 3, "d-mg-3");
    for (p, d) in [(&p1, "d-mg-1"), (&p3, "d-mg-3")] {
        let (status, body) = s.deliver("merge_group", d, p).await;
        assert_eq!(status, 202, "{body}");
    }
    let r1 = own_completed_run(&w, &group1, &mut s);
    assert_eq!(r1.conclusion.as_deref(), Some("success"), "{r1:#?}");
    assert_eq!(r1.external_id.as_deref(), Some("merge_group=1;job=d-mg-1"));
    assert!(
        r1.output
            .title
            .as_deref()
            .unwrap_or("")
            .starts_with("Passed"),
        "{r1:#?}"
    );
    let summary = r1.output.summary.clone().unwrap_or_default();
    assert!(summary.contains("not audited again"), "{summary}");
    assert!(
        summary.contains(&format!("check run {}", passed.id)),
        "the summary names the PR's run: {summary}"
    );
    let r3 = own_completed_run(&w, &group3, &mut s);
    assert_eq!(r3.conclusion.as_deref(), Some("failure"), "{r3:#?}");
    assert_eq!(r3.external_id.as_deref(), Some("merge_group=3;job=d-mg-3"));
    let summary = r3.output.summary.clone().unwrap_or_default();
    assert!(summary.contains("did not pass the gate"), "{summary}");
    assert!(
        summary.contains(&format!("check run {}", blocked.id)),
        "{summary}"
    );
    assert!(summary.contains("concluded `failure`"), "{summary}");
    assert!(summary.contains("add it again"), "{summary}");
    // One run per merge group, and the merge-group commits were not gated: two gate decisions
    // (the PRs'), and each PR head still has its one run.
    assert_eq!(w.runs(&group1).len(), 1);
    assert_eq!(w.runs(&group3).len(), 1);
    assert_eq!(w.runs(&w.sha("render-a")).len(), 1);
    assert_eq!(w.runs(&w.sha("leaky")).len(), 1);
    let j = wait_jobs_done(&w, 4, &mut s);
    assert!(j.contains("parked 0"), "{j}");
    let log = s.log();
    assert_eq!(
        log.lines().filter(|l| l.contains("gate decided")).count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("merge group checked"))
            .count(),
        2,
        "{log}"
    );
    let metrics = s.get("/metrics").await.1;
    assert_eq!(
        metric(
            &metrics,
            "patchgate_webhook_requests_total",
            &[("event", "merge_group"), ("outcome", "queued")]
        ),
        Some(2.0),
        "{metrics}"
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_group_fails_unless_this_app_passed_the_prs_head() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    w.open_pr(2, "render-c", "main", "Retry with a different backoff.");
    // PR 1 was never gated by patchgate, but another App (a workflow) posted a passing run
    // named like patchgate's on its head.
    let spoofed = w.fake.add_check_run(
        REPO,
        "patchgate/quorum",
        &w.sha("render-a"),
        "completed",
        Some("success"),
    );
    // PR 2's gate is still at work (its auditors wait while `hold` exists).
    std::fs::write(w.hold(), "").unwrap();
    let mut s = w.serve(&["--workers", "2"], &[]);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-open-2",
            &w.pull_request_payload("opened", 2),
        )
        .await;
    assert_eq!(status, 202);
    let head2 = w.sha("render-c");
    let gating = s.wait_until("PR 2's run in progress", 120, || {
        own_runs(&w, &head2)
            .into_iter()
            .find(|r| r.status == "in_progress")
    });

    let (p1, group1) = merge_group_payload(&w, 1, "d-mg-1");
    let (status, _) = s.deliver("merge_group", "d-mg-1", &p1).await;
    assert_eq!(status, 202);
    let r1 = own_completed_run(&w, &group1, &mut s);
    assert_eq!(r1.conclusion.as_deref(), Some("failure"), "{r1:#?}");
    let summary = r1.output.summary.clone().unwrap_or_default();
    assert!(summary.contains("#1 has not been gated"), "{summary}");
    assert!(summary.contains("/patchgate recheck"), "{summary}");
    assert!(summary.contains("not audited again"), "{summary}");

    let (p2, group2) = merge_group_payload(&w, 2, "d-mg-2");
    let (status, _) = s.deliver("merge_group", "d-mg-2", &p2).await;
    assert_eq!(status, 202);
    let r2 = own_completed_run(&w, &group2, &mut s);
    assert_eq!(r2.conclusion.as_deref(), Some("failure"), "{r2:#?}");
    let summary = r2.output.summary.clone().unwrap_or_default();
    assert!(summary.contains("still in progress"), "{summary}");
    assert!(
        summary.contains(&format!("check run {}", gating.id)),
        "{summary}"
    );
    // The job did not wait for PR 2's gate: that is still running.
    assert!(own_runs(&w, &head2)
        .iter()
        .any(|r| r.id == gating.id && r.status == "in_progress"));

    // A merge group naming a PR the repository does not have.
    let (mut p9, group9) = merge_group_payload(&w, 1, "d-mg-9");
    let head_ref = p9["merge_group"]["head_ref"]
        .as_str()
        .unwrap()
        .replace("/pr-1-", "/pr-9-");
    p9["merge_group"]["head_ref"] = serde_json::json!(head_ref);
    let (status, _) = s.deliver("merge_group", "d-mg-9", &p9).await;
    assert_eq!(status, 202);
    let r9 = own_completed_run(&w, &group9, &mut s);
    assert_eq!(r9.conclusion.as_deref(), Some("failure"), "{r9:#?}");
    let summary = r9.output.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("#9 is not a pull request of this repository"),
        "{summary}"
    );

    // A merge group whose branch names no PR: said in the log, nothing posted, not retried.
    let (mut bad, bad_group) = merge_group_payload(&w, 1, "d-mg-bad");
    bad["merge_group"]["head_ref"] = serde_json::json!("refs/heads/main");
    let (status, _) = s.deliver("merge_group", "d-mg-bad", &bad).await;
    assert_eq!(status, 202);

    std::fs::remove_file(w.hold()).unwrap();
    let j = wait_jobs_done(&w, 5, &mut s);
    assert!(j.contains("parked 0"), "{j}");
    assert!(w.runs(&bad_group).is_empty());
    let log = s.log();
    assert!(
        log.lines()
            .any(|l| l.contains("merge group names no pull request")
                && l.contains("\"delivery\":\"d-mg-bad\"")
                && l.contains("is not a merge queue branch")),
        "{log}"
    );
    assert!(!log.contains("job failed"), "{log}");
    // Another App's run was neither trusted nor written to.
    let r = w
        .fake
        .check_runs(REPO)
        .into_iter()
        .find(|r| r.id == spoofed)
        .unwrap();
    assert_eq!(r.updates, 0, "{r:#?}");
    // The merge groups' verdicts stand: PR 2's gate finishing later does not change them.
    let after = own_runs(&w, &group2);
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0].conclusion.as_deref(), Some("failure"));
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_merge_group_queues_nothing() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    let s = w.serve(&["--workers", "0"], &[]);
    let (mut p, _) = merge_group_payload(&w, 1, "d-mg-destroyed");
    p["action"] = serde_json::json!("destroyed");
    p["reason"] = serde_json::json!("merged");
    let (status, body) = s.deliver("merge_group", "d-mg-destroyed", &p).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ignored"), "{body}");
    let metrics = s.get("/metrics").await.1;
    assert_eq!(
        metric(
            &metrics,
            "patchgate_webhook_requests_total",
            &[("event", "merge_group"), ("outcome", "ignored")]
        ),
        Some(1.0),
        "{metrics}"
    );
    drop(s);
    let j = job_counts(&jobs(&w));
    assert!(j.values().all(|n| *n == 0), "{j:?}");
    assert!(w.fake.check_runs(REPO).is_empty());
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_running_a_merge_groups_check_reports_the_verdict_again() {
    let w = World::new().await;
    w.open_pr(1, "render-a", "main", "Retry HTTP fetches.");
    let mut s = w.serve(&[], &[]);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-open",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202);
    let passed = own_completed_run(&w, &w.sha("render-a"), &mut s);
    assert_eq!(passed.conclusion.as_deref(), Some("success"), "{passed:#?}");
    let (p, group) = merge_group_payload(&w, 1, "d-mg");
    let (status, _) = s.deliver("merge_group", "d-mg", &p).await;
    assert_eq!(status, 202);
    let first = own_completed_run(&w, &group, &mut s);
    assert_eq!(first.conclusion.as_deref(), Some("success"), "{first:#?}");

    // *Re-run* on the merge group's check: GitHub names the run (its external id, its head)
    // and the suite's branch, the queue branch.
    let queue_branch = p["merge_group"]["head_ref"]
        .as_str()
        .unwrap()
        .trim_start_matches("refs/heads/")
        .to_string();
    let mut r = webhook_payload("check_run.rerequested");
    r["installation"] = serde_json::json!({"id": support::world::INSTALLATION, "node_id": "x"});
    r["repository"]["full_name"] = serde_json::json!(REPO);
    r["repository"]["clone_url"] = serde_json::json!(w.bare.to_str().unwrap());
    let run = &mut r["check_run"];
    run["id"] = serde_json::json!(first.id);
    run["name"] = serde_json::json!("patchgate/quorum");
    run["head_sha"] = serde_json::json!(group);
    run["external_id"] = serde_json::json!(first.external_id);
    run["app"]["id"] = serde_json::json!(support::APP_ID);
    run["pull_requests"] = serde_json::json!([]);
    run["check_suite"]["head_branch"] = serde_json::json!(queue_branch);
    run["check_suite"]["head_sha"] = serde_json::json!(group);
    let (status, body) = s.deliver("check_run", "d-rerun", &r).await;
    assert_eq!(status, 202, "{body}");
    let again = s.wait_until("the re-run's own run on the merge group", 120, || {
        w.runs(&group)
            .into_iter()
            .find(|x| x.external_id.as_deref() == Some("merge_group=1;job=d-rerun"))
            .filter(|x| x.status == "completed")
    });
    assert_eq!(again.conclusion.as_deref(), Some("success"), "{again:#?}");
    // The merge group's commit was not gated as a PR, and the PR's own run was not touched.
    assert_eq!(w.runs(&w.sha("render-a")).len(), 1);
    assert_eq!(w.runs(&group).len(), 2);
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_naming_a_pr_cannot_crowd_out_its_authors_render_b() {
    let w = World::new().await;
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    // Five strangers' PRs claim to be render B of #1.
    for n in 2..=6 {
        w.open_pr(n, "render-c", "main", "Render-Of: #1\n\nA linear backoff.");
        w.fake.update_pull(REPO, n, |p| p.user = "mallory".into());
    }
    w.fake.set_permission(REPO, "mallory", "read");
    w.fake.set_permission(REPO, "maintainer", "write");
    let lookups = |w: &World| {
        w.fake
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/collaborators/mallory/permission"))
            .count()
    };
    let mut s = w.serve(&[], &[]);
    s.deliver("pull_request", "d-1", &w.pull_request_payload("opened", 1))
        .await;
    let a = w.completed_run(&w.sha("render-a"), &mut s);
    let summary = a.output.summary.clone().unwrap_or_default();
    // Three are looked into and named; the other two are only counted.
    assert_eq!(
        summary.matches("declares `Render-Of: #1`, but").count(),
        3,
        "{summary}"
    );
    assert!(
        summary.contains("2 more open pull request(s) declare `Render-Of: #1`"),
        "{summary}"
    );
    assert_eq!(lookups(&w), 3);
    // The author's own render B, opened after them, is found first (no lookup needed).
    w.open_pr(
        7,
        "render-b",
        "main",
        "Render-Of: #1\n\nRetry HTTP fetches with exponential backoff.",
    );
    let p = w.comment_payload(1, "maintainer", "/patchgate recheck");
    s.deliver("issue_comment", "d-recheck", &p).await;
    let a2 = nth_completed_run(&w, &w.sha("render-a"), 2, &mut s);
    assert!(
        a2.output
            .text
            .unwrap_or_default()
            .contains("refs/pull/7/head"),
        "{:?}",
        a2.output.summary
    );
    assert_eq!(
        lookups(&w),
        3,
        "no stranger looked into once the author's PR was found"
    );
    w.assert_no_violations();
}
