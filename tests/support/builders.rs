//! Render B builders in tests: the demo repository, server configs with builders from
//! `fixtures/builders/`, and a fake model endpoint (OpenAI-compatible) on 127.0.0.1 that
//! records every request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use serde_json::{json, Value};

use patchgate::audit::llm::AuditMode;
use patchgate::config::{resolve, Flags, Settings};

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A script of `fixtures/builders/`.
pub fn script(name: &str) -> String {
    root()
        .join("fixtures/builders")
        .join(name)
        .display()
        .to_string()
}

/// A demo render's tree, `fixtures/demo/<name>`.
pub fn demo_tree(name: &str) -> String {
    root()
        .join("fixtures/demo")
        .join(name)
        .display()
        .to_string()
}

/// A temporary directory with the demo repository (`main`, `render-a`, `render-b`,
/// `render-c`), a data directory and an approving command auditor script.
pub struct BuilderWorld {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub data: PathBuf,
    pub ok: PathBuf,
}

impl BuilderWorld {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("demo");
        let out = Command::new("bash")
            .arg(root().join("fixtures/demo/make-repo.sh"))
            .arg(&repo)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ok = dir.path().join("ok.sh");
        std::fs::write(
            &ok,
            "cat >/dev/null\necho '{\"verdict\":\"approve\",\"reason\":\"reviewed\",\"explanation\":\"fine\"}'\n",
        )
        .unwrap();
        BuilderWorld {
            data: dir.path().join("data"),
            repo,
            ok,
            dir,
        }
    }

    /// A server config: Rule-Guard and two approving command auditors (quorum 2), the daily
    /// budget, then `builders` (YAML list entries, indented by two spaces) and `extra` keys.
    pub fn server_yaml(&self, daily_usd: f64, builders: &str, extra: &str) -> String {
        format!(
            "auditors:\n  - {{name: rule-guard, kind: rules}}\n  - {{name: team-a, kind: command, command: [sh, {ok}], timeout_s: 20}}\n  - {{name: team-b, kind: command, command: [sh, {ok}], timeout_s: 20}}\nquorum: {{required: 2}}\nbudget: {{daily_usd: {daily_usd}}}\nbuilders:\n{builders}{extra}",
            ok = self.ok.display()
        )
    }

    /// Write `yaml` as the server config and resolve the settings from it.
    pub fn settings(&self, yaml: &str, mode: AuditMode) -> Settings {
        let path = self.dir.path().join("server.yml");
        std::fs::write(&path, yaml).unwrap();
        let flags = Flags {
            data_dir: Some(self.data.clone()),
            config: Some(path),
            audit_mode: Some(mode),
            ..Flags::default()
        };
        resolve(&flags, &|_| None).unwrap()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("server.yml")
    }

    /// `git -C repo args…`, its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// A builder entry running a script of `fixtures/builders/` with `args`.
pub fn command_builder(name: &str, script_name: &str, args: &[&str], more: &str) -> String {
    let mut argv = vec!["sh".to_string(), script(script_name)];
    argv.extend(args.iter().map(|a| a.to_string()));
    let argv: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "  - {{name: {name}, kind: command, command: [{}], env: [PATH]{more}}}\n",
        argv.join(", ")
    )
}

/// The request of the demo's change.
pub const DEMO_REQUEST: &str = "Retry HTTP fetches with exponential backoff\n\nNetwork errors and 5xx answers of the link checker (src/http.rs) and the Python report (tools/fetch_report.py) should be retried a few times, with a growing delay, configurable through the environment.";

/// A fake OpenAI-compatible endpoint answering `answers[n]` (the last one again after the end)
/// with `usage` tokens; every request body recorded.
pub struct FakeModel {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Value>>>,
}

pub async fn fake_model(answers: Vec<String>, usage: (u64, u64)) -> FakeModel {
    let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
    let rec = requests.clone();
    let answers = Arc::new(answers);
    let handler = move |body: Bytes| {
        let rec = rec.clone();
        let answers = answers.clone();
        async move {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let n = {
                let mut r = rec.lock().unwrap();
                r.push(v);
                r.len() - 1
            };
            let text = answers[n.min(answers.len() - 1)].clone();
            axum::Json(json!({
                "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1}
            }))
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    FakeModel {
        url: format!("http://{addr}/v1"),
        requests,
    }
}
