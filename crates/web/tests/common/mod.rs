//! A real portal on 127.0.0.1:0 over a fresh database, and a small browser:
//! reqwest without redirects, with cookies kept by hand (reqwest's jar would
//! drop `Secure` cookies over plain http) and an `Origin` like a browser's.

#![allow(dead_code, reason = "each test file uses a different part")]

pub mod fixtures;

use reqwest::header::{HeaderMap, HeaderValue};
use std::collections::BTreeMap;
use tac_graph::CloudPolicy;
use tac_store::{MasterKey, NewPortalUser, PortalUserId, Role, Store, WorkspaceId};
use tac_test_support::TestDb;
use tac_web::AppState;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Portal {
    pub base: String,
    pub store: Store,
    pub ws: WorkspaceId,
    server: Server,
    /// The database; removed when the portal is dropped.
    _db: TestDb,
}

/// A reqwest client that follows no redirect: the tests read each answer
/// (a 303's `Location`, say) themselves.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a reqwest client")
}

/// An app served on a listener of its own until [`Server::stop`], with the
/// peer's address as connect info, as `tac-crm serve` gives it.
pub struct Server {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `app` on `listener`.
    pub fn spawn(listener: tokio::net::TcpListener, app: axum::Router) -> Server {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Server { shutdown: Some(tx), task: Some(task) }
    }

    /// Shuts the server down gracefully and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stops cleanly");
        }
    }
}

impl Portal {
    /// The portal over a fresh SQLite database.
    pub async fn start() -> Portal {
        Self::start_with_routes(tac_web::routes()).await
    }

    /// The portal with extra routes (e.g. a test-only admin page).
    pub async fn start_with_routes(routes: axum::Router<AppState>) -> Portal {
        Self::serve(TestDb::sqlite("web-test").await, routes).await
    }

    /// The portal over a fresh PostgreSQL database (from TAC_TEST_POSTGRES_URL).
    pub async fn start_postgres() -> Portal {
        Self::serve(TestDb::postgres("web").await, tac_web::routes()).await
    }

    /// The portal over a fresh SQLite database, with a background-sync
    /// trigger as `tac-crm serve` gives it (without `--no-sync`).
    pub async fn start_with_sync_trigger(trigger: tac_web::SyncTrigger) -> Portal {
        Self::serve_with(TestDb::sqlite("web-test").await, tac_web::routes(), |s| {
            s.with_clouds(CloudPolicy::AnyHost).with_sync_trigger(trigger)
        })
        .await
    }

    /// The portal over a fresh SQLite database, behind reverse proxies at
    /// `proxies` (`TAC_TRUSTED_PROXIES`).
    pub async fn start_behind_proxy(proxies: &str) -> Portal {
        let proxies = tac_web::auth::parse_trusted_proxies(proxies).expect("proxies");
        Self::serve_with(TestDb::sqlite("web-test").await, tac_web::routes(), |s| {
            s.with_clouds(CloudPolicy::AnyHost).with_trusted_proxies(proxies)
        })
        .await
    }

    /// The portal over a fresh SQLite database, accepting only Microsoft's
    /// clouds as a production deployment does (the emulator is refused).
    pub async fn start_microsoft_only() -> Portal {
        Self::serve_with(TestDb::sqlite("web-test").await, tac_web::routes(), |s| s).await
    }

    /// The master key the portal seals secrets with.
    pub fn key() -> MasterKey {
        MasterKey::from_bytes([3; 32])
    }

    async fn serve(db: TestDb, routes: axum::Router<AppState>) -> Portal {
        // The emulator listens on loopback, outside Microsoft's clouds.
        Self::serve_with(db, routes, |s| s.with_clouds(CloudPolicy::AnyHost)).await
    }

    async fn serve_with(
        db: TestDb,
        routes: axum::Router<AppState>,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Portal {
        let store = db.store.clone();
        let ws = store.ensure_workspace("default").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = configure(AppState::new(store.clone(), ws, Self::key(), &base).unwrap());
        let server = Server::spawn(listener, tac_web::build(routes, state));
        Portal { base, store, ws, server, _db: db }
    }

    pub async fn add_user(&self, email: &str, role: Role) -> PortalUserId {
        let hash = tac_web::auth::password::hash(PASSWORD).unwrap();
        let new = NewPortalUser {
            email: email.to_owned(),
            display_name: format!("{role} user"),
            password_hash: Some(hash),
            role,
        };
        self.store.create_portal_user(self.ws, &new).await.unwrap()
    }

    /// A browser signed in as a new user `email` with `role`.
    pub async fn signed_in_new(&self, email: &str, role: Role) -> Browser {
        self.add_user(email, role).await;
        self.signed_in(email).await
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// A browser signed in as `email` (with [`PASSWORD`]).
    pub async fn signed_in(&self, email: &str) -> Browser {
        let mut browser = self.browser();
        let response = browser.login(email, PASSWORD).await;
        assert_eq!(response.status, 303, "sign-in of {email}: {}", response.body);
        browser
    }

    pub async fn stop(mut self) {
        self.server.stop().await;
        self.store.close().await;
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the hidden input `name` in the page's form.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in {}", self.body)) + marker.len();
        let end = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + end].to_owned()
    }
}

pub struct Browser {
    client: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
    /// The `Origin` sent with unsafe requests; `None` sends none.
    pub origin: Option<String>,
}

impl Browser {
    fn new(base: &str) -> Self {
        Browser {
            client: no_redirects(),
            base: base.to_owned(),
            cookies: BTreeMap::new(),
            origin: Some(base.to_owned()),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// Posts a form as is (no token added).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut request = self.client.post(format!("{}{path}", self.base)).form(form);
        if let Some(origin) = &self.origin {
            request = request.header("origin", origin);
        }
        self.send(request).await
    }

    /// Posts a form with the CSRF token of the form on `form_page`.
    pub async fn submit(&mut self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.hidden("csrf");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(path, &form).await
    }

    /// Posts `fields` to the form at `path`, which posts back to where it
    /// is, with the form's CSRF token.
    pub async fn submit_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.submit(path, path, fields).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Page {
        self.submit("/login", "/login", &[("email", email), ("password", password)]).await
    }

    pub async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Page {
        if !self.cookies.is_empty() {
            let header = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            request = request.header("cookie", HeaderValue::from_str(&header).unwrap());
        }
        let response = request.send().await.expect("the portal answers");
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page { status, headers, body }
    }
}
