//! Timeline, search and summary benchmarks.
//!
//! For SQLite (a file in a temp dir), then PostgreSQL when
//! `TAC_TEST_POSTGRES_URL` is set (in its own database `tac_bench_<pid>`,
//! dropped at the end):
//! 1. Generates a workspace straight into the database, in large
//!    transactions of multi-row inserts through the normal tables (so the
//!    FTS5 triggers and the tsvector columns index every row): 200 internal
//!    users with mailboxes, 20,000 external people over 2,000 domains,
//!    `TAC_BENCH_EMAILS` emails (default 1,000,000) over two years with 2–5
//!    participants and one copy each, and a tenth as many meetings with 2–6
//!    attendees and one copy each. One "whale" customer is on 20,000 of them
//!    under one address and on another 20,000 under a second address.
//! 2. Creates contacts through `Store::create_contact`: the whale (timed)
//!    and 3,000 other people.
//! 3. Measures the whale's first timeline page with varied filters, search
//!    over everything, the whale's summary, and the re-match when the
//!    whale's second address is added; prints p50/p95/p99/max and a
//!    PASS/FAIL line per target.
//!
//! Run with `cargo bench -p tac-store --bench timeline`. `TAC_BENCH_EMAILS`
//! shrinks the store for quick runs (the whale shrinks with it),
//! `TAC_BENCH_ONLY_SQLITE` skips PostgreSQL (`TAC_BENCH_ONLY_POSTGRES`,
//! SQLite), and `TAC_BENCH_KEEP` keeps the
//! SQLite file and the PostgreSQL database for study (drop it by hand), and
//! `TAC_BENCH_DB=URL` measures such a kept database again without
//! generating it.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sqlx::QueryBuilder;
use sqlx::query_builder::Separated;
use std::collections::HashSet;
use std::process::Command;
use std::time::Instant;
use tac_core::address::normalize;
use tac_core::records::{Direction, DirectoryUser, TenantDomain};
use tac_core::timeline::ActivityKind;
use tac_store::{ContactId, ContactSource, NewContact, Store, TimelineQuery, Viewer, WorkspaceId};

/// Searches run as a member without a linked mailbox: the internal-only
/// rule applies to every hit.
const MEMBER: Viewer = Viewer { admin: false, user_id: None };
const INTERNAL_USERS: usize = 200;
const EXTERNAL_PEOPLE: usize = 20_000;
const DOMAINS: usize = 2_000;
/// Contacts created besides the whale, for realism: the first few through
/// `Store::create_contact` (timed), the rest in bulk with the store's own
/// matching SQL.
const OTHER_CONTACTS: usize = 3_000;
const API_CONTACTS: usize = 20;
/// Emails generated and inserted at a time, and per transaction.
const BATCH: u64 = 10_000;
const EMAILS_PER_TRANSACTION: u64 = 100_000;
/// Bind parameters per statement, under SQLite's 32,766.
const MAX_BINDS: usize = 30_000;
/// The whale is on this many emails per thousand, and on this many meetings
/// per hundred, under each of its two addresses: 18,000 + 2,000 at full size.
const WHALE_EMAILS_PER_MILLE: u64 = 18;
const WHALE_MEETINGS_PER_CENT: u64 = 2;
const WHALE: &str = "whale@bigcustomer.com";
const WHALE_2: &str = "w.hale@bigcustomer-mail.com";

const TIMELINE_RUNS: usize = 200;
const SEARCH_RUNS: usize = 100;
const SUMMARY_RUNS: usize = 200;

/// Targets, in milliseconds.
const TIMELINE_P99_MS: f64 = 20.0;
const SEARCH_P99_MS: f64 = 100.0;
const SUMMARY_P99_MS: f64 = 20.0;
const REMATCH_MS: f64 = 1_000.0;

// ---- the words mail is made of ----------------------------------------------

const STOP_WORDS: &str = "the to and of a in for is on that with we you this be are as at it will our from by have \
    please can an or if your not all i us let me know thanks hi regards best just so";

const CONTENT_WORDS: &str = "meeting project proposal contract invoice budget schedule team review update report \
    plan quarter customer client order delivery shipment payment price quote discount renewal license support \
    issue ticket request feedback question answer call agenda minutes notes presentation slides document draft \
    version approval signature deadline timeline milestone launch release product feature roadmap strategy market \
    sales revenue forecast pipeline account partner vendor supplier service subscription onboarding training \
    workshop demo trial evaluation requirement specification design architecture integration migration deployment \
    infrastructure security compliance audit policy risk legal terms agreement amendment scope estimate cost \
    savings investment growth target performance metrics dashboard analysis data insight research survey results \
    summary overview status progress blocker dependency resource staffing hiring interview candidate offer \
    onboarding office travel visit conference event webinar campaign lead opportunity prospect follow reminder \
    confirm reschedule cancel postpone available availability calendar invite slot morning afternoon tomorrow \
    monday tuesday wednesday thursday friday week month year january february march april may june july august \
    september october november december spring summer autumn winter europe london paris berlin madrid amsterdam \
    dublin munich zurich vienna warsaw prague stockholm oslo copenhagen helsinki lisbon rome milan brussels \
    warehouse logistics inventory stock procurement purchase catalog pricing tier enterprise premium standard \
    basic package bundle upgrade downgrade migration backup recovery outage incident escalation priority urgent \
    critical resolved pending open closed approved rejected signed sent received attached enclosed shared \
    reviewed updated revised final preliminary internal external confidential board committee director manager \
    engineer analyst consultant specialist coordinator assistant executive officer president founder owner \
    shareholder investor bank loan credit debit balance statement transfer wire currency euro dollar pound \
    tax vat receipt expense reimbursement claim insurance policyholder coverage premium renewal benefit pension \
    payroll salary bonus commission quota territory region district branch store outlet channel distributor \
    reseller wholesale retail ecommerce website portal app mobile cloud server network database api platform \
    software hardware device laptop printer license seat user admin password access permission account login \
    report export import spreadsheet template form checklist guideline procedure process workflow automation \
    efficiency quality standard certification iso inspection testing validation verification sample prototype \
    pilot rollout phase stage sprint backlog story epic task owner assignee reviewer stakeholder sponsor \
    champion decision maker budget holder procurement legal finance marketing engineering operations hr it \
    facilities catering parking reception security badge visitor guest lunch dinner coffee breakfast hotel \
    flight train taxi booking reservation itinerary agenda venue room capacity projector whiteboard screen \
    recording transcript follow-up action items next steps owner due date";

const FIRST_NAMES: &str = "anna ben carla david emma felix grace henry irene jack kate liam mia noah olivia paul \
    quinn rosa sam tara umar vera will xena yusuf zoe adam bella chris diana erik fiona george hanna ivan julia \
    karl lena marco nina oscar petra rafael sofia tom ulla victor wendy alex brigitte claude dora elias frida \
    gustav helga igor jana";

const LAST_NAMES: &str = "smith jones brown miller davis garcia wilson moore taylor anderson thomas jackson white \
    harris martin thompson martinez robinson clark lewis lee walker hall allen young king wright lopez hill scott \
    green adams baker nelson carter mitchell perez roberts turner phillips campbell parker evans edwards collins \
    stewart morris rogers reed cook morgan bell murphy bailey rivera cooper richardson cox howard ward torres \
    peterson gray ramirez james watson brooks kelly sanders price bennett wood barnes ross henderson coleman \
    jenkins perry powell long";

const DOMAIN_PREFIXES: &str = "north south east west blue green red silver golden alpine summit river lake ocean \
    harbor forest meadow stone iron steel bright clear swift prime nova stellar lunar solar polar urban metro \
    rapid smart true first grand royal global united pacific atlantic central coastal mountain valley prairie \
    desert island canyon harbour";

const DOMAIN_SUFFIXES: &str = "tech logistics systems labs solutions partners group holdings industries foods \
    pharma energy motors capital ventures media health retail freight consulting networks software analytics \
    robotics materials chemicals textiles builders engineering dynamics works supply trading finance insurance \
    realty studios hotels airlines marine";

/// A splitmix64 generator: deterministic, so every backend gets the same data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Words drawn with Zipf frequencies (rank r has weight 1/r).
struct Zipf {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(words: Vec<String>) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Zipf { words, cumulative }
    }

    fn pick(&self, r: &mut Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let at = r.unit() * total;
        let i = self.cumulative.partition_point(|c| *c < at).min(self.words.len() - 1);
        &self.words[i]
    }
}

struct Vocabulary {
    stop: Zipf,
    /// Content words by rank: the hand-written list first, then made-up
    /// names (projects, products, places) as the long tail.
    content: Zipf,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        let mut seen = HashSet::new();
        let mut content: Vec<String> =
            CONTENT_WORDS.split_whitespace().filter(|w| seen.insert(w.to_string())).map(str::to_owned).collect();
        let syllables = [
            "ka", "lo", "ri", "ven", "tor", "mi", "sa", "del", "quin", "ar", "bo", "zu", "ne", "fa", "gri", "hol",
            "ple", "tam", "cor", "vy", "dan", "es", "ul", "om", "pra", "sel", "tri", "wen", "xo", "yar",
        ];
        let mut r = Rng::new(42);
        while content.len() < 4_000 {
            let n = 2 + r.below(2);
            let word: String = (0..n).map(|_| syllables[r.below(syllables.len())]).collect();
            if seen.insert(word.clone()) {
                content.push(word);
            }
        }
        Vocabulary {
            stop: Zipf::new(STOP_WORDS.split_whitespace().map(str::to_owned).collect()),
            content: Zipf::new(content),
        }
    }

    /// About `len` characters of sentences, a third of the words stop words.
    fn text(&self, r: &mut Rng, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        let mut in_sentence = 0;
        while out.len() < len {
            let word = if r.chance(35) { self.stop.pick(r) } else { self.content.pick(r) };
            if in_sentence == 0 {
                let mut chars = word.chars();
                if let Some(c) = chars.next() {
                    out.extend(c.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(word);
            }
            in_sentence += 1;
            if in_sentence >= 6 + r.below(10) {
                out.push_str(". ");
                in_sentence = 0;
            } else {
                out.push(' ');
            }
        }
        out.truncate(out.trim_end().len());
        out
    }

    fn subject(&self, r: &mut Rng) -> String {
        let n = 2 + r.below(4);
        let words: Vec<&str> = (0..n).map(|_| self.content.pick(r)).collect();
        let mut s = match r.below(10) {
            0..=3 => "Re: ".to_owned(),
            4 => "Fwd: ".to_owned(),
            _ => String::new(),
        };
        let mut first = true;
        for w in words {
            if !first {
                s.push(' ');
            }
            if first {
                let mut chars = w.chars();
                if let Some(c) = chars.next() {
                    s.extend(c.to_uppercase());
                    s.push_str(chars.as_str());
                }
                first = false;
            } else {
                s.push_str(w);
            }
        }
        s
    }
}

// ---- the workspace ------------------------------------------------------------

struct Person {
    name: String,
    address: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Internal(usize),
    External(usize),
    /// The whale under its first (0) or second (1) address.
    Whale(usize),
}

struct World {
    now: DateTime<Utc>,
    emails: u64,
    meetings: u64,
    internal: Vec<Person>,
    external: Vec<Person>,
    domains: Vec<String>,
    by_domain: Vec<Vec<usize>>,
    whale: [Person; 2],
    /// The whale's account team: six internal users who hold most of its mail.
    account_team: [usize; 6],
    /// Mailbox ids, by internal user.
    mailboxes: Vec<i64>,
    words: Vocabulary,
}

fn words_of(list: &str) -> Vec<&str> {
    list.split_whitespace().collect()
}

fn title(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

impl World {
    fn new(emails: u64, now: DateTime<Utc>) -> World {
        let first = words_of(FIRST_NAMES);
        let last = words_of(LAST_NAMES);
        let mut r = Rng::new(7);
        let mut taken = HashSet::new();
        let mut person = |r: &mut Rng, domain: &str| {
            let (f, l) = (first[r.below(first.len())], last[r.below(last.len())]);
            let mut address = format!("{f}.{l}@{domain}");
            let mut n = 2;
            while !taken.insert(address.clone()) {
                address = format!("{f}.{l}{n}@{domain}");
                n += 1;
            }
            Person { name: format!("{} {}", title(f), title(l)), address }
        };
        let internal: Vec<Person> = (0..INTERNAL_USERS).map(|_| person(&mut r, "contoso.com")).collect();
        let prefixes = words_of(DOMAIN_PREFIXES);
        let suffixes = words_of(DOMAIN_SUFFIXES);
        assert!(prefixes.len() * suffixes.len() >= DOMAINS, "enough domain names");
        let domains: Vec<String> = (0..DOMAINS)
            .map(|d| format!("{}{}.com", prefixes[d % prefixes.len()], suffixes[d / prefixes.len()]))
            .collect();
        let mut by_domain = vec![Vec::new(); DOMAINS];
        let external: Vec<Person> = (0..EXTERNAL_PEOPLE)
            .map(|p| {
                let d = p % DOMAINS;
                by_domain[d].push(p);
                // One in twenty writes from a free-mail address.
                let domain = match p % 40 {
                    19 => "gmail.com",
                    39 => "outlook.com",
                    _ => &domains[d],
                };
                person(&mut r, domain)
            })
            .collect();
        World {
            now,
            emails,
            meetings: emails / 10,
            internal,
            external,
            domains,
            by_domain,
            whale: [
                Person { name: "Wanda Hale".into(), address: WHALE.into() },
                Person { name: "Wanda Hale".into(), address: WHALE_2.into() },
            ],
            account_team: [3, 17, 42, 88, 120, 161],
            mailboxes: Vec::new(),
            words: Vocabulary::new(),
        }
    }

    fn person(&self, who: Who) -> &Person {
        match who {
            Who::Internal(i) => &self.internal[i],
            Who::External(i) => &self.external[i],
            Who::Whale(i) => &self.whale[i],
        }
    }

    fn start(&self) -> DateTime<Utc> {
        self.now - Duration::days(730)
    }

    fn whale_of_email(i: u64) -> Option<usize> {
        match i % 1000 {
            r if r < WHALE_EMAILS_PER_MILLE => Some(0),
            r if r < 2 * WHALE_EMAILS_PER_MILLE => Some(1),
            _ => None,
        }
    }

    fn whale_of_meeting(j: u64) -> Option<usize> {
        match j % 100 {
            r if r < WHALE_MEETINGS_PER_CENT => Some(0),
            r if r < 2 * WHALE_MEETINGS_PER_CENT => Some(1),
            _ => None,
        }
    }

    /// How many items each of the whale's addresses is on.
    fn whale_items(&self) -> u64 {
        let emails = (0..self.emails).filter(|i| World::whale_of_email(*i) == Some(0)).count();
        let meetings = (0..self.meetings).filter(|j| World::whale_of_meeting(*j) == Some(0)).count();
        (emails + meetings) as u64
    }

    /// The team member who holds an item: for the whale, mostly its account team.
    fn owner(&self, r: &mut Rng, whale: bool) -> usize {
        if whale && r.chance(80) {
            self.account_team[r.below(self.account_team.len())]
        } else {
            r.below(INTERNAL_USERS)
        }
    }

    fn email(&self, i: u64) -> EmailGen {
        let mut r = Rng::new(i.wrapping_mul(0x1000_0001) ^ 0xe1);
        let sent = self.start() + Duration::seconds(r.below(730 * 86_400) as i64);
        let whale = World::whale_of_email(i);
        let owner = self.owner(&mut r, whale.is_some());
        let outbound = r.chance(40);
        let d = r.below(DOMAINS);
        let company = &self.by_domain[d];
        let main = match whale {
            Some(w) => Who::Whale(w),
            None => Who::External(company[r.below(company.len())]),
        };
        let mut people = Vec::with_capacity(5);
        if outbound {
            people.push(("from", Who::Internal(owner)));
            people.push(("to", main));
        } else {
            people.push(("from", main));
            people.push(("to", Who::Internal(owner)));
        }
        for _ in 0..r.below(4) {
            let role = if r.chance(50) { "to" } else { "cc" };
            let who = if r.chance(60) {
                Who::External(company[r.below(company.len())])
            } else {
                Who::Internal(r.below(INTERNAL_USERS))
            };
            if people.iter().all(|(_, w)| *w != who) {
                people.push((role, who));
            }
        }
        let subject = self.words.subject(&mut r);
        let len = 280 + r.below(60);
        let text = self.words.text(&mut r, len);
        let preview: String = text.chars().take(255).collect();
        EmailGen {
            id: i as i64 + 1,
            message_id: format!(
                "<{:x}.{i}@mail.{}>",
                r.next(),
                self.person(people[0].1).address.split('@').nth(1).unwrap_or("x")
            ),
            conversation: format!("AAQkADconv{}", i / 3),
            html: format!("<html><body><div><p>{text}</p></div></body></html>"),
            subject,
            preview,
            text,
            sent,
            received: sent + Duration::seconds(r.below(120) as i64),
            attachments: r.chance(15),
            owner,
            outbound,
            people,
        }
    }

    fn meeting(&self, j: u64) -> MeetingGen {
        let mut r = Rng::new(j.wrapping_mul(0x2000_0003) ^ 0x3e);
        // From 700 days ago to 30 days ahead, on the half hour.
        let offset = r.below(730 * 48) as i64 * 30 * 60;
        let start = self.now - Duration::days(700) + Duration::seconds(offset);
        let start = start - Duration::seconds(start.timestamp() % 1800);
        let end = start + Duration::minutes(if r.chance(60) { 30 } else { 60 });
        let whale = World::whale_of_meeting(j);
        let owner = self.owner(&mut r, whale.is_some());
        let d = r.below(DOMAINS);
        let company = &self.by_domain[d];
        let main = match whale {
            Some(w) => Who::Whale(w),
            None => Who::External(company[r.below(company.len())]),
        };
        let external_organizer = r.chance(25);
        let organizer = if external_organizer { main } else { Who::Internal(owner) };
        let mut attendees = vec![if external_organizer { Who::Internal(owner) } else { main }];
        for _ in 0..1 + r.below(5) {
            let who = if r.chance(50) {
                Who::External(company[r.below(company.len())])
            } else {
                Who::Internal(r.below(INTERNAL_USERS))
            };
            if who != organizer && !attendees.contains(&who) {
                attendees.push(who);
            }
        }
        let location = match r.below(4) {
            0 => None,
            1 => Some("Microsoft Teams Meeting".to_owned()),
            2 => Some(format!("Room {}", 100 + r.below(400))),
            _ => Some(title(&self.domains[d].replace(".com", " office"))),
        };
        MeetingGen {
            id: j as i64 + 1,
            uid: format!("040000008200E00074C5B7101A82E008{j:016X}"),
            subject: self.words.subject(&mut r),
            html: format!("<p>{}</p>", self.words.text(&mut r, 120)),
            start,
            end,
            cancelled: r.chance(4),
            online: location.as_deref() == Some("Microsoft Teams Meeting"),
            location,
            organizer,
            attendees,
            owner,
            is_organizer: !external_organizer,
        }
    }
}

struct EmailGen {
    id: i64,
    message_id: String,
    conversation: String,
    subject: String,
    html: String,
    preview: String,
    text: String,
    sent: DateTime<Utc>,
    received: DateTime<Utc>,
    attachments: bool,
    owner: usize,
    outbound: bool,
    people: Vec<(&'static str, Who)>,
}

struct MeetingGen {
    id: i64,
    uid: String,
    subject: String,
    html: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cancelled: bool,
    location: Option<String>,
    online: bool,
    organizer: Who,
    attendees: Vec<Who>,
    owner: usize,
    is_organizer: bool,
}

/// The bulk generator, compiled once per backend (as the store's `src/repo`).
macro_rules! generator {
    ($module:ident, $db:ty, setup: $setup:expr, teardown: $teardown:expr, after_contacts: $after_contacts:expr) => {
        mod $module {
            use super::*;
            use sqlx::Connection;

            type Db = $db;
            type Conn = <Db as sqlx::Database>::Connection;

            /// Writes every email and meeting, in transactions of
            /// `EMAILS_PER_TRANSACTION` emails (or ten times as many
            /// meetings), printing progress.
            pub(crate) async fn generate(pool: &sqlx::Pool<Db>, ws: i64, world: &World) -> sqlx::Result<()> {
                let mut conn = pool.acquire().await?;
                for sql in $setup {
                    sqlx::raw_sql(sql).execute(&mut *conn).await?;
                }
                let started = Instant::now();
                let emails_done = |done| {
                    if done % 200_000 == 0 || done == world.emails {
                        println!("  {done:>9} emails   {:>6.1} s", started.elapsed().as_secs_f64());
                    }
                };
                in_transactions(&mut conn, world.emails, emails_done, async |tx, items| {
                    let batch: Vec<EmailGen> = items.map(|i| world.email(i)).collect();
                    emails(tx, ws, world, &batch).await
                })
                .await?;
                in_transactions(&mut conn, world.meetings, |_| {}, async |tx, items| {
                    let batch: Vec<MeetingGen> = items.map(|j| world.meeting(j)).collect();
                    meetings(tx, ws, world, &batch).await
                })
                .await?;
                println!("  {:>9} meetings {:>6.1} s", world.meetings, started.elapsed().as_secs_f64());
                for sql in $teardown {
                    sqlx::raw_sql(sql).execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Items `0..total`, `BATCH` at a time and `EMAILS_PER_TRANSACTION`
            /// to a transaction: `write` makes and inserts a batch, and
            /// `committed` hears how many are in after each commit.
            async fn in_transactions(
                conn: &mut Conn,
                total: u64,
                mut committed: impl FnMut(u64),
                mut write: impl AsyncFnMut(&mut Conn, std::ops::Range<u64>) -> sqlx::Result<()>,
            ) -> sqlx::Result<()> {
                let mut next = 0;
                while next < total {
                    let end_tx = (next + EMAILS_PER_TRANSACTION).min(total);
                    let mut tx = Connection::begin(&mut *conn).await?;
                    while next < end_tx {
                        let end = (next + BATCH).min(end_tx);
                        write(&mut tx, next..end).await?;
                        next = end;
                    }
                    tx.commit().await?;
                    committed(next);
                }
                Ok(())
            }

            /// Inserts `rows` with `insert` (the statement up to its values),
            /// as many to a statement as rows of `binds` bind parameters fit
            /// in `MAX_BINDS`; `values` pushes one row's.
            async fn insert_all<T>(
                conn: &mut Conn,
                insert: &str,
                rows: &[T],
                binds: usize,
                mut values: impl FnMut(Separated<'_, Db, &'static str>, &T),
            ) -> sqlx::Result<()> {
                for chunk in rows.chunks(MAX_BINDS / binds) {
                    let mut q = QueryBuilder::<Db>::new(insert);
                    q.push_values(chunk, &mut values);
                    q.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Inserts a batch of emails with their participants and copies.
            async fn emails(conn: &mut Conn, ws: i64, world: &World, batch: &[EmailGen]) -> sqlx::Result<()> {
                const EMAIL: &str =
                    "insert into email (id, workspace_id, internet_message_id, conversation_id, subject, body_html,
                         body_preview, body_text, sent_at, received_at, has_attachments, importance, is_private,
                         fingerprint, created_at, updated_at) ";
                const PARTICIPANT: &str =
                    "insert into email_participant (workspace_id, email_id, role, address, name) ";
                const COPY: &str =
                    "insert into email_copy (workspace_id, mailbox_id, email_id, graph_id, folder_id, direction,
                         is_read, created_at, updated_at) ";
                let now = world.now;
                insert_all(conn, EMAIL, batch, 14, |mut row, e| {
                    row.push_bind(e.id)
                        .push_bind(ws)
                        .push_bind(e.message_id.as_str())
                        .push_bind(e.conversation.as_str())
                        .push_bind(e.subject.as_str())
                        .push_bind(e.html.as_str())
                        .push_bind(e.preview.as_str())
                        .push_bind(e.text.as_str())
                        .push_bind(e.sent)
                        .push_bind(e.received)
                        .push_bind(e.attachments)
                        .push("'normal'")
                        .push("false")
                        .push_bind(format!("fp{}", e.id))
                        .push_bind(now)
                        .push_bind(now);
                })
                .await?;
                let people: Vec<(i64, &str, &Person)> = batch
                    .iter()
                    .flat_map(|e| e.people.iter().map(move |(role, who)| (e.id, *role, world.person(*who))))
                    .collect();
                insert_all(conn, PARTICIPANT, &people, 5, |mut row, (email, role, person)| {
                    row.push_bind(ws)
                        .push_bind(*email)
                        .push_bind(*role)
                        .push_bind(person.address.as_str())
                        .push_bind(person.name.as_str());
                })
                .await?;
                insert_all(conn, COPY, batch, 8, |mut row, e| {
                    row.push_bind(ws)
                        .push_bind(world.mailboxes[e.owner])
                        .push_bind(e.id)
                        .push_bind(format!("AAMkAGI2{:08x}{}", e.owner, e.id))
                        .push_bind(if e.outbound { "sentitems" } else { "inbox" })
                        .push_bind(if e.outbound { "outbound" } else { "inbound" })
                        .push("true")
                        .push_bind(now)
                        .push_bind(now);
                })
                .await
            }

            /// Links contacts to the emails their addresses are on, as
            /// `link_contacts` does (src/repo/contacts.rs): the statement up
            /// to the workspace, and after the list of contacts.
            const LINK_EMAILS: (&str, &str) = (
                "insert into activity (workspace_id, contact_id, occurred_at, kind, email_id, direction)
                         select ce.workspace_id, ce.contact_id, e.sent_at, 'email', e.id,
                                case when max(case when p.role = 'from' then 1 else 0 end) = 1 then 'inbound' else 'outbound' end
                         from contact_email ce
                         join email_participant p on p.workspace_id = ce.workspace_id and p.address = ce.address
                         join email e on e.id = p.email_id
                         where ce.workspace_id = ",
                " group by ce.workspace_id, ce.contact_id, e.id, e.sent_at on conflict do nothing",
            );
            /// Links contacts to the meetings their addresses are on, likewise.
            const LINK_MEETINGS: (&str, &str) = (
                "insert into activity (workspace_id, contact_id, occurred_at, kind, meeting_id)
                         select distinct ce.workspace_id, ce.contact_id, m.start_at, 'meeting', m.id
                         from contact_email ce
                         join (select workspace_id, meeting_id, address from meeting_attendee
                               union all
                               select workspace_id, id, organizer_address from meeting) people
                           on people.workspace_id = ce.workspace_id and people.address = ce.address
                         join meeting m on m.id = people.meeting_id
                         where ce.workspace_id = ",
                " on conflict do nothing",
            );

            /// Runs one of the `LINK_` statements for the contacts `ids` of
            /// workspace `ws`.
            async fn link(conn: &mut Conn, (insert, rest): (&str, &str), ws: i64, ids: &[i64]) -> sqlx::Result<()> {
                let mut q = QueryBuilder::<Db>::new(insert);
                q.push_bind(ws).push(" and ce.contact_id in (");
                let mut list = q.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                q.push(")").push(rest);
                q.build().execute(&mut *conn).await?;
                Ok(())
            }

            /// Creates contacts for these people (ids from `first_id` on,
            /// each with its domain's company), then links their history
            /// with the statements `link_contacts` runs (src/repo/contacts.rs).
            pub(crate) async fn bulk_contacts(
                pool: &sqlx::Pool<Db>,
                ws: i64,
                now: DateTime<Utc>,
                people: &[&Person],
                first_id: i64,
            ) -> sqlx::Result<Vec<i64>> {
                let mut tx = pool.begin().await?;
                let mut domains: Vec<&str> =
                    people.iter().filter_map(|p| p.address.split_once('@').map(|(_, d)| d)).collect();
                domains.sort_unstable();
                domains.dedup();
                domains.retain(|d| !matches!(*d, "gmail.com" | "outlook.com"));
                for chunk in domains.chunks(MAX_BINDS / 3) {
                    let mut q = QueryBuilder::<Db>::new("insert into company (workspace_id, name, domain, created_at) ");
                    q.push_values(chunk, |mut row, d| {
                        row.push_bind(ws).push_bind(title(d.trim_end_matches(".com"))).push_bind(*d).push_bind(now);
                    });
                    q.push(" on conflict do nothing");
                    q.build().execute(&mut *tx).await?;
                }
                let ids: Vec<i64> = (0..people.len() as i64).map(|k| first_id + k).collect();
                for (chunk, chunk_ids) in people.chunks(MAX_BINDS / 5).zip(ids.chunks(MAX_BINDS / 5)) {
                    let mut q = QueryBuilder::<Db>::new(
                        "insert into contact (id, workspace_id, name, company_id, source, created_at, updated_at) ",
                    );
                    q.push_values(chunk.iter().zip(chunk_ids), |mut row, (p, id)| {
                        let domain = p.address.split_once('@').map_or("", |(_, d)| d);
                        row.push_bind(*id)
                            .push_bind(ws)
                            .push_bind(p.name.as_str())
                            .push("(select id from company where workspace_id = ")
                            .push_bind_unseparated(ws)
                            .push_unseparated(" and domain = ")
                            .push_bind_unseparated(domain)
                            .push_unseparated(")")
                            .push("'import'")
                            .push_bind(now)
                            .push_bind(now);
                    });
                    q.build().execute(&mut *tx).await?;
                    let mut q =
                        QueryBuilder::<Db>::new("insert into contact_email (workspace_id, contact_id, address, created_at) ");
                    q.push_values(chunk.iter().zip(chunk_ids), |mut row, (p, id)| {
                        row.push_bind(ws).push_bind(*id).push_bind(p.address.as_str()).push_bind(now);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in ids.chunks(MAX_BINDS) {
                    link(&mut tx, LINK_EMAILS, ws, chunk).await?;
                    link(&mut tx, LINK_MEETINGS, ws, chunk).await?;
                }
                for sql in $after_contacts {
                    sqlx::raw_sql(sql).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(ids)
            }

            /// Inserts a batch of meetings with their attendees and copies.
            async fn meetings(conn: &mut Conn, ws: i64, world: &World, batch: &[MeetingGen]) -> sqlx::Result<()> {
                const MEETING: &str =
                    "insert into meeting (id, workspace_id, ical_uid, series_master_id, event_type, subject,
                         body_html, start_at, end_at, is_all_day, is_cancelled, sensitivity, original_time_zone,
                         location, online_meeting_url, organizer_address, organizer_name, fingerprint, created_at,
                         updated_at) ";
                const ATTENDEE: &str =
                    "insert into meeting_attendee (workspace_id, meeting_id, address, name, kind, response) ";
                const COPY: &str =
                    "insert into meeting_copy (workspace_id, mailbox_id, meeting_id, graph_id, response,
                         is_organizer, created_at, updated_at) ";
                let now = world.now;
                insert_all(conn, MEETING, batch, 15, |mut row, m| {
                    let organizer = world.person(m.organizer);
                    row.push_bind(m.id)
                        .push_bind(ws)
                        .push_bind(m.uid.as_str())
                        .push("null")
                        .push("'singleInstance'")
                        .push_bind(m.subject.as_str())
                        .push_bind(m.html.as_str())
                        .push_bind(m.start)
                        .push_bind(m.end)
                        .push("false")
                        .push_bind(m.cancelled)
                        .push("'normal'")
                        .push("'W. Europe Standard Time'")
                        .push_bind(m.location.as_deref())
                        .push_bind(m.online.then(|| format!("https://teams.microsoft.com/l/meetup-join/{}", m.id)))
                        .push_bind(organizer.address.as_str())
                        .push_bind(organizer.name.as_str())
                        .push_bind(format!("fp{}", m.id))
                        .push_bind(now)
                        .push_bind(now);
                })
                .await?;
                let people: Vec<(i64, &Person, usize)> = batch
                    .iter()
                    .flat_map(|m| m.attendees.iter().enumerate().map(move |(k, who)| (m.id, world.person(*who), k)))
                    .collect();
                insert_all(conn, ATTENDEE, &people, 6, |mut row, (meeting, person, k)| {
                    row.push_bind(ws)
                        .push_bind(*meeting)
                        .push_bind(person.address.as_str())
                        .push_bind(person.name.as_str())
                        .push_bind(if k % 4 == 3 { "optional" } else { "required" })
                        .push_bind(if k % 3 == 2 { "tentativelyAccepted" } else { "accepted" });
                })
                .await?;
                insert_all(conn, COPY, batch, 8, |mut row, m| {
                    row.push_bind(ws)
                        .push_bind(world.mailboxes[m.owner])
                        .push_bind(m.id)
                        .push_bind(format!("AAMkAGE1{:08x}{}", m.owner, m.id))
                        .push_bind(if m.is_organizer { "organizer" } else { "accepted" })
                        .push_bind(m.is_organizer)
                        .push_bind(now)
                        .push_bind(now);
                })
                .await
            }
        }
    };
}

generator!(
    sqlite_gen,
    sqlx::Sqlite,
    // A big page cache and no syncs while loading; the store's own settings after.
    setup: ["pragma cache_size = -1048576", "pragma synchronous = off"],
    teardown: ["pragma cache_size = -32768", "pragma synchronous = normal"],
    after_contacts: [] as [&str; 0]
);
generator!(
    postgres_gen,
    sqlx::Postgres,
    setup: ["set synchronous_commit = off"],
    teardown: [
        "reset synchronous_commit",
        // Ids were given explicitly: move the identities past them.
        "select setval(pg_get_serial_sequence('email', 'id'), (select max(id) from email))",
        "select setval(pg_get_serial_sequence('meeting', 'id'), (select max(id) from meeting))",
    ],
    after_contacts: ["select setval(pg_get_serial_sequence('contact', 'id'), (select max(id) from contact))"]
);

// ---- measuring ------------------------------------------------------------------

/// Makes a timeline query (some vary from run to run).
type QueryMaker = Box<dyn Fn(&mut Rng) -> TimelineQuery>;

struct Stats {
    n: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

/// Nearest-rank percentiles of durations in milliseconds.
fn stats(samples: &[f64]) -> Stats {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Stats { n: v.len(), p50: at(0.50), p95: at(0.95), p99: at(0.99), max: v[v.len() - 1] }
}

fn print_stats(label: &str, samples: &[f64]) -> Stats {
    let s = stats(samples);
    println!(
        "  {label:<44} n={:<4} p50 {:>7.2}  p95 {:>7.2}  p99 {:>7.2}  max {:>7.2} ms",
        s.n, s.p50, s.p95, s.p99, s.max
    );
    s
}

fn verdict(label: &str, value: f64, target: f64) -> bool {
    let pass = value <= target;
    println!("{} {label}: {value:.2} ms (target ≤ {target} ms)", if pass { "PASS" } else { "FAIL" });
    pass
}

/// `$body` with `$pool` bound to the store's pool, whichever the engine:
/// for statements that read the same on both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

async fn scalar(store: &Store, sql: &'static str) -> i64 {
    on_pool!(store, pool => sqlx::query_scalar(sql).fetch_one(pool).await).expect("a count")
}

async fn execute(store: &Store, sql: &'static str) {
    on_pool!(store, pool => sqlx::raw_sql(sql).execute(pool).await.map(drop)).expect("statement");
}

async fn activities_of(store: &Store, contact: ContactId) -> i64 {
    on_pool!(store, pool => {
        sqlx::query_scalar("select count(*) from activity where contact_id = $1").bind(contact.0).fetch_one(pool).await
    })
    .expect("a count")
}

/// How many emails and meetings match every word (to explain slow searches).
async fn matches(store: &Store, words: &str) -> (i64, i64) {
    match store {
        Store::Sqlite(pool) => {
            let fts: String = words.split_whitespace().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ");
            let e = sqlx::query_scalar("select count(*) from email_fts where email_fts match $1")
                .bind(&fts)
                .fetch_one(pool)
                .await;
            let m = sqlx::query_scalar("select count(*) from meeting_fts where meeting_fts match $1")
                .bind(&fts)
                .fetch_one(pool)
                .await;
            (e.expect("count"), m.expect("count"))
        }
        Store::Postgres(pool) => {
            let e = sqlx::query_scalar("select count(*) from email where search_tsv @@ plainto_tsquery('simple', $1)")
                .bind(words)
                .fetch_one(pool)
                .await;
            let m =
                sqlx::query_scalar("select count(*) from meeting where search_tsv @@ plainto_tsquery('simple', $1)")
                    .bind(words)
                    .fetch_one(pool)
                    .await;
            (e.expect("count"), m.expect("count"))
        }
    }
}

/// The 1, 5 and 15-minute load averages: other work on the two cores
/// shows in the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn address(s: &str) -> tac_core::NormalizedAddress {
    normalize(s).expect("a valid address")
}

/// Results of one backend, for the closing table.
struct Outcome {
    timeline_p99: f64,
    search_p99: f64,
    summary_p99: f64,
    rematch_ms: f64,
}

/// Generates the workspace and creates the contacts: the world, the whale
/// and the other contacts.
async fn fresh(store: &Store, ws: WorkspaceId, emails: u64) -> (World, ContactId, Vec<ContactId>) {
    let mut world = World::new(emails, Utc::now().trunc_subsecs(0));
    world.mailboxes = directory_and_mailboxes(store, ws, &world).await;
    generate(store, ws, &world).await;
    // Contacts, through the API: the whale first (timed), then others.
    let whale = create_whale(store, ws, &world).await;
    let others = create_others(store, ws, &world).await;
    execute(store, "analyze").await;
    (world, whale, others)
}

/// The directory of the internal users and their mailboxes, through the
/// API: the mailbox ids, by internal user.
async fn directory_and_mailboxes(store: &Store, ws: WorkspaceId, world: &World) -> Vec<i64> {
    let users: Vec<DirectoryUser> = world
        .internal
        .iter()
        .enumerate()
        .map(|(i, p)| DirectoryUser {
            id: format!("00000000-0000-0000-0000-{i:012}"),
            display_name: p.name.clone(),
            user_principal_name: p.address.clone(),
            mail: Some(p.address.clone()),
            proxy_addresses: vec![format!("SMTP:{}", p.address)],
            account_enabled: true,
        })
        .collect();
    let domains = [TenantDomain { name: "contoso.com".into(), is_default: true, is_initial: false }];
    store.replace_directory(ws, &users, &[], &[], &domains).await.expect("directory");
    let mut mailboxes = Vec::with_capacity(users.len());
    for u in &users {
        let id = store.upsert_mailbox(ws, &u.id, u.mail.as_deref().unwrap_or_default()).await.expect("mailbox");
        mailboxes.push(id.0);
    }
    mailboxes
}

/// Writes the world's mail and meetings straight into the tables, then has
/// the engine analyse them, printing how long each took.
async fn generate(store: &Store, ws: WorkspaceId, world: &World) {
    println!(
        "generating {} emails and {} meetings ({} people, {} domains, whale on {} items per address)",
        world.emails,
        world.meetings,
        EXTERNAL_PEOPLE,
        DOMAINS,
        world.whale_items()
    );
    let started = Instant::now();
    match store {
        Store::Sqlite(pool) => sqlite_gen::generate(pool, ws.0, world).await,
        Store::Postgres(pool) => postgres_gen::generate(pool, ws.0, world).await,
    }
    .expect("generation");
    let generation = started.elapsed().as_secs_f64();
    let started = Instant::now();
    match store {
        Store::Sqlite(_) => execute(store, "analyze").await,
        Store::Postgres(_) => execute(store, "vacuum analyze").await,
    }
    let analyze = started.elapsed().as_secs_f64();
    println!(
        "generated in {generation:.1} s; {} in {analyze:.1} s",
        if store.backend_name() == "sqlite" { "analyze" } else { "vacuum analyze" }
    );
}

/// The whale's contact, created (and timed) through the API, which links
/// its whole history under its first address.
async fn create_whale(store: &Store, ws: WorkspaceId, world: &World) -> ContactId {
    let started = Instant::now();
    let whale = store.create_contact(ws, &manual_contact("Wanda Hale", WHALE)).await.expect("whale");
    let whale_create = ms(started);
    let whale_linked = activities_of(store, whale).await;
    println!("create_contact(whale): {whale_create:.0} ms, linked {whale_linked} activities");
    assert_eq!(whale_linked as u64, world.whale_items(), "the whale's history is linked");
    whale
}

/// `OTHER_CONTACTS` people besides the whale: the first `API_CONTACTS`
/// through the API (timed), the rest in bulk with the store's matching SQL.
async fn create_others(store: &Store, ws: WorkspaceId, world: &World) -> Vec<ContactId> {
    let mut others = Vec::with_capacity(OTHER_CONTACTS);
    let mut creates = Vec::with_capacity(API_CONTACTS);
    let step = EXTERNAL_PEOPLE / OTHER_CONTACTS;
    for k in 0..API_CONTACTS {
        let p = &world.external[k * step];
        let new = manual_contact(&p.name, &p.address);
        let started = Instant::now();
        others.push(store.create_contact(ws, &new).await.expect("contact"));
        creates.push(ms(started));
    }
    print_stats("create_contact, a typical person", &creates);
    let started = Instant::now();
    let people: Vec<&Person> = (API_CONTACTS..OTHER_CONTACTS).map(|k| &world.external[k * step]).collect();
    let first_id = scalar(store, "select max(id) from contact").await + 1;
    let bulk = match store {
        Store::Sqlite(pool) => sqlite_gen::bulk_contacts(pool, ws.0, world.now, &people, first_id).await,
        Store::Postgres(pool) => postgres_gen::bulk_contacts(pool, ws.0, world.now, &people, first_id).await,
    }
    .expect("bulk contacts");
    others.extend(bulk.into_iter().map(ContactId));
    println!(
        "{} more contacts in bulk (the store's matching SQL): {:.1} s",
        people.len(),
        started.elapsed().as_secs_f64()
    );
    others
}

/// A contact someone created by hand, under one address.
fn manual_contact(name: &str, mail: &str) -> NewContact {
    NewContact { name: name.to_owned(), emails: vec![address(mail)], company: None, source: ContactSource::Manual }
}

/// A database kept by an earlier run (`TAC_BENCH_DB`): the whale back to
/// its first address only, so the re-match can be measured again.
async fn existing(store: &Store, ws: WorkspaceId, emails: u64) -> (World, ContactId, Vec<ContactId>) {
    let now: DateTime<Utc> = on_pool!(store, pool => {
        sqlx::query_scalar("select max(created_at) from email").fetch_one(pool).await
    })
    .expect("generation time");
    let world = World::new(emails, now);
    let whale = store.contact_by_email(ws, &address(WHALE)).await.expect("whale").expect("the whale's contact").id;
    if store.contact_by_email(ws, &address(WHALE_2)).await.expect("lookup").is_some() {
        store.remove_contact_email(ws, whale, &address(WHALE_2)).await.expect("unlink");
    }
    let others = store
        .contacts(ws, &tac_store::ContactListQuery { limit: 1000, ..Default::default() })
        .await
        .expect("contacts")
        .into_iter()
        .map(|c| c.id)
        .filter(|id| *id != whale)
        .collect();
    println!("reusing {} (generated at {now})", store.backend_name());
    (world, whale, others)
}

/// Measures one backend: generates (or reuses) its database, then times
/// the timeline, search, summary and re-match, and prints the verdicts.
async fn run(label: &str, url: &str, emails: u64, reuse: bool) -> Outcome {
    println!("== {label} ==");
    let store = Store::connect(url).await.expect("store");
    let ws: WorkspaceId = store.ensure_workspace("bench").await.expect("workspace");
    let (world, whale, others) =
        if reuse { existing(&store, ws, emails).await } else { fresh(&store, ws, emails).await };
    let bench = Bench { store: &store, ws, world: &world, whale, others: &others };
    let whale_linked = activities_of(&store, whale).await;
    let (email_rows, meeting_rows) = print_sizes(&store).await;
    println!("load average before measuring: {}", load_average());

    // One generator for the timeline's and the search's varying queries.
    let mut r = Rng::new(99);
    let timeline = bench.timeline_pages(&mut r, whale_linked).await;
    bench.timeline_search().await;
    let search = bench.search(&mut r).await;
    let summary = bench.summaries().await;
    let rematch = bench.rematch().await;

    println!("load average after measuring: {}", load_average());
    println!("targets ({label}, {} emails, {} meetings):", email_rows, meeting_rows);
    verdict("timeline first page p99", timeline.p99, TIMELINE_P99_MS);
    verdict("search over everything p99", search.p99, SEARCH_P99_MS);
    verdict("contact summary p99", summary.p99, SUMMARY_P99_MS);
    verdict("re-match 20,000 activities", rematch, REMATCH_MS);
    store.close().await;
    Outcome { timeline_p99: timeline.p99, search_p99: search.p99, summary_p99: summary.p99, rematch_ms: rematch }
}

/// Prints the row counts and the database's size: the emails' and the
/// meetings' counts.
async fn print_sizes(store: &Store) -> (i64, i64) {
    let email_rows = scalar(store, "select count(*) from email").await;
    let meeting_rows = scalar(store, "select count(*) from meeting").await;
    let participant_rows = scalar(store, "select count(*) from email_participant").await;
    let attendee_rows = scalar(store, "select count(*) from meeting_attendee").await;
    let activity_rows = scalar(store, "select count(*) from activity").await;
    let contact_rows = scalar(store, "select count(*) from contact").await;
    let size = match store {
        Store::Sqlite(_) => {
            execute(store, "pragma wal_checkpoint(truncate)").await;
            scalar(store, "select page_count * page_size from pragma_page_count(), pragma_page_size()").await
        }
        Store::Postgres(_) => scalar(store, "select pg_database_size(current_database())").await,
    };
    println!(
        "rows: {email_rows} emails, {participant_rows} participants, {meeting_rows} meetings, {attendee_rows} attendees, \
         {contact_rows} contacts, {activity_rows} activities; database {:.2} GiB",
        size as f64 / (1u64 << 30) as f64
    );
    (email_rows, meeting_rows)
}

/// What the measurements read: the store, its workspace, the world
/// generated into it, and the contacts.
struct Bench<'a> {
    store: &'a Store,
    ws: WorkspaceId,
    world: &'a World,
    whale: ContactId,
    others: &'a [ContactId],
}

/// The search bands, by the rank of their words in the vocabulary.
const SEARCH_BANDS: [&str; 4] =
    ["common word (rank < 100)", "mid word (rank 100-999)", "rare word (rank ≥ 1000)", "two words (any ranks)"];

impl Bench<'_> {
    /// The whale's first timeline page, with varied filters: the stats of
    /// all runs, printed with those of each filter.
    async fn timeline_pages(&self, r: &mut Rng, whale_linked: i64) -> Stats {
        let (store, ws, whale, now) = (self.store, self.ws, self.whale, self.world.now);
        let variants = self.timeline_variants();
        // Warm-up, as a running portal would be.
        for (_, make) in &variants {
            store.timeline(ws, whale, &make(r), now).await.expect("timeline");
        }
        let mut all = Vec::with_capacity(TIMELINE_RUNS);
        let mut by_variant: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        for i in 0..TIMELINE_RUNS {
            let v = i % variants.len();
            let query = (variants[v].1)(r);
            let started = Instant::now();
            let page = store.timeline(ws, whale, &query, now).await.expect("timeline");
            let t = ms(started);
            assert!(v != 0 || page.items.len() == 50, "a full first page");
            all.push(t);
            by_variant[v].push(t);
        }
        println!("timeline, first page of 50, whale ({whale_linked} activities):");
        let timeline = print_stats("all filters", &all);
        for ((name, _), samples) in variants.iter().zip(&by_variant) {
            print_stats(&format!("  {name}"), samples);
        }
        timeline
    }

    /// The timeline filters measured, each named.
    fn timeline_variants(&self) -> Vec<(&'static str, QueryMaker)> {
        let now = self.world.now;
        let team = self.world.person(Who::Internal(self.world.account_team[0])).address.clone();
        let outsider = self.world.person(Who::Internal(199)).address.clone();
        vec![
            ("none", Box::new(|_| TimelineQuery::default())),
            ("kind = email", Box::new(|_| TimelineQuery { kind: Some(ActivityKind::Email), ..Default::default() })),
            ("kind = meeting", Box::new(|_| TimelineQuery { kind: Some(ActivityKind::Meeting), ..Default::default() })),
            (
                "direction = inbound",
                Box::new(|_| TimelineQuery { direction: Some(Direction::Inbound), ..Default::default() }),
            ),
            (
                "direction = outbound",
                Box::new(|_| TimelineQuery { direction: Some(Direction::Outbound), ..Default::default() }),
            ),
            (
                "from = 90 days ago",
                Box::new(move |_| TimelineQuery { from: Some(now - Duration::days(90)), ..Default::default() }),
            ),
            (
                "a 30-day window in the past two years",
                Box::new(move |r| {
                    let to = now - Duration::days(r.below(700) as i64);
                    TimelineQuery { from: Some(to - Duration::days(30)), to: Some(to), ..Default::default() }
                }),
            ),
            (
                "team member (account team)",
                Box::new(move |_| TimelineQuery { team_member: Some(team.clone()), ..Default::default() }),
            ),
            (
                "team member (rarely involved)",
                Box::new(move |_| TimelineQuery { team_member: Some(outsider.clone()), ..Default::default() }),
            ),
        ]
    }

    /// A timeline search within the whale (not a target; for reference).
    async fn timeline_search(&self) {
        let mut within = Vec::new();
        for i in 0..20 {
            let word = self.world.words.content.words[(i * 37) % 1000].clone();
            let query = TimelineQuery { search: Some(word), ..Default::default() };
            let started = Instant::now();
            self.store.timeline(self.ws, self.whale, &query, self.world.now).await.expect("timeline search");
            within.push(ms(started));
        }
        print_stats("whale timeline with a search word (reference)", &within);
    }

    /// Search over everything, a quarter of the runs in each band: the
    /// stats of all, printed with each band's and the slowest searches.
    async fn search(&self, r: &mut Rng) -> Stats {
        let (store, ws, now) = (self.store, self.ws, self.world.now);
        let queries = self.search_queries(r);
        for (_, words) in queries.iter().take(8) {
            let query = TimelineQuery { search: Some(words.clone()), ..Default::default() };
            store.search(ws, &query, &MEMBER, now).await.expect("search");
        }
        let mut search_all = Vec::with_capacity(SEARCH_RUNS);
        let mut search_by: Vec<(&str, f64, &str)> = Vec::with_capacity(SEARCH_RUNS);
        for (band, words) in &queries {
            let query = TimelineQuery { search: Some(words.clone()), ..Default::default() };
            let started = Instant::now();
            store.search(ws, &query, &MEMBER, now).await.expect("search");
            let t = ms(started);
            search_all.push(t);
            search_by.push((band, t, words));
        }
        println!("search over everything, first page of 50:");
        let search = print_stats("all queries", &search_all);
        for band in SEARCH_BANDS {
            let samples: Vec<f64> = search_by.iter().filter(|(b, _, _)| *b == band).map(|(_, t, _)| *t).collect();
            print_stats(&format!("  {band}"), &samples);
        }
        search_by.sort_by(|a, b| b.1.total_cmp(&a.1));
        println!("  slowest searches:");
        for (_, t, words) in search_by.iter().take(5) {
            let (e, m) = matches(store, words).await;
            println!("    {t:>8.2} ms  {words:<28} matches {e} emails, {m} meetings");
        }
        search
    }

    /// `SEARCH_RUNS` searches, each with its band, the bands in turn.
    fn search_queries(&self, r: &mut Rng) -> Vec<(&'static str, String)> {
        let content = &self.world.words.content.words;
        (0..SEARCH_RUNS)
            .map(|i| {
                let words = match i % 4 {
                    0 => content[r.below(100)].clone(),
                    1 => content[100 + r.below(900)].clone(),
                    2 => content[1000 + r.below(content.len() - 1000)].clone(),
                    _ => format!("{} {}", content[r.below(content.len())], content[r.below(content.len())]),
                };
                (SEARCH_BANDS[i % 4], words)
            })
            .collect()
    }

    /// The whale's summary (timed), and others' for reference: the whale's
    /// stats.
    async fn summaries(&self) -> Stats {
        let (store, ws, whale, now) = (self.store, self.ws, self.whale, self.world.now);
        for _ in 0..5 {
            store.contact_summary(ws, whale, now).await.expect("summary");
        }
        let mut summaries = Vec::with_capacity(SUMMARY_RUNS);
        for _ in 0..SUMMARY_RUNS {
            let started = Instant::now();
            store.contact_summary(ws, whale, now).await.expect("summary");
            summaries.push(ms(started));
        }
        println!("contact summary:");
        let summary = print_stats("whale", &summaries);
        let mut regular = Vec::new();
        for k in 0..50 {
            let started = Instant::now();
            store.contact_summary(ws, self.others[(k * 61) % self.others.len()], now).await.expect("summary");
            regular.push(ms(started));
        }
        print_stats("other contacts (reference)", &regular);
        let s = store.contact_summary(ws, whale, now).await.expect("summary");
        println!(
            "  whale: {} emails and {} meetings in 90 days, strength {}, top member {:?}",
            s.emails_last_90_days,
            s.meetings_last_90_days,
            s.relationship_strength,
            s.top_team_members.first().map(|m| (&m.address, m.interactions))
        );
        summary
    }

    /// Re-matching: the milliseconds adding the whale's second address
    /// takes, which links that address's history.
    async fn rematch(&self) -> f64 {
        let before = activities_of(self.store, self.whale).await;
        let started = Instant::now();
        self.store.add_contact_email(self.ws, self.whale, &address(WHALE_2)).await.expect("add address");
        let rematch = ms(started);
        let after = activities_of(self.store, self.whale).await;
        println!(
            "add_contact_email(whale, {WHALE_2}): {rematch:.0} ms, linked {} more ({before} → {after})",
            after - before
        );
        assert_eq!((after - before) as u64, self.world.whale_items(), "the second address's history is linked");
        rematch
    }
}

// ---- PostgreSQL's own database ------------------------------------------------

fn keep() -> bool {
    std::env::var_os("TAC_BENCH_KEEP").is_some()
}

/// A fresh database `tac_bench_<pid>`, dropped (with force) when this goes.
struct PgDatabase {
    admin: String,
    name: String,
}

impl PgDatabase {
    fn create() -> Option<PgDatabase> {
        let admin = std::env::var("TAC_TEST_POSTGRES_URL").ok()?;
        let name = format!("tac_bench_{}", std::process::id());
        let db = PgDatabase { admin, name };
        db.psql(&format!("drop database if exists {} with (force)", db.name));
        db.psql(&format!("create database {}", db.name)).then_some(db)
    }

    fn url(&self) -> String {
        format!("{}/{}", self.admin.rsplit_once('/').map_or(self.admin.as_str(), |(base, _)| base), self.name)
    }

    fn psql(&self, sql: &str) -> bool {
        Command::new("psql").arg(&self.admin).args(["-qAtc", sql]).output().is_ok_and(|o| o.status.success())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if keep() {
            println!("kept PostgreSQL database {} (TAC_BENCH_KEEP)", self.url());
        } else {
            self.psql(&format!("drop database if exists {} with (force)", self.name));
        }
    }
}

/// The SQLite file's directory, removed when this goes.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if keep() {
            println!("kept SQLite database in {} (TAC_BENCH_KEEP)", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn main() {
    let emails: u64 =
        std::env::var("TAC_BENCH_EMAILS").ok().and_then(|s| s.replace('_', "").parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!(
            "timeline benchmark on {} cores, {emails} emails",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        // `TAC_BENCH_DB=URL` measures a database kept by an earlier run
        // (`TAC_BENCH_KEEP`) again, without generating it.
        if let Ok(url) = std::env::var("TAC_BENCH_DB") {
            run(url.split(':').next().unwrap_or("db"), &url, emails, true).await;
            return;
        }
        let sqlite = if std::env::var_os("TAC_BENCH_ONLY_POSTGRES").is_none() {
            let dir = TempDir(std::env::temp_dir().join(format!("tac-bench-timeline-{}", std::process::id())));
            std::fs::create_dir_all(&dir.0).expect("temp dir");
            Some(run("sqlite", &format!("sqlite://{}", dir.0.join("tac.db").display()), emails, false).await)
        } else {
            None
        };
        let only_sqlite = std::env::var_os("TAC_BENCH_ONLY_SQLITE").is_some();
        let postgres = match PgDatabase::create().filter(|_| !only_sqlite) {
            Some(db) => Some(run("postgres", &db.url(), emails, false).await),
            None => {
                println!("postgres skipped: set TAC_TEST_POSTGRES_URL to measure PostgreSQL too");
                None
            }
        };
        println!("summary (p99 / wall, ms):");
        println!("  {:<10} {:>10} {:>10} {:>10} {:>10}", "backend", "timeline", "search", "summary", "re-match");
        for (label, o) in [("sqlite", sqlite.as_ref()), ("postgres", postgres.as_ref())] {
            if let Some(o) = o {
                println!(
                    "  {label:<10} {:>10.2} {:>10.2} {:>10.2} {:>10.0}",
                    o.timeline_p99, o.search_p99, o.summary_p99, o.rematch_ms
                );
            }
        }
    });
}
