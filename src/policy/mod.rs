//! Post-merge policy engine: judges policy events (one measurement after a merge) against the
//! repository's policy, and decides whether a merge should be reverted, only reported, or
//! whether nothing can be decided yet.
//!
//! Everything here is pure: no I/O, no git, no HTTP. The caller attributes an event to the merge
//! that introduced its commit ([`MergeFacts`]), keeps the per-repository counters
//! ([`RepoState`]) and acts on the [`Decision`]; this module only decides.
//!
//! - [`event`]: the wire format of a policy event (one JSON object, or NDJSON lines), strict.
//! - [`spec`]: the policy (`rules/policy.yaml`, compiled in, overridable per repository).
//! - [`eval`]: [`evaluate`], the decision, its guards and its reasons.
//!
//! Fail closed: anything that cannot be decided (no baseline for a relative rule, an unknown
//! metric, an event not attributable to a merge) is [`Decision::Inconclusive`] — it pauses and
//! reports, it never reverts. A revert needs every fact it depends on, and passes every guard.

mod action;
pub mod ci;
pub mod eval;
pub mod event;
pub mod send;
pub mod signing;
pub mod spec;

pub use action::{RollbackAction, UnknownAction};
pub use eval::{evaluate, Decision, Guard, InconclusiveCause, MergeFacts, RepoState};
pub use event::{parse_event, parse_ndjson, EventError, PolicyEvent, CI_METRIC};
pub use spec::{Change, InconclusiveAction, MetricRule, PolicyError, PolicySet, EMBEDDED_POLICY};
