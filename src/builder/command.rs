//! Running a command builder: synchronous (the caller is on the blocking pool), in its own
//! process group, in the scratch worktree, with an environment cleared but for the variables
//! the operator lists (and `PATCHGATE_REQUEST_FILE`, `PATCHGATE_BASE`), the request on stdin,
//! a wall-clock limit (at which the whole process group is killed) and caps on what is kept of
//! its output (the rest is read and dropped, so a chatty builder never blocks on a full pipe).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a builder printed, kept within the cap.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stdout_cut: bool,
    pub stderr: Vec<u8>,
}

/// How a run ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFailure {
    /// The program could not be started.
    Start(String),
    /// Killed at the wall-clock limit.
    Timeout(Duration),
    /// A non-zero exit or a signal, with the end of its stderr.
    Failed(String),
}

/// The spec of one run.
pub struct Run<'a> {
    pub argv: &'a [String],
    pub work: &'a Path,
    pub request_file: &'a Path,
    pub base: &'a str,
    /// `(name, value)` of the variables passed through.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub max_output_bytes: usize,
}

/// Kills a process group when dropped.
struct Group(u32);

impl Group {
    fn kill(&self) {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads (it
        // was started with `process_group(0)`); no memory is touched.
        unsafe {
            libc::kill(-(self.0 as i32), libc::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Read `r` to its end, keeping the first `cap` bytes; whether more came.
fn drain(mut r: impl Read, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    cut = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, cut)
}

/// Replace `{request_file}` and `{base}` in an argument.
fn expand(arg: &str, request_file: &Path, base: &str) -> String {
    arg.replace("{request_file}", &request_file.to_string_lossy())
        .replace("{base}", base)
}

/// Run the builder; its output when it exits 0 within the limit.
pub fn run(spec: &Run<'_>) -> Result<Output, RunFailure> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(RunFailure::Start("no command".into()));
    };
    let stdin = std::fs::File::open(spec.request_file)
        .map_err(|e| RunFailure::Start(format!("opening the request file: {e}")))?;
    let mut cmd = Command::new(expand(program, spec.request_file, spec.base));
    cmd.args(args.iter().map(|a| expand(a, spec.request_file, spec.base)))
        .current_dir(spec.work)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("PATCHGATE_REQUEST_FILE", spec.request_file)
        .env("PATCHGATE_BASE", spec.base)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| RunFailure::Start(format!("cannot start {program:?}: {e}")))?;
    let group = Group(child.id());
    let cap = spec.max_output_bytes;
    let out = child.stdout.take().expect("stdout is piped");
    let err = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || drain(out, cap));
    let err_reader = std::thread::spawn(move || drain(err, cap));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= spec.timeout => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                group.kill();
                let _ = child.wait();
                return Err(RunFailure::Failed(format!("cannot wait for it: {e}")));
            }
        }
    };
    // Whatever it left behind goes now (at the limit: everything), so the pipes close.
    group.kill();
    if status.is_none() {
        let _ = child.wait();
    }
    let (stdout, stdout_cut) = out_reader.join().unwrap_or_default();
    let (stderr, _) = err_reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(RunFailure::Timeout(spec.timeout));
    };
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => {
                use std::os::unix::process::ExitStatusExt;
                format!("killed by signal {}", status.signal().unwrap_or(0))
            }
        };
        let tail = String::from_utf8_lossy(&stderr);
        let last = tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(RunFailure::Failed(if last.is_empty() {
            how
        } else {
            format!("{how}: {}", last.trim())
        }));
    }
    Ok(Output {
        stdout,
        stdout_cut,
        stderr,
    })
}
