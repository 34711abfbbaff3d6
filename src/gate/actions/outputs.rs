//! The files the runner reads back: the step's outputs (`GITHUB_OUTPUT`, heredoc form) and
//! the step summary (`GITHUB_STEP_SUMMARY`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::ActionsError;
use crate::gate::check::CheckOutcome;

/// The step's outputs: `quorum-passed` (`true`/`false`), `variance-percent` (render A against
/// render B, empty when there was no render B), `record-hash`, `record-path` (empty when the
/// record was not written to a file).
pub fn outputs(o: &CheckOutcome) -> Vec<(String, String)> {
    let r = &o.record;
    vec![
        ("quorum-passed".into(), r.quorum_passed.to_string()),
        (
            "variance-percent".into(),
            match (&o.dual, &r.renders.b) {
                (Some(_), Some(_)) => format!("{:.3}", r.ast_diff.variance_percent),
                _ => String::new(),
            },
        ),
        (
            "record-hash".into(),
            r.record_hash.clone().unwrap_or_default(),
        ),
        (
            "record-path".into(),
            o.meta_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]
}

fn append(path: &Path, what: &'static str, text: &str) -> Result<(), ActionsError> {
    let err = |source| ActionsError::Write {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.flush().map_err(err)
}

/// Append `outputs` to the `GITHUB_OUTPUT` file in the heredoc form
/// (`name<<ghadelimiter_<random>` / value / delimiter), so any value — multi-line included —
/// is read back exactly. The delimiter is random and never occurs in the value.
pub fn write_outputs(path: &Path, outputs: &[(String, String)]) -> Result<(), ActionsError> {
    let mut text = String::new();
    for (name, value) in outputs {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ActionsError::OutputName(name.clone()));
        }
        let delimiter = loop {
            let d = format!("ghadelimiter_{:032x}", rand::random::<u128>());
            if !value.contains(&d) {
                break d;
            }
        };
        let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    append(path, "the step outputs (GITHUB_OUTPUT)", &text)
}

/// Append `text` to the `GITHUB_STEP_SUMMARY` file.
pub fn write_summary(path: &Path, text: &str) -> Result<(), ActionsError> {
    append(path, "the step summary (GITHUB_STEP_SUMMARY)", text)
}
