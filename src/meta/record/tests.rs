//! Unit tests of the decision record: sealing, verifying, round trips, the quorum rule.

use super::*;
use crate::audit::vote::{Verdict, Vote};
use crate::meta::hash::Sha256Hash;

fn h(s: &str) -> String {
    Sha256Hash::digest(s).to_string()
}

fn sample() -> MetaRecord {
    MetaRecord {
        version: RECORD_VERSION,
        repo: "o/r".into(),
        change: ChangeRef {
            pr: None,
            base: "b".into(),
            head: "h".into(),
            extra: Extra::new(),
        },
        renders: Renders {
            a: RenderA {
                commit: "h".into(),
                explanation_hash: Some(h("a")),
                explanation_source: Some(ExplanationSource::CommitMessage),
                extra: Extra::new(),
            },
            b: None,
            extra: Extra::new(),
        },
        ast_diff: AstDiffSummary {
            variance_percent: 0.1 + 0.2,
            threshold_percent: 3.0,
            agreed: true,
            extra: Extra::new(),
        },
        explanations: None,
        audit: AuditSummary {
            required: 2,
            votes: vec![
                VoteSummary::from_vote(
                    &Vote::new("x", Verdict::Approve),
                    Some(Sha256Hash::digest("x")),
                ),
                VoteSummary::from_vote(&Vote::new("y", Verdict::Approve), None),
            ],
            extra: Extra::new(),
        },
        decision: None,
        gate: None,
        quorum_passed: true,
        created_at: None,
        patchgate_version: None,
        prev_record_hash: None,
        record_hash: None,
        extra: Extra::new(),
    }
}

#[test]
fn unsealed_does_not_verify() {
    let e = sample().verify().unwrap_err();
    assert!(e.problems.contains(&Problem::NotSealed), "{e}");
}

#[test]
fn seal_verify_and_floats_survive_yaml() {
    let r = sample().seal(&Sha256Hash::from_bytes([0; 32])).unwrap();
    r.verify().unwrap();
    let yaml = r.to_yaml().unwrap();
    let back = verify_yaml(&yaml).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.ast_diff.variance_percent, 0.1 + 0.2);
}

#[test]
fn unknown_fields_are_kept_and_hashed() {
    let mut r = sample();
    r.extra
        .insert("future".into(), serde_json::json!({"k": [1, 2.5]}));
    r.change
        .extra
        .insert("title".into(), Value::String("t".into()));
    let r = r.seal(&Sha256Hash::digest("p")).unwrap();
    let yaml = r.to_yaml().unwrap();
    let back = verify_yaml(&yaml).unwrap();
    assert_eq!(back, r);
    let edited = yaml.replace("title: t", "title: u");
    assert_ne!(edited, yaml);
    let err = verify_yaml(&edited).unwrap_err().to_string();
    assert!(err.contains("record_hash mismatch"), "{err}");
}

#[test]
fn malformed_hash_is_named() {
    let mut r = sample().seal(&Sha256Hash::digest("p")).unwrap();
    r.audit.votes[0].explanation_hash = Some("sha256:XYZ".into());
    let e = r.verify().unwrap_err().to_string();
    assert!(e.contains("audit.votes[0].explanation_hash"), "{e}");
    assert!(e.contains("record_hash mismatch"), "{e}");
}

#[test]
fn unfounded_pass_is_named() {
    let mut r = sample();
    r.audit.votes[1].verdict = Verdict::Abstain;
    let r = r.seal(&Sha256Hash::digest("p")).unwrap();
    let e = r.verify().unwrap_err().to_string();
    assert!(e.contains("quorum_passed is true"), "{e}");
    assert!(!e.contains("record_hash mismatch"), "{e}");
}

#[test]
fn explanation_precedence() {
    use ExplanationSource::*;
    let meta = "explanation: from meta\n";
    assert_eq!(
        render_explanation(Some("body"), Some("msg"), Some(meta)),
        Some(("body".into(), PrBody))
    );
    assert_eq!(
        render_explanation(Some("  \n"), Some("msg"), Some(meta)),
        Some(("msg".into(), CommitMessage))
    );
    assert_eq!(
        render_explanation(None, None, Some(meta)),
        Some(("from meta".into(), BuilderMeta))
    );
    assert_eq!(render_explanation(None, None, Some(": [bad")), None);
    assert_eq!(render_explanation(None, None, None), None);
}
