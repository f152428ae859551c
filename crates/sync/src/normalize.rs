//! From Graph payloads to TAC's records: addresses normalised, legacy
//! Exchange DNs resolved through the directory, direction decided, times in
//! UTC. An item that cannot become a record is reported with why, never
//! half-stored.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use tac_core::address::{AddressKind, classify};
use tac_core::{
    AttendeeRecord, Direction, DirectoryUser, EmailCopy, EmailRecord, MeetingCopy, MeetingRecord, Participant,
    ParticipantRole,
};
use tac_graph::resources::{EmailAddress, Event, MeetingKind, Message, MessageSensitivity, Recipient};

/// Why an item was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("the item has no date")]
    NoDate,
    #[error("the event has no iCalUId")]
    NoICalUid,
    #[error("unreadable event time: {0}")]
    BadTime(String),
    #[error("the event ends before it starts")]
    EndsBeforeStart,
}

/// The directory, indexed for resolving addresses.
#[derive(Debug, Default, Clone)]
pub struct DirectoryIndex {
    /// `/o=…` legacy DN (lowercased) → primary SMTP address.
    legacy_dns: HashMap<String, String>,
    /// Every SMTP address of each user id (normalised), primary first.
    addresses: HashMap<String, Vec<String>>,
    /// Who and what is ours: the directory's addresses and verified domains.
    internal: tac_core::internal::Internal,
}

impl DirectoryIndex {
    pub fn new(users: &[DirectoryUser], domains: &[tac_core::TenantDomain]) -> Self {
        let mut index =
            DirectoryIndex { internal: tac_core::internal::Internal::new(users, domains), ..DirectoryIndex::default() };
        for u in users {
            let mut smtp = Vec::new();
            let mut dns = Vec::new();
            let primary = u.mail.clone().unwrap_or_else(|| u.user_principal_name.clone());
            for raw in std::iter::once(primary.as_str()).chain(u.proxy_addresses.iter().map(String::as_str)) {
                match classify(raw) {
                    Ok(AddressKind::Smtp(a)) => {
                        if !smtp.contains(&a.as_str().to_string()) {
                            smtp.push(a.into_string());
                        }
                    }
                    Ok(AddressKind::LegacyDn(dn)) => dns.push(dn),
                    Err(_) => {}
                }
            }
            if let Some(first) = smtp.first() {
                for dn in dns {
                    index.legacy_dns.insert(dn, first.clone());
                }
            }
            index.addresses.insert(u.id.clone(), smtp);
        }
        index
    }

    /// Whether a (normalised) address belongs to the tenant.
    pub fn is_internal(&self, address: &str) -> bool {
        self.internal.is_internal(address)
    }

    /// Whether every address belongs to the tenant: the item is internal-only.
    pub fn all_internal<'a>(&self, addresses: impl Iterator<Item = &'a str>) -> bool {
        self.internal.all_internal(addresses)
    }

    /// A user's addresses, primary first.
    pub fn addresses_of(&self, user_id: &str) -> &[String] {
        self.addresses.get(user_id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Normalises an address from Graph; a legacy DN becomes the SMTP address
    /// of the user it belongs to. `None` when it cannot be made an address.
    pub fn resolve(&self, raw: &str) -> Option<String> {
        match classify(raw).ok()? {
            AddressKind::Smtp(a) => Some(a.into_string()),
            AddressKind::LegacyDn(dn) => self.legacy_dns.get(&dn).cloned(),
        }
    }
}

fn participant(dir: &DirectoryIndex, role: ParticipantRole, a: &EmailAddress) -> Option<Participant> {
    let address = dir.resolve(a.address.as_deref()?)?;
    Some(Participant { role, name: a.name.clone().unwrap_or_default(), address })
}

fn participants(dir: &DirectoryIndex, role: ParticipantRole, list: &[Recipient]) -> impl Iterator<Item = Participant> {
    list.iter().filter_map(move |r| participant(dir, role, &r.email_address))
}

/// The mailbox a message or event was read from.
#[derive(Debug, Clone)]
pub struct MailboxContext<'a> {
    pub user_id: &'a str,
    pub directory: &'a DirectoryIndex,
}

/// A message as a record and this mailbox's copy of it.
pub fn email(
    ctx: &MailboxContext,
    m: &Message,
    folder_id: &str,
    sent_folder: bool,
) -> Result<(EmailRecord, EmailCopy), SkipReason> {
    let dir = ctx.directory;
    let (sent_at, received_at) = match (m.sent_date_time, m.received_date_time) {
        (Some(s), Some(r)) => (s, r),
        (Some(t), None) | (None, Some(t)) => (t, t),
        (None, None) => return Err(SkipReason::NoDate),
    };
    let from =
        m.from.as_ref().or(m.sender.as_ref()).and_then(|r| participant(dir, ParticipantRole::From, &r.email_address));
    let own: HashSet<&str> = dir.addresses_of(ctx.user_id).iter().map(String::as_str).collect();
    let outbound = sent_folder || from.as_ref().is_some_and(|f| own.contains(f.address.as_str()));
    let mut people: Vec<Participant> = from.into_iter().collect();
    people.extend(participants(dir, ParticipantRole::To, &m.to_recipients));
    people.extend(participants(dir, ParticipantRole::Cc, &m.cc_recipients));
    people.extend(participants(dir, ParticipantRole::Bcc, &m.bcc_recipients));
    let internet_message_id = match m.internet_message_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => id.to_string(),
        // Items without a message id (some system items) still belong to the
        // history; key them by their immutable id, which never collides with one.
        None => format!("<graph.{}@tac.invalid>", m.id),
    };
    let body = m.body.as_ref().and_then(|b| b.content.clone()).unwrap_or_default();
    let internal_only = dir.all_internal(people.iter().map(|p| p.address.as_str()));
    Ok((
        EmailRecord {
            internet_message_id,
            conversation_id: m.conversation_id.clone(),
            subject: m.subject.clone().unwrap_or_default(),
            body_html: body,
            body_preview: m.body_preview.clone().unwrap_or_default(),
            sent_at,
            received_at,
            has_attachments: m.has_attachments.unwrap_or(false),
            importance: m.importance.clone().unwrap_or_else(|| "normal".into()),
            // Private and confidential mail is kept to who and when.
            is_private: matches!(m.sensitivity(), MessageSensitivity::Private | MessageSensitivity::Confidential),
            meeting_message_type: match m.meeting_kind() {
                MeetingKind::Meeting(kind) => Some(kind.to_string()),
                MeetingKind::NotMeeting | MeetingKind::Unknown(_) => None,
            },
            participants: people,
            internal_only,
        },
        EmailCopy {
            graph_id: m.id.clone(),
            folder_id: folder_id.to_string(),
            direction: if outbound { Direction::Outbound } else { Direction::Inbound },
            is_read: m.is_read.unwrap_or(false),
        },
    ))
}

/// A calendar item as a meeting record and this mailbox's copy of it.
pub fn meeting(ctx: &MailboxContext, e: &Event) -> Result<(MeetingRecord, MeetingCopy), SkipReason> {
    let dir = ctx.directory;
    let ical_uid = e.ical_uid.clone().filter(|u| !u.trim().is_empty()).ok_or(SkipReason::NoICalUid)?;
    let time = |t: &Option<tac_graph::resources::DateTimeTimeZone>| -> Result<DateTime<Utc>, SkipReason> {
        let (at, note) =
            t.as_ref().ok_or(SkipReason::NoDate)?.to_utc().map_err(|e| SkipReason::BadTime(e.to_string()))?;
        if let Some(note) = note {
            // Kept, never skipped: an hour off is better than a lost meeting.
            tracing::warn!(event = %e.id, %note, "a meeting's time zone is unknown");
        }
        Ok(at)
    };
    let (start, end) = (time(&e.start)?, time(&e.end)?);
    if end < start {
        return Err(SkipReason::EndsBeforeStart);
    }
    let organizer = e
        .organizer
        .as_ref()
        .and_then(|r| participant(dir, ParticipantRole::Organizer, &r.email_address))
        .unwrap_or(Participant { role: ParticipantRole::Organizer, address: String::new(), name: String::new() });
    let attendees = e
        .attendees
        .iter()
        .filter_map(|a| {
            Some(AttendeeRecord {
                address: dir.resolve(a.email_address.address.as_deref()?)?,
                name: a.email_address.name.clone().unwrap_or_default(),
                kind: a.kind.clone().unwrap_or_else(|| "required".into()),
                response: a.status.as_ref().and_then(|s| s.response.clone()).unwrap_or_else(|| "none".into()),
            })
        })
        .collect::<Vec<_>>();
    let internal_only = dir
        .all_internal(std::iter::once(organizer.address.as_str()).chain(attendees.iter().map(|a| a.address.as_str())));
    let response = e.response_status.as_ref().and_then(|s| s.response.clone()).unwrap_or_else(|| "none".into());
    Ok((
        MeetingRecord {
            ical_uid,
            series_master_id: e.series_master_id.clone(),
            event_type: e.kind.clone().unwrap_or_else(|| "singleInstance".into()),
            subject: e.subject.clone().unwrap_or_default(),
            body_html: e.body.as_ref().and_then(|b| b.content.clone()).unwrap_or_default(),
            start,
            end,
            is_all_day: e.is_all_day,
            is_cancelled: e.is_cancelled,
            sensitivity: e.sensitivity.clone().unwrap_or_else(|| "normal".into()),
            original_time_zone: e.original_start_time_zone.clone(),
            location: e.location.as_ref().and_then(|l| l.display_name.clone()).filter(|l| !l.is_empty()),
            online_meeting_url: e
                .online_meeting
                .as_ref()
                .and_then(|o| o.join_url.clone())
                .or_else(|| e.online_meeting_url.clone()),
            organizer,
            attendees,
            internal_only,
        },
        MeetingCopy {
            graph_id: e.id.clone(),
            response: response.clone(),
            is_organizer: e.is_organizer || response == "organizer",
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn directory() -> DirectoryIndex {
        DirectoryIndex::new(
            &[DirectoryUser {
                id: "u1".into(),
                display_name: "Adele Vance".into(),
                user_principal_name: "adele@contoso.com".into(),
                mail: Some("Adele@Contoso.com".into()),
                proxy_addresses: vec![
                "SMTP:Adele@Contoso.com".into(),
                "smtp:adele.vance@contoso-group.co.uk".into(),
                "X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-adele"
                    .into(),
            ],
                account_enabled: true,
            }],
            &[],
        )
    }

    fn message(v: serde_json::Value) -> Message {
        serde_json::from_value(v).expect("a message")
    }

    #[test]
    fn legacy_dn_senders_resolve_to_the_users_smtp_address() {
        let dir = directory();
        let ctx = MailboxContext { user_id: "u1", directory: &dir };
        let m = message(json!({
            "id": "m1", "internetMessageId": "<1@x>", "receivedDateTime": "2024-01-01T10:00:00Z",
            "from": {"emailAddress": {"name": "Adele", "address": "/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=ABC-ADELE"}},
            "toRecipients": [{"emailAddress": {"name": "Ann", "address": " Ann@Fabrikam.COM "}}, {"emailAddress": {"name": "junk", "address": "not an address"}}]
        }));
        let (record, copy) = email(&ctx, &m, "inbox-id", false).unwrap();
        assert_eq!(record.participants[0].address, "adele@contoso.com");
        assert_eq!(record.participants[1].address, "ann@fabrikam.com");
        assert_eq!(record.participants.len(), 2, "an unusable address is dropped, not the message");
        assert_eq!(copy.direction, Direction::Outbound, "the mailbox owner sent it");
    }

    #[test]
    fn mail_from_an_alias_of_the_owner_is_outbound() {
        let dir = directory();
        let ctx = MailboxContext { user_id: "u1", directory: &dir };
        let m = message(json!({"id": "m", "sentDateTime": "2024-01-01T10:00:00Z",
            "from": {"emailAddress": {"address": "Adele.Vance@contoso-group.co.uk"}}}));
        let (record, copy) = email(&ctx, &m, "f", false).unwrap();
        assert_eq!(copy.direction, Direction::Outbound);
        assert_eq!(record.received_at, record.sent_at);
        assert_eq!(record.internet_message_id, "<graph.m@tac.invalid>");
    }

    #[test]
    fn private_and_confidential_mail_is_marked_private_from_pidtagsensitivity() {
        let dir = directory();
        let ctx = MailboxContext { user_id: "u1", directory: &dir };
        let with = |props: serde_json::Value| {
            let m = message(json!({"id": "m", "sentDateTime": "2024-01-01T10:00:00Z",
                "singleValueExtendedProperties": props}));
            email(&ctx, &m, "f", false).unwrap().0.is_private
        };
        assert!(with(json!([{"id": "Integer 0x36", "value": "2"}])), "private");
        assert!(with(json!([{"id": "integer 0x0036", "value": "3"}])), "confidential, any spelling of the id");
        assert!(!with(json!([{"id": "Integer 0x36", "value": "1"}])), "personal is not private");
        assert!(!with(json!([{"id": "Integer 0x36", "value": "0"}])));
        assert!(!with(json!([{"id": "Integer 0x37", "value": "2"}])), "another property");
        assert!(!with(json!([{"id": "Integer 0x36", "value": "private"}])), "unreadable: normal");
        assert!(!with(json!([])));
    }

    #[test]
    fn an_undated_message_is_skipped() {
        let dir = directory();
        let ctx = MailboxContext { user_id: "u1", directory: &dir };
        assert_eq!(email(&ctx, &message(json!({"id": "m"})), "f", false).unwrap_err(), SkipReason::NoDate);
    }

    #[test]
    fn events_need_an_ical_uid_and_readable_times() {
        let dir = directory();
        let ctx = MailboxContext { user_id: "u1", directory: &dir };
        let event = |v: serde_json::Value| -> Event { serde_json::from_value(v).unwrap() };
        let ok = event(json!({"id": "e", "iCalUId": "uid", "isOrganizer": true,
            "start": {"dateTime": "2024-03-31T02:30:00.0000000", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2024-03-31T04:00:00.0000000", "timeZone": "W. Europe Standard Time"},
            "attendees": [{"type": "required", "status": {"response": "accepted"}, "emailAddress": {"address": "Bob@Fabrikam.com"}}],
            "organizer": {"emailAddress": {"address": "adele@contoso.com", "name": "Adele"}}}));
        let (record, copy) = meeting(&ctx, &ok).unwrap();
        assert_eq!(record.start.to_rfc3339(), "2024-03-31T01:30:00+00:00");
        assert_eq!(record.attendees[0].address, "bob@fabrikam.com");
        assert!(copy.is_organizer);
        let no_uid = event(json!({"id": "e", "start": {"dateTime": "2024-01-01T00:00:00", "timeZone": "UTC"}}));
        assert_eq!(meeting(&ctx, &no_uid).unwrap_err(), SkipReason::NoICalUid);
        let bad_time = event(json!({"id": "e", "iCalUId": "u",
            "start": {"dateTime": "soon", "timeZone": "UTC"}, "end": {"dateTime": "2024-01-01T00:00:00", "timeZone": "UTC"}}));
        assert!(matches!(meeting(&ctx, &bad_time), Err(SkipReason::BadTime(_))));
    }

    #[test]
    fn a_meeting_in_any_windows_zone_or_an_unknown_one_is_kept() {
        let dir = directory();
        let ctx = MailboxContext { user_id: "u1", directory: &dir };
        let event = |zone: &str| -> Event {
            serde_json::from_value(json!({"id": "e", "iCalUId": "u",
                "start": {"dateTime": "2024-01-10T09:00:00.0000000", "timeZone": zone},
                "end": {"dateTime": "2024-01-10T10:00:00.0000000", "timeZone": zone}}))
            .unwrap()
        };
        // Not in the old hand-kept table: Nepal is UTC+05:45.
        let (nepal, _) = meeting(&ctx, &event("Nepal Standard Time")).unwrap();
        assert_eq!(nepal.start.to_rfc3339(), "2024-01-10T03:15:00+00:00");
        let (unknown, _) = meeting(&ctx, &event("Mars")).unwrap();
        assert_eq!(unknown.start.to_rfc3339(), "2024-01-10T09:00:00+00:00", "read as UTC, not skipped");
    }
}
