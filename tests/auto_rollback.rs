//! The rollback orchestrator (`patchgate::rollback::auto`) end to end on real repositories in
//! temp dirs: a bare "remote", the orchestrator's own mirror, a SQLite store and the local
//! forge. Killed at each step (a driver process, `examples/rollback_driver.rs`, aborted by
//! `PATCHGATE_FAILPOINT`) and restarted, it ends with exactly one revert, one ledger entry and
//! one comment; a push that loses a race refetches and lands one revert on top; guards, dry
//! run and conflicts push nothing; a manual rollback goes the same way and never twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};
use git2::{Commit, Oid, Repository, Signature};
use patchgate::meta::canonical::hash_record;
use patchgate::meta::chain::verify_chain;
use patchgate::meta::ledger::{LedgerStore, NewLedgerRow, GENESIS};
use patchgate::policy::{parse_event, PolicySet};
use patchgate::rollback::auto::{
    GitAccess, LocalForge, LocalGit, Orchestrator, PushError, RollbackSettings, Step,
};
use patchgate::store::rollbacks::RollbackState;
use patchgate::store::Store;
use serde_json::{json, Value};

const REPO: &str = "o/r";
const POLICY: &str = "metrics:\n  latency_p95_ms: {max: 500}\n";

struct Fixture {
    dir: tempfile::TempDir,
    /// The merge to be reverted.
    merge: Oid,
    /// Its pull request's head.
    head: Oid,
    /// The remote's tip before any rollback.
    tip: Oid,
}

impl Fixture {
    fn remote(&self) -> PathBuf {
        self.dir.path().join("remote.git")
    }
    fn mirror(&self) -> PathBuf {
        self.dir.path().join("mirror.git")
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn forge_log(&self) -> PathBuf {
        self.dir.path().join("forge.jsonl")
    }
    fn event(&self, value: f64) -> String {
        json!({"repo": REPO, "commit": self.merge.to_string(), "metric": "latency_p95_ms",
               "value": value, "at": Utc::now().to_rfc3339()})
        .to_string()
    }
    async fn store(&self) -> Store {
        Store::open(&self.data(), None).await.unwrap()
    }
}

fn commit(repo: &Repository, parents: &[Oid], files: &[(&str, &str)], msg: &str) -> Oid {
    let base = parents
        .first()
        .map(|p| repo.find_commit(*p).unwrap().tree().unwrap());
    let mut tb = repo.treebuilder(base.as_ref()).unwrap();
    for (name, content) in files {
        let blob = repo.blob(content.as_bytes()).unwrap();
        tb.insert(name, blob, 0o100644).unwrap();
    }
    let tree = repo.find_tree(tb.write().unwrap()).unwrap();
    let ps: Vec<Commit> = parents
        .iter()
        .map(|p| repo.find_commit(*p).unwrap())
        .collect();
    let refs: Vec<&Commit> = ps.iter().collect();
    let sig = Signature::now("t", "t@example.com").unwrap();
    repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
}

/// A remote with a little history, PR #5 merged (a merge commit changing `feature.txt`), one
/// more commit on top; the merge gated (a ledger record for its head) unless `gated` is false.
async fn fixture(gated: bool, squash_title: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let remote = Repository::init_bare(dir.path().join("remote.git")).unwrap();
    let mut tip = commit(
        &remote,
        &[],
        &[("a.txt", "a\n"), ("feature.txt", "old\n")],
        "base",
    );
    for i in 0..5 {
        tip = commit(
            &remote,
            &[tip],
            &[("a.txt", &format!("a{i}\n"))],
            &format!("c{i}"),
        );
    }
    let head = commit(&remote, &[tip], &[("feature.txt", "new\n")], "feature");
    let merge = match squash_title {
        Some(t) => commit(&remote, &[tip], &[("feature.txt", "new\n")], t),
        None => commit(
            &remote,
            &[tip, head],
            &[("feature.txt", "new\n")],
            "Merge pull request #5 from o/feature\n\nAdd the feature",
        ),
    };
    let tip = commit(&remote, &[merge], &[("b.txt", "b\n")], "after");
    remote.reference("refs/heads/main", tip, true, "t").unwrap();
    remote.set_head("refs/heads/main").unwrap();
    let f = Fixture {
        dir,
        merge,
        head: if squash_title.is_some() { merge } else { head },
        tip,
    };
    let store = f.store().await;
    if gated {
        let mut v = json!({"version": 1, "repo": REPO, "change": {"pr": 5, "head": f.head.to_string()},
                           "quorum_passed": true, "prev_record_hash": GENESIS});
        let h = hash_record(&v).unwrap().to_string();
        v["record_hash"] = Value::String(h.clone());
        LedgerStore::append(
            &store,
            &NewLedgerRow {
                record_hash: h,
                prev_record_hash: GENESIS.to_string(),
                repo: REPO.to_string(),
                head: f.head.to_string(),
                record_yaml: serde_yaml::to_string(&v).unwrap(),
            },
        )
        .await
        .unwrap();
    }
    store.close().await;
    f
}

/// Commits on the remote's main after `since` whose message reverts `merge`.
fn reverts_on_remote(f: &Fixture, since: Oid) -> Vec<Oid> {
    let r = Repository::open_bare(f.remote()).unwrap();
    let tip = r.refname_to_id("refs/heads/main").unwrap();
    let mut walk = r.revwalk().unwrap();
    walk.push(tip).unwrap();
    walk.hide(since).unwrap();
    let needle = format!("Patchgate-Reverts: {}", f.merge);
    walk.map(|o| o.unwrap())
        .filter(|o| {
            let c = r.find_commit(*o).unwrap();
            String::from_utf8_lossy(c.message_bytes()).contains(&needle)
        })
        .collect()
}

fn remote_tip(f: &Fixture) -> Oid {
    Repository::open_bare(f.remote())
        .unwrap()
        .refname_to_id("refs/heads/main")
        .unwrap()
}

async fn rollback_entries(store: &Store) -> usize {
    let rows = LedgerStore::all(store).await.unwrap();
    verify_chain(&rows).expect("the ledger verifies");
    rows.iter()
        .filter(|r| r.record_yaml.contains("kind: rollback"))
        .count()
}

fn orchestrator(f: &Fixture, store: &Store, forge: Arc<LocalForge>, policy: &str) -> Orchestrator {
    let git = LocalGit::new(f.mirror(), f.remote().to_string_lossy().to_string(), "main");
    Orchestrator::new(
        store.clone(),
        Arc::new(git),
        forge,
        PolicySet::for_repo(policy).unwrap(),
        RollbackSettings::default(),
    )
    .with_failpoint(None)
}

// ---------------------------------------------------------------------------------------------
// Kill at each step.

fn driver() -> PathBuf {
    // Ask cargo where it put the example: with a separate build directory
    // (`CARGO_BUILD_BUILD_DIR`) it is not beside this test binary.
    let mut cargo = Command::new(env!("CARGO"));
    // Not with the variables cargo sets for this test (CARGO_MANIFEST_DIR, CARGO_PKG_*,
    // OUT_DIR, …): ring's build script reruns when they change, so a build with them set
    // recompiled ring and everything above it (rustls, sqlx, reqwest, octocrab, patchgate) —
    // here, and again at the next `cargo build` or `cargo run` without them.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_the_test) {
            cargo.env_remove(name);
        }
    }
    let out = cargo
        .args([
            "build",
            "--quiet",
            "--example",
            "rollback_driver",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building the driver example failed");
    let p = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "rollback_driver")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the driver's executable");
    assert!(p.is_file(), "no driver at {}", p.display());
    p
}

/// Whether cargo sets `name` for a crate it builds or runs (not one that configures cargo, as
/// `CARGO_HOME`, `CARGO_TARGET_DIR` or `CARGO_BUILD_*` do).
fn set_by_cargo_for_the_test(name: &str) -> bool {
    name == "OUT_DIR"
        || name == "CARGO_PRIMARY_PACKAGE"
        || name == "CARGO_TARGET_TMPDIR"
        || name == "CARGO_RUSTC_CURRENT_DIR"
        || [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

fn run_driver(exe: &Path, f: &Fixture, failpoint: Option<Step>) -> std::process::Output {
    let mut cmd = Command::new(exe);
    cmd.arg(f.data())
        .arg(f.mirror())
        .arg(f.remote())
        .arg("main")
        .arg(f.event(900.0))
        .arg(f.forge_log())
        .arg(POLICY)
        .env_remove("PATCHGATE_FAILPOINT");
    if let Some(s) = failpoint {
        cmd.env("PATCHGATE_FAILPOINT", s.as_str());
    }
    cmd.output().expect("the driver runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_each_step_and_restarted_reverts_exactly_once() {
    let exe = driver();
    for step in Step::ALL {
        let f = fixture(true, None).await;
        let out = run_driver(&exe, &f, Some(step));
        assert!(
            !out.status.success(),
            "{}: the driver should have aborted: {}",
            step.as_str(),
            String::from_utf8_lossy(&out.stdout)
        );
        let out = run_driver(&exe, &f, None);
        assert!(
            out.status.success(),
            "{}: restart failed: {}",
            step.as_str(),
            String::from_utf8_lossy(&out.stderr)
        );
        let reverts = reverts_on_remote(&f, f.tip);
        assert_eq!(reverts.len(), 1, "{}: one revert", step.as_str());
        assert_eq!(remote_tip(&f), reverts[0], "{}: on top", step.as_str());
        let store = f.store().await;
        assert_eq!(rollback_entries(&store).await, 1, "{}", step.as_str());
        let row = store
            .rollback_get(REPO, &f.merge.to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state, RollbackState::Reported, "{}", step.as_str());
        assert_eq!(row.revert_sha, Some(reverts[0].to_string()));
        let log = std::fs::read_to_string(f.forge_log()).unwrap_or_default();
        assert_eq!(
            log.lines().filter(|l| l.contains("\"comment\"")).count(),
            1,
            "{}: one comment: {log}",
            step.as_str()
        );
        // A third run changes nothing.
        assert!(run_driver(&exe, &f, None).status.success());
        assert_eq!(reverts_on_remote(&f, f.tip).len(), 1);
        assert_eq!(rollback_entries(&store).await, 1);
        store.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A push that loses a race.

/// Pushes a foreign commit to the remote right before the first push of the orchestrator.
struct Racing {
    inner: LocalGit,
    remote: PathBuf,
    raced: AtomicBool,
}

impl GitAccess for Racing {
    fn default_branch(&self, repo: &str) -> anyhow::Result<String> {
        self.inner.default_branch(repo)
    }
    fn fetch(&self, repo: &str) -> anyhow::Result<Repository> {
        self.inner.fetch(repo)
    }
    fn open(&self, repo: &str) -> anyhow::Result<Repository> {
        self.inner.open(repo)
    }
    fn push(&self, repo: &str, local: &str, remote: &str) -> Result<(), PushError> {
        if !self.raced.swap(true, Ordering::SeqCst) {
            let r = Repository::open_bare(&self.remote).unwrap();
            let tip = r.refname_to_id("refs/heads/main").unwrap();
            let c = commit(&r, &[tip], &[("other.txt", "someone else\n")], "meanwhile");
            r.reference("refs/heads/main", c, true, "race").unwrap();
        }
        self.inner.push(repo, local, remote)
    }
}

#[tokio::test]
async fn a_push_that_loses_a_race_refetches_and_reverts_once_on_top() {
    let f = fixture(true, None).await;
    let store = f.store().await;
    let git = Racing {
        inner: LocalGit::new(f.mirror(), f.remote().to_string_lossy().to_string(), "main"),
        remote: f.remote(),
        raced: AtomicBool::new(false),
    };
    let forge = Arc::new(LocalForge::new());
    let orch = Orchestrator::new(
        store.clone(),
        Arc::new(git),
        forge.clone(),
        PolicySet::for_repo(POLICY).unwrap(),
        RollbackSettings::default(),
    )
    .with_failpoint(None);
    let applied = orch
        .on_event(parse_event(&f.event(900.0)).unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(applied.decision["decision"], "revert");
    let reverts = reverts_on_remote(&f, f.tip);
    assert_eq!(reverts.len(), 1);
    let r = Repository::open_bare(f.remote()).unwrap();
    let top = r.find_commit(remote_tip(&f)).unwrap();
    assert_eq!(top.id(), reverts[0]);
    let below = top.parent(0).unwrap();
    assert_eq!(
        below.summary(),
        Ok(Some("meanwhile")),
        "the revert sits on the racer's commit"
    );
    assert_eq!(rollback_entries(&store).await, 1);
    assert_eq!(forge.comments().len(), 1);
    assert_eq!(forge.comments()[0].0, 5);
}

// ---------------------------------------------------------------------------------------------
// Guards, dry run, conflicts: nothing pushed.

async fn judged_without_revert(f: &Fixture, orch: &Orchestrator) -> Value {
    let applied = orch
        .on_event(parse_event(&f.event(900.0)).unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(remote_tip(f), f.tip, "nothing pushed");
    let store = f.store().await;
    assert!(store
        .rollback_get(REPO, &f.merge.to_string())
        .await
        .unwrap()
        .is_none());
    applied.decision
}

#[tokio::test]
async fn guards_never_revert() {
    // Freeze label.
    let f = fixture(true, None).await;
    let store = f.store().await;
    let forge = Arc::new(LocalForge::new());
    forge.set_labels(5, &["freeze-exempt"]);
    let d = judged_without_revert(&f, &orchestrator(&f, &store, forge, POLICY)).await;
    assert_eq!(d["guard"], "freeze_label", "{d}");

    // Not gated.
    let f = fixture(false, None).await;
    let store = f.store().await;
    let d = judged_without_revert(
        &f,
        &orchestrator(&f, &store, Arc::new(LocalForge::new()), POLICY),
    )
    .await;
    assert_eq!(d["guard"], "not_gated", "{d}");

    // Daily cap (0 automatic reverts a day).
    let f = fixture(true, None).await;
    let store = f.store().await;
    let policy = format!("{POLICY}max_reverts_per_day: 0\n");
    let d = judged_without_revert(
        &f,
        &orchestrator(&f, &store, Arc::new(LocalForge::new()), &policy),
    )
    .await;
    assert_eq!(d["guard"], "daily_cap", "{d}");

    // Outside the window: judged two days later.
    let f = fixture(true, None).await;
    let store = f.store().await;
    let later = Utc::now() + Duration::hours(48);
    let orch = orchestrator(&f, &store, Arc::new(LocalForge::new()), POLICY)
        .with_clock(Arc::new(move || later));
    let d = judged_without_revert(&f, &orch).await;
    assert_eq!(d["guard"], "outside_window", "{d}");

    // A revert of a revert.
    let f = fixture(true, Some("Revert \"Add the feature\" (#6)")).await;
    let store = f.store().await;
    let d = judged_without_revert(
        &f,
        &orchestrator(&f, &store, Arc::new(LocalForge::new()), POLICY),
    )
    .await;
    assert_eq!(d["guard"], "revert_of_revert", "{d}");

    // Dry run.
    let f = fixture(true, None).await;
    let store = f.store().await;
    let policy = format!("{POLICY}dry_run: true\n");
    let d = judged_without_revert(
        &f,
        &orchestrator(&f, &store, Arc::new(LocalForge::new()), &policy),
    )
    .await;
    assert_eq!(d["decision"], "would_revert", "{d}");
}

#[tokio::test]
async fn an_already_reverted_merge_is_never_reverted_again() {
    let f = fixture(true, None).await;
    let r = Repository::open_bare(f.remote()).unwrap();
    let merge = r.find_commit(f.merge).unwrap();
    let tree = merge.parent(0).unwrap().tree().unwrap();
    let mut tb = r
        .treebuilder(Some(&r.find_commit(f.tip).unwrap().tree().unwrap()))
        .unwrap();
    tb.insert(
        "feature.txt",
        tree.get_name("feature.txt").unwrap().id(),
        0o100644,
    )
    .unwrap();
    let t = r.find_tree(tb.write().unwrap()).unwrap();
    let sig = Signature::now("t", "t@example.com").unwrap();
    let tip = r.find_commit(f.tip).unwrap();
    let by_hand = r
        .commit(
            None,
            &sig,
            &sig,
            &format!(
                "Revert \"Add the feature\"\n\nThis reverts commit {}.\n",
                f.merge
            ),
            &t,
            &[&tip],
        )
        .unwrap();
    r.reference("refs/heads/main", by_hand, true, "t").unwrap();
    let store = f.store().await;
    let orch = orchestrator(&f, &store, Arc::new(LocalForge::new()), POLICY);
    let applied = orch
        .on_event(parse_event(&f.event(900.0)).unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(applied.decision["guard"], "already_reverted");
    assert_eq!(remote_tip(&f), by_hand);
    // A person cannot make it twice either.
    assert!(orch
        .manual_rollback(REPO, 5, "again", "alice", "cli")
        .await
        .is_err());
    assert_eq!(remote_tip(&f), by_hand);
}

#[tokio::test]
async fn a_conflict_fails_pushes_nothing_and_names_the_paths() {
    let f = fixture(true, None).await;
    let r = Repository::open_bare(f.remote()).unwrap();
    let later = commit(
        &r,
        &[f.tip],
        &[("feature.txt", "newer\n")],
        "touch the feature",
    );
    r.reference("refs/heads/main", later, true, "t").unwrap();
    let store = f.store().await;
    let forge = Arc::new(LocalForge::new());
    let orch = orchestrator(&f, &store, forge.clone(), POLICY);
    orch.on_event(parse_event(&f.event(900.0)).unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(remote_tip(&f), later, "nothing pushed");
    let row = store
        .rollback_get(REPO, &f.merge.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RollbackState::Failed);
    assert!(row.error.as_deref().unwrap_or("").contains("feature.txt"));
    let comments = forge.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].1.contains("feature.txt"), "{}", comments[0].1);
    assert!(comments[0].1.contains("Nothing was pushed"));
}

#[tokio::test]
async fn manual_rollback_goes_the_same_way_and_never_twice() {
    let f = fixture(true, None).await;
    let store = f.store().await;
    let forge = Arc::new(LocalForge::new());
    let orch = orchestrator(&f, &store, forge.clone(), POLICY);
    let out = orch
        .manual_rollback(REPO, 5, "breaks login", "alice", "cli")
        .await
        .unwrap();
    assert!(!out.already_done);
    assert_eq!(out.row.state, RollbackState::Reported);
    assert_eq!(out.row.trigger, "cli");
    let reverts = reverts_on_remote(&f, f.tip);
    assert_eq!(reverts.len(), 1);
    let msg = Repository::open_bare(f.remote())
        .unwrap()
        .find_commit(reverts[0])
        .unwrap()
        .message()
        .unwrap()
        .to_string();
    assert!(msg.starts_with("Revert \"Add the feature\""), "{msg}");
    assert!(msg.contains("breaks login (by alice)"), "{msg}");
    assert!(msg.contains("Patchgate-Audit: sha256:"), "{msg}");
    let again = orch
        .manual_rollback(REPO, 5, "again", "bob", "comment")
        .await
        .unwrap();
    assert!(again.already_done);
    assert_eq!(reverts_on_remote(&f, f.tip).len(), 1);
    assert_eq!(rollback_entries(&store).await, 1);
    assert_eq!(forge.comments().len(), 1);
}
