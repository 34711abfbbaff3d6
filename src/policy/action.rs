//! What a rollback does with its revert: one type for the repository config's
//! `rollback.action` and for the action stored with each rollback row.
//!
//! A stored or written name that is not one of the three is an error, never a default: an
//! unknown value must not turn into `push`, the action that changes the default branch.

use serde::{Deserialize, Serialize};

/// `push`, `pull-request` or `comment`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackAction {
    /// Push the revert commit straight to the default branch (the default when a repository
    /// sets no action).
    #[default]
    Push,
    /// Push a branch and open a labelled revert pull request.
    PullRequest,
    /// Only comment what would be reverted and why: the revert is prepared on the mirror,
    /// never pushed.
    Comment,
}

/// A name that is not a rollback action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rollback action (push, pull-request or comment)")]
pub struct UnknownAction(pub String);

impl RollbackAction {
    /// Every action, in the order the documentation lists them.
    pub const ALL: [RollbackAction; 3] = [
        RollbackAction::Push,
        RollbackAction::PullRequest,
        RollbackAction::Comment,
    ];

    /// The written and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackAction::Push => "push",
            RollbackAction::PullRequest => "pull-request",
            RollbackAction::Comment => "comment",
        }
    }

    /// The action named exactly `s` (as [`as_str`](Self::as_str) writes it); anything else is
    /// an error.
    pub fn parse(s: &str) -> Result<RollbackAction, UnknownAction> {
        RollbackAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in RollbackAction::ALL {
            assert_eq!(RollbackAction::parse(a.as_str()), Ok(a));
            let yaml = serde_yaml::to_string(&a).unwrap();
            assert_eq!(yaml.trim(), a.as_str());
        }
    }

    #[test]
    fn an_unknown_stored_action_is_an_error_never_push() {
        for bad in ["", "merge", "Push", " push", "pull_request", "revert"] {
            assert_eq!(
                RollbackAction::parse(bad),
                Err(UnknownAction(bad.to_string())),
                "{bad:?}"
            );
        }
        let e = RollbackAction::parse("merge").unwrap_err().to_string();
        assert!(e.contains("\"merge\" is not a rollback action"), "{e}");
    }
}
