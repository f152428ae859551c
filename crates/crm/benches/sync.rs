//! Sync benchmarks.
//!
//! 1. Ingest with emulator latency off: a full sync of a large organisation
//!    into SQLite (and PostgreSQL when `TAC_TEST_POSTGRES_URL` is set), with
//!    dedupe and full-text indexing. Prints messages per second and the peak
//!    memory of this process; the emulator runs as a separate process so its
//!    memory is not counted.
//! 2. Latency-bound sync: 100 ms per Graph request and Outlook's concurrency
//!    rules. Prints the wall time and the lower bound that the emulator's
//!    request schedule allows: for each mailbox, the longer of its longest
//!    sequential page chain and its total pages divided by four.
//! 3. A big folder: one Inbox with 20,000 messages in the backfill window
//!    and 10,000 older ones, synced into SQLite. Prints the requests the
//!    Inbox cost (its count, delta pages and the rest) and, for comparison,
//!    how far a filtered delta round gets in the same folder: Graph stops a
//!    filtered round at 5,000 messages.
//!
//! Run with `cargo bench -p tac-crm --bench sync`.

use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tac_graph::{AppCredentials, Cloud, GraphClient, RetryPolicy};
use tac_store::Store;
use tac_sync::{Quiet, SyncOptions, sync_once};
use tac_test_support::TestDatabase;

/// Twenty CRM publishes about 400 messages per minute for its Microsoft sync.
const TWENTY_MESSAGES_PER_SECOND: f64 = 400.0 / 60.0;

struct Emulator {
    child: Child,
    settings: HashMap<String, String>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_emulator(args: &[&str]) -> Emulator {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tac-crm"))
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator starts");
    let stdout = child.stdout.take().expect("stdout");
    let settings = BufReader::new(stdout)
        .lines()
        .take(5)
        .map(|l| l.expect("a line"))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    Emulator { child, settings }
}

impl Emulator {
    fn graph(&self) -> Arc<GraphClient> {
        let s = &self.settings;
        Arc::new(
            GraphClient::new(
                Cloud::new(&s["login_url"], &s["graph_url"]).expect("URLs"),
                AppCredentials {
                    tenant_id: s["tenant_id"].clone(),
                    client_id: s["client_id"].clone(),
                    client_secret: SecretString::from(s["client_secret"].clone()),
                },
                RetryPolicy::default(),
            )
            .expect("client"),
        )
    }

    fn admin(&self, path: &str) -> Value {
        let base = &self.settings["login_url"];
        let rt = tokio::runtime::Handle::current();
        let url = format!("{base}/_emulator{path}");
        tokio::task::block_in_place(|| {
            rt.block_on(async { reqwest::get(url).await.expect("admin").json().await.expect("json") })
        })
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

async fn ingest(label: &str, url: &str, emulator: &Emulator) {
    let store = Store::connect(url).await.expect("store");
    let ws = store.ensure_workspace("bench").await.expect("workspace");
    // `TAC_BENCH_AUTO_CREATE=none|sent|sent_and_received` (default: the product's default, sent).
    if let Ok(policy) = std::env::var("TAC_BENCH_AUTO_CREATE") {
        let auto_create = policy.parse().expect("TAC_BENCH_AUTO_CREATE is none, sent or sent_and_received");
        let settings = tac_store::PrivacySettings { auto_create, ..tac_store::PrivacySettings::default() };
        store.set_privacy_settings(ws, settings, "bench").await.expect("privacy settings");
    }
    let options = SyncOptions { page_size: 250, parallel_mailboxes: 8, ..SyncOptions::default() };
    let started = Instant::now();
    let report = sync_once(&store, ws, emulator.graph(), &options, Arc::new(Quiet)).await.expect("sync");
    let elapsed = started.elapsed().as_secs_f64();
    let messages: u64 = report.mailboxes.iter().map(|m| m.emails).sum();
    let events: u64 = report.mailboxes.iter().map(|m| m.meetings).sum();
    let mailboxes = report.mailboxes.iter().filter(|m| m.emails > 0).count();
    let distinct = store.email_count(ws).await.expect("count");
    println!(
        "{label:<10} {mailboxes:>4} mailboxes {messages:>8} messages ({distinct} distinct) {events:>7} events in {elapsed:>6.1} s = {:>7.0} messages/s, {:>6.0} items/s; peak RSS {:.0} MiB",
        messages as f64 / elapsed,
        (messages + events) as f64 / elapsed,
        peak_rss_mib()
    );
    assert!(report.all_ok(), "{label}: every mailbox synced");
}

/// The lower bound of a latency-bound pass, from the requests the emulator saw.
fn lower_bound(requests: &[Value], latency: Duration) -> (Duration, usize, usize) {
    let mut chains: HashMap<(String, String), usize> = HashMap::new();
    for r in requests {
        let path = r["path"].as_str().unwrap_or("");
        let Some(mailbox) = r["mailbox"].as_str() else { continue };
        let chain = if path.ends_with("/calendarView/delta") {
            "calendar".to_string()
        } else if path.ends_with("/messages/delta") {
            path.split("mailFolders")
                .nth(1)
                .unwrap_or("")
                .trim_start_matches(['/', '(', '\''])
                .split(['/', '\''])
                .next()
                .unwrap_or("")
                .to_string()
        } else {
            continue;
        };
        *chains.entry((mailbox.to_string(), chain)).or_default() += 1;
    }
    let mut per_mailbox: HashMap<&str, (usize, usize)> = HashMap::new();
    for ((mailbox, _), pages) in &chains {
        let e = per_mailbox.entry(mailbox).or_default();
        e.0 = e.0.max(*pages);
        e.1 += pages;
    }
    let bound_pages = per_mailbox.values().map(|(longest, total)| (*longest).max(total.div_ceil(4))).max().unwrap_or(0);
    let total_pages = per_mailbox.values().map(|(_, t)| t).sum();
    (latency * bound_pages as u32, bound_pages, total_pages)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("sync benchmark on {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
        println!("peer anchor: Twenty CRM publishes about 400 messages/minute ({TWENTY_MESSAGES_PER_SECOND:.1} messages/s) for its Microsoft sync");

        // `TAC_BENCH_ONLY=ingest|latency` runs one part, for quick experiments.
        let only = std::env::var("TAC_BENCH_ONLY").unwrap_or_default();
        if only != "latency" {
            ingest_cases().await;
        }
        if only.is_empty() || only == "latency" {
            latency_case().await;
        }
        if only.is_empty() || only == "big" {
            big_folder_case().await;
        }
    });
}

/// Ingest with latency off, on SQLite then PostgreSQL.
async fn ingest_cases() {
    // `TAC_BENCH_SIZE` shrinks the organisation for quick experiments.
    let size = std::env::var("TAC_BENCH_SIZE").unwrap_or_else(|_| "large:66:1150".into());
    let emulator = start_emulator(&["--size", &size, "--seed", "7"]);
    let dir = std::env::temp_dir().join(format!("tac-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    ingest("sqlite", &format!("sqlite://{}", dir.join("tac.db").display()), &emulator).await;
    let postgres = (std::env::var_os("TAC_BENCH_ONLY_SQLITE").is_none())
        .then(|| TestDatabase::postgres_if_configured("bench"))
        .flatten();
    match postgres {
        // Dropped (and so removed) at the end of the arm.
        Some(database) => {
            let emulator = start_emulator(&["--size", &size, "--seed", "7"]);
            ingest("postgres", &database.url, &emulator).await;
        }
        None => println!("postgres   skipped: set TAC_TEST_POSTGRES_URL (scripts/test does) to measure PostgreSQL too"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One Inbox with 20,000 messages in the window and 10,000 older: the
/// requests its first sync costs, and what a filtered round would return.
async fn big_folder_case() {
    let emulator = start_emulator(&["--size", "small", "--seed", "7"]);
    let base = emulator.settings["login_url"].clone();
    let http = reqwest::Client::new();
    let truth: Value =
        http.get(format!("{base}/_emulator/truth/mailboxes")).send().await.unwrap().json().await.unwrap();
    let user = truth["users"].as_array().unwrap().iter().find(|u| u["hasMailbox"] == true).unwrap().clone();
    let uid = user["id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now();
    for (count, since, until) in [
        (20_000, now - chrono::Duration::days(360), now - chrono::Duration::hours(1)),
        (10_000, now - chrono::Duration::days(1500), now - chrono::Duration::days(400)),
    ] {
        let body = serde_json::json!({"folder": "inbox", "count": count, "since": since, "until": until});
        let r = http.post(format!("{base}/_emulator/users/{uid}/messages/bulk")).json(&body).send().await.unwrap();
        assert!(r.status().is_success());
    }
    let graph = emulator.graph();
    let inbox =
        graph.get_value(&format!("/users/{uid}/mailFolders/inbox?$select=id"), &Default::default()).await.unwrap();
    let inbox_id = inbox["id"].as_str().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("tac-bench-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::connect(&format!("sqlite://{}", dir.join("tac.db").display())).await.expect("sqlite");
    let ws = store.ensure_workspace("default").await.unwrap();
    let first = emulator.admin("/requests")["requests"].as_array().map_or(0, Vec::len);
    let started = Instant::now();
    let report = sync_once(&store, ws, graph.clone(), &SyncOptions::default(), Arc::new(Quiet)).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(report.all_ok());
    let requests = emulator.admin("/requests")["requests"].as_array().cloned().unwrap_or_default();
    let inbox_requests: Vec<&Value> = requests[first..]
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(&inbox_id) || p.ends_with("/mailFolders/inbox")))
        .collect();
    let delta = inbox_requests.iter().filter(|r| r["path"].as_str().unwrap().ends_with("/messages/delta")).count();
    let counts = inbox_requests.iter().filter(|r| r["query"].as_str().unwrap_or("").contains("$count=true")).count();
    let mailbox = store.mailboxes(ws).await.unwrap().into_iter().find(|m| m.user_id == uid).unwrap();
    let stored = store
        .email_copies(ws, mailbox.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| !c.removed && c.folder_id == inbox_id)
        .count();
    println!(
        "big folder  Inbox: 20,000 in the window + 10,000 older; stored {stored} Inbox copies; {} requests for the Inbox ({delta} delta pages of 100, {counts} count, {} other); whole pass {seconds:.1} s, {} requests",
        inbox_requests.len(),
        inbox_requests.len() - delta - counts,
        requests.len() - first
    );
    // What a filtered round returns from the same folder.
    let since = (now - chrono::Duration::days(365)).format("%Y-%m-%dT%H:%M:%SZ");
    let mut link = Some(format!(
        "/users/{uid}/mailFolders/inbox/messages/delta?$select=id&$filter=receivedDateTime%20ge%20{since}"
    ));
    let (mut pages, mut items) = (0, 0);
    while let Some(l) = link.take() {
        let page = graph.page(&l, &tac_graph::Prefer::mail(100)).await.unwrap();
        pages += 1;
        items += page.value.len();
        link = page.next_link;
    }
    println!(
        "big folder  a filtered delta round of the same Inbox: {items} messages in {pages} pages, then its delta link (Graph's 5,000 cap); the rest would need {} more pages of /messages at $top=100",
        (stored.saturating_sub(items)).div_ceil(100)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Latency-bound: 100 ms a request, Outlook's 4 concurrent requests per
/// mailbox, and Graph's default page of 10 messages, so that the wait for
/// Microsoft, not the database, sets the pace.
async fn latency_case() {
    let latency = Duration::from_millis(100);
    let emulator = start_emulator(&["--size", "large:10:160", "--seed", "11", "--latency-ms", "100"]);
    let dir = std::env::temp_dir().join(format!("tac-bench-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::connect(&format!("sqlite://{}", dir.join("tac.db").display())).await.expect("store");
    let ws = store.ensure_workspace("bench").await.expect("workspace");
    let options = SyncOptions { page_size: 10, parallel_mailboxes: 64, ..SyncOptions::default() };
    let started = Instant::now();
    let report = sync_once(&store, ws, emulator.graph(), &options, Arc::new(Quiet)).await.expect("sync");
    let wall = started.elapsed();
    assert!(report.all_ok());
    let log = emulator.admin("/requests");
    // `TAC_BENCH_SCHEDULE=FILE` keeps the request log, with its timings, for study.
    if let Some(file) = std::env::var_os("TAC_BENCH_SCHEDULE") {
        std::fs::write(file, log.to_string()).expect("schedule file");
    }
    let (bound, bound_pages, total_pages) = lower_bound(log["requests"].as_array().expect("requests"), latency);
    println!(
        "latency   {} mailboxes, {total_pages} delta pages; wall {:.2} s; lower bound {:.2} s ({bound_pages} pages × 100 ms); ratio {:.2} (target ≤ 1.25)",
        report.mailboxes.iter().filter(|m| m.emails > 0).count(),
        wall.as_secs_f64(),
        bound.as_secs_f64(),
        wall.as_secs_f64() / bound.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
