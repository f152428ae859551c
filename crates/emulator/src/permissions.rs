//! Microsoft Graph's application permissions: the only names Entra can grant
//! an app as roles, so the only ones an app-only token's `roles` can carry.
//!
//! The list is `data/application-permissions.txt`, taken from Microsoft's
//! published permission table (its header says from where). An admin can
//! add only these under *Application permissions*; `User.Read`, for one, is
//! delegated only (docs/graph-facts.md §8), so the emulator refuses to grant it to an app,
//! as Entra would never offer it.
//!
//! What a permission lets an app read is decided where each resource is
//! served (`graph::*_ROLES`); the `ReadBasic` permissions' limits are in
//! [`Access`].

use std::collections::HashMap;
use std::sync::OnceLock;

const LIST: &str = include_str!("../data/application-permissions.txt");

/// Permission name (lowercased) → (its canonical name, its app role id if listed).
fn table() -> &'static HashMap<String, (&'static str, Option<&'static str>)> {
    static TABLE: OnceLock<HashMap<String, (&'static str, Option<&'static str>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        LIST.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let mut parts = l.split_whitespace();
                let name = parts.next().unwrap_or(l);
                (name.to_ascii_lowercase(), (name, parts.next()))
            })
            .collect()
    })
}

/// The canonical name of an application permission of Microsoft Graph, or
/// `None` when Graph has no application permission of that name.
pub fn application_permission(name: &str) -> Option<&'static str> {
    table().get(&name.trim().to_ascii_lowercase()).map(|(n, _)| *n)
}

/// The app role id of an application permission, when the list has it.
pub fn app_role_id(name: &str) -> Option<&'static str> {
    table().get(&name.trim().to_ascii_lowercase()).and_then(|(_, id)| *id)
}

/// The delegated permissions (scopes) people grant when they sign in; an
/// admin who tries to grant one of them as an application permission is
/// told so.
const DELEGATED_ONLY: &[&str] = &["User.Read", "openid", "profile", "email", "offline_access"];

/// Why a permission cannot be granted to an app.
pub fn refusal(name: &str) -> String {
    if DELEGATED_ONLY.iter().any(|d| d.eq_ignore_ascii_case(name.trim())) {
        format!(
            "{name} is a delegated permission of Microsoft Graph, not an application permission: \
             an app-only token can never carry it. Add it under Delegated permissions."
        )
    } else {
        format!("Microsoft Graph has no application permission named {name}.")
    }
}

/// Checks a list of permissions to grant and returns their canonical names.
pub fn check_grant(names: &[String]) -> Result<Vec<String>, String> {
    names.iter().map(|n| application_permission(n).map(str::to_string).ok_or_else(|| refusal(n))).collect()
}

/// How much of a mailbox's mail or calendar an app may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Full,
    /// `Mail.ReadBasic.All` or `Calendars.ReadBasic.All` alone: no bodies, and
    /// for mail no attachments or extended properties, for events no
    /// location or attendees (docs/graph-facts.md §8).
    Basic,
}

/// What a `Mail.ReadBasic.All` app may not read on a message.
pub const BASIC_MAIL_WITHHELD: &[&str] = &[
    "body",
    "bodyPreview",
    "uniqueBody",
    "attachments",
    "extensions",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
];

/// What a `Calendars.ReadBasic.All` app may not read on an event.
pub const BASIC_CALENDAR_WITHHELD: &[&str] = &["body", "bodyPreview", "location", "locations", "attendees"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_published_application_permissions_can_be_granted() {
        assert_eq!(application_permission("user.read.all"), Some("User.Read.All"));
        for name in ["Mail.Read", "Mail.ReadBasic.All", "Calendars.Read", "Directory.Read.All", "GroupMember.Read.All"]
        {
            assert_eq!(application_permission(name), Some(name), "{name}");
        }
        assert_eq!(application_permission("User.Read"), None);
        assert!(refusal("User.Read").contains("delegated"));
        assert!(refusal("Mail.Everything").contains("no application permission"));
        let granted = check_grant(&["mail.read".to_string(), "User.Read.All".to_string()]).unwrap();
        assert_eq!(granted, ["Mail.Read", "User.Read.All"]);
        assert!(check_grant(&["User.Read".to_string()]).is_err());
    }
}
