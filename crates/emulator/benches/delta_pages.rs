//! How fast the emulator serves message delta pages, over real HTTP on
//! loopback, with latency off. The emulator must never be what limits a sync
//! benchmark: the target is at least 20,000 messages per second on two cores.
//!
//! Run with `cargo bench -p tac-emulator --bench delta_pages`. It prints
//! messages per second for full messages and for a typical `$select`, and the
//! peak memory of the process (the organisation is generated lazily).

use serde_json::Value;
use std::time::{Duration, Instant};
use tac_emulator::{EmulatorConfig, OrgSize};

/// Mailboxes read at once, as a sync would.
const PARALLEL_MAILBOXES: usize = 4;

struct Run {
    messages: usize,
    pages: usize,
    elapsed: Duration,
}

async fn token(http: &reqwest::Client, c: &tac_emulator::Credentials) -> String {
    let body: Value = http
        .post(format!("{}/{}/oauth2/v2.0/token", c.login_url, c.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    body["access_token"].as_str().expect("access token").to_string()
}

/// Pages through one folder's initial delta round; returns (messages, pages).
async fn round(http: &reqwest::Client, token: &str, first: String, page_size: usize) -> (usize, usize) {
    let prefer = format!("odata.maxpagesize={page_size}, IdType=\"ImmutableId\"");
    let (mut messages, mut pages) = (0, 0);
    let mut next = Some(first);
    while let Some(url) = next.take() {
        let body: Value = http
            .get(&url)
            .bearer_auth(token)
            .header("Prefer", &prefer)
            .send()
            .await
            .expect("delta page")
            .json()
            .await
            .expect("delta JSON");
        messages += body["value"].as_array().map_or(0, Vec::len);
        pages += 1;
        next = body["@odata.nextLink"].as_str().map(str::to_string);
    }
    (messages, pages)
}

async fn measure(
    http: &reqwest::Client,
    token: &str,
    graph: &str,
    users: &[String],
    folder: &str,
    select: &str,
    page_size: usize,
) -> Run {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in users.chunks(users.len().div_ceil(PARALLEL_MAILBOXES)) {
        let (http, token, chunk) = (http.clone(), token.to_string(), chunk.to_vec());
        let (graph, folder, select) = (graph.to_string(), folder.to_string(), select.to_string());
        tasks.push(tokio::spawn(async move {
            let mut total = (0, 0);
            for user in chunk {
                let url = format!("{graph}/users/{user}/mailFolders/{folder}/messages/delta{select}");
                let (m, p) = round(&http, &token, url, page_size).await;
                total = (total.0 + m, total.1 + p);
            }
            total
        }));
    }
    let (mut messages, mut pages) = (0, 0);
    for t in tasks {
        let (m, p) = t.await.expect("bench task");
        messages += m;
        pages += p;
    }
    Run { messages, pages, elapsed: started.elapsed() }
}

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        // 40 mailboxes of a large organisation: each has thousands of messages.
        let size = OrgSize::Large { users: 40, conversations_per_mailbox: 1_500 };
        let emulator = tac_emulator::spawn(EmulatorConfig { size, ..EmulatorConfig::default() }).await.expect("emulator");
        let creds = emulator.credentials();
        let http = reqwest::Client::new();
        let token = token(&http, &creds).await;
        let users: Vec<String> = emulator
            .emulator
            .state()
            .org()
            .users
            .iter()
            .filter(|u| u.has_mailbox)
            .map(|u| u.id.clone())
            .take(8)
            .collect();
        println!("emulator delta-page benchmark: {} mailboxes, {PARALLEL_MAILBOXES} read at once, 2 worker threads", users.len());
        println!("{:<44} {:>9} {:>7} {:>9} {:>12}", "case", "messages", "pages", "seconds", "messages/s");
        let select = "?$select=subject,from,toRecipients,ccRecipients,receivedDateTime,internetMessageId,conversationId";
        let cases = [
            ("inbox, full messages, 100 per page", "inbox", "", 100),
            ("inbox, full messages, 500 per page", "inbox", "", 500),
            ("inbox, $select sync fields, 100 per page", "inbox", select, 100),
            ("sentitems, full messages, 100 per page", "sentitems", "", 100),
        ];
        for (name, folder, select, page_size) in cases {
            let run = measure(&http, &token, &creds.graph_url, &users, folder, select, page_size).await;
            let rate = run.messages as f64 / run.elapsed.as_secs_f64();
            println!("{name:<44} {:>9} {:>7} {:>9.2} {:>12.0}", run.messages, run.pages, run.elapsed.as_secs_f64(), rate);
        }

        // The default large organisation: built lazily, so it starts at once
        // and costs memory only for what is being served.
        let started = Instant::now();
        let large = tac_emulator::spawn(EmulatorConfig { size: "large".parse().expect("size"), ..EmulatorConfig::default() })
            .await
            .expect("large emulator");
        let startup = started.elapsed();
        let org = large.emulator.state().org();
        let world = &large.emulator.state().world;
        let mailboxes: Vec<usize> = org.users.iter().filter(|u| u.has_mailbox).map(|u| u.index).collect();
        let sample: Vec<usize> = mailboxes.iter().step_by(mailboxes.len() / 10).copied().collect();
        let sampled: usize = sample.iter().map(|&m| world.all_messages(m).len()).sum();
        let estimate = sampled as f64 / sample.len() as f64 * mailboxes.len() as f64;
        println!(
            "large organisation: {} users, {} mailboxes, about {:.1} million messages (from {} sampled mailboxes); ready in {:.0} ms",
            org.users.len(),
            mailboxes.len(),
            estimate / 1e6,
            sample.len(),
            startup.as_secs_f64() * 1000.0
        );
        if let Some(mib) = peak_memory_mib() {
            println!("peak memory of the process (client and emulator): {mib:.0} MiB");
        }
    });
}
