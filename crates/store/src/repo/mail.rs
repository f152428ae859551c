/*!
Mail ingest: one Graph delta page per transaction, cursor included.

An email is stored once per workspace (by Message-ID); each mailbox holding
it has one copy per immutable id. A page costs a handful of statements
whatever its size (bind-parameter limits aside): one look-up per table for
what is already stored, then multi-row inserts for what is new and multi-row
updates for what changed. The rows and counts are those that applying the
page's items one by one, in Message-ID order, would give; the work in
between is done in memory.

Every write is conditional on a difference: an email whose stored
fingerprint (see `crate::fingerprint`) equals the incoming one is left alone
with its participants, so replaying a page, or meeting the same message in
another mailbox, changes no row at all.

On PostgreSQL two transactions may bring the same email or copy at once;
inserts skip rows that appeared since the look-up (`on conflict do
nothing`), which are then handled as existing ones, and updates lock their
rows in key order first.
*/

use super::activity::{hold_linking_lock, link_emails, unlink};
use super::contacts::auto_create_contacts;
use super::{
    BACKEND, Conn, Db, Pool, begin_write, count, ensure_mailbox, lock_in_order, now, push_list, rows_per_statement,
    write_cursor,
};
use crate::error::{Result, StoreError};
use crate::fingerprint;
use crate::types::{Backend, CursorScope, EmailCopyRow, MailboxId, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use tac_core::contacts::AutoCreateCandidate;
use tac_core::records::{EmailCopy, EmailRecord, Participant, ParticipantRole};
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

/// Applies one `messages/delta` page of `folder_id` and saves `cursor`
/// with what its round has done (`round`), all in one transaction. Every copy must be in `folder_id`. The
/// contacts the auto-creation policy chose are created (when new) in the
/// same transaction, and the page's emails join the timelines of every
/// contact among their participants.
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
    // Emails are written in Message-ID order, so two mailboxes ingesting
    // overlapping pages at once (PostgreSQL) wait for each other instead of
    // deadlocking. The sort is stable: items of one Message-ID keep their
    // order, and the last one wins. Fingerprints are computed before the
    // transaction takes the write lock.
    let mut ordered: Vec<&(EmailRecord, EmailCopy)> = upserts.iter().collect();
    ordered.sort_by(|a, b| a.0.internet_message_id.cmp(&b.0.internet_message_id));
    let emails = page_emails(&ordered);

    let now = now();
    let mut outcome = PageOutcome::default();
    let mut tx = begin_write(pool).await?;
    hold_linking_lock(&mut tx, ws).await?;
    ensure_mailbox(&mut tx, ws, mailbox).await?;
    let mut touched = Vec::new();
    let email_ids = write_emails(&mut tx, ws, &emails, now, &mut outcome, &mut touched).await?;
    write_copies(&mut tx, ws, mailbox, &ordered, &email_ids, now, &mut outcome).await?;
    // Timelines: changed emails are relinked from scratch (their people or
    // time may differ); new contacts bring their whole history.
    super::privacy::set_content_level(&mut tx, ws, "email", &touched).await?;
    unlink(&mut tx, ActivityKind::Email, &touched).await?;
    auto_create_contacts(&mut tx, ws, new_contacts).await?;
    link_emails(&mut tx, ws, &touched).await?;
    outcome.copies_removed = remove_copies(&mut tx, ws, mailbox, folder_id, removed_graph_ids, now).await?;
    write_cursor(&mut tx, ws, mailbox, CursorScope::Folder(folder_id), cursor, round, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The page's items for one Message-ID.
struct PageEmail<'a> {
    /// The last record given: what applying the items one by one leaves.
    record: &'a EmailRecord,
    /// How many items carry this Message-ID (a mailbox may hold a message
    /// twice, under two immutable ids).
    items: u64,
    fingerprint: String,
}

impl PageEmail<'_> {
    fn message_id(&self) -> &str {
        &self.record.internet_message_id
    }
}

/// Groups the items (sorted by Message-ID) by Message-ID.
fn page_emails<'a>(ordered: &[&'a (EmailRecord, EmailCopy)]) -> Vec<PageEmail<'a>> {
    let mut emails: Vec<PageEmail<'a>> = Vec::with_capacity(ordered.len());
    for (record, _) in ordered.iter().copied() {
        match emails.last_mut() {
            Some(last) if last.record.internet_message_id == record.internet_message_id => {
                last.record = record;
                last.items += 1;
            }
            _ => emails.push(PageEmail { record, items: 1, fingerprint: String::new() }),
        }
    }
    for email in &mut emails {
        email.fingerprint = fingerprint::email(email.record);
    }
    emails
}

/// Inserts the new emails, updates the changed ones, and brings their
/// participants in line. Returns the email id of every Message-ID.
async fn write_emails<'a>(
    conn: &mut Conn,
    ws: WorkspaceId,
    emails: &[PageEmail<'a>],
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
    touched: &mut Vec<i64>,
) -> Result<HashMap<&'a str, i64>> {
    let mut ids: HashMap<&'a str, i64> = HashMap::with_capacity(emails.len());
    let mut changed: Vec<(i64, &PageEmail<'a>)> = Vec::new();
    let mut new: Vec<&PageEmail<'a>> = Vec::new();
    let stored = stored_emails(conn, ws, emails.iter()).await?;
    for email in emails {
        match stored.get(email.message_id()) {
            Some((id, stored_fingerprint)) => {
                ids.insert(&email.record.internet_message_id, *id);
                outcome.records_existing += email.items;
                if *stored_fingerprint != email.fingerprint {
                    changed.push((*id, email));
                }
            }
            None => new.push(email),
        }
    }

    let inserted = insert_emails(conn, ws, &new, now).await?;
    let mut new_participants: Vec<(i64, &'a Participant)> = Vec::new();
    let mut raced: Vec<&PageEmail<'a>> = Vec::new();
    for email in new {
        match inserted.get(email.message_id()) {
            Some(&id) => {
                ids.insert(&email.record.internet_message_id, id);
                outcome.records_added += 1;
                outcome.records_existing += email.items - 1;
                new_participants.extend(distinct_participants(&email.record.participants).map(|p| (id, p)));
            }
            None => raced.push(email),
        }
    }
    if !raced.is_empty() {
        // Another transaction stored these since the look-up (PostgreSQL,
        // two mailboxes at once): they are existing emails after all.
        let stored = stored_emails(conn, ws, raced.iter().copied()).await?;
        for email in raced {
            let (id, stored_fingerprint) = stored.get(email.message_id()).ok_or(StoreError::NotFound("email"))?;
            ids.insert(&email.record.internet_message_id, *id);
            outcome.records_existing += email.items;
            if *stored_fingerprint != email.fingerprint {
                changed.push((*id, email));
            }
        }
        changed.sort_by(|a, b| a.1.message_id().cmp(b.1.message_id()));
    }

    // The rows are updated (locked) first, then their participants are read
    // and rewritten under that lock.
    update_emails(conn, ws, &changed, now).await?;
    rewrite_participants(conn, &changed, &mut new_participants).await?;
    insert_participants(conn, ws, &new_participants).await?;
    touched.extend(changed.iter().map(|(id, _)| *id));
    touched.extend(inserted.values().copied());
    Ok(ids)
}

/// The stored id and fingerprint of each of the emails found, by Message-ID.
async fn stored_emails<'e, 'a: 'e>(
    conn: &mut Conn,
    ws: WorkspaceId,
    emails: impl Iterator<Item = &'e PageEmail<'a>>,
) -> Result<HashMap<String, (i64, String)>> {
    let message_ids: Vec<&str> = emails.map(PageEmail::message_id).collect();
    let mut found = HashMap::with_capacity(message_ids.len());
    for chunk in message_ids.chunks(rows_per_statement(1)) {
        let mut query =
            QueryBuilder::<Db>::new("select id, internet_message_id, fingerprint from email where workspace_id = ");
        query.push_bind(ws.0).push(" and internet_message_id in ");
        push_list(&mut query, chunk.iter().copied());
        let rows: Vec<(i64, String, String)> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        found.extend(rows.into_iter().map(|(id, message_id, fingerprint)| (message_id, (id, fingerprint))));
    }
    Ok(found)
}

const EMAIL_INSERT_BINDS: usize = 17;

/// Inserts the emails, skipping any that another transaction inserted
/// meanwhile. Returns the ids of those inserted, by Message-ID.
async fn insert_emails(
    conn: &mut Conn,
    ws: WorkspaceId,
    emails: &[&PageEmail<'_>],
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
            let e = email.record;
            row.push_bind(ws.0)
                .push_bind(e.internet_message_id.as_str())
                .push_bind(e.conversation_id.as_deref())
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
                .push_bind(email.fingerprint.as_str())
                .push_bind(now)
                .push_bind(now);
        });
        query.push(" on conflict (workspace_id, internet_message_id) do nothing returning id, internet_message_id");
        let rows: Vec<(i64, String)> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        inserted.extend(rows.into_iter().map(|(id, message_id)| (message_id, id)));
    }
    Ok(inserted)
}

const EMAIL_UPDATE_BINDS: usize = 14;

/// Rewrites the changed emails (in Message-ID order), a batch per statement.
async fn update_emails(
    conn: &mut Conn,
    ws: WorkspaceId,
    changed: &[(i64, &PageEmail<'_>)],
    now: DateTime<Utc>,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = changed.iter().map(|(id, _)| *id).collect();
    lock_in_order(conn, "email", "internet_message_id", &ids).await?;
    for chunk in changed.chunks(rows_per_statement(EMAIL_UPDATE_BINDS)) {
        let mut query = QueryBuilder::<Db>::new(
            "with page (
                 id, conversation_id, subject, body_html, body_preview, body_text, sent_at, received_at,
                 has_attachments, importance, is_private, meeting_message_type, internal_only, fingerprint) as (",
        );
        query.push_values(chunk, |mut row, (id, email)| {
            let e = email.record;
            row.push_bind(*id)
                .push_bind(e.conversation_id.as_deref())
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
                .push_bind(email.fingerprint.as_str());
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
    changed: &[(i64, &PageEmail<'a>)],
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
        push_list(&mut query, chunk.iter().map(|(id, _)| *id));
        let rows: Vec<(i64, i64, String, String, String)> =
            query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        for (id, email_id, role, address, name) in rows {
            stored.entry(email_id).or_default().insert((role, address), (id, name));
        }
    }
    let mut renames: Vec<(i64, &str)> = Vec::new();
    let mut deletes: Vec<i64> = Vec::new();
    for (email_id, email) in changed {
        let mut by_key = stored.remove(email_id).unwrap_or_default();
        for p in distinct_participants(&email.record.participants) {
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
struct StoredCopy {
    id: i64,
    graph_id: String,
    email_id: i64,
    folder_id: String,
    direction: String,
    is_read: bool,
    removed: bool,
}

/// A copy as the page leaves it, before it is written.
struct PlannedCopy<'a> {
    /// The stored row, or `None` for a copy new to the mailbox.
    id: Option<i64>,
    email_id: i64,
    copy: &'a EmailCopy,
    /// Whether the stored row must be rewritten.
    dirty: bool,
}

/// What an item does to a copy that exists.
enum CopyChange {
    Unchanged,
    Moved,
    Restored,
    Updated,
}

impl CopyChange {
    /// Compares the copy as it is (folder, email, direction, read, removed)
    /// with the incoming one. A move keeps the row (same immutable id) and
    /// only changes its folder.
    fn of(current: (&str, i64, &str, bool, bool), email_id: i64, copy: &EmailCopy) -> CopyChange {
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

    fn count(&self, outcome: &mut PageOutcome) {
        match self {
            CopyChange::Unchanged => outcome.copies_unchanged += 1,
            CopyChange::Moved => outcome.copies_moved += 1,
            CopyChange::Restored => outcome.copies_restored += 1,
            CopyChange::Updated => outcome.copies_updated += 1,
        }
    }
}

impl StoredCopy {
    fn current(&self) -> (&str, i64, &str, bool, bool) {
        (&self.folder_id, self.email_id, &self.direction, self.is_read, self.removed)
    }
}

/// Inserts, moves, restores and updates the mailbox's copies.
async fn write_copies(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    ordered: &[&(EmailRecord, EmailCopy)],
    email_ids: &HashMap<&str, i64>,
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
) -> Result<()> {
    if ordered.is_empty() {
        return Ok(());
    }
    let stored = stored_copies(conn, ws, mailbox, ordered.iter().map(|(_, copy)| copy.graph_id.as_str())).await?;
    let mut planned: HashMap<&str, PlannedCopy<'_>> = HashMap::with_capacity(ordered.len());
    for (email, copy) in ordered.iter().map(|pair| (&pair.0, &pair.1)) {
        let email_id = *email_ids
            .get(email.internet_message_id.as_str())
            .expect("BUG: write_emails returns an id for every Message-ID of the page");
        match planned.entry(copy.graph_id.as_str()) {
            // The page lists the immutable id twice: compare with the first.
            Entry::Occupied(mut entry) => {
                let plan = entry.get_mut();
                let change = CopyChange::of(
                    (&plan.copy.folder_id, plan.email_id, plan.copy.direction.as_str(), plan.copy.is_read, false),
                    email_id,
                    copy,
                );
                change.count(outcome);
                if !matches!(change, CopyChange::Unchanged) {
                    *plan = PlannedCopy { id: plan.id, email_id, copy, dirty: plan.id.is_some() };
                }
            }
            Entry::Vacant(entry) => match stored.get(copy.graph_id.as_str()) {
                None => {
                    outcome.copies_added += 1;
                    entry.insert(PlannedCopy { id: None, email_id, copy, dirty: false });
                }
                Some(row) => {
                    let change = CopyChange::of(row.current(), email_id, copy);
                    change.count(outcome);
                    let dirty = !matches!(change, CopyChange::Unchanged);
                    entry.insert(PlannedCopy { id: Some(row.id), email_id, copy, dirty });
                }
            },
        }
    }

    // Graph id order, for the same reason as Message-ID order for emails:
    // two folders of one mailbox may both write a moved copy.
    let mut new: Vec<&PlannedCopy<'_>> = planned.values().filter(|plan| plan.id.is_none()).collect();
    new.sort_by(|a, b| a.copy.graph_id.cmp(&b.copy.graph_id));
    let inserted = insert_copies(conn, ws, mailbox, &new, now).await?;
    let mut updates: Vec<(i64, &PlannedCopy<'_>)> =
        planned.values().filter(|plan| plan.dirty).filter_map(|plan| Some((plan.id?, plan))).collect();
    if inserted.len() < new.len() {
        // Another transaction of this mailbox (another folder's page, on
        // PostgreSQL) inserted some of these since the look-up: they are
        // existing copies after all.
        let raced: Vec<&PlannedCopy<'_>> =
            new.into_iter().filter(|plan| !inserted.contains(plan.copy.graph_id.as_str())).collect();
        let stored = stored_copies(conn, ws, mailbox, raced.iter().map(|plan| plan.copy.graph_id.as_str())).await?;
        for plan in raced {
            let row = stored.get(plan.copy.graph_id.as_str()).ok_or(StoreError::NotFound("email copy"))?;
            outcome.copies_added -= 1;
            let change = CopyChange::of(row.current(), plan.email_id, plan.copy);
            change.count(outcome);
            if !matches!(change, CopyChange::Unchanged) {
                updates.push((row.id, plan));
            }
        }
    }
    updates.sort_by(|a, b| a.1.copy.graph_id.cmp(&b.1.copy.graph_id));
    update_copies(conn, &updates, now).await
}

const COPY_UPDATE_BINDS: usize = 5;

/// Rewrites copies (in graph id order), a batch per statement. A move
/// keeps the row (same immutable id) and only changes its folder.
async fn update_copies(conn: &mut Conn, updates: &[(i64, &PlannedCopy<'_>)], now: DateTime<Utc>) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
    lock_in_order(conn, "email_copy", "graph_id", &ids).await?;
    for chunk in updates.chunks(rows_per_statement(COPY_UPDATE_BINDS)) {
        let mut query = QueryBuilder::<Db>::new("with page (id, email_id, folder_id, direction, is_read) as (");
        query.push_values(chunk, |mut row, (id, plan)| {
            row.push_bind(*id)
                .push_bind(plan.email_id)
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

/// The mailbox's stored copies among `graph_ids`, by graph id.
async fn stored_copies<'g>(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    graph_ids: impl Iterator<Item = &'g str>,
) -> Result<HashMap<String, StoredCopy>> {
    let graph_ids: Vec<&str> = graph_ids.collect();
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

const COPY_INSERT_BINDS: usize = 9;

/// Inserts the copies, skipping any that another transaction inserted
/// meanwhile. Returns the graph ids of those inserted.
async fn insert_copies(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    copies: &[&PlannedCopy<'_>],
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
                .push_bind(plan.email_id)
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

/// Marks the copies removed; returns how many were.
async fn remove_copies(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    folder_id: &str,
    graph_ids: &[String],
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut removed = 0;
    for chunk in graph_ids.chunks(rows_per_statement(1)) {
        // Only a copy still in this folder: when a move was already applied
        // from the destination folder's delta, the source folder's
        // `@removed` for the same immutable id must not undo it.
        let mut query = QueryBuilder::<Db>::new("update email_copy set removed_at = ");
        query
            .push_bind(now)
            .push(", updated_at = ")
            .push_bind(now)
            .push(" where workspace_id = ")
            .push_bind(ws.0)
            .push(" and mailbox_id = ")
            .push_bind(mailbox.0)
            .push(" and folder_id = ")
            .push_bind(folder_id)
            .push(" and removed_at is null and graph_id in ");
        push_list(&mut query, chunk.iter().map(String::as_str));
        removed += query.build().persistent(false).execute(&mut *conn).await?.rows_affected();
    }
    Ok(removed)
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
