//! The gate's decision as a person reads it at a glance: the verdict first, then the path
//! (agreed / escalated / one render) and why, the entities where the renders differ (both
//! renders' lines), the renders, explanations and every vote, the record's hashes, and what
//! would let the change pass.

use std::fmt::Write;

use crate::gate::audit::write_votes;
use crate::gate::check::CheckOutcome;
use crate::gate::escalation;
use crate::meta::decision::{ExplanationsState, Path};

/// Entities listed in the summary; the record has them all.
const MAX_DIFFERENCES_SHOWN: usize = 10;
/// Lines of each render shown per entity.
const MAX_LINES_SHOWN: usize = 8;
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
    // The path, and on the escalated path where the renders differ.
    let d = &o.gate;
    let _ = writeln!(
        out,
        "  path          {}  {}",
        match d.path {
            Path::Agreed => paint(color, "32", "agreed   "),
            Path::Escalated => paint(color, "33", "escalated"),
            Path::OneRender => "one render".to_string(),
        },
        d.why
    );
    let _ = writeln!(out, "                {}", d.reason);
    if let Some(h) = r.gate.as_ref().and_then(|g| g.human.as_ref()) {
        let state = if h.head == r.change.head {
            "on this head"
        } else {
            "VOID: given on an earlier head, a new push voids it"
        };
        let _ = writeln!(
            out,
            "  maintainer    {} by @{} ({}) {state}: {}",
            h.verdict, h.by, h.permission, h.reason
        );
    }
    if let Some(esc) = &o.escalation {
        if !esc.differences.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "  where the renders differ (render A → render B {}):",
                esc.render_b
            );
            for diff in esc.differences.iter().take(MAX_DIFFERENCES_SHOWN) {
                let _ = writeln!(out, "    {}", escalation::difference_line(diff));
                for (side, text) in [("A", &diff.a_text), ("B", &diff.b_text)] {
                    for line in text.lines().take(MAX_LINES_SHOWN) {
                        let _ = writeln!(out, "      {side} | {line}");
                    }
                    if text.lines().count() > MAX_LINES_SHOWN {
                        let _ = writeln!(out, "      {side} | …");
                    }
                }
            }
            if esc.differences.len() > MAX_DIFFERENCES_SHOWN {
                let _ = writeln!(
                    out,
                    "    … {} more (the record's gate.differences, or `patchgate diff`)",
                    esc.differences.len() - MAX_DIFFERENCES_SHOWN
                );
            }
        }
    }
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
    if let Some(line) = crate::gate::render_b::builder_line(r) {
        let _ = writeln!(out, "                {line}");
    }
    // Explanations.
    match &r.explanations {
        Some(e) => {
            let status = e.state();
            let judge = e
                .judge
                .as_ref()
                .map(|j| match j.score {
                    Some(score) => format!(
                        " — judge {}: {score:.2} (threshold {:.2}): {}",
                        j.name, e.threshold, j.reason
                    ),
                    None => format!(" — judge {}: {}", j.name, j.reason),
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  explanations  {}  {}{judge}",
                match status {
                    ExplanationsState::Identical | ExplanationsState::JudgedSame =>
                        paint(color, "32", "agreed    "),
                    ExplanationsState::JudgedDifferent => paint(color, "31", "differ    "),
                    _ => paint(color, "33", "not judged"),
                },
                match status {
                    ExplanationsState::Identical => "identical".to_string(),
                    ExplanationsState::NotJudged if e.judge.is_none() => format!(
                        "lexical similarity {:.2}, information only (no judge configured: `judge:` in the server config)",
                        e.similarity
                    ),
                    _ => format!("lexical similarity {:.2}, information only", e.similarity),
                },
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
        "  record        {} (prev {}), ledger #{} (one chain for every repository gated with this data directory)",
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
    if let Some(earlier) = &o.note_replaced {
        let _ = writeln!(
            out,
            "                replaced this head's earlier note ({}); it stays in the ledger and in `git log -p refs/notes/patchgate`",
            short(earlier)
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
            let _ = writeln!(out, "  - the renders disagree: the change took the escalated path (review the edits with `patchgate diff`)");
        }
        if r.explanations
            .as_ref()
            .is_some_and(|e| e.state() == ExplanationsState::JudgedDifferent)
        {
            let _ = writeln!(
                out,
                "  - the renders' explanations were judged to describe different changes"
            );
        }
        for hint in &o.gate.to_pass {
            let _ = writeln!(out, "  - to pass: {hint}");
        }
        let d = &o.audit.decision;
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
