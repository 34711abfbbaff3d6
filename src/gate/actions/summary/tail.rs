//! The tail of the step summary: the record's hashes and what to do next.

use std::fmt::Write as _;

use super::{md, short};
use crate::gate::actions::TEXT_CAP;
use crate::gate::check::CheckOutcome;

/// The tail: hashes and what to do next.
pub(super) fn tail(o: &CheckOutcome) -> String {
    let r = &o.record;
    let d = &o.audit.decision;
    let mut tail = String::new();
    let _ = writeln!(tail, "### Record");
    let _ = writeln!(tail);
    let _ = writeln!(tail, "| | |");
    let _ = writeln!(tail, "| --- | --- |");
    let _ = writeln!(
        tail,
        "| record_hash | `{}` |",
        r.record_hash.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        tail,
        "| prev_record_hash | `{}` |",
        r.prev_record_hash.as_deref().unwrap_or("?")
    );
    let _ = writeln!(tail, "| ledger | #{} |", o.ledger_seq);
    if let Some(h) = &r.renders.a.explanation_hash {
        let _ = writeln!(tail, "| render A explanation | `{h}` |");
    }
    if let Some(h) = r
        .renders
        .b
        .as_ref()
        .and_then(|b| b.explanation_hash.as_ref())
    {
        let _ = writeln!(tail, "| render B explanation | `{h}` |");
    }
    for v in &r.audit.votes {
        if let Some(h) = &v.explanation_hash {
            let _ = writeln!(tail, "| {} explanation | `{h}` |", md(&v.auditor, 100));
        }
    }
    if o.note.is_some() {
        let _ = writeln!(
            tail,
            "| git note | on `{}` in the runner's clone (`refs/notes/patchgate`; the explanation texts in `refs/notes/patchgate-texts`) |",
            short(&r.change.head)
        );
    }
    if let Some(p) = &o.meta_path {
        let _ = writeln!(
            tail,
            "| meta.yaml | `{}` (output `record-path`) |",
            md(&p.display().to_string(), 300)
        );
    }
    let _ = writeln!(tail);
    let _ = writeln!(tail, "### What to do next");
    let _ = writeln!(tail);
    if r.quorum_passed {
        let _ = writeln!(
            tail,
            "- Nothing: the gate passed. The record verifies with `patchgate meta verify {}`.",
            short(&r.change.head)
        );
    } else {
        if r.renders.b.is_some() && !r.ast_diff.agreed {
            let _ = writeln!(tail, "- The renders disagree: the change took the escalated path (review the edits with `patchgate diff`).");
        }
        if r.explanations
            .as_ref()
            .is_some_and(|e| e.state() == crate::meta::decision::ExplanationsState::JudgedDifferent)
        {
            let _ = writeln!(
                tail,
                "- The renders' explanations were judged to describe different changes."
            );
        }
        for hint in &o.gate.to_pass {
            let _ = writeln!(tail, "- To pass: {}", md(hint, TEXT_CAP));
        }
        if !d.passed {
            if d.rejections > 0 {
                let _ = writeln!(
                    tail,
                    "- Fix what the rejecting auditors found (above, and as annotations on the diff), then push again."
                );
            }
            for (auditor, hint) in &o.audit.hints {
                let _ = writeln!(tail, "- {}: {}", md(auditor, 100), md(hint, TEXT_CAP));
            }
        }
        let _ = writeln!(
            tail,
            "- Reproduce locally: `patchgate check --base {} --head {}`.",
            short(&r.change.base),
            short(&r.change.head)
        );
    }
    tail
}
