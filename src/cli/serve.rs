//! `patchgate serve`: the GitHub App's webhook service, its flags checked and turned into
//! `ServeOptions`.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::args::{GlobalArgs, LogFormatArg, ServeArgs};
use super::{env_var, runtime, settings};

pub(crate) fn cmd_serve(global: &GlobalArgs, args: ServeArgs) -> Result<u8> {
    use patchgate::server::{self, logging, ServeOptions, ServeSecrets, WorkerOptions};
    use std::time::Duration;
    let traces = server::otel::OtelConfig::from_env(args.otlp_endpoint.as_deref(), &env_var)?;
    let collector = traces
        .as_ref()
        .map(|t| t.endpoint.host_str().unwrap_or("-").to_string());
    let _logs = logging::init(
        match args.log_format {
            LogFormatArg::Text => logging::LogFormat::Text,
            LogFormatArg::Json => logging::LogFormat::Json,
        },
        None,
        traces,
    )?;
    if let Some(host) = collector {
        tracing::info!(
            collector = %host,
            "traces: exporting spans over OTLP/HTTP (JSON)"
        );
    }
    let settings = settings(global, None)?;
    let listen = args
        .listen
        .or_else(|| env_var("PATCHGATE_LISTEN").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| server::DEFAULT_LISTEN.to_string());
    let listen = listen.parse().with_context(|| {
        format!("--listen / PATCHGATE_LISTEN: {listen:?} is not an address like 127.0.0.1:8080")
    })?;
    if args.max_attempts == 0 {
        bail!("--max-attempts must be at least 1");
    }
    if args.lease_secs < 3 {
        bail!("--lease-secs must be at least 3");
    }
    let job_retention = server::job_retention(args.job_retention_days)?;
    let limits = server::intake::ListenerLimits {
        max_in_flight: args.max_webhook_requests,
        max_body_bytes_in_flight: args.max_webhook_body_mib.saturating_mul(1024 * 1024),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        max_connections: args.max_connections,
        max_connections_per_peer: args.max_connections_per_peer,
        max_in_flight_per_peer: args.max_webhook_requests_per_peer,
        max_body_bytes_per_peer: args
            .max_webhook_body_mib_per_peer
            .saturating_mul(1024 * 1024),
        trusted_proxies: args.trusted_proxies.clone(),
    };
    limits.validate().map_err(|e| anyhow::anyhow!(e))?;
    let defaults = WorkerOptions::default();
    let opts = ServeOptions {
        listen,
        workers: args.workers,
        reconcile_every: (args.reconcile_interval > 0)
            .then(|| Duration::from_secs(args.reconcile_interval)),
        redeliver_every: (args.redeliver_interval > 0)
            .then(|| Duration::from_secs(args.redeliver_interval)),
        worker: WorkerOptions {
            lease: Duration::from_secs(args.lease_secs),
            retry: patchgate::store::RetryPolicy {
                max_attempts: args.max_attempts,
                base_backoff: Duration::from_secs(args.retry_secs),
                max_backoff: Duration::from_secs(600),
            },
            grace: Duration::from_secs(args.grace_secs),
            ..defaults
        },
        job_retention,
        limits,
    };
    let secrets = ServeSecrets::from_env(&env_var)?;
    let env: server::EnvFn = Arc::new(env_var);
    runtime()?.block_on(server::serve(settings, opts, secrets, env))?;
    Ok(0)
}
