//! Rule-Guard as one of the quorum's auditors: the deterministic vote.
//!
//! It scans the change's files with the rule set (changed syntax only, see `rule_guard`) and
//! maps the findings to a vote by severity ([`SeverityPolicy`]: by default any `error`
//! rejects). It never calls anything outside the process and never abstains on findings: a rule
//! that cannot run on a language reports an error finding, which rejects. The scan runs inside
//! its `review`, on the blocking pool ([`RuleScan`]), so the quorum's timeout covers it: a scan
//! that takes longer is an abstention (`timed out after …`), never a hold-up of the gate.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::astdiff::registry::Registry;
use crate::audit::quorum::{on_blocking_pool, Auditor};
use crate::audit::rule_guard::{self, vote_for, ChangedFile, RuleSet, SeverityPolicy};
use crate::audit::rule_scan::RuleScan;
use crate::audit::vote::{AuditInput, Finding, Verdict, Vote};

/// Rule-Guard's timeout when none is configured (`auditors[].timeout_s`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The Rule-Guard auditor of one change.
pub struct RuleGuardAuditor {
    name: String,
    rules: Arc<RuleSet>,
    /// How many files are scanned.
    files: usize,
    /// The scan, started by the first `review` (or another auditor shown its findings).
    scan: RuleScan,
    policy: SeverityPolicy,
    timeout: Duration,
}

impl RuleGuardAuditor {
    /// Rule-Guard over the change's files (full old and new texts: the quorum's
    /// [`AuditInput`] only carries hunks) with `rules`; nothing is scanned until it reviews.
    pub fn new(
        name: impl Into<String>,
        rules: Arc<RuleSet>,
        registry: Arc<Registry>,
        files: Arc<Vec<ChangedFile>>,
        policy: SeverityPolicy,
    ) -> Self {
        let count = files.len();
        let scan = RuleScan::new(rules.clone(), registry, files);
        Self::with_scan(name, rules, count, scan, policy)
    }

    /// The auditor voting on `scan` (shared with the auditors shown its findings), a scan of
    /// `files` changed files with `rules`.
    pub fn with_scan(
        name: impl Into<String>,
        rules: Arc<RuleSet>,
        files: usize,
        scan: RuleScan,
        policy: SeverityPolicy,
    ) -> Self {
        RuleGuardAuditor {
            name: name.into(),
            rules,
            files,
            scan,
            policy,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The quorum waits this long for the vote, scan included (`auditors[].timeout_s`).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The scan it votes on.
    pub fn scan(&self) -> &RuleScan {
        &self.scan
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
        self.timeout
    }

    fn review<'a>(
        &'a self,
        _input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
        // The scan on the blocking pool, then the vote there too: the quorum's timeout applies
        // to both, and the runtime keeps running.
        Box::pin(async move {
            let found = match self.scan.found().await {
                Ok(found) => found,
                // The quorum records a panic as a crash (an abstention).
                Err(panic) => std::panic::resume_unwind(Box::new(panic)),
            };
            let (name, rules, files) = (self.name.clone(), self.rules.len(), self.files);
            let policy = self.policy.clone();
            on_blocking_pool(move || judge(&name, rules, files, &found, &policy)).await
        })
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

    /// A task counting 5 ms ticks of the runtime it runs on: a runtime held by a blocking
    /// auditor stops counting.
    fn ticker() -> (
        Arc<std::sync::atomic::AtomicU32>,
        tokio::task::JoinHandle<()>,
    ) {
        let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counting = Arc::clone(&ticks);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                counting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (ticks, task)
    }

    /// The ticks counted in the next 300 ms.
    async fn ticks_in_300_ms(ticks: &std::sync::atomic::AtomicU32) -> u32 {
        let before = ticks.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        ticks.load(std::sync::atomic::Ordering::SeqCst) - before
    }

    /// Run `auditor` alone in a quorum, check that it abstains at its 50 ms timeout, and
    /// return how long the quorum took.
    async fn abstains_at_its_50_ms_timeout(auditor: Arc<dyn Auditor>) -> Duration {
        let started = std::time::Instant::now();
        let (votes, _) = crate::audit::quorum::run_quorum(&[auditor], &AuditInput::default(), 1)
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(votes[0].verdict, Verdict::Abstain, "{votes:?}");
        assert_eq!(
            votes[0].reason.as_deref(),
            Some("timed out after 50 ms"),
            "{votes:?}"
        );
        took
    }

    /// How long [`SlowSync`] blocks its thread: far beyond its 50 ms timeout.
    const SLOW: Duration = Duration::from_secs(2);

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
                std::thread::sleep(SLOW);
                Vote::new("slow-sync", Verdict::Approve)
            })
        }
    }

    /// Bounds far from both outcomes, so a loaded machine cannot flip them: on the runtime's
    /// own thread the auditor would hold the quorum for its 2 s and stop every tick meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocking_auditor_times_out_without_stalling_the_runtime() {
        let (ticks, ticker) = ticker();
        let took = abstains_at_its_50_ms_timeout(Arc::new(SlowSync)).await;
        assert!(took < SLOW / 2, "the quorum waited {took:?}");
        // The auditor still blocks its pool thread; the runtime's ticker is not held up.
        let during = ticks_in_300_ms(&ticks).await;
        ticker.abort();
        assert!(during >= 3, "the runtime stalled: {during} ticks in 300 ms");
    }

    /// Rule-Guard whose scan (injected) takes far longer than its timeout: it abstains at
    /// the timeout, and the runtime (one thread) keeps running while the scan goes on. Bounds
    /// far from both outcomes, so a loaded machine cannot flip them: a scan on the runtime's
    /// thread would hold the quorum for its 2 s and stop every tick meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn a_scan_slower_than_the_timeout_abstains_and_the_runtime_keeps_running() {
        use std::sync::atomic::Ordering;
        const SCAN: Duration = Duration::from_secs(2);
        let (ticks, ticker) = ticker();
        let scanning = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scan = {
            let scanning = Arc::clone(&scanning);
            RuleScan::of(move || {
                scanning.store(true, Ordering::SeqCst);
                std::thread::sleep(SCAN);
                scanning.store(false, Ordering::SeqCst);
                Vec::new()
            })
        };
        let guard = RuleGuardAuditor::with_scan(
            "rule-guard",
            Arc::new(RuleSet::embedded().unwrap()),
            1,
            scan,
            SeverityPolicy::default(),
        )
        .with_timeout(Duration::from_millis(50));
        let took = abstains_at_its_50_ms_timeout(Arc::new(guard)).await;
        assert!(took < SCAN / 2, "the quorum waited {took:?} for the scan");
        // The scan is still running on its own thread; the runtime's ticker is not held up.
        let during = ticks_in_300_ms(&ticks).await;
        assert!(
            scanning.load(Ordering::SeqCst),
            "the scan ended before the check"
        );
        ticker.abort();
        assert!(during >= 3, "the runtime stalled: {during} ticks in 300 ms");
    }

    /// The configured timeout is the one the quorum applies (it was fixed at 60 s).
    #[test]
    fn the_configured_timeout_applies() {
        let guard = auditor(Vec::new());
        assert_eq!(guard.timeout(), DEFAULT_TIMEOUT);
        let guard = guard.with_timeout(Duration::from_secs(7));
        assert_eq!(guard.timeout(), Duration::from_secs(7));
    }

    #[tokio::test]
    async fn a_clean_change_is_approved() {
        let v = auditor(vec![ChangedFile {
            path: "src/lib.rs".into(),
            language: None,
            old: Some("pub fn a() -> u8 { 1 }\n".into()),
            new: Some("pub fn a() -> u8 { 2 }\n".into()),
        }])
        .review(&AuditInput::default())
        .await;
        assert_eq!(v.verdict, Verdict::Approve, "{v:?}");
        assert!(v.findings.is_empty());
    }

    #[tokio::test]
    async fn a_planted_key_is_rejected_without_repeating_it() {
        let key = "AKIAIOSFODNN7EXAMPLQ";
        let v = auditor(vec![ChangedFile {
            path: "src/config.py".into(),
            language: None,
            old: Some("x = 1\n".into()),
            new: Some(format!("x = 1\naws_key = \"{key}\"\n")),
        }])
        .review(&AuditInput::default())
        .await;
        assert_eq!(v.verdict, Verdict::Reject, "{v:?}");
        assert!(v.findings.iter().any(|f| f.rule.starts_with("secret-")));
        let all = format!("{v:?}");
        assert!(!all.contains(key), "the vote repeats the secret: {all}");
    }
}
