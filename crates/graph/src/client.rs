//! The Graph client: one connection pool, a cached app token, retries, and
//! typed calls for the resources TAC syncs.
//!
//! Defaults (documented because they shape the load TAC puts on a tenant):
//! 30 s per request, 10 s to connect, the token reused until 5 minutes before
//! it expires, and [`RetryPolicy::default`]. Links are followed only to the
//! configured Graph origin.

use crate::cloud::Cloud;
use crate::delta::{DeltaPage, RawPage};
use crate::error::{ApiError, AuthError, GraphError};
use crate::resources::{DirectoryObject, DirectoryRole, Group, MailFolder, Organization, USER_SELECT, User};
use crate::retry::{Pauses, RetryPolicy, mailbox_of, parse_retry_after};
use crate::token::{AccessToken, AppCredentials, roles_claim};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Mutex, Semaphore};

/// Tokens are renewed when they have less than this left.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// Preferences sent with a request (`Prefer` header values).
#[derive(Debug, Clone, Default)]
pub struct Prefer {
    pub max_page_size: Option<u32>,
    pub utc: bool,
    pub immutable_ids: bool,
}

impl Prefer {
    /// What mail delta uses: immutable ids so a move keeps the id.
    pub fn mail(page_size: u32) -> Self {
        Prefer { max_page_size: Some(page_size), utc: false, immutable_ids: true }
    }

    /// What calendar delta uses: times in UTC.
    pub fn calendar(page_size: u32) -> Self {
        Prefer { max_page_size: Some(page_size), utc: true, immutable_ids: true }
    }

    fn header(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(n) = self.max_page_size {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        if self.utc {
            parts.push("outlook.timezone=\"UTC\"".to_string());
        }
        if self.immutable_ids {
            parts.push("IdType=\"ImmutableId\"".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// A client for one app registration in one cloud.
#[derive(Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    cloud: Cloud,
    credentials: AppCredentials,
    policy: RetryPolicy,
    token: Mutex<Option<AccessToken>>,
    /// Mailboxes Microsoft throttled: their requests wait.
    pauses: Pauses,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(serde::Deserialize)]
struct TokenErrorBody {
    error: String,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// The error for a redirect TAC does not follow; its target is named (as
/// scheme, host and path only) so that the admin can see where it pointed.
fn redirected(url: &str, response: &reqwest::Response) -> GraphError {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| url::Url::parse(url).ok()?.join(l).ok())
        .map(|mut l| {
            l.set_query(None);
            l.set_fragment(None);
            l.to_string()
        });
    GraphError::Redirected { url: url.to_owned(), status: response.status().as_u16(), location }
}

/// What one attempt at a request came to, when it may be tried again.
enum Sent {
    /// A 2xx answer, parsed.
    Answer(Value),
    /// A network failure or an error answer: the caller's retry policy decides.
    Failed(GraphError),
}

/// Sends one request to `url` and reads its JSON answer. A redirect, or a
/// 2xx answer that is not JSON, is an error no retry can cure.
async fn send(request: reqwest::RequestBuilder, url: &url::Url) -> Result<Sent, GraphError> {
    let transport = |e: reqwest::Error| GraphError::Transport { url: url.to_string(), reason: e.to_string() };
    let response = match request.send().await {
        Err(e) => return Ok(Sent::Failed(transport(e))),
        Ok(response) if response.status().is_redirection() => return Err(redirected(url.as_str(), &response)),
        Ok(response) => response,
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    match response.bytes().await {
        Err(e) => Ok(Sent::Failed(transport(e))),
        Ok(body) if (200..300).contains(&status) => serde_json::from_slice(&body)
            .map(Sent::Answer)
            .map_err(|e| GraphError::Decode { url: url.to_string(), reason: e.to_string() }),
        Ok(body) => Ok(Sent::Failed(GraphError::Api(api_error(status, &headers, &body)))),
    }
}

impl GraphClient {
    /// Builds a client with its own connection pool. It follows no
    /// redirect: its requests carry the client secret or a bearer token,
    /// and a redirect would send them to wherever `Location` points.
    pub fn new(cloud: Cloud, credentials: AppCredentials, policy: RetryPolicy) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("TAC/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self::with_http(http, cloud, credentials, policy))
    }

    /// Builds a client that shares an existing connection pool, which must
    /// not follow redirects (see [`GraphClient::new`]).
    pub fn with_http(http: reqwest::Client, cloud: Cloud, credentials: AppCredentials, policy: RetryPolicy) -> Self {
        GraphClient { http, cloud, credentials, policy, token: Mutex::new(None), pauses: Pauses::default() }
    }

    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// Asks the token endpoint for a new app token (no cache).
    pub async fn fetch_token(&self) -> Result<AccessToken, GraphError> {
        let url = self.cloud.token_endpoint(&self.credentials.tenant_id);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.credentials.client_id.as_str()),
            ("client_secret", self.credentials.client_secret.expose_secret()),
            ("scope", &self.cloud.graph_scope()),
        ];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.http.post(&url).form(&form).send().await;
            let failure = match result {
                Err(e) => GraphError::Transport { url: url.clone(), reason: e.to_string() },
                Ok(r) if r.status().is_redirection() => return Err(redirected(&url, &r)),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body =
                        r.bytes().await.map_err(|e| GraphError::Transport { url: url.clone(), reason: e.to_string() });
                    match body {
                        Err(e) => e,
                        Ok(body) if (200..300).contains(&status) => {
                            let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| GraphError::Decode {
                                url: url.clone(),
                                reason: format!("token response: {e}"),
                            })?;
                            let roles = roles_claim(&t.access_token);
                            return Ok(AccessToken {
                                opaque: roles.is_none(),
                                roles: roles.flatten(),
                                expires_at: Instant::now() + Duration::from_secs(t.expires_in),
                                value: SecretString::from(t.access_token),
                            });
                        }
                        Ok(body) => match serde_json::from_slice::<TokenErrorBody>(&body) {
                            Ok(e) => GraphError::Auth(AuthError {
                                status,
                                code: e.error_codes.first().copied(),
                                error: e.error,
                                description: e.error_description.unwrap_or_default(),
                            }),
                            Err(_) => GraphError::Auth(AuthError {
                                status,
                                code: None,
                                error: format!("http_{status}"),
                                description: format!("the token endpoint answered {status} without an OAuth error"),
                            }),
                        },
                    }
                }
            };
            let transient = matches!(failure, GraphError::Transport { .. })
                || matches!(&failure, GraphError::Auth(a) if a.is_transient());
            if !transient || attempt >= self.policy.max_attempts {
                return Err(failure);
            }
            tokio::time::sleep(self.policy.backoff(attempt)).await;
        }
    }

    /// The cached token, renewed when it is about to expire.
    pub async fn access_token(&self) -> Result<AccessToken, GraphError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.fresh_for(TOKEN_MARGIN)) {
            return Ok(t.clone());
        }
        let fresh = self.fetch_token().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Waits out a pause Microsoft put on the mailbox a path reads, or fails
    /// at once when the pause is longer than the policy waits in place.
    async fn wait_for_mailbox(&self, mailbox: Option<&str>) -> Result<(), GraphError> {
        if let Some(left) = mailbox.and_then(|m| self.pauses.remaining(m)) {
            if self.policy.too_long(left) {
                return Err(GraphError::Paused { retry_after: left });
            }
            tokio::time::sleep(left).await;
        }
        Ok(())
    }

    /// GETs a Graph path or link and parses the JSON, retrying throttling,
    /// 5xx and network failures, and renewing a refused token once. A 429 for
    /// a mailbox pauses every request to it for its `Retry-After` (waited in
    /// full); one longer than the policy's ceiling fails at once.
    pub async fn get_value(&self, path_or_link: &str, prefer: &Prefer) -> Result<Value, GraphError> {
        let url = self.cloud.resolve(path_or_link)?;
        let mailbox = mailbox_of(url.path());
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_for_mailbox(mailbox.as_deref()).await?;
            let token = self.access_token().await?;
            let mut request = self.http.get(url.clone()).bearer_auth(token.value.expose_secret());
            if let Some(p) = prefer.header() {
                request = request.header("Prefer", p);
            }
            let failure = match send(request, &url).await? {
                Sent::Answer(value) => return Ok(value),
                Sent::Failed(failure) => failure,
            };
            match &failure {
                GraphError::Api(e) if e.status == 401 && !renewed => {
                    renewed = true;
                    self.forget_token().await;
                    continue;
                }
                GraphError::Api(e) if e.class() == crate::ErrorClass::Transient => {}
                GraphError::Transport { .. } => {}
                _ => return Err(failure),
            }
            let retry_after = failure.retry_after();
            let throttled = matches!(&failure, GraphError::Api(e) if e.status == 429);
            if let (Some(m), true) = (&mailbox, throttled) {
                // Every request to this mailbox waits, not just this one.
                self.pauses.pause(m, self.policy.wait(attempt, retry_after));
            }
            if retry_after.is_some_and(|d| self.policy.too_long(d)) {
                return Err(failure);
            }
            if attempt >= self.policy.max_attempts {
                return Err(GraphError::RetriesExhausted { attempts: attempt, last: Box::new(failure) });
            }
            if mailbox.is_some() && throttled {
                tracing::debug!(url = %url, attempt, error = %failure, "waiting out the mailbox's pause");
                continue;
            }
            let wait = self.policy.wait(attempt, retry_after);
            tracing::debug!(url = %url, attempt, ?wait, error = %failure, "retrying Graph request");
            tokio::time::sleep(wait).await;
        }
    }

    /// GETs and decodes a typed resource.
    pub async fn get<T: DeserializeOwned>(&self, path_or_link: &str, prefer: &Prefer) -> Result<T, GraphError> {
        let value = self.get_value(path_or_link, prefer).await?;
        serde_json::from_value(value)
            .map_err(|e| GraphError::Decode { url: path_or_link.to_string(), reason: e.to_string() })
    }

    /// One page of a list or delta round.
    pub async fn page(&self, path_or_link: &str, prefer: &Prefer) -> Result<RawPage, GraphError> {
        let mut value = self.get_value(path_or_link, prefer).await?;
        let link = |v: &mut Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let next_link = link(&mut value, "@odata.nextLink");
        let delta_link = link(&mut value, "@odata.deltaLink");
        let items = match value.get_mut("value").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(GraphError::Decode {
                    url: path_or_link.to_string(),
                    reason: "the page has no value array".into(),
                });
            }
        };
        Ok(RawPage { value: items, next_link, delta_link })
    }

    /// One page of a delta round, items decoded one by one.
    pub async fn delta_page<T: DeserializeOwned>(
        &self,
        path_or_link: &str,
        prefer: &Prefer,
    ) -> Result<DeltaPage<T>, GraphError> {
        self.page(path_or_link, prefer)
            .await?
            .into_delta()
            .map_err(|reason| GraphError::Decode { url: path_or_link.to_string(), reason })
    }

    /// Every item of a list, following next links.
    pub async fn list<T: DeserializeOwned>(&self, path: &str, prefer: &Prefer) -> Result<Vec<T>, GraphError> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(link) = next.take() {
            let page = self.page(&link, prefer).await?;
            for item in page.value {
                out.push(
                    serde_json::from_value(item)
                        .map_err(|e| GraphError::Decode { url: link.clone(), reason: e.to_string() })?,
                );
            }
            next = page.next_link;
        }
        Ok(out)
    }

    /// The tenant, with its verified domains.
    pub async fn organization(&self) -> Result<Organization, GraphError> {
        let mut orgs: Vec<Organization> = self.list("/organization", &Prefer::default()).await?;
        orgs.pop().ok_or_else(|| GraphError::Decode {
            url: "/organization".into(),
            reason: "no organization returned".into(),
        })
    }

    /// Every user, with their aliases.
    pub async fn users(&self) -> Result<Vec<User>, GraphError> {
        self.list(&format!("/users?$top=999&$select={USER_SELECT}"), &Prefer::default()).await
    }

    /// Every group.
    pub async fn groups(&self) -> Result<Vec<Group>, GraphError> {
        self.list("/groups?$top=999&$select=id,displayName,mail", &Prefer::default()).await
    }

    /// A group's direct members.
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<DirectoryObject>, GraphError> {
        self.list(&format!("/groups/{group_id}/members?$select=id"), &Prefer::default()).await
    }

    /// The tenant's activated directory roles. The list takes no query
    /// options (directoryrole-list.md) and comes in one page.
    pub async fn directory_roles(&self) -> Result<Vec<DirectoryRole>, GraphError> {
        self.list("/directoryRoles", &Prefer::default()).await
    }

    /// Who holds a directory role: users, and apps' service principals.
    pub async fn directory_role_members(&self, role_id: &str) -> Result<Vec<DirectoryObject>, GraphError> {
        self.list(&format!("/directoryRoles/{role_id}/members?$select=id"), &Prefer::default()).await
    }

    /// Every mail folder of a mailbox, subfolders and search folders included
    /// (the caller decides what to sync), one level of the
    /// tree at a time. Each request takes a permit from `limit`, so the caller
    /// decides how much of the mailbox's concurrency discovery may use.
    pub async fn mail_folders(&self, user_id: &str, limit: &Semaphore) -> Result<Vec<MailFolder>, GraphError> {
        let mut out = Vec::new();
        let mut level = vec![format!("/users/{user_id}/mailFolders?$top=100")];
        let prefer = Prefer::default();
        while !level.is_empty() {
            let lists = join_all(
                level
                    .iter()
                    .map(|path| async {
                        let _permit = limit.acquire().await;
                        self.list::<MailFolder>(path, &prefer).await
                    })
                    .collect(),
            )
            .await;
            level = Vec::new();
            for folders in lists {
                for f in folders? {
                    if f.child_folder_count > 0 {
                        level.push(format!("/users/{user_id}/mailFolders/{}/childFolders?$top=100", f.id));
                    }
                    out.push(f);
                }
            }
        }
        Ok(out)
    }

    /// The ids of well-known folders (`deleteditems`, `sentitems`, …), in
    /// the order asked; `None` where the mailbox lacks one (no archive, no
    /// sync issues). Each request takes a permit from `limit`.
    pub async fn well_known_folder_ids(
        &self,
        user_id: &str,
        names: &[&str],
        limit: &Semaphore,
    ) -> Result<Vec<Option<String>>, GraphError> {
        let prefer = &Prefer::default();
        let answers = join_all(
            names
                .iter()
                .map(|name| async move {
                    let _permit = limit.acquire().await;
                    let path = format!("/users/{user_id}/mailFolders/{name}?$select=id");
                    (path.clone(), self.get_value(&path, prefer).await)
                })
                .collect(),
        )
        .await;
        answers
            .into_iter()
            .map(|(path, answer)| match answer {
                // Without the id nobody can tell what to leave out: fail rather than guess.
                Ok(v) => v["id"].as_str().map(|id| Some(id.to_string())).ok_or_else(|| GraphError::Decode {
                    url: path,
                    reason: "the folder came back without an id".into(),
                }),
                Err(e) if e.class() == crate::ErrorClass::NotFound => Ok(None),
                Err(GraphError::Api(a)) if a.status == 400 => Ok(None),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// Several GETs in one `$batch` request (at most 20). Each answer is the
    /// body or the error of that request, in the order asked; inner requests
    /// that were throttled or failed transiently are retried on their own.
    pub async fn batch_get(&self, paths: &[String]) -> Result<Vec<Result<Value, GraphError>>, GraphError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        if paths.len() > 20 {
            return Err(GraphError::Config("a $batch holds at most 20 requests".into()));
        }
        let url = self.cloud.resolve("/$batch")?;
        let body = serde_json::json!({"requests": paths.iter().enumerate().map(|(i, p)| serde_json::json!({"id": i.to_string(), "method": "GET", "url": p})).collect::<Vec<_>>()});
        let mut attempt = 0;
        let answer: Value = loop {
            attempt += 1;
            let token = self.access_token().await?;
            let request = self.http.post(url.clone()).bearer_auth(token.value.expose_secret()).json(&body);
            let failure = match send(request, &url).await? {
                Sent::Answer(value) => break value,
                Sent::Failed(failure) => failure,
            };
            if failure.class() != crate::ErrorClass::Transient || attempt >= self.policy.max_attempts {
                return Err(failure);
            }
            tokio::time::sleep(self.policy.backoff(attempt)).await;
        };
        let mut out: Vec<Option<Result<Value, GraphError>>> = (0..paths.len()).map(|_| None).collect();
        for r in answer["responses"].as_array().into_iter().flatten() {
            let Some(i) = r["id"].as_str().and_then(|id| id.parse::<usize>().ok()).filter(|i| *i < paths.len()) else {
                continue;
            };
            let status = r["status"].as_u64().unwrap_or(0) as u16;
            out[i] = Some(if (200..300).contains(&status) {
                Ok(r["body"].clone())
            } else {
                let error = &r["body"]["error"];
                // Inner header names are not guaranteed lowercase (docs/graph-facts.md §8).
                let header = |name: &str| {
                    r["headers"].as_object().and_then(|h| {
                        h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
                    })
                };
                let e = ApiError {
                    status,
                    code: error["code"].as_str().unwrap_or("unknown").to_string(),
                    message: error["message"].as_str().unwrap_or("").to_string(),
                    request_id: None,
                    retry_after: header("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now())),
                };
                if e.class() == crate::ErrorClass::Transient {
                    // The SDKs don't retry throttled inner requests; we do, one
                    // by one, each after its own Retry-After.
                    let wait = self.policy.wait(1, e.retry_after);
                    if self.policy.too_long(wait) {
                        Err(GraphError::Api(e))
                    } else {
                        match mailbox_of(&paths[i]) {
                            Some(m) if status == 429 => self.pauses.pause(&m, wait),
                            _ => tokio::time::sleep(wait).await,
                        }
                        self.get_value(&paths[i], &Prefer::default()).await
                    }
                } else {
                    Err(GraphError::Api(e))
                }
            });
        }
        Ok(out
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(GraphError::Decode { url: paths[i].clone(), reason: "missing from the $batch answer".into() })
                })
            })
            .collect())
    }

    /// A folder by its well-known name (`inbox`, `deleteditems`, …): names
    /// are localised, well-known names are not.
    pub async fn well_known_folder(&self, user_id: &str, name: &str) -> Result<MailFolder, GraphError> {
        self.get(&format!("/users/{user_id}/mailFolders/{name}"), &Prefer::default()).await
    }
}

/// Runs futures side by side and returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn api_error(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> ApiError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    ApiError {
        status,
        code: error["code"].as_str().map(str::to_string).unwrap_or_else(|| format!("http_{status}")),
        message: error["message"].as_str().unwrap_or("").to_string(),
        request_id: header("request-id").or_else(|| error["innerError"]["request-id"].as_str().map(str::to_string)),
        retry_after: header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now())),
    }
}
