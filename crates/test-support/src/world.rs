//! The emulator fixture: a running Microsoft cloud emulator, a Graph client
//! for it with test-speed retries, and its admin API (faults, throttling,
//! changes to the tenant, and the ground truth a sync must end equal to).

use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tac_emulator::{Credentials, EmulatorConfig, RunningEmulator};
use tac_graph::{AppCredentials, Cloud, GraphClient, RetryPolicy};

/// A running emulator and an HTTP client for its admin API. The emulator
/// stops when this is dropped.
pub struct World {
    pub emulator: RunningEmulator,
    pub http: reqwest::Client,
}

impl World {
    /// The emulator with its default tenant.
    pub async fn new() -> Self {
        World::with(EmulatorConfig::default()).await
    }

    /// The emulator with `config`'s tenant, faults and limits.
    pub async fn with(config: EmulatorConfig) -> Self {
        World {
            emulator: tac_emulator::spawn(config).await.expect("the emulator starts"),
            http: reqwest::Client::new(),
        }
    }

    /// The app registration an admin would type into the Integrations page.
    pub fn credentials(&self) -> Credentials {
        self.emulator.credentials()
    }

    /// A Graph client for the emulator's app, retrying in milliseconds
    /// rather than seconds so that fault tests stay quick.
    pub fn graph(&self) -> Arc<GraphClient> {
        let c = self.credentials();
        Arc::new(
            GraphClient::new(
                Cloud::new(&c.login_url, &c.graph_url).expect("the emulator's URLs"),
                AppCredentials {
                    tenant_id: c.tenant_id,
                    client_id: c.client_id,
                    client_secret: SecretString::from(c.client_secret),
                },
                RetryPolicy {
                    max_attempts: 8,
                    base_delay: Duration::from_millis(10),
                    max_delay: Duration::from_millis(200),
                    max_retry_after: Duration::from_secs(5),
                },
            )
            .expect("a Graph client"),
        )
    }

    /// Calls the admin API at `path` (below `/_emulator`); its JSON answer,
    /// or `null` for an empty one.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/_emulator{path}", self.emulator.base_url()))
            .json(&body)
            .send()
            .await
            .expect("the emulator answers");
        response.json().await.unwrap_or(Value::Null)
    }

    /// Reads the admin API at `path`.
    pub async fn get(&self, path: &str) -> Value {
        self.admin(reqwest::Method::GET, path, Value::Null).await
    }

    /// The first user with a mailbox: (object id, user principal name).
    pub async fn first_mailbox(&self) -> (String, String) {
        let users = self.get("/truth/mailboxes").await;
        let user = users["users"]
            .as_array()
            .expect("the users")
            .iter()
            .find(|u| u["hasMailbox"] == true)
            .expect("a user with a mailbox")
            .clone();
        let field = |name: &str| user[name].as_str().expect("a string").to_owned();
        (field("id"), field("userPrincipalName"))
    }
}
