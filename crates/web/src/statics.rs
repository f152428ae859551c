//! The portal's CSS, its two small scripts and vendored htmx, embedded in the binary so a single
//! file deploys. Pages link them with `?v=<hash of the files>`, so they can be
//! cached for a year and still change with each build that changes them.

use crate::{AppState, WebError};
use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;

const APP_CSS: &[u8] = include_bytes!("../static/app.css");
/// htmx 2.0.11 (npm `htmx.org`, licence 0BSD); see `static/README.md`.
const HTMX_JS: &[u8] = include_bytes!("../static/htmx.min.js");
/// The copy buttons of the Integrations page (no inline scripts: the CSP).
const COPY_JS: &[u8] = include_bytes!("../static/copy.js");
/// Times in the reader's time zone (the server writes UTC; see `pages::times`).
const LOCAL_TIME_JS: &[u8] = include_bytes!("../static/local-time.js");

/// A short hash of every static file, for cache-busting links.
pub(crate) static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(APP_CSS);
    context.update(HTMX_JS);
    context.update(COPY_JS);
    context.update(LOCAL_TIME_JS);
    context.finish().as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect()
});

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/static/{file}", get(file))
}

async fn file(Path(name): Path<String>) -> Result<Response, WebError> {
    let (bytes, content_type) = match name.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "htmx.min.js" => (HTMX_JS, "text/javascript; charset=utf-8"),
        "copy.js" => (COPY_JS, "text/javascript; charset=utf-8"),
        "local-time.js" => (LOCAL_TIME_JS, "text/javascript; charset=utf-8"),
        _ => return Err(WebError::NotFound),
    };
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], bytes)
        .into_response())
}
