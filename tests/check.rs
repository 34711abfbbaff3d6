//! `patchgate check`, `audit`, `meta verify` and `ledger verify`, run as a user runs them, on the
//! demo repository that `fixtures/demo/make-repo.sh` builds.

use crate::support::pg as pgdb;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) struct World {
    _dir: tempfile::TempDir,
    pub(crate) repo: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) config: PathBuf,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh demo repository, data directory, and a server config whose two extra auditors are
/// shell scripts that approve (so the quorum can pass without model keys).
pub(crate) fn world() -> World {
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
    let config = dir.path().join("server.yml");
    std::fs::write(
        &config,
        format!(
            "auditors:\n  - {{name: rule-guard, kind: rules}}\n  - {{name: team-a, kind: command, command: [sh, {ok}], timeout_s: 20}}\n  - {{name: team-b, kind: command, command: [sh, {ok}], timeout_s: 20}}\nquorum: {{required: 2}}\n",
            ok = ok.display()
        ),
    )
    .unwrap();
    World {
        data: dir.path().join("data"),
        repo,
        config,
        _dir: dir,
    }
}

pub(crate) fn pg(w: &World, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patchgate"));
    c.args(args)
        .current_dir(root())
        .env("PATCHGATE_DATA_DIR", &w.data)
        .env("NO_COLOR", "1")
        .env_remove("PATCHGATE_CONFIG")
        .env_remove("DATABASE_URL")
        .env_remove("PATCHGATE_AUDIT_MODE")
        .env_remove("PATCHGATE_THRESHOLD_PERCENT")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY");
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().expect("run patchgate")
}

pub(crate) fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn repo(w: &World) -> &str {
    w.repo.to_str().unwrap()
}

#[test]
fn with_nothing_configured_the_gate_blocks_and_says_what_to_configure() {
    let w = world();
    let o = pg(
        &w,
        &[
            "check",
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--render-b",
            "render-b",
        ],
        &[],
    );
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.starts_with("BLOCKED  quorum_passed: false"), "{text}");
    assert!(text.contains("renders       agreed"), "{text}");
    assert!(
        text.contains("reviewer-1     abstain  not configured"),
        "{text}"
    );
    assert!(text.contains("set OPENAI_API_KEY"), "{text}");
    assert!(text.contains("set ANTHROPIC_API_KEY"), "{text}");
    assert!(text.contains("ledger #1"), "{text}");
    // The record travels with the repository and verifies.
    let v = pg(&w, &["meta", "verify", "render-a", "--repo", repo(&w)], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", out(&v));
    assert!(out(&v).contains("quorum_passed: false"));
}

#[test]
fn two_approvals_pass_and_the_record_has_the_design_fields() {
    let w = world();
    let meta = w.data.parent().unwrap().join("meta.yaml");
    let o = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--render-b",
            "render-b",
            "--format",
            "json",
            "--write-meta",
            meta.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["quorum_passed"], true);
    let r = &v["record"];
    assert_eq!(r["version"], 1);
    assert_eq!(r["repo"], "demo");
    for key in ["base", "head"] {
        assert_eq!(r["change"][key].as_str().unwrap().len(), 40, "{key}");
    }
    assert_eq!(r["renders"]["b"]["source"], "render-b");
    assert!(r["renders"]["a"]["explanation_hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(r["renders"]["a"]["explanation_source"], "commit_message");
    assert_eq!(r["ast_diff"]["agreed"], true);
    assert!(r["ast_diff"]["variance_percent"].as_f64().unwrap() < 3.0);
    // The two explanations say the same in other words: with no judge configured they are
    // "not judged" (the lexical measure is recorded as information and decides nothing).
    assert_eq!(r["explanations"]["status"], "not_judged");
    assert_eq!(r["explanations"]["agreed"], false);
    assert!(r["explanations"]["similarity"].as_f64().unwrap() > 0.85);
    assert_eq!(r["gate"]["path"], "agreed");
    assert_eq!(r["audit"]["required"], 2);
    let votes = r["audit"]["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 3);
    assert!(votes.iter().all(|v| v["verdict"] == "approve"));
    assert!(r["prev_record_hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:0000"));
    assert!(r["record_hash"].as_str().unwrap().starts_with("sha256:"));
    // The file written is the same record, and it verifies; so does the ledger.
    let yaml = std::fs::read_to_string(&meta).unwrap();
    assert!(yaml.contains("quorum_passed: true"), "{yaml}");
    assert_eq!(
        pg(&w, &["meta", "verify", meta.to_str().unwrap()], &[])
            .status
            .code(),
        Some(0)
    );
    // A second check chains onto the first.
    let o2 = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-b",
        ],
        &[],
    );
    assert_eq!(o2.status.code(), Some(0), "{}", out(&o2));
    assert!(out(&o2).contains("ledger #2"), "{}", out(&o2));
    let l = pg(&w, &["ledger", "verify"], &[]);
    assert_eq!(l.status.code(), Some(0), "{}", out(&l));
    assert!(out(&l).contains("2 record(s), chain intact"), "{}", out(&l));
}

#[test]
fn diverging_renders_escalate_and_pass_only_with_every_auditor_approving() {
    let w = world();
    let check = |config: &Path| {
        pg(
            &w,
            &[
                "check",
                "--config",
                config.to_str().unwrap(),
                "--repo",
                repo(&w),
                "--base",
                "main",
                "--head",
                "render-a",
                "--render-b",
                "render-c",
            ],
            &[],
        )
    };
    // Every configured auditor approves the escalated change: it passes.
    let o = check(&w.config);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("renders       escalate"), "{text}");
    assert!(text.contains("path          escalated"), "{text}");
    assert!(text.contains("explanations  not judged"), "{text}");
    assert!(text.contains("audit         passed"), "{text}");
    // One of them does not answer: the escalated audit fails closed.
    let quiet = w.config.with_file_name("quiet.sh");
    std::fs::write(&quiet, "cat >/dev/null\nexit 3\n").unwrap();
    let cfg = w.config.with_file_name("server-quiet.yml");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&w.config)
            .unwrap()
            .replacen("ok.sh", "quiet.sh", 1),
    )
    .unwrap();
    let o = check(&cfg);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("abstain"), "{text}");
    assert!(text.contains("the renders disagree"), "{text}");
}

#[test]
fn render_b_as_a_patch_gives_the_same_variance_as_the_branch() {
    let w = world();
    let json = |o: &Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", out(o)))
    };
    let by_rev = pg(
        &w,
        &[
            "check",
            "--no-note",
            "--format",
            "json",
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--render-b",
            "render-b",
        ],
        &[],
    );
    let patch = root().join("fixtures/demo/render-b.patch");
    let by_patch = pg(
        &w,
        &[
            "check",
            "--no-note",
            "--format",
            "json",
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--render-b-patch",
            patch.to_str().unwrap(),
        ],
        &[],
    );
    let (a, b) = (json(&by_rev), json(&by_patch));
    assert_eq!(
        a["record"]["ast_diff"]["variance_percent"],
        b["record"]["ast_diff"]["variance_percent"]
    );
    assert!(b["record"]["renders"]["b"]["source"]
        .as_str()
        .unwrap()
        .starts_with("patch:"));
}

#[test]
fn a_tampered_note_and_a_tampered_ledger_row_are_caught() {
    let w = world();
    let o = pg(
        &w,
        &[
            "check",
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    // Forge the note: claim the gate passed.
    let r = git2::Repository::open(&w.repo).unwrap();
    let head = r
        .revparse_single("render-a")
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id();
    let note = r.find_note(Some("refs/notes/patchgate"), head).unwrap();
    let forged = note
        .message()
        .unwrap()
        .replace("quorum_passed: false", "quorum_passed: true");
    let sig = git2::Signature::now("mallory", "m@example.com").unwrap();
    r.note(
        &sig,
        &sig,
        Some("refs/notes/patchgate"),
        head,
        &forged,
        true,
    )
    .unwrap();
    let v = pg(&w, &["meta", "verify", "render-a", "--repo", repo(&w)], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", out(&v));
    assert!(out(&v).contains("record_hash mismatch"), "{}", out(&v));
    // Edit the ledger row behind patchgate's back.
    edit_store(
        &w,
        "UPDATE ledger SET record_yaml = replace(record_yaml, 'quorum_passed: false', 'quorum_passed: true')",
    );
    let l = pg(&w, &["ledger", "verify"], &[]);
    assert_eq!(l.status.code(), Some(1), "{}", out(&l));
    assert!(
        out(&l).contains("row 1") && out(&l).contains("edited"),
        "{}",
        out(&l)
    );
}

/// Run one SQL statement on the store's SQLite file behind patchgate's back (a tamperer's edit).
fn edit_store(w: &World, sql: &str) {
    let db = w.data.join("patchgate.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    });
}

#[test]
fn a_planted_secret_is_rejected_and_never_printed() {
    let w = world();
    let key = "AKIAIOSFODNN7EXAMPLQ";
    std::fs::write(
        w.repo.join("tools/settings.py"),
        format!("AWS_KEY = \"{key}\"\n"),
    )
    .unwrap();
    let r = git2::Repository::open(&w.repo).unwrap();
    let mut index = r.index().unwrap();
    index.add_path(Path::new("tools/settings.py")).unwrap();
    index.write().unwrap();
    let tree = r.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = r.head().unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    r.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "configure the key",
        &tree,
        &[&parent],
    )
    .unwrap();
    let o = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
        ],
        &[],
    );
    let text = out(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "two command auditors approve: {text}"
    );
    assert!(text.contains("rule-guard     reject"), "{text}");
    assert!(!text.contains(key), "the key was printed: {text}");
    let note = r
        .find_note(
            Some("refs/notes/patchgate"),
            r.head().unwrap().target().unwrap(),
        )
        .unwrap();
    assert!(!note.message().unwrap().contains(key));
    let a = pg(
        &w,
        &[
            "audit",
            "--repo",
            repo(&w),
            "--base",
            "HEAD~1",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(a.status.code(), Some(1), "{}", out(&a));
    assert!(!out(&a).contains(key));
}

#[test]
fn a_bad_server_config_is_a_clear_error() {
    let w = world();
    std::fs::write(
        &w.config,
        "auditors: [{name: x, kind: openai}]\nquorum: {required: 3}\n",
    )
    .unwrap();
    let o = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "main",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let text = out(&o);
    assert!(
        text.contains("auditors[0].base_url") && text.contains("quorum.required"),
        "{text}"
    );
    let o = pg(
        &w,
        &["check", "--repo", repo(&w), "--base", "no-such-branch"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("no-such-branch"), "{}", out(&o));
}

#[test]
fn the_ledger_runs_on_postgresql_too() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Dropped at the end of the test (also on panic), with the schema.
    let schema = rt.block_on(pgdb::PgSchema::new("pgcheck"));
    let scoped = schema.url.clone();
    let w = world();
    let run = |args: &[&str]| pg(&w, args, &[("DATABASE_URL", &scoped)]);
    let o = run(&[
        "check",
        "--config",
        w.config.to_str().unwrap(),
        "--repo",
        repo(&w),
        "--base",
        "main",
        "--head",
        "render-a",
    ]);
    let o2 = run(&[
        "check",
        "--config",
        w.config.to_str().unwrap(),
        "--repo",
        repo(&w),
        "--base",
        "main",
        "--head",
        "render-b",
    ]);
    let l = run(&["ledger", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(o2.status.code(), Some(0), "{}", out(&o2));
    assert!(out(&l).contains("OK  ledger (postgres"), "{}", out(&l));
    assert!(out(&l).contains("2 record(s)"), "{}", out(&l));
    assert!(
        !w.data.join("patchgate.db").exists(),
        "PostgreSQL, not SQLite, held the ledger"
    );
}

fn commit_file(w: &World, path: &str, text: &str, msg: &str) {
    let full = w.repo.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(&full, text).unwrap();
    let r = git2::Repository::open(&w.repo).unwrap();
    let mut index = r.index().unwrap();
    index.add_path(Path::new(path)).unwrap();
    index.write().unwrap();
    let tree = r.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = r.head().unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    r.commit(Some("HEAD"), &sig, &sig, msg, &tree, &[&parent])
        .unwrap();
}

#[test]
fn the_repository_config_comes_from_the_base_and_a_change_cannot_relax_its_own_gate() {
    let w = world();
    // The base adds a rule of the repository's own.
    commit_file(
        &w,
        ".github/patchgate.yml",
        "rules:\n  add:\n    - id: no-fixme\n      message: FIXME left in\n      severity: error\n      added_line: 'FIXME'\n      examples:\n        match: ['# FIXME later']\n        no_match: ['# fixed']\n",
        "gate config",
    );
    // The change adds a FIXME and, in the same change, disables the rule.
    commit_file(
        &w,
        ".github/patchgate.yml",
        "rules:\n  disable: [no-fixme]\n",
        "relax the gate",
    );
    commit_file(
        &w,
        "tools/settings.py",
        "X = 1  # FIXME later\n",
        "add a fixme",
    );
    let o = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "HEAD~2",
            "--head",
            "HEAD",
        ],
        &[],
    );
    let text = out(&o);
    assert!(
        text.contains("rule-guard     reject"),
        "the base's rule applies: {text}"
    );
    assert!(text.contains("no-fixme"), "{text}");
    assert!(text.contains("applies after merge"), "{text}");
    // A repository may not disable a secret rule.
    commit_file(
        &w,
        ".github/patchgate.yml",
        "rules:\n  disable: [secret-private-key]\n",
        "weaken",
    );
    commit_file(&w, "tools/settings.py", "X = 2\n", "noop");
    let o = pg(
        &w,
        &[
            "check",
            "--repo",
            repo(&w),
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("secret-private-key"), "{}", out(&o));
}

#[test]
fn a_gated_merge_is_rolled_back_once_with_its_audit_hash() {
    let w = world();
    let o = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let record: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hash = record["record"]["record_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let git = |args: &[&str]| {
        let s = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&w.repo)
            .output()
            .unwrap();
        assert!(
            s.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        String::from_utf8_lossy(&s.stdout).into_owned()
    };
    git(&[
        "merge",
        "-q",
        "--no-ff",
        "render-a",
        "-m",
        "Merge pull request #7 from demo/render-a",
    ]);
    let before = git(&["rev-parse", "HEAD"]);
    let dry = pg(
        &w,
        &[
            "rollback",
            "--repo",
            repo(&w),
            "--pr",
            "7",
            "--dry-run",
            "--reason",
            "p95 latency 212 ms",
        ],
        &[],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", out(&dry));
    assert_eq!(
        git(&["rev-parse", "HEAD"]),
        before,
        "a dry run changes nothing"
    );
    let done = pg(
        &w,
        &[
            "rollback",
            "--repo",
            repo(&w),
            "--pr",
            "7",
            "--reason",
            "p95 latency 212 ms",
        ],
        &[],
    );
    assert_eq!(done.status.code(), Some(0), "{}", out(&done));
    let msg = git(&["log", "-1", "--format=%B"]);
    assert!(msg.starts_with("Revert \"Merge pull request #7"), "{msg}");
    assert!(msg.contains("p95 latency 212 ms"), "{msg}");
    assert!(msg.contains(&format!("Patchgate-Audit: {hash}")), "{msg}");
    assert!(msg.contains("Patchgate-Reverts: "), "{msg}");
    assert_eq!(
        git(&["diff", "HEAD~2", "HEAD"]),
        "",
        "the revert restores main's tree"
    );
    let again = pg(&w, &["rollback", "--repo", repo(&w), "--pr", "7"], &[]);
    // 3: already reverted (it was 2, the code of every error; issue 20 asks for distinct codes).
    assert_eq!(again.status.code(), Some(3));
    assert!(out(&again).contains("already reverted"), "{}", out(&again));
}

#[test]
fn a_repository_that_requires_render_b_blocks_a_change_without_one() {
    let w = world();
    commit_file(
        &w,
        ".github/patchgate.yml",
        "render_b: {required: true}\n",
        "require two renders",
    );
    commit_file(&w, "tools/settings.py", "X = 1\n", "a change");
    let args = |b: Option<&str>| {
        let mut v = vec![
            "check".to_string(),
            "--config".into(),
            w.config.to_str().unwrap().into(),
            "--repo".into(),
            repo(&w).into(),
            "--base".into(),
            "HEAD~1".into(),
            "--head".into(),
            "HEAD".into(),
        ];
        if let Some(b) = b {
            v.extend(["--render-b".to_string(), b.to_string()]);
        }
        v
    };
    // Every auditor approves, but there is no render B.
    let a = args(None);
    let o = pg(&w, &a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("render_b.required"), "{}", out(&o));
    // With a render B that agrees, the same change passes.
    let a = args(Some("HEAD"));
    let o = pg(&w, &a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

/// `ssh-keygen -t ed25519` in `dir`: the private key's path and the public key line.
pub(crate) fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen (OpenSSH) is needed by this test");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

/// Issue #18, signed records: with `PATCHGATE_SIGNING_KEY`, the record's note (and the
/// `--write-meta` file) carry an SSH signature that `patchgate meta verify --key` and
/// `ssh-keygen -Y verify` accept; a key that is not allowed, a signature over other text, or
/// no signature at all is refused.
#[test]
fn a_signed_record_verifies_with_the_allowed_keys_and_nothing_else() {
    let w = world();
    let dir = w._dir.path();
    let (key, public) = ssh_key(dir, "deploy");
    let (_, stranger) = ssh_key(dir, "stranger");
    let allowed = dir.join("allowed_signers");
    std::fs::write(&allowed, format!("ops@example.com {public}\n")).unwrap();
    let strangers = dir.join("strangers");
    std::fs::write(&strangers, format!("ops@example.com {stranger}\n")).unwrap();
    let meta = dir.join("meta.yaml");
    let key_env = [("PATCHGATE_SIGNING_KEY", key.to_str().unwrap())];
    let o = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--render-b",
            "render-b",
            "--write-meta",
            meta.to_str().unwrap(),
        ],
        &key_env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(!out(&o).contains(private.lines().nth(1).unwrap()));

    let allowed_s = allowed.to_str().unwrap();
    for target in ["render-a", meta.to_str().unwrap()] {
        let v = pg(
            &w,
            &[
                "meta",
                "verify",
                target,
                "--repo",
                repo(&w),
                "--key",
                allowed_s,
            ],
            &[],
        );
        assert_eq!(v.status.code(), Some(0), "{}", out(&v));
        assert!(out(&v).contains("signed by SHA256:"), "{}", out(&v));
    }
    // The same signature checks with OpenSSH's own tool.
    let note = Command::new("git")
        .args([
            "-C",
            repo(&w),
            "notes",
            "--ref",
            "patchgate",
            "show",
            "render-a",
        ])
        .output()
        .unwrap();
    let sig = Command::new("git")
        .args([
            "-C",
            repo(&w),
            "notes",
            "--ref",
            "patchgate-signatures",
            "show",
            "render-a",
        ])
        .output()
        .unwrap();
    assert!(sig.status.success(), "no signature note");
    std::fs::write(dir.join("note.sig"), &sig.stdout).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            allowed_s,
            "-I",
            "ops@example.com",
            "-n",
            "patchgate-record",
            "-s",
        ])
        .arg(dir.join("note.sig"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // `git notes show` adds no byte to the note's text: it is exactly what was signed.
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&note.stdout).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "ssh-keygen -Y verify refused the note"
    );

    // Not an allowed key.
    let v = pg(
        &w,
        &[
            "meta",
            "verify",
            "render-a",
            "--repo",
            repo(&w),
            "--key",
            strangers.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(v.status.code(), Some(1), "{}", out(&v));
    assert!(
        out(&v).contains("TAMPERED") && out(&v).contains("not among the allowed keys"),
        "{}",
        out(&v)
    );
    // A signature over other text.
    let other = dir.join("other.yaml");
    std::fs::write(&other, "record_hash: sha256:0\n").unwrap();
    let o = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-f"])
        .arg(&key)
        .args(["-n", "patchgate-record"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::copy(dir.join("other.yaml.sig"), dir.join("meta.yaml.sig")).unwrap();
    let v = pg(
        &w,
        &["meta", "verify", meta.to_str().unwrap(), "--key", allowed_s],
        &[],
    );
    assert_eq!(v.status.code(), Some(1), "{}", out(&v));
    assert!(out(&v).contains("does not match"), "{}", out(&v));
    // No signature at all.
    std::fs::remove_file(dir.join("meta.yaml.sig")).unwrap();
    let v = pg(
        &w,
        &["meta", "verify", meta.to_str().unwrap(), "--key", allowed_s],
        &[],
    );
    assert_eq!(v.status.code(), Some(1), "{}", out(&v));
    assert!(out(&v).contains("not signed"), "{}", out(&v));
    // Without --key, the hashes alone are checked, as before.
    let v = pg(&w, &["meta", "verify", meta.to_str().unwrap()], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", out(&v));

    // A key that cannot be read fails the check before anything is written.
    let o = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-b",
        ],
        &[("PATCHGATE_SIGNING_KEY", "/no/such/key")],
    );
    assert_ne!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("PATCHGATE_SIGNING_KEY"), "{}", out(&o));
}

/// Issue #18, the anchored ledger head: with a signing key, each record moves
/// `refs/patchgate/ledger` to a commit signed the way git signs (so `git verify-commit`
/// accepts it). Deleting the newest ledger row leaves a chain that still verifies on its own,
/// but `patchgate ledger verify --anchor` finds it cut; an anchor signed by a key that is not
/// allowed is refused.
#[test]
fn a_deleted_newest_ledger_row_is_caught_by_the_signed_anchor() {
    let w = world();
    let dir = w._dir.path();
    let (key, public) = ssh_key(dir, "deploy");
    let (_, stranger) = ssh_key(dir, "stranger");
    let key_env = [("PATCHGATE_SIGNING_KEY", key.to_str().unwrap())];
    for head in ["render-a", "render-b"] {
        let o = pg(
            &w,
            &[
                "check",
                "--config",
                w.config.to_str().unwrap(),
                "--repo",
                repo(&w),
                "--base",
                "main",
                "--head",
                head,
            ],
            &key_env,
        );
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    }
    // git itself verifies the anchor commit (principal: its committer's email).
    let email = Command::new("git")
        .args([
            "-C",
            repo(&w),
            "log",
            "-1",
            "--format=%ce",
            "refs/patchgate/ledger",
        ])
        .output()
        .unwrap();
    let email = String::from_utf8_lossy(&email.stdout).trim().to_string();
    let allowed = dir.join("allowed_signers");
    std::fs::write(&allowed, format!("{email} {public}\n")).unwrap();
    let allowed_s = allowed.to_str().unwrap();
    let git_verify = Command::new("git")
        .args(["-C", repo(&w), "-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={allowed_s}"))
        .args(["verify-commit", "refs/patchgate/ledger"])
        .output()
        .unwrap();
    assert!(
        git_verify.status.success(),
        "{}",
        String::from_utf8_lossy(&git_verify.stderr)
    );

    let l = pg(
        &w,
        &["ledger", "verify", "--anchor", repo(&w), "--key", allowed_s],
        &[],
    );
    assert_eq!(l.status.code(), Some(0), "{}", out(&l));
    assert!(out(&l).contains("signed anchor #2"), "{}", out(&l));
    // A stranger's key does not vouch for the anchor.
    let strangers = dir.join("strangers");
    std::fs::write(&strangers, format!("{email} {stranger}\n")).unwrap();
    let l = pg(
        &w,
        &[
            "ledger",
            "verify",
            "--anchor",
            repo(&w),
            "--key",
            strangers.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(l.status.code(), Some(1), "{}", out(&l));
    assert!(
        out(&l).contains("not among the allowed keys"),
        "{}",
        out(&l)
    );

    // Delete the newest row behind patchgate's back: the chain alone still verifies…
    edit_store(
        &w,
        "DELETE FROM ledger WHERE seq = (SELECT MAX(seq) FROM ledger)",
    );
    let l = pg(&w, &["ledger", "verify"], &[]);
    assert_eq!(l.status.code(), Some(0), "{}", out(&l));
    // …but not against the signed anchor.
    let l = pg(
        &w,
        &["ledger", "verify", "--anchor", repo(&w), "--key", allowed_s],
        &[],
    );
    assert_eq!(l.status.code(), Some(1), "{}", out(&l));
    assert!(
        out(&l).contains("TAMPERED") && out(&l).contains("records were deleted"),
        "{}",
        out(&l)
    );
}

/// Issue #18, signed reverts: with `PATCHGATE_SIGNING_KEY`, the revert commit `patchgate
/// rollback` makes is SSH-signed: `git verify-commit` passes with the deployment's
/// allowed-signers file, and fails for an unsigned revert or a key that is not allowed.
#[test]
fn a_revert_made_with_the_signing_key_passes_git_verify_commit() {
    let w = world();
    let dir = w._dir.path();
    let (key, public) = ssh_key(dir, "deploy");
    let (_, stranger) = ssh_key(dir, "stranger");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&w.repo)
            .output()
            .unwrap()
    };
    let merge = |n: &str| {
        let o = git(&[
            "merge",
            "-q",
            "--no-ff",
            "render-a",
            "-m",
            &format!("Merge pull request #{n} from demo/render-a"),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let verify = |allowed: &str| {
        let email = String::from_utf8_lossy(&git(&["log", "-1", "--format=%ce"]).stdout)
            .trim()
            .to_string();
        let file = dir.join("allowed_signers");
        std::fs::write(&file, format!("{email} {allowed}\n")).unwrap();
        git(&[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", file.display()),
            "verify-commit",
            "HEAD",
        ])
        .status
        .success()
    };
    merge("7");
    let o = pg(
        &w,
        &[
            "rollback",
            "--repo",
            repo(&w),
            "--pr",
            "7",
            "--reason",
            "slow",
        ],
        &[("PATCHGATE_SIGNING_KEY", key.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&git(&["log", "-1", "--format=%B"]).stdout)
            .starts_with("Revert \"")
    );
    assert!(
        verify(&public),
        "git verify-commit refused the signed revert"
    );
    assert!(
        !verify(&stranger),
        "a key that is not allowed verified the revert"
    );
    // Without a key the revert is made as before, unsigned: git verify-commit refuses it.
    let o = git(&["reset", "-q", "--hard", "HEAD~1"]);
    assert!(o.status.success());
    let o = pg(
        &w,
        &[
            "rollback",
            "--repo",
            repo(&w),
            "--pr",
            "7",
            "--reason",
            "slow",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(!verify(&public), "an unsigned revert verified");
}
