//! Outlook's throttling, per app and mailbox: at most N concurrent requests
//! (MailboxConcurrency) and at most M requests per window. Tests can also
//! schedule 429s for the next requests to a mailbox.

use crate::config::OutlookLimits;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a request was throttled, and how long to wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Throttled {
    /// Over the concurrency limit: `ApplicationThrottled`.
    Concurrency,
    /// Over the request budget of the window: `TooManyRequests`, with whole seconds left.
    Budget { retry_after_secs: u64 },
    /// A 429 a test asked for, with its `Retry-After` text verbatim.
    Scheduled { retry_after: String },
}

#[derive(Debug)]
struct Counter {
    in_flight: usize,
    window_start: Instant,
    count: u32,
}

/// A scheduled 429: the next `remaining` requests to `mailbox` (or any) get it.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scheduled {
    pub mailbox: Option<usize>,
    pub remaining: u32,
    pub retry_after: String,
}

/// The limiter shared by all requests.
#[derive(Debug)]
pub struct Throttle {
    limits: Mutex<OutlookLimits>,
    counters: Mutex<HashMap<(String, usize), Counter>>,
    scheduled: Mutex<Vec<Scheduled>>,
}

/// Holds one of the concurrent slots of an app and mailbox until dropped.
#[derive(Debug)]
pub struct Permit {
    throttle: Arc<Throttle>,
    key: (String, usize),
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counters = self.throttle.counters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = counters.get_mut(&self.key) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }
}

impl Throttle {
    pub fn new(limits: OutlookLimits) -> Self {
        Throttle { limits: Mutex::new(limits), counters: Mutex::default(), scheduled: Mutex::default() }
    }

    /// Replaces the limits (admin API).
    pub fn set_limits(&self, limits: OutlookLimits) {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    pub fn limits(&self) -> OutlookLimits {
        self.limits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Queues 429s for upcoming requests.
    pub fn schedule(&self, s: Scheduled) {
        self.scheduled.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    /// Admits a request from `app` to `mailbox`, or says why not.
    pub fn admit(self: &Arc<Self>, app: &str, mailbox: usize) -> Result<Permit, Throttled> {
        {
            let mut scheduled = self.scheduled.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = scheduled.iter_mut().find(|s| s.remaining > 0 && s.mailbox.is_none_or(|m| m == mailbox)) {
                s.remaining -= 1;
                let retry_after = s.retry_after.clone();
                scheduled.retain(|s| s.remaining > 0);
                return Err(Throttled::Scheduled { retry_after });
            }
        }
        let limits = self.limits();
        let key = (app.to_ascii_lowercase(), mailbox);
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let c = counters.entry(key.clone()).or_insert(Counter { in_flight: 0, window_start: now, count: 0 });
        if now.duration_since(c.window_start) >= limits.window {
            c.window_start = now;
            c.count = 0;
        }
        // Requests over the budget still count, as Microsoft warns: usage keeps
        // being logged while an app is throttled.
        c.count = c.count.saturating_add(1);
        if c.count > limits.requests_per_window {
            let left = limits.window.saturating_sub(now.duration_since(c.window_start));
            return Err(Throttled::Budget { retry_after_secs: left.as_secs().max(1) });
        }
        if c.in_flight >= limits.concurrent_requests {
            return Err(Throttled::Concurrency);
        }
        c.in_flight += 1;
        Ok(Permit { throttle: Arc::clone(self), key })
    }

    /// Forgets all counters (admin reset).
    pub fn reset(&self) {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, c| c.in_flight > 0);
        self.scheduled.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The window length a limits update may set, bounded so a typo cannot wedge a test for hours.
pub fn window_from_secs(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.clamp(0.001, 86_400.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(concurrent: usize, budget: u32) -> Arc<Throttle> {
        Arc::new(Throttle::new(OutlookLimits {
            concurrent_requests: concurrent,
            requests_per_window: budget,
            window: Duration::from_secs(600),
        }))
    }

    #[test]
    fn a_fifth_concurrent_request_is_refused_until_one_finishes() {
        let t = throttle(4, 100);
        let permits: Vec<_> = (0..4).map(|_| t.admit("app", 1).expect("within limit")).collect();
        assert_eq!(t.admit("app", 1).unwrap_err(), Throttled::Concurrency);
        assert!(t.admit("app", 2).is_ok(), "another mailbox has its own limit");
        assert!(t.admit("other-app", 1).is_ok(), "another app has its own limit");
        drop(permits);
        assert!(t.admit("app", 1).is_ok());
    }

    #[test]
    fn the_request_budget_is_per_window() {
        let t = throttle(4, 3);
        for _ in 0..3 {
            drop(t.admit("app", 1).expect("within budget"));
        }
        assert!(matches!(t.admit("app", 1), Err(Throttled::Budget { retry_after_secs }) if retry_after_secs > 0));
    }

    #[test]
    fn scheduled_throttles_are_used_up_in_order() {
        let t = throttle(4, 100);
        t.schedule(Scheduled { mailbox: Some(1), remaining: 2, retry_after: "2.128".into() });
        assert!(t.admit("app", 2).is_ok());
        assert_eq!(t.admit("app", 1).unwrap_err(), Throttled::Scheduled { retry_after: "2.128".into() });
        assert!(t.admit("app", 1).is_err());
        assert!(t.admit("app", 1).is_ok());
    }
}
