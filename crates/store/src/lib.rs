/*!
TAC's persistence: one API over SQLite (the embedded default) and PostgreSQL.

[`Store`] is an enum over the two sqlx pools (STYLE 10). Each method
dispatches to the repository code in `src/repo/`, which is written once and
compiled once per backend (see `sqlite.rs` and `postgres.rs`), so both are
type-checked and both run every test. Queries are runtime `query`/`query_as`
with `FromRow` rows: no compile-time macros, no `Any` driver (DESIGN §8).
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
pub use error::{Result, StoreError};
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

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use tac_core::NormalizedAddress;
use tac_core::contacts::AutoCreateCandidate;
use tac_core::privacy::{BlockEntry, PrivacyPolicy};
use tac_core::records::{
    DirectoryGroup, DirectoryRole, DirectoryUser, EmailCopy, EmailRecord, MailboxState, MeetingCopy, MeetingRecord,
    TenantDomain,
};

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

/// Calls the same repository function on whichever backend `$store` is.
macro_rules! dispatch {
    ($store:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match $store {
            Store::Sqlite(pool) => sqlite::repo::$function(pool, $($arg),*).await,
            Store::Postgres(pool) => postgres::repo::$function(pool, $($arg),*).await,
        }
    };
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

    // ---- workspaces -------------------------------------------------------

    /// The id of the workspace with this name, creating it if needed.
    pub async fn ensure_workspace(&self, name: &str) -> Result<WorkspaceId> {
        dispatch!(self, ensure_workspace(name))
    }

    // ---- integration ------------------------------------------------------

    /// Saves the settings; with `new_secret`, also seals and stores the
    /// client secret. Without, the stored secret is kept as it is, unless
    /// the tenant, client id, login URL or Graph URL changed: then it is
    /// cleared, so the secret never goes to a new destination unless it is
    /// entered again. Each save is in the audit log as `actor`, with the
    /// settings that changed.
    pub async fn save_integration(
        &self,
        ws: WorkspaceId,
        settings: &IntegrationSettings,
        new_secret: Option<&SecretString>,
        key: &MasterKey,
        actor: &str,
    ) -> Result<SavedIntegration> {
        dispatch!(self, save_integration(ws, settings, new_secret, key, actor))
    }

    /// The integration with its secret decrypted. A secret sealed with
    /// another master key gives [`StoreError::SecretUndecryptable`].
    pub async fn load_integration(&self, ws: WorkspaceId, key: &MasterKey) -> Result<Option<Integration>> {
        dispatch!(self, load_integration(ws, key))
    }

    /// The integration for display: settings and when the secret was set,
    /// never the secret.
    pub async fn integration_summary(&self, ws: WorkspaceId) -> Result<Option<IntegrationSummary>> {
        dispatch!(self, integration_summary(ws))
    }

    /// Records the outcome of a connection test or sync.
    pub async fn set_integration_status(
        &self,
        ws: WorkspaceId,
        status: IntegrationStatus,
        last_error: Option<&str>,
    ) -> Result<()> {
        dispatch!(self, set_integration_status(ws, status, last_error))
    }

    // ---- directory --------------------------------------------------------

    /// Replaces users, groups, memberships (`(group_id, user_id)`) and
    /// verified domains in one transaction. When that changes who is
    /// internal, the stored items are classified again
    /// ([`Store::classify_internal_only`]).
    pub async fn replace_directory(
        &self,
        ws: WorkspaceId,
        users: &[DirectoryUser],
        groups: &[DirectoryGroup],
        memberships: &[(String, String)],
        domains: &[TenantDomain],
    ) -> Result<()> {
        dispatch!(self, replace_directory(ws, users, groups, memberships, domains))?;
        self.classify_internal_only(ws).await.map(drop)
    }

    /// Classifies every stored email and meeting as internal-only or not
    /// against the stored directory, when it changed since the last time,
    /// and applies the privacy rules to the items whose answer changed.
    /// Returns how many did. Resumable: a crash part way is finished by the
    /// next call.
    pub async fn classify_internal_only(&self, ws: WorkspaceId) -> Result<u64> {
        dispatch!(self, classify_internal_only(ws))
    }

    /// Replaces the directory roles and their holders (`(role_id,
    /// user_id)`, users only) in one transaction.
    pub async fn replace_directory_roles(
        &self,
        ws: WorkspaceId,
        roles: &[DirectoryRole],
        holders: &[(String, String)],
    ) -> Result<()> {
        dispatch!(self, replace_directory_roles(ws, roles, holders))
    }

    /// The activated directory roles the last sync read, by display name.
    pub async fn directory_roles(&self, ws: WorkspaceId) -> Result<Vec<DirectoryRole>> {
        dispatch!(self, directory_roles(ws))
    }

    /// How many users hold each role, by template id (lowercase); roles
    /// nobody holds are absent.
    pub async fn role_holder_counts(&self, ws: WorkspaceId) -> Result<Vec<(String, u64)>> {
        dispatch!(self, role_holder_counts(ws))
    }

    /// The object ids of the users holding the role with this template id.
    pub async fn role_holders(&self, ws: WorkspaceId, role_template_id: &str) -> Result<Vec<String>> {
        dispatch!(self, role_holders(ws, role_template_id))
    }

    /// Ordered by display name.
    pub async fn directory_users(&self, ws: WorkspaceId) -> Result<Vec<DirectoryUser>> {
        dispatch!(self, directory_users(ws))
    }

    /// Ordered by display name.
    pub async fn directory_groups(&self, ws: WorkspaceId) -> Result<Vec<DirectoryGroup>> {
        dispatch!(self, directory_groups(ws))
    }

    /// Ordered by name.
    pub async fn tenant_domains(&self, ws: WorkspaceId) -> Result<Vec<TenantDomain>> {
        dispatch!(self, tenant_domains(ws))
    }

    /// The directory user with this Graph object id (any case), if the last
    /// directory sync stored one.
    pub async fn directory_user(&self, ws: WorkspaceId, id: &str) -> Result<Option<DirectoryUser>> {
        dispatch!(self, directory_user(ws, id))
    }

    /// The stored users who are members of the group, by display name.
    pub async fn group_members(&self, ws: WorkspaceId, group_id: &str) -> Result<Vec<DirectoryUser>> {
        dispatch!(self, group_members(ws, group_id))
    }

    // ---- mailboxes --------------------------------------------------------

    /// The mailbox of a directory user (created as `syncing`), with its
    /// address updated.
    pub async fn upsert_mailbox(&self, ws: WorkspaceId, user_id: &str, address: &str) -> Result<MailboxId> {
        dispatch!(self, upsert_mailbox(ws, user_id, address))
    }

    /// Sets the state; `last_error` is `(code, message)` and, when `None`,
    /// the previous error is kept. Leaving `backoff` clears `backoff_until`.
    pub async fn set_mailbox_state(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        state: MailboxState,
        last_error: Option<(&str, &str)>,
    ) -> Result<()> {
        dispatch!(self, set_mailbox_state(ws, mailbox, state, last_error))
    }

    /// Records that the user has no mailbox, to be checked again after
    /// `recheck_at` or when a licence appears (`licensed` is what the
    /// directory showed now); `reason` is `(code, message)`.
    pub async fn set_mailbox_no_mailbox(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        recheck_at: DateTime<Utc>,
        licensed: Option<bool>,
        reason: (&str, &str),
    ) -> Result<()> {
        dispatch!(self, set_mailbox_no_mailbox(ws, mailbox, recheck_at, licensed, reason))
    }

    /// Puts the mailbox in `backoff` until `until` (from `Retry-After` or the
    /// exponential schedule).
    pub async fn set_mailbox_backoff(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        until: DateTime<Utc>,
        last_error: Option<(&str, &str)>,
    ) -> Result<()> {
        dispatch!(self, set_mailbox_backoff(ws, mailbox, until, last_error))
    }

    /// Marks a finished round: `ok`, `last_success_at` now, error and
    /// backoff cleared. Counts are not passed: [`Store::mailboxes`] counts
    /// the stored copies, so they are always current.
    pub async fn record_mailbox_success(&self, ws: WorkspaceId, mailbox: MailboxId) -> Result<()> {
        dispatch!(self, record_mailbox_success(ws, mailbox))
    }

    /// Records an item that failed to decode (counted once per item id).
    pub async fn record_skipped_item(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        item_id: &str,
        reason: &str,
    ) -> Result<()> {
        dispatch!(self, record_skipped_item(ws, mailbox, item_id, reason))
    }

    /// Every mailbox with its state and counts, by address.
    pub async fn mailboxes(&self, ws: WorkspaceId) -> Result<Vec<MailboxRow>> {
        dispatch!(self, mailboxes(ws))
    }

    /// The team's mailbox addresses, sorted: what a "team member" filter
    /// offers, without [`Store::mailboxes`]' counts.
    pub async fn mailbox_addresses(&self, ws: WorkspaceId) -> Result<Vec<String>> {
        self.reader().await?.mailbox_addresses(ws).await
    }

    // ---- sync cursors -----------------------------------------------------

    /// Where the folder's or calendar's delta round stands; `None` means
    /// start a full round.
    pub async fn cursor(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        scope: CursorScope<'_>,
    ) -> Result<Option<SyncCursor>> {
        dispatch!(self, cursor(ws, mailbox, scope))
    }

    /// The saved cursor with what its round has done (see [`RoundState`]).
    pub async fn cursor_and_round(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        scope: CursorScope<'_>,
    ) -> Result<Option<(SyncCursor, RoundState)>> {
        dispatch!(self, cursor_and_round(ws, mailbox, scope))
    }

    /// Saves a cursor on its own (for a round with nothing to apply; pages
    /// save theirs with their rows).
    pub async fn save_cursor(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        scope: CursorScope<'_>,
        cursor: &SyncCursor,
    ) -> Result<()> {
        dispatch!(self, save_cursor(ws, mailbox, scope, cursor))
    }

    /// Drops the cursor, after a 410 `syncStateNotFound`/`resyncRequired`.
    pub async fn clear_cursor(&self, ws: WorkspaceId, mailbox: MailboxId, scope: CursorScope<'_>) -> Result<()> {
        dispatch!(self, clear_cursor(ws, mailbox, scope))
    }

    // ---- ingest -----------------------------------------------------------

    /// Applies one `messages/delta` page of `folder_id` and saves `cursor`
    /// with what its round has done (`round`), all in one transaction. Every copy must be in `folder_id`. The
    /// contacts the auto-creation policy chose are created (when new) in the
    /// same transaction, and the page's emails join the timelines of every
    /// contact among their participants.
    #[allow(clippy::too_many_arguments, reason = "one page: its rows, removals, new contacts, cursor and round")]
    pub async fn apply_mail_page(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        folder_id: &str,
        upserts: &[(EmailRecord, EmailCopy)],
        removed_graph_ids: &[String],
        new_contacts: &[AutoCreateCandidate],
        cursor: &SyncCursor,
        round: RoundState,
    ) -> Result<PageOutcome> {
        dispatch!(
            self,
            apply_mail_page(ws, mailbox, folder_id, upserts, removed_graph_ids, new_contacts, cursor, round)
        )
    }

    /// Applies one `calendarView/delta` page and saves `cursor`, all in one
    /// transaction (contacts and timelines as for mail).
    pub async fn apply_calendar_page(
        &self,
        ws: WorkspaceId,
        mailbox: MailboxId,
        upserts: &[(MeetingRecord, MeetingCopy)],
        removed_graph_ids: &[String],
        new_contacts: &[AutoCreateCandidate],
        cursor: &SyncCursor,
    ) -> Result<PageOutcome> {
        dispatch!(self, apply_calendar_page(ws, mailbox, upserts, removed_graph_ids, new_contacts, cursor))
    }

    // ---- reading ----------------------------------------------------------

    pub async fn email_by_message_id(&self, ws: WorkspaceId, internet_message_id: &str) -> Result<Option<EmailRecord>> {
        dispatch!(self, email_by_message_id(ws, internet_message_id))
    }

    pub async fn meeting_by_ical_uid(&self, ws: WorkspaceId, ical_uid: &str) -> Result<Option<MeetingRecord>> {
        dispatch!(self, meeting_by_ical_uid(ws, ical_uid))
    }

    /// Deduplicated emails in the workspace.
    pub async fn email_count(&self, ws: WorkspaceId) -> Result<u64> {
        dispatch!(self, email_count(ws))
    }

    /// The mailbox's email copies, removed ones included, by Graph id.
    pub async fn email_copies(&self, ws: WorkspaceId, mailbox: MailboxId) -> Result<Vec<EmailCopyRow>> {
        dispatch!(self, email_copies(ws, mailbox))
    }

    /// Deduplicated meetings in the workspace.
    pub async fn meeting_count(&self, ws: WorkspaceId) -> Result<u64> {
        dispatch!(self, meeting_count(ws))
    }

    /// The mailbox's meeting copies, removed ones included, by Graph id.
    pub async fn meeting_copies(&self, ws: WorkspaceId, mailbox: MailboxId) -> Result<Vec<MeetingCopyRow>> {
        dispatch!(self, meeting_copies(ws, mailbox))
    }

    // ---- contacts ---------------------------------------------------------

    /// Creates a contact and links its whole history. Refuses addresses of
    /// the tenant ([`StoreError::InternalAddress`]) and addresses another
    /// contact has ([`StoreError::AddressInUse`]).
    pub async fn create_contact(&self, ws: WorkspaceId, new: &NewContact) -> Result<ContactId> {
        dispatch!(self, create_contact(ws, new))
    }

    /// Renames a contact and/or sets its company by name (`Some(None)` clears it).
    pub async fn update_contact(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        name: Option<&str>,
        company: Option<Option<&str>>,
    ) -> Result<()> {
        dispatch!(self, update_contact(ws, id, name, company))
    }

    pub async fn delete_contact(&self, ws: WorkspaceId, id: ContactId) -> Result<()> {
        dispatch!(self, delete_contact(ws, id))
    }

    /// Adds an address; everything it was on joins the timeline at once.
    pub async fn add_contact_email(&self, ws: WorkspaceId, id: ContactId, address: &NormalizedAddress) -> Result<()> {
        dispatch!(self, add_contact_email(ws, id, address))
    }

    pub async fn remove_contact_email(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        address: &NormalizedAddress,
    ) -> Result<()> {
        dispatch!(self, remove_contact_email(ws, id, address))
    }

    pub async fn contact(&self, ws: WorkspaceId, id: ContactId) -> Result<ContactRow> {
        self.reader().await?.contact(ws, id).await
    }

    pub async fn contact_by_email(&self, ws: WorkspaceId, address: &NormalizedAddress) -> Result<Option<ContactRow>> {
        dispatch!(self, contact_by_email(ws, address))
    }

    pub async fn contacts(&self, ws: WorkspaceId, query: &ContactListQuery) -> Result<Vec<ContactRow>> {
        self.reader().await?.contacts(ws, query).await
    }

    pub async fn company(&self, ws: WorkspaceId, id: CompanyId) -> Result<CompanyRow> {
        self.reader().await?.company(ws, id).await
    }

    pub async fn companies(&self, ws: WorkspaceId) -> Result<Vec<CompanyRow>> {
        dispatch!(self, companies(ws))
    }

    /// Imports parsed CSV lines, each in its own transaction: a bad line is
    /// reported and the others still import; a rerun creates nothing twice.
    pub async fn import_contacts(
        &self,
        ws: WorkspaceId,
        lines: &[tac_core::contact_csv::ContactLine],
    ) -> Result<Vec<Result<ImportOutcome>>> {
        let internal = match self {
            Store::Sqlite(pool) => sqlite::repo::load_internal(&mut *pool.acquire().await?, ws).await?,
            Store::Postgres(pool) => postgres::repo::load_internal(&mut *pool.acquire().await?, ws).await?,
        };
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            out.push(dispatch!(self, import_contact(ws, &internal, line)));
        }
        Ok(out)
    }

    /// Imports a parsed CSV file ([`tac_core::contact_csv::parse_contacts_csv`]'s
    /// rows): the good lines as [`Store::import_contacts`] does, and a report
    /// of what they did with every failed line, parse or store, in line order.
    pub async fn import_contacts_report(
        &self,
        ws: WorkspaceId,
        rows: Vec<std::result::Result<tac_core::contact_csv::ContactLine, tac_core::contact_csv::LineError>>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut lines = Vec::with_capacity(rows.len());
        for row in rows {
            match row {
                Ok(line) => lines.push(line),
                Err(e) => report
                    .failures
                    .push(ImportFailure { line: e.line, reason: ImportFailureReason::Invalid(e.message) }),
            }
        }
        let outcomes = self.import_contacts(ws, &lines).await?;
        for (line, outcome) in lines.iter().zip(outcomes) {
            match outcome {
                Ok(ImportOutcome::Created(_)) => report.created += 1,
                Ok(ImportOutcome::Updated(_)) => report.updated += 1,
                Ok(ImportOutcome::Unchanged(_)) => report.unchanged += 1,
                Err(e) => {
                    report.failures.push(ImportFailure { line: line.line, reason: ImportFailureReason::Refused(e) })
                }
            }
        }
        report.failures.sort_by_key(|f| f.line);
        Ok(report)
    }

    // ---- timelines --------------------------------------------------------

    /// A contact's timeline page, newest first, redacted by the privacy policy.
    pub async fn timeline(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        query: &TimelineQuery,
        now: DateTime<Utc>,
    ) -> Result<TimelinePage> {
        self.reader().await?.timeline(ws, contact, query, now).await
    }

    /// A company's timeline: its contacts' items, each once.
    pub async fn company_timeline(
        &self,
        ws: WorkspaceId,
        company: CompanyId,
        query: &TimelineQuery,
        now: DateTime<Utc>,
    ) -> Result<TimelinePage> {
        self.reader().await?.company_timeline(ws, company, query, now).await
    }

    /// Full-text search over every email and meeting (`query.search` is
    /// required), newest first, as far as visibility allows and, for
    /// internal-only items, the viewer may see.
    pub async fn search(
        &self,
        ws: WorkspaceId,
        query: &TimelineQuery,
        viewer: &Viewer,
        now: DateTime<Utc>,
    ) -> Result<TimelinePage> {
        self.reader().await?.search(ws, query, viewer, now).await
    }

    /// The summary above a contact's timeline.
    pub async fn contact_summary(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        now: DateTime<Utc>,
    ) -> Result<ContactSummary> {
        self.reader().await?.contact_summary(ws, contact, now).await
    }

    /// One email as a timeline shows it (redacted by the privacy policy),
    /// seen from the team: outbound when a team member sent it.
    /// `NotFound` when it is not in the workspace, or is internal-only and
    /// not the viewer's to see.
    pub async fn email_item(
        &self,
        ws: WorkspaceId,
        email: EmailId,
        viewer: &Viewer,
    ) -> Result<tac_core::timeline::EmailItem> {
        dispatch!(self, email_item(ws, email.0, viewer))
    }

    /// One meeting as a timeline shows it (redacted by the privacy policy).
    /// `NotFound` when it is not in the workspace, or is internal-only and
    /// not the viewer's to see.
    pub async fn meeting_item(
        &self,
        ws: WorkspaceId,
        meeting: MeetingId,
        viewer: &Viewer,
        now: DateTime<Utc>,
    ) -> Result<tac_core::timeline::MeetingItem> {
        dispatch!(self, meeting_item(ws, meeting.0, viewer, now))
    }

    /// A contact's emails and meetings per calendar month (UTC) with
    /// activity in `[from, to)`, oldest first; months without any are left
    /// out. Counts every item, private ones included (they are counted, not
    /// shown).
    pub async fn monthly_activity(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MonthlyActivity>> {
        self.reader().await?.monthly_activity(ws, contact, from, to).await
    }

    /// An email's sanitised body; [`StoreError::Hidden`] when the policy
    /// hides it, `NotFound` as for [`Store::email_item`].
    pub async fn email_body(
        &self,
        ws: WorkspaceId,
        email: EmailId,
        viewer: &Viewer,
        allow_remote_images: bool,
    ) -> Result<EmailBody> {
        dispatch!(self, email_body(ws, email.0, viewer, allow_remote_images))
    }

    // ---- privacy ----------------------------------------------------------

    /// The workspace's privacy policy (defaults when never set).
    pub async fn privacy_policy(&self, ws: WorkspaceId) -> Result<PrivacyPolicy> {
        dispatch!(self, privacy_policy(ws))
    }

    /// Changes visibility, auto-creation and retention; applies the change
    /// to stored data and writes the audit log. Returns what retention purged.
    pub async fn set_privacy_settings(
        &self,
        ws: WorkspaceId,
        settings: PrivacySettings,
        actor: &str,
    ) -> Result<PurgeCounts> {
        dispatch!(self, set_privacy_settings(ws, settings, actor))
    }

    /// Blocks an address or `@domain` and purges what was stored because of it.
    pub async fn add_block(&self, ws: WorkspaceId, entry: &BlockEntry, actor: &str) -> Result<PurgeCounts> {
        dispatch!(self, add_block(ws, entry, actor))
    }

    pub async fn remove_block(&self, ws: WorkspaceId, entry: &BlockEntry, actor: &str) -> Result<()> {
        dispatch!(self, remove_block(ws, entry, actor))
    }

    /// Stops syncing a directory user's mailbox and purges what only it held.
    pub async fn exclude_mailbox(&self, ws: WorkspaceId, user_id: &str, actor: &str) -> Result<PurgeCounts> {
        dispatch!(self, exclude_mailbox(ws, user_id, actor))
    }

    pub async fn include_mailbox(&self, ws: WorkspaceId, user_id: &str, actor: &str) -> Result<()> {
        dispatch!(self, include_mailbox(ws, user_id, actor))
    }

    /// Links again the history of contacts that sync pages auto-created
    /// (PostgreSQL; a no-op on SQLite), waiting for the pages under way, so
    /// that an email stored by one mailbox while another mailbox's page
    /// created its sender still reaches the timeline. Sync calls it every
    /// few seconds during a pass and at the end. Returns how many contacts'
    /// notes it settled.
    pub async fn settle_links(&self, ws: WorkspaceId) -> Result<u64> {
        dispatch!(self, settle_links(ws))
    }

    /// Deletes what is older than the retention period, if one is set.
    pub async fn purge_retention(&self, ws: WorkspaceId, now: DateTime<Utc>) -> Result<PurgeCounts> {
        dispatch!(self, purge_retention(ws, now))
    }

    /// Removes the integration and everything synced through it.
    pub async fn disconnect(&self, ws: WorkspaceId, actor: &str) -> Result<PurgeCounts> {
        dispatch!(self, disconnect(ws, actor))
    }

    /// The newest audit entries first.
    pub async fn audit_log(&self, ws: WorkspaceId, limit: u32) -> Result<Vec<AuditEntry>> {
        dispatch!(self, audit_log(ws, limit))
    }
}

/// Portal accounts (issue 5): users, sessions, failed sign-ins and setup
/// links. Tokens are passed in the clear and stored only as
/// [`token_hash`]; times are passed in, so expiry is testable.
impl Store {
    /// Answers when the database does (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        dispatch!(self, ping())
    }

    /// Creates a portal user; an email already used in the workspace (in any
    /// case) gives [`StoreError::UserExists`].
    pub async fn create_portal_user(&self, ws: WorkspaceId, new: &NewPortalUser) -> Result<PortalUserId> {
        dispatch!(self, create_portal_user(ws, new, Utc::now()))
    }

    /// The user with this email (compared trimmed and without case).
    pub async fn portal_user_by_email(&self, ws: WorkspaceId, email: &str) -> Result<Option<PortalUser>> {
        dispatch!(self, portal_user_by_email(ws, email))
    }

    /// The user with this id in this workspace; another workspace's is `None`.
    pub async fn portal_user(&self, ws: WorkspaceId, id: PortalUserId) -> Result<Option<PortalUser>> {
        dispatch!(self, portal_user(ws, id))
    }

    pub async fn count_admins(&self, ws: WorkspaceId) -> Result<u64> {
        dispatch!(self, count_admins(ws))
    }

    /// Replaces a user's argon2 hash (a password change or reset).
    pub async fn set_password_hash(&self, ws: WorkspaceId, id: PortalUserId, hash: &str) -> Result<()> {
        dispatch!(self, set_password_hash(ws, id, hash))
    }

    /// Notes a successful sign-in.
    pub async fn record_login(&self, ws: WorkspaceId, id: PortalUserId, at: DateTime<Utc>) -> Result<()> {
        dispatch!(self, record_login(ws, id, at))
    }

    /// Opens a session for `token` (stored as its hash) with its CSRF token.
    pub async fn create_session(
        &self,
        ws: WorkspaceId,
        user: PortalUserId,
        token: &str,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(self, create_session(ws, user, token, csrf_token, now, expires_at))
    }

    /// The session for `token` if it exists and has not expired at `now`,
    /// with its user (and role) and CSRF token.
    pub async fn session_by_token(
        &self,
        ws: WorkspaceId,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PortalSession>> {
        self.reader().await?.session_by_token(ws, token, now).await
    }

    /// Ends a session (sign-out); an unknown token is not an error.
    pub async fn delete_session(&self, ws: WorkspaceId, token: &str) -> Result<()> {
        dispatch!(self, delete_session(ws, token))
    }

    /// Ends every session of a user (after a password change); how many.
    pub async fn delete_user_sessions(&self, ws: WorkspaceId, user: PortalUserId) -> Result<u64> {
        dispatch!(self, delete_user_sessions(ws, user))
    }

    /// Housekeeping: removes sessions expired at `now`; how many.
    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self, delete_expired_sessions(now))
    }

    /// Records a failed sign-in for throttling.
    pub async fn record_login_failure(
        &self,
        ws: WorkspaceId,
        email: &str,
        client_ip: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(self, record_login_failure(ws, email, client_ip, at))
    }

    /// Reserves a sign-in attempt before its password is checked: with the
    /// failures since `since` of the account, of the source and of the two
    /// together, `decide` says until when the attempt must wait (`None`:
    /// go ahead). Granted, the attempt is recorded as a failure in the same
    /// transaction (a successful sign-in then clears it), so N attempts at
    /// once are counted as N, whatever instance they reach.
    pub async fn reserve_login_attempt<F>(
        &self,
        ws: WorkspaceId,
        email: &str,
        client_ip: &str,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        decide: F,
    ) -> Result<Reservation>
    where
        F: FnOnce(&AttemptHistory) -> Option<DateTime<Utc>>,
    {
        dispatch!(self, reserve_login_attempt(ws, email, client_ip, now, since, decide))
    }

    /// The failed sign-ins since `since` that bear on an attempt by `email`
    /// from `client_ip` (see [`AttemptHistory`]).
    pub async fn login_attempt_history(
        &self,
        ws: WorkspaceId,
        email: &str,
        client_ip: &str,
        since: DateTime<Utc>,
    ) -> Result<AttemptHistory> {
        dispatch!(self, login_attempt_history(ws, email, client_ip, since))
    }

    /// Forgets an email's failures after a successful sign-in. Failures
    /// by address stay: signing in to one's own account must not reset the
    /// limit for guessing others'.
    pub async fn clear_login_failures(&self, ws: WorkspaceId, email: &str) -> Result<u64> {
        dispatch!(self, clear_login_failures(ws, email))
    }

    /// Housekeeping: removes failures at or before `before`; how many.
    pub async fn delete_login_failures_before(&self, before: DateTime<Utc>) -> Result<u64> {
        dispatch!(self, delete_login_failures_before(before))
    }

    /// Stores a one-time setup link's token (as its hash).
    pub async fn create_setup_token(
        &self,
        ws: WorkspaceId,
        token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(self, create_setup_token(ws, token, now, expires_at))
    }

    /// Whether the link is unused and unexpired at `now` (it stays so).
    pub async fn setup_token_is_valid(&self, ws: WorkspaceId, token: &str, now: DateTime<Utc>) -> Result<bool> {
        dispatch!(self, setup_token_is_valid(ws, token, now))
    }

    /// Uses the link up if it is valid; whether it was. Only one caller
    /// ever gets `true` for a token.
    pub async fn consume_setup_token(&self, ws: WorkspaceId, token: &str, now: DateTime<Utc>) -> Result<bool> {
        dispatch!(self, consume_setup_token(ws, token, now))
    }

    /// In one transaction: uses up the setup link, checks that no admin
    /// exists and creates `new` as an admin; then voids every other link.
    /// [`StoreError::SetupTokenInvalid`], [`StoreError::AdminExists`] or
    /// [`StoreError::UserExists`] leave everything (the link too) as it was.
    pub async fn create_first_admin(
        &self,
        ws: WorkspaceId,
        token: &str,
        new: &NewPortalUser,
        now: DateTime<Utc>,
    ) -> Result<PortalUserId> {
        dispatch!(self, create_first_admin(ws, token, new, now))
    }
}

/// Sign in with Microsoft (issue 5): people are found by Entra tenant id +
/// object id, never by email; sign-ins under way are stored until the
/// browser comes back, and used once; who may sign in is a workspace setting.
impl Store {
    /// The portal user linked to this Microsoft account (`tid`, `oid`).
    pub async fn portal_user_by_microsoft_id(
        &self,
        ws: WorkspaceId,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<Option<PortalUser>> {
        dispatch!(self, portal_user_by_microsoft_id(ws, tenant_id, object_id))
    }

    /// Creates a member without a password, linked to the Microsoft account;
    /// if one is already linked (two first sign-ins at once), returns it. An
    /// email that another portal user has gives [`StoreError::UserExists`]:
    /// accounts are never linked by email.
    pub async fn provision_microsoft_user(&self, ws: WorkspaceId, new: &NewMicrosoftUser) -> Result<PortalUser> {
        dispatch!(self, provision_microsoft_user(ws, new, Utc::now()))
    }

    /// Links an existing portal user (e.g. a local admin) to a Microsoft
    /// account, explicitly; the account may be linked to one user only.
    pub async fn link_microsoft_account(
        &self,
        ws: WorkspaceId,
        id: PortalUserId,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<()> {
        dispatch!(self, link_microsoft_account(ws, id, tenant_id, object_id))
    }

    /// Undoes [`Store::link_microsoft_account`]. An admin role that came
    /// from an Entra role goes too. Refused ([`StoreError::InvalidInput`])
    /// for an account without a password: it could no longer sign in.
    pub async fn unlink_microsoft_account(&self, ws: WorkspaceId, id: PortalUserId) -> Result<()> {
        dispatch!(self, unlink_microsoft_account(ws, id))
    }

    /// Keeps the email and display name up to date from the id_token's
    /// claims; an email another user has gives [`StoreError::UserExists`].
    pub async fn update_microsoft_profile(
        &self,
        ws: WorkspaceId,
        id: PortalUserId,
        email: &str,
        display_name: &str,
    ) -> Result<()> {
        dispatch!(self, update_microsoft_profile(ws, id, email, display_name))
    }

    /// Stores a sign-in under way, keyed by its OAuth `state` (as a hash),
    /// bound to the browser by `browser_token` (as a hash). `link_user`:
    /// the signed-in portal user who is linking their Microsoft account.
    #[allow(clippy::too_many_arguments, reason = "one row's columns")]
    pub async fn create_oidc_login(
        &self,
        ws: WorkspaceId,
        state: &str,
        browser_token: &str,
        nonce: &str,
        code_verifier: &str,
        next_path: &str,
        link_user: Option<PortalUserId>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(
            self,
            create_oidc_login(ws, state, browser_token, nonce, code_verifier, next_path, link_user, now, expires_at)
        )
    }

    /// Removes the sign-in for `state` and returns it if it had not expired
    /// at `now`. Only one caller ever gets it: a replayed state finds nothing.
    pub async fn take_oidc_login(&self, ws: WorkspaceId, state: &str, now: DateTime<Utc>) -> Result<Option<OidcLogin>> {
        dispatch!(self, take_oidc_login(ws, state, now))
    }

    /// Housekeeping: removes sign-ins expired at `now`; how many.
    pub async fn delete_expired_oidc_logins(&self, now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self, delete_expired_oidc_logins(now))
    }

    /// The directory group whose members may sign in with Microsoft; `None`:
    /// every member of the tenant.
    pub async fn sign_in_group(&self, ws: WorkspaceId) -> Result<Option<String>> {
        dispatch!(self, sign_in_group(ws))
    }

    /// Restricts Sign in with Microsoft to one group's members (`None`: lift it).
    pub async fn set_sign_in_group(&self, ws: WorkspaceId, group_id: Option<&str>) -> Result<()> {
        dispatch!(self, set_sign_in_group(ws, group_id, Utc::now()))
    }

    /// Whether the directory sync stored `user_id` as a member of `group_id`.
    pub async fn is_group_member(&self, ws: WorkspaceId, group_id: &str, user_id: &str) -> Result<bool> {
        dispatch!(self, is_group_member(ws, group_id, user_id))
    }

    /// The Entra roles (template ids, lowercase) whose holders are TAC
    /// admins when they sign in with Microsoft; empty: none.
    pub async fn sign_in_admin_roles(&self, ws: WorkspaceId) -> Result<Vec<String>> {
        dispatch!(self, sign_in_admin_roles(ws))
    }

    /// Saves the roles that make someone a TAC admin (audited as `actor`),
    /// and applies them at once to every linked portal user.
    pub async fn set_sign_in_admin_roles(
        &self,
        ws: WorkspaceId,
        role_template_ids: &[String],
        actor: &str,
    ) -> Result<EntraAdminChanges> {
        dispatch!(self, set_sign_in_admin_roles(ws, role_template_ids, actor))
    }

    /// Whether the Microsoft account `object_id` holds a role that makes it
    /// a TAC admin, as the last directory sync stored the roles.
    pub async fn holds_admin_role(&self, ws: WorkspaceId, object_id: &str) -> Result<bool> {
        dispatch!(self, holds_admin_role(ws, object_id))
    }

    /// Makes the role of every linked portal user follow the chosen Entra
    /// roles as last synced (see [`PortalUser::admin_from_entra`]): after a
    /// directory sync, a link, or a first sign-in.
    pub async fn reconcile_entra_admins(&self, ws: WorkspaceId) -> Result<EntraAdminChanges> {
        dispatch!(self, reconcile_entra_admins(ws))
    }
}
