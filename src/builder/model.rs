//! Model builders (`kind: openai|anthropic`): the prompt a model is given and the answer it must
//! give — **whole-file replacements as one JSON object** — parsed strictly and validated before
//! patchgate applies it to the base.
//!
//! The model sees: the request, the base commit's id, the list of the base's paths (at most
//! [`MAX_LISTED_PATHS`]), and the base contents of the files the request names by path (within
//! the prompt's budget). Everything is masked with Rule-Guard's secret rules before it leaves
//! the process. It never sees render A.
//!
//! The answer:
//!
//! ```json
//! {"explanation": "what was changed and why, for a reviewer",
//!  "files": [{"path": "src/net.py", "content": "<the whole new file>"},
//!            {"path": "old.py", "delete": true}]}
//! ```
//!
//! Refused (render B unavailable, with the reason): not exactly that object (unknown fields
//! too), a path that is absolute, has `..`, `.`, an empty or a `.git` component, a path given
//! twice, an entry with both or neither of `content` and `delete: true`, no files, more files or
//! bytes than the builder's limits; when applied: a deletion of a file the base lacks, a file
//! under a path that is a file in the base (`does not apply`), or no difference at all.

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use serde::Deserialize;

use super::worktree::{check_path, over_limits, ChangeLimits, FileChange};
use crate::audit::llm::price::estimate_tokens;
use crate::audit::llm::prompt::{json_object, Prompt};
use crate::audit::rule_guard::{mask_secrets, RuleSet};

/// The most paths of the base listed in the prompt.
pub const MAX_LISTED_PATHS: usize = 2000;

/// The system text of a model builder.
pub const SYSTEM: &str = "You are a software engineer implementing a change request in a \
repository. You are given the request, the repository's file list and the current contents of \
the files the request names. Answer with ONE JSON object and nothing else: \
{\"explanation\": \"what you changed and why, for a reviewer\", \"files\": [{\"path\": \
\"relative/path\", \"content\": \"the whole new content of the file\"}, {\"path\": \
\"relative/path\", \"delete\": true}]}. Give every file you change in full (whole-file \
replacements, never a diff); paths are relative to the repository root, with `/`. Change only \
what the request needs.";

/// The model's answer, as parsed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    explanation: String,
    files: Vec<AnswerFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerFile {
    path: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    delete: Option<bool>,
}

/// The paths of the base's tree (blobs), sorted.
fn base_paths(repo: &Repository, base: Oid) -> Result<Vec<String>, String> {
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(|e| format!("reading the base {base}: {e}"))?;
    let mut out = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, e| {
        if let (Ok(name), Some(ObjectType::Blob)) = (e.name(), e.kind()) {
            out.push(format!("{dir}{name}"));
        }
        TreeWalkResult::Ok
    })
    .map_err(|e| format!("walking the base tree: {e}"))?;
    out.sort();
    Ok(out)
}

/// Whether `path` is named in `request` (not as a part of a longer path).
fn named(request: &str, path: &str) -> bool {
    let path_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.');
    request.match_indices(path).any(|(i, _)| {
        let end = i + path.len();
        let ok_before = request[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !path_char(c));
        let mut after = request[end..].chars();
        let ok_after = match after.next() {
            None => true,
            // A full stop ends a sentence, not a longer path.
            Some('.') => after.next().is_none_or(char::is_whitespace),
            Some(c) => !path_char(c),
        };
        ok_before && ok_after
    })
}

/// The prompt for `request` on `base`, masked, within `budget_tokens`.
pub fn build_prompt(
    repo: &Repository,
    base: Oid,
    request: &str,
    rules: &RuleSet,
    budget_tokens: u64,
) -> Result<Prompt, String> {
    let paths = base_paths(repo, base)?;
    let mut user = format!("# Request\n\n{request}\n\n# Repository at {base}\n\nFiles:\n");
    for p in paths.iter().take(MAX_LISTED_PATHS) {
        user.push_str(p);
        user.push('\n');
    }
    if paths.len() > MAX_LISTED_PATHS {
        user.push_str(&format!("… and {} more\n", paths.len() - MAX_LISTED_PATHS));
    }
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(|e| format!("reading the base {base}: {e}"))?;
    let used = estimate_tokens(SYSTEM) + estimate_tokens(&user);
    let mut left = budget_tokens.saturating_sub(used);
    for p in paths.iter().filter(|p| named(request, p)) {
        let Ok(entry) = tree.get_path(std::path::Path::new(p)) else {
            continue;
        };
        let Ok(blob) = repo.find_blob(entry.id()) else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(blob.content()) else {
            continue;
        };
        let section = format!("\n# {p} (current content)\n\n```\n{text}\n```\n");
        let cost = estimate_tokens(&section);
        if cost > left {
            user.push_str(&format!("\n# {p}: not shown (over the prompt's budget)\n"));
            continue;
        }
        left -= cost;
        user.push_str(&section);
    }
    Ok(Prompt {
        system: SYSTEM.to_string(),
        user: mask_secrets(&user, rules),
    })
}

/// The explanation and the files of a model's answer, validated (see the module docs).
pub fn parse_answer(text: &str, limits: ChangeLimits) -> Result<(String, Vec<FileChange>), String> {
    let object = json_object(text).map_err(|e| format!("the model's answer is malformed: {e}"))?;
    let answer: Answer = serde_json::from_str(object)
        .map_err(|e| format!("the model's answer is malformed: {e}"))?;
    if answer.files.is_empty() {
        return Err("the model changed nothing (no files in its answer)".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut changes = Vec::new();
    let mut bytes: u64 = 0;
    for f in answer.files {
        check_path(&f.path).map_err(|e| format!("the model's answer is refused: {e}"))?;
        if !seen.insert(f.path.clone()) {
            return Err(format!(
                "the model's answer is malformed: {} is given twice",
                f.path
            ));
        }
        let change = match (f.content, f.delete) {
            (Some(content), None | Some(false)) => {
                bytes += content.len() as u64;
                FileChange::Write {
                    path: f.path,
                    bytes: content.into_bytes(),
                    executable: false,
                }
            }
            (None, Some(true)) => FileChange::Delete { path: f.path },
            _ => {
                return Err(format!(
                    "the model's answer is malformed: {} needs either `content` or `delete: true`",
                    f.path
                ))
            }
        };
        changes.push(change);
        over_limits(changes.len(), bytes, limits)?;
    }
    Ok((answer.explanation, changes))
}

/// Keep a file's executable bit from the base when the model rewrites it.
pub fn keep_modes(repo: &Repository, base: Oid, changes: &mut [FileChange]) {
    let Ok(tree) = repo.find_commit(base).and_then(|c| c.tree()) else {
        return;
    };
    for c in changes {
        if let FileChange::Write {
            path, executable, ..
        } = c
        {
            if let Ok(e) = tree.get_path(std::path::Path::new(path.as_str())) {
                *executable = e.filemode() == 0o100755;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChangeLimits = ChangeLimits {
        max_files: 3,
        max_bytes: 100,
    };

    #[test]
    fn a_valid_answer_gives_its_files() {
        let (why, files) = parse_answer(
            "```json\n{\"explanation\": \"add b\", \"files\": [{\"path\": \"a.py\", \"content\": \"x = 1\\n\"}, {\"path\": \"old.py\", \"delete\": true}]}\n```",
            LIMITS,
        )
        .unwrap();
        assert_eq!(why, "add b");
        assert_eq!(files[0].path(), "a.py");
        assert_eq!(
            files[1],
            FileChange::Delete {
                path: "old.py".into()
            }
        );
    }

    #[test]
    fn malformed_and_unsafe_answers_are_refused_with_the_reason() {
        let cases = [
            ("sure! here it is", "malformed"),
            ("{\"explanation\": \"x\"}", "malformed"),
            ("{\"explanation\": \"x\", \"files\": [], \"extra\": 1}", "malformed"),
            ("{\"explanation\": \"x\", \"files\": []}", "changed nothing"),
            ("{\"explanation\": \"x\", \"files\": [{\"path\": \"../x\", \"content\": \"\"}]}", "leaves the worktree"),
            ("{\"explanation\": \"x\", \"files\": [{\"path\": \".git/hooks/pre-commit\", \"content\": \"\"}]}", "touches .git"),
            ("{\"explanation\": \"x\", \"files\": [{\"path\": \"a\", \"content\": \"\"}, {\"path\": \"a\", \"delete\": true}]}", "twice"),
            ("{\"explanation\": \"x\", \"files\": [{\"path\": \"a\", \"content\": \"\", \"delete\": true}]}", "either"),
            ("{\"explanation\": \"x\", \"files\": [{\"path\": \"a\", \"content\": \"" , "malformed"),
        ];
        for (text, want) in cases {
            let err = parse_answer(text, LIMITS).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
        let big = format!(
            "{{\"explanation\": \"x\", \"files\": [{{\"path\": \"a\", \"content\": \"{}\"}}]}}",
            "y".repeat(101)
        );
        assert!(parse_answer(&big, LIMITS)
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn files_are_named_by_whole_paths() {
        assert!(named("Fix src/net.py.", "src/net.py"));
        assert!(named("in `src/net.py`, retry", "src/net.py"));
        assert!(!named("see src/net.pyc", "src/net.py"));
        assert!(!named("see xsrc/net.py", "src/net.py"));
    }
}
