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
//! - one peer address ([`super::peers::peer_key`]) holds at most [`ConnLimits::per_peer`]
//!   connections of the main lane and the same share of the probe lane, so one hostile
//!   address that opens connections and sends nothing cannot take the lanes from everyone
//!   else (its further connections are closed at once, counted in [`ConnStats::refused_peer`]).
//!   Trusted proxies ([`ConnLimits::trusted_proxies`], a load balancer that carries everyone's
//!   connections) are not held to the per-peer cap; the request budgets then charge the client
//!   they name in `X-Forwarded-For` (see [`super::peers`]). Each request carries its TCP peer
//!   as [`ConnectInfo`] for those budgets;
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
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::peers::{is_trusted, peer_key, Slot, Tally};

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
    /// Connections of the main lane one peer address may hold at once (trusted proxies
    /// excepted); of the probe lane, a peer may hold the same proportion (at least one).
    pub per_peer: usize,
    /// Load balancers and proxies whose connections carry many clients: not held to
    /// `per_peer`, and trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpAddr>,
}

impl ConnLimits {
    /// Lower the caps so that `general + probes` descriptors fit under the open-file limit
    /// `nofile` (with [`FD_RESERVE`] kept free); the probe lane keeps at least a quarter.
    pub fn fit_to(mut self, nofile: Option<u64>) -> ConnLimits {
        let Some(limit) = nofile else {
            self.per_peer = self.per_peer.clamp(1, self.general.max(1));
            return self;
        };
        let room = usize::try_from(limit.saturating_sub(FD_RESERVE).max(8)).unwrap_or(usize::MAX);
        if self.general + self.probes > room {
            let before = self.general.max(1);
            self.probes = self.probes.min(room / 4).max(1);
            self.general = room.saturating_sub(self.probes).max(1);
            // The per-peer share shrinks with the lane, so one peer still cannot fill it.
            self.per_peer = (self.per_peer.saturating_mul(self.general) / before).max(1);
        }
        self.per_peer = self.per_peer.clamp(1, self.general.max(1));
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
    /// Connections closed at once because their peer held its share of both lanes.
    pub refused_peer: AtomicU64,
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
    let (general_peers, probe_peers) = (Tally::new(), Tally::new());
    // The probe lane is shared in the same proportion as the main lane.
    let per_peer_probes =
        (limits.probes.saturating_mul(limits.per_peer) / limits.general.max(1)).max(1);
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
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
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
        let key = peer_key(peer.ip());
        let trusted = is_trusted(peer.ip(), &limits.trusted_proxies);
        // A lane's seat: the lane's permit, then the peer's share (the permit is given back
        // when the share is not there). `Err(true)`: the lane had room, the peer had used its
        // share; `Err(false)`: the lane was full.
        let seat = |lane: &Arc<Semaphore>, tally: &Arc<Tally>, max: usize| {
            let permit = lane.clone().try_acquire_owned().map_err(|_| false)?;
            let share = if trusted {
                None
            } else {
                Some(tally.take(key, 1, max).ok_or(true)?)
            };
            Ok::<_, bool>((permit, share))
        };
        let (router, seat, timeout) = match seat(&general, &general_peers, limits.per_peer) {
            Ok(s) => (app.clone(), s, limits.header_timeout),
            Err(general_peer_capped) => match seat(&probe, &probe_peers, per_peer_probes) {
                Ok(s) => {
                    stats.probe_lane.fetch_add(1, Ordering::Relaxed);
                    (probes.clone(), s, probe_timeout)
                }
                Err(probe_peer_capped) => {
                    let by_peer = general_peer_capped || probe_peer_capped;
                    if by_peer {
                        stats.refused_peer.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(n) = refused_log.hit() {
                        warn!(
                            count = n,
                            max = limits.general + limits.probes,
                            per_peer = limits.per_peer,
                            last_peer_over_its_share = by_peer,
                            "connection limit reached: connections closed at once"
                        );
                    }
                    drop(stream);
                    continue;
                }
            },
        };
        conns.spawn(serve_one(
            stream,
            peer,
            router,
            timeout,
            stop_rx.clone(),
            seat,
        ));
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
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    _seat: (OwnedSemaphorePermit, Option<Slot>),
) {
    let _ = stream.set_nodelay(true);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let service = WithPeer {
        inner: TowerToHyperService::new(router),
        peer: ConnectInfo(peer),
    };
    let conn = http.serve_connection(TokioIo::new(stream), service);
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

/// A connection's service that tags each request with the connection's TCP peer.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: ConnectInfo<SocketAddr>,
}

impl<S, B> hyper::service::Service<axum::http::Request<B>> for WithPeer<S>
where
    S: hyper::service::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.peer);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(general: usize, probes: usize) -> ConnLimits {
        peer_limits(general, probes, general)
    }

    fn peer_limits(general: usize, probes: usize, per_peer: usize) -> ConnLimits {
        ConnLimits {
            general,
            probes,
            header_timeout: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(30),
            per_peer,
            trusted_proxies: Vec::new(),
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
    fn the_per_peer_share_shrinks_with_the_lane() {
        // 1,024 → 928 connections: the 128 per peer shrinks in proportion (116).
        assert_eq!(
            peer_limits(1024, 32, 128).fit_to(Some(1024)),
            peer_limits(928, 32, 116)
        );
        // Never above the lane, never zero.
        assert_eq!(peer_limits(10, 4, 99).fit_to(None).per_peer, 10);
        assert_eq!(peer_limits(1024, 32, 1).fit_to(Some(10)).per_peer, 1);
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
