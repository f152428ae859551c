//! The SQLite backend: the repository code of [`repo`] compiled against
//! `sqlx::Sqlite`, plus what differs (migrations, write transactions).

use crate::error::{Result, StoreError};
use crate::types::Backend;
use sqlx::migrate::Migrator;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// How many SQLite virtual-machine steps run between two looks at the
/// clock of [`with_deadline`]: a few microseconds of work.
const STEPS_PER_CHECK: i32 = 1_000;

/// Runs `read` (a search) on `conn` within `budget`. SQLite has no statement
/// timeout, so a progress handler interrupts the running statement once the
/// budget is spent, which fails it with `SQLITE_INTERRUPT`
/// ([`StoreError::SearchTimedOut`]). The handler is removed afterwards, and
/// disarmed even when the caller drops the future part way, so the pooled
/// connection never interrupts a later statement.
pub(crate) async fn with_deadline<T>(
    conn: &mut sqlx::SqliteConnection,
    budget: std::time::Duration,
    read: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> Result<T>,
) -> Result<T> {
    struct Disarm(Arc<AtomicBool>);
    impl Drop for Disarm {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let armed = Arc::new(AtomicBool::new(true));
    let started = std::time::Instant::now();
    let flag = Arc::clone(&armed);
    conn.lock_handle()
        .await?
        .set_progress_handler(STEPS_PER_CHECK, move || !flag.load(Ordering::Relaxed) || started.elapsed() < budget);
    let disarm = Disarm(armed);
    let outcome = read(&mut *conn).await;
    drop(disarm);
    conn.lock_handle().await?.remove_progress_handler();
    outcome.map_err(|e| if e.is_interrupted() { StoreError::SearchTimedOut(budget.as_secs().max(1)) } else { e })
}

/// Keeps the `Store` and `Reader` methods that `#[operation]` derives from
/// each repository function. This backend generates them; the PostgreSQL
/// one drops its copy, so each method exists once.
macro_rules! facade {
    ($($item:item)*) => { $($item)* };
}

#[path = "repo/mod.rs"]
pub(crate) mod repo;

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;
    use std::time::Duration;

    /// Counts to `n` the slow way: millions of virtual-machine steps.
    fn count_to(n: u64) -> String {
        format!("with recursive c(x) as (select 1 union all select x + 1 from c where x < {n}) select count(*) from c")
    }

    #[tokio::test]
    async fn a_read_past_its_budget_is_stopped_and_the_connection_reads_on_unlimited() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let slow = count_to(1_000_000_000);
        let stopped = with_deadline(&mut conn, Duration::from_millis(20), async |c: &mut sqlx::SqliteConnection| {
            Ok(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(slow.clone())).fetch_one(c).await?)
        })
        .await;
        assert!(matches!(stopped, Err(StoreError::SearchTimedOut(1))), "{stopped:?}");
        let within = with_deadline(&mut conn, Duration::from_secs(60), async |c: &mut sqlx::SqliteConnection| {
            Ok(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_to(1_000))).fetch_one(c).await?)
        })
        .await;
        assert_eq!(within.unwrap(), 1_000);
        // No handler is left behind to stop a later statement.
        let later: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_to(200_000))).fetch_one(&mut conn).await.unwrap();
        assert_eq!(later, 200_000);
    }
}
