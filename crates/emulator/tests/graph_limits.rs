//! The limits and refusals Microsoft documents, each enforced by the
//! emulator and checked here over real HTTP: the 5,000-message cap of a
//! filtered message delta, calendarView's 1,825-day window, names the
//! metadata does not know, derived-type casts, both forms of `delta`,
//! percent-encoded ids, `$count`, what a `ReadBasic` permission withholds,
//! and directory roles: who may read them and what a role's members show.

mod common;

use common::{Harness, percent_encode};
use serde_json::{Value, json};
use std::collections::HashSet;

const PAGE: (&str, &str) = ("Prefer", "odata.maxpagesize=1000, IdType=\"ImmutableId\"");

/// Adds `count` messages to the user's Inbox, received over the last 300 days.
async fn fill_inbox(h: &Harness, user: &str, count: usize) {
    let now = chrono::Utc::now();
    let (status, body) = h
        .admin_post(
            &format!("/users/{user}/messages/bulk"),
            json!({"folder": "inbox", "count": count, "since": now - chrono::Duration::days(300), "until": now - chrono::Duration::hours(1)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The time `days` days ago, to the second, as a `$filter` compares it.
fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Gives TAC's registration exactly these application permissions.
async fn set_roles(h: &Harness, roles: &[&str]) {
    assert_eq!(h.update_app(json!({"roles": roles})).await, 200);
}

fn received(item: &Value) -> chrono::DateTime<chrono::Utc> {
    item["receivedDateTime"].as_str().and_then(|t| t.parse().ok()).expect("receivedDateTime")
}

#[tokio::test]
async fn a_filtered_message_delta_round_stops_at_5000_and_an_unfiltered_one_does_not() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    fill_inbox(&h, &user, 20_000).await;
    let since = days_ago(365);
    let base = h.graph(&format!("/users/{user}/mailFolders/inbox/messages/delta"));

    let (filtered, delta_link) =
        h.delta_round(&token, &format!("{base}?$filter=receivedDateTime%20ge%20{since}"), &[PAGE]).await;
    assert_eq!(filtered.len(), 5000, "a filtered round returns at most 5,000 messages");
    let ids: HashSet<&str> = filtered.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids.len(), 5000, "and no message twice");
    assert!(delta_link.contains("$deltatoken="), "and still ends with a delta link");

    let (newest, _) = h
        .delta_round(
            &token,
            &format!("{base}?$filter=receivedDateTime%20ge%20{since}&$orderby=receivedDateTime%20desc"),
            &[PAGE],
        )
        .await;
    assert_eq!(newest.len(), 5000);
    let times: Vec<_> = newest.iter().map(received).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "$orderby=receivedDateTime desc returns newest first");
    let truth = h.admin_get(&format!("/truth/users/{user}/mail")).await;
    let inbox = truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap();
    let mut all: Vec<chrono::DateTime<chrono::Utc>> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap().parse().unwrap())
        .collect();
    all.sort_by(|a, b| b.cmp(a));
    assert_eq!(times[4999], all[4999], "they are the 5,000 newest");

    let (unfiltered, _) = h.delta_round(&token, &base, &[PAGE]).await;
    assert_eq!(unfiltered.len(), all.len(), "an unfiltered round has no cap");
    assert!(unfiltered.len() > 20_000);
}

#[tokio::test]
async fn message_lists_count_on_request() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    fill_inbox(&h, &user, 50).await;
    let url = format!(
        "/users/{user}/mailFolders/inbox/messages?$filter=receivedDateTime%20ge%20{}&$count=true&$top=1&$select=id",
        days_ago(10)
    );
    let (status, _, body) = h.get(&token, &url, &[]).await;
    assert_eq!(status, 200, "{body}");
    let count = body["@odata.count"].as_u64().expect("@odata.count");
    assert!(count >= 1, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn calendar_views_longer_than_1825_days_are_refused() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let window = |days: i64| {
        let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let end = start + chrono::Duration::days(days);
        format!("startDateTime={}&endDateTime={}", start.format("%Y-%m-%dT%H:%M:%SZ"), end.format("%Y-%m-%dT%H:%M:%SZ"))
    };
    for path in ["calendarView", "calendarView/delta"] {
        let (status, _, body) = h.get(&token, &format!("/users/{user}/{path}?{}", window(1826)), &[]).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "ErrorInvalidRequest");
        assert!(body["error"]["message"].as_str().unwrap().contains("Maximum number of days: 1825"));
        let (status, _, body) = h.get(&token, &format!("/users/{user}/{path}?{}", window(1825)), &[]).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn names_the_message_type_lacks_are_refused_or_left_out_as_graph_does() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let (status, _, body) =
        h.get(&token, &format!("/users/{user}/messages?$select=subject,meetingMessageType"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "RequestBroker--ParseUri");
    assert_eq!(
        body["error"]["message"],
        "Could not find a property named 'meetingMessageType' on type 'Microsoft.OutlookServices.Message'."
    );
    for bad in
        ["$select=subjekt", "$orderby=subjekt", "$expand=subject", "$filter=receivedOn%20ge%202024-01-01T00:00:00Z"]
    {
        let (status, _, body) = h.get(&token, &format!("/users/{user}/messages?{bad}"), &[]).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _, body) = h.get(&token, "/users?$select=displayName,hireDay", &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_BadRequest")));
    let (status, _, body) = h.get(&token, "/users?$filter=nickname%20eq%20'x'", &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_BadRequest")), "{body}");

    // On delta the bare derived name is left out; the cast brings it.
    let delta = |select: &str| h.graph(&format!("/users/{user}/mailFolders/inbox/messages/delta?$select={select}"));
    let (bare, _) = h.delta_round(&token, &delta("subject,meetingMessageType"), &[PAGE]).await;
    assert!(bare.iter().all(|m| m.get("meetingMessageType").is_none()), "left out without the cast");
    let (cast, _) =
        h.delta_round(&token, &delta("subject,microsoft.graph.eventMessage/meetingMessageType"), &[PAGE]).await;
    let invitations: Vec<&Value> =
        cast.iter().filter(|m| m["@odata.type"] == "#microsoft.graph.eventMessageRequest").collect();
    assert!(!invitations.is_empty(), "the inbox holds invitations");
    assert!(invitations.iter().all(|m| m["meetingMessageType"] == "meetingRequest"));
    assert!(
        cast.iter()
            .filter(|m| m["@odata.type"] == "#microsoft.graph.message")
            .all(|m| m.get("meetingMessageType").is_none()),
        "plain messages do not carry the eventMessage property"
    );
}

#[tokio::test]
async fn delta_in_function_form_and_percent_encoded_ids_are_taken() {
    let (h, token, user, _) = Harness::start_with_mailbox().await;
    let (_, _, inbox) = h.get(&token, &format!("/users/{user}/mailFolders/inbox"), &[]).await;
    let folder = inbox["id"].as_str().unwrap();
    let plain = h.graph(&format!("/users/{user}/mailFolders/{folder}/messages/delta"));
    let sdk = h.graph(&format!("/users/{user}/mailFolders/{}/messages/delta()", percent_encode(folder)));
    let (a, _) = h.delta_round(&token, &plain, &[PAGE]).await;
    let (b, _) = h.delta_round(&token, &sdk, &[PAGE]).await;
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    let window = "startDateTime=2024-01-01T00:00:00Z&endDateTime=2025-01-01T00:00:00Z";
    let (status, _, body) = h.get(&token, &format!("/users/{user}/calendarView/delta()?{window}"), &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn basic_permissions_withhold_bodies_and_refuse_to_select_them() {
    let h = Harness::start().await;
    set_roles(&h, &["User.Read.All", "Mail.ReadBasic.All", "Calendars.ReadBasic.All"]).await;
    let token = h.token().await;
    let (user, _) = h.first_mailbox().await;
    let (status, _, body) = h.get(&token, &format!("/users/{user}/messages?$top=5"), &[]).await;
    assert_eq!(status, 200, "{body}");
    for m in body["value"].as_array().unwrap() {
        assert!(m.get("subject").is_some() && m.get("body").is_none() && m.get("bodyPreview").is_none(), "{m}");
    }
    for refused in ["$select=id,body", "$select=bodyPreview", "$expand=attachments"] {
        let (status, _, body) = h.get(&token, &format!("/users/{user}/messages?{refused}"), &[]).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("ErrorAccessDenied")), "{refused}");
    }
    let window = "startDateTime=2000-01-01T00:00:00Z&endDateTime=2004-01-01T00:00:00Z";
    let (status, _, body) =
        h.get(&token, &format!("/users/{user}/calendarView?{window}&$select=id,attendees"), &[]).await;
    assert_eq!(status, 403, "{body}");
    let (items, _) = h
        .delta_round(
            &token,
            &h.graph(&format!(
                "/users/{user}/calendarView/delta?startDateTime=2024-01-01T00:00:00Z&endDateTime=2028-01-01T00:00:00Z"
            )),
            &[PAGE],
        )
        .await;
    assert!(!items.is_empty());
    assert!(items.iter().all(|e| e.get("attendees").is_none() && e.get("body").is_none()), "withheld on delta too");
}

const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

#[tokio::test]
async fn directory_roles_list_the_activated_roles_by_id_or_template_with_their_members() {
    let (h, token) = Harness::start_with_token().await;
    let (status, _, roles) = h.get(&token, "/directoryRoles", &[]).await;
    assert_eq!(status, 200, "{roles}");
    let roles = roles["value"].as_array().unwrap().clone();
    let names: Vec<&str> = roles.iter().map(|r| r["displayName"].as_str().unwrap()).collect();
    assert!(names.contains(&"Global Administrator") && names.contains(&"Directory Readers"), "{names:?}");
    assert!(!names.contains(&"Security Administrator"), "a role nobody was assigned is not activated: {names:?}");
    let ga = roles.iter().find(|r| r["roleTemplateId"] == GLOBAL_ADMINISTRATOR).expect("Global Administrator");
    assert_ne!(ga["id"], ga["roleTemplateId"], "a role's object id is the tenant's own");

    // The members by object id and by template id are the same people.
    let by_id = h.get(&token, &format!("/directoryRoles/{}/members", ga["id"].as_str().unwrap()), &[]).await;
    let template_url = format!("/directoryRoles/roleTemplateId={GLOBAL_ADMINISTRATOR}/members");
    let by_template = h.get(&token, &template_url, &[]).await;
    assert_eq!((by_id.0, by_template.0), (200, 200), "{}", by_template.2);
    assert_eq!(by_id.2["value"], by_template.2["value"]);
    let admin = &by_id.2["value"][0];
    assert_eq!(admin["@odata.type"], "#microsoft.graph.user");
    assert!(admin["userPrincipalName"].is_string(), "{admin}");

    // An app among the members is a servicePrincipal, not a user.
    let readers = roles.iter().find(|r| r["displayName"] == "Directory Readers").unwrap();
    let (_, _, members) =
        h.get(&token, &format!("/directoryRoles/{}/members", readers["id"].as_str().unwrap()), &[]).await;
    assert_eq!(members["value"][0]["@odata.type"], "#microsoft.graph.servicePrincipal", "{members}");

    // The list takes no query options; an unknown role is 404.
    let (status, _, body) = h.get(&token, "/directoryRoles?$filter=displayName%20eq%20'x'", &[]).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) =
        h.get(&token, "/directoryRoles/roleTemplateId=00000000-0000-0000-0000-000000000000", &[]).await;
    assert_eq!(status, 404);

    // Assigning someone to a role that was not activated activates it.
    let (user, _) = h.first_mailbox().await;
    let security_administrator = "/directoryRoles/194ae4cb-b126-40b2-bd5b-6091b380977d/members";
    assert_eq!(h.admin_put(security_administrator, json!({"users": [user]})).await, 200);
    let (_, _, roles) = h.get(&token, "/directoryRoles", &[]).await;
    assert!(roles["value"].as_array().unwrap().iter().any(|r| r["displayName"] == "Security Administrator"));

    // A role-assignable group among a role's members is a group.
    let (_, _, groups) = h.get(&token, "/groups?$select=id", &[]).await;
    let group = groups["value"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(h.admin_put(security_administrator, json!({"users": [], "groups": [group]})).await, 200);
    let url = "/directoryRoles/roleTemplateId=194ae4cb-b126-40b2-bd5b-6091b380977d/members";
    let (_, _, members) = h.get(&token, url, &[]).await;
    assert_eq!(members["value"][0]["@odata.type"], "#microsoft.graph.group", "{members}");
    assert_eq!(members["value"][0]["id"], json!(group));
}

#[tokio::test]
async fn directory_roles_need_a_role_permission_and_show_users_limited_without_user_read_all() {
    let h = Harness::start().await;
    set_roles(&h, &["Mail.Read", "User.Read.All"]).await;
    let token = h.token().await;
    let (status, _, body) = h.get(&token, "/directoryRoles", &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{body}");

    set_roles(&h, &["RoleManagement.Read.Directory"]).await;
    let token = h.token().await;
    let (status, _, body) =
        h.get(&token, &format!("/directoryRoles/roleTemplateId={GLOBAL_ADMINISTRATOR}/members"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let admin = &body["value"][0];
    assert_eq!(admin["@odata.type"], "#microsoft.graph.user");
    assert!(admin["id"].is_string(), "the id is always there: {admin}");
    assert!(admin["userPrincipalName"].is_null() && admin["displayName"].is_null(), "limited information: {admin}");
}
