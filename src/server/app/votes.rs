//! A maintainer's vote, however it is cast: `/patchgate approve|block <reason>` in a comment,
//! the check run's Approve and Block buttons, or the form on the web view's record page. ONE
//! code path, [`AppHandler::cast_vote`]: the permission check ([`AppHandler::authorize_at`] at
//! the server's `human_votes.permission`), the head (a button and the page name the head they
//! were given on; when the PR has moved past it nothing is recorded), the PR gated again with
//! the vote (which seals it into the ledger with the record), and what came of it
//! ([`VoteOutcome`]). The channel ([`Via`]) decides only how the outcome is told: a reply on the
//! pull request, and for the web view the page itself (which then replies on the PR only when
//! the vote was recorded, so the PR's conversation shows every vote that counts).

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, Result};
use tracing::{info, Instrument};

use super::messages;
use super::{AppHandler, Target};
use crate::config::Permission;
use crate::github::commands::VoteCommand;
use crate::meta::decision::{HumanVerdict, HumanVote};
use crate::meta::human::standing_vote;
use crate::webhook::RepoName;

/// How a vote was cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A `/patchgate approve|block` comment (its id, for the 👀 reaction).
    Comment(u64),
    /// The check run's Approve or Block button.
    Button,
    /// The form on the web view's record page.
    Web,
}

/// What came of a vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteOutcome {
    /// The user is below `need` (`has`: their level; `None`: no access). Nothing recorded.
    Denied {
        has: Option<Permission>,
        need: Permission,
    },
    /// Given on `given_on`, but the PR's head is `current` now. Nothing recorded.
    Stale { given_on: String, current: String },
    /// The pull request is not open (`merged`: it was merged). Nothing recorded.
    NotOpen { merged: bool },
    /// Recorded in the ledger for `head`; the gate ran again and `passed` or not.
    Recorded { head: String, passed: bool },
    /// The gate ran, but no record of `head` carries the vote (it did not reach a decision).
    NotRecorded { head: String },
}

impl AppHandler {
    /// Cast `v` by `user` on PR `number` (`on_head`: the head it was given on, for a button
    /// or the web view; `None`: the PR's current head), and tell it on the PR as `via` asks.
    pub(super) async fn cast_vote(
        &self,
        t: &Target,
        number: u64,
        user: &str,
        v: VoteCommand,
        via: Via,
        on_head: Option<&str>,
    ) -> Result<VoteOutcome> {
        let need = self.gate.settings.server.human_votes.permission;
        let outcome = match self.authorize_at(t, user, need).await? {
            Err(has) => {
                info!(user = %user, need = need.as_str(), via = ?via, "vote denied: below human_votes.permission");
                VoteOutcome::Denied { has, need }
            }
            Ok(level) => {
                if let Via::Comment(id) = via {
                    self.eyes(t, id).await;
                }
                self.record_vote(t, number, user, level, &v, on_head)
                    .await?
            }
        };
        if let Some(reply) = reply(&outcome, user, v.verdict, &t.repo, via) {
            t.inst.comment(&t.repo, number, &reply).await?;
        }
        Ok(outcome)
    }

    /// A vote by `user` (already authorised at `level`) on PR `number`'s current head: the PR
    /// is gated again with it, which seals it into the ledger with the record.
    async fn record_vote(
        &self,
        t: &Target,
        number: u64,
        user: &str,
        level: Permission,
        v: &VoteCommand,
        on_head: Option<&str>,
    ) -> Result<VoteOutcome> {
        let pull = t.inst.pull(&t.repo, number).await?;
        let head = pull.head_sha.clone();
        if let Some(given) = on_head.filter(|h| *h != head) {
            info!(pr = number, given_on = %given, head = %head, user = %user, "vote on an older head: nothing recorded");
            return Ok(VoteOutcome::Stale {
                given_on: given.to_string(),
                current: head,
            });
        }
        let vote = HumanVote {
            verdict: v.verdict,
            by: user.to_string(),
            permission: level.as_str().to_string(),
            reason: v.reason.clone(),
            head: head.clone(),
            at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        };
        info!(pr = number, head = %head, user = %user, verdict = %v.verdict, "maintainer's vote");
        self.gate_pr_voting(t, number, Some(&head), true, Some(vote.clone()))
            .await?;
        let rows = self
            .store
            .ledger_rows_for_head(&t.repo.to_string(), &head)
            .await?;
        Ok(match standing_vote(&rows, &t.repo.to_string(), &head) {
            Some(s) if s == vote => {
                let passed = rows
                    .last()
                    .and_then(|r| crate::meta::record::MetaRecord::from_yaml(&r.record_yaml).ok())
                    .is_some_and(|r| r.quorum_passed);
                VoteOutcome::Recorded { head, passed }
            }
            _ => VoteOutcome::NotRecorded { head },
        })
    }
}

/// The reply on the pull request, if the channel needs one.
fn reply(
    outcome: &VoteOutcome,
    user: &str,
    verdict: HumanVerdict,
    repo: &RepoName,
    via: Via,
) -> Option<String> {
    match (outcome, via) {
        // The page tells its user; the PR hears only of votes that count.
        (
            VoteOutcome::Denied { .. } | VoteOutcome::Stale { .. } | VoteOutcome::NotOpen { .. },
            Via::Web,
        ) => None,
        (VoteOutcome::Denied { has, need }, Via::Comment(_)) => Some(messages::reply_vote_denied(
            user, verdict, *has, *need, repo,
        )),
        (VoteOutcome::Denied { has, need }, Via::Button) => Some(
            messages::reply_vote_button_denied(user, verdict, *has, *need, repo),
        ),
        (VoteOutcome::Stale { given_on, current }, _) => Some(messages::reply_vote_button_stale(
            user, verdict, given_on, current,
        )),
        (VoteOutcome::NotOpen { .. }, _) => None,
        (VoteOutcome::Recorded { head, passed }, via) => {
            let mut text = messages::reply_vote_recorded(user, verdict, head, *passed);
            if via == Via::Web {
                text.push_str(messages::VIA_WEB);
            }
            Some(text)
        }
        (VoteOutcome::NotRecorded { head }, _) => {
            Some(messages::reply_vote_not_recorded(user, verdict, head))
        }
    }
}

/// A vote from the web view's record page.
pub struct WebVote<'a> {
    pub repo: &'a str,
    pub pr: u64,
    /// The head of the record the page shows: the vote is for it, or for nothing.
    pub head: &'a str,
    /// The signed-in user (their GitHub login, from the OAuth sign-in).
    pub user: &'a str,
    pub verdict: HumanVerdict,
    pub reason: String,
}

/// What the web view casts votes through: the App's handler, when this process has one.
pub trait WebVotes: Send + Sync + 'static {
    /// The level a vote needs (`human_votes.permission`), to show the form only to those who
    /// have it (the vote itself is checked by [`AppHandler::cast_vote`]).
    fn need(&self) -> Permission;

    fn vote<'a>(
        &'a self,
        v: WebVote<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<VoteOutcome>> + Send + 'a>>;
}

impl WebVotes for AppHandler {
    fn need(&self) -> Permission {
        self.gate.settings.server.human_votes.permission
    }

    fn vote<'a>(
        &'a self,
        v: WebVote<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<VoteOutcome>> + Send + 'a>> {
        let span = tracing::info_span!("web vote", pr = v.pr, head = %v.head, user = %v.user);
        Box::pin(
            async move {
                let repo: RepoName = v.repo.parse()?;
                let inst_id = self
                    .app
                    .repo_installation(&repo)
                    .await
                    .with_context(|| format!("the App's installation on {repo}"))?;
                let inst = self
                    .app
                    .installation(inst_id)
                    .await
                    .with_context(|| format!("installation {inst_id}"))?;
                let pull = inst.pull(&repo, v.pr).await?;
                if pull.state != "open" {
                    return Ok(VoteOutcome::NotOpen {
                        merged: pull.merged,
                    });
                }
                let clone_url = match self.store.clone_url(v.repo).await {
                    Ok(Some(u)) => u,
                    _ => pull.clone_url.clone(),
                };
                let t = Target {
                    inst,
                    repo,
                    clone_url,
                    // Names the check run this vote's gate reports on (one per vote).
                    job: format!("web:{}:{}", v.user, chrono::Utc::now().timestamp_millis()),
                };
                let cmd = VoteCommand {
                    verdict: v.verdict,
                    reason: v.reason,
                };
                self.cast_vote(&t, v.pr, v.user, cmd, Via::Web, Some(v.head))
                    .await
            }
            .instrument(span),
        )
    }
}
