//! The gate's decision table: which **path** a change takes (agreed, escalated, one render),
//! what that path requires, and whether the change passes — one pure function,
//! [`decide_gate`], used by the gate to decide and by [`MetaRecord::verify`] to check that a
//! record's `quorum_passed` follows from what it records.
//!
//! # Paths
//!
//! | renders | explanations | path |
//! | --- | --- | --- |
//! | one render (or a required render B missing) | — | `one_render` |
//! | two, agreed | absent, identical, judged the same, or not judged | `agreed` |
//! | two, agreed | judged different | `escalated` |
//! | two, differ | any | `escalated` |
//!
//! # What each path requires
//!
//! - `agreed` and `one_render`: the audit quorum as configured (`quorum.required` approvals).
//!   On `agreed` only, and only when Rule-Guard approves, the operator may let the agreement
//!   stand in for part of the audit: `agreement.counts_as_vote` (the agreement is one more
//!   approval) or `agreement.skip_paid_auditors` (the model auditors are not asked; every
//!   auditor that was asked must approve). Both are off by default.
//! - `escalated`: the escalated quorum (`escalation.quorum`, default `all`: every configured
//!   auditor approves, command auditors included). A Rule-Guard rejection blocks it whatever
//!   the count.
//! - Degraded mode (`--audit-mode degraded`, model auditors off): besides the above, an
//!   `agreed` change passes when Rule-Guard approves and every other auditor that is not a model
//!   approves — never an abstention counted as an approval.
//! - A required render B that is missing blocks (it is not a pass on one render).
//! - A maintainer's vote ([`HumanVote`]) counts only for the head commit it was given on (a new
//!   push voids it): `block` blocks; `approve` passes a change the auditors did not pass,
//!   unless Rule-Guard rejected it.
//!
//! # What it must never do
//!
//! Turn an abstention (an outage, a timeout, a spent budget, a malformed answer, an auditor
//! that was skipped), an error or a missing render into a pass, or let an agreement override a
//! Rule-Guard rejection. The property tests in this module check the whole table.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::audit::vote::Verdict;

/// The path a change takes through the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Two renders that agree: the normal audit quorum.
    Agreed,
    /// Renders or explanations that differ: the escalated audit.
    Escalated,
    /// One render: the normal audit quorum.
    OneRender,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Path::Agreed => "agreed",
            Path::Escalated => "escalated",
            Path::OneRender => "one render",
        })
    }
}

/// How the renders compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RendersState {
    /// Only render A.
    One,
    /// Only render A, and the repository requires a render B.
    MissingRequired,
    /// Two renders within the variance threshold.
    Agreed,
    /// Two renders beyond it (or otherwise escalated by the diff).
    Differ,
}

/// How the renders' explanations compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplanationsState {
    /// Fewer than two explanations: nothing to compare.
    Absent,
    /// Equal canonical hashes.
    Identical,
    /// The judge said they describe the same behaviour.
    JudgedSame,
    /// The judge said they do not.
    JudgedDifferent,
    /// No judge, or the judge abstained: recorded, neither passes nor blocks by itself.
    NotJudged,
}

/// What kind of auditor cast a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditorClass {
    /// The deterministic Rule-Guard.
    Rules,
    /// A model behind a paid endpoint.
    Model,
    /// An external program.
    Command,
}

/// One auditor's vote as the table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CastVote<'a> {
    pub auditor: &'a str,
    pub class: AuditorClass,
    pub verdict: Verdict,
}

/// The escalated quorum: every configured auditor, or at least a number of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EscalatedQuorum {
    #[default]
    All,
    AtLeast(usize),
}

impl fmt::Display for EscalatedQuorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EscalatedQuorum::All => f.write_str("all"),
            EscalatedQuorum::AtLeast(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for EscalatedQuorum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EscalatedQuorum::All => s.serialize_str("all"),
            EscalatedQuorum::AtLeast(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> Deserialize<'de> for EscalatedQuorum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(EscalatedQuorum::AtLeast(n as usize)),
            Raw::S(s) if s.trim().eq_ignore_ascii_case("all") => Ok(EscalatedQuorum::All),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "`{s}` is not a quorum: write `all` or a number of approvals"
            ))),
        }
    }
}

/// The operator's choices that shape the table (server config only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// `quorum.required`: approvals on the agreed and one-render paths.
    pub required: usize,
    /// `escalation.quorum`.
    pub escalated: EscalatedQuorum,
    /// `agreement.counts_as_vote`.
    pub agreement_counts_as_vote: bool,
    /// `agreement.skip_paid_auditors`.
    pub skip_paid_auditors: bool,
    /// `--audit-mode degraded`.
    pub degraded: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            required: 2,
            escalated: EscalatedQuorum::All,
            agreement_counts_as_vote: false,
            skip_paid_auditors: false,
            degraded: false,
        }
    }
}

/// `approve` or `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HumanVerdict {
    Approve,
    Block,
}

impl fmt::Display for HumanVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HumanVerdict::Approve => "approve",
            HumanVerdict::Block => "block",
        })
    }
}

/// A maintainer's decision (`/patchgate approve|block <reason>`), bound to one head commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanVote {
    pub verdict: HumanVerdict,
    /// The GitHub login.
    pub by: String,
    /// Their permission on the repository when they voted (`admin`, `maintain`, …).
    pub permission: String,
    pub reason: String,
    /// The head commit the vote was given on.
    pub head: String,
    /// RFC 3339 time of the vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// Everything the table reads.
#[derive(Debug, Clone, Copy)]
pub struct GateFacts<'a> {
    pub renders: RendersState,
    pub explanations: ExplanationsState,
    /// One vote per configured auditor.
    pub votes: &'a [CastVote<'a>],
    /// The standing human vote, if any (it counts only when `human.head == head`).
    pub human: Option<&'a HumanVote>,
    /// The head commit being decided.
    pub head: &'a str,
    pub policy: &'a Policy,
}

/// What settled the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The path's quorum of auditors (passed or not).
    Quorum,
    /// The normal quorum with the agreement counted as a vote.
    AgreementVote,
    /// Agreeing renders and Rule-Guard's approval, the model auditors not asked.
    AgreementSkip,
    /// Degraded mode: agreeing renders, Rule-Guard and every non-model auditor approving.
    Degraded,
    /// A maintainer's vote.
    Human,
    /// A required render B is missing.
    MissingRender,
}

/// The table's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDecision {
    pub path: Path,
    /// Why this path, in words.
    pub why: String,
    pub passed: bool,
    pub basis: Basis,
    /// Approvals the path's quorum needs (the number of auditors for `all`).
    pub required: usize,
    /// Approvals cast by auditors (never counting an agreement or a human).
    pub approvals: usize,
    /// One line saying why it passed or not.
    pub reason: String,
    /// What would let the change pass (empty when it passed).
    pub to_pass: Vec<String>,
    /// A human vote was given on another head and no longer counts.
    pub human_voided: bool,
}

/// The path a change takes, and why.
pub fn choose_path(renders: RendersState, explanations: ExplanationsState) -> (Path, String) {
    match (renders, explanations) {
        (RendersState::One, _) => (Path::OneRender, "one render".into()),
        (RendersState::MissingRequired, _) => (
            Path::OneRender,
            "one render, and the repository requires a render B".into(),
        ),
        (RendersState::Differ, ExplanationsState::JudgedDifferent) => (
            Path::Escalated,
            "the renders differ and their explanations were judged different".into(),
        ),
        (RendersState::Differ, _) => (Path::Escalated, "the renders differ".into()),
        (RendersState::Agreed, ExplanationsState::JudgedDifferent) => (
            Path::Escalated,
            "the renders agree but their explanations were judged different".into(),
        ),
        (RendersState::Agreed, e) => (
            Path::Agreed,
            match e {
                ExplanationsState::Identical => {
                    "the renders agree; their explanations are identical"
                }
                ExplanationsState::JudgedSame => {
                    "the renders agree; their explanations were judged the same"
                }
                ExplanationsState::NotJudged => {
                    "the renders agree; their explanations were not judged"
                }
                _ => "the renders agree",
            }
            .into(),
        ),
    }
}

/// Decide. Pure and total: every input has an answer, and nothing undecided passes.
pub fn decide_gate(f: &GateFacts<'_>) -> GateDecision {
    let p = f.policy;
    let (path, why) = choose_path(f.renders, f.explanations);
    let approvals = f
        .votes
        .iter()
        .filter(|v| v.verdict == Verdict::Approve)
        .count();
    let rules: Vec<&CastVote> = f
        .votes
        .iter()
        .filter(|v| v.class == AuditorClass::Rules)
        .collect();
    let rg_approves = !rules.is_empty() && rules.iter().all(|v| v.verdict == Verdict::Approve);
    let rg_rejects = rules.iter().any(|v| v.verdict == Verdict::Reject);
    let non_models_approve = f
        .votes
        .iter()
        .filter(|v| v.class != AuditorClass::Model)
        .all(|v| v.verdict == Verdict::Approve);
    let (human, human_voided) = match f.human {
        Some(h) if h.head == f.head => (Some(h), false),
        Some(_) => (None, true),
        None => (None, false),
    };
    let decision =
        |passed: bool, basis: Basis, required: usize, reason: String, to_pass| GateDecision {
            path,
            why: why.clone(),
            passed,
            basis,
            required,
            approvals,
            reason,
            to_pass: if passed { Vec::new() } else { to_pass },
            human_voided,
        };
    let maintainer_hint = "a maintainer comments `/patchgate approve <reason>` on this head";

    if let Some(h) = human.filter(|h| h.verdict == HumanVerdict::Block) {
        return decision(
            false,
            Basis::Human,
            0,
            format!("blocked by @{} ({}): {}", h.by, h.permission, h.reason),
            vec![format!(
                "@{} (or another maintainer) withdraws the block with `/patchgate approve <reason>`, or a new push is gated afresh",
                h.by
            )],
        );
    }

    // What the auditors decided on this path.
    let (auditors_pass, basis, required, reason, mut to_pass) = match path {
        Path::OneRender if f.renders == RendersState::MissingRequired => (
            false,
            Basis::MissingRender,
            p.required,
            "blocked: the repository requires a render B and there is none".to_string(),
            vec![
                "give a render B (`--render-b`, `/patchgate render-b`, or a `Render-Of:` PR)"
                    .to_string(),
            ],
        ),
        Path::Agreed | Path::OneRender => {
            let agreed = path == Path::Agreed;
            if approvals >= p.required {
                (
                    true,
                    Basis::Quorum,
                    p.required,
                    format!("passed: {approvals} approval(s), {} required", p.required),
                    vec![],
                )
            } else if agreed
                && rg_approves
                && p.agreement_counts_as_vote
                && approvals + 1 >= p.required
            {
                (
                    true,
                    Basis::AgreementVote,
                    p.required,
                    format!(
                        "passed: {approvals} approval(s) and the renders' agreement counted as one (agreement.counts_as_vote), {} required",
                        p.required
                    ),
                    vec![],
                )
            } else if agreed && rg_approves && non_models_approve && p.skip_paid_auditors {
                (
                    true,
                    Basis::AgreementSkip,
                    p.required,
                    "passed: the renders agree and Rule-Guard and every auditor asked approve (agreement.skip_paid_auditors)".to_string(),
                    vec![],
                )
            } else if agreed && rg_approves && non_models_approve && p.degraded {
                (
                    true,
                    Basis::Degraded,
                    p.required,
                    "passed in degraded mode: the renders agree and Rule-Guard and every auditor that is not a model approve".to_string(),
                    vec![],
                )
            } else {
                let mut hints = vec![format!(
                    "{} more approval(s) from the auditors ({approvals} of {} required; abstentions never count)",
                    p.required - approvals.min(p.required),
                    p.required
                )];
                if p.degraded && agreed && !rg_approves {
                    hints.push("in degraded mode: Rule-Guard's approval".to_string());
                } else if p.degraded && agreed {
                    hints.push(
                        "in degraded mode: every auditor that is not a model approving".to_string(),
                    );
                } else if p.degraded {
                    hints.push(
                        "in degraded mode: a render B that agrees, with Rule-Guard approving"
                            .to_string(),
                    );
                }
                (
                    false,
                    Basis::Quorum,
                    p.required,
                    format!(
                        "not passed: {approvals} approval(s), {} required",
                        p.required
                    ),
                    hints,
                )
            }
        }
        Path::Escalated => {
            let (met, required) = match p.escalated {
                EscalatedQuorum::All => (
                    !f.votes.is_empty() && approvals == f.votes.len(),
                    f.votes.len(),
                ),
                EscalatedQuorum::AtLeast(n) => (n >= 1 && approvals >= n, n),
            };
            if met && !rg_rejects {
                (
                    true,
                    Basis::Quorum,
                    required,
                    format!(
                        "passed the escalated audit: {approvals} approval(s), {} required",
                        p.escalated_label(f.votes.len())
                    ),
                    vec![],
                )
            } else {
                let reason = if rg_rejects {
                    "not passed: Rule-Guard rejected the escalated change".to_string()
                } else {
                    format!(
                        "not passed: the escalated audit needs {}; {approvals} approved",
                        p.escalated_label(f.votes.len())
                    )
                };
                let mut hints = Vec::new();
                if rg_rejects {
                    hints.push("fix what Rule-Guard found".to_string());
                } else {
                    hints.push(format!(
                        "the escalated audit passes ({}; an outage, a timeout or a spent budget fails it)",
                        p.escalated_label(f.votes.len())
                    ));
                }
                hints.push("or the renders are brought to agree".to_string());
                if p.degraded {
                    hints.push(
                        "in degraded mode the model auditors are off: an escalated change passes only on a maintainer's approval"
                            .to_string(),
                    );
                }
                (false, Basis::Quorum, required, reason, hints)
            }
        }
    };

    if auditors_pass {
        return decision(true, basis, required, reason, to_pass);
    }
    match human {
        Some(h) if !rg_rejects => decision(
            true,
            Basis::Human,
            required,
            format!(
                "passed: approved by @{} ({}) on this head: {}",
                h.by, h.permission, h.reason
            ),
            vec![],
        ),
        Some(h) => decision(
            false,
            basis,
            required,
            format!(
                "{reason}; @{}'s approval does not override a Rule-Guard rejection",
                h.by
            ),
            to_pass,
        ),
        None => {
            if !rg_rejects {
                to_pass.push(format!("or {maintainer_hint}"));
            }
            decision(false, basis, required, reason, to_pass)
        }
    }
}

impl Policy {
    /// The escalated quorum in words, for `n` configured auditors.
    pub fn escalated_label(&self, n: usize) -> String {
        match self.escalated {
            EscalatedQuorum::All => format!("every auditor ({n}) approving"),
            EscalatedQuorum::AtLeast(k) => format!("{k} approval(s) and no Rule-Guard rejection"),
        }
    }
}

#[cfg(test)]
mod tests;
