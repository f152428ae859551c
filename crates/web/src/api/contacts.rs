//! `/api/v1/contacts…`: list, create, read, rename, delete contacts and
//! change their addresses, over the store calls `tac-crm contacts` makes.
//! Every rule (internal addresses refused, one contact per address, history
//! linked at once) is the store's; this module reads input and maps the
//! store's refusals to problems.

use super::input::{Fields, JsonObject, Params, Patch, address, invalid, not_found, path_id};
use crate::error::sentence;
use crate::{AppState, CurrentUser, FieldIssue, Result, WebError};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tac_store::{ContactField, ContactId, ContactListQuery, ContactSort, ContactSource, NewContact, StoreError};

/// Contacts per page unless `limit` says otherwise, and the most.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// `GET /api/v1/contacts?search=&sort=&limit=&cursor=`
pub(crate) async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let mut params = Params::parse(raw.as_deref());
    let search = params.text("search");
    let sort = params
        .parsed("sort", |s| match s {
            "name" => Ok(ContactSort::Name),
            "last_interaction" => Ok(ContactSort::LastInteraction),
            _ => Err("Give `name` or `last_interaction`.".to_owned()),
        })
        .unwrap_or_default();
    let limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT);
    let offset = params.parsed("cursor", decode_cursor).unwrap_or(0);
    params.finish()?;

    // One more than asked tells whether a next page exists.
    let query = ContactListQuery { search, sort, limit: limit + 1, offset, ..ContactListQuery::default() };
    let mut rows = state.store().contacts(state.workspace(), &query).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| encode_cursor(offset + limit));
    let items: Vec<Value> = rows.iter().map(tac_store::json::contact).collect();
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})))
}

/// Contact pages are positions in the sorted list: `o<offset>`.
fn encode_cursor(offset: u32) -> String {
    format!("o{offset}")
}

fn decode_cursor(text: &str) -> std::result::Result<u32, String> {
    text.strip_prefix('o').and_then(|n| n.parse::<u32>().ok()).ok_or_else(|| {
        "This cursor did not come from us: pass the `next_cursor` of the previous page unchanged.".into()
    })
}

/// `POST /api/v1/contacts` with `{"emails": [...], "name"?, "company"?}`.
pub(crate) async fn create(
    State(state): State<AppState>,
    _user: CurrentUser,
    JsonObject(mut body): JsonObject,
) -> Result<Response> {
    let name = body.string("name").unwrap_or_default();
    let company = body.string("company").filter(|c| !c.trim().is_empty());
    let raw_emails = body.string_list("emails");
    let mut emails = Vec::new();
    match raw_emails {
        None => body.issue("emails", "Give at least one email address, for example [\"ann@fabrikam.com\"]."),
        Some(list) if list.is_empty() => body.issue("emails", "Give at least one email address."),
        Some(list) => {
            for (i, raw) in &list {
                match address(raw) {
                    Ok(a) => emails.push(a),
                    Err(message) => body.issue(&format!("emails[{i}]"), message),
                }
            }
        }
    }
    if let Err(e) = tac_core::contacts::validate_name(&name) {
        body.issue("name", format!("{e}."));
    }
    body.finish()?;

    let new = NewContact { name, emails, company, source: ContactSource::Manual };
    let id = state.store().create_contact(state.workspace(), &new).await.map_err(|e| refusal(e, "emails"))?;
    let contact = state.store().contact(state.workspace(), id).await?;
    let mut response = (StatusCode::CREATED, Json(tac_store::json::contact(&contact))).into_response();
    if let Ok(location) = HeaderValue::try_from(format!("/api/v1/contacts/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/contacts/{id}`
pub(crate) async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    as_stored(&state, &id).await
}

/// `PATCH /api/v1/contacts/{id}` with `{"name"?, "company"?}` (`"company": null` clears it).
pub(crate) async fn update(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
    JsonObject(mut body): JsonObject,
) -> Result<Json<Value>> {
    let contact_id = contact_id(&id)?;
    let name = match body.patch_string("name") {
        Patch::Set(name) if name.trim().is_empty() => {
            body.issue("name", "A contact's name cannot be empty.");
            None
        }
        Patch::Set(name) => {
            if let Err(e) = tac_core::contacts::validate_name(&name) {
                body.issue("name", format!("{e}."));
            }
            Some(name)
        }
        Patch::Null => {
            body.issue("name", "A contact's name cannot be null; leave the member out to keep it.");
            None
        }
        Patch::Absent => None,
    };
    let company = match body.patch_string("company") {
        Patch::Set(c) if c.trim().is_empty() => Some(None),
        Patch::Set(c) => Some(Some(c)),
        Patch::Null => Some(None),
        Patch::Absent => None,
    };
    body.finish()?;
    if name.is_none() && company.is_none() {
        return Err(invalid("body", "Give `name` and/or `company` to change."));
    }
    state
        .store()
        .update_contact(state.workspace(), contact_id, name.as_deref(), company.as_ref().map(|c| c.as_deref()))
        .await
        .map_err(|e| refusal(missing_contact(e, &id), "emails"))?;
    as_stored(&state, &id).await
}

/// `DELETE /api/v1/contacts/{id}`: the contact and its timeline go; the
/// synced mail and meetings stay.
pub(crate) async fn delete(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let contact_id = contact_id(&id)?;
    state.store().delete_contact(state.workspace(), contact_id).await.map_err(|e| missing_contact(e, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/contacts/{id}/emails` with `{"email"}`: the address's
/// history joins the timeline at once.
pub(crate) async fn add_email(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>> {
    let contact = load(&state, &id).await?;
    let new = email_member(body)?;
    state.store().add_contact_email(state.workspace(), contact.id, &new).await.map_err(|e| refusal(e, "email"))?;
    as_stored(&state, &id).await
}

/// `DELETE /api/v1/contacts/{id}/emails` with `{"email"}`: what only that
/// address linked leaves the timeline.
pub(crate) async fn remove_email(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>> {
    let contact = load(&state, &id).await?;
    let old = email_member(body)?;
    match state.store().remove_contact_email(state.workspace(), contact.id, &old).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => {
            return Err(invalid(
                "email",
                format!("The contact has no address {old}: its addresses are {}.", contact.emails.join(", ")),
            ));
        }
        Err(StoreError::ContactRefused { message, .. }) => return Err(WebError::Conflict(sentence(&message))),
        Err(e) => return Err(e.into()),
    }
    as_stored(&state, &id).await
}

/// The `email` member of a body, normalised; the body has no other member.
fn email_member(mut body: Fields) -> Result<tac_core::NormalizedAddress> {
    let parsed = match body.string("email") {
        None => {
            body.issue("email", "Give the address, for example {\"email\": \"ann@fabrikam.com\"}.");
            None
        }
        Some(raw) => match address(&raw) {
            Ok(a) => Some(a),
            Err(message) => {
                body.issue("email", message);
                None
            }
        },
    };
    body.finish()?;
    parsed.ok_or_else(|| invalid("email", "Give the address."))
}

pub(crate) fn contact_id(raw: &str) -> Result<ContactId> {
    path_id(raw, "contact", "contact").map(ContactId)
}

/// The contact with this path id in the portal's workspace, or 404.
pub(crate) async fn load(state: &AppState, raw: &str) -> Result<tac_store::ContactRow> {
    load_with(&mut state.store().reader().await?, state, raw).await
}

/// The contact with this path id as stored now, as the API shows it.
async fn as_stored(state: &AppState, raw: &str) -> Result<Json<Value>> {
    Ok(Json(tac_store::json::contact(&load(state, raw).await?)))
}

/// [`load`] on a reader that the handler goes on reading with.
pub(crate) async fn load_with(
    reader: &mut tac_store::Reader,
    state: &AppState,
    raw: &str,
) -> Result<tac_store::ContactRow> {
    let id = contact_id(raw)?;
    reader.contact(state.workspace(), id).await.map_err(|e| missing_contact(e, raw))
}

/// The store's "not found" as the API's 404 naming the id.
fn missing_contact(e: StoreError, raw: &str) -> WebError {
    match e {
        StoreError::NotFound("contact") => not_found("contact", raw),
        other => other.into(),
    }
}

/// The store's refusals of contact changes as problems that say what to
/// do, at the member they are about; `addresses` is the member that held
/// the addresses (`emails` or `email`).
fn refusal(e: impl Into<WebError>, addresses: &str) -> WebError {
    match e.into() {
        WebError::Store(StoreError::AddressInUse { address, contact_id }) => WebError::Conflict(format!(
            "{address} already belongs to contact {contact_id}: add it to that contact, or remove it there first."
        )),
        WebError::Store(StoreError::InternalAddress(address)) => WebError::Invalid {
            detail: StoreError::InternalAddress(address.clone()).to_string(),
            errors: vec![FieldIssue::new(
                addresses,
                format!("{address} belongs to your organisation; contacts are external people."),
            )],
        },
        WebError::Store(StoreError::ContactRefused { field: refused, message }) => {
            let member = match refused {
                ContactField::Name => "name",
                ContactField::Emails => addresses,
                ContactField::Company => "company",
            };
            invalid(member, sentence(&message))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(150)), Ok(150));
        for bad in ["", "150", "o", "o-1", "ox", "1700000000.email.3"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
