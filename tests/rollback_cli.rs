//! `patchgate rollback` as a person runs it: a closed stdout never aborts a revert halfway and a
//! rerun pushes what an earlier run committed, the remote is checked before anything is
//! committed, ranges mean what git's `A..B` means, each outcome has its own exit code, a
//! rejected push says why once, and a git too old for `merge-tree --merge-base` is named.
//! Each revert is compared with `git revert`'s in the same test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::rollback_git::{git, git_ok};

struct Repo {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Repo {
    /// base, then commits `c1` `c2` `c3` each changing its own file, on `main`; a bare
    /// `origin` that has all of it.
    fn new() -> (Repo, [String; 3]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work");
        std::fs::create_dir(&path).unwrap();
        git_ok(&path, &["init", "-q", "-b", "main"]);
        for f in ["a", "b", "c"] {
            std::fs::write(path.join(f), format!("{f}\n")).unwrap();
        }
        git_ok(&path, &["add", "-A"]);
        git_ok(&path, &["commit", "-q", "-m", "base"]);
        let mut ids = Vec::new();
        for (i, f) in ["a", "b", "c"].iter().enumerate() {
            std::fs::write(path.join(f), format!("{f}\nchanged by c{}\n", i + 1)).unwrap();
            git_ok(&path, &["commit", "-q", "-am", &format!("c{}", i + 1)]);
            ids.push(git_ok(&path, &["rev-parse", "HEAD"]));
        }
        let origin = dir.path().join("origin.git");
        git_ok(
            dir.path(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                origin.to_str().unwrap(),
            ],
        );
        git_ok(
            &path,
            &["remote", "add", "origin", origin.to_str().unwrap()],
        );
        git_ok(&path, &["push", "-q", "origin", "main"]);
        let ids: [String; 3] = ids.try_into().unwrap();
        (Repo { dir, path }, ids)
    }
    fn head(&self) -> String {
        git_ok(&self.path, &["rev-parse", "HEAD"])
    }
    fn origin_tip(&self) -> String {
        git_ok(&self.dir.path().join("origin.git"), &["rev-parse", "main"])
    }
    /// `git revert --no-edit <args>` in a fresh clone at `main`: the tree, or `None` on failure.
    fn git_revert_tree(&self, args: &[&str]) -> Option<String> {
        let clone = self.dir.path().join(format!("clone-{}", rand_suffix()));
        git_ok(
            self.dir.path(),
            &[
                "clone",
                "-q",
                self.path.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
        let mut full = vec!["revert", "--no-edit"];
        full.extend_from_slice(args);
        git(&clone, &full)
            .status
            .success()
            .then(|| git_ok(&clone, &["rev-parse", "HEAD^{tree}"]))
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn patchgate(repo: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchgate"));
    cmd.arg("rollback")
        .args(args)
        .arg("--repo")
        .arg(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("patchgate runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_closed_stdout_never_stops_a_rollback_halfway_and_a_rerun_pushes_what_was_committed() {
    let (r, [_, c2, _]) = Repo::new();
    let expected = r.git_revert_tree(&[&c2]).unwrap();

    // stdout is a pipe whose reader is already gone: every write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = patchgate(&r.path, &[&c2, "--push", "--reason", "closed pipe"]);
    cmd.stdout(writer).stderr(Stdio::piped());
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(r.origin_tip(), r.head(), "the revert was pushed");
    assert_eq!(git_ok(&r.path, &["rev-parse", "HEAD^{tree}"]), expected);

    // Committed but not pushed (a run stopped between the two): a rerun with --push pushes it.
    let (r, [c1, _, _]) = Repo::new();
    let o = run(patchgate(&r.path, &[&c1]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let committed = r.head();
    assert_ne!(r.origin_tip(), committed);
    let o = run(patchgate(&r.path, &[&c1, "--push"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("not pushed yet: pushing it"),
        "{}",
        text(&o)
    );
    assert_eq!((r.head(), r.origin_tip()), (committed.clone(), committed));
    // And once pushed, it is done: already reverted (3), a single commit's wording.
    let o = run(patchgate(&r.path, &[&c1, "--push"]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("a change is never reverted twice"), "{t}");
    assert!(!t.contains("a merge is never"), "{t}");
}

#[test]
fn every_command_ends_quietly_on_a_closed_stdout() {
    let (r, [c1, ..]) = Repo::new();
    for args in [
        vec![
            "rollback",
            &c1,
            "--dry-run",
            "--repo",
            r.path.to_str().unwrap(),
        ],
        vec!["config", "explain"],
        vec!["rules", "test"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_patchgate"))
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_ne!(o.status.code(), Some(101), "{args:?}: {stderr}");
        // A rollback finishes with its own code; other commands stop with SIGPIPE's 141.
        let want = if args[0] == "rollback" { 0 } else { 141 };
        assert_eq!(o.status.code(), Some(want), "{args:?}: {stderr}");
    }
}

#[test]
fn a_missing_remote_is_named_before_anything_is_committed() {
    let (r, [c1, ..]) = Repo::new();
    git_ok(&r.path, &["remote", "remove", "origin"]);
    let before = r.head();
    let o = run(patchgate(&r.path, &[&c1, "--push"]));
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("remote origin:") && t.contains("git remote add"),
        "{t}"
    );
    assert_eq!(r.head(), before, "nothing committed");
    assert_eq!(git_ok(&r.path, &["status", "--porcelain"]), "");

    // A remote that is there but unreachable: the same, before committing.
    git_ok(
        &r.path,
        &["remote", "add", "origin", "/nonexistent/origin.git"],
    );
    let o = run(patchgate(&r.path, &[&c1, "--push"]));
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("remote origin:"), "{}", text(&o));
    assert_eq!(r.head(), before, "nothing committed");
}

#[test]
fn a_range_means_what_gits_a_dot_dot_b_means() {
    let (r, [c1, _, c3]) = Repo::new();
    let range = format!("{c1}..{c3}");
    let expected = r.git_revert_tree(&[&range]).unwrap();
    let o = run(patchgate(&r.path, &[&range]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(git_ok(&r.path, &["rev-parse", "HEAD^{tree}"]), expected);
    // c1 is not in c1..c3: its change stays, c2's and c3's are gone.
    assert_eq!(
        std::fs::read_to_string(r.path.join("a")).unwrap(),
        "a\nchanged by c1\n"
    );
    assert_eq!(std::fs::read_to_string(r.path.join("b")).unwrap(), "b\n");
    let msg = git_ok(&r.path, &["log", "-1", "--format=%B"]);
    assert_eq!(msg.matches("Patchgate-Reverts:").count(), 2, "{msg}");

    // An empty range and a symmetric one are usage errors (2), nothing written.
    let head = r.head();
    for bad in [
        format!("{c3}..{c3}"),
        format!("{c1}...{c3}"),
        format!("..{c3}"),
    ] {
        let o = run(patchgate(&r.path, &[&bad]));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
    }
    assert_eq!(r.head(), head);
}

#[test]
fn exit_codes_tell_a_conflict_from_already_reverted_from_usage_from_the_rest() {
    let (r, [c1, ..]) = Repo::new();
    // 1: a conflict (git conflicts too), nothing written.
    std::fs::write(r.path.join("a"), "a\nchanged by c1, then again\n").unwrap();
    git_ok(&r.path, &["commit", "-q", "-am", "edit a again"]);
    assert_eq!(r.git_revert_tree(&[&c1]), None, "git conflicts too");
    let head = r.head();
    let o = run(patchgate(&r.path, &[&c1]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("conflicts") && text(&o).contains(" a"),
        "{}",
        text(&o)
    );
    assert_eq!(r.head(), head);
    // 2: usage — an unknown commit, a path that is no repository.
    let o = run(patchgate(&r.path, &["no-such-commit"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(patchgate(r.dir.path(), &["HEAD"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // 3: already reverted.
    let (r, [_, c2, _]) = Repo::new();
    assert_eq!(run(patchgate(&r.path, &[&c2])).status.code(), Some(0));
    let o = run(patchgate(&r.path, &[&c2]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // 4: the repository's state — uncommitted changes.
    let (r, [_, c2, _]) = Repo::new();
    std::fs::write(r.path.join("c"), "dirty\n").unwrap();
    let o = run(patchgate(&r.path, &[&c2]));
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("uncommitted changes"), "{}", text(&o));
}

#[test]
fn a_rejected_push_says_why_once_and_keeps_the_commit() {
    let (r, [_, c2, _]) = Repo::new();
    // Someone else pushes first.
    let other = r.dir.path().join("other");
    git_ok(
        r.dir.path(),
        &[
            "clone",
            "-q",
            r.dir.path().join("origin.git").to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("d"), "d\n").unwrap();
    git_ok(&other, &["add", "-A"]);
    git_ok(
        &other,
        &[
            "-c",
            "user.name=o",
            "-c",
            "user.email=o@example.com",
            "commit",
            "-q",
            "-m",
            "theirs",
        ],
    );
    git_ok(&other, &["push", "-q", "origin", "main"]);
    let theirs = r.origin_tip();

    let o = run(patchgate(&r.path, &[&c2, "--push"]));
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(stderr.matches("rejected").count(), 1, "{stderr}");
    assert!(stderr.contains("not pushed"), "{stderr}");
    assert_eq!(r.origin_tip(), theirs, "never forced");
    assert_eq!(
        git_ok(&r.path, &["log", "-1", "--format=%s"]),
        "Revert \"c2\""
    );
}

#[test]
fn a_git_too_old_for_merge_tree_is_named_and_nothing_is_written() {
    let (r, [c1, ..]) = Repo::new();
    let bin = r.dir.path().join("old-git");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("git");
    std::fs::write(&fake, "#!/bin/sh\necho 'git version 2.39.5'\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let head = r.head();
    let mut cmd = patchgate(&r.path, &[&c1]);
    cmd.env("PATH", &bin);
    let o = run(cmd);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("2.39.5") && t.contains("git 2.40 or newer"),
        "{t}"
    );
    assert_eq!(r.head(), head);
}
