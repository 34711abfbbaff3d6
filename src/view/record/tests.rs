use super::*;
use crate::meta::hash::Sha256Hash;

/// An escalated record whose renders differ on one operator, with hostile text in an
/// auditor's reason, the judge's reason, a file name and an entity.
pub(crate) const ESCALATED: &str = r#"
version: 1
repo: octo/widgets
change: {pr: 7, base: 1111111111111111111111111111111111111111, head: 2222222222222222222222222222222222222222}
renders:
  a: {commit: 2222222222222222222222222222222222222222, explanation_source: pr_body}
  b: {commit: 3333333333333333333333333333333333333333, source: "pr#8"}
ast_diff:
  variance_percent: 12.5
  threshold_percent: 3.0
  agreed: false
  differences:
    - path: "src/<script>alert(1)</script>.py"
      entity: "def check"
      a: {start: 10, end: 11}
      b: {start: 10, end: 12}
      a_lines: ["if n > 3:", "return True"]
      b_lines: ["if n >= 3:", "return True", "log(n)"]
      edits: 2
explanations:
  hash_match: false
  similarity: 0.42
  threshold: 0.85
  agreed: false
  status: not_judged
  judge: {name: judge, reason: "<img src=x onerror=alert(2)>"}
audit:
  required: 2
  votes:
    - {auditor: rule-guard, verdict: approve, findings: 0, kind: rules}
    - {auditor: reviewer-1, verdict: reject, findings: 2, kind: model, reason: "<script>alert('x')</script> is unsafe", cost_usd: 0.004}
    - {auditor: reviewer-2, verdict: abstain, reason: "daily budget spent", kind: model}
gate:
  path: escalated
  why: the renders differ
  basis: quorum
  mode: normal
  quorum: 2
  escalation_quorum: all
  agreement_counts_as_vote: false
  skip_paid_auditors: false
  reason: 1 of 3 approvals, all required
  to_pass: ["every auditor approves"]
  differences: ["src/x.py def check: 2 update (A 10-11, B 10-12)"]
quorum_passed: false
created_at: "2026-12-01T10:00:00Z"
"#;

pub(crate) fn sealed(text: &str) -> String {
    MetaRecord::from_yaml(text)
        .unwrap()
        .seal(&Sha256Hash::from_bytes([0; 32]))
        .unwrap()
        .to_yaml()
        .unwrap()
}

fn page(text: &str, sig: Signature) -> String {
    standalone(&RecordView::from_yaml(text, sig).unwrap()).unwrap()
}

#[test]
fn the_verdict_comes_first_then_path_votes_renders_differences_explanations_hashes() {
    let html = page(&sealed(ESCALATED), Signature::Unsigned);
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} not in the page:\n{html}"))
    };
    let order = [
        "id=\"verdict\"",
        "id=\"path\"",
        "id=\"votes\"",
        "id=\"renders\"",
        "id=\"differences\"",
        "id=\"explanations\"",
        "id=\"hashes\"",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{} before {}", pair[0], pair[1]);
    }
    assert!(html.contains("BLOCKED"));
    assert!(html.contains(">escalated</span> the renders differ"));
    assert!(html.contains("12.50 % (threshold 3.00 %)"));
    assert!(html.contains("lexical similarity 0.42 (threshold 0.85)"));
    assert!(html.contains("verified: record_hash recomputes"), "{html}");
    assert!(html.contains("not signed"));
    assert!(html.contains("every auditor approves"));
}

#[test]
fn the_differing_tokens_of_render_a_and_render_b_are_marked_side_by_side() {
    let view = RecordView::from_yaml(&sealed(ESCALATED), Signature::NotChecked).unwrap();
    assert_eq!(view.differences.len(), 1);
    let d = &view.differences[0];
    assert_eq!(d.entity, "def check");
    assert_eq!(
        (d.a_range.as_str(), d.b_range.as_str()),
        ("lines 10–11", "lines 10–12")
    );
    // `if n > 3:` / `if n >= 3:` paired and marked, `return True` equal, `log(n)` only in B.
    assert_eq!(view.differing_rows(), 2);
    let html = standalone(&view).unwrap();
    assert!(html.contains("<mark>&#62;</mark>"), "{html}");
    assert!(html.contains("<mark>&#62;=</mark>"), "{html}");
    assert!(
        html.contains("class=\"b only\"><mark>log(n)</mark>"),
        "{html}"
    );
    assert!(html.contains("class=\"a same\">return True"), "{html}");
}

#[test]
fn every_text_from_the_record_is_escaped() {
    let html = page(&sealed(ESCALATED), Signature::Invalid("<b>bad</b>".into()));
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>bad"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;.py"),
        "{html}"
    );
    assert!(
        html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; is unsafe"),
        "{html}"
    );
    assert!(
        html.contains("&#60;img src=x onerror=alert(2)&#62;"),
        "{html}"
    );
}

#[test]
fn the_page_stands_alone() {
    let html = page(&sealed(ESCALATED), Signature::NotChecked);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>"));
    for outside in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
}

#[test]
fn a_record_that_does_not_verify_is_shown_and_says_so() {
    let tampered = sealed(ESCALATED).replace("variance_percent: 12.5", "variance_percent: 1.5");
    let view = RecordView::from_yaml(&tampered, Signature::NotChecked).unwrap();
    assert!(!view.verified);
    let html = standalone(&view).unwrap();
    assert!(html.contains("id=\"not-verified\""), "{html}");
    assert!(html.contains("DOES NOT VERIFY"), "{html}");
    // Unsealed is not verified either.
    let view = RecordView::from_yaml(ESCALATED, Signature::NotChecked).unwrap();
    assert!(!view.verified);
}

#[test]
fn text_that_is_no_record_is_an_error_not_a_page() {
    for text in ["", "a: 1\n", "fn main() {}\n", "- 1\n- 2\n"] {
        let e = RecordView::from_yaml(text, Signature::NotChecked).err();
        assert!(
            matches!(e, Some(ViewError::NotARecord(_))),
            "{text:?}: {e:?}"
        );
    }
}

#[test]
fn signature_states_are_told_apart() {
    let text = sealed(ESCALATED);
    let sig = |s| RecordView::from_yaml(&text, s).unwrap().signature;
    assert_eq!(sig(Signature::Unsigned), "not signed");
    assert!(sig(Signature::SignedBy("ops@example.org".into())).contains("signed by ops@"));
    assert!(sig(Signature::Invalid("wrong key".into())).starts_with("INVALID"));
    assert!(sig(Signature::Present).contains("not checked"));
}

#[test]
fn a_one_render_record_without_gate_or_differences_renders() {
    let one = sealed(
        "version: 1\nrepo: o/r\nchange: {pr: null, base: b, head: h}\nrenders:\n  a: {commit: h}\n\
         ast_diff: {variance_percent: 0.0, threshold_percent: 3.0, agreed: true, renders: 1}\n\
         audit: {required: 2, votes: []}\nquorum_passed: false\n",
    );
    let html = page(&one, Signature::NotChecked);
    assert!(html.contains("one render, no variance"), "{html}");
    assert!(html.contains("made before decision paths"));
    assert!(!html.contains("id=\"differences\""));
}

/// `ESCALATED` with the hashes of render A's and B's explanations and of reviewer-1's, sealed.
fn with_explanation_hashes() -> (String, MetaRecord) {
    use crate::meta::canonical::{hash_explanation, Explanation};
    let h = |t: &str| hash_explanation(&Explanation::new(t)).unwrap().to_string();
    let mut r = MetaRecord::from_yaml(ESCALATED).unwrap();
    r.renders.a.explanation_hash = Some(h("Retry <b>with</b> backoff."));
    r.renders.b.as_mut().unwrap().explanation_hash = Some(h("Retry linearly."));
    r.audit.votes[1].explanation_hash = Some(h("Unsafe: <script>x()</script>"));
    r.audit.votes[2].explanation_hash = Some(h("the key AKIA…"));
    let sealed = r.seal(&Sha256Hash::from_bytes([0; 32])).unwrap();
    (sealed.to_yaml().unwrap(), sealed)
}

#[test]
fn kept_explanation_texts_are_shown_escaped_and_checked_against_their_hashes() {
    use crate::meta::texts::{ExplanationTexts, KeptText, VoteText};
    let (yaml, record) = with_explanation_hashes();
    let same = |t: &str| t.to_string();
    let texts = ExplanationTexts {
        record_hash: record.record_hash.clone().unwrap(),
        a: Some(KeptText::keep("Retry <b>with</b> backoff.", &same)),
        // Not what was hashed.
        b: Some(KeptText::keep("Retry exponentially.", &same)),
        votes: vec![
            VoteText::keep(
                "reviewer-1",
                "Unsafe: <script>x()</script>",
                Vec::new(),
                &same,
            ),
            VoteText::keep("reviewer-2", "the key AKIA…", Vec::new(), &|t: &str| {
                t.replace("AKIA…", "[REDACTED:aws]")
            }),
        ],
    };
    let view = RecordView::from_yaml_with(&yaml, Signature::NotChecked, Some(&texts)).unwrap();
    assert!(view.texts_kept);
    assert_eq!(view.text_a.as_ref().unwrap().class, "ok");
    assert!(view.text_b.as_ref().unwrap().check.starts_with("MISMATCH"));
    assert_eq!(view.votes[1].explanation.as_ref().unwrap().class, "ok");
    let masked = view.votes[2].explanation.as_ref().unwrap();
    assert!(masked.check.contains("masked"), "{}", masked.check);
    assert_eq!(masked.text, "the key [REDACTED:aws]");
    assert!(
        view.votes[0].explanation.is_none(),
        "rule-guard said nothing kept"
    );
    let html = standalone(&view).unwrap();
    assert!(html.contains("id=\"explanation-a\">Retry &#60;b&#62;with&#60;/b&#62; backoff."));
    assert!(
        html.contains("Unsafe: &#60;script&#62;x()&#60;/script&#62;"),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("<b>with"),
        "{html}"
    );
    assert!(html.contains("MISMATCH: the text does not hash to the recorded hash"));
    assert!(!html.contains("id=\"texts-not-kept\""));

    let texts_again = texts.clone();
    // Texts kept for another record are none: the page shows the hashes only, and says so.
    let other = ExplanationTexts {
        record_hash: "sha256:other".into(),
        ..texts
    };
    let view = RecordView::from_yaml_with(&yaml, Signature::NotChecked, Some(&other)).unwrap();
    assert!(!view.texts_kept && view.text_a.is_none() && view.votes[1].explanation.is_none());
    let html = standalone(&view).unwrap();
    assert!(html.contains("id=\"texts-not-kept\""), "{html}");
    // ... and why: they are another record's.
    let problem = html
        .split("id=\"texts-problem\">")
        .nth(1)
        .unwrap_or_default();
    assert!(
        problem.starts_with("the explanation texts kept for this record are of another record"),
        "{html}"
    );
    assert!(problem.contains("sha256:other"), "{html}");

    // Texts that could not be read: the record is still shown, with the reason.
    let why = "the explanation texts note (refs/notes/patchgate-texts) is not the explanation \
               texts of a record (EOF): not shown";
    let view = RecordView::from_yaml_found(
        &yaml,
        Signature::NotChecked,
        FoundTexts::problem(why.to_string()),
    )
    .unwrap();
    assert!(!view.texts_kept && view.verified);
    let html = standalone(&view).unwrap();
    assert!(
        html.contains("id=\"texts-problem\">the explanation texts note"),
        "{html}"
    );
    assert!(html.contains("id=\"texts-not-kept\""), "{html}");
    // Found: the same page as with the texts given.
    let found =
        RecordView::from_yaml_found(&yaml, Signature::NotChecked, FoundTexts::texts(texts_again))
            .unwrap();
    assert!(found.texts_kept && found.texts_problem.is_none());
}

#[test]
fn a_signature_is_looked_for_among_every_one_the_head_carried() {
    let text = sealed(ESCALATED);
    assert_eq!(Signature::of(&[], &text, Some("keys")), Signature::Unsigned);
    let sigs = ["sig one".to_string(), "sig two".to_string()];
    assert_eq!(Signature::of(&sigs, &text, None), Signature::Present);
    // Keys that are no keys: the reason, and how many signatures were tried.
    match Signature::of(&sigs, &text, Some("not a key")) {
        Signature::Invalid(why) => {
            assert!(why.contains("none of the 2 signatures"), "{why}");
            assert!(why.contains("the allowed keys"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}
