//! Verifying a record: the errors and problems a record can have, and the checks of
//! `meta.yaml` text and of a record held as a JSON value (every `*_hash` field, `record_hash`).

use std::fmt;

use serde_json::Value;

use super::MetaRecord;
use crate::meta::canonical::{hash_record, CanonicalError};
use crate::meta::decision::Path;
use crate::meta::hash::Sha256Hash;

/// Why a record could not be read, sealed or turned into a ledger row.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("meta.yaml does not parse: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("record has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
    #[error("record could not be turned into JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record is not sealed (no record_hash)")]
    NotSealed,
    #[error("record does not verify: {0}")]
    Verify(#[from] VerifyError),
}

/// One thing that is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("record is not sealed: no record_hash")]
    NotSealed,
    #[error("record is not sealed: no prev_record_hash")]
    NoPrev,
    #[error("{field} is not a sha256 hash ({value:?}): {why}")]
    MalformedHash {
        field: String,
        value: String,
        why: String,
    },
    #[error("record_hash mismatch: stored {stored} recomputed {recomputed}")]
    RecordHashMismatch { stored: String, recomputed: String },
    #[error("record has no canonical form: {0}")]
    Canonical(String),
    #[error("record is not a YAML mapping: {0}")]
    Unreadable(String),
    #[error(
        "quorum_passed is true but the rule does not hold (audit passed: {audit}, renders: {}, \
         explanations: {})",
        agreement_word(*renders),
        agreement_word(*explanations)
    )]
    QuorumClaimUnfounded {
        audit: bool,
        renders: Option<bool>,
        explanations: Option<bool>,
    },
    #[error(
        "quorum_passed is true but the decision table does not pass it ({path} path: {reason})"
    )]
    GateClaimUnfounded { path: Path, reason: String },
    #[error("gate.path is {recorded} but the record's renders and explanations give {recomputed}")]
    PathMismatch { recorded: Path, recomputed: Path },
}

/// How an optional agreement reads in a sentence: agreed, differ, or not compared.
fn agreement_word(agreed: Option<bool>) -> &'static str {
    match agreed {
        Some(true) => "agreed",
        Some(false) => "differ",
        None => "not compared",
    }
}

/// Everything that is wrong with a record (at least one thing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}

/// Verifies `meta.yaml` text as it is: parses it (with `serde_yaml`, into a JSON value, so
/// numbers are exact and every field — known or not — is hashed), checks every hash in it
/// (see [`MetaRecord::verify`]) and returns the record.
pub fn verify_yaml(text: &str) -> Result<MetaRecord, RecordError> {
    let value: Value = serde_yaml::from_str(text)?;
    let record: MetaRecord = serde_json::from_value(value.clone())?;
    let mut problems = verify_value(&value);
    if let Err(e) = record.verify() {
        // The struct's own view adds the quorum rule; hash problems are already listed.
        for p in e.problems {
            if matches!(
                p,
                Problem::QuorumClaimUnfounded { .. }
                    | Problem::GateClaimUnfounded { .. }
                    | Problem::PathMismatch { .. }
            ) {
                problems.push(p);
            }
        }
    }
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(VerifyError { problems }.into())
    }
}

/// The hash problems of a record held as a JSON value: malformed `*_hash` fields (at any
/// depth), a missing or mismatched `record_hash`, a missing `prev_record_hash`.
pub fn verify_value(value: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(obj) = value.as_object() else {
        problems.push(Problem::Unreadable("not a mapping".into()));
        return problems;
    };
    check_hash_fields(value, "", &mut problems);
    if obj.get("prev_record_hash").is_none_or(|v| v.is_null()) {
        problems.push(Problem::NoPrev);
    }
    let stored = match obj.get("record_hash") {
        None | Some(Value::Null) => {
            problems.push(Problem::NotSealed);
            None
        }
        Some(v) => Some(v.as_str().unwrap_or_default().to_string()),
    };
    match hash_record(value) {
        Ok(recomputed) => {
            if let Some(stored) = stored {
                if stored != recomputed.to_string() {
                    problems.push(Problem::RecordHashMismatch {
                        stored,
                        recomputed: recomputed.to_string(),
                    });
                }
            }
        }
        Err(e) => problems.push(Problem::Canonical(e.to_string())),
    }
    problems
}

fn check_hash_fields(value: &Value, path: &str, problems: &mut Vec<Problem>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.ends_with("_hash") && !v.is_object() && !v.is_array() {
                    match v {
                        Value::Null => {}
                        Value::String(s) => {
                            if let Err(e) = s.parse::<Sha256Hash>() {
                                problems.push(Problem::MalformedHash {
                                    field: here,
                                    value: s.clone(),
                                    why: e.to_string(),
                                });
                            }
                        }
                        other => problems.push(Problem::MalformedHash {
                            field: here,
                            value: other.to_string(),
                            why: "not a string".into(),
                        }),
                    }
                } else {
                    check_hash_fields(v, &here, problems);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_hash_fields(v, &format!("{path}[{i}]"), problems);
            }
        }
        _ => {}
    }
}
