/*!
Calendar ingest: one `calendarView/delta` page per transaction, cursor
included. A meeting occurrence is stored once per workspace (by iCalUId);
each mailbox's event is a copy carrying that mailbox's own response.

Like mail ingest (see `mail.rs`), a page costs a handful of statements: one
look-up per table, then multi-row inserts for what is new and multi-row
updates for what changed, with the rows and counts of applying the items one
by one in iCalUId order. Cancellation sticks: an attendee's copy that has not
caught up yet cannot un-cancel a meeting, and the stored fingerprint is that
of the row as stored, cancellation included.
*/

use super::activity::{hold_linking_lock, link_meetings, unlink};
use super::contacts::auto_create_contacts;
use super::{
    BACKEND, Conn, Db, Pool, begin_write, count, ensure_mailbox, lock_in_order, now, push_list, rows_per_statement,
    write_cursor,
};
use crate::error::{Result, StoreError};
use crate::fingerprint;
use crate::types::{Backend, CursorScope, MailboxId, MeetingCopyRow, PageOutcome, RoundState, SyncCursor, WorkspaceId};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use tac_core::contacts::AutoCreateCandidate;
use tac_core::records::{AttendeeRecord, MeetingCopy, MeetingRecord, Participant, ParticipantRole};
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

/// Applies one `calendarView/delta` page and saves `cursor`, all in one
/// transaction (contacts and timelines as for mail).
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
    // Meetings are written in iCalUId order, so concurrent pages cannot
    // deadlock (PostgreSQL). The sort is stable: the last item of an
    // iCalUId wins.
    let mut ordered: Vec<&(MeetingRecord, MeetingCopy)> = upserts.iter().collect();
    ordered.sort_by(|a, b| a.0.ical_uid.cmp(&b.0.ical_uid));
    let meetings = page_meetings(&ordered);

    let now = now();
    let mut outcome = PageOutcome::default();
    let mut tx = begin_write(pool).await?;
    hold_linking_lock(&mut tx, ws).await?;
    ensure_mailbox(&mut tx, ws, mailbox).await?;
    let mut touched = Vec::new();
    let meeting_ids = write_meetings(&mut tx, ws, &meetings, now, &mut outcome, &mut touched).await?;
    write_copies(&mut tx, ws, mailbox, &ordered, &meeting_ids, now, &mut outcome).await?;
    // Timelines, as for mail: changed meetings relinked, new contacts linked.
    super::privacy::set_content_level(&mut tx, ws, "meeting", &touched).await?;
    unlink(&mut tx, ActivityKind::Meeting, &touched).await?;
    auto_create_contacts(&mut tx, ws, new_contacts).await?;
    link_meetings(&mut tx, ws, &touched).await?;
    outcome.copies_removed = remove_copies(&mut tx, ws, mailbox, removed_graph_ids, now).await?;
    write_cursor(&mut tx, ws, mailbox, CursorScope::Calendar, cursor, RoundState::default(), now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The page's items for one iCalUId.
struct PageMeeting<'a> {
    /// The last record given: what applying the items one by one leaves,
    /// but for the cancellation.
    record: &'a MeetingRecord,
    items: u64,
    /// Whether any item says the meeting is cancelled.
    cancelled: bool,
    /// The fingerprint with `cancelled` as the stored flag.
    fingerprint: String,
}

impl PageMeeting<'_> {
    fn ical_uid(&self) -> &str {
        &self.record.ical_uid
    }

    /// The fingerprint once applied over a row whose flag is `was_cancelled`.
    fn fingerprint_over(&self, was_cancelled: bool) -> String {
        if was_cancelled && !self.cancelled {
            fingerprint::meeting(self.record, true)
        } else {
            self.fingerprint.clone()
        }
    }
}

/// Groups the items (sorted by iCalUId) by iCalUId.
fn page_meetings<'a>(ordered: &[&'a (MeetingRecord, MeetingCopy)]) -> Vec<PageMeeting<'a>> {
    let mut meetings: Vec<PageMeeting<'a>> = Vec::with_capacity(ordered.len());
    for (record, _) in ordered.iter().copied() {
        match meetings.last_mut() {
            Some(last) if last.record.ical_uid == record.ical_uid => {
                last.record = record;
                last.items += 1;
                last.cancelled |= record.is_cancelled;
            }
            _ => meetings.push(PageMeeting {
                record,
                items: 1,
                cancelled: record.is_cancelled,
                fingerprint: String::new(),
            }),
        }
    }
    for meeting in &mut meetings {
        meeting.fingerprint = fingerprint::meeting(meeting.record, meeting.cancelled);
    }
    meetings
}

/// A meeting that exists and differs from the page's: its id, whether the
/// stored one is cancelled, and the fingerprint it gets.
struct ChangedMeeting<'m, 'a> {
    id: i64,
    is_cancelled: bool,
    fingerprint: String,
    meeting: &'m PageMeeting<'a>,
}

/// Inserts the new meetings, updates the changed ones, and brings their
/// attendees in line. Returns the meeting id of every iCalUId.
async fn write_meetings<'a>(
    conn: &mut Conn,
    ws: WorkspaceId,
    meetings: &[PageMeeting<'a>],
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
    touched: &mut Vec<i64>,
) -> Result<HashMap<&'a str, i64>> {
    let mut ids: HashMap<&'a str, i64> = HashMap::with_capacity(meetings.len());
    let mut changed: Vec<ChangedMeeting<'_, 'a>> = Vec::new();
    let mut new: Vec<&PageMeeting<'a>> = Vec::new();
    let stored = stored_meetings(conn, ws, meetings.iter()).await?;
    for meeting in meetings {
        match stored.get(meeting.ical_uid()) {
            Some(row) => {
                ids.insert(&meeting.record.ical_uid, row.id);
                outcome.records_existing += meeting.items;
                if let Some(change) = row.change(meeting) {
                    changed.push(change);
                }
            }
            None => new.push(meeting),
        }
    }

    let inserted = insert_meetings(conn, ws, &new, now).await?;
    let mut new_attendees: Vec<(i64, &'a AttendeeRecord)> = Vec::new();
    let mut raced: Vec<&PageMeeting<'a>> = Vec::new();
    for meeting in new {
        match inserted.get(meeting.ical_uid()) {
            Some(&id) => {
                ids.insert(&meeting.record.ical_uid, id);
                outcome.records_added += 1;
                outcome.records_existing += meeting.items - 1;
                new_attendees.extend(distinct_attendees(&meeting.record.attendees).map(|a| (id, a)));
            }
            None => raced.push(meeting),
        }
    }
    if !raced.is_empty() {
        // Another transaction stored these since the look-up (PostgreSQL).
        let stored = stored_meetings(conn, ws, raced.iter().copied()).await?;
        for meeting in raced {
            let row = stored.get(meeting.ical_uid()).ok_or(StoreError::NotFound("meeting"))?;
            ids.insert(&meeting.record.ical_uid, row.id);
            outcome.records_existing += meeting.items;
            if let Some(change) = row.change(meeting) {
                changed.push(change);
            }
        }
        changed.sort_by(|a, b| a.meeting.ical_uid().cmp(b.meeting.ical_uid()));
    }

    update_meetings(conn, ws, &changed, now).await?;
    rewrite_attendees(conn, &changed, &mut new_attendees).await?;
    insert_attendees(conn, ws, &new_attendees).await?;
    touched.extend(changed.iter().map(|c| c.id));
    touched.extend(inserted.values().copied());
    Ok(ids)
}

#[derive(sqlx::FromRow)]
struct StoredMeeting {
    id: i64,
    ical_uid: String,
    fingerprint: String,
    is_cancelled: bool,
}

impl StoredMeeting {
    /// What to write over this row for `meeting`, or `None` if it would stay the same.
    fn change<'m, 'a>(&self, meeting: &'m PageMeeting<'a>) -> Option<ChangedMeeting<'m, 'a>> {
        let fingerprint = meeting.fingerprint_over(self.is_cancelled);
        (fingerprint != self.fingerprint).then_some(ChangedMeeting {
            id: self.id,
            is_cancelled: self.is_cancelled || meeting.cancelled,
            fingerprint,
            meeting,
        })
    }
}

/// The stored meetings among those of the page, by iCalUId.
async fn stored_meetings<'m, 'a: 'm>(
    conn: &mut Conn,
    ws: WorkspaceId,
    meetings: impl Iterator<Item = &'m PageMeeting<'a>>,
) -> Result<HashMap<String, StoredMeeting>> {
    let ical_uids: Vec<&str> = meetings.map(PageMeeting::ical_uid).collect();
    let mut found = HashMap::with_capacity(ical_uids.len());
    for chunk in ical_uids.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new(
            "select id, ical_uid, fingerprint, is_cancelled from meeting where workspace_id = ",
        );
        query.push_bind(ws.0).push(" and ical_uid in ");
        push_list(&mut query, chunk.iter().copied());
        let rows: Vec<StoredMeeting> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        found.extend(rows.into_iter().map(|row| (row.ical_uid.clone(), row)));
    }
    Ok(found)
}

const MEETING_INSERT_BINDS: usize = 20;

/// Inserts the meetings, skipping any that another transaction inserted
/// meanwhile. Returns the ids of those inserted, by iCalUId.
async fn insert_meetings(
    conn: &mut Conn,
    ws: WorkspaceId,
    meetings: &[&PageMeeting<'_>],
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
            let m = meeting.record;
            row.push_bind(ws.0)
                .push_bind(m.ical_uid.as_str())
                .push_bind(m.series_master_id.as_deref())
                .push_bind(m.event_type.as_str())
                .push_bind(m.subject.as_str())
                .push_bind(m.body_html.as_str())
                .push_bind(m.start)
                .push_bind(m.end)
                .push_bind(m.is_all_day)
                .push_bind(meeting.cancelled)
                .push_bind(m.sensitivity.as_str())
                .push_bind(m.original_time_zone.as_deref())
                .push_bind(m.location.as_deref())
                .push_bind(m.online_meeting_url.as_deref())
                .push_bind(m.organizer.address.as_str())
                .push_bind(m.organizer.name.as_str())
                .push_bind(m.internal_only)
                .push_bind(meeting.fingerprint.as_str())
                .push_bind(now)
                .push_bind(now);
        });
        query.push(" on conflict (workspace_id, ical_uid) do nothing returning id, ical_uid");
        let rows: Vec<(i64, String)> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        inserted.extend(rows.into_iter().map(|(id, ical_uid)| (ical_uid, id)));
    }
    Ok(inserted)
}

const MEETING_UPDATE_BINDS: usize = 17;

/// Rewrites the changed meetings (in iCalUId order), a batch per statement.
async fn update_meetings(
    conn: &mut Conn,
    ws: WorkspaceId,
    changed: &[ChangedMeeting<'_, '_>],
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
            let m = change.meeting.record;
            row.push_bind(change.id)
                .push_bind(m.series_master_id.as_deref())
                .push_bind(m.event_type.as_str())
                .push_bind(m.subject.as_str())
                .push_bind(m.body_html.as_str())
                .push_bind(m.start)
                .push_bind(m.end)
                .push_bind(m.is_all_day)
                .push_bind(change.is_cancelled)
                .push_bind(m.sensitivity.as_str())
                .push_bind(m.original_time_zone.as_deref())
                .push_bind(m.location.as_deref())
                .push_bind(m.online_meeting_url.as_deref())
                .push_bind(m.organizer.address.as_str())
                .push_bind(m.organizer.name.as_str())
                .push_bind(m.internal_only)
                .push_bind(change.fingerprint.as_str());
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
    changed: &[ChangedMeeting<'_, 'a>],
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
        for a in distinct_attendees(&change.meeting.record.attendees) {
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
struct StoredCopy {
    id: i64,
    graph_id: String,
    meeting_id: i64,
    response: String,
    is_organizer: bool,
    removed: bool,
}

/// A copy as the page leaves it, before it is written.
struct PlannedCopy<'a> {
    /// The stored row, or `None` for a copy new to the mailbox.
    id: Option<i64>,
    meeting_id: i64,
    copy: &'a MeetingCopy,
    /// Whether the stored row must be rewritten.
    dirty: bool,
}

/// What an item does to a copy that exists.
enum CopyChange {
    Unchanged,
    Restored,
    Updated,
}

impl CopyChange {
    /// Compares the copy as it is (meeting, response, organizer, removed)
    /// with the incoming one.
    fn of(current: (i64, &str, bool, bool), meeting_id: i64, copy: &MeetingCopy) -> CopyChange {
        let (current_meeting_id, response, is_organizer, removed) = current;
        if removed {
            CopyChange::Restored
        } else if current_meeting_id != meeting_id || response != copy.response || is_organizer != copy.is_organizer {
            CopyChange::Updated
        } else {
            CopyChange::Unchanged
        }
    }

    fn count(&self, outcome: &mut PageOutcome) {
        match self {
            CopyChange::Unchanged => outcome.copies_unchanged += 1,
            CopyChange::Restored => outcome.copies_restored += 1,
            CopyChange::Updated => outcome.copies_updated += 1,
        }
    }
}

impl StoredCopy {
    fn current(&self) -> (i64, &str, bool, bool) {
        (self.meeting_id, &self.response, self.is_organizer, self.removed)
    }
}

/// Inserts, restores and updates the mailbox's meeting copies.
async fn write_copies(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    ordered: &[&(MeetingRecord, MeetingCopy)],
    meeting_ids: &HashMap<&str, i64>,
    now: DateTime<Utc>,
    outcome: &mut PageOutcome,
) -> Result<()> {
    if ordered.is_empty() {
        return Ok(());
    }
    let stored = stored_copies(conn, ws, mailbox, ordered.iter().map(|(_, copy)| copy.graph_id.as_str())).await?;
    let mut planned: HashMap<&str, PlannedCopy<'_>> = HashMap::with_capacity(ordered.len());
    for (meeting, copy) in ordered.iter().map(|pair| (&pair.0, &pair.1)) {
        let meeting_id = *meeting_ids
            .get(meeting.ical_uid.as_str())
            .expect("BUG: write_meetings returns an id for every iCalUId of the page");
        match planned.entry(copy.graph_id.as_str()) {
            // The page lists the event twice: compare with the first.
            Entry::Occupied(mut entry) => {
                let plan = entry.get_mut();
                let change = CopyChange::of(
                    (plan.meeting_id, &plan.copy.response, plan.copy.is_organizer, false),
                    meeting_id,
                    copy,
                );
                change.count(outcome);
                if !matches!(change, CopyChange::Unchanged) {
                    *plan = PlannedCopy { id: plan.id, meeting_id, copy, dirty: plan.id.is_some() };
                }
            }
            Entry::Vacant(entry) => match stored.get(copy.graph_id.as_str()) {
                None => {
                    outcome.copies_added += 1;
                    entry.insert(PlannedCopy { id: None, meeting_id, copy, dirty: false });
                }
                Some(row) => {
                    let change = CopyChange::of(row.current(), meeting_id, copy);
                    change.count(outcome);
                    let dirty = !matches!(change, CopyChange::Unchanged);
                    entry.insert(PlannedCopy { id: Some(row.id), meeting_id, copy, dirty });
                }
            },
        }
    }

    let mut new: Vec<&PlannedCopy<'_>> = planned.values().filter(|plan| plan.id.is_none()).collect();
    new.sort_by(|a, b| a.copy.graph_id.cmp(&b.copy.graph_id));
    let inserted = insert_copies(conn, ws, mailbox, &new, now).await?;
    let mut updates: Vec<(i64, &PlannedCopy<'_>)> =
        planned.values().filter(|plan| plan.dirty).filter_map(|plan| Some((plan.id?, plan))).collect();
    if inserted.len() < new.len() {
        // Another transaction of this mailbox inserted some of these since
        // the look-up: they are existing copies after all.
        let raced: Vec<&PlannedCopy<'_>> =
            new.into_iter().filter(|plan| !inserted.contains(plan.copy.graph_id.as_str())).collect();
        let stored = stored_copies(conn, ws, mailbox, raced.iter().map(|plan| plan.copy.graph_id.as_str())).await?;
        for plan in raced {
            let row = stored.get(plan.copy.graph_id.as_str()).ok_or(StoreError::NotFound("meeting copy"))?;
            outcome.copies_added -= 1;
            let change = CopyChange::of(row.current(), plan.meeting_id, plan.copy);
            change.count(outcome);
            if !matches!(change, CopyChange::Unchanged) {
                updates.push((row.id, plan));
            }
        }
    }
    updates.sort_by(|a, b| a.1.copy.graph_id.cmp(&b.1.copy.graph_id));
    update_copies(conn, &updates, now).await
}

const COPY_UPDATE_BINDS: usize = 4;

/// Rewrites copies (in graph id order), a batch per statement.
async fn update_copies(conn: &mut Conn, updates: &[(i64, &PlannedCopy<'_>)], now: DateTime<Utc>) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
    lock_in_order(conn, "meeting_copy", "graph_id", &ids).await?;
    for chunk in updates.chunks(rows_per_statement(COPY_UPDATE_BINDS)) {
        let mut query = QueryBuilder::<Db>::new("with page (id, meeting_id, response, is_organizer) as (");
        query.push_values(chunk, |mut row, (id, plan)| {
            row.push_bind(*id)
                .push_bind(plan.meeting_id)
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

/// The mailbox's stored meeting copies among `graph_ids`, by graph id.
async fn stored_copies<'g>(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    graph_ids: impl Iterator<Item = &'g str>,
) -> Result<HashMap<String, StoredCopy>> {
    let graph_ids: Vec<&str> = graph_ids.collect();
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

const COPY_INSERT_BINDS: usize = 8;

/// Inserts the copies, skipping any that another transaction inserted
/// meanwhile. Returns the graph ids of those inserted.
async fn insert_copies(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    copies: &[&PlannedCopy<'_>],
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
                .push_bind(plan.meeting_id)
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

/// Marks the copies removed; returns how many were. The meeting itself
/// stays, cancelled or not: history is kept.
async fn remove_copies(
    conn: &mut Conn,
    ws: WorkspaceId,
    mailbox: MailboxId,
    graph_ids: &[String],
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut removed = 0;
    for chunk in graph_ids.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new("update meeting_copy set removed_at = ");
        query
            .push_bind(now)
            .push(", updated_at = ")
            .push_bind(now)
            .push(" where workspace_id = ")
            .push_bind(ws.0)
            .push(" and mailbox_id = ")
            .push_bind(mailbox.0)
            .push(" and removed_at is null and graph_id in ");
        push_list(&mut query, chunk.iter().map(String::as_str));
        removed += query.build().persistent(false).execute(&mut *conn).await?.rows_affected();
    }
    Ok(removed)
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
