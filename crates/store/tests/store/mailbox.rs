use crate::both_backends;
use crate::common::{TestDb, ann_and_bob, apply_mail, at, next_link};
use tac_core::records::MailboxState;
use tac_store::{CursorScope, MailboxId, StoreError, SyncCursor};

both_backends!(
    mailbox_state_errors_and_counts_are_recorded,
    cursors_are_kept_per_mailbox_and_scope,
    mailboxes_of_another_workspace_are_not_found,
);

async fn mailbox_state_errors_and_counts_are_recorded(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;
    assert_eq!(store.upsert_mailbox(ws, "u-ann", "ann.lee@contoso.com").await.unwrap(), ann, "one per user");

    let rows = store.mailboxes(ws).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].address, "ann.lee@contoso.com", "the address follows the directory");
    assert_eq!(rows[0].state, MailboxState::Syncing, "a new mailbox waits for its first round");
    assert_eq!(rows[0].last_success_at, None);

    store
        .set_mailbox_state(ws, bob, MailboxState::AccessDenied, Some(("ErrorAccessDenied", "Access is denied.")))
        .await
        .unwrap();
    store.set_mailbox_backoff(ws, ann, at(5, 12), Some(("TooManyRequests", "Retry after 30 s"))).await.unwrap();
    let rows = store.mailboxes(ws).await.unwrap();
    let (ann_row, bob_row) = (&rows[0], &rows[1]);
    assert_eq!(bob_row.state, MailboxState::AccessDenied);
    assert_eq!(bob_row.last_error_code.as_deref(), Some("ErrorAccessDenied"));
    assert_eq!(bob_row.last_error_message.as_deref(), Some("Access is denied."));
    assert_eq!(ann_row.state, MailboxState::Backoff);
    assert_eq!(ann_row.backoff_until, Some(at(5, 12)));

    // Syncing again keeps the last error on show but drops the backoff time.
    store.set_mailbox_state(ws, ann, MailboxState::Syncing, None).await.unwrap();
    let ann_row = store.mailboxes(ws).await.unwrap().remove(0);
    assert_eq!(ann_row.state, MailboxState::Syncing);
    assert_eq!(ann_row.backoff_until, None);
    assert_eq!(ann_row.last_error_code.as_deref(), Some("TooManyRequests"));

    // Skipped items count once per item.
    store.record_skipped_item(ws, ann, "AAMk-bad-1", "invalid date").await.unwrap();
    store.record_skipped_item(ws, ann, "AAMk-bad-1", "invalid date again").await.unwrap();
    store.record_skipped_item(ws, ann, "AAMk-bad-2", "missing id").await.unwrap();

    store.record_mailbox_success(ws, ann).await.unwrap();
    let ann_row = store.mailboxes(ws).await.unwrap().remove(0);
    assert_eq!(ann_row.state, MailboxState::Ok);
    assert!(ann_row.last_success_at.is_some());
    assert_eq!((ann_row.last_error_code, ann_row.last_error_message), (None, None));
    assert_eq!((ann_row.email_count, ann_row.meeting_count, ann_row.skipped_count), (0, 0, 2));
}

async fn cursors_are_kept_per_mailbox_and_scope(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;
    let inbox = CursorScope::Folder("inbox-id");
    assert_eq!(store.cursor(ws, ann, inbox).await.unwrap(), None);

    let next = SyncCursor::NextLink("https://graph/v1.0/me/mailFolders/inbox/messages/delta?$skiptoken=1".into());
    let delta = SyncCursor::DeltaLink("https://graph/v1.0/me/events/delta?$deltatoken=2".into());
    store.save_cursor(ws, ann, inbox, &next).await.unwrap();
    store.save_cursor(ws, ann, CursorScope::Calendar, &delta).await.unwrap();
    assert_eq!(store.cursor(ws, ann, inbox).await.unwrap(), Some(next.clone()));
    assert_eq!(store.cursor(ws, ann, CursorScope::Calendar).await.unwrap(), Some(delta.clone()));
    assert_eq!(store.cursor(ws, bob, inbox).await.unwrap(), None, "cursors are per mailbox");
    assert_eq!(store.cursor(ws, ann, CursorScope::Folder("calendar")).await.unwrap(), None, "no collision");

    store.save_cursor(ws, ann, inbox, &delta).await.unwrap();
    assert_eq!(store.cursor(ws, ann, inbox).await.unwrap(), Some(delta.clone()));

    // A mail page saves what its round has done with the cursor.
    assert_eq!(
        store.cursor_and_round(ws, ann, inbox).await.unwrap().map(|(_, round)| round),
        Some(tac_store::RoundState::default())
    );
    let round = tac_store::RoundState { filtered: true, items: 5_000 };
    store.apply_mail_page(ws, ann, "inbox-id", &[], &[], &[], &delta, round).await.unwrap();
    assert_eq!(store.cursor_and_round(ws, ann, inbox).await.unwrap().map(|(_, round)| round), Some(round));
    assert_eq!(store.cursor_and_round(ws, bob, inbox).await.unwrap().map(|(_, round)| round), None);
    store.clear_cursor(ws, ann, inbox).await.unwrap();
    assert_eq!(store.cursor_and_round(ws, ann, inbox).await.unwrap().map(|(_, round)| round), None);
    assert_eq!(store.cursor(ws, ann, inbox).await.unwrap(), None);
    assert_eq!(store.cursor(ws, ann, CursorScope::Calendar).await.unwrap(), Some(delta));
}

async fn mailboxes_of_another_workspace_are_not_found(db: TestDb) {
    let store = &db.store;
    let one = store.ensure_workspace("one").await.unwrap();
    let two = store.ensure_workspace("two").await.unwrap();
    let ann = store.upsert_mailbox(one, "u-ann", "ann@contoso.com").await.unwrap();
    let err = store.set_mailbox_state(two, ann, MailboxState::Ok, None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("mailbox")), "{err:?}");
    let err = store.record_mailbox_success(two, MailboxId(ann.0 + 1000)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("mailbox")), "{err:?}");
    let err = apply_mail(store, two, ann, "inbox", &[], &[], &next_link(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("mailbox")), "{err:?}");
    assert!(store.mailboxes(two).await.unwrap().is_empty());
}
