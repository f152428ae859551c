//! `tac-crm admin create`: portal accounts from the command line, for the
//! first admin (instead of the setup link) and for scripts. The password
//! comes from stdin, never from a flag (flags show in `ps` and shell
//! history), and follows the portal's rules.

use crate::settings::{Config, Settings};
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::process::ExitCode;
use tac_store::{NewPortalUser, Role, StoreError};
use tac_web::auth::{check_new_password, normalize_email, password};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a portal account (an admin unless --role member).
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The email to sign in with.
    #[arg(long)]
    email: String,
    /// Read the password from standard input (required: passwords never go in flags).
    #[arg(long, required = true)]
    password_stdin: bool,
    /// admin changes integration and privacy settings; member uses the CRM.
    #[arg(long, value_enum, default_value = "admin")]
    role: RoleArg,
    /// The name shown in the portal.
    #[arg(long, default_value = "")]
    name: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Member,
}

pub async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Create(args) => create(config, args).await,
    }
}

async fn create(config: &Config, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let email = normalize_email(&args.email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let password = read_password()?;
    if let Err(message) = check_new_password(&password, &email) {
        bail!("the password is too weak or too long: {message}");
    }
    let settings = Settings::build(config).await?;
    let hash = password::hash_blocking(password).await.context("cannot hash the password")?;
    let role = match args.role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Member => Role::Member,
    };
    let new = NewPortalUser { email: email.clone(), display_name: args.name, password_hash: Some(hash), role };
    match settings.store.create_portal_user(settings.workspace, &new).await {
        Ok(id) => {
            println!("created {role} {email} (user {id}); sign in at the portal's /login");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ StoreError::UserExists { .. }) => Err(e.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot create the user")),
    }
}

/// The password from stdin without its line ending; spaces inside and
/// around it are part of it.
fn read_password() -> anyhow::Result<String> {
    let mut raw = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut raw).context("cannot read the password from stdin")?;
    let password = raw.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(&raw);
    if password.is_empty() {
        bail!(
            "no password on stdin: pipe it in, e.g. `printf '%s' \"$PASSWORD\" | tac-crm admin create --email E --password-stdin`"
        );
    }
    Ok(password.to_owned())
}
