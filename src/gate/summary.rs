//! The gate's decision as a person reads it at a glance: the verdict first, then why — renders,
//! explanations, every vote — then the record's hashes and what to do next.

use std::fmt::Write;

use crate::gate::audit::write_votes;
use crate::gate::check::CheckOutcome;
use crate::term::paint;

fn short(hash: &str) -> String {
    hash.get(..19)
        .map(|s| format!("{s}…"))
        .unwrap_or_else(|| hash.to_string())
}

/// Render a check's outcome for a terminal.
pub fn render_check_text(o: &CheckOutcome, color: bool) -> String {
    let r = &o.record;
    let mut out = String::new();
    let verdict = if r.quorum_passed {
        paint(color, "1;32", "PASSED")
    } else {
        paint(color, "1;31", "BLOCKED")
    };
    let _ = writeln!(
        out,
        "{verdict}  quorum_passed: {}   {} → {}",
        r.quorum_passed,
        &r.change.base[..r.change.base.len().min(12)],
        &r.change.head[..r.change.head.len().min(12)]
    );
    let _ = writeln!(out);

    // Renders.
    match (&o.dual, &r.renders.b) {
        (Some(d), Some(b)) => {
            let v = d.variance_percent.unwrap_or(100.0);
            let _ = writeln!(
                out,
                "  renders       {}  variance {v:.2} % (threshold {:.2} %) — render B: {}",
                if r.ast_diff.agreed {
                    paint(color, "32", "agreed  ")
                } else {
                    paint(color, "31", "escalate")
                },
                d.threshold_percent,
                b.source
            );
        }
        _ => {
            let semantic = o.single.semantic_files();
            let _ = writeln!(
                out,
                "  renders       one render: {} file(s) changed, {semantic} with semantic changes",
                o.single.files.len()
            );
            if !r.ast_diff.agreed {
                let _ = writeln!(
                    out,
                    "                {} the repository requires a render B (render_b.required)",
                    paint(color, "31", "missing:")
                );
            }
        }
    }
    // Explanations.
    match &r.explanations {
        Some(e) => {
            let _ = writeln!(
                out,
                "  explanations  {}  similarity {:.2} (threshold {:.2}){}",
                if e.agreed {
                    paint(color, "32", "agreed  ")
                } else {
                    paint(color, "31", "differ  ")
                },
                e.similarity,
                e.threshold,
                if e.hash_match { ", identical" } else { "" }
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  explanations  fewer than two renders explain the change: not compared"
            );
        }
    }
    // Votes.
    let d = &o.audit.decision;
    let _ = writeln!(
        out,
        "  audit         {}  {} approval(s), {} required — {}",
        if d.passed {
            paint(color, "32", "passed  ")
        } else {
            paint(color, "31", "failed  ")
        },
        d.approvals,
        d.required,
        d.reason
    );
    write_votes(&mut out, &o.audit.votes, color, "    ", 20);
    // The record.
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  record        {} (prev {}), ledger #{}",
        short(r.record_hash.as_deref().unwrap_or("?")),
        short(r.prev_record_hash.as_deref().unwrap_or("?")),
        o.ledger_seq
    );
    if o.note.is_some() {
        let _ = writeln!(
            out,
            "                git note on {} (refs/notes/patchgate; `git notes --ref=patchgate show {}`)",
            &r.change.head[..r.change.head.len().min(12)],
            &r.change.head[..r.change.head.len().min(12)]
        );
    }
    if let Some(p) = &o.meta_path {
        let _ = writeln!(out, "                written to {}", p.display());
    }
    if let Some(note) = &o.config_note {
        let _ = writeln!(out, "  note          {note}");
    }
    // What next.
    if !r.quorum_passed {
        let _ = writeln!(out);
        let _ = writeln!(out, "Why it cannot pass, and what to do:");
        if r.renders.b.is_some() && !r.ast_diff.agreed {
            let _ = writeln!(out, "  - the renders disagree: review the edits with `patchgate diff` (they escalate to a full audit)");
        }
        if r.explanations.as_ref().is_some_and(|e| !e.agreed) {
            let _ = writeln!(
                out,
                "  - the renders' explanations describe different changes"
            );
        }
        if !d.passed {
            if d.rejections > 0 {
                let _ = writeln!(
                    out,
                    "  - fix what the rejecting auditors found, then check again"
                );
            }
            for (auditor, hint) in &o.audit.hints {
                let _ = writeln!(out, "  - {auditor}: {hint}");
            }
        }
    }
    out
}
