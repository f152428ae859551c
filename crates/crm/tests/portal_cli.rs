//! `tac-crm admin create` and `tac-crm serve`, run as the real binary.

mod common;

use common::{Cli, Running, Scratch, http_get, text};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tac_store::{Role, Store};

const PASSWORD: &str = "a long enough passphrase";

#[test]
fn admin_create_makes_accounts_from_a_password_on_stdin_and_explains_refusals() {
    let scratch = Scratch::new("admin-cli");
    let dir = scratch.dir.clone();
    for (label, url) in scratch.databases(&dir.join("db"), "admin_cli") {
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let cli = Cli::new(dir.join(label), url.clone(), label);

        let created = cli.run(
            &["admin", "create", "--email", "Root@Contoso.com", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        );
        assert_eq!(created.status.code(), Some(0), "{label}: {}", text(&created));
        assert!(text(&created).contains("created admin root@contoso.com"), "{label}: {}", text(&created));
        let member = cli.run(
            &["admin", "create", "--email", "ann@contoso.com", "--password-stdin", "--role", "member", "--name", "Ann"],
            Some(PASSWORD),
        );
        assert_eq!(member.status.code(), Some(0), "{label}: {}", text(&member));

        let again = cli.run(&["admin", "create", "--email", "root@contoso.com", "--password-stdin"], Some(PASSWORD));
        assert_eq!(again.status.code(), Some(2), "{label}");
        assert!(text(&again).contains("already exists"), "{label}: {}", text(&again));
        let short = cli.run(&["admin", "create", "--email", "bob@contoso.com", "--password-stdin"], Some("short\n"));
        assert_eq!(short.status.code(), Some(2), "{label}");
        assert!(text(&short).contains("at least 12 characters"), "{label}: {}", text(&short));
        let empty = cli.run(&["admin", "create", "--email", "bob@contoso.com", "--password-stdin"], Some(""));
        assert!(text(&empty).contains("no password on stdin"), "{label}: {}", text(&empty));
        let bad_email = cli.run(&["admin", "create", "--email", "bob", "--password-stdin"], Some(PASSWORD));
        assert!(text(&bad_email).contains("--email: Enter an email address"), "{label}: {}", text(&bad_email));
        let no_stdin_flag = cli.run(&["admin", "create", "--email", "bob@contoso.com"], Some(PASSWORD));
        assert!(!no_stdin_flag.status.success(), "{label}: --password-stdin is required");

        // What the store holds: roles as asked, an argon2id hash that checks.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = Store::connect(&url).await.unwrap();
            let ws = store.ensure_workspace("default").await.unwrap();
            let root = store.portal_user_by_email(ws, "root@contoso.com").await.unwrap().expect("created");
            assert_eq!(root.role, Role::Admin);
            assert!(tac_web::auth::password::verify(PASSWORD, root.password_hash.as_deref().unwrap()));
            let ann = store.portal_user_by_email(ws, "ann@contoso.com").await.unwrap().expect("created");
            assert_eq!((ann.role, ann.display_name.as_str()), (Role::Member, "Ann"));
            assert_eq!(store.count_admins(ws).await.unwrap(), 1);
            store.close().await;
        });
    }
}

#[test]
fn serve_prints_a_one_time_setup_link_at_first_start_and_answers_health_checks() {
    let scratch = Scratch::new("serve-cli");
    let dir = scratch.dir.clone();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_tac-crm"))
            .args(["serve", "--listen", "127.0.0.1:0", "--no-sync"])
            .env("TAC_DATA_DIR", &dir)
            .env_remove("TAC_DATABASE_URL")
            .env_remove("TAC_MASTER_KEY")
            .env_remove("TAC_PUBLIC_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tac-crm starts"),
    );
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").unwrap();
    let base = first
        .strip_prefix("TAC portal: ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    assert!(lines.next().unwrap().unwrap().contains("No admin yet"));
    let link = lines.next().unwrap().unwrap();
    assert!(link.starts_with(&format!("{base}/setup?token=")), "{link}");

    let (status, body) = http_get(&format!("{base}/healthz"));
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = http_get(&link);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Set up TAC"), "{body}");
    drop(child);
}
