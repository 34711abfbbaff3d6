//! Where an `_extends` value points: its grammar (`.github`, `repo`, `owner/repo`, each
//! optionally followed by `:path`) and GitHub's rules for owner and repository names. Pure;
//! used by the file checker (`check`) and the resolver that follows the chain (`extends`).

use super::REPO_CONFIG_PATH;
use crate::util::code_span;

/// Where `_extends` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendsTarget {
    /// `owner/name`.
    pub repo: String,
    /// The file in that repository.
    pub path: String,
}

/// Read an `_extends` value written in a file of `owner`'s: `.github`, `repo`, `owner/repo`,
/// each optionally followed by `:path`.
pub fn parse_extends(value: &str, owner: &str) -> Result<ExtendsTarget, String> {
    let form =
        "write `.github`, `other-repo` or `owner/repo`, optionally followed by `:path/to/file.yml`";
    let value = value.trim();
    let (target, path) = match value.split_once(':') {
        Some((t, p)) => (t, p),
        None => (value, REPO_CONFIG_PATH),
    };
    let repo = match target.split_once('/') {
        Some((o, n)) if valid_owner(o) && valid_repo_name(n) => format!("{o}/{n}"),
        None if valid_repo_name(target) => format!("{owner}/{target}"),
        _ => return Err(format!("{} is not a repository: {form}", code_span(target))),
    };
    let bad_path = path.is_empty()
        || path.len() > 1024
        || path.starts_with('/')
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad_path {
        return Err(format!(
            "{} is not a file path inside a repository (relative, no `..`): {form}",
            code_span(path)
        ));
    }
    Ok(ExtendsTarget {
        repo,
        path: path.to_string(),
    })
}

pub(super) fn split_repo(repo: &str) -> Option<(&str, &str)> {
    repo.split_once('/')
        .filter(|(o, n)| valid_owner(o) && valid_repo_name(n))
}

/// A GitHub user or organisation name.
fn valid_owner(o: &str) -> bool {
    (1..=39).contains(&o.len()) && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A GitHub repository name.
fn valid_repo_name(n: &str) -> bool {
    (1..=100).contains(&n.len())
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
