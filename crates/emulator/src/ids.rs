//! Exchange-style ids for messages, events and folders, and the opaque page
//! and delta tokens.
//!
//! Ids are URL-safe base64 with padding, as Graph's are. Regular message ids
//! include a move counter, so, like Exchange's, they change when a message
//! moves; immutable ids (`Prefer: IdType="ImmutableId"`) do not. Both decode to
//! the same item. Tokens are opaque to clients but carry the whole cursor, so
//! the emulator keeps no per-client paging state.

use crate::corpus::{EventKey, FolderKind, ItemKey};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

const REGULAR: [u8; 5] = [0x00, 0x03, 0x24, 0x00, 0x33]; // "AAMkAD…"
const IMMUTABLE: [u8; 5] = [0x00, 0x09, 0x00, 0x2e, 0x00]; // "AAkALg…"
const FOLDER: [u8; 5] = [0x01, 0x03, 0x24, 0x00, 0x36]; // "AQMkAD…"
const MESSAGE: u8 = b'M';
const EVENT: u8 = b'E';

/// A decoded message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId {
    pub mailbox: usize,
    pub key: ItemKey,
    /// `None` for an immutable id; otherwise the move count it was issued at.
    pub moves: Option<u16>,
}

fn put_key(buf: &mut Vec<u8>, mailbox: usize, owner: u32, source: u8, index: u32, part: u16) {
    buf.extend_from_slice(&(mailbox as u32).to_be_bytes());
    buf.extend_from_slice(&owner.to_be_bytes());
    buf.push(source);
    buf.extend_from_slice(&index.to_be_bytes());
    buf.extend_from_slice(&part.to_be_bytes());
}

fn get_key(b: &[u8]) -> Option<(usize, u32, u8, u32, u16)> {
    if b.len() < 15 {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Some((u32_at(0) as usize, u32_at(4), b[8], u32_at(9), u16::from_be_bytes([b[13], b[14]])))
}

/// The id of a message; immutable when `moves` is `None`.
pub fn message_id(mailbox: usize, key: ItemKey, moves: Option<u16>) -> String {
    let mut buf = Vec::with_capacity(24);
    buf.extend_from_slice(if moves.is_some() { &REGULAR } else { &IMMUTABLE });
    buf.push(MESSAGE);
    put_key(&mut buf, mailbox, key.owner, key.source, key.index, key.part);
    if let Some(m) = moves {
        buf.extend_from_slice(&m.to_be_bytes());
    }
    URL_SAFE.encode(buf)
}

/// Decodes a message id of either kind.
pub fn parse_message_id(id: &str) -> Option<MessageId> {
    let bytes = URL_SAFE.decode(id).ok()?;
    let (prefix, rest) = bytes.split_at_checked(5)?;
    let immutable = match prefix {
        p if p == IMMUTABLE => true,
        p if p == REGULAR => false,
        _ => return None,
    };
    let (&kind, rest) = rest.split_first()?;
    if kind != MESSAGE {
        return None;
    }
    let (mailbox, owner, source, index, part) = get_key(rest)?;
    let moves = if immutable {
        if rest.len() != 15 {
            return None;
        }
        None
    } else {
        let m = rest.get(15..17)?;
        if rest.len() != 17 {
            return None;
        }
        Some(u16::from_be_bytes([m[0], m[1]]))
    };
    Some(MessageId { mailbox, key: ItemKey { owner, source, index, part }, moves })
}

/// The id of a calendar item.
pub fn event_id(mailbox: usize, key: EventKey) -> String {
    let mut buf = Vec::with_capacity(20);
    buf.extend_from_slice(&REGULAR);
    buf.push(EVENT);
    put_key(&mut buf, mailbox, key.owner, key.source, key.index, key.occurrence);
    URL_SAFE.encode(buf)
}

/// Decodes an event id into its mailbox and key.
pub fn parse_event_id(id: &str) -> Option<(usize, EventKey)> {
    let bytes = URL_SAFE.decode(id).ok()?;
    if bytes.len() != 21 || bytes[..5] != REGULAR || bytes[5] != EVENT {
        return None;
    }
    let (mailbox, owner, source, index, occurrence) = get_key(&bytes[6..])?;
    Some((mailbox, EventKey { owner, source, index, occurrence }))
}

/// The id of a mail folder.
pub fn folder_id(mailbox: usize, folder: FolderKind) -> String {
    let mut buf = Vec::with_capacity(10);
    buf.extend_from_slice(&FOLDER);
    buf.extend_from_slice(&(mailbox as u32).to_be_bytes());
    buf.extend_from_slice(&folder.code().to_be_bytes());
    URL_SAFE.encode(buf)
}

/// Decodes a folder id.
pub fn parse_folder_id(id: &str) -> Option<(usize, FolderKind)> {
    let bytes = URL_SAFE.decode(id).ok()?;
    if bytes.len() != 11 || bytes[..5] != FOLDER {
        return None;
    }
    let mailbox = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
    let folder = FolderKind::from_code(u16::from_be_bytes([bytes[9], bytes[10]]))?;
    Some((mailbox, folder))
}

/// Encodes a cursor as an opaque token.
pub fn encode_token<T: Serialize>(state: &T) -> String {
    // Serialising plain data structs cannot fail.
    let json = serde_json::to_vec(state).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes an opaque token; `None` when it was not one of ours.
pub fn decode_token<T: DeserializeOwned>(token: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: ItemKey = ItemKey { owner: 3, source: 1, index: 77, part: 2 };

    #[test]
    fn message_ids_round_trip_in_both_forms() {
        let regular = message_id(4, KEY, Some(2));
        let immutable = message_id(4, KEY, None);
        assert!(regular.starts_with("AAMkADN"), "{regular}");
        assert!(folder_id(1, FolderKind::Inbox).starts_with("AQMkADY"));
        assert!(immutable.starts_with("AAkALg"), "{immutable}");
        assert_eq!(parse_message_id(&regular), Some(MessageId { mailbox: 4, key: KEY, moves: Some(2) }));
        assert_eq!(parse_message_id(&immutable), Some(MessageId { mailbox: 4, key: KEY, moves: None }));
    }

    #[test]
    fn a_move_changes_the_regular_id_only() {
        assert_ne!(message_id(4, KEY, Some(0)), message_id(4, KEY, Some(1)));
    }

    #[test]
    fn other_ids_and_garbage_are_not_message_ids() {
        assert_eq!(parse_message_id(&folder_id(1, FolderKind::Inbox)), None);
        assert_eq!(parse_message_id(&event_id(1, EventKey::MIN)), None);
        assert_eq!(parse_message_id("not an id"), None);
        assert_eq!(parse_message_id(""), None);
    }

    #[test]
    fn folder_and_event_ids_round_trip() {
        assert_eq!(parse_folder_id(&folder_id(9, FolderKind::Custom(3))), Some((9, FolderKind::Custom(3))));
        let key = EventKey { owner: 1, source: 1, index: 2, occurrence: EventKey::MASTER };
        assert_eq!(parse_event_id(&event_id(5, key)), Some((5, key)));
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let token = encode_token(&(1u32, "x"));
        assert_eq!(decode_token::<(u32, String)>(&token), Some((1, "x".to_string())));
        assert_eq!(decode_token::<(u32, String)>("%%%"), None);
    }
}
