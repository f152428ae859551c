/*!
The privacy policy's storage and its effect on what is already stored
(docs/architecture.md §5): every change applies to existing data, in the same
transaction as the change and its audit-log entry.

- Lowering visibility strips the stored subjects and bodies it now hides;
  raising it clears the sync cursors so the next pass reads the content
  again (TAC never kept what it was not allowed to show).
- Turning off "keep internal-only mail" strips the content of stored
  internal-only items; turning it on clears the cursors in the same way.
  Which items are internal-only is decided against the directory (see
  `internal_only`).
- A blocklist entry deletes every email and meeting with a matching
  participant, and the contacts auto-created for matching addresses.
- Excluding a mailbox deletes its copies, then the items no other mailbox
  holds.
- Retention deletes items older than the period.
- Disconnecting deletes everything synced.

Deleting an email or meeting cascades to its copies, participants,
attendees, search entries and timeline entries.
*/

use super::{BACKEND, Conn, Db, Pool, begin_write, now, push_list, rows_per_statement};
use crate::error::{Result, StoreError};
use crate::types::{AuditEntry, Backend, PrivacySettings, PurgeCounts, WorkspaceId};
use chrono::{DateTime, Duration, Utc};
use tac_core::privacy::{BlockEntry, Blocklist, PrivacyPolicy, Visibility};
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

pub(crate) async fn visibility<'e>(
    conn: impl sqlx::Executor<'e, Database = Db>,
    ws: WorkspaceId,
) -> Result<Visibility> {
    let row: Option<String> = sqlx::query_scalar("select visibility from privacy_policy where workspace_id = $1")
        .bind(ws.0)
        .fetch_optional(conn)
        .await?;
    parse_visibility(row)
}

/// The stored level (`None`: no policy saved yet, the default).
pub(crate) fn parse_visibility(stored: Option<String>) -> Result<Visibility> {
    match stored {
        Some(v) => v.parse().map_err(|_| StoreError::corrupt("privacy_policy.visibility", v)),
        None => Ok(Visibility::default()),
    }
}

/// Whether the workspace keeps the content of internal-only items (off
/// when no policy was saved).
pub(crate) async fn keeps_internal(conn: &mut Conn, ws: WorkspaceId) -> Result<bool> {
    let keep: Option<bool> = sqlx::query_scalar("select keep_internal from privacy_policy where workspace_id = $1")
        .bind(ws.0)
        .fetch_optional(conn)
        .await?;
    Ok(keep.unwrap_or(false))
}

/// The workspace's privacy policy (defaults when never set).
#[operation]
pub(crate) async fn privacy_policy(pool: &Pool, ws: WorkspaceId) -> Result<PrivacyPolicy> {
    let mut conn = pool.acquire().await?;
    read_policy(&mut conn, ws).await
}

async fn read_settings(conn: &mut Conn, ws: WorkspaceId) -> Result<PrivacySettings> {
    let row: Option<(String, String, Option<i64>, bool)> = sqlx::query_as(
        "select visibility, auto_create, retention_days, keep_internal from privacy_policy where workspace_id = $1",
    )
    .bind(ws.0)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some((v, a, r, keep_internal)) => PrivacySettings {
            visibility: v.parse().map_err(|_| StoreError::corrupt("privacy_policy.visibility", &v))?,
            auto_create: a.parse().map_err(|_| StoreError::corrupt("privacy_policy.auto_create", &a))?,
            retention_days: r.and_then(|r| u32::try_from(r).ok()),
            keep_internal,
        },
        None => PrivacySettings::default(),
    })
}

async fn read_policy(conn: &mut Conn, ws: WorkspaceId) -> Result<PrivacyPolicy> {
    let settings = read_settings(conn, ws).await?;
    let entries: Vec<String> = sqlx::query_scalar("select entry from blocklist where workspace_id = $1 order by entry")
        .bind(ws.0)
        .fetch_all(&mut *conn)
        .await?;
    let entries = entries
        .into_iter()
        .map(|e| BlockEntry::parse(&e).map_err(|err| StoreError::corrupt("blocklist.entry", err)))
        .collect::<Result<Vec<_>>>()?;
    let excluded: Vec<String> =
        sqlx::query_scalar("select user_id from excluded_mailbox where workspace_id = $1 order by user_id")
            .bind(ws.0)
            .fetch_all(&mut *conn)
            .await?;
    Ok(PrivacyPolicy {
        visibility: settings.visibility,
        auto_create: settings.auto_create,
        retention_days: settings.retention_days,
        blocklist: Blocklist::new(entries),
        excluded_mailboxes: excluded,
        keep_internal: settings.keep_internal,
    })
}

/// Changes visibility, auto-creation and retention; applies the change
/// to stored data and writes the audit log. Returns what retention purged.
#[operation]
pub(crate) async fn set_privacy_settings(
    pool: &Pool,
    ws: WorkspaceId,
    settings: PrivacySettings,
    actor: &str,
) -> Result<PurgeCounts> {
    if let Some(days) = settings.retention_days.filter(|d| !(1..=MAX_RETENTION_DAYS).contains(d)) {
        return Err(StoreError::InvalidInput(format!(
            "a retention period of {days} days is not possible: give 1 to {MAX_RETENTION_DAYS} days, \
             or leave it unset to keep everything"
        )));
    }
    let mut tx = begin_write(pool).await?;
    let before = read_settings(&mut tx, ws).await?;
    let now = now();
    sqlx::query(
        "insert into privacy_policy (workspace_id, visibility, auto_create, retention_days, keep_internal, updated_at)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (workspace_id) do update set visibility = excluded.visibility,
             auto_create = excluded.auto_create, retention_days = excluded.retention_days,
             keep_internal = excluded.keep_internal, updated_at = excluded.updated_at",
    )
    .bind(ws.0)
    .bind(settings.visibility.as_str())
    .bind(settings.auto_create.as_str())
    .bind(settings.retention_days.map(i64::from))
    .bind(settings.keep_internal)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let rank = |v: Visibility| match v {
        Visibility::Metadata => 0,
        Visibility::Subject => 1,
        Visibility::Full => 2,
    };
    let mut effect = serde_json::Map::new();
    if rank(settings.visibility) < rank(before.visibility) {
        strip_content(&mut tx, ws, settings.visibility, Scope::Everything).await?;
        effect.insert("stripped".into(), "stored content the new level hides".into());
    }
    if before.keep_internal && !settings.keep_internal {
        strip_content(&mut tx, ws, Visibility::Metadata, Scope::InternalOnly).await?;
        effect.insert("stripped_internal".into(), "stored content of internal-only items".into());
    }
    let shows_more = rank(settings.visibility) > rank(before.visibility)
        || (settings.keep_internal && !before.keep_internal && settings.visibility != Visibility::Metadata);
    if shows_more {
        sqlx::query("delete from sync_cursor where workspace_id = $1").bind(ws.0).execute(&mut *tx).await?;
        effect.insert("resync".into(), "content is read again on the next sync".into());
    }
    let purged = match cutoff(now, settings.retention_days) {
        Some(cutoff) => purge_before(&mut tx, ws, cutoff).await?,
        None => PurgeCounts::default(),
    };
    audit(
        &mut tx,
        ws,
        actor,
        "privacy.settings",
        serde_json::json!({"before": before, "after": settings, "effect": effect, "purged": purged}),
    )
    .await?;
    tx.commit().await?;
    erase_freed(pool).await;
    Ok(purged)
}

/// Which stored items a strip applies to.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'a> {
    Everything,
    InternalOnly,
    /// These emails or meetings (the kind given with them).
    Ids(&'a [i64]),
}

/// Blanks what `level` hides in every stored email and meeting (of the
/// scope), and records that they hold no more (`content_level`). The
/// fingerprints are cleared so a later full read rewrites the rows.
pub(crate) async fn strip_content(conn: &mut Conn, ws: WorkspaceId, level: Visibility, scope: Scope<'_>) -> Result<()> {
    for kind in [ActivityKind::Email, ActivityKind::Meeting] {
        strip(conn, ws, kind, level, scope).await?;
    }
    Ok(())
}

/// [`strip_content`] for one kind of item. At metadata level a meeting
/// also loses where it takes place, as sync's minimising does.
pub(crate) async fn strip(
    conn: &mut Conn,
    ws: WorkspaceId,
    kind: ActivityKind,
    level: Visibility,
    scope: Scope<'_>,
) -> Result<()> {
    let (table, set) = match (kind, level) {
        (_, Visibility::Full) => return Ok(()),
        (ActivityKind::Email, Visibility::Subject) => (
            "email",
            "body_html = '', body_preview = '', body_text = '', fingerprint = '',
             content_level = case when content_level = 'full' then 'subject' else content_level end",
        ),
        (ActivityKind::Meeting, Visibility::Subject) => (
            "meeting",
            "body_html = '', fingerprint = '',
             content_level = case when content_level = 'full' then 'subject' else content_level end",
        ),
        (ActivityKind::Email, Visibility::Metadata) => (
            "email",
            "subject = '', body_html = '', body_preview = '', body_text = '', fingerprint = '',
             content_level = 'metadata'",
        ),
        (ActivityKind::Meeting, Visibility::Metadata) => (
            "meeting",
            "subject = '', body_html = '', location = null, online_meeting_url = null, fingerprint = '',
             content_level = 'metadata'",
        ),
    };
    let statement = || {
        let mut query = sqlx::QueryBuilder::<Db>::new(format!("update {table} set {set} where workspace_id = "));
        query.push_bind(ws.0);
        query
    };
    match scope {
        Scope::Everything => {
            statement().build().persistent(false).execute(&mut *conn).await?;
        }
        Scope::InternalOnly => {
            let mut query = statement();
            query.push(" and internal_only");
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        Scope::Ids(ids) => {
            for chunk in ids.chunks(rows_per_statement(1)).filter(|c| !c.is_empty()) {
                let mut query = statement();
                query.push(" and id in ");
                push_list(&mut query, chunk.iter().copied());
                query.build().persistent(false).execute(&mut *conn).await?;
            }
        }
    }
    Ok(())
}

/// Blocks an address or `@domain` and purges what was stored because of it.
#[operation]
pub(crate) async fn add_block(pool: &Pool, ws: WorkspaceId, entry: &BlockEntry, actor: &str) -> Result<PurgeCounts> {
    let mut tx = begin_write(pool).await?;
    sqlx::query(
        "insert into blocklist (workspace_id, entry, created_at) values ($1, $2, $3)
         on conflict (workspace_id, entry) do nothing",
    )
    .bind(ws.0)
    .bind(entry.as_str())
    .bind(now())
    .execute(&mut *tx)
    .await?;
    let (exact, under) = patterns(entry);
    let matches =
        |column: &str| format!("({column} = $2 or {column} like $3 escape '\\' or {column} like $4 escape '\\')");
    // Items with a matching person, then the contacts created for them.
    let statements = [
        format!(
            "delete from email where workspace_id = $1 and id in
                 (select email_id from email_participant where workspace_id = $1 and {})",
            matches("address")
        ),
        format!(
            "delete from meeting where workspace_id = $1 and ({} or id in
                 (select meeting_id from meeting_attendee where workspace_id = $1 and {}))",
            matches("organizer_address"),
            matches("address")
        ),
        format!(
            "delete from contact where workspace_id = $1 and source = 'auto' and id in
                 (select contact_id from contact_email where workspace_id = $1 and {})",
            matches("address")
        ),
    ];
    let mut deleted = [0u64; 3];
    for (sql, count) in statements.into_iter().zip(&mut deleted) {
        *count = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ws.0)
            .bind(&exact)
            .bind(&under.0)
            .bind(&under.1)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    let [emails, meetings, contacts] = deleted;
    let purged = PurgeCounts { emails, meetings, contacts };
    audit(&mut tx, ws, actor, "privacy.block", serde_json::json!({"entry": entry.as_str(), "purged": purged})).await?;
    tx.commit().await?;
    erase_freed(pool).await;
    Ok(purged)
}

/// `(exact, (like for the domain, like for its subdomains))`; an address
/// entry's patterns match nothing else.
fn patterns(entry: &BlockEntry) -> (String, (String, String)) {
    let e = entry.as_str();
    match e.strip_prefix('@') {
        Some(domain) => {
            let d = crate::query_text::like_escape(domain);
            (String::new(), (format!("%@{d}"), format!("%.{d}")))
        }
        None => (e.to_owned(), (String::new(), String::new())),
    }
}

#[operation]
pub(crate) async fn remove_block(pool: &Pool, ws: WorkspaceId, entry: &BlockEntry, actor: &str) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    let gone = sqlx::query("delete from blocklist where workspace_id = $1 and entry = $2")
        .bind(ws.0)
        .bind(entry.as_str())
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(StoreError::NotFound("blocklist entry"));
    }
    audit(&mut tx, ws, actor, "privacy.unblock", serde_json::json!({"entry": entry.as_str()})).await?;
    tx.commit().await?;
    Ok(())
}

/// Stops syncing a directory user's mailbox and deletes what only it held.
#[operation]
pub(crate) async fn exclude_mailbox(pool: &Pool, ws: WorkspaceId, user_id: &str, actor: &str) -> Result<PurgeCounts> {
    let mut tx = begin_write(pool).await?;
    let known: Option<String> = sqlx::query_scalar("select id from directory_user where workspace_id = $1 and id = $2")
        .bind(ws.0)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if known.is_none() {
        return Err(StoreError::NotFound("directory user"));
    }
    sqlx::query(
        "insert into excluded_mailbox (workspace_id, user_id, created_at) values ($1, $2, $3)
         on conflict (workspace_id, user_id) do nothing",
    )
    .bind(ws.0)
    .bind(user_id)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    let mailbox: Option<i64> = sqlx::query_scalar("select id from mailbox where workspace_id = $1 and user_id = $2")
        .bind(ws.0)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    let mut purged = PurgeCounts::default();
    if let Some(mailbox) = mailbox {
        purged.emails = sqlx::query(
            "delete from email where workspace_id = $1
               and id in (select email_id from email_copy where workspace_id = $1 and mailbox_id = $2)
               and not exists (select 1 from email_copy c where c.email_id = email.id and c.mailbox_id <> $2)",
        )
        .bind(ws.0)
        .bind(mailbox)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        purged.meetings = sqlx::query(
            "delete from meeting where workspace_id = $1
               and id in (select meeting_id from meeting_copy where workspace_id = $1 and mailbox_id = $2)
               and not exists (select 1 from meeting_copy c where c.meeting_id = meeting.id and c.mailbox_id <> $2)",
        )
        .bind(ws.0)
        .bind(mailbox)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Its copies, cursors and skipped items go with it.
        sqlx::query("delete from mailbox where workspace_id = $1 and id = $2")
            .bind(ws.0)
            .bind(mailbox)
            .execute(&mut *tx)
            .await?;
    }
    audit(&mut tx, ws, actor, "privacy.exclude_mailbox", serde_json::json!({"user_id": user_id, "purged": purged}))
        .await?;
    tx.commit().await?;
    erase_freed(pool).await;
    Ok(purged)
}

#[operation]
pub(crate) async fn include_mailbox(pool: &Pool, ws: WorkspaceId, user_id: &str, actor: &str) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    let gone = sqlx::query("delete from excluded_mailbox where workspace_id = $1 and user_id = $2")
        .bind(ws.0)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(StoreError::NotFound("excluded mailbox"));
    }
    audit(&mut tx, ws, actor, "privacy.include_mailbox", serde_json::json!({"user_id": user_id})).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes what is older than the retention period, if one is set (sync
/// calls this after each pass).
#[operation]
pub(crate) async fn purge_retention(pool: &Pool, ws: WorkspaceId, now: DateTime<Utc>) -> Result<PurgeCounts> {
    let mut tx = begin_write(pool).await?;
    let settings = read_settings(&mut tx, ws).await?;
    let purged = match cutoff(now, settings.retention_days) {
        Some(cutoff) => purge_before(&mut tx, ws, cutoff).await?,
        None => PurgeCounts::default(),
    };
    if purged != PurgeCounts::default() {
        audit(&mut tx, ws, "sync", "privacy.retention", serde_json::json!({"purged": purged})).await?;
    }
    tx.commit().await?;
    // Retention purges a little at every pass: merging the whole search
    // index each time would cost more than the rest of the pass, so its
    // words are erased at most once a day (they are unsearchable meanwhile).
    if purged != PurgeCounts::default() && erase_due(now) {
        erase_freed(pool).await;
    }
    Ok(purged)
}

/// The longest retention period: a century.
const MAX_RETENTION_DAYS: u32 = 36_500;

/// What is older than this goes; `None` keeps everything.
fn cutoff(now: DateTime<Utc>, retention_days: Option<u32>) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(Duration::try_days(i64::from(retention_days?))?)
}

async fn purge_before(conn: &mut Conn, ws: WorkspaceId, cutoff: DateTime<Utc>) -> Result<PurgeCounts> {
    let emails = sqlx::query("delete from email where workspace_id = $1 and sent_at < $2")
        .bind(ws.0)
        .bind(cutoff)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let meetings = sqlx::query("delete from meeting where workspace_id = $1 and end_at < $2")
        .bind(ws.0)
        .bind(cutoff)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(PurgeCounts { emails, meetings, contacts: 0 })
}

/// Removes the integration and everything synced through it: mail,
/// meetings, mailboxes and cursors, the directory, and the contacts that
/// sync created. People's own contacts and the privacy policy stay.
#[operation]
pub(crate) async fn disconnect(pool: &Pool, ws: WorkspaceId, actor: &str) -> Result<PurgeCounts> {
    let mut tx = begin_write(pool).await?;
    let emails =
        sqlx::query("delete from email where workspace_id = $1").bind(ws.0).execute(&mut *tx).await?.rows_affected();
    let meetings =
        sqlx::query("delete from meeting where workspace_id = $1").bind(ws.0).execute(&mut *tx).await?.rows_affected();
    let contacts = sqlx::query("delete from contact where workspace_id = $1 and source = 'auto'")
        .bind(ws.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let purged = PurgeCounts { emails, meetings, contacts };
    for table in [
        "mailbox",
        "group_member",
        "directory_group",
        "directory_role_member",
        "directory_role",
        "directory_user",
        "tenant_domain",
        "integration",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("delete from {table} where workspace_id = $1")))
            .bind(ws.0)
            .execute(&mut *tx)
            .await?;
    }
    audit(&mut tx, ws, actor, "integration.disconnect", serde_json::json!({"purged": purged})).await?;
    tx.commit().await?;
    erase_freed(pool).await;
    Ok(purged)
}

/// After a purge: makes what it deleted unrecoverable from the database
/// files. SQLite runs with `secure_delete` on, so deleted rows are zeroed
/// in their pages. The full-text indexes are contentless, so a deleted
/// row's words stay in their segments, marked deleted, until the segments
/// are merged: `optimize` merges them all now. Last, the write-ahead log
/// still holds pages as they were: a checkpoint copies the zeroed pages
/// into the database and truncates the log. Best effort: a reader that
/// holds an old snapshot keeps the log until the next checkpoint.
/// PostgreSQL keeps dead row versions until VACUUM reuses their space
/// (docs/contacts-and-timeline.md says what that guarantees).
/// Whether a day has passed since retention last erased, in this process.
fn erase_due(now: DateTime<Utc>) -> bool {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let last = LAST.load(Ordering::Relaxed);
    let due = last == i64::MIN || now.timestamp() - last >= 24 * 3600;
    if due {
        LAST.store(now.timestamp(), Ordering::Relaxed);
    }
    due
}

pub(crate) async fn erase_freed(pool: &Pool) {
    if BACKEND != Backend::Sqlite {
        return;
    }
    for sql in [
        "insert into email_fts (email_fts) values ('optimize')",
        "insert into meeting_fts (meeting_fts) values ('optimize')",
        "pragma wal_checkpoint(truncate)",
    ] {
        if let Err(e) = sqlx::query(sql).execute(pool).await {
            tracing::warn!(error = %e, "could not erase what a purge deleted from the database files");
        }
    }
}

/// The newest audit entries first.
#[operation]
pub(crate) async fn audit_log(pool: &Pool, ws: WorkspaceId, limit: u32) -> Result<Vec<AuditEntry>> {
    type AuditRow = (DateTime<Utc>, String, String, Option<sqlx::types::Json<serde_json::Value>>);
    let rows: Vec<AuditRow> = sqlx::query_as(
        "select at, actor, action, detail from audit_log where workspace_id = $1 order by at desc, id desc limit $2",
    )
    .bind(ws.0)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, actor, action, detail)| AuditEntry { at, actor, action, detail: detail.map(|d| d.0) })
        .collect())
}

/// Writes an audit entry inside the caller's transaction.
pub(crate) async fn audit(
    conn: &mut Conn,
    ws: WorkspaceId,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query("insert into audit_log (workspace_id, at, actor, action, detail) values ($1, $2, $3, $4, $5)")
        .bind(ws.0)
        .bind(now())
        .bind(actor)
        .bind(action)
        .bind(sqlx::types::Json(detail))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records that the emails or meetings `ids`, just written, hold what the
/// workspace's current policy keeps of them (sync minimised them to it):
/// its visibility level, or metadata for internal-only items it does not keep.
pub(crate) async fn set_content_level(conn: &mut Conn, ws: WorkspaceId, table: &str, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let settings = read_settings(&mut *conn, ws).await?;
    let level = settings.visibility;
    let internal = tac_core::privacy::level_for(level, settings.keep_internal, true);
    for chunk in ids.chunks(rows_per_statement(1)) {
        let mut query =
            sqlx::QueryBuilder::<Db>::new(format!("update {table} set content_level = case when internal_only then "));
        query.push_bind(internal.as_str()).push(" else ").push_bind(level.as_str()).push(" end");
        query.push(" where workspace_id = ").push_bind(ws.0).push(" and id in ");
        push_list(&mut query, chunk.iter().copied());
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}
