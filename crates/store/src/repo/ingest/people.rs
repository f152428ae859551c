/*!
An item's people, the participants of an email or the attendees of a
meeting, as page ingest (`ingest.rs`) writes them.

Each kind keeps its people in a table of its own, one row per item and
person key: an email's participant by role and address, a meeting's
attendee by address. The other columns (a name, an attendee's type and
response) are values, rewritten in place when they change. When an item
changes, its people are made exactly its record's ones while touching only
rows that differ, so the ids and contact links of unchanged people survive
and replaying a page writes nothing.

A [`Kind`] names the table and its columns and turns a record's people into
rows; the algorithm is the same for both kinds.
*/

use super::super::{Conn, Db, push_list, rows_per_statement};
use super::{Changed, Kind};
use crate::error::Result;
use crate::types::WorkspaceId;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

/// One person as a row of the kind's people table: the
/// [`Kind::PERSON_KEY`] values, then the [`Kind::PERSON_VALUES`] ones.
pub(in super::super) type PersonRow<'a> = Vec<&'a str>;

/// Makes the people of the changed items exactly their records' ones and
/// inserts the people of the new items.
pub(super) async fn write_people<K: Kind>(
    conn: &mut Conn,
    ws: WorkspaceId,
    changed: &[Changed<'_, '_, K>],
    new: &[(i64, &K::Record)],
) -> Result<()> {
    let mut inserts: Vec<(i64, PersonRow<'_>)> =
        new.iter().flat_map(|(id, record)| distinct::<K>(record).into_iter().map(|row| (*id, row))).collect();
    rewrite_people::<K>(conn, changed, &mut inserts).await?;
    insert_people::<K>(conn, ws, &inserts).await
}

/// The record's people, one per key: the first given wins, in the order
/// given.
fn distinct<K: Kind>(record: &K::Record) -> Vec<PersonRow<'_>> {
    let key = K::PERSON_KEY.len();
    let mut rows: Vec<PersonRow<'_>> = Vec::new();
    for row in K::people(record) {
        if !rows.iter().any(|seen| seen[..key] == row[..key]) {
            rows.push(row);
        }
    }
    rows
}

/// People as stored: by item id, then by key, the row id and the values.
type Stored = HashMap<i64, HashMap<Vec<String>, (i64, Vec<String>)>>;

/// Rewrites the changed items' people where they differ from their
/// records'. Rows to insert are added to `inserts`.
async fn rewrite_people<'a, K: Kind>(
    conn: &mut Conn,
    changed: &[Changed<'_, 'a, K>],
    inserts: &mut Vec<(i64, PersonRow<'a>)>,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let mut stored = stored_people::<K>(conn, changed).await?;
    let key = K::PERSON_KEY.len();
    let mut rewrites: Vec<(i64, PersonRow<'a>)> = Vec::new();
    let mut deletes: Vec<i64> = Vec::new();
    for change in changed {
        let mut by_key = stored.remove(&change.id).unwrap_or_default();
        for row in distinct::<K>(change.record()) {
            let row_key: Vec<String> = row[..key].iter().map(|value| (*value).to_owned()).collect();
            match by_key.remove(&row_key) {
                Some((_, values)) if values.iter().map(String::as_str).eq(row[key..].iter().copied()) => {}
                Some((id, _)) => rewrites.push((id, row)),
                None => inserts.push((change.id, row)),
            }
        }
        deletes.extend(by_key.into_values().map(|(id, _)| id));
    }
    for (id, row) in rewrites {
        let mut query = QueryBuilder::<Db>::new(format!("update {} set ", K::PEOPLE_TABLE));
        let mut values = query.separated(", ");
        for (column, value) in K::PERSON_VALUES.iter().zip(&row[key..]) {
            values.push(format_args!("{column} = ")).push_bind_unseparated(*value);
        }
        query.push(" where id = ").push_bind(id);
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    for chunk in deletes.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(format!("delete from {} where id in ", K::PEOPLE_TABLE));
        push_list(&mut query, chunk.iter().copied());
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The stored people of the changed items.
async fn stored_people<K: Kind>(conn: &mut Conn, changed: &[Changed<'_, '_, K>]) -> Result<Stored> {
    let (table, item) = (K::PEOPLE_TABLE, K::ITEM_COLUMN);
    let columns = [K::PERSON_KEY, K::PERSON_VALUES].concat().join(", ");
    let key = K::PERSON_KEY.len();
    let mut stored: Stored = HashMap::with_capacity(changed.len());
    for chunk in changed.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(format!("select id, {item}, {columns} from {table} where {item} in "));
        push_list(&mut query, chunk.iter().map(|change| change.id));
        for row in query.build().persistent(false).fetch_all(&mut *conn).await? {
            let (id, item_id): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let mut values = (2..row.len()).map(|i| row.try_get::<String, _>(i)).collect::<sqlx::Result<Vec<_>>>()?;
            let person_values = values.split_off(key);
            stored.entry(item_id).or_default().insert(values, (id, person_values));
        }
    }
    Ok(stored)
}

/// Inserts people; each item's in the order given, so that ids keep that
/// order.
async fn insert_people<K: Kind>(conn: &mut Conn, ws: WorkspaceId, people: &[(i64, PersonRow<'_>)]) -> Result<()> {
    let (table, item) = (K::PEOPLE_TABLE, K::ITEM_COLUMN);
    let columns = [K::PERSON_KEY, K::PERSON_VALUES].concat().join(", ");
    // Workspace, item, then the person's columns.
    let binds = 2 + K::PERSON_KEY.len() + K::PERSON_VALUES.len();
    for chunk in people.chunks(rows_per_statement(binds)) {
        let mut query = QueryBuilder::<Db>::new(format!("insert into {table} (workspace_id, {item}, {columns}) "));
        query.push_values(chunk, |mut row, (item_id, person)| {
            row.push_bind(ws.0).push_bind(*item_id);
            for value in person {
                row.push_bind(*value);
            }
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}
