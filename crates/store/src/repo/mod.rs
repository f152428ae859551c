/*!
The repository functions, written once and compiled once per backend.

`crate::sqlite` and `crate::postgres` each include this module (with
`#[path]`) after defining `Db`, `BACKEND` and `begin_write`, so every query
here is type-checked against both drivers with concrete types: no `Any`
driver, no generic bounds soup. SQL is shared where it is portable (`$N`
placeholders work on both; sqlx's SQLite driver maps `$N` to positions) and
chosen by `BACKEND` where it is not (full-text search).
*/

mod activity;
mod calendar;
mod contacts;
mod directory;
mod ingest;
mod integration;
mod internal_only;
mod items;
mod mail;
mod mailbox;
mod oidc;
mod portal;
pub(crate) mod privacy;
mod search;
mod summary;
mod timeline;
mod workspace;

pub(crate) use activity::*;
pub(crate) use calendar::*;
pub(crate) use contacts::*;
pub(crate) use directory::*;
pub(crate) use integration::*;
pub(crate) use internal_only::*;
pub(crate) use items::*;
pub(crate) use mail::*;
pub(crate) use mailbox::*;
pub(crate) use oidc::*;
pub(crate) use portal::*;
pub(crate) use privacy::*;
pub(crate) use search::*;
pub(crate) use summary::*;
pub(crate) use timeline::*;
pub(crate) use workspace::*;

use super::{BACKEND, Db, begin_write, push_id_table, with_deadline};
use crate::error::{Result, StoreError};
use crate::types::{Backend, CursorScope, MailboxId, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::QueryBuilder;
use tac_store_macros::operation;

pub(crate) type Pool = sqlx::Pool<Db>;
pub(crate) type Conn = <Db as sqlx::Database>::Connection;

/// The most bind parameters one statement carries: under SQLite's limit
/// (32766) and PostgreSQL's (65535), with room for a few fixed ones.
const MAX_BINDS: usize = 32_000;

/// How many rows of `binds_per_row` parameters one batched statement takes.
fn rows_per_statement(binds_per_row: usize) -> usize {
    MAX_BINDS / binds_per_row
}

/// Appends `(?, ?, …)` with one bind per value, for `… in (…)`; `values`
/// must not be empty (`in ()` is a syntax error on PostgreSQL).
fn push_list<'v, T>(query: &mut QueryBuilder<Db>, values: impl IntoIterator<Item = T>)
where
    T: sqlx::Encode<'v, Db> + sqlx::Type<Db>,
{
    query.push("(");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    list.push_unseparated(")");
}

/// Appends ` limit N` with N in the statement's text, not bound. SQLite
/// plans with a bound limit's value, so rebinding it makes the prepared
/// statement expire: every timeline page was parsed and planned again (a
/// sixteenth of the portal's CPU). A handful of page sizes is a handful of
/// cached statements. `n` is a number, never text from a user.
fn push_limit(q: &mut QueryBuilder<Db>, n: u32) {
    q.push(format_args!(" limit {n}"));
}

/// SQL aggregating the rows of a correlated subquery into JSON text,
/// `[[c1, c2, …], …]`, `[]` when there are none, so an item's participants
/// or copies come back in the item's own row: a query less per page, which
/// is what a page read costs most (each statement is a round trip to the
/// connection's worker on SQLite, over the network on PostgreSQL). Decode
/// it with [`from_json_rows`].
///
/// The rows come in no particular order: give a column to sort by and sort
/// them after decoding. SQLite sorts an aggregate's `order by` through a
/// temporary b-tree per row aggregated into, which cost more than the rest
/// of a page's read.
fn json_rows(columns: &str) -> String {
    match BACKEND {
        Backend::Sqlite => json_rows_value(columns),
        Backend::Postgres => format!("{}::text", json_rows_value(columns)),
    }
}

/// JSON to nest in other JSON: the array `[i1, i2, …]` of the SQL
/// expressions `items`. SQLite marks JSON text with a subtype that a
/// scalar subquery's result keeps, so nesting stays text end to end (its
/// JSONB form cost a conversion each way at every level);
/// `timeline_items_carry_every_field_as_stored` checks that it nests.
fn json_array(items: &str) -> String {
    match BACKEND {
        Backend::Sqlite => format!("json_array({items})"),
        Backend::Postgres => format!("json_build_array({items})"),
    }
}

/// [`json_rows`] as JSON to nest in other JSON, like [`json_array`].
fn json_rows_value(columns: &str) -> String {
    match BACKEND {
        Backend::Sqlite => format!("json_group_array(json_array({columns}))"),
        Backend::Postgres => format!("coalesce(json_agg(json_build_array({columns})), '[]')"),
    }
}

/// The JSON `value` a correlated subquery (`from … where …`) yields, as an
/// element of other JSON; null when it finds no row.
fn nested_json(value: &str, from: &str) -> String {
    format!("(select {value} {from})")
}

/// The rows [`json_rows`] aggregated, as tuples; `column` names the data
/// in the error should it not decode.
fn from_json_rows<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<Vec<T>> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(column, format!("{e}: {text}")))
}

/// A row that belongs to one workspace, looked up by id.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owned {
    Contact,
    Company,
    Email,
    Meeting,
}

impl Owned {
    /// Its table, which is also the name an error gives it.
    fn table(self) -> &'static str {
        match self {
            Owned::Contact => "contact",
            Owned::Company => "company",
            Owned::Email => "email",
            Owned::Meeting => "meeting",
        }
    }
}

/// `NotFound` unless the row `id` of `what` belongs to `ws`: an id from
/// another workspace is as unknown as one that never existed.
pub(crate) async fn ensure_owned<'e>(
    conn: impl sqlx::Executor<'e, Database = Db>,
    ws: crate::types::WorkspaceId,
    what: Owned,
    id: i64,
) -> crate::error::Result<()> {
    let sql = format!("select id from {} where workspace_id = $1 and id = $2", what.table());
    let found: Option<i64> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(conn).await?;
    found.map(|_| ()).ok_or(crate::error::StoreError::NotFound(what.table()))
}

/// What every read of the activity index starts with, in one round trip:
/// the workspace's visibility level, after [`ensure_owned`]'s check of the
/// contact or company read (if any).
pub(crate) async fn visibility_owning(
    conn: &mut Conn,
    ws: WorkspaceId,
    owned: Option<(Owned, i64)>,
) -> Result<tac_core::privacy::Visibility> {
    let Some((what, id)) = owned else { return privacy::visibility(&mut *conn, ws).await };
    let sql = format!(
        "select (select visibility from privacy_policy where workspace_id = $1),
                (select count(*) from {} where workspace_id = $1 and id = $2)",
        what.table()
    );
    let (visibility, found): (Option<String>, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_one(&mut *conn).await?;
    if found == 0 {
        return Err(StoreError::NotFound(what.table()));
    }
    privacy::parse_visibility(visibility)
}

/// Before a batched update, locks its rows (by id) in `order_by` order.
/// The update's join locks rows in no particular order, and two
/// transactions locking overlapping rows in different orders deadlock
/// (PostgreSQL); `ids` must already be in that order, so that chunks follow
/// it too. The lock is the one the update takes anyway (`no key update`:
/// no key column changes), so other transactions' foreign-key checks on
/// these rows (copies being inserted) still pass. SQLite has one writer at
/// a time: nothing to do there.
async fn lock_in_order(conn: &mut Conn, table: &'static str, order_by: &'static str, ids: &[i64]) -> Result<()> {
    if BACKEND != Backend::Postgres {
        return Ok(());
    }
    for chunk in ids.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(format!("select id from {table} where id in "));
        push_list(&mut query, chunk.iter().copied());
        query.push(format_args!(" order by {order_by} for no key update"));
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Now, at the precision both backends store (PostgreSQL keeps microseconds).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Counts come back as `i64` from both backends and are never negative.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Fails with `NotFound` unless the mailbox belongs to the workspace, so a
/// caller mixing up ids gets a clear error instead of a foreign-key one.
async fn ensure_mailbox(conn: &mut Conn, ws: WorkspaceId, mailbox: MailboxId) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("select id from mailbox where workspace_id = $1 and id = $2")
        .bind(ws.0)
        .bind(mailbox.0)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound("mailbox"))
}

/// Where the folder's or calendar's delta round stands; `None` means
/// start a full round.
#[operation]
pub(crate) async fn cursor(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    scope: CursorScope<'_>,
) -> Result<Option<SyncCursor>> {
    Ok(cursor_and_round(pool, ws, mailbox, scope).await?.map(|(cursor, _)| cursor))
}

/// The saved cursor with what its round has done (see [`RoundState`]).
#[operation]
pub(crate) async fn cursor_and_round(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    scope: CursorScope<'_>,
) -> Result<Option<(SyncCursor, RoundState)>> {
    let row: Option<(String, String, bool, i64)> = sqlx::query_as(
        "select kind, url, filtered, round_items from sync_cursor
         where workspace_id = $1 and mailbox_id = $2 and scope = $3",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .bind(scope.key())
    .fetch_optional(pool)
    .await?;
    row.map(|(kind, url, filtered, items)| {
        let round = RoundState { filtered, items: u64::try_from(items).unwrap_or(0) };
        let cursor = SyncCursor::from_parts(&kind, url).ok_or_else(|| StoreError::corrupt("sync_cursor.kind", kind))?;
        Ok((cursor, round))
    })
    .transpose()
}

/// Saves a cursor on its own (for a round with nothing to apply; pages
/// save theirs with their rows).
#[operation]
pub(crate) async fn save_cursor(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    scope: CursorScope<'_>,
    cursor: &SyncCursor,
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    ensure_mailbox(&mut tx, ws, mailbox).await?;
    write_cursor(&mut tx, ws, mailbox, scope, cursor, RoundState::default(), now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Drops the cursor, after a 410 `syncStateNotFound`/`resyncRequired`.
#[operation]
pub(crate) async fn clear_cursor(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    scope: CursorScope<'_>,
) -> Result<()> {
    sqlx::query("delete from sync_cursor where workspace_id = $1 and mailbox_id = $2 and scope = $3")
        .bind(ws.0)
        .bind(mailbox.0)
        .bind(scope.key())
        .execute(pool)
        .await?;
    Ok(())
}

/// Saves a cursor, with what its round has done, inside the caller's
/// transaction (the page's, for ingest).
async fn write_cursor(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    scope: CursorScope<'_>,
    cursor: &SyncCursor,
    round: RoundState,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "insert into sync_cursor (workspace_id, mailbox_id, scope, kind, url, filtered, round_items, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (workspace_id, mailbox_id, scope)
         do update set kind = excluded.kind, url = excluded.url, filtered = excluded.filtered,
             round_items = excluded.round_items, updated_at = excluded.updated_at",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .bind(scope.key())
    .bind(cursor.kind())
    .bind(cursor.url())
    .bind(round.filtered)
    .bind(i64::try_from(round.items).unwrap_or(i64::MAX))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
