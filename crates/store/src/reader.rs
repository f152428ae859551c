//! [`Reader`]: several reads on one connection. A portal page or an API
//! response reads a contact, its summary and a timeline page; through the
//! pool each read would take a connection and give it back, and on SQLite
//! giving one back is a round trip to the connection's worker thread. Under
//! load those trips were a fifth of a request's CPU. A reader takes one
//! connection for all of them.
//!
//! The reads are the same functions [`Store`](crate::Store) offers one at a
//! time (which open a reader for the one read): every repository read whose
//! first parameter is a connection, declared with `#[operation]`. Never ask
//! the store for another connection while holding a reader: a few requests
//! doing that at once would hold the whole pool and wait for each other.

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

    /// The connection, for the methods `#[operation]` derives from the
    /// repository's reads (the ones whose first parameter is `conn`).
    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.0
    }
}
