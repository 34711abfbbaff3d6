//! Automatic redelivery of failed webhook deliveries.
//!
//! What it is for: GitHub does not retry a delivery that failed (patchgate down, unready, a
//! 5xx, a timeout). Reconciliation finds pull requests whose gate was missed, but a missed
//! `issue_comment` (`/patchgate rollback`), `check_run.requested_action` (the Rollback button)
//! or CI `check_run`/`status` on the default branch would be lost for good. GitHub keeps an
//! App's deliveries for 3 days and lets the App list them and ask for a redelivery; this
//! module does that, every `serve --redeliver-interval` seconds.
//!
//! How (GitHub's "automatically redelivering failed deliveries" algorithm, made durable and
//! safe for several replicas):
//! - The serve loop queues one **pass** job per interval slot ([`pass_job`]): its delivery id
//!   names the slot (`redeliver-pass:<unix seconds of the slot start>`), so replicas sharing
//!   the store queue one pass per slot and one worker runs it.
//! - A pass lists the App's deliveries (`GET /app/hook/deliveries`, newest first) back to the
//!   slot of the previous pass that finished, less [`OVERLAP`], and never more than
//!   [`max_lookback`] (3 days, what GitHub keeps) — the first pass, with no previous one, only
//!   [`FIRST_LOOKBACK`] (an hour); paging stops once a page reaches past that.
//!   A guid (`X-GitHub-Delivery`) is **failed** when none of its deliveries in the window got a
//!   2xx ([`failed_deliveries`]). Failed guids of events intake would not queue anyway
//!   ([`handled`]: `ping`, `push`, …) and failed guids that patchgate's job store already has
//!   (queued after all, only the answer was lost) are skipped.
//! - Every other failed guid gets one **ask** job, delivery id `redeliver-ask:<guid>`, that
//!   asks GitHub to redeliver it (`POST /app/hook/deliveries/{id}/attempts`). The queue's
//!   dedupe is the durable memory of what was asked: a guid is asked for at most once, across
//!   passes, restarts and replicas — even when the redelivery fails too (patchgate still
//!   down), or when two passes overlap. Deriving it from GitHub's `redelivery` flag instead
//!   would depend on GitHub listing the redelivery before the next pass looks, and would not
//!   hold for two passes running at once.
//!
//! Errors are logged and counted (`patchgate_redeliveries_total{outcome="error"}`), never
//! fatal: a pass that failed (listing, store) fails its job (retried with the queue's backoff; the next
//! pass covers its window anyway, since only finished passes move the window); an ask GitHub
//! refuses for good (4xx: e.g. older than 3 days) is counted `rejected` and not retried; any
//! other failed ask is retried by the queue. What it must never do: ask twice for one guid, or
//! log anything but ids, events and actions (deliveries carry no secrets, and none is logged).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::github::app::{GitHubApp, GitHubError, HookDelivery};
use crate::server::intake::handled;
use crate::server::metrics::Metrics;
use crate::server::worker::JobHandler;
use crate::store::{Enqueued, Job, NewJob, Store};

/// Internal event of a pass (list deliveries, queue asks).
pub const PASS_EVENT: &str = "patchgate.redeliver";
/// Internal event of one redelivery request.
pub const ASK_EVENT: &str = "patchgate.redeliver.ask";
/// Delivery id prefix of passes: `redeliver-pass:<unix seconds>` of the slot start.
pub const PASS_PREFIX: &str = "redeliver-pass:";
/// Delivery id prefix of asks: `redeliver-ask:<guid>`.
pub const ASK_PREFIX: &str = "redeliver-ask:";

/// How far back a pass looks at most: GitHub keeps deliveries for 3 days.
pub fn max_lookback() -> chrono::Duration {
    chrono::Duration::days(3)
}

/// How far back the first pass looks (no pass has finished before it).
pub const FIRST_LOOKBACK: Duration = Duration::from_secs(3600);

/// How far before the previous finished pass's slot a pass starts looking: covers deliveries
/// GitHub records late (a delivery that timed out is listed once it did) and clock skew.
pub const OVERLAP: Duration = Duration::from_secs(600);

/// The pass job of the interval slot `now` falls in (slots are aligned to the Unix epoch, so
/// every replica with the same interval names the same slot).
pub fn pass_job(now: DateTime<Utc>, every: Duration) -> NewJob {
    let every = every.as_secs().max(1) as i64;
    let slot = now.timestamp().div_euclid(every) * every;
    NewJob {
        delivery_id: format!("{PASS_PREFIX}{slot:010}"),
        event: PASS_EVENT.into(),
        payload: serde_json::json!({ "action": "pass", "slot": slot })
            .to_string()
            .into_bytes(),
        repo: String::new(),
    }
}

/// Queue the pass of `now`'s slot; `true` when this call queued it (`false`: another replica,
/// or this one earlier, already did).
pub async fn schedule(store: &Store, now: DateTime<Utc>, every: Duration) -> Result<bool> {
    let queued = store
        .enqueue(&pass_job(now, every))
        .await
        .context("queueing the redelivery pass")?;
    Ok(matches!(queued, Enqueued::New(_)))
}

/// The slot start a pass's delivery id names.
fn pass_slot(delivery_id: &str) -> Option<DateTime<Utc>> {
    let secs: i64 = delivery_id.strip_prefix(PASS_PREFIX)?.parse().ok()?;
    Utc.timestamp_opt(secs, 0).single()
}

/// Of `deliveries`, the newest delivery of each guid none of whose deliveries succeeded
/// (2xx), newest first.
pub fn failed_deliveries(deliveries: &[HookDelivery]) -> Vec<&HookDelivery> {
    let mut by_guid: BTreeMap<&str, (bool, Option<&HookDelivery>)> = BTreeMap::new();
    for d in deliveries {
        let entry = by_guid.entry(d.guid.as_str()).or_insert((false, None));
        if d.succeeded() {
            entry.0 = true;
        } else if entry
            .1
            .is_none_or(|n| (d.delivered_at, d.id) > (n.delivered_at, n.id))
        {
            entry.1 = Some(d);
        }
    }
    let mut out: Vec<&HookDelivery> = by_guid
        .into_values()
        .filter_map(|(ok, newest)| if ok { None } else { newest })
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse((d.delivered_at, d.id)));
    out
}

/// What an ask job carries.
#[derive(Debug, Serialize, Deserialize)]
struct Ask {
    guid: String,
    /// The delivery to redeliver (the guid's newest failed one).
    delivery: u64,
    event: String,
    action: Option<String>,
}

/// What one pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Deliveries listed in the window.
    pub listed: usize,
    /// Guids without a successful delivery in the window, of events patchgate handles.
    pub failed: usize,
    /// Guids without a successful delivery of events patchgate does not handle (not asked).
    pub ignored: usize,
    /// Of those, guids the job store has (received after all).
    pub received: usize,
    /// Asks queued by this pass (guids never asked for before).
    pub queued: usize,
}

/// Runs passes and asks.
pub struct Redeliverer {
    pub app: GitHubApp,
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

impl Redeliverer {
    /// Where a pass starting at `now` looks back to.
    pub async fn window_start(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let floor = now - max_lookback();
        let previous = self
            .store
            .last_done(PASS_EVENT)
            .await
            .context("finding the previous redelivery pass")?
            .as_deref()
            .and_then(pass_slot);
        let overlap = chrono::Duration::from_std(OVERLAP).unwrap_or_default();
        // No pass finished yet (the first start with redelivery on, or a store whose passes
        // were pruned): only the last hour. Failures older than that predate this watch, and
        // replaying a days-old `/patchgate rollback` or CI failure would surprise everyone.
        let first = now - chrono::Duration::from_std(FIRST_LOOKBACK).unwrap_or_default();
        Ok(previous.map_or(first.max(floor), |slot| (slot - overlap).max(floor)))
    }

    /// One pass: list the deliveries since the previous pass and queue an ask for every failed
    /// guid that was neither received nor asked for before. A failure is logged and counted
    /// (`error`), and returned for the queue to retry the pass.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<PassReport> {
        let result = self.try_pass(now).await;
        if let Err(e) = &result {
            self.metrics.redelivery("error");
            warn!(error = %format!("{e:#}"), "redelivery pass failed; retried");
        }
        result
    }

    async fn try_pass(&self, now: DateTime<Utc>) -> Result<PassReport> {
        let since = self.window_start(now).await?;
        let (deliveries, cut) = self.app.hook_deliveries_since(since).await?;
        if cut {
            // Better the newest 10,000 than a pass that never finishes (and so a window that
            // never moves on).
            warn!(%since, listed = deliveries.len(), oldest = ?deliveries.last().map(|d| d.delivered_at),
                "redelivery: too many deliveries in the window; the oldest were not examined");
        }
        let all_failed = failed_deliveries(&deliveries);
        // Events intake would not queue (ping, push, installation, …) are not asked for: they
        // would be acknowledged and dropped.
        let failed: Vec<&HookDelivery> = all_failed
            .iter()
            .copied()
            .filter(|d| handled(&d.event, d.action.as_deref()))
            .collect();
        let guids: Vec<String> = failed.iter().map(|d| d.guid.clone()).collect();
        let received = self
            .store
            .known_deliveries(&guids)
            .await
            .context("looking up failed deliveries in the job store")?;
        let mut jobs = Vec::new();
        for d in failed.iter().filter(|d| !received.contains(&d.guid)) {
            let ask = Ask {
                guid: d.guid.clone(),
                delivery: d.id,
                event: d.event.clone(),
                action: d.action.clone(),
            };
            jobs.push(NewJob {
                delivery_id: format!("{ASK_PREFIX}{}", d.guid),
                event: ASK_EVENT.into(),
                payload: serde_json::to_vec(&ask)?,
                repo: String::new(),
            });
        }
        let queued = self
            .store
            .enqueue_many(&jobs)
            .await
            .context("queueing redelivery requests")?;
        let mut report = PassReport {
            listed: deliveries.len(),
            failed: failed.len(),
            ignored: all_failed.len() - failed.len(),
            received: received.len(),
            queued: 0,
        };
        for (job, q) in jobs.iter().zip(queued) {
            if let Enqueued::New(_) = q {
                report.queued += 1;
                info!(
                    guid = %job.delivery_id.trim_start_matches(ASK_PREFIX),
                    "redelivery: a failed delivery will be redelivered"
                );
            }
        }
        info!(
            %since,
            listed = report.listed,
            failed = report.failed,
            ignored = report.ignored,
            received = report.received,
            queued = report.queued,
            "redelivery pass done"
        );
        Ok(report)
    }

    /// One ask: have GitHub redeliver the guid's failed delivery, unless it arrived meanwhile.
    async fn ask(&self, ask: &Ask) -> Result<()> {
        let arrived = match self
            .store
            .known_deliveries(std::slice::from_ref(&ask.guid))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                self.metrics.redelivery("error");
                warn!(guid = %ask.guid, error = %e, "redelivery: looking up the delivery failed; retried");
                return Err(
                    anyhow::Error::new(e).context("looking up the delivery in the job store")
                );
            }
        };
        if arrived.contains(&ask.guid) {
            info!(guid = %ask.guid, "redelivery: the delivery arrived meanwhile; not asked");
            return Ok(());
        }
        let action = ask.action.as_deref().unwrap_or("");
        match self.app.redeliver_hook_delivery(ask.delivery).await {
            Ok(()) => {
                self.metrics.redelivery("requested");
                info!(guid = %ask.guid, delivery = ask.delivery, event = %ask.event, action, "redelivery requested");
                Ok(())
            }
            Err(e) => {
                let refused = GitHubError::of(&e).is_some_and(|g| {
                    !g.is_transient() && g.status.is_some_and(|s| (400..500).contains(&s))
                });
                if refused {
                    self.metrics.redelivery("rejected");
                    warn!(guid = %ask.guid, delivery = ask.delivery, event = %ask.event, action,
                        error = %format!("{e:#}"), "redelivery: GitHub refused to redeliver; not asked again");
                    Ok(())
                } else {
                    self.metrics.redelivery("error");
                    warn!(guid = %ask.guid, delivery = ask.delivery, event = %ask.event, action,
                        error = %format!("{e:#}"), "redelivery: asking GitHub failed; retried");
                    Err(e)
                }
            }
        }
    }
}

/// The job handler of `serve` with redelivery: pass and ask jobs here, everything else to
/// `inner`. Installed whenever the App is configured (whatever this replica's interval), so a
/// pass another replica queued is run by whichever worker takes it.
pub struct WithRedelivery {
    pub inner: Arc<dyn JobHandler>,
    pub redeliver: Arc<Redeliverer>,
}

impl JobHandler for WithRedelivery {
    fn handle<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        match job.event.as_str() {
            PASS_EVENT => Box::pin(async move { self.redeliver.pass(Utc::now()).await.map(drop) }),
            ASK_EVENT => Box::pin(async move {
                let ask: Ask = serde_json::from_slice(&job.payload)
                    .context("the stored redelivery request is not valid")?;
                self.redeliver.ask(&ask).await
            }),
            _ => self.inner.handle(job),
        }
    }
}

/// The serve loop: queue the pass of each slot (the first at start-up) until `stop`.
pub async fn run_schedule(
    store: Store,
    every: Duration,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        match schedule(&store, Utc::now(), every).await {
            Ok(true) => {
                failures = 0;
                wake.notify_waiters();
            }
            Ok(false) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_power_of_two() {
                    warn!(error = %format!("{e:#}"), "redelivery: queueing the pass failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: u64, guid: &str, mins_ago: i64, status: u16, redelivery: bool) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: Utc::now() - chrono::Duration::minutes(mins_ago),
            redelivery,
            status_code: status,
            event: "issue_comment".into(),
            action: Some("created".into()),
        }
    }

    #[test]
    fn failed_guids_are_those_without_a_2xx_and_the_newest_failure_is_asked() {
        let list = vec![
            d(1, "ok", 50, 202, false),
            d(2, "down", 40, 0, false),
            d(3, "twice", 30, 503, false),
            d(4, "twice", 20, 502, true),
            d(5, "healed", 15, 500, false),
            d(6, "healed", 10, 202, true),
        ];
        let failed = failed_deliveries(&list);
        let got: Vec<(u64, &str)> = failed.iter().map(|d| (d.id, d.guid.as_str())).collect();
        assert_eq!(got, vec![(4, "twice"), (2, "down")]);
        assert!(failed_deliveries(&[]).is_empty());
    }

    #[test]
    fn pass_jobs_name_their_slot() {
        let at = Utc.timestamp_opt(1_700_000_123, 0).unwrap();
        let job = pass_job(at, Duration::from_secs(300));
        assert_eq!(job.delivery_id, "redeliver-pass:1700000100");
        assert_eq!(job.event, PASS_EVENT);
        assert_eq!(
            pass_slot(&job.delivery_id),
            Utc.timestamp_opt(1_700_000_100, 0).single()
        );
        // Same slot, same id; the next slot, another.
        let later = at + chrono::Duration::seconds(100);
        assert_eq!(
            pass_job(later, Duration::from_secs(300)).delivery_id,
            job.delivery_id
        );
        let next = at + chrono::Duration::seconds(300);
        assert_ne!(
            pass_job(next, Duration::from_secs(300)).delivery_id,
            job.delivery_id
        );
        // Ids sort like their slots.
        let early = Utc.timestamp_opt(999_999_999, 0).unwrap();
        assert!(pass_job(early, Duration::from_secs(1)).delivery_id < job.delivery_id);
        assert_eq!(pass_slot("redeliver-pass:x"), None);
        assert_eq!(pass_slot("reconcile:o/r#1@abc"), None);
    }
}
