//! Passwords that are too easy to guess, as NIST SP 800-63B (§5.1.1.2)
//! asks a verifier to refuse them: ones on a list of commonly used or
//! breached passwords, repetitive or sequential characters, and words of
//! the context (the service's name, the person's own email). No
//! composition rules: a few unrelated words make a good password.
//!
//! The list is the 10,000 most common passwords from SecLists, shipped in
//! `common-passwords.txt`. New passwords are at least 12 characters, and
//! few of those are on it as they are, so each is also compared in its
//! usual disguises: in any case, without spaces and punctuation, with a
//! year or a few digits and symbols added, or repeated
//! (`password1234`, `Password 2024!`, `iloveyouiloveyou`).

use std::collections::HashSet;
use std::sync::LazyLock;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Runs of characters that people type in order.
const SEQUENCES: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "0123456789012345678901234567890123456789",
    "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
];

/// Words of the context every TAC password must not lean on.
const SERVICE_WORDS: &[&str] = &["tac", "taccrm", "crm", "admin", "administrator", "password"];

/// Why a password is too easy to guess, in words for the person choosing it.
pub(crate) fn reason(password: &str, email: &str) -> Option<&'static str> {
    let lower = password.to_lowercase();
    // Letters and digits only, symbols that stand for letters read as
    // those letters: `P@ss word!` is compared as `password`.
    let core: String = lower
        .chars()
        .map(|c| match c {
            '@' => 'a',
            '$' => 's',
            other => other,
        })
        .filter(|c| c.is_alphanumeric())
        .collect();
    if core.is_empty() {
        return Some("it has no letters or digits");
    }
    if is_common(lower.trim()) || common_with_digits_added(&core) {
        return Some("it is one of the most common passwords, or one with a few characters added");
    }
    if repeats_a_short_unit(&core) {
        return Some("it repeats the same few characters");
    }
    if is_sequence(&core) {
        return Some("it is a run of characters in order, such as abcd or qwerty");
    }
    let local: String =
        email.split('@').next().unwrap_or("").to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
    let context: Vec<&str> =
        SERVICE_WORDS.iter().copied().chain((local.chars().count() >= 3).then_some(local.as_str())).collect();
    let mut rest = core.clone();
    for word in &context {
        rest = rest.replace(word, "");
    }
    if rest.len() < core.len() && (rest.chars().count() < 6 || common_with_digits_added(&rest)) {
        return Some("it is mostly your email address or the name of the service");
    }
    None
}

fn is_common(candidate: &str) -> bool {
    candidate.chars().count() >= 4 && COMMON.contains(candidate)
}

/// Whether `core` is a common password with digits added at the end or
/// the start (`iloveyou2024`, `2024iloveyou`, `abc1234567`).
fn common_with_digits_added(core: &str) -> bool {
    let bytes = core.as_bytes();
    let digits_from = |i: usize| bytes[i..].iter().all(u8::is_ascii_digit);
    let digits_until = |i: usize| bytes[..i].iter().all(u8::is_ascii_digit);
    (0..=core.len())
        .filter(|&i| core.is_char_boundary(i))
        .any(|i| (digits_from(i) && is_common(&core[..i])) || (digits_until(i) && is_common(&core[i..])))
}

/// `abcabcabcabc`, `aaaaaaaaaaaa`, `passwordpassword`: a unit of at most
/// half the length, repeated.
fn repeats_a_short_unit(core: &str) -> bool {
    let chars: Vec<char> = core.chars().collect();
    let n = chars.len();
    (1..=n / 2).any(|unit| {
        n.is_multiple_of(unit)
            && chars.chunks(unit).all(|c| c == &chars[..unit])
            && (unit <= 4 || is_common(&chars[..unit].iter().collect::<String>()))
    })
}

/// Whether the password, letters and digits only, is a run of a common
/// sequence, forwards or backwards.
fn is_sequence(core: &str) -> bool {
    let reversed: String = core.chars().rev().collect();
    SEQUENCES.iter().any(|s| s.contains(core) || s.contains(reversed.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_shipped_list_has_the_ten_thousand_passwords() {
        assert_eq!(COMMON.len(), 10_000);
        assert!(COMMON.contains("password") && COMMON.contains("iloveyou") && COMMON.contains("qwerty"));
    }

    #[test]
    fn common_passwords_and_their_usual_disguises_are_refused() {
        for weak in [
            "password1234",
            "Password 2024!",
            "P@ssword123456",
            "iloveyou2024!!",
            "123456789012",
            "qwertyuiop12",
            "abcdefghijkl",
            "lkjihgfedcba",
            "aaaaaaaaaaaa",
            "abcabcabcabc",
            "iloveyouiloveyou",
            "1qaz2wsx3edc",
            "football1234",
            "!!!!!!!!!!!!",
        ] {
            assert!(reason(weak, "ann@contoso.com").is_some(), "{weak:?} passed");
        }
    }

    #[test]
    fn the_persons_email_and_the_service_name_do_not_make_a_password() {
        assert!(reason("annabelle2024!", "annabelle@contoso.com").is_some());
        assert!(reason("Annabelle.Lee", "annabelle.lee@contoso.com").is_some());
        assert!(reason("tac crm admin 1", "root@contoso.com").is_some());
        assert!(reason("annabelle rides the blue ferry", "annabelle@contoso.com").is_none(), "more than the name");
    }

    #[test]
    fn passphrases_and_random_strings_pass() {
        for good in [
            "correct horse battery staple",
            "a long enough passphrase",
            "k7mqp-x2rtd-9fhwz-c4nvb",
            "Umbrella kettle 42 violin",
            "zq8#Lm2!vR9x",
        ] {
            assert_eq!(reason(good, "ann@contoso.com"), None, "{good:?}");
        }
    }

    proptest! {
        #[test]
        fn a_common_password_with_digits_or_symbols_added_is_always_refused(
            index in 0usize..10_000,
            digits in "[0-9]{0,6}",
            symbols in "[!?.* ]{0,3}",
        ) {
            let common = COMMON
                .iter()
                .copied()
                .filter(|p| p.chars().count() >= 4 && p.chars().all(|c| c.is_ascii_alphanumeric()))
                .filter(|p| p.chars().any(|c| c.is_ascii_alphabetic()))
                .nth(index % 5_000);
            if let Some(common) = common {
                let candidate = format!("{common}{digits}{symbols}");
                prop_assert!(reason(&candidate, "x@example.com").is_some(), "{candidate:?}");
            }
        }

        #[test]
        fn the_check_never_panics_on_any_text(text in "\\PC{0,64}", email in "\\PC{0,20}") {
            let _ = reason(&text, &email);
        }
    }
}
