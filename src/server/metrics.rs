//! Prometheus metrics of `patchgate serve`, and the operator routes `GET /metrics`,
//! `GET /healthz` and `GET /readyz`.
//!
//! What it is for: one [`Metrics`] value (shared as `Arc<Metrics>`) owns a `prometheus_client`
//! registry; intake, workers, the gate, the policy engine and rollbacks each call one small
//! method to count what they did, and a scrape encodes the lot as OpenMetrics text. The job
//! gauge is refreshed from the store at scrape time, so it is right whoever changed the rows.
//!
//! What it must never do: let a label take unbounded values (an attacker choosing the
//! `X-GitHub-Event` header must not grow the registry). Every label is normalised here — events
//! to the known ones or `other`, outcomes and verdicts to their fixed sets, free-form names
//! (auditors, policy outcomes) to the first [`MAX_FREE_LABELS`] seen and `other` after that.
//! It never records a secret, a body or a raw URI (routes are the matched template).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::Store;

/// Content type of `GET /metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Distinct values a free-form label (auditor name, policy outcome, …) may take before further
/// ones are counted as `other`.
pub const MAX_FREE_LABELS: usize = 32;

/// Events counted under their own name; anything else is `other`.
const KNOWN_EVENTS: [&str; 13] = [
    "pull_request",
    "issue_comment",
    "check_run",
    "check_suite",
    "merge_group",
    "status",
    "push",
    "ping",
    "installation",
    "installation_repositories",
    "meta",
    "policy",
    // Jobs that judge what is left of a /webhook/meta batch (`crate::server::judge`).
    "policy_events",
];

/// Webhook outcomes (see [`Metrics::webhook`]).
const WEBHOOK_OUTCOMES: [&str; 7] = [
    "queued",
    "duplicate",
    "ignored",
    "bad_signature",
    "malformed",
    "too_large",
    "unavailable",
];

const VERDICTS: [&str; 3] = ["approve", "reject", "abstain"];
const ROLLBACK_TRIGGERS: [&str; 4] = ["policy", "comment", "check_action", "cli"];
const JOB_OUTCOMES: [&str; 4] = ["done", "retry", "parked", "released"];
/// Outcomes of automatic redelivery (see [`Metrics::redelivery`]).
const REDELIVERY_OUTCOMES: [&str; 3] = ["requested", "rejected", "error"];

/// Group-commit durations: a healthy local disk commits in about a millisecond; the upper
/// buckets catch the disk stalls that hold every acknowledgement behind them.
const COMMIT_SECONDS_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const AST_DIFF_BUCKETS: [f64; 9] = [0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0];
const JOB_SECONDS_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
const HTTP_SECONDS_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// `value` when it is one of `known`, else `"other"`.
fn known(value: &str, known: &[&'static str]) -> &'static str {
    known
        .iter()
        .copied()
        .find(|k| *k == value)
        .unwrap_or("other")
}

/// A label whose values are not known in advance: the first [`MAX_FREE_LABELS`] distinct
/// values are kept, later ones become `other`. Values are also cut to 64 characters.
#[derive(Debug, Default)]
struct FreeLabel(Mutex<BTreeSet<String>>);

impl FreeLabel {
    fn bound(&self, value: &str) -> String {
        let value: String = value.chars().take(64).collect();
        // A poisoned lock only means another thread panicked mid-insert; the set is still valid.
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&value) {
            return value;
        }
        if seen.len() < MAX_FREE_LABELS {
            seen.insert(value.clone());
            return value;
        }
        "other".to_string()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventOutcome {
    event: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Vote {
    auditor: String,
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Passed {
    passed: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Trigger {
    trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the server, in one registry. Share it as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    webhook_requests: Family<EventOutcome, Counter>,
    jobs: Family<StateLabel, Gauge>,
    ast_diff_percent: Histogram,
    votes: Family<Vote, Counter>,
    meta_explained: Counter,
    decisions: Family<Passed, Counter>,
    daily_burn_usd: Gauge<f64, std::sync::atomic::AtomicU64>,
    rollbacks: Family<Trigger, Counter>,
    job_duration: HistogramFamily<EventOutcome>,
    jobs_processed: Family<EventOutcome, Counter>,
    jobs_parked: Family<EventLabel, Counter>,
    http_duration: HistogramFamily<RouteStatus>,
    policy_events: Family<Outcome, Counter>,
    intake_commit: Histogram,
    redeliveries: Family<Outcome, Counter>,
    auditors: FreeLabel,
    policy_outcomes: FreeLabel,
    routes: FreeLabel,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn job_seconds_histogram() -> Histogram {
    Histogram::new(JOB_SECONDS_BUCKETS)
}

fn http_seconds_histogram() -> Histogram {
    Histogram::new(HTTP_SECONDS_BUCKETS)
}

impl Metrics {
    /// A fresh registry with every metric registered (and none observed yet).
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::default();
        // prometheus_client appends `_total` to counter names itself.
        let webhook_requests = Family::<EventOutcome, Counter>::default();
        registry.register(
            "patchgate_webhook_requests",
            "Webhook deliveries received, by event and outcome",
            webhook_requests.clone(),
        );
        let jobs = Family::<StateLabel, Gauge>::default();
        registry.register(
            "patchgate_jobs",
            "Jobs in the durable queue, by state (refreshed at scrape)",
            jobs.clone(),
        );
        let ast_diff_percent = Histogram::new(AST_DIFF_BUCKETS);
        registry.register(
            "patchgate_quorum_ast_diff_percent",
            "Dual-render AST variance of gated changes, in percent",
            ast_diff_percent.clone(),
        );
        let votes = Family::<Vote, Counter>::default();
        registry.register(
            "patchgate_audit_votes",
            "Auditor votes, by auditor and verdict",
            votes.clone(),
        );
        let meta_explained = Counter::default();
        registry.register(
            "patchgate_meta_explained",
            "Meta records written with their explanations hashed",
            meta_explained.clone(),
        );
        let decisions = Family::<Passed, Counter>::default();
        registry.register(
            "patchgate_quorum_decisions",
            "Gate decisions, by whether the quorum passed",
            decisions.clone(),
        );
        let daily_burn_usd = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "patchgate_cost_daily_burn_usd",
            "Model auditor spend today, in USD",
            daily_burn_usd.clone(),
        );
        let rollbacks = Family::<Trigger, Counter>::default();
        registry.register(
            "patchgate_rollback_triggered",
            "Rollbacks started, by trigger",
            rollbacks.clone(),
        );
        let job_duration: HistogramFamily<EventOutcome> =
            Family::new_with_constructor(job_seconds_histogram);
        registry.register(
            "patchgate_job_duration_seconds",
            "Time a worker spent on one job attempt, by event and outcome",
            job_duration.clone(),
        );
        let jobs_processed = Family::<EventOutcome, Counter>::default();
        registry.register(
            "patchgate_jobs_processed",
            "Job attempts finished, by event and outcome",
            jobs_processed.clone(),
        );
        let jobs_parked = Family::<EventLabel, Counter>::default();
        registry.register(
            "patchgate_jobs_parked",
            "Jobs parked after their last failed attempt, by event",
            jobs_parked.clone(),
        );
        let http_duration: HistogramFamily<RouteStatus> =
            Family::new_with_constructor(http_seconds_histogram);
        registry.register(
            "patchgate_http_request_duration_seconds",
            "HTTP request latency, by matched route and status",
            http_duration.clone(),
        );
        let policy_events = Family::<Outcome, Counter>::default();
        registry.register(
            "patchgate_policy_events",
            "Policy events judged, by outcome",
            policy_events.clone(),
        );
        let intake_commit = Histogram::new(COMMIT_SECONDS_BUCKETS);
        registry.register(
            "patchgate_intake_commit_seconds",
            "Time one group commit of webhook deliveries took (every delivery in it waited for it)",
            intake_commit.clone(),
        );
        let redeliveries = Family::<Outcome, Counter>::default();
        registry.register(
            "patchgate_redeliveries",
            "Failed webhook deliveries patchgate asked GitHub to redeliver, by outcome",
            redeliveries.clone(),
        );
        for o in REDELIVERY_OUTCOMES {
            let _ = redeliveries.get_or_create(&Outcome {
                outcome: o.to_string(),
            });
        }
        // Every rollback trigger and both decisions exist from the start at 0, so dashboards
        // and alerts see the series before the first event (a rate over a missing series is
        // empty, not zero).
        for t in ROLLBACK_TRIGGERS {
            let _ = rollbacks.get_or_create(&Trigger {
                trigger: t.to_string(),
            });
        }
        for passed in [true, false] {
            let _ = decisions.get_or_create(&Passed {
                passed: passed.to_string(),
            });
        }
        Arc::new(Metrics {
            registry,
            webhook_requests,
            jobs,
            ast_diff_percent,
            votes,
            meta_explained,
            decisions,
            daily_burn_usd,
            rollbacks,
            job_duration,
            jobs_processed,
            jobs_parked,
            http_duration,
            policy_events,
            intake_commit,
            redeliveries,
            auditors: FreeLabel::default(),
            policy_outcomes: FreeLabel::default(),
            routes: FreeLabel::default(),
        })
    }

    /// Count one webhook delivery. `outcome`: `queued`, `duplicate`, `ignored`,
    /// `bad_signature`, `malformed`, `too_large` or `unavailable`.
    pub fn webhook(&self, event: &str, outcome: &str) {
        self.webhook_requests
            .get_or_create(&EventOutcome {
                event: known(event, &KNOWN_EVENTS).to_string(),
                outcome: known(outcome, &WEBHOOK_OUTCOMES).to_string(),
            })
            .inc();
    }

    /// Set `patchgate_jobs{state}` from [`Store::counts`]. States not in the map are left as
    /// they were; unknown states are ignored.
    pub fn set_jobs(&self, counts: &BTreeMap<String, i64>) {
        for (state, n) in counts {
            if crate::store::jobs::STATES.contains(&state.as_str()) {
                self.jobs
                    .get_or_create(&StateLabel {
                        state: state.clone(),
                    })
                    .set(*n);
            }
        }
    }

    /// Observe one dual-render AST variance, in percent.
    pub fn ast_diff_percent(&self, v: f64) {
        if v.is_finite() {
            self.ast_diff_percent.observe(v);
        }
    }

    /// Count one auditor vote (`approve`, `reject` or `abstain`).
    pub fn vote(&self, auditor: &str, verdict: &str) {
        self.votes
            .get_or_create(&Vote {
                auditor: self.auditors.bound(auditor),
                verdict: known(verdict, &VERDICTS).to_string(),
            })
            .inc();
    }

    /// Count one meta record written with its explanations hashed.
    pub fn meta_explained(&self) {
        self.meta_explained.inc();
    }

    /// Count one gate decision.
    pub fn decision(&self, passed: bool) {
        self.decisions
            .get_or_create(&Passed {
                passed: passed.to_string(),
            })
            .inc();
    }

    /// Set today's model spend, in USD.
    pub fn set_daily_burn_usd(&self, usd: f64) {
        if usd.is_finite() {
            self.daily_burn_usd.set(usd);
        }
    }

    /// Count one step of automatic redelivery: `requested` (GitHub accepted a redelivery
    /// request), `rejected` (GitHub refused it for good, e.g. the delivery is too old) or
    /// `error` (listing deliveries or asking failed; the job is retried).
    pub fn redelivery(&self, outcome: &str) {
        self.redeliveries
            .get_or_create(&Outcome {
                outcome: known(outcome, &REDELIVERY_OUTCOMES).to_string(),
            })
            .inc();
    }

    /// Count one rollback (`policy`, `comment`, `check_action` or `cli`).
    pub fn rollback(&self, trigger: &str) {
        self.rollbacks
            .get_or_create(&Trigger {
                trigger: known(trigger, &ROLLBACK_TRIGGERS).to_string(),
            })
            .inc();
    }

    /// Record one finished job attempt: its duration and its outcome (`done`, `retry`,
    /// `parked` or `released`).
    pub fn job_done(&self, event: &str, outcome: &str, secs: f64) {
        let labels = EventOutcome {
            event: known(event, &KNOWN_EVENTS).to_string(),
            outcome: known(outcome, &JOB_OUTCOMES).to_string(),
        };
        if secs.is_finite() && secs >= 0.0 {
            self.job_duration.get_or_create(&labels).observe(secs);
        }
        self.jobs_processed.get_or_create(&labels).inc();
    }

    /// Count one job parked after its last failed attempt.
    pub fn job_parked(&self, event: &str) {
        self.jobs_parked
            .get_or_create(&EventLabel {
                event: known(event, &KNOWN_EVENTS).to_string(),
            })
            .inc();
    }

    /// Observe one HTTP request. `route` must be the matched route template (e.g.
    /// `/webhook/github`), never the raw URI; [`track_requests`] does this for a router.
    pub fn request(&self, route: &str, status: u16, secs: f64) {
        if !(secs.is_finite() && secs >= 0.0) {
            return;
        }
        self.http_duration
            .get_or_create(&RouteStatus {
                route: self.routes.bound(route),
                status: status.to_string(),
            })
            .observe(secs);
    }

    /// Observe one group commit of the webhook intake (its whole duration, in seconds).
    pub fn intake_commit(&self, secs: f64) {
        if secs.is_finite() && secs >= 0.0 {
            self.intake_commit.observe(secs);
        }
    }

    /// Count one policy event by how it was judged (e.g. `ok`, `violation`, `rejected`).
    pub fn policy_event(&self, outcome: &str) {
        self.policy_events
            .get_or_create(&Outcome {
                outcome: self.policy_outcomes.bound(outcome),
            })
            .inc();
    }

    /// The registry as OpenMetrics text (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an Err would only come from a broken encoder.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }
}

/// The orchestrator counts its finished rollbacks here.
impl crate::rollback::sink::RollbackMetrics for Metrics {
    fn rollback(&self, trigger: &str) {
        Metrics::rollback(self, trigger);
    }
}

/// Whether the server is accepting work. Cloneable; the server flips it to draining on
/// SIGTERM so `/readyz` fails and the load balancer stops sending traffic.
#[derive(Debug, Clone, Default)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    /// A flag that is not draining.
    pub fn new() -> ReadyFlag {
        ReadyFlag::default()
    }

    /// Mark the server as draining (irreversible).
    pub fn set_draining(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`set_draining`](Self::set_draining) was called.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct OpsState {
    store: Store,
    metrics: Arc<Metrics>,
    ready: ReadyFlag,
}

/// `GET /metrics`, `GET /healthz` and `GET /readyz`.
pub fn ops_routes(store: Store, metrics: Arc<Metrics>, ready: ReadyFlag) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(OpsState {
            store,
            metrics,
            ready,
        })
}

async fn scrape(State(st): State<OpsState>) -> Response {
    use crate::audit::spend::SpendStore;
    match st.store.counts().await {
        Ok(counts) => st.metrics.set_jobs(&counts),
        // Still serve the other metrics; the job gauge keeps its last value.
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read job counts"),
    }
    // Today's (UTC) spend, read at scrape like the job gauge: right from the first scrape and
    // across midnight, whichever replica spent it.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    match st.store.spent(&today).await {
        Ok(usd) => st.metrics.set_daily_burn_usd(usd),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read today's spend"),
    }
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        st.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(st): State<OpsState>) -> Response {
    if st.ready.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readyz: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

/// Wrap every route of `router` so each request is observed with
/// [`Metrics::request`] under its matched route template (`unmatched` for a 404 that matched
/// no route). Apply it last, to the merged router, so it sees every route.
pub fn track_requests<S>(router: Router<S>, metrics: Arc<Metrics>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn_with_state(metrics, observe))
}

async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics.request(
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric the registry has, once each.
    const NAMES: [(&str, &str); 15] = [
        ("patchgate_webhook_requests", "counter"),
        ("patchgate_jobs", "gauge"),
        ("patchgate_quorum_ast_diff_percent", "histogram"),
        ("patchgate_audit_votes", "counter"),
        ("patchgate_meta_explained", "counter"),
        ("patchgate_quorum_decisions", "counter"),
        ("patchgate_cost_daily_burn_usd", "gauge"),
        ("patchgate_rollback_triggered", "counter"),
        ("patchgate_job_duration_seconds", "histogram"),
        ("patchgate_jobs_processed", "counter"),
        ("patchgate_jobs_parked", "counter"),
        ("patchgate_http_request_duration_seconds", "histogram"),
        ("patchgate_policy_events", "counter"),
        ("patchgate_intake_commit_seconds", "histogram"),
        ("patchgate_redeliveries", "counter"),
    ];

    #[test]
    fn decisions_and_rollback_triggers_exist_from_the_start_at_zero() {
        let text = Metrics::new().encode();
        for sample in [
            "patchgate_quorum_decisions_total{passed=\"true\"} 0",
            "patchgate_quorum_decisions_total{passed=\"false\"} 0",
            "patchgate_rollback_triggered_total{trigger=\"policy\"} 0",
            "patchgate_rollback_triggered_total{trigger=\"comment\"} 0",
            "patchgate_rollback_triggered_total{trigger=\"check_action\"} 0",
            "patchgate_rollback_triggered_total{trigger=\"cli\"} 0",
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample}:\n{text}");
        }
        let m = Metrics::new();
        m.decision(false);
        let text = m.encode();
        assert!(text
            .lines()
            .any(|l| l == "patchgate_quorum_decisions_total{passed=\"false\"} 1"));
        assert!(text
            .lines()
            .any(|l| l == "patchgate_quorum_decisions_total{passed=\"true\"} 0"));
    }

    #[test]
    fn every_metric_has_help_type_and_samples() {
        let m = Metrics::new();
        m.webhook("pull_request", "queued");
        m.set_jobs(&BTreeMap::from([("queued".to_string(), 3)]));
        m.ast_diff_percent(1.8);
        m.vote("rule-guard", "approve");
        m.meta_explained();
        m.decision(true);
        m.set_daily_burn_usd(0.25);
        m.rollback("cli");
        m.job_done("pull_request", "done", 0.3);
        m.job_parked("check_run");
        m.request("/webhook/github", 202, 0.002);
        m.policy_event("violation");
        m.intake_commit(0.0015);
        m.intake_commit(0.140);
        m.redelivery("requested");
        let text = m.encode();
        // NAMES is every metric, once: the same set as the registry's, with no repeats.
        let names: BTreeSet<&str> = NAMES.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), NAMES.len(), "a name listed twice");
        let registered: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(registered, names, "{text}");
        for (name, kind) in NAMES {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
            assert!(
                text.contains(&format!("# TYPE {name} {kind}")),
                "{name}:\n{text}"
            );
        }
        for sample in [
            "patchgate_webhook_requests_total{event=\"pull_request\",outcome=\"queued\"} 1",
            "patchgate_jobs{state=\"queued\"} 3",
            "patchgate_quorum_ast_diff_percent_bucket{le=\"2.0\"} 1",
            "patchgate_audit_votes_total{auditor=\"rule-guard\",verdict=\"approve\"} 1",
            "patchgate_meta_explained_total 1",
            "patchgate_quorum_decisions_total{passed=\"true\"} 1",
            "patchgate_cost_daily_burn_usd 0.25",
            "patchgate_rollback_triggered_total{trigger=\"cli\"} 1",
            "patchgate_job_duration_seconds_count{event=\"pull_request\",outcome=\"done\"} 1",
            "patchgate_jobs_processed_total{event=\"pull_request\",outcome=\"done\"} 1",
            "patchgate_jobs_parked_total{event=\"check_run\"} 1",
            "patchgate_http_request_duration_seconds_count{route=\"/webhook/github\",status=\"202\"} 1",
            "patchgate_policy_events_total{outcome=\"violation\"} 1",
            "patchgate_intake_commit_seconds_bucket{le=\"0.002\"} 1",
            "patchgate_intake_commit_seconds_bucket{le=\"0.1\"} 1",
            "patchgate_intake_commit_seconds_bucket{le=\"0.25\"} 2",
            "patchgate_intake_commit_seconds_count 2",
            "patchgate_redeliveries_total{outcome=\"requested\"} 1",
            "patchgate_redeliveries_total{outcome=\"error\"} 0",
        ] {
            assert!(text.contains(sample), "{sample}:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn labels_stay_bounded() {
        let m = Metrics::new();
        m.webhook("x-attacker-chosen", "whatever");
        m.rollback("?");
        for i in 0..(MAX_FREE_LABELS + 10) {
            m.vote(&format!("auditor-{i}"), "maybe");
        }
        let text = m.encode();
        assert!(text.contains("event=\"other\",outcome=\"other\""), "{text}");
        assert!(!text.contains("x-attacker-chosen"));
        assert!(text.contains("trigger=\"other\""));
        assert!(
            text.contains("auditor=\"other\",verdict=\"other\"} 10"),
            "{text}"
        );
        let votes = text
            .lines()
            .filter(|l| l.starts_with("patchgate_audit_votes_total{"))
            .count();
        assert_eq!(votes, MAX_FREE_LABELS + 1);
    }

    #[test]
    fn ready_flag_drains() {
        let r = ReadyFlag::new();
        let c = r.clone();
        assert!(!r.is_draining());
        c.set_draining();
        assert!(r.is_draining());
    }
}
