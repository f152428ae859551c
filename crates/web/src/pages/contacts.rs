//! The contacts pages: the list (search, sort, pages), a contact's profile
//! (summary, activity chart, filtered timeline with cursor paging), adding,
//! editing and deleting a contact, and importing contacts from CSV.
//!
//! Any signed-in user may do all of it, members included: contacts are the
//! CRM's everyday data (admins alone change integration and privacy
//! settings). Every call is the store's, as the CLI makes it (`tac-crm
//! contacts …`, `tac-crm timeline`), scoped to the portal's workspace, so an
//! id from another workspace is a 404.
//!
//! CSV import takes the file's text pasted into a form field (a urlencoded
//! form, so the usual CSRF field covers it); the CSRF layer reads at most
//! 256 KiB of a form, which is some thousands of contacts. Bigger files go
//! through `tac-crm contacts import`.

use super::activity_chart::{self, ActivityChart};
use super::timeline::view::{FilterErrors, TimelineParams};
use super::timeline::{MemberOption, TimelineBlock, TimelineOwner, older_items, read_timeline};
use super::times::{Instant, instant};
use super::{FieldError, Layout, page, path_id, see_other};
use crate::error::sentence;
use crate::search_limit::reader_for;
use crate::{AppState, CurrentUser, ReadingUser, WebError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;
use tac_core::NormalizedAddress;
use tac_core::insights::FollowUp;
use tac_store::{
    ContactField, ContactId, ContactListQuery, ContactRow, ContactSort, ContactSource, ImportFailureReason, NewContact,
    StoreError,
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(list))
        .route("/contacts/new", get(new_form).post(create))
        .route("/contacts/import", get(import_form).post(import))
        .route("/contacts/{id}", get(profile))
        .route("/contacts/{id}/timeline", get(timeline_fragment))
        .route("/contacts/{id}/edit", get(edit_form).post(update))
        .route("/contacts/{id}/delete", post(delete))
}

/// Contacts per page of the list.
const LIST_PAGE: u32 = 50;
// ---- the list -----------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListParams {
    q: String,
    /// `name` (default) or `recent`.
    sort: String,
    /// 1-based.
    page: String,
}

pub(crate) struct CompanyLink {
    pub id: i64,
    pub name: String,
}

pub(crate) struct ContactLine {
    pub id: i64,
    pub name: String,
    pub emails: String,
    pub company: Option<CompanyLink>,
    pub last: Option<String>,
}

impl ContactLine {
    pub fn new(c: &ContactRow) -> Self {
        ContactLine {
            id: c.id.0,
            name: c.name.clone(),
            emails: c.emails.join(", "),
            company: c.company.as_ref().map(|co| CompanyLink { id: co.id.0, name: co.name.clone() }),
            last: c.last_interaction_at.map(|t| t.format("%Y-%m-%d").to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "contacts/list.html")]
struct ListPage {
    layout: Layout,
    q: String,
    by_recent: bool,
    contacts: Vec<ContactLine>,
    page: u32,
    previous: Option<String>,
    next: Option<String>,
}

fn list_link(q: &str, by_recent: bool, page: u32) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        out.append_pair("q", q);
    }
    if by_recent {
        out.append_pair("sort", "recent");
    }
    if page > 1 {
        out.append_pair("page", &page.to_string());
    }
    let query = out.finish();
    if query.is_empty() { "/contacts".to_owned() } else { format!("/contacts?{query}") }
}

async fn list(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let q = params.q.trim().to_owned();
    let by_recent = params.sort == "recent";
    let page_number = params.page.trim().parse::<u32>().unwrap_or(1).clamp(1, 100_000);
    let query = ContactListQuery {
        search: Some(q.clone()).filter(|q| !q.is_empty()),
        company: None,
        sort: if by_recent { ContactSort::LastInteraction } else { ContactSort::Name },
        limit: LIST_PAGE + 1,
        offset: (page_number - 1) * LIST_PAGE,
    };
    let mut rows = state.store().contacts(state.workspace(), &query).await?;
    let more = rows.len() > LIST_PAGE as usize;
    rows.truncate(LIST_PAGE as usize);
    page(
        StatusCode::OK,
        &ListPage {
            layout: Layout::signed_in("Contacts", &current),
            contacts: rows.iter().map(ContactLine::new).collect(),
            previous: (page_number > 1).then(|| list_link(&q, by_recent, page_number - 1)),
            next: more.then(|| list_link(&q, by_recent, page_number + 1)),
            page: page_number,
            q,
            by_recent,
        },
    )
}

// ---- the profile ----------------------------------------------------------------

struct SummaryView {
    last_interaction: Option<Instant>,
    next_meeting: Option<Instant>,
    follow_up: String,
    strength: u8,
    emails_30: u64,
    emails_90: u64,
    meetings_30: u64,
    meetings_90: u64,
    team: Vec<String>,
}

fn follow_up_text(f: FollowUp) -> String {
    let days = |d: i64| if d == 1 { "1 day".to_owned() } else { format!("{d} days") };
    match f {
        FollowUp::AwaitingTheirReply { days: d, .. } => format!("Awaiting their reply for {}", days(d)),
        FollowUp::AwaitingOurReply { days: d, .. } => format!("Awaiting our reply for {}", days(d)),
        FollowUp::None => "Nothing owed".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "contacts/profile.html")]
struct ProfilePage {
    layout: Layout,
    contact: ContactLine,
    addresses: Vec<String>,
    source: &'static str,
    summary: SummaryView,
    chart: ActivityChart,
    params: TimelineParams,
    filtered: bool,
    members: Vec<MemberOption>,
    errors: FilterErrors,
    timeline: TimelineBlock,
    base: String,
    csrf: String,
}

async fn profile(
    State(state): State<AppState>,
    ReadingUser { user: current, reader }: ReadingUser,
    Path(raw): Path<String>,
    Query(params): Query<TimelineParams>,
) -> Result<Response, WebError> {
    let id = ContactId(path_id(&raw)?);
    let ws = state.workspace();
    let (mut reader, _slot) = reader_for(&state, current.user.id, reader, params.searches()).await?;
    let contact = reader.contact(ws, id).await?;
    let now = Utc::now();
    let summary = reader.contact_summary(ws, id, now).await?;
    let (from, to) = activity_chart::window(now);
    let months = reader.monthly_activity(ws, id, from, to).await?;
    let (timeline, errors, members) = read_timeline(&mut reader, &state, TimelineOwner::Contact(id), &params).await?;
    let base = TimelineOwner::Contact(id).base();
    let first_page = params.cursor.trim().is_empty();
    let view = ProfilePage {
        layout: Layout::signed_in(&contact.name, &current),
        addresses: contact.emails.clone(),
        source: match contact.source {
            ContactSource::Manual => "Added by hand",
            ContactSource::Import => "Imported from CSV",
            ContactSource::Auto => "Created from synced mail and meetings",
        },
        contact: ContactLine::new(&contact),
        summary: SummaryView {
            last_interaction: summary.last_interaction_at.map(instant),
            next_meeting: summary.next_meeting_at.map(instant),
            follow_up: follow_up_text(summary.follow_up),
            strength: summary.relationship_strength,
            emails_30: summary.emails_last_30_days,
            emails_90: summary.emails_last_90_days,
            meetings_30: summary.meetings_last_30_days,
            meetings_90: summary.meetings_last_90_days,
            team: summary
                .top_team_members
                .iter()
                .map(|m| format!("{} <{}> ({} in 90 days)", m.name, m.address, m.interactions))
                .collect(),
        },
        chart: ActivityChart::new(&months, now),
        filtered: params.is_filtered(),
        timeline: TimelineBlock::new(&timeline, &params, &base, first_page),
        params,
        members,
        errors,
        base,
        csrf: current.csrf_token.clone(),
    };
    page(StatusCode::OK, &view)
}

/// The next page of a contact's timeline as list items, for htmx's "Older".
async fn timeline_fragment(
    State(state): State<AppState>,
    ReadingUser { reader, user }: ReadingUser,
    Path(raw): Path<String>,
    Query(params): Query<TimelineParams>,
) -> Result<Response, WebError> {
    let owner = TimelineOwner::Contact(ContactId(path_id(&raw)?));
    older_items(reader, &state, user.user.id, owner, &params).await
}

// ---- adding and editing ---------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContactForm {
    name: String,
    /// One address per line (commas and semicolons also separate).
    emails: String,
    company: String,
}

#[derive(Template)]
#[template(path = "contacts/form.html")]
struct FormPage {
    layout: Layout,
    /// `None` when adding.
    contact_id: Option<i64>,
    action: String,
    name: String,
    emails: String,
    company: String,
    name_error: FieldError,
    emails_error: FieldError,
    company_error: FieldError,
    /// The contact that already has an address the form gave.
    owner: Option<i64>,
}

impl FormPage {
    fn new(current: &CurrentUser, contact_id: Option<i64>, form: ContactForm) -> Self {
        let (title, action) = match contact_id {
            Some(id) => ("Edit contact", format!("/contacts/{id}/edit")),
            None => ("Add contact", "/contacts/new".to_owned()),
        };
        FormPage {
            layout: Layout::signed_in(title, current),
            contact_id,
            action,
            name: form.name,
            emails: form.emails,
            company: form.company,
            name_error: FieldError::default(),
            emails_error: FieldError::default(),
            company_error: FieldError::default(),
            owner: None,
        }
    }

    fn has_errors(&self) -> bool {
        self.name_error.is_set() || self.emails_error.is_set() || self.company_error.is_set()
    }

    /// Shows a store refusal at its field; other errors are the page's.
    fn refused(&mut self, e: StoreError) -> Result<(), WebError> {
        match e {
            StoreError::InternalAddress(address) => self.emails_error.set(format!(
                "{address} belongs to your organisation (a colleague or one of your domains): contacts are external people."
            )),
            StoreError::AddressInUse { address, contact_id } => {
                self.emails_error.set(format!("{address} already belongs to another contact: remove it there first, or edit that contact."));
                self.owner = Some(contact_id);
            }
            StoreError::ContactRefused { field, message } => match field {
                ContactField::Name => self.name_error.set(sentence(&message)),
                ContactField::Emails => self.emails_error.set(sentence(&message)),
                ContactField::Company => self.company_error.set(sentence(&message)),
            },
            other => return Err(other.into()),
        }
        Ok(())
    }
}

/// The typed addresses, normalised, or the message for the field.
fn parse_addresses(input: &str) -> Result<Vec<NormalizedAddress>, String> {
    let mut out: Vec<NormalizedAddress> = Vec::new();
    let mut bad = Vec::new();
    for raw in input.split(['\n', '\r', ',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
        match tac_core::address::normalize(raw) {
            Ok(a) if out.contains(&a) => {}
            Ok(a) => out.push(a),
            Err(e) => bad.push(e.to_string()),
        }
    }
    if let Some(first) = bad.first() {
        return Err(sentence(first));
    }
    if out.is_empty() {
        return Err("Enter at least one email address.".to_owned());
    }
    Ok(out)
}

/// Checks the name and addresses; the page with their errors, if any.
fn check(view: &mut FormPage, name_required: bool) -> Option<(String, Vec<NormalizedAddress>)> {
    let name = match tac_core::contacts::validate_name(&view.name) {
        Ok(name) if name.is_empty() && name_required => {
            view.name_error.set("Enter the contact's name.");
            None
        }
        Ok(name) => Some(name),
        Err(e) => {
            view.name_error.set(sentence(&e.to_string()));
            None
        }
    };
    let addresses = match parse_addresses(&view.emails) {
        Ok(a) => Some(a),
        Err(message) => {
            view.emails_error.set(message);
            None
        }
    };
    if view.company.chars().any(char::is_control) || view.company.trim().chars().count() > 200 {
        view.company_error.set("Keep the company name to one line of at most 200 characters.");
    }
    match (name, addresses) {
        (Some(n), Some(a)) if !view.has_errors() => Some((n, a)),
        _ => None,
    }
}

async fn new_form(current: CurrentUser) -> Result<Response, WebError> {
    page(StatusCode::OK, &FormPage::new(&current, None, ContactForm::default()))
}

async fn create(
    State(state): State<AppState>,
    current: CurrentUser,
    Form(form): Form<ContactForm>,
) -> Result<Response, WebError> {
    let mut view = FormPage::new(&current, None, form);
    let Some((name, emails)) = check(&mut view, false) else {
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    let new = NewContact {
        name,
        emails,
        company: Some(view.company.trim().to_owned()).filter(|c| !c.is_empty()),
        source: ContactSource::Manual,
    };
    match state.store().create_contact(state.workspace(), &new).await {
        Ok(id) => Ok(see_other(&format!("/contacts/{}", id.0))),
        Err(e) => {
            view.refused(e)?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
    }
}

async fn edit_form(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let id = ContactId(path_id(&raw)?);
    let contact = state.store().contact(state.workspace(), id).await?;
    let form = ContactForm {
        name: contact.name.clone(),
        emails: contact.emails.join("\n"),
        company: contact.company.map(|c| c.name).unwrap_or_default(),
    };
    page(StatusCode::OK, &FormPage::new(&current, Some(id.0), form))
}

/// Saves an edit: new addresses first (each links its history), then the
/// dropped ones, then the name and company. The store refuses an address
/// that is internal or another contact's; the form then shows why, with
/// what was typed. Addresses added before the refusal stay added (adding
/// one twice is harmless, so saving again after a fix finishes the edit).
async fn update(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<ContactForm>,
) -> Result<Response, WebError> {
    let id = ContactId(path_id(&raw)?);
    let (store, ws) = (state.store(), state.workspace());
    let contact = store.contact(ws, id).await?;
    let mut view = FormPage::new(&current, Some(id.0), form);
    let Some((name, emails)) = check(&mut view, true) else {
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    for address in emails.iter().filter(|a| !contact.emails.iter().any(|e| e == a.as_str())) {
        if let Err(e) = store.add_contact_email(ws, id, address).await {
            view.refused(e)?;
            return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    }
    for old in contact.emails.iter().filter(|e| !emails.iter().any(|a| a.as_str() == e.as_str())) {
        let Ok(old) = tac_core::address::normalize(old) else { continue };
        if let Err(e) = store.remove_contact_email(ws, id, &old).await {
            view.refused(e)?;
            return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    }
    let company = view.company.trim();
    let current_company = contact.company.as_ref().map_or("", |c| c.name.as_str());
    let company_change = (company != current_company).then_some(Some(company).filter(|c| !c.is_empty()));
    let name_change = (name != contact.name).then_some(name.as_str());
    if (name_change.is_some() || company_change.is_some())
        && let Err(e) = store.update_contact(ws, id, name_change, company_change).await
    {
        view.refused(e)?;
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    Ok(see_other(&format!("/contacts/{}", id.0)))
}

async fn delete(
    State(state): State<AppState>,
    _current: CurrentUser,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let id = ContactId(path_id(&raw)?);
    state.store().delete_contact(state.workspace(), id).await?;
    Ok(see_other("/contacts"))
}

// ---- CSV import -----------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ImportForm {
    csv: String,
}

struct FailedLine {
    line: usize,
    message: String,
}

#[derive(Template)]
#[template(path = "contacts/import.html")]
struct ImportPage {
    layout: Layout,
    csv: String,
    csv_error: FieldError,
    /// After an import: `created, updated, unchanged`.
    done: Option<(u64, u64, u64)>,
    failures: Vec<FailedLine>,
}

impl ImportPage {
    /// The import form with `csv` in its field, before any import.
    fn new(current: &CurrentUser, csv: String) -> Self {
        ImportPage {
            layout: Layout::signed_in("Import contacts", current),
            csv,
            csv_error: FieldError::default(),
            done: None,
            failures: Vec::new(),
        }
    }
}

async fn import_form(current: CurrentUser) -> Result<Response, WebError> {
    page(StatusCode::OK, &ImportPage::new(&current, String::new()))
}

async fn import(
    State(state): State<AppState>,
    current: CurrentUser,
    Form(form): Form<ImportForm>,
) -> Result<Response, WebError> {
    let mut view = ImportPage::new(&current, form.csv);
    let rows = match tac_core::contact_csv::parse_contacts_csv(view.csv.as_bytes()) {
        Ok(rows) => rows,
        Err(e) => {
            view.csv_error.set(sentence(&e.to_string()));
            return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    let report = state.store().import_contacts_report(state.workspace(), rows).await?;
    view.failures = report
        .failures
        .into_iter()
        .map(|f| FailedLine {
            line: f.line,
            message: match f.reason {
                ImportFailureReason::Invalid(message) => sentence(&message),
                ImportFailureReason::Refused(StoreError::AddressInUse { address, .. }) => {
                    format!("{address} already belongs to another contact: the line was skipped.")
                }
                ImportFailureReason::Refused(StoreError::InternalAddress(address)) => {
                    format!("{address} belongs to your organisation: contacts are external people.")
                }
                ImportFailureReason::Refused(other) => sentence(&other.to_string()),
            },
        })
        .collect();
    view.done = Some((report.created, report.updated, report.unchanged));
    // The good lines are in; keep the text only when some lines need fixing.
    if view.failures.is_empty() {
        view.csv.clear();
    }
    page(StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_on_lines_commas_and_semicolons_once_each() {
        let got = parse_addresses("Ann@Fabrikam.com\n\n ann@fabrikam.com; zoe@fabrikam.com,").unwrap();
        let got: Vec<&str> = got.iter().map(NormalizedAddress::as_str).collect();
        assert_eq!(got, ["ann@fabrikam.com", "zoe@fabrikam.com"]);
        assert_eq!(parse_addresses(" \n ").unwrap_err(), "Enter at least one email address.");
        assert!(parse_addresses("ann@fabrikam.com\nnot-an-address").unwrap_err().contains("`not-an-address`"));
    }

    #[test]
    fn list_links_keep_the_search_and_sort() {
        assert_eq!(list_link("", false, 1), "/contacts");
        assert_eq!(list_link("ann lee", true, 2), "/contacts?q=ann+lee&sort=recent&page=2");
    }
}
