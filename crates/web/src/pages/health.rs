//! Probes for orchestrators: `/healthz` answers while the process serves,
//! `/readyz` only while the database answers too (503 otherwise).

use crate::{AppState, WebError};
use axum::Router;
use axum::extract::State;
use axum::routing::get;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, WebError> {
    match state.store().ping().await {
        Ok(()) => Ok("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the database does not answer");
            Err(WebError::Unavailable)
        }
    }
}
