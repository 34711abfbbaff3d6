//! The audit step of the gate: run the quorum over a prepared change and say what it decided,
//! for a person (text) and for a program (JSON).
//!
//! The text puts the verdict first, then every vote with its reason, every finding, and — when
//! the quorum cannot pass because auditors are not configured — exactly what to configure.

use std::fmt::Write;
use std::sync::Arc;

use serde::Serialize;

use crate::audit::decide::{Decision, QuorumError};
use crate::audit::quorum::{run_quorum, Auditor};
use crate::audit::vote::{AuditInput, Verdict, Vote};
use crate::term::paint;

/// The outcome of the audit step.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub schema: &'static str,
    pub repo: String,
    pub base: String,
    pub head: String,
    pub votes: Vec<Vote>,
    pub decision: Decision,
    /// What a person could do about abstentions (e.g. "set OPENAI_API_KEY"), by auditor.
    pub hints: Vec<(String, String)>,
}

/// Run every auditor concurrently (each within its own timeout) and decide.
pub async fn run_audit(
    input: &AuditInput,
    auditors: &[Arc<dyn Auditor>],
    required: usize,
    hints: &[(String, String)],
) -> Result<AuditReport, QuorumError> {
    let (votes, decision) = run_quorum(auditors, input, required).await?;
    let hints = votes
        .iter()
        .filter(|v| v.verdict == Verdict::Abstain)
        .filter_map(|v| hints.iter().find(|(a, _)| *a == v.auditor).cloned())
        .collect();
    Ok(AuditReport {
        schema: "patchgate.audit/v1",
        repo: input.repo.clone(),
        base: input.base.clone(),
        head: input.head.clone(),
        votes,
        decision,
        hints,
    })
}

/// Every vote with its reason and cost, and under it its findings (at most `max_findings`).
pub(crate) fn write_votes(
    out: &mut String,
    votes: &[Vote],
    color: bool,
    indent: &str,
    max_findings: usize,
) {
    for v in votes {
        let verdict = match v.verdict {
            Verdict::Approve => paint(color, "32", "approve"),
            Verdict::Reject => paint(color, "31", "reject "),
            Verdict::Abstain => paint(color, "33", "abstain"),
        };
        let cost = if v.cost_usd > 0.0 {
            format!("  (${:.4})", v.cost_usd)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{indent}{:<14} {verdict}  {}{cost}",
            v.auditor,
            v.reason.as_deref().unwrap_or("")
        );
        for f in v.findings.iter().take(max_findings) {
            let _ = writeln!(
                out,
                "{indent}    {:<7} {:<32} {}{}  {}",
                f.severity.to_string(),
                f.rule,
                f.file.as_deref().unwrap_or("(change)"),
                f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                f.message
            );
        }
        if v.findings.len() > max_findings {
            let _ = writeln!(
                out,
                "{indent}    … {} more findings (--format json)",
                v.findings.len() - max_findings
            );
        }
    }
}

/// The audit for a terminal.
pub fn render_audit_text(r: &AuditReport, color: bool) -> String {
    let mut out = String::new();
    let d = &r.decision;
    let head = if d.passed {
        paint(color, "1;32", "QUORUM PASSED")
    } else {
        paint(color, "1;31", "QUORUM FAILED")
    };
    let _ = writeln!(
        out,
        "{head}  {} approval(s), {} required ({} reject, {} abstain)",
        d.approvals, d.required, d.rejections, d.abstentions
    );
    let _ = writeln!(out, "{}", d.reason);
    let _ = writeln!(out);
    write_votes(&mut out, &r.votes, color, "  ", usize::MAX);
    if !r.hints.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "To let the quorum pass, configure the abstaining auditors:"
        );
        for (auditor, hint) in &r.hints {
            let _ = writeln!(out, "  {auditor}: {hint}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::vote::AbstainReason;
    use std::future::Future;
    use std::pin::Pin;
    use std::time::Duration;

    struct Fixed(Vote);
    impl Auditor for Fixed {
        fn name(&self) -> &str {
            &self.0.auditor
        }
        fn timeout(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn review<'a>(
            &'a self,
            _: &'a AuditInput,
        ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
            let v = self.0.clone();
            Box::pin(async move { v })
        }
    }

    #[tokio::test]
    async fn unconfigured_reviewers_fail_the_quorum_and_say_what_to_set() {
        let auditors: Vec<Arc<dyn Auditor>> = vec![
            Arc::new(Fixed(Vote::new("rule-guard", Verdict::Approve))),
            Arc::new(Fixed(Vote::abstain(
                "reviewer-1",
                AbstainReason::NotConfigured,
            ))),
            Arc::new(Fixed(Vote::abstain(
                "reviewer-2",
                AbstainReason::NotConfigured,
            ))),
        ];
        let hints = vec![("reviewer-1".to_string(), "set OPENAI_API_KEY".to_string())];
        let r = run_audit(&AuditInput::default(), &auditors, 2, &hints)
            .await
            .unwrap();
        assert!(!r.decision.passed);
        let text = render_audit_text(&r, false);
        assert!(
            text.starts_with("QUORUM FAILED  1 approval(s), 2 required"),
            "{text}"
        );
        assert!(text.contains("reviewer-1: set OPENAI_API_KEY"), "{text}");
        assert!(text.contains("not configured"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["decision"]["passed"], false);
        assert_eq!(json["votes"][1]["verdict"], "abstain");
    }
}
