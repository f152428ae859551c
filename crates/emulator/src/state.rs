//! The state every request handler shares.

use crate::config::EmulatorConfig;
use crate::faults::FaultInjector;
use crate::org::Organization;
use crate::throttle::Throttle;
use crate::tokens::{Keys, Registry};
use crate::world::World;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

/// One request as the emulator's request log records it (for tests that
/// assert what a client asked for, such as "the second sync used delta links").
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    pub n: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub client_id: Option<String>,
    /// The mailbox's user principal name, for mailbox requests.
    pub mailbox: Option<String>,
    /// When the request arrived and when its answer was ready, in
    /// milliseconds since the emulator started (for schedule analysis).
    pub started_ms: f64,
    pub finished_ms: f64,
}

const LOG_CAPACITY: usize = 200_000;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    pub world: World,
    pub keys: Keys,
    pub registry: Mutex<Registry>,
    pub throttle: Arc<Throttle>,
    pub faults: FaultInjector,
    /// Mailboxes an Exchange ApplicationAccessPolicy keeps the app from.
    pub denied_mailboxes: RwLock<HashSet<usize>>,
    /// Where clients reach the emulator, e.g. `http://127.0.0.1:5555` (no trailing slash).
    pub base_url: String,
    pub token_lifetime: chrono::Duration,
    log: Mutex<(u64, VecDeque<LoggedRequest>)>,
    started: std::time::Instant,
}

/// The handlers' state type.
pub type AppState = Arc<Shared>;

impl Shared {
    pub fn new(config: &EmulatorConfig, base_url: &str) -> Self {
        let org = Organization::generate(config.seed, &config.size);
        Shared {
            world: World::new(org, config.size.clone(), config.anchor),
            keys: Keys::load(),
            registry: Mutex::new(Registry::with_default_app(config.seed, &config.redirect_uris)),
            throttle: Arc::new(Throttle::new(config.limits.clone())),
            faults: FaultInjector::new(config.seed, config.faults.clone()),
            denied_mailboxes: RwLock::default(),
            base_url: base_url.trim_end_matches('/').to_string(),
            token_lifetime: config.token_lifetime,
            log: Mutex::new((0, VecDeque::new())),
            started: std::time::Instant::now(),
        }
    }

    /// Graph's base URL as clients use it.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    pub fn org(&self) -> &Organization {
        &self.world.org
    }

    pub fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Milliseconds since the emulator started.
    pub fn clock_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Records a request in the log.
    pub fn log(&self, mut entry: LoggedRequest) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.0 += 1;
        entry.n = log.0;
        if log.1.len() >= LOG_CAPACITY {
            log.1.pop_front();
        }
        log.1.push_back(entry);
    }

    /// Logged requests numbered after `since`.
    pub fn requests_since(&self, since: u64) -> Vec<LoggedRequest> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.1.iter().filter(|r| r.n > since).cloned().collect()
    }

    pub fn is_denied(&self, mailbox: usize) -> bool {
        self.denied_mailboxes.read().unwrap_or_else(|e| e.into_inner()).contains(&mailbox)
    }
}
