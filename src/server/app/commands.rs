//! What people ask in pull-request comments (`/patchgate …`) and with the check run's
//! buttons (Rollback; Approve and Block on an escalated change). Every command but help is
//! authorised in one place,
//! [`AppHandler::authorize_at`] (write access; for `approve` and `block` the server's
//! `human_votes.permission`); a denied command gets a reply and changes nothing, and a bot's
//! comment (this App's included) is never a command.
//!
//! A maintainer's vote is bound to the PR's current head and recorded in the ledger as the
//! `gate.human` of the record the gate seals when it runs again with it; every later gate of
//! that head reads it back from there ([`crate::meta::human::standing_vote`]), and a new push
//! is a new head with no vote. The Approve and Block buttons (and the web view's record page)
//! cast the same vote through the same code ([`super::votes`]), on the head of the run they
//! were pressed on — only while that head is still the PR's head — with a fixed reason
//! ([`messages::APPROVE_BUTTON_REASON`]).

use anyhow::{Context, Result};
use tracing::{info, warn};

use super::check_run::check_run_pr;
use super::messages;
use super::votes::Via;
use super::{
    AppHandler, ManualRollback, Target, APPROVE_ACTION, BLOCK_ACTION, CHECK_NAME, ROLLBACK_ACTION,
};
use crate::github::commands::{self, Command, Parsed, RenderBRef, VoteCommand};
use crate::meta::decision::HumanVerdict;
use crate::webhook::{CheckRunEvent, Event, IssueCommentEvent, User};

fn command_word(c: &Command) -> &'static str {
    match c {
        Command::Recheck => "recheck",
        Command::RenderB(_) => "render-b",
        Command::Rollback { .. } => "rollback",
        Command::Vote(v) => match v.verdict {
            HumanVerdict::Approve => "approve",
            HumanVerdict::Block => "block",
        },
        Command::Help => "help",
    }
}

impl AppHandler {
    pub(super) async fn on_comment(
        &self,
        job: &str,
        event: &Event,
        c: &IssueCommentEvent,
    ) -> Result<()> {
        if !c.issue.pull_request {
            return Ok(()); // an issue, not a pull request
        }
        if c.comment.user.as_ref().is_some_and(User::is_bot) {
            return Ok(());
        }
        let body = c.comment.body.as_deref().unwrap_or("");
        let parsed = commands::parse_comment(body);
        if parsed.is_empty() {
            return Ok(());
        }
        let t = self.target(job, event).await?;
        let number = c.issue.number.get();
        let comment_id = c.comment.id.unwrap_or(0);
        let user = c.author().context("comment.user.login")?.to_string();
        for item in parsed {
            match item {
                Parsed::Unknown { word, suggestion } => {
                    t.inst
                        .comment(&t.repo, number, &commands::reply_unknown(&word, suggestion))
                        .await?;
                }
                Parsed::Invalid { command, message } => {
                    t.inst
                        .comment(&t.repo, number, &messages::reply_invalid(command, &message))
                        .await?;
                }
                Parsed::Command(Command::Vote(v)) => {
                    let via = Via::Comment(comment_id);
                    self.cast_vote(&t, number, &user, v, via, None).await?;
                }
                Parsed::Command(cmd) => {
                    if commands::needs_write(&cmd) && !self.authorize(&t, &user).await? {
                        info!(user = %user, "command denied: no write permission");
                        t.inst
                            .comment(
                                &t.repo,
                                number,
                                &messages::reply_denied(&user, command_word(&cmd), &t.repo),
                            )
                            .await?;
                        continue;
                    }
                    self.eyes(&t, comment_id).await;
                    self.run_command(&t, number, &user, cmd).await?;
                }
            }
        }
        Ok(())
    }

    /// 👀 on the comment: the command was taken.
    pub(super) async fn eyes(&self, t: &Target, comment_id: u64) {
        if comment_id != 0 {
            if let Err(e) = t.inst.react(&t.repo, comment_id, "eyes").await {
                warn!(error = %format!("{e:#}"), "could not react to the comment");
            }
        }
    }

    pub(super) async fn run_command(
        &self,
        t: &Target,
        number: u64,
        user: &str,
        cmd: Command,
    ) -> Result<()> {
        match cmd {
            Command::Help => {
                t.inst
                    .comment(&t.repo, number, &commands::help_text())
                    .await?;
            }
            Command::Recheck => self.gate_pr(t, number, None, true).await?,
            Command::RenderB(r) => {
                let text = match &r {
                    RenderBRef::Pr(n) => format!("#{n}"),
                    RenderBRef::Ref(s) => s.clone(),
                };
                self.store
                    .set_render_b(&t.repo.to_string(), number, &text, user)
                    .await?;
                t.inst
                    .comment(&t.repo, number, &messages::reply_render_b_set(&text, user))
                    .await?;
                self.gate_pr(t, number, None, true).await?;
            }
            Command::Rollback { reason } => {
                let reason = reason.unwrap_or_else(|| messages::COMMENT_ROLLBACK_REASON.into());
                self.rollback_and_reply(t, number, &reason, user, "comment")
                    .await?;
            }
            // Authorised at its own level and carried out in `on_comment`, never here.
            Command::Vote(_) => {
                warn!("a vote reached run_command without its own authorisation: ignored")
            }
        }
        Ok(())
    }

    /// A person's rollback of PR `number` (already authorised), answered on the PR.
    pub(super) async fn rollback_and_reply(
        &self,
        t: &Target,
        number: u64,
        reason: &str,
        actor: &str,
        trigger: &str,
    ) -> Result<()> {
        let reply = match &self.rollbacks {
            Some(r) => r
                .manual(ManualRollback {
                    inst: &t.inst,
                    repo: &t.repo,
                    clone_url: &t.clone_url,
                    pr: number,
                    reason,
                    actor,
                    trigger,
                })
                .await
                .unwrap_or_else(|e| messages::reply_rollback_failed(&e)),
            None => messages::reply_rollback_unavailable(),
        };
        t.inst.comment(&t.repo, number, &reply).await?;
        Ok(())
    }

    pub(super) async fn on_requested_action(
        &self,
        job: &str,
        event: &Event,
        e: &CheckRunEvent,
    ) -> Result<()> {
        let run = &e.check_run;
        let identifier = e
            .requested_action
            .as_ref()
            .and_then(|a| a.identifier.as_deref());
        let verdict = match identifier {
            Some(APPROVE_ACTION) => Some(HumanVerdict::Approve),
            Some(BLOCK_ACTION) => Some(HumanVerdict::Block),
            Some(ROLLBACK_ACTION) => None,
            _ => return Ok(()),
        };
        if run.name.as_deref() != Some(CHECK_NAME) || run.foreign_app(self.app.app_id()) {
            return Ok(());
        }
        // After a merge GitHub lists no pull request on the run: the PR is in its external id.
        let Some(number) = check_run_pr(run) else {
            warn!(
                check_run = run.id.unwrap_or(0),
                button = identifier.unwrap_or(""),
                "a button was pressed on a check run that names no pull request; nothing was done"
            );
            return Ok(());
        };
        let t = self.target(job, event).await?;
        let user = e
            .sender
            .as_ref()
            .and_then(|s| s.login.as_deref())
            .context("sender.login")?
            .to_string();
        if let Some(verdict) = verdict {
            // The vote of `/patchgate approve|block`, on the head of the run the button was
            // pressed on, with a fixed reason (a button press carries no text).
            let reason = match verdict {
                HumanVerdict::Approve => messages::APPROVE_BUTTON_REASON,
                HumanVerdict::Block => messages::BLOCK_BUTTON_REASON,
            };
            let v = VoteCommand {
                verdict,
                reason: reason.to_string(),
            };
            let head = run.head_sha.as_str();
            self.cast_vote(&t, number, &user, v, Via::Button, Some(head))
                .await?;
            return Ok(());
        }
        if !self.authorize(&t, &user).await? {
            t.inst
                .comment(
                    &t.repo,
                    number,
                    &messages::reply_button_denied(&user, &t.repo),
                )
                .await?;
            return Ok(());
        }
        self.rollback_and_reply(
            &t,
            number,
            messages::ROLLBACK_BUTTON_REASON,
            &user,
            "check_action",
        )
        .await?;
        Ok(())
    }
}
