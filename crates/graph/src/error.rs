//! What can go wrong talking to Microsoft, and what the admin should do.
//!
//! Entra answers with AADSTS codes and Graph with error codes; both are mapped
//! here, in one place, to a class the sync engine acts on and to a sentence
//! that tells a person the fix.

use std::time::Duration;

/// An error from the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub status: u16,
    /// The OAuth `error` value (`invalid_client`, `invalid_tenant`, …).
    pub error: String,
    /// The AADSTS number, when Entra sent one.
    pub code: Option<u32>,
    pub description: String,
}

impl AuthError {
    /// The admin-facing fix for this AADSTS code.
    pub fn advice(&self) -> String {
        let code = self.code.map(|c| format!("AADSTS{c}: ")).unwrap_or_default();
        let fix = match self.code {
            Some(7000215) => {
                "the client secret is wrong. Paste the secret's Value, not its Secret ID, from Certificates & secrets."
            }
            Some(7000222) => {
                "the client secret has expired. Create a new client secret under Certificates & secrets and paste its Value."
            }
            Some(7000218) => "no client secret was sent. Enter the Client Secret on the Integrations page.",
            Some(700016) => {
                "no app with this Client ID exists in the tenant. Check the Application (client) ID on the app's Overview page, and that the Tenant ID is the directory where the app is registered."
            }
            Some(90002) => {
                "the tenant was not found. Check the Directory (tenant) ID on the app's Overview page, and that it belongs to this cloud."
            }
            Some(900023) => {
                "the Tenant ID is not valid. Paste the Directory (tenant) ID (a GUID) or a verified domain such as contoso.com."
            }
            Some(50194) => {
                "the app is single-tenant, so it must be reached through its own tenant. Enter the Directory (tenant) ID instead of common or organizations."
            }
            Some(1002012) | Some(70011) => {
                "the requested scope is not valid for client credentials. This is a TAC configuration problem: check the Graph URL."
            }
            Some(500011) => {
                "the Graph resource is not known in this tenant. Check the Graph URL matches the tenant's cloud."
            }
            Some(7000112) => "the app is disabled. Enable it under Enterprise applications, Properties.",
            Some(7000229) => "the app has no service principal in this tenant. Grant admin consent, which creates it.",
            Some(50196) | Some(90055) => "Entra is throttling token requests. TAC will retry; nothing to change.",
            _ => return format!("{code}{}", first_line(&self.description)),
        };
        format!("{code}{fix}")
    }

    /// Whether retrying later could succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        self.status >= 500 || matches!(self.code, Some(50196) | Some(90055))
    }
}

fn first_line(s: &str) -> &str {
    s.split(['\r', '\n']).next().unwrap_or(s)
}

/// An error response from Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// From `Retry-After`, when the response had one.
    pub retry_after: Option<Duration>,
}

/// What the sync engine does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The user has no Exchange Online mailbox: not a failure of the sync.
    NoMailbox,
    /// The app may not read this mailbox or directory object.
    AccessDenied,
    /// The delta token expired: drop the cursor and resync.
    SyncReset,
    /// The item or folder is gone.
    NotFound,
    /// Throttled or temporarily unavailable: retry later.
    Transient,
    /// The token was refused.
    Unauthenticated,
    /// Anything else: a real failure for this mailbox.
    Permanent,
}

impl ApiError {
    pub fn class(&self) -> ErrorClass {
        let code = self.code.to_ascii_lowercase();
        if matches!(code.as_str(), "mailboxnotenabledforrestapi" | "mailboxnotsupportedforrestapi" | "inactivemailbox")
        {
            return ErrorClass::NoMailbox;
        }
        if matches!(code.as_str(), "syncstatenotfound" | "resyncrequired" | "syncstateinvalid") || self.status == 410 {
            return ErrorClass::SyncReset;
        }
        match self.status {
            401 => ErrorClass::Unauthenticated,
            403 => ErrorClass::AccessDenied,
            404 => ErrorClass::NotFound,
            429 | 500 | 502 | 503 | 504 | 509 => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }

    /// Whether an Exchange application access policy refused the mailbox.
    /// Graph answers it with the same 403 `ErrorAccessDenied` as a missing
    /// permission; only its message, "Access to OData is disabled.", tells
    /// them apart (docs/graph-facts.md §1), so this is the one place that reads it.
    pub fn blocked_by_access_policy(&self) -> bool {
        self.status == 403 && self.message.contains("OData is disabled")
    }

    /// The admin-facing explanation.
    pub fn advice(&self) -> String {
        match (self.class(), self.code.as_str()) {
            (ErrorClass::NoMailbox, _) => "this user has no Exchange Online mailbox (no licence, inactive, or on-premises); nothing to sync.".into(),
            (ErrorClass::AccessDenied, "Authorization_RequestDenied") => {
                "the app lacks a directory permission. Add User.Read.All, Group.Read.All, GroupMember.Read.All and Directory.Read.All as application permissions, then Grant admin consent.".into()
            }
            (ErrorClass::AccessDenied, _) if self.blocked_by_access_policy() => {
                "an Exchange application access policy blocks this mailbox. Add the mailbox to the policy's group, or remove the policy (changes can take an hour).".into()
            }
            (ErrorClass::AccessDenied, _) => {
                "access denied. Check that Mail.Read and Calendars.Read are granted as application permissions with admin consent.".into()
            }
            (ErrorClass::SyncReset, _) => "Microsoft expired the sync state; TAC resyncs this folder in full.".into(),
            (ErrorClass::Transient, _) => "Microsoft is throttling or temporarily unavailable; TAC retries automatically.".into(),
            (ErrorClass::Unauthenticated, _) => "the access token was refused; TAC fetches a new one. If this persists, test the connection.".into(),
            _ => format!("{}: {}", self.code, self.message),
        }
    }
}

/// Everything the client can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    #[error("sign-in failed: {}", .0.advice())]
    Auth(AuthError),
    #[error("Graph answered {} {}: {}", .0.status, .0.code, .0.message)]
    Api(ApiError),
    #[error("could not reach {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("unexpected response from {url}: {reason}")]
    Decode { url: String, reason: String },
    #[error("refused to follow a link outside the Graph URL: {0}")]
    ForeignLink(String),
    /// The token endpoint or Graph answered with a redirect. TAC never
    /// follows one: the request carries the client secret or a token.
    #[error("{url} answered {status} with a redirect{}, which TAC does not follow", .location.as_deref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirected { url: String, status: u16, location: Option<String> },
    #[error("{0}")]
    Config(String),
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted { attempts: u32, last: Box<GraphError> },
    /// Microsoft throttled this mailbox for longer than TAC waits in place.
    #[error("Microsoft asked TAC to pause requests to this mailbox for {} s", .retry_after.as_secs())]
    Paused { retry_after: Duration },
}

impl GraphError {
    /// The Graph error class, for Graph API errors (after unwrapping retries).
    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Api(e) => e.class(),
            GraphError::RetriesExhausted { last, .. } => last.class(),
            GraphError::Transport { .. } | GraphError::Paused { .. } => ErrorClass::Transient,
            GraphError::Auth(a) if a.is_transient() => ErrorClass::Transient,
            GraphError::Auth(_) => ErrorClass::Unauthenticated,
            _ => ErrorClass::Permanent,
        }
    }

    /// A short code to store and show: the AADSTS number or Graph's code.
    pub fn code(&self) -> String {
        match self {
            GraphError::Auth(a) => a.code.map(|c| format!("AADSTS{c}")).unwrap_or_else(|| a.error.clone()),
            GraphError::Api(e) => e.code.clone(),
            GraphError::RetriesExhausted { last, .. } => last.code(),
            GraphError::Paused { .. } => "throttled".into(),
            GraphError::Transport { .. } => "network".into(),
            GraphError::Decode { .. } => "bad_response".into(),
            GraphError::ForeignLink(_) => "foreign_link".into(),
            GraphError::Redirected { .. } => "redirected".into(),
            GraphError::Config(_) => "configuration".into(),
        }
    }

    /// Whether an Exchange application access policy refused the mailbox.
    pub fn blocked_by_access_policy(&self) -> bool {
        match self {
            GraphError::Api(e) => e.blocked_by_access_policy(),
            GraphError::RetriesExhausted { last, .. } => last.blocked_by_access_policy(),
            _ => false,
        }
    }

    /// How long Microsoft asked TAC to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Api(a) => a.retry_after,
            GraphError::RetriesExhausted { last, .. } => last.retry_after(),
            GraphError::Paused { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// What a person should do about it.
    pub fn advice(&self) -> String {
        match self {
            GraphError::Paused { .. } => {
                "Microsoft is throttling this mailbox; TAC comes back after the time it asked for. Nothing to change."
                    .into()
            }
            GraphError::Auth(a) => a.advice(),
            GraphError::Api(e) => e.advice(),
            GraphError::RetriesExhausted { last, .. } => last.advice(),
            GraphError::Redirected { .. } => format!(
                "{self}. Microsoft's endpoints answer directly: check the Login URL and Graph URL on the Integrations \
                 page (leave them empty for Microsoft's public cloud)."
            ),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ApiError {
        ApiError { status, code: code.into(), message: String::new(), request_id: None, retry_after: None }
    }

    #[test]
    fn graph_codes_map_to_what_sync_does() {
        assert_eq!(api(404, "MailboxNotEnabledForRESTAPI").class(), ErrorClass::NoMailbox);
        assert_eq!(api(410, "SyncStateNotFound").class(), ErrorClass::SyncReset);
        assert_eq!(api(400, "syncStateNotFound").class(), ErrorClass::SyncReset);
        assert_eq!(api(403, "ErrorAccessDenied").class(), ErrorClass::AccessDenied);
        assert_eq!(api(429, "TooManyRequests").class(), ErrorClass::Transient);
        assert_eq!(api(504, "UnknownError").class(), ErrorClass::Transient);
        assert_eq!(api(404, "ErrorItemNotFound").class(), ErrorClass::NotFound);
        assert_eq!(api(400, "BadRequest").class(), ErrorClass::Permanent);
    }

    #[test]
    fn aadsts_codes_tell_the_admin_the_fix() {
        let e =
            AuthError { status: 401, error: "invalid_client".into(), code: Some(7000215), description: String::new() };
        assert_eq!(
            e.advice(),
            "AADSTS7000215: the client secret is wrong. Paste the secret's Value, not its Secret ID, from Certificates & secrets."
        );
        let unknown = AuthError {
            status: 400,
            error: "x".into(),
            code: Some(1),
            description: "AADSTS1: Odd.\r\nTrace ID: 1".into(),
        };
        assert_eq!(unknown.advice(), "AADSTS1: AADSTS1: Odd.");
    }
}
