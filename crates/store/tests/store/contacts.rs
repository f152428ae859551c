//! Contacts, matching, the activity index, timelines, summaries and the
//! privacy policy's effect on stored data.

use crate::both_backends;
use crate::common::{
    TestDb, apply_mail, at, attendee, copy, email, email_id, meeting, meeting_copy, meeting_id, new_contact, next_link,
    participant, privacy, put_mail, put_meetings,
};
use chrono::{DateTime, Duration, Utc};
use tac_core::contact_csv::parse_contacts_csv;
use tac_core::contacts::{AutoCreateCandidate, CompanySeed};
use tac_core::insights::FollowUp;
use tac_core::privacy::{BlockEntry, Visibility};
use tac_core::records::{Direction, EmailRecord, ParticipantRole};
use tac_core::timeline::{ActivityKind, TimelineCursor, TimelineItem};
use tac_core::{NormalizedAddress, address::normalize};
use tac_store::{
    ContactField, ContactListQuery, ContactSort, ContactSource, CursorScope, EmailId, ImportOutcome, MailboxId,
    PrivacySettings, Store, StoreError, TimelineQuery, WorkspaceId,
};

both_backends!(
    a_contact_created_after_sync_shows_its_whole_history_newest_first,
    addresses_match_in_any_case_and_every_role,
    an_item_in_two_mailboxes_appears_once_listing_both,
    internal_addresses_cannot_become_contacts,
    an_address_in_use_is_refused_and_nothing_is_half_written,
    adding_an_address_links_its_history_and_removing_it_unlinks,
    items_synced_after_the_contact_exists_join_its_timeline,
    auto_created_contacts_get_a_company_and_their_history,
    pages_follow_the_cursor_without_skipping_or_repeating,
    filters_narrow_the_timeline,
    the_summary_matches_hand_computed_values,
    visibility_applies_to_stored_items_reads_and_search,
    private_items_are_metadata_only_whatever_the_level,
    a_blocklist_entry_purges_what_it_covers,
    excluding_a_mailbox_purges_what_only_it_held,
    purged_text_is_gone_from_the_sqlite_files,
    retention_purges_old_items,
    email_bodies_are_sanitised_and_hidden_by_policy,
    a_company_timeline_merges_its_contacts_once,
    csv_import_reports_bad_lines_and_never_imports_twice,
    disconnect_purges_synced_data_and_keeps_peoples_contacts,
    hostile_searches_are_plain_words,
    one_email_or_meeting_reads_by_id_redacted_and_in_its_workspace_only,
    monthly_activity_counts_each_month_in_utc,
    a_contact_created_while_its_mail_is_stored_still_gets_that_mail,
    timeline_items_carry_every_field_as_stored,
);

fn addr(s: &str) -> NormalizedAddress {
    normalize(s).expect("fixture address")
}

fn now() -> DateTime<Utc> {
    at(20, 12)
}

/// Contoso's directory (Ann, Bob) and verified domain.
async fn setup(store: &Store) -> (WorkspaceId, MailboxId, MailboxId) {
    crate::common::contoso(store, &[]).await
}

/// An email at `when` between Zoe (fabrikam) and Ann, either way.
fn mail(id: &str, when: DateTime<Utc>, from_zoe: bool) -> EmailRecord {
    let mut e = email(id, &format!("Subject {id}"), &format!("<p>Body of {id}</p>"));
    e.sent_at = when;
    e.received_at = when;
    if !from_zoe {
        e.participants = vec![
            participant(ParticipantRole::From, "ann@contoso.com", "Ann Lee"),
            participant(ParticipantRole::To, "zoe@fabrikam.com", "Zoe Client"),
        ];
    }
    e
}

async fn zoe(store: &Store, ws: WorkspaceId) -> tac_store::ContactId {
    store.create_contact(ws, &new_contact("Zoe Client", &["ZOE@Fabrikam.com"])).await.unwrap()
}

/// Has sync auto-create a contact for `address`, without a company: a page
/// of `mailbox`'s inbox that brings no mail, only the candidate.
async fn auto_create(store: &Store, ws: WorkspaceId, mailbox: MailboxId, address: &str, name: &str) {
    let candidate = AutoCreateCandidate { address: addr(address), name: name.into(), company: None };
    let round = tac_store::RoundState::default();
    store.apply_mail_page(ws, mailbox, "inbox", &[], &[], &[candidate], &next_link(2), round).await.unwrap();
}

async fn page(store: &Store, ws: WorkspaceId, contact: tac_store::ContactId, q: TimelineQuery) -> Vec<TimelineItem> {
    store.timeline(ws, contact, &q, now()).await.unwrap().items
}

/// A query for the items with every one of `text`'s words.
fn words(text: &str) -> TimelineQuery {
    TimelineQuery { search: Some(text.into()), ..TimelineQuery::default() }
}

/// What a search of the whole workspace finds for the operator.
async fn search(store: &Store, ws: WorkspaceId, query: &TimelineQuery) -> Vec<TimelineItem> {
    store.search(ws, query, &tac_store::Viewer::operator(), now()).await.unwrap().items
}

fn ids(items: &[TimelineItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            TimelineItem::Email(e) => e.internet_message_id.clone(),
            TimelineItem::Meeting(m) => m.id.clone(),
        })
        .collect()
}

async fn a_contact_created_after_sync_shows_its_whole_history_newest_first(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    put_mail(
        store,
        ws,
        ann,
        &[mail("<1@f>", at(1, 9), true), mail("<2@f>", at(5, 9), false), mail("<3@f>", at(3, 9), true)],
    )
    .await;
    put_meetings(store, ws, ann, &[(meeting("uid-1", "Kick-off"), meeting_copy("ev-1", "organizer", true))]).await;
    let zoe = zoe(store, ws).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    assert_eq!(ids(&items)[..], ["meeting-1".to_string(), "<2@f>".into(), "<3@f>".into(), "<1@f>".into()][..]);
    let times: Vec<_> = items.iter().map(TimelineItem::occurred_at).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first, dated by when each happened");
    match &items[1] {
        TimelineItem::Email(e) => {
            assert_eq!(e.direction, Direction::Outbound, "Ann wrote to Zoe");
            assert_eq!(e.occurred_at, at(5, 9));
        }
        other => panic!("expected an email, got {other:?}"),
    }
    match &items[2] {
        TimelineItem::Email(e) => assert_eq!(e.direction, Direction::Inbound),
        other => panic!("expected an email, got {other:?}"),
    }
}

async fn addresses_match_in_any_case_and_every_role(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let roles = [ParticipantRole::From, ParticipantRole::To, ParticipantRole::Cc, ParticipantRole::Bcc];
    let emails: Vec<EmailRecord> = roles
        .iter()
        .enumerate()
        .map(|(n, role)| {
            let mut e = mail(&format!("<r{n}@f>"), at(1 + n as u32, 9), true);
            e.participants = vec![
                participant(ParticipantRole::From, "ann@contoso.com", "Ann"),
                participant(*role, "zoe@fabrikam.com", "Zoe"),
            ];
            if *role == ParticipantRole::From {
                e.participants.remove(0);
            }
            e
        })
        .collect();
    put_mail(store, ws, ann, &emails).await;
    let mut organised_by_zoe = meeting("uid-org", "Her meeting");
    organised_by_zoe.organizer = participant(ParticipantRole::Organizer, "zoe@fabrikam.com", "Zoe");
    organised_by_zoe.attendees = vec![attendee("ann@contoso.com", "Ann", "required", "accepted")];
    put_meetings(
        store,
        ws,
        ann,
        &[
            (meeting("uid-att", "As attendee"), meeting_copy("ev-a", "organizer", true)),
            (organised_by_zoe, meeting_copy("ev-o", "accepted", false)),
        ],
    )
    .await;
    let zoe = zoe(store, ws).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    assert_eq!(items.iter().filter(|i| i.kind() == ActivityKind::Email).count(), 4, "from, to, cc and bcc");
    assert_eq!(items.iter().filter(|i| i.kind() == ActivityKind::Meeting).count(), 2, "attendee and organizer");
    assert!(store.contact_by_email(ws, &addr("zoe@FABRIKAM.com")).await.unwrap().is_some());
}

async fn an_item_in_two_mailboxes_appears_once_listing_both(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = setup(store).await;
    let e = mail("<shared@f>", at(2, 9), true);
    put_mail(store, ws, ann, std::slice::from_ref(&e)).await;
    put_mail(store, ws, bob, &[e]).await;
    put_meetings(store, ws, ann, &[(meeting("uid-1", "Review"), meeting_copy("a-1", "organizer", true))]).await;
    put_meetings(store, ws, bob, &[(meeting("uid-1", "Review"), meeting_copy("b-1", "declined", false))]).await;
    let zoe = zoe(store, ws).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    for item in &items {
        match item {
            TimelineItem::Email(e) => assert_eq!(e.mailboxes, ["ann@contoso.com", "bob@contoso.com"]),
            TimelineItem::Meeting(m) => {
                assert_eq!(m.mailboxes, ["ann@contoso.com", "bob@contoso.com"]);
                let bob = m.attendees.iter().find(|a| a.address == "bob@contoso.com").expect("bob attends");
                assert_eq!(bob.response, "declined", "Bob's own calendar answers for him");
                let zoe = m.attendees.iter().find(|a| a.address == "zoe@fabrikam.com").expect("zoe attends");
                assert_eq!(zoe.response, "none");
            }
        }
    }
}

async fn internal_addresses_cannot_become_contacts(db: TestDb) {
    let store = &db.store;
    let (ws, _, _) = setup(store).await;
    for internal in ["Ann@Contoso.com", "someone@eu.contoso.com"] {
        let err = store.create_contact(ws, &new_contact("X", &[internal])).await.unwrap_err();
        assert!(matches!(err, StoreError::InternalAddress(_)), "{internal}: {err}");
        assert!(err.to_string().contains("organisation"), "{err}");
    }
    assert!(store.contacts(ws, &ContactListQuery::default()).await.unwrap().is_empty());
}

async fn an_address_in_use_is_refused_and_nothing_is_half_written(db: TestDb) {
    let store = &db.store;
    let (ws, _, _) = setup(store).await;
    let zoe = zoe(store, ws).await;
    let err =
        store.create_contact(ws, &new_contact("Dup", &["new@fabrikam.com", "zoe@fabrikam.com"])).await.unwrap_err();
    assert!(matches!(err, StoreError::AddressInUse { contact_id, .. } if contact_id == zoe.0), "{err}");
    assert!(store.contact_by_email(ws, &addr("new@fabrikam.com")).await.unwrap().is_none(), "nothing half-written");
    let long = "x".repeat(10_000);
    let err = store.create_contact(ws, &new_contact(&long, &["long@fabrikam.com"])).await.unwrap_err();
    assert!(matches!(err, StoreError::ContactRefused { field: ContactField::Name, .. }), "{err}");
    assert_eq!(store.contacts(ws, &ContactListQuery::default()).await.unwrap().len(), 1);
    assert!(matches!(store.contact(ws, tac_store::ContactId(9_999)).await, Err(StoreError::NotFound("contact"))));
}

async fn adding_an_address_links_its_history_and_removing_it_unlinks(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let mut other = mail("<alias@f>", at(4, 9), true);
    other.participants[0] = participant(ParticipantRole::From, "z.client@fabrikam-mail.com", "Zoe");
    put_mail(store, ws, ann, &[mail("<1@f>", at(1, 9), true), other]).await;
    let zoe = zoe(store, ws).await;
    assert_eq!(page(store, ws, zoe, TimelineQuery::default()).await.len(), 1);
    store.add_contact_email(ws, zoe, &addr("Z.Client@Fabrikam-Mail.com")).await.unwrap();
    assert_eq!(ids(&page(store, ws, zoe, TimelineQuery::default()).await), ["<alias@f>", "<1@f>"]);
    store.remove_contact_email(ws, zoe, &addr("z.client@fabrikam-mail.com")).await.unwrap();
    assert_eq!(ids(&page(store, ws, zoe, TimelineQuery::default()).await), ["<1@f>"]);
    let err = store.update_contact(ws, zoe, Some("  "), None).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ContactRefused { field: ContactField::Name, .. }),
        "an empty name is refused: {err}"
    );
    let err = store.remove_contact_email(ws, zoe, &addr("zoe@fabrikam.com")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ContactRefused { field: ContactField::Emails, .. }),
        "the last address stays: {err}"
    );
    assert_eq!(store.contact(ws, zoe).await.unwrap().emails, ["zoe@fabrikam.com"]);
}

async fn items_synced_after_the_contact_exists_join_its_timeline(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let zoe = zoe(store, ws).await;
    put_mail(store, ws, ann, &[mail("<later@f>", at(6, 9), true)]).await;
    assert_eq!(ids(&page(store, ws, zoe, TimelineQuery::default()).await), ["<later@f>"]);
    // The same email changes: Zoe is no longer on it, so it leaves her timeline.
    let mut changed = mail("<later@f>", at(6, 9), true);
    changed.participants[0] = participant(ParticipantRole::From, "other@fabrikam.com", "Other");
    put_mail(store, ws, ann, &[changed]).await;
    assert!(page(store, ws, zoe, TimelineQuery::default()).await.is_empty());
}

async fn auto_created_contacts_get_a_company_and_their_history(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    put_mail(store, ws, ann, &[mail("<old@f>", at(1, 9), true)]).await;
    let candidate = AutoCreateCandidate {
        address: addr("zoe@fabrikam.com"),
        name: "Zoe Client".into(),
        company: Some(CompanySeed { domain: "fabrikam.com".into(), name: "Fabrikam".into() }),
    };
    let sent = mail("<sent@f>", at(2, 9), false);
    let page_items = vec![(sent, copy("s-1", "sent", Direction::Outbound))];
    for _ in 0..2 {
        store
            .apply_mail_page(
                ws,
                ann,
                "sent",
                &page_items,
                &[],
                std::slice::from_ref(&candidate),
                &next_link(1),
                tac_store::RoundState::default(),
            )
            .await
            .unwrap();
    }
    let contacts = store.contacts(ws, &ContactListQuery::default()).await.unwrap();
    assert_eq!(contacts.len(), 1, "created once, however often the page is applied");
    let c = &contacts[0];
    assert_eq!(c.source, ContactSource::Auto);
    assert_eq!(c.company.as_ref().map(|co| co.name.as_str()), Some("Fabrikam"));
    assert_eq!(ids(&page(store, ws, c.id, TimelineQuery::default()).await), ["<sent@f>", "<old@f>"], "whole history");
}

async fn pages_follow_the_cursor_without_skipping_or_repeating(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    // Many items at one instant: the cursor must still be a total order.
    let emails: Vec<EmailRecord> = (0..7).map(|n| mail(&format!("<same{n}@f>"), at(2, 9), n % 2 == 0)).collect();
    put_mail(store, ws, ann, &emails).await;
    put_mail(store, ws, ann, &[mail("<late@f>", at(9, 9), true)]).await;
    let zoe = zoe(store, ws).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = store
            .timeline(ws, zoe, &TimelineQuery { limit: 3, cursor, ..TimelineQuery::default() }, now())
            .await
            .unwrap();
        assert!(p.items.len() <= 3);
        seen.extend(ids(&p.items));
        match p.next_cursor {
            Some(c) => cursor = Some(TimelineCursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[0], "<late@f>");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8, "no repeats: {seen:?}");
}

async fn filters_narrow_the_timeline(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = setup(store).await;
    put_mail(store, ws, ann, &[mail("<in@f>", at(1, 9), true), mail("<out@f>", at(3, 9), false)]).await;
    put_mail(store, ws, bob, &[mail("<bob@f>", at(5, 9), true)]).await;
    put_meetings(store, ws, ann, &[(meeting("uid-1", "Kick-off"), meeting_copy("ev-1", "organizer", true))]).await;
    let zoe = zoe(store, ws).await;
    let q = |f: fn(&mut TimelineQuery)| {
        let mut q = TimelineQuery::default();
        f(&mut q);
        q
    };
    let meetings = page(store, ws, zoe, q(|q| q.kind = Some(ActivityKind::Meeting))).await;
    assert_eq!(ids(&meetings), ["meeting-1"]);
    let everything = |kind| TimelineQuery { search: Some("kick off".into()), kind, ..TimelineQuery::default() };
    let found = search(store, ws, &everything(Some(ActivityKind::Meeting))).await;
    assert_eq!(ids(&found), ["meeting-1"], "search over meetings alone");
    assert!(search(store, ws, &everything(Some(ActivityKind::Email))).await.is_empty());
    let outbound = page(store, ws, zoe, q(|q| q.direction = Some(Direction::Outbound))).await;
    assert_eq!(ids(&outbound), ["<out@f>"]);
    let bobs = page(store, ws, zoe, q(|q| q.team_member = Some("BOB@contoso.com".into()))).await;
    assert_eq!(ids(&bobs), ["<bob@f>"]);
    // Filters that look into items read each kind apart; the page merges them.
    let anns = page(store, ws, zoe, q(|q| q.team_member = Some("ann@contoso.com".into()))).await;
    assert_eq!(ids(&anns), ["meeting-1", "<out@f>", "<in@f>"]);
    let subjects = page(store, ws, zoe, q(|q| q.search = Some("subject".into()))).await;
    assert_eq!(ids(&subjects), ["<bob@f>", "<out@f>", "<in@f>"]);
    let kick_off = page(store, ws, zoe, q(|q| q.search = Some("KICK".into()))).await;
    assert_eq!(ids(&kick_off), ["meeting-1"]);
    let anns_mail = page(
        store,
        ws,
        zoe,
        q(|q| {
            q.team_member = Some("ann@contoso.com".into());
            q.search = Some("subject".into());
            q.limit = 1;
        }),
    )
    .await;
    assert_eq!(ids(&anns_mail), ["<out@f>"], "both filters and the page size together");
    let range = page(
        store,
        ws,
        zoe,
        q(|q| {
            q.from = Some(at(2, 0));
            q.to = Some(at(6, 0));
        }),
    )
    .await;
    assert_eq!(ids(&range), ["<bob@f>", "<out@f>"]);
    let nobody = TimelineQuery { team_member: Some("nobody@contoso.com".into()), ..TimelineQuery::default() };
    let err = store.timeline(ws, zoe, &nobody, now()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

async fn the_summary_matches_hand_computed_values(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = setup(store).await;
    let now = now();
    // Zoe wrote 2 days ago; Ann wrote 5 days ago; a meeting 40 days ago; one ahead.
    put_mail(
        store,
        ws,
        ann,
        &[mail("<in@f>", now - Duration::days(2), true), mail("<out@f>", now - Duration::days(5), false)],
    )
    .await;
    put_mail(store, ws, bob, &[mail("<in@f>", now - Duration::days(2), true)]).await;
    let mut past = meeting("uid-past", "Past");
    past.start = now - Duration::days(40);
    past.end = past.start + Duration::hours(1);
    let mut ahead = meeting("uid-ahead", "Ahead");
    ahead.start = now + Duration::days(3);
    ahead.end = ahead.start + Duration::hours(1);
    let mut cancelled = meeting("uid-cancelled", "Cancelled");
    cancelled.start = now + Duration::days(1);
    cancelled.end = cancelled.start + Duration::hours(1);
    cancelled.is_cancelled = true;
    put_meetings(
        store,
        ws,
        ann,
        &[
            (past, meeting_copy("p", "organizer", true)),
            (ahead, meeting_copy("a", "organizer", true)),
            (cancelled, meeting_copy("c", "organizer", true)),
        ],
    )
    .await;
    let zoe = zoe(store, ws).await;
    let s = store.contact_summary(ws, zoe, now).await.unwrap();
    assert_eq!(s.last_interaction_at, Some(now - Duration::days(2)));
    assert_eq!(s.next_meeting_at, Some(now + Duration::days(3)), "the cancelled one is skipped");
    assert_eq!((s.emails_last_30_days, s.emails_last_90_days), (2, 2));
    assert_eq!((s.meetings_last_30_days, s.meetings_last_90_days), (0, 1));
    assert_eq!(s.follow_up, FollowUp::AwaitingOurReply { since: now - Duration::days(2), days: 2 });
    // raw = 1.0 × (1 outbound × 1.0 + 1 inbound × 1.5) + 0.5 × (1 meeting × 3.0) = 4.0;
    // strength = round(100 × (1 − e^(−4/20))) = round(18.13) = 18.
    assert_eq!(s.relationship_strength, 18);
    let members: Vec<(&str, u64)> = s.top_team_members.iter().map(|m| (m.address.as_str(), m.interactions)).collect();
    assert_eq!(members, [("ann@contoso.com", 3), ("bob@contoso.com", 1)]);
    assert_eq!(s.top_team_members[0].name, "ann");
}

async fn visibility_applies_to_stored_items_reads_and_search(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    put_mail(store, ws, ann, &[mail("<1@f>", at(1, 9), true)]).await;
    let zoe = zoe(store, ws).await;
    assert_eq!(page(store, ws, zoe, words("body")).await.len(), 1, "full: bodies are searchable");

    store.set_privacy_settings(ws, privacy(Visibility::Subject), "test").await.unwrap();
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    let TimelineItem::Email(e) = &items[0] else { panic!("an email") };
    assert_eq!(e.subject.as_deref(), Some("Subject <1@f>"));
    assert!(e.preview.is_none() && !e.body_available);
    assert!(page(store, ws, zoe, words("body")).await.is_empty(), "hidden bodies are not searchable");
    assert_eq!(page(store, ws, zoe, words("subject")).await.len(), 1);
    let stored = store.email_by_message_id(ws, "<1@f>").await.unwrap().unwrap();
    assert_eq!(stored.body_html, "", "lowering visibility strips what is already stored");

    store.set_privacy_settings(ws, privacy(Visibility::Metadata), "test").await.unwrap();
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    let TimelineItem::Email(e) = &items[0] else { panic!("an email") };
    assert!(e.subject.is_none());
    assert!(page(store, ws, zoe, words("subject")).await.is_empty());

    // Raising it again makes the next sync read everything again.
    store.save_cursor(ws, ann, CursorScope::Folder("inbox"), &next_link(5)).await.unwrap();
    store.set_privacy_settings(ws, privacy(Visibility::Full), "test").await.unwrap();
    assert!(store.cursor(ws, ann, CursorScope::Folder("inbox")).await.unwrap().is_none());
    // Until then, what was stripped reads as hidden, not as empty text.
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    let TimelineItem::Email(e) = &items[0] else { panic!("an email") };
    assert!(e.subject.is_none() && e.preview.is_none() && !e.body_available, "{e:?}");
    assert!(matches!(
        store.email_body(ws, email_id(&items), &tac_store::Viewer::operator(), false).await,
        Err(StoreError::Hidden(_))
    ));
    // The sync reads it again (at full) and everything shows.
    put_mail(store, ws, ann, &[mail("<1@f>", at(1, 9), true)]).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    let TimelineItem::Email(e) = &items[0] else { panic!("an email") };
    assert_eq!(e.subject.as_deref(), Some("Subject <1@f>"));
    assert!(e.preview.is_some() && e.body_available);
    let log = store.audit_log(ws, 10).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "privacy.settings").count(), 3);
}

async fn private_items_are_metadata_only_whatever_the_level(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let mut private = mail("<p@f>", at(1, 9), true);
    private.is_private = true;
    put_mail(store, ws, ann, &[private]).await;
    let mut board = meeting("uid-b", "Board");
    board.sensitivity = "confidential".into();
    board.attendees.push(attendee("zoe@fabrikam.com", "Zoe", "required", "accepted"));
    put_meetings(store, ws, ann, &[(board, meeting_copy("b", "organizer", true))]).await;
    let zoe = zoe(store, ws).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    for item in &items {
        match item {
            TimelineItem::Email(e) => {
                assert_eq!(e.subject.as_deref(), Some("Private email"));
                assert!(e.preview.is_none() && e.is_private);
            }
            TimelineItem::Meeting(m) => {
                assert_eq!(m.subject.as_deref(), Some("Private meeting"));
                assert!(m.location.is_none() && m.online_meeting_url.is_none());
            }
        }
    }
    assert!(search(store, ws, &words("Board")).await.is_empty(), "private items are never searchable");
    let private_id = store.email_by_message_id(ws, "<p@f>").await.unwrap().map(|_| ());
    assert!(private_id.is_some());
}

async fn a_blocklist_entry_purges_what_it_covers(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let mut sub = mail("<sub@f>", at(2, 9), true);
    sub.participants[0] = participant(ParticipantRole::From, "x@eu.fabrikam.com", "X");
    let mut lookalike = mail("<look@f>", at(3, 9), true);
    lookalike.participants[0] = participant(ParticipantRole::From, "x@notfabrikam.com", "X");
    put_mail(store, ws, ann, &[mail("<1@f>", at(1, 9), true), sub, lookalike]).await;
    put_meetings(store, ws, ann, &[(meeting("uid-1", "Kick-off"), meeting_copy("ev-1", "organizer", true))]).await;
    auto_create(store, ws, ann, "x@eu.fabrikam.com", "X").await;
    let manual = zoe(store, ws).await;

    let purged = store.add_block(ws, &BlockEntry::parse("@FABRIKAM.com").unwrap(), "test").await.unwrap();
    assert_eq!((purged.emails, purged.meetings, purged.contacts), (2, 1, 1));
    assert!(store.email_by_message_id(ws, "<look@f>").await.unwrap().is_some(), "other domains stay");
    assert!(page(store, ws, manual, TimelineQuery::default()).await.is_empty());
    assert!(store.contact(ws, manual).await.is_ok(), "people's own contacts stay");
    assert!(store.privacy_policy(ws).await.unwrap().blocklist.blocks("a@fabrikam.com"));
    store.remove_block(ws, &BlockEntry::parse("@fabrikam.com").unwrap(), "test").await.unwrap();
    let actions: Vec<String> = store.audit_log(ws, 10).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["privacy.unblock", "privacy.block"]);
}

async fn excluding_a_mailbox_purges_what_only_it_held(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = setup(store).await;
    put_mail(store, ws, ann, &[mail("<shared@f>", at(1, 9), true), mail("<ann-only@f>", at(2, 9), true)]).await;
    put_mail(store, ws, bob, &[mail("<shared@f>", at(1, 9), true)]).await;
    let purged = store.exclude_mailbox(ws, "u-ann", "test").await.unwrap();
    assert_eq!(purged.emails, 1);
    assert!(store.email_by_message_id(ws, "<ann-only@f>").await.unwrap().is_none());
    assert!(store.email_by_message_id(ws, "<shared@f>").await.unwrap().is_some());
    assert_eq!(store.mailboxes(ws).await.unwrap().len(), 1);
    assert_eq!(store.privacy_policy(ws).await.unwrap().excluded_mailboxes, ["u-ann"]);
    assert!(matches!(store.exclude_mailbox(ws, "u-nobody", "test").await, Err(StoreError::NotFound(_))));
    store.include_mailbox(ws, "u-ann", "test").await.unwrap();
    assert!(store.privacy_policy(ws).await.unwrap().excluded_mailboxes.is_empty());
}

/// The bytes of the SQLite database and its write-ahead log.
fn sqlite_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
    bytes
}

fn holds(bytes: &[u8], word: &str) -> bool {
    let needle = word.as_bytes();
    bytes.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

async fn purged_text_is_gone_from_the_sqlite_files(db: TestDb) {
    let store = &db.store;
    let (ws, ann, bob) = setup(store).await;
    // Distinctive words in subjects and bodies: each purge below must leave
    // none of them in the files, the full-text index included.
    let mut blocked = mail("<blocked@f>", at(1, 9), true);
    blocked.subject = "Zanzibarquux budget approval".into();
    blocked.body_html = "<p>Marmalizard pricing</p>".into();
    blocked.body_preview = "Marmalizard pricing".into();
    let mut excluded = mail("<excluded@f>", at(2, 9), true);
    excluded.subject = "Quokkavelvet merger".into();
    excluded.body_html = "<p>Plumtreacle terms</p>".into();
    excluded.body_preview = "Plumtreacle terms".into();
    let mut kept = mail("<kept@f>", at(3, 9), false);
    kept.subject = "Harmlessotter lunch".into();
    put_mail(store, ws, ann, &[blocked]).await;
    put_mail(store, ws, bob, &[excluded, kept]).await;
    if let Some(path) = &db.sqlite_path {
        let before = sqlite_bytes(path);
        assert!(holds(&before, "Zanzibarquux") && holds(&before, "Plumtreacle"), "the test sees stored text");
    }

    store.add_block(ws, &BlockEntry::parse("@fabrikam.com").unwrap(), "test").await.unwrap();
    store.exclude_mailbox(ws, "u-bob", "test").await.unwrap();
    assert!(store.email_by_message_id(ws, "<blocked@f>").await.unwrap().is_none());
    assert!(store.email_by_message_id(ws, "<excluded@f>").await.unwrap().is_none());
    if let Some(path) = &db.sqlite_path {
        let after = sqlite_bytes(path);
        for word in ["Zanzibarquux", "Marmalizard", "Quokkavelvet", "Plumtreacle", "Harmlessotter"] {
            assert!(!holds(&after, word), "{word} is still in the database files");
        }
    }
}

async fn retention_purges_old_items(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let recent = Utc::now() - Duration::days(10);
    let old = Utc::now() - Duration::days(400);
    put_mail(store, ws, ann, &[mail("<recent@f>", recent, true), mail("<old@f>", old, true)]).await;
    let zoe = zoe(store, ws).await;
    let purged = store
        .set_privacy_settings(ws, PrivacySettings { retention_days: Some(365), ..privacy(Visibility::Full) }, "test")
        .await
        .unwrap();
    assert_eq!(purged.emails, 1);
    assert_eq!(
        ids(&store.timeline(ws, zoe, &TimelineQuery::default(), Utc::now()).await.unwrap().items),
        ["<recent@f>"]
    );
    assert_eq!(store.purge_retention(ws, Utc::now()).await.unwrap().emails, 0);
    let err = store
        .set_privacy_settings(ws, PrivacySettings { retention_days: Some(0), ..privacy(Visibility::Full) }, "test")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
}

async fn email_bodies_are_sanitised_and_hidden_by_policy(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let hostile = r#"<p onclick="steal()">Hi</p><script>alert(1)</script><a href="javascript:alert(2)">x</a><img src="https://tracker.example/p.gif">"#;
    let e = email("<h@f>", "Hostile", hostile);
    put_mail(store, ws, ann, &[e]).await;
    let zoe = zoe(store, ws).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    let id = email_id(&items);
    let body = store.email_body(ws, id, &tac_store::Viewer::operator(), false).await.unwrap();
    for bad in ["<script", "onclick", "javascript:", "tracker.example"] {
        assert!(!body.html.to_lowercase().contains(bad), "{bad} in {}", body.html);
    }
    assert_eq!(body.blocked_images, 1);
    assert!(body.html.contains("Hi"));
    let allowed = store.email_body(ws, id, &tac_store::Viewer::operator(), true).await.unwrap();
    assert!(allowed.html.contains("tracker.example"), "images allowed on request");
    store.set_privacy_settings(ws, privacy(Visibility::Subject), "test").await.unwrap();
    assert!(matches!(
        store.email_body(ws, id, &tac_store::Viewer::operator(), false).await,
        Err(StoreError::Hidden(_))
    ));
    let other = store.ensure_workspace("other").await.unwrap();
    assert!(matches!(
        store.email_body(other, id, &tac_store::Viewer::operator(), false).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_company_timeline_merges_its_contacts_once(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let mut both = mail("<both@f>", at(3, 9), false);
    both.participants.push(participant(ParticipantRole::Cc, "yan@fabrikam.com", "Yan"));
    let mut yan_late = mail("<yan-late@f>", at(4, 9), true);
    yan_late.participants[0] = participant(ParticipantRole::From, "yan@fabrikam.com", "Yan");
    put_mail(store, ws, ann, &[mail("<1@f>", at(1, 9), true), both, yan_late]).await;
    let zoe = zoe(store, ws).await;
    let yan = store.create_contact(ws, &new_contact("", &["yan@fabrikam.com"])).await.unwrap();
    let (z, y) = (store.contact(ws, zoe).await.unwrap(), store.contact(ws, yan).await.unwrap());
    assert_eq!(z.company.as_ref().map(|c| c.id), y.company.as_ref().map(|c| c.id), "one company per domain");
    assert_eq!(y.name, "Yan", "a name guessed from the address");
    let company = z.company.expect("fabrikam.com is a work domain");
    assert_eq!(company.domain.as_deref(), Some("fabrikam.com"));
    let items = store.company_timeline(ws, company.id, &TimelineQuery::default(), now()).await.unwrap().items;
    assert_eq!(ids(&items), ["<yan-late@f>", "<both@f>", "<1@f>"], "the shared email once");
    let listed = store
        .contacts(ws, &ContactListQuery { sort: ContactSort::LastInteraction, ..ContactListQuery::default() })
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Yan", "Zoe Client"]);
    let found = store
        .contacts(ws, &ContactListQuery { search: Some("ZOE".into()), ..ContactListQuery::default() })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let hostile = store
        .contacts(ws, &ContactListQuery { search: Some("%' or 1=1 --".into()), ..ContactListQuery::default() })
        .await
        .unwrap();
    assert!(hostile.is_empty());
    // Another workspace's contact or company is unknown here, not an empty
    // timeline; a contact of one's own without activity is.
    let other = store.ensure_workspace("other").await.unwrap();
    let any = TimelineQuery::default();
    assert!(matches!(store.timeline(other, zoe, &any, now()).await, Err(StoreError::NotFound("contact"))));
    assert!(matches!(
        store.company_timeline(other, company.id, &any, now()).await,
        Err(StoreError::NotFound("company"))
    ));
    assert!(matches!(store.contact_summary(other, zoe, now()).await, Err(StoreError::NotFound("contact"))));
    let quiet = store.create_contact(ws, &new_contact("Quiet", &["quiet@example.org"])).await.unwrap();
    assert!(store.timeline(ws, quiet, &any, now()).await.unwrap().items.is_empty());
    assert!(matches!(store.timeline(other, quiet, &any, now()).await, Err(StoreError::NotFound("contact"))));
}

async fn csv_import_reports_bad_lines_and_never_imports_twice(db: TestDb) {
    let store = &db.store;
    let (ws, _, _) = setup(store).await;
    let csv = "Name,Email,Company\nZoe Client,zoe@fabrikam.com,Fabrikam\nBad,not-an-address,\nAnn,ann@contoso.com,\nYan,yan@northwind.com;YAN@northwind.net,Northwind\n";
    let lines = parse_contacts_csv(csv.as_bytes()).unwrap();
    assert_eq!(lines.iter().filter(|l| l.is_err()).count(), 1, "the bad address is the parser's to report");
    let good: Vec<_> = lines.into_iter().filter_map(Result::ok).collect();
    let first = store.import_contacts(ws, &good).await.unwrap();
    assert!(matches!(first[0], Ok(ImportOutcome::Created(_))));
    assert!(matches!(first[1], Err(StoreError::InternalAddress(_))), "internal people are refused per line");
    assert!(matches!(first[2], Ok(ImportOutcome::Created(_))));
    let again = store.import_contacts(ws, &good).await.unwrap();
    assert!(matches!(again[0], Ok(ImportOutcome::Unchanged(_))));
    assert!(matches!(again[2], Ok(ImportOutcome::Unchanged(_))));
    assert_eq!(store.contacts(ws, &ContactListQuery::default()).await.unwrap().len(), 2);
    let yan = store.contact_by_email(ws, &addr("yan@northwind.net")).await.unwrap().unwrap();
    assert_eq!(yan.emails.len(), 2);
    assert_eq!(yan.company.map(|c| c.name), Some("Northwind".to_string()));
}

async fn disconnect_purges_synced_data_and_keeps_peoples_contacts(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    put_mail(store, ws, ann, &[mail("<1@f>", at(1, 9), true)]).await;
    auto_create(store, ws, ann, "auto@northwind.com", "Auto").await;
    let zoe = zoe(store, ws).await;
    let purged = store.disconnect(ws, "test").await.unwrap();
    assert_eq!((purged.emails, purged.contacts), (1, 1));
    assert!(store.mailboxes(ws).await.unwrap().is_empty());
    assert!(store.directory_users(ws).await.unwrap().is_empty());
    assert!(page(store, ws, zoe, TimelineQuery::default()).await.is_empty());
    assert_eq!(store.contacts(ws, &ContactListQuery::default()).await.unwrap().len(), 1);
    assert_eq!(store.audit_log(ws, 1).await.unwrap()[0].action, "integration.disconnect");
}

async fn hostile_searches_are_plain_words(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    put_mail(store, ws, ann, &[mail("<1@f>", at(1, 9), true)]).await;
    let zoe = zoe(store, ws).await;
    for q in [
        "\"",
        "' or 1=1 --",
        "NEAR(body",
        "subject:body",
        "{subject} : x",
        "*",
        "body OR",
        "a\0b",
        "(((",
        "body -x",
        &"z".repeat(tac_store::MAX_SEARCH_CHARS),
    ] {
        let query = TimelineQuery { search: Some(q.to_string()), ..TimelineQuery::default() };
        store.timeline(ws, zoe, &query, now()).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
        store.search(ws, &query, &tac_store::Viewer::operator(), now()).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }
    assert_eq!(ids(&search(store, ws, &words("BODY")).await), ["<1@f>"]);
}

async fn one_email_or_meeting_reads_by_id_redacted_and_in_its_workspace_only(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    put_mail(store, ws, ann, &[mail("<in@f>", at(1, 9), true), mail("<out@f>", at(2, 9), false)]).await;
    let mut private = mail("<private@f>", at(3, 9), true);
    private.is_private = true;
    put_mail(store, ws, ann, &[private]).await;
    put_meetings(store, ws, ann, &[(meeting("uid-1", "Kick-off"), meeting_copy("m1", "organizer", true))]).await;
    let zoe = zoe(store, ws).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    let id_of = |message_id: &str| {
        items
            .iter()
            .find_map(|i| match i {
                TimelineItem::Email(e) if e.internet_message_id == message_id => {
                    Some(EmailId(e.id.trim_start_matches("email-").parse().unwrap()))
                }
                _ => None,
            })
            .unwrap()
    };
    let inbound = store.email_item(ws, id_of("<in@f>"), &tac_store::Viewer::operator()).await.unwrap();
    assert_eq!((inbound.subject.as_deref(), inbound.direction), (Some("Subject <in@f>"), Direction::Inbound));
    assert_eq!(inbound.mailboxes, ["ann@contoso.com"]);
    let outbound = store.email_item(ws, id_of("<out@f>"), &tac_store::Viewer::operator()).await.unwrap();
    assert_eq!(outbound.direction, Direction::Outbound, "a team member sent it");
    let private = store.email_item(ws, id_of("<private@f>"), &tac_store::Viewer::operator()).await.unwrap();
    assert_eq!(private.subject.as_deref(), Some("Private email"));
    assert!(private.preview.is_none() && !private.body_available);

    let meeting_id = meeting_id(&items);
    let m = store.meeting_item(ws, meeting_id, &tac_store::Viewer::operator(), now()).await.unwrap();
    assert_eq!(m.subject.as_deref(), Some("Kick-off"));
    assert_eq!(m.online_meeting_url.as_deref(), Some("https://teams.example/meet/1"));
    let responses: Vec<(&str, &str)> = m.attendees.iter().map(|a| (a.address.as_str(), a.response.as_str())).collect();
    assert_eq!(responses, [("bob@contoso.com", "accepted"), ("zoe@fabrikam.com", "none")]);
    store.set_privacy_settings(ws, privacy(Visibility::Metadata), "test").await.unwrap();
    assert!(
        store.meeting_item(ws, meeting_id, &tac_store::Viewer::operator(), now()).await.unwrap().subject.is_none(),
        "redacted by the policy"
    );
    assert!(store.email_item(ws, id_of("<in@f>"), &tac_store::Viewer::operator()).await.unwrap().subject.is_none());

    let other = store.ensure_workspace("other").await.unwrap();
    assert!(matches!(
        store.email_item(other, id_of("<in@f>"), &tac_store::Viewer::operator()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.meeting_item(other, meeting_id, &tac_store::Viewer::operator(), now()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.email_item(ws, EmailId(i64::MAX), &tac_store::Viewer::operator()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn monthly_activity_counts_each_month_in_utc(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    let utc = |y: i32, m: u32, d: u32, h: u32| {
        use chrono::TimeZone as _;
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().unwrap()
    };
    put_mail(
        store,
        ws,
        ann,
        &[
            mail("<jan-first@f>", utc(2025, 1, 1, 0), true),
            mail("<jan-last@f>", utc(2025, 1, 31, 23), false),
            mail("<feb@f>", utc(2025, 2, 10, 9), true),
            mail("<too-old@f>", utc(2024, 12, 31, 23), true),
        ],
    )
    .await;
    let mut m = meeting("uid-jan", "January");
    m.start = utc(2025, 1, 15, 10);
    m.end = m.start + Duration::hours(1);
    put_meetings(store, ws, ann, &[(m, meeting_copy("m", "organizer", true))]).await;
    let zoe = zoe(store, ws).await;
    let months = store.monthly_activity(ws, zoe, utc(2025, 1, 1, 0), utc(2025, 3, 1, 0)).await.unwrap();
    let got: Vec<(String, u64, u64)> =
        months.iter().map(|m| (m.month.format("%Y-%m-%d").to_string(), m.emails, m.meetings)).collect();
    assert_eq!(got, [("2025-01-01".to_owned(), 2, 1), ("2025-02-01".to_owned(), 1, 0)]);
    let other = store.ensure_workspace("other").await.unwrap();
    assert!(matches!(
        store.monthly_activity(other, zoe, utc(2025, 1, 1, 0), utc(2025, 3, 1, 0)).await,
        Err(StoreError::NotFound(_))
    ));
}

/// The write skew that loses mail on PostgreSQL: a page storing an email
/// from someone and a transaction creating that someone as a contact, at the
/// same moment, each link only what they see. The linking lock (and, for
/// contacts a page auto-creates, the settle) closes it; many rounds make the
/// overlap likely.
async fn a_contact_created_while_its_mail_is_stored_still_gets_that_mail(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _) = setup(store).await;
    for round in 0..30u32 {
        let address = format!("racer{round}@fabrikam.com");
        let mut e = email(&format!("<race{round}@f>"), "race", "<p>x</p>");
        e.participants = vec![
            participant(ParticipantRole::From, &address, "Racer"),
            participant(ParticipantRole::To, "ann@contoso.com", "Ann Lee"),
        ];
        let page = vec![(e, copy(&format!("race-{round}"), "inbox", Direction::Inbound))];
        let contact = new_contact("Racer", &[&address]);
        let next = next_link(round);
        let (stored, created) =
            tokio::join!(apply_mail(store, ws, ann, "inbox", &page, &[], &next), store.create_contact(ws, &contact),);
        stored.unwrap();
        let id = created.unwrap();
        let items = store.timeline(ws, id, &TimelineQuery::default(), now()).await.unwrap().items;
        assert_eq!(ids(&items), [format!("<race{round}@f>")], "round {round}");
    }
    // A page auto-creating someone while another mailbox's page stores
    // their email: the settle (sync runs it every few seconds) links it.
    let (_, ann, bob) = setup(store).await;
    for round in 0..30u32 {
        let address = format!("auto{round}@fabrikam.com");
        let mut sent = email(&format!("<sent{round}@contoso>"), "to them", "<p>x</p>");
        sent.participants = vec![
            participant(ParticipantRole::From, "ann@contoso.com", "Ann Lee"),
            participant(ParticipantRole::To, &address, "Auto"),
        ];
        let mut received = email(&format!("<recv{round}@f>"), "from them", "<p>y</p>");
        received.participants = vec![
            participant(ParticipantRole::From, &address, "Auto"),
            participant(ParticipantRole::To, "bob@contoso.com", "Bob Roe"),
        ];
        let sent_page = vec![(sent, copy(&format!("s-{round}"), "sentitems", Direction::Outbound))];
        let received_page = vec![(received, copy(&format!("r-{round}"), "inbox", Direction::Inbound))];
        let candidate = AutoCreateCandidate { address: addr(&address), name: "Auto".into(), company: None };
        let (a, b) = (next_link(100 + round), next_link(200 + round));
        let (created, stored) = tokio::join!(
            store.apply_mail_page(
                ws,
                ann,
                "sentitems",
                &sent_page,
                &[],
                std::slice::from_ref(&candidate),
                &a,
                tac_store::RoundState::default()
            ),
            apply_mail(store, ws, bob, "inbox", &received_page, &[], &b),
        );
        created.unwrap();
        stored.unwrap();
        store.settle_links(ws).await.unwrap();
        let contact = store.contact_by_email(ws, &addr(&address)).await.unwrap().expect("auto-created");
        let items = store.timeline(ws, contact.id, &TimelineQuery::default(), now()).await.unwrap().items;
        let mut found = ids(&items);
        found.sort();
        assert_eq!(found, [format!("<recv{round}@f>"), format!("<sent{round}@contoso>")], "round {round}");
    }
    assert_eq!(store.settle_links(ws).await.unwrap(), 0, "nothing left to settle");
}

/// Each item's facts travel as one JSON value per row; every field, flag,
/// odd character and sub-second time must come through it unchanged.
async fn timeline_items_carry_every_field_as_stored(db: TestDb) {
    let store = &db.store;
    let (ws, ann, _bob) = setup(store).await;
    let sent = at(2, 9) + Duration::microseconds(123_456);
    let mut e = mail("<odd@f>", sent, true);
    e.subject = "Quote \"this\" \\ and ünïcode ✓".into();
    e.conversation_id = None;
    e.has_attachments = true;
    e.participants[0].name = "Zoë \"Z\" Client".into();
    put_mail(store, ws, ann, &[e]).await;
    let mut m = meeting("uid-odd", "All day, cancelled");
    m.start = at(4, 0);
    m.end = at(5, 0);
    m.is_all_day = true;
    m.is_cancelled = true;
    m.location = None;
    put_meetings(store, ws, ann, &[(m, meeting_copy("ev-odd", "organizer", true))]).await;
    let zoe = zoe(store, ws).await;
    let items = page(store, ws, zoe, TimelineQuery::default()).await;
    let [TimelineItem::Meeting(meeting), TimelineItem::Email(email)] = items.as_slice() else {
        panic!("a meeting then an email: {items:?}");
    };
    assert_eq!(email.occurred_at, sent);
    assert_eq!(email.subject.as_deref(), Some("Quote \"this\" \\ and ünïcode ✓"));
    assert_eq!(email.conversation_id, None);
    assert!(email.has_attachments && !email.is_private && email.body_available);
    assert_eq!(email.from.as_ref().map(|p| p.name.as_str()), Some("Zoë \"Z\" Client"));
    assert_eq!(email.to.iter().map(|p| p.address.as_str()).collect::<Vec<_>>(), ["ann@contoso.com"]);
    assert_eq!(email.cc.iter().map(|p| p.address.as_str()).collect::<Vec<_>>(), ["bob@contoso.com"]);
    assert_eq!(email.mailboxes, ["ann@contoso.com"]);
    assert_eq!((meeting.start, meeting.end), (at(4, 0), at(5, 0)));
    assert!(meeting.is_all_day && meeting.is_cancelled && !meeting.is_private);
    assert_eq!(meeting.location, None);
    assert_eq!(meeting.online_meeting_url.as_deref(), Some("https://teams.example/meet/1"));
    assert_eq!(meeting.organizer.address, "ann@contoso.com");
    let attendees: Vec<(&str, &str, &str)> =
        meeting.attendees.iter().map(|a| (a.address.as_str(), a.kind.as_str(), a.response.as_str())).collect();
    assert_eq!(attendees, [("bob@contoso.com", "required", "accepted"), ("zoe@fabrikam.com", "optional", "none")]);
    assert_eq!(meeting.mailboxes, ["ann@contoso.com"]);
}
