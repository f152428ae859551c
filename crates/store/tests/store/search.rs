use crate::both_backends;
use crate::common::{TestDb, copy, email};
use tac_core::records::Direction;
use tac_store::SyncCursor;

both_backends!(search_finds_words_in_subject_and_body, hostile_queries_return_ok_without_error);

async fn search_finds_words_in_subject_and_body(db: TestDb) {
    let store = &db.store;
    let ws = store.ensure_workspace("default").await.unwrap();
    let ann = store.upsert_mailbox(ws, "u-ann", "ann@contoso.com").await.unwrap();
    let upserts = vec![
        (
            email("<a@x>", "Quarterly budget review", "<p>Please see the <b>forecast</b> attached.</p>"),
            copy("g1", "inbox", Direction::Inbound),
        ),
        (
            email("<b@x>", "Lunch on Friday", "<div>The budget for lunch is fine</div><style>.forecast{}</style>"),
            copy("g2", "inbox", Direction::Inbound),
        ),
        (email("<c@x>", "Unrelated", "<p>Nothing to see</p>"), copy("g3", "inbox", Direction::Inbound)),
    ];
    store.apply_mail_page(ws, ann, "inbox", &upserts, &[], &[], &SyncCursor::NextLink("n".into())).await.unwrap();

    let ids = |hits: Vec<tac_store::EmailHit>| hits.into_iter().map(|h| h.internet_message_id).collect::<Vec<_>>();
    let mut budget = ids(store.search_emails(ws, "budget", 10).await.unwrap());
    budget.sort();
    assert_eq!(budget, ["<a@x>", "<b@x>"]);
    assert_eq!(ids(store.search_emails(ws, "FORECAST", 10).await.unwrap()), ["<a@x>"], "body words, any case; not CSS");
    assert_eq!(ids(store.search_emails(ws, "budget lunch", 10).await.unwrap()), ["<b@x>"], "all words must match");
    assert_eq!(store.search_emails(ws, "budget", 1).await.unwrap().len(), 1, "limit");
    assert!(store.search_emails(ws, "absent", 10).await.unwrap().is_empty());
    let hit = store.search_emails(ws, "quarterly", 10).await.unwrap().remove(0);
    assert_eq!(hit.subject, "Quarterly budget review");

    // The index follows updates.
    let renamed =
        vec![(email("<c@x>", "Budget summit", "<p>Nothing to see</p>"), copy("g3", "inbox", Direction::Inbound))];
    store.apply_mail_page(ws, ann, "inbox", &renamed, &[], &[], &SyncCursor::NextLink("n2".into())).await.unwrap();
    assert_eq!(store.search_emails(ws, "budget", 10).await.unwrap().len(), 3);
    assert!(store.search_emails(ws, "unrelated", 10).await.unwrap().is_empty());

    // Other workspaces see nothing.
    let other = store.ensure_workspace("other").await.unwrap();
    assert!(store.search_emails(other, "budget", 10).await.unwrap().is_empty());
}

async fn hostile_queries_return_ok_without_error(db: TestDb) {
    let store = &db.store;
    let ws = store.ensure_workspace("default").await.unwrap();
    let ann = store.upsert_mailbox(ws, "u-ann", "ann@contoso.com").await.unwrap();
    let upserts = vec![(
        email("<a@x>", "Say \"hi\" to NEAR partners", "<p>a*b (draft) 1=1</p>"),
        copy("g1", "inbox", Direction::Inbound),
    )];
    store.apply_mail_page(ws, ann, "inbox", &upserts, &[], &[], &SyncCursor::NextLink("n".into())).await.unwrap();

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
        let result = store.search_emails(ws, query, 10).await;
        assert!(result.is_ok(), "{query:?} → {result:?}");
    }
    // Syntax characters are just text around words.
    assert_eq!(store.search_emails(ws, "\"hi\"", 10).await.unwrap().len(), 1);
    assert_eq!(store.search_emails(ws, "NEAR(", 10).await.unwrap().len(), 1);
    assert_eq!(store.search_emails(ws, "(draft", 10).await.unwrap().len(), 1);
    assert!(store.search_emails(ws, "') OR 1=1 --", 10).await.unwrap().is_empty(), "OR is a word, not an operator");
}
