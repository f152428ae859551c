//! First-admin setup from the one-time link that `tac-crm serve` prints at
//! its first start (`/setup?token=…`). The link works once, for 24 hours,
//! and only while the workspace has no admin. The new admin is signed in
//! straight away.

use super::{FieldError, Layout, page, see_other, with_cookies};
use crate::auth::{check_new_password, csrf, normalize_email, password, session};
use crate::{AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;
use tac_store::{NewPortalUser, Role, StoreError};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/setup", get(form).post(submit))
}

/// The longest display name kept.
const MAX_NAME_CHARS: usize = 200;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    csrf: String,
    token: String,
    email: String,
    display_name: String,
    email_error: FieldError,
    name_error: FieldError,
    password_error: FieldError,
    confirm_error: FieldError,
}

impl SetupPage {
    /// The form for the setup link `token`, filled in with what was typed
    /// and no error yet.
    fn new(csrf: String, token: String, email: String, display_name: String) -> Self {
        SetupPage {
            layout: Layout::anonymous("Set up TAC"),
            csrf,
            token,
            email,
            display_name,
            email_error: FieldError::default(),
            name_error: FieldError::default(),
            password_error: FieldError::default(),
            confirm_error: FieldError::default(),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SetupForm {
    token: String,
    email: String,
    display_name: String,
    password: String,
    confirm: String,
}

/// Refuses unless the link can still create the first admin.
async fn ensure_usable(state: &AppState, token: &str) -> Result<(), WebError> {
    if state.store().count_admins(state.workspace()).await? > 0 {
        return Err(StoreError::AdminExists.into());
    }
    if token.is_empty() || !state.store().setup_token_is_valid(state.workspace(), token, Utc::now()).await? {
        return Err(StoreError::SetupTokenInvalid.into());
    }
    Ok(())
}

async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response, WebError> {
    ensure_usable(&state, &query.token).await?;
    let (csrf, cookie) = csrf::pre_session_token(&headers)?;
    let view = SetupPage::new(csrf, query.token, String::new(), String::new());
    Ok(with_cookies(page(StatusCode::OK, &view)?, cookie))
}

async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(input): Form<SetupForm>,
) -> Result<Response, WebError> {
    ensure_usable(&state, &input.token).await?;
    let (csrf, cookie) = csrf::pre_session_token(&headers)?;
    let mut view =
        SetupPage::new(csrf, input.token.clone(), input.email.trim().to_owned(), input.display_name.trim().to_owned());
    let email = normalize_email(&input.email).map_err(|m| view.email_error.set(m)).ok();
    if view.display_name.chars().count() > MAX_NAME_CHARS {
        view.name_error.set(format!("Use at most {MAX_NAME_CHARS} characters."));
    }
    if let Err(message) = check_new_password(&input.password, email.as_deref().unwrap_or("")) {
        view.password_error.set(message);
    } else if input.confirm != input.password {
        view.confirm_error.set("The two passwords differ. Type the same password twice.");
    }
    let invalid = view.name_error.is_set() || view.password_error.is_set() || view.confirm_error.is_set();
    let Some(email) = email.filter(|_| !invalid) else {
        return Ok(with_cookies(page(StatusCode::UNPROCESSABLE_ENTITY, &view)?, cookie));
    };

    let hash = password::hash_blocking(input.password).await.map_err(|e| WebError::Internal(e.to_string()))?;
    let new =
        NewPortalUser { email, display_name: view.display_name.clone(), password_hash: Some(hash), role: Role::Admin };
    let now = Utc::now();
    let id = match state.store().create_first_admin(state.workspace(), &input.token, &new, now).await {
        Ok(id) => id,
        Err(StoreError::UserExists { .. }) => {
            view.email_error.set("A user with this email exists already. Use another email, or sign in.");
            return Ok(with_cookies(page(StatusCode::UNPROCESSABLE_ENTITY, &view)?, cookie));
        }
        Err(e) => return Err(e.into()),
    };
    state.store().record_login(state.workspace(), id, now).await?;
    tracing::info!(user = %id, "first admin created from the setup link");
    let started = session::start(&state, id).await?;
    Ok(with_cookies(see_other("/"), [csrf::clear_pre_session()?, started]))
}

/// How long a setup link printed at start-up works.
pub const SETUP_LINK_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// While the workspace has no admin: a new one-time link that creates the
/// first one (`PUBLIC_URL/setup?token=…`, valid 24 hours). `None` once an
/// admin exists. `tac-crm serve` prints it at start-up.
pub async fn first_admin_setup_link(state: &AppState) -> Result<Option<String>, WebError> {
    if state.store().count_admins(state.workspace()).await? > 0 {
        return Ok(None);
    }
    let token = crate::auth::random_token()?;
    let now = Utc::now();
    state.store().create_setup_token(state.workspace(), &token, now, now + SETUP_LINK_LIFETIME).await?;
    Ok(Some(format!("{}/setup?token={token}", state.public_url())))
}
