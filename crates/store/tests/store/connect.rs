//! Opening databases: URL handling and SQLite settings.

use crate::both_backends;
use crate::common::{TestDb, random_suffix};
use tac_store::{Backend, Store, StoreError};

both_backends!(a_live_database_answers_the_readiness_ping);

/// `/readyz` is this ping: on PostgreSQL it once failed on the type of
/// `select 1`, so a healthy deployment never became ready.
async fn a_live_database_answers_the_readiness_ping(db: TestDb) {
    db.store.ping().await.expect("the database answers");
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_with_foreign_keys() {
    let dir = std::env::temp_dir().join(format!("tac-store-connect-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("new.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    assert!(path.exists());
    assert_eq!(store.backend(), Backend::Sqlite);
    assert_eq!(store.backend_name(), "sqlite");
    let Store::Sqlite(pool) = &store else { unreachable!() };
    let mode: String = sqlx::query_scalar("pragma journal_mode").fetch_one(pool).await.unwrap();
    assert_eq!(mode, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("pragma foreign_keys").fetch_one(pool).await.unwrap();
    assert_eq!(foreign_keys, 1);
    store.close().await;

    // Opening again runs no migration twice and keeps the data.
    let store = Store::connect(&url).await.unwrap();
    let ws = store.ensure_workspace("default").await.unwrap();
    store.close().await;
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.ensure_workspace("default").await.unwrap(), ws);
    store.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_them() {
    let err = Store::connect("mysql://root:hunter2@db/tac").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(ref scheme) if scheme == "mysql"), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
