//! Who is signed in, and how they sign in: argon2id passwords
//! ([`password`]), database sessions in `__Host-` cookies ([`session`]),
//! CSRF checks on every unsafe request ([`csrf`]) and store-backed throttling
//! of failed sign-ins ([`rate_limit`]). The rules for new accounts live
//! here so that the setup page and `tac-crm admin create` apply the same
//! ones. The sign-in pages themselves, Sign in with Microsoft included,
//! are in `pages`.

pub(crate) mod csrf;
mod guessable;
pub mod password;
pub(crate) mod rate_limit;
pub use rate_limit::parse_trusted_proxies;
pub mod session;

use base64::Engine as _;

/// The shortest password accepted for a new account.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest: argon2 takes any length, but hashing megabytes on request
/// is a denial of service.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A fresh random token: 32 bytes from the OS, base64url without padding.
pub(crate) fn random_token() -> Result<String, crate::WebError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| crate::WebError::Internal("the OS random source failed".to_owned()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A typed email as the portal keeps it: normalised by the one address
/// rule (`tac_core::address`), with one `@` and a dot in its domain. The
/// message says what to fix.
pub fn normalize_email(email: &str) -> Result<String, &'static str> {
    if email.trim().is_empty() {
        return Err("Enter an email address.");
    }
    match tac_core::address::normalize(email) {
        Ok(address)
            if address.as_str().len() <= 254
                && !address.local_part().contains('@')
                && address.domain().contains('.')
                && !address.domain().starts_with('.')
                && !address.domain().ends_with('.') =>
        {
            Ok(address.into_string())
        }
        _ => Err("Enter an email address like name@example.com."),
    }
}

/// Checks a new password for the account `email` as NIST SP 800-63B
/// asks: at least [`MIN_PASSWORD_CHARS`] characters, not only whitespace,
/// and not easy to guess ([`guessable`]); no composition rules. The message
/// says what to fix.
pub fn check_new_password(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!("Use at least {MIN_PASSWORD_CHARS} characters; a few words make a good password."));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!("Use at most {MAX_PASSWORD_CHARS} characters."));
    }
    if password.trim().is_empty() {
        return Err("Use letters, digits or symbols, not only spaces.".to_owned());
    }
    if let Some(reason) = guessable::reason(password, email) {
        return Err(format!(
            "This password is too easy to guess: {reason}. Use a few unrelated words instead, such as a short \
             sentence only you would write."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(normalize_email("  Ann@Contoso.COM "), Ok("ann@contoso.com".to_owned()));
        for bad in ["", "ann", "ann@", "@contoso.com", "ann@contoso", "a b@contoso.com", "a@b@contoso.com", "ann@.com"]
        {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn new_passwords_need_twelve_characters_counted_as_characters() {
        assert!(check_new_password("short", "").is_err());
        assert!(check_new_password("exactly12chr", "").is_ok());
        assert!(check_new_password("ééééééééééé", "").is_err(), "11 characters, 22 bytes");
        assert!(check_new_password(&"xy".repeat(MAX_PASSWORD_CHARS), "").is_err());
    }

    #[test]
    fn new_passwords_are_not_whitespace_or_easy_to_guess() {
        let spaces = check_new_password("            ", "ann@contoso.com").unwrap_err();
        assert!(spaces.contains("not only spaces"), "{spaces}");
        let common = check_new_password("password1234", "ann@contoso.com").unwrap_err();
        assert!(common.contains("too easy to guess") && common.contains("most common passwords"), "{common}");
        assert!(check_new_password("ann.lee.2024", "ann.lee@contoso.com").is_err());
        assert!(check_new_password("correct horse battery staple", "ann@contoso.com").is_ok());
    }

    #[test]
    fn random_tokens_are_43_url_safe_characters_and_differ() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }
}
