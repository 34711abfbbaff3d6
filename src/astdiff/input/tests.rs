//! Unit tests of the input loaders' private helpers.

use std::fs;
use std::path::{Path, PathBuf};

use super::files::walk;
use super::kind::sniff_patch;
use super::revs::is_blob_mode;
use super::*;

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

#[test]
fn sides_read_as_users_name_them() {
    assert_eq!(Side::A.to_string(), "render A");
    assert_eq!(Side::B.to_string(), "render B");
    assert_eq!(Side::Base.to_string(), "base");
    assert_eq!(Side::Head.to_string(), "head");
    assert_eq!(side_a(true), Side::Head);
    assert_eq!(side_a(false), Side::A);
}

#[test]
fn spec_defaults_to_the_current_directory_and_detection() {
    let spec = InputSpec::default();
    assert_eq!(spec.repo, PathBuf::from("."));
    assert_eq!((spec.base, spec.b, spec.kind), (None, None, None));
}

#[test]
fn empty_arguments_are_refused_by_side() {
    let spec = InputSpec {
        a: "x".into(),
        b: Some(String::new()),
        ..InputSpec::default()
    };
    assert!(matches!(
        load(&spec),
        Err(InputError::Empty { side: Side::B })
    ));
    let spec = InputSpec {
        a: String::new(),
        base: Some("b".into()),
        ..InputSpec::default()
    };
    let err = load(&spec).unwrap_err();
    assert!(matches!(err, InputError::Empty { side: Side::Head }));
    assert_eq!(
        err.to_string(),
        "head: nothing given (expected a path or a revision)"
    );
}

#[cfg(unix)]
#[test]
fn walk_keeps_regular_files_only_and_skips_git() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.rs", "a");
    write(root, "sub/deep/b.rs", "b");
    write(root, ".git/config", "x");
    write(root, "sub/.git", "gitdir: elsewhere");
    write(root, ".gitignore", "kept");
    std::os::unix::fs::symlink(root.join("a.rs"), root.join("link.rs")).unwrap();
    std::os::unix::fs::symlink(root.join("sub"), root.join("linkdir")).unwrap();
    let files = walk(Side::A, root).unwrap();
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        [".gitignore", "a.rs", "sub/deep/b.rs"]
    );
}

#[test]
fn walk_names_the_side_of_a_bad_root() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", "x");
    let missing = dir.path().join("nope");
    assert!(matches!(
        walk(Side::B, &missing),
        Err(InputError::Missing { side: Side::B, .. })
    ));
    let f = dir.path().join("f");
    assert!(matches!(
        walk(Side::A, &f),
        Err(InputError::WrongKind {
            side: Side::A,
            expected: "directory",
            ..
        })
    ));
    assert!(matches!(
        walk(Side::Base, &f),
        Err(InputError::BaseWrongKind { .. })
    ));
}

#[test]
fn sniffs_patches_by_their_first_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "p.diff", "\ndiff --git a/x b/x\n");
    write(dir.path(), "q.rs", "fn main() {}\n");
    assert!(sniff_patch(&dir.path().join("p.diff")));
    assert!(!sniff_patch(&dir.path().join("q.rs")));
    assert!(!sniff_patch(&dir.path().join("missing")));
}

#[test]
fn blob_modes() {
    assert!(is_blob_mode(0o100644) && is_blob_mode(0o100755));
    assert!(!is_blob_mode(0o120000) && !is_blob_mode(0o160000) && !is_blob_mode(0o040000));
}
