/*!
Reading the activity index: contact and company timelines, full-text
search, email bodies and contact summaries.

Every read loads the workspace's visibility level and passes each row
through `tac_core::timeline`'s redaction before it leaves the store, so no
caller (CLI, portal, API) can forget it. Search looks only where the viewer
may look: nothing at `metadata`, subjects at `subject`, subjects and bodies
at `full`, never private items, and internal-only items only where
`tac_core::privacy::may_open_internal_only` lets the viewer (their own
mailbox's, or an admin's when the workspace keeps them). An item page
answers `NotFound` for an internal-only item the viewer may not see, as if
it did not exist.

A page is keyset-paginated on (time, kind, id) descending, which the
`activity_timeline` index serves: the first page of a contact with tens of
thousands of activities reads a few dozen index entries, and the same
statement reads the page's items by id and returns them as one JSON value
(a page is one round trip). Search over everything reads hits newest first: on SQLite
the FTS rowids are time-ordered keys (migration 0005), on PostgreSQL the
planner walks the time index or reads the GIN hits, whichever is cheaper.
*/

use super::privacy::{keeps_internal, parse_visibility};
use super::{
    BACKEND, Conn, Db, Owned, Pool, count, ensure_owned, from_json_rows, json_array, json_rows, json_rows_value,
    nested_json, push_id_table, push_limit, visibility_owning, with_deadline,
};
use crate::error::{Result, StoreError};
use crate::query_text::{SEARCH_TIME_BUDGET, fts5_query, refusal, words};
use crate::types::{
    Backend, CompanyId, ContactId, ContactSummary, EmailBody, EmailId, MeetingId, MonthlyActivity, TeamMember,
    TimelineOf, TimelinePage, TimelineQuery, Viewer, WorkspaceId,
};
use chrono::{DateTime, Duration, Utc};
use sqlx::QueryBuilder;
use std::collections::HashMap;
use tac_core::insights::{ActivityCounts, follow_up, relationship_strength};
use tac_core::privacy::Visibility;
use tac_core::records::Direction;
use tac_core::timeline::{
    ActivityKind, AttendeeView, EmailFacts, EmailItem, MeetingFacts, MeetingItem, Person, TimelineCursor, TimelineItem,
};
use tac_store_macros::operation;

/// One row of the index as a page lists it.
struct Entry {
    kind: ActivityKind,
    ref_id: i64,
    occurred_at: DateTime<Utc>,
    direction: Option<Direction>,
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

/// Search over every email and meeting (`query.search` is required), as
/// far as visibility and the internal-only rule let `viewer` see.
#[operation]
pub(crate) async fn search(
    conn: &mut Conn,
    ws: WorkspaceId,
    query: &TimelineQuery,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Result<TimelinePage> {
    timeline_of(conn, ws, TimelineOf::Everything(viewer), query, now).await
}

/// A page of `subject`'s timeline, or of a search over everything.
async fn timeline_of(
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
fn newest_first(mut entries: Vec<Entry>, limit: u32) -> Vec<Entry> {
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

/// Search over every email and meeting of the workspace, newest first
/// (one extra entry, as [`activity_page`]), with the entries' facts.
async fn everything_page(
    conn: &mut Conn,
    ws: WorkspaceId,
    query: &TimelineQuery,
    viewer: &Viewer,
    search: &[String],
    visibility: Visibility,
    limit: u32,
) -> Result<(Vec<Entry>, Facts)> {
    if query.search.is_none() {
        return Err(StoreError::InvalidInput("searching everything needs at least one word".into()));
    }
    if search.is_empty() {
        // Punctuation only: nothing any index holds.
        return Ok((Vec::new(), Facts::default()));
    }
    // Only an admin may see colleagues' internal-only items, and only when
    // the workspace keeps them: a member's search never asks.
    let sees_all = viewer.admin && keeps_internal(&mut *conn, ws).await?;
    let mut entries = Vec::new();
    for kind in [ActivityKind::Email, ActivityKind::Meeting] {
        if query.kind.is_some_and(|k| k != kind) {
            continue;
        }
        let source = Source::of(kind);
        let rule = if sees_all { None } else { Some(viewer) };
        let hits = source.newest_hits(&mut *conn, ws, query, search, visibility, rule, limit).await?;
        entries.extend(hits);
    }
    let entries = newest_first(entries, limit);
    let ids = |kind| entries.iter().filter(|e| e.kind == kind).map(|e| e.ref_id).collect::<Vec<_>>();
    let facts = item_facts(conn, ws, &ids(ActivityKind::Email), &ids(ActivityKind::Meeting)).await?;
    Ok((entries, facts))
}

/// SQLite, for a contact's or company's timeline searched: whether the
/// words are so common (3% of the table or more) that walking the timeline
/// newest first and testing each item finds a page sooner than looking each
/// item up among every hit. PostgreSQL's planner makes that choice itself
/// from its statistics.
async fn walk_in_time_order(
    conn: &mut Conn,
    source: Source,
    search: &[String],
    visibility: Visibility,
) -> Result<bool> {
    if BACKEND != Backend::Sqlite {
        return Ok(false);
    }
    let (max_sql, count_sql) = match source {
        Source::Email => (
            "select max(id) from email",
            "select count(*) from (select 1 from email_fts where email_fts match $1 limit $2)",
        ),
        Source::Meeting => (
            "select max(id) from meeting",
            "select count(*) from (select 1 from meeting_fts where meeting_fts match $1 limit $2)",
        ),
    };
    let largest: Option<i64> = sqlx::query_scalar(max_sql).fetch_one(&mut *conn).await?;
    let cap = (largest.unwrap_or(0) * 3 / 100).max(WALK_MIN_HITS);
    let hits: i64 =
        sqlx::query_scalar(count_sql).bind(source.fts_text(search, visibility)).bind(cap).fetch_one(conn).await?;
    Ok(hits >= cap)
}

/// Below this many hits, reading them all is always quick enough.
const WALK_MIN_HITS: i64 = 20_000;

/// The two kinds of item, as search sees their tables.
#[derive(Clone, Copy)]
enum Source {
    Email,
    Meeting,
}

impl Source {
    fn of(kind: ActivityKind) -> Source {
        match kind {
            ActivityKind::Email => Source::Email,
            ActivityKind::Meeting => Source::Meeting,
        }
    }

    fn kind(self) -> ActivityKind {
        match self {
            Source::Email => ActivityKind::Email,
            Source::Meeting => ActivityKind::Meeting,
        }
    }

    /// The item's table, its FTS5 twin, and the column that dates it.
    fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Source::Email => ("email", "email_fts", "sent_at"),
            Source::Meeting => ("meeting", "meeting_fts", "start_at"),
        }
    }

    /// SQLite: the table of time-ordered search keys (the FTS rowids, see
    /// migration 0005) and its column naming the item.
    fn search_keys(self) -> (&'static str, &'static str) {
        match self {
            Source::Email => ("email_search_key", "email_id"),
            Source::Meeting => ("meeting_search_key", "meeting_id"),
        }
    }

    fn activity_column(self) -> &'static str {
        match self {
            Source::Email => "a.email_id",
            Source::Meeting => "a.meeting_id",
        }
    }

    /// The FTS5 query of a search, over what visibility lets a viewer read:
    /// email bodies only at `full`.
    fn fts_text(self, search: &[String], visibility: Visibility) -> String {
        match (self, visibility) {
            (Source::Email, Visibility::Full) | (Source::Meeting, _) => fts5_query(search),
            (Source::Email, _) => format!("subject : ({})", fts5_query(search)),
        }
    }

    /// ` and …` keeping only items whose content may be shown: private
    /// emails and private or confidential meetings never match a search.
    fn push_shown(self, q: &mut QueryBuilder<Db>) {
        match self {
            Source::Email => q.push(" and s.is_private = ").push_bind(false),
            Source::Meeting => q.push(" and s.sensitivity not in ('private', 'confidential')"),
        };
    }

    /// `from … s where …`: the workspace's items matching every word that
    /// the viewer may search, read from the full-text index.
    fn push_hits(self, q: &mut QueryBuilder<Db>, ws: WorkspaceId, search: &[String], visibility: Visibility) {
        let (table, fts, _) = self.tables();
        match BACKEND {
            Backend::Sqlite => {
                let (keys, item) = self.search_keys();
                // `cross join` keeps this order: the hits first, newest
                // first, each joined by key. Without statistics SQLite
                // otherwise walked every email of the workspace and probed
                // the index once per email (0.7 s for one word over 10,000
                // emails, against 3 ms).
                q.push(format_args!(
                    " from {fts} f cross join {keys} k on k.key = f.rowid cross join {table} s on s.id = k.{item} \
                     where {fts} match "
                ))
                .push_bind(self.fts_text(search, visibility))
                .push(" and s.workspace_id = ")
                .push_bind(ws.0);
            }
            Backend::Postgres => {
                let text = search.join(" ");
                q.push(format_args!(" from {table} s where s.workspace_id = "))
                    .push_bind(ws.0)
                    .push(" and s.search_tsv @@ plainto_tsquery('simple', ")
                    .push_bind(text.clone())
                    .push(")");
                if matches!(self, Source::Email) && visibility != Visibility::Full {
                    q.push(" and to_tsvector('simple', s.subject) @@ plainto_tsquery('simple', ")
                        .push_bind(text)
                        .push(")");
                }
            }
        }
        self.push_shown(q);
    }

    /// A condition that the item `id` (an SQL expression) matches the
    /// search. `walk` tests that one item against the index (SQLite, for
    /// common words); otherwise it is looked up among all the hits.
    fn push_match(
        self,
        q: &mut QueryBuilder<Db>,
        ws: WorkspaceId,
        id: &str,
        search: &[String],
        visibility: Visibility,
        walk: bool,
    ) {
        let (table, fts, _) = self.tables();
        if walk && BACKEND == Backend::Sqlite {
            let (keys, item) = self.search_keys();
            q.push(format_args!("exists (select 1 from {table} s join {keys} k on k.{item} = s.id where s.id = {id}"));
            self.push_shown(q);
            q.push(format_args!(" and exists (select 1 from {fts} f where f.rowid = k.key and {fts} match "))
                .push_bind(self.fts_text(search, visibility))
                .push("))");
        } else {
            q.push(format_args!("{id} in (select s.id"));
            self.push_hits(q, ws, search, visibility);
            q.push(")");
        }
    }

    /// `exists (…`: a live copy of item `s` is in the mailbox of the
    /// directory user whose id follows, then `))`: the viewer's own mailbox
    /// holds it.
    fn held_by(self) -> String {
        let (copies, item) = match self {
            Source::Email => ("email_copy", "email_id"),
            Source::Meeting => ("meeting_copy", "meeting_id"),
        };
        format!(
            "exists (select 1 from {copies} c join mailbox mb on mb.workspace_id = c.workspace_id
                         and mb.id = c.mailbox_id
                     where c.workspace_id = s.workspace_id and c.{item} = s.id and c.removed_at is null
                         and lower(mb.user_id) = lower("
        )
    }

    /// ` and (…)`: the item `s` is not internal-only, or the viewer's own
    /// mailbox holds it.
    fn push_internal_rule(self, q: &mut QueryBuilder<Db>, viewer: &Viewer) {
        q.push(" and (not s.internal_only");
        if let Some(user_id) = &viewer.user_id {
            q.push(" or ").push(self.held_by()).push_bind(user_id.clone()).push("))");
        }
        q.push(")");
    }

    /// The newest page of hits over everything, with the page's time
    /// filters, internal-only items only as `rule`'s viewer may see them
    /// (`None`: all). SQLite reads the hits newest first straight from the
    /// time-ordered FTS rowids and stops at the page; PostgreSQL's planner
    /// chooses between its time index and the hits.
    #[allow(clippy::too_many_arguments)]
    async fn newest_hits(
        self,
        conn: &mut Conn,
        ws: WorkspaceId,
        query: &TimelineQuery,
        search: &[String],
        visibility: Visibility,
        rule: Option<&Viewer>,
        limit: u32,
    ) -> Result<Vec<Entry>> {
        let (_, _, at) = self.tables();
        let kind = self.kind();
        let mut q = QueryBuilder::<Db>::new(format!("select s.id, s.{at}"));
        self.push_hits(&mut q, ws, search, visibility);
        if let Some(viewer) = rule {
            self.push_internal_rule(&mut q, viewer);
        }
        push_hit_filters(&mut q, query, "s", at, kind);
        match BACKEND {
            Backend::Sqlite => {
                // The exact filters above decide; these key ranges (whole
                // seconds) let FTS5 start and stop at the right place.
                if let Some(from) = query.from {
                    q.push(" and f.rowid >= ").push_bind(search_key_floor(from));
                }
                let upper = [
                    query.to.map(search_key_ceiling),
                    query.cursor.map(|c| search_key_floor(c.occurred_at) + SECOND_OF_KEYS),
                ];
                if let Some(upper) = upper.into_iter().flatten().min() {
                    q.push(" and f.rowid < ").push_bind(upper);
                }
                q.push(" order by f.rowid desc");
            }
            Backend::Postgres => {
                q.push(format_args!(" order by s.{at} desc, s.id desc"));
            }
        }
        push_limit(&mut q, limit + 1);
        // PostgreSQL plans each search with its words (persistent statements
        // would freeze one plan): whether to walk by time or read the hits
        // depends on how common they are.
        let rows: Vec<(i64, DateTime<Utc>)> =
            q.build_query_as().persistent(BACKEND == Backend::Sqlite).fetch_all(conn).await?;
        Ok(rows.into_iter().map(|(ref_id, occurred_at)| Entry { kind, ref_id, occurred_at, direction: None }).collect())
    }
}

/// How many search keys one second holds (migration 0005: the key is the
/// Unix second times 2^20 plus the item's place within that second).
const SECOND_OF_KEYS: i64 = 1 << 20;

/// The first search key of `at`'s second.
fn search_key_floor(at: DateTime<Utc>) -> i64 {
    at.timestamp().saturating_mul(SECOND_OF_KEYS)
}

/// The first search key after every item strictly before `at`.
fn search_key_ceiling(at: DateTime<Utc>) -> i64 {
    let floor = search_key_floor(at);
    if at.timestamp_subsec_nanos() == 0 { floor } else { floor.saturating_add(SECOND_OF_KEYS) }
}

/// The time filters and cursor of a search over `alias`, dated by `at`.
fn push_hit_filters(q: &mut QueryBuilder<Db>, query: &TimelineQuery, alias: &str, at: &str, kind: ActivityKind) {
    let at = format!("{alias}.{at}");
    if let Some(from) = query.from {
        q.push(format_args!(" and {at} >= ")).push_bind(from);
    }
    if let Some(to) = query.to {
        q.push(format_args!(" and {at} < ")).push_bind(to);
    }
    if let Some(c) = query.cursor {
        let kind = format!("'{}'", kind.as_str());
        push_cursor(q, &at, &kind, &format!("{alias}.id"), c);
    }
}

/// `… < cursor` in (time, kind, id) descending order.
fn push_cursor(q: &mut QueryBuilder<Db>, at: &str, kind: &str, id: &str, c: TimelineCursor) {
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
struct Facts {
    emails: HashMap<i64, EmailFacts>,
    meetings: HashMap<i64, MeetingFacts>,
    visibility: Option<Visibility>,
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
async fn item_facts(conn: &mut Conn, ws: WorkspaceId, email_ids: &[i64], meeting_ids: &[i64]) -> Result<Facts> {
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

/// An email's sanitised body; [`StoreError::Hidden`] when the policy
/// hides it, `NotFound` as for [`Store::email_item`](crate::Store::email_item).
#[operation]
pub(crate) async fn email_body(
    pool: &Pool,
    ws: WorkspaceId,
    email: EmailId,
    viewer: &Viewer,
    allow_remote_images: bool,
) -> Result<EmailBody> {
    let email_id = email.0;
    let mut conn = pool.acquire().await?;
    let rule = internal_rule(&mut conn, ws, Source::Email, email_id, viewer).await?;
    let row: Option<(String, String, bool, String, Option<String>)> = sqlx::query_as(
        "select body_html, body_text, is_private, content_level,
                (select visibility from privacy_policy where workspace_id = $1)
         from email where workspace_id = $1 and id = $2",
    )
    .bind(ws.0)
    .bind(email_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (html, text, is_private, level, visibility) = row.ok_or(StoreError::NotFound("email"))?;
    let stored: Visibility = level.parse().map_err(|_| StoreError::corrupt("email.content_level", &level))?;
    let visibility = parse_visibility(visibility)?;
    if rule.internal_only && !rule.keep_internal {
        return Err(StoreError::Hidden(
            "this email is between colleagues only: the workspace keeps only who and when of such mail",
        ));
    }
    if !tac_core::privacy::shown(visibility, is_private).body {
        return Err(StoreError::Hidden(if is_private {
            "this email is private: only who and when are shown"
        } else {
            "the workspace's privacy settings hide email bodies"
        }));
    }
    if !tac_core::privacy::shown(stored, is_private).body {
        return Err(StoreError::Hidden(
            "this body was removed when visibility was lowered; the next sync reads it again",
        ));
    }
    let clean =
        tac_core::sanitize::sanitize_email_html(&html, tac_core::sanitize::SanitizeOptions { allow_remote_images });
    Ok(EmailBody { html: clean.html, text, blocked_images: clean.blocked_images })
}

/// One email as a timeline shows it (redacted by the privacy policy),
/// seen from the team: outbound when a team member sent it.
/// `NotFound` when it is not in the workspace, or is internal-only and
/// not the viewer's to see.
#[operation]
pub(crate) async fn email_item(pool: &Pool, ws: WorkspaceId, email: EmailId, viewer: &Viewer) -> Result<EmailItem> {
    let email_id = email.0;
    let mut conn = pool.acquire().await?;
    internal_rule(&mut conn, ws, Source::Email, email_id, viewer).await?;
    let visibility = visibility_owning(&mut conn, ws, Some((Owned::Email, email_id))).await?;
    let mut facts = item_facts(&mut conn, ws, &[email_id], &[]).await?;
    let mut f = facts.emails.remove(&email_id).ok_or(StoreError::NotFound("email"))?;
    // 'outbound' sorts after 'inbound': the max says whether any team
    // member sent it.
    let direction: Option<String> = sqlx::query_scalar(
        "select max(direction) from email_copy where workspace_id = $1 and email_id = $2 and removed_at is null",
    )
    .bind(ws.0)
    .bind(email_id)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(d) = direction.as_deref().and_then(|d| d.parse().ok()) {
        f.direction = d;
    }
    Ok(f.into_item(visibility))
}

/// One meeting as a timeline shows it (redacted by the privacy policy).
/// `NotFound` when it is not in the workspace, or is internal-only and
/// not the viewer's to see.
#[operation]
pub(crate) async fn meeting_item(
    pool: &Pool,
    ws: WorkspaceId,
    meeting: MeetingId,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Result<MeetingItem> {
    let meeting_id = meeting.0;
    let mut conn = pool.acquire().await?;
    internal_rule(&mut conn, ws, Source::Meeting, meeting_id, viewer).await?;
    let visibility = visibility_owning(&mut conn, ws, Some((Owned::Meeting, meeting_id))).await?;
    let mut facts = item_facts(&mut conn, ws, &[], &[meeting_id]).await?;
    let f = facts.meetings.remove(&meeting_id).ok_or(StoreError::NotFound("meeting"))?;
    Ok(f.into_item(visibility, now))
}

/// How the internal-only rule sees one item.
struct InternalRule {
    internal_only: bool,
    keep_internal: bool,
}

/// The item's standing under the internal-only rule, or `NotFound` when it
/// is not in the workspace or is internal-only and not the viewer's to see
/// (the same answer, so a member cannot tell a colleague's item exists).
async fn internal_rule(
    conn: &mut Conn,
    ws: WorkspaceId,
    source: Source,
    id: i64,
    viewer: &Viewer,
) -> Result<InternalRule> {
    let (table, _, _) = source.tables();
    let missing = table;
    let sql = format!(
        "select s.internal_only,
                coalesce((select keep_internal from privacy_policy where workspace_id = $1), {false_}),
                {held_by}$3))
         from {table} s where s.workspace_id = $1 and s.id = $2",
        false_ = if BACKEND == Backend::Sqlite { "0" } else { "false" },
        held_by = source.held_by(),
    );
    let row: Option<(bool, bool, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ws.0)
        .bind(id)
        .bind(viewer.user_id.as_deref())
        .fetch_optional(&mut *conn)
        .await?;
    let (internal_only, keep_internal, own) = row.ok_or(StoreError::NotFound(missing))?;
    if internal_only && !tac_core::privacy::may_open_internal_only(keep_internal, viewer.admin, own) {
        return Err(StoreError::NotFound(missing));
    }
    Ok(InternalRule { internal_only, keep_internal })
}

/// A contact's emails and meetings per calendar month (UTC) with
/// activity in `[from, to)`, oldest first; months without any are left
/// out. Counts every item, private ones included (they are counted, not
/// shown).
///
/// The database counts them off the `activity_timeline` index. The month
/// key is text on both backends: SQLite stores times as RFC 3339 text in
/// UTC, so its first seven characters are the month; PostgreSQL formats
/// the `timestamptz` in UTC.
#[operation]
pub(crate) async fn monthly_activity(
    conn: &mut Conn,
    ws: WorkspaceId,
    contact: ContactId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MonthlyActivity>> {
    let month = match BACKEND {
        Backend::Sqlite => "substr(occurred_at, 1, 7)",
        Backend::Postgres => "to_char(occurred_at at time zone 'UTC', 'YYYY-MM')",
    };
    let sql = format!(
        "select {month} as month,
                sum(case when kind = 'email' then 1 else 0 end),
                sum(case when kind = 'meeting' then 1 else 0 end)
         from activity
         where workspace_id = $1 and contact_id = $2 and occurred_at >= $3 and occurred_at < $4
         group by {month}
         order by month"
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ws.0)
        .bind(contact.0)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        // No activity, or no such contact here: only the second is an error.
        ensure_owned(conn, ws, Owned::Contact, contact.0).await?;
    }
    rows.into_iter()
        .map(|(month, emails, meetings)| {
            let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
                .map_err(|e| StoreError::corrupt("activity.occurred_at", format!("{month}: {e}")))?;
            Ok(MonthlyActivity { month: first, emails: count(emails), meetings: count(meetings) })
        })
        .collect()
}

/// How far back the top team members look.
const TEAM_WINDOW_DAYS: i64 = 90;

/// The summary above a contact's timeline, from the activity index, in
/// one statement (a round trip each was most of its cost): whether the
/// contact is the workspace's, four probes of the index, the past year's
/// counts and the top team members.
#[operation]
pub(crate) async fn contact_summary(
    conn: &mut Conn,
    ws: WorkspaceId,
    contact: ContactId,
    now: DateTime<Utc>,
) -> Result<ContactSummary> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(summary_sql);
    type SummaryRow = (
        i64,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        String,
        String,
    );
    let ends = tac_core::insights::AGE_BUCKET_ENDS;
    let (found, last_interaction_at, last_inbound, last_outbound, next_meeting_at, counts, members): SummaryRow =
        sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str()))
            .bind(ws.0)
            .bind(contact.0)
            .bind(now)
            .bind(false)
            .bind(now - Duration::days(ends[0]))
            .bind(now - Duration::days(ends[1]))
            .bind(now - Duration::days(ends[2]))
            .bind(now - Duration::days(ends[3]))
            .bind(now - Duration::days(TEAM_WINDOW_DAYS))
            .fetch_one(&mut *conn)
            .await?;
    if found == 0 {
        return Err(StoreError::NotFound("contact"));
    }

    let mut activity = ActivityCounts::default();
    let (mut emails_30, mut emails_90, mut meetings_30, mut meetings_90) = (0u64, 0u64, 0u64, 0u64);
    type CountRow = (String, Option<String>, i64, i64, i64, i64);
    for (kind, direction, n30, n90, n180, n365) in from_json_rows::<CountRow>("activity", &counts)? {
        // Counts younger than 30, 90, 180 and 365 days, to buckets.
        let cumulative = [n30, n90, n180, n365].map(count);
        let buckets = [
            cumulative[0],
            cumulative[1] - cumulative[0],
            cumulative[2] - cumulative[1],
            cumulative[3] - cumulative[2],
        ]
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let target = match (kind.as_str(), direction.as_deref()) {
            ("meeting", _) => {
                meetings_30 += cumulative[0];
                meetings_90 += cumulative[1];
                &mut activity.meetings
            }
            (_, Some("inbound")) => {
                emails_30 += cumulative[0];
                emails_90 += cumulative[1];
                &mut activity.emails_inbound
            }
            _ => {
                emails_30 += cumulative[0];
                emails_90 += cumulative[1];
                &mut activity.emails_outbound
            }
        };
        for (t, n) in target.iter_mut().zip(buckets) {
            *t = t.saturating_add(n);
        }
    }
    let mut members: Vec<(String, String, i64)> = from_json_rows("mailbox", &members)?;
    members.sort_unstable_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));

    Ok(ContactSummary {
        last_interaction_at,
        next_meeting_at,
        emails_last_30_days: emails_30,
        emails_last_90_days: emails_90,
        meetings_last_30_days: meetings_30,
        meetings_last_90_days: meetings_90,
        top_team_members: members
            .into_iter()
            .map(|(address, name, n)| TeamMember { name, address, interactions: count(n) })
            .collect(),
        follow_up: follow_up(last_inbound, last_outbound, now),
        relationship_strength: relationship_strength(&activity),
    })
}

/// The summary's statement. Binds: `$1` workspace, `$2` contact, `$3` now,
/// `$4` false, `$5`–`$8` the starts of the 30, 90, 180 and 365-day age
/// buckets, `$9` the start of the team window.
fn summary_sql() -> String {
    format!(
        "select
             (select count(*) from contact where workspace_id = $1 and id = $2),
             -- The last interaction, and the last each way for the follow-up.
             (select occurred_at from activity
              where workspace_id = $1 and contact_id = $2 and occurred_at <= $3
              order by occurred_at desc limit 1),
             (select occurred_at from activity
              where workspace_id = $1 and contact_id = $2 and occurred_at <= $3 and kind = 'email'
                and direction = 'inbound'
              order by occurred_at desc limit 1),
             (select occurred_at from activity
              where workspace_id = $1 and contact_id = $2 and occurred_at <= $3 and kind = 'email'
                and direction = 'outbound'
              order by occurred_at desc limit 1),
             -- The next meeting.
             (select a.occurred_at from activity a join meeting m on m.id = a.meeting_id
              where a.workspace_id = $1 and a.contact_id = $2 and a.kind = 'meeting' and a.occurred_at > $3
                and m.is_cancelled = $4
              order by a.occurred_at limit 1),
             -- The past year's counts by age bucket, summed by the database:
             -- a contact with thousands of emails a year ships four numbers
             -- per kind and direction.
             (select {counts} from (
                  select kind, direction,
                         sum(case when occurred_at > $5 then 1 else 0 end) as n30,
                         sum(case when occurred_at > $6 then 1 else 0 end) as n90,
                         sum(case when occurred_at > $7 then 1 else 0 end) as n180,
                         count(*) as n365
                  from activity
                  where workspace_id = $1 and contact_id = $2 and occurred_at > $8 and occurred_at <= $3
                  group by kind, direction
              ) year),
             -- Who on the team holds the most of this contact's last 90 days:
             -- who deals with them now (and a quarter's copies, not a year's,
             -- to join).
             (select {members} from (
                  select mb.address, coalesce(du.display_name, mb.address) as name, held.n from (
                      select mailbox_id, count(*) as n from (
                          select ec.mailbox_id from activity a join email_copy ec on ec.email_id = a.email_id
                          where a.workspace_id = $1 and a.contact_id = $2 and a.occurred_at >= $9
                            and a.occurred_at <= $3 and a.kind = 'email' and ec.removed_at is null
                          union all
                          select mc.mailbox_id from activity a join meeting_copy mc on mc.meeting_id = a.meeting_id
                          where a.workspace_id = $1 and a.contact_id = $2 and a.occurred_at >= $9
                            and a.occurred_at <= $3 and a.kind = 'meeting' and mc.removed_at is null
                      ) copies
                      group by mailbox_id
                  ) held
                  join mailbox mb on mb.id = held.mailbox_id
                  left join directory_user du on du.workspace_id = mb.workspace_id and du.id = mb.user_id
                  order by held.n desc, mb.address
                  limit 3
              ) top)",
        counts = json_rows("year.kind, year.direction, year.n30, year.n90, year.n180, year.n365"),
        members = json_rows("top.address, top.name, top.n"),
    )
}

async fn mailbox_by_address(conn: &mut Conn, ws: WorkspaceId, address: &str) -> Result<i64> {
    let address = address.trim().to_lowercase();
    let found: Option<i64> =
        sqlx::query_scalar("select id from mailbox where workspace_id = $1 and lower(address) = $2")
            .bind(ws.0)
            .bind(&address)
            .fetch_optional(conn)
            .await?;
    found.ok_or(StoreError::NotFound("team member's mailbox"))
}
