//! The ledger chain rules: what a verified ledger is, and what each kind of tampering looks like.
//!
//! A ledger verifies when, row by row in `seq` order: `seq` runs 1, 2, 3, … without gaps; each
//! row's `record_yaml` parses, hashes (`docs/canonical-form.md`, "The record hash") to the
//! row's `record_hash`, and carries that same `record_hash`, `prev_record_hash`, `repo` and
//! head as the row's columns; and each row's `prev_record_hash` is the previous row's
//! `record_hash` — [`GENESIS_HASH`] for the first. Every failure is reported (not only the
//! first), each naming the row, its `seq` and what changed: an edited record, a deleted or
//! reordered row, a missing `seq`, a wrong genesis.
//!
//! Pure: no storage, no clock. It must never report a ledger as verified when any row's hash
//! could not be recomputed.

use std::fmt;

use serde_json::Value;

use super::canonical::hash_record;
use super::hash::Sha256Hash;
use super::ledger::LedgerRow;

/// The `prev_record_hash` of the first record: the ledger's genesis value.
pub use super::ledger::GENESIS as GENESIS_HASH;

/// A verified ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// How many rows were verified.
    pub rows: usize,
    /// The last row's `record_hash` ([`GENESIS_HASH`] for an empty ledger): what the next
    /// record chains to.
    pub head_hash: String,
    /// The last row's `seq` (0 for an empty ledger).
    pub last_seq: i64,
}

/// One failure, naming the row (1-based position in the list) and its `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// 1-based position in the rows given; `None` for a problem between rows (a missing seq).
    pub row: Option<usize>,
    pub seq: Option<i64>,
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The record YAML does not parse, or has no canonical form.
    Unreadable(String),
    /// The row's `record_hash` column is not a well-formed hash.
    MalformedHash { column: &'static str, value: String },
    /// The record's content does not hash to the stored `record_hash`.
    Edited { stored: String, content: String },
    /// A field inside the record differs from the row's column.
    ColumnMismatch {
        field: &'static str,
        column: String,
        in_record: String,
    },
    /// `prev_record_hash` is not the previous row's `record_hash`.
    Broken {
        prev_record_hash: String,
        previous_row: usize,
        previous_hash: String,
    },
    /// The first row does not chain to [`GENESIS_HASH`].
    WrongGenesis { prev_record_hash: String },
    /// `seq`s `from..=to` are missing.
    MissingSeq { from: i64, to: i64 },
    /// `seq` does not follow the previous row's.
    SeqOutOfOrder { expected: i64 },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.row, self.seq) {
            (Some(row), Some(seq)) if !matches!(self.kind, ProblemKind::MissingSeq { .. }) => {
                write!(f, "row {row} (seq {seq}): ")?
            }
            _ => {}
        }
        match &self.kind {
            ProblemKind::Unreadable(why) => write!(f, "record unreadable: {why}"),
            ProblemKind::MalformedHash { column, value } => {
                write!(f, "{column} {value:?} is not a sha256 hash")
            }
            ProblemKind::Edited { stored, content } => write!(
                f,
                "record edited: stored record_hash {stored} but its content hashes to {content}"
            ),
            ProblemKind::ColumnMismatch {
                field,
                column,
                in_record,
            } => write!(
                f,
                "{field} column {column:?} differs from the record's {field} {in_record:?}"
            ),
            ProblemKind::Broken {
                prev_record_hash,
                previous_row,
                previous_hash,
            } => write!(
                f,
                "deleted or reordered: prev_record_hash {prev_record_hash} is not row \
                 {previous_row}'s record_hash {previous_hash}"
            ),
            ProblemKind::WrongGenesis { prev_record_hash } => write!(
                f,
                "wrong genesis: prev_record_hash {prev_record_hash} is not {GENESIS_HASH}"
            ),
            ProblemKind::MissingSeq { from, to } if from == to => write!(f, "seq {from} missing"),
            ProblemKind::MissingSeq { from, to } => write!(f, "seq {from}–{to} missing"),
            ProblemKind::SeqOutOfOrder { expected } => {
                write!(f, "seq out of order: expected seq {expected}")
            }
        }
    }
}

/// Every failure found (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    pub problems: Vec<ChainProblem>,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "ledger does not verify ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ChainError {}

/// Verifies a ledger given as its rows in `seq` order (as [`LedgerStore::all`] returns them).
///
/// [`LedgerStore::all`]: super::ledger::LedgerStore::all
pub fn verify_chain(rows: &[LedgerRow]) -> Result<ChainReport, ChainError> {
    let mut problems = Vec::new();
    let mut expected_seq = 1i64;
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;

        // seq
        if r.seq > expected_seq {
            problems.push(ChainProblem {
                row: Some(n),
                seq: Some(r.seq),
                kind: ProblemKind::MissingSeq {
                    from: expected_seq,
                    to: r.seq - 1,
                },
            });
        } else if r.seq < expected_seq {
            problems.push(ChainProblem {
                row: Some(n),
                seq: Some(r.seq),
                kind: ProblemKind::SeqOutOfOrder {
                    expected: expected_seq,
                },
            });
        }
        expected_seq = expected_seq.max(r.seq.saturating_add(1));

        let mut push_row = |kind| {
            problems.push(ChainProblem {
                row: Some(n),
                seq: Some(r.seq),
                kind,
            })
        };

        // link
        if i == 0 {
            if r.prev_record_hash != GENESIS_HASH {
                push_row(ProblemKind::WrongGenesis {
                    prev_record_hash: r.prev_record_hash.clone(),
                });
            }
        } else if r.prev_record_hash != rows[i - 1].record_hash {
            push_row(ProblemKind::Broken {
                prev_record_hash: r.prev_record_hash.clone(),
                previous_row: i,
                previous_hash: rows[i - 1].record_hash.clone(),
            });
        }
        for (column, value) in [
            ("record_hash", &r.record_hash),
            ("prev_record_hash", &r.prev_record_hash),
        ] {
            if value.parse::<Sha256Hash>().is_err() {
                push_row(ProblemKind::MalformedHash {
                    column,
                    value: value.clone(),
                });
            }
        }

        // content
        let value: Value = match serde_yaml::from_str(&r.record_yaml) {
            Ok(v) => v,
            Err(e) => {
                push_row(ProblemKind::Unreadable(e.to_string()));
                continue;
            }
        };
        match hash_record(&value) {
            Ok(h) => {
                let content = h.to_string();
                if content != r.record_hash {
                    push_row(ProblemKind::Edited {
                        stored: r.record_hash.clone(),
                        content,
                    });
                }
            }
            Err(e) => {
                push_row(ProblemKind::Unreadable(e.to_string()));
                continue;
            }
        }
        let field = |path: &[&str]| -> String {
            let mut v = &value;
            for k in path {
                v = v.get(k).unwrap_or(&Value::Null);
            }
            match v {
                Value::String(s) => s.clone(),
                Value::Null => "(absent)".to_string(),
                other => other.to_string(),
            }
        };
        for (name, column, path) in [
            ("record_hash", &r.record_hash, &["record_hash"][..]),
            (
                "prev_record_hash",
                &r.prev_record_hash,
                &["prev_record_hash"][..],
            ),
            ("repo", &r.repo, &["repo"][..]),
            ("head", &r.head, &["change", "head"][..]),
        ] {
            let in_record = field(path);
            if &in_record != column {
                push_row(ProblemKind::ColumnMismatch {
                    field: name,
                    column: column.clone(),
                    in_record,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(ChainReport {
            rows: rows.len(),
            head_hash: rows
                .last()
                .map_or_else(|| GENESIS_HASH.to_string(), |r| r.record_hash.clone()),
            last_seq: rows.last().map_or(0, |r| r.seq),
        })
    } else {
        Err(ChainError { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_zero_hash() {
        assert_eq!(
            GENESIS_HASH.parse::<Sha256Hash>().unwrap(),
            Sha256Hash::from_bytes([0; 32])
        );
    }

    #[test]
    fn empty_ledger_verifies() {
        let r = verify_chain(&[]).unwrap();
        assert_eq!(r.rows, 0);
        assert_eq!(r.head_hash, GENESIS_HASH);
    }

    #[test]
    fn missing_seq_message() {
        let p = ChainProblem {
            row: Some(4),
            seq: Some(5),
            kind: ProblemKind::MissingSeq { from: 4, to: 4 },
        };
        assert_eq!(p.to_string(), "seq 4 missing");
    }
}
