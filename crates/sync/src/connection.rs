//! The Microsoft 365 connection as an admin manages it: build the Graph
//! client from the saved integration, test the connection (a token, then the
//! checklist of admin consent and the seven permissions, each failure with
//! its fix), and say what disconnecting would delete.
//!
//! `tac-crm integration …` and the portal's Integrations page both call
//! these, so the command line and the browser can never disagree about
//! whether a connection works or what to do about it.

pub use tac_graph::validate;

use std::ops::RangeInclusive;
use std::sync::Arc;
use tac_graph::{ADMIN_CONSENT_FIX, AppCredentials, Cloud, GraphClient, GraphError, PermissionReport, RetryPolicy};
use tac_store::{Integration, IntegrationStatus, MasterKey, Store, StoreError, WorkspaceId};

/// The backfill windows accepted, in days (the first round's reach).
pub const BACKFILL_DAYS: RangeInclusive<u32> = 1..=3650;

/// Why the connection could not even be tried.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(
        "no integration yet: enter the Tenant ID, Client ID and Client Secret first (Integrations page, or tac-crm integration set)"
    )]
    NotConfigured,
    #[error(
        "the client secret is not set: enter the client secret's Value (Integrations page, or tac-crm integration set --client-secret-stdin)"
    )]
    NoSecret,
    /// The saved login or Graph URL is unusable.
    #[error("{0}")]
    Cloud(GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The Graph client for the saved integration.
pub fn graph_client(integration: &Integration) -> Result<Arc<GraphClient>, ConnectionError> {
    let set = &integration.settings;
    let secret = integration.client_secret.clone().ok_or(ConnectionError::NoSecret)?;
    let cloud = Cloud::new(&set.login_url, &set.graph_url).map_err(ConnectionError::Cloud)?;
    let credentials =
        AppCredentials { tenant_id: set.tenant_id.clone(), client_id: set.client_id.clone(), client_secret: secret };
    let client = GraphClient::new(cloud, credentials, RetryPolicy::default()).map_err(ConnectionError::Cloud)?;
    Ok(Arc::new(client))
}

/// Checks a login URL and Graph URL pair (national clouds, the emulator):
/// absolute, `https` (or `http` on a loopback host), no query.
pub fn check_cloud(login_url: &str, graph_url: &str) -> Result<(), String> {
    Cloud::new(login_url, graph_url).map(|_| ()).map_err(|e| e.to_string())
}

/// One line of the connection checklist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckItem {
    pub name: String,
    pub ok: bool,
    /// The exact fix, when not ok.
    pub fix: Option<String>,
}

/// What a connection test found: the token request's outcome and, when a
/// token came, what it grants.
#[derive(Debug)]
pub struct ConnectionTest {
    pub result: Result<PermissionReport, GraphError>,
}

impl ConnectionTest {
    /// A token came, with admin consent and all seven permissions.
    pub fn ok(&self) -> bool {
        self.result.as_ref().is_ok_and(PermissionReport::all_granted)
    }

    /// When the token request failed: its code (`AADSTS7000215`, …) and what
    /// to do about it.
    pub fn token_error(&self) -> Option<(String, String)> {
        self.result.as_ref().err().map(|e| (e.code(), e.advice()))
    }

    /// Admin consent, then the seven permissions in the guide's order; empty
    /// when no token came.
    pub fn checklist(&self) -> Vec<CheckItem> {
        let Ok(report) = &self.result else {
            return Vec::new();
        };
        let consent = CheckItem {
            name: "Admin consent".to_owned(),
            ok: report.admin_consent,
            fix: (!report.admin_consent).then(|| ADMIN_CONSENT_FIX.to_owned()),
        };
        std::iter::once(consent)
            .chain(report.checks.iter().map(|c| CheckItem { name: c.name.clone(), ok: c.granted, fix: c.fix.clone() }))
            .collect()
    }

    /// The integration status and last error this outcome records.
    fn status(&self) -> (IntegrationStatus, Option<String>) {
        match &self.result {
            Ok(report) if report.all_granted() => (IntegrationStatus::Connected, None),
            Ok(report) => (IntegrationStatus::Failed, Some(format!("missing: {}", report.missing().join(", ")))),
            Err(e) => (IntegrationStatus::Failed, Some(e.advice())),
        }
    }
}

/// Gets a token with the saved integration, reads what it grants, and
/// records the outcome as the integration's status.
pub async fn test_connection(
    store: &Store,
    ws: WorkspaceId,
    key: &MasterKey,
) -> Result<ConnectionTest, ConnectionError> {
    let integration = store.load_integration(ws, key).await?.ok_or(ConnectionError::NotConfigured)?;
    let client = graph_client(&integration)?;
    let test = ConnectionTest { result: client.check_permissions().await };
    let (status, last_error) = test.status();
    store.set_integration_status(ws, status, last_error.as_deref()).await?;
    Ok(test)
}

/// What disconnecting deletes, to show before the admin confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DisconnectPreview {
    pub emails: u64,
    pub meetings: u64,
    pub mailboxes: usize,
    pub directory_users: usize,
}

pub async fn disconnect_preview(store: &Store, ws: WorkspaceId) -> Result<DisconnectPreview, StoreError> {
    Ok(DisconnectPreview {
        emails: store.email_count(ws).await?,
        meetings: store.meeting_count(ws).await?,
        mailboxes: store.mailboxes(ws).await?.len(),
        directory_users: store.directory_users(ws).await?.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checklist_puts_admin_consent_first_with_its_fix() {
        let test = ConnectionTest { result: Ok(PermissionReport::from_roles(None)) };
        let list = test.checklist();
        assert_eq!(list.len(), 8);
        assert_eq!(list[0].name, "Admin consent");
        assert_eq!(list[0].fix.as_deref(), Some(ADMIN_CONSENT_FIX));
        assert!(!test.ok());
        assert_eq!(test.status().0, IntegrationStatus::Failed);
    }

    #[test]
    fn all_seven_with_consent_is_connected() {
        let roles: Vec<String> = tac_graph::REQUIRED_PERMISSIONS.iter().map(|p| p.to_string()).collect();
        let test = ConnectionTest { result: Ok(PermissionReport::from_roles(Some(&roles))) };
        assert!(test.ok() && test.checklist().iter().all(|c| c.ok && c.fix.is_none()));
        assert_eq!(test.status(), (IntegrationStatus::Connected, None));
    }
}
