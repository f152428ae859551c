//! The SQLite backend: the repository code of [`repo`] compiled against
//! `sqlx::Sqlite`, plus what differs (migrations, write transactions).

use crate::types::Backend;
use sqlx::migrate::Migrator;

pub(crate) type Db = sqlx::Sqlite;
pub(crate) const BACKEND: Backend = Backend::Sqlite;
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// Starts a write transaction with `begin immediate`, so it takes the write
/// lock up front and waits out the busy timeout. A deferred `begin` that
/// upgrades from reading to writing fails at once with `SQLITE_BUSY` when
/// another connection wrote in between.
pub(crate) async fn begin_write(pool: &sqlx::Pool<Db>) -> sqlx::Result<sqlx::Transaction<'static, Db>> {
    pool.begin_with("begin immediate").await
}

/// Appends a table `ids` of one column, `value`, holding `ids`, with a
/// single bind (a JSON array that `json_each` unpacks): the statement's text
/// is the same for any number of ids, so its prepared form is reused (a `?`
/// per id made every page a statement to parse anew). Join it to the rows
/// wanted; `in (select value …)` would copy the ids into a temporary index.
pub(crate) fn push_id_table(query: &mut sqlx::QueryBuilder<Db>, ids: &[i64]) {
    let list = format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    query.push("json_each(").push_bind(list).push(") ids");
}

#[path = "repo/mod.rs"]
pub(crate) mod repo;
