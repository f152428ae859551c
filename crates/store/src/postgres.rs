//! The PostgreSQL backend: the repository code of [`repo`] compiled against
//! `sqlx::Postgres`, plus what differs (migrations, write transactions).

use crate::error::{Result, StoreError};
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

/// Runs `read` (a search) on `conn` within `budget`: in a transaction of
/// its own with `set local statement_timeout`, so the limit ends with the
/// transaction, also when the caller drops the future part way (the pool
/// rolls the transaction back). A statement past it fails with
/// `query_canceled` ([`StoreError::SearchTimedOut`]).
pub(crate) async fn with_deadline<T>(
    conn: &mut sqlx::PgConnection,
    budget: std::time::Duration,
    read: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<T>,
) -> Result<T> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let set = format!("set local statement_timeout = {}", budget.as_millis().max(1));
    sqlx::query(sqlx::AssertSqlSafe(set)).execute(&mut *tx).await?;
    let outcome = read(&mut *tx).await;
    let outcome =
        outcome.map_err(|e| if e.is_interrupted() { StoreError::SearchTimedOut(budget.as_secs().max(1)) } else { e });
    let value = outcome?;
    tx.commit().await?;
    Ok(value)
}

/// Drops the `Store` and `Reader` methods that `#[operation]` derives from
/// each repository function: the SQLite backend generates them, once for
/// both backends.
macro_rules! facade {
    ($($item:item)*) => {};
}

#[path = "repo/mod.rs"]
pub(crate) mod repo;

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;
    use std::time::Duration;

    #[tokio::test]
    async fn a_read_past_its_budget_is_canceled_and_the_limit_ends_with_it() {
        let Ok(url) = std::env::var("TAC_TEST_POSTGRES_URL") else {
            eprintln!("SKIPPED: TAC_TEST_POSTGRES_URL is not set (scripts/test sets it)");
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let stopped = with_deadline(&mut conn, Duration::from_millis(20), async |c: &mut sqlx::PgConnection| {
            Ok(sqlx::query_scalar::<_, String>("select pg_sleep(30)::text").fetch_one(c).await?)
        })
        .await;
        assert!(matches!(stopped, Err(StoreError::SearchTimedOut(1))), "{stopped:?}");
        let limit: String = sqlx::query_scalar("show statement_timeout").fetch_one(&mut conn).await.unwrap();
        assert_eq!(limit, "0", "the limit was local to the search's transaction");
        let within = with_deadline(&mut conn, Duration::from_secs(60), async |c: &mut sqlx::PgConnection| {
            Ok(sqlx::query_scalar::<_, i32>("select 1").fetch_one(c).await?)
        })
        .await;
        assert_eq!(within.unwrap(), 1);
    }
}
