//! Runs each storage test against both backends, each in a database of its
//! own so tests run in parallel: a fresh SQLite file in a temporary folder,
//! and a fresh PostgreSQL database `tac_test_<random>` created through
//! `TAC_TEST_POSTGRES_URL` and dropped afterwards (also when the test fails).

use chrono::{DateTime, TimeZone, Utc};
use std::future::Future;
use std::path::PathBuf;
use tac_core::records::{
    AttendeeRecord, Direction, DirectoryUser, EmailCopy, EmailRecord, MeetingCopy, MeetingRecord, Participant,
    ParticipantRole, TenantDomain,
};
use tac_store::{Backend, MailboxId, Store, WorkspaceId};

pub const POSTGRES_URL_VAR: &str = "TAC_TEST_POSTGRES_URL";

/// A store on a database that only this test uses.
pub struct TestDb {
    pub store: Store,
    /// The URL the store was opened with, for tests that look at raw rows.
    pub url: String,
    /// The SQLite file (`None` on PostgreSQL).
    pub sqlite_path: Option<PathBuf>,
}

enum Cleanup {
    SqliteDir(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

/// Declares `mod <test> { sqlite(), postgres() }` for each async test
/// function `async fn <test>(db: TestDb)` named, so every behaviour is one
/// test per backend: `cargo test mail::replaying_a_page_is_a_no_op`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    $crate::common::run(tac_store::Backend::Sqlite, super::$name).await;
                }

                #[tokio::test]
                async fn postgres() {
                    $crate::common::run(tac_store::Backend::Postgres, super::$name).await;
                }
            }
        )*
    };
}

/// Creates the test's database, runs the test, and drops the database even
/// if the test panicked (then re-raises the panic).
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (db, cleanup) = match backend {
        Backend::Sqlite => sqlite_db().await,
        Backend::Postgres => postgres_db().await,
    };
    let store = db.store.clone();
    let outcome = tokio::spawn(test(db)).await;
    store.close().await;
    match cleanup {
        Cleanup::SqliteDir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Cleanup::PostgresDatabase { admin_url, name } => drop_postgres_database(&admin_url, &name).await,
    }
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

pub fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("BUG: the OS random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn sqlite_db() -> (TestDb, Cleanup) {
    let dir = std::env::temp_dir().join(format!("tac-store-test-{}", random_suffix()));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    let path = dir.join("tac.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("open a fresh SQLite database");
    (TestDb { store, url, sqlite_path: Some(path) }, Cleanup::SqliteDir(dir))
}

async fn postgres_db() -> (TestDb, Cleanup) {
    let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set, and every storage test also runs against PostgreSQL.\n\
             Run the tests with `scripts/test` (it installs and starts a local PostgreSQL 15, creates \
             the `tac` role and sets the variable), or start PostgreSQL yourself \
             (`pg_ctlcluster 15 main start`) and export \
             {POSTGRES_URL_VAR}=postgres://tac:tac@127.0.0.1:5432/postgres \
             (a role with LOGIN and CREATEDB; each test creates and drops its own database)."
        )
    });
    let name = format!("tac_test_{}", random_suffix());
    let mut admin = connect_admin(&admin_url).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    drop(admin);
    let url = with_database(&admin_url, &name);
    let store = Store::connect(&url).await.expect("open the fresh PostgreSQL database");
    (TestDb { store, url, sqlite_path: None }, Cleanup::PostgresDatabase { admin_url, name })
}

async fn connect_admin(admin_url: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect(admin_url).await.unwrap_or_else(|e| {
        panic!(
            "cannot connect to PostgreSQL at {POSTGRES_URL_VAR}: {e}\n\
             Is it running? `scripts/test` starts it (or: `pg_ctlcluster 15 main start`)."
        )
    })
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    let mut admin = connect_admin(admin_url).await;
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)")))
        .execute(&mut admin)
        .await
    {
        eprintln!("warning: could not drop test database {name}: {e}");
    }
}

/// The admin URL with its database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{root}/{name}{query}")
}

// ---- fixtures ----------------------------------------------------------------

/// A directory user whose address, UPN and primary SMTP proxy are `mail`.
pub fn directory_user(id: &str, mail: &str) -> DirectoryUser {
    DirectoryUser {
        id: id.into(),
        display_name: id.trim_start_matches("u-").into(),
        user_principal_name: mail.into(),
        mail: Some(mail.into()),
        proxy_addresses: vec![format!("SMTP:{mail}")],
        account_enabled: true,
    }
}

/// Contoso's directory (Ann and Bob, each with a mailbox) and verified
/// domain, with `more_domains` verified too: the workspace and the two
/// mailboxes.
pub async fn contoso(store: &Store, more_domains: &[&str]) -> (WorkspaceId, MailboxId, MailboxId) {
    let ws = store.ensure_workspace("default").await.unwrap();
    let domains: Vec<TenantDomain> = std::iter::once("contoso.com")
        .chain(more_domains.iter().copied())
        .map(|name| TenantDomain { name: name.into(), is_default: name == "contoso.com", is_initial: false })
        .collect();
    let users = [directory_user("u-ann", "ann@contoso.com"), directory_user("u-bob", "bob@contoso.com")];
    store.replace_directory(ws, &users, &[], &[], &domains).await.unwrap();
    let ann = store.upsert_mailbox(ws, "u-ann", "ann@contoso.com").await.unwrap();
    let bob = store.upsert_mailbox(ws, "u-bob", "bob@contoso.com").await.unwrap();
    (ws, ann, bob)
}

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0).single().expect("BUG: fixture date is valid")
}

pub fn participant(role: ParticipantRole, address: &str, name: &str) -> Participant {
    Participant { role, address: address.to_owned(), name: name.to_owned() }
}

/// An email from an external sender to Ann and Bob.
pub fn email(message_id: &str, subject: &str, body_html: &str) -> EmailRecord {
    EmailRecord {
        internet_message_id: message_id.to_owned(),
        conversation_id: Some(format!("conv-{message_id}")),
        subject: subject.to_owned(),
        body_html: body_html.to_owned(),
        body_preview: tac_core::text::html_to_text(body_html).chars().take(255).collect(),
        sent_at: at(3, 9),
        received_at: at(3, 10),
        has_attachments: false,
        importance: "normal".to_owned(),
        is_private: false,
        meeting_message_type: None,
        participants: vec![
            participant(ParticipantRole::From, "zoe@fabrikam.com", "Zoe Client"),
            participant(ParticipantRole::To, "ann@contoso.com", "Ann Lee"),
            participant(ParticipantRole::Cc, "bob@contoso.com", "Bob Roe"),
        ],
        internal_only: false,
    }
}

pub fn copy(graph_id: &str, folder_id: &str, direction: Direction) -> EmailCopy {
    EmailCopy { graph_id: graph_id.to_owned(), folder_id: folder_id.to_owned(), direction, is_read: false }
}

/// A meeting organised by Ann with Bob and an external attendee.
pub fn meeting(ical_uid: &str, subject: &str) -> MeetingRecord {
    MeetingRecord {
        ical_uid: ical_uid.to_owned(),
        series_master_id: None,
        event_type: "singleInstance".to_owned(),
        subject: subject.to_owned(),
        body_html: "<p>Agenda</p>".to_owned(),
        start: at(10, 14),
        end: at(10, 15),
        is_all_day: false,
        is_cancelled: false,
        sensitivity: "normal".to_owned(),
        original_time_zone: Some("W. Europe Standard Time".to_owned()),
        location: Some("Room 4".to_owned()),
        online_meeting_url: Some("https://teams.example/meet/1".to_owned()),
        organizer: participant(ParticipantRole::Organizer, "ann@contoso.com", "Ann Lee"),
        attendees: vec![
            attendee("bob@contoso.com", "Bob Roe", "required", "accepted"),
            attendee("zoe@fabrikam.com", "Zoe Client", "optional", "none"),
        ],
        internal_only: false,
    }
}

pub fn attendee(address: &str, name: &str, kind: &str, response: &str) -> AttendeeRecord {
    AttendeeRecord {
        address: address.to_owned(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        response: response.to_owned(),
    }
}

pub fn meeting_copy(graph_id: &str, response: &str, is_organizer: bool) -> MeetingCopy {
    MeetingCopy { graph_id: graph_id.to_owned(), response: response.to_owned(), is_organizer }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn test_database_urls_keep_credentials_and_options() {
        assert_eq!(
            with_database("postgres://tac:tac@127.0.0.1:5432/postgres", "tac_test_1"),
            "postgres://tac:tac@127.0.0.1:5432/tac_test_1"
        );
        assert_eq!(with_database("postgres://h:5432?sslmode=disable", "x"), "postgres://h:5432/x?sslmode=disable");
    }
}
