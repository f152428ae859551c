//! Fault injection for Graph requests: latency, 503/504 answers, dropped
//! connections and expired delta tokens, at configurable rates.
//!
//! Decisions come from a counter hashed with the seed, so a run with the same
//! requests in the same order sees the same faults.

use crate::config::Faults;
use crate::rng::hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    ServiceUnavailable,
    GatewayTimeout,
    DropConnection,
}

/// The current fault settings and the decision counter.
#[derive(Debug)]
pub struct FaultInjector {
    seed: u64,
    settings: RwLock<Faults>,
    counter: AtomicU64,
}

impl FaultInjector {
    pub fn new(seed: u64, settings: Faults) -> Self {
        FaultInjector { seed, settings: RwLock::new(settings), counter: AtomicU64::new(0) }
    }

    pub fn settings(&self) -> Faults {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, faults: Faults) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    fn roll(&self, salt: u64) -> f64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (hash(self.seed, &[salt, n]) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Picks the fault for the next request.
    pub fn next(&self) -> Fault {
        let s = self.settings();
        if s.rate_503 <= 0.0 && s.rate_504 <= 0.0 && s.drop_rate <= 0.0 {
            return Fault::None;
        }
        let x = self.roll(0xfa);
        if x < s.rate_503 {
            Fault::ServiceUnavailable
        } else if x < s.rate_503 + s.rate_504 {
            Fault::GatewayTimeout
        } else if x < s.rate_503 + s.rate_504 + s.drop_rate {
            Fault::DropConnection
        } else {
            Fault::None
        }
    }

    /// Whether this delta request finds its token expired.
    pub fn expire_delta(&self) -> bool {
        let rate = self.settings().delta_expiry_rate;
        rate > 0.0 && self.roll(0xde) < rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default() {
        let f = FaultInjector::new(1, Faults::default());
        assert!((0..1000).all(|_| f.next() == Fault::None));
        assert!(!(0..1000).any(|_| f.expire_delta()));
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let f = FaultInjector::new(1, Faults { rate_503: 0.2, rate_504: 0.1, drop_rate: 0.1, ..Faults::default() });
        let faults: Vec<_> = (0..10_000).map(|_| f.next()).collect();
        let share = |k| faults.iter().filter(|x| **x == k).count() as f64 / 10_000.0;
        assert!((share(Fault::ServiceUnavailable) - 0.2).abs() < 0.03);
        assert!((share(Fault::GatewayTimeout) - 0.1).abs() < 0.03);
        assert!((share(Fault::DropConnection) - 0.1).abs() < 0.03);
    }
}
