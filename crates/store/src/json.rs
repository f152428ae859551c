//! The JSON shapes of what the store returns, shared by `tac-crm … --json`
//! and the portal's JSON API so both print the same thing (DESIGN §6
//! "Timeline JSON"): ids are strings, every time is RFC 3339 UTC with `Z`,
//! and a hidden or missing field is `null`, never left out. Timeline items
//! serialise themselves (`tac_core::timeline`); this module adds the
//! contact, company and page around them.

use crate::{CompanyRow, ContactRow, ContactSummary, MailboxRow, TimelinePage};
use serde_json::{Map, Value, json};

/// A company: `{"id", "name", "domain"}`.
pub fn company(c: &CompanyRow) -> Value {
    json!({"id": c.id.to_string(), "name": c.name, "domain": c.domain})
}

/// A contact: DESIGN §6's `contact` (id, name, emails, company), plus where
/// it came from and when it was last in touch.
pub fn contact(c: &ContactRow) -> Value {
    json!({
        "id": c.id.to_string(),
        "name": c.name,
        "emails": c.emails,
        "company": c.company.as_ref().map(company),
        "source": c.source.as_str(),
        "created_at": c.created_at,
        "last_interaction_at": c.last_interaction_at,
    })
}

/// A contact's timeline page: `{"contact", "summary", "items", "next_cursor"}`.
pub fn contact_timeline(c: &ContactRow, summary: &ContactSummary, page: &TimelinePage) -> Value {
    let mut head = Map::new();
    head.insert("contact".into(), contact(c));
    head.insert("summary".into(), to_value(summary));
    with_page(head, page)
}

/// A company's timeline page: `{"company", "items", "next_cursor"}`.
pub fn company_timeline(c: &CompanyRow, page: &TimelinePage) -> Value {
    let mut head = Map::new();
    head.insert("company".into(), company(c));
    with_page(head, page)
}

/// A page of search results: `{"query", "items", "next_cursor"}`.
pub fn search_results(query: &str, page: &TimelinePage) -> Value {
    let mut head = Map::new();
    head.insert("query".into(), Value::from(query));
    with_page(head, page)
}

/// A mailbox's sync status, as `tac-crm status --json` prints it.
pub fn mailbox_status(m: &MailboxRow) -> Value {
    json!({
        "address": m.address,
        "state": m.state.as_str(),
        "last_success_at": m.last_success_at,
        "last_error_code": m.last_error_code,
        "last_error_message": m.last_error_message,
        "backoff_until": m.backoff_until,
        "emails": m.email_count,
        "meetings": m.meeting_count,
        "skipped": m.skipped_count,
    })
}

fn with_page(mut head: Map<String, Value>, page: &TimelinePage) -> Value {
    head.insert("items".into(), to_value(&page.items));
    head.insert("next_cursor".into(), json!(page.next_cursor));
    Value::Object(head)
}

/// Serialising these types cannot fail (string keys, no custom code that
/// errors); `null` stands in should that ever change.
fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
