//! `patchgate jobs`: the job queue's counts, its parked jobs, requeueing and discarding them.

use anyhow::{bail, Result};

use super::args::{GlobalArgs, JobsAction, JobsArgs};
use super::{open_store, settings};

pub(crate) async fn cmd_jobs(global: &GlobalArgs, args: JobsArgs) -> Result<u8> {
    let settings = settings(global, None)?;
    let store = open_store(&settings).await?;
    match args.action.unwrap_or(JobsAction::List) {
        JobsAction::List => {
            let counts = store.counts().await?;
            let line: Vec<String> = patchgate::store::jobs::STATES
                .iter()
                .map(|s| format!("{s} {}", counts.get(*s).copied().unwrap_or(0)))
                .collect();
            println!("jobs: {}", line.join(", "));
            let parked = store.parked().await?;
            if parked.is_empty() {
                println!("no parked jobs");
            }
            for j in parked {
                let lost = if j.lost > 0 {
                    format!(" ({} lost their worker)", j.lost)
                } else {
                    String::new()
                };
                println!(
                    "parked #{}  {}  {}  delivery {}  attempts {}{lost}  since {}",
                    j.id,
                    j.event,
                    j.repo,
                    j.delivery_id,
                    j.attempts,
                    j.updated_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                if let Some(e) = j.last_error {
                    println!("    last error: {}", e.lines().next().unwrap_or(""));
                }
            }
            Ok(0)
        }
        JobsAction::Requeue { ids, all } => {
            let ids: Vec<i64> = if all {
                store.parked().await?.into_iter().map(|j| j.id).collect()
            } else {
                ids
            };
            if ids.is_empty() {
                bail!("name the jobs to requeue (ids from `patchgate jobs list`), or pass --all");
            }
            let mut missing = 0;
            for id in ids {
                if store.requeue(id, chrono::Utc::now()).await? {
                    println!("requeued #{id}");
                } else {
                    eprintln!("#{id} is not a parked job");
                    missing += 1;
                }
            }
            Ok(u8::from(missing > 0))
        }
        JobsAction::Discard { ids } => {
            let mut missing = 0;
            for id in ids {
                if store.discard(id, chrono::Utc::now()).await? {
                    println!("discarded #{id}");
                } else {
                    eprintln!("#{id} is not a parked job");
                    missing += 1;
                }
            }
            Ok(u8::from(missing > 0))
        }
    }
}
