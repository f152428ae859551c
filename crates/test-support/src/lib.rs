/*!
What TAC's test suites share: a database that only one test uses, on
either backend, removed when the test is done with it, whether it passed or
panicked.

Every storage behaviour is tested on SQLite and on PostgreSQL. A
[`TestDatabase`] is a SQLite file in a new temporary folder, or a
PostgreSQL database `<prefix>_<random>` of its own, created through
`TAC_TEST_POSTGRES_URL` (a role with LOGIN and CREATEDB; `scripts/test`
starts such a server). Dropping it removes the folder or drops the
database, so unwinding from a failed assertion cleans up too. A [`TestDb`]
is a [`Store`] opened on one, for tests that call the store themselves;
command-line tests hand the [`TestDatabase::url`] to the binary instead.

With the `emulator` feature, [`World`] is the Microsoft cloud emulator a
sync test runs against: a Graph client for the sync, and the emulator's
admin API to change the tenant and read its ground truth.

[`EMAIL_ITEM_MEMBERS`] and [`MEETING_ITEM_MEMBERS`] are the JSON API's
promise about timeline items, which the API tests and the command-line
tests both hold it to.
*/

#[cfg(feature = "emulator")]
mod world;
#[cfg(feature = "emulator")]
pub use world::World;

use std::path::PathBuf;
use tac_store::{Backend, Store};

/// The members every email item of a JSON timeline carries (`docs/api.md`).
pub const EMAIL_ITEM_MEMBERS: &[&str] = &[
    "id",
    "occurred_at",
    "subject",
    "direction",
    "internet_message_id",
    "conversation_id",
    "from",
    "to",
    "cc",
    "preview",
    "mailboxes",
];

/// The members every meeting item of a JSON timeline carries (`docs/api.md`).
pub const MEETING_ITEM_MEMBERS: &[&str] = &[
    "id",
    "occurred_at",
    "start",
    "end",
    "is_all_day",
    "subject",
    "is_cancelled",
    "is_private",
    "organizer",
    "attendees",
    "online_meeting_url",
];

/// The variable that names the PostgreSQL server tests create databases on.
const POSTGRES_URL_VAR: &str = "TAC_TEST_POSTGRES_URL";

/// How often dropping a test database is tried (200 ms apart).
const DROP_ATTEMPTS: u32 = 25;

/// A database that only this test uses; removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// What `Store::connect` (or `TAC_DATABASE_URL`) takes.
    pub url: String,
    /// The SQLite file (`None` on PostgreSQL).
    pub sqlite_path: Option<PathBuf>,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    SqliteDir(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh database of `backend`; `prefix` names the temporary folder
    /// or the PostgreSQL database, so a leftover says which suite left it.
    pub fn create(backend: Backend, prefix: &str) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase::sqlite(prefix),
            Backend::Postgres => TestDatabase::postgres(prefix),
        }
    }

    /// A SQLite file in a new temporary folder, `tac-<prefix>-<random>`.
    pub fn sqlite(prefix: &str) -> TestDatabase {
        let dir = std::env::temp_dir().join(format!("tac-{prefix}-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        let path = dir.join("tac.db");
        TestDatabase {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", path.display()),
            sqlite_path: Some(path),
            cleanup: Cleanup::SqliteDir(dir),
        }
    }

    /// As [`TestDatabase::postgres`] when `TAC_TEST_POSTGRES_URL` names a
    /// server, else `None`: for benchmarks, which measure PostgreSQL only
    /// when there is one.
    pub fn postgres_if_configured(prefix: &str) -> Option<TestDatabase> {
        std::env::var_os(POSTGRES_URL_VAR).map(|_| TestDatabase::postgres(prefix))
    }

    /// A PostgreSQL database of its own, `tac_<prefix>_<random>`.
    pub fn postgres(prefix: &str) -> TestDatabase {
        let admin_url = postgres_admin_url();
        let name = format!("tac_{prefix}_{}", random_suffix());
        admin_sql(&admin_url, format!("create database {name}"))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        TestDatabase {
            backend: Backend::Postgres,
            url: with_database(&admin_url, &name),
            sqlite_path: None,
            cleanup: Cleanup::PostgresDatabase { admin_url, name },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                // `with (force)` ends the connections a panicking test left
                // open, but not an autovacuum worker that has just started on
                // the fresh tables (the test role may not signal it): that
                // refusal passes in a moment, so it is tried again.
                let sql = format!("drop database if exists {name} with (force)");
                let mut attempt = 1;
                while let Err(e) = admin_sql(admin_url, sql.clone()) {
                    if attempt == DROP_ATTEMPTS {
                        eprintln!("warning: could not drop the test database {name}: {e}");
                        break;
                    }
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
        }
    }
}

/// A store open on a [`TestDatabase`] that only this test uses.
pub struct TestDb {
    pub store: Store,
    /// The URL the store was opened with, for tests that look at raw rows.
    pub url: String,
    /// The SQLite file (`None` on PostgreSQL).
    pub sqlite_path: Option<PathBuf>,
    /// Held only so that dropping the `TestDb` removes the database.
    _database: TestDatabase,
}

impl TestDb {
    /// A store on a fresh database of `backend` (see [`TestDatabase::create`]).
    pub async fn new(backend: Backend, prefix: &str) -> TestDb {
        TestDb::open(TestDatabase::create(backend, prefix)).await
    }

    pub async fn sqlite(prefix: &str) -> TestDb {
        TestDb::new(Backend::Sqlite, prefix).await
    }

    pub async fn postgres(prefix: &str) -> TestDb {
        TestDb::new(Backend::Postgres, prefix).await
    }

    /// Opens (and migrates) the store on `database`.
    async fn open(database: TestDatabase) -> TestDb {
        let store = Store::connect(&database.url)
            .await
            .unwrap_or_else(|e| panic!("open the fresh {} database: {e}", database.backend.as_str()));
        TestDb { store, url: database.url.clone(), sqlite_path: database.sqlite_path.clone(), _database: database }
    }

    /// Closes the store's connections; the database goes when this is dropped.
    pub async fn close(self) {
        self.store.close().await;
    }
}

/// `TAC_TEST_POSTGRES_URL`, or a panic that says how to get a server.
fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set, and every storage test also runs against PostgreSQL.\n\
             Run the tests with `scripts/test` (it installs and starts a local PostgreSQL 15, creates \
             the `tac` role and sets the variable), or start PostgreSQL yourself \
             (`pg_ctlcluster 15 main start`) and export \
             {POSTGRES_URL_VAR}=postgres://tac:tac@127.0.0.1:5432/postgres \
             (a role with LOGIN and CREATEDB; each test creates and drops its own database)."
        )
    })
}

/// Sixteen random hex digits.
pub fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("BUG: the OS random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin URL with its database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{root}/{name}{query}")
}

/// Runs one statement on the admin connection, from a thread of its own
/// with its own runtime: creating happens in sync and async tests alike,
/// and dropping inside a test's runtime, which cannot block on itself.
fn admin_sql(admin_url: &str, sql: String) -> Result<(), String> {
    let admin_url = admin_url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            use sqlx::Connection as _;
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.map_err(|e| {
                format!(
                    "cannot connect to PostgreSQL at {POSTGRES_URL_VAR}: {e}. Is it running? `scripts/test` starts it \
                     (or: `pg_ctlcluster 15 main start`)."
                )
            })?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.map_err(|e| e.to_string())?;
            Ok(())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the admin thread panicked".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_admin_urls_own_keeping_credentials_and_options() {
        assert_eq!(
            with_database("postgres://tac:tac@127.0.0.1:5432/postgres", "tac_test_1"),
            "postgres://tac:tac@127.0.0.1:5432/tac_test_1"
        );
        assert_eq!(with_database("postgres://h:5432?sslmode=disable", "x"), "postgres://h:5432/x?sslmode=disable");
        assert_eq!(with_database("postgres://u:p@h:5432/postgres", "t"), "postgres://u:p@h:5432/t");
        assert_eq!(with_database("postgres://h/postgres?sslmode=disable", "t"), "postgres://h/t?sslmode=disable");
        assert_eq!(with_database("postgres://h", "t"), "postgres://h/t");
    }

    #[test]
    fn a_sqlite_test_database_is_removed_when_dropped_even_by_a_panic() {
        let database = TestDatabase::sqlite("support-self-test");
        let dir = database.sqlite_path.as_ref().and_then(|p| p.parent()).expect("a folder").to_owned();
        assert!(dir.exists());
        let outcome = std::panic::catch_unwind(move || {
            let _held = database;
            panic!("a failing test");
        });
        assert!(outcome.is_err());
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}
