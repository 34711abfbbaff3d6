//! The decision record as a page: the verdict first, then the path, the votes, the renders and
//! their variance, render A beside render B where they differ, the explanations and their
//! similarity, and the hashes with their verification and signature.
//!
//! [`RecordView`] is what the templates read, built from the record's `meta.yaml` text as it
//! was stored (so the page says whether *that text* verifies). [`standalone`] is the one-file
//! page of `patchgate report --html` (inline CSS, no script, no link out); the server shows
//! the same body inside its own layout. Every text from the record is escaped by the template.

use askama::Template;
use serde::Deserialize;

use super::sidebyside::{rows, Row};
use crate::meta::decision::{ExplanationsState, Path};
use crate::meta::notes::check_signature;
use crate::meta::record::{verify_yaml, MetaRecord, RecordError};
use crate::meta::texts::{ExplanationTexts, FoundTexts, TextCheck};

/// What is known of the record's signature (`refs/notes/patchgate-signatures`, or `FILE.sig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// Not looked for (no signature is kept where the record came from).
    NotChecked,
    /// No signature accompanies the record.
    Unsigned,
    /// A signature is there, but no allowed signers were given to check it against.
    Present,
    /// The signature verifies; by whom.
    SignedBy(String),
    /// The signature does not verify, and why.
    Invalid(String),
}

impl Signature {
    /// What the signatures kept for a record's commit (newest first; see
    /// `crate::meta::notes::signature_history`) say of the record's `text`, checked against
    /// `allowed_signers` (`None`: none given, so nothing is checked).
    pub fn of(signatures: &[String], text: &str, allowed_signers: Option<&str>) -> Signature {
        if signatures.is_empty() {
            return Signature::Unsigned;
        }
        let Some(keys) = allowed_signers else {
            return Signature::Present;
        };
        let mut first = None;
        for sig in signatures {
            match check_signature(text, Some(sig), keys) {
                Ok(by) => return Signature::SignedBy(by),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        let why = first.unwrap_or_default();
        Signature::Invalid(match signatures.len() {
            1 => why,
            n => format!(
                "none of the {n} signatures kept for this head verifies this record ({why})"
            ),
        })
    }

    fn class(&self) -> &'static str {
        match self {
            Signature::SignedBy(_) => "ok",
            Signature::Invalid(_) => "bad",
            _ => "muted",
        }
    }

    fn text(&self) -> String {
        match self {
            Signature::NotChecked => "not checked".into(),
            Signature::Unsigned => "not signed".into(),
            Signature::Present => {
                "signed; not checked (give the allowed signers to check it)".into()
            }
            Signature::SignedBy(by) => format!("verified, signed by {by}"),
            Signature::Invalid(why) => format!("INVALID: {why}"),
        }
    }
}

/// One vote as shown.
pub struct VoteRow {
    pub auditor: String,
    pub kind: String,
    pub verdict: String,
    pub findings: u64,
    pub reason: String,
    pub cost: String,
    pub explanation_hash: String,
    /// What the auditor said, when it is kept.
    pub explanation: Option<TextView>,
}

/// An explanation's text as kept beside the record, and whether it hashes to the recorded hash.
pub struct TextView {
    pub text: String,
    pub class: &'static str,
    pub check: String,
}

impl TextView {
    fn new(text: &str, check: TextCheck) -> Self {
        let (class, check) = match check {
            TextCheck::Matches => ("ok", "the text hashes to the recorded hash"),
            TextCheck::Differs => (
                "bad",
                "MISMATCH: the text does not hash to the recorded hash",
            ),
            TextCheck::Masked => (
                "muted",
                "secrets were masked out of it, so it is not the hashed text and is not checked",
            ),
            TextCheck::NoHash => ("muted", "the record has no hash for it"),
        };
        TextView {
            text: text.to_string(),
            class,
            check: check.to_string(),
        }
    }
}

/// One entity on which the renders differ, with render A beside render B.
pub struct DifferenceView {
    pub path: String,
    pub entity: String,
    pub a_range: String,
    pub b_range: String,
    pub edits: usize,
    pub rows: Vec<Row>,
}

/// `ast_diff.differences` as written by the gate (`astdiff::differences::Difference`).
#[derive(Deserialize)]
struct StoredDifference {
    path: String,
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    a: Option<StoredRange>,
    #[serde(default)]
    b: Option<StoredRange>,
    #[serde(default)]
    a_lines: Vec<String>,
    #[serde(default)]
    b_lines: Vec<String>,
    #[serde(default)]
    edits: usize,
}

#[derive(Deserialize)]
struct StoredRange {
    start: u32,
    end: u32,
}

fn range(r: &Option<StoredRange>) -> String {
    match r {
        Some(r) if r.start == r.end => format!("line {}", r.start),
        Some(r) => format!("lines {}–{}", r.start, r.end),
        None => "absent".into(),
    }
}

/// The explanations of the two renders, compared.
pub struct ExplanationsView {
    pub hash_a: String,
    pub hash_b: String,
    pub hash_match: bool,
    pub similarity: String,
    pub threshold: String,
    pub status: String,
    pub agreed: bool,
    pub judge: Option<String>,
}

/// Everything the record page shows (`templates/record_body.html` reads it as `r`).
pub struct RecordView {
    pub title: String,
    pub passed: bool,
    pub repo: String,
    pub pr: Option<u64>,
    pub base: String,
    pub head: String,
    pub created_at: String,
    pub made_by: String,
    /// `agreed`, `escalated`, `one render`; empty for a record made before decision paths.
    pub path: String,
    pub path_class: &'static str,
    pub why: String,
    pub reason: String,
    pub basis: String,
    pub to_pass: Vec<String>,
    pub human: Option<String>,
    pub required: u32,
    pub approvals: usize,
    pub votes: Vec<VoteRow>,
    pub render_a: String,
    pub render_a_source: String,
    pub render_b: Option<(String, String)>,
    pub variance: String,
    pub threshold: String,
    pub renders_agreed: bool,
    pub differences: Vec<DifferenceView>,
    /// `gate.differences`: one line per entity (when `ast_diff.differences` is absent).
    pub entity_lines: Vec<String>,
    /// Why the stored differences could not be shown, if they could not.
    pub differences_problem: Option<String>,
    pub excluded: Vec<String>,
    pub explanations: Option<ExplanationsView>,
    /// Render A's and render B's explanations, when their texts are kept.
    pub text_a: Option<TextView>,
    pub text_b: Option<TextView>,
    /// Whether the texts were kept beside the record (else only their hashes are shown).
    pub texts_kept: bool,
    /// Why texts kept beside the record are not shown (another record's, or no texts at all).
    pub texts_problem: Option<String>,
    pub record_hash: String,
    pub prev_record_hash: String,
    pub verified: bool,
    pub verification: String,
    pub signature_class: &'static str,
    pub signature: String,
}

/// The one-file page of `patchgate report --html`: the record's body with inline CSS.
#[derive(Template)]
#[template(path = "record.html")]
struct Standalone<'a> {
    r: &'a RecordView,
}

/// Why a text could not be shown as a record.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("not a patchgate decision record: {0}")]
    NotARecord(#[from] RecordError),
    #[error("the page could not be rendered: {0}")]
    Render(#[from] askama::Error),
}

/// A unit enum as the record spells it (`agreement_vote`, `rules`).
fn snake<T: serde::Serialize>(t: T) -> String {
    match serde_json::to_value(t) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn num(x: f64) -> String {
    format!("{x:.2}")
}

impl RecordView {
    /// The page of `meta.yaml` text: parsed (any text that is no record is an error), and
    /// verified as it is (a record that does not verify is still shown, marked as such).
    pub fn from_yaml(text: &str, signature: Signature) -> Result<Self, ViewError> {
        Self::from_yaml_with(text, signature, None)
    }

    /// [`RecordView::from_yaml`] with the explanation texts kept beside the record: each shown
    /// and checked against its recorded hash. Texts kept for another record are not shown, and
    /// the page says so ([`RecordView::texts_problem`]).
    pub fn from_yaml_with(
        text: &str,
        signature: Signature,
        texts: Option<&ExplanationTexts>,
    ) -> Result<Self, ViewError> {
        let r = MetaRecord::from_yaml(text)?;
        let verification = verify_yaml(text).map(|_| ());
        let problem = texts
            .filter(|t| Some(&t.record_hash) != r.record_hash.as_ref())
            .map(|t| t.foreign(r.record_hash.as_deref()));
        let texts = texts.filter(|t| Some(&t.record_hash) == r.record_hash.as_ref());
        let mut view = Self::build(&r, verification, signature, texts);
        view.texts_problem = problem;
        Ok(view)
    }

    /// [`RecordView::from_yaml_with`] with the texts as found where they are kept
    /// ([`FoundTexts`]): what was found is shown, and what is wrong with it said on the page
    /// ([`RecordView::texts_problem`]); the record is always shown.
    pub fn from_yaml_found(
        text: &str,
        signature: Signature,
        found: FoundTexts,
    ) -> Result<Self, ViewError> {
        let mut view = Self::from_yaml_with(text, signature, found.texts.as_ref())?;
        if let Some(why) = found.problem {
            view.texts_problem = Some(match view.texts_problem.take() {
                Some(first) => format!("{first}; {why}"),
                None => why,
            });
        }
        Ok(view)
    }

    fn build(
        r: &MetaRecord,
        verification: Result<(), RecordError>,
        sig: Signature,
        texts: Option<&ExplanationTexts>,
    ) -> Self {
        let gate = r.gate.as_ref();
        let (path, path_class) = match gate.map(|g| g.path) {
            Some(Path::Agreed) => ("agreed".to_string(), "ok"),
            Some(Path::Escalated) => ("escalated".to_string(), "warn"),
            Some(Path::OneRender) => ("one render".to_string(), "muted"),
            None => (String::new(), "muted"),
        };
        let votes = r
            .audit
            .votes
            .iter()
            .map(|v| VoteRow {
                auditor: v.auditor.clone(),
                kind: v.kind.map(snake).unwrap_or_default(),
                verdict: v.verdict.to_string(),
                findings: v.findings,
                reason: v.reason.clone().unwrap_or_default(),
                cost: v.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_default(),
                explanation_hash: v.explanation_hash.clone().unwrap_or_default(),
                explanation: texts
                    .and_then(|t| t.vote(&v.auditor))
                    .filter(|k| !k.text.is_empty() || v.explanation_hash.is_some())
                    .map(|k| TextView::new(&k.text, k.check(v.explanation_hash.as_deref()))),
            })
            .collect();
        let (differences, differences_problem) = match r.ast_diff.extra.get("differences") {
            None => (Vec::new(), None),
            Some(v) => match serde_json::from_value::<Vec<StoredDifference>>(v.clone()) {
                Ok(ds) => (
                    ds.into_iter()
                        .map(|d| DifferenceView {
                            rows: rows(&d.a_lines, &d.b_lines),
                            a_range: range(&d.a),
                            b_range: range(&d.b),
                            entity: d.entity.unwrap_or_else(|| "(top level)".into()),
                            path: d.path,
                            edits: d.edits,
                        })
                        .collect(),
                    None,
                ),
                Err(e) => (Vec::new(), Some(format!("ast_diff.differences: {e}"))),
            },
        };
        let excluded = match r.ast_diff.extra.get("excluded") {
            Some(serde_json::Value::Array(xs)) => xs
                .iter()
                .map(|x| match x {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let explanations = r.explanations.as_ref().map(|e| ExplanationsView {
            hash_a: r.renders.a.explanation_hash.clone().unwrap_or_default(),
            hash_b: r
                .renders
                .b
                .as_ref()
                .and_then(|b| b.explanation_hash.clone())
                .unwrap_or_default(),
            hash_match: e.hash_match,
            similarity: num(e.similarity),
            threshold: num(e.threshold),
            status: match e.state() {
                ExplanationsState::Absent => "absent",
                ExplanationsState::Identical => "identical",
                ExplanationsState::JudgedSame => "judged the same",
                ExplanationsState::JudgedDifferent => "judged different",
                ExplanationsState::NotJudged => "not judged",
            }
            .into(),
            agreed: e.agreed,
            judge: e.judge.as_ref().map(|j| {
                let score = j
                    .score
                    .map(|s| format!(" score {s:.2}"))
                    .unwrap_or_default();
                format!("{}{score}: {}", j.name, j.reason)
            }),
        });
        let (verified, verification) = match verification {
            Ok(()) => (
                true,
                "verified: record_hash recomputes from the record".into(),
            ),
            Err(e) => (false, format!("DOES NOT VERIFY: {e}")),
        };
        RecordView {
            title: match r.change.pr {
                Some(pr) => format!("{} #{pr}", r.repo),
                None => format!("{} {}", r.repo, short(&r.change.head)),
            },
            passed: r.quorum_passed,
            repo: r.repo.clone(),
            pr: r.change.pr,
            base: r.change.base.clone(),
            head: r.change.head.clone(),
            created_at: r.created_at.clone().unwrap_or_default(),
            made_by: r.patchgate_version.clone().unwrap_or_default(),
            path,
            path_class,
            why: gate.map(|g| g.why.clone()).unwrap_or_default(),
            reason: gate
                .map(|g| g.reason.clone())
                .or_else(|| r.decision.as_ref().map(|d| d.reason.clone()))
                .unwrap_or_default(),
            basis: gate.map(|g| snake(g.basis)).unwrap_or_default(),
            to_pass: gate.map(|g| g.to_pass.clone()).unwrap_or_default(),
            human: gate.and_then(|g| g.human.as_ref()).map(|h| {
                let stands = if h.head == r.change.head {
                    "on this head"
                } else {
                    "void: given on an earlier head"
                };
                format!(
                    "{} by @{} ({}), {stands}: {}",
                    h.verdict, h.by, h.permission, h.reason
                )
            }),
            required: r.audit.required,
            approvals: r.audit.approvals(),
            votes,
            render_a: r.renders.a.commit.clone(),
            render_a_source: r
                .renders
                .a
                .explanation_source
                .map(|s| s.to_string())
                .unwrap_or_default(),
            render_b: r
                .renders
                .b
                .as_ref()
                .map(|b| (b.commit.clone(), b.source.clone())),
            variance: num(r.ast_diff.variance_percent),
            threshold: num(r.ast_diff.threshold_percent),
            renders_agreed: r.ast_diff.agreed,
            differences,
            entity_lines: gate.map(|g| g.differences.clone()).unwrap_or_default(),
            differences_problem,
            excluded,
            explanations,
            text_a: texts
                .and_then(|t| t.a.as_ref())
                .map(|k| TextView::new(&k.text, k.check(r.renders.a.explanation_hash.as_deref()))),
            text_b: texts.and_then(|t| t.b.as_ref()).map(|k| {
                let recorded = r
                    .renders
                    .b
                    .as_ref()
                    .and_then(|b| b.explanation_hash.as_deref());
                TextView::new(&k.text, k.check(recorded))
            }),
            texts_kept: texts.is_some(),
            texts_problem: None,
            record_hash: r.record_hash.clone().unwrap_or_default(),
            prev_record_hash: r.prev_record_hash.clone().unwrap_or_default(),
            verified,
            verification,
            signature_class: sig.class(),
            signature: sig.text(),
        }
    }

    /// Rows of the side-by-side view that differ, over all entities.
    pub fn differing_rows(&self) -> usize {
        self.differences
            .iter()
            .map(|d| d.rows.iter().filter(|r| r.differs()).count())
            .sum()
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The one-file HTML page of a record (`patchgate report --html`).
pub fn standalone(view: &RecordView) -> Result<String, ViewError> {
    Ok(Standalone { r: view }.render()?)
}

#[cfg(test)]
mod tests;
