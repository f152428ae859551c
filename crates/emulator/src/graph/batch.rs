//! JSON batching: `POST /$batch` with up to 20 requests.
//!
//! <https://learn.microsoft.com/graph/json-batching>. Each inner request goes
//! through the same faults, throttling and handlers as a direct one; a
//! throttled inner request gets its own 429 and `Retry-After`. As in
//! Outlook, independent requests run at most four at a time (so a batch of
//! twelve costs three round trips, not one or twelve), while a batch that
//! uses `dependsOn` runs in order and a request whose dependency failed gets
//! 424. Responses come back in the order asked.

use super::error::{GraphError, GraphResult};
use super::{Answer, Caller, Ctx, GraphRequest, process_boxed};
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};

const MAX_REQUESTS: usize = 20;

/// How many independent inner requests Outlook runs at once.
const PARALLEL_REQUESTS: usize = 4;

type InnerFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (usize, GraphResult<(u16, Value)>)> + Send + 'a>>;

#[derive(serde::Deserialize)]
struct Batch {
    requests: Vec<Item>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: Map<String, Value>,
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

fn malformed(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// Runs a batch and collects the responses.
pub async fn run(ctx: &Ctx<'_>) -> GraphResult<Answer> {
    let batch: Batch =
        serde_json::from_slice(&ctx.request.body).map_err(|e| malformed(format!("Invalid batch payload: {e}")))?;
    if batch.requests.is_empty() {
        return Err(malformed("The batch request must contain at least one request."));
    }
    if batch.requests.len() > MAX_REQUESTS {
        return Err(malformed(format!(
            "The batch request has {} requests; at most {MAX_REQUESTS} are allowed.",
            batch.requests.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for item in &batch.requests {
        if !seen.insert(item.id.as_str()) {
            return Err(malformed(format!("The batch request id '{}' is used twice.", item.id)));
        }
        if item.body.is_some() && !item.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
            return Err(malformed(format!("Request '{}' has a body but no Content-Type header.", item.id)));
        }
        if Method::from_bytes(item.method.to_ascii_uppercase().as_bytes()).is_err() {
            return Err(malformed(format!("Unknown method '{}'.", item.method)));
        }
        for d in &item.depends_on {
            if !batch.requests.iter().any(|r| &r.id == d) {
                return Err(malformed(format!("Request '{}' depends on unknown request '{d}'.", item.id)));
            }
        }
    }
    if batch.requests.iter().all(|r| r.depends_on.is_empty()) {
        // A sliding window of four, polled in this task (so the request id
        // scope carries over to the inner requests).
        let mut responses: Vec<Option<Value>> = vec![None; batch.requests.len()];
        let mut queue = batch.requests.into_iter().enumerate();
        let mut running: Vec<InnerFuture<'_>> = Vec::new();
        loop {
            while running.len() < PARALLEL_REQUESTS {
                let Some((i, item)) = queue.next() else { break };
                running.push(Box::pin(async move { (i, run_one(ctx.state, ctx.caller, item).await) }));
            }
            if running.is_empty() {
                break;
            }
            let (i, answer) = std::future::poll_fn(|cx| {
                for k in 0..running.len() {
                    if let std::task::Poll::Ready(out) = running[k].as_mut().poll(cx) {
                        drop(running.swap_remove(k));
                        return std::task::Poll::Ready(out);
                    }
                }
                std::task::Poll::Pending
            })
            .await;
            responses[i] = Some(answer?.1);
        }
        return Ok(Answer::ok(json!({"responses": responses.into_iter().flatten().collect::<Vec<_>>()})));
    }
    let mut statuses: std::collections::HashMap<String, u16> = Default::default();
    let mut responses = Vec::with_capacity(batch.requests.len());
    for item in batch.requests {
        let failed_dependency = item.depends_on.iter().any(|d| statuses.get(d).is_none_or(|s| *s >= 400));
        if failed_dependency {
            statuses.insert(item.id.clone(), 424);
            responses.push(json!({"id": item.id, "status": 424, "body": {"error": {"code": "FailedDependency", "message": "A dependency of this request failed."}}}));
            continue;
        }
        let id = item.id.clone();
        let (status, response) = run_one(ctx.state, ctx.caller, item).await?;
        statuses.insert(id, status);
        responses.push(response);
    }
    Ok(Answer::ok(json!({"responses": responses})))
}

/// Runs one inner request through the same path as a direct one and
/// returns its status and its entry in the batch response.
async fn run_one(state: &AppState, caller: &Caller, item: Item) -> GraphResult<(u16, Value)> {
    let method = Method::from_bytes(item.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| malformed(format!("Unknown method '{}'.", item.method)))?;
    let url = item.url.trim_start_matches("/v1.0");
    let url = if url.starts_with('/') { url.to_string() } else { format!("/{url}") };
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut headers = HeaderMap::new();
    for (k, v) in &item.headers {
        if let (Ok(name), Some(Ok(value))) =
            (HeaderName::from_bytes(k.as_bytes()), v.as_str().map(HeaderValue::from_str))
        {
            headers.append(name, value);
        }
    }
    let inner = GraphRequest {
        method,
        path: path.to_string(),
        raw_query: query.to_string(),
        headers,
        body: item.body.map(|b| serde_json::to_vec(&b).unwrap_or_default().into()).unwrap_or_default(),
    };
    let (response, _) = process_boxed(state, caller, &inner).await;
    let status = response.status().as_u16();
    let mut out_headers = Map::new();
    // Inner header names are not guaranteed lowercase (docs/graph-facts.md §8): written
    // capitalised here, so a client that matches them exactly fails here first.
    for (name, written) in
        [("retry-after", "Retry-After"), ("location", "Location"), ("preference-applied", "Preference-Applied")]
    {
        if let Some(v) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            out_headers.insert(written.to_string(), json!(v));
        }
    }
    out_headers.insert("Content-Type".into(), json!("application/json"));
    let (status, body) = match axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await {
        Ok(bytes) => (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
        // A connection dropped inside Graph surfaces in a batch as a gateway timeout of that item.
        Err(_) => (504, json!({"error": {"code": "UnknownError", "message": "Gateway Timeout"}})),
    };
    Ok((status, json!({"id": item.id, "status": status, "headers": out_headers, "body": body})))
}
