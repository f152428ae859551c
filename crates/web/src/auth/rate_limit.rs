//! Throttling of failed sign-ins: at most [`MAX_PER_EMAIL`] failures for
//! one email and [`MAX_PER_ADDRESS`] from one client address within
//! [`WINDOW`]. Past that, sign-in is refused with 429 until the oldest
//! failure leaves the window, without checking the password (so a guess
//! cannot succeed, and refused attempts do not extend the lock). Counters
//! live in the store, so they survive restarts and hold across instances.
//!
//! The address is the TCP peer's. Behind a reverse proxy every request has
//! the proxy's address, and the per-address limit applies to everyone at
//! once; trusting `X-Forwarded-For` from a configured proxy is future work.

use crate::{AppState, WebError};
use chrono::{DateTime, Duration, Utc};
use tac_store::LoginFailures;

pub(crate) const WINDOW: Duration = Duration::minutes(15);
pub const MAX_PER_EMAIL: u64 = 5;
pub const MAX_PER_ADDRESS: u64 = 20;

/// Refuses with [`WebError::TooManyAttempts`] when either limit is reached.
pub(crate) async fn check(state: &AppState, email: &str, address: &str, now: DateTime<Utc>) -> Result<(), WebError> {
    let since = now - WINDOW;
    let store = state.store();
    let by_email = store.login_failures_by_email(state.workspace(), email, since).await?;
    let by_address = store.login_failures_by_ip(state.workspace(), address, since).await?;
    let retry_at = [blocked_until(by_email, MAX_PER_EMAIL), blocked_until(by_address, MAX_PER_ADDRESS)]
        .into_iter()
        .flatten()
        .max();
    match retry_at {
        Some(retry_at) => Err(WebError::TooManyAttempts { retry_at }),
        None => Ok(()),
    }
}

/// When a counter at or over `limit` drops under it again.
fn blocked_until(failures: LoginFailures, limit: u64) -> Option<DateTime<Utc>> {
    if failures.count < limit {
        return None;
    }
    failures.oldest.map(|oldest| oldest + WINDOW)
}

pub(crate) async fn record_failure(
    state: &AppState,
    email: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<(), WebError> {
    state.store().record_login_failure(state.workspace(), email, address, now).await?;
    Ok(())
}

/// After a successful sign-in: the email's failures are forgotten (the
/// address's are not, see [`tac_store::Store::clear_login_failures`]).
pub(crate) async fn clear(state: &AppState, email: &str) -> Result<(), WebError> {
    state.store().clear_login_failures(state.workspace(), email).await?;
    Ok(())
}

/// The client's address for throttling: the TCP peer (see the module docs),
/// or `unknown` when the router runs without connection info.
#[derive(Debug, Clone)]
pub(crate) struct ClientAddress(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
        Ok(ClientAddress(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_counter_blocks_from_its_limit_until_its_oldest_failure_leaves_the_window() {
        let oldest = Utc.with_ymd_and_hms(2025, 3, 5, 9, 0, 0).unwrap();
        assert_eq!(blocked_until(LoginFailures { count: 4, oldest: Some(oldest) }, 5), None);
        assert_eq!(blocked_until(LoginFailures { count: 5, oldest: Some(oldest) }, 5), Some(oldest + WINDOW));
        assert_eq!(blocked_until(LoginFailures { count: 0, oldest: None }, 0), None);
    }
}
