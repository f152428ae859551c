use super::{Pool, begin_write};
use crate::error::Result;
use crate::types::WorkspaceId;
use sqlx::types::Json;
use tac_core::records::{DirectoryGroup, DirectoryRole, DirectoryUser, TenantDomain};
use tac_store_macros::operation;

#[derive(sqlx::FromRow)]
struct DirectoryUserRow {
    id: String,
    display_name: String,
    user_principal_name: String,
    mail: Option<String>,
    proxy_addresses: Json<Vec<String>>,
    account_enabled: bool,
}

impl From<DirectoryUserRow> for DirectoryUser {
    fn from(row: DirectoryUserRow) -> Self {
        DirectoryUser {
            id: row.id,
            display_name: row.display_name,
            user_principal_name: row.user_principal_name,
            mail: row.mail,
            proxy_addresses: row.proxy_addresses.0,
            account_enabled: row.account_enabled,
        }
    }
}

/// Replaces users, groups, memberships (`(group_id, user_id)`) and
/// verified domains in one transaction, so readers never see half of an old
/// and half of a new directory. Duplicate ids in the input keep the last
/// occurrence. When that changes who is internal, the stored items are
/// classified again ([`Store::classify_internal_only`](crate::Store::classify_internal_only)).
#[operation]
pub(crate) async fn replace_directory(
    pool: &Pool,
    ws: WorkspaceId,
    users: &[DirectoryUser],
    groups: &[DirectoryGroup],
    memberships: &[(String, String)],
    domains: &[TenantDomain],
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    for sql in [
        "delete from group_member where workspace_id = $1",
        "delete from directory_group where workspace_id = $1",
        "delete from directory_user where workspace_id = $1",
        "delete from tenant_domain where workspace_id = $1",
    ] {
        sqlx::query(sql).bind(ws.0).execute(&mut *tx).await?;
    }
    for user in users {
        sqlx::query(
            "insert into directory_user
                 (workspace_id, id, display_name, user_principal_name, mail, proxy_addresses, account_enabled)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (workspace_id, id) do update set
                 display_name = excluded.display_name,
                 user_principal_name = excluded.user_principal_name,
                 mail = excluded.mail,
                 proxy_addresses = excluded.proxy_addresses,
                 account_enabled = excluded.account_enabled",
        )
        .bind(ws.0)
        .bind(&user.id)
        .bind(&user.display_name)
        .bind(&user.user_principal_name)
        .bind(user.mail.as_deref())
        .bind(Json(&user.proxy_addresses))
        .bind(user.account_enabled)
        .execute(&mut *tx)
        .await?;
    }
    for group in groups {
        sqlx::query(
            "insert into directory_group (workspace_id, id, display_name, mail)
             values ($1, $2, $3, $4)
             on conflict (workspace_id, id) do update set
                 display_name = excluded.display_name,
                 mail = excluded.mail",
        )
        .bind(ws.0)
        .bind(&group.id)
        .bind(&group.display_name)
        .bind(group.mail.as_deref())
        .execute(&mut *tx)
        .await?;
    }
    for (group_id, user_id) in memberships {
        sqlx::query(
            "insert into group_member (workspace_id, group_id, user_id) values ($1, $2, $3)
             on conflict do nothing",
        )
        .bind(ws.0)
        .bind(group_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    }
    for domain in domains {
        sqlx::query(
            "insert into tenant_domain (workspace_id, name, is_default, is_initial)
             values ($1, $2, $3, $4)
             on conflict (workspace_id, name) do update set
                 is_default = excluded.is_default,
                 is_initial = excluded.is_initial",
        )
        .bind(ws.0)
        .bind(&domain.name)
        .bind(domain.is_default)
        .bind(domain.is_initial)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    super::classify_internal_only(pool, ws).await.map(drop)
}

/// Ordered by display name.
#[operation]
pub(crate) async fn directory_users(pool: &Pool, ws: WorkspaceId) -> Result<Vec<DirectoryUser>> {
    let rows: Vec<DirectoryUserRow> = sqlx::query_as(
        "select id, display_name, user_principal_name, mail, proxy_addresses, account_enabled
         from directory_user
         where workspace_id = $1
         order by display_name, id",
    )
    .bind(ws.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(DirectoryUser::from).collect())
}

/// Ordered by display name.
#[operation]
pub(crate) async fn directory_groups(pool: &Pool, ws: WorkspaceId) -> Result<Vec<DirectoryGroup>> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select id, display_name, mail from directory_group where workspace_id = $1 order by display_name, id",
    )
    .bind(ws.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, display_name, mail)| DirectoryGroup { id, display_name, mail }).collect())
}

/// Ordered by name.
#[operation]
pub(crate) async fn tenant_domains(pool: &Pool, ws: WorkspaceId) -> Result<Vec<TenantDomain>> {
    let rows: Vec<(String, bool, bool)> =
        sqlx::query_as("select name, is_default, is_initial from tenant_domain where workspace_id = $1 order by name")
            .bind(ws.0)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(name, is_default, is_initial)| TenantDomain { name, is_default, is_initial }).collect())
}

/// The directory users who are members of the group, by display name
/// (members that are not stored users, such as devices, are left out).
#[operation]
pub(crate) async fn group_members(pool: &Pool, ws: WorkspaceId, group_id: &str) -> Result<Vec<DirectoryUser>> {
    let rows: Vec<DirectoryUserRow> = sqlx::query_as(
        "select u.id, u.display_name, u.user_principal_name, u.mail, u.proxy_addresses, u.account_enabled
         from group_member m
         join directory_user u on u.workspace_id = m.workspace_id and u.id = m.user_id
         where m.workspace_id = $1 and m.group_id = $2
         order by u.display_name, u.id",
    )
    .bind(ws.0)
    .bind(group_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(DirectoryUser::from).collect())
}

/// The directory user with this Graph object id (any case), if the last
/// directory sync stored one.
#[operation]
pub(crate) async fn directory_user(pool: &Pool, ws: WorkspaceId, id: &str) -> Result<Option<DirectoryUser>> {
    let row: Option<DirectoryUserRow> = sqlx::query_as(
        "select id, display_name, user_principal_name, mail, proxy_addresses, account_enabled
         from directory_user
         where workspace_id = $1 and lower(id) = $2",
    )
    .bind(ws.0)
    .bind(id.trim().to_ascii_lowercase())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(DirectoryUser::from))
}

/// Replaces the directory roles and who holds them (`(role_id, user_id)`,
/// users only) in one transaction. Ids are kept lowercase, as Graph writes
/// GUIDs, so that they compare with the object ids of signed-in people.
#[operation]
pub(crate) async fn replace_directory_roles(
    pool: &Pool,
    ws: WorkspaceId,
    roles: &[DirectoryRole],
    holders: &[(String, String)],
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    for sql in [
        "delete from directory_role_member where workspace_id = $1",
        "delete from directory_role where workspace_id = $1",
    ] {
        sqlx::query(sql).bind(ws.0).execute(&mut *tx).await?;
    }
    for role in roles {
        sqlx::query(
            "insert into directory_role (workspace_id, id, role_template_id, display_name, description)
             values ($1, $2, $3, $4, $5)
             on conflict (workspace_id, id) do update set
                 role_template_id = excluded.role_template_id,
                 display_name = excluded.display_name,
                 description = excluded.description",
        )
        .bind(ws.0)
        .bind(role.id.trim().to_ascii_lowercase())
        .bind(role.role_template_id.trim().to_ascii_lowercase())
        .bind(&role.display_name)
        .bind(&role.description)
        .execute(&mut *tx)
        .await?;
    }
    for (role_id, user_id) in holders {
        sqlx::query(
            "insert into directory_role_member (workspace_id, role_id, user_id) values ($1, $2, $3)
             on conflict do nothing",
        )
        .bind(ws.0)
        .bind(role_id.trim().to_ascii_lowercase())
        .bind(user_id.trim().to_ascii_lowercase())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The activated directory roles the last sync read, by display name.
#[operation]
pub(crate) async fn directory_roles(pool: &Pool, ws: WorkspaceId) -> Result<Vec<DirectoryRole>> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "select id, role_template_id, display_name, description from directory_role
         where workspace_id = $1 order by display_name, id",
    )
    .bind(ws.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, role_template_id, display_name, description)| DirectoryRole {
            id,
            role_template_id,
            display_name,
            description,
        })
        .collect())
}

/// How many users hold each role, by template id (lowercase); roles
/// nobody holds are absent.
#[operation]
pub(crate) async fn role_holder_counts(pool: &Pool, ws: WorkspaceId) -> Result<Vec<(String, u64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select r.role_template_id, count(*) from directory_role_member m
         join directory_role r on r.workspace_id = m.workspace_id and r.id = m.role_id
         where m.workspace_id = $1
         group by r.role_template_id",
    )
    .bind(ws.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(template, n)| (template, u64::try_from(n).unwrap_or(0))).collect())
}

/// The object ids of the users who hold the role with this template id.
#[operation]
pub(crate) async fn role_holders(pool: &Pool, ws: WorkspaceId, role_template_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "select m.user_id from directory_role_member m
         join directory_role r on r.workspace_id = m.workspace_id and r.id = m.role_id
         where m.workspace_id = $1 and r.role_template_id = $2
         order by m.user_id",
    )
    .bind(ws.0)
    .bind(role_template_id.trim().to_ascii_lowercase())
    .fetch_all(pool)
    .await?)
}
