//! Fidelity with Microsoft's own client libraries: `@azure/identity` and the
//! Microsoft Graph JavaScript SDK (`@microsoft/microsoft-graph-client` with its
//! `PageIterator`) authenticate against the emulator, list users and page
//! through mail and calendarView delta rounds, and must get exactly the ground
//! truth. The script is `tests/sdk-fidelity/fidelity.mjs`; this test serves the
//! emulator, installs the npm packages on first run and runs the script.
//!
//! Microsoft's clients speak only HTTPS (MSAL refuses an `http://` authority;
//! the Graph SDK sends the token only to `https://` hosts and mis-joins
//! `http://` next links onto its base URL), so the emulator is served here
//! behind TLS with a test certificate from `tests/sdk-fidelity/tls/`, and the
//! CA is handed to Node with `NODE_EXTRA_CA_CERTS`.
//!
//! Needs `node` (20 or newer) and `npm` on `PATH`; the test fails without them.

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

fn fidelity_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("sdk-fidelity")
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
struct HttpsEmulator {
    emulator: Emulator,
    base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn spawn_https(config: EmulatorConfig) -> HttpsEmulator {
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

/// Runs a command to completion with a deadline, killing it when the deadline passes.
fn run(mut command: Command, what: &str, limit: Duration) -> Output {
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

fn describe(output: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Fails the test with advice when a tool is missing.
fn require_tool(tool: &str) {
    let found = Command::new(tool).arg("--version").stdout(Stdio::piped()).stderr(Stdio::piped()).output();
    match found {
        Ok(o) if o.status.success() => {
            println!("{tool} {}", String::from_utf8_lossy(&o.stdout).trim());
        }
        _ => panic!(
            "`{tool}` is not on PATH. The Graph SDK fidelity test runs Microsoft's Graph client under Node.js: \
             install Node.js 20 or newer with npm (for example `apt-get install nodejs npm`) and run the tests again."
        ),
    }
}

/// `npm ci` when the packages are missing or older than the lock file.
fn install_packages(dir: &Path) {
    let installed = dir.join("node_modules").join(".package-lock.json");
    let lock = dir.join("package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&installed), modified(&lock)) {
        (Some(i), Some(l)) => i >= l,
        _ => false,
    };
    if fresh {
        return;
    }
    let mut npm = Command::new("npm");
    npm.current_dir(dir)
        .args(if lock.exists() { ["ci", "--no-audit"] } else { ["install", "--no-audit"] })
        .arg("--no-fund");
    println!("installing the Graph SDK with npm in {}", dir.display());
    let output = run(npm, "npm ci", Duration::from_secs(600));
    assert!(output.status.success(), "npm could not install the Graph SDK:\n{}", describe(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_graph_sdk_pages_users_and_delta_rounds_to_the_ground_truth() {
    require_tool("node");
    require_tool("npm");
    let dir = fidelity_dir();
    let install_dir = dir.clone();
    tokio::task::spawn_blocking(move || install_packages(&install_dir)).await.expect("npm install task");

    let server = spawn_https(EmulatorConfig::default()).await;
    let creds = server.emulator.credentials();
    assert!(creds.login_url.starts_with("https://"), "the emulator's links carry its https base URL");

    let mut node = Command::new("node");
    node.current_dir(&dir)
        .arg("fidelity.mjs")
        .env("TAC_LOGIN_URL", &creds.login_url)
        .env("TAC_GRAPH_URL", &creds.graph_url)
        .env("TAC_TENANT_ID", &creds.tenant_id)
        .env("TAC_CLIENT_ID", &creds.client_id)
        .env("TAC_CLIENT_SECRET", &creds.client_secret)
        .env("TAC_EMULATOR_URL", &server.base_url)
        .env("NODE_EXTRA_CA_CERTS", dir.join("tls").join("ca.pem"))
        // Loopback traffic must not go to a proxy that the environment names.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    // The emulator keeps serving on the runtime's workers while node runs here.
    let output = tokio::task::spawn_blocking(move || run(node, "node fidelity.mjs", Duration::from_secs(300)))
        .await
        .expect("node task");
    println!("{}", describe(&output));

    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        output.status.success(),
        "the Graph SDK disagreed with the ground truth ({summary}); the script's output is above"
    );
    assert!(summary.ends_with(" passed, 0 failed"), "the script did not finish its checks: {summary:?}");
}
