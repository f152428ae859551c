use super::{Conn, Pool, count, now};
use crate::error::{Result, StoreError};
use crate::types::{MailboxId, MailboxRow, WorkspaceId};
use chrono::{DateTime, Utc};
use tac_core::records::MailboxState;
use tac_store_macros::operation;

/// Creates the mailbox of a directory user, or updates its address. A new
/// mailbox starts as `syncing`: it is waiting for its first round.
#[operation]
pub(crate) async fn upsert_mailbox(pool: &Pool, ws: WorkspaceId, user_id: &str, address: &str) -> Result<MailboxId> {
    let now = now();
    let id: i64 = sqlx::query_scalar(
        "insert into mailbox (workspace_id, user_id, address, state, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $5)
         on conflict (workspace_id, user_id) do update set address = excluded.address
         returning id",
    )
    .bind(ws.0)
    .bind(user_id)
    .bind(address)
    .bind(MailboxState::Syncing.as_str())
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(MailboxId(id))
}

/// Sets the state; `last_error` is `(code, message)`. An error replaces the
/// last one; `None` keeps it (so a mailbox back to `syncing` still shows why
/// it failed before). Any state but `backoff` clears `backoff_until`;
/// `no_mailbox` keeps it, as the time of the next check (see
/// [`Store::set_mailbox_no_mailbox`](crate::Store::set_mailbox_no_mailbox)).
#[operation]
pub(crate) async fn set_mailbox_state(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    state: MailboxState,
    last_error: Option<(&str, &str)>,
) -> Result<()> {
    update_state(pool, ws, mailbox, state, None, None, last_error).await
}

/// Puts the mailbox in `backoff` until `until` (from `Retry-After` or the
/// exponential schedule).
#[operation]
pub(crate) async fn set_mailbox_backoff(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    until: DateTime<Utc>,
    last_error: Option<(&str, &str)>,
) -> Result<()> {
    update_state(pool, ws, mailbox, MailboxState::Backoff, Some(until), None, last_error).await
}

/// Records that the user has no mailbox: checked again after `recheck_at`,
/// or sooner if a licence appears where there was none (`licensed` is what
/// the directory showed now); `reason` is `(code, message)`.
#[operation]
pub(crate) async fn set_mailbox_no_mailbox(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    recheck_at: DateTime<Utc>,
    licensed: Option<bool>,
    reason: (&str, &str),
) -> Result<()> {
    update_state(pool, ws, mailbox, MailboxState::NoMailbox, Some(recheck_at), licensed, Some(reason)).await
}

/// One statement for every state change. `until` is kept only for the
/// states that wait (`backoff`, and `no_mailbox` until its recheck), and
/// `licensed` only for `no_mailbox`; other states clear both.
#[allow(clippy::too_many_arguments, reason = "one column each, bound in one statement")]
async fn update_state(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    state: MailboxState,
    until: Option<DateTime<Utc>>,
    licensed: Option<bool>,
    last_error: Option<(&str, &str)>,
) -> Result<()> {
    let until = matches!(state, MailboxState::Backoff | MailboxState::NoMailbox).then_some(until).flatten();
    let licensed = (state == MailboxState::NoMailbox).then_some(licensed).flatten();
    let query = match last_error {
        Some((code, message)) => sqlx::query(
            "update mailbox
             set state = $1, backoff_until = $2, licensed_at_check = $3, updated_at = $4,
                 last_error_code = $5, last_error_message = $6
             where workspace_id = $7 and id = $8",
        )
        .bind(state.as_str())
        .bind(until)
        .bind(licensed)
        .bind(now())
        .bind(code)
        .bind(message)
        .bind(ws.0)
        .bind(mailbox.0),
        None => sqlx::query(
            "update mailbox set state = $1, backoff_until = $2, licensed_at_check = $3, updated_at = $4
             where workspace_id = $5 and id = $6",
        )
        .bind(state.as_str())
        .bind(until)
        .bind(licensed)
        .bind(now())
        .bind(ws.0)
        .bind(mailbox.0),
    };
    if query.execute(pool).await?.rows_affected() == 0 {
        return Err(StoreError::NotFound("mailbox"));
    }
    Ok(())
}

/// Marks a finished round: state `ok`, `last_success_at` now, and no error
/// or backoff. The counts need no recording: [`Store::mailboxes`](crate::Store::mailboxes) counts the
/// stored copies, so they are always current.
#[operation]
pub(crate) async fn record_mailbox_success(pool: &Pool, ws: WorkspaceId, mailbox: MailboxId) -> Result<()> {
    let now = now();
    let updated = sqlx::query(
        "update mailbox
         set state = $1, last_success_at = $2, updated_at = $2,
             last_error_code = null, last_error_message = null, backoff_until = null
         where workspace_id = $3 and id = $4",
    )
    .bind(MailboxState::Ok.as_str())
    .bind(now)
    .bind(ws.0)
    .bind(mailbox.0)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound("mailbox"));
    }
    Ok(())
}

/// Records an item that failed to decode; recording it again only updates
/// the reason, so it is counted once per item id.
#[operation]
pub(crate) async fn record_skipped_item(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    item_id: &str,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "insert into skipped_item (workspace_id, mailbox_id, item_id, reason, first_seen_at, last_seen_at)
         values ($1, $2, $3, $4, $5, $5)
         on conflict (workspace_id, mailbox_id, item_id)
         do update set reason = excluded.reason, last_seen_at = excluded.last_seen_at",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .bind(item_id)
    .bind(reason)
    .bind(now())
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MailboxDbRow {
    id: i64,
    user_id: String,
    address: String,
    state: String,
    last_success_at: Option<DateTime<Utc>>,
    last_error_code: Option<String>,
    last_error_message: Option<String>,
    backoff_until: Option<DateTime<Utc>>,
    licensed_at_check: Option<bool>,
    email_count: i64,
    meeting_count: i64,
    skipped_count: i64,
    updated_at: DateTime<Utc>,
}

/// The team's mailbox addresses, sorted: what a "team member" filter
/// offers, without [`Store::mailboxes`](crate::Store::mailboxes)' counts.
#[operation]
pub(crate) async fn mailbox_addresses(conn: &mut Conn, ws: WorkspaceId) -> Result<Vec<String>> {
    let rows = sqlx::query_scalar("select address from mailbox where workspace_id = $1 order by address")
        .bind(ws.0)
        .fetch_all(conn)
        .await?;
    Ok(rows)
}

/// Every mailbox with its state and counts, by address.
#[operation]
pub(crate) async fn mailboxes(pool: &Pool, ws: WorkspaceId) -> Result<Vec<MailboxRow>> {
    let rows: Vec<MailboxDbRow> = sqlx::query_as(
        "select m.id, m.user_id, m.address, m.state, m.last_success_at, m.last_error_code,
                m.last_error_message, m.backoff_until, m.licensed_at_check, m.updated_at,
                (select count(*) from email_copy c
                 where c.workspace_id = m.workspace_id and c.mailbox_id = m.id and c.removed_at is null)
                    as email_count,
                (select count(*) from meeting_copy c
                 where c.workspace_id = m.workspace_id and c.mailbox_id = m.id and c.removed_at is null)
                    as meeting_count,
                (select count(*) from skipped_item s
                 where s.workspace_id = m.workspace_id and s.mailbox_id = m.id)
                    as skipped_count
         from mailbox m
         where m.workspace_id = $1
         order by m.address, m.id",
    )
    .bind(ws.0)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(MailboxRow {
                id: MailboxId(row.id),
                state: row.state.parse().map_err(|e| StoreError::corrupt("mailbox.state", e))?,
                user_id: row.user_id,
                address: row.address,
                last_success_at: row.last_success_at,
                last_error_code: row.last_error_code,
                last_error_message: row.last_error_message,
                backoff_until: row.backoff_until,
                licensed_at_check: row.licensed_at_check,
                email_count: count(row.email_count),
                meeting_count: count(row.meeting_count),
                skipped_count: count(row.skipped_count),
                updated_at: row.updated_at,
            })
        })
        .collect()
}
