//! The PostgreSQL backend: the repository code of [`repo`] compiled against
//! `sqlx::Postgres`, plus what differs (migrations, write transactions).

use crate::types::Backend;
use sqlx::migrate::Migrator;

pub(crate) type Db = sqlx::Postgres;
pub(crate) const BACKEND: Backend = Backend::Postgres;
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Starts a write transaction (read committed; the unique constraints and
/// `on conflict` clauses make concurrent ingest of the same email safe).
pub(crate) async fn begin_write(pool: &sqlx::Pool<Db>) -> sqlx::Result<sqlx::Transaction<'static, Db>> {
    pool.begin().await
}

/// Appends a table `ids` of one column, `value`, holding `ids`, with a
/// single array bind, so the statement's text is the same for any number of
/// ids and its prepared form is reused.
pub(crate) fn push_id_table(query: &mut sqlx::QueryBuilder<Db>, ids: &[i64]) {
    query.push("unnest(").push_bind(ids.to_vec()).push(") as ids(value)");
}

#[path = "repo/mod.rs"]
pub(crate) mod repo;
