//! Microsoft Entra ID: the v2.0 token endpoint (client credentials,
//! authorization code with PKCE, refresh token), the sign-in page behind
//! `/authorize`, OpenID discovery, JWKS and logout.
//!
//! Errors carry Entra's real AADSTS codes, `error` values and HTTP statuses
//! (<https://learn.microsoft.com/entra/identity-platform/reference-error-codes>),
//! because TAC's job is to turn exactly these into advice for the admin.

use crate::state::AppState;
use crate::tokens::{AccessClaims, AuthCode, GRAPH_APP_ID, GRAPH_AUDIENCE, IdClaims, RefreshGrant};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde_json::json;
use std::collections::HashMap;

/// The Entra routes, mounted at the root like `login.microsoftonline.com`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize_page).post(authorize_submit))
        .route("/{tenant}/oauth2/v2.0/logout", get(logout))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery))
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/oidc/userinfo", get(userinfo))
}

/// An Entra error response.
#[derive(Debug)]
pub struct AadError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

fn aad(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> AadError {
    AadError { status, error, code, description: description.into() }
}

impl AadError {
    fn body(&self) -> serde_json::Value {
        let now = Utc::now();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let trace_id = crate::rng::guid(now.timestamp_nanos_opt().unwrap_or_default() as u64, &[1]);
        let correlation_id = crate::rng::guid(now.timestamp_nanos_opt().unwrap_or_default() as u64, &[2]);
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        let body = self.body();
        (self.status, no_store_headers(), Json(body)).into_response()
    }
}

fn no_store_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    h
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_dns_name(s: &str) -> bool {
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.split('.').all(|label| !label.is_empty() && label.len() <= 63)
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Checks the `{tenant}` path segment the way Entra does.
fn check_tenant(state: &AppState, tenant: &str) -> Result<(), AadError> {
    if state.org().is_tenant(tenant) {
        return Ok(());
    }
    if ["common", "organizations", "consumers"].iter().any(|t| t.eq_ignore_ascii_case(tenant)) {
        return Err(aad(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50194,
            "Application is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.",
        ));
    }
    if is_guid(tenant) || is_dns_name(tenant) {
        return Err(aad(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    }
    Err(aad(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900023,
        format!("Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."),
    ))
}

fn missing(name: &str) -> AadError {
    aad(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// Client id and secret from the form or from HTTP Basic authentication.
fn client_credentials(form: &HashMap<String, String>, headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode =
                |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Some((decode(id)?, decode(secret)?))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned()),
    }
}

/// AADSTS700016: no app `client_id` is registered in `directory`; `detail`
/// follows the first sentence of the description.
fn unknown_client(client_id: &str, directory: &str, detail: &str) -> AadError {
    aad(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
        format!("Application with identifier '{client_id}' was not found in the directory '{directory}'.{detail}"),
    )
}

/// A request to the token endpoint: the tenant it was sent to, its form,
/// and its headers (a client may authenticate with HTTP Basic).
struct TokenRequest<'a> {
    tenant: &'a str,
    form: HashMap<String, String>,
    headers: &'a HeaderMap,
}

/// Authenticates the confidential client of a token request. Returns its client id.
fn authenticate_client(state: &AppState, request: &TokenRequest) -> Result<String, AadError> {
    let tenant = request.tenant;
    let (client_id, secret) = client_credentials(&request.form, request.headers);
    let client_id = client_id.filter(|c| !c.is_empty()).ok_or_else(|| missing("client_id"))?;
    let registry = state.registry();
    let app = registry.app(&client_id).ok_or_else(|| {
        unknown_client(
            &client_id,
            tenant,
            " This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
        )
    })?;
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Err(aad(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    let matching = app.secrets.iter().find(|s| !s.revoked && s.value == secret);
    match matching {
        None => Err(aad(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        )),
        Some(s) if s.end_date_time <= Utc::now() => Err(aad(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                app.client_id
            ),
        )),
        Some(_) => Ok(app.client_id.clone()),
    }
}

/// Whether a `.default` scope names Graph (public cloud, a national cloud, or this emulator).
fn is_graph_resource(state: &AppState, resource: &str) -> bool {
    let r = resource.trim_end_matches('/');
    [
        GRAPH_AUDIENCE,
        GRAPH_APP_ID,
        "https://graph.microsoft.us",
        "https://dod-graph.microsoft.us",
        "https://microsoftgraph.chinacloudapi.cn",
        state.base_url.as_str(),
    ]
    .iter()
    .any(|g| g.eq_ignore_ascii_case(r))
}

fn token_response(mut body: serde_json::Value, lifetime: Duration) -> Response {
    body["token_type"] = json!("Bearer");
    body["expires_in"] = json!(lifetime.num_seconds());
    body["ext_expires_in"] = json!(lifetime.num_seconds());
    (StatusCode::OK, no_store_headers(), Json(body)).into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
async fn token(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    match issue(&state, &tenant, &headers, &body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn issue(state: &AppState, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, AadError> {
    check_tenant(state, tenant)?;
    let request = TokenRequest { tenant, form: form_urlencoded::parse(body).into_owned().collect(), headers };
    let form = &request.form;
    let grant = form.get("grant_type").ok_or_else(|| missing("grant_type"))?;
    match grant.as_str() {
        "client_credentials" => app_grant(state, &request),
        "authorization_code" => authorization_code(state, form, &authenticate_client(state, &request)?),
        "refresh_token" => refresh_token(state, form, &authenticate_client(state, &request)?),
        other => Err(aad(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

/// `grant_type=client_credentials`: an app-only token; `scope` must be a
/// resource with `/.default`.
fn app_grant(state: &AppState, request: &TokenRequest) -> Result<Response, AadError> {
    let scope = request.form.get("scope").ok_or_else(|| missing("scope"))?;
    let resource = scope.trim().strip_suffix("/.default").ok_or_else(|| {
        aad(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        )
    })?;
    if !is_graph_resource(state, resource) {
        return Err(aad(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                state.org().display_name
            ),
        ));
    }
    let client_id = authenticate_client(state, request)?;
    let access_token = app_token(state, &client_id);
    Ok(token_response(json!({"access_token": access_token}), state.token_lifetime))
}

/// `grant_type=authorization_code` for the authenticated `client_id`:
/// redeems a sign-in's code, once, for the client and redirect URI it was
/// issued to, with PKCE when the sign-in used it.
fn authorization_code(state: &AppState, form: &HashMap<String, String>, client_id: &str) -> Result<Response, AadError> {
    let code = form.get("code").ok_or_else(|| missing("code"))?;
    let grant = {
        let mut registry = state.registry();
        let Some(entry) = registry.codes.get_mut(code) else {
            return Err(aad(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            ));
        };
        if entry.redeemed {
            return Err(aad(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        if Utc::now() - entry.issued > Duration::minutes(10) {
            return Err(aad(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            ));
        }
        if !entry.client_id.eq_ignore_ascii_case(client_id) {
            return Err(aad(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70000,
                "The provided value for the 'code' parameter is not valid. The code was issued to another client.",
            ));
        }
        if form.get("redirect_uri") != Some(&entry.redirect_uri) {
            return Err(aad(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                500112,
                "The reply address does not match the reply address provided when requesting Authorization code.",
            ));
        }
        if let Some((challenge, method)) = &entry.challenge {
            let verifier = form.get("code_verifier").map(String::as_str).unwrap_or("");
            if !pkce_matches(verifier, challenge, method) {
                return Err(aad(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                ));
            }
        }
        entry.redeemed = true;
        entry.clone()
    };
    Ok(user_tokens(state, client_id, grant.user, &grant.scope, grant.nonce.as_deref()))
}

/// `grant_type=refresh_token` for the authenticated `client_id`: a new
/// access token for a user from a refresh token, while the account is
/// enabled.
fn refresh_token(state: &AppState, form: &HashMap<String, String>, client_id: &str) -> Result<Response, AadError> {
    let refresh = form.get("refresh_token").ok_or_else(|| missing("refresh_token"))?;
    let grant = state.registry().refresh_tokens.get(refresh).cloned();
    let grant = grant
        .filter(|g| g.client_id.eq_ignore_ascii_case(client_id) && Utc::now() - g.issued < Duration::days(90))
        .ok_or_else(|| {
            aad(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid: the refresh token is not valid.",
            )
        })?;
    if !state.org().users.get(grant.user).is_some_and(|u| u.account_enabled) {
        return Err(aad(StatusCode::BAD_REQUEST, "invalid_grant", 50057, "The user account is disabled."));
    }
    let scope = form.get("scope").cloned().unwrap_or(grant.scope.clone());
    Ok(user_tokens(state, client_id, grant.user, &scope, None))
}

fn pkce_matches(verifier: &str, challenge: &str, method: &str) -> bool {
    if verifier.len() < 43 || verifier.len() > 128 {
        return false;
    }
    if method.eq_ignore_ascii_case("plain") {
        return verifier == challenge;
    }
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()) == challenge
}

/// What every Graph access token the tenant issues to `client_id` now carries:
/// audience, issuer, times and a unique id. Whom it is for (`idtyp`, `oid`,
/// `sub`, `aio`) and what it grants are left for the caller to fill in.
fn graph_access_claims(state: &AppState, client_id: &str) -> AccessClaims {
    let now = Utc::now().timestamp();
    let tid = state.org().tenant_id.clone();
    let uti = crate::tokens::uti_for(state.registry().next_serial());
    AccessClaims {
        aud: GRAPH_AUDIENCE.into(),
        iss: format!("https://sts.windows.net/{tid}/"),
        iat: now,
        nbf: now,
        exp: now + state.token_lifetime.num_seconds(),
        aio: String::new(),
        app_displayname: None,
        appid: client_id.to_string(),
        appidacr: "1".into(),
        idp: format!("https://sts.windows.net/{tid}/"),
        idtyp: String::new(),
        oid: String::new(),
        rh: "0.AAAA.".into(),
        roles: None,
        scp: None,
        sub: String::new(),
        tid,
        uti,
        ver: "1.0".into(),
        upn: None,
        name: None,
    }
}

/// An app-only access token for Graph; `roles` only with admin consent.
pub fn app_token(state: &AppState, client_id: &str) -> String {
    let base = graph_access_claims(state, client_id);
    let app = state.registry().app(client_id).cloned();
    let (display, sp, roles) = match app {
        Some(a) => (a.display_name, a.service_principal_id, a.admin_consent.then_some(a.roles)),
        None => (String::new(), String::new(), None),
    };
    let claims = AccessClaims {
        aio: "E2NgYNhxO2fe9z25T5iljKc7a+zfDQA=".into(),
        app_displayname: Some(display),
        idtyp: "app".into(),
        oid: sp.clone(),
        roles,
        sub: sp,
        ..base
    };
    state.keys.sign(&claims)
}

fn user_tokens(state: &AppState, client_id: &str, user: usize, scope: &str, nonce: Option<&str>) -> Response {
    let base = graph_access_claims(state, client_id);
    let (now, tid, uti) = (base.iat, base.tid.clone(), base.uti.clone());
    let u = &state.org().users[user];
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let access = AccessClaims {
        aio: "AVQAq/8TAAAA".into(),
        idtyp: "user".into(),
        oid: u.id.clone(),
        scp: Some("email openid profile User.Read".into()),
        sub: crate::rng::guid(state.org().seed, &[0x50b, user as u64]),
        upn: Some(u.user_principal_name.clone()),
        name: Some(u.display_name.clone()),
        ..base
    };
    let mut body = json!({
        "scope": "email openid profile https://graph.microsoft.com/User.Read",
        "access_token": state.keys.sign(&access),
    });
    if scopes.contains(&"openid") {
        let id = IdClaims {
            ver: "2.0".into(),
            iss: format!("{}/{tid}/v2.0", state.base_url),
            // `sub` is pairwise: the same user has a different one in each app.
            sub: format!("{:x}", crate::rng::hash(state.org().seed, &[0x5ab, user as u64, client_id.len() as u64]))
                + &client_id.chars().take(4).collect::<String>(),
            aud: client_id.to_string(),
            exp: now + 3600,
            iat: now,
            nbf: now,
            name: u.display_name.clone(),
            preferred_username: u.user_principal_name.clone(),
            oid: u.id.clone(),
            tid,
            email: scopes.contains(&"email").then(|| u.address().to_string()),
            nonce: nonce.map(str::to_string),
            aio: "Df2UVXL1ix!lMCWMSOJBcFatzcGfvFGhjKv8q5g0x732dR5MB5BisvGQO7YWByjd8iQDLq!eGbIDakyp5mnOrcdqHeYSnltepQmRp6AIZ8jY".into(),
            rh: "0.AAAA.".into(),
            sid: crate::rng::guid(state.org().seed, &[0x51d, user as u64]),
            uti,
        };
        body["id_token"] = json!(state.keys.sign(&id));
    }
    if scopes.contains(&"offline_access") {
        let mut registry = state.registry();
        let refresh = registry.opaque(state.org().seed, 0x4ef);
        registry.refresh_tokens.insert(
            refresh.clone(),
            RefreshGrant { client_id: client_id.to_string(), user, scope: scope.to_string(), issued: Utc::now() },
        );
        body["refresh_token"] = json!(refresh);
    }
    token_response(body, state.token_lifetime)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(title: &str, inner: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<style>body{{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}}\
main{{max-width:440px;margin:48px auto;background:#fff;padding:32px 44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}}\
h1{{font-size:24px;font-weight:600}}button{{display:block;width:100%;text-align:left;margin:6px 0;padding:8px;border:1px solid #ccc;background:#fff;cursor:pointer}}\
button:hover{{background:#f3f3f3}}.err{{color:#a80000}}small{{color:#666}}</style></head><body><main>{inner}</main></body></html>",
        title = html_escape(title)
    ))
}

fn error_page(e: &AadError) -> Response {
    let inner = format!(
        "<h1>Sign in</h1><p class=\"err\">Sorry, but we're having trouble signing you in.</p><p><strong>AADSTS{}:</strong> {}</p>",
        e.code,
        html_escape(&e.description)
    );
    (StatusCode::BAD_REQUEST, page("Sign in to your account", &inner)).into_response()
}

/// Checks the authorize parameters that must be right before anything can be redirected.
fn check_authorize(
    state: &AppState,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Result<(String, String), AadError> {
    check_tenant(state, tenant)?;
    let client_id = params.get("client_id").cloned().ok_or_else(|| missing("client_id"))?;
    let registry = state.registry();
    let app = registry.app(&client_id).ok_or_else(|| unknown_client(&client_id, &state.org().display_name, ""))?;
    let redirect = params.get("redirect_uri").cloned().ok_or_else(|| missing("redirect_uri"))?;
    if !app.accepts_redirect(&redirect) {
        return Err(aad(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."
            ),
        ));
    }
    Ok((client_id, redirect))
}

fn redirect_with(redirect: &str, pairs: &[(&str, &str)]) -> Response {
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    found(&format!("{redirect}{sep}{query}"))
}

/// A 302 Found, as Entra redirects.
fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: a sign-in page listing directory users.
async fn authorize_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params: HashMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let (_, redirect) = match check_authorize(&state, &tenant, &params) {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let state_param = params.get("state").cloned().unwrap_or_default();
    if params.get("response_type").map(String::as_str) != Some("code") {
        return redirect_with(
            &redirect,
            &[
                ("error", "unsupported_response_type"),
                ("error_description", "AADSTS700054: The emulator supports response_type=code only."),
                ("state", &state_param),
            ],
        );
    }
    if let Some(method) = params.get("code_challenge_method")
        && method != "S256"
        && method != "plain"
    {
        return redirect_with(
            &redirect,
            &[
                ("error", "invalid_request"),
                ("error_description", "AADSTS501491: Invalid code_challenge_method."),
                ("state", &state_param),
            ],
        );
    }
    if params.get("prompt").map(String::as_str) == Some("none") {
        return redirect_with(
            &redirect,
            &[
                ("error", "login_required"),
                ("error_description", "AADSTS50058: A silent sign-in request was sent but no user is signed in."),
                ("state", &state_param),
            ],
        );
    }
    let hidden: String = params
        .iter()
        .filter(|(k, _)| k.as_str() != "login_hint")
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", html_escape(k), html_escape(v)))
        .collect();
    let org = state.org();
    let buttons: String = org
        .active_users()
        .iter()
        .take(40)
        .map(|u| {
            format!(
                "<button type=\"submit\" name=\"login_hint\" value=\"{}\">{}<br><small>{}{}</small></button>",
                html_escape(&u.user_principal_name),
                html_escape(&u.display_name),
                html_escape(&u.user_principal_name),
                if u.account_enabled { "" } else { " (disabled)" }
            )
        })
        .collect();
    let inner = format!(
        "<h1>Pick an account</h1><p><small>Microsoft cloud emulator · {}</small></p>\
<form method=\"post\">{hidden}{buttons}</form>\
<form method=\"post\">{hidden}<p><label>Or sign in as <input name=\"login_hint\" type=\"email\" placeholder=\"someone@{}\"></label> <input type=\"submit\" value=\"Next\"></p></form>",
        html_escape(&org.display_name),
        html_escape(org.default_domain())
    );
    page("Sign in to your account", &inner).into_response()
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: the person picked a user; issue a code.
async fn authorize_submit(State(state): State<AppState>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let (client_id, redirect) = match check_authorize(&state, &tenant, &params) {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let who = params.get("login_hint").cloned().unwrap_or_default();
    let org = state.org();
    let Some(user) = org.active_users().iter().find(|u| {
        u.user_principal_name.eq_ignore_ascii_case(&who) || u.smtp_addresses().any(|a| a.eq_ignore_ascii_case(&who))
    }) else {
        return error_page(&aad(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50034,
            format!(
                "The user account {who} does not exist in the {} directory. To sign into this application, the account must be added to the directory.",
                org.display_name
            ),
        ));
    };
    if !user.account_enabled {
        return error_page(&aad(StatusCode::BAD_REQUEST, "invalid_grant", 50057, "The user account is disabled."));
    }
    let challenge = params
        .get("code_challenge")
        .map(|c| (c.clone(), params.get("code_challenge_method").cloned().unwrap_or_else(|| "plain".into())));
    let code = {
        let mut registry = state.registry();
        let code = registry.opaque(org.seed, 0xc0de);
        registry.codes.insert(
            code.clone(),
            AuthCode {
                client_id,
                redirect_uri: redirect.clone(),
                user: user.index,
                scope: params.get("scope").cloned().unwrap_or_else(|| "openid".into()),
                nonce: params.get("nonce").cloned(),
                challenge,
                issued: Utc::now(),
                redeemed: false,
            },
        );
        code
    };
    let state_param = params.get("state").cloned().unwrap_or_default();
    let session_state = crate::rng::guid(org.seed, &[0x5e55, user.index as u64]);
    if params.get("response_mode").map(String::as_str) == Some("form_post") {
        let inner = format!(
            "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"code\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\"><input type=\"hidden\" name=\"session_state\" value=\"{}\"><p>Signed in as {}.</p><input type=\"submit\" value=\"Continue\"></form>",
            html_escape(&redirect),
            html_escape(&code),
            html_escape(&state_param),
            session_state,
            html_escape(&user.display_name)
        );
        return page("Working...", &inner).into_response();
    }
    redirect_with(&redirect, &[("code", &code), ("state", &state_param), ("session_state", &session_state)])
}

/// `GET /{tenant}/oauth2/v2.0/logout`.
async fn logout(RawQuery(query): RawQuery) -> Response {
    let params: HashMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    match params.get("post_logout_redirect_uri") {
        Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => found(uri),
        _ => page(
            "Signed out",
            "<h1>You signed out of your account</h1><p>It's a good idea to close all browser windows.</p>",
        )
        .into_response(),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
async fn discovery(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let tid = if state.org().is_tenant(&tenant) {
        state.org().tenant_id.clone()
    } else if ["common", "organizations"].iter().any(|t| t.eq_ignore_ascii_case(&tenant)) {
        "{tenantid}".to_string()
    } else {
        return match check_tenant(&state, &tenant) {
            Err(e) => e.into_response(),
            Ok(()) => StatusCode::NOT_FOUND.into_response(),
        };
    };
    let base = &state.base_url;
    let path_tenant = if tid == "{tenantid}" { tenant.clone() } else { tid.clone() };
    let body = json!({
        "token_endpoint": format!("{base}/{path_tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{path_tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{path_tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{path_tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{path_tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{path_tenant}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": base.trim_start_matches("http://").trim_start_matches("https://"),
        "rbac_url": "https://pas.windows.net",
    });
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400, private"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    (headers, Json(body)).into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys`.
async fn jwks(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    if !state.org().is_tenant(&tenant)
        && !["common", "organizations"].iter().any(|t| t.eq_ignore_ascii_case(&tenant))
        && let Err(e) = check_tenant(&state, &tenant)
    {
        return e.into_response();
    }
    let issuer = format!("{}/{}/v2.0", state.base_url, state.org().tenant_id);
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400, private"));
    (headers, Json(state.keys.jwks(&issuer))).into_response()
}

/// `GET /oidc/userinfo` with a delegated token.
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let claims: Option<AccessClaims> = token.and_then(|t| state.keys.verify(t).ok());
    match claims.filter(|c| c.idtyp == "user" && c.exp > Utc::now().timestamp()) {
        Some(c) => match state.org().find_user(&c.oid) {
            Some(u) => Json(json!({
                "sub": c.sub, "name": u.display_name, "family_name": u.surname, "given_name": u.given_name,
                "email": u.address(),
            }))
            .into_response(),
            None => StatusCode::UNAUTHORIZED.into_response(),
        },
        None => crate::graph::error::GraphError::malformed_token().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_identifiers_are_classified_like_entra() {
        assert!(is_guid("63122682-bd96-47fd-97ab-95a76ce699a6"));
        assert!(!is_guid("63122682-bd96-47fd-97ab"));
        assert!(is_dns_name("contoso.onmicrosoft.com"));
        assert!(!is_dns_name("not a tenant"));
        assert!(!is_dns_name("contoso"));
    }

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX", "S256"));
        assert!(!pkce_matches("short", "short", "plain"));
    }
}
