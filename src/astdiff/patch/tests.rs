//! Unit tests of the patch parser and applier.

use super::*;

fn one(text: &str) -> FilePatch {
    let p = parse(text.as_bytes()).expect("parses");
    assert_eq!(p.files.len(), 1, "{p:?}");
    p.files.into_iter().next().unwrap()
}

fn apply_str(original: Option<&str>, text: &str) -> Result<Option<String>, ApplyError> {
    let fp = one(text);
    apply(original.map(str::as_bytes), &fp).map(|o| o.map(|b| String::from_utf8(b).unwrap()))
}

const GIT_MODIFY: &str = "\
diff --git a/src/lib.rs b/src/lib.rs
index 1111111..2222222 100644
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,3 +1,3 @@
 fn a() {}
-fn b() {}
+fn b() { 1 }
 fn c() {}
";

#[test]
fn parses_a_git_modification() {
    let fp = one(GIT_MODIFY);
    assert_eq!(fp.old_path.as_deref(), Some("src/lib.rs"));
    assert_eq!(fp.new_path.as_deref(), Some("src/lib.rs"));
    assert!(fp.git && !fp.binary && !fp.copy);
    assert_eq!(fp.line, 1);
    let h = &fp.hunks[0];
    assert_eq!(
        (h.old_start, h.old_len, h.new_start, h.new_len),
        (1, 3, 1, 3)
    );
    assert_eq!(h.header, "@@ -1,3 +1,3 @@");
    assert_eq!(
        h.old_lines().collect::<Vec<_>>(),
        [&b"fn a() {}\n"[..], b"fn b() {}\n", b"fn c() {}\n"]
    );
    assert_eq!(h.new_lines().nth(1), Some(&b"fn b() { 1 }\n"[..]));
}

#[test]
fn applies_a_modification() {
    let out = apply_str(Some("fn a() {}\nfn b() {}\nfn c() {}\n"), GIT_MODIFY).unwrap();
    assert_eq!(out.as_deref(), Some("fn a() {}\nfn b() { 1 }\nfn c() {}\n"));
}

#[test]
fn applies_at_an_offset_in_either_direction() {
    let base = "x\ny\nfn a() {}\nfn b() {}\nfn c() {}\n";
    let out = apply_str(Some(base), GIT_MODIFY).unwrap().unwrap();
    assert_eq!(out, "x\ny\nfn a() {}\nfn b() { 1 }\nfn c() {}\n");
    let later = GIT_MODIFY.replace("@@ -1,3 +1,3 @@", "@@ -40,3 +40,3 @@");
    let out = apply_str(Some(base), &later).unwrap().unwrap();
    assert_eq!(out, "x\ny\nfn a() {}\nfn b() { 1 }\nfn c() {}\n");
}

#[test]
fn picks_the_match_nearest_the_stated_line() {
    let patch = "--- a/f\n+++ b/f\n@@ -4,1 +4,1 @@\n-x\n+y\n";
    let out = apply_str(Some("x\nm\nm\nx\nm\nx\n"), patch)
        .unwrap()
        .unwrap();
    assert_eq!(out, "x\nm\nm\ny\nm\nx\n");
}

#[test]
fn later_hunks_follow_the_offset_of_earlier_ones() {
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -5,2 +5,2 @@\n e\n-f\n+F\n";
    let out = apply_str(Some("0\n0\na\nb\nc\nd\ne\nf\n"), patch)
        .unwrap()
        .unwrap();
    assert_eq!(out, "0\n0\na\nB\nc\nd\ne\nF\n");
}

#[test]
fn mismatch_names_hunk_header_expected_and_found() {
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -4,2 +4,2 @@\n d\n-e\n+E\n";
    let err = apply_str(Some("a\nb\nc\nd\nX\n"), patch).unwrap_err();
    let ApplyError::HunkMismatch {
        hunk,
        header,
        line,
        expected,
        found,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*hunk, header.as_str(), *line), (2, "@@ -4,2 +4,2 @@", 5));
    assert_eq!((expected.as_str(), found.as_str()), ("\"e\"", "\"X\""));
    let msg = err.to_string();
    assert!(
        msg.contains("hunk #2") && msg.contains("@@ -4,2 +4,2 @@"),
        "{msg}"
    );
}

#[test]
fn mismatch_past_the_end_says_end_of_file() {
    let err = apply_str(Some("a\n"), "--- a/f\n+++ b/f\n@@ -1,2 +1,1 @@\n a\n-b\n").unwrap_err();
    assert!(err.to_string().contains("found end of file"), "{err}");
}

/// Hunk headers may state any line number up to `u64::MAX` (found by the `patch` fuzz target:
/// `2^63` overflowed the offset arithmetic). Positions past the end are only positions: the
/// hunks apply where they are found, here at the end of the file.
#[test]
fn huge_line_numbers_in_headers_are_positions_past_the_end() {
    let patch = "--- a/f\n+++ b/f\n@@ -9223372036854775808,0 +2 @@\n+a\n\
                 @@ -18446744073709551615,0 +3 @@\n+b\n";
    assert_eq!(
        apply_str(Some("x\n"), patch).unwrap().as_deref(),
        Some("x\na\nb\n")
    );
    let patch = "--- a/f\n+++ b/f\n@@ -9999999999999999999 +1 @@\n-y\n+Y\n";
    assert!(matches!(
        apply_str(Some("x\n"), patch),
        Err(ApplyError::HunkMismatch { hunk: 1, .. })
    ));
}

#[test]
fn hunks_do_not_match_before_the_previous_hunk() {
    // The second hunk's lines exist only before the first hunk: not applicable.
    let patch = "--- a/f\n+++ b/f\n@@ -3,1 +3,1 @@\n-c\n+C\n@@ -4,1 +4,1 @@\n-a\n+A\n";
    assert!(matches!(
        apply_str(Some("a\nb\nc\nd\n"), patch),
        Err(ApplyError::HunkMismatch { hunk: 2, .. })
    ));
}

#[test]
fn new_and_deleted_files() {
    let new = "diff --git a/n.txt b/n.txt\nnew file mode 100644\nindex 0000000..1\n--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n";
    let fp = one(new);
    assert_eq!(
        (fp.old_path.as_deref(), fp.new_path.as_deref()),
        (None, Some("n.txt"))
    );
    assert_eq!(apply_str(None, new).unwrap().as_deref(), Some("one\ntwo\n"));
    assert_eq!(apply_str(Some("x\n"), new), Err(ApplyError::AlreadyExists));

    let del = "diff --git a/d.txt b/d.txt\ndeleted file mode 100644\n--- a/d.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-one\n-two\n";
    let fp = one(del);
    assert_eq!(
        (fp.old_path.as_deref(), fp.new_path.as_deref()),
        (Some("d.txt"), None)
    );
    assert_eq!(apply_str(Some("one\ntwo\n"), del), Ok(None));
    assert_eq!(apply_str(None, del), Err(ApplyError::Missing));
    assert_eq!(
        apply_str(Some("one\ntwo\nthree\n"), del),
        Err(ApplyError::NotEmptyAfterDelete { remaining: 6 })
    );
}

#[test]
fn empty_new_and_deleted_files_without_hunks() {
    let p = parse(b"diff --git a/e b/e\nnew file mode 100644\nindex 0000000..e69de29\ndiff --git a/g b/g\ndeleted file mode 100644\nindex e69de29..0000000\n").unwrap();
    assert_eq!(p.files.len(), 2);
    assert_eq!(apply(None, &p.files[0]), Ok(Some(Vec::new())));
    assert_eq!(apply(Some(b""), &p.files[1]), Ok(None));
}

#[test]
fn no_newline_markers() {
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n";
    assert_eq!(
        apply_str(Some("a\nb"), patch).unwrap().as_deref(),
        Some("a\nc\n")
    );
    // The old side has no final newline: a file that has one does not match.
    assert!(apply_str(Some("a\nb\n"), patch).is_err());
    let patch = "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n+a\n\\ No newline at end of file\n";
    assert_eq!(apply_str(Some("a\n"), patch).unwrap().as_deref(), Some("a"));
}

#[test]
fn diff_u_output_with_timestamps_and_junk_between_files() {
    let text = "\
Only in old: junk
diff -ruN old/a.c new/a.c
--- old/a.c\t2024-01-01 10:00:00.000000000 +0000
+++ new/a.c\t2024-01-02 10:00:00.000000000 +0000
@@ -1 +1 @@
-int a;
+long a;
diff -ruN old/dir/b.c new/dir/b.c
--- old/dir/b.c\t2024-01-01 10:00:00.000000000 +0000
+++ new/dir/b.c\t2024-01-02 10:00:00.000000000 +0000
@@ -1,2 +1,3 @@
 x
+y
 z
";
    let p = parse(text.as_bytes()).unwrap();
    assert_eq!(p.files.len(), 2);
    assert_eq!(p.files[0].old_path.as_deref(), Some("a.c"));
    assert_eq!(p.files[1].new_path.as_deref(), Some("dir/b.c"));
    assert!(!p.files[1].git);
    assert_eq!(p.files[0].hunks[0].old_len, 1);
    assert_eq!(
        apply(Some(b"x\nz\n"), &p.files[1]).unwrap().unwrap(),
        b"x\ny\nz\n"
    );
}

#[test]
fn renames_copies_and_mode_changes() {
    let p = parse(b"diff --git a/old name.rs b/new name.rs\nsimilarity index 90%\nrename from old name.rs\nrename to new name.rs\n--- a/old name.rs\n+++ b/new name.rs\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/m.sh b/m.sh\nold mode 100644\nnew mode 100755\ndiff --git a/x b/y\ncopy from x\ncopy to y\n").unwrap();
    assert_eq!(p.files.len(), 3);
    assert_eq!(
        (
            p.files[0].old_path.as_deref(),
            p.files[0].new_path.as_deref()
        ),
        (Some("old name.rs"), Some("new name.rs"))
    );
    assert!(!p.files[0].copy);
    assert_eq!(
        (
            p.files[1].old_path.as_deref(),
            p.files[1].new_path.as_deref()
        ),
        (Some("m.sh"), Some("m.sh"))
    );
    assert!(p.files[1].hunks.is_empty());
    assert!(p.files[2].copy);
    assert_eq!(p.files[2].new_path.as_deref(), Some("y"));
}

#[test]
fn quoted_names() {
    let fp = one("diff --git \"a/t\\303\\244b\\tx\" \"b/t\\303\\244b\\tx\"\n--- \"a/t\\303\\244b\\tx\"\n+++ \"b/t\\303\\244b\\tx\"\n@@ -1 +1 @@\n-a\n+b\n");
    assert_eq!(fp.new_path.as_deref(), Some("täb\tx"));
}

#[test]
fn binary_sections_are_flagged_and_refused() {
    let p = parse(b"diff --git a/img.png b/img.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nMcmZ?wbhEHb\n\nliteral 0\nKcmV+b0RR6000031\n\n").unwrap();
    assert!(p.files[0].binary);
    assert_eq!(p.files[0].display_path(), "img.png");
    assert_eq!(apply(Some(b""), &p.files[0]), Err(ApplyError::Binary));
    let p = parse(
        b"diff --git a/a.bin b/a.bin\nindex 1..2 100644\nBinary files a/a.bin and b/a.bin differ\n",
    )
    .unwrap();
    assert!(p.files[0].binary);
    let p = parse(b"Binary files old/x.bin and new/x.bin differ\n").unwrap();
    assert!(p.files[0].binary);
    assert_eq!(p.files[0].display_path(), "x.bin");
}

#[test]
fn blank_context_lines_and_crlf() {
    let fp = one("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n");
    assert_eq!(apply(Some(b"a\n\nb\n"), &fp).unwrap().unwrap(), b"a\n\nc\n");
    let fp = one("--- a/f\r\n+++ b/f\r\n@@ -1,2 +1,2 @@\r\n a\r\n-b\r\n+c\r\n");
    assert_eq!(fp.new_path.as_deref(), Some("f"));
    assert_eq!(
        apply(Some(b"a\r\nb\r\n"), &fp).unwrap().unwrap(),
        b"a\r\nc\r\n"
    );
}

#[test]
fn pure_insertions() {
    let fp = one("--- a/f\n+++ b/f\n@@ -2,0 +3,1 @@\n+new\n");
    assert_eq!(
        apply(Some(b"a\nb\nc\n"), &fp).unwrap().unwrap(),
        b"a\nb\nnew\nc\n"
    );
}

#[test]
fn malformed_patches_are_errors_with_lines() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n",
            6,
            "truncated",
        ),
        (
            "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\nnonsense\n",
            6,
            "truncated",
        ),
        (
            "--- a/f\n+++ b/f\n@@ -x +1 @@\n",
            3,
            "malformed hunk header",
        ),
        ("@@ -1 +1 @@\n-a\n+b\n", 1, "before any file header"),
        ("--- a/f\n+++ b/f\nno hunks here\n", 1, "no hunks"),
        ("hello\nworld\n", 1, "no file changes"),
        ("diff --cc f\n", 1, "combined"),
        (
            "--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
            1,
            "unsafe",
        ),
        ("--- /dev/null\n+++ /dev/null\n", 1, "/dev/null"),
        (
            "--- /dev/null\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n",
            1,
            "new file",
        ),
        (
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n\\ No newline at end of file\n",
            4,
            "No newline",
        ),
    ];
    for (text, line, what) in cases {
        let err = parse(text.as_bytes()).expect_err(text);
        assert_eq!(err.line, *line, "{text:?}: {err}");
        assert!(err.message.contains(what), "{text:?}: {err}");
    }
}

#[test]
fn empty_and_commentary_only_patches() {
    assert_eq!(parse(b"").unwrap().files.len(), 0);
    assert_eq!(parse(b"\n  \n").unwrap().files.len(), 0);
    let mail = "From 123 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n---\n f | 2 +-\n\n"
        .to_owned()
        + GIT_MODIFY
        + "-- \n2.43.0\n";
    assert_eq!(parse(mail.as_bytes()).unwrap().files.len(), 1);
}

#[test]
fn sniffing() {
    assert!(looks_like_patch(b"\n\ndiff --git a/x b/x\n"));
    assert!(looks_like_patch(b"--- a\n+++ b\n"));
    assert!(looks_like_patch(b"Index: x\n====\n"));
    assert!(!looks_like_patch(b"fn main() {}\n"));
    assert!(!looks_like_patch(b""));
    assert!(!looks_like_patch(b"---\n"));
}

proptest::proptest! {
    /// Arbitrary patch-like text never panics the parser, and whatever parses never
    /// panics when applied.
    #[test]
    fn never_panics(
        pieces in proptest::collection::vec(proptest::sample::select(vec![
            "diff --git a/f b/f\n", "--- a/f\n", "+++ b/f\n", "--- /dev/null\n", "+++ /dev/null\n",
            "@@ -1,2 +1,2 @@\n", "@@ -0,0 +1 @@\n", "@@ -3 +3,0 @@\n", "@@ -1,1 +1,1 @@ f\n", "@@ -x @@\n",
            " a\n", "-a\n", "+b\n", "\n", "\\ No newline at end of file\n", "new file mode 100644\n",
            "deleted file mode 100644\n", "rename from f\n", "rename to g\n", "Binary files differ\n",
            "GIT binary patch\n", "\"", "a", "\r\n", "Index: f\n",
        ]), 0..30),
        original in proptest::collection::vec(proptest::sample::select(vec!["a\n", "b\n", "a", "\n"]), 0..8),
    ) {
        let text = pieces.concat();
        if let Ok(p) = parse(text.as_bytes()) {
            let original = original.concat();
            for f in &p.files {
                let _ = apply(Some(original.as_bytes()), f);
                let _ = apply(None, f);
            }
        }
    }
}
