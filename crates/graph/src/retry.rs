//! The retry policy: honour `Retry-After` (whole seconds, fractional seconds
//! or an HTTP date) in full, otherwise back off exponentially with full
//! jitter; and the mailboxes Microsoft asked TAC to leave alone for a while.
//!
//! Microsoft warns that retrying at once while throttled keeps the app
//! throttled, so there is always a wait, and it grows. Outlook throttles per
//! app and mailbox (docs/graph-facts.md §4), so a 429 for one request pauses every request
//! to that mailbox ([`Pauses`]), not only the one that was refused. A wait
//! longer than [`RetryPolicy::max_retry_after`] is not slept through: the
//! request fails at once and the sync moves the mailbox to `backoff` until
//! the time Microsoft gave.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How many times to try and how long to wait.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff ceiling; it doubles with each attempt.
    pub base_delay: Duration,
    /// The longest backoff when Microsoft gave no `Retry-After`.
    pub max_delay: Duration,
    /// The longest `Retry-After` waited out in place; a longer one ends the
    /// request at once, for the caller to come back later.
    pub max_retry_after: Duration,
}

/// The default [`RetryPolicy::max_retry_after`]: ten minutes, which covers
/// the per-mailbox budget of 10,000 requests per 10 minutes (docs/graph-facts.md §4).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl Default for RetryPolicy {
    /// Six attempts, backoff from 500 ms doubling up to 60 s, and any
    /// `Retry-After` up to ten minutes waited in full.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retry_after: MAX_RETRY_AFTER,
        }
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

    /// The wait for a response: its `Retry-After` in full if it had one,
    /// else backoff. Callers give up instead when [`Self::too_long`].
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d,
            None => self.backoff(attempt),
        }
    }

    /// Whether a `Retry-After` is longer than this policy waits in place.
    pub fn too_long(&self, retry_after: Duration) -> bool {
        retry_after > self.max_retry_after
    }
}

/// Mailboxes Microsoft throttled, and until when: every request to one of
/// them waits until then.
#[derive(Debug, Default)]
pub struct Pauses {
    until: Mutex<HashMap<String, Instant>>,
}

impl Pauses {
    /// Pauses a mailbox for `wait` from now (never shortening a longer pause).
    pub fn pause(&self, mailbox: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut map = self.until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = map.entry(mailbox.to_ascii_lowercase()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// How long the mailbox is still paused, if it is.
    pub fn remaining(&self, mailbox: &str) -> Option<Duration> {
        let mut map = self.until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = mailbox.to_ascii_lowercase();
        let left = map.get(&key)?.checked_duration_since(Instant::now());
        if left.is_none() {
            map.remove(&key);
        }
        left.filter(|d| !d.is_zero())
    }
}

/// The mailbox a Graph path reads: the user of `/users/{id}/…` or
/// `/users('{id}')/…` when a mailbox resource follows (mail folders,
/// messages, calendars, events), lowercased; `None` for directory paths.
pub fn mailbox_of(path: &str) -> Option<String> {
    let mut segments =
        path.split('/').filter(|s| !s.is_empty()).skip_while(|s| !s.to_ascii_lowercase().starts_with("users"));
    let first = segments.next()?;
    let user = match first.strip_prefix("users('").or_else(|| first.strip_prefix("Users('")) {
        Some(rest) => rest.strip_suffix("')")?.to_string(),
        None if first.eq_ignore_ascii_case("users") => segments.next()?.to_string(),
        None => return None,
    };
    let resource = segments.next()?.to_ascii_lowercase();
    let mailbox = ["mailfolders", "messages", "calendar", "calendarview", "events", "calendars"];
    mailbox.iter().any(|m| resource.starts_with(m)).then(|| user.to_ascii_lowercase())
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
    fn backoff_grows_and_is_capped_and_retry_after_is_honoured_in_full() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(600),
        };
        for attempt in 1..30 {
            let d = p.backoff(attempt);
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_secs(1), "{attempt}: {d:?}");
        }
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(300))),
            Duration::from_secs(300),
            "Retry-After is waited in full"
        );
        assert!(!p.too_long(Duration::from_secs(600)) && p.too_long(Duration::from_secs(601)));
        assert!(RetryPolicy::default().max_retry_after >= Duration::from_secs(600));
    }

    #[test]
    fn mailbox_paths_are_told_from_directory_paths() {
        assert_eq!(mailbox_of("/v1.0/users/AbC/mailFolders/inbox/messages/delta").as_deref(), Some("abc"));
        assert_eq!(mailbox_of("/v1.0/users('u1')/mailFolders('f')/messages/delta").as_deref(), Some("u1"));
        assert_eq!(mailbox_of("/v1.0/users/u1/calendarView/delta()").as_deref(), Some("u1"));
        assert_eq!(mailbox_of("/v1.0/users/u1"), None);
        assert_eq!(mailbox_of("/v1.0/users"), None);
        assert_eq!(mailbox_of("/v1.0/groups/g/members"), None);
    }

    #[test]
    fn a_pause_lasts_its_time_and_is_never_shortened() {
        let p = Pauses::default();
        assert_eq!(p.remaining("a"), None);
        p.pause("A", Duration::from_secs(60));
        p.pause("a", Duration::from_secs(1));
        assert!(p.remaining("a").is_some_and(|d| d > Duration::from_secs(30)));
        p.pause("b", Duration::ZERO);
        assert_eq!(p.remaining("b"), None);
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
