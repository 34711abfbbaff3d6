//! The revert engine against `git revert` on the shapes real histories have, each compared with
//! git's own result in the same test: a change whose revert git's histogram diff places
//! differently from libgit2's Myers diff, renames just above and just below git's 50 %
//! similarity, a directory renamed after the reverted commit, an untracked file in the way, a
//! branch checked out in another worktree — and, over a generated history of many merges,
//! renames and conflicting edits, every merge and single commit reverted side by side with
//! zero differences.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Oid, Repository};
use patchgate::rollback::{
    apply_revert, plan_revert, RevertMessage, RevertReason, RevertTarget, RollbackError,
};

pub(crate) fn git(dir: &Path, args: &[&str]) -> std::process::Output {
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

pub(crate) fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn manual() -> RevertMessage {
    RevertMessage {
        title: None,
        reason: RevertReason::Manual(Some("compare".into())),
        record_hash: None,
    }
}

/// What a revert came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A commit with this tree.
    Tree(Oid),
    /// Stopped on conflicts in these paths.
    Conflict(Vec<String>),
    /// Nothing to commit: the revert changes nothing.
    Empty,
}

/// A repository with a work tree, built with the git command line.
struct Work {
    _dir: tempfile::TempDir,
    path: PathBuf,
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
        let p = self.path.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    fn git(&self, args: &[&str]) -> String {
        git_ok(&self.path, args)
    }
    fn commit(&self, msg: &str) -> Oid {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
        self.head()
    }
    fn head(&self) -> Oid {
        Oid::from_str(&self.git(&["rev-parse", "HEAD"])).unwrap()
    }
    fn repo(&self) -> Repository {
        Repository::open(&self.path).unwrap()
    }
    /// A scratch clone in which `git revert` runs.
    fn clone_for_git(&self) -> PathBuf {
        let to = self._dir.path().join("git-clone");
        if !to.exists() {
            git_ok(
                self._dir.path(),
                &[
                    "clone",
                    "-q",
                    self.path.to_str().unwrap(),
                    to.to_str().unwrap(),
                ],
            );
        }
        to
    }
    /// Every ref, HEAD, the index file and every work-tree file (outside `.git`).
    fn snapshot(&self) -> (String, String, Vec<u8>, BTreeMap<String, Vec<u8>>) {
        let refs = self.git(&["for-each-ref", "--format=%(refname) %(objectname)"]);
        let head = self.git(&["symbolic-ref", "HEAD"]) + &self.git(&["rev-parse", "HEAD"]);
        let index = std::fs::read(self.path.join(".git/index")).unwrap();
        (refs, head, index, files_under(&self.path))
    }
}

pub(crate) fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_name() == ".git" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                files.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    files
}

/// `git revert --no-edit [-m 1] <target>` in `clone` on top of `tip`, then put the clone back.
fn git_revert(clone: &Path, tip: Oid, target: Oid, merge: bool) -> Outcome {
    git_ok(
        clone,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
        ],
    );
    git_ok(clone, &["checkout", "-q", "--detach", &tip.to_string()]);
    git_ok(clone, &["reset", "-q", "--hard"]);
    git_ok(clone, &["clean", "-q", "-fdx"]);
    let t = target.to_string();
    let mut args = vec!["revert", "--no-edit"];
    if merge {
        args.extend(["-m", "1"]);
    }
    args.push(&t);
    let out = git(clone, &args);
    let outcome = if out.status.success() {
        Outcome::Tree(Oid::from_str(&git_ok(clone, &["rev-parse", "HEAD^{tree}"])).unwrap())
    } else {
        let unmerged = git_ok(clone, &["diff", "--name-only", "--diff-filter=U"]);
        let mut paths: Vec<String> = unmerged.lines().map(str::to_string).collect();
        paths.sort();
        if paths.is_empty() {
            let said = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("nothing to commit"), "git revert {t}: {said}");
            Outcome::Empty
        } else {
            Outcome::Conflict(paths)
        }
    };
    let _ = git(clone, &["revert", "--abort"]);
    git_ok(clone, &["reset", "-q", "--hard"]);
    outcome
}

/// patchgate's plan of the same revert on `branch` of `repo`.
fn ours(repo: &Repository, branch: &str, target: Oid, merge: bool) -> Outcome {
    let t = if merge {
        RevertTarget::Merge(target)
    } else {
        RevertTarget::Commit(target)
    };
    match plan_revert(repo, branch, t, &manual()) {
        Ok(p) => Outcome::Tree(p.tree),
        Err(RollbackError::Conflict { paths, .. }) => Outcome::Conflict(paths),
        Err(RollbackError::NothingToRevert { .. }) => Outcome::Empty,
        Err(e) => panic!("unexpected refusal of {target}: {e}"),
    }
}

/// Both sides of one revert on `main` of `w`.
fn both(w: &Work, target: Oid, merge: bool) -> (Outcome, Outcome) {
    let tip = w.head();
    let clone = w.clone_for_git();
    (
        ours(&w.repo(), "main", target, merge),
        git_revert(&clone, tip, target, merge),
    )
}

/// libgit2's own tree merge (Myers diff) of the same revert: what the engine did before.
fn libgit2_revert(repo: &Repository, target: Oid) -> Outcome {
    let c = repo.find_commit(target).unwrap();
    let p = c.parent(0).unwrap();
    let head = repo.head().unwrap().peel_to_tree().unwrap();
    let mut idx = repo
        .merge_trees(&c.tree().unwrap(), &head, &p.tree().unwrap(), None)
        .unwrap();
    if idx.has_conflicts() {
        return Outcome::Conflict(vec![]);
    }
    Outcome::Tree(idx.write_tree_to(repo).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Histogram, not Myers.

/// The function-reordering example histogram and patience diffs were made for: `fib` sits
/// between similar blocks, the reverted commit removes it there and adds `fact` further down.
const WITH_FIB: &str = "#include <stdio.h>\n\nint fib(int n)\n{\n    if(n > 2)\n    {\n        return fib(n-1) + fib(n-2);\n    }\n    return 1;\n}\n\n// Frobs foo heartily\nint frobnitz(int foo)\n{\n    int i;\n    for(i = 0; i < 10; i++)\n    {\n        printf(\"%d\\n\", foo);\n    }\n}\n\nint main(int argc, char **argv)\n{\n    frobnitz(fib(10));\n}\n";
const WITH_FACT: &str = "#include <stdio.h>\n\n// Frobs foo heartily\nint frobnitz(int foo)\n{\n    int i;\n    for(i = 0; i < 10; i++)\n    {\n        printf(\"Your answer is: \");\n        printf(\"%d\\n\", foo);\n    }\n}\n\nint fact(int n)\n{\n    if(n > 1)\n    {\n        return fact(n-1) * n;\n    }\n    return 1;\n}\n\nint main(int argc, char **argv)\n{\n    frobnitz(fact(10));\n}\n";

/// `WITH_FACT` with `f` applied to its lines.
fn later(f: impl Fn(&mut Vec<String>)) -> String {
    let mut lines: Vec<String> = WITH_FACT.lines().map(str::to_string).collect();
    f(&mut lines);
    lines.join("\n") + "\n"
}

#[test]
fn reverts_with_gits_histogram_diff_where_myers_differs() {
    // 1. A line added later between two functions: both diffs merge cleanly, but Myers puts
    //    the restored `fib` somewhere else — a quietly wrong revert.
    // 2. A later edit inside `frobnitz`: git reverts cleanly, Myers conflicts.
    let cases: [(&str, String); 2] = [
        (
            "comment between functions",
            later(|l| l.insert(12, "// fact and frobnitz".into())),
        ),
        (
            "edit in frobnitz",
            later(|l| l[4] = format!("{} // checked", l[4])),
        ),
    ];
    for (what, text) in cases {
        let w = Work::new();
        w.write("frob.c", WITH_FIB);
        w.write("README", "frob\n");
        w.commit("base");
        w.write("frob.c", WITH_FACT);
        let c = w.commit("frobnitz: print the answer; fib becomes fact");
        w.write("frob.c", &text);
        w.commit(what);
        let (o, g) = both(&w, c, false);
        assert!(matches!(g, Outcome::Tree(_)), "{what}: git reverts cleanly");
        assert_eq!(o, g, "{what}: patchgate's revert differs from git's");
        // The shape tells the diffs apart: libgit2's Myers merge gets another result.
        assert_ne!(
            libgit2_revert(&w.repo(), c),
            g,
            "{what}: this history must separate histogram from Myers"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Renames: git's 50 % similarity, and directory renames.

fn lines(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{tag} line {i:02}: some text that makes the line long enough"))
        .collect()
}

#[test]
fn renames_above_and_below_gits_similarity_threshold_are_judged_as_git_judges_them() {
    // The sources move (`requests/` → `src/requests/`) after the reverted commit, rewritten in
    // part: 4 of 20 lines (80 % similar: a rename, the revert follows the file) or 12 of 20
    // (40 %: under git's 50 %, a delete and an add — the revert is a modify/delete conflict).
    for (rewritten, renamed) in [(4usize, true), (12, false)] {
        let w = Work::new();
        let mut text = lines("api", 20);
        w.write("requests/api.py", &(text.join("\n") + "\n"));
        w.write("setup.py", "setup()\n");
        w.commit("base");
        text[1] = "api line 01: CHANGED by the commit to revert".into();
        w.write("requests/api.py", &(text.join("\n") + "\n"));
        let c = w.commit("api: change line 1");
        for l in text.iter_mut().skip(8).take(rewritten) {
            *l = format!("{l} -- rewritten while moving");
        }
        std::fs::remove_dir_all(w.path.join("requests")).unwrap();
        w.write("src/requests/api.py", &(text.join("\n") + "\n"));
        w.commit("move the package under src/");
        let (o, g) = both(&w, c, false);
        assert_eq!(o, g, "{rewritten} of 20 lines rewritten");
        match (&g, renamed) {
            (Outcome::Tree(t), true) => {
                let repo = w.repo();
                let tree = repo.find_tree(*t).unwrap();
                let e = tree.get_path(Path::new("src/requests/api.py")).unwrap();
                let blob = repo.find_blob(e.id()).unwrap();
                let s = String::from_utf8_lossy(blob.content()).into_owned();
                assert!(s.contains("api line 01: some text"), "{s}");
                assert!(tree.get_path(Path::new("requests/api.py")).is_err());
            }
            (Outcome::Conflict(paths), false) => {
                assert_eq!(paths, &vec!["requests/api.py".to_string()])
            }
            other => panic!("git judged the {rewritten}-line rename unexpectedly: {other:?}"),
        }
    }
}

#[test]
fn a_directory_renamed_after_the_reverted_commit_is_a_file_location_conflict() {
    let w = Work::new();
    w.write("docs/guide.md", "guide\n");
    w.write("docs/faq.md", "faq\n");
    w.commit("base");
    std::fs::remove_file(w.path.join("docs/faq.md")).unwrap();
    let c = w.commit("drop the FAQ");
    w.git(&["mv", "docs", "manual"]);
    w.commit("docs/ becomes manual/");
    let (o, g) = both(&w, c, false);
    assert_eq!(g, Outcome::Conflict(vec!["manual/faq.md".into()]));
    assert_eq!(
        o, g,
        "the conflict is named where git names it, in the new directory"
    );
}

// ---------------------------------------------------------------------------------------------
// Never touch what is not the revert's.

#[test]
fn an_untracked_file_in_the_way_is_never_overwritten() {
    let w = Work::new();
    w.write("keep.txt", "keep\n");
    w.write("victim.txt", "tracked once\n");
    w.commit("base");
    std::fs::remove_file(w.path.join("victim.txt")).unwrap();
    let c = w.commit("remove victim.txt");
    w.write("victim.txt", "someone's untracked work\n");
    let before = w.snapshot();

    // git refuses.
    let gitw = w.clone_for_git();
    git_ok(&gitw, &["fetch", "-q"]);
    std::fs::write(gitw.join("victim.txt"), "someone's untracked work\n").unwrap();
    let out = git(&gitw, &["revert", "--no-edit", &c.to_string()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("untracked working tree files would be overwritten"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // So does patchgate, with nothing written.
    let repo = w.repo();
    let plan = plan_revert(&repo, "main", RevertTarget::Commit(c), &manual()).unwrap();
    let err = apply_revert(&repo, "main", &plan).unwrap_err();
    match &err {
        RollbackError::UntrackedInTheWay { paths } => {
            assert_eq!(paths, &vec!["victim.txt".to_string()])
        }
        e => panic!("expected UntrackedInTheWay, got {e}"),
    }
    assert!(err
        .to_string()
        .contains("untracked working tree files would be overwritten"));
    assert_eq!(w.snapshot(), before);

    // Moved out of the way, both revert to the same tree; an unrelated untracked file stays.
    std::fs::remove_file(w.path.join("victim.txt")).unwrap();
    std::fs::remove_file(gitw.join("victim.txt")).unwrap();
    w.write("notes.txt", "mine\n");
    let (o, g) = both(&w, c, false);
    assert_eq!(o, g);
    let plan = plan_revert(&repo, "main", RevertTarget::Commit(c), &manual()).unwrap();
    apply_revert(&repo, "main", &plan).unwrap();
    assert_eq!(
        std::fs::read_to_string(w.path.join("victim.txt")).unwrap(),
        "tracked once\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.path.join("notes.txt")).unwrap(),
        "mine\n"
    );
    assert_eq!(w.git(&["status", "--porcelain"]), "?? notes.txt");
}

#[test]
fn a_branch_checked_out_in_another_worktree_is_refused_as_git_refuses() {
    let w = Work::new();
    w.write("a.txt", "1\n2\n3\n");
    w.commit("base");
    w.git(&["checkout", "-q", "-b", "topic"]);
    w.write("a.txt", "1\nX\n3\n");
    let c = w.commit("change two");
    w.git(&["checkout", "-q", "main"]);
    let other = w._dir.path().join("other");
    w.git(&["worktree", "add", "-q", other.to_str().unwrap(), "topic"]);
    let before = (w.snapshot(), files_under(&other));

    // git will not take a branch another worktree has checked out.
    let out = git(&w.path, &["checkout", "topic"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("topic") && said.contains(other.file_name().unwrap().to_str().unwrap()),
        "{said}"
    );

    let repo = w.repo();
    let plan = plan_revert(&repo, "topic", RevertTarget::Commit(c), &manual()).unwrap();
    match apply_revert(&repo, "topic", &plan) {
        Err(RollbackError::CheckedOutElsewhere { branch, path }) => {
            assert_eq!(branch, "topic");
            assert!(path.ends_with("other"), "{path}");
        }
        other => panic!("expected CheckedOutElsewhere, got {other:?}"),
    }
    assert_eq!((w.snapshot(), files_under(&other)), before);

    // In that worktree itself it goes through, and the worktree follows (no staged reversal).
    let there = Repository::open(&other).unwrap();
    let plan = plan_revert(&there, "topic", RevertTarget::Commit(c), &manual()).unwrap();
    apply_revert(&there, "topic", &plan).unwrap();
    assert_eq!(git_ok(&other, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(other.join("a.txt")).unwrap(),
        "1\n2\n3\n"
    );
    let g = git_revert(&w.clone_for_git(), c, c, false);
    assert_eq!(Outcome::Tree(plan.tree), g);
}

// ---------------------------------------------------------------------------------------------
// Side by side over a generated history.

/// A small deterministic generator (xorshift), so the history is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One commit's worth of changes to the work tree: edits in place (some on lines other branches
/// edit too), blocks inserted and removed, files added, removed and renamed (with and without
/// edits), and now and then a whole directory renamed.
fn mutate(w: &Work, rng: &mut Rng, tag: &str) {
    let files: Vec<String> = w.git(&["ls-files"]).lines().map(str::to_string).collect();
    let pick = |rng: &mut Rng| files[rng.below(files.len())].clone();
    for _ in 0..1 + rng.below(3) {
        let f = pick(rng);
        let p = w.path.join(&f);
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        match rng.below(10) {
            0..=3 => {
                // Edit a line; a few lines are hot spots every branch edits.
                let i = if rng.below(3) == 0 {
                    rng.below(3)
                } else {
                    rng.below(lines.len())
                };
                if let Some(l) = lines.get_mut(i) {
                    *l = format!("{tag}: {l}");
                }
            }
            4 | 5 => {
                let at = rng.below(lines.len() + 1);
                let n = 1 + rng.below(4);
                for k in 0..n {
                    lines.insert(at, format!("{tag} inserted {k}"));
                }
                if rng.below(2) == 0 {
                    lines.insert(at, String::new());
                }
            }
            6 => {
                if lines.len() > 6 {
                    let at = rng.below(lines.len() - 3);
                    lines.drain(at..at + 1 + rng.below(3));
                }
            }
            7 => {
                // Rename, sometimes with edits, sometimes into another directory.
                let dir = ["src", "lib", "docs", "src/core"][rng.below(4)];
                let name = Path::new(&f)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let to = format!("{dir}/{}{name}", if rng.below(2) == 0 { "" } else { "x_" });
                if to != f && !w.path.join(&to).exists() {
                    std::fs::create_dir_all(w.path.join(&to).parent().unwrap()).unwrap();
                    std::fs::rename(&p, w.path.join(&to)).unwrap();
                    if rng.below(2) == 0 {
                        for l in lines.iter_mut().step_by(3) {
                            *l = format!("{l} ({tag})");
                        }
                        std::fs::write(w.path.join(&to), lines.join("\n") + "\n").unwrap();
                    }
                    continue;
                }
            }
            8 => {
                let name = format!(
                    "{}/{tag}-{}.txt",
                    ["src", "lib", "docs"][rng.below(3)],
                    rng.below(100)
                );
                let body: Vec<String> = (0..8 + rng.below(8))
                    .map(|k| format!("{tag} new file line {k}"))
                    .collect();
                w.write(&name, &(body.join("\n") + "\n"));
                continue;
            }
            _ => {
                if files.len() > 6 && rng.below(2) == 0 {
                    std::fs::remove_file(&p).unwrap();
                    continue;
                }
                let dirs = ["lib", "docs"];
                let d = dirs[rng.below(2)];
                let to = format!("{d}{}", rng.below(10));
                if w.path.join(d).is_dir() && !w.path.join(&to).exists() {
                    std::fs::rename(w.path.join(d), w.path.join(&to)).unwrap();
                    continue;
                }
            }
        }
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    }
}

#[test]
fn every_merge_and_commit_of_a_generated_history_reverts_as_git_reverts() {
    let w = Work::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (dir, n) in [("src", 5), ("lib", 4), ("docs", 3)] {
        for i in 0..n {
            let body: Vec<String> = (0..24)
                .map(|k| match k % 6 {
                    0 => String::new(),
                    1 => "}".to_string(),
                    _ => format!("{dir}/{i} line {k}: text of some length"),
                })
                .collect();
            w.write(&format!("{dir}/f{i}.txt"), &(body.join("\n") + "\n"));
        }
    }
    w.commit("base");
    let mut merges = 0;
    for pr in 1..=24 {
        if rng.below(3) == 0 {
            mutate(&w, &mut rng, &format!("main{pr}"));
            w.commit(&format!("direct change {pr}"));
        }
        let branch = format!("feature{pr}");
        w.git(&["checkout", "-q", "-b", &branch]);
        for k in 0..1 + rng.below(3) {
            mutate(&w, &mut rng, &format!("f{pr}c{k}"));
            w.commit(&format!("feature {pr}, commit {k}"));
        }
        w.git(&["checkout", "-q", "main"]);
        if rng.below(4) == 0 {
            mutate(&w, &mut rng, &format!("race{pr}"));
            w.commit(&format!("meanwhile on main {pr}"));
        }
        let msg = format!("Merge pull request #{pr} from x/{branch}");
        let out = git(&w.path, &["merge", "-q", "--no-ff", "-m", &msg, &branch]);
        if !out.status.success() {
            // A conflicting merge is resolved the way people often do: their side wins, and
            // what is left (a file deleted on one side) is committed as it stands.
            w.git(&["merge", "--abort"]);
            let out = git(
                &w.path,
                &[
                    "merge", "-q", "--no-ff", "-X", "theirs", "-m", &msg, &branch,
                ],
            );
            if !out.status.success() {
                w.git(&["add", "-A"]);
                w.git(&["commit", "-q", "--no-edit"]);
            }
        }
        merges += 1;
    }
    let commits: Vec<(Oid, bool)> = w
        .git(&["rev-list", "--parents", "main"])
        .lines()
        .filter_map(|l| {
            let ids: Vec<&str> = l.split(' ').collect();
            (ids.len() >= 2).then(|| (Oid::from_str(ids[0]).unwrap(), ids.len() > 2))
        })
        .collect();
    assert!(
        merges >= 24 && commits.len() > 60,
        "{} commits",
        commits.len()
    );

    let repo = w.repo();
    let tip = w.head();
    let clone = w.clone_for_git();
    let mut diffs = Vec::new();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for &(c, merge) in &commits {
        let o = ours(&repo, "main", c, merge);
        let g = git_revert(&clone, tip, c, merge);
        *tally
            .entry(match g {
                Outcome::Tree(_) => "clean",
                Outcome::Conflict(_) => "conflict",
                Outcome::Empty => "empty",
            })
            .or_default() += 1;
        if o != g {
            diffs.push(format!("{c} (merge: {merge}): patchgate {o:?}, git {g:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    // The history exercises both outcomes.
    assert!(tally.get("clean").copied().unwrap_or(0) > 10, "{tally:?}");
    assert!(tally.get("conflict").copied().unwrap_or(0) > 5, "{tally:?}");
}
