/*!
Writing a page's items (emails, meetings): one look-up of what is stored,
multi-row inserts of what is new and multi-row updates of what changed,
over the kind's table and columns (`Kind`).
*/

use super::super::{BACKEND, Conn, Db, lock_in_order, push_list, rows_per_statement};
use super::people::write_people;
use super::{Changed, Kind, PageItem, StoredItem};
use crate::error::{Result, StoreError};
use crate::types::{Backend, PageOutcome, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::HashMap;

/// Inserts the new items, updates the changed ones, and brings their
/// people in line. Returns the item id of every key.
pub(super) async fn write_items<'a, K: Kind>(
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
    let stored = stored_items::<K>(conn, ws, &keys).await?;
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

    let inserted = insert_items(conn, ws, &new, now).await?;
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
        let stored = stored_items::<K>(conn, ws, &keys).await?;
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
    update_items(conn, ws, &changed, now).await?;
    write_people(conn, ws, &changed, &new_ids).await?;
    touched.extend(changed.iter().map(|c| c.id));
    touched.extend(inserted.values().copied());
    Ok(ids)
}

/// The stored items among `keys`, by key.
async fn stored_items<K: Kind>(conn: &mut Conn, ws: WorkspaceId, keys: &[&str]) -> Result<HashMap<String, StoredItem>> {
    let (table, key, sticky) = (K::TABLE, K::KEY_COLUMN, K::STICKY_COLUMN.unwrap_or("false"));
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(format!(
            "select id, {key} as key, fingerprint, {sticky} as sticky from {table} where workspace_id = "
        ));
        query.push_bind(ws.0).push(format!(" and {key} in "));
        push_list(&mut query, chunk.iter().copied());
        let rows: Vec<StoredItem> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        found.extend(rows.into_iter().map(|row| (row.key.clone(), row)));
    }
    Ok(found)
}

/// Inserts the items, skipping any that another transaction inserted
/// meanwhile. Returns the ids of those inserted, by key.
async fn insert_items<K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    items: &[&PageItem<'_, K>],
    now: DateTime<Utc>,
) -> Result<HashMap<String, i64>> {
    let (table, key, columns) = (K::TABLE, K::KEY_COLUMN, K::COLUMNS.join(", "));
    // Workspace, key, the kind's columns, two times.
    let binds = 2 + K::COLUMNS.len() + 2;
    let mut items = items.to_vec();
    if BACKEND == Backend::Sqlite {
        items.sort_by_key(|item| K::happened_at(item.record));
    }
    let mut inserted = HashMap::with_capacity(items.len());
    for chunk in items.chunks(rows_per_statement(binds)) {
        let mut query = QueryBuilder::<Db>::new(format!(
            "insert into {table} (workspace_id, {key}, {columns}, created_at, updated_at) "
        ));
        query.push_values(chunk, |mut row, item| {
            row.push_bind(ws.0).push_bind(item.key());
            K::push_columns(&mut row, item.record, item.sticky, &item.fingerprint);
            row.push_bind(now).push_bind(now);
        });
        query.push(format!(" on conflict (workspace_id, {key}) do nothing returning id, {key}"));
        let rows: Vec<(i64, String)> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        inserted.extend(rows.into_iter().map(|(id, key)| (key, id)));
    }
    Ok(inserted)
}

/// Rewrites the changed items (in key order), a batch per statement, their
/// rows locked first. The sticky flag stays set once set, even by a
/// transaction that committed since the look-up.
async fn update_items<K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    changed: &[Changed<'_, '_, K>],
    now: DateTime<Utc>,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = changed.iter().map(|change| change.id).collect();
    lock_in_order(conn, K::TABLE, K::KEY_COLUMN, &ids).await?;
    let (table, columns) = (K::TABLE, K::COLUMNS.join(", "));
    let assignments: Vec<String> = K::COLUMNS
        .iter()
        .map(|column| match K::STICKY_COLUMN {
            Some(sticky) if sticky == *column => format!("{column} = ({table}.{column} or page.{column})"),
            _ => format!("{column} = page.{column}"),
        })
        .collect();
    let assignments = assignments.join(", ");
    // Row id, the kind's columns.
    let binds = 1 + K::COLUMNS.len();
    for chunk in changed.chunks(rows_per_statement(binds)) {
        let mut query = QueryBuilder::<Db>::new(format!("with page (id, {columns}) as ("));
        query.push_values(chunk, |mut row, change| {
            row.push_bind(change.id);
            K::push_columns(&mut row, change.record(), change.sticky, &change.fingerprint);
        });
        query
            .push(format!(")\n update {table} set {assignments}, updated_at = "))
            .push_bind(now)
            .push(format!(" from page where {table}.workspace_id = "))
            .push_bind(ws.0)
            .push(format!(" and {table}.id = page.id"));
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}
