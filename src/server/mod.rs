//! `patchgate serve`: the GitHub App's webhook service.
//!
//! One process = the HTTP front (webhook intake, policy events, metrics and health) plus a pool
//! of queue workers and a reconciliation loop. Several processes may share one PostgreSQL store:
//! the queue hands each job to one of them (see `crate::store::jobs`).
//!
//! - [`intake`]: `POST /webhook/github` — signature, size cap, dedupe, durable queue, `202`.
//! - [`events`]: `POST /webhook/meta` — signed policy events (Standard Webhooks).
//! - [`metrics`]: `GET /metrics`, `/healthz`, `/readyz`.
//! - [`worker`]: leased job execution; [`app`]: what a job does with GitHub.
//!
//! Shutdown (SIGTERM or Ctrl-C): readiness flips to draining, the listener stops accepting and
//! finishes the requests in flight, workers take no new job and finish (or release) the one in
//! hand within the grace period, then the store is closed.

pub mod app;
pub mod events;
pub mod intake;
pub mod logging;
pub mod metrics;
pub mod redeliver;
pub mod rollback;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

use crate::astdiff::registry::Registry;
use crate::audit::rule_guard::RuleSet;
use crate::config::Settings;
use crate::github::app::{AppCredentials, GitHubApp};
use crate::github::mirror::Mirrors;
use crate::store::Store;

pub use worker::{JobHandler, WorkerOptions};

/// How the server reads its environment (injected, so tests can give their own).
pub type EnvFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Default address `serve` binds.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default GitHub API base.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// How `serve` runs (flags and environment, resolved by the CLI).
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Queue workers in this process (0: intake only — another replica works the queue).
    pub workers: usize,
    /// How often to look for pull requests whose webhooks were missed (`None`: never).
    pub reconcile_every: Option<Duration>,
    /// How often to ask GitHub to redeliver failed webhook deliveries (`None`: never; see
    /// [`redeliver`]).
    pub redeliver_every: Option<Duration>,
    pub worker: WorkerOptions,
}

/// The secrets `serve` needs, read from the environment; never printed.
pub struct ServeSecrets {
    /// `PATCHGATE_WEBHOOK_SECRET`.
    pub webhook: String,
    /// `PATCHGATE_EVENTS_SECRET`: `/webhook/meta` is served only when set.
    pub events: Option<String>,
    /// `PATCHGATE_GITHUB_APP_ID` and `PATCHGATE_GITHUB_PRIVATE_KEY` (a path or the PEM).
    pub app: Option<(String, String)>,
    /// `PATCHGATE_GITHUB_API_URL`.
    pub api_url: String,
}

impl ServeSecrets {
    /// Read from the environment. The webhook secret is required.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ServeSecrets> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let webhook = get("PATCHGATE_WEBHOOK_SECRET").context(
            "PATCHGATE_WEBHOOK_SECRET is not set: serve needs the GitHub App's webhook secret to verify deliveries",
        )?;
        let app = match (
            get("PATCHGATE_GITHUB_APP_ID"),
            get("PATCHGATE_GITHUB_PRIVATE_KEY"),
        ) {
            (Some(id), Some(key)) => Some((id, key)),
            (None, None) => None,
            (Some(_), None) => {
                bail!("PATCHGATE_GITHUB_APP_ID is set but PATCHGATE_GITHUB_PRIVATE_KEY is not")
            }
            (None, Some(_)) => {
                bail!("PATCHGATE_GITHUB_PRIVATE_KEY is set but PATCHGATE_GITHUB_APP_ID is not")
            }
        };
        Ok(ServeSecrets {
            webhook,
            events: get("PATCHGATE_EVENTS_SECRET"),
            app,
            api_url: get("PATCHGATE_GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()),
        })
    }
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Run the service until a stop signal. Prints `patchgate serve: listening on http://ADDR` to
/// stdout once the socket is bound (scripts and the load benchmark read it).
pub async fn serve(
    settings: Settings,
    opts: ServeOptions,
    secrets: ServeSecrets,
    env: EnvFn,
) -> Result<()> {
    let store = Store::open(&settings.data_dir, settings.database_url.as_deref())
        .await
        .with_context(|| format!("opening the store in {}", settings.data_dir.display()))?;
    let metrics = metrics::Metrics::new();
    let ready = metrics::ReadyFlag::new();

    let app = match &secrets.app {
        Some((id, key)) => Some(
            GitHubApp::new(AppCredentials::new(id, key)?, &secrets.api_url)
                .context("setting up the GitHub App client")?,
        ),
        None => None,
    };
    if app.is_none() && opts.workers > 0 {
        bail!(
            "PATCHGATE_GITHUB_APP_ID and PATCHGATE_GITHUB_PRIVATE_KEY are not set: workers cannot talk to GitHub. \
             Set them, or run with --workers 0 to only queue deliveries (another replica works the queue)"
        );
    }

    let queue = intake::Enqueuer::start(store.clone(), 256, metrics.clone());
    let mut router = intake::github_routes(intake::IntakeState {
        metrics: metrics.clone(),
        secret: intake::WebhookSecret::try_from(secrets.webhook.clone())?,
        queue: queue.clone(),
    })
    .merge(metrics::ops_routes(
        store.clone(),
        metrics.clone(),
        ready.clone(),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();

    let mirrors = Arc::new(Mirrors::new(&settings.data_dir));
    let app_rollbacks = app.as_ref().map(|a| {
        Arc::new(rollback::AppRollbacks::new(
            a.clone(),
            mirrors.clone(),
            store.clone(),
            metrics.clone(),
        ))
    });
    let rollbacks: Option<Arc<dyn app::Rollbacks>> =
        app_rollbacks.clone().map(|r| r as Arc<dyn app::Rollbacks>);
    if let Some(text) = &secrets.events {
        let secret = crate::policy::signing::EventsSecret::parse(text)
            .map_err(|e| anyhow::anyhow!("PATCHGATE_EVENTS_SECRET: {e}"))?;
        match &app_rollbacks {
            Some(sink) => {
                router = router.merge(events::events_routes(events::EventsState::new(
                    store.clone(),
                    secret,
                    sink.clone(),
                    metrics.clone(),
                )));
            }
            None => bail!(
                "PATCHGATE_EVENTS_SECRET is set, but /webhook/meta reverts merges through the GitHub App: \
                 set PATCHGATE_GITHUB_APP_ID and PATCHGATE_GITHUB_PRIVATE_KEY too"
            ),
        }
    }
    router = metrics::track_requests(router, metrics.clone());

    if let Some(app) = &app {
        let handler: Arc<dyn JobHandler> = Arc::new(app::AppHandler {
            app: app.clone(),
            mirrors: mirrors.clone(),
            store: store.clone(),
            gate: app::GateContext {
                settings: settings.clone(),
                registry: Arc::new(Registry::embedded().context("loading the language registry")?),
                rules: RuleSet::embedded().context("loading the rule pack")?,
                env: env.clone(),
            },
            metrics: metrics.clone(),
            rollbacks: rollbacks.clone(),
        });
        // Redelivery passes and requests are jobs too (queued by whichever replica runs the
        // schedule below, run by whichever worker takes them).
        let handler: Arc<dyn JobHandler> = Arc::new(redeliver::WithRedelivery {
            inner: handler,
            redeliver: Arc::new(redeliver::Redeliverer {
                app: app.clone(),
                store: store.clone(),
                metrics: metrics.clone(),
            }),
        });
        if let Some(every) = opts.redeliver_every {
            tasks.spawn(redeliver::run_schedule(
                store.clone(),
                every,
                wake.clone(),
                stop_rx.clone(),
            ));
        }
        let host = hostname();
        for i in 0..opts.workers {
            tasks.spawn(worker::run_worker(
                format!("{host}:{}:{i}", std::process::id()),
                store.clone(),
                handler.clone(),
                metrics.clone(),
                opts.worker.clone(),
                wake.clone(),
                stop_rx.clone(),
            ));
        }
        if let Some(r) = &app_rollbacks {
            // Rollbacks a crash left half done: finished once at start-up (and on each
            // reconciliation pass below).
            let r = r.clone();
            tasks.spawn(async move {
                match r.resume_all().await {
                    Ok(0) => {}
                    Ok(n) => info!(resumed = n, "half-done rollbacks finished"),
                    Err(e) => warn!(error = %format!("{e:#}"), "resuming rollbacks failed"),
                }
            });
        }
        if let Some(every) = opts.reconcile_every {
            let app = app.clone();
            let store = store.clone();
            let mut stop = stop_rx.clone();
            let wake = wake.clone();
            let rollbacks = app_rollbacks.clone();
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.changed() => break,
                    }
                    match app::reconcile(&app, &store).await {
                        Ok(0) => {}
                        Ok(n) => {
                            info!(queued = n, "reconciliation queued missed pull requests");
                            wake.notify_waiters();
                        }
                        Err(e) => warn!(error = %format!("{e:#}"), "reconciliation failed"),
                    }
                    if let Some(r) = &rollbacks {
                        if let Err(e) = r.resume_all().await {
                            warn!(error = %format!("{e:#}"), "resuming rollbacks failed");
                        }
                    }
                }
            });
        }
    }

    if store.backend() == "sqlite" {
        // The WAL is checkpointed here, in the background, not inside a delivery's commit.
        let store = store.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = store.checkpoint().await {
                    warn!(error = %e, "SQLite checkpoint failed");
                }
            }
        });
    }

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let addr = listener.local_addr()?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "patchgate serve: listening on http://{addr}");
        let _ = out.flush();
    }
    info!(
        %addr,
        store = store.backend(),
        workers = if app.is_some() { opts.workers } else { 0 },
        "serving"
    );

    let ready_for_stop = ready.clone();
    let stop_for_http = stop_tx.clone();
    let shutdown = async move {
        stop_signal().await;
        info!("stop requested: draining");
        ready_for_stop.set_draining();
        let _ = stop_for_http.send(true);
    };
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            error!(error = %e, "a background task panicked");
        }
    }
    store.close().await;
    info!("stopped");
    served.context("the HTTP server failed")
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "patchgate".into())
}
