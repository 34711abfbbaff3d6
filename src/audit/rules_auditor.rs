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
use crate::audit::quorum::{on_blocking_pool, Auditor};
use crate::audit::rule_guard::{self, vote_for, ChangedFile, RuleSet, SeverityPolicy};
use crate::audit::vote::{AuditInput, Finding, Verdict, Vote};

/// The Rule-Guard auditor of one change.
pub struct RuleGuardAuditor {
    name: String,
    rules: Arc<RuleSet>,
    /// How many files were scanned.
    files: usize,
    /// What the rules found, scanned once when the auditor is made.
    found: Arc<Vec<rule_guard::Hit>>,
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
        Self::scanned(name, rules, files.len(), found, policy)
    }

    /// The auditor of a change already scanned with `rules` (see
    /// [`crate::gate::auditors::scan_rules`], which scans on the blocking pool): `found` over
    /// `files` changed files.
    pub fn scanned(
        name: impl Into<String>,
        rules: Arc<RuleSet>,
        files: usize,
        found: Vec<rule_guard::Hit>,
        policy: SeverityPolicy,
    ) -> Self {
        RuleGuardAuditor {
            name: name.into(),
            rules,
            files,
            found: Arc::new(found),
            policy,
        }
    }

    /// What the rules found (the model auditors are shown these too).
    pub fn findings(&self) -> &[rule_guard::Hit] {
        &self.found
    }

    /// The vote, synchronously.
    pub fn judge(&self) -> Vote {
        judge(
            &self.name,
            self.rules.len(),
            self.files,
            &self.found,
            &self.policy,
        )
    }
}

/// Rule-Guard's vote on `found` (over `files` files, with `rules` rules).
fn judge(
    name: &str,
    rules: usize,
    files: usize,
    found: &[rule_guard::Hit],
    policy: &SeverityPolicy,
) -> Vote {
    let (verdict, reason) = vote_for(found, policy);
    let verdict = match verdict {
        rule_guard::Ruling::Approve => Verdict::Approve,
        rule_guard::Ruling::Reject => Verdict::Reject,
    };
    let findings: Vec<Finding> = found.iter().map(to_vote_finding).collect();
    let mut explanation =
        format!("Rule-Guard: {rules} rules over {files} changed file(s): {reason}.");
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
        ..Vote::new(name.to_string(), verdict)
    }
}

/// A Rule-Guard finding as the quorum records it (messages never hold the secret itself).
pub fn to_vote_finding(f: &rule_guard::Hit) -> Finding {
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
        // On the blocking pool: the quorum's timeout applies, and the runtime keeps running.
        let (name, rules, files) = (self.name.clone(), self.rules.len(), self.files);
        let (found, policy) = (Arc::clone(&self.found), self.policy.clone());
        on_blocking_pool(move || judge(&name, rules, files, &found, &policy))
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

    /// A synchronous auditor like Rule-Guard that takes far longer than its timeout.
    struct SlowSync;

    impl Auditor for SlowSync {
        fn name(&self) -> &str {
            "slow-sync"
        }
        fn timeout(&self) -> Duration {
            Duration::from_millis(50)
        }
        fn review<'a>(
            &'a self,
            _input: &'a AuditInput,
        ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
            on_blocking_pool(|| {
                std::thread::sleep(Duration::from_millis(600));
                Vote::new("slow-sync", Verdict::Approve)
            })
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocking_auditor_times_out_without_stalling_the_runtime() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let ticks = Arc::new(AtomicU32::new(0));
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let started = std::time::Instant::now();
        let auditors: Vec<Arc<dyn Auditor>> = vec![Arc::new(SlowSync)];
        let (votes, _) = crate::audit::quorum::run_quorum(&auditors, &AuditInput::default(), 1)
            .await
            .unwrap();
        let took = started.elapsed();
        ticker.abort();
        assert_eq!(votes[0].verdict, Verdict::Abstain, "{votes:?}");
        assert_eq!(
            votes[0].reason.as_deref(),
            Some("timed out after 50 ms"),
            "{votes:?}"
        );
        assert!(
            took < Duration::from_millis(450),
            "the quorum waited {took:?}"
        );
        let n = ticks.load(Ordering::SeqCst);
        assert!(n >= 3, "the runtime stalled: {n} ticks in {took:?}");
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
