//! Automatic redelivery of failed webhook deliveries (`src/server/redeliver.rs`), against the
//! stateful fake GitHub's delivery log (`GET /app/hook/deliveries` with cursor pagination,
//! `POST /app/hook/deliveries/{delivery_id}/attempts`), every request judged against the
//! vendored REST description.
//!
//! - The passes, run through the job queue on both store backends: exactly the guids without
//!   a successful delivery, not in patchgate's store and inside the lookback are asked for,
//!   each once across two passes (even though their redeliveries fail too), and paging stops
//!   once a page reaches past the window.
//! - GitHub refusing a redelivery is final; a 5xx is retried; a window with more deliveries
//!   than a pass reads is cut to the newest, not fatal.
//! - The store lookups it relies on (`known_deliveries`, `last_done`), on both backends.
//! - `patchgate serve --redeliver-interval 1`: the same through the real binary, with GitHub
//!   answering 500 to a listing and to a redelivery request — logged, counted, not fatal.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use patchgate::github::app::{AppCredentials, GitHubApp};
use patchgate::server::metrics::Metrics;
use patchgate::server::redeliver::{
    schedule, Redeliverer, WithRedelivery, ASK_EVENT, ASK_PREFIX, PASS_EVENT,
};
use patchgate::server::JobHandler;
use patchgate::store::{Job, NewJob, Store};
use support::pg::Fixture;
use support::world::{metric, World};
use support::FakeGitHub;

both_backends!(
    "redeliver";
    each_failed_guid_is_asked_for_once_across_passes,
    store_lookups_redelivery_relies_on,
);

fn mins(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// The handler of every job that is not a redelivery's: records the events it was given.
#[derive(Default)]
struct Others(Mutex<Vec<String>>);

impl JobHandler for Others {
    fn handle<'a>(
        &'a self,
        job: &'a Job,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send + 'a>> {
        self.0.lock().unwrap().push(job.event.clone());
        Box::pin(async { Ok(()) })
    }
}

struct Rig {
    fake: FakeGitHub,
    store: Store,
    metrics: Arc<Metrics>,
    others: Arc<Others>,
    handler: WithRedelivery,
}

impl Rig {
    async fn new(store: Store) -> Rig {
        let fake = FakeGitHub::start().await;
        let app = GitHubApp::new(
            AppCredentials::new(&fake.app_id().to_string(), &fake.private_key_pem()).unwrap(),
            &fake.url(),
        )
        .unwrap();
        let metrics = Metrics::new();
        let others = Arc::new(Others::default());
        let handler = WithRedelivery {
            inner: others.clone(),
            redeliver: Arc::new(Redeliverer {
                app,
                store: store.clone(),
                metrics: metrics.clone(),
            }),
        };
        Rig {
            fake,
            store,
            metrics,
            others,
            handler,
        }
    }

    /// Work the queue as a worker would until it is empty; every job must succeed.
    async fn drain(&self) {
        while let Some(job) = self
            .store
            .claim("test-worker", Duration::from_secs(60), 5, Utc::now())
            .await
            .unwrap()
            .job
        {
            if let Err(e) = self.handler.handle(&job).await {
                panic!("job {} ({}) failed: {e:#}", job.delivery_id, job.event);
            }
            assert!(self
                .store
                .complete(job.id, "test-worker", Utc::now())
                .await
                .unwrap());
        }
    }

    fn redelivered(&self) -> Vec<String> {
        let mut g = self.fake.redelivered_guids();
        g.sort();
        g
    }

    fn metric(&self, outcome: &str) -> f64 {
        metric(
            &self.metrics.encode(),
            "patchgate_redeliveries_total",
            &[("outcome", outcome)],
        )
        .unwrap_or_else(|| panic!("no patchgate_redeliveries_total{{outcome={outcome:?}}}"))
    }

    fn assert_no_violations(&self) {
        assert!(
            self.fake.violations().is_empty() && self.fake.response_problems().is_empty(),
            "requests outside the REST description: {:#?}\nanswers outside it: {:#?}",
            self.fake.violations(),
            self.fake.response_problems()
        );
        let unknown: Vec<String> = self
            .fake
            .requests()
            .iter()
            .filter(|q| q.operation_id.is_none())
            .map(|q| format!("{} {}", q.method, q.path))
            .collect();
        assert!(unknown.is_empty(), "{unknown:?}");
    }
}

async fn each_failed_guid_is_asked_for_once_across_passes(f: &Fixture, _backend: &str) {
    let rig = Rig::new(f.open().await).await;
    let fake = &rig.fake;
    let now = Utc::now();
    // A server that was down for 2.5 days: its last pass finished then.
    finished_pass_at(&rig.store, now - chrono::Duration::hours(60)).await;
    // Noise: successful deliveries, enough for several pages (GitHub lists at most 100 a
    // page), inside the window, and more that GitHub still keeps beyond it.
    for i in 0..150 {
        fake.add_hook_delivery(
            &format!("ok-{i}"),
            "pull_request",
            Some("opened"),
            202,
            now - mins(60) - chrono::Duration::seconds(i),
        );
    }
    for i in 0..120 {
        fake.add_hook_delivery(
            &format!("ancient-ok-{i}"),
            "pull_request",
            Some("synchronize"),
            202,
            now - chrono::Duration::days(3) - mins(10 + i),
        );
    }
    // Failed, never received: asked for.
    fake.add_hook_delivery(
        "comment-lost",
        "issue_comment",
        Some("created"),
        0,
        now - mins(20),
    );
    fake.add_hook_delivery(
        "button-lost",
        "check_run",
        Some("requested_action"),
        503,
        now - chrono::Duration::days(2),
    );
    // Failed, then redelivered successfully (by a person): not asked for.
    fake.add_hook_delivery("healed", "status", None, 502, now - mins(50));
    fake.add_hook_redelivery("healed", 202, now - mins(45));
    // Failed at GitHub's end, but patchgate queued it (only the answer was lost): not asked.
    fake.add_hook_delivery(
        "stored",
        "issue_comment",
        Some("created"),
        504,
        now - mins(10),
    );
    rig.store
        .enqueue(&NewJob {
            delivery_id: "stored".into(),
            event: "issue_comment".into(),
            payload: br#"{"action":"created"}"#.to_vec(),
            repo: "o/r".into(),
        })
        .await
        .unwrap();
    // Failed, but of events patchgate does not queue: not asked.
    fake.add_hook_delivery("pushed", "push", None, 0, now - mins(12));
    fake.add_hook_delivery("pinged", "ping", None, 503, now - mins(11));
    // Failed, but older than GitHub keeps (and than the lookback): not asked.
    fake.add_hook_delivery(
        "too-old",
        "issue_comment",
        Some("created"),
        500,
        now - chrono::Duration::days(3) - mins(5),
    );
    // patchgate is still down: every redelivery fails too.
    fake.set_redelivery_status(502);

    // Pass 1, after the pass that finished 2.5 days ago (set up first, above): its window
    // reaches back to then, and never past the 3 days GitHub keeps.
    assert!(schedule(&rig.store, now, Duration::from_secs(300))
        .await
        .unwrap());
    // The same slot again (another replica): nothing new.
    assert!(!schedule(&rig.store, now, Duration::from_secs(300))
        .await
        .unwrap());
    rig.drain().await;
    assert_eq!(rig.redelivered(), vec!["button-lost", "comment-lost"]);
    // Paging stopped at the first page that reached past the window: 278 deliveries, 158 in
    // the window, so 2 of the 3 pages.
    assert_eq!(fake.hook_delivery_pages_served(), 2);
    // Only the job that was already there reached the other handler.
    assert_eq!(*rig.others.0.lock().unwrap(), vec!["issue_comment"]);
    let asks = rig
        .store
        .known_deliveries(&[
            format!("{ASK_PREFIX}comment-lost"),
            format!("{ASK_PREFIX}button-lost"),
            format!("{ASK_PREFIX}stored"),
            format!("{ASK_PREFIX}healed"),
        ])
        .await
        .unwrap();
    assert_eq!(asks.len(), 2, "{asks:?}");

    // A new failure arrives; the redeliveries of pass 1 failed too (in the log now).
    fake.add_hook_delivery(
        "status-lost",
        "status",
        None,
        0,
        Utc::now() - chrono::Duration::seconds(5),
    );
    let failed_redeliveries = fake
        .hook_deliveries()
        .iter()
        .filter(|d| d.redelivery && d.status_code == 502)
        .count();
    assert_eq!(failed_redeliveries, 2);

    // Pass 2, the next slot: its window starts 10 minutes before pass 1's slot, so one page.
    assert!(schedule(
        &rig.store,
        now + chrono::Duration::seconds(300),
        Duration::from_secs(300)
    )
    .await
    .unwrap());
    rig.drain().await;
    assert_eq!(
        rig.redelivered(),
        vec!["button-lost", "comment-lost", "status-lost"],
        "each failed guid is asked for once, though its redelivery failed"
    );
    assert_eq!(fake.hook_delivery_pages_served(), 3);
    assert_eq!(rig.metric("requested"), 3.0);
    assert_eq!(rig.metric("rejected"), 0.0);
    assert_eq!(rig.metric("error"), 0.0);
    // Every listing sent only what the description allows (per_page, then GitHub's cursor).
    let listings: Vec<String> = fake
        .requests()
        .iter()
        .filter(|q| q.path == "/app/hook/deliveries")
        .map(|q| q.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(listings.len(), 3);
    assert!(listings.iter().all(|q| q.starts_with("per_page=100")));
    assert!(listings[1].contains("cursor="), "{listings:?}");
    rig.assert_no_violations();
    // The passes were jobs of their own, done.
    assert!(rig.store.last_done(PASS_EVENT).await.unwrap().is_some());
}

/// The next ready job (there must be one), claimed by worker `w`.
async fn claim_one(store: &Store) -> Job {
    store
        .claim("w", Duration::from_secs(60), 5, Utc::now())
        .await
        .unwrap()
        .job
        .expect("a ready job")
}

/// A pass of the slot at `at` that finished without listing anything (an earlier pass of a
/// running server): the next pass's window starts 10 minutes before it.
async fn finished_pass_at(store: &Store, at: chrono::DateTime<Utc>) {
    assert!(schedule(store, at, Duration::from_secs(300)).await.unwrap());
    let pass = claim_one(store).await;
    assert_eq!(pass.event, PASS_EVENT);
    assert!(store.complete(pass.id, "w", Utc::now()).await.unwrap());
}

/// `Store::known_deliveries` (over several `IN` chunks) and `Store::last_done`.
async fn store_lookups_redelivery_relies_on(f: &Fixture, _backend: &str) {
    let store = f.open().await;
    let jobs: Vec<NewJob> = (0..1200)
        .map(|i| NewJob {
            delivery_id: format!("guid-{i:04}"),
            event: "issue_comment".into(),
            payload: b"{}".to_vec(),
            repo: "o/r".into(),
        })
        .collect();
    store.enqueue_many(&jobs).await.unwrap();
    let asked: Vec<String> = (0..1300).map(|i| format!("guid-{i:04}")).collect();
    let known = store.known_deliveries(&asked).await.unwrap();
    assert_eq!(known.len(), 1200);
    assert!(known.contains("guid-0000") && known.contains("guid-1199"));
    assert!(!known.contains("guid-1200"));
    assert!(store.known_deliveries(&[]).await.unwrap().is_empty());

    // last_done: the newest pass that is done, whatever else is.
    assert_eq!(store.last_done(PASS_EVENT).await.unwrap(), None);
    let t = Utc::now();
    let every = Duration::from_secs(60);
    assert!(schedule(&store, t, every).await.unwrap());
    assert!(schedule(&store, t + chrono::Duration::seconds(60), every)
        .await
        .unwrap());
    let mut claimed = Vec::new();
    while let Some(job) = store
        .claim("w", Duration::from_secs(60), 5, Utc::now())
        .await
        .unwrap()
        .job
    {
        claimed.push(job);
    }
    let passes: Vec<&Job> = claimed.iter().filter(|j| j.event == PASS_EVENT).collect();
    assert_eq!(passes.len(), 2);
    assert_eq!(store.last_done(PASS_EVENT).await.unwrap(), None);
    assert!(store.complete(passes[0].id, "w", Utc::now()).await.unwrap());
    assert_eq!(
        store.last_done(PASS_EVENT).await.unwrap().as_deref(),
        Some(passes[0].delivery_id.as_str())
    );
    assert!(store.complete(passes[1].id, "w", Utc::now()).await.unwrap());
    let other = claimed.iter().find(|j| j.event != PASS_EVENT).unwrap();
    assert!(store.complete(other.id, "w", Utc::now()).await.unwrap());
    assert_eq!(
        store.last_done(PASS_EVENT).await.unwrap().as_deref(),
        Some(passes[1].delivery_id.as_str())
    );
    assert!(passes[0].delivery_id < passes[1].delivery_id);

    // A later pass that failed, was parked and then given up with `patchgate jobs discard` is
    // done, but it did not complete: it does not move the next window's start.
    assert!(schedule(&store, t + chrono::Duration::seconds(120), every)
        .await
        .unwrap());
    let failed = store
        .claim("w", Duration::from_secs(60), 1, Utc::now())
        .await
        .unwrap()
        .job
        .unwrap();
    assert_eq!(failed.event, PASS_EVENT);
    let once = patchgate::store::RetryPolicy {
        max_attempts: 1,
        base_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(1),
    };
    store
        .fail(failed.id, "w", "listing failed", &once, Utc::now())
        .await
        .unwrap();
    assert!(store.discard(failed.id, Utc::now()).await.unwrap());
    assert_eq!(
        store.last_done(PASS_EVENT).await.unwrap().as_deref(),
        Some(passes[1].delivery_id.as_str())
    );
}

/// More deliveries in the window than a pass reads (100 pages): the newest are examined and
/// the pass finishes (so the next window starts after it), instead of failing for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_too_large_is_cut_not_fatal() {
    let f = Fixture::sqlite();
    let rig = Rig::new(f.open().await).await;
    let now = Utc::now();
    rig.fake
        .add_hook_delivery("newest-lost", "status", None, 0, now - mins(1));
    for i in 0..10_050 {
        rig.fake.add_hook_delivery(
            &format!("ok-{i}"),
            "status",
            None,
            202,
            now - mins(2) - chrono::Duration::seconds(i),
        );
    }
    rig.fake.add_hook_delivery(
        "oldest-lost",
        "status",
        None,
        0,
        now - chrono::Duration::days(1),
    );
    finished_pass_at(&rig.store, now - chrono::Duration::days(2)).await;
    assert!(schedule(&rig.store, now, Duration::from_secs(300))
        .await
        .unwrap());
    rig.drain().await;
    assert_eq!(rig.fake.hook_delivery_pages_served(), 100);
    assert_eq!(rig.redelivered(), vec!["newest-lost"]);
    assert!(rig.store.last_done(PASS_EVENT).await.unwrap().is_some());
    assert_eq!(rig.metric("error"), 0.0);
    rig.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_refusals_are_final_and_server_errors_are_retried() {
    let f = Fixture::sqlite();
    let rig = Rig::new(f.open().await).await;
    let now = Utc::now();
    rig.fake
        .add_hook_delivery("one", "issue_comment", Some("created"), 0, now - mins(3));
    rig.fake.add_hook_delivery(
        "two",
        "check_run",
        Some("requested_action"),
        0,
        now - mins(2),
    );
    assert!(schedule(&rig.store, now, Duration::from_secs(60))
        .await
        .unwrap());
    // The pass: two asks queued.
    let pass = claim_one(&rig.store).await;
    assert_eq!(pass.event, PASS_EVENT);
    rig.handler.handle(&pass).await.unwrap();
    assert!(rig.store.complete(pass.id, "w", Utc::now()).await.unwrap());

    // GitHub refuses the first (422): counted, not an error, not retried.
    rig.fake.fail_next("POST", "/app/hook/deliveries/", 422, 1);
    let ask = claim_one(&rig.store).await;
    assert_eq!(ask.event, ASK_EVENT);
    let refused = ask
        .delivery_id
        .strip_prefix(ASK_PREFIX)
        .unwrap()
        .to_string();
    rig.handler.handle(&ask).await.unwrap();
    assert!(rig.store.complete(ask.id, "w", Utc::now()).await.unwrap());
    assert_eq!(rig.metric("rejected"), 1.0);

    // A 500 on the second: an error for the queue to retry, then it goes through.
    rig.fake.fail_next("POST", "/app/hook/deliveries/", 500, 1);
    let ask = claim_one(&rig.store).await;
    let flaky = ask
        .delivery_id
        .strip_prefix(ASK_PREFIX)
        .unwrap()
        .to_string();
    assert_ne!(flaky, refused);
    let e = rig.handler.handle(&ask).await.unwrap_err();
    assert!(format!("{e:#}").contains("HTTP 500"), "{e:#}");
    assert_eq!(rig.metric("error"), 1.0);
    rig.handler.handle(&ask).await.unwrap();
    assert!(rig.store.complete(ask.id, "w", Utc::now()).await.unwrap());
    assert_eq!(rig.metric("requested"), 1.0);
    assert_eq!(rig.fake.redelivered_guids().len(), 1);

    // The next pass asks for neither again (one was refused, one requested).
    assert!(schedule(
        &rig.store,
        now + chrono::Duration::seconds(60),
        Duration::from_secs(60)
    )
    .await
    .unwrap());
    rig.drain().await;
    assert_eq!(rig.redelivered(), vec![flaky]);
    assert_eq!(rig.metric("rejected"), 1.0);
    assert_eq!(rig.metric("requested"), 1.0);
    // A listing GitHub fails is an error of the pass (the queue retries it), counted.
    rig.fake.fail_next("GET", "/app/hook/deliveries", 500, 1);
    assert!(schedule(
        &rig.store,
        now + chrono::Duration::seconds(120),
        Duration::from_secs(60)
    )
    .await
    .unwrap());
    let pass = claim_one(&rig.store).await;
    assert!(rig.handler.handle(&pass).await.is_err());
    assert_eq!(rig.metric("error"), 2.0);
    rig.handler.handle(&pass).await.unwrap();
    rig.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_redelivers_failed_deliveries_and_survives_github_errors() {
    let w = World::new().await;
    let now = Utc::now();
    w.fake.add_hook_delivery(
        "lost-comment",
        "issue_comment",
        Some("created"),
        0,
        now - mins(4),
    );
    w.fake.add_hook_delivery(
        "lost-button",
        "check_run",
        Some("requested_action"),
        502,
        now - mins(3),
    );
    w.fake
        .add_hook_delivery("fine", "pull_request", Some("opened"), 202, now - mins(2));
    // GitHub fails the first listing and the first redelivery request.
    w.fake.fail_next("GET", "/app/hook/deliveries", 500, 1);
    w.fake.fail_next("POST", "/app/hook/deliveries/", 500, 1);
    let mut s = w.serve(&["--redeliver-interval", "1"], &[]);

    let deadline = Instant::now() + Duration::from_secs(120);
    while w.fake.redelivered_guids().len() < 2 {
        s.assert_alive();
        assert!(
            Instant::now() < deadline,
            "not redelivered: {:?}\n{}",
            w.fake.redelivered_guids(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Later passes (whose windows still hold the failed deliveries) ask for nothing more.
    let pages = w.fake.hook_delivery_pages_served();
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.fake.hook_delivery_pages_served() < pages + 3 {
        s.assert_alive();
        assert!(Instant::now() < deadline, "no more passes:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut asked = w.fake.redelivered_guids();
    asked.sort();
    assert_eq!(asked, vec!["lost-button", "lost-comment"]);

    let (code, metrics) = s.get("/metrics").await;
    assert_eq!(code, 200);
    let value = |outcome: &str| {
        metric(
            &metrics,
            "patchgate_redeliveries_total",
            &[("outcome", outcome)],
        )
        .unwrap_or_else(|| panic!("no {outcome} sample in\n{metrics}"))
    };
    assert_eq!(value("requested"), 2.0);
    assert_eq!(value("error"), 2.0, "{metrics}");
    assert_eq!(value("rejected"), 0.0);
    s.assert_alive();
    w.assert_no_violations();
    let (status, log) = s.stop();
    assert!(status.success(), "{log}");
    for line in [
        "redelivery pass failed; retried",
        "redelivery: asking GitHub failed; retried",
        "redelivery requested",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
    assert!(log.contains("HTTP 500"), "{log}");
}

/// The first pass (none finished before it) looks back one hour, not the 3 days GitHub keeps:
/// a days-old `/patchgate rollback` or CI failure from before redelivery was watching is not
/// replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_pass_looks_back_one_hour() {
    let f = Fixture::sqlite();
    let rig = Rig::new(f.open().await).await;
    let now = Utc::now();
    rig.fake.add_hook_delivery(
        "recent-lost",
        "issue_comment",
        Some("created"),
        0,
        now - mins(50),
    );
    rig.fake.add_hook_delivery(
        "old-lost",
        "issue_comment",
        Some("created"),
        503,
        now - mins(70),
    );
    rig.fake.add_hook_delivery(
        "days-old-lost",
        "check_run",
        Some("requested_action"),
        503,
        now - chrono::Duration::days(2),
    );
    assert!(schedule(&rig.store, now, Duration::from_secs(300))
        .await
        .unwrap());
    rig.drain().await;
    assert_eq!(rig.redelivered(), vec!["recent-lost"]);
    assert_eq!(rig.metric("requested"), 1.0);
    rig.assert_no_violations();
}
