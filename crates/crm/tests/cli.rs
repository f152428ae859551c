//! The `tac-crm emulator` contract that scripts rely on: once listening, it
//! prints `key=value` lines for the five connection settings, in order.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;

use common::{Running, http_get};

#[test]
fn emulator_prints_its_connection_settings_as_key_value_lines_once_listening() {
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_tac-crm"))
            .args(["emulator", "--listen", "127.0.0.1:0", "--seed", "7"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tac-crm starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(stdout).lines().take(5).map(|l| l.expect("a line")).collect();
    let keys: Vec<&str> = lines.iter().map(|l| l.split_once('=').expect("key=value").0).collect();
    assert_eq!(keys, ["tenant_id", "client_id", "client_secret", "login_url", "graph_url"]);
    let value = |k: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap().to_string();
    let login = value("login_url");
    assert!(login.starts_with("http://127.0.0.1:"));
    assert_eq!(value("graph_url"), format!("{login}/v1.0"));

    // The printed settings work: the discovery document answers for the tenant.
    let url = format!("{login}/{}/v2.0/.well-known/openid-configuration", value("tenant_id"));
    let (status, body) = http_get(&url);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"token_endpoint\""), "{body}");
}

#[test]
fn bad_flags_are_refused_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_tac-crm"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--fail-503-rate", "1.5"])
        .output()
        .expect("tac-crm runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--fail-503-rate must be between 0.0 and 1.0"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_tac-crm")).args(["emulator", "--size", "huge"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown size"));
}
