//! Per-peer budgets of the listener and the webhook route (issue #18: one hostile address must
//! not starve the others), on loopback with several source addresses (`127.0.0.2`,
//! `127.0.0.3`, … are all this host on Linux): one peer holds its whole share of connections,
//! requests or body bytes, and another peer is still served; behind a trusted proxy the share
//! is the client's named in `X-Forwarded-For`, and a forged header from anyone else changes
//! nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use patchgate::server::intake::{
    github_routes, limit_webhooks, Enqueuer, IntakeState, ListenerLimits, WebhookSecret,
    MAX_BODY_BYTES,
};
use patchgate::server::listen::{serve_http, ConnLimits, ConnStats};
use patchgate::server::metrics::{ops_routes, Metrics, ReadyFlag};
use patchgate::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const SECRET: &str = "peer test secret: not a real one";

fn sign(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn fixture() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/github/webhooks/pull_request.opened.json");
    std::fs::read(p).unwrap()
}

/// A connection to `addr` from the loopback address `from` (e.g. `127.0.0.2`).
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    sock.connect(addr).await.unwrap()
}

struct Served {
    addr: SocketAddr,
    stats: Arc<ConnStats>,
    store: Store,
    _dir: tempfile::TempDir,
}

/// The webhook route under `limits` (as `serve` has it), the operator routes beside it, served
/// by [`serve_http`] with `conn`; the probe lane answers everything `503 probe lane`, so a `200`
/// proves the main lane served it.
async fn served(limits: ListenerLimits, conn: ConnLimits) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    let metrics = Metrics::new();
    let state = IntakeState {
        metrics: metrics.clone(),
        secret: WebhookSecret::try_from(SECRET.to_string()).unwrap(),
        queue: Enqueuer::start(store.clone(), 64, metrics.clone()),
    };
    let app = limit_webhooks(github_routes(state), &limits).merge(ops_routes(
        store.clone(),
        metrics,
        ReadyFlag::new(),
    ));
    let probes = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "probe lane\n") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(ConnStats::default());
    let s = stats.clone();
    tokio::spawn(async move {
        serve_http(listener, app, probes, conn, s, std::future::pending()).await
    });
    Served {
        addr,
        stats,
        store,
        _dir: dir,
    }
}

fn conn_limits(general: usize, probes: usize, per_peer: usize) -> ConnLimits {
    ConnLimits {
        general,
        probes,
        header_timeout: Duration::from_secs(5),
        shutdown_deadline: Duration::from_secs(5),
        per_peer,
        trusted_proxies: Vec::new(),
    }
}

/// Read one response: status and body (by `content-length`).
async fn response(conn: &mut (impl AsyncReadExt + Unpin)) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return (
                    text[9..12].parse().unwrap(),
                    text[end + 4..end + 4 + len].to_string(),
                );
            }
        }
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a full response: {text:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A request in flight: its reading half, and the task writing its body (which keeps the
/// writing half open until dropped, so the server never sees the body end early).
struct InFlight {
    rx: tokio::net::tcp::OwnedReadHalf,
    writer: tokio::task::JoinHandle<()>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

impl InFlight {
    async fn answer(&mut self) -> (u16, String) {
        tokio::time::timeout(Duration::from_secs(10), response(&mut self.rx))
            .await
            .expect("an answer within 10 s")
    }
}

/// A delivery from `from` whose head and first `sent` bytes are written (in the background: a
/// server that refuses the body need not read it); the rest never comes. Signed when `signed`,
/// else with a wrong signature (`401` once admitted). `xff` adds `X-Forwarded-For`.
async fn send(
    from: &str,
    addr: SocketAddr,
    delivery: &str,
    body: &[u8],
    sent: usize,
    signed: bool,
    xff: Option<&str>,
) -> InFlight {
    let conn = connect_from(from, addr).await;
    let xff = xff
        .map(|v| format!("x-forwarded-for: {v}\r\n"))
        .unwrap_or_default();
    let sig = if signed {
        sign(body)
    } else {
        format!("sha256={}", "0".repeat(64))
    };
    let head = format!(
        "POST /webhook/github HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         x-github-event: pull_request\r\nx-github-delivery: {delivery}\r\n{xff}\
         x-hub-signature-256: {sig}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let (rx, mut tx) = conn.into_split();
    tx.write_all(head.as_bytes()).await.unwrap();
    let bytes = body[..sent].to_vec();
    let writer = tokio::spawn(async move {
        if tx.write_all(&bytes).await.is_ok() {
            let _ = tx.flush().await;
            std::future::pending::<()>().await;
        }
    });
    InFlight { rx, writer }
}

/// A held request: `sent` bytes of a signed delivery, the rest never sent.
async fn partial(
    from: &str,
    addr: SocketAddr,
    delivery: &str,
    body: &[u8],
    sent: usize,
    xff: Option<&str>,
) -> InFlight {
    send(from, addr, delivery, body, sent, true, xff).await
}

/// A whole signed delivery from `from`: its status and answer.
async fn deliver(
    from: &str,
    addr: SocketAddr,
    delivery: &str,
    body: &[u8],
    xff: Option<&str>,
) -> (u16, String) {
    send(from, addr, delivery, body, body.len(), true, xff)
        .await
        .answer()
        .await
}

/// One GET from `from` on a fresh connection: the status, `None` when closed unanswered.
async fn get_from(from: &str, addr: SocketAddr, path: &str) -> Option<u16> {
    let attempt = async {
        let mut c = connect_from(from, addr).await;
        c.write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.ok()?;
        String::from_utf8_lossy(&out).get(9..12)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

/// Send wrongly signed requests of `len` body bytes from `from` until one is shed (`503`; an
/// admitted one is `401` and queues nothing), so a test waits for what it holds to be in
/// flight without guessing how long that takes. Returns the `503`'s text.
async fn until_shed(from: &str, addr: SocketAddr, xff: Option<&str>, len: usize) -> String {
    let body = vec![b' '; len];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = send(from, addr, "probe", &body, len, false, xff)
            .await
            .answer()
            .await;
        if status == 503 {
            return text;
        }
        assert_eq!(status, 401, "{text}");
        assert!(Instant::now() < deadline, "never shed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One address opens 40 silent connections against a main lane of 20: before, it took the
/// whole lane and the probe lane, and every other address was closed at once or served only
/// the probe routes. Now it holds its share (5) of the main lane and of the probe lane (1); its
/// further connections are closed at once, and another address is served by the main lane.
#[tokio::test]
async fn one_peer_holding_its_connections_leaves_the_main_lane_to_others() {
    let s = served(ListenerLimits::default(), conn_limits(20, 4, 5)).await;
    let mut hostile = Vec::new();
    for _ in 0..40 {
        hostile.push(connect_from("127.0.0.2", s.addr).await);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.stats.refused_peer.load(Ordering::Relaxed) < 34 {
        assert!(
            Instant::now() < deadline,
            "the peer's extra connections stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.stats.refused.load(Ordering::Relaxed), 0);
    // 5 in the main lane, 1 in the probe lane (the same quarter of it), 34 closed at once.
    assert_eq!(s.stats.probe_lane.load(Ordering::Relaxed), 1);
    assert_eq!(get_from("127.0.0.3", s.addr, "/healthz").await, Some(200));
    let (status, text) = deliver("127.0.0.3", s.addr, "other-1", &fixture(), None).await;
    assert_eq!(status, 202, "{text}");
    drop(hostile);
}

/// One address holds its share of the webhook requests in flight (2 here, of 3): its next
/// request is shed with `503`, and another address's delivery is queued. Before, the hostile
/// address took the third slot too and the delivery was shed.
#[tokio::test]
async fn one_peer_holding_its_requests_leaves_room_for_another_peer() {
    let limits = ListenerLimits {
        max_in_flight: 3,
        max_in_flight_per_peer: 2,
        ..ListenerLimits::default()
    };
    let s = served(limits, conn_limits(64, 4, 64)).await;
    let body = fixture();
    let mut held = Vec::new();
    for i in 0..2 {
        held.push(partial("127.0.0.2", s.addr, &format!("h-{i}"), &body, 10, None).await);
    }
    let text = until_shed("127.0.0.2", s.addr, None, 2).await;
    assert_eq!(
        text,
        "too many webhook requests from one address in flight; redeliver later\n"
    );
    let (status, text) = deliver("127.0.0.3", s.addr, "other-1", &body, None).await;
    assert_eq!(status, 202, "{text}");
    assert_eq!(s.store.counts().await.unwrap().values().sum::<i64>(), 1);
    drop(held);
}

/// One address's bodies hold its share of the body bytes (25 MiB of a 50 MiB budget): its
/// second big body is shed at the share, and another address's 8 MiB delivery is queued.
/// Before, its two bodies held 48 of the 50 MiB and the delivery was shed.
#[tokio::test]
async fn one_peer_holding_its_body_bytes_leaves_room_for_another_peer() {
    // Reading 24 MiB through a debug build on a loaded 2-core machine can take seconds: the
    // body timeout (default 10 s) must not end the held body before the test has seen it shed.
    let limits = ListenerLimits {
        max_body_bytes_in_flight: 2 * MAX_BODY_BYTES,
        max_body_bytes_per_peer: MAX_BODY_BYTES,
        body_timeout: Duration::from_secs(120),
        request_timeout: Duration::from_secs(120),
        ..ListenerLimits::default()
    };
    let s = served(limits, conn_limits(64, 4, 64)).await;
    let big = vec![b' '; 24 * 1024 * 1024];
    let first = partial("127.0.0.2", s.addr, "big-1", &big, big.len() - 10, None).await;
    // The first body has arrived when 1.5 MiB more from the same address is shed.
    let text = until_shed("127.0.0.2", s.addr, None, 1536 * 1024).await;
    assert_eq!(
        text,
        "too many webhook body bytes in flight; redeliver later\n"
    );
    let (status, _) = partial("127.0.0.2", s.addr, "big-2", &big, big.len() - 10, None)
        .await
        .answer()
        .await;
    assert_eq!(
        status, 503,
        "the second big body is shed at the peer's share"
    );
    let mut payload: serde_json::Value = serde_json::from_slice(&fixture()).unwrap();
    payload["padding"] = serde_json::Value::String("x".repeat(8 * 1024 * 1024));
    let body = serde_json::to_vec(&payload).unwrap();
    let (status, text) = deliver("127.0.0.3", s.addr, "other-1", &body, None).await;
    assert_eq!(status, 202, "{text}");
    drop(first);
}

/// Behind a trusted proxy (`127.0.0.2` here) every request comes from the proxy; each client
/// it names in `X-Forwarded-For` has its own share. A peer that is not a trusted proxy cannot
/// escape its share by forging the header.
#[tokio::test]
async fn behind_a_trusted_proxy_the_share_is_the_forwarded_clients() {
    let limits = ListenerLimits {
        max_in_flight_per_peer: 1,
        trusted_proxies: vec!["127.0.0.2".parse().unwrap()],
        ..ListenerLimits::default()
    };
    let mut conn = conn_limits(64, 4, 3);
    conn.trusted_proxies = limits.trusted_proxies.clone();
    let s = served(limits, conn).await;
    let body = fixture();
    // Through the proxy: clients .1, .5 and .6 each hold their one request; client .2 is still
    // served, and the proxy's 4 connections are not held to the per-peer cap of 3.
    let mut held = Vec::new();
    for (i, client) in ["198.51.100.1", "198.51.100.5", "198.51.100.6"]
        .iter()
        .enumerate()
    {
        held.push(
            partial(
                "127.0.0.2",
                s.addr,
                &format!("a{i}"),
                &body,
                10,
                Some(client),
            )
            .await,
        );
    }
    let text = until_shed("127.0.0.2", s.addr, Some("198.51.100.1"), 2).await;
    assert!(text.contains("from one address"), "{text}");
    let (status, text) = deliver(
        "127.0.0.2",
        s.addr,
        "b",
        &body,
        Some("203.0.113.9, 198.51.100.2"),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    // Not a trusted proxy: the header is ignored; the peer's one request is its share.
    let c = partial("127.0.0.3", s.addr, "c", &body, 10, Some("198.51.100.3")).await;
    let text = until_shed("127.0.0.3", s.addr, Some("198.51.100.4"), 2).await;
    assert!(text.contains("from one address"), "{text}");
    assert_eq!(s.stats.refused_peer.load(Ordering::Relaxed), 0);
    drop((held, c));
}
