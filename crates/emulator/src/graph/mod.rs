//! Microsoft Graph v1.0: authentication of the bearer token, fault injection,
//! Outlook throttling, then dispatch to the resource handlers.
//!
//! Graph paths are parsed by hand rather than by the router because Graph
//! accepts both `/users/{id}` and the OData key form `/users('{id}')` (its own
//! next links use the latter), and matches segment names case-insensitively.

pub mod batch;
pub mod calendar;
pub mod directory;
pub mod error;
pub mod mail;
pub mod odata;

use crate::faults::Fault;
use crate::render::RenderContext;
use crate::state::{AppState, LoggedRequest};
use crate::throttle::Throttled;
use crate::tokens::{AccessClaims, GRAPH_APP_ID, GRAPH_AUDIENCE};
use crate::tz::Zone;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use error::{GraphError, GraphResult, REQUEST_ID};
use odata::{Prefer, Query};
use serde_json::Value;

/// Who is calling, from a verified access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    /// Application permissions (`roles`); empty without admin consent.
    pub roles: Vec<String>,
    /// The signed-in user of a delegated token.
    pub user: Option<usize>,
}

impl Caller {
    /// Passes when the caller holds any of `roles`.
    pub fn require(&self, roles: &[&str], denied: fn() -> GraphError) -> GraphResult<()> {
        if self.holds(roles) { Ok(()) } else { Err(denied()) }
    }

    /// Whether an app-only caller holds any of `roles`.
    pub fn holds(&self, roles: &[&str]) -> bool {
        self.user.is_none() && self.roles.iter().any(|r| roles.iter().any(|w| w.eq_ignore_ascii_case(r)))
    }
}

/// Permissions that let an app read mail, calendars and the directory
/// (docs/graph-facts.md §8). The `BASIC` ones read without bodies and the like.
pub const MAIL_ROLES: &[&str] = &["Mail.Read", "Mail.ReadWrite"];
pub const MAIL_BASIC_ROLES: &[&str] = &["Mail.ReadBasic.All"];
pub const CALENDAR_ROLES: &[&str] = &["Calendars.Read", "Calendars.ReadWrite"];
pub const CALENDAR_BASIC_ROLES: &[&str] = &["Calendars.ReadBasic.All"];
pub const USER_ROLES: &[&str] =
    &["User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All", "Directory.Read.All", "Directory.ReadWrite.All"];
pub const GROUP_ROLES: &[&str] =
    &["Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
pub const MEMBER_ROLES: &[&str] =
    &["GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
pub const ORGANIZATION_ROLES: &[&str] =
    &["Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
/// `/directoryRoles` and their members (directoryrole-list.md,
/// directoryrole-list-members.md).
pub const DIRECTORY_ROLE_ROLES: &[&str] = &[
    "RoleManagement.Read.Directory",
    "Directory.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.ReadWrite.All",
];

/// One Graph request, as the dispatcher sees it (also built for `$batch` items).
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: Method,
    /// The path after `/v1.0`, starting with `/`.
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Everything a resource handler needs.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub query: Query,
    pub prefer: Prefer,
    pub render: RenderContext,
    pub request: &'a GraphRequest,
}

/// The response of a resource handler, before the common headers.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: Vec<(HeaderName, String)>,
}

impl Answer {
    pub fn ok(body: Value) -> Self {
        Answer { status: StatusCode::OK, body, headers: Vec::new() }
    }
}

fn verify(state: &AppState, headers: &HeaderMap) -> GraphResult<Caller> {
    let value = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(value) = value else {
        return Err(GraphError::missing_token());
    };
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or("").trim();
    if token.is_empty() {
        return Err(GraphError::missing_token());
    }
    let claims: AccessClaims = state.keys.verify(token).map_err(|_| GraphError::malformed_token())?;
    let now = chrono::Utc::now().timestamp();
    let revoked_below = state.registry().revoked_below;
    let revoked = crate::tokens::serial_of(&claims.uti).is_none_or(|s| s < revoked_below);
    if claims.exp <= now || claims.nbf > now + 300 || revoked {
        return Err(GraphError::expired_token());
    }
    if claims.aud != GRAPH_AUDIENCE && claims.aud != GRAPH_APP_ID {
        return Err(GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Invalid audience."));
    }
    if !claims.tid.eq_ignore_ascii_case(&state.org().tenant_id) {
        return Err(GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid issuer.",
        ));
    }
    let user = if claims.idtyp == "user" { state.org().find_user(&claims.oid).map(|u| u.index) } else { None };
    Ok(Caller { client_id: claims.appid, roles: claims.roles.unwrap_or_default(), user })
}

/// The axum handler for everything under `/v1.0/`.
pub async fn entry(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 4 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return GraphError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "The request body is too large.",
            )
            .into_response();
        }
    };
    let path = parts.uri.path().strip_prefix("/v1.0").unwrap_or("/").to_string();
    let request = GraphRequest {
        method: parts.method,
        path,
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
    };
    let request_id = crate::rng::guid(
        state.world.seq() ^ chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64,
        &[0x4e9],
    );
    let client_request_id = request
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    REQUEST_ID
        .scope((request_id.clone(), client_request_id.clone()), async move {
            let started_ms = state.clock_ms();
            let caller = verify(&state, &request.headers);
            let (mut response, mailbox) = match &caller {
                Ok(caller) => process(&state, caller, &request).await,
                Err(e) => (e.clone().into_response(), None),
            };
            let h = response.headers_mut();
            for (name, value) in [("request-id", &request_id), ("client-request-id", &client_request_id)] {
                if let Ok(v) = HeaderValue::from_str(value) {
                    h.insert(name, v);
                }
            }
            h.insert("odata-version", HeaderValue::from_static("4.0"));
            state.log(LoggedRequest {
                n: 0,
                method: request.method.to_string(),
                path: request.path.clone(),
                query: request.raw_query.clone(),
                status: response.status().as_u16(),
                client_id: caller.ok().map(|c| c.client_id),
                mailbox,
                started_ms,
                finished_ms: state.clock_ms(),
            });
            response
        })
        .await
}

/// A body that fails at once, so the server drops the connection mid-response.
struct DroppedBody;

impl axum::body::HttpBody for DroppedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault injection: dropped",
        ))))
    }
}

/// [`process`] as a boxed `Send` future. A `$batch` item runs `process`,
/// which can run a batch; the named type closes that cycle for the compiler.
pub fn process_boxed<'a>(
    state: &'a AppState,
    caller: &'a Caller,
    request: &'a GraphRequest,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = (Response, Option<String>)> + Send + 'a>> {
    Box::pin(process(state, caller, request))
}

/// Runs one Graph request for a verified caller: faults, throttling, dispatch.
/// Returns the response and the mailbox it concerned, for the request log.
pub async fn process(state: &AppState, caller: &Caller, request: &GraphRequest) -> (Response, Option<String>) {
    let route = match Route::parse(&request.method, &request.path, caller) {
        Ok(r) => r,
        Err(e) => return (e.into_response(), None),
    };
    // Mailbox APIs are throttled per app and mailbox, as Outlook does. The
    // permit is held while the request is served, latency included.
    let mut mailbox_name = None;
    let _permit = match route.mailbox_user().and_then(|u| resolve_user(state, u)) {
        Some((index, upn)) => {
            mailbox_name = Some(upn);
            match state.throttle.admit(&caller.client_id, index) {
                Ok(p) => Some(p),
                Err(t) => return (throttled(t).into_response(), mailbox_name),
            }
        }
        None => None,
    };
    let faults = state.faults.settings();
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    match state.faults.next() {
        Fault::None => {}
        Fault::ServiceUnavailable => {
            return (GraphError::service_unavailable().into_response(), mailbox_name);
        }
        Fault::GatewayTimeout => {
            return (GraphError::gateway_timeout().into_response(), mailbox_name);
        }
        Fault::DropConnection => {
            let mut r = Response::new(Body::new(DroppedBody));
            r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
            return (r, mailbox_name);
        }
    }
    let response = match answer(state, caller, request, route).await {
        Ok(a) => {
            let mut r = (a.status, axum::Json(a.body)).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
                ),
            );
            for (name, value) in a.headers {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    r.headers_mut().insert(name, v);
                }
            }
            r
        }
        Err(e) => e.into_response(),
    };
    (response, mailbox_name)
}

/// A mailbox path's user: `#N` (from `/me`), an object id or a UPN.
fn resolve_user(state: &AppState, user: &str) -> Option<(usize, String)> {
    let org = state.org();
    let u = match user.strip_prefix('#') {
        Some(n) => n.parse::<usize>().ok().and_then(|i| org.users.get(i)),
        None => org.find_user(user),
    }?;
    Some((u.index, u.user_principal_name.clone()))
}

fn throttled(t: Throttled) -> GraphError {
    let retry = HeaderName::from_static("retry-after");
    match t {
        Throttled::Concurrency => GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        )
        .with_header(retry, "1"),
        Throttled::Budget { retry_after_secs } => {
            let mut e = GraphError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Please retry again later.");
            e.inner_code = Some("429".into());
            e.with_header(retry, retry_after_secs.to_string())
        }
        Throttled::Scheduled { retry_after } => {
            let mut e = GraphError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Please retry again later.");
            e.inner_code = Some("429".into());
            if retry_after.is_empty() { e } else { e.with_header(retry, retry_after) }
        }
    }
}

async fn answer(state: &AppState, caller: &Caller, request: &GraphRequest, route: Route) -> GraphResult<Answer> {
    let prefer = Prefer::parse(&request.headers)?;
    let render = RenderContext {
        base: state.graph_url(),
        immutable_ids: prefer.immutable_ids,
        text_body: prefer.text_body,
        zone: prefer.time_zone.unwrap_or(Zone::UTC),
    };
    let ctx = Ctx { state, caller, query: Query::parse(&request.raw_query), prefer, render, request };
    let mut answer = match route {
        Route::Batch => return batch::run(&ctx).await,
        Route::Me => directory::me(&ctx),
        Route::Organization => directory::organization(&ctx),
        Route::Users => directory::users(&ctx),
        Route::User(id) => directory::user(&ctx, &id),
        Route::Groups => directory::groups(&ctx),
        Route::Group(id) => directory::group(&ctx, &id),
        Route::GroupMembers(id, users_only) => directory::members(&ctx, &id, users_only),
        Route::DirectoryRoles => directory::directory_roles(&ctx),
        Route::DirectoryRole(id) => directory::directory_role(&ctx, &id),
        Route::DirectoryRoleMembers(id) => directory::role_members(&ctx, &id),
        Route::Mailbox(user, resource) => {
            let mailbox = mail::open_mailbox(&ctx, &user, &resource)?;
            match resource {
                MailboxResource::Folders(parent) => mail::folders(&ctx, &mailbox, parent.as_deref()),
                MailboxResource::Folder(id) => mail::folder(&ctx, &mailbox, &id),
                MailboxResource::FolderMessages(id) => mail::list_messages(&ctx, &mailbox, Some(&id)),
                MailboxResource::FolderDelta(id) => mail::delta(&ctx, &mailbox, &id),
                MailboxResource::Messages => mail::list_messages(&ctx, &mailbox, None),
                MailboxResource::Message(id) => mail::message(&ctx, &mailbox, &id),
                MailboxResource::CalendarView => calendar::view(&ctx, &mailbox),
                MailboxResource::CalendarDelta => calendar::delta(&ctx, &mailbox),
                MailboxResource::Events => calendar::list_events(&ctx, &mailbox),
                MailboxResource::Event(id) => calendar::event(&ctx, &mailbox, &id),
                MailboxResource::Instances(id) => calendar::instances(&ctx, &mailbox, &id),
            }
        }
    }?;
    if !ctx.prefer.applied.is_empty() {
        answer.headers.push((HeaderName::from_static("preference-applied"), ctx.prefer.applied.join(", ")));
    }
    Ok(answer)
}

/// A Graph resource path.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Batch,
    Me,
    Organization,
    Users,
    User(String),
    Groups,
    Group(String),
    GroupMembers(String, bool),
    /// `/directoryRoles`, one role by object id or `roleTemplateId=…`, and its members.
    DirectoryRoles,
    DirectoryRole(String),
    DirectoryRoleMembers(String),
    Mailbox(String, MailboxResource),
}

/// A resource inside a mailbox.
#[derive(Debug, Clone, PartialEq)]
pub enum MailboxResource {
    /// Top-level folders, or the children of one.
    Folders(Option<String>),
    Folder(String),
    FolderMessages(String),
    FolderDelta(String),
    Messages,
    Message(String),
    CalendarView,
    CalendarDelta,
    Events,
    Event(String),
    Instances(String),
}

/// Splits a path into percent-decoded segments, turning `name('key')` into
/// `name`, `key`, and a function call without parameters, `delta()`, into
/// its name: Microsoft's kiota-generated SDKs call functions that way, the
/// JavaScript SDK without the parentheses, and Graph takes both (docs/graph-facts.md §8).
pub fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let decoded: String = percent_decode(raw);
        if let Some(function) = decoded.strip_suffix("()")
            && !function.is_empty()
            && !function.contains(['(', ')', '\''])
        {
            out.push(function.to_string());
            continue;
        }
        if let Some(open) = decoded.find("('")
            && decoded.ends_with("')")
        {
            out.push(decoded[..open].to_string());
            out.push(decoded[open + 2..decoded.len() - 2].to_string());
            continue;
        }
        out.push(decoded);
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Route {
    fn parse(method: &Method, path: &str, caller: &Caller) -> GraphResult<Route> {
        let segs = segments(path);
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        if l == ["$batch"] {
            return if method == Method::POST {
                Ok(Route::Batch)
            } else {
                Err(GraphError::new(StatusCode::METHOD_NOT_ALLOWED, "BadRequest", "Only POST is supported on $batch."))
            };
        }
        if method != Method::GET {
            return Err(GraphError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "BadRequest",
                "The emulator serves Graph read-only: this method is not supported here.",
            ));
        }
        // `/me/...` is `/users/{signed-in user}/...` for delegated tokens only.
        let (user, rest): (Option<String>, &[&str]) = match l.as_slice() {
            ["me"] => return Ok(Route::Me),
            ["me", rest @ ..] => {
                let Some(u) = caller.user else {
                    return Err(GraphError::bad_request(
                        "/me request is only valid with delegated authentication flow.",
                    ));
                };
                (Some(format!("#{u}")), rest)
            }
            ["organization"] => return Ok(Route::Organization),
            ["users"] => return Ok(Route::Users),
            ["users", _] => return Ok(Route::User(segs[1].clone())),
            ["users", _, rest @ ..] => (Some(segs[1].clone()), rest),
            ["groups"] => return Ok(Route::Groups),
            ["groups", _] => return Ok(Route::Group(segs[1].clone())),
            ["groups", _, "members"] => return Ok(Route::GroupMembers(segs[1].clone(), false)),
            ["groups", _, "members", "microsoft.graph.user"] => {
                return Ok(Route::GroupMembers(segs[1].clone(), true));
            }
            ["directoryroles"] => return Ok(Route::DirectoryRoles),
            ["directoryroles", _] => return Ok(Route::DirectoryRole(segs[1].clone())),
            ["directoryroles", _, "members"] => return Ok(Route::DirectoryRoleMembers(segs[1].clone())),
            _ => return Err(GraphError::no_such_path(path)),
        };
        let user = user.unwrap_or_default();
        // Original-case segments after the user part, for ids.
        let offset = segs.len() - rest.len();
        let id = |i: usize| segs[offset + i].clone();
        let resource = match rest {
            ["mailfolders"] => MailboxResource::Folders(None),
            ["mailfolders", _] => MailboxResource::Folder(id(1)),
            ["mailfolders", _, "childfolders"] => MailboxResource::Folders(Some(id(1))),
            ["mailfolders", _, "messages"] => MailboxResource::FolderMessages(id(1)),
            ["mailfolders", _, "messages", "delta"] => MailboxResource::FolderDelta(id(1)),
            ["messages"] => MailboxResource::Messages,
            ["messages", _] => MailboxResource::Message(id(1)),
            ["calendarview"] | ["calendar", "calendarview"] => MailboxResource::CalendarView,
            ["calendarview", "delta"] | ["calendar", "calendarview", "delta"] => MailboxResource::CalendarDelta,
            ["events"] | ["calendar", "events"] => MailboxResource::Events,
            ["events", _] => MailboxResource::Event(id(1)),
            ["events", _, "instances"] => MailboxResource::Instances(id(1)),
            _ => return Err(GraphError::no_such_path(path)),
        };
        Ok(Route::Mailbox(user, resource))
    }

    /// The user whose mailbox the request reads, for throttling.
    fn mailbox_user(&self) -> Option<&str> {
        match self {
            Route::Mailbox(u, _) => Some(u.as_str()),
            _ => None,
        }
    }
}

/// Builds `@odata.context`.
pub fn context_url(state: &AppState, what: &str) -> String {
    format!("{}/$metadata#{what}", state.graph_url())
}

/// Puts `@odata.type` first in a rendered item, for the lists where Graph
/// names each item's type (calendar delta rounds, directory objects).
pub fn with_odata_type(mut item: Value, odata_type: &str) -> Value {
    if let Value::Object(map) = &mut item {
        let mut annotated = serde_json::Map::new();
        annotated.insert("@odata.type".into(), Value::String(odata_type.into()));
        annotated.extend(std::mem::take(map));
        *map = annotated;
    }
    item
}

/// A page of a list: `value`, and a next link with `$skip` when more remain.
pub fn skip_page(
    ctx: &Ctx,
    items: Vec<Value>,
    default_top: usize,
    max_top: usize,
    link_path: &str,
    context: &str,
) -> GraphResult<Answer> {
    let top = ctx.query.top(max_top)?.or(ctx.prefer.max_page_size.map(|n| n.min(max_top))).unwrap_or(default_top);
    let skip = ctx.query.skip()?;
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    let mut body = serde_json::json!({"@odata.context": context_url(ctx.state, context), "value": page});
    if ctx.query.get("$count").is_some_and(|c| c.eq_ignore_ascii_case("true")) {
        body["@odata.count"] = serde_json::json!(total);
    }
    if skip + top < total {
        let mut keep: Vec<String> = form_urlencoded::parse(ctx.request.raw_query.as_bytes())
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip") && !k.eq_ignore_ascii_case("$top"))
            .map(|(k, v)| format!("{}={}", k, query_escape(&v)))
            .collect();
        keep.push(format!("$top={top}"));
        keep.push(format!("$skip={}", skip + top));
        body["@odata.nextLink"] = Value::String(format!("{}{}?{}", ctx.state.graph_url(), link_path, keep.join("&")));
    }
    Ok(Answer::ok(body))
}

/// Escapes a query value for a link.
pub fn query_escape(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Caller {
        Caller { client_id: "c".into(), roles: vec![], user: None }
    }

    #[test]
    fn odata_key_segments_and_plain_segments_route_alike() {
        let a = Route::parse(&Method::GET, "/users('u1')/mailFolders('f%3D%3D')/messages/delta", &app()).unwrap();
        let b = Route::parse(&Method::GET, "/users/u1/mailfolders/f==/messages/delta", &app()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, Route::Mailbox("u1".into(), MailboxResource::FolderDelta("f==".into())));
    }

    #[test]
    fn function_calls_and_percent_encoded_ids_route_as_graph_routes_them() {
        let plain = Route::parse(&Method::GET, "/users/u1/mailFolders/f+x=/messages/delta", &app()).unwrap();
        let sdk = Route::parse(&Method::GET, "/users/u1/mailFolders/f%2Bx%3D/messages/delta()", &app()).unwrap();
        assert_eq!(plain, sdk);
        let calendar = Route::parse(&Method::GET, "/users/u1/calendarView/delta()", &app()).unwrap();
        assert_eq!(calendar, Route::Mailbox("u1".into(), MailboxResource::CalendarDelta));
        assert!(Route::parse(&Method::GET, "/users/u1/calendarView/delta(x)", &app()).is_err());
    }

    #[test]
    fn me_needs_a_delegated_token_and_unknown_paths_are_400() {
        assert!(Route::parse(&Method::GET, "/me/messages", &app()).is_err());
        let e = Route::parse(&Method::GET, "/users/x/nonsense", &app()).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(Route::parse(&Method::DELETE, "/users/x", &app()).is_err());
    }
}
