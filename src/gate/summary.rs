//! The gate's decision as a person reads it at a glance: the verdict first, then why — renders,
//! explanations, every vote — then the record's hashes and what to do next.

use std::fmt::Write;

use crate::audit::vote::Verdict;
use crate::gate::check::CheckOutcome;

fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

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
            let semantic = o
                .single
                .files
                .iter()
                .filter(|f| f.class == Some(crate::astdiff::measure::ChangeClass::Semantic))
                .count();
            let _ = writeln!(
                out,
                "  renders       one render: {} file(s) changed, {semantic} with semantic changes",
                o.single.files.len()
            );
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
    for v in &o.audit.votes {
        let verdict = match v.verdict {
            Verdict::Approve => paint(color, "32", "approve"),
            Verdict::Reject => paint(color, "31", "reject "),
            Verdict::Abstain => paint(color, "33", "abstain"),
        };
        let _ = writeln!(
            out,
            "    {:<14} {verdict}  {}{}",
            v.auditor,
            v.reason.as_deref().unwrap_or(""),
            if v.cost_usd > 0.0 {
                format!("  (${:.4})", v.cost_usd)
            } else {
                String::new()
            }
        );
        for f in v.findings.iter().take(20) {
            let _ = writeln!(
                out,
                "        {:<7} {:<32} {}{}  {}",
                f.severity.to_string(),
                f.rule,
                f.file.as_deref().unwrap_or("(change)"),
                f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                f.message
            );
        }
        if v.findings.len() > 20 {
            let _ = writeln!(
                out,
                "        … {} more findings (--format json)",
                v.findings.len() - 20
            );
        }
    }
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
