//! What the Graph SDK fidelity tests share (`sdk_fidelity.rs` runs Microsoft's
//! JavaScript SDK, `sdk_fidelity_python.rs` its Python SDK): the emulator
//! served over HTTPS with the test certificate from `tests/sdk-fidelity/tls/`,
//! and running an SDK script as a child process and reading its verdict.
//!
//! Microsoft's clients speak only HTTPS (MSAL refuses an `http://` authority,
//! and the Graph SDKs send their token only to `https://` hosts), so the
//! emulator is put behind TLS here rather than in the crate itself.

use axum::serve::Listener;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tac_emulator::{Emulator, EmulatorConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// `tests/sdk-fidelity/`: the SDK scripts, their pinned packages and the TLS fixtures.
pub fn fidelity_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("sdk-fidelity")
}

/// The test CA that signed the server certificate, for the clients to trust.
pub fn ca_file() -> PathBuf {
    fidelity_dir().join("tls").join("ca.pem")
}

/// The server side of the test TLS: the fixture certificate and key.
fn tls_acceptor() -> TlsAcceptor {
    let tls = fidelity_dir().join("tls");
    let read = |name: &str| std::fs::read(tls.join(name)).unwrap_or_else(|e| panic!("reading tls/{name}: {e}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read("server.pem"))
        .collect::<Result<_, _>>()
        .expect("tls/server.pem holds certificates");
    let key = PrivateKeyDer::from_pem_slice(&read("server-key.pem")).expect("tls/server-key.pem holds a private key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the test certificate and key match");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// A TLS listener for `axum::serve`: handshakes run concurrently, so one slow
/// client cannot hold up the others.
struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        let addr = tcp.local_addr().expect("local address");
        let (tx, connections) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener { connections, addr }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The acceptor task only stops with the runtime.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// The emulator on `https://127.0.0.1:PORT`, stopped when dropped.
pub struct HttpsEmulator {
    pub emulator: Emulator,
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpsEmulator {
    /// Hands a script what it needs to reach this emulator: the URLs, the
    /// app's credentials and the admin API's base, with loopback kept away
    /// from any proxy the environment names.
    pub fn configure(&self, command: &mut Command) {
        let creds = self.emulator.credentials();
        command
            .env("TAC_LOGIN_URL", &creds.login_url)
            .env("TAC_GRAPH_URL", &creds.graph_url)
            .env("TAC_TENANT_ID", &creds.tenant_id)
            .env("TAC_CLIENT_ID", &creds.client_id)
            .env("TAC_CLIENT_SECRET", &creds.client_secret)
            .env("TAC_EMULATOR_URL", &self.base_url)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
    }

    /// Runs an SDK script against this emulator (handed what [`configure`]
    /// gives it), prints its output, and fails unless every check of the
    /// `sdk` script passed. `what` names the script in failure messages.
    ///
    /// [`configure`]: HttpsEmulator::configure
    pub async fn run_script(&self, mut command: Command, what: &'static str, sdk: &str) {
        let creds = self.emulator.credentials();
        assert!(creds.login_url.starts_with("https://"), "the emulator's links carry its https base URL");
        self.configure(&mut command);
        // The emulator keeps serving on the runtime's workers while the script runs here.
        let output = tokio::task::spawn_blocking(move || run(command, what, Duration::from_secs(300)))
            .await
            .unwrap_or_else(|e| panic!("the task running {what}: {e}"));
        println!("{}", describe(&output));
        assert_script_passed(&output, sdk);
    }
}

/// Serves an emulator over HTTPS on a free loopback port, in the background.
pub async fn spawn_https(config: EmulatorConfig) -> HttpsEmulator {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let base_url = format!("https://{}", tcp.local_addr().expect("local address"));
    let emulator = Emulator::new(&config, &base_url);
    let router = emulator.router();
    let listener = TlsListener::new(tcp, tls_acceptor());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("the emulator serves");
    });
    HttpsEmulator { emulator, base_url, task }
}

/// Runs a command to completion, killing it if it hangs past `limit` (a guard
/// against a stuck child, not a measure of speed).
pub fn run(mut command: Command, what: &str, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {what}: {e}"));
    // Drain the pipes on their own threads so a chatty child cannot block.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).map(|_| v).unwrap_or_default()
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).map(|_| v).unwrap_or_default()
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
}

/// A child's exit status and output, for a failure message.
pub fn describe(output: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Fails unless an SDK script exited 0 after printing its closing
/// "N passed, 0 failed" line (a script that died half-way prints none).
pub fn assert_script_passed(output: &Output, sdk: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(output.status.success(), "{sdk} disagreed with the ground truth ({summary}); the script's output is above");
    assert!(summary.ends_with(" passed, 0 failed"), "the {sdk} script did not finish its checks: {summary:?}");
}
