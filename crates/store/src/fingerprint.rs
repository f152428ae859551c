/*!
Content fingerprints of emails and meetings, stored in their rows' `fingerprint` column,
and the digest of the directory that classified them as internal-only.

Most records a sync sees are already stored exactly as they are: the same
message in another mailbox, or a page applied again after a restart. Ingest
compares the stored fingerprint with the incoming record's and, when they are
equal, skips the row's update and the rewrite of its participants or
attendees, without reading either back.

A fingerprint is the hex SHA-256 of every stored field, participants and
attendees included, each written with its length so that no two records
share an encoding. Derived columns (`email.body_text`) are not hashed: they
follow from the hashed fields, so changing how they are derived must bump
the version tag below, or stored rows would keep the old derivation.
*/

use aws_lc_rs::digest::{Context, SHA256};
use chrono::{DateTime, Utc};
use tac_core::records::{EmailRecord, MeetingRecord};

/// Names what is hashed and how. Bump it when the hashed fields or a derived
/// column change: every stored row then differs once and is rewritten.
const EMAIL_VERSION: &[u8] = b"tac-email-2";
const MEETING_VERSION: &[u8] = b"tac-meeting-2";
const DIRECTORY_VERSION: &[u8] = b"tac-internal-1";

/// Feeds fields into a digest, each prefixed with its length (or a marker
/// for `None`), so that field boundaries are part of the hash.
struct Hasher(Context);

impl Hasher {
    fn new(version: &[u8]) -> Self {
        let mut hasher = Hasher(Context::new(&SHA256));
        hasher.text(version);
        hasher
    }

    fn text(&mut self, value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        self.0.update(&(value.len() as u64).to_le_bytes());
        self.0.update(value);
    }

    fn optional(&mut self, value: Option<&str>) {
        match value {
            Some(value) => {
                self.0.update(&[1]);
                self.text(value);
            }
            None => self.0.update(&[0]),
        }
    }

    fn flag(&mut self, value: bool) {
        self.0.update(&[u8::from(value)]);
    }

    fn time(&mut self, value: DateTime<Utc>) {
        self.0.update(&value.timestamp().to_le_bytes());
        self.0.update(&value.timestamp_subsec_nanos().to_le_bytes());
    }

    fn count(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    fn finish(self) -> String {
        let digest = self.0.finish();
        let mut hex = String::with_capacity(2 * digest.as_ref().len());
        for byte in digest.as_ref() {
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
        }
        hex
    }
}

/// The fingerprint of the email row and participants that `email` stores.
pub(crate) fn email(email: &EmailRecord) -> String {
    let mut h = Hasher::new(EMAIL_VERSION);
    h.text(&email.internet_message_id);
    h.optional(email.conversation_id.as_deref());
    h.text(&email.subject);
    h.text(&email.body_html);
    h.text(&email.body_preview);
    h.time(email.sent_at);
    h.time(email.received_at);
    h.flag(email.has_attachments);
    h.text(&email.importance);
    h.flag(email.is_private);
    h.optional(email.meeting_message_type.as_deref());
    h.flag(email.internal_only);
    h.count(email.participants.len());
    for p in &email.participants {
        h.text(p.role.as_str());
        h.text(&p.address);
        h.text(&p.name);
    }
    h.finish()
}

/// The fingerprint of the meeting row and attendees that `meeting` stores
/// when its cancellation flag is `is_cancelled` (cancellation is sticky, so
/// the stored flag may be set when the record's is not).
pub(crate) fn meeting(meeting: &MeetingRecord, is_cancelled: bool) -> String {
    let mut h = Hasher::new(MEETING_VERSION);
    h.text(&meeting.ical_uid);
    h.optional(meeting.series_master_id.as_deref());
    h.text(&meeting.event_type);
    h.text(&meeting.subject);
    h.text(&meeting.body_html);
    h.time(meeting.start);
    h.time(meeting.end);
    h.flag(meeting.is_all_day);
    h.flag(is_cancelled);
    h.text(&meeting.sensitivity);
    h.optional(meeting.original_time_zone.as_deref());
    h.optional(meeting.location.as_deref());
    h.optional(meeting.online_meeting_url.as_deref());
    h.text(&meeting.organizer.address);
    h.text(&meeting.organizer.name);
    h.flag(meeting.internal_only);
    h.count(meeting.attendees.len());
    for a in &meeting.attendees {
        h.text(&a.address);
        h.text(&a.name);
        h.text(&a.kind);
        h.text(&a.response);
    }
    h.finish()
}

/// The digest of what decides which items are internal-only (see
/// `tac_core::internal::Internal::canonical`): when it is unchanged, so is
/// every stored item's classification.
pub(crate) fn directory(internal: &tac_core::internal::Internal) -> String {
    let canonical = internal.canonical();
    let mut h = Hasher::new(DIRECTORY_VERSION);
    h.count(canonical.len());
    for entry in &canonical {
        h.text(entry);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tac_core::records::{AttendeeRecord, Participant, ParticipantRole};

    fn sample_email() -> EmailRecord {
        EmailRecord {
            internet_message_id: "<m@x>".into(),
            conversation_id: Some("c".into()),
            subject: "Hello".into(),
            body_html: "<p>Hi</p>".into(),
            body_preview: "Hi".into(),
            sent_at: Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap(),
            received_at: Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 1).unwrap(),
            has_attachments: false,
            importance: "normal".into(),
            is_private: false,
            meeting_message_type: None,
            participants: vec![Participant { role: ParticipantRole::From, address: "a@x".into(), name: "A".into() }],
            internal_only: false,
        }
    }

    #[test]
    fn email_fingerprints_follow_every_field() {
        let base = sample_email();
        let fp = email(&base);
        assert_eq!(fp.len(), 64);
        assert_eq!(fp, email(&base.clone()), "deterministic");
        let variants: &[fn(&mut EmailRecord)] = &[
            |e| e.subject.push('!'),
            |e| e.conversation_id = None,
            |e| e.conversation_id = Some(String::new()),
            |e| e.received_at += chrono::Duration::milliseconds(1),
            |e| e.is_private = true,
            |e| e.internal_only = true,
            |e| e.participants[0].name = "B".into(),
            |e| e.participants[0].role = ParticipantRole::To,
            |e| e.participants.clear(),
            // Moving a character from one field to the next changes the hash.
            |e| {
                e.subject = "Hell".into();
                e.body_html = "o<p>Hi</p>".into();
            },
        ];
        for change in variants {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(email(&changed), fp, "{changed:?}");
        }
    }

    #[test]
    fn meeting_fingerprints_include_the_stored_cancellation() {
        let m = MeetingRecord {
            ical_uid: "uid".into(),
            series_master_id: None,
            event_type: "singleInstance".into(),
            subject: "Sync".into(),
            body_html: String::new(),
            start: Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap(),
            is_all_day: false,
            is_cancelled: false,
            sensitivity: "normal".into(),
            original_time_zone: None,
            location: None,
            online_meeting_url: None,
            organizer: Participant { role: ParticipantRole::Organizer, address: "o@x".into(), name: "O".into() },
            attendees: vec![AttendeeRecord {
                address: "a@x".into(),
                name: "A".into(),
                kind: "required".into(),
                response: "none".into(),
            }],
            internal_only: false,
        };
        assert_ne!(meeting(&m, false), meeting(&m, true));
        assert_ne!(meeting(&m, false), meeting(&MeetingRecord { internal_only: true, ..m.clone() }, false));
        let mut declined = m.clone();
        declined.attendees[0].response = "declined".into();
        assert_ne!(meeting(&m, false), meeting(&declined, false));
    }
}
