//! `patchgate check` at its edges: an empty change is refused before anything is sealed, a
//! second gate of the same head says that it replaced the head's note, and the output says the
//! ledger is one chain for the data directory.

use std::process::Command;

use crate::check::{out, pg, repo, world, World};
use crate::support::world::git;

fn check(w: &World, base: &str, head: &str) -> std::process::Output {
    pg(
        w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(w),
            "--base",
            base,
            "--head",
            head,
        ],
        &[],
    )
}

#[test]
fn an_empty_change_is_refused_and_nothing_is_sealed() {
    let w = world();
    // Base and head the same commit, by two names.
    let main = git(&w.repo, &["rev-parse", "main"]);
    let o = check(&w, "main", &main);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("empty change"), "{text}");
    assert!(text.contains("are the same commit"), "{text}");
    assert!(text.contains("nothing was sealed"), "{text}");
    // A head with the base's files (an empty commit on top of it).
    let tree = git(&w.repo, &["rev-parse", "main^{tree}"]);
    let empty = git(
        &w.repo,
        &["commit-tree", &tree, "-p", &main, "-m", "nothing"],
    );
    let o = check(&w, "main", &empty);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("has the same files as base"), "{text}");
    // Nothing reached the ledger or the notes.
    let notes = Command::new("git")
        .arg("-C")
        .arg(&w.repo)
        .args(["notes", "--ref=patchgate", "list"])
        .output()
        .unwrap();
    assert!(notes.stdout.is_empty(), "{}", out(&notes));
    let l = pg(&w, &["ledger", "verify"], &[]);
    assert!(
        out(&l).contains(": 0 record(s), chain intact"),
        "{}",
        out(&l)
    );
    // The same repository gates a real change as usual, as the ledger's first record.
    let o = check(&w, "main", "render-a");
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("ledger #1 (one chain for every repository"),
        "{}",
        out(&o)
    );
}

#[test]
fn a_second_check_of_the_same_head_says_it_replaced_the_note() {
    let w = world();
    let first = check(&w, "main", "render-a");
    assert_eq!(first.status.code(), Some(0), "{}", out(&first));
    assert!(!out(&first).contains("replaced"), "{}", out(&first));
    // The first record's hash, as the record line shows it.
    let first_text = out(&first);
    let at = first_text.find("record        ").unwrap() + "record        ".len();
    let earlier = first_text[at..at + 19].to_string();
    assert!(earlier.starts_with("sha256:"), "{first_text}");
    let second = check(&w, "main", "render-a");
    let text = out(&second);
    assert_eq!(second.status.code(), Some(0), "{text}");
    assert!(
        text.contains("replaced this head's earlier note (sha256:"),
        "{text}"
    );
    assert!(text.contains("git log -p refs/notes/patchgate"), "{text}");
    let hash_start = text.find("earlier note (").unwrap() + "earlier note (".len();
    let shown = &text[hash_start..hash_start + 19];
    assert_eq!(shown, earlier, "{text}");
    // Both records are in the ledger, and the earlier note in the notes ref's history.
    let l = pg(&w, &["ledger", "verify"], &[]);
    assert!(out(&l).contains("2 record(s), chain intact"), "{}", out(&l));
    let history = git(&w.repo, &["rev-list", "--count", "refs/notes/patchgate"]);
    assert_eq!(history, "2");
    // JSON says it too.
    let third = pg(
        &w,
        &[
            "check",
            "--config",
            w.config.to_str().unwrap(),
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--format",
            "json",
        ],
        &[],
    );
    let doc: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert!(
        doc["note_replaced"]
            .as_str()
            .unwrap_or("")
            .starts_with("sha256:"),
        "{doc}"
    );
}

#[test]
fn degraded_mode_says_so_and_the_decision_names_no_abstainer() {
    let w = world();
    // The embedded default (no keys): the model reviewers are off, not "not configured".
    let o = pg(
        &w,
        &[
            "check",
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--render-b",
            "render-b",
            "--audit-mode",
            "degraded",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let record = &doc["record"];
    assert_eq!(record["quorum_passed"], true, "{doc}");
    for v in record["audit"]["votes"].as_array().unwrap() {
        if v["auditor"] != "rule-guard" {
            assert_eq!(v["verdict"], "abstain", "{v}");
            let reason = v["reason"].as_str().unwrap_or("");
            assert!(reason.starts_with("not asked: degraded mode"), "{reason}");
        }
    }
    assert_eq!(
        record["decision"]["decided_by"],
        serde_json::json!(["rule-guard"]),
        "{doc}"
    );
    let reason = record["decision"]["reason"].as_str().unwrap_or("");
    assert!(reason.starts_with("passed"), "{reason}");
    // The text says it the same way.
    let o = pg(
        &w,
        &[
            "check",
            "--repo",
            repo(&w),
            "--base",
            "main",
            "--head",
            "render-a",
            "--audit-mode",
            "degraded",
        ],
        &[],
    );
    let text = out(&o);
    assert!(text.contains("abstain  not asked: degraded mode"), "{text}");
    assert!(!text.contains("not configured"), "{text}");
}
