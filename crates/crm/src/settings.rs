//! Configuration in two steps: [`Config`] holds the raw values from
//! flags and the environment with no I/O; [`Settings::build`] turns them into
//! working parts (the data folder, the master key, the store) and reports
//! every problem with what to do about it.

use anyhow::{Context, bail};
use clap::Args;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use tac_graph::CloudPolicy;
use tac_store::{MasterKey, Store, WorkspaceId};

/// Settings every command shares. Each flag has a matching environment variable.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// The data folder: the SQLite database and the master key live here.
    #[arg(long, env = "TAC_DATA_DIR", default_value = "./tac-data", global = true)]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data dir>/tac.db`.
    #[arg(long, env = "TAC_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// 32 bytes, base64, encrypting the client secret. Defaults to `<data dir>/master.key`, created on first use.
    #[arg(long, env = "TAC_MASTER_KEY", hide_env_values = true, global = true)]
    pub master_key: Option<String>,
    /// Accept login and Graph URLs outside Microsoft's clouds (the emulator, a test proxy). Off: an admin
    /// cannot point TAC, and its client secret, at a host of their own.
    #[arg(long, env = "TAC_ALLOW_CUSTOM_CLOUD", global = true)]
    pub allow_custom_cloud: bool,
}

/// The working parts built from [`Config`].
pub struct Settings {
    pub store: Store,
    pub key: MasterKey,
    /// The CLI works in one default workspace.
    pub workspace: WorkspaceId,
    /// Which login and Graph URLs this deployment accepts.
    pub clouds: CloudPolicy,
}

impl Settings {
    pub async fn build(config: &Config) -> anyhow::Result<Settings> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data folder {}: set TAC_DATA_DIR to a writable folder",
                config.data_dir.display()
            )
        })?;
        let key = match &config.master_key {
            Some(b64) => MasterKey::from_base64(b64.trim())
                .context("TAC_MASTER_KEY must be 32 bytes in base64 (for example `openssl rand -base64 32`)")?,
            None => load_or_create_key(&config.data_dir.join("master.key"))?,
        };
        let url = match &config.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", config.data_dir.join("tac.db").display()),
        };
        let store = Store::connect(&url).await.with_context(|| format!("cannot open the database {}", redact(&url)))?;
        let workspace = store.ensure_workspace("default").await?;
        Ok(Settings { store, key, workspace, clouds: CloudPolicy::from_opt_in(config.allow_custom_cloud) })
    }
}

/// Reads the master key file, or makes one (mode 0600) on first use.
fn load_or_create_key(path: &Path) -> anyhow::Result<MasterKey> {
    if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        return MasterKey::from_base64(text.trim())
            .with_context(|| format!("{} is not a valid master key (32 bytes, base64)", path.display()));
    }
    let key = MasterKey::generate().context("cannot generate a master key")?;
    write_private(path, key.to_base64().expose_secret()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

/// Writes a new file only its owner can read (mode 0600 on Unix); fails if it exists.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        f.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
        f.write_all(text.as_bytes())
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Reads the client secret from stdin or a file, trimmed; refuses an empty one.
pub fn read_secret(stdin: bool, file: Option<&Path>) -> anyhow::Result<secrecy::SecretString> {
    let raw = match (stdin, file) {
        (true, None) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("cannot read the secret from stdin")?;
            s
        }
        (false, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read the secret file {}", f.display()))?
        }
        _ => bail!("give the client secret with exactly one of --client-secret-stdin or --client-secret-file"),
    };
    let secret = raw.trim();
    if secret.is_empty() {
        bail!("the client secret is empty: paste the secret's Value from Certificates & secrets");
    }
    Ok(secrecy::SecretString::from(secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(redact("postgres://tac:hunter2@db:5432/tac"), "postgres://tac:***@db:5432/tac");
        assert_eq!(redact("sqlite://./tac-data/tac.db"), "sqlite://./tac-data/tac.db");
    }
}
