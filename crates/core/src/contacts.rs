/*!
Contact rules: what a contact's name may be, which addresses are people at
all, what company a work address belongs to, and whom the auto-creation
policy (docs/architecture.md §5) turns into a contact.

Contacts are external people. Auto-creation skips addresses that are not a
person's (no-reply and role mailboxes such as `support@` or
`bounce+abc@`), blocklisted ones and internal ones. A company is made only
from a work domain: `ann@gmail.com` gets no company, `ann@eu.contoso.com`
gets Contoso at `contoso.com`.

The registrable-domain rule is a heuristic, not the Public Suffix List: the
last two labels, or the last three under a well-known public second level
such as `co.uk`. It is right for the domains companies mail from, and a
wrong guess only names a company that the user can rename.

```
use tac_core::address::normalize;
use tac_core::contacts::{company_domain, company_name_from_domain, guess_name, is_role_address};

assert_eq!(company_domain("mail.fabrikam.co.uk"), "fabrikam.co.uk");
assert_eq!(company_name_from_domain("adventure-works.com"), "Adventure Works");
let ann = normalize("ann.lee42@contoso.com").unwrap();
assert_eq!(guess_name("", &ann), "Ann Lee");
assert_eq!(guess_name("\"Lee, Ann\"", &ann), "Ann Lee");
assert!(is_role_address(&normalize("no-reply+x@contoso.com").unwrap()));
```
*/

use crate::address::{NormalizedAddress, normalize};
use crate::privacy::{AutoCreate, Blocklist};
use crate::records::{MeetingRecord, Participant, ParticipantRole};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The longest contact or company name, in characters.
pub const MAX_NAME_LEN: usize = 200;

/// Why a contact field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContactError {
    #[error("the name is {len} characters long; at most {max} are allowed, so shorten it")]
    NameTooLong { len: usize, max: usize },
    #[error("the name contains a control character (such as a tab or line break); remove it and try again")]
    ControlCharacter,
}

/// Checks a contact's name and returns it trimmed. An empty name is allowed
/// (the caller may then guess one with [`guess_name`]); control characters
/// and names over [`MAX_NAME_LEN`] characters are not.
pub fn validate_name(name: &str) -> Result<String, ContactError> {
    let name = name.trim();
    if name.chars().any(char::is_control) {
        return Err(ContactError::ControlCharacter);
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(ContactError::NameTooLong { len, max: MAX_NAME_LEN });
    }
    Ok(name.to_owned())
}

/// Local parts that belong to a function, not a person.
const ROLE_LOCAL_PARTS: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "mailer-daemon",
    "mailerdaemon",
    "postmaster",
    "bounce",
    "bounces",
    "reply",
    "replies",
    "notifications",
    "notification",
    "notify",
    "alerts",
    "alert",
    "info",
    "sales",
    "support",
    "help",
    "helpdesk",
    "hello",
    "contact",
    "admin",
    "administrator",
    "billing",
    "invoices",
    "invoice",
    "accounts",
    "accounting",
    "office",
    "team",
    "marketing",
    "newsletter",
    "newsletters",
    "news",
    "jobs",
    "careers",
    "hr",
    "abuse",
    "webmaster",
    "hostmaster",
    "security",
    "privacy",
    "legal",
    "press",
    "feedback",
    "calendar",
    "automated",
];

/// Local-part prefixes of no-reply senders and of per-message bounce or
/// reply tokens (`bounce-123`, `bounces+abc`, `reply-xyz`).
const ROLE_PREFIXES: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "bounce",
    "reply-",
    "reply.",
    "reply_",
    "replies-",
];

/// Whether the address is a no-reply or role mailbox rather than a person.
/// Plus-addressing is ignored: `support+eu@` is `support@`.
pub fn is_role_address(addr: &NormalizedAddress) -> bool {
    let local = addr.local_part();
    let base = local.split_once('+').map_or(local, |(base, _)| base);
    if ROLE_LOCAL_PARTS.contains(&base) {
        return true;
    }
    if ROLE_PREFIXES.iter().any(|p| base.starts_with(p)) {
        return true;
    }
    // `no.reply`, `do.not.reply`, `mailer.daemon`.
    let compact: String = base.chars().filter(|c| !matches!(c, '.' | '-' | '_')).collect();
    compact.starts_with("noreply") || compact.starts_with("donotreply") || compact == "mailerdaemon"
}

/// Free mail providers by exact registrable domain.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "passport.com",
    "yahoo.com",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "aim.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
    "gmx.com",
    "gmx.net",
    "web.de",
    "t-online.de",
    "freenet.de",
    "posteo.de",
    "mailbox.org",
    "mail.ru",
    "bk.ru",
    "inbox.ru",
    "list.ru",
    "rambler.ru",
    "ya.ru",
    "yandex.com",
    "qq.com",
    "foxmail.com",
    "163.com",
    "126.com",
    "yeah.net",
    "sina.com",
    "sohu.com",
    "naver.com",
    "daum.net",
    "hanmail.net",
    "zoho.com",
    "zohomail.com",
    "fastmail.com",
    "fastmail.fm",
    "hey.com",
    "tutanota.com",
    "tutanota.de",
    "tuta.io",
    "tuta.com",
    "hushmail.com",
    "mail.com",
    "email.com",
    "usa.com",
    "rediffmail.com",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "onet.pl",
    "libero.it",
    "virgilio.it",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "btinternet.com",
    "virginmedia.com",
    "sky.com",
    "bigpond.com",
    "shaw.ca",
    "rogers.com",
    "telus.net",
    "uol.com.br",
    "bol.com.br",
];

/// Providers that run the same free service under many country domains
/// (`hotmail.co.uk`, `yahoo.fr`, `gmx.de`, `yandex.ru`).
const FREE_MAIL_FAMILIES: &[&str] = &["hotmail", "outlook", "live", "windowslive", "yahoo", "aol", "gmx", "yandex"];

/// Whether a domain belongs to a free mail provider, so that it says nothing
/// about the person's company. Subdomains count (`eu.gmail.com`).
pub fn is_free_mail_domain(domain: &str) -> bool {
    let registrable = company_domain(domain);
    if FREE_MAIL_DOMAINS.contains(&registrable.as_str()) {
        return true;
    }
    let Some((name, suffix)) = registrable.split_once('.') else { return false };
    FREE_MAIL_FAMILIES.contains(&name)
        && (matches!(suffix, "com" | "net")
            || (suffix.len() == 2 && suffix.chars().all(|c| c.is_ascii_alphabetic()))
            || PUBLIC_SECOND_LEVELS.contains(&suffix))
}

/// Second levels under which names are registered, as in `fabrikam.co.uk`.
const PUBLIC_SECOND_LEVELS: &[&str] = &[
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "me.uk",
    "ltd.uk",
    "plc.uk",
    "net.uk",
    "sch.uk",
    "nhs.uk",
    "police.uk",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "asn.au",
    "id.au",
    "co.nz",
    "org.nz",
    "net.nz",
    "ac.nz",
    "govt.nz",
    "school.nz",
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "go.jp",
    "ed.jp",
    "com.br",
    "net.br",
    "org.br",
    "gov.br",
    "edu.br",
    "com.mx",
    "org.mx",
    "gob.mx",
    "edu.mx",
    "net.mx",
    "co.in",
    "net.in",
    "org.in",
    "ac.in",
    "gov.in",
    "firm.in",
    "gen.in",
    "ind.in",
    "co.za",
    "org.za",
    "ac.za",
    "gov.za",
    "net.za",
    "web.za",
    "com.sg",
    "edu.sg",
    "gov.sg",
    "org.sg",
    "net.sg",
    "com.cn",
    "net.cn",
    "org.cn",
    "gov.cn",
    "edu.cn",
    "ac.cn",
    "com.tr",
    "org.tr",
    "net.tr",
    "gen.tr",
    "edu.tr",
    "gov.tr",
    "co.kr",
    "or.kr",
    "ne.kr",
    "ac.kr",
    "go.kr",
    "re.kr",
    "com.hk",
    "org.hk",
    "net.hk",
    "edu.hk",
    "gov.hk",
    "com.tw",
    "org.tw",
    "net.tw",
    "edu.tw",
    "gov.tw",
    "com.ar",
    "gob.ar",
    "org.ar",
    "com.co",
    "com.pe",
    "com.ve",
    "com.ec",
    "com.uy",
    "com.py",
    "com.bo",
    "com.my",
    "org.my",
    "com.ph",
    "com.pk",
    "com.vn",
    "com.eg",
    "com.sa",
    "com.ng",
    "com.gh",
    "co.il",
    "org.il",
    "ac.il",
    "gov.il",
    "co.id",
    "or.id",
    "ac.id",
    "go.id",
    "co.th",
    "in.th",
    "ac.th",
    "go.th",
    "co.ke",
    "co.tz",
    "co.ug",
    "co.zw",
    "com.ua",
    "org.ua",
    "co.at",
    "or.at",
    "ac.at",
    "com.pl",
    "com.es",
    "com.gr",
    "com.cy",
    "com.mt",
    "com.ru",
];

/// The registrable domain of a domain, by the heuristic in the module docs:
/// `eu.contoso.com` → `contoso.com`, `mail.fabrikam.co.uk` → `fabrikam.co.uk`.
/// Lowercases, trims each label and drops empty ones (so a trailing dot
/// goes); input with fewer than three labels comes back as it is.
pub fn company_domain(domain: &str) -> String {
    let lowered = domain.to_lowercase();
    let labels: Vec<&str> = lowered.split('.').map(str::trim).filter(|l| !l.is_empty()).collect();
    let keep = match labels.len() {
        0..=2 => labels.len(),
        n if PUBLIC_SECOND_LEVELS.contains(&labels[n - 2..].join(".").as_str()) => 3,
        _ => 2,
    };
    labels[labels.len() - keep..].join(".")
}

/// A company's name from its domain: the registrable name, split at hyphens
/// and underscores, each word capitalised. `fabrikam-inc.co.uk` →
/// `Fabrikam Inc`. Falls back to the domain itself when it has no name part.
pub fn company_name_from_domain(domain: &str) -> String {
    let registrable = company_domain(domain);
    let name = registrable.split('.').next().unwrap_or_default();
    let words: Vec<String> = name.split(['-', '_']).filter(|w| !w.is_empty()).map(capitalise).collect();
    if words.is_empty() { domain.trim().to_owned() } else { words.join(" ") }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A person's name for a contact: the display name when it is a real name,
/// otherwise one made from the address's local part; never empty.
///
/// The display name is trimmed of whitespace and quotes, and `Lee, Ann`
/// becomes `Ann Lee`. It is ignored when empty, equal to the address or
/// containing `@`. From the local part, `ann.lee`, `ann_lee` and `ann-lee`
/// give `Ann Lee`; digits and a `+tag` are dropped. With nothing usable,
/// the name is the address itself.
pub fn guess_name(display_name: &str, address: &NormalizedAddress) -> String {
    if let Some(name) = clean_display_name(display_name, address) {
        return name;
    }
    let local = address.local_part();
    let base = local.split_once('+').map_or(local, |(base, _)| base);
    let words: Vec<String> =
        base.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).map(capitalise).collect();
    let name = words.join(" ");
    if name.is_empty() { fit(address.as_str()) } else { fit(&name) }
}

fn clean_display_name(display_name: &str, address: &NormalizedAddress) -> Option<String> {
    // Control characters become spaces and runs of spaces collapse, so the
    // result always passes `validate_name`.
    let spaced: String = display_name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let collapsed = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = collapsed.trim_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '“' | '”' | '‘' | '’'));
    if name.is_empty() || name.contains('@') || name.eq_ignore_ascii_case(address.as_str()) {
        return None;
    }
    let name = match name.split_once(',') {
        Some((last, first)) if !first.contains(',') && !last.trim().is_empty() && !first.trim().is_empty() => {
            format!("{} {}", first.trim(), last.trim())
        }
        _ => name.to_owned(),
    };
    Some(fit(&name))
}

/// Cuts a name to [`MAX_NAME_LEN`] characters.
fn fit(name: &str) -> String {
    name.chars().take(MAX_NAME_LEN).collect::<String>().trim_end().to_owned()
}

/// A company to create (or find) along with a contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompanySeed {
    /// The registrable domain ([`company_domain`]).
    pub domain: String,
    /// A name made from the domain ([`company_name_from_domain`]).
    pub name: String,
}

impl CompanySeed {
    /// The company of a work address; `None` for a free mail address.
    pub fn for_address(address: &NormalizedAddress) -> Option<CompanySeed> {
        let domain = address.domain();
        if is_free_mail_domain(domain) {
            return None;
        }
        Some(CompanySeed { domain: company_domain(domain), name: company_name_from_domain(domain) })
    }
}

/// A contact that auto-creation proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoCreateCandidate {
    pub address: NormalizedAddress,
    /// From [`guess_name`]: never empty.
    pub name: String,
    /// Only for addresses at a work domain.
    pub company: Option<CompanySeed>,
}

/// Whom the policy turns into contacts from one email or meeting.
///
/// `we_sent` is true for mail our people sent and meetings our people
/// organised. [`AutoCreate::Sent`] proposes, when we sent, every recipient
/// (to, cc, bcc, attendee) and nothing otherwise.
/// [`AutoCreate::SentAndReceived`] does the same and, when we did not send,
/// also proposes the sender (from, organizer). Role and no-reply addresses,
/// blocked ones, internal ones (`is_internal` gets the normalised address)
/// and unparsable ones are skipped. Each address appears once, in the order
/// of `participants`.
pub fn auto_create_candidates(
    policy: AutoCreate,
    participants: &[Participant],
    we_sent: bool,
    is_internal: impl Fn(&str) -> bool,
    blocklist: &Blocklist,
) -> Vec<AutoCreateCandidate> {
    let wanted = |role: ParticipantRole| {
        let recipient = matches!(
            role,
            ParticipantRole::To | ParticipantRole::Cc | ParticipantRole::Bcc | ParticipantRole::Attendee
        );
        let sender = matches!(role, ParticipantRole::From | ParticipantRole::Organizer);
        match policy {
            AutoCreate::None => false,
            AutoCreate::Sent => we_sent && recipient,
            AutoCreate::SentAndReceived => (we_sent && recipient) || (!we_sent && sender),
        }
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for p in participants.iter().filter(|p| wanted(p.role)) {
        let Ok(address) = normalize(&p.address) else { continue };
        if seen.contains(address.as_str())
            || is_role_address(&address)
            || blocklist.blocks(address.as_str())
            || is_internal(address.as_str())
        {
            continue;
        }
        seen.insert(address.as_str().to_owned());
        out.push(AutoCreateCandidate {
            name: guess_name(&p.name, &address),
            company: CompanySeed::for_address(&address),
            address,
        });
    }
    out
}

/// A meeting's people as participants: the organizer, then the attendees,
/// for [`auto_create_candidates`] and matching.
pub fn meeting_participants(meeting: &MeetingRecord) -> Vec<Participant> {
    std::iter::once(meeting.organizer.clone())
        .chain(meeting.attendees.iter().map(|a| Participant {
            role: ParticipantRole::Attendee,
            address: a.address.clone(),
            name: a.name.clone(),
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::BlockEntry;
    use proptest::prelude::*;

    fn addr(s: &str) -> NormalizedAddress {
        normalize(s).unwrap()
    }

    fn p(role: ParticipantRole, address: &str, name: &str) -> Participant {
        Participant { role, address: address.into(), name: name.into() }
    }

    #[test]
    fn validate_name_trims_and_allows_empty() {
        assert_eq!(validate_name("  Ann Lee "), Ok("Ann Lee".into()));
        assert_eq!(validate_name(""), Ok(String::new()));
        assert_eq!(validate_name("   "), Ok(String::new()));
        assert_eq!(validate_name("Zoë Ålund"), Ok("Zoë Ålund".into()));
    }

    #[test]
    fn validate_name_rejects_control_characters_and_long_names() {
        assert_eq!(validate_name("Ann\nLee"), Err(ContactError::ControlCharacter));
        assert_eq!(validate_name("Ann\u{0}"), Err(ContactError::ControlCharacter));
        assert_eq!(validate_name(&"é".repeat(MAX_NAME_LEN)).map(|n| n.chars().count()), Ok(MAX_NAME_LEN));
        assert_eq!(
            validate_name(&"a".repeat(MAX_NAME_LEN + 1)),
            Err(ContactError::NameTooLong { len: MAX_NAME_LEN + 1, max: MAX_NAME_LEN })
        );
    }

    #[test]
    fn role_and_no_reply_addresses_are_not_people() {
        for role in [
            "noreply@contoso.com",
            "no-reply@contoso.com",
            "no_reply@contoso.com",
            "no.reply@contoso.com",
            "donotreply@contoso.com",
            "do-not-reply@contoso.com",
            "noreply-billing@contoso.com",
            "no-reply.eu@contoso.com",
            "mailer-daemon@contoso.com",
            "postmaster@contoso.com",
            "bounce@contoso.com",
            "bounces+abc123@contoso.com",
            "bounce-mc.us5_1234@mcsv.net",
            "reply+abcdef@reply.github.com",
            "reply-7f3a@mail.contoso.com",
            "notifications@github.com",
            "support+eu@contoso.com",
            "info@contoso.com",
            "sales@contoso.com",
            "hr@contoso.com",
            "security@contoso.com",
            "newsletter@contoso.com",
        ] {
            assert!(is_role_address(&addr(role)), "{role}");
        }
    }

    #[test]
    fn ordinary_people_are_not_role_addresses() {
        for person in [
            "ann@contoso.com",
            "ann.lee@contoso.com",
            "ann+crm@contoso.com",
            "info.lee@contoso.com",
            "salesforce.admin.ann@contoso.com",
            "noah@contoso.com",
            "hrishikesh@contoso.com",
            "replyann@contoso.com",
            "newsom@contoso.com",
        ] {
            assert!(!is_role_address(&addr(person)), "{person}");
        }
    }

    #[test]
    fn free_mail_domains_include_country_variants_and_subdomains() {
        for free in [
            "gmail.com",
            "googlemail.com",
            "outlook.com",
            "hotmail.com",
            "hotmail.co.uk",
            "hotmail.fr",
            "live.com",
            "msn.com",
            "yahoo.com",
            "yahoo.co.uk",
            "yahoo.co.jp",
            "ymail.com",
            "icloud.com",
            "me.com",
            "proton.me",
            "pm.me",
            "gmx.de",
            "gmx.net",
            "web.de",
            "mail.ru",
            "yandex.ru",
            "qq.com",
            "163.com",
            "fastmail.com",
            "tuta.io",
            "mail.com",
            "GMail.com.",
        ] {
            assert!(is_free_mail_domain(free), "{free}");
        }
    }

    #[test]
    fn work_domains_are_not_free_mail() {
        for work in [
            "contoso.com",
            "eu.contoso.com",
            "fabrikam.co.uk",
            "hotmailer.com",
            "mygmail.com",
            "gmail.contoso.com",
            "yahoo.example.org",
            "com",
            "",
        ] {
            assert!(!is_free_mail_domain(work), "{work}");
        }
    }

    #[test]
    fn company_domain_keeps_the_registrable_part() {
        let cases = [
            ("contoso.com", "contoso.com"),
            ("eu.contoso.com", "contoso.com"),
            ("a.b.c.contoso.com", "contoso.com"),
            ("mail.fabrikam.co.uk", "fabrikam.co.uk"),
            ("fabrikam.co.uk", "fabrikam.co.uk"),
            ("sydney.wingtip.com.au", "wingtip.com.au"),
            ("Tokyo.Litware.CO.JP.", "litware.co.jp"),
            ("co.uk", "co.uk"),
            ("localhost", "localhost"),
            ("a..contoso.com", "contoso.com"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(company_domain(input), expected, "{input:?}");
        }
    }

    #[test]
    fn company_name_from_domain_capitalises_words() {
        assert_eq!(company_name_from_domain("contoso.com"), "Contoso");
        assert_eq!(company_name_from_domain("fabrikam-inc.co.uk"), "Fabrikam Inc");
        assert_eq!(company_name_from_domain("adventure-works.com"), "Adventure Works");
        assert_eq!(company_name_from_domain("eu.tailspin_toys.com"), "Tailspin Toys");
        assert_eq!(company_name_from_domain("163.com"), "163");
        assert_eq!(company_name_from_domain("-.com"), "-.com");
    }

    /// Checks `guess_name(display_name, address)` for each case.
    fn assert_guesses(cases: &[(&str, &str, &str)]) {
        for (display_name, address, expected) in cases {
            assert_eq!(guess_name(display_name, &addr(address)), *expected, "{display_name:?} <{address}>");
        }
    }

    #[test]
    fn guess_name_prefers_a_real_display_name() {
        let a = "ann.lee@contoso.com";
        assert_guesses(&[
            ("Ann Lee", a, "Ann Lee"),
            ("  \"Ann  Lee\" ", a, "Ann Lee"),
            ("'Ann Lee'", a, "Ann Lee"),
            ("Lee, Ann", a, "Ann Lee"),
            ("\"Lee, Ann\"", a, "Ann Lee"),
            ("Lee, Ann, PhD", a, "Lee, Ann, PhD"),
            ("Ann\tLee\n", a, "Ann Lee"),
        ]);
    }

    #[test]
    fn guess_name_ignores_display_names_that_are_addresses() {
        let a = "ann.lee@contoso.com";
        assert_guesses(&[
            ("", a, "Ann Lee"),
            ("ann.lee@contoso.com", a, "Ann Lee"),
            ("'Ann.Lee@Contoso.com'", a, "Ann Lee"),
            ("someone@else.com", a, "Ann Lee"),
        ]);
    }

    #[test]
    fn guess_name_builds_a_name_from_the_local_part() {
        assert_guesses(&[
            ("", "ann_lee@contoso.com", "Ann Lee"),
            ("", "ann-lee@contoso.com", "Ann Lee"),
            ("", "ann.lee42+crm@contoso.com", "Ann Lee"),
            ("", "jsmith@contoso.com", "Jsmith"),
            ("", "émile.zola@contoso.fr", "Émile Zola"),
            ("", "12345@contoso.com", "12345@contoso.com"),
        ]);
    }

    #[test]
    fn guess_name_is_never_longer_than_a_valid_name() {
        let a = addr("ann@contoso.com");
        let long = "A".repeat(MAX_NAME_LEN * 2);
        assert_eq!(guess_name(&long, &a).chars().count(), MAX_NAME_LEN);
    }

    fn internal(a: &str) -> bool {
        a.ends_with("@ours.com")
    }

    fn sent_mail() -> Vec<Participant> {
        vec![
            p(ParticipantRole::From, "me@ours.com", "Me"),
            p(ParticipantRole::To, "Ann.Lee@Contoso.com", "Lee, Ann"),
            p(ParticipantRole::To, "colleague@ours.com", ""),
            p(ParticipantRole::Cc, "bob@gmail.com", ""),
            p(ParticipantRole::Cc, "ann.lee@contoso.com", "Ann again"),
            p(ParticipantRole::Bcc, "noreply@contoso.com", ""),
            p(ParticipantRole::Bcc, "eve@blocked.example", ""),
            p(ParticipantRole::To, "not an address", ""),
            p(ParticipantRole::To, "cy@eu.fabrikam.co.uk", "Cy"),
        ]
    }

    fn blocklist() -> Blocklist {
        Blocklist::new(vec![BlockEntry::parse("@blocked.example").unwrap()])
    }

    #[test]
    fn sent_policy_proposes_external_recipients_of_what_we_sent() {
        let got = auto_create_candidates(AutoCreate::Sent, &sent_mail(), true, internal, &blocklist());
        assert_eq!(
            got,
            vec![
                AutoCreateCandidate {
                    address: addr("ann.lee@contoso.com"),
                    name: "Ann Lee".into(),
                    company: Some(CompanySeed { domain: "contoso.com".into(), name: "Contoso".into() }),
                },
                AutoCreateCandidate { address: addr("bob@gmail.com"), name: "Bob".into(), company: None },
                AutoCreateCandidate {
                    address: addr("cy@eu.fabrikam.co.uk"),
                    name: "Cy".into(),
                    company: Some(CompanySeed { domain: "fabrikam.co.uk".into(), name: "Fabrikam".into() }),
                },
            ]
        );
    }

    #[test]
    fn sent_policy_proposes_nobody_from_received_mail() {
        let received =
            vec![p(ParticipantRole::From, "ann@contoso.com", "Ann"), p(ParticipantRole::To, "me@ours.com", "")];
        assert!(auto_create_candidates(AutoCreate::Sent, &received, false, internal, &Blocklist::default()).is_empty());
    }

    #[test]
    fn none_policy_proposes_nobody() {
        assert!(auto_create_candidates(AutoCreate::None, &sent_mail(), true, internal, &blocklist()).is_empty());
    }

    #[test]
    fn sent_and_received_policy_adds_the_external_sender_of_received_mail() {
        let received = vec![
            p(ParticipantRole::From, "ann@contoso.com", "Ann"),
            p(ParticipantRole::To, "me@ours.com", ""),
            p(ParticipantRole::Cc, "bob@fabrikam.com", "Bob"),
        ];
        let got =
            auto_create_candidates(AutoCreate::SentAndReceived, &received, false, internal, &Blocklist::default());
        let addresses: Vec<_> = got.iter().map(|c| c.address.as_str()).collect();
        assert_eq!(addresses, ["ann@contoso.com"], "only the sender, not other recipients");

        let invite =
            vec![p(ParticipantRole::Organizer, "org@contoso.com", ""), p(ParticipantRole::Attendee, "me@ours.com", "")];
        let got = auto_create_candidates(AutoCreate::SentAndReceived, &invite, false, internal, &Blocklist::default());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "Org");

        let sent = auto_create_candidates(AutoCreate::SentAndReceived, &sent_mail(), true, internal, &blocklist());
        assert_eq!(sent, auto_create_candidates(AutoCreate::Sent, &sent_mail(), true, internal, &blocklist()));
    }

    #[test]
    fn received_mail_from_a_role_or_internal_sender_proposes_nobody() {
        for from in ["no-reply@contoso.com", "colleague@ours.com", "x@sub.blocked.example"] {
            let received = vec![p(ParticipantRole::From, from, "")];
            assert!(
                auto_create_candidates(AutoCreate::SentAndReceived, &received, false, internal, &blocklist())
                    .is_empty(),
                "{from}"
            );
        }
    }

    #[test]
    fn meeting_participants_lists_organizer_then_attendees() {
        use crate::records::AttendeeRecord;
        let at = chrono::DateTime::UNIX_EPOCH;
        let meeting = MeetingRecord {
            ical_uid: "u".into(),
            series_master_id: None,
            event_type: "singleInstance".into(),
            subject: String::new(),
            body_html: String::new(),
            start: at,
            end: at,
            is_all_day: false,
            is_cancelled: false,
            sensitivity: "normal".into(),
            original_time_zone: None,
            location: None,
            online_meeting_url: None,
            organizer: p(ParticipantRole::Organizer, "me@ours.com", "Me"),
            attendees: vec![AttendeeRecord {
                address: "ann@contoso.com".into(),
                name: "Ann".into(),
                kind: "required".into(),
                response: "none".into(),
            }],
            internal_only: false,
        };
        let ps = meeting_participants(&meeting);
        assert_eq!(
            ps,
            vec![
                p(ParticipantRole::Organizer, "me@ours.com", "Me"),
                p(ParticipantRole::Attendee, "ann@contoso.com", "Ann")
            ]
        );
        let got = auto_create_candidates(AutoCreate::Sent, &ps, true, internal, &Blocklist::default());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].address.as_str(), "ann@contoso.com");
    }

    proptest! {
        #[test]
        fn guess_name_is_never_empty_and_always_a_valid_name(display in any::<String>(), local in "[a-zA-Z0-9._+\\-]{1,30}") {
            if let Ok(a) = normalize(&format!("{local}@contoso.com")) {
                let name = guess_name(&display, &a);
                prop_assert!(!name.is_empty());
                prop_assert_eq!(validate_name(&name), Ok(name.clone()));
            }
        }

        #[test]
        fn domain_helpers_never_panic(domain in any::<String>()) {
            let registrable = company_domain(&domain);
            prop_assert_eq!(company_domain(&registrable), registrable.clone());
            let _ = company_name_from_domain(&domain);
            let _ = is_free_mail_domain(&domain);
        }

        #[test]
        fn candidates_are_unique_external_and_unblocked(
            addrs in proptest::collection::vec("[a-c]{1,2}@(ours|contoso|blocked)\\.(com|example)", 0..12),
            we_sent in any::<bool>(),
        ) {
            let ps: Vec<_> = addrs.iter().enumerate().map(|(i, a)| {
                let role = if i % 2 == 0 { ParticipantRole::To } else { ParticipantRole::From };
                p(role, a, "")
            }).collect();
            let got = auto_create_candidates(AutoCreate::SentAndReceived, &ps, we_sent, internal, &blocklist());
            let unique: HashSet<_> = got.iter().map(|c| c.address.clone()).collect();
            prop_assert_eq!(unique.len(), got.len());
            for c in &got {
                prop_assert!(!internal(c.address.as_str()));
                prop_assert!(!blocklist().blocks(c.address.as_str()));
            }
        }
    }
}
