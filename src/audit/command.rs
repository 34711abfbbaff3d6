//! An auditor that is an external program: [`CommandAuditor`] writes the [`AuditInput`] as JSON
//! to the program's stdin and reads one JSON vote from its stdout:
//!
//! ```json
//! {"verdict": "approve|reject|abstain", "reason": "…", "findings": [...], "explanation": "…"}
//! ```
//!
//! Only `verdict` is required. The answer is parsed strictly: unknown fields are refused
//! (`deny_unknown_fields`, on the vote and on each finding), so a misspelt or unexpected answer
//! is an abstention rather than a guess.
//!
//! It must never approve by accident: a program that cannot be started, exits non-zero, is
//! killed, answers anything but one JSON vote, writes more than `max_output_bytes`, does not
//! take its whole input, or outlives its timeout abstains, with a reason naming what happened.
//! An approval needs exit status 0 *and* `"verdict": "approve"`.
//!
//! The program runs in its own process group (Unix); when the review ends for any reason —
//! including the quorum dropping it at its timeout — the whole group is sent SIGKILL, so no
//! grandchild outlives the review. The commands come from the server's own configuration, never
//! from a repository.

use std::future::Future;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::quorum::Auditor;
use super::vote::{AbstainReason, AuditInput, Finding, Verdict, Vote};

/// Default cap on a command auditor's stdout.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// How much of stderr is kept to explain a failure.
const STDERR_KEEP: usize = 4096;

/// An external program as an auditor.
#[derive(Debug, Clone)]
pub struct CommandAuditor {
    pub name: String,
    /// Program and arguments; `argv[0]` is looked up on `PATH`.
    pub argv: Vec<String>,
    pub timeout: Duration,
    /// Stdout beyond this many bytes is an abstention.
    pub max_output_bytes: usize,
}

impl CommandAuditor {
    /// A command auditor with the default output cap (1 MiB).
    pub fn new(name: impl Into<String>, argv: Vec<String>, timeout: Duration) -> Self {
        CommandAuditor {
            name: name.into(),
            argv,
            timeout,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    async fn run(&self, input: &AuditInput) -> Result<Vote, AbstainReason> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(AbstainReason::NotConfigured);
        };
        let payload = serde_json::to_vec(input)
            .map_err(|e| AbstainReason::Crashed(format!("cannot serialise the input: {e}")))?;

        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| AbstainReason::Unavailable(format!("cannot start {program:?}: {e}")))?;
        let group = GroupKiller(child.id());

        let mut stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        // Input and stderr in their own tasks, so neither a program that does not read its
        // input nor one that chatters on stderr can stall the reading of its answer. Both end
        // once the process group is gone (at the latest when `group` is dropped).
        let writer = tokio::spawn(async move {
            stdin.write_all(&payload).await?;
            stdin.shutdown().await
        });
        let stderr_reader = tokio::spawn(read_head(stderr, STDERR_KEEP));

        let cap = self.max_output_bytes;
        let out = read_capped(stdout, cap)
            .await
            .map_err(|e| AbstainReason::Crashed(format!("cannot read its output: {e}")))?
            .ok_or_else(|| AbstainReason::Malformed(format!("output over {cap} bytes")))?;

        let status = child
            .wait()
            .await
            .map_err(|e| AbstainReason::Crashed(format!("cannot wait for it: {e}")))?;
        // Whatever it left behind goes now, so the pipes close.
        group.kill();
        let written = writer.await;
        let stderr_line = first_line(&stderr_reader.await.unwrap_or_default());

        if !status.success() {
            let mut why = describe_exit(status);
            if !stderr_line.is_empty() {
                why = format!("{why}: {stderr_line}");
            }
            return Err(AbstainReason::Crashed(why));
        }
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(AbstainReason::Malformed(format!(
                    "did not read its whole input: {e}"
                )))
            }
            Err(e) => {
                return Err(AbstainReason::Crashed(format!(
                    "writing its input failed: {e}"
                )))
            }
        }
        parse_vote(&self.name, &out)
    }
}

impl Auditor for CommandAuditor {
    fn name(&self) -> &str {
        &self.name
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn review<'a>(
        &'a self,
        input: &'a AuditInput,
    ) -> Pin<Box<dyn Future<Output = Vote> + Send + 'a>> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.run(input)).await {
                Ok(Ok(vote)) => vote,
                Ok(Err(reason)) => Vote::abstain(&self.name, reason),
                Err(_) => Vote::abstain(&self.name, AbstainReason::Timeout(self.timeout)),
            }
        })
    }
}

/// The vote a command auditor writes on stdout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireVote {
    verdict: Verdict,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    findings: Vec<Finding>,
    #[serde(default)]
    explanation: String,
}

/// Parses a command auditor's stdout as exactly one JSON vote (surrounding whitespace allowed).
fn parse_vote(auditor: &str, out: &[u8]) -> Result<Vote, AbstainReason> {
    if out.iter().all(u8::is_ascii_whitespace) {
        return Err(AbstainReason::Malformed("empty output".into()));
    }
    // A struct also deserialises from a JSON array (`["approve"]`): demand an object.
    if out.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AbstainReason::Malformed("not a JSON object".into()));
    }
    // Straight into the struct, not through `serde_json::Value`: a repeated field is an error
    // here, where a `Value` would silently keep the last one.
    let wire: WireVote = serde_json::from_slice(out)
        .map_err(|e| AbstainReason::Malformed(format!("not a JSON vote: {e}")))?;
    let reason = match (wire.verdict, wire.reason) {
        (Verdict::Abstain, None) => Some("abstained without a reason".to_string()),
        (_, reason) => reason,
    };
    Ok(Vote {
        auditor: auditor.to_string(),
        verdict: wire.verdict,
        reason,
        findings: wire.findings,
        explanation: wire.explanation,
        cost_usd: 0.0,
    })
}

/// Reads `reader` to its end, keeping at most `cap` bytes. `Ok(None)` when there was more:
/// reading stops at the first byte over the cap.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: R,
    cap: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut buf).await?;
    Ok((buf.len() <= cap).then_some(buf))
}

/// Reads `reader` to its end, keeping only the first `keep` bytes. Errors end the reading.
async fn read_head<R: AsyncRead + Unpin>(mut reader: R, keep: usize) -> Vec<u8> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = reader.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let room = keep.saturating_sub(head.len());
        head.extend_from_slice(&chunk[..n.min(room)]);
    }
    head
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect()
}

fn describe_exit(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "abnormal exit".to_string(),
    }
}

/// Sends SIGKILL to the child's process group when dropped: at the end of every review,
/// normal or not, so nothing the program started keeps running.
struct GroupKiller(Option<u32>);

impl GroupKiller {
    fn kill(&self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|p| libc::pid_t::try_from(p).ok()) {
            if pid > 0 {
                // SAFETY: kill(2) has no memory-safety preconditions. The group id is the
                // child's pid (process_group(0)); a negative pid addresses the whole group.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_strict_vote() {
        let v = parse_vote("x", br#" {"verdict":"reject","reason":"bad","findings":[{"rule":"r","severity":"error","message":"m"}]} "#).unwrap();
        assert_eq!(v.verdict, Verdict::Reject);
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.auditor, "x");
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            &b""[..],
            b"  \n",
            b"approve",
            b"{\"verdict\":\"APPROVE\"}",
            b"{\"verdict\":\"approve\",\"approved\":true}",
            b"{\"verdict\":\"approve\"}{\"verdict\":\"approve\"}",
            b"{}",
            b"[\"approve\"]",
            b"{\"verdict\":\"reject\",\"verdict\":\"approve\"}",
            b"{\"verdict\":\"approve\",\"findings\":[{\"rule\":\"r\",\"severity\":\"fatal\",\"message\":\"m\"}]}",
        ] {
            assert!(
                matches!(parse_vote("x", bad), Err(AbstainReason::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn abstain_without_reason_gets_one() {
        let v = parse_vote("x", br#"{"verdict":"abstain"}"#).unwrap();
        assert_eq!(v.verdict, Verdict::Abstain);
        assert!(v.reason.is_some());
    }

    #[tokio::test]
    async fn read_capped_stops_over_the_cap() {
        assert_eq!(
            read_capped(&b"abc"[..], 3).await.unwrap(),
            Some(b"abc".to_vec())
        );
        assert_eq!(read_capped(&b"abcd"[..], 3).await.unwrap(), None);
    }

    #[tokio::test]
    async fn empty_argv_is_not_configured() {
        let a = CommandAuditor::new("c", vec![], Duration::from_secs(1));
        let v = a.review(&AuditInput::default()).await;
        assert_eq!(v.verdict, Verdict::Abstain);
        assert_eq!(v.reason.as_deref(), Some("not configured"));
    }

    #[tokio::test]
    async fn missing_program_is_unavailable() {
        let a = CommandAuditor::new(
            "c",
            vec!["/nonexistent/patchgate-auditor".into()],
            Duration::from_secs(1),
        );
        let v = a.review(&AuditInput::default()).await;
        assert_eq!(v.verdict, Verdict::Abstain);
        assert!(v.reason.unwrap().starts_with("unavailable: cannot start"));
    }
}
