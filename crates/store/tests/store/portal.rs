use crate::both_backends;
use crate::common::{TestDb, at, two_workspaces};
use chrono::Duration;
use tac_store::{NewPortalUser, Role, StoreError, token_hash};

both_backends!(
    users_are_found_by_email_in_any_case_and_by_id_within_their_workspace,
    a_second_user_with_the_same_email_is_refused_by_name,
    admins_are_counted_per_workspace,
    password_hash_and_last_login_are_updated,
    sessions_are_stored_by_token_hash_and_load_with_role_and_csrf_token_until_they_expire,
    deleting_sessions_ends_them,
    login_failures_are_counted_by_account_source_and_both_since_a_time,
    concurrent_attempts_are_reserved_one_at_a_time_and_counted_as_many,
    clearing_failures_forgets_the_email_but_not_the_address,
    a_setup_token_creates_the_first_admin_once,
    an_expired_or_unknown_setup_token_is_refused_and_changes_nothing,
    setup_refuses_when_an_admin_exists,
);

fn user(email: &str, role: Role) -> NewPortalUser {
    NewPortalUser {
        email: email.to_owned(),
        display_name: "Ann Lee".to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        role,
    }
}

async fn users_are_found_by_email_in_any_case_and_by_id_within_their_workspace(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let id = store.create_portal_user(ws, &user("  Ann@Contoso.COM ", Role::Member)).await.unwrap();

    let found = store.portal_user_by_email(ws, "ann@contoso.com").await.unwrap().expect("found by email");
    assert_eq!(found.id, id);
    assert_eq!(found.email, "ann@contoso.com", "stored trimmed and lowercased");
    assert_eq!(found.role, Role::Member);
    assert_eq!(found.name(), "Ann Lee");
    assert!(found.oidc_tenant_id.is_none() && found.oidc_object_id.is_none());
    assert!(found.last_login_at.is_none());
    assert!(!format!("{found:?}").contains("argon2"), "Debug hides the hash");
    assert_eq!(store.portal_user_by_email(ws, "ANN@contoso.com ").await.unwrap().map(|u| u.id), Some(id));
    assert_eq!(store.portal_user(ws, id).await.unwrap().map(|u| u.email), Some("ann@contoso.com".to_owned()));

    // Another workspace sees nothing.
    assert!(store.portal_user_by_email(other, "ann@contoso.com").await.unwrap().is_none());
    assert!(store.portal_user(other, id).await.unwrap().is_none());
}

async fn a_second_user_with_the_same_email_is_refused_by_name(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    store.create_portal_user(ws, &user("ann@contoso.com", Role::Admin)).await.unwrap();
    let err = store.create_portal_user(ws, &user("ANN@contoso.com", Role::Member)).await.unwrap_err();
    assert!(matches!(&err, StoreError::UserExists { email } if email == "ann@contoso.com"), "{err:?}");
    assert!(err.to_string().contains("already exists"), "{err}");
    // The same email is free in another workspace.
    store.create_portal_user(other, &user("ann@contoso.com", Role::Member)).await.unwrap();
    // An empty email is refused before the database.
    let err = store.create_portal_user(ws, &user("  ", Role::Member)).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
}

async fn admins_are_counted_per_workspace(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    assert_eq!(store.count_admins(ws).await.unwrap(), 0);
    store.create_portal_user(ws, &user("a@contoso.com", Role::Admin)).await.unwrap();
    store.create_portal_user(ws, &user("b@contoso.com", Role::Member)).await.unwrap();
    store.create_portal_user(ws, &user("c@contoso.com", Role::Admin)).await.unwrap();
    assert_eq!(store.count_admins(ws).await.unwrap(), 2);
    assert_eq!(store.count_admins(other).await.unwrap(), 0);
}

async fn password_hash_and_last_login_are_updated(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let id = store.create_portal_user(ws, &user("ann@contoso.com", Role::Member)).await.unwrap();
    store.set_password_hash(ws, id, "$argon2id$new").await.unwrap();
    store.record_login(ws, id, at(5, 9)).await.unwrap();
    let found = store.portal_user(ws, id).await.unwrap().unwrap();
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(found.last_login_at, Some(at(5, 9)));
    // Not through another workspace.
    let err = store.set_password_hash(other, id, "$argon2id$evil").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(matches!(store.record_login(other, id, at(5, 9)).await, Err(StoreError::NotFound(_))));
}

async fn sessions_are_stored_by_token_hash_and_load_with_role_and_csrf_token_until_they_expire(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let id = store.create_portal_user(ws, &user("ann@contoso.com", Role::Admin)).await.unwrap();
    let token = "session-token-0123456789abcdef";
    store.create_session(ws, id, token, "csrf-1", at(5, 9), at(5, 21)).await.unwrap();

    let session = store.session_by_token(ws, token, at(5, 10)).await.unwrap().expect("live session");
    assert_eq!(session.user.id, id);
    assert_eq!(session.user.role, Role::Admin);
    assert_eq!(session.csrf_token, "csrf-1");
    assert_eq!(session.expires_at, at(5, 21));
    assert!(!format!("{session:?}").contains("csrf-1"), "Debug hides the CSRF token");

    // Expired at its expiry time; unknown tokens and other workspaces find nothing.
    assert!(store.session_by_token(ws, token, at(5, 21)).await.unwrap().is_none());
    assert!(store.session_by_token(ws, "another-token", at(5, 10)).await.unwrap().is_none());
    assert!(store.session_by_token(other, token, at(5, 10)).await.unwrap().is_none());

    // Only the hash is in the database.
    let ids = raw_strings(&db, "select id from session").await;
    assert_eq!(ids, vec![token_hash(token)]);
    assert_ne!(ids[0], token);

    // A session for a user of another workspace is refused.
    let err = store.create_session(other, id, "t2", "c2", at(5, 9), at(5, 21)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn deleting_sessions_ends_them(db: TestDb) {
    let store = &db.store;
    let (ws, _) = two_workspaces(store).await;
    let ann = store.create_portal_user(ws, &user("ann@contoso.com", Role::Member)).await.unwrap();
    let bob = store.create_portal_user(ws, &user("bob@contoso.com", Role::Member)).await.unwrap();
    store.create_session(ws, ann, "ann-1", "c", at(5, 9), at(6, 9)).await.unwrap();
    store.create_session(ws, ann, "ann-2", "c", at(5, 9), at(6, 9)).await.unwrap();
    store.create_session(ws, bob, "bob-old", "c", at(1, 9), at(2, 9)).await.unwrap();
    store.create_session(ws, bob, "bob-new", "c", at(5, 9), at(6, 9)).await.unwrap();

    store.delete_session(ws, "ann-1").await.unwrap();
    assert!(store.session_by_token(ws, "ann-1", at(5, 10)).await.unwrap().is_none());
    assert!(store.session_by_token(ws, "ann-2", at(5, 10)).await.unwrap().is_some());
    store.delete_session(ws, "never-existed").await.unwrap();

    assert_eq!(store.delete_expired_sessions(at(5, 10)).await.unwrap(), 1);
    assert!(store.session_by_token(ws, "bob-new", at(5, 10)).await.unwrap().is_some());

    assert_eq!(store.delete_user_sessions(ws, ann).await.unwrap(), 1);
    assert!(store.session_by_token(ws, "ann-2", at(5, 10)).await.unwrap().is_none());
    assert!(store.session_by_token(ws, "bob-new", at(5, 10)).await.unwrap().is_some());
}

async fn login_failures_are_counted_by_account_source_and_both_since_a_time(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    let start = at(5, 9);
    for minute in [1, 2, 3] {
        store.record_login_failure(ws, "Ann@Contoso.com", "10.0.0.1", start + Duration::minutes(minute)).await.unwrap();
    }
    store.record_login_failure(ws, "bob@contoso.com", "10.0.0.1", start + Duration::minutes(4)).await.unwrap();
    store.record_login_failure(ws, "ann@contoso.com", "10.0.0.2", start + Duration::minutes(5)).await.unwrap();

    let history = store.login_attempt_history(ws, "ANN@contoso.com", "10.0.0.1", start).await.unwrap();
    assert_eq!(history.account.count, 4);
    assert_eq!(history.account.oldest, Some(start + Duration::minutes(1)));
    assert_eq!(history.account.latest, Some(start + Duration::minutes(5)));
    assert_eq!(history.source.count, 4);
    assert_eq!((history.pair.count, history.pair.latest), (3, Some(start + Duration::minutes(3))));

    // Only those after `since` count.
    let later = store.login_attempt_history(ws, "ann@contoso.com", "10.0.0.1", start + Duration::minutes(2)).await;
    let later = later.unwrap();
    assert_eq!(later.account.count, 2);
    assert_eq!(later.account.oldest, Some(start + Duration::minutes(3)));

    // Nothing recorded: zero and no times; other workspaces count apart.
    let none = store.login_attempt_history(other, "ann@contoso.com", "10.0.0.1", start).await.unwrap();
    assert_eq!(none, tac_store::AttemptHistory::default());

    // Pruning removes old rows.
    assert_eq!(store.delete_login_failures_before(start + Duration::minutes(2)).await.unwrap(), 2);
    assert_eq!(store.login_attempt_history(ws, "x@contoso.com", "10.0.0.1", start).await.unwrap().source.count, 2);
}

async fn concurrent_attempts_are_reserved_one_at_a_time_and_counted_as_many(db: TestDb) {
    let store = db.store.clone();
    let (ws, _) = two_workspaces(&store).await;
    let now = at(5, 9);
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let store = store.clone();
        attempts.spawn(async move {
            store
                .reserve_login_attempt(ws, "ann@contoso.com", "10.0.0.1", now, now - Duration::minutes(15), |h| {
                    (h.pair.count >= 5).then(|| now + Duration::minutes(1))
                })
                .await
                .unwrap()
        });
    }
    let outcomes = attempts.join_all().await;
    let granted = outcomes.iter().filter(|r| **r == tac_store::Reservation::Granted).count();
    assert_eq!(granted, 5, "{outcomes:?}");
    assert!(outcomes.contains(&tac_store::Reservation::Refused { retry_at: now + Duration::minutes(1) }));
    let history = store.login_attempt_history(ws, "ann@contoso.com", "10.0.0.1", now - Duration::minutes(15)).await;
    assert_eq!(history.unwrap().pair.count, 5, "granted attempts are recorded, refused ones are not");
}

async fn clearing_failures_forgets_the_email_but_not_the_address(db: TestDb) {
    let store = &db.store;
    let (ws, _) = two_workspaces(store).await;
    let start = at(5, 9);
    store.record_login_failure(ws, "ann@contoso.com", "10.0.0.1", start + Duration::minutes(1)).await.unwrap();
    store.record_login_failure(ws, "bob@contoso.com", "10.0.0.1", start + Duration::minutes(2)).await.unwrap();
    assert_eq!(store.clear_login_failures(ws, "Ann@contoso.com").await.unwrap(), 1);
    let ann = store.login_attempt_history(ws, "ann@contoso.com", "10.0.0.1", start).await.unwrap();
    assert_eq!((ann.account.count, ann.source.count), (0, 1), "Bob's failure from the address stays");
    let bob = store.login_attempt_history(ws, "bob@contoso.com", "10.0.0.1", start).await.unwrap();
    assert_eq!(bob.account.count, 1);
}

async fn a_setup_token_creates_the_first_admin_once(db: TestDb) {
    let store = &db.store;
    let (ws, _) = two_workspaces(store).await;
    store.create_setup_token(ws, "setup-1", at(5, 9), at(6, 9)).await.unwrap();
    store.create_setup_token(ws, "setup-2", at(5, 9), at(6, 9)).await.unwrap();
    assert!(store.setup_token_is_valid(ws, "setup-1", at(5, 10)).await.unwrap());
    assert!(store.setup_token_is_valid(ws, "setup-1", at(5, 10)).await.unwrap(), "checking does not use it");

    let id = store.create_first_admin(ws, "setup-1", &user("ann@contoso.com", Role::Member), at(5, 10)).await.unwrap();
    let admin = store.portal_user(ws, id).await.unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin, "setup always creates an admin");
    assert_eq!(store.count_admins(ws).await.unwrap(), 1);

    // Used, and every other outstanding link is void too.
    assert!(!store.setup_token_is_valid(ws, "setup-1", at(5, 11)).await.unwrap());
    assert!(!store.setup_token_is_valid(ws, "setup-2", at(5, 11)).await.unwrap());
    let err = store.create_first_admin(ws, "setup-1", &user("eve@contoso.com", Role::Admin), at(5, 11)).await;
    assert!(matches!(err, Err(StoreError::SetupTokenInvalid)), "{err:?}");

    // Consuming is single use as well.
    store.create_setup_token(ws, "setup-3", at(5, 9), at(6, 9)).await.unwrap();
    assert!(store.consume_setup_token(ws, "setup-3", at(5, 12)).await.unwrap());
    assert!(!store.consume_setup_token(ws, "setup-3", at(5, 12)).await.unwrap());

    // Tokens are stored as hashes only.
    let ids = raw_strings(&db, "select id from setup_token").await;
    assert!(ids.contains(&token_hash("setup-1")) && !ids.iter().any(|i| i.starts_with("setup-")), "{ids:?}");
}

async fn an_expired_or_unknown_setup_token_is_refused_and_changes_nothing(db: TestDb) {
    let store = &db.store;
    let (ws, other) = two_workspaces(store).await;
    store.create_setup_token(ws, "setup-1", at(5, 9), at(6, 9)).await.unwrap();
    assert!(!store.setup_token_is_valid(ws, "setup-1", at(6, 9)).await.unwrap(), "expired at its expiry");
    assert!(!store.setup_token_is_valid(other, "setup-1", at(5, 10)).await.unwrap(), "another workspace");
    for (workspace, token, now) in [(ws, "setup-1", at(6, 10)), (ws, "nope", at(5, 10)), (other, "setup-1", at(5, 10))]
    {
        let err = store.create_first_admin(workspace, token, &user("ann@contoso.com", Role::Admin), now).await;
        assert!(matches!(err, Err(StoreError::SetupTokenInvalid)), "{err:?}");
    }
    assert_eq!(store.count_admins(ws).await.unwrap(), 0);
    assert!(store.portal_user_by_email(ws, "ann@contoso.com").await.unwrap().is_none());
}

async fn setup_refuses_when_an_admin_exists(db: TestDb) {
    let store = &db.store;
    let (ws, _) = two_workspaces(store).await;
    store.create_portal_user(ws, &user("root@contoso.com", Role::Admin)).await.unwrap();
    store.create_setup_token(ws, "setup-1", at(5, 9), at(6, 9)).await.unwrap();
    let err = store.create_first_admin(ws, "setup-1", &user("ann@contoso.com", Role::Admin), at(5, 10)).await;
    assert!(matches!(err, Err(StoreError::AdminExists)), "{err:?}");
    // The refused attempt left the link as it was (the transaction rolled back).
    assert!(store.setup_token_is_valid(ws, "setup-1", at(5, 10)).await.unwrap());
    assert!(store.portal_user_by_email(ws, "ann@contoso.com").await.unwrap().is_none());
}

/// One text column of every row, read outside the store.
async fn raw_strings(db: &TestDb, sql: &'static str) -> Vec<String> {
    use sqlx::Connection as _;
    if db.sqlite_path.is_some() {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    }
}
