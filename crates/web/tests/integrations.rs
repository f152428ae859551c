//! The Integrations page over HTTP, against the real router, a real SQLite
//! store and the Microsoft cloud emulator: saving the connection (the
//! secret is write-only), testing it, the sync health dashboard and "Sync
//! now", the privacy settings, disconnecting, and who may do any of it.

mod common;

use common::{Browser, Page, Portal};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tac_emulator::{Credentials, EmulatorConfig, RunningEmulator};
use tac_store::{ExposeSecret, IntegrationStatus, Role};
use tac_web::SyncTrigger;

const ADMIN: &str = "root@contoso.com";
const MEMBER: &str = "ann@contoso.com";

/// A body with the entities askama writes turned back into characters.
fn text(body: &str) -> String {
    body.replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

async fn emulator() -> RunningEmulator {
    tac_emulator::spawn(EmulatorConfig::default()).await.expect("the emulator starts")
}

/// A portal with an admin and a member, the admin signed in.
async fn admin_portal(portal: Portal) -> (Portal, Browser) {
    portal.add_user(ADMIN, Role::Admin).await;
    portal.add_user(MEMBER, Role::Member).await;
    let browser = portal.signed_in(ADMIN).await;
    (portal, browser)
}

/// As [`admin_portal`], with the emulator running.
async fn admin_portal_with_emulator(portal: Portal) -> (Portal, Browser, RunningEmulator) {
    let (portal, browser) = admin_portal(portal).await;
    (portal, browser, emulator().await)
}

/// A portal on SQLite whose signed-in admin saved the emulator's app with
/// its right secret.
async fn connected_admin_portal() -> (Portal, Browser, RunningEmulator) {
    let (portal, mut browser, emu) = admin_portal_with_emulator(Portal::start().await).await;
    let c = emu.credentials();
    assert_eq!(save(&mut browser, &c, &c.client_secret).await.status, 200);
    (portal, browser, emu)
}

/// The connection form's fields for the emulator, with `secret`.
fn connection<'a>(c: &'a Credentials, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("tenant_id", c.tenant_id.as_str()),
        ("client_id", c.client_id.as_str()),
        ("client_secret", secret),
        ("import_emails", "on"),
        ("calendar_sync", "on"),
        ("scope", "all"),
        ("backfill_days", "365"),
        ("login_url", c.login_url.as_str()),
        ("graph_url", c.graph_url.as_str()),
    ]
}

async fn save(browser: &mut Browser, c: &Credentials, secret: &str) -> Page {
    browser.submit_form("/integrations", &connection(c, secret)).await
}

/// Posts with the session's CSRF token as htmx does (`HX-Request: true`).
async fn htmx_post(browser: &mut Browser, base: &str, path: &str) -> Page {
    let csrf = browser.get("/integrations").await.hidden("csrf");
    let request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("hx-request", "true")
        .header("origin", base)
        .header("x-csrf-token", csrf);
    browser.send(request).await
}

#[tokio::test]
async fn saving_with_errors_keeps_what_was_typed_but_never_the_secret() {
    let (portal, mut browser) = admin_portal(Portal::start().await).await;
    let typed_secret = "Typed~Secret.Value-123";
    let page = browser
        .submit_form(
            "/integrations",
            &[
                ("tenant_id", "not a tenant"),
                ("client_id", "contoso.com"),
                ("client_secret", typed_secret),
                ("import_emails", "on"),
                ("scope", "groups"),
                ("backfill_days", "0"),
                ("login_url", "http://login.example.com"),
                ("graph_url", "https://graph.microsoft.com/v1.0"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("value=\"not a tenant\""), "the tenant is kept");
    assert!(page.body.contains("value=\"contoso.com\""), "the client id is kept");
    assert!(page.body.contains("is not a Tenant ID"), "{}", page.body);
    assert!(page.body.contains("is not a Client ID"));
    assert!(page.body.contains("Enter a number of days between 1 and 3650."));
    assert!(page.body.contains("Choose at least one group, or sync all mailboxes."));
    assert!(page.body.contains("uses plain http"), "the login URL is checked");
    assert!(page.body.contains("aria-invalid=\"true\""));
    assert!(!page.body.contains(typed_secret), "the secret is never rendered back");
    assert!(portal.store.integration_summary(portal.ws).await.unwrap().is_none(), "nothing was saved");

    // A first save without a secret asks for one.
    let emu = emulator().await;
    let c = emu.credentials();
    let page = save(&mut browser, &c, "").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Enter the Client Secret"), "{}", page.body);
    portal.stop().await;
}

#[tokio::test]
async fn the_secret_is_never_in_a_response_after_saving_and_an_empty_field_keeps_it() {
    let (portal, mut browser, emu) = admin_portal_with_emulator(Portal::start().await).await;
    let c = emu.credentials();

    let saved = save(&mut browser, &c, &c.client_secret).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Saved. The client secret is stored encrypted."));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(saved.body.contains(&format!("Set on {today}")), "{}", saved.body);

    // Saving again with the field empty keeps the stored secret.
    let again = save(&mut browser, &c, "").await;
    assert_eq!(again.status, 200, "{}", again.body);
    let stored = portal.store.load_integration(portal.ws, &Portal::key()).await.unwrap().unwrap();
    assert_eq!(stored.client_secret.unwrap().expose_secret(), c.client_secret);
    assert_eq!(stored.settings.tenant_id, c.tenant_id.to_ascii_lowercase());

    let mut bodies = vec![saved.body, again.body];
    bodies.push(browser.get("/integrations").await.body);
    bodies.push(browser.get("/integrations/health").await.body);
    bodies.push(browser.get("/integrations/disconnect").await.body);
    bodies.push(htmx_post(&mut browser, &portal.base, "/integrations/test").await.body);
    bodies.push(browser.submit("/integrations", "/integrations/test", &[]).await.body);
    bodies.push(browser.submit("/integrations", "/integrations/privacy", &[("visibility", "subject")]).await.body);
    for body in &bodies {
        assert!(!body.contains(&c.client_secret), "the secret leaked: {body}");
    }
    portal.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_explained_with_its_aadsts_code_and_fix() {
    let (portal, mut browser, emu) = admin_portal_with_emulator(Portal::start().await).await;
    let c = emu.credentials();
    assert_eq!(save(&mut browser, &c, "not-the-secret").await.status, 200);

    let fragment = htmx_post(&mut browser, &portal.base, "/integrations/test").await;
    assert_eq!(fragment.status, 200, "{}", fragment.body);
    assert!(!fragment.body.contains("<html"), "htmx gets a fragment");
    assert!(
        text(&fragment.body)
            .contains("Token: AADSTS7000215: the client secret is wrong. Paste the secret's Value, not its Secret ID"),
        "{}",
        fragment.body
    );
    assert!(fragment.body.contains('✗'));
    let summary = portal.store.integration_summary(portal.ws).await.unwrap().unwrap();
    assert_eq!(summary.settings.status, IntegrationStatus::Failed);
    portal.stop().await;
}

/// How askama writes text into HTML (the label's apostrophe).
fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('\'', "&#39;").replace('<', "&lt;").replace('>', "&gt;")
}

#[tokio::test]
async fn the_right_secret_passes_every_check() {
    let (portal, mut browser, _emu) = connected_admin_portal().await;

    // Without htmx, the whole page comes back with the result in it.
    let page = browser.submit("/integrations", "/integrations/test", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("The connection works: every check passed."), "{}", page.body);
    assert!(!page.body.contains('✗'), "{}", page.body);
    let lines = tac_graph::Capability::ALL.map(tac_graph::Capability::label);
    for name in std::iter::once("Admin consent").chain(lines) {
        assert!(page.body.contains(&askama_escape(name)), "{name} is listed");
    }
    assert_eq!(page.body.matches("class=\"check-ok\"").count(), 8, "token, consent and six capabilities");
    assert!(
        text(&page.body).contains("User.Read, openid, profile, email, offline_access) are delegated permissions"),
        "the sign-in permissions are named as delegated, not tested here"
    );
    let summary = portal.store.integration_summary(portal.ws).await.unwrap().unwrap();
    assert_eq!(summary.settings.status, IntegrationStatus::Connected);
    assert!(browser.get("/integrations").await.body.contains("Connected: the last connection test passed."));
    portal.stop().await;
}

#[tokio::test]
async fn withheld_consent_fails_every_check_with_the_fix() {
    let (portal, mut browser, emu) = admin_portal_with_emulator(Portal::start().await).await;
    let c = emu.credentials();
    let switched = reqwest::Client::new()
        .patch(format!("{}/_emulator/apps/{}", emu.base_url(), c.client_id))
        .json(&json!({"adminConsent": false}))
        .send()
        .await
        .unwrap();
    assert!(switched.status().is_success());
    assert_eq!(save(&mut browser, &c, &c.client_secret).await.status, 200);

    let fragment = htmx_post(&mut browser, &portal.base, "/integrations/test").await;
    assert_eq!(fragment.status, 200);
    assert!(fragment.body.contains("Token: signed in as the app"), "{}", fragment.body);
    assert!(
        text(&fragment.body).contains("Admin consent: Grant admin consent on the app's API permissions page."),
        "{}",
        fragment.body
    );
    // Consent, users, mail and calendars fail; groups, domains and roles are optional, so they warn.
    assert_eq!(fragment.body.matches("class=\"check-failed\"").count(), 4, "{}", fragment.body);
    assert_eq!(fragment.body.matches("class=\"check-warning\"").count(), 3, "{}", fragment.body);
    portal.stop().await;
}

#[tokio::test]
async fn members_get_403_on_every_integrations_route() {
    let (portal, _) = admin_portal(Portal::start().await).await;
    let mut member = portal.signed_in(MEMBER).await;
    for path in ["/integrations", "/integrations/health", "/integrations/disconnect"] {
        let page = member.get(path).await;
        assert_eq!(page.status, 403, "GET {path}");
    }
    for path in [
        "/integrations",
        "/integrations/test",
        "/integrations/sync",
        "/integrations/privacy",
        "/integrations/blocklist",
        "/integrations/blocklist/remove",
        "/integrations/excluded",
        "/integrations/excluded/remove",
        "/integrations/disconnect",
    ] {
        let page = member.submit("/", path, &[("confirm", "yes"), ("entry", "@example.com")]).await;
        assert_eq!(page.status, 403, "POST {path}: {}", page.body);
    }
    assert!(portal.store.audit_log(portal.ws, 10).await.unwrap().is_empty(), "members changed nothing");
    portal.stop().await;
}

#[tokio::test]
async fn the_forms_need_the_csrf_token() {
    let (portal, mut browser, emu) = admin_portal_with_emulator(Portal::start().await).await;
    let c = emu.credentials();
    let page = browser.post("/integrations", &connection(&c, &c.client_secret)).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(portal.store.integration_summary(portal.ws).await.unwrap().is_none());
    portal.stop().await;
}

#[tokio::test]
async fn sync_now_asks_the_background_sync_for_a_pass_and_says_when_none_runs() {
    let trigger = SyncTrigger::new();
    let (portal, mut browser) = admin_portal(Portal::start_with_sync_trigger(trigger.clone()).await).await;
    let page = htmx_post(&mut browser, &portal.base, "/integrations/sync").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sync requested"), "{}", page.body);
    tokio::time::timeout(Duration::from_secs(10), trigger.requested())
        .await
        .expect("the request reached the sync loop");
    portal.stop().await;

    let (portal, mut browser) = admin_portal(Portal::start().await).await;
    let page = htmx_post(&mut browser, &portal.base, "/integrations/sync").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No background sync runs in this portal"), "{}", page.body);
    portal.stop().await;
}

/// Runs a real pass with the integration saved through the page.
async fn sync_pass(portal: &Portal) {
    let integration = portal.store.load_integration(portal.ws, &Portal::key()).await.unwrap().unwrap();
    let client = tac_sync::connection::graph_client(&integration, tac_graph::CloudPolicy::AnyHost).unwrap();
    let report = tac_sync::sync_once(
        &portal.store,
        portal.ws,
        client,
        &tac_sync::SyncOptions::default(),
        Arc::new(tac_sync::Quiet),
    )
    .await
    .unwrap();
    assert!(report.all_ok(), "{report:?}");
}

#[tokio::test]
async fn the_dashboard_shows_each_mailbox_after_a_pass_and_polls_for_progress() {
    let (portal, mut browser, emu) = admin_portal_with_emulator(Portal::start().await).await;
    let c = emu.credentials();
    let before = browser.get("/integrations").await;
    assert!(before.body.contains("No mailboxes yet"));
    assert!(before.body.contains("hx-get=\"/integrations/health\" hx-trigger=\"every 2s\""), "{}", before.body);
    assert!(before.body.contains(&format!("{}/auth/microsoft/callback", portal.base)), "the redirect URI");
    assert!(before.body.contains("data-copy-target=\"redirect-uri\""));
    let lower = before.body.to_lowercase();
    for script in lower.match_indices("<script").map(|(i, _)| &lower[i..]) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains(" src=\"/static/"), "only script files: {tag}");
    }
    assert!(!lower.contains(" style=") && !lower.contains(" hx-on") && !lower.contains(" onclick="));
    for script in ["/static/copy.js", "/static/local-time.js"] {
        let served = browser.get(script).await;
        assert_eq!(served.status, 200, "{script}");
        assert!(served.header("content-type").starts_with("text/javascript"), "{script}");
    }

    assert_eq!(save(&mut browser, &c, &c.client_secret).await.status, 200);
    sync_pass(&portal).await;
    let health = browser.get("/integrations/health").await;
    assert_eq!(health.status, 200);
    assert!(health.body.starts_with("<div id=\"sync-health\""), "a fragment: {}", health.body);
    let rows = portal.store.mailboxes(portal.ws).await.unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(health.body.contains(&row.address), "{} is listed", row.address);
    }
    assert!(health.body.contains("data-state=\"ok\""));
    let busy = rows.iter().find(|r| r.email_count > 0).expect("a mailbox with mail");
    assert!(health.body.contains(&format!("<td class=\"num\">{}</td>", busy.email_count)), "{}", health.body);
    let emails: u64 = rows.iter().map(|r| r.email_count).sum();
    assert!(health.body.contains(&format!("{emails} emails")), "{}", health.body);
    portal.stop().await;
}

#[tokio::test]
async fn disconnecting_needs_a_confirmation_then_purges_what_was_synced() {
    let (portal, mut browser, _emu) = connected_admin_portal().await;
    sync_pass(&portal).await;
    let emails = portal.store.email_count(portal.ws).await.unwrap();
    assert!(emails > 0);

    let confirm = browser.get("/integrations/disconnect").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains(&format!("{emails} emails")), "{}", confirm.body);
    assert!(confirm.body.contains("Contacts people added or imported, and the privacy policy, stay."));

    let unconfirmed = browser.submit_form("/integrations/disconnect", &[]).await;
    assert_eq!(unconfirmed.status, 422);
    assert!(unconfirmed.body.contains("Nothing was deleted."));
    assert_eq!(portal.store.email_count(portal.ws).await.unwrap(), emails);

    let done = browser.submit_form("/integrations/disconnect", &[("confirm", "yes")]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains(&format!("Disconnected. Deleted {emails} emails")), "{}", done.body);
    assert_eq!(portal.store.email_count(portal.ws).await.unwrap(), 0);
    assert!(portal.store.mailboxes(portal.ws).await.unwrap().is_empty());
    assert!(portal.store.integration_summary(portal.ws).await.unwrap().is_none());
    let audit = portal.store.audit_log(portal.ws, 10).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "integration.disconnect" && e.actor == ADMIN), "{audit:?}");
    portal.stop().await;
}

#[tokio::test]
async fn privacy_changes_are_validated_applied_and_audited_with_the_admin_as_actor() {
    let (portal, mut browser) = admin_portal(Portal::start().await).await;

    let bad = browser.submit("/integrations", "/integrations/privacy", &[("retention_days", "-3")]).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("value=\"-3\"") && bad.body.contains("Enter a number of days between 1"));

    let ok = browser
        .submit(
            "/integrations",
            "/integrations/privacy",
            &[("visibility", "metadata"), ("auto_create", "none"), ("retention_days", "730")],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let policy = portal.store.privacy_policy(portal.ws).await.unwrap();
    assert_eq!(policy.retention_days, Some(730));
    assert_eq!(policy.visibility.as_str(), "metadata");
    assert_eq!(policy.auto_create.as_str(), "none");
    assert!(!policy.keep_internal, "off unless ticked");
    assert!(ok.body.contains("name=\"keep_internal\" value=\"on\""), "the form offers it");

    let keep = browser
        .submit("/integrations", "/integrations/privacy", &[("visibility", "full"), ("keep_internal", "on")])
        .await;
    assert_eq!(keep.status, 200, "{}", keep.body);
    assert!(keep.body.contains("The next sync reads internal-only mail and meetings again."), "{}", keep.body);
    assert!(portal.store.privacy_policy(portal.ws).await.unwrap().keep_internal);
    let saved = portal.store.audit_log(portal.ws, 1).await.unwrap();
    assert_eq!(saved[0].detail.as_ref().unwrap()["after"]["keep_internal"], true, "{saved:?}");

    let bad = browser.submit("/integrations", "/integrations/blocklist", &[("entry", "@not a domain")]).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("value=\"@not a domain\""), "{}", bad.body);
    let blocked = browser.submit("/integrations", "/integrations/blocklist", &[("entry", "@Rival.example")]).await;
    assert_eq!(blocked.status, 200);
    assert!(blocked.body.contains("Blocked @rival.example."), "{}", blocked.body);
    let unblocked =
        browser.submit("/integrations", "/integrations/blocklist/remove", &[("entry", "@rival.example")]).await;
    assert_eq!(unblocked.status, 200);
    assert!(portal.store.privacy_policy(portal.ws).await.unwrap().blocklist.is_empty());

    let unknown = browser.submit("/integrations", "/integrations/excluded", &[("address", "nobody@contoso.com")]).await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("No one in the directory has the address nobody@contoso.com"));

    let audit = portal.store.audit_log(portal.ws, 10).await.unwrap();
    assert!(audit.len() >= 3, "{audit:?}");
    assert!(audit.iter().all(|e| e.actor == ADMIN), "{audit:?}");
    portal.stop().await;
}

/// The form's fields with `changes` applied.
fn with<'a>(mut fields: Vec<(&'a str, &'a str)>, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    fields
}

#[tokio::test]
async fn the_stored_secret_never_goes_to_a_new_destination_unless_it_is_typed_again() {
    let (portal, mut browser, emu) = connected_admin_portal().await;
    let c = emu.credentials();

    // An admin who points the login URL at their own host, leaving the
    // secret empty, gets a 422 and the stored secret goes nowhere.
    for (field, value, name) in [
        ("login_url", "http://127.0.0.1:9/", "Login URL"),
        ("graph_url", "http://127.0.0.1:9/v1.0", "Graph URL"),
        ("tenant_id", "fabrikam.onmicrosoft.com", "Tenant ID"),
        ("client_id", "00000000-0000-0000-0000-000000000001", "Client ID"),
    ] {
        let page = browser.submit_form("/integrations", &with(connection(&c, ""), &[(field, value)])).await;
        assert_eq!(page.status, 422, "{field}: {}", page.body);
        assert!(
            text(&page.body).contains(&format!("You changed the {name}: enter the Client Secret again")),
            "{field}"
        );
    }
    let stored = portal.store.load_integration(portal.ws, &Portal::key()).await.unwrap().unwrap();
    assert_eq!(stored.settings.login_url, c.login_url, "nothing was saved");
    assert_eq!(stored.client_secret.as_ref().map(|s| s.expose_secret()), Some(c.client_secret.as_str()));

    // The same settings with the secret left empty save, and keep it; so
    // does a new destination with the secret typed again.
    let unchanged = with(connection(&c, ""), &[("backfill_days", "30")]);
    assert_eq!(browser.submit_form("/integrations", &unchanged).await.status, 200);
    let page = save(&mut browser, &c, &c.client_secret).await;
    assert_eq!(page.status, 200);

    // Every save is audited with who saved and what changed.
    let audit = portal.store.audit_log(portal.ws, 20).await.unwrap();
    let saves: Vec<_> = audit.iter().filter(|a| a.action == "integration.save").collect();
    assert_eq!(saves.len(), 3, "{audit:?}");
    assert!(saves.iter().all(|a| a.actor == ADMIN));
    assert!(saves.iter().any(|a| a.detail.as_ref().is_some_and(|d| d["changed"] == json!(["backfill_days"]))));
    assert!(!format!("{audit:?}").contains(&c.client_secret));
    portal.stop().await;
}

#[tokio::test]
async fn a_production_portal_accepts_only_microsofts_clouds_and_never_sends_the_secret_elsewhere() {
    let (portal, mut browser, emu) = admin_portal_with_emulator(Portal::start_microsoft_only().await).await;
    let c = emu.credentials();
    // The emulator is not Microsoft: refused, with what to do.
    let page = save(&mut browser, &c, &c.client_secret).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(text(&page.body).contains("is not one of Microsoft's clouds"), "{}", page.body);
    assert!(portal.store.integration_summary(portal.ws).await.unwrap().is_none());
    let us = with(
        connection(&c, "a-secret"),
        &[("login_url", "https://login.microsoftonline.us"), ("graph_url", "https://graph.microsoft.us/v1.0")],
    );
    assert_eq!(browser.submit_form("/integrations", &us).await.status, 200, "a national cloud is fine");

    // A URL stored some other way still never receives the secret: a
    // listener there counts every connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut settings = portal.store.load_integration(portal.ws, &Portal::key()).await.unwrap().unwrap().settings;
    settings.login_url = host.clone();
    settings.graph_url = format!("{host}/v1.0");
    let secret = tac_store::SecretString::from(c.client_secret.clone());
    portal.store.save_integration(portal.ws, &settings, Some(&secret), &Portal::key(), "db").await.unwrap();
    let page = browser.submit("/integrations", "/integrations/test", &[]).await;
    assert!(text(&page.body).contains("is not one of Microsoft's clouds"), "{}", page.body);
    let login = browser.get("/auth/microsoft").await;
    assert_eq!(login.status, 409, "{}", login.body);
    assert!(login.body.contains("misconfigured"), "{}", login.body);
    let graph = tac_sync::connection::graph_client(
        &portal.store.load_integration(portal.ws, &Portal::key()).await.unwrap().unwrap(),
        tac_graph::CloudPolicy::MicrosoftOnly,
    );
    assert!(graph.is_err(), "the sync builds no client for it either");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing was sent there");
    portal.stop().await;
}
