//! The HTTP listener of `serve`: our own accept loop over hyper's HTTP/1.1 server, with the
//! timers and caps that `axum::serve` does not set.
//!
//! What it is for: a hostile or broken client must not hold the process. Each connection is
//! served by hyper with a timer ([`TokioTimer`]), so
//! - the request head must arrive within the header timeout (`--header-timeout-secs`), else
//!   the connection is closed — a slowloris client that drips a head, or one that connects and
//!   sends nothing, is gone after it; the same timer runs while a keep-alive connection waits
//!   for its next request, so idle connections are closed too;
//! - at most [`ConnLimits::general`] connections are served at once; the next
//!   [`ConnLimits::probes`] are the probe lane: served with only the operator routes
//!   (`/healthz`, `/readyz`, `/metrics`; anything else is `503`) and a short header timeout
//!   ([`PROBE_HEADER_TIMEOUT`]), so a liveness probe still gets through when silent
//!   connections fill the main lane; beyond both, a connection is accepted and closed at once
//!   (counted, logged at most once a second) instead of being left in the kernel's backlog.
//!   The caps are lowered to fit the process's open-file limit (`RLIMIT_NOFILE`), so the
//!   process never runs out of descriptors because of connections;
//! - accept errors (out of descriptors, …) are logged as warnings (at most once a second,
//!   with a count) and the loop pauses briefly instead of spinning.
//!
//! Shutdown: the listener is closed at once, every connection is told to finish its request in
//! hand and close; whatever is still open after the shutdown deadline (a client holding a
//! partial request head, a stalled reader) is dropped. So SIGTERM ends the HTTP side within
//! that deadline whatever clients do.
//!
//! HTTP/2 is not served (GitHub and Standard Webhooks senders use HTTP/1.1).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// Header timeout of the probe lane (never longer than the main one).
pub const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Descriptors kept free for everything but connections (store, mirrors, logs, git).
const FD_RESERVE: u64 = 64;

/// The listener's limits (from [`super::intake::ListenerLimits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections served with every route at once.
    pub general: usize,
    /// Further connections served with the operator routes only.
    pub probes: usize,
    /// The whole request head must arrive within this; also the keep-alive idle timeout.
    pub header_timeout: Duration,
    /// How long connections may finish after shutdown began.
    pub shutdown_deadline: Duration,
}

impl ConnLimits {
    /// Lower the caps so that `general + probes` descriptors fit under the open-file limit
    /// `nofile` (with [`FD_RESERVE`] kept free); the probe lane keeps at least a quarter.
    pub fn fit_to(mut self, nofile: Option<u64>) -> ConnLimits {
        let Some(limit) = nofile else { return self };
        let room = usize::try_from(limit.saturating_sub(FD_RESERVE).max(8)).unwrap_or(usize::MAX);
        if self.general + self.probes > room {
            self.probes = self.probes.min(room / 4).max(1);
            self.general = room.saturating_sub(self.probes).max(1);
        }
        self
    }
}

/// The soft open-file limit of this process, when it has one.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
        // `rlim_t` is not `u64` on every platform.
        #[allow(clippy::unnecessary_cast)]
        let cur = r.rlim_cur as u64;
        (ok && r.rlim_cur != libc::RLIM_INFINITY).then_some(cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Counts for the log (and tests).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections closed at once because both lanes were full.
    pub refused: AtomicU64,
    /// Connections served in the probe lane.
    pub probe_lane: AtomicU64,
    /// Accept errors.
    pub accept_errors: AtomicU64,
}

/// Logs something at most once a second, with how often it happened in between.
struct Throttle {
    last: Option<Instant>,
    since: u64,
}

impl Throttle {
    fn new() -> Throttle {
        Throttle {
            last: None,
            since: 0,
        }
    }

    /// `Some(count since the last log)` when it is time to log again.
    fn hit(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < Duration::from_secs(1)) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// Serve `app` (and `probes` in the probe lane) on `listener` until `shutdown` resolves, then
/// drain within the deadline. Returns once every connection is closed.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    probes: Router,
    limits: ConnLimits,
    stats: Arc<ConnStats>,
    shutdown: impl Future<Output = ()>,
) {
    let general = Arc::new(Semaphore::new(limits.general.max(1)));
    let probe = Arc::new(Semaphore::new(limits.probes.max(1)));
    let probe_timeout = PROBE_HEADER_TIMEOUT.min(limits.header_timeout);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut refused_log = Throttle::new();
    let mut error_log = Throttle::new();
    tokio::pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(n) = error_log.hit() {
                    warn!(error = %e, count = n, "accepting a connection failed");
                }
                // Out of descriptors and the like: give connections time to close.
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
        };
        let (router, permit, timeout) = if let Ok(p) = general.clone().try_acquire_owned() {
            (app.clone(), p, limits.header_timeout)
        } else if let Ok(p) = probe.clone().try_acquire_owned() {
            stats.probe_lane.fetch_add(1, Ordering::Relaxed);
            (probes.clone(), p, probe_timeout)
        } else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = refused_log.hit() {
                warn!(
                    count = n,
                    max = limits.general + limits.probes,
                    "connection limit reached: connections closed at once"
                );
            }
            drop(stream);
            continue;
        };
        conns.spawn(serve_one(stream, router, timeout, stop_rx.clone(), permit));
    }
    drop(listener);
    let open = conns.len();
    let _ = stop_tx.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_deadline, drain)
        .await
        .is_err()
    {
        warn!(
            still_open = conns.len(),
            deadline_s = limits.shutdown_deadline.as_secs_f64(),
            "connections still open at the shutdown deadline: closed"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    } else if open > 0 {
        info!(connections = open, "connections drained");
    }
}

/// Serve one connection until it ends, or until shutdown (then finish the request in hand).
async fn serve_one(
    stream: TcpStream,
    router: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(conn);
    let done = tokio::select! {
        r = conn.as_mut() => Some(r),
        _ = stop.wait_for(|s| *s) => None,
    };
    let result = match done {
        Some(r) => r,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts and clients going away are normal on a public port.
        debug!(error = %e, "connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(general: usize, probes: usize) -> ConnLimits {
        ConnLimits {
            general,
            probes,
            header_timeout: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(30),
        }
    }

    #[test]
    fn caps_fit_the_open_file_limit() {
        assert_eq!(limits(1024, 32).fit_to(None), limits(1024, 32));
        assert_eq!(limits(1024, 32).fit_to(Some(1_000_000)), limits(1024, 32));
        // 1,024 descriptors: 960 for connections, the probe lane keeps its 32.
        assert_eq!(limits(1024, 32).fit_to(Some(1024)), limits(928, 32));
        // Very few: a quarter for probes, never zero.
        assert_eq!(limits(1024, 32).fit_to(Some(128)), limits(48, 16));
        let tiny = limits(1024, 32).fit_to(Some(10));
        assert!(tiny.general >= 1 && tiny.probes >= 1, "{tiny:?}");
    }

    #[test]
    fn throttle_logs_once_a_second_with_the_count() {
        let mut t = Throttle::new();
        assert_eq!(t.hit(), Some(1));
        assert_eq!(t.hit(), None);
        assert_eq!(t.hit(), None);
        t.last = Some(Instant::now() - Duration::from_secs(2));
        assert_eq!(t.hit(), Some(3));
    }
}
