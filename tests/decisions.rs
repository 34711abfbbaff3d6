//! The web view's index of decisions, against both backends: every ledger row is indexed once
//! (whoever appended it), rows that are no decision record are not listed, and the list is
//! newest first, limited to the repositories given, filtered and paged.

use crate::support::pg;

use patchgate::meta::ledger::{LedgerStore, NewLedgerRow, GENESIS};
use patchgate::meta::record::MetaRecord;
use patchgate::store::decisions::DecisionQuery;

use pg::Fixture;

both_backends!(
    "pgdec";
    decisions_are_indexed_once_filtered_and_paged,
);

/// A sealed record of `repo` PR `pr` (`b`: with a render B that agrees or not).
fn record(prev: &str, repo: &str, pr: u64, passed: bool, b: Option<bool>) -> NewLedgerRow {
    let b_yaml = match b {
        Some(_) => "  b: {commit: bbbb, source: \"pr#9\"}\n",
        None => "",
    };
    let agreed = b.unwrap_or(true);
    let text = format!(
        "version: 1\nrepo: {repo}\nchange: {{pr: {pr}, base: base{pr}, head: head{pr}}}\n\
         renders:\n  a: {{commit: head{pr}}}\n{b_yaml}\
         ast_diff: {{variance_percent: 1.0, threshold_percent: 3.0, agreed: {agreed}}}\n\
         audit: {{required: 2, votes: []}}\nquorum_passed: {passed}\n\
         created_at: \"2026-12-01T10:00:0{}Z\"\n",
        pr % 10
    );
    MetaRecord::from_yaml(&text)
        .unwrap()
        .seal(&prev.parse().unwrap())
        .unwrap()
        .ledger_row()
        .unwrap()
}

async fn decisions_are_indexed_once_filtered_and_paged(f: &Fixture, _: &str) {
    let s = f.open().await;
    let mut prev = GENESIS.to_string();
    let plan = [
        ("o/a", 1, true, None),
        ("o/a", 2, false, Some(false)),
        ("o/b", 3, true, Some(true)),
        ("o/a", 4, true, Some(true)),
        ("o/c", 5, false, None),
    ];
    for (repo, pr, passed, b) in plan {
        let r = record(&prev, repo, pr, passed, b);
        prev = r.record_hash.clone();
        s.append(&r).await.unwrap();
    }
    // A ledger row that is no decision record (a rollback's own entry).
    let other = NewLedgerRow {
        record_hash: format!("sha256:{}", "ab".repeat(32)),
        prev_record_hash: prev.clone(),
        repo: "o/a".into(),
        head: "h".into(),
        record_yaml: "kind: rollback\n".into(),
    };
    s.append(&other).await.unwrap();
    assert_eq!(s.index_decisions().await.unwrap(), 6);
    assert_eq!(s.index_decisions().await.unwrap(), 0, "indexed once");
    let q = |f: &dyn Fn(&mut DecisionQuery)| {
        let mut q = DecisionQuery {
            repos: vec!["o/a".into(), "o/b".into()],
            limit: 50,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let prs = |rows: Vec<patchgate::store::decisions::DecisionRow>| {
        rows.iter().map(|d| d.pr.unwrap()).collect::<Vec<_>>()
    };
    // Newest first; o/c is not among the readable repositories; the rollback row is not listed.
    assert_eq!(prs(s.decisions(&q(&|_| {})).await.unwrap()), [4, 3, 2, 1]);
    assert_eq!(
        prs(s
            .decisions(&q(&|q| q.repo = Some("o/a".into())))
            .await
            .unwrap()),
        [4, 2, 1]
    );
    // A repository filter outside the readable ones finds nothing.
    assert!(s
        .decisions(&q(&|q| q.repo = Some("o/c".into())))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        prs(s.decisions(&q(&|q| q.pr = Some(3))).await.unwrap()),
        [3]
    );
    assert_eq!(
        prs(s.decisions(&q(&|q| q.passed = Some(false))).await.unwrap()),
        [2]
    );
    assert_eq!(
        prs(s
            .decisions(&q(&|q| q.path = Some("escalated".into())))
            .await
            .unwrap()),
        [2]
    );
    assert_eq!(
        prs(s
            .decisions(&q(&|q| q.path = Some("one_render".into())))
            .await
            .unwrap()),
        [1]
    );
    // Pages of two: the cursor is the last seq shown.
    let first = s.decisions(&q(&|q| q.limit = 2)).await.unwrap();
    assert_eq!(prs(first.clone()), [4, 3]);
    let before = first.last().unwrap().seq;
    let second = s
        .decisions(&q(&|q| {
            q.limit = 2;
            q.before = Some(before)
        }))
        .await
        .unwrap();
    assert_eq!(prs(second), [2, 1]);
    // Nobody readable: nothing.
    assert!(s
        .decisions(&DecisionQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
    let (repo, yaml) = s.ledger_record(3).await.unwrap().unwrap();
    assert_eq!(repo, "o/b");
    assert!(yaml.contains("pr: 3"), "{yaml}");
    assert_eq!(s.decision_repos().await.unwrap(), ["o/a", "o/b", "o/c"]);
}
