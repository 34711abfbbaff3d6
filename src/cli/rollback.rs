//! `patchgate rollback`: revert a merged change on a local repository (pure git), or through the
//! GitHub App with `--github` (the server's exactly-once record and the repository's
//! `rollback.action`).

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use patchgate::meta::notes;

use super::args::{GlobalArgs, RollbackArgs};
use super::{env_var, open_store, settings};

pub(crate) fn cmd_rollback(args: RollbackArgs) -> Result<u8> {
    use patchgate::rollback::{
        apply_revert, find_pr_merge, plan_revert_with, push, RevertMessage, RevertOptions,
        RevertReason, RevertTarget,
    };
    let repo = git2::Repository::discover(&args.repo)
        .with_context(|| format!("{} is not inside a git repository", args.repo.display()))?;
    let branch = match args.branch {
        Some(b) => b,
        None => {
            let head = repo.head().context("the repository has no HEAD")?;
            if !head.is_branch() {
                bail!("HEAD is detached: name the branch to revert on with --branch");
            }
            head.shorthand()
                .map_err(|e| anyhow::anyhow!("branch name: {e}"))?
                .to_string()
        }
    };
    let commit = |rev: &str| -> Result<git2::Commit<'_>> {
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("unknown commit `{rev}`"))
    };
    let target = match (&args.target, args.pr) {
        (_, Some(n)) => find_pr_merge(&repo, &branch, n)?,
        (Some(t), None) => match t.split_once("..") {
            Some((first, last)) => RevertTarget::Range {
                first: commit(first)?.id(),
                last: commit(last)?.id(),
            },
            None => {
                let c = commit(t)?;
                if c.parent_count() > 1 {
                    RevertTarget::Merge(c.id())
                } else {
                    RevertTarget::Commit(c.id())
                }
            }
        },
        (None, None) => bail!("name a commit, a range FIRST..LAST, or --pr N"),
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
        reason: RevertReason::Manual(args.reason),
        record_hash,
    };
    let opts = RevertOptions {
        allow_revert_of_revert: args.allow_revert_of_revert,
    };
    let plan = plan_revert_with(&repo, &branch, target, &msg, &opts)?;
    if args.dry_run {
        println!("Would commit on {branch} (on top of {}):\n", plan.parent);
        println!("{}", plan.message);
        return Ok(0);
    }
    let id = apply_revert(&repo, &branch, &plan)?;
    println!("Reverted on {branch}: {id}\n");
    println!("{}", plan.message);
    if args.push {
        push(&repo, &args.remote, &branch)
            .with_context(|| format!("pushing {branch} to {}", args.remote))?;
        println!("Pushed {branch} to {}.", args.remote);
    }
    Ok(0)
}

pub(crate) async fn cmd_rollback_github(global: &GlobalArgs, args: RollbackArgs) -> Result<u8> {
    use patchgate::github::app::{AppCredentials, GitHubApp, RepoRef};
    use patchgate::github::mirror::Mirrors;
    use patchgate::server::{metrics::Metrics, rollback::AppRollbacks, DEFAULT_API_URL};
    let name = args.github.as_deref().unwrap_or_default();
    let repo = RepoRef::parse(name)?;
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
    );
    let actor = env_var("USER").unwrap_or_else(|| "cli".into());
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| "asked on the command line".into());
    let reply = rollbacks.manual_cli(&repo, pr, &reason, &actor).await?;
    println!("{reply}");
    Ok(if reply.starts_with("Rollback of") {
        1
    } else {
        0
    })
}
