//! App-only tokens from the client-credentials flow, and what they say about
//! the app's permissions.
//!
//! The token's `roles` claim lists the application permissions that were
//! granted; a token without `roles` means admin consent was never given. We
//! read the claim without verifying the signature: the token came straight
//! from the token endpoint over TLS, and Graph verifies it anyway.

use crate::error::GraphError;
use secrecy::SecretString;
use std::time::{Duration, Instant};

/// The seven application permissions TAC needs, in the order the admin guide lists them.
pub const REQUIRED_PERMISSIONS: [&str; 7] = [
    "Directory.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "User.Read",
    "User.Read.All",
    "Mail.Read",
    "Calendars.Read",
];

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
    /// `None` when the token has no `roles` claim: admin consent is missing.
    pub roles: Option<Vec<String>>,
}

impl AccessToken {
    /// Whether it is still good for at least `margin`.
    pub fn fresh_for(&self, margin: Duration) -> bool {
        self.expires_at > Instant::now() + margin
    }
}

/// One line of the permission checklist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PermissionCheck {
    pub name: String,
    pub granted: bool,
    /// What to do when it is not granted.
    pub fix: Option<String>,
}

/// Admin consent plus the seven permissions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PermissionReport {
    pub admin_consent: bool,
    pub checks: Vec<PermissionCheck>,
}

impl PermissionReport {
    /// Builds the checklist from a token's `roles` claim.
    pub fn from_roles(roles: Option<&[String]>) -> Self {
        let granted = |p: &str| roles.is_some_and(|r| r.iter().any(|g| g.eq_ignore_ascii_case(p)));
        let checks = REQUIRED_PERMISSIONS
            .iter()
            .map(|p| PermissionCheck {
                name: p.to_string(),
                granted: granted(p),
                fix: (!granted(p)).then(|| match roles {
                    None => ADMIN_CONSENT_FIX.to_string(),
                    Some(_) => format!(
                        "Add {p} under API permissions → Add a permission → Microsoft Graph → Application permissions, then Grant admin consent."
                    ),
                }),
            })
            .collect();
        PermissionReport { admin_consent: roles.is_some(), checks }
    }

    /// The permissions not granted.
    pub fn missing(&self) -> Vec<&str> {
        self.checks.iter().filter(|c| !c.granted).map(|c| c.name.as_str()).collect()
    }

    /// Consent given and all seven granted.
    pub fn all_granted(&self) -> bool {
        self.admin_consent && self.checks.iter().all(|c| c.granted)
    }
}

/// Reads the `roles` claim of a JWT without verifying it.
pub fn roles_claim(jwt: &str) -> Result<Option<Vec<String>>, GraphError> {
    use base64::Engine;
    let bad = |reason: &str| GraphError::Decode { url: "token endpoint".into(), reason: reason.into() };
    let payload = jwt.split('.').nth(1).ok_or_else(|| bad("the access token is not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| bad("the access token's payload is not base64url"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| bad("the access token's payload is not JSON"))?;
    Ok(claims
        .get("roles")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_roles_claim_means_no_admin_consent() {
        let r = PermissionReport::from_roles(None);
        assert!(!r.admin_consent && !r.all_granted());
        assert_eq!(r.missing().len(), 7);
        assert!(r.checks[0].fix.as_deref().unwrap().contains("Grant admin consent"));
    }

    #[test]
    fn missing_permissions_are_named_exactly() {
        let roles = vec!["Mail.Read".to_string(), "user.read.all".to_string()];
        let r = PermissionReport::from_roles(Some(&roles));
        assert!(r.admin_consent);
        assert_eq!(
            r.missing(),
            ["Directory.Read.All", "Group.Read.All", "GroupMember.Read.All", "User.Read", "Calendars.Read"]
        );
    }

    #[test]
    fn roles_are_read_from_the_payload() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!("{}.{}.sig", enc("{}"), enc(r#"{"roles":["Mail.Read"]}"#));
        assert_eq!(roles_claim(&jwt).unwrap(), Some(vec!["Mail.Read".to_string()]));
        let jwt = format!("{}.{}.sig", enc("{}"), enc(r#"{"aud":"x"}"#));
        assert_eq!(roles_claim(&jwt).unwrap(), None);
        assert!(roles_claim("garbage").is_err());
    }
}
