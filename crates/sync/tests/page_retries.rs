//! A page write that the database aborts for a deadlock is tried again, for
//! mail and calendar pages alike: page writes are idempotent, so the retry
//! is safe, and the mailbox must end the pass `ok` and equal to what was
//! synced, not failed.
//!
//! The deadlock is real, on PostgreSQL. A second connection locks one
//! mailbox's cursor row (calendar or a mail folder) `for update`; the next
//! pass's page for that chain takes the workspace's linking lock (shared),
//! then waits for the row. The connection then asks for the linking lock
//! exclusively, which waits for the page: PostgreSQL finds the cycle and
//! aborts one of the two.

use sqlx::Connection as _;
use std::sync::Arc;
use std::time::Duration;
use tac_core::MailboxState;
use tac_store::{MailboxId, Store, WorkspaceId};
use tac_sync::{Quiet, SyncOptions, SyncReport, sync_once};

mod common;

use common::{World, stores};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_page_that_deadlocks_is_written_again() {
    page_write_survives_a_deadlock(Chain::Calendar).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_page_that_deadlocks_is_written_again() {
    page_write_survives_a_deadlock(Chain::Inbox).await;
}

#[derive(Clone, Copy, Debug)]
enum Chain {
    Calendar,
    Inbox,
}

async fn page_write_survives_a_deadlock(chain: Chain) {
    let stores = stores().await;
    let url = stores.postgres_url();
    for (backend, store) in stores {
        if backend != "postgres" {
            continue; // SQLite has one writer at a time: no deadlocks.
        }
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        assert!(sync(&store, ws, &world).await.all_ok());
        let mailbox = store.mailboxes(ws).await.unwrap().into_iter().find(|m| m.state == MailboxState::Ok).unwrap();
        let before =
            (store.email_copies(ws, mailbox.id).await.unwrap(), store.meeting_copies(ws, mailbox.id).await.unwrap());
        let deadlocks_before = deadlocks(&url).await;

        // PostgreSQL aborts whichever of the two checks first; when that is
        // the test's own connection, the page went through unharmed and the
        // deadlock is staged again on the next pass.
        let mut page_was_aborted = false;
        for _ in 0..3 {
            let (report, locker_was_aborted) = pass_with_deadlock(&store, ws, &world, &url, mailbox.id, chain).await;
            assert!(report.all_ok(), "{chain:?}: the pass failed a mailbox: {report:?}");
            if !locker_was_aborted {
                page_was_aborted = true;
                break;
            }
        }
        assert!(page_was_aborted, "{chain:?}: the page write was never the one aborted");
        assert!(deadlocks(&url).await > deadlocks_before, "{chain:?}: no deadlock happened");
        let row = store.mailboxes(ws).await.unwrap().into_iter().find(|m| m.id == mailbox.id).unwrap();
        assert_eq!(row.state, MailboxState::Ok, "{chain:?}");
        let after =
            (store.email_copies(ws, mailbox.id).await.unwrap(), store.meeting_copies(ws, mailbox.id).await.unwrap());
        assert_eq!(after, before, "{chain:?}: a retried page changed what was stored");
    }
}

async fn sync(store: &Store, ws: WorkspaceId, world: &World) -> SyncReport {
    sync_once(store, ws, world.graph(), &SyncOptions::default(), Arc::new(Quiet)).await.expect("the pass runs")
}

/// Runs a pass while a second connection stages a deadlock with the page
/// of `chain` in `mailbox`. Returns the pass's report and whether the
/// database aborted the second connection rather than the page.
async fn pass_with_deadlock(
    store: &Store,
    ws: WorkspaceId,
    world: &World,
    url: &str,
    mailbox: MailboxId,
    chain: Chain,
) -> (SyncReport, bool) {
    let mut locker = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql("begin").execute(&mut locker).await.unwrap();
    let scope: String = match chain {
        Chain::Calendar => "calendar".to_owned(),
        Chain::Inbox => sqlx::query_scalar(
            "select scope from sync_cursor where workspace_id = $1 and mailbox_id = $2 and scope like 'folder:%'
             order by scope limit 1",
        )
        .bind(ws.0)
        .bind(mailbox.0)
        .fetch_one(&mut locker)
        .await
        .unwrap(),
    };
    let locked: Option<i64> = sqlx::query_scalar(
        "select mailbox_id from sync_cursor where workspace_id = $1 and mailbox_id = $2 and scope = $3 for update",
    )
    .bind(ws.0)
    .bind(mailbox.0)
    .bind(&scope)
    .fetch_optional(&mut locker)
    .await
    .unwrap();
    assert!(locked.is_some(), "the first pass saved a cursor for {scope}");

    let pass = tokio::spawn({
        let (store, graph) = (store.clone(), world.graph());
        async move { sync_once(&store, ws, graph, &SyncOptions::default(), Arc::new(Quiet)).await.expect("the pass") }
    });
    // Wait until the page waits for the locked row, then close the cycle.
    let mut waiting = false;
    for _ in 0..2_000 {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid
             where not l.granted and l.locktype in ('tuple', 'transactionid') and a.datname = current_database()",
        )
        .fetch_one(&mut locker)
        .await
        .unwrap();
        if n > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(waiting, "the page never waited for the locked cursor");
    let cycle = sqlx::query(
        "select pg_advisory_xact_lock((l.classid::bigint << 32) | l.objid::bigint)
         from (select classid, objid from pg_locks
               where locktype = 'advisory' and objsubid = 1 and granted and pid <> pg_backend_pid()
               limit 1) l",
    )
    .execute(&mut locker)
    .await;
    let locker_was_aborted = match &cycle {
        Ok(_) => false,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40P01") => true,
        Err(e) => panic!("the second connection failed otherwise: {e}"),
    };
    let _ = sqlx::raw_sql(if locker_was_aborted { "rollback" } else { "commit" }).execute(&mut locker).await;
    let report = pass.await.expect("the pass task");
    (report, locker_was_aborted)
}

/// Deadlocks PostgreSQL has detected in this database.
async fn deadlocks(url: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    // The statistics are per backend until flushed: read a fresh snapshot.
    sqlx::raw_sql("select pg_stat_clear_snapshot()").execute(&mut conn).await.unwrap();
    sqlx::query_scalar("select deadlocks from pg_stat_database where datname = current_database()")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}
