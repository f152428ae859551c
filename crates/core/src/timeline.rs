/*!
The activity timeline as people and programs see it: the item shapes of the
timeline JSON (docs/architecture.md §6), the redaction that the privacy policy applies to
every item on its way out, thread grouping, and the opaque paging cursor.

The store reads rows and hands them to [`EmailFacts::into_item`] and
[`MeetingFacts::into_item`], so no item leaves the store without passing the
visibility rules here. A hidden field is `null`, never left out, so a client
can tell "hidden" from "absent". Private items keep only who and when, and
read "Private email" or "Private meeting".
*/

use crate::privacy::{PRIVATE_EMAIL_LABEL, PRIVATE_MEETING_LABEL, Visibility, is_private_sensitivity, shown};
use crate::records::Direction;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Emails or meetings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Email,
    Meeting,
}

crate::records::named_enum!(ActivityKind, "activity kind", {
    Email => "email",
    Meeting => "meeting",
});

/// Someone on an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub address: String,
}

/// A meeting attendee with their answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendeeView {
    pub name: String,
    pub address: String,
    /// Graph's response: `accepted`, `tentativelyAccepted`, `declined`, `none`, `organizer`.
    pub response: String,
    /// `required`, `optional` or `resource`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// An email on a timeline: once, however many mailboxes hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailItem {
    /// `email-<id>`: stable, and never confused with a meeting's.
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub subject: Option<String>,
    /// Seen from the contact: inbound when they sent it. On the everything
    /// search, seen from the team: inbound when someone outside sent it.
    pub direction: Direction,
    pub internet_message_id: String,
    pub conversation_id: Option<String>,
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    pub preview: Option<String>,
    /// The team mailboxes that hold a copy.
    pub mailboxes: Vec<String>,
    pub has_attachments: bool,
    pub is_private: bool,
    /// Whether the sanitised body may be fetched (full visibility, not private).
    pub body_available: bool,
}

/// A meeting occurrence on a timeline: once, with every attendee's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingItem {
    /// `meeting-<id>`.
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub is_all_day: bool,
    pub subject: Option<String>,
    pub is_cancelled: bool,
    pub is_private: bool,
    /// After now: on the timeline ahead of the last interaction.
    pub is_upcoming: bool,
    pub organizer: Person,
    pub attendees: Vec<AttendeeView>,
    pub location: Option<String>,
    pub online_meeting_url: Option<String>,
    /// The team mailboxes whose calendars hold it.
    pub mailboxes: Vec<String>,
}

/// One entry of a timeline, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineItem {
    Email(EmailItem),
    Meeting(MeetingItem),
}

impl TimelineItem {
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            TimelineItem::Email(e) => e.occurred_at,
            TimelineItem::Meeting(m) => m.occurred_at,
        }
    }

    pub fn kind(&self) -> ActivityKind {
        match self {
            TimelineItem::Email(_) => ActivityKind::Email,
            TimelineItem::Meeting(_) => ActivityKind::Meeting,
        }
    }
}

/// An email as stored, before the policy decides what of it is shown.
#[derive(Debug, Clone)]
pub struct EmailFacts {
    pub id: i64,
    pub sent_at: DateTime<Utc>,
    pub subject: String,
    pub preview: String,
    pub direction: Direction,
    pub internet_message_id: String,
    pub conversation_id: Option<String>,
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    pub mailboxes: Vec<String>,
    pub has_attachments: bool,
    pub is_private: bool,
    /// What the stored row still holds: content stripped when visibility
    /// was lowered stays hidden until a sync reads it again.
    pub content_level: Visibility,
}

impl EmailFacts {
    /// The item as `visibility` allows it to be seen.
    pub fn into_item(self, visibility: Visibility) -> EmailItem {
        let show = shown(visibility.min(self.content_level), self.is_private);
        let subject =
            if self.is_private { Some(PRIVATE_EMAIL_LABEL.to_string()) } else { show.subject.then_some(self.subject) };
        EmailItem {
            id: format!("email-{}", self.id),
            occurred_at: self.sent_at,
            subject,
            direction: self.direction,
            internet_message_id: self.internet_message_id,
            conversation_id: self.conversation_id,
            from: self.from,
            to: self.to,
            cc: self.cc,
            preview: show.body.then_some(self.preview),
            mailboxes: self.mailboxes,
            has_attachments: self.has_attachments,
            is_private: self.is_private,
            body_available: show.body,
        }
    }
}

/// A meeting as stored, before the policy decides what of it is shown.
#[derive(Debug, Clone)]
pub struct MeetingFacts {
    pub id: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub is_all_day: bool,
    pub subject: String,
    pub is_cancelled: bool,
    pub sensitivity: String,
    pub organizer: Person,
    pub attendees: Vec<AttendeeView>,
    pub location: Option<String>,
    pub online_meeting_url: Option<String>,
    pub mailboxes: Vec<String>,
    /// As for [`EmailFacts::content_level`].
    pub content_level: Visibility,
}

impl MeetingFacts {
    /// The item as `visibility` allows it to be seen, `now` deciding what is upcoming.
    pub fn into_item(self, visibility: Visibility, now: DateTime<Utc>) -> MeetingItem {
        let is_private = is_private_sensitivity(&self.sensitivity);
        let show = shown(visibility.min(self.content_level), is_private);
        let subject =
            if is_private { Some(PRIVATE_MEETING_LABEL.to_string()) } else { show.subject.then_some(self.subject) };
        MeetingItem {
            id: format!("meeting-{}", self.id),
            occurred_at: self.start,
            start: self.start,
            end: self.end,
            is_all_day: self.is_all_day,
            subject,
            is_cancelled: self.is_cancelled,
            is_private,
            is_upcoming: self.start > now,
            organizer: self.organizer,
            attendees: self.attendees,
            // Where and how to join say as much as a subject.
            location: if is_private { None } else { show.subject.then_some(self.location).flatten() },
            online_meeting_url: if is_private { None } else { self.online_meeting_url },
            mailboxes: self.mailboxes,
        }
    }
}

/// Emails of one conversation, for the thread view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub conversation_id: Option<String>,
    /// The newest email's subject (as shown).
    pub subject: Option<String>,
    pub last_at: DateTime<Utc>,
    /// Oldest first, as a conversation reads.
    pub emails: Vec<EmailItem>,
}

/// Groups a page of items into threads by conversation, newest thread first.
/// Meetings are left out; an email without a conversation is its own thread.
pub fn group_by_thread(items: &[TimelineItem]) -> Vec<Thread> {
    let mut threads: Vec<Thread> = Vec::new();
    for item in items {
        let TimelineItem::Email(e) = item else { continue };
        let existing =
            e.conversation_id.as_ref().and_then(|c| threads.iter_mut().find(|t| t.conversation_id.as_ref() == Some(c)));
        match existing {
            Some(thread) => {
                thread.emails.push(e.clone());
                if e.occurred_at > thread.last_at {
                    thread.last_at = e.occurred_at;
                    thread.subject = e.subject.clone();
                }
            }
            None => threads.push(Thread {
                conversation_id: e.conversation_id.clone(),
                subject: e.subject.clone(),
                last_at: e.occurred_at,
                emails: vec![e.clone()],
            }),
        }
    }
    for t in &mut threads {
        t.emails.sort_by_key(|e| (e.occurred_at, e.id.clone()));
    }
    threads.sort_by_key(|t| std::cmp::Reverse(t.last_at));
    threads
}

/// A time bound for a timeline filter, as people type it: RFC 3339
/// (`2026-03-01T09:00:00Z`, any offset, converted to UTC) or a date
/// (`2026-03-01`, UTC). With `end_of_day`, a date means up to its end (the
/// next day's start), so `--until 2026-03-31` includes the 31st. The error
/// says what to type.
pub fn parse_time_bound(input: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    let input = input.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(input) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || format!("`{input}` is not a time: give RFC 3339 (2026-03-01T09:00:00Z) or a date (2026-03-01)");
    let date = chrono::NaiveDate::parse_from_str(input, "%Y-%m-%d").map_err(|_| bad())?;
    let date = if end_of_day { date.succ_opt().ok_or_else(bad)? } else { date };
    Ok(date.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc())
}

/// Where a timeline page ends: the last item's time, kind and id. Pages
/// are ordered by (time, kind, id) descending, a total order, so a cursor
/// never skips or repeats an item even when many share a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    pub occurred_at: DateTime<Utc>,
    pub kind: ActivityKind,
    pub ref_id: i64,
}

/// A cursor that did not come from us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the page cursor `{0}` is not valid: pass the `next_cursor` of the previous page unchanged")]
pub struct CursorError(pub String);

impl TimelineCursor {
    /// Opaque text: `<microseconds>.<kind>.<id>`, in URL-safe characters.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.occurred_at.timestamp_micros(), self.kind.as_str(), self.ref_id)
    }

    pub fn decode(text: &str) -> Result<TimelineCursor, CursorError> {
        let bad = || CursorError(text.chars().take(80).collect());
        let mut parts = text.trim().splitn(3, '.');
        let micros: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let kind: ActivityKind = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let ref_id: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let occurred_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        Ok(TimelineCursor { occurred_at, kind, ref_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts() -> EmailFacts {
        EmailFacts {
            id: 7,
            sent_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            subject: "Q3 pricing".into(),
            preview: "Numbers attached".into(),
            direction: Direction::Inbound,
            internet_message_id: "<a@b>".into(),
            conversation_id: Some("c1".into()),
            from: Some(Person { name: "Ann".into(), address: "ann@fabrikam.com".into() }),
            to: vec![],
            cc: vec![],
            mailboxes: vec!["bob@contoso.com".into()],
            has_attachments: false,
            is_private: false,
            content_level: Visibility::Full,
        }
    }

    #[test]
    fn visibility_levels_hide_fields_as_null() {
        let full = facts().into_item(Visibility::Full);
        assert_eq!(full.subject.as_deref(), Some("Q3 pricing"));
        assert!(full.body_available && full.preview.is_some());
        let subject = facts().into_item(Visibility::Subject);
        assert_eq!(subject.subject.as_deref(), Some("Q3 pricing"));
        assert!(!subject.body_available && subject.preview.is_none());
        let metadata = facts().into_item(Visibility::Metadata);
        assert!(metadata.subject.is_none() && metadata.preview.is_none());
        let json = serde_json::to_value(TimelineItem::Email(metadata)).unwrap();
        assert!(json["subject"].is_null() && json.get("subject").is_some(), "hidden is null, not absent");
        assert_eq!(json["kind"], "email");
    }

    #[test]
    fn private_items_read_as_private_whatever_the_level() {
        let mut f = facts();
        f.is_private = true;
        let item = f.into_item(Visibility::Full);
        assert_eq!(item.subject.as_deref(), Some("Private email"));
        assert!(item.preview.is_none() && !item.body_available);
        let meeting = MeetingFacts {
            id: 1,
            start: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            end: DateTime::from_timestamp(1_700_003_600, 0).unwrap(),
            is_all_day: false,
            subject: "Board".into(),
            is_cancelled: false,
            sensitivity: "confidential".into(),
            organizer: Person { name: "A".into(), address: "a@contoso.com".into() },
            attendees: vec![],
            location: Some("Room 1".into()),
            online_meeting_url: Some("https://teams.example/x".into()),
            mailboxes: vec![],
            content_level: Visibility::Full,
        }
        .into_item(Visibility::Full, DateTime::from_timestamp(0, 0).unwrap());
        assert_eq!(meeting.subject.as_deref(), Some("Private meeting"));
        assert!(meeting.location.is_none() && meeting.online_meeting_url.is_none());
        assert!(meeting.is_upcoming);
    }

    #[test]
    fn threads_group_by_conversation_newest_thread_first() {
        let mut a = facts();
        a.id = 1;
        let mut b = facts();
        b.id = 2;
        b.sent_at += chrono::Duration::hours(1);
        let mut c = facts();
        c.id = 3;
        c.conversation_id = Some("c2".into());
        c.sent_at += chrono::Duration::hours(2);
        let items: Vec<TimelineItem> =
            [c, b, a].into_iter().map(|f| TimelineItem::Email(f.into_item(Visibility::Full))).collect();
        let threads = group_by_thread(&items);
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].conversation_id.as_deref(), Some("c2"));
        let ids: Vec<&str> = threads[1].emails.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["email-1", "email-2"], "oldest first inside a thread");
    }

    #[test]
    fn time_bounds_are_rfc3339_or_dates_and_an_end_date_includes_its_day() {
        assert_eq!(parse_time_bound("2026-03-01", false).unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert_eq!(parse_time_bound("2026-03-01", true).unwrap().to_rfc3339(), "2026-03-02T00:00:00+00:00");
        assert_eq!(
            parse_time_bound("2026-03-01T10:00:00+02:00", false).unwrap().to_rfc3339(),
            "2026-03-01T08:00:00+00:00"
        );
        assert!(parse_time_bound("yesterday", false).unwrap_err().contains("RFC 3339"));
        assert!(parse_time_bound("+262143-12-31", true).is_err());
    }

    #[test]
    fn a_foreign_cursor_is_a_clear_error() {
        for bad in ["", "x", "1.email", "1.note.3", "9999999999999999999.email.1", "1.email.x"] {
            assert!(TimelineCursor::decode(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip(micros in -8_000_000_000_000_000i64..8_000_000_000_000_000i64, meeting: bool, id: i64) {
            let cursor = TimelineCursor {
                occurred_at: DateTime::from_timestamp_micros(micros).unwrap(),
                kind: if meeting { ActivityKind::Meeting } else { ActivityKind::Email },
                ref_id: id,
            };
            prop_assert_eq!(TimelineCursor::decode(&cursor.encode()), Ok(cursor));
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in ".{0,64}") {
            let _ = TimelineCursor::decode(&text);
        }
    }
}
