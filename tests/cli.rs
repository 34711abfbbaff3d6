//! The `patchgate` binary as a user runs it: exit codes, outputs, errors.

use std::path::Path;
use std::process::{Command, Output};

fn patchgate(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PATCHGATE_THRESHOLD_PERCENT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run patchgate")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_readme_demo_agrees_and_exits_zero() {
    let o = patchgate(
        &[
            "diff",
            "--base",
            "fixtures/demo/base",
            "fixtures/demo/render-a",
            "fixtures/demo/render-b",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("AGREED"), "{}", stdout(&o));
}

#[test]
fn a_diverging_render_escalates_and_exits_one() {
    let o = patchgate(
        &[
            "diff",
            "--base",
            "fixtures/demo/base",
            "fixtures/demo/render-a",
            "fixtures/demo/render-c",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("ESCALATE"));
}

#[test]
fn the_same_renders_as_patches_give_the_same_verdict() {
    let dirs = patchgate(
        &[
            "diff",
            "--format",
            "json",
            "--base",
            "fixtures/demo/base",
            "fixtures/demo/render-a",
            "fixtures/demo/render-b",
        ],
        root(),
    );
    let patches = patchgate(
        &[
            "diff",
            "--format",
            "json",
            "--base",
            "fixtures/demo/base",
            "fixtures/demo/render-a.patch",
            "fixtures/demo/render-b.patch",
        ],
        root(),
    );
    assert_eq!(patches.status.code(), Some(0), "{}", stderr(&patches));
    let d: serde_json::Value = serde_json::from_slice(&dirs.stdout).unwrap();
    let p: serde_json::Value = serde_json::from_slice(&patches.stdout).unwrap();
    assert_eq!(d["variance_percent"], p["variance_percent"]);
    assert_eq!(p["verdict"], "agreed");
}

#[test]
fn json_output_has_the_schema_fields() {
    let o = patchgate(
        &[
            "diff",
            "--format",
            "json",
            "--base",
            "fixtures/demo/base",
            "fixtures/demo/render-a",
            "fixtures/demo/render-c",
        ],
        root(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["schema"], "patchgate.diff/v1");
    assert_eq!(v["verdict"], "escalate");
    assert_eq!(v["threshold_percent"], 3.0);
    assert!(v["variance_percent"].as_f64().unwrap() > 3.0);
    let files = v["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["language"] == "rust"));
    assert!(files
        .iter()
        .all(|f| f.get("fallback").is_some() && f.get("edits").is_some()));
}

#[test]
fn the_threshold_decides_the_verdict() {
    let o = patchgate(
        &[
            "diff",
            "--threshold",
            "0",
            "--base",
            "fixtures/demo/base",
            "fixtures/demo/render-a",
            "fixtures/demo/render-b",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(1));
    let bad = patchgate(&["diff", "--threshold", "150", "a", "b"], root());
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--threshold"), "{}", stderr(&bad));
}

#[test]
fn a_missing_path_is_an_error_naming_the_side() {
    let o = patchgate(
        &["diff", "fixtures/demo/render-a", "no/such/render"],
        root(),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("patchgate: error:"), "{err}");
    assert!(err.contains("render B"), "{err}");
}

#[test]
fn a_single_render_on_a_git_repository_is_classified() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let commit = |msg: &str, text: &str, parent: Option<git2::Oid>| -> git2::Oid {
        std::fs::write(dir.path().join("lib.py"), text).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("lib.py")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parents: Vec<git2::Commit> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &refs)
            .unwrap()
    };
    let base = commit(
        "base",
        "def tidy(x):\n    return x+1\n\ndef logic(x):\n    return x + 1\n",
        None,
    );
    let head = commit(
        "head",
        "def tidy(x):\n    # one more\n    return x + 1\n\ndef logic(x):\n    return x + 2\n",
        Some(base),
    );
    let o = patchgate(
        &[
            "diff",
            "--format",
            "json",
            "--base",
            &base.to_string(),
            "--head",
            &head.to_string(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mode"], "single");
    let entities = v["files"][0]["entities"].as_array().unwrap();
    let class = |name: &str| {
        entities
            .iter()
            .find(|e| e["entity"] == name)
            .map(|e| e["class"].as_str().unwrap().to_string())
    };
    assert_eq!(class("def tidy").as_deref(), Some("cosmetic"));
    assert_eq!(class("def logic").as_deref(), Some("semantic"));
    let text = patchgate(
        &[
            "diff",
            "--base",
            &base.to_string(),
            "--head",
            &head.to_string(),
        ],
        dir.path(),
    );
    assert!(stdout(&text).contains("SINGLE RENDER"), "{}", stdout(&text));
}

#[test]
fn help_lists_only_working_commands() {
    let o = patchgate(&["--help"], root());
    let help = stdout(&o);
    // Every command the README names is built now; none is listed that is not.
    for cmd in [
        "diff", "check", "render", "audit", "meta", "ledger", "report", "rules", "config",
        "rollback", "serve", "jobs", "event",
    ] {
        assert!(help.contains(&format!("  {cmd}")), "{help}");
    }
    let listed: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for cmd in &listed {
        assert!(
            [
                "diff", "check", "render", "audit", "meta", "ledger", "report", "rules", "config",
                "rollback", "serve", "jobs", "event", "help"
            ]
            .contains(cmd),
            "{cmd} is listed but not a known command: {help}"
        );
    }
}

#[test]
fn the_rule_pack_passes_its_own_examples() {
    let o = patchgate(&["rules", "test"], root());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("all passed"), "{}", stdout(&o));
}

#[test]
fn the_bench_mode_runs_on_a_small_corpus() {
    let dir = tempfile::tempdir().unwrap();
    for (side, body) in [
        ("before", "def f(x):\n    return x\n"),
        ("after", "def f(x):\n    return x + 1\n"),
    ] {
        let p = dir.path().join("set").join(side).join("proj/c1");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("m.py"), body).unwrap();
    }
    let o = patchgate(
        &[
            "diff",
            "--bench",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pairs"], 1);
    assert!(v["diff"]["median_ms"].as_f64().unwrap() >= 0.0);
}

#[test]
fn config_explain_says_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(["config", "explain", "--threshold-unused-guard"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "unknown flags are refused");
    let o = Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(["config", "explain"])
        .env("PATCHGATE_DATA_DIR", dir.path())
        .env("DATABASE_URL", "postgres://app:hunter2@db/pg")
        .env_remove("PATCHGATE_CONFIG")
        .output()
        .unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(text.contains("(env PATCHGATE_DATA_DIR)"), "{text}");
    assert!(
        text.contains("postgres://app:***@db/pg") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(text.contains("(embedded default)"), "{text}");
}

#[test]
fn config_check_reports_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("server.yml");
    std::fs::write(
        &bad,
        "auditors: [{name: x, kind: openai}]\nquorum: {required: 3}\n",
    )
    .unwrap();
    let o = patchgate(&["config", "check", bad.to_str().unwrap()], root());
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    for needle in [
        "auditors[0].base_url",
        "auditors[0].model",
        "auditors[0].api_key_env",
        "quorum.required",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    let repo_cfg = dir.path().join("patchgate.yml");
    std::fs::write(&repo_cfg, "rules:\n  disable: [secret-aws-access-key-id]\n").unwrap();
    let o = patchgate(&["config", "check", repo_cfg.to_str().unwrap()], root());
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("secret rule"), "{}", stdout(&o));
    std::fs::write(
        &repo_cfg,
        "threshold_percent: 2.5\nrules:\n  disable: [rust-dbg-macro]\n",
    )
    .unwrap();
    let o = patchgate(&["config", "check", repo_cfg.to_str().unwrap()], root());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn config_check_and_serve_report_every_server_config_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("server.yml");
    std::fs::write(
        &bad,
        "auditors:\n  - {name: rule-guard, kind: rules, timout_s: 5}\n  - {name: ops, kind: comand, command: [x]}\nquorum: {required: two}\nbugdet: {daily_usd: 1}\n",
    )
    .unwrap();
    let o = patchgate(&["config", "check", bad.to_str().unwrap()], root());
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    for needle in [
        "4 problem(s)",
        "auditors[0].timout_s: unknown key `timout_s`. Did you mean `timeout_s`?",
        "auditors[1].kind: unknown value `comand`. Did you mean `command`?",
        "quorum.required: invalid type: string \"two\"",
        "bugdet: unknown key `bugdet`. Did you mean `budget`?",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    // `serve` refuses to start with the same list (before it binds or opens anything).
    let o = Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(["--config", bad.to_str().unwrap(), "serve"])
        .current_dir(root())
        .env("PATCHGATE_DATA_DIR", dir.path().join("data"))
        .env_remove("PATCHGATE_CONFIG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("Did you mean `timeout_s`?"), "{err}");
    assert!(err.contains("Did you mean `budget`?"), "{err}");
}

fn patchgate_in(args: &[&str], cwd: &Path, data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PATCHGATE_THRESHOLD_PERCENT")
        .env_remove("DATABASE_URL")
        .env_remove("PATCHGATE_CONFIG")
        .env("PATCHGATE_DATA_DIR", data_dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run patchgate")
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(o), stderr(o)))
}

#[test]
fn meta_verify_on_a_file_that_is_no_record_is_an_input_error_not_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    for target in [empty.to_str().unwrap(), "src/main.rs", "Cargo.toml"] {
        let o = patchgate(&["meta", "verify", target], root());
        assert_eq!(
            o.status.code(),
            Some(2),
            "{target}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(!stdout(&o).contains("TAMPERED"), "{target}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("is not a patchgate decision record"),
            "{target}: {}",
            stderr(&o)
        );
        let o = patchgate(&["meta", "verify", target, "--format", "json"], root());
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(json_of(&o)["status"], "not_a_record");
    }
    // A record whose hash was edited is still tampering.
    let edited = dir.path().join("meta.yaml");
    std::fs::write(
        &edited,
        "record_hash: sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
         prev_record_hash: sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
    )
    .unwrap();
    let o = patchgate(&["meta", "verify", edited.to_str().unwrap()], root());
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("TAMPERED"), "{}", stdout(&o));
    let o = patchgate(
        &[
            "meta",
            "verify",
            edited.to_str().unwrap(),
            "--format",
            "json",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(1));
    let doc = json_of(&o);
    assert_eq!(doc["status"], "tampered");
    assert!(!doc["problems"].as_array().unwrap().is_empty(), "{doc}");
}

#[test]
fn scripts_get_json_from_every_checking_command() {
    let data = tempfile::tempdir().unwrap();
    let o = patchgate_in(&["rules", "test", "--format", "json"], root(), data.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_of(&o);
    assert_eq!(doc["passed"], true);
    assert!(doc["rules"].as_u64().unwrap() > 10, "{doc}");
    assert_eq!(doc["failures"].as_array().unwrap().len(), 0);

    let o = patchgate_in(
        &["ledger", "verify", "--format", "json"],
        root(),
        data.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_of(&o);
    assert_eq!(doc["status"], "intact");
    assert_eq!(doc["records"], 0);
    assert_eq!(doc["backend"], "sqlite");

    let o = patchgate_in(&["jobs", "--format", "json"], root(), data.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc = json_of(&o);
    assert_eq!(doc["counts"]["parked"], 0, "{doc}");
    assert_eq!(doc["parked"].as_array().unwrap().len(), 0);

    let bad = data.path().join("patchgate.yml");
    std::fs::write(&bad, "auditors:\n  - {name: rule-guard, kind: rulez}\n").unwrap();
    let o = patchgate_in(
        &["config", "check", bad.to_str().unwrap(), "--format", "json"],
        root(),
        data.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc = json_of(&o);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["checked"][0]["ok"], false);
    assert!(
        doc["checked"][0]["problems"]
            .as_str()
            .unwrap()
            .contains("kind"),
        "{doc}"
    );
}

#[test]
fn two_patches_without_a_base_ask_for_the_base() {
    let o = patchgate(
        &[
            "diff",
            "fixtures/demo/render-a.patch",
            "fixtures/demo/render-b.patch",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("are unified-diff patches: give --base"),
        "{}",
        stderr(&o)
    );
    // Asked for, the patch files are compared as text.
    let o = patchgate(
        &[
            "diff",
            "--input",
            "files",
            "fixtures/demo/render-a.patch",
            "fixtures/demo/render-b.patch",
        ],
        root(),
    );
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// An unreachable PostgreSQL is blamed as such: the error names PostgreSQL, where its URL came
/// from and the refused address, never the SQLite data directory it does not use, and never the
/// password.
#[test]
fn an_unreachable_postgresql_is_named_not_the_data_directory() {
    let data = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://gate:hunter2@127.0.0.1:{port}/patchgate");
    let o = patchgate_in(&["jobs", "--database-url", &url], root(), data.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("opening the store (PostgreSQL, the database URL from flag --database-url)"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    assert!(!err.contains(&data.path().display().to_string()), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
