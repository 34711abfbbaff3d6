//! A small driver of the rollback orchestrator, for the kill-at-each-step tests
//! (`tests/auto_rollback.rs`): it opens the store in a data directory and a local bare remote,
//! resumes any unfinished rollback, then judges one policy event — so a test can kill it at a
//! fail point (`PATCHGATE_FAILPOINT=<step>`) and run it again.
//!
//! Usage: `rollback_driver <data-dir> <mirror-dir> <remote> <branch> <event-json> <forge-log>
//! [policy-yaml]`. Prints the final state of the merge's rollback, if any. Not a user command.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use patchgate::policy::{parse_event, PolicySet};
use patchgate::rollback::auto::{LocalForge, LocalGit, Orchestrator, RollbackSettings};
use patchgate::store::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        anyhow::bail!(
            "usage: rollback_driver <data-dir> <mirror-dir> <remote> <branch> <event-json> \
             <forge-log> [policy-yaml]"
        );
    }
    let data = PathBuf::from(&args[0]);
    let store = Store::open(&data, None).await?;
    let git = LocalGit::new(&args[1], args[2].clone(), &args[3]);
    let forge = LocalForge::with_log(&args[5]);
    let mut policy = PolicySet::embedded()?;
    if let Some(yaml) = args.get(6) {
        policy = policy.with_repo_overrides(yaml)?;
    }
    let orch = Orchestrator::new(
        store.clone(),
        Arc::new(git),
        Arc::new(forge),
        policy,
        RollbackSettings::default(),
    );
    orch.resume_pending().await.context("resuming")?;
    let event = parse_event(&args[4]).map_err(|e| anyhow::anyhow!("event: {e}"))?;
    let repo = event.repo.clone();
    let applied = orch.on_event(event, 0).await.context("judging the event")?;
    println!("{}", applied.decision);
    if let Some(m) = applied.merge_sha {
        if let Some(row) = store.rollback_get(&repo, &m).await? {
            println!("state={}", row.state);
        }
    }
    Ok(())
}
