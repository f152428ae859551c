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
use super::ingest::{Changed, CopyChange, Kind, Page, PageItem, PlannedCopy, StoredItem, apply_page};
use super::{BACKEND, Conn, Db, Pool, count, lock_in_order, push_list, rows_per_statement};
use crate::error::Result;
use crate::fingerprint;
use crate::types::{Backend, CursorScope, MailboxId, MeetingCopyRow, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::{HashMap, HashSet};
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

    async fn stored(conn: &mut Conn, ws: WorkspaceId, keys: &[&str]) -> Result<HashMap<String, StoredItem>> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(rows_per_statement(1)) {
            let mut query = QueryBuilder::<Db>::new(
                "select id, ical_uid as key, fingerprint, is_cancelled as sticky from meeting where workspace_id = ",
            );
            query.push_bind(ws.0).push(" and ical_uid in ");
            push_list(&mut query, chunk.iter().copied());
            let rows: Vec<StoredItem> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
            found.extend(rows.into_iter().map(|row| (row.key.clone(), row)));
        }
        Ok(found)
    }

    /// Inserts the meetings, skipping any that another transaction inserted
    /// meanwhile. Returns the ids of those inserted, by iCalUId.
    async fn insert(
        conn: &mut Conn,
        ws: WorkspaceId,
        meetings: &[&PageItem<'_, Calendar>],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, i64>> {
        let mut inserted = HashMap::with_capacity(meetings.len());
        // SQLite: earliest first, for ascending FTS rowids (see insert_emails).
        let mut meetings = meetings.to_vec();
        if BACKEND == Backend::Sqlite {
            meetings.sort_by_key(|m| m.record.start);
        }
        for chunk in meetings.chunks(rows_per_statement(MEETING_INSERT_BINDS)) {
            let mut query = QueryBuilder::<Db>::new(
                "insert into meeting (
                     workspace_id, ical_uid, series_master_id, event_type, subject, body_html, start_at, end_at,
                     is_all_day, is_cancelled, sensitivity, original_time_zone, location, online_meeting_url,
                     organizer_address, organizer_name, internal_only, fingerprint, created_at, updated_at) ",
            );
            query.push_values(chunk, |mut row, meeting| {
                row.push_bind(ws.0).push_bind(meeting.record.ical_uid.as_str());
                push_meeting_columns(&mut row, meeting.record, meeting.sticky, &meeting.fingerprint);
                row.push_bind(now).push_bind(now);
            });
            query.push(" on conflict (workspace_id, ical_uid) do nothing returning id, ical_uid");
            let rows: Vec<(i64, String)> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
            inserted.extend(rows.into_iter().map(|(id, ical_uid)| (ical_uid, id)));
        }
        Ok(inserted)
    }

    /// Rewrites the changed meetings (in iCalUId order), a batch per statement.
    async fn update(
        conn: &mut Conn,
        ws: WorkspaceId,
        changed: &[Changed<'_, '_, Calendar>],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = changed.iter().map(|change| change.id).collect();
        lock_in_order(conn, "meeting", "ical_uid", &ids).await?;
        for chunk in changed.chunks(rows_per_statement(MEETING_UPDATE_BINDS)) {
            let mut query = QueryBuilder::<Db>::new(
                "with page (
                     id, series_master_id, event_type, subject, body_html, start_at, end_at, is_all_day, is_cancelled,
                     sensitivity, original_time_zone, location, online_meeting_url, organizer_address, organizer_name,
                     internal_only, fingerprint) as (",
            );
            query.push_values(chunk, |mut row, change| {
                row.push_bind(change.id);
                push_meeting_columns(&mut row, change.record(), change.sticky, &change.fingerprint);
            });
            // `meeting.is_cancelled or …`: a cancellation committed since the
            // look-up sticks too.
            query
                .push(
                    ")
                     update meeting set
                         series_master_id = page.series_master_id, event_type = page.event_type,
                         subject = page.subject, body_html = page.body_html, start_at = page.start_at,
                         end_at = page.end_at, is_all_day = page.is_all_day,
                         is_cancelled = (meeting.is_cancelled or page.is_cancelled), sensitivity = page.sensitivity,
                         original_time_zone = page.original_time_zone, location = page.location,
                         online_meeting_url = page.online_meeting_url, organizer_address = page.organizer_address,
                         organizer_name = page.organizer_name, internal_only = page.internal_only,
                         fingerprint = page.fingerprint, updated_at = ",
                )
                .push_bind(now)
                .push(" from page where meeting.workspace_id = ")
                .push_bind(ws.0)
                .push(" and meeting.id = page.id");
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn write_people(
        conn: &mut Conn,
        ws: WorkspaceId,
        changed: &[Changed<'_, '_, Calendar>],
        new: &[(i64, &MeetingRecord)],
    ) -> Result<()> {
        let mut inserts: Vec<(i64, &AttendeeRecord)> =
            new.iter().flat_map(|(id, record)| distinct_attendees(&record.attendees).map(|a| (*id, a))).collect();
        rewrite_attendees(conn, changed, &mut inserts).await?;
        insert_attendees(conn, ws, &inserts).await
    }

    async fn link(conn: &mut Conn, ws: WorkspaceId, ids: &[i64]) -> Result<()> {
        link_meetings(conn, ws, ids).await
    }

    /// The mailbox's stored meeting copies among `graph_ids`, by graph id.
    async fn stored_copies(
        conn: &mut Conn,
        ws: WorkspaceId,
        mailbox: MailboxId,
        graph_ids: &[&str],
    ) -> Result<HashMap<String, StoredCopy>> {
        let mut found = HashMap::with_capacity(graph_ids.len());
        for chunk in graph_ids.chunks(rows_per_statement(1)) {
            let mut query = QueryBuilder::<Db>::new(
                "select id, graph_id, meeting_id, response, is_organizer, removed_at is not null as removed
                 from meeting_copy
                 where workspace_id = ",
            );
            query.push_bind(ws.0).push(" and mailbox_id = ").push_bind(mailbox.0).push(" and graph_id in ");
            push_list(&mut query, chunk.iter().copied());
            let rows: Vec<StoredCopy> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
            found.extend(rows.into_iter().map(|row| (row.graph_id.clone(), row)));
        }
        Ok(found)
    }

    fn stored_copy_id(row: &StoredCopy) -> i64 {
        row.id
    }

    fn stored_change(row: &StoredCopy, meeting_id: i64, copy: &MeetingCopy) -> CopyChange {
        copy_change((row.meeting_id, &row.response, row.is_organizer, row.removed), meeting_id, copy)
    }

    fn page_change((earlier_id, earlier): (i64, &MeetingCopy), meeting_id: i64, copy: &MeetingCopy) -> CopyChange {
        copy_change((earlier_id, &earlier.response, earlier.is_organizer, false), meeting_id, copy)
    }

    /// Inserts the copies, skipping any that another transaction inserted
    /// meanwhile. Returns the graph ids of those inserted.
    async fn insert_copies(
        conn: &mut Conn,
        ws: WorkspaceId,
        mailbox: MailboxId,
        copies: &[&PlannedCopy<'_, Calendar>],
        now: DateTime<Utc>,
    ) -> Result<HashSet<String>> {
        let mut inserted = HashSet::with_capacity(copies.len());
        for chunk in copies.chunks(rows_per_statement(COPY_INSERT_BINDS)) {
            let mut query = QueryBuilder::<Db>::new(
                "insert into meeting_copy (
                     workspace_id, mailbox_id, meeting_id, graph_id, response, is_organizer, created_at, updated_at) ",
            );
            query.push_values(chunk, |mut row, plan| {
                row.push_bind(ws.0)
                    .push_bind(mailbox.0)
                    .push_bind(plan.item_id)
                    .push_bind(plan.copy.graph_id.as_str())
                    .push_bind(plan.copy.response.as_str())
                    .push_bind(plan.copy.is_organizer)
                    .push_bind(now)
                    .push_bind(now);
            });
            query.push(" on conflict (workspace_id, mailbox_id, graph_id) do nothing returning graph_id");
            let rows: Vec<String> = query.build_query_scalar().persistent(false).fetch_all(&mut *conn).await?;
            inserted.extend(rows);
        }
        Ok(inserted)
    }

    /// Rewrites copies (in graph id order), a batch per statement.
    async fn update_copies(
        conn: &mut Conn,
        updates: &[(i64, &PlannedCopy<'_, Calendar>)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
        lock_in_order(conn, "meeting_copy", "graph_id", &ids).await?;
        for chunk in updates.chunks(rows_per_statement(COPY_UPDATE_BINDS)) {
            let mut query = QueryBuilder::<Db>::new("with page (id, meeting_id, response, is_organizer) as (");
            query.push_values(chunk, |mut row, (id, plan)| {
                row.push_bind(*id)
                    .push_bind(plan.item_id)
                    .push_bind(plan.copy.response.as_str())
                    .push_bind(plan.copy.is_organizer);
            });
            query
                .push(
                    ")
                     update meeting_copy set
                         meeting_id = page.meeting_id, response = page.response, is_organizer = page.is_organizer,
                         removed_at = null, updated_at = ",
                )
                .push_bind(now)
                .push(" from page where meeting_copy.id = page.id");
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// The columns an insert and an update of a meeting both write, from
/// `series_master_id` to `fingerprint`, in the order both statements list;
/// `is_cancelled` is the page's sticky cancellation.
fn push_meeting_columns(
    row: &mut sqlx::query_builder::Separated<'_, Db, &'static str>,
    m: &MeetingRecord,
    is_cancelled: bool,
    fingerprint: &str,
) {
    row.push_bind(m.series_master_id.as_deref())
        .push_bind(m.event_type.as_str())
        .push_bind(m.subject.as_str())
        .push_bind(m.body_html.as_str())
        .push_bind(m.start)
        .push_bind(m.end)
        .push_bind(m.is_all_day)
        .push_bind(is_cancelled)
        .push_bind(m.sensitivity.as_str())
        .push_bind(m.original_time_zone.as_deref())
        .push_bind(m.location.as_deref())
        .push_bind(m.online_meeting_url.as_deref())
        .push_bind(m.organizer.address.as_str())
        .push_bind(m.organizer.name.as_str())
        .push_bind(m.internal_only)
        .push_bind(fingerprint);
}

const MEETING_INSERT_BINDS: usize = 20;

const MEETING_UPDATE_BINDS: usize = 17;

/// The attendees a meeting stores: one per address, the first entry wins,
/// in the order given.
fn distinct_attendees(attendees: &[AttendeeRecord]) -> impl Iterator<Item = &AttendeeRecord> {
    attendees
        .iter()
        .enumerate()
        .filter(|(n, a)| !attendees[..*n].iter().any(|w| w.address == a.address))
        .map(|(_, a)| a)
}

/// Makes the changed meetings' attendees exactly their records' ones,
/// touching only rows that differ. Rows to insert are added to `inserts`.
async fn rewrite_attendees<'a>(
    conn: &mut Conn,
    changed: &[Changed<'_, 'a, Calendar>],
    inserts: &mut Vec<(i64, &'a AttendeeRecord)>,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    type Stored = HashMap<String, (i64, String, String, String)>;
    let mut stored: HashMap<i64, Stored> = HashMap::with_capacity(changed.len());
    for chunk in changed.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(
            "select id, meeting_id, address, name, kind, response from meeting_attendee where meeting_id in ",
        );
        push_list(&mut query, chunk.iter().map(|change| change.id));
        let rows: Vec<(i64, i64, String, String, String, String)> =
            query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        for (id, meeting_id, address, name, kind, response) in rows {
            stored.entry(meeting_id).or_default().insert(address, (id, name, kind, response));
        }
    }
    let mut rewrites: Vec<(i64, &AttendeeRecord)> = Vec::new();
    let mut deletes: Vec<i64> = Vec::new();
    for change in changed {
        let mut by_address = stored.remove(&change.id).unwrap_or_default();
        for a in distinct_attendees(&change.record().attendees) {
            match by_address.remove(&a.address) {
                Some((_, name, kind, response)) if name == a.name && kind == a.kind && response == a.response => {}
                Some((id, ..)) => rewrites.push((id, a)),
                None => inserts.push((change.id, a)),
            }
        }
        deletes.extend(by_address.into_values().map(|(id, ..)| id));
    }
    for (id, a) in rewrites {
        sqlx::query("update meeting_attendee set name = $1, kind = $2, response = $3 where id = $4")
            .bind(&a.name)
            .bind(&a.kind)
            .bind(&a.response)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    for chunk in deletes.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new("delete from meeting_attendee where id in ");
        push_list(&mut query, chunk.iter().copied());
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

const ATTENDEE_INSERT_BINDS: usize = 6;

/// Inserts attendees; each meeting's in the order given, so that ids keep
/// that order.
async fn insert_attendees(conn: &mut Conn, ws: WorkspaceId, attendees: &[(i64, &AttendeeRecord)]) -> Result<()> {
    for chunk in attendees.chunks(rows_per_statement(ATTENDEE_INSERT_BINDS)) {
        let mut query = QueryBuilder::<Db>::new(
            "insert into meeting_attendee (workspace_id, meeting_id, address, name, kind, response) ",
        );
        query.push_values(chunk, |mut row, (meeting_id, a)| {
            row.push_bind(ws.0)
                .push_bind(*meeting_id)
                .push_bind(a.address.as_str())
                .push_bind(a.name.as_str())
                .push_bind(a.kind.as_str())
                .push_bind(a.response.as_str());
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
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

const COPY_UPDATE_BINDS: usize = 4;

const COPY_INSERT_BINDS: usize = 8;

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
