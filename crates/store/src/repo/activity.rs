/*!
The activity index: which emails and meetings are on which contact's
timeline, kept in step with matching.

Matching is set-based SQL over the normalised addresses already stored on
participants and attendees: an email or meeting is on a contact's timeline
when one of the contact's addresses is among its people. The `activity`
table is the index of that relation, and it is kept in step from both
sides, always inside the writing transaction:
- a contact created, or given an address, links its whole history at once
  ([`link_contacts`]), dated by when each thing happened;
- a page of synced mail or meetings links its new and changed items to the
  contacts that exist ([`link_emails`], [`link_meetings`]);
- an item removed, or a contact's address taken away, leaves the index
  ([`unlink`]).

On PostgreSQL two transactions at once could each miss the other's rows (a
page storing an email from someone while that someone becomes a contact).
An advisory linking lock per workspace closes that: pages hold it shared
([`hold_linking_lock`]), contact changes outside sync take it exclusively
up front ([`lock_linking`]), and contacts a page auto-creates are noted in
`link_pending` and linked again after it commits, under the exclusive lock
([`settle_links`]).
*/

use super::{BACKEND, Conn, Db, Pool, begin_write, push_list, rows_per_statement};
use crate::error::Result;
use crate::types::{Backend, WorkspaceId};
use sqlx::QueryBuilder;
use tac_core::timeline::ActivityKind;
use tac_store_macros::operation;

/// Links every email and meeting of these contacts' addresses. A
/// transaction that creates contacts or gives them addresses takes the
/// linking lock first ([`lock_linking`]), or, inside a page, notes the
/// contacts for [`settle_links`].
pub(crate) async fn link_contacts(conn: &mut Conn, ws: WorkspaceId, contact_ids: &[i64]) -> Result<()> {
    link_contacts_now(conn, ws, contact_ids).await
}

/// Links these emails to every contact among their participants.
pub(crate) async fn link_emails(conn: &mut Conn, ws: WorkspaceId, email_ids: &[i64]) -> Result<()> {
    by_chunks(conn, email_ids, |chunk| link_query(ws, Link::Emails, Start::Items, chunk)).await
}

/// Links these meetings to every contact among their organizer and attendees.
pub(crate) async fn link_meetings(conn: &mut Conn, ws: WorkspaceId, meeting_ids: &[i64]) -> Result<()> {
    for link in [Link::Attendees, Link::Organizers] {
        by_chunks(conn, meeting_ids, |chunk| link_query(ws, link, Start::Items, chunk)).await?;
    }
    Ok(())
}

pub(super) async fn link_contacts_now(conn: &mut Conn, ws: WorkspaceId, contact_ids: &[i64]) -> Result<()> {
    for link in [Link::Emails, Link::Attendees, Link::Organizers] {
        by_chunks(conn, contact_ids, |chunk| link_query(ws, link, Start::Contacts, chunk)).await?;
    }
    Ok(())
}

/// The advisory lock key of a workspace's linking (PostgreSQL): pages hold it
/// shared for their whole transaction, [`settle_links`] exclusively.
fn linking_lock(ws: WorkspaceId) -> i64 {
    0x7AC_0000_0000 + ws.0
}

/// PostgreSQL: called first in a transaction that creates contacts or gives
/// them addresses (outside sync pages). It waits for the pages under way to
/// commit, so its linking sees their items, and pages that start meanwhile
/// wait for it, so theirs see its contacts. Taken before any row is written,
/// it never waits while holding a row a page needs.
pub(crate) async fn lock_linking(conn: &mut Conn, ws: WorkspaceId) -> Result<()> {
    if BACKEND == Backend::Postgres {
        sqlx::query("select pg_advisory_xact_lock($1)").bind(linking_lock(ws)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: called first in a page's transaction. The page holds the
/// workspace's linking lock shared until it commits, so a settle that relinks
/// new contacts waits for pages already under way and pages that start later
/// see those contacts (see [`settle_links`]). Pages never wait for each other.
pub(crate) async fn hold_linking_lock(conn: &mut Conn, ws: WorkspaceId) -> Result<()> {
    if BACKEND == Backend::Postgres {
        sqlx::query("select pg_advisory_xact_lock_shared($1)").bind(linking_lock(ws)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: notes, inside the page that auto-created them, contacts for
/// [`settle_links`] to link again once the page has committed. SQLite runs one writer at a time, so a link there always sees
/// every committed row and nothing is noted.
pub(super) async fn note_for_settling(conn: &mut Conn, ws: WorkspaceId, contact_ids: &[i64]) -> Result<()> {
    if BACKEND != Backend::Postgres || contact_ids.is_empty() {
        return Ok(());
    }
    for chunk in contact_ids.chunks(rows_per_statement(3)) {
        let mut query = QueryBuilder::<Db>::new("insert into link_pending (workspace_id, kind, ref_id) ");
        query.push_values(chunk, |mut row, id| {
            row.push_bind(ws.0).push_bind("contact").push_bind(*id);
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// How many notes one settling transaction takes.
const SETTLE_BATCH: i64 = 2_000;

/// Links again the history of contacts that sync pages auto-created
/// (PostgreSQL; a no-op on SQLite), and deletes their notes. Returns how
/// many notes it settled.
///
/// A page storing an email from someone, and another page auto-creating
/// that someone as a contact at the same moment, each link only what they
/// see; neither sees the other's uncommitted rows, so the email would miss
/// the timeline. The creating page notes the contact; this follow-up
/// then takes the workspace's linking lock exclusively, which waits for every
/// page already under way (they hold it shared) and makes pages that start
/// later wait, so that the pages before it have committed when it links and
/// the pages after it see the contact. Sync calls this every few seconds
/// during a pass and at its end (not after every page: each settle pauses
/// the pages), so a contact auto-created mid-pass may lack a racing email
/// for those seconds, never for good; notes survive a crash.
#[operation]
pub(crate) async fn settle_links(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    if BACKEND != Backend::Postgres {
        return Ok(0);
    }
    let mut settled = 0;
    loop {
        let mut tx = begin_write(pool).await?;
        // Nothing to do, most of the time: no lock is taken then.
        let pending: Option<i64> = sqlx::query_scalar("select id from link_pending where workspace_id = $1 limit 1")
            .bind(ws.0)
            .fetch_optional(&mut *tx)
            .await?;
        if pending.is_none() {
            tx.commit().await?;
            return Ok(settled);
        }
        sqlx::query("select pg_advisory_xact_lock($1)").bind(linking_lock(ws)).execute(&mut *tx).await?;
        // Skip notes another follow-up is settling: it too waited for the
        // pages under way, which is all that is needed.
        let notes: Vec<(i64, i64)> = sqlx::query_as(
            "select id, ref_id from link_pending where workspace_id = $1 and kind = 'contact'
             order by id limit $2 for update skip locked",
        )
        .bind(ws.0)
        .bind(SETTLE_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if notes.is_empty() {
            tx.commit().await?;
            return Ok(settled);
        }
        let mut contacts: Vec<i64> = notes.iter().map(|(_, contact)| *contact).collect();
        contacts.sort_unstable();
        contacts.dedup();
        link_contacts_now(&mut tx, ws, &contacts).await?;
        let ids: Vec<i64> = notes.iter().map(|(id, _)| *id).collect();
        by_chunks(&mut tx, &ids, |chunk| {
            let mut query = QueryBuilder::<Db>::new("delete from link_pending where id in ");
            push_list(&mut query, chunk.iter().copied());
            query
        })
        .await?;
        tx.commit().await?;
        settled += notes.len() as u64;
    }
}

/// Drops the timeline entries of these emails or meetings (before they are relinked).
pub(crate) async fn unlink(conn: &mut Conn, kind: ActivityKind, ids: &[i64]) -> Result<()> {
    let sql = match kind {
        ActivityKind::Email => "delete from activity where email_id in ",
        ActivityKind::Meeting => "delete from activity where meeting_id in ",
    };
    by_chunks(conn, ids, |chunk| {
        let mut query = QueryBuilder::<Db>::new(sql);
        push_list(&mut query, chunk.iter().copied());
        query
    })
    .await
}

/// How an item reaches a contact: as an email participant, a meeting
/// attendee or a meeting organizer. Each is its own statement so that every
/// join runs on an index.
#[derive(Debug, Clone, Copy)]
enum Link {
    Emails,
    Attendees,
    Organizers,
}

/// Runs the statement `build` makes for each bind-sized chunk of `ids`.
async fn by_chunks(conn: &mut Conn, ids: &[i64], build: impl Fn(&[i64]) -> QueryBuilder<Db>) -> Result<()> {
    for chunk in ids.chunks(rows_per_statement(1)).filter(|c| !c.is_empty()) {
        build(chunk).build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which rows a linking statement starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// These contacts' addresses (a new contact's whole history).
    Contacts,
    /// These emails or meetings (a synced page).
    Items,
}

/// The insert…select that links items to contacts, for the chunk of
/// contact or item ids. An email is inbound for a contact who sent it,
/// outbound otherwise; a meeting is on the timeline of its organizer and
/// of every attendee; an internal-only item is on none.
///
/// The side the chunk names comes first, joined with `cross join`: SQLite
/// then keeps that order (PostgreSQL plans it as an inner join anyway), so
/// a page's statement reads the page's rows and looks contacts up by
/// address, instead of walking every contact of the workspace.
fn link_query(ws: WorkspaceId, link: Link, from: Start, chunk: &[i64]) -> QueryBuilder<Db> {
    // Starting from items, the item side is joined to contacts by address
    // alone (the chunk's ids are this workspace's already): naming its
    // workspace too would let SQLite read every participant of the
    // workspace by that index instead of the page's by their item ids.
    let (select, tables, filter, join) = match (link, from) {
        (Link::Emails, Start::Contacts) => (
            EMAIL_LINK,
            " from contact_email ce cross join email_participant p cross join email e",
            " and ce.contact_id in ",
            " and p.workspace_id = ce.workspace_id and p.address = ce.address and e.id = p.email_id",
        ),
        (Link::Emails, Start::Items) => (
            EMAIL_LINK,
            " from email_participant p cross join contact_email ce cross join email e",
            " and p.email_id in ",
            " and ce.address = p.address and e.id = p.email_id",
        ),
        (Link::Attendees, Start::Contacts) => (
            MEETING_LINK,
            " from contact_email ce cross join meeting_attendee a cross join meeting m",
            " and ce.contact_id in ",
            " and a.workspace_id = ce.workspace_id and a.address = ce.address and m.id = a.meeting_id",
        ),
        (Link::Attendees, Start::Items) => (
            MEETING_LINK,
            " from meeting_attendee a cross join contact_email ce cross join meeting m",
            " and a.meeting_id in ",
            " and ce.address = a.address and m.id = a.meeting_id",
        ),
        (Link::Organizers, Start::Contacts) => (
            MEETING_LINK,
            " from contact_email ce cross join meeting m",
            " and ce.contact_id in ",
            " and m.workspace_id = ce.workspace_id and m.organizer_address = ce.address",
        ),
        (Link::Organizers, Start::Items) => (
            MEETING_LINK,
            " from meeting m cross join contact_email ce",
            " and m.id in ",
            " and ce.address = m.organizer_address",
        ),
    };
    let mut query = QueryBuilder::<Db>::new(select);
    query.push(tables).push(" where ce.workspace_id = ").push_bind(ws.0).push(filter);
    push_list(&mut query, chunk.iter().copied());
    query.push(join);
    // Internal-only items are on no timeline, even of a contact whose
    // address the directory has since made internal.
    query.push(match link {
        Link::Emails => " and not e.internal_only",
        Link::Attendees | Link::Organizers => " and not m.internal_only",
    });
    if let Link::Emails = link {
        query.push(" group by ce.workspace_id, ce.contact_id, e.id, e.sent_at");
    }
    query.push(" on conflict do nothing");
    query
}

const EMAIL_LINK: &str = "insert into activity (workspace_id, contact_id, occurred_at, kind, email_id, direction)
     select ce.workspace_id, ce.contact_id, e.sent_at, 'email', e.id,
            case when max(case when p.role = 'from' then 1 else 0 end) = 1 then 'inbound' else 'outbound' end";

const MEETING_LINK: &str = "insert into activity (workspace_id, contact_id, occurred_at, kind, meeting_id)
     select ce.workspace_id, ce.contact_id, m.start_at, 'meeting', m.id";
