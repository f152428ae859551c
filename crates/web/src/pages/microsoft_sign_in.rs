//! Sign in with Microsoft: the portal's side of the OpenID Connect code
//! flow whose protocol client is `tac_graph::oidc` (discovery, PKCE,
//! code exchange, id_token validation).
//!
//! - `GET /auth/microsoft?next=…` starts a sign-in with the saved
//!   integration (tenant, client id and secret, login URL): it stores the
//!   `state`, `nonce`, PKCE verifier and `next` in an `oidc_login` row keyed
//!   by the state, binds the row to this browser through a random value in
//!   the `__Host-tac_oidc` cookie (SameSite=Lax, so it comes back on
//!   Microsoft's top-level redirect), and sends the browser to Microsoft.
//! - `GET /auth/microsoft/callback` takes the row (it is deleted: a state
//!   works once, for [`SIGN_IN_LIFETIME`]), checks the cookie, redeems the
//!   code and validates the id_token, then decides who may come in
//!   ([`admit`]) and starts a session exactly as the password sign-in does.
//!
//! - `POST /auth/microsoft/link` starts the same flow for the signed-in
//!   portal user, to link their Microsoft account: the `oidc_login` row
//!   remembers who asked, and the callback links that user (still signed
//!   in, in the same browser) instead of starting a session.
//! - `POST /auth/microsoft/unlink` undoes the link of the signed-in user.
//!
//! Who may come in: a person is identified by `tid` + `oid`, never by
//! email. A Microsoft account already linked to a portal user signs in as
//! that user, with its role (so a local admin keeps "admin" only once
//! linked). Anyone else in the tenant is provisioned as a member on first
//! sign-in, unless an admin limited sign-in to one directory group: then
//! only the group's members (as the directory sync stored them) get in;
//! linked admins and holders of an admin role are exempt so that a wrong
//! group cannot lock them out. A directory user the sync saw as disabled is
//! refused. Someone the directory does not list yet (a new hire before the
//! next sync) gets in when no group is set: Entra itself only signs in
//! enabled members of the tenant, and the token's `tid` is checked.
//!
//! Admins from Entra: whoever holds an Entra directory role that an admin
//! chose on the Integrations page (none by default) is a TAC admin, and a
//! member again once the role goes; the store applies the rule
//! (`reconcile_entra_admins`) at each sign-in, link and directory sync.
//!
//! Every refusal is a page that says what happened and what to do, with
//! a 4xx/5xx status (never a 500 for what came from the browser or from
//! Microsoft), and a log line with the reason, without codes, tokens or
//! the state.

use super::{Layout, page, safe_next, see_other, with_cookies};
use crate::CurrentUser;
use crate::auth::session::MaybeUser;
use crate::auth::{random_token, session};
use crate::{AppState, WebError};
use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{Duration, Utc};
use std::sync::{Arc, Mutex};
use tac_graph::oidc::{IdTokenError, OidcClient, OidcError, OidcSettings, VerifiedIdentity, first_line};
use tac_store::{NewMicrosoftUser, PortalUser, PortalUserId, StoreError, token_hash};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/microsoft", get(start))
        .route(CALLBACK_PATH, get(callback))
        .route("/auth/microsoft/link", post(start_link))
        .route("/auth/microsoft/unlink", post(unlink))
}

/// Where Microsoft sends the browser back (the redirect URI to register).
pub(crate) const CALLBACK_PATH: &str = "/auth/microsoft/callback";
/// The cookie that binds a sign-in under way to the browser that started it.
pub(crate) const BROWSER_COOKIE: &str = "__Host-tac_oidc";
/// How long a started sign-in may take (Entra's codes last about 10 minutes).
pub(crate) const SIGN_IN_LIFETIME: Duration = Duration::minutes(10);

/// The OIDC client of the current integration settings, kept between
/// sign-ins (it caches discovery and the signing keys); rebuilt when the
/// settings change.
#[derive(Default)]
pub(crate) struct ClientCache(Mutex<Option<(OidcSettings, Arc<OidcClient>)>>);

impl ClientCache {
    /// The client for `settings`, if the deployment accepts its login URL
    /// (the code redemption sends the client secret there).
    fn client(&self, settings: OidcSettings, clouds: tac_graph::CloudPolicy) -> Result<Arc<OidcClient>, OidcError> {
        clouds.check_login_url(&settings.login_url).map_err(|e| OidcError::Config(e.to_string()))?;
        let mut cached = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((known, client)) = cached.as_ref()
            && *known == settings
        {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(OidcClient::new(settings.clone())?);
        *cached = Some((settings, Arc::clone(&client)));
        Ok(client)
    }
}

/// The sign-in settings of the saved integration; `None` while there is no
/// integration or no client secret.
async fn settings(state: &AppState) -> Result<Option<OidcSettings>, WebError> {
    let Some(integration) = state.store().load_integration(state.workspace(), state.key()).await? else {
        return Ok(None);
    };
    let Some(client_secret) = integration.client_secret else {
        return Ok(None);
    };
    let s = integration.settings;
    Ok(Some(OidcSettings {
        login_url: s.login_url,
        tenant: s.tenant_id,
        client_id: s.client_id,
        client_secret,
        redirect_uri: format!("{}{CALLBACK_PATH}", state.public_url()),
    }))
}

/// Whether the sign-in page should offer "Sign in with Microsoft": an
/// integration with a client secret is saved.
pub(crate) async fn available(state: &AppState) -> Result<bool, WebError> {
    let summary = state.store().integration_summary(state.workspace()).await?;
    Ok(summary.is_some_and(|s| s.secret_set_at.is_some()))
}

/// The refusal page.
#[derive(Template)]
#[template(path = "microsoft_sign_in.html")]
struct RefusalPage {
    layout: Layout,
    heading: &'static str,
    message: String,
    /// What Microsoft said (an AADSTS line), when it said something.
    detail: Option<String>,
    /// Whether starting again can help.
    retry: bool,
}

/// Why a Microsoft sign-in did not end in a session.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    heading: &'static str,
    message: String,
    detail: Option<String>,
    retry: bool,
    /// For the log: short, without secrets.
    reason: String,
}

impl Refusal {
    fn new(status: StatusCode, heading: &'static str, message: impl Into<String>, reason: impl Into<String>) -> Self {
        Refusal { status, heading, message: message.into(), detail: None, retry: true, reason: reason.into() }
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        self.detail = (!detail.trim().is_empty()).then_some(detail);
        self
    }

    fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }

    fn not_configured() -> Self {
        Refusal::new(
            StatusCode::CONFLICT,
            "Sign in with Microsoft is not set up",
            "An admin has not connected Microsoft 365 to TAC yet (Integrations page). Sign in with your email and \
             password meanwhile.",
            "no integration with a client secret",
        )
        .no_retry()
    }

    /// The page, with the browser cookie cleared.
    fn respond(self) -> Result<Response, WebError> {
        tracing::warn!(status = self.status.as_u16(), reason = %self.reason, "Microsoft sign-in refused");
        let view = RefusalPage {
            layout: Layout::anonymous("Sign in with Microsoft"),
            heading: self.heading,
            message: self.message,
            detail: self.detail,
            retry: self.retry,
        };
        Ok(with_cookies(page(self.status, &view)?, [session::set_cookie(BROWSER_COOKIE, "", 0, "Lax")?]))
    }
}

impl From<OidcError> for Refusal {
    fn from(e: OidcError) -> Self {
        let reason = e.to_string();
        match e {
            OidcError::Config(message) => Refusal::new(
                StatusCode::CONFLICT,
                "Sign in with Microsoft is misconfigured",
                "The saved Microsoft 365 connection cannot be used for sign-in. Ask an admin to check the \
                 Integrations page.",
                reason,
            )
            .detail(message)
            .no_retry(),
            OidcError::Discovery { .. } | OidcError::Transport(_) => Refusal::new(
                StatusCode::BAD_GATEWAY,
                "Microsoft could not be reached",
                "TAC could not read Microsoft's sign-in service for your organisation. Try again in a minute; if \
                 it keeps failing, ask an admin to check the Tenant ID and Login URL on the Integrations page.",
                reason.clone(),
            )
            .detail(reason),
            OidcError::Provider { error, description } => {
                let message = match error.as_str() {
                    "invalid_client" | "unauthorized_client" => {
                        "Microsoft refused TAC's app credentials. Ask an admin to check the Client ID and Client \
                         Secret on the Integrations page (the secret may have expired)."
                    }
                    _ => "Microsoft did not accept this sign-in (the code may have expired or been used). Start again.",
                };
                Refusal::new(StatusCode::BAD_GATEWAY, "Microsoft refused the sign-in", message, reason)
                    .detail(format!("{error}: {description}"))
            }
            OidcError::NoIdToken => Refusal::new(
                StatusCode::BAD_GATEWAY,
                "Microsoft did not say who you are",
                "Microsoft's answer had no identity token. Start again; if it keeps happening, ask an admin.",
                reason,
            ),
            OidcError::InvalidIdToken(IdTokenError::WrongTenant { .. }) => Refusal::new(
                StatusCode::FORBIDDEN,
                "This account is from another organisation",
                "TAC accepts Microsoft accounts of its own organisation only. Sign in with your work account \
                 of this organisation.",
                reason,
            ),
            OidcError::InvalidIdToken(e) => Refusal::new(
                StatusCode::BAD_REQUEST,
                "Your sign-in could not be verified",
                "Microsoft's answer did not pass TAC's checks, so you were not signed in. Start again.",
                format!("invalid id_token: {e}"),
            ),
        }
    }
}

/// What an `error` from the authorize endpoint means for the person.
fn authorize_error_message(error: &str) -> &'static str {
    match error {
        "access_denied" => {
            "The sign-in was cancelled, or your organisation has not consented to TAC. Start again, or ask \
             your IT admin to grant consent."
        }
        "consent_required" | "interaction_required" | "login_required" => {
            "Microsoft needs you to sign in or consent interactively. Start again."
        }
        "temporarily_unavailable" | "server_error" => {
            "Microsoft's sign-in service had a problem. Try again in a minute."
        }
        "invalid_request"
        | "unauthorized_client"
        | "invalid_client"
        | "unsupported_response_type"
        | "invalid_scope" => {
            "Microsoft refused TAC's sign-in request. Ask an admin to check the app registration: its redirect \
             URI must be the one the Integrations page shows."
        }
        _ => "Microsoft did not sign you in. Start again.",
    }
}

/// TAC's wording for the AADSTS codes the authorize endpoint sends back
/// most (Microsoft's "Microsoft Entra authentication and authorization
/// error codes"), found at the start of an `error_description`.
fn known_aadsts(description: &str) -> Option<(u32, &'static str)> {
    let digits: String =
        description.trim().strip_prefix("AADSTS")?.chars().take_while(char::is_ascii_digit).take(9).collect();
    let code: u32 = digits.parse().ok()?;
    let message = match code {
        65001 => "Your organisation has not consented to TAC yet. Ask your IT admin to grant admin consent to the app.",
        65004 => "You declined the permissions TAC asks for, so Microsoft did not sign you in. Start again and accept.",
        50105 => {
            "Your IT admin has not given you access to TAC in Microsoft Entra ID. Ask them to assign you to the app."
        }
        50057 => "Your account is disabled in your organisation's directory. Ask your IT admin.",
        50053 => "Your account is locked after too many sign-in attempts. Wait a while, or ask your IT admin.",
        50011 => {
            "Microsoft refused TAC's redirect URI. Ask an admin to add the one the Integrations page shows to the app registration."
        }
        50020 => "This account is from another organisation. Sign in with your work account of this organisation.",
        53003 => "Your organisation's access policies blocked this sign-in. Ask your IT admin.",
        700016 => {
            "Microsoft does not know TAC's app in your organisation. Ask an admin to check the Client ID on the Integrations page."
        }
        90002 => {
            "Microsoft does not know your organisation's tenant. Ask an admin to check the Tenant ID on the Integrations page."
        }
        _ => return None,
    };
    Some((code, message))
}

/// The first value of each query parameter.
fn query(raw: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn param<'q>(params: &'q [(String, String)], name: &str) -> Option<&'q str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// `GET /auth/microsoft`: sends the browser to Microsoft.
async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = query(raw);
    let next = safe_next(param(&params, "next").unwrap_or("/")).to_owned();
    leave_for_microsoft(&state, &headers, &next, None).await
}

/// `POST /auth/microsoft/link`: sends the signed-in user to Microsoft to
/// prove which Microsoft account is theirs.
async fn start_link(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if current.user.oidc_object_id.is_some() {
        return Refusal::new(
            StatusCode::CONFLICT,
            "Your account is already linked",
            "Your TAC account is already linked to a Microsoft account. To link another one, unlink this one \
             first on your home page.",
            "link asked for an account that is linked",
        )
        .no_retry()
        .respond();
    }
    leave_for_microsoft(&state, &headers, "/", Some(current.user.id)).await
}

/// Stores the sign-in under way (a link when `link_user` is set) and
/// redirects the browser to Microsoft's authorize endpoint.
async fn leave_for_microsoft(
    state: &AppState,
    headers: &HeaderMap,
    next: &str,
    link_user: Option<PortalUserId>,
) -> Result<Response, WebError> {
    let Some(settings) = settings(state).await? else {
        return Refusal::not_configured().respond();
    };
    let begun = match state.oidc_clients().client(settings, state.clouds()) {
        Ok(client) => client.start().await,
        Err(e) => Err(e),
    };
    let begun = match begun {
        Ok(begun) => begun,
        Err(e) => return Refusal::from(e).respond(),
    };
    // One value per browser, so sign-ins started in two tabs both work.
    let browser = match session::cookie(headers, BROWSER_COOKIE).filter(|v| v.len() == 43) {
        Some(value) => value.to_owned(),
        None => random_token()?,
    };
    let now = Utc::now();
    state
        .store()
        .create_oidc_login(
            state.workspace(),
            &begun.state,
            &browser,
            &begun.nonce,
            &begun.code_verifier,
            next,
            link_user,
            now,
            now + SIGN_IN_LIFETIME,
        )
        .await?;
    let cookie = session::set_cookie(BROWSER_COOKIE, &browser, SIGN_IN_LIFETIME.num_seconds(), "Lax")?;
    Ok(with_cookies(see_other(&begun.authorize_url), [cookie]))
}

/// `GET /auth/microsoft/callback`: back from Microsoft with a code or an error.
async fn callback(
    State(state): State<AppState>,
    MaybeUser(current): MaybeUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = query(raw);
    // The state is used up whatever happens next.
    let login = match param(&params, "state") {
        Some(s) => state.store().take_oidc_login(state.workspace(), s, Utc::now()).await?,
        None => None,
    };
    if let Some(error) = param(&params, "error") {
        // Anyone can craft this URL, so the page says only TAC's words: the
        // query's text is logged (escaped), never shown.
        let description = param(&params, "error_description").map(first_line).unwrap_or_default();
        let known = known_aadsts(description);
        let message = known.map_or_else(|| authorize_error_message(error), |(_, message)| message);
        let refusal = Refusal::new(
            StatusCode::BAD_REQUEST,
            "Microsoft did not sign you in",
            message,
            format!("the authorize endpoint answered {error:?}: {description:?}"),
        );
        return match known {
            Some((code, _)) => refusal.detail(format!("Microsoft's code: AADSTS{code}")),
            None => refusal,
        }
        .respond();
    }
    let Some(login) = login else {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "This sign-in link has expired or was already used",
            "A sign-in with Microsoft works once, within 10 minutes. Start again.",
            "unknown, expired or replayed state",
        )
        .respond();
    };
    let same_browser = session::cookie(&headers, BROWSER_COOKIE).is_some_and(|value| {
        aws_lc_rs::constant_time::verify_slices_are_equal(token_hash(value).as_bytes(), login.browser_hash.as_bytes())
            .is_ok()
    });
    if !same_browser {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "This sign-in was started elsewhere",
            "The sign-in came back to a different browser than the one that started it (or cookies are blocked). \
             Start again in this browser.",
            "state bound to another browser",
        )
        .respond();
    }
    let Some(code) = param(&params, "code") else {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "Microsoft did not sign you in",
            "Microsoft's answer had no authorization code. Start again.",
            "callback without a code",
        )
        .respond();
    };
    let Some(settings) = settings(&state).await? else {
        return Refusal::not_configured().respond();
    };
    let identity = match state.oidc_clients().client(settings, state.clouds()) {
        Ok(client) => client.redeem(code, &login.code_verifier, &login.nonce).await,
        Err(e) => Err(e),
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(e) => return Refusal::from(e).respond(),
    };
    if let Some(link_user) = login.link_user_id {
        return link(&state, current.as_ref(), link_user, &identity).await;
    }
    let user = match admit(&state, &identity).await? {
        Ok(user) => user,
        Err(refusal) => return refusal.respond(),
    };

    // The same as a password sign-in from here on.
    let now = Utc::now();
    state.store().record_login(state.workspace(), user.id, now).await?;
    let old = session::end(&state, &headers).await?;
    let new = session::start(&state, user.id).await?;
    tracing::info!(user = %user.id, "signed in with Microsoft");
    let cleared = session::set_cookie(BROWSER_COOKIE, "", 0, "Lax")?;
    Ok(with_cookies(
        see_other(safe_next(&login.next_path)),
        [old, crate::auth::csrf::clear_pre_session()?, cleared, new],
    ))
}

/// The end of a link: the signed-in user who started it gets the verified
/// Microsoft account, then the role its Entra roles give, and goes home.
async fn link(
    state: &AppState,
    current: Option<&CurrentUser>,
    link_user: PortalUserId,
    identity: &VerifiedIdentity,
) -> Result<Response, WebError> {
    let cleared = session::set_cookie(BROWSER_COOKIE, "", 0, "Lax")?;
    if current.is_none_or(|c| c.user.id != link_user) {
        return Refusal::new(
            StatusCode::FORBIDDEN,
            "Sign in to TAC first",
            "Linking a Microsoft account finishes in the TAC session that started it, and that session has ended \
             or belongs to someone else. Sign in to TAC again, then link your Microsoft account from your home \
             page.",
            "link callback without the session that started it",
        )
        .no_retry()
        .respond();
    }
    let (store, ws) = (state.store(), state.workspace());
    match store.link_microsoft_account(ws, link_user, &identity.tenant_id, &identity.object_id).await {
        Ok(()) => {}
        Err(StoreError::InvalidInput(_)) => {
            return Refusal::new(
                StatusCode::CONFLICT,
                "This Microsoft account belongs to another TAC account",
                "This Microsoft account is already linked to another TAC account (perhaps one that signing in with \
                 Microsoft created). Ask an admin to remove that account, or link a different Microsoft account.",
                "Microsoft account linked to another portal user",
            )
            .no_retry()
            .respond();
        }
        Err(e) => return Err(e.into()),
    }
    store.reconcile_entra_admins(ws).await?;
    tracing::info!(user = %link_user, "linked a Microsoft account");
    Ok(with_cookies(see_other("/"), [cleared]))
}

/// `POST /auth/microsoft/unlink`: the signed-in user's Microsoft account
/// is linked no more (refused for an account without a password).
async fn unlink(State(state): State<AppState>, current: CurrentUser) -> Result<Response, WebError> {
    match state.store().unlink_microsoft_account(state.workspace(), current.user.id).await {
        Ok(()) => {
            tracing::info!(user = %current.user.id, "unlinked a Microsoft account");
            Ok(see_other("/"))
        }
        Err(StoreError::InvalidInput(_)) => Refusal::new(
            StatusCode::CONFLICT,
            "Your Microsoft account stays linked",
            "Your TAC account has no password: you sign in only with Microsoft, so unlinking would lock you out.",
            "unlink of an account without a password",
        )
        .no_retry()
        .respond(),
        Err(e) => Err(e.into()),
    }
}

/// Decides whether the verified person may sign in, and as whom (see the
/// module doc): the linked portal user, or a member provisioned now.
pub(crate) async fn admit(
    state: &AppState,
    identity: &VerifiedIdentity,
) -> Result<Result<PortalUser, Refusal>, WebError> {
    let (store, ws) = (state.store(), state.workspace());
    let (tid, oid) = (identity.tenant_id.as_str(), identity.object_id.as_str());
    let linked = store.portal_user_by_microsoft_id(ws, tid, oid).await?;

    if store.directory_user(ws, oid).await?.is_some_and(|d| !d.account_enabled) {
        return Ok(Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "Your account is disabled",
            "Your account is disabled in your organisation's directory, so it cannot sign in to TAC. Ask your \
             IT admin.",
            "directory user disabled",
        )
        .no_retry()));
    }
    let admin = linked.as_ref().is_some_and(PortalUser::is_admin) || store.holds_admin_role(ws, oid).await?;
    if let Some(group) = store.sign_in_group(ws).await?
        && !admin
        && !store.is_group_member(ws, &group, oid).await?
    {
        let groups = store.directory_groups(ws).await?;
        let name = groups.iter().find(|g| g.id.eq_ignore_ascii_case(&group)).map(|g| g.display_name.clone());
        let message = match name {
            Some(name) => format!(
                "Only members of the group \u{201c}{name}\u{201d} can sign in to TAC with Microsoft. Ask a TAC \
                 admin to add you to it; it counts after the next directory sync."
            ),
            None => "Only members of one directory group can sign in to TAC with Microsoft, and you are not one \
                     of them. Ask a TAC admin."
                .to_owned(),
        };
        return Ok(Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "You cannot sign in to TAC",
            message,
            "not in the sign-in group",
        )
        .no_retry()));
    }

    let email = identity
        .email
        .as_deref()
        .or(identity.preferred_username.as_deref())
        .and_then(|e| tac_core::address::normalize(e).ok())
        .map(tac_core::NormalizedAddress::into_string);
    let display_name = identity.name.clone().unwrap_or_default();

    if let Some(user) = linked {
        let email = email.unwrap_or_else(|| user.email.clone());
        if email != user.email || (!display_name.is_empty() && display_name != user.display_name) {
            let name = if display_name.is_empty() { user.display_name.clone() } else { display_name };
            match store.update_microsoft_profile(ws, user.id, &email, &name).await {
                Ok(()) | Err(StoreError::UserExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        store.reconcile_entra_admins(ws).await?;
        return Ok(Ok(store.portal_user(ws, user.id).await?.unwrap_or(user)));
    }

    let Some(email) = email else {
        return Ok(Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "Your account has no email address",
            "Microsoft did not give TAC an email address or user name for your account, so TAC cannot create \
             your account. Ask your IT admin.",
            "no email or preferred_username claim",
        )
        .no_retry()));
    };
    let new =
        NewMicrosoftUser { tenant_id: tid.to_owned(), object_id: oid.to_owned(), email: email.clone(), display_name };
    match store.provision_microsoft_user(ws, &new).await {
        Ok(user) => {
            tracing::info!(user = %user.id, "provisioned a member from Sign in with Microsoft");
            store.reconcile_entra_admins(ws).await?;
            Ok(Ok(store.portal_user(ws, user.id).await?.unwrap_or(user)))
        }
        Err(StoreError::UserExists { .. }) => Ok(Err(Refusal::new(
            StatusCode::CONFLICT,
            "An account with your email already exists",
            format!(
                "TAC already has an account for {email} that is not linked to this Microsoft account. TAC never \
                 links accounts by email: sign in with your email and password, then link your Microsoft account \
                 from your home page."
            ),
            "email taken by an unlinked portal user",
        )
        .no_retry())),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_errors_get_a_message_for_people() {
        assert!(authorize_error_message("access_denied").contains("cancelled"));
        assert!(authorize_error_message("invalid_request").contains("redirect URI"));
        assert!(authorize_error_message("something_new").contains("Start again"));
    }

    #[test]
    fn known_aadsts_codes_get_tacs_words_and_anything_else_gets_none() {
        assert_eq!(known_aadsts("AADSTS65004: User declined to consent.").map(|k| k.0), Some(65004));
        assert!(known_aadsts(" AADSTS50105: x").is_some_and(|(_, m)| m.contains("assign you to the app")));
        assert_eq!(known_aadsts("AADSTS1: unknown"), None);
        assert_eq!(known_aadsts("Your account is locked. Call IT at 555-0100"), None);
        assert_eq!(known_aadsts("AADSTS99999999999999999999"), None, "too long to be a code");
        assert_eq!(known_aadsts(""), None);
    }

    #[test]
    fn query_parameters_are_read_without_failing_on_odd_input() {
        let params = query(Some("code=a%20b&state=&error_description=x%0Ay&code=second".to_owned()));
        assert_eq!(param(&params, "code"), Some("a b"), "the first value wins");
        assert_eq!(param(&params, "state"), None, "empty is absent");
        assert_eq!(param(&params, "error_description"), Some("x\ny"));
        assert!(query(None).is_empty());
    }
}
