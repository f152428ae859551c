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
//! behind TLS with a test certificate from `tests/sdk-fidelity/tls/` (the
//! serving code is shared with the Python SDK's test, in `common/fidelity.rs`),
//! and the CA is handed to Node with `NODE_EXTRA_CA_CERTS`.
//!
//! Needs `node` (20 or newer) and `npm` on `PATH`; the test fails without them.

mod common;

use common::fidelity::{ca_file, describe, fidelity_dir, run, spawn_https};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tac_emulator::EmulatorConfig;

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
    let mut node = Command::new("node");
    node.current_dir(&dir).arg("fidelity.mjs").env("NODE_EXTRA_CA_CERTS", ca_file());
    server.run_script(node, "node fidelity.mjs", "the Graph JavaScript SDK").await;
}
