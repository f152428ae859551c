//! End to end from the emulator's organisation through sync to contacts and
//! timelines, on SQLite and PostgreSQL: matching across aliases and case,
//! contacts created after the sync, dedupe across mailboxes, internal-only
//! mail, auto-creation under each policy, and privacy rules changed later.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use tac_core::address::normalize;
use tac_core::privacy::{AutoCreate, BlockEntry, Visibility};
use tac_core::timeline::TimelineItem;
use tac_store::{ContactListQuery, ContactSource, NewContact, PrivacySettings, Store, TimelineQuery, WorkspaceId};
use tac_sync::{Quiet, SyncOptions, SyncReport, sync_once};

mod common;

use common::{World, stores};

async fn sync(store: &Store, ws: WorkspaceId, world: &World) -> SyncReport {
    let report =
        sync_once(store, ws, world.graph(), &SyncOptions::default(), Arc::new(Quiet)).await.expect("the pass runs");
    assert!(report.all_ok(), "{report:?}");
    report
}

/// Two mailbox users of the emulator's organisation: (id, address).
async fn two_users(world: &World) -> [(String, String); 2] {
    let users = world.get("/truth/mailboxes").await;
    let mut with_mailbox = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["hasMailbox"] == true && u["accountEnabled"] == true && u["denied"] != true)
        .map(|u| (u["id"].as_str().unwrap().to_string(), u["userPrincipalName"].as_str().unwrap().to_lowercase()));
    [with_mailbox.next().unwrap(), with_mailbox.next().unwrap()]
}

async fn add_message(world: &World, user: &str, message: Value) {
    world.admin(reqwest::Method::POST, &format!("/users/{user}/messages"), message).await;
}

async fn timeline(store: &Store, ws: WorkspaceId, address: &str) -> Vec<TimelineItem> {
    let contact = store
        .contact_by_email(ws, &normalize(address).unwrap())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no contact for {address}"));
    let mut items = Vec::new();
    let mut query = TimelineQuery { limit: 200, ..TimelineQuery::default() };
    loop {
        let page = store.timeline(ws, contact.id, &query, Utc::now()).await.unwrap();
        items.extend(page.items);
        match page.next_cursor {
            Some(c) => query.cursor = Some(tac_core::timeline::TimelineCursor::decode(&c).unwrap()),
            None => return items,
        }
    }
}

fn subjects(items: &[TimelineItem]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Email(e) => e.subject.clone(),
            TimelineItem::Meeting(m) => m.subject.clone(),
        })
        .collect()
}

/// The scene the timeline test plays in: one workspace synced from the
/// emulator, and two of its mailbox users, A and B (id, address).
struct Scene<'a> {
    label: &'static str,
    store: &'a Store,
    ws: WorkspaceId,
    world: &'a World,
    a_id: String,
    a: String,
    b_id: String,
    b: String,
}

fn days_ago(n: i64) -> String {
    (Utc::now() - Duration::days(n)).to_rfc3339()
}

#[tokio::test]
async fn synced_mail_reaches_the_right_timelines_and_privacy_changes_apply() {
    for (label, store) in stores().await {
        let world = World::new().await;
        let ws = store.ensure_workspace("default").await.unwrap();
        let [(a_id, a), (b_id, b)] = two_users(&world).await;
        let s = Scene { label, store: &store, ws, world: &world, a_id, a, b_id, b };
        seed_pats_mail(&s).await;
        let report = sync(&store, ws, &world).await;
        assert!(report.mailboxes.iter().all(|m| m.withheld == 0), "{label}: nothing blocked yet");

        let domains = pat_is_auto_created_with_his_whole_history(&s).await;
        internal_only_mail_is_who_and_when_only(&s, &domains).await;
        a_contact_created_later_has_its_history_at_once(&s, &domains).await;
        lowered_visibility_hides_stored_text(&s).await;
        a_blocklist_entry_purges_pat_and_withholds_his_mail(&s).await;
        excluding_b_removes_bs_mailbox(&s).await;
    }
}

/// Pat writes to A in odd case; A answers; an email to A and B lands in
/// both mailboxes; A and B talk among themselves; A invites Pat.
async fn seed_pats_mail(s: &Scene<'_>) {
    let (world, a, b, day) = (s.world, &s.a, &s.b, days_ago);
    add_message(world, &s.a_id, json!({"folder": "inbox", "subject": "Pat asks", "from": {"name": "Pat Client", "address": "Pat.Client@GLOBEX.example"}, "to": [{"name": "A", "address": a}], "receivedDateTime": day(5), "internetMessageId": "<pat-asks@globex.example>"})).await;
    add_message(world, &s.a_id, json!({"folder": "sentitems", "subject": "Re: Pat asks", "from": {"name": "A", "address": a}, "to": [{"name": "Pat", "address": "pat.client@globex.example"}], "receivedDateTime": day(4), "internetMessageId": "<a-answers@contoso>"})).await;
    for user in [&s.a_id, &s.b_id] {
        add_message(world, user, json!({"folder": "inbox", "subject": "Pat to both", "from": {"name": "Pat", "address": "pat.client@globex.example"}, "to": [{"name": "A", "address": a}, {"name": "B", "address": b}], "receivedDateTime": day(3), "internetMessageId": "<pat-both@globex.example>"})).await;
    }
    // Pat marks one email private (PidTagSensitivity 2, read through $expand).
    add_message(world, &s.a_id, json!({"folder": "inbox", "subject": "Secret terms", "body": "<p>discount</p>", "sensitivity": "private", "from": {"name": "Pat", "address": "pat.client@globex.example"}, "to": [{"name": "A", "address": a}], "receivedDateTime": day(6), "internetMessageId": "<pat-private@globex.example>"})).await;
    add_message(world, &s.a_id, json!({"folder": "inbox", "subject": "Internal only", "from": {"name": "B", "address": b}, "to": [{"name": "A", "address": a}], "receivedDateTime": day(2), "internetMessageId": "<internal@contoso>"})).await;
    let start = Utc::now() + Duration::days(2);
    world
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/events", s.a_id),
            json!({"subject": "Globex review", "start": start, "end": start + Duration::hours(1), "attendees": [{"name": "Pat", "address": "pat.client@globex.example"}]}),
        )
        .await;
}

/// Auto-created (A wrote to Pat): the whole history, in any case, every
/// role; the private email shows as such. Returns the tenant's domains.
async fn pat_is_auto_created_with_his_whole_history(s: &Scene<'_>) -> HashSet<String> {
    let (label, store, ws, a, b) = (s.label, s.store, s.ws, &s.a, &s.b);
    let pat = store.contact_by_email(ws, &normalize("PAT.client@globex.example").unwrap()).await.unwrap();
    let pat = pat.unwrap_or_else(|| panic!("{label}: the default policy creates people our users write to"));
    assert_eq!(pat.source, ContactSource::Auto);
    assert_eq!(pat.company.as_ref().map(|c| c.domain.as_deref()), Some(Some("globex.example")));
    let items = timeline(store, ws, "pat.client@globex.example").await;
    assert_eq!(
        subjects(&items),
        ["Globex review", "Pat asks", "Pat to both", "Private email", "Re: Pat asks"]
            .into_iter()
            .map(String::from)
            .collect(),
        "{label}"
    );
    assert!(matches!(&items[0], TimelineItem::Meeting(m) if m.is_upcoming), "{label}: upcoming meeting first");
    let private = items
        .iter()
        .find_map(|i| match i {
            TimelineItem::Email(e) if e.internet_message_id == "<pat-private@globex.example>" => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{label}: the private email is on the timeline"));
    assert!(private.is_private && private.preview.is_none(), "{label}: {private:?}");
    assert_eq!(private.subject.as_deref(), Some("Private email"), "{label}");
    let hidden = store
        .timeline(ws, pat.id, &TimelineQuery { search: Some("secret".into()), ..TimelineQuery::default() }, Utc::now())
        .await
        .unwrap();
    assert!(hidden.items.is_empty(), "{label}: a private email's subject is not searchable");
    let raw = store.email_by_message_id(ws, "<pat-private@globex.example>").await.unwrap().expect("stored");
    assert!(raw.subject.is_empty() && !raw.body_html.contains("discount"), "{label}: not even stored");
    let both = items
        .iter()
        .find_map(|i| match i {
            TimelineItem::Email(e) if e.internet_message_id == "<pat-both@globex.example>" => Some(e),
            _ => None,
        })
        .expect("the shared email");
    assert_eq!(both.mailboxes, BTreeSet::from([a.clone(), b.clone()]).into_iter().collect::<Vec<_>>(), "{label}");
    store.tenant_domains(ws).await.unwrap().into_iter().map(|d| d.name.to_lowercase()).collect()
}

/// Internal-only mail is kept as who and when only (the default), is not
/// searchable even by the operator, is on no timeline, and no colleague is
/// a contact.
async fn internal_only_mail_is_who_and_when_only(s: &Scene<'_>, domains: &HashSet<String>) {
    let (label, store, ws) = (s.label, s.store, s.ws);
    let internal = store.email_by_message_id(ws, "<internal@contoso>").await.unwrap().expect("stored");
    assert!(internal.internal_only, "{label}: classified as internal-only");
    assert!(internal.subject.is_empty() && internal.body_html.is_empty(), "{label}: {internal:?}");
    assert_eq!(internal.participants.len(), 2, "{label}: who is kept");
    let query = TimelineQuery { search: Some("internal".into()), ..TimelineQuery::default() };
    let found = store.search(ws, &query, &tac_store::Viewer::operator(), Utc::now()).await.unwrap();
    assert!(found.items.is_empty(), "{label}: internal-only mail is not searchable: {:?}", found.items);
    let contacts = store.contacts(ws, &ContactListQuery { limit: 1000, ..ContactListQuery::default() }).await.unwrap();
    for c in &contacts {
        for e in &c.emails {
            let domain = e.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
            assert!(!domains.contains(&domain), "{label}: colleague {e} became a contact");
        }
        let items = store
            .timeline(ws, c.id, &TimelineQuery { limit: 500, ..TimelineQuery::default() }, Utc::now())
            .await
            .unwrap();
        assert!(
            !items
                .items
                .iter()
                .any(|i| matches!(i, TimelineItem::Email(e) if e.internet_message_id == "<internal@contoso>")),
            "{label}: internal-only mail on {}'s timeline",
            c.name
        );
    }
}

/// A contact created after the sync: everything the truth says they sent
/// is there at once, newest first.
async fn a_contact_created_later_has_its_history_at_once(s: &Scene<'_>, domains: &HashSet<String>) {
    let (label, store, ws) = (s.label, s.store, s.ws);
    let truth = s.world.get(&format!("/truth/users/{}/mail", s.a_id)).await;
    let external_sender = truth["folders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["wellKnownName"] == "inbox")
        .flat_map(|f| f["messages"].as_array().unwrap().iter())
        .filter_map(|m| normalize(m["from"].as_str()?).ok())
        .find(|addr| {
            !domains.contains(addr.domain())
                && !addr.as_str().starts_with("pat.client")
                && !tac_core::contacts::is_role_address(addr)
        });
    if let Some(sender) = external_sender {
        if store.contact_by_email(ws, &sender).await.unwrap().is_none() {
            store
                .create_contact(
                    ws,
                    &NewContact {
                        name: String::new(),
                        emails: vec![sender.clone()],
                        company: None,
                        source: ContactSource::Manual,
                    },
                )
                .await
                .unwrap();
        }
        let items = timeline(store, ws, sender.as_str()).await;
        let on_timeline: HashSet<String> = items
            .iter()
            .filter_map(|i| match i {
                TimelineItem::Email(e) => Some(e.internet_message_id.clone()),
                _ => None,
            })
            .collect();
        let in_inbox: HashSet<String> = truth["folders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["wellKnownName"] == "inbox")
            .flat_map(|f| f["messages"].as_array().unwrap().iter())
            .filter(|m| m["from"].as_str().and_then(|f| normalize(f).ok()).as_ref() == Some(&sender))
            .filter(|m| {
                let at = m["receivedDateTime"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                at.is_some_and(|at| at > Utc::now() - Duration::days(364))
            })
            .map(|m| m["internetMessageId"].as_str().unwrap().to_string())
            .collect();
        let missing: Vec<_> = in_inbox.iter().filter(|id| !on_timeline.contains(*id)).collect();
        assert!(missing.is_empty(), "{label}: {sender} sent {missing:?} but the new contact's timeline lacks them");
        for pair in items.windows(2) {
            assert!(pair[0].occurred_at() >= pair[1].occurred_at(), "{label}: newest first");
        }
    }
}

/// Visibility lowered later: stored subjects go, the timeline says null,
/// and the next pass keeps to the level.
async fn lowered_visibility_hides_stored_text(s: &Scene<'_>) {
    let (label, store, ws, world) = (s.label, s.store, s.ws, s.world);
    let metadata = PrivacySettings { visibility: Visibility::Metadata, ..PrivacySettings::default() };
    store.set_privacy_settings(ws, metadata, "test").await.unwrap();
    let items = timeline(store, ws, "pat.client@globex.example").await;
    assert!(items.iter().all(|i| match i {
        TimelineItem::Email(e) if e.is_private => e.subject.as_deref() == Some("Private email"),
        TimelineItem::Email(e) => e.subject.is_none() && e.preview.is_none(),
        TimelineItem::Meeting(m) => m.subject.is_none(),
    }));
    // The next pass keeps to the level: nothing readable comes back.
    sync(store, ws, world).await;
    let stored = store.email_by_message_id(ws, "<pat-asks@globex.example>").await.unwrap().unwrap();
    assert_eq!((stored.subject.as_str(), stored.body_html.as_str()), ("", ""), "{label}");
}

/// A blocklist entry purges Pat, and later mail from Globex is never
/// stored.
async fn a_blocklist_entry_purges_pat_and_withholds_his_mail(s: &Scene<'_>) {
    let (label, store, ws, world, a, day) = (s.label, s.store, s.ws, s.world, &s.a, days_ago);
    let purged = store.add_block(ws, &BlockEntry::parse("@globex.example").unwrap(), "test").await.unwrap();
    assert_eq!((purged.emails, purged.meetings, purged.contacts), (4, 1, 1), "{label}");
    add_message(world, &s.a_id, json!({"folder": "inbox", "subject": "Pat again", "from": {"name": "Pat", "address": "pat.client@eu.globex.example"}, "to": [{"name": "A", "address": a}], "receivedDateTime": day(1), "internetMessageId": "<pat-again@globex.example>"})).await;
    let report = sync(store, ws, world).await;
    assert_eq!(report.mailboxes.iter().map(|m| m.withheld).sum::<u64>(), 1, "{label}");
    assert!(store.email_by_message_id(ws, "<pat-again@globex.example>").await.unwrap().is_none());
    assert!(store.contact_by_email(ws, &normalize("pat.client@globex.example").unwrap()).await.unwrap().is_none());
}

/// Excluding B: B's mailbox goes, with what only B held.
async fn excluding_b_removes_bs_mailbox(s: &Scene<'_>) {
    let (label, store, ws, world) = (s.label, s.store, s.ws, s.world);
    store.exclude_mailbox(ws, &s.b_id, "test").await.unwrap();
    sync(store, ws, world).await;
    let mailboxes = store.mailboxes(ws).await.unwrap();
    assert!(mailboxes.iter().all(|m| m.user_id != s.b_id), "{label}: B is not synced again");
}

#[tokio::test]
async fn auto_creation_follows_each_policy() {
    let mut found: Vec<(AutoCreate, BTreeSet<String>)> = Vec::new();
    for policy in [AutoCreate::None, AutoCreate::Sent, AutoCreate::SentAndReceived] {
        let mut per_backend = Vec::new();
        for (label, store) in stores().await {
            let world = World::new().await;
            let ws = store.ensure_workspace("default").await.unwrap();
            let settings = PrivacySettings { auto_create: policy, ..PrivacySettings::default() };
            store.set_privacy_settings(ws, settings, "test").await.unwrap();
            sync(&store, ws, &world).await;
            let contacts =
                store.contacts(ws, &ContactListQuery { limit: 1000, ..ContactListQuery::default() }).await.unwrap();
            let domains: HashSet<String> =
                store.tenant_domains(ws).await.unwrap().into_iter().map(|d| d.name.to_lowercase()).collect();
            let mut addresses = BTreeSet::new();
            for c in &contacts {
                assert_eq!(c.source, ContactSource::Auto);
                assert!(!c.name.trim().is_empty(), "{label}: a guessed name");
                for e in &c.emails {
                    let a = normalize(e).unwrap();
                    assert!(!tac_core::contacts::is_role_address(&a), "{label}: role address {e} auto-created");
                    assert!(
                        !domains.iter().any(|d| a.domain() == d || a.domain().ends_with(&format!(".{d}"))),
                        "{label}: internal {e}"
                    );
                    if !tac_core::contacts::is_free_mail_domain(a.domain()) {
                        assert!(c.company.is_some(), "{label}: {e} has a work domain but no company");
                    }
                    addresses.insert(e.clone());
                }
                let items = store.timeline(ws, c.id, &TimelineQuery::default(), Utc::now()).await.unwrap();
                assert!(!items.items.is_empty(), "{label}: {} was created from mail, so it has history", c.name);
            }
            per_backend.push(addresses);
        }
        assert_eq!(per_backend[0], per_backend[1], "{policy:?}: both backends create the same contacts");
        found.push((policy, per_backend.remove(0)));
    }
    let (none, sent, both) = (&found[0].1, &found[1].1, &found[2].1);
    assert!(none.is_empty(), "policy none creates nobody");
    assert!(!sent.is_empty(), "the organisation writes to external people");
    assert!(sent.is_subset(both) && both.len() > sent.len(), "sent_and_received adds the people who wrote to us");
}
