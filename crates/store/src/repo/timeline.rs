/*!
Reading the activity index: contact and company timelines, a page at a
time, and the items of a page with everything a card shows.

Every read loads the workspace's visibility level and passes each row
through `tac_core::timeline`'s redaction before it leaves the store, so no
caller (CLI, portal, API) can forget it. A timeline searched narrows the
page with `search.rs`'s conditions; a search over everything is
`search.rs`'s own page, whose items are read here.

A page is keyset-paginated on (time, kind, id) descending, which the
`activity_timeline` index serves: the first page of a contact with tens of
thousands of activities reads a few dozen index entries, and the same
statement reads the page's items by id and returns them as one JSON value
(a page is one round trip).
*/

use super::privacy::parse_visibility;
use super::search::{Source, everything_page, walk_in_time_order};
use super::{
    BACKEND, Conn, Db, Owned, ensure_owned, from_json_rows, json_array, json_rows, json_rows_value, nested_json,
    push_id_table, push_limit, visibility_owning, with_deadline,
};
use crate::error::{Result, StoreError};
use crate::query_text::{SEARCH_TIME_BUDGET, refusal, words};
use crate::types::{Backend, CompanyId, ContactId, TimelineOf, TimelinePage, TimelineQuery, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::HashMap;
use tac_core::privacy::Visibility;
use tac_core::records::Direction;
use tac_core::timeline::{ActivityKind, AttendeeView, EmailFacts, MeetingFacts, Person, TimelineCursor, TimelineItem};
use tac_store_macros::operation;

/// One row of the index as a page lists it.
pub(super) struct Entry {
    pub(super) kind: ActivityKind,
    pub(super) ref_id: i64,
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) direction: Option<Direction>,
}

/// A page of a contact's timeline, newest first, redacted by the
/// workspace's privacy policy.
#[operation]
pub(crate) async fn timeline(
    conn: &mut Conn,
    ws: WorkspaceId,
    contact: ContactId,
    query: &TimelineQuery,
    now: DateTime<Utc>,
) -> Result<TimelinePage> {
    timeline_of(conn, ws, TimelineOf::Contact(contact), query, now).await
}

/// A page of everything the contacts of a company did with the team.
#[operation]
pub(crate) async fn company_timeline(
    conn: &mut Conn,
    ws: WorkspaceId,
    company: CompanyId,
    query: &TimelineQuery,
    now: DateTime<Utc>,
) -> Result<TimelinePage> {
    timeline_of(conn, ws, TimelineOf::Company(company), query, now).await
}

/// A page of `subject`'s timeline, or of a search over everything.
pub(super) async fn timeline_of(
    conn: &mut Conn,
    ws: WorkspaceId,
    subject: TimelineOf<'_>,
    query: &TimelineQuery,
    now: DateTime<Utc>,
) -> Result<TimelinePage> {
    let owned = match subject {
        TimelineOf::Contact(id) => Some((Owned::Contact, id.0)),
        TimelineOf::Company(id) => Some((Owned::Company, id.0)),
        TimelineOf::Everything(_) => None,
    };
    let limit = query.page_size();
    if let Some(reason) = query.search.as_deref().and_then(refusal) {
        return Err(StoreError::SearchTooBig(reason));
    }
    let search = query.search.as_deref().map(words).unwrap_or_default();
    // A search is written for what the viewer may read, so it needs the
    // visibility level first (and checks the owner with it). A plain page
    // reads the level with its items, and checks the owner only when the
    // page comes back empty: rows are read within the workspace, so a
    // foreign contact's page is always empty. One round trip less.
    let visibility =
        if search.is_empty() && owned.is_some() { None } else { Some(visibility_owning(&mut *conn, ws, owned).await?) };
    if !search.is_empty() && visibility == Some(Visibility::Metadata) {
        // Nothing the viewer may read is searchable.
        return Ok(TimelinePage { items: Vec::new(), next_cursor: None });
    }
    // Unread only for a page without search, whose statements ignore it.
    let search_visibility = visibility.unwrap_or_default();
    let mailbox = match &query.team_member {
        Some(address) => Some(mailbox_by_address(&mut *conn, ws, address).await?),
        None => None,
    };
    let read = async |conn: &mut Conn| match subject {
        TimelineOf::Everything(viewer) => {
            everything_page(conn, ws, query, viewer, &search, search_visibility, limit).await
        }
        _ => activity_page(conn, ws, subject, query, mailbox, &search, search_visibility, limit).await,
    };
    // A search gets a time budget; a plain page reads a few index entries.
    let (mut entries, facts) = if search.is_empty() {
        read(&mut *conn).await?
    } else {
        with_deadline(&mut *conn, SEARCH_TIME_BUDGET, read).await?
    };
    if entries.is_empty() && visibility.is_none() {
        if let Some((what, id)) = owned {
            ensure_owned(&mut *conn, ws, what, id).await?;
        }
        return Ok(TimelinePage { items: Vec::new(), next_cursor: None });
    }
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| TimelineCursor { occurred_at: e.occurred_at, kind: e.kind, ref_id: e.ref_id }.encode())
    } else {
        None
    };
    let items = items(&entries, facts, visibility, now);
    Ok(TimelinePage { items, next_cursor })
}

/// The page's entries from the activity index (one extra, to know whether
/// another page follows), with their items' facts, in one statement.
///
/// A filter that looks into the items (search, team member) reads each kind
/// in its own branch that stops at the page size, and the statement merges
/// the two: one `email_id in (…) or meeting_id in (…)` made PostgreSQL test
/// every activity against an unhashed million-row subplan (90 s for a
/// common word on a big contact).
#[allow(clippy::too_many_arguments)]
async fn activity_page(
    conn: &mut Conn,
    ws: WorkspaceId,
    subject: TimelineOf<'_>,
    query: &TimelineQuery,
    mailbox: Option<i64>,
    search: &[String],
    visibility: Visibility,
    limit: u32,
) -> Result<(Vec<Entry>, Facts)> {
    let kinds = match query.kind {
        Some(kind) => vec![Some(kind)],
        None if search.is_empty() && mailbox.is_none() => vec![None],
        None => vec![Some(ActivityKind::Email), Some(ActivityKind::Meeting)],
    };
    let mut branches = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let walk = match kind {
            Some(kind) if !search.is_empty() => {
                walk_in_time_order(&mut *conn, Source::of(kind), search, visibility).await?
            }
            _ => false,
        };
        branches.push(Branch { ws, subject, query, kind, mailbox, search, visibility, walk, limit });
    }
    let mut q = QueryBuilder::<Db>::new("");
    push_page(&mut q, ws, |q| match branches.as_slice() {
        [branch] => branch.push(q),
        several => {
            for (i, branch) in several.iter().enumerate() {
                if i > 0 {
                    q.push(" union all ");
                }
                q.push("select * from (");
                branch.push(q);
                q.push(format_args!(") branch{i}"));
            }
            q.push(" order by occurred_at desc, kind desc, ref_id desc");
            push_limit(q, limit + 1);
        }
    });
    // PostgreSQL plans a search with its words (a prepared statement would
    // freeze one plan for every word); any other page keeps its plan.
    let (entries, facts) = page_rows(conn, q, search.is_empty()).await?;
    Ok((newest_first(entries, limit), facts))
}

/// Sorts entries merged from several queries into the page order (time,
/// kind, id, all descending) and keeps one more than a page.
pub(super) fn newest_first(mut entries: Vec<Entry>, limit: u32) -> Vec<Entry> {
    entries.sort_by(|a, b| (b.occurred_at, b.kind.as_str(), b.ref_id).cmp(&(a.occurred_at, a.kind.as_str(), a.ref_id)));
    entries.truncate(limit as usize + 1);
    entries
}

/// One query over the activity index: a contact's or a company's entries,
/// of one kind or both, with the page's filters.
struct Branch<'a> {
    ws: WorkspaceId,
    subject: TimelineOf<'a>,
    query: &'a TimelineQuery,
    kind: Option<ActivityKind>,
    mailbox: Option<i64>,
    search: &'a [String],
    visibility: Visibility,
    walk: bool,
    limit: u32,
}

impl Branch<'_> {
    fn push(&self, q: &mut QueryBuilder<Db>) {
        let ws = self.ws;
        // A company's contacts may share an item: it is listed once, inbound
        // when any of them sent it ('inbound' sorts before 'outbound'). A
        // contact's rows are unique per item, so its page needs no grouping
        // and is read straight off the index in order.
        let company = matches!(self.subject, TimelineOf::Company(_));
        q.push(if company {
            "select a.kind, coalesce(a.email_id, a.meeting_id) as ref_id, a.occurred_at,
                    min(a.direction) as direction
             from activity a where a.workspace_id = "
        } else {
            "select a.kind, coalesce(a.email_id, a.meeting_id) as ref_id, a.occurred_at, a.direction
             from activity a where a.workspace_id = "
        });
        q.push_bind(ws.0);
        match self.subject {
            TimelineOf::Contact(id) => {
                q.push(" and a.contact_id = ").push_bind(id.0);
            }
            TimelineOf::Company(id) => {
                q.push(" and a.contact_id in (select id from contact where workspace_id = ")
                    .push_bind(ws.0)
                    .push(" and company_id = ")
                    .push_bind(id.0)
                    .push(")");
            }
            TimelineOf::Everything(_) => {
                unreachable!("BUG: the everything timeline reads items, not the activity index")
            }
        }
        let query = self.query;
        if let Some(from) = query.from {
            q.push(" and a.occurred_at >= ").push_bind(from);
        }
        if let Some(to) = query.to {
            q.push(" and a.occurred_at < ").push_bind(to);
        }
        if let Some(direction) = query.direction {
            q.push(" and a.direction = ").push_bind(direction.as_str());
        }
        if let Some(kind) = self.kind {
            let source = Source::of(kind);
            let id = source.activity_column();
            q.push(" and a.kind = ").push_bind(kind.as_str());
            if let Some(mailbox) = self.mailbox {
                // The mailbox's live copies are an index range, so a team
                // member who rarely deals with the contact does not make the
                // page walk the contact's whole history.
                let (copy, item) = match kind {
                    ActivityKind::Email => ("email_copy", "email_id"),
                    ActivityKind::Meeting => ("meeting_copy", "meeting_id"),
                };
                q.push(format_args!(" and {id} in (select c.{item} from {copy} c where c.workspace_id = "))
                    .push_bind(ws.0)
                    .push(" and c.mailbox_id = ")
                    .push_bind(mailbox)
                    .push(" and c.removed_at is null)");
            }
            if !self.search.is_empty() {
                q.push(" and ");
                source.push_match(q, ws, id, self.search, self.visibility, self.walk);
            }
        }
        if let Some(c) = query.cursor {
            push_cursor(q, "a.occurred_at", "a.kind", "coalesce(a.email_id, a.meeting_id)", c);
        }
        if company {
            q.push(" group by a.kind, a.email_id, a.meeting_id, a.occurred_at");
        }
        q.push(" order by a.occurred_at desc, a.kind desc, ref_id desc");
        push_limit(q, self.limit + 1);
    }
}

/// `… < cursor` in (time, kind, id) descending order.
pub(super) fn push_cursor(q: &mut QueryBuilder<Db>, at: &str, kind: &str, id: &str, c: TimelineCursor) {
    q.push(format_args!(" and ({at} < "))
        .push_bind(c.occurred_at)
        .push(format_args!(" or ({at} = "))
        .push_bind(c.occurred_at)
        .push(format_args!(" and ({kind} < "))
        .push_bind(c.kind.as_str())
        .push(format_args!(" or ({kind} = "))
        .push_bind(c.kind.as_str())
        .push(format_args!(" and {id} < "))
        .push_bind(c.ref_id)
        .push("))))");
}

/// The items of a page, in the page's order, each redacted by
/// `visibility`, or by the level the page's rows brought when the caller
/// has not read it.
fn items(entries: &[Entry], mut facts: Facts, visibility: Option<Visibility>, now: DateTime<Utc>) -> Vec<TimelineItem> {
    let visibility = visibility.or(facts.visibility).unwrap_or_default();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        match e.kind {
            ActivityKind::Email => {
                if let Some(mut f) = facts.emails.remove(&e.ref_id) {
                    if let Some(d) = e.direction {
                        f.direction = d;
                    }
                    out.push(TimelineItem::Email(f.into_item(visibility)));
                }
            }
            ActivityKind::Meeting => {
                if let Some(f) = facts.meetings.remove(&e.ref_id) {
                    out.push(TimelineItem::Meeting(f.into_item(visibility, now)));
                }
            }
        }
    }
    out
}

/// Emails and meetings by id, unredacted, with the workspace's visibility
/// level (`None` when no row came back).
#[derive(Default)]
pub(super) struct Facts {
    pub(super) emails: HashMap<i64, EmailFacts>,
    pub(super) meetings: HashMap<i64, MeetingFacts>,
    pub(super) visibility: Option<Visibility>,
}

/// One entry of a page statement ([`push_page`]) with its item's facts:
/// kind, id, time and direction (none for entries from an id list), and
/// the email's or the meeting's facts (null if the item is gone).
type PageEntry = (String, i64, Option<DateTime<Utc>>, Option<String>, Option<EmailRow>, Option<MeetingRow>);

/// An email's facts, in the order of [`page_sql`]'s array.
#[derive(serde::Deserialize)]
struct EmailRow {
    id: i64,
    sent_at: DateTime<Utc>,
    subject: String,
    preview: String,
    internet_message_id: String,
    conversation_id: Option<String>,
    #[serde(deserialize_with = "flag")]
    has_attachments: bool,
    #[serde(deserialize_with = "flag")]
    is_private: bool,
    content_level: String,
    /// (id, role, address, name), in no order.
    people: Vec<(i64, String, String, String)>,
    /// The addresses of the mailboxes holding a live copy.
    copies: Vec<(String,)>,
}

/// A meeting's facts, in the order of [`page_sql`]'s array.
#[derive(serde::Deserialize)]
struct MeetingRow {
    id: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    subject: String,
    #[serde(deserialize_with = "flag")]
    is_all_day: bool,
    #[serde(deserialize_with = "flag")]
    is_cancelled: bool,
    sensitivity: String,
    organizer_address: String,
    organizer_name: String,
    location: Option<String>,
    online_meeting_url: Option<String>,
    content_level: String,
    /// (id, address, name, kind, response), in no order.
    attendees: Vec<(i64, String, String, String, String)>,
    /// The mailboxes holding a live copy: (address, that member's response).
    copies: Vec<(String, String)>,
}

/// A boolean column in JSON: `true`/`false` from PostgreSQL, `1`/`0` from
/// SQLite, which has no boolean type.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    struct Flag;
    impl serde::de::Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("true, false, 1 or 0")
        }
        fn visit_bool<E>(self, b: bool) -> std::result::Result<bool, E> {
            Ok(b)
        }
        fn visit_u64<E>(self, n: u64) -> std::result::Result<bool, E> {
            Ok(n != 0)
        }
        fn visit_i64<E>(self, n: i64) -> std::result::Result<bool, E> {
            Ok(n != 0)
        }
    }
    d.deserialize_any(Flag)
}

/// A page statement up to its workspace bind: the entries of the subquery
/// `page` with their items' facts, aggregated into one JSON value
/// ([`PageEntry`] rows), and the workspace's visibility level.
///
/// One value, not a row per item: sqlx hands each row from the SQLite
/// worker thread to the task on its own, and those hand-offs (and each
/// column's copy and decode) cost more than reading the rows.
fn page_sql() -> String {
    // A copy's mailbox by its key: as a join, PostgreSQL hashed all 200
    // mailboxes of the demo for every item of the page.
    const MAILBOX_ADDRESS: &str = "(select m.address from mailbox m where m.id = c.mailbox_id)";
    let email = json_array(&format!(
        "e.id, e.sent_at, e.subject, e.body_preview, e.internet_message_id, e.conversation_id, e.has_attachments,
         e.is_private, e.content_level, {people}, {copies}",
        people = nested_json(
            &json_rows_value("p.id, p.role, p.address, p.name"),
            "from email_participant p where p.email_id = e.id"
        ),
        copies = nested_json(
            &json_rows_value(MAILBOX_ADDRESS),
            "from email_copy c where c.email_id = e.id and c.removed_at is null"
        ),
    ));
    let meeting = json_array(&format!(
        "s.id, s.start_at, s.end_at, s.subject, s.is_all_day, s.is_cancelled, s.sensitivity, s.organizer_address,
         s.organizer_name, s.location, s.online_meeting_url, s.content_level, {attendees}, {copies}",
        attendees = nested_json(
            &json_rows_value("a.id, a.address, a.name, a.kind, a.response"),
            "from meeting_attendee a where a.meeting_id = s.id"
        ),
        copies = nested_json(
            &json_rows_value(&format!("{MAILBOX_ADDRESS}, c.response")),
            "from meeting_copy c where c.meeting_id = s.id and c.removed_at is null"
        ),
    ));
    let entries = json_rows(&format!(
        "page.kind, page.ref_id, page.occurred_at, page.direction, {email}, {meeting}",
        email = nested_json(&email, "from email e where page.kind = 'email' and e.id = page.ref_id"),
        meeting = nested_json(&meeting, "from meeting s where page.kind = 'meeting' and s.id = page.ref_id"),
    ));
    format!("select {entries}, (select visibility from privacy_policy where workspace_id = ")
}

/// Pushes a page statement: the rows of `page` (a select of `kind, ref_id,
/// occurred_at, direction` in the workspace), each with its item's facts, in
/// one statement and one value, so a page costs one round trip.
fn push_page(q: &mut QueryBuilder<Db>, ws: WorkspaceId, page: impl FnOnce(&mut QueryBuilder<Db>)) {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(page_sql);
    q.push(SQL.as_str()).push_bind(ws.0).push(") from (");
    page(q);
    q.push(") page");
}

/// Runs a page statement: its entries (those with a time) and the facts.
/// `prepared`: whether PostgreSQL may keep the statement prepared, and so
/// its plan; SQLite's statements always are.
async fn page_rows(conn: &mut Conn, mut q: QueryBuilder<Db>, prepared: bool) -> Result<(Vec<Entry>, Facts)> {
    let (page, visibility): (String, Option<String>) =
        q.build_query_as().persistent(prepared || BACKEND == Backend::Sqlite).fetch_one(&mut *conn).await?;
    let rows: Vec<PageEntry> = from_json_rows("activity", &page)?;
    let mut facts = Facts::default();
    if !rows.is_empty() {
        facts.visibility = Some(parse_visibility(visibility)?);
    }
    let mut entries = Vec::with_capacity(rows.len());
    for (kind, ref_id, occurred_at, direction, email, meeting) in rows {
        let kind: ActivityKind = kind.parse().map_err(|_| StoreError::corrupt("activity.kind", &kind))?;
        if let Some(occurred_at) = occurred_at {
            entries.push(Entry {
                kind,
                ref_id,
                occurred_at,
                direction: direction.as_deref().and_then(|d| d.parse().ok()),
            });
        }
        if let Some(email) = email {
            let f = email_facts(email)?;
            facts.emails.insert(f.id, f);
        }
        if let Some(meeting) = meeting {
            let f = meeting_facts(meeting)?;
            facts.meetings.insert(f.id, f);
        }
    }
    Ok((entries, facts))
}

/// Emails and meetings by id, each with its people and copies, and the
/// workspace's visibility level, in one statement.
pub(super) async fn item_facts(
    conn: &mut Conn,
    ws: WorkspaceId,
    email_ids: &[i64],
    meeting_ids: &[i64],
) -> Result<Facts> {
    if email_ids.is_empty() && meeting_ids.is_empty() {
        return Ok(Facts::default());
    }
    let mut q = QueryBuilder::<Db>::new("");
    push_page(&mut q, ws, |q| {
        q.push(format_args!(
            "select 'email' as kind, ids.value as ref_id, cast(null as {timestamp}) as occurred_at,
                    cast(null as text) as direction from ",
            timestamp = timestamp_type(),
        ));
        push_id_table(q, email_ids);
        q.push(" union all select 'meeting', ids.value, null, null from ");
        push_id_table(q, meeting_ids);
    });
    Ok(page_rows(conn, q, true).await?.1)
}

/// How a null timestamp is cast so both halves of a `union` agree.
fn timestamp_type() -> &'static str {
    match BACKEND {
        Backend::Sqlite => "text",
        Backend::Postgres => "timestamptz",
    }
}

fn email_facts(row: EmailRow) -> Result<EmailFacts> {
    let content_level =
        row.content_level.parse().map_err(|_| StoreError::corrupt("email.content_level", &row.content_level))?;
    let mut f = EmailFacts {
        id: row.id,
        sent_at: row.sent_at,
        subject: row.subject,
        preview: row.preview,
        direction: Direction::Inbound,
        internet_message_id: row.internet_message_id,
        conversation_id: row.conversation_id,
        from: None,
        to: Vec::new(),
        cc: Vec::new(),
        mailboxes: addresses(row.copies.into_iter().map(|(a,)| a).collect()),
        has_attachments: row.has_attachments,
        is_private: row.is_private,
        content_level,
    };
    let mut people = row.people;
    // As the message lists them.
    people.sort_unstable_by_key(|p| p.0);
    for (_, role, address, name) in people {
        let person = Person { name, address };
        match role.as_str() {
            "from" => f.from = Some(person),
            "to" => f.to.push(person),
            "cc" => f.cc.push(person),
            // Bcc recipients stay private to the sender's mailbox.
            _ => {}
        }
    }
    Ok(f)
}

fn meeting_facts(row: MeetingRow) -> Result<MeetingFacts> {
    let content_level =
        row.content_level.parse().map_err(|_| StoreError::corrupt("meeting.content_level", &row.content_level))?;
    // Each team member's own calendar has the authoritative answer for
    // them; other attendees' answers come from the stored event.
    let own: HashMap<&str, &str> = row.copies.iter().map(|(a, r)| (a.as_str(), r.as_str())).collect();
    let mut attendees = row.attendees;
    // As the event lists them.
    attendees.sort_unstable_by_key(|a| a.0);
    let attendees = attendees
        .into_iter()
        .map(|(_, address, name, kind, response)| {
            let response = own.get(address.as_str()).map_or(response, |r| (*r).to_owned());
            AttendeeView { name, address, response, kind }
        })
        .collect();
    let mailboxes = addresses(row.copies.iter().map(|(a, _)| a.clone()).collect());
    Ok(MeetingFacts {
        id: row.id,
        start: row.start,
        end: row.end,
        is_all_day: row.is_all_day,
        subject: row.subject,
        is_cancelled: row.is_cancelled,
        sensitivity: row.sensitivity,
        organizer: Person { name: row.organizer_name, address: row.organizer_address },
        attendees,
        location: row.location,
        online_meeting_url: row.online_meeting_url,
        mailboxes,
        content_level,
    })
}

/// Mailbox addresses sorted, each once (a mailbox can hold one message
/// twice, in Sent Items and in its Inbox).
fn addresses(mut all: Vec<String>) -> Vec<String> {
    all.sort();
    all.dedup();
    all
}

async fn mailbox_by_address(conn: &mut Conn, ws: WorkspaceId, address: &str) -> Result<i64> {
    let address = tac_core::address::canonical(address);
    let found: Option<i64> =
        sqlx::query_scalar("select id from mailbox where workspace_id = $1 and lower(address) = $2")
            .bind(ws.0)
            .bind(&address)
            .fetch_optional(conn)
            .await?;
    found.ok_or(StoreError::NotFound("team member's mailbox"))
}
