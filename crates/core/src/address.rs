/*!
Address normalisation: the one place that decides what two addresses being
"the same" means (docs/architecture.md §5).

Graph hands us addresses in several shapes: plain SMTP addresses in any case,
`mailto:` URIs from calendar attendees, padded strings from hand-typed
contacts, and — for senders inside an Exchange organisation — X.500
legacyExchangeDN values such as `/o=ExchangeLabs/ou=…/cn=Recipients/cn=…`.
Matching, deduplication and the internal/external decision all compare
addresses, so they must all go through [`normalize`] or [`classify`]; anything
else would let `Ann@Example.com` and `ann@example.com` become two contacts.

The rule is deliberately simple: trim, strip `mailto:`, lowercase the whole
address. Lowercasing the local part is not RFC 5321-pure, but every mailbox
provider our customers use treats it case-insensitively, and two contacts for
one person is the worse failure.

```
use tac_core::address::{classify, normalize, AddressKind};

let a = normalize("  MAILTO:Ann.Lee@Contoso.COM ").unwrap();
assert_eq!(a.as_str(), "ann.lee@contoso.com");
assert_eq!(a.domain(), "contoso.com");

match classify("X500:/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=ann").unwrap() {
    AddressKind::LegacyDn(dn) => assert!(dn.starts_with("/o=exchangelabs/")),
    AddressKind::Smtp(_) => unreachable!(),
}
```
*/

use std::fmt;

/// The longest address we accept, in bytes. RFC 5321 allows 64 octets of
/// local part and 255 of domain; anything longer is not an address.
pub const MAX_ADDRESS_LEN: usize = 320;

/// The longest legacyExchangeDN we accept, in bytes. Real ones are well under
/// 300; the bound only stops absurd input from reaching the database.
pub const MAX_LEGACY_DN_LEN: usize = 1024;

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,
    #[error("`{0}` is not an email address: it has no `@`")]
    MissingAt(String),
    #[error("`{0}` is not an email address: the part before or after `@` is empty")]
    EmptyPart(String),
    #[error("`{0}` is not an email address: it contains a space or a control character")]
    Whitespace(String),
    #[error("`{0}` is not an email address: it contains `{1}` (pass the bare address, not `Name <address>` or a list)")]
    ForbiddenCharacter(String, char),
    #[error("the address is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("`{0}` has an `X500:` prefix but is not a legacyExchangeDN (those start with `/o=`)")]
    MalformedLegacyDn(String),
}

/// An SMTP address in the one canonical form: no surrounding whitespace, no
/// `mailto:`, all lowercase, with an `@` between a non-empty local part and
/// domain. Only [`normalize`] (or deserialisation, which runs it) makes one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NormalizedAddress(String);

impl NormalizedAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Everything after the last `@`.
    pub fn domain(&self) -> &str {
        // Invariant of the type: there is an `@` with text on both sides.
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// Everything before the last `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for NormalizedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NormalizedAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<NormalizedAddress> for String {
    fn from(address: NormalizedAddress) -> String {
        address.0
    }
}

impl TryFrom<String> for NormalizedAddress {
    type Error = AddressError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        normalize(&value)
    }
}

impl std::str::FromStr for NormalizedAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        normalize(s)
    }
}

/// What an address-like value from Graph turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// An ordinary internet address.
    Smtp(NormalizedAddress),
    /// An X.500 legacyExchangeDN (lowercased, without any `X500:` prefix).
    /// Sync resolves it to a user through the directory's `X500:` proxy
    /// addresses; it is never stored as a participant address as it is.
    LegacyDn(String),
}

/// Normalises an SMTP address (see the module docs for the rule).
///
/// Never panics, whatever the input, and is idempotent:
/// `normalize(normalize(x)?.as_str()) == normalize(x)`.
pub fn normalize(input: &str) -> Result<NormalizedAddress, AddressError> {
    let bare = canonical(input);
    validate_smtp(&bare)?;
    Ok(NormalizedAddress(bare))
}

/// The form [`normalize`] compares addresses in, for text that may not be
/// an address at all: what someone typed at sign-in, a claim in a token, a
/// key to count failed sign-ins by. Two strings that would normalise to the
/// same address have the same canonical form, and a valid address's is its
/// [`NormalizedAddress`].
pub fn canonical(input: &str) -> String {
    // Lowercase first, so that the prefix checks and the trimming below see
    // exactly what a second call would see: that is what makes it
    // idempotent even for odd Unicode.
    let lowered = input.to_lowercase();
    strip_prefixes(&lowered, &["mailto:"]).to_owned()
}

/// Tells an SMTP address from a legacyExchangeDN and normalises either.
///
/// Accepts what Graph hands out: bare addresses, `mailto:` URIs, entries of a
/// user's `proxyAddresses` (`SMTP:`, `smtp:` and `X500:` prefixes) and bare
/// legacyExchangeDN values (`/o=…`, any case).
pub fn classify(input: &str) -> Result<AddressKind, AddressError> {
    let lowered = input.to_lowercase();
    let trimmed = lowered.trim();
    if let Some(dn) = trimmed.strip_prefix("x500:") {
        let dn = dn.trim();
        return if dn.starts_with("/o=") {
            legacy_dn(dn)
        } else {
            Err(AddressError::MalformedLegacyDn(input.trim().to_owned()))
        };
    }
    if trimmed.starts_with("/o=") {
        return legacy_dn(trimmed);
    }
    let bare = strip_prefixes(trimmed, &["mailto:", "smtp:"]);
    validate_smtp(bare)?;
    Ok(AddressKind::Smtp(NormalizedAddress(bare.to_owned())))
}

fn legacy_dn(dn: &str) -> Result<AddressKind, AddressError> {
    if dn.len() > MAX_LEGACY_DN_LEN {
        return Err(AddressError::TooLong { len: dn.len(), max: MAX_LEGACY_DN_LEN });
    }
    if dn.chars().any(char::is_control) {
        return Err(AddressError::Whitespace(dn.to_owned()));
    }
    Ok(AddressKind::LegacyDn(dn.to_owned()))
}

/// Trims, then removes any of `prefixes` (already lowercase) for as long as
/// one is there, trimming again each time: `" mailto: mailto:a@b"` is `a@b`.
fn strip_prefixes<'a>(lowered: &'a str, prefixes: &[&str]) -> &'a str {
    let mut rest = lowered.trim();
    'strip: loop {
        for prefix in prefixes {
            if let Some(stripped) = rest.strip_prefix(prefix) {
                rest = stripped.trim();
                continue 'strip;
            }
        }
        return rest;
    }
}

fn validate_smtp(address: &str) -> Result<(), AddressError> {
    if address.is_empty() {
        return Err(AddressError::Empty);
    }
    if address.len() > MAX_ADDRESS_LEN {
        return Err(AddressError::TooLong { len: address.len(), max: MAX_ADDRESS_LEN });
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AddressError::Whitespace(address.to_owned()));
    }
    if let Some(c) = address.chars().find(|c| matches!(c, '<' | '>' | ',' | ';')) {
        return Err(AddressError::ForbiddenCharacter(address.to_owned(), c));
    }
    match address.rsplit_once('@') {
        None => Err(AddressError::MissingAt(address.to_owned())),
        Some((local, domain)) if local.is_empty() || domain.is_empty() => {
            Err(AddressError::EmptyPart(address.to_owned()))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_strips_mailto_and_lowercases() {
        let cases = [
            ("ann@contoso.com", "ann@contoso.com"),
            ("  Ann.Lee@Contoso.COM\t", "ann.lee@contoso.com"),
            ("mailto:ann@contoso.com", "ann@contoso.com"),
            ("MAILTO:Ann@Contoso.com", "ann@contoso.com"),
            (" MailTo: ann@contoso.com ", "ann@contoso.com"),
            ("mailto:mailto:ann@contoso.com", "ann@contoso.com"),
            ("\"quoted\"@example.org", "\"quoted\"@example.org"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input).map(NormalizedAddress::into_string), Ok(expected.to_owned()), "{input:?}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        assert_eq!(normalize(""), Err(AddressError::Empty));
        assert_eq!(normalize("   "), Err(AddressError::Empty));
        assert_eq!(normalize("mailto:"), Err(AddressError::Empty));
        assert!(matches!(normalize("ann.contoso.com"), Err(AddressError::MissingAt(_))));
        assert!(matches!(normalize("@contoso.com"), Err(AddressError::EmptyPart(_))));
        assert!(matches!(normalize("ann@"), Err(AddressError::EmptyPart(_))));
        assert!(matches!(normalize("ann lee@contoso.com"), Err(AddressError::Whitespace(_))));
        assert!(matches!(normalize("Ann <ann@contoso.com>"), Err(AddressError::Whitespace(_))));
        assert!(matches!(normalize("<ann@contoso.com>"), Err(AddressError::ForbiddenCharacter(_, '<'))));
        assert!(matches!(normalize("a@b.com,c@d.com"), Err(AddressError::ForbiddenCharacter(_, ','))));
        let long = format!("{}@contoso.com", "a".repeat(400));
        assert!(matches!(normalize(&long), Err(AddressError::TooLong { max: MAX_ADDRESS_LEN, .. })));
    }

    #[test]
    fn domain_and_local_part() {
        let a = normalize("Ann@Sales.Contoso.com").unwrap();
        assert_eq!(a.local_part(), "ann");
        assert_eq!(a.domain(), "sales.contoso.com");
    }

    #[test]
    fn classifies_legacy_dns_and_proxy_addresses() {
        assert_eq!(
            classify("/O=ExchangeLabs/OU=Exchange Administrative Group (FYDIBOHF23SPDLT)/CN=Recipients/CN=abc-Ann"),
            Ok(AddressKind::LegacyDn(
                "/o=exchangelabs/ou=exchange administrative group (fydibohf23spdlt)/cn=recipients/cn=abc-ann".into()
            ))
        );
        assert_eq!(classify("X500:/o=Contoso/cn=Ann"), Ok(AddressKind::LegacyDn("/o=contoso/cn=ann".into())));
        assert_eq!(classify("SMTP:Ann@Contoso.com"), Ok(AddressKind::Smtp(normalize("ann@contoso.com").unwrap())));
        assert_eq!(classify("smtp:alias@contoso.com"), Ok(AddressKind::Smtp(normalize("alias@contoso.com").unwrap())));
        assert_eq!(classify(" mailto:Ann@Contoso.com"), Ok(AddressKind::Smtp(normalize("ann@contoso.com").unwrap())));
        assert!(matches!(classify("x500:cn=ann"), Err(AddressError::MalformedLegacyDn(_))));
        assert_eq!(classify(""), Err(AddressError::Empty));
    }

    #[test]
    fn serde_round_trip_validates() {
        let a = normalize("Ann@Contoso.com").unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"ann@contoso.com\"");
        let back: NormalizedAddress = serde_json::from_str("\" ANN@contoso.com\"").unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<NormalizedAddress>("\"not an address\"").is_err());
    }

    /// Strings that look like addresses, with noise mixed in, so the
    /// properties are exercised on accepted input and not only on rejections.
    fn address_like() -> impl Strategy<Value = String> {
        (
            "[ \t]{0,2}",
            prop_oneof![Just(""), Just("mailto:"), Just("MAILTO:"), Just("MailTo: ")],
            "[A-Za-z0-9._%+\\-ÄÖÜäöüİıẞß]{1,20}",
            "[A-Za-z0-9.\\-]{1,20}",
            "[ \t\n]{0,2}",
        )
            .prop_map(|(pad, prefix, local, domain, tail)| format!("{pad}{prefix}{local}@{domain}{tail}"))
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            let _ = normalize(&s);
            let _ = classify(&s);
        }

        #[test]
        fn normalisation_is_idempotent(s in prop_oneof![any::<String>(), address_like()]) {
            if let Ok(once) = normalize(&s) {
                prop_assert_eq!(normalize(once.as_str()), Ok(once.clone()));
            }
            if let Ok(AddressKind::Smtp(once)) = classify(&s) {
                prop_assert_eq!(classify(once.as_str()), Ok(AddressKind::Smtp(once.clone())));
            }
        }

        #[test]
        fn output_is_lowercase_and_trimmed(s in prop_oneof![any::<String>(), address_like()]) {
            if let Ok(a) = normalize(&s) {
                let out = a.as_str();
                prop_assert!(!out.chars().any(|c| c.is_ascii_uppercase()), "{out:?}");
                prop_assert_eq!(out, out.trim());
                prop_assert!(!out.starts_with("mailto:"));
                prop_assert!(out.len() <= MAX_ADDRESS_LEN);
                prop_assert!(out.contains('@'));
            }
        }

        #[test]
        fn the_canonical_form_is_idempotent_and_a_valid_address_is_its_own(
            s in prop_oneof![any::<String>(), address_like()]
        ) {
            let once = canonical(&s);
            prop_assert_eq!(canonical(&once), once.clone());
            if let Ok(a) = normalize(&s) {
                prop_assert_eq!(a.as_str(), once.as_str());
            }
        }

        #[test]
        fn address_like_input_is_accepted(s in address_like()) {
            let a = normalize(&s);
            prop_assert!(a.is_ok(), "{s:?} → {a:?}");
        }
    }
}
