//! Security headers on every response, error pages and static files
//! included. The CSP allows scripts and styles from our own origin only, so
//! an injected `<script>` or `onclick=` does nothing; templates therefore
//! carry no inline script, style or event handler. `frame-src 'self'` is for
//! the sandboxed email-body frame: that one route sets its own stricter CSP
//! and `X-Frame-Options: SAMEORIGIN`, which this layer then keeps.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; \
     object-src 'none'";

/// Adds the headers; `Cache-Control: no-store` everywhere but `/static/`
/// (whose responses set their own long-lived caching), so a signed-in page
/// is never kept by a shared or back-button cache.
pub(crate) async fn headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // A handler that set its own policy (the email-body frame) keeps it.
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    if state.public_url().starts_with("https://") {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
