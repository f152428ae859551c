//! The admin's journey on the command line, against the emulator, on SQLite
//! and PostgreSQL: save the connection (first with a wrong secret), test it,
//! sync, and read the status. The secret never appears in any output.

use serde_json::Value;

use std::process::{Command, Stdio};

mod common;

use common::{Cli, Scratch, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_connects_a_tenant_tests_it_and_syncs_from_the_command_line() {
    let emulator = tac_emulator::spawn(tac_emulator::EmulatorConfig::default()).await.expect("emulator");
    let c = emulator.credentials();
    let scratch = Scratch::new("cli");
    for cli in scratch.clis("cli") {
        let backend = cli.label;
        let set = |secret: &str| cli.connect(&c, secret, &[]);

        let out = tokio::task::block_in_place(|| set("not-the-secret"));
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let out = tokio::task::block_in_place(|| cli.run(&["integration", "test"], None));
        assert_eq!(out.status.code(), Some(1), "{backend}: {}", text(&out));
        assert!(
            text(&out)
                .contains("AADSTS7000215: the client secret is wrong. Paste the secret's Value, not its Secret ID"),
            "{}",
            text(&out)
        );

        let out = tokio::task::block_in_place(|| set(&c.client_secret));
        assert!(out.status.success());
        let out = tokio::task::block_in_place(|| cli.run(&["integration", "test", "--json"], None));
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["ok"], true);
        let checks = report["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 7, "admin consent and six capabilities: {report}");
        assert!(checks.iter().all(|c| c["status"] == "ok"), "{report}");
        assert!(report["mailbox"].is_string(), "mail and calendars were tried on a mailbox: {report}");

        let out = tokio::task::block_in_place(|| cli.run(&["integration", "show", "--json"], None));
        let shown = text(&out);
        assert!(!shown.contains(&c.client_secret), "{backend}: the secret is never shown");
        assert!(shown.contains("set on "), "{shown}");
        assert!(
            !std::fs::read_dir(&cli.data_dir).unwrap().any(|f| {
                std::fs::read(f.unwrap().path())
                    .map(|b| String::from_utf8_lossy(&b).contains(&c.client_secret))
                    .unwrap_or(false)
            }),
            "{backend}: the secret is not stored in plain text"
        );

        let out = tokio::task::block_in_place(|| cli.run(&["sync", "--once", "--json"], None));
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let states: Vec<&str> =
            report["mailboxes"].as_array().unwrap().iter().map(|m| m["state"].as_str().unwrap()).collect();
        assert!(states.iter().all(|s| *s == "ok" || *s == "no_mailbox"), "{states:?}");

        let out = tokio::task::block_in_place(|| cli.run(&["status", "--json"], None));
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), states.len());
        assert!(rows.as_array().unwrap().iter().any(|r| r["state"] == "ok" && r["emails"].as_u64().unwrap() > 0));

        let out = tokio::task::block_in_place(|| {
            cli.run(
                &[
                    "integration",
                    "set",
                    "--tenant-id",
                    "not a tenant",
                    "--client-id",
                    &c.client_id,
                    "--client-secret-stdin",
                ],
                Some("x"),
            )
        });
        assert!(!out.status.success());
        assert!(text(&out).contains("is not a Tenant ID"), "{}", text(&out));
    }
}

#[test]
fn sync_without_an_integration_exits_2_with_what_to_do() {
    let scratch = Scratch::new("cli-empty");
    let dir = scratch.dir.clone();
    let cli = Cli::new(dir.clone(), format!("sqlite://{}", dir.join("tac.db").display()), "sqlite");
    let out = cli.run(&["sync", "--once"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("tac-crm integration set"));
}

/// Per mailbox: (state, emails, meetings), from `status --json`.
fn status_counts(cli: &Cli) -> std::collections::BTreeMap<String, (String, u64, u64)> {
    let out = cli.run(&["status", "--json"], None);
    let rows: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                (
                    r["state"].as_str().unwrap().to_string(),
                    r["emails"].as_u64().unwrap(),
                    r["meetings"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_any_moment_resumes_to_the_same_result() {
    // A little latency spreads the pass out, so the kills land mid-round.
    let config = tac_emulator::EmulatorConfig {
        faults: tac_emulator::Faults { latency_ms: 4, ..Default::default() },
        ..Default::default()
    };
    let emulator = tac_emulator::spawn(config).await.expect("emulator");
    let c = emulator.credentials();
    let scratch = Scratch::new("kill");
    let root = scratch.dir.clone();
    let connect = |cli: &Cli| assert!(cli.connect(&c, &c.client_secret, &[]).status.success());
    let reference =
        Cli::new(root.join("reference"), format!("sqlite://{}", root.join("reference.db").display()), "reference");
    tokio::task::block_in_place(|| {
        connect(&reference);
        assert!(reference.run(&["sync", "--once"], None).status.success());
    });
    let expected = tokio::task::block_in_place(|| status_counts(&reference));
    assert!(expected.values().any(|(_, emails, _)| *emails > 0));

    for (backend, url) in scratch.databases(&root, "cli") {
        let cli = Cli::new(root.join(format!("victim-{backend}")), url, backend);
        tokio::task::block_in_place(|| connect(&cli));
        for delay_ms in [150u64, 500, 1100] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_tac-crm"))
                .args(["sync", "--once"])
                .env("TAC_DATA_DIR", &cli.data_dir)
                .env("TAC_ALLOW_CUSTOM_CLOUD", "true")
                .env("TAC_DATABASE_URL", &cli.database_url)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tac-crm starts");
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            // SIGKILL: no destructor, no flush, no goodbye.
            let _ = child.kill();
            let _ = child.wait();
        }
        let out = tokio::task::block_in_place(|| cli.run(&["sync", "--once"], None));
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let got = tokio::task::block_in_place(|| status_counts(&cli));
        assert_eq!(got, expected, "{backend}: a killed and resumed sync ends where an uninterrupted one does");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_graph_cannot_forge_log_lines_or_send_escape_sequences() {
    let emulator = tac_emulator::spawn(tac_emulator::EmulatorConfig::default()).await.expect("emulator");
    let c = emulator.credentials();
    let scratch = Scratch::new("cli-log");
    let cli = Cli::new(scratch.dir.clone(), format!("sqlite://{}", scratch.dir.join("tac.db").display()), "sqlite");
    // An item Graph sends that cannot be read, its id carrying a forged log
    // line and a terminal escape sequence.
    let forged = "x\nINFO tac_crm: an admin signed in\u{1b}[2J\u{1b}[31m";
    let users: Value =
        reqwest::get(format!("{}/_emulator/truth/mailboxes", emulator.base_url())).await.unwrap().json().await.unwrap();
    let uid = users["users"].as_array().unwrap().iter().find(|u| u["hasMailbox"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let added = reqwest::Client::new()
        .post(format!("{}/_emulator/users/{uid}/messages", emulator.base_url()))
        .json(&serde_json::json!({"folder": "inbox", "subject": "x", "from": {"name": "x", "address": "x@example.com"},
               "raw": {"id": forged, "receivedDateTime": "not a date"}}))
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success());
    let out = tokio::task::block_in_place(|| cli.connect(&c, &c.client_secret, &["--calendar-sync", "false"]));
    assert!(out.status.success(), "{}", text(&out));
    let out = tokio::task::block_in_place(|| cli.run(&["sync", "--once"], None));
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(log.contains("skipped an item that could not be read"), "{log}");
    assert!(!log.contains('\u{1b}'), "no escape byte reaches the log: {log:?}");
    assert!(!log.lines().any(|l| l.starts_with("INFO tac_crm: an admin signed in")), "no forged line: {log}");
    assert!(log.contains("x\\nINFO tac_crm: an admin signed in\\u{1b}[2J"), "escaped in place: {log}");
}
