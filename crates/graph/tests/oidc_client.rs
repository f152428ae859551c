//! The OIDC client over HTTP against a tiny identity provider on
//! 127.0.0.1:0 whose answers each test sets: discovery checks, key
//! caching and refetching on an unknown `kid`, and the code exchange with
//! its errors. (The full flow against the emulator is in tac-web's tests.)

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tac_graph::oidc::{IdTokenError, OidcClient, OidcError, OidcSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY_A: &[u8] = include_bytes!("../testdata/oidc-key-a.pem");
const KEY_B: &[u8] = include_bytes!("../testdata/oidc-key-b.pem");
const N_A: &str = include_str!("../testdata/oidc-key-a.n");
const N_B: &str = include_str!("../testdata/oidc-key-b.n");
const TID: &str = "9122040d-6c67-4c5b-b112-36a304b66dad";
const CLIENT: &str = "6cb04018-a3f5-46a7-b995-940c78f5aef3";

/// What the provider answers; tests change it while it runs.
#[derive(Default)]
struct Answers {
    /// Overrides of the discovery document's fields.
    discovery: Value,
    /// The JWKS `keys`.
    keys: Vec<Value>,
    /// The token endpoint's status and body.
    token: (u16, Value),
    jwks_hits: AtomicUsize,
    /// The last token request's body.
    token_request: Mutex<String>,
}

struct Provider {
    base: String,
    answers: Arc<Mutex<Answers>>,
}

fn jwk(kid: &str, n: &str) -> Value {
    json!({"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": n.trim(), "e": "AQAB"})
}

async fn provider() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answers = Arc::new(Mutex::new(Answers { keys: vec![jwk("kid-a", N_A)], ..Answers::default() }));
    let (shared, origin) = (Arc::clone(&answers), base.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (answers, base) = (Arc::clone(&shared), origin.clone());
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then the body as long as Content-Length says.
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if raw.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&raw).to_string();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body_start = text.find("\r\n\r\n").map_or(text.len(), |i| i + 4);
                let (status, body) = {
                    let a = answers.lock().unwrap();
                    if path.ends_with("/.well-known/openid-configuration") {
                        let mut doc = json!({
                            "issuer": format!("{base}/{TID}/v2.0"),
                            "authorization_endpoint": format!("{base}/{TID}/oauth2/v2.0/authorize"),
                            "token_endpoint": format!("{base}/{TID}/oauth2/v2.0/token"),
                            "jwks_uri": format!("{base}/{TID}/discovery/v2.0/keys"),
                        });
                        if let Some(overrides) = a.discovery.as_object() {
                            for (k, v) in overrides {
                                doc[k] = json!(v.as_str().unwrap().replace("{base}", &base));
                            }
                        }
                        (200, doc)
                    } else if path.ends_with("/discovery/v2.0/keys") {
                        a.jwks_hits.fetch_add(1, Ordering::SeqCst);
                        (200, json!({"keys": a.keys}))
                    } else if path.ends_with("/oauth2/v2.0/token") {
                        *a.token_request.lock().unwrap() = text[body_start..].to_owned();
                        a.token.clone()
                    } else {
                        (404, json!({}))
                    }
                };
                let body = body.to_string();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Provider { base, answers }
}

fn settings(base: &str, tenant: &str) -> OidcSettings {
    OidcSettings {
        login_url: base.to_owned(),
        tenant: tenant.to_owned(),
        client_id: CLIENT.to_owned(),
        client_secret: SecretString::from("s3cret~value"),
        redirect_uri: "http://127.0.0.1:8080/auth/microsoft/callback".to_owned(),
    }
}

fn id_token(base: &str, key: &[u8], kid: &str, nonce: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "ver": "2.0", "iss": format!("{base}/{TID}/v2.0"), "aud": CLIENT, "exp": now + 3600, "iat": now, "nbf": now,
        "name": "Abe Lincoln", "preferred_username": "AbeLi@contoso.com", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "tid": TID, "nonce": nonce,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key).unwrap()).unwrap()
}

fn hits(p: &Provider) -> usize {
    p.answers.lock().unwrap().jwks_hits.load(Ordering::SeqCst)
}

#[tokio::test]
async fn the_authorize_url_carries_state_nonce_and_an_s256_challenge() {
    let p = provider().await;
    let client = OidcClient::new(settings(&p.base, TID)).unwrap();
    let start = client.start().await.unwrap();
    let url = url::Url::parse(&start.authorize_url).unwrap();
    assert!(start.authorize_url.starts_with(&format!("{}/{TID}/oauth2/v2.0/authorize?", p.base)));
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid profile email offline_access");
    assert_eq!(q["redirect_uri"], "http://127.0.0.1:8080/auth/microsoft/callback");
    assert_eq!(q["state"], start.state);
    assert_eq!(q["nonce"], start.nonce);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"], tac_graph::oidc::pkce_challenge(&start.code_verifier));
    assert!(!start.authorize_url.contains(&start.code_verifier), "the verifier stays here");
    assert!(!format!("{start:?}").contains(&start.code_verifier));
    let again = client.start().await.unwrap();
    assert_ne!((again.state, again.nonce), (start.state, start.nonce), "fresh values every time");
}

#[tokio::test]
async fn discovery_must_name_the_tenant_and_stay_on_the_login_origin() {
    let p = provider().await;
    p.answers.lock().unwrap().discovery = json!({"token_endpoint": "https://evil.example/token"});
    let err = OidcClient::new(settings(&p.base, TID)).unwrap().metadata().await.unwrap_err();
    assert!(matches!(&err, OidcError::Discovery { reason, .. } if reason.contains("evil.example")), "{err}");

    p.answers.lock().unwrap().discovery = json!({"issuer": "{base}/{tenantid}/v2.0"});
    let err = OidcClient::new(settings(&p.base, TID)).unwrap().metadata().await.unwrap_err();
    assert!(err.to_string().contains("names no tenant"), "{err}");

    // A GUID tenant must be the issuer's; a domain takes the issuer's GUID.
    p.answers.lock().unwrap().discovery = json!({});
    let err = OidcClient::new(settings(&p.base, "72f988bf-86f1-41af-91ab-2d7cd011db47")).unwrap().metadata().await;
    assert!(err.is_err());
    let metadata = OidcClient::new(settings(&p.base, "contoso.com")).unwrap().metadata().await.unwrap();
    assert_eq!(metadata.tenant_id(), Some(TID));
}

#[tokio::test]
async fn keys_are_cached_and_fetched_again_for_an_unknown_kid() {
    let p = provider().await;
    let client = OidcClient::new(settings(&p.base, TID)).unwrap().with_key_refetch_interval(Duration::ZERO);
    let metadata = client.metadata().await.unwrap();
    let now = chrono::Utc::now().timestamp();
    client.validate(&metadata, &id_token(&p.base, KEY_A, "kid-a", "n1"), "n1", now).await.unwrap();
    client.validate(&metadata, &id_token(&p.base, KEY_A, "kid-a", "n2"), "n2", now).await.unwrap();
    assert_eq!(hits(&p), 1, "the key set is cached");

    // Entra rolls its keys: a token under a new kid makes the client look again.
    p.answers.lock().unwrap().keys = vec![jwk("kid-a", N_A), jwk("kid-b", N_B)];
    client.validate(&metadata, &id_token(&p.base, KEY_B, "kid-b", "n3"), "n3", now).await.unwrap();
    assert_eq!(hits(&p), 2);

    // A kid nobody publishes is refused after one more look.
    let err = client.validate(&metadata, &id_token(&p.base, KEY_B, "kid-x", "n4"), "n4", now).await.unwrap_err();
    assert!(matches!(err, OidcError::InvalidIdToken(IdTokenError::UnknownKey(_))), "{err}");
    assert_eq!(hits(&p), 3);
}

#[tokio::test]
async fn unknown_kids_do_not_make_the_client_hammer_the_key_endpoint() {
    let p = provider().await;
    let client = OidcClient::new(settings(&p.base, TID)).unwrap();
    let metadata = client.metadata().await.unwrap();
    let now = chrono::Utc::now().timestamp();
    for n in 0..5 {
        let token = id_token(&p.base, KEY_B, &format!("forged-{n}"), "n");
        assert!(client.validate(&metadata, &token, "n", now).await.is_err());
    }
    assert_eq!(hits(&p), 1, "one fetch within the refetch interval");
}

#[tokio::test]
async fn the_code_exchange_sends_the_verifier_and_secret_and_validates_the_id_token() {
    let p = provider().await;
    let client = OidcClient::new(settings(&p.base, TID)).unwrap();
    let token = id_token(&p.base, KEY_A, "kid-a", "the-nonce");
    p.answers.lock().unwrap().token =
        (200, json!({"token_type": "Bearer", "expires_in": 3599, "id_token": token, "access_token": "x"}));
    let identity = client.redeem("the-code", "the-verifier", "the-nonce").await.unwrap();
    assert_eq!(identity.tenant_id, TID);
    assert_eq!(identity.object_id, "00000000-0000-0000-66f3-3332eca7ea81");
    let sent: std::collections::HashMap<String, String> =
        form_urlencoded_pairs(&p.answers.lock().unwrap().token_request.lock().unwrap());
    assert_eq!(sent["grant_type"], "authorization_code");
    assert_eq!(sent["code"], "the-code");
    assert_eq!(sent["code_verifier"], "the-verifier");
    assert_eq!(sent["client_secret"], "s3cret~value");
    assert_eq!(sent["redirect_uri"], "http://127.0.0.1:8080/auth/microsoft/callback");

    // The nonce of another sign-in does not do.
    let err = client.redeem("the-code", "the-verifier", "another").await.unwrap_err();
    assert!(matches!(err, OidcError::InvalidIdToken(IdTokenError::WrongNonce)), "{err}");

    // No id_token.
    p.answers.lock().unwrap().token = (200, json!({"token_type": "Bearer", "access_token": "x"}));
    assert!(matches!(client.redeem("c", "v", "n").await.unwrap_err(), OidcError::NoIdToken));

    // Entra's error, cut to its AADSTS line.
    p.answers.lock().unwrap().token = (
        400,
        json!({
            "error": "invalid_grant",
            "error_description": "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2024-01-01 00:00:00Z",
            "error_codes": [54005]
        }),
    );
    match client.redeem("c", "v", "n").await.unwrap_err() {
        OidcError::Provider { error, description } => {
            assert_eq!(error, "invalid_grant");
            assert!(description.starts_with("AADSTS54005: OAuth2 Authorization code was already redeemed"));
            assert!(!description.contains("Trace ID"));
        }
        other => panic!("{other}"),
    }
}

fn form_urlencoded_pairs(body: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}
