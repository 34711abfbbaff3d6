//! CI results from GitHub webhooks, turned into policy events of metric [`CI_METRIC`].
//!
//! A `check_run` that `completed` on the default branch, and a `status` (not `pending`) on a
//! commit that is on the default branch, each become one event: `check` = the check's name (or
//! the status's context), value 1 for a green result (success, neutral, skipped), 0 for a red
//! one (failure, timed_out, cancelled, action_required, stale; a status's failure or error).
//! Anything else — another action, another branch, an unknown conclusion, a payload missing a
//! field — is no event at all.
//!
//! What it must never do: turn patchgate's own check run ([`OWN_CHECK`]) into an event (the
//! gate would judge itself), or guess a result it cannot read from the payload. Pure: no I/O.

use super::event::{PolicyEvent, CI_METRIC};
use crate::webhook::{CheckRunEvent, Event, RepoName, StatusEvent};
use chrono::{DateTime, Utc};

/// The name of patchgate's own check run, never an event.
pub const OWN_CHECK: &str = "patchgate/quorum";

/// The policy events carried by one GitHub webhook (`check_run` completed, `status`). With
/// `default_branch_only`, results on any other branch are dropped; without it, every branch
/// counts (for repositories whose policy watches more than the default branch).
pub fn ci_events(event: &Event, default_branch_only: bool) -> Vec<PolicyEvent> {
    let found = match event {
        Event::CheckRunCompleted(e) => check_run(e, default_branch_only),
        Event::Status(s) => status(s, default_branch_only),
        _ => None,
    };
    found.into_iter().collect()
}

fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Build the event through the strict constructor of [`PolicyEvent`], so a payload with an odd
/// sha or name is dropped rather than half-trusted.
fn event(
    repo: &RepoName,
    commit: &str,
    check: &str,
    green: bool,
    at: DateTime<Utc>,
) -> Option<PolicyEvent> {
    let json = serde_json::json!({
        "repo": repo.to_string(),
        "commit": commit,
        "metric": CI_METRIC,
        "value": if green { 1.0 } else { 0.0 },
        "at": at.to_rfc3339(),
        "check": check,
    });
    serde_json::from_value(json).ok()
}

fn check_run(e: &CheckRunEvent, default_branch_only: bool) -> Option<PolicyEvent> {
    let run = &e.check_run;
    let name = run.name.as_deref()?;
    if name == OWN_CHECK {
        return None;
    }
    let default_branch = e.repository.default_branch.as_deref()?;
    if default_branch_only && run.head_branch()? != default_branch {
        return None;
    }
    let green = match run.conclusion.as_deref()? {
        "success" | "neutral" | "skipped" => true,
        "failure" | "timed_out" | "cancelled" | "action_required" | "stale" => false,
        _ => return None,
    };
    let at = time(run.completed_at.as_deref()).or_else(|| time(run.started_at.as_deref()))?;
    event(
        &e.repository.full_name,
        run.head_sha.as_str(),
        name,
        green,
        at,
    )
}

fn status(s: &StatusEvent, default_branch_only: bool) -> Option<PolicyEvent> {
    let green = match s.state.as_deref()? {
        "success" => true,
        "failure" | "error" => false,
        _ => return None,
    };
    let context = s.context.as_deref()?;
    if context == OWN_CHECK {
        return None;
    }
    let default_branch = s.repository.default_branch.as_deref()?;
    if default_branch_only {
        let on_default = s
            .branches
            .iter()
            .any(|b| b.name.as_deref() == Some(default_branch));
        if !on_default {
            return None;
        }
    }
    let at = time(s.updated_at.as_deref()).or_else(|| time(s.created_at.as_deref()))?;
    event(&s.repository.full_name, s.sha.as_str(), context, green, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The events of `payload` delivered as GitHub event `event` (a payload the webhook
    /// parser refuses or ignores carries none).
    fn ci_events(event: &str, payload: &Value, default_branch_only: bool) -> Vec<PolicyEvent> {
        match crate::webhook::parse(event, &serde_json::to_vec(payload).unwrap()) {
            Ok(Some(ev)) => super::ci_events(&ev, default_branch_only),
            _ => Vec::new(),
        }
    }

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/fixtures/github/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The recorded check run, moved onto the default branch with the given conclusion.
    fn check_run_on_default(conclusion: &str) -> Value {
        let mut p = fixture("check_run.completed.json");
        p["check_run"]["check_suite"]["head_branch"] = "master".into();
        p["check_run"]["conclusion"] = conclusion.into();
        p
    }

    #[test]
    fn recorded_check_run_is_on_a_pr_branch_so_no_event() {
        let p = fixture("check_run.completed.json");
        assert_eq!(p["check_run"]["check_suite"]["head_branch"], "changes");
        assert!(ci_events("check_run", &p, true).is_empty());
        // Without the default-branch filter it counts.
        let all = ci_events("check_run", &p, false);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].value, 0.0);
    }

    #[test]
    fn completed_check_run_on_the_default_branch() {
        let p = check_run_on_default("failure");
        let ev = ci_events("check_run", &p, true);
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(e.repo, "Codertocat/Hello-World");
        assert_eq!(e.commit, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
        assert_eq!(e.metric, "ci");
        assert_eq!(e.check.as_deref(), Some("Octocoders-linter"));
        assert_eq!(e.value, 0.0);
        assert_eq!(e.at.to_rfc3339(), "2019-05-15T15:21:12+00:00");
        for green in ["success", "neutral", "skipped"] {
            assert_eq!(
                ci_events("check_run", &check_run_on_default(green), true)[0].value,
                1.0
            );
        }
        for red in [
            "failure",
            "timed_out",
            "cancelled",
            "action_required",
            "stale",
        ] {
            assert_eq!(
                ci_events("check_run", &check_run_on_default(red), true)[0].value,
                0.0
            );
        }
        assert!(ci_events("check_run", &check_run_on_default("mystery"), true).is_empty());
    }

    #[test]
    fn other_actions_and_our_own_check_are_ignored() {
        let mut p = check_run_on_default("success");
        p["action"] = "created".into();
        assert!(ci_events("check_run", &p, true).is_empty());
        let mut own = check_run_on_default("failure");
        own["check_run"]["name"] = OWN_CHECK.into();
        assert!(ci_events("check_run", &own, true).is_empty());
        assert!(ci_events("push", &check_run_on_default("failure"), true).is_empty());
        assert!(ci_events("check_run", &serde_json::json!({}), true).is_empty());
    }

    #[test]
    fn statuses_on_the_default_branch() {
        let p = fixture("status.json");
        let ev = ci_events("status", &p, true);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].commit, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
        assert_eq!(ev[0].check.as_deref(), Some("default"));
        assert_eq!(ev[0].value, 1.0);
        for (state, value) in [
            ("failure", Some(0.0)),
            ("error", Some(0.0)),
            ("pending", None),
        ] {
            let mut q = p.clone();
            q["state"] = state.into();
            assert_eq!(
                ci_events("status", &q, true).first().map(|e| e.value),
                value
            );
        }
        let mut off = p.clone();
        off["branches"] = serde_json::json!([{"name": "changes"}]);
        assert!(ci_events("status", &off, true).is_empty());
        assert_eq!(ci_events("status", &off, false).len(), 1);
        let mut own = p;
        own["context"] = OWN_CHECK.into();
        assert!(ci_events("status", &own, true).is_empty());
    }
}
