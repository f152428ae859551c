//! The retry policy: honour `Retry-After` (whole seconds, fractional seconds
//! or an HTTP date), otherwise back off exponentially with full jitter.
//!
//! Microsoft warns that retrying at once while throttled keeps the app
//! throttled, so there is always a wait, and it grows.

use std::time::{Duration, SystemTime};

/// How many times to try and how long to wait.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff ceiling; it doubles with each attempt.
    pub base_delay: Duration,
    /// No single wait is longer than this, whatever `Retry-After` says.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts, backoff from 500 ms doubling up to 60 s.
    fn default() -> Self {
        RetryPolicy { max_attempts: 6, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1): a random
    /// duration up to `base × 2^(attempt-1)`, capped, and at least 50 ms.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.max_delay);
        let fraction = random_fraction();
        ceiling.mul_f64(fraction).max(Duration::from_millis(50))
    }

    /// The wait for a response: its `Retry-After` if it had one (capped), else backoff.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.max_delay),
            None => self.backoff(attempt),
        }
    }
}

fn random_fraction() -> f64 {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses a `Retry-After` value: `5`, `2.128`, or an HTTP date. Negative,
/// non-finite and unparseable values give `None`; a date in the past gives zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = v.parse().ok()?;
        return (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retry_after_takes_seconds_fractions_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("2.128", now), Some(Duration::from_millis(2128)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        for bad in ["", "soon", "-1", "1e3", "NaN", "1.2.3"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p =
            RetryPolicy { max_attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        for attempt in 1..30 {
            let d = p.backoff(attempt);
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_secs(1), "{attempt}: {d:?}");
        }
        assert_eq!(p.wait(1, Some(Duration::from_secs(3600))), Duration::from_secs(1), "Retry-After is capped");
    }

    proptest! {
        #[test]
        fn retry_after_never_panics(s in ".{0,40}") {
            let _ = parse_retry_after(&s, SystemTime::now());
        }

        #[test]
        fn whole_seconds_round_trip(n in 0u32..1_000_000) {
            prop_assert_eq!(parse_retry_after(&n.to_string(), SystemTime::now()), Some(Duration::from_secs(n.into())));
        }
    }
}
