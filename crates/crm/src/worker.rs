//! `tac-crm worker`: sync continuously. Each pass fetches only what changed
//! since the last one (delta links), then the loop sleeps until the next
//! interval or until the portal asks for a pass ([`SyncTrigger`]). A failed
//! pass is logged and retried at the next interval. The loop stops cleanly
//! on shutdown (Ctrl-C): a pass in progress is dropped between page
//! commits, and the next start resumes from the last committed page.
//! `tac-crm serve` and `tac-crm demo` run the same loop beside the portal.

use crate::integration::client_for;
use crate::settings::{Config, Settings};
use clap::Args;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tac_sync::{Progress, Quiet, SyncOptions, SyncReport};
use tac_web::SyncTrigger;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Seconds between passes.
    #[arg(long, env = "TAC_SYNC_INTERVAL", default_value_t = 300)]
    interval: u64,
}

/// The shortest interval accepted.
pub const MIN_INTERVAL_SECS: u64 = 10;

pub async fn run(config: &Config, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.interval >= MIN_INTERVAL_SECS, "--interval must be at least {MIN_INTERVAL_SECS} seconds");
    let settings = Settings::build(config).await?;
    sync_loop(&settings, Duration::from_secs(args.interval), None, FirstPass::Now, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(ExitCode::SUCCESS)
}

/// When [`sync_loop`] runs its first pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPass {
    /// At once.
    Now,
    /// After the interval (or a trigger): the caller has just synced.
    AfterInterval,
}

/// Runs a pass, then waits for the interval or a trigger, until `shutdown`
/// resolves.
pub async fn sync_loop(
    settings: &Settings,
    interval: Duration,
    trigger: Option<SyncTrigger>,
    first: FirstPass,
    shutdown: impl Future<Output = ()>,
) {
    tracing::info!(interval_s = interval.as_secs(), "background sync started");
    let requested = async |trigger: &Option<SyncTrigger>| match trigger {
        Some(t) => t.requested().await,
        None => std::future::pending().await,
    };
    tokio::pin!(shutdown);
    let mut wait_first = first == FirstPass::AfterInterval;
    loop {
        if !wait_first {
            tokio::select! {
                _ = logged_pass(settings) => {}
                _ = &mut shutdown => break,
            }
        }
        wait_first = false;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = requested(&trigger) => tracing::info!("sync requested from the portal"),
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("background sync stopped");
}

/// One pass with the saved integration and its toggles: `None` when there
/// is no integration or both toggles are off (logged).
pub async fn pass(settings: &Settings, progress: Arc<dyn Progress>) -> anyhow::Result<Option<SyncReport>> {
    let Some(integration) = settings.store.load_integration(settings.workspace, &settings.key).await? else {
        tracing::warn!("no integration yet: run tac-crm integration set");
        return Ok(None);
    };
    let options = SyncOptions::for_integration(&integration.settings);
    if !options.syncs_items() {
        tracing::info!("Import Emails and Calendar Synchronization are both off");
        return Ok(None);
    }
    let client = client_for(settings, &integration)?;
    Ok(Some(tac_sync::sync_once(&settings.store, settings.workspace, client, &options, progress).await?))
}

/// One pass; every failure is logged, none stops the worker.
async fn logged_pass(settings: &Settings) {
    match pass(settings, Arc::new(Quiet)).await {
        Ok(None) => {}
        Ok(Some(report)) => {
            for m in report.mailboxes.iter().filter(|m| m.error.is_some()) {
                if let Some((code, advice)) = &m.error {
                    tracing::warn!(mailbox = %m.user_principal_name, state = m.state.as_str(), %code, %advice, "mailbox not synced");
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
        Err(e) => tracing::error!(error = %format!("{e:#}"), "the pass could not run"),
    }
}
