//! The GitHub Actions edge of the gate: `patchgate check --github-actions`.
//!
//! Everything the Actions runner hands a step is read here — the environment
//! (`GITHUB_EVENT_PATH`, `GITHUB_REPOSITORY`, `GITHUB_BASE_REF`, `GITHUB_SHA`, …) and the event
//! payload — and everything the runner reads back is written here: the step summary
//! (`GITHUB_STEP_SUMMARY`, Markdown, verdict first, always under 1 MiB), the step's outputs
//! (`GITHUB_OUTPUT`, heredoc form so any value is safe), workflow commands for findings
//! (`::error file=…,line=…::…`, most severe first, at most ten per level since the runner shows
//! no more) and `::add-mask::` commands for every secret the step was given, which must be
//! printed before anything else.
//!
//! The functions are pure where they can be: the environment is injected as
//! `&dyn Fn(&str) -> Option<String>`, and the renderers take a [`CheckOutcome`] and return text.
//! Nothing here decides anything: the verdict is the record's `quorum_passed`, and
//! [`exit_code`] only chooses whether a failed quorum fails the step (`fail-on: never` keeps it
//! green — the record still says `quorum_passed: false`).
//!
//! The parts: `context` reads the step's environment and event ([`ActionsContext`]), `secrets`
//! finds what to mask, `commands` writes the workflow commands (escaping, annotations),
//! `summary` renders the step summary, `outputs` writes the step's outputs and summary files;
//! here are the settings, the errors and [`finish`], which runs them in the runner's order.

mod commands;
mod context;
mod outputs;
mod secrets;
mod summary;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::gate::check::CheckOutcome;

pub use commands::{all_findings, annotations, escape_data, escape_property, Found};
pub use context::{ActionsContext, PullRequest};
pub use outputs::{outputs, write_outputs, write_summary};
pub use secrets::{api_key_envs, mask_commands, secrets_to_mask};
pub use summary::step_summary;

/// GitHub refuses a step summary over 1 MiB; ours stays under this many bytes.
pub const SUMMARY_LIMIT_BYTES: usize = 1024 * 1024 - 16 * 1024;

/// The runner shows at most this many annotations of each level per step.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

/// Longest reason or finding message shown in one place, in characters.
const TEXT_CAP: usize = 1_000;

/// Whether a failed quorum fails the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// The step fails when `quorum_passed` is false (the default).
    #[default]
    Quorum,
    /// The step never fails on the verdict (errors running the gate still fail it).
    Never,
}

impl std::str::FromStr for FailOn {
    type Err = ActionsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "quorum" => Ok(FailOn::Quorum),
            "never" => Ok(FailOn::Never),
            other => Err(ActionsError::Invalid {
                var: "PATCHGATE_FAIL_ON",
                why: format!("`{other}`: expected `quorum` or `never`"),
            }),
        }
    }
}

/// Why the Actions environment could not be read, or an output not written.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    #[error("{0} is not set: is this running in a GitHub Actions step? (`patchgate check --github-actions` reads the runner's environment)")]
    Missing(&'static str),
    #[error("{var}: {why}")]
    Invalid { var: &'static str, why: String },
    #[error("reading the event payload {path} (GITHUB_EVENT_PATH): {source}")]
    EventFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the event payload {path} (GITHUB_EVENT_PATH) is not JSON: {source}")]
    EventJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the `{event}` event payload {path} has no {field}")]
    EventField {
        event: String,
        path: PathBuf,
        field: &'static str,
    },
    #[error("writing {what} {path}: {source}")]
    Write {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output name `{0}` is not valid (letters, digits, `-` and `_` only)")]
    OutputName(String),
}

/// The step's exit code: 1 when the quorum failed, unless `fail-on: never`; else 0.
pub fn exit_code(o: &CheckOutcome, fail_on: FailOn) -> u8 {
    match (o.record.quorum_passed, fail_on) {
        (true, _) | (false, FailOn::Never) => 0,
        (false, FailOn::Quorum) => 1,
    }
}

/// Everything after the check, in the order the runner wants it: the context's warnings and the
/// annotations printed to `out`, the step summary and the outputs written (when the runner
/// gave their files). Returns the step's exit code. Print [`mask_commands`] before calling
/// anything that prints.
pub fn finish(
    o: &CheckOutcome,
    ctx: &ActionsContext,
    out: &mut dyn std::io::Write,
) -> Result<u8, ActionsError> {
    let stdout_err = |source| ActionsError::Write {
        what: "workflow commands to",
        path: PathBuf::from("stdout"),
        source,
    };
    for w in &ctx.warnings {
        writeln!(out, "::warning title=patchgate::{}", escape_data(w)).map_err(stdout_err)?;
    }
    for a in annotations(o) {
        writeln!(out, "{a}").map_err(stdout_err)?;
    }
    if let Some(p) = &ctx.step_summary {
        write_summary(p, &step_summary(o))?;
    }
    if let Some(p) = &ctx.output {
        write_outputs(p, &outputs(o))?;
    }
    Ok(exit_code(o, ctx.fail_on))
}
