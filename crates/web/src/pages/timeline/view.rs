//! Timeline items as the contact, company, email and meeting pages show
//! them, and the timeline's filters as the query string carries them.
//!
//! The store has already applied the privacy policy: a field it hid is
//! `None`, and this module shows that as hidden ("Subject hidden"), never
//! fills it in. A private item's subject is the store's "Private email" or
//! "Private meeting". Times are written in UTC and say so: the store keeps
//! instants, not the organiser's time zone. Each carries its instant
//! (`data-start`), and the portal's `local-time.js` shows it in the
//! reader's own zone; all-day meetings stay as days.

use crate::WebError;
use crate::pages::times::{Instant, instant};
use chrono::NaiveDate;
use serde::Deserialize;
use tac_core::records::Direction;
use tac_core::timeline::{ActivityKind, AttendeeView, EmailItem, MeetingItem, Person, TimelineCursor, TimelineItem};
use tac_store::TimelineQuery;

/// `Ann Lee <ann@fabrikam.com>`, or the bare address without a name.
pub(crate) fn person(p: &Person) -> String {
    if p.name.trim().is_empty() || p.name.eq_ignore_ascii_case(&p.address) {
        p.address.clone()
    } else {
        format!("{} <{}>", p.name, p.address)
    }
}

fn people(list: &[Person]) -> String {
    list.iter().map(person).collect::<Vec<_>>().join(", ")
}

/// The numeric id of `email-12` or `meeting-7`.
fn numeric_id(id: &str) -> i64 {
    id.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// One timeline entry: exactly one of the two is set.
pub(crate) struct ItemView {
    pub email: Option<EmailView>,
    pub meeting: Option<MeetingView>,
}

impl ItemView {
    pub fn new(item: &TimelineItem) -> Self {
        match item {
            TimelineItem::Email(e) => ItemView { email: Some(EmailView::new(e)), meeting: None },
            TimelineItem::Meeting(m) => ItemView { email: None, meeting: Some(MeetingView::new(m)) },
        }
    }

    pub fn is_upcoming(&self) -> bool {
        self.meeting.as_ref().is_some_and(|m| m.is_upcoming)
    }
}

pub(crate) struct EmailView {
    pub id: i64,
    pub sent: Instant,
    /// `Inbound` or `Outbound`.
    pub direction: &'static str,
    pub from: Option<String>,
    pub to: String,
    pub cc: String,
    /// `None`: hidden by the visibility level.
    pub subject: Option<String>,
    pub is_private: bool,
    pub preview: Option<String>,
    pub mailboxes: String,
    pub has_attachments: bool,
}

impl EmailView {
    pub fn new(e: &EmailItem) -> Self {
        EmailView {
            id: numeric_id(&e.id),
            sent: instant(e.occurred_at),
            direction: match e.direction {
                Direction::Inbound => "Inbound",
                Direction::Outbound => "Outbound",
            },
            from: e.from.as_ref().map(person),
            to: people(&e.to),
            cc: people(&e.cc),
            subject: e.subject.clone(),
            is_private: e.is_private,
            preview: e.preview.clone().filter(|p| !p.trim().is_empty()),
            mailboxes: e.mailboxes.join(", "),
            has_attachments: e.has_attachments,
        }
    }
}

pub(crate) struct AttendeeLine {
    pub who: String,
    pub response: String,
    /// `required`, `optional` or `resource`.
    pub kind: String,
}

pub(crate) struct MeetingView {
    pub id: i64,
    /// `2025-03-10 14:00–15:00 UTC`, or the day(s) of an all-day meeting.
    pub range: String,
    pub datetime: String,
    /// The end, for the reader's time zone; none for an all-day meeting,
    /// whose days are the same everywhere.
    pub end_datetime: Option<String>,
    pub subject: Option<String>,
    pub is_private: bool,
    pub is_cancelled: bool,
    pub is_upcoming: bool,
    pub organizer: String,
    pub attendees: Vec<AttendeeLine>,
    pub location: Option<String>,
    /// Only an `https://` link: anything else is not offered as a link.
    pub join_url: Option<String>,
    pub mailboxes: String,
}

impl MeetingView {
    pub fn new(m: &MeetingItem) -> Self {
        MeetingView {
            id: numeric_id(&m.id),
            range: range(m),
            datetime: m.start.to_rfc3339(),
            end_datetime: (!m.is_all_day).then(|| m.end.to_rfc3339()),
            subject: m.subject.clone(),
            is_private: m.is_private,
            is_cancelled: m.is_cancelled,
            is_upcoming: m.is_upcoming,
            organizer: person(&m.organizer),
            attendees: m.attendees.iter().map(attendee).collect(),
            location: m.location.clone().filter(|l| !l.trim().is_empty()),
            join_url: m.online_meeting_url.clone().filter(|u| u.starts_with("https://")),
            mailboxes: m.mailboxes.join(", "),
        }
    }
}

fn range(m: &MeetingItem) -> String {
    if m.is_all_day {
        let last = (m.end - chrono::Duration::seconds(1)).date_naive();
        let first = m.start.date_naive();
        return if last <= first {
            format!("{} (all day)", first.format("%Y-%m-%d"))
        } else {
            format!("{} to {} (all day)", first.format("%Y-%m-%d"), last.format("%Y-%m-%d"))
        };
    }
    let end = if m.end.date_naive() == m.start.date_naive() {
        m.end.format("%H:%M").to_string()
    } else {
        m.end.format("%Y-%m-%d %H:%M").to_string()
    };
    format!("{}–{end} UTC", m.start.format("%Y-%m-%d %H:%M"))
}

fn attendee(a: &AttendeeView) -> AttendeeLine {
    let response = match a.response.as_str() {
        "accepted" => "Accepted",
        "tentativelyAccepted" => "Tentative",
        "declined" => "Declined",
        "organizer" => "Organizer",
        "none" | "notResponded" | "" => "No response",
        other => other,
    };
    AttendeeLine {
        who: person(&Person { name: a.name.clone(), address: a.address.clone() }),
        response: response.to_owned(),
        kind: a.kind.clone(),
    }
}

/// The timeline's filters, as the query string carries them (and the
/// filter form sends them back). Empty fields mean "any".
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct TimelineParams {
    /// `email` or `meeting`.
    pub kind: String,
    /// `YYYY-MM-DD`, inclusive.
    pub from: String,
    /// `YYYY-MM-DD`, inclusive.
    pub to: String,
    /// A team member's mailbox address.
    pub member: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Words to search for.
    pub q: String,
    /// The opaque cursor of the previous page.
    pub cursor: String,
}

/// What is wrong with the filters, field by field; the page still shows
/// the timeline without the filters that are wrong.
#[derive(Debug, Default)]
pub(crate) struct FilterErrors {
    pub from: crate::pages::FieldError,
    pub to: crate::pages::FieldError,
    pub member: crate::pages::FieldError,
}

impl FilterErrors {
    #[cfg(test)]
    pub fn any(&self) -> bool {
        self.from.is_set() || self.to.is_set() || self.member.is_set()
    }
}

fn date(input: &str) -> Result<Option<NaiveDate>, String> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(input, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("`{input}` is not a date: pick one, or type it as 2026-03-01."))
}

impl TimelineParams {
    /// The store query, and what was wrong with the filters. A cursor that
    /// did not come from us is a bad request (it was never typed).
    pub fn query(&self, mailboxes: &[String], limit: u32) -> Result<(TimelineQuery, FilterErrors), WebError> {
        let mut errors = FilterErrors::default();
        let cursor = match self.cursor.trim() {
            "" => None,
            text => Some(
                TimelineCursor::decode(text)
                    .map_err(|e| WebError::BadRequest(format!("{e}. Go back to the first page.")))?,
            ),
        };
        let from = date(&self.from).unwrap_or_else(|e| {
            errors.from.set(e);
            None
        });
        let to = date(&self.to).unwrap_or_else(|e| {
            errors.to.set(e);
            None
        });
        let (from, to) = match (from, to) {
            (Some(f), Some(t)) if f > t => {
                errors.to.set("The end date is before the start date: swap them.");
                (Some(f), None)
            }
            other => other,
        };
        let member = self.member.trim().to_lowercase();
        let member = if member.is_empty() {
            None
        } else if mailboxes.iter().any(|address| address.eq_ignore_ascii_case(&member)) {
            Some(member)
        } else {
            errors.member.set(format!("{member} is not a synced team mailbox: pick one from the list."));
            None
        };
        let query = TimelineQuery {
            kind: self.kind.parse::<ActivityKind>().ok(),
            from: from.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc()),
            to: to.and_then(|d| d.succ_opt()).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc()),
            team_member: member,
            direction: self.direction.parse::<Direction>().ok(),
            search: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
            limit,
            cursor,
        };
        Ok((query, errors))
    }

    /// The query string of these filters with another cursor (none for the
    /// first page), for "Older" links.
    pub fn with_cursor(&self, cursor: Option<&str>) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("kind", &self.kind),
            ("from", &self.from),
            ("to", &self.to),
            ("member", &self.member),
            ("direction", &self.direction),
            ("q", &self.q),
        ] {
            if !value.trim().is_empty() {
                out.append_pair(name, value.trim());
            }
        }
        if let Some(cursor) = cursor {
            out.append_pair("cursor", cursor);
        }
        out.finish()
    }

    /// Whether the page searches its timeline (it then needs a search slot).
    pub fn searches(&self) -> bool {
        !self.q.trim().is_empty()
    }

    /// Whether any filter (not the cursor) is set.
    pub fn is_filtered(&self) -> bool {
        !self.with_cursor(None).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_dates_and_unknown_members_are_field_errors_and_dropped() {
        let params =
            TimelineParams { from: "yesterday".into(), member: "eve@elsewhere.com".into(), ..Default::default() };
        let (query, errors) = params.query(&[], 50).unwrap();
        assert!(errors.from.is_set() && errors.member.is_set() && !errors.to.is_set());
        assert!(query.from.is_none() && query.team_member.is_none());
    }

    #[test]
    fn the_end_date_includes_its_whole_day() {
        let params = TimelineParams { from: "2026-03-01".into(), to: "2026-03-31".into(), ..Default::default() };
        let (query, errors) = params.query(&[], 50).unwrap();
        assert!(!errors.any());
        assert_eq!(query.from.unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert_eq!(query.to.unwrap().to_rfc3339(), "2026-04-01T00:00:00+00:00");
    }

    #[test]
    fn a_foreign_cursor_is_a_bad_request() {
        let params = TimelineParams { cursor: "not-a-cursor".into(), ..Default::default() };
        assert!(matches!(params.query(&[], 50), Err(WebError::BadRequest(_))));
    }

    #[test]
    fn older_links_keep_the_filters_and_encode_them() {
        let params = TimelineParams { kind: "email".into(), q: "q3 & more".into(), ..Default::default() };
        assert_eq!(params.with_cursor(Some("1.email.2")), "kind=email&q=q3+%26+more&cursor=1.email.2");
        assert!(params.is_filtered());
        assert!(!TimelineParams::default().is_filtered());
    }
}
