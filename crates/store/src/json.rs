//! The JSON shapes of what the store returns, shared by `tac-crm … --json`
//! and the portal's JSON API so both print the same thing (docs/architecture.md §6
//! "Timeline JSON"): ids are strings, every time is RFC 3339 UTC with `Z`,
//! and a hidden or missing field is `null`, never left out. Timeline items
//! serialise themselves (`tac_core::timeline`); this module adds the
//! contact, company and page around them.

use crate::{CompanyRow, ContactRow, ContactSummary, MailboxRow, TimelinePage};
use serde::Serialize;
use serde_json::{Value, json};
use tac_core::timeline::TimelineItem;

/// A company: `{"id", "name", "domain"}`.
pub fn company(c: &CompanyRow) -> Value {
    json!({"id": c.id.to_string(), "name": c.name, "domain": c.domain})
}

/// A contact: the `contact` of docs/architecture.md §6 (id, name, emails, company), plus where
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
pub fn contact_timeline<'a>(
    c: &ContactRow,
    summary: &'a ContactSummary,
    page: &'a TimelinePage,
) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Head<'a> {
        contact: Value,
        summary: &'a ContactSummary,
    }
    Page::of(Head { contact: contact(c), summary }, page)
}

/// A company's timeline page: `{"company", "items", "next_cursor"}`.
pub fn company_timeline<'a>(c: &CompanyRow, page: &'a TimelinePage) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Head {
        company: Value,
    }
    Page::of(Head { company: company(c) }, page)
}

/// A page of search results: `{"query", "items", "next_cursor"}`.
pub fn search_results<'a>(query: &'a str, page: &'a TimelinePage) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Head<'a> {
        query: &'a str,
    }
    Page::of(Head { query }, page)
}

/// A page of items after what it is a page of. Items serialise straight to
/// the output: a page of 50 is tens of KiB, and building a `Value` tree of
/// it first cost a tenth of the portal's CPU per timeline request.
#[derive(Serialize)]
struct Page<'a, H> {
    #[serde(flatten)]
    head: H,
    items: &'a [TimelineItem],
    next_cursor: Option<&'a str>,
}

impl<'a, H: Serialize> Page<'a, H> {
    fn of(head: H, page: &'a TimelinePage) -> Self {
        Page { head, items: &page.items, next_cursor: page.next_cursor.as_deref() }
    }
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
