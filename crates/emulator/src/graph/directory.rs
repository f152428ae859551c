//! Directory endpoints: `/organization`, `/users`, `/groups` and group
//! members, `/directoryRoles` and role members.
//!
//! <https://learn.microsoft.com/graph/api/user-list>,
//! <https://learn.microsoft.com/graph/api/group-list-members>,
//! <https://learn.microsoft.com/graph/api/directoryrole-list>,
//! <https://learn.microsoft.com/graph/api/directoryrole-list-members>.

use super::error::{GraphError, GraphResult};
use super::odata::Service;
use super::{
    Answer, Ctx, DIRECTORY_ROLE_ROLES, GROUP_ROLES, MEMBER_ROLES, ORGANIZATION_ROLES, USER_ROLES, context_url,
    with_odata_type,
};
use crate::ids::{decode_token, encode_token};
use crate::render;
use crate::schema::{DerivedNames, Selection, UnknownName, schema};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `$select` on a directory resource of type `ty`, checked against Graph's metadata.
fn selection(ctx: &Ctx, ty: &str, select: Option<&[String]>) -> GraphResult<Selection> {
    match select {
        None => Ok(Selection::default()),
        Some(names) => {
            schema().select(ty, names, DerivedNames::Refuse).map_err(|e| Service::Directory.unknown_name(&e))
        }
    }
    .and_then(|s| ctx.query.check_names(Service::Directory, ty).map(|_| s))
}

/// `/me`: the signed-in user of a delegated token.
pub fn me(ctx: &Ctx) -> GraphResult<Answer> {
    let Some(u) = ctx.caller.user else {
        return Err(GraphError::bad_request("/me request is only valid with delegated authentication flow."));
    };
    let user = &ctx.state.org().users[u];
    let select = selection(ctx, "user", ctx.query.select().as_deref())?;
    let mut body = render::user_selected(ctx.state.org(), user, &select);
    body["@odata.context"] = json!(context_url(ctx.state, "users/$entity"));
    Ok(Answer::ok(body))
}

/// `/organization`: the tenant with its verified domains.
pub fn organization(ctx: &Ctx) -> GraphResult<Answer> {
    if ctx.caller.user.is_none() {
        ctx.caller.require(ORGANIZATION_ROLES, GraphError::directory_denied)?;
    }
    Ok(Answer::ok(json!({
        "@odata.context": context_url(ctx.state, "organization"),
        "value": [render::organization(ctx.state.org())],
    })))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ListToken {
    offset: usize,
    top: usize,
    filter: Option<String>,
    select: Option<Vec<String>>,
}

/// The state a `$skiptoken` of a directory list carries, if one was sent.
fn list_token(ctx: &Ctx) -> GraphResult<Option<ListToken>> {
    match ctx.query.get("$skiptoken") {
        Some(t) => decode_token(t)
            .map(Some)
            .ok_or_else(|| GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid $skiptoken.")),
        None => Ok(None),
    }
}

/// Adds a directory list's `@odata.nextLink` when items remain after this
/// page (`page`, of `total` items): `link` (a path below the Graph URL and
/// the start of its query, ending in `?` or `&`) with a `$skiptoken` that
/// carries where the next page starts, its size, the filter and `$select`.
fn link_next_page(ctx: &Ctx, body: &mut Value, link: &str, page: ListToken, total: usize) {
    if page.offset + page.top < total {
        let next = ListToken { offset: page.offset + page.top, ..page };
        body["@odata.nextLink"] = json!(format!("{}{link}$skiptoken={}", ctx.state.graph_url(), encode_token(&next)));
    }
}

/// A user predicate from `$filter`: `prop eq value` (a string, number,
/// boolean or null) joined by `and`, `startswith(prop,'x')`, and
/// `proxyAddresses/any(x:x eq 'smtp:…')`. Properties are matched against the
/// user's full JSON, so any property `$select` knows can be filtered on.
type UserFilter = Box<dyn Fn(&Value) -> bool>;

fn user_filter(filter: &str) -> GraphResult<UserFilter> {
    let f = filter.trim();
    let known = |prop: &str| {
        schema().check_names("user", [prop], false).map_err(|e: UnknownName| Service::Directory.unknown_name(&e))
    };
    let unsupported = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            format!("Unsupported or invalid query filter clause specified for property of resource 'User': {f}"),
        )
    };
    let literal = |v: &str| -> Option<Value> {
        let v = v.trim();
        match v {
            "null" => Some(Value::Null),
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => match v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                Some(s) => Some(Value::String(s.replace("''", "'"))),
                None => v.parse::<i64>().ok().map(Value::from),
            },
        }
    };
    let mut clauses: Vec<UserFilter> = Vec::new();
    for clause in f.split(" and ") {
        let clause = clause.trim();
        if let Some(rest) = clause.strip_prefix("startswith(").and_then(|r| r.strip_suffix(')')) {
            let (prop, value) = rest.split_once(',').ok_or_else(unsupported)?;
            let Some(Value::String(prefix)) = literal(value) else {
                return Err(unsupported());
            };
            let prop = prop.trim().to_string();
            known(&prop)?;
            let prefix = prefix.to_lowercase();
            clauses.push(Box::new(move |u| u[&prop].as_str().is_some_and(|s| s.to_lowercase().starts_with(&prefix))));
        } else if let Some(rest) = clause.strip_prefix("proxyAddresses/any(x:x eq ").and_then(|r| r.strip_suffix(')')) {
            let Some(Value::String(want)) = literal(rest) else {
                return Err(unsupported());
            };
            clauses.push(Box::new(move |u| {
                u["proxyAddresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p.as_str().is_some_and(|p| p.eq_ignore_ascii_case(&want))))
            }));
        } else {
            let parts: Vec<&str> = clause.splitn(3, ' ').collect();
            let [prop, "eq", value] = parts.as_slice() else {
                return Err(unsupported());
            };
            known(prop)?;
            let want = literal(value).ok_or_else(unsupported)?;
            let prop = prop.to_string();
            clauses.push(Box::new(move |u| match (&u[&prop], &want) {
                (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            }));
        }
    }
    Ok(Box::new(move |u| clauses.iter().all(|c| c(u))))
}

/// Every property a user can be filtered on.
fn filterable(org: &crate::org::Organization, u: &crate::org::User) -> Value {
    Value::Object(render::user(org, u))
}

/// `/users`: pages of 100 by default, `$top` 1–999, `$skiptoken` next links.
pub fn users(ctx: &Ctx) -> GraphResult<Answer> {
    ctx.caller.require(USER_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select", "$top", "$skiptoken", "$filter", "$count", "$orderby"])?;
    let token = list_token(ctx)?;
    let count = ctx.query.get("$count").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if count
        && !ctx.request.headers.get("consistencylevel").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"eventual"))
    {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "$count is only supported with the ConsistencyLevel header set to eventual.",
        ));
    }
    let (offset, top, filter, select_names) = match token {
        Some(t) => (t.offset, t.top, t.filter, t.select),
        None => {
            (0, ctx.query.top(999)?.unwrap_or(100), ctx.query.get("$filter").map(str::to_string), ctx.query.select())
        }
    };
    let keep: UserFilter = match &filter {
        Some(f) => user_filter(f)?,
        None => Box::new(|_: &Value| true),
    };
    let select = selection(ctx, "user", select_names.as_deref())?;
    let org = ctx.state.org();
    let matching: Vec<&crate::org::User> = org.active_users().iter().filter(|u| keep(&filterable(org, u))).collect();
    let mut value = Vec::new();
    for u in matching.iter().skip(offset).take(top) {
        value.push(render::user_selected(org, u, &select));
    }
    let mut body = json!({"@odata.context": context_url(ctx.state, "users"), "value": value});
    if count && offset == 0 {
        body["@odata.count"] = json!(matching.len());
    }
    let page = ListToken { offset, top, filter, select: select_names };
    link_next_page(ctx, &mut body, &format!("/users?$top={top}&"), page, matching.len());
    Ok(Answer::ok(body))
}

/// `/users/{id | userPrincipalName}`.
pub fn user(ctx: &Ctx, id: &str) -> GraphResult<Answer> {
    let own = ctx.caller.user.is_some_and(|u| ctx.state.org().users[u].id.eq_ignore_ascii_case(id));
    if !own {
        ctx.caller.require(USER_ROLES, GraphError::directory_denied)?;
    }
    ctx.query.allow_only(&["$select", "$expand"])?;
    let org = ctx.state.org();
    let user = org.find_user(id).ok_or_else(|| GraphError::directory_not_found(id))?;
    let select = selection(ctx, "user", ctx.query.select().as_deref())?;
    let mut body = render::user_selected(org, user, &select);
    body["@odata.context"] = json!(context_url(ctx.state, "users/$entity"));
    Ok(Answer::ok(body))
}

/// `/groups`.
pub fn groups(ctx: &Ctx) -> GraphResult<Answer> {
    ctx.caller.require(GROUP_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select", "$top", "$skiptoken", "$filter", "$count", "$orderby"])?;
    let offset = list_token(ctx)?.map_or(0, |t| t.offset);
    let top = ctx.query.top(999)?.unwrap_or(100);
    let select_names = ctx.query.select();
    let select = selection(ctx, "group", select_names.as_deref())?;
    let groups = &ctx.state.org().groups;
    let mut value = Vec::new();
    for g in groups.iter().skip(offset).take(top) {
        value.push(render::group(g, &select));
    }
    let mut body = json!({"@odata.context": context_url(ctx.state, "groups"), "value": value});
    let page = ListToken { offset, top, filter: None, select: select_names };
    link_next_page(ctx, &mut body, &format!("/groups?$top={top}&"), page, groups.len());
    Ok(Answer::ok(body))
}

/// `/groups/{id}`.
pub fn group(ctx: &Ctx, id: &str) -> GraphResult<Answer> {
    ctx.caller.require(GROUP_ROLES, GraphError::directory_denied)?;
    let g = ctx
        .state
        .org()
        .groups
        .iter()
        .find(|g| g.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| GraphError::directory_not_found(id))?;
    let select = selection(ctx, "group", ctx.query.select().as_deref())?;
    let mut body = render::group(g, &select);
    body["@odata.context"] = json!(context_url(ctx.state, "groups/$entity"));
    Ok(Answer::ok(body))
}

/// `/groups/{id}/members` (and the `microsoft.graph.user` cast): at most 100 per page.
pub fn members(ctx: &Ctx, id: &str, users_only: bool) -> GraphResult<Answer> {
    ctx.caller.require(MEMBER_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select", "$top", "$skiptoken", "$count", "$filter", "$search"])?;
    let org = ctx.state.org();
    let g =
        org.groups.iter().find(|g| g.id.eq_ignore_ascii_case(id)).ok_or_else(|| GraphError::directory_not_found(id))?;
    let offset = list_token(ctx)?.map_or(0, |t| t.offset);
    let top = ctx.query.top(999)?.unwrap_or(100).min(100);
    let select_names = ctx.query.select();
    // Members are directoryObjects, and Graph returns a user's properties
    // for the users among them; every member here is a user.
    let select = selection(ctx, "user", select_names.as_deref())?;
    let mut value: Vec<Value> = Vec::new();
    let members: Vec<usize> = g.members.iter().copied().filter(|&m| org.is_active(m)).collect();
    for &m in members.iter().skip(offset).take(top) {
        value.push(with_odata_type(render::user_selected(org, &org.users[m], &select), "#microsoft.graph.user"));
    }
    let context = if users_only { "users" } else { "directoryObjects" };
    let mut body = json!({"@odata.context": context_url(ctx.state, context), "value": value});
    let cast = if users_only { "/microsoft.graph.user" } else { "" };
    let page = ListToken { offset, top, filter: None, select: select_names };
    link_next_page(ctx, &mut body, &format!("/groups/{}/members{cast}?", g.id), page, members.len());
    Ok(Answer::ok(body))
}

/// The activated role named by `key`: its object id, or `roleTemplateId=…`
/// (Graph takes both on a role and its members).
fn find_role(ctx: &Ctx, key: &str) -> GraphResult<crate::org::DirectoryRole> {
    let roles = ctx.state.org().roles();
    let by_template = key.get(..15).filter(|p| p.eq_ignore_ascii_case("roleTemplateId=")).map(|_| &key[15..]);
    let found = match by_template {
        Some(template) => roles.iter().find(|r| r.template().template_id.eq_ignore_ascii_case(template)),
        None => roles.iter().find(|r| r.id.eq_ignore_ascii_case(key)),
    };
    found.cloned().ok_or_else(|| GraphError::directory_not_found(by_template.unwrap_or(key)))
}

/// `/directoryRoles`: the activated roles, in one page. Microsoft documents
/// that this list takes no OData query parameters, so the emulator refuses
/// them all rather than guess which ones Graph ignores.
pub fn directory_roles(ctx: &Ctx) -> GraphResult<Answer> {
    ctx.caller.require(DIRECTORY_ROLE_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&[])?;
    let value: Vec<Value> =
        ctx.state.org().roles().iter().map(|r| render::directory_role(r, &Selection::default())).collect();
    Ok(Answer::ok(json!({"@odata.context": context_url(ctx.state, "directoryRoles"), "value": value})))
}

/// `/directoryRoles/{id | roleTemplateId=…}`.
pub fn directory_role(ctx: &Ctx, key: &str) -> GraphResult<Answer> {
    ctx.caller.require(DIRECTORY_ROLE_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select"])?;
    let role = find_role(ctx, key)?;
    let select = selection(ctx, "directoryRole", ctx.query.select().as_deref())?;
    let mut body = render::directory_role(&role, &select);
    body["@odata.context"] = json!(context_url(ctx.state, "directoryRoles/$entity"));
    Ok(Answer::ok(body))
}

/// `/directoryRoles/{id | roleTemplateId=…}/members`: users and service
/// principals, 100 a page by default, `$top` up to 999. Without a
/// permission to read users, users come back with their id alone.
pub fn role_members(ctx: &Ctx, key: &str) -> GraphResult<Answer> {
    ctx.caller.require(DIRECTORY_ROLE_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select", "$top", "$skiptoken"])?;
    let role = find_role(ctx, key)?;
    let org = ctx.state.org();
    let token = list_token(ctx)?;
    let (offset, top, select_names) = match token {
        Some(t) => (t.offset, t.top, t.select),
        None => (0, ctx.query.top(999)?.unwrap_or(100), ctx.query.select()),
    };
    let select = selection(ctx, "user", select_names.as_deref())?;
    let readable = render::Readable { users: ctx.caller.holds(USER_ROLES), groups: ctx.caller.holds(GROUP_ROLES) };
    let members: Vec<&crate::org::RoleMember> =
        role.members.iter().filter(|m| !matches!(m, crate::org::RoleMember::User(u) if !org.is_active(*u))).collect();
    let value: Vec<Value> =
        members.iter().skip(offset).take(top).map(|m| render::role_member(org, m, &select, readable)).collect();
    let mut body = json!({"@odata.context": context_url(ctx.state, "directoryObjects"), "value": value});
    let page = ListToken { offset, top, filter: None, select: select_names };
    link_next_page(ctx, &mut body, &format!("/directoryRoles/{}/members?", role.id), page, members.len());
    Ok(Answer::ok(body))
}
