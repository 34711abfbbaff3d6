//! `patchgate rollback`: revert a merged change on a local repository (pure git), or through the
//! GitHub App with `--github` (the server's exactly-once record and the repository's
//! `rollback.action`).

use std::sync::Arc;

use anyhow::{Context, Result};

use patchgate::meta::notes;
use patchgate::rollback::{
    apply_revert_signed, check_remote, find_pr_merge, linear_range, plan_revert_with, push,
    RevertMessage, RevertOptions, RevertReason, RevertTarget, RollbackError,
};

use super::args::{GlobalArgs, RollbackArgs};
use super::out::{outln, report_error};
use super::{env_var, open_store, settings};

/// Exit codes of `patchgate rollback` (README, "`patchgate rollback`"): 0 done, then
/// [`RollbackError::exit_code`]'s 1 conflict, 2 usage, 3 already reverted, 4 anything else —
/// and 5: the revert is committed but the push failed (a rerun with `--push` pushes it).
const COMMITTED_NOT_PUSHED: u8 = 5;
const USAGE: u8 = 2;
const OTHER: u8 = 4;

/// An error with the exit code it ends the command with.
struct Failure(u8, anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        let e = e.into();
        let code = e
            .downcast_ref::<RollbackError>()
            .map(RollbackError::exit_code)
            .unwrap_or(OTHER);
        Failure(code, e)
    }
}

fn usage(msg: String) -> Failure {
    Failure(USAGE, anyhow::anyhow!(msg))
}

/// `patchgate rollback` on a local repository. Never aborts halfway: output goes through
/// [`outln!`] (a closed stdout loses lines, not the push), and every failure is reported here
/// with its own exit code.
pub(crate) fn cmd_rollback(args: RollbackArgs) -> Result<u8> {
    match rollback_local(args) {
        Ok(code) => Ok(code),
        Err(Failure(code, e)) => {
            report_error(&e);
            Ok(code)
        }
    }
}

fn rollback_local(args: RollbackArgs) -> Result<u8, Failure> {
    let repo = git2::Repository::discover(&args.repo).map_err(|e| {
        usage(format!(
            "{} is not inside a git repository ({})",
            args.repo.display(),
            e.message()
        ))
    })?;
    let branch = match &args.branch {
        Some(b) => b.clone(),
        None => {
            let head = repo.head().context("the repository has no HEAD")?;
            if !head.is_branch() {
                return Err(usage(
                    "HEAD is detached: name the branch to revert on with --branch".into(),
                ));
            }
            head.shorthand()
                .map_err(|e| anyhow::anyhow!("branch name: {e}"))?
                .to_string()
        }
    };
    let commit = |rev: &str| -> Result<git2::Oid, Failure> {
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id())
            .map_err(|_| usage(format!("unknown commit `{rev}`")))
    };
    let target = match (&args.target, args.pr) {
        (_, Some(n)) => find_pr_merge(&repo, &branch, n)?,
        (Some(t), None) if t.contains("...") => {
            return Err(usage(format!(
                "`{t}`: a symmetric range names no line of commits; write A..B (the commits after A up to B)"
            )))
        }
        (Some(t), None) => match t.split_once("..") {
            Some(("", _)) => {
                return Err(usage(format!(
                    "`{t}`: name the commit the range starts after (A..B, as in git)"
                )))
            }
            Some((from, to)) => {
                let to = if to.is_empty() { branch.as_str() } else { to };
                linear_range(&repo, commit(from)?, commit(to)?)?
            }
            None => {
                let c = repo.find_commit(commit(t)?)?;
                if c.parent_count() > 1 {
                    RevertTarget::Merge(c.id())
                } else {
                    RevertTarget::Commit(c.id())
                }
            }
        },
        (None, None) => return Err(usage("name a commit, a range A..B, or --pr N".into())),
    };
    // The remote is checked before anything is committed: a missing or unreachable one must
    // not leave a local revert behind.
    let remote = if args.push {
        Some(check_remote(&repo, &args.remote, &branch)?)
    } else {
        None
    };
    // The audit record of the change, when patchgate gated it: the note on the merged head
    // (a merge's second parent), or on the commit itself.
    let head = target.head();
    let mut candidates = vec![head];
    if let RevertTarget::Merge(m) = target {
        if let Ok(p) = repo.find_commit(m).and_then(|c| c.parent_id(1)) {
            candidates.insert(0, p);
        }
    }
    let record_hash = candidates
        .iter()
        .find_map(|c| notes::read(&repo, *c).ok().flatten())
        .and_then(|r| r.record_hash);
    let msg = RevertMessage {
        title: None,
        reason: RevertReason::Manual(args.reason.clone()),
        record_hash,
    };
    let opts = RevertOptions {
        allow_revert_of_revert: args.allow_revert_of_revert,
    };
    let plan = match plan_revert_with(&repo, &branch, target, &msg, &opts) {
        Ok(plan) => plan,
        Err(RollbackError::AlreadyReverted { target: t, by, .. }) if args.push => {
            // A rerun after a revert was committed here but never pushed (a push that failed,
            // a process stopped in between): finish it.
            let pushed = remote
                .and_then(|r| r.tip)
                .is_some_and(|tip| tip == by || repo.graph_descendant_of(tip, by).unwrap_or(false));
            if pushed {
                return Err(RollbackError::AlreadyReverted {
                    target: t,
                    by,
                    merge: matches!(target, RevertTarget::Merge(_)),
                }
                .into());
            }
            outln!("{t} was already reverted on {branch} by {by}, not pushed yet: pushing it.");
            return push_branch(&repo, &args.remote, &branch, by);
        }
        Err(e) => return Err(e.into()),
    };
    if args.dry_run {
        outln!("Would commit on {branch} (on top of {}):\n", plan.parent);
        outln!("{}", plan.message);
        return Ok(0);
    }
    let key = patchgate::gate::check::signing_key(&super::env_var)?;
    let id = apply_revert_signed(&repo, &branch, &plan, key.as_ref())?;
    outln!("Reverted on {branch}: {id}\n");
    outln!("{}", plan.message);
    if args.push {
        return push_branch(&repo, &args.remote, &branch, id);
    }
    Ok(0)
}

/// Push `branch` (holding the revert `id`) to `remote`; a failure keeps the local commit and
/// says how to finish.
fn push_branch(
    repo: &git2::Repository,
    remote: &str,
    branch: &str,
    id: git2::Oid,
) -> Result<u8, Failure> {
    match push(repo, remote, branch) {
        Ok(()) => {
            outln!("Pushed {branch} to {remote}.");
            Ok(0)
        }
        Err(e) => Err(Failure(
            COMMITTED_NOT_PUSHED,
            anyhow::Error::new(e).context(format!(
                "the revert {id} is committed on {branch} but not pushed to {remote}; \
                 `patchgate rollback … --push` again pushes it once the cause below is fixed"
            )),
        )),
    }
}

pub(crate) async fn cmd_rollback_github(global: &GlobalArgs, args: RollbackArgs) -> Result<u8> {
    use patchgate::github::app::{AppCredentials, GitHubApp, RepoName};
    use patchgate::github::mirror::Mirrors;
    use patchgate::server::{metrics::Metrics, rollback::AppRollbacks, DEFAULT_API_URL};
    let name = args.github.as_deref().unwrap_or_default();
    let repo = RepoName::parse(name)?;
    let pr = args.pr.context("--github needs --pr N")?;
    let id = env_var("PATCHGATE_GITHUB_APP_ID")
        .filter(|v| !v.is_empty())
        .context("PATCHGATE_GITHUB_APP_ID is not set: --github acts as the GitHub App")?;
    let key = env_var("PATCHGATE_GITHUB_PRIVATE_KEY")
        .filter(|v| !v.is_empty())
        .context(
            "PATCHGATE_GITHUB_PRIVATE_KEY is not set (a path to the App's PEM key, or the PEM)",
        )?;
    let api = env_var("PATCHGATE_GITHUB_API_URL")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    let app = GitHubApp::new(AppCredentials::new(&id, &key)?, &api)?;
    let rollbacks = AppRollbacks::new(
        app,
        Arc::new(Mirrors::new(&settings.data_dir)),
        store,
        Metrics::new(),
    )
    .with_signing_key(patchgate::gate::check::signing_key(&env_var)?.map(Arc::new));
    let actor = env_var("USER").unwrap_or_else(|| "cli".into());
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| "asked on the command line".into());
    let reply = rollbacks.manual_cli(&repo, pr, &reason, &actor).await?;
    outln!("{reply}");
    Ok(if reply.starts_with("Rollback of") {
        1
    } else {
        0
    })
}
