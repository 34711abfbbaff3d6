//! `patchgate diff` as a user runs it: every edit on request (`--max-edits`), and no progress
//! line where stderr is not a terminal.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn diff(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchgate"))
        .arg("diff")
        .args(args)
        .current_dir(dir)
        .env_remove("PATCHGATE_THRESHOLD_PERCENT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run patchgate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Two Python files differing on each of `n` lines.
fn renders(dir: &Path, n: usize) {
    let a: String = (0..n).map(|i| format!("x{i} = {i}\n")).collect();
    let b: String = (0..n).map(|i| format!("x{i} = {}\n", i + 1000)).collect();
    std::fs::write(dir.join("a.py"), a).unwrap();
    std::fs::write(dir.join("b.py"), b).unwrap();
}

fn edits_of(o: &Output) -> (usize, u64) {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&o.stdout), text(&o.stderr)));
    let f = &v["files"][0];
    (
        f["edits"].as_array().expect("edits").len(),
        f["edits_omitted"].as_u64().expect("edits_omitted"),
    )
}

#[test]
fn max_edits_caps_the_list_and_all_lists_every_edit() {
    let dir = tempfile::tempdir().unwrap();
    renders(dir.path(), 30);
    let o = diff(&["a.py", "b.py", "--max-edits", "5"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("… 25 more edits (`--max-edits all` lists every one)"),
        "{out}"
    );
    let o = diff(
        &["a.py", "b.py", "--max-edits", "5", "--format", "json"],
        dir.path(),
    );
    assert_eq!(edits_of(&o), (5, 25));
    let o = diff(
        &["a.py", "b.py", "--max-edits", "all", "--format", "json"],
        dir.path(),
    );
    assert_eq!(edits_of(&o), (30, 0));
    // The default still lists 200 at most.
    renders(dir.path(), 250);
    let o = diff(&["a.py", "b.py", "--format", "json"], dir.path());
    assert_eq!(edits_of(&o), (200, 50));
    let o = diff(&["a.py", "b.py", "--max-edits", "all"], dir.path());
    assert!(!text(&o.stdout).contains("more edits"));
}

#[test]
fn a_bad_max_edits_is_an_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    renders(dir.path(), 3);
    let o = diff(&["a.py", "b.py", "--max-edits", "lots"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("--max-edits") && err.contains("lots") && err.contains("all"),
        "{err}"
    );
}

#[test]
fn a_long_diff_prints_no_progress_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    for side in ["a", "b"] {
        std::fs::create_dir(dir.path().join(side)).unwrap();
    }
    // Enough work that a terminal would see the progress line (shown after 300 ms).
    for f in 0..40 {
        let body = |k: usize| -> String {
            (0..400)
                .map(|i| format!("def f{i}(x):\n    return x * {} + {i}\n\n", k + i % 3))
                .collect()
        };
        std::fs::write(dir.path().join(format!("a/m{f}.py")), body(1)).unwrap();
        std::fs::write(dir.path().join(format!("b/m{f}.py")), body(f % 2)).unwrap();
    }
    let started = Instant::now();
    let o = diff(&["a", "b", "--format", "json"], dir.path());
    let took = started.elapsed();
    assert!(
        o.status.code().is_some_and(|c| c < 2),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(text(&o.stderr), "", "stderr is a pipe here: no progress");
    assert!(
        took >= Duration::from_millis(300),
        "the diff took {took:?}: too quick for this test to prove anything; give it more files"
    );
}

#[test]
fn another_registry_can_be_tried_and_a_bad_one_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "x = 'hi'\n").unwrap();
    std::fs::write(dir.path().join("b.py"), "x = \"hi\"\n").unwrap();
    // Built in: quote style never counts.
    let o = diff(&["a.py", "b.py"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    // A registry without Python's string rules: the quotes are tokens like any other.
    let plain = "[[language]]\nname = \"python\"\ngrammar = \"tree_sitter_python::LANGUAGE\"\n\
                 extensions = [\"py\"]\ncomment_kinds = [\"comment\"]\n";
    std::fs::write(dir.path().join("plain.toml"), plain).unwrap();
    let o = diff(&["a.py", "b.py", "--registry", "plain.toml"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    // Problems name the file and what is wrong in it.
    let bad = plain.replace(
        "tree_sitter_python::LANGUAGE",
        "tree_sitter_cobol::LANGUAGE",
    );
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let o = diff(&["a.py", "b.py", "--registry", "bad.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("tree_sitter_cobol"),
        "{err}"
    );
    let o = diff(&["a.py", "b.py", "--registry", "missing.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("missing.toml"));
}

#[test]
fn the_time_limit_also_stops_the_parse_and_the_change_escalates() {
    let dir = tempfile::tempdir().unwrap();
    renders(dir.path(), 20_000);
    let o = diff(
        &[
            "a.py",
            "b.py",
            "--max-bytes",
            "100000000",
            "--max-nodes",
            "100000000",
            "--time-limit-ms",
            "0",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &v["files"][0];
    assert_eq!(f["time_guard"], true, "{f}");
    let why = f["fallback"].as_str().unwrap_or_default();
    assert!(why.contains("render A") && why.contains("0 ms"), "{why}");
    assert!(v["escalations"][0]
        .as_str()
        .is_some_and(|e| e.contains("wall-clock guard")));
}
