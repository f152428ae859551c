//! `tac-crm serve`: the portal, plus the background sync in the same
//! process unless `--no-sync`. At a first start (no admin yet) it prints a
//! one-time link that creates the first admin. Ctrl-C stops both: the
//! portal finishes the requests in flight, the sync stops between pages.
//! `tac-crm demo` serves the portal through the same [`Serving`].

use crate::settings::{Config, Settings};
use crate::worker::{FirstPass, MIN_INTERVAL_SECS, sync_loop};
use anyhow::Context;
use clap::Args;
use secrecy::ExposeSecret;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tac_store::MasterKey;
use tac_web::{AppState, SyncTrigger};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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
    /// Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client,
    /// for throttling failed sign-ins per client. Default: none, the TCP peer is the client.
    #[arg(long, env = "TAC_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
}

pub async fn run(config: &Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.interval >= MIN_INTERVAL_SECS, "--interval must be at least {MIN_INTERVAL_SECS} seconds");
    let settings = Settings::build(config).await?;
    let listener = bind(&args.listen).await?;
    let address = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{address}"));
    let trigger = (!args.no_sync).then(SyncTrigger::new);
    let proxies = tac_web::auth::parse_trusted_proxies(&args.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("--trusted-proxies (TAC_TRUSTED_PROXIES): {e}"))?;
    let state = portal_state(&settings, &public_url, trigger.clone())?.with_trusted_proxies(proxies);
    println!("TAC portal: {} (listening on {address})", state.public_url());
    if let Some(link) = tac_web::first_admin_setup_link(&state).await? {
        println!("No admin yet. Create the first one within 24 hours with this one-time link:\n{link}");
        println!("(or run: tac-crm admin create --email E --password-stdin)");
    }
    let serving = Serving::start(listener, state);
    if let Some(trigger) = trigger {
        let interval = Duration::from_secs(args.interval);
        sync_loop(&settings, interval, Some(trigger), FirstPass::Now, serving.stopping()).await;
    }
    serving.finish().await?;
    settings.store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Listens on `address`, or says what to do when it is taken.
pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!("cannot listen on {address}: is another TAC running? Pick another address with --listen")
    })
}

/// The portal's state over `settings`' store and workspace, reached at
/// `public_url`; with `trigger`, its "Sync now" asks the background sync.
pub fn portal_state(settings: &Settings, public_url: &str, trigger: Option<SyncTrigger>) -> anyhow::Result<AppState> {
    // The portal gets its own copy of the key; Settings keeps one for sync.
    let key = MasterKey::from_base64(settings.key.to_base64().expose_secret())?;
    let state =
        AppState::new(settings.store.clone(), settings.workspace, key, public_url)?.with_clouds(settings.clouds);
    Ok(match trigger {
        Some(trigger) => state.with_sync_trigger(trigger),
        None => state,
    })
}

/// The portal, serving in the background until Ctrl-C (or until it fails).
pub struct Serving {
    stop: Arc<watch::Sender<bool>>,
    portal: JoinHandle<std::io::Result<()>>,
}

impl Serving {
    /// Serves `state` on `listener` and stops on Ctrl-C: the portal
    /// finishes the requests in flight, and [`Serving::stopping`] resolves
    /// for whatever runs beside it (the background sync).
    pub fn start(listener: TcpListener, state: AppState) -> Serving {
        let (stop, _) = watch::channel(false);
        let stop = Arc::new(stop);
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("stopping");
            }
            on_signal.send_replace(true);
        });
        let portal_stop = stop.clone();
        let shutdown = stopped(stop.subscribe());
        let portal = tokio::spawn(async move {
            let served = tac_web::serve(listener, state, shutdown).await;
            // If the portal fails, what runs beside it stops too.
            portal_stop.send_replace(true);
            served
        });
        Serving { stop, portal }
    }

    /// Resolves once the process is stopping.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        stopped(self.stop.subscribe())
    }

    /// Waits until the portal has stopped; its error, if it failed.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.portal.await.context("the portal task failed")?.context("the portal stopped with an error")
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stopped| *stopped).await;
}
