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

/// A walk over the emulator's resources, and what it saw, so that it cannot
/// pass by checking nothing.
struct Walk {
    h: Harness,
    token: String,
    problems: Vec<String>,
    items: usize,
    /// `@odata.type`s seen on items.
    types: BTreeSet<String>,
    /// Event `type`s seen (singleInstance, occurrence, seriesMaster, …).
    event_kinds: BTreeSet<String>,
}

impl Walk {
    async fn start() -> Self {
        let (h, token) = Harness::start_with_token().await;
        Walk { h, token, problems: Vec::new(), items: 0, types: BTreeSet::new(), event_kinds: BTreeSet::new() }
    }

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

    /// GETs `url`, which must answer 200.
    async fn ok(&self, url: &str, headers: &[(&str, &str)]) -> Value {
        let (status, _, body) = self.h.get(&self.token, url, headers).await;
        assert_eq!(status, 200, "{url}: {body}");
        body
    }

    /// GETs one resource of type `ty` and checks it.
    async fn one(&mut self, what: &str, ty: &str, url: &str) -> Value {
        let body = self.ok(url, &[]).await;
        self.check(what, ty, &body);
        body
    }

    /// GETs a list of `ty` and checks every item of it.
    async fn list(&mut self, what: &str, ty: &str, url: &str, headers: &[(&str, &str)]) -> Value {
        let body = self.ok(url, headers).await;
        self.check_list(what, ty, &body);
        body
    }

    /// Runs a whole delta round from `url` and checks every item of it.
    async fn delta_round(&mut self, what: &str, ty: &str, url: &str, headers: &[(&str, &str)]) {
        let (items, _) = self.h.delta_round(&self.token, &self.h.graph(url), headers).await;
        for item in &items {
            self.check(what, ty, item);
        }
    }

    /// Fails with every departure from the metadata, or when the walk saw too
    /// little to mean anything.
    fn assert_conforms(&self) {
        assert!(
            self.problems.is_empty(),
            "{} fields depart from Graph's metadata:\n{}",
            self.problems.len(),
            self.problems.join("\n")
        );
        assert!(self.items > 500, "the walk checked {} items", self.items);
        for t in [
            "#microsoft.graph.eventMessageRequest",
            "#microsoft.graph.eventMessageResponse",
            "#microsoft.graph.user",
            "#microsoft.graph.servicePrincipal",
        ] {
            assert!(self.types.contains(t), "the walk saw no {t}: {:?}", self.types);
        }
        for k in ["singleInstance", "occurrence", "seriesMaster"] {
            assert!(self.event_kinds.contains(k), "the walk saw no {k} event: {:?}", self.event_kinds);
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

/// The directory: users (default and fully selected), a user, the
/// organization, groups, a group and its members (plain and cast), directory
/// roles, a role and its members.
async fn walk_directory(walk: &mut Walk, user: &str) {
    walk.list("/users", "user", "/users?$top=999", &[]).await;
    let url = format!("/users?$top=999&$select={}", all_properties("user"));
    let selected = walk.list("/users?$select=(all)", "user", &url, &[]).await;
    assert!(selected["value"][0].get("proxyAddresses").is_some(), "a full $select reaches non-default properties");
    walk.one(&format!("/users/{user}"), "user", &format!("/users/{user}")).await;
    walk.list("/organization", "organization", "/organization", &[]).await;
    let groups = walk.list("/groups", "group", "/groups", &[]).await;
    let group = groups["value"][0]["id"].as_str().expect("a group").to_string();
    walk.one("/groups/{id}", "group", &format!("/groups/{group}")).await;
    walk.list("/groups/{id}/members", "directoryObject", &format!("/groups/{group}/members"), &[]).await;
    let roles = walk.list("/directoryRoles", "directoryRole", "/directoryRoles", &[]).await;
    for role in roles["value"].as_array().expect("roles") {
        let id = role["id"].as_str().expect("a role id");
        walk.one("/directoryRoles/{id}", "directoryRole", &format!("/directoryRoles/{id}")).await;
        let url = format!("/directoryRoles/{id}/members");
        walk.list("/directoryRoles/{id}/members", "directoryObject", &url, &[]).await;
    }
    let url = format!("/groups/{group}/members/microsoft.graph.user");
    walk.list("/groups/{id}/members/microsoft.graph.user", "user", &url, &[]).await;
}

/// Mail: folders and child folders, a folder, lists, one message, and delta
/// rounds as TAC asks for them and plain.
async fn walk_mail(walk: &mut Walk, user: &str) {
    let url = format!("/users/{user}/mailFolders?$top=100&includeHiddenFolders=true");
    let folders = walk.list("/mailFolders", "mailFolder", &url, &[]).await;
    for f in folders["value"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        if f["childFolderCount"].as_u64().unwrap_or(0) > 0 {
            walk.list("/childFolders", "mailFolder", &format!("/users/{user}/mailFolders/{id}/childFolders"), &[])
                .await;
        }
    }
    walk.one("/mailFolders/inbox", "mailFolder", &format!("/users/{user}/mailFolders/inbox")).await;
    let list = walk.list("/messages", "message", &format!("/users/{user}/messages?$top=200"), &[]).await;
    let first = list["value"][0]["id"].as_str().expect("a message").to_string();
    walk.one("/messages/{id}", "message", &format!("/users/{user}/messages/{}", common::percent_encode(&first))).await;
    let select = tac_graph::resources::MESSAGE_SELECT;
    let expand = tac_graph::resources::MESSAGE_EXPAND;
    for folder in ["inbox", "sentitems", "archive"] {
        let url = format!("/users/{user}/mailFolders/{folder}/messages/delta?$select={select}&$expand={expand}");
        let headers = [("Prefer", "odata.maxpagesize=200"), IMMUTABLE];
        walk.delta_round(&format!("{folder} delta (TAC's $select)"), "message", &url, &headers).await;
        let url = format!("/users/{user}/mailFolders/{folder}/messages/delta");
        walk.delta_round(&format!("{folder} delta"), "message", &url, &[("Prefer", "odata.maxpagesize=200")]).await;
    }
}

/// Calendars: events, a series master and its instances, calendarView (in
/// UTC and in Pacific time) and calendarView delta.
async fn walk_calendar(walk: &mut Walk, user: &str) {
    let window = &common::wide_window();
    let events = walk.list("/events", "event", &format!("/users/{user}/events?$top=500"), &[]).await;
    let items = events["value"].as_array().unwrap();
    let master = items.iter().find(|e| e["type"] == "seriesMaster").expect("a series master").clone();
    let id = common::percent_encode(master["id"].as_str().unwrap());
    walk.one("/events/{id}", "event", &format!("/users/{user}/events/{id}")).await;
    let url = format!("/users/{user}/events/{id}/instances?{window}");
    walk.list("/events/{id}/instances", "event", &url, &[]).await;
    let url = format!("/users/{user}/calendarView?{window}&$top=500");
    walk.list("/calendarView", "event", &url, &[]).await;
    let tz = [("Prefer", "outlook.timezone=\"Pacific Standard Time\"")];
    walk.list("/calendarView (Pacific)", "event", &url, &tz).await;
    let url = format!("/users/{user}/calendarView/delta?{window}");
    walk.delta_round("/calendarView/delta", "event", &url, &[("Prefer", "odata.maxpagesize=200")]).await;
}

#[tokio::test]
async fn every_resource_the_emulator_serves_conforms_to_graph_metadata() {
    let mut walk = Walk::start().await;
    let (user, _) = walk.h.first_mailbox().await;
    walk_directory(&mut walk, &user).await;
    walk_mail(&mut walk, &user).await;
    walk_calendar(&mut walk, &user).await;
    walk.assert_conforms();
}
