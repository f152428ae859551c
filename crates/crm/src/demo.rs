//! `tac-crm demo`: the quickstart, one command from a fresh checkout to a
//! browsable portal. It runs the Microsoft cloud emulator with a synthetic
//! organisation, connects TAC to it in the data folder's database exactly as
//! an admin would (Tenant ID, Client ID, Client Secret, Import Emails and
//! Calendar Synchronization on), makes a demo admin, and serves the portal
//! (the same [`Serving`] as `tac-crm serve`) while the first sync runs with
//! progress; then the background sync keeps it current. Ctrl-C stops all.
//!
//! The demo admin's password is random, made at the first run and kept in
//! `<data dir>/demo-admin-password` (mode 0600), so a rerun on the same data
//! folder prints the same one; a well-known demo password would stay valid
//! on any machine where someone ever tried the demo and then kept the data.
//! A rerun is idempotent: the admin is reused, the integration is updated
//! to the emulator's new address, and the sync is incremental.

use crate::serve::{Serving, bind, portal_state};
use crate::settings::{Config, Settings, write_private};
use crate::worker::{FirstPass, MIN_INTERVAL_SECS, pass, sync_loop};
use anyhow::Context;
use clap::Args;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tac_core::MailboxState;
use tac_emulator::{EmulatorConfig, OrgSize};
use tac_store::{IntegrationSettings, NewPortalUser, Role};
use tac_web::SyncTrigger;
use tac_web::auth::password;

/// The demo admin's sign-in. `.example` is reserved (RFC 2606): it can
/// never be somebody's real address.
pub const DEMO_ADMIN_EMAIL: &str = "admin@tac-demo.example";
/// Where the demo admin's password is kept, in the data folder.
const PASSWORD_FILE: &str = "demo-admin-password";

/// Flags of `tac-crm demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The address the portal listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The address the Microsoft cloud emulator listens on.
    #[arg(long, default_value = "127.0.0.1:5880")]
    emulator_listen: String,
    /// small (20 mailboxes), medium (200) or large.
    #[arg(long, default_value = "medium")]
    size: OrgSize,
    /// The synthetic organisation's seed: the same seed makes the same people and mail.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds between background sync passes after the first sync.
    #[arg(long, default_value_t = 60)]
    interval: u64,
}

pub async fn run(config: &Config, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    anyhow::ensure!(args.interval >= MIN_INTERVAL_SECS, "--interval must be at least {MIN_INTERVAL_SECS} seconds");
    // Both ports first, so a taken one fails before anything is written.
    let emulator_listener = tokio::net::TcpListener::bind(&args.emulator_listen).await.with_context(|| {
        format!(
            "cannot listen on {} for the emulator: is another demo running? Pick another address with --emulator-listen",
            args.emulator_listen
        )
    })?;
    let listener = bind(&args.listen).await?;
    let address = listener.local_addr()?;

    let emulator_address = emulator_listener.local_addr()?;
    let emulator = tac_emulator::Emulator::new(
        &EmulatorConfig { seed: args.seed, size: args.size, ..EmulatorConfig::default() },
        &format!("http://{emulator_address}"),
    );
    let creds = emulator.credentials();
    let router = emulator.router();
    tokio::spawn(async move {
        if let Err(e) = tac_emulator::serve_router(emulator_listener, router, std::future::pending()).await {
            tracing::error!(error = %e, "the emulator stopped");
        }
    });

    let mut settings = Settings::build(config).await?;
    // The demo's Microsoft cloud is the emulator, on loopback.
    settings.clouds = tac_graph::CloudPolicy::AnyHost;
    connect_to_emulator(&settings, &creds).await?;
    let admin = demo_admin(&settings, &config.data_dir).await?;

    let trigger = SyncTrigger::new();
    let state = portal_state(&settings, &format!("http://{address}"), Some(trigger.clone()))?;
    let url = state.public_url().to_owned();
    let serving = Serving::start(listener, state);
    println!("TAC demo portal: {url}");
    println!("Sign in as: {DEMO_ADMIN_EMAIL}");
    match &admin {
        Some(password) => println!("Password: {password}"),
        None => println!(
            "Password: the one you set in the portal (delete {} and rerun the demo with a fresh data folder for a new one)",
            config.data_dir.join(PASSWORD_FILE).display()
        ),
    }
    println!(
        "\"Sign in with Microsoft\" works too: it opens the emulator's sign-in page ({}), where you pick one of the \
         organisation's people.",
        creds.login_url
    );
    println!("Data folder: {} (the emulator's tenant {})", config.data_dir.display(), creds.tenant_id);
    eprintln!("First sync (the portal already shows its progress):");

    let first = tokio::select! {
        first = pass(&settings, crate::sync::progress(false)) => first,
        _ = serving.stopping() => {
            serving.finish().await?;
            settings.store.close().await;
            return Ok(ExitCode::SUCCESS);
        }
    };
    println!("{}", ready_line(&first, started.elapsed(), &url));
    println!("Syncing again every {} s; Ctrl-C stops.", args.interval);
    sync_loop(
        &settings,
        Duration::from_secs(args.interval),
        Some(trigger),
        FirstPass::AfterInterval,
        serving.stopping(),
    )
    .await;
    serving.finish().await?;
    settings.store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Saves the integration with the emulator's tenant, app and secret, and
/// both toggles on. A rerun keeps the admin's other choices (scope,
/// backfill…) and points them at this emulator.
async fn connect_to_emulator(settings: &Settings, creds: &tac_emulator::Credentials) -> anyhow::Result<()> {
    let mut integration = match settings.store.load_integration(settings.workspace, &settings.key).await? {
        Some(stored) if stored.settings.tenant_id == creds.tenant_id => stored.settings,
        _ => IntegrationSettings::new(creds.tenant_id.clone(), creds.client_id.clone()),
    };
    integration.client_id = creds.client_id.clone();
    integration.login_url = creds.login_url.clone();
    integration.graph_url = creds.graph_url.clone();
    integration.import_emails = true;
    integration.calendar_sync = true;
    let secret = secrecy::SecretString::from(creds.client_secret.clone());
    settings.store.save_integration(settings.workspace, &integration, Some(&secret), &settings.key, "demo").await?;
    Ok(())
}

/// What the demo says once its first pass is over.
fn ready_line(first: &anyhow::Result<Option<tac_sync::SyncReport>>, took: Duration, url: &str) -> String {
    match first {
        Ok(Some(report)) => {
            let emails: u64 = report.mailboxes.iter().map(|m| m.emails).sum();
            let meetings: u64 = report.mailboxes.iter().map(|m| m.meetings).sum();
            let failed = report
                .mailboxes
                .iter()
                .filter(|m| !matches!(m.state, MailboxState::Ok | MailboxState::NoMailbox))
                .count();
            let problems = match failed {
                0 => String::new(),
                n => format!(", {n} with problems (see the log above and the Integrations page)"),
            };
            format!(
                "Ready in {:.0} s: synced {} mailboxes ({emails} emails, {meetings} meetings received){problems}. Open {url}",
                took.as_secs_f64(),
                report.mailboxes.len()
            )
        }
        Ok(None) => format!("Ready, but nothing synced (see the log above). Open {url}"),
        Err(e) => {
            format!("Ready, but the first sync failed: {e:#}. The portal's Integrations page shows why. Open {url}")
        }
    }
}

/// Makes the demo admin at the first run, with a random password kept in
/// the data folder. Its password, or `None` when the admin exists and the
/// kept password no longer matches (it was changed in the portal).
async fn demo_admin(settings: &Settings, data_dir: &Path) -> anyhow::Result<Option<String>> {
    let path = data_dir.join(PASSWORD_FILE);
    let kept = match std::fs::read_to_string(&path) {
        Ok(text) => {
            Some(text.trim().to_owned()).filter(|p| tac_web::auth::check_new_password(p, DEMO_ADMIN_EMAIL).is_ok())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let ws = settings.workspace;
    if let Some(user) = settings.store.portal_user_by_email(ws, DEMO_ADMIN_EMAIL).await? {
        let Some(kept) = kept else { return Ok(None) };
        let matches = password::verify_blocking(kept.clone(), user.password_hash.clone()).await;
        return Ok(matches.then_some(kept));
    }
    let password = match kept {
        Some(kept) => kept,
        None => {
            let fresh = random_password()?;
            // A leftover unreadable or too-short file is replaced.
            let _ = std::fs::remove_file(&path);
            write_private(&path, &fresh).with_context(|| format!("cannot write {}", path.display()))?;
            fresh
        }
    };
    let hash = password::hash_blocking(password.clone()).await.context("cannot hash the demo admin's password")?;
    let new = NewPortalUser {
        email: DEMO_ADMIN_EMAIL.to_owned(),
        display_name: "Demo admin".to_owned(),
        password_hash: Some(hash),
        role: Role::Admin,
    };
    settings.store.create_portal_user(ws, &new).await.context("cannot create the demo admin")?;
    Ok(Some(password))
}

/// Four groups of five from an alphabet without look-alikes: 100 random
/// bits, easy to type from the terminal.
fn random_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
    let chars: Vec<char> = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])).collect();
    Ok(chars.chunks(5).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_passwords_are_four_groups_of_five_that_the_portal_accepts() {
        let a = random_password().unwrap();
        let b = random_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 23);
        assert_eq!(a.split('-').count(), 4);
        assert!(tac_web::auth::check_new_password(&a, DEMO_ADMIN_EMAIL).is_ok());
    }
}
