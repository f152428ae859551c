//! The emulator's own API under `/_emulator/`: change the world while a test
//! runs (mail arrives, moves, is deleted; meetings change or are cancelled;
//! secrets are revoked; permissions change; faults start) and read the ground
//! truth that a sync must end up equal to.
//!
//! This API is not Microsoft's and needs no token: it is for tests and demos
//! on a loopback address.

use crate::config::{Faults, OutlookLimits};
use crate::corpus::{Address, EventKey, FolderKind, ItemKey};
use crate::ids;
use crate::state::AppState;
use crate::throttle::{Scheduled, window_from_secs};
use crate::world::{NewEvent, NewMessage, Patch, WorldError, patch_field};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The `/_emulator` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_emulator/config", get(config))
        .route("/_emulator/apps", post(create_app))
        .route("/_emulator/apps/{client}", patch(update_app))
        .route("/_emulator/apps/{client}/secrets", post(add_secret))
        .route("/_emulator/apps/{client}/secrets/revoke", post(revoke_secrets))
        .route("/_emulator/apps/{client}/secrets/expire", post(expire_secrets))
        .route("/_emulator/tokens/expire", post(expire_tokens))
        .route("/_emulator/faults", get(get_faults).put(set_faults))
        .route("/_emulator/limits", get(get_limits).put(set_limits))
        .route("/_emulator/throttle", post(schedule_throttle))
        .route("/_emulator/delta-tokens/expire", post(expire_delta_tokens))
        .route("/_emulator/access-policy", put(access_policy))
        .route("/_emulator/users", post(hire_user))
        .route("/_emulator/directoryRoles/{template}/members", put(assign_role))
        .route("/_emulator/users/{user}/mailFolders", post(create_folder))
        .route("/_emulator/users/{user}/messages", post(add_message))
        .route("/_emulator/users/{user}/messages/bulk", post(add_messages))
        .route("/_emulator/users/{user}/messages/{id}", patch(update_message).delete(delete_message))
        .route("/_emulator/users/{user}/messages/{id}/move", post(move_message))
        .route("/_emulator/users/{user}/events", post(add_event))
        .route("/_emulator/users/{user}/events/{id}", patch(update_event).delete(delete_event))
        .route("/_emulator/users/{user}/events/{id}/cancel", post(cancel_event))
        .route("/_emulator/truth/mailboxes", get(truth_mailboxes))
        .route("/_emulator/truth/users/{user}/mail", get(truth_mail))
        .route("/_emulator/truth/users/{user}/events", get(truth_events))
        .route("/_emulator/requests", get(requests))
}

/// An admin API failure: a status and a sentence.
pub struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<WorldError> for AdminError {
    fn from(e: WorldError) -> Self {
        let status = match e {
            WorldError::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::NOT_FOUND,
        };
        AdminError(status, e.to_string())
    }
}

type AdminResult<T> = Result<T, AdminError>;

fn not_found(what: &str) -> AdminError {
    AdminError(StatusCode::NOT_FOUND, format!("no such {what}"))
}

fn user_index(state: &AppState, user: &str) -> AdminResult<usize> {
    state.org().find_user(user).map(|u| u.index).ok_or_else(|| not_found("user"))
}

fn folder_of(state: &AppState, mailbox: usize, id: &str) -> AdminResult<FolderKind> {
    if let Some(f) = FolderKind::from_well_known(id) {
        return Ok(f);
    }
    match ids::parse_folder_id(id) {
        Some((m, f)) if m == mailbox && state.world.has_folder(m, f) => Ok(f),
        _ => Err(not_found("folder")),
    }
}

/// The `{user}` and `{id}` of a `/users/{user}/messages/{id}` or
/// `/users/{user}/events/{id}` route.
#[derive(Deserialize)]
struct ItemPath {
    user: String,
    id: String,
}

impl ItemPath {
    /// The mailbox and the key of the message this path names.
    fn message(&self, state: &AppState) -> AdminResult<(usize, ItemKey)> {
        self.item(state, "message", |id| ids::parse_message_id(id).map(|p| (p.mailbox, p.key)))
    }

    /// The mailbox and the key of the calendar item this path names.
    fn event(&self, state: &AppState) -> AdminResult<(usize, EventKey)> {
        self.item(state, "event", ids::parse_event_id)
    }

    /// The user's mailbox and the key of an item of it, read from the id by
    /// `parse` (which also says whose item the id names); `what` names the
    /// kind of item when there is no such item in this mailbox.
    fn item<K>(
        &self,
        state: &AppState,
        what: &str,
        parse: impl FnOnce(&str) -> Option<(usize, K)>,
    ) -> AdminResult<(usize, K)> {
        let m = user_index(state, &self.user)?;
        match parse(&self.id) {
            Some((owner, key)) if owner == m => Ok((m, key)),
            _ => Err(not_found(what)),
        }
    }
}

/// What a script needs to connect: the `key=value` lines of `tac-crm emulator`, and more.
async fn config(State(state): State<AppState>) -> Json<Value> {
    let registry = state.registry();
    let app = &registry.apps[0];
    let org = state.org();
    Json(json!({
        "tenant_id": org.tenant_id,
        "tenant_name": org.display_name,
        "domains": org.domains.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
        "client_id": app.client_id,
        "client_secret": app.secrets[0].value,
        "client_secret_id": app.secrets[0].key_id,
        "expired_client_secret": app.secrets.get(1).map(|s| s.value.clone()),
        "login_url": state.base_url,
        "graph_url": state.graph_url(),
        "seed": org.seed,
        "users": org.active_users().len(),
        "redirect_uris": app.redirect_uris,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppSpec {
    display_name: Option<String>,
    roles: Option<Vec<String>>,
    admin_consent: Option<bool>,
    redirect_uris: Option<Vec<String>>,
}

/// Grants only what Entra could: application permissions that exist in Microsoft Graph.
fn grantable(roles: &[String]) -> AdminResult<Vec<String>> {
    crate::permissions::check_grant(roles).map_err(|e| AdminError(StatusCode::BAD_REQUEST, e))
}

async fn create_app(State(state): State<AppState>, Json(spec): Json<AppSpec>) -> AdminResult<Json<Value>> {
    let roles = match spec.roles {
        Some(r) => grantable(&r)?,
        None => crate::tokens::TAC_APP_ROLES.iter().map(|r| r.to_string()).collect(),
    };
    let app = state.registry().add_app(
        state.org().seed,
        spec.display_name.as_deref().unwrap_or("Test app"),
        roles,
        spec.admin_consent.unwrap_or(true),
    );
    Ok(Json(json!({"client_id": app.client_id, "client_secret": app.secrets[0].value, "app": app})))
}

async fn update_app(
    State(state): State<AppState>,
    Path(client): Path<String>,
    Json(spec): Json<AppSpec>,
) -> AdminResult<Json<Value>> {
    let roles = spec.roles.as_deref().map(grantable).transpose()?;
    let mut registry = state.registry();
    let app = registry.app_mut(&client).ok_or_else(|| not_found("app"))?;
    patch_field(&mut app.roles, roles);
    patch_field(&mut app.admin_consent, spec.admin_consent);
    patch_field(&mut app.redirect_uris, spec.redirect_uris);
    patch_field(&mut app.display_name, spec.display_name);
    Ok(Json(json!(app)))
}

async fn add_secret(State(state): State<AppState>, Path(client): Path<String>) -> AdminResult<Json<Value>> {
    let seed = state.org().seed;
    let mut registry = state.registry();
    let serial = registry.next_serial();
    let app = registry.app_mut(&client).ok_or_else(|| not_found("app"))?;
    let value = format!("{}{serial:04}", &app.secrets[0].value[..36]);
    let secret = crate::tokens::Secret {
        key_id: crate::rng::guid(seed, &[0x5ec, 1000 + serial]),
        value,
        end_date_time: Utc::now() + Duration::days(365),
        revoked: false,
    };
    app.secrets.push(secret.clone());
    Ok(Json(json!(secret)))
}

async fn revoke_secrets(State(state): State<AppState>, Path(client): Path<String>) -> AdminResult<StatusCode> {
    let mut registry = state.registry();
    let app = registry.app_mut(&client).ok_or_else(|| not_found("app"))?;
    app.secrets.iter_mut().for_each(|s| s.revoked = true);
    Ok(StatusCode::NO_CONTENT)
}

async fn expire_secrets(State(state): State<AppState>, Path(client): Path<String>) -> AdminResult<StatusCode> {
    let mut registry = state.registry();
    let app = registry.app_mut(&client).ok_or_else(|| not_found("app"))?;
    app.secrets.iter_mut().for_each(|s| s.end_date_time = Utc::now() - Duration::seconds(1));
    Ok(StatusCode::NO_CONTENT)
}

async fn expire_tokens(State(state): State<AppState>) -> StatusCode {
    state.registry().expire_tokens();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(state): State<AppState>) -> Json<Faults> {
    Json(state.faults.settings())
}

async fn set_faults(State(state): State<AppState>, Json(faults): Json<Faults>) -> AdminResult<Json<Faults>> {
    let rates = [faults.rate_503, faults.rate_504, faults.drop_rate, faults.delta_expiry_rate];
    if rates.iter().any(|r| !(0.0..=1.0).contains(r)) || faults.rate_503 + faults.rate_504 + faults.drop_rate > 1.0 {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            "rates must be between 0 and 1 and add up to at most 1".into(),
        ));
    }
    state.faults.set(faults.clone());
    Ok(Json(faults))
}

#[derive(serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Limits {
    concurrent_requests: usize,
    requests_per_window: u32,
    window_seconds: f64,
}

async fn get_limits(State(state): State<AppState>) -> Json<Limits> {
    let l = state.throttle.limits();
    Json(Limits {
        concurrent_requests: l.concurrent_requests,
        requests_per_window: l.requests_per_window,
        window_seconds: l.window.as_secs_f64(),
    })
}

async fn set_limits(State(state): State<AppState>, Json(l): Json<Limits>) -> AdminResult<Json<Limits>> {
    if l.concurrent_requests == 0 || l.requests_per_window == 0 {
        return Err(AdminError(StatusCode::BAD_REQUEST, "limits must be positive".into()));
    }
    state.throttle.set_limits(OutlookLimits {
        concurrent_requests: l.concurrent_requests,
        requests_per_window: l.requests_per_window,
        window: window_from_secs(l.window_seconds),
    });
    state.throttle.reset();
    Ok(Json(l))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThrottleSpec {
    mailbox: Option<String>,
    count: u32,
    /// The `Retry-After` value, verbatim: "2", "2.128" or an HTTP date; empty for none.
    retry_after: Option<String>,
}

async fn schedule_throttle(State(state): State<AppState>, Json(spec): Json<ThrottleSpec>) -> AdminResult<StatusCode> {
    let mailbox = spec.mailbox.as_deref().map(|m| user_index(&state, m)).transpose()?;
    state.throttle.schedule(Scheduled {
        mailbox,
        remaining: spec.count,
        retry_after: spec.retry_after.unwrap_or_else(|| "1".into()),
    });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
struct MailboxSpec {
    mailbox: Option<String>,
}

async fn expire_delta_tokens(
    State(state): State<AppState>,
    body: Option<Json<MailboxSpec>>,
) -> AdminResult<StatusCode> {
    let spec = body.map(|b| b.0).unwrap_or_default();
    let mailbox = spec.mailbox.as_deref().map(|m| user_index(&state, m)).transpose()?;
    state.world.expire_delta_tokens(mailbox);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessPolicy {
    denied_mailboxes: Vec<String>,
}

async fn access_policy(State(state): State<AppState>, Json(policy): Json<AccessPolicy>) -> AdminResult<StatusCode> {
    let denied = policy.denied_mailboxes.iter().map(|m| user_index(&state, m)).collect::<AdminResult<_>>()?;
    *state.denied_mailboxes.write().unwrap_or_else(|e| e.into_inner()) = denied;
    Ok(StatusCode::NO_CONTENT)
}

/// Brings the next future hire into the directory, with their mailbox.
async fn hire_user(State(state): State<AppState>) -> AdminResult<Json<Value>> {
    let user = state
        .org()
        .hire()
        .ok_or_else(|| AdminError(StatusCode::CONFLICT, "every future hire has joined already".into()))?;
    Ok(Json(json!({"id": user.id, "userPrincipalName": user.user_principal_name, "mail": user.mail})))
}

#[derive(Deserialize)]
struct RoleAssignment {
    /// Object ids or user principal names.
    users: Vec<String>,
    /// Object ids of groups (role-assignable groups, as Entra allows).
    #[serde(default)]
    groups: Vec<String>,
}

/// Makes exactly these users the people holding a built-in role (by its
/// template id), as an admin assigning roles in the Entra admin center would.
async fn assign_role(
    State(state): State<AppState>,
    Path(template): Path<String>,
    Json(spec): Json<RoleAssignment>,
) -> AdminResult<Json<Value>> {
    let users = spec.users.iter().map(|u| user_index(&state, u)).collect::<AdminResult<Vec<_>>>()?;
    let groups = spec
        .groups
        .iter()
        .map(|g| state.org().groups.iter().position(|x| x.id.eq_ignore_ascii_case(g)).ok_or_else(|| not_found("group")))
        .collect::<AdminResult<Vec<_>>>()?;
    let role = state.org().assign_role(&template, &users, &groups).ok_or_else(|| not_found("role template"))?;
    Ok(Json(json!({"id": role.id, "roleTemplateId": role.template().template_id, "members": users.len()})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FolderSpec {
    display_name: String,
    parent_folder_id: Option<String>,
}

async fn create_folder(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Json(spec): Json<FolderSpec>,
) -> AdminResult<Json<Value>> {
    let m = user_index(&state, &user)?;
    let parent = match spec.parent_folder_id.as_deref() {
        Some(p) => folder_of(&state, m, p)?,
        None => FolderKind::MsgFolderRoot,
    };
    let kind = state.world.create_folder(m, &spec.display_name, parent)?;
    Ok(Json(json!({"id": ids::folder_id(m, kind), "displayName": spec.display_name})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddMessage {
    folder: String,
    #[serde(flatten)]
    message: NewMessage,
}

async fn add_message(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Json(spec): Json<AddMessage>,
) -> AdminResult<Json<Value>> {
    let m = user_index(&state, &user)?;
    let folder = folder_of(&state, m, &spec.folder)?;
    let key = state.world.add_message(m, folder, spec.message)?;
    Ok(Json(message_ids(m, key, 0)))
}

/// A message's regular id (after `moves` moves) and its immutable id.
fn message_ids(mailbox: usize, key: ItemKey, moves: u16) -> Value {
    json!({"id": ids::message_id(mailbox, key, Some(moves)), "immutableId": ids::message_id(mailbox, key, None)})
}

/// Many plain messages at once, for big-folder tests and benchmarks: `count`
/// messages into `folder`, received at even steps from `since` to `until`,
/// from an outside sender to the mailbox's owner.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddMessages {
    folder: String,
    count: usize,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
}

/// The most one bulk call adds.
const MAX_BULK: usize = 200_000;

async fn add_messages(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Json(spec): Json<AddMessages>,
) -> AdminResult<Json<Value>> {
    let m = user_index(&state, &user)?;
    let folder = folder_of(&state, m, &spec.folder)?;
    if spec.count == 0 || spec.count > MAX_BULK || spec.until < spec.since {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            format!("count is 1 to {MAX_BULK}, and until is not before since"),
        ));
    }
    let owner = state.org().users[m].clone();
    let step = (spec.until - spec.since) / i32::try_from(spec.count).unwrap_or(i32::MAX);
    for i in 0..spec.count {
        let n = i32::try_from(i).unwrap_or(i32::MAX);
        let message = NewMessage {
            subject: format!("Bulk message {i}"),
            from: Address { name: format!("Sender {}", i % 97), address: format!("sender{}@bulk.example", i % 97) },
            to: vec![Address { name: owner.display_name.clone(), address: owner.user_principal_name.clone() }],
            cc: Vec::new(),
            bcc: Vec::new(),
            body: Some(format!("<p>Bulk message {i}.</p>")),
            received_date_time: Some(spec.since + step * n),
            internet_message_id: Some(format!("<bulk.{m}.{i}.{}@emulator.invalid>", spec.since.timestamp())),
            conversation_id: None,
            is_read: true,
            sensitivity: None,
            raw: None,
        };
        state.world.add_message(m, folder, message)?;
    }
    Ok(Json(json!({"added": spec.count})))
}

async fn update_message(
    State(state): State<AppState>,
    Path(item): Path<ItemPath>,
    Json(p): Json<Patch>,
) -> AdminResult<StatusCode> {
    let (m, key) = item.message(&state)?;
    state.world.update_message(m, key, p)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveSpec {
    destination_id: String,
}

async fn move_message(
    State(state): State<AppState>,
    Path(item): Path<ItemPath>,
    Json(spec): Json<MoveSpec>,
) -> AdminResult<Json<Value>> {
    let (m, key) = item.message(&state)?;
    let to = folder_of(&state, m, &spec.destination_id)?;
    state.world.move_message(m, key, to)?;
    let moves = state.world.message(m, key).map(|(_, moves)| moves).unwrap_or_default();
    Ok(Json(message_ids(m, key, moves)))
}

async fn delete_message(State(state): State<AppState>, Path(item): Path<ItemPath>) -> AdminResult<StatusCode> {
    let (m, key) = item.message(&state)?;
    state.world.delete_message(m, key)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_event(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Json(spec): Json<NewEvent>,
) -> AdminResult<Json<Value>> {
    let m = user_index(&state, &user)?;
    let key = state.world.add_event(m, spec)?;
    Ok(Json(json!({"id": ids::event_id(m, key)})))
}

async fn update_event(
    State(state): State<AppState>,
    Path(item): Path<ItemPath>,
    Json(p): Json<Patch>,
) -> AdminResult<StatusCode> {
    let (m, key) = item.event(&state)?;
    state.world.update_event(m, key, p)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_event(State(state): State<AppState>, Path(item): Path<ItemPath>) -> AdminResult<StatusCode> {
    let (m, key) = item.event(&state)?;
    state.world.delete_event(m, key)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn cancel_event(State(state): State<AppState>, Path(item): Path<ItemPath>) -> AdminResult<Json<Value>> {
    let (m, key) = item.event(&state)?;
    let changed = state.world.cancel_meeting(m, key)?;
    Ok(Json(json!({"calendarsChanged": changed})))
}

/// Every user, with whether TAC should find a mailbox.
async fn truth_mailboxes(State(state): State<AppState>) -> Json<Value> {
    let users: Vec<Value> = state
        .org()
        .active_users()
        .iter()
        .map(|u| json!({"id": u.id, "userPrincipalName": u.user_principal_name, "hasMailbox": u.has_mailbox, "accountEnabled": u.account_enabled, "denied": state.is_denied(u.index)}))
        .collect();
    Json(json!({"users": users}))
}

/// Every message of a mailbox, folder by folder, as it is now.
async fn truth_mail(State(state): State<AppState>, Path(user): Path<String>) -> AdminResult<Json<Value>> {
    let m = user_index(&state, &user)?;
    if !state.org().users[m].has_mailbox {
        return Err(AdminError(StatusCode::NOT_FOUND, "this user has no mailbox".into()));
    }
    let mut by_folder: HashMap<FolderKind, Vec<Value>> = HashMap::new();
    for (msg, moves) in state.world.all_messages(m) {
        by_folder.entry(msg.folder).or_default().push(json!({
            "id": ids::message_id(m, msg.key, Some(moves)),
            "immutableId": ids::message_id(m, msg.key, None),
            "internetMessageId": msg.internet_message_id,
            "conversationId": msg.conversation_id,
            "subject": msg.subject,
            "from": msg.from.address,
            "receivedDateTime": crate::tz::utc_stamp(msg.received),
            "meetingMessageType": msg.meeting.as_ref().map(|x| x.kind),
            "sensitivity": msg.sensitivity,
        }));
    }
    let folders: Vec<Value> = state
        .world
        .folders(m)
        .into_iter()
        .map(|(kind, name, _)| {
            json!({
                "id": ids::folder_id(m, kind),
                "wellKnownName": kind.well_known_name(),
                "displayName": name,
                "messages": by_folder.remove(&kind).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({"mailbox": state.org().users[m].user_principal_name, "folders": folders})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Window {
    start_date_time: String,
    end_date_time: String,
}

/// Every calendar item of a mailbox in a window, as calendarView would list it.
async fn truth_events(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Query(w): Query<Window>,
) -> AdminResult<Json<Value>> {
    let m = user_index(&state, &user)?;
    let parse = |v: &str| {
        crate::tz::parse_query_datetime(v).ok_or_else(|| AdminError(StatusCode::BAD_REQUEST, format!("bad time {v:?}")))
    };
    let (start, end) = (parse(&w.start_date_time)?, parse(&w.end_date_time)?);
    let events: Vec<Value> = state
        .world
        .events_in(m, start, end)
        .into_iter()
        .map(|e| {
            json!({
                "id": ids::event_id(m, e.key),
                "iCalUId": e.ical_uid,
                "subject": e.subject,
                "start": crate::tz::utc_stamp(e.start),
                "end": crate::tz::utc_stamp(e.end),
                "isAllDay": e.is_all_day,
                "isCancelled": e.is_cancelled,
                "type": e.kind,
                "sensitivity": e.sensitivity,
                "organizer": e.organizer.address,
            })
        })
        .collect();
    Ok(Json(json!({"mailbox": state.org().users[m].user_principal_name, "events": events})))
}

#[derive(Deserialize)]
struct Since {
    since: Option<u64>,
}

/// The Graph requests received, for tests that check what a client asked.
async fn requests(State(state): State<AppState>, Query(s): Query<Since>) -> Json<Value> {
    Json(json!({"requests": state.requests_since(s.since.unwrap_or(0))}))
}
