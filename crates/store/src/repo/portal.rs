//! Portal accounts: users, sessions, failed sign-ins and first-admin setup
//! links. Bearer tokens (session cookies, setup links) reach the database
//! only as their SHA-256 ([`token_hash`]); emails are kept trimmed and
//! lowercased so that look-ups and throttling ignore case.

use super::{BACKEND, Conn, Pool, begin_write, count};
use crate::crypto::token_hash;
use crate::error::{Result, StoreError};
use crate::types::{
    AttemptHistory, Backend, LoginFailures, NewPortalUser, PortalSession, PortalUser, PortalUserId, Reservation, Role,
    WorkspaceId,
};
use chrono::{DateTime, Utc};
use tac_store_macros::operation;

/// How emails are compared: `Ann@Example.com ` is `ann@example.com`, by
/// the one address rule (`tac_core::address`).
pub(crate) fn normalize_email(email: &str) -> String {
    tac_core::address::canonical(email)
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    workspace_id: i64,
    email: String,
    display_name: String,
    role: String,
    password_hash: Option<String>,
    oidc_tenant_id: Option<String>,
    oidc_object_id: Option<String>,
    admin_from_entra: bool,
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

impl UserRow {
    fn into_user(self) -> Result<PortalUser> {
        Ok(PortalUser {
            id: PortalUserId(self.id),
            workspace_id: WorkspaceId(self.workspace_id),
            email: self.email,
            display_name: self.display_name,
            role: self.role.parse().map_err(|e| StoreError::corrupt("portal_user.role", e))?,
            password_hash: self.password_hash,
            oidc_tenant_id: self.oidc_tenant_id,
            oidc_object_id: self.oidc_object_id,
            admin_from_entra: self.admin_from_entra,
            created_at: self.created_at,
            last_login_at: self.last_login_at,
        })
    }
}

const USER_COLUMNS: &str = "u.id, u.workspace_id, u.email, u.display_name, u.role, u.password_hash, \
                            u.oidc_tenant_id, u.oidc_object_id, u.admin_from_entra, u.created_at, u.last_login_at";

async fn insert_user(
    conn: &mut Conn,
    ws: WorkspaceId,
    new: &NewPortalUser,
    now: DateTime<Utc>,
) -> Result<PortalUserId> {
    let email = normalize_email(&new.email);
    if email.is_empty() {
        return Err(StoreError::InvalidInput("a portal user needs an email".to_owned()));
    }
    let id: i64 = sqlx::query_scalar(
        "insert into portal_user (workspace_id, email, display_name, password_hash, role, created_at)
         values ($1, $2, $3, $4, $5, $6)
         returning id",
    )
    .bind(ws.0)
    .bind(&email)
    .bind(new.display_name.trim())
    .bind(new.password_hash.as_deref())
    .bind(new.role.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        // The only unique key a new row can hit: OIDC ids start out null.
        StoreError::Conflict { .. } => StoreError::UserExists { email: email.clone() },
        other => other,
    })?;
    Ok(PortalUserId(id))
}

/// Creates a portal user; an email already used in the workspace (in any
/// case) gives [`StoreError::UserExists`].
#[operation]
pub(crate) async fn create_portal_user(pool: &Pool, ws: WorkspaceId, new: &NewPortalUser) -> Result<PortalUserId> {
    let now = Utc::now();
    let mut conn = pool.acquire().await?;
    insert_user(&mut conn, ws, new, now).await
}

/// The user with this email (compared trimmed and without case).
#[operation]
pub(crate) async fn portal_user_by_email(pool: &Pool, ws: WorkspaceId, email: &str) -> Result<Option<PortalUser>> {
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from portal_user u where u.workspace_id = $1 and u.email = $2"
    )))
    .bind(ws.0)
    .bind(normalize_email(email))
    .fetch_optional(pool)
    .await?;
    row.map(UserRow::into_user).transpose()
}

/// The user with this id in this workspace; another workspace's is `None`.
#[operation]
pub(crate) async fn portal_user(pool: &Pool, ws: WorkspaceId, id: PortalUserId) -> Result<Option<PortalUser>> {
    let mut conn = pool.acquire().await?;
    portal_user_on(&mut conn, ws, id).await
}

/// [`portal_user`] on a connection or inside a transaction.
pub(super) async fn portal_user_on(conn: &mut Conn, ws: WorkspaceId, id: PortalUserId) -> Result<Option<PortalUser>> {
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from portal_user u where u.workspace_id = $1 and u.id = $2"
    )))
    .bind(ws.0)
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(UserRow::into_user).transpose()
}

#[operation]
pub(crate) async fn count_admins(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("select count(*) from portal_user where workspace_id = $1 and role = $2")
        .bind(ws.0)
        .bind(Role::Admin.as_str())
        .fetch_one(pool)
        .await?;
    Ok(count(n))
}

/// Replaces a user's argon2 hash (a password change or reset).
#[operation]
pub(crate) async fn set_password_hash(pool: &Pool, ws: WorkspaceId, id: PortalUserId, hash: &str) -> Result<()> {
    let done = sqlx::query("update portal_user set password_hash = $3 where workspace_id = $1 and id = $2")
        .bind(ws.0)
        .bind(id.0)
        .bind(hash)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("portal user"));
    }
    Ok(())
}

/// Notes a successful sign-in.
#[operation]
pub(crate) async fn record_login(pool: &Pool, ws: WorkspaceId, id: PortalUserId, at: DateTime<Utc>) -> Result<()> {
    let done = sqlx::query("update portal_user set last_login_at = $3 where workspace_id = $1 and id = $2")
        .bind(ws.0)
        .bind(id.0)
        .bind(at)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("portal user"));
    }
    Ok(())
}

// ---- sessions ---------------------------------------------------------------

/// Opens a session for `token` (stored as its hash) with its CSRF token.
#[operation]
pub(crate) async fn create_session(
    pool: &Pool,
    ws: WorkspaceId,
    user: PortalUserId,
    token: &str,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "insert into session (id, workspace_id, portal_user_id, csrf_token, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash(token))
    .bind(ws.0)
    .bind(user.0)
    .bind(csrf_token)
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Rejected { .. } => StoreError::NotFound("portal user"),
        other => other,
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    user: UserRow,
    csrf_token: String,
    session_created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The session for `token` if it exists and has not expired at `now`,
/// with its user (and role) and CSRF token.
#[operation]
pub(crate) async fn session_by_token(
    conn: &mut Conn,
    ws: WorkspaceId,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<PortalSession>> {
    let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS}, s.csrf_token, s.created_at as session_created_at, s.expires_at
         from session s
         join portal_user u on u.workspace_id = s.workspace_id and u.id = s.portal_user_id
         where s.id = $1 and s.workspace_id = $2 and s.expires_at > $3"
    )))
    .bind(token_hash(token))
    .bind(ws.0)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(PortalSession {
            user: r.user.into_user()?,
            csrf_token: r.csrf_token,
            created_at: r.session_created_at,
            expires_at: r.expires_at,
        })
    })
    .transpose()
}

/// Ends a session (sign-out); an unknown token is not an error.
#[operation]
pub(crate) async fn delete_session(pool: &Pool, ws: WorkspaceId, token: &str) -> Result<()> {
    sqlx::query("delete from session where id = $1 and workspace_id = $2")
        .bind(token_hash(token))
        .bind(ws.0)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends every session of a user (after a password change); how many.
#[operation]
pub(crate) async fn delete_user_sessions(pool: &Pool, ws: WorkspaceId, user: PortalUserId) -> Result<u64> {
    let done = sqlx::query("delete from session where workspace_id = $1 and portal_user_id = $2")
        .bind(ws.0)
        .bind(user.0)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Housekeeping: removes sessions expired at `now`; how many.
#[operation]
pub(crate) async fn delete_expired_sessions(pool: &Pool, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("delete from session where expires_at <= $1").bind(now).execute(pool).await?;
    Ok(done.rows_affected())
}

// ---- failed sign-ins --------------------------------------------------------

/// Records a failed sign-in for throttling.
#[operation]
pub(crate) async fn record_login_failure(
    pool: &Pool,
    ws: WorkspaceId,
    email: &str,
    client_ip: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("insert into login_failure (workspace_id, email, client_ip, at) values ($1, $2, $3, $4)")
        .bind(ws.0)
        .bind(normalize_email(email))
        .bind(client_ip)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}

/// The failures that bear on an attempt by `email` from `client_ip` since
/// `since`, per key, in one statement.
async fn attempt_history(
    conn: &mut Conn,
    ws: WorkspaceId,
    email: &str,
    client_ip: &str,
    since: DateTime<Utc>,
) -> Result<AttemptHistory> {
    type Times = Option<DateTime<Utc>>;
    type Row = (i64, Times, Times, i64, Times, Times, i64, Times, Times);
    let row: Row = sqlx::query_as(
        "select
             count(*) filter (where email = $2), min(at) filter (where email = $2), max(at) filter (where email = $2),
             count(*) filter (where client_ip = $3), min(at) filter (where client_ip = $3),
             max(at) filter (where client_ip = $3),
             count(*) filter (where email = $2 and client_ip = $3),
             min(at) filter (where email = $2 and client_ip = $3), max(at) filter (where email = $2 and client_ip = $3)
         from login_failure
         where workspace_id = $1 and at > $4 and (email = $2 or client_ip = $3)",
    )
    .bind(ws.0)
    .bind(email)
    .bind(client_ip)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let failures = |n: i64, oldest: Times, latest: Times| LoginFailures { count: count(n), oldest, latest };
    Ok(AttemptHistory {
        account: failures(row.0, row.1, row.2),
        source: failures(row.3, row.4, row.5),
        pair: failures(row.6, row.7, row.8),
    })
}

/// The advisory lock key (PostgreSQL) that serialises the attempts on one
/// throttling key: the first 60 bits of a SHA-256 of it.
fn attempt_lock(ws: WorkspaceId, kind: &str, value: &str) -> i64 {
    let hash = token_hash(&format!("login-attempt:{}:{kind}:{value}", ws.0));
    i64::from_str_radix(&hash[..15], 16).unwrap_or_default()
}

/// Reserves a sign-in attempt before its password is checked: with the
/// failures since `since` of the account, of the source and of the two
/// together, `decide` says until when the attempt must wait (`None`:
/// go ahead). Granted, the attempt is recorded as a failure in the same
/// transaction (a successful sign-in then clears it), so N attempts at
/// once are counted as N, whatever instance they reach.
#[operation]
pub(crate) async fn reserve_login_attempt<F>(
    pool: &Pool,
    ws: WorkspaceId,
    email: &str,
    client_ip: &str,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    decide: F,
) -> Result<Reservation>
where
    F: FnOnce(&AttemptHistory) -> Option<DateTime<Utc>>,
{
    let email = normalize_email(email);
    // SQLite's write transaction already runs alone; PostgreSQL takes the
    // account's lock, then the source's (always in that order).
    let mut tx = begin_write(pool).await?;
    if BACKEND == Backend::Postgres {
        for key in [attempt_lock(ws, "email", &email), attempt_lock(ws, "ip", client_ip)] {
            sqlx::query("select pg_advisory_xact_lock($1)").bind(key).execute(&mut *tx).await?;
        }
    }
    let history = attempt_history(&mut tx, ws, &email, client_ip, since).await?;
    if let Some(retry_at) = decide(&history) {
        return Ok(Reservation::Refused { retry_at });
    }
    sqlx::query("insert into login_failure (workspace_id, email, client_ip, at) values ($1, $2, $3, $4)")
        .bind(ws.0)
        .bind(&email)
        .bind(client_ip)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Reservation::Granted)
}

/// The failed sign-ins since `since` that bear on an attempt by `email`
/// from `client_ip` (see [`AttemptHistory`]).
#[operation]
pub(crate) async fn login_attempt_history(
    pool: &Pool,
    ws: WorkspaceId,
    email: &str,
    client_ip: &str,
    since: DateTime<Utc>,
) -> Result<AttemptHistory> {
    let mut conn = pool.acquire().await?;
    attempt_history(&mut conn, ws, &normalize_email(email), client_ip, since).await
}

/// Forgets an email's failures after a successful sign-in. Failures
/// by address stay: signing in to one's own account must not reset the
/// limit for guessing others'.
#[operation]
pub(crate) async fn clear_login_failures(pool: &Pool, ws: WorkspaceId, email: &str) -> Result<u64> {
    let done = sqlx::query("delete from login_failure where workspace_id = $1 and email = $2")
        .bind(ws.0)
        .bind(normalize_email(email))
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Housekeeping: removes failures at or before `before`; how many.
#[operation]
pub(crate) async fn delete_login_failures_before(pool: &Pool, before: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("delete from login_failure where at <= $1").bind(before).execute(pool).await?;
    Ok(done.rows_affected())
}

// ---- first-admin setup ------------------------------------------------------

/// Stores a one-time setup link's token (as its hash).
#[operation]
pub(crate) async fn create_setup_token(
    pool: &Pool,
    ws: WorkspaceId,
    token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("insert into setup_token (id, workspace_id, created_at, expires_at) values ($1, $2, $3, $4)")
        .bind(token_hash(token))
        .bind(ws.0)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Whether the link is unused and unexpired at `now` (it stays so).
#[operation]
pub(crate) async fn setup_token_is_valid(
    pool: &Pool,
    ws: WorkspaceId,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "select id from setup_token
         where id = $1 and workspace_id = $2 and used_at is null and expires_at > $3",
    )
    .bind(token_hash(token))
    .bind(ws.0)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Marks the token used if it is valid; whether it was.
async fn use_setup_token(conn: &mut Conn, ws: WorkspaceId, token: &str, now: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query(
        "update setup_token set used_at = $3
         where id = $1 and workspace_id = $2 and used_at is null and expires_at > $3",
    )
    .bind(token_hash(token))
    .bind(ws.0)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses the link up if it is valid; whether it was. Only one caller
/// ever gets `true` for a token.
#[operation]
pub(crate) async fn consume_setup_token(pool: &Pool, ws: WorkspaceId, token: &str, now: DateTime<Utc>) -> Result<bool> {
    let mut conn = pool.acquire().await?;
    use_setup_token(&mut conn, ws, token, now).await
}

/// In one transaction: uses up the setup link, checks that no admin
/// exists and creates `new` as an admin; then voids every other link.
/// [`StoreError::SetupTokenInvalid`], [`StoreError::AdminExists`] or
/// [`StoreError::UserExists`] leave everything (the link too) as it was.
#[operation]
pub(crate) async fn create_first_admin(
    pool: &Pool,
    ws: WorkspaceId,
    token: &str,
    new: &NewPortalUser,
    now: DateTime<Utc>,
) -> Result<PortalUserId> {
    let mut tx = begin_write(pool).await?;
    if !use_setup_token(&mut tx, ws, token, now).await? {
        return Err(StoreError::SetupTokenInvalid);
    }
    let admins: i64 = sqlx::query_scalar("select count(*) from portal_user where workspace_id = $1 and role = $2")
        .bind(ws.0)
        .bind(Role::Admin.as_str())
        .fetch_one(&mut *tx)
        .await?;
    if admins > 0 {
        return Err(StoreError::AdminExists);
    }
    let admin = NewPortalUser { role: Role::Admin, ..new.clone() };
    let id = insert_user(&mut tx, ws, &admin, now).await?;
    // Every other outstanding link is void once an admin exists.
    sqlx::query("update setup_token set used_at = $2 where workspace_id = $1 and used_at is null")
        .bind(ws.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}
