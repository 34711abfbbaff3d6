//! The decision record, `meta.yaml`: what was compared, every vote and hash, `quorum_passed`,
//! the previous record's hash and the record's own hash.
//!
//! # Shape
//!
//! The field names are an interface (`docs/architecture.md`, "The decision record"): new fields may be added, none
//! renamed. [`MetaRecord::to_yaml`] writes, in this order:
//!
//! ```yaml
//! version: 1
//! repo: owner/name
//! change: {pr: 123, base: <sha>, head: <sha>}      # pr: null for a local range
//! renders:
//!   a: {commit: <sha>, explanation_hash: "sha256:…", explanation_source: pr_body}
//!   b: {commit: <sha>, source: "pr#124", explanation_hash: "sha256:…"}   # only with two renders
//! ast_diff: {variance_percent: 1.8, threshold_percent: 3.0, agreed: true}
//! explanations: {hash_match: false, similarity: 0.91, threshold: 0.85, agreed: true,  # only with two explanations
//!                status: judged_same, judge: {name: judge, score: 0.9, reason: "…", cost_usd: 0.0004}}
//! audit:
//!   required: 2                                   # the path's quorum (escalated: its own)
//!   votes:
//!     - {auditor: rule-guard, verdict: approve, findings: 0, explanation_hash: "sha256:…", cost_usd: 0.0, kind: rules}
//!     - {auditor: reviewer-2, verdict: abstain, reason: "daily budget spent", findings: 0, kind: model}
//! decision: {reason: "…", decided_by: [rule-guard, reviewer-1]}   # optional
//! gate:                                                            # optional (see below)
//!   {path: escalated, why: "the renders differ", basis: quorum, mode: normal, quorum: 2,
//!    escalation_quorum: all, agreement_counts_as_vote: false, skip_paid_auditors: false,
//!    reason: "…", to_pass: ["…"], differences: ["…"],
//!    human: {verdict: approve, by: maria, permission: maintain, reason: "…", head: <sha>}}
//! quorum_passed: true
//! created_at: "2026-11-23T01:00:00Z"                               # optional
//! patchgate_version: 0.1.0                                         # optional
//! prev_record_hash: "sha256:…"
//! record_hash: "sha256:…"
//! ```
//!
//! Optional members that are absent are not written at all (`renders.a.explanation_source`,
//! `renders.a.explanation_hash`, `renders.b`, `explanations`, a vote's `reason`,
//! `explanation_hash` and `cost_usd`, `decision`, `created_at`, `patchgate_version`);
//! `change.pr` is always written (`null` for a local range) and a vote's `findings` (a count)
//! always, `0` when reading a vote without it.
//!
//! # The hash
//!
//! `record_hash` is [`hash_record`] (`docs/canonical-form.md`, "The record hash") over the whole
//! record except its top-level `record_hash`. **Nothing else is excluded**: `created_at` and
//! `patchgate_version` are hashed too (a record says when and by what it was made; two records
//! of one decision made at different times are two records, and the chain orders them). The
//! hash of a record in memory is computed from the struct turned into a JSON value (floats are
//! kept bit for bit); the hash of a file is computed from the file parsed by `serde_yaml` into a
//! JSON value ([`verify_yaml`]) — never from text, so quoting, key order and comments do not
//! matter, and never through a lossy float parser.
//!
//! The YAML is read with the YAML 1.2 core schema (as `serde_yaml` does): an unquoted
//! `created_at: 2026-11-23T01:00:00Z` is a string. A verifier in another language must read it
//! the same way (PyYAML: drop the implicit timestamp resolver), or it hashes a date object
//! instead of the text. The literal record in `tests/meta_record.rs` was checked against the
//! independent `fixtures/meta/reference.py` this way.
//!
//! # Unknown fields
//!
//! Reading is tolerant of fields this version does not know, at every level: they are kept
//! (in the `extra` map of the struct they appear in) and written back, so a record written by a
//! newer patchgate still reads, verifies and round-trips here. A known field with the wrong
//! type is an error.
//!
//! # `quorum_passed`
//!
//! A record with a `gate` entry (every record made since decision paths) passes when the
//! decision table of [`super::decision`] passes it — recomputed from the record itself by
//! [`MetaRecord::gate_decision`]: renders that agree take the normal audit quorum; renders or
//! explanations that differ take the escalated audit (its own quorum, default every auditor);
//! a maintainer's vote counts for the head it was given on — and the record verifies.
//!
//! A record without one (made before) follows the older rule, [`quorum_passed`]: all of
//!
//! 1. the audit quorum passed (at least `audit.required` approvals; abstentions never count);
//! 2. the two renders agreed (`ast_diff.agreed`), or there was only one render;
//! 3. the two explanations agreed (`explanations.agreed`), where both exist;
//! 4. the record verifies (its hashes are well formed and `record_hash` matches).
//!
//! Anything undecided — an auditor down, a budget spent, a parse failure — is never a pass.
//!
//! # Explanations of renders
//!
//! A render's explanation comes from the PR body, the head commit's message, or a `meta.yaml`
//! the builder wrote — the first of those that says something, in that order — and the record
//! says which ([`render_explanation`], [`ExplanationSource`]).
//!
//! This module must never write a record whose `quorum_passed` is true unless the rule above
//! holds, and never call a record verified when any of its hashes cannot be recomputed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::{hash_record, CanonicalError};
use super::decision::{
    decide_gate, AuditorClass, Basis, CastVote, EscalatedQuorum, ExplanationsState, GateDecision,
    GateFacts, HumanVote, Path, Policy, RendersState,
};
use super::hash::Sha256Hash;
use super::ledger::NewLedgerRow;
use crate::audit::decide::Decision;
use crate::audit::vote::AuditMode;
use crate::audit::vote::{Verdict, Vote};

/// The `version` this code writes.
pub const RECORD_VERSION: u32 = 1;

/// Unknown members of an object, kept as read and written back.
pub type Extra = BTreeMap<String, Value>;

/// The decision record (`meta.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaRecord {
    pub version: u32,
    /// `owner/name` (or a local repository's name).
    pub repo: String,
    pub change: ChangeRef,
    pub renders: Renders,
    pub ast_diff: AstDiffSummary,
    /// Only when both renders have an explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanations: Option<ExplanationsSummary>,
    pub audit: AuditSummary,
    /// The quorum's one-line reason and the auditors that decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionSummary>,
    /// The path the change took and why (records made since decision paths; see
    /// [`super::decision`]). When present, `quorum_passed` follows the decision table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateSummary>,
    pub quorum_passed: bool,
    /// RFC 3339 time the record was made. Hashed like everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The patchgate version that made the record. Hashed like everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchgate_version: Option<String>,
    /// Set by [`MetaRecord::seal`]; absent on an unsealed record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_record_hash: Option<String>,
    /// Set by [`MetaRecord::seal`]; absent on an unsealed record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_hash: Option<String>,
    /// Top-level fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `change`: the pull request (if any) and the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRef {
    /// The PR number; `null` for a local range.
    #[serde(default)]
    pub pr: Option<u64>,
    pub base: String,
    pub head: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `renders`: render A (the PR head) and, when there is one, render B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Renders {
    pub a: RenderA,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<RenderB>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `renders.a`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderA {
    pub commit: String,
    /// Absent when the render has no explanation at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_source: Option<ExplanationSource>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `renders.b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderB {
    pub commit: String,
    /// Where render B came from: `pr#124`, a ref, a patch file.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_source: Option<ExplanationSource>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a render's explanation was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplanationSource {
    /// The pull request's description.
    PrBody,
    /// The head commit's message.
    CommitMessage,
    /// A `meta.yaml` the builder wrote (its `explanation` field).
    BuilderMeta,
}

impl fmt::Display for ExplanationSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExplanationSource::PrBody => "pr_body",
            ExplanationSource::CommitMessage => "commit_message",
            ExplanationSource::BuilderMeta => "builder_meta",
        })
    }
}

/// `ast_diff`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AstDiffSummary {
    pub variance_percent: f64,
    pub threshold_percent: f64,
    pub agreed: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `explanations`: render A's explanation against render B's.
///
/// `similarity` is the lexical measure ([`super::similarity`]), recorded as information;
/// `status` says what decided (identical hashes, the judge, or nothing: `not_judged`), and
/// `agreed` is true only for `identical` and `judged_same`. Records made before the judge
/// have no `status`: their `agreed` is the lexical measure's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationsSummary {
    pub hash_match: bool,
    pub similarity: f64,
    pub threshold: f64,
    pub agreed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ExplanationsState>,
    /// The judge's answer (or why it abstained), when a judge was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSummary>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `explanations.judge`: what the judge model answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    /// The judge's configured name.
    pub name: String,
    /// Its score in [0, 1]; absent when it abstained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Its reason, or why it abstained.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `gate`: the decision path ([`super::decision`]) and everything needed to recompute it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSummary {
    pub path: Path,
    /// Why this path.
    pub why: String,
    /// What settled the outcome.
    pub basis: Basis,
    /// `normal` or `degraded`.
    pub mode: AuditMode,
    /// `quorum.required`: approvals on the agreed and one-render paths.
    pub quorum: u32,
    /// `escalation.quorum`: `all` or a number.
    pub escalation_quorum: EscalatedQuorum,
    pub agreement_counts_as_vote: bool,
    pub skip_paid_auditors: bool,
    /// One line: why it passed or not.
    pub reason: String,
    /// What would let the change pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_pass: Vec<String>,
    /// Where the renders differ: one line per entity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// The maintainer's vote that stood when the record was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human: Option<HumanVote>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl From<&super::similarity::ExplanationComparison> for ExplanationsSummary {
    fn from(c: &super::similarity::ExplanationComparison) -> Self {
        ExplanationsSummary {
            hash_match: c.hash_match,
            similarity: c.similarity,
            threshold: c.threshold,
            agreed: c.agreed,
            status: None,
            judge: None,
            extra: Extra::new(),
        }
    }
}

impl ExplanationsSummary {
    /// What the table reads: `status` when recorded, else (an older record) what the lexical
    /// `agreed` meant then.
    pub fn state(&self) -> ExplanationsState {
        match self.status {
            Some(s) => s,
            None if self.hash_match => ExplanationsState::Identical,
            None if self.agreed => ExplanationsState::JudgedSame,
            None => ExplanationsState::JudgedDifferent,
        }
    }
}

/// `audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditSummary {
    pub required: u32,
    pub votes: Vec<VoteSummary>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AuditSummary {
    /// The number of `approve` votes.
    pub fn approvals(&self) -> usize {
        self.votes
            .iter()
            .filter(|v| v.verdict == Verdict::Approve)
            .count()
    }

    /// Whether the audit quorum passed: `required ≥ 1` and at least `required` approvals.
    pub fn passed(&self) -> bool {
        self.required >= 1 && self.approvals() >= self.required as usize
    }
}

/// One entry of `audit.votes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteSummary {
    pub auditor: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How many findings the auditor reported.
    #[serde(default)]
    pub findings: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// `rules`, `model` or `command` (records made since decision paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AuditorClass>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl VoteSummary {
    /// The summary of a vote. `explanation_hash` is the hash of what the auditor said (the
    /// caller computes it with [`hash_explanation`](super::hash_explanation)); `cost_usd` is
    /// left out for an abstention that cost nothing.
    pub fn from_vote(vote: &Vote, explanation_hash: Option<Sha256Hash>) -> Self {
        let cost_usd = if vote.verdict == Verdict::Abstain && vote.cost_usd == 0.0 {
            None
        } else {
            Some(vote.cost_usd)
        };
        VoteSummary {
            auditor: vote.auditor.clone(),
            verdict: vote.verdict,
            reason: vote.reason.clone(),
            findings: vote.findings.len() as u64,
            explanation_hash: explanation_hash.map(|h| h.to_string()),
            cost_usd,
            kind: None,
            extra: Extra::new(),
        }
    }
}

/// `decision`: the quorum's reason and deciders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionSummary {
    pub reason: String,
    #[serde(default)]
    pub decided_by: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl From<&Decision> for DecisionSummary {
    fn from(d: &Decision) -> Self {
        DecisionSummary {
            reason: d.reason.clone(),
            decided_by: d.decided_by.clone(),
            extra: Extra::new(),
        }
    }
}

/// The rule of `quorum_passed` for records **without** a `gate` entry (made before decision
/// paths, when any disagreement blocked); records with one follow [`decide_gate`] (see
/// [`MetaRecord::gate_decision`]).
///
/// True only when: the audit quorum passed (`audit_passed`); the two renders agreed
/// (`renders_agreed`, `None` when there was only one render); the two explanations agreed
/// (`explanations_agreed`, `None` when fewer than two explanations exist); and the record
/// verifies (`record_verifies`). Any `Some(false)` or any `false` makes it false.
pub fn quorum_passed(
    audit_passed: bool,
    renders_agreed: Option<bool>,
    explanations_agreed: Option<bool>,
    record_verifies: bool,
) -> bool {
    audit_passed
        && renders_agreed.unwrap_or(true)
        && explanations_agreed.unwrap_or(true)
        && record_verifies
}

/// A render's explanation and where it came from: the PR body, else the head commit's
/// message, else the `explanation` of a `meta.yaml` the builder wrote — the first that is
/// present and not blank. `None` when none says anything.
///
/// The text is returned as found (canonicalisation happens when it is hashed). A builder's
/// `meta.yaml` that does not parse, or has no string `explanation` (or `description`,
/// `summary`), says nothing.
pub fn render_explanation(
    pr_body: Option<&str>,
    commit_message: Option<&str>,
    builder_meta_yaml: Option<&str>,
) -> Option<(String, ExplanationSource)> {
    let said = |s: &&str| !s.trim().is_empty();
    if let Some(body) = pr_body.filter(said) {
        return Some((body.to_string(), ExplanationSource::PrBody));
    }
    if let Some(msg) = commit_message.filter(said) {
        return Some((msg.to_string(), ExplanationSource::CommitMessage));
    }
    let meta: serde_yaml::Value = serde_yaml::from_str(builder_meta_yaml?).ok()?;
    ["explanation", "description", "summary"]
        .iter()
        .find_map(|k| meta.get(k).and_then(|v| v.as_str()).filter(said))
        .map(|s| (s.to_string(), ExplanationSource::BuilderMeta))
}

/// Why a record could not be read, sealed or turned into a ledger row.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("meta.yaml does not parse: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("record has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
    #[error("record could not be turned into JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record is not sealed (no record_hash)")]
    NotSealed,
    #[error("record does not verify: {0}")]
    Verify(#[from] VerifyError),
}

/// One thing that is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("record is not sealed: no record_hash")]
    NotSealed,
    #[error("record is not sealed: no prev_record_hash")]
    NoPrev,
    #[error("{field} is not a sha256 hash ({value:?}): {why}")]
    MalformedHash {
        field: String,
        value: String,
        why: String,
    },
    #[error("record_hash mismatch: stored {stored} recomputed {recomputed}")]
    RecordHashMismatch { stored: String, recomputed: String },
    #[error("record has no canonical form: {0}")]
    Canonical(String),
    #[error("record is not a YAML mapping: {0}")]
    Unreadable(String),
    #[error(
        "quorum_passed is true but the rule does not hold (audit passed: {audit}, renders: {}, \
         explanations: {})",
        agreement_word(*renders),
        agreement_word(*explanations)
    )]
    QuorumClaimUnfounded {
        audit: bool,
        renders: Option<bool>,
        explanations: Option<bool>,
    },
    #[error(
        "quorum_passed is true but the decision table does not pass it ({path} path: {reason})"
    )]
    GateClaimUnfounded { path: Path, reason: String },
    #[error("gate.path is {recorded} but the record's renders and explanations give {recomputed}")]
    PathMismatch { recorded: Path, recomputed: Path },
}

/// How an optional agreement reads in a sentence: agreed, differ, or not compared.
fn agreement_word(agreed: Option<bool>) -> &'static str {
    match agreed {
        Some(true) => "agreed",
        Some(false) => "differ",
        None => "not compared",
    }
}

/// Everything that is wrong with a record (at least one thing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}

impl MetaRecord {
    /// The record as a JSON value: what is hashed.
    pub fn to_value(&self) -> Result<Value, RecordError> {
        Ok(serde_json::to_value(self)?)
    }

    /// The hash this record should carry (everything but `record_hash`). A NaN or infinite
    /// number has no canonical form (JSON cannot hold it) and is an error.
    pub fn compute_hash(&self) -> Result<Sha256Hash, RecordError> {
        if let Some(field) = self.non_finite_field() {
            return Err(CanonicalError::NonFiniteNumber(field.to_string()).into());
        }
        Ok(hash_record(&self.to_value()?)?)
    }

    /// The first known float field that is NaN or infinite, by name.
    fn non_finite_field(&self) -> Option<&'static str> {
        let mut floats = vec![
            ("ast_diff.variance_percent", self.ast_diff.variance_percent),
            (
                "ast_diff.threshold_percent",
                self.ast_diff.threshold_percent,
            ),
        ];
        if let Some(e) = &self.explanations {
            floats.push(("explanations.similarity", e.similarity));
            floats.push(("explanations.threshold", e.threshold));
            if let Some(j) = &e.judge {
                if let Some(x) = j.score {
                    floats.push(("explanations.judge.score", x));
                }
                if let Some(x) = j.cost_usd {
                    floats.push(("explanations.judge.cost_usd", x));
                }
            }
        }
        for v in &self.audit.votes {
            if let Some(c) = v.cost_usd {
                floats.push(("audit.votes[].cost_usd", c));
            }
        }
        floats
            .into_iter()
            .find(|(_, x)| !x.is_finite())
            .map(|(n, _)| n)
    }

    /// Chains the record after `prev` (the previous record's hash, or the genesis hash) and
    /// sets `record_hash`. Sealing again replaces both.
    pub fn seal(mut self, prev: &Sha256Hash) -> Result<MetaRecord, RecordError> {
        self.prev_record_hash = Some(prev.to_string());
        self.record_hash = None;
        let h = self.compute_hash()?;
        self.record_hash = Some(h.to_string());
        Ok(self)
    }

    /// Recomputes what can be recomputed from the record and names every difference: every
    /// `*_hash` field must be a well-formed `sha256:` hash, `record_hash` must be the hash of
    /// the rest, and a `quorum_passed: true` must follow from the votes, renders and
    /// explanations recorded ([`quorum_passed`]).
    pub fn verify(&self) -> Result<(), VerifyError> {
        if let Some(field) = self.non_finite_field() {
            return Err(VerifyError {
                problems: vec![Problem::Canonical(format!(
                    "{field} is not a finite number"
                ))],
            });
        }
        let value = self.to_value().map_err(|e| VerifyError {
            problems: vec![Problem::Canonical(e.to_string())],
        })?;
        let mut problems = verify_value(&value);
        if let Some(gate) = &self.gate {
            let d = self.gate_decision().expect("gate is present");
            if gate.path != d.path {
                problems.push(Problem::PathMismatch {
                    recorded: gate.path,
                    recomputed: d.path,
                });
            }
            if self.quorum_passed && !d.passed {
                problems.push(Problem::GateClaimUnfounded {
                    path: d.path,
                    reason: d.reason,
                });
            }
        } else if self.quorum_passed {
            let audit = self.audit.passed();
            let renders = self.renders.b.as_ref().map(|_| self.ast_diff.agreed);
            let explanations = self.explanations.as_ref().map(|e| e.agreed);
            if !quorum_passed(audit, renders, explanations, true) {
                problems.push(Problem::QuorumClaimUnfounded {
                    audit,
                    renders,
                    explanations,
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(VerifyError { problems })
        }
    }

    /// The decision table recomputed from what the record says (`None` without a `gate`
    /// entry): the renders, the explanations' status, every vote with its kind, the policy and
    /// the human vote it recorded, for the head it names.
    pub fn gate_decision(&self) -> Option<GateDecision> {
        let gate = self.gate.as_ref()?;
        let renders = match &self.renders.b {
            Some(_) if self.ast_diff.agreed => RendersState::Agreed,
            Some(_) => RendersState::Differ,
            None if self.ast_diff.extra.get("render_b_required") == Some(&Value::Bool(true)) => {
                RendersState::MissingRequired
            }
            None => RendersState::One,
        };
        let explanations = self
            .explanations
            .as_ref()
            .map_or(ExplanationsState::Absent, |e| e.state());
        let votes: Vec<CastVote> = self
            .audit
            .votes
            .iter()
            .map(|v| CastVote {
                auditor: &v.auditor,
                // A vote without a kind is never taken for Rule-Guard's.
                class: v.kind.unwrap_or(AuditorClass::Command),
                verdict: v.verdict,
            })
            .collect();
        let policy = Policy {
            required: gate.quorum as usize,
            escalated: gate.escalation_quorum,
            agreement_counts_as_vote: gate.agreement_counts_as_vote,
            skip_paid_auditors: gate.skip_paid_auditors,
            degraded: gate.mode == AuditMode::Degraded,
        };
        Some(decide_gate(&GateFacts {
            renders,
            explanations,
            votes: &votes,
            human: gate.human.as_ref(),
            head: &self.change.head,
            policy: &policy,
        }))
    }

    /// The record as `meta.yaml` text.
    pub fn to_yaml(&self) -> Result<String, RecordError> {
        Ok(serde_yaml::to_string(self)?)
    }

    /// Reads `meta.yaml` text. Unknown fields are kept (see the module doc). This does not
    /// verify; use [`verify_yaml`] for a file, which hashes exactly what the file holds.
    pub fn from_yaml(text: &str) -> Result<MetaRecord, RecordError> {
        Ok(serde_yaml::from_str(text)?)
    }

    /// The ledger row of a sealed record.
    pub fn ledger_row(&self) -> Result<NewLedgerRow, RecordError> {
        let (Some(record_hash), Some(prev)) = (&self.record_hash, &self.prev_record_hash) else {
            return Err(RecordError::NotSealed);
        };
        Ok(NewLedgerRow {
            record_hash: record_hash.clone(),
            prev_record_hash: prev.clone(),
            repo: self.repo.clone(),
            head: self.change.head.clone(),
            record_yaml: self.to_yaml()?,
        })
    }
}

/// Verifies `meta.yaml` text as it is: parses it (with `serde_yaml`, into a JSON value, so
/// numbers are exact and every field — known or not — is hashed), checks every hash in it
/// (see [`MetaRecord::verify`]) and returns the record.
pub fn verify_yaml(text: &str) -> Result<MetaRecord, RecordError> {
    let value: Value = serde_yaml::from_str(text)?;
    let record: MetaRecord = serde_json::from_value(value.clone())?;
    let mut problems = verify_value(&value);
    if let Err(e) = record.verify() {
        // The struct's own view adds the quorum rule; hash problems are already listed.
        for p in e.problems {
            if matches!(
                p,
                Problem::QuorumClaimUnfounded { .. }
                    | Problem::GateClaimUnfounded { .. }
                    | Problem::PathMismatch { .. }
            ) {
                problems.push(p);
            }
        }
    }
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(VerifyError { problems }.into())
    }
}

/// The hash problems of a record held as a JSON value: malformed `*_hash` fields (at any
/// depth), a missing or mismatched `record_hash`, a missing `prev_record_hash`.
pub fn verify_value(value: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(obj) = value.as_object() else {
        problems.push(Problem::Unreadable("not a mapping".into()));
        return problems;
    };
    check_hash_fields(value, "", &mut problems);
    if obj.get("prev_record_hash").is_none_or(|v| v.is_null()) {
        problems.push(Problem::NoPrev);
    }
    let stored = match obj.get("record_hash") {
        None | Some(Value::Null) => {
            problems.push(Problem::NotSealed);
            None
        }
        Some(v) => Some(v.as_str().unwrap_or_default().to_string()),
    };
    match hash_record(value) {
        Ok(recomputed) => {
            if let Some(stored) = stored {
                if stored != recomputed.to_string() {
                    problems.push(Problem::RecordHashMismatch {
                        stored,
                        recomputed: recomputed.to_string(),
                    });
                }
            }
        }
        Err(e) => problems.push(Problem::Canonical(e.to_string())),
    }
    problems
}

fn check_hash_fields(value: &Value, path: &str, problems: &mut Vec<Problem>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.ends_with("_hash") && !v.is_object() && !v.is_array() {
                    match v {
                        Value::Null => {}
                        Value::String(s) => {
                            if let Err(e) = s.parse::<Sha256Hash>() {
                                problems.push(Problem::MalformedHash {
                                    field: here,
                                    value: s.clone(),
                                    why: e.to_string(),
                                });
                            }
                        }
                        other => problems.push(Problem::MalformedHash {
                            field: here,
                            value: other.to_string(),
                            why: "not a string".into(),
                        }),
                    }
                } else {
                    check_hash_fields(v, &here, problems);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_hash_fields(v, &format!("{path}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
