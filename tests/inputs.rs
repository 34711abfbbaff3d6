//! The input layer end to end: files, directories, git revisions (real repositories built
//! with git2 in temporary directories) and patches, with and without a base, in single-render
//! mode, through kind detection, and the errors a user sees.

use std::fs;
use std::path::Path;

use git2::{DiffFormat, IndexEntry, IndexTime, Oid, Repository, Signature, Time};
use patchgate::astdiff::change::{ChangeInput, FileVersions};
use patchgate::astdiff::input::{
    detect, from_dirs, from_files, from_patches, from_revs, load, InputError, InputKind, InputSpec,
    Side,
};
use patchgate::astdiff::patch;
use proptest::prelude::*;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// helpers

/// Writes `files` (relative path, content) under `root`.
fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
}

/// A temporary directory holding `files`.
fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let d = tempfile::tempdir().unwrap();
    write_tree(d.path(), files);
    d
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

fn fv(path: &str, base: Option<&str>, a: Option<&str>, b: Option<&str>) -> FileVersions {
    let bytes = |x: Option<&str>| x.map(|t| t.as_bytes().to_vec());
    FileVersions {
        path: path.into(),
        base: bytes(base),
        a: bytes(a),
        b: bytes(b),
    }
}

fn paths(input: &ChangeInput) -> Vec<&str> {
    input.files.iter().map(|f| f.path.as_str()).collect()
}

/// A git repository in a temporary directory; commits are built from full file lists.
struct Repo {
    dir: TempDir,
    git: Repository,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init(dir.path()).unwrap();
        Repo { dir, git }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Commits exactly `files` (regular files) on `branch`, with `parents`.
    fn commit(&self, branch: &str, parents: &[Oid], files: &[(&str, &str)]) -> Oid {
        let entries: Vec<(&str, &[u8], u32)> = files
            .iter()
            .map(|(p, c)| (*p, c.as_bytes(), 0o100644))
            .collect();
        self.commit_modes(branch, parents, &entries)
    }

    /// Commits exactly `files` (path, content, mode) on `branch`, with `parents`.
    fn commit_modes(&self, branch: &str, parents: &[Oid], files: &[(&str, &[u8], u32)]) -> Oid {
        let mut index = self.git.index().unwrap();
        index.clear().unwrap();
        for (path, content, mode) in files {
            let entry = IndexEntry {
                ctime: IndexTime::new(0, 0),
                mtime: IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: *mode,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: Oid::ZERO_SHA1,
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add_frombuffer(&entry, content).unwrap();
        }
        let tree = self.git.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::new("t", "t@example.com", &Time::new(0, 0)).unwrap();
        let parents: Vec<_> = parents
            .iter()
            .map(|p| self.git.find_commit(*p).unwrap())
            .collect();
        let parent_refs: Vec<_> = parents.iter().collect();
        let oid = self
            .git
            .commit(None, &sig, &sig, branch, &tree, &parent_refs)
            .unwrap();
        self.git
            .reference(&format!("refs/heads/{branch}"), oid, true, "test")
            .unwrap();
        oid
    }

    /// `git diff from to` as git writes it.
    fn diff(&self, from: &str, to: &str) -> String {
        let tree = |rev: &str| {
            self.git
                .revparse_single(rev)
                .unwrap()
                .peel_to_tree()
                .unwrap()
        };
        let diff = self
            .git
            .diff_tree_to_tree(Some(&tree(from)), Some(&tree(to)), None)
            .unwrap();
        let mut out = Vec::new();
        diff.print(DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                out.push(line.origin() as u8);
            }
            out.extend_from_slice(line.content());
            true
        })
        .unwrap();
        String::from_utf8(out).unwrap()
    }
}

const BASE_LIB: &str = "fn a() {}\nfn b() {}\nfn c() {}\n";

/// base → A: lib.rs changed, new.rs added, gone.rs deleted; base → B: lib.rs changed
/// differently, same.rs untouched by both.
fn three_revs() -> (Repo, Oid) {
    let r = Repo::new();
    let base = r.commit(
        "main",
        &[],
        &[
            ("src/lib.rs", BASE_LIB),
            ("same.rs", "x\n"),
            ("gone.rs", "old\n"),
        ],
    );
    r.commit(
        "render-a",
        &[base],
        &[
            ("src/lib.rs", "fn a() {}\nfn b() { 1 }\nfn c() {}\n"),
            ("same.rs", "x\n"),
            ("new.rs", "n\n"),
        ],
    );
    r.commit(
        "render-b",
        &[base],
        &[
            ("src/lib.rs", "fn a() {}\nfn b() { 2 }\nfn c() {}\n"),
            ("same.rs", "x\n"),
            ("gone.rs", "old\n"),
        ],
    );
    (r, base)
}

const PATCH_A: &str = "\
diff --git a/src/lib.rs b/src/lib.rs
index 1111111..2222222 100644
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,3 +1,3 @@
 fn a() {}
-fn b() {}
+fn b() { 1 }
 fn c() {}
diff --git a/new.rs b/new.rs
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/new.rs
@@ -0,0 +1 @@
+n
diff --git a/gone.rs b/gone.rs
deleted file mode 100644
index 4444444..0000000
--- a/gone.rs
+++ /dev/null
@@ -1 +0,0 @@
-old
";

/// `diff -ruN` style, no git headers.
const PATCH_B: &str = "\
diff -ruN base/src/lib.rs b/src/lib.rs
--- base/src/lib.rs\t2024-01-01 00:00:00.000000000 +0000
+++ b/src/lib.rs\t2024-01-02 00:00:00.000000000 +0000
@@ -1,3 +1,3 @@
 fn a() {}
-fn b() {}
+fn b() { 2 }
 fn c() {}
";

fn base_dir() -> TempDir {
    dir_with(&[
        ("src/lib.rs", BASE_LIB),
        ("same.rs", "x\n"),
        ("gone.rs", "old\n"),
    ])
}

/// The expected result of PATCH_A and PATCH_B (and of the `three_revs` renders).
fn expected_files() -> Vec<FileVersions> {
    vec![
        fv("gone.rs", Some("old\n"), None, Some("old\n")),
        fv("new.rs", None, Some("n\n"), None),
        fv(
            "src/lib.rs",
            Some(BASE_LIB),
            Some("fn a() {}\nfn b() { 1 }\nfn c() {}\n"),
            Some("fn a() {}\nfn b() { 2 }\nfn c() {}\n"),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// two files

#[test]
fn files_without_base() {
    let d = dir_with(&[("one/x.rs", "fn a() {}\n"), ("two/y.rs", "fn a() {}\n")]);
    let (a, b) = (d.path().join("one/x.rs"), d.path().join("two/y.rs"));
    let input = from_files(None, &a, Some(&b)).unwrap();
    assert!(!input.has_base && !input.single);
    assert_eq!(input.label_base, None);
    assert_eq!(
        (input.label_a.as_str(), input.label_b.as_str()),
        (s(&a).as_str(), s(&b).as_str())
    );
    // Identical files are still delivered: one entry named after A's file name.
    assert_eq!(
        input.files,
        vec![fv("x.rs", None, Some("fn a() {}\n"), Some("fn a() {}\n"))]
    );
}

#[test]
fn files_with_base_through_load() {
    let d = dir_with(&[("base.rs", "0\n"), ("a.rs", "1\n"), ("b.rs", "2\n")]);
    let spec = InputSpec {
        base: Some(s(&d.path().join("base.rs"))),
        a: s(&d.path().join("a.rs")),
        b: Some(s(&d.path().join("b.rs"))),
        ..InputSpec::default()
    };
    assert_eq!(detect(&spec).unwrap(), InputKind::Files);
    let input = load(&spec).unwrap();
    assert!(input.has_base);
    assert_eq!(
        input.label_base.as_deref(),
        Some(s(&d.path().join("base.rs")).as_str())
    );
    assert_eq!(
        input.files,
        vec![fv("a.rs", Some("0\n"), Some("1\n"), Some("2\n"))]
    );
}

#[test]
fn files_single_render() {
    let d = dir_with(&[("base.rs", "0\n"), ("head.rs", "1\n")]);
    let (base, head) = (d.path().join("base.rs"), d.path().join("head.rs"));
    let input = from_files(Some(&base), &head, None).unwrap();
    assert!(input.single && input.has_base);
    assert_eq!(input.label_b, "");
    assert_eq!(
        input.files,
        vec![fv("head.rs", Some("0\n"), Some("1\n"), None)]
    );
    // Single-render mode needs a base.
    let err = from_files(None, &head, None).unwrap_err();
    assert!(matches!(err, InputError::BaseRequired { .. }), "{err}");
    assert!(err.to_string().contains("--base"), "{err}");
}

#[test]
fn files_keep_bytes_as_bytes() {
    let d = tempfile::tempdir().unwrap();
    let bin: &[u8] = &[0, 159, 146, 150, 0xff, b'\r', b'\n'];
    fs::write(d.path().join("a.bin"), bin).unwrap();
    fs::write(d.path().join("b.bin"), b"").unwrap();
    let input = from_files(None, &d.path().join("a.bin"), Some(&d.path().join("b.bin"))).unwrap();
    assert_eq!(input.files[0].a.as_deref(), Some(bin));
    assert_eq!(input.files[0].b.as_deref(), Some(&b""[..]));
}

#[test]
fn missing_path_argument_names_the_side() {
    let d = dir_with(&[("a.rs", "1\n")]);
    let missing = d.path().join("nope.rs");
    let spec = InputSpec {
        a: s(&d.path().join("a.rs")),
        b: Some(s(&missing)),
        kind: Some(InputKind::Files),
        ..InputSpec::default()
    };
    let err = load(&spec).unwrap_err();
    assert!(
        matches!(&err, InputError::Missing { side: Side::B, path } if *path == missing),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("render B: `{}` does not exist", missing.display())
    );

    // Detected: one side exists, the other does not (and they are no revisions).
    let spec = InputSpec {
        kind: None,
        repo: d.path().to_path_buf(),
        ..spec
    };
    let err = detect(&spec).unwrap_err();
    assert!(
        matches!(err, InputError::Missing { side: Side::B, .. }),
        "{err}"
    );

    // A missing base file.
    let err = from_files(Some(&missing), &d.path().join("a.rs"), None).unwrap_err();
    assert!(err.to_string().starts_with("base: "), "{err}");
}

#[test]
fn a_directory_where_a_file_is_needed() {
    let d = dir_with(&[("a.rs", "1\n"), ("dir/x", "")]);
    let err = from_files(None, &d.path().join("a.rs"), Some(&d.path().join("dir"))).unwrap_err();
    assert!(
        matches!(err, InputError::WrongKind { side: Side::B, .. }),
        "{err}"
    );
    let err = from_files(Some(&d.path().join("dir")), &d.path().join("a.rs"), None).unwrap_err();
    assert!(matches!(err, InputError::BaseWrongKind { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// two directories

#[test]
fn dirs_without_base_include_every_file() {
    let a = dir_with(&[
        ("src/lib.rs", "1\n"),
        ("same.rs", "s\n"),
        ("only_a.rs", "a\n"),
        (".git/HEAD", "ref"),
    ]);
    let b = dir_with(&[
        ("src/lib.rs", "2\n"),
        ("same.rs", "s\n"),
        ("only_b/deep.rs", "b\n"),
    ]);
    let spec = InputSpec {
        a: s(a.path()),
        b: Some(s(b.path())),
        ..InputSpec::default()
    };
    assert_eq!(detect(&spec).unwrap(), InputKind::Dirs);
    let input = load(&spec).unwrap();
    assert!(!input.has_base && !input.single);
    assert_eq!(
        input.files,
        vec![
            fv("only_a.rs", None, Some("a\n"), None),
            fv("only_b/deep.rs", None, None, Some("b\n")),
            fv("same.rs", None, Some("s\n"), Some("s\n")),
            fv("src/lib.rs", None, Some("1\n"), Some("2\n")),
        ]
    );
}

#[test]
fn dirs_with_base_include_changed_paths_only() {
    let base = dir_with(&[
        ("src/lib.rs", "0\n"),
        ("same.rs", "s\n"),
        ("gone.rs", "g\n"),
        ("a_only.rs", "0\n"),
    ]);
    let a = dir_with(&[
        ("src/lib.rs", "1\n"),
        ("same.rs", "s\n"),
        ("a_only.rs", "1\n"),
        ("new.rs", "n\n"),
    ]);
    let b = dir_with(&[
        ("src/lib.rs", "2\n"),
        ("same.rs", "s\n"),
        ("gone.rs", "g\n"),
        ("a_only.rs", "0\n"),
    ]);
    let input = from_dirs(Some(base.path()), a.path(), Some(b.path())).unwrap();
    assert!(input.has_base);
    assert_eq!(
        input.files,
        vec![
            fv("a_only.rs", Some("0\n"), Some("1\n"), Some("0\n")),
            fv("gone.rs", Some("g\n"), None, Some("g\n")),
            fv("new.rs", None, Some("n\n"), None),
            fv("src/lib.rs", Some("0\n"), Some("1\n"), Some("2\n")),
        ]
    );
}

#[test]
fn dirs_single_render() {
    let base = dir_with(&[("x.rs", "0\n"), ("same.rs", "s\n")]);
    let head = dir_with(&[("x.rs", "1\n"), ("same.rs", "s\n")]);
    let spec = InputSpec {
        base: Some(s(base.path())),
        a: s(head.path()),
        b: None,
        ..InputSpec::default()
    };
    assert_eq!(detect(&spec).unwrap(), InputKind::Dirs);
    let input = load(&spec).unwrap();
    assert!(input.single);
    assert_eq!(
        input.files,
        vec![fv("x.rs", Some("0\n"), Some("1\n"), None)]
    );
}

#[cfg(unix)]
#[test]
fn dirs_skip_symlinks() {
    let a = dir_with(&[("x.rs", "1\n")]);
    let b = dir_with(&[("x.rs", "1\n")]);
    std::os::unix::fs::symlink(a.path().join("x.rs"), a.path().join("link.rs")).unwrap();
    let input = from_dirs(None, a.path(), Some(b.path())).unwrap();
    assert_eq!(paths(&input), ["x.rs"]);
}

#[test]
fn dirs_mixed_with_a_file_is_an_error() {
    let d = dir_with(&[("dir/x.rs", "1\n"), ("f.rs", "1\n")]);
    let spec = InputSpec {
        a: s(&d.path().join("dir")),
        b: Some(s(&d.path().join("f.rs"))),
        ..InputSpec::default()
    };
    let err = load(&spec).unwrap_err();
    assert!(
        matches!(
            err,
            InputError::KindMix {
                side: Side::A,
                other_side: Side::B,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("is a directory") && msg.contains("render B") && msg.contains("is a file"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// two revisions

#[test]
fn revs_default_to_the_merge_base() {
    let (r, base) = three_revs();
    let spec = InputSpec {
        repo: r.path().to_path_buf(),
        a: "render-a".into(),
        b: Some("render-b".into()),
        ..InputSpec::default()
    };
    assert_eq!(detect(&spec).unwrap(), InputKind::Revs);
    let input = load(&spec).unwrap();
    assert!(input.has_base && !input.single);
    let label = input.label_base.as_deref().unwrap();
    assert!(
        label.contains("merge base") && label.contains(&base.to_string()[..12]),
        "{label}"
    );
    assert!(input.label_a.starts_with("render-a ("), "{}", input.label_a);
    assert!(input.label_b.starts_with("render-b ("), "{}", input.label_b);
    assert_eq!(input.files, expected_files());
}

#[test]
fn revs_merge_base_of_diverged_histories() {
    let r = Repo::new();
    let root = r.commit("main", &[], &[("f.rs", "0\n")]);
    let fork = r.commit("main", &[root], &[("f.rs", "1\n")]);
    let main2 = r.commit("main", &[fork], &[("f.rs", "1\n"), ("main.rs", "m\n")]);
    r.commit("a", &[fork], &[("f.rs", "a\n")]);
    r.commit("b", &[main2], &[("f.rs", "b\n"), ("main.rs", "m\n")]);
    let input = from_revs(r.path(), None, "a", Some("b")).unwrap();
    assert!(input.label_base.unwrap().contains(&fork.to_string()[..12]));
    // main.rs changed between the merge base and B only.
    assert_eq!(
        input.files,
        vec![
            fv("f.rs", Some("1\n"), Some("a\n"), Some("b\n")),
            fv("main.rs", None, None, Some("m\n"))
        ]
    );
}

#[test]
fn revs_with_explicit_base() {
    let (r, _) = three_revs();
    // Against render B as the base, only what A changed relative to B (and B itself unchanged).
    let input = from_revs(r.path(), Some("render-b"), "render-a", Some("render-b")).unwrap();
    assert!(input
        .label_base
        .as_deref()
        .unwrap()
        .starts_with("render-b ("));
    assert_eq!(paths(&input), ["gone.rs", "new.rs", "src/lib.rs"]);
    assert_eq!(input.files[2].base, input.files[2].b);
    // A sha and `main~0` style revisions work too.
    let sha = r.git.revparse_single("main").unwrap().id().to_string();
    let input = from_revs(r.path(), Some(&sha), "render-a", Some("render-b")).unwrap();
    assert_eq!(input.files, expected_files());
}

#[test]
fn revs_single_render() {
    let (r, _) = three_revs();
    let spec = InputSpec {
        repo: r.path().to_path_buf(),
        base: Some("main".into()),
        a: "render-a".into(),
        ..InputSpec::default()
    };
    let input = load(&spec).unwrap();
    assert!(input.single && input.has_base);
    assert_eq!(
        input.files,
        vec![
            fv("gone.rs", Some("old\n"), None, None),
            fv("new.rs", None, Some("n\n"), None),
            fv(
                "src/lib.rs",
                Some(BASE_LIB),
                Some("fn a() {}\nfn b() { 1 }\nfn c() {}\n"),
                None
            ),
        ]
    );
    let err = from_revs(r.path(), None, "render-a", None).unwrap_err();
    assert!(matches!(err, InputError::BaseRequired { .. }), "{err}");
}

#[test]
fn revs_renames_are_delete_and_add_and_modes_symlinks_do_not_count() {
    let r = Repo::new();
    let base = r.commit_modes(
        "main",
        &[],
        &[
            ("old.rs", b"x\n", 0o100644),
            ("run.sh", b"echo\n", 0o100644),
            ("keep.rs", b"k\n", 0o100644),
        ],
    );
    r.commit_modes(
        "a",
        &[base],
        &[
            ("new.rs", b"x\n", 0o100644),
            ("run.sh", b"echo\n", 0o100755),
            ("keep.rs", b"k\n", 0o100644),
            ("link", b"keep.rs", 0o120000),
        ],
    );
    let input = from_revs(r.path(), None, "a", Some("main")).unwrap();
    assert_eq!(
        input.files,
        vec![
            fv("new.rs", None, Some("x\n"), None),
            fv("old.rs", Some("x\n"), None, Some("x\n"))
        ]
    );
}

#[test]
fn revs_without_merge_base() {
    let r = Repo::new();
    r.commit("one", &[], &[("f", "1\n")]);
    r.commit("two", &[], &[("f", "2\n")]);
    let err = from_revs(r.path(), None, "one", Some("two")).unwrap_err();
    assert!(matches!(err, InputError::NoMergeBase { .. }), "{err}");
    assert!(err.to_string().contains("--base"), "{err}");
    // With an explicit base it works.
    let input = from_revs(r.path(), Some("one"), "one", Some("two")).unwrap();
    assert_eq!(
        input.files,
        vec![fv("f", Some("1\n"), Some("1\n"), Some("2\n"))]
    );
}

#[test]
fn revs_unknown_revision_names_the_side() {
    let (r, _) = three_revs();
    let err = from_revs(r.path(), None, "render-a", Some("no-such-branch")).unwrap_err();
    assert!(
        matches!(&err, InputError::UnknownRevision { side: Side::B, rev, .. } if rev == "no-such-branch"),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("render B: unknown revision `no-such-branch`"),
        "{err}"
    );
    let err = from_revs(r.path(), Some("nope"), "render-a", Some("render-b")).unwrap_err();
    assert!(
        matches!(
            err,
            InputError::UnknownRevision {
                side: Side::Base,
                ..
            }
        ),
        "{err}"
    );
    // Detection with two missing paths means revisions.
    let spec = InputSpec {
        repo: r.path().to_path_buf(),
        a: "render-a".into(),
        b: Some("typo".into()),
        ..InputSpec::default()
    };
    assert!(matches!(
        load(&spec),
        Err(InputError::UnknownRevision { side: Side::B, .. })
    ));
}

#[test]
fn revs_outside_a_repository() {
    let d = tempfile::tempdir().unwrap();
    let spec = InputSpec {
        repo: d.path().to_path_buf(),
        a: s(&d.path().join("nope-a")),
        b: Some(s(&d.path().join("nope-b"))),
        ..InputSpec::default()
    };
    assert_eq!(detect(&spec).unwrap(), InputKind::Revs);
    let err = load(&spec).unwrap_err();
    assert!(matches!(err, InputError::NotARepo { .. }), "{err}");
    assert!(err.to_string().contains("not in a git repository"), "{err}");
}

#[test]
fn revs_discovers_the_repository_from_a_subdirectory() {
    let (r, _) = three_revs();
    let sub = r.path().join("some/sub");
    fs::create_dir_all(&sub).unwrap();
    let input = from_revs(&sub, None, "render-a", Some("render-b")).unwrap();
    assert_eq!(input.files, expected_files());
}

// ---------------------------------------------------------------------------------------------
// two patches

#[test]
fn patches_on_a_base_directory() {
    let base = base_dir();
    let p = dir_with(&[("a.diff", PATCH_A), ("b.diff", PATCH_B)]);
    let spec = InputSpec {
        base: Some(s(base.path())),
        a: s(&p.path().join("a.diff")),
        b: Some(s(&p.path().join("b.diff"))),
        ..InputSpec::default()
    };
    assert_eq!(detect(&spec).unwrap(), InputKind::Patches);
    let input = load(&spec).unwrap();
    assert!(input.has_base && !input.single);
    assert_eq!(input.label_base.as_deref(), Some(s(base.path()).as_str()));
    assert_eq!(input.files, expected_files());
}

#[test]
fn patches_on_a_base_revision() {
    let (r, _) = three_revs();
    let p = dir_with(&[("a.diff", PATCH_A), ("b.diff", PATCH_B)]);
    let spec = InputSpec {
        repo: r.path().to_path_buf(),
        base: Some("main".into()),
        a: s(&p.path().join("a.diff")),
        b: Some(s(&p.path().join("b.diff"))),
        ..InputSpec::default()
    };
    assert_eq!(detect(&spec).unwrap(), InputKind::Patches);
    let input = load(&spec).unwrap();
    assert!(input.label_base.as_deref().unwrap().starts_with("main ("));
    assert_eq!(input.files, expected_files());
    // Same answer as comparing the revisions themselves.
    assert_eq!(
        input.files,
        from_revs(r.path(), None, "render-a", Some("render-b"))
            .unwrap()
            .files
    );
}

#[test]
fn patches_single_render() {
    let base = base_dir();
    let p = dir_with(&[("head.diff", PATCH_A)]);
    let input = from_patches(
        Path::new("."),
        &s(base.path()),
        &p.path().join("head.diff"),
        None,
    )
    .unwrap();
    assert!(input.single);
    assert_eq!(paths(&input), ["gone.rs", "new.rs", "src/lib.rs"]);
    assert!(input.files.iter().all(|f| f.b.is_none()));
    assert_eq!(input.files[0].a, None);
    assert_eq!(input.files[1].a.as_deref(), Some(&b"n\n"[..]));
}

#[test]
fn git_written_patches_reproduce_the_revisions() {
    let (r, _) = three_revs();
    let p = dir_with(&[
        ("a.diff", &r.diff("main", "render-a")),
        ("b.diff", &r.diff("main", "render-b")),
    ]);
    let base = base_dir();
    let input = from_patches(
        r.path(),
        &s(base.path()),
        &p.path().join("a.diff"),
        Some(&p.path().join("b.diff")),
    )
    .unwrap();
    assert_eq!(input.files, expected_files());
}

#[test]
fn a_patch_applies_at_an_offset() {
    // The base has six more lines on top than the patch was made against.
    let shifted = format!("// 1\n// 2\n// 3\n// 4\n// 5\n// 6\n{BASE_LIB}");
    let base = dir_with(&[
        ("src/lib.rs", &shifted),
        ("same.rs", "x\n"),
        ("gone.rs", "old\n"),
    ]);
    let p = dir_with(&[("b.diff", PATCH_B)]);
    let input = from_patches(
        Path::new("."),
        &s(base.path()),
        &p.path().join("b.diff"),
        None,
    )
    .unwrap();
    assert_eq!(
        input.files,
        vec![fv(
            "src/lib.rs",
            Some(&shifted),
            Some(&shifted.replace("fn b() {}", "fn b() { 2 }")),
            None
        )]
    );
}

#[test]
fn a_patch_that_does_not_apply_names_file_and_hunk() {
    let base = dir_with(&[("src/lib.rs", "fn a() {}\nfn b() { changed }\nfn c() {}\n")]);
    let p = dir_with(&[("a.diff", PATCH_B), ("b.diff", PATCH_B)]);
    let (pa, pb) = (p.path().join("a.diff"), p.path().join("b.diff"));
    let err = from_patches(Path::new("."), &s(base.path()), &pa, Some(&pb)).unwrap_err();
    let InputError::PatchApply {
        side, patch, file, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*side, patch, file.as_str()), (Side::A, &pa, "src/lib.rs"));
    let msg = err.to_string();
    for needle in [
        "render A",
        &s(&pa),
        "`src/lib.rs`",
        "hunk #1",
        "@@ -1,3 +1,3 @@",
        "expected \"fn b() {}\"",
        "found \"fn b() { changed }\"",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing in: {msg}");
    }
}

#[test]
fn new_and_deleted_file_patches_check_the_base() {
    // A new file that already exists, a deletion of a file that does not.
    let base = dir_with(&[
        ("src/lib.rs", BASE_LIB),
        ("new.rs", "already\n"),
        ("gone.rs", "old\n"),
    ]);
    let p = dir_with(&[("a.diff", PATCH_A)]);
    let err = from_patches(
        Path::new("."),
        &s(base.path()),
        &p.path().join("a.diff"),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&err, InputError::PatchApply { file, side: Side::Head, .. } if file == "new.rs"),
        "{err}"
    );
    assert!(err.to_string().contains("already exists"), "{err}");

    let base = dir_with(&[("src/lib.rs", BASE_LIB)]);
    let err = from_patches(
        Path::new("."),
        &s(base.path()),
        &p.path().join("a.diff"),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&err, InputError::PatchApply { file, .. } if file == "gone.rs"),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn a_malformed_patch_names_the_patch_and_line() {
    let base = base_dir();
    let bad = "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n fn a() {}\n-fn b() {}\n";
    let p = dir_with(&[("a.diff", PATCH_A), ("b.diff", bad)]);
    let pb = p.path().join("b.diff");
    let spec = InputSpec {
        base: Some(s(base.path())),
        a: s(&p.path().join("a.diff")),
        b: Some(s(&pb)),
        kind: Some(InputKind::Patches),
        ..InputSpec::default()
    };
    let err = load(&spec).unwrap_err();
    assert!(
        matches!(&err, InputError::PatchParse { side: Side::B, patch, cause } if *patch == pb && cause.line == 6),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "render B: patch `{}` is malformed at line 6",
            pb.display()
        )),
        "{err}"
    );
}

#[test]
fn a_binary_patch_names_the_file() {
    let base = base_dir();
    let bin = "diff --git a/logo.png b/logo.png\nindex 1111111..2222222 100644\nGIT binary patch\nliteral 3\nKcmZ?w\n\n";
    let p = dir_with(&[("a.diff", bin)]);
    let err = from_patches(
        Path::new("."),
        &s(base.path()),
        &p.path().join("a.diff"),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&err, InputError::BinaryPatch { file, .. } if file == "logo.png"),
        "{err}"
    );
    assert!(err.to_string().contains("`logo.png`"), "{err}");
}

#[test]
fn patches_need_a_directory_or_revision_base() {
    let base = base_dir();
    let p = dir_with(&[("a.diff", PATCH_A), ("b.diff", PATCH_B)]);
    let (pa, pb) = (p.path().join("a.diff"), p.path().join("b.diff"));
    let err = from_patches(
        Path::new("."),
        &s(&base.path().join("same.rs")),
        &pa,
        Some(&pb),
    )
    .unwrap_err();
    assert!(matches!(err, InputError::BaseWrongKind { .. }), "{err}");
    let spec = InputSpec {
        a: s(&pa),
        b: Some(s(&pb)),
        kind: Some(InputKind::Patches),
        ..InputSpec::default()
    };
    assert!(matches!(load(&spec), Err(InputError::BaseRequired { .. })));
    // A missing patch file.
    let err = from_patches(
        Path::new("."),
        &s(base.path()),
        &pa,
        Some(&p.path().join("nope.diff")),
    )
    .unwrap_err();
    assert!(
        matches!(err, InputError::Missing { side: Side::B, .. }),
        "{err}"
    );
}

#[test]
fn renames_in_patches() {
    let base = dir_with(&[("old.rs", "a\nb\n")]);
    let patch = "diff --git a/old.rs b/new.rs\nsimilarity index 50%\nrename from old.rs\nrename to new.rs\n--- a/old.rs\n+++ b/new.rs\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n";
    let p = dir_with(&[("a.diff", patch)]);
    let input = from_patches(
        Path::new("."),
        &s(base.path()),
        &p.path().join("a.diff"),
        None,
    )
    .unwrap();
    assert_eq!(
        input.files,
        vec![
            fv("new.rs", None, Some("a\nc\n"), None),
            fv("old.rs", Some("a\nb\n"), None, None)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// detection

#[test]
fn detection() {
    let (r, _) = three_revs();
    let d = dir_with(&[
        ("a.diff", PATCH_A),
        ("b.diff", PATCH_B),
        ("a.rs", "1\n"),
        ("b.rs", "2\n"),
        ("base.rs", "0\n"),
        ("base/x", ""),
    ]);
    let at = |p: &str| s(&d.path().join(p));
    let spec = |base: Option<&str>, a: &str, b: &str| InputSpec {
        repo: r.path().to_path_buf(),
        base: base.map(str::to_owned),
        a: a.into(),
        b: Some(b.into()),
        kind: None,
    };
    let kind = |sp: InputSpec| detect(&sp).unwrap();
    // Patches need a base that is a directory or a revision.
    assert_eq!(
        kind(spec(Some(&at("base")), &at("a.diff"), &at("b.diff"))),
        InputKind::Patches
    );
    assert_eq!(
        kind(spec(Some("main"), &at("a.diff"), &at("b.diff"))),
        InputKind::Patches
    );
    // Two patches and no base: compared as text they would measure the patches, not the
    // changes (issue #21: this used to be `Files`, silently) — the base is asked for.
    assert!(matches!(
        detect(&spec(None, &at("a.diff"), &at("b.diff"))),
        Err(InputError::PatchesNeedBase { .. })
    ));
    assert_eq!(
        kind(spec(Some(&at("base.rs")), &at("a.diff"), &at("b.diff"))),
        InputKind::Files
    );
    assert_eq!(
        kind(spec(Some("no-such-rev"), &at("a.diff"), &at("b.diff"))),
        InputKind::Files
    );
    // Files that are not patches are files, whatever the base.
    assert_eq!(
        kind(spec(Some(&at("base")), &at("a.rs"), &at("b.rs"))),
        InputKind::Files
    );
    assert_eq!(kind(spec(None, &at("a.rs"), &at("b.rs"))), InputKind::Files);
    assert_eq!(
        kind(spec(None, &at("a.diff"), &at("b.rs"))),
        InputKind::Files
    );
    // Directories, revisions.
    assert_eq!(kind(spec(None, &at("base"), &at("base"))), InputKind::Dirs);
    assert_eq!(kind(spec(None, "render-a", "render-b")), InputKind::Revs);
    // Single-render mode looks at the head only.
    let single = InputSpec {
        b: None,
        ..spec(Some("main"), &at("a.diff"), "")
    };
    assert_eq!(kind(single), InputKind::Patches);
    let single = InputSpec {
        b: None,
        ..spec(Some("main"), "render-a", "")
    };
    assert_eq!(kind(single), InputKind::Revs);
    // A forced kind is not second-guessed.
    let forced = InputSpec {
        kind: Some(InputKind::Files),
        ..spec(Some(&at("base")), &at("a.diff"), &at("b.diff"))
    };
    assert!(matches!(
        load(&forced),
        Err(InputError::BaseWrongKind { .. })
    ));
}

#[test]
fn detection_reports_the_missing_side() {
    // An existing file next to a branch name: not two revisions, so B is a missing path.
    let (r, _) = three_revs();
    let d = dir_with(&[("a.rs", "1\n")]);
    let spec = InputSpec {
        repo: r.path().to_path_buf(),
        a: s(&d.path().join("a.rs")),
        b: Some("render-b".into()),
        ..InputSpec::default()
    };
    let err = detect(&spec).unwrap_err();
    assert!(
        matches!(&err, InputError::Missing { side: Side::B, path } if path == Path::new("render-b")),
        "{err}"
    );
    // And the other way round.
    let spec = InputSpec {
        a: "render-a".into(),
        b: Some(s(&d.path().join("a.rs"))),
        ..spec
    };
    assert!(matches!(
        detect(&spec),
        Err(InputError::Missing { side: Side::A, .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// properties

fn lines_text(lines: &[u8], final_newline: bool) -> String {
    let mut t: String = lines.iter().map(|c| format!("l{c}\n")).collect();
    if !final_newline && t.ends_with('\n') {
        t.pop();
    }
    t
}

/// A unified diff of `old` → `new` as libgit2 writes it.
fn git_patch(old: &str, new: &str) -> String {
    let mut p = git2::Patch::from_buffers(
        old.as_bytes(),
        Some(Path::new("f.txt")),
        new.as_bytes(),
        Some(Path::new("f.txt")),
        None,
    )
    .unwrap();
    let buf = p.to_buf().unwrap();
    buf.as_str().unwrap().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever git writes, we apply back exactly (a small alphabet makes repeated lines,
    /// so this also checks that the stated position wins over other matches).
    #[test]
    fn git_diffs_round_trip(
        old in proptest::collection::vec(0u8..4, 0..40),
        new in proptest::collection::vec(0u8..4, 0..40),
        old_nl in any::<bool>(),
        new_nl in any::<bool>(),
    ) {
        let (old, new) = (lines_text(&old, old_nl), lines_text(&new, new_nl));
        let text = git_patch(&old, &new);
        let parsed = patch::parse(text.as_bytes()).unwrap();
        if old == new {
            prop_assert!(parsed.files.is_empty() || parsed.files[0].hunks.is_empty());
        } else {
            prop_assert_eq!(parsed.files.len(), 1);
            let out = patch::apply(Some(old.as_bytes()), &parsed.files[0]).unwrap().unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), new);
        }
    }

    /// Unique lines shifted by unrelated lines on top still patch to the same result.
    #[test]
    fn git_diffs_apply_at_an_offset(
        n in 1usize..60,
        edits in proptest::collection::vec((0usize..60, 0u8..3), 1..6),
        shift in 1usize..20,
    ) {
        let old: Vec<String> = (0..n).map(|i| format!("line {i}\n")).collect();
        let mut new = old.clone();
        for (k, (at, op)) in edits.iter().enumerate() {
            let at = at % (new.len() + 1);
            match op {
                0 => new.insert(at, format!("added {k}\n")),
                1 if at < new.len() => { new.remove(at); }
                _ if at < new.len() => new[at] = format!("changed {k}\n"),
                _ => new.push(format!("tail {k}\n")),
            }
        }
        let (old, new) = (old.concat(), new.concat());
        prop_assume!(old != new);
        let prefix: String = (0..shift).map(|i| format!("prefix {i}\n")).collect();
        let parsed = patch::parse(git_patch(&old, &new).as_bytes()).unwrap();
        let out = patch::apply(Some(format!("{prefix}{old}").as_bytes()), &parsed.files[0]).unwrap().unwrap();
        prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{prefix}{new}"));
    }
}
