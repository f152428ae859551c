//! Sign-in and sign-out with a local account (email + password).
//!
//! A failed sign-in says only "email or password is wrong" (never which),
//! takes as long for an unknown email as for a known one, keeps the typed
//! email, and counts towards the throttle. A successful one starts a new
//! session (a fresh token, so a planted cookie is never promoted) and goes
//! to `next` when that is a path on this site.

use super::{FieldError, Layout, page, safe_next, see_other, with_cookies};
use crate::auth::rate_limit::{self, ClientAddress};
use crate::auth::{csrf, normalize_email, password, session};
use crate::{AppState, MaybeUser, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/login", get(form).post(submit)).route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    email: String,
    next: String,
    email_error: FieldError,
    password_error: FieldError,
    /// Not tied to a field: wrong credentials.
    form_error: Option<String>,
    /// "Sign in with Microsoft" (with `next`), when an integration is saved.
    microsoft_href: Option<String>,
}

impl LoginPage {
    fn new(csrf: String, email: String, next: String) -> Self {
        LoginPage {
            layout: Layout::anonymous("Sign in"),
            csrf,
            email,
            next,
            email_error: FieldError::default(),
            password_error: FieldError::default(),
            form_error: None,
            microsoft_href: None,
        }
    }

    /// Offers "Sign in with Microsoft" when the integration allows it.
    async fn with_microsoft(mut self, state: &AppState) -> Result<Self, WebError> {
        if super::microsoft_sign_in::available(state).await? {
            let query = form_urlencoded::Serializer::new(String::new()).append_pair("next", &self.next).finish();
            self.microsoft_href = Some(format!("/auth/microsoft?{query}"));
        }
        Ok(self)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NextQuery {
    next: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
}

async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
    user: MaybeUser,
) -> Result<Response, WebError> {
    if user.0.is_some() {
        return Ok(see_other(safe_next(&query.next)));
    }
    let (token, cookie) = csrf::pre_session_token(&headers)?;
    let next = safe_next(&query.next).to_owned();
    let view = LoginPage::new(token, String::new(), next).with_microsoft(&state).await?;
    let response = page(StatusCode::OK, &view)?;
    Ok(with_cookies(response, cookie))
}

async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    Form(input): Form<LoginForm>,
) -> Result<Response, WebError> {
    let (token, cookie) = csrf::pre_session_token(&headers)?;
    let next = safe_next(&input.next).to_owned();
    let mut view = LoginPage::new(token, input.email.trim().to_owned(), next.clone()).with_microsoft(&state).await?;
    let email = match normalize_email(&input.email) {
        Ok(email) => Some(email),
        Err(message) => {
            view.email_error.set(message);
            None
        }
    };
    if input.password.is_empty() {
        view.password_error.set("Enter your password.");
    }
    let Some(email) = email.filter(|_| !view.password_error.is_set()) else {
        return Ok(with_cookies(page(StatusCode::UNPROCESSABLE_ENTITY, &view)?, cookie));
    };

    let now = Utc::now();
    // Counted as a failure before the password is checked, so attempts
    // made at once cannot slip past the limit together.
    rate_limit::reserve(&state, &email, &address, now).await?;
    let user = state.store().portal_user_by_email(state.workspace(), &email).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    if !password::verify_blocking(input.password, hash).await {
        tracing::info!(%address, "failed sign-in");
        view.form_error = Some("The email or password is wrong. Check both and try again.".to_owned());
        return Ok(with_cookies(page(StatusCode::UNPROCESSABLE_ENTITY, &view)?, cookie));
    }
    let Some(user) = user else {
        // verify_blocking is false without a hash, so a user was found.
        return Err(WebError::Internal("a password matched without a user".to_owned()));
    };
    rate_limit::clear(&state, &email).await?;
    state.store().record_login(state.workspace(), user.id, now).await?;
    // Whatever session the browser had is over; the new one has a new token.
    let old = session::end(&state, &headers).await?;
    let new = session::start(&state, user.id).await?;
    tracing::info!(user = %user.id, "signed in");
    Ok(with_cookies(see_other(&next), [old, csrf::clear_pre_session()?, new]))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let cleared = session::end(&state, &headers).await?;
    Ok(with_cookies(see_other("/login"), [cleared]))
}

#[cfg(test)]
mod tests {
    use crate::pages::safe_next;

    #[test]
    fn next_is_followed_only_to_paths_on_this_site() {
        assert_eq!(safe_next("/contacts?page=2"), "/contacts?page=2");
        for unsafe_next in ["", "https://evil.example", "//evil.example", "/\\evil.example", "javascript:x", "/a\nb"] {
            assert_eq!(safe_next(unsafe_next), "/", "{unsafe_next:?}");
        }
    }
}
