//! Sign in with Microsoft end to end: the real portal, a real store and
//! the Microsoft cloud emulator's authorize page, token endpoint, discovery
//! and keys. The test drives the emulator's sign-in page as a browser
//! would: GET the authorize URL, POST the chosen account, follow the
//! redirect back to the portal's callback.

mod common;

use common::{Browser, Page, Portal};
use tac_core::records::{DirectoryGroup, DirectoryRole, DirectoryUser, GLOBAL_ADMINISTRATOR_TEMPLATE};
use tac_emulator::{Credentials, EmulatorConfig, RunningEmulator};
use tac_store::{IntegrationSettings, Role, SecretString};

async fn emulator() -> RunningEmulator {
    tac_emulator::spawn(EmulatorConfig::default()).await.expect("the emulator starts")
}

/// Saves the emulator's app as the integration, as an admin would.
async fn connect(portal: &Portal, c: &Credentials) {
    let mut settings = IntegrationSettings::new(c.tenant_id.clone(), c.client_id.clone());
    settings.login_url = c.login_url.clone();
    settings.graph_url = c.graph_url.clone();
    let secret = SecretString::from(c.client_secret.clone());
    portal.store.save_integration(portal.ws, &settings, Some(&secret), &Portal::key(), "test").await.unwrap();
}

/// Stores the emulator's directory as the directory sync would (users,
/// groups, memberships); `disabled` are stored with accountEnabled false.
async fn sync_directory(portal: &Portal, emu: &RunningEmulator, disabled: &[&str]) {
    let org = emu.emulator.state().org();
    let users: Vec<DirectoryUser> = org
        .active_users()
        .iter()
        .map(|u| DirectoryUser {
            id: u.id.clone(),
            display_name: u.display_name.clone(),
            user_principal_name: u.user_principal_name.clone(),
            mail: u.mail.clone(),
            proxy_addresses: u.proxy_addresses.clone(),
            account_enabled: u.account_enabled && !disabled.contains(&u.user_principal_name.as_str()),
        })
        .collect();
    let groups: Vec<DirectoryGroup> = org
        .groups
        .iter()
        .map(|g| DirectoryGroup { id: g.id.clone(), display_name: g.display_name.clone(), mail: g.mail.clone() })
        .collect();
    let members: Vec<(String, String)> = org
        .groups
        .iter()
        .flat_map(|g| g.members.iter().filter(|&&i| org.is_active(i)).map(|&i| (g.id.clone(), org.users[i].id.clone())))
        .collect();
    portal.store.replace_directory(portal.ws, &users, &groups, &members, &[]).await.unwrap();
    let (roles, holders): (Vec<DirectoryRole>, Vec<(String, String)>) = {
        let roles = org.roles();
        let holders = roles
            .iter()
            .flat_map(|r| {
                r.members.iter().filter_map(move |m| match m {
                    tac_emulator::org::RoleMember::User(u) => Some((r.id.clone(), org.users[*u].id.clone())),
                    // The sync resolves groups; this tenant assigns none.
                    tac_emulator::org::RoleMember::Group(_)
                    | tac_emulator::org::RoleMember::ServicePrincipal { .. } => None,
                })
            })
            .collect();
        let roles = roles
            .iter()
            .map(|r| DirectoryRole {
                id: r.id.clone(),
                role_template_id: r.template().template_id.to_owned(),
                display_name: r.template().display_name.to_owned(),
                description: r.template().description.to_owned(),
            })
            .collect();
        (roles, holders)
    };
    portal.store.replace_directory_roles(portal.ws, &roles, &holders).await.unwrap();
}

/// `portal` with the emulator's app saved as its integration and the
/// emulator's directory synced, as after an admin's setup.
async fn connected(portal: Portal) -> (Portal, RunningEmulator) {
    let (portal, emu) = with_the_emulators_app(portal).await;
    sync_directory(&portal, &emu, &[]).await;
    (portal, emu)
}

/// `portal` with the emulator's app saved as its integration; no
/// directory synced yet.
async fn with_the_emulators_app(portal: Portal) -> (Portal, RunningEmulator) {
    let emu = emulator().await;
    connect(&portal, &emu.credentials()).await;
    (portal, emu)
}

/// The user who holds Global Administrator in the emulator's tenant: (UPN, object id).
fn global_administrator(emu: &RunningEmulator) -> (String, String) {
    let org = emu.emulator.state().org();
    let roles = org.roles();
    let ga = roles.iter().find(|r| r.template().template_id == GLOBAL_ADMINISTRATOR_TEMPLATE).expect("activated");
    let Some(tac_emulator::org::RoleMember::User(u)) = ga.members.first() else { panic!("a user holds it") };
    (org.users[*u].user_principal_name.clone(), org.users[*u].id.clone())
}

/// An enabled user of the emulator's directory: (UPN, object id, display name).
fn person(emu: &RunningEmulator, pick: impl Fn(&tac_emulator::org::User) -> bool) -> (String, String, String) {
    let org = emu.emulator.state().org();
    let u = org.active_users().iter().find(|u| u.account_enabled && u.mail.is_some() && pick(u)).expect("a user");
    (u.user_principal_name.clone(), u.id.clone(), u.display_name.clone())
}

/// A group with at least one enabled member, and a user outside it.
fn group_and_outsider(emu: &RunningEmulator) -> (String, String, (String, String, String)) {
    let org = emu.emulator.state().org();
    let group = org
        .groups
        .iter()
        .find(|g| {
            g.members.iter().any(|&i| org.is_active(i) && org.users[i].account_enabled && org.users[i].mail.is_some())
        })
        .expect("a group with members");
    let inside = group.members.clone();
    let outsider = person(emu, |u| !inside.contains(&u.index));
    (group.id.clone(), group.display_name.clone(), outsider)
}

fn member_of_group(emu: &RunningEmulator, group_id: &str) -> (String, String, String) {
    let org = emu.emulator.state().org();
    let group = org.groups.iter().find(|g| g.id == group_id).unwrap();
    let inside = group.members.clone();
    person(emu, |u| inside.contains(&u.index))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The hidden fields of the first form of the emulator's sign-in page.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let form = &page[..page.find("</form>").expect("a form")];
    form.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
            (unescape(name), unescape(value))
        })
        .collect()
}

/// Starts "Sign in with Microsoft" and returns the emulator's answer to
/// picking `upn`: the redirect to the portal's callback.
async fn at_microsoft(browser: &mut Browser, upn: &str, next: &str) -> String {
    let start = browser.get(&format!("/auth/microsoft?next={next}")).await;
    assert_eq!(start.status, 303, "{}", start.body);
    choose_account(start.header("location"), upn).await
}

/// Picks `upn` on the emulator's sign-in page at `authorize`; the redirect
/// back to the portal's callback.
async fn choose_account(authorize: &str, upn: &str) -> String {
    assert!(authorize.contains("code_challenge_method=S256"), "{authorize}");
    assert!(authorize.contains("scope=openid+profile+email+offline_access"), "{authorize}");
    let emulator = common::no_redirects();
    let sign_in_page = emulator.get(authorize).send().await.unwrap().text().await.unwrap();
    assert!(sign_in_page.contains(&format!("name=\"login_hint\" value=\"{upn}\"")), "the page lists {upn}");
    let mut form = hidden_fields(&sign_in_page);
    form.push(("login_hint".to_owned(), upn.to_owned()));
    let chosen = emulator.post(authorize).form(&form).send().await.unwrap();
    assert_eq!(chosen.status().as_u16(), 302, "{}", chosen.text().await.unwrap());
    let callback = chosen.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.contains("/auth/microsoft/callback?code="), "{callback}");
    callback
}

/// The callback as the browser follows it (a path on the portal).
async fn follow(browser: &mut Browser, portal: &Portal, callback: &str) -> Page {
    let path = callback.strip_prefix(&portal.base).expect("the callback is on the portal");
    browser.get(path).await
}

async fn sign_in(browser: &mut Browser, portal: &Portal, upn: &str) -> Page {
    let callback = at_microsoft(browser, upn, "/").await;
    follow(browser, portal, &callback).await
}

#[tokio::test]
async fn a_member_of_the_tenant_signs_in_and_is_provisioned_as_a_member_once() {
    let (portal, emu) = connected(Portal::start().await).await;
    let (upn, oid, name) = person(&emu, |_| true);

    let mut browser = portal.browser();
    let login = browser.get("/login?next=/contacts").await;
    assert!(login.body.contains(">Sign in with Microsoft</a>"), "{}", login.body);
    assert!(login.body.contains("href=\"/auth/microsoft?next=%2Fcontacts\""), "{}", login.body);

    let callback = at_microsoft(&mut browser, &upn, "/contacts").await;
    assert!(browser.cookies.contains_key("__Host-tac_oidc"), "the sign-in is bound to this browser");
    let done = follow(&mut browser, &portal, &callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), "/contacts", "back to next");
    assert!(browser.cookies.contains_key("__Host-tac_session"), "a session");
    assert!(!browser.cookies.contains_key("__Host-tac_oidc"), "the binding cookie is cleared");

    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains(&format!("Welcome, {name}")), "{}", home.body);
    assert!(home.body.contains("<dt>Role</dt><dd>member</dd>"), "{}", home.body);
    assert!(!home.body.contains("href=\"/integrations\""), "members do not see Integrations");

    let tid = emu.credentials().tenant_id;
    let user = portal.store.portal_user_by_microsoft_id(portal.ws, &tid, &oid).await.unwrap().expect("provisioned");
    assert_eq!(user.role, Role::Member);
    assert!(user.password_hash.is_none());
    assert!(user.last_login_at.is_some());

    // The same person again, in another browser: the same row.
    let mut again = portal.browser();
    let done = sign_in(&mut again, &portal, &upn).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let same = portal.store.portal_user_by_microsoft_id(portal.ws, &tid, &oid).await.unwrap().unwrap();
    assert_eq!(same.id, user.id);
    assert_eq!(portal.store.count_admins(portal.ws).await.unwrap(), 0);
    portal.stop().await;
}

#[tokio::test]
async fn a_linked_admin_keeps_the_role_and_an_unlinked_email_is_never_taken_over() {
    let (portal, emu) = connected(Portal::start().await).await;
    let c = emu.credentials();
    let org = emu.emulator.state().org();
    let mut enabled = org.active_users().iter().filter(|u| u.account_enabled && u.mail.is_some());
    let admin = enabled.next().unwrap().clone();
    let other = enabled.next().unwrap().clone();

    // A local admin, explicitly linked to their Microsoft account.
    let admin_id = portal.add_user("root@tac.example", Role::Admin).await;
    portal.store.link_microsoft_account(portal.ws, admin_id, &c.tenant_id, &admin.id).await.unwrap();
    let mut browser = portal.browser();
    assert_eq!(sign_in(&mut browser, &portal, &admin.user_principal_name).await.status, 303);
    let home = browser.get("/").await;
    assert!(home.body.contains("<dt>Role</dt><dd>admin</dd>"), "{}", home.body);
    let row = portal.store.portal_user(portal.ws, admin_id).await.unwrap().unwrap();
    assert_eq!(row.display_name, admin.display_name, "the name follows the claims");

    // A local account with the email of someone signing in for the first
    // time stays untouched: no link by email.
    let local = other.mail.clone().unwrap();
    let local_id = portal.add_user(&local, Role::Admin).await;
    let mut browser = portal.browser();
    let refused = sign_in(&mut browser, &portal, &other.user_principal_name).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("never links accounts by email"), "{}", refused.body);
    assert!(!browser.cookies.contains_key("__Host-tac_session"));
    let row = portal.store.portal_user(portal.ws, local_id).await.unwrap().unwrap();
    assert!(row.oidc_object_id.is_none());
    portal.stop().await;
}

#[tokio::test]
async fn sign_in_can_be_limited_to_one_group_and_disabled_accounts_are_refused() {
    let (portal, emu) = with_the_emulators_app(Portal::start().await).await;
    let (group_id, group_name, (outsider, _, _)) = group_and_outsider(&emu);
    let (insider, _, _) = member_of_group(&emu, &group_id);
    let (disabled, _, _) = person(&emu, |u| u.user_principal_name != outsider && u.user_principal_name != insider);
    sync_directory(&portal, &emu, &[disabled.as_str()]).await;

    // The admin picks the group on the Integrations page.
    let mut admin = portal.signed_in_new("root@tac.example", Role::Admin).await;
    let page = admin.get("/integrations").await;
    assert!(page.body.contains(&format!("value=\"{group_id}\"")), "the synced groups are offered");
    let saved = admin.submit("/integrations", "/integrations/sign-in", &[("sign_in_group", "not-a-group")]).await;
    assert_eq!(saved.status, 422, "{}", saved.body);
    assert!(saved.body.contains("is not a group object id"));
    let saved = admin.submit("/integrations", "/integrations/sign-in", &[("sign_in_group", &group_id)]).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(portal.store.sign_in_group(portal.ws).await.unwrap().as_deref(), Some(group_id.as_str()));

    let mut browser = portal.browser();
    let refused = sign_in(&mut browser, &portal, &outsider).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let text = refused.body.replace("&#8220;", "\u{201c}").replace("&#8221;", "\u{201d}");
    assert!(text.contains(&group_name.replace('&', "&amp;")) || text.contains(&group_name), "{}", refused.body);
    assert!(refused.body.contains("Only members of the group"), "{}", refused.body);
    assert!(!browser.cookies.contains_key("__Host-tac_session"));

    let mut browser = portal.browser();
    assert_eq!(sign_in(&mut browser, &portal, &insider).await.status, 303, "a member of the group gets in");

    // Everyone again; a disabled directory user is still refused.
    let saved = admin.submit("/integrations", "/integrations/sign-in", &[("sign_in_group", "")]).await;
    assert_eq!(saved.status, 200);
    assert_eq!(portal.store.sign_in_group(portal.ws).await.unwrap(), None);
    let mut browser = portal.browser();
    assert_eq!(sign_in(&mut browser, &portal, &outsider).await.status, 303);
    let mut browser = portal.browser();
    let refused = sign_in(&mut browser, &portal, &disabled).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("Your account is disabled"), "{}", refused.body);
    portal.stop().await;
}

#[tokio::test]
async fn a_replayed_foreign_or_unknown_state_is_refused_without_a_session() {
    let (portal, emu) = with_the_emulators_app(Portal::start().await).await;
    let (upn, _, _) = person(&emu, |_| true);

    // A callback followed by another browser (login CSRF) is refused, and
    // uses the state up.
    let mut victim = portal.browser();
    let mut attacker = portal.browser();
    let callback = at_microsoft(&mut attacker, &upn, "/").await;
    let refused = follow(&mut victim, &portal, &callback).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("started elsewhere"), "{}", refused.body);
    assert!(!victim.cookies.contains_key("__Host-tac_session"));
    let replayed = follow(&mut attacker, &portal, &callback).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(replayed.body.contains("expired or was already used"));

    // A successful callback cannot be replayed.
    let mut browser = portal.browser();
    let callback = at_microsoft(&mut browser, &upn, "/").await;
    assert_eq!(follow(&mut browser, &portal, &callback).await.status, 303);
    let mut again = portal.browser();
    again.cookies = browser.cookies.clone();
    again.cookies.remove("__Host-tac_session");
    let replayed = follow(&mut again, &portal, &callback).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(!again.cookies.contains_key("__Host-tac_session"));

    // Forged or broken callbacks.
    for path in [
        "/auth/microsoft/callback",
        "/auth/microsoft/callback?code=x&state=forged",
        "/auth/microsoft/callback?state=%ZZ&code=%",
    ] {
        let page = portal.browser().get(path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(page.body.contains("Start again"), "{path}");
    }
    portal.stop().await;
}

#[tokio::test]
async fn errors_from_microsoft_and_a_missing_integration_get_clear_pages() {
    let portal = Portal::start().await;

    // No integration: no button, and a friendly 409.
    let mut browser = portal.browser();
    assert!(!browser.get("/login").await.body.contains("Sign in with Microsoft"));
    let page = browser.get("/auth/microsoft").await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(page.body.contains("not set up"), "{}", page.body);

    let emu = emulator().await;
    connect(&portal, &emu.credentials()).await;
    let (upn, _, _) = person(&emu, |_| true);

    // The authorize endpoint's error comes back with the state.
    let callback = at_microsoft(&mut browser, &upn, "/").await;
    let state = callback.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let page = browser
        .get(&format!(
            "/auth/microsoft/callback?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent+to+access+the+app.%0D%0ATrace+ID%3A+x&state={state}"
        ))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("You declined the permissions TAC asks for"), "TAC's words: {}", page.body);
    assert!(page.body.contains("AADSTS65004"), "the code, from TAC's own list");
    assert!(!page.body.contains("User declined"), "never the query's text: {}", page.body);
    // ... and the state is used up.
    assert_eq!(follow(&mut browser, &portal, &callback).await.status, 400);

    // Anyone can craft a callback URL: its text never reaches the page.
    let crafted = browser
        .get("/auth/microsoft/callback?error=Account_locked_call_555&error_description=Your+account+is+locked.+Call+IT+at+555-0100")
        .await;
    assert_eq!(crafted.status, 400);
    assert!(crafted.body.contains("Microsoft did not sign you in. Start again."), "{}", crafted.body);
    for planted in ["locked", "555", "Call IT", "Account_locked"] {
        assert!(!crafted.body.contains(planted), "{planted} shows: {}", crafted.body);
    }

    // A revoked secret: the token endpoint's AADSTS error, as a 502 page.
    let callback = at_microsoft(&mut browser, &upn, "/").await;
    let c = emu.credentials();
    let revoked = reqwest::Client::new()
        .post(format!("{}/_emulator/apps/{}/secrets/revoke", c.login_url, c.client_id))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let page = follow(&mut browser, &portal, &callback).await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("AADSTS7000215"), "{}", page.body);
    assert!(!page.body.contains(&c.client_secret));
    assert!(!browser.cookies.contains_key("__Host-tac_session"));
    portal.stop().await;
}

#[tokio::test]
async fn microsoft_sign_in_works_on_postgres() {
    let (portal, emu) = connected(Portal::start_postgres().await).await;
    let (upn, oid, _) = person(&emu, |_| true);
    let mut browser = portal.browser();
    assert_eq!(sign_in(&mut browser, &portal, &upn).await.status, 303);
    assert!(browser.get("/").await.body.contains("<dt>Role</dt><dd>member</dd>"));
    let tid = emu.credentials().tenant_id;
    assert!(portal.store.portal_user_by_microsoft_id(portal.ws, &tid, &oid).await.unwrap().is_some());
    portal.stop().await;
}

/// A stand-in identity provider that answers the token endpoint with
/// whatever id_token a test forges (signed with the emulator's key, which
/// its JWKS publishes), to check what the portal refuses.
mod forger {
    use axum::extract::{Path, State};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    pub const TID: &str = "9122040d-6c67-4c5b-b112-36a304b66dad";
    pub const CLIENT: &str = "6cb04018-a3f5-46a7-b995-940c78f5aef3";

    #[derive(Clone)]
    struct Forger {
        base: String,
        id_token: Arc<Mutex<String>>,
    }

    pub struct Running {
        pub base: String,
        pub id_token: Arc<Mutex<String>>,
    }

    pub async fn start() -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let id_token = Arc::new(Mutex::new(String::new()));
        let state = Forger { base: base.clone(), id_token: Arc::clone(&id_token) };
        let app = Router::new()
            .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery))
            .route("/{tenant}/discovery/v2.0/keys", get(keys))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Running { base, id_token }
    }

    async fn discovery(State(f): State<Forger>, Path(_tenant): Path<String>) -> Json<Value> {
        let b = &f.base;
        Json(json!({
            "issuer": format!("{b}/{TID}/v2.0"),
            "authorization_endpoint": format!("{b}/{TID}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{b}/{TID}/oauth2/v2.0/token"),
            "jwks_uri": format!("{b}/{TID}/discovery/v2.0/keys"),
        }))
    }

    async fn keys(State(f): State<Forger>) -> Json<Value> {
        Json(tac_emulator::tokens::Keys::load().jwks(&format!("{}/{TID}/v2.0", f.base)))
    }

    async fn token(State(f): State<Forger>) -> Json<Value> {
        let id_token = f.id_token.lock().unwrap().clone();
        Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "x", "id_token": id_token}))
    }

    /// Valid claims for `nonce`, from this provider.
    pub fn claims(base: &str, nonce: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "ver": "2.0", "iss": format!("{base}/{TID}/v2.0"), "aud": CLIENT, "exp": now + 3600, "iat": now,
            "nbf": now, "name": "Abe Lincoln", "preferred_username": "abeli@contoso.com",
            "oid": "00000000-0000-0000-66f3-3332eca7ea81", "tid": TID, "nonce": nonce,
        })
    }

    pub fn sign(claims: &Value) -> String {
        tac_emulator::tokens::Keys::load().sign(claims)
    }
}

#[tokio::test]
async fn forged_id_tokens_are_refused_with_a_clear_page_and_no_session() {
    use base64::Engine as _;
    let portal = Portal::start().await;
    let idp = forger::start().await;
    let mut settings = IntegrationSettings::new(forger::TID, forger::CLIENT);
    settings.login_url = idp.base.clone();
    portal
        .store
        .save_integration(portal.ws, &settings, Some(&SecretString::from("s")), &Portal::key(), "test")
        .await
        .unwrap();

    let base = idp.base.clone();
    let other_tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    type Forge = Box<dyn Fn(&str) -> String>;
    let b = base.clone();
    let valid: Forge = Box::new(move |nonce| forger::sign(&forger::claims(&b, nonce)));
    // A signed token whose one claim `key` says `value` instead.
    let with_claim = |base: &str, key: &'static str, value: serde_json::Value| -> Forge {
        let b = base.to_owned();
        Box::new(move |nonce| {
            let mut c = forger::claims(&b, nonce);
            c[key] = value.clone();
            forger::sign(&c)
        })
    };
    let cases: Vec<(&str, u16, &str, Forge)> = vec![
        ("valid", 303, "", valid),
        ("another tenant", 403, "another organisation", with_claim(&base, "tid", serde_json::json!(other_tenant))),
        (
            "a tampered payload",
            400,
            "could not be verified",
            Box::new({
                let b = base.clone();
                move |nonce| {
                    let token = forger::sign(&forger::claims(&b, nonce));
                    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
                    let mut c = forger::claims(&b, nonce);
                    c["oid"] = serde_json::json!("11111111-1111-1111-1111-111111111111");
                    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
                    parts.join(".")
                }
            }),
        ),
        (
            "another nonce",
            400,
            "could not be verified",
            Box::new({
                let b = base.clone();
                move |_| forger::sign(&forger::claims(&b, "not-the-nonce"))
            }),
        ),
        (
            "another audience",
            400,
            "could not be verified",
            with_claim(&base, "aud", serde_json::json!("00000003-0000-0000-c000-000000000000")),
        ),
        (
            "another issuer",
            400,
            "could not be verified",
            with_claim(&base, "iss", serde_json::json!(format!("https://sts.windows.net/{}/", forger::TID))),
        ),
        (
            "expired",
            400,
            "could not be verified",
            with_claim(&base, "exp", serde_json::json!(chrono::Utc::now().timestamp() - 3600)),
        ),
    ];
    for (case, status, says, forge) in cases {
        let mut browser = portal.browser();
        let start = browser.get("/auth/microsoft").await;
        assert_eq!(start.status, 303, "{case}: {}", start.body);
        let authorize = url::Url::parse(start.header("location")).unwrap();
        let q: std::collections::HashMap<String, String> = authorize.query_pairs().into_owned().collect();
        *idp.id_token.lock().unwrap() = forge(&q["nonce"]);
        let state: String = url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect();
        let page = browser.get(&format!("/auth/microsoft/callback?code=c&state={state}")).await;
        assert_eq!(page.status, status, "{case}: {}", page.body);
        assert!(page.body.contains(says), "{case}: {}", page.body);
        assert_eq!(browser.cookies.contains_key("__Host-tac_session"), status == 303, "{case}");
    }
    portal.stop().await;
}

#[tokio::test]
async fn an_entra_role_chosen_on_integrations_makes_its_holders_admins_and_only_them() {
    let (portal, emu) = connected(Portal::start().await).await;
    let (ga_upn, ga_oid) = global_administrator(&emu);
    let (member_upn, _, _) = person(&emu, |u| u.id != ga_oid && u.index > 4);

    // Before any role is chosen, the Global Administrator is a member like anyone.
    let mut browser = portal.browser();
    assert_eq!(sign_in(&mut browser, &portal, &ga_upn).await.status, 303);
    assert!(browser.get("/").await.body.contains("<dt>Role</dt><dd>member</dd>"));

    // The admin ticks Global Administrator on the Integrations page.
    let mut admin = portal.signed_in_new("root@tac.example", Role::Admin).await;
    let page = admin.get("/integrations").await;
    assert!(page.body.contains("Entra roles that make someone a TAC admin"), "{}", page.body);
    assert!(!page.body.contains("name=\"admin_role\" value=\"62e90394-69f5-4237-9190-012177145e10\" checked"));
    assert!(page.body.contains("User Administrator"), "the synced roles are offered: {}", page.body);
    let bad = admin.submit("/integrations", "/integrations/admin-roles", &[("admin_role", "global admin")]).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("is not a role template id"));
    let saved = admin
        .submit("/integrations", "/integrations/admin-roles", &[("admin_role", GLOBAL_ADMINISTRATOR_TEMPLATE)])
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("People who hold Global Administrator are TAC admins"), "{}", saved.body);
    assert!(saved.body.contains("1 account became admin."), "the linked holder is promoted at once: {}", saved.body);
    // The session the holder already has is an admin's now.
    assert!(browser.get("/").await.body.contains("admin (from your Microsoft Entra role)"));

    // A first sign-in of someone without the role: a member.
    let mut other = portal.browser();
    assert_eq!(sign_in(&mut other, &portal, &member_upn).await.status, 303);
    assert!(other.get("/").await.body.contains("<dt>Role</dt><dd>member</dd>"));

    // A role holder is exempt from the group limit, as linked admins are.
    let group_id = {
        let org = emu.emulator.state().org();
        let without = org.groups.iter().find(|g| g.members.iter().all(|&i| org.users[i].id != ga_oid));
        without.expect("a group the holder is not in").id.clone()
    };
    portal.store.set_sign_in_group(portal.ws, Some(&group_id)).await.unwrap();
    let mut again = portal.browser();
    assert_eq!(sign_in(&mut again, &portal, &ga_upn).await.status, 303, "the holder still gets in");

    // Unticking every role makes the holder a member again.
    let saved = admin.submit("/integrations", "/integrations/admin-roles", &[]).await;
    assert!(saved.body.contains("No Entra role makes anyone a TAC admin. 1 account became member again."));
    assert!(browser.get("/").await.body.contains("<dt>Role</dt><dd>member</dd>"));
    portal.stop().await;
}

#[tokio::test]
async fn a_local_account_links_its_microsoft_account_from_the_home_page_then_signs_in_with_it() {
    let (portal, emu) = connected(Portal::start().await).await;
    let c = emu.credentials();
    let (upn, oid, _) = person(&emu, |u| u.index > 4);
    let admin_id = portal.add_user("root@tac.example", Role::Admin).await;
    let mut admin = portal.signed_in("root@tac.example").await;
    let home = admin.get("/").await;
    assert!(home.body.contains("Link my Microsoft account"), "{}", home.body);
    assert!(admin.get("/integrations").await.body.contains("is not linked to a Microsoft account yet"));

    // Link: to Microsoft and back, signed in all along.
    let start = admin.submit("/", "/auth/microsoft/link", &[]).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let callback = choose_account(start.header("location"), &upn).await;
    let session_before = admin.cookies.get("__Host-tac_session").cloned();
    let done = follow(&mut admin, &portal, &callback).await;
    assert_eq!((done.status, done.header("location")), (303, "/"), "{}", done.body);
    assert_eq!(admin.cookies.get("__Host-tac_session").cloned(), session_before, "the same session");
    let row = portal.store.portal_user(portal.ws, admin_id).await.unwrap().unwrap();
    assert_eq!(
        (row.oidc_tenant_id.as_deref(), row.oidc_object_id.as_deref()),
        (Some(c.tenant_id.as_str()), Some(oid.as_str()))
    );
    let home = admin.get("/").await;
    assert!(home.body.contains("Unlink my Microsoft account"), "{}", home.body);
    let again = admin.submit("/", "/auth/microsoft/link", &[]).await;
    assert_eq!(again.status, 409, "linked already: {}", again.body);

    // Signing in with Microsoft is now signing in as the local admin.
    let mut browser = portal.browser();
    assert_eq!(sign_in(&mut browser, &portal, &upn).await.status, 303);
    assert!(browser.get("/").await.body.contains("<dt>Role</dt><dd>admin</dd>"));
    assert_eq!(portal.store.count_admins(portal.ws).await.unwrap(), 1, "no second account was made");

    // Unlink: the password account stays, Microsoft sign-in makes a new member.
    let done = admin.submit("/", "/auth/microsoft/unlink", &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(portal.store.portal_user(portal.ws, admin_id).await.unwrap().unwrap().oidc_object_id.is_none());
    assert!(admin.get("/").await.body.contains("Link my Microsoft account"));
    portal.stop().await;
}

#[tokio::test]
async fn a_link_finishes_only_in_its_own_session_and_never_takes_another_accounts_microsoft_id() {
    let (portal, emu) = connected(Portal::start().await).await;
    let (upn, _, _) = person(&emu, |u| u.index > 4);
    let admin_id = portal.add_user("root@tac.example", Role::Admin).await;

    // Someone else already signed in with that Microsoft account: it has
    // its own TAC account, and the link is refused.
    let mut provisioned = portal.browser();
    assert_eq!(sign_in(&mut provisioned, &portal, &upn).await.status, 303);
    let mut admin = portal.signed_in("root@tac.example").await;
    let start = admin.submit("/", "/auth/microsoft/link", &[]).await;
    let callback = choose_account(start.header("location"), &upn).await;
    let refused = follow(&mut admin, &portal, &callback).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("already linked to another TAC account"), "{}", refused.body);
    assert!(portal.store.portal_user(portal.ws, admin_id).await.unwrap().unwrap().oidc_object_id.is_none());

    // A link whose session ended on the way is refused, and links nothing.
    let (other_upn, _, _) = person(&emu, |u| u.index > 4 && u.user_principal_name != upn);
    let start = admin.submit("/", "/auth/microsoft/link", &[]).await;
    let callback = choose_account(start.header("location"), &other_upn).await;
    let signed_out = admin.submit("/", "/logout", &[]).await;
    assert!(signed_out.status < 400, "{}", signed_out.body);
    let refused = follow(&mut admin, &portal, &callback).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("Sign in to TAC first"), "{}", refused.body);
    assert!(portal.store.portal_user(portal.ws, admin_id).await.unwrap().unwrap().oidc_object_id.is_none());

    // A Microsoft-only account cannot unlink itself out of existence.
    let done = provisioned.submit("/", "/auth/microsoft/unlink", &[]).await;
    assert_eq!(done.status, 409, "{}", done.body);
    assert!(done.body.contains("unlinking would lock you out"), "{}", done.body);
    portal.stop().await;
}
