//! `patchgate serve`: the GitHub App's webhook service.
//!
//! One process = the HTTP front (webhook intake, policy events, metrics and health) plus a pool
//! of queue workers and a reconciliation loop. Several processes may share one PostgreSQL store:
//! the queue hands each job to one of them (see `crate::store::jobs`).
//!
//! - [`intake`]: `POST /webhook/github` — signature, size cap, dedupe, durable queue, `202`.
//! - [`events`]: `POST /webhook/meta` — signed policy events (Standard Webhooks).
//! - [`metrics`]: `GET /metrics`, `/healthz`, `/readyz`.
//! - [`worker`]: leased job execution; [`app`]: what a job does with GitHub; [`judge`]: the
//!   judging of stored policy events, retried as jobs until each is judged.
//!
//! Shutdown (SIGTERM or Ctrl-C): readiness flips to draining, the listener stops accepting and
//! finishes the requests in flight — connections still open after the shutdown deadline (the
//! request timeout plus a second) are closed whatever their clients do ([`listen`]) —, workers
//! take no new job and finish (or release) the one in hand within the grace period, then the
//! store is closed.

pub mod app;
pub mod events;
pub mod intake;
pub mod judge;
pub mod limits;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod otel;
pub mod peers;
pub mod redeliver;
pub mod rollback;
pub mod web;
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
    /// How long done jobs are kept (`None`: forever); see [`job_retention`].
    pub job_retention: Option<Duration>,
    /// Limits of the public webhook routes.
    pub limits: intake::ListenerLimits,
}

/// How often `serve` deletes done jobs past their retention.
pub const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// Done jobs deleted per statement: each statement is short, so intake never waits long for
/// the write lock.
pub const PRUNE_BATCH: u32 = 1000;
/// Shortest retention accepted: GitHub lets a delivery be redelivered for 3 days, and a
/// delivery whose done job was pruned would be run again.
pub const MIN_RETENTION_DAYS: u64 = 3;
/// Default retention of done jobs (`--job-retention-days`).
pub const DEFAULT_RETENTION_DAYS: u64 = 7;

/// The retention of done jobs for `--job-retention-days` (`PATCHGATE_JOB_RETENTION_DAYS`):
/// `0` keeps them forever (`None`); otherwise at least [`MIN_RETENTION_DAYS`] and at most 100
/// years.
pub fn job_retention(days: u64) -> Result<Option<Duration>> {
    match days {
        0 => Ok(None),
        d if d < MIN_RETENTION_DAYS => bail!(
            "--job-retention-days / PATCHGATE_JOB_RETENTION_DAYS is {d}: it must be 0 (keep done jobs \
             forever) or at least {MIN_RETENTION_DAYS} — GitHub may redeliver a delivery for 3 days, \
             and a delivery whose done job was deleted would be run again"
        ),
        d if d > 36_500 => {
            bail!("--job-retention-days / PATCHGATE_JOB_RETENTION_DAYS is {d}: at most 36500 (or 0: forever)")
        }
        d => Ok(Some(Duration::from_secs(d * 86_400))),
    }
}

/// Delete every done job done more than `keep` before `now`, `batch` rows per statement, with
/// a short pause between full batches so that intake's commits get the write lock in between.
/// Returns how many went. Safe to run in several replicas at once (each statement skips rows
/// another one holds).
pub async fn prune_done_jobs(
    store: &Store,
    keep: Duration,
    now: chrono::DateTime<chrono::Utc>,
    batch: u32,
) -> Result<u64, crate::store::StoreError> {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let cutoff = now
        .checked_sub_signed(keep)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let mut total = 0u64;
    loop {
        let n = store.prune_done(cutoff, batch).await?;
        total += n;
        if n < u64::from(batch) {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    /// The web view's sign-in: `PATCHGATE_OAUTH_CLIENT_ID` and `PATCHGATE_OAUTH_CLIENT_SECRET`
    /// (the App's OAuth client), `PATCHGATE_PUBLIC_URL` (where people reach `serve`; the
    /// callback is `<it>/ui/oauth/callback`) and `PATCHGATE_GITHUB_WEB_URL` (default
    /// `https://github.com`). `None`: no web view (`/ui` is not served at all).
    pub web: Option<web::WebSecrets>,
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
            web: web::secrets_from_env(&get)?,
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
        .with_context(|| format!("opening the store ({})", settings.store_place()))?;
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

    let wake = Arc::new(Notify::new());
    // The writer wakes this process's idle workers after each commit that added a job.
    let queue = intake::Enqueuer::start_waking(store.clone(), 256, metrics.clone(), wake.clone());
    // The public webhook routes, put under the listener limits below; the operator routes
    // (metrics, health) are not limited.
    let mut webhooks = intake::github_routes(intake::IntakeState {
        metrics: metrics.clone(),
        secret: intake::WebhookSecret::try_from(secrets.webhook.clone())?,
        queue: queue.clone(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    let mirrors = Arc::new(Mirrors::new(&settings.data_dir));
    // The deployment's signing key signs records (in the gate) and revert commits; a key that
    // cannot be read stops serve here rather than at the first record.
    let signing_key = crate::gate::check::signing_key(&|k: &str| env(k))?.map(Arc::new);
    let app_rollbacks = app.as_ref().map(|a| {
        Arc::new(
            rollback::AppRollbacks::new(a.clone(), mirrors.clone(), store.clone(), metrics.clone())
                .with_signing_key(signing_key.clone()),
        )
    });
    let rollbacks: Option<Arc<dyn app::Rollbacks>> =
        app_rollbacks.clone().map(|r| r as Arc<dyn app::Rollbacks>);
    if let Some(text) = &secrets.events {
        let secret = crate::policy::signing::EventsSecret::parse(text)
            .map_err(|e| anyhow::anyhow!("PATCHGATE_EVENTS_SECRET: {e}"))?;
        match &app_rollbacks {
            Some(sink) => {
                let mut state =
                    events::EventsState::new(store.clone(), secret, sink.clone(), metrics.clone());
                state.judge = judge::JudgeOptions {
                    lease: opts.worker.lease,
                    retry: opts.worker.retry,
                    // Answer (202: stored, judging goes on) well before the request timeout.
                    wait: opts.limits.request_timeout * 2 / 3,
                };
                webhooks = webhooks.merge(events::events_routes(state));
            }
            None => bail!(
                "PATCHGATE_EVENTS_SECRET is set, but /webhook/meta reverts merges through the GitHub App: \
                 set PATCHGATE_GITHUB_APP_ID and PATCHGATE_GITHUB_PRIVATE_KEY too"
            ),
        }
    }
    // The App's job handler: the workers run jobs with it, and the web view casts votes with it.
    let app_handler = match &app {
        Some(app) => Some(Arc::new(app::AppHandler {
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
        })),
        None => None,
    };
    let ops = metrics::ops_routes(store.clone(), metrics.clone(), ready.clone());
    let mut router = intake::limit_webhooks(webhooks, &opts.limits).merge(ops.clone());
    match &secrets.web {
        Some(w) => {
            let oauth = web::oauth::OAuth::new(
                w.client_id.clone(),
                w.client_secret.clone(),
                &w.web_url,
                &secrets.api_url,
                &w.public_url,
            )?;
            info!(callback = %oauth.callback_url(), "web view on /ui (GitHub sign-in)");
            if let Err(e) = store.index_decisions().await {
                warn!(error = %e, "indexing the ledger's decisions for the web view");
            }
            router = router.merge(web::web_routes(Arc::new(web::WebState {
                store: store.clone(),
                oauth,
                sessions: web::session::Sessions::new(),
                daily_cap_usd: settings.daily_budget_usd,
                votes: app_handler.clone().map(|h| h as Arc<dyn app::WebVotes>),
                mirrors: mirrors.clone(),
                allowed_signers: web::allowed_signers(&|k: &str| env(k), signing_key.as_deref())?,
            })));
        }
        None => info!("web view off (PATCHGATE_OAUTH_CLIENT_ID is not set): /ui is not served"),
    }
    let router = metrics::track_requests(router, metrics.clone());
    // The probe lane (see `listen`): operator routes only.
    let probes = metrics::track_requests(
        ops.fallback(|| async {
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, "1")],
                "too many connections; retry later\n",
            )
        }),
        metrics.clone(),
    );

    if let (Some(app), Some(app_handler)) = (&app, &app_handler) {
        let handler: Arc<dyn JobHandler> = app_handler.clone();
        // Redelivery passes and requests are jobs too (queued by whichever replica runs the
        // schedule below, run by whichever worker takes them).
        // Policy-event batches left (partly) unjudged are jobs too.
        let handler: Arc<dyn JobHandler> = match &app_rollbacks {
            Some(sink) => Arc::new(judge::WithPolicyEvents {
                inner: handler,
                events: Arc::new(judge::PolicyEventJobs {
                    store: store.clone(),
                    sink: sink.clone(),
                    metrics: metrics.clone(),
                }),
            }),
            None => handler,
        };
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
            // Each tick queues the pass of the current interval slot as a job; replicas queue
            // it under the same delivery id, so one of them runs it per interval.
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
                    match app::queue_reconcile_pass(&store, every).await {
                        Ok(true) => wake.notify_waiters(),
                        Ok(false) => {} // another replica queued this interval's pass
                        Err(e) => {
                            warn!(error = %format!("{e:#}"), "queueing the reconciliation pass failed")
                        }
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

    if let Some(keep) = opts.job_retention {
        // Done jobs past their retention go in the background, in short batches.
        let store = store.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                let prune = prune_done_jobs(&store, keep, chrono::Utc::now(), PRUNE_BATCH);
                tokio::select! {
                    r = prune => match r {
                        Ok(0) => {}
                        Ok(n) => info!(deleted = n, retention_days = keep.as_secs() / 86_400, "done jobs past their retention deleted"),
                        Err(e) => warn!(error = %e, "deleting done jobs past their retention failed"),
                    },
                    _ = stop.changed() => break,
                }
            }
        });
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
    let tls = match store.encrypted().await {
        Ok(Some(true)) => "yes",
        Ok(Some(false)) => "no",
        Ok(None) => "n/a",
        Err(_) => "unknown",
    };
    info!(
        %addr,
        store = store.backend(),
        store_tls = tls,
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
    let conn_limits = opts.limits.conn_limits().fit_to(listen::open_file_limit());
    info!(
        max_connections = conn_limits.general,
        probe_connections = conn_limits.probes,
        header_timeout_s = conn_limits.header_timeout.as_secs_f64(),
        "connection limits"
    );
    listen::serve_http(
        listener,
        router,
        probes,
        conn_limits,
        Arc::new(listen::ConnStats::default()),
        shutdown,
    )
    .await;
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            error!(error = %e, "a background task panicked");
        }
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "patchgate".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_retention_days() {
        assert_eq!(job_retention(0).unwrap(), None);
        assert_eq!(
            job_retention(7).unwrap(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            job_retention(3).unwrap(),
            Some(Duration::from_secs(3 * 86_400))
        );
        for short in [1, 2] {
            let e = job_retention(short).unwrap_err().to_string();
            assert!(e.contains("at least 3") && e.contains("redeliver"), "{e}");
        }
        let e = job_retention(u64::MAX).unwrap_err().to_string();
        assert!(e.contains("at most 36500"), "{e}");
    }

    #[test]
    fn listener_limits_are_checked() {
        use intake::ListenerLimits;
        assert_eq!(ListenerLimits::default().validate(), Ok(()));
        let bad = [
            ListenerLimits {
                max_in_flight: 0,
                ..Default::default()
            },
            ListenerLimits {
                max_body_bytes_in_flight: intake::MAX_BODY_BYTES - 1,
                ..Default::default()
            },
            ListenerLimits {
                body_timeout: Duration::ZERO,
                ..Default::default()
            },
            ListenerLimits {
                body_timeout: Duration::from_secs(31),
                request_timeout: Duration::from_secs(30),
                ..Default::default()
            },
        ];
        for limits in bad {
            assert!(limits.validate().is_err(), "{limits:?}");
        }
    }
}
