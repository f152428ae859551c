/*!
Full-text search: over everything a viewer may read, and within a
contact's or company's timeline.

Search looks only where the viewer may look: nothing at `metadata`,
subjects at `subject`, subjects and bodies at `full`, never private items,
and internal-only items only where `tac_core::privacy::may_open_internal_only`
lets the viewer (their own mailbox's, or an admin's when the workspace keeps
them). Each search runs within `SEARCH_TIME_BUDGET`.

SQLite searches the FTS5 tables; their rowids are time-ordered search keys
(migration 0005), so a search over everything reads its hits newest first
and stops at the page. PostgreSQL searches `tsvector` columns with GIN
indexes, and its planner walks the time index or reads the hits, whichever
is cheaper.
*/

use super::privacy::keeps_internal;
use super::timeline::{Entry, Facts, item_facts, newest_first, push_cursor, timeline_of};
use super::{BACKEND, Conn, Db, push_limit};
use crate::error::{Result, StoreError};
use crate::query_text::fts5_query;
use crate::types::{Backend, TimelineOf, TimelinePage, TimelineQuery, Viewer, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tac_core::privacy::Visibility;
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

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

/// Search over every email and meeting of the workspace, newest first
/// (one extra entry, as [`activity_page`]), with the entries' facts.
pub(super) async fn everything_page(
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
pub(super) async fn walk_in_time_order(
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
pub(super) enum Source {
    Email,
    Meeting,
}

impl Source {
    pub(super) fn of(kind: ActivityKind) -> Source {
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
    pub(super) fn tables(self) -> (&'static str, &'static str, &'static str) {
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

    pub(super) fn activity_column(self) -> &'static str {
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
    pub(super) fn push_match(
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
    pub(super) fn held_by(self) -> String {
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
