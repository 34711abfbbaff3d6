//! What a builder is asked: the **request**, never render A.
//!
//! - A pull request that closes an issue of its own repository (`Closes #12`, `fixes #12`,
//!   `resolves #12`, any of GitHub's closing keywords, in its title or body): the issue's title
//!   and body.
//! - Otherwise the pull request's title and body, with render A's own account left out where it
//!   can be told apart: sections under a heading such as `## Changes`, `## Implementation`,
//!   `## Explanation` (see [`EXPLANATION_HEADINGS`]) up to the next heading of the same or a
//!   higher level, everything after a `<!-- patchgate:explanation -->` marker, HTML comments,
//!   and `Render-Of:` lines.
//! - On the command line: the request file, as it is.
//!
//! The text is hashed ([`Request::hash`], sha256 of its UTF-8 bytes); the record keeps the hash,
//! and a render B already built for the same base, request and builder is reused.

use crate::meta::Sha256Hash;

/// Headings (lower case, without `#` and trailing `:`) under which a pull request's body gives
/// render A's own account rather than the request.
pub const EXPLANATION_HEADINGS: &[&str] = &[
    "changes",
    "changes made",
    "what changed",
    "what i changed",
    "what this pr does",
    "implementation",
    "implementation notes",
    "explanation",
    "approach",
    "solution",
    "how",
    "how it works",
    "summary of changes",
    "testing",
    "tests",
    "test plan",
];

/// The marker after which a pull request's body is render A's account.
pub const EXPLANATION_MARKER: &str = "<!-- patchgate:explanation -->";

/// Where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestSource {
    /// The issue the pull request closes.
    Issue(u64),
    /// The pull request's title and body (render A's account left out).
    PullRequest(u64),
    /// A request file (the command line).
    File,
}

impl std::fmt::Display for RequestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestSource::Issue(n) => write!(f, "issue#{n}"),
            RequestSource::PullRequest(n) => write!(f, "pr#{n}"),
            RequestSource::File => f.write_str("file"),
        }
    }
}

/// The request a builder sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub text: String,
    pub source: RequestSource,
}

impl Request {
    /// A request given as text (a request file).
    pub fn from_text(text: &str) -> Request {
        Request {
            text: text.trim().to_string(),
            source: RequestSource::File,
        }
    }

    /// An issue's title and body.
    pub fn from_issue(number: u64, title: &str, body: &str) -> Request {
        Request {
            text: join(title, body),
            source: RequestSource::Issue(number),
        }
    }

    /// A pull request's title and body, render A's account left out.
    pub fn from_pull_request(number: u64, title: &str, body: &str) -> Request {
        Request {
            text: join(title, &strip_account(body)),
            source: RequestSource::PullRequest(number),
        }
    }

    /// `sha256:…` of the text.
    pub fn hash(&self) -> Sha256Hash {
        Sha256Hash::digest(self.text.as_bytes())
    }
}

fn join(title: &str, body: &str) -> String {
    let (title, body) = (title.trim(), body.trim());
    match (title.is_empty(), body.is_empty()) {
        (_, true) => title.to_string(),
        (true, false) => body.to_string(),
        (false, false) => format!("{title}\n\n{body}"),
    }
}

/// The issue a pull request closes in its own repository, if its title or body says so.
pub fn closed_issue(title: &str, body: &str) -> Option<u64> {
    const KEYWORDS: &[&str] = &[
        "close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved",
    ];
    for text in [title, body] {
        let words: Vec<&str> = text.split_whitespace().collect();
        for pair in words.windows(2) {
            let kw = pair[0]
                .trim_start_matches(['(', '['])
                .trim_end_matches(':')
                .to_ascii_lowercase();
            if !KEYWORDS.contains(&kw.as_str()) {
                continue;
            }
            let target = pair[1].trim_end_matches(['.', ',', ';', ')']);
            if let Some(n) = target.strip_prefix('#').and_then(|n| n.parse().ok()) {
                return Some(n);
            }
        }
    }
    None
}

/// A heading line's level and text, if it is one.
fn heading(line: &str) -> Option<(usize, String)> {
    let t = line.trim_start();
    let level = t.chars().take_while(|c| *c == '#').count();
    if level == 0 || level > 6 || !t[level..].starts_with(' ') {
        return None;
    }
    let text = t[level..]
        .trim()
        .trim_end_matches(':')
        .trim()
        .to_ascii_lowercase();
    Some((level, text))
}

/// `body` without render A's account (see the module docs).
pub fn strip_account(body: &str) -> String {
    let body = body.split(EXPLANATION_MARKER).next().unwrap_or("");
    // HTML comments.
    let mut text = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("<!--") {
        text.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    text.push_str(rest);
    let mut out: Vec<&str> = Vec::new();
    let mut skipping: Option<usize> = None;
    for line in text.lines() {
        if let Some((level, title)) = heading(line) {
            match skipping {
                Some(l) if level > l => continue,
                _ => skipping = None,
            }
            if EXPLANATION_HEADINGS.contains(&title.as_str()) {
                skipping = Some(level);
                continue;
            }
        } else if skipping.is_some() {
            continue;
        }
        let lower = line.trim_start().to_ascii_lowercase();
        if lower.starts_with("render-of:") {
            continue;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_issue_is_found_by_githubs_keywords() {
        assert_eq!(closed_issue("Retry with backoff", "Closes #12."), Some(12));
        assert_eq!(closed_issue("fix: x (fixes #7)", ""), Some(7));
        assert_eq!(closed_issue("Resolves: #3", ""), Some(3));
        assert_eq!(closed_issue("see #12", "related to #4"), None);
    }

    #[test]
    fn render_as_account_is_left_out_of_a_pull_requests_body() {
        let body = "Retry failed fetches with exponential backoff, at most 5 tries.\n\n## Changes\n- added `retry()` in net.py\n### details\nsleep doubles\n\n## Notes\nKeep the public API.\nRender-Of: #3\n<!-- generated by an agent -->\n";
        let r = Request::from_pull_request(9, "Retry fetches", body);
        assert_eq!(
            r.text,
            "Retry fetches\n\nRetry failed fetches with exponential backoff, at most 5 tries.\n\n## Notes\nKeep the public API."
        );
        assert!(!r.text.contains("retry()") && !r.text.contains("sleep doubles"));
        let marked = format!("Do X.\n{EXPLANATION_MARKER}\nI did X by Y.");
        assert_eq!(strip_account(&marked), "Do X.");
        assert_eq!(r.source.to_string(), "pr#9");
        assert_ne!(r.hash(), Request::from_text("Retry fetches").hash());
    }
}
