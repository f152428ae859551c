//! Throttling of failed sign-ins, with delays that grow with each failure
//! instead of a lock: a guesser slows down fast, and the account's owner,
//! trying from elsewhere, waits a minute at most.
//!
//! Failures are counted within [`WINDOW`] on three keys, each with its own
//! [`Rule`]: the account from this source ([`PAIR`]), the account from
//! anywhere ([`ACCOUNT`], a distributed guesser) and the source for any
//! account ([`SOURCE`], one guesser trying many accounts). Past a key's
//! free attempts, the next waits `base × 2^(extra failures)` after that
//! key's latest failure, up to the rule's cap; a refused attempt is not
//! counted, so it does not extend the wait.
//!
//! The attempt is reserved before its password is checked: in one store
//! transaction the history is read, the wait decided, and the attempt
//! recorded as a failure ([`tac_store::Store::reserve_login_attempt`]); a
//! successful sign-in then clears the account's failures. So a hundred
//! attempts at once count as a hundred, on any number of instances.
//!
//! The source is the client's address: the TCP peer's, or, when the peer
//! is a trusted reverse proxy (`TAC_TRUSTED_PROXIES`), the address that
//! proxy saw, from `X-Forwarded-For` ([`ClientAddress`]).

use crate::{AppState, WebError};
use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;
use std::net::IpAddr;
use tac_store::{AttemptHistory, LoginFailures, Reservation};

/// How far back failures count.
pub(crate) const WINDOW: Duration = Duration::minutes(15);

/// How one key slows attempts down: `free` failures cost nothing; each
/// one after doubles the wait, from `base`, up to `cap`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub free: u64,
    pub base: Duration,
    pub cap: Duration,
}

/// The account from one source: a guesser at one machine.
pub(crate) const PAIR: Rule = Rule { free: 5, base: Duration::minutes(1), cap: Duration::minutes(15) };
/// The account from anywhere: capped at a minute, so that no one can lock
/// the owner out for long by guessing from many machines.
pub(crate) const ACCOUNT: Rule = Rule { free: 10, base: Duration::seconds(5), cap: Duration::minutes(1) };
/// One source, any account: a guesser trying many accounts.
pub(crate) const SOURCE: Rule = Rule { free: 20, base: Duration::minutes(1), cap: Duration::minutes(15) };

impl Rule {
    /// How long after the latest failure the next attempt must wait.
    fn wait(self, failures: u64) -> Option<Duration> {
        let extra = failures.checked_sub(self.free)?;
        // Past 2^20 times the base every rule is at its cap already.
        Some((self.base * (1 << extra.min(20))).min(self.cap))
    }

    /// Until when a key with these failures makes attempts wait.
    fn blocked_until(self, failures: LoginFailures) -> Option<DateTime<Utc>> {
        Some(failures.latest? + self.wait(failures.count)?)
    }
}

/// Until when an attempt with this history must wait, if it must.
pub(crate) fn retry_at(history: &AttemptHistory, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    [PAIR.blocked_until(history.pair), ACCOUNT.blocked_until(history.account), SOURCE.blocked_until(history.source)]
        .into_iter()
        .flatten()
        .filter(|until| *until > now)
        .max()
}

/// Reserves an attempt, or refuses it with [`WebError::TooManyAttempts`]
/// before the password is checked.
pub(crate) async fn reserve(state: &AppState, email: &str, address: &str, now: DateTime<Utc>) -> Result<(), WebError> {
    let reservation = state
        .store()
        .reserve_login_attempt(state.workspace(), email, address, now, now - WINDOW, |history| retry_at(history, now))
        .await?;
    match reservation {
        Reservation::Granted => Ok(()),
        Reservation::Refused { retry_at } => Err(WebError::TooManyAttempts { retry_at }),
    }
}

/// After a successful sign-in: the account's failures (the reservation
/// included) are forgotten; the source's failures for other accounts stay.
pub(crate) async fn clear(state: &AppState, email: &str) -> Result<(), WebError> {
    state.store().clear_login_failures(state.workspace(), email).await?;
    Ok(())
}

/// The client's address for throttling: the TCP peer's; when the peer is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not
/// one; `unknown` when the router runs without connection info.
#[derive(Debug, Clone)]
pub(crate) struct ClientAddress(pub String);

impl axum::extract::FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
        let Some(peer) = peer else {
            return Ok(ClientAddress("unknown".to_owned()));
        };
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        Ok(ClientAddress(client_address(peer, forwarded, state.trusted_proxies()).to_string()))
    }
}

/// The address a request came from, seen through trusted proxies: walking
/// `X-Forwarded-For` from the right (the nearest hop), the first address
/// that is not a trusted proxy. An untrusted peer's header is ignored: a
/// client could write anything there.
pub(crate) fn client_address<'h>(peer: IpAddr, forwarded: impl Iterator<Item = &'h str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => nearest = ip,
            Ok(ip) => return ip,
            // Garbage from beyond the trusted proxies: stop at the last good hop.
            Err(_) => return nearest,
        }
    }
    nearest
}

/// Parses `TAC_TRUSTED_PROXIES`: addresses or networks (`10.0.0.0/8`),
/// separated by commas or spaces.
pub fn parse_trusted_proxies(list: &str) -> Result<Vec<IpNet>, String> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                format!("{s:?} is not an IP address or network: list your reverse proxies, e.g. 10.0.0.5,10.1.0.0/16")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn failures(count: u64, latest: DateTime<Utc>) -> LoginFailures {
        LoginFailures { count, oldest: Some(latest), latest: Some(latest) }
    }

    #[test]
    fn waits_double_past_the_free_attempts_up_to_the_cap() {
        assert_eq!(PAIR.wait(4), None);
        assert_eq!(PAIR.wait(5), Some(Duration::minutes(1)));
        assert_eq!(PAIR.wait(6), Some(Duration::minutes(2)));
        assert_eq!(PAIR.wait(8), Some(Duration::minutes(8)));
        assert_eq!(PAIR.wait(9), Some(Duration::minutes(15)), "capped");
        assert_eq!(PAIR.wait(u64::MAX), Some(Duration::minutes(15)), "no overflow");
        assert_eq!(ACCOUNT.wait(12), Some(Duration::seconds(20)));
        assert_eq!(ACCOUNT.wait(1_000), Some(Duration::minutes(1)), "the owner waits a minute at most");
    }

    #[test]
    fn the_longest_wait_of_the_three_keys_applies_and_only_while_it_lasts() {
        let now = Utc.with_ymd_and_hms(2025, 3, 5, 9, 0, 0).unwrap();
        let mut history = AttemptHistory::default();
        assert_eq!(retry_at(&history, now), None);
        history.account = failures(12, now - Duration::seconds(5));
        assert_eq!(retry_at(&history, now), Some(now + Duration::seconds(15)));
        history.pair = failures(6, now - Duration::seconds(30));
        assert_eq!(retry_at(&history, now), Some(now + Duration::seconds(90)));
        assert_eq!(retry_at(&history, now + Duration::minutes(2)), None, "the wait is over");
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let trusted = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8").unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let outsider: IpAddr = "198.51.100.7".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_address(proxy, ["203.0.113.9"].into_iter(), &trusted), client);
        assert_eq!(client_address(proxy, ["1.2.3.4, 203.0.113.9, 10.0.0.1"].into_iter(), &trusted), client);
        assert_eq!(client_address(outsider, ["203.0.113.9"].into_iter(), &trusted), outsider, "not trusted");
        assert_eq!(client_address(proxy, ["not-an-ip"].into_iter(), &trusted), proxy);
        assert_eq!(client_address(proxy, std::iter::empty(), &trusted), proxy);
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("").unwrap().is_empty());
    }
}
