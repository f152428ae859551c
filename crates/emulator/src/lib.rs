/*!
A stand-in for Microsoft Entra ID and Microsoft Graph v1.0, with a deterministic
synthetic organisation behind it.

TAC's value is talking to Microsoft correctly, and no machine here reaches
Microsoft. This crate answers the same paths with the same payloads, error
codes, paging, delta tokens, throttling and time-zone rules as the documented
service (Microsoft's metadata is in `metadata/`, its examples in
`tests/graph-reference/`), so code that passes against it works against a
real tenant. It is also what `tac-crm demo` runs on.

It deliberately shares no types with `tac-graph`: if both sides used one
struct, a wrong field name would pass every test. It is checked against
Microsoft's published examples and Microsoft's own SDK instead.

```no_run
# async fn run() -> std::io::Result<()> {
let emulator = tac_emulator::spawn(tac_emulator::EmulatorConfig::default()).await?;
let creds = emulator.credentials();
println!("tenant {} at {}", creds.tenant_id, creds.login_url);
# Ok(()) }
```

Layout: [`org`] and [`corpus`] generate the organisation and its mail lazily;
[`world`] layers changes on top and answers delta rounds; [`identity`] is Entra;
[`graph`] is Graph, checked against Microsoft's published metadata by
[`schema`]; [`admin`] is the test-facing `/_emulator/` API.
*/

pub mod admin;
pub mod config;
pub mod corpus;
pub mod faults;
pub mod graph;
pub mod identity;
pub mod ids;
pub mod org;
pub mod permissions;
pub mod render;
pub mod rng;
pub mod schema;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod tz;
pub mod world;

pub use config::{EmulatorConfig, Faults, OrgSize, OutlookLimits};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use state::{AppState, Shared};
use std::net::SocketAddr;
use std::sync::Arc;

/// What a client needs to connect, as `tac-crm emulator` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub login_url: String,
    pub graph_url: String,
}

/// An emulator instance: its state and its routes.
#[derive(Debug, Clone)]
pub struct Emulator {
    state: AppState,
}

impl Emulator {
    /// Builds the organisation. `base_url` is where clients will reach the
    /// emulator (it appears in next links and token issuers).
    pub fn new(config: &EmulatorConfig, base_url: &str) -> Self {
        Emulator { state: Arc::new(Shared::new(config, base_url)) }
    }

    /// All routes: Entra at the root, Graph under `/v1.0`, the admin API under `/_emulator`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1.0", axum::routing::any(graph::entry))
            .route("/v1.0/", axum::routing::any(graph::entry))
            .route("/v1.0/{*path}", axum::routing::any(graph::entry))
            .merge(identity::router())
            .merge(admin::router())
            .fallback(|| async {
                (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": {"code": "NotFound", "message": "The emulator serves Entra ID at /{tenant}/…, Graph at /v1.0/… and its own API at /_emulator/…."}})))
                    .into_response()
            })
            .with_state(Arc::clone(&self.state))
    }

    /// The connection details of TAC's app registration.
    pub fn credentials(&self) -> Credentials {
        let registry = self.state.registry();
        let app = &registry.apps[0];
        Credentials {
            tenant_id: self.state.org().tenant_id.clone(),
            client_id: app.client_id.clone(),
            client_secret: app.secrets[0].value.clone(),
            login_url: self.state.base_url.clone(),
            graph_url: self.state.graph_url(),
        }
    }

    /// The shared state, for in-process tests and benchmarks.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

/// A running emulator on a loopback port; stops when dropped.
#[derive(Debug)]
pub struct RunningEmulator {
    pub emulator: Emulator,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    pub fn credentials(&self) -> Credentials {
        self.emulator.credentials()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves an emulator's routes on `listener` until `shutdown` resolves.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Starts an emulator on `127.0.0.1` with a free port, in the background.
pub async fn spawn(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let emulator = Emulator::new(&config, &format!("http://{addr}"));
    let router = emulator.router();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "emulator stopped");
        }
    });
    Ok(RunningEmulator { emulator, addr, task })
}
