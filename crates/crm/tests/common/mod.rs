//! What the command-line tests share: fresh databases of each kind and a
//! way to run the real `tac-crm` binary against one.

#![allow(dead_code, reason = "each test crate uses a different part")]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tac_test_support::TestDatabase;

/// A running `tac-crm` process, killed and reaped when dropped, so that a
/// failed assertion leaves no server behind.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn unique() -> String {
    format!("{}_{}", std::process::id(), chrono::Utc::now().timestamp_micros())
}

/// A test's temporary folder and the PostgreSQL databases made for it, all
/// removed when it is dropped, whether the test passed or not.
pub struct Scratch {
    pub dir: PathBuf,
    databases: std::sync::Mutex<Vec<TestDatabase>>,
}

impl Scratch {
    /// A new folder `tac-<label>-…` in the temporary directory.
    pub fn new(label: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tac-{label}-{}", unique()));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        Scratch { dir, databases: std::sync::Mutex::default() }
    }

    /// A SQLite file in `sqlite_dir` and a fresh PostgreSQL database
    /// (`tac_<prefix>_…`), dropped with the scratch: their URLs, by backend.
    pub fn databases(&self, sqlite_dir: &Path, prefix: &str) -> Vec<(&'static str, String)> {
        let postgres = TestDatabase::postgres(prefix);
        let urls = vec![
            ("sqlite", format!("sqlite://{}", sqlite_dir.join("tac.db").display())),
            ("postgres", postgres.url.clone()),
        ];
        self.databases.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(postgres);
        urls
    }

    /// One [`Cli`] per backend, as [`Scratch::databases`] makes them, each
    /// with its own data folder `<backend>` in the scratch folder.
    pub fn clis(&self, prefix: &str) -> Vec<Cli> {
        self.databases(&self.dir, prefix)
            .into_iter()
            .map(|(backend, url)| Cli::new(self.dir.join(backend), url, backend))
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The databases go with the vector; the folder with the SQLite files here.
        self.databases.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The binary with a data folder and a database.
pub struct Cli {
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Which backend, for assertion messages.
    pub label: &'static str,
}

impl Cli {
    pub fn new(data_dir: PathBuf, database_url: String, label: &'static str) -> Self {
        Cli { data_dir, database_url, label }
    }

    /// `integration set` for the emulator's app, with `secret` on stdin
    /// and any `extra` flags.
    pub fn connect(&self, c: &tac_emulator::Credentials, secret: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "integration",
            "set",
            "--tenant-id",
            &c.tenant_id,
            "--client-id",
            &c.client_id,
            "--client-secret-stdin",
            "--login-url",
            &c.login_url,
            "--graph-url",
            &c.graph_url,
        ];
        args.extend_from_slice(extra);
        self.run(&args, Some(&format!("{secret}\n")))
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tac-crm"))
            .args(args)
            .env("TAC_DATA_DIR", &self.data_dir)
            .env("TAC_DATABASE_URL", &self.database_url)
            // The emulator listens on loopback, outside Microsoft's clouds.
            .env("TAC_ALLOW_CUSTOM_CLOUD", "true")
            .env_remove("TAC_MASTER_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tac-crm starts");
        if let Some(text) = stdin {
            child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("tac-crm finishes")
    }

    /// Runs a command that must exit 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args, None);
        assert_eq!(out.status.code(), Some(0), "{}: tac-crm {}: {}", self.label, args.join(" "), text(&out));
        out
    }

    /// Runs a command that must exit 0 and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: tac-crm {}: not JSON ({e}): {}", self.label, args.join(" "), text(&out)))
    }

    /// Runs a command that must exit with `code`; returns stdout and stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args, None);
        assert_eq!(out.status.code(), Some(code), "{}: tac-crm {}: {}", self.label, args.join(" "), text(&out));
        text(&out)
    }
}

/// Standard output then standard error, as text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A tiny blocking HTTP/1.1 GET, so these tests need no HTTP client crate:
/// the status and the body.
pub fn http_get(url: &str) -> (u16, String) {
    use std::io::Read;
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(host).expect("connects");
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
