/*!
Calendar ingest: one `calendarView/delta` page per transaction, cursor
included. A meeting occurrence is stored once per workspace (by iCalUId);
each mailbox's event is a copy carrying that mailbox's own response.
*/

use super::{Conn, Pool, begin_write, count, ensure_mailbox, now, write_cursor};
use crate::error::Result;
use crate::types::{CursorScope, MailboxId, MeetingCopyRow, PageOutcome, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tac_core::records::{AttendeeRecord, MeetingCopy, MeetingRecord, Participant, ParticipantRole};

pub(crate) async fn apply_calendar_page(
    pool: &Pool,
    ws: WorkspaceId,
    mailbox: MailboxId,
    upserts: &[(MeetingRecord, MeetingCopy)],
    removed_graph_ids: &[String],
    cursor: &SyncCursor,
) -> Result<PageOutcome> {
    let now = now();
    let mut outcome = PageOutcome::default();
    let mut tx = begin_write(pool).await?;
    ensure_mailbox(&mut tx, ws, mailbox).await?;
    // Rows are locked in iCalUId order, so concurrent pages cannot deadlock.
    let mut ordered: Vec<&(MeetingRecord, MeetingCopy)> = upserts.iter().collect();
    ordered.sort_by(|a, b| a.0.ical_uid.cmp(&b.0.ical_uid));
    for (meeting, copy) in ordered {
        let (meeting_id, added) = upsert_meeting(&mut tx, ws, meeting, now).await?;
        if added {
            outcome.records_added += 1;
        } else {
            outcome.records_existing += 1;
        }
        replace_attendees(&mut tx, ws, meeting_id, &meeting.attendees).await?;
        upsert_copy(&mut tx, ws, mailbox, meeting_id, copy, now, &mut outcome).await?;
    }
    for graph_id in removed_graph_ids {
        // The meeting itself stays, cancelled or not: history is kept.
        let removed = sqlx::query(
            "update meeting_copy set removed_at = $1, updated_at = $1
             where workspace_id = $2 and mailbox_id = $3 and graph_id = $4 and removed_at is null",
        )
        .bind(now)
        .bind(ws.0)
        .bind(mailbox.0)
        .bind(graph_id)
        .execute(&mut *tx)
        .await?;
        outcome.copies_removed += removed.rows_affected();
    }
    write_cursor(&mut tx, ws, mailbox, CursorScope::Calendar, cursor, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Inserts the meeting or updates it where it differs. Cancellation sticks:
/// an attendee's copy that has not caught up yet cannot un-cancel it.
async fn upsert_meeting(
    conn: &mut Conn,
    ws: WorkspaceId,
    meeting: &MeetingRecord,
    now: DateTime<Utc>,
) -> Result<(i64, bool)> {
    let existing: Option<(i64, bool)> =
        sqlx::query_as("select id, is_cancelled from meeting where workspace_id = $1 and ical_uid = $2")
            .bind(ws.0)
            .bind(&meeting.ical_uid)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((id, was_cancelled)) = existing {
        sqlx::query(
            "update meeting set
                 series_master_id = $1, event_type = $2, subject = $3, body_html = $4, start_at = $5,
                 end_at = $6, is_all_day = $7, is_cancelled = $8, sensitivity = $9, original_time_zone = $10,
                 location = $11, online_meeting_url = $12, organizer_address = $13, organizer_name = $14,
                 updated_at = $15
             where workspace_id = $16 and id = $17
               and (series_master_id is distinct from $1 or event_type <> $2 or subject <> $3
                    or body_html <> $4 or start_at <> $5 or end_at <> $6 or is_all_day <> $7
                    or is_cancelled <> $8 or sensitivity <> $9 or original_time_zone is distinct from $10
                    or location is distinct from $11 or online_meeting_url is distinct from $12
                    or organizer_address <> $13 or organizer_name <> $14)",
        )
        .bind(meeting.series_master_id.as_deref())
        .bind(&meeting.event_type)
        .bind(&meeting.subject)
        .bind(&meeting.body_html)
        .bind(meeting.start)
        .bind(meeting.end)
        .bind(meeting.is_all_day)
        .bind(was_cancelled || meeting.is_cancelled)
        .bind(&meeting.sensitivity)
        .bind(meeting.original_time_zone.as_deref())
        .bind(meeting.location.as_deref())
        .bind(meeting.online_meeting_url.as_deref())
        .bind(&meeting.organizer.address)
        .bind(&meeting.organizer.name)
        .bind(now)
        .bind(ws.0)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        return Ok((id, false));
    }
    let id: i64 = sqlx::query_scalar(
        "insert into meeting (
             workspace_id, ical_uid, series_master_id, event_type, subject, body_html, start_at, end_at,
             is_all_day, is_cancelled, sensitivity, original_time_zone, location, online_meeting_url,
             organizer_address, organizer_name, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
         on conflict (workspace_id, ical_uid) do update set
             series_master_id = excluded.series_master_id,
             event_type = excluded.event_type,
             subject = excluded.subject,
             body_html = excluded.body_html,
             start_at = excluded.start_at,
             end_at = excluded.end_at,
             is_all_day = excluded.is_all_day,
             is_cancelled = meeting.is_cancelled or excluded.is_cancelled,
             sensitivity = excluded.sensitivity,
             original_time_zone = excluded.original_time_zone,
             location = excluded.location,
             online_meeting_url = excluded.online_meeting_url,
             organizer_address = excluded.organizer_address,
             organizer_name = excluded.organizer_name,
             updated_at = excluded.updated_at
         returning id",
    )
    .bind(ws.0)
    .bind(&meeting.ical_uid)
    .bind(meeting.series_master_id.as_deref())
    .bind(&meeting.event_type)
    .bind(&meeting.subject)
    .bind(&meeting.body_html)
    .bind(meeting.start)
    .bind(meeting.end)
    .bind(meeting.is_all_day)
    .bind(meeting.is_cancelled)
    .bind(&meeting.sensitivity)
    .bind(meeting.original_time_zone.as_deref())
    .bind(meeting.location.as_deref())
    .bind(meeting.online_meeting_url.as_deref())
    .bind(&meeting.organizer.address)
    .bind(&meeting.organizer.name)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, true))
}

/// Makes the meeting's attendees exactly `attendees` (one per address; the
/// first entry wins), touching only rows that differ.
async fn replace_attendees(
    conn: &mut Conn,
    ws: WorkspaceId,
    meeting_id: i64,
    attendees: &[AttendeeRecord],
) -> Result<()> {
    let mut wanted: Vec<&AttendeeRecord> = Vec::with_capacity(attendees.len());
    for a in attendees {
        if !wanted.iter().any(|w| w.address == a.address) {
            wanted.push(a);
        }
    }
    let existing: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "select id, address, name, kind, response from meeting_attendee where meeting_id = $1 order by id",
    )
    .bind(meeting_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_address: HashMap<String, (i64, String, String, String)> =
        existing.into_iter().map(|(id, address, name, kind, response)| (address, (id, name, kind, response))).collect();

    for a in wanted {
        match by_address.remove(&a.address) {
            Some((_, name, kind, response)) if name == a.name && kind == a.kind && response == a.response => {}
            Some((id, ..)) => {
                sqlx::query("update meeting_attendee set name = $1, kind = $2, response = $3 where id = $4")
                    .bind(&a.name)
                    .bind(&a.kind)
                    .bind(&a.response)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            None => {
                sqlx::query(
                    "insert into meeting_attendee (workspace_id, meeting_id, address, name, kind, response)
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(ws.0)
                .bind(meeting_id)
                .bind(&a.address)
                .bind(&a.name)
                .bind(&a.kind)
                .bind(&a.response)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    for (_, (id, ..)) in by_address {
        sqlx::query("delete from meeting_attendee where id = $1").bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

async fn upsert_copy(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    meeting_id: i64,
    copy: &MeetingCopy,
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
) -> Result<()> {
    let stored: Option<(i64, i64, String, bool, bool)> = sqlx::query_as(
        "select id, meeting_id, response, is_organizer, removed_at is not null as removed
         from meeting_copy
         where workspace_id = $1 and mailbox_id = $2 and graph_id = $3",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .bind(&copy.graph_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, stored_meeting_id, response, is_organizer, removed)) = stored else {
        sqlx::query(
            "insert into meeting_copy (
                 workspace_id, mailbox_id, meeting_id, graph_id, response, is_organizer, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(ws.0)
        .bind(mailbox.0)
        .bind(meeting_id)
        .bind(&copy.graph_id)
        .bind(&copy.response)
        .bind(copy.is_organizer)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        outcome.copies_added += 1;
        return Ok(());
    };
    let changed = stored_meeting_id != meeting_id || response != copy.response || is_organizer != copy.is_organizer;
    if !(changed || removed) {
        outcome.copies_unchanged += 1;
        return Ok(());
    }
    sqlx::query(
        "update meeting_copy
         set meeting_id = $1, response = $2, is_organizer = $3, removed_at = null, updated_at = $4
         where id = $5",
    )
    .bind(meeting_id)
    .bind(&copy.response)
    .bind(copy.is_organizer)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if removed {
        outcome.copies_restored += 1;
    } else {
        outcome.copies_updated += 1;
    }
    Ok(())
}

pub(crate) async fn meeting_count(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    let n: i64 =
        sqlx::query_scalar("select count(*) from meeting where workspace_id = $1").bind(ws.0).fetch_one(pool).await?;
    Ok(count(n))
}

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
}

/// The stored meeting with its attendees (in the order first stored).
pub(crate) async fn meeting_by_ical_uid(pool: &Pool, ws: WorkspaceId, ical_uid: &str) -> Result<Option<MeetingRecord>> {
    let row: Option<MeetingDbRow> = sqlx::query_as(
        "select id, ical_uid, series_master_id, event_type, subject, body_html, start_at, end_at, is_all_day,
                is_cancelled, sensitivity, original_time_zone, location, online_meeting_url,
                organizer_address, organizer_name
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
    }))
}
