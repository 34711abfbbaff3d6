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
//! `record_hash` is [`hash_record`](super::canonical::hash_record) (`docs/canonical-form.md`, "The record hash") over the whole
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

mod seal;
mod summary;
#[cfg(test)]
mod tests;
mod verify;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use summary::{
    AstDiffSummary, AuditSummary, DecisionSummary, ExplanationsSummary, GateSummary, JudgeSummary,
    VoteSummary,
};
pub use verify::{verify_value, verify_yaml, Problem, RecordError, VerifyError};

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
