//! The record's summaries: `ast_diff`, `explanations` (and the judge's), `gate`, `audit` with
//! its votes, and `decision`.

use serde::{Deserialize, Serialize};

use super::Extra;
use crate::audit::decide::Decision;
use crate::audit::vote::AuditMode;
use crate::audit::vote::{Verdict, Vote};
use crate::meta::decision::{
    AuditorClass, Basis, EscalatedQuorum, ExplanationsState, HumanVote, Path,
};
use crate::meta::hash::Sha256Hash;

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
/// `similarity` is the lexical measure ([`crate::meta::similarity`]), recorded as information;
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

/// `gate`: the decision path ([`crate::meta::decision`]) and everything needed to recompute it.
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

impl From<&crate::meta::similarity::ExplanationComparison> for ExplanationsSummary {
    fn from(c: &crate::meta::similarity::ExplanationComparison) -> Self {
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
    /// caller computes it with [`hash_explanation`](crate::meta::hash_explanation)); `cost_usd` is
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
