//! One error type for every handler. A [`WebError`] knows its
//! status; turning it into a response only records what to say, and the
//! [`render`] middleware, which knows the request, says it: RFC 9457
//! `application/problem+json` under `/api/`, an HTML page elsewhere (just the
//! message fragment for htmx requests), and a redirect to the sign-in page
//! for a page that needs a session. The same middleware catches axum's own
//! plain-text rejections (a malformed form, a wrong method), so bad input is
//! never answered with a 500 or an unstyled page.

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tac_store::StoreError;

/// Result with [`WebError`].
pub type Result<T, E = WebError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// Also for ids of another workspace: they do not exist for this user.
    #[error("This page does not exist.")]
    NotFound,
    /// No valid session: pages redirect to the sign-in page, the API says 401.
    #[error("Sign in to continue.")]
    Unauthenticated,
    /// Signed in, but not allowed (a member on an admin page).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The CSRF token or the Origin check failed.
    #[error("{0}")]
    Csrf(String),
    /// Too many failed sign-ins for this email or from this address.
    #[error("Too many failed sign-ins. Try again after {} UTC.", retry_at.format("%H:%M"))]
    TooManyAttempts { retry_at: DateTime<Utc> },
    /// The person already runs as many searches as they may.
    #[error("You have searches running already. Wait for them to finish, then search again.")]
    TooManySearches,
    /// Every search slot is taken and none came free in time.
    #[error("The portal is busy with other searches. Try again in a few seconds.")]
    Busy,
    #[error("{0}")]
    BadRequest(String),
    /// Input that was read but is not acceptable: 422, with what is wrong
    /// with each field (the API lists them in the problem's `errors`).
    #[error("{detail}")]
    Invalid { detail: String, errors: Vec<FieldIssue> },
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// A named thing that does not exist (or is in another workspace): 404
    /// with a message saying what to look for.
    #[error("{0}")]
    Missing(String),
    /// The body is not in a media type the route reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("The request is too large.")]
    PayloadTooLarge,
    /// The database does not answer.
    #[error("The service is unavailable: the database does not answer. Try again in a minute.")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not render the page: {0}")]
    Template(#[from] askama::Error),
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Unauthenticated => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) | WebError::Csrf(_) => StatusCode::FORBIDDEN,
            WebError::TooManyAttempts { .. } | WebError::TooManySearches => StatusCode::TOO_MANY_REQUESTS,
            WebError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Missing(_) => StatusCode::NOT_FOUND,
            WebError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Store(e) => match e {
                StoreError::NotFound(_) | StoreError::SetupTokenInvalid => StatusCode::NOT_FOUND,
                StoreError::UserExists { .. } | StoreError::AdminExists | StoreError::AddressInUse { .. } => {
                    StatusCode::CONFLICT
                }
                StoreError::InvalidInput(_) | StoreError::InternalAddress(_) | StoreError::ContactRefused { .. } => {
                    StatusCode::BAD_REQUEST
                }
                StoreError::SearchTooBig(_) => StatusCode::UNPROCESSABLE_ENTITY,
                StoreError::SearchTimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
                StoreError::Hidden(_) => StatusCode::FORBIDDEN,
                e if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
                StoreError::Database(sqlx_error) if is_unavailable(sqlx_error) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            WebError::Template(_) | WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A search turned away or stopped so that the portal stays fast for
    /// everyone else: expected under load, not a failure of TAC.
    fn is_load_shed(&self) -> bool {
        matches!(self, WebError::Busy | WebError::Store(StoreError::SearchTimedOut(_)))
    }

    /// What the person is told. Internal errors say nothing of their cause.
    fn detail(&self) -> String {
        match self.status() {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "Something went wrong on our side. It has been logged; try again, and tell your admin if it persists."
                    .to_owned()
            }
            StatusCode::SERVICE_UNAVAILABLE if self.is_load_shed() => self.to_string(),
            StatusCode::SERVICE_UNAVAILABLE => WebError::Unavailable.to_string(),
            _ => self.to_string(),
        }
    }
}

/// What is wrong with one field of the input: `field` is the JSON member
/// or query parameter, `message` says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldIssue {
    pub field: String,
    pub message: String,
}

impl FieldIssue {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldIssue { field: field.into(), message: message.into() }
    }
}

/// A closed pool or a refused connection: the database is down, not broken.
fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut | sqlx::Error::Io(_))
}

/// What the [`render`] middleware needs to answer for an error; travels in
/// the response's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ErrorReport {
    status: StatusCode,
    detail: String,
    retry_after_secs: Option<i64>,
    /// Field-level issues, for the problem's `errors` member.
    errors: Vec<FieldIssue>,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if self.is_load_shed() {
            tracing::warn!(error = %self, "search refused to keep the portal responsive");
        } else if status.is_server_error() {
            tracing::error!(error = %self, debug = ?self, "request failed");
        }
        let retry_after_secs = match &self {
            WebError::TooManyAttempts { retry_at } => Some((*retry_at - Utc::now()).num_seconds().max(1)),
            WebError::TooManySearches | WebError::Busy | WebError::Store(StoreError::SearchTimedOut(_)) => Some(2),
            _ => None,
        };
        let errors = match &self {
            WebError::Invalid { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        let report = ErrorReport { status, detail: self.detail(), retry_after_secs, errors };
        let mut response = status.into_response();
        response.extensions_mut().insert(report);
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: crate::layout::Layout,
    status: u16,
    title: &'a str,
    detail: &'a str,
}

#[derive(Template)]
#[template(path = "error_fragment.html")]
struct ErrorFragment<'a> {
    title: &'a str,
    detail: &'a str,
}

/// Turns error responses into problem+json or HTML (see the module docs).
pub(crate) async fn render(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let path_and_query = request.uri().path_and_query().map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let is_get = request.method() == Method::GET;
    let is_htmx = request.headers().get("hx-request").is_some_and(|v| v == "true");
    let response = next.run(request).await;

    let report = match response.extensions().get::<ErrorReport>() {
        Some(report) => report.clone(),
        None if is_framework_rejection(&response) => {
            let status = response.status();
            let detail = match status {
                StatusCode::METHOD_NOT_ALLOWED => "This address does not accept that method.".to_owned(),
                StatusCode::PAYLOAD_TOO_LARGE => WebError::PayloadTooLarge.to_string(),
                s if s.is_client_error() => "The request could not be read: reload the page and try again.".to_owned(),
                _ => WebError::Internal(String::new()).detail(),
            };
            ErrorReport { status, detail, retry_after_secs: None, errors: Vec::new() }
        }
        None => return response,
    };
    let is_api = path == "/api" || path.starts_with("/api/");

    if report.status == StatusCode::UNAUTHORIZED && !is_api {
        let target = if is_get { format!("/login?next={}", encode(&path_and_query)) } else { "/login".to_owned() };
        if is_htmx {
            // htmx follows HX-Redirect with a full page load.
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            insert(&mut r, "hx-redirect", &target);
            return r;
        }
        let mut r = StatusCode::SEE_OTHER.into_response();
        insert(&mut r, header::LOCATION.as_str(), &target);
        return r;
    }

    let title = report.status.canonical_reason().unwrap_or("Error");
    let mut out = if is_api {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": report.status.as_u16(),
            "detail": report.detail,
            "instance": path,
        });
        if !report.errors.is_empty() {
            body["errors"] = serde_json::json!(report.errors);
        }
        let mut r = (report.status, body.to_string()).into_response();
        insert(&mut r, header::CONTENT_TYPE.as_str(), "application/problem+json");
        r
    } else {
        let html = if is_htmx {
            ErrorFragment { title, detail: &report.detail }.render()
        } else {
            ErrorPage {
                layout: crate::layout::Layout::anonymous(title),
                status: report.status.as_u16(),
                title,
                detail: &report.detail,
            }
            .render()
        };
        match html {
            Ok(html) => {
                let mut r = (report.status, html).into_response();
                insert(&mut r, header::CONTENT_TYPE.as_str(), "text/html; charset=utf-8");
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "could not render the error page");
                (report.status, report.detail.clone()).into_response()
            }
        }
    };
    if let Some(secs) = report.retry_after_secs {
        insert(&mut out, header::RETRY_AFTER.as_str(), &secs.to_string());
    }
    // Keep what the handler set besides the body (cookies, for one).
    for (name, value) in response.headers() {
        if name == header::SET_COOKIE {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// An error response that no handler of ours wrote: axum's extractor
/// rejections are plain text, its 405 has no body type at all.
fn is_framework_rejection(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    match response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(t) => t.starts_with("text/plain"),
    }
}

fn insert(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (header::HeaderName::try_from(name), HeaderValue::try_from(value)) {
        response.headers_mut().insert(name, value);
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A refusal's message as a sentence: capital first letter, final period.
/// The one place a store's or a parser's message becomes what a page or
/// the API shows.
pub(crate) fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
