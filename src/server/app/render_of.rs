//! Render B of a pull request: its own `Render-Of: #N` line, a `/patchgate render-b` link, or
//! an open pull request declaring `Render-Of` this one — each honoured only under the rules of
//! [`AppHandler::render_of_problem`] — and where in the mirror it is looked for once fetched.

use anyhow::{Context, Result};

use super::messages;
use super::{AppHandler, Target};
use crate::github::app::{GitHubError, PullInfo, RepoName};
use crate::github::commands;

/// How a PR's own `Render-Of: #N` line is taken.
pub(super) enum RenderOf {
    /// No such line.
    None,
    /// Honoured: #N is this PR's render B, and this PR is #N's.
    Linked(u64),
    /// Ignored; the sentence says why, for the summary.
    Ignored(String),
}

/// Where render B comes from for one gate run (a pull request, or a branch, tag or commit),
/// and the notes about it for the summary.
pub(super) struct RenderBChoice {
    pub(super) pr: Option<u64>,
    pub(super) reference: Option<String>,
    pub(super) notes: Vec<String>,
}

/// What to fetch for render B, and where to look for it in the mirror afterwards.
pub(super) struct RenderBLookup {
    /// Refspecs fetched with the base and the head.
    pub(super) refspecs: Vec<String>,
    /// Revisions that may name render B after the fetch; the first that names a commit wins.
    pub(super) candidates: Vec<String>,
    /// A full commit id's refspec, fetched on its own: its failure is an answer about render B,
    /// not a reason to retry the job.
    pub(super) by_id: Option<String>,
}

impl RenderBChoice {
    /// Where render B may be found in the mirror after the fetch, first match wins. A refspec
    /// whose source the remote does not have fetches nothing (no error), so a name is looked up
    /// as both a branch and a tag; a full commit id is fetched by itself.
    pub(super) fn lookup(&self) -> RenderBLookup {
        let mut refspecs = Vec::new();
        let mut candidates: Vec<String> = Vec::new();
        let mut by_id: Option<String> = None;
        if let Some(b) = self.pr {
            let r = format!("refs/pull/{b}/head");
            refspecs.push(format!("+{r}:{r}"));
            candidates.push(r);
        }
        if let Some(r) = &self.reference {
            if is_full_commit_id(r) {
                by_id = Some(format!("+{r}:refs/patchgate/render-b/{r}"));
                candidates.push(r.clone());
            } else if r.starts_with("refs/") {
                refspecs.push(format!("+{r}:{r}"));
                candidates.push(r.clone());
            } else {
                for kind in ["heads", "tags"] {
                    refspecs.push(format!("+refs/{kind}/{r}:refs/{kind}/{r}"));
                    candidates.push(format!("refs/{kind}/{r}"));
                }
                // An abbreviated commit id: found only among what the mirror has.
                if r.len() >= 7 && r.bytes().all(|c| c.is_ascii_hexdigit()) {
                    candidates.push(r.clone());
                }
            }
        }
        RenderBLookup {
            refspecs,
            candidates,
            by_id,
        }
    }

    /// Why render B is not there when none of the candidates named a commit.
    pub(super) fn missing_why(&self, repo: &RepoName, fetch_error: Option<String>) -> String {
        match (self.pr, &self.reference) {
            (Some(b), _) => messages::render_b_pr_missing(b, repo),
            (None, Some(r)) if is_full_commit_id(r) => {
                messages::render_b_commit_missing(r, repo, fetch_error)
            }
            (None, Some(r)) => messages::render_b_ref_missing(r, repo),
            (None, None) => unreachable!("candidates come from a render B"),
        }
    }
}

/// A full commit id (SHA-1 or SHA-256, hexadecimal).
fn is_full_commit_id(r: &str) -> bool {
    matches!(r.len(), 40 | 64) && r.bytes().all(|c| c.is_ascii_hexdigit())
}

impl AppHandler {
    /// How PR `pull`'s own `Render-Of: #N` line is taken.
    pub(super) async fn declared_render_of(&self, t: &Target, pull: &PullInfo) -> Result<RenderOf> {
        let Some(of) = pull.body.as_deref().and_then(commands::render_of) else {
            return Ok(RenderOf::None);
        };
        let ignored = |why: String| RenderOf::Ignored(messages::render_of_ignored(of, &why));
        if of == pull.number {
            return Ok(ignored(messages::render_of_names_itself()));
        }
        let a = match t.inst.pull(&t.repo, of).await {
            Ok(a) => a,
            Err(e) if GitHubError::of(&e).is_some_and(GitHubError::is_not_found) => {
                return Ok(ignored(messages::render_of_not_a_pr(of, &t.repo)));
            }
            Err(e) => return Err(e.context(format!("reading #{of}, named by `Render-Of`"))),
        };
        Ok(match self.render_of_problem(t, pull, &a).await? {
            None => RenderOf::Linked(of),
            Some(why) => ignored(why),
        })
    }

    /// Why PR `b`'s `Render-Of` line naming PR `a` is not honoured; `None` when it is: `a` is
    /// open, both target the same base branch, and `b`'s author is `a`'s author or may write to
    /// the repository (the same [`AppHandler::authorize`] check `/patchgate render-b` needs, so
    /// a stranger's PR cannot make itself someone else's render B).
    pub(super) async fn render_of_problem(
        &self,
        t: &Target,
        b: &PullInfo,
        a: &PullInfo,
    ) -> Result<Option<String>> {
        if a.state != "open" || a.merged {
            return Ok(Some(messages::render_of_not_open(a.number, a.merged)));
        }
        if a.base_ref != b.base_ref {
            return Ok(Some(messages::render_of_other_base(a, b)));
        }
        if b.user_login != a.user_login && !self.authorize(t, &b.user_login).await? {
            return Ok(Some(messages::render_of_stranger(b, a, &t.repo)));
        }
        Ok(None)
    }

    /// Render B of PR `number` (`pull`), in this order: `/patchgate render-b`; this PR's own
    /// `Render-Of: #N`; an open PR declaring `Render-Of: #number` (honoured only under
    /// [`AppHandler::render_of_problem`]'s rules).
    pub(super) async fn choose_render_b(
        &self,
        t: &Target,
        number: u64,
        pull: &PullInfo,
        render_of: &RenderOf,
    ) -> Result<RenderBChoice> {
        let mut notes: Vec<String> = Vec::new();
        if let RenderOf::Ignored(why) = render_of {
            notes.push(why.clone());
        }
        let link = self.store.render_b(&t.repo.to_string(), number).await?;
        let mut render_b_pr: Option<u64> = None;
        let mut render_b_ref: Option<String> = None;
        match (link.as_deref(), render_of) {
            (Some(l), _) => {
                if let RenderOf::Linked(of) = render_of {
                    notes.push(messages::render_b_link_wins(l, *of));
                }
                match l.strip_prefix('#') {
                    Some(n) => render_b_pr = Some(n.parse().context("stored render B link")?),
                    None => render_b_ref = Some(l.to_string()),
                }
            }
            (None, RenderOf::Linked(of)) => render_b_pr = Some(*of),
            (None, _) => {
                // Anyone may open PRs naming this one: at most a few are looked into (each may
                // cost a permission lookup) and named in the summary; the rest are counted.
                const MAX_REFUSED: usize = 3;
                // The author's own PRs first: they need no permission lookup, and strangers'
                // PRs cannot crowd them out.
                let mut candidates: Vec<_> = t
                    .inst
                    .open_pulls(&t.repo)
                    .await?
                    .into_iter()
                    .filter(|o| {
                        o.number != number
                            && o.body.as_deref().and_then(commands::render_of) == Some(number)
                    })
                    .collect();
                candidates.sort_by_key(|o| (o.user_login != pull.user_login, o.number));
                let (mut refused, mut unexamined) = (0usize, 0usize);
                for other in candidates {
                    if refused == MAX_REFUSED {
                        unexamined += 1;
                        continue;
                    }
                    match self.render_of_problem(t, &other, pull).await? {
                        None => {
                            render_b_pr = Some(other.number);
                            break;
                        }
                        Some(why) => {
                            refused += 1;
                            notes.push(messages::render_of_refused(other.number, number, &why));
                        }
                    }
                }
                if render_b_pr.is_none() && unexamined > 0 {
                    notes.push(messages::render_of_unexamined(
                        unexamined,
                        number,
                        MAX_REFUSED,
                    ));
                }
            }
        }
        Ok(RenderBChoice {
            pr: render_b_pr,
            reference: render_b_ref,
            notes,
        })
    }
}
