/*!
Page ingest, the one algorithm behind mail and calendar: a Graph delta page
and its cursor in one transaction.

An item (an email, or a meeting occurrence) is stored once per workspace by
its key (Message-ID, iCalUId); each mailbox holding it has one copy per
immutable Graph id. A page costs a handful of statements whatever its size
(bind-parameter limits aside): one look-up per table for what is already
stored, then multi-row inserts for what is new and multi-row updates for
what changed. The rows and counts are those that applying the page's items
one by one, in key order, would give; the work in between is done in
memory.

Every write is conditional on a difference: an item whose stored
fingerprint (see `crate::fingerprint`) equals the incoming one is left
alone with its people, so replaying a page, or meeting the same item in
another mailbox, changes no row at all. That is what makes a page safe to
apply again after a crash, or after a deadlock or a busy database.

On PostgreSQL two transactions may bring the same item or copy at once:
inserts skip rows that appeared since the look-up (`on conflict do
nothing`), which are then handled as existing ones, and updates lock their
rows in key order first (items by key, copies by Graph id), so concurrent
pages wait for each other instead of deadlocking.

What mail and calendar differ in, their tables, columns and what counts as
a change, is a [`Kind`]: `mail.rs` and `calendar.rs` each implement it with
their own SQL.
*/

use super::activity::{hold_linking_lock, unlink};
use super::contacts::auto_create_contacts;
use super::{Conn, Db, Pool, begin_write, ensure_mailbox, now, push_list, rows_per_statement, write_cursor};
use crate::error::{Result, StoreError};
use crate::types::{CursorScope, MailboxId, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use tac_core::contacts::AutoCreateCandidate;
use tac_core::timeline::ActivityKind;

/// One kind of synced item: how its rows are found, written and compared.
/// The algorithm around these calls is the same for both kinds.
pub(super) trait Kind: Sized {
    /// What the workspace stores once (`EmailRecord`, `MeetingRecord`).
    type Record: Sync;
    /// What each mailbox stores (`EmailCopy`, `MeetingCopy`).
    type Copy: Sync;
    /// A copy's row as the look-up reads it.
    type StoredCopy: Send;

    const ACTIVITY: ActivityKind;
    /// The item table, whose `content_level` each write sets.
    const TABLE: &'static str;
    /// The copy table.
    const COPY_TABLE: &'static str;
    /// For [`StoreError::NotFound`] when a raced row vanished.
    const COPY_NAME: &'static str;

    /// The key the item is stored once by.
    fn key(record: &Self::Record) -> &str;
    fn graph_id(copy: &Self::Copy) -> &str;
    /// A flag that, once any item sets it, stays set: a meeting's
    /// cancellation (an attendee's copy that has not caught up cannot undo
    /// it). Mail has none.
    fn sticky(record: &Self::Record) -> bool;
    /// The fingerprint of the row as stored, with the sticky flag as given.
    fn fingerprint(record: &Self::Record, sticky: bool) -> String;

    /// The stored items among `keys`, by key.
    async fn stored(conn: &mut Conn, ws: WorkspaceId, keys: &[&str]) -> Result<HashMap<String, StoredItem>>;
    /// Inserts the items, skipping any that another transaction inserted
    /// meanwhile. Returns the ids of those inserted, by key.
    async fn insert(
        conn: &mut Conn,
        ws: WorkspaceId,
        items: &[&PageItem<'_, Self>],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, i64>>;
    /// Rewrites the changed items, in key order, their rows locked first.
    async fn update(
        conn: &mut Conn,
        ws: WorkspaceId,
        changed: &[Changed<'_, '_, Self>],
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Makes the people (participants, attendees) of the changed items
    /// exactly their records' ones, touching only rows that differ, and
    /// inserts the people of the new items.
    async fn write_people(
        conn: &mut Conn,
        ws: WorkspaceId,
        changed: &[Changed<'_, '_, Self>],
        new: &[(i64, &Self::Record)],
    ) -> Result<()>;
    /// Puts the items on the timelines of the contacts among their people.
    async fn link(conn: &mut Conn, ws: WorkspaceId, ids: &[i64]) -> Result<()>;

    /// The mailbox's stored copies among `graph_ids`, by Graph id.
    async fn stored_copies(
        conn: &mut Conn,
        ws: WorkspaceId,
        mailbox: MailboxId,
        graph_ids: &[&str],
    ) -> Result<HashMap<String, Self::StoredCopy>>;
    fn stored_copy_id(row: &Self::StoredCopy) -> i64;
    /// What `copy` of item `item_id` does to the stored copy.
    fn stored_change(row: &Self::StoredCopy, item_id: i64, copy: &Self::Copy) -> CopyChange;
    /// What `copy` of item `item_id` does to the same copy met earlier in
    /// the page, `(earlier_item_id, earlier)`.
    fn page_change(earlier: (i64, &Self::Copy), item_id: i64, copy: &Self::Copy) -> CopyChange;
    /// Inserts the copies, skipping any that another transaction inserted
    /// meanwhile. Returns the Graph ids of those inserted.
    async fn insert_copies(
        conn: &mut Conn,
        ws: WorkspaceId,
        mailbox: MailboxId,
        copies: &[&PlannedCopy<'_, Self>],
        now: DateTime<Utc>,
    ) -> Result<HashSet<String>>;
    /// Rewrites copies (in Graph id order), their rows locked first.
    async fn update_copies(
        conn: &mut Conn,
        updates: &[(i64, &PlannedCopy<'_, Self>)],
        now: DateTime<Utc>,
    ) -> Result<()>;
}

/// A page for [`apply_page`]: its items, removals and new contacts, and
/// the cursor to save with them.
pub(super) struct Page<'p, K: Kind> {
    /// The folder (mail) or calendar the page is of.
    pub(super) scope: CursorScope<'p>,
    pub(super) upserts: &'p [(K::Record, K::Copy)],
    pub(super) removed_graph_ids: &'p [String],
    pub(super) new_contacts: &'p [AutoCreateCandidate],
    pub(super) cursor: &'p SyncCursor,
    pub(super) round: RoundState,
}

/// Applies one page and saves its cursor, all in one transaction. The
/// contacts the auto-creation policy chose are created (when new) in the
/// same transaction, and the page's items join the timelines of every
/// contact among their people.
pub(super) async fn apply_page<K: Kind>(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    page: Page<'_, K>,
) -> Result<PageOutcome> {
    // Items are written in key order, so two mailboxes ingesting
    // overlapping pages at once (PostgreSQL) wait for each other instead of
    // deadlocking. The sort is stable: items of one key keep their order,
    // and the last one wins. Fingerprints are computed before the
    // transaction takes the write lock.
    let mut ordered: Vec<&(K::Record, K::Copy)> = page.upserts.iter().collect();
    ordered.sort_by(|a, b| K::key(&a.0).cmp(K::key(&b.0)));
    let items = page_items::<K>(&ordered);

    let now = now();
    let mut outcome = PageOutcome::default();
    let mut tx = begin_write(pool).await?;
    hold_linking_lock(&mut tx, ws).await?;
    ensure_mailbox(&mut tx, ws, mailbox).await?;
    let mut touched = Vec::new();
    let ids = write_items(&mut tx, ws, &items, now, &mut outcome, &mut touched).await?;
    write_copies::<K>(&mut tx, ws, mailbox, &ordered, &ids, now, &mut outcome).await?;
    // Timelines: changed items are relinked from scratch (their people or
    // time may differ); new contacts bring their whole history.
    super::privacy::set_content_level(&mut tx, ws, K::TABLE, &touched).await?;
    unlink(&mut tx, K::ACTIVITY, &touched).await?;
    auto_create_contacts(&mut tx, ws, page.new_contacts).await?;
    K::link(&mut tx, ws, &touched).await?;
    outcome.copies_removed = remove_copies::<K>(&mut tx, ws, mailbox, page.scope, page.removed_graph_ids, now).await?;
    write_cursor(&mut tx, ws, mailbox, page.scope, page.cursor, page.round, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The page's items for one key.
pub(super) struct PageItem<'a, K: Kind> {
    /// The last record given: what applying the items one by one leaves,
    /// but for the sticky flag.
    pub(super) record: &'a K::Record,
    /// How many items carry this key (a mailbox may hold a message twice,
    /// under two immutable ids).
    items: u64,
    /// Whether any item set the sticky flag.
    pub(super) sticky: bool,
    /// The fingerprint with `sticky` as the stored flag.
    pub(super) fingerprint: String,
}

impl<K: Kind> PageItem<'_, K> {
    pub(super) fn key(&self) -> &str {
        K::key(self.record)
    }

    /// The fingerprint once applied over a row whose flag is `was_sticky`.
    fn fingerprint_over(&self, was_sticky: bool) -> String {
        if was_sticky && !self.sticky { K::fingerprint(self.record, true) } else { self.fingerprint.clone() }
    }
}

/// Groups the items (sorted by key) by key.
fn page_items<'a, K: Kind>(ordered: &[&'a (K::Record, K::Copy)]) -> Vec<PageItem<'a, K>> {
    let mut items: Vec<PageItem<'a, K>> = Vec::with_capacity(ordered.len());
    for (record, _) in ordered.iter().copied() {
        match items.last_mut() {
            Some(last) if K::key(last.record) == K::key(record) => {
                last.record = record;
                last.items += 1;
                last.sticky |= K::sticky(record);
            }
            _ => items.push(PageItem { record, items: 1, sticky: K::sticky(record), fingerprint: String::new() }),
        }
    }
    for item in &mut items {
        item.fingerprint = K::fingerprint(item.record, item.sticky);
    }
    items
}

/// A stored item as the look-up reads it.
#[derive(sqlx::FromRow)]
pub(super) struct StoredItem {
    pub(super) id: i64,
    pub(super) key: String,
    pub(super) fingerprint: String,
    /// The sticky flag as stored (always false for mail).
    pub(super) sticky: bool,
}

impl StoredItem {
    /// What to write over this row for `item`, or `None` if it would stay the same.
    fn change<'m, 'a, K: Kind>(&self, item: &'m PageItem<'a, K>) -> Option<Changed<'m, 'a, K>> {
        let fingerprint = item.fingerprint_over(self.sticky);
        (fingerprint != self.fingerprint).then_some(Changed {
            id: self.id,
            sticky: self.sticky || item.sticky,
            fingerprint,
            item,
        })
    }
}

/// An item that exists and differs from the page's: its id, the sticky
/// flag and the fingerprint it gets.
pub(super) struct Changed<'m, 'a, K: Kind> {
    pub(super) id: i64,
    pub(super) sticky: bool,
    pub(super) fingerprint: String,
    pub(super) item: &'m PageItem<'a, K>,
}

impl<'a, K: Kind> Changed<'_, 'a, K> {
    pub(super) fn record(&self) -> &'a K::Record {
        self.item.record
    }
}

/// Inserts the new items, updates the changed ones, and brings their
/// people in line. Returns the item id of every key.
async fn write_items<'a, K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    items: &[PageItem<'a, K>],
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
    touched: &mut Vec<i64>,
) -> Result<HashMap<&'a str, i64>> {
    let mut ids: HashMap<&'a str, i64> = HashMap::with_capacity(items.len());
    let mut changed: Vec<Changed<'_, 'a, K>> = Vec::new();
    let mut new: Vec<&PageItem<'a, K>> = Vec::new();
    let keys: Vec<&str> = items.iter().map(PageItem::key).collect();
    let stored = K::stored(conn, ws, &keys).await?;
    for item in items {
        match stored.get(item.key()) {
            Some(row) => {
                ids.insert(K::key(item.record), row.id);
                outcome.records_existing += item.items;
                changed.extend(row.change(item));
            }
            None => new.push(item),
        }
    }

    let inserted = K::insert(conn, ws, &new, now).await?;
    let mut new_ids: Vec<(i64, &'a K::Record)> = Vec::new();
    let mut raced: Vec<&PageItem<'a, K>> = Vec::new();
    for item in new {
        match inserted.get(item.key()) {
            Some(&id) => {
                ids.insert(K::key(item.record), id);
                outcome.records_added += 1;
                outcome.records_existing += item.items - 1;
                new_ids.push((id, item.record));
            }
            None => raced.push(item),
        }
    }
    if !raced.is_empty() {
        // Another transaction stored these since the look-up (PostgreSQL,
        // two mailboxes at once): they are existing items after all.
        let keys: Vec<&str> = raced.iter().map(|item| item.key()).collect();
        let stored = K::stored(conn, ws, &keys).await?;
        for item in raced {
            let row = stored.get(item.key()).ok_or(StoreError::NotFound(K::TABLE))?;
            ids.insert(K::key(item.record), row.id);
            outcome.records_existing += item.items;
            changed.extend(row.change(item));
        }
        changed.sort_by(|a, b| a.item.key().cmp(b.item.key()));
    }

    // The rows are updated (locked) first, then their people are read and
    // rewritten under that lock.
    K::update(conn, ws, &changed, now).await?;
    K::write_people(conn, ws, &changed, &new_ids).await?;
    touched.extend(changed.iter().map(|c| c.id));
    touched.extend(inserted.values().copied());
    Ok(ids)
}

/// A copy as the page leaves it, before it is written.
pub(super) struct PlannedCopy<'a, K: Kind> {
    /// The stored row, or `None` for a copy new to the mailbox.
    id: Option<i64>,
    pub(super) item_id: i64,
    pub(super) copy: &'a K::Copy,
    /// Whether the stored row must be rewritten.
    dirty: bool,
}

impl<K: Kind> PlannedCopy<'_, K> {
    fn graph_id(&self) -> &str {
        K::graph_id(self.copy)
    }
}

/// What an item does to a copy that exists.
pub(super) enum CopyChange {
    Unchanged,
    /// Mail only: the same immutable id, now in another folder.
    Moved,
    Restored,
    Updated,
}

impl CopyChange {
    fn count(&self, outcome: &mut PageOutcome) {
        match self {
            CopyChange::Unchanged => outcome.copies_unchanged += 1,
            CopyChange::Moved => outcome.copies_moved += 1,
            CopyChange::Restored => outcome.copies_restored += 1,
            CopyChange::Updated => outcome.copies_updated += 1,
        }
    }
}

/// Inserts, moves, restores and updates the mailbox's copies.
async fn write_copies<K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    ordered: &[&(K::Record, K::Copy)],
    item_ids: &HashMap<&str, i64>,
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
) -> Result<()> {
    if ordered.is_empty() {
        return Ok(());
    }
    let graph_ids: Vec<&str> = ordered.iter().map(|(_, copy)| K::graph_id(copy)).collect();
    let stored = K::stored_copies(conn, ws, mailbox, &graph_ids).await?;
    let mut planned: HashMap<&str, PlannedCopy<'_, K>> = HashMap::with_capacity(ordered.len());
    for (record, copy) in ordered.iter().map(|pair| (&pair.0, &pair.1)) {
        let item_id = *item_ids.get(K::key(record)).expect("BUG: write_items returns an id for every key of the page");
        match planned.entry(K::graph_id(copy)) {
            // The page lists the immutable id twice: compare with the first.
            Entry::Occupied(mut entry) => {
                let plan = entry.get_mut();
                let change = K::page_change((plan.item_id, plan.copy), item_id, copy);
                change.count(outcome);
                if !matches!(change, CopyChange::Unchanged) {
                    *plan = PlannedCopy { id: plan.id, item_id, copy, dirty: plan.id.is_some() };
                }
            }
            Entry::Vacant(entry) => match stored.get(K::graph_id(copy)) {
                None => {
                    outcome.copies_added += 1;
                    entry.insert(PlannedCopy { id: None, item_id, copy, dirty: false });
                }
                Some(row) => {
                    let change = K::stored_change(row, item_id, copy);
                    change.count(outcome);
                    let dirty = !matches!(change, CopyChange::Unchanged);
                    entry.insert(PlannedCopy { id: Some(K::stored_copy_id(row)), item_id, copy, dirty });
                }
            },
        }
    }

    // Graph id order, for the same reason as key order for items: two
    // folders of one mailbox may both write a moved copy.
    let mut new: Vec<&PlannedCopy<'_, K>> = planned.values().filter(|plan| plan.id.is_none()).collect();
    new.sort_by(|a, b| a.graph_id().cmp(b.graph_id()));
    let inserted = K::insert_copies(conn, ws, mailbox, &new, now).await?;
    let mut updates: Vec<(i64, &PlannedCopy<'_, K>)> =
        planned.values().filter(|plan| plan.dirty).filter_map(|plan| Some((plan.id?, plan))).collect();
    if inserted.len() < new.len() {
        // Another transaction of this mailbox (another folder's page, on
        // PostgreSQL) inserted some of these since the look-up: they are
        // existing copies after all.
        let raced: Vec<&PlannedCopy<'_, K>> =
            new.into_iter().filter(|plan| !inserted.contains(plan.graph_id())).collect();
        let graph_ids: Vec<&str> = raced.iter().map(|plan| plan.graph_id()).collect();
        let stored = K::stored_copies(conn, ws, mailbox, &graph_ids).await?;
        for plan in raced {
            let row = stored.get(plan.graph_id()).ok_or(StoreError::NotFound(K::COPY_NAME))?;
            outcome.copies_added -= 1;
            let change = K::stored_change(row, plan.item_id, plan.copy);
            change.count(outcome);
            if !matches!(change, CopyChange::Unchanged) {
                updates.push((K::stored_copy_id(row), plan));
            }
        }
    }
    updates.sort_by(|a, b| a.1.graph_id().cmp(b.1.graph_id()));
    K::update_copies(conn, &updates, now).await
}

/// Marks the page's `@removed` copies removed; returns how many were. The
/// item itself stays: history is kept. A folder's page removes only a copy
/// still in that folder: when a move was already applied from the
/// destination folder's delta, the source folder's `@removed` for the same
/// immutable id must not undo it.
async fn remove_copies<K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    scope: CursorScope<'_>,
    graph_ids: &[String],
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut removed = 0;
    for chunk in graph_ids.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(format!("update {} set removed_at = ", K::COPY_TABLE));
        query
            .push_bind(now)
            .push(", updated_at = ")
            .push_bind(now)
            .push(" where workspace_id = ")
            .push_bind(ws.0)
            .push(" and mailbox_id = ")
            .push_bind(mailbox.0);
        if let CursorScope::Folder(folder_id) = scope {
            query.push(" and folder_id = ").push_bind(folder_id);
        }
        query.push(" and removed_at is null and graph_id in ");
        push_list(&mut query, chunk.iter().map(String::as_str));
        removed += query.build().persistent(false).execute(&mut *conn).await?.rows_affected();
    }
    Ok(removed)
}
