//! The connection test: what TAC can do with the app's permissions, each
//! capability proved by one cheap real call.
//!
//! Counting role names in the token is not enough. Several permissions grant
//! the same read (a higher one always works, docs/graph-facts.md §8), Microsoft says
//! access tokens are opaque to clients, and the `User.Read` that admin guides list has
//! no application form at all, so no app-only token ever carries it. So each
//! line of the checklist is a Graph call against the directory or a mailbox
//! in scope; the token's `roles` claim only helps explain a refusal.
//!
//! Reading users is required, and so are mail and calendars when their sync
//! is on. Groups, verified domains and directory roles are optional:
//! without them TAC cannot scope mailboxes by group, tells internal from
//! external people by the directory's addresses alone, and cannot make
//! holders of an Entra role TAC admins, so a missing one is a warning.

use crate::client::{GraphClient, Prefer};
use crate::error::{ErrorClass, GraphError};
use serde::Serialize;

/// A thing TAC needs to do, in the order of the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Users,
    Groups,
    Domains,
    Roles,
    Mail,
    Calendars,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::Users,
        Capability::Groups,
        Capability::Domains,
        Capability::Roles,
        Capability::Mail,
        Capability::Calendars,
    ];

    /// What the checklist line says.
    pub fn label(self) -> &'static str {
        match self {
            Capability::Users => "Read users and their aliases",
            Capability::Groups => "Read groups and members",
            Capability::Domains => "Read the organisation's verified domains",
            Capability::Roles => "Read directory roles and who holds them",
            Capability::Mail => "Read mail, including bodies",
            Capability::Calendars => "Read calendars, including attendees",
        }
    }

    /// The application permissions that grant it, the one TAC's setup asks for first
    /// (docs/graph-facts.md §8: each API's permission table; a higher one also works).
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Capability::Users => {
                &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"]
            }
            Capability::Groups => {
                &["Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"]
            }
            Capability::Domains => &[
                "Directory.Read.All",
                "Directory.ReadWrite.All",
                "Organization.Read.All",
                "Organization.ReadWrite.All",
            ],
            Capability::Roles => &[
                "Directory.Read.All",
                "Directory.ReadWrite.All",
                "RoleManagement.Read.Directory",
                "RoleManagement.ReadWrite.Directory",
            ],
            Capability::Mail => &["Mail.Read", "Mail.ReadWrite"],
            Capability::Calendars => &["Calendars.Read", "Calendars.ReadWrite"],
        }
    }

    /// The permissions TAC's setup (README, "Connect a real Microsoft 365
    /// tenant") asks for to get it.
    fn guide_permissions(self) -> &'static str {
        match self {
            Capability::Users => "User.Read.All",
            Capability::Groups => "Group.Read.All and GroupMember.Read.All",
            Capability::Domains | Capability::Roles => "Directory.Read.All",
            Capability::Mail => "Mail.Read",
            Capability::Calendars => "Calendars.Read",
        }
    }

    /// The fix when it is refused outright.
    fn fix(self, consent: bool) -> String {
        if !consent {
            return crate::token::ADMIN_CONSENT_FIX.to_string();
        }
        format!(
            "Add {} under API permissions → Add a permission → Microsoft Graph → Application permissions, then Grant admin consent.",
            self.guide_permissions()
        )
    }
}

/// How one capability fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// It works only in part, or an optional capability is missing: what
    /// follows and what to do.
    Warning(String),
    /// Refused, or the call failed: what to do.
    Failed(String),
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityCheck {
    pub capability: Capability,
    pub label: &'static str,
    pub outcome: Outcome,
    /// The granted permissions (from the token) that cover it, for the
    /// explanation; the probe decides, not this.
    pub granted: Vec<String>,
}

/// What the connection test proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityReport {
    /// Whether the token carries a `roles` claim at all; `None` when the
    /// token could not be read (it is opaque to clients).
    pub admin_consent: Option<bool>,
    /// The mailbox the mail and calendar calls were tried on.
    pub mailbox: Option<String>,
    pub checks: Vec<CapabilityCheck>,
}

impl CapabilityReport {
    /// No line failed (warnings allowed).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| !matches!(c.outcome, Outcome::Failed(_)))
    }

    /// The labels of the failed lines.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks.iter().filter(|c| matches!(c.outcome, Outcome::Failed(_))).map(|c| c.label).collect()
    }
}

/// What to prove: mail and calendar only when their sync is on.
#[derive(Debug, Clone, Default)]
pub struct ProbePlan {
    pub mail: bool,
    pub calendars: bool,
    /// Mailboxes in scope to try first (user ids or principal names); the
    /// directory's first users with an address follow.
    pub mailboxes: Vec<String>,
}

/// How many mailboxes the test tries before it says none could be read.
const MAILBOX_TRIES: usize = 5;

impl GraphClient {
    /// Gets a token and proves each capability with a real call. Fails only
    /// when no token comes; every other failure is a line of the report.
    pub async fn probe_capabilities(&self, plan: &ProbePlan) -> Result<CapabilityReport, GraphError> {
        let token = self.fetch_token().await?;
        let roles = token.roles.clone();
        // Without a readable token nothing is known of consent: give the
        // permission's own fix rather than blaming consent.
        let consent = roles.is_some() || token.opaque;
        let granted = |c: Capability| -> Vec<String> {
            roles
                .iter()
                .flatten()
                .filter(|r| c.permissions().iter().any(|p| p.eq_ignore_ascii_case(r)))
                .cloned()
                .collect()
        };
        let prefer = Prefer::default();
        let mut checks = Vec::new();
        let refused = |c: Capability, e: &GraphError| match e.class() {
            ErrorClass::AccessDenied => c.fix(consent),
            _ => e.advice(),
        };

        // Users, and from them the mailboxes to try.
        let mut candidates = plan.mailboxes.clone();
        let users = self.get_value("/users?$top=25&$select=id,userPrincipalName,mail,proxyAddresses", &prefer).await;
        let outcome = match &users {
            Ok(body) => {
                for u in body["value"].as_array().into_iter().flatten() {
                    if u["mail"].as_str().is_some_and(|m| !m.is_empty())
                        && let Some(id) = u["id"].as_str()
                    {
                        candidates.push(id.to_string());
                    }
                }
                Outcome::Ok
            }
            Err(e) => Outcome::Failed(refused(Capability::Users, e)),
        };
        checks.push((Capability::Users, outcome));

        // Groups, then one group's members.
        let outcome = match self.get_value("/groups?$top=1&$select=id", &prefer).await {
            Err(e) => Outcome::Warning(optional(Capability::Groups, refused(Capability::Groups, &e))),
            Ok(body) => match body["value"][0]["id"].as_str() {
                None => Outcome::Ok,
                Some(id) => match self.get_value(&format!("/groups/{id}/members?$top=1&$select=id"), &prefer).await {
                    Ok(_) => Outcome::Ok,
                    Err(e) => Outcome::Warning(optional(Capability::Groups, refused(Capability::Groups, &e))),
                },
            },
        };
        checks.push((Capability::Groups, outcome));

        let outcome = match self.get_value("/organization?$select=id,verifiedDomains", &prefer).await {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Warning(optional(Capability::Domains, refused(Capability::Domains, &e))),
        };
        checks.push((Capability::Domains, outcome));

        let outcome = match self.get_value("/directoryRoles", &prefer).await {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Warning(optional(Capability::Roles, refused(Capability::Roles, &e))),
        };
        checks.push((Capability::Roles, outcome));

        // Mail and calendars, on the first mailbox that has one.
        let mailbox = self.probe_mailboxes(plan, candidates, consent, &mut checks).await;
        Ok(CapabilityReport {
            admin_consent: (!token.opaque).then_some(roles.is_some()),
            mailbox,
            checks: checks
                .into_iter()
                .map(|(capability, outcome)| CapabilityCheck {
                    capability,
                    label: capability.label(),
                    outcome,
                    granted: granted(capability),
                })
                .collect(),
        })
    }

    /// The mail and calendar lines of the report, tried on the first of
    /// `candidates` (users in scope) that has an Exchange Online mailbox:
    /// pushed onto `checks`. Returns that mailbox.
    async fn probe_mailboxes(
        &self,
        plan: &ProbePlan,
        mut candidates: Vec<String>,
        consent: bool,
        checks: &mut Vec<(Capability, Outcome)>,
    ) -> Option<String> {
        let mut mailbox = None;
        if plan.mail || plan.calendars {
            let mut seen = std::collections::HashSet::new();
            candidates.retain(|c| seen.insert(c.to_ascii_lowercase()));
            let mut mail = None;
            let mut calendars = None;
            for candidate in candidates.iter().take(MAILBOX_TRIES) {
                let m = if plan.mail { Some(self.probe_mail(candidate, consent).await) } else { None };
                let c = if plan.calendars { Some(self.probe_calendars(candidate, consent).await) } else { None };
                let no_mailbox = [&m, &c].into_iter().flatten().any(|p| p.is_none());
                if no_mailbox {
                    continue;
                }
                mailbox = Some(candidate.clone());
                mail = m.flatten();
                calendars = c.flatten();
                break;
            }
            let none_found = || {
                Outcome::Failed(format!(
                    "None of the first {MAILBOX_TRIES} users in scope has an Exchange Online mailbox, so this could not be checked. Check the mailbox scope, or that users are licensed for Exchange Online."
                ))
            };
            if plan.mail {
                checks.push((
                    Capability::Mail,
                    if mailbox.is_some() { mail.unwrap_or(Outcome::Ok) } else { none_found() },
                ));
            }
            if plan.calendars {
                let outcome = if mailbox.is_some() { calendars.unwrap_or(Outcome::Ok) } else { none_found() };
                checks.push((Capability::Calendars, outcome));
            }
            if candidates.is_empty() {
                // Nothing to try: say why rather than blaming Exchange.
                for (c, outcome) in checks.iter_mut() {
                    if matches!(c, Capability::Mail | Capability::Calendars) {
                        *outcome = Outcome::Failed(if consent {
                            "No user could be read, so no mailbox could be tried: fix reading users first.".into()
                        } else {
                            crate::token::ADMIN_CONSENT_FIX.into()
                        });
                    }
                }
            }
        }
        mailbox
    }

    /// Mail with bodies, else basic mail. `None`: the user has no mailbox.
    async fn probe_mail(&self, user: &str, consent: bool) -> Option<Outcome> {
        let prefer = Prefer::default();
        let full = self.get_value(&format!("/users/{user}/messages?$top=1&$select=id,body,bodyPreview"), &prefer).await;
        match full {
            Ok(body) => Some(match body["value"].get(0) {
                Some(m) if m.get("body").is_none() => Outcome::Warning(BASIC_MAIL.into()),
                _ => Outcome::Ok,
            }),
            Err(e) if e.class() == ErrorClass::NoMailbox => None,
            Err(e) if e.class() == ErrorClass::AccessDenied => {
                match self.get_value(&format!("/users/{user}/messages?$top=1&$select=id"), &prefer).await {
                    Ok(_) => Some(Outcome::Warning(BASIC_MAIL.into())),
                    Err(e) if e.class() == ErrorClass::NoMailbox => None,
                    Err(e) => Some(Outcome::Failed(mailbox_refusal(Capability::Mail, &e, consent))),
                }
            }
            Err(e) => Some(Outcome::Failed(mailbox_refusal(Capability::Mail, &e, consent))),
        }
    }

    /// Calendars with attendees, else basic calendars. `None`: no mailbox.
    async fn probe_calendars(&self, user: &str, consent: bool) -> Option<Outcome> {
        let prefer = Prefer::default();
        let now = chrono::Utc::now();
        let window = format!(
            "startDateTime={}&endDateTime={}",
            (now - chrono::Duration::days(90)).format("%Y-%m-%dT00:00:00Z"),
            (now + chrono::Duration::days(90)).format("%Y-%m-%dT00:00:00Z")
        );
        let url = |select: &str| format!("/users/{user}/calendarView?{window}&$top=1&$select={select}");
        match self.get_value(&url("id,attendees"), &prefer).await {
            Ok(body) => Some(match body["value"].get(0) {
                Some(e) if e.get("attendees").is_none() => Outcome::Warning(BASIC_CALENDARS.into()),
                _ => Outcome::Ok,
            }),
            Err(e) if e.class() == ErrorClass::NoMailbox => None,
            Err(e) if e.class() == ErrorClass::AccessDenied => match self.get_value(&url("id"), &prefer).await {
                Ok(_) => Some(Outcome::Warning(BASIC_CALENDARS.into())),
                Err(e) if e.class() == ErrorClass::NoMailbox => None,
                Err(e) => Some(Outcome::Failed(mailbox_refusal(Capability::Calendars, &e, consent))),
            },
            Err(e) => Some(Outcome::Failed(mailbox_refusal(Capability::Calendars, &e, consent))),
        }
    }
}

const BASIC_MAIL: &str = "Only basic mail access (Mail.ReadBasic.All): senders, recipients and subjects sync, but bodies and previews will be empty. Add Mail.Read under Application permissions, then Grant admin consent.";
const BASIC_CALENDARS: &str = "Only basic calendar access (Calendars.ReadBasic.All): meetings sync without attendees, locations or descriptions. Add Calendars.Read under Application permissions, then Grant admin consent.";

/// What a missing optional capability costs, and its fix.
fn optional(c: Capability, fix: String) -> String {
    let cost = match c {
        Capability::Groups => "Without it TAC cannot limit sync or sign-in to groups.",
        Capability::Roles => "Without it no Entra role can make someone a TAC admin when they sign in with Microsoft.",
        _ => "Without it TAC tells colleagues from outsiders by the directory's addresses only.",
    };
    format!("{cost} {fix}")
}

/// A refused mailbox call: an access policy, a missing permission, or another failure.
fn mailbox_refusal(c: Capability, e: &GraphError, consent: bool) -> String {
    match e.class() {
        // An application access policy answers the same 403 (docs/graph-facts.md §1); its advice says so.
        ErrorClass::AccessDenied if consent && e.blocked_by_access_policy() => e.advice(),
        ErrorClass::AccessDenied => c.fix(consent),
        _ => e.advice(),
    }
}
