//! What auditors see and what they answer: the change as an auditor reads it ([`AuditInput`])
//! and one auditor's answer ([`Vote`]), with the reasons an auditor may abstain.
//!
//! These types are the wire format of the quorum: `Verdict` serialises as the
//! `approve|reject|abstain` of meta.yaml, and `AuditInput` is the JSON a command auditor reads
//! on its stdin.
//!
//! It must never turn an error into an approval: every failure has an [`AbstainReason`], and
//! the only way to build an abstention ([`Vote::abstain`]) always says `abstain`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::rule_guard::{FileStatus, Severity};

/// One auditor's verdict, as written in meta.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Reject,
    /// The auditor could not decide. Never counts as an approval.
    Abstain,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
            Verdict::Abstain => "abstain",
        })
    }
}

/// Why an auditor abstained. `Display` is the short human reason written into the vote
/// (e.g. `daily budget spent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbstainReason {
    /// No answer within the auditor's timeout (the duration it was given).
    Timeout(Duration),
    /// The auditor could not be reached or started.
    Unavailable(String),
    /// The auditor answered, but not with a vote that could be read.
    Malformed(String),
    /// The daily budget of model auditors is spent.
    Budget,
    /// The auditor is named but has no configuration.
    NotConfigured,
    /// The auditor failed while reviewing (a panic, a non-zero exit, a signal).
    Crashed(String),
    /// The auditor was not asked (e.g. `agreement.skip_paid_auditors`): why.
    Skipped(String),
}

impl fmt::Display for AbstainReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbstainReason::Timeout(d) => {
                if d.subsec_millis() == 0 && d.as_secs() > 0 {
                    write!(f, "timed out after {} s", d.as_secs())
                } else {
                    write!(f, "timed out after {} ms", d.as_millis())
                }
            }
            AbstainReason::Unavailable(why) => write!(f, "unavailable: {why}"),
            AbstainReason::Malformed(why) => write!(f, "malformed answer: {why}"),
            AbstainReason::Budget => f.write_str("daily budget spent"),
            AbstainReason::NotConfigured => f.write_str("not configured"),
            AbstainReason::Crashed(why) => write!(f, "crashed: {why}"),
            AbstainReason::Skipped(why) => write!(f, "not asked: {why}"),
        }
    }
}

/// One thing an auditor found in the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// The rule id, or for a model auditor a category (`security`, `correctness`, …).
    #[serde(alias = "category")]
    pub rule: String,
    /// The file the finding is about; `None` for the change as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in the new version of `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

/// One auditor's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub auditor: String,
    pub verdict: Verdict,
    /// Why: always set for an abstention, optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub explanation: String,
    #[serde(default)]
    pub cost_usd: f64,
}

impl Vote {
    /// A vote with a verdict and nothing else (no reason, findings, explanation or cost).
    pub fn new(auditor: impl Into<String>, verdict: Verdict) -> Self {
        Vote {
            auditor: auditor.into(),
            verdict,
            reason: None,
            findings: Vec::new(),
            explanation: String::new(),
            cost_usd: 0.0,
        }
    }

    /// An abstention, its reason written as [`AbstainReason`]'s `Display`.
    pub fn abstain(auditor: impl Into<String>, reason: AbstainReason) -> Self {
        Vote {
            reason: Some(reason.to_string()),
            ..Vote::new(auditor, Verdict::Abstain)
        }
    }
}

/// One changed file as an auditor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChangedFileView {
    pub path: String,
    /// Registry language name, when known.
    pub language: Option<String>,
    pub status: FileStatus,
    /// The file's unified diff text (secrets masked by the caller before it gets here).
    pub hunks: String,
    /// Names of the entities (functions, classes, …) the change touches.
    pub entities: Vec<String>,
}

/// Everything an auditor is shown of a change. Written as JSON to a command auditor's stdin.
///
/// The caller is responsible for masking secrets before building it: auditors (and the
/// models behind them) see exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditInput {
    /// `owner/name`, or a local repository's name.
    pub repo: String,
    pub base: String,
    pub head: String,
    pub files: Vec<ChangedFileView>,
    /// The structural (AST) diff, summarised in text.
    pub structural_summary: String,
    /// The renders' explanations of the change.
    pub explanations: Vec<String>,
    /// What the deterministic Rule-Guard found, for the model auditors to weigh.
    #[serde(default)]
    pub rule_findings: Vec<Finding>,
    /// Present on the escalated path: the two renders differ (or their explanations do), and
    /// the auditors are asked whether the divergence changes behaviour and which render, if
    /// either, is right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationView>,
}

/// What an auditor is shown of an escalated change, beside render A's change (the PR).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EscalationView {
    /// Why the change escalated (e.g. `the renders differ`).
    pub why: String,
    /// Where render B came from (`pr#124`, a ref, a patch).
    pub render_b: String,
    /// Render B's changes against the same base (secrets masked).
    pub render_b_files: Vec<ChangedFileView>,
    /// The edit script between the renders: which entities differ, how, with both renders'
    /// lines (secrets masked).
    pub differences: Vec<Difference>,
    /// Render A's explanation, if any.
    #[serde(default)]
    pub explanation_a: Option<String>,
    /// Render B's explanation, if any.
    #[serde(default)]
    pub explanation_b: Option<String>,
}

/// One entity on which the renders differ.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Difference {
    pub path: String,
    /// `fn fetch_with_retry`, or `(top level)`.
    pub entity: String,
    /// The edits, counted by kind: `2 update, 1 insert`.
    pub edits: String,
    /// `10-14` in render A, with those lines (absent when the entity is only in render B).
    #[serde(default)]
    pub a_lines: Option<String>,
    pub a_text: String,
    /// The same for render B.
    #[serde(default)]
    pub b_lines: Option<String>,
    pub b_text: String,
}

/// `PATCHGATE_AUDIT_MODE`, one type for the whole program: `normal`, or `degraded`: model
/// auditors off (they abstain), Rule-Guard only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuditMode {
    #[default]
    Normal,
    Degraded,
}

impl std::str::FromStr for AuditMode {
    type Err = String;
    /// `normal` or `degraded`, case-insensitive, surrounding space ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(AuditMode::Normal),
            "degraded" => Ok(AuditMode::Degraded),
            _ => Err(format!("`{s}` is not an audit mode (normal or degraded)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_serialises_lowercase() {
        for (v, s) in [
            (Verdict::Approve, "\"approve\""),
            (Verdict::Reject, "\"reject\""),
            (Verdict::Abstain, "\"abstain\""),
        ] {
            assert_eq!(serde_json::to_string(&v).unwrap(), s);
            assert_eq!(serde_json::from_str::<Verdict>(s).unwrap(), v);
            assert_eq!(v.to_string(), s.trim_matches('"'));
        }
        assert!(serde_json::from_str::<Verdict>("\"Approve\"").is_err());
        assert!(serde_json::from_str::<Verdict>("\"yes\"").is_err());
    }

    #[test]
    fn abstain_reasons_read_well() {
        assert_eq!(AbstainReason::Budget.to_string(), "daily budget spent");
        assert_eq!(AbstainReason::NotConfigured.to_string(), "not configured");
        assert_eq!(
            AbstainReason::Timeout(Duration::from_secs(60)).to_string(),
            "timed out after 60 s"
        );
        assert_eq!(
            AbstainReason::Timeout(Duration::from_millis(250)).to_string(),
            "timed out after 250 ms"
        );
        assert_eq!(
            AbstainReason::Crashed("exit status 1".into()).to_string(),
            "crashed: exit status 1"
        );
    }

    #[test]
    fn abstain_is_always_an_abstention_with_a_reason() {
        let v = Vote::abstain("reviewer-2", AbstainReason::Budget);
        assert_eq!(v.verdict, Verdict::Abstain);
        assert_eq!(v.reason.as_deref(), Some("daily budget spent"));
        assert_eq!(v.auditor, "reviewer-2");
        assert!(v.findings.is_empty());
    }

    #[test]
    fn finding_accepts_category_for_rule() {
        let f: Finding = serde_json::from_str(
            r#"{"category":"security","file":"a.rs","line":3,"severity":"error","message":"m"}"#,
        )
        .unwrap();
        assert_eq!(f.rule, "security");
        assert_eq!(f.line, Some(3));
        assert!(serde_json::from_str::<Finding>(
            r#"{"rule":"r","severity":"error","message":"m","extra":1}"#
        )
        .is_err());
    }

    #[test]
    fn audit_input_round_trips() {
        let input = AuditInput {
            repo: "o/r".into(),
            base: "b".into(),
            head: "h".into(),
            files: vec![ChangedFileView {
                path: "src/a.rs".into(),
                language: Some("rust".into()),
                status: FileStatus::Added,
                hunks: "@@ -0,0 +1 @@\n+fn a() {}\n".into(),
                entities: vec!["a".into()],
            }],
            structural_summary: "1 function added".into(),
            explanations: vec!["adds a".into()],
            rule_findings: vec![],
            escalation: None,
        };
        let json = serde_json::to_string(&input).unwrap();
        assert!(json.contains("\"status\":\"added\""));
        assert_eq!(serde_json::from_str::<AuditInput>(&json).unwrap(), input);
    }
}
