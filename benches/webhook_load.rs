//! Load benchmark of `POST /webhook/github`: how many signed deliveries a second the server
//! durably queues, and how long each waits for its `202`.
//!
//! By default it spawns the real release binary (`cargo build --release` first):
//! `target/release/patchgate serve --listen 127.0.0.1:0 --workers 0 --data-dir <tmp>` with
//! `PATCHGATE_WEBHOOK_SECRET` set, reads the address from the line
//! `patchgate serve: listening on http://ADDR`, and sends N distinct deliveries of the recorded
//! `fixtures/github/webhooks/pull_request.opened.json` (one `X-GitHub-Delivery` each) over C
//! keep-alive connections on loopback. It prints throughput, latency percentiles and the
//! server's peak RSS (VmHWM), then checks that the store holds exactly N queued jobs.
//! `--in-process` serves `github_routes` from this process instead (same store, same group
//! commit) — for profiling, or when no binary is at hand.
//!
//! ```sh
//! cargo build --release
//! cargo bench --bench webhook_load -- [--n 20000] [--concurrency 64] [--in-process] [--binary PATH]
//! cargo bench --bench webhook_load -- --rate 1000 --duration 600 --hostile   # issue #18's run
//! ```
//!
//! `--duration SECS` (with `--rate`) sends `rate × duration` deliveries. `--hostile` runs the
//! hostile clients of [`hostile`] from other loopback addresses for the whole run (on a thread
//! and runtime of their own, so they do not delay the genuine client); `--slowloris N`,
//! `--slow-bodies N`, `--idle N`, `--liars N` and `--garbage-per-s R` size the mix. The run then
//! fails unless every genuine delivery was acknowledged as new and stored exactly once, and
//! prints whether its p99 is under `--p99-target-ms` (50).
//!
//! It never talks to anything but 127.0.0.1, and never weakens durability (the store is opened
//! exactly as `serve` opens it: WAL, `synchronous=FULL`).
//!
//! In open-loop mode (`--rate R`) it then measures the disk's own floor on the same schedule:
//! [`disk_floor`] acknowledges each delivery as soon as a group commit of its bytes as stored —
//! a `pwrite` to a preallocated file in the same directory and an `fdatasync`, and nothing else —
//! returns. No server that acknowledges only durable deliveries can have a lower tail on that
//! disk, so the two tails side by side say how much of the server's is its own. The data
//! directory is made under `$TMPDIR`: `TMPDIR=/dev/shm` measures the server without any disk
//! cost (not durable — a measurement of the software, not a way to deploy).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hmac::{KeyInit, Mac};
use patchgate::server::intake::{github_routes, Enqueuer, IntakeState, WebhookSecret};
use patchgate::server::metrics::{ops_routes, Metrics, ReadyFlag};
use patchgate::store::{NewJob, PreparedJob, Store};

#[path = "webhook_load/hostile.rs"]
mod hostile;

const SECRET: &str = "webhook-load-bench-secret";

struct Opts {
    n: usize,
    concurrency: usize,
    in_process: bool,
    binary: PathBuf,
    batch: usize,
    /// Open loop: offer this many deliveries per second (0: closed loop, as fast as answered).
    rate: f64,
    /// With `rate`: run this many seconds (sets `n`).
    duration: Option<f64>,
    /// Hostile clients alongside, and how many of each.
    hostile: Option<hostile::Mix>,
    p99_target_ms: f64,
}

fn parse_args() -> Result<Opts> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut o = Opts {
        n: 20_000,
        concurrency: 64,
        in_process: false,
        binary: root.join("target/release/patchgate"),
        batch: 256,
        rate: 0.0,
        duration: None,
        hostile: None,
        p99_target_ms: 50.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--n" => o.n = value("--n")?.parse().context("--n")?,
            "--concurrency" | "-c" => {
                o.concurrency = value("--concurrency")?.parse().context("--concurrency")?
            }
            "--in-process" => o.in_process = true,
            "--binary" => o.binary = PathBuf::from(value("--binary")?),
            "--batch" => o.batch = value("--batch")?.parse().context("--batch")?,
            "--rate" => o.rate = value("--rate")?.parse().context("--rate")?,
            "--duration" => o.duration = Some(value("--duration")?.parse().context("--duration")?),
            "--p99-target-ms" => {
                o.p99_target_ms = value("--p99-target-ms")?
                    .parse()
                    .context("--p99-target-ms")?
            }
            "--hostile" => {
                o.hostile.get_or_insert_with(hostile::Mix::default);
            }
            "--slowloris" | "--slow-bodies" | "--idle" | "--liars" | "--garbage-per-s" => {
                let v: usize = value(&a)?.parse().with_context(|| a.clone())?;
                let mix = o.hostile.get_or_insert_with(hostile::Mix::default);
                match a.as_str() {
                    "--slowloris" => mix.slowloris = v,
                    "--slow-bodies" => mix.slow_bodies = v,
                    "--idle" => mix.idle = v,
                    "--liars" => mix.liars = v,
                    _ => mix.garbage_per_s = v as u64,
                }
            }
            // cargo bench passes --bench; libtest-style filters are ignored.
            _ => {}
        }
    }
    if o.hostile.is_some() && o.in_process {
        bail!("--hostile needs the real binary (its listener is what is tested), not --in-process");
    }
    if let Some(d) = o.duration {
        if o.rate <= 0.0 {
            bail!("--duration needs --rate (an open loop)");
        }
        o.n = (o.rate * d).round() as usize;
    }
    if o.n == 0 || o.concurrency == 0 {
        bail!("--n and --concurrency must be at least 1");
    }
    Ok(o)
}

fn sign(body: &[u8]) -> Result<String> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes())
        .map_err(|e| anyhow::anyhow!("hmac key: {e}"))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Peak resident set of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The spawned server: killed (SIGTERM, then SIGKILL) when dropped.
struct Spawned {
    child: Child,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Spawned {
    fn start(binary: &Path, data_dir: &Path) -> Result<(Spawned, SocketAddr)> {
        if !binary.is_file() {
            bail!(
                "{} not found: run `cargo build --release` first (or pass --binary PATH, or --in-process)",
                binary.display()
            );
        }
        let log = std::fs::File::create(data_dir.join("serve.log")).context("serve.log")?;
        let mut child = Command::new(binary)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "0",
                "--data-dir",
            ])
            .arg(data_dir)
            .env("PATCHGATE_WEBHOOK_SECRET", SECRET)
            .env_remove("DATABASE_URL")
            .env_remove("PATCHGATE_GITHUB_APP_ID")
            .env_remove("PATCHGATE_GITHUB_PRIVATE_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let spawned = Spawned { child };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the server's first line")?;
        let addr = line
            .trim()
            .strip_prefix("patchgate serve: listening on http://")
            .with_context(|| {
                let log = std::fs::read_to_string(data_dir.join("serve.log")).unwrap_or_default();
                format!("unexpected first line {line:?}; server log:\n{log}")
            })?
            .parse()
            .context("server address")?;
        Ok((spawned, addr))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait for a clean exit (graceful shutdown is part of what is measured).
    fn stop(mut self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid")?;
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("server exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("server did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Serve `github_routes` on its own 2-thread runtime (the server's share of the machine).
fn start_in_process(
    data_dir: &Path,
    batch: usize,
) -> Result<(tokio::runtime::Runtime, SocketAddr)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let data_dir = data_dir.to_path_buf();
    let addr = rt.block_on(async move {
        let store = Store::open(&data_dir, None).await?;
        let metrics = Metrics::new();
        let state = IntakeState {
            metrics: metrics.clone(),
            secret: WebhookSecret::try_from(SECRET.to_string())?,
            queue: Enqueuer::start(store.clone(), batch, metrics.clone()),
        };
        let app = github_routes(state).merge(ops_routes(store, metrics, ReadyFlag::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        anyhow::Ok(addr)
    })?;
    Ok((rt, addr))
}

/// Bytes the floor's group commit writes per delivery: the delivery as the store keeps it.
fn stored_len(body: &[u8]) -> usize {
    PreparedJob::new(NewJob {
        delivery_id: "bench".to_string(),
        event: "pull_request".to_string(),
        payload: body.to_vec(),
        repo: "o/r".to_string(),
    })
    .stored_len()
}

/// The disk's floor for durable acknowledgement on the open-loop schedule of [`load`]: one
/// thread takes every delivery due so far, appends `bytes_each` per delivery to a preallocated
/// 64 MiB file in `dir` (wrapping around, so the file never grows) and `fdatasync`s it; each
/// delivery's latency runs from when it was due to the end of the sync that covered it. Nothing
/// else happens (no HTTP, no parsing, no SQLite), so this is what the disk alone allows.
fn disk_floor(dir: &Path, n: usize, rate: f64, bytes_each: usize) -> Result<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    const FILE_BYTES: u64 = 64 << 20;
    let path = dir.join("disk-floor.probe");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let chunk = vec![0x5au8; 1 << 20];
    for i in 0..FILE_BYTES / chunk.len() as u64 {
        file.write_all_at(&chunk, i * chunk.len() as u64)?;
    }
    file.sync_all()?;
    let page = vec![0xa5u8; bytes_each.max(1)];
    let mut latencies = Vec::with_capacity(n);
    let (mut acked, mut offset) = (0usize, 0u64);
    let started = Instant::now();
    let due = |i: usize| started + Duration::from_secs_f64(i as f64 / rate);
    while acked < n {
        let now = Instant::now();
        // Every delivery due by now (at least the next one, once it is due).
        let due_by_now = ((now - started).as_secs_f64() * rate).floor() as usize + 1;
        let upto = due_by_now.min(n);
        if upto <= acked {
            std::thread::sleep(due(acked).saturating_duration_since(now));
            continue;
        }
        for _ in acked..upto {
            if offset + page.len() as u64 > FILE_BYTES {
                offset = 0;
            }
            file.write_all_at(&page, offset)?;
            offset += page.len() as u64;
        }
        file.sync_data()?;
        let done = Instant::now();
        for i in acked..upto {
            latencies.push(u64::try_from((done - due(i)).as_micros()).unwrap_or(u64::MAX));
        }
        acked = upto;
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(latencies)
}

/// The server's group commits, from its `/metrics`: how many, and how many took longer than
/// 20 and 100 ms (`patchgate_intake_commit_seconds` has buckets at both).
async fn commit_stats(addr: SocketAddr) -> Result<(u64, u64, u64)> {
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(format!("http://{addr}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let sample = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .with_context(|| format!("{name} is not in /metrics"))?
            .trim()
            .parse::<f64>()
            .map(|v| v as u64)
            .with_context(|| format!("{name}: not a number"))
    };
    let count = sample("patchgate_intake_commit_seconds_count")?;
    let upto_20ms = sample("patchgate_intake_commit_seconds_bucket{le=\"0.02\"}")?;
    let upto_100ms = sample("patchgate_intake_commit_seconds_bucket{le=\"0.1\"}")?;
    Ok((count, count - upto_20ms, count - upto_100ms))
}

fn print_latency(label: &str, lat: &mut [u64]) {
    lat.sort_unstable();
    println!(
        "  {label:<12} p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        pct(lat, 50.0),
        pct(lat, 90.0),
        pct(lat, 95.0),
        pct(lat, 99.0),
        pct(lat, 100.0)
    );
}

/// Run the hostile clients on a thread and runtime of their own until `stop` fires; the
/// thread returns what they saw.
fn spawn_hostile(
    addr: SocketAddr,
    mix: hostile::Mix,
    body_len: usize,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<Arc<hostile::Seen>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the hostile clients");
        rt.block_on(async move {
            let h = hostile::start(addr, &mix, body_len);
            let _ = stop.await;
            h.stop().await
        })
    })
}

struct Run {
    latencies_us: Vec<u64>,
    elapsed: Duration,
    failures: usize,
    first_failure: Option<String>,
}

/// Send `n` deliveries over `concurrency` keep-alive connections.
///
/// With `rate > 0` the load is an open loop: delivery `i` is due at `start + i / rate`, and its
/// latency runs from when it was due (not from when a connection got to send it), so a stalled
/// server is charged for the requests it delayed (no coordinated omission).
async fn load(
    addr: SocketAddr,
    n: usize,
    concurrency: usize,
    rate: f64,
    body: Arc<Vec<u8>>,
) -> Result<Run> {
    let signature = sign(&body)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .no_proxy()
        .build()?;
    let url = format!("http://{addr}/webhook/github");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, body, sig, next) = (
            client.clone(),
            url.clone(),
            body.clone(),
            signature.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(n / concurrency + 1);
            let mut failures = 0usize;
            let mut first_failure = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                    due
                } else {
                    Instant::now()
                };
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-github-event", "pull_request")
                    .header("x-github-delivery", format!("bench-{i:08}"))
                    .header("x-hub-signature-256", &sig)
                    .body(body.as_ref().clone())
                    .send()
                    .await;
                let ok = match r {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        if status == 202 && text.contains("\"duplicate\":false") {
                            true
                        } else {
                            first_failure.get_or_insert(format!("{status} {}", text.trim()));
                            false
                        }
                    }
                    Err(e) => {
                        first_failure.get_or_insert(e.to_string());
                        false
                    }
                };
                lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                if !ok {
                    failures += 1;
                }
            }
            (lat, failures, first_failure)
        });
    }
    let mut run = Run {
        latencies_us: Vec::with_capacity(n),
        elapsed: Duration::ZERO,
        failures: 0,
        first_failure: None,
    };
    while let Some(r) = tasks.join_next().await {
        let (lat, failures, first) = r?;
        run.latencies_us.extend(lat);
        run.failures += failures;
        if run.first_failure.is_none() {
            run.first_failure = first;
        }
    }
    run.elapsed = started.elapsed();
    Ok(run)
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() -> Result<()> {
    let o = parse_args()?;
    // In-process mode: the server's own log lines (e.g. `patchgate=debug` for batch sizes);
    // no traces are exported.
    let _logs = match std::env::var("RUST_LOG") {
        Ok(filter) => Some(patchgate::server::logging::init(
            patchgate::server::logging::LogFormat::Text,
            Some(&filter),
            None,
        )?),
        Err(_) => None,
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/github/webhooks/pull_request.opened.json");
    let body = Arc::new(
        std::fs::read(&fixture).with_context(|| format!("reading {}", fixture.display()))?,
    );
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir)?;

    // The client gets its own single-threaded runtime: the server keeps the rest of the CPU.
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let mode = if o.in_process { "in-process" } else { "binary" };
    let (run, commits, rss_kib, spawned, _server_rt) = if o.in_process {
        let (rt, addr) = start_in_process(&data_dir, o.batch)?;
        let run = client_rt.block_on(load(addr, o.n, o.concurrency, o.rate, body.clone()))?;
        let commits = client_rt.block_on(commit_stats(addr))?;
        (
            run,
            commits,
            peak_rss_kib(std::process::id()),
            None,
            Some(rt),
        )
    } else {
        let (server, addr) = Spawned::start(&o.binary, &data_dir)?;
        let hostile = o.hostile.clone().map(|mix| {
            println!("hostile clients alongside: {mix:?}");
            let (tx, rx) = tokio::sync::oneshot::channel();
            (tx, spawn_hostile(addr, mix, body.len(), rx))
        });
        if hostile.is_some() {
            // Let the hostile clients take their places before the first genuine delivery.
            std::thread::sleep(Duration::from_secs(2));
        }
        let run = client_rt.block_on(load(addr, o.n, o.concurrency, o.rate, body.clone()));
        if let Some((tx, thread)) = hostile {
            let _ = tx.send(());
            let seen = thread.join().expect("the hostile clients' thread");
            println!(
                "  hostile      {} connections opened ({} failed to open), {} closed by the server, {} answers read",
                seen.connects.load(Ordering::Relaxed),
                seen.connect_errors.load(Ordering::Relaxed),
                seen.closed.load(Ordering::Relaxed),
                seen.answers.load(Ordering::Relaxed)
            );
        }
        let run = run?;
        let commits = client_rt.block_on(commit_stats(addr))?;
        let rss = peak_rss_kib(server.pid());
        (run, commits, rss, Some(server), None)
    };

    let mut lat = run.latencies_us;
    let secs = run.elapsed.as_secs_f64();
    let offered = if o.rate > 0.0 {
        format!("open loop at {} deliveries/s offered", o.rate)
    } else {
        "closed loop".to_string()
    };
    println!(
        "webhook_load ({mode}, {offered}): {} deliveries of {} bytes, {} connections, {:.2} s",
        o.n,
        body.len(),
        o.concurrency,
        secs
    );
    println!(
        "  throughput   {:.0} deliveries/s acknowledged (202 after commit)",
        o.n as f64 / secs
    );
    print_latency("latency ms", &mut lat);
    let p99 = pct(&lat, 99.0);
    println!(
        "  p99 target   {p99:.2} ms vs < {} ms: {}",
        o.p99_target_ms,
        if p99 < o.p99_target_ms {
            "MET"
        } else {
            "MISSED"
        }
    );
    let (commits, over_20ms, over_100ms) = commits;
    println!(
        "  commits      {commits} group commits ({:.1} deliveries each); {over_20ms} took over \
         20 ms, {over_100ms} over 100 ms",
        o.n as f64 / commits.max(1) as f64
    );
    match rss_kib {
        Some(k) => println!(
            "  peak RSS     {:.1} MiB ({})",
            k as f64 / 1024.0,
            if o.in_process {
                "bench process, client included"
            } else {
                "server process"
            }
        ),
        None => println!("  peak RSS     unknown (no /proc)"),
    }
    if let Some(server) = spawned {
        server.stop()?;
    }
    if run.failures > 0 {
        bail!(
            "{} deliveries were not acknowledged as new; first: {}",
            run.failures,
            run.first_failure.unwrap_or_default()
        );
    }

    // Every acknowledged delivery is a committed, queued job — exactly N, none twice.
    let counts = client_rt.block_on(async {
        let store = Store::open(&data_dir, None).await?;
        let c = store.counts().await?;
        store.close().await;
        anyhow::Ok(c)
    })?;
    let queued = counts.get("queued").copied().unwrap_or(0);
    let total: i64 = counts.values().sum();
    println!(
        "  store        {queued} queued, {total} jobs in all (expected {})",
        o.n
    );
    if queued != o.n as i64 || total != o.n as i64 {
        bail!(
            "the store holds {total} jobs ({queued} queued), expected exactly {}",
            o.n
        );
    }

    if o.rate > 0.0 {
        // Same schedule, same directory, right after: the disk alone.
        let bytes_each = stored_len(&body);
        let mut floor = disk_floor(&data_dir, o.n, o.rate, bytes_each)?;
        print_latency("disk floor", &mut floor);
        println!(
            "               (the same schedule acknowledged by a bare group commit: {bytes_each} \
             bytes per delivery appended to a preallocated file in {} and fdatasync'ed)",
            data_dir.display()
        );
    }
    Ok(())
}
