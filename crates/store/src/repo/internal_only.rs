/*!
Classifying stored emails and meetings as internal-only, again, when the
directory changes what "internal" means.

Sync classifies each item as it stores it, against the directory of its
pass. A directory change (a verified domain added, a colleague leaving)
can change the answer for items stored earlier, and the privacy rules
apply to stored data like to new data: an item that becomes internal-only
loses its content unless the workspace keeps internal-only content, and
leaves the contact timelines; one that stops being internal-only goes onto
them (its content comes back when a full read rewrites it).

The classification is a walk over every item, so it runs only when the
digest of the directory differs from the one the items were last
classified against (`internal_rule`). It works in batches, each in its own
transaction, and writes the digest last: a crash part way leaves the
digest old, and the next pass walks again, which changes nothing already
done.
*/

use super::activity::{hold_linking_lock, link_emails, link_meetings, unlink};
use super::contacts::load_internal;
use super::privacy::{Scope, erase_freed, keeps_internal, strip};
use super::{Db, Pool, begin_write, now, push_list};
use crate::error::Result;
use crate::types::WorkspaceId;
use sqlx::QueryBuilder;
use std::collections::HashMap;
use tac_core::internal::Internal;
use tac_core::privacy::Visibility;
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

/// How many items one batch reads and rewrites.
const BATCH: i64 = 1_000;

/// Classifies every stored email and meeting as internal-only or not
/// against the stored directory, when it changed since the last time,
/// and applies the privacy rules to the items whose answer changed.
/// Returns how many did. Resumable: a crash part way is finished by the
/// next call.
#[operation]
pub(crate) async fn classify_internal_only(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    let mut conn = pool.acquire().await?;
    let internal = load_internal(&mut conn, ws).await?;
    let digest = crate::fingerprint::directory(&internal);
    let stored: Option<String> =
        sqlx::query_scalar("select directory_digest from internal_rule where workspace_id = $1")
            .bind(ws.0)
            .fetch_optional(&mut *conn)
            .await?;
    drop(conn);
    if stored.as_deref() == Some(digest.as_str()) {
        return Ok(0);
    }
    let mut changed = 0;
    for kind in [ActivityKind::Email, ActivityKind::Meeting] {
        changed += classify(pool, ws, kind, &internal).await?;
    }
    sqlx::query(
        "insert into internal_rule (workspace_id, directory_digest, applied_at) values ($1, $2, $3)
         on conflict (workspace_id) do update set
             directory_digest = excluded.directory_digest, applied_at = excluded.applied_at",
    )
    .bind(ws.0)
    .bind(&digest)
    .bind(now())
    .execute(pool)
    .await?;
    if changed > 0 {
        tracing::info!(workspace = ws.0, changed, "classified stored items as internal-only again");
        erase_freed(pool).await;
    }
    Ok(changed)
}

/// One kind of item, batch by batch in id order.
async fn classify(pool: &Pool, ws: WorkspaceId, kind: ActivityKind, internal: &Internal) -> Result<u64> {
    let (table, people) = match kind {
        ActivityKind::Email => ("email", "select email_id, address from email_participant where email_id in "),
        ActivityKind::Meeting => ("meeting", "select meeting_id, address from meeting_attendee where meeting_id in "),
    };
    let mut changed = 0;
    let mut after = 0_i64;
    loop {
        // A meeting's organizer is one of its people too.
        let batch_sql = match kind {
            ActivityKind::Email => format!(
                "select id, internal_only, null from {table} where workspace_id = $1 and id > $2 order by id limit {BATCH}"
            ),
            ActivityKind::Meeting => format!(
                "select id, internal_only, organizer_address from {table}
                 where workspace_id = $1 and id > $2 order by id limit {BATCH}"
            ),
        };
        let batch: Vec<(i64, bool, Option<String>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(batch_sql)).bind(ws.0).bind(after).fetch_all(pool).await?;
        let Some(last) = batch.last().map(|(id, _, _)| *id) else { break };
        after = last;
        let mut addresses: HashMap<i64, Vec<String>> =
            batch.iter().map(|(id, _, organizer)| (*id, organizer.iter().cloned().collect())).collect();
        let mut query = QueryBuilder::<Db>::new(people);
        push_list(&mut query, batch.iter().map(|(id, _, _)| *id));
        let rows: Vec<(i64, String)> = query.build_query_as().persistent(false).fetch_all(pool).await?;
        for (id, address) in rows {
            addresses.entry(id).or_default().push(address);
        }
        let (mut now_internal, mut now_external) = (Vec::new(), Vec::new());
        for (id, was, _) in &batch {
            let is = internal.all_internal(addresses[id].iter().map(String::as_str));
            match (was, is) {
                (false, true) => now_internal.push(*id),
                (true, false) => now_external.push(*id),
                _ => {}
            }
        }
        if now_internal.is_empty() && now_external.is_empty() {
            continue;
        }
        changed += (now_internal.len() + now_external.len()) as u64;
        apply(pool, ws, kind, &now_internal, &now_external).await?;
    }
    Ok(changed)
}

/// Writes one batch's new answers: internal-only items are stripped unless
/// the workspace keeps them, and leave the timelines; the others join them.
async fn apply(pool: &Pool, ws: WorkspaceId, kind: ActivityKind, internal: &[i64], external: &[i64]) -> Result<()> {
    let table = match kind {
        ActivityKind::Email => "email",
        ActivityKind::Meeting => "meeting",
    };
    let mut tx = begin_write(pool).await?;
    hold_linking_lock(&mut tx, ws).await?;
    let keep = keeps_internal(&mut tx, ws).await?;
    for (ids, flag) in [(internal, true), (external, false)] {
        if ids.is_empty() {
            continue;
        }
        // The fingerprint is cleared so the next full read rewrites the row.
        let mut query = QueryBuilder::<Db>::new(format!("update {table} set fingerprint = '', internal_only = "));
        query.push_bind(flag).push(" where workspace_id = ").push_bind(ws.0).push(" and id in ");
        push_list(&mut query, ids.iter().copied());
        query.build().persistent(false).execute(&mut *tx).await?;
    }
    if !keep {
        strip(&mut tx, ws, kind, Visibility::Metadata, Scope::Ids(internal)).await?;
    }
    unlink(&mut tx, kind, internal).await?;
    match kind {
        ActivityKind::Email => link_emails(&mut tx, ws, external).await?,
        ActivityKind::Meeting => link_meetings(&mut tx, ws, external).await?,
    }
    tx.commit().await?;
    Ok(())
}
