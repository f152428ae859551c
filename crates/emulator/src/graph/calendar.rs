//! Calendar endpoints: calendarView, calendarView delta, events and instances.
//!
//! <https://learn.microsoft.com/graph/api/event-delta>,
//! <https://learn.microsoft.com/graph/api/user-list-calendarview>.
//! Times come back in UTC unless `Prefer: outlook.timezone` asks otherwise.

use super::error::{GraphError, GraphResult};
use super::mail::Mailbox;
use super::odata::Service;
use super::{Answer, Ctx, context_url, skip_page, with_odata_type};
use crate::corpus::{Event, EventKey};
use crate::ids::{self, decode_token, encode_token};
use crate::schema::{DerivedNames, Selection};
use crate::tz::parse_query_datetime;
use crate::world::{CalendarRound, Change, Cursor};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;

/// `$select` and `$expand`/`$orderby` names, checked against the event type.
fn selection(ctx: &Ctx) -> GraphResult<Selection> {
    let select = ctx.query.selection(Service::Outlook, "event", DerivedNames::Refuse)?;
    ctx.query.check_names(Service::Outlook, "event")?;
    Ok(select)
}

fn window_required() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidParameter",
        "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
    )
}

/// Reads `startDateTime` and `endDateTime`.
fn window(ctx: &Ctx) -> GraphResult<(DateTime<Utc>, DateTime<Utc>)> {
    let (Some(s), Some(e)) = (ctx.query.get("startDateTime"), ctx.query.get("endDateTime")) else {
        return Err(window_required());
    };
    let bad = |v: &str| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            format!("The value '{v}' of parameter 'StartDateTime' or 'EndDateTime' is invalid."),
        )
    };
    let start = parse_query_datetime(s).ok_or_else(|| bad(s))?;
    let end = parse_query_datetime(e).ok_or_else(|| bad(e))?;
    if end < start {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "The EndDateTime must be after the StartDateTime.",
        ));
    }
    Ok((start, end))
}

/// The longest calendarView window Graph answers (docs/graph-facts.md §8: observed on
/// calendarView; whether calendarView delta has the same limit is not
/// documented, so the emulator applies it there too, the stricter reading).
pub const MAX_VIEW_DAYS: i64 = 1825;

/// [`window`], refused when it spans more than [`MAX_VIEW_DAYS`].
fn view_window(ctx: &Ctx) -> GraphResult<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = window(ctx)?;
    if end - start > chrono::Duration::days(MAX_VIEW_DAYS) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            format!(
                "The value of the time range is greater than the allowed range. Maximum number of days: {MAX_VIEW_DAYS}"
            ),
        ));
    }
    Ok((start, end))
}

/// The query options a list of calendar items takes.
const LIST_OPTIONS: &[&str] = &["$select", "$top", "$skip", "$filter", "$orderby", "$count", "$expand"];

/// A list of calendar items, ten a page with `$skip` links: `path` is the
/// list's path below `/users/{id}`, `context` its `@odata.context` below
/// `users('{id}')`.
fn ten_a_page(ctx: &Ctx, mailbox: &Mailbox, events: &[Event], path: &str, context: &str) -> GraphResult<Answer> {
    let select = selection(ctx)?;
    let items = events.iter().map(|e| mailbox.withhold(ctx.render.event(e, &select))).collect();
    let user = &mailbox.user_id;
    skip_page(ctx, items, 10, 1000, &format!("/users/{user}/{path}"), &format!("users('{user}')/{context}"))
}

/// `/calendarView?startDateTime&endDateTime`: ordered by start, ten per page.
pub fn view(ctx: &Ctx, mailbox: &Mailbox) -> GraphResult<Answer> {
    ctx.query.allow_only(LIST_OPTIONS)?;
    let (start, end) = view_window(ctx)?;
    let mut events = ctx.state.world.events_in(mailbox.index, start, end);
    events.sort_by_key(|e| (e.start, e.key));
    ten_a_page(ctx, mailbox, &events, "calendarView", "calendarView")
}

/// `/events`: single events and series masters (not occurrences), ten per page.
pub fn list_events(ctx: &Ctx, mailbox: &Mailbox) -> GraphResult<Answer> {
    ctx.query.allow_only(LIST_OPTIONS)?;
    let far = chrono::Duration::days(3650);
    let anchor = ctx.state.world.anchor;
    let mut events: Vec<Event> = Vec::new();
    for e in ctx.state.world.events_in(mailbox.index, anchor - far, anchor + far) {
        match e.kind {
            "singleInstance" => events.push(e),
            "occurrence" | "exception" => {
                let master = EventKey { occurrence: EventKey::MASTER, ..e.key };
                if !events.iter().any(|x| x.key == master)
                    && let Some(m) = ctx.state.world.event(mailbox.index, master)
                {
                    events.push(m);
                }
            }
            _ => {}
        }
    }
    ten_a_page(ctx, mailbox, &events, "events", "events")
}

fn lookup(ctx: &Ctx, mailbox: &Mailbox, id: &str) -> GraphResult<Event> {
    let (owner, key) = ids::parse_event_id(id).ok_or_else(GraphError::invalid_id)?;
    if owner != mailbox.index {
        return Err(GraphError::item_not_found());
    }
    ctx.state.world.event(mailbox.index, key).ok_or_else(GraphError::item_not_found)
}

/// `/events/{id}`.
pub fn event(ctx: &Ctx, mailbox: &Mailbox, id: &str) -> GraphResult<Answer> {
    ctx.query.allow_only(&["$select", "$expand"])?;
    let e = lookup(ctx, mailbox, id)?;
    let mut body = mailbox.withhold(ctx.render.event(&e, &selection(ctx)?));
    body["@odata.context"] = json!(context_url(ctx.state, &format!("users('{}')/events/$entity", mailbox.user_id)));
    Ok(Answer::ok(body))
}

/// `/events/{id}/instances?startDateTime&endDateTime`: a series' occurrences and exceptions.
pub fn instances(ctx: &Ctx, mailbox: &Mailbox, id: &str) -> GraphResult<Answer> {
    ctx.query.allow_only(&["$select", "$top", "$skip", "$filter", "$orderby"])?;
    let (start, end) = window(ctx)?;
    let master = lookup(ctx, mailbox, id)?;
    let mut events: Vec<Event> = ctx
        .state
        .world
        .events_in(mailbox.index, start, end)
        .into_iter()
        .filter(|e| {
            e.key.owner == master.key.owner && e.key.index == master.key.index && e.key.source == master.key.source
        })
        .map(|mut e| {
            e.recurrence = None;
            e
        })
        .collect();
    events.sort_by_key(|e| e.start);
    ten_a_page(ctx, mailbox, &events, &format!("events/{id}/instances"), &format!("events('{id}')/instances"))
}

/// The state a calendarView delta link carries.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CalendarToken {
    m: usize,
    g: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    from: Option<u64>,
    to: u64,
    c: Cursor<EventKey>,
    ps: usize,
}

const DEFAULT_DELTA_PAGE: usize = 10;
const MAX_DELTA_PAGE: usize = 1000;

/// `/calendarView/delta`: occurrences expanded, window fixed by the first call.
pub fn delta(ctx: &Ctx, mailbox: &Mailbox) -> GraphResult<Answer> {
    let world = &ctx.state.world;
    let base_link = format!("{}/users('{}')/calendarView/delta", ctx.state.graph_url(), mailbox.user_id);
    let skip = ctx.query.get("$skiptoken");
    let deltatoken = ctx.query.get("$deltatoken");
    let token = match (skip, deltatoken) {
        (Some(t), _) | (None, Some(t)) => {
            let mut token: CalendarToken = decode_token(t)
                .filter(|t: &CalendarToken| t.m == mailbox.index)
                .ok_or_else(|| GraphError::bad_request("The sync token is not valid for this calendar."))?;
            mailbox.check_delta_generation(ctx, token.g, &base_link)?;
            if skip.is_none() {
                token.to = world.seq();
                token.c = Cursor::Changes(None);
            }
            token
        }
        (None, None) => {
            // calendarView delta takes no OData query options at all.
            ctx.query.allow_only(&[])?;
            let (start, end) = view_window(ctx)?;
            CalendarToken {
                m: mailbox.index,
                g: world.generation(mailbox.index),
                start,
                end,
                from: None,
                to: world.seq(),
                c: Cursor::Base(None),
                ps: DEFAULT_DELTA_PAGE,
            }
        }
    };
    let page_size = ctx.prefer.max_page_size.unwrap_or(token.ps).clamp(1, MAX_DELTA_PAGE);
    let round = CalendarRound { mailbox: mailbox.index, start: token.start, end: token.end, from: token.from };
    let (changes, next) = world.calendar_delta_page(&round, token.c, page_size);
    let mut value = Vec::with_capacity(changes.len());
    for change in changes {
        value.push(match change {
            Change::Live(e, _) => {
                with_odata_type(mailbox.withhold(ctx.render.event(&e, &Selection::default())), "#microsoft.graph.event")
            }
            Change::Removed(key, _) => json!({
                "@odata.type": "#microsoft.graph.event",
                "id": ids::event_id(mailbox.index, key),
                "@removed": {"reason": "deleted"},
            }),
        });
    }
    let mut body = json!({"@odata.context": context_url(ctx.state, "Collection(event)"), "value": value});
    match next {
        Some(cursor) => {
            let t = CalendarToken { c: cursor, ps: page_size, ..token };
            body["@odata.nextLink"] = json!(format!("{base_link}?$skiptoken={}", encode_token(&t)));
        }
        None => {
            let t = CalendarToken { from: Some(token.to), c: Cursor::Changes(None), ps: page_size, ..token };
            body["@odata.deltaLink"] = json!(format!("{base_link}?$deltatoken={}", encode_token(&t)));
        }
    }
    Ok(Answer::ok(body))
}
