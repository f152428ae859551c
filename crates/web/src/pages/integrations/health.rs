//! The sync health dashboard of the Integrations page: each mailbox's
//! state, last success, counts and, when something is wrong, what to do
//! (the sentences `tac-crm status` prints, from `tac_sync::health`).
//!
//! The page polls `GET /integrations/health` every 2 seconds (htmx), so
//! counts climb while a pass runs: the store counts stored copies, so they
//! are current after every committed page. `POST /integrations/sync` asks
//! the background sync for a pass now, or says that none runs in this
//! process (`tac-crm serve --no-sync`).

use super::is_htmx;
use crate::pages::page;
use crate::pages::times::{Instant, instant};
use crate::{AdminUser, AppState, WebError};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use tac_core::MailboxState;
use tac_sync::health::{mailbox_advice, state_label};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/integrations/health", get(fragment)).route("/integrations/sync", post(sync_now))
}

/// One mailbox's row.
pub(crate) struct MailboxView {
    pub address: String,
    /// `ok`, `syncing`, `backoff`, `no_mailbox`, `access_denied`, `failed`.
    pub state: &'static str,
    pub label: &'static str,
    /// None: never.
    pub last_success: Option<Instant>,
    pub emails: u64,
    pub meetings: u64,
    pub skipped: u64,
    pub error_code: Option<String>,
    pub advice: Option<String>,
}

/// The dashboard: the rows and a summary line.
pub(crate) struct HealthView {
    pub rows: Vec<MailboxView>,
    pub syncing: usize,
    pub problems: usize,
    pub emails: u64,
    pub meetings: u64,
}

impl HealthView {
    pub(crate) async fn load(state: &AppState) -> Result<Self, WebError> {
        let mailboxes = state.store().mailboxes(state.workspace()).await?;
        let is_problem = |s: MailboxState| matches!(s, MailboxState::Failed | MailboxState::AccessDenied);
        Ok(HealthView {
            syncing: mailboxes.iter().filter(|m| m.state == MailboxState::Syncing).count(),
            problems: mailboxes.iter().filter(|m| is_problem(m.state)).count(),
            emails: mailboxes.iter().map(|m| m.email_count).sum(),
            meetings: mailboxes.iter().map(|m| m.meeting_count).sum(),
            rows: mailboxes
                .iter()
                .map(|m| MailboxView {
                    address: m.address.clone(),
                    state: m.state.as_str(),
                    label: state_label(m.state),
                    last_success: m.last_success_at.map(instant),
                    emails: m.email_count,
                    meetings: m.meeting_count,
                    skipped: m.skipped_count,
                    error_code: mailbox_advice(m).and(m.last_error_code.clone()),
                    advice: mailbox_advice(m),
                })
                .collect(),
        })
    }
}

#[derive(Template)]
#[template(path = "integrations_health.html")]
struct HealthFragment {
    health: HealthView,
}

#[derive(Template)]
#[template(path = "integrations_notice.html")]
struct NoticeFragment {
    ok: bool,
    text: &'static str,
}

async fn fragment(State(state): State<AppState>, _admin: AdminUser) -> Result<Response, WebError> {
    page(StatusCode::OK, &HealthFragment { health: HealthView::load(&state).await? })
}

/// What "Sync now" says.
const REQUESTED: &str = "Sync requested: a pass starts now, or as soon as the running one ends. \
                         The table below updates as it goes.";
const NO_BACKGROUND_SYNC: &str = "No background sync runs in this portal (it was started with --no-sync). \
                                  Start `tac-crm worker`, or run `tac-crm sync --once`.";

async fn sync_now(
    State(state): State<AppState>,
    AdminUser(current): AdminUser,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let requested = state.sync_trigger().map(|t| t.request()).is_some();
    tracing::info!(admin = %current.user.email, requested, "sync requested from the portal");
    let text = if requested { REQUESTED } else { NO_BACKGROUND_SYNC };
    if is_htmx(&headers) {
        return page(StatusCode::OK, &NoticeFragment { ok: requested, text });
    }
    let view = super::IntegrationsPage::load(&state, &current).await?;
    page(StatusCode::OK, &view.with_notice(text))
}
