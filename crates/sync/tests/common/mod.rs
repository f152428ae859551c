//! What the end-to-end tests share: a fresh database of each kind, and the
//! emulator with a Graph client and its admin API.

#![allow(dead_code, reason = "each test crate uses a different part")]

use chrono::Utc;
use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;
use tac_emulator::{EmulatorConfig, RunningEmulator};
use tac_graph::{AppCredentials, Cloud, GraphClient, RetryPolicy};
use tac_store::Store;
use tac_test_support::TestDb;

/// A fresh database of each kind, removed (folder and PostgreSQL database)
/// when the loop over them ends, whether the test passed or not.
pub async fn stores() -> TestStores {
    let sqlite = TestDb::sqlite("sync-test").await;
    let postgres = TestDb::postgres("sync").await;
    TestStores { dbs: vec![("sqlite", sqlite), ("postgres", postgres)] }
}

/// The stores of [`stores`], to loop over.
pub struct TestStores {
    dbs: Vec<(&'static str, TestDb)>,
}

impl TestStores {
    /// The URL of the PostgreSQL store's database, for a test that needs
    /// its own connection beside the store's.
    pub fn postgres_url(&self) -> String {
        self.dbs
            .iter()
            .find(|(label, _)| *label == "postgres")
            .map(|(_, db)| db.url.clone())
            .expect("a PostgreSQL store")
    }
}

impl IntoIterator for TestStores {
    type Item = (&'static str, Store);
    type IntoIter = StoresIter;

    fn into_iter(self) -> StoresIter {
        let stores = self.dbs.iter().map(|(label, db)| (*label, db.store.clone())).collect::<Vec<_>>().into_iter();
        StoresIter { stores, _dbs: self.dbs }
    }
}

/// Yields the stores; dropped at the end of the loop, it removes them.
pub struct StoresIter {
    stores: std::vec::IntoIter<(&'static str, Store)>,
    _dbs: Vec<(&'static str, TestDb)>,
}

impl Iterator for StoresIter {
    type Item = (&'static str, Store);

    fn next(&mut self) -> Option<Self::Item> {
        self.stores.next()
    }
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}_{}_{}", std::process::id(), Utc::now().timestamp_micros(), N.fetch_add(1, Ordering::Relaxed))
}

pub struct World {
    pub emulator: RunningEmulator,
    pub http: reqwest::Client,
}

impl World {
    pub async fn new() -> Self {
        World {
            emulator: tac_emulator::spawn(EmulatorConfig::default()).await.expect("emulator"),
            http: reqwest::Client::new(),
        }
    }

    pub fn graph(&self) -> Arc<GraphClient> {
        let c = self.emulator.credentials();
        Arc::new(
            GraphClient::new(
                Cloud::new(&c.login_url, &c.graph_url).unwrap(),
                AppCredentials {
                    tenant_id: c.tenant_id,
                    client_id: c.client_id,
                    client_secret: SecretString::from(c.client_secret),
                },
                RetryPolicy {
                    max_attempts: 8,
                    base_delay: std::time::Duration::from_millis(10),
                    max_delay: std::time::Duration::from_millis(200),
                    max_retry_after: std::time::Duration::from_secs(5),
                },
            )
            .unwrap(),
        )
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}/_emulator{path}", self.emulator.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap_or(Value::Null)
    }

    pub async fn get(&self, path: &str) -> Value {
        self.admin(reqwest::Method::GET, path, Value::Null).await
    }

    /// The first user with a mailbox: (object id, user principal name).
    pub async fn first_mailbox(&self) -> (String, String) {
        let users = self.get("/truth/mailboxes").await;
        let user = users["users"].as_array().unwrap().iter().find(|u| u["hasMailbox"] == true).unwrap().clone();
        (user["id"].as_str().unwrap().to_string(), user["userPrincipalName"].as_str().unwrap().to_string())
    }
}
