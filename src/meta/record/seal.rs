//! [`MetaRecord`]'s methods: its hash, sealing it onto the chain, verifying it (the decision
//! table recomputed from it), reading and writing `meta.yaml`, and its ledger row.

use serde_json::Value;

use super::{quorum_passed, verify_value, MetaRecord, Problem, RecordError, VerifyError};
use crate::audit::vote::AuditMode;
use crate::meta::canonical::{hash_record, CanonicalError};
use crate::meta::decision::{
    decide_gate, AuditorClass, CastVote, ExplanationsState, GateDecision, GateFacts, Policy,
    RendersState,
};
use crate::meta::hash::Sha256Hash;
use crate::meta::ledger::NewLedgerRow;

impl MetaRecord {
    /// The record as a JSON value: what is hashed.
    pub fn to_value(&self) -> Result<Value, RecordError> {
        Ok(serde_json::to_value(self)?)
    }

    /// The hash this record should carry (everything but `record_hash`). A NaN or infinite
    /// number has no canonical form (JSON cannot hold it) and is an error.
    pub fn compute_hash(&self) -> Result<Sha256Hash, RecordError> {
        if let Some(field) = self.non_finite_field() {
            return Err(CanonicalError::NonFiniteNumber(field.to_string()).into());
        }
        Ok(hash_record(&self.to_value()?)?)
    }

    /// The first known float field that is NaN or infinite, by name.
    fn non_finite_field(&self) -> Option<&'static str> {
        let mut floats = vec![
            ("ast_diff.variance_percent", self.ast_diff.variance_percent),
            (
                "ast_diff.threshold_percent",
                self.ast_diff.threshold_percent,
            ),
        ];
        if let Some(e) = &self.explanations {
            floats.push(("explanations.similarity", e.similarity));
            floats.push(("explanations.threshold", e.threshold));
            if let Some(j) = &e.judge {
                if let Some(x) = j.score {
                    floats.push(("explanations.judge.score", x));
                }
                if let Some(x) = j.cost_usd {
                    floats.push(("explanations.judge.cost_usd", x));
                }
            }
        }
        for v in &self.audit.votes {
            if let Some(c) = v.cost_usd {
                floats.push(("audit.votes[].cost_usd", c));
            }
        }
        floats
            .into_iter()
            .find(|(_, x)| !x.is_finite())
            .map(|(n, _)| n)
    }

    /// Chains the record after `prev` (the previous record's hash, or the genesis hash) and
    /// sets `record_hash`. Sealing again replaces both.
    pub fn seal(mut self, prev: &Sha256Hash) -> Result<MetaRecord, RecordError> {
        self.prev_record_hash = Some(prev.to_string());
        self.record_hash = None;
        let h = self.compute_hash()?;
        self.record_hash = Some(h.to_string());
        Ok(self)
    }

    /// Recomputes what can be recomputed from the record and names every difference: every
    /// `*_hash` field must be a well-formed `sha256:` hash, `record_hash` must be the hash of
    /// the rest, and a `quorum_passed: true` must follow from the votes, renders and
    /// explanations recorded ([`quorum_passed`]).
    pub fn verify(&self) -> Result<(), VerifyError> {
        if let Some(field) = self.non_finite_field() {
            return Err(VerifyError {
                problems: vec![Problem::Canonical(format!(
                    "{field} is not a finite number"
                ))],
            });
        }
        let value = self.to_value().map_err(|e| VerifyError {
            problems: vec![Problem::Canonical(e.to_string())],
        })?;
        let mut problems = verify_value(&value);
        if let Some(gate) = &self.gate {
            let d = self.gate_decision().expect("gate is present");
            if gate.path != d.path {
                problems.push(Problem::PathMismatch {
                    recorded: gate.path,
                    recomputed: d.path,
                });
            }
            if self.quorum_passed && !d.passed {
                problems.push(Problem::GateClaimUnfounded {
                    path: d.path,
                    reason: d.reason,
                });
            }
        } else if self.quorum_passed {
            let audit = self.audit.passed();
            let renders = self.renders.b.as_ref().map(|_| self.ast_diff.agreed);
            let explanations = self.explanations.as_ref().map(|e| e.agreed);
            if !quorum_passed(audit, renders, explanations, true) {
                problems.push(Problem::QuorumClaimUnfounded {
                    audit,
                    renders,
                    explanations,
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(VerifyError { problems })
        }
    }

    /// The decision table recomputed from what the record says (`None` without a `gate`
    /// entry): the renders, the explanations' status, every vote with its kind, the policy and
    /// the human vote it recorded, for the head it names.
    pub fn gate_decision(&self) -> Option<GateDecision> {
        let gate = self.gate.as_ref()?;
        let renders = match &self.renders.b {
            Some(_) if self.ast_diff.agreed => RendersState::Agreed,
            Some(_) => RendersState::Differ,
            None if self.ast_diff.extra.get("render_b_required") == Some(&Value::Bool(true)) => {
                RendersState::MissingRequired
            }
            None => RendersState::One,
        };
        let explanations = self
            .explanations
            .as_ref()
            .map_or(ExplanationsState::Absent, |e| e.state());
        let votes: Vec<CastVote> = self
            .audit
            .votes
            .iter()
            .map(|v| CastVote {
                auditor: &v.auditor,
                // A vote without a kind is never taken for Rule-Guard's.
                class: v.kind.unwrap_or(AuditorClass::Command),
                verdict: v.verdict,
            })
            .collect();
        let policy = Policy {
            required: gate.quorum as usize,
            escalated: gate.escalation_quorum,
            agreement_counts_as_vote: gate.agreement_counts_as_vote,
            skip_paid_auditors: gate.skip_paid_auditors,
            degraded: gate.mode == AuditMode::Degraded,
        };
        Some(decide_gate(&GateFacts {
            renders,
            explanations,
            votes: &votes,
            human: gate.human.as_ref(),
            head: &self.change.head,
            policy: &policy,
        }))
    }

    /// The record as `meta.yaml` text.
    pub fn to_yaml(&self) -> Result<String, RecordError> {
        Ok(serde_yaml::to_string(self)?)
    }

    /// Reads `meta.yaml` text. Unknown fields are kept (see the module doc). This does not
    /// verify; use [`verify_yaml`](super::verify_yaml) for a file, which hashes exactly what the file holds.
    pub fn from_yaml(text: &str) -> Result<MetaRecord, RecordError> {
        Ok(serde_yaml::from_str(text)?)
    }

    /// The ledger row of a sealed record.
    pub fn ledger_row(&self) -> Result<NewLedgerRow, RecordError> {
        let (Some(record_hash), Some(prev)) = (&self.record_hash, &self.prev_record_hash) else {
            return Err(RecordError::NotSealed);
        };
        Ok(NewLedgerRow {
            record_hash: record_hash.clone(),
            prev_record_hash: prev.clone(),
            repo: self.repo.clone(),
            head: self.change.head.clone(),
            record_yaml: self.to_yaml()?,
        })
    }
}
