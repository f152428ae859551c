//! `tac-crm sync --once` and `tac-crm status`.
//!
//! On a terminal, sync shows a progress bar per mailbox; otherwise it logs a
//! line per mailbox, so CI logs and cron mail stay readable.

use crate::integration::client_for;
use crate::settings::{Config, Settings};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use tac_core::MailboxState;
use tac_sync::{MailboxReport, Progress, SyncOptions};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sync every enabled mailbox until it is caught up, then exit.
    #[arg(long)]
    once: bool,
    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    json: bool,
}

/// Progress bars on a terminal.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress for Bars {
    fn started(&self, mailbox: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:40} {pos:>7} items  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(mailbox.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(mailbox.to_string(), bar);
        }
    }

    fn items(&self, mailbox: &str, count: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(mailbox).cloned()) {
            bar.inc(count);
        }
    }

    fn finished(&self, report: &MailboxReport) {
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(&report.user_principal_name)) {
            bar.finish_with_message(report.state.as_str().to_string());
        }
    }
}

/// A log line per mailbox when not on a terminal.
struct Lines;

impl Progress for Lines {
    fn mailboxes(&self, count: usize) {
        tracing::info!(count, "syncing mailboxes");
    }

    fn finished(&self, r: &MailboxReport) {
        match &r.error {
            None => {
                tracing::info!(mailbox = %r.user_principal_name, state = r.state.as_str(), emails = r.emails, meetings = r.meetings, removed = r.removed, skipped = r.skipped, "mailbox synced")
            }
            Some((code, advice)) => {
                tracing::warn!(mailbox = %r.user_principal_name, state = r.state.as_str(), code = %code, %advice, "mailbox not synced")
            }
        }
    }
}

/// Progress bars on a terminal (unless JSON goes to stdout), log lines otherwise.
pub fn progress(json: bool) -> Arc<dyn Progress> {
    if std::io::stderr().is_terminal() && !json {
        Arc::new(Bars { multi: MultiProgress::new(), bars: Mutex::default() })
    } else {
        Arc::new(Lines)
    }
}

pub async fn run(config: &Config, args: SyncArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.once, "continuous sync runs in `tac-crm worker`; use `sync --once` for a single pass");
    let settings = Settings::build(config).await?;
    let Some(integration) = settings.store.load_integration(settings.workspace, &settings.key).await? else {
        eprintln!("No integration yet. Run: tac-crm integration set --tenant-id … --client-id … --client-secret-stdin");
        return Ok(ExitCode::from(2));
    };
    let options = SyncOptions::for_integration(&integration.settings);
    if !options.syncs_items() {
        eprintln!("Both Import Emails and Calendar Synchronization are off: nothing to sync.");
        return Ok(ExitCode::SUCCESS);
    }
    let client = client_for(&settings, &integration)?;
    let progress = progress(args.json);
    let report = match tac_sync::sync_once(&settings.store, settings.workspace, client, &options, progress).await {
        Ok(r) => r,
        Err(tac_sync::SyncError::Microsoft(e)) => {
            eprintln!("error: {}", e.advice());
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for m in &report.mailboxes {
            let detail = m.error.as_ref().map(|(code, advice)| format!(" {code}: {advice}")).unwrap_or_default();
            println!(
                "{:<45} {:<14} {:>6} emails {:>5} meetings {:>4} skipped{detail}",
                m.user_principal_name,
                m.state.as_str(),
                m.emails,
                m.meetings,
                m.skipped
            );
        }
    }
    Ok(if report.all_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub async fn status(config: &Config, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::build(config).await?;
    let rows = settings.store.mailboxes(settings.workspace).await?;
    if args.json {
        let out: Vec<_> = rows.iter().map(tac_store::json::mailbox_status).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if rows.is_empty() {
        println!("No mailboxes yet: run tac-crm sync --once");
    } else {
        for m in &rows {
            let when =
                m.last_success_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into());
            let err = tac_sync::health::mailbox_advice(m).map(|e| format!("  {e}")).unwrap_or_default();
            println!(
                "{:<45} {:<14} last ok {when:<16} {:>6} emails {:>5} meetings{err}",
                m.address,
                m.state.as_str(),
                m.email_count,
                m.meeting_count
            );
        }
    }
    let bad = rows.iter().any(|m| matches!(m.state, MailboxState::Failed | MailboxState::AccessDenied));
    Ok(if bad { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
