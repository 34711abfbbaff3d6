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
/// change containing an AWS key id (with a finding on the file), abstains on an escalated
/// change (renders that differ: the escalated audit then fails closed, as with an auditor that
/// cannot judge it), approves anything else, and — while `<dir>/hold` exists — announces itself
/// in `<dir>/started` and waits.
pub const AUDITOR: &str = r#"input=$(cat)
dir=$(dirname "$0")
if [ -e "$dir/hold" ]; then
  echo started > "$dir/started"
  while [ -e "$dir/hold" ]; do sleep 0.1; done
fi
case "$input" in
  *'"escalation":{'*) echo '{"verdict":"abstain","reason":"escalated changes are left to the maintainers"}' ;;
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

    /// The App's payload of `check_run.requested_action`: `user` pressed the button
    /// `identifier` on `run`, with the run's own fields (its `external_id` included) and no
    /// pull request listed (as GitHub sends it after a merge; the PR is in the external id).
    pub fn check_action_payload(&self, user: &str, run: &CheckRunState, identifier: &str) -> Value {
        let mut p = webhook_payload("check_run.requested_action");
        p["installation"] = json!({"id": INSTALLATION, "node_id": "x"});
        p["repository"]["full_name"] = json!(REPO);
        p["repository"]["name"] = json!("linkwatch");
        p["repository"]["owner"]["login"] = json!("octo");
        p["repository"]["clone_url"] = json!(self.bare.to_str().unwrap());
        p["repository"]["default_branch"] = json!("main");
        p["check_run"]["id"] = json!(run.id);
        p["check_run"]["name"] = json!(run.name);
        p["check_run"]["head_sha"] = json!(run.head_sha);
        p["check_run"]["external_id"] = json!(run.external_id.clone().unwrap_or_default());
        p["check_run"]["status"] = json!(run.status);
        p["check_run"]["conclusion"] = json!(run.conclusion);
        p["check_run"]["app"]["id"] = json!(run.app_id);
        p["check_run"]["pull_requests"] = json!([]);
        p["requested_action"] = json!({ "identifier": identifier });
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

    /// Everything the fake GitHub saw was as GitHub allows: no request outside the REST
    /// description (strictly judged, see `openapi.rs`), no answer of the fake outside it, and
    /// no request to a route the description lacks (the fake answers those 404, which the
    /// client may read as "no such thing" and carry on) or to an operation the fake does not
    /// implement (501). A known route's 404 (a file that is not there) is a legitimate answer.
    pub fn assert_no_violations(&self) {
        let v = self.fake.violations();
        let r = self.fake.response_problems();
        let unanswerable: Vec<String> = self
            .fake
            .requests()
            .iter()
            .filter(|q| q.operation_id.is_none() || q.status == 501)
            .map(|q| {
                format!(
                    "{} {}{} -> {} ({})",
                    q.method,
                    q.path,
                    q.query
                        .as_deref()
                        .map(|x| format!("?{x}"))
                        .unwrap_or_default(),
                    q.status,
                    if q.operation_id.is_none() {
                        "no such route in the REST description"
                    } else {
                        "described, but the fake does not implement it"
                    }
                )
            })
            .collect();
        assert!(
            v.is_empty() && r.is_empty() && unanswerable.is_empty(),
            "requests outside GitHub's REST description: {v:#?}\n\
             answers of the fake outside it: {r:#?}\n\
             requests to routes GitHub (or the fake) has not: {unanswerable:#?}"
        );
    }
}

/// Job counts by state from `patchgate jobs list` (its `jobs: queued 0, running 0, …`
/// line); a state it does not print is missing from the map.
pub fn job_counts(listing: &str) -> std::collections::BTreeMap<String, u64> {
    let line = listing
        .lines()
        .find_map(|l| l.strip_prefix("jobs: "))
        .unwrap_or_else(|| panic!("no `jobs:` line in {listing:?}"));
    line.split(", ")
        .map(|part| {
            let (state, n) = part
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("cannot read {part:?} in {line:?}"));
            let n = n
                .parse()
                .unwrap_or_else(|e| panic!("cannot read {part:?} in {line:?}: {e}"));
            (state.to_string(), n)
        })
        .collect()
}

/// The samples of metric `name` in an OpenMetrics/Prometheus exposition (`GET /metrics`),
/// each with its labels. `name` is the sample's full name (`…_total`, `…_count`, `…_bucket`):
/// only that exact name matches, so `patchgate_jobs` does not match
/// `patchgate_jobs_processed_total`.
pub fn metric_samples(
    text: &str,
    name: &str,
) -> Vec<(std::collections::BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        if &line[..end] != name {
            continue;
        }
        let mut labels = std::collections::BTreeMap::new();
        let mut rest = &line[end..];
        if let Some(inner) = rest.strip_prefix('{') {
            // name="value" pairs, values with \" \\ \n escapes, up to the closing brace.
            let mut chars = inner.char_indices().peekable();
            let mut close = None;
            loop {
                while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                    chars.next();
                }
                match chars.peek() {
                    Some((i, '}')) => {
                        close = Some(*i);
                        break;
                    }
                    None => break,
                    _ => {}
                }
                let mut key = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert_eq!(
                    chars.next().map(|(_, c)| c),
                    Some('"'),
                    "bad label in {line:?}"
                );
                let mut value = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(e) => value.push(e),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
                labels.insert(key.trim().to_string(), value);
            }
            let close = close.unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
            rest = &inner[close + 1..];
        }
        let value = rest
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
        out.push((labels, value));
    }
    out
}

/// The value of the sample `name` whose labels are exactly `labels` (in any order), if the
/// exposition has it; see [`metric_samples`].
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: std::collections::BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    metric_samples(text, name)
        .into_iter()
        .find(|(l, _)| *l == want)
        .map(|(_, v)| v)
}

#[test]
fn metric_reads_one_exact_sample() {
    let text = "# HELP patchgate_jobs Jobs.\n# TYPE patchgate_jobs gauge\n\
        patchgate_jobs{state=\"done\"} 10\n\
        patchgate_jobs{state=\"queued\"} 0\n\
        patchgate_jobs_processed_total{event=\"pull_request\",outcome=\"done\"} 1\n\
        patchgate_quorum_ast_diff_percent_count 2\n\
        patchgate_quorum_ast_diff_percent_bucket{le=\"+Inf\"} 2\n\
        odd{a=\"x\\\"}, y\",b=\"2\"} 1.5e0 1700000000\n# EOF\n";
    assert_eq!(
        metric(text, "patchgate_jobs", &[("state", "done")]),
        Some(10.0)
    );
    assert_eq!(
        metric(text, "patchgate_jobs", &[("state", "queued")]),
        Some(0.0)
    );
    assert_eq!(
        metric(text, "patchgate_jobs", &[("state", "running")]),
        None
    );
    assert_eq!(metric(text, "patchgate_jobs", &[]), None);
    assert_eq!(
        metric(
            text,
            "patchgate_jobs_processed_total",
            &[("outcome", "done")]
        ),
        None,
        "a label set matches only exactly"
    );
    assert_eq!(metric(text, "patchgate_jobs_processed", &[]), None);
    assert_eq!(
        metric(text, "patchgate_quorum_ast_diff_percent_count", &[]),
        Some(2.0)
    );
    assert_eq!(
        metric(
            text,
            "patchgate_quorum_ast_diff_percent_bucket",
            &[("le", "+Inf")]
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(text, "odd", &[("b", "2"), ("a", "x\"}, y")]),
        Some(1.5)
    );
    assert_eq!(metric_samples(text, "patchgate_jobs").len(), 2);
}

/// One secret the server must never print, and what it is (for the failure message, which
/// never repeats the secret).
struct Secret {
    what: String,
    value: String,
}

/// Where a log line carries a credential by its shape: GitHub tokens (installation `ghs_`,
/// user-to-server `ghu_`, OAuth `gho_`, refresh `ghr_`, classic `ghp_`, fine-grained
/// `github_pat_`; the fake's installation tokens are `ghs_fake…`) and JWTs (`eyJ`, a
/// base64url JSON header: the App's JWT).
fn credential_shapes() -> &'static [(&'static str, regex::Regex)] {
    static SHAPES: std::sync::OnceLock<Vec<(&'static str, regex::Regex)>> =
        std::sync::OnceLock::new();
    SHAPES.get_or_init(|| {
        [
            ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9_]{6,}"),
            (
                "a fine-grained GitHub token",
                r"\bgithub_pat_[A-Za-z0-9_]{6,}",
            ),
            ("a JWT (the App's)", r"eyJ[A-Za-z0-9_-]{6,}"),
            ("a private key", r"PRIVATE KEY-----"),
        ]
        .into_iter()
        .map(|(what, re)| (what, regex::Regex::new(re).expect("credential regex")))
        .collect()
    })
}

#[test]
fn credential_shapes_find_tokens_and_jwts_but_not_words() {
    let found = |line: &str| credential_shapes().iter().any(|(_, re)| re.is_match(line));
    for line in [
        "token ghs_fake000000011a2b3c4d",
        "{\"t\":\"ghu_abcdefgh\"}",
        "github_pat_11ABCDEFG_xyz",
        "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2ln",
        "-----BEGIN RSA PRIVATE KEY-----",
    ] {
        assert!(found(line), "{line}");
    }
    for line in [
        "ghost writer",
        "eyes only",
        "job done delivery d-1",
        "redacted: ***",
    ] {
        assert!(!found(line), "{line}");
    }
}

pub struct Server {
    pub child: Child,
    pub url: String,
    /// The server's stderr (its log).
    pub log: PathBuf,
    /// The server's stdout after its first line (copied there by a thread).
    pub stdout: PathBuf,
    stdout_copier: Option<std::thread::JoinHandle<()>>,
    /// What the server was given that must never reach its output.
    secrets: Vec<Secret>,
    /// Whether the output was already checked for secrets.
    checked: bool,
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
            ("--redeliver-interval", "0"),
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
        let mut secrets = vec![Secret {
            what: "the webhook secret".into(),
            value: SECRET.into(),
        }];
        for (k, v) in extra_env {
            if k.contains("SECRET") || k.contains("TOKEN") || k.ends_with("API_KEY") {
                secrets.push(Secret {
                    what: format!("the value of {k}"),
                    value: v.to_string(),
                });
            }
        }
        let pem = std::fs::read_to_string(&w.key).expect("the App's key");
        for (i, l) in pem.lines().enumerate() {
            let l = l.trim();
            if !l.is_empty() && !l.starts_with("-----") {
                secrets.push(Secret {
                    what: format!("line {} of the App's private key", i + 1),
                    value: l.to_string(),
                });
            }
        }
        let mut child = cmd.spawn().expect("start patchgate serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
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
        // Keep reading stdout (so it stays open, as it would in production) into a file the
        // secret check reads too.
        let stdout_path = log.with_extension("stdout");
        let mut out = std::fs::File::create(&stdout_path).unwrap();
        let stdout_copier = std::thread::spawn(move || {
            let _ = std::io::copy(&mut stdout, &mut out);
        });
        Server {
            child,
            url,
            log,
            stdout: stdout_path,
            stdout_copier: Some(stdout_copier),
            secrets,
            checked: false,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the server printed on stdout after its first line.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Once the process has exited: its stdout and stderr carry none of its secrets (the
    /// webhook secret, any `*SECRET*`/`*TOKEN*`/`*API_KEY` value it was given, the body lines
    /// of the App's private key) and no credential by its shape (a GitHub token such as the
    /// fake's installation tokens, a JWT such as the App's, a PEM private key). Every server
    /// story gets this check when its server stops, is killed or is dropped.
    fn assert_no_secrets_in_output(&mut self) {
        if self.checked {
            return;
        }
        self.checked = true;
        // The copier ends when every holder of the pipe has exited (an auditor the server
        // started could hold it a little longer); wait for it, within reason.
        if let Some(copier) = self.stdout_copier.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !copier.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if copier.is_finished() {
                let _ = copier.join();
            }
        }
        let mut leaks = Vec::new();
        for (stream, text) in [("stderr", self.log()), ("stdout", self.stdout())] {
            for (n, line) in text.lines().enumerate() {
                for s in &self.secrets {
                    if !s.value.is_empty() && line.contains(&s.value) {
                        leaks.push(format!("{stream} line {}: {}", n + 1, s.what));
                    }
                }
                for (what, re) in credential_shapes() {
                    if let Some(m) = re.find(line) {
                        let shown: String = m.as_str().chars().take(8).collect();
                        leaks.push(format!("{stream} line {}: {what} ({shown}…)", n + 1));
                    }
                }
            }
        }
        assert!(
            leaks.is_empty(),
            "the server printed secrets ({} in {}):\n{}",
            leaks.len(),
            self.log.display(),
            leaks.join("\n")
        );
    }

    /// Poll `cond` every 100 ms until it gives a value, failing with the server's log after
    /// `secs` or as soon as the server has died.
    pub fn wait_until<T>(
        &mut self,
        what: &str,
        secs: u64,
        mut cond: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = cond() {
                return v;
            }
            self.assert_alive();
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; server log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
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
        self.assert_no_secrets_in_output();
        let log = self.log();
        (status, log)
    }

    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.assert_no_secrets_in_output();
        self.log()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A test already failing keeps its own message (a second panic would abort).
        if !std::thread::panicking() {
            self.assert_no_secrets_in_output();
        }
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
