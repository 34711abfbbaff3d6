//! `patchgate report RECORD --html OUT` on records the gate made: one self-contained page with
//! the verdict, the path and render A beside render B where they differ; and a clear error,
//! with nothing written, for anything that is no record. A commit's record note is reported
//! with the explanation texts noted beside it (`refs/notes/patchgate-texts`).

use std::process::Command;

use crate::escalate::{out, run, world, World};
use crate::support::world::git;

#[test]
fn the_page_of_an_escalated_check_marks_where_the_renders_differ() {
    let w = world();
    let meta = w.dir.path().join("meta.yaml");
    let cfg = w.config(&["approve", "abstain"], "");
    let (code, _, text) = w.check(
        &cfg,
        Some("render-c"),
        &["--write-meta", meta.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, Some(1), "{text}");
    let html_path = w.dir.path().join("record.html");
    let o = run(
        &w,
        &[
            "report".into(),
            meta.display().to_string(),
            "--html".into(),
            html_path.display().to_string(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("blocked, verified"), "{}", out(&o));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("BLOCKED"), "{html}");
    assert!(html.contains(">escalated</span>"), "{html}");
    assert!(html.contains("id=\"differences\""), "{html}");
    assert!(
        html.contains("<mark>"),
        "the differing tokens are marked: {html}"
    );
    assert!(html.contains("verified: record_hash recomputes"), "{html}");
    assert!(html.contains("not signed"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    // To stdout with `-`: the same page.
    let o = run(
        &w,
        &[
            "report".into(),
            meta.display().to_string(),
            "--html".into(),
            "-".into(),
        ],
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), html);
}

/// The explanation texts `--write-meta` keeps beside the record (`meta.yaml.texts.json`) are on
/// the page, each checked against its hash; an edited text is a mismatch, and a file that is
/// no texts is said on the page (and on stderr) while the record is still reported.
#[test]
fn the_page_shows_the_kept_explanation_texts_checked_against_their_hashes() {
    let w = world();
    let meta = w.dir.path().join("meta.yaml");
    let cfg = w.config(&["approve", "abstain"], "");
    let (code, _, text) = w.check(
        &cfg,
        Some("render-c"),
        &["--write-meta", meta.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, Some(1), "{text}");
    let texts_path = w.dir.path().join("meta.yaml.texts.json");
    let texts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&texts_path).unwrap()).unwrap();
    let a = texts["a"]["text"]
        .as_str()
        .expect("render A's text kept")
        .to_string();
    assert!(!a.is_empty(), "{texts}");
    let report = |w: &crate::escalate::World| {
        run(
            w,
            &[
                "report".into(),
                meta.display().to_string(),
                "--html".into(),
                "-".into(),
            ],
            &[],
        )
    };
    let o = report(&w);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let html = String::from_utf8_lossy(&o.stdout).to_string();
    let shown = html
        .split("id=\"explanation-a\">")
        .nth(1)
        .unwrap_or_default();
    assert!(
        shown.starts_with(a.lines().next().unwrap_or_default()),
        "{html}"
    );
    let check = html
        .split("id=\"explanation-a-check\">")
        .nth(1)
        .unwrap_or_default();
    assert!(
        check.starts_with("the text hashes to the recorded hash"),
        "{html}"
    );
    assert!(html.contains("id=\"explanation-b\""), "{html}");
    assert!(!html.contains("id=\"texts-not-kept\""), "{html}");

    // An edited text does not hash to the record's hash: shown, and said so.
    let mut edited = texts.clone();
    edited["a"]["text"] = serde_json::json!(format!("{a} (and something else)"));
    std::fs::write(&texts_path, edited.to_string()).unwrap();
    let o = report(&w);
    let html = String::from_utf8_lossy(&o.stdout).to_string();
    let check = html
        .split("id=\"explanation-a-check\">")
        .nth(1)
        .unwrap_or_default();
    assert!(check.starts_with("MISMATCH"), "{html}");

    // Not texts at all: said on the page and on stderr, as a bad texts note is; the record is
    // still reported (verified, its hashes shown), no text is.
    std::fs::write(&texts_path, "[1, 2").unwrap();
    let o = report(&w);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let html = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        after(&html, "texts-problem")
            .contains("meta.yaml.texts.json is not the explanation texts of a record"),
        "{html}"
    );
    assert!(html.contains("id=\"texts-not-kept\""), "{html}");
    assert!(html.contains("verified: record_hash recomputes"), "{html}");
    assert!(
        out(&o).contains("meta.yaml.texts.json is not the explanation texts of a record"),
        "{}",
        out(&o)
    );
    // Without the file the page shows the hashes only, and says so.
    std::fs::remove_file(&texts_path).unwrap();
    let html = String::from_utf8_lossy(&report(&w).stdout).to_string();
    assert!(html.contains("id=\"texts-not-kept\""), "{html}");
}

#[test]
fn what_is_no_record_is_refused_and_nothing_is_written() {
    let w = world();
    let not_a_record = w.dir.path().join("x.yaml");
    std::fs::write(&not_a_record, "a: 1\n").unwrap();
    let html_path = w.dir.path().join("x.html");
    for target in [not_a_record.display().to_string(), "no-such-file".into()] {
        let o = run(
            &w,
            &[
                "report".into(),
                target.clone(),
                "--repo".into(),
                w.repo.display().to_string(),
                "--html".into(),
                html_path.display().to_string(),
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(2), "{target}: {}", out(&o));
        assert!(!html_path.exists(), "{target}");
    }
    let o = run(
        &w,
        &[
            "report".into(),
            not_a_record.display().to_string(),
            "--html".into(),
            html_path.display().to_string(),
        ],
        &[],
    );
    assert!(
        out(&o).contains("not a patchgate decision record"),
        "{}",
        out(&o)
    );
}

/// `patchgate check` with its git notes (the escalate world's `check` passes `--no-note`):
/// render A is `head`, render B `render-c`; approve and abstain, so blocked (exit 1).
fn check_with_notes(w: &World, head: &str) {
    let cfg = w.config(&["approve", "abstain"], "");
    let o = run(
        w,
        &[
            "check".into(),
            "--config".into(),
            cfg.display().to_string(),
            "--repo".into(),
            w.repo.display().to_string(),
            "--base".into(),
            "main".into(),
            "--head".into(),
            head.into(),
            "--render-b".into(),
            "render-c".into(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
}

/// Replace the texts note on `rev` with `text`, exactly.
fn put_texts_note(w: &World, rev: &str, text: &str) {
    let f = w.dir.path().join("texts-note");
    std::fs::write(&f, text).unwrap();
    git(
        &w.repo,
        &[
            "notes",
            "--ref",
            "patchgate-texts",
            "add",
            "-f",
            "-F",
            f.to_str().unwrap(),
            rev,
        ],
    );
}

/// `report <rev> --html -`: the page, and what was said on stderr.
fn report_commit(w: &World, rev: &str) -> (String, String) {
    let o = run(
        w,
        &[
            "report".into(),
            rev.into(),
            "--repo".into(),
            w.repo.display().to_string(),
            "--html".into(),
            "-".into(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// The page after the element `id`'s opening tag: its text and what follows.
pub(crate) fn after<'a>(html: &'a str, id: &str) -> &'a str {
    html.split(&format!("id=\"{id}\">"))
        .nth(1)
        .unwrap_or_default()
}

/// The gate notes a record's explanation texts on its commit beside the record; `report
/// <commit>` shows them checked against their hashes. An edited text is a mismatch; texts of
/// another record, or a note that is no texts, are refused with a message and the record is
/// still reported.
#[test]
fn a_commits_record_is_reported_with_the_texts_noted_beside_it() {
    let w = world();
    check_with_notes(&w, "render-a");
    let note = git(
        &w.repo,
        &["notes", "--ref", "patchgate-texts", "show", "render-a"],
    );
    let texts: serde_json::Value = serde_json::from_str(&note).unwrap();
    let record = git(
        &w.repo,
        &["notes", "--ref", "patchgate", "show", "render-a"],
    );
    let record: serde_yaml::Value = serde_yaml::from_str(&record).unwrap();
    assert_eq!(
        texts["record_hash"].as_str(),
        record["record_hash"].as_str(),
        "{texts}"
    );
    let a = texts["a"]["text"].as_str().expect("render A's text noted");
    assert!(
        a.starts_with("Retry HTTP fetches with exponential backoff"),
        "{a}"
    );

    let (html, _) = report_commit(&w, "render-a");
    assert!(
        after(&html, "explanation-a").starts_with(a.lines().next().unwrap()),
        "{html}"
    );
    for id in ["explanation-a-check", "explanation-b-check"] {
        assert!(
            after(&html, id).starts_with("the text hashes to the recorded hash"),
            "{id}: {html}"
        );
    }
    assert!(html.contains("class=\"vote-explanation\""), "{html}");
    assert!(!html.contains("id=\"texts-not-kept\""), "{html}");
    assert!(!html.contains("id=\"texts-problem\""), "{html}");

    // An edited text does not hash to the record's hash: shown, and said so.
    let mut edited = texts.clone();
    edited["a"]["text"] = serde_json::json!(format!("{a} (and something else)"));
    put_texts_note(&w, "render-a", &edited.to_string());
    let (html, _) = report_commit(&w, "render-a");
    assert!(
        after(&html, "explanation-a-check").starts_with("MISMATCH"),
        "{html}"
    );
    assert!(
        after(&html, "explanation-b-check").starts_with("the text hashes"),
        "{html}"
    );

    // A note that is no texts on top of this record's: the record's own texts (the newest of
    // them, the edited one) are shown, and the page says the newest note is not texts.
    put_texts_note(&w, "render-a", "[1, 2");
    let (html, stderr) = report_commit(&w, "render-a");
    assert!(
        after(&html, "explanation-a-check").starts_with("MISMATCH"),
        "{html}"
    );
    let problem = after(&html, "texts-problem");
    assert!(
        problem
            .starts_with("the newest explanation texts note (refs/notes/patchgate-texts) is not"),
        "{html}"
    );
    assert!(problem.contains("from an earlier note"), "{html}");
    assert!(stderr.contains("from an earlier note"), "{stderr}");

    // Another record's texts (the notes ref holding nothing else): refused, with the reason;
    // the record is still reported, verified, its hashes shown.
    git(&w.repo, &["update-ref", "-d", "refs/notes/patchgate-texts"]);
    let mut foreign = texts.clone();
    let other = format!("sha256:{}", "0".repeat(64));
    foreign["record_hash"] = serde_json::json!(other);
    put_texts_note(&w, "render-a", &foreign.to_string());
    let (html, stderr) = report_commit(&w, "render-a");
    let problem = after(&html, "texts-problem");
    assert!(problem.contains("of another record"), "{html}");
    assert!(problem.contains(&other), "{html}");
    assert!(html.contains("id=\"texts-not-kept\""), "{html}");
    assert!(!html.contains("id=\"explanation-a\""), "{html}");
    assert!(html.contains("verified: record_hash recomputes"), "{html}");
    assert!(stderr.contains("of another record"), "{stderr}");

    // A note that is no texts at all: the same, never a broken report.
    for bad in ["[1, 2", "{\"a\": 3}"] {
        put_texts_note(&w, "render-a", bad);
        let (html, stderr) = report_commit(&w, "render-a");
        assert!(
            after(&html, "texts-problem").starts_with(
                "the explanation texts note (refs/notes/patchgate-texts) is not the explanation texts of a record"
            ),
            "{bad}: {html}"
        );
        assert!(html.contains("BLOCKED"), "{html}");
        assert!(stderr.contains("is not the explanation texts"), "{stderr}");
    }

    // No texts note at all: the hashes only, and no problem said.
    git(&w.repo, &["update-ref", "-d", "refs/notes/patchgate-texts"]);
    let (html, stderr) = report_commit(&w, "render-a");
    assert!(html.contains("id=\"texts-not-kept\""), "{html}");
    assert!(!html.contains("id=\"texts-problem\""), "{html}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// A secret in an explanation (here render A's commit message) is masked before the texts
/// are noted: it is in no note, and the report says the masked text cannot be checked.
#[test]
fn no_secret_in_an_explanation_reaches_the_texts_note() {
    const KEY: &str = "AKIAQWERTYUIOPASDFGH";
    let w = world();
    // Render A's tree again, its message naming a key.
    let tree = git(&w.repo, &["rev-parse", "render-a^{tree}"]);
    let message =
        format!("Retry HTTP fetches with exponential backoff.\n\nDeploy key {KEY} stays.\n");
    let commit = git(
        &w.repo,
        &["commit-tree", tree.trim(), "-p", "main", "-m", &message],
    );
    git(&w.repo, &["branch", "render-secret", commit.trim()]);
    check_with_notes(&w, "render-secret");

    let note = git(
        &w.repo,
        &["notes", "--ref", "patchgate-texts", "show", "render-secret"],
    );
    assert!(!note.contains(KEY), "a secret in the texts note: {note}");
    let texts: serde_json::Value = serde_json::from_str(&note).unwrap();
    assert_eq!(texts["a"]["masked"], true, "{note}");
    assert!(
        texts["a"]["text"].as_str().unwrap().contains("[REDACTED:"),
        "{note}"
    );
    // Nor in the record's note, nor anywhere in the notes refs' objects.
    for r in ["patchgate", "patchgate-texts", "patchgate-signatures"] {
        let log = Command::new("git")
            .arg("-C")
            .arg(&w.repo)
            .args(["log", "-p", &format!("refs/notes/{r}")])
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&log.stdout).contains(KEY), "{r}");
    }

    let (html, _) = report_commit(&w, "render-secret");
    assert!(!html.contains(KEY), "a secret on the page");
    assert!(
        after(&html, "explanation-a-check").starts_with("secrets were masked out of it"),
        "{html}"
    );
}
