//! Pages and delta rounds.
//!
//! A delta round is a chain of pages linked by `@odata.nextLink`, ending in a
//! page with `@odata.deltaLink`. Items are decoded one by one: an item that
//! does not decode is reported with its id and the rest of the page still
//! arrives, so one malformed message never stalls a mailbox.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where a round stands after a page (a type, so no caller confuses a next link with a delta link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// More pages in this round: follow this link next.
    NextLink(String),
    /// The round is complete: follow this link for the next round.
    DeltaLink(String),
}

/// A page as Graph sent it, items undecoded.
#[derive(Debug, Clone, Default)]
pub struct RawPage {
    pub value: Vec<Value>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

/// One entry of a delta page.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaItem<T> {
    /// Created or changed: the item as it is now.
    Changed(T),
    /// Gone from the folder or calendar window (`@removed`).
    Removed { id: String, reason: String },
}

/// An item that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub id: Option<String>,
    pub reason: String,
}

/// A decoded delta page.
#[derive(Debug, Clone)]
pub struct DeltaPage<T> {
    pub items: Vec<Result<DeltaItem<T>, ItemError>>,
    pub cursor: Cursor,
}

/// Items larger than this are refused rather than stored.
pub const MAX_ITEM_BYTES: usize = 4 * 1024 * 1024;

/// Decodes one delta entry.
pub fn decode_item<T: DeserializeOwned>(value: Value) -> Result<DeltaItem<T>, ItemError> {
    let id = value.get("id").and_then(Value::as_str).map(str::to_string);
    if let Some(removed) = value.get("@removed") {
        let id = id.ok_or_else(|| ItemError { id: None, reason: "a removed entry without an id".into() })?;
        let reason = removed.get("reason").and_then(Value::as_str).unwrap_or("deleted").to_string();
        return Ok(DeltaItem::Removed { id, reason });
    }
    let size = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_ITEM_BYTES {
        return Err(ItemError {
            id,
            reason: format!("the item is {size} bytes, over the {MAX_ITEM_BYTES}-byte limit"),
        });
    }
    serde_json::from_value(value).map(DeltaItem::Changed).map_err(|e| ItemError { id, reason: e.to_string() })
}

impl RawPage {
    /// Decodes a page of a delta round. A page with neither link is a
    /// protocol error: the round could never end.
    pub fn into_delta<T: DeserializeOwned>(self) -> Result<DeltaPage<T>, String> {
        let cursor = match (self.next_link, self.delta_link) {
            (Some(next), _) => Cursor::NextLink(next),
            (None, Some(delta)) => Cursor::DeltaLink(delta),
            (None, None) => return Err("a delta page had neither @odata.nextLink nor @odata.deltaLink".into()),
        };
        Ok(DeltaPage { items: self.value.into_iter().map(decode_item).collect(), cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Message;
    use serde_json::json;

    #[test]
    fn a_bad_item_does_not_spoil_the_page() {
        let page = RawPage {
            value: vec![
                json!({"id": "a", "subject": "fine"}),
                json!({"id": "b", "receivedDateTime": "not a date"}),
                json!({"subject": "no id"}),
                json!({"id": "c", "@removed": {"reason": "deleted"}}),
            ],
            next_link: None,
            delta_link: Some("https://graph.microsoft.com/v1.0/x?$deltatoken=1".into()),
        };
        let page = page.into_delta::<Message>().unwrap();
        assert!(matches!(&page.items[0], Ok(DeltaItem::Changed(m)) if m.id == "a"));
        assert!(matches!(&page.items[1], Err(ItemError { id: Some(id), .. }) if id == "b"));
        assert!(matches!(&page.items[2], Err(ItemError { id: None, .. })));
        assert!(matches!(&page.items[3], Ok(DeltaItem::Removed { id, .. }) if id == "c"));
        assert!(matches!(page.cursor, Cursor::DeltaLink(_)));
    }

    #[test]
    fn huge_items_are_refused() {
        let big = "x".repeat(MAX_ITEM_BYTES + 1);
        assert!(decode_item::<Message>(json!({"id": "a", "subject": big})).is_err());
    }

    #[test]
    fn a_page_without_links_is_an_error() {
        assert!(RawPage::default().into_delta::<Message>().is_err());
    }
}
