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

/// A fresh database of each kind, removed (folder and PostgreSQL database)
/// when the loop over them ends, whether the test passed or not.
pub async fn stores() -> TestStores {
    let dir = std::env::temp_dir().join(format!("tac-sync-test-{}", unique()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sqlite = Store::connect(&format!("sqlite://{}", dir.join("tac.db").display())).await.expect("sqlite");
    let admin = std::env::var("TAC_TEST_POSTGRES_URL")
        .expect("TAC_TEST_POSTGRES_URL is not set: run the suite with scripts/test, which starts PostgreSQL");
    let name = format!("tac_sync_{}", unique());
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("postgres admin connection");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
    }
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("TAC_TEST_POSTGRES_URL must end in /DATABASE"),
    };
    let pg = Store::connect(&url).await.expect("postgres");
    TestStores { stores: vec![("sqlite", sqlite), ("postgres", pg)], cleanup: Cleanup { dir, admin, name } }
}

/// The stores of [`stores`], to loop over.
pub struct TestStores {
    stores: Vec<(&'static str, Store)>,
    cleanup: Cleanup,
}

impl TestStores {
    /// The URL of the PostgreSQL store's database, for a test that needs
    /// its own connection beside the store's.
    pub fn postgres_url(&self) -> String {
        let admin = &self.cleanup.admin;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.cleanup.name)
    }
}

impl IntoIterator for TestStores {
    type Item = (&'static str, Store);
    type IntoIter = StoresIter;

    fn into_iter(self) -> StoresIter {
        StoresIter { stores: self.stores.into_iter(), _cleanup: self.cleanup }
    }
}

/// Yields the stores; dropped at the end of the loop, it removes them.
pub struct StoresIter {
    stores: std::vec::IntoIter<(&'static str, Store)>,
    _cleanup: Cleanup,
}

impl Iterator for StoresIter {
    type Item = (&'static str, Store);

    fn next(&mut self) -> Option<Self::Item> {
        self.stores.next()
    }
}

/// Removes a test's SQLite folder and PostgreSQL database when dropped.
struct Cleanup {
    dir: std::path::PathBuf,
    admin: String,
    name: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // Dropping runs inside the test's runtime, which cannot block on
        // itself: the database is dropped from a thread with its own.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                let sql = format!("drop database if exists {name} with (force)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: could not drop the test database {}", self.name);
        }
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
