//! Graph v1.0 over real HTTP: paging, delta rounds, ids, time zones, errors,
//! throttling, fault injection and batching, checked against the ground truth.

mod common;

use common::Harness;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const IMMUTABLE: (&str, &str) = ("Prefer", "IdType=\"ImmutableId\"");

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|v| v["id"].as_str().expect("id").to_string()).collect()
}

fn assert_unique(ids: &[String]) {
    let set: HashSet<_> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "a round must not repeat an item");
}

async fn truth_folder(h: &Harness, user: &str, well_known: &str) -> HashSet<String> {
    let truth = h.admin_get(&format!("/truth/users/{user}/mail")).await;
    truth["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["wellKnownName"] == well_known)
        .expect("folder in truth")["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["immutableId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn users_page_with_opaque_skiptokens_and_top_is_bounded() {
    let (h, token) = Harness::start_with_token().await;
    let mut url = h.graph("/users?$top=7&$select=displayName,proxyAddresses,accountEnabled");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, _, body) = h.get(&token, &url, &[]).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for u in body["value"].as_array().unwrap() {
            assert!(u["proxyAddresses"].is_array() && u["accountEnabled"].is_boolean());
            assert!(u.get("jobTitle").is_none(), "$select drops other properties");
            seen.push(u["id"].as_str().unwrap().to_string());
        }
        match body["@odata.nextLink"].as_str() {
            Some(n) => {
                assert!(n.contains("$skiptoken="));
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 20);
    assert_unique(&seen);
    let (status, _, body) = h.get(&token, "/users?$top=1000", &[]).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("Must be between 1 and 999 inclusive"));
    let (status, _, body) = h.get(&token, "/users?$select=nonsense", &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "Request_BadRequest"));
    let (status, _, _) = h.get(&token, "/users?$count=true", &[]).await;
    assert_eq!(status, 400, "$count needs ConsistencyLevel: eventual");
    let (status, _, body) = h.get(&token, "/users?$count=true&$top=2", &[("ConsistencyLevel", "eventual")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["@odata.count"], 20);
}

#[tokio::test]
async fn users_are_found_by_id_or_principal_name_and_unknown_ones_are_404() {
    let (h, token, id, upn) = Harness::start_with_mailbox().await;
    let (_, _, by_upn) = h.get(&token, &format!("/users/{}", upn.to_uppercase()), &[]).await;
    assert_eq!(by_upn["id"], id);
    let (status, _, body) = h.get(&token, "/users/nobody@nowhere.example", &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (404, "Request_ResourceNotFound"));
}

#[tokio::test]
async fn organization_lists_the_verified_domains() {
    let (h, token) = Harness::start_with_token().await;
    let (status, _, body) = h.get(&token, "/organization", &[]).await;
    assert_eq!(status, 200);
    let org = &body["value"][0];
    assert_eq!(org["id"], h.creds.tenant_id);
    let domains = org["verifiedDomains"].as_array().unwrap();
    assert!(domains.len() >= 2);
    assert_eq!(domains.iter().filter(|d| d["isDefault"] == true).count(), 1);
    assert_eq!(domains.iter().filter(|d| d["isInitial"] == true).count(), 1);
}

#[tokio::test]
async fn group_members_are_directory_objects_with_their_type() {
    let (h, token) = Harness::start_with_token().await;
    let (_, _, groups) = h.get(&token, "/groups", &[]).await;
    let sales =
        groups["value"].as_array().unwrap().iter().find(|g| g["displayName"] == "Sales").expect("a Sales group");
    let id = sales["id"].as_str().unwrap();
    let (status, _, members) = h.get(&token, &format!("/groups/{id}/members"), &[]).await;
    assert_eq!(status, 200);
    let members = members["value"].as_array().unwrap();
    assert!(!members.is_empty());
    assert!(members.iter().all(|m| m["@odata.type"] == "#microsoft.graph.user"));
    let (status, _, cast) =
        h.get(&token, &format!("/groups/{id}/members/microsoft.graph.user?$select=id,mail"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(cast["value"].as_array().unwrap().len(), members.len());
}

#[tokio::test]
async fn folders_are_found_recursively_and_pages_hold_ten() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let (_, _, top) = h.get(&token, &format!("/users/{user}/mailFolders"), &[]).await;
    let names: Vec<&str> =
        top["value"].as_array().unwrap().iter().map(|f| f["displayName"].as_str().unwrap()).collect();
    for n in
        ["Inbox", "Sent Items", "Archive", "Deleted Items", "Junk Email", "Drafts", "Outbox", "Conversation History"]
    {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    assert!(top.get("@odata.nextLink").is_none());
    for n in 0..3 {
        let (status, _) =
            h.admin_post(&format!("/users/{user}/mailFolders"), json!({"displayName": format!("Extra {n}")})).await;
        assert_eq!(status, 200);
    }
    let (_, _, first) = h.get(&token, &format!("/users/{user}/mailFolders"), &[]).await;
    assert_eq!(first["value"].as_array().unwrap().len(), 10);
    let next = first["@odata.nextLink"].as_str().expect("an eleventh folder means a second page");
    assert!(next.contains("$skip=10"));
    let (_, _, second) = h.get(&token, next, &[]).await;
    assert_eq!(second["value"].as_array().unwrap().len(), 2);

    let (_, _, inbox) = h.get(&token, &format!("/users/{user}/mailFolders/inbox"), &[]).await;
    assert_eq!(inbox["displayName"], "Inbox");
    assert!(inbox["childFolderCount"].as_u64().unwrap() >= 2);
    let (_, _, children) = h.get(&token, &format!("/users/{user}/mailFolders/inbox/childFolders"), &[]).await;
    let children = children["value"].as_array().unwrap();
    let search =
        children.iter().find(|f| f["@odata.type"] == "#microsoft.graph.mailSearchFolder").expect("a search folder");
    assert_eq!(search["displayName"], "Weekly digests");
    let clients = children.iter().find(|f| f["displayName"] == "Clients").unwrap();
    let (_, _, grandchildren) = h
        .get(&token, &format!("/users/{user}/mailFolders/{}/childFolders", clients["id"].as_str().unwrap()), &[])
        .await;
    assert_eq!(grandchildren["value"][0]["displayName"], "Key Accounts");
}

#[tokio::test]
async fn a_message_delta_round_equals_the_ground_truth_and_the_next_round_only_the_changes() {
    let (h, token, user, upn) = Harness::start_with_mailbox().await;
    let headers = [("Prefer", "odata.maxpagesize=7"), IMMUTABLE];
    let url = h.graph(&format!("/users/{user}/mailFolders/inbox/messages/delta"));
    let (items, delta_link) = h.delta_round(&token, &url, &headers).await;
    let got = ids(&items);
    assert_unique(&got);
    let truth = truth_folder(&h, &user, "inbox").await;
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), truth);
    assert!(truth.len() > 7, "the round spans several pages");
    assert!(delta_link.contains("$deltatoken="));

    let (empty, delta_link) = h.delta_round(&token, &delta_link, &headers).await;
    assert!(empty.is_empty(), "nothing changed: {empty:?}");

    let mut inbox: Vec<String> = truth.into_iter().collect();
    inbox.sort();
    let (moved, deleted, updated) = (&inbox[0], &inbox[1], &inbox[2]);
    let (s, _) =
        h.admin_post(&format!("/users/{user}/messages/{moved}/move"), json!({"destinationId": "archive"})).await;
    assert_eq!(s, 200);
    assert_eq!(h.admin_delete(&format!("/users/{user}/messages/{deleted}")).await, 204);
    assert_eq!(h.admin_patch(&format!("/users/{user}/messages/{updated}"), json!({"isRead": false})).await, 204);
    let (_, added) = h
        .admin_post(
            &format!("/users/{user}/messages"),
            json!({"folder": "inbox", "subject": "Fresh", "from": {"name": "Ann", "address": "ann@fourthcoffee.com"}, "to": [{"name": "Me", "address": upn}]}),
        )
        .await;
    let (changes, _) = h.delta_round(&token, &delta_link, &headers).await;
    let removed: HashSet<&str> =
        changes.iter().filter(|c| c.get("@removed").is_some()).map(|c| c["id"].as_str().unwrap()).collect();
    let live: HashSet<&str> =
        changes.iter().filter(|c| c.get("@removed").is_none()).map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(removed, HashSet::from([moved.as_str(), deleted.as_str()]));
    assert_eq!(live, HashSet::from([updated.as_str(), added["immutableId"].as_str().unwrap()]));
    assert!(changes.iter().filter(|c| c.get("@removed").is_some()).all(|c| c["@removed"]["reason"] == "deleted"));

    // The moved message arrives in Archive with the same immutable id.
    let (archive, _) =
        h.delta_round(&token, &h.graph(&format!("/users/{user}/mailFolders/archive/messages/delta")), &headers).await;
    assert!(ids(&archive).contains(moved));
}

#[tokio::test]
async fn a_regular_id_changes_when_the_message_moves_but_an_immutable_id_does_not() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let (_, _, page) = h.get(&token, &format!("/users/{user}/mailFolders/inbox/messages?$top=1"), &[]).await;
    let regular = page["value"][0]["id"].as_str().unwrap().to_string();
    let (_, _, page) = h.get(&token, &format!("/users/{user}/mailFolders/inbox/messages?$top=1"), &[IMMUTABLE]).await;
    let immutable = page["value"][0]["id"].as_str().unwrap().to_string();
    assert_ne!(regular, immutable);
    h.admin_post(&format!("/users/{user}/messages/{immutable}/move"), json!({"destinationId": "archive"})).await;
    let (status, _, body) = h.get(&token, &format!("/users/{user}/messages/{regular}"), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (404, "ErrorItemNotFound"));
    let (status, _, body) = h.get(&token, &format!("/users/{user}/messages/{immutable}"), &[IMMUTABLE]).await;
    assert_eq!(status, 200);
    let (_, _, archive) = h.get(&token, &format!("/users/{user}/mailFolders/archive"), &[]).await;
    assert_eq!(body["parentFolderId"], archive["id"]);
}

#[tokio::test]
async fn delta_honours_select_and_the_received_date_filter_and_refuses_other_options() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let base = format!("/users/{user}/mailFolders/inbox/messages/delta");
    let (all, _) = h.delta_round(&token, &h.graph(&base), &[]).await;
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(60)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (recent, _) = h
        .delta_round(
            &token,
            &h.graph(&format!("{base}?$select=subject,receivedDateTime&$filter=receivedDateTime ge {cutoff}")),
            &[],
        )
        .await;
    assert!(recent.len() < all.len());
    for m in &recent {
        assert!(m["receivedDateTime"].as_str().unwrap() >= cutoff.as_str());
        assert!(m.get("body").is_none() && m["subject"].is_string());
    }
    let (status, _, body) = h.get(&token, &format!("{base}?$search=hello"), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "BadRequest"));
    let (status, _, body) = h.get(&token, &format!("{base}?$select=bogus"), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "RequestBroker--ParseUri"));
    let (status, _, _) = h.get(&token, &format!("{base}?$filter=subject eq 'x'"), &[]).await;
    assert_eq!(status, 400);
    let (status, _, _) = h.get(&token, &format!("{base}?$skiptoken=garbage"), &[]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn delta_expands_the_sensitivity_property_on_request_on_every_page() {
    let (h, token, user, upn) = Harness::start_with_mailbox().await;
    let (status, _) = h
        .admin_post(
            &format!("/users/{user}/messages"),
            json!({"folder": "inbox", "subject": "Between us", "sensitivity": "private", "from": {"name": "Ann", "address": "ann@fourthcoffee.com"}, "to": [{"name": "Me", "address": upn}]}),
        )
        .await;
    let headers = [("Prefer", "odata.maxpagesize=5"), IMMUTABLE];
    let base = format!("/users/{user}/mailFolders/inbox/messages/delta");
    let expand = "$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0036')";
    let (items, _) = h.delta_round(&token, &h.graph(&format!("{base}?$select=subject&{expand}")), &headers).await;
    // The ground truth says which messages carry a sensitivity.
    let truth = h.admin_get(&format!("/truth/users/{user}/mail")).await;
    let expected: HashMap<String, &str> =
        truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["immutableId"].as_str().unwrap().to_string(), m["sensitivity"].as_str().unwrap()))
            .collect();
    assert!(items.len() > 5, "several pages");
    let mut marked = 0;
    for m in &items {
        let id = m["id"].as_str().unwrap();
        let value = m["singleValueExtendedProperties"][0]["value"].as_str();
        let want = match expected[id] {
            "personal" => Some("1"),
            "private" => Some("2"),
            "confidential" => Some("3"),
            _ => None,
        };
        assert_eq!(value, want, "{id}");
        if want.is_some() {
            assert_eq!(m["singleValueExtendedProperties"][0]["id"], "Integer 0x36");
            marked += 1;
        }
    }
    assert!(status < 300 && marked >= 1);
    let private = items.iter().find(|m| m["subject"] == "Between us").expect("the added message");
    assert_eq!(private["singleValueExtendedProperties"][0]["value"], "2");
    let (plain, _) = h.delta_round(&token, &h.graph(&format!("{base}?$select=subject")), &headers).await;
    assert!(plain.iter().all(|m| m.get("singleValueExtendedProperties").is_none()), "only when expanded");
}

#[tokio::test]
async fn an_expired_delta_token_answers_410_sync_state_not_found() {
    let (h, token, user, upn) = Harness::start_with_mailbox().await;
    let (_, delta_link) =
        h.delta_round(&token, &h.graph(&format!("/users/{user}/mailFolders/inbox/messages/delta")), &[]).await;
    let (s, _) = h.admin_post("/delta-tokens/expire", json!({"mailbox": upn})).await;
    assert_eq!(s, 204);
    let (status, headers, body) = h.get(&token, &delta_link, &[]).await;
    assert_eq!(status, 410);
    assert!(body["error"]["code"].as_str().unwrap().eq_ignore_ascii_case("syncStateNotFound"));
    assert!(headers["location"].to_str().unwrap().ends_with("$deltatoken="));
    assert!(body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn calendar_view_delta_equals_the_ground_truth_and_reports_cancellations() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let start = (chrono::Utc::now() - chrono::Duration::days(365)).format("%Y-%m-%dT00:00:00Z").to_string();
    let end = (chrono::Utc::now() + chrono::Duration::days(365)).format("%Y-%m-%dT00:00:00Z").to_string();
    let url = h.graph(&format!("/users/{user}/calendarView/delta?startDateTime={start}&endDateTime={end}"));
    let (events, delta_link) = h.delta_round(&token, &url, &[("Prefer", "odata.maxpagesize=5")]).await;
    let got = ids(&events);
    assert_unique(&got);
    let truth = h.admin_get(&format!("/truth/users/{user}/events?startDateTime={start}&endDateTime={end}")).await;
    let truth_ids: HashSet<String> =
        truth["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), truth_ids);
    assert!(events.iter().all(|e| e["start"]["timeZone"] == "UTC"), "UTC without a Prefer header");
    assert!(events.iter().all(|e| e["type"] != "seriesMaster"), "calendarView expands series");

    // Cancel a meeting this mailbox organises.
    let organised = events
        .iter()
        .find(|e| e["isOrganizer"] == true && e["type"] == "singleInstance")
        .expect("an organised meeting");
    let id = organised["id"].as_str().unwrap();
    let (s, body) = h.admin_post(&format!("/users/{user}/events/{id}/cancel"), json!({})).await;
    assert_eq!(s, 200, "{body}");
    let (changes, _) = h.delta_round(&token, &delta_link, &[]).await;
    assert!(changes.iter().any(|c| c["id"] == id && c["@removed"]["reason"] == "deleted"));
}

#[tokio::test]
async fn outlook_timezone_preference_converts_times_and_is_echoed() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let window = &common::wide_window();
    let (_, _, utc) = h.get(&token, &format!("/users/{user}/calendarView?{window}&$top=50"), &[]).await;
    let (_, headers, pacific) = h
        .get(
            &token,
            &format!("/users/{user}/calendarView?{window}&$top=50"),
            &[("Prefer", "outlook.timezone=\"Pacific Standard Time\"")],
        )
        .await;
    assert_eq!(headers["preference-applied"], "outlook.timezone=\"Pacific Standard Time\"");
    let tz = chrono_tz::America::Los_Angeles;
    for (u, p) in utc["value"].as_array().unwrap().iter().zip(pacific["value"].as_array().unwrap()) {
        assert_eq!(p["start"]["timeZone"], "Pacific Standard Time");
        if u["isAllDay"] == true {
            continue;
        }
        let utc_time =
            chrono::NaiveDateTime::parse_from_str(u["start"]["dateTime"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f")
                .unwrap();
        let expected =
            chrono::TimeZone::from_utc_datetime(&tz, &utc_time).format("%Y-%m-%dT%H:%M:%S.0000000").to_string();
        assert_eq!(p["start"]["dateTime"], expected);
    }
    let (status, _, body) = h
        .get(&token, &format!("/users/{user}/calendarView?{window}"), &[("Prefer", "outlook.timezone=\"Atlantis\"")])
        .await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (400, "TimeZoneNotSupportedException"));
    let (status, _, _) = h.get(&token, &format!("/users/{user}/calendarView"), &[]).await;
    assert_eq!(status, 400, "calendarView needs a window");
}

#[tokio::test]
async fn series_masters_carry_the_recurrence_and_list_their_instances() {
    let (h, token) = Harness::start_with_token().await;
    let truth = h.admin_get("/truth/mailboxes").await;
    let window = &common::wide_window();
    for u in truth["users"].as_array().unwrap().iter().filter(|u| u["hasMailbox"] == true) {
        let user = u["id"].as_str().unwrap();
        let (_, _, view) = h.get(&token, &format!("/users/{user}/calendarView?{window}&$top=1000"), &[]).await;
        let Some(occurrence) = view["value"].as_array().unwrap().iter().find(|e| e["type"] == "occurrence") else {
            continue;
        };
        let master_id = occurrence["seriesMasterId"].as_str().unwrap();
        let (status, _, master) = h.get(&token, &format!("/users/{user}/events/{master_id}"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(master["type"], "seriesMaster");
        assert_eq!(master["recurrence"]["pattern"]["type"], "weekly");
        let (_, _, instances) =
            h.get(&token, &format!("/users/{user}/events/{master_id}/instances?{window}&$top=100"), &[]).await;
        let instances = instances["value"].as_array().unwrap();
        assert!(instances.len() >= 2);
        assert!(instances.iter().all(|i| i["seriesMasterId"] == master_id && i["recurrence"].is_null()));
        let uids: HashSet<&str> = instances.iter().map(|i| i["iCalUId"].as_str().unwrap()).collect();
        assert_eq!(uids.len(), instances.len(), "each occurrence has its own iCalUId");
        return;
    }
    panic!("no recurring meeting in the small organisation");
}

#[tokio::test]
async fn mailbox_errors_name_the_condition() {
    let (h, token) = Harness::start_with_token().await;
    let truth = h.admin_get("/truth/mailboxes").await;
    let users = truth["users"].as_array().unwrap();
    let unlicensed = users.iter().find(|u| u["hasMailbox"] == false).unwrap()["id"].as_str().unwrap();
    let (status, _, body) = h.get(&token, &format!("/users/{unlicensed}/mailFolders/inbox/messages/delta"), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (404, "MailboxNotEnabledForRESTAPI"));
    let (status, _, body) = h.get(&token, "/users/ghost@nowhere.example/messages", &[]).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (404, "ErrorInvalidUser"));
    let (user, upn) = h.first_mailbox().await;
    assert_eq!(h.admin_put("/access-policy", json!({"deniedMailboxes": [upn]})).await, 204);
    let (status, _, body) = h.get(&token, &format!("/users/{user}/messages"), &[]).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["message"], "Access to OData is disabled.");
    let (status, _, body) = h.get(&token, &format!("/users/{user}/messages/not-an-id"), &[]).await;
    assert_eq!(status, 403, "the policy applies before the id is looked at: {body}");
}

#[tokio::test]
async fn bad_tokens_get_401_invalid_authentication_token() {
    let (h, token) = Harness::start_with_token().await;
    let (status, headers, body) = h.get("not-a-jwt", "/users", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("CompactToken parsing failed"));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer realm=\"\""));
    assert_eq!(headers["request-id"], body["error"]["innerError"]["request-id"].as_str().unwrap());
    let r = h.http.get(h.graph("/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = h.http.post(h.admin("/tokens/expire")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (status, _, body) = h.get(&token, "/users", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "Access token has expired or is not yet valid.");
    let fresh = h.token().await;
    assert_eq!(h.get(&fresh, "/users", &[]).await.0, 200, "a new token works");
}

#[tokio::test]
async fn unknown_paths_options_and_methods_get_graph_errors() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    for path in ["/nonsense", "/users/x/nonsense/deeper", "/"] {
        let (status, _, body) = h.get(&token, path, &[]).await;
        assert_eq!(status, 400, "{path}");
        assert!(body["error"]["code"].is_string());
    }
    let (status, _, _) = h.get(&token, &format!("/users/{user}/messages?$bogus=1"), &[]).await;
    assert_eq!(status, 400);
    let (status, _, _) = h.get(&token, "/me", &[]).await;
    assert_eq!(status, 400, "/me needs a delegated token");
    let r = h.http.delete(h.graph(&format!("/users/{user}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn the_fifth_concurrent_request_to_a_mailbox_is_throttled() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    assert_eq!(h.admin_put("/faults", json!({"latency_ms": 400})).await, 200);
    let url = h.graph(&format!("/users/{user}/mailFolders"));
    let requests = (0..6).map(|_| h.http.get(&url).bearer_auth(&token).send());
    let responses = futures_join_all(requests).await;
    let throttled: Vec<_> = responses.iter().filter(|r| r.status() == 429).collect();
    assert_eq!(responses.len() - throttled.len(), 4, "four run at once");
    assert!(throttled.iter().all(|r| r.headers().contains_key("retry-after")));
    let other = h.first_mailbox().await; // a different mailbox would have its own limit
    assert_eq!(other.0, user);
}

async fn futures_join_all<F: std::future::Future<Output = reqwest::Result<reqwest::Response>>>(
    futures: impl Iterator<Item = F>,
) -> Vec<reqwest::Response> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::new();
    let results = join_all(handles).await;
    for r in results {
        out.push(r.expect("request"));
    }
    out
}

async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    results.into_iter().map(|r| r.expect("every future finished")).collect()
}

#[tokio::test]
async fn the_request_budget_and_scheduled_429s_carry_retry_after() {
    let (h, token, user, upn) = Harness::start_with_mailbox().await;
    let url = format!("/users/{user}/mailFolders");
    let (s, _) = h.admin_post("/throttle", json!({"mailbox": upn, "count": 2, "retryAfter": "2.128"})).await;
    assert_eq!(s, 204);
    for _ in 0..2 {
        let (status, headers, body) = h.get(&token, &url, &[]).await;
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], "2.128");
        assert_eq!(body["error"]["code"], "TooManyRequests");
    }
    assert_eq!(h.get(&token, &url, &[]).await.0, 200);
    let limits = json!({"concurrentRequests": 4, "requestsPerWindow": 3, "windowSeconds": 600});
    assert_eq!(h.admin_put("/limits", limits).await, 200);
    for _ in 0..3 {
        assert_eq!(h.get(&token, &url, &[]).await.0, 200);
    }
    let (status, headers, _) = h.get(&token, &url, &[]).await;
    assert_eq!(status, 429);
    assert!(headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(h.get(&token, "/users", &[]).await.0, 200, "directory calls are not mailbox-throttled");
}

#[tokio::test]
async fn injected_faults_answer_503_504_or_drop_the_connection() {
    let (h, token) = Harness::start_with_token().await;
    for (faults, expected) in [(json!({"rate_503": 1.0}), 503), (json!({"rate_504": 1.0}), 504)] {
        h.admin_put("/faults", faults).await;
        let (status, _, body) = h.get(&token, "/users", &[]).await;
        assert_eq!(status, expected);
        assert!(body["error"]["code"].is_string());
    }
    h.admin_put("/faults", json!({"drop_rate": 1.0})).await;
    let result = async { h.http.get(h.graph("/users")).bearer_auth(&token).send().await?.bytes().await }.await;
    assert!(result.is_err(), "the connection is dropped mid-response");
    assert_eq!(h.admin_put("/faults", json!({"rate_503": 2.0})).await, 400, "rates above 1 are refused");
    h.admin_put("/faults", json!({})).await;
    assert_eq!(h.get(&token, "/users", &[]).await.0, 200);
}

#[tokio::test]
async fn a_batch_runs_each_request_and_fails_dependents_with_424() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users?$top=2"},
        {"id": "2", "method": "GET", "url": format!("/users/{user}/mailFolders/inbox")},
        {"id": "3", "method": "GET", "url": "/users/ghost@nowhere.example"},
        {"id": "4", "method": "GET", "url": "/organization", "dependsOn": ["3"]},
    ]});
    let r = h.http.post(h.graph("/$batch")).bearer_auth(&token).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let status_of = |id: &str| {
        body["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["status"].as_u64().unwrap()
    };
    assert_eq!((status_of("1"), status_of("2"), status_of("3"), status_of("4")), (200, 200, 404, 424));
    let too_many = json!({"requests": (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"})).collect::<Vec<_>>()});
    let r = h.http.post(h.graph("/$batch")).bearer_auth(&token).json(&too_many).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = h.http.post(h.graph("/$batch")).bearer_auth(&token).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
}

#[tokio::test]
async fn bodies_come_as_text_on_request_and_lists_are_newest_first() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let (_, headers, page) =
        h.get(&token, &format!("/users/{user}/messages"), &[("Prefer", "outlook.body-content-type=\"text\"")]).await;
    assert_eq!(headers["preference-applied"], "outlook.body-content-type=\"text\"");
    let items = page["value"].as_array().unwrap();
    assert_eq!(items.len(), 10, "ten per page by default");
    assert!(page["@odata.nextLink"].as_str().unwrap().contains("$skip=10"));
    assert!(
        items
            .iter()
            .all(|m| m["body"]["contentType"] == "text" && !m["body"]["content"].as_str().unwrap().contains('<'))
    );
    let dates: Vec<&str> = items.iter().map(|m| m["receivedDateTime"].as_str().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
}

#[tokio::test]
async fn the_request_log_records_graph_calls_per_mailbox() {
    let (h, token, user, upn) = Harness::start_with_mailbox().await;
    h.get(&token, &format!("/users/{user}/mailFolders"), &[]).await;
    let log = h.admin_get("/requests").await;
    let last = log["requests"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["mailbox"], upn);
    assert_eq!(last["status"], 200);
    assert_eq!(last["clientId"], h.creds.client_id);
}

#[tokio::test]
async fn no_delta_page_holds_more_than_the_preferred_page_size() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let window = &common::wide_window();
    for start in [
        h.graph(&format!("/users/{user}/mailFolders/inbox/messages/delta")),
        h.graph(&format!("/users/{user}/calendarView/delta?{window}")),
    ] {
        let mut next = Some(start);
        let mut pages = 0;
        while let Some(url) = next.take() {
            let (status, _, body) = h.get(&token, &url, &[("Prefer", "odata.maxpagesize=3")]).await;
            assert_eq!(status, 200);
            assert!(body["value"].as_array().unwrap().len() <= 3, "{url}");
            next = body["@odata.nextLink"].as_str().map(str::to_string);
            pages += 1;
        }
        assert!(pages > 3);
    }
}

#[tokio::test]
async fn a_new_hire_appears_in_the_directory_with_a_mailbox() {
    let (h, token) = Harness::start_with_token().await;
    let (status, hired) = h.admin_post("/users", json!({})).await;
    assert_eq!(status, 200);
    let id = hired["id"].as_str().unwrap();
    let (_, _, users) = h.get(&token, "/users?$top=999", &[]).await;
    assert_eq!(users["value"].as_array().unwrap().len(), 21);
    let (status, _, _) = h.get(&token, &format!("/users/{id}/mailFolders/inbox"), &[]).await;
    assert_eq!(status, 200);
    let truth = h.admin_get(&format!("/truth/users/{id}/mail")).await;
    assert!(
        truth["folders"].as_array().unwrap().iter().any(|f| !f["messages"].as_array().unwrap().is_empty()),
        "they bring their mail"
    );
}
