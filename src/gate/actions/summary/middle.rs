//! The middle of the step summary: the findings and where the renders differ, as much as fits
//! in the bytes the head and the tail leave.

use std::fmt::Write as _;

use super::md;
use crate::gate::actions::{all_findings, TEXT_CAP};
use crate::gate::check::CheckOutcome;

/// The middle: findings and edits, at most about `budget` bytes.
pub(super) fn middle(o: &CheckOutcome, budget: usize) -> String {
    let mut middle = String::new();
    let found = all_findings(o);
    // Findings first; when the renders differ, a quarter is kept for where they differ.
    let renders_differ = o
        .dual
        .as_ref()
        .is_some_and(|d| d.files.iter().any(|f| f.differing > 0));
    let findings_budget = if renders_differ {
        budget / 4 * 3
    } else {
        budget
    };
    if !found.is_empty() {
        let mut section = String::new();
        let _ = writeln!(section, "### Findings ({})", found.len());
        let _ = writeln!(section);
        let _ = writeln!(section, "| severity | auditor | rule | where | message |");
        let _ = writeln!(section, "| --- | --- | --- | --- | --- |");
        let mut shown = 0;
        for x in &found {
            let row = format!(
                "| {} | {} | `{}` | {} | {} |\n",
                x.f.severity,
                md(x.auditor, 100),
                md(&x.f.rule, 200).replace('`', "'"),
                md(
                    &match (&x.f.file, x.f.line) {
                        (Some(f), Some(l)) => format!("{f}:{l}"),
                        (Some(f), None) => f.clone(),
                        _ => "(change)".to_string(),
                    },
                    300
                ),
                md(&x.f.message, TEXT_CAP)
            );
            if section.len() + row.len() + 256 > findings_budget {
                break;
            }
            section.push_str(&row);
            shown += 1;
        }
        if shown < found.len() {
            let _ = writeln!(
                section,
                "\n_… {} more finding(s) not shown: the step summary is capped under 1 MiB. The record and `patchgate check --format json` have them all._",
                found.len() - shown
            );
        }
        let _ = writeln!(section);
        middle.push_str(&section);
    }
    if let Some(dual) = &o.dual {
        let files: Vec<_> = dual.files.iter().filter(|f| f.differing > 0).collect();
        if !files.is_empty() {
            let mut section = String::new();
            let _ = writeln!(section, "### Where the renders differ");
            let _ = writeln!(section);
            let _ = writeln!(section, "| file | variance | edits |");
            let _ = writeln!(section, "| --- | --- | --- |");
            let mut shown = 0;
            for f in &files {
                let row = format!(
                    "| `{}` | {} | {} |\n",
                    md(&f.path, 300).replace('`', "'"),
                    f.variance_percent
                        .map(|v| format!("{v:.2} %"))
                        .unwrap_or_else(|| "—".into()),
                    f.edits.len() + f.edits_omitted
                );
                if middle.len() + section.len() + row.len() + 256 > budget {
                    break;
                }
                section.push_str(&row);
                shown += 1;
            }
            if shown < files.len() {
                let _ = writeln!(
                    section,
                    "\n_… {} more file(s) not shown: the step summary is capped under 1 MiB; see `patchgate diff`._",
                    files.len() - shown
                );
            }
            let _ = writeln!(section);
            if middle.len() + section.len() <= budget {
                middle.push_str(&section);
            }
        }
        let what = what_differs(dual, budget.saturating_sub(middle.len()));
        middle.push_str(&what);
    }
    middle
}

/// "What differs": every entity on which the renders differ, with both renders' lines — shown
/// whatever the verdict, so an agreed change still shows its one differing operator — and the
/// files the exclude list took out. At most `budget` bytes.
fn what_differs(dual: &crate::astdiff::DiffReport, budget: usize) -> String {
    let mut section = String::new();
    if dual.differences.is_empty() && dual.excluded.is_empty() {
        return section;
    }
    let quote = |lines: &[String]| -> String {
        if lines.is_empty() {
            "—".to_string()
        } else {
            lines
                .iter()
                .map(|l| format!("`{}`", md(l, 120).replace('`', "'")))
                .collect::<Vec<_>>()
                .join("<br>")
        }
    };
    let range = |r: Option<crate::astdiff::measure::LineRange>| match r {
        None => "—".to_string(),
        Some(r) if r.start == r.end => r.start.to_string(),
        Some(r) => format!("{}–{}", r.start, r.end),
    };
    if !dual.differences.is_empty() {
        let _ = writeln!(section, "### What differs between the renders");
        let _ = writeln!(section);
        let _ = writeln!(section, "| file | entity | render A | render B |");
        let _ = writeln!(section, "| --- | --- | --- | --- |");
        let mut shown = 0;
        for d in &dual.differences {
            let row = format!(
                "| `{}` | {} | {} {} | {} {} |\n",
                md(&d.path, 300).replace('`', "'"),
                d.entity
                    .as_deref()
                    .map(|e| format!("`{}`", md(e, 120).replace('`', "'")))
                    .unwrap_or_else(|| "(top level)".into()),
                range(d.a),
                quote(&d.a_lines),
                range(d.b),
                quote(&d.b_lines)
            );
            if section.len() + row.len() + 256 > budget {
                break;
            }
            section.push_str(&row);
            shown += 1;
        }
        if shown < dual.differences.len() {
            let _ = writeln!(
                section,
                "\n_… {} more not shown: the summary is capped under 1 MiB; see the record or `patchgate diff`._",
                dual.differences.len() - shown
            );
        }
        let _ = writeln!(section);
    }
    if !dual.excluded.is_empty() {
        let mut part = String::new();
        let _ = writeln!(
            part,
            "Not counted (the repository's `diff.exclude`, or its defaults): {}\n",
            dual.excluded
                .iter()
                .map(|e| format!(
                    "`{}` ({})",
                    md(&e.path, 200).replace('`', "'"),
                    md(&e.pattern, 100)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if section.len() + part.len() <= budget {
            section.push_str(&part);
        }
    }
    if section.len() > budget {
        return String::new();
    }
    section
}
