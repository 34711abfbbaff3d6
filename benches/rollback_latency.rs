//! Rollback latency: from the receipt of a violating policy event to the revert pushed to a
//! local bare remote, on a repository of 10,000 commits (feature branches merged with merge
//! commits, a few files changed per commit), 30 runs; prints p50/p95 (target: p95 < 2 s).
//!
//! Then, in the same run, the revert's merge alone on the same mirror: git's
//! (`git merge-tree --merge-base`, what the engine runs) against libgit2's tree merge (what it
//! ran before), 30 times each, medians.
//!
//! Run: `cargo bench --bench rollback_latency` (see benches/README.md, "Rollback latency").
//! The mirror is fetched once before timing (the server keeps its mirrors warm); each run gets
//! a fresh store and the remote's branch reset to the original tip, so every run reverts.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use git2::{Commit, Oid, Repository, Signature};
use patchgate::meta::canonical::hash_record;
use patchgate::meta::ledger::{LedgerStore, NewLedgerRow, GENESIS};
use patchgate::policy::{parse_event, PolicySet};
use patchgate::rollback::auto::{GitAccess, LocalForge, LocalGit, Orchestrator, RollbackSettings};
use patchgate::rollback::gitcli::{revert_merge, Merged};
use patchgate::store::Store;
use serde_json::{json, Value};

const COMMITS: usize = 10_000;
const FILES: usize = 300;
const RUNS: usize = 30;
const REPO: &str = "o/r";

/// Build the history; returns (tip, last merge, its PR head).
fn build(repo: &Repository) -> (Oid, Oid, Oid) {
    let sig = Signature::now("t", "t@example.com").expect("signature");
    let mut tb = repo.treebuilder(None).expect("treebuilder");
    for i in 0..FILES {
        let blob = repo
            .blob(format!("file {i}\nline\n").as_bytes())
            .expect("blob");
        tb.insert(format!("f{i:03}.txt"), blob, 0o100644)
            .expect("insert");
    }
    let root_tree = tb.write().expect("tree");
    let mut made = 0usize;
    let mk = |parents: &[Oid], tree: Oid, msg: &str| -> Oid {
        let t = repo.find_tree(tree).expect("tree");
        let ps: Vec<Commit> = parents
            .iter()
            .map(|p| repo.find_commit(*p).expect("c"))
            .collect();
        let refs: Vec<&Commit> = ps.iter().collect();
        repo.commit(None, &sig, &sig, msg, &t, &refs)
            .expect("commit")
    };
    let edit = |tree: Oid, n: usize| -> Oid {
        let base = repo.find_tree(tree).expect("tree");
        let mut tb = repo.treebuilder(Some(&base)).expect("tb");
        for k in 0..2 {
            let f = (n * 7 + k * 131) % FILES;
            let blob = repo
                .blob(format!("file {f}\nchange {n}\n").as_bytes())
                .expect("blob");
            tb.insert(format!("f{f:03}.txt"), blob, 0o100644)
                .expect("insert");
        }
        tb.write().expect("tree")
    };
    let mut tip = mk(&[], root_tree, "root");
    let mut tip_tree = root_tree;
    made += 1;
    let mut pr = 0u64;
    let mut last = (tip, tip);
    while made < COMMITS {
        // A feature branch of 3 commits, merged; the branch's files are its own slot, so the
        // merge never conflicts.
        pr += 1;
        let mut head = tip;
        let mut head_tree = tip_tree;
        for _ in 0..3 {
            head_tree = edit(head_tree, made);
            head = mk(&[head], head_tree, &format!("work {made}"));
            made += 1;
        }
        let merge = mk(
            &[tip, head],
            head_tree,
            &format!("Merge pull request #{pr} from o/feature-{pr}\n\nFeature {pr}"),
        );
        made += 1;
        last = (merge, head);
        tip = merge;
        tip_tree = head_tree;
    }
    // A few direct commits after the gated merge.
    let (merge, head) = last;
    for i in 0..3 {
        tip_tree = edit(tip_tree, COMMITS + i);
        tip = mk(&[tip], tip_tree, &format!("after {i}"));
    }
    (tip, merge, head)
}

async fn gate(store: &Store, head: Oid) {
    let mut v = json!({"version": 1, "repo": REPO, "change": {"head": head.to_string()},
                       "quorum_passed": true, "prev_record_hash": GENESIS});
    let h = hash_record(&v).expect("hash").to_string();
    v["record_hash"] = Value::String(h.clone());
    LedgerStore::append(
        store,
        &NewLedgerRow {
            record_hash: h,
            prev_record_hash: GENESIS.to_string(),
            repo: REPO.into(),
            head: head.to_string(),
            record_yaml: serde_yaml::to_string(&v).expect("yaml"),
        },
    )
    .await
    .expect("ledger");
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let remote_path = dir.path().join("remote.git");
    let remote = Repository::init_bare(&remote_path).expect("init");
    let t0 = Instant::now();
    let (tip, merge, head) = build(&remote);
    remote
        .reference("refs/heads/main", tip, true, "bench")
        .expect("ref");
    let count = {
        let mut w = remote.revwalk().expect("walk");
        w.push(tip).expect("push");
        w.count()
    };
    eprintln!(
        "history: {count} commits built in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let git: Arc<dyn GitAccess> = Arc::new(LocalGit::new(
        dir.path().join("mirror.git"),
        remote_path.to_string_lossy().to_string(),
        "main",
    ));
    let t1 = Instant::now();
    git.fetch(REPO).expect("first fetch");
    eprintln!(
        "mirror: first fetch in {:.1} s (not timed)",
        t1.elapsed().as_secs_f64()
    );
    let policy = PolicySet::for_repo("metrics:\n  latency_p95_ms: {max: 500}\n").expect("policy");
    let mut times = Vec::new();
    for run in 0..RUNS {
        remote
            .reference("refs/heads/main", tip, true, "bench reset")
            .expect("reset");
        let data = dir.path().join(format!("data-{run}"));
        let secs = rt.block_on(async {
            let store = Store::open(Path::new(&data), None).await.expect("store");
            gate(&store, head).await;
            let orch = Orchestrator::new(
                store.clone(),
                git.clone(),
                Arc::new(LocalForge::new()),
                policy.clone(),
                RollbackSettings::default(),
            )
            .with_failpoint(None);
            let line = json!({"repo": REPO, "commit": head.to_string(),
                              "metric": "latency_p95_ms", "value": 900.0,
                              "at": Utc::now().to_rfc3339()})
            .to_string();
            // The clock starts at the receipt of the event's bytes.
            let start = Instant::now();
            let event = parse_event(&line).expect("event");
            let applied = orch.on_event(event, 1).await.expect("on_event");
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(
                applied.decision["decision"], "revert",
                "{}",
                applied.decision
            );
            store.close().await;
            secs
        });
        let now_tip = remote.refname_to_id("refs/heads/main").expect("tip");
        let c = remote.find_commit(now_tip).expect("commit");
        assert_eq!(
            c.parent_id(0).expect("parent"),
            tip,
            "the revert sits on the tip"
        );
        assert!(c
            .message()
            .unwrap_or("")
            .contains(&format!("Patchgate-Reverts: {merge}")));
        times.push(secs);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "rollback latency over {RUNS} runs, {count} commits: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (target p95 < 2000 ms)",
        pct(&sorted, 50.0) * 1000.0,
        pct(&sorted, 95.0) * 1000.0,
        sorted[sorted.len() - 1] * 1000.0
    );

    // The revert's merge alone, git's against libgit2's, on the mirror at the original tip.
    let mirror = git.open(REPO).expect("mirror");
    let (m, p) = {
        let c = mirror.find_commit(merge).expect("merge");
        (c.id(), c.parent_id(0).expect("first parent"))
    };
    let (mut by_git, mut by_libgit2) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t = Instant::now();
        let merged = revert_merge(&mirror, m, p, tip).expect("git merge-tree");
        by_git.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (base, ours, theirs) = (
            mirror.find_commit(m).and_then(|c| c.tree()).expect("tree"),
            mirror
                .find_commit(tip)
                .and_then(|c| c.tree())
                .expect("tree"),
            mirror.find_commit(p).and_then(|c| c.tree()).expect("tree"),
        );
        let mut index = mirror
            .merge_trees(&base, &ours, &theirs, None)
            .expect("libgit2 merge");
        let tree = index.write_tree_to(&mirror).expect("write tree");
        by_libgit2.push(t.elapsed().as_secs_f64());
        assert_eq!(merged, Merged::Clean(tree), "both merges agree here");
    }
    by_git.sort_by(f64::total_cmp);
    by_libgit2.sort_by(f64::total_cmp);
    println!(
        "the revert's merge alone, median of {RUNS}: git merge-tree {:.1} ms, libgit2 merge_trees {:.1} ms",
        pct(&by_git, 50.0) * 1000.0,
        pct(&by_libgit2, 50.0) * 1000.0
    );
}
