//! What every timeline in the portal shares: a contact's and a company's
//! timeline pages read the same way ([`read_timeline`]), show the same
//! block of cards with upcoming meetings apart ([`TimelineBlock`]), and
//! page "Older" the same way ([`older_items`]). How an item becomes a card
//! and how the filters parse is in [`view`].

pub(crate) mod view;

use super::page;
use crate::search_limit::reader_for;
use crate::{AppState, WebError};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use tac_store::ContactId;
use view::{FilterErrors, ItemView, TimelineParams};

/// Items per page of a timeline.
pub(crate) const TIMELINE_PAGE: u32 = 25;

/// A page of a timeline, with what the "Older" link needs.
pub(crate) struct TimelineBlock {
    pub upcoming: Vec<ItemView>,
    pub items: Vec<ItemView>,
    /// Full-page link to the next page.
    pub older: Option<String>,
    /// The fragment's link to the next page (htmx).
    pub older_fragment: Option<String>,
}

impl TimelineBlock {
    /// `base` is the page's path (`/contacts/7`); on the first page,
    /// upcoming meetings are set apart at the top.
    pub fn new(page: &tac_store::TimelinePage, params: &TimelineParams, base: &str, first_page: bool) -> Self {
        let views: Vec<ItemView> = page.items.iter().map(ItemView::new).collect();
        let (upcoming, items) =
            if first_page { views.into_iter().partition(ItemView::is_upcoming) } else { (Vec::new(), views) };
        let older = page.next_cursor.as_deref().map(|c| format!("{base}?{}", params.with_cursor(Some(c))));
        let older_fragment =
            page.next_cursor.as_deref().map(|c| format!("{base}/timeline?{}", params.with_cursor(Some(c))));
        TimelineBlock { upcoming, items, older, older_fragment }
    }
}

pub(crate) struct MemberOption {
    pub address: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "contacts/timeline_fragment.html")]
pub(crate) struct TimelineFragment {
    pub timeline: TimelineBlock,
}

/// Whose timeline a page shows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimelineOwner {
    Contact(ContactId),
    Company(tac_store::CompanyId),
}

impl TimelineOwner {
    /// The page the timeline belongs to; its filters and "Older" links build on it.
    pub(crate) fn base(self) -> String {
        match self {
            TimelineOwner::Contact(id) => format!("/contacts/{}", id.0),
            TimelineOwner::Company(id) => format!("/companies/{}", id.0),
        }
    }
}

/// The next page of a contact's or company's timeline as list items, for
/// htmx's "Older".
pub(crate) async fn older_items(
    reader: tac_store::Reader,
    state: &AppState,
    user: tac_store::PortalUserId,
    owner: TimelineOwner,
    params: &TimelineParams,
) -> Result<Response, WebError> {
    let (mut reader, _slot) = reader_for(state, user, reader, params.searches()).await?;
    let (timeline, _, _) = read_timeline(&mut reader, state, owner, params).await?;
    page(StatusCode::OK, &TimelineFragment { timeline: TimelineBlock::new(&timeline, params, &owner.base(), false) })
}

/// Reads a timeline page of a contact or company with the page's filters,
/// and the team members to offer in the filter; a team member who is not a
/// synced mailbox was already refused by the filters.
pub(crate) async fn read_timeline(
    reader: &mut tac_store::Reader,
    state: &AppState,
    owner: TimelineOwner,
    params: &TimelineParams,
) -> Result<(tac_store::TimelinePage, FilterErrors, Vec<MemberOption>), WebError> {
    let mailboxes = reader.mailbox_addresses(state.workspace()).await?;
    let (query, errors) = params.query(&mailboxes, TIMELINE_PAGE)?;
    let members = mailboxes
        .into_iter()
        .map(|address| MemberOption { selected: address.eq_ignore_ascii_case(params.member.trim()), address })
        .collect();
    let (ws, now) = (state.workspace(), Utc::now());
    let page = match owner {
        TimelineOwner::Contact(id) => reader.timeline(ws, id, &query, now).await?,
        TimelineOwner::Company(id) => reader.company_timeline(ws, id, &query, now).await?,
    };
    Ok((page, errors, members))
}
