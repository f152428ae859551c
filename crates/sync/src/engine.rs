//! One sync pass: the directory, then every mailbox in scope, each on its own
//! until it is caught up.
//!
//! Mailboxes run in parallel; inside a mailbox at most four requests are in
//! flight (Outlook's MailboxConcurrency limit), one per folder chain. Every
//! page is written with its cursor in one transaction, so a pass can be
//! killed at any moment and the next one resumes where it stopped. A mailbox
//! that fails is recorded as such and never stops the others.

use crate::normalize::{self, DirectoryIndex, MailboxContext};
use chrono::{Duration, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tac_core::privacy::PrivacyPolicy;
use tac_core::{
    DirectoryGroup, DirectoryRole, DirectoryUser, MailboxState, Participant, ParticipantRole, TenantDomain,
};
use tac_graph::resources::{
    Event, MESSAGE_EXPAND, MESSAGE_SELECT, MESSAGE_SELECT_BASIC, MailFolder, MeetingKind, Message,
};
use tac_graph::{DeltaItem, ErrorClass, GraphClient, GraphError, Prefer};
use tac_store::{CursorScope, MailboxId, RoundState, Store, SyncCursor, WorkspaceId};

pub use tac_store::MailboxScope;
use tokio::sync::Semaphore;

/// Outlook's concurrent-request limit per app and mailbox.
pub const REQUESTS_PER_MAILBOX: usize = 4;

/// Folders never synced, by well-known name (display names are localised).
/// Conflicts, Local Failures and Server Failures live under Sync Issues, and
/// the recoverable-items folders are not in the folder tree Graph lists, so
/// naming them would cost requests and exclude nothing more.
const EXCLUDED_FOLDERS: &[&str] =
    &["deleteditems", "junkemail", "drafts", "outbox", "conversationhistory", "syncissues"];

/// Below this many messages since the backfill date, a folder's first round
/// is filtered by that date; at or above it, unfiltered. Graph caps a
/// filtered round at 5,000 messages (docs/graph-facts.md §3); the margin covers mail that
/// arrives between the count and the round.
const FILTERED_ROUND_SAFE: u64 = 4_500;

/// A filtered message delta round that returned this many entries may have
/// been cut short: Graph returns "only up to 5,000 messages" and says
/// nothing when it stops (docs/graph-facts.md §3, §8). It is the same whether the round
/// is a folder's first or a later one (a burst of mail, or thousands of
/// messages moved into the folder), so such a round is read again
/// unfiltered.
const FILTERED_ROUND_CAP: u64 = 5_000;

/// How Graph writes a `DateTimeOffset` in a filter.
const GRAPH_TIME: &str = "%Y-%m-%dT%H:%M:%SZ";

/// How far ahead the calendar is synced, and the longest window Graph's
/// calendarView answers (docs/graph-facts.md §8).
const CALENDAR_AHEAD_DAYS: i64 = 365;
const CALENDAR_MAX_DAYS: i64 = 1825;

/// How many of a mailbox's four concurrent requests folder discovery uses
/// while the calendar and the Inbox chains hold the other two.
const DISCOVERY_REQUESTS: usize = 2;

/// What a pass does.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub import_emails: bool,
    pub calendar_sync: bool,
    pub scope: MailboxScope,
    /// How far back the first round reaches.
    pub backfill_days: i64,
    /// `Prefer: odata.maxpagesize` for delta rounds.
    pub page_size: u32,
    /// Mailboxes synced at the same time.
    pub parallel_mailboxes: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            import_emails: true,
            calendar_sync: true,
            scope: MailboxScope::All,
            backfill_days: 365,
            page_size: 100,
            parallel_mailboxes: 16,
        }
    }
}

impl SyncOptions {
    /// What a saved integration asks for: its Import Emails and Calendar
    /// Synchronization toggles, mailbox scope and backfill, with the
    /// defaults for the rest. The one place the settings become options,
    /// for every command and process that syncs.
    pub fn for_integration(settings: &tac_store::IntegrationSettings) -> SyncOptions {
        SyncOptions {
            import_emails: settings.import_emails,
            calendar_sync: settings.calendar_sync,
            scope: settings.mailbox_scope.clone(),
            backfill_days: settings.backfill_days.into(),
            ..SyncOptions::default()
        }
    }

    /// Whether the toggles leave anything to sync beyond the directory.
    pub fn syncs_items(&self) -> bool {
        self.import_emails || self.calendar_sync
    }
}

/// How one mailbox ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailboxReport {
    pub user_principal_name: String,
    pub state: MailboxState,
    pub emails: u64,
    pub meetings: u64,
    pub removed: u64,
    pub skipped: u64,
    /// Items the privacy policy kept out (blocklisted people, past retention).
    pub withheld: u64,
    /// The error code and what to do about it.
    pub error: Option<(String, String)>,
}

/// How the pass ended.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub mailboxes: Vec<MailboxReport>,
}

impl SyncReport {
    /// Every mailbox ended `ok` or `no_mailbox`.
    pub fn all_ok(&self) -> bool {
        self.mailboxes.iter().all(|m| matches!(m.state, MailboxState::Ok | MailboxState::NoMailbox))
    }
}

/// Watches a pass (the CLI shows progress bars; the worker logs).
pub trait Progress: Send + Sync {
    fn mailboxes(&self, _count: usize) {}
    fn started(&self, _mailbox: &str) {}
    fn items(&self, _mailbox: &str, _count: u64) {}
    fn finished(&self, _report: &MailboxReport) {}
}

/// A progress watcher that does nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Signing in or reading the directory failed: fix the integration settings.
    #[error("{}", .0.advice())]
    Microsoft(GraphError),
    #[error("storage failed: {0}")]
    Store(#[from] tac_store::StoreError),
}

/// Runs one pass to completion.
pub async fn sync_once(
    store: &Store,
    ws: WorkspaceId,
    graph: Arc<GraphClient>,
    options: &SyncOptions,
    progress: Arc<dyn Progress>,
) -> Result<SyncReport, SyncError> {
    graph.access_token().await.map_err(SyncError::Microsoft)?;
    let policy = Arc::new(store.privacy_policy(ws).await?);
    // Nothing older than the retention period is read, let alone kept.
    let mut options = options.clone();
    if let Some(days) = policy.retention_days {
        options.backfill_days = options.backfill_days.min(i64::from(days));
    }
    let options = &options;
    let (users, directory, hints) = sync_directory(store, ws, &graph).await?;
    let users: Vec<DirectoryUser> = users.into_iter().filter(|u| !policy.excluded_mailboxes.contains(&u.id)).collect();
    let in_scope = in_scope(store, ws, users, &options.scope).await?;
    let (in_scope, mut report) = held_back(store, ws, in_scope, &hints).await?;
    progress.mailboxes(in_scope.len());
    let directory = Arc::new(directory);
    let limit = Arc::new(Semaphore::new(options.parallel_mailboxes.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for user in in_scope {
        let licensed = hints.get(&user.id).and_then(|h| h.licensed);
        let (store, graph, directory, options, progress, limit, policy) = (
            store.clone(),
            graph.clone(),
            directory.clone(),
            options.clone(),
            progress.clone(),
            limit.clone(),
            policy.clone(),
        );
        tasks.spawn(async move {
            let _slot = limit.acquire_owned().await;
            progress.started(&user.user_principal_name);
            let job = (&*directory, &*policy, &options);
            let report = sync_mailbox(&store, ws, &graph, job, &user, licensed, progress.as_ref()).await;
            progress.finished(&report);
            report
        });
    }
    // Contacts that pages auto-create are linked again, under the store's
    // linking lock, every few seconds while mailboxes sync (see
    // Store::settle_links) and once more when all are done.
    let settler = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SETTLE_EVERY).await;
                if let Err(error) = store.settle_links(ws).await {
                    tracing::warn!(%error, "links left to settle at the end of the pass");
                }
            }
        })
    };
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(m) => report.mailboxes.push(m),
            Err(e) => tracing::error!(error = %e, "a mailbox task panicked"),
        }
    }
    settler.abort();
    report.mailboxes.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
    let settled = store.settle_links(ws).await?;
    if settled > 0 {
        tracing::info!(settled, "links noted by earlier writes settled");
    }
    let purged = store.purge_retention(ws, Utc::now()).await?;
    if purged != tac_store::PurgeCounts::default() {
        tracing::info!(emails = purged.emails, meetings = purged.meetings, "retention period applied");
    }
    Ok(report)
}

/// The users whose mailboxes the scope takes: everyone, or the members of
/// the chosen groups.
async fn in_scope(
    store: &Store,
    ws: WorkspaceId,
    users: Vec<DirectoryUser>,
    scope: &MailboxScope,
) -> Result<Vec<DirectoryUser>, SyncError> {
    Ok(match scope {
        MailboxScope::All => users,
        MailboxScope::Groups(groups) => {
            let mut members = HashSet::new();
            for g in groups {
                for m in store.group_members(ws, g).await? {
                    members.insert(m.id);
                }
            }
            users.into_iter().filter(|u| members.contains(&u.id)).collect()
        }
    })
}

/// Splits the users into those to sync now and the report of those held
/// back: mailboxes Microsoft throttled wait out their backoff; people
/// without a mailbox are checked again only after a day or once a licence
/// appears.
async fn held_back(
    store: &Store,
    ws: WorkspaceId,
    in_scope: Vec<DirectoryUser>,
    hints: &HashMap<String, MailboxHint>,
) -> Result<(Vec<DirectoryUser>, SyncReport), SyncError> {
    let now = Utc::now();
    let rows: HashMap<String, tac_store::MailboxRow> =
        store.mailboxes(ws).await?.into_iter().map(|m| (m.user_id.clone(), m)).collect();
    let mut report = SyncReport::default();
    let mut to_sync = Vec::with_capacity(in_scope.len());
    for u in in_scope {
        let hint = hints.get(&u.id).copied().unwrap_or_default();
        let (state, code, message) = match hold(rows.get(&u.id), hint, now) {
            None => {
                to_sync.push(u);
                continue;
            }
            Some(Hold::Backoff(until)) => (
                MailboxState::Backoff,
                "backoff".to_string(),
                format!("Microsoft asked TAC to wait; the next attempt is after {until}."),
            ),
            Some(Hold::NoMailbox { code, message, first }) => {
                if first {
                    let address = u.mail.clone().unwrap_or_else(|| u.user_principal_name.clone());
                    let mailbox = store.upsert_mailbox(ws, &u.id, &address).await?;
                    store
                        .set_mailbox_no_mailbox(
                            ws,
                            mailbox,
                            no_mailbox_recheck(now, hint.licensed),
                            hint.licensed,
                            (&code, &message),
                        )
                        .await?;
                }
                (MailboxState::NoMailbox, code, message)
            }
        };
        report.mailboxes.push(MailboxReport {
            user_principal_name: u.user_principal_name.clone(),
            state,
            emails: 0,
            meetings: 0,
            removed: 0,
            skipped: 0,
            withheld: 0,
            error: Some((code, message)),
        });
    }
    Ok((to_sync, report))
}

/// How long a user found without a mailbox is left unprobed, unless a
/// licence appears in the directory meanwhile.
const NO_MAILBOX_RECHECK: Duration = Duration::hours(24);

/// The same for a user who has a licence but no mailbox yet: Exchange
/// creates the mailbox some time after the licence is assigned, and a
/// salesperson's mail should not wait a day for it.
const PROVISIONING_RECHECK: Duration = Duration::hours(1);

/// When a user found without a mailbox is probed again.
fn no_mailbox_recheck(now: chrono::DateTime<Utc>, licensed: Option<bool>) -> chrono::DateTime<Utc> {
    now + if licensed == Some(true) { PROVISIONING_RECHECK } else { NO_MAILBOX_RECHECK }
}

/// What the directory says about a user's mailbox, before any call to it.
#[derive(Debug, Clone, Copy, Default)]
struct MailboxHint {
    /// A guest: its mailbox lives in its home organisation.
    guest: bool,
    /// Whether any licence is assigned; `None` when the directory did not say.
    licensed: Option<bool>,
}

/// Why a mailbox is left alone this pass.
#[derive(Debug, PartialEq)]
enum Hold {
    Backoff(chrono::DateTime<Utc>),
    /// `first`: the reason is new and must be recorded.
    NoMailbox {
        code: String,
        message: String,
        first: bool,
    },
}

/// Whether a mailbox is left alone this pass: a guest always; one in
/// backoff until its time; one found without a mailbox until a day has
/// passed, unless a licence was added since (then it is checked at once).
fn hold(row: Option<&tac_store::MailboxRow>, hint: MailboxHint, now: chrono::DateTime<Utc>) -> Option<Hold> {
    if hint.guest {
        let recorded =
            row.is_some_and(|r| r.state == MailboxState::NoMailbox && r.last_error_code.as_deref() == Some("guest"));
        return Some(Hold::NoMailbox {
            code: "guest".into(),
            message: "a guest of the organisation: its mailbox is in its home organisation, so there is nothing to sync here.".into(),
            first: !recorded,
        });
    }
    let row = row?;
    let until = row.backoff_until.filter(|until| *until > now)?;
    match row.state {
        MailboxState::Backoff => Some(Hold::Backoff(until)),
        MailboxState::NoMailbox if hint.licensed == Some(true) && row.licensed_at_check == Some(false) => None,
        MailboxState::NoMailbox => Some(Hold::NoMailbox {
            code: row.last_error_code.clone().unwrap_or_else(|| "no_mailbox".into()),
            message: format!(
                "{} Checked again after {until}, or as soon as a licence is assigned.",
                row.last_error_message.as_deref().unwrap_or("no Exchange Online mailbox.")
            ),
            first: false,
        }),
        _ => None,
    }
}

/// How often a pass settles the links of contacts its pages auto-created.
const SETTLE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads users (with aliases), groups, members and verified domains into the store.
async fn sync_directory(
    store: &Store,
    ws: WorkspaceId,
    graph: &GraphClient,
) -> Result<(Vec<DirectoryUser>, DirectoryIndex, HashMap<String, MailboxHint>), SyncError> {
    let microsoft = SyncError::Microsoft;
    // The three lists, then every group's members, each set fetched at once.
    // Users are required; groups and verified domains are optional (the
    // connection test warns when they are refused), so a refusal there
    // syncs without them.
    let (org, users, groups) = tokio::join!(graph.organization(), graph.users(), graph.groups());
    let users = users.map_err(microsoft)?;
    let hints: HashMap<String, MailboxHint> =
        users.iter().map(|u| (u.id.clone(), MailboxHint { guest: u.is_guest(), licensed: u.is_licensed() })).collect();
    let org = optional_directory(org, "the organisation's verified domains").map_err(microsoft)?;
    let groups = optional_directory(groups, "groups").map_err(microsoft)?.unwrap_or_default();
    let users: Vec<DirectoryUser> = users
        .into_iter()
        .map(|u| DirectoryUser {
            display_name: u.display_name.unwrap_or_default(),
            user_principal_name: u.user_principal_name.unwrap_or_else(|| u.id.clone()),
            mail: u.mail,
            proxy_addresses: u.proxy_addresses,
            account_enabled: u.account_enabled.unwrap_or(true),
            id: u.id,
        })
        .collect();
    let memberships: Vec<(String, String)> =
        members_of(groups.iter().map(|g| g.id.as_str()), "group members", |id| graph.group_members(id))
            .await?
            .into_iter()
            .filter(|(_, m)| m.is_user())
            .map(|(group, m)| (group, m.id))
            .collect();
    let groups: Vec<DirectoryGroup> = groups
        .into_iter()
        .map(|g| DirectoryGroup { display_name: g.display_name.unwrap_or_default(), mail: g.mail, id: g.id })
        .collect();
    let domains: Vec<TenantDomain> = org
        .map(|o| o.verified_domains)
        .unwrap_or_default()
        .into_iter()
        .map(|d| TenantDomain { name: d.name.to_lowercase(), is_default: d.is_default, is_initial: d.is_initial })
        .collect();
    store.replace_directory(ws, &users, &groups, &memberships, &domains).await?;
    sync_directory_roles(store, ws, graph, &memberships).await?;
    let index = DirectoryIndex::new(&users, &domains);
    Ok((users, index, hints))
}

/// Reads the activated directory roles and the users who hold them, stores
/// them, and lets the roles chosen on the Integrations page promote or
/// demote linked portal users. Roles are optional: refused, they are
/// stored as none, so no one stays a TAC admin on a role TAC can no longer
/// see (admins made in TAC are never touched).
async fn sync_directory_roles(
    store: &Store,
    ws: WorkspaceId,
    graph: &GraphClient,
    memberships: &[(String, String)],
) -> Result<(), SyncError> {
    let microsoft = SyncError::Microsoft;
    let roles = optional_directory(graph.directory_roles().await, "directory roles").map_err(microsoft)?;
    let roles = roles.unwrap_or_default();
    // A role is held by users, and by the members of role-assignable
    // groups that hold it (such groups cannot nest).
    let mut holders = Vec::new();
    for (role, member) in
        members_of(roles.iter().map(|r| r.id.as_str()), "directory role members", |id| graph.directory_role_members(id))
            .await?
    {
        if member.is_user() {
            holders.push((role, member.id));
        } else if member.is_group() {
            let users = memberships.iter().filter(|(g, _)| g.eq_ignore_ascii_case(&member.id)).map(|(_, u)| u);
            holders.extend(users.map(|u| (role.clone(), u.clone())));
        }
    }
    let roles: Vec<DirectoryRole> = roles
        .into_iter()
        .filter_map(|r| {
            Some(DirectoryRole {
                role_template_id: r.role_template_id?,
                display_name: r.display_name.unwrap_or_default(),
                description: r.description.unwrap_or_default(),
                id: r.id,
            })
        })
        .collect();
    store.replace_directory_roles(ws, &roles, &holders).await?;
    let changes = store.reconcile_entra_admins(ws).await?;
    for email in &changes.promoted {
        tracing::info!(%email, "an Entra role made this portal user an admin");
    }
    for email in &changes.demoted {
        tracing::info!(%email, "this portal user no longer holds an Entra role that makes a TAC admin");
    }
    Ok(())
}

/// The members of each group or role (`owners`), all fetched at once, as
/// `(owner id, member)` pairs. A refused list is left out
/// ([`optional_directory`]).
async fn members_of<'a, F, Fut>(
    owners: impl Iterator<Item = &'a str>,
    what: &str,
    fetch: F,
) -> Result<Vec<(String, tac_graph::resources::DirectoryObject)>, SyncError>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<tac_graph::resources::DirectoryObject>, GraphError>>,
{
    let mut pairs = Vec::new();
    let fetch = &fetch;
    let mut pending: Vec<_> = owners.map(|id| Box::pin(async move { (id, fetch(id).await) })).collect();
    while !pending.is_empty() {
        let ((owner, members), _, rest) = select_all(pending).await;
        pending = rest;
        for m in optional_directory(members, what).map_err(SyncError::Microsoft)?.unwrap_or_default() {
            pairs.push((owner.to_owned(), m));
        }
    }
    Ok(pairs)
}

/// A directory read TAC can do without: refused, it is left out with a
/// warning; any other failure still fails the pass.
fn optional_directory<T>(result: Result<T, GraphError>, what: &str) -> Result<Option<T>, GraphError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.class() == ErrorClass::AccessDenied => {
            tracing::warn!(error = %e, "the app may not read {what}; syncing without them");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[derive(Default)]
struct Counts {
    emails: u64,
    meetings: u64,
    removed: u64,
    skipped: u64,
    /// Items the privacy policy kept out (blocklist, retention).
    withheld: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.emails += other.emails;
        self.meetings += other.meetings;
        self.removed += other.removed;
        self.skipped += other.skipped;
        self.withheld += other.withheld;
    }
}

/// A sequential chain of delta pages inside one mailbox.
enum Chain {
    Calendar,
    /// A mail folder, with the item count Graph gave for it (all dates).
    Folder {
        id: String,
        is_sent: bool,
        total: Option<u64>,
    },
}

/// A chain's live copies: (graph id, internetMessageId or iCalUId).
type StoredIds = Vec<(String, String)>;

/// Where a chain's round stands: where it starts (see `MailboxJob::start`),
/// then how far it has read.
struct Start {
    link: String,
    round: RoundState,
    /// Whether `link` is the first link of a round (not a saved cursor).
    at_start: bool,
    /// After a reset: what was stored before, and what the new round has
    /// confirmed so far.
    reconcile: Option<(StoredIds, HashSet<String>)>,
}

/// What finished, in a mailbox's set of concurrent work.
enum Step {
    Chain(Result<Counts, JobError>),
    Discovered(Result<(Vec<MailFolder>, Option<String>), GraphError>),
}

/// Syncs one mailbox and records how it went. Never fails: failures become its state.
async fn sync_mailbox(
    store: &Store,
    ws: WorkspaceId,
    graph: &GraphClient,
    (directory, policy, options): (&DirectoryIndex, &PrivacyPolicy, &SyncOptions),
    user: &DirectoryUser,
    licensed: Option<bool>,
    progress: &dyn Progress,
) -> MailboxReport {
    let address = user.mail.clone().unwrap_or_else(|| user.user_principal_name.clone());
    let mut report = MailboxReport {
        user_principal_name: user.user_principal_name.clone(),
        state: MailboxState::Failed,
        emails: 0,
        meetings: 0,
        removed: 0,
        skipped: 0,
        withheld: 0,
        error: None,
    };
    let mailbox = match store.upsert_mailbox(ws, &user.id, &address).await {
        Ok(id) => id,
        Err(e) => {
            report.error = Some(("storage".into(), e.to_string()));
            return report;
        }
    };
    let _ = store.set_mailbox_state(ws, mailbox, MailboxState::Syncing, None).await;
    let job = MailboxJob {
        store,
        ws,
        graph,
        mailbox,
        user,
        ctx: MailboxContext { user_id: &user.id, directory },
        policy,
        options,
        progress,
    };
    let outcome = job.run().await;
    let counts = match &outcome {
        Ok(c) => c,
        Err((c, _)) => c,
    };
    report.emails = counts.emails;
    report.meetings = counts.meetings;
    report.removed = counts.removed;
    report.skipped = counts.skipped;
    report.withheld = counts.withheld;
    let (state, error) = match &outcome {
        Ok(_) => (MailboxState::Ok, None),
        Err((_, JobError::Graph(e))) => {
            let state = match e.class() {
                ErrorClass::NoMailbox => MailboxState::NoMailbox,
                ErrorClass::AccessDenied => MailboxState::AccessDenied,
                ErrorClass::Transient => MailboxState::Backoff,
                _ => MailboxState::Failed,
            };
            (state, Some((e.code(), e.advice())))
        }
        Err((_, JobError::Store(e))) => (MailboxState::Failed, Some(("storage".to_string(), e.to_string()))),
    };
    let stored_error = error.as_ref().map(|(c, m)| (c.as_str(), m.as_str()));
    let recorded = match (state, stored_error) {
        // Not probed again for a day (an hour with a licence), or until a licence appears.
        (MailboxState::NoMailbox, Some(reason)) => {
            store.set_mailbox_no_mailbox(ws, mailbox, no_mailbox_recheck(Utc::now(), licensed), licensed, reason).await
        }
        _ => store.set_mailbox_state(ws, mailbox, state, stored_error).await,
    };
    if let Err(e) = recorded {
        tracing::error!(mailbox = %report.user_principal_name, error = %e, "could not record the mailbox state");
    }
    if state == MailboxState::Ok {
        if let Err(e) = store.record_mailbox_success(ws, mailbox).await {
            tracing::error!(mailbox = %report.user_principal_name, error = %e, "could not record the mailbox success");
        }
    } else if state == MailboxState::Backoff {
        // Throttled past the retry budget: come back after Microsoft's wait, or five minutes.
        let wait = match &outcome {
            Err((_, JobError::Graph(e))) => e.retry_after().unwrap_or(std::time::Duration::from_secs(300)),
            _ => std::time::Duration::from_secs(300),
        };
        let until = Utc::now() + Duration::from_std(wait).unwrap_or(Duration::minutes(5));
        let _ = store.set_mailbox_backoff(ws, mailbox, until, stored_error).await;
    }
    report.state = state;
    report.error = error;
    report
}

enum JobError {
    Graph(GraphError),
    Store(tac_store::StoreError),
}

impl From<GraphError> for JobError {
    fn from(e: GraphError) -> Self {
        JobError::Graph(e)
    }
}

impl From<tac_store::StoreError> for JobError {
    fn from(e: tac_store::StoreError) -> Self {
        JobError::Store(e)
    }
}

struct MailboxJob<'a> {
    store: &'a Store,
    ws: WorkspaceId,
    graph: &'a GraphClient,
    mailbox: MailboxId,
    user: &'a DirectoryUser,
    ctx: MailboxContext<'a>,
    policy: &'a PrivacyPolicy,
    options: &'a SyncOptions,
    progress: &'a dyn Progress,
}

impl MailboxJob<'_> {
    /// Runs every chain of the mailbox side by side, never more than four
    /// requests at a time. The calendar and the Inbox (in nearly every
    /// mailbox the longest chain) start at once; folder discovery uses the
    /// other two slots, and the folders it finds follow, longest first. So a
    /// mailbox takes little longer than its longest chain.
    async fn run(&self) -> Result<Counts, (Counts, JobError)> {
        let mut counts = Counts::default();
        let requests = Semaphore::new(REQUESTS_PER_MAILBOX);
        let requests = &requests;
        let mut pending: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Step> + Send + '_>>> = Vec::new();
        if self.options.calendar_sync {
            pending.push(Box::pin(async move {
                let _slot = requests.acquire().await;
                Step::Chain(self.chain(&Chain::Calendar).await)
            }));
        }
        if self.options.import_emails {
            let (inbox_found, inbox_known) = tokio::sync::oneshot::channel();
            pending.push(Box::pin(async move {
                let _slot = requests.acquire().await;
                match self.graph.well_known_folder(&self.user.id, "inbox").await {
                    Ok(inbox) => {
                        let _ = inbox_found.send(inbox.id.clone());
                        let chain = Chain::Folder { id: inbox.id, is_sent: false, total: inbox.total_item_count };
                        Step::Chain(self.chain(&chain).await)
                    }
                    Err(e) => Step::Chain(Err(e.into())),
                }
            }));
            pending.push(Box::pin(async move {
                let _slots = requests.acquire_many(DISCOVERY_REQUESTS as u32).await;
                let found = self.folders().await;
                // Discovery lists the Inbox too; its chain already runs. If
                // the Inbox lookup failed, the folder is synced from here.
                let inbox = inbox_known.await.ok();
                Step::Discovered(found.map(|mut f| {
                    f.0.retain(|folder| Some(&folder.id) != inbox.as_ref());
                    f
                }))
            }));
        }
        let mut first_error = None;
        while !pending.is_empty() {
            let (step, _, rest) = select_all(pending).await;
            pending = rest;
            match step {
                Step::Chain(Ok(c)) => counts.add(&c),
                // Let the other chains finish their pages: what they fetched is kept.
                Step::Chain(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Step::Discovered(Err(e)) => {
                    first_error.get_or_insert(e.into());
                }
                Step::Discovered(Ok((mut found, sent))) => {
                    found.sort_by_key(|f| std::cmp::Reverse(f.total_item_count.unwrap_or(0)));
                    for f in found {
                        let is_sent = sent.as_deref() == Some(f.id.as_str());
                        let chain = Chain::Folder { is_sent, total: f.total_item_count, id: f.id };
                        pending.push(Box::pin(async move {
                            let _slot = requests.acquire().await;
                            Step::Chain(self.chain(&chain).await)
                        }));
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err((counts, e)),
            None => Ok(counts),
        }
    }

    /// The folders to sync: everything but the excluded well-known folders,
    /// their subfolders, search folders and hidden folders; and which one is
    /// Sent Items. The folder tree and the well-known names are read side by
    /// side, `DISCOVERY_REQUESTS` at a time.
    async fn folders(&self) -> Result<(Vec<MailFolder>, Option<String>), GraphError> {
        let uid = &self.user.id;
        let limit = Semaphore::new(DISCOVERY_REQUESTS);
        let mut names: Vec<&str> = EXCLUDED_FOLDERS.to_vec();
        names.push("sentitems");
        // The tree first: its levels are sequential, the names are not.
        let (all, ids) =
            tokio::join!(self.graph.mail_folders(uid, &limit), self.graph.well_known_folder_ids(uid, &names, &limit));
        let (all, mut ids) = (all?, ids?);
        let sent = ids.pop().flatten();
        let excluded: HashSet<String> = ids.into_iter().flatten().collect();
        let parent_of: HashMap<&str, Option<&String>> =
            all.iter().map(|f| (f.id.as_str(), f.parent_folder_id.as_ref())).collect();
        let under_excluded = |start: &str| -> bool {
            let mut id = start.to_string();
            for _ in 0..64 {
                if excluded.contains(&id) {
                    return true;
                }
                match parent_of.get(id.as_str()).copied().flatten() {
                    Some(p) => id = p.clone(),
                    None => return false,
                }
            }
            false
        };
        let keep =
            all.iter().filter(|f| !f.is_search_folder() && !f.is_hidden && !under_excluded(&f.id)).cloned().collect();
        Ok((keep, sent))
    }

    /// The first link of a chain's round. For a mail folder, a selected
    /// message delta (`basic`: without the bodies and extended properties a
    /// Mail.ReadBasic.All app may not read): filtered by the backfill date
    /// when the folder holds fewer messages than a filtered round can
    /// return, else unfiltered (see [`MailboxJob::filter_is_safe`]). For the
    /// calendar, the calendar view over the backfill window and a year ahead.
    async fn initial_link(&self, chain: &Chain, basic: bool, unfiltered: bool) -> (String, RoundState) {
        let uid = &self.user.id;
        let now = Utc::now();
        match chain {
            Chain::Folder { id, total, .. } => {
                let select = if basic {
                    format!("$select={MESSAGE_SELECT_BASIC}")
                } else {
                    format!("$select={MESSAGE_SELECT}&$expand={MESSAGE_EXPAND}")
                };
                let delta = format!("/users/{uid}/mailFolders/{id}/messages/delta?{select}");
                if !unfiltered && self.filter_is_safe(id, *total).await {
                    let since = self.mail_cutoff(now).format(GRAPH_TIME);
                    (
                        format!("{delta}&$filter=receivedDateTime%20ge%20{since}"),
                        RoundState { filtered: true, items: 0 },
                    )
                } else {
                    tracing::info!(mailbox = %self.user.user_principal_name, folder = %id, "a big folder: its round is unfiltered, older mail is dropped here");
                    (delta, RoundState::default())
                }
            }
            Chain::Calendar => {
                let (start, end) = self.calendar_window(now);
                let (start, end) = (start.format("%Y-%m-%dT00:00:00Z"), end.format("%Y-%m-%dT00:00:00Z"));
                (
                    format!("/users/{uid}/calendarView/delta?startDateTime={start}&endDateTime={end}"),
                    RoundState::default(),
                )
            }
        }
    }

    /// Whether a finished round may have been cut short by the filtered
    /// round's cap ([`FILTERED_ROUND_CAP`]), so must be read again unfiltered.
    fn capped(chain: &Chain, round: RoundState) -> bool {
        matches!(chain, Chain::Folder { .. }) && round.filtered && round.items >= FILTERED_ROUND_CAP
    }

    /// The oldest mail the sync keeps: the backfill window's start.
    fn mail_cutoff(&self, now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
        now - Duration::days(self.options.backfill_days)
    }

    /// Whether a round filtered by the backfill date can return the whole
    /// folder. A filtered message delta returns at most 5,000 messages
    /// (docs/graph-facts.md §3), silently; so unless the folder is known to be small,
    /// its messages in the window are counted first (one request), with a
    /// margin for mail that arrives meanwhile. A big folder gets an
    /// unfiltered round instead, which Graph does not cap, and the sync
    /// drops what is older than the window ([`MailboxJob::apply`]); its delta
    /// link then tracks every message of the folder. When the count cannot
    /// be had, the unfiltered round is the safe choice.
    async fn filter_is_safe(&self, folder: &str, total: Option<u64>) -> bool {
        if total.is_some_and(|t| t < FILTERED_ROUND_SAFE) {
            return true;
        }
        let since = self.mail_cutoff(Utc::now()).format(GRAPH_TIME);
        let path = format!(
            "/users/{}/mailFolders/{folder}/messages?$filter=receivedDateTime%20ge%20{since}&$count=true&$top=1&$select=id",
            self.user.id
        );
        match self.graph.get_value(&path, &Prefer::default()).await {
            Ok(body) => body["@odata.count"].as_u64().is_some_and(|n| n < FILTERED_ROUND_SAFE),
            Err(error) => {
                tracing::debug!(%error, "could not count a folder's recent mail: its round is unfiltered");
                false
            }
        }
    }

    /// The calendar window: the backfill period and a year ahead, within
    /// Graph's 1,825-day calendarView limit (docs/graph-facts.md §8), so at most
    /// `CALENDAR_MAX_DAYS - 365` days back.
    fn calendar_window(&self, now: chrono::DateTime<Utc>) -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
        // Both ends are written as midnight, so the span is whole days.
        let back = self.options.backfill_days.min(CALENDAR_MAX_DAYS - CALENDAR_AHEAD_DAYS);
        (now - Duration::days(back), now + Duration::days(CALENDAR_AHEAD_DAYS))
    }

    /// Runs one chain until its round ends, resuming from its cursor. The
    /// next page is fetched while the current one is written, so the
    /// database never adds to the chain's length; each page still commits
    /// with the cursor that follows it.
    async fn chain(&self, chain: &Chain) -> Result<Counts, JobError> {
        let scope = match chain {
            Chain::Folder { id, .. } => CursorScope::Folder(id),
            Chain::Calendar => CursorScope::Calendar,
        };
        let prefer = match chain {
            Chain::Folder { .. } => Prefer::mail(self.options.page_size),
            Chain::Calendar => Prefer::calendar(self.options.page_size),
        };
        let mut basic = false;
        let mut pos = self.start(chain, scope).await?;
        let mut counts = Counts::default();
        let mut resets = 0;
        let mut page = self.graph.page(&pos.link, &prefer).await;
        loop {
            let raw = match page {
                Ok(raw) => raw,
                Err(e) if e.class() == ErrorClass::SyncReset && resets < 2 => {
                    // The delta token expired: start this chain's round over.
                    // Copies are keyed by immutable id, so the full round
                    // confirms what is stored without duplicating it; what it
                    // no longer holds is reconciled when it ends.
                    resets += 1;
                    self.restart(chain, scope, &mut pos, basic, false).await?;
                    page = self.graph.page(&pos.link, &prefer).await;
                    continue;
                }
                Err(e)
                    if e.class() == ErrorClass::AccessDenied
                        && !basic
                        && pos.at_start
                        && matches!(chain, Chain::Folder { .. }) =>
                {
                    // An app with Mail.ReadBasic.All only may not ask for
                    // bodies: start the round without them (the connection
                    // test warns the admin). Refused again, it is refused.
                    tracing::info!(mailbox = %self.user.user_principal_name, "mail refused with bodies: syncing without them");
                    basic = true;
                    (pos.link, pos.round) = self.initial_link(chain, true, !pos.round.filtered).await;
                    page = self.graph.page(&pos.link, &prefer).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            pos.at_start = false;
            pos.round.items += raw.value.len() as u64;
            if let Some((_, seen)) = pos.reconcile.as_mut() {
                seen.extend(raw.value.iter().filter_map(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string)));
            }
            let cursor = match (&raw.next_link, &raw.delta_link) {
                (Some(next), _) => SyncCursor::NextLink(next.clone()),
                (None, Some(delta)) => SyncCursor::DeltaLink(delta.clone()),
                (None, None) => {
                    return Err(GraphError::Decode {
                        url: pos.link,
                        reason: "a delta page had neither a next nor a delta link".into(),
                    }
                    .into());
                }
            };
            let write = self.apply(chain, scope, raw, &cursor, pos.round);
            match &cursor {
                SyncCursor::NextLink(next) => {
                    let (written, next_page) = tokio::join!(write, self.graph.page(next, &prefer));
                    counts.add(&written?);
                    pos.link = next.clone();
                    page = next_page;
                }
                SyncCursor::DeltaLink(_) if Self::capped(chain, pos.round) && resets < 2 => {
                    // Cut short, perhaps: what it brought is kept, and the
                    // folder is read again without the filter, which Graph
                    // does not cap; the delta link of that round tracks it all.
                    counts.add(&write.await?);
                    tracing::warn!(mailbox = %self.user.user_principal_name, items = pos.round.items, "a filtered round of a folder reached Graph's 5,000-message cap: reading it again unfiltered");
                    resets += 1;
                    self.restart(chain, scope, &mut pos, basic, true).await?;
                    page = self.graph.page(&pos.link, &prefer).await;
                }
                SyncCursor::DeltaLink(_) => {
                    counts.add(&write.await?);
                    if let Some((stored, seen)) = pos.reconcile {
                        counts.removed += self.reconcile(chain, stored, &seen, &cursor, pos.round).await?;
                    }
                    return Ok(counts);
                }
            }
        }
    }

    /// Starts a chain's round over from its first link (after an expired
    /// delta token, or a filtered round Graph may have cut short). The first
    /// restart notes what is stored, so that what the new round no longer
    /// holds is reconciled when it ends.
    async fn restart(
        &self,
        chain: &Chain,
        scope: CursorScope<'_>,
        pos: &mut Start,
        basic: bool,
        unfiltered: bool,
    ) -> Result<(), JobError> {
        if pos.reconcile.is_none() {
            pos.reconcile = Some((self.stored_ids(chain).await?, HashSet::new()));
        }
        self.store.clear_cursor(self.ws, self.mailbox, scope).await?;
        (pos.link, pos.round) = self.initial_link(chain, basic, unfiltered).await;
        pos.at_start = true;
        Ok(())
    }

    /// Where a chain's round starts this pass: from the saved cursor, or
    /// over from its first link when there is none, when the last filtered
    /// round may have been cut short, or when the cursor was saved under
    /// another Graph URL.
    async fn start(&self, chain: &Chain, scope: CursorScope<'_>) -> Result<Start, JobError> {
        let (saved, saved_round) = match self.store.cursor_and_round(self.ws, self.mailbox, scope).await? {
            Some((cursor, round)) => (Some(cursor), round),
            None => (None, RoundState::default()),
        };
        let over = |link: (String, RoundState), reconcile| {
            let (link, round) = link;
            Start { link, round, at_start: true, reconcile }
        };
        Ok(match saved {
            Some(c) if self.graph.cloud().resolve(c.url()).is_ok() && Self::capped(chain, saved_round) => {
                // The last round hit the cap (and the pass stopped before
                // it was read again): read the folder again, unfiltered.
                tracing::warn!(mailbox = %self.user.user_principal_name, "the last filtered round of a folder may have been cut short: reading it again unfiltered");
                let stored = self.stored_ids(chain).await?;
                self.store.clear_cursor(self.ws, self.mailbox, scope).await?;
                over(self.initial_link(chain, false, true).await, Some((stored, HashSet::new())))
            }
            Some(SyncCursor::NextLink(url)) if self.graph.cloud().resolve(&url).is_ok() => {
                Start { link: url, round: saved_round, at_start: false, reconcile: None }
            }
            Some(SyncCursor::DeltaLink(url)) if self.graph.cloud().resolve(&url).is_ok() => {
                let round = RoundState { filtered: saved_round.filtered, items: 0 };
                Start { link: url, round, at_start: false, reconcile: None }
            }
            Some(_) => {
                // Saved under another Graph URL (the integration's changed, or
                // the emulator moved): following it would send the token
                // elsewhere, so start the round over as after an expired token.
                tracing::info!(
                    mailbox = self.mailbox.0,
                    "the Graph URL changed since the last round: starting it over"
                );
                let stored = self.stored_ids(chain).await?;
                self.store.clear_cursor(self.ws, self.mailbox, scope).await?;
                over(self.initial_link(chain, false, false).await, Some((stored, HashSet::new())))
            }
            None => over(self.initial_link(chain, false, false).await, None),
        })
    }

    /// The live copies of a chain: (graph id, internetMessageId or iCalUId).
    async fn stored_ids(&self, chain: &Chain) -> Result<StoredIds, JobError> {
        Ok(match chain {
            Chain::Folder { id, .. } => self
                .store
                .email_copies(self.ws, self.mailbox)
                .await?
                .into_iter()
                .filter(|c| !c.removed && &c.folder_id == id)
                .map(|c| (c.graph_id, c.internet_message_id))
                .collect(),
            Chain::Calendar => self
                .store
                .meeting_copies(self.ws, self.mailbox)
                .await?
                .into_iter()
                .filter(|c| !c.removed)
                .map(|c| (c.graph_id, c.ical_uid))
                .collect(),
        })
    }

    /// After a full resync, marks removed what the new round should have
    /// returned but did not: copies inside the round's window (mail received
    /// since the backfill cut-off; meetings overlapping the calendar window)
    /// that it never mentioned. Older history outside the window stays.
    async fn reconcile(
        &self,
        chain: &Chain,
        stored: Vec<(String, String)>,
        seen: &HashSet<String>,
        cursor: &SyncCursor,
        round: RoundState,
    ) -> Result<u64, JobError> {
        let now = Utc::now();
        let window_start = now - Duration::days(self.options.backfill_days);
        let window_end = now + Duration::days(CALENDAR_AHEAD_DAYS);
        let mut gone = Vec::new();
        for (graph_id, key) in stored.into_iter().filter(|(g, _)| !seen.contains(g)) {
            let in_window = match chain {
                Chain::Folder { .. } => {
                    self.store.email_by_message_id(self.ws, &key).await?.is_some_and(|e| e.received_at >= window_start)
                }
                Chain::Calendar => self
                    .store
                    .meeting_by_ical_uid(self.ws, &key)
                    .await?
                    .is_some_and(|m| m.start < window_end && m.end > window_start),
            };
            if in_window {
                gone.push(graph_id);
            }
        }
        if gone.is_empty() {
            return Ok(0);
        }
        tracing::info!(mailbox = %self.user.user_principal_name, count = gone.len(), "reconciled items deleted while the sync state was lost");
        let page = Decoded { removed: gone, ..Decoded::empty(chain) };
        self.write(&page, cursor, round).await?;
        Ok(page.removed.len() as u64)
    }

    /// Whether the privacy policy lets an item be stored at all: no
    /// participant on the blocklist, and not older than the retention period.
    fn keeps<'p>(&self, mut people: impl Iterator<Item = &'p str>, at: chrono::DateTime<Utc>) -> bool {
        let too_old = self.policy.retention_cutoff(Utc::now()).is_some_and(|cutoff| at < cutoff);
        !too_old && !people.any(|p| self.policy.blocklist.blocks(p))
    }

    /// The contacts the auto-creation policy wants for an item's people.
    fn candidates(&self, people: &[Participant], we_sent: bool) -> Vec<tac_core::contacts::AutoCreateCandidate> {
        tac_core::contacts::auto_create_candidates(
            self.policy.auto_create,
            people,
            we_sent,
            |a| self.ctx.directory.is_internal(a),
            &self.policy.blocklist,
        )
    }

    /// Normalises one page and writes it with its cursor.
    async fn apply(
        &self,
        chain: &Chain,
        scope: CursorScope<'_>,
        raw: tac_graph::RawPage,
        cursor: &SyncCursor,
        round: RoundState,
    ) -> Result<Counts, JobError> {
        let page = match chain {
            Chain::Folder { id, is_sent, .. } => self.decode_mail(raw, id, *is_sent),
            Chain::Calendar => self.decode_calendar(raw),
        };
        self.write(&page, cursor, round).await?;
        for (id, reason) in &page.skipped {
            tracing::warn!(mailbox = %self.user.user_principal_name, item = %id, %reason, ?scope, "skipped an item that could not be read");
            self.store.record_skipped_item(self.ws, self.mailbox, id, reason).await?;
        }
        let counts = Counts {
            emails: if let Items::Mail { items, .. } = &page.items { items.len() as u64 } else { 0 },
            meetings: if let Items::Calendar(items) = &page.items { items.len() as u64 } else { 0 },
            removed: page.removed.len() as u64,
            skipped: page.skipped.len() as u64,
            withheld: page.withheld,
        };
        self.progress.items(&self.user.user_principal_name, counts.emails + counts.meetings);
        Ok(counts)
    }

    /// Writes a page with its cursor, the one path for mail and calendar
    /// alike: a deadlock or a busy database is tried again (page writes are
    /// idempotent), so neither kind can fail a mailbox for it.
    async fn write(
        &self,
        page: &Decoded,
        cursor: &SyncCursor,
        round: RoundState,
    ) -> Result<tac_store::PageOutcome, tac_store::StoreError> {
        let (ws, mailbox, removed, contacts) = (self.ws, self.mailbox, &page.removed, &page.new_contacts);
        retry_store(|| async move {
            match &page.items {
                Items::Mail { folder_id, items } => {
                    self.store.apply_mail_page(ws, mailbox, folder_id, items, removed, contacts, cursor, round).await
                }
                Items::Calendar(items) => {
                    self.store.apply_calendar_page(ws, mailbox, items, removed, contacts, cursor).await
                }
            }
        })
        .await
    }

    /// A `messages/delta` page of a folder, normalised and filtered by the
    /// privacy policy.
    fn decode_mail(&self, raw: tac_graph::RawPage, folder_id: &str, is_sent: bool) -> Decoded {
        let cutoff = self.mail_cutoff(Utc::now());
        let mut page = Decoded::new(Items::Mail { folder_id: folder_id.to_owned(), items: Vec::new() });
        let mut items = Vec::new();
        page.entries(raw, |page, m: Message| {
            // An unfiltered round brings the folder's older mail too: not kept.
            if m.received_date_time.is_some_and(|t| t < cutoff) {
                return;
            }
            let (mut record, copy) = match normalize::email(&self.ctx, &m, folder_id, is_sent) {
                Ok(normalised) => normalised,
                Err(reason) => return page.skipped.push((m.id, reason.to_string())),
            };
            if let MeetingKind::Unknown(kind) = m.meeting_kind() {
                tracing::warn!(mailbox = %self.user.user_principal_name, item = %m.id, ?kind, "a meeting message of unknown kind is kept as an email");
            }
            if !self.keeps(record.participants.iter().map(|p| p.address.as_str()), record.sent_at) {
                page.withheld += 1;
                return;
            }
            let level = self.policy.level_for(record.internal_only);
            tac_core::privacy::minimise_email(&mut record, level);
            let we_sent = copy.direction == tac_core::Direction::Outbound;
            page.new_contacts.extend(self.candidates(&record.participants, we_sent));
            items.push((record, copy));
        });
        page.items = Items::Mail { folder_id: folder_id.to_owned(), items };
        page
    }

    /// A `calendarView/delta` page, normalised and filtered by the privacy
    /// policy.
    fn decode_calendar(&self, raw: tac_graph::RawPage) -> Decoded {
        let mut page = Decoded::new(Items::Calendar(Vec::new()));
        let mut items = Vec::new();
        page.entries(raw, |page, e: Event| {
            let (mut record, copy) = match normalize::meeting(&self.ctx, &e) {
                Ok(normalised) => normalised,
                Err(reason) => return page.skipped.push((e.id, reason.to_string())),
            };
            let people: Vec<Participant> = std::iter::once(record.organizer.clone())
                .chain(record.attendees.iter().map(|a| Participant {
                    role: ParticipantRole::Attendee,
                    address: a.address.clone(),
                    name: a.name.clone(),
                }))
                .collect();
            if !self.keeps(people.iter().map(|p| p.address.as_str()), record.end) {
                page.withheld += 1;
                return;
            }
            let level = self.policy.level_for(record.internal_only);
            tac_core::privacy::minimise_meeting(&mut record, level);
            let organised_here = self.ctx.directory.is_internal(&record.organizer.address);
            page.new_contacts.extend(self.candidates(&people, organised_here));
            items.push((record, copy));
        });
        page.items = Items::Calendar(items);
        page
    }
}

/// A page's items, normalised, of the chain's kind.
enum Items {
    /// A folder's messages.
    Mail {
        folder_id: String,
        items: Vec<(tac_core::EmailRecord, tac_core::EmailCopy)>,
    },
    Calendar(Vec<(tac_core::MeetingRecord, tac_core::MeetingCopy)>),
}

/// A page as the store takes it, with what normalising it left out.
struct Decoded {
    items: Items,
    /// Immutable ids of `@removed` entries.
    removed: Vec<String>,
    new_contacts: Vec<tac_core::contacts::AutoCreateCandidate>,
    /// Items that could not be read: (id, reason).
    skipped: Vec<(String, String)>,
    /// Items the privacy policy kept out (blocklist, retention).
    withheld: u64,
}

impl Decoded {
    fn new(items: Items) -> Decoded {
        Decoded { items, removed: Vec::new(), new_contacts: Vec::new(), skipped: Vec::new(), withheld: 0 }
    }

    /// Reads each entry of a delta page as a `T`: removals and entries that
    /// cannot be read are noted here, the rest are handed to `changed`.
    fn entries<T: serde::de::DeserializeOwned>(
        &mut self,
        raw: tac_graph::RawPage,
        mut changed: impl FnMut(&mut Decoded, T),
    ) {
        for item in raw.value.into_iter().map(tac_graph::delta::decode_item::<T>) {
            match item {
                Ok(DeltaItem::Changed(x)) => changed(self, x),
                Ok(DeltaItem::Removed { id, .. }) => self.removed.push(id),
                Err(bad) => self.skipped.push((bad.id.unwrap_or_else(|| "(no id)".into()), bad.reason)),
            }
        }
    }

    /// A page of `chain`'s kind with nothing in it.
    fn empty(chain: &Chain) -> Decoded {
        Decoded::new(match chain {
            Chain::Folder { id, .. } => Items::Mail { folder_id: id.clone(), items: Vec::new() },
            Chain::Calendar => Items::Calendar(Vec::new()),
        })
    }
}

/// How often a page write is tried when the database reports a deadlock
/// or a busy lock: page writes are idempotent, so trying again is safe.
const STORE_RETRY: tac_graph::RetryPolicy = tac_graph::RetryPolicy {
    max_attempts: 5,
    base_delay: std::time::Duration::from_millis(50),
    max_delay: std::time::Duration::from_secs(2),
    max_retry_after: std::time::Duration::from_secs(2),
};

/// Runs a page write, again after a transient database failure.
async fn retry_store<T, F, Fut>(mut write: F) -> Result<T, tac_store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tac_store::StoreError>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(e) if e.is_transient() && attempt < STORE_RETRY.max_attempts => {
                tracing::debug!(error = %e, attempt, "retrying a page write");
                tokio::time::sleep(STORE_RETRY.backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Waits for the first of several futures (a small `select_all`, so the
/// crate needs no futures dependency).
async fn select_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> (F::Output, usize, Vec<F>) {
    std::future::poll_fn(move |cx| {
        for i in 0..futures.len() {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(&mut futures[i]).poll(cx) {
                let mut rest = std::mem::take(&mut futures);
                rest.remove(i);
                return std::task::Poll::Ready((out, i, rest));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: MailboxState, until: Option<chrono::DateTime<Utc>>, licensed: Option<bool>) -> tac_store::MailboxRow {
        tac_store::MailboxRow {
            id: MailboxId(1),
            user_id: "u".into(),
            address: "ann@contoso.com".into(),
            state,
            last_success_at: None,
            last_error_code: Some("MailboxNotEnabledForRESTAPI".into()),
            last_error_message: Some("no mailbox.".into()),
            backoff_until: until,
            licensed_at_check: licensed,
            email_count: 0,
            meeting_count: 0,
            skipped_count: 0,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn people_without_a_mailbox_are_checked_daily_or_when_licensed() {
        let now = Utc::now();
        let member = MailboxHint { guest: false, licensed: Some(false) };
        let soon = now + Duration::hours(3);
        let unlicensed = row(MailboxState::NoMailbox, Some(soon), Some(false));
        assert!(matches!(hold(Some(&unlicensed), member, now), Some(Hold::NoMailbox { first: false, .. })));
        let licence_added = MailboxHint { licensed: Some(true), ..member };
        assert_eq!(hold(Some(&unlicensed), licence_added, now), None, "a new licence is checked at once");
        let a_day_later = row(MailboxState::NoMailbox, Some(now - Duration::minutes(1)), Some(false));
        assert_eq!(hold(Some(&a_day_later), member, now), None, "checked again after a day");
        assert_eq!(hold(None, member, now), None, "a new user is checked");
        assert_eq!(hold(Some(&row(MailboxState::Ok, None, None)), member, now), None);
        assert_eq!(hold(Some(&row(MailboxState::Backoff, Some(soon), None)), member, now), Some(Hold::Backoff(soon)));
    }

    #[test]
    fn a_licensed_user_still_without_a_mailbox_is_checked_again_within_the_hour_others_after_a_day() {
        let now = Utc::now();
        assert_eq!(no_mailbox_recheck(now, Some(true)), now + Duration::hours(1), "the mailbox is on its way");
        assert_eq!(no_mailbox_recheck(now, Some(false)), now + Duration::hours(24));
        assert_eq!(no_mailbox_recheck(now, None), now + Duration::hours(24), "unknown: the cautious interval");
    }

    #[test]
    fn guests_are_never_probed_and_their_reason_is_recorded_once() {
        let now = Utc::now();
        let guest = MailboxHint { guest: true, licensed: None };
        assert!(
            matches!(hold(None, guest, now), Some(Hold::NoMailbox { first: true, ref code, .. }) if code == "guest")
        );
        let mut recorded = row(MailboxState::NoMailbox, Some(now + NO_MAILBOX_RECHECK), None);
        recorded.last_error_code = Some("guest".into());
        assert!(matches!(hold(Some(&recorded), guest, now), Some(Hold::NoMailbox { first: false, .. })));
    }
}
