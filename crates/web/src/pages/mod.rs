//! The server-rendered pages of the portal, one module per page or family
//! of pages, each with its own `router()`, merged here: sign-in
//! ([`login`], [`microsoft_sign_in`]) and first-admin [`setup`], the home
//! page, contacts, companies, single emails and meetings ([`items`]), the
//! Integrations page with its privacy forms ([`privacy`]), and the health
//! probes. What the contact and company timelines share is in
//! [`timeline`]. This module holds what every page uses: rendering,
//! redirects, cookies, form fields and field errors.

mod activity_chart;
mod companies;
mod contacts;
mod health;
mod home;
mod integrations;
mod items;
pub(crate) mod login;
pub(crate) mod microsoft_sign_in;
mod privacy;
pub(crate) mod setup;
mod timeline;
mod times;

pub(crate) use crate::layout::Layout;
use crate::{AppState, WebError};
use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(home::router())
        .merge(login::router())
        .merge(setup::router())
        .merge(integrations::router())
        .merge(contacts::router())
        .merge(companies::router())
        .merge(items::router())
        .merge(microsoft_sign_in::router())
}

/// `next` if it is a path on this site, else `/`: never an open redirect.
pub(crate) fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    if local && !next.chars().any(char::is_control) { next } else { "/" }
}

/// An id from the path; anything but a number is a page that does not exist.
pub(crate) fn path_id(raw: &str) -> Result<i64, WebError> {
    raw.trim().parse().map_err(|_| WebError::NotFound)
}

/// Renders a page with a status (422 for a form with errors).
pub(crate) fn page(status: StatusCode, template: &impl Template) -> Result<Response, WebError> {
    Ok((status, Html(template.render()?)).into_response())
}

/// A 303 to `location`, the answer to a successful form post.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Adds `Set-Cookie` headers to a response.
pub(crate) fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A field's error message, for templates (`errors.email`).
#[derive(Debug, Default)]
pub(crate) struct FieldError(pub Option<String>);

impl FieldError {
    pub fn set(&mut self, message: impl Into<String>) {
        self.0 = Some(message.into());
    }
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
    pub fn text(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

/// The fields of a posted form, in order, with repeated names kept
/// (checkbox lists), which `axum::Form` cannot hold.
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A checkbox: sent (with any value) means on.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}
