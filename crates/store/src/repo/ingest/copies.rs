/*!
Writing a page's copies: each mailbox's copy of an item, one per immutable
Graph id. New copies are inserted, and existing ones moved (mail), restored
or updated, over the kind's copy table and columns (`Kind`).
*/

use super::super::{Conn, Db, lock_in_order, push_list, rows_per_statement};
use super::Kind;
use crate::error::{Result, StoreError};
use crate::types::{CursorScope, MailboxId, PageOutcome, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// A copy as the page leaves it, before it is written.
struct PlannedCopy<'a, K: Kind> {
    /// The stored row, or `None` for a copy new to the mailbox.
    id: Option<i64>,
    item_id: i64,
    copy: &'a K::Copy,
    /// Whether the stored row must be rewritten.
    dirty: bool,
}

impl<K: Kind> PlannedCopy<'_, K> {
    fn graph_id(&self) -> &str {
        K::graph_id(self.copy)
    }
}

/// What an item does to a copy that exists.
pub(in super::super) enum CopyChange {
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
pub(super) async fn write_copies<K: Kind>(
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
    let stored = stored_copies::<K>(conn, ws, mailbox, &graph_ids).await?;
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
    let inserted = insert_copies(conn, ws, mailbox, &new, now).await?;
    let mut updates: Vec<(i64, &PlannedCopy<'_, K>)> =
        planned.values().filter(|plan| plan.dirty).filter_map(|plan| Some((plan.id?, plan))).collect();
    if inserted.len() < new.len() {
        // Another transaction of this mailbox (another folder's page, on
        // PostgreSQL) inserted some of these since the look-up: they are
        // existing copies after all.
        let raced: Vec<&PlannedCopy<'_, K>> =
            new.into_iter().filter(|plan| !inserted.contains(plan.graph_id())).collect();
        let graph_ids: Vec<&str> = raced.iter().map(|plan| plan.graph_id()).collect();
        let stored = stored_copies::<K>(conn, ws, mailbox, &graph_ids).await?;
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
    update_copies(conn, &updates, now).await
}

/// The mailbox's stored copies among `graph_ids`, by Graph id.
async fn stored_copies<K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    graph_ids: &[&str],
) -> Result<HashMap<String, K::StoredCopy>> {
    let (table, item, columns) = (K::COPY_TABLE, K::ITEM_COLUMN, K::COPY_COLUMNS.join(", "));
    let mut found = HashMap::with_capacity(graph_ids.len());
    for chunk in graph_ids.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(format!(
            "select id, graph_id, {item}, {columns}, removed_at is not null as removed
             from {table}
             where workspace_id = "
        ));
        query.push_bind(ws.0).push(" and mailbox_id = ").push_bind(mailbox.0).push(" and graph_id in ");
        push_list(&mut query, chunk.iter().copied());
        let rows: Vec<K::StoredCopy> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        found.extend(rows.into_iter().map(|row| (K::stored_copy_graph_id(&row).to_owned(), row)));
    }
    Ok(found)
}

/// Inserts the copies, skipping any that another transaction inserted
/// meanwhile. Returns the Graph ids of those inserted.
async fn insert_copies<K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    copies: &[&PlannedCopy<'_, K>],
    now: DateTime<Utc>,
) -> Result<HashSet<String>> {
    let (table, item, columns) = (K::COPY_TABLE, K::ITEM_COLUMN, K::COPY_COLUMNS.join(", "));
    // Workspace, mailbox, item, Graph id, the kind's columns, two times.
    let binds = 4 + K::COPY_COLUMNS.len() + 2;
    let mut inserted = HashSet::with_capacity(copies.len());
    for chunk in copies.chunks(rows_per_statement(binds)) {
        let mut query = QueryBuilder::<Db>::new(format!(
            "insert into {table} (workspace_id, mailbox_id, {item}, graph_id, {columns}, created_at, updated_at) "
        ));
        query.push_values(chunk, |mut row, plan| {
            row.push_bind(ws.0).push_bind(mailbox.0).push_bind(plan.item_id).push_bind(plan.graph_id());
            K::push_copy_columns(&mut row, plan.copy);
            row.push_bind(now).push_bind(now);
        });
        query.push(" on conflict (workspace_id, mailbox_id, graph_id) do nothing returning graph_id");
        let rows: Vec<String> = query.build_query_scalar().persistent(false).fetch_all(&mut *conn).await?;
        inserted.extend(rows);
    }
    Ok(inserted)
}

/// Rewrites copies (in Graph id order), a batch per statement, their rows
/// locked first. A restored copy is no longer removed; a moved one keeps
/// its row (the same immutable id) with its new folder.
async fn update_copies<K: Kind>(
    conn: &mut Conn,
    updates: &[(i64, &PlannedCopy<'_, K>)],
    now: DateTime<Utc>,
) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
    lock_in_order(conn, K::COPY_TABLE, "graph_id", &ids).await?;
    let (table, item, columns) = (K::COPY_TABLE, K::ITEM_COLUMN, K::COPY_COLUMNS.join(", "));
    let assignments: String = K::COPY_COLUMNS.iter().map(|column| format!(", {column} = page.{column}")).collect();
    // Row id, item, the kind's columns.
    let binds = 2 + K::COPY_COLUMNS.len();
    for chunk in updates.chunks(rows_per_statement(binds)) {
        let mut query = QueryBuilder::<Db>::new(format!("with page (id, {item}, {columns}) as ("));
        query.push_values(chunk, |mut row, (id, plan)| {
            row.push_bind(*id).push_bind(plan.item_id);
            K::push_copy_columns(&mut row, plan.copy);
        });
        query
            .push(format!(
                ")
                 update {table} set {item} = page.{item}{assignments}, removed_at = null, updated_at = "
            ))
            .push_bind(now)
            .push(format!(" from page where {table}.id = page.id"));
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Marks the page's `@removed` copies removed; returns how many were. The
/// item itself stays: history is kept. A folder's page removes only a copy
/// still in that folder: when a move was already applied from the
/// destination folder's delta, the source folder's `@removed` for the same
/// immutable id must not undo it.
pub(super) async fn remove_copies<K: Kind>(
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
