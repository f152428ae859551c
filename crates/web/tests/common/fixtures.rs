//! Store fixtures that the page and API tests both seed with: Contoso's
//! directory, participants and hand-made contacts, written through the
//! Store API as the sync and the CLI would write them.

use chrono::{DateTime, Duration, Utc};
use tac_core::records::{
    AttendeeRecord, DirectoryUser, EmailRecord, MeetingRecord, Participant, ParticipantRole, TenantDomain,
};
use tac_store::{ContactId, ContactSource, NewContact, Store, WorkspaceId};

/// A participant of an email or meeting.
pub fn participant(role: ParticipantRole, address: &str, name: &str) -> Participant {
    Participant { role, address: address.to_owned(), name: name.to_owned() }
}

/// A normal, non-private email sent and received at `when`, with
/// `Preview of {subject}` as its preview, alone in conversation `conv-{id}`.
pub fn email(
    id: &str,
    subject: &str,
    body_html: &str,
    when: DateTime<Utc>,
    participants: Vec<Participant>,
) -> EmailRecord {
    EmailRecord {
        internet_message_id: id.to_owned(),
        conversation_id: Some(format!("conv-{id}")),
        subject: subject.to_owned(),
        body_html: body_html.to_owned(),
        body_preview: format!("Preview of {subject}"),
        sent_at: when,
        received_at: when,
        has_attachments: false,
        importance: "normal".into(),
        is_private: false,
        meeting_message_type: None,
        participants,
        internal_only: false,
    }
}

/// A one-hour meeting in Room 4 from `start`, neither cancelled nor
/// online, with "Agenda" as its body.
pub fn meeting(
    uid: &str,
    subject: &str,
    start: DateTime<Utc>,
    organizer: Participant,
    attendees: Vec<AttendeeRecord>,
) -> MeetingRecord {
    MeetingRecord {
        ical_uid: uid.to_owned(),
        series_master_id: None,
        event_type: "singleInstance".into(),
        subject: subject.to_owned(),
        body_html: "<p>Agenda</p>".into(),
        start,
        end: start + Duration::hours(1),
        is_all_day: false,
        is_cancelled: false,
        sensitivity: "normal".into(),
        original_time_zone: None,
        location: Some("Room 4".into()),
        online_meeting_url: None,
        organizer,
        attendees,
        internal_only: false,
    }
}

/// A required attendee who answered `response`.
pub fn attendee(address: &str, name: &str, response: &str) -> AttendeeRecord {
    AttendeeRecord { address: address.into(), name: name.into(), kind: "required".into(), response: response.into() }
}

/// Contoso's directory: Ann (`u-ann`) and Bob (`u-bob`) at `domain`, the
/// tenant's one domain. No mailbox is synced yet.
pub async fn directory(store: &Store, ws: WorkspaceId, domain: &str) {
    let user = |id: &str, mail: String| DirectoryUser {
        id: id.into(),
        display_name: id.trim_start_matches("u-").into(),
        user_principal_name: mail.clone(),
        mail: Some(mail.clone()),
        proxy_addresses: vec![format!("SMTP:{mail}")],
        account_enabled: true,
    };
    store
        .replace_directory(
            ws,
            &[user("u-ann", format!("ann@{domain}")), user("u-bob", format!("bob@{domain}"))],
            &[],
            &[],
            &[TenantDomain { name: domain.into(), is_default: true, is_initial: false }],
        )
        .await
        .expect("the directory is stored");
}

/// A contact added by hand with one address.
pub async fn contact(store: &Store, ws: WorkspaceId, name: &str, email: &str) -> ContactId {
    let new = NewContact {
        name: name.into(),
        emails: vec![tac_core::address::normalize(email).expect("a fixture address")],
        company: None,
        source: ContactSource::Manual,
    };
    store.create_contact(ws, &new).await.expect("the contact is created")
}
