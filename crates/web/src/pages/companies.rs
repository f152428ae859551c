//! A company's page: its contacts and their merged timeline (each email or
//! meeting once, however many of its contacts were on it), paged with the
//! same cursor and filters as a contact's (`Store::company_timeline`).

use super::contacts::ContactLine;
use super::timeline::view::{FilterErrors, TimelineParams};
use super::timeline::{MemberOption, TimelineBlock, TimelineOwner, older_items, read_timeline};
use super::{Layout, page, path_id};
use crate::{AppState, ReadingUser, WebError};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use tac_store::{CompanyId, ContactListQuery, ContactSort};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/companies/{id}", get(company)).route("/companies/{id}/timeline", get(timeline_fragment))
}

/// The most contacts listed on a company page.
const CONTACTS_SHOWN: u32 = 200;

#[derive(Template)]
#[template(path = "companies/company.html")]
struct CompanyPage {
    layout: Layout,
    name: String,
    domain: Option<String>,
    contacts: Vec<ContactLine>,
    more_contacts: bool,
    params: TimelineParams,
    filtered: bool,
    members: Vec<MemberOption>,
    errors: FilterErrors,
    timeline: TimelineBlock,
    base: String,
}

async fn company(
    State(state): State<AppState>,
    ReadingUser { user: current, reader }: ReadingUser,
    Path(raw): Path<String>,
    Query(params): Query<TimelineParams>,
) -> Result<Response, WebError> {
    let id = CompanyId(path_id(&raw)?);
    let searching = params.searches();
    let (mut reader, _slot) = crate::search_limit::reader_for(&state, current.user.id, reader, searching).await?;
    let company = reader.company(state.workspace(), id).await?;
    let query = ContactListQuery {
        company: Some(id),
        sort: ContactSort::LastInteraction,
        limit: CONTACTS_SHOWN + 1,
        ..ContactListQuery::default()
    };
    let mut contacts = reader.contacts(state.workspace(), &query).await?;
    let more_contacts = contacts.len() > CONTACTS_SHOWN as usize;
    contacts.truncate(CONTACTS_SHOWN as usize);
    let (page_items, errors, members) = read_timeline(&mut reader, &state, TimelineOwner::Company(id), &params).await?;
    let base = TimelineOwner::Company(id).base();
    let first_page = params.cursor.trim().is_empty();
    let view = CompanyPage {
        layout: Layout::signed_in(&company.name, &current),
        name: company.name.clone(),
        domain: company.domain.clone(),
        contacts: contacts.iter().map(ContactLine::new).collect(),
        more_contacts,
        filtered: params.is_filtered(),
        timeline: TimelineBlock::new(&page_items, &params, &base, first_page),
        params,
        members,
        errors,
        base,
    };
    page(StatusCode::OK, &view)
}

async fn timeline_fragment(
    State(state): State<AppState>,
    ReadingUser { reader, user }: ReadingUser,
    Path(raw): Path<String>,
    Query(params): Query<TimelineParams>,
) -> Result<Response, WebError> {
    let owner = TimelineOwner::Company(CompanyId(path_id(&raw)?));
    older_items(reader, &state, user.user.id, owner, &params).await
}
