use super::{Pool, now};
use crate::error::Result;
use crate::types::WorkspaceId;
use tac_store_macros::operation;

/// The id of the workspace with this name, creating it if needed.
#[operation]
pub(crate) async fn ensure_workspace(pool: &Pool, name: &str) -> Result<WorkspaceId> {
    // The no-op update makes `returning` yield the id of an existing row too.
    let id: i64 = sqlx::query_scalar(
        "insert into workspace (name, created_at) values ($1, $2)
         on conflict (name) do update set name = excluded.name
         returning id",
    )
    .bind(name)
    .bind(now())
    .fetch_one(pool)
    .await?;
    Ok(WorkspaceId(id))
}

/// One round trip: answers when the database does (for `/readyz`).
#[operation]
pub(crate) async fn ping(pool: &Pool) -> Result<()> {
    // Nothing decoded: `select 1` is an int4 on PostgreSQL and an int8 on
    // SQLite, and a type mismatch must not read as "the database is down".
    sqlx::query("select 1").execute(pool).await?;
    Ok(())
}
