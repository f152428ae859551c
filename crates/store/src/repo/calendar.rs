/*!
Calendar ingest: what page ingest (`ingest.rs`) needs to know about
meetings.

A meeting occurrence is stored once per workspace, by iCalUId, with its
attendees; each mailbox's event is a copy carrying that mailbox's own
response. Cancellation sticks: an attendee's copy that has not caught up
yet cannot un-cancel a meeting, and the stored fingerprint is that of the
row as stored, cancellation included. A removal marks the mailbox's copy;
the meeting stays, cancelled or not. The SQL of each step is here, in the
module that owns the `meeting`, `meeting_attendee` and `meeting_copy`
tables.
*/

use super::activity::link_meetings;
use super::ingest::{CopyChange, Kind, Page, PersonRow, apply_page};
use super::{Conn, Db, Pool, count};
use crate::error::Result;
use crate::fingerprint;
use crate::types::{CursorScope, MailboxId, MeetingCopyRow, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
use tac_core::contacts::AutoCreateCandidate;
use tac_core::records::{AttendeeRecord, MeetingCopy, MeetingRecord, Participant, ParticipantRole};
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

/// Applies one `calendarView/delta` page and saves `cursor`, all in one
/// transaction (`ingest.rs`; contacts and timelines as for mail).
#[operation]
pub(crate) async fn apply_calendar_page(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    upserts: &[(MeetingRecord, MeetingCopy)],
    removed_graph_ids: &[String],
    new_contacts: &[AutoCreateCandidate],
    cursor: &SyncCursor,
) -> Result<PageOutcome> {
    let page = Page::<Calendar> {
        scope: CursorScope::Calendar,
        upserts,
        removed_graph_ids,
        new_contacts,
        cursor,
        round: RoundState::default(),
    };
    apply_page(pool, ws, mailbox, page).await
}

/// The calendar, as page ingest sees it: meeting occurrences by iCalUId,
/// with attendees, whose cancellation sticks, and copies that carry each
/// mailbox's own response.
pub(super) struct Calendar;

impl Kind for Calendar {
    type Record = MeetingRecord;
    type Copy = MeetingCopy;
    type StoredCopy = StoredCopy;

    const ACTIVITY: ActivityKind = ActivityKind::Meeting;
    const TABLE: &'static str = "meeting";
    const COPY_TABLE: &'static str = "meeting_copy";
    const COPY_NAME: &'static str = "meeting copy";
    const KEY_COLUMN: &'static str = "ical_uid";
    const STICKY_COLUMN: Option<&'static str> = Some("is_cancelled");
    const COLUMNS: &'static [&'static str] = &[
        "series_master_id",
        "event_type",
        "subject",
        "body_html",
        "start_at",
        "end_at",
        "is_all_day",
        "is_cancelled",
        "sensitivity",
        "original_time_zone",
        "location",
        "online_meeting_url",
        "organizer_address",
        "organizer_name",
        "internal_only",
        "fingerprint",
    ];
    const ITEM_COLUMN: &'static str = "meeting_id";
    const COPY_COLUMNS: &'static [&'static str] = &["response", "is_organizer"];
    const PEOPLE_TABLE: &'static str = "meeting_attendee";
    const PERSON_KEY: &'static [&'static str] = &["address"];
    const PERSON_VALUES: &'static [&'static str] = &["name", "kind", "response"];

    fn key(record: &MeetingRecord) -> &str {
        &record.ical_uid
    }

    fn graph_id(copy: &MeetingCopy) -> &str {
        &copy.graph_id
    }

    fn sticky(record: &MeetingRecord) -> bool {
        record.is_cancelled
    }

    fn fingerprint(record: &MeetingRecord, cancelled: bool) -> String {
        fingerprint::meeting(record, cancelled)
    }

    /// `cancelled` is the page's sticky cancellation.
    fn push_columns(row: &mut Separated<'_, Db, &'static str>, m: &MeetingRecord, cancelled: bool, fingerprint: &str) {
        row.push_bind(m.series_master_id.as_deref())
            .push_bind(m.event_type.as_str())
            .push_bind(m.subject.as_str())
            .push_bind(m.body_html.as_str())
            .push_bind(m.start)
            .push_bind(m.end)
            .push_bind(m.is_all_day)
            .push_bind(cancelled)
            .push_bind(m.sensitivity.as_str())
            .push_bind(m.original_time_zone.as_deref())
            .push_bind(m.location.as_deref())
            .push_bind(m.online_meeting_url.as_deref())
            .push_bind(m.organizer.address.as_str())
            .push_bind(m.organizer.name.as_str())
            .push_bind(m.internal_only)
            .push_bind(fingerprint);
    }

    fn happened_at(record: &MeetingRecord) -> DateTime<Utc> {
        record.start
    }

    fn people(record: &MeetingRecord) -> impl Iterator<Item = PersonRow<'_>> {
        record.attendees.iter().map(|a| vec![a.address.as_str(), a.name.as_str(), a.kind.as_str(), a.response.as_str()])
    }

    async fn link(conn: &mut Conn, ws: WorkspaceId, ids: &[i64]) -> Result<()> {
        link_meetings(conn, ws, ids).await
    }

    fn stored_copy_id(row: &StoredCopy) -> i64 {
        row.id
    }

    fn stored_copy_graph_id(row: &StoredCopy) -> &str {
        &row.graph_id
    }

    fn stored_change(row: &StoredCopy, meeting_id: i64, copy: &MeetingCopy) -> CopyChange {
        copy_change((row.meeting_id, &row.response, row.is_organizer, row.removed), meeting_id, copy)
    }

    fn page_change((earlier_id, earlier): (i64, &MeetingCopy), meeting_id: i64, copy: &MeetingCopy) -> CopyChange {
        copy_change((earlier_id, &earlier.response, earlier.is_organizer, false), meeting_id, copy)
    }

    fn push_copy_columns(row: &mut Separated<'_, Db, &'static str>, copy: &MeetingCopy) {
        row.push_bind(copy.response.as_str()).push_bind(copy.is_organizer);
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct StoredCopy {
    id: i64,
    graph_id: String,
    meeting_id: i64,
    response: String,
    is_organizer: bool,
    removed: bool,
}

/// Compares a copy as it is (meeting, response, organizer, removed) with
/// the incoming one.
fn copy_change(current: (i64, &str, bool, bool), meeting_id: i64, copy: &MeetingCopy) -> CopyChange {
    let (current_meeting_id, response, is_organizer, removed) = current;
    if removed {
        CopyChange::Restored
    } else if current_meeting_id != meeting_id || response != copy.response || is_organizer != copy.is_organizer {
        CopyChange::Updated
    } else {
        CopyChange::Unchanged
    }
}

/// Deduplicated meetings in the workspace.
#[operation]
pub(crate) async fn meeting_count(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    let n: i64 =
        sqlx::query_scalar("select count(*) from meeting where workspace_id = $1").bind(ws.0).fetch_one(pool).await?;
    Ok(count(n))
}

/// The mailbox's meeting copies, removed ones included, by Graph id.
#[operation]
pub(crate) async fn meeting_copies(pool: &Pool, ws: WorkspaceId, mailbox: MailboxId) -> Result<Vec<MeetingCopyRow>> {
    let rows: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
        "select c.graph_id, m.ical_uid, c.response, c.is_organizer, c.removed_at is not null as removed
         from meeting_copy c
         join meeting m on m.workspace_id = c.workspace_id and m.id = c.meeting_id
         where c.workspace_id = $1 and c.mailbox_id = $2
         order by c.graph_id",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(graph_id, ical_uid, response, is_organizer, removed)| MeetingCopyRow {
            graph_id,
            ical_uid,
            response,
            is_organizer,
            removed,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct MeetingDbRow {
    id: i64,
    ical_uid: String,
    series_master_id: Option<String>,
    event_type: String,
    subject: String,
    body_html: String,
    start_at: DateTime<Utc>,
    end_at: DateTime<Utc>,
    is_all_day: bool,
    is_cancelled: bool,
    sensitivity: String,
    original_time_zone: Option<String>,
    location: Option<String>,
    online_meeting_url: Option<String>,
    organizer_address: String,
    organizer_name: String,
    internal_only: bool,
}

/// The stored meeting with its attendees (in the order first stored).
#[operation]
pub(crate) async fn meeting_by_ical_uid(pool: &Pool, ws: WorkspaceId, ical_uid: &str) -> Result<Option<MeetingRecord>> {
    let row: Option<MeetingDbRow> = sqlx::query_as(
        "select id, ical_uid, series_master_id, event_type, subject, body_html, start_at, end_at, is_all_day,
                is_cancelled, sensitivity, original_time_zone, location, online_meeting_url,
                organizer_address, organizer_name, internal_only
         from meeting
         where workspace_id = $1 and ical_uid = $2",
    )
    .bind(ws.0)
    .bind(ical_uid)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let attendees: Vec<(String, String, String, String)> =
        sqlx::query_as("select address, name, kind, response from meeting_attendee where meeting_id = $1 order by id")
            .bind(row.id)
            .fetch_all(pool)
            .await?;
    Ok(Some(MeetingRecord {
        ical_uid: row.ical_uid,
        series_master_id: row.series_master_id,
        event_type: row.event_type,
        subject: row.subject,
        body_html: row.body_html,
        start: row.start_at,
        end: row.end_at,
        is_all_day: row.is_all_day,
        is_cancelled: row.is_cancelled,
        sensitivity: row.sensitivity,
        original_time_zone: row.original_time_zone,
        location: row.location,
        online_meeting_url: row.online_meeting_url,
        organizer: Participant {
            role: ParticipantRole::Organizer,
            address: row.organizer_address,
            name: row.organizer_name,
        },
        attendees: attendees
            .into_iter()
            .map(|(address, name, kind, response)| AttendeeRecord { address, name, kind, response })
            .collect(),
        internal_only: row.internal_only,
    }))
}
