//! The portal over HTTP: sign-in, throttling, CSRF, sign-out, setup, roles,
//! headers and errors, against the real router and a real database.

mod common;

use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use common::{PASSWORD, Portal};
use tac_store::Role;
use tac_web::AdminUser;

#[tokio::test]
async fn signing_in_with_the_right_password_starts_a_session_and_shows_who_is_signed_in() {
    let portal = Portal::start().await;
    portal.add_user("Ann@Contoso.com", Role::Member).await;
    let mut browser = portal.browser();

    let form = browser.get("/login").await;
    assert_eq!(form.status, 200);
    assert!(browser.cookies.contains_key("__Host-tac_csrf"), "a pre-session CSRF cookie is set");

    let signed_in = browser.login("  ann@contoso.COM ", PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), "/");
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-tac_session="))
        .expect("a session cookie");
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!browser.cookies.contains_key("__Host-tac_csrf"), "the pre-session token is dropped");

    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("ann@contoso.com") && home.body.contains("member"), "{}", home.body);
    assert!(home.body.contains("Sign out"));
    assert!(!home.body.contains("href=\"/integrations\""), "members see no Integrations link");
    let user = portal.store.portal_user_by_email(portal.ws, "ann@contoso.com").await.unwrap().unwrap();
    assert!(user.last_login_at.is_some());
    portal.stop().await;
}

#[tokio::test]
async fn admins_see_integrations_in_the_navigation_and_the_connection_state_on_home() {
    let portal = Portal::start().await;
    let mut browser = portal.signed_in_new("root@contoso.com", Role::Admin).await;
    let home = browser.get("/").await;
    assert!(home.body.contains("href=\"/integrations\""), "{}", home.body);
    assert!(home.body.contains("Microsoft 365 is not connected yet"), "{}", home.body);
    portal.stop().await;
}

#[tokio::test]
async fn a_wrong_password_keeps_the_email_and_never_says_which_part_was_wrong() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    let mut browser = portal.browser();

    let wrong_password = browser.login("ann@contoso.com", "not the password").await;
    let unknown_email = browser.login("nobody@contoso.com", "not the password").await;
    for page in [&wrong_password, &unknown_email] {
        assert_eq!(page.status, 422);
        assert!(page.body.contains("The email or password is wrong"), "{}", page.body);
        assert!(!page.body.contains("not the password"), "the password is never echoed");
    }
    assert!(wrong_password.body.contains("value=\"ann@contoso.com\""), "the email is kept");
    assert!(!browser.cookies.contains_key("__Host-tac_session"));

    // Empty fields get field-level messages.
    let empty = browser.login("", "").await;
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("Enter an email address.") && empty.body.contains("Enter your password."));
    portal.stop().await;
}

#[tokio::test]
async fn repeated_failed_sign_ins_for_an_email_are_refused_with_429_even_with_the_right_password() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    portal.add_user("bob@contoso.com", Role::Member).await;
    let mut browser = portal.browser();
    for _ in 0..5 {
        assert_eq!(browser.login("ann@contoso.com", "guess").await.status, 422);
    }
    let refused = browser.login("ann@contoso.com", PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("Too many failed sign-ins. Try again after"), "{}", refused.body);
    let retry_after: i64 = refused.header("retry-after").parse().expect("Retry-After in seconds");
    assert!(retry_after > 0 && retry_after <= 15 * 60, "{retry_after}");
    assert!(!browser.cookies.contains_key("__Host-tac_session"));

    // Another account is not locked by Ann's failures.
    assert_eq!(browser.login("bob@contoso.com", PASSWORD).await.status, 303);
    portal.stop().await;
}

#[tokio::test]
async fn many_failures_from_one_address_slow_it_down_for_every_email() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    // Recorded directly, as other instances or earlier runs would have.
    let recent = Utc::now() - Duration::minutes(1);
    for i in 0..25 {
        portal
            .store
            .record_login_failure(portal.ws, &format!("user{i}@contoso.com"), "127.0.0.1", recent)
            .await
            .unwrap();
    }
    let mut browser = portal.browser();
    assert_eq!(browser.login("ann@contoso.com", PASSWORD).await.status, 429);
    portal.stop().await;
}

#[tokio::test]
async fn a_successful_sign_in_forgets_earlier_failures_of_that_email() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    let mut browser = portal.browser();
    for _ in 0..4 {
        browser.login("ann@contoso.com", "guess").await;
    }
    assert_eq!(browser.login("ann@contoso.com", PASSWORD).await.status, 303);
    let history = attempts(&portal, "ann@contoso.com", "127.0.0.1").await;
    assert_eq!(history.account.count, 0, "the failures and the successful attempt's reservation are gone");
    portal.stop().await;
}

#[tokio::test]
async fn unsafe_requests_without_the_session_csrf_token_are_refused() {
    let portal = Portal::start().await;
    let mut browser = portal.signed_in_new("ann@contoso.com", Role::Member).await;

    let missing = browser.post("/logout", &[]).await;
    assert_eq!(missing.status, 403);
    assert!(missing.body.contains("security token is missing or out of date"), "{}", missing.body);
    let wrong = browser.post("/logout", &[("csrf", "not-the-token")]).await;
    assert_eq!(wrong.status, 403);
    // Nothing was signed out.
    assert_eq!(browser.get("/").await.status, 200);

    // Sign-in itself needs the pre-session token.
    let mut anonymous = portal.browser();
    let no_token = anonymous.post("/login", &[("email", "ann@contoso.com"), ("password", PASSWORD)]).await;
    assert_eq!(no_token.status, 403);
    assert!(!anonymous.cookies.contains_key("__Host-tac_session"));
    portal.stop().await;
}

#[tokio::test]
async fn the_csrf_header_is_accepted_in_place_of_the_form_field() {
    let portal = Portal::start().await;
    let mut browser = portal.signed_in_new("ann@contoso.com", Role::Member).await;
    let csrf = browser.get("/").await.hidden("csrf");
    let base = portal.base.clone();
    let request =
        common::no_redirects().post(format!("{base}/logout")).header("x-csrf-token", csrf).header("origin", &base);
    let out = browser.send(request).await;
    assert_eq!(out.status, 303, "{}", out.body);
    portal.stop().await;
}

#[tokio::test]
async fn a_request_from_a_foreign_origin_is_refused_even_with_the_right_token() {
    let portal = Portal::start().await;
    let mut browser = portal.signed_in_new("ann@contoso.com", Role::Member).await;
    let csrf = browser.get("/").await.hidden("csrf");
    browser.origin = Some("https://evil.example".to_owned());
    let refused = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("another site"), "{}", refused.body);
    assert_eq!(browser.get("/").await.status, 200, "still signed in");

    // Without Origin (a non-browser client), the token alone decides.
    browser.origin = None;
    assert_eq!(browser.post("/logout", &[("csrf", &csrf)]).await.status, 303);
    portal.stop().await;
}

#[tokio::test]
async fn signing_out_ends_the_session_for_good() {
    let portal = Portal::start().await;
    let mut browser = portal.signed_in_new("ann@contoso.com", Role::Member).await;
    let old_cookie = browser.cookies.get("__Host-tac_session").cloned().expect("session cookie");

    let out = browser.submit("/", "/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/login");
    assert!(!browser.cookies.contains_key("__Host-tac_session"), "the cookie is cleared");

    // Replaying the old cookie finds no session.
    browser.cookies.insert("__Host-tac_session".to_owned(), old_cookie);
    let home = browser.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location"), "/login?next=%2F");
    // Nor do the pages and API reads that read the session on their own
    // connection.
    let profile = browser.get("/contacts/1").await;
    assert_eq!(profile.status, 303);
    assert_eq!(profile.header("location"), "/login?next=%2Fcontacts%2F1");
    assert_eq!(browser.get("/api/v1/contacts/1/timeline").await.status, 401);
    portal.stop().await;
}

#[tokio::test]
async fn pages_redirect_to_sign_in_and_back_to_where_the_person_was_going() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    let mut browser = portal.browser();
    let home = browser.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location"), "/login?next=%2F");

    let form = browser.get("/login?next=%2Fcontacts%3Fq%3Dx").await;
    let next = form.hidden("next");
    assert_eq!(next, "/contacts?q=x");
    let csrf = form.hidden("csrf");
    let done = browser
        .post("/login", &[("csrf", &csrf), ("email", "ann@contoso.com"), ("password", PASSWORD), ("next", &next)])
        .await;
    assert_eq!(done.header("location"), "/contacts?q=x");

    // Never to another site.
    let mut other = portal.browser();
    let csrf = other.get("/login").await.hidden("csrf");
    let done = other
        .post(
            "/login",
            &[("csrf", &csrf), ("email", "ann@contoso.com"), ("password", PASSWORD), ("next", "//evil.example/")],
        )
        .await;
    assert_eq!(done.header("location"), "/");
    portal.stop().await;
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once_and_signs_them_in() {
    let portal = Portal::start().await;
    let now = Utc::now();
    portal.store.create_setup_token(portal.ws, "tok-123", now, now + Duration::hours(24)).await.unwrap();
    let mut browser = portal.browser();

    assert_eq!(browser.get("/setup?token=wrong").await.status, 404);
    let form = browser.get("/setup?token=tok-123").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(form.hidden("token"), "tok-123");

    // Mistakes are shown field by field, and the typed email and name stay.
    let fields = |password: &'static str, confirm: &'static str| {
        vec![
            ("token", "tok-123"),
            ("email", "Root@Contoso.com"),
            ("display_name", "Rosa Admin"),
            ("password", password),
            ("confirm", confirm),
        ]
    };
    let short = browser.submit("/setup?token=tok-123", "/setup", &fields("short", "short")).await;
    assert_eq!(short.status, 422);
    assert!(short.body.contains("Use at least 12 characters"), "{}", short.body);
    assert!(short.body.contains("value=\"Root@Contoso.com\"") && short.body.contains("value=\"Rosa Admin\""));
    assert!(!short.body.contains("value=\"short\""), "passwords are never put back");
    for weak in ["            ", "password1234", "Qwertyuiop12", "rootroot2024"] {
        let page = browser.submit("/setup?token=tok-123", "/setup", &fields(weak, weak)).await;
        assert_eq!(page.status, 422, "{weak:?}");
        assert!(
            page.body.contains("too easy to guess") || page.body.contains("not only spaces"),
            "{weak:?}: {}",
            page.body
        );
    }
    let differ = browser.submit("/setup?token=tok-123", "/setup", &fields(PASSWORD, "something else!!")).await;
    assert_eq!(differ.status, 422);
    assert!(differ.body.contains("The two passwords differ"), "{}", differ.body);

    let created = browser.submit("/setup?token=tok-123", "/setup", &fields(PASSWORD, PASSWORD)).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let home = browser.get("/").await;
    assert!(home.body.contains("Rosa Admin") && home.body.contains("admin"), "{}", home.body);
    let admin = portal.store.portal_user_by_email(portal.ws, "root@contoso.com").await.unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin);

    // The link is spent; the new password works.
    let again = portal.browser().get("/setup?token=tok-123").await;
    assert_eq!(again.status, 409, "an admin exists now");
    assert!(again.body.contains("an admin already exists"), "{}", again.body);
    let mut fresh = portal.browser();
    assert_eq!(fresh.login("root@contoso.com", PASSWORD).await.status, 303);
    portal.stop().await;
}

#[tokio::test]
async fn an_expired_setup_link_is_refused() {
    let portal = Portal::start().await;
    let then = Utc::now() - Duration::hours(30);
    portal.store.create_setup_token(portal.ws, "old", then, then + Duration::hours(24)).await.unwrap();
    let page = portal.browser().get("/setup?token=old").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("tac-crm admin create"), "says what to do: {}", page.body);
    portal.stop().await;
}

#[tokio::test]
async fn members_get_403_on_admin_only_pages_and_admins_get_in() {
    let routes = tac_web::routes().route(
        "/test/admin-only",
        get(|AdminUser(admin): AdminUser| async move { format!("hello {}", admin.user.email) }),
    );
    let portal = Portal::start_with_routes(routes).await;
    portal.add_user("member@contoso.com", Role::Member).await;
    portal.add_user("admin@contoso.com", Role::Admin).await;

    let refused = portal.signed_in("member@contoso.com").await.get("/test/admin-only").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Only admins"), "{}", refused.body);
    assert!(refused.header("content-type").starts_with("text/html"));

    let allowed = portal.signed_in("admin@contoso.com").await.get("/test/admin-only").await;
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.body, "hello admin@contoso.com");

    let anonymous = portal.browser().get("/test/admin-only").await;
    assert_eq!(anonymous.status, 303, "no session: sign in first");
    portal.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let portal = Portal::start().await;
    let mut browser = portal.signed_in_new("ann@contoso.com", Role::Member).await;
    for path in ["/", "/login", "/healthz", "/readyz", "/no/such/page", "/api/v1/nothing", "/static/app.css"] {
        let page = browser.get(path).await;
        let csp = page.header("content-security-policy");
        for directive in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(page.header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(page.header("x-frame-options"), "DENY", "{path}");
        let cache = page.header("cache-control");
        if path.starts_with("/static/") {
            assert!(cache.contains("immutable"), "{path}: {cache}");
        } else {
            assert_eq!(cache, "no-store", "{path}");
        }
    }
    portal.stop().await;
}

#[tokio::test]
async fn pages_have_no_inline_scripts_styles_or_event_handlers() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Admin).await;
    let now = Utc::now();
    portal.store.create_setup_token(portal.ws, "t", now, now + Duration::hours(1)).await.unwrap();
    let mut anonymous = portal.browser();
    let mut pages = vec![anonymous.get("/login").await, anonymous.get("/nope").await];
    let mut browser = portal.signed_in("ann@contoso.com").await;
    pages.push(browser.get("/").await);
    for page in pages {
        let body = page.body.to_lowercase();
        for script in body.match_indices("<script").map(|(i, _)| &body[i..]) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains(" src="), "inline script: {tag}");
            assert!(script[tag.len() + 1..].starts_with("</script>"), "script with a body");
        }
        assert!(!body.contains("<style") && !body.contains(" style="), "inline style");
        assert!(!body.contains(" onclick=") && !body.contains(" onload=") && !body.contains(" onsubmit="));
    }
    portal.stop().await;
}

#[tokio::test]
async fn api_paths_answer_errors_as_problem_json_and_pages_as_html() {
    let portal = Portal::start().await;
    let mut browser = portal.browser();
    let api = browser.get("/api/v1/no-such-resource/999").await;
    assert_eq!(api.status, 404);
    assert_eq!(api.header("content-type"), "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["title"], "Not Found");
    assert_eq!(problem["instance"], "/api/v1/no-such-resource/999");
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));

    let page = browser.get("/no/such/page").await;
    assert_eq!(page.status, 404);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.body.contains("This page does not exist."));
    portal.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_page_never_a_500() {
    let portal = Portal::start().await;
    let mut browser = portal.browser();
    let wrong_method = browser.send(reqwest::Client::new().delete(format!("{}/login", portal.base))).await;
    assert_eq!(wrong_method.status, 403, "unsafe method without a token: refused before routing");

    // A JSON body where a form is expected, with a valid pre-session token.
    let csrf = browser.get("/login").await.hidden("csrf");
    let request = reqwest::Client::new()
        .post(format!("{}/login", portal.base))
        .header("x-csrf-token", csrf)
        .header("content-type", "application/json")
        .body("{\"email\": 1}");
    let page = browser.send(request).await;
    assert!((400..500).contains(&page.status), "{} {}", page.status, page.body);
    assert!(page.header("content-type").starts_with("text/html"), "{:?}", page.headers);

    let get_logout = browser.send(reqwest::Client::new().get(format!("{}/logout", portal.base))).await;
    assert_eq!(get_logout.status, 405);
    assert!(get_logout.body.contains("does not accept that method"), "{}", get_logout.body);
    portal.stop().await;
}

#[tokio::test]
async fn health_is_ok_and_readiness_follows_the_database() {
    let portal = Portal::start().await;
    let mut browser = portal.browser();
    let health = browser.get("/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    assert_eq!(browser.get("/readyz").await.status, 200);
    portal.store.close().await;
    assert_eq!(browser.get("/readyz").await.status, 503);
    assert_eq!(browser.get("/healthz").await.status, 200);
    portal.stop().await;
}

#[tokio::test]
async fn sign_in_and_sign_out_work_on_postgresql() {
    let portal = Portal::start_postgres().await;
    portal.add_user("ann@contoso.com", Role::Admin).await;
    let mut browser = portal.browser();
    assert_eq!(browser.login("ann@contoso.com", "wrong").await.status, 422);
    assert_eq!(browser.login("ann@contoso.com", PASSWORD).await.status, 303);
    assert_eq!(browser.get("/").await.status, 200);
    assert_eq!(browser.submit("/", "/logout", &[]).await.status, 303);
    assert_eq!(browser.get("/").await.status, 303);
    portal.stop().await;
}

/// A browser on the sign-in page, ready to post its form.
async fn at_the_sign_in_page(portal: &Portal) -> (common::Browser, String) {
    let mut browser = portal.browser();
    let csrf = browser.get("/login").await.hidden("csrf");
    (browser, csrf)
}

/// Posts the sign-in form, as seen through a proxy when `forwarded_for` is set.
async fn sign_in_from(
    browser: &mut common::Browser,
    csrf: &str,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> common::Page {
    let form = [("csrf", csrf), ("email", email), ("password", password), ("next", "/")];
    let base = portal_base(browser);
    let mut request = common::no_redirects().post(format!("{base}/login")).form(&form).header("origin", base.clone());
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    browser.send(request).await
}

fn portal_base(browser: &common::Browser) -> String {
    browser.origin.clone().expect("the browser sends an origin")
}

/// `count` wrong passwords for `email`, each from a browser of its own on
/// the sign-in page, sent all at once; their statuses.
async fn guesses_at_once(portal: &Portal, email: &'static str, count: usize) -> Vec<u16> {
    let mut ready = Vec::new();
    for _ in 0..count {
        ready.push(at_the_sign_in_page(portal).await);
    }
    let mut attempts = tokio::task::JoinSet::new();
    for (mut browser, csrf) in ready {
        attempts.spawn(async move { sign_in_from(&mut browser, &csrf, email, "guess", None).await.status });
    }
    attempts.join_all().await
}

/// The sign-in attempts of the last 15 minutes for `email` from `ip`, as
/// the throttle counts them.
async fn attempts(portal: &Portal, email: &str, ip: &str) -> tac_store::AttemptHistory {
    let since = Utc::now() - Duration::minutes(15);
    portal.store.login_attempt_history(portal.ws, email, ip, since).await.expect("the attempt history")
}

/// A wrong guess at Ann's password from each of 40 machines at `when`.
async fn guesses_from_forty_machines(portal: &Portal, when: DateTime<Utc>) {
    for i in 0..40 {
        let ip = format!("198.51.100.{}", 10 + i);
        portal.store.record_login_failure(portal.ws, "ann@contoso.com", &ip, when).await.expect("a failure recorded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_wrong_passwords_at_once_are_counted_as_a_hundred_and_only_five_are_checked() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    let statuses = guesses_at_once(&portal, "ann@contoso.com", 100).await;
    assert_eq!(statuses.iter().filter(|&&s| s == 422).count(), 5, "checked against the password: {statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 95, "refused unchecked");
    let history = attempts(&portal, "ann@contoso.com", "127.0.0.1").await;
    assert_eq!(history.pair.count, 5);

    // The right password after 39 wrong ones sent at once does not get in.
    portal.add_user("bob@contoso.com", Role::Member).await;
    guesses_at_once(&portal, "bob@contoso.com", 39).await;
    let (mut browser, csrf) = at_the_sign_in_page(&portal).await;
    let right = sign_in_from(&mut browser, &csrf, "bob@contoso.com", PASSWORD, None).await;
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(!browser.cookies.contains_key("__Host-tac_session"));
    portal.stop().await;
}

#[tokio::test]
async fn a_guesser_elsewhere_never_locks_the_owner_out_for_more_than_a_minute() {
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    let now = Utc::now();
    // Five wrong guesses from one machine: the owner, at another, is not held up.
    for _ in 0..5 {
        portal.store.record_login_failure(portal.ws, "ann@contoso.com", "198.51.100.7", now).await.unwrap();
    }
    assert_eq!(portal.browser().login("ann@contoso.com", PASSWORD).await.status, 303);

    // Many guesses from many machines: the owner waits a minute at most.
    guesses_from_forty_machines(&portal, now).await;
    let waited = portal.browser().login("ann@contoso.com", PASSWORD).await;
    assert_eq!(waited.status, 429, "{}", waited.body);
    let retry_after: i64 = waited.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    portal.stop().await;

    // The same guesses a minute and a second ago: the owner gets in.
    let portal = Portal::start().await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    let then = Utc::now() - Duration::seconds(61);
    guesses_from_forty_machines(&portal, then).await;
    assert_eq!(portal.browser().login("ann@contoso.com", PASSWORD).await.status, 303);
    portal.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_on_its_own() {
    let portal = Portal::start_behind_proxy("127.0.0.1").await;
    portal.add_user("ann@contoso.com", Role::Member).await;
    portal.add_user("bob@contoso.com", Role::Member).await;
    // A guesser behind the proxy runs out of attempts for any account…
    for i in 0..25 {
        let (mut browser, csrf) = at_the_sign_in_page(&portal).await;
        let email = format!("user{i}@contoso.com");
        let page = sign_in_from(&mut browser, &csrf, &email, "guess", Some("203.0.113.9")).await;
        assert!(page.status == 422 || page.status == 429, "{}", page.status);
    }
    let (mut browser, csrf) = at_the_sign_in_page(&portal).await;
    let guesser = sign_in_from(&mut browser, &csrf, "ann@contoso.com", PASSWORD, Some("203.0.113.9")).await;
    assert_eq!(guesser.status, 429);
    // …while everyone else behind the same proxy signs in.
    let (mut browser, csrf) = at_the_sign_in_page(&portal).await;
    let other = sign_in_from(&mut browser, &csrf, "bob@contoso.com", PASSWORD, Some("192.0.2.44")).await;
    assert_eq!(other.status, 303, "{}", other.body);
    let history = attempts(&portal, "x@contoso.com", "203.0.113.9").await;
    assert_eq!(history.source.count, 20, "counted by the forwarded address");
    portal.stop().await;

    // Without the setting, the header is the client's word and is ignored.
    let portal = Portal::start().await;
    let (mut browser, csrf) = at_the_sign_in_page(&portal).await;
    sign_in_from(&mut browser, &csrf, "ann@contoso.com", "guess", Some("203.0.113.9")).await;
    let history = attempts(&portal, "ann@contoso.com", "127.0.0.1").await;
    assert_eq!(history.pair.count, 1, "counted by the TCP peer");
    portal.stop().await;
}

/// A portal served by `tac_web::serve_with_limits`, as `tac-crm serve`
/// serves it; dropped, it stops and its folder is removed.
struct Served {
    address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    dir: std::path::PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// At most `max_connections` at once, `header_read` to send the headers,
/// and 30 seconds for a request.
fn limits(max_connections: usize, header_read: std::time::Duration) -> tac_web::server::Limits {
    tac_web::server::Limits { max_connections, header_read, request: std::time::Duration::from_secs(30) }
}

async fn serve_with(limits: tac_web::server::Limits) -> Served {
    let dir = std::env::temp_dir().join(format!(
        "tac-web-server-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = tac_store::Store::connect(&format!("sqlite://{}", dir.join("tac.db").display())).await.unwrap();
    let ws = store.ensure_workspace("default").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = tac_web::AppState::new(store, ws, Portal::key(), &format!("http://{address}")).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tac_web::serve_with_limits(listener, state, limits, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Served { address, stop: Some(stop), dir }
}

/// Whether the server closed the connection (a read gives end of file or
/// an error) within `patience`.
async fn closed_within(stream: &mut tokio::net::TcpStream, patience: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or other answer before closing: keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_trickling_clients_neither_starve_others_nor_stay_forever() {
    use tokio::io::AsyncWriteExt;
    let served = serve_with(limits(400, std::time::Duration::from_secs(2))).await;
    let address = served.address;
    // 300 connections that send their headers a byte at a time, slower than
    // the header deadline allows.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        slow.push(stream);
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..8 {
            for stream in slow.iter_mut() {
                let _ = stream.write_all(b"a").await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        slow
    });
    // Meanwhile everyone else is answered.
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let answered = client.get(format!("http://{address}/healthz")).send().await.unwrap();
        assert_eq!(answered.status(), 200);
    }
    // And the trickling connections are closed once their time is up.
    let mut slow = trickle.await.unwrap();
    let mut still_open = 0;
    for stream in slow.iter_mut() {
        if !closed_within(stream, std::time::Duration::from_secs(5)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "trickling connections left open");
    drop(served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_at_once_and_idle_ones_time_out() {
    let served = serve_with(limits(10, std::time::Duration::from_secs(1))).await;
    let address = served.address;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    // Give the server a moment to take them all.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(address).await.unwrap();
    assert!(closed_within(&mut extra, std::time::Duration::from_secs(2)).await, "the 11th is closed");
    // The idle ones close after the header deadline, which frees the slots.
    for stream in held.iter_mut() {
        assert!(closed_within(stream, std::time::Duration::from_secs(5)).await, "an idle connection stays open");
    }
    let answered = reqwest::get(format!("http://{address}/healthz")).await.unwrap();
    assert_eq!(answered.status(), 200);
    drop(served);
}
