//! Cross-site request forgery protection on every POST, PUT, PATCH and
//! DELETE, in two independent checks:
//! - **Origin.** When the browser sends `Origin` (all current ones do on
//!   such requests), it must be the public URL's origin. Without it, a
//!   `Sec-Fetch-Site: cross-site` is refused too.
//! - **Token.** The hidden `csrf` form field (urlencoded forms) or the
//!   `X-CSRF-Token` header must equal the session's CSRF token. Before
//!   sign-in there is no session, so the sign-in and setup forms use a
//!   double-submit token in the `__Host-tac_csrf` cookie instead.
//!
//! The middleware reads a form body to find the field, then hands the
//! request on with the same body. The session it loads is cached for the
//! extractors.

use crate::auth::random_token;
use crate::auth::session::{self, LoadedSession};
use crate::{AppState, WebError};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The form field and header that carry the token.
pub const FORM_FIELD: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";
/// The pre-session token's cookie (sign-in and setup forms).
pub const PRE_SESSION_COOKIE: &str = "__Host-tac_csrf";
/// The largest form body read; portal forms are small.
const MAX_FORM_BYTES: usize = 256 * 1024;

pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn check(state: &AppState, request: Request) -> Result<Request, WebError> {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE) {
        return Ok(request);
    }
    check_origin(state, request.headers())?;

    let current = session::load(state, request.headers()).await?;
    let is_api = request.uri().path().starts_with("/api/");
    // The API has no pre-session forms: every unsafe API request needs a
    // session, so without one it is 401, as for a GET.
    if current.is_none() && is_api {
        return Err(WebError::Unauthenticated);
    }
    let expected = match &current {
        Some(user) => Some(user.csrf_token.clone()),
        None => session::cookie(request.headers(), PRE_SESSION_COOKIE).map(str::to_owned),
    };
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(LoadedSession(current));

    let header_token = parts.headers.get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let (provided, body) = match header_token {
        Some(token) => (Some(token), body),
        None if is_form => {
            let bytes = to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| WebError::PayloadTooLarge)?;
            let token = form_urlencoded::parse(&bytes).find(|(k, _)| k == FORM_FIELD).map(|(_, v)| v.into_owned());
            (token, Body::from(bytes))
        }
        None => (None, body),
    };
    match (expected, provided) {
        (Some(expected), Some(provided)) if tokens_match(&expected, &provided) => Ok(Request::from_parts(parts, body)),
        (Some(_), _) if is_api => Err(WebError::Csrf(
            "The X-CSRF-Token header is missing or wrong: send the session's token (`csrf_token` of GET /api/v1/me)."
                .to_owned(),
        )),
        (None, _) => Err(WebError::Csrf(
            "Your session has expired or this form is out of date. Reload the page, then submit it again.".to_owned(),
        )),
        _ => Err(WebError::Csrf(
            "This form's security token is missing or out of date. Reload the page, then submit it again.".to_owned(),
        )),
    }
}

fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), WebError> {
    match headers.get(header::ORIGIN) {
        Some(origin) if origin.as_bytes() == state.origin().as_bytes() => Ok(()),
        Some(origin) => Err(WebError::Csrf(format!(
            "This request came from another site ({}), not from {}. Open TAC at {} and try again.",
            String::from_utf8_lossy(origin.as_bytes()),
            state.origin(),
            state.public_url(),
        ))),
        None if headers.get("sec-fetch-site").is_some_and(|v| v == "cross-site") => Err(WebError::Csrf(format!(
            "This request came from another site. Open TAC at {} and try again.",
            state.public_url()
        ))),
        None => Ok(()),
    }
}

fn tokens_match(expected: &str, provided: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), provided.as_bytes()).is_ok()
}

/// The pre-session token for a sign-in or setup form: the one in the
/// request's cookie, or a new one with the `Set-Cookie` that stores it.
pub(crate) fn pre_session_token(headers: &HeaderMap) -> Result<(String, Option<HeaderValue>), WebError> {
    if let Some(token) = session::cookie(headers, PRE_SESSION_COOKIE).filter(|t| t.len() == 43) {
        return Ok((token.to_owned(), None));
    }
    let token = random_token()?;
    // Strict: it is only ever needed by our own forms.
    let cookie = session::set_cookie(PRE_SESSION_COOKIE, &token, 24 * 3600, "Strict")?;
    Ok((token, Some(cookie)))
}

/// The `Set-Cookie` that deletes the pre-session token once signed in.
pub(crate) fn clear_pre_session() -> Result<HeaderValue, WebError> {
    session::set_cookie(PRE_SESSION_COOKIE, "", 0, "Strict")
}

#[cfg(test)]
mod tests {
    use super::tokens_match;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("abc", ""));
    }
}
