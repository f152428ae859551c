//! One email and one meeting, each on its own page, and an email's body.
//!
//! The body is never part of a portal page: `/emails/{id}` frames
//! `/emails/{id}/body` in `<iframe sandbox>` (no scripts, no same origin),
//! and that route serves only the store's sanitised HTML under its own CSP
//! (`default-src 'none'`, images only from `data:`/`cid:`, inline styles
//! only, framable by the portal alone, and the `sandbox` directive, so the
//! body is sandboxed even when opened outside the frame). Remote images are
//! removed by the sanitiser unless the viewer asks for them
//! (`?images=1`); the page says how many were blocked. A body that the
//! privacy policy hides is refused with the store's explanation.

use super::timeline::view::{EmailView, MeetingView};
use super::{Layout, page, path_id};
use crate::error::sentence;
use crate::{AppState, CurrentUser, WebError};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;
use tac_store::{EmailBody, EmailId, MeetingId, StoreError, Viewer};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/emails/{id}", get(email))
        .route("/emails/{id}/body", get(email_body))
        .route("/meetings/{id}", get(meeting))
}

/// The email-body frame's policy: nothing loads but inline images (and
/// remote ones when asked for), styles only inline, no scripts, no forms,
/// and only the portal may frame it.
pub const BODY_CSP: &str = "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; \
     frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox";
/// The same with remote images allowed (`?images=1`).
pub const BODY_CSP_WITH_IMAGES: &str = "default-src 'none'; img-src data: cid: https:; style-src 'unsafe-inline'; \
     frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BodyParams {
    /// `1`: load remote images.
    images: String,
    /// `text`: show the plain-text body instead of the HTML frame.
    view: String,
}

impl BodyParams {
    fn images(&self) -> bool {
        self.images == "1"
    }
}

#[derive(Template)]
#[template(path = "items/email.html")]
struct EmailPage {
    layout: Layout,
    email: EmailView,
    /// Why the body is not shown (the store's explanation), if it is not.
    hidden: Option<String>,
    images: bool,
    blocked_images: usize,
    /// The plain-text body, when that view was asked for.
    text: Option<String>,
    frame_src: String,
}

async fn email(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(raw): Path<String>,
    Query(params): Query<BodyParams>,
) -> Result<Response, WebError> {
    let id = EmailId(path_id(&raw)?);
    let viewer = current.viewer();
    let item = state.store().email_item(state.workspace(), id, &viewer).await?;
    let (hidden, blocked_images, text) = match visible_body(&state, id, &viewer, params.images()).await? {
        Ok(body) => (None, body.blocked_images, (params.view == "text").then_some(body.text)),
        Err(reason) => (Some(sentence(reason)), 0, None),
    };
    let title = item.subject.clone().unwrap_or_else(|| "Email".to_owned());
    let view = EmailPage {
        layout: Layout::signed_in(&title, &current),
        email: EmailView::new(&item),
        hidden,
        images: params.images(),
        blocked_images,
        text,
        frame_src: if params.images() {
            format!("/emails/{}/body?images=1", id.0)
        } else {
            format!("/emails/{}/body", id.0)
        },
    };
    page(StatusCode::OK, &view)
}

/// The email's sanitised body, or the store's reason the privacy policy
/// hides it from this viewer; any other failure is an error.
async fn visible_body(
    state: &AppState,
    id: EmailId,
    viewer: &Viewer,
    images: bool,
) -> Result<Result<EmailBody, &'static str>, WebError> {
    match state.store().email_body(state.workspace(), id, viewer, images).await {
        Ok(body) => Ok(Ok(body)),
        Err(StoreError::Hidden(reason)) => Ok(Err(reason)),
        Err(e) => Err(e.into()),
    }
}

/// The sanitised body alone, for the sandboxed frame.
async fn email_body(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(raw): Path<String>,
    Query(params): Query<BodyParams>,
) -> Result<Response, WebError> {
    let id = EmailId(path_id(&raw)?);
    // A body the privacy policy hides is refused, with the store's reason.
    let body = visible_body(&state, id, &current.viewer(), params.images()).await?.map_err(WebError::Forbidden)?;
    let html =
        format!("<!doctype html>\n<html><head><meta charset=\"utf-8\"></head><body>{}</body></html>\n", body.html);
    let csp = if params.images() { BODY_CSP_WITH_IMAGES } else { BODY_CSP };
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    Ok(response)
}

#[derive(Template)]
#[template(path = "items/meeting.html")]
struct MeetingPage {
    layout: Layout,
    meeting: MeetingView,
}

async fn meeting(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let id = MeetingId(path_id(&raw)?);
    let item = state.store().meeting_item(state.workspace(), id, &current.viewer(), Utc::now()).await?;
    let title = item.subject.clone().unwrap_or_else(|| "Meeting".to_owned());
    page(StatusCode::OK, &MeetingPage { layout: Layout::signed_in(&title, &current), meeting: MeetingView::new(&item) })
}
