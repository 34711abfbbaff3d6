//! Log output of `patchgate serve`: `tracing` events to stderr, as human-readable text or as
//! one JSON object per line (for log shippers).
//!
//! What it is for: one call at start-up, [`init`], with the format and an optional filter
//! (`RUST_LOG` syntax; `RUST_LOG` itself when no filter is given; else
//! [`DEFAULT_FILTER`]), and the trace exporter's configuration when traces are exported
//! ([`super::otel`]: the JSON lines then carry `trace_id` and `span_id`).
//!
//! What it must never do: log a header map, a request body, a signature or a secret
//! wholesale. Call sites log chosen fields (delivery id, event, outcome, status); this module
//! installs no layer that would dump requests.

use std::io::IsTerminal;
use std::str::FromStr;

use anyhow::Context;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::otel;

/// Filter used when neither a filter nor `RUST_LOG` is given.
pub const DEFAULT_FILTER: &str = "patchgate=info,tower_http=warn";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// An unknown log format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?}: expected \"text\" or \"json\"")]
pub struct UnknownLogFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(s: &str) -> Result<LogFormat, UnknownLogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(UnknownLogFormat(s.chars().take(32).collect())),
        }
    }
}

/// The filter `init` would use: `filter`, else `RUST_LOG`, else [`DEFAULT_FILTER`].
fn env_filter(filter: Option<&str>) -> anyhow::Result<EnvFilter> {
    let from_env = std::env::var("RUST_LOG").ok();
    let spec = filter
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .or(from_env.filter(|f| !f.trim().is_empty()))
        .unwrap_or_else(|| DEFAULT_FILTER.to_string());
    EnvFilter::try_new(&spec)
        .with_context(|| format!("invalid log filter {spec:?} (expected e.g. {DEFAULT_FILTER:?})"))
}

/// What [`init`] leaves running: the trace exporter, when one is configured. Keep it until the
/// process ends; dropping it sends the spans still waiting (within a few seconds).
#[must_use = "dropping the guard stops the trace exporter"]
pub struct LogGuard {
    _export: Option<otel::ExportGuard>,
}

/// Install the global subscriber: `format` to stderr, filtered by `filter` (see
/// [`DEFAULT_FILTER`]), and — with `traces` — the OpenTelemetry layer that exports the spans of
/// patchgate's own code (at info and above, whatever the log filter says) and puts the trace id
/// on JSON log lines ([`otel`]). Fails when the filter is invalid or a subscriber is already
/// set.
pub fn init(
    format: LogFormat,
    filter: Option<&str>,
    traces: Option<otel::OtelConfig>,
) -> anyhow::Result<LogGuard> {
    let filter = env_filter(filter)?;
    // Colour only for a person at a terminal: a log file, journald or a container's log
    // collector gets plain text, not escape codes.
    let ansi = ansi_for(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").is_some(),
    );
    let lines: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            // The innermost span's fields, and every enclosing span's (the job's: job id,
            // delivery, event, repo, attempt) on every line logged inside them: an operator
            // must be able to tell which delivery a line is about, also from inside the gate.
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .map_event_format(otel::WithTraceId)
            .boxed(),
    };
    let (traces, export) = match traces {
        Some(config) => {
            let (layer, guard) = otel::start(config)?;
            let own = Targets::new().with_target("patchgate", tracing::Level::INFO);
            (Some(layer.with_filter(own)), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(traces)
        .try_init()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot install the log subscriber (already installed?)")?;
    Ok(LogGuard { _export: export })
}

/// Whether text logs are coloured: on a terminal, unless `NO_COLOR` is set.
fn ansi_for(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(ansi_for(true, false));
        assert!(!ansi_for(false, false));
        assert!(!ansi_for(true, true));
    }

    #[test]
    fn formats_parse() {
        assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
        assert_eq!("JSON".parse::<LogFormat>().unwrap(), LogFormat::Json);
        let e = "xml".parse::<LogFormat>().unwrap_err();
        assert!(e.to_string().contains("\"text\" or \"json\""), "{e}");
    }

    #[test]
    fn filters() {
        assert!(env_filter(Some("patchgate=debug")).is_ok());
        assert!(env_filter(Some("[=")).is_err());
        assert_eq!(DEFAULT_FILTER, "patchgate=info,tower_http=warn");
    }
}
