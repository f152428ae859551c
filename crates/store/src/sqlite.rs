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

#[path = "repo/mod.rs"]
pub(crate) mod repo;
