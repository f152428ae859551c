//! Directory endpoints: `/organization`, `/users`, `/groups` and group members.
//!
//! <https://learn.microsoft.com/graph/api/user-list>,
//! <https://learn.microsoft.com/graph/api/group-list-members>.

use super::error::{GraphError, GraphResult};
use super::{Answer, Ctx, GROUP_ROLES, MEMBER_ROLES, ORGANIZATION_ROLES, USER_ROLES, context_url};
use crate::ids::{decode_token, encode_token};
use crate::render;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn directory_select_error(name: &str, type_name: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        format!("Could not find a property named '{name}' on type 'Microsoft.DirectoryServices.{type_name}'."),
    )
}

/// `/me`: the signed-in user of a delegated token.
pub fn me(ctx: &Ctx) -> GraphResult<Answer> {
    let Some(u) = ctx.caller.user else {
        return Err(GraphError::bad_request("/me request is only valid with delegated authentication flow."));
    };
    let user = &ctx.state.org().users[u];
    let mut body = render::user(ctx.state.org(), user, ctx.query.select().as_deref())
        .map_err(|e| directory_select_error(&e.0, "User"))?;
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

/// Parses the `$filter` forms TAC and common tools use on `/users`.
fn user_filter(filter: &str) -> GraphResult<Box<dyn Fn(&crate::org::User) -> bool>> {
    let f = filter.trim();
    let unsupported = || {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", format!("Unsupported or invalid query filter clause specified for property of resource 'User': {f}"))
    };
    let quoted = |v: &str| -> Option<String> { v.trim().strip_prefix('\'')?.strip_suffix('\'').map(|s| s.replace("''", "'")) };
    if let Some(v) = f.strip_prefix("accountEnabled eq ") {
        let want = match v.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(unsupported()),
        };
        return Ok(Box::new(move |u| u.account_enabled == want));
    }
    if let Some(v) = f.strip_prefix("mail eq ").and_then(quoted) {
        return Ok(Box::new(move |u| u.mail.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&v))));
    }
    if let Some(v) = f.strip_prefix("userPrincipalName eq ").and_then(quoted) {
        return Ok(Box::new(move |u| u.user_principal_name.eq_ignore_ascii_case(&v)));
    }
    if let Some(v) = f.strip_prefix("proxyAddresses/any(x:x eq ").and_then(|r| r.strip_suffix(')')).and_then(quoted) {
        return Ok(Box::new(move |u| u.proxy_addresses.iter().any(|p| p.eq_ignore_ascii_case(&v))));
    }
    Err(unsupported())
}

/// `/users`: pages of 100 by default, `$top` 1–999, `$skiptoken` next links.
pub fn users(ctx: &Ctx) -> GraphResult<Answer> {
    ctx.caller.require(USER_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select", "$top", "$skiptoken", "$filter", "$count", "$orderby"])?;
    let token: Option<ListToken> = match ctx.query.get("$skiptoken") {
        Some(t) => Some(decode_token(t).ok_or_else(|| GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid $skiptoken."))?),
        None => None,
    };
    let count = ctx.query.get("$count").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if count && !ctx.request.headers.get("consistencylevel").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"eventual")) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "$count is only supported with the ConsistencyLevel header set to eventual.",
        ));
    }
    let (offset, top, filter, select) = match token {
        Some(t) => (t.offset, t.top, t.filter, t.select),
        None => (0, ctx.query.top(999)?.unwrap_or(100), ctx.query.get("$filter").map(str::to_string), ctx.query.select()),
    };
    let keep = match &filter {
        Some(f) => user_filter(f)?,
        None => Box::new(|_: &crate::org::User| true),
    };
    let org = ctx.state.org();
    let matching: Vec<&crate::org::User> = org.users.iter().filter(|u| keep(u)).collect();
    let mut value = Vec::new();
    for u in matching.iter().skip(offset).take(top) {
        value.push(render::user(org, u, select.as_deref()).map_err(|e| directory_select_error(&e.0, "User"))?);
    }
    let mut body = json!({"@odata.context": context_url(ctx.state, "users"), "value": value});
    if count && offset == 0 {
        body["@odata.count"] = json!(matching.len());
    }
    if offset + top < matching.len() {
        let next = ListToken { offset: offset + top, top, filter, select };
        body["@odata.nextLink"] = json!(format!("{}/users?$top={top}&$skiptoken={}", ctx.state.graph_url(), encode_token(&next)));
    }
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
    let mut body = render::user(org, user, ctx.query.select().as_deref()).map_err(|e| directory_select_error(&e.0, "User"))?;
    body["@odata.context"] = json!(context_url(ctx.state, "users/$entity"));
    Ok(Answer::ok(body))
}

/// `/groups`.
pub fn groups(ctx: &Ctx) -> GraphResult<Answer> {
    ctx.caller.require(GROUP_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select", "$top", "$skiptoken", "$filter", "$count", "$orderby"])?;
    let offset = match ctx.query.get("$skiptoken") {
        Some(t) => decode_token::<ListToken>(t)
            .ok_or_else(|| GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid $skiptoken."))?
            .offset,
        None => 0,
    };
    let top = ctx.query.top(999)?.unwrap_or(100);
    let select = ctx.query.select();
    let groups = &ctx.state.org().groups;
    let mut value = Vec::new();
    for g in groups.iter().skip(offset).take(top) {
        value.push(render::group(g, select.as_deref()).map_err(|e| directory_select_error(&e.0, "Group"))?);
    }
    let mut body = json!({"@odata.context": context_url(ctx.state, "groups"), "value": value});
    if offset + top < groups.len() {
        let next = ListToken { offset: offset + top, top, filter: None, select };
        body["@odata.nextLink"] = json!(format!("{}/groups?$top={top}&$skiptoken={}", ctx.state.graph_url(), encode_token(&next)));
    }
    Ok(Answer::ok(body))
}

/// `/groups/{id}`.
pub fn group(ctx: &Ctx, id: &str) -> GraphResult<Answer> {
    ctx.caller.require(GROUP_ROLES, GraphError::directory_denied)?;
    let g = ctx.state.org().groups.iter().find(|g| g.id.eq_ignore_ascii_case(id)).ok_or_else(|| GraphError::directory_not_found(id))?;
    let mut body = render::group(g, ctx.query.select().as_deref()).map_err(|e| directory_select_error(&e.0, "Group"))?;
    body["@odata.context"] = json!(context_url(ctx.state, "groups/$entity"));
    Ok(Answer::ok(body))
}

/// `/groups/{id}/members` (and the `microsoft.graph.user` cast): at most 100 per page.
pub fn members(ctx: &Ctx, id: &str, users_only: bool) -> GraphResult<Answer> {
    ctx.caller.require(MEMBER_ROLES, GraphError::directory_denied)?;
    ctx.query.allow_only(&["$select", "$top", "$skiptoken", "$count", "$filter", "$search"])?;
    let org = ctx.state.org();
    let g = org.groups.iter().find(|g| g.id.eq_ignore_ascii_case(id)).ok_or_else(|| GraphError::directory_not_found(id))?;
    let offset = match ctx.query.get("$skiptoken") {
        Some(t) => decode_token::<ListToken>(t)
            .ok_or_else(|| GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid $skiptoken."))?
            .offset,
        None => 0,
    };
    let top = ctx.query.top(999)?.unwrap_or(100).min(100);
    let select = ctx.query.select();
    let mut value: Vec<Value> = Vec::new();
    for &m in g.members.iter().skip(offset).take(top) {
        let mut v = render::user(org, &org.users[m], select.as_deref()).map_err(|e| directory_select_error(&e.0, "User"))?;
        if let Value::Object(map) = &mut v {
            let mut annotated = serde_json::Map::new();
            annotated.insert("@odata.type".into(), json!("#microsoft.graph.user"));
            annotated.extend(std::mem::take(map));
            *map = annotated;
        }
        value.push(v);
    }
    let context = if users_only { "users" } else { "directoryObjects" };
    let mut body = json!({"@odata.context": context_url(ctx.state, context), "value": value});
    if offset + top < g.members.len() {
        let next = ListToken { offset: offset + top, top, filter: None, select };
        let cast = if users_only { "/microsoft.graph.user" } else { "" };
        body["@odata.nextLink"] =
            json!(format!("{}/groups/{}/members{cast}?$skiptoken={}", ctx.state.graph_url(), g.id, encode_token(&next)));
    }
    Ok(Answer::ok(body))
}
