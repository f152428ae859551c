use super::{Pool, begin_write, now};
use crate::crypto::{MasterKey, Sealed, integration_aad};
use crate::error::{Result, StoreError};
use crate::types::{
    Integration, IntegrationId, IntegrationSettings, IntegrationStatus, IntegrationSummary, MailboxScope,
    SavedIntegration, SecretChange, WorkspaceId,
};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::types::Json;
use tac_store_macros::operation;

/// The integration row as stored; secret columns stay bytes until
/// [`load_integration`] opens them.
#[derive(sqlx::FromRow)]
struct IntegrationRow {
    id: i64,
    tenant_id: String,
    client_id: String,
    secret_ciphertext: Option<Vec<u8>>,
    secret_nonce: Option<Vec<u8>>,
    secret_key_id: Option<String>,
    secret_set_at: Option<DateTime<Utc>>,
    login_url: String,
    graph_url: String,
    import_emails: bool,
    calendar_sync: bool,
    mailbox_scope: Json<MailboxScope>,
    backfill_days: i64,
    status: String,
    last_error: Option<String>,
    updated_at: DateTime<Utc>,
}

impl IntegrationRow {
    fn settings(&self) -> Result<IntegrationSettings> {
        Ok(IntegrationSettings {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            login_url: self.login_url.clone(),
            graph_url: self.graph_url.clone(),
            import_emails: self.import_emails,
            calendar_sync: self.calendar_sync,
            mailbox_scope: self.mailbox_scope.0.clone(),
            backfill_days: u32::try_from(self.backfill_days)
                .map_err(|_| StoreError::corrupt("integration.backfill_days", self.backfill_days))?,
            status: self.status.parse().map_err(|e| StoreError::corrupt("integration.status", e))?,
            last_error: self.last_error.clone(),
        })
    }

    /// The sealed secret, if one was set.
    fn sealed(&self) -> Option<Sealed> {
        match (&self.secret_ciphertext, &self.secret_nonce) {
            (Some(ciphertext), Some(nonce)) => Some(Sealed {
                ciphertext: ciphertext.clone(),
                nonce: nonce.clone(),
                key_id: self.secret_key_id.clone().unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

const SELECT_INTEGRATION: &str = "
    select id, tenant_id, client_id, secret_ciphertext, secret_nonce, secret_key_id, secret_set_at,
           login_url, graph_url, import_emails, calendar_sync, mailbox_scope, backfill_days,
           status, last_error, updated_at
    from integration
    where workspace_id = $1";

async fn integration_row(pool: &Pool, ws: WorkspaceId) -> Result<Option<IntegrationRow>> {
    Ok(sqlx::query_as(SELECT_INTEGRATION).bind(ws.0).fetch_optional(pool).await?)
}

/// The other settings that changed, for the audit log.
fn other_changes(old: &IntegrationSettings, new: &IntegrationSettings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.import_emails != new.import_emails {
        changed.push("import_emails");
    }
    if old.calendar_sync != new.calendar_sync {
        changed.push("calendar_sync");
    }
    if old.mailbox_scope != new.mailbox_scope {
        changed.push("mailbox_scope");
    }
    if old.backfill_days != new.backfill_days {
        changed.push("backfill_days");
    }
    changed
}

/// Saves the settings; with `new_secret`, also seals and stores the
/// client secret. Without, the stored secret is kept as it is, unless
/// the tenant, client id, login URL or Graph URL changed: then it is
/// cleared, so the secret never goes to a new destination unless it is
/// entered again. Each save is in the audit log as `actor`, with the
/// settings that changed.
#[operation]
pub(crate) async fn save_integration(
    pool: &Pool,
    ws: WorkspaceId,
    settings: &IntegrationSettings,
    new_secret: Option<&SecretString>,
    key: &MasterKey,
    actor: &str,
) -> Result<SavedIntegration> {
    let now = now();
    let mut tx = begin_write(pool).await?;
    let old: Option<IntegrationRow> = sqlx::query_as(SELECT_INTEGRATION).bind(ws.0).fetch_optional(&mut *tx).await?;
    let (destination, others, had_secret) = match &old {
        Some(row) => {
            let old_settings = row.settings()?;
            (old_settings.destination_changes(settings), other_changes(&old_settings, settings), row.sealed().is_some())
        }
        None => (vec!["tenant_id", "client_id", "login_url", "graph_url"], Vec::new(), false),
    };
    // Upsert the settings first: the row id is the secret's AAD.
    let id: i64 = sqlx::query_scalar(
        "insert into integration (
             workspace_id, tenant_id, client_id, login_url, graph_url, import_emails, calendar_sync,
             mailbox_scope, backfill_days, status, last_error, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (workspace_id) do update set
             tenant_id = excluded.tenant_id,
             client_id = excluded.client_id,
             login_url = excluded.login_url,
             graph_url = excluded.graph_url,
             import_emails = excluded.import_emails,
             calendar_sync = excluded.calendar_sync,
             mailbox_scope = excluded.mailbox_scope,
             backfill_days = excluded.backfill_days,
             status = excluded.status,
             last_error = excluded.last_error,
             updated_at = excluded.updated_at
         returning id",
    )
    .bind(ws.0)
    .bind(&settings.tenant_id)
    .bind(&settings.client_id)
    .bind(&settings.login_url)
    .bind(&settings.graph_url)
    .bind(settings.import_emails)
    .bind(settings.calendar_sync)
    .bind(Json(&settings.mailbox_scope))
    .bind(i64::from(settings.backfill_days))
    .bind(settings.status.as_str())
    .bind(settings.last_error.as_deref())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;

    // Without a new secret the stored one stays, sealed as it was, unless
    // where it would be sent changed: then it is cleared.
    let secret = match new_secret {
        Some(_) => SecretChange::Replaced,
        None if had_secret && !destination.is_empty() => SecretChange::Cleared,
        None => SecretChange::Kept,
    };
    if secret == SecretChange::Cleared {
        sqlx::query(
            "update integration
             set secret_ciphertext = null, secret_nonce = null, secret_key_id = null, secret_set_at = null
             where workspace_id = $1 and id = $2",
        )
        .bind(ws.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(secret) = new_secret {
        let sealed = key.seal(&integration_aad(id), secret)?;
        sqlx::query(
            "update integration
             set secret_ciphertext = $1, secret_nonce = $2, secret_key_id = $3, secret_set_at = $4
             where workspace_id = $5 and id = $6",
        )
        .bind(sealed.ciphertext)
        .bind(sealed.nonce)
        .bind(sealed.key_id)
        .bind(now)
        .bind(ws.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let changed: Vec<&'static str> = destination.into_iter().chain(others).collect();
    let detail = serde_json::json!({ "changed": changed, "secret": secret.as_str() });
    super::privacy::audit(&mut tx, ws, actor, "integration.save", detail).await?;
    tx.commit().await?;
    Ok(SavedIntegration { id: IntegrationId(id), secret, changed })
}

/// The integration with its secret decrypted. A secret sealed with
/// another master key gives [`StoreError::SecretUndecryptable`].
#[operation]
pub(crate) async fn load_integration(pool: &Pool, ws: WorkspaceId, key: &MasterKey) -> Result<Option<Integration>> {
    let Some(row) = integration_row(pool, ws).await? else {
        return Ok(None);
    };
    let client_secret = match row.sealed() {
        Some(sealed) => Some(key.open(&integration_aad(row.id), sealed)?),
        None => None,
    };
    Ok(Some(Integration {
        id: IntegrationId(row.id),
        settings: row.settings()?,
        client_secret,
        secret_set_at: row.secret_set_at,
    }))
}

/// The integration for display: settings and when the secret was set,
/// never the secret.
#[operation]
pub(crate) async fn integration_summary(pool: &Pool, ws: WorkspaceId) -> Result<Option<IntegrationSummary>> {
    let Some(row) = integration_row(pool, ws).await? else {
        return Ok(None);
    };
    Ok(Some(IntegrationSummary {
        id: IntegrationId(row.id),
        settings: row.settings()?,
        secret_set_at: row.secret_set_at,
        secret_key_id: row.secret_key_id.clone(),
        updated_at: row.updated_at,
    }))
}

/// Records the outcome of a connection test or sync.
#[operation]
pub(crate) async fn set_integration_status(
    pool: &Pool,
    ws: WorkspaceId,
    status: IntegrationStatus,
    last_error: Option<&str>,
) -> Result<()> {
    let updated =
        sqlx::query("update integration set status = $1, last_error = $2, updated_at = $3 where workspace_id = $4")
            .bind(status.as_str())
            .bind(last_error)
            .bind(now())
            .bind(ws.0)
            .execute(pool)
            .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound("integration"));
    }
    Ok(())
}
