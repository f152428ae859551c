//! Who is signed in, how the sync stands, asking for a sync pass, and the
//! integration's settings (admins). The mailbox list is `tac-crm status
//! --json`'s (`tac_store::json::mailbox_status`). The integration is shown
//! without its secret: only when one was set (`client_secret_set_at`).

use crate::{AdminUser, AppState, CurrentUser, Result, WebError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `GET /api/v1/me`: the signed-in user and the CSRF token to send as
/// `X-CSRF-Token` on POST, PATCH and DELETE.
pub(crate) async fn me(current: CurrentUser) -> Json<Value> {
    let u = &current.user;
    Json(json!({
        "id": u.id.to_string(),
        "email": u.email,
        "name": u.name(),
        "role": u.role.as_str(),
        "created_at": u.created_at,
        "last_login_at": u.last_login_at,
        "csrf_token": current.csrf_token,
    }))
}

/// `GET /api/v1/mailboxes`: each synced mailbox's state.
pub(crate) async fn mailboxes(State(state): State<AppState>, _user: CurrentUser) -> Result<Json<Value>> {
    let rows = state.store().mailboxes(state.workspace()).await?;
    let items: Vec<Value> = rows.iter().map(tac_store::json::mailbox_status).collect();
    Ok(Json(json!({"items": items})))
}

/// `POST /api/v1/sync` (admins): asks the background sync for a pass; 202,
/// or 409 when this process runs no background sync.
pub(crate) async fn request_sync(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<(StatusCode, Json<Value>)> {
    let Some(trigger) = state.sync_trigger() else {
        return Err(WebError::Conflict(
            "No background sync runs in this process (the portal was started with --no-sync): \
             run `tac-crm worker`, or `tac-crm sync --once`."
                .to_owned(),
        ));
    };
    trigger.request();
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "requested"}))))
}

/// `GET /api/v1/integration` (admins): the settings, never the secret.
pub(crate) async fn integration(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>> {
    let Some(summary) = state.store().integration_summary(state.workspace()).await? else {
        return Err(WebError::Missing(
            "No Microsoft 365 integration is set up yet: an admin sets it up on the Integrations page.".to_owned(),
        ));
    };
    let s = &summary.settings;
    Ok(Json(json!({
        "tenant_id": s.tenant_id,
        "client_id": s.client_id,
        "client_secret_set_at": summary.secret_set_at,
        "login_url": s.login_url,
        "graph_url": s.graph_url,
        "import_emails": s.import_emails,
        "calendar_sync": s.calendar_sync,
        "mailbox_scope": s.mailbox_scope,
        "backfill_days": s.backfill_days,
        "status": s.status.as_str(),
        "last_error": s.last_error,
        "updated_at": summary.updated_at,
    })))
}
