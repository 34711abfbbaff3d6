//! Retries of model calls: which answers are retried (429 and 5xx, and transport errors
//! before any answer), how long to wait (exponential backoff with full jitter, or the
//! server's `Retry-After` when it says longer), and nothing else.
//!
//! It must never wait past the vote's deadline (the caller checks [`RetryPolicy::delay`]
//! against it) and never retry an answer that could have been billed twice (a 2xx, or a 4xx
//! other than 429).

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How a vote retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first included); at least 1.
    pub max_attempts: u32,
    /// The first backoff; doubles each retry.
    pub base: Duration,
    /// The longest backoff (before `Retry-After`, which may ask for more).
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a server asking for more ends the vote.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Whether an HTTP status is worth retrying: 429 (rate limited), 5xx (server trouble; 529 is
/// Anthropic's "overloaded").
pub fn retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 = the first retry): a uniformly random
    /// duration in `[0, min(max_backoff, base·2^(retry-1))]` (full jitter), but at least what
    /// `Retry-After` asked for. `None` when the server asked for more than
    /// `max_retry_after`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let exp = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let jittered = if exp.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rand::random_range(0..=exp.as_nanos() as u64))
        };
        match retry_after {
            Some(ra) if ra > self.max_retry_after => None,
            Some(ra) => Some(jittered.max(ra)),
            None => Some(jittered),
        }
    }
}

/// `Retry-After` as seconds (`120`) or an HTTP date, relative to `now`. A date in the past
/// is zero; anything unreadable is `None` (plain backoff then applies).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(1e9)));
        }
        return None;
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(retryable(429));
        assert!(retryable(500));
        assert!(retryable(529));
        assert!(!retryable(400));
        assert!(!retryable(401));
        assert!(!retryable(200));
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(2),
        };
        for retry in 1..10 {
            let d = p.delay(retry, None).unwrap();
            assert!(d <= Duration::from_millis(300), "{d:?}");
        }
        assert!(p.delay(1, Some(Duration::from_secs(1))).unwrap() >= Duration::from_secs(1));
        assert_eq!(p.delay(1, Some(Duration::from_secs(3))), None);
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 00:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 00:00:05 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
