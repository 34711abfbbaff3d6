//! From findings to Rule-Guard's vote.
//!
//! Rule-Guard is one of the three auditors of the quorum; its vote follows from the severities
//! of its findings through a configurable table (by default any `error` rejects, warnings and
//! notes approve).
//!
//! It must never let a secret through: a finding of a secret rule rejects whatever the table
//! says, so no configuration can weaken the secret rules.

use serde::{Deserialize, Serialize};

use super::{Hit, Severity};

/// Rule-Guard's vote. (The quorum adds `abstain` for auditors that could not decide; a
/// deterministic rule engine always decides.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ruling {
    Approve,
    Reject,
}

impl std::fmt::Display for Ruling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ruling::Approve => "approve",
            Ruling::Reject => "reject",
        })
    }
}

/// What a finding of each severity does to the vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeverityPolicy {
    pub error: Ruling,
    pub warning: Ruling,
    pub info: Ruling,
}

impl Default for SeverityPolicy {
    fn default() -> Self {
        SeverityPolicy {
            error: Ruling::Reject,
            warning: Ruling::Approve,
            info: Ruling::Approve,
        }
    }
}

impl SeverityPolicy {
    /// The vote a single finding of `severity` calls for.
    pub fn verdict_for(&self, severity: Severity) -> Ruling {
        match severity {
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }
}

/// Rule-Guard's vote on a change's findings, with a one-line reason naming the rejecting rules
/// and places (never the matched text).
pub fn vote_for(findings: &[Hit], policy: &SeverityPolicy) -> (Ruling, String) {
    if findings.is_empty() {
        return (Ruling::Approve, "no rule matched the change".to_string());
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let summary = format!(
        "{} finding{} ({} error, {} warning, {} info)",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let rejecting: Vec<&Hit> = findings
        .iter()
        .filter(|f| f.secret || policy.verdict_for(f.severity) == Ruling::Reject)
        .collect();
    if rejecting.is_empty() {
        return (
            Ruling::Approve,
            format!("{summary}; none rejects under the severity policy"),
        );
    }
    const SHOWN: usize = 5;
    let mut places: Vec<String> = rejecting
        .iter()
        .take(SHOWN)
        .map(|f| match f.line {
            Some(line) => format!("{} at {}:{}", f.rule_id, f.path, line),
            None => format!("{} on {}", f.rule_id, f.path),
        })
        .collect();
    if rejecting.len() > SHOWN {
        places.push(format!("and {} more", rejecting.len() - SHOWN));
    }
    let secrets = rejecting.iter().filter(|f| f.secret).count();
    let why = if secrets > 0 {
        format!("{secrets} secret finding(s) always reject")
    } else {
        "rejecting under the severity policy".to_string()
    };
    (
        Ruling::Reject,
        format!("{summary}; {why}: {}", places.join(", ")),
    )
}
