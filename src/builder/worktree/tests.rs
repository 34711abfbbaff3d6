//! The scratch worktree: paths, the base written byte for byte by git, what capture sees.

use super::place::Probe;
use super::*;
use git2::Signature;
use std::os::unix::fs::PermissionsExt;

#[test]
fn paths_that_leave_or_touch_git_are_refused() {
    for p in [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a//b",
        ".git/config",
        "x/.GIT/y",
        "",
    ] {
        assert!(check_path(p).is_err(), "{p}");
    }
    for p in ["a.py", "src/x/y.rs", ".github/workflows/ci.yml", "..a"] {
        assert!(check_path(p).is_ok(), "{p}");
    }
}

const ATTRS: &str = "* text eol=crlf\n*.txt ident filter=lfs\n";
const TEXT: &str = "one\n$Id$\n";

/// A bare repository whose one commit has attributes that would convert every file on a plain
/// `git checkout`, an executable, two symlinks (one out of the tree), a submodule and a file
/// in a folder.
fn base_repo(dir: &Path) -> (Repository, Oid) {
    let repo = Repository::init_bare(dir.join("mirror.git")).unwrap();
    let oid = {
        let blob = |b: &[u8]| repo.blob(b).unwrap();
        let mut sub = repo.treebuilder(None).unwrap();
        sub.insert("deep.txt", blob(b"deep\n"), 0o100644).unwrap();
        let sub = sub.write().unwrap();
        let mut root = repo.treebuilder(None).unwrap();
        root.insert(".gitattributes", blob(ATTRS.as_bytes()), 0o100644)
            .unwrap();
        root.insert("a.txt", blob(TEXT.as_bytes()), 0o100644)
            .unwrap();
        root.insert("run.sh", blob(b"#!/bin/sh\necho hi\n"), 0o100755)
            .unwrap();
        root.insert("link", blob(b"a.txt"), 0o120000).unwrap();
        root.insert("out", blob(b"../../etc/passwd"), 0o120000)
            .unwrap();
        root.insert("module", Oid::from_str(&"1".repeat(40)).unwrap(), 0o160000)
            .unwrap();
        root.insert("dir", sub, 0o040000).unwrap();
        let tree = repo.find_tree(root.write().unwrap()).unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        repo.commit(None, &sig, &sig, "base", &tree, &[]).unwrap()
    };
    (repo, oid)
}

fn dir_of(p: &Path) -> ScratchPlace {
    ScratchPlace::Dir(p.to_path_buf())
}

fn limits() -> ChangeLimits {
    ChangeLimits {
        max_files: 10,
        max_bytes: 1 << 20,
    }
}

#[test]
fn the_base_is_written_byte_for_byte_whatever_its_attributes_say() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, base) = base_repo(dir.path());
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let s = Scratch::checkout(&repo, base, &ScratchPlace::Dir(tmp.clone()), &[], "req").unwrap();
    let w = s.work();
    // No CRLF, no expanded $Id$, no filter: the blob's bytes.
    assert_eq!(std::fs::read_to_string(w.join("a.txt")).unwrap(), TEXT);
    assert_eq!(
        std::fs::read_to_string(w.join(".gitattributes")).unwrap(),
        ATTRS
    );
    assert_eq!(
        std::fs::read_to_string(w.join("dir/deep.txt")).unwrap(),
        "deep\n"
    );
    let mode = |p: &str| std::fs::metadata(w.join(p)).unwrap().permissions().mode();
    assert_ne!(mode("run.sh") & 0o111, 0);
    assert_eq!(mode("a.txt") & 0o111, 0);
    // Symlinks as git writes them, the submodule as an empty directory, no .git.
    assert_eq!(
        std::fs::read_link(w.join("link")).unwrap(),
        Path::new("a.txt")
    );
    assert_eq!(
        std::fs::read_link(w.join("out")).unwrap(),
        Path::new("../../etc/passwd")
    );
    assert_eq!(std::fs::read_dir(w.join("module")).unwrap().count(), 0);
    assert!(!w.join(".git").exists());
    // The temporary index is gone, nothing is beside the worktree, the mirror has no index.
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        1,
        "only the scratch"
    );
    assert!(!repo.path().join("index").exists());
    assert_eq!(s.capture(limits()).unwrap(), vec![]);
}

#[test]
fn capture_after_the_checkout_sees_edits_and_refuses_new_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, base) = base_repo(dir.path());
    let s = Scratch::checkout(&repo, base, &dir_of(dir.path()), &[], "req").unwrap();
    let w = s.work().to_path_buf();
    std::fs::write(w.join("a.txt"), "one\ntwo\n").unwrap();
    std::fs::remove_file(w.join("dir/deep.txt")).unwrap();
    std::fs::write(w.join("new.txt"), "new\n").unwrap();
    std::fs::set_permissions(w.join("run.sh"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let changes = s.capture(limits()).unwrap();
    assert_eq!(
        changes,
        vec![
            FileChange::Write {
                path: "a.txt".into(),
                bytes: b"one\ntwo\n".to_vec(),
                executable: false
            },
            FileChange::Write {
                path: "new.txt".into(),
                bytes: b"new\n".to_vec(),
                executable: false
            },
            FileChange::Write {
                path: "run.sh".into(),
                bytes: b"#!/bin/sh\necho hi\n".to_vec(),
                executable: false
            },
            FileChange::Delete {
                path: "dir/deep.txt".into()
            },
        ]
    );
    std::os::unix::fs::symlink("/etc/passwd", w.join("new-link")).unwrap();
    let err = s.capture(limits()).unwrap_err();
    assert!(err.contains("symlink, refused: new-link"), "{err}");
}

#[test]
fn a_base_git_refuses_to_write_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path().join("m.git")).unwrap();
    let mut inner = repo.treebuilder(None).unwrap();
    inner
        .insert("config", repo.blob(b"[core]\n").unwrap(), 0o100644)
        .unwrap();
    let inner = inner.write().unwrap();
    // libgit2 will not build such a tree; git's mktree does (as a hostile push could).
    let mut mktree = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo.path())
        .arg("mktree")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    mktree
        .stdin
        .take()
        .unwrap()
        .write_all(format!("040000 tree {inner}\t.git\n").as_bytes())
        .unwrap();
    let out = mktree.wait_with_output().unwrap();
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap();
    let tree = repo.find_tree(Oid::from_str(id.trim()).unwrap()).unwrap();
    let sig = Signature::now("t", "t@example.com").unwrap();
    let base = repo.commit(None, &sig, &sig, "evil", &tree, &[]).unwrap();
    let err = match Scratch::checkout(&repo, base, &dir_of(dir.path()), &[], "req") {
        Ok(_) => panic!("a tree with .git was written"),
        Err(e) => e,
    };
    assert!(
        err.contains("writing the base's files: git read-tree failed"),
        "{err}"
    );
    assert!(err.contains(".git"), "{err}");
}

#[test]
fn a_rewrite_that_keeps_size_and_modification_time_is_still_captured() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, base) = base_repo(dir.path());
    let s = Scratch::checkout(&repo, base, &dir_of(dir.path()), &[], "req").unwrap();
    let f = s.work().join("a.txt");
    let before = std::fs::metadata(&f).unwrap();
    let same_size = TEXT.to_uppercase();
    assert_eq!(same_size.len() as u64, before.len());
    std::fs::write(&f, &same_size).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    assert_eq!(
        std::fs::metadata(&f).unwrap().modified().unwrap(),
        before.modified().unwrap()
    );
    assert_eq!(
        s.capture(limits()).unwrap(),
        vec![FileChange::Write {
            path: "a.txt".into(),
            bytes: same_size.into_bytes(),
            executable: false
        }]
    );
}

#[test]
fn auto_places_the_worktree_outside_the_forbidden_directories_and_captures_as_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, base) = base_repo(dir.path());
    let s = Scratch::checkout(&repo, base, &ScratchPlace::Auto, &[dir.path()], "req").unwrap();
    let placed = s.placement().dir.clone();
    assert!(
        s.work().starts_with(&placed),
        "{:?} in {placed:?}",
        s.work()
    );
    assert!(!place::inside(s.work(), dir.path()));
    // A tmpfs was used, or the note says why not.
    let on_tmpfs = place::System.tmpfs_free(&placed).is_ok();
    assert!(
        on_tmpfs || s.placement().note.is_some(),
        "{:?}",
        s.placement()
    );
    std::fs::write(s.work().join("a.txt"), "two\n").unwrap();
    let changes = s.capture(limits()).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].path(), "a.txt");
}
