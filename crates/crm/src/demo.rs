//! `tac-crm demo`: the quickstart. It runs the Microsoft cloud emulator with
//! the medium organisation, connects TAC to it in the data folder's SQLite
//! database exactly as an admin would (Tenant ID, Client ID, Client Secret,
//! Import Emails and Calendar Synchronization on), runs the first sync with
//! progress, then keeps syncing while the emulator serves.

use crate::settings::{Config, Settings};
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use tac_emulator::{EmulatorConfig, OrgSize};
use tac_store::IntegrationSettings;
use tac_sync::SyncOptions;

/// Flags of `tac-crm demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address the emulator listens on.
    #[arg(long, default_value = "127.0.0.1:5880")]
    listen: String,
    /// small (20 mailboxes), medium (200) or large.
    #[arg(long, default_value = "medium")]
    size: OrgSize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub async fn run(config: &Config, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(&args.listen).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {}: {e}. Is another demo running? Pick another with --listen", args.listen)
    })?;
    let addr = listener.local_addr()?;
    let emulator = tac_emulator::Emulator::new(
        &EmulatorConfig { seed: args.seed, size: args.size, ..EmulatorConfig::default() },
        &format!("http://{addr}"),
    );
    let creds = emulator.credentials();
    let router = emulator.router();
    tokio::spawn(async move {
        if let Err(e) = tac_emulator::serve_router(listener, router, std::future::pending()).await {
            tracing::error!(error = %e, "the emulator stopped");
        }
    });
    eprintln!("Microsoft cloud emulator: {} (tenant {})", creds.login_url, creds.tenant_id);

    let settings = Settings::build(config).await?;
    let mut integration = IntegrationSettings::new(creds.tenant_id.clone(), creds.client_id.clone());
    integration.login_url = creds.login_url.clone();
    integration.graph_url = creds.graph_url.clone();
    integration.import_emails = true;
    integration.calendar_sync = true;
    let secret = secrecy::SecretString::from(creds.client_secret.clone());
    settings.store.save_integration(settings.workspace, &integration, Some(&secret), &settings.key).await?;
    eprintln!("Integration saved (secret encrypted). First sync:");

    let stored = settings.store.load_integration(settings.workspace, &settings.key).await?;
    let client = crate::integration::client_for(
        &stored.ok_or_else(|| anyhow::anyhow!("the integration just saved is missing"))?,
    )?;
    let report = tac_sync::sync_once(
        &settings.store,
        settings.workspace,
        client.clone(),
        &SyncOptions::default(),
        crate::sync::progress(false),
    )
    .await?;
    let emails: u64 = report.mailboxes.iter().map(|m| m.emails).sum();
    let meetings: u64 = report.mailboxes.iter().map(|m| m.meetings).sum();
    eprintln!("Synced {} mailboxes: {emails} emails, {meetings} meetings.", report.mailboxes.len());
    eprintln!();
    eprintln!("The web portal is not built yet. Meanwhile, in another terminal:");
    eprintln!("  cargo run --release -- status                 # each mailbox's state");
    eprintln!("  cargo run --release -- integration test       # the permission checklist");
    eprintln!("  curl {}/_emulator/config   # the emulator's settings", creds.login_url);
    eprintln!("Syncing again every minute; Ctrl-C stops.");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
        match tac_sync::sync_once(
            &settings.store,
            settings.workspace,
            client.clone(),
            &SyncOptions::default(),
            Arc::new(tac_sync::Quiet),
        )
        .await
        {
            Ok(r) => tracing::info!(mailboxes = r.mailboxes.len(), all_ok = r.all_ok(), "sync pass finished"),
            Err(e) => tracing::warn!(error = %e, "sync pass failed"),
        }
    }
}
