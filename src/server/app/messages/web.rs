//! The texts of the web view (`/ui`, `crate::server::web`): page titles, notices, refusals.

use crate::config::Permission;

pub(crate) const WEB_SIGN_IN_TITLE: &str = "Sign in";
pub(crate) const WEB_SIGN_IN: &str = "patchgate shows its decisions only to people signed in with \
     GitHub, and only for the repositories they can read.";
pub(crate) const WEB_SIGN_IN_FAILED: &str =
    "The sign-in did not complete (it was refused, expired, \
     or came back without the state it was started with). Start it again.";
pub(crate) const WEB_SIGNED_OUT_TITLE: &str = "Signed out";
pub(crate) const WEB_SIGNED_OUT: &str = "You are signed out of patchgate.";
pub(crate) const WEB_NOT_FOUND_TITLE: &str = "Not found";
pub(crate) const WEB_NOT_FOUND: &str = "There is nothing here that you can see.";
pub(crate) const WEB_FAILED_TITLE: &str = "Something failed";
pub(crate) const WEB_FAILED: &str = "patchgate could not answer this page (GitHub or the store \
     failed; the server's log says which). Try again.";
pub(crate) const WEB_CSRF_TITLE: &str = "Refused";
pub(crate) const WEB_CSRF: &str = "This form did not carry this session's token, so nothing was \
     done. Reload the page and try again.";
pub(crate) const WEB_BAD_FILTER_TITLE: &str = "Bad filter";

pub(crate) fn web_bad_filter(what: &str, expected: &str) -> String {
    format!("The {what} filter must be {expected}.")
}

pub(crate) fn web_requeued(id: i64) -> String {
    format!("Job {id} is back in the queue.")
}

pub(crate) fn web_not_parked(id: i64) -> String {
    format!("Job {id} is not parked: nothing to requeue.")
}

pub(crate) fn web_requeue_denied(id: i64, repo: &str) -> String {
    format!("Requeueing job {id} needs write access to {repo}, as the /patchgate commands do.")
}

pub(crate) const WEB_VOTE_TITLE: &str = "Vote";

/// A vote form that is not one (no verdict, or no reason).
pub(crate) fn web_vote_bad(why: &str) -> String {
    format!("Nothing was recorded: {why}.")
}

pub(crate) const WEB_VOTE_NOT_ESCALATED: &str = "Only an escalated decision of a pull request \
     takes a maintainer's vote; nothing was recorded.";

pub(crate) const WEB_VOTE_NO_APP: &str = "Votes are cast through the GitHub App, which this \
     server is not running with (PATCHGATE_GITHUB_APP_ID is not set); nothing was recorded.";

/// The form shown to someone below the level a vote needs.
pub(crate) fn web_vote_needs(need: Permission, has: Option<Permission>) -> String {
    format!(
        "A maintainer's vote (Approve or Block) needs the `{}` permission (`human_votes.permission`); you have `{}`.",
        need.as_str(),
        has.map_or("no access", Permission::as_str)
    )
}

/// The vote was refused: `user` is below `need`.
pub(crate) fn web_vote_denied(
    user: &str,
    verdict: &str,
    has: Option<Permission>,
    need: Permission,
    repo: &str,
) -> String {
    format!(
        "Refused: @{user}'s {verdict} needs the `{}` permission on {repo} or higher \
         (`human_votes.permission`, the same rule as `/patchgate {verdict}` and the check run's \
         buttons); you have `{}`. No vote was recorded and the gate's decision is unchanged.",
        need.as_str(),
        has.map_or("no access", Permission::as_str)
    )
}

/// The page showed `given_on`, but the pull request's head is `current` now.
pub(crate) fn web_vote_stale(verdict: &str, given_on: &str, current: &str) -> String {
    format!(
        "Nothing was recorded: this record is of head {given_on}, but the pull request's head \
         is now {current}. A vote counts only for the head it is given on; open the current \
         head's decision and vote there (or comment `/patchgate {verdict} <reason>`)."
    )
}

pub(crate) fn web_vote_not_open(merged: bool) -> String {
    let state = if merged { "merged" } else { "closed" };
    format!("Nothing was recorded: the pull request is {state}, and a vote decides an open one.")
}

pub(crate) fn web_vote_recorded(verdict: &str, head: &str, passed: bool) -> String {
    let outcome = if passed {
        "The gate passes now"
    } else {
        "The gate still does not pass (its check run says why)"
    };
    format!(
        "Your {verdict} is recorded in the ledger for head {head} and the gate ran again. \
         {outcome}; its new decision is listed under Decisions. A new push voids the vote."
    )
}

pub(crate) fn web_vote_not_recorded(verdict: &str, head: &str) -> String {
    format!(
        "Your {verdict} was not recorded: the gate did not reach a decision on head {head} \
         (its check run says why). Fix that and vote again."
    )
}
