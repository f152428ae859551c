//! Sign in with Microsoft: the OpenID Connect authorization code flow with
//! PKCE (S256) for a confidential client, single tenant.
//!
//! <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow>
//! and <https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference>.
//!
//! - [`OidcClient::metadata`] reads the tenant's discovery document
//!   (`{login}/{tenant}/v2.0/.well-known/openid-configuration`), cached for a
//!   day as Entra's `Cache-Control: max-age=86400` allows. Its endpoints must
//!   be on the login URL's origin, so the client secret is never sent
//!   anywhere else.
//! - [`OidcClient::start`] makes a fresh `state`, `nonce` and PKCE verifier
//!   and the authorize URL (`response_mode=query`); the caller binds the
//!   three to the browser and uses them once.
//! - [`OidcClient::redeem`] sends the code, verifier and secret to the token
//!   endpoint and validates the `id_token` fully ([`validate_id_token`]):
//!   RS256 only, signed by a key of the tenant's JWKS (cached; fetched again
//!   for an unknown `kid`, at most every [`KEY_REFETCH_INTERVAL`]), `iss` the
//!   discovery issuer, `aud` the client id, `exp`/`nbf` with [`LEEWAY`],
//!   `nonce` the one sent, and `tid` the configured tenant: a token from
//!   another tenant is refused.
//!
//! **Why by hand and not `openidconnect` (docs/architecture.md §8).** The flow is four
//! HTTP calls and a JWT check. `jsonwebtoken` (already here for the
//! emulator, on aws-lc-rs) does the signature; reqwest does the rest. The
//! `openidconnect` crate would bring `oauth2`, its own HTTP client traits
//! (needing a reqwest 0.13 adapter) and a second RSA implementation, and it
//! is not in the offline registry this workspace builds from. Entra's
//! quirks (a discovery issuer per tenant, `tid`, AADSTS errors) are easier
//! to keep right in code we own; the tests below pin each check.

use crate::cloud::Cloud;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// The scopes TAC asks for: an id_token with the profile and email claims,
/// and a refresh token (unused for now; asked so that consent covers it).
pub const SCOPES: &str = "openid profile email offline_access";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(120);
/// The least time between two JWKS fetches caused by unknown `kid`s, so a
/// stream of forged tokens cannot make TAC hammer the JWKS endpoint.
pub const KEY_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long discovery and the JWKS are kept (Entra serves both with
/// `max-age=86400`).
const METADATA_TTL: Duration = Duration::from_secs(24 * 3600);

/// What the portal needs to sign people in: from the saved integration
/// and the portal's public URL.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// `https://login.microsoftonline.com`, a national cloud, or the emulator.
    pub login_url: String,
    /// The tenant id (a GUID) or a verified domain.
    pub tenant: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// `{public_url}/auth/microsoft/callback`, as registered on the app.
    pub redirect_uri: String,
}

impl PartialEq for OidcSettings {
    fn eq(&self, other: &Self) -> bool {
        self.login_url == other.login_url
            && self.tenant == other.tenant
            && self.client_id == other.client_id
            && self.redirect_uri == other.redirect_uri
            && self.client_secret.expose_secret() == other.client_secret.expose_secret()
    }
}

/// The parts of the discovery document TAC uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

impl ProviderMetadata {
    /// The tenant id in the issuer (`{login}/{tid}/v2.0`).
    pub fn tenant_id(&self) -> Option<&str> {
        let path = self.issuer.trim_end_matches('/').strip_suffix("/v2.0")?;
        let tid = path.rsplit('/').next()?;
        (!tid.is_empty() && !tid.contains('{')).then_some(tid)
    }
}

/// A sign-in to send the browser on: the authorize URL and the values to
/// keep (bound to this browser, used once) until it comes back.
#[derive(Clone)]
pub struct SignInStart {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
}

impl std::fmt::Debug for SignInStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInStart").field("authorize_url", &self.authorize_url).finish_non_exhaustive()
    }
}

/// Who signed in, from a validated id_token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// `tid`: with `oid`, what identifies the person.
    pub tenant_id: String,
    /// `oid`: the same in every app of the tenant; the Graph user id.
    pub object_id: String,
    /// `name`.
    pub name: Option<String>,
    /// `email` (optional claim, "not guaranteed to be correct"): for display.
    pub email: Option<String>,
    /// `preferred_username` (the UPN, mutable): for display.
    pub preferred_username: Option<String>,
}

/// Why an id_token was refused. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the id_token is not a well-formed JWT")]
    Malformed,
    #[error("the id_token is signed with {0}, not RS256")]
    UnsupportedAlgorithm(String),
    #[error("the id_token names no signing key (kid)")]
    NoKeyId,
    #[error("the id_token is signed with key {0}, which the tenant's key set does not list")]
    UnknownKey(String),
    #[error("the id_token's signature does not verify")]
    BadSignature,
    #[error("the id_token was issued by {found}, not by {expected}")]
    WrongIssuer { expected: String, found: String },
    #[error("the id_token is for another application (aud {found})")]
    WrongAudience { found: String },
    #[error("the id_token has expired")]
    Expired,
    #[error("the id_token is not valid yet (nbf in the future)")]
    NotYetValid,
    #[error("the id_token's nonce is not the one this sign-in sent")]
    WrongNonce,
    #[error("the id_token is from tenant {found}, not from the configured tenant {expected}")]
    WrongTenant { expected: String, found: String },
    #[error("the id_token has no {0} claim")]
    MissingClaim(&'static str),
}

/// Sign in with Microsoft failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The settings cannot work (a bad login URL, an HTTP client that
    /// cannot be built).
    #[error("{0}")]
    Config(String),
    /// The discovery document or key set could not be read or makes no sense.
    #[error("could not read Microsoft's sign-in configuration at {url}: {reason}")]
    Discovery { url: String, reason: String },
    /// Microsoft could not be reached.
    #[error("could not reach Microsoft's sign-in service: {0}")]
    Transport(String),
    /// The token endpoint refused the code (`invalid_grant`, AADSTS…).
    #[error("Microsoft refused the sign-in: {error}: {description}")]
    Provider {
        error: String,
        /// The first line of `error_description` (`AADSTS…: …`, without the
        /// trace and correlation ids).
        description: String,
    },
    /// The token response has no id_token (the `openid` scope was dropped).
    #[error("Microsoft's token response has no id_token")]
    NoIdToken,
    #[error(transparent)]
    InvalidIdToken(#[from] IdTokenError),
}

/// The signing keys of a tenant, by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("kids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl KeySet {
    /// Reads a JWKS document, keeping the RSA signing keys that have a `kid`
    /// (others are skipped, not errors: Entra may add key types).
    pub fn from_jwks(json: &[u8]) -> Result<Self, String> {
        let doc: JwksDocument = serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in doc.keys {
            if jwk.kty != "RSA" || jwk.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else { continue };
            if let Ok(key) = DecodingKey::from_rsa_components(&n, &e) {
                keys.insert(kid, key);
            }
        }
        Ok(KeySet { keys })
    }

    /// One RSA key (`n`, `e` base64url), for tests and fixed keys.
    pub fn with_rsa_key(mut self, kid: &str, n: &str, e: &str) -> Result<Self, String> {
        let key = DecodingKey::from_rsa_components(n, e).map_err(|e| format!("not an RSA key: {e}"))?;
        self.keys.insert(kid.to_owned(), key);
        Ok(self)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What a valid id_token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The discovery document's `issuer`.
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The configured tenant's id (a GUID, from the issuer).
    pub tenant_id: &'a str,
    /// The nonce the authorize request carried.
    pub nonce: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, client_id: &str) -> bool {
        match self {
            Audience::One(a) => a == client_id,
            Audience::Many(all) => all.iter().any(|a| a == client_id),
        }
    }

    fn describe(&self) -> String {
        match self {
            Audience::One(a) => a.clone(),
            Audience::Many(all) => all.join(", "),
        }
    }
}

#[derive(Deserialize)]
struct IdClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    nonce: Option<String>,
    tid: Option<String>,
    oid: Option<String>,
    name: Option<String>,
    email: Option<String>,
    preferred_username: Option<String>,
}

/// The `kid` of a token's header, after checking that it is an RS256 JWT.
pub fn key_id(token: &str) -> Result<String, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(IdTokenError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
    }
    header.kid.filter(|k| !k.is_empty()).ok_or(IdTokenError::NoKeyId)
}

/// Validates an id_token against the tenant's keys and what it must say.
/// Checks run in a fixed order: form and algorithm, signature, issuer,
/// audience, lifetime, tenant, nonce, then the claims TAC needs.
pub fn validate_id_token(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<VerifiedIdentity, IdTokenError> {
    let kid = key_id(token)?;
    let key = keys.keys.get(&kid).ok_or(IdTokenError::UnknownKey(kid))?;
    // jsonwebtoken checks the signature (and that the header says RS256);
    // every claim is checked below, against `expected.now`.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = match jsonwebtoken::decode::<IdClaims>(token, key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::BadSignature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                    IdTokenError::UnsupportedAlgorithm("another algorithm".to_owned())
                }
                _ => IdTokenError::Malformed,
            });
        }
    };
    let iss = claims.iss.ok_or(IdTokenError::MissingClaim("iss"))?;
    if iss != expected.issuer {
        return Err(IdTokenError::WrongIssuer { expected: expected.issuer.to_owned(), found: iss });
    }
    let aud = claims.aud.ok_or(IdTokenError::MissingClaim("aud"))?;
    if !aud.contains(expected.client_id) {
        return Err(IdTokenError::WrongAudience { found: aud.describe() });
    }
    let leeway = LEEWAY.as_secs() as i64;
    let exp = claims.exp.ok_or(IdTokenError::MissingClaim("exp"))?;
    if exp + leeway <= expected.now {
        return Err(IdTokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf - leeway > expected.now) {
        return Err(IdTokenError::NotYetValid);
    }
    let tid = claims.tid.ok_or(IdTokenError::MissingClaim("tid"))?;
    if !tid.eq_ignore_ascii_case(expected.tenant_id) {
        return Err(IdTokenError::WrongTenant { expected: expected.tenant_id.to_owned(), found: tid });
    }
    let nonce = claims.nonce.ok_or(IdTokenError::WrongNonce)?;
    if !constant_time_eq(&nonce, expected.nonce) {
        return Err(IdTokenError::WrongNonce);
    }
    let oid = claims.oid.filter(|o| !o.trim().is_empty()).ok_or(IdTokenError::MissingClaim("oid"))?;
    Ok(VerifiedIdentity {
        tenant_id: tid.to_ascii_lowercase(),
        object_id: oid.to_ascii_lowercase(),
        name: claims.name.filter(|n| !n.trim().is_empty()),
        email: claims.email.filter(|e| !e.trim().is_empty()),
        preferred_username: claims.preferred_username.filter(|p| !p.trim().is_empty()),
    })
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// `BASE64URL(SHA256(verifier))`, the S256 code challenge (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// 32 random bytes, base64url: 43 characters, fit for state, nonce and a
/// PKCE verifier (43–128 characters).
pub fn random_value() -> Result<String, OidcError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OidcError::Config("the OS random source failed".to_owned()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The first line of an Entra `error_description` (`AADSTS50011: …`),
/// without the trace id, correlation id and timestamp lines.
pub fn first_line(description: &str) -> &str {
    description.lines().next().unwrap_or("").trim()
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    id_token: Option<String>,
}

struct Cached<T> {
    value: T,
    fetched: Instant,
}

/// The OIDC client of one integration. Keeps the discovery document and the
/// key set between sign-ins; build a new one when the settings change.
pub struct OidcClient {
    http: reqwest::Client,
    settings: OidcSettings,
    /// The login URL's origin: discovery's endpoints must be on it.
    origin: String,
    metadata: Mutex<Option<Cached<ProviderMetadata>>>,
    keys: Mutex<Option<Cached<Arc<KeySet>>>>,
    /// [`KEY_REFETCH_INTERVAL`], shorter in tests.
    key_refetch_interval: Duration,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("login_url", &self.settings.login_url)
            .field("tenant", &self.settings.tenant)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OidcClient {
    /// Checks the login URL (https, or http on loopback) and builds the
    /// client with its own connection pool.
    pub fn new(settings: OidcSettings) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("TAC/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OidcError::Config(format!("cannot build the HTTP client: {e}")))?;
        Self::with_http(http, settings)
    }

    /// The same, sharing a connection pool (which must not follow redirects).
    pub fn with_http(http: reqwest::Client, settings: OidcSettings) -> Result<Self, OidcError> {
        let cloud = Cloud::new(&settings.login_url, crate::cloud::PUBLIC_GRAPH_URL)
            .map_err(|e| OidcError::Config(e.to_string()))?;
        let origin = Url::parse(cloud.login_url())
            .map_err(|e| OidcError::Config(format!("the login URL is not valid: {e}")))?
            .origin()
            .ascii_serialization();
        if settings.tenant.trim().is_empty() || settings.tenant.contains(['/', '?', '#']) {
            return Err(OidcError::Config("the tenant id is empty or not an id or a domain".to_owned()));
        }
        let settings = OidcSettings { login_url: cloud.login_url().to_owned(), ..settings };
        Ok(OidcClient {
            http,
            settings,
            origin,
            metadata: Mutex::new(None),
            keys: Mutex::new(None),
            key_refetch_interval: KEY_REFETCH_INTERVAL,
        })
    }

    /// Changes the least time between JWKS fetches for unknown `kid`s.
    pub fn with_key_refetch_interval(mut self, interval: Duration) -> Self {
        self.key_refetch_interval = interval;
        self
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// `{login}/{tenant}/v2.0/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/{}/v2.0/.well-known/openid-configuration", self.settings.login_url, self.settings.tenant)
    }

    fn on_login_origin(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| u.origin().ascii_serialization() == self.origin)
    }

    /// GETs a JSON document; an error status is a discovery error.
    async fn get_json(&self, url: &str) -> Result<Vec<u8>, OidcError> {
        let discovery = |reason: String| OidcError::Discovery { url: url.to_owned(), reason };
        let response =
            self.http.get(url).send().await.map_err(|e| OidcError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| OidcError::Transport(e.without_url().to_string()))?;
        if !status.is_success() {
            let reason = match serde_json::from_slice::<TokenErrorBody>(&body) {
                Ok(e) => format!("{} ({})", first_line(&e.error_description), e.error),
                Err(_) => format!("HTTP {status}"),
            };
            return Err(discovery(reason));
        }
        Ok(body.to_vec())
    }

    /// The tenant's discovery document (cached for a day).
    pub async fn metadata(&self) -> Result<ProviderMetadata, OidcError> {
        if let Some(cached) = lock(&self.metadata).as_ref()
            && cached.fetched.elapsed() < METADATA_TTL
        {
            return Ok(cached.value.clone());
        }
        let url = self.discovery_url();
        let body = self.get_json(&url).await?;
        let discovery = |reason: String| OidcError::Discovery { url: url.clone(), reason };
        let metadata: ProviderMetadata =
            serde_json::from_slice(&body).map_err(|e| discovery(format!("not a discovery document: {e}")))?;
        for endpoint in [&metadata.authorization_endpoint, &metadata.token_endpoint, &metadata.jwks_uri] {
            if !self.on_login_origin(endpoint) {
                return Err(discovery(format!("the endpoint {endpoint} is not on {}", self.origin)));
            }
        }
        let Some(tid) = metadata.tenant_id() else {
            return Err(discovery(format!(
                "the issuer {} names no tenant: use the tenant id, not common or organizations",
                metadata.issuer
            )));
        };
        if crate::validate::is_guid(&self.settings.tenant) && !tid.eq_ignore_ascii_case(&self.settings.tenant) {
            return Err(discovery(format!("the issuer is for tenant {tid}, not {}", self.settings.tenant)));
        }
        *lock(&self.metadata) = Some(Cached { value: metadata.clone(), fetched: Instant::now() });
        Ok(metadata)
    }

    /// The key set, fetched again when it lacks `kid` (at most every
    /// [`KEY_REFETCH_INTERVAL`]) or is a day old.
    async fn keys_with(&self, metadata: &ProviderMetadata, kid: &str) -> Result<Arc<KeySet>, OidcError> {
        let cached = lock(&self.keys).as_ref().map(|c| (Arc::clone(&c.value), c.fetched));
        if let Some((keys, fetched)) = &cached {
            let fresh = fetched.elapsed() < METADATA_TTL;
            if fresh && (keys.contains(kid) || fetched.elapsed() < self.key_refetch_interval) {
                return Ok(Arc::clone(keys));
            }
        }
        let body = self.get_json(&metadata.jwks_uri).await?;
        let keys = KeySet::from_jwks(&body)
            .map_err(|reason| OidcError::Discovery { url: metadata.jwks_uri.clone(), reason })?;
        let keys = Arc::new(keys);
        *lock(&self.keys) = Some(Cached { value: Arc::clone(&keys), fetched: Instant::now() });
        Ok(keys)
    }

    /// A new sign-in: fresh state, nonce and PKCE verifier, and the authorize
    /// URL that carries the state, nonce and S256 challenge.
    pub async fn start(&self) -> Result<SignInStart, OidcError> {
        let metadata = self.metadata().await?;
        let (state, nonce, code_verifier) = (random_value()?, random_value()?, random_value()?);
        let mut url = Url::parse(&metadata.authorization_endpoint).map_err(|e| OidcError::Discovery {
            url: self.discovery_url(),
            reason: format!("the authorization endpoint is not a URL: {e}"),
        })?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", SCOPES)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&code_verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(SignInStart { authorize_url: url.into(), state, nonce, code_verifier })
    }

    /// Redeems the code (with the verifier and the client secret) and
    /// validates the id_token against `nonce`, at the current time.
    pub async fn redeem(&self, code: &str, code_verifier: &str, nonce: &str) -> Result<VerifiedIdentity, OidcError> {
        let metadata = self.metadata().await?;
        let form = [
            ("client_id", self.settings.client_id.as_str()),
            ("client_secret", self.settings.client_secret.expose_secret()),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.settings.redirect_uri.as_str()),
            ("code_verifier", code_verifier),
            ("scope", SCOPES),
        ];
        let response = self
            .http
            .post(&metadata.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| OidcError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| OidcError::Transport(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<TokenErrorBody>(&body) {
                Ok(e) => {
                    OidcError::Provider { error: e.error, description: first_line(&e.error_description).to_owned() }
                }
                Err(_) => OidcError::Provider {
                    error: format!("HTTP {status}"),
                    description: "the token endpoint answered without an OAuth error".to_owned(),
                },
            });
        }
        let token: TokenBody = serde_json::from_slice(&body).map_err(|_| OidcError::NoIdToken)?;
        let id_token = token.id_token.ok_or(OidcError::NoIdToken)?;
        self.validate(&metadata, &id_token, nonce, chrono::Utc::now().timestamp()).await
    }

    /// Validates an id_token with the tenant's keys (fetched as needed).
    pub async fn validate(
        &self,
        metadata: &ProviderMetadata,
        id_token: &str,
        nonce: &str,
        now: i64,
    ) -> Result<VerifiedIdentity, OidcError> {
        let kid = key_id(id_token)?;
        let keys = self.keys_with(metadata, &kid).await?;
        let tenant_id = metadata.tenant_id().ok_or_else(|| OidcError::Discovery {
            url: self.discovery_url(),
            reason: "the issuer names no tenant".to_owned(),
        })?;
        let expected =
            Expected { issuer: &metadata.issuer, client_id: &self.settings.client_id, tenant_id, nonce, now };
        Ok(validate_id_token(id_token, &keys, &expected)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    const KEY_A: &[u8] = include_bytes!("../testdata/oidc-key-a.pem");
    const KEY_B: &[u8] = include_bytes!("../testdata/oidc-key-b.pem");
    const N_A: &str = include_str!("../testdata/oidc-key-a.n");
    const N_B: &str = include_str!("../testdata/oidc-key-b.n");
    const TID: &str = "9122040d-6c67-4c5b-b112-36a304b66dad";
    const OTHER_TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "6cb04018-a3f5-46a7-b995-940c78f5aef3";
    const ISSUER: &str = "https://login.microsoftonline.com/9122040d-6c67-4c5b-b112-36a304b66dad/v2.0";
    const NOW: i64 = 1_536_274_711;

    fn keys() -> KeySet {
        KeySet::default().with_rsa_key("kid-a", N_A.trim(), "AQAB").unwrap()
    }

    /// The decoded sample id_token of Microsoft's docs (graph-reference
    /// examples/id-token-v2-doc-sample-decoded.json), with `exp` an hour on.
    fn claims() -> Value {
        json!({
            "ver": "2.0",
            "iss": ISSUER,
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "aud": CLIENT,
            "exp": NOW + 3600,
            "iat": NOW,
            "nbf": NOW,
            "name": "Abe Lincoln",
            "preferred_username": "AbeLi@microsoft.com",
            "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "tid": TID,
            "nonce": "123523",
            "aio": "Df2UVXL1ix!lMCWMSOJBcFatzcGfvFGhjKv8q5g0x732dR5MB5BisvGQO7YWByjd8iQDLq!eGbIDakyp5mnOrcdqHeYSnltepQmRp6AIZ8jY"
        })
    }

    fn sign_with(key: &[u8], kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(key).unwrap()).unwrap()
    }

    fn sign(claims: &Value) -> String {
        sign_with(KEY_A, "kid-a", claims)
    }

    fn expected(nonce: &str) -> Expected<'_> {
        Expected { issuer: ISSUER, client_id: CLIENT, tenant_id: TID, nonce, now: NOW }
    }

    fn with(mut claims: Value, field: &str, value: Value) -> Value {
        claims[field] = value;
        claims
    }

    fn without(mut claims: Value, field: &str) -> Value {
        claims.as_object_mut().unwrap().remove(field);
        claims
    }

    #[test]
    fn the_docs_sample_token_validates_to_its_tenant_and_object_id() {
        let identity = validate_id_token(&sign(&claims()), &keys(), &expected("123523")).unwrap();
        assert_eq!(identity.tenant_id, TID);
        assert_eq!(identity.object_id, "00000000-0000-0000-66f3-3332eca7ea81");
        assert_eq!(identity.name.as_deref(), Some("Abe Lincoln"));
        assert_eq!(identity.preferred_username.as_deref(), Some("AbeLi@microsoft.com"));
        assert_eq!(identity.email, None);
    }

    #[test]
    fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
        let forged = sign_with(KEY_B, "kid-a", &claims());
        assert_eq!(validate_id_token(&forged, &keys(), &expected("123523")), Err(IdTokenError::BadSignature));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let token = sign(&claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let tampered = with(claims(), "oid", json!("11111111-0000-0000-0000-000000000000"));
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered.to_string());
        assert_eq!(validate_id_token(&parts.join("."), &keys(), &expected("123523")), Err(IdTokenError::BadSignature));
    }

    #[test]
    fn an_unknown_kid_is_reported_so_the_caller_can_refetch_the_keys() {
        let token = sign_with(KEY_B, "kid-b", &claims());
        assert_eq!(
            validate_id_token(&token, &keys(), &expected("123523")),
            Err(IdTokenError::UnknownKey("kid-b".to_owned()))
        );
        let both = keys().with_rsa_key("kid-b", N_B.trim(), "AQAB").unwrap();
        assert!(validate_id_token(&token, &both, &expected("123523")).is_ok());
    }

    #[test]
    fn unsigned_and_symmetric_tokens_are_refused_before_any_key_is_used() {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", b64(json!({"alg": "none", "kid": "kid-a"})), b64(claims()));
        assert!(matches!(validate_id_token(&none, &keys(), &expected("123523")), Err(IdTokenError::Malformed)));
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("kid-a".to_owned());
        let hs = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(N_A.as_bytes())).unwrap();
        assert!(matches!(
            validate_id_token(&hs, &keys(), &expected("123523")),
            Err(IdTokenError::UnsupportedAlgorithm(_))
        ));
        assert_eq!(validate_id_token("not.a.jwt", &keys(), &expected("123523")), Err(IdTokenError::Malformed));
        let no_kid = {
            let header = Header::new(Algorithm::RS256);
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_rsa_pem(KEY_A).unwrap()).unwrap()
        };
        assert_eq!(validate_id_token(&no_kid, &keys(), &expected("123523")), Err(IdTokenError::NoKeyId));
    }

    #[test]
    fn the_issuer_must_be_the_tenants_v2_issuer() {
        for iss in [
            "https://sts.windows.net/9122040d-6c67-4c5b-b112-36a304b66dad/",
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        ] {
            let token = sign(&with(claims(), "iss", json!(iss)));
            assert!(
                matches!(
                    validate_id_token(&token, &keys(), &expected("123523")),
                    Err(IdTokenError::WrongIssuer { .. })
                ),
                "{iss}"
            );
        }
        let token = sign(&without(claims(), "iss"));
        assert_eq!(validate_id_token(&token, &keys(), &expected("123523")), Err(IdTokenError::MissingClaim("iss")));
    }

    #[test]
    fn the_audience_must_be_the_client_id() {
        let token = sign(&with(claims(), "aud", json!("00000003-0000-0000-c000-000000000000")));
        assert!(matches!(
            validate_id_token(&token, &keys(), &expected("123523")),
            Err(IdTokenError::WrongAudience { .. })
        ));
        let token = sign(&with(claims(), "aud", json!(["someone-else", CLIENT])));
        assert!(validate_id_token(&token, &keys(), &expected("123523")).is_ok(), "an array naming us is fine");
    }

    #[test]
    fn expiry_and_not_before_allow_a_small_clock_skew_only() {
        let leeway = LEEWAY.as_secs() as i64;
        let token = sign(&with(claims(), "exp", json!(NOW - leeway - 1)));
        assert_eq!(validate_id_token(&token, &keys(), &expected("123523")), Err(IdTokenError::Expired));
        let token = sign(&with(claims(), "exp", json!(NOW - leeway + 10)));
        assert!(validate_id_token(&token, &keys(), &expected("123523")).is_ok(), "within the leeway");
        let token = sign(&with(claims(), "nbf", json!(NOW + leeway + 1)));
        assert_eq!(validate_id_token(&token, &keys(), &expected("123523")), Err(IdTokenError::NotYetValid));
        let token = sign(&with(claims(), "nbf", json!(NOW + leeway - 10)));
        assert!(validate_id_token(&token, &keys(), &expected("123523")).is_ok());
        let token = sign(&without(claims(), "exp"));
        assert_eq!(validate_id_token(&token, &keys(), &expected("123523")), Err(IdTokenError::MissingClaim("exp")));
    }

    #[test]
    fn a_token_from_another_tenant_is_refused_even_with_our_issuer() {
        let token = sign(&with(claims(), "tid", json!(OTHER_TID)));
        assert_eq!(
            validate_id_token(&token, &keys(), &expected("123523")),
            Err(IdTokenError::WrongTenant { expected: TID.to_owned(), found: OTHER_TID.to_owned() })
        );
        let token = sign(&without(claims(), "tid"));
        assert_eq!(validate_id_token(&token, &keys(), &expected("123523")), Err(IdTokenError::MissingClaim("tid")));
    }

    #[test]
    fn the_nonce_must_be_the_one_sent() {
        let token = sign(&claims());
        assert_eq!(validate_id_token(&token, &keys(), &expected("other")), Err(IdTokenError::WrongNonce));
        let token = sign(&without(claims(), "nonce"));
        assert_eq!(validate_id_token(&token, &keys(), &expected("123523")), Err(IdTokenError::WrongNonce));
    }

    #[test]
    fn a_token_without_an_object_id_is_refused() {
        let token = sign(&without(claims(), "oid"));
        assert_eq!(validate_id_token(&token, &keys(), &expected("123523")), Err(IdTokenError::MissingClaim("oid")));
    }

    #[test]
    fn jwks_documents_keep_rsa_signing_keys_and_skip_the_rest() {
        let doc = json!({"keys": [
            {"kty": "RSA", "use": "sig", "kid": "kid-a", "x5t": "kid-a", "n": N_A.trim(), "e": "AQAB", "x5c": ["MIIC"], "issuer": ISSUER},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "RSA", "use": "enc", "kid": "enc", "n": N_B.trim(), "e": "AQAB"},
            {"kty": "RSA", "n": N_B.trim(), "e": "AQAB"}
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
        assert!(set.contains("kid-a"));
        assert!(!set.contains("ec") && !set.contains("enc"));
        assert!(KeySet::from_jwks(b"<html>").is_err());
    }

    #[test]
    fn the_tenant_comes_from_the_discovery_issuer() {
        let doc = include_str!("../testdata/openid-configuration-v2-tenant.json");
        let metadata: ProviderMetadata = serde_json::from_str(doc).unwrap();
        assert_eq!(metadata.tenant_id(), Some("12345678-1234-1234-1234-123456789012"));
        let common =
            ProviderMetadata { issuer: "https://login.microsoftonline.com/{tenantid}/v2.0".into(), ..metadata };
        assert_eq!(common.tenant_id(), None);
    }

    #[test]
    fn the_s256_challenge_matches_rfc_7636() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = random_value().unwrap();
        assert_eq!(v.len(), 43);
        assert_ne!(v, random_value().unwrap());
    }

    #[test]
    fn entra_error_descriptions_are_cut_to_their_aadsts_line() {
        let d =
            "AADSTS50011: The redirect URI 'x' does not match.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2024";
        assert_eq!(first_line(d), "AADSTS50011: The redirect URI 'x' does not match.");
    }

    #[test]
    fn settings_must_name_a_safe_login_url_and_a_tenant() {
        let settings = |login: &str, tenant: &str| OidcSettings {
            login_url: login.to_owned(),
            tenant: tenant.to_owned(),
            client_id: CLIENT.to_owned(),
            client_secret: SecretString::from("s"),
            redirect_uri: "https://crm.example.com/auth/microsoft/callback".to_owned(),
        };
        assert!(OidcClient::new(settings("http://login.example.com", TID)).is_err(), "plain http off loopback");
        assert!(OidcClient::new(settings("https://login.microsoftonline.com", "")).is_err());
        assert!(OidcClient::new(settings("https://login.microsoftonline.com", "a/b")).is_err());
        let client = OidcClient::new(settings("https://login.microsoftonline.com/", "contoso.com")).unwrap();
        assert_eq!(
            client.discovery_url(),
            "https://login.microsoftonline.com/contoso.com/v2.0/.well-known/openid-configuration"
        );
    }
}
