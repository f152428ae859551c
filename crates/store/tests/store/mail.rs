use crate::both_backends;
use crate::common::{TestDb, ann_and_bob, apply_mail, at, copy, email, next_link, participant};
use tac_core::records::{Direction, EmailCopy, EmailRecord, ParticipantRole};
use tac_store::{Backend, CursorScope, EmailCopyRow, MailboxId, PageOutcome, Store, StoreError, WorkspaceId};

both_backends!(
    mail_page_apply_dedupes_across_mailboxes_by_internet_message_id,
    replaying_a_page_is_a_no_op,
    a_move_keeps_the_copy_and_updates_its_folder,
    a_move_seen_as_removal_first_restores_the_copy,
    removal_marks_the_copy_removed_but_keeps_the_email,
    cursor_is_saved_in_the_same_transaction_as_the_page,
    stored_emails_round_trip_and_participants_are_replaced,
    concurrent_pages_of_two_mailboxes_dedupe_without_deadlock,
    a_page_listing_an_email_twice_counts_like_items_applied_one_by_one,
    an_email_seen_again_unchanged_is_not_rewritten,
    a_page_larger_than_one_statement_is_written_in_batches,
    concurrent_pages_of_two_folders_of_one_mailbox_share_copies,
    rows_inserted_by_another_writer_during_a_page_count_as_existing,
);

fn page(emails: &[(&str, &str)], folder: &str, direction: Direction) -> Vec<(EmailRecord, EmailCopy)> {
    emails
        .iter()
        .map(|(message_id, graph_id)| {
            (email(message_id, &format!("About {message_id}"), "<p>Hello</p>"), copy(graph_id, folder, direction))
        })
        .collect()
}

/// Two writers store the same emails at once, eight to a page, the second
/// listing them in the opposite order. A writer is a mailbox, a folder and
/// the prefix of its copies' graph ids (the Message-ID follows it).
async fn store_concurrently(
    store: &Store,
    ws: WorkspaceId,
    writers: [(MailboxId, &'static str, &'static str); 2],
    message_ids: &[String],
) {
    let orders = [message_ids.to_vec(), message_ids.iter().rev().cloned().collect()];
    let [first, second] = std::array::from_fn(|w| {
        let (store, (mailbox, folder, graph_prefix), ids) = (store.clone(), writers[w], orders[w].clone());
        tokio::spawn(async move {
            for (n, chunk) in ids.chunks(8).enumerate() {
                let upserts: Vec<(EmailRecord, EmailCopy)> = chunk
                    .iter()
                    .map(|id| {
                        (
                            email(id, "Listed", "<p>x</p>"),
                            copy(&format!("{graph_prefix}{id}"), folder, Direction::Inbound),
                        )
                    })
                    .collect();
                apply_mail(&store, ws, mailbox, folder, &upserts, &[], &next_link(n as u32)).await.unwrap();
            }
        })
    });
    let (first, second) = tokio::join!(first, second);
    first.unwrap();
    second.unwrap();
}

fn folders(copies: &[EmailCopyRow]) -> Vec<(String, String, bool)> {
    copies.iter().map(|c| (c.graph_id.clone(), c.folder_id.clone(), c.removed)).collect()
}

fn row(graph_id: &str, folder: &str, removed: bool) -> (String, String, bool) {
    (graph_id.to_owned(), folder.to_owned(), removed)
}

async fn mail_page_apply_dedupes_across_mailboxes_by_internet_message_id(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;
    let ann_page =
        page(&[("<m1@fabrikam.com>", "ann-1"), ("<m2@fabrikam.com>", "ann-2")], "ann-inbox", Direction::Inbound);
    let outcome = apply_mail(store, ws, ann, "ann-inbox", &ann_page, &[], &next_link(1)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_added: 2, copies_added: 2, ..PageOutcome::default() });

    // Bob holds m1 too, under his own immutable id, as a message he sent.
    let bob_page = page(&[("<m1@fabrikam.com>", "bob-1")], "bob-sent", Direction::Outbound);
    let outcome = apply_mail(store, ws, bob, "bob-sent", &bob_page, &[], &next_link(1)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 1, copies_added: 1, ..PageOutcome::default() });

    assert_eq!(store.email_count(ws).await.unwrap(), 2, "one email per Message-ID");
    let bob_copies = store.email_copies(ws, bob).await.unwrap();
    assert_eq!(bob_copies.len(), 1);
    assert_eq!(bob_copies[0].internet_message_id, "<m1@fabrikam.com>");
    assert_eq!(bob_copies[0].direction, Direction::Outbound);
    assert_eq!(store.email_copies(ws, ann).await.unwrap()[0].direction, Direction::Inbound);

    let counts: Vec<(u64, u64)> =
        store.mailboxes(ws).await.unwrap().iter().map(|m| (m.email_count, m.meeting_count)).collect();
    assert_eq!(counts, [(2, 0), (1, 0)]);

    // Another workspace is another world.
    let other = store.ensure_workspace("other").await.unwrap();
    let carol = store.upsert_mailbox(other, "u-carol", "carol@northwind.com").await.unwrap();
    let carol_page = page(&[("<m1@fabrikam.com>", "carol-1")], "carol-inbox", Direction::Inbound);
    let outcome = apply_mail(store, other, carol, "carol-inbox", &carol_page, &[], &next_link(1)).await.unwrap();
    assert_eq!(outcome.records_added, 1);
    assert_eq!(store.email_count(other).await.unwrap(), 1);
    assert_eq!(store.email_count(ws).await.unwrap(), 2);
}

async fn replaying_a_page_is_a_no_op(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let upserts = page(&[("<m1@x>", "g1"), ("<m2@x>", "g2"), ("<m3@x>", "g3")], "inbox", Direction::Inbound);
    let removed = vec!["g-gone".to_owned()];
    let first = apply_mail(store, ws, ann, "inbox", &upserts, &removed, &next_link(2)).await.unwrap();
    assert_eq!(first.records_added, 3);
    let copies = store.email_copies(ws, ann).await.unwrap();
    let stored = store.email_by_message_id(ws, "<m2@x>").await.unwrap();

    for _ in 0..2 {
        let again = apply_mail(store, ws, ann, "inbox", &upserts, &removed, &next_link(2)).await.unwrap();
        assert_eq!(again, PageOutcome { records_existing: 3, copies_unchanged: 3, ..PageOutcome::default() });
        assert_eq!(store.email_count(ws).await.unwrap(), 3);
        assert_eq!(store.email_copies(ws, ann).await.unwrap(), copies);
        assert_eq!(store.email_by_message_id(ws, "<m2@x>").await.unwrap(), stored);
        assert_eq!(store.cursor(ws, ann, CursorScope::Folder("inbox")).await.unwrap(), Some(next_link(2)));
    }
    // Participants were not duplicated either.
    assert_eq!(stored.map(|e| e.participants.len()), Some(3));
}

async fn a_move_keeps_the_copy_and_updates_its_folder(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let in_inbox = page(&[("<m1@x>", "g1"), ("<m2@x>", "g2")], "inbox", Direction::Inbound);
    apply_mail(store, ws, ann, "inbox", &in_inbox, &[], &next_link(1)).await.unwrap();

    // The archive folder's delta reports g1 (same immutable id) first…
    let in_archive = page(&[("<m1@x>", "g1")], "archive", Direction::Inbound);
    let outcome = apply_mail(store, ws, ann, "archive", &in_archive, &[], &next_link(1)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 1, copies_moved: 1, ..PageOutcome::default() });
    // …then the inbox's delta reports g1 as removed: that is the move, not a delete.
    let outcome = apply_mail(store, ws, ann, "inbox", &[], &["g1".to_owned()], &next_link(2)).await.unwrap();
    assert_eq!(outcome.copies_removed, 0);

    assert_eq!(
        folders(&store.email_copies(ws, ann).await.unwrap()),
        [row("g1", "archive", false), row("g2", "inbox", false)]
    );
    assert_eq!(store.email_count(ws).await.unwrap(), 2);
    assert_eq!(store.mailboxes(ws).await.unwrap()[0].email_count, 2);
}

async fn a_move_seen_as_removal_first_restores_the_copy(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let in_inbox = page(&[("<m1@x>", "g1")], "inbox", Direction::Inbound);
    apply_mail(store, ws, ann, "inbox", &in_inbox, &[], &next_link(1)).await.unwrap();

    // This time the source folder's `@removed` arrives before the destination's add.
    let outcome = apply_mail(store, ws, ann, "inbox", &[], &["g1".to_owned()], &next_link(2)).await.unwrap();
    assert_eq!(outcome.copies_removed, 1);
    let in_archive = page(&[("<m1@x>", "g1")], "archive", Direction::Inbound);
    let outcome = apply_mail(store, ws, ann, "archive", &in_archive, &[], &next_link(1)).await.unwrap();
    assert_eq!(outcome.copies_restored, 1);
    assert_eq!(folders(&store.email_copies(ws, ann).await.unwrap()), [row("g1", "archive", false)]);
}

async fn removal_marks_the_copy_removed_but_keeps_the_email(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;
    let in_ann_inbox = page(&[("<m1@x>", "a1")], "inbox", Direction::Inbound);
    apply_mail(store, ws, ann, "inbox", &in_ann_inbox, &[], &next_link(1)).await.unwrap();
    let in_bob_inbox = page(&[("<m1@x>", "b1")], "inbox-b", Direction::Inbound);
    apply_mail(store, ws, bob, "inbox-b", &in_bob_inbox, &[], &next_link(1)).await.unwrap();

    let gone = ["a1".to_owned(), "never-seen".to_owned()];
    let outcome = apply_mail(store, ws, ann, "inbox", &[], &gone, &next_link(2)).await.unwrap();
    assert_eq!(outcome, PageOutcome { copies_removed: 1, ..PageOutcome::default() });
    assert_eq!(folders(&store.email_copies(ws, ann).await.unwrap()), [row("a1", "inbox", true)]);
    assert_eq!(folders(&store.email_copies(ws, bob).await.unwrap()), [row("b1", "inbox-b", false)], "only ann's copy");

    // Even with no copy left anywhere, the email stays in history.
    apply_mail(store, ws, bob, "inbox-b", &[], &["b1".to_owned()], &next_link(2)).await.unwrap();
    assert_eq!(store.email_count(ws).await.unwrap(), 1);
    assert!(store.email_by_message_id(ws, "<m1@x>").await.unwrap().is_some());
    let counts: Vec<u64> = store.mailboxes(ws).await.unwrap().iter().map(|m| m.email_count).collect();
    assert_eq!(counts, [0, 0], "removed copies are not counted");

    // Removing again changes nothing.
    let outcome = apply_mail(store, ws, ann, "inbox", &[], &["a1".to_owned()], &next_link(3)).await.unwrap();
    assert_eq!(outcome.copies_removed, 0);
}

async fn cursor_is_saved_in_the_same_transaction_as_the_page(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let inbox = CursorScope::Folder("inbox");
    let first = page(&[("<m1@x>", "g1")], "inbox", Direction::Inbound);
    apply_mail(store, ws, ann, "inbox", &first, &[], &next_link(1)).await.unwrap();

    // The second page has a good email, a removal, and an email the database
    // refuses (an empty Message-ID violates a check constraint) last.
    let mut second = page(&[("<m2@x>", "g2"), ("<m3@x>", "g3")], "inbox", Direction::Inbound);
    second[1].0.internet_message_id = String::new();
    let err = apply_mail(store, ws, ann, "inbox", &second, &["g1".to_owned()], &next_link(2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err:?}");

    // Nothing of the second page is there: not its rows, not its cursor.
    assert_eq!(store.cursor(ws, ann, inbox).await.unwrap(), Some(next_link(1)));
    assert_eq!(store.email_count(ws).await.unwrap(), 1);
    assert_eq!(folders(&store.email_copies(ws, ann).await.unwrap()), [row("g1", "inbox", false)]);
    assert!(store.email_by_message_id(ws, "<m2@x>").await.unwrap().is_none());

    // Retrying the page once fixed commits all of it.
    second[1].0.internet_message_id = "<m3@x>".to_owned();
    let outcome = apply_mail(store, ws, ann, "inbox", &second, &["g1".to_owned()], &next_link(2)).await.unwrap();
    assert_eq!((outcome.records_added, outcome.copies_removed), (2, 1));
    assert_eq!(store.cursor(ws, ann, inbox).await.unwrap(), Some(next_link(2)));

    // A copy filed under another folder than the page's is a caller bug.
    let wrong = page(&[("<m4@x>", "g4")], "archive", Direction::Inbound);
    let err = apply_mail(store, ws, ann, "inbox", &wrong, &[], &next_link(3)).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert_eq!(store.cursor(ws, ann, inbox).await.unwrap(), Some(next_link(2)));
}

async fn stored_emails_round_trip_and_participants_are_replaced(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let mut original = email("<rt@x>", "Quarterly review", "<p>Numbers &amp; plans</p>");
    original.has_attachments = true;
    original.importance = "high".to_owned();
    original.is_private = true;
    original.meeting_message_type = Some("meetingRequest".to_owned());
    original.conversation_id = None;
    original.received_at = at(4, 23) + chrono::Duration::milliseconds(250);
    original.participants.push(participant(ParticipantRole::To, "ann@contoso.com", "Duplicate Ann"));
    original.participants.push(participant(ParticipantRole::Bcc, "eve@contoso.com", ""));
    let upserts = vec![(original.clone(), copy("g1", "inbox", Direction::Inbound))];
    apply_mail(store, ws, ann, "inbox", &upserts, &[], &next_link(1)).await.unwrap();

    let mut expected = original.clone();
    expected.participants.remove(3); // the second (to, ann) is a duplicate: the first wins
    assert_eq!(store.email_by_message_id(ws, "<rt@x>").await.unwrap(), Some(expected));

    // An update replaces the participants: bob leaves, carol arrives, zoe is renamed.
    let mut updated = original.clone();
    updated.subject = "Quarterly review (moved)".to_owned();
    updated.participants = vec![
        participant(ParticipantRole::From, "zoe@fabrikam.com", "Zoe C."),
        participant(ParticipantRole::To, "ann@contoso.com", "Ann Lee"),
        participant(ParticipantRole::Cc, "carol@contoso.com", "Carol"),
    ];
    let mut read = copy("g1", "inbox", Direction::Inbound);
    read.is_read = true;
    let outcome = apply_mail(store, ws, ann, "inbox", &[(updated.clone(), read)], &[], &next_link(2)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 1, copies_updated: 1, ..PageOutcome::default() });
    let stored = store.email_by_message_id(ws, "<rt@x>").await.unwrap().unwrap();
    assert_eq!(stored.subject, updated.subject);
    let mut people: Vec<(ParticipantRole, String, String)> =
        stored.participants.into_iter().map(|p| (p.role, p.address, p.name)).collect();
    people.sort();
    assert_eq!(
        people,
        [
            (ParticipantRole::From, "zoe@fabrikam.com".to_owned(), "Zoe C.".to_owned()),
            (ParticipantRole::To, "ann@contoso.com".to_owned(), "Ann Lee".to_owned()),
            (ParticipantRole::Cc, "carol@contoso.com".to_owned(), "Carol".to_owned()),
        ]
    );
    assert!(store.email_copies(ws, ann).await.unwrap()[0].is_read);
}

async fn concurrent_pages_of_two_mailboxes_dedupe_without_deadlock(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;
    // Both mailboxes hold the same 40 emails; their pages list them in
    // opposite orders and run at the same time.
    let ids: Vec<String> = (0..40).map(|n| format!("<shared-{n:02}@x>")).collect();
    store_concurrently(store, ws, [(ann, "inbox", "a-"), (bob, "inbox", "b-")], &ids).await;
    assert_eq!(store.email_count(ws).await.unwrap(), 40);
    assert_eq!(store.email_copies(ws, ann).await.unwrap().len(), 40);
    assert_eq!(store.email_copies(ws, bob).await.unwrap().len(), 40);
}

async fn a_page_listing_an_email_twice_counts_like_items_applied_one_by_one(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    // m1 is in the inbox twice (two immutable ids), g2 is listed twice (the
    // second time read), and the last record of m1 wins.
    let mut second = email("<m1@x>", "About m1 (edited)", "<p>Hello again</p>");
    second.participants.pop();
    let mut read = copy("g2", "inbox", Direction::Inbound);
    read.is_read = true;
    let upserts = vec![
        (email("<m1@x>", "About m1", "<p>Hello</p>"), copy("g1a", "inbox", Direction::Inbound)),
        (email("<m2@x>", "About m2", "<p>Hello</p>"), copy("g2", "inbox", Direction::Inbound)),
        (second.clone(), copy("g1b", "inbox", Direction::Inbound)),
        (email("<m2@x>", "About m2", "<p>Hello</p>"), read),
    ];
    let outcome = apply_mail(store, ws, ann, "inbox", &upserts, &[], &next_link(1)).await.unwrap();
    assert_eq!(
        outcome,
        PageOutcome {
            records_added: 2,
            records_existing: 2,
            copies_added: 3,
            copies_updated: 1,
            ..PageOutcome::default()
        }
    );
    assert_eq!(store.email_by_message_id(ws, "<m1@x>").await.unwrap(), Some(second));
    let copies = store.email_copies(ws, ann).await.unwrap();
    let read: Vec<(&str, &str, bool)> =
        copies.iter().map(|c| (c.graph_id.as_str(), c.internet_message_id.as_str(), c.is_read)).collect();
    assert_eq!(read, [("g1a", "<m1@x>", false), ("g1b", "<m1@x>", false), ("g2", "<m2@x>", true)]);

    let again = apply_mail(store, ws, ann, "inbox", &upserts, &[], &next_link(1)).await.unwrap();
    // Item by item: m1's first record differs from the stored (second) one,
    // and g2 flips to unread and back.
    assert_eq!(
        again,
        PageOutcome { records_existing: 4, copies_unchanged: 2, copies_updated: 2, ..PageOutcome::default() }
    );
}

async fn an_email_seen_again_unchanged_is_not_rewritten(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;
    let shared = email("<m1@x>", "Shared", "<p>Hello</p>");
    let ann_copy = [(shared.clone(), copy("a1", "inbox", Direction::Inbound))];
    apply_mail(store, ws, ann, "inbox", &ann_copy, &[], &next_link(1)).await.unwrap();
    let before = stamps(&db).await;

    // Bob's copy of the same message: only a copy is written.
    let bob_copy = [(shared.clone(), copy("b1", "inbox-b", Direction::Inbound))];
    let outcome = apply_mail(store, ws, bob, "inbox-b", &bob_copy, &[], &next_link(1)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 1, copies_added: 1, ..PageOutcome::default() });
    assert_eq!(stamps(&db).await, before);

    // A changed record rewrites the row, and only the participants that differ.
    let mut changed = shared.clone();
    changed.received_at += chrono::Duration::seconds(5);
    changed.participants[2].name = "Robert Roe".to_owned();
    let bob_changed = [(changed.clone(), copy("b1", "inbox-b", Direction::Inbound))];
    apply_mail(store, ws, bob, "inbox-b", &bob_changed, &[], &next_link(2)).await.unwrap();
    let after = stamps(&db).await;
    assert_ne!(after.0, before.0);
    assert_eq!(after.1, before.1, "participants are renamed in place");
    assert_eq!(store.email_by_message_id(ws, "<m1@x>").await.unwrap(), Some(changed));
}

/// Enough items that every batched statement is split in several.
async fn a_page_larger_than_one_statement_is_written_in_batches(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let ids: Vec<(String, String)> = (0..3_700).map(|n| (format!("<bulk-{n:05}@x>"), format!("g{n:05}"))).collect();
    let refs: Vec<(&str, &str)> = ids.iter().map(|(m, g)| (m.as_str(), g.as_str())).collect();
    let upserts = page(&refs, "inbox", Direction::Inbound);
    let outcome = apply_mail(store, ws, ann, "inbox", &upserts, &[], &next_link(1)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_added: 3_700, copies_added: 3_700, ..PageOutcome::default() });
    assert_eq!(store.email_count(ws).await.unwrap(), 3_700);

    // Every email and copy changes, and every copy is removed.
    let changed: Vec<(EmailRecord, EmailCopy)> = upserts
        .iter()
        .map(|(email, copy)| {
            let mut email = email.clone();
            email.subject.push_str(" (edited)");
            email.participants.push(participant(ParticipantRole::Bcc, "eve@contoso.com", "Eve"));
            (email, EmailCopy { is_read: true, ..copy.clone() })
        })
        .collect();
    let outcome = apply_mail(store, ws, ann, "inbox", &changed, &[], &next_link(2)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 3_700, copies_updated: 3_700, ..PageOutcome::default() });
    let last = store.email_by_message_id(ws, "<bulk-03699@x>").await.unwrap().unwrap();
    assert_eq!((last.subject.as_str(), last.participants.len()), ("About <bulk-03699@x> (edited)", 4));
    assert!(store.email_copies(ws, ann).await.unwrap().iter().all(|c| c.is_read));

    let gone: Vec<String> = ids.iter().map(|(_, g)| g.clone()).collect();
    let outcome = apply_mail(store, ws, ann, "inbox", &[], &gone, &next_link(3)).await.unwrap();
    assert_eq!(outcome, PageOutcome { copies_removed: 3_700, ..PageOutcome::default() });
}

/// The `updated_at` of the workspace's one email and its participants' ids,
/// read from the raw rows.
async fn stamps(db: &TestDb) -> (String, Vec<i64>) {
    use sqlx::Connection as _;
    const EMAIL: &str = "select cast(updated_at as text) from email";
    const PARTICIPANTS: &str = "select id from email_participant order by id";
    match db.store.backend() {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let email = sqlx::query_scalar(EMAIL).fetch_one(&mut conn).await.unwrap();
            (email, sqlx::query_scalar(PARTICIPANTS).fetch_all(&mut conn).await.unwrap())
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let email = sqlx::query_scalar(EMAIL).fetch_one(&mut conn).await.unwrap();
            (email, sqlx::query_scalar(PARTICIPANTS).fetch_all(&mut conn).await.unwrap())
        }
    }
}

async fn concurrent_pages_of_two_folders_of_one_mailbox_share_copies(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    // The same messages (same immutable ids) reported by two folders at
    // once, as during a move: each copy ends up once, in either folder.
    let ids: Vec<String> = (0..40).map(|n| format!("<moved-{n:02}@x>")).collect();
    store_concurrently(store, ws, [(ann, "inbox", "g-"), (ann, "archive", "g-")], &ids).await;
    assert_eq!(store.email_count(ws).await.unwrap(), 40);
    let copies = store.email_copies(ws, ann).await.unwrap();
    assert_eq!(copies.len(), 40);
    assert!(copies.iter().all(|c| !c.removed && (c.folder_id == "inbox" || c.folder_id == "archive")));
}

/// Another writer inserts an email, then a copy, that the page also brings,
/// and commits while the page waits on it: on PostgreSQL the page's insert
/// finds the row after its look-up did not, and takes it as existing.
async fn rows_inserted_by_another_writer_during_a_page_count_as_existing(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let stale = format!(
        "insert into email (
             workspace_id, internet_message_id, conversation_id, subject, body_html, body_preview, body_text,
             sent_at, received_at, has_attachments, importance, is_private, meeting_message_type, fingerprint,
             created_at, updated_at)
         values ({ws}, '<m1@x>', null, 'Old', '', '', '', '{T}', '{T}', false, 'normal', false, null, 'stale',
                 '{T}', '{T}')",
        T = "2025-03-01T00:00:00+00:00"
    );
    let upserts = page(&[("<m1@x>", "g1"), ("<m2@x>", "g2")], "inbox", Direction::Inbound);
    let outcome =
        with_uncommitted(&db, &stale, apply_mail(store, ws, ann, "inbox", &upserts, &[], &next_link(1))).await.unwrap();
    assert_eq!(
        outcome,
        PageOutcome { records_added: 1, records_existing: 1, copies_added: 2, ..PageOutcome::default() }
    );
    assert_eq!(store.email_by_message_id(ws, "<m1@x>").await.unwrap().as_ref(), Some(&upserts[0].0));

    let other_folder = format!(
        "insert into email_copy (
             workspace_id, mailbox_id, email_id, graph_id, folder_id, direction, is_read, created_at, updated_at)
         select workspace_id, {ann}, id, 'g3', 'elsewhere', 'inbound', false, created_at, created_at
         from email where internet_message_id = '<m1@x>'"
    );
    let moved = page(&[("<m1@x>", "g3")], "inbox", Direction::Inbound);
    let outcome = with_uncommitted(&db, &other_folder, apply_mail(store, ws, ann, "inbox", &moved, &[], &next_link(2)))
        .await
        .unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 1, copies_moved: 1, ..PageOutcome::default() });
    let copies = folders(&store.email_copies(ws, ann).await.unwrap());
    assert_eq!(copies, [row("g1", "inbox", false), row("g2", "inbox", false), row("g3", "inbox", false)]);
}

/// Runs `sql` in a transaction of another connection, starts `during`, and
/// commits a moment later, while `during` waits for that transaction.
async fn with_uncommitted<T>(db: &TestDb, sql: &str, during: impl std::future::Future<Output = T>) -> T {
    use sqlx::Connection as _;
    match db.store.backend() {
        Backend::Sqlite => {
            let conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            commit_later(conn, "begin immediate", sql, during).await
        }
        Backend::Postgres => {
            let conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            commit_later(conn, "begin", sql, during).await
        }
    }
}

/// `with_uncommitted` on a connection of either engine, whose transaction
/// starts with `begin`.
async fn commit_later<C, T>(mut conn: C, begin: &str, sql: &str, during: impl std::future::Future<Output = T>) -> T
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let run = |statement: &str| sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()));
    run(begin).execute(&mut conn).await.unwrap();
    run(sql).execute(&mut conn).await.unwrap();
    let commit = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        run("commit").execute(&mut conn).await.unwrap();
    };
    tokio::join!(during, commit).0
}
