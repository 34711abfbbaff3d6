//! The web view in a real browser: Chromium (Debian's `chromium`) driven by playwright-core
//! through `tests/browser/web.mjs`. A maintainer signs in through the fake GitHub's OAuth, lists
//! the decisions, opens the escalated record and finds its differing lines highlighted, approves
//! it from its page (the gate runs again and passes), and requeues a parked job by clicking; a user who cannot read the repository sees none of it and
//! gets 404 for its URLs. Screenshots of the list, the record and the queue are taken on the way
//! (copied into `docs/screenshots/` when `PATCHGATE_UPDATE_SCREENSHOTS=1`).
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`) and `PLAYWRIGHT_CORE_DIR` (`.ci/run` installs both).
//! Without them the test says so and skips — unless `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::world::{job_counts, jobs, World, REPO};

/// What the browser run needs, or why it cannot run.
fn requirements() -> Result<(PathBuf, PathBuf), String> {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    if !chromium.exists() {
        return Err(format!("{} does not exist", chromium.display()));
    }
    let pw = std::env::var("PLAYWRIGHT_CORE_DIR")
        .map_err(|_| "PLAYWRIGHT_CORE_DIR is not set".to_string())?;
    let pw = PathBuf::from(pw);
    if !pw.join("index.mjs").exists() {
        return Err(format!("{} holds no playwright-core", pw.display()));
    }
    Ok((chromium, pw))
}

/// A loopback port nobody listens on (so the public URL can name the server's own address).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run_browser(
    chromium: &Path,
    pw: &Path,
    base: &str,
    mode: &str,
    shots: &Path,
    extra: &[(&str, &str)],
) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/web.mjs");
    let out = Command::new("node")
        .arg(script)
        .env("PLAYWRIGHT_CORE_DIR", pw)
        .env("CHROMIUM", chromium)
        .env("BASE", base)
        .env("MODE", mode)
        .env("SHOTS", shots)
        .envs(extra.iter().copied())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run ({mode}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_sign_in_see_the_escalated_record_marked_requeue_and_nothing_for_strangers() {
    let (chromium, pw) = match requirements() {
        Ok(r) => r,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but the browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("\n*** SKIPPED the browser test: {why} (`.ci/run` installs Chromium and playwright-core) ***\n");
            return;
        }
    };
    let w = World::new().await;
    w.fake.set_oauth_client("Iv1.web", "web-secret-value");
    w.fake.set_permission(REPO, "maria", "maintain");
    w.fake.set_permission(REPO, "eve", "none");
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
    w.open_pr(3, "render-b", "main", "Retry HTTP fetches.");
    let listen = format!("127.0.0.1:{}", free_port());
    let public = format!("http://{listen}");
    let env = [
        ("PATCHGATE_OAUTH_CLIENT_ID", "Iv1.web"),
        ("PATCHGATE_OAUTH_CLIENT_SECRET", "web-secret-value"),
        ("PATCHGATE_PUBLIC_URL", public.as_str()),
        ("PATCHGATE_GITHUB_WEB_URL", &w.fake.url()),
    ];
    let mut s = w.serve(&["--max-attempts", "1", "--listen", &listen], &env);
    assert_eq!(s.url, public);
    // PR 1 against PR 2 (a different backoff): the renders escalate.
    let p = w.comment_payload(1, "maria", "/patchgate render-b #2");
    s.deliver("issue_comment", "d-browser-rb", &p).await;
    let run = w.completed_run(&w.sha("render-a"), &mut s);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.output
    );
    // PR 3's job parks: GitHub fails its only attempt.
    w.fake
        .fail_next("GET", "/repos/octo/linkwatch/pulls/3", 502, 1);
    let (status, _) = s
        .deliver(
            "pull_request",
            "d-browser-3",
            &w.pull_request_payload("opened", 3),
        )
        .await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    while job_counts(&jobs(&w)).get("parked") != Some(&1) {
        s.assert_alive();
        assert!(Instant::now() < deadline, "never parked\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    let shots = w.dir.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    w.fake.set_browser_user(Some("maria"));
    let seen = run_browser(&chromium, &pw, &public, "writer", &shots, &[]);
    assert!(seen["differing_rows"].as_u64().unwrap() >= 1, "{seen}");
    eprintln!("the browser saw: {seen}");
    // The approval from the page was the maintainer's vote: the gate ran again and passed.
    let mut runs: Vec<_> = w
        .runs(&w.sha("render-a"))
        .into_iter()
        .filter(|r| r.status == "completed")
        .collect();
    runs.sort_by_key(|r| r.id);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(
        runs[1].conclusion.as_deref(),
        Some("success"),
        "{:?}",
        runs[1]
    );
    let parked = job_counts(&jobs(&w)).get("parked").copied().unwrap_or(0);
    assert_eq!(parked, 0, "requeued");
    let record = seen["record"].as_str().unwrap().to_string();
    let requeue = seen["requeue"].as_str().unwrap().to_string();

    w.fake.set_browser_user(Some("eve"));
    let eve = run_browser(
        &chromium,
        &pw,
        &public,
        "stranger",
        &shots,
        &[("RECORD", &record), ("REQUEUE", &requeue)],
    );
    assert_eq!(eve["stranger_404s"], 2, "{eve}");

    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    for name in ["decisions.png", "record.png", "queue.png"] {
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        assert!(png.len() < 150 * 1024, "{name} is {} bytes", png.len());
        if std::env::var("PATCHGATE_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(name), &png).unwrap();
        }
    }
    w.assert_no_violations();
    let log = s.log();
    assert!(
        !log.contains("web-secret-value"),
        "the client secret leaked"
    );
    assert!(!log.contains("ghu_fake"), "a user token leaked");
}
