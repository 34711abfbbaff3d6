//! `patchgate report RECORD --html OUT` on records the gate made: one self-contained page with
//! the verdict, the path and render A beside render B where they differ; and a clear error,
//! with nothing written, for anything that is no record.

use crate::escalate::{out, run, world};

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
/// no texts is a clear error.
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

    // Not texts at all: a clear error, no page.
    std::fs::write(&texts_path, "[1, 2").unwrap();
    let o = report(&w);
    assert_ne!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
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
