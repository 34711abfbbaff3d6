//! The decision record (`meta.yaml`): its field names, sealing and verification, the
//! `quorum_passed` rule, git notes, and the ledger chain.

use git2::{Oid, Repository, Signature};
use patchgate::audit::vote::{Verdict, Vote};
use patchgate::meta::chain::{verify_chain, ChainError, GENESIS_HASH};
use patchgate::meta::ledger::LedgerRow;
use patchgate::meta::notes;
use patchgate::meta::record::{
    quorum_passed, render_explanation, verify_yaml, AstDiffSummary, AuditSummary, ChangeRef,
    DecisionSummary, ExplanationSource, ExplanationsSummary, Extra, MetaRecord, RenderA, RenderB,
    Renders, VoteSummary,
};
use patchgate::meta::Sha256Hash;

fn h(s: &str) -> Sha256Hash {
    Sha256Hash::digest(s)
}

fn genesis() -> Sha256Hash {
    GENESIS_HASH.parse().unwrap()
}

/// The record of the example in docs/architecture.md ("The decision record").
fn design_record() -> MetaRecord {
    let mut reviewer_1 = Vote::new("reviewer-1", Verdict::Approve);
    reviewer_1.cost_usd = 0.004;
    reviewer_1.findings.push(patchgate::audit::vote::Finding {
        rule: "correctness".into(),
        file: None,
        line: None,
        severity: serde_json::from_str("\"warning\"").unwrap(),
        message: "m".into(),
    });
    let mut reviewer_2 = Vote::new("reviewer-2", Verdict::Abstain);
    reviewer_2.reason = Some("daily budget spent".into());
    MetaRecord {
        version: 1,
        repo: "owner/name".into(),
        change: ChangeRef {
            pr: Some(123),
            base: "1111111".into(),
            head: "2222222".into(),
            extra: Extra::new(),
        },
        renders: Renders {
            a: RenderA {
                commit: "2222222".into(),
                explanation_hash: Some(h("a").to_string()),
                explanation_source: Some(ExplanationSource::PrBody),
                extra: Extra::new(),
            },
            b: Some(RenderB {
                commit: "3333333".into(),
                source: "pr#124".into(),
                explanation_hash: Some(h("b").to_string()),
                explanation_source: None,
                extra: Extra::new(),
            }),
            extra: Extra::new(),
        },
        ast_diff: AstDiffSummary {
            variance_percent: 1.8,
            threshold_percent: 3.0,
            agreed: true,
            extra: Extra::new(),
        },
        explanations: Some(ExplanationsSummary {
            hash_match: false,
            similarity: 0.91,
            threshold: 0.85,
            agreed: true,
            status: None,
            judge: None,
            extra: Extra::new(),
        }),
        audit: AuditSummary {
            required: 2,
            votes: vec![
                VoteSummary::from_vote(&Vote::new("rule-guard", Verdict::Approve), Some(h("rg"))),
                VoteSummary::from_vote(&reviewer_1, Some(h("r1"))),
                VoteSummary::from_vote(&reviewer_2, None),
            ],
            extra: Extra::new(),
        },
        decision: Some(DecisionSummary {
            reason: "2 of 3 approved".into(),
            decided_by: vec!["rule-guard".into(), "reviewer-1".into()],
            extra: Extra::new(),
        }),
        gate: None,
        quorum_passed: true,
        created_at: Some("2026-11-23T01:00:00Z".into()),
        patchgate_version: Some("0.1.0".into()),
        prev_record_hash: None,
        record_hash: None,
        extra: Extra::new(),
    }
}

const DESIGN_YAML: &str = "\
version: 1
repo: owner/name
change:
  pr: 123
  base: '1111111'
  head: '2222222'
renders:
  a:
    commit: '2222222'
    explanation_hash: sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb
    explanation_source: pr_body
  b:
    commit: '3333333'
    source: pr#124
    explanation_hash: sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d
ast_diff:
  variance_percent: 1.8
  threshold_percent: 3.0
  agreed: true
explanations:
  hash_match: false
  similarity: 0.91
  threshold: 0.85
  agreed: true
audit:
  required: 2
  votes:
  - auditor: rule-guard
    verdict: approve
    findings: 0
    explanation_hash: sha256:5a5000a3f3ff868603876ea774d1d272912a4949e738597a944cfc6050b8d097
    cost_usd: 0.0
  - auditor: reviewer-1
    verdict: approve
    findings: 1
    explanation_hash: sha256:82f3e9c695dc6b8d1b11818d5701919e286de8d47f7c3eb3100c485f79e57828
    cost_usd: 0.004
  - auditor: reviewer-2
    verdict: abstain
    reason: daily budget spent
    findings: 0
decision:
  reason: 2 of 3 approved
  decided_by:
  - rule-guard
  - reviewer-1
quorum_passed: true
created_at: 2026-11-23T01:00:00Z
patchgate_version: 0.1.0
prev_record_hash: sha256:0000000000000000000000000000000000000000000000000000000000000000
record_hash: sha256:07c38b83a46add5dbc093b93f3568b7669e5780583c06d62563f29e82303a9a1
";

#[test]
fn yaml_has_design_field_names() {
    let r = design_record().seal(&genesis()).unwrap();
    let yaml = r.to_yaml().unwrap();
    assert_eq!(yaml, DESIGN_YAML, "actual:\n{yaml}");
    let back = MetaRecord::from_yaml(&yaml).unwrap();
    assert_eq!(back, r);
    assert_eq!(verify_yaml(&yaml).unwrap(), r);
}

#[test]
fn local_change_writes_pr_null_and_one_render() {
    let mut r = design_record();
    r.change.pr = None;
    r.renders.b = None;
    r.explanations = None;
    let r = r.seal(&genesis()).unwrap();
    let yaml = r.to_yaml().unwrap();
    assert!(yaml.contains("  pr: null\n"), "{yaml}");
    assert!(!yaml.contains("\n  b:"), "{yaml}");
    assert!(!yaml.contains("explanations"), "{yaml}");
    r.verify().unwrap();
    assert_eq!(verify_yaml(&yaml).unwrap(), r);
}

#[test]
fn seal_and_verify() {
    let r = design_record().seal(&h("prev")).unwrap();
    r.verify().unwrap();
    assert_eq!(
        r.prev_record_hash.as_deref(),
        Some(h("prev").to_string().as_str())
    );
    assert_eq!(
        r.record_hash.as_deref(),
        Some(r.compute_hash().unwrap().to_string().as_str())
    );
    // Sealing is deterministic, and the chain position is part of the hash.
    assert_eq!(design_record().seal(&h("prev")).unwrap(), r);
    assert_ne!(
        design_record().seal(&genesis()).unwrap().record_hash,
        r.record_hash
    );
}

fn assert_mismatch(r: &MetaRecord) {
    let e = r.verify().unwrap_err().to_string();
    assert!(e.contains("record_hash mismatch: stored sha256:"), "{e}");
    assert!(e.contains(" recomputed sha256:"), "{e}");
}

#[test]
fn tampering_is_named() {
    let sealed = design_record().seal(&genesis()).unwrap();

    let mut flipped = sealed.clone();
    flipped.quorum_passed = false;
    assert_mismatch(&flipped);

    let mut vote = sealed.clone();
    vote.audit.votes[2].verdict = Verdict::Approve;
    assert_mismatch(&vote);

    let mut cost = sealed.clone();
    cost.audit.votes[1].cost_usd = Some(0.0);
    assert_mismatch(&cost);

    let mut prev = sealed.clone();
    prev.prev_record_hash = Some(h("other").to_string());
    assert_mismatch(&prev);

    // In the file too.
    let yaml = sealed.to_yaml().unwrap();
    let edited = yaml.replace("quorum_passed: true", "quorum_passed: false");
    assert_ne!(edited, yaml);
    let e = verify_yaml(&edited).unwrap_err().to_string();
    assert!(e.contains("record_hash mismatch"), "{e}");
    let stored = sealed.record_hash.clone().unwrap();
    assert!(e.contains(&format!("stored {stored}")), "{e}");

    // Formatting, quoting and comments are not content.
    let reformatted = format!(
        "# a comment\n{}",
        yaml.replace("threshold_percent: 3.0", "threshold_percent: 3")
    );
    verify_yaml(&reformatted).unwrap();

    // A malformed hash is named by its path.
    let bad = yaml.replace(&h("b").to_string(), "sha256:nope");
    let e = verify_yaml(&bad).unwrap_err().to_string();
    assert!(e.contains("renders.b.explanation_hash"), "{e}");
}

#[test]
fn quorum_passed_truth_table() {
    let bools = [false, true];
    let opts = [None, Some(false), Some(true)];
    let mut n = 0;
    for audit in bools {
        for renders in opts {
            for explanations in opts {
                for verifies in bools {
                    n += 1;
                    // Oracle: count what blocks.
                    let blockers = [
                        !audit,
                        renders == Some(false),
                        explanations == Some(false),
                        !verifies,
                    ]
                    .iter()
                    .filter(|b| **b)
                    .count();
                    assert_eq!(
                        quorum_passed(audit, renders, explanations, verifies),
                        blockers == 0,
                        "{audit} {renders:?} {explanations:?} {verifies}"
                    );
                }
            }
        }
    }
    assert_eq!(n, 36);
}

#[test]
fn render_explanation_precedence() {
    use ExplanationSource::*;
    let meta = "explanation: |\n  builder says\nmodel: m\n";
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<(&'a str, ExplanationSource)>,
    );
    let cases: &[Case] = &[
        (
            Some("body"),
            Some("msg"),
            Some(meta),
            Some(("body", PrBody)),
        ),
        (Some("body"), None, None, Some(("body", PrBody))),
        (None, Some("msg"), Some(meta), Some(("msg", CommitMessage))),
        (
            Some(" \r\n\t"),
            Some("msg"),
            Some(meta),
            Some(("msg", CommitMessage)),
        ),
        (
            None,
            None,
            Some(meta),
            Some(("builder says\n", BuilderMeta)),
        ),
        (
            Some(""),
            Some(""),
            Some(meta),
            Some(("builder says\n", BuilderMeta)),
        ),
        (None, None, Some("summary: s\n"), Some(("s", BuilderMeta))),
        (None, None, Some("explanation: 3\n"), None),
        (None, None, Some("- a list\n"), None),
        (None, None, Some("{not yaml"), None),
        (None, None, None, None),
    ];
    for (body, msg, meta, want) in cases {
        let got = render_explanation(*body, *msg, *meta);
        let want = want.map(|(s, src)| (s.to_string(), src));
        assert_eq!(got, want, "{body:?} {msg:?} {meta:?}");
    }
}

// ---- git notes ----

fn commit_in(repo: &Repository) -> Oid {
    let sig = Signature::now("t", "t@example.com").unwrap();
    let blob = repo.blob(b"hello\n").unwrap();
    let mut tb = repo.treebuilder(None).unwrap();
    tb.insert("f.txt", blob, 0o100644).unwrap();
    let tree = repo.find_tree(tb.write().unwrap()).unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &[])
        .unwrap()
}

fn notes_round_trip(repo: &Repository) {
    let commit = commit_in(repo);
    assert!(notes::read(repo, commit).unwrap().is_none());
    let r = design_record().seal(&genesis()).unwrap();
    let id = notes::attach(repo, commit, &r).unwrap();
    let back = notes::read(repo, commit).unwrap().unwrap();
    assert_eq!(back, r);
    back.verify().unwrap();
    assert_eq!(
        notes::read_raw(repo, commit).unwrap().unwrap(),
        r.to_yaml().unwrap()
    );
    // The same record again writes nothing.
    let notes_head = repo.refname_to_id(notes::NOTES_REF).unwrap();
    assert_eq!(notes::attach(repo, commit, &r).unwrap(), id);
    assert_eq!(repo.refname_to_id(notes::NOTES_REF).unwrap(), notes_head);

    // Someone rewrites the note: reading still works, verifying catches it.
    let text = r.to_yaml().unwrap();
    let forged = text.replace("verdict: abstain", "verdict: approve");
    assert_ne!(forged, text);
    let sig = Signature::now("mallory", "m@example.com").unwrap();
    repo.note(&sig, &sig, Some(notes::NOTES_REF), commit, &forged, true)
        .unwrap();
    let read = notes::read(repo, commit).unwrap().unwrap();
    let e = read.verify().unwrap_err().to_string();
    assert!(e.contains("record_hash mismatch"), "{e}");
    let raw = notes::read_raw(repo, commit).unwrap().unwrap();
    assert!(verify_yaml(&raw).is_err());

    // Re-attaching the genuine record overwrites; the forged note stays in the history.
    notes::attach(repo, commit, &r).unwrap();
    notes::read(repo, commit)
        .unwrap()
        .unwrap()
        .verify()
        .unwrap();
    let head = repo
        .find_commit(repo.refname_to_id(notes::NOTES_REF).unwrap())
        .unwrap();
    let mut depth = 0;
    let mut c = Some(head);
    while let Some(cc) = c {
        depth += 1;
        c = cc.parents().next();
    }
    assert_eq!(depth, 3, "attach, forge, re-attach");
}

#[test]
fn notes_on_a_worktree_repo() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    notes_round_trip(&repo);
}

#[test]
fn notes_on_a_bare_repo() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    notes_round_trip(&repo);
}

#[test]
fn notes_use_the_configured_user() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let mut cfg = repo.config().unwrap();
    cfg.set_str("user.name", "Ada").unwrap();
    cfg.set_str("user.email", "ada@example.com").unwrap();
    let commit = commit_in(&repo);
    notes::attach(&repo, commit, &design_record().seal(&genesis()).unwrap()).unwrap();
    let head = repo
        .find_commit(repo.refname_to_id(notes::NOTES_REF).unwrap())
        .unwrap();
    assert_eq!(head.author().name().ok(), Some("Ada"));
    assert_eq!(notes::signature(&repo).unwrap().name().ok(), Some("Ada"));
}

// ---- ledger chain ----

fn chain(n: usize) -> Vec<LedgerRow> {
    let mut prev = genesis();
    let mut rows = Vec::new();
    for i in 0..n {
        let mut r = design_record();
        r.change.head = format!("head{i}");
        r.change.pr = Some(100 + i as u64);
        let r = r.seal(&prev).unwrap();
        let row = r.ledger_row().unwrap();
        prev = row.record_hash.parse().unwrap();
        rows.push(LedgerRow {
            seq: i as i64 + 1,
            record_hash: row.record_hash,
            prev_record_hash: row.prev_record_hash,
            repo: row.repo,
            head: row.head,
            record_yaml: row.record_yaml,
        });
    }
    rows
}

fn problems(rows: &[LedgerRow]) -> Vec<String> {
    let e: ChainError = verify_chain(rows).unwrap_err();
    e.problems.iter().map(|p| p.to_string()).collect()
}

fn has(ps: &[String], needle: &str) {
    assert!(
        ps.iter().any(|p| p.contains(needle)),
        "{needle:?} not in {ps:#?}"
    );
}

#[test]
fn chain_verifies() {
    let rows = chain(5);
    let report = verify_chain(&rows).unwrap();
    assert_eq!(report.rows, 5);
    assert_eq!(report.last_seq, 5);
    assert_eq!(report.head_hash, rows[4].record_hash);
    for r in &rows {
        verify_yaml(&r.record_yaml).unwrap();
    }
}

#[test]
fn chain_edited_row_is_named() {
    let mut rows = chain(5);
    rows[2].record_yaml = rows[2]
        .record_yaml
        .replace("verdict: abstain", "verdict: approve");
    let ps = problems(&rows);
    has(
        &ps,
        "row 3 (seq 3): record edited: stored record_hash sha256:",
    );
    has(&ps, "but its content hashes to sha256:");
    assert_eq!(ps.len(), 1, "{ps:#?}");

    // Edited and re-hashed in place: the next row's link breaks.
    let mut rows = chain(5);
    let mut r = MetaRecord::from_yaml(&rows[2].record_yaml).unwrap();
    r.quorum_passed = false;
    let r = r.seal(&rows[1].record_hash.parse().unwrap()).unwrap();
    rows[2].record_hash = r.record_hash.clone().unwrap();
    rows[2].record_yaml = r.to_yaml().unwrap();
    let ps = problems(&rows);
    has(&ps, "row 4 (seq 4): deleted or reordered: prev_record_hash");
    has(&ps, "is not row 3's record_hash");
}

#[test]
fn chain_deleted_row_is_caught() {
    let mut rows = chain(5);
    rows.remove(3);
    let ps = problems(&rows);
    has(&ps, "seq 4 missing");
    has(
        &ps,
        &format!(
            "row 4 (seq 5): deleted or reordered: prev_record_hash {}",
            rows[3].prev_record_hash
        ),
    );
    has(
        &ps,
        &format!("is not row 3's record_hash {}", rows[2].record_hash),
    );

    // Deleting the last row leaves a shorter valid chain: only the store's head can tell.
    let mut rows = chain(5);
    rows.pop();
    verify_chain(&rows).unwrap();
}

#[test]
fn chain_swapped_rows_are_caught() {
    let mut rows = chain(5);
    rows.swap(1, 2);
    let ps = problems(&rows);
    has(&ps, "row 2 (seq 3)");
    has(&ps, "deleted or reordered");
    has(&ps, "seq out of order");

    // Contents swapped, seq kept.
    let mut rows = chain(5);
    let (a, b) = (rows[1].clone(), rows[2].clone());
    rows[1] = LedgerRow { seq: 2, ..b };
    rows[2] = LedgerRow { seq: 3, ..a };
    let ps = problems(&rows);
    has(&ps, "row 2 (seq 2): deleted or reordered");
    has(&ps, "row 3 (seq 3): deleted or reordered");
}

#[test]
fn chain_wrong_genesis_is_caught() {
    let mut rows = chain(5);
    let mut r = MetaRecord::from_yaml(&rows[0].record_yaml).unwrap();
    r = r.seal(&h("not genesis")).unwrap();
    rows[0].record_hash = r.record_hash.clone().unwrap();
    rows[0].prev_record_hash = r.prev_record_hash.clone().unwrap();
    rows[0].record_yaml = r.to_yaml().unwrap();
    rows[1].prev_record_hash = rows[0].record_hash.clone();
    let ps = problems(&rows);
    has(&ps, "row 1 (seq 1): wrong genesis");
    has(&ps, GENESIS_HASH);
}

#[test]
fn chain_column_tamper_is_caught() {
    let mut rows = chain(3);
    rows[1].head = "elsewhere".into();
    has(&problems(&rows), "row 2 (seq 2): head column \"elsewhere\"");
    let mut rows = chain(3);
    rows[1].prev_record_hash = "sha256:zz".into();
    let ps = problems(&rows);
    has(
        &ps,
        "row 2 (seq 2): prev_record_hash \"sha256:zz\" is not a sha256 hash",
    );
    let mut rows = chain(3);
    rows[0].record_yaml = "{ not yaml".into();
    has(&problems(&rows), "row 1 (seq 1): record unreadable");
}
