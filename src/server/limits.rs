//! The limits of the public webhook routes ([`ListenerLimits`], flags of `serve`) and the layer
//! that applies them ([`limit_webhooks`]): at most so many webhook requests in flight (more are
//! shed at once with `503` and `Retry-After`), and at most so many body bytes held, charged as
//! they *arrive* ([`Charged`]: a client that declares 25 MiB and sends one byte holds one KiB; a
//! request whose bytes would go over fails with [`OverBudget`], answered `503`), plus the body
//! and request timeouts. Each peer address (the client named by a trusted proxy, see
//! [`super::peers`]) holds at most its own share of the requests and of the body bytes
//! ([`ListenerLimits::max_in_flight_per_peer`], [`ListenerLimits::max_body_bytes_per_peer`]),
//! so one address cannot take what deliveries from others need. And the listener's own limits
//! ([`ListenerLimits::conn_limits`], see [`super::listen`]). Split out of [`super::intake`], which re-exports these names.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::Semaphore;

use super::intake::MAX_BODY_BYTES;
use super::peers::{client_key, Slot, Tally};

/// Limits of the public webhook routes (see the module documentation). The defaults are far
/// above what GitHub needs (it sends one delivery per connection, a few KiB to 25 MB, and
/// gives up after 10 s) and far below what exhausts a small container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Webhook requests handled at once; more are answered `503` at once.
    pub max_in_flight: usize,
    /// Body bytes held at once by the requests in flight, counted as they arrive (not as
    /// declared by `Content-Length`): a request whose next bytes would go over is answered
    /// `503`. At least [`MAX_BODY_BYTES`], so one delivery of any accepted size fits.
    pub max_body_bytes_in_flight: usize,
    /// The whole body must have arrived this long after the request began, else `408`.
    pub body_timeout: Duration,
    /// A request not answered this long after it began gets `503`.
    pub request_timeout: Duration,
    /// The request head must arrive within this (also how long an idle keep-alive connection
    /// is kept); else the connection is closed (see [`super::listen`]).
    pub header_timeout: Duration,
    /// Connections served at once (lowered to fit the open-file limit); a probe lane of
    /// [`PROBE_CONNECTIONS`] more serves only the operator routes.
    pub max_connections: usize,
    /// Connections one peer address may hold at once (lowered with `max_connections`).
    pub max_connections_per_peer: usize,
    /// Webhook requests one peer (see [`super::peers`]) may have in flight at once.
    pub max_in_flight_per_peer: usize,
    /// Body bytes (as they arrive) one peer's requests may hold at once. At least
    /// [`MAX_BODY_BYTES`].
    pub max_body_bytes_per_peer: usize,
    /// Proxies (load balancers) whose connections carry many clients: not held to the
    /// per-peer connection cap, and trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Connections of the probe lane, beyond [`ListenerLimits::max_connections`].
pub const PROBE_CONNECTIONS: usize = 32;

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_in_flight: 256,
            max_body_bytes_in_flight: 256 * 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_peer: 128,
            max_in_flight_per_peer: 64,
            max_body_bytes_per_peer: 64 * 1024 * 1024,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ListenerLimits {
    /// Refuse limits that would refuse every request, or let one wait forever.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_in_flight == 0 {
            return Err(
                "the webhook concurrency limit (--max-webhook-requests) must be at least 1".into(),
            );
        }
        if self.max_in_flight > Semaphore::MAX_PERMITS {
            return Err(
                "the webhook concurrency limit (--max-webhook-requests) is too large".into(),
            );
        }
        if self.max_body_bytes_in_flight < MAX_BODY_BYTES {
            return Err(format!(
                "the in-flight body budget (--max-webhook-body-mib) must be at least {} MiB (one delivery of the largest accepted size)",
                MAX_BODY_BYTES / (1024 * 1024)
            ));
        }
        if self.body_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err("the body and request timeouts (--body-timeout-secs, --request-timeout-secs) must be at least 1 second".into());
        }
        if self.header_timeout.is_zero() {
            return Err(
                "the header timeout (--header-timeout-secs) must be at least 1 second".into(),
            );
        }
        if self.max_connections == 0 {
            return Err("the connection limit (--max-connections) must be at least 1".into());
        }
        if self.max_connections_per_peer == 0 || self.max_in_flight_per_peer == 0 {
            return Err("the per-peer limits (--max-connections-per-peer, --max-webhook-requests-per-peer) must be at least 1".into());
        }
        if self.max_body_bytes_per_peer < MAX_BODY_BYTES {
            return Err(format!(
                "the per-peer body budget (--max-webhook-body-mib-per-peer) must be at least {} MiB (one delivery of the largest accepted size)",
                MAX_BODY_BYTES / (1024 * 1024)
            ));
        }
        if self.body_timeout > self.request_timeout {
            return Err(
                "the body timeout (--body-timeout-secs) must not be longer than the request timeout (--request-timeout-secs): the body is part of the request"
                    .into(),
            );
        }
        Ok(())
    }
}

impl ListenerLimits {
    /// The listener's caps and timers: the shutdown deadline is the request timeout (every
    /// request in hand is answered by then) plus a second to write the answers.
    pub fn conn_limits(&self) -> super::listen::ConnLimits {
        super::listen::ConnLimits {
            general: self.max_connections,
            probes: PROBE_CONNECTIONS,
            header_timeout: self.header_timeout,
            shutdown_deadline: self.request_timeout + Duration::from_secs(1),
            per_peer: self.max_connections_per_peer,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

/// The requests and body bytes in flight on the limited routes.
#[derive(Debug)]
struct InFlight {
    requests: Arc<Semaphore>,
    /// Permits are KiB of body that arrived.
    body_kib: Arc<Semaphore>,
    /// Requests in flight per peer, and their cap.
    peer_requests: Arc<Tally>,
    max_peer_requests: usize,
    /// KiB of body held per peer, and the cap.
    peer_kib: Arc<Tally>,
    max_peer_kib: usize,
    trusted_proxies: Vec<std::net::IpAddr>,
}

/// Put `router`'s routes (the public webhook routes) under `limits`. Layers: load shedding
/// outermost (a refused request costs nothing), then the request timeout, then the body
/// deadline; the body deadline surfaces in the handler, which answers `408` and queues nothing.
pub fn limit_webhooks(router: Router, limits: &ListenerLimits) -> Router {
    use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};
    let kib = (limits.max_body_bytes_in_flight / 1024).clamp(1, Semaphore::MAX_PERMITS);
    let gate = Arc::new(InFlight {
        requests: Arc::new(Semaphore::new(
            limits.max_in_flight.clamp(1, Semaphore::MAX_PERMITS),
        )),
        body_kib: Arc::new(Semaphore::new(kib)),
        peer_requests: Tally::new(),
        max_peer_requests: limits.max_in_flight_per_peer.max(1),
        peer_kib: Tally::new(),
        max_peer_kib: (limits.max_body_bytes_per_peer / 1024).max(1),
        trusted_proxies: limits.trusted_proxies.clone(),
    });
    router
        .layer(RequestBodyDeadlineLayer::new(limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(gate, shed))
}

/// The in-flight body budget ran out while a body was arriving.
#[derive(Debug, thiserror::Error)]
#[error("too many webhook body bytes in flight")]
pub struct OverBudget;

/// Whether `e` (or an error it wraps) is [`OverBudget`].
pub fn over_budget(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = cur {
        if e.is::<OverBudget>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The `503` of a request shed for `what`.
pub(super) fn busy(what: &str) -> Response {
    tracing::debug!(limit = what, "webhook request shed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        format!("too many {what} in flight; redeliver later\n"),
    )
        .into_response()
}

/// Admit a request if a request slot is free and its peer is under its own share (else `503`
/// at once), and charge its body to the byte budgets (the shared one and its peer's) as the
/// bytes arrive ([`Charged`]): a client that declares 25 MiB and sends one byte holds one KiB,
/// not 25 MiB. What a request took is given back when it is answered. A request without a
/// [`ConnectInfo`](axum::extract::ConnectInfo) (not served by [`super::listen`]) has no peer
/// and only the shared budgets apply.
async fn shed(State(gate): State<Arc<InFlight>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| client_key(c.0.ip(), req.headers(), &gate.trusted_proxies));
    let _peer_request = match peer {
        Some(key) => match gate.peer_requests.take(key, 1, gate.max_peer_requests) {
            Some(slot) => Some(slot),
            None => return busy("webhook requests from one address"),
        },
        None => None,
    };
    let Ok(_request) = gate.requests.clone().try_acquire_owned() else {
        return busy("webhook requests");
    };
    let held = Arc::new(std::sync::Mutex::new(Held {
        shared: None,
        peer: peer.and_then(|key| gate.peer_kib.take(key, 0, gate.max_peer_kib)),
    }));
    let req = req.map(|body| {
        axum::body::Body::new(Charged {
            inner: body,
            budget: gate.body_kib.clone(),
            max_peer_kib: gate.max_peer_kib,
            held: held.clone(),
            bytes: 0,
            kib: 0,
        })
    });
    let resp = next.run(req).await;
    drop(held);
    resp
}

/// The body KiB one request holds: of the shared budget, and of its peer's share.
struct Held {
    shared: Option<tokio::sync::OwnedSemaphorePermit>,
    peer: Option<Slot>,
}

/// A request body that takes KiB from the in-flight budgets as its bytes arrive; the frame
/// that would go over the shared budget or its peer's share fails the body with
/// [`OverBudget`] (the handler answers `503`). What it took lives in `held`, shared with
/// [`shed`], until the request is answered.
struct Charged {
    inner: axum::body::Body,
    budget: Arc<Semaphore>,
    max_peer_kib: usize,
    held: Arc<std::sync::Mutex<Held>>,
    bytes: usize,
    kib: u32,
}

impl axum::body::HttpBody for Charged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        let frame = match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            this.bytes = this.bytes.saturating_add(data.len());
            let need = u32::try_from(this.bytes.div_ceil(1024)).unwrap_or(u32::MAX);
            if need > this.kib {
                let more = need - this.kib;
                let mut held = this.held.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(peer) = held.peer.as_mut() {
                    if !peer.grow(more as usize, this.max_peer_kib) {
                        return Poll::Ready(Some(Err(axum::Error::new(OverBudget))));
                    }
                }
                let Ok(permit) = this.budget.clone().try_acquire_many_owned(more) else {
                    return Poll::Ready(Some(Err(axum::Error::new(OverBudget))));
                };
                this.kib = need;
                match held.shared.as_mut() {
                    Some(p) => p.merge(permit),
                    None => held.shared = Some(permit),
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
