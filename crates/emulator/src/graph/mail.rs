//! Mail endpoints: folders, messages and per-folder message delta.
//!
//! <https://learn.microsoft.com/graph/api/user-list-mailfolders>,
//! <https://learn.microsoft.com/graph/delta-query-messages>.

use super::error::{GraphError, GraphResult};
use super::odata::Service;
use super::{
    Answer, CALENDAR_BASIC_ROLES, CALENDAR_ROLES, Ctx, MAIL_BASIC_ROLES, MAIL_ROLES, MailboxResource, context_url,
    skip_page,
};
use crate::corpus::{FolderKind, ItemKey, Message};
use crate::ids::{self, decode_token, encode_token};
use crate::permissions::{Access, BASIC_CALENDAR_WITHHELD, BASIC_MAIL_WITHHELD};
use crate::render::FolderInfo;
use crate::schema::{DerivedNames, schema};
use crate::world::{Change, Cursor, MailRound};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

/// A mailbox the caller may read.
pub struct Mailbox {
    pub index: usize,
    pub user_id: String,
    /// How much of the resource asked for (mail or calendar) the caller may read.
    pub access: Access,
    /// What that access withholds from each item.
    withheld: &'static [&'static str],
}

impl Mailbox {
    /// Refuses a request that names a withheld property in `$select` or
    /// `$expand`, as the service does for a `ReadBasic` app (the emulator
    /// takes the stricter reading: refused, not silently emptied).
    pub fn check_query(&self, ctx: &Ctx) -> GraphResult<()> {
        if self.access == Access::Full {
            return Ok(());
        }
        let named = |option: &str| {
            ctx.query
                .get(option)
                .is_some_and(|v| v.split([',', '(', ')', ' ', '/']).any(|name| self.withheld.contains(&name.trim())))
        };
        if named("$select") || named("$expand") {
            return Err(GraphError::mailbox_denied());
        }
        Ok(())
    }

    /// Refuses the token of a delta round begun before this mailbox's delta
    /// tokens were last expired (`generation` is the one it was issued in), or
    /// when the delta-expiry fault fires: 410 syncStateNotFound, pointing at
    /// `base_link` to start a new round.
    pub fn check_delta_generation(&self, ctx: &Ctx, generation: u64, base_link: &str) -> GraphResult<()> {
        if generation != ctx.state.world.generation(self.index) || ctx.state.faults.expire_delta() {
            return Err(GraphError::sync_state_not_found(generation, &format!("{base_link}?$deltatoken=")));
        }
        Ok(())
    }

    /// Removes what the caller's access withholds from a rendered item.
    pub fn withhold(&self, mut item: Value) -> Value {
        if self.access == Access::Basic
            && let Value::Object(map) = &mut item
        {
            map.retain(|k, _| !self.withheld.contains(&k.as_str()));
        }
        item
    }
}

/// Resolves the user of a mailbox path and checks the caller may read it.
pub fn open_mailbox(ctx: &Ctx, user: &str, resource: &MailboxResource) -> GraphResult<Mailbox> {
    let org = ctx.state.org();
    let found = match user.strip_prefix('#') {
        Some(n) => n.parse::<usize>().ok().and_then(|i| org.users.get(i)),
        None => org.find_user(user),
    };
    let calendar = matches!(
        resource,
        MailboxResource::CalendarView
            | MailboxResource::CalendarDelta
            | MailboxResource::Events
            | MailboxResource::Event(_)
            | MailboxResource::Instances(_)
    );
    let (full, basic, withheld) = if calendar {
        (CALENDAR_ROLES, CALENDAR_BASIC_ROLES, BASIC_CALENDAR_WITHHELD)
    } else {
        (MAIL_ROLES, MAIL_BASIC_ROLES, BASIC_MAIL_WITHHELD)
    };
    let access = if ctx.caller.require(full, GraphError::mailbox_denied).is_ok() {
        Access::Full
    } else {
        ctx.caller.require(basic, GraphError::mailbox_denied)?;
        Access::Basic
    };
    let u = found.ok_or_else(|| GraphError::invalid_user(user))?;
    if ctx.state.is_denied(u.index) {
        return Err(GraphError::access_policy_denied());
    }
    if !u.has_mailbox {
        return Err(GraphError::no_mailbox());
    }
    let mailbox = Mailbox { index: u.index, user_id: u.id.clone(), access, withheld };
    mailbox.check_query(ctx)?;
    Ok(mailbox)
}

/// Resolves a folder by well-known name or id.
pub fn resolve_folder(ctx: &Ctx, mailbox: &Mailbox, id: &str) -> GraphResult<FolderKind> {
    if let Some(f) = FolderKind::from_well_known(id) {
        return Ok(f);
    }
    let (owner, folder) = ids::parse_folder_id(id).ok_or_else(GraphError::invalid_id)?;
    if owner != mailbox.index || !ctx.state.world.has_folder(owner, folder) {
        return Err(GraphError::item_not_found());
    }
    Ok(folder)
}

/// `/mailFolders` and `/mailFolders/{id}/childFolders`: ten per page by default, `$skip` links.
pub fn folders(ctx: &Ctx, mailbox: &Mailbox, parent: Option<&str>) -> GraphResult<Answer> {
    ctx.query.allow_only(&["$select", "$top", "$skip", "$count", "$filter", "$expand"])?;
    let select = ctx.query.selection(Service::Outlook, "mailFolder", DerivedNames::Refuse)?;
    ctx.query.check_names(Service::Outlook, "mailFolder")?;
    let parent_kind = match parent {
        Some(id) => resolve_folder(ctx, mailbox, id)?,
        None => FolderKind::MsgFolderRoot,
    };
    let all = ctx.state.world.folders(mailbox.index);
    let mut counts: HashMap<FolderKind, (usize, usize)> = HashMap::new();
    for (m, _) in ctx.state.world.all_messages(mailbox.index) {
        let c = counts.entry(m.folder).or_default();
        c.0 += 1;
        if !m.is_read {
            c.1 += 1;
        }
    }
    let items: Vec<Value> = all
        .iter()
        .filter(|(_, _, p)| *p == Some(parent_kind))
        .map(|(kind, name, p)| {
            let children = all.iter().filter(|(_, _, pp)| *pp == Some(*kind)).count();
            let (total, unread) = counts.get(kind).copied().unwrap_or_default();
            let info = FolderInfo { kind: *kind, name, parent: *p, children, total, unread };
            ctx.render.folder(mailbox.index, &info, &select)
        })
        .collect();
    let link = match parent {
        Some(_) => format!(
            "/users/{}/mailFolders/{}/childFolders",
            mailbox.user_id,
            ids::folder_id(mailbox.index, parent_kind)
        ),
        None => format!("/users/{}/mailFolders", mailbox.user_id),
    };
    skip_page(ctx, items, 10, 1000, &link, &format!("users('{}')/mailFolders", mailbox.user_id))
}

/// `/mailFolders/{id}`.
pub fn folder(ctx: &Ctx, mailbox: &Mailbox, id: &str) -> GraphResult<Answer> {
    ctx.query.allow_only(&["$select", "$expand"])?;
    let select = ctx.query.selection(Service::Outlook, "mailFolder", DerivedNames::Refuse)?;
    ctx.query.check_names(Service::Outlook, "mailFolder")?;
    let kind = resolve_folder(ctx, mailbox, id)?;
    let all = ctx.state.world.folders(mailbox.index);
    let (_, name, parent) = all.iter().find(|(k, _, _)| *k == kind).cloned().ok_or_else(GraphError::item_not_found)?;
    let children = all.iter().filter(|(_, _, p)| *p == Some(kind)).count();
    let (mut total, mut unread) = (0, 0);
    for (m, _) in ctx.state.world.all_messages(mailbox.index) {
        if m.folder == kind {
            total += 1;
            unread += usize::from(!m.is_read);
        }
    }
    let info = FolderInfo { kind, name: &name, parent, children, total, unread };
    let mut body = ctx.render.folder(mailbox.index, &info, &select);
    body["@odata.context"] =
        json!(context_url(ctx.state, &format!("users('{}')/mailFolders/$entity", mailbox.user_id)));
    Ok(Answer::ok(body))
}

/// A `receivedDateTime` comparison from `$filter`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TimeFilter {
    op: &'static str,
    at: DateTime<Utc>,
}

impl TimeFilter {
    fn keeps(&self, t: DateTime<Utc>) -> bool {
        match self.op {
            "ge" => t >= self.at,
            "gt" => t > self.at,
            "le" => t <= self.at,
            _ => t < self.at,
        }
    }
}

fn invalid_filter() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidUrlQueryFilter",
        "The query filter contains one or more invalid nodes.",
    )
}

/// Parses `receivedDateTime OP VALUE [and …]`, with the operators `allowed`.
/// A property the message type lacks is refused as Graph refuses it; one
/// it has but the emulator does not filter on is an invalid filter.
fn parse_time_filter(filter: &str, allowed: &[&'static str]) -> GraphResult<Vec<TimeFilter>> {
    let mut out = Vec::new();
    for clause in filter.split(" and ") {
        let parts: Vec<&str> = clause.split_whitespace().collect();
        let [field, op, value] = parts.as_slice() else {
            return Err(invalid_filter());
        };
        schema().check_names("message", [*field], false).map_err(|e| Service::Outlook.unknown_name(&e))?;
        if *field != "receivedDateTime" {
            return Err(invalid_filter());
        }
        let op = *allowed.iter().find(|a| a.eq_ignore_ascii_case(op)).ok_or_else(invalid_filter)?;
        let at =
            DateTime::parse_from_rfc3339(value.trim_matches('\'')).map_err(|_| invalid_filter())?.with_timezone(&Utc);
        out.push(TimeFilter { op, at });
    }
    Ok(out)
}

/// `/messages` and `/mailFolders/{id}/messages`: newest first, ten per page, `$skip` links.
pub fn list_messages(ctx: &Ctx, mailbox: &Mailbox, folder: Option<&str>) -> GraphResult<Answer> {
    ctx.query.allow_only(&["$select", "$top", "$skip", "$filter", "$orderby", "$count", "$expand"])?;
    let select = ctx.query.selection(Service::Outlook, "message", DerivedNames::Refuse)?;
    ctx.query.check_names(Service::Outlook, "message")?;
    let folder = folder.map(|f| resolve_folder(ctx, mailbox, f)).transpose()?;
    let filters = match ctx.query.get("$filter") {
        Some(f) => parse_time_filter(f, &["ge", "gt", "le", "lt"])?,
        None => Vec::new(),
    };
    let ascending = match ctx.query.get("$orderby").map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        None | Some("receiveddatetime desc") => false,
        Some("receiveddatetime" | "receiveddatetime asc") => true,
        Some(_) => {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            ));
        }
    };
    let mut messages: Vec<(Message, u16)> = ctx
        .state
        .world
        .all_messages(mailbox.index)
        .into_iter()
        .filter(|(m, _)| folder.is_none_or(|f| m.folder == f) && filters.iter().all(|t| t.keeps(m.received)))
        .collect();
    messages.sort_by_key(|(m, _)| (m.received, m.key));
    if !ascending {
        messages.reverse();
    }
    let expand = expands_sensitivity(ctx.query.get("$expand"));
    let items: Vec<Value> = messages
        .iter()
        .map(|(m, moves)| mailbox.withhold(ctx.render.message(m, *moves, &select, false, expand)))
        .collect();
    let link = match folder {
        Some(f) => format!("/users/{}/mailFolders/{}/messages", mailbox.user_id, ids::folder_id(mailbox.index, f)),
        None => format!("/users/{}/messages", mailbox.user_id),
    };
    skip_page(ctx, items, 10, 1000, &link, &format!("users('{}')/messages", mailbox.user_id))
}

/// Finds a message by either kind of id, as it is now.
fn lookup(ctx: &Ctx, mailbox: &Mailbox, id: &str) -> GraphResult<(Message, u16)> {
    let parsed = ids::parse_message_id(id).ok_or_else(GraphError::invalid_id)?;
    if parsed.mailbox != mailbox.index {
        return Err(GraphError::item_not_found());
    }
    let (m, moves) = ctx.state.world.message(mailbox.index, parsed.key).ok_or_else(GraphError::item_not_found)?;
    // A regular id stops working once the message moves, as Exchange's does.
    if parsed.moves.is_some_and(|issued| issued != moves) {
        return Err(GraphError::item_not_found());
    }
    Ok((m, moves))
}

/// `/messages/{id}`.
pub fn message(ctx: &Ctx, mailbox: &Mailbox, id: &str) -> GraphResult<Answer> {
    ctx.query.allow_only(&["$select", "$expand"])?;
    let select = ctx.query.selection(Service::Outlook, "message", DerivedNames::Refuse)?;
    ctx.query.check_names(Service::Outlook, "message")?;
    let (m, moves) = lookup(ctx, mailbox, id)?;
    let expand = expands_sensitivity(ctx.query.get("$expand"));
    let mut body = mailbox.withhold(ctx.render.message(&m, moves, &select, false, expand));
    if body.is_object() {
        body["@odata.context"] =
            json!(context_url(ctx.state, &format!("users('{}')/messages/$entity", mailbox.user_id)));
    }
    Ok(Answer::ok(body))
}

/// The state a mail delta link carries.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct MailToken {
    m: usize,
    f: u16,
    g: u64,
    since: Option<DateTime<Utc>>,
    sel: Option<Vec<String>>,
    from: Option<u64>,
    to: u64,
    c: Cursor<ItemKey>,
    ps: usize,
    /// Whether the first call expanded PidTagSensitivity (options are
    /// given once and kept in the tokens).
    #[serde(default)]
    x: bool,
    /// `$orderby=receivedDateTime desc` was given: the initial round runs
    /// newest first, from after this (received, key).
    #[serde(default)]
    desc: bool,
    #[serde(default)]
    after: Option<(DateTime<Utc>, ItemKey)>,
    /// Items this round has returned so far, for the filtered round's cap.
    #[serde(default)]
    n: usize,
}

/// "Applying `$filter` in a delta query returns only up to 5,000 messages"
/// (docs/graph-facts.md §3, §8): each round of a filtered message delta ends after this
/// many, whatever the folder holds. The emulator applies it to every round,
/// later ones included, the stricter reading.
pub const FILTERED_DELTA_CAP: usize = 5000;

/// One page of the initial round newest first: the folder's messages since
/// the filter date, by received time descending, after `after`.
fn newest_first(
    ctx: &Ctx,
    round: &MailRound,
    after: Option<(DateTime<Utc>, ItemKey)>,
    limit: usize,
) -> (Vec<(Message, u16)>, bool) {
    let mut all: Vec<(Message, u16)> = ctx
        .state
        .world
        .all_messages(round.mailbox)
        .into_iter()
        .filter(|(m, _)| m.folder == round.folder && round.since.is_none_or(|t| m.received >= t))
        .collect();
    all.sort_by_key(|(m, _)| std::cmp::Reverse((m.received, m.key)));
    let start = match after {
        Some(pos) => all.partition_point(|(m, _)| (m.received, m.key) >= pos),
        None => 0,
    };
    let rest = all.len().saturating_sub(start);
    let page: Vec<(Message, u16)> = all.into_iter().skip(start).take(limit).collect();
    let more = rest > page.len();
    (page, more)
}

/// Whether `$expand` asks for PidTagSensitivity:
/// `singleValueExtendedProperties($filter=id eq 'Integer 0x0036')`, in any
/// case and spacing, with the tag written `0x36` or `0x0036`. Other
/// expansions are accepted and not rendered.
fn expands_sensitivity(expand: Option<&str>) -> bool {
    let Some(expand) = expand else { return false };
    let compact: String = expand.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    compact.split(',').any(|part| {
        matches!(
            part,
            "singlevalueextendedproperties($filter=ideq'integer0x0036')"
                | "singlevalueextendedproperties($filter=ideq'integer0x36')"
        )
    })
}

/// Graph's default page for message delta; `$top` is ignored there in practice.
const DEFAULT_DELTA_PAGE: usize = 10;
const MAX_DELTA_PAGE: usize = 1000;

/// The token of a new round: the query's `$select`, `$expand`, `$filter`
/// on `receivedDateTime` and `$orderby`, checked as Graph checks them.
fn first_round(ctx: &Ctx, mailbox: &Mailbox, folder: FolderKind) -> GraphResult<MailToken> {
    let world = &ctx.state.world;
    ctx.query.allow_only(&["$select", "$top", "$expand", "$filter", "$orderby"])?;
    // On delta, a derived type's property named without its cast is
    // left out rather than refused (docs/graph-facts.md §8).
    ctx.query.selection(Service::Outlook, "message", DerivedNames::LeaveOut)?;
    ctx.query.check_names(Service::Outlook, "message")?;
    let desc = match ctx.query.get("$orderby") {
        None => false,
        Some(o) if o.split_whitespace().collect::<Vec<_>>() == ["receivedDateTime", "desc"] => true,
        Some(_) => {
            return Err(GraphError::bad_request("$orderby on message delta supports only 'receivedDateTime desc'."));
        }
    };
    let since = match ctx.query.get("$filter") {
        Some(f) => match parse_time_filter(f, &["ge", "gt"])?.as_slice() {
            [one] => Some(if one.op == "gt" { one.at + chrono::Duration::nanoseconds(1) } else { one.at }),
            _ => return Err(invalid_filter()),
        },
        None => None,
    };
    if folder.is_search_folder() {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidOperation",
            "Delta is not supported on search folders.",
        ));
    }
    Ok(MailToken {
        m: mailbox.index,
        f: folder.code(),
        g: world.generation(mailbox.index),
        since,
        sel: ctx.query.select(),
        x: expands_sensitivity(ctx.query.get("$expand")),
        from: None,
        to: world.seq(),
        c: Cursor::Base(None),
        ps: DEFAULT_DELTA_PAGE,
        desc,
        after: None,
        n: 0,
    })
}

/// `/mailFolders/{id}/messages/delta`: one page of a delta round.
pub fn delta(ctx: &Ctx, mailbox: &Mailbox, folder_ref: &str) -> GraphResult<Answer> {
    let folder = resolve_folder(ctx, mailbox, folder_ref)?;
    let world = &ctx.state.world;
    let base_link = format!(
        "{}/users('{}')/mailFolders('{}')/messages/delta",
        ctx.state.graph_url(),
        mailbox.user_id,
        ids::folder_id(mailbox.index, folder)
    );
    let skip = ctx.query.get("$skiptoken");
    let deltatoken = ctx.query.get("$deltatoken");
    let token = match (skip, deltatoken) {
        (Some(t), _) | (None, Some(t)) => {
            let mut token: MailToken = decode_token(t)
                .filter(|t: &MailToken| t.m == mailbox.index && t.f == folder.code())
                .ok_or_else(|| GraphError::bad_request("The sync token is not valid for this folder."))?;
            mailbox.check_delta_generation(ctx, token.g, &base_link)?;
            if skip.is_none() {
                // A delta link starts the next round from where the last began.
                token.to = world.seq();
                token.c = Cursor::Changes(None);
                token.n = 0;
            }
            token
        }
        (None, None) => first_round(ctx, mailbox, folder)?,
    };
    let page_size = ctx.prefer.max_page_size.unwrap_or(token.ps).clamp(1, MAX_DELTA_PAGE);
    let round = MailRound { mailbox: mailbox.index, folder, since: token.since, from: token.from };
    // A filtered round stops at the cap, whatever is left.
    let room = if token.since.is_some() { FILTERED_DELTA_CAP.saturating_sub(token.n) } else { usize::MAX };
    let limit = page_size.min(room);
    let mut after = token.after;
    let (changes, mut next) = if limit == 0 {
        (Vec::new(), None)
    } else if token.desc && token.from.is_none() {
        let (page, more) = newest_first(ctx, &round, token.after, limit);
        after = page.last().map(|(m, _)| (m.received, m.key)).or(token.after);
        (page.into_iter().map(|(m, moves)| Change::Live(m, moves)).collect(), more.then_some(token.c))
    } else {
        world.mail_delta_page(&round, token.c, limit)
    };
    let returned = token.n + changes.len();
    if token.since.is_some() && returned >= FILTERED_DELTA_CAP {
        next = None;
    }
    let select = match &token.sel {
        Some(names) => {
            schema().select("message", names, DerivedNames::LeaveOut).map_err(|e| Service::Outlook.unknown_name(&e))?
        }
        None => Default::default(),
    };
    let mut value = Vec::with_capacity(changes.len());
    for change in changes {
        value.push(match change {
            Change::Live(m, moves) => mailbox.withhold(ctx.render.message(&m, moves, &select, true, token.x)),
            Change::Removed(key, moves) => json!({
                "@odata.type": "#microsoft.graph.message",
                "id": ids::message_id(mailbox.index, key, (!ctx.render.immutable_ids).then_some(moves)),
                "@removed": {"reason": "deleted"},
            }),
        });
    }
    let mut body = json!({"@odata.context": context_url(ctx.state, "Collection(message)"), "value": value});
    match next {
        Some(cursor) => {
            let t = MailToken { c: cursor, ps: page_size, after, n: returned, ..token };
            body["@odata.nextLink"] = json!(format!("{base_link}?$skiptoken={}", encode_token(&t)));
        }
        None => {
            let t =
                MailToken { from: Some(token.to), c: Cursor::Changes(None), ps: page_size, after: None, n: 0, ..token };
            body["@odata.deltaLink"] = json!(format!("{base_link}?$deltatoken={}", encode_token(&t)));
        }
    }
    Ok(Answer::ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sensitivity_property_expands() {
        assert!(expands_sensitivity(Some("singleValueExtendedProperties($filter=id eq 'Integer 0x0036')")));
        assert!(expands_sensitivity(Some("SingleValueExtendedProperties($filter=Id eq 'Integer 0x36')")));
        assert!(!expands_sensitivity(Some("singleValueExtendedProperties($filter=id eq 'String 0x0037')")));
        assert!(!expands_sensitivity(Some("attachments")));
        assert!(!expands_sensitivity(None));
    }

    #[test]
    fn delta_filters_take_only_received_date_lower_bounds() {
        assert_eq!(parse_time_filter("receivedDateTime ge 2024-01-01T00:00:00Z", &["ge", "gt"]).unwrap().len(), 1);
        assert!(parse_time_filter("receivedDateTime le 2024-01-01T00:00:00Z", &["ge", "gt"]).is_err());
        assert!(parse_time_filter("subject eq 'x'", &["ge", "gt"]).is_err());
        assert!(parse_time_filter("receivedDateTime ge yesterday", &["ge"]).is_err());
    }
}
