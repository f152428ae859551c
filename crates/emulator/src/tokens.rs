//! Signing keys, app registrations and the tokens Entra issues for them.
//!
//! Tokens are real RS256 JWTs with Entra's claim names, signed with a fixed
//! key that ships with the emulator (it guards nothing real), so tokens stay
//! verifiable across restarts and the JWKS document never changes.

use crate::rng::{guid, hash};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const SIGNING_KEY_PEM: &[u8] = include_bytes!("../keys/signing-key.pem");
const SIGNING_CERT_DER: &[u8] = include_bytes!("../keys/signing-cert.der");
/// The key's RSA modulus, base64url. Checked against the private key in a test.
const MODULUS: &str = "kIaCgGdknlgqzSKbUxHKxcFXxOH9g7bItel9eQy4wfNIWKwz470xpWFBKXLCroOn-uHTkdFDiHA5GrwjQr7BPqyaC8AEUCEkANvIrVbO0VuVKS3dy1YlA-FNzYVYueCkEP3n_uqOUtLPgydF3X8rwg_HNI0WDpPY9MDzIlq1tppEsulZIP2NFjmJRnY8D-Ukhx5cTVkvgy6CoBduNLvSO_Su-JJAp6ZgkWrN39lzA8cVYuGoRfxpOxdxjiP64tw37lK7-nogtNiXSX9ZxkZzzQ-N_NzP688rkFwgZu6gVG3xBb1G5qgUwYQ5rvw0z4HqM1vM4b3FSgUVMEeFvGksiw";
const EXPONENT: &str = "AQAB";
/// The SHA-1 thumbprint of the certificate, base64url; Entra uses it as `kid` and `x5t`.
pub const KEY_ID: &str = "d5GFCVq-0wf159oyBNSXbxYTn5g";
/// Graph's resource URI, the `aud` of every Graph token.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Graph's well-known application id, also accepted as an audience.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The application permissions TAC's setup asks for, as an admin can
/// grant them: Graph has no application `User.Read` (docs/graph-facts.md §8).
pub const TAC_APP_ROLES: [&str; 6] =
    ["Directory.Read.All", "Group.Read.All", "GroupMember.Read.All", "User.Read.All", "Mail.Read", "Calendars.Read"];

/// The emulator's signing key pair.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { kid: ")?;
        f.write_str(KEY_ID)?;
        f.write_str(" }")
    }
}

impl Keys {
    /// Loads the key that ships with the emulator.
    pub fn load() -> Self {
        Keys {
            encoding: EncodingKey::from_rsa_pem(SIGNING_KEY_PEM).expect("BUG: the bundled signing key is valid PEM"),
            decoding: DecodingKey::from_rsa_components(MODULUS, EXPONENT).expect("BUG: the bundled modulus is valid"),
        }
    }

    /// Signs claims as an RS256 JWT with Entra's header fields.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KEY_ID.to_string());
        header.x5t = Some(KEY_ID.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("BUG: signing serialisable claims cannot fail")
    }

    /// Verifies a JWT's signature and returns its claims, without judging its lifetime.
    pub fn verify<T: for<'de> Deserialize<'de>>(&self, token: &str) -> Result<T, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(token, &self.decoding, &validation).map(|d| d.claims)
    }

    /// The JWKS document (`/discovery/v2.0/keys`).
    pub fn jwks(&self, issuer: &str) -> serde_json::Value {
        use base64::Engine;
        serde_json::json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "kid": KEY_ID,
            "x5t": KEY_ID,
            "n": MODULUS,
            "e": EXPONENT,
            "x5c": [base64::engine::general_purpose::STANDARD.encode(SIGNING_CERT_DER)],
            "issuer": issuer,
        }]})
    }
}

/// A client secret of an app registration.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// The secret's id (what the portal shows as "Secret ID"; pasting it is a classic mistake).
    pub key_id: String,
    /// The secret's value.
    pub value: String,
    pub end_date_time: DateTime<Utc>,
    pub revoked: bool,
}

/// An app registration with its service principal in the tenant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub client_id: String,
    /// The service principal's object id (`oid` and `sub` of app tokens).
    pub service_principal_id: String,
    pub display_name: String,
    pub secrets: Vec<Secret>,
    /// Granted application permissions.
    pub roles: Vec<String>,
    /// Without admin consent, app tokens carry no `roles` claim.
    pub admin_consent: bool,
    pub redirect_uris: Vec<String>,
}

impl App {
    /// Whether `uri` is registered. Like Entra, the port of a loopback redirect URI is ignored.
    pub fn accepts_redirect(&self, uri: &str) -> bool {
        let strip_port = |u: &str| -> String {
            for host in ["http://localhost:", "http://127.0.0.1:", "http://[::1]:"] {
                if let Some(rest) = u.strip_prefix(host) {
                    let path = rest.find('/').map_or("", |i| &rest[i..]);
                    return format!("{}{}", &host[..host.len() - 1], path);
                }
            }
            u.to_string()
        };
        let wanted = strip_port(uri);
        self.redirect_uris.iter().any(|r| strip_port(r) == wanted)
    }
}

/// A pending authorization code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user: usize,
    pub scope: String,
    pub nonce: Option<String>,
    pub challenge: Option<(String, String)>,
    pub issued: DateTime<Utc>,
    pub redeemed: bool,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub user: usize,
    pub scope: String,
    pub issued: DateTime<Utc>,
}

/// Every app registration and outstanding grant.
#[derive(Debug, Default)]
pub struct Registry {
    pub apps: Vec<App>,
    pub codes: HashMap<String, AuthCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// Access tokens with a serial below this are treated as expired.
    pub revoked_below: u64,
    counter: u64,
}

impl Registry {
    /// The registry with TAC's app, consented, holding one valid and one expired secret.
    pub fn with_default_app(seed: u64, redirect_uris: &[String]) -> Self {
        let mut registry = Registry::default();
        let mut uris = vec![
            "http://localhost/auth/microsoft/callback".to_string(),
            "http://127.0.0.1/auth/microsoft/callback".to_string(),
        ];
        uris.extend(redirect_uris.iter().cloned());
        registry.apps.push(App {
            client_id: guid(seed, &[0xa99]),
            service_principal_id: guid(seed, &[0xa99, 1]),
            display_name: "TAC CRM".into(),
            secrets: vec![
                Secret {
                    key_id: guid(seed, &[0x5ec, 0]),
                    value: secret_value(seed, 0),
                    end_date_time: Utc::now() + Duration::days(730),
                    revoked: false,
                },
                Secret {
                    key_id: guid(seed, &[0x5ec, 1]),
                    value: secret_value(seed, 1),
                    end_date_time: Utc::now() - Duration::days(30),
                    revoked: false,
                },
            ],
            roles: TAC_APP_ROLES.iter().map(|r| r.to_string()).collect(),
            admin_consent: true,
            redirect_uris: uris,
        });
        registry
    }

    /// Registers another app (for tests of several tenants' worth of clients).
    pub fn add_app(&mut self, seed: u64, display_name: &str, roles: Vec<String>, admin_consent: bool) -> App {
        self.counter += 1;
        let n = self.counter + 100;
        let app = App {
            client_id: guid(seed, &[0xa99, n, 7]),
            service_principal_id: guid(seed, &[0xa99, n, 8]),
            display_name: display_name.to_string(),
            secrets: vec![Secret {
                key_id: guid(seed, &[0x5ec, n]),
                value: secret_value(seed, n),
                end_date_time: Utc::now() + Duration::days(365),
                revoked: false,
            }],
            roles,
            admin_consent,
            redirect_uris: self.apps.first().map(|a| a.redirect_uris.clone()).unwrap_or_default(),
        };
        self.apps.push(app.clone());
        app
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    pub fn app_mut(&mut self, client_id: &str) -> Option<&mut App> {
        self.apps.iter_mut().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The next token serial, carried in the token's `uti` claim.
    pub fn next_serial(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Makes every access token issued so far count as expired.
    pub fn expire_tokens(&mut self) {
        self.revoked_below = self.counter + 1;
    }

    /// A fresh opaque value for codes and refresh tokens.
    pub fn opaque(&mut self, seed: u64, kind: u64) -> String {
        self.counter += 1;
        let a = hash(seed, &[kind, self.counter, Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64]);
        let b = hash(a, &[kind]);
        format!("0.A{a:016x}{b:016x}AAA")
    }
}

/// A client secret value in Entra's format (`abc8Q~…`, 40 characters).
fn secret_value(seed: u64, n: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    let mut out = String::with_capacity(40);
    let mut r = crate::rng::Rng::new(seed, &[0x5ec7, n]);
    for i in 0..40 {
        if i == 3 {
            out.push('8');
        } else if i == 4 {
            out.push('Q');
        } else if i == 5 {
            out.push('~');
        } else {
            out.push(ALPHABET[r.below(ALPHABET.len() as u64) as usize] as char);
        }
    }
    out
}

/// Claims of an app-only Graph access token (v1.0 format, as Graph receives them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default)]
    pub aio: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_displayname: Option<String>,
    pub appid: String,
    #[serde(default)]
    pub appidacr: String,
    #[serde(default)]
    pub idp: String,
    /// `app` for app-only tokens, `user` for delegated ones.
    pub idtyp: String,
    pub oid: String,
    #[serde(default)]
    pub rh: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    pub sub: String,
    pub tid: String,
    #[serde(default)]
    pub uti: String,
    pub ver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Claims of a v2.0 ID token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdClaims {
    pub ver: String,
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub name: String,
    pub preferred_username: String,
    pub oid: String,
    pub tid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub aio: String,
    pub rh: String,
    pub sid: String,
    pub uti: String,
}

/// A `uti` claim (22 characters, as Entra's) that carries a token serial.
pub fn uti_for(serial: u64) -> String {
    use base64::Engine;
    let mut bytes = serial.to_be_bytes().to_vec();
    bytes.extend_from_slice(&hash(serial, &[0x071]).to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The serial inside a `uti` claim.
pub fn serial_of(uti: &str) -> Option<u64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(uti).ok()?;
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_signed_with_the_bundled_key_verify_with_the_published_modulus() {
        let keys = Keys::load();
        let claims = serde_json::json!({"sub": "x", "exp": 1});
        let token = keys.sign(&claims);
        let back: serde_json::Value = keys.verify(&token).expect("verifies");
        assert_eq!(back, claims);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(KEY_ID));
    }

    #[test]
    fn a_tampered_token_does_not_verify() {
        let keys = Keys::load();
        let token = keys.sign(&serde_json::json!({"roles": ["Mail.Read"]}));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = crate::corpus::b64(br#"{"roles":["Mail.ReadWrite"]}"#).replace('=', "");
        parts[1] = &forged;
        assert!(keys.verify::<serde_json::Value>(&parts.join(".")).is_err());
    }

    #[test]
    fn secrets_look_like_entra_secrets_and_differ() {
        let a = secret_value(1, 0);
        assert_eq!(a.len(), 40);
        assert_eq!(&a[3..6], "8Q~");
        assert_ne!(a, secret_value(1, 1));
    }

    #[test]
    fn loopback_redirect_ports_are_ignored_but_paths_are_not() {
        let registry = Registry::with_default_app(1, &[]);
        let app = &registry.apps[0];
        assert!(app.accepts_redirect("http://127.0.0.1:8080/auth/microsoft/callback"));
        assert!(app.accepts_redirect("http://localhost:5555/auth/microsoft/callback"));
        assert!(!app.accepts_redirect("http://127.0.0.1:8080/elsewhere"));
        assert!(!app.accepts_redirect("https://evil.example/auth/microsoft/callback"));
    }
}
