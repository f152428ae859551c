//! Entra ID over real HTTP: client credentials and its errors, admin consent,
//! discovery, and the authorization-code flow with PKCE and refresh tokens.

mod common;

use common::{GRAPH_DEFAULT_SCOPE, Harness, claims, client_credentials, jwt_header, pkce_challenge, url_query};
use serde_json::{Value, json};

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON error"))
}

/// The error of a client-credentials request for TAC's registration with `secret`.
async fn secret_error(h: &Harness, secret: &str) -> (u16, Value) {
    error_of(h.token_response(&h.creds.tenant_id, &h.creds.client_id, secret).await).await
}

fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().expect("error_codes")
}

#[tokio::test]
async fn client_credentials_issue_an_rs256_app_token_with_the_granted_roles() {
    let h = Harness::start().await;
    let r = h.token_response(&h.creds.tenant_id, &h.creds.client_id, &h.creds.client_secret).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store, no-cache");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_header(token)["alg"], "RS256");
    let c = claims(token);
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["tid"], h.creds.tenant_id);
    assert_eq!(c["appid"], h.creds.client_id);
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{}/", h.creds.tenant_id));
    let roles: Vec<&str> = c["roles"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for r in tac_emulator::tokens::TAC_APP_ROLES {
        assert!(roles.contains(&r), "missing {r}");
    }
    assert!(!roles.contains(&"User.Read"), "User.Read is delegated only: no app-only token carries it");
}

#[tokio::test]
async fn only_application_permissions_that_exist_in_graph_can_be_granted() {
    let h = Harness::start().await;
    let patch = |roles: Value| {
        h.http.patch(h.admin(&format!("/apps/{}", h.creds.client_id))).json(&json!({"roles": roles})).send()
    };
    let r = patch(json!(["User.Read", "Mail.Read"])).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("delegated"), "{body}");
    let r = patch(json!(["Mail.ReadEverything"])).await.unwrap();
    assert_eq!(r.status(), 400);
    let (status, _) = h.admin_post("/apps", json!({"roles": ["openid"]})).await;
    assert_eq!(status, 400, "a sign-in scope is no app role");

    // Extra, higher and unexpected permissions are granted and carried.
    let r =
        patch(json!(["user.readwrite.all", "Mail.ReadWrite", "Calendars.ReadWrite", "Sites.Read.All"])).await.unwrap();
    assert_eq!(r.status(), 200);
    let c = claims(&h.token().await);
    let roles: Vec<&str> = c["roles"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(roles, ["User.ReadWrite.All", "Mail.ReadWrite", "Calendars.ReadWrite", "Sites.Read.All"]);
}

#[tokio::test]
async fn a_verified_domain_names_the_tenant_as_well_as_its_guid() {
    let h = Harness::start().await;
    let config = h.admin_get("/config").await;
    let domain = config["domains"][0].as_str().unwrap();
    let r = h.token_response(domain, &h.creds.client_id, &h.creds.client_secret).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_wrong_secret_is_aadsts7000215_with_401_invalid_client() {
    let h = Harness::start().await;
    let (status, body) = secret_error(&h, "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(aadsts(&body), 7000215);
    let d = body["error_description"].as_str().unwrap();
    assert!(d.starts_with("AADSTS7000215: Invalid client secret provided."), "{d}");
    assert!(d.contains("\r\nTrace ID: ") && d.contains("\r\nCorrelation ID: ") && d.contains("\r\nTimestamp: "));
    for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[field].is_string(), "{field}");
    }
}

#[tokio::test]
async fn pasting_the_secret_id_instead_of_its_value_is_a_wrong_secret() {
    let h = Harness::start().await;
    let config = h.admin_get("/config").await;
    let (status, body) = secret_error(&h, config["client_secret_id"].as_str().unwrap()).await;
    assert_eq!((status, aadsts(&body)), (401, 7000215));
}

#[tokio::test]
async fn an_expired_secret_is_aadsts7000222() {
    let h = Harness::start().await;
    let config = h.admin_get("/config").await;
    let (status, body) = secret_error(&h, config["expired_client_secret"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str().unwrap(), aadsts(&body)), (401, "invalid_client", 7000222));
}

#[tokio::test]
async fn an_unknown_client_is_aadsts700016_unauthorized_client() {
    let h = Harness::start().await;
    let (status, body) =
        error_of(h.token_response(&h.creds.tenant_id, "11111111-2222-3333-4444-555555555555", "x").await).await;
    assert_eq!((status, body["error"].as_str().unwrap(), aadsts(&body)), (400, "unauthorized_client", 700016));
}

#[tokio::test]
async fn an_unknown_tenant_is_aadsts90002_and_a_malformed_one_is_aadsts900023() {
    let h = Harness::start().await;
    let (status, body) = error_of(
        h.token_response("00000000-1111-2222-3333-444444444444", &h.creds.client_id, &h.creds.client_secret).await,
    )
    .await;
    assert_eq!((status, body["error"].as_str().unwrap(), aadsts(&body)), (400, "invalid_tenant", 90002));
    let (_, body) =
        error_of(h.token_response("unknown.example.com", &h.creds.client_id, &h.creds.client_secret).await).await;
    assert_eq!(aadsts(&body), 90002);
    let (status, body) =
        error_of(h.token_response("not_a_tenant!", &h.creds.client_id, &h.creds.client_secret).await).await;
    assert_eq!((status, body["error"].as_str().unwrap(), aadsts(&body)), (400, "invalid_request", 900023));
}

#[tokio::test]
async fn a_revoked_secret_stops_working_and_a_new_one_works() {
    let h = Harness::start().await;
    let (status, _) = h.admin_post(&format!("/apps/{}/secrets/revoke", h.creds.client_id), json!({})).await;
    assert_eq!(status, 204);
    let (status, body) = secret_error(&h, &h.creds.client_secret).await;
    assert_eq!((status, aadsts(&body)), (401, 7000215));
    let (_, secret) = h.admin_post(&format!("/apps/{}/secrets", h.creds.client_id), json!({})).await;
    let r = h.token_response(&h.creds.tenant_id, &h.creds.client_id, secret["value"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn without_admin_consent_the_token_has_no_roles_and_graph_answers_403() {
    let h = Harness::start().await;
    assert_eq!(h.update_app(json!({"adminConsent": false})).await, 200);
    let token = h.token().await;
    assert!(claims(&token).get("roles").is_none(), "no roles claim without consent");
    let (status, _, body) = h.get(&token, "/users", &[]).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    let (mailbox, _) = h.first_mailbox().await;
    let (status, _, body) = h.get(&token, &format!("/users/{mailbox}/mailFolders"), &[]).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");
}

#[tokio::test]
async fn a_missing_role_denies_only_the_apis_that_need_it() {
    let h = Harness::start().await;
    h.update_app(json!({"roles": ["User.Read.All", "Mail.Read"]})).await;
    let token = h.token().await;
    assert_eq!(h.get(&token, "/users", &[]).await.0, 200);
    let (mailbox, _) = h.first_mailbox().await;
    assert_eq!(h.get(&token, &format!("/users/{mailbox}/mailFolders"), &[]).await.0, 200);
    let (status, _, body) = h
        .get(
            &token,
            &format!(
                "/users/{mailbox}/calendarView?startDateTime=2020-01-01T00:00:00Z&endDateTime=2030-01-01T00:00:00Z"
            ),
            &[],
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (403, "ErrorAccessDenied"));
    let (status, _, body) = h.get(&token, "/groups", &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (403, "Authorization_RequestDenied"));
}

#[tokio::test]
async fn bad_token_requests_get_entra_errors_not_panics() {
    let h = Harness::start().await;
    let (client, secret) = (h.creds.client_id.as_str(), Some(h.creds.client_secret.as_str()));
    let cases: Vec<(Vec<(&str, &str)>, u64)> = vec![
        (vec![], 900144),
        (vec![("grant_type", "password")], 70003),
        (client_credentials(client, secret, "Mail.Read"), 1002012),
        (client_credentials(client, secret, "https://example.com/.default"), 500011),
        (client_credentials(client, None, GRAPH_DEFAULT_SCOPE), 7000218),
    ];
    for (form, code) in cases {
        let r = h.post_token(&h.creds.tenant_id, &form).await;
        assert!(r.status().is_client_error());
        let body: Value = r.json().await.unwrap();
        assert_eq!(aadsts(&body), code, "{form:?}");
    }
    let r = h.http.post(h.token_url(&h.creds.tenant_id)).body("%%%not a form").send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn http_basic_client_authentication_is_accepted() {
    let h = Harness::start().await;
    let r = h
        .http
        .post(h.token_url(&h.creds.tenant_id))
        .basic_auth(&h.creds.client_id, Some(&h.creds.client_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_DEFAULT_SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_signing_key() {
    let h = Harness::start().await;
    let t = &h.creds.tenant_id;
    let r =
        h.http.get(format!("{}/{t}/v2.0/.well-known/openid-configuration", h.creds.login_url)).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "max-age=86400, private");
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], format!("{}/{t}/v2.0", h.creds.login_url));
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256"]));
    let jwks: Value = h.http.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    for f in ["kty", "use", "kid", "x5t", "n", "e", "x5c"] {
        assert!(!key[f].is_null(), "{f}");
    }
    let r = h
        .http
        .get(format!("{}/nope.example.com/v2.0/.well-known/openid-configuration", h.creds.login_url))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_tenant");
}

fn pkce_pair() -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_string();
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

/// Walks the sign-in page as a person would: open it, pick a user, follow the redirect.
async fn sign_in(h: &Harness, user: &str, challenge: &str, redirect: &str) -> reqwest::Response {
    let mut params = h.authorize_params(redirect, challenge, "n0nce");
    params.push(("state", "st4te"));
    let url = h.authorize_url();
    let page = h.http.get(&url).query(&params).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Pick an account") && html.contains(user), "the sign-in page lists directory users");
    let mut form = params;
    form.push(("login_hint", user));
    h.http.post(&url).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn authorization_code_with_pkce_yields_id_access_and_refresh_tokens() {
    let h = Harness::start().await;
    let (_, upn) = h.first_mailbox().await;
    let (verifier, challenge) = pkce_pair();
    let redirect = "http://127.0.0.1:8080/auth/microsoft/callback";
    let r = sign_in(&h, &upn, &challenge, redirect).await;
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(redirect), "{location}");
    let query: std::collections::HashMap<String, String> = url_query(&location);
    assert_eq!(query["state"], "st4te");
    let code = query["code"].clone();
    let token_url = h.token_url(&h.creds.tenant_id);
    let redeem = |verifier: String, code: String| {
        h.http.post(&token_url).form(&[
            ("grant_type", "authorization_code".to_string()),
            ("client_id", h.creds.client_id.clone()),
            ("client_secret", h.creds.client_secret.clone()),
            ("code", code),
            ("redirect_uri", redirect.to_string()),
            ("code_verifier", verifier),
        ])
    };
    let wrong: Value = redeem("x".repeat(43), code.clone()).send().await.unwrap().json().await.unwrap();
    assert_eq!(aadsts(&wrong), 501481, "a wrong PKCE verifier is refused");
    let body: Value = redeem(verifier.clone(), code.clone()).send().await.unwrap().json().await.unwrap();
    let id = claims(body["id_token"].as_str().expect("id_token with openid"));
    assert_eq!(id["preferred_username"], upn);
    assert_eq!(id["nonce"], "n0nce");
    assert_eq!(id["tid"], h.creds.tenant_id);
    assert_eq!(id["aud"], h.creds.client_id);
    assert_eq!(id["ver"], "2.0");
    for c in ["oid", "name", "email", "sub", "iss", "exp", "iat"] {
        assert!(!id[c].is_null(), "{c}");
    }
    let refresh = body["refresh_token"].as_str().expect("refresh token with offline_access").to_string();
    let again: Value = redeem(verifier, code).send().await.unwrap().json().await.unwrap();
    assert_eq!(aadsts(&again), 54005, "a code is redeemed once");

    let access = body["access_token"].as_str().unwrap();
    let (status, _, me) = h.get(access, "/me", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(me["userPrincipalName"], upn);

    let refreshed: Value = h
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &h.creds.client_id),
            ("client_secret", &h.creds.client_secret),
            ("refresh_token", &refresh),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(refreshed["access_token"].is_string());
    assert_ne!(refreshed["refresh_token"], refresh, "a new refresh token each time");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_refused_on_the_page_not_redirected() {
    let h = Harness::start().await;
    let r = h
        .http
        .get(h.authorize_url())
        .query(&[
            ("client_id", h.creds.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in() {
    let h = Harness::start().await;
    let truth = h.admin_get("/truth/mailboxes").await;
    let disabled = truth["users"].as_array().unwrap().iter().find(|u| u["accountEnabled"] == false).unwrap();
    let (_, challenge) = pkce_pair();
    let r = sign_in(
        &h,
        disabled["userPrincipalName"].as_str().unwrap(),
        &challenge,
        "http://localhost:9000/auth/microsoft/callback",
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50057"));
}
