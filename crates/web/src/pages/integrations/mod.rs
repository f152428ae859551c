//! The Integrations page (admins only): the admin journey of the guide's
//! step 5 in a browser. Enter the Tenant ID, Client ID and Client Secret,
//! turn on Import Emails and Calendar Synchronization, save; then test the
//! connection, watch each mailbox sync, and set the privacy policy. The
//! end of the journey is here too: disconnecting purges what was synced,
//! after a confirmation that says what goes.
//!
//! Every action calls the same library functions as `tac-crm integration …`
//! and `tac-crm privacy …` (`tac-sync`'s `connection` and `health`, the
//! store's integration and privacy calls), so the portal and the CLI agree.
//! The client secret is write-only: it is never rendered back, not even
//! after a form error; the page only says when it was set.
//!
//! - `GET/POST /integrations`: the page, and saving the connection form.
//! - `POST /integrations/test`: test the connection (an htmx fragment).
//! - `GET /integrations/health`, `POST /integrations/sync`: see [`health`].
//! - `POST /integrations/privacy|blocklist|…`: the privacy forms, answered
//!   by `pages::privacy`.
//! - `POST /integrations/sign-in`: who may Sign in with Microsoft, and
//!   `POST /integrations/admin-roles`: which Entra roles make a TAC admin;
//!   see [`sign_in`].
//! - `GET/POST /integrations/disconnect`: confirm, then purge.

mod health;
mod sign_in;

use super::privacy::{self, Answer, PrivacyView};
use super::{FieldError, Fields, Layout, page};
use crate::error::sentence;
use crate::{AdminUser, AppState, CurrentUser, WebError};
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use health::HealthView;
use sign_in::{AdminRolesView, SignInView};
use tac_store::{IntegrationSettings, IntegrationStatus, MailboxScope, SecretString};
use tac_sync::connection::{self, BACKFILL_DAYS, CheckStatus, ConnectionError, validate};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/integrations", get(show).post(save))
        .route("/integrations/test", post(test))
        .route("/integrations/disconnect", get(confirm_disconnect).post(disconnect))
        .route("/integrations/privacy", privacy_form(privacy::set))
        .route("/integrations/blocklist", privacy_form(privacy::block))
        .route("/integrations/blocklist/remove", privacy_form(privacy::unblock))
        .route("/integrations/excluded", privacy_form(privacy::exclude))
        .route("/integrations/excluded/remove", privacy_form(privacy::include))
        .merge(health::router())
        .merge(sign_in::router())
}

/// The path Microsoft redirects to after "Sign in with Microsoft".
const REDIRECT_PATH: &str = super::microsoft_sign_in::CALLBACK_PATH;

/// A privacy form's route: admins only, answered with the Integrations
/// page and the form's notice, or with the forms and what to fix (422).
fn privacy_form<F, Fut>(answer: F) -> MethodRouter<AppState>
where
    F: Fn(AppState, CurrentUser, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Answer, WebError>> + Send + 'static,
{
    post(move |State(state): State<AppState>, AdminUser(current): AdminUser, body: Bytes| async move {
        let answered = answer(state.clone(), current.clone(), body).await?;
        let view = IntegrationsPage::load(&state, &current).await?;
        match answered {
            Answer::Saved(notice) => page(StatusCode::OK, &view.with_notice(notice)),
            Answer::Refused(privacy) => {
                page(StatusCode::UNPROCESSABLE_ENTITY, &IntegrationsPage { privacy: *privacy, ..view })
            }
        }
    })
}

/// Whether htmx sent the request (it wants a fragment, not a page).
pub(crate) fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true")
}

/// A group the sync can be limited to.
pub(crate) struct GroupOption {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

/// The connection form: what was saved, or what the admin typed. Never the
/// secret.
pub(crate) struct ConnectionForm {
    pub tenant_id: String,
    pub client_id: String,
    pub import_emails: bool,
    pub calendar_sync: bool,
    pub scope_groups: bool,
    pub groups: Vec<GroupOption>,
    pub backfill_days: String,
    pub login_url: String,
    pub graph_url: String,
    /// "set on 2026-11-26", when a secret is stored.
    pub secret_set_on: Option<String>,
    pub tenant_error: FieldError,
    pub client_error: FieldError,
    pub secret_error: FieldError,
    pub scope_error: FieldError,
    pub backfill_error: FieldError,
    pub login_url_error: FieldError,
    pub graph_url_error: FieldError,
}

impl ConnectionForm {
    fn has_errors(&self) -> bool {
        [
            &self.tenant_error,
            &self.client_error,
            &self.secret_error,
            &self.scope_error,
            &self.backfill_error,
            &self.login_url_error,
            &self.graph_url_error,
        ]
        .iter()
        .any(|e| e.is_set())
    }

    fn blank(secret_set_on: Option<String>) -> Self {
        ConnectionForm {
            tenant_id: String::new(),
            client_id: String::new(),
            import_emails: true,
            calendar_sync: true,
            scope_groups: false,
            groups: Vec::new(),
            backfill_days: tac_store::DEFAULT_BACKFILL_DAYS.to_string(),
            login_url: tac_store::DEFAULT_LOGIN_URL.to_owned(),
            graph_url: tac_store::DEFAULT_GRAPH_URL.to_owned(),
            secret_set_on,
            tenant_error: FieldError::default(),
            client_error: FieldError::default(),
            secret_error: FieldError::default(),
            scope_error: FieldError::default(),
            backfill_error: FieldError::default(),
            login_url_error: FieldError::default(),
            graph_url_error: FieldError::default(),
        }
    }

    /// The directory's groups (after the first sync), checked when chosen,
    /// plus chosen ids the directory does not list (yet).
    async fn with_groups(mut self, state: &AppState, chosen: &[String]) -> Result<Self, WebError> {
        let known = state.store().directory_groups(state.workspace()).await?;
        let is_chosen = |id: &str| chosen.iter().any(|c| c.eq_ignore_ascii_case(id));
        self.groups = known
            .iter()
            .map(|g| GroupOption { id: g.id.clone(), name: g.display_name.clone(), checked: is_chosen(&g.id) })
            .collect();
        for id in chosen {
            if !known.iter().any(|g| g.id.eq_ignore_ascii_case(id)) {
                self.groups.push(GroupOption { id: id.clone(), name: format!("Group {id}"), checked: true });
            }
        }
        Ok(self)
    }
}

/// The connection's status line.
pub(crate) struct StatusView {
    pub code: &'static str,
    pub text: String,
    pub last_error: Option<String>,
}

/// The result of a connection test, for `integrations_test.html`.
pub(crate) struct TestView {
    pub ok: bool,
    pub token_ok: bool,
    /// "signed in as the app", or the error (its AADSTS code first) and its fix.
    pub token_text: String,
    pub checks: Vec<CheckView>,
    pub warnings: usize,
    /// The user whose mailbox the mail and calendar checks used.
    pub mailbox: Option<String>,
}

/// One line of the checklist, with how to show its status.
pub(crate) struct CheckView {
    pub item: tac_sync::connection::CheckItem,
}

impl CheckView {
    fn class(&self) -> &'static str {
        match self.item.status {
            CheckStatus::Ok => "ok",
            CheckStatus::Warning => "warning",
            CheckStatus::Failed => "failed",
        }
    }

    fn mark(&self) -> &'static str {
        match self.item.status {
            CheckStatus::Ok => "✓",
            CheckStatus::Warning => "⚠",
            CheckStatus::Failed => "✗",
        }
    }

    fn spoken(&self) -> &'static str {
        match self.item.status {
            CheckStatus::Ok => "Passed:",
            CheckStatus::Warning => "Warning:",
            CheckStatus::Failed => "Failed:",
        }
    }
}

impl TestView {
    fn from(test: &connection::ConnectionTest) -> Self {
        match test.token_error() {
            Some((_, advice)) => TestView::not_run(advice),
            None => {
                let checks: Vec<CheckView> = test.checklist().into_iter().map(|item| CheckView { item }).collect();
                TestView {
                    ok: test.ok(),
                    token_ok: true,
                    token_text: "signed in as the app".to_owned(),
                    warnings: checks.iter().filter(|c| c.item.status == CheckStatus::Warning).count(),
                    checks,
                    mailbox: test.result.as_ref().ok().and_then(|r| r.mailbox.clone()),
                }
            }
        }
    }

    /// The test could not run (nothing saved, no secret, a bad URL).
    fn not_run(reason: String) -> Self {
        TestView { ok: false, token_ok: false, token_text: reason, checks: Vec::new(), warnings: 0, mailbox: None }
    }
}

#[derive(Template)]
#[template(path = "integrations.html")]
pub(crate) struct IntegrationsPage {
    pub layout: Layout,
    pub csrf: String,
    /// What the last action did.
    pub notice: Option<String>,
    pub configured: bool,
    pub status: Option<StatusView>,
    pub form: ConnectionForm,
    pub redirect_uri: String,
    pub test: Option<TestView>,
    pub health: HealthView,
    pub privacy: PrivacyView,
    pub sign_in: SignInView,
    pub admin_roles: AdminRolesView,
    /// The signed-in admin's own account is linked to Microsoft.
    pub own_account_linked: bool,
}

#[derive(Template)]
#[template(path = "integrations_test.html")]
struct TestFragment {
    test: Option<TestView>,
}

impl IntegrationsPage {
    /// The page as stored now, with nothing typed.
    pub(crate) async fn load(state: &AppState, current: &CurrentUser) -> Result<Self, WebError> {
        let summary = state.store().integration_summary(state.workspace()).await?;
        let secret_set_on = summary.as_ref().and_then(|s| s.secret_set_at).map(|t| t.format("%Y-%m-%d").to_string());
        let mut form = ConnectionForm::blank(secret_set_on);
        let mut chosen = Vec::new();
        if let Some(s) = &summary {
            let set = &s.settings;
            form.tenant_id = set.tenant_id.clone();
            form.client_id = set.client_id.clone();
            form.import_emails = set.import_emails;
            form.calendar_sync = set.calendar_sync;
            form.backfill_days = set.backfill_days.to_string();
            form.login_url = set.login_url.clone();
            form.graph_url = set.graph_url.clone();
            if let MailboxScope::Groups(groups) = &set.mailbox_scope {
                form.scope_groups = true;
                chosen = groups.clone();
            }
        }
        let form = form.with_groups(state, &chosen).await?;
        let status = summary.as_ref().map(|s| status_view(&s.settings));
        Ok(IntegrationsPage {
            layout: Layout::signed_in("Integrations", current),
            csrf: current.csrf_token.clone(),
            notice: None,
            configured: summary.is_some(),
            status,
            form,
            redirect_uri: format!("{}{REDIRECT_PATH}", state.public_url()),
            test: None,
            health: HealthView::load(state).await?,
            privacy: PrivacyView::load(state).await?,
            sign_in: SignInView::load(state).await?,
            admin_roles: AdminRolesView::load(state).await?,
            own_account_linked: current.user.oidc_object_id.is_some(),
        })
    }

    pub(crate) fn with_notice(mut self, notice: impl Into<String>) -> Self {
        self.notice = Some(notice.into());
        self
    }
}

fn status_view(settings: &IntegrationSettings) -> StatusView {
    let (code, text) = match settings.status {
        IntegrationStatus::Connected => ("connected", "Connected: the last connection test passed."),
        IntegrationStatus::Unverified => ("unverified", "Saved, not tested yet: test the connection."),
        IntegrationStatus::Failed => ("failed", "The last connection test or sync failed."),
    };
    StatusView { code, text: text.to_owned(), last_error: settings.last_error.clone() }
}

async fn show(State(state): State<AppState>, AdminUser(current): AdminUser) -> Result<Response, WebError> {
    page(StatusCode::OK, &IntegrationsPage::load(&state, &current).await?)
}

async fn save(State(state): State<AppState>, AdminUser(current): AdminUser, body: Bytes) -> Result<Response, WebError> {
    let input = Fields::parse(&body);
    let mut view = IntegrationsPage::load(&state, &current).await?;
    let secret_stored = view.form.secret_set_on.is_some();

    // What was typed is shown back (never the secret).
    let chosen: Vec<String> = input.all("group").map(|g| g.trim().to_ascii_lowercase()).collect();
    let mut form = ConnectionForm::blank(view.form.secret_set_on.clone());
    form.tenant_id = input.get("tenant_id").trim().to_owned();
    form.client_id = input.get("client_id").trim().to_owned();
    form.import_emails = input.checked("import_emails");
    form.calendar_sync = input.checked("calendar_sync");
    form.scope_groups = input.get("scope") == "groups";
    form.backfill_days = input.get("backfill_days").trim().to_owned();
    form.login_url = input.get("login_url").trim().to_owned();
    form.graph_url = input.get("graph_url").trim().to_owned();
    let mut form = form.with_groups(&state, &chosen).await?;

    let tenant = validate::tenant_id(&form.tenant_id).map_err(|m| form.tenant_error.set(m)).ok();
    let client = validate::client_id(&form.client_id).map_err(|m| form.client_error.set(m)).ok();
    let secret = input.get("client_secret").trim();
    if secret.is_empty() && !secret_stored {
        form.secret_error.set("Enter the Client Secret: paste the secret's Value from Certificates & secrets.");
    }
    // The stored secret goes only where it went before: a new tenant,
    // client id or URL needs the secret typed again in the same save.
    let destination = |f: &ConnectionForm| IntegrationSettings {
        login_url: f.login_url.clone(),
        graph_url: f.graph_url.clone(),
        ..IntegrationSettings::new(f.tenant_id.clone(), f.client_id.clone())
    };
    let moved: Vec<&str> = destination(&view.form)
        .destination_changes(&destination(&form))
        .into_iter()
        .map(|field| match field {
            "tenant_id" => "Tenant ID",
            "client_id" => "Client ID",
            "login_url" => "Login URL",
            _ => "Graph URL",
        })
        .collect();
    if secret.is_empty() && secret_stored && !moved.is_empty() {
        form.secret_error.set(format!(
            "You changed the {}: enter the Client Secret again, so that it is sent only where you mean it to go.",
            moved.join(" and ")
        ));
    }
    let backfill = match form.backfill_days.parse::<u32>() {
        Ok(days) if BACKFILL_DAYS.contains(&days) => Some(days),
        _ => {
            form.backfill_error.set(format!(
                "Enter a number of days between {} and {}.",
                BACKFILL_DAYS.start(),
                BACKFILL_DAYS.end()
            ));
            None
        }
    };
    if let Err(m) = connection::check_login_url(&form.login_url, state.clouds()) {
        form.login_url_error.set(m);
    }
    if let Err(m) = connection::check_graph_url(&form.graph_url, state.clouds()) {
        form.graph_url_error.set(m);
    }
    let scope = if form.scope_groups {
        if chosen.is_empty() {
            form.scope_error.set("Choose at least one group, or sync all mailboxes.");
        } else if let Some(bad) = chosen.iter().find(|g| !validate::is_guid(g)) {
            form.scope_error.set(format!("{bad:?} is not a group object id (a GUID)."));
        }
        MailboxScope::Groups(chosen.clone())
    } else {
        MailboxScope::All
    };

    let (Some(tenant), Some(client), Some(backfill)) = (tenant, client, backfill) else {
        view.form = form;
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    if form.has_errors() {
        view.form = form;
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }

    let mut settings = IntegrationSettings::new(tenant, client);
    settings.login_url = form.login_url.clone();
    settings.graph_url = form.graph_url.clone();
    settings.import_emails = form.import_emails;
    settings.calendar_sync = form.calendar_sync;
    settings.backfill_days = backfill;
    settings.mailbox_scope = scope;
    let new_secret = (!secret.is_empty()).then(|| SecretString::from(secret.to_owned()));
    let saved = state
        .store()
        .save_integration(state.workspace(), &settings, new_secret.as_ref(), state.key(), &current.user.email)
        .await?;
    tracing::info!(admin = %current.user.email, secret = saved.secret.as_str(), changed = ?saved.changed, "integration saved");
    let view = IntegrationsPage::load(&state, &current).await?;
    page(StatusCode::OK, &view.with_notice("Saved. The client secret is stored encrypted. Next: test the connection."))
}

async fn test(
    State(state): State<AppState>,
    AdminUser(current): AdminUser,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let test = match connection::test_connection(state.store(), state.workspace(), state.key(), state.clouds()).await {
        Ok(test) => TestView::from(&test),
        Err(ConnectionError::Store(e)) => return Err(e.into()),
        Err(e) => TestView::not_run(sentence(&e.to_string())),
    };
    if is_htmx(&headers) {
        return page(StatusCode::OK, &TestFragment { test: Some(test) });
    }
    let mut view = IntegrationsPage::load(&state, &current).await?;
    view.test = Some(test);
    page(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "integrations_disconnect.html")]
struct DisconnectPage {
    layout: Layout,
    csrf: String,
    configured: bool,
    preview: connection::DisconnectPreview,
    confirm_error: FieldError,
}

async fn disconnect_page(
    state: &AppState,
    current: &CurrentUser,
    confirm_error: FieldError,
) -> Result<DisconnectPage, WebError> {
    Ok(DisconnectPage {
        layout: Layout::signed_in("Disconnect Microsoft 365", current),
        csrf: current.csrf_token.clone(),
        configured: state.store().integration_summary(state.workspace()).await?.is_some(),
        preview: connection::disconnect_preview(state.store(), state.workspace()).await?,
        confirm_error,
    })
}

async fn confirm_disconnect(
    State(state): State<AppState>,
    AdminUser(current): AdminUser,
) -> Result<Response, WebError> {
    page(StatusCode::OK, &disconnect_page(&state, &current, FieldError::default()).await?)
}

async fn disconnect(
    State(state): State<AppState>,
    AdminUser(current): AdminUser,
    body: Bytes,
) -> Result<Response, WebError> {
    let input = Fields::parse(&body);
    if input.get("confirm") != "yes" {
        let mut error = FieldError::default();
        error.set("Nothing was deleted. Tick the box to confirm, then disconnect.");
        return page(StatusCode::UNPROCESSABLE_ENTITY, &disconnect_page(&state, &current, error).await?);
    }
    let purged = state.store().disconnect(state.workspace(), &current.user.email).await?;
    tracing::info!(admin = %current.user.email, emails = purged.emails, meetings = purged.meetings, "integration disconnected");
    let view = IntegrationsPage::load(&state, &current).await?;
    page(
        StatusCode::OK,
        &view.with_notice(format!(
            "Disconnected. Deleted {} emails, {} meetings and {} auto-created contacts, with the mailboxes and the directory.",
            purged.emails, purged.meetings, purged.contacts
        )),
    )
}
