//! `tac-crm`: the command line. Glue only: it parses flags, starts logging and
//! hands over to the crates that do the work.

mod emulator;
mod integration;
mod settings;
mod sync;

use clap::{Parser, Subcommand};
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Microsoft cloud emulator (Entra ID + Graph) with a synthetic organisation.
    Emulator(emulator::EmulatorArgs),
    /// The quickstart. Until the portal lands, it runs the emulator with the
    /// medium organisation and prints how to connect to it.
    Demo(emulator::DemoArgs),
    /// The Microsoft 365 connection: Tenant ID, Client ID, Client Secret and toggles.
    #[command(subcommand)]
    Integration(integration::IntegrationCommand),
    /// Sync every enabled mailbox's mail and calendar.
    Sync(sync::SyncArgs),
    /// The state of each mailbox.
    Status(sync::StatusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
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
            Command::Demo(args) => emulator::demo(args).await,
            Command::Integration(c) => integration::run(&cli.config, c).await,
            Command::Sync(args) => sync::run(&cli.config, args).await,
            Command::Status(args) => sync::status(&cli.config, args).await,
        }
    })
}
