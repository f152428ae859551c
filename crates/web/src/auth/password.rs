//! Password hashing with argon2id (docs/architecture.md §8), with the crate's default
//! parameters (19 MiB, 2 passes, 1 lane: OWASP's recommendation) and a
//! 16-byte salt from the OS. Hashes are PHC strings, so parameters can be
//! raised later without breaking stored hashes. Hashing takes tens of
//! milliseconds on purpose: request handlers use the `_blocking` variants,
//! which run on tokio's blocking pool.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::LazyLock;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("the OS random source failed")]
    Random,
}

/// The argon2id PHC string of `password`, with a fresh salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::Random)?;
    let hashed = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(hashed.to_string())
}

/// Whether `password` matches `phc`; a malformed hash matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// A hash to verify against when the email is unknown, so that the answer
/// takes as long as for a known one and does not reveal which emails exist.
static DECOY: LazyLock<Option<String>> = LazyLock::new(|| hash("decoy password, never matches").ok());

/// Checks `password` against `phc`, or against a decoy when there is no
/// hash (unknown user, or one who only signs in with Microsoft): same cost,
/// always `false`.
pub fn verify_or_decoy(password: &str, phc: Option<&str>) -> bool {
    match phc {
        Some(phc) => verify(password, phc),
        None => {
            if let Some(decoy) = DECOY.as_deref() {
                let _ = verify(password, decoy);
            }
            false
        }
    }
}

/// [`hash`] on the blocking pool.
pub async fn hash_blocking(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| PasswordError::Hash(format!("the hashing task failed: {e}")))?
}

/// [`verify_or_decoy`] on the blocking pool.
pub async fn verify_blocking(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify_or_decoy(&password, phc.as_deref())).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse battery ", &a));
        assert!(!verify("", &a));
    }

    #[test]
    fn malformed_or_missing_hashes_match_nothing() {
        assert!(!verify("anything", "not a phc string"));
        assert!(!verify("anything", ""));
        assert!(!verify_or_decoy("decoy password, never matches", None));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn any_password_verifies_against_its_own_hash_and_not_another(password in "\\PC{0,40}", other in "\\PC{0,40}") {
            let phc = hash(&password).unwrap();
            prop_assert!(verify(&password, &phc));
            if other != password {
                prop_assert!(!verify(&other, &phc));
            }
        }
    }
}
