//! `patchgate serve` as GitHub sees it: the real binary, started as a process, fed signed real
//! webhook payloads (`fixtures/github/webhooks`) on loopback, talking through octocrab to the
//! stateful fake GitHub (`tests/support`), which checks every request against GitHub's REST
//! description. Repository contents come from a bare repository on disk that the fake names as
//! the repository's clone URL (the server mirrors it with git2, as it would github.com).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{sign_github, webhook_payload, FakeGitHub, PullSpec, BOT_LOGIN};

const SECRET: &str = "s3cret-webhook-Xq9";
const REPO: &str = "octo/linkwatch";
const INSTALLATION: u64 = 4242;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The auditors the server config names besides Rule-Guard: a shell script that rejects a
/// change containing an AWS key id (with a finding on the file), approves anything else, and
/// — while `<dir>/hold` exists — announces itself in `<dir>/started` and waits.
const AUDITOR: &str = r#"input=$(cat)
dir=$(dirname "$0")
if [ -e "$dir/hold" ]; then
  echo started > "$dir/started"
  while [ -e "$dir/hold" ]; do sleep 0.1; done
fi
case "$input" in
  *AKIA*) echo '{"verdict":"reject","reason":"an access key id in the change","findings":[{"rule":"team.no-keys","file":"creds.py","line":1,"severity":"error","message":"access key id committed"}],"explanation":"rejects keys"}' ;;
  *) echo '{"verdict":"approve","reason":"reviewed","explanation":"fine"}' ;;
esac
"#;

struct World {
    dir: tempfile::TempDir,
    fake: FakeGitHub,
    bare: PathBuf,
    config: PathBuf,
    key: PathBuf,
    /// branch name → commit sha
    shas: std::collections::HashMap<String, String>,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("demo");
        let out = Command::new("bash")
            .arg(root().join("fixtures/demo/make-repo.sh"))
            .arg(&work)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A change that commits a key, and a base whose repository config is invalid.
        git(&work, &["checkout", "-q", "-b", "leaky", "main"]);
        std::fs::write(work.join("creds.py"), "KEY = 'AKIAIOSFODNN7EXAMPLE'\n").unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "Add the deploy credentials"]);
        git(&work, &["checkout", "-q", "-b", "bad-config", "main"]);
        std::fs::create_dir_all(work.join(".github")).unwrap();
        std::fs::write(
            work.join(".github/patchgate.yml"),
            "threshold_percent: 250\nrolback: {action: push}\n",
        )
        .unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "A broken patchgate config"]);
        git(
            &work,
            &["checkout", "-q", "-b", "on-bad-config", "bad-config"],
        );
        std::fs::write(work.join("NOTES.md"), "notes\n").unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "Add notes"]);
        git(&work, &["checkout", "-q", "main"]);

        let bare = dir.path().join("linkwatch.git");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        let mut shas = std::collections::HashMap::new();
        for b in [
            "main",
            "render-a",
            "render-b",
            "render-c",
            "leaky",
            "bad-config",
            "on-bad-config",
        ] {
            shas.insert(b.to_string(), git(&bare, &["rev-parse", b]));
        }
        let fake = FakeGitHub::start().await;
        fake.add_repo(REPO, bare.to_str().unwrap(), "main");
        fake.add_installation(INSTALLATION, &[REPO]);
        let key = dir.path().join("app.pem");
        std::fs::write(&key, fake.private_key_pem()).unwrap();
        let auditor = dir.path().join("auditor.sh");
        std::fs::write(&auditor, AUDITOR).unwrap();
        let config = dir.path().join("server.yml");
        std::fs::write(
            &config,
            format!(
                "auditors:\n  - {{name: rule-guard, kind: rules}}\n  - {{name: team-a, kind: command, command: [sh, {a}], timeout_s: 120}}\n  - {{name: team-b, kind: command, command: [sh, {a}], timeout_s: 120}}\nquorum: {{required: 2}}\n",
                a = auditor.display()
            ),
        )
        .unwrap();
        World {
            dir,
            fake,
            bare,
            config,
            key,
            shas,
        }
    }

    fn sha(&self, branch: &str) -> String {
        self.shas[branch].clone()
    }

    /// PR `number` from `branch` into `base`, known to the fake and given a `refs/pull/N/head`.
    fn open_pr(&self, number: u64, branch: &str, base: &str, body: &str) {
        git(
            &self.bare,
            &[
                "update-ref",
                &format!("refs/pull/{number}/head"),
                &self.sha(branch),
            ],
        );
        self.fake.add_pull(
            REPO,
            PullSpec {
                number,
                title: format!("PR from {branch}"),
                body: body.to_string(),
                head_sha: self.sha(branch),
                head_ref: branch.to_string(),
                base_ref: base.to_string(),
                base_sha: self.sha(base),
                user: "builder".into(),
                ..PullSpec::default()
            },
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn hold(&self) -> PathBuf {
        self.dir.path().join("hold")
    }

    fn started(&self) -> PathBuf {
        self.dir.path().join("started")
    }

    fn pull_request_payload(&self, action: &str, number: u64) -> Value {
        let pr = self.fake.pull(REPO, number).expect("known PR");
        let mut p = webhook_payload(&format!("pull_request.{action}"));
        p["installation"] = json!({"id": INSTALLATION, "node_id": "x"});
        p["repository"]["full_name"] = json!(REPO);
        p["repository"]["name"] = json!("linkwatch");
        p["repository"]["owner"]["login"] = json!("octo");
        p["repository"]["clone_url"] = json!(self.bare.to_str().unwrap());
        p["repository"]["default_branch"] = json!("main");
        p["number"] = json!(number);
        let q = &mut p["pull_request"];
        q["number"] = json!(number);
        q["draft"] = json!(false);
        q["body"] = json!(pr.body);
        q["head"]["sha"] = json!(pr.head_sha);
        q["head"]["ref"] = json!(pr.head_ref);
        q["base"]["sha"] = json!(pr.base_sha);
        q["base"]["ref"] = json!(pr.base_ref);
        p
    }

    fn comment_payload(&self, number: u64, user: &str, body: &str) -> Value {
        let id = self.fake.add_comment(REPO, number, user, body);
        let mut p = webhook_payload("issue_comment.created");
        p["installation"] = json!({"id": INSTALLATION, "node_id": "x"});
        p["repository"]["full_name"] = json!(REPO);
        p["repository"]["clone_url"] = json!(self.bare.to_str().unwrap());
        p["issue"]["number"] = json!(number);
        p["issue"]["pull_request"] =
            json!({"url": format!("https://api.github.com/repos/{REPO}/pulls/{number}")});
        p["comment"]["id"] = json!(id);
        p["comment"]["body"] = json!(body);
        p["comment"]["user"]["login"] = json!(user);
        p["comment"]["user"]["type"] = json!("User");
        p["sender"]["login"] = json!(user);
        p["sender"]["type"] = json!("User");
        p
    }

    fn runs(&self, head: &str) -> Vec<support::CheckRunState> {
        self.fake
            .check_runs(REPO)
            .into_iter()
            .filter(|r| r.head_sha == head && r.name == "patchgate/quorum")
            .collect()
    }

    /// Wait until `head` has a completed patchgate check run.
    fn completed_run(&self, head: &str, server: &mut Server) -> support::CheckRunState {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(r) = self
                .runs(head)
                .into_iter()
                .find(|r| r.status == "completed")
            {
                return r;
            }
            server.assert_alive();
            assert!(
                Instant::now() < deadline,
                "no completed check run on {head}; server log:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn serve(&self, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Server {
        Server::start(self, extra_args, extra_env)
    }

    fn assert_no_violations(&self) {
        let v = self.fake.violations();
        assert!(
            v.is_empty(),
            "requests outside GitHub's REST description: {v:#?}"
        );
    }
}

struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(w: &World, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Server {
        let log = w.dir.path().join(format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let defaults = [
            ("--listen", "127.0.0.1:0"),
            ("--workers", "1"),
            ("--reconcile-interval", "0"),
            ("--lease-secs", "3"),
            ("--retry-secs", "1"),
            ("--log-format", "json"),
        ];
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchgate"));
        cmd.arg("serve");
        for (flag, value) in defaults {
            if !extra_args.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        cmd.args(extra_args)
            .env("PATCHGATE_DATA_DIR", w.data())
            .env("PATCHGATE_CONFIG", &w.config)
            .env("PATCHGATE_WEBHOOK_SECRET", SECRET)
            .env("PATCHGATE_GITHUB_APP_ID", w.fake.app_id().to_string())
            .env("PATCHGATE_GITHUB_PRIVATE_KEY", &w.key)
            .env("PATCHGATE_GITHUB_API_URL", w.fake.url())
            .env("RUST_LOG", "patchgate=debug")
            .env_remove("DATABASE_URL")
            .env_remove("PATCHGATE_EVENTS_SECRET")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start patchgate serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = match line.trim().strip_prefix("patchgate serve: listening on ") {
            Some(u) => u.to_string(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serve did not start: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server { child, url, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("serve exited ({status}):\n{}", self.log());
        }
    }

    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> (u16, String) {
        let body = serde_json::to_vec(payload).unwrap();
        self.deliver_raw(event, delivery, &body, &sign_github(SECRET, &body))
            .await
    }

    async fn deliver_raw(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        sig: &str,
    ) -> (u16, String) {
        let r = reqwest::Client::new()
            .post(format!("{}/webhook/github", self.url))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", sig)
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("deliver");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        let log = self.log();
        (status, log)
    }

    fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn jobs(w: &World) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(["jobs", "list"])
        .env("PATCHGATE_DATA_DIR", w.data())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

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
    let (code, metrics) = s.get("/metrics").await;
    assert_eq!(code, 200);
    for name in [
        "patchgate_webhook_requests_total",
        "patchgate_jobs",
        "patchgate_quorum_ast_diff_percent",
        "patchgate_audit_votes_total",
        "patchgate_meta_explained_total",
        "patchgate_quorum_decisions_total",
        "patchgate_cost_daily_burn_usd",
        "patchgate_rollback_triggered_total",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}");
    }
    assert!(metrics.contains("passed=\"true\""), "{metrics}");
    // Graceful stop: exit 0.
    let (status, log) = s.stop();
    assert!(status.success(), "{log}");
    // Secrets never in the logs.
    let token_prefix = "ghs_fake";
    assert!(!log.contains(SECRET), "webhook secret in the log");
    assert!(!log.contains(token_prefix), "installation token in the log");
    assert!(!log.contains("PRIVATE KEY"), "private key in the log");
    assert!(
        log.contains("\"delivery\":\"d-1\"") || log.contains("d-1"),
        "no delivery span in the log"
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
    assert!(metrics.contains("passed=\"false\""));
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
    let j = jobs(&w);
    assert!(j.contains("queued 0") && j.contains("done 0"), "{j}");
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
    drop(s);
    let j = jobs(&w);
    assert!(j.contains("done 1"), "{j}");
    assert_eq!(w.runs(&w.sha("render-a")).len(), 1);
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
    drop(s2);
    let j = jobs(&w);
    assert!(
        j.contains("done 1") && j.contains("queued 0") && j.contains("running 0"),
        "{j}"
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
        "Render-Of: #1\n\nThe same change, built independently.",
    );
    let mut s = w.serve(&[], &[]);
    s.deliver("pull_request", "d-rb", &w.pull_request_payload("opened", 2))
        .await;
    let b = w.completed_run(&w.sha("render-b"), &mut s);
    assert_eq!(b.conclusion.as_deref(), Some("neutral"));
    assert!(b.output.title.as_deref().unwrap_or("").contains("#1"));
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
