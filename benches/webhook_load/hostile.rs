//! Hostile connections for `webhook_load --hostile`: while the genuine deliveries run, clients
//! from other loopback addresses (`127.0.0.2` … `127.0.0.9`, so the per-peer limits apply as
//! they would to several attackers) keep up, each in a loop that reconnects whenever the
//! server closes it:
//! - **slowloris**: a request head dripped one byte a second, never finished;
//! - **slow bodies**: a complete head declaring the fixture's length, then one body byte every
//!   500 ms (wrongly signed, so one that ever finished would be refused, never queued);
//! - **idle keep-alives**: one `GET /healthz`, then silence;
//! - **liars**: a head declaring a 25 MiB body, one byte sent, then silence;
//! - **garbage**: bytes that are not HTTP, at a steady rate, each on a new connection.
//!
//! Counts of what the server did to them (closed, answered) are printed at the end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How many hostile clients of each kind, and the garbage rate.
#[derive(Debug, Clone)]
pub struct Mix {
    pub slowloris: usize,
    pub slow_bodies: usize,
    pub idle: usize,
    pub liars: usize,
    /// Garbage connections opened per second.
    pub garbage_per_s: u64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            slowloris: 200,
            slow_bodies: 50,
            idle: 200,
            liars: 50,
            garbage_per_s: 50,
        }
    }
}

/// What the hostile clients saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Connections opened.
    pub connects: AtomicU64,
    /// Connections the server closed (or reset) under a hostile client.
    pub closed: AtomicU64,
    /// Connections that could not be opened.
    pub connect_errors: AtomicU64,
    /// Answers read (`408`, `400`, `200` of the idle client's probe, …).
    pub answers: AtomicU64,
}

/// The hostile clients, running until dropped.
pub struct Hostile {
    stop: Arc<AtomicBool>,
    tasks: tokio::task::JoinSet<()>,
    pub seen: Arc<Seen>,
}

impl Hostile {
    pub async fn stop(mut self) -> Arc<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.seen.clone()
    }
}

const SOURCES: u8 = 8;

/// Start `mix` against `addr` (on the current runtime).
pub fn start(addr: SocketAddr, mix: &Mix, body_len: usize) -> Hostile {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0u8;
    let mut next_source = || {
        n = n.wrapping_add(1);
        format!("127.0.0.{}", 2 + n % SOURCES)
    };
    let kinds: [(usize, Kind); 4] = [
        (mix.slowloris, Kind::Slowloris),
        (mix.slow_bodies, Kind::SlowBody(body_len)),
        (mix.idle, Kind::Idle),
        (mix.liars, Kind::Liar),
    ];
    for (count, kind) in kinds {
        for _ in 0..count {
            let (from, stop, seen) = (next_source(), stop.clone(), seen.clone());
            tasks.spawn(client(addr, from, kind, stop, seen));
        }
    }
    if let Some(micros) = 1_000_000u64.checked_div(mix.garbage_per_s) {
        let (stop, seen, every) = (
            stop.clone(),
            seen.clone(),
            Duration::from_micros(micros.max(1)),
        );
        let from = next_source();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                i += 1;
                let (from, seen) = (from.clone(), seen.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        garbage(addr, &from, i, &seen),
                    )
                    .await;
                });
            }
        });
    }
    Hostile { stop, tasks, seen }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Slowloris,
    SlowBody(usize),
    Idle,
    Liar,
}

async fn connect(addr: SocketAddr, from: &str, seen: &Seen) -> Option<TcpStream> {
    let sock = TcpSocket::new_v4().ok()?;
    sock.bind(format!("{from}:0").parse().ok()?).ok()?;
    match tokio::time::timeout(Duration::from_secs(2), sock.connect(addr)).await {
        Ok(Ok(c)) => {
            seen.connects.fetch_add(1, Ordering::Relaxed);
            Some(c)
        }
        _ => {
            seen.connect_errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// One hostile client of `kind`, reconnecting each time the server closes it.
async fn client(
    addr: SocketAddr,
    from: String,
    kind: Kind,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Some(conn) = connect(addr, &from, &seen).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let (mut rx, mut tx) = conn.into_split();
        let feed = async {
            match kind {
                Kind::Slowloris => {
                    let head = b"POST /webhook/github HTTP/1.1\r\nhost: x\r\nx-pad: ";
                    tx.write_all(head).await?;
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        tx.write_all(b"a").await?;
                    }
                }
                Kind::SlowBody(len) => {
                    let head = format!(
                        "POST /webhook/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                         x-github-event: pull_request\r\nx-github-delivery: hostile\r\n\
                         x-hub-signature-256: sha256={}\r\ncontent-length: {len}\r\n\r\n",
                        "0".repeat(64)
                    );
                    tx.write_all(head.as_bytes()).await?;
                    loop {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        tx.write_all(b" ").await?;
                    }
                }
                Kind::Idle => {
                    tx.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                        .await?;
                    std::future::pending::<()>().await;
                    Ok::<(), std::io::Error>(())
                }
                Kind::Liar => {
                    let head = format!(
                        "POST /webhook/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                         x-github-event: pull_request\r\nx-github-delivery: liar\r\n\
                         x-hub-signature-256: sha256={}\r\ncontent-length: {}\r\n\r\n{{",
                        "0".repeat(64),
                        25 * 1024 * 1024
                    );
                    tx.write_all(head.as_bytes()).await?;
                    std::future::pending::<()>().await;
                    Ok(())
                }
            }
        };
        // Read until the server closes; count answers (a response head each).
        let drain = async {
            let mut buf = [0u8; 4096];
            loop {
                match rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let answers = buf[..n].windows(5).filter(|w| w == b"HTTP/").count();
                        seen.answers.fetch_add(answers as u64, Ordering::Relaxed);
                    }
                }
            }
        };
        tokio::select! {
            _ = feed => {}
            _ = drain => {}
        }
        seen.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// One connection of bytes that are not HTTP; read whatever the server says until it closes.
async fn garbage(addr: SocketAddr, from: &str, i: u64, seen: &Seen) {
    let Some(mut c) = connect(addr, from, seen).await else {
        return;
    };
    // Deterministic junk: a different mix of control bytes and text each time.
    let junk: Vec<u8> = (0..512u64)
        .map(|k| (k.wrapping_mul(2654435761).wrapping_add(i * 97) >> 7) as u8)
        .collect();
    if c.write_all(&junk).await.is_err() {
        seen.closed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    if out.starts_with(b"HTTP/") {
        seen.answers.fetch_add(1, Ordering::Relaxed);
    }
    seen.closed.fetch_add(1, Ordering::Relaxed);
}
