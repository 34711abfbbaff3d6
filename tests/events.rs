//! Policy events in: the store's event tables on both backends (SQLite in a temporary directory
//! and the real PostgreSQL at `postgres://postgres@127.0.0.1:5432/test`, overridable with
//! `PATCHGATE_TEST_DATABASE_URL`, one schema per test — these tests never skip), and
//! `POST /webhook/meta` served on a real listener on 127.0.0.1 with a recording sink: signed
//! events applied, forged, stale and replayed ones refused with nothing applied, NDJSON with a
//! malformed line, a stream read line by line before its end, and the `patchgate event` client.

use crate::support::pg;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use patchgate::policy::send::{event_from_args, send};
use patchgate::policy::signing::{sign, EventsSecret};
use patchgate::policy::PolicyEvent;
use patchgate::rollback::sink::{Applied, EventSink};
use patchgate::server::events::{events_routes, EventsState};
use patchgate::server::metrics::Metrics;
use patchgate::store::Store;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// ---------------------------------------------------------------------------------------------
// Store, on both backends.

use pg::Fixture;

both_backends!(
    "evtest";
    webhook_ids_are_claimed_once_and_durably,
    events_are_stored_judged_and_counted,
);

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0).unwrap()
}

fn ev(commit: &str, metric: &str, value: f64, at: i64) -> PolicyEvent {
    PolicyEvent {
        repo: "o/r".into(),
        commit: commit.into(),
        metric: metric.into(),
        value,
        at: t(at),
        check: None,
    }
}

async fn webhook_ids_are_claimed_once_and_durably(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    assert!(s.claim_webhook_id("msg_1", t(0)).await.unwrap());
    assert!(!s.claim_webhook_id("msg_1", t(1)).await.unwrap());
    // Another process (a restart, another replica) sees it too.
    let s2 = f.open().await;
    assert!(!s2.claim_webhook_id("msg_1", t(60)).await.unwrap());
    assert!(s2.claim_webhook_id("msg_2", t(60)).await.unwrap());
    // Still remembered well past the 5-minute window on either side…
    assert!(!s.claim_webhook_id("msg_1", t(14 * 60)).await.unwrap());
    // …and pruned after the retention, when its timestamp would be refused anyway.
    assert!(s.claim_webhook_id("msg_3", t(16 * 60)).await.unwrap());
    assert!(s.claim_webhook_id("msg_1", t(16 * 60)).await.unwrap());
    // A released id (nothing of its request applied) may be claimed again.
    s.release_webhook_id("msg_3").await.unwrap();
    assert!(s.claim_webhook_id("msg_3", t(16 * 60)).await.unwrap());
    assert!(s.claim_webhook_id("", t(0)).await.is_err());
}

async fn events_are_stored_judged_and_counted(f: &Fixture, _backend: &str) {
    let s = f.open().await;
    let parent = "aaaaaaa1";
    let merge = "bbbbbbb2";
    // Baseline on the parent: the latest measurement wins, whatever the insertion order.
    s.insert_policy_event(&ev(parent, "latency", 200.0, 10), Some("msg_a"), t(11))
        .await
        .unwrap();
    s.insert_policy_event(&ev(parent, "latency", 190.0, 5), Some("msg_b"), t(12))
        .await
        .unwrap();
    assert_eq!(
        s.metric_value_at("o/r", parent, "latency").await.unwrap(),
        Some(200.0)
    );
    assert_eq!(
        s.metric_value_at("o/r", &parent.to_uppercase(), "latency")
            .await
            .unwrap(),
        Some(200.0)
    );
    assert_eq!(s.metric_value_at("o/r", parent, "cov").await.unwrap(), None);
    assert_eq!(
        s.metric_value_at("o/x", parent, "latency").await.unwrap(),
        None
    );

    let mut ci = ev(merge, "ci", 0.0, 20);
    ci.check = Some("build".into());
    let r1 = s
        .insert_policy_event(&ev(merge, "latency", 300.0, 30), Some("msg_c"), t(31))
        .await
        .unwrap();
    let r2 = s
        .insert_policy_event(&ev(merge, "latency", 310.0, 40), None, t(41))
        .await
        .unwrap();
    let r3 = s
        .insert_policy_event(&ci, Some("msg_d"), t(21))
        .await
        .unwrap();
    assert!(r1 < r2 && r2 < r3);
    // Not judged yet: attributed to no merge.
    assert!(s
        .events_for("o/r", merge, "latency")
        .await
        .unwrap()
        .is_empty());
    let violation = json!({"decision": "violation", "policy": "latency", "observed": 300.0,
        "limit": 250.0, "merge": merge, "count": 1, "needed": 2, "reason": "too slow"});
    let ok = json!({"decision": "ok", "reason": "fine"});
    s.set_event_decision(r1, Some(merge), &violation)
        .await
        .unwrap();
    s.set_event_decision(r2, Some(merge), &ok).await.unwrap();
    s.set_event_decision(
        r3,
        Some(merge),
        &json!({"decision": "revert", "reason": "red"}),
    )
    .await
    .unwrap();
    assert!(s.set_event_decision(9999, None, &ok).await.is_err());

    let got = s.events_for("o/r", merge, "latency").await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, r1);
    assert_eq!(got[0].event, ev(merge, "latency", 300.0, 30));
    assert_eq!(got[0].received_at, t(31));
    assert_eq!(got[0].merge_sha.as_deref(), Some(merge));
    assert_eq!(got[0].decision.as_ref(), Some(&violation));
    assert_eq!(got[0].webhook_id.as_deref(), Some("msg_c"));
    assert_eq!(got[1].webhook_id, None);
    let cis = s.events_for("o/r", merge, "ci").await.unwrap();
    assert_eq!(cis.len(), 1);
    assert_eq!(cis[0].event, ci);

    assert_eq!(s.violation_count("o/r", merge, "latency").await.unwrap(), 1);
    assert_eq!(s.violation_count("o/r", merge, "ci").await.unwrap(), 1);
    assert_eq!(
        s.violation_count("o/r", parent, "latency").await.unwrap(),
        0
    );
    // Re-deciding replaces the decision (and its count).
    s.set_event_decision(r1, Some(merge), &ok).await.unwrap();
    assert_eq!(s.violation_count("o/r", merge, "latency").await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// POST /webhook/meta on a real listener.

/// Records every applied event; attributes each to merge `m1`, with an audit hash for latency.
#[derive(Default)]
struct Recorder {
    applied: Mutex<Vec<(PolicyEvent, i64)>>,
}

impl Recorder {
    fn applied(&self) -> Vec<(PolicyEvent, i64)> {
        self.applied.lock().unwrap().clone()
    }
}

impl EventSink for Recorder {
    fn apply(
        &self,
        event: PolicyEvent,
        event_row: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Applied>> + Send + '_>>
    {
        Box::pin(async move {
            let audit_hash =
                (event.metric == "latency").then(|| format!("sha256:{:064x}", event_row));
            self.applied.lock().unwrap().push((event, event_row));
            Ok(Applied {
                decision: json!({"decision": "ok", "reason": format!("row {event_row}")}),
                audit_hash,
                merge_sha: Some("cccccccc".into()),
            })
        })
    }
}

struct Server {
    url: String,
    store: Store,
    sink: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

async fn server_with(hook: Option<patchgate::server::events::LineHook>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    let sink = Arc::new(Recorder::default());
    let mut state = EventsState::new(
        store.clone(),
        EventsSecret::parse(SECRET).unwrap(),
        sink.clone(),
        Metrics::new(),
    );
    state.on_line = hook;
    let app = events_routes(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        url: format!("http://{addr}/webhook/meta"),
        store,
        sink,
        _dir: dir,
    }
}

async fn server() -> Server {
    server_with(None).await
}

fn line(commit: &str, metric: &str, value: f64) -> String {
    json!({"repo": "o/r", "commit": commit, "metric": metric, "value": value,
        "at": "2026-01-02T03:04:05Z"})
    .to_string()
}

struct Reply {
    status: u16,
    audit: Option<String>,
    json: Value,
}

/// POST `body` with the given id, timestamp and signature.
async fn post_raw(url: &str, ct: &str, id: &str, ts: i64, sig: &str, body: Vec<u8>) -> Reply {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", ct)
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let audit = r
        .headers()
        .get("x-audit-hash")
        .map(|v| v.to_str().unwrap().to_string());
    let json = r.json().await.unwrap();
    Reply {
        status,
        audit,
        json,
    }
}

/// POST `body` signed correctly, with `id`, `age` seconds old.
async fn post_signed(url: &str, ct: &str, id: &str, age: i64, body: &str) -> Reply {
    let ts = Utc::now().timestamp() - age;
    let secret = EventsSecret::parse(SECRET).unwrap();
    let sig = sign(&secret, id, ts, body.as_bytes());
    post_raw(url, ct, id, ts, &sig, body.as_bytes().to_vec()).await
}

#[tokio::test]
async fn a_signed_event_is_stored_applied_and_judged() {
    let s = server().await;
    let r = post_signed(
        &s.url,
        "application/json",
        "msg_one",
        0,
        &line("abcdef1", "latency", 212.0),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["accepted"], 1);
    assert_eq!(r.json["rejected"], json!([]));
    assert_eq!(r.json["decisions"][0]["line"], 1);
    assert_eq!(r.json["decisions"][0]["decision"]["decision"], "ok");
    let applied = s.sink.applied();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].0.value, 212.0);
    assert_eq!(r.audit, Some(format!("sha256:{:064x}", applied[0].1)));
    // Stored, with the sink's decision recorded.
    let stored = s
        .store
        .events_for("o/r", "cccccccc", "latency")
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].webhook_id.as_deref(), Some("msg_one"));
    assert_eq!(stored[0].decision.as_ref().unwrap()["decision"], "ok");
    // A pretty-printed single event is one event too; no audit hash without an attributed record.
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<Value>(&line("abcdef2", "cov", 80.0)).unwrap(),
    )
    .unwrap();
    let r = post_signed(&s.url, "application/json", "msg_pretty", 0, &pretty).await;
    assert_eq!(
        (r.status, r.json["accepted"].clone()),
        (200, json!(1)),
        "{}",
        r.json
    );
    assert_eq!(r.audit, None);
}

#[tokio::test]
async fn a_bad_signature_or_missing_header_is_401_and_stores_nothing() {
    let s = server().await;
    let body = line("abcdef1", "latency", 999.0);
    let other = EventsSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let ts = Utc::now().timestamp();
    let sig = sign(&other, "msg_bad", ts, body.as_bytes());
    let r = post_raw(
        &s.url,
        "application/json",
        "msg_bad",
        ts,
        &sig,
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(
        r.json["error"].as_str().unwrap().contains("does not match"),
        "{}",
        r.json
    );
    assert!(!r.json.to_string().contains("MfKQ"));
    let r = post_raw(
        &s.url,
        "application/json",
        "msg_bad2",
        ts,
        "v1a,xyz",
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(
        r.json["error"].as_str().unwrap().contains("v1"),
        "{}",
        r.json
    );
    let resp = reqwest::Client::new()
        .post(&s.url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let j: Value = resp.json().await.unwrap();
    assert_eq!(j["error"], "missing webhook-id header");
    assert!(s.sink.applied().is_empty());
    assert_eq!(
        s.store
            .metric_value_at("o/r", "abcdef1", "latency")
            .await
            .unwrap(),
        None
    );
    // The refused id was not burnt: the genuine sender can still use it.
    let r = post_signed(
        &s.url,
        "application/json",
        "msg_bad",
        0,
        &line("abcdef1", "latency", 1.0),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn a_six_minute_old_timestamp_is_refused() {
    let s = server().await;
    let r = post_signed(
        &s.url,
        "application/json",
        "msg_old",
        360,
        &line("abcdef1", "latency", 1.0),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(
        r.json["error"].as_str().unwrap().contains("old"),
        "{}",
        r.json
    );
    let r = post_signed(
        &s.url,
        "application/json",
        "msg_new",
        -360,
        &line("abcdef1", "latency", 1.0),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(
        r.json["error"].as_str().unwrap().contains("future"),
        "{}",
        r.json
    );
    assert!(s.sink.applied().is_empty());
    // Four minutes is inside the window.
    let r = post_signed(
        &s.url,
        "application/json",
        "msg_ok",
        240,
        &line("abcdef1", "latency", 1.0),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_replayed_webhook_id_is_409_and_applies_nothing_twice() {
    let s = server().await;
    let body = line("abcdef1", "latency", 5.0);
    let ts = Utc::now().timestamp();
    let sig = sign(
        &EventsSecret::parse(SECRET).unwrap(),
        "msg_twice",
        ts,
        body.as_bytes(),
    );
    let first = post_raw(
        &s.url,
        "application/json",
        "msg_twice",
        ts,
        &sig,
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(first.status, 200);
    // The captured request, byte for byte.
    let again = post_raw(
        &s.url,
        "application/json",
        "msg_twice",
        ts,
        &sig,
        body.into_bytes(),
    )
    .await;
    assert_eq!(again.status, 409);
    assert!(
        again.json["error"]
            .as_str()
            .unwrap()
            .contains("already seen"),
        "{}",
        again.json
    );
    assert_eq!(s.sink.applied().len(), 1);
}

#[tokio::test]
async fn ndjson_with_a_malformed_line_applies_the_others_and_numbers_it() {
    let s = server().await;
    let body = format!(
        "{}\n{{\"repo\":\"o/r\",\"commit\":\"zzz\"}}\n\n{}\n",
        line("abcdef1", "latency", 1.0),
        line("abcdef2", "cov", 2.0)
    );
    let r = post_signed(&s.url, "application/x-ndjson", "msg_nd", 0, &body).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["accepted"], 2);
    let rejected = r.json["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 2);
    assert!(
        rejected[0]["error"].as_str().unwrap().contains("malformed"),
        "{}",
        r.json
    );
    let lines: Vec<_> = r.json["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["line"].clone())
        .collect();
    assert_eq!(lines, vec![json!(1), json!(4)]);
    let applied: Vec<f64> = s.sink.applied().iter().map(|(e, _)| e.value).collect();
    assert_eq!(applied, vec![1.0, 2.0]);
    // The audit hash is the last attributed one's (line 1: latency; line 4 has none).
    assert_eq!(
        r.audit,
        Some(format!("sha256:{:064x}", s.sink.applied()[0].1))
    );
    // application/json with several lines is NDJSON too.
    let two = format!(
        "{}\n{}",
        line("abcdef3", "cov", 3.0),
        line("abcdef4", "cov", 4.0)
    );
    let r = post_signed(&s.url, "application/json", "msg_nd2", 0, &two).await;
    assert_eq!(r.json["accepted"], 2, "{}", r.json);
}

#[tokio::test]
async fn a_forged_ndjson_stream_applies_nothing() {
    let s = server().await;
    let body = format!(
        "{}\n{}\n",
        line("abcdef1", "latency", 1.0),
        line("abcdef2", "latency", 2.0)
    );
    let ts = Utc::now().timestamp();
    // Signed over another body: right headers, wrong signature.
    let sig = sign(
        &EventsSecret::parse(SECRET).unwrap(),
        "msg_forged",
        ts,
        b"something else",
    );
    let r = post_raw(
        &s.url,
        "application/x-ndjson",
        "msg_forged",
        ts,
        &sig,
        body.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.json["error"]
        .as_str()
        .unwrap()
        .contains("nothing was applied"));
    assert!(s.sink.applied().is_empty());
    assert_eq!(
        s.store
            .metric_value_at("o/r", "abcdef1", "latency")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let s = server().await;
    let body = vec![b' '; 25 * 1024 * 1024 + 1];
    let ts = Utc::now().timestamp();
    let sig = sign(&EventsSecret::parse(SECRET).unwrap(), "msg_big", ts, &body);
    let r = reqwest::Client::new()
        .post(&s.url)
        .header("content-type", "application/x-ndjson")
        .header("webhook-id", "msg_big")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await;
    // The server may answer before it has read the whole body and close the connection.
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    assert!(s.sink.applied().is_empty());
}

/// A chunked request written by hand on a socket: each line is sent only after the server
/// reported (through the line hook) that it had parsed the previous one — so the server must
/// read, split and parse the body before it ends, or this test times out.
#[tokio::test]
async fn a_slow_stream_is_parsed_line_by_line_before_it_ends() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let s = server_with(Some(Arc::new(move |n| {
        let _ = tx.send(n);
    })))
    .await;
    let lines = [
        line("abcdef1", "latency", 1.0),
        "not json".to_string(),
        line("abcdef3", "latency", 3.0),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let ts = Utc::now().timestamp();
    let sig = sign(
        &EventsSecret::parse(SECRET).unwrap(),
        "msg_slow",
        ts,
        body.as_bytes(),
    );
    let addr = s
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/webhook/meta")
        .to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /webhook/meta HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-ndjson\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\nwebhook-id: msg_slow\r\n\
         webhook-timestamp: {ts}\r\nwebhook-signature: {sig}\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    for (i, l) in lines.iter().enumerate() {
        // Split each line over two chunks, the newline in the second.
        let (a, b) = l.split_at(l.len() / 2);
        for part in [a.to_string(), format!("{b}\n")] {
            sock.write_all(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes())
                .await
                .unwrap();
            sock.flush().await.unwrap();
        }
        let seen = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the server did not parse the line before the body ended")
            .unwrap();
        assert_eq!(seen, i + 1);
        // Parsed, but nothing applied before the signature at the end.
        assert!(s.sink.applied().is_empty());
    }
    sock.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    sock.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["rejected"][0]["line"], 2);
    assert_eq!(s.sink.applied().len(), 2);
}

#[tokio::test]
async fn the_event_client_round_trips() {
    let s = server().await;
    let secret = EventsSecret::parse(SECRET).unwrap();
    let e = event_from_args("o/r", "abcdef1", "latency", 250.0, None, None).unwrap();
    let out = send(&s.url, &secret, serde_json::to_vec(&e).unwrap(), false)
        .await
        .unwrap();
    assert!(out.is_success(), "{out:?}");
    assert!(out.webhook_id.starts_with("msg_"));
    let applied = s.sink.applied();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].0, e);
    assert_eq!(
        out.audit_hash,
        Some(format!("sha256:{:064x}", applied[0].1))
    );
    let j: Value = serde_json::from_str(&out.body).unwrap();
    assert_eq!(j["accepted"], 1);
    // NDJSON, and a wrong secret.
    let ci = event_from_args(
        "o/r",
        "abcdef2",
        "ci",
        0.0,
        Some("2026-01-02T03:04:05Z"),
        Some("build"),
    )
    .unwrap();
    let body = format!(
        "{}\n{}\n",
        serde_json::to_string(&e).unwrap(),
        serde_json::to_string(&ci).unwrap()
    );
    let out = send(&s.url, &secret, body.clone().into_bytes(), true)
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&out.body).unwrap()["accepted"],
        2
    );
    let wrong = EventsSecret::parse("another-secret-of-enough-length").unwrap();
    let out = send(&s.url, &wrong, body.into_bytes(), true).await.unwrap();
    assert_eq!(out.status, 401);
    assert_eq!(s.sink.applied().len(), 3);
}

#[test]
fn the_standard_webhooks_reference_vector() {
    let secret = EventsSecret::parse(SECRET).unwrap();
    assert_eq!(
        sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    patchgate::policy::signing::verify(
        &secret,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        br#"{"test": 2432232314}"#,
        1614265330,
    )
    .unwrap();
}
