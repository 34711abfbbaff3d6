//! The audit quorum: the [`Auditor`] trait, the pure rule that turns votes into a
//! [`Decision`] ([`decide`]), and [`run_quorum`], which asks every auditor at once, each under
//! its own timeout.
//!
//! It must never turn an error into an approval. Only an auditor's explicit `approve` counts
//! towards `required`; a timeout, a panic, a missing auditor or any other failure is an
//! abstention, and abstentions never count. A configuration that could not be decided sensibly
//! (`required == 0`, `required` above the number of auditors, two auditors with one name) is
//! an error, never a decision.
//!
//! Isolation: each auditor runs in its own `tokio::spawn`ed task, under
//! `tokio::time::timeout`. A panic surfaces as a `JoinError` and becomes an abstention
//! (`crashed: …`); a timeout drops the auditor's future (a command auditor's child is killed)
//! and becomes an abstention (`timed out after …`). An auditor must not block its thread
//! (no synchronous sleeps or I/O inside `review`): a blocking future cannot be interrupted,
//! though on a multi-threaded runtime it still does not delay the others.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::vote::{AbstainReason, AuditInput, Verdict, Vote};

/// How long after an auditor's own timeout the quorum stops waiting for its task, should the
/// task fail to stop at its timeout (it only matters for futures that block their thread).
const STRAGGLER_GRACE: Duration = Duration::from_millis(100);

/// An independent reviewer of a change.
///
/// `review` returns a vote, always: an auditor reports its own failures as
/// [`Vote::abstain`]. The quorum enforces `timeout()` and catches panics regardless.
pub trait Auditor: Send + Sync {
    /// The name its votes are recorded under (unique within a quorum).
    fn name(&self) -> &str;
    /// How long the quorum waits for its vote.
    fn timeout(&self) -> Duration;
    /// Review the change and vote.
    fn review<'a>(
        &'a self,
        input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>>;
}

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
    /// The auditors whose votes decided it, in vote order: the approvers of a pass; the
    /// rejecters of a rejection the rejections alone decided; otherwise every auditor that did
    /// not approve.
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
        let not_approving: Vec<String> = votes
            .iter()
            .filter(|v| v.verdict != Verdict::Approve)
            .map(|v| v.auditor.clone())
            .collect();
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
        (false, not_approving, reason)
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

fn check_unique<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), QuorumError> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(QuorumError::DuplicateAuditor(name.to_string()));
        }
    }
    Ok(())
}

/// Asks every auditor concurrently, each under its own timeout, and decides.
///
/// Returns one vote per auditor, in the auditors' order, each recorded under the auditor's
/// configured `name()` (whatever name the vote itself carried), and the decision. A slow
/// auditor delays the result by at most its own timeout; a timed-out auditor abstains
/// (`timed out after …`), a panicking one abstains (`crashed: …`).
///
/// The configuration is checked before any auditor runs. Must be called within a tokio
/// runtime.
pub async fn run_quorum(
    auditors: &[Arc<dyn Auditor>],
    input: &AuditInput,
    required: usize,
) -> Result<(Vec<Vote>, Decision), QuorumError> {
    QuorumConfig::new(required, auditors.len())?;
    check_unique(auditors.iter().map(|a| a.name()))?;

    let input = Arc::new(input.clone());
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = auditors
        .iter()
        .map(|auditor| {
            let auditor = Arc::clone(auditor);
            let input = Arc::clone(&input);
            let limit = auditor.timeout();
            let handle =
                tokio::spawn(
                    async move { tokio::time::timeout(limit, auditor.review(&input)).await },
                );
            (handle, limit)
        })
        .collect();

    let mut votes = Vec::with_capacity(auditors.len());
    for (auditor, (mut handle, limit)) in auditors.iter().zip(tasks) {
        let name = auditor.name();
        let joined = match started.checked_add(limit.saturating_add(STRAGGLER_GRACE)) {
            Some(deadline) => tokio::time::timeout_at(deadline, &mut handle).await.ok(),
            None => Some((&mut handle).await),
        };
        let vote = match joined {
            Some(Ok(Ok(mut vote))) => {
                vote.auditor = name.to_string();
                vote
            }
            Some(Ok(Err(_))) | None => {
                handle.abort();
                Vote::abstain(name, AbstainReason::Timeout(limit))
            }
            Some(Err(join_error)) => {
                let why = if join_error.is_panic() {
                    format!("panicked: {}", panic_message(join_error.into_panic()))
                } else {
                    "task cancelled".to_string()
                };
                Vote::abstain(name, AbstainReason::Crashed(why))
            }
        };
        votes.push(vote);
    }

    let decision = decide(required, &votes)?;
    Ok((votes, decision))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(d.decided_by, ["b", "c"]);
        assert!(d.reason.contains("b (daily budget spent)"), "{}", d.reason);
        assert!(d.reason.contains("c (not configured)"), "{}", d.reason);
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
