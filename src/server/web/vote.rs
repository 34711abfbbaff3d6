//! Approve or Block from the record page of an escalated decision: the form posts here, and
//! the vote is cast by the App's handler ([`crate::server::app::WebVotes`]) through the SAME
//! code as `/patchgate approve|block` and the check run's buttons — the same permission check
//! (`human_votes.permission`, asked of GitHub for the signed-in login), bound to the head of the
//! record the page shows. The page says what came of it.

use super::pages::{ledger_row, record_page};
use super::*;
use crate::github::commands::MAX_REASON_CHARS;
use crate::meta::decision::{HumanVerdict, Path as GatePath};
use crate::meta::record::MetaRecord;
use crate::server::app::{VoteOutcome, WebVote};
use crate::view::pages::Notice;

#[derive(Deserialize)]
pub(super) struct VoteForm {
    csrf: Option<String>,
    verdict: Option<String>,
    reason: Option<String>,
}

impl CarriesCsrf for VoteForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

pub(super) async fn vote(
    State(st): State<Arc<WebState>>,
    Path(seq): Path<String>,
    Signed(r, form): Signed<VoteForm>,
) -> Response {
    let (seq, repo, yaml) = match ledger_row(&st, &r, &seq).await {
        Ok(row) => row,
        Err(page) => return page,
    };
    match st.level(&r, &repo).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(st.frame(&r).await),
        Err(e) => return failed(st.frame(&r).await, e),
    }
    let Ok(record) = MetaRecord::from_yaml(&yaml) else {
        return not_found(st.frame(&r).await);
    };
    let escalated = record
        .gate
        .as_ref()
        .is_some_and(|g| g.path == GatePath::Escalated);
    let (Some(pr), true) = (record.change.pr, escalated) else {
        return bad(&st, &r, messages::WEB_VOTE_NOT_ESCALATED.into()).await;
    };
    let verdict = match form.verdict.as_deref() {
        Some("approve") => HumanVerdict::Approve,
        Some("block") => HumanVerdict::Block,
        _ => {
            let why = messages::web_vote_bad("the verdict must be approve or block");
            return bad(&st, &r, why).await;
        }
    };
    let reason: String = form
        .reason
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    if reason.is_empty() {
        let why = messages::web_vote_bad(
            "a vote needs a reason, recorded with it (as `/patchgate approve <reason>` does)",
        );
        return bad(&st, &r, why).await;
    }
    let Some(votes) = st.votes.clone() else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            st.frame(&r).await,
            messages::WEB_VOTE_TITLE,
            messages::WEB_VOTE_NO_APP,
            false,
        );
    };
    let head = record.change.head.clone();
    let outcome = votes
        .vote(WebVote {
            repo: &repo,
            pr,
            head: &head,
            user: &r.s.login,
            verdict,
            reason,
        })
        .await;
    let word = verdict.to_string();
    let (status, notice) = match outcome {
        Err(e) => return failed(st.frame(&r).await, format!("{e:#}")),
        Ok(VoteOutcome::Denied { has, need }) => (
            StatusCode::FORBIDDEN,
            Notice {
                text: messages::web_vote_denied(&r.s.login, &word, has, need, &repo),
                ok: false,
            },
        ),
        Ok(VoteOutcome::Stale { given_on, current }) => (
            StatusCode::CONFLICT,
            Notice {
                text: messages::web_vote_stale(&word, &given_on, &current),
                ok: false,
            },
        ),
        Ok(VoteOutcome::NotOpen { merged }) => (
            StatusCode::CONFLICT,
            Notice {
                text: messages::web_vote_not_open(merged),
                ok: false,
            },
        ),
        Ok(VoteOutcome::Recorded { head, passed }) => {
            tracing::info!(user = %r.s.login, pr, head = %head, verdict = %word, "vote cast from the web view");
            (
                StatusCode::OK,
                Notice {
                    text: messages::web_vote_recorded(&word, &head, passed),
                    ok: true,
                },
            )
        }
        Ok(VoteOutcome::NotRecorded { head }) => (
            StatusCode::OK,
            Notice {
                text: messages::web_vote_not_recorded(&word, &head),
                ok: false,
            },
        ),
    };
    // The decisions index learns of the new record at once.
    if let Err(e) = st.store.index_decisions().await {
        warn!(error = %e, "indexing the ledger's decisions after a vote");
    }
    record_page(&st, &r, seq, &repo, &yaml, status, Some(notice)).await
}

async fn bad(st: &WebState, r: &Reader, text: String) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        st.frame(r).await,
        messages::WEB_VOTE_TITLE,
        &text,
        false,
    )
}
