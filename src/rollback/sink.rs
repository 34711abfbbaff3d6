//! The ports between the server and the rollback orchestrator, defined here so that the
//! dependency points one way (server → rollback): [`EventSink`], what the policy-event receiver
//! (`POST /webhook/meta`) hands each verified event to, with [`Applied`], what the sink
//! decided; and [`RollbackMetrics`], where the orchestrator counts the rollbacks it finished
//! (the server's Prometheus metrics implement it).

use std::future::Future;
use std::pin::Pin;

use crate::policy::PolicyEvent;

/// What judges verified events (implemented by the rollback orchestrator,
/// [`crate::rollback::auto::Orchestrator`], and by the server's per-repository router).
pub trait EventSink: Send + Sync + 'static {
    /// Judge (and act on) one verified, stored event; `event_row` is its row in
    /// `policy_events`. Called once per event, in line order.
    fn apply(
        &self,
        event: PolicyEvent,
        event_row: i64,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Applied>> + Send + '_>>;
}

/// What the sink decided about one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The policy `Decision` as JSON.
    pub decision: serde_json::Value,
    /// The record hash of the merge judged, when the event was attributed to one with a record.
    pub audit_hash: Option<String>,
    /// The merge the event was attributed to.
    pub merge_sha: Option<String>,
}

/// Where finished rollbacks are counted (`patchgate_rollbacks_total` in the server).
pub trait RollbackMetrics: Send + Sync {
    /// One rollback reached `reported`, started by `trigger`.
    fn rollback(&self, trigger: &str);
}
