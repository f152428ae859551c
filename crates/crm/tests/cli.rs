//! The `tac-crm emulator` contract that scripts rely on: once listening, it
//! prints `key=value` lines for the five connection settings, in order.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;

use common::Running;

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
    let body = http_get(&url);
    assert!(body.contains("\"token_endpoint\""), "{body}");
}

/// A tiny blocking HTTP/1.1 GET, so this test needs no HTTP client crate.
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(host).expect("connects");
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    response
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
