//! `tac-crm emulator`: start the Microsoft cloud emulator and print the
//! connection details as `key=value` lines.

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::process::ExitCode;
use tac_emulator::{EmulatorConfig, Faults, OrgSize, OutlookLimits};

/// Flags of `tac-crm emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TAC_EMULATOR_LISTEN", default_value = "127.0.0.1:5880")]
    listen: String,
    /// Seed of the synthetic organisation: the same seed gives the same organisation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// small (20 mailboxes), medium (200), large (1,000 × ~5,000 messages) or large:USERS:CONVERSATIONS.
    #[arg(long, default_value = "small")]
    size: OrgSize,
    /// The day the synthetic mail is anchored at (YYYY-MM-DD); defaults to today.
    #[arg(long)]
    anchor: Option<chrono::NaiveDate>,
    /// Latency added to every Graph request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of Graph requests answered 503 (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fail_503_rate: f64,
    /// Share of Graph requests answered 504 (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fail_504_rate: f64,
    /// Share of Graph requests whose connection is dropped (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Share of delta requests answered 410 syncStateNotFound (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    delta_expiry_rate: f64,
    /// Outlook's concurrent-request limit per app and mailbox.
    #[arg(long, default_value_t = 4)]
    concurrent_limit: usize,
    /// Outlook's request budget per app and mailbox per window.
    #[arg(long, default_value_t = 10_000)]
    requests_per_window: u32,
    /// Length of the request-budget window, in seconds.
    #[arg(long, default_value_t = 600.0)]
    window_seconds: f64,
    /// Another redirect URI to register on the app (loopback ones with any port are already accepted).
    #[arg(long)]
    redirect_uri: Vec<String>,
}

impl EmulatorArgs {
    fn config(&self) -> anyhow::Result<EmulatorConfig> {
        for (name, rate) in [
            ("--fail-503-rate", self.fail_503_rate),
            ("--fail-504-rate", self.fail_504_rate),
            ("--drop-rate", self.drop_rate),
            ("--delta-expiry-rate", self.delta_expiry_rate),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&rate), "{name} must be between 0.0 and 1.0, not {rate}");
        }
        anyhow::ensure!(self.concurrent_limit > 0, "--concurrent-limit must be at least 1");
        anyhow::ensure!(self.requests_per_window > 0, "--requests-per-window must be at least 1");
        anyhow::ensure!(self.window_seconds > 0.0, "--window-seconds must be positive");
        let mut config = EmulatorConfig {
            seed: self.seed,
            size: self.size.clone(),
            limits: OutlookLimits {
                concurrent_requests: self.concurrent_limit,
                requests_per_window: self.requests_per_window,
                window: std::time::Duration::from_secs_f64(self.window_seconds),
            },
            faults: Faults {
                latency_ms: self.latency_ms,
                rate_503: self.fail_503_rate,
                rate_504: self.fail_504_rate,
                drop_rate: self.drop_rate,
                delta_expiry_rate: self.delta_expiry_rate,
            },
            redirect_uris: self.redirect_uri.clone(),
            ..EmulatorConfig::default()
        };
        if let Some(day) = self.anchor {
            let noon = day.and_hms_opt(12, 0, 0).context("the anchor day has no noon")?;
            config.anchor = chrono::TimeZone::from_utc_datetime(&chrono::Utc, &noon);
        }
        Ok(config)
    }
}

async fn start(config: EmulatorConfig, listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen}: is another emulator running? Pick another with --listen")
    })?;
    let addr = listener.local_addr()?;
    let emulator = tac_emulator::Emulator::new(&config, &format!("http://{addr}"));
    let c = emulator.credentials();
    // Scripts read these lines; keep their order and names stable.
    let mut out = std::io::stdout().lock();
    writeln!(out, "tenant_id={}", c.tenant_id)?;
    writeln!(out, "client_id={}", c.client_id)?;
    writeln!(out, "client_secret={}", c.client_secret)?;
    writeln!(out, "login_url={}", c.login_url)?;
    writeln!(out, "graph_url={}", c.graph_url)?;
    out.flush()?;
    drop(out);
    tracing::info!(%addr, users = config.size.users(), seed = config.seed, "emulator listening; admin API at /_emulator/config");
    axum_serve(listener, emulator).await
}

async fn axum_serve(listener: tokio::net::TcpListener, emulator: tac_emulator::Emulator) -> anyhow::Result<()> {
    tac_emulator::serve_router(listener, emulator.router(), async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
    })
    .await
    .context("the emulator stopped with an error")
}

pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    start(args.config()?, &args.listen).await?;
    Ok(ExitCode::SUCCESS)
}
