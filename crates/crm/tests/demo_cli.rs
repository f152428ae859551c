//! `tac-crm demo`, run as the real binary on free ports in a fresh data
//! folder: it prints the portal's address and the demo admin's sign-in,
//! syncs the emulator's small organisation, serves contacts, stops on
//! Ctrl-C, and a rerun on the same folder picks up where it left off.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tac_store::Store;

/// Not a performance bound: only how long to wait before calling the demo stuck.
const STUCK: Duration = Duration::from_secs(600);

struct Demo {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    /// Everything printed so far, for failure messages.
    seen: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(data_dir: &std::path::Path) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tac-crm"))
            .args(["demo", "--size", "small", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0"])
            .env("TAC_DATA_DIR", data_dir)
            .env_remove("TAC_DATABASE_URL")
            .env_remove("TAC_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tac-crm starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo { child, lines, seen: Vec::new() }
    }

    /// The rest of the first line that starts with `prefix`.
    fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(STUCK)
                .unwrap_or_else(|e| panic!("no line starting {prefix:?} ({e}); printed: {:#?}", self.seen));
            self.seen.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Ctrl-C, then the exit code.
    fn interrupt(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
        assert!(sent.success());
        self.child.wait().expect("the demo exits").code()
    }
}

/// Signs in through the login form like a browser and returns the
/// contact list page.
async fn contacts_page(base: &str, email: &str, password: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut cookies = BTreeMap::new();
    let keep = |cookies: &mut BTreeMap<String, String>, response: &reqwest::Response| {
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            cookies.insert(name.to_owned(), value.to_owned());
        }
    };
    let header = |cookies: &BTreeMap<String, String>| {
        cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    };
    let form = client.get(format!("{base}/login")).send().await.unwrap();
    keep(&mut cookies, &form);
    let html = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field on the sign-in form") + marker.len();
    let csrf = &html[start..start + html[start..].find('"').unwrap()];
    let signed_in = client
        .post(format!("{base}/login"))
        .header("origin", base)
        .header("cookie", header(&cookies))
        .form(&[("csrf", csrf), ("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303, "sign-in with the printed credentials");
    keep(&mut cookies, &signed_in);
    let list = client.get(format!("{base}/contacts")).header("cookie", header(&cookies)).send().await.unwrap();
    assert_eq!(list.status().as_u16(), 200);
    list.text().await.unwrap()
}

#[test]
fn demo_serves_a_synced_portal_with_a_printed_sign_in_and_reruns_on_the_same_folder() {
    let scratch = common::Scratch::new("demo-cli");
    let dir = scratch.dir.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut first = Demo::start(&dir);
    let base = first.wait_for("TAC demo portal:");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let email = first.wait_for("Sign in as:");
    let password = first.wait_for("Password:");
    assert!(first.wait_for("\"Sign in with Microsoft\"").contains("emulator's sign-in page"));
    let ready = first.wait_for("Ready");
    assert!(ready.contains("synced 20 mailboxes"), "{ready}");
    assert!(!ready.contains("problems"), "{ready}");
    let list = runtime.block_on(contacts_page(&base, &email, &password));
    assert!(list.matches("href=\"/contacts/").count() > 5, "a contact list with contacts: {list}");
    assert_eq!(first.interrupt(), Some(0), "Ctrl-C stops the demo cleanly");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("demo-admin-password")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads the kept password");
    }

    // The rerun: same admin and password, the integration pointed at the
    // emulator's new port, and an incremental sync.
    let mut again = Demo::start(&dir);
    let base = again.wait_for("TAC demo portal:");
    assert_eq!(again.wait_for("Sign in as:"), email);
    assert_eq!(again.wait_for("Password:"), password);
    let ready = again.wait_for("Ready");
    assert!(ready.contains("synced 20 mailboxes"), "{ready}");
    assert!(!ready.contains("problems"), "{ready}");
    let list = runtime.block_on(contacts_page(&base, &email, &password));
    assert!(list.matches("href=\"/contacts/").count() > 5, "{list}");
    assert_eq!(again.interrupt(), Some(0));

    runtime.block_on(async {
        let store = Store::connect(&format!("sqlite://{}", dir.join("tac.db").display())).await.unwrap();
        let ws = store.ensure_workspace("default").await.unwrap();
        assert_eq!(store.count_admins(ws).await.unwrap(), 1, "no second demo admin");
        store.close().await;
    });
}
