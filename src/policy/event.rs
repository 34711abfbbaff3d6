//! Policy events: `{"repo":"o/r","commit":"<sha>","metric":"latency_p95_ms","value":212.0,"at":"…Z"}`.
//!
//! Parsing is strict: unknown fields are refused, `at` must be RFC 3339, `value` finite, the
//! metric name `[a-z0-9_.]+`, the commit a hexadecimal object name. CI results on the default
//! branch are events of metric [`CI_METRIC`], value 1 (success) or 0 (failure), and carry the
//! name of the check in `check` (required for `ci`, refused for any other metric).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The metric of CI results (one check run or commit status on the default branch).
pub const CI_METRIC: &str = "ci";

/// Longest metric name, check name or repository name accepted.
const MAX_NAME: usize = 200;

/// One measurement after a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawEvent", into = "RawEvent")]
pub struct PolicyEvent {
    /// `owner/name`.
    pub repo: String,
    /// The commit measured (lower-case hexadecimal).
    pub commit: String,
    /// Metric name, `[a-z0-9_.]+`; `ci` for CI results.
    pub metric: String,
    /// The measurement (finite). For `ci`: 1 = success, 0 = failure.
    pub value: f64,
    /// When it was measured.
    pub at: DateTime<Utc>,
    /// For metric `ci`: the check's name. `None` for every other metric.
    pub check: Option<String>,
}

/// The wire form, before validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    repo: String,
    commit: String,
    metric: String,
    value: f64,
    at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    check: Option<String>,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "error", content = "detail", rename_all = "snake_case")]
pub enum EventError {
    /// Not a JSON object of the expected shape (unknown field, missing field, wrong type…).
    #[error("malformed event: {0}")]
    Malformed(String),
    /// `repo` is not `owner/name`.
    #[error("repo {0:?} is not owner/name")]
    BadRepo(String),
    /// `commit` is not a hexadecimal object name (7 to 64 digits).
    #[error("commit {0:?} is not a hexadecimal commit id of 7 to 64 digits")]
    BadCommit(String),
    /// `metric` is not `[a-z0-9_.]+`.
    #[error("metric {0:?} is not [a-z0-9_.]+")]
    BadMetric(String),
    /// `value` is NaN or infinite.
    #[error("value is not a finite number")]
    NotFinite,
    /// `at` is not an RFC 3339 timestamp.
    #[error("at {0:?} is not an RFC 3339 timestamp")]
    BadTimestamp(String),
    /// A `ci` event whose value is neither 1 (success) nor 0 (failure).
    #[error("a ci event's value must be 1 (success) or 0 (failure), not {0}")]
    BadCiValue(String),
    /// A `ci` event without the check's name.
    #[error("a ci event needs the name of its check in `check`")]
    CiWithoutCheck,
    /// `check` on an event whose metric is not `ci`, or an empty/overlong check name.
    #[error("{0}")]
    BadCheck(String),
}

impl TryFrom<RawEvent> for PolicyEvent {
    type Error = EventError;

    fn try_from(raw: RawEvent) -> Result<Self, EventError> {
        let repo_ok = raw.repo.len() <= MAX_NAME
            && matches!(raw.repo.split_once('/'), Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/'))
            && !raw
                .repo
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        if !repo_ok {
            return Err(EventError::BadRepo(raw.repo));
        }
        if !(7..=64).contains(&raw.commit.len())
            || !raw.commit.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(EventError::BadCommit(raw.commit));
        }
        if !valid_metric_name(&raw.metric) {
            return Err(EventError::BadMetric(raw.metric));
        }
        if !raw.value.is_finite() {
            return Err(EventError::NotFinite);
        }
        let at = DateTime::parse_from_rfc3339(&raw.at)
            .map_err(|_| EventError::BadTimestamp(raw.at.clone()))?
            .with_timezone(&Utc);
        if raw.metric == CI_METRIC {
            if raw.value != 0.0 && raw.value != 1.0 {
                return Err(EventError::BadCiValue(raw.value.to_string()));
            }
            match &raw.check {
                None => return Err(EventError::CiWithoutCheck),
                Some(c) if c.trim().is_empty() || c.len() > MAX_NAME => {
                    return Err(EventError::BadCheck(format!(
                        "check name {c:?} is empty or too long"
                    )))
                }
                Some(_) => {}
            }
        } else if raw.check.is_some() {
            return Err(EventError::BadCheck(format!(
                "`check` belongs to events of metric ci, not {:?}",
                raw.metric
            )));
        }
        Ok(PolicyEvent {
            repo: raw.repo,
            commit: raw.commit.to_ascii_lowercase(),
            metric: raw.metric,
            value: raw.value,
            at,
            check: raw.check,
        })
    }
}

impl From<PolicyEvent> for RawEvent {
    fn from(e: PolicyEvent) -> Self {
        RawEvent {
            repo: e.repo,
            commit: e.commit,
            metric: e.metric,
            value: e.value,
            at: e.at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            check: e.check,
        }
    }
}

/// `[a-z0-9_.]+`, at most 200 characters.
pub fn valid_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// One event, from one JSON object.
pub fn parse_event(text: &str) -> Result<PolicyEvent, EventError> {
    let raw: RawEvent =
        serde_json::from_str(text).map_err(|e| EventError::Malformed(e.to_string()))?;
    PolicyEvent::try_from(raw)
}

/// NDJSON: one event per line. Blank lines are skipped; a malformed line is reported with its
/// 1-based line number and does not stop the others from being parsed.
pub fn parse_ndjson(text: &str) -> Vec<Result<PolicyEvent, (usize, EventError)>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_event(line).map_err(|e| (i + 1, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"repo":"o/r","commit":"ABCDEF1","metric":"latency_p95_ms","value":212.0,"at":"2026-01-02T03:04:05Z"}"#;

    #[test]
    fn parses_and_round_trips() {
        let e = parse_event(OK).unwrap();
        assert_eq!(e.commit, "abcdef1");
        assert_eq!(e.at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        let back = serde_json::to_string(&e).unwrap();
        assert_eq!(parse_event(&back).unwrap(), e);
        assert!(!back.contains("check"));
    }

    #[test]
    fn refuses_what_is_not_strictly_an_event() {
        let unknown = OK.replace("\"value\"", "\"extra\":1,\"value\"");
        assert!(
            matches!(parse_event(&unknown), Err(EventError::Malformed(m)) if m.contains("extra"))
        );
        let bad_at = OK.replace("2026-01-02T03:04:05Z", "2026-01-02 03:04");
        assert!(matches!(
            parse_event(&bad_at),
            Err(EventError::BadTimestamp(_))
        ));
        let bad_metric = OK.replace("latency_p95_ms", "Latency-P95");
        assert!(matches!(
            parse_event(&bad_metric),
            Err(EventError::BadMetric(_))
        ));
        let huge = OK.replace("212.0", "1e400");
        assert!(parse_event(&huge).is_err());
        let bad_repo = OK.replace("\"o/r\"", "\"or\"");
        assert!(matches!(
            parse_event(&bad_repo),
            Err(EventError::BadRepo(_))
        ));
        let bad_commit = OK.replace("ABCDEF1", "xyz1234");
        assert!(matches!(
            parse_event(&bad_commit),
            Err(EventError::BadCommit(_))
        ));
        let check_on_latency = OK.replace("\"value\"", "\"check\":\"build\",\"value\"");
        assert!(matches!(
            parse_event(&check_on_latency),
            Err(EventError::BadCheck(_))
        ));
    }

    #[test]
    fn ci_events_carry_a_check_and_a_zero_or_one() {
        let ci = r#"{"repo":"o/r","commit":"abcdef1","metric":"ci","check":"build","value":0,"at":"2026-01-02T03:04:05+02:00"}"#;
        let e = parse_event(ci).unwrap();
        assert_eq!(e.check.as_deref(), Some("build"));
        assert_eq!(e.at.to_rfc3339(), "2026-01-02T01:04:05+00:00");
        assert_eq!(
            parse_event(&ci.replace("\"check\":\"build\",", "")),
            Err(EventError::CiWithoutCheck)
        );
        assert!(matches!(
            parse_event(&ci.replace("\"value\":0", "\"value\":0.5")),
            Err(EventError::BadCiValue(_))
        ));
    }
}
