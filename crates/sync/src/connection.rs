//! The Microsoft 365 connection as an admin manages it: build the Graph
//! client from the saved integration, test the connection (a token, then
//! each capability TAC needs proved by a real call, each failure or warning
//! with its fix), and say what disconnecting would delete.
//!
//! `tac-crm integration …` and the portal's Integrations page both call
//! these, so the command line and the browser can never disagree about
//! whether a connection works or what to do about it.

pub use tac_graph::validate;

use std::ops::RangeInclusive;
use std::sync::Arc;
use tac_graph::{
    ADMIN_CONSENT_FIX, AppCredentials, CapabilityReport, Cloud, CloudPolicy, GraphClient, GraphError, Outcome,
    ProbePlan, RetryPolicy,
};
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

/// The Graph client for the saved integration, if the deployment's
/// `policy` accepts its login and Graph URLs (checked here as well as at
/// save time: a URL saved before, or written to the database some other
/// way, still never receives the secret).
pub fn graph_client(integration: &Integration, policy: CloudPolicy) -> Result<Arc<GraphClient>, ConnectionError> {
    let set = &integration.settings;
    let secret = integration.client_secret.clone().ok_or(ConnectionError::NoSecret)?;
    let cloud = Cloud::new(&set.login_url, &set.graph_url).map_err(ConnectionError::Cloud)?;
    policy.check_cloud(&cloud).map_err(ConnectionError::Cloud)?;
    let credentials =
        AppCredentials { tenant_id: set.tenant_id.clone(), client_id: set.client_id.clone(), client_secret: secret };
    let client = GraphClient::new(cloud, credentials, RetryPolicy::default()).map_err(ConnectionError::Cloud)?;
    Ok(Arc::new(client))
}

/// Checks a login URL as typed (a national cloud; another host only where
/// the deployment's `policy` allows it): absolute, `https` (or `http` on a
/// loopback host), no query.
pub fn check_login_url(login_url: &str, policy: CloudPolicy) -> Result<(), String> {
    policy.check_login_url(login_url).map_err(|e| e.to_string())
}

/// The same for a Graph URL.
pub fn check_graph_url(graph_url: &str, policy: CloudPolicy) -> Result<(), String> {
    policy.check_graph_url(graph_url).map_err(|e| e.to_string())
}

/// How a line of the checklist came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Warning,
    Failed,
}

/// One line of the connection checklist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckItem {
    pub name: String,
    pub status: CheckStatus,
    /// What follows and what to do, when not ok.
    pub fix: Option<String>,
    /// The granted application permissions that cover this line (from the
    /// token, to explain; the call decided).
    pub granted: Vec<String>,
}

/// What a connection test found: the token request's outcome and, when a
/// token came, what each capability's call proved.
#[derive(Debug)]
pub struct ConnectionTest {
    pub result: Result<CapabilityReport, GraphError>,
}

impl ConnectionTest {
    /// A token came and no required capability failed (warnings allowed).
    pub fn ok(&self) -> bool {
        self.result.as_ref().is_ok_and(CapabilityReport::ok)
    }

    /// When the token request failed: its code (`AADSTS7000215`, …) and what
    /// to do about it.
    pub fn token_error(&self) -> Option<(String, String)> {
        self.result.as_ref().err().map(|e| (e.code(), e.advice()))
    }

    /// Admin consent (when the token says), then each capability; empty
    /// when no token came.
    pub fn checklist(&self) -> Vec<CheckItem> {
        let Ok(report) = &self.result else {
            return Vec::new();
        };
        let consent = report.admin_consent.map(|given| CheckItem {
            name: "Admin consent".to_owned(),
            status: if given { CheckStatus::Ok } else { CheckStatus::Failed },
            fix: (!given).then(|| ADMIN_CONSENT_FIX.to_owned()),
            granted: Vec::new(),
        });
        consent
            .into_iter()
            .chain(report.checks.iter().map(|c| {
                let (status, fix) = match &c.outcome {
                    Outcome::Ok => (CheckStatus::Ok, None),
                    Outcome::Warning(w) => (CheckStatus::Warning, Some(w.clone())),
                    Outcome::Failed(f) => (CheckStatus::Failed, Some(f.clone())),
                };
                CheckItem { name: c.label.to_owned(), status, fix, granted: c.granted.clone() }
            }))
            .collect()
    }

    /// The integration status and last error this outcome records.
    fn status(&self) -> (IntegrationStatus, Option<String>) {
        match &self.result {
            Ok(report) if report.ok() => (IntegrationStatus::Connected, None),
            Ok(report) => (IntegrationStatus::Failed, Some(format!("cannot: {}", report.failed().join("; ")))),
            Err(e) => (IntegrationStatus::Failed, Some(e.advice())),
        }
    }
}

/// Gets a token with the saved integration, proves what it allows with one
/// cheap call per capability (mail and calendars on a mailbox in scope, when
/// their sync is on), and records the outcome as the integration's status.
pub async fn test_connection(
    store: &Store,
    ws: WorkspaceId,
    key: &MasterKey,
    policy: CloudPolicy,
) -> Result<ConnectionTest, ConnectionError> {
    let integration = store.load_integration(ws, key).await?.ok_or(ConnectionError::NotConfigured)?;
    let client = graph_client(&integration, policy)?;
    // Mailboxes that synced before are tried first: they are in scope.
    let mut known = store.mailboxes(ws).await?;
    known.sort_by_key(|m| m.state != tac_core::MailboxState::Ok);
    let plan = ProbePlan {
        mail: integration.settings.import_emails,
        calendars: integration.settings.calendar_sync,
        mailboxes: known.into_iter().map(|m| m.user_id).collect(),
    };
    let test = ConnectionTest { result: client.probe_capabilities(&plan).await };
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
    use tac_graph::{Capability, CapabilityCheck};

    fn report(consent: Option<bool>, outcomes: &[Outcome]) -> ConnectionTest {
        let checks = Capability::ALL
            .iter()
            .zip(outcomes)
            .map(|(c, o)| CapabilityCheck { capability: *c, label: c.label(), outcome: o.clone(), granted: Vec::new() })
            .collect();
        ConnectionTest { result: Ok(CapabilityReport { admin_consent: consent, mailbox: None, checks }) }
    }

    #[test]
    fn the_checklist_puts_admin_consent_first_with_its_fix() {
        let failed = Outcome::Failed(ADMIN_CONSENT_FIX.into());
        let test =
            report(Some(false), &[failed.clone(), Outcome::Warning("w".into()), Outcome::Ok, failed.clone(), failed]);
        let list = test.checklist();
        assert_eq!(list.len(), 6);
        assert_eq!(list[0].name, "Admin consent");
        assert_eq!(list[0].fix.as_deref(), Some(ADMIN_CONSENT_FIX));
        assert_eq!(list[2].status, CheckStatus::Warning);
        assert!(!test.ok());
        assert_eq!(test.status().0, IntegrationStatus::Failed);
    }

    #[test]
    fn warnings_still_connect_and_an_opaque_token_skips_the_consent_line() {
        let test =
            report(None, &[Outcome::Ok, Outcome::Warning("no groups".into()), Outcome::Ok, Outcome::Ok, Outcome::Ok]);
        assert!(test.ok());
        assert_eq!(test.checklist().len(), 5, "no consent line when the token could not be read");
        assert_eq!(test.status(), (IntegrationStatus::Connected, None));
    }
}
