//! Runs each storage test against both backends, each in a database of its
//! own so tests run in parallel (`tac_test_support::TestDb`: a fresh SQLite
//! file, or a fresh PostgreSQL database `tac_test_<random>`, removed
//! afterwards, also when the test fails).

use chrono::{DateTime, TimeZone, Utc};
use std::future::Future;
use tac_core::privacy::Visibility;
use tac_core::records::{
    AttendeeRecord, Direction, DirectoryUser, EmailCopy, EmailRecord, MeetingCopy, MeetingRecord, Participant,
    ParticipantRole, TenantDomain,
};
use tac_core::timeline::TimelineItem;
use tac_store::{
    Backend, ContactSource, EmailId, MailboxId, MeetingId, NewContact, PageOutcome, PrivacySettings, RoundState, Store,
    StoreError, SyncCursor, WorkspaceId,
};
pub use tac_test_support::{TestDb, random_suffix};

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

/// Runs the test on a fresh database of `backend`; the database is
/// removed when the test's task ends, whether it passed or panicked (then
/// the panic is raised again here).
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = TestDb::new(backend, "test").await;
    if let Err(error) = tokio::spawn(test(db)).await {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
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

/// Workspace "default" with mailboxes for Ann and Bob, and no directory.
pub async fn ann_and_bob(store: &Store) -> (WorkspaceId, MailboxId, MailboxId) {
    let ws = store.ensure_workspace("default").await.unwrap();
    let ann = store.upsert_mailbox(ws, "u-ann", "ann@contoso.com").await.unwrap();
    let bob = store.upsert_mailbox(ws, "u-bob", "bob@contoso.com").await.unwrap();
    (ws, ann, bob)
}

/// Workspaces "default" and "other", empty.
pub async fn two_workspaces(store: &Store) -> (WorkspaceId, WorkspaceId) {
    let default = store.ensure_workspace("default").await.unwrap();
    let other = store.ensure_workspace("other").await.unwrap();
    (default, other)
}

// ---- pages -------------------------------------------------------------------

/// The `n`th page's link, from a round still under way.
pub fn next_link(n: u32) -> SyncCursor {
    SyncCursor::NextLink(format!("https://graph.example/v1.0/users/u/delta?$skiptoken={n}"))
}

/// The `n`th round's closing link, which starts the round after it.
pub fn delta_link(n: u32) -> SyncCursor {
    SyncCursor::DeltaLink(format!("https://graph.example/v1.0/users/u/delta?$deltatoken={n}"))
}

/// `Store::apply_mail_page` with no contacts to create, in a round that
/// reads every item.
pub async fn apply_mail(
    store: &Store,
    ws: WorkspaceId,
    mailbox: MailboxId,
    folder: &str,
    upserts: &[(EmailRecord, EmailCopy)],
    removed: &[String],
    cursor: &SyncCursor,
) -> Result<PageOutcome, StoreError> {
    store.apply_mail_page(ws, mailbox, folder, upserts, removed, &[], cursor, RoundState::default()).await
}

/// Stores `emails` as one page of `mailbox`'s inbox, each copy outbound
/// when Contoso sent it and inbound otherwise.
pub async fn put_mail(store: &Store, ws: WorkspaceId, mailbox: MailboxId, emails: &[EmailRecord]) {
    let page: Vec<_> = emails
        .iter()
        .map(|e| {
            let ours =
                e.participants.iter().any(|p| p.role == ParticipantRole::From && p.address.ends_with("@contoso.com"));
            let direction = if ours { Direction::Outbound } else { Direction::Inbound };
            (e.clone(), copy(&format!("{mailbox}-{}", e.internet_message_id), "inbox", direction))
        })
        .collect();
    apply_mail(store, ws, mailbox, "inbox", &page, &[], &next_link(1)).await.unwrap();
}

/// Stores `meetings` as one page of `mailbox`'s calendar.
pub async fn put_meetings(
    store: &Store,
    ws: WorkspaceId,
    mailbox: MailboxId,
    meetings: &[(MeetingRecord, MeetingCopy)],
) {
    store.apply_calendar_page(ws, mailbox, meetings, &[], &[], &next_link(1)).await.unwrap();
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

/// A contact someone created by hand, with a company from its addresses.
pub fn new_contact(name: &str, emails: &[&str]) -> NewContact {
    NewContact {
        name: name.to_owned(),
        emails: emails.iter().map(|e| tac_core::address::normalize(e).expect("fixture address")).collect(),
        company: None,
        source: ContactSource::Manual,
    }
}

/// The privacy settings at `visibility`, otherwise the defaults: contacts
/// from sent mail, no retention limit, internal-only content not kept.
pub fn privacy(visibility: Visibility) -> PrivacySettings {
    PrivacySettings { visibility, ..PrivacySettings::default() }
}

// ---- reading items -----------------------------------------------------------

/// The id of the first email among `items`.
pub fn email_id(items: &[TimelineItem]) -> EmailId {
    let id = items.iter().find_map(|i| if let TimelineItem::Email(e) = i { Some(&e.id) } else { None });
    EmailId(numeric(id.expect("an email among the items"), "email-"))
}

/// The id of the first meeting among `items`.
pub fn meeting_id(items: &[TimelineItem]) -> MeetingId {
    let id = items.iter().find_map(|i| if let TimelineItem::Meeting(m) = i { Some(&m.id) } else { None });
    MeetingId(numeric(id.expect("a meeting among the items"), "meeting-"))
}

/// The number in an item id such as `email-12`.
fn numeric(id: &str, prefix: &str) -> i64 {
    id.strip_prefix(prefix).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{id} is not {prefix}<number>"))
}
