//! What an emulator instance is built from: the organisation's seed and size,
//! the moment "now" is anchored at, the Outlook throttling limits and the
//! faults to inject. Everything has a default that behaves like Microsoft.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::str::FromStr;

/// How big the synthetic organisation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgSize {
    /// About 20 mailboxes: fast enough for every end-to-end test.
    Small,
    /// About 200 mailboxes: the demo.
    Medium,
    /// Any number of users and messages, generated lazily so memory stays bounded.
    Large { users: usize, conversations_per_mailbox: u32 },
}

impl OrgSize {
    /// Number of directory users.
    pub fn users(&self) -> usize {
        match self {
            OrgSize::Small => 20,
            OrgSize::Medium => 200,
            OrgSize::Large { users, .. } => (*users).max(1),
        }
    }

    /// Conversations each mailbox starts (each has one to five messages).
    pub fn conversations_per_mailbox(&self) -> u32 {
        match self {
            OrgSize::Small | OrgSize::Medium => 24,
            OrgSize::Large { conversations_per_mailbox, .. } => *conversations_per_mailbox,
        }
    }

    /// Meetings each user organises (some are recurring series).
    pub fn meetings_per_mailbox(&self) -> u32 {
        match self {
            OrgSize::Small | OrgSize::Medium => 10,
            OrgSize::Large { conversations_per_mailbox, .. } => (*conversations_per_mailbox / 3).max(4),
        }
    }

    /// Number of external companies.
    pub fn companies(&self) -> usize {
        match self {
            OrgSize::Small => 8,
            OrgSize::Medium => 40,
            OrgSize::Large { users, .. } => (*users / 4).clamp(8, 2_000),
        }
    }
}

impl FromStr for OrgSize {
    type Err = String;

    /// `small`, `medium`, `large` (1,000 users, about 5,000 messages each), or
    /// `large:USERS:CONVERSATIONS` for a chosen scale.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "small" => Ok(OrgSize::Small),
            "medium" => Ok(OrgSize::Medium),
            "large" => Ok(OrgSize::Large { users: 1_000, conversations_per_mailbox: 1_000 }),
            other => {
                let parts: Vec<&str> = other.split(':').collect();
                match parts.as_slice() {
                    ["large", users, convs] => Ok(OrgSize::Large {
                        users: users.parse().map_err(|_| format!("bad user count in {other:?}"))?,
                        conversations_per_mailbox: convs
                            .parse()
                            .map_err(|_| format!("bad conversation count in {other:?}"))?,
                    }),
                    _ => Err(format!("unknown size {other:?}: use small, medium, large or large:USERS:CONVERSATIONS")),
                }
            }
        }
    }
}

/// Outlook's per app-and-mailbox limits (Microsoft's defaults: 4 concurrent
/// requests, 10,000 requests per 10 minutes).
#[derive(Debug, Clone, PartialEq)]
pub struct OutlookLimits {
    pub concurrent_requests: usize,
    pub requests_per_window: u32,
    pub window: std::time::Duration,
}

impl Default for OutlookLimits {
    fn default() -> Self {
        OutlookLimits {
            concurrent_requests: 4,
            requests_per_window: 10_000,
            window: std::time::Duration::from_secs(600),
        }
    }
}

/// Faults injected into Graph responses. All off by default. Rates are
/// fractions of requests in `0.0..=1.0`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every Graph request before it is answered.
    pub latency_ms: u64,
    /// Share of requests answered 503 Service Unavailable.
    pub rate_503: f64,
    /// Share of requests answered 504 Gateway Timeout.
    pub rate_504: f64,
    /// Share of requests whose connection is dropped mid-response.
    pub drop_rate: f64,
    /// Share of delta requests answered 410 `syncStateNotFound`.
    pub delta_expiry_rate: f64,
}

/// Everything an emulator instance is built from.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub seed: u64,
    pub size: OrgSize,
    /// "Now" for the synthetic mail: messages are dated before it, meetings around it.
    pub anchor: DateTime<Utc>,
    pub limits: OutlookLimits,
    pub faults: Faults,
    /// Access-token lifetime (Entra issues 3599 s).
    pub token_lifetime: Duration,
    /// Redirect URIs registered on the demo app, beyond the loopback defaults.
    pub redirect_uris: Vec<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: 42,
            size: OrgSize::Small,
            anchor: default_anchor(),
            limits: OutlookLimits::default(),
            faults: Faults::default(),
            token_lifetime: Duration::seconds(3599),
            redirect_uris: Vec::new(),
        }
    }
}

/// Today at 12:00 UTC, so that data is recent yet stable through a day.
pub fn default_anchor() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    Utc.from_utc_datetime(&today.and_hms_opt(12, 0, 0).expect("noon is a valid time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_from_the_command_line() {
        assert_eq!("small".parse::<OrgSize>(), Ok(OrgSize::Small));
        assert_eq!(
            "large:50:2000".parse::<OrgSize>(),
            Ok(OrgSize::Large { users: 50, conversations_per_mailbox: 2000 })
        );
        assert!("huge".parse::<OrgSize>().is_err());
        assert!("large:x:1".parse::<OrgSize>().is_err());
    }
}
