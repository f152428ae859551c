//! Full-text search over everything: plain words only, newest first,
//! within the workspace, on both engines and through both of SQLite's plans.

use crate::both_backends;
use crate::common::{TestDb, ann_and_bob, apply_mail, at, copy, email, next_link};
use chrono::{DateTime, Duration, Utc};
use tac_core::records::{Direction, EmailRecord};
use tac_core::timeline::TimelineItem;
use tac_store::{Store, StoreError, TimelineQuery, WorkspaceId};

both_backends!(
    search_finds_words_in_subject_and_body,
    hostile_queries_return_ok_without_error,
    common_words_page_newest_first_even_when_they_are_all_old,
    hits_in_one_second_page_in_order_and_follow_a_changed_time,
);

fn now() -> DateTime<Utc> {
    at(28, 12)
}

/// The internet message ids of a search's first page of `limit`.
async fn search(store: &Store, ws: WorkspaceId, words: &str, limit: u32) -> Vec<String> {
    let query = TimelineQuery { search: Some(words.into()), limit, ..TimelineQuery::default() };
    message_ids(store.search(ws, &query, &tac_store::Viewer::operator(), now()).await.unwrap().items)
}

fn message_ids(items: Vec<TimelineItem>) -> Vec<String> {
    items
        .into_iter()
        .map(|item| match item {
            TimelineItem::Email(e) => e.internet_message_id,
            TimelineItem::Meeting(m) => m.id,
        })
        .collect()
}

async fn search_finds_words_in_subject_and_body(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let dated = |mut e: EmailRecord, day| {
        e.sent_at = at(day, 9);
        e
    };
    let upserts = vec![
        (
            dated(email("<a@x>", "Quarterly budget review", "<p>Please see the <b>forecast</b> attached.</p>"), 2),
            copy("g1", "inbox", Direction::Inbound),
        ),
        (
            dated(
                email("<b@x>", "Lunch on Friday", "<div>The budget for lunch is fine</div><style>.forecast{}</style>"),
                3,
            ),
            copy("g2", "inbox", Direction::Inbound),
        ),
        (dated(email("<c@x>", "Unrelated", "<p>Nothing to see</p>"), 1), copy("g3", "inbox", Direction::Inbound)),
    ];
    apply_mail(store, ws, ann, "inbox", &upserts, &[], &next_link(1)).await.unwrap();

    assert_eq!(search(store, ws, "budget", 10).await, ["<b@x>", "<a@x>"], "newest first");
    assert_eq!(search(store, ws, "FORECAST", 10).await, ["<a@x>"], "body words, any case; not CSS");
    assert_eq!(search(store, ws, "budget lunch", 10).await, ["<b@x>"], "all words must match");
    assert_eq!(search(store, ws, "budget", 1).await, ["<b@x>"], "limit");
    assert!(search(store, ws, "absent", 10).await.is_empty());

    // The index follows updates.
    let renamed = vec![(
        dated(email("<c@x>", "Budget summit", "<p>Nothing to see</p>"), 1),
        copy("g3", "inbox", Direction::Inbound),
    )];
    apply_mail(store, ws, ann, "inbox", &renamed, &[], &next_link(2)).await.unwrap();
    assert_eq!(search(store, ws, "budget", 10).await, ["<b@x>", "<a@x>", "<c@x>"]);
    assert!(search(store, ws, "unrelated", 10).await.is_empty());

    // Other workspaces see nothing.
    let other = store.ensure_workspace("other").await.unwrap();
    assert!(search(store, other, "budget", 10).await.is_empty());
}

/// A word in every one of 25,500 emails, and a word in most old mail but
/// rare lately: both page newest first, however the engine finds them
/// (SQLite reads its time-ordered FTS rowids; ids here run against time).
async fn common_words_page_newest_first_even_when_they_are_all_old(db: TestDb) {
    const OLD: usize = 20_400;
    const RECENT: usize = 5_100;
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let start = at(1, 0) - Duration::days(60);
    // Every email says "report"; the old ones all say "legacy", and of the
    // recent ones only every 600th does.
    let record = |i: usize| {
        let legacy = i < OLD || (i - OLD).is_multiple_of(600);
        let subject = if legacy { format!("legacy report {i}") } else { format!("report {i}") };
        let mut e = email(&format!("<{i}@x>"), &subject, "<p>see attached</p>");
        e.sent_at = start + Duration::minutes(i as i64);
        e.received_at = e.sent_at;
        e.participants.truncate(1);
        (e, copy(&format!("g{i}"), "inbox", Direction::Inbound))
    };
    // Stored newest first, so that email ids run against time as a backfill leaves them.
    let all: Vec<_> = (0..OLD + RECENT).rev().map(record).collect();
    for (n, page) in all.chunks(1_000).enumerate() {
        apply_mail(store, ws, ann, "inbox", page, &[], &next_link(n as u32)).await.unwrap();
    }
    let id = |i: usize| format!("<{i}@x>");

    // A word in every email: the newest 50.
    let newest: Vec<String> = (0..OLD + RECENT).rev().take(50).map(id).collect();
    assert_eq!(search(store, ws, "report", 50).await, newest);

    // A word common in old mail but rare lately: the 9 recent hits, then
    // the newest old ones (the walk over recent mail comes back short).
    let mut expected: Vec<String> = (0..RECENT).rev().filter(|j| j.is_multiple_of(600)).map(|j| id(OLD + j)).collect();
    assert_eq!(expected.len(), 9);
    expected.extend((0..OLD).rev().take(41).map(id));
    assert_eq!(search(store, ws, "legacy", 50).await, expected);

    // Paging on with the cursor continues the same order without a gap.
    let first = TimelineQuery { search: Some("legacy".into()), limit: 50, ..TimelineQuery::default() };
    let page = store.search(ws, &first, &tac_store::Viewer::operator(), now()).await.unwrap();
    let cursor = page.next_cursor.expect("more hits follow");
    let second = TimelineQuery { cursor: Some(tac_core::timeline::TimelineCursor::decode(&cursor).unwrap()), ..first };
    let ids = message_ids(store.search(ws, &second, &tac_store::Viewer::operator(), now()).await.unwrap().items);
    assert_eq!(ids, (0..OLD).rev().skip(41).take(50).map(id).collect::<Vec<_>>());
}

async fn hostile_queries_return_ok_without_error(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let upserts = vec![(
        email("<a@x>", "Say \"hi\" to NEAR partners", "<p>a*b (draft) 1=1</p>"),
        copy("g1", "inbox", Direction::Inbound),
    )];
    apply_mail(store, ws, ann, "inbox", &upserts, &[], &next_link(1)).await.unwrap();

    let hostile = [
        "\"",
        "\"\"",
        "*",
        "**",
        "NEAR(",
        "NEAR(a b",
        "near(\"a\" \"b\", 2)",
        "') OR 1=1 --",
        "'; drop table email; --",
        "(",
        ")",
        "((a",
        "a))",
        "a OR",
        "AND",
        "NOT",
        "-",
        "-a",
        "^a",
        "a:b",
        "subject:hi",
        "{a b}",
        "a + b",
        "&|!<>",
        "\u{0}",
        "a\u{0}b",
        "\\",
        "'",
        "$1",
        "?",
        "",
        "   ",
        "🎉",
        "hi\"",
        "\"hi",
    ];
    for query in hostile {
        let result = store
            .search(
                ws,
                &TimelineQuery { search: Some(query.into()), ..TimelineQuery::default() },
                &tac_store::Viewer::operator(),
                now(),
            )
            .await;
        assert!(result.is_ok(), "{query:?} → {result:?}");
    }
    // Syntax characters are just text around words.
    assert_eq!(search(store, ws, "\"hi\"", 10).await.len(), 1);
    assert_eq!(search(store, ws, "NEAR(", 10).await.len(), 1);
    assert_eq!(search(store, ws, "(draft", 10).await.len(), 1);
    assert!(search(store, ws, "') OR 1=1 --", 10).await.is_empty(), "OR is a word, not an operator");

    // Searches past the limits are refused, in a contact's timeline too.
    let long = "hi ".repeat(tac_store::MAX_SEARCH_CHARS);
    let many = "hi ".repeat(tac_store::MAX_SEARCH_WORDS + 1);
    for (text, says) in [(long.as_str(), "characters"), (many.as_str(), "words")] {
        let query = TimelineQuery { search: Some(text.to_owned()), ..TimelineQuery::default() };
        match store.search(ws, &query, &tac_store::Viewer::operator(), now()).await {
            Err(StoreError::SearchTooBig(message)) => assert!(message.contains(says), "{message}"),
            other => panic!("{other:?}"),
        }
    }
    let eight = "hi ".repeat(tac_store::MAX_SEARCH_WORDS);
    assert_eq!(search(store, ws, &eight, 10).await.len(), 1, "at the limit, still a search");
}

async fn hits_in_one_second_page_in_order_and_follow_a_changed_time(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = ann_and_bob(store).await;
    let second = at(10, 9);
    let record = |n: u32, sent: DateTime<Utc>| {
        let mut e = email(&format!("<{n}@x>"), &format!("offer {n}"), "<p>terms</p>");
        e.sent_at = sent;
        (e, copy(&format!("g{n}"), "inbox", Direction::Inbound))
    };
    // Five in one second (stored in this order, so ids rise 1 → 5), one
    // before and one after.
    let mut page: Vec<_> = (1..=5).map(|n| record(n, second)).collect();
    page.push(record(6, second - Duration::seconds(1)));
    page.push(record(7, second + Duration::milliseconds(1_500)));
    apply_mail(store, ws, ann, "inbox", &page, &[], &next_link(1)).await.unwrap();
    let expected = ["<7@x>", "<5@x>", "<4@x>", "<3@x>", "<2@x>", "<1@x>", "<6@x>"];

    // Two at a time, following the cursor: every hit once, newest first,
    // ties by id as everywhere else.
    let mut seen = Vec::new();
    let mut query = TimelineQuery { search: Some("offer".into()), limit: 2, ..TimelineQuery::default() };
    loop {
        let page = store.search(ws, &query, &tac_store::Viewer::operator(), now()).await.unwrap();
        seen.extend(message_ids(page.items));
        let Some(next) = page.next_cursor else { break };
        query.cursor = Some(tac_core::timeline::TimelineCursor::decode(&next).unwrap());
    }
    assert_eq!(seen, expected);

    // Time filters cut inside a second exactly.
    let window = TimelineQuery {
        search: Some("offer".into()),
        from: Some(second),
        to: Some(second + Duration::milliseconds(1_500)),
        ..TimelineQuery::default()
    };
    let found = message_ids(store.search(ws, &window, &tac_store::Viewer::operator(), now()).await.unwrap().items);
    assert_eq!(found, ["<5@x>", "<4@x>", "<3@x>", "<2@x>", "<1@x>"]);

    // An email whose sent time changes moves in the order.
    let moved = vec![record(1, second + Duration::hours(1))];
    apply_mail(store, ws, ann, "inbox", &moved, &[], &next_link(2)).await.unwrap();
    assert_eq!(search(store, ws, "offer", 3).await, ["<1@x>", "<7@x>", "<5@x>"]);
    assert_eq!(search(store, ws, "terms", 50).await.len(), 7, "body words still indexed once each");
}
