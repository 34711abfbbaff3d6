//! Every text a person reads from the App, in one place: check-run titles and summaries, the
//! notes about render B, and the replies posted on pull requests (the command grammar's own
//! replies — the help text and "unknown command" — are beside the grammar in
//! `github::commands`). A function per message; the code that decides which to send is in the
//! sibling modules.

use crate::audit::vote::Severity;
use crate::config::Permission;
use crate::gate::actions::{all_findings, step_summary};
use crate::gate::check::CheckOutcome;
use crate::github::app::{
    Annotation, AnnotationLevel, CheckAction, CheckRunInfo, CheckRunResult, Conclusion,
    NewCheckRun, PullInfo, RepoName,
};
use crate::github::commands;
use crate::meta::decision::HumanVerdict;

use super::merge_group::MergeGroupPr;
use super::{APPROVE_ACTION, BLOCK_ACTION, CHECK_NAME, ROLLBACK_ACTION};

/// The reason a rollback by the check run's button gives.
pub(super) const ROLLBACK_BUTTON_REASON: &str = "Rollback button on the patchgate check";
/// The reason recorded with a vote cast by the Approve button (a button press carries no text).
pub const APPROVE_BUTTON_REASON: &str = "Approve button on the patchgate check";
/// The reason recorded with a vote cast by the Block button.
pub const BLOCK_BUTTON_REASON: &str = "Block button on the patchgate check";
/// The reason of `/patchgate rollback` without one.
pub(super) const COMMENT_ROLLBACK_REASON: &str = "asked in a comment";

fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---- check runs of a pull request ----

/// The run a gate starts on `head` (`ext`: this job's external id), until it completes.
pub(super) fn gating_run(head: &str, ext: String) -> NewCheckRun {
    NewCheckRun {
        name: CHECK_NAME.into(),
        head_sha: head.to_string(),
        external_id: Some(ext),
        details_url: None,
        title: "Gating…".into(),
        summary: "patchgate is comparing the renders and asking its auditors.".into(),
    }
}

/// An earlier attempt's run that could not be completed cleanly: closed as failure, pointing at
/// run `id`, the retry's.
pub(super) fn superseded_by_retry_result(id: u64) -> CheckRunResult {
    CheckRunResult {
        conclusion: Conclusion::Failure,
        title: "Superseded by a retry".into(),
        summary: format!(
            "This attempt failed while reporting. The retry reports on check run {id}."
        ),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    }
}

/// The Rollback button.
pub fn rollback_button() -> CheckAction {
    CheckAction {
        label: "Rollback".into(),
        description: "Revert this merge (write access)".into(),
        identifier: ROLLBACK_ACTION.into(),
    }
}

/// The Approve and Block buttons of an escalated change's run: a maintainer's
/// `/patchgate approve|block` on the run's head, with a fixed reason.
pub fn vote_buttons() -> Vec<CheckAction> {
    vec![
        CheckAction {
            label: "Approve".into(),
            description: "Pass this head (maintainer's vote)".into(),
            identifier: APPROVE_ACTION.into(),
        },
        CheckAction {
            label: "Block".into(),
            description: "Block this head (maintainer's vote)".into(),
            identifier: BLOCK_ACTION.into(),
        },
    ]
}

/// The check run's conclusion and output for a gate outcome; `notes` (about render B, e.g. an
/// ignored `Render-Of` line) are shown under the verdict.
pub fn check_result(o: &CheckOutcome, advisory: bool, notes: &[String]) -> CheckRunResult {
    let passed = o.record.quorum_passed;
    let conclusion = match (passed, advisory) {
        (true, _) => Conclusion::Success,
        (false, true) => Conclusion::Neutral,
        (false, false) => Conclusion::Failure,
    };
    let approvals = o.audit.decision.approvals;
    let required = o.audit.decision.required;
    let title = if passed {
        format!("Passed: {approvals} of {required} approvals")
    } else if advisory {
        format!("Would block (advisory): {approvals} of {required} approvals")
    } else {
        format!("Blocked: {approvals} of {required} approvals")
    };
    // Verdict first: `step_summary` opens with it (and carries the config-edit note itself);
    // notes about render B go right under the verdict's heading.
    let mut summary = step_summary(o);
    if !notes.is_empty() {
        let at = summary.find("\n\n").map_or(summary.len(), |i| i + 2);
        let block: String = notes
            .iter()
            .map(|n| format!("> **Render B:** {n}\n\n"))
            .collect();
        summary.insert_str(at, &block);
    }
    let annotations = all_findings(o)
        .into_iter()
        .filter_map(|x| {
            let path = x.f.file.clone().filter(|p| !p.is_empty())?;
            let line = x.f.line.unwrap_or(1).max(1) as u32;
            Some(Annotation {
                path,
                start_line: line,
                end_line: line,
                level: match x.f.severity {
                    Severity::Error => AnnotationLevel::Failure,
                    Severity::Warning => AnnotationLevel::Warning,
                    Severity::Info => AnnotationLevel::Notice,
                },
                title: format!("patchgate {}: {}", x.auditor, x.f.rule),
                message: x.f.message.clone(),
            })
        })
        .collect();
    CheckRunResult {
        conclusion,
        title,
        summary,
        text: Some(format!("```yaml\n{}```", o.yaml)),
        annotations,
        actions: Vec::new(),
    }
}

/// The run when the repository's configuration (read from base branch `base_ref`) has
/// problems: blocked until the base is fixed; `problems` lists them.
pub(super) fn config_problems_result(base_ref: &str, problems: &str) -> CheckRunResult {
    CheckRunResult {
        conclusion: Conclusion::Failure,
        title: "Repository configuration is invalid".into(),
        summary: format!(
            "## BLOCKED — the repository configuration has problems\n\npatchgate reads `.github/patchgate.yml` from the base branch `{}` and fails closed while it is invalid. Fix these on the base branch, then comment `/patchgate recheck`:\n\n{problems}",
            base_ref
        ),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    }
}

/// The run when the gate failed to run (the job is retried).
pub(super) fn gate_failed_result(e: &anyhow::Error) -> CheckRunResult {
    CheckRunResult {
        conclusion: Conclusion::Failure,
        title: "patchgate could not decide".into(),
        summary: format!(
            "## BLOCKED — the gate failed to run\n\n```\n{}\n```\n\nThe job is retried automatically; `/patchgate recheck` runs it again.",
            truncate(&format!("{e:#}"), 4000)
        ),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    }
}

/// The check run of a head a newer push replaced before it was gated: `cancelled`, which
/// never satisfies a required check (a head pushed again gets a webhook and a run of its own).
pub(super) fn superseded_result(current: &str) -> CheckRunResult {
    CheckRunResult {
        conclusion: Conclusion::Cancelled,
        title: "Superseded by a newer push".into(),
        summary: format!(
            "A newer commit ({}) was pushed to this pull request before this one was gated; the gate runs on the newer head.",
            short_sha(current)
        ),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    }
}

/// The check run when render B is not there: blocked (neutral when advisory), saying what to do.
pub(super) fn render_b_missing_result(why: &str, advisory: bool) -> CheckRunResult {
    let (conclusion, verdict) = if advisory {
        (Conclusion::Neutral, "WOULD BLOCK (advisory)")
    } else {
        (Conclusion::Failure, "BLOCKED")
    };
    CheckRunResult {
        conclusion,
        title: "Render B not found".into(),
        summary: format!(
            "## {verdict} — render B not found\n\n{}.\n\nThe gate did not run. Name an existing render B with `/patchgate render-b #N` (a pull request) or `/patchgate render-b <branch, tag or full commit id>`, or push it and comment `/patchgate recheck`.",
            why
        ),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    }
}

// ---- render B ----

/// A PR's own `Render-Of: #{of}` line, ignored because of `why`.
pub(super) fn render_of_ignored(of: u64, why: &str) -> String {
    format!(
        "this pull request declares `Render-Of: #{of}`, but {why}; the line is ignored: this pull request is gated without #{of} as its render B, and #{of} does not take it as its render B."
    )
}

pub(super) fn render_of_names_itself() -> String {
    "it names this pull request itself".into()
}

pub(super) fn render_of_not_a_pr(of: u64, repo: &RepoName) -> String {
    format!("#{of} is not a pull request of {repo}")
}

pub(super) fn render_of_not_open(number: u64, merged: bool) -> String {
    let state = if merged { "merged" } else { "closed" };
    format!("#{number} is {state}")
}

pub(super) fn render_of_other_base(a: &PullInfo, b: &PullInfo) -> String {
    format!(
        "#{} targets `{}` and #{} targets `{}`",
        a.number, a.base_ref, b.number, b.base_ref
    )
}

/// PR `b` names PR `a` but its author is a stranger to `a` without write permission.
pub(super) fn render_of_stranger(b: &PullInfo, a: &PullInfo, repo: &RepoName) -> String {
    format!(
        "#{}'s author @{} is not #{}'s author and has no write permission on {}",
        b.number, b.user_login, a.number, repo
    )
}

/// `/patchgate render-b` set `link`, which wins over the PR's own `Render-Of: #{of}`.
pub(super) fn render_b_link_wins(link: &str, of: u64) -> String {
    format!(
        "render B was set with `/patchgate render-b` to {}, which takes precedence over this pull request's `Render-Of: #{of}`.",
        commands::code(link)
    )
}

/// Open PR `other` declares `Render-Of: #{number}` but is not taken, because of `why`.
pub(super) fn render_of_refused(other: u64, number: u64, why: &str) -> String {
    format!("#{other} declares `Render-Of: #{number}`, but {why}; it is not taken as render B.")
}

pub(super) fn render_of_unexamined(unexamined: usize, number: u64, max_refused: usize) -> String {
    format!(
        "{unexamined} more open pull request(s) declare `Render-Of: #{number}` and were not examined (after {max_refused} that could not be taken); link render B with `/patchgate render-b #N`."
    )
}

pub(super) fn render_b_pr_missing(b: u64, repo: &RepoName) -> String {
    format!(
        "render B is pull request #{b}, but {repo} has no `refs/pull/{b}/head` (is #{b} a pull request of this repository?)"
    )
}

pub(super) fn render_b_commit_missing(
    r: &str,
    repo: &RepoName,
    fetch_error: Option<String>,
) -> String {
    format!(
        "render B is commit {}, which could not be fetched from {}{}",
        commands::code(r),
        repo,
        fetch_error
            .map(|e| format!(":\n\n```\n{}\n```", truncate(&e, 2000)))
            .unwrap_or_default()
    )
}

pub(super) fn render_b_ref_missing(r: &str, repo: &RepoName) -> String {
    format!(
        "render B is {}, which is neither a branch nor a tag of {} (nor a commit of its mirror)",
        commands::code(r),
        repo
    )
}

// ---- replies on pull requests ----

/// A `/patchgate` command whose arguments are wrong.
pub(super) fn reply_invalid(command: &str, message: &str) -> String {
    format!("`/patchgate {command}`: {message}\n\n`/patchgate help` lists the commands.")
}

/// A command `word` denied to `user`.
pub(super) fn reply_denied(user: &str, word: &str, repo: &RepoName) -> String {
    format!("@{user} `/patchgate {word}` needs write permission on {repo}; nothing was done.")
}

/// `/patchgate approve|block` from `user`, whose permission (`has`; `None`: no access) is below
/// the configured `need`.
pub(super) fn reply_vote_denied(
    user: &str,
    verdict: HumanVerdict,
    has: Option<Permission>,
    need: Permission,
    repo: &RepoName,
) -> String {
    let has = has.map_or("no access", Permission::as_str);
    format!(
        "@{user} `/patchgate {verdict}` needs the `{}` permission on {repo} or higher \
         (`human_votes.permission`); you have `{has}`. No vote was recorded and the gate's \
         decision is unchanged.",
        need.as_str()
    )
}

/// A vote recorded in the ledger for `head`, and the gate's decision with it.
pub(super) fn reply_vote_recorded(
    user: &str,
    verdict: HumanVerdict,
    head: &str,
    passed: bool,
) -> String {
    let outcome = if passed {
        "The check now passes"
    } else {
        "The check still does not pass (see it for why)"
    };
    format!(
        "@{user}'s `{verdict}` is recorded in the ledger for head `{}` and the gate ran again. \
         {outcome}. A new push voids the vote: the new head is gated afresh.",
        short_sha(head)
    )
}

/// A vote that could not be recorded: the gate did not reach a decision on `head`.
pub(super) fn reply_vote_not_recorded(user: &str, verdict: HumanVerdict, head: &str) -> String {
    format!(
        "@{user}'s `{verdict}` was **not** recorded: the gate did not reach a decision on head \
         `{}` (the check run says why). Fix that and vote again.",
        short_sha(head)
    )
}

pub(super) fn reply_render_b_set(text: &str, user: &str) -> String {
    format!("Render B of this pull request is now `{text}` (set by @{user}); gating again.")
}

pub(super) fn reply_rollback_failed(e: &anyhow::Error) -> String {
    format!("Rollback failed: {e:#}")
}

pub(super) fn reply_rollback_unavailable() -> String {
    "Rollback is not available on this server.".to_string()
}

/// The Approve or Block button pressed by `user`, whose permission (`has`) is below `need`.
pub(super) fn reply_vote_button_denied(
    user: &str,
    verdict: HumanVerdict,
    has: Option<Permission>,
    need: Permission,
    repo: &RepoName,
) -> String {
    let has = has.map_or("no access", Permission::as_str);
    format!(
        "@{user} the {} button needs the `{}` permission on {repo} or higher \
         (`human_votes.permission`); you have `{has}`. No vote was recorded and the gate's \
         decision is unchanged.",
        button_label(verdict),
        need.as_str()
    )
}

/// The Approve or Block button pressed on the run of `pressed`, an older head than the PR's
/// current `current`: a vote is bound to the head it was given on, so nothing is recorded.
pub(super) fn reply_vote_button_stale(
    user: &str,
    verdict: HumanVerdict,
    pressed: &str,
    current: &str,
) -> String {
    format!(
        "@{user} the {} button was pressed on the check of head `{}`, but the pull request's \
         head is now `{}`. A vote counts only for the head it is given on, so nothing was \
         recorded; use the button on the current head's check (or comment \
         `/patchgate {verdict} <reason>`).",
        button_label(verdict),
        short_sha(pressed),
        short_sha(current)
    )
}

fn button_label(verdict: HumanVerdict) -> &'static str {
    match verdict {
        HumanVerdict::Approve => "Approve",
        HumanVerdict::Block => "Block",
    }
}

/// The Rollback button pressed by `user`, who may not write.
pub(super) fn reply_button_denied(user: &str, repo: &RepoName) -> String {
    format!("@{user} the Rollback button needs write permission on {repo}; nothing was done.")
}

// ---- merge groups ----

/// The run on a merge group's commit until PR `pr`'s verdict is read.
pub(super) fn merge_group_run(pr: u64, group_head: &str, ext: String) -> NewCheckRun {
    NewCheckRun {
        name: CHECK_NAME.into(),
        head_sha: group_head.to_string(),
        external_id: Some(ext),
        details_url: None,
        title: "Checking the merge group…".into(),
        summary: format!("patchgate is reading #{pr}'s gate verdict."),
    }
}

/// The merge group's check run for PR `pr` standing as `state`; `group_head` is the merge
/// group's commit, `base` its base branch.
pub fn merge_group_result(
    pr: u64,
    group_head: &str,
    base: &str,
    state: &MergeGroupPr,
) -> CheckRunResult {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let not_audited = format!(
        "The merge group's commit `{}` is not audited again: the gate judged #{pr}'s change (its renders and its audit quorum) on #{pr}'s head, and this check reports that verdict. The merge queue's other required checks test the combined commit.",
        short(group_head)
    );
    let requeue = format!(
        "The merge queue takes #{pr} out of the queue when this check fails; add it again once #{pr}'s own `{CHECK_NAME}` check has passed."
    );
    let blocked = |title: String, heading: String, body: String| CheckRunResult {
        conclusion: Conclusion::Failure,
        title,
        summary: format!("## BLOCKED — {heading}\n\n{body}\n\n{requeue}\n\n{not_audited}"),
        text: None,
        annotations: Vec::new(),
        actions: Vec::new(),
    };
    let run_link = |r: &CheckRunInfo| match &r.html_url {
        Some(u) if !u.is_empty() => format!("[check run {}]({u})", r.id),
        _ => format!("check run {}", r.id),
    };
    match state {
        MergeGroupPr::Missing => blocked(
            format!("Blocked: #{pr} is not a pull request here"),
            format!("#{pr} is not a pull request of this repository"),
            format!("The merge group's branch names pull request #{pr}, which this repository does not have, so there is no gate verdict to report."),
        ),
        MergeGroupPr::NotOpen { merged } => {
            let state = if *merged { "merged" } else { "closed" };
            blocked(
                format!("Blocked: #{pr} is {state}"),
                format!("#{pr} is {state}"),
                format!("The merge group is for pull request #{pr}, which is {state}; a gate verdict on it is not reported for a merge group."),
            )
        }
        MergeGroupPr::OtherBase { pr_base } => blocked(
            format!("Blocked: #{pr} targets another branch"),
            format!("#{pr} targets `{pr_base}`, not `{base}`"),
            format!("The merge group merges into `{base}`, but #{pr} targets `{pr_base}`: its gate verdict was reached against another base and is not reported here."),
        ),
        MergeGroupPr::Open { head, latest: None } => blocked(
            format!("Blocked: #{pr} has not been gated"),
            format!("#{pr} has not been gated"),
            format!(
                "patchgate has no `{CHECK_NAME}` run of its own for #{pr} on its head `{}` (a run of that name by anyone else does not count). Comment `/patchgate recheck` on #{pr} to gate it.",
                short(head)
            ),
        ),
        MergeGroupPr::Open {
            head,
            latest: Some(r),
        } if r.status != "completed" => blocked(
            format!("Blocked: #{pr} is still being gated"),
            format!("#{pr}'s gate is still running"),
            format!(
                "patchgate's {} for #{pr} on its head `{}` is still {}{}. The merge group is not held waiting for it.",
                run_link(r),
                short(head),
                r.status.replace('_', " "),
                r.started_at
                    .as_deref()
                    .map(|t| format!(" (started {t})"))
                    .unwrap_or_default()
            ),
        ),
        MergeGroupPr::Open {
            head,
            latest: Some(r),
        } => {
            let concluded = r.conclusion.as_deref().unwrap_or("none");
            let said = format!(
                "patchgate's {} for #{pr} on its head `{}` concluded `{concluded}`.",
                run_link(r),
                short(head)
            );
            match concluded {
                "success" => CheckRunResult {
                    conclusion: Conclusion::Success,
                    title: format!("Passed: #{pr} passed the gate"),
                    summary: format!("## PASSED — #{pr} passed the gate\n\n{said}\n\n{not_audited}"),
                    text: None,
                    annotations: Vec::new(),
                    actions: Vec::new(),
                },
                "neutral" => CheckRunResult {
                    conclusion: Conclusion::Neutral,
                    title: format!("Would block (advisory): #{pr}"),
                    summary: format!(
                        "## WOULD BLOCK (advisory) — #{pr} did not pass the gate\n\n{said} The repository's configuration says `advisory: true`, so its verdict does not block.\n\n{not_audited}"
                    ),
                    text: None,
                    annotations: Vec::new(),
                    actions: Vec::new(),
                },
                _ => blocked(
                    format!("Blocked: #{pr} did not pass the gate"),
                    format!("#{pr} did not pass the gate"),
                    format!("{said} Its summary says why and what to do; once #{pr} passes (fix it and push, or `/patchgate recheck`), the merge group can pass."),
                ),
            }
        }
    }
}

/// Added to the reply on the PR when a vote was cast on the web view's record page.
pub(super) const VIA_WEB: &str =
    " (Cast on patchgate's web view, on the record page of this head.)";

// The web view's texts (`/ui`, `crate::server::web`).
mod web;
pub(crate) use web::*;
