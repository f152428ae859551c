//! Big folders lose nothing. Graph caps a filtered message delta round at
//! 5,000 messages (the emulator enforces it), so a folder with 20,000
//! messages in the backfill window must still end with all 20,000 stored, on
//! both databases, through a first round that survives being killed part-way,
//! with a delta link that then tracks every message, and a reset (410) that
//! still reconciles. Mail older than the window that the unfiltered round
//! brings is not stored.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use tac_store::{Store, WorkspaceId};
use tac_sync::{Quiet, SyncOptions, sync_once};

mod common;

use common::{World, stores};

const IN_WINDOW: usize = 20_000;
const OLDER: usize = 300;

/// The first mailbox's user id and its Inbox's folder id.
async fn inbox(world: &World) -> (String, String) {
    let (uid, _) = world.first_mailbox().await;
    let truth = world.get(&format!("/truth/users/{uid}/mail")).await;
    let folder = truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    (uid, folder)
}

/// The Inbox's messages in the backfill window, by immutable id, as Microsoft holds them.
async fn truth_inbox(world: &World, uid: &str) -> HashSet<String> {
    let since = Utc::now() - Duration::days(365);
    let truth = world.get(&format!("/truth/users/{uid}/mail")).await;
    let inbox = truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap().clone();
    inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["receivedDateTime"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().unwrap() >= since)
        .map(|m| m["immutableId"].as_str().unwrap().to_string())
        .collect()
}

/// The Inbox copies the store holds.
async fn stored_inbox(store: &Store, ws: WorkspaceId, uid: &str, folder: &str) -> HashSet<String> {
    let mailboxes = store.mailboxes(ws).await.unwrap();
    let Some(mailbox) = mailboxes.iter().find(|m| m.user_id == uid) else { return HashSet::new() };
    let copies = store.email_copies(ws, mailbox.id).await.unwrap();
    copies.into_iter().filter(|c| !c.removed && c.folder_id == folder).map(|c| c.graph_id).collect()
}

async fn requests_since(world: &World, n: u64) -> Vec<Value> {
    world.get(&format!("/requests?since={n}")).await["requests"].as_array().cloned().unwrap_or_default()
}

async fn last_request(world: &World) -> u64 {
    world.get("/requests").await["requests"].as_array().and_then(|r| r.last()).map_or(0, |r| r["n"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_with_20000_messages_in_the_window_is_synced_whole_resumably_and_tracked() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let (uid, folder) = inbox(&world).await;
        let now = Utc::now();
        for (count, since, until) in [
            (IN_WINDOW, now - Duration::days(360), now - Duration::hours(1)),
            (OLDER, now - Duration::days(700), now - Duration::days(400)),
        ] {
            let body = json!({"folder": "inbox", "count": count, "since": since, "until": until});
            assert_eq!(
                world.admin(reqwest::Method::POST, &format!("/users/{uid}/messages/bulk"), body).await["added"],
                count
            );
        }
        let expected = truth_inbox(&world, &uid).await;
        assert!(expected.len() >= IN_WINDOW, "{backend}: the window holds the bulk mail and the corpus's");

        // Kill the first pass once the Inbox's round is well under way, as a crash would.
        let (s2, g2) = (store.clone(), world.graph());
        let first = tokio::spawn(async move { sync_once(&s2, ws, g2, &SyncOptions::default(), Arc::new(Quiet)).await });
        for _ in 0..600 {
            if stored_inbox(&store, ws, &uid, &folder).await.len() > 3_000 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        first.abort();
        let _ = first.await;
        let partial = stored_inbox(&store, ws, &uid, &folder).await.len();
        assert!(partial > 0 && partial < expected.len(), "{backend}: interrupted part-way ({partial})");

        let before = last_request(&world).await;
        let report = sync_once(&store, ws, world.graph(), &SyncOptions::default(), Arc::new(Quiet)).await.unwrap();
        assert!(report.all_ok(), "{backend}: {report:?}");
        let stored = stored_inbox(&store, ws, &uid, &folder).await;
        let missing: Vec<_> = expected.difference(&stored).take(5).collect();
        let extra: Vec<_> = stored.difference(&expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{backend}: {} stored of {}; missing {missing:?}; older or unknown {extra:?}",
            stored.len(),
            expected.len()
        );
        let inbox_requests: Vec<Value> = requests_since(&world, before)
            .await
            .into_iter()
            .filter(|r| {
                r["path"].as_str().unwrap().ends_with("/messages/delta")
                    && r["path"].as_str().unwrap().contains(&folder)
            })
            .collect();
        assert!(
            inbox_requests.first().is_some_and(|r| r["query"].as_str().unwrap().contains("$skiptoken=")),
            "{backend}: the killed round resumed where it stopped: {:?}",
            inbox_requests.first()
        );

        // The delta link tracks every message: one of the oldest in the window
        // deleted, one new message delivered.
        let mut sorted: Vec<&String> = expected.iter().collect();
        sorted.sort();
        let victim = sorted[0].clone();
        let r = world
            .http
            .delete(format!("{}/_emulator/users/{uid}/messages/{}", world.emulator.base_url(), victim))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let added = world
            .admin(
                reqwest::Method::POST,
                &format!("/users/{uid}/messages"),
                json!({"folder": "inbox", "subject": "Fresh", "from": {"name": "Ann", "address": "ann@fourthcoffee.com"}}),
            )
            .await;
        let report = sync_once(&store, ws, world.graph(), &SyncOptions::default(), Arc::new(Quiet)).await.unwrap();
        assert!(report.all_ok());
        let stored = stored_inbox(&store, ws, &uid, &folder).await;
        assert!(!stored.contains(&victim), "{backend}: the deletion of an old message in the window arrived");
        assert!(stored.contains(added["immutableId"].as_str().unwrap()), "{backend}: the new message arrived");

        // A lost sync state (410) starts the round over and reconciles.
        world.admin(reqwest::Method::POST, "/delta-tokens/expire", json!({})).await;
        let report = sync_once(&store, ws, world.graph(), &SyncOptions::default(), Arc::new(Quiet)).await.unwrap();
        assert!(report.all_ok());
        assert_eq!(stored_inbox(&store, ws, &uid, &folder).await, truth_inbox(&world, &uid).await, "{backend}");
    }
}

/// Whether a logged request for the folder's message delta started a round
/// without a filter (no token to continue, no `receivedDateTime` filter;
/// the `$expand` has a `$filter` of its own).
fn starts_unfiltered_round(r: &Value, folder: &str) -> bool {
    let (path, query) = (r["path"].as_str().unwrap(), r["query"].as_str().unwrap());
    path.ends_with("/messages/delta")
        && path.contains(folder)
        && !query.contains("$filter=receivedDateTime")
        && !query.contains("$skiptoken")
        && !query.contains("$deltatoken")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_messages_arriving_in_a_filtered_folder_are_all_stored_though_graph_caps_the_round() {
    let mail_only = SyncOptions { calendar_sync: false, ..SyncOptions::default() };
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let (uid, folder) = inbox(&world).await;
        let pass = || sync_once(&store, ws, world.graph(), &mail_only, Arc::new(Quiet));
        let before = last_request(&world).await;
        assert!(pass().await.unwrap().all_ok());
        let first: Vec<Value> = requests_since(&world, before).await;
        assert!(
            first.iter().any(|r| r["path"].as_str().unwrap().contains(&folder)
                && r["query"].as_str().unwrap().contains("$filter=receivedDateTime")),
            "{backend}: a small Inbox's first round is filtered"
        );

        // 6,000 messages arrive (or are moved in) before the next pass: its
        // round stops at 5,000, and TAC reads the folder again unfiltered.
        let now = Utc::now();
        let body = json!({"folder": "inbox", "count": 6_000, "since": now - Duration::days(30), "until": now - Duration::hours(1)});
        world.admin(reqwest::Method::POST, &format!("/users/{uid}/messages/bulk"), body).await;
        let before = last_request(&world).await;
        assert!(pass().await.unwrap().all_ok());
        assert_eq!(stored_inbox(&store, ws, &uid, &folder).await, truth_inbox(&world, &uid).await, "{backend}");
        let reread = requests_since(&world, before).await;
        assert!(
            reread.iter().any(|r| starts_unfiltered_round(r, &folder)),
            "{backend}: the capped round was read again unfiltered"
        );

        // The same after a crash between the capped round's last page and
        // the new round: the saved round says it was capped.
        let scope = tac_store::CursorScope::Folder(&folder);
        let mailbox = store.mailboxes(ws).await.unwrap().into_iter().find(|m| m.user_id == uid).unwrap().id;
        let cursor = store.cursor(ws, mailbox, scope).await.unwrap().expect("a delta link");
        let capped = tac_store::RoundState { filtered: true, items: 5_000 };
        store.apply_mail_page(ws, mailbox, &folder, &[], &[], &[], &cursor, capped).await.unwrap();
        let before = last_request(&world).await;
        assert!(pass().await.unwrap().all_ok());
        assert!(requests_since(&world, before).await.iter().any(|r| starts_unfiltered_round(r, &folder)), "{backend}");
        assert_eq!(stored_inbox(&store, ws, &uid, &folder).await, truth_inbox(&world, &uid).await, "{backend}");
    }
}
