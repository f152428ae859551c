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

What mail and calendar differ in is a [`Kind`]: their tables and columns,
what counts as a change of a copy, and the SQL that writes an item itself
(`mail.rs`, `calendar.rs`). Finding items, and writing copies and people
(`people.rs`), is the same SQL over the kind's table and column names.
*/

mod copies;
mod items;
mod people;

pub(super) use copies::CopyChange;
pub(super) use people::PersonRow;

use super::activity::{hold_linking_lock, unlink};
use super::contacts::auto_create_contacts;
use super::{Conn, Db, Pool, begin_write, ensure_mailbox, now, write_cursor};
use crate::error::Result;
use crate::types::{CursorScope, MailboxId, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use copies::{remove_copies, write_copies};
use items::write_items;
use sqlx::query_builder::Separated;
use tac_core::contacts::AutoCreateCandidate;
use tac_core::timeline::ActivityKind;

/// One kind of synced item: how its rows are found, written and compared.
/// The algorithm around these calls is the same for both kinds.
pub(super) trait Kind: Sized {
    /// What the workspace stores once (`EmailRecord`, `MeetingRecord`).
    type Record: Sync;
    /// What each mailbox stores (`EmailCopy`, `MeetingCopy`).
    type Copy: Sync;
    /// A copy's row as the look-up reads it: `id`, `graph_id`, the
    /// [`Kind::ITEM_COLUMN`], the [`Kind::COPY_COLUMNS`] and `removed`.
    type StoredCopy: Send + Unpin + for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row>;

    const ACTIVITY: ActivityKind;
    /// The item table, whose `content_level` each write sets.
    const TABLE: &'static str;
    /// The copy table.
    const COPY_TABLE: &'static str;
    /// For [`StoreError::NotFound`] when a raced row vanished.
    const COPY_NAME: &'static str;
    /// The item table's key column (`internet_message_id`, `ical_uid`).
    const KEY_COLUMN: &'static str;
    /// The item table's sticky flag column, if the kind has one.
    const STICKY_COLUMN: Option<&'static str>;
    /// What an item row holds besides its workspace and key: the columns
    /// an insert and an update both write, in the order
    /// [`Kind::push_columns`] binds them.
    const COLUMNS: &'static [&'static str];
    /// The column naming the item in its copy and people tables
    /// (`email_id`, `meeting_id`).
    const ITEM_COLUMN: &'static str;
    /// The table of the items' people (`people.rs`).
    const PEOPLE_TABLE: &'static str;
    /// The columns that tell an item's people apart.
    const PERSON_KEY: &'static [&'static str];
    /// A person's other columns, rewritten in place when they change.
    const PERSON_VALUES: &'static [&'static str];
    /// What a copy row holds besides its workspace, mailbox, item and Graph
    /// id: the columns a copy insert and update write, in the order
    /// [`Kind::push_copy_columns`] binds them.
    const COPY_COLUMNS: &'static [&'static str];

    /// The key the item is stored once by.
    fn key(record: &Self::Record) -> &str;
    fn graph_id(copy: &Self::Copy) -> &str;
    /// A flag that, once any item sets it, stays set: a meeting's
    /// cancellation (an attendee's copy that has not caught up cannot undo
    /// it). Mail has none.
    fn sticky(record: &Self::Record) -> bool;
    /// The fingerprint of the row as stored, with the sticky flag as given.
    fn fingerprint(record: &Self::Record, sticky: bool) -> String;
    /// Binds a record's [`Kind::COLUMNS`], in their order, with the sticky
    /// flag and fingerprint as given.
    fn push_columns(row: &mut Separated<'_, Db, &'static str>, record: &Self::Record, sticky: bool, fingerprint: &str);
    /// When the item happened (sent, starts). On SQLite new items are
    /// inserted in this order, so that the time-ordered full-text rowids
    /// (migration 0005) arrive ascending and FTS5 buffers the page in
    /// memory; a smaller rowid than the last would make it write a segment
    /// per item. PostgreSQL keeps key order, which orders its index locks.
    fn happened_at(record: &Self::Record) -> DateTime<Utc>;
    /// The record's people (participants, attendees) as rows of the people
    /// table, in the order given.
    fn people(record: &Self::Record) -> impl Iterator<Item = PersonRow<'_>>;

    /// Puts the items on the timelines of the contacts among their people.
    async fn link(conn: &mut Conn, ws: WorkspaceId, ids: &[i64]) -> Result<()>;

    fn stored_copy_id(row: &Self::StoredCopy) -> i64;
    fn stored_copy_graph_id(row: &Self::StoredCopy) -> &str;
    /// What `copy` of item `item_id` does to the stored copy.
    fn stored_change(row: &Self::StoredCopy, item_id: i64, copy: &Self::Copy) -> CopyChange;
    /// What `copy` of item `item_id` does to the same copy met earlier in
    /// the page, `(earlier_item_id, earlier)`.
    fn page_change(earlier: (i64, &Self::Copy), item_id: i64, copy: &Self::Copy) -> CopyChange;
    /// Binds a copy's [`Kind::COPY_COLUMNS`], in their order.
    fn push_copy_columns(row: &mut Separated<'_, Db, &'static str>, copy: &Self::Copy);
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
