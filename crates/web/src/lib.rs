/*!
TAC's web portal: server-rendered pages (askama templates, vendored htmx)
over the store, served by `tac-crm serve` beside the background sync.

What every request gets, whatever the route:
- **Security headers** ([`security`]): a CSP without inline scripts or styles,
  `frame-ancestors 'none'`, nosniff, a referrer policy, `no-store` caching.
- **CSRF protection** (`auth::csrf`): every POST/PUT/PATCH/DELETE carries
  the session's token (hidden `csrf` field or `X-CSRF-Token` header), and its
  `Origin`, when sent, must be the public URL's.
- **One error type** ([`WebError`]): pages under `/api/` get RFC 9457
  `application/problem+json`, others an HTML page; internal errors are logged
  and shown generically.

Handlers get the signed-in person from the [`CurrentUser`] and [`AdminUser`]
extractors (or [`ReadingUser`], which brings the connection the session was
read on, for handlers that only read) and scope every query to
[`AppState::workspace`]. A module adds
its routes to [`routes`]; [`build`] wraps any router in the layers above.

```no_run
# async fn run() -> Result<(), Box<dyn std::error::Error>> {
use tac_store::{MasterKey, Store};
use tac_web::{AppState, SyncTrigger};

let store = Store::connect("sqlite://./tac-data/tac.db").await?;
let workspace = store.ensure_workspace("default").await?;
let trigger = SyncTrigger::new();
let state = AppState::new(store, workspace, MasterKey::generate()?, "http://127.0.0.1:8080")?
    .with_sync_trigger(trigger.clone());
let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
tac_web::serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await?;
# Ok(()) }
```
*/

mod api;
pub mod auth;
mod error;
mod layout;
mod pages;
mod search_limit;
pub mod security;
pub mod server;
mod statics;

pub use api::ROUTES as API_ROUTES;
pub use auth::session::{AdminUser, CurrentUser, MaybeUser, ReadingUser};
pub use error::{FieldIssue, Result, WebError};
pub use pages::setup::first_admin_setup_link;

use axum::Router;
use axum::middleware;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tac_store::{MasterKey, Store, WorkspaceId};
use tokio::sync::Notify;
use url::Url;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    workspace: WorkspaceId,
    key: Arc<MasterKey>,
    public: Arc<PublicUrl>,
    sync: Option<SyncTrigger>,
    /// Which login and Graph URLs the deployment accepts.
    clouds: tac_graph::CloudPolicy,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Sign in with Microsoft's client, kept between sign-ins.
    oidc: Arc<pages::microsoft_sign_in::ClientCache>,
    /// How many searches run at once.
    searches: Arc<search_limit::SearchSlots>,
}

/// The address people reach the portal at, and its origin for CSRF checks.
#[derive(Debug)]
struct PublicUrl {
    url: Url,
    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    origin: String,
}

/// The public URL cannot serve the portal.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "the public URL `{0}` is not a valid URL: set TAC_PUBLIC_URL to the address people open, e.g. https://crm.example.com"
    )]
    InvalidPublicUrl(String),
    #[error(
        "the public URL `{0}` uses plain http on a host that is not loopback: sign-in cookies need https there; \
         set TAC_PUBLIC_URL to the https address of your reverse proxy"
    )]
    InsecurePublicUrl(String),
    #[error("the public URL `{0}` has a path: the portal is served at the root of its host; drop the path")]
    PublicUrlPath(String),
}

impl AppState {
    /// The state for the portal of `workspace`, reached at `public_url`
    /// (`https://…`, or `http://` on a loopback host only).
    pub fn new(
        store: Store,
        workspace: WorkspaceId,
        key: MasterKey,
        public_url: &str,
    ) -> std::result::Result<Self, ConfigError> {
        let url = Url::parse(public_url).map_err(|_| ConfigError::InvalidPublicUrl(public_url.to_owned()))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err(ConfigError::InvalidPublicUrl(public_url.to_owned())),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(ConfigError::InsecurePublicUrl(public_url.to_owned())),
            _ => return Err(ConfigError::InvalidPublicUrl(public_url.to_owned())),
        }
        if url.path() != "/" || url.query().is_some() {
            return Err(ConfigError::PublicUrlPath(public_url.to_owned()));
        }
        let origin = url.origin().ascii_serialization();
        Ok(AppState {
            store,
            workspace,
            key: Arc::new(key),
            public: Arc::new(PublicUrl { url, origin }),
            sync: None,
            clouds: tac_graph::CloudPolicy::default(),
            trusted_proxies: Arc::from([]),
            oidc: Arc::default(),
            searches: Arc::default(),
        })
    }

    /// Lets pages ask the background sync for a pass (a "Sync now" button).
    pub fn with_sync_trigger(mut self, trigger: SyncTrigger) -> Self {
        self.sync = Some(trigger);
        self
    }

    /// Accepts the login and Graph URLs `clouds` allows (by default only
    /// Microsoft's clouds; the emulator needs `CloudPolicy::AnyHost`).
    pub fn with_clouds(mut self, clouds: tac_graph::CloudPolicy) -> Self {
        self.clouds = clouds;
        self
    }

    /// Which login and Graph URLs the deployment accepts.
    pub fn clouds(&self) -> tac_graph::CloudPolicy {
        self.clouds
    }

    /// Takes the client's address from `X-Forwarded-For` when the request
    /// comes from one of `proxies` (see [`auth::parse_trusted_proxies`]);
    /// by default from no one.
    pub fn with_trusted_proxies(mut self, proxies: Vec<ipnet::IpNet>) -> Self {
        self.trusted_proxies = Arc::from(proxies);
        self
    }

    pub(crate) fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.trusted_proxies
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The portal's workspace: scope every query to it.
    pub fn workspace(&self) -> WorkspaceId {
        self.workspace
    }

    /// Seals and opens the integration's client secret.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The public URL, without a trailing slash (for links and redirect URIs).
    pub fn public_url(&self) -> &str {
        self.public.url.as_str().trim_end_matches('/')
    }

    pub(crate) fn origin(&self) -> &str {
        &self.public.origin
    }

    pub(crate) fn oidc_clients(&self) -> &pages::microsoft_sign_in::ClientCache {
        &self.oidc
    }

    pub(crate) fn search_slots(&self) -> &search_limit::SearchSlots {
        &self.searches
    }

    /// The background sync's trigger, when sync runs in this process
    /// (`None` with `tac-crm serve --no-sync`).
    pub fn sync_trigger(&self) -> Option<&SyncTrigger> {
        self.sync.as_ref()
    }
}

/// A request for a sync pass, from the portal to the background sync loop.
/// Requests made while a pass runs are not lost: the loop runs one more
/// pass after it (several requests fold into one).
#[derive(Debug, Clone, Default)]
pub struct SyncTrigger(Arc<Notify>);

impl SyncTrigger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a pass as soon as the current one (if any) ends.
    pub fn request(&self) {
        self.0.notify_one();
    }

    /// Resolves when a pass was requested (for the sync loop).
    pub async fn requested(&self) {
        self.0.notified().await;
    }
}

/// Every route of the portal, without state or layers: modules merge theirs
/// here, and [`build`] finishes the router.
pub fn routes() -> Router<AppState> {
    Router::new().merge(pages::router()).merge(statics::router()).merge(api::router())
}

/// Wraps `routes` in what every request needs (security headers, error
/// rendering, CSRF checks, the 404 fallback) and gives it the state. Tests
/// use it to add routes of their own.
pub fn build(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { WebError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), auth::csrf::guard))
        .layer(middleware::from_fn(error::render))
        .layer(middleware::from_fn_with_state(state.clone(), security::headers))
        .with_state(state)
}

/// The portal's router.
pub fn router(state: AppState) -> Router {
    build(routes(), state)
}

/// How often expired sessions, Microsoft sign-ins and old failed sign-ins are deleted.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(3600);

/// Serves the portal on `listener` until `shutdown` resolves, then lets
/// requests in flight finish, with the server's default [`server::Limits`].
/// Also deletes expired sessions and old failed sign-ins every hour.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, state, server::Limits::default(), shutdown).await
}

/// [`serve`] with other limits on connections and requests.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: server::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let served = server::run(listener, router(state), limits, shutdown).await;
    housekeeping.abort();
    served
}

async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        if let Err(e) = state.store.delete_expired_sessions(now).await {
            tracing::warn!(error = %e, "could not delete expired sessions");
        }
        if let Err(e) = state.store.delete_login_failures_before(now - auth::rate_limit::WINDOW).await {
            tracing::warn!(error = %e, "could not delete old failed sign-ins");
        }
        if let Err(e) = state.store.delete_expired_oidc_logins(now).await {
            tracing::warn!(error = %e, "could not delete expired Microsoft sign-ins");
        }
    }
}
