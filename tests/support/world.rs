//! A world for `patchgate serve` tests: the demo repository as a bare repository on disk (the
//! fake GitHub names it as the repository's clone URL), the fake GitHub with the App installed,
//! a server config whose two extra auditors are shell scripts, and the real binary started as
//! a process (`Server`), fed signed deliveries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{sign_github, webhook_payload, CheckRunState, FakeGitHub, PullSpec};

pub const SECRET: &str = "s3cret-webhook-Xq9";
pub const REPO: &str = "octo/linkwatch";
pub const INSTALLATION: u64 = 4242;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn git(dir: &Path, args: &[&str]) -> String {
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
pub const AUDITOR: &str = r#"input=$(cat)
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

pub struct World {
    pub dir: tempfile::TempDir,
    pub fake: FakeGitHub,
    pub bare: PathBuf,
    pub config: PathBuf,
    pub key: PathBuf,
    /// branch name → commit sha
    pub shas: std::collections::HashMap<String, String>,
}

impl World {
    pub async fn new() -> World {
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

    pub fn sha(&self, branch: &str) -> String {
        self.shas[branch].clone()
    }

    /// PR `number` from `branch` into `base`, known to the fake and given a `refs/pull/N/head`.
    pub fn open_pr(&self, number: u64, branch: &str, base: &str, body: &str) {
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

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn hold(&self) -> PathBuf {
        self.dir.path().join("hold")
    }

    pub fn started(&self) -> PathBuf {
        self.dir.path().join("started")
    }

    pub fn pull_request_payload(&self, action: &str, number: u64) -> Value {
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

    pub fn comment_payload(&self, number: u64, user: &str, body: &str) -> Value {
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

    pub fn runs(&self, head: &str) -> Vec<CheckRunState> {
        self.fake
            .check_runs(REPO)
            .into_iter()
            .filter(|r| r.head_sha == head && r.name == "patchgate/quorum")
            .collect()
    }

    /// Wait until `head` has a completed patchgate check run.
    pub fn completed_run(&self, head: &str, server: &mut Server) -> CheckRunState {
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

    pub fn serve(&self, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Server {
        Server::start(self, extra_args, extra_env)
    }

    pub fn assert_no_violations(&self) {
        let v = self.fake.violations();
        assert!(
            v.is_empty(),
            "requests outside GitHub's REST description: {v:#?}"
        );
    }
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Server {
    pub fn start(w: &World, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Server {
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("serve exited ({status}):\n{}", self.log());
        }
    }

    pub async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> (u16, String) {
        let body = serde_json::to_vec(payload).unwrap();
        self.deliver_raw(event, delivery, &body, &sign_github(SECRET, &body))
            .await
    }

    pub async fn deliver_raw(
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

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        let log = self.log();
        (status, log)
    }

    pub fn kill(mut self) -> String {
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

pub fn jobs(w: &World) -> String {
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
