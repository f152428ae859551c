//! `tac-crm`: the command line. Glue only: it parses flags, starts logging and
//! hands over to the crates that do the work.

mod admin;
mod contacts;
mod demo;
mod emulator;
mod integration;
mod logging;
mod privacy;
mod serve;
mod settings;
mod sync;
mod timeline;
mod worker;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

/// TAC: a CRM whose activity history comes from Microsoft 365 mail and calendars.
#[derive(Debug, Parser)]
#[command(name = "tac-crm", version, about)]
struct Cli {
    #[command(flatten)]
    config: settings::Config,
    #[command(subcommand)]
    command: Command,
}

/// `--json`, for the commands that can print JSON for scripts.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Microsoft cloud emulator (Entra ID + Graph) with a synthetic organisation.
    Emulator(emulator::EmulatorArgs),
    /// The quickstart: the emulator's medium organisation, connected, synced and served in the portal.
    Demo(demo::DemoArgs),
    /// The Microsoft 365 connection: Tenant ID, Client ID, Client Secret and toggles.
    #[command(subcommand)]
    Integration(integration::IntegrationCommand),
    /// Sync every enabled mailbox's mail and calendar.
    Sync(sync::SyncArgs),
    /// The state of each mailbox.
    Status(sync::StatusArgs),
    /// The web portal, with background sync in the same process unless --no-sync.
    Serve(serve::ServeArgs),
    /// Sync continuously: a pass every interval (5 minutes by default).
    Worker(worker::WorkerArgs),
    /// Portal accounts.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Contacts: the external people whose history TAC keeps.
    #[command(subcommand)]
    Contacts(contacts::ContactsCommand),
    /// A contact's (or with --company, a company's) emails and meetings, newest first.
    Timeline(timeline::TimelineArgs),
    /// Search every synced email and meeting, as far as the visibility level allows.
    Search(timeline::SearchArgs),
    /// Read an email's body.
    #[command(subcommand)]
    Email(timeline::EmailCommand),
    /// Privacy: visibility level, contact auto-creation, retention, blocklist, excluded mailboxes, audit log.
    #[command(subcommand)]
    Privacy(privacy::PrivacyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Emulator(args) => emulator::run(args).await,
            Command::Demo(args) => demo::run(&cli.config, args).await,
            Command::Integration(c) => integration::run(&cli.config, c).await,
            Command::Sync(args) => sync::run(&cli.config, args).await,
            Command::Status(args) => sync::status(&cli.config, args).await,
            Command::Serve(args) => serve::run(&cli.config, args).await,
            Command::Worker(args) => worker::run(&cli.config, args).await,
            Command::Admin(c) => admin::run(&cli.config, c).await,
            Command::Contacts(c) => contacts::run(&cli.config, c).await,
            Command::Timeline(args) => timeline::run(&cli.config, args).await,
            Command::Search(args) => timeline::search(&cli.config, args).await,
            Command::Email(c) => timeline::email(&cli.config, c).await,
            Command::Privacy(c) => privacy::run(&cli.config, c).await,
        }
    })
}
