//! [`Reader`]: several reads on one connection. A portal page or an API
//! response reads a contact, its summary and a timeline page; through the
//! pool each read would take a connection and give it back, and on SQLite
//! giving one back is a round trip to the connection's worker thread. Under
//! load those trips were a fifth of a request's CPU. A reader takes one
//! connection for all of them.
//!
//! The reads are the same functions [`Store`](crate::Store) offers one at a
//! time (which open a reader for the one read). Never ask the store for
//! another connection while holding a reader: a few requests doing that at
//! once would hold the whole pool and wait for each other.

use crate::error::Result;
use crate::types::{
    CompanyId, CompanyRow, ContactId, ContactListQuery, ContactRow, ContactSummary, MonthlyActivity, PortalSession,
    TimelineOf, TimelinePage, TimelineQuery, Viewer, WorkspaceId,
};
use crate::{postgres, sqlite};
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;

/// A pooled connection for a handful of reads; it goes back to the pool when
/// dropped. Each read is scoped to the workspace it is given, like every
/// store call.
pub struct Reader(Connection);

pub(crate) enum Connection {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

impl Reader {
    pub(crate) fn new(connection: Connection) -> Reader {
        Reader(connection)
    }
}

/// Calls the same repository function on whichever backend the reader's
/// connection is.
macro_rules! read {
    ($reader:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match &mut $reader.0 {
            Connection::Sqlite(conn) => sqlite::repo::$function(conn, $($arg),*).await,
            Connection::Postgres(conn) => postgres::repo::$function(conn, $($arg),*).await,
        }
    };
}

impl Reader {
    /// One contact with its addresses and company; `NotFound` when it is not
    /// the workspace's.
    pub async fn contact(&mut self, ws: WorkspaceId, id: ContactId) -> Result<ContactRow> {
        read!(self, contact(ws, id))
    }

    /// Contacts listed, searched and sorted as `query` asks.
    pub async fn contacts(&mut self, ws: WorkspaceId, query: &ContactListQuery) -> Result<Vec<ContactRow>> {
        read!(self, contacts(ws, query))
    }

    pub async fn company(&mut self, ws: WorkspaceId, id: CompanyId) -> Result<CompanyRow> {
        read!(self, company(ws, id))
    }

    /// A page of a contact's timeline, newest first, redacted by the
    /// workspace's privacy policy.
    pub async fn timeline(
        &mut self,
        ws: WorkspaceId,
        contact: ContactId,
        query: &TimelineQuery,
        now: DateTime<Utc>,
    ) -> Result<TimelinePage> {
        read!(self, timeline(ws, TimelineOf::Contact(contact), query, now))
    }

    /// A page of everything the contacts of a company did with the team.
    pub async fn company_timeline(
        &mut self,
        ws: WorkspaceId,
        company: CompanyId,
        query: &TimelineQuery,
        now: DateTime<Utc>,
    ) -> Result<TimelinePage> {
        read!(self, timeline(ws, TimelineOf::Company(company), query, now))
    }

    /// Search over every email and meeting (`query.search` is required), as
    /// far as visibility and the internal-only rule let `viewer` see.
    pub async fn search(
        &mut self,
        ws: WorkspaceId,
        query: &TimelineQuery,
        viewer: &Viewer,
        now: DateTime<Utc>,
    ) -> Result<TimelinePage> {
        read!(self, timeline(ws, TimelineOf::Everything(viewer), query, now))
    }

    /// The summary above a contact's timeline.
    pub async fn contact_summary(
        &mut self,
        ws: WorkspaceId,
        contact: ContactId,
        now: DateTime<Utc>,
    ) -> Result<ContactSummary> {
        read!(self, contact_summary(ws, contact, now))
    }

    /// A contact's activity per calendar month (UTC) in `[from, to)`.
    pub async fn monthly_activity(
        &mut self,
        ws: WorkspaceId,
        contact: ContactId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MonthlyActivity>> {
        read!(self, monthly_activity(ws, contact, from, to))
    }

    /// The live session with this cookie token, with its user.
    pub async fn session_by_token(
        &mut self,
        ws: WorkspaceId,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PortalSession>> {
        read!(self, session_by_token(ws, token, now))
    }

    /// The team's mailbox addresses, sorted.
    pub async fn mailbox_addresses(&mut self, ws: WorkspaceId) -> Result<Vec<String>> {
        read!(self, mailbox_addresses(ws))
    }
}
