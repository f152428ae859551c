//! `tac-crm privacy …`: the workspace's privacy policy from the command line
//! (docs/architecture.md §5): visibility level, contact auto-creation, retention, the
//! blocklist and excluded mailboxes, and the audit log of every change.
//!
//! Each change applies to data already stored; that happens in `tac-store`,
//! in the same transaction as the change and its audit entry. Here we only
//! parse, call and say what was purged. Mailboxes are named by address on
//! the command line and resolved to directory users here, because the
//! policy stores the users' Graph object ids.

use crate::JsonFlag;
use crate::settings::{Config, Settings};
use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use std::process::ExitCode;
use tac_core::DirectoryUser;
use tac_core::privacy::{AutoCreate, BlockEntry, Visibility};
use tac_store::{PrivacySettings, PurgeCounts, StoreError};

/// Who the audit log names for changes made here.
const ACTOR: &str = "cli";

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Show the visibility level, auto-creation, retention, blocklist and excluded mailboxes.
    Show(JsonFlag),
    /// Change the visibility level, contact auto-creation or retention; only what you give changes.
    Set(SetArgs),
    /// Block an address (ann@contoso.com) or a domain and its subdomains (@contoso.com); purges what is stored.
    Block(EntryArg),
    /// Remove a blocklist entry; mail from then on is synced again (what was purged stays purged).
    Unblock(EntryArg),
    /// Stop syncing a team member's mailbox and purge what only it held.
    ExcludeMailbox(MailboxArg),
    /// Sync an excluded mailbox again from the next sync on.
    IncludeMailbox(MailboxArg),
    /// The audit log of privacy and integration changes, newest first.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// metadata (who and when), subject (plus subjects) or full (plus bodies).
    #[arg(long)]
    visibility: Option<Visibility>,
    /// Which external people become contacts on their own: none, sent or sent_and_received.
    #[arg(long)]
    auto_create: Option<AutoCreate>,
    /// Delete activity older than this many days.
    #[arg(long, conflicts_with = "no_retention")]
    retention_days: Option<u32>,
    /// Keep activity however old it is.
    #[arg(long)]
    no_retention: bool,
    /// Keep subjects and bodies of mail and meetings among colleagues only
    /// (`true`), or keep only who and when (`false`, the default).
    #[arg(long)]
    keep_internal: Option<bool>,
}

#[derive(Debug, Args)]
pub struct EntryArg {
    /// An address (ann@contoso.com) or a domain (@contoso.com).
    entry: String,
}

#[derive(Debug, Args)]
pub struct MailboxArg {
    /// The team member's address (primary address, sign-in name or alias).
    address: String,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// At most this many entries.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
}

pub async fn run(config: &Config, command: PrivacyCommand) -> anyhow::Result<ExitCode> {
    let s = Settings::build(config).await?;
    match command {
        PrivacyCommand::Show(f) => show(&s, f.json).await,
        PrivacyCommand::Set(args) => set(&s, args).await,
        PrivacyCommand::Block(e) => block(&s, &e.entry).await,
        PrivacyCommand::Unblock(e) => unblock(&s, &e.entry).await,
        PrivacyCommand::ExcludeMailbox(m) => exclude(&s, &m.address).await,
        PrivacyCommand::IncludeMailbox(m) => include(&s, &m.address).await,
        PrivacyCommand::Audit(args) => audit(&s, args).await,
    }
}

/// The address to show for a directory user.
fn user_address(u: &DirectoryUser) -> &str {
    u.address()
}

async fn show(s: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let policy = s.store.privacy_policy(s.workspace).await?;
    let users = s.store.directory_users(s.workspace).await?;
    let excluded: Vec<(String, Option<&DirectoryUser>)> = policy
        .excluded_mailboxes
        .iter()
        .map(|id| (id.clone(), users.iter().find(|u| u.id.eq_ignore_ascii_case(id))))
        .collect();
    let blocklist: Vec<&str> = policy.blocklist.entries().iter().map(BlockEntry::as_str).collect();
    if json {
        let out = json!({
            "visibility": policy.visibility.as_str(),
            "auto_create": policy.auto_create.as_str(),
            "retention_days": policy.retention_days,
            "keep_internal": policy.keep_internal,
            "blocklist": blocklist,
            "excluded_mailboxes": excluded.iter().map(|(id, user)| json!({
                "user_id": id,
                "address": user.map(user_address),
                "name": user.map(|u| u.display_name.as_str()),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Visibility:          {} ({})", policy.visibility, describe_visibility(policy.visibility));
    println!("Contact auto-create: {} ({})", policy.auto_create, describe_auto_create(policy.auto_create));
    match policy.retention_days {
        Some(days) => println!("Retention:           {days} days"),
        None => println!("Retention:           keep everything"),
    }
    println!("Internal-only items: {}", describe_keep_internal(policy.keep_internal));
    if blocklist.is_empty() {
        println!("Blocklist:           none");
    } else {
        println!("Blocklist:           {}", blocklist.join(", "));
    }
    if excluded.is_empty() {
        println!("Excluded mailboxes:  none");
    } else {
        let names: Vec<String> = excluded
            .iter()
            .map(|(id, user)| match user {
                Some(u) => user_address(u).to_string(),
                None => format!("{id} (no longer in the directory)"),
            })
            .collect();
        println!("Excluded mailboxes:  {}", names.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_visibility(v: Visibility) -> &'static str {
    match v {
        Visibility::Metadata => "who and when only",
        Visibility::Subject => "who, when and subjects",
        Visibility::Full => "subjects and bodies",
    }
}

fn describe_keep_internal(keep: bool) -> &'static str {
    if keep { "kept like customer mail; admins can open them" } else { "who and when only, not searchable" }
}

fn describe_auto_create(a: AutoCreate) -> &'static str {
    match a {
        AutoCreate::None => "contacts are only added by hand or by import",
        AutoCreate::Sent => "people our users wrote to or invited",
        AutoCreate::SentAndReceived => "people our users wrote to or heard from",
    }
}

/// `3 emails, 1 meetings and 0 auto-created contacts`.
fn purged_text(p: &PurgeCounts) -> String {
    format!("{} emails, {} meetings and {} auto-created contacts", p.emails, p.meetings, p.contacts)
}

async fn set(s: &Settings, args: SetArgs) -> anyhow::Result<ExitCode> {
    if args.visibility.is_none()
        && args.auto_create.is_none()
        && args.retention_days.is_none()
        && !args.no_retention
        && args.keep_internal.is_none()
    {
        bail!(
            "nothing to change: give --visibility, --auto-create, --retention-days N, --no-retention \
             or --keep-internal true|false"
        );
    }
    let current = s.store.privacy_policy(s.workspace).await?;
    let settings = PrivacySettings {
        visibility: args.visibility.unwrap_or(current.visibility),
        auto_create: args.auto_create.unwrap_or(current.auto_create),
        retention_days: if args.no_retention { None } else { args.retention_days.or(current.retention_days) },
        keep_internal: args.keep_internal.unwrap_or(current.keep_internal),
    };
    let purged = s.store.set_privacy_settings(s.workspace, settings, ACTOR).await?;
    println!("Visibility:          {}", settings.visibility);
    println!("Contact auto-create: {}", settings.auto_create);
    match settings.retention_days {
        Some(days) => println!("Retention:           {days} days"),
        None => println!("Retention:           keep everything"),
    }
    println!("Internal-only items: {}", describe_keep_internal(settings.keep_internal));
    if current.keep_internal && !settings.keep_internal {
        println!("Stored subjects and bodies of internal-only mail and meetings were removed.");
    }
    if settings.visibility < current.visibility {
        println!("Stored subjects and bodies that `{}` hides were removed.", settings.visibility);
    } else if settings.visibility > current.visibility {
        println!("The next `tac-crm sync --once` reads content again to fill in what `{}` shows.", settings.visibility);
    }
    println!("Purged: {}.", purged_text(&purged));
    Ok(ExitCode::SUCCESS)
}

fn entry(input: &str) -> anyhow::Result<BlockEntry> {
    BlockEntry::parse(input).map_err(|e| anyhow!("{e}"))
}

async fn block(s: &Settings, input: &str) -> anyhow::Result<ExitCode> {
    let entry = entry(input)?;
    let purged = s.store.add_block(s.workspace, &entry, ACTOR).await?;
    println!("Blocked {entry}. Purged {}.", purged_text(&purged));
    Ok(ExitCode::SUCCESS)
}

async fn unblock(s: &Settings, input: &str) -> anyhow::Result<ExitCode> {
    let entry = entry(input)?;
    match s.store.remove_block(s.workspace, &entry, ACTOR).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => {
            bail!("{entry} is not on the blocklist: `tac-crm privacy show` lists the entries")
        }
        Err(e) => return Err(e.into()),
    }
    println!("Unblocked {entry}. What was purged stays purged; new mail is synced from the next sync on.");
    Ok(ExitCode::SUCCESS)
}

/// The directory user with this address as mail, sign-in name or SMTP
/// alias, in any case.
async fn find_user(s: &Settings, input: &str) -> anyhow::Result<DirectoryUser> {
    let users = s.store.directory_users(s.workspace).await?;
    users.into_iter().find(|u| u.has_address(input)).ok_or_else(|| {
        anyhow!(
            "no one in the directory has the address {}: check the spelling, or run `tac-crm sync --once` to refresh the directory",
            input.trim()
        )
    })
}

async fn exclude(s: &Settings, address: &str) -> anyhow::Result<ExitCode> {
    let user = find_user(s, address).await?;
    let purged = s.store.exclude_mailbox(s.workspace, &user.id, ACTOR).await?;
    println!("Excluded {} ({}) from sync. Purged {}.", user_address(&user), user.display_name, purged_text(&purged));
    Ok(ExitCode::SUCCESS)
}

async fn include(s: &Settings, address: &str) -> anyhow::Result<ExitCode> {
    let user = find_user(s, address).await?;
    match s.store.include_mailbox(s.workspace, &user.id, ACTOR).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => {
            bail!("{} is not excluded: `tac-crm privacy show` lists the excluded mailboxes", user_address(&user))
        }
        Err(e) => return Err(e.into()),
    }
    println!("{} is synced again from the next `tac-crm sync --once`.", user_address(&user));
    Ok(ExitCode::SUCCESS)
}

async fn audit(s: &Settings, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let entries = s.store.audit_log(s.workspace, args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else if entries.is_empty() {
        println!("No changes recorded yet.");
    } else {
        for e in &entries {
            let detail = e.detail.as_ref().map(|d| format!("  {d}")).unwrap_or_default();
            println!("{}  {:<8} {}{detail}", e.at.format("%Y-%m-%d %H:%M:%S"), e.actor, e.action);
        }
    }
    Ok(ExitCode::SUCCESS)
}
