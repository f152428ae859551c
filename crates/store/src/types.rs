//! The store's own types: ids, integration settings, cursors and the rows its
//! read functions return. Domain records live in `tac-core`.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tac_core::records::{Direction, MailboxState};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A workspace: the tenant of TAC itself. Every row belongs to one.
    WorkspaceId
);
id_type!(
    /// The integration row (one per workspace).
    IntegrationId
);
id_type!(
    /// A synced mailbox (one per directory user in scope).
    MailboxId
);
id_type!(
    /// A deduplicated email.
    EmailId
);

/// Which backend a [`crate::Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Which mailboxes the sync covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailboxScope {
    /// Every user with a mailbox.
    All,
    /// Members of these groups (Graph object ids).
    Groups(Vec<String>),
}

/// Where the integration stands, as shown to the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    /// Saved but not yet tested against the tenant.
    Unverified,
    /// The last token request and permission check succeeded.
    Connected,
    /// The last attempt failed; `last_error` says why.
    Failed,
}

impl IntegrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationStatus::Unverified => "unverified",
            IntegrationStatus::Connected => "connected",
            IntegrationStatus::Failed => "failed",
        }
    }
}

impl FromStr for IntegrationStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unverified" => Ok(IntegrationStatus::Unverified),
            "connected" => Ok(IntegrationStatus::Connected),
            "failed" => Ok(IntegrationStatus::Failed),
            other => Err(format!("unknown integration status `{other}`")),
        }
    }
}

/// The public cloud's sign-in origin (docs/architecture.md §6).
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";
/// The public cloud's Graph root (docs/architecture.md §6).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// How far back the first round reaches unless the admin says otherwise.
pub const DEFAULT_BACKFILL_DAYS: u32 = 365;

/// The integration as the admin configures it, without the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSettings {
    pub tenant_id: String,
    pub client_id: String,
    pub login_url: String,
    pub graph_url: String,
    pub import_emails: bool,
    pub calendar_sync: bool,
    pub mailbox_scope: MailboxScope,
    pub backfill_days: u32,
    pub status: IntegrationStatus,
    pub last_error: Option<String>,
}

impl IntegrationSettings {
    /// The settings that decide where the client secret is sent (tenant,
    /// client id, login and Graph URLs) that differ in `new`, by field
    /// name; case and a trailing slash make no difference. Changing one
    /// without entering the secret again clears the stored secret, so that
    /// no one can send it to a new destination by changing them alone.
    pub fn destination_changes(&self, new: &IntegrationSettings) -> Vec<&'static str> {
        let same =
            |a: &str, b: &str| a.trim().trim_end_matches('/').eq_ignore_ascii_case(b.trim().trim_end_matches('/'));
        [
            ("tenant_id", &self.tenant_id, &new.tenant_id),
            ("client_id", &self.client_id, &new.client_id),
            ("login_url", &self.login_url, &new.login_url),
            ("graph_url", &self.graph_url, &new.graph_url),
        ]
        .into_iter()
        .filter(|(_, old, new)| !same(old, new))
        .map(|(field, _, _)| field)
        .collect()
    }

    /// Settings for a tenant with every default: public cloud, mail and
    /// calendar on, all mailboxes, 365 days of backfill, not yet verified.
    pub fn new(tenant_id: impl Into<String>, client_id: impl Into<String>) -> Self {
        IntegrationSettings {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            login_url: DEFAULT_LOGIN_URL.to_owned(),
            graph_url: DEFAULT_GRAPH_URL.to_owned(),
            import_emails: true,
            calendar_sync: true,
            mailbox_scope: MailboxScope::All,
            backfill_days: DEFAULT_BACKFILL_DAYS,
            status: IntegrationStatus::Unverified,
            last_error: None,
        }
    }
}

/// The integration with its decrypted secret, for the sync's token source.
/// `Debug` redacts the secret (it is a [`SecretString`]).
#[derive(Debug)]
pub struct Integration {
    pub id: IntegrationId,
    pub settings: IntegrationSettings,
    /// `None` until an admin sets one.
    pub client_secret: Option<SecretString>,
    pub secret_set_at: Option<DateTime<Utc>>,
}

/// What may be shown about the integration: never the secret, only whether
/// and when one was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrationSummary {
    pub id: IntegrationId,
    pub settings: IntegrationSettings,
    pub secret_set_at: Option<DateTime<Utc>>,
    /// The id of the master key that sealed the secret.
    pub secret_key_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A mailbox and its sync status, for `tac-crm status` and the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxRow {
    pub id: MailboxId,
    /// The directory user's Graph object id.
    pub user_id: String,
    pub address: String,
    pub state: MailboxState,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error_code: Option<String>,
    pub last_error_message: Option<String>,
    /// In `backoff`, when to try again; in `no_mailbox`, when to check again.
    pub backoff_until: Option<DateTime<Utc>>,
    /// In `no_mailbox`: whether the directory showed a licence when it was
    /// last checked (a licence added since makes it checked at once).
    pub licensed_at_check: Option<bool>,
    /// Emails present in the mailbox (copies not marked removed).
    pub email_count: u64,
    /// Meetings present in the mailbox's calendar.
    pub meeting_count: u64,
    /// Items that failed to decode and were skipped.
    pub skipped_count: u64,
    pub updated_at: DateTime<Utc>,
}

/// Where a mailbox's delta round stands (a type, not a string). No cursor means start a
/// full round.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncCursor {
    /// Mid-round: the `@odata.nextLink` to fetch next.
    NextLink(String),
    /// Round finished: the `@odata.deltaLink` that starts the next one.
    DeltaLink(String),
}

impl SyncCursor {
    pub fn url(&self) -> &str {
        match self {
            SyncCursor::NextLink(url) | SyncCursor::DeltaLink(url) => url,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SyncCursor::NextLink(_) => "next_link",
            SyncCursor::DeltaLink(_) => "delta_link",
        }
    }

    pub(crate) fn from_parts(kind: &str, url: String) -> Option<Self> {
        match kind {
            "next_link" => Some(SyncCursor::NextLink(url)),
            "delta_link" => Some(SyncCursor::DeltaLink(url)),
            _ => None,
        }
    }
}

/// What a delta round has done so far, saved with its cursor (same
/// transaction). A filtered message delta round returns at most 5,000
/// messages, silently, so the sync must know whether a round was filtered
/// and how many entries it has returned to tell a complete round from a
/// capped one, across restarts too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundState {
    /// The round was started with a `$filter` (its later rounds keep it).
    pub filtered: bool,
    /// Entries the round has returned: so far (next link), or in all
    /// (delta link).
    pub items: u64,
}

/// What a save did to the stored client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChange {
    /// A new secret was entered and sealed.
    Replaced,
    /// The stored secret stays (or there was none).
    Kept,
    /// Where the secret would be sent changed (tenant, client id, login or
    /// Graph URL) and no secret was entered: the stored one is gone.
    Cleared,
}

impl SecretChange {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretChange::Replaced => "replaced",
            SecretChange::Kept => "kept",
            SecretChange::Cleared => "cleared",
        }
    }
}

/// What [`crate::Store::save_integration`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedIntegration {
    pub id: IntegrationId,
    pub secret: SecretChange,
    /// The settings that changed (never the secret's value), as audited.
    pub changed: Vec<&'static str>,
}

/// What a cursor tracks: one mail folder, or the mailbox's calendar view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CursorScope<'a> {
    /// A mail folder, by Graph folder id.
    Folder(&'a str),
    Calendar,
}

impl CursorScope<'_> {
    /// The stored key: `calendar` or `folder:<id>`, so no folder id can ever
    /// collide with the calendar.
    pub(crate) fn key(&self) -> String {
        match self {
            CursorScope::Folder(id) => format!("folder:{id}"),
            CursorScope::Calendar => "calendar".to_owned(),
        }
    }
}

/// What applying one page did. Replaying a page yields only
/// `records_existing` and `copies_unchanged`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PageOutcome {
    /// Emails or meetings new to the workspace.
    pub records_added: u64,
    /// Emails or meetings already stored (perhaps from another mailbox).
    pub records_existing: u64,
    /// Copies new to this mailbox.
    pub copies_added: u64,
    /// Copies whose folder changed (mail only).
    pub copies_moved: u64,
    /// Copies that had been marked removed and are back.
    pub copies_restored: u64,
    /// Copies whose other fields (read state, response, …) changed.
    pub copies_updated: u64,
    pub copies_unchanged: u64,
    /// Copies marked removed by this page's `@removed` entries.
    pub copies_removed: u64,
}

/// One mailbox's copy of an email, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailCopyRow {
    pub graph_id: String,
    pub internet_message_id: String,
    pub folder_id: String,
    pub direction: Direction,
    pub is_read: bool,
    pub removed: bool,
}

/// One mailbox's copy of a meeting, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingCopyRow {
    pub graph_id: String,
    pub ical_uid: String,
    pub response: String,
    pub is_organizer: bool,
    pub removed: bool,
}

id_type!(
    /// A contact: an external person.
    ContactId
);
id_type!(
    /// A company, keyed by its domain.
    CompanyId
);
id_type!(
    /// A deduplicated meeting occurrence.
    MeetingId
);

/// Where a contact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactSource {
    /// Typed in by a person.
    Manual,
    /// From a CSV import.
    Import,
    /// Created by the auto-creation policy from synced mail or meetings.
    Auto,
}

impl ContactSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactSource::Manual => "manual",
            ContactSource::Import => "import",
            ContactSource::Auto => "auto",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [ContactSource::Manual, ContactSource::Import, ContactSource::Auto].into_iter().find(|c| c.as_str() == s)
    }
}

/// A contact to create. Addresses are normalised by the type; the name is
/// validated by [`tac_core::contacts::validate_name`] on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub name: String,
    pub emails: Vec<tac_core::NormalizedAddress>,
    /// A company name; without one, the company comes from the first work
    /// (not free-mail) domain among the addresses.
    pub company: Option<String>,
    pub source: ContactSource,
}

/// A company as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompanyRow {
    pub id: CompanyId,
    pub name: String,
    pub domain: Option<String>,
}

/// A contact as stored, with its addresses (oldest first) and company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactRow {
    pub id: ContactId,
    pub name: String,
    pub emails: Vec<String>,
    pub company: Option<CompanyRow>,
    pub source: ContactSource,
    pub created_at: DateTime<Utc>,
    /// The newest activity up to now (upcoming meetings excluded).
    pub last_interaction_at: Option<DateTime<Utc>>,
}

/// How a contact list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactSort {
    #[default]
    Name,
    /// Most recent interaction first; contacts without one last.
    LastInteraction,
}

/// Which contacts to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactListQuery {
    /// Words matched against names and addresses (case-insensitive substring).
    pub search: Option<String>,
    pub company: Option<CompanyId>,
    pub sort: ContactSort,
    pub limit: u32,
    pub offset: u32,
}

impl Default for ContactListQuery {
    fn default() -> Self {
        ContactListQuery { search: None, company: None, sort: ContactSort::Name, limit: 100, offset: 0 }
    }
}

/// What importing one CSV line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "contact_id", rename_all = "snake_case")]
pub enum ImportOutcome {
    Created(ContactId),
    /// An existing contact (found by one of the addresses) got new addresses or a name.
    Updated(ContactId),
    /// Everything on the line was already there: a rerun imports nothing twice.
    Unchanged(ContactId),
}

/// What importing a CSV file did, line by line: the counts of what the good
/// lines did, and every line that failed, in file order.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failures: Vec<ImportFailure>,
}

/// A CSV line that was not imported.
#[derive(Debug)]
pub struct ImportFailure {
    /// The 1-based line of the file (the header is line 1).
    pub line: usize,
    pub reason: ImportFailureReason,
}

/// Why a CSV line was not imported.
#[derive(Debug)]
pub enum ImportFailureReason {
    /// The line itself is wrong (no valid address, a bad name, …): what to change.
    Invalid(String),
    /// The store refused it: an internal address, an address of another contact.
    Refused(crate::StoreError),
}

/// Which part of a timeline to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimelineQuery {
    pub kind: Option<tac_core::timeline::ActivityKind>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Only items a team member's mailbox holds (their address, any case).
    pub team_member: Option<String>,
    /// Emails seen from the contact: inbound when they sent it.
    pub direction: Option<Direction>,
    /// Plain words over subjects and bodies, as far as visibility allows.
    pub search: Option<String>,
    /// Page size; 0 means the default (50), and at most 500.
    pub limit: u32,
    /// Where the previous page ended.
    pub cursor: Option<tac_core::timeline::TimelineCursor>,
}

impl TimelineQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;

    pub(crate) fn page_size(&self) -> u32 {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// One page of a timeline, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelinePage {
    pub items: Vec<tac_core::timeline::TimelineItem>,
    /// Pass back as [`TimelineQuery::cursor`] for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// A team member who deals with a contact, and how often (last 90 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamMember {
    pub name: String,
    pub address: String,
    pub interactions: u64,
}

/// What a contact's profile shows above the timeline (docs/architecture.md §6 `summary`),
/// computed from the activity index; rules in `tac_core::insights`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactSummary {
    pub last_interaction_at: Option<DateTime<Utc>>,
    pub next_meeting_at: Option<DateTime<Utc>>,
    pub emails_last_30_days: u64,
    pub emails_last_90_days: u64,
    pub meetings_last_30_days: u64,
    pub meetings_last_90_days: u64,
    /// Up to three, most interactions in the last 90 days first.
    pub top_team_members: Vec<TeamMember>,
    pub follow_up: tac_core::insights::FollowUp,
    /// 0–100; see `tac_core::insights::relationship_strength`.
    pub relationship_strength: u8,
}

/// A contact's activity in one calendar month (UTC), for the activity chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MonthlyActivity {
    /// The first day of the month.
    pub month: chrono::NaiveDate,
    pub emails: u64,
    pub meetings: u64,
}

/// An email body, ready to show: sanitised HTML and plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailBody {
    pub html: String,
    pub text: String,
    /// Remote images removed; the viewer may choose to load them.
    pub blocked_images: usize,
}

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    pub emails: u64,
    pub meetings: u64,
    pub contacts: u64,
}

/// One audit-log entry, newest first when listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub detail: Option<serde_json::Value>,
}

/// The settings an admin changes together (the blocklist and exclusions
/// have their own calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrivacySettings {
    pub visibility: tac_core::privacy::Visibility,
    pub auto_create: tac_core::privacy::AutoCreate,
    pub retention_days: Option<u32>,
    /// Keep subjects and bodies of internal-only items.
    pub keep_internal: bool,
}

/// A new workspace's settings: the policy's defaults.
impl Default for PrivacySettings {
    fn default() -> Self {
        let d = tac_core::privacy::PrivacyPolicy::default();
        PrivacySettings {
            visibility: d.visibility,
            auto_create: d.auto_create,
            retention_days: d.retention_days,
            keep_internal: d.keep_internal,
        }
    }
}

/// Whose timeline to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimelineOf<'a> {
    Contact(ContactId),
    Company(CompanyId),
    /// Everything in the workspace (search over all mail and meetings), as
    /// far as the viewer may see internal-only items.
    Everything(&'a Viewer),
}

// ---- portal accounts ----------------------------------------------------------

id_type!(
    /// A person who signs in to the portal.
    PortalUserId
);

/// What a portal user may do. Admins change integration and privacy
/// settings; members use the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(format!("unknown role `{other}`: use admin or member")),
        }
    }
}

/// A portal user to create. The email is stored trimmed and lowercased;
/// `password_hash` is an argon2 PHC string (never a password), or `None`
/// for someone who only signs in with Microsoft.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPortalUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub role: Role,
}

impl fmt::Debug for NewPortalUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPortalUser")
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "<redacted>"))
            .field("role", &self.role)
            .finish()
    }
}

/// Who is reading an item or searching. It decides whether internal-only
/// items of other people's mailboxes are seen at all (see
/// `tac_core::privacy::may_open_internal_only`); everything else is the
/// same for every viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub admin: bool,
    /// The Entra object id of the viewer's own mailbox, lowercase: known
    /// once they signed in with Microsoft.
    pub user_id: Option<String>,
}

impl Viewer {
    /// Whoever runs `tac-crm` on the server: an admin without a mailbox.
    pub fn operator() -> Viewer {
        Viewer { admin: true, user_id: None }
    }

    /// A portal user: their role, and the mailbox of the Microsoft account
    /// linked to them.
    pub fn of(user: &PortalUser) -> Viewer {
        Viewer {
            admin: user.role == Role::Admin,
            user_id: user.oidc_object_id.as_deref().map(|id| id.trim().to_ascii_lowercase()),
        }
    }
}

/// A portal user as stored. `Debug` never shows the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalUser {
    pub id: PortalUserId,
    pub workspace_id: WorkspaceId,
    /// Trimmed and lowercased.
    pub email: String,
    /// May be empty; show the email then (see [`PortalUser::name`]).
    pub display_name: String,
    pub role: Role,
    /// argon2 PHC string; `None` for Microsoft-only sign-in.
    pub password_hash: Option<String>,
    /// Sign in with Microsoft: the Entra tenant id (`tid`) and object id
    /// (`oid`) that identify this person. Both or neither.
    pub oidc_tenant_id: Option<String>,
    pub oidc_object_id: Option<String>,
    /// The admin role came from an Entra directory role chosen on the
    /// Integrations page, and goes with it. An admin made in TAC is never
    /// demoted by Entra.
    pub admin_from_entra: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl PortalUser {
    /// The name to greet the user by: the display name, else the email.
    pub fn name(&self) -> &str {
        if self.display_name.trim().is_empty() { &self.email } else { &self.display_name }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl fmt::Debug for PortalUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalUser")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "<redacted>"))
            .field("oidc_tenant_id", &self.oidc_tenant_id)
            .field("oidc_object_id", &self.oidc_object_id)
            .field("admin_from_entra", &self.admin_from_entra)
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .finish()
    }
}

/// A live session: who it belongs to and the CSRF token its forms carry.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSession {
    pub user: PortalUser,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSession")
            .field("user", &self.user)
            .field("csrf_token", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Failed sign-ins counted over a window, for throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginFailures {
    pub count: u64,
    /// The oldest failure in the window: once it leaves the window, the
    /// count drops by one.
    pub oldest: Option<DateTime<Utc>>,
    /// The most recent failure, which a delay is counted from.
    pub latest: Option<DateTime<Utc>>,
}

/// The failed sign-ins that bear on one attempt, within the window: of the
/// account (from anywhere), of the source address (for any account), and
/// of the account from this source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttemptHistory {
    pub account: LoginFailures,
    pub source: LoginFailures,
    pub pair: LoginFailures,
}

/// Whether a sign-in attempt may check its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted as a failure already; a successful sign-in clears it.
    Granted,
    /// Refused before the password is checked, and not counted.
    Refused { retry_at: DateTime<Utc> },
}

/// A person signing in with Microsoft for the first time: provisioned as a
/// member without a password, identified by tenant id + object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMicrosoftUser {
    /// The id_token's `tid`.
    pub tenant_id: String,
    /// The id_token's `oid` (the Graph user id).
    pub object_id: String,
    /// From the id_token (`email`, else `preferred_username`); stored
    /// trimmed and lowercased. Shown, never used to find the person.
    pub email: String,
    pub display_name: String,
}

/// A Sign in with Microsoft under way, as stored while the browser is at
/// Microsoft. `Debug` hides the code verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcLogin {
    /// SHA-256 of the random value in the browser's cookie ([`crate::token_hash`]).
    pub browser_hash: String,
    pub nonce: String,
    /// The PKCE verifier, sent with the code to the token endpoint.
    pub code_verifier: String,
    /// Where to go after signing in (a path on this site).
    pub next_path: String,
    /// Set when a signed-in portal user started this to link their
    /// Microsoft account: the callback links instead of signing in.
    pub link_user_id: Option<PortalUserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcLogin")
            .field("browser_hash", &self.browser_hash)
            .field("nonce", &self.nonce)
            .field("code_verifier", &"<redacted>")
            .field("next_path", &self.next_path)
            .field("link_user_id", &self.link_user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Portal users whose role an Entra directory role changed, by email.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraAdminChanges {
    pub promoted: Vec<String>,
    pub demoted: Vec<String>,
}
