//! The Graph client against the Microsoft cloud emulator over real HTTP.

use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use tac_emulator::{EmulatorConfig, RunningEmulator};
use tac_graph::resources::{Event, Message};
use tac_graph::{
    AppCredentials, Capability, CapabilityReport, Cloud, Cursor, DeltaItem, ErrorClass, GraphClient, GraphError,
    Outcome, Prefer, ProbePlan, RetryPolicy,
};

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(300),
        max_retry_after: Duration::from_secs(5),
    }
}

async fn emulator() -> RunningEmulator {
    tac_emulator::spawn(EmulatorConfig::default()).await.expect("emulator")
}

fn client_with(e: &RunningEmulator, tenant: &str, client: &str, secret: &str) -> GraphClient {
    let c = e.credentials();
    GraphClient::new(
        Cloud::new(&c.login_url, &c.graph_url).expect("loopback URLs are allowed"),
        AppCredentials {
            tenant_id: tenant.into(),
            client_id: client.into(),
            client_secret: SecretString::from(secret.to_string()),
        },
        fast_retries(),
    )
    .expect("client")
}

fn client(e: &RunningEmulator) -> GraphClient {
    let c = e.credentials();
    client_with(e, &c.tenant_id, &c.client_id, &c.client_secret)
}

async fn admin(e: &RunningEmulator, method: reqwest::Method, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .request(method, format!("{}/_emulator{path}", e.base_url()))
        .json(&body)
        .send()
        .await
        .expect("admin call");
    r.json().await.unwrap_or(Value::Null)
}

/// The widest calendar window Graph answers (1,825 days), centred on today.
fn wide_window() -> String {
    let now = chrono::Utc::now();
    let (start, end) = (now - chrono::Duration::days(912), now + chrono::Duration::days(912));
    format!("startDateTime={}&endDateTime={}", start.format("%Y-%m-%dT00:00:00Z"), end.format("%Y-%m-%dT00:00:00Z"))
}

async fn first_mailbox(e: &RunningEmulator) -> (String, String) {
    let truth = admin(e, reqwest::Method::GET, "/truth/mailboxes", Value::Null).await;
    let u = truth["users"].as_array().unwrap().iter().find(|u| u["hasMailbox"] == true).unwrap().clone();
    (u["id"].as_str().unwrap().to_string(), u["userPrincipalName"].as_str().unwrap().to_string())
}

async fn grant(e: &RunningEmulator, body: Value) {
    let c = e.credentials();
    let r = reqwest::Client::new()
        .patch(format!("{}/_emulator/apps/{}", e.base_url(), c.client_id))
        .json(&body)
        .send()
        .await
        .expect("admin call");
    assert_eq!(r.status(), 200, "{body}");
}

fn everything() -> ProbePlan {
    ProbePlan { mail: true, calendars: true, mailboxes: Vec::new() }
}

fn outcome(report: &CapabilityReport, c: Capability) -> &Outcome {
    &report.checks.iter().find(|x| x.capability == c).unwrap_or_else(|| panic!("no {c:?} line")).outcome
}

#[tokio::test]
async fn the_guides_permissions_prove_every_capability_on_a_real_mailbox() {
    let e = emulator().await;
    let report = client(&e).probe_capabilities(&everything()).await.expect("token");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.admin_consent, Some(true));
    assert!(report.checks.iter().all(|c| c.outcome == Outcome::Ok), "{report:#?}");
    assert_eq!(report.checks.len(), Capability::ALL.len());
    assert!(report.mailbox.is_some(), "mail and calendars were tried on a mailbox");
    let users = report.checks.iter().find(|c| c.capability == Capability::Users).unwrap();
    assert!(
        users.granted.contains(&"User.Read.All".to_string())
            && users.granted.contains(&"Directory.Read.All".to_string())
    );
}

#[tokio::test]
async fn basic_mail_and_calendar_permissions_are_warnings_that_say_what_is_lost() {
    let e = emulator().await;
    let roles =
        ["User.Read.All", "Group.Read.All", "Directory.Read.All", "Mail.ReadBasic.All", "Calendars.ReadBasic.All"];
    grant(&e, json!({"roles": roles})).await;
    let report = client(&e).probe_capabilities(&everything()).await.unwrap();
    assert!(report.ok(), "warnings do not fail the connection: {report:#?}");
    match outcome(&report, Capability::Mail) {
        Outcome::Warning(w) => {
            assert!(w.contains("bodies and previews will be empty") && w.contains("Mail.Read"), "{w}")
        }
        other => panic!("{other:?}"),
    }
    match outcome(&report, Capability::Calendars) {
        Outcome::Warning(w) => assert!(w.contains("without attendees") && w.contains("Calendars.Read"), "{w}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_optional_permissions_warn_and_missing_required_ones_fail_with_the_fix() {
    let e = emulator().await;
    grant(&e, json!({"roles": ["User.Read.All", "Mail.Read"]})).await;
    let report = client(&e).probe_capabilities(&everything()).await.unwrap();
    assert!(!report.ok());
    assert!(matches!(outcome(&report, Capability::Users), Outcome::Ok));
    assert!(matches!(outcome(&report, Capability::Mail), Outcome::Ok));
    for optional in [Capability::Groups, Capability::Domains, Capability::Roles] {
        assert!(matches!(outcome(&report, optional), Outcome::Warning(_)), "{optional:?}: {report:#?}");
    }
    match outcome(&report, Capability::Calendars) {
        Outcome::Failed(f) => assert!(f.contains("Add Calendars.Read under API permissions"), "{f}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(report.failed(), ["Read calendars, including attendees"]);

    // With calendar sync off, calendars are not checked at all.
    let plan = ProbePlan { calendars: false, ..everything() };
    let report = client(&e).probe_capabilities(&plan).await.unwrap();
    assert!(report.ok() && report.checks.iter().all(|c| c.capability != Capability::Calendars));
}

#[tokio::test]
async fn higher_and_unexpected_permissions_still_work() {
    let e = emulator().await;
    let roles =
        ["User.ReadWrite.All", "Directory.ReadWrite.All", "Mail.ReadWrite", "Calendars.ReadWrite", "Sites.Read.All"];
    grant(&e, json!({"roles": roles})).await;
    let report = client(&e).probe_capabilities(&everything()).await.unwrap();
    assert!(report.checks.iter().all(|c| c.outcome == Outcome::Ok), "{report:#?}");
}

#[tokio::test]
async fn without_admin_consent_every_line_says_to_grant_it() {
    let e = emulator().await;
    grant(&e, json!({"adminConsent": false})).await;
    let report = client(&e).probe_capabilities(&everything()).await.unwrap();
    assert_eq!(report.admin_consent, Some(false));
    match outcome(&report, Capability::Users) {
        Outcome::Failed(f) => assert_eq!(f, tac_graph::ADMIN_CONSENT_FIX),
        other => panic!("{other:?}"),
    }
    assert!(!report.ok());
}

#[tokio::test]
async fn sign_in_failures_carry_the_aadsts_code_and_the_fix() {
    let e = emulator().await;
    let c = e.credentials();
    let config = admin(&e, reqwest::Method::GET, "/config", Value::Null).await;
    let expired = config["expired_client_secret"].as_str().unwrap();
    let cases = [
        (
            c.tenant_id.as_str(),
            c.client_id.as_str(),
            "wrong",
            "AADSTS7000215",
            "Paste the secret's Value, not its Secret ID",
        ),
        (c.tenant_id.as_str(), c.client_id.as_str(), expired, "AADSTS7000222", "has expired"),
        (c.tenant_id.as_str(), "11111111-2222-3333-4444-555555555555", "x", "AADSTS700016", "Client ID"),
        ("00000000-0000-4000-8000-000000000000", c.client_id.as_str(), "x", "AADSTS90002", "tenant was not found"),
        ("not a tenant", c.client_id.as_str(), "x", "AADSTS900023", "Tenant ID is not valid"),
    ];
    for (tenant, client_id, secret, code, advice) in cases {
        let err = client_with(&e, tenant, client_id, secret).probe_capabilities(&everything()).await.unwrap_err();
        assert_eq!(err.code(), code);
        assert!(err.advice().contains(advice), "{code}: {}", err.advice());
        assert_eq!(err.class(), ErrorClass::Unauthenticated);
    }
}

#[tokio::test]
async fn directory_lists_are_paged_to_the_end() {
    let e = emulator().await;
    let g = client(&e);
    let users = g.users().await.unwrap();
    assert_eq!(users.len(), 20);
    assert!(users.iter().any(|u| u.proxy_addresses.iter().any(|p| p.starts_with("smtp:"))));
    let groups = g.groups().await.unwrap();
    let sales = groups.iter().find(|g| g.display_name.as_deref() == Some("Sales")).unwrap();
    let members = g.group_members(&sales.id).await.unwrap();
    assert!(!members.is_empty() && members.iter().all(|m| m.is_user()));
    let org = g.organization().await.unwrap();
    assert!(org.verified_domains.iter().any(|d| d.is_default));
}

#[tokio::test]
async fn folders_are_discovered_recursively_and_by_well_known_name() {
    let e = emulator().await;
    let g = client(&e);
    let (user, _) = first_mailbox(&e).await;
    let limit = tokio::sync::Semaphore::new(2);
    let folders = g.mail_folders(&user, &limit).await.unwrap();
    let names: HashSet<_> = folders.iter().filter_map(|f| f.display_name.clone()).collect();
    assert!(names.contains("Key Accounts"), "two levels deep: {names:?}");
    assert!(folders.iter().any(|f| f.is_search_folder()));
    let inbox = g.well_known_folder(&user, "inbox").await.unwrap();
    assert_eq!(inbox.display_name.as_deref(), Some("Inbox"));
    // Well-known names resolve to the listed folders; a name the mailbox lacks is None.
    let ids = g.well_known_folder_ids(&user, &["inbox", "sentitems", "nosuchfolder"], &limit).await.unwrap();
    assert_eq!(ids[0].as_deref(), Some(inbox.id.as_str()));
    let sent = ids[1].as_deref().expect("sent items");
    assert_eq!(folders.iter().find(|f| f.id == sent).and_then(|f| f.display_name.as_deref()), Some("Sent Items"));
    assert_eq!(ids[2], None);
}

#[tokio::test]
async fn a_delta_round_collects_the_folder_and_survives_throttling_and_faults() {
    let e = emulator().await;
    let g = client(&e);
    let (user, upn) = first_mailbox(&e).await;
    admin(&e, reqwest::Method::POST, "/throttle", json!({"mailbox": upn, "count": 2, "retryAfter": "0.05"})).await;
    let mut link = format!("/users/{user}/mailFolders/inbox/messages/delta");
    let mut ids = HashSet::new();
    let mut pages = 0;
    loop {
        if pages == 2 {
            // An access token that expires mid-round is renewed once, transparently.
            admin(&e, reqwest::Method::POST, "/tokens/expire", json!({})).await;
            admin(&e, reqwest::Method::PUT, "/faults", json!({"rate_503": 0.3, "drop_rate": 0.2})).await;
        }
        let page = g.delta_page::<Message>(&link, &Prefer::mail(9)).await.expect("page");
        pages += 1;
        for item in page.items {
            match item.expect("decodes") {
                DeltaItem::Changed(m) => assert!(ids.insert(m.id)),
                DeltaItem::Removed { .. } => panic!("an initial round has no removals here"),
            }
        }
        match page.cursor {
            Cursor::NextLink(n) => link = n,
            Cursor::DeltaLink(_) => break,
        }
    }
    let truth = admin(&e, reqwest::Method::GET, &format!("/truth/users/{user}/mail"), Value::Null).await;
    let inbox: HashSet<String> =
        truth["folders"].as_array().unwrap().iter().find(|f| f["wellKnownName"] == "inbox").unwrap()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["immutableId"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(ids, inbox);
}

#[tokio::test]
async fn persistent_failures_end_in_a_classified_error() {
    let e = emulator().await;
    let g = client(&e);
    let (user, upn) = first_mailbox(&e).await;
    admin(&e, reqwest::Method::PUT, "/faults", json!({"rate_503": 1.0})).await;
    let err = g.get_value("/users", &Prefer::default()).await.unwrap_err();
    assert!(matches!(err, GraphError::RetriesExhausted { attempts: 4, .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Transient);
    admin(&e, reqwest::Method::PUT, "/faults", json!({})).await;

    let truth = admin(&e, reqwest::Method::GET, "/truth/mailboxes", Value::Null).await;
    let unlicensed = truth["users"].as_array().unwrap().iter().find(|u| u["hasMailbox"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let err = g
        .delta_page::<Message>(&format!("/users/{unlicensed}/mailFolders/inbox/messages/delta"), &Prefer::mail(10))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::NoMailbox);

    let (_, link) = {
        let page = g
            .delta_page::<Event>(&format!("/users/{user}/calendarView/delta?{}", wide_window()), &Prefer::calendar(500))
            .await
            .unwrap();
        let mut cursor = page.cursor;
        loop {
            match cursor {
                Cursor::NextLink(n) => cursor = g.delta_page::<Event>(&n, &Prefer::calendar(500)).await.unwrap().cursor,
                Cursor::DeltaLink(d) => break ((), d),
            }
        }
    };
    admin(&e, reqwest::Method::POST, "/delta-tokens/expire", json!({"mailbox": upn})).await;
    let err = g.delta_page::<Event>(&link, &Prefer::calendar(500)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::SyncReset);
}

#[tokio::test]
async fn links_to_other_hosts_are_never_followed() {
    let e = emulator().await;
    let g = client(&e);
    for link in ["https://evil.example/v1.0/users", "http://127.0.0.2:1/v1.0/users", "http://127.0.0.1:1/v1.0/users"] {
        let err = g.get_value(link, &Prefer::default()).await.unwrap_err();
        assert!(matches!(err, GraphError::ForeignLink(_)), "{link}: {err}");
    }
}

#[tokio::test]
async fn events_arrive_in_utc_and_convert_to_instants() {
    let e = emulator().await;
    let g = client(&e);
    let (user, _) = first_mailbox(&e).await;
    let page = g
        .delta_page::<Event>(&format!("/users/{user}/calendarView/delta?{}", wide_window()), &Prefer::calendar(50))
        .await
        .unwrap();
    let mut seen = 0;
    for item in page.items {
        if let Ok(DeltaItem::Changed(ev)) = item {
            assert_eq!(ev.start.as_ref().unwrap().time_zone.as_deref(), Some("UTC"));
            let (s, en) = (ev.start.unwrap().to_utc().unwrap().0, ev.end.unwrap().to_utc().unwrap().0);
            assert!(en > s);
            assert!(ev.ical_uid.is_some());
            seen += 1;
        }
    }
    assert!(seen > 0);
}

#[tokio::test]
async fn a_batch_answers_each_request_in_order_and_retries_throttled_ones() {
    let e = emulator().await;
    let g = client(&e);
    let (user, upn) = first_mailbox(&e).await;
    admin(&e, reqwest::Method::POST, "/throttle", json!({"mailbox": upn, "count": 1, "retryAfter": "0.05"})).await;
    let paths = vec![
        format!("/users/{user}/mailFolders/inbox"),
        format!("/users/{user}/mailFolders/sentitems"),
        "/users/ghost@nowhere.example".to_string(),
    ];
    let answers = g.batch_get(&paths).await.unwrap();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].as_ref().unwrap()["displayName"], "Inbox", "the throttled one was retried");
    assert_eq!(answers[1].as_ref().unwrap()["displayName"], "Sent Items");
    assert_eq!(answers[2].as_ref().unwrap_err().class(), ErrorClass::NotFound);
}

/// The emulator's request log: (path, status, started, finished) in ms of its clock.
async fn log(e: &RunningEmulator) -> Vec<(String, u16, u64, u64)> {
    let body = admin(e, reqwest::Method::GET, "/requests", Value::Null).await;
    body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap() as u16,
                r["startedMs"].as_f64().unwrap() as u64,
                r["finishedMs"].as_f64().unwrap() as u64,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_throttled_mailbox_pauses_every_request_to_it_for_its_retry_after() {
    let e = emulator().await;
    let g = std::sync::Arc::new(client(&e));
    let (user, upn) = first_mailbox(&e).await;
    admin(&e, reqwest::Method::POST, "/throttle", json!({"mailbox": upn, "count": 1, "retryAfter": "1.5"})).await;
    let first = {
        let (g, path) = (g.clone(), format!("/users/{user}/mailFolders/inbox"));
        tokio::spawn(async move { g.get_value(&path, &Prefer::default()).await })
    };
    // Once the 429 is in the log, another request to the same mailbox is made.
    let throttled_at = loop {
        if let Some((_, _, _, finished)) = log(&e).await.into_iter().find(|r| r.1 == 429) {
            break finished;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let second = g.get_value(&format!("/users/{user}/mailFolders/sentitems"), &Prefer::default()).await.unwrap();
    assert_eq!(second["displayName"], "Sent Items");
    assert_eq!(first.await.unwrap().unwrap()["displayName"], "Inbox");
    let later: Vec<_> =
        log(&e).await.into_iter().filter(|r| r.0.contains("/mailFolders/") && r.2 > throttled_at).collect();
    assert_eq!(later.len(), 2, "the retry and the other request: {later:?}");
    for (path, _, started, _) in later {
        assert!(
            started >= throttled_at + 1500,
            "{path} went out {} ms after the 429, before its Retry-After",
            started - throttled_at
        );
    }
    // Directory calls are not held up by a mailbox's pause.
    assert!(g.users().await.is_ok());
}

#[tokio::test]
async fn a_retry_after_beyond_the_ceiling_fails_at_once_and_holds_the_mailbox() {
    let e = emulator().await;
    let g = client(&e);
    let (user, upn) = first_mailbox(&e).await;
    admin(&e, reqwest::Method::POST, "/throttle", json!({"mailbox": upn, "count": 1, "retryAfter": "3600"})).await;
    let err = g.get_value(&format!("/users/{user}/mailFolders/inbox"), &Prefer::default()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)), "{err}");
    let sent = log(&e).await.len();
    let err = g
        .get_value(
            &format!("/users/{user}/calendarView?startDateTime=2024-01-01T00:00:00Z&endDateTime=2024-02-01T00:00:00Z"),
            &Prefer::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Paused { retry_after } if retry_after > Duration::from_secs(3500)), "{err}");
    assert_eq!(log(&e).await.len(), sent, "nothing more was sent to the paused mailbox");
}

#[tokio::test]
async fn a_throttled_batch_item_waits_its_own_retry_after_read_in_any_case() {
    let e = emulator().await;
    let g = client(&e);
    let (user, upn) = first_mailbox(&e).await;
    admin(&e, reqwest::Method::POST, "/throttle", json!({"mailbox": upn, "count": 1, "retryAfter": "1"})).await;
    let answers = g.batch_get(&[format!("/users/{user}/mailFolders/inbox")]).await.unwrap();
    assert_eq!(answers[0].as_ref().unwrap()["displayName"], "Inbox");
    let entries = log(&e).await;
    // Inner requests are not logged on their own: the batch's answer carried the 429.
    let throttled = entries.iter().find(|r| r.0 == "/$batch").expect("the batch").3;
    let retried = entries.iter().rev().find(|r| r.0.ends_with("/mailFolders/inbox") && r.1 == 200).unwrap().2;
    assert!(retried >= throttled + 1000, "retried {} ms after the 429", retried - throttled);
}
