//! `tac-crm worker`: sync continuously. Each pass fetches only what changed
//! since the last one (delta links), then the worker sleeps until the next
//! interval. A failed pass is logged and retried at the next interval; the
//! worker stops cleanly on Ctrl-C, between pages.

use crate::integration::client_for;
use crate::settings::{Config, Settings};
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tac_sync::{Quiet, SyncOptions};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Seconds between passes.
    #[arg(long, env = "TAC_SYNC_INTERVAL", default_value_t = 300)]
    interval: u64,
}

pub async fn run(config: &Config, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.interval >= 10, "--interval must be at least 10 seconds");
    let settings = Settings::build(config).await?;
    tracing::info!(interval_s = args.interval, "worker started");
    loop {
        pass(&settings).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(args.interval)) => {}
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("worker stopping");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

/// One pass; every failure is logged, none stops the worker.
async fn pass(settings: &Settings) {
    let integration = match settings.store.load_integration(settings.workspace, &settings.key).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            tracing::warn!("no integration yet: run tac-crm integration set");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the integration");
            return;
        }
    };
    let set = &integration.settings;
    if !set.import_emails && !set.calendar_sync {
        tracing::info!("Import Emails and Calendar Synchronization are both off");
        return;
    }
    let client = match client_for(&integration) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Microsoft client");
            return;
        }
    };
    let options = SyncOptions {
        import_emails: set.import_emails,
        calendar_sync: set.calendar_sync,
        scope: set.mailbox_scope.clone(),
        backfill_days: set.backfill_days.into(),
        ..SyncOptions::default()
    };
    match tac_sync::sync_once(&settings.store, settings.workspace, client, &options, Arc::new(Quiet)).await {
        Ok(report) => {
            for m in report.mailboxes.iter().filter(|m| m.error.is_some()) {
                if let Some((code, advice)) = &m.error {
                    tracing::warn!(mailbox = %m.user_principal_name, state = m.state.as_str(), %code, "{advice}");
                }
            }
            let emails: u64 = report.mailboxes.iter().map(|m| m.emails).sum();
            let meetings: u64 = report.mailboxes.iter().map(|m| m.meetings).sum();
            tracing::info!(
                mailboxes = report.mailboxes.len(),
                emails,
                meetings,
                all_ok = report.all_ok(),
                "pass finished"
            );
        }
        Err(e) => tracing::error!(error = %e, "the pass could not run"),
    }
}
