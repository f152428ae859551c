/*!
Mail ingest: one Graph delta page per transaction, cursor included.

An email is stored once per workspace (by Message-ID); each mailbox holding
it has one copy per immutable id. Every write below is conditional on a
difference, so replaying a page (after a crash between commit and the next
fetch, or a delta round that repeats items) changes no row at all.
*/

use super::{Conn, Pool, begin_write, count, ensure_mailbox, now, write_cursor};
use crate::error::{Result, StoreError};
use crate::types::{CursorScope, EmailCopyRow, MailboxId, PageOutcome, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tac_core::records::{EmailCopy, EmailRecord, Participant, ParticipantRole};

pub(crate) async fn apply_mail_page(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    folder_id: &str,
    upserts: &[(EmailRecord, EmailCopy)],
    removed_graph_ids: &[String],
    cursor: &SyncCursor,
) -> Result<PageOutcome> {
    if let Some((_, copy)) = upserts.iter().find(|(_, copy)| copy.folder_id != folder_id) {
        return Err(StoreError::InvalidInput(format!(
            "copy {} is in folder {} but the page is for folder {folder_id}",
            copy.graph_id, copy.folder_id
        )));
    }
    let now = now();
    let mut outcome = PageOutcome::default();
    let mut tx = begin_write(pool).await?;
    ensure_mailbox(&mut tx, ws, mailbox).await?;
    // Rows are locked in Message-ID order, so two mailboxes ingesting
    // overlapping pages at once (PostgreSQL) wait for each other instead of
    // deadlocking.
    let mut ordered: Vec<&(EmailRecord, EmailCopy)> = upserts.iter().collect();
    ordered.sort_by(|a, b| a.0.internet_message_id.cmp(&b.0.internet_message_id));
    for (email, copy) in ordered {
        let (email_id, added) = upsert_email(&mut tx, ws, email, now).await?;
        if added {
            outcome.records_added += 1;
        } else {
            outcome.records_existing += 1;
        }
        replace_participants(&mut tx, ws, email_id, &email.participants).await?;
        upsert_copy(&mut tx, ws, mailbox, email_id, copy, now, &mut outcome).await?;
    }
    for graph_id in removed_graph_ids {
        // Only a copy still in this folder: when a move was already applied
        // from the destination folder's delta, the source folder's
        // `@removed` for the same immutable id must not undo it.
        let removed = sqlx::query(
            "update email_copy set removed_at = $1, updated_at = $1
             where workspace_id = $2 and mailbox_id = $3 and graph_id = $4 and folder_id = $5
               and removed_at is null",
        )
        .bind(now)
        .bind(ws.0)
        .bind(mailbox.0)
        .bind(graph_id)
        .bind(folder_id)
        .execute(&mut *tx)
        .await?;
        outcome.copies_removed += removed.rows_affected();
    }
    write_cursor(&mut tx, ws, mailbox, CursorScope::Folder(folder_id), cursor, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Inserts the email or updates it where it differs. Returns its id and
/// whether it was new.
async fn upsert_email(
    conn: &mut Conn,
    ws: WorkspaceId,
    email: &EmailRecord,
    now: DateTime<Utc>,
) -> Result<(i64, bool)> {
    let body_text = tac_core::text::html_to_text(&email.body_html);
    let existing: Option<i64> =
        sqlx::query_scalar("select id from email where workspace_id = $1 and internet_message_id = $2")
            .bind(ws.0)
            .bind(&email.internet_message_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(id) = existing {
        sqlx::query(
            "update email set
                 conversation_id = $1, subject = $2, body_html = $3, body_preview = $4, body_text = $5,
                 sent_at = $6, received_at = $7, has_attachments = $8, importance = $9, is_private = $10,
                 meeting_message_type = $11, updated_at = $12
             where workspace_id = $13 and id = $14
               and (conversation_id is distinct from $1 or subject <> $2 or body_html <> $3
                    or body_preview <> $4 or body_text <> $5 or sent_at <> $6 or received_at <> $7
                    or has_attachments <> $8 or importance <> $9 or is_private <> $10
                    or meeting_message_type is distinct from $11)",
        )
        .bind(email.conversation_id.as_deref())
        .bind(&email.subject)
        .bind(&email.body_html)
        .bind(&email.body_preview)
        .bind(&body_text)
        .bind(email.sent_at)
        .bind(email.received_at)
        .bind(email.has_attachments)
        .bind(&email.importance)
        .bind(email.is_private)
        .bind(email.meeting_message_type.as_deref())
        .bind(now)
        .bind(ws.0)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        return Ok((id, false));
    }
    // `on conflict` covers another transaction inserting the same email
    // between the select and here (PostgreSQL, two mailboxes at once).
    let id: i64 = sqlx::query_scalar(
        "insert into email (
             workspace_id, internet_message_id, conversation_id, subject, body_html, body_preview, body_text,
             sent_at, received_at, has_attachments, importance, is_private, meeting_message_type,
             created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
         on conflict (workspace_id, internet_message_id) do update set
             conversation_id = excluded.conversation_id,
             subject = excluded.subject,
             body_html = excluded.body_html,
             body_preview = excluded.body_preview,
             body_text = excluded.body_text,
             sent_at = excluded.sent_at,
             received_at = excluded.received_at,
             has_attachments = excluded.has_attachments,
             importance = excluded.importance,
             is_private = excluded.is_private,
             meeting_message_type = excluded.meeting_message_type,
             updated_at = excluded.updated_at
         returning id",
    )
    .bind(ws.0)
    .bind(&email.internet_message_id)
    .bind(email.conversation_id.as_deref())
    .bind(&email.subject)
    .bind(&email.body_html)
    .bind(&email.body_preview)
    .bind(&body_text)
    .bind(email.sent_at)
    .bind(email.received_at)
    .bind(email.has_attachments)
    .bind(&email.importance)
    .bind(email.is_private)
    .bind(email.meeting_message_type.as_deref())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, true))
}

/// Makes the email's participants exactly `participants` (one per role and
/// address; the first name given wins), touching only rows that differ so
/// that ids and contact links of unchanged participants survive.
async fn replace_participants(
    conn: &mut Conn,
    ws: WorkspaceId,
    email_id: i64,
    participants: &[Participant],
) -> Result<()> {
    let mut wanted: Vec<&Participant> = Vec::with_capacity(participants.len());
    for p in participants {
        if !wanted.iter().any(|w| w.role == p.role && w.address == p.address) {
            wanted.push(p);
        }
    }
    let existing: Vec<(i64, String, String, String)> =
        sqlx::query_as("select id, role, address, name from email_participant where email_id = $1 order by id")
            .bind(email_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut by_key: HashMap<(String, String), (i64, String)> =
        existing.into_iter().map(|(id, role, address, name)| ((role, address), (id, name))).collect();

    for p in wanted {
        let key = (p.role.as_str().to_owned(), p.address.clone());
        match by_key.remove(&key) {
            Some((_, name)) if name == p.name => {}
            Some((id, _)) => {
                sqlx::query("update email_participant set name = $1 where id = $2")
                    .bind(&p.name)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            None => {
                sqlx::query(
                    "insert into email_participant (workspace_id, email_id, role, address, name)
                     values ($1, $2, $3, $4, $5)",
                )
                .bind(ws.0)
                .bind(email_id)
                .bind(p.role.as_str())
                .bind(&p.address)
                .bind(&p.name)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    for (_, (id, _)) in by_key {
        sqlx::query("delete from email_participant where id = $1").bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StoredCopy {
    id: i64,
    email_id: i64,
    folder_id: String,
    direction: String,
    is_read: bool,
    removed: bool,
}

async fn upsert_copy(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    email_id: i64,
    copy: &EmailCopy,
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
) -> Result<()> {
    let stored: Option<StoredCopy> = sqlx::query_as(
        "select id, email_id, folder_id, direction, is_read, removed_at is not null as removed
         from email_copy
         where workspace_id = $1 and mailbox_id = $2 and graph_id = $3",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .bind(&copy.graph_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(stored) = stored else {
        sqlx::query(
            "insert into email_copy (
                 workspace_id, mailbox_id, email_id, graph_id, folder_id, direction, is_read,
                 created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(ws.0)
        .bind(mailbox.0)
        .bind(email_id)
        .bind(&copy.graph_id)
        .bind(&copy.folder_id)
        .bind(copy.direction.as_str())
        .bind(copy.is_read)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        outcome.copies_added += 1;
        return Ok(());
    };
    let moved = stored.folder_id != copy.folder_id;
    let changed =
        stored.email_id != email_id || stored.direction != copy.direction.as_str() || stored.is_read != copy.is_read;
    if !(moved || changed || stored.removed) {
        outcome.copies_unchanged += 1;
        return Ok(());
    }
    // A move keeps the row (same immutable id) and only changes its folder.
    sqlx::query(
        "update email_copy
         set email_id = $1, folder_id = $2, direction = $3, is_read = $4, removed_at = null, updated_at = $5
         where id = $6",
    )
    .bind(email_id)
    .bind(&copy.folder_id)
    .bind(copy.direction.as_str())
    .bind(copy.is_read)
    .bind(now)
    .bind(stored.id)
    .execute(&mut *conn)
    .await?;
    if stored.removed {
        outcome.copies_restored += 1;
    } else if moved {
        outcome.copies_moved += 1;
    } else {
        outcome.copies_updated += 1;
    }
    Ok(())
}

pub(crate) async fn email_count(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    let n: i64 =
        sqlx::query_scalar("select count(*) from email where workspace_id = $1").bind(ws.0).fetch_one(pool).await?;
    Ok(count(n))
}

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
}

/// The stored email with its participants (in the order first stored).
pub(crate) async fn email_by_message_id(
    pool: &Pool,
    ws: WorkspaceId,
    internet_message_id: &str,
) -> Result<Option<EmailRecord>> {
    let row: Option<EmailDbRow> = sqlx::query_as(
        "select id, internet_message_id, conversation_id, subject, body_html, body_preview, sent_at,
                received_at, has_attachments, importance, is_private, meeting_message_type
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
    }))
}
