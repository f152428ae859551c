//! Timelines, summaries, search and email bodies: the reads `tac-crm
//! timeline`, `search` and `email show` make, in the same JSON
//! (`tac_store::json`, docs/architecture.md §6 "Timeline JSON"). The store redacts every
//! item by the privacy policy before it gets here.
//!
//! An email body the policy hides (visibility below `full`, or a private
//! email) is **403**, not 404: the email exists and its timeline item says
//! `body_available: false`; the problem's detail says why it is hidden.

use super::contacts;
use super::input::{Params, invalid, not_found, path_id};
use crate::{AppState, CurrentUser, ReadingUser, Result, WebError};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use tac_core::records::Direction;
use tac_core::timeline::{ActivityKind, TimelineCursor, parse_time_bound};
use tac_store::{CompanyId, EmailId, StoreError, TimelineQuery};

/// Which filters a timeline read takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Filters {
    /// A contact's or a company's timeline: every filter.
    Timeline,
    /// Search over everything: `q`, `kind`, `limit`, `cursor`.
    Search,
}

/// Reads the timeline parameters into a [`TimelineQuery`] (all problems at once).
fn timeline_query(mut params: Params, filters: Filters) -> Result<TimelineQuery> {
    let kind =
        params.parsed("kind", |k| k.parse::<ActivityKind>().map_err(|_| "Give `email` or `meeting`.".to_owned()));
    let limit = params.limit(TimelineQuery::DEFAULT_LIMIT, TimelineQuery::MAX_LIMIT);
    let cursor = params.parsed("cursor", |c| TimelineCursor::decode(c).map_err(|e| format!("{e}.")));
    let mut query = TimelineQuery { kind, limit, cursor, ..TimelineQuery::default() };
    match filters {
        Filters::Search => match params.text("q") {
            Some(q) => query.search = Some(q),
            None => params.issue("q", "Give the words to search for."),
        },
        Filters::Timeline => {
            query.search = params.text("search");
            query.from = params.parsed("from", |t| parse_time_bound(t, false));
            query.to = params.parsed("to", |t| parse_time_bound(t, true));
            query.team_member = params.text("team_member");
            query.direction = params.parsed("direction", |d| {
                d.parse::<Direction>().map_err(|_| "Give `inbound` or `outbound`.".to_owned())
            });
            if let (Some(from), Some(to)) = (query.from, query.to)
                && from >= to
            {
                params.issue("to", "Give a time after `from`.");
            }
        }
    }
    params.finish()?;
    Ok(query)
}

/// A store error of a timeline read, as the API says it.
fn timeline_error(e: StoreError) -> WebError {
    match e {
        StoreError::NotFound("team member's mailbox") => invalid(
            "team_member",
            "This address is not a synced mailbox of your team: GET /api/v1/mailboxes lists them.",
        ),
        StoreError::InvalidInput(message) => invalid("q", format!("{message}: give words of letters or digits.")),
        StoreError::SearchTooBig(message) => invalid("q", message),
        other => other.into(),
    }
}

/// `GET /api/v1/contacts/{id}/timeline`: the timeline JSON of docs/architecture.md §6
/// (`contact`, `summary`, `items`) plus `next_cursor`.
pub(crate) async fn contact_timeline(
    State(state): State<AppState>,
    ReadingUser { reader, user }: ReadingUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let query = timeline_query(Params::parse(raw.as_deref()), Filters::Timeline)?;
    let searching = query.search.is_some();
    let (mut reader, _slot) = crate::search_limit::reader_for(&state, user.user.id, reader, searching).await?;
    let contact = contacts::load_with(&mut reader, &state, &id).await?;
    let now = Utc::now();
    let page = reader.timeline(state.workspace(), contact.id, &query, now).await.map_err(timeline_error)?;
    let summary = reader.contact_summary(state.workspace(), contact.id, now).await?;
    Ok(Json(tac_store::json::contact_timeline(&contact, &summary, &page)).into_response())
}

/// `GET /api/v1/contacts/{id}/summary`
pub(crate) async fn contact_summary(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let contact = contacts::load(&state, &id).await?;
    let summary = state.store().contact_summary(state.workspace(), contact.id, Utc::now()).await?;
    Ok(Json(serde_json::to_value(&summary).map_err(|e| WebError::Internal(e.to_string()))?))
}

/// `GET /api/v1/companies/{id}/timeline`: `company`, `items`, `next_cursor`.
pub(crate) async fn company_timeline(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let query = timeline_query(Params::parse(raw.as_deref()), Filters::Timeline)?;
    let _slot = match query.search {
        Some(_) => Some(crate::search_limit::acquire(state.search_slots(), user.user.id).await?),
        None => None,
    };
    let company_id = CompanyId(path_id(&id, "company", "company")?);
    let company = state.store().company(state.workspace(), company_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => not_found("company", &id),
        other => other.into(),
    })?;
    let page = state
        .store()
        .company_timeline(state.workspace(), company.id, &query, Utc::now())
        .await
        .map_err(timeline_error)?;
    Ok(Json(tac_store::json::company_timeline(&company, &page)).into_response())
}

/// `GET /api/v1/search?q=`: every email and meeting, as far as the
/// visibility level lets subjects and bodies be searched.
pub(crate) async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let query = timeline_query(Params::parse(raw.as_deref()), Filters::Search)?;
    let _slot = crate::search_limit::acquire(state.search_slots(), user.user.id).await?;
    let page =
        state.store().search(state.workspace(), &query, &user.viewer(), Utc::now()).await.map_err(timeline_error)?;
    Ok(Json(tac_store::json::search_results(query.search.as_deref().unwrap_or(""), &page)).into_response())
}

/// `GET /api/v1/emails/{id}/body?allow_remote_images=`: the sanitised HTML
/// (remote images removed unless allowed) and the plain text.
pub(crate) async fn email_body(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let mut params = Params::parse(raw.as_deref());
    let allow_images = params
        .parsed("allow_remote_images", |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("Give `true` or `false`.".to_owned()),
        })
        .unwrap_or(false);
    params.finish()?;
    let email = path_id(&id, "email", "email")?;
    let body =
        state.store().email_body(state.workspace(), EmailId(email), &user.viewer(), allow_images).await.map_err(
            |e| match e {
                StoreError::NotFound(_) => not_found("email", &id),
                StoreError::Hidden(reason) => WebError::Forbidden(reason),
                other => other.into(),
            },
        )?;
    Ok(Json(json!({
        "id": format!("email-{email}"),
        "html": body.html,
        "text": body.text,
        "blocked_images": body.blocked_images,
    })))
}
