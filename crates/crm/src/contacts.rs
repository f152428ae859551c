//! `tac-crm contacts …`: add, import, list, show, rename and delete the
//! external people whose timelines TAC keeps, and change their addresses.
//!
//! Glue only: addresses go through `tac_core::address::normalize`, CSV files
//! through `tac_core::contact_csv`, and every rule (internal addresses are
//! refused, an address belongs to one contact, adding an address links its
//! whole history) lives in `tac-store`. This module also holds the look-ups
//! and JSON shapes that `timeline` and `privacy` share, so a contact prints
//! the same way everywhere (docs/architecture.md §6).

use crate::settings::{Config, Settings};
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use tac_core::NormalizedAddress;
use tac_core::timeline::{ActivityKind, TimelineCursor};
use tac_store::{
    ContactId, ContactListQuery, ContactRow, ContactSort, ContactSource, ImportFailureReason, NewContact, StoreError,
    TimelineQuery,
};

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Create a contact; everything already synced with its addresses joins its timeline at once.
    Add(AddArgs),
    /// Import contacts from a CSV file (Outlook, Google, Apple or spreadsheet export). Exits 1 when some lines failed.
    Import(ImportArgs),
    /// List contacts.
    List(ListArgs),
    /// Show a contact and its summary (last interaction, next meeting, follow-up, strength).
    Show(ShowArgs),
    /// Delete a contact. Its synced mail and meetings stay; only its timeline goes.
    Delete(EmailArg),
    /// Give a contact another address; that address's history joins the timeline.
    AddEmail(AddEmailArgs),
    /// Take an address off a contact; what only that address linked leaves the timeline.
    RemoveEmail(RemoveEmailArgs),
    /// Change a contact's name.
    Rename(RenameArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// An email address of the contact; repeat for several.
    #[arg(long = "email", required = true)]
    emails: Vec<String>,
    /// The contact's name; guessed from the first address when left out.
    #[arg(long)]
    name: Option<String>,
    /// The company's name; by default it comes from the first work (not free-mail) domain.
    #[arg(long)]
    company: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file. Its first row names the columns; an email column is required.
    file: PathBuf,
}

/// How `contacts list` orders contacts.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SortBy {
    /// By name.
    Name,
    /// Most recent interaction first; contacts without one last.
    LastInteraction,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Only contacts whose name or address contains these words (any case).
    #[arg(long)]
    search: Option<String>,
    #[arg(long, value_enum, default_value = "name")]
    sort: SortBy,
    /// At most this many contacts.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Any of the contact's addresses.
    email: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct EmailArg {
    /// Any of the contact's addresses.
    email: String,
}

#[derive(Debug, Args)]
pub struct AddEmailArgs {
    /// Any of the contact's current addresses.
    email: String,
    /// The address to add.
    new_email: String,
}

#[derive(Debug, Args)]
pub struct RemoveEmailArgs {
    /// Any of the contact's addresses.
    email: String,
    /// The address to take off.
    old_email: String,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Any of the contact's addresses.
    email: String,
    /// The new name.
    #[arg(long)]
    name: String,
}

pub async fn run(config: &Config, command: ContactsCommand) -> anyhow::Result<ExitCode> {
    let settings = Settings::build(config).await?;
    match command {
        ContactsCommand::Add(args) => add(&settings, args).await,
        ContactsCommand::Import(args) => import(&settings, args).await,
        ContactsCommand::List(args) => list(&settings, args).await,
        ContactsCommand::Show(args) => show(&settings, args).await,
        ContactsCommand::Delete(args) => delete(&settings, args).await,
        ContactsCommand::AddEmail(args) => add_email(&settings, args).await,
        ContactsCommand::RemoveEmail(args) => remove_email(&settings, args).await,
        ContactsCommand::Rename(args) => rename(&settings, args).await,
    }
}

// ---- shared with `timeline` and `privacy` ----------------------------------

/// An address from the command line, normalised; a bad one is an error
/// that names it.
pub fn address(input: &str) -> anyhow::Result<NormalizedAddress> {
    tac_core::address::normalize(input).map_err(|e| anyhow!("{e}"))
}

/// The contact that has this address, or an error saying how to add one.
pub async fn find_contact(s: &Settings, input: &str) -> anyhow::Result<ContactRow> {
    let address = address(input)?;
    s.store.contact_by_email(s.workspace, &address).await?.ok_or_else(|| {
        anyhow!("no contact has the address {address}: add one with `tac-crm contacts add --email {address}`")
    })
}

/// A store error as the user should read it: what happened and what to do.
pub fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::AddressInUse { address, contact_id } => anyhow!(
            "{address} already belongs to contact {contact_id}: see it with `tac-crm contacts show {address}`, \
             and give that contact more addresses with `tac-crm contacts add-email {address} NEW_EMAIL`"
        ),
        other => anyhow::Error::new(other),
    }
}

/// A contact as the JSON outputs show it (docs/architecture.md §6; shared with the API).
pub fn contact_json(c: &ContactRow) -> Value {
    tac_store::json::contact(c)
}

/// `Ann Lee <ann@fabrikam.com>`, with the other addresses after it.
fn contact_line(c: &ContactRow) -> String {
    let mut emails = c.emails.iter();
    let first = emails.next().map(String::as_str).unwrap_or("");
    let others: Vec<&str> = emails.map(String::as_str).collect();
    let also = if others.is_empty() { String::new() } else { format!(" (also {})", others.join(", ")) };
    format!("{} <{first}>{also}", c.name)
}

// ---- commands ----------------------------------------------------------------

async fn add(s: &Settings, args: AddArgs) -> anyhow::Result<ExitCode> {
    let emails = args.emails.iter().map(|e| address(e)).collect::<anyhow::Result<Vec<_>>>()?;
    let new = NewContact {
        name: args.name.unwrap_or_default(),
        emails,
        company: args.company.filter(|c| !c.trim().is_empty()),
        source: ContactSource::Manual,
    };
    let id = s.store.create_contact(s.workspace, &new).await.map_err(explain)?;
    let contact = s.store.contact(s.workspace, id).await?;
    let (emails, meetings) = count_activities(s, id).await?;
    println!("Created contact {id}: {}", contact_line(&contact));
    if let Some(company) = &contact.company {
        println!("Company: {}", company.name);
    }
    println!("Linked {emails} emails and {meetings} meetings from history.");
    let first = contact.emails.first().map(String::as_str).unwrap_or("");
    println!("Next: tac-crm timeline {first}");
    Ok(ExitCode::SUCCESS)
}

/// How many emails and meetings are on a contact's timeline, page by page.
async fn count_activities(s: &Settings, id: ContactId) -> anyhow::Result<(u64, u64)> {
    let now = chrono::Utc::now();
    let (mut emails, mut meetings) = (0u64, 0u64);
    let mut cursor: Option<TimelineCursor> = None;
    loop {
        let query = TimelineQuery { limit: TimelineQuery::MAX_LIMIT, cursor, ..TimelineQuery::default() };
        let page = s.store.timeline(s.workspace, id, &query, now).await?;
        for item in &page.items {
            match item.kind() {
                ActivityKind::Email => emails += 1,
                ActivityKind::Meeting => meetings += 1,
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(TimelineCursor::decode(&next)?),
            None => return Ok((emails, meetings)),
        }
    }
}

async fn import(s: &Settings, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}: check the path and that you may read it", args.file.display()))?;
    let rows =
        tac_core::contact_csv::parse_contacts_csv(&bytes).map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let report = s.store.import_contacts_report(s.workspace, rows).await?;
    let failures = report.failures.len();
    for failure in report.failures {
        let message = match failure.reason {
            ImportFailureReason::Invalid(message) => message,
            ImportFailureReason::Refused(e) => format!("{:#}", explain(e)),
        };
        eprintln!("line {}: {message}", failure.line);
    }
    println!(
        "created {}, updated {}, unchanged {}, failed {failures}",
        report.created, report.updated, report.unchanged
    );
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn list(s: &Settings, args: ListArgs) -> anyhow::Result<ExitCode> {
    let query = ContactListQuery {
        search: args.search.filter(|q| !q.trim().is_empty()),
        sort: match args.sort {
            SortBy::Name => ContactSort::Name,
            SortBy::LastInteraction => ContactSort::LastInteraction,
        },
        limit: args.limit,
        ..ContactListQuery::default()
    };
    let rows = s.store.contacts(s.workspace, &query).await?;
    if args.json {
        let out: Vec<Value> = rows.iter().map(contact_json).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if rows.is_empty() {
        println!("No contacts. Add one with `tac-crm contacts add --email ADDRESS`, or import a CSV file.");
    } else {
        for c in &rows {
            let company = c.company.as_ref().map(|c| format!("  [{}]", c.name)).unwrap_or_default();
            let last =
                c.last_interaction_at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "never".to_string());
            println!("{last:<10}  {}{company}", contact_line(c));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(s: &Settings, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let contact = find_contact(s, &args.email).await?;
    let summary = s.store.contact_summary(s.workspace, contact.id, chrono::Utc::now()).await?;
    if args.json {
        let out = json!({"contact": contact_json(&contact), "summary": summary});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "none".to_string())
    };
    println!("Contact {}: {}", contact.id, contact_line(&contact));
    println!("Company:               {}", contact.company.as_ref().map_or("none", |c| c.name.as_str()));
    println!("Source:                {}", contact.source.as_str());
    println!("Last interaction:      {}", when(summary.last_interaction_at));
    println!("Next meeting:          {}", when(summary.next_meeting_at));
    println!("Emails (30 / 90 days): {} / {}", summary.emails_last_30_days, summary.emails_last_90_days);
    println!("Meetings (30 / 90 days): {} / {}", summary.meetings_last_30_days, summary.meetings_last_90_days);
    let follow_up = match summary.follow_up {
        tac_core::insights::FollowUp::AwaitingTheirReply { days, .. } => format!("awaiting their reply ({days} days)"),
        tac_core::insights::FollowUp::AwaitingOurReply { days, .. } => format!("awaiting our reply ({days} days)"),
        tac_core::insights::FollowUp::None => "nothing owed".to_string(),
    };
    println!("Follow-up:             {follow_up}");
    println!("Relationship strength: {}/100", summary.relationship_strength);
    for m in &summary.top_team_members {
        println!("Team member:           {} <{}> ({} interactions)", m.name, m.address, m.interactions);
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(s: &Settings, args: EmailArg) -> anyhow::Result<ExitCode> {
    let contact = find_contact(s, &args.email).await?;
    s.store.delete_contact(s.workspace, contact.id).await?;
    println!("Deleted contact {}: {}. The synced mail and meetings stay.", contact.id, contact_line(&contact));
    Ok(ExitCode::SUCCESS)
}

async fn add_email(s: &Settings, args: AddEmailArgs) -> anyhow::Result<ExitCode> {
    let contact = find_contact(s, &args.email).await?;
    let new = address(&args.new_email)?;
    s.store.add_contact_email(s.workspace, contact.id, &new).await.map_err(explain)?;
    let (emails, meetings) = count_activities(s, contact.id).await?;
    println!("Added {new} to {}. The timeline now has {emails} emails and {meetings} meetings.", contact.name);
    Ok(ExitCode::SUCCESS)
}

async fn remove_email(s: &Settings, args: RemoveEmailArgs) -> anyhow::Result<ExitCode> {
    let contact = find_contact(s, &args.email).await?;
    let old = address(&args.old_email)?;
    match s.store.remove_contact_email(s.workspace, contact.id, &old).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => {
            anyhow::bail!("{} has no address {old}: its addresses are {}", contact.name, contact.emails.join(", "))
        }
        Err(e) => return Err(explain(e)),
    }
    println!("Removed {old} from {}.", contact.name);
    Ok(ExitCode::SUCCESS)
}

async fn rename(s: &Settings, args: RenameArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !args.name.trim().is_empty(),
        "the new name is empty: give one with --name, for example --name \"Ann Lee\""
    );
    let contact = find_contact(s, &args.email).await?;
    s.store.update_contact(s.workspace, contact.id, Some(&args.name), None).await?;
    let renamed = s.store.contact(s.workspace, contact.id).await?;
    println!("Renamed contact {}: {}", renamed.id, contact_line(&renamed));
    Ok(ExitCode::SUCCESS)
}
