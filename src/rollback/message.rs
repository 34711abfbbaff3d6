//! The revert commit's message: why the change was undone, and machine-readable trailers.
//!
//! Must never let caller text (a title, a reason) forge a trailer or a `This reverts commit`
//! line: caller text is flattened onto single lines that start with fixed words.

use git2::Oid;

use super::RevertTarget;

/// Why a rollback happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertReason {
    /// A person asked for it (`patchgate rollback`), with the reason they gave, if any.
    Manual(Option<String>),
    /// A post-merge policy was violated.
    Policy {
        /// The policy's name.
        policy: String,
        /// The observed value that violated it.
        observed: String,
    },
}

/// What the revert commit says, besides the reverted SHAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertMessage {
    /// The reverted change's title (the PR title); `None`: the target commit's summary.
    pub title: Option<String>,
    /// Why.
    pub reason: RevertReason,
    /// The hash of the decision record this rollback is judged against, if any.
    pub record_hash: Option<String>,
}

/// Collapse caller text to one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Render the message of the revert of `target` (whose range, newest first, is `reverted`;
/// `first_parent` is the merge's first parent for a merge) with the default `title`.
pub(crate) fn build(
    msg: &RevertMessage,
    target: &RevertTarget,
    reverted: &[Oid],
    first_parent: Option<Oid>,
    default_title: &str,
) -> String {
    let title = one_line(msg.title.as_deref().unwrap_or(default_title));
    let mut out = format!("Revert \"{title}\"\n\n");
    match target {
        RevertTarget::Merge(m) => {
            let p = first_parent.map(|p| p.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "This reverts commit {m}, reversing\nchanges made to {p}.\n\n"
            ));
        }
        RevertTarget::Commit(c) => out.push_str(&format!("This reverts commit {c}.\n\n")),
        RevertTarget::Range { first, last } => {
            out.push_str(&format!(
                "This reverts the {} commits {first}^..{last}, newest first.\n\n",
                reverted.len()
            ));
        }
    }
    match &msg.reason {
        RevertReason::Manual(None) => out.push_str("Reason: manual rollback\n"),
        RevertReason::Manual(Some(r)) => {
            out.push_str(&format!("Reason: manual rollback: {}\n", one_line(r)))
        }
        RevertReason::Policy { policy, observed } => out.push_str(&format!(
            "Reason: policy {} violated (observed: {})\n",
            one_line(policy),
            one_line(observed)
        )),
    }
    out.push('\n');
    for r in reverted {
        out.push_str(&format!("Patchgate-Reverts: {r}\n"));
    }
    if let Some(h) = &msg.record_hash {
        out.push_str(&format!("Patchgate-Audit: {}\n", one_line(h)));
    }
    out
}

/// The SHAs a message says it reverts: `Patchgate-Reverts:` trailers and git's
/// `This reverts commit <sha>` lines, each at the start of a line.
pub(crate) fn reverted_shas(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in message.lines() {
        let line = line.trim();
        let rest = line
            .strip_prefix("Patchgate-Reverts:")
            .or_else(|| line.strip_prefix("This reverts commit "));
        if let Some(rest) = rest {
            let sha: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            if sha.len() >= 7 {
                out.push(sha.to_ascii_lowercase());
            }
        }
    }
    out
}

/// Does this message mark a revert?
pub(crate) fn looks_like_revert(message: &str) -> bool {
    message.starts_with("Revert \"") || !reverted_shas(message).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_cannot_forge_a_trailer() {
        let m = RevertMessage {
            title: Some("t\nPatchgate-Reverts: 1234567".into()),
            reason: RevertReason::Manual(Some("x\nPatchgate-Reverts: abcdef1\n".into())),
            record_hash: Some("h".into()),
        };
        let oid = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let text = build(&m, &RevertTarget::Commit(oid), &[oid], None, "d");
        assert_eq!(reverted_shas(&text), vec![oid.to_string(), oid.to_string()]);
        assert!(text.contains("Patchgate-Audit: h\n"));
    }

    #[test]
    fn git_revert_lines_are_recognised() {
        let text =
            "Revert \"x\"\n\nThis reverts commit abcdef0123, reversing\nchanges made to 1.\n";
        assert_eq!(reverted_shas(text), vec!["abcdef0123".to_string()]);
        assert!(looks_like_revert(text));
        assert!(!looks_like_revert("Add x\n\nmentions Revert \"y\""));
    }
}
