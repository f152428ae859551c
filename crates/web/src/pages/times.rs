//! How pages show a time: in UTC, saying so, inside a `<time>` that carries
//! the instant, which the portal's `local-time.js` rewrites in the reader's
//! own time zone. One place (with the `time.html` template macro), so every
//! page's times read alike.

use chrono::{DateTime, Utc};

/// `2026-11-26 14:05 UTC`.
pub(crate) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An instant as templates show it, through the `instant` macro of
/// `templates/time.html`: [`when`]'s text, and the RFC 3339 value
/// `local-time.js` reads.
pub(crate) struct Instant {
    pub when: String,
    pub datetime: String,
}

pub(crate) fn instant(t: DateTime<Utc>) -> Instant {
    Instant { when: when(t), datetime: t.to_rfc3339() }
}
