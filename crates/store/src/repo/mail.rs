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
use super::ingest::{CopyChange, Kind, Page, PersonRow, apply_page};
use super::{Conn, Db, Pool, count};
use crate::error::{Result, StoreError};
use crate::fingerprint;
use crate::types::{CursorScope, EmailCopyRow, MailboxId, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
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
    const KEY_COLUMN: &'static str = "internet_message_id";
    const STICKY_COLUMN: Option<&'static str> = None;
    const COLUMNS: &'static [&'static str] = &[
        "conversation_id",
        "subject",
        "body_html",
        "body_preview",
        "body_text",
        "sent_at",
        "received_at",
        "has_attachments",
        "importance",
        "is_private",
        "meeting_message_type",
        "internal_only",
        "fingerprint",
    ];
    const ITEM_COLUMN: &'static str = "email_id";
    const COPY_COLUMNS: &'static [&'static str] = &["folder_id", "direction", "is_read"];
    const PEOPLE_TABLE: &'static str = "email_participant";
    const PERSON_KEY: &'static [&'static str] = &["role", "address"];
    const PERSON_VALUES: &'static [&'static str] = &["name"];

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

    fn push_columns(row: &mut Separated<'_, Db, &'static str>, e: &EmailRecord, _: bool, fingerprint: &str) {
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

    fn happened_at(record: &EmailRecord) -> DateTime<Utc> {
        record.sent_at
    }

    fn people(record: &EmailRecord) -> impl Iterator<Item = PersonRow<'_>> {
        record.participants.iter().map(|p| vec![p.role.as_str(), p.address.as_str(), p.name.as_str()])
    }

    async fn link(conn: &mut Conn, ws: WorkspaceId, ids: &[i64]) -> Result<()> {
        link_emails(conn, ws, ids).await
    }

    fn stored_copy_id(row: &StoredCopy) -> i64 {
        row.id
    }

    fn stored_copy_graph_id(row: &StoredCopy) -> &str {
        &row.graph_id
    }

    fn stored_change(row: &StoredCopy, email_id: i64, copy: &EmailCopy) -> CopyChange {
        copy_change((&row.folder_id, row.email_id, &row.direction, row.is_read, row.removed), email_id, copy)
    }

    fn page_change((earlier_id, earlier): (i64, &EmailCopy), email_id: i64, copy: &EmailCopy) -> CopyChange {
        let current = (earlier.folder_id.as_str(), earlier_id, earlier.direction.as_str(), earlier.is_read, false);
        copy_change(current, email_id, copy)
    }

    fn push_copy_columns(row: &mut Separated<'_, Db, &'static str>, copy: &EmailCopy) {
        row.push_bind(copy.folder_id.as_str()).push_bind(copy.direction.as_str()).push_bind(copy.is_read);
    }
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
