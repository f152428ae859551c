//! `tac-crm integration set | show | test | disconnect`: the admin journey of
//! the guide's step 5 (enter Tenant ID, Client ID and Client Secret, enable
//! Import Emails and Calendar Synchronization, save), from the command line,
//! and its end: disconnecting purges what was synced, once the admin confirms.

use crate::JsonFlag;
use crate::settings::{Config, Settings, read_secret};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tac_graph::{Cloud, GraphClient};
use tac_store::{Integration, IntegrationSettings};
use tac_sync::connection::{CheckStatus, ConnectionError};

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Save the Microsoft 365 connection (the secret is encrypted at rest).
    Set(SetArgs),
    /// Show the saved connection; the secret is never shown.
    Show(JsonFlag),
    /// Get a token, then prove each capability TAC needs with one real call.
    Test(JsonFlag),
    /// Remove the connection and purge everything synced through it (asks for --yes).
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Confirm: without it, only what would be deleted is shown.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Directory (tenant) ID: a GUID or a verified domain.
    #[arg(long)]
    tenant_id: String,
    /// Application (client) ID.
    #[arg(long)]
    client_id: String,
    /// Read the client secret's Value from standard input.
    #[arg(long)]
    client_secret_stdin: bool,
    /// Read the client secret's Value from a file.
    #[arg(long)]
    client_secret_file: Option<PathBuf>,
    /// Import Emails.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    import_emails: bool,
    /// Calendar Synchronization.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    calendar_sync: bool,
    /// The sign-in URL (national clouds, or the emulator).
    #[arg(long, default_value = tac_graph::cloud::PUBLIC_LOGIN_URL)]
    login_url: String,
    /// The Graph URL (national clouds, or the emulator).
    #[arg(long, default_value = tac_graph::cloud::PUBLIC_GRAPH_URL)]
    graph_url: String,
    /// How many days of history the first sync imports.
    #[arg(long, default_value_t = 365)]
    backfill_days: u32,
    /// Sync only the members of this group (its object id); repeat for several. Default: every mailbox.
    #[arg(long = "scope-group")]
    scope_groups: Vec<String>,
}

pub async fn run(config: &Config, command: IntegrationCommand) -> anyhow::Result<ExitCode> {
    let settings = Settings::build(config).await?;
    match command {
        IntegrationCommand::Set(args) => set(&settings, args).await,
        IntegrationCommand::Show(f) => show(&settings, f.json).await,
        IntegrationCommand::Test(f) => test(&settings, f.json).await,
        IntegrationCommand::Disconnect(args) => disconnect(&settings, args.yes).await,
    }
}

/// Without `yes`, says what would go and exits 1; with it, purges.
async fn disconnect(s: &Settings, yes: bool) -> anyhow::Result<ExitCode> {
    if !yes {
        let p = tac_sync::connection::disconnect_preview(&s.store, s.workspace).await?;
        println!("Disconnecting deletes the Microsoft 365 connection and everything synced through it:");
        println!("  {} emails and {} meetings, with their timelines and search entries;", p.emails, p.meetings);
        println!("  {} mailboxes and their sync state;", p.mailboxes);
        println!("  the directory ({} people, groups and verified domains);", p.directory_users);
        println!("  the contacts that sync created on its own.");
        println!("Contacts people added or imported, and the privacy policy, stay.");
        eprintln!("Nothing was deleted. To disconnect, run again with --yes: tac-crm integration disconnect --yes");
        return Ok(ExitCode::from(1));
    }
    let purged = s.store.disconnect(s.workspace, "cli").await?;
    println!(
        "Disconnected. Deleted {} emails, {} meetings and {} auto-created contacts, with the mailboxes and the directory.",
        purged.emails, purged.meetings, purged.contacts
    );
    println!("To connect again: tac-crm integration set --tenant-id … --client-id … --client-secret-stdin");
    Ok(ExitCode::SUCCESS)
}

async fn set(s: &Settings, args: SetArgs) -> anyhow::Result<ExitCode> {
    let tenant = tac_graph::validate::tenant_id(&args.tenant_id).map_err(anyhow::Error::msg)?;
    let client = tac_graph::validate::client_id(&args.client_id).map_err(anyhow::Error::msg)?;
    let cloud = Cloud::new(&args.login_url, &args.graph_url).map_err(|e| anyhow::anyhow!("{e}"))?;
    s.clouds.check_cloud(&cloud).map_err(|e| anyhow::anyhow!("{e}"))?;
    let range = tac_sync::connection::BACKFILL_DAYS;
    anyhow::ensure!(
        range.contains(&args.backfill_days),
        "--backfill-days must be between {} and {}",
        range.start(),
        range.end()
    );
    let secret = read_secret(args.client_secret_stdin, args.client_secret_file.as_deref())?;
    let mut settings = IntegrationSettings::new(tenant, client);
    settings.login_url = args.login_url;
    settings.graph_url = args.graph_url;
    settings.import_emails = args.import_emails;
    settings.calendar_sync = args.calendar_sync;
    settings.backfill_days = args.backfill_days;
    if !args.scope_groups.is_empty() {
        for g in &args.scope_groups {
            anyhow::ensure!(tac_graph::validate::is_guid(g), "--scope-group {g:?} is not a group object id (a GUID)");
        }
        settings.mailbox_scope =
            tac_store::MailboxScope::Groups(args.scope_groups.iter().map(|g| g.to_ascii_lowercase()).collect());
    }
    s.store.save_integration(s.workspace, &settings, Some(&secret), &s.key, "cli").await?;
    println!("Saved. The client secret is stored encrypted. Next: tac-crm integration test");
    Ok(ExitCode::SUCCESS)
}

async fn show(s: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let Some(summary) = s.store.integration_summary(s.workspace).await? else {
        eprintln!("No integration yet. Run: tac-crm integration set --tenant-id … --client-id … --client-secret-stdin");
        return Ok(ExitCode::from(2));
    };
    let set = &summary.settings;
    if json {
        let out = serde_json::json!({
            "tenant_id": set.tenant_id,
            "client_id": set.client_id,
            "client_secret": summary.secret_set_at.map(|t| format!("set on {}", t.format("%Y-%m-%d"))),
            "login_url": set.login_url,
            "graph_url": set.graph_url,
            "import_emails": set.import_emails,
            "calendar_sync": set.calendar_sync,
            "mailbox_scope": set.mailbox_scope,
            "backfill_days": set.backfill_days,
            "status": set.status.as_str(),
            "last_error": set.last_error,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("Tenant ID:                 {}", set.tenant_id);
        println!("Client ID:                 {}", set.client_id);
        match summary.secret_set_at {
            Some(t) => println!("Client Secret:             set on {}", t.format("%Y-%m-%d")),
            None => println!("Client Secret:             not set"),
        }
        println!("Import Emails:             {}", on_off(set.import_emails));
        println!("Calendar Synchronization:  {}", on_off(set.calendar_sync));
        println!("Login URL:                 {}", set.login_url);
        println!("Graph URL:                 {}", set.graph_url);
        println!("Backfill:                  {} days", set.backfill_days);
        match &set.mailbox_scope {
            tac_store::MailboxScope::All => println!("Mailboxes:                 all"),
            tac_store::MailboxScope::Groups(g) => println!("Mailboxes:                 members of {}", g.join(", ")),
        }
        println!("Status:                    {}", set.status.as_str());
        if let Some(e) = &set.last_error {
            println!("Last error:                {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Builds the Graph client from the saved integration.
pub fn client_for(s: &Settings, integration: &Integration) -> anyhow::Result<Arc<GraphClient>> {
    Ok(tac_sync::connection::graph_client(integration, s.clouds)?)
}

async fn test(s: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let test = match tac_sync::connection::test_connection(&s.store, s.workspace, &s.key, s.clouds).await {
        Ok(test) => test,
        Err(ConnectionError::NotConfigured) => {
            eprintln!(
                "No integration yet. Run: tac-crm integration set --tenant-id … --client-id … --client-secret-stdin"
            );
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let ok = test.ok();
    if json {
        let out = match &test.result {
            Ok(report) => serde_json::json!({
                "token": {"ok": true},
                "admin_consent": report.admin_consent,
                "mailbox": report.mailbox,
                "checks": test.checklist(),
                "ok": ok,
            }),
            Err(e) => serde_json::json!({"token": {"ok": false, "code": e.code(), "advice": e.advice()}, "ok": false}),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if let Some((_, advice)) = test.token_error() {
        println!("✗ Token: {advice}");
    } else {
        println!("✓ Token: signed in as the app");
        for item in test.checklist() {
            match &item.fix {
                None => println!("{} {}", mark(item.status), item.name),
                Some(fix) => println!("{} {}: {fix}", mark(item.status), item.name),
            }
        }
        if let Ok(Some(mailbox)) = test.result.as_ref().map(|r| r.mailbox.as_ref()) {
            println!("  (mail and calendars were tried on the mailbox of user {mailbox})");
        }
        println!(
            "  Sign-in permissions ({}) are delegated: they are checked when someone signs in with Microsoft.",
            tac_graph::SIGN_IN_PERMISSIONS.join(", ")
        );
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "✓",
        CheckStatus::Warning => "⚠",
        CheckStatus::Failed => "✗",
    }
}
