/*!
Encryption at rest for the integration's client secret (docs/architecture.md §3).

AES-256-GCM from `aws-lc-rs`, the workspace's one crypto backend. Each
encryption draws a fresh random 96-bit nonce; the integration row id is the
additional authenticated data, so a ciphertext copied onto another row does
not decrypt. The key id stored beside the ciphertext names the master key that
sealed it: a wrong key is reported as such (not as corrupt data), and a later
key rotation can tell which rows still need re-sealing.
*/

use crate::error::{Result, StoreError};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::fmt;

/// The key that seals client secrets: 32 random bytes, from `TAC_MASTER_KEY`
/// (base64) or `<data dir>/master.key`. Its `Debug` shows only the key id.
pub struct MasterKey {
    key: SecretBox<[u8; 32]>,
    id: String,
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let id = key_id(&bytes);
        MasterKey { key: SecretBox::new(Box::new(bytes)), id }
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: [u8; 32] =
            bytes.try_into().map_err(|_| StoreError::InvalidMasterKey("a master key is exactly 32 bytes"))?;
        Ok(Self::from_bytes(array))
    }

    /// Parses standard base64 (padding optional); surrounding whitespace, such
    /// as a file's trailing newline, is ignored.
    pub fn from_base64(encoded: &str) -> Result<Self> {
        let encoded = encoded.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| StoreError::InvalidMasterKey("not valid base64"))?;
        Self::from_slice(&bytes)
    }

    /// A new random key, for a first start without `TAC_MASTER_KEY`.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Crypto("no random bytes for a master key"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as base64, to write to `master.key`.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(base64::engine::general_purpose::STANDARD.encode(self.key.expose_secret()))
    }

    /// A short public name of the key (a hash prefix, not the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn seal(&self, aad: &[u8], plaintext: &SecretString) -> Result<Sealed> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| StoreError::Crypto("no random bytes for a nonce"))?;
        let mut in_out = plaintext.expose_secret().as_bytes().to_vec();
        self.cipher()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| StoreError::Crypto("AES-256-GCM sealing failed"))?;
        Ok(Sealed { ciphertext: in_out, nonce: nonce.to_vec(), key_id: self.id.clone() })
    }

    pub(crate) fn open(&self, aad: &[u8], sealed: Sealed) -> Result<SecretString> {
        let undecryptable = || StoreError::SecretUndecryptable {
            stored_key_id: sealed.key_id.clone(),
            configured_key_id: self.id.clone(),
        };
        if sealed.key_id != self.id {
            return Err(undecryptable());
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| undecryptable())?;
        let mut in_out = sealed.ciphertext.clone();
        let plaintext =
            self.cipher()?.open_in_place(nonce, Aad::from(aad), &mut in_out).map_err(|_| undecryptable())?;
        let text = std::str::from_utf8(plaintext).map_err(|_| undecryptable())?;
        Ok(SecretString::from(text))
    }

    fn cipher(&self) -> Result<LessSafeKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, self.key.expose_secret())
            .map_err(|_| StoreError::Crypto("AES-256-GCM key setup failed"))?;
        Ok(LessSafeKey::new(unbound))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).field("key", &"[redacted]").finish()
    }
}

/// A sealed secret as stored: ciphertext with the GCM tag appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    pub key_id: String,
}

/// The AAD binding a sealed client secret to its integration row.
pub(crate) fn integration_aad(integration_id: i64) -> Vec<u8> {
    format!("tac/integration/{integration_id}/client_secret").into_bytes()
}

/// What the database keeps of a bearer token (a session cookie, a setup
/// link): SHA-256, hex. A leaked database then yields no usable token, and a
/// token from a random 32-byte draw needs no salt or slow hash.
pub fn token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// First 8 bytes of SHA-256 over a domain-separation label and the key, hex.
fn key_id(key: &[u8; 32]) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(b"tac master key id\0");
    context.update(key);
    context.finish().as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn seals_and_opens_with_the_same_key_and_aad() {
        let key = MasterKey::from_bytes([7; 32]);
        let secret = SecretString::from("s3cr3t~value");
        let sealed = key.seal(&integration_aad(1), &secret).unwrap();
        assert_eq!(sealed.nonce.len(), 12);
        assert_eq!(sealed.ciphertext.len(), "s3cr3t~value".len() + 16);
        assert_eq!(key.open(&integration_aad(1), sealed.clone()).unwrap().expose_secret(), "s3cr3t~value");
        // Another row's AAD does not open it.
        assert!(matches!(key.open(&integration_aad(2), sealed), Err(StoreError::SecretUndecryptable { .. })));
    }

    #[test]
    fn nonces_differ_between_encryptions() {
        let key = MasterKey::from_bytes([7; 32]);
        let secret = SecretString::from("same");
        let a = key.seal(b"aad", &secret).unwrap();
        let b = key.seal(b"aad", &secret).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn a_wrong_key_is_reported_as_such() {
        let sealed = MasterKey::from_bytes([1; 32]).seal(b"aad", &SecretString::from("x")).unwrap();
        let err = MasterKey::from_bytes([2; 32]).open(b"aad", sealed).unwrap_err();
        assert!(err.to_string().contains("re-enter the client secret"), "{err}");
    }

    #[test]
    fn base64_round_trip_and_debug_hides_the_key() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_base64(&format!("{}\n", key.to_base64().expose_secret())).unwrap();
        assert_eq!(key.id(), again.id());
        assert_eq!(key.id().len(), 16);
        let debug = format!("{key:?}");
        assert!(debug.contains(key.id()) && debug.contains("redacted"), "{debug}");
        assert!(!debug.contains(key.to_base64().expose_secret()));
        assert!(matches!(MasterKey::from_base64("c2hvcnQ="), Err(StoreError::InvalidMasterKey(_))));
        assert!(matches!(MasterKey::from_base64("not base64!"), Err(StoreError::InvalidMasterKey(_))));
    }
}
