//! The audit quorum: `decide` against an independent oracle over every 3-vote combination,
//! `run_quorum` with in-process fake auditors (timeouts, panics, order), and the command
//! auditor against tiny shell scripts.
//!
//! Timing tests use real, short timeouts (≤ 300 ms) against auditors that would otherwise take
//! 30 s, and generous upper bounds, so they are fast and cannot flake on a loaded machine.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchgate::audit::command::CommandAuditor;
use patchgate::audit::decide::{decide, QuorumConfig, QuorumError};
use patchgate::audit::quorum::{run_quorum, Auditor};
use patchgate::audit::vote::{
    AbstainReason, AuditInput, ChangedFileView, FileStatus, Severity, Verdict, Vote,
};

const ALL: [Verdict; 3] = [Verdict::Approve, Verdict::Reject, Verdict::Abstain];
const NAMES: [&str; 3] = ["rule-guard", "reviewer-1", "reviewer-2"];

fn votes_of(verdicts: &[Verdict]) -> Vec<Vote> {
    verdicts
        .iter()
        .zip(NAMES)
        .map(|(&verdict, name)| match verdict {
            Verdict::Abstain => Vote::abstain(name, AbstainReason::Budget),
            v => Vote::new(name, v),
        })
        .collect()
}

/// The oracle, written from the rule's statement rather than from `decide`:
/// pass = enough approvals, decided by the approvers; otherwise by the rejecters — an
/// abstention decides nothing, so an abstainer is never named (issue #21, item 10).
fn oracle(required: usize, verdicts: &[Verdict]) -> (bool, Vec<&'static str>) {
    let named = || verdicts.iter().copied().zip(NAMES);
    let approvals = verdicts.iter().filter(|v| **v == Verdict::Approve).count();
    if approvals >= required {
        let by = named()
            .filter(|(v, _)| *v == Verdict::Approve)
            .map(|(_, n)| n);
        (true, by.collect())
    } else {
        let by = named()
            .filter(|(v, _)| *v == Verdict::Reject)
            .map(|(_, n)| n);
        (false, by.collect())
    }
}

#[test]
fn decide_matches_the_oracle_on_every_three_vote_combination() {
    let mut cases = 0;
    for required in 1..=3 {
        for a in ALL {
            for b in ALL {
                for c in ALL {
                    let verdicts = [a, b, c];
                    let d = decide(required, &votes_of(&verdicts)).unwrap();
                    let (passed, by) = oracle(required, &verdicts);
                    let ctx = format!("required {required}, votes {verdicts:?}: {d:?}");
                    assert_eq!(d.passed, passed, "{ctx}");
                    assert_eq!(d.decided_by, by, "{ctx}");
                    assert_eq!(d.required, required, "{ctx}");
                    let count = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
                    assert_eq!(d.approvals, count(Verdict::Approve), "{ctx}");
                    assert_eq!(d.rejections, count(Verdict::Reject), "{ctx}");
                    assert_eq!(d.abstentions, count(Verdict::Abstain), "{ctx}");
                    assert_eq!(d.approvals + d.rejections + d.abstentions, 3, "{ctx}");
                    assert!(d.reason.starts_with(if passed { "passed" } else { "" }));
                    assert!(!d.reason.is_empty(), "{ctx}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 81);
}

#[test]
fn two_rejections_decide_a_rejection_at_once() {
    let d = decide(
        2,
        &votes_of(&[Verdict::Reject, Verdict::Approve, Verdict::Reject]),
    )
    .unwrap();
    assert!(!d.passed);
    assert_eq!(d.decided_by, ["rule-guard", "reviewer-2"]);
    assert!(d.reason.starts_with("rejected:"), "{}", d.reason);
    assert!(d.reason.contains("at most 1 could approve"), "{}", d.reason);
}

#[test]
fn abstentions_never_count_as_approvals() {
    let all_abstain = votes_of(&[Verdict::Abstain; 3]);
    for required in 1..=3 {
        let d = decide(required, &all_abstain).unwrap();
        assert!(!d.passed, "required {required}");
        assert_eq!(d.approvals, 0);
        assert_eq!(d.abstentions, 3);
    }
    let d = decide(
        2,
        &votes_of(&[Verdict::Approve, Verdict::Abstain, Verdict::Abstain]),
    )
    .unwrap();
    assert!(!d.passed);
    assert_eq!(d.approvals, 1);
    // Nobody decided it: the abstainers are not named as deciders.
    assert!(d.decided_by.is_empty(), "{:?}", d.decided_by);
    assert!(d.reason.contains("daily budget spent"), "{}", d.reason);
}

#[test]
fn configuration_errors() {
    let three = votes_of(&[Verdict::Approve; 3]);
    assert_eq!(decide(0, &three), Err(QuorumError::ZeroRequired));
    assert_eq!(
        decide(4, &three),
        Err(QuorumError::RequiredExceedsAuditors {
            required: 4,
            auditors: 3
        })
    );
    assert_eq!(
        decide(1, &[]),
        Err(QuorumError::RequiredExceedsAuditors {
            required: 1,
            auditors: 0
        })
    );
    let mut twice = three.clone();
    twice[2].auditor = "rule-guard".into();
    assert_eq!(
        decide(2, &twice),
        Err(QuorumError::DuplicateAuditor("rule-guard".into()))
    );
    assert!(QuorumConfig::new(0, 3).is_err());
    assert!(QuorumConfig::new(4, 3).is_err());
    assert_eq!(QuorumConfig::new(2, 3).unwrap().required(), 2);
}

// ---- run_quorum with in-process fakes ----

enum Act {
    Vote(Verdict),
    SleepThen(Duration, Verdict),
    Panic,
    /// Votes approve under somebody else's name.
    Impersonate(&'static str),
}

struct Fake {
    name: &'static str,
    timeout: Duration,
    act: Act,
    ran: AtomicBool,
}

fn fake(name: &'static str, timeout_ms: u64, act: Act) -> Arc<Fake> {
    Arc::new(Fake {
        name,
        timeout: Duration::from_millis(timeout_ms),
        act,
        ran: AtomicBool::new(false),
    })
}

impl Auditor for Fake {
    fn name(&self) -> &str {
        self.name
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
    fn review<'a>(
        &'a self,
        _input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
        Box::pin(async move {
            self.ran.store(true, Ordering::SeqCst);
            match &self.act {
                Act::Vote(v) => Vote::new(self.name, *v),
                Act::SleepThen(d, v) => {
                    tokio::time::sleep(*d).await;
                    Vote::new(self.name, *v)
                }
                Act::Panic => panic!("auditor {} fell over", self.name),
                Act::Impersonate(other) => Vote::new(*other, Verdict::Approve),
            }
        })
    }
}

fn dyns(fakes: &[Arc<Fake>]) -> Vec<Arc<dyn Auditor>> {
    fakes
        .iter()
        .map(|f| Arc::clone(f) as Arc<dyn Auditor>)
        .collect()
}

fn verdicts(votes: &[Vote]) -> Vec<Verdict> {
    votes.iter().map(|v| v.verdict).collect()
}

fn names(votes: &[Vote]) -> Vec<&str> {
    votes.iter().map(|v| v.auditor.as_str()).collect()
}

#[tokio::test]
async fn a_slow_auditor_abstains_without_delaying_the_others() {
    let fakes = [
        fake("rule-guard", 1000, Act::Vote(Verdict::Approve)),
        fake(
            "reviewer-1",
            200,
            Act::SleepThen(Duration::from_secs(30), Verdict::Approve),
        ),
        fake(
            "reviewer-2",
            1000,
            Act::SleepThen(Duration::from_millis(20), Verdict::Approve),
        ),
    ];
    let started = Instant::now();
    let (votes, decision) = run_quorum(&dyns(&fakes), &AuditInput::default(), 2)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(200 + 800),
        "took {elapsed:?}"
    );
    assert_eq!(
        verdicts(&votes),
        [Verdict::Approve, Verdict::Abstain, Verdict::Approve]
    );
    assert_eq!(votes[1].reason.as_deref(), Some("timed out after 200 ms"));
    assert!(decision.passed);
    assert_eq!(decision.decided_by, ["rule-guard", "reviewer-2"]);
}

#[tokio::test]
async fn a_timeout_is_never_an_approval() {
    let fakes = [
        fake("a", 1000, Act::Vote(Verdict::Approve)),
        fake(
            "b",
            100,
            Act::SleepThen(Duration::from_secs(30), Verdict::Approve),
        ),
        fake(
            "c",
            100,
            Act::SleepThen(Duration::from_secs(30), Verdict::Approve),
        ),
    ];
    let (votes, decision) = run_quorum(&dyns(&fakes), &AuditInput::default(), 2)
        .await
        .unwrap();
    assert_eq!(
        verdicts(&votes),
        [Verdict::Approve, Verdict::Abstain, Verdict::Abstain]
    );
    assert!(!decision.passed);
}

#[tokio::test]
async fn a_panicking_auditor_abstains() {
    let fakes = [
        fake("a", 1000, Act::Vote(Verdict::Approve)),
        fake("b", 1000, Act::Panic),
        fake("c", 1000, Act::Vote(Verdict::Approve)),
    ];
    let (votes, decision) = run_quorum(&dyns(&fakes), &AuditInput::default(), 3)
        .await
        .unwrap();
    assert_eq!(votes[1].verdict, Verdict::Abstain);
    let reason = votes[1].reason.as_deref().unwrap();
    assert!(reason.starts_with("crashed: panicked"), "{reason}");
    assert!(reason.contains("auditor b fell over"), "{reason}");
    assert!(!decision.passed);
    assert_eq!(decision.approvals, 2);
}

#[tokio::test]
async fn votes_come_back_in_configured_order() {
    // Finishing order c, b, a; configured order a, b, c.
    let fakes = [
        fake(
            "a",
            2000,
            Act::SleepThen(Duration::from_millis(150), Verdict::Reject),
        ),
        fake(
            "b",
            2000,
            Act::SleepThen(Duration::from_millis(60), Verdict::Approve),
        ),
        fake("c", 2000, Act::Vote(Verdict::Abstain)),
    ];
    let (votes, decision) = run_quorum(&dyns(&fakes), &AuditInput::default(), 1)
        .await
        .unwrap();
    assert_eq!(names(&votes), ["a", "b", "c"]);
    assert_eq!(
        verdicts(&votes),
        [Verdict::Reject, Verdict::Approve, Verdict::Abstain]
    );
    assert!(decision.passed);
    assert_eq!(decision.decided_by, ["b"]);
}

#[tokio::test]
async fn votes_are_recorded_under_the_configured_name() {
    let fakes = [
        fake("a", 1000, Act::Impersonate("rule-guard")),
        fake("rule-guard", 1000, Act::Vote(Verdict::Reject)),
    ];
    let (votes, decision) = run_quorum(&dyns(&fakes), &AuditInput::default(), 1)
        .await
        .unwrap();
    assert_eq!(names(&votes), ["a", "rule-guard"]);
    assert_eq!(decision.decided_by, ["a"]);
}

#[tokio::test]
async fn run_quorum_refuses_bad_configuration_before_running_anyone() {
    let fakes = [
        fake("a", 1000, Act::Vote(Verdict::Approve)),
        fake("a", 1000, Act::Vote(Verdict::Approve)),
    ];
    let input = AuditInput::default();
    assert_eq!(
        run_quorum(&dyns(&fakes), &input, 0).await.err(),
        Some(QuorumError::ZeroRequired)
    );
    assert_eq!(
        run_quorum(&dyns(&fakes), &input, 3).await.err(),
        Some(QuorumError::RequiredExceedsAuditors {
            required: 3,
            auditors: 2
        })
    );
    assert_eq!(
        run_quorum(&dyns(&fakes), &input, 1).await.err(),
        Some(QuorumError::DuplicateAuditor("a".into()))
    );
    assert!(fakes.iter().all(|f| !f.ran.load(Ordering::SeqCst)));
}

// ---- the command auditor against shell scripts ----

fn sample_input() -> AuditInput {
    AuditInput {
        repo: "owner/name".into(),
        base: "b".repeat(40),
        head: "h".repeat(40),
        files: vec![ChangedFileView {
            path: "src/lib.rs".into(),
            language: Some("rust".into()),
            status: FileStatus::Modified,
            hunks: "@@ -1 +1 @@\n-fn a() {}\n+fn a() { b() }\n".into(),
            entities: vec!["a".into()],
        }],
        structural_summary: "1 call added in a".into(),
        explanations: vec!["a now calls b".into(), "call b from a".into()],
        rule_findings: vec![],
        escalation: None,
    }
}

/// Writes `body` as a `#!/bin/sh` script in `dir`. Scripts are run as `/bin/sh <script>`
/// rather than executed directly: executing a file this process just wrote can fail with
/// ETXTBSY when another test thread forks meanwhile.
fn script(dir: &Path, name: &str, body: &str) -> Vec<String> {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    vec!["/bin/sh".into(), path.to_string_lossy().into_owned()]
}

fn auditor(argv: Vec<String>, timeout_ms: u64) -> CommandAuditor {
    CommandAuditor::new("cmd", argv, Duration::from_millis(timeout_ms))
}

fn assert_abstains(vote: &Vote, reason_contains: &str) {
    assert_eq!(vote.verdict, Verdict::Abstain, "{vote:?}");
    let reason = vote.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(reason_contains),
        "{reason:?} should contain {reason_contains:?}"
    );
}

#[tokio::test]
async fn command_approves_and_receives_the_input_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("stdin.json");
    let argv = script(
        dir.path(),
        "approve.sh",
        &format!(
            "cat > '{}'\necho '{{\"verdict\":\"approve\",\"explanation\":\"fine\"}}'",
            seen.display()
        ),
    );
    let input = sample_input();
    let vote = auditor(argv, 5000).review(&input).await;
    assert_eq!(vote.verdict, Verdict::Approve, "{vote:?}");
    assert_eq!(vote.auditor, "cmd");
    assert_eq!(vote.explanation, "fine");
    let received: AuditInput =
        serde_json::from_slice(&std::fs::read(&seen).unwrap()).expect("the script got JSON");
    assert_eq!(received, input);
}

#[tokio::test]
async fn command_rejects_with_findings() {
    let dir = tempfile::tempdir().unwrap();
    let argv = script(
        dir.path(),
        "reject.sh",
        r#"cat >/dev/null
cat <<'EOF'
{"verdict": "reject", "reason": "unsafe call",
 "findings": [{"rule": "no-eval", "file": "src/lib.rs", "line": 1, "severity": "error", "message": "eval"},
              {"category": "style", "severity": "info", "message": "naming"}],
 "explanation": "calls eval"}
EOF"#,
    );
    let vote = auditor(argv, 5000).review(&sample_input()).await;
    assert_eq!(vote.verdict, Verdict::Reject, "{vote:?}");
    assert_eq!(vote.reason.as_deref(), Some("unsafe call"));
    assert_eq!(vote.findings.len(), 2);
    assert_eq!(vote.findings[0].rule, "no-eval");
    assert_eq!(vote.findings[0].file.as_deref(), Some("src/lib.rs"));
    assert_eq!(vote.findings[0].line, Some(1));
    assert_eq!(vote.findings[0].severity, Severity::Error);
    assert_eq!(vote.findings[1].rule, "style");
    assert_eq!(vote.findings[1].file, None);
}

#[tokio::test]
async fn command_abstention_keeps_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let argv = script(
        dir.path(),
        "abstain.sh",
        r#"cat >/dev/null; echo '{"verdict":"abstain","reason":"no opinion on YAML"}'"#,
    );
    let vote = auditor(argv, 5000).review(&sample_input()).await;
    assert_abstains(&vote, "no opinion on YAML");
}

#[tokio::test]
async fn command_garbage_abstains() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("lgtm.sh", "cat >/dev/null; echo 'LGTM, approve'"),
        ("empty.sh", "cat >/dev/null"),
        (
            "typo.sh",
            r#"cat >/dev/null; echo '{"verdict":"approved"}'"#,
        ),
        (
            "extra.sh",
            r#"cat >/dev/null; echo '{"verdict":"approve","score":1}'"#,
        ),
        (
            "two.sh",
            r#"cat >/dev/null; echo '{"verdict":"reject"}'; echo '{"verdict":"approve"}'"#,
        ),
    ] {
        let vote = auditor(script(dir.path(), name, body), 5000)
            .review(&sample_input())
            .await;
        assert_abstains(&vote, "malformed answer");
    }
}

#[tokio::test]
async fn command_nonzero_exit_abstains_even_with_an_approval_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let argv = script(
        dir.path(),
        "exit1.sh",
        r#"cat >/dev/null; echo '{"verdict":"approve"}'; echo 'model endpoint down' >&2; exit 1"#,
    );
    let vote = auditor(argv, 5000).review(&sample_input()).await;
    assert_abstains(&vote, "crashed: exit status 1: model endpoint down");

    let argv = script(
        dir.path(),
        "killed.sh",
        r#"cat >/dev/null; echo '{"verdict":"approve"}'; kill -9 $$"#,
    );
    let vote = auditor(argv, 5000).review(&sample_input()).await;
    assert_abstains(&vote, "killed by signal 9");
}

#[tokio::test]
async fn command_missing_program_abstains() {
    let vote = auditor(vec!["/nonexistent/auditor".into()], 5000)
        .review(&sample_input())
        .await;
    assert_abstains(&vote, "unavailable: cannot start");
}

/// True once `pid` no longer runs (gone, or a zombie waiting to be reaped).
fn stopped(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            // state is the field after the parenthesised command name
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            state.starts_with('Z') || state.starts_with('X')
        }
    }
}

fn wait_stopped(pid_file: &PathBuf) {
    let pid = std::fs::read_to_string(pid_file).expect("the script wrote its pid");
    let pid = pid.trim();
    assert!(!pid.is_empty());
    let until = Instant::now() + Duration::from_secs(5);
    while !stopped(pid) {
        assert!(Instant::now() < until, "process {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn command_past_its_timeout_abstains_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (pid, sleeper) = (dir.path().join("pid"), dir.path().join("sleeper"));
    let argv = script(
        dir.path(),
        "slow.sh",
        &format!(
            "echo $$ > '{}'\nsleep 30 &\necho $! > '{}'\nwait\necho '{{\"verdict\":\"approve\"}}'",
            pid.display(),
            sleeper.display()
        ),
    );
    let started = Instant::now();
    let vote = auditor(argv, 300).review(&sample_input()).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_abstains(&vote, "timed out after 300 ms");
    if Path::new("/proc/self/stat").exists() {
        wait_stopped(&pid);
        wait_stopped(&sleeper);
    }
}

#[tokio::test]
async fn command_in_a_quorum_times_out_alone() {
    let dir = tempfile::tempdir().unwrap();
    let approve = script(
        dir.path(),
        "ok.sh",
        r#"cat >/dev/null; echo '{"verdict":"approve"}'"#,
    );
    let slow = script(dir.path(), "slow.sh", "cat >/dev/null; sleep 30");
    let auditors: Vec<Arc<dyn Auditor>> = vec![
        Arc::new(CommandAuditor::new(
            "one",
            approve.clone(),
            Duration::from_secs(5),
        )),
        Arc::new(CommandAuditor::new(
            "slow",
            slow,
            Duration::from_millis(250),
        )),
        Arc::new(CommandAuditor::new("two", approve, Duration::from_secs(5))),
    ];
    let started = Instant::now();
    let (votes, decision) = run_quorum(&auditors, &sample_input(), 2).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        verdicts(&votes),
        [Verdict::Approve, Verdict::Abstain, Verdict::Approve]
    );
    assert!(decision.passed);
}

#[tokio::test]
async fn command_output_over_the_cap_abstains() {
    let dir = tempfile::tempdir().unwrap();
    // 21 bytes: the vote and its newline.
    let argv = script(
        dir.path(),
        "exact.sh",
        r#"cat >/dev/null; echo '{"verdict":"reject"}'"#,
    );
    let mut at_cap = auditor(argv.clone(), 5000);
    at_cap.max_output_bytes = 21;
    assert_eq!(
        at_cap.review(&sample_input()).await.verdict,
        Verdict::Reject
    );
    let mut under = auditor(argv, 5000);
    under.max_output_bytes = 20;
    assert_abstains(&under.review(&sample_input()).await, "output over 20 bytes");

    // A flood: an approval followed by 2 MiB of padding, over the default 1 MiB cap.
    let argv = script(
        dir.path(),
        "flood.sh",
        r#"cat >/dev/null; echo '{"verdict":"approve"}'; head -c 2097152 /dev/zero | tr '\000' ' '"#,
    );
    let flood = auditor(argv, 5000);
    assert_eq!(flood.max_output_bytes, 1024 * 1024);
    assert_abstains(
        &flood.review(&sample_input()).await,
        "output over 1048576 bytes",
    );
}
