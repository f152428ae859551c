//! End to end: the emulator's small organisation synced into a real database
//! (SQLite and PostgreSQL), compared with the emulator's ground truth, then
//! changed, throttled, faulted, expired and interrupted, and compared again.

use chrono::{Duration, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tac_core::MailboxState;
use tac_graph::{AppCredentials, Cloud, GraphClient, RetryPolicy};
use tac_store::{Store, WorkspaceId};
use tac_sync::{Quiet, SyncOptions, SyncReport, sync_once};

mod common;

/// Folders the ground truth holds that sync must leave alone.
const EXCLUDED: &[&str] = &[
    "deleteditems",
    "junkemail",
    "drafts",
    "outbox",
    "conversationhistory",
    "syncissues",
    "conflicts",
    "localfailures",
    "serverfailures",
];

use common::{World, stores};

/// Per mailbox user id: the (immutable id, folder id) pairs sync must hold.
async fn expected_mail(world: &World) -> HashMap<String, HashSet<(String, String)>> {
    let since = Utc::now() - Duration::days(365);
    let mut out = HashMap::new();
    for u in world.get("/truth/mailboxes").await["users"].as_array().unwrap() {
        if u["hasMailbox"] != true {
            continue;
        }
        let id = u["id"].as_str().unwrap().to_string();
        let truth = world.get(&format!("/truth/users/{id}/mail")).await;
        let mut set = HashSet::new();
        for f in truth["folders"].as_array().unwrap() {
            if f["wellKnownName"].as_str().is_some_and(|w| EXCLUDED.contains(&w)) {
                continue;
            }
            for m in f["messages"].as_array().unwrap() {
                let received = chrono::DateTime::parse_from_rfc3339(m["receivedDateTime"].as_str().unwrap()).unwrap();
                if received >= since {
                    set.insert((m["immutableId"].as_str().unwrap().to_string(), f["id"].as_str().unwrap().to_string()));
                }
            }
        }
        out.insert(id, set);
    }
    out
}

/// Per mailbox user id: the event ids in the sync window.
async fn expected_events(world: &World) -> HashMap<String, HashSet<String>> {
    let now = Utc::now();
    let start = (now - Duration::days(365)).format("%Y-%m-%dT00:00:00Z");
    let end = (now + Duration::days(365)).format("%Y-%m-%dT00:00:00Z");
    let mut out = HashMap::new();
    for u in world.get("/truth/mailboxes").await["users"].as_array().unwrap() {
        if u["hasMailbox"] != true {
            continue;
        }
        let id = u["id"].as_str().unwrap().to_string();
        let truth = world.get(&format!("/truth/users/{id}/events?startDateTime={start}&endDateTime={end}")).await;
        out.insert(
            id,
            truth["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect(),
        );
    }
    out
}

async fn sync(store: &Store, ws: WorkspaceId, world: &World) -> SyncReport {
    sync_once(store, ws, world.graph(), &SyncOptions::default(), Arc::new(Quiet)).await.expect("the pass runs")
}

/// Checks the store against the ground truth, mailbox by mailbox. Emails
/// deleted in Microsoft 365 stay in history: `deleted` counts them.
async fn assert_matches_truth(label: &str, store: &Store, ws: WorkspaceId, world: &World) {
    assert_matches_truth_with_history(label, store, ws, world, 0).await
}

async fn assert_matches_truth_with_history(label: &str, store: &Store, ws: WorkspaceId, world: &World, deleted: u64) {
    let mail = expected_mail(world).await;
    let events = expected_events(world).await;
    let mailboxes = store.mailboxes(ws).await.unwrap();
    for (user, expected) in &mail {
        let mailbox =
            mailboxes.iter().find(|m| &m.user_id == user).unwrap_or_else(|| panic!("{label}: mailbox {user} missing"));
        let copies = store.email_copies(ws, mailbox.id).await.unwrap();
        let live: Vec<(String, String)> =
            copies.iter().filter(|c| !c.removed).map(|c| (c.graph_id.clone(), c.folder_id.clone())).collect();
        let live_set: HashSet<_> = live.iter().cloned().collect();
        assert_eq!(live.len(), live_set.len(), "{label}: duplicate copies in {user}");
        let extra: Vec<_> = live_set.difference(expected).collect();
        let missing: Vec<_> = expected.difference(&live_set).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{label}: mail of {user}: stored but not in Microsoft 365 {extra:?}; missing {missing:?}"
        );
        let meetings: HashSet<String> = store
            .meeting_copies(ws, mailbox.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| !c.removed)
            .map(|c| c.graph_id)
            .collect();
        let extra: Vec<_> = meetings.difference(&events[user]).collect();
        let missing: Vec<_> = events[user].difference(&meetings).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{label}: calendar of {user}: extra {extra:?}; missing {missing:?}"
        );
    }
    let distinct: HashSet<String> = {
        let mut ids = HashSet::new();
        for u in mail.keys() {
            let truth = world.get(&format!("/truth/users/{u}/mail")).await;
            for f in truth["folders"].as_array().unwrap() {
                if f["wellKnownName"].as_str().is_some_and(|w| EXCLUDED.contains(&w)) {
                    continue;
                }
                for m in f["messages"].as_array().unwrap() {
                    if chrono::DateTime::parse_from_rfc3339(m["receivedDateTime"].as_str().unwrap()).unwrap()
                        >= Utc::now() - Duration::days(365)
                    {
                        ids.insert(m["internetMessageId"].as_str().unwrap().to_string());
                    }
                }
            }
        }
        ids
    };
    assert_eq!(
        store.email_count(ws).await.unwrap(),
        distinct.len() as u64 + deleted,
        "{label}: one email per internetMessageId"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_equals_the_ground_truth_and_a_second_fetches_only_deltas() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let report = sync(&store, ws, &world).await;
        assert!(report.all_ok(), "{backend}: {report:?}");
        assert!(report.mailboxes.iter().any(|m| m.state == MailboxState::NoMailbox), "unlicensed users are no_mailbox");
        assert_matches_truth(backend, &store, ws, &world).await;

        let before =
            world.get("/requests").await["requests"].as_array().unwrap().last().unwrap()["n"].as_u64().unwrap();
        let again = sync(&store, ws, &world).await;
        assert!(again.all_ok());
        let requests = world.get(&format!("/requests?since={before}")).await;
        let deltas: Vec<&Value> = requests["requests"]
            .as_array()
            .unwrap()
            .iter()
            // Users without an Exchange mailbox answer 404 and are probed again each pass.
            .filter(|r| r["path"].as_str().unwrap().ends_with("/delta") && r["status"] != 404)
            .collect();
        assert!(!deltas.is_empty());
        // People without a mailbox are not probed again the next pass, yet still listed with why.
        let unlicensed: Vec<String> = world.get("/truth/mailboxes").await["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["hasMailbox"] == false)
            .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
            .collect();
        assert!(!unlicensed.is_empty());
        for upn in &unlicensed {
            assert!(
                requests["requests"].as_array().unwrap().iter().all(|r| r["mailbox"].as_str() != Some(upn.as_str())),
                "{backend}: {upn} was probed again"
            );
            let listed = again.mailboxes.iter().find(|m| &m.user_principal_name == upn).expect("listed");
            assert_eq!(listed.state, MailboxState::NoMailbox);
            assert!(listed.error.as_ref().is_some_and(|(_, why)| why.contains("Checked again after")), "{listed:?}");
        }
        for r in deltas {
            assert!(
                r["query"].as_str().unwrap().contains("$deltatoken="),
                "{backend}: the second pass started a round over: {r}"
            );
        }
        assert_matches_truth(backend, &store, ws, &world).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_in_microsoft_365_show_up_after_the_next_pass() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        assert!(sync(&store, ws, &world).await.all_ok());
        let users = world.get("/truth/mailboxes").await;
        let user = users["users"].as_array().unwrap().iter().find(|u| u["hasMailbox"] == true).unwrap().clone();
        let (uid, upn) =
            (user["id"].as_str().unwrap().to_string(), user["userPrincipalName"].as_str().unwrap().to_string());
        let truth = world.get(&format!("/truth/users/{uid}/mail")).await;
        let inbox =
            truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap().clone();
        let recent: Vec<&Value> = inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                chrono::DateTime::parse_from_rfc3339(m["receivedDateTime"].as_str().unwrap()).unwrap()
                    >= Utc::now() - Duration::days(300)
            })
            .collect();
        let (moved, deleted) = (recent[0]["immutableId"].as_str().unwrap(), recent[1]["immutableId"].as_str().unwrap());
        world
            .admin(
                reqwest::Method::POST,
                &format!("/users/{uid}/messages/{moved}/move"),
                json!({"destinationId": "archive"}),
            )
            .await;
        world.admin(reqwest::Method::DELETE, &format!("/users/{uid}/messages/{deleted}"), Value::Null).await;
        world
            .admin(
                reqwest::Method::POST,
                &format!("/users/{uid}/messages"),
                json!({"folder": "inbox", "subject": "Brand new", "from": {"name": "Ann", "address": "ann@fourthcoffee.com"}, "to": [{"name": "Me", "address": upn}], "internetMessageId": "<brand-new@fourthcoffee.com>"}),
            )
            .await;
        let now = Utc::now();
        let window = format!(
            "startDateTime={}&endDateTime={}",
            (now - Duration::days(365)).format("%Y-%m-%dT00:00:00Z"),
            (now + Duration::days(365)).format("%Y-%m-%dT00:00:00Z")
        );
        let events = world.get(&format!("/truth/users/{uid}/events?{window}")).await;
        let events = events["events"].as_array().unwrap();
        let single = events.iter().find(|e| e["type"] == "singleInstance").unwrap()["id"].as_str().unwrap();
        world
            .admin(
                reqwest::Method::PATCH,
                &format!("/users/{uid}/events/{single}"),
                json!({"subject": "Moved to Thursday"}),
            )
            .await;
        if let Some(occurrence) = events.iter().find(|e| e["type"] == "occurrence" && e["isCancelled"] == false) {
            world
                .admin(
                    reqwest::Method::POST,
                    &format!("/users/{uid}/events/{}/cancel", occurrence["id"].as_str().unwrap()),
                    json!({}),
                )
                .await;
        }
        let hired = world.admin(reqwest::Method::POST, "/users", json!({})).await;

        let report = sync(&store, ws, &world).await;
        assert!(report.all_ok(), "{backend}: {report:?}");
        assert!(
            report.mailboxes.iter().any(|m| m.user_principal_name == hired["userPrincipalName"]),
            "{backend}: the new hire was synced"
        );
        // The deleted message stays in history unless no other mailbox holds it.
        let deleted_elsewhere = u64::from(!held_by_any_synced_folder(&world, &recent[1]["internetMessageId"]).await);
        assert_matches_truth_with_history(backend, &store, ws, &world, deleted_elsewhere).await;
    }
}

/// Whether any mailbox still holds the message (by Message-ID) in a folder
/// that is synced: a message deleted from one mailbox stays in history
/// while another holds it.
async fn held_by_any_synced_folder(world: &World, message_id: &Value) -> bool {
    for u in world.get("/truth/mailboxes").await["users"].as_array().unwrap().iter().filter(|u| u["hasMailbox"] == true)
    {
        let t = world.get(&format!("/truth/users/{}/mail", u["id"].as_str().unwrap())).await;
        let held = t["folders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| !f["wellKnownName"].as_str().is_some_and(|w| EXCLUDED.contains(&w)))
            .any(|f| f["messages"].as_array().unwrap().iter().any(|m| m["internetMessageId"] == *message_id));
        if held {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_faults_expired_tokens_and_interruptions_still_end_equal_to_the_truth() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        // Interrupt the first pass part-way, as a crash would.
        let (s2, w2) = (store.clone(), world.graph());
        let first = tokio::spawn(async move {
            sync_once(&s2, ws, w2, &SyncOptions { page_size: 5, ..SyncOptions::default() }, Arc::new(Quiet)).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        first.abort();
        let _ = first.await;

        // One request in ten fails. The client tries each request up to six
        // times, so a request fails for good once in a million: at one in
        // five (as this test had it), one of a pass's ~2,000 requests did in
        // about one run in eight, and its mailbox rightly went to backoff.
        world
            .admin(reqwest::Method::PUT, "/faults", json!({"rate_503": 0.06, "rate_504": 0.02, "drop_rate": 0.02}))
            .await;
        let upn = world.get("/truth/mailboxes").await["users"][0]["userPrincipalName"].as_str().unwrap().to_string();
        world
            .admin(reqwest::Method::POST, "/throttle", json!({"mailbox": upn, "count": 3, "retryAfter": "0.05"}))
            .await;
        let report = sync_once(
            &store,
            ws,
            world.graph(),
            &SyncOptions { page_size: 7, ..SyncOptions::default() },
            Arc::new(Quiet),
        )
        .await
        .unwrap();
        assert!(report.all_ok(), "{backend}: {report:?}");

        world.admin(reqwest::Method::PUT, "/faults", json!({})).await;
        world.admin(reqwest::Method::POST, "/delta-tokens/expire", json!({})).await;
        // Deleted while the sync state is lost: the resync must notice.
        let (uid, _) = world.first_mailbox().await;
        let truth = world.get(&format!("/truth/users/{uid}/mail")).await;
        let inbox =
            truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap().clone();
        let victim = inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| {
                chrono::DateTime::parse_from_rfc3339(m["receivedDateTime"].as_str().unwrap()).unwrap()
                    >= Utc::now() - Duration::days(300)
            })
            .unwrap()["immutableId"]
            .as_str()
            .unwrap()
            .to_string();
        world.admin(reqwest::Method::DELETE, &format!("/users/{uid}/messages/{victim}"), Value::Null).await;
        let events = world
            .get(&format!(
                "/truth/users/{uid}/events?startDateTime={}&endDateTime={}",
                (Utc::now() - Duration::days(300)).format("%Y-%m-%dT00:00:00Z"),
                (Utc::now() + Duration::days(300)).format("%Y-%m-%dT00:00:00Z")
            ))
            .await;
        let gone_event = events["events"][0]["id"].as_str().unwrap().to_string();
        world.admin(reqwest::Method::DELETE, &format!("/users/{uid}/events/{gone_event}"), Value::Null).await;
        world.admin(reqwest::Method::POST, "/tokens/expire", json!({})).await;
        let report = sync(&store, ws, &world).await;
        assert!(report.all_ok(), "{backend}: {report:?}");
        let victim_message_id = &inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["immutableId"] == victim.as_str())
            .unwrap()["internetMessageId"];
        let history = u64::from(!held_by_any_synced_folder(&world, victim_message_id).await);
        assert_matches_truth_with_history(backend, &store, ws, &world, history).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_item_is_skipped_and_recorded_and_the_rest_lands() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let (uid, _) = world.first_mailbox().await;
        world
            .admin(
                reqwest::Method::POST,
                &format!("/users/{uid}/messages"),
                json!({"folder": "inbox", "subject": "x", "from": {"name": "x", "address": "x@example.com"},
                       "raw": {"id": "AAkALgBNbroken", "receivedDateTime": "not a date", "subject": "\u{0000}\u{202e}odd"}}),
            )
            .await;
        let report = sync(&store, ws, &world).await;
        let mine = report
            .mailboxes
            .iter()
            .find(|m| m.state == MailboxState::Ok && m.skipped > 0)
            .unwrap_or_else(|| panic!("{backend}: {report:?}"));
        assert_eq!(mine.skipped, 1);
        assert!(report.all_ok());
        let rows = store.mailboxes(ws).await.unwrap();
        assert!(rows.iter().any(|m| m.skipped_count == 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_stops_the_pass_before_anything_is_written() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let c = world.emulator.credentials();
        let graph = Arc::new(
            GraphClient::new(
                Cloud::new(&c.login_url, &c.graph_url).unwrap(),
                AppCredentials {
                    tenant_id: c.tenant_id,
                    client_id: c.client_id,
                    client_secret: SecretString::from("wrong".to_string()),
                },
                RetryPolicy::default(),
            )
            .unwrap(),
        );
        let err = sync_once(&store, ws, graph, &SyncOptions::default(), Arc::new(Quiet)).await.unwrap_err();
        assert!(err.to_string().contains("AADSTS7000215"), "{backend}: {err}");
        assert!(store.mailboxes(ws).await.unwrap().is_empty(), "{backend}: nothing half-written");
        assert_eq!(store.email_count(ws).await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_scope_syncs_only_its_members() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let graph = world.graph();
        let groups = graph.groups().await.unwrap();
        let sales = groups.iter().find(|g| g.display_name.as_deref() == Some("Sales")).unwrap();
        let members: HashSet<String> =
            graph.group_members(&sales.id).await.unwrap().into_iter().map(|m| m.id).collect();
        let options =
            SyncOptions { scope: tac_sync::MailboxScope::Groups(vec![sales.id.clone()]), ..SyncOptions::default() };
        let report = sync_once(&store, ws, graph, &options, Arc::new(Quiet)).await.unwrap();
        assert!(report.all_ok());
        let synced: HashSet<String> = store.mailboxes(ws).await.unwrap().into_iter().map(|m| m.user_id).collect();
        assert_eq!(synced, members, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_moves_the_mailbox_to_backoff_until_that_time_not_to_failed() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let (uid, upn) = world.first_mailbox().await;
        // Longer than the client waits in place (the tests' ceiling is 5 s).
        world
            .admin(reqwest::Method::POST, "/throttle", json!({"mailbox": upn, "count": 1, "retryAfter": "3600"}))
            .await;
        let report = sync(&store, ws, &world).await;
        let throttled = report.mailboxes.iter().find(|m| m.user_principal_name == upn).unwrap();
        assert_eq!(throttled.state, MailboxState::Backoff, "{backend}: {throttled:?}");
        assert!(
            report.mailboxes.iter().filter(|m| m.user_principal_name != upn).all(|m| m.state != MailboxState::Backoff),
            "{backend}: only that mailbox waits"
        );
        let row = store.mailboxes(ws).await.unwrap().into_iter().find(|m| m.user_id == uid).unwrap();
        let until = row.backoff_until.expect("the time Microsoft gave is kept");
        assert!(until > Utc::now() + Duration::minutes(55), "{backend}: backoff until {until}");

        // The next pass leaves it alone until then.
        let before =
            world.get("/requests").await["requests"].as_array().unwrap().last().unwrap()["n"].as_u64().unwrap();
        let again = sync(&store, ws, &world).await;
        assert_eq!(again.mailboxes.iter().find(|m| m.user_principal_name == upn).unwrap().state, MailboxState::Backoff);
        let requests = world.get(&format!("/requests?since={before}")).await;
        assert!(
            requests["requests"].as_array().unwrap().iter().all(|r| r["mailbox"].as_str() != Some(upn.as_str())),
            "{backend}: no request reached the mailbox in backoff"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meeting_messages_of_unknown_kind_and_unknown_fields_still_import_as_emails() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let (uid, _) = world.first_mailbox().await;
        let received = (Utc::now() - Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let item = |id: &str, kind: Value| {
            json!({"id": id, "@odata.type": "#microsoft.graph.eventMessage", "meetingMessageType": kind,
                   "internetMessageId": format!("<{id}@fourthcoffee.com>"), "subject": "Odd invitation",
                   "receivedDateTime": received, "sentDateTime": received, "aFieldGraphMayAddOneDay": {"x": 1},
                   "from": {"emailAddress": {"name": "Ann", "address": "ann@fourthcoffee.com"}}})
        };
        for (id, kind) in [("AAkALgOddKind", json!("meetingForwarded")), ("AAkALgNoKind", Value::Null)] {
            world
                .admin(
                    reqwest::Method::POST,
                    &format!("/users/{uid}/messages"),
                    json!({"folder": "inbox", "subject": "x", "from": {"name": "x", "address": "x@example.com"}, "raw": item(id, kind)}),
                )
                .await;
        }
        let report = sync(&store, ws, &world).await;
        assert!(report.all_ok() && report.mailboxes.iter().all(|m| m.skipped == 0), "{backend}: {report:?}");
        for id in ["AAkALgOddKind", "AAkALgNoKind"] {
            let email = store.email_by_message_id(ws, &format!("<{id}@fourthcoffee.com>")).await.unwrap();
            let email = email.unwrap_or_else(|| panic!("{backend}: {id} was dropped"));
            assert_eq!(email.subject, "Odd invitation");
            assert_eq!(email.meeting_message_type, None, "{backend}: an unknown kind is not guessed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_basic_mail_access_mail_syncs_without_bodies() {
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let c = world.emulator.credentials();
        world
            .admin(
                reqwest::Method::PATCH,
                &format!("/apps/{}", c.client_id),
                json!({"roles": ["User.Read.All", "Group.Read.All", "Directory.Read.All", "Mail.ReadBasic.All", "Calendars.Read"]}),
            )
            .await;
        let report = sync(&store, ws, &world).await;
        assert!(report.all_ok(), "{backend}: {report:?}");
        let mail = expected_mail(&world).await;
        let stored: usize = {
            let mut n = 0;
            for m in store.mailboxes(ws).await.unwrap() {
                n += store.email_copies(ws, m.id).await.unwrap().iter().filter(|c| !c.removed).count();
            }
            n
        };
        assert_eq!(stored, mail.values().map(HashSet::len).sum::<usize>(), "{backend}: every message, without bodies");
        let (uid, _) = world.first_mailbox().await;
        let truth = world.get(&format!("/truth/users/{uid}/mail")).await;
        let inbox =
            truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap().clone();
        let message_id = inbox["messages"][0]["internetMessageId"].as_str().unwrap().to_string();
        let email = store.email_by_message_id(ws, &message_id).await.unwrap().expect("stored");
        assert!(email.body_html.is_empty() && email.body_preview.is_empty(), "{backend}: no body was read");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_roles_sync_and_a_chosen_role_makes_its_holders_admins_until_it_goes() {
    use tac_core::records::GLOBAL_ADMINISTRATOR_TEMPLATE;
    use tac_store::{NewPortalUser, Role};
    let directory_only = SyncOptions { import_emails: false, calendar_sync: false, ..SyncOptions::default() };
    for (backend, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let pass = || sync_once(&store, ws, world.graph(), &directory_only, Arc::new(Quiet));
        assert!(pass().await.unwrap().all_ok(), "{backend}");

        let roles = store.directory_roles(ws).await.unwrap();
        let names: Vec<&str> = roles.iter().map(|r| r.display_name.as_str()).collect();
        assert!(
            names.contains(&"Global Administrator") && names.contains(&"Directory Readers"),
            "{backend}: {names:?}"
        );
        let readers = roles.iter().find(|r| r.display_name == "Directory Readers").unwrap();
        assert!(store.role_holders(ws, &readers.role_template_id).await.unwrap().is_empty(), "apps are left out");
        let admins = store.role_holders(ws, GLOBAL_ADMINISTRATOR_TEMPLATE).await.unwrap();
        assert_eq!(admins.len(), 1, "{backend}: {admins:?}");

        // A member linked to the Global Administrator's Microsoft account.
        let new = NewPortalUser {
            email: "ga@example.com".into(),
            display_name: String::new(),
            password_hash: None,
            role: Role::Member,
        };
        let id = store.create_portal_user(ws, &new).await.unwrap();
        let tenant = world.emulator.credentials().tenant_id;
        store.link_microsoft_account(ws, id, &tenant, &admins[0]).await.unwrap();
        store.set_sign_in_admin_roles(ws, &[GLOBAL_ADMINISTRATOR_TEMPLATE.to_owned()], "test").await.unwrap();
        assert_eq!(store.portal_user(ws, id).await.unwrap().unwrap().role, Role::Admin, "{backend}");

        // Removed from the role in Entra: a member again after the next pass.
        let path = format!("/directoryRoles/{GLOBAL_ADMINISTRATOR_TEMPLATE}/members");
        world.admin(reqwest::Method::PUT, &path, json!({"users": []})).await;
        assert!(pass().await.unwrap().all_ok());
        assert!(store.role_holders(ws, GLOBAL_ADMINISTRATOR_TEMPLATE).await.unwrap().is_empty());
        let user = store.portal_user(ws, id).await.unwrap().unwrap();
        assert_eq!((user.role, user.admin_from_entra), (Role::Member, false), "{backend}");

        // Held through a role-assignable group: its members hold the role.
        let groups = world.graph().groups().await.unwrap();
        let leads = groups.iter().find(|g| g.display_name.as_deref() == Some("Team Leads")).unwrap();
        let mut members: Vec<String> =
            world.graph().group_members(&leads.id).await.unwrap().into_iter().map(|m| m.id.to_lowercase()).collect();
        members.sort();
        world.admin(reqwest::Method::PUT, &path, json!({"users": [], "groups": [leads.id]})).await;
        assert!(pass().await.unwrap().all_ok());
        let mut holders = store.role_holders(ws, GLOBAL_ADMINISTRATOR_TEMPLATE).await.unwrap();
        holders.sort();
        assert_eq!(holders, members, "{backend}: the group's members hold the role");

        // Given back, then the app loses the right to read roles: the pass
        // still works, and no one stays an admin on a role it cannot see.
        world.admin(reqwest::Method::PUT, &path, json!({"users": [admins[0]]})).await;
        assert!(pass().await.unwrap().all_ok());
        assert_eq!(store.portal_user(ws, id).await.unwrap().unwrap().role, Role::Admin, "{backend}");
        let client = world.emulator.credentials().client_id;
        let roles = json!({"roles": ["User.Read.All", "Group.Read.All", "Mail.Read", "Calendars.Read"]});
        world.admin(reqwest::Method::PATCH, &format!("/apps/{client}"), roles).await;
        assert!(pass().await.unwrap().all_ok(), "{backend}: roles are optional");
        assert!(store.directory_roles(ws).await.unwrap().is_empty());
        assert_eq!(store.portal_user(ws, id).await.unwrap().unwrap().role, Role::Member, "{backend}");
    }
}
