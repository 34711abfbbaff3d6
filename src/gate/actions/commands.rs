//! Workflow commands: escaping their messages and properties, and the findings as
//! annotations (most severe first, at most [`ANNOTATIONS_PER_LEVEL`] of each level).

use super::{ANNOTATIONS_PER_LEVEL, TEXT_CAP};
use crate::audit::vote::Severity;
use crate::gate::check::CheckOutcome;

/// Escape a workflow command's message (`%`, `\r`, `\n`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow command's property value (as [`escape_data`], plus `:` and `,`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub(super) fn cap(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// One finding and the auditor that reported it.
pub struct Found<'a> {
    pub auditor: &'a str,
    pub f: &'a crate::audit::vote::Finding,
}

/// Every finding of every vote, most severe first (stable within a severity: vote order), exact
/// duplicates (two auditors reporting the same thing) once.
pub fn all_findings(o: &CheckOutcome) -> Vec<Found<'_>> {
    let mut out: Vec<Found<'_>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for v in &o.audit.votes {
        for f in &v.findings {
            let key = (
                f.severity,
                f.rule.as_str(),
                f.file.as_deref(),
                f.line,
                f.message.as_str(),
            );
            if seen.insert(key) {
                out.push(Found {
                    auditor: &v.auditor,
                    f,
                });
            }
        }
    }
    out.sort_by_key(|x| std::cmp::Reverse(x.f.severity));
    out
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    }
}

/// Workflow commands for the findings: `::error` first, then `::warning`, then `::notice`, at
/// most [`ANNOTATIONS_PER_LEVEL`] of each (the runner shows no more). When some are left out,
/// a last `::notice` says how many and where they are — and the notices give up one slot for
/// it, so it is always shown.
pub fn annotations(o: &CheckOutcome) -> Vec<String> {
    let found = all_findings(o);
    let count = |s: Severity| found.iter().filter(|x| x.f.severity == s).count();
    let overflow = [Severity::Error, Severity::Warning, Severity::Info]
        .iter()
        .any(|s| count(*s) > ANNOTATIONS_PER_LEVEL);
    let limit = |s: Severity| {
        if overflow && s == Severity::Info {
            ANNOTATIONS_PER_LEVEL - 1
        } else {
            ANNOTATIONS_PER_LEVEL
        }
    };
    let mut out = Vec::new();
    let mut shown = [0usize; 3];
    let mut more = [0usize; 3];
    for x in &found {
        let i = x.f.severity as usize;
        if shown[i] >= limit(x.f.severity) {
            more[i] += 1;
            continue;
        }
        shown[i] += 1;
        let mut props = Vec::new();
        if let Some(file) = x.f.file.as_deref().filter(|f| !f.is_empty()) {
            props.push(format!("file={}", escape_property(file)));
            if let Some(line) = x.f.line {
                props.push(format!("line={line}"));
                props.push(format!("endLine={line}"));
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("patchgate {}: {}", x.auditor, x.f.rule))
        ));
        out.push(format!(
            "::{} {}::{}",
            level(x.f.severity),
            props.join(","),
            escape_data(&cap(&x.f.message, TEXT_CAP * 4))
        ));
    }
    let total_more: usize = more.iter().sum();
    if total_more > 0 {
        let parts: Vec<String> = [
            (Severity::Error, "error"),
            (Severity::Warning, "warning"),
            (Severity::Info, "notice"),
        ]
        .iter()
        .filter(|(s, _)| more[*s as usize] > 0)
        .map(|(s, n)| {
            let k = more[*s as usize];
            format!("{k} {n}{}", if k == 1 { "" } else { "s" })
        })
        .collect();
        out.push(format!(
            "::notice title={}::{}",
            escape_property("patchgate: more findings"),
            escape_data(&format!(
                "{total_more} more finding(s) ({}) are not annotated here: the runner shows {ANNOTATIONS_PER_LEVEL} of each level; see the step summary",
                parts.join(", ")
            ))
        ));
    }
    out
}
