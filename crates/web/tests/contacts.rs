//! The contacts pages over HTTP against a real SQLite store seeded through
//! the Store API (a directory, synced mail and meetings, contacts): the
//! list, the profile and its timeline paging, emails and their sandboxed
//! bodies, meetings, companies, add/edit forms and CSV import.

mod common;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::fixtures::{self, attendee, contact, participant};
use common::{Page, Portal};
use tac_core::privacy::Visibility;
use tac_core::records::{Direction, EmailCopy, EmailRecord, MeetingCopy, MeetingRecord, ParticipantRole};
use tac_core::timeline::{TimelineCursor, TimelineItem};
use tac_store::{ContactId, MailboxId, PrivacySettings, Role, Store, SyncCursor, TimelineQuery, WorkspaceId};

const MEMBER: &str = "member@contoso.com";

/// Contoso's directory (Ann, Bob) and domain; returns their mailboxes.
async fn directory(store: &Store, ws: WorkspaceId) -> (MailboxId, MailboxId) {
    common::fixtures::directory(store, ws, "contoso.com").await;
    let ann = store.upsert_mailbox(ws, "u-ann", "ann@contoso.com").await.unwrap();
    let bob = store.upsert_mailbox(ws, "u-bob", "bob@contoso.com").await.unwrap();
    (ann, bob)
}

/// An email between `external` and Ann at `when`: from them when `inbound`.
fn email(id: &str, subject: &str, body: &str, when: DateTime<Utc>, external: &str, inbound: bool) -> EmailRecord {
    let (from, to) = if inbound {
        (
            participant(ParticipantRole::From, external, "Them"),
            participant(ParticipantRole::To, "ann@contoso.com", "Ann Lee"),
        )
    } else {
        (
            participant(ParticipantRole::From, "ann@contoso.com", "Ann Lee"),
            participant(ParticipantRole::To, external, "Them"),
        )
    };
    fixtures::email(&format!("<{id}@test>"), subject, body, when, vec![from, to])
}

async fn put_mail(store: &Store, ws: WorkspaceId, mailbox: MailboxId, emails: &[EmailRecord], page: u32) {
    let rows: Vec<(EmailRecord, EmailCopy)> = emails
        .iter()
        .map(|e| {
            let direction = if e.participants[0].address.ends_with("@contoso.com") {
                Direction::Outbound
            } else {
                Direction::Inbound
            };
            let copy = EmailCopy {
                graph_id: format!("{mailbox}-{}", e.internet_message_id),
                folder_id: "inbox".into(),
                direction,
                is_read: true,
            };
            (e.clone(), copy)
        })
        .collect();
    let cursor = SyncCursor::NextLink(format!("https://graph.example/mail?page={page}"));
    store
        .apply_mail_page(ws, mailbox, "inbox", &rows, &[], &[], &cursor, tac_store::RoundState::default())
        .await
        .unwrap();
}

fn meeting(uid: &str, subject: &str, start: DateTime<Utc>, external: &str) -> MeetingRecord {
    let organizer = participant(ParticipantRole::Organizer, "ann@contoso.com", "Ann Lee");
    let attendees =
        vec![attendee("bob@contoso.com", "Bob Roe", "accepted"), attendee(external, "Them", "tentativelyAccepted")];
    MeetingRecord {
        original_time_zone: Some("W. Europe Standard Time".into()),
        online_meeting_url: Some("https://teams.microsoft.com/l/meetup-join/abc".into()),
        ..fixtures::meeting(uid, subject, start, organizer, attendees)
    }
}

async fn put_meetings(store: &Store, ws: WorkspaceId, mailbox: MailboxId, meetings: Vec<MeetingRecord>, page: u32) {
    let rows: Vec<(MeetingRecord, MeetingCopy)> = meetings
        .into_iter()
        .map(|m| {
            let copy = MeetingCopy {
                graph_id: format!("ev-{}", m.ical_uid),
                response: "organizer".into(),
                is_organizer: true,
            };
            (m, copy)
        })
        .collect();
    let cursor = SyncCursor::NextLink(format!("https://graph.example/calendar?page={page}"));
    store.apply_calendar_page(ws, mailbox, &rows, &[], &[], &cursor).await.unwrap();
}

/// Every item of a contact's timeline, by the store's own paging.
async fn all_items(store: &Store, ws: WorkspaceId, id: ContactId) -> Vec<TimelineItem> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let query = TimelineQuery { limit: 500, cursor, ..TimelineQuery::default() };
        let page = store.timeline(ws, id, &query, Utc::now()).await.unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(TimelineCursor::decode(&next).unwrap()),
            None => return out,
        }
    }
}

fn email_id(items: &[TimelineItem], subject: &str) -> i64 {
    items
        .iter()
        .find_map(|i| match i {
            TimelineItem::Email(e) if e.internet_message_id == format!("<{subject}@test>") => {
                e.id.trim_start_matches("email-").parse().ok()
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no email {subject}"))
}

async fn signed_in_member(portal: &Portal) -> common::Browser {
    portal.signed_in_new(MEMBER, Role::Member).await
}

/// The `href` of the link whose text is `text`.
fn link(page: &Page, text: &str) -> Option<String> {
    let end = page.body.find(&format!(">{text}</a>"))?;
    let start = page.body[..end].rfind("href=\"")? + "href=\"".len();
    let href = &page.body[start..];
    Some(href[..href.find('"')?].replace("&amp;", "&").replace("&#38;", "&"))
}

fn position(page: &Page, needle: &str) -> usize {
    page.body.find(needle).unwrap_or_else(|| panic!("{needle} not in {}", page.body))
}

#[tokio::test]
async fn the_list_sorts_by_last_interaction_or_name_and_searches() {
    let portal = Portal::start().await;
    let (store, ws) = (&portal.store, portal.ws);
    let (ann, _) = directory(store, ws).await;
    let now = Utc::now();
    put_mail(
        store,
        ws,
        ann,
        &[
            email("a1", "From Amy", "<p>x</p>", now - Duration::days(30), "amy@fabrikam.com", true),
            email("z1", "From Zed", "<p>x</p>", now - Duration::days(1), "zed@northwind.com", true),
        ],
        1,
    )
    .await;
    contact(store, ws, "Amy Able", "amy@fabrikam.com").await;
    contact(store, ws, "Zed Zane", "zed@northwind.com").await;
    contact(store, ws, "Nina Never", "nina@tailspin.com").await;
    let mut browser = signed_in_member(&portal).await;

    let by_name = browser.get("/contacts").await;
    assert_eq!(by_name.status, 200);
    assert!(position(&by_name, "Amy Able") < position(&by_name, "Nina Never"));
    assert!(position(&by_name, "Nina Never") < position(&by_name, "Zed Zane"));
    assert!(by_name.body.contains("href=\"/contacts/new\"") && by_name.body.contains("href=\"/contacts/import\""));

    let recent = browser.get("/contacts?sort=recent").await;
    assert!(position(&recent, "Zed Zane") < position(&recent, "Amy Able"), "most recent first");
    assert!(position(&recent, "Amy Able") < position(&recent, "Nina Never"), "never last");
    assert!(recent.body.contains(&(now - Duration::days(1)).format("%Y-%m-%d").to_string()));

    let search = browser.get("/contacts?q=northwind").await;
    assert!(search.body.contains("Zed Zane") && !search.body.contains("Amy Able"), "{}", search.body);
    let nothing = browser.get("/contacts?q=%3Cscript%3E").await;
    assert!(nothing.body.contains("No contact matches “&#60;script&#62;”"), "{}", nothing.body);
    portal.stop().await;
}

#[tokio::test]
async fn the_profile_shows_the_summary_chart_and_timeline_newest_first_with_upcoming_meetings_on_top() {
    profile_shows_summary_chart_and_timeline(Portal::start().await).await;
}

#[tokio::test]
async fn the_profile_reads_the_same_on_postgres() {
    profile_shows_summary_chart_and_timeline(Portal::start_postgres().await).await;
}

async fn profile_shows_summary_chart_and_timeline(portal: Portal) {
    let now = Utc::now();
    let id = seed_zoe(&portal, now).await;
    let mut browser = signed_in_member(&portal).await;

    let profile = browser.get(&format!("/contacts/{}", id.0)).await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    assert_summary_and_chart(&profile.body, now);
    assert_timeline_upcoming_first_then_newest(&profile);
    filters_narrow_the_profile_timeline(&mut browser, id).await;
    meeting_and_company_pages_open_from_the_profile(&mut browser, &profile).await;
    portal.stop().await;
}

/// Zoe at Fabrikam, `now`: two emails with Ann (one also in Bob's
/// mailbox), a past, an upcoming and a cancelled meeting.
async fn seed_zoe(portal: &Portal, now: DateTime<Utc>) -> ContactId {
    let (store, ws) = (&portal.store, portal.ws);
    let (ann, bob) = directory(store, ws).await;
    let zoe = "zoe@fabrikam.com";
    put_mail(
        store,
        ws,
        ann,
        &[
            email("old", "Old proposal", "<p>x</p>", now - Duration::days(60), zoe, false),
            email("new", "Fresh question", "<p>x</p>", now - Duration::days(2), zoe, true),
        ],
        1,
    )
    .await;
    put_mail(store, ws, bob, &[email("new", "Fresh question", "<p>x</p>", now - Duration::days(2), zoe, true)], 1)
        .await;
    let mut cancelled = meeting("m-cancel", "Called off", now - Duration::days(10), zoe);
    cancelled.is_cancelled = true;
    put_meetings(
        store,
        ws,
        ann,
        vec![
            meeting("m-past", "Kick-off", now - Duration::days(5), zoe),
            meeting("m-next", "Review", now + Duration::days(3), zoe),
            cancelled,
        ],
        1,
    )
    .await;
    contact(store, ws, "Zoe Client", zoe).await
}

/// The profile's summary and its accessible SVG chart of this month.
fn assert_summary_and_chart(body: &str, now: DateTime<Utc>) {
    assert!(body.contains(&(now - Duration::days(2)).format("%Y-%m-%d %H:%M UTC").to_string()), "last interaction");
    assert!(body.contains(&(now + Duration::days(3)).format("%Y-%m-%d %H:%M UTC").to_string()), "next meeting");
    assert!(body.contains("Awaiting our reply for 2 days"), "{body}");
    assert!(body.contains("1 in the last 30 days, 2 in the last 90"), "emails 30/90: {body}");
    assert!(body.contains("2 in the last 30 days, 2 in the last 90"), "meetings 30/90 (the cancelled one counts)");
    assert!(body.contains("ann &#60;ann@contoso.com&#62; (4 in 90 days)"), "top team member: {body}");
    assert!(body.contains("/100"));
    assert!(body.contains("<svg class=\"activity-chart\"") && body.contains("role=\"img\""));
    assert!(body.contains("<title id=\"chart-title\">") && body.contains("<desc id=\"chart-desc\">"));
    assert!(body.contains("class=\"bar-email\"") && body.contains("class=\"bar-meeting\""));
    assert!(body.contains("2 emails and 3 meetings in all"), "{body}");
}

/// The timeline: upcoming first, then newest first, each card with its
/// details and each time with its instant for local-time.js.
fn assert_timeline_upcoming_first_then_newest(profile: &Page) {
    let body = &profile.body;
    let order = ["Review", "Fresh question", "Kick-off", "Called off", "Old proposal"].map(|s| position(profile, s));
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(position(profile, ">Upcoming<") < position(profile, "Review"));
    assert!(body.contains("Inbound email") && body.contains("Outbound email"));
    assert!(body.contains("ann@contoso.com, bob@contoso.com"), "both mailboxes of the email");
    assert!(
        body.contains("Bob Roe &#60;bob@contoso.com&#62;: Accepted")
            && body.contains("Them &#60;zoe@fabrikam.com&#62;: Tentative")
    );
    assert!(body.contains("href=\"https://teams.microsoft.com/l/meetup-join/abc\""), "join link");
    assert!(body.contains("Cancelled"));
    assert!(body.contains("Times are in <span class=\"tz-name\">UTC</span>"), "the zone a script may rename");
    let review = &body[position(profile, "Upcoming meeting")..position(profile, "Review")];
    assert!(review.contains("data-start=\"") && review.contains("data-end=\""), "{review}");
    assert!(body.contains("<script src=\"/static/local-time.js?v="));
}

/// Filters: meetings only; inbound only; one team member; words; a bad
/// date or member is a field error that keeps what was typed.
async fn filters_narrow_the_profile_timeline(browser: &mut common::Browser, id: ContactId) {
    let meetings = browser.get(&format!("/contacts/{}?kind=meeting", id.0)).await;
    assert!(meetings.body.contains("Kick-off") && !meetings.body.contains("Fresh question"));
    let inbound = browser.get(&format!("/contacts/{}?direction=inbound&kind=email", id.0)).await;
    assert!(inbound.body.contains("Fresh question") && !inbound.body.contains("Old proposal"));
    let by_bob = browser.get(&format!("/contacts/{}?member=bob%40contoso.com", id.0)).await;
    assert!(by_bob.body.contains("Fresh question") && !by_bob.body.contains("Old proposal"), "{}", by_bob.body);
    let searched = browser.get(&format!("/contacts/{}?q=proposal", id.0)).await;
    assert!(searched.body.contains("Old proposal") && !searched.body.contains("Fresh question"));
    let bad = browser.get(&format!("/contacts/{}?from=soon&member=eve%40example.com", id.0)).await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body.contains("`soon` is not a date") && bad.body.contains("is not a synced team mailbox"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("value=\"soon\""), "the typed value is kept");
    let foreign_cursor = browser.get(&format!("/contacts/{}?cursor=nope", id.0)).await;
    assert_eq!(foreign_cursor.status, 400);
}

/// The meeting's page, and the company page that merges its contacts'
/// timelines, through the profile's links.
async fn meeting_and_company_pages_open_from_the_profile(browser: &mut common::Browser, profile: &Page) {
    let meeting_link = link(profile, "Review").expect("a link to the meeting");
    let meeting_page = browser.get(&meeting_link).await;
    assert_eq!(meeting_page.status, 200);
    assert!(meeting_page.body.contains("Upcoming meeting") && meeting_page.body.contains("Join the Teams meeting"));
    assert!(
        meeting_page.body.contains("<td>Bob Roe &#60;bob@contoso.com&#62;</td><td>Accepted</td>"),
        "{}",
        meeting_page.body
    );
    assert!(meeting_page.body.contains("(times in <span class=\"tz-name\">UTC</span>)"), "{}", meeting_page.body);

    let company = link(profile, "Fabrikam").expect("a company link");
    let company_page = browser.get(&company).await;
    assert_eq!(company_page.status, 200);
    assert!(company_page.body.contains("Zoe Client") && company_page.body.contains("Fresh question"));
}

#[tokio::test]
async fn older_links_reach_every_item_exactly_once_and_htmx_gets_the_next_items_only() {
    older_links_reach_every_item_once(Portal::start().await).await;
}

#[tokio::test]
async fn older_links_reach_every_item_exactly_once_on_postgres() {
    older_links_reach_every_item_once(Portal::start_postgres().await).await;
}

async fn older_links_reach_every_item_once(portal: Portal) {
    let (store, ws) = (&portal.store, portal.ws);
    let (ann, _) = directory(store, ws).await;
    let now = Utc::now();
    // 60 emails, three to a timestamp, so pages split inside a tie. Whole
    // seconds, as Graph sends them.
    let now = now.trunc_subsecs(0);
    let emails: Vec<EmailRecord> = (0..60)
        .map(|n| {
            let when = now - Duration::hours(2 * i64::from(n / 3) + 1);
            email(&format!("e{n:02}"), &format!("Message {n:02}"), "<p>x</p>", when, "zoe@fabrikam.com", n % 2 == 0)
        })
        .collect();
    put_mail(store, ws, ann, &emails, 1).await;
    let id = contact(store, ws, "Zoe Client", "zoe@fabrikam.com").await;
    let mut browser = signed_in_member(&portal).await;

    let mut seen: Vec<String> = Vec::new();
    let mut next = Some(format!("/contacts/{}", id.0));
    let mut pages = 0;
    while let Some(path) = next.take() {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        for n in 0..60 {
            let subject = format!(">Message {n:02}<");
            if page.body.contains(&subject) {
                seen.push(subject);
            }
        }
        next = link(&page, "Older");
        pages += 1;
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(pages, 3, "25 + 25 + 10");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    let missing: Vec<String> = (0..60).map(|n| format!(">Message {n:02}<")).filter(|s| !unique.contains(s)).collect();
    assert_eq!((seen.len(), unique.len()), (60, 60), "every item exactly once; missing {missing:?}");

    // htmx: the fragment carries the next items and an out-of-band Older link.
    let first = browser.get(&format!("/contacts/{}", id.0)).await;
    assert!(first.body.contains("hx-get=\"/contacts/") && first.body.contains("hx-target=\"#timeline-items\""));
    let fragment_path = {
        let start = position(&first, "hx-get=\"") + "hx-get=\"".len();
        first.body[start..start + first.body[start..].find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&")
    };
    let fragment = browser.get(&fragment_path).await;
    assert_eq!(fragment.status, 200);
    assert!(!fragment.body.contains("<html"), "a fragment, not a page");
    assert!(fragment.body.contains("hx-swap-oob=\"true\"") && fragment.body.contains(">Message "));
    portal.stop().await;
}

#[tokio::test]
async fn a_private_email_reads_private_email_and_its_body_is_refused() {
    let portal = Portal::start().await;
    let (store, ws) = (&portal.store, portal.ws);
    let (ann, _) = directory(store, ws).await;
    let now = Utc::now();
    let mut secret =
        email("secret", "Merger plans", "<p>Top secret</p>", now - Duration::days(1), "zoe@fabrikam.com", true);
    secret.is_private = true;
    put_mail(store, ws, ann, &[secret], 1).await;
    let id = contact(store, ws, "Zoe Client", "zoe@fabrikam.com").await;
    let secret_id = email_id(&all_items(store, ws, id).await, "secret");
    let mut browser = signed_in_member(&portal).await;

    let profile = browser.get(&format!("/contacts/{}", id.0)).await;
    assert!(profile.body.contains("Private email") && !profile.body.contains("Merger plans"), "{}", profile.body);
    assert!(!profile.body.contains("Preview of"));
    let page = browser.get(&format!("/emails/{secret_id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Private email") && !page.body.contains("Merger plans"));
    assert!(page.body.contains("This email is private"), "the store's explanation: {}", page.body);
    assert!(!page.body.contains("<iframe"), "no frame for a hidden body");
    let body = browser.get(&format!("/emails/{secret_id}/body")).await;
    assert_eq!(body.status, 403);
    assert!(!body.body.contains("Top secret"));

    // At the `subject` level, a normal email shows its subject but not its body.
    put_mail(store, ws, ann, &[email("plain", "Quarterly numbers", "<p>Body</p>", now, "zoe@fabrikam.com", true)], 2)
        .await;
    let plain = email_id(&all_items(store, ws, id).await, "plain");
    let metadata = PrivacySettings { visibility: Visibility::Metadata, ..PrivacySettings::default() };
    store.set_privacy_settings(ws, metadata, "test").await.unwrap();
    let hidden = browser.get(&format!("/emails/{plain}")).await;
    assert!(hidden.body.contains("Subject hidden") && !hidden.body.contains("Quarterly numbers"), "{}", hidden.body);
    assert!(hidden.body.contains("privacy settings hide email bodies"));
    portal.stop().await;
}

#[tokio::test]
async fn a_hostile_body_is_served_sanitised_under_a_strict_csp_in_a_sandboxed_frame() {
    let portal = Portal::start().await;
    let (store, ws) = (&portal.store, portal.ws);
    let (ann, _) = directory(store, ws).await;
    let hostile = r#"<p>Hello <b>there</b></p><script>alert(1)</script><img src="x" onerror="alert(2)">
        <a href="javascript:alert(3)">click</a><img src="https://tracker.example/pixel.gif" alt="">"#;
    put_mail(store, ws, ann, &[email("evil", "Hostile", hostile, Utc::now(), "zoe@fabrikam.com", true)], 1).await;
    let id = contact(store, ws, "Zoe Client", "zoe@fabrikam.com").await;
    let email = email_id(&all_items(store, ws, id).await, "evil");
    let mut browser = signed_in_member(&portal).await;

    let page = browser.get(&format!("/emails/{email}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("<iframe class=\"email-body\" sandbox src=\"/emails/{email}/body\"")),
        "{}",
        page.body
    );
    assert!(!page.body.contains("allow-scripts") && !page.body.contains("allow-same-origin"));
    assert!(page.body.contains("1 remote image was blocked"), "{}", page.body);
    assert!(page.body.contains(&format!("href=\"/emails/{email}?images=1\"")));
    assert!(
        page.header("content-security-policy").contains("frame-ancestors 'none'"),
        "the page itself is not framable"
    );

    let body = browser.get(&format!("/emails/{email}/body")).await;
    assert_eq!(body.status, 200);
    let lower = body.body.to_lowercase();
    for bad in ["<script", "onerror", "javascript:", "tracker.example"] {
        assert!(!lower.contains(bad), "{bad} in {}", body.body);
    }
    assert!(body.body.contains("<b>there</b>"));
    let csp = body.header("content-security-policy");
    for directive in
        ["default-src 'none'", "img-src data: cid:", "style-src 'unsafe-inline'", "frame-ancestors 'self'", "sandbox"]
    {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("script-src"), "no scripts at all: {csp}");
    assert_eq!(body.header("x-frame-options"), "SAMEORIGIN");
    assert_eq!(body.header("x-content-type-options"), "nosniff");

    let with_images = browser.get(&format!("/emails/{email}/body?images=1")).await;
    assert!(with_images.body.contains("tracker.example"), "remote images on request");
    assert!(with_images.header("content-security-policy").contains("img-src data: cid: https:"));
    assert!(!with_images.body.to_lowercase().contains("<script"));
    let shown = browser.get(&format!("/emails/{email}?images=1")).await;
    assert!(
        shown.body.contains(&format!("src=\"/emails/{email}/body?images=1\""))
            && shown.body.contains("Block remote images")
    );
    let text = browser.get(&format!("/emails/{email}?view=text")).await;
    assert!(text.body.contains("<pre class=\"email-text\">") && text.body.contains("Hello"));
    assert!(!text.body.contains("<script>alert"));
    portal.stop().await;
}

#[tokio::test]
async fn ids_of_another_workspace_or_not_numbers_are_not_found() {
    let portal = Portal::start().await;
    let (store, ws) = (&portal.store, portal.ws);
    directory(store, ws).await;
    let other = store.ensure_workspace("other").await.unwrap();
    let (theirs, _) = directory(store, other).await;
    put_mail(store, other, theirs, &[email("x", "Theirs", "<p>x</p>", Utc::now(), "zoe@fabrikam.com", true)], 1).await;
    put_meetings(store, other, theirs, vec![meeting("mx", "Their meeting", Utc::now(), "zoe@fabrikam.com")], 1).await;
    let foreign = contact(store, other, "Zoe Client", "zoe@fabrikam.com").await;
    let items = all_items(store, other, foreign).await;
    let email = email_id(&items, "x");
    let meeting_id = items
        .iter()
        .find_map(|i| match i {
            TimelineItem::Meeting(m) => Some(m.id.trim_start_matches("meeting-").to_owned()),
            _ => None,
        })
        .unwrap();
    let company = store.contact(other, foreign).await.unwrap().company.unwrap().id;
    let mut browser = signed_in_member(&portal).await;
    for path in [
        format!("/contacts/{}", foreign.0),
        format!("/contacts/{}/edit", foreign.0),
        format!("/contacts/{}/timeline", foreign.0),
        format!("/emails/{email}"),
        format!("/emails/{email}/body"),
        format!("/meetings/{meeting_id}"),
        format!("/companies/{}", company.0),
        "/contacts/abc".to_owned(),
        "/emails/email-1x".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(!page.body.contains("Theirs") && !page.body.contains("Their meeting"));
    }
    let deleted = browser.submit("/contacts/new", &format!("/contacts/{}/delete", foreign.0), &[]).await;
    assert_eq!(deleted.status, 404);
    assert!(store.contact(other, foreign).await.is_ok(), "nothing deleted in the other workspace");
    portal.stop().await;
}

#[tokio::test]
async fn adding_and_editing_a_contact_shows_errors_at_the_field_and_keeps_what_was_typed() {
    let portal = Portal::start().await;
    let (store, ws) = (&portal.store, portal.ws);
    let (ann, _) = directory(store, ws).await;
    put_mail(store, ws, ann, &[email("h", "History", "<p>x</p>", Utc::now(), "kim@fabrikam.com", true)], 1).await;
    let taken = contact(store, ws, "Taken Person", "taken@fabrikam.com").await;
    let mut browser = signed_in_member(&portal).await;

    let form = browser.get("/contacts/new").await;
    assert_eq!(form.status, 200);
    adding_refuses_each_mistake_at_its_field(&mut browser, taken).await;

    // A good one: created with its history, by a member.
    let created = browser
        .submit_form(
            "/contacts/new",
            &[("name", "Kim Lee"), ("emails", "KIM@fabrikam.com\nkim.lee@gmail.com"), ("company", "")],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let location = created.header("location").to_owned();
    let profile = browser.get(&location).await;
    assert!(profile.body.contains("Kim Lee") && profile.body.contains("History"), "history linked: {}", profile.body);
    assert!(profile.body.contains("kim@fabrikam.com, kim.lee@gmail.com"));

    let edit_path = format!("{location}/edit");
    editing_refuses_each_mistake_at_its_field(&mut browser, &edit_path).await;

    // A good edit: renamed, an address swapped, a company set.
    let saved = browser
        .submit_form(
            &edit_path,
            &[
                ("name", "Kim Renamed"),
                ("emails", "kim@fabrikam.com\nkim@northwind.com"),
                ("company", "Fabrikam Group"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let id = ContactId(location.trim_start_matches("/contacts/").parse().unwrap());
    let row = store.contact(ws, id).await.unwrap();
    assert_eq!(row.name, "Kim Renamed");
    assert_eq!(row.emails, ["kim@fabrikam.com", "kim@northwind.com"]);
    assert_eq!(row.company.map(|c| c.name).as_deref(), Some("Fabrikam Group"));

    // Deleting needs the form's CSRF token and leaves the list.
    let no_token = browser.post(&format!("{location}/delete"), &[]).await;
    assert_eq!(no_token.status, 403);
    let deleted = browser.submit(&location, &format!("{location}/delete"), &[]).await;
    assert_eq!(deleted.status, 303);
    assert!(store.contact(ws, id).await.is_err());
    portal.stop().await;
}

/// A bad address, then an internal one, then one in use (`taken`'s): each
/// at the emails field, typed values kept; then a name too long.
async fn adding_refuses_each_mistake_at_its_field(browser: &mut common::Browser, taken: ContactId) {
    let bad = browser
        .submit_form(
            "/contacts/new",
            &[("name", "Kim Lee"), ("emails", "kim@fabrikam.com\nnot-an-address"), ("company", "Fabrikam Ltd")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("`not-an-address` is not an email address"), "{}", bad.body);
    assert!(bad.body.contains("value=\"Kim Lee\"") && bad.body.contains("value=\"Fabrikam Ltd\""));
    assert!(bad.body.contains("kim@fabrikam.com\nnot-an-address</textarea>"));
    assert!(bad.body.contains("id=\"emails-error\""));

    let internal = browser.submit_form("/contacts/new", &[("name", "Kim Lee"), ("emails", "bob@contoso.com")]).await;
    assert_eq!(internal.status, 422);
    assert!(internal.body.contains("bob@contoso.com belongs to your organisation"), "{}", internal.body);

    let in_use = browser.submit_form("/contacts/new", &[("name", "Kim Lee"), ("emails", "Taken@Fabrikam.com")]).await;
    assert_eq!(in_use.status, 422);
    assert!(in_use.body.contains("taken@fabrikam.com already belongs to another contact"), "{}", in_use.body);
    assert!(in_use.body.contains(&format!("href=\"/contacts/{}\"", taken.0)));
    assert!(in_use.body.contains("value=\"Kim Lee\""));

    let long_name = "x".repeat(400);
    let too_long = browser.submit_form("/contacts/new", &[("name", &long_name), ("emails", "kim@fabrikam.com")]).await;
    assert_eq!(too_long.status, 422);
    assert!(too_long.body.contains("id=\"name-error\""), "{}", too_long.body);
}

/// Editing: the form at `edit_path` is filled in; an address in use is
/// refused at the field with the typed values, and so are empty fields.
async fn editing_refuses_each_mistake_at_its_field(browser: &mut common::Browser, edit_path: &str) {
    let edit = browser.get(edit_path).await;
    assert!(
        edit.body.contains("value=\"Kim Lee\"") && edit.body.contains("kim@fabrikam.com\nkim.lee@gmail.com</textarea>")
    );
    let refused = browser
        .submit_form(
            edit_path,
            &[("name", "Kim Renamed"), ("emails", "kim@fabrikam.com\ntaken@fabrikam.com"), ("company", "Fabrikam")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("taken@fabrikam.com already belongs to another contact"));
    assert!(refused.body.contains("value=\"Kim Renamed\""));
    let empty = browser.submit_form(edit_path, &[("name", " "), ("emails", "")]).await;
    assert_eq!(empty.status, 422);
    assert!(
        empty.body.contains("Enter the contact&#39;s name.") || empty.body.contains("Enter the contact's name."),
        "{}",
        empty.body
    );
    assert!(empty.body.contains("Enter at least one email address."));
}

#[tokio::test]
async fn csv_import_reports_bad_lines_imports_the_good_ones_and_never_twice() {
    let portal = Portal::start().await;
    let (store, ws) = (&portal.store, portal.ws);
    directory(store, ws).await;
    contact(store, ws, "Already Here", "here@fabrikam.com").await;
    let mut browser = signed_in_member(&portal).await;
    let csv = "Name,E-mail Address,Company\n\
               Ann Buyer,ann.buyer@fabrikam.com,Fabrikam\n\
               Nobody,not-an-address,\n\
               Colleague,bob@contoso.com,\n\
               Here Again,here@fabrikam.com,\n\
               Ben Seller,ben@northwind.com,Northwind\n";

    let form = browser.get("/contacts/import").await;
    assert_eq!(form.status, 200);
    let first = browser.submit_form("/contacts/import", &[("csv", csv)]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("Imported: 2 created, 1 updated, 0 already there, 2 failed"), "{}", first.body);
    assert!(first.body.contains("Line 3:") && first.body.contains("not-an-address"));
    assert!(first.body.contains("Line 4: bob@contoso.com belongs to your organisation"), "{}", first.body);
    assert!(first.body.contains("Ann Buyer,ann.buyer@fabrikam.com"), "the text is kept to fix the bad lines");

    let again = browser.submit_form("/contacts/import", &[("csv", csv)]).await;
    assert!(again.body.contains("Imported: 0 created, 0 updated, 3 already there, 2 failed"), "{}", again.body);
    let list = browser.get("/contacts").await;
    assert_eq!(list.body.matches(">Ann Buyer<").count(), 1, "imported once");

    let no_email_column = browser.submit_form("/contacts/import", &[("csv", "Name\nAnn\n")]).await;
    assert_eq!(no_email_column.status, 422);
    assert!(no_email_column.body.contains("id=\"csv-error\"") && no_email_column.body.contains("no email column"));
    portal.stop().await;
}
