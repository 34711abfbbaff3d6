//! The web view's pages (`serve`, under `/ui`): the decisions list, a record, the queue, the
//! rollbacks, and the sign-in and not-found pages. Plain data in (the server fills it from the
//! store, for the repositories the reader may see), escaped HTML out; every form carries the
//! session's CSRF token; no page needs a script.

use askama::Template;

use super::record::RecordView;

/// What every page's frame shows: who is signed in and the token of their forms.
pub struct Frame {
    /// Empty when nobody is signed in.
    pub login: String,
    pub csrf: String,
    /// Today's model spend and the daily cap, e.g. `$0.12 of $0.50`.
    pub spend: String,
}

/// One decision in the list.
pub struct DecisionItem {
    pub seq: i64,
    pub repo: String,
    pub pr: String,
    pub head: String,
    pub passed: bool,
    pub path: String,
    pub created_at: String,
}

/// The list's filters as given (echoed into the form and the next page's link).
#[derive(Default)]
pub struct Filters {
    pub repo: String,
    pub pr: String,
    pub verdict: String,
    pub path: String,
}

#[derive(Template)]
#[template(path = "decisions.html")]
pub struct DecisionsPage {
    pub frame: Frame,
    pub rows: Vec<DecisionItem>,
    pub repos: Vec<String>,
    pub filters: Filters,
    /// The next page's query string (`None`: this is the last page).
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "record_page.html")]
pub struct RecordPage<'a> {
    pub frame: Frame,
    pub seq: i64,
    pub r: &'a RecordView,
    /// The maintainer's vote form (an escalated decision of a pull request).
    pub vote: Option<VoteBox>,
    /// What the last action did (a vote from this page).
    pub notice: Option<Notice>,
}

/// The Approve / Block form of a record page.
pub struct VoteBox {
    /// The head the vote is for: the record's.
    pub head: String,
    /// The reader has the level a vote needs (the vote itself is checked again when cast).
    pub allowed: bool,
    /// Why not, when not allowed.
    pub needs: String,
}

/// A line saying what an action did, and whether that is good news.
pub struct Notice {
    pub text: String,
    pub ok: bool,
}

/// One job of the queue.
pub struct JobItem {
    pub id: i64,
    pub repo: String,
    pub event: String,
    /// `waiting`, `running`, `retrying` or `parked`.
    pub state: String,
    pub attempts: i64,
    pub last_error: String,
    pub updated_at: String,
    /// Whether the reader may requeue it (parked, and write access).
    pub requeue: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub frame: Frame,
    pub jobs: Vec<JobItem>,
    /// A line saying what the last action did, if any.
    pub notice: String,
}

/// One rollback.
pub struct RollbackItem {
    pub id: i64,
    pub repo: String,
    pub merge_sha: String,
    pub state: String,
    /// Who asked: `policy` (with the events), or the person and how.
    pub trigger: String,
    pub reason: String,
    pub pr: String,
    /// The revert commit, or the revert pull request.
    pub revert: String,
    pub events: Vec<String>,
    pub error: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "rollbacks.html")]
pub struct RollbacksPage {
    pub frame: Frame,
    pub rows: Vec<RollbackItem>,
}

/// Sign-in, not found, errors.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub frame: Frame,
    pub title: String,
    pub text: String,
    pub sign_in: bool,
}
