use crate::both_backends;
use crate::common::{TestDb, ann_and_bob, attendee, delta_link, meeting, meeting_copy};
use tac_store::{CursorScope, MeetingCopyRow, PageOutcome};

both_backends!(
    calendar_dedupes_by_ical_uid_with_per_mailbox_responses,
    a_removed_event_copy_is_marked_removed_and_a_cancelled_meeting_stays_cancelled,
    replaying_a_calendar_page_is_a_no_op,
    a_page_listing_a_meeting_twice_keeps_its_cancellation,
);

fn copy_row(graph_id: &str, ical_uid: &str, response: &str, is_organizer: bool, removed: bool) -> MeetingCopyRow {
    MeetingCopyRow {
        graph_id: graph_id.to_owned(),
        ical_uid: ical_uid.to_owned(),
        response: response.to_owned(),
        is_organizer,
        removed,
    }
}

async fn calendar_dedupes_by_ical_uid_with_per_mailbox_responses(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;

    // Two occurrences of a series: each has its own iCalUId.
    let mut first = meeting("uid-occ-1", "Weekly sync");
    first.event_type = "occurrence".to_owned();
    first.series_master_id = Some("master-1".to_owned());
    let mut second = first.clone();
    second.ical_uid = "uid-occ-2".to_owned();
    second.start += chrono::Duration::days(7);
    second.end += chrono::Duration::days(7);

    let ann_page = vec![
        (first.clone(), meeting_copy("ann-ev-1", "organizer", true)),
        (second.clone(), meeting_copy("ann-ev-2", "organizer", true)),
    ];
    let outcome = store.apply_calendar_page(ws, ann, &ann_page, &[], &[], &delta_link(1)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_added: 2, copies_added: 2, ..PageOutcome::default() });

    let bob_page = vec![
        (first.clone(), meeting_copy("bob-ev-1", "accepted", false)),
        (second.clone(), meeting_copy("bob-ev-2", "tentativelyAccepted", false)),
    ];
    let outcome = store.apply_calendar_page(ws, bob, &bob_page, &[], &[], &delta_link(1)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 2, copies_added: 2, ..PageOutcome::default() });

    assert_eq!(store.meeting_count(ws).await.unwrap(), 2);
    assert_eq!(
        store.meeting_copies(ws, ann).await.unwrap(),
        [
            copy_row("ann-ev-1", "uid-occ-1", "organizer", true, false),
            copy_row("ann-ev-2", "uid-occ-2", "organizer", true, false)
        ]
    );
    assert_eq!(
        store.meeting_copies(ws, bob).await.unwrap(),
        [
            copy_row("bob-ev-1", "uid-occ-1", "accepted", false, false),
            copy_row("bob-ev-2", "uid-occ-2", "tentativelyAccepted", false, false)
        ]
    );
    assert_eq!(store.meeting_by_ical_uid(ws, "uid-occ-2").await.unwrap(), Some(second));
    assert_eq!(store.cursor(ws, bob, CursorScope::Calendar).await.unwrap(), Some(delta_link(1)));
    let counts: Vec<u64> = store.mailboxes(ws).await.unwrap().iter().map(|m| m.meeting_count).collect();
    assert_eq!(counts, [2, 2]);

    // Bob changes his mind: only his copy's response changes.
    let bob_declines = vec![(first.clone(), meeting_copy("bob-ev-1", "declined", false))];
    let outcome = store.apply_calendar_page(ws, bob, &bob_declines, &[], &[], &delta_link(2)).await.unwrap();
    assert_eq!(outcome, PageOutcome { records_existing: 1, copies_updated: 1, ..PageOutcome::default() });
    assert_eq!(store.meeting_copies(ws, bob).await.unwrap()[0].response, "declined");
    assert_eq!(store.meeting_copies(ws, ann).await.unwrap()[0].response, "organizer");
}

async fn a_removed_event_copy_is_marked_removed_and_a_cancelled_meeting_stays_cancelled(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = ann_and_bob(store).await;
    let planned = meeting("uid-1", "Kick-off");
    let ann_planned = [(planned.clone(), meeting_copy("a1", "organizer", true))];
    let bob_planned = [(planned.clone(), meeting_copy("b1", "accepted", false))];
    store.apply_calendar_page(ws, ann, &ann_planned, &[], &[], &delta_link(1)).await.unwrap();
    store.apply_calendar_page(ws, bob, &bob_planned, &[], &[], &delta_link(1)).await.unwrap();

    // Ann cancels: her calendar shows it cancelled, then she deletes the event.
    let cancelled = tac_core::records::MeetingRecord {
        is_cancelled: true,
        subject: "Canceled: Kick-off".to_owned(),
        ..planned.clone()
    };
    let ann_cancelled = [(cancelled, meeting_copy("a1", "organizer", true))];
    store.apply_calendar_page(ws, ann, &ann_cancelled, &[], &[], &delta_link(2)).await.unwrap();
    let outcome = store.apply_calendar_page(ws, ann, &[], &["a1".to_owned()], &[], &delta_link(3)).await.unwrap();
    assert_eq!(outcome, PageOutcome { copies_removed: 1, ..PageOutcome::default() });

    // Bob's calendar has not caught up and still reports it as planned.
    store.apply_calendar_page(ws, bob, &bob_planned, &[], &[], &delta_link(2)).await.unwrap();

    let stored = store.meeting_by_ical_uid(ws, "uid-1").await.unwrap().expect("kept in history");
    assert!(stored.is_cancelled, "a cancellation is not undone by a stale copy");
    assert_eq!(store.meeting_count(ws).await.unwrap(), 1);
    assert_eq!(store.meeting_copies(ws, ann).await.unwrap(), [copy_row("a1", "uid-1", "organizer", true, true)]);
    assert_eq!(store.meeting_copies(ws, bob).await.unwrap(), [copy_row("b1", "uid-1", "accepted", false, false)]);
    let counts: Vec<u64> = store.mailboxes(ws).await.unwrap().iter().map(|m| m.meeting_count).collect();
    assert_eq!(counts, [0, 1]);
}

async fn replaying_a_calendar_page_is_a_no_op(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let mut m = meeting("uid-1", "Planning");
    m.attendees.push(attendee("bob@contoso.com", "Bob again", "optional", "declined"));
    let upserts = vec![
        (m.clone(), meeting_copy("a1", "organizer", true)),
        (meeting("uid-2", "Retro"), meeting_copy("a2", "accepted", false)),
    ];
    store.apply_calendar_page(ws, ann, &upserts, &[], &[], &delta_link(1)).await.unwrap();
    let before = store.meeting_by_ical_uid(ws, "uid-1").await.unwrap().unwrap();
    assert_eq!(before.attendees.len(), 2, "one attendee per address; the first entry wins");
    assert_eq!(before.attendees[0].response, "accepted");

    let again = store.apply_calendar_page(ws, ann, &upserts, &[], &[], &delta_link(1)).await.unwrap();
    assert_eq!(again, PageOutcome { records_existing: 2, copies_unchanged: 2, ..PageOutcome::default() });
    assert_eq!(store.meeting_by_ical_uid(ws, "uid-1").await.unwrap(), Some(before));
    assert_eq!(store.meeting_count(ws).await.unwrap(), 2);
}

async fn a_page_listing_a_meeting_twice_keeps_its_cancellation(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    // Two events of one mailbox share an iCalUId; the first says cancelled.
    let cancelled = tac_core::records::MeetingRecord {
        is_cancelled: true,
        subject: "Canceled: Review".to_owned(),
        ..meeting("uid-1", "Review")
    };
    let mut planned = meeting("uid-1", "Review");
    planned.attendees.push(attendee("carol@contoso.com", "Carol", "optional", "none"));
    let upserts = vec![
        (cancelled, meeting_copy("a1", "organizer", true)),
        (planned.clone(), meeting_copy("a2", "organizer", true)),
    ];
    let outcome = store.apply_calendar_page(ws, ann, &upserts, &[], &[], &delta_link(1)).await.unwrap();
    assert_eq!(
        outcome,
        PageOutcome { records_added: 1, records_existing: 1, copies_added: 2, ..PageOutcome::default() }
    );
    let stored = store.meeting_by_ical_uid(ws, "uid-1").await.unwrap().unwrap();
    assert_eq!(stored, tac_core::records::MeetingRecord { is_cancelled: true, ..planned.clone() });

    let again = store.apply_calendar_page(ws, ann, &upserts, &[], &[], &delta_link(2)).await.unwrap();
    assert_eq!(again, PageOutcome { records_existing: 2, copies_unchanged: 2, ..PageOutcome::default() });
    assert_eq!(store.meeting_by_ical_uid(ws, "uid-1").await.unwrap(), Some(stored));

    // The attendee list follows the latest record, cancellation still sticks.
    let mut fewer = planned.clone();
    fewer.attendees.truncate(1);
    fewer.attendees[0].response = "declined".to_owned();
    let ann_fewer = [(fewer.clone(), meeting_copy("a2", "organizer", true))];
    store.apply_calendar_page(ws, ann, &ann_fewer, &[], &[], &delta_link(3)).await.unwrap();
    let stored = store.meeting_by_ical_uid(ws, "uid-1").await.unwrap().unwrap();
    assert_eq!(stored, tac_core::records::MeetingRecord { is_cancelled: true, ..fewer });
}
