//! App-only tokens from the client-credentials flow, and what they say about
//! the app's permissions.
//!
//! The token's `roles` claim lists the application permissions that were
//! granted; a token without `roles` means admin consent was never given. We
//! read the claim without verifying the signature: the token came straight
//! from the token endpoint over TLS, and Graph verifies it anyway. Microsoft
//! says access tokens are opaque to clients, so the claim only explains:
//! the connection test proves each capability with a call
//! ([`crate::capabilities`]), and a token that is not a JWT still works.

use secrecy::SecretString;
use std::time::{Duration, Instant};

/// The application permissions TAC's setup asks for (README, "Connect a
/// real Microsoft 365 tenant"), in its order. Admin guides often list
/// `User.Read` there too, but Microsoft Graph has no
/// application `User.Read` (docs/graph-facts.md §8): it is delegated, with the sign-in
/// permissions below. What TAC can do with the granted permissions is
/// proved by [`crate::capabilities`], not by counting these.
pub const APPLICATION_PERMISSIONS: [&str; 6] =
    ["Directory.Read.All", "Group.Read.All", "GroupMember.Read.All", "User.Read.All", "Mail.Read", "Calendars.Read"];

/// The delegated permissions "Sign in with Microsoft" uses; a new app
/// registration has User.Read already. Checked when someone signs in.
pub const SIGN_IN_PERMISSIONS: [&str; 5] = ["User.Read", "openid", "profile", "email", "offline_access"];

/// What to do when the token has no `roles` claim (admin consent is missing).
pub const ADMIN_CONSENT_FIX: &str = "Grant admin consent on the app's API permissions page.";

/// The app registration TAC signs in as.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    /// A GUID or a verified domain.
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// An access token and what it grants.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub value: SecretString,
    pub expires_at: Instant,
    /// `None` when the token has no `roles` claim (admin consent is
    /// missing) or could not be read.
    pub roles: Option<Vec<String>>,
    /// The token is not a JWT TAC can read: nothing is known of its roles.
    pub opaque: bool,
}

impl AccessToken {
    /// Whether it is still good for at least `margin`.
    pub fn fresh_for(&self, margin: Duration) -> bool {
        self.expires_at > Instant::now() + margin
    }
}

/// Reads the `roles` claim of a JWT without verifying it: `None` when the
/// token is not a JWT whose payload TAC can read, `Some(None)` when it has
/// no `roles` claim.
pub fn roles_claim(jwt: &str) -> Option<Option<Vec<String>>> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        claims
            .get("roles")
            .and_then(|r| r.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_the_payload() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!("{}.{}.sig", enc("{}"), enc(r#"{"roles":["Mail.Read"]}"#));
        assert_eq!(roles_claim(&jwt), Some(Some(vec!["Mail.Read".to_string()])));
        let jwt = format!("{}.{}.sig", enc("{}"), enc(r#"{"aud":"x"}"#));
        assert_eq!(roles_claim(&jwt), Some(None));
        assert_eq!(roles_claim("an opaque token"), None);
    }
}
