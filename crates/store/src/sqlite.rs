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

/// Appends ` in (…)` matching any of `ids` with a single bind (a JSON
/// array that `json_each` unpacks), so the statement's text is the same for
/// any number of ids and its prepared form is reused; a `?` per id made
/// every page a statement to parse anew.
pub(crate) fn push_in_ids(query: &mut sqlx::QueryBuilder<Db>, ids: &[i64]) {
    let list = format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    query.push(" in (select value from json_each(").push_bind(list).push("))");
}

#[path = "repo/mod.rs"]
pub(crate) mod repo;
