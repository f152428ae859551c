//! Sign in with Microsoft: portal users found by Entra tenant id + object
//! id (never by email: an email can be reassigned), the sign-ins under way
//! (`oidc_login`, used once), who may sign in (`sign_in_policy`), and the
//! Entra roles that make someone a TAC admin (`sign_in_admin_role`).

use super::portal::normalize_email;
use super::privacy::audit;
use super::{Conn, Pool, begin_write};
use crate::crypto::token_hash;
use crate::error::{Result, StoreError};
use crate::types::{EntraAdminChanges, NewMicrosoftUser, OidcLogin, PortalUser, PortalUserId, Role, WorkspaceId};
use chrono::{DateTime, Utc};
use tac_store_macros::operation;

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

/// The portal user linked to this Microsoft account (`tid`, `oid`).
#[operation]
pub(crate) async fn portal_user_by_microsoft_id(
    pool: &Pool,
    ws: WorkspaceId,
    tenant_id: &str,
    object_id: &str,
) -> Result<Option<PortalUser>> {
    let mut conn = pool.acquire().await?;
    user_by_microsoft_id(&mut conn, ws, tenant_id, object_id).await
}

/// Creates a member without a password, linked to the Microsoft account;
/// if one is already linked (two first sign-ins at once), returns it. An
/// email that another portal user has gives [`StoreError::UserExists`]:
/// accounts are never linked by email.
#[operation]
pub(crate) async fn provision_microsoft_user(
    pool: &Pool,
    ws: WorkspaceId,
    new: &NewMicrosoftUser,
) -> Result<PortalUser> {
    let now = Utc::now();
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

/// Links an existing portal user (e.g. a local admin) to a Microsoft
/// account, explicitly; the account may be linked to one user only.
#[operation]
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

/// Undoes [`Store::link_microsoft_account`](crate::Store::link_microsoft_account). An admin role that came
/// from an Entra role goes too. Refused ([`StoreError::InvalidInput`])
/// for an account without a password: it could no longer sign in.
#[operation]
pub(crate) async fn unlink_microsoft_account(pool: &Pool, ws: WorkspaceId, id: PortalUserId) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    let Some(user) = super::portal::portal_user_on(&mut tx, ws, id).await? else {
        return Err(StoreError::NotFound("portal user"));
    };
    if user.password_hash.is_none() {
        return Err(StoreError::InvalidInput(
            "this account signs in only with Microsoft: unlinking it would lock it out".to_owned(),
        ));
    }
    // An admin role that came from Entra came through this link, and goes with it.
    sqlx::query(
        "update portal_user set oidc_tenant_id = null, oidc_object_id = null,
             role = case when admin_from_entra then $3 else role end, admin_from_entra = $4
         where workspace_id = $1 and id = $2",
    )
    .bind(ws.0)
    .bind(id.0)
    .bind(Role::Member.as_str())
    .bind(false)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Keeps the email and display name up to date from the id_token's
/// claims; an email another user has gives [`StoreError::UserExists`].
#[operation]
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

/// Stores a sign-in under way, keyed by its OAuth `state` (as a hash),
/// bound to the browser by `browser_token` (as a hash). `link_user`:
/// the signed-in portal user who is linking their Microsoft account.
#[allow(clippy::too_many_arguments, reason = "one row's columns")]
#[operation]
pub(crate) async fn create_oidc_login(
    pool: &Pool,
    ws: WorkspaceId,
    state: &str,
    browser_token: &str,
    nonce: &str,
    code_verifier: &str,
    next_path: &str,
    link_user: Option<PortalUserId>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "insert into oidc_login
             (id, workspace_id, browser_hash, nonce, code_verifier, next_path, link_user_id, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(token_hash(state))
    .bind(ws.0)
    .bind(token_hash(browser_token))
    .bind(nonce)
    .bind(code_verifier)
    .bind(next_path)
    .bind(link_user.map(|u| u.0))
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
    link_user_id: Option<i64>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Removes the sign-in for `state` and returns it if it had not expired
/// at `now`. Only one caller ever gets it: a replayed state finds nothing.
#[operation]
pub(crate) async fn take_oidc_login(
    pool: &Pool,
    ws: WorkspaceId,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Option<OidcLogin>> {
    // Deleted whether or not it has expired: a state is used once.
    let row: Option<OidcLoginRow> = sqlx::query_as(
        "delete from oidc_login where id = $1 and workspace_id = $2
         returning browser_hash, nonce, code_verifier, next_path, link_user_id, created_at, expires_at",
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
        link_user_id: r.link_user_id.map(PortalUserId),
        created_at: r.created_at,
        expires_at: r.expires_at,
    }))
}

/// Housekeeping: removes sign-ins expired at `now`; how many.
#[operation]
pub(crate) async fn delete_expired_oidc_logins(pool: &Pool, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("delete from oidc_login where expires_at <= $1").bind(now).execute(pool).await?;
    Ok(done.rows_affected())
}

// ---- who may sign in --------------------------------------------------------

/// The directory group whose members may sign in with Microsoft; `None`:
/// every member of the tenant.
#[operation]
pub(crate) async fn sign_in_group(pool: &Pool, ws: WorkspaceId) -> Result<Option<String>> {
    let group: Option<Option<String>> =
        sqlx::query_scalar("select group_id from sign_in_policy where workspace_id = $1")
            .bind(ws.0)
            .fetch_optional(pool)
            .await?;
    Ok(group.flatten())
}

/// Restricts Sign in with Microsoft to one group's members (`None`: lift it).
#[operation]
pub(crate) async fn set_sign_in_group(pool: &Pool, ws: WorkspaceId, group_id: Option<&str>) -> Result<()> {
    let now = Utc::now();
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

/// Whether the directory sync stored `user_id` as a member of `group_id`.
#[operation]
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

// ---- who is an admin because of an Entra role -------------------------------

/// The Entra roles (template ids, lowercase) whose holders are TAC
/// admins when they sign in with Microsoft; empty: none.
#[operation]
pub(crate) async fn sign_in_admin_roles(pool: &Pool, ws: WorkspaceId) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "select role_template_id from sign_in_admin_role where workspace_id = $1 order by role_template_id",
    )
    .bind(ws.0)
    .fetch_all(pool)
    .await?)
}

/// Saves the roles that make someone a TAC admin (audited as `actor`),
/// and applies them at once to every linked portal user.
#[operation]
pub(crate) async fn set_sign_in_admin_roles(
    pool: &Pool,
    ws: WorkspaceId,
    role_template_ids: &[String],
    actor: &str,
) -> Result<EntraAdminChanges> {
    let mut chosen: Vec<String> = role_template_ids.iter().map(|r| normalize_id(r)).filter(|r| !r.is_empty()).collect();
    chosen.sort();
    chosen.dedup();
    let mut tx = begin_write(pool).await?;
    sqlx::query("delete from sign_in_admin_role where workspace_id = $1").bind(ws.0).execute(&mut *tx).await?;
    for role in &chosen {
        sqlx::query("insert into sign_in_admin_role (workspace_id, role_template_id) values ($1, $2)")
            .bind(ws.0)
            .bind(role)
            .execute(&mut *tx)
            .await?;
    }
    audit(&mut tx, ws, actor, "sign_in.admin_roles", serde_json::json!({ "role_template_ids": chosen })).await?;
    let changes = reconcile_on(&mut tx, ws).await?;
    tx.commit().await?;
    Ok(changes)
}

/// The object ids (lowercase) of the people who hold a chosen role, as the
/// last directory sync stored them.
const ENTRA_ADMINS: &str = "select m.user_id from directory_role_member m
     join directory_role r on r.workspace_id = m.workspace_id and r.id = m.role_id
     join sign_in_admin_role a on a.workspace_id = r.workspace_id and a.role_template_id = r.role_template_id
     where m.workspace_id = $1";

/// Whether the Microsoft account `object_id` holds a role that makes it
/// a TAC admin, as the last directory sync stored the roles.
#[operation]
pub(crate) async fn holds_admin_role(pool: &Pool, ws: WorkspaceId, object_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from ({ENTRA_ADMINS} and m.user_id = $2) held"
    )))
    .bind(ws.0)
    .bind(normalize_id(object_id))
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// Makes the role of every linked portal user follow the chosen Entra
/// roles as last synced (see [`PortalUser::admin_from_entra`]): after a
/// directory sync, a link, or a first sign-in.
#[operation]
pub(crate) async fn reconcile_entra_admins(pool: &Pool, ws: WorkspaceId) -> Result<EntraAdminChanges> {
    let mut tx = begin_write(pool).await?;
    let changes = reconcile_on(&mut tx, ws).await?;
    tx.commit().await?;
    Ok(changes)
}

/// Makes the role of every linked portal user follow the chosen Entra
/// roles: a member who holds one becomes an admin (from Entra); an admin
/// from Entra who holds none becomes a member. Admins made in TAC are
/// left alone. Each change is audited.
async fn reconcile_on(conn: &mut Conn, ws: WorkspaceId) -> Result<EntraAdminChanges> {
    let promoted: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "update portal_user set role = $2, admin_from_entra = $3
         where workspace_id = $1 and role = $4 and oidc_object_id in ({ENTRA_ADMINS})
         returning email"
    )))
    .bind(ws.0)
    .bind(Role::Admin.as_str())
    .bind(true)
    .bind(Role::Member.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let demoted: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "update portal_user set role = $2, admin_from_entra = $3
         where workspace_id = $1 and admin_from_entra = $4
           and (oidc_object_id is null or oidc_object_id not in ({ENTRA_ADMINS}))
         returning email"
    )))
    .bind(ws.0)
    .bind(Role::Member.as_str())
    .bind(false)
    .bind(true)
    .fetch_all(&mut *conn)
    .await?;
    for (emails, role) in [(&promoted, Role::Admin), (&demoted, Role::Member)] {
        for email in emails {
            let detail = serde_json::json!({ "email": email, "role": role.as_str() });
            audit(conn, ws, "entra", "portal_user.role_from_entra", detail).await?;
        }
    }
    Ok(EntraAdminChanges { promoted, demoted })
}
