//! The head of the step summary: the verdict, the path the change took (with where the renders
//! differ on the escalated path), the table of checks and every vote with its reason.

use std::fmt::Write as _;

use super::{md, short};
use crate::audit::vote::Verdict;
use crate::gate::actions::TEXT_CAP;
use crate::gate::check::CheckOutcome;

/// The head: verdict, variance, explanations, votes.
pub(super) fn head(o: &CheckOutcome) -> String {
    let r = &o.record;
    let d = &o.audit.decision;
    let mut head = String::new();
    if r.quorum_passed {
        let _ = writeln!(head, "## ✅ patchgate: passed — `quorum_passed: true`");
    } else {
        let _ = writeln!(head, "## ❌ patchgate: blocked — `quorum_passed: false`");
    }
    let _ = writeln!(head);
    let _ = writeln!(
        head,
        "`{}` · `{}` → `{}`{}",
        md(&r.repo, 200),
        short(&r.change.base),
        short(&r.change.head),
        r.change.pr.map(|n| format!(" · #{n}")).unwrap_or_default()
    );
    let _ = writeln!(head);
    // The path first: agreed, escalated or one render, why, and on the escalated path where
    // the renders differ, with both renders' lines.
    let g = &o.gate;
    let _ = writeln!(
        head,
        "**Path: {}** — {}. {}",
        g.path,
        md(&g.why, TEXT_CAP),
        md(&g.reason, TEXT_CAP)
    );
    let _ = writeln!(head);
    if let Some(h) = r.gate.as_ref().and_then(|g| g.human.as_ref()) {
        let state = if h.head == r.change.head {
            "on this head"
        } else {
            "**void**: given on an earlier head (a new push voids it)"
        };
        let _ = writeln!(
            head,
            "**Maintainer:** `{}` by @{} ({}) {state}: {}",
            h.verdict,
            md(&h.by, 100),
            md(&h.permission, 20),
            md(&h.reason, TEXT_CAP)
        );
        let _ = writeln!(head);
    } else if g.path == crate::meta::decision::Path::Escalated {
        // A vote given on an earlier head is not carried to this one: a new push voids it.
        let _ = writeln!(
            head,
            "**Maintainer:** no standing vote on this head (`/patchgate approve|block <reason>`)."
        );
        let _ = writeln!(head);
    }
    if let Some(esc) = o.escalation.as_ref().filter(|e| !e.differences.is_empty()) {
        let _ = writeln!(
            head,
            "<details open><summary>Where the renders differ ({})</summary>",
            esc.differences.len()
        );
        let _ = writeln!(head);
        for d in esc.differences.iter().take(10) {
            let _ = writeln!(
                head,
                "- `{}` `{}`: {}",
                md(&d.path, 200),
                md(&d.entity, 200),
                md(&d.edits, 200)
            );
            let _ = writeln!(head);
            for (side, lines, text) in [("A", &d.a_lines, &d.a_text), ("B", &d.b_lines, &d.b_text)]
            {
                let shown: String = text.lines().take(8).map(|l| format!("{l}\n")).collect();
                let fence = "````";
                let _ = writeln!(
                    head,
                    "  render {side} {}:\n  {fence}\n{}  {fence}",
                    lines
                        .as_deref()
                        .map(|l| format!("lines {l}"))
                        .unwrap_or_else(|| "(absent)".into()),
                    shown
                        .lines()
                        .map(|l| format!("  {l}\n"))
                        .collect::<String>()
                );
            }
        }
        if esc.differences.len() > 10 {
            let _ = writeln!(
                head,
                "- … {} more (the record's `gate.differences`)",
                esc.differences.len() - 10
            );
        }
        let _ = writeln!(head, "</details>");
        let _ = writeln!(head);
    }
    let _ = writeln!(head, "| check | result | detail |");
    let _ = writeln!(head, "| --- | --- | --- |");
    match (&o.dual, &r.renders.b) {
        (Some(dual), Some(b)) => {
            let _ = writeln!(
                head,
                "| renders | {} | variance **{:.2} %** (threshold {:.2} %), render B: `{}` |",
                if r.ast_diff.agreed {
                    "✅ agreed"
                } else {
                    "❌ escalate"
                },
                dual.variance_percent.unwrap_or(100.0),
                dual.threshold_percent,
                md(&b.source, 200)
            );
        }
        _ => {
            let semantic = o.single.semantic_files();
            let required = if r.ast_diff.agreed {
                "one render"
            } else {
                "**missing render B** (the repository sets `render_b.required`)"
            };
            let _ = writeln!(
                head,
                "| renders | {required} | no render B to compare: {} file(s) changed, {semantic} with semantic changes |",
                o.single.files.len()
            );
        }
    }
    // A builder asked for render B: who built it, in how long, at what cost, where it is kept
    // (or why there is none).
    if let Some(line) = crate::gate::render_b::builder_line(r) {
        let state = if r.ast_diff.extra.contains_key("render_b_unavailable") {
            "unavailable"
        } else {
            "built"
        };
        let _ = writeln!(head, "| render B | {state} | {} |", md(&line, TEXT_CAP));
    }
    match &r.explanations {
        Some(e) => {
            use crate::meta::decision::ExplanationsState as S;
            let judge = e
                .judge
                .as_ref()
                .map(|j| match j.score {
                    Some(x) => format!(
                        "; judge {}: {x:.2} (threshold {:.2}): {}",
                        md(&j.name, 100),
                        e.threshold,
                        md(&j.reason, TEXT_CAP)
                    ),
                    None => format!("; judge {}: {}", md(&j.name, 100), md(&j.reason, TEXT_CAP)),
                })
                .unwrap_or_default();
            let _ = writeln!(
                head,
                "| explanations | {} | lexical similarity {:.2} (information only){}{judge} |",
                match e.state() {
                    S::Identical | S::JudgedSame => "✅ agreed",
                    S::JudgedDifferent => "❌ differ",
                    _ => "⚪ not judged",
                },
                e.similarity,
                if e.hash_match { ", identical" } else { "" }
            );
        }
        None => {
            let _ = writeln!(
                head,
                "| explanations | not compared | fewer than two renders explain the change |"
            );
        }
    }
    let _ = writeln!(
        head,
        "| audit | {} | {} approval(s) of {} required — {} |",
        if d.passed { "✅ passed" } else { "❌ failed" },
        d.approvals,
        d.required,
        md(&d.reason, TEXT_CAP)
    );
    let _ = writeln!(head);
    let _ = writeln!(head, "### Votes");
    let _ = writeln!(head);
    let _ = writeln!(head, "| auditor | verdict | reason | findings | cost |");
    let _ = writeln!(head, "| --- | --- | --- | --- | --- |");
    for v in &o.audit.votes {
        let verdict = match v.verdict {
            Verdict::Approve => "✅ approve",
            Verdict::Reject => "❌ reject",
            Verdict::Abstain => "⚪ abstain",
        };
        let _ = writeln!(
            head,
            "| {} | {verdict} | {} | {} | ${:.4} |",
            md(&v.auditor, 100),
            md(v.reason.as_deref().unwrap_or("—"), TEXT_CAP),
            v.findings.len(),
            v.cost_usd
        );
    }
    let _ = writeln!(head);
    if let Some(note) = &o.config_note {
        let _ = writeln!(head, "> **Note:** {}", md(note, TEXT_CAP));
        let _ = writeln!(head);
    }
    head
}
