//! Graph's error envelope.
//!
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`,
//! with `innerError.date` lacking a `Z` and the ids echoed in headers, as the
//! real service answers. Clients are told to branch on `code`, so the codes
//! here are the ones Microsoft sends for each condition.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

tokio::task_local! {
    /// The request id of the Graph request being answered.
    pub static REQUEST_ID: (String, String);
}

/// The current request's `request-id` and `client-request-id`.
pub fn request_ids() -> (String, String) {
    REQUEST_ID.try_with(|ids| ids.clone()).unwrap_or_else(|_| {
        let id = crate::rng::guid(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64, &[0x1d]);
        (id.clone(), id)
    })
}

/// A Graph error response.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub inner_code: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        GraphError { status, code: code.to_string(), message: message.into(), inner_code: None, headers: Vec::new() }
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 for a query option or parameter the endpoint does not take.
    pub fn bad_request(message: impl Into<String>) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 for a path Graph does not have.
    pub fn no_such_path(path: &str) -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{}'.", path.rsplit('/').next().unwrap_or(path)),
        )
    }

    /// 401 for an expired token.
    pub fn expired_token() -> Self {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        )
        .with_www_authenticate()
    }

    /// 401 for a token that is not a JWT or whose signature fails.
    pub fn malformed_token() -> Self {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "CompactToken parsing failed with error code: 80049217",
        )
        .with_www_authenticate()
    }

    /// 401 with no token at all.
    pub fn missing_token() -> Self {
        GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Access token is empty.")
            .with_www_authenticate()
    }

    fn with_www_authenticate(self) -> Self {
        self.with_header(
            axum::http::header::WWW_AUTHENTICATE,
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        )
    }

    /// 403 from a directory API without the needed role.
    pub fn directory_denied() -> Self {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 403 from a mail or calendar API without the needed role.
    pub fn mailbox_denied() -> Self {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    /// 403 when an ApplicationAccessPolicy shuts the app out of a mailbox.
    pub fn access_policy_denied() -> Self {
        GraphError::new(StatusCode::FORBIDDEN, "ErrorAccessDenied", "Access to OData is disabled.")
    }

    /// 404 for a user without an Exchange Online mailbox.
    pub fn no_mailbox() -> Self {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    }

    /// 404 for a mailbox path naming an unknown user.
    pub fn invalid_user(id: &str) -> Self {
        GraphError::new(StatusCode::NOT_FOUND, "ErrorInvalidUser", format!("The requested user '{id}' is invalid."))
    }

    /// 404 for a directory object that does not exist.
    pub fn directory_not_found(id: &str) -> Self {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    /// 404 for a message, event or folder that does not exist.
    pub fn item_not_found() -> Self {
        GraphError::new(StatusCode::NOT_FOUND, "ErrorItemNotFound", "The specified object was not found in the store.")
    }

    /// 400 for an id that is not an Exchange id.
    pub fn invalid_id() -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidIdMalformed", "Id is malformed.")
    }

    /// 410 for an expired or unknown delta token.
    pub fn sync_state_not_found(generation: u64, location: &str) -> Self {
        GraphError::new(
            StatusCode::GONE,
            "SyncStateNotFound",
            format!("The sync state generation is not found; generation={generation};[highest={}]", generation + 1),
        )
        .with_header(axum::http::header::LOCATION, location)
    }

    /// 503 from fault injection.
    pub fn service_unavailable() -> Self {
        GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        )
        .with_header(HeaderName::from_static("retry-after"), "1")
    }

    /// 504 from fault injection.
    pub fn gateway_timeout() -> Self {
        GraphError::new(StatusCode::GATEWAY_TIMEOUT, "UnknownError", "Gateway Timeout")
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let (request_id, client_request_id) = request_ids();
        let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let mut inner = json!({"date": date, "request-id": request_id, "client-request-id": client_request_id});
        if let Some(code) = &self.inner_code {
            inner["code"] = json!(code);
        }
        let body = json!({"error": {"code": self.code, "message": self.message, "innerError": inner}});
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        (self.status, headers, axum::Json(body)).into_response()
    }
}

/// Handlers return this.
pub type GraphResult<T> = Result<T, GraphError>;
