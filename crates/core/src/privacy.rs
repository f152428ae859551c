/*!
The privacy rules (docs/architecture.md §5), in one place: what a workspace lets TAC show
and keep, which addresses it never stores, and how a record is trimmed to
that before it is saved.

Sync calls [`minimise_email`] and [`minimise_meeting`] before storing, so
text a workspace does not want is never written; the timeline calls
[`shown`] again on the way out, because "every policy change applies to data
already stored" and a stricter level may have been chosen since. A private
item (sensitivity private or confidential) is always metadata-only: who and
when, read as [`PRIVATE_EMAIL_LABEL`] or [`PRIVATE_MEETING_LABEL`].

An internal-only item (every participant is one of ours, see
[`crate::internal`]) is colleagues talking among themselves, not customer
activity. It is kept as metadata only unless the workspace turns
[`PrivacyPolicy::keep_internal`] on ([`PrivacyPolicy::level_for`]), and
whatever the setting, [`may_open_internal_only`] decides who may see one:
the people whose mailbox holds it, and admins only when the workspace keeps
internal-only content.

The blocklist holds addresses and `@domain` entries; a domain entry also
covers its subdomains, and nothing else (`@contoso.com` blocks
`x@eu.contoso.com` but not `x@notcontoso.com`).

```
use tac_core::privacy::{Blocklist, BlockEntry, Visibility, shown};

let list = Blocklist::new(vec![
    BlockEntry::parse("@Contoso.com").unwrap(),
    BlockEntry::parse("mailto:Ann@Fabrikam.com").unwrap(),
]);
assert!(list.blocks("x@eu.contoso.com"));
assert!(list.blocks(" ANN@fabrikam.com"));
assert!(!list.blocks("x@notcontoso.com"));

let s = shown(Visibility::Subject, false);
assert!(s.subject && !s.body);
assert!(!shown(Visibility::Full, true).subject);
```
*/

use crate::address::{AddressError, normalize};
use crate::records::{EmailRecord, MeetingRecord, named_enum};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// What a private email reads as, in place of its subject.
pub const PRIVATE_EMAIL_LABEL: &str = "Private email";
/// What a private meeting reads as, in place of its subject.
pub const PRIVATE_MEETING_LABEL: &str = "Private meeting";

/// The longest domain name, in bytes (RFC 1035).
pub const MAX_DOMAIN_LEN: usize = 253;
/// The longest label of a domain name, in bytes (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// How much of an email or meeting a workspace shows and keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Who and when only.
    Metadata,
    /// Who, when and the subject.
    Subject,
    /// Everything, body included.
    #[default]
    Full,
}

named_enum!(Visibility, "visibility level", {
    Metadata => "metadata",
    Subject => "subject",
    Full => "full",
});

/// Which external people become contacts on their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoCreate {
    /// Contacts are only created by hand or by import.
    None,
    /// People our users wrote to or invited.
    #[default]
    Sent,
    /// As [`AutoCreate::Sent`], plus people who wrote to or invited our users.
    SentAndReceived,
}

named_enum!(AutoCreate, "contact auto-creation policy", {
    None => "none",
    Sent => "sent",
    SentAndReceived => "sent_and_received",
});

/// Why a privacy setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyError {
    #[error("the blocklist entry is empty: enter an address such as ann@contoso.com or a domain such as @contoso.com")]
    EmptyBlockEntry,
    #[error(
        "`{entry}` is not a valid blocklist domain: {reason}. Enter a domain such as @contoso.com (it also covers its subdomains)"
    )]
    InvalidDomain { entry: String, reason: &'static str },
    #[error(
        "`{entry}` is not a valid blocklist entry: {source}. Enter an address such as ann@contoso.com or a domain such as @contoso.com"
    )]
    InvalidAddress { entry: String, source: AddressError },
}

/// One blocklist entry: a normalised address, or `@` followed by a lowercase
/// domain. Only [`BlockEntry::parse`] (or deserialisation, which runs it)
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlockEntry(String);

impl BlockEntry {
    /// Accepts an address (normalised as everywhere else: trimmed, without
    /// `mailto:`, lowercase) or a domain written `@contoso.com` (`*@contoso.com`
    /// is read the same way).
    pub fn parse(input: &str) -> Result<BlockEntry, PrivacyError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PrivacyError::EmptyBlockEntry);
        }
        let domain = trimmed.strip_prefix("*@").or_else(|| trimmed.strip_prefix('@'));
        match domain {
            Some(domain) => {
                let domain = validate_domain(domain)
                    .map_err(|reason| PrivacyError::InvalidDomain { entry: trimmed.to_owned(), reason })?;
                Ok(BlockEntry(format!("@{domain}")))
            }
            None => normalize(trimmed)
                .map(|a| BlockEntry(a.into_string()))
                .map_err(|source| PrivacyError::InvalidAddress { entry: trimmed.to_owned(), source }),
        }
    }

    /// The entry as stored: `ann@contoso.com` or `@contoso.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain of a domain entry, without the `@`; `None` for an address.
    pub fn domain(&self) -> Option<&str> {
        self.0.strip_prefix('@')
    }

    /// Whether the entry covers an address that is already normalised: an
    /// address entry matches itself only; a domain entry matches its domain
    /// and every subdomain of it.
    pub fn matches(&self, normalized_address: &str) -> bool {
        match self.domain() {
            Some(domain) => {
                let Some((_, address_domain)) = normalized_address.rsplit_once('@') else { return false };
                is_same_or_subdomain(address_domain, domain)
            }
            None => self.0 == normalized_address,
        }
    }
}

impl fmt::Display for BlockEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for BlockEntry {
    type Err = PrivacyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BlockEntry::parse(s)
    }
}

impl TryFrom<String> for BlockEntry {
    type Error = PrivacyError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        BlockEntry::parse(&value)
    }
}

impl From<BlockEntry> for String {
    fn from(entry: BlockEntry) -> String {
        entry.0
    }
}

/// `domain == parent`, or `domain` ends with `.parent`.
fn is_same_or_subdomain(domain: &str, parent: &str) -> bool {
    domain.strip_suffix(parent).is_some_and(|head| head.is_empty() || head.ends_with('.'))
}

/// Lowercases and checks a domain: dot-separated labels of letters, digits
/// and inner hyphens, at least two labels, within the DNS length limits.
/// Returns why not, for the error message.
fn validate_domain(input: &str) -> Result<String, &'static str> {
    let domain = input.trim().to_lowercase();
    let domain = domain.strip_suffix('.').unwrap_or(&domain);
    if domain.is_empty() {
        return Err("there is nothing after the `@`");
    }
    if domain.len() > MAX_DOMAIN_LEN {
        return Err("it is longer than 253 bytes");
    }
    if !domain.contains('.') {
        return Err("it has no dot (write the whole domain, such as contoso.com)");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("it has an empty part between dots");
        }
        if label.len() > MAX_LABEL_LEN {
            return Err("a part between dots is longer than 63 bytes");
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err("it may only contain letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a part between dots starts or ends with a hyphen");
        }
    }
    Ok(domain.to_owned())
}

/// The workspace's blocklist, indexed so that a look-up costs one hash probe
/// per label of the address's domain, however long the list is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<BlockEntry>", into = "Vec<BlockEntry>")]
pub struct Blocklist {
    entries: Vec<BlockEntry>,
    addresses: HashSet<String>,
    domains: HashSet<String>,
}

impl Blocklist {
    /// Builds the list; repeated entries are kept once, in first-seen order.
    pub fn new(entries: Vec<BlockEntry>) -> Self {
        let mut list = Blocklist::default();
        for entry in entries {
            let fresh = match entry.domain() {
                Some(domain) => list.domains.insert(domain.to_owned()),
                None => list.addresses.insert(entry.as_str().to_owned()),
            };
            if fresh {
                list.entries.push(entry);
            }
        }
        list
    }

    /// Whether the address is blocked. The address is normalised first;
    /// something that is not an address is not blocked.
    pub fn blocks(&self, addr: &str) -> bool {
        let Ok(address) = normalize(addr) else { return false };
        if self.addresses.contains(address.as_str()) {
            return true;
        }
        if self.domains.is_empty() {
            return false;
        }
        // Walk `eu.contoso.com` → `contoso.com` → `com`.
        let mut domain = address.domain();
        loop {
            if self.domains.contains(domain) {
                return true;
            }
            match domain.split_once('.') {
                Some((_, parent)) => domain = parent,
                None => return false,
            }
        }
    }

    /// Whether any of the addresses is blocked: an item with a blocked
    /// participant is never stored.
    pub fn blocks_any<'a>(&self, addrs: impl IntoIterator<Item = &'a str>) -> bool {
        !self.is_empty() && addrs.into_iter().any(|a| self.blocks(a))
    }

    pub fn entries(&self) -> &[BlockEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl From<Vec<BlockEntry>> for Blocklist {
    fn from(entries: Vec<BlockEntry>) -> Self {
        Blocklist::new(entries)
    }
}

impl From<Blocklist> for Vec<BlockEntry> {
    fn from(list: Blocklist) -> Self {
        list.entries
    }
}

impl FromIterator<BlockEntry> for Blocklist {
    fn from_iter<I: IntoIterator<Item = BlockEntry>>(iter: I) -> Self {
        Blocklist::new(iter.into_iter().collect())
    }
}

/// A workspace's privacy settings. Missing fields deserialise to their
/// defaults, so settings saved by an older version still load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrivacyPolicy {
    pub visibility: Visibility,
    pub auto_create: AutoCreate,
    /// Activity older than this many days is purged; `None` keeps it all.
    pub retention_days: Option<u32>,
    pub blocklist: Blocklist,
    /// Directory user object ids whose mailboxes are not synced.
    pub excluded_mailboxes: Vec<String>,
    /// Keep the subject and body of internal-only items (off by default:
    /// they are kept as metadata only).
    pub keep_internal: bool,
}

impl PrivacyPolicy {
    /// Whether the mailbox of this directory user (by object id) is excluded.
    /// Object ids are GUIDs, compared without regard to case.
    pub fn is_excluded(&self, user_id: &str) -> bool {
        let user_id = user_id.trim();
        self.excluded_mailboxes.iter().any(|id| id.trim().eq_ignore_ascii_case(user_id))
    }

    /// The level an item is kept and shown at: the workspace's visibility,
    /// or metadata only for an internal-only item unless the workspace
    /// keeps internal-only content.
    pub fn level_for(&self, internal_only: bool) -> Visibility {
        level_for(self.visibility, self.keep_internal, internal_only)
    }

    /// The instant before which activity is purged, or `None` when retention
    /// is unlimited (or so long that it reaches before the calendar starts).
    pub fn retention_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let days = self.retention_days?;
        now.checked_sub_signed(Duration::try_days(i64::from(days))?)
    }
}

/// Which texts of an item may be shown and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub subject: bool,
    pub body: bool,
}

/// What the visibility level lets through for an item. A private item shows
/// neither subject nor body, whatever the level.
pub fn shown(visibility: Visibility, is_private: bool) -> Shown {
    if is_private {
        return Shown { subject: false, body: false };
    }
    match visibility {
        Visibility::Metadata => Shown { subject: false, body: false },
        Visibility::Subject => Shown { subject: true, body: false },
        Visibility::Full => Shown { subject: true, body: true },
    }
}

/// [`PrivacyPolicy::level_for`], for callers that read the two settings
/// alone.
pub fn level_for(visibility: Visibility, keep_internal: bool, internal_only: bool) -> Visibility {
    if internal_only && !keep_internal { Visibility::Metadata } else { visibility }
}

/// Whether a viewer may see an internal-only item at all (search, the API,
/// its page): when one of their own mailboxes holds it, or when they are an
/// admin and the workspace keeps internal-only content. Anyone may see an
/// item that is not internal-only, as the visibility level allows.
pub fn may_open_internal_only(keep_internal: bool, admin: bool, own_mailbox_holds_it: bool) -> bool {
    own_mailbox_holds_it || (admin && keep_internal)
}

/// Whether Graph's `sensitivity` makes an item private: `private` or
/// `confidential`, in any case. `personal` and `normal` are not private.
pub fn is_private_sensitivity(sensitivity: &str) -> bool {
    let s = sensitivity.trim();
    s.eq_ignore_ascii_case("private") || s.eq_ignore_ascii_case("confidential")
}

/// Clears what the workspace may not keep of an email, before it is stored:
/// the subject unless shown, the body and preview unless shown. Participants
/// and times are always kept; they are what matching needs.
pub fn minimise_email(record: &mut EmailRecord, visibility: Visibility) {
    let keep = shown(visibility, record.is_private);
    if !keep.subject {
        record.subject.clear();
    }
    if !keep.body {
        record.body_html.clear();
        record.body_preview.clear();
    }
}

/// Clears what the workspace may not keep of a meeting, before it is stored:
/// the subject unless shown, the body unless shown, and for a private meeting
/// or at metadata level also where it takes place (location and online
/// meeting link). Organizer, attendees and times are always kept.
pub fn minimise_meeting(record: &mut MeetingRecord, visibility: Visibility) {
    let private = is_private_sensitivity(&record.sensitivity);
    let keep = shown(visibility, private);
    if !keep.subject {
        record.subject.clear();
    }
    if !keep.body {
        record.body_html.clear();
    }
    if private || visibility == Visibility::Metadata {
        record.location = None;
        record.online_meeting_url = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{AttendeeRecord, Participant, ParticipantRole};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn entry(s: &str) -> BlockEntry {
        BlockEntry::parse(s).unwrap()
    }

    #[test]
    fn visibility_and_auto_create_names_round_trip() {
        for v in Visibility::ALL {
            assert_eq!(v.as_str().parse::<Visibility>(), Ok(*v));
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{v}\""));
        }
        for a in AutoCreate::ALL {
            assert_eq!(a.as_str().parse::<AutoCreate>(), Ok(*a));
            assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{a}\""));
        }
        assert_eq!(AutoCreate::SentAndReceived.as_str(), "sent_and_received");
        let err = "everything".parse::<Visibility>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`everything` is not a valid visibility level (expected one of: metadata, subject, full)"
        );
    }

    #[test]
    fn defaults_are_full_visibility_and_auto_create_from_sent_mail() {
        assert_eq!(Visibility::default(), Visibility::Full);
        assert_eq!(AutoCreate::default(), AutoCreate::Sent);
        let p = PrivacyPolicy::default();
        assert_eq!(p.retention_days, None);
        assert!(p.blocklist.is_empty());
        assert!(p.excluded_mailboxes.is_empty());
    }

    #[test]
    fn block_entries_normalise_addresses_and_lowercase_domains() {
        assert_eq!(entry(" MAILTO:Ann@Contoso.com ").as_str(), "ann@contoso.com");
        assert_eq!(entry("@Contoso.COM").as_str(), "@contoso.com");
        assert_eq!(entry("  @eu.contoso.com. ").as_str(), "@eu.contoso.com");
        assert_eq!(entry("*@contoso.com").as_str(), "@contoso.com");
        assert_eq!(entry("@xn--bcher-kva.example").as_str(), "@xn--bcher-kva.example");
        assert_eq!(entry("@Bücher.example").as_str(), "@bücher.example");
        assert_eq!(entry("@contoso.com").domain(), Some("contoso.com"));
        assert_eq!(entry("ann@contoso.com").domain(), None);
    }

    #[test]
    fn block_entries_reject_what_is_neither_address_nor_domain() {
        assert_eq!(BlockEntry::parse("  "), Err(PrivacyError::EmptyBlockEntry));
        for bad in [
            "@",
            "@contoso",
            "@contoso..com",
            "@.contoso.com",
            "@-contoso.com",
            "@contoso-.com",
            "@con toso.com",
            "@contoso.com/x",
            "@a@b.com",
        ] {
            assert!(matches!(BlockEntry::parse(bad), Err(PrivacyError::InvalidDomain { .. })), "{bad:?}");
        }
        let long = format!("@{}.com", vec!["a".repeat(60); 5].join("."));
        assert!(matches!(BlockEntry::parse(&long), Err(PrivacyError::InvalidDomain { .. })));
        let label = format!("@{}.com", "a".repeat(64));
        assert!(matches!(BlockEntry::parse(&label), Err(PrivacyError::InvalidDomain { .. })));
        assert!(matches!(BlockEntry::parse("contoso.com"), Err(PrivacyError::InvalidAddress { .. })));
        let message = BlockEntry::parse("contoso.com").unwrap_err().to_string();
        assert!(message.contains("@contoso.com"), "the message shows how to write a domain: {message}");
    }

    #[test]
    fn domain_entry_covers_subdomains_but_not_lookalikes() {
        let e = entry("@contoso.com");
        assert!(e.matches("x@contoso.com"));
        assert!(e.matches("x@eu.contoso.com"));
        assert!(e.matches("x@a.b.contoso.com"));
        assert!(!e.matches("x@notcontoso.com"));
        assert!(!e.matches("x@contoso.com.evil.net"));
        assert!(!e.matches("x@com"));
        assert!(!e.matches("contoso.com"));
    }

    #[test]
    fn address_entry_matches_only_that_address() {
        let e = entry("ann@contoso.com");
        assert!(e.matches("ann@contoso.com"));
        assert!(!e.matches("ann@eu.contoso.com"));
        assert!(!e.matches("bob@contoso.com"));
        assert!(!e.matches("xann@contoso.com"));
    }

    #[test]
    fn blocklist_normalises_before_matching() {
        let list = Blocklist::new(vec![entry("@contoso.com"), entry("bob@fabrikam.com")]);
        assert!(list.blocks("X@EU.Contoso.com"));
        assert!(list.blocks("mailto:Bob@Fabrikam.com "));
        assert!(!list.blocks("ann@fabrikam.com"));
        assert!(!list.blocks("x@notcontoso.com"));
        assert!(!list.blocks("not an address"));
        assert!(!list.blocks(""));
        assert!(list.blocks_any(["ann@fabrikam.com", "x@contoso.com"]));
        assert!(!list.blocks_any(["ann@fabrikam.com"]));
        assert!(!Blocklist::default().blocks_any(["x@contoso.com"]));
    }

    #[test]
    fn blocklist_keeps_each_entry_once() {
        let list: Blocklist = ["@contoso.com", "@CONTOSO.com", "a@b.com", "A@B.com"].iter().map(|s| entry(s)).collect();
        let names: Vec<_> = list.entries().iter().map(BlockEntry::as_str).collect();
        assert_eq!(names, ["@contoso.com", "a@b.com"]);
    }

    #[test]
    fn policy_serialises_with_names_and_tolerates_missing_fields() {
        let policy = PrivacyPolicy {
            visibility: Visibility::Subject,
            auto_create: AutoCreate::SentAndReceived,
            retention_days: Some(365),
            blocklist: Blocklist::new(vec![entry("@contoso.com")]),
            excluded_mailboxes: vec!["6e7b7d4a-0000-4000-8000-000000000001".into()],
            keep_internal: true,
        };
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "visibility": "subject",
                "auto_create": "sent_and_received",
                "retention_days": 365,
                "blocklist": ["@contoso.com"],
                "excluded_mailboxes": ["6e7b7d4a-0000-4000-8000-000000000001"],
                "keep_internal": true,
            })
        );
        assert_eq!(serde_json::from_value::<PrivacyPolicy>(json).unwrap(), policy);
        let partial: PrivacyPolicy = serde_json::from_str(r#"{"visibility":"metadata"}"#).unwrap();
        assert_eq!(partial.visibility, Visibility::Metadata);
        assert_eq!(partial.auto_create, AutoCreate::Sent);
        assert!(!partial.keep_internal);
        assert!(serde_json::from_str::<PrivacyPolicy>(r#"{"blocklist":["@nodot"]}"#).is_err());
    }

    #[test]
    fn excluded_mailboxes_compare_ids_without_case() {
        let policy = PrivacyPolicy { excluded_mailboxes: vec!["ABC-1".into()], ..Default::default() };
        assert!(policy.is_excluded("abc-1"));
        assert!(!policy.is_excluded("abc-2"));
    }

    #[test]
    fn retention_cutoff_is_now_minus_the_days() {
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        let policy = PrivacyPolicy { retention_days: Some(30), ..Default::default() };
        assert_eq!(policy.retention_cutoff(now), Some(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()));
        assert_eq!(PrivacyPolicy::default().retention_cutoff(now), None);
        let forever = PrivacyPolicy { retention_days: Some(u32::MAX), ..Default::default() };
        assert_eq!(forever.retention_cutoff(now), None);
    }

    #[test]
    fn shown_follows_visibility_and_private_shows_nothing() {
        assert_eq!(shown(Visibility::Full, false), Shown { subject: true, body: true });
        assert_eq!(shown(Visibility::Subject, false), Shown { subject: true, body: false });
        assert_eq!(shown(Visibility::Metadata, false), Shown { subject: false, body: false });
        for v in Visibility::ALL {
            assert_eq!(shown(*v, true), Shown { subject: false, body: false });
        }
    }

    #[test]
    fn private_sensitivity_is_private_or_confidential_in_any_case() {
        assert!(is_private_sensitivity("private"));
        assert!(is_private_sensitivity("Confidential"));
        assert!(is_private_sensitivity(" PRIVATE "));
        assert!(!is_private_sensitivity("personal"));
        assert!(!is_private_sensitivity("normal"));
        assert!(!is_private_sensitivity(""));
    }

    fn email(is_private: bool) -> EmailRecord {
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        EmailRecord {
            internet_message_id: "<1@contoso.com>".into(),
            conversation_id: Some("c1".into()),
            subject: "Q3 plan".into(),
            body_html: "<p>Draft</p>".into(),
            body_preview: "Draft".into(),
            sent_at: at,
            received_at: at,
            has_attachments: false,
            importance: "normal".into(),
            is_private,
            meeting_message_type: None,
            participants: vec![Participant {
                role: ParticipantRole::From,
                address: "ann@contoso.com".into(),
                name: "Ann".into(),
            }],
            internal_only: false,
        }
    }

    fn meeting(sensitivity: &str) -> MeetingRecord {
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        MeetingRecord {
            ical_uid: "uid-1".into(),
            series_master_id: None,
            event_type: "singleInstance".into(),
            subject: "Review".into(),
            body_html: "<p>Agenda</p>".into(),
            start: at,
            end: at + Duration::hours(1),
            is_all_day: false,
            is_cancelled: false,
            sensitivity: sensitivity.into(),
            original_time_zone: None,
            location: Some("Room 1".into()),
            online_meeting_url: Some("https://teams.example/1".into()),
            organizer: Participant {
                role: ParticipantRole::Organizer,
                address: "ann@contoso.com".into(),
                name: "Ann".into(),
            },
            attendees: vec![AttendeeRecord {
                address: "bob@fabrikam.com".into(),
                name: "Bob".into(),
                kind: "required".into(),
                response: "accepted".into(),
            }],
            internal_only: false,
        }
    }

    #[test]
    fn internal_only_items_are_kept_as_metadata_unless_the_workspace_keeps_them() {
        let mut policy = PrivacyPolicy::default();
        assert!(!policy.keep_internal, "off by default");
        assert_eq!(policy.level_for(false), Visibility::Full);
        assert_eq!(policy.level_for(true), Visibility::Metadata);
        policy.keep_internal = true;
        assert_eq!(policy.level_for(true), Visibility::Full);
        policy.visibility = Visibility::Subject;
        assert_eq!(policy.level_for(true), Visibility::Subject, "keeping never shows more than the level");

        let mut internal = meeting("normal");
        minimise_meeting(&mut internal, PrivacyPolicy::default().level_for(true));
        assert_eq!((internal.subject.as_str(), internal.body_html.as_str()), ("", ""));
        assert_eq!((internal.location, internal.online_meeting_url), (None, None), "where colleagues meet is content");
    }

    #[test]
    fn only_the_mailbox_owner_or_an_admin_of_a_keeping_workspace_opens_internal_only_items() {
        for keep in [false, true] {
            assert!(may_open_internal_only(keep, false, true), "a member sees their own");
            assert!(may_open_internal_only(keep, true, true), "an admin sees their own");
            assert!(!may_open_internal_only(keep, false, false), "a member never sees a colleague's");
        }
        assert!(!may_open_internal_only(false, true, false), "an admin only when the workspace keeps them");
        assert!(may_open_internal_only(true, true, false));
    }

    #[test]
    fn minimise_email_clears_what_the_level_hides() {
        let mut full = email(false);
        minimise_email(&mut full, Visibility::Full);
        assert_eq!(full, email(false));

        let mut subject = email(false);
        minimise_email(&mut subject, Visibility::Subject);
        assert_eq!(
            (subject.subject.as_str(), subject.body_html.as_str(), subject.body_preview.as_str()),
            ("Q3 plan", "", "")
        );

        let mut metadata = email(false);
        minimise_email(&mut metadata, Visibility::Metadata);
        assert_eq!(
            (metadata.subject.as_str(), metadata.body_html.as_str(), metadata.body_preview.as_str()),
            ("", "", "")
        );
        assert_eq!(metadata.participants, email(false).participants);
        assert_eq!(metadata.sent_at, email(false).sent_at);
    }

    #[test]
    fn minimise_email_keeps_only_metadata_of_a_private_email() {
        let mut private = email(true);
        minimise_email(&mut private, Visibility::Full);
        assert_eq!((private.subject.as_str(), private.body_html.as_str(), private.body_preview.as_str()), ("", "", ""));
        assert_eq!(private.participants.len(), 1);
        assert_eq!(private.internet_message_id, "<1@contoso.com>");
    }

    #[test]
    fn minimise_meeting_clears_text_and_for_private_meetings_the_place() {
        let mut full = meeting("normal");
        minimise_meeting(&mut full, Visibility::Full);
        assert_eq!(full, meeting("normal"));

        let mut subject = meeting("personal");
        minimise_meeting(&mut subject, Visibility::Subject);
        assert_eq!(subject.subject, "Review");
        assert_eq!(subject.body_html, "");
        assert_eq!(subject.location.as_deref(), Some("Room 1"), "only private meetings lose their place");

        let mut private = meeting("Private");
        minimise_meeting(&mut private, Visibility::Full);
        assert_eq!((private.subject.as_str(), private.body_html.as_str()), ("", ""));
        assert_eq!((private.location, private.online_meeting_url), (None, None));
        assert_eq!(private.attendees, meeting("normal").attendees);
        assert_eq!(private.organizer, meeting("normal").organizer);
        assert_eq!((private.start, private.end), (meeting("normal").start, meeting("normal").end));
    }

    proptest! {
        #[test]
        fn block_entry_parsing_never_panics_and_is_idempotent(s in any::<String>()) {
            if let Ok(e) = BlockEntry::parse(&s) {
                prop_assert_eq!(BlockEntry::parse(e.as_str()), Ok(e.clone()));
            }
        }

        #[test]
        fn a_domain_entry_blocks_every_address_under_it(
            local in "[a-z0-9.]{1,10}",
            sub in proptest::option::of("[a-z0-9]{1,8}"),
            name in "[a-z0-9]{1,10}",
            other in "[a-z0-9]{1,10}",
        ) {
            let list = Blocklist::new(vec![BlockEntry::parse(&format!("@{name}.com")).unwrap()]);
            let domain = match &sub { Some(s) => format!("{s}.{name}.com"), None => format!("{name}.com") };
            let inside = format!("{local}@{}", domain.to_uppercase());
            prop_assert!(list.blocks(&inside), "{} should be blocked", inside);
            // A different name that merely ends with it is not covered.
            let lookalike = format!("{local}@{other}{name}.com");
            prop_assert!(!list.blocks(&lookalike), "{} should not be blocked", lookalike);
        }

        #[test]
        fn blocks_never_panics(entries in proptest::collection::vec(any::<String>(), 0..4), addr in any::<String>()) {
            let list: Blocklist = entries.iter().filter_map(|e| BlockEntry::parse(e).ok()).collect();
            let _ = list.blocks(&addr);
        }
    }
}
