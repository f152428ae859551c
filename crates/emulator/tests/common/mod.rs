//! Helpers shared by the end-to-end tests: an emulator on a loopback port, a
//! real HTTP client, and tokens; and, in [`fidelity`], the HTTPS emulator and
//! child-process running of the Graph SDK fidelity tests.

#![allow(dead_code)]

pub mod fidelity;

use serde_json::Value;
use tac_emulator::{Credentials, EmulatorConfig, RunningEmulator};

pub struct Harness {
    pub emulator: RunningEmulator,
    pub creds: Credentials,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(EmulatorConfig::default()).await
    }

    pub async fn with(config: EmulatorConfig) -> Self {
        let emulator = tac_emulator::spawn(config).await.expect("the emulator starts");
        let creds = emulator.credentials();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Harness { emulator, creds, http }
    }

    /// An emulator and an app token for TAC's registration.
    pub async fn start_with_token() -> (Self, String) {
        let h = Self::start().await;
        let token = h.token().await;
        (h, token)
    }

    /// An emulator, an app token for TAC's registration, and the first user
    /// with a mailbox: their id and their address.
    pub async fn start_with_mailbox() -> (Self, String, String, String) {
        let (h, token) = Self::start_with_token().await;
        let (user, upn) = h.first_mailbox().await;
        (h, token, user, upn)
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}/_emulator{path}", self.emulator.base_url())
    }

    pub fn graph(&self, path: &str) -> String {
        format!("{}{path}", self.creds.graph_url)
    }

    /// The token endpoint of `tenant` (an id or a domain).
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.creds.login_url)
    }

    /// The sign-in (authorize) endpoint of the emulator's tenant.
    pub fn authorize_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/authorize", self.creds.login_url, self.creds.tenant_id)
    }

    /// POSTs `form` to the token endpoint of `tenant` and returns the raw response.
    pub async fn post_token(&self, tenant: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(self.token_url(tenant)).form(form).send().await.expect("token request")
    }

    /// POSTs a client-credentials request for Graph and returns the raw response.
    pub async fn token_response(&self, tenant: &str, client_id: &str, secret: &str) -> reqwest::Response {
        self.post_token(tenant, &client_credentials(client_id, Some(secret), GRAPH_DEFAULT_SCOPE)).await
    }

    /// The authorization-code sign-in parameters for TAC's registration with
    /// PKCE (S256): OpenID Connect and a refresh token, back to `redirect`.
    pub fn authorize_params<'a>(
        &'a self,
        redirect: &'a str,
        challenge: &'a str,
        nonce: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("client_id", self.creds.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", "openid profile email offline_access"),
            ("nonce", nonce),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    }

    /// An app token for TAC's registration.
    pub async fn token(&self) -> String {
        let r = self.token_response(&self.creds.tenant_id, &self.creds.client_id, &self.creds.client_secret).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        body["access_token"].as_str().expect("access_token").to_string()
    }

    /// GET a Graph URL (absolute or relative to graph_url) with a token and headers.
    pub async fn get(
        &self,
        token: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = if url.starts_with("http") { url.to_string() } else { self.graph(url) };
        let mut req = self.http.get(url).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(self.admin(path)).json(&body).send().await.expect("admin request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// PUTs a JSON body to the admin API and returns the status.
    pub async fn admin_put(&self, path: &str, body: Value) -> u16 {
        self.http.put(self.admin(path)).json(&body).send().await.expect("admin request").status().as_u16()
    }

    /// PATCHes a JSON body to the admin API and returns the status.
    pub async fn admin_patch(&self, path: &str, body: Value) -> u16 {
        self.http.patch(self.admin(path)).json(&body).send().await.expect("admin request").status().as_u16()
    }

    /// DELETEs through the admin API and returns the status.
    pub async fn admin_delete(&self, path: &str) -> u16 {
        self.http.delete(self.admin(path)).send().await.expect("admin request").status().as_u16()
    }

    /// Changes TAC's own app registration (roles, consent, …) and returns the status.
    pub async fn update_app(&self, patch: Value) -> u16 {
        self.admin_patch(&format!("/apps/{}", self.creds.client_id), patch).await
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.http.get(self.admin(path)).send().await.expect("admin request").json().await.expect("json")
    }

    /// The id of the first user who has a mailbox, and their address.
    pub async fn first_mailbox(&self) -> (String, String) {
        let truth = self.admin_get("/truth/mailboxes").await;
        let u = truth["users"].as_array().unwrap().iter().find(|u| u["hasMailbox"] == true).expect("a mailbox").clone();
        (u["id"].as_str().unwrap().to_string(), u["userPrincipalName"].as_str().unwrap().to_string())
    }

    /// Runs a whole delta round from `url`, following next links. Returns
    /// the items and the delta link.
    pub async fn delta_round(&self, token: &str, url: &str, headers: &[(&str, &str)]) -> (Vec<Value>, String) {
        let mut items = Vec::new();
        let mut next = url.to_string();
        for _ in 0..10_000 {
            let (status, _, body) = self.get(token, &next, headers).await;
            assert_eq!(status, 200, "delta page failed: {body}");
            items.extend(body["value"].as_array().cloned().unwrap_or_default());
            if let Some(n) = body["@odata.nextLink"].as_str() {
                next = n.to_string();
            } else {
                return (items, body["@odata.deltaLink"].as_str().expect("a round ends with a delta link").to_string());
            }
        }
        panic!("the delta round never ended");
    }
}

/// The scope of an app-only token for Microsoft Graph.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The form of a client-credentials token request; `None` leaves the secret out.
pub fn client_credentials<'a>(client_id: &'a str, secret: Option<&'a str>, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("grant_type", "client_credentials"), ("client_id", client_id)];
    form.extend(secret.map(|s| ("client_secret", s)));
    form.push(("scope", scope));
    form
}

/// Decodes one base64url part of a JWT as JSON, without checking anything.
fn jwt_part(jwt: &str, index: usize) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(index).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON JWT part")
}

/// Decodes a JWT's header without checking it.
pub fn jwt_header(jwt: &str) -> Value {
    jwt_part(jwt, 0)
}

/// Decodes a JWT's payload without checking it.
pub fn claims(jwt: &str) -> Value {
    jwt_part(jwt, 1)
}

/// The S256 PKCE challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The query parameters of a URL, percent-decoded.
pub fn url_query(url: &str) -> std::collections::HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), percent_decode(v))).collect()
}

pub fn percent_decode(v: &str) -> String {
    let bytes = v.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a path segment (ids are base64: `/`, `+` and `=` need it).
pub fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The widest calendar window Graph answers (1,825 days), centred on today,
/// where all of the emulator's meetings lie.
pub fn wide_window() -> String {
    let now = chrono::Utc::now();
    let (start, end) = (now - chrono::Duration::days(912), now + chrono::Duration::days(912));
    format!("startDateTime={}&endDateTime={}", start.format("%Y-%m-%dT00:00:00Z"), end.format("%Y-%m-%dT00:00:00Z"))
}
