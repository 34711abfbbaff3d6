//! The listener under hostile connections, on loopback, with bounded waits: connections that
//! send nothing, drip a request head, or sit idle after a request are closed within the header
//! timeout; a liveness probe answers while silent connections fill the connection cap (also
//! with the real binary at a low open-file limit); SIGTERM ends the real binary within its
//! deadline although a client holds a partial request head.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchgate::server::listen::{serve_http, ConnLimits, ConnStats};
use patchgate::server::metrics::{ops_routes, Metrics, ReadyFlag};
use patchgate::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct InProcess {
    addr: std::net::SocketAddr,
    stats: Arc<ConnStats>,
    _dir: tempfile::TempDir,
}

/// The operator routes behind [`serve_http`] with `limits`.
async fn in_process(limits: ConnLimits) -> InProcess {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    let app = ops_routes(store, Metrics::new(), ReadyFlag::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(ConnStats::default());
    let s = stats.clone();
    tokio::spawn(async move {
        serve_http(
            listener,
            app.clone(),
            app,
            limits,
            s,
            std::future::pending(),
        )
        .await
    });
    InProcess {
        addr,
        stats,
        _dir: dir,
    }
}

fn limits(general: usize, probes: usize, header_secs: u64) -> ConnLimits {
    ConnLimits {
        general,
        probes,
        header_timeout: Duration::from_secs(header_secs),
        shutdown_deadline: Duration::from_secs(5),
        // One peer (this host) opens every connection here: no per-peer share below the lane.
        per_peer: general,
        trusted_proxies: Vec::new(),
    }
}

/// Seconds until the server closes `conn` (reads until EOF or an error), at most `max`.
async fn closed_within(conn: &mut TcpStream, max: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(max, read)
        .await
        .ok()
        .map(|_| start.elapsed())
}

/// One GET on a fresh connection: the status, or `None` when the connection was closed or
/// did not answer within a second.
async fn get_status(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    let attempt = async {
        let mut c = TcpStream::connect(addr).await.ok()?;
        c.write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.ok()?;
        let text = String::from_utf8_lossy(&out);
        text.get(9..12)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let s = in_process(limits(64, 8, 1)).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let took = closed_within(&mut c, Duration::from_secs(5))
        .await
        .expect("a connection that sends nothing is never closed");
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn a_slowloris_head_is_cut_off_at_the_header_timeout() {
    let s = in_process(limits(64, 8, 1)).await;
    let c = TcpStream::connect(s.addr).await.unwrap();
    let (mut rx, mut tx) = c.into_split();
    // One byte of a never-ending head every 100 ms: each byte is "progress", the head never
    // completes.
    let drip = tokio::spawn(async move {
        let head = b"POST /webhook/github HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for b in head.iter().cycle() {
            if tx.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    drip.abort();
    assert!(closed.is_ok(), "a dripping head was never cut off");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let s = in_process(limits(64, 8, 1)).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    closed_within(&mut c, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection is never closed");
}

#[tokio::test]
async fn healthz_answers_while_silent_connections_fill_the_cap() {
    let s = in_process(limits(20, 4, 3)).await;
    let mut silent = Vec::new();
    for _ in 0..60 {
        silent.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // The probe lane's silent connections go after its short timeout; a probe then answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if get_status(s.addr, "/healthz").await == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "/healthz never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.stats.refused.load(Ordering::Relaxed) > 0);
    assert!(s.stats.probe_lane.load(Ordering::Relaxed) > 0);
    drop(silent);
}

// ---- the real binary ------------------------------------------------------------------------

struct Serve {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `patchgate serve` (intake only), under an open-file limit of `nofile` when given.
fn serve(extra: &[&str], nofile: Option<u32>) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_patchgate");
    let mut args: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "0",
        "--reconcile-interval",
        "0",
        "--redeliver-interval",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut cmd = match nofile {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin)
                .args(&args);
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.args(&args);
            c
        }
    };
    cmd.env("PATCHGATE_DATA_DIR", dir.path())
        .env("PATCHGATE_WEBHOOK_SECRET", "listen test secret")
        .env_remove("DATABASE_URL")
        .env_remove("PATCHGATE_EVENTS_SECRET")
        .env_remove("PATCHGATE_GITHUB_APP_ID")
        .env_remove("PATCHGATE_GITHUB_PRIVATE_KEY")
        .env_remove("PATCHGATE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("patchgate serve: listening on http://")
        .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
        .to_string();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    Serve {
        child,
        addr,
        _dir: dir,
    }
}

/// Issue #18, defect 4: SIGTERM while a client holds a partial request head. Before, the
/// process waited for that client forever; now it exits within the shutdown deadline (the
/// request timeout, 2 s here, plus a second).
#[tokio::test]
async fn sigterm_exits_within_its_deadline_while_a_client_holds_a_partial_head() {
    let mut s = serve(
        &["--request-timeout-secs", "2", "--body-timeout-secs", "1"],
        None,
    );
    let mut held = TcpStream::connect(&s.addr).await.unwrap();
    held.write_all(b"POST /webhook/github HTTP/1.1\r\nhost: x\r\nx-partial: ")
        .await
        .unwrap();
    // Keep the head "in progress" with a byte now and then, as a slow client would.
    let keep = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if held.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    unsafe {
        libc::kill(s.child.id() as i32, libc::SIGTERM);
    }
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "serve still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    keep.abort();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

/// Issue #18, defect 3, with the real binary and its default header timeout (10 s): a
/// connection that sends nothing is closed. Before, it stayed open for good.
#[tokio::test]
async fn the_binary_closes_a_silent_connection() {
    let s = serve(&[], None);
    let mut c = TcpStream::connect(&s.addr).await.unwrap();
    closed_within(&mut c, Duration::from_secs(15))
        .await
        .expect("a silent connection is still open after 15 s");
}

/// Issue #18, defect 3: at an open-file limit of 200, 400 silent connections. Before, the
/// process ran out of descriptors and `/healthz` timed out (Kubernetes restarts the pod); now
/// the connection cap fits the limit, the probe lane answers.
#[tokio::test]
async fn healthz_answers_at_a_low_file_limit_under_silent_connections() {
    let s = serve(&[], Some(200));
    let mut silent = Vec::new();
    for _ in 0..400 {
        match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&s.addr)).await {
            Ok(Ok(c)) => silent.push(c),
            _ => break,
        }
    }
    // (Without the cap, the process stops accepting once out of descriptors and the kernel's
    // queue fills: connecting then times out, which ends this loop early.)
    assert!(
        silent.len() > 100,
        "only {} connections opened",
        silent.len()
    );
    let addr: std::net::SocketAddr = s.addr.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if get_status(addr, "/healthz").await == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz did not answer within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(silent);
}
