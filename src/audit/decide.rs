//! The quorum's rule, pure: how complete votes (one per configured auditor) become a
//! [`Decision`]. Only an explicit `approve` counts towards `required`; abstentions never do. A
//! configuration that could not be decided sensibly (`required == 0`, `required` above the
//! number of auditors, two auditors with one name) is an error, never a decision.
//! [`run_quorum`](super::quorum::run_quorum) collects the votes and calls [`decide`].

use std::collections::HashSet;
use std::fmt;

use super::vote::{Verdict, Vote};

/// A quorum configuration that cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    #[error("quorum requires at least one approval (required is 0)")]
    ZeroRequired,
    #[error("quorum requires {required} approvals but has only {auditors} auditors")]
    RequiredExceedsAuditors { required: usize, auditors: usize },
    #[error("auditor name {0:?} appears more than once")]
    DuplicateAuditor(String),
}

/// A validated quorum size: `1 ≤ required ≤ auditors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumConfig {
    required: usize,
    auditors: usize,
}

impl QuorumConfig {
    pub fn new(required: usize, auditors: usize) -> Result<Self, QuorumError> {
        if required == 0 {
            return Err(QuorumError::ZeroRequired);
        }
        if required > auditors {
            return Err(QuorumError::RequiredExceedsAuditors { required, auditors });
        }
        Ok(QuorumConfig { required, auditors })
    }

    pub fn required(&self) -> usize {
        self.required
    }

    pub fn auditors(&self) -> usize {
        self.auditors
    }
}

/// The outcome of a quorum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// `quorum_passed`: true iff at least `required` auditors approved.
    pub passed: bool,
    pub required: usize,
    pub approvals: usize,
    pub rejections: usize,
    pub abstentions: usize,
    /// The auditors whose votes decided it, in vote order: the approvers of a pass; otherwise
    /// the rejecters. An abstention decides nothing, so an abstaining auditor is never listed
    /// (a quorum that failed for want of approvals alone names nobody).
    pub decided_by: Vec<String>,
    /// One line saying why.
    pub reason: String,
}

/// Turns complete votes (one per configured auditor) into a decision. Pure.
///
/// Passes iff approvals ≥ `required`. Abstentions never count as approvals. When the
/// rejections alone leave too few auditors to reach `required` (e.g. 2 rejections of 3 with 2
/// required), the decision is a rejection by those auditors, whatever the others said, and
/// `reason` says so.
///
/// Errors: `required == 0`, `required > votes.len()`, or two votes under one auditor name.
pub fn decide(required: usize, votes: &[Vote]) -> Result<Decision, QuorumError> {
    QuorumConfig::new(required, votes.len())?;
    check_unique(votes.iter().map(|v| v.auditor.as_str()))?;

    let names = |verdict: Verdict| -> Vec<String> {
        votes
            .iter()
            .filter(|v| v.verdict == verdict)
            .map(|v| v.auditor.clone())
            .collect()
    };
    let approvers = names(Verdict::Approve);
    let rejecters = names(Verdict::Reject);
    let abstentions = votes
        .iter()
        .filter(|v| v.verdict == Verdict::Abstain)
        .count();
    let (approvals, rejections) = (approvers.len(), rejecters.len());
    let total = votes.len();

    let (passed, decided_by, reason) = if approvals >= required {
        let reason = format!(
            "passed: {approvals} of {total} auditors approved ({required} required): {}",
            approvers.join(", ")
        );
        (true, approvers, reason)
    } else if total - rejections < required {
        // Even if every auditor that did not reject had approved, `required` is out of reach.
        let reason = format!(
            "rejected: {rejections} of {total} auditors rejected ({}), so at most {} could \
             approve and {required} are required",
            rejecters.join(", "),
            total - rejections
        );
        (false, rejecters, reason)
    } else {
        let abstained: Vec<String> = votes
            .iter()
            .filter(|v| v.verdict == Verdict::Abstain)
            .map(|v| match &v.reason {
                Some(r) => format!("{} ({r})", v.auditor),
                None => v.auditor.clone(),
            })
            .collect();
        let reason = format!(
            "not passed: {approvals} of {total} auditors approved ({required} required); \
             {rejections} rejected, {abstentions} abstained: {}; abstentions never count as \
             approvals",
            abstained.join(", ")
        );
        (false, rejecters, reason)
    };

    Ok(Decision {
        passed,
        required,
        approvals,
        rejections,
        abstentions,
        decided_by,
        reason,
    })
}

pub(super) fn check_unique<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), QuorumError> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(QuorumError::DuplicateAuditor(name.to_string()));
        }
    }
    Ok(())
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::vote::AbstainReason;

    fn v(name: &str, verdict: Verdict) -> Vote {
        Vote::new(name, verdict)
    }

    #[test]
    fn two_of_three_passes() {
        let d = decide(
            2,
            &[
                v("rule-guard", Verdict::Approve),
                v("reviewer-1", Verdict::Approve),
                Vote::abstain("reviewer-2", AbstainReason::Budget),
            ],
        )
        .unwrap();
        assert!(d.passed);
        assert_eq!(d.decided_by, ["rule-guard", "reviewer-1"]);
        assert_eq!((d.approvals, d.rejections, d.abstentions), (2, 0, 1));
    }

    #[test]
    fn abstentions_are_named_with_their_reasons() {
        let d = decide(
            2,
            &[
                v("a", Verdict::Approve),
                Vote::abstain("b", AbstainReason::Budget),
                Vote::abstain("c", AbstainReason::NotConfigured),
            ],
        )
        .unwrap();
        assert!(!d.passed);
        // Abstentions decide nothing: no auditor is named as deciding it.
        assert!(d.decided_by.is_empty(), "{:?}", d.decided_by);
        assert!(d.reason.contains("b (daily budget spent)"), "{}", d.reason);
        assert!(d.reason.contains("c (not configured)"), "{}", d.reason);
    }

    #[test]
    fn a_failed_quorum_names_its_rejecters_never_its_abstainers() {
        let d = decide(
            2,
            &[
                v("rule-guard", Verdict::Approve),
                v("a", Verdict::Reject),
                Vote::abstain("b", AbstainReason::NotConfigured),
                Vote::abstain("c", AbstainReason::Budget),
            ],
        )
        .unwrap();
        assert!(!d.passed);
        assert_eq!(d.decided_by, ["a"]);
    }

    #[test]
    fn duplicate_names_are_an_error() {
        assert_eq!(
            decide(1, &[v("a", Verdict::Approve), v("a", Verdict::Approve)]),
            Err(QuorumError::DuplicateAuditor("a".into()))
        );
    }

    #[test]
    fn config_bounds() {
        assert_eq!(QuorumConfig::new(0, 3), Err(QuorumError::ZeroRequired));
        assert!(QuorumConfig::new(1, 3).is_ok());
        assert!(QuorumConfig::new(3, 3).is_ok());
        assert_eq!(
            QuorumConfig::new(4, 3),
            Err(QuorumError::RequiredExceedsAuditors {
                required: 4,
                auditors: 3
            })
        );
    }
}
