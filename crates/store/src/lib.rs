/*!
TAC's persistence: one API over SQLite (the embedded default) and PostgreSQL.

[`Store`] is an enum over the two sqlx pools. The repository code in
`src/repo/` is written once and compiled once per backend (see `sqlite.rs`
and `postgres.rs`), so both are type-checked and both run every test.
Each public operation is declared once, as a repository function marked
`#[operation]` (`tac-store-macros`): the attribute derives the `Store`
method, and for reads that share a connection the [`Reader`] method, with
the function's signature and documentation. So the operations live in the
module that owns their tables: `repo/mail.rs` for mail ingest,
`repo/timeline.rs` for timelines, and so on. Queries are runtime
`query`/`query_as` with `FromRow` rows: no compile-time macros, no `Any`
driver (docs/architecture.md §8).
Migrations are embedded per backend and run on [`Store::connect`].

What the store guarantees, because sync relies on it:
- **Dedupe.** An email is stored once per workspace by Message-ID, a meeting
  occurrence once by iCalUId; each mailbox has one copy per immutable Graph id.
- **Checkpoints.** [`Store::apply_mail_page`] and [`Store::apply_calendar_page`]
  write a page's rows and its cursor in one transaction: after a crash, sync
  resumes from the last committed page and duplicates nothing.
- **History.** A move updates a copy's folder; an `@removed` marks the copy
  removed and never deletes the email or meeting.
- **Secrets.** The client secret is AES-256-GCM ciphertext at rest
  ([`MasterKey`]); [`Store::integration_summary`] never carries it.

```no_run
# async fn run() -> tac_store::Result<()> {
use tac_store::{IntegrationSettings, MasterKey, SecretString, Store};

let store = Store::connect("sqlite://./tac-data/tac.db").await?;
let ws = store.ensure_workspace("default").await?;
let key = MasterKey::generate()?;
let settings = IntegrationSettings::new("tenant-guid", "client-guid");
store.save_integration(ws, &settings, Some(&SecretString::from("s3cret")), &key, "admin@example.com").await?;
assert!(store.load_integration(ws, &key).await?.is_some());
# Ok(()) }
```
*/

// `src/repo/` is included by both `sqlite.rs` and `postgres.rs` on purpose:
// one source, type-checked against each driver.
#![allow(clippy::duplicate_mod, reason = "src/repo is compiled once per backend by design")]

mod crypto;
mod error;
mod fingerprint;
pub mod json;
mod postgres;
mod query_text;
pub use query_text::{MAX_SEARCH_CHARS, MAX_SEARCH_WORDS, SEARCH_TIME_BUDGET};
mod reader;
mod sqlite;
mod types;

pub use crypto::{MasterKey, token_hash};
pub use error::{ContactField, Result, StoreError};
pub use reader::Reader;
pub use secrecy::{ExposeSecret, SecretString};
pub use types::{
    AttemptHistory, LoginFailures, NewPortalUser, PortalSession, PortalUser, PortalUserId, Reservation, Role, Viewer,
};
pub use types::{
    AuditEntry, Backend, CompanyId, CompanyRow, ContactId, ContactListQuery, ContactRow, ContactSort, ContactSource,
    ContactSummary, CursorScope, DEFAULT_BACKFILL_DAYS, DEFAULT_GRAPH_URL, DEFAULT_LOGIN_URL, EmailBody, EmailCopyRow,
    EmailId, ImportFailure, ImportFailureReason, ImportOutcome, ImportReport, Integration, IntegrationId,
    IntegrationSettings, IntegrationStatus, IntegrationSummary, MailboxId, MailboxRow, MailboxScope, MeetingCopyRow,
    MeetingId, MonthlyActivity, NewContact, PageOutcome, PrivacySettings, PurgeCounts, RoundState, SyncCursor,
    TeamMember, TimelinePage, TimelineQuery, WorkspaceId,
};
pub use types::{EntraAdminChanges, NewMicrosoftUser, OidcLogin, SavedIntegration, SecretChange};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pool sizes. SQLite has one writer at a time: concurrent write
/// transactions mostly wait on each other (`begin immediate`, busy timeout),
/// so more connections do not write faster. Four still beat one in the sync
/// benchmark (about 5,800 against 4,900 messages/s with per-page batching;
/// two connections did no better than one, eight no better than four): reads
/// do not queue behind writes, and the next writer is already waiting in
/// SQLite's busy handler, on its own thread, when the lock frees, instead of
/// waiting for the async runtime to hand it the single connection.
/// PostgreSQL serves the sync's parallel mailboxes and the portal.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
/// SQLite's page cache per connection, in KiB when negative: 32 MiB instead
/// of the default 2 MiB keeps the indexes that ingest probes (Message-ID,
/// graph id, full-text segments) in memory as the database grows.
const SQLITE_CACHE_SIZE: &str = "-32768";

/// The database, on either backend. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens `sqlite://PATH` (created if missing, WAL, foreign keys on, busy
    /// timeout) or `postgres://…`, and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        match scheme {
            "sqlite" => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|source| StoreError::Connect { backend: "sqlite", source })?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .pragma("cache_size", SQLITE_CACHE_SIZE)
                    .pragma("temp_store", "memory")
                    // Deleted rows are overwritten with zeros, so a purge
                    // leaves no readable text in the file (BENCHMARKS.md
                    // measures what it costs ingest).
                    .pragma("secure_delete", "on");
                let pool = SqlitePoolOptions::new()
                    .max_connections(SQLITE_MAX_CONNECTIONS)
                    // The database is a local file: a connection cannot
                    // drop, so pinging it before each use is a wasted
                    // round trip to its worker thread.
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await
                    .map_err(|source| StoreError::Connect { backend: "sqlite", source })?;
                sqlite::MIGRATOR.run(&pool).await?;
                tracing::debug!(backend = "sqlite", "database ready");
                Ok(Store::Sqlite(pool))
            }
            "postgres" | "postgresql" => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|source| StoreError::Connect { backend: "postgres", source })?;
                let pool = PgPoolOptions::new()
                    .max_connections(POSTGRES_MAX_CONNECTIONS)
                    .connect_with(options)
                    .await
                    .map_err(|source| StoreError::Connect { backend: "postgres", source })?;
                postgres::MIGRATOR.run(&pool).await?;
                tracing::debug!(backend = "postgres", "database ready");
                Ok(Store::Postgres(pool))
            }
            other => Err(StoreError::UnsupportedUrl(other.to_owned())),
        }
    }

    /// A connection for several reads in a row ([`Reader`]): what a page
    /// that shows a contact, its summary and its timeline should use.
    pub async fn reader(&self) -> Result<Reader> {
        Ok(Reader::new(match self {
            Store::Sqlite(pool) => reader::Connection::Sqlite(pool.acquire().await?),
            Store::Postgres(pool) => reader::Connection::Postgres(pool.acquire().await?),
        }))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.backend().as_str()
    }

    /// Closes every connection; waits for checked-out ones to come back.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}
