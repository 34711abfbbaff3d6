//! `patchgate serve` as several replicas: two real server processes sharing one PostgreSQL
//! store (its own schema per test, in the real PostgreSQL at
//! `postgres://postgres@127.0.0.1:5432/test`, overridable with `PATCHGATE_TEST_DATABASE_URL`),
//! each with its own data directory (mirrors are per process), both talking to the same fake
//! GitHub. GitHub retries and duplicates deliveries, and a load balancer may hand the copies to
//! different replicas: every delivery must still be one job, worked once, reported as one
//! check run on its head. These tests never skip: an unreachable PostgreSQL fails them.

use crate::support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::pg::PgSchema;
use support::world::{git, Server, World, REPO};

const BODY: &str = "Retry HTTP fetches with exponential backoff.";

/// A row of the `jobs` table.
#[derive(Debug, Clone)]
struct JobRow {
    id: i64,
    delivery: String,
    state: String,
    attempts: i64,
    worker: Option<String>,
}

async fn job_rows(conn: &mut sqlx::PgConnection) -> Vec<JobRow> {
    let rows: Vec<(i64, String, String, i64, Option<String>)> =
        sqlx::query_as("SELECT id, delivery_id, state, attempts, worker FROM jobs ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .expect("reading the jobs table");
    rows.into_iter()
        .map(|(id, delivery, state, attempts, worker)| JobRow {
            id,
            delivery,
            state,
            attempts,
            worker,
        })
        .collect()
}

/// The host part of a worker name (`<HOSTNAME>:<pid>:<i>`, see `src/server/mod.rs`).
fn host_of(worker: &str) -> &str {
    worker.split(':').next().unwrap_or("")
}

/// Poll `$ready` (an expression, `.await` allowed) every 100 ms until it is true; fail with
/// `$what` and the servers' logs after `$secs` seconds, or at once when a server died.
macro_rules! wait_until {
    ($secs:expr, $what:expr, [$($server:expr),+], $ready:expr) => {{
        let deadline = Instant::now() + Duration::from_secs($secs);
        loop {
            if $ready {
                break;
            }
            $($server.assert_alive();)+
            if Instant::now() >= deadline {
                let logs: Vec<String> = vec![$($server.log()),+];
                panic!(
                    "timed out waiting for {}; server logs:\n{}",
                    $what,
                    logs.join("\n----\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

/// A commit of its own for PR `n`: `branch`'s tree on top of `branch` (so the change is the
/// branch's), as `refs/heads/pr-<n>`, known to the world as branch `pr-<n>`.
fn distinct_head(w: &mut World, n: u64, branch: &str) -> String {
    let tree = git(&w.bare, &["rev-parse", &format!("{branch}^{{tree}}")]);
    let sha = git(
        &w.bare,
        &[
            "commit-tree",
            &tree,
            "-p",
            branch,
            "-m",
            &format!("PR {n}: {BODY}"),
        ],
    );
    let name = format!("pr-{n}");
    git(
        &w.bare,
        &["update-ref", &format!("refs/heads/{name}"), &sha],
    );
    w.shas.insert(name, sha.clone());
    sha
}

/// What a server's JSON log says it did: how many jobs it finished (`job done`) and the pull
/// requests it gated (`gate decided`, with `pr`). Each line logged inside a job also carries
/// the job's span (`span`: job id, delivery, event, repo, attempt; `with_current_span(true)`
/// in `src/server/logging.rs`), but only `gate decided` names the PR, so the PRs are read
/// from those lines (one PR per delivery here).
fn worked(log: &str) -> (usize, Vec<u64>) {
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let done = lines.iter().filter(|v| v["message"] == "job done").count();
    let mut gated: Vec<u64> = lines
        .iter()
        .filter(|v| v["message"] == "gate decided")
        .map(|v| v["pr"].as_u64().unwrap_or_else(|| panic!("no pr: {v}")))
        .collect();
    gated.sort();
    (done, gated)
}

/// `POST …/check-runs` requests the fake received, per `head_sha`.
fn check_run_creations(w: &World) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in w.fake.requests() {
        if r.method == "POST" && r.path == format!("/repos/{REPO}/check-runs") {
            let head = r
                .body
                .as_ref()
                .and_then(|b| b["head_sha"].as_str())
                .unwrap_or("")
                .to_string();
            *out.entry(head).or_insert(0) += 1;
        }
    }
    out
}

/// `PATCH …/check-runs/{id}` requests that carry a conclusion (completions), per run id.
fn check_run_completions(w: &World) -> HashMap<u64, usize> {
    let prefix = format!("/repos/{REPO}/check-runs/");
    let mut out = HashMap::new();
    for r in w.fake.requests() {
        if r.method != "PATCH" {
            continue;
        }
        let Some(id) = r.path.strip_prefix(&prefix) else {
            continue;
        };
        if r.body.as_ref().is_some_and(|b| !b["conclusion"].is_null()) {
            *out.entry(id.parse::<u64>().expect("check run id"))
                .or_insert(0) += 1;
        }
    }
    out
}

fn data_dir(w: &World, name: &str) -> String {
    let d = w.dir.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d.to_str().unwrap().to_string()
}

fn serve_on(w: &World, db: &PgSchema, host: &str, data: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--workers", "2"];
    args.extend_from_slice(extra);
    w.serve(
        &args,
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("PATCHGATE_DATA_DIR", data),
            ("HOSTNAME", host),
        ],
    )
}

fn job_of(body: &str) -> (i64, bool) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (
        v["job"]
            .as_i64()
            .unwrap_or_else(|| panic!("no job id: {body}")),
        v["duplicate"]
            .as_bool()
            .unwrap_or_else(|| panic!("no duplicate flag: {body}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_process_each_delivery_once() {
    let db = PgSchema::new("srvpg").await;
    let mut w = World::new().await;
    const PRS: u64 = 12;
    let mut heads: BTreeMap<u64, String> = BTreeMap::new();
    for n in 1..=PRS {
        let branch = ["render-a", "render-b", "render-c"][(n % 3) as usize];
        let sha = distinct_head(&mut w, n, branch);
        w.open_pr(n, &format!("pr-{n}"), "main", BODY);
        heads.insert(n, sha);
    }
    let distinct: std::collections::HashSet<&String> = heads.values().collect();
    assert_eq!(distinct.len(), PRS as usize, "heads are not distinct");

    // Every auditor waits while the hold file exists: each of the four workers keeps the first
    // job it claims until the hold is lifted, so both servers must take part.
    std::fs::write(w.hold(), "").unwrap();
    let data_a = w.data().to_str().unwrap().to_string();
    let data_b = data_dir(&w, "data-b");
    let mut a = serve_on(&w, &db, "server-a", &data_a, &[]);
    let mut b = serve_on(&w, &db, "server-b", &data_b, &[]);

    // PRs 1..=8: the same delivery to both servers at once; 9, 10 only to A; 11, 12 only to B.
    let mut job_ids: BTreeMap<String, i64> = BTreeMap::new();
    for n in 1..=PRS {
        let delivery = format!("d-pr-{n}");
        let p = w.pull_request_payload("opened", n);
        match n {
            1..=8 => {
                let ((sa, ba), (sb, bb)) = tokio::join!(
                    a.deliver("pull_request", &delivery, &p),
                    b.deliver("pull_request", &delivery, &p)
                );
                assert_eq!((sa, sb), (202, 202), "{ba} / {bb}");
                let (ja, dup_a) = job_of(&ba);
                let (jb, dup_b) = job_of(&bb);
                assert_eq!(ja, jb, "one delivery, two jobs: {ba} / {bb}");
                assert!(
                    dup_a != dup_b,
                    "exactly one of the two copies must be the new job: {ba} / {bb}"
                );
                job_ids.insert(delivery, ja);
            }
            9 | 10 => {
                let (s, body) = a.deliver("pull_request", &delivery, &p).await;
                assert_eq!(s, 202, "{body}");
                let (j, dup) = job_of(&body);
                assert!(!dup, "{body}");
                job_ids.insert(delivery, j);
            }
            _ => {
                let (s, body) = b.deliver("pull_request", &delivery, &p).await;
                assert_eq!(s, 202, "{body}");
                let (j, dup) = job_of(&body);
                assert!(!dup, "{body}");
                job_ids.insert(delivery, j);
            }
        }
    }
    // A retry of an early delivery, sent to the other replica after the fact.
    let (s, body) = b
        .deliver(
            "pull_request",
            "d-pr-9",
            &w.pull_request_payload("opened", 9),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(job_of(&body), (job_ids["d-pr-9"], true), "{body}");

    // Four workers, four held jobs: two per server.
    let mut conn = db.connect().await;
    let mut held: Vec<JobRow>;
    wait_until!(
        60,
        "all four workers (two per server) to hold a job",
        [a, b],
        {
            held = job_rows(&mut conn)
                .await
                .into_iter()
                .filter(|r| r.state == "running")
                .collect();
            held.len() == 4
        }
    );
    let mut per_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &held {
        let worker = r.worker.clone().expect("a running job names its worker");
        per_host
            .entry(host_of(&worker).to_string())
            .or_default()
            .push(worker);
    }
    assert_eq!(
        per_host.keys().map(String::as_str).collect::<Vec<_>>(),
        ["server-a", "server-b"],
        "held jobs: {held:#?}"
    );
    for (host, workers) in &per_host {
        let mut distinct = workers.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 2, "{host} holds {workers:?}");
    }
    // Nothing finished while held.
    assert!(
        w.fake
            .check_runs(REPO)
            .iter()
            .all(|r| r.status != "completed"),
        "a check run completed while every auditor was held"
    );

    std::fs::remove_file(w.hold()).unwrap();
    wait_until!(
        90,
        "a completed check run on every head",
        [a, b],
        heads
            .values()
            .all(|h| w.runs(h).iter().any(|r| r.status == "completed"))
    );
    // And every job marked done (the check run completes just before the row does).
    wait_until!(
        30,
        "every job done",
        [a, b],
        job_rows(&mut conn).await.iter().all(|r| r.state == "done")
    );

    // Redeliveries after the fact, crosswise: still duplicates of the finished jobs.
    let (s, body) = a
        .deliver(
            "pull_request",
            "d-pr-11",
            &w.pull_request_payload("opened", 11),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(job_of(&body), (job_ids["d-pr-11"], true), "{body}");
    let (s, body) = b
        .deliver(
            "pull_request",
            "d-pr-3",
            &w.pull_request_payload("opened", 3),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(job_of(&body), (job_ids["d-pr-3"], true), "{body}");

    // The jobs table: one row per delivery, all done on the first attempt.
    let rows = job_rows(&mut conn).await;
    assert_eq!(rows.len(), PRS as usize, "{rows:#?}");
    for r in &rows {
        assert_eq!(job_ids.get(&r.delivery), Some(&r.id), "{r:?}");
        assert_eq!(r.state, "done", "{r:?}");
        assert_eq!(r.attempts, 1, "{r:?}");
        assert_eq!(r.worker, None, "{r:?}");
    }

    // GitHub: one patchgate/quorum run per head, created once and completed once.
    let created = check_run_creations(&w);
    let completed = check_run_completions(&w);
    for (n, head) in &heads {
        let runs = w.runs(head);
        assert_eq!(runs.len(), 1, "PR {n} ({head}): {runs:#?}");
        let run = &runs[0];
        assert_eq!(run.status, "completed", "PR {n}: {run:#?}");
        assert!(run.conclusion.is_some(), "PR {n}: {run:#?}");
        assert_eq!(created.get(head), Some(&1), "PR {n} ({head}) creations");
        assert_eq!(
            completed.get(&run.id),
            Some(&1),
            "PR {n} run {} completions",
            run.id
        );
    }
    assert_eq!(
        created.values().sum::<usize>(),
        PRS as usize,
        "check runs created: {created:?}"
    );
    assert_eq!(w.fake.check_runs(REPO).len(), PRS as usize);

    // Both servers worked jobs, each job was finished by exactly one of them.
    let (done_a, gated_a) = worked(&a.log());
    let (done_b, gated_b) = worked(&b.log());
    eprintln!(
        "split: server A finished {done_a} jobs (PRs {gated_a:?}), server B {done_b} (PRs {gated_b:?})"
    );
    // Each held two jobs until the hold was lifted, and finished them.
    assert!(done_a >= 2, "server A:\n{}", a.log());
    assert!(done_b >= 2, "server B:\n{}", b.log());
    assert_eq!(done_a + done_b, PRS as usize, "jobs finished per the logs");
    assert_eq!(done_a, gated_a.len(), "server A:\n{}", a.log());
    assert_eq!(done_b, gated_b.len(), "server B:\n{}", b.log());
    let mut all: Vec<u64> = gated_a.iter().chain(&gated_b).copied().collect();
    all.sort();
    assert_eq!(
        all,
        (1..=PRS).collect::<Vec<_>>(),
        "each PR gated by exactly one server"
    );

    w.assert_no_violations();
    let (status, log) = a.stop();
    assert!(status.success(), "server A: {log}");
    let (status, log) = b.stop();
    assert!(status.success(), "server B: {log}");
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_with_sigterm_releases_its_job_and_the_other_finishes_it() {
    let db = PgSchema::new("srvpg").await;
    let mut w = World::new().await;
    let head = distinct_head(&mut w, 1, "render-a");
    w.open_pr(1, "pr-1", "main", BODY);
    std::fs::write(w.hold(), "").unwrap();
    let data_a = w.data().to_str().unwrap().to_string();
    let data_b = data_dir(&w, "data-b");

    // A alone takes the job and holds it in an auditor.
    let mut a = serve_on(&w, &db, "server-a", &data_a, &["--grace-secs", "1"]);
    let (s, body) = a
        .deliver(
            "pull_request",
            "d-term",
            &w.pull_request_payload("opened", 1),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    let (job, _) = job_of(&body);
    wait_until!(60, "A's auditor to start", [a], w.started().exists());
    // B joins while A holds the job: its lease keeps B off.
    let mut b = serve_on(&w, &db, "server-b", &data_b, &[]);
    let mut conn = db.connect().await;
    let rows = job_rows(&mut conn).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].id, job);
    assert_eq!(rows[0].state, "running", "{rows:#?}");
    assert_eq!(
        rows[0].worker.as_deref().map(host_of),
        Some("server-a"),
        "{rows:#?}"
    );
    assert_eq!(rows[0].attempts, 1);

    // SIGTERM: A gives the job in hand a second, releases it and exits 0.
    let stopping = Instant::now();
    let (status, log_a) = a.stop();
    assert!(status.success(), "A exited {status}:\n{log_a}");
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "A took {:?} to stop",
        stopping.elapsed()
    );
    assert!(
        log_a.contains("shutdown: job released for another worker"),
        "A did not release its job:\n{log_a}"
    );
    assert_eq!(worked(&log_a), (0, vec![]), "{log_a}");

    // Released: queued again with the attempt given back (or already B's, first attempt).
    let rows = job_rows(&mut conn).await;
    let r = &rows[0];
    let host = r.worker.as_deref().map(host_of);
    assert!(
        (r.state == "queued" && r.attempts == 0 && host.is_none())
            || (r.state == "running" && r.attempts == 1 && host == Some("server-b")),
        "after A stopped: {rows:#?}"
    );
    // B takes the released job over (its lease, its attempt), then finishes it once the hold
    // is lifted.
    wait_until!(30, "B to take over the released job", [b], {
        let rows = job_rows(&mut conn).await;
        rows[0].state == "running" && rows[0].worker.as_deref().map(host_of) == Some("server-b")
    });
    assert!(w.runs(&head).iter().all(|r| r.status != "completed"));
    std::fs::remove_file(w.hold()).unwrap();
    let run = w.completed_run(&head, &mut b);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.output
    );
    wait_until!(
        30,
        "the job done",
        [b],
        job_rows(&mut conn).await[0].state == "done"
    );
    let rows = job_rows(&mut conn).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].state, "done");
    // The released attempt was given back: one attempt counted.
    assert_eq!(rows[0].attempts, 1, "{rows:#?}");

    // One check run: created by A, reused and completed once by B.
    let runs = w.runs(&head);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(check_run_creations(&w).get(&head), Some(&1));
    assert_eq!(check_run_completions(&w).get(&runs[0].id), Some(&1));
    assert_eq!(worked(&b.log()), (1, vec![1]), "{}", b.log());
    w.assert_no_violations();
    let (status, log_b) = b.stop();
    assert!(status.success(), "B: {log_b}");
    drop(conn);
}
