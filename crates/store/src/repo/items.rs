/*!
One email or one meeting, as its own page shows it: the item redacted by
the privacy policy, and an email's sanitised body.

An item page answers `NotFound` for an item of another workspace, and for
an internal-only item the viewer may not see, as if it did not exist.
*/

use super::privacy::parse_visibility;
use super::search::Source;
use super::timeline::item_facts;
use super::{BACKEND, Conn, Owned, Pool, visibility_owning};
use crate::error::{Result, StoreError};
use crate::types::{Backend, EmailBody, EmailId, MeetingId, Viewer, WorkspaceId};
use chrono::{DateTime, Utc};
use tac_core::privacy::Visibility;
use tac_core::timeline::{EmailItem, MeetingItem};
use tac_store_macros::operation;

/// An email's sanitised body; [`StoreError::Hidden`] when the policy
/// hides it, `NotFound` as for [`Store::email_item`](crate::Store::email_item).
#[operation]
pub(crate) async fn email_body(
    pool: &Pool,
    ws: WorkspaceId,
    email: EmailId,
    viewer: &Viewer,
    allow_remote_images: bool,
) -> Result<EmailBody> {
    let email_id = email.0;
    let mut conn = pool.acquire().await?;
    let rule = internal_rule(&mut conn, ws, Source::Email, email_id, viewer).await?;
    let row: Option<(String, String, bool, String, Option<String>)> = sqlx::query_as(
        "select body_html, body_text, is_private, content_level,
                (select visibility from privacy_policy where workspace_id = $1)
         from email where workspace_id = $1 and id = $2",
    )
    .bind(ws.0)
    .bind(email_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (html, text, is_private, level, visibility) = row.ok_or(StoreError::NotFound("email"))?;
    let stored: Visibility = level.parse().map_err(|_| StoreError::corrupt("email.content_level", &level))?;
    let visibility = parse_visibility(visibility)?;
    if rule.internal_only && !rule.keep_internal {
        return Err(StoreError::Hidden(
            "this email is between colleagues only: the workspace keeps only who and when of such mail",
        ));
    }
    if !tac_core::privacy::shown(visibility, is_private).body {
        return Err(StoreError::Hidden(if is_private {
            "this email is private: only who and when are shown"
        } else {
            "the workspace's privacy settings hide email bodies"
        }));
    }
    if !tac_core::privacy::shown(stored, is_private).body {
        return Err(StoreError::Hidden(
            "this body was removed when visibility was lowered; the next sync reads it again",
        ));
    }
    let clean =
        tac_core::sanitize::sanitize_email_html(&html, tac_core::sanitize::SanitizeOptions { allow_remote_images });
    Ok(EmailBody { html: clean.html, text, blocked_images: clean.blocked_images })
}

/// One email as a timeline shows it (redacted by the privacy policy),
/// seen from the team: outbound when a team member sent it.
/// `NotFound` when it is not in the workspace, or is internal-only and
/// not the viewer's to see.
#[operation]
pub(crate) async fn email_item(pool: &Pool, ws: WorkspaceId, email: EmailId, viewer: &Viewer) -> Result<EmailItem> {
    let email_id = email.0;
    let mut conn = pool.acquire().await?;
    internal_rule(&mut conn, ws, Source::Email, email_id, viewer).await?;
    let visibility = visibility_owning(&mut conn, ws, Some((Owned::Email, email_id))).await?;
    let mut facts = item_facts(&mut conn, ws, &[email_id], &[]).await?;
    let mut f = facts.emails.remove(&email_id).ok_or(StoreError::NotFound("email"))?;
    // 'outbound' sorts after 'inbound': the max says whether any team
    // member sent it.
    let direction: Option<String> = sqlx::query_scalar(
        "select max(direction) from email_copy where workspace_id = $1 and email_id = $2 and removed_at is null",
    )
    .bind(ws.0)
    .bind(email_id)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(d) = direction.as_deref().and_then(|d| d.parse().ok()) {
        f.direction = d;
    }
    Ok(f.into_item(visibility))
}

/// One meeting as a timeline shows it (redacted by the privacy policy).
/// `NotFound` when it is not in the workspace, or is internal-only and
/// not the viewer's to see.
#[operation]
pub(crate) async fn meeting_item(
    pool: &Pool,
    ws: WorkspaceId,
    meeting: MeetingId,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Result<MeetingItem> {
    let meeting_id = meeting.0;
    let mut conn = pool.acquire().await?;
    internal_rule(&mut conn, ws, Source::Meeting, meeting_id, viewer).await?;
    let visibility = visibility_owning(&mut conn, ws, Some((Owned::Meeting, meeting_id))).await?;
    let mut facts = item_facts(&mut conn, ws, &[], &[meeting_id]).await?;
    let f = facts.meetings.remove(&meeting_id).ok_or(StoreError::NotFound("meeting"))?;
    Ok(f.into_item(visibility, now))
}

/// How the internal-only rule sees one item.
struct InternalRule {
    internal_only: bool,
    keep_internal: bool,
}

/// The item's standing under the internal-only rule, or `NotFound` when it
/// is not in the workspace or is internal-only and not the viewer's to see
/// (the same answer, so a member cannot tell a colleague's item exists).
async fn internal_rule(
    conn: &mut Conn,
    ws: WorkspaceId,
    source: Source,
    id: i64,
    viewer: &Viewer,
) -> Result<InternalRule> {
    let (table, _, _) = source.tables();
    let missing = table;
    let sql = format!(
        "select s.internal_only,
                coalesce((select keep_internal from privacy_policy where workspace_id = $1), {false_}),
                {held_by}$3))
         from {table} s where s.workspace_id = $1 and s.id = $2",
        false_ = if BACKEND == Backend::Sqlite { "0" } else { "false" },
        held_by = source.held_by(),
    );
    let row: Option<(bool, bool, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ws.0)
        .bind(id)
        .bind(viewer.user_id.as_deref())
        .fetch_optional(&mut *conn)
        .await?;
    let (internal_only, keep_internal, own) = row.ok_or(StoreError::NotFound(missing))?;
    if internal_only && !tac_core::privacy::may_open_internal_only(keep_internal, viewer.admin, own) {
        return Err(StoreError::NotFound(missing));
    }
    Ok(InternalRule { internal_only, keep_internal })
}
