//! Rule-Guard's scan of one change, run once and shared: the Rule-Guard auditor votes on it,
//! and the other auditors are shown its findings.
//!
//! The scan (a tree-sitter parse of every changed file, then every rule) starts when the first
//! auditor asks for it — inside the quorum — and runs on tokio's blocking pool, so the quorum's
//! per-auditor timeout covers it and the runtime keeps running. A waiter that gives up (its
//! timeout) does not stop it; the next one gets its result, and no one scans twice.
//!
//! [`WithRuleFindings`] wraps an auditor that is shown the findings (a model's prompt, a
//! command's stdin): it waits for the scan — at most Rule-Guard's own timeout, and at most half
//! of its own — and, should the scan not finish by then, is told so in place of the findings.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::astdiff::registry::Registry;
use crate::audit::quorum::Auditor;
use crate::audit::rule_guard::{ChangedFile, Hit, RuleSet, Severity};
use crate::audit::rules_auditor::to_vote_finding;
use crate::audit::vote::{AuditInput, Finding, Vote};

type Work = Box<dyn FnOnce() -> Vec<Hit> + Send>;

/// What the scan came to: its findings, or the message of the panic that ended it.
pub type Scanned = Result<Arc<Vec<Hit>>, String>;

/// One change's scan, started on first use. Cheap to clone (clones share the scan).
#[derive(Clone)]
pub struct RuleScan {
    shared: Arc<Shared>,
}

struct Shared {
    /// The scan, until someone starts it.
    work: Mutex<Option<Work>>,
    /// `None` until the scan ended.
    done: watch::Sender<Option<Scanned>>,
}

impl std::fmt::Debug for RuleScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.shared.done.borrow().is_some() {
            "done"
        } else {
            "pending"
        };
        write!(f, "RuleScan({state})")
    }
}

impl RuleScan {
    /// The scan of `files` with `rules`.
    pub fn new(rules: Arc<RuleSet>, registry: Arc<Registry>, files: Arc<Vec<ChangedFile>>) -> Self {
        Self::of(move || rules.scan(&registry, &files))
    }

    /// A scan doing `work` (tests inject a slow one).
    pub fn of(work: impl FnOnce() -> Vec<Hit> + Send + 'static) -> Self {
        RuleScan {
            shared: Arc::new(Shared {
                work: Mutex::new(Some(Box::new(work))),
                done: watch::Sender::new(None),
            }),
        }
    }

    /// The findings, waiting for the scan (started on the blocking pool if no one started it).
    /// Cancel-safe: dropping the future leaves the scan running for the next caller.
    pub async fn found(&self) -> Scanned {
        let mut done = self.shared.done.subscribe();
        self.start();
        // The sender lives as long as `self`: the wait cannot fail while we hold it.
        let result = done
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| r.clone());
        result.unwrap_or_else(|| Err("the scan's result was lost".to_string()))
    }

    fn start(&self) {
        let work = self
            .shared
            .work
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(work) = work {
            let shared = Arc::clone(&self.shared);
            tokio::task::spawn_blocking(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                    .map(Arc::new)
                    .map_err(|p| panic_text(p.as_ref()));
                shared.done.send_replace(Some(result));
            });
        }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// An auditor shown Rule-Guard's findings (in `AuditInput::rule_findings`) from the shared
/// scan. Its name, timeout and vote are the wrapped auditor's.
pub struct WithRuleFindings {
    inner: Arc<dyn Auditor>,
    scan: RuleScan,
    /// How long it waits for the scan.
    wait: Duration,
}

impl WithRuleFindings {
    /// `inner`, shown the findings of `scan`, waiting for them at most `rules_timeout` (Rule-
    /// Guard's own) and at most half of `inner`'s timeout.
    pub fn new(inner: Arc<dyn Auditor>, scan: RuleScan, rules_timeout: Duration) -> Self {
        let wait = rules_timeout.min(inner.timeout() / 2);
        WithRuleFindings { inner, scan, wait }
    }
}

/// What the other auditors are shown when the scan did not end in time (or crashed).
fn unfinished(why: &str) -> Finding {
    Finding {
        rule: "rule-guard".to_string(),
        file: None,
        line: None,
        severity: Severity::Warning,
        message: format!("Rule-Guard's scan {why}: its findings are not known"),
    }
}

impl Auditor for WithRuleFindings {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn timeout(&self) -> Duration {
        self.inner.timeout()
    }

    fn review<'a>(
        &'a self,
        input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
        Box::pin(async move {
            let findings = match tokio::time::timeout(self.wait, self.scan.found()).await {
                Ok(Ok(found)) => found.iter().map(to_vote_finding).collect(),
                Ok(Err(_)) => vec![unfinished("failed")],
                Err(_) => vec![unfinished(&format!(
                    "did not finish within {} ms",
                    self.wait.as_millis()
                ))],
            };
            let shown = AuditInput {
                rule_findings: findings,
                ..input.clone()
            };
            self.inner.review(&shown).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::audit::quorum::run_quorum;
    use crate::audit::rule_guard::SeverityPolicy;
    use crate::audit::rules_auditor::RuleGuardAuditor;
    use crate::audit::vote::Verdict;

    /// Approves, and keeps what it was shown of Rule-Guard's findings.
    struct Shown {
        name: &'static str,
        timeout: Duration,
        saw: Mutex<Vec<Finding>>,
    }

    impl Auditor for Shown {
        fn name(&self) -> &str {
            self.name
        }
        fn timeout(&self) -> Duration {
            self.timeout
        }
        fn review<'a>(
            &'a self,
            input: &'a AuditInput,
        ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
            *self.saw.lock().unwrap() = input.rule_findings.clone();
            Box::pin(async move { Vote::new(self.name, Verdict::Approve) })
        }
    }

    fn shown(name: &'static str, timeout: Duration) -> Arc<Shown> {
        Arc::new(Shown {
            name,
            timeout,
            saw: Mutex::new(Vec::new()),
        })
    }

    fn guard(scan: &RuleScan, timeout: Duration) -> Arc<dyn Auditor> {
        Arc::new(
            RuleGuardAuditor::with_scan(
                "rule-guard",
                Arc::new(RuleSet::embedded().unwrap()),
                1,
                scan.clone(),
                SeverityPolicy::default(),
            )
            .with_timeout(timeout),
        )
    }

    fn hit() -> Hit {
        Hit {
            rule_id: "secret-aws-access-key".into(),
            severity: Severity::Error,
            path: "creds.py".into(),
            line: Some(1),
            end_line: Some(1),
            message: "an access key id".into(),
            secret: true,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scan_runs_once_and_the_other_auditors_are_shown_its_findings() {
        let scans = Arc::new(AtomicU32::new(0));
        let scan = {
            let scans = Arc::clone(&scans);
            RuleScan::of(move || {
                scans.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                vec![hit()]
            })
        };
        let (a, b) = (
            shown("a", Duration::from_secs(10)),
            shown("b", Duration::from_secs(10)),
        );
        let limit = Duration::from_secs(10);
        let auditors: Vec<Arc<dyn Auditor>> = vec![
            guard(&scan, limit),
            Arc::new(WithRuleFindings::new(a.clone(), scan.clone(), limit)),
            Arc::new(WithRuleFindings::new(b.clone(), scan.clone(), limit)),
        ];
        let (votes, _) = run_quorum(&auditors, &AuditInput::default(), 2)
            .await
            .unwrap();
        assert_eq!(scans.load(Ordering::SeqCst), 1, "scanned more than once");
        assert_eq!(votes[0].verdict, Verdict::Reject, "{votes:?}");
        assert_eq!(votes[0].findings[0].rule, "secret-aws-access-key");
        for s in [&a, &b] {
            let saw = s.saw.lock().unwrap().clone();
            assert_eq!(saw, vec![to_vote_finding(&hit())], "{}", s.name);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_auditor_is_told_when_the_scan_did_not_finish_or_failed() {
        let slow = RuleScan::of(|| {
            std::thread::sleep(Duration::from_secs(2));
            vec![hit()]
        });
        // Waits for the scan at most Rule-Guard's 50 ms (half its own 10 s is more). The scan
        // takes 2 s and the bound is 1 s: far from both outcomes on a loaded machine.
        let a = shown("a", Duration::from_secs(10));
        let limit = Duration::from_millis(50);
        let auditors: Vec<Arc<dyn Auditor>> = vec![
            guard(&slow, limit),
            Arc::new(WithRuleFindings::new(a.clone(), slow.clone(), limit)),
        ];
        let started = std::time::Instant::now();
        let (votes, _) = run_quorum(&auditors, &AuditInput::default(), 1)
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(votes[0].reason.as_deref(), Some("timed out after 50 ms"));
        assert_eq!(votes[1].verdict, Verdict::Approve);
        let saw = a.saw.lock().unwrap().clone();
        assert_eq!(saw.len(), 1, "{saw:?}");
        assert_eq!(
            saw[0].message,
            "Rule-Guard's scan did not finish within 50 ms: its findings are not known"
        );
        // The scan went on without its waiters; a later caller gets its result, not a rescan.
        let found = slow.found().await.unwrap();
        assert_eq!(found.len(), 1);

        // A scan that panics: Rule-Guard's vote is a crash (an abstention), the others are told.
        let broken = RuleScan::of(|| panic!("a grammar blew up"));
        let b = shown("b", Duration::from_secs(10));
        let limit = Duration::from_secs(10);
        let auditors: Vec<Arc<dyn Auditor>> = vec![
            guard(&broken, limit),
            Arc::new(WithRuleFindings::new(b.clone(), broken.clone(), limit)),
        ];
        let (votes, _) = run_quorum(&auditors, &AuditInput::default(), 1)
            .await
            .unwrap();
        assert_eq!(votes[0].verdict, Verdict::Abstain, "{votes:?}");
        assert_eq!(
            votes[0].reason.as_deref(),
            Some("crashed: panicked: a grammar blew up"),
            "{votes:?}"
        );
        let saw = b.saw.lock().unwrap().clone();
        assert_eq!(
            saw[0].message,
            "Rule-Guard's scan failed: its findings are not known"
        );
    }
}
