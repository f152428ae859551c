//! Every response the emulator serves conforms to Microsoft's published
//! Graph v1.0 metadata: each field exists on the resource's entity type (or
//! on the derived type its `@odata.type` names), with a JSON shape that
//! matches the CSDL type — string, boolean, number, enum member, collection
//! or complex type, checked recursively.
//!
//! The test walks every resource the emulator serves: users (default and
//! fully selected), a user, groups, a group, members (plain and cast),
//! directory roles, a role and its members (users and an app),
//! organization, mail folders and child folders, a folder, messages (list,
//! one, and eventMessages among them), message delta rounds with TAC's own
//! `$select` and `$expand`, events, an event, a series' instances,
//! calendarView and calendarView delta. A field the metadata does not know
//! is a field a real tenant will never send, and one a client might come to
//! rely on.

mod common;

use common::Harness;
use serde_json::Value;
use std::collections::BTreeSet;
use tac_emulator::schema::schema;

const IMMUTABLE: (&str, &str) = ("Prefer", "IdType=\"ImmutableId\"");

/// What the walk saw, so that it cannot pass by checking nothing.
#[derive(Default)]
struct Walk {
    problems: Vec<String>,
    items: usize,
    /// `@odata.type`s seen on items.
    types: BTreeSet<String>,
    /// Event `type`s seen (singleInstance, occurrence, seriesMaster, …).
    event_kinds: BTreeSet<String>,
}

impl Walk {
    fn check(&mut self, what: &str, ty: &str, item: &Value) {
        self.items += 1;
        if let Some(t) = item["@odata.type"].as_str() {
            self.types.insert(t.to_string());
        }
        if ty == "event"
            && let Some(k) = item["type"].as_str()
        {
            self.event_kinds.insert(k.to_string());
        }
        for p in schema().conformance(ty, item) {
            self.problems.push(format!("{what}: {p}"));
        }
    }

    fn check_list(&mut self, what: &str, ty: &str, body: &Value) {
        let items = body["value"].as_array().unwrap_or_else(|| panic!("{what}: no value array in {body}"));
        for item in items {
            self.check(what, ty, item);
        }
    }
}

/// Every structural property of a type, for a `$select` that asks for all.
fn all_properties(ty: &str) -> String {
    let s = schema();
    let mut names = Vec::new();
    let mut current = s.get(ty);
    while let Some(t) = current {
        names.extend(t.properties.iter().filter(|p| !p.navigation).map(|p| p.name.clone()));
        current = t.base.as_deref().and_then(|b| s.get(b));
    }
    names.join(",")
}

async fn ok(h: &Harness, token: &str, url: &str, headers: &[(&str, &str)]) -> Value {
    let (status, _, body) = h.get(token, url, headers).await;
    assert_eq!(status, 200, "{url}: {body}");
    body
}

#[tokio::test]
async fn every_resource_the_emulator_serves_conforms_to_graph_metadata() {
    let h = Harness::start().await;
    let token = h.token().await;
    let mut walk = Walk::default();

    // The directory.
    let users = ok(&h, &token, "/users?$top=999", &[]).await;
    walk.check_list("/users", "user", &users);
    let url = format!("/users?$top=999&$select={}", all_properties("user"));
    let selected = ok(&h, &token, &url, &[]).await;
    walk.check_list("/users?$select=(all)", "user", &selected);
    assert!(selected["value"][0].get("proxyAddresses").is_some(), "a full $select reaches non-default properties");
    let (user, _) = h.first_mailbox().await;
    walk.check(&format!("/users/{user}"), "user", &ok(&h, &token, &format!("/users/{user}"), &[]).await);
    walk.check_list("/organization", "organization", &ok(&h, &token, "/organization", &[]).await);
    let groups = ok(&h, &token, "/groups", &[]).await;
    walk.check_list("/groups", "group", &groups);
    let group = groups["value"][0]["id"].as_str().expect("a group").to_string();
    walk.check("/groups/{id}", "group", &ok(&h, &token, &format!("/groups/{group}"), &[]).await);
    let members = ok(&h, &token, &format!("/groups/{group}/members"), &[]).await;
    walk.check_list("/groups/{id}/members", "directoryObject", &members);
    let roles = ok(&h, &token, "/directoryRoles", &[]).await;
    walk.check_list("/directoryRoles", "directoryRole", &roles);
    for role in roles["value"].as_array().expect("roles") {
        let id = role["id"].as_str().expect("a role id");
        walk.check(
            "/directoryRoles/{id}",
            "directoryRole",
            &ok(&h, &token, &format!("/directoryRoles/{id}"), &[]).await,
        );
        let members = ok(&h, &token, &format!("/directoryRoles/{id}/members"), &[]).await;
        walk.check_list("/directoryRoles/{id}/members", "directoryObject", &members);
    }
    let cast = ok(&h, &token, &format!("/groups/{group}/members/microsoft.graph.user"), &[]).await;
    walk.check_list("/groups/{id}/members/microsoft.graph.user", "user", &cast);

    // Mail: folders, lists, one message, and delta rounds as TAC asks for them.
    let folders = ok(&h, &token, &format!("/users/{user}/mailFolders?$top=100&includeHiddenFolders=true"), &[]).await;
    walk.check_list("/mailFolders", "mailFolder", &folders);
    for f in folders["value"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        if f["childFolderCount"].as_u64().unwrap_or(0) > 0 {
            let children = ok(&h, &token, &format!("/users/{user}/mailFolders/{id}/childFolders"), &[]).await;
            walk.check_list("/childFolders", "mailFolder", &children);
        }
    }
    walk.check(
        "/mailFolders/inbox",
        "mailFolder",
        &ok(&h, &token, &format!("/users/{user}/mailFolders/inbox"), &[]).await,
    );
    let list = ok(&h, &token, &format!("/users/{user}/messages?$top=200"), &[]).await;
    walk.check_list("/messages", "message", &list);
    let first = list["value"][0]["id"].as_str().expect("a message").to_string();
    let one = ok(&h, &token, &format!("/users/{user}/messages/{}", common::percent_encode(&first)), &[]).await;
    walk.check("/messages/{id}", "message", &one);
    let select = tac_graph::resources::MESSAGE_SELECT;
    let expand = tac_graph::resources::MESSAGE_EXPAND;
    for folder in ["inbox", "sentitems", "archive"] {
        let url = format!("/users/{user}/mailFolders/{folder}/messages/delta?$select={select}&$expand={expand}");
        let (items, _) = h.delta_round(&token, &h.graph(&url), &[("Prefer", "odata.maxpagesize=200"), IMMUTABLE]).await;
        for item in &items {
            walk.check(&format!("{folder} delta (TAC's $select)"), "message", item);
        }
        let url = format!("/users/{user}/mailFolders/{folder}/messages/delta");
        let (items, _) = h.delta_round(&token, &h.graph(&url), &[("Prefer", "odata.maxpagesize=200")]).await;
        for item in &items {
            walk.check(&format!("{folder} delta"), "message", item);
        }
    }

    // Calendar.
    let window = &common::wide_window();
    let events = ok(&h, &token, &format!("/users/{user}/events?$top=500"), &[]).await;
    walk.check_list("/events", "event", &events);
    let items = events["value"].as_array().unwrap();
    let master = items.iter().find(|e| e["type"] == "seriesMaster").expect("a series master").clone();
    let id = common::percent_encode(master["id"].as_str().unwrap());
    walk.check("/events/{id}", "event", &ok(&h, &token, &format!("/users/{user}/events/{id}"), &[]).await);
    let instances = ok(&h, &token, &format!("/users/{user}/events/{id}/instances?{window}"), &[]).await;
    walk.check_list("/events/{id}/instances", "event", &instances);
    let view = ok(&h, &token, &format!("/users/{user}/calendarView?{window}&$top=500"), &[]).await;
    walk.check_list("/calendarView", "event", &view);
    let tz = [("Prefer", "outlook.timezone=\"Pacific Standard Time\"")];
    let view = ok(&h, &token, &format!("/users/{user}/calendarView?{window}&$top=500"), &tz).await;
    walk.check_list("/calendarView (Pacific)", "event", &view);
    let (items, _) = h
        .delta_round(
            &token,
            &h.graph(&format!("/users/{user}/calendarView/delta?{window}")),
            &[("Prefer", "odata.maxpagesize=200")],
        )
        .await;
    for item in &items {
        walk.check("/calendarView/delta", "event", item);
    }

    assert!(
        walk.problems.is_empty(),
        "{} fields depart from Graph's metadata:\n{}",
        walk.problems.len(),
        walk.problems.join("\n")
    );
    assert!(walk.items > 500, "the walk checked {} items", walk.items);
    for t in [
        "#microsoft.graph.eventMessageRequest",
        "#microsoft.graph.eventMessageResponse",
        "#microsoft.graph.user",
        "#microsoft.graph.servicePrincipal",
    ] {
        assert!(walk.types.contains(t), "the walk saw no {t}: {:?}", walk.types);
    }
    for k in ["singleInstance", "occurrence", "seriesMaster"] {
        assert!(walk.event_kinds.contains(k), "the walk saw no {k} event: {:?}", walk.event_kinds);
    }
}
