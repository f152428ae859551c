//! The server-rendered pages of this part of the portal: sign-in and
//! sign-out, first-admin setup, the home page, and the health probes. Each
//! module has its own `router()`, merged here.

mod activity_chart;
mod companies;
mod contacts;
mod health;
mod home;
mod integrations;
mod items;
pub(crate) mod login;
pub(crate) mod setup;
mod timeline_view;
mod times;

use crate::{AppState, CurrentUser, WebError};
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
}

/// What `base.html` needs: the page title, the signed-in person for the
/// navigation, and the CSRF token of its sign-out form.
pub(crate) struct Layout {
    pub title: String,
    pub user: Option<NavUser>,
    pub csrf: String,
    pub asset_version: &'static str,
}

pub(crate) struct NavUser {
    pub name: String,
    pub is_admin: bool,
}

impl Layout {
    pub fn anonymous(title: &str) -> Self {
        Layout {
            title: title.to_owned(),
            user: None,
            csrf: String::new(),
            asset_version: &crate::statics::ASSET_VERSION,
        }
    }

    pub fn signed_in(title: &str, current: &CurrentUser) -> Self {
        Layout {
            title: title.to_owned(),
            user: Some(NavUser { name: current.user.name().to_owned(), is_admin: current.user.is_admin() }),
            csrf: current.csrf_token.clone(),
            asset_version: &crate::statics::ASSET_VERSION,
        }
    }
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
