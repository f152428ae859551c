use crate::both_backends;
use crate::common::TestDb;
use sqlx::Connection as _;
use tac_store::{
    ExposeSecret, IntegrationSettings, IntegrationStatus, MailboxScope, MasterKey, SecretChange, SecretString,
    StoreError,
};

both_backends!(
    secret_is_encrypted_at_rest_and_decryptable_only_with_the_right_key,
    saving_settings_without_a_new_secret_keeps_the_stored_one,
    a_new_destination_without_the_secret_entered_again_clears_it_and_every_save_is_audited,
    integration_is_none_until_saved,
);

const PLAINTEXT: &str = "Pl41nT3xt~Secret.Value-9f3c";

fn settings() -> IntegrationSettings {
    IntegrationSettings {
        login_url: "http://127.0.0.1:9999".to_owned(),
        graph_url: "http://127.0.0.1:9999/v1.0".to_owned(),
        mailbox_scope: MailboxScope::Groups(vec!["group-sales".to_owned(), "group-exec".to_owned()]),
        backfill_days: 90,
        ..IntegrationSettings::new("tenant-5c1d0a7e", "client-2b9e")
    }
}

async fn secret_is_encrypted_at_rest_and_decryptable_only_with_the_right_key(db: TestDb) {
    let store = &db.store;
    let ws = store.ensure_workspace("default").await.unwrap();
    let key = MasterKey::from_bytes([11; 32]);
    let id = store.save_integration(ws, &settings(), Some(&SecretString::from(PLAINTEXT)), &key, "test").await.unwrap();

    // The right key decrypts.
    let loaded = store.load_integration(ws, &key).await.unwrap().expect("integration saved");
    assert_eq!(loaded.id, id.id);
    assert_eq!(loaded.settings, settings());
    assert_eq!(loaded.client_secret.as_ref().map(|s| s.expose_secret()), Some(PLAINTEXT));
    assert!(loaded.secret_set_at.is_some());
    assert!(!format!("{loaded:?}").contains(PLAINTEXT), "Debug must redact the secret");

    // Another key does not, and says what to do.
    let other = MasterKey::from_bytes([12; 32]);
    let err = store.load_integration(ws, &other).await.unwrap_err();
    assert!(matches!(err, StoreError::SecretUndecryptable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("re-enter the client secret"), "{message}");
    assert!(message.contains(key.id()) && message.contains(other.id()), "{message}");

    // The summary shows when, never what.
    let summary = store.integration_summary(ws).await.unwrap().expect("integration saved");
    assert_eq!(summary.secret_set_at, loaded.secret_set_at);
    assert_eq!(summary.secret_key_id.as_deref(), Some(key.id()));
    let shown = format!("{summary:?} {}", serde_json::to_string(&summary).unwrap());
    assert!(!shown.contains(PLAINTEXT), "{shown}");

    // The database's bytes never hold the plaintext.
    match &db.sqlite_path {
        Some(path) => {
            // Closing checkpoints the WAL into the main file; read whatever files remain.
            store.close().await;
            let mut bytes = std::fs::read(path).unwrap();
            for suffix in ["-wal", "-shm"] {
                if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
                    bytes.extend(more);
                }
            }
            assert!(contains(&bytes, b"tenant-5c1d0a7e"), "sanity: the settings are in these files");
            assert!(!contains(&bytes, PLAINTEXT.as_bytes()), "plaintext secret found in the SQLite files");
        }
        None => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let (row_text, ciphertext): (String, Vec<u8>) =
                sqlx::query_as("select i::text, secret_ciphertext from integration i")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            assert!(row_text.contains("tenant-5c1d0a7e"), "sanity: {row_text}");
            assert!(!row_text.contains(PLAINTEXT), "{row_text}");
            assert!(!contains(&ciphertext, PLAINTEXT.as_bytes()));
            assert_eq!(ciphertext.len(), PLAINTEXT.len() + 16, "AES-GCM: plaintext length plus tag");
        }
    }
}

async fn saving_settings_without_a_new_secret_keeps_the_stored_one(db: TestDb) {
    let store = &db.store;
    let ws = store.ensure_workspace("default").await.unwrap();
    let key = MasterKey::from_bytes([3; 32]);
    let first =
        store.save_integration(ws, &settings(), Some(&SecretString::from(PLAINTEXT)), &key, "test").await.unwrap();
    let set_at = store.integration_summary(ws).await.unwrap().unwrap().secret_set_at;

    let changed = IntegrationSettings { import_emails: false, mailbox_scope: MailboxScope::All, ..settings() };
    let second = store.save_integration(ws, &changed, None, &key, "test").await.unwrap();
    assert_eq!(first.id, second.id, "one integration per workspace");
    assert_eq!((first.secret, second.secret), (SecretChange::Replaced, SecretChange::Kept));
    assert_eq!(second.changed, ["import_emails", "mailbox_scope"]);
    let loaded = store.load_integration(ws, &key).await.unwrap().unwrap();
    assert_eq!(loaded.settings, changed);
    assert_eq!(loaded.client_secret.as_ref().map(|s| s.expose_secret()), Some(PLAINTEXT));
    assert_eq!(loaded.secret_set_at, set_at);

    // A new secret replaces it.
    store.save_integration(ws, &changed, Some(&SecretString::from("rotated")), &key, "test").await.unwrap();
    let loaded = store.load_integration(ws, &key).await.unwrap().unwrap();
    assert_eq!(loaded.client_secret.as_ref().map(|s| s.expose_secret()), Some("rotated"));

    store.set_integration_status(ws, IntegrationStatus::Failed, Some("AADSTS7000215: invalid secret")).await.unwrap();
    let summary = store.integration_summary(ws).await.unwrap().unwrap();
    assert_eq!(summary.settings.status, IntegrationStatus::Failed);
    assert_eq!(summary.settings.last_error.as_deref(), Some("AADSTS7000215: invalid secret"));
}

async fn integration_is_none_until_saved(db: TestDb) {
    let store = &db.store;
    let ws = store.ensure_workspace("default").await.unwrap();
    let key = MasterKey::from_bytes([3; 32]);
    assert!(store.load_integration(ws, &key).await.unwrap().is_none());
    assert!(store.integration_summary(ws).await.unwrap().is_none());
    let err = store.set_integration_status(ws, IntegrationStatus::Connected, None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("integration")), "{err:?}");

    // Without a secret, loading works and has none.
    store.save_integration(ws, &settings(), None, &key, "test").await.unwrap();
    let loaded = store.load_integration(ws, &key).await.unwrap().unwrap();
    assert!(loaded.client_secret.is_none());
    assert!(loaded.secret_set_at.is_none());
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

async fn a_new_destination_without_the_secret_entered_again_clears_it_and_every_save_is_audited(db: TestDb) {
    let store = &db.store;
    let ws = store.ensure_workspace("default").await.unwrap();
    let key = MasterKey::from_bytes([3; 32]);
    let secret = SecretString::from(PLAINTEXT);
    let saved = store.save_integration(ws, &settings(), Some(&secret), &key, "ann@contoso.com").await.unwrap();
    assert_eq!(saved.changed, ["tenant_id", "client_id", "login_url", "graph_url"], "a first save sets them all");

    // Each setting that decides where the secret goes clears it when
    // changed alone; a case or trailing-slash difference is no change.
    let same = IntegrationSettings { login_url: format!("{}/", settings().login_url.to_uppercase()), ..settings() };
    assert_eq!(store.save_integration(ws, &same, None, &key, "ann").await.unwrap().secret, SecretChange::Kept);
    for (field, moved) in [
        ("login_url", IntegrationSettings { login_url: "https://login.evil.example".into(), ..settings() }),
        ("graph_url", IntegrationSettings { graph_url: "https://graph.evil.example/v1.0".into(), ..settings() }),
        ("tenant_id", IntegrationSettings { tenant_id: "fabrikam.onmicrosoft.com".into(), ..settings() }),
        ("client_id", IntegrationSettings { client_id: "00000000-0000-0000-0000-000000000001".into(), ..settings() }),
    ] {
        store.save_integration(ws, &settings(), Some(&secret), &key, "ann").await.unwrap();
        let saved = store.save_integration(ws, &moved, None, &key, "mallory@contoso.com").await.unwrap();
        assert_eq!((saved.secret, saved.changed.as_slice()), (SecretChange::Cleared, [field].as_slice()));
        let loaded = store.load_integration(ws, &key).await.unwrap().unwrap();
        assert!(loaded.client_secret.is_none() && loaded.secret_set_at.is_none(), "{field}: the secret is gone");
    }

    // The audit log has every save, with who, what changed and what became
    // of the secret, never the secret itself.
    let audit = store.audit_log(ws, 50).await.unwrap();
    let saves: Vec<_> = audit.iter().filter(|a| a.action == "integration.save").collect();
    assert_eq!(saves.len(), 10);
    assert!(saves.iter().any(|a| a.actor == "mallory@contoso.com"
        && a.detail.as_ref().is_some_and(|d| d["secret"] == "cleared" && d["changed"][0] == "client_id")));
    assert!(!format!("{audit:?}").contains(PLAINTEXT));
}
