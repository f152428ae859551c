//! `tac-crm serve`: the portal, plus the background sync in the same
//! process unless `--no-sync`. At a first start (no admin yet) it prints a
//! one-time link that creates the first admin. Ctrl-C stops both: the
//! portal finishes the requests in flight, the sync stops between pages.

use crate::settings::{Config, Settings};
use crate::worker::{MIN_INTERVAL_SECS, sync_loop};
use anyhow::Context;
use clap::Args;
use secrecy::ExposeSecret;
use std::process::ExitCode;
use std::time::Duration;
use tac_store::MasterKey;
use tac_web::{AppState, SyncTrigger};
use tokio::sync::watch;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address the portal listens on.
    #[arg(long, env = "TAC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The address people open (https, or http on loopback); defaults to http://<listen address>.
    #[arg(long, env = "TAC_PUBLIC_URL")]
    public_url: Option<String>,
    /// Serve the portal only; run `tac-crm worker` elsewhere for sync.
    #[arg(long)]
    no_sync: bool,
    /// Seconds between background sync passes.
    #[arg(long, env = "TAC_SYNC_INTERVAL", default_value_t = 300)]
    interval: u64,
}

pub async fn run(config: &Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.interval >= MIN_INTERVAL_SECS, "--interval must be at least {MIN_INTERVAL_SECS} seconds");
    let settings = Settings::build(config).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
        format!("cannot listen on {}: is another TAC running? Pick another address with --listen", args.listen)
    })?;
    let address = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{address}"));
    // The portal gets its own copy of the key; Settings keeps one for sync.
    let key = MasterKey::from_base64(settings.key.to_base64().expose_secret())?;
    let trigger = SyncTrigger::new();
    let mut state = AppState::new(settings.store.clone(), settings.workspace, key, &public_url)?;
    if !args.no_sync {
        state = state.with_sync_trigger(trigger.clone());
    }
    println!("TAC portal: {} (listening on {address})", state.public_url());
    if let Some(link) = tac_web::first_admin_setup_link(&state).await? {
        println!("No admin yet. Create the first one within 24 hours with this one-time link:\n{link}");
        println!("(or run: tac-crm admin create --email E --password-stdin)");
    }

    let (stop, stopped) = watch::channel(false);
    let stop = std::sync::Arc::new(stop);
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("stopping");
        }
        let _ = on_signal.send(true);
    });
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let portal_stop = stop.clone();
    let portal = tokio::spawn({
        let shutdown = wait(stopped.clone());
        async move {
            let served = tac_web::serve(listener, state, shutdown).await;
            // If the portal fails, the sync stops too.
            let _ = portal_stop.send(true);
            served
        }
    });
    if !args.no_sync {
        sync_loop(&settings, Duration::from_secs(args.interval), Some(trigger), wait(stopped.clone())).await;
    }
    portal.await.context("the portal task failed")?.context("the portal stopped with an error")?;
    settings.store.close().await;
    Ok(ExitCode::SUCCESS)
}
