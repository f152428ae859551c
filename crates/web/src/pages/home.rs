//! The home page: who is signed in, with what role, and where to go next.
//! Admins also see whether Microsoft 365 is connected, since connecting it
//! (Integrations) is the first thing an admin does. Everyone sees whether
//! their account is linked to their Microsoft account, with the button that
//! links it (`POST /auth/microsoft/link`) or unlinks it.

use super::times::{Instant, instant};
use super::{Layout, page};
use crate::{AppState, CurrentUser, WebError};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use tac_store::{IntegrationStatus, IntegrationSummary};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    name: String,
    email: String,
    role: &'static str,
    is_admin: bool,
    last_login: Option<Instant>,
    /// For admins: the integration's state in a sentence.
    integration: Option<String>,
    /// The link to a Microsoft account.
    microsoft: MicrosoftAccount,
}

/// The "Microsoft account" panel.
struct MicrosoftAccount {
    linked: bool,
    /// Sign in with Microsoft is set up, so linking can work.
    available: bool,
    /// The account has a password, so it may be unlinked.
    can_unlink: bool,
    /// The admin role comes from an Entra role.
    admin_from_entra: bool,
}

async fn home(State(state): State<AppState>, current: CurrentUser) -> Result<Response, WebError> {
    let integration = if current.user.is_admin() {
        Some(describe(state.store().integration_summary(state.workspace()).await?.as_ref()))
    } else {
        None
    };
    let user = &current.user;
    let microsoft = MicrosoftAccount {
        linked: user.oidc_object_id.is_some(),
        available: super::microsoft_sign_in::available(&state).await?,
        can_unlink: user.password_hash.is_some(),
        admin_from_entra: user.admin_from_entra,
    };
    page(
        StatusCode::OK,
        &HomePage {
            layout: Layout::signed_in("Home", &current),
            name: user.name().to_owned(),
            email: user.email.clone(),
            role: user.role.as_str(),
            is_admin: user.is_admin(),
            last_login: user.last_login_at.map(instant),
            integration,
            microsoft,
        },
    )
}

fn describe(summary: Option<&IntegrationSummary>) -> String {
    match summary {
        None => "Microsoft 365 is not connected yet. Open Integrations and enter the Tenant ID, Client ID and \
                 Client Secret of your app registration, then turn on Import Emails and Calendar Synchronization."
            .to_owned(),
        Some(s) => match s.settings.status {
            IntegrationStatus::Connected => format!(
                "Microsoft 365 is connected (tenant {}). Import Emails is {}, Calendar Synchronization is {}.",
                s.settings.tenant_id,
                on_off(s.settings.import_emails),
                on_off(s.settings.calendar_sync)
            ),
            IntegrationStatus::Unverified => {
                "Microsoft 365 settings are saved but not tested yet: open Integrations and test the connection."
                    .to_owned()
            }
            IntegrationStatus::Failed => format!(
                "The Microsoft 365 connection failed{}. Open Integrations to fix it.",
                s.settings.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        },
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
