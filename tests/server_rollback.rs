//! Post-merge rollback through the GitHub App, end to end: the real `patchgate serve` (and the
//! real `patchgate event` / `patchgate rollback --github` commands) against the fake GitHub,
//! with the demo repository as a bare repository on disk that the server mirrors and pushes
//! to. Each story gates PR 1 (render-a into main) through the server — so its decision record
//! is in the ledger, the "gated" fact —, merges it in the bare repository as GitHub would
//! (`Merge pull request #1 from octo/render-a`), tells the fake, delivers
//! `pull_request.closed`, and then rolls the merge back through one of the doors: a policy
//! event on `/webhook/meta`, `/patchgate rollback` in a comment, the check run's Rollback
//! button, a CI failure on the default branch, or the command line acting as the App.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::world::{git, jobs, Server, World, INSTALLATION, REPO};
use support::{webhook_payload, CheckRunState, BOT_LOGIN};

/// `PATCHGATE_EVENTS_SECRET` of the server and of `patchgate event` (at least 16 bytes).
const EVENTS_SECRET: &str = "events-secret-0123456789abcdef";

/// What a story needs after the merge.
struct Merged {
    /// The merge commit of PR 1 on main.
    merge: String,
    /// main's tree before the merge (what a revert must give back).
    tree_before: String,
    /// The decision record hash of PR 1's gate (from the check run's meta.yaml).
    record_hash: String,
}

/// Commit `.github/patchgate.yml` with `text` to main of the bare repository (through a
/// temporary clone), and remember main's new sha.
fn commit_config(w: &mut World, text: &str) {
    let tmp = w.dir.path().join("config-clone");
    clone_bare(w, &tmp);
    std::fs::create_dir_all(tmp.join(".github")).unwrap();
    std::fs::write(tmp.join(".github/patchgate.yml"), text).unwrap();
    git(&tmp, &["add", ".github/patchgate.yml"]);
    git(
        &tmp,
        &[
            "commit",
            "-q",
            "-m",
            "Configure patchgate's post-merge policy",
        ],
    );
    git(&tmp, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let main = git(&w.bare, &["rev-parse", "main"]);
    w.shas.insert("main".into(), main);
}

fn clone_bare(w: &World, to: &Path) {
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "main",
            w.bare.to_str().unwrap(),
            to.to_str().unwrap(),
        ],
    );
}

/// The `record_hash` of the meta.yaml the check run's output text carries.
fn record_hash_of(text: &str) -> String {
    let yaml = text
        .trim()
        .trim_start_matches("```yaml")
        .trim_end_matches("```");
    let v: serde_yaml::Value = serde_yaml::from_str(yaml)
        .unwrap_or_else(|e| panic!("the check run text is not a meta.yaml ({e}):\n{text}"));
    let h = v["record_hash"]
        .as_str()
        .unwrap_or_else(|| panic!("no record_hash in the check run text:\n{text}"))
        .to_string();
    assert!(h.starts_with("sha256:"), "{h}");
    h
}

/// Run a command off the async threads (the fake GitHub lives on them).
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run the patchgate binary"))
        .await
        .unwrap()
}

fn bot_comments(w: &World, pr: u64) -> Vec<String> {
    w.fake
        .comments(REPO, pr)
        .into_iter()
        .filter(|c| c.user == BOT_LOGIN)
        .map(|c| c.body)
        .collect()
}

/// The commits on the bare repository's main after `merge` (newest first).
fn commits_after(w: &World, merge: &str) -> Vec<String> {
    let out = git(&w.bare, &["rev-list", &format!("{merge}..main")]);
    out.lines().map(str::to_string).collect()
}

/// The world, the server (with the events endpoint) and PR 1 gated, merged and closed with
/// its Rollback button offered. `config`: `.github/patchgate.yml` committed to main before
/// the merge.
async fn merged_world(config: Option<&str>) -> (World, Server, Merged) {
    let mut w = World::new().await;
    if let Some(c) = config {
        commit_config(&mut w, c);
    }
    w.open_pr(
        1,
        "render-a",
        "main",
        "Retry HTTP fetches with exponential backoff.",
    );
    let mut s = w.serve(&[], &[("PATCHGATE_EVENTS_SECRET", EVENTS_SECRET)]);
    let (status, body) = s
        .deliver(
            "pull_request",
            "d-open",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    let record_hash = record_hash_of(run.output.text.as_deref().unwrap_or(""));

    // Merge it as GitHub would: a merge commit of render-a into main.
    let tmp = w.dir.path().join("merge-clone");
    clone_bare(&w, &tmp);
    let tree_before = git(&tmp, &["rev-parse", "HEAD^{tree}"]);
    git(
        &tmp,
        &[
            "merge",
            "-q",
            "--no-ff",
            "origin/render-a",
            "-m",
            "Merge pull request #1 from octo/render-a",
        ],
    );
    git(&tmp, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let merge = git(&w.bare, &["rev-parse", "main"]);
    assert_eq!(merge, git(&tmp, &["rev-parse", "HEAD"]));
    {
        let merge = merge.clone();
        w.fake.update_pull(REPO, 1, move |p| {
            p.merged = true;
            p.merge_commit_sha = Some(merge);
        });
    }
    let mut closed = w.pull_request_payload("closed", 1);
    closed["pull_request"]["merged"] = json!(true);
    closed["pull_request"]["merge_commit_sha"] = json!(merge);
    closed["pull_request"]["state"] = json!("closed");
    let (status, body) = s.deliver("pull_request", "d-closed", &closed).await;
    assert_eq!(status, 202, "{body}");
    let head = w.sha("render-a");
    s.wait_until("the Rollback button on the check run", 60, || {
        w.runs(&head)
            .into_iter()
            .find(|r| r.actions.iter().any(|a| a["identifier"] == "rollback"))
    });
    (
        w,
        s,
        Merged {
            merge,
            tree_before,
            record_hash,
        },
    )
}

/// The one revert of `m.merge` on the bare repository's main: exactly one new commit, a
/// revert of the merge (trailers), whose tree is main's before the merge. Returns its message.
fn assert_reverted_once(w: &World, m: &Merged) -> String {
    let after = commits_after(w, &m.merge);
    assert_eq!(
        after.len(),
        1,
        "expected one commit after the merge: {after:?}"
    );
    let revert = &after[0];
    assert_eq!(
        git(&w.bare, &["rev-parse", &format!("{revert}^")]),
        m.merge,
        "the revert is not on top of the merge"
    );
    let msg = git(&w.bare, &["log", "-1", "--format=%B", revert]);
    assert!(msg.starts_with("Revert \""), "{msg}");
    assert!(
        msg.lines()
            .any(|l| l.trim() == format!("Patchgate-Reverts: {}", m.merge)),
        "{msg}"
    );
    assert!(
        msg.lines()
            .any(|l| l.trim().starts_with("Patchgate-Audit: sha256:")),
        "{msg}"
    );
    assert_eq!(
        git(&w.bare, &["rev-parse", &format!("{revert}^{{tree}}")]),
        m.tree_before,
        "the revert's tree is not main's tree before the merge"
    );
    msg
}

fn event_cmd(s: &Server, commit: &str, metric: &str, value: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchgate"));
    cmd.args([
        "event",
        "--url",
        &format!("{}/webhook/meta", s.url),
        "--repo",
        REPO,
        "--commit",
        commit,
        "--metric",
        metric,
        "--value",
        value,
    ])
    .env("PATCHGATE_EVENTS_SECRET", EVENTS_SECRET)
    .env_remove("PATCHGATE_EVENTS_URL");
    cmd
}

fn metric_line(metrics: &str, prefix: &str) -> Option<String> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_string)
}

/// The Rollback button pressed on PR 1's patchgate check run after the merge.
fn rollback_button_payload(w: &World, user: &str) -> Value {
    let head = w.sha("render-a");
    let run = w.runs(&head).into_iter().next().expect("a check run");
    button_payload(w, user, &run)
}

fn button_payload(w: &World, user: &str, run: &CheckRunState) -> Value {
    w.check_action_payload(user, run, "rollback")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_violation_reverts_the_merge_once() {
    let (w, mut s, m) =
        merged_world(Some("policy: {metrics: {latency_p95_ms: {max: 500}}}\n")).await;
    let out = run(event_cmd(&s, &m.merge, "latency_p95_ms", "900")).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "patchgate event: {:?}\n{stdout}\n{stderr}\nserver log:\n{}",
        out.status,
        s.log()
    );
    let audit = stdout
        .lines()
        .find_map(|l| l.strip_prefix("X-Audit-Hash: "))
        .unwrap_or_else(|| panic!("no X-Audit-Hash in the answer:\n{stdout}"));
    assert_eq!(audit.trim(), m.record_hash, "{stdout}");

    // The revert is pushed by the time the answer came back.
    let msg = assert_reverted_once(&w, &m);
    assert!(msg.contains(&m.merge), "{msg}");
    assert!(msg.contains("latency_p95_ms"), "{msg}");
    assert!(
        msg.contains(&format!("Patchgate-Audit: {}", m.record_hash)),
        "{msg}"
    );

    // PR 1 is told why.
    let said = bot_comments(&w, 1)
        .into_iter()
        .find(|c| c.contains("rolled back this pull request"))
        .unwrap_or_else(|| panic!("no rollback comment on PR 1: {:#?}", bot_comments(&w, 1)));
    assert!(said.contains("latency_p95_ms"), "{said}");
    assert!(said.contains(&m.merge), "{said}");
    assert!(said.contains("trigger: policy"), "{said}");

    let (code, metrics) = s.get("/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(
        metric_line(
            &metrics,
            "patchgate_rollback_triggered_total{trigger=\"policy\"}"
        )
        .as_deref(),
        Some("patchgate_rollback_triggered_total{trigger=\"policy\"} 1"),
        "{metrics}"
    );

    // The same violation again, as a new event: accepted, nothing more reverted.
    let again = run(event_cmd(&s, &m.merge, "latency_p95_ms", "900")).await;
    assert!(
        again.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(commits_after(&w, &m.merge).len(), 1);
    let rollback_comments = bot_comments(&w, 1)
        .into_iter()
        .filter(|c| c.contains("rolled back this pull request"))
        .count();
    assert_eq!(rollback_comments, 1);
    let metrics = s.get("/metrics").await.1;
    assert_eq!(
        metric_line(
            &metrics,
            "patchgate_rollback_triggered_total{trigger=\"policy\"}"
        )
        .as_deref(),
        Some("patchgate_rollback_triggered_total{trigger=\"policy\"} 1"),
        "{metrics}"
    );
    s.assert_alive();
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_comment_by_a_writer_reverts_once() {
    let (w, mut s, m) = merged_world(None).await;
    w.fake.set_permission(REPO, "maintainer", "write");
    let p = w.comment_payload(1, "maintainer", "/patchgate rollback undo please");
    let (status, body) = s.deliver("issue_comment", "d-rb1", &p).await;
    assert_eq!(status, 202, "{body}");
    let reply = s.wait_until("the reply to /patchgate rollback", 60, || {
        bot_comments(&w, 1)
            .into_iter()
            .find(|c| c.starts_with("Rolled back #1") || c.starts_with("Rollback"))
    });
    assert!(reply.starts_with("Rolled back #1"), "{reply}");
    assert!(reply.contains("@maintainer"), "{reply}");
    let msg = assert_reverted_once(&w, &m);
    assert!(msg.contains("undo please"), "{msg}");
    let revert = commits_after(&w, &m.merge).remove(0);
    assert!(reply.contains(&revert), "{reply}");

    // Again: already rolled back, nothing more.
    let p = w.comment_payload(1, "maintainer", "/patchgate rollback");
    let (status, _) = s.deliver("issue_comment", "d-rb2", &p).await;
    assert_eq!(status, 202);
    let second = s.wait_until("the reply to the second rollback", 60, || {
        bot_comments(&w, 1)
            .into_iter()
            .find(|c| c.contains("already rolled back"))
    });
    assert!(second.contains("nothing was done"), "{second}");
    assert_eq!(commits_after(&w, &m.merge), vec![revert]);
    let metrics = s.get("/metrics").await.1;
    assert_eq!(
        metric_line(
            &metrics,
            "patchgate_rollback_triggered_total{trigger=\"comment\"}"
        )
        .as_deref(),
        Some("patchgate_rollback_triggered_total{trigger=\"comment\"} 1"),
        "{metrics}"
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollback_button_needs_write_permission() {
    let (w, mut s, m) = merged_world(None).await;
    w.fake.set_permission(REPO, "reader", "read");
    w.fake.set_permission(REPO, "maintainer", "write");

    let (status, body) = s
        .deliver(
            "check_run",
            "d-btn1",
            &rollback_button_payload(&w, "reader"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let denied = s.wait_until("the denial", 60, || {
        bot_comments(&w, 1)
            .into_iter()
            .find(|c| c.contains("@reader"))
    });
    assert!(denied.contains("write permission"), "{denied}");
    assert!(denied.contains("nothing was done"), "{denied}");
    assert!(commits_after(&w, &m.merge).is_empty());
    assert_eq!(git(&w.bare, &["rev-parse", "main"]), m.merge);

    let (status, body) = s
        .deliver(
            "check_run",
            "d-btn2",
            &rollback_button_payload(&w, "maintainer"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let reply = s.wait_until("the reply to the button", 60, || {
        bot_comments(&w, 1)
            .into_iter()
            .find(|c| c.contains("@maintainer"))
    });
    assert!(reply.starts_with("Rolled back #1"), "{reply}");
    assert_reverted_once(&w, &m);
    let said = bot_comments(&w, 1)
        .into_iter()
        .find(|c| c.contains("rolled back this pull request"))
        .expect("the rollback comment");
    assert!(said.contains("trigger: check_action"), "{said}");
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_on_a_run_naming_no_pull_request_does_nothing_and_is_not_retried() {
    let (w, mut s, m) = merged_world(None).await;
    w.fake.set_permission(REPO, "maintainer", "write");
    // A run of this App on the merged head without patchgate's external id: after the merge
    // GitHub lists no pull request on it either, so nothing says what to roll back.
    let mut run = w.runs(&w.sha("render-a")).remove(0);
    run.external_id = None;
    let p = button_payload(&w, "maintainer", &run);
    assert_eq!(p["check_run"]["pull_requests"], json!([]));
    let (status, body) = s.deliver("check_run", "d-btn-none", &p).await;
    assert_eq!(status, 202, "{body}");
    // The job ends done at its first attempt (d-open, d-closed and this one): never retried,
    // never parked.
    let listing = s.wait_until("the button's job to end", 60, || {
        let j = jobs(&w);
        j.contains("done 3").then_some(j)
    });
    assert!(
        listing.contains("queued 0") && listing.contains("parked 0"),
        "{listing}"
    );
    let log = s.log();
    assert!(
        log.contains("names no pull request") && !log.contains("job failed"),
        "{log}"
    );
    assert!(
        bot_comments(&w, 1)
            .iter()
            .all(|c| !c.contains("@maintainer")),
        "{:#?}",
        bot_comments(&w, 1)
    );
    assert!(commits_after(&w, &m.merge).is_empty());
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recheck_after_the_merge_keeps_the_rollback_button() {
    let (w, mut s, m) = merged_world(None).await;
    w.fake.set_permission(REPO, "maintainer", "write");
    let head = w.sha("render-a");
    let p = w.comment_payload(1, "maintainer", "/patchgate recheck");
    let (status, body) = s.deliver("issue_comment", "d-recheck", &p).await;
    assert_eq!(status, 202, "{body}");
    let runs = s.wait_until("the recheck's run, completed", 120, || {
        let runs = w.runs(&head);
        (runs.len() == 2 && runs.iter().all(|r| r.status == "completed")).then_some(runs)
    });
    // The recheck reported on a run of its own, and concluded it with the button.
    assert_eq!(runs[0].external_id.as_deref(), Some("pr=1;job=d-open"));
    assert_eq!(runs[1].external_id.as_deref(), Some("pr=1;job=d-recheck"));
    assert_eq!(runs[1].conclusion.as_deref(), Some("success"));
    for r in &runs {
        assert!(
            r.actions.iter().any(|a| a["identifier"] == "rollback"),
            "{r:#?}"
        );
    }
    // The button on that run rolls the merge back (the PR comes from its external id).
    let (status, body) = s
        .deliver(
            "check_run",
            "d-btn-recheck",
            &button_payload(&w, "maintainer", &runs[1]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let reply = s.wait_until("the reply to the button", 60, || {
        bot_comments(&w, 1)
            .into_iter()
            .find(|c| c.contains("@maintainer"))
    });
    assert!(reply.starts_with("Rolled back #1"), "{reply}");
    assert_reverted_once(&w, &m);
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_pull_request_opens_a_revert_pull_request() {
    let (w, mut s, m) = merged_world(Some("rollback: {action: pull-request}\n")).await;
    w.fake.set_permission(REPO, "maintainer", "write");
    let p = w.comment_payload(1, "maintainer", "/patchgate rollback broke prod");
    let (status, body) = s.deliver("issue_comment", "d-pr1", &p).await;
    assert_eq!(status, 202, "{body}");
    let reply = s.wait_until("the reply", 60, || {
        bot_comments(&w, 1)
            .into_iter()
            .find(|c| c.contains("@maintainer"))
    });
    assert!(reply.starts_with("Rolled back #1"), "{reply}");

    let created = w.fake.pulls_created(REPO);
    assert_eq!(created.len(), 1, "{created:#?}");
    let branch = format!("patchgate/revert-{}", &m.merge[..12]);
    let pr = &created[0];
    assert_eq!(pr.head_ref, branch);
    assert_eq!(pr.base_ref, "main");
    assert!(pr.title.starts_with("Revert \""), "{}", pr.title);
    // main is untouched; the branch holds the revert.
    assert_eq!(git(&w.bare, &["rev-parse", "main"]), m.merge);
    let tip = git(&w.bare, &["rev-parse", &format!("refs/heads/{branch}")]);
    assert_eq!(pr.head_sha, tip);
    assert_eq!(git(&w.bare, &["rev-parse", &format!("{tip}^")]), m.merge);
    assert_eq!(
        git(&w.bare, &["rev-parse", &format!("{tip}^{{tree}}")]),
        m.tree_before
    );
    let msg = git(&w.bare, &["log", "-1", "--format=%B", &tip]);
    assert!(
        msg.contains(&format!("Patchgate-Reverts: {}", m.merge)),
        "{msg}"
    );
    let said = bot_comments(&w, 1)
        .into_iter()
        .find(|c| c.contains("rolled back this pull request"))
        .expect("the rollback comment");
    assert!(
        said.contains(&format!("#{}", pr.number)),
        "the comment does not name the revert PR #{}: {said}",
        pr.number
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_check_failing_on_main_reverts_the_merge() {
    let (w, mut s, m) = merged_world(Some("policy: {required_checks: [build]}\n")).await;
    let mut p = webhook_payload("check_run.completed");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    p["installation"] = json!({"id": INSTALLATION, "node_id": "x"});
    p["repository"]["full_name"] = json!(REPO);
    p["repository"]["name"] = json!("linkwatch");
    p["repository"]["owner"]["login"] = json!("octo");
    p["repository"]["clone_url"] = json!(w.bare.to_str().unwrap());
    p["repository"]["default_branch"] = json!("main");
    p["check_run"]["name"] = json!("build");
    p["check_run"]["status"] = json!("completed");
    p["check_run"]["conclusion"] = json!("failure");
    p["check_run"]["head_sha"] = json!(m.merge);
    p["check_run"]["started_at"] = json!(now);
    p["check_run"]["completed_at"] = json!(now);
    p["check_run"]["check_suite"]["head_branch"] = json!("main");
    p["check_run"]["check_suite"]["head_sha"] = json!(m.merge);
    p["check_run"]["pull_requests"] = json!([]);
    let (status, body) = s.deliver("check_run", "d-ci1", &p).await;
    assert_eq!(status, 202, "{body}");
    s.wait_until("the revert on main", 60, || {
        (!commits_after(&w, &m.merge).is_empty()).then_some(())
    });
    let msg = assert_reverted_once(&w, &m);
    assert!(msg.contains("build"), "{msg}");
    let said = s.wait_until("the rollback comment", 30, || {
        bot_comments(&w, 1)
            .into_iter()
            .find(|c| c.contains("rolled back this pull request"))
    });
    assert!(said.contains("trigger: policy"), "{said}");
    // The orchestrator counts the rollback when it records it `reported`, just after the
    // comment: poll for the counter rather than read it once right after the comment appears.
    let mut metrics = s.get("/metrics").await.1;
    for _ in 0..100 {
        if metric_line(
            &metrics,
            "patchgate_rollback_triggered_total{trigger=\"policy\"}",
        )
        .is_some()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        metrics = s.get("/metrics").await.1;
    }
    assert_eq!(
        metric_line(
            &metrics,
            "patchgate_rollback_triggered_total{trigger=\"policy\"}"
        )
        .as_deref(),
        Some("patchgate_rollback_triggered_total{trigger=\"policy\"} 1"),
        "{metrics}"
    );
    w.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patchgate_rollback_github_acts_as_the_app() {
    let (w, s, m) = merged_world(None).await;
    // The command shares the server's data directory (its store and ledger hold the gate's
    // record); stop the server first.
    let (status, log) = s.stop();
    assert!(status.success(), "{log}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchgate"));
    cmd.args(["rollback", "--github", REPO, "--pr", "1", "--reason", "cli"])
        .env("PATCHGATE_GITHUB_APP_ID", w.fake.app_id().to_string())
        .env("PATCHGATE_GITHUB_PRIVATE_KEY", &w.key)
        .env("PATCHGATE_GITHUB_API_URL", w.fake.url())
        .env("PATCHGATE_DATA_DIR", w.data())
        .env("PATCHGATE_CONFIG", &w.config)
        .env("USER", "operator")
        .env_remove("DATABASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY");
    let out = run(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "patchgate rollback --github: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.starts_with("Rolled back #1"), "{stdout}");
    let msg = assert_reverted_once(&w, &m);
    assert!(msg.contains("cli"), "{msg}");
    assert!(
        msg.contains(&format!("Patchgate-Audit: {}", m.record_hash)),
        "{msg}"
    );
    let said = bot_comments(&w, 1)
        .into_iter()
        .find(|c| c.contains("rolled back this pull request"))
        .expect("the rollback comment");
    assert!(said.contains("trigger: cli"), "{said}");
    w.assert_no_violations();
}
