//! Rule-Guard as one of the quorum's auditors: the deterministic vote.
//!
//! It scans the change's files with the rule set (changed syntax only, see `rule_guard`) and
//! maps the findings to a vote by severity ([`SeverityPolicy`]: by default any `error`
//! rejects). It never calls anything outside the process and never abstains on findings: a rule
//! that cannot run on a language reports an error finding, which rejects.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::astdiff::registry::Registry;
use crate::audit::quorum::Auditor;
use crate::audit::rule_guard::{self, vote_for, ChangedFile, RuleSet, SeverityPolicy};
use crate::audit::vote::{AuditInput, Finding, Verdict, Vote};

/// The Rule-Guard auditor of one change.
pub struct RuleGuardAuditor {
    name: String,
    rules: Arc<RuleSet>,
    /// How many files were scanned.
    files: usize,
    /// What the rules found, scanned once when the auditor is made.
    found: Vec<rule_guard::Finding>,
    policy: SeverityPolicy,
}

impl RuleGuardAuditor {
    /// Scan the change's files (full old and new texts: the quorum's [`AuditInput`] only
    /// carries hunks) with `rules`.
    pub fn new(
        name: impl Into<String>,
        rules: Arc<RuleSet>,
        registry: Arc<Registry>,
        files: Arc<Vec<ChangedFile>>,
        policy: SeverityPolicy,
    ) -> Self {
        let found = rules.scan(&registry, &files);
        RuleGuardAuditor {
            name: name.into(),
            rules,
            files: files.len(),
            found,
            policy,
        }
    }

    /// What the rules found (the model auditors are shown these too).
    pub fn findings(&self) -> &[rule_guard::Finding] {
        &self.found
    }

    /// The vote, synchronously.
    pub fn judge(&self) -> Vote {
        let found = &self.found;
        let (verdict, reason) = vote_for(found, &self.policy);
        let verdict = match verdict {
            rule_guard::Verdict::Approve => Verdict::Approve,
            rule_guard::Verdict::Reject => Verdict::Reject,
        };
        let findings: Vec<Finding> = found.iter().map(to_vote_finding).collect();
        let mut explanation = format!(
            "Rule-Guard: {} rules over {} changed file(s): {}.",
            self.rules.len(),
            self.files,
            reason
        );
        for f in &findings {
            explanation.push_str(&format!(
                "\n- {} [{}] {}{}: {}",
                f.severity,
                f.rule,
                f.file.as_deref().unwrap_or("(change)"),
                f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                f.message
            ));
        }
        Vote {
            reason: Some(reason),
            findings,
            explanation,
            ..Vote::new(self.name.clone(), verdict)
        }
    }
}

/// A Rule-Guard finding as the quorum records it (messages never hold the secret itself).
pub fn to_vote_finding(f: &rule_guard::Finding) -> Finding {
    Finding {
        rule: f.rule_id.clone(),
        file: Some(f.path.clone()),
        line: f.line,
        severity: f.severity,
        message: f.message.clone(),
    }
}

impl Auditor for RuleGuardAuditor {
    fn name(&self) -> &str {
        &self.name
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    fn review<'a>(
        &'a self,
        _input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
        Box::pin(async move { self.judge() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auditor(files: Vec<ChangedFile>) -> RuleGuardAuditor {
        RuleGuardAuditor::new(
            "rule-guard",
            Arc::new(RuleSet::embedded().unwrap()),
            Arc::new(Registry::embedded().unwrap()),
            Arc::new(files),
            SeverityPolicy::default(),
        )
    }

    #[test]
    fn a_clean_change_is_approved() {
        let v = auditor(vec![ChangedFile {
            path: "src/lib.rs".into(),
            language: None,
            old: Some("pub fn a() -> u8 { 1 }\n".into()),
            new: Some("pub fn a() -> u8 { 2 }\n".into()),
        }])
        .judge();
        assert_eq!(v.verdict, Verdict::Approve, "{v:?}");
        assert!(v.findings.is_empty());
    }

    #[test]
    fn a_planted_key_is_rejected_without_repeating_it() {
        let key = "AKIAIOSFODNN7EXAMPLQ";
        let v = auditor(vec![ChangedFile {
            path: "src/config.py".into(),
            language: None,
            old: Some("x = 1\n".into()),
            new: Some(format!("x = 1\naws_key = \"{key}\"\n")),
        }])
        .judge();
        assert_eq!(v.verdict, Verdict::Reject, "{v:?}");
        assert!(v.findings.iter().any(|f| f.rule.starts_with("secret-")));
        let all = format!("{v:?}");
        assert!(!all.contains(key), "the vote repeats the secret: {all}");
    }
}
