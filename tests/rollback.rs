//! The revert engine (`patchgate::rollback`) on real repositories in temp dirs: its trees
//! against `git revert` over generated histories (merge, squash, rebase-merged range), its
//! message, and what it refuses (conflicts, double reverts, reverts of reverts, a moved
//! branch) without touching the repository.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use git2::{Commit, Oid, Repository, Signature};
use patchgate::rollback::{
    apply_revert, find_pr_merge, plan_revert, plan_revert_with, push, RevertMessage, RevertOptions,
    RevertReason, RevertTarget, RollbackError,
};
use proptest::prelude::*;

type Model = BTreeMap<String, Vec<String>>;

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs")
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A commit of `model` (flat files) with `parents`, no ref moved.
fn commit_model(repo: &Repository, model: &Model, parents: &[Oid], msg: &str) -> Oid {
    let mut tb = repo.treebuilder(None).unwrap();
    for (name, lines) in model {
        let mut text = lines.join("\n");
        text.push('\n');
        let blob = repo.blob(text.as_bytes()).unwrap();
        tb.insert(name, blob, 0o100644).unwrap();
    }
    let tree = repo.find_tree(tb.write().unwrap()).unwrap();
    let parents: Vec<Commit> = parents
        .iter()
        .map(|p| repo.find_commit(*p).unwrap())
        .collect();
    let refs: Vec<&Commit> = parents.iter().collect();
    let sig = Signature::now("t", "t@example.com").unwrap();
    repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
}

fn manual(reason: &str) -> RevertMessage {
    RevertMessage {
        title: None,
        reason: RevertReason::Manual(Some(reason.to_string())),
        record_hash: Some("sha256:abc123".to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Property test: trees equal `git revert`'s.

const LINES: usize = 24;
const SLOTS: usize = LINES / 4;

#[derive(Debug, Clone)]
enum Op {
    Set(String, usize, String),
    Add(String, Vec<String>),
}

fn apply(model: &mut Model, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Set(f, line, text) => {
                let lines = model.get_mut(f).unwrap();
                let i = line % lines.len();
                lines[i] = text.clone();
            }
            Op::Add(f, lines) => {
                model.insert(f.clone(), lines.clone());
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    nfiles: usize,
    /// main before the merge: (file, slot) edits at lines 4k+2.
    before: Vec<Vec<(usize, usize)>>,
    /// feature commits: (file, slot) edits at lines 4k, and whether it adds a file.
    feature: Vec<(Vec<(usize, usize)>, bool)>,
    /// main after the merge: (file, slot, risky) — risky edits lines 4k, which may conflict.
    after: Vec<Vec<(usize, usize, bool)>>,
}

fn case() -> impl Strategy<Value = Case> {
    let edit = (0usize..8, 0usize..SLOTS);
    (
        1usize..=3,
        prop::collection::vec(prop::collection::vec(edit.clone(), 1..3), 0..3),
        prop::collection::vec(
            (prop::collection::vec(edit, 1..4), prop::bool::weighted(0.2)),
            1..4,
        ),
        prop::collection::vec(
            prop::collection::vec((0usize..8, 0usize..SLOTS, prop::bool::weighted(0.15)), 1..3),
            0..3,
        ),
    )
        .prop_map(|(nfiles, before, feature, after)| Case {
            nfiles,
            before,
            feature,
            after,
        })
}

/// Our plan's tree, or `None` when the engine refused with a conflict / nothing to revert.
fn ours(repo: &Repository, branch: &str, target: RevertTarget) -> Option<Oid> {
    match plan_revert(repo, branch, target, &manual("prop")) {
        Ok(p) => Some(p.tree),
        Err(RollbackError::Conflict { .. }) | Err(RollbackError::NothingToRevert { .. }) => None,
        Err(e) => panic!("unexpected error on {branch}: {e}"),
    }
}

/// `git revert` in the clone on `branch`; the resulting tree, or `None` when git failed.
fn theirs(work: &Path, branch: &str, args: &[&str]) -> Option<Oid> {
    git_ok(
        work,
        &["checkout", "-q", "-B", branch, &format!("origin/{branch}")],
    );
    let mut full = vec!["revert", "--no-edit"];
    full.extend_from_slice(args);
    let out = git(work, &full);
    if out.status.success() {
        Some(Oid::from_str(&git_ok(work, &["rev-parse", "HEAD^{tree}"])).unwrap())
    } else {
        let _ = git(work, &["revert", "--abort"]);
        git_ok(work, &["reset", "-q", "--hard"]);
        None
    }
}

fn run_case(c: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let bare_path = dir.path().join("mirror.git");
    let repo = Repository::init_bare(&bare_path).unwrap();
    let mut token = 0usize;
    let mut next = |tag: &str| {
        token += 1;
        format!("{tag}-{token}")
    };

    let mut base = Model::new();
    for f in 0..c.nfiles {
        base.insert(
            format!("f{f}.txt"),
            (0..LINES).map(|l| format!("file {f} line {l}")).collect(),
        );
    }
    let files: Vec<String> = base.keys().cloned().collect();
    let b = commit_model(&repo, &base, &[], "base");

    let mut main = base.clone();
    let mut main_tip = b;
    for (i, edits) in c.before.iter().enumerate() {
        let ops: Vec<Op> = edits
            .iter()
            .map(|&(f, s)| Op::Set(files[f % files.len()].clone(), s * 4 + 2, next("main")))
            .collect();
        apply(&mut main, &ops);
        main_tip = commit_model(&repo, &main, &[main_tip], &format!("main {i}"));
    }

    let mut feature_ops: Vec<Vec<Op>> = Vec::new();
    let mut feat = base.clone();
    let mut feat_tip = b;
    for (i, (edits, add)) in c.feature.iter().enumerate() {
        let mut ops: Vec<Op> = edits
            .iter()
            .map(|&(f, s)| Op::Set(files[f % files.len()].clone(), s * 4, next("feat")))
            .collect();
        if *add {
            ops.push(Op::Add(
                format!("new{i}.txt"),
                (0..8).map(|_| next("new")).collect(),
            ));
        }
        apply(&mut feat, &ops);
        feat_tip = commit_model(&repo, &feat, &[feat_tip], &format!("feature {i}"));
        feature_ops.push(ops);
    }

    let mut merged = main.clone();
    for ops in &feature_ops {
        apply(&mut merged, ops);
    }
    let merge = commit_model(
        &repo,
        &merged,
        &[main_tip, feat_tip],
        "Merge pull request #7 from someone/feature\n\nfeature",
    );
    let squash = commit_model(&repo, &merged, &[main_tip], "feature (#7)");
    let mut rebased = main.clone();
    let mut rebase_tip = main_tip;
    let mut rebase_first = None;
    for (i, ops) in feature_ops.iter().enumerate() {
        apply(&mut rebased, ops);
        rebase_tip = commit_model(&repo, &rebased, &[rebase_tip], &format!("feature {i}"));
        rebase_first.get_or_insert(rebase_tip);
    }
    let (first, last) = (rebase_first.unwrap(), rebase_tip);

    let mut tips = [merge, squash, last];
    let mut after = merged.clone();
    for (i, edits) in c.after.iter().enumerate() {
        let names: Vec<String> = after.keys().cloned().collect();
        let ops: Vec<Op> = edits
            .iter()
            .map(|&(f, s, risky)| {
                let line = if risky { s * 4 } else { s * 4 + 2 };
                Op::Set(names[f % names.len()].clone(), line, next("after"))
            })
            .collect();
        apply(&mut after, &ops);
        for t in tips.iter_mut() {
            *t = commit_model(&repo, &after, &[*t], &format!("after {i}"));
        }
    }
    for (name, tip) in ["merge", "squash", "rebase"].iter().zip(tips) {
        repo.reference(&format!("refs/heads/{name}"), tip, true, "test")
            .unwrap();
    }
    repo.set_head("refs/heads/merge").unwrap();

    let work = dir.path().join("work");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            bare_path.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );

    let cases: [(&str, RevertTarget, Vec<String>); 3] = [
        (
            "merge",
            RevertTarget::Merge(merge),
            vec!["-m".into(), "1".into(), merge.to_string()],
        ),
        (
            "squash",
            RevertTarget::Commit(squash),
            vec![squash.to_string()],
        ),
        (
            "rebase",
            RevertTarget::Range { first, last },
            vec![format!("{first}^..{last}")],
        ),
    ];
    for (branch, target, args) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = ours(&repo, branch, target);
        let t = theirs(&work, branch, &args);
        prop_assert_eq!(
            o,
            t,
            "{} revert differs from git's (None = refused)",
            branch
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn revert_trees_equal_git_revert(c in case()) {
        run_case(&c)?;
    }
}

// ---------------------------------------------------------------------------------------------
// A working repository built with the git CLI, for the refusal and apply tests.

struct Work {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        git_ok(&path, &["init", "-q", "-b", "main"]);
        Work { _dir: dir, path }
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path.join(name), text).unwrap();
    }
    fn commit(&self, msg: &str) -> Oid {
        git_ok(&self.path, &["add", "-A"]);
        git_ok(&self.path, &["commit", "-q", "-m", msg]);
        self.head()
    }
    fn head(&self) -> Oid {
        Oid::from_str(&git_ok(&self.path, &["rev-parse", "HEAD"])).unwrap()
    }
    fn repo(&self) -> Repository {
        Repository::open(&self.path).unwrap()
    }
    /// Refs, HEAD, the index file and every working-tree file.
    fn snapshot(&self) -> (String, String, Vec<u8>, BTreeMap<String, Vec<u8>>) {
        let refs = git_ok(
            &self.path,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        );
        let head = git_ok(&self.path, &["symbolic-ref", "HEAD"])
            + &git_ok(&self.path, &["rev-parse", "HEAD"]);
        let index = std::fs::read(self.path.join(".git/index")).unwrap();
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(&self.path).unwrap() {
            let e = e.unwrap();
            if e.file_name() != ".git" {
                files.insert(
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
        (refs, head, index, files)
    }

    /// base, a feature branch merged with a merge commit (PR #3), one more commit on main.
    fn with_merge() -> (Work, Oid) {
        let w = Work::new();
        w.write("a.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\n");
        w.write("b.txt", "b1\nb2\n");
        w.commit("base");
        git_ok(&w.path, &["checkout", "-q", "-b", "feature"]);
        w.write("a.txt", "one\nTWO\nthree\nfour\nfive\nsix\nseven\n");
        w.commit("shout two");
        git_ok(&w.path, &["checkout", "-q", "main"]);
        w.write("b.txt", "b1\nb2\nb3\n");
        w.commit("b3");
        git_ok(
            &w.path,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge pull request #3 from x/feature",
                "feature",
            ],
        );
        let merge = w.head();
        w.write("a.txt", "one\nTWO\nthree\nfour\nfive\nsix\nSEVEN\n");
        w.commit("shout seven");
        (w, merge)
    }
}

#[test]
fn message_names_title_sha_reason_and_trailers() {
    let (w, merge) = Work::with_merge();
    let repo = w.repo();
    let msg = RevertMessage {
        title: Some("Shout two".into()),
        reason: RevertReason::Policy {
            policy: "ci-green".into(),
            observed: "3 failing jobs".into(),
        },
        record_hash: Some("sha256:feedbeef".into()),
    };
    let plan = plan_revert(&repo, "main", RevertTarget::Merge(merge), &msg).unwrap();
    let m = &plan.message;
    assert!(m.starts_with("Revert \"Shout two\"\n\n"), "{m}");
    assert!(m.contains(&format!("This reverts commit {merge}")), "{m}");
    assert!(
        m.contains("policy ci-green violated (observed: 3 failing jobs)"),
        "{m}"
    );
    assert!(
        m.contains(&format!("\nPatchgate-Reverts: {merge}\n")),
        "{m}"
    );
    assert!(m.ends_with("Patchgate-Audit: sha256:feedbeef\n"), "{m}");

    let plan = plan_revert(
        &repo,
        "main",
        RevertTarget::Merge(merge),
        &manual("broke the build"),
    )
    .unwrap();
    assert!(plan
        .message
        .starts_with("Revert \"Merge pull request #3 from x/feature\""));
    assert!(plan
        .message
        .contains("Reason: manual rollback: broke the build"));
}

#[test]
fn apply_on_checked_out_branch_commits_and_updates_worktree() {
    let (w, merge) = Work::with_merge();
    let repo = w.repo();
    let before = w.head();
    let plan = plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("r")).unwrap();
    let new = apply_revert(&repo, "main", &plan).unwrap();
    assert_eq!(w.head(), new);
    let c = repo.find_commit(new).unwrap();
    assert_eq!(c.parent_id(0).unwrap(), before);
    assert_eq!(c.tree_id(), plan.tree);
    assert_eq!(c.message().unwrap(), plan.message);
    assert_eq!(git_ok(&w.path, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(w.path.join("a.txt")).unwrap(),
        "one\ntwo\nthree\nfour\nfive\nsix\nSEVEN\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.path.join("b.txt")).unwrap(),
        "b1\nb2\nb3\n"
    );
}

#[test]
fn conflict_names_the_file_and_touches_nothing() {
    let (w, merge) = Work::with_merge();
    w.write(
        "a.txt",
        "one\nTwo, rewritten\nthree\nfour\nfive\nsix\nSEVEN\n",
    );
    w.commit("rewrite two");
    w.write("untracked.txt", "x\n");
    let before = w.snapshot();
    let repo = w.repo();
    let err = plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("r")).unwrap_err();
    match &err {
        RollbackError::Conflict { target, paths } => {
            assert_eq!(*target, merge);
            assert_eq!(paths, &vec!["a.txt".to_string()]);
        }
        e => panic!("expected a conflict, got {e}"),
    }
    assert!(err.to_string().contains("a.txt"));
    assert_eq!(w.snapshot(), before);
}

#[test]
fn dry_run_changes_nothing() {
    let (w, merge) = Work::with_merge();
    let before = w.snapshot();
    let repo = w.repo();
    let plan = plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("r")).unwrap();
    assert_eq!(plan.parent, w.head());
    assert_eq!(w.snapshot(), before);
}

#[test]
fn already_reverted_is_refused_ours_and_gits() {
    let (w, merge) = Work::with_merge();
    let repo = w.repo();
    let plan = plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("r")).unwrap();
    let by = apply_revert(&repo, "main", &plan).unwrap();
    match plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("again")) {
        Err(RollbackError::AlreadyReverted {
            target,
            by: b,
            merge: is_merge,
        }) => {
            assert!(is_merge);
            assert_eq!((target, b), (merge, by))
        }
        other => panic!("expected AlreadyReverted, got {other:?}"),
    }

    // git's own revert message counts too.
    let (w, merge) = Work::with_merge();
    git_ok(
        &w.path,
        &["revert", "--no-edit", "-m", "1", &merge.to_string()],
    );
    let repo = w.repo();
    assert!(matches!(
        plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("again")),
        Err(RollbackError::AlreadyReverted { .. })
    ));
}

#[test]
fn revert_of_revert_needs_a_person() {
    let w = Work::new();
    w.write("a.txt", "1\n2\n3\n");
    w.commit("base");
    w.write("a.txt", "1\nX\n3\n");
    let c = w.commit("change (#5)");
    git_ok(&w.path, &["revert", "--no-edit", &c.to_string()]);
    let revert = w.head();
    let repo = w.repo();
    let err = plan_revert(&repo, "main", RevertTarget::Commit(revert), &manual("r")).unwrap_err();
    assert!(
        matches!(err, RollbackError::RevertOfRevert { target } if target == revert),
        "{err}"
    );
    assert!(err.to_string().contains("needs a person"));
    let opts = RevertOptions {
        allow_revert_of_revert: true,
    };
    let plan = plan_revert_with(
        &repo,
        "main",
        RevertTarget::Commit(revert),
        &manual("r"),
        &opts,
    )
    .unwrap();
    assert_eq!(plan.tree, repo.find_commit(c).unwrap().tree_id());
}

#[test]
fn branch_moved_between_plan_and_apply_writes_nothing() {
    let (w, merge) = Work::with_merge();
    let repo = w.repo();
    let plan = plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("r")).unwrap();
    w.write("c.txt", "c\n");
    let moved = w.commit("someone else");
    let before = w.snapshot();
    match apply_revert(&repo, "main", &plan) {
        Err(RollbackError::BranchMoved {
            expected, actual, ..
        }) => {
            assert_eq!((expected, actual), (plan.parent, moved))
        }
        other => panic!("expected BranchMoved, got {other:?}"),
    }
    assert_eq!(w.snapshot(), before);
}

#[test]
fn push_to_a_local_bare_remote() {
    let (w, merge) = Work::with_merge();
    let remote_dir = tempfile::tempdir().unwrap();
    git_ok(remote_dir.path(), &["init", "-q", "--bare", "-b", "main"]);
    let url = format!("file://{}", remote_dir.path().display());
    let repo = w.repo();
    push(&repo, &url, "main").unwrap();
    let plan = plan_revert(&repo, "main", RevertTarget::Merge(merge), &manual("r")).unwrap();
    let new = apply_revert(&repo, "main", &plan).unwrap();
    push(&repo, &url, "main").unwrap();
    let remote = Repository::open_bare(remote_dir.path()).unwrap();
    assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), new);

    // A remote that moved is not overwritten.
    let other = remote.find_commit(new).unwrap();
    let sig = Signature::now("o", "o@example.com").unwrap();
    let moved = remote
        .commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            "other",
            &other.tree().unwrap(),
            &[&other],
        )
        .unwrap();
    w.write("d.txt", "d\n");
    w.commit("local");
    assert!(push(&repo, &url, "main").is_err());
    assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), moved);
}

#[test]
fn finds_merge_and_squash_commits_of_a_pr() {
    let (w, merge) = Work::with_merge();
    let repo = w.repo();
    assert_eq!(
        find_pr_merge(&repo, "main", 3).unwrap(),
        RevertTarget::Merge(merge)
    );
    w.write("e.txt", "e\n");
    let squash = w.commit("Add e (#12)");
    w.write("e.txt", "e2\n");
    w.commit("later");
    assert_eq!(
        find_pr_merge(&repo, "main", 12).unwrap(),
        RevertTarget::Commit(squash)
    );
    assert!(matches!(
        find_pr_merge(&repo, "main", 1),
        Err(RollbackError::PrNotFound { pr: 1, .. })
    ));
    assert!(matches!(
        find_pr_merge(&repo, "main", 2),
        Err(RollbackError::PrNotFound { .. })
    ));
}

#[test]
fn targets_off_the_branch_are_refused() {
    let (w, _) = Work::with_merge();
    git_ok(&w.path, &["checkout", "-q", "-b", "side", "HEAD~2"]);
    w.write("s.txt", "s\n");
    let side = w.commit("side work");
    let repo = w.repo();
    assert!(matches!(
        plan_revert(&repo, "main", RevertTarget::Commit(side), &manual("r")),
        Err(RollbackError::NotOnBranch { .. })
    ));
}
