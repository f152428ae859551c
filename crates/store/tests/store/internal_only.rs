//! Internal-only mail and meetings: every participant is one of ours. Who
//! may see them, what is kept of them, and how a directory change applies
//! the rule to items already stored.

use crate::both_backends;
use crate::common::{
    TestDb, at, email, email_id, meeting, meeting_copy, meeting_id, new_contact, participant, privacy, put_mail,
    put_meetings,
};
use tac_core::privacy::Visibility;
use tac_core::records::{EmailRecord, MeetingRecord, ParticipantRole};
use tac_core::timeline::TimelineItem;
use tac_store::{MailboxId, PrivacySettings, Store, StoreError, TimelineQuery, Viewer, WorkspaceId};

both_backends!(
    internal_only_items_are_seen_from_their_own_mailbox_or_by_admins_of_a_keeping_workspace,
    turning_keep_internal_off_strips_stored_internal_only_content_and_is_audited,
    a_directory_change_classifies_stored_items_again,
);

/// Contoso (Ann and Bob, each with a mailbox), with `extra` domains verified too.
async fn setup(store: &Store, extra: &[&str]) -> (WorkspaceId, MailboxId) {
    let (ws, ann, _) = crate::common::contoso(store, extra).await;
    (ws, ann)
}

fn member(user_id: &str) -> Viewer {
    Viewer { admin: false, user_id: Some(user_id.into()) }
}

fn admin() -> Viewer {
    Viewer { admin: true, user_id: None }
}

async fn set_keep(store: &Store, ws: WorkspaceId, keep_internal: bool) {
    let settings = PrivacySettings { keep_internal, ..privacy(Visibility::Full) };
    store.set_privacy_settings(ws, settings, "admin@contoso.com").await.unwrap();
}

/// Ann writing to Bob about `subject`, as sync stores it (classified).
fn among_colleagues(message_id: &str, subject: &str) -> EmailRecord {
    let mut e = email(message_id, subject, &format!("<p>{subject} details</p>"));
    e.participants = vec![
        participant(ParticipantRole::From, "ann@contoso.com", "Ann Lee"),
        participant(ParticipantRole::To, "bob@contoso.com", "Bob Roe"),
    ];
    e.internal_only = true;
    e
}

fn internal_meeting(uid: &str, subject: &str) -> MeetingRecord {
    let mut m = meeting(uid, subject);
    m.attendees.retain(|a| a.address.ends_with("@contoso.com"));
    m.internal_only = true;
    m
}

async fn search(store: &Store, ws: WorkspaceId, words: &str, viewer: &Viewer) -> Vec<TimelineItem> {
    let query = TimelineQuery { search: Some(words.into()), ..TimelineQuery::default() };
    store.search(ws, &query, viewer, at(20, 12)).await.unwrap().items
}

async fn internal_only_items_are_seen_from_their_own_mailbox_or_by_admins_of_a_keeping_workspace(db: TestDb) {
    let store = &db.store;
    let (ws, ann) = setup(store, &[]).await;
    set_keep(store, ws, true).await;
    put_mail(store, ws, ann, &[among_colleagues("<layoffs@contoso>", "Layoffs")]).await;
    let review = internal_meeting("uid-reorg", "Layoffs review");
    put_meetings(store, ws, ann, &[(review, meeting_copy("m1", "organizer", true))]).await;

    // Ann's mailbox holds both: she finds and opens them.
    let found = search(store, ws, "layoffs", &member("u-ann")).await;
    assert_eq!(found.len(), 2, "{found:?}");
    let (email, meeting) = (email_id(&found), meeting_id(&found));
    let item = store.email_item(ws, email, &member("U-ANN")).await.unwrap();
    assert_eq!(item.subject.as_deref(), Some("Layoffs"));
    assert!(store.email_body(ws, email, &member("u-ann"), false).await.unwrap().html.contains("details"));
    store.meeting_item(ws, meeting, &member("u-ann"), at(20, 12)).await.unwrap();

    // Bob is on it, but his mailbox holds no copy; a member without a
    // linked mailbox holds none either. Neither can tell it exists.
    for colleague in [member("u-bob"), Viewer { admin: false, user_id: None }] {
        assert!(search(store, ws, "layoffs", &colleague).await.is_empty(), "{colleague:?} found it");
        assert!(matches!(store.email_item(ws, email, &colleague).await, Err(StoreError::NotFound(_))));
        assert!(matches!(store.email_body(ws, email, &colleague, false).await, Err(StoreError::NotFound(_))));
        assert!(matches!(store.meeting_item(ws, meeting, &colleague, at(20, 12)).await, Err(StoreError::NotFound(_))));
    }

    // The workspace keeps them: an admin sees them.
    assert_eq!(search(store, ws, "layoffs", &admin()).await.len(), 2);
    store.email_item(ws, email, &admin()).await.unwrap();
    store.meeting_item(ws, meeting, &admin(), at(20, 12)).await.unwrap();

    // It stops keeping them: not even an admin, and Ann keeps who and when.
    set_keep(store, ws, false).await;
    assert!(matches!(store.email_item(ws, email, &admin()).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.meeting_item(ws, meeting, &admin(), at(20, 12)).await, Err(StoreError::NotFound(_))));
    let own = store.email_item(ws, email, &member("u-ann")).await.unwrap();
    assert_eq!((own.subject.as_deref(), own.body_available), (None, false));
    match store.email_body(ws, email, &member("u-ann"), false).await {
        Err(StoreError::Hidden(reason)) => assert!(reason.contains("between colleagues"), "{reason}"),
        other => panic!("the body of an internal-only email is hidden: {other:?}"),
    }
    assert!(search(store, ws, "layoffs", &member("u-ann")).await.is_empty(), "not searchable when not kept");
}

async fn turning_keep_internal_off_strips_stored_internal_only_content_and_is_audited(db: TestDb) {
    let store = &db.store;
    let (ws, ann) = setup(store, &[]).await;
    set_keep(store, ws, true).await;
    put_mail(store, ws, ann, &[among_colleagues("<bonus@contoso>", "Bonus pool")]).await;
    let mut customer = email("<deal@fabrikam>", "Bonus deal", "<p>Bonus terms</p>");
    customer.participants[0] = participant(ParticipantRole::From, "zoe@fabrikam.com", "Zoe Client");
    put_mail(store, ws, ann, &[customer]).await;

    set_keep(store, ws, false).await;
    let stored = store.email_by_message_id(ws, "<bonus@contoso>").await.unwrap().unwrap();
    assert_eq!((stored.subject.as_str(), stored.body_html.as_str(), stored.body_preview.as_str()), ("", "", ""));
    assert!(stored.internal_only);
    let kept = store.email_by_message_id(ws, "<deal@fabrikam>").await.unwrap().unwrap();
    assert_eq!(kept.subject, "Bonus deal", "customer mail is untouched");
    assert_eq!(search(store, ws, "bonus", &admin()).await.len(), 1);

    let log = store.audit_log(ws, 10).await.unwrap();
    let change = log.iter().find(|e| e.action == "privacy.settings").expect("the save is audited");
    assert_eq!(change.actor, "admin@contoso.com");
    let detail = change.detail.as_ref().unwrap();
    assert_eq!(detail["before"]["keep_internal"], true);
    assert_eq!(detail["after"]["keep_internal"], false);
    assert!(detail["effect"]["stripped_internal"].is_string(), "{detail}");
}

async fn a_directory_change_classifies_stored_items_again(db: TestDb) {
    let store = &db.store;
    let (ws, ann) = setup(store, &[]).await;
    let zoe = store.create_contact(ws, &new_contact("Zoe Client", &["zoe@fabrikam.com"])).await.unwrap();
    let mut pricing = email("<pricing@fabrikam>", "Pricing", "<p>Our prices</p>");
    pricing.participants = vec![
        participant(ParticipantRole::From, "zoe@fabrikam.com", "Zoe Client"),
        participant(ParticipantRole::To, "ann@contoso.com", "Ann Lee"),
    ];
    put_mail(store, ws, ann, &[pricing]).await;
    let timeline = |store: &Store| {
        let store = store.clone();
        async move { store.timeline(ws, zoe, &TimelineQuery::default(), at(20, 12)).await.unwrap().items.len() }
    };
    assert_eq!(timeline(store).await, 1);
    assert_eq!(store.classify_internal_only(ws).await.unwrap(), 0, "the directory has not changed");

    // Contoso acquires Fabrikam: Zoe is a colleague now.
    let (ws, _) = setup(store, &["fabrikam.com"]).await;
    let stored = store.email_by_message_id(ws, "<pricing@fabrikam>").await.unwrap().unwrap();
    assert!(stored.internal_only);
    assert_eq!((stored.subject.as_str(), stored.body_html.as_str()), ("", ""), "stripped: the workspace keeps none");
    assert_eq!(timeline(store).await, 0, "internal-only mail is on no timeline");
    assert_eq!(store.classify_internal_only(ws).await.unwrap(), 0, "classifying twice changes nothing");

    // The domain goes again: the email is customer mail once more.
    let (ws, _) = setup(store, &[]).await;
    assert!(!store.email_by_message_id(ws, "<pricing@fabrikam>").await.unwrap().unwrap().internal_only);
    assert_eq!(timeline(store).await, 1);
}
