//! Parts of the decision record the gate fills in from the audit: the `decision` entry, a
//! vote's findings, an explanation to hash, and the texts kept beside the record.

use crate::audit::rule_guard::{mask_secrets, RuleSet};
use crate::audit::vote::Vote;
use crate::meta::canonical::{Explanation, RecordedFinding};
use crate::meta::decision::GateDecision;
use crate::meta::record::{DecisionSummary, ExplanationSource, MetaRecord};
use crate::meta::texts::{ExplanationTexts, KeptText, VoteText};

/// The record's `decision`: the audit quorum's, unless the gate decided otherwise (degraded
/// mode, an agreement standing in, a maintainer's vote, a missing render B) — then the gate's
/// reason, and the auditors whose votes count for that outcome (the approvers of a pass, the
/// rejecters of a block). Never an abstaining auditor.
pub(super) fn decision_summary(
    quorum: &crate::audit::decide::Decision,
    gate: &GateDecision,
    votes: &[crate::audit::vote::Vote],
) -> DecisionSummary {
    if gate.passed == quorum.passed {
        return DecisionSummary::from(quorum);
    }
    let want = if gate.passed {
        crate::audit::vote::Verdict::Approve
    } else {
        crate::audit::vote::Verdict::Reject
    };
    DecisionSummary {
        reason: gate.reason.clone(),
        decided_by: votes
            .iter()
            .filter(|v| v.verdict == want)
            .map(|v| v.auditor.clone())
            .collect(),
        extra: Default::default(),
    }
}

pub(super) fn meta_findings(v: &Vote) -> Vec<RecordedFinding> {
    v.findings
        .iter()
        .map(|f| RecordedFinding {
            rule: f.rule.clone(),
            file: f.file.clone().unwrap_or_default(),
            line: f.line.map(|l| l as u64),
            severity: f.severity.to_string(),
            message: f.message.clone(),
        })
        .collect()
}

pub(super) fn explanation_of(text: &str) -> Explanation {
    Explanation {
        text: text.to_string(),
        findings: Vec::new(),
        extra: Default::default(),
    }
}

/// The explanation texts of `record` (its hashes are of these), secrets masked with the rule
/// pack's secret rules, to keep beside it (`crate::meta::texts`).
pub(super) fn kept_texts(
    record: &MetaRecord,
    a: &Option<(String, ExplanationSource)>,
    b: &Option<(String, ExplanationSource)>,
    votes: &[Vote],
    rules: &RuleSet,
) -> ExplanationTexts {
    let mask = |t: &str| mask_secrets(t, rules);
    ExplanationTexts {
        record_hash: record.record_hash.clone().unwrap_or_default(),
        a: a.as_ref().map(|(t, _)| KeptText::keep(t, &mask)),
        b: b.as_ref().map(|(t, _)| KeptText::keep(t, &mask)),
        votes: votes
            .iter()
            .map(|v| VoteText::keep(&v.auditor, &v.explanation, meta_findings(v), &mask))
            .collect(),
    }
}
