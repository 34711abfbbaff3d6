//! What the auditors are shown of a change, built from the AST diff of one render against its
//! base.
//!
//! Every text that leaves this module for an auditor — hunks, the structural summary, the
//! renders' explanations — has first gone through the secret rules' mask, so a key planted in a
//! diff never reaches a model or an external command. Rule-Guard alone gets the full old and new
//! texts, in process.

use similar::TextDiff;

use crate::astdiff::change::ChangeInput;
use crate::astdiff::diff::{DiffReport, FileReport, FileStatus as DiffFileStatus};
use crate::audit::rule_guard::{mask_secrets, ChangedFile, FileStatus, RuleSet};
use crate::audit::vote::{AuditInput, ChangedFileView};

/// Identity of the change shown to auditors.
#[derive(Debug, Clone)]
pub struct ChangeId {
    pub repo: String,
    pub base: String,
    pub head: String,
}

/// The auditors' view of a change, and Rule-Guard's.
pub struct Prepared {
    pub input: AuditInput,
    pub files: Vec<ChangedFile>,
}

fn text(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// A unified diff of one file, as `git diff` would show it (3 lines of context).
pub fn unified_hunks(path: &str, old: Option<&str>, new: Option<&str>) -> String {
    let (o, n) = (old.unwrap_or(""), new.unwrap_or(""));
    let a = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".into()
    };
    let b = if new.is_some() {
        format!("b/{path}")
    } else {
        "/dev/null".into()
    };
    TextDiff::from_lines(o, n)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}

fn summary_of(f: &FileReport) -> String {
    let mut s = format!(
        "{} ({}){}",
        f.path,
        f.language.as_deref().unwrap_or("no grammar"),
        match f.class {
            Some(c) => format!(
                ": {}",
                serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            None => String::new(),
        }
    );
    if f.status == DiffFileStatus::Binary {
        s.push_str(" [binary, not diffed]");
    }
    if let Some(why) = &f.fallback {
        s.push_str(&format!(" [line diff: {why}]"));
    }
    for e in &f.entities {
        let class = serde_json::to_value(e.class)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        s.push_str(&format!("\n  {} {} ({class})", e.status, e.entity));
    }
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for e in &f.edits {
        let op = serde_json::to_value(e.op)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *counts.entry(op).or_default() += 1;
    }
    if !counts.is_empty() {
        let parts: Vec<String> = counts.iter().map(|(op, n)| format!("{n} {op}")).collect();
        s.push_str(&format!("\n  edits: {}", parts.join(", ")));
    }
    s
}

/// Build the auditors' input from a single-render change and its diff report.
pub fn prepare(
    id: &ChangeId,
    change: &ChangeInput,
    report: &DiffReport,
    rules: &RuleSet,
    explanations: &[String],
) -> Prepared {
    let mut views = Vec::new();
    let mut files = Vec::new();
    let mut summary = String::new();
    for (fv, fr) in change.files.iter().zip(&report.files) {
        let binary = fr.status == DiffFileStatus::Binary;
        let (old, new) = if binary {
            (
                fv.base.as_ref().map(|_| String::new()),
                fv.a.as_ref().map(|_| String::new()),
            )
        } else {
            (text(&fv.base), text(&fv.a))
        };
        let status = match (&old, &new) {
            (None, _) => FileStatus::Added,
            (_, None) => FileStatus::Deleted,
            _ => FileStatus::Modified,
        };
        let hunks = if binary {
            format!("Binary file {} changed\n", fv.path)
        } else {
            mask_secrets(
                &unified_hunks(&fv.path, old.as_deref(), new.as_deref()),
                rules,
            )
        };
        views.push(ChangedFileView {
            path: fv.path.clone(),
            language: fr.language.clone(),
            status,
            hunks,
            entities: fr.entities.iter().map(|e| e.entity.clone()).collect(),
        });
        if !summary.is_empty() {
            summary.push('\n');
        }
        summary.push_str(&summary_of(fr));
        files.push(ChangedFile {
            path: fv.path.clone(),
            language: fr.language.clone(),
            old,
            new,
        });
    }
    Prepared {
        input: AuditInput {
            repo: id.repo.clone(),
            base: id.base.clone(),
            head: id.head.clone(),
            files: views,
            structural_summary: mask_secrets(&summary, rules),
            explanations: explanations
                .iter()
                .map(|e| mask_secrets(e, rules))
                .collect(),
            rule_findings: Vec::new(),
            escalation: None,
        },
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::astdiff::change::FileVersions;
    use crate::astdiff::registry::Registry;
    use crate::astdiff::{diff_change, DiffOptions};

    #[test]
    fn hunks_and_summary_are_masked_and_entities_listed() {
        let key = "AKIAIOSFODNN7EXAMPLQ";
        let change = ChangeInput {
            has_base: true,
            single: true,
            label_base: Some("base".into()),
            label_a: "head".into(),
            label_b: String::new(),
            files: vec![FileVersions {
                path: "app/settings.py".into(),
                base: Some(b"def load():\n    return 1\n".to_vec()),
                a: Some(format!("def load():\n    key = \"{key}\"\n    return 2\n").into_bytes()),
                b: None,
            }],
        };
        let report = diff_change(
            &change,
            &Registry::embedded().unwrap(),
            &DiffOptions::default(),
        );
        let rules = RuleSet::embedded().unwrap();
        let id = ChangeId {
            repo: "demo".into(),
            base: "b".into(),
            head: "h".into(),
        };
        let p = prepare(&id, &change, &report, &rules, &[format!("uses {key}")]);
        let json = serde_json::to_string(&p.input).unwrap();
        assert!(
            !json.contains(key),
            "secret leaked into the auditors' input: {json}"
        );
        assert!(json.contains("REDACTED"), "{json}");
        assert_eq!(p.input.files[0].entities, vec!["def load".to_string()]);
        assert!(p.input.files[0]
            .hunks
            .starts_with("--- a/app/settings.py\n+++ b/app/settings.py\n"));
        assert!(
            p.input
                .structural_summary
                .contains("modified def load (semantic)"),
            "{}",
            p.input.structural_summary
        );
        // Rule-Guard sees the real text, to find the key.
        assert!(p.files[0].new.as_deref().unwrap().contains(key));
    }
}
