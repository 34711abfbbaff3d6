//! `/webhook/meta` batches under failure, on a real loopback listener with a SQLite store: a
//! client that goes away half way through a batch's judgement, and a sink that fails (GitHub
//! answering 502) — each event is stored once and judged once, the answer to a resend says
//! what really happened, and what was not judged is retried as a job until it is.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use patchgate::policy::signing::{sign, EventsSecret};
use patchgate::policy::PolicyEvent;
use patchgate::rollback::sink::{Applied, EventSink};
use patchgate::server::events::{events_routes, EventsState};
use patchgate::server::judge::PolicyEventJobs;
use patchgate::server::metrics::Metrics;
use patchgate::server::worker::run_worker;
use patchgate::server::WorkerOptions;
use patchgate::store::{RetryPolicy, Store};
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Only so a broken build fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// A sink that records (value, row) of each event it judged; holds the event whose value is
/// `hold` until `gate` gets a permit; fails the event whose value is `fail` for its first
/// `fail_times` calls (as the rollback does when GitHub answers 502).
struct Sink {
    applied: Mutex<Vec<(f64, i64)>>,
    hold: f64,
    gate: tokio::sync::Semaphore,
    fail: f64,
    fail_times: Mutex<u32>,
}

impl Sink {
    fn new(hold: f64, fail: f64, fail_times: u32) -> Arc<Sink> {
        Arc::new(Sink {
            applied: Mutex::new(Vec::new()),
            hold,
            gate: tokio::sync::Semaphore::new(0),
            fail,
            fail_times: Mutex::new(fail_times),
        })
    }

    fn applied(&self) -> Vec<(f64, i64)> {
        self.applied.lock().unwrap().clone()
    }
}

impl EventSink for Sink {
    fn apply(
        &self,
        event: PolicyEvent,
        event_row: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Applied>> + Send + '_>>
    {
        Box::pin(async move {
            if event.value == self.hold {
                let _ = self.gate.acquire().await.unwrap();
            }
            if event.value == self.fail {
                let mut left = self.fail_times.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    anyhow::bail!("GitHub answered 502 Bad Gateway");
                }
            }
            self.applied.lock().unwrap().push((event.value, event_row));
            Ok(Applied {
                decision: json!({"decision": "ok", "reason": "fine"}),
                audit_hash: None,
                merge_sha: Some("cccccccc".into()),
            })
        })
    }
}

struct Server {
    url: String,
    store: Store,
    metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
}

async fn server(sink: Arc<Sink>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    let metrics = Metrics::new();
    let state = EventsState::new(
        store.clone(),
        EventsSecret::parse(SECRET).unwrap(),
        sink,
        metrics.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = events_routes(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url: format!("http://{addr}/webhook/meta"),
        store,
        metrics,
        _dir: dir,
    }
}

/// `n` NDJSON lines whose values are 1..=n.
fn batch(n: usize) -> String {
    (1..=n)
        .map(|i| {
            json!({"repo": "o/r", "commit": format!("abcdef{i}"), "metric": "latency",
                "value": i as f64, "at": "2026-01-02T03:04:05Z"})
            .to_string()
                + "\n"
        })
        .collect()
}

fn request(url: &str, id: &str, ts: i64, body: &str) -> reqwest::RequestBuilder {
    let sig = sign(
        &EventsSecret::parse(SECRET).unwrap(),
        id,
        ts,
        body.as_bytes(),
    );
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-ndjson")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body.to_string())
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue #18, defect 1: a 10-line batch whose client goes away after 3 lines were judged
/// (a slow GitHub, a client or request timeout). Before, lines 4–10 were never stored and a
/// resend under the same id was told "nothing was applied". Now the whole batch is stored at
/// once and judged to its end by itself; each line is judged exactly once; the resend is told
/// the truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_client_goes_away_is_still_judged_whole_and_once() {
    let sink = Sink::new(4.0, -1.0, 0);
    let s = server(sink.clone()).await;
    let body = batch(10);
    let ts = Utc::now().timestamp();
    let client = tokio::spawn(request(&s.url, "msg_half", ts, &body).send());
    wait_for("3 lines judged", || sink.applied().len() == 3).await;
    // The client gives up (its timeout, a dropped connection) while line 4 is being judged.
    client.abort();
    let _ = client.await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sink.gate.add_permits(1);
    wait_for("all 10 lines judged", || sink.applied().len() >= 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let applied = sink.applied();
    let values: Vec<f64> = applied.iter().map(|(v, _)| *v).collect();
    assert_eq!(values, (1..=10).map(|i| i as f64).collect::<Vec<_>>());
    let mut rows: Vec<i64> = applied.iter().map(|(_, r)| *r).collect();
    rows.dedup();
    assert_eq!(rows.len(), 10, "an event was judged twice: {applied:?}");
    assert!(s.store.pending_events("msg_half").await.unwrap().is_empty());

    // The sender resends under the same id: refused, and told what became of the batch.
    let r = request(&s.url, "msg_half", ts, &body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let j: Value = r.json().await.unwrap();
    let text = j["error"].as_str().unwrap();
    assert!(text.contains("already seen"), "{text}");
    assert!(!text.contains("nothing was applied"), "untrue: {text}");
    assert!(
        text.contains("all 10 events of it are stored, 10 judged"),
        "{text}"
    );
    assert_eq!(sink.applied().len(), 10);
    let status = s.store.batch_status("msg_half").await.unwrap();
    assert_eq!((status.stored, status.judged), (10, 10));
    assert_eq!(status.job.map(|(_, state)| state).as_deref(), Some("done"));
}

/// Issue #18, defect 2: GitHub answers 502 while an event is judged. Before, the event stayed
/// "stored but not judged" forever (the same id got 409, and nothing judged it again). Now
/// the batch's job is retried by the queue's workers until the event is judged; an event that
/// keeps failing parks the job, where `patchgate jobs` and the metrics show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stored_but_not_judged_is_retried_until_judged_or_parked() {
    let sink = Sink::new(-1.0, 2.0, 1);
    let s = server(sink.clone()).await;
    let r = request(&s.url, "msg_502", Utc::now().timestamp(), &batch(3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let j: Value = r.json().await.unwrap();
    assert_eq!(j["accepted"], 2, "{j}");
    assert_eq!(j["pending"], json!([2]), "{j}");
    let err = j["rejected"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("stored but not judged yet") && err.contains("judged again"),
        "{err}"
    );
    assert!(!err.contains("502"), "internal detail in the answer: {err}");
    assert_eq!(s.store.pending_events("msg_502").await.unwrap().len(), 1);
    let counts = s.store.counts().await.unwrap();
    assert_eq!(counts.get("queued"), Some(&1), "{counts:?}");

    // A worker takes the batch's job once its backoff ran out and judges line 2.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let opts = WorkerOptions {
        poll: Duration::from_millis(50),
        retry: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(100),
        },
        ..WorkerOptions::default()
    };
    let handler = Arc::new(PolicyEventJobs {
        store: s.store.clone(),
        sink: sink.clone(),
        metrics: s.metrics.clone(),
    });
    let worker = tokio::spawn(run_worker(
        "w-1".into(),
        s.store.clone(),
        handler,
        s.metrics.clone(),
        opts.clone(),
        Arc::new(tokio::sync::Notify::new()),
        stop_rx,
    ));
    wait_for("line 2 judged", || sink.applied().len() == 3).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let c = s.store.counts().await.unwrap();
        if c.get("done") == Some(&1) {
            break;
        }
        assert!(Instant::now() < deadline, "the job never completed: {c:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.store.pending_events("msg_502").await.unwrap().is_empty());
    let values: Vec<f64> = sink.applied().iter().map(|(v, _)| *v).collect();
    assert_eq!(values, vec![1.0, 3.0, 2.0]);

    // An event that always fails: retried, then parked and shown.
    *sink.fail_times.lock().unwrap() = u32::MAX;
    let mut body = batch(2);
    body = body.replace("\"value\":1.0", "\"value\":2.0");
    let r = request(&s.url, "msg_bad", Utc::now().timestamp(), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let deadline = Instant::now() + PATIENCE;
    let parked = loop {
        let p = s.store.parked().await.unwrap();
        if !p.is_empty() {
            break p;
        }
        assert!(Instant::now() < deadline, "never parked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(parked[0].delivery_id, "meta:msg_bad");
    assert_eq!(parked[0].event, "policy_events");
    let last = parked[0].last_error.as_deref().unwrap_or("");
    assert!(
        last.contains("not judged") && last.contains("502"),
        "{last}"
    );
    let metrics = s.metrics.encode();
    assert!(
        metrics.contains("patchgate_jobs_parked_total{event=\"policy_events\"} 1"),
        "{metrics}"
    );
    let _ = stop_tx.send(true);
    let _ = worker.await;
}
