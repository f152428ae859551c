//! Sign in with Microsoft: portal users found by Entra tenant id + object
//! id (never by email: an email can be reassigned), the sign-ins under way
//! (`oidc_login`, used once), and who may sign in (`sign_in_policy`).

use super::portal::normalize_email;
use super::{Conn, Pool, begin_write};
use crate::crypto::token_hash;
use crate::error::{Result, StoreError};
use crate::types::{NewMicrosoftUser, OidcLogin, PortalUser, PortalUserId, Role, WorkspaceId};
use chrono::{DateTime, Utc};

/// Tenant and object ids are GUIDs; Graph writes them lowercase.
fn normalize_id(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

async fn user_by_microsoft_id(
    conn: &mut Conn,
    ws: WorkspaceId,
    tenant_id: &str,
    object_id: &str,
) -> Result<Option<PortalUser>> {
    let id: Option<i64> = sqlx::query_scalar(
        "select id from portal_user where workspace_id = $1 and oidc_tenant_id = $2 and oidc_object_id = $3",
    )
    .bind(ws.0)
    .bind(normalize_id(tenant_id))
    .bind(normalize_id(object_id))
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => super::portal::portal_user_on(conn, ws, PortalUserId(id)).await,
        None => Ok(None),
    }
}

pub(crate) async fn portal_user_by_microsoft_id(
    pool: &Pool,
    ws: WorkspaceId,
    tenant_id: &str,
    object_id: &str,
) -> Result<Option<PortalUser>> {
    let mut conn = pool.acquire().await?;
    user_by_microsoft_id(&mut conn, ws, tenant_id, object_id).await
}

pub(crate) async fn provision_microsoft_user(
    pool: &Pool,
    ws: WorkspaceId,
    new: &NewMicrosoftUser,
    now: DateTime<Utc>,
) -> Result<PortalUser> {
    let email = normalize_email(&new.email);
    if email.is_empty() {
        return Err(StoreError::InvalidInput("a portal user needs an email".to_owned()));
    }
    if new.tenant_id.trim().is_empty() || new.object_id.trim().is_empty() {
        return Err(StoreError::InvalidInput("a Microsoft user needs a tenant id and an object id".to_owned()));
    }
    let mut tx = begin_write(pool).await?;
    if let Some(found) = user_by_microsoft_id(&mut tx, ws, &new.tenant_id, &new.object_id).await? {
        return Ok(found);
    }
    let inserted: std::result::Result<i64, StoreError> = sqlx::query_scalar(
        "insert into portal_user
             (workspace_id, email, display_name, password_hash, role, oidc_tenant_id, oidc_object_id, created_at)
         values ($1, $2, $3, null, $4, $5, $6, $7)
         returning id",
    )
    .bind(ws.0)
    .bind(&email)
    .bind(new.display_name.trim())
    .bind(Role::Member.as_str())
    .bind(normalize_id(&new.tenant_id))
    .bind(normalize_id(&new.object_id))
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::from);
    match inserted {
        Ok(id) => {
            let user = super::portal::portal_user_on(&mut tx, ws, PortalUserId(id))
                .await?
                .ok_or(StoreError::NotFound("portal user"))?;
            tx.commit().await?;
            Ok(user)
        }
        Err(StoreError::Conflict { .. }) => {
            drop(tx);
            // Another sign-in of the same person won the race, or the email
            // belongs to someone else (never linked by email).
            let mut conn = pool.acquire().await?;
            match user_by_microsoft_id(&mut conn, ws, &new.tenant_id, &new.object_id).await? {
                Some(found) => Ok(found),
                None => Err(StoreError::UserExists { email }),
            }
        }
        Err(other) => Err(other),
    }
}

pub(crate) async fn link_microsoft_account(
    pool: &Pool,
    ws: WorkspaceId,
    id: PortalUserId,
    tenant_id: &str,
    object_id: &str,
) -> Result<()> {
    let done = sqlx::query(
        "update portal_user set oidc_tenant_id = $3, oidc_object_id = $4 where workspace_id = $1 and id = $2",
    )
    .bind(ws.0)
    .bind(id.0)
    .bind(normalize_id(tenant_id))
    .bind(normalize_id(object_id))
    .execute(pool)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            StoreError::InvalidInput("this Microsoft account is already linked to another portal user".to_owned())
        }
        other => other,
    })?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("portal user"));
    }
    Ok(())
}

pub(crate) async fn update_microsoft_profile(
    pool: &Pool,
    ws: WorkspaceId,
    id: PortalUserId,
    email: &str,
    display_name: &str,
) -> Result<()> {
    let email = normalize_email(email);
    if email.is_empty() {
        return Err(StoreError::InvalidInput("a portal user needs an email".to_owned()));
    }
    let done = sqlx::query("update portal_user set email = $3, display_name = $4 where workspace_id = $1 and id = $2")
        .bind(ws.0)
        .bind(id.0)
        .bind(&email)
        .bind(display_name.trim())
        .execute(pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => StoreError::UserExists { email: email.clone() },
            other => other,
        })?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("portal user"));
    }
    Ok(())
}

// ---- sign-ins under way -----------------------------------------------------

#[allow(clippy::too_many_arguments, reason = "one row's columns")]
pub(crate) async fn create_oidc_login(
    pool: &Pool,
    ws: WorkspaceId,
    state: &str,
    browser_token: &str,
    nonce: &str,
    code_verifier: &str,
    next_path: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "insert into oidc_login (id, workspace_id, browser_hash, nonce, code_verifier, next_path, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(token_hash(state))
    .bind(ws.0)
    .bind(token_hash(browser_token))
    .bind(nonce)
    .bind(code_verifier)
    .bind(next_path)
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OidcLoginRow {
    browser_hash: String,
    nonce: String,
    code_verifier: String,
    next_path: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

pub(crate) async fn take_oidc_login(
    pool: &Pool,
    ws: WorkspaceId,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Option<OidcLogin>> {
    // Deleted whether or not it has expired: a state is used once.
    let row: Option<OidcLoginRow> = sqlx::query_as(
        "delete from oidc_login where id = $1 and workspace_id = $2
         returning browser_hash, nonce, code_verifier, next_path, created_at, expires_at",
    )
    .bind(token_hash(state))
    .bind(ws.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.filter(|r| r.expires_at > now).map(|r| OidcLogin {
        browser_hash: r.browser_hash,
        nonce: r.nonce,
        code_verifier: r.code_verifier,
        next_path: r.next_path,
        created_at: r.created_at,
        expires_at: r.expires_at,
    }))
}

pub(crate) async fn delete_expired_oidc_logins(pool: &Pool, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("delete from oidc_login where expires_at <= $1").bind(now).execute(pool).await?;
    Ok(done.rows_affected())
}

// ---- who may sign in --------------------------------------------------------

pub(crate) async fn sign_in_group(pool: &Pool, ws: WorkspaceId) -> Result<Option<String>> {
    let group: Option<Option<String>> =
        sqlx::query_scalar("select group_id from sign_in_policy where workspace_id = $1")
            .bind(ws.0)
            .fetch_optional(pool)
            .await?;
    Ok(group.flatten())
}

pub(crate) async fn set_sign_in_group(
    pool: &Pool,
    ws: WorkspaceId,
    group_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let group_id = group_id.map(normalize_id).filter(|g| !g.is_empty());
    sqlx::query(
        "insert into sign_in_policy (workspace_id, group_id, updated_at) values ($1, $2, $3)
         on conflict (workspace_id) do update set group_id = excluded.group_id, updated_at = excluded.updated_at",
    )
    .bind(ws.0)
    .bind(group_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn is_group_member(pool: &Pool, ws: WorkspaceId, group_id: &str, user_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from group_member where workspace_id = $1 and lower(group_id) = $2 and lower(user_id) = $3",
    )
    .bind(ws.0)
    .bind(normalize_id(group_id))
    .bind(normalize_id(user_id))
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}
