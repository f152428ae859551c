//! Sessions: a random 32-byte token in the `__Host-tac_session` cookie
//! (HttpOnly, Secure, SameSite=Lax, Path=/; the `__Host-` prefix makes
//! browsers refuse it from subdomains or over plain http), and a `session`
//! row keyed by the token's SHA-256 with the user and the session's CSRF
//! token. Nothing about the user lives in the cookie, so signing out or
//! deleting a user ends the session at once.
//!
//! Handlers name what they need as an extractor argument:
//! [`CurrentUser`] (a page redirects to `/login`, the API answers 401),
//! [`AdminUser`] (403 for members) or [`MaybeUser`] (pages open to all).

use crate::auth::random_token;
use crate::{AppState, WebError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{Duration, Utc};
use tac_store::{PortalSession, PortalUser, PortalUserId};

pub const SESSION_COOKIE: &str = "__Host-tac_session";
/// How long a session lasts from sign-in (not extended by use).
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// The signed-in person, for handlers that need one.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: PortalUser,
    /// Put it in every form (`<input type="hidden" name="csrf">`) or send it
    /// as `X-CSRF-Token`.
    pub csrf_token: String,
}

impl CurrentUser {
    /// Who the store reads for: decides which internal-only items they see.
    pub fn viewer(&self) -> tac_store::Viewer {
        tac_store::Viewer::of(&self.user)
    }
}

/// A signed-in person with the store [`Reader`](tac_store::Reader) the
/// session was read on, for handlers that only read (a contact's profile,
/// its timeline): each connection taken from the pool and given back is a
/// round trip of its own, a tenth of such a request's CPU on SQLite. Read
/// through `reader` alone: never ask the store for another connection
/// while holding it.
pub struct ReadingUser {
    pub user: CurrentUser,
    pub reader: tac_store::Reader,
}

/// The signed-in person if any, for pages open to everyone. A cookie for
/// an expired or unknown session is no session.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

/// A signed-in admin: only admins change integration and privacy settings.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

/// The session found for a request, cached in its extensions so the CSRF
/// check and the extractors query the database once.
#[derive(Debug, Clone)]
pub(crate) struct LoadedSession(pub Option<CurrentUser>);

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Looks up the request's session (once per request).
pub(crate) async fn load(state: &AppState, parts_headers: &HeaderMap) -> Result<Option<CurrentUser>, WebError> {
    let Some(token) = cookie(parts_headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    read_session(&mut state.store().reader().await?, state, token).await
}

/// The live session of a cookie's token, read on `reader`.
async fn read_session(
    reader: &mut tac_store::Reader,
    state: &AppState,
    token: &str,
) -> Result<Option<CurrentUser>, WebError> {
    Ok(reader.session_by_token(state.workspace(), token, Utc::now()).await?.map(CurrentUser::from))
}

impl From<PortalSession> for CurrentUser {
    fn from(s: PortalSession) -> CurrentUser {
        CurrentUser { user: s.user, csrf_token: s.csrf_token }
    }
}

async fn session_of(parts: &mut Parts, state: &AppState) -> Result<Option<CurrentUser>, WebError> {
    if let Some(LoadedSession(found)) = parts.extensions.get::<LoadedSession>() {
        return Ok(found.clone());
    }
    let found = load(state, &parts.headers).await?;
    parts.extensions.insert(LoadedSession(found.clone()));
    Ok(found)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        session_of(parts, state).await?.ok_or(WebError::Unauthenticated)
    }
}

impl FromRequestParts<AppState> for ReadingUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (user, reader) = match parts.extensions.get::<LoadedSession>() {
            Some(LoadedSession(found)) => {
                let user = found.clone().ok_or(WebError::Unauthenticated)?;
                (user, state.store().reader().await?)
            }
            None => {
                let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::Unauthenticated)?;
                let mut reader = state.store().reader().await?;
                let found = read_session(&mut reader, state, token).await?;
                parts.extensions.insert(LoadedSession(found.clone()));
                (found.ok_or(WebError::Unauthenticated)?, reader)
            }
        };
        Ok(ReadingUser { user, reader })
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(session_of(parts, state).await?))
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if !current.user.is_admin() {
            return Err(WebError::Forbidden(
                "Only admins can open this page: it changes integration or privacy settings. \
                 Ask an admin of your workspace.",
            ));
        }
        Ok(AdminUser(current))
    }
}

/// Opens a session for `user`; the `Set-Cookie` value to send.
pub(crate) async fn start(state: &AppState, user: PortalUserId) -> Result<HeaderValue, WebError> {
    let token = random_token()?;
    let csrf = random_token()?;
    let now = Utc::now();
    state.store().create_session(state.workspace(), user, &token, &csrf, now, now + SESSION_LIFETIME).await?;
    set_cookie(SESSION_COOKIE, &token, SESSION_LIFETIME.num_seconds(), "Lax")
}

/// Ends the request's session, if any; the `Set-Cookie` value that clears it.
pub(crate) async fn end(state: &AppState, headers: &HeaderMap) -> Result<HeaderValue, WebError> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        state.store().delete_session(state.workspace(), token).await?;
    }
    set_cookie(SESSION_COOKIE, "", 0, "Lax")
}

/// A `__Host-` cookie: Secure, HttpOnly, Path=/ and no Domain.
pub(crate) fn set_cookie(name: &str, value: &str, max_age_secs: i64, same_site: &str) -> Result<HeaderValue, WebError> {
    HeaderValue::try_from(format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}"
    ))
    .map_err(|_| WebError::Internal("a cookie value is not a valid header".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name_among_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; __Host-tac_session_x=no"));
        headers.append(header::COOKIE, HeaderValue::from_static("__Host-tac_session=tok; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn session_cookies_are_host_only_secure_http_only_and_lax() {
        let v = set_cookie(SESSION_COOKIE, "tok", 60, "Lax").unwrap();
        assert_eq!(v, "__Host-tac_session=tok; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60");
    }
}
