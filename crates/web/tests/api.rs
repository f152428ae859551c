//! The JSON API over HTTP against the real router and a real store:
//! authorization, CSRF, workspace isolation, problem details for bad input,
//! the timeline JSON and its paging, the secret never shown, and the
//! OpenAPI document (valid OpenAPI 3.1, and responses match its schemas).
//!
//! The OpenAPI checks run Python's `openapi-spec-validator` (and the
//! `jsonschema` it brings): `pip install openapi-spec-validator`. Without
//! python3 they are skipped with a message; with python3 but without the
//! package they fail, saying what to install.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use tac_core::privacy::Visibility;
use tac_core::records::{Direction, EmailCopy, EmailRecord, MeetingCopy, ParticipantRole, TenantDomain};
use tac_store::{
    ContactId, IntegrationSettings, MailboxId, MasterKey, NewPortalUser, PrivacySettings, Role, SecretString, Store,
    SyncCursor, WorkspaceId,
};
use tac_web::{AppState, SyncTrigger};

// ---- harness -------------------------------------------------------------------

/// A store in a fresh database (SQLite file, or a PostgreSQL database of
/// its own), removed when dropped, also when the test fails.
type Db = tac_test_support::TestDb;
use common::fixtures::{self, attendee, contact, email, participant};
use tac_test_support::random_suffix;

/// One workspace's portal on 127.0.0.1:0.
struct Portal {
    base: String,
    store: Store,
    ws: WorkspaceId,
    server: common::Server,
    /// The database, when the portal has one of its own; closed when it stops.
    db: Option<Db>,
}

const KEY: [u8; 32] = [7; 32];

impl Portal {
    /// Workspace "default" in a fresh SQLite database of its own, without
    /// background sync.
    async fn sqlite() -> Portal {
        let db = Db::sqlite("api-test").await;
        let portal = Portal::start(&db.store, "default", None).await;
        Portal { db: Some(db), ..portal }
    }

    /// `workspace` in `store`, which other portals may share.
    async fn start(store: &Store, workspace: &str, sync: Option<SyncTrigger>) -> Portal {
        let ws = store.ensure_workspace(workspace).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut state = AppState::new(store.clone(), ws, MasterKey::from_bytes(KEY), &base)
            .unwrap()
            .with_clouds(tac_graph::CloudPolicy::AnyHost);
        if let Some(trigger) = sync {
            state = state.with_sync_trigger(trigger);
        }
        let server = common::Server::spawn(listener, tac_web::router(state));
        Portal { base, store: store.clone(), ws, server, db: None }
    }

    /// A client signed in as a new user with `role` (session made through the store).
    async fn client(&self, email: &str, role: Role) -> Client {
        self.client_linked(email, role, None).await
    }

    /// As [`Portal::client`], the user's Microsoft account linked to the
    /// directory user `object_id` (whose mailbox is theirs) when given.
    async fn client_linked(&self, email: &str, role: Role, object_id: Option<&str>) -> Client {
        let new = NewPortalUser { email: email.into(), display_name: String::new(), password_hash: None, role };
        let user = self.store.create_portal_user(self.ws, &new).await.unwrap();
        if let Some(oid) = object_id {
            self.store.link_microsoft_account(self.ws, user, "tenant-1", oid).await.unwrap();
        }
        let token = format!("session-{}", random_suffix());
        let csrf = format!("csrf-{}", random_suffix());
        let now = Utc::now();
        self.store.create_session(self.ws, user, &token, &csrf, now, now + Duration::hours(1)).await.unwrap();
        let mut client = self.anonymous();
        client.cookie = Some(format!("__Host-tac_session={token}"));
        client.csrf = Some(csrf);
        client
    }

    fn anonymous(&self) -> Client {
        Client { http: reqwest::Client::new(), base: self.base.clone(), cookie: None, csrf: None }
    }

    async fn stop(mut self) {
        self.server.stop().await;
        if let Some(db) = self.db.take() {
            db.close().await;
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    /// Sent as `X-CSRF-Token` on unsafe methods when set.
    csrf: Option<String>,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    text: String,
    json: Value,
}

impl Client {
    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if method != Method::GET {
            request = request.header("origin", &self.base);
            if let Some(csrf) = &self.csrf {
                request = request.header("x-csrf-token", csrf);
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Sends a raw body with a content type.
    async fn raw(&self, method: Method, path: &str, content_type: &str, body: &str) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("origin", &self.base)
            .body(body.to_owned());
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the portal answers");
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, content_type, text, json }
    }
}

/// Asserts a problem+json answer with `status`; returns its body.
#[track_caller]
fn problem(reply: &Reply, status: u16) -> &Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.content_type, "application/problem+json", "{}", reply.text);
    for member in ["type", "title", "status", "detail", "instance"] {
        assert!(reply.json.get(member).is_some(), "problem without {member}: {}", reply.text);
    }
    assert_eq!(reply.json["status"], status);
    assert!(!reply.json["detail"].as_str().unwrap().is_empty());
    &reply.json
}

/// The fields a 422's `errors` names.
#[track_caller]
fn invalid_fields(reply: &Reply) -> Vec<String> {
    let body = problem(reply, 422);
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a 422 lists its errors: {}", reply.text))
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

// ---- fixtures --------------------------------------------------------------------

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0).single().expect("BUG: fixture date is valid")
}

/// Contoso's directory (Ann, Bob at `domain`) and one mailbox, Ann's.
async fn directory(store: &Store, ws: WorkspaceId, domain: &str) -> MailboxId {
    common::fixtures::directory(store, ws, domain).await;
    store.upsert_mailbox(ws, "u-ann", &format!("ann@{domain}")).await.unwrap()
}

/// `count` emails between `external` and Ann, alternating direction, one
/// hour apart from March 1st, with `marker` in every subject and body.
async fn mail(
    store: &Store,
    ws: WorkspaceId,
    mailbox: MailboxId,
    domain: &str,
    external: &str,
    count: u32,
    marker: &str,
) {
    let ann = format!("ann@{domain}");
    let page: Vec<(EmailRecord, EmailCopy)> = (0..count)
        .map(|i| {
            let inbound = i % 2 == 0;
            let (from, to) = if inbound { (external, ann.as_str()) } else { (ann.as_str(), external) };
            let when = at(1, 0) + Duration::hours(i64::from(i));
            let id = format!("<{marker}-{i}@example>");
            let participants =
                vec![participant(ParticipantRole::From, from, "From"), participant(ParticipantRole::To, to, "To")];
            let body = format!("<p>{marker} body {i}</p><img src=\"https://tracker.example/p.gif\">");
            let record = EmailRecord {
                conversation_id: Some(format!("conv-{marker}")),
                body_preview: format!("{marker} body {i}"),
                ..email(&id, &format!("{marker} subject {i}"), &body, when, participants)
            };
            let direction = if inbound { Direction::Inbound } else { Direction::Outbound };
            let copy = EmailCopy { graph_id: format!("g-{id}"), folder_id: "inbox".into(), direction, is_read: false };
            (record, copy)
        })
        .collect();
    let cursor = SyncCursor::NextLink(format!("https://graph.example/v1.0/x?$skiptoken={marker}"));
    store
        .apply_mail_page(ws, mailbox, "inbox", &page, &[], &[], &cursor, tac_store::RoundState::default())
        .await
        .unwrap();
}

async fn meeting(store: &Store, ws: WorkspaceId, mailbox: MailboxId, domain: &str, external: &str, marker: &str) {
    let record = fixtures::meeting(
        &format!("uid-{marker}"),
        &format!("{marker} meeting"),
        at(10, 14),
        participant(ParticipantRole::Organizer, &format!("ann@{domain}"), "Ann"),
        vec![attendee(external, "External", "accepted")],
    );
    let copy = MeetingCopy { graph_id: format!("ev-{marker}"), response: "organizer".into(), is_organizer: true };
    let cursor = SyncCursor::DeltaLink(format!("https://graph.example/v1.0/cal?$deltatoken={marker}"));
    store.apply_calendar_page(ws, mailbox, &[(record, copy)], &[], &[], &cursor).await.unwrap();
}

/// Workspace "default": Zoe at fabrikam with 5 emails and a meeting.
async fn seed_default(portal: &Portal) -> ContactId {
    let mailbox = directory(&portal.store, portal.ws, "contoso.com").await;
    mail(&portal.store, portal.ws, mailbox, "contoso.com", "zoe@fabrikam.com", 5, "zoe").await;
    meeting(&portal.store, portal.ws, mailbox, "contoso.com", "zoe@fabrikam.com", "zoe").await;
    contact(&portal.store, portal.ws, "Zoe Client", "zoe@fabrikam.com").await
}

fn email_ids(timeline: &Value) -> Vec<String> {
    timeline["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == "email")
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

// ---- the OpenAPI document through Python's validators ------------------------------

/// Runs a Python snippet with `args`; `None` when python3 is missing.
fn python(script: &str, args: &[&str]) -> Option<std::process::Output> {
    match std::process::Command::new("python3").arg("-c").arg(script).args(args).output() {
        Ok(output) => Some(output),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: python3 is not installed, so the OpenAPI document is not validated here.");
            None
        }
        Err(e) => panic!("could not run python3: {e}"),
    }
}

const NEED_VALIDATOR: &str = "python3 cannot import openapi_spec_validator: `pip install openapi-spec-validator` \
                              (it brings jsonschema too), then run the tests again";

fn write_temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tac-api-{}-{name}", random_suffix()));
    std::fs::write(&path, text).expect("write a temporary file");
    path
}

/// Validates `instance` against `#/components/schemas/{schema}` of the
/// served OpenAPI document (OAS 3.1 dialect, references resolved).
fn assert_conforms(document: &str, schema: &str, instance: &Value) {
    const SCRIPT: &str = r##"
import json, sys
try:
    from openapi_schema_validator import OAS31Validator
except ImportError:
    sys.exit(3)
doc = json.load(open(sys.argv[1]))
instance = json.load(open(sys.argv[3]))
root = {"$ref": "#/components/schemas/" + sys.argv[2], "components": doc["components"]}
errors = sorted(OAS31Validator(root).iter_errors(instance), key=lambda e: list(e.absolute_path))
for e in errors[:5]:
    print("/".join(map(str, e.absolute_path)) + ": " + e.message)
sys.exit(1 if errors else 0)
"##;
    let doc_path = write_temp("openapi.json", document);
    let instance_path = write_temp("instance.json", &instance.to_string());
    let output = python(SCRIPT, &[doc_path.to_str().unwrap(), schema, instance_path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&doc_path);
    let _ = std::fs::remove_file(&instance_path);
    let Some(output) = output else { return };
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!("{NEED_VALIDATOR}"),
        _ => panic!(
            "the response does not match schema {schema}:\n{}{}\n{instance:#}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_1() {
    let portal = Portal::sqlite().await;
    let reply = portal.anonymous().get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, 200, "the document needs no session");
    assert_eq!(reply.json["openapi"], "3.1.0");
    let path = write_temp("openapi.json", &reply.text);
    const SCRIPT: &str = r#"
import sys
try:
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename
except ImportError:
    sys.exit(3)
spec, _ = read_from_filename(sys.argv[1])
validate(spec)
"#;
    let output = python(SCRIPT, &[path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    if let Some(output) = output {
        match output.status.code() {
            Some(0) => {}
            Some(3) => panic!("{NEED_VALIDATOR}"),
            _ => panic!("openapi.json is not valid OpenAPI 3.1:\n{}", String::from_utf8_lossy(&output.stderr)),
        }
    }
    portal.stop().await;
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_needs_a_session_except_the_document() {
    let portal = Portal::sqlite().await;
    let anonymous = portal.anonymous();
    let doc = anonymous.get("/api/v1/openapi.json").await.json;
    let mut seen = 0;
    for (method, path) in tac_web::API_ROUTES {
        let operation = &doc["paths"][*path][*method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let concrete = path.replace("{id}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = anonymous.call(method.clone(), &concrete, None).await;
        if *path == "/api/v1/openapi.json" {
            assert_eq!(reply.status, 200);
        } else {
            problem(&reply, 401);
            assert!(operation["security"].as_array().is_some_and(|s| !s.is_empty()), "{path} documents its security");
        }
        seen += 1;
    }
    assert!(seen >= 17, "every route was tried");
    portal.stop().await;
}

// ---- authorization and CSRF ------------------------------------------------------

#[tokio::test]
async fn members_may_read_but_admin_endpoints_are_403_and_unsafe_methods_need_the_csrf_header() {
    let db = Db::sqlite("api-test").await;
    let portal = Portal::start(&db.store, "default", Some(SyncTrigger::new())).await;
    let zoe = seed_default(&portal).await;
    let member = portal.client("member@contoso.com", Role::Member).await;

    let me = member.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["role"], "member");
    assert_eq!(me.json["csrf_token"], member.csrf.as_deref().unwrap());

    for path in ["/api/v1/integration"] {
        problem(&member.get(path).await, 403);
    }
    problem(&member.call(Method::POST, "/api/v1/sync", None).await, 403);

    // Without the header (or with a wrong one), nothing changes.
    let mut no_token = portal.client("other@contoso.com", Role::Admin).await;
    no_token.csrf = None;
    let mut wrong = portal.client("third@contoso.com", Role::Admin).await;
    wrong.csrf = Some("not-the-token".into());
    for client in [&no_token, &wrong] {
        let created =
            client.call(Method::POST, "/api/v1/contacts", Some(json!({"emails": ["new@fabrikam.com"]}))).await;
        let body = problem(&created, 403);
        assert!(body["detail"].as_str().unwrap().contains("X-CSRF-Token"), "{body}");
        problem(&client.call(Method::PATCH, &format!("/api/v1/contacts/{zoe}"), Some(json!({"name": "X"}))).await, 403);
        problem(&client.call(Method::DELETE, &format!("/api/v1/contacts/{zoe}"), None).await, 403);
        problem(&client.call(Method::POST, "/api/v1/sync", None).await, 403);
    }
    assert_eq!(member.get(&format!("/api/v1/contacts/{zoe}")).await.json["name"], "Zoe Client", "nothing changed");
    assert!(
        portal
            .store
            .contact_by_email(portal.ws, &tac_core::address::normalize("new@fabrikam.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // Another site's Origin is refused even with the token.
    let cross = member
        .http
        .post(format!("{}/api/v1/contacts", member.base))
        .header("cookie", member.cookie.as_deref().unwrap())
        .header("x-csrf-token", member.csrf.as_deref().unwrap())
        .header("origin", "https://evil.example")
        .json(&json!({"emails": ["new@fabrikam.com"]}));
    problem(&member.send(cross).await, 403);

    // Without a session: 401, whatever the method.
    let anonymous = portal.anonymous();
    problem(&anonymous.get("/api/v1/me").await, 401);
    problem(&anonymous.call(Method::POST, "/api/v1/contacts", Some(json!({"emails": ["a@b.example"]}))).await, 401);
    portal.stop().await;
    db.close().await;
}

#[tokio::test]
async fn admins_request_a_sync_pass_or_get_409_without_background_sync() {
    let db = Db::sqlite("api-test").await;
    let trigger = SyncTrigger::new();
    let with_sync = Portal::start(&db.store, "default", Some(trigger.clone())).await;
    let admin = with_sync.client("root@contoso.com", Role::Admin).await;
    let reply = admin.call(Method::POST, "/api/v1/sync", None).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(reply.json, json!({"status": "requested"}));
    tokio::time::timeout(std::time::Duration::from_secs(5), trigger.requested()).await.expect("a pass was requested");
    with_sync.stop().await;

    let without = Portal::start(&db.store, "default", None).await;
    let admin = without.client("root2@contoso.com", Role::Admin).await;
    let body = problem(&admin.call(Method::POST, "/api/v1/sync", None).await, 409).clone();
    assert!(body["detail"].as_str().unwrap().contains("worker"), "{body}");
    without.stop().await;
    db.close().await;
}

// ---- the secret -------------------------------------------------------------------

#[tokio::test]
async fn the_integration_shows_when_the_secret_was_set_but_never_the_secret() {
    let portal = Portal::sqlite().await;
    let admin = portal.client("root@contoso.com", Role::Admin).await;
    problem(&admin.get("/api/v1/integration").await, 404);

    const SECRET: &str = "Sup3r~Secret.Value_do-not-leak";
    let settings = IntegrationSettings::new("11111111-2222-3333-4444-555555555555", "client-abc");
    portal
        .store
        .save_integration(portal.ws, &settings, Some(&SecretString::from(SECRET)), &MasterKey::from_bytes(KEY), "test")
        .await
        .unwrap();
    let mailbox = directory(&portal.store, portal.ws, "contoso.com").await;
    mail(&portal.store, portal.ws, mailbox, "contoso.com", "zoe@fabrikam.com", 2, "zoe").await;
    let zoe = contact(&portal.store, portal.ws, "Zoe", "zoe@fabrikam.com").await;

    let integration = admin.get("/api/v1/integration").await;
    assert_eq!(integration.status, 200, "{}", integration.text);
    assert_eq!(integration.json["client_id"], "client-abc");
    assert!(integration.json["client_secret_set_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(integration.json.get("client_secret").is_none());
    let document = admin.get("/api/v1/openapi.json").await.text;
    assert_conforms(&document, "Integration", &integration.json);

    let mut all = vec![integration.text];
    for path in [
        "/api/v1/me".to_owned(),
        "/api/v1/mailboxes".to_owned(),
        "/api/v1/contacts".to_owned(),
        format!("/api/v1/contacts/{zoe}"),
        format!("/api/v1/contacts/{zoe}/timeline"),
        format!("/api/v1/contacts/{zoe}/summary"),
        "/api/v1/search?q=zoe".to_owned(),
        "/api/v1/openapi.json".to_owned(),
    ] {
        let reply = admin.get(&path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        all.push(reply.text);
    }
    for text in all {
        assert!(!text.contains(SECRET) && !text.contains("Sup3r"), "the secret leaked: {text}");
    }
    portal.stop().await;
}

// ---- schemathesis ---------------------------------------------------------------------

/// How many generated requests schemathesis sends per operation and phase:
/// enough to reach every parameter's edge cases, bounded so the run takes
/// about a minute on two cores.
const SCHEMATHESIS_EXAMPLES: &str = "100";

/// schemathesis reads the document the portal serves and fuzzes every
/// operation as a signed-in admin (the session cookie, the session's CSRF
/// token, a same-origin `Origin`) against seeded data: no answer may be a
/// 5xx or break the document's schemas, status codes and content types.
/// The seed is fixed, so a failure reproduces; schemathesis prints the
/// `curl` that does.
#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let portal = Portal::sqlite().await;
    let zoe = seed_default(&portal).await;
    let spare = contact(&portal.store, portal.ws, "Spare Contact", "spare@litware.example").await;
    let settings = IntegrationSettings::new("11111111-2222-3333-4444-555555555555", "client-abc");
    let secret = SecretString::from("fuzzed-portal-secret");
    portal
        .store
        .save_integration(portal.ws, &settings, Some(&secret), &MasterKey::from_bytes(KEY), "test")
        .await
        .unwrap();
    let admin = portal.client("root@contoso.com", Role::Admin).await;
    let timeline = admin.get(&format!("/api/v1/contacts/{zoe}/timeline")).await;
    let email = email_ids(&timeline.json)[0].clone();
    let company = timeline.json["contact"]["company"]["id"].as_str().expect("Zoe's company").to_owned();
    // Real ids, so that requests reach past the 404 (DELETE gets a contact
    // of its own, so the others keep theirs); every other value is generated.
    let config = std::env::temp_dir().join(format!("tac-schemathesis-{}.toml", random_suffix()));
    std::fs::write(
        &config,
        format!(
            r#"[[operations]]
include-path-regex = "^/api/v1/contacts/\\{{id\\}}"
exclude-method = "DELETE"
parameters = {{ "path.id" = "{zoe}" }}

[[operations]]
include-path = "/api/v1/contacts/{{id}}"
include-method = "DELETE"
parameters = {{ "path.id" = "{spare}" }}

[[operations]]
include-path = "/api/v1/companies/{{id}}/timeline"
parameters = {{ "path.id" = "{company}" }}

[[operations]]
include-path = "/api/v1/emails/{{id}}/body"
parameters = {{ "path.id" = "{email}" }}
"#
        ),
    )
    .expect("write the schemathesis config");
    let config_path = config.clone();
    let cookie = admin.cookie.clone().expect("a session cookie");
    let csrf = admin.csrf.clone().expect("a CSRF token");
    let base = portal.base.clone();
    let report = std::env::temp_dir().join(format!("tac-schemathesis-{}", random_suffix()));
    // schemathesis keeps its report and a cache of past crashes in the
    // folder it runs in: a temporary one, removed afterwards.
    std::fs::create_dir_all(&report).expect("a folder for schemathesis");
    let report_dir = report.clone();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-m", "schemathesis.cli", "--config-file"])
            .arg(&config_path)
            .args(["run", &format!("{base}/api/v1/openapi.json")])
            .args(["--url", &base])
            .args(["--header", &format!("Cookie: {cookie}")])
            .args(["--header", &format!("X-CSRF-Token: {csrf}")])
            .args(["--header", &format!("Origin: {base}")])
            .args([
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            ])
            .args(["--max-examples", SCHEMATHESIS_EXAMPLES, "--seed", "20261203", "--workers", "1"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--request-timeout", "30", "--no-color"])
            .arg("--report-dir")
            .arg(&report_dir)
            .current_dir(&report_dir)
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
    })
    .await
    .expect("the schemathesis task");
    let _ = std::fs::remove_dir_all(&report);
    let _ = std::fs::remove_file(&config);
    let output = match run {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("python3 is not installed: scripts/test needs it to run schemathesis")
        }
        Err(e) => panic!("could not run schemathesis: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named"),
        "python3 cannot import schemathesis: run scripts/test, which installs it, or \
         `pip install schemathesis==4.32.5`\n{stderr}"
    );
    assert!(output.status.success(), "schemathesis found problems:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    portal.stop().await;
}

// ---- internal-only mail ---------------------------------------------------------------

/// Ann's mailbox holds an email she sent Bob and a meeting with him; the
/// workspace keeps internal-only content. Bob, signed in with Microsoft,
/// finds and opens neither (his mailbox holds no copy); Ann does; an admin
/// does only while the workspace keeps them.
#[tokio::test]
async fn a_member_never_finds_or_opens_a_colleagues_internal_only_mail() {
    let portal = Portal::sqlite().await;
    let (store, ws) = (&portal.store, portal.ws);
    let ann_mailbox = directory(store, ws, "contoso.com").await;
    store.upsert_mailbox(ws, "u-bob", "bob@contoso.com").await.unwrap();
    let keep = |keep_internal| PrivacySettings { keep_internal, ..PrivacySettings::default() };
    store.set_privacy_settings(ws, keep(true), "root@contoso.com").await.unwrap();
    mail(store, ws, ann_mailbox, "contoso.com", "bob@contoso.com", 1, "salary").await;
    meeting(store, ws, ann_mailbox, "contoso.com", "bob@contoso.com", "salary").await;
    // The fixtures are stored unclassified; the next directory change
    // (a domain verified) classifies them, as after an upgrade.
    let users = store.directory_users(ws).await.unwrap();
    let domains = [
        TenantDomain { name: "contoso.com".into(), is_default: true, is_initial: false },
        TenantDomain { name: "contoso-legacy.example".into(), is_default: false, is_initial: false },
    ];
    store.replace_directory(ws, &users, &[], &[], &domains).await.unwrap();
    assert_eq!(store.classify_internal_only(ws).await.unwrap(), 0, "already classified against this directory");

    let ann = portal.client_linked("ann@contoso.com", Role::Member, Some("u-ann")).await;
    let bob = portal.client_linked("bob@contoso.com", Role::Member, Some("u-bob")).await;
    let admin = portal.client("root@contoso.com", Role::Admin).await;
    let hits = |reply: &Reply| reply.json["items"].as_array().map_or(usize::MAX, Vec::len);

    let found = ann.get("/api/v1/search?q=salary").await;
    assert_eq!(hits(&found), 2, "{}", found.text);
    let email = email_ids(&found.json)[0].clone();
    let number = email.trim_start_matches("email-");
    assert_eq!(ann.get(&format!("/api/v1/emails/{email}/body")).await.status, 200);
    assert_eq!(ann.get(&format!("/emails/{number}")).await.status, 200);

    assert_eq!(hits(&bob.get("/api/v1/search?q=salary").await), 0);
    for path in [format!("/api/v1/emails/{email}/body"), format!("/emails/{number}"), format!("/emails/{number}/body")]
    {
        assert_eq!(bob.get(&path).await.status, 404, "{path}");
    }
    assert_eq!(hits(&admin.get("/api/v1/search?q=salary").await), 2);
    assert_eq!(admin.get(&format!("/emails/{number}")).await.status, 200);

    store.set_privacy_settings(ws, keep(false), "root@contoso.com").await.unwrap();
    assert_eq!(hits(&admin.get("/api/v1/search?q=salary").await), 0);
    assert_eq!(admin.get(&format!("/emails/{number}")).await.status, 404);
    assert_eq!(admin.get(&format!("/api/v1/emails/{email}/body")).await.status, 404);
    let own = ann.get(&format!("/api/v1/emails/{email}/body")).await;
    assert_eq!(own.status, 403, "Ann's own, but its content is gone: {}", own.text);
    portal.stop().await;
}

// ---- workspace isolation ------------------------------------------------------------

async fn another_workspaces_ids_are_404_and_never_listed(db: Db) {
    let a = Portal::start(&db.store, "default", None).await;
    let b = Portal::start(&db.store, "other", None).await;
    let zoe = seed_default(&a).await;

    // Workspace b: its own directory, mail and contact, all with a marker word.
    let b_mailbox = directory(&b.store, b.ws, "northwind.example").await;
    mail(&b.store, b.ws, b_mailbox, "northwind.example", "yan@litware.example", 3, "secretb").await;
    let yan = contact(&b.store, b.ws, "Yan Other", "yan@litware.example").await;
    let yan_company = b.store.contact(b.ws, yan).await.unwrap().company.expect("a company from the work domain").id;
    let b_admin = b.client("root@northwind.example", Role::Admin).await;
    let b_timeline = b_admin.get(&format!("/api/v1/contacts/{yan}/timeline")).await;
    assert_eq!(b_timeline.status, 200, "{}", b_timeline.text);
    let b_email = email_ids(&b_timeline.json)[0].clone();
    assert_eq!(b_admin.get(&format!("/api/v1/emails/{b_email}/body")).await.status, 200);

    let a_admin = a.client("root@contoso.com", Role::Admin).await;
    for path in [
        format!("/api/v1/contacts/{yan}"),
        format!("/api/v1/contacts/{yan}/timeline"),
        format!("/api/v1/contacts/{yan}/summary"),
        format!("/api/v1/companies/{yan_company}/timeline"),
        format!("/api/v1/emails/{b_email}/body"),
    ] {
        problem(&a_admin.get(&path).await, 404);
    }
    let yan_path = format!("/api/v1/contacts/{yan}");
    problem(&a_admin.call(Method::PATCH, &yan_path, Some(json!({"name": "Taken over"}))).await, 404);
    problem(
        &a_admin.call(Method::POST, &format!("{yan_path}/emails"), Some(json!({"email": "x@litware.example"}))).await,
        404,
    );
    problem(
        &a_admin
            .call(Method::DELETE, &format!("{yan_path}/emails"), Some(json!({"email": "yan@litware.example"})))
            .await,
        404,
    );
    problem(&a_admin.call(Method::DELETE, &yan_path, None).await, 404);
    let still = b.store.contact(b.ws, yan).await.unwrap();
    assert_eq!((still.name.as_str(), still.emails.len()), ("Yan Other", 1), "workspace b is untouched");

    // Lists and search never include the other workspace.
    let contacts = a_admin.get("/api/v1/contacts?limit=500").await;
    assert_eq!(contacts.status, 200);
    let names: Vec<&str> =
        contacts.json["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Zoe Client"]);
    for path in ["/api/v1/contacts?search=yan", "/api/v1/search?q=secretb", "/api/v1/mailboxes"] {
        let reply = a_admin.get(path).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let shown = if path.contains("q=") { reply.json["items"].to_string() } else { reply.text.clone() };
        assert!(
            !shown.contains("secretb") && !shown.contains("litware") && !shown.contains("northwind"),
            "{path}: {shown}"
        );
    }
    assert_eq!(a_admin.get("/api/v1/search?q=zoe").await.json["items"].as_array().unwrap().len(), 6);
    // And the other way round: b's session does not open a's contact.
    problem(&b_admin.get(&format!("/api/v1/contacts/{zoe}")).await, 404);
    // A session of workspace b is no session on workspace a's portal.
    let mut crossing = a.anonymous();
    crossing.cookie = b_admin.cookie.clone();
    problem(&crossing.get("/api/v1/me").await, 401);
    a.stop().await;
    b.stop().await;
    db.close().await;
}

#[tokio::test]
async fn another_workspaces_ids_are_404_and_never_listed_on_sqlite() {
    another_workspaces_ids_are_404_and_never_listed(Db::sqlite("api-test").await).await;
}

#[tokio::test]
async fn another_workspaces_ids_are_404_and_never_listed_on_postgres() {
    another_workspaces_ids_are_404_and_never_listed(Db::postgres("api").await).await;
}

// ---- contacts ----------------------------------------------------------------------

#[tokio::test]
async fn contacts_are_created_read_changed_and_deleted_with_their_history() {
    let portal = Portal::sqlite().await;
    let mailbox = directory(&portal.store, portal.ws, "contoso.com").await;
    mail(&portal.store, portal.ws, mailbox, "contoso.com", "zoe@fabrikam.com", 4, "zoe").await;
    mail(&portal.store, portal.ws, mailbox, "contoso.com", "zoe.private@gmail.example", 2, "alt").await;
    let client = portal.client("member@contoso.com", Role::Member).await;
    let document = client.get("/api/v1/openapi.json").await.text;

    let created = client
        .call(Method::POST, "/api/v1/contacts", Some(json!({"emails": ["Zoe@Fabrikam.com"], "name": "Zoe Client"})))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_conforms(&document, "Contact", &created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json["emails"], json!(["zoe@fabrikam.com"]));
    assert_eq!(created.json["company"]["domain"], "fabrikam.com");
    assert!(created.json["last_interaction_at"].as_str().is_some_and(|t| t.ends_with('Z')), "history linked at once");

    let path = format!("/api/v1/contacts/{id}");
    let renamed = client.call(Method::PATCH, &path, Some(json!({"name": "Zoe C.", "company": null}))).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.json["name"], "Zoe C.");
    assert!(renamed.json["company"].is_null(), "null clears the company");

    let added =
        client.call(Method::POST, &format!("{path}/emails"), Some(json!({"email": "zoe.private@gmail.example"}))).await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.json["emails"].as_array().unwrap().len(), 2);
    let timeline = client.get(&format!("{path}/timeline?limit=500")).await;
    assert_eq!(email_ids(&timeline.json).len(), 6, "the new address's history joined");

    let removed = client
        .call(Method::DELETE, &format!("{path}/emails"), Some(json!({"email": "zoe.private@gmail.example"})))
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json["emails"], json!(["zoe@fabrikam.com"]));
    let only = client.call(Method::DELETE, &format!("{path}/emails"), Some(json!({"email": "zoe@fabrikam.com"}))).await;
    problem(&only, 409);

    // An address another contact has is a conflict; one of ours is refused.
    let taken = client.call(Method::POST, "/api/v1/contacts", Some(json!({"emails": ["zoe@fabrikam.com"]}))).await;
    problem(&taken, 409);
    let internal = client.call(Method::POST, "/api/v1/contacts", Some(json!({"emails": ["bob@contoso.com"]}))).await;
    assert_eq!(invalid_fields(&internal), ["emails"]);

    let list = client.get("/api/v1/contacts?sort=last_interaction").await;
    assert_eq!(list.status, 200);
    assert_conforms(&document, "ContactPage", &list.json);
    assert_eq!(list.json["items"][0]["id"], id.as_str());

    let deleted = client.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    problem(&client.get(&path).await, 404);
    assert_eq!(portal.store.email_count(portal.ws).await.unwrap(), 6, "the synced mail stays");
    portal.stop().await;
}

/// Follows `next_cursor` from `first` (a path with a query) to the last
/// page; the `key` of every item in order, and how many pages there were.
async fn every_page(client: &Client, first: &str, key: &str) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut next = first.to_owned();
    let mut pages = 0;
    loop {
        let page = client.get(&next).await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        seen.extend(page.json["items"].as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_owned()));
        match page.json["next_cursor"].as_str() {
            Some(cursor) => next = format!("{first}&cursor={cursor}"),
            None => return (seen, pages),
        }
    }
}

#[tokio::test]
async fn contact_lists_page_with_an_opaque_cursor() {
    let portal = Portal::sqlite().await;
    for i in 0..5 {
        contact(&portal.store, portal.ws, &format!("Person {i}"), &format!("p{i}@fabrikam.com")).await;
    }
    let client = portal.client("member@contoso.com", Role::Member).await;
    let (names, _) = every_page(&client, "/api/v1/contacts?limit=2", "name").await;
    assert_eq!(names, ["Person 0", "Person 1", "Person 2", "Person 3", "Person 4"]);
    let found = client.get("/api/v1/contacts?search=PERSON%203").await;
    assert_eq!(found.json["items"].as_array().unwrap().len(), 1);
    portal.stop().await;
}

// ---- bad input ------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_is_a_problem_with_the_fields_never_a_500() {
    let portal = Portal::sqlite().await;
    let zoe = seed_default(&portal).await;
    let client = portal.client("member@contoso.com", Role::Member).await;
    let contact_path = format!("/api/v1/contacts/{zoe}");
    bodies_that_are_not_json_objects_are_refused(&client).await;
    every_bad_member_is_named(&client, &contact_path).await;
    every_bad_query_parameter_is_named(&client, &format!("{contact_path}/timeline")).await;
    unknown_ids_routes_and_methods_are_404_and_405(&client, &contact_path).await;
    portal.stop().await;
}

/// Malformed JSON, JSON that is not an object, and not JSON at all.
async fn bodies_that_are_not_json_objects_are_refused(client: &Client) {
    let broken = client.raw(Method::POST, "/api/v1/contacts", "application/json", "{\"emails\": [").await;
    assert!(problem(&broken, 400)["detail"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(invalid_fields(&client.raw(Method::POST, "/api/v1/contacts", "application/json", "[]").await), ["body"]);
    problem(&client.raw(Method::POST, "/api/v1/contacts", "text/plain", "emails=a@b.example").await, 415);
    problem(&client.raw(Method::POST, "/api/v1/contacts", "application/x-www-form-urlencoded", "emails=x").await, 415);
}

/// Validation of bodies: every bad member at once, each by name.
async fn every_bad_member_is_named(client: &Client, contact_path: &str) {
    let bad = client
        .call(
            Method::POST,
            "/api/v1/contacts",
            Some(json!({"emails": ["ok@fabrikam.com", "not an address", 3], "colour": "red"})),
        )
        .await;
    assert_eq!(invalid_fields(&bad), ["emails[2]", "emails[1]", "colour"]);
    assert_eq!(invalid_fields(&client.call(Method::POST, "/api/v1/contacts", Some(json!({}))).await), ["emails"]);
    assert_eq!(
        invalid_fields(&client.call(Method::POST, "/api/v1/contacts", Some(json!({"emails": []}))).await),
        ["emails"]
    );
    let long_name = "x".repeat(1000);
    assert_eq!(
        invalid_fields(
            &client
                .call(Method::POST, "/api/v1/contacts", Some(json!({"emails": ["a@fabrikam.com"], "name": long_name})))
                .await
        ),
        ["name"]
    );
    assert_eq!(invalid_fields(&client.call(Method::PATCH, contact_path, Some(json!({"name": ""}))).await), ["name"]);
    assert_eq!(invalid_fields(&client.call(Method::PATCH, contact_path, Some(json!({"name": 5}))).await), ["name"]);
    assert_eq!(invalid_fields(&client.call(Method::PATCH, contact_path, Some(json!({}))).await), ["body"]);
    assert_eq!(
        invalid_fields(
            &client.call(Method::POST, &format!("{contact_path}/emails"), Some(json!({"email": "nope"}))).await
        ),
        ["email"]
    );
    assert_eq!(
        invalid_fields(
            &client
                .call(Method::DELETE, &format!("{contact_path}/emails"), Some(json!({"email": "other@fabrikam.com"})))
                .await
        ),
        ["email"]
    );
}

/// Query parameters of the timeline, the contact list and search.
async fn every_bad_query_parameter_is_named(client: &Client, timeline: &str) {
    for (query, field) in [
        ("kind=note", "kind"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("from=yesterday", "from"),
        ("from=2025-03-05&to=2025-03-01", "to"),
        ("direction=sideways", "direction"),
        ("team_member=nobody@contoso.com", "team_member"),
        ("colour=red", "colour"),
        ("kind=email&kind=meeting", "kind"),
    ] {
        let reply = client.get(&format!("{timeline}?{query}")).await;
        assert_eq!(invalid_fields(&reply), [field], "{query}");
    }
    assert_eq!(invalid_fields(&client.get("/api/v1/contacts?sort=age").await), ["sort"]);
    assert_eq!(invalid_fields(&client.get("/api/v1/contacts?cursor=1700000000.email.1").await), ["cursor"]);
    assert_eq!(invalid_fields(&client.get("/api/v1/search").await), ["q"]);
    let punctuation = client.get("/api/v1/search?q=%22%28%29%20OR%20*").await;
    assert_eq!(punctuation.status, 200, "operators are plain text: {}", punctuation.text);
    assert_eq!(punctuation.json["items"], json!([]));
    assert_eq!(invalid_fields(&client.get("/api/v1/search?q=x&from=2025-01-01").await), ["from"]);
    let pasted = client.get(&format!("/api/v1/search?q={}", "word+".repeat(300))).await;
    assert_eq!(pasted.status, 422, "{}", pasted.text);
    assert!(pasted.text.contains("at most 200 characters"), "{}", pasted.text);
    let many = client.get(&format!("/api/v1/search?q={}", "word+".repeat(9))).await;
    assert_eq!(invalid_fields(&many), ["q"]);
}

/// Unknown or malformed ids, and unknown routes and methods.
async fn unknown_ids_routes_and_methods_are_404_and_405(client: &Client, contact_path: &str) {
    for path in [
        "/api/v1/contacts/999999",
        "/api/v1/contacts/abc",
        "/api/v1/contacts/999999/timeline",
        "/api/v1/companies/999999/timeline",
        "/api/v1/emails/999999/body",
        "/api/v1/emails/meeting-1/body",
        "/api/v1/nothing-here",
    ] {
        problem(&client.get(path).await, 404);
    }
    problem(&client.call(Method::PUT, contact_path, Some(json!({"name": "x"}))).await, 405);
}

// ---- timelines, search and bodies ------------------------------------------------------

#[tokio::test]
async fn the_timeline_is_the_documented_json_and_pages_with_its_cursor() {
    let portal = Portal::sqlite().await;
    let zoe = seed_default(&portal).await;
    let client = portal.client("member@contoso.com", Role::Member).await;
    let document = client.get("/api/v1/openapi.json").await.text;
    let path = format!("/api/v1/contacts/{zoe}/timeline");

    let full = client.get(&path).await;
    assert_eq!(full.status, 200, "{}", full.text);
    assert_conforms(&document, "ContactTimeline", &full.json);
    let t = &full.json;
    assert_contact_timeline_json(t, zoe);

    // The same JSON as `tac-crm timeline --json` builds, from the shared serialiser.
    let contact = portal.store.contact(portal.ws, zoe).await.unwrap();
    let now = Utc::now();
    let page = portal.store.timeline(portal.ws, zoe, &tac_store::TimelineQuery::default(), now).await.unwrap();
    let summary = portal.store.contact_summary(portal.ws, zoe, now).await.unwrap();
    let shared = serde_json::to_value(tac_store::json::contact_timeline(&contact, &summary, &page)).unwrap();
    assert_eq!(shared["items"], t["items"]);
    assert_eq!(shared["contact"], t["contact"]);

    // Paging: two at a time, nothing skipped or repeated.
    let (seen, pages) = every_page(&client, &format!("{path}?limit=2"), "id").await;
    let all: Vec<String> =
        t["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen, all);
    assert_eq!(pages, 3);

    timeline_filters_narrow_the_items(&client, &path).await;
    let company = t["contact"]["company"]["id"].as_str().expect("a company from fabrikam.com");
    the_other_reads_share_the_item_shape(&client, &document, zoe, company).await;
    portal.stop().await;
}

/// Zoe's timeline (`t`) as seeded: her contact, the summary, a meeting
/// then five emails newest first, each email with every member.
fn assert_contact_timeline_json(t: &Value, zoe: ContactId) {
    assert_eq!(t["contact"]["id"], zoe.to_string());
    assert_eq!(t["contact"]["emails"], json!(["zoe@fabrikam.com"]));
    assert!(t["contact"].get("company").is_some());
    assert!(t["summary"]["last_interaction_at"].as_str().unwrap().ends_with('Z'));
    assert!(t["summary"].get("next_meeting_at").is_some_and(Value::is_null), "hidden or absent is null, present");
    let items = t["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0]["kind"], "meeting", "newest first");
    assert_eq!(items[0]["start"], "2025-03-10T14:00:00Z");
    let email = &items[1];
    for member in tac_test_support::EMAIL_ITEM_MEMBERS {
        assert!(email.get(member).is_some(), "email item without {member}");
    }
    assert_eq!(email["occurred_at"], "2025-03-01T04:00:00Z");
    assert_eq!(email["mailboxes"], json!(["ann@contoso.com"]));
    assert!(t["next_cursor"].is_null());
}

/// The timeline at `path` filtered by kind, direction, dates, words and
/// team member.
async fn timeline_filters_narrow_the_items(client: &Client, path: &str) {
    let count = |reply: &Reply| reply.json["items"].as_array().unwrap().len();
    let meetings = client.get(&format!("{path}?kind=meeting")).await;
    assert_eq!(count(&meetings), 1);
    let inbound = client.get(&format!("{path}?kind=email&direction=inbound")).await;
    assert_eq!(count(&inbound), 3);
    let window = client.get(&format!("{path}?from=2025-03-01T01:00:00Z&to=2025-03-01T03:00:00%2B00:00")).await;
    assert_eq!(email_ids(&window.json).len(), 2);
    let day = client.get(&format!("{path}?from=2025-03-10&to=2025-03-10")).await;
    assert_eq!(count(&day), 1, "a date `to` includes its day");
    let searched = client.get(&format!("{path}?search=subject%203")).await;
    assert_eq!(count(&searched), 1, "{}", searched.text);
    let member = client.get(&format!("{path}?team_member=ANN@contoso.com")).await;
    assert_eq!(count(&member), 6);
}

/// The summary, the company timeline, search, the mailboxes and `me`
/// match the document's schemas (they share the item shape).
async fn the_other_reads_share_the_item_shape(client: &Client, document: &str, zoe: ContactId, company: &str) {
    let summary = client.get(&format!("/api/v1/contacts/{zoe}/summary")).await;
    assert_eq!(summary.status, 200);
    assert_conforms(document, "Summary", &summary.json);
    let company_timeline = client.get(&format!("/api/v1/companies/{company}/timeline?limit=3")).await;
    assert_eq!(company_timeline.status, 200, "{}", company_timeline.text);
    assert_conforms(document, "CompanyTimeline", &company_timeline.json);
    assert!(company_timeline.json["next_cursor"].is_string());
    let search = client.get("/api/v1/search?q=zoe&kind=email&limit=4").await;
    assert_eq!(search.status, 200, "{}", search.text);
    assert_conforms(document, "SearchResults", &search.json);
    assert_eq!(search.json["items"].as_array().unwrap().len(), 4);
    let mailboxes = client.get("/api/v1/mailboxes").await;
    assert_conforms(document, "MailboxList", &mailboxes.json);
    assert_eq!(mailboxes.json["items"][0]["address"], "ann@contoso.com");
    let me = client.get("/api/v1/me").await;
    assert_conforms(document, "Me", &me.json);
}

#[tokio::test]
async fn hidden_fields_are_null_and_hidden_bodies_are_403() {
    let portal = Portal::sqlite().await;
    let zoe = seed_default(&portal).await;
    let client = portal.client("member@contoso.com", Role::Member).await;
    let document = client.get("/api/v1/openapi.json").await.text;
    let path = format!("/api/v1/contacts/{zoe}/timeline?kind=email");
    let id = email_ids(&client.get(&path).await.json)[0].clone();

    let body = client.get(&format!("/api/v1/emails/{id}/body")).await;
    assert_eq!(body.status, 200, "{}", body.text);
    assert_conforms(&document, "EmailBody", &body.json);
    assert!(body.json["text"].as_str().unwrap().contains("zoe body"));
    assert!(!body.json["html"].as_str().unwrap().contains("tracker.example"), "remote images removed");
    assert_eq!(body.json["blocked_images"], 1);
    let allowed = client.get(&format!("/api/v1/emails/{id}/body?allow_remote_images=true")).await;
    assert!(allowed.json["html"].as_str().unwrap().contains("tracker.example"));
    let numeric = id.trim_start_matches("email-");
    assert_eq!(client.get(&format!("/api/v1/emails/{numeric}/body")).await.status, 200);
    assert_eq!(
        invalid_fields(&client.get(&format!("/api/v1/emails/{id}/body?allow_remote_images=yes")).await),
        ["allow_remote_images"]
    );

    let settings = |visibility| PrivacySettings { visibility, ..PrivacySettings::default() };
    portal.store.set_privacy_settings(portal.ws, settings(Visibility::Metadata), "test").await.unwrap();
    let redacted = client.get(&path).await;
    assert_conforms(&document, "ContactTimeline", &redacted.json);
    let item = &redacted.json["items"][0];
    for member in ["subject", "preview"] {
        assert!(item.get(member).is_some_and(Value::is_null), "{member} is null, not left out: {item}");
    }
    assert_eq!(item["body_available"], false);
    let hidden = client.get(&format!("/api/v1/emails/{id}/body")).await;
    problem(&hidden, 403);
    assert!(!hidden.text.contains("zoe body"));
    portal.stop().await;
}
