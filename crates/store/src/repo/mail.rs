/*!
Mail ingest: what page ingest (`ingest.rs`) needs to know about email.

An email is stored once per workspace, by Message-ID, with its
participants; each mailbox holding it has one copy per immutable id, in a
folder. A copy keeps its row when it moves between folders (the same
immutable id), and a removal from one folder's delta only removes a copy
still in that folder. The SQL of each step is here, in the module that
owns the `email`, `email_participant` and `email_copy` tables.
*/

use super::activity::link_emails;
use super::ingest::{Changed, CopyChange, Kind, Page, PageItem, PlannedCopy, StoredItem, apply_page};
use super::{BACKEND, Conn, Db, Pool, count, lock_in_order, push_list, rows_per_statement};
use crate::error::{Result, StoreError};
use crate::fingerprint;
use crate::types::{Backend, CursorScope, EmailCopyRow, MailboxId, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::{HashMap, HashSet};
use tac_core::contacts::AutoCreateCandidate;
use tac_core::records::{EmailCopy, EmailRecord, Participant, ParticipantRole};
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

/// Applies one `messages/delta` page of `folder_id` and saves `cursor`
/// with what its round has done (`round`), all in one transaction
/// (`ingest.rs`). Every copy must be in `folder_id`. The contacts the
/// auto-creation policy chose are created (when new) in the same
/// transaction, and the page's emails join the timelines of every contact
/// among their participants.
#[allow(clippy::too_many_arguments, reason = "one page: its rows, removals, new contacts, cursor and round")]
#[operation]
pub(crate) async fn apply_mail_page(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    folder_id: &str,
    upserts: &[(EmailRecord, EmailCopy)],
    removed_graph_ids: &[String],
    new_contacts: &[AutoCreateCandidate],
    cursor: &SyncCursor,
    round: RoundState,
) -> Result<PageOutcome> {
    if let Some((_, copy)) = upserts.iter().find(|(_, copy)| copy.folder_id != folder_id) {
        return Err(StoreError::InvalidInput(format!(
            "copy {} is in folder {} but the page is for folder {folder_id}",
            copy.graph_id, copy.folder_id
        )));
    }
    let page =
        Page::<Mail> { scope: CursorScope::Folder(folder_id), upserts, removed_graph_ids, new_contacts, cursor, round };
    apply_page(pool, ws, mailbox, page).await
}

/// Mail, as page ingest sees it: emails by Message-ID, with participants,
/// and copies that can move between folders.
pub(super) struct Mail;

impl Kind for Mail {
    type Record = EmailRecord;
    type Copy = EmailCopy;
    type StoredCopy = StoredCopy;

    const ACTIVITY: ActivityKind = ActivityKind::Email;
    const TABLE: &'static str = "email";
    const COPY_TABLE: &'static str = "email_copy";
    const COPY_NAME: &'static str = "email copy";

    fn key(record: &EmailRecord) -> &str {
        &record.internet_message_id
    }

    fn graph_id(copy: &EmailCopy) -> &str {
        &copy.graph_id
    }

    fn sticky(_: &EmailRecord) -> bool {
        false
    }

    fn fingerprint(record: &EmailRecord, _: bool) -> String {
        fingerprint::email(record)
    }

    async fn stored(conn: &mut Conn, ws: WorkspaceId, keys: &[&str]) -> Result<HashMap<String, StoredItem>> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(rows_per_statement(1)) {
            let mut query = QueryBuilder::<Db>::new(
                "select id, internet_message_id as key, fingerprint, false as sticky from email where workspace_id = ",
            );
            query.push_bind(ws.0).push(" and internet_message_id in ");
            push_list(&mut query, chunk.iter().copied());
            let rows: Vec<StoredItem> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
            found.extend(rows.into_iter().map(|row| (row.key.clone(), row)));
        }
        Ok(found)
    }

    /// Inserts the emails, skipping any that another transaction inserted
    /// meanwhile. Returns the ids of those inserted, by Message-ID.
    async fn insert(
        conn: &mut Conn,
        ws: WorkspaceId,
        emails: &[&PageItem<'_, Mail>],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, i64>> {
        let mut inserted = HashMap::with_capacity(emails.len());
        // SQLite: oldest first, so that the time-ordered FTS rowids (migration
        // 0005) arrive ascending and FTS5 buffers the page in memory; a smaller
        // rowid than the last would make it write a segment per email.
        // PostgreSQL keeps Message-ID order, which orders its index locks.
        let mut emails = emails.to_vec();
        if BACKEND == Backend::Sqlite {
            emails.sort_by_key(|e| e.record.sent_at);
        }
        for chunk in emails.chunks(rows_per_statement(EMAIL_INSERT_BINDS)) {
            let mut query = QueryBuilder::<Db>::new(
                "insert into email (
                     workspace_id, internet_message_id, conversation_id, subject, body_html, body_preview, body_text,
                     sent_at, received_at, has_attachments, importance, is_private, meeting_message_type, internal_only,
                     fingerprint, created_at, updated_at) ",
            );
            query.push_values(chunk, |mut row, email| {
                row.push_bind(ws.0).push_bind(email.record.internet_message_id.as_str());
                push_email_columns(&mut row, email.record, &email.fingerprint);
                row.push_bind(now).push_bind(now);
            });
            query.push(" on conflict (workspace_id, internet_message_id) do nothing returning id, internet_message_id");
            let rows: Vec<(i64, String)> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
            inserted.extend(rows.into_iter().map(|(id, message_id)| (message_id, id)));
        }
        Ok(inserted)
    }

    /// Rewrites the changed emails (in Message-ID order), a batch per statement.
    async fn update(
        conn: &mut Conn,
        ws: WorkspaceId,
        changed: &[Changed<'_, '_, Mail>],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = changed.iter().map(|change| change.id).collect();
        lock_in_order(conn, "email", "internet_message_id", &ids).await?;
        for chunk in changed.chunks(rows_per_statement(EMAIL_UPDATE_BINDS)) {
            let mut query = QueryBuilder::<Db>::new(
                "with page (
                     id, conversation_id, subject, body_html, body_preview, body_text, sent_at, received_at,
                     has_attachments, importance, is_private, meeting_message_type, internal_only, fingerprint) as (",
            );
            query.push_values(chunk, |mut row, change| {
                row.push_bind(change.id);
                push_email_columns(&mut row, change.record(), &change.fingerprint);
            });
            query
                .push(
                    ")
                     update email set
                         conversation_id = page.conversation_id, subject = page.subject, body_html = page.body_html,
                         body_preview = page.body_preview, body_text = page.body_text, sent_at = page.sent_at,
                         received_at = page.received_at, has_attachments = page.has_attachments,
                         importance = page.importance, is_private = page.is_private,
                         meeting_message_type = page.meeting_message_type, internal_only = page.internal_only,
                         fingerprint = page.fingerprint,
                         updated_at = ",
                )
                .push_bind(now)
                .push(" from page where email.workspace_id = ")
                .push_bind(ws.0)
                .push(" and email.id = page.id");
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn write_people(
        conn: &mut Conn,
        ws: WorkspaceId,
        changed: &[Changed<'_, '_, Mail>],
        new: &[(i64, &EmailRecord)],
    ) -> Result<()> {
        let mut inserts: Vec<(i64, &Participant)> =
            new.iter().flat_map(|(id, record)| distinct_participants(&record.participants).map(|p| (*id, p))).collect();
        rewrite_participants(conn, changed, &mut inserts).await?;
        insert_participants(conn, ws, &inserts).await
    }

    async fn link(conn: &mut Conn, ws: WorkspaceId, ids: &[i64]) -> Result<()> {
        link_emails(conn, ws, ids).await
    }

    /// The mailbox's stored copies among `graph_ids`, by graph id.
    async fn stored_copies(
        conn: &mut Conn,
        ws: WorkspaceId,
        mailbox: MailboxId,
        graph_ids: &[&str],
    ) -> Result<HashMap<String, StoredCopy>> {
        let mut found = HashMap::with_capacity(graph_ids.len());
        for chunk in graph_ids.chunks(rows_per_statement(1)) {
            let mut query = QueryBuilder::<Db>::new(
                "select id, graph_id, email_id, folder_id, direction, is_read, removed_at is not null as removed
                 from email_copy
                 where workspace_id = ",
            );
            query.push_bind(ws.0).push(" and mailbox_id = ").push_bind(mailbox.0).push(" and graph_id in ");
            push_list(&mut query, chunk.iter().copied());
            let rows: Vec<StoredCopy> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
            found.extend(rows.into_iter().map(|row| (row.graph_id.clone(), row)));
        }
        Ok(found)
    }

    fn stored_copy_id(row: &StoredCopy) -> i64 {
        row.id
    }

    fn stored_change(row: &StoredCopy, email_id: i64, copy: &EmailCopy) -> CopyChange {
        copy_change((&row.folder_id, row.email_id, &row.direction, row.is_read, row.removed), email_id, copy)
    }

    fn page_change((earlier_id, earlier): (i64, &EmailCopy), email_id: i64, copy: &EmailCopy) -> CopyChange {
        let current = (earlier.folder_id.as_str(), earlier_id, earlier.direction.as_str(), earlier.is_read, false);
        copy_change(current, email_id, copy)
    }

    /// Inserts the copies, skipping any that another transaction inserted
    /// meanwhile. Returns the graph ids of those inserted.
    async fn insert_copies(
        conn: &mut Conn,
        ws: WorkspaceId,
        mailbox: MailboxId,
        copies: &[&PlannedCopy<'_, Mail>],
        now: DateTime<Utc>,
    ) -> Result<HashSet<String>> {
        let mut inserted = HashSet::with_capacity(copies.len());
        for chunk in copies.chunks(rows_per_statement(COPY_INSERT_BINDS)) {
            let mut query = QueryBuilder::<Db>::new(
                "insert into email_copy (
                     workspace_id, mailbox_id, email_id, graph_id, folder_id, direction, is_read, created_at, updated_at) ",
            );
            query.push_values(chunk, |mut row, plan| {
                row.push_bind(ws.0)
                    .push_bind(mailbox.0)
                    .push_bind(plan.item_id)
                    .push_bind(plan.copy.graph_id.as_str())
                    .push_bind(plan.copy.folder_id.as_str())
                    .push_bind(plan.copy.direction.as_str())
                    .push_bind(plan.copy.is_read)
                    .push_bind(now)
                    .push_bind(now);
            });
            query.push(" on conflict (workspace_id, mailbox_id, graph_id) do nothing returning graph_id");
            let rows: Vec<String> = query.build_query_scalar().persistent(false).fetch_all(&mut *conn).await?;
            inserted.extend(rows);
        }
        Ok(inserted)
    }

    /// Rewrites copies (in graph id order), a batch per statement. A move
    /// keeps the row (same immutable id) and only changes its folder.
    async fn update_copies(
        conn: &mut Conn,
        updates: &[(i64, &PlannedCopy<'_, Mail>)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
        lock_in_order(conn, "email_copy", "graph_id", &ids).await?;
        for chunk in updates.chunks(rows_per_statement(COPY_UPDATE_BINDS)) {
            let mut query = QueryBuilder::<Db>::new("with page (id, email_id, folder_id, direction, is_read) as (");
            query.push_values(chunk, |mut row, (id, plan)| {
                row.push_bind(*id)
                    .push_bind(plan.item_id)
                    .push_bind(plan.copy.folder_id.as_str())
                    .push_bind(plan.copy.direction.as_str())
                    .push_bind(plan.copy.is_read);
            });
            query
                .push(
                    ")
                     update email_copy set
                         email_id = page.email_id, folder_id = page.folder_id, direction = page.direction,
                         is_read = page.is_read, removed_at = null, updated_at = ",
                )
                .push_bind(now)
                .push(" from page where email_copy.id = page.id");
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// The columns an insert and an update of an email both write, from
/// `conversation_id` to `fingerprint`, in the order both statements list.
fn push_email_columns(
    row: &mut sqlx::query_builder::Separated<'_, Db, &'static str>,
    e: &EmailRecord,
    fingerprint: &str,
) {
    row.push_bind(e.conversation_id.as_deref())
        .push_bind(e.subject.as_str())
        .push_bind(e.body_html.as_str())
        .push_bind(e.body_preview.as_str())
        .push_bind(tac_core::text::html_to_text(&e.body_html))
        .push_bind(e.sent_at)
        .push_bind(e.received_at)
        .push_bind(e.has_attachments)
        .push_bind(e.importance.as_str())
        .push_bind(e.is_private)
        .push_bind(e.meeting_message_type.as_deref())
        .push_bind(e.internal_only)
        .push_bind(fingerprint);
}

const EMAIL_INSERT_BINDS: usize = 17;

const EMAIL_UPDATE_BINDS: usize = 14;

/// The participants an email stores: one per role and address, the first
/// name given wins, in the order given.
fn distinct_participants(participants: &[Participant]) -> impl Iterator<Item = &Participant> {
    participants
        .iter()
        .enumerate()
        .filter(|(n, p)| !participants[..*n].iter().any(|w| w.role == p.role && w.address == p.address))
        .map(|(_, p)| p)
}

/// Makes the changed emails' participants exactly their records' ones,
/// touching only rows that differ so that ids and contact links of
/// unchanged participants survive. Rows to insert are added to `inserts`.
async fn rewrite_participants<'a>(
    conn: &mut Conn,
    changed: &[Changed<'_, 'a, Mail>],
    inserts: &mut Vec<(i64, &'a Participant)>,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    type Stored = HashMap<(String, String), (i64, String)>;
    let mut stored: HashMap<i64, Stored> = HashMap::with_capacity(changed.len());
    for chunk in changed.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(
            "select id, email_id, role, address, name from email_participant where email_id in ",
        );
        push_list(&mut query, chunk.iter().map(|change| change.id));
        let rows: Vec<(i64, i64, String, String, String)> =
            query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        for (id, email_id, role, address, name) in rows {
            stored.entry(email_id).or_default().insert((role, address), (id, name));
        }
    }
    let mut renames: Vec<(i64, &str)> = Vec::new();
    let mut deletes: Vec<i64> = Vec::new();
    for change in changed {
        let email_id = &change.id;
        let mut by_key = stored.remove(email_id).unwrap_or_default();
        for p in distinct_participants(&change.record().participants) {
            match by_key.remove(&(p.role.as_str().to_owned(), p.address.clone())) {
                Some((_, name)) if name == p.name => {}
                Some((id, _)) => renames.push((id, &p.name)),
                None => inserts.push((*email_id, p)),
            }
        }
        deletes.extend(by_key.into_values().map(|(id, _)| id));
    }
    for (id, name) in renames {
        sqlx::query("update email_participant set name = $1 where id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    for chunk in deletes.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new("delete from email_participant where id in ");
        push_list(&mut query, chunk.iter().copied());
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

const PARTICIPANT_INSERT_BINDS: usize = 5;

/// Inserts participants; each email's in the order given, so that ids
/// keep that order.
async fn insert_participants(conn: &mut Conn, ws: WorkspaceId, participants: &[(i64, &Participant)]) -> Result<()> {
    for chunk in participants.chunks(rows_per_statement(PARTICIPANT_INSERT_BINDS)) {
        let mut query =
            QueryBuilder::<Db>::new("insert into email_participant (workspace_id, email_id, role, address, name) ");
        query.push_values(chunk, |mut row, (email_id, p)| {
            row.push_bind(ws.0)
                .push_bind(*email_id)
                .push_bind(p.role.as_str())
                .push_bind(p.address.as_str())
                .push_bind(p.name.as_str());
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(super) struct StoredCopy {
    id: i64,
    graph_id: String,
    email_id: i64,
    folder_id: String,
    direction: String,
    is_read: bool,
    removed: bool,
}

/// Compares a copy as it is (folder, email, direction, read, removed)
/// with the incoming one. A move keeps the row (same immutable id) and only
/// changes its folder.
fn copy_change(current: (&str, i64, &str, bool, bool), email_id: i64, copy: &EmailCopy) -> CopyChange {
    let (folder_id, current_email_id, direction, is_read, removed) = current;
    let moved = folder_id != copy.folder_id;
    let changed = current_email_id != email_id || direction != copy.direction.as_str() || is_read != copy.is_read;
    if removed {
        CopyChange::Restored
    } else if moved {
        CopyChange::Moved
    } else if changed {
        CopyChange::Updated
    } else {
        CopyChange::Unchanged
    }
}

const COPY_UPDATE_BINDS: usize = 5;

const COPY_INSERT_BINDS: usize = 9;

/// Deduplicated emails in the workspace.
#[operation]
pub(crate) async fn email_count(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    let n: i64 =
        sqlx::query_scalar("select count(*) from email where workspace_id = $1").bind(ws.0).fetch_one(pool).await?;
    Ok(count(n))
}

/// The mailbox's email copies, removed ones included, by Graph id.
#[operation]
pub(crate) async fn email_copies(pool: &Pool, ws: WorkspaceId, mailbox: MailboxId) -> Result<Vec<EmailCopyRow>> {
    let rows: Vec<(String, String, String, String, bool, bool)> = sqlx::query_as(
        "select c.graph_id, e.internet_message_id, c.folder_id, c.direction, c.is_read,
                c.removed_at is not null as removed
         from email_copy c
         join email e on e.workspace_id = c.workspace_id and e.id = c.email_id
         where c.workspace_id = $1 and c.mailbox_id = $2
         order by c.graph_id",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(graph_id, internet_message_id, folder_id, direction, is_read, removed)| {
            Ok(EmailCopyRow {
                graph_id,
                internet_message_id,
                folder_id,
                direction: direction.parse().map_err(|e| StoreError::corrupt("email_copy.direction", e))?,
                is_read,
                removed,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct EmailDbRow {
    id: i64,
    internet_message_id: String,
    conversation_id: Option<String>,
    subject: String,
    body_html: String,
    body_preview: String,
    sent_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    has_attachments: bool,
    importance: String,
    is_private: bool,
    meeting_message_type: Option<String>,
    internal_only: bool,
}

/// The stored email with its participants (in the order first stored).
#[operation]
pub(crate) async fn email_by_message_id(
    pool: &Pool,
    ws: WorkspaceId,
    internet_message_id: &str,
) -> Result<Option<EmailRecord>> {
    let row: Option<EmailDbRow> = sqlx::query_as(
        "select id, internet_message_id, conversation_id, subject, body_html, body_preview, sent_at,
                received_at, has_attachments, importance, is_private, meeting_message_type, internal_only
         from email
         where workspace_id = $1 and internet_message_id = $2",
    )
    .bind(ws.0)
    .bind(internet_message_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let participants: Vec<(String, String, String)> =
        sqlx::query_as("select role, address, name from email_participant where email_id = $1 order by id")
            .bind(row.id)
            .fetch_all(pool)
            .await?;
    let participants = participants
        .into_iter()
        .map(|(role, address, name)| {
            let role: ParticipantRole = role.parse().map_err(|e| StoreError::corrupt("email_participant.role", e))?;
            Ok(Participant { role, address, name })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(EmailRecord {
        internet_message_id: row.internet_message_id,
        conversation_id: row.conversation_id,
        subject: row.subject,
        body_html: row.body_html,
        body_preview: row.body_preview,
        sent_at: row.sent_at,
        received_at: row.received_at,
        has_attachments: row.has_attachments,
        importance: row.importance,
        is_private: row.is_private,
        meeting_message_type: row.meeting_message_type,
        participants,
        internal_only: row.internal_only,
    }))
}
