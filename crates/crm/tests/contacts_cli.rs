//! Contacts, timelines, search and privacy on the command line, against the
//! emulator's small organisation synced into SQLite and PostgreSQL: the
//! commands and the timeline JSON that scripts depend on (docs/architecture.md §6), and
//! the privacy rules seen from outside (docs/architecture.md §5).

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashSet;

mod common;

use common::{Cli, Scratch, text};

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items is an array")
}

fn ids(page: &Value) -> Vec<String> {
    items(page).iter().map(|i| i["id"].as_str().expect("string id").to_string()).collect()
}

fn keys(v: &Value) -> HashSet<&str> {
    v.as_object().expect("an object").keys().map(String::as_str).collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().expect("a time string");
    assert!(s.ends_with('Z'), "times are RFC 3339 UTC with Z: {s}");
    DateTime::parse_from_rfc3339(s).expect("RFC 3339").with_timezone(&Utc)
}

/// An auto-created contact with past emails and meetings, and its address.
fn contact_with_history(cli: &Cli) -> String {
    let contacts = cli.json(&["contacts", "list", "--json", "--sort", "last-interaction", "--limit", "50"]);
    let now = Utc::now();
    for c in contacts.as_array().expect("a list") {
        let address = c["emails"][0].as_str().expect("an address");
        let page = cli.json(&["timeline", address, "--json", "--limit", "500"]);
        let past: Vec<&Value> = items(&page).iter().filter(|i| time(&i["occurred_at"]) < now).collect();
        let emails = past.iter().filter(|i| i["kind"] == "email").count();
        let meetings = past.iter().filter(|i| i["kind"] == "meeting").count();
        if emails >= 3 && meetings >= 1 {
            return address.to_string();
        }
    }
    panic!("{}: no synced contact has both emails and meetings", cli.label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_timelines_search_and_privacy_work_from_the_command_line() {
    let emulator = tac_emulator::spawn(tac_emulator::EmulatorConfig::default()).await.expect("emulator");
    let c = emulator.credentials();
    let scratch = Scratch::new("contacts");
    for cli in scratch.clis("contacts") {
        tokio::task::block_in_place(|| journey(&cli, &c, &scratch.dir));
    }
}

fn journey(cli: &Cli, c: &tac_emulator::Credentials, root: &std::path::Path) {
    let out = cli.connect(c, &c.client_secret, &[]);
    assert!(out.status.success(), "{}: {}", cli.label, text(&out));
    cli.ok(&["sync", "--once"]);
    let (address, domain) = a_contact_added_again_gets_its_history_at_once(cli);
    let page = the_timeline_json_has_its_documented_fields(cli, &address);
    let all = items(&page);
    filters_narrow_and_cursors_page_the_timeline(cli, &address);
    the_company_timeline_is_found_by_domain_and_name(cli, &page["contact"]);
    // An email body, while the policy shows bodies.
    let email_id = all.iter().find(|i| i["kind"] == "email" && i["is_private"] == false).expect("an email")["id"]
        .as_str()
        .unwrap()
        .to_string();
    cli.ok(&["email", "show", &email_id]);
    colleagues_and_bad_addresses_are_not_contacts(cli);
    a_csv_import_reports_bad_lines_and_never_imports_twice(cli, root);
    search_finds_words_and_treats_query_syntax_as_text(cli, all);
    metadata_visibility_nulls_subjects_and_hides_bodies(cli, &address, &email_id);
    blocking_the_domain_purges_its_items(cli, &address, &domain);
    every_change_is_in_the_audit_log(cli);
    disconnecting_asks_first_then_purges_what_was_synced(cli, &address);
}

/// A contact sync created, deleted and added again by hand: its whole
/// history links at once, whatever case the address is typed in.
fn a_contact_added_again_gets_its_history_at_once(cli: &Cli) -> (String, String) {
    let address = contact_with_history(cli);
    let domain = address.rsplit_once('@').expect("an address").1.to_string();
    let out = cli.ok(&["contacts", "delete", &address]);
    assert!(text(&out).contains("Deleted contact"), "{}", text(&out));
    cli.fails(&["timeline", &address], 2);
    let out = cli.ok(&["contacts", "add", "--email", &address.to_uppercase(), "--name", "Test Person"]);
    let said = text(&out);
    assert!(said.contains("Created contact") && said.contains("Linked "), "{said}");
    assert!(!said.contains("Linked 0 emails"), "history is linked at once: {said}");
    (address, domain)
}

/// The timeline JSON of docs/architecture.md §6.
fn the_timeline_json_has_its_documented_fields(cli: &Cli, address: &str) -> Value {
    let backend = cli.label;
    let page = cli.json(&["timeline", address, "--json"]);
    assert_eq!(keys(&page), HashSet::from(["contact", "summary", "items", "next_cursor"]), "{backend}");
    let contact = &page["contact"];
    assert!(["id", "name", "emails", "company"].iter().all(|k| keys(contact).contains(k)), "{contact}");
    assert!(contact["id"].is_string(), "{contact}");
    assert_eq!(contact["name"], "Test Person");
    assert_eq!(contact["emails"], serde_json::json!([address]));
    assert!(contact["company"].is_null() || contact["company"]["name"].is_string(), "{contact}");
    let summary = &page["summary"];
    assert!(keys(summary).contains("last_interaction_at") && keys(summary).contains("next_meeting_at"), "{summary}");
    time(&summary["last_interaction_at"]);
    let all = items(&page);
    assert!(all.len() >= 4, "{backend}: {all:?}");
    let times: Vec<DateTime<Utc>> = all.iter().map(|i| time(&i["occurred_at"])).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{backend}: newest first: {times:?}");
    for item in all {
        let expected: &[&str] = match item["kind"].as_str() {
            Some("email") => tac_test_support::EMAIL_ITEM_MEMBERS,
            Some("meeting") => tac_test_support::MEETING_ITEM_MEMBERS,
            other => panic!("{backend}: unknown kind {other:?}"),
        };
        let have = keys(item);
        assert!(expected.iter().all(|k| have.contains(k)), "{backend}: {item}");
        if item["kind"] == "meeting" {
            time(&item["start"]);
            time(&item["end"]);
        }
    }
    page
}

/// Filters and paging.
fn filters_narrow_and_cursors_page_the_timeline(cli: &Cli, address: &str) {
    let backend = cli.label;
    let meetings = cli.json(&["timeline", address, "--json", "--kind", "meeting"]);
    assert!(!items(&meetings).is_empty(), "{backend}");
    assert!(items(&meetings).iter().all(|i| i["kind"] == "meeting"), "{backend}: {meetings}");
    let first = cli.json(&["timeline", address, "--json", "--limit", "2"]);
    assert_eq!(items(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_string();
    let second = cli.json(&["timeline", address, "--json", "--limit", "2", "--cursor", &cursor]);
    assert!(!items(&second).is_empty());
    let (a, b) = (ids(&first), ids(&second));
    assert!(a.iter().all(|id| !b.contains(id)), "{backend}: pages overlap: {a:?} {b:?}");
    let four = cli.json(&["timeline", address, "--json", "--limit", "4"]);
    assert_eq!(ids(&four), [a, b].concat(), "{backend}: two pages of 2 are the first 4");
    let out = cli.ok(&["timeline", address, "--limit", "1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("more: --cursor "), "{}", text(&out));
    assert!(cli.fails(&["timeline", address, "--cursor", "not-a-cursor"], 2).contains("is not valid"));
}

/// The company timeline, found by domain and by name in any case.
fn the_company_timeline_is_found_by_domain_and_name(cli: &Cli, contact: &Value) {
    let backend = cli.label;
    if let (Some(company_domain), Some(name)) =
        (contact["company"]["domain"].as_str(), contact["company"]["name"].as_str())
    {
        let company = cli.json(&["timeline", "--company", company_domain, "--json"]);
        assert_eq!(keys(&company), HashSet::from(["company", "items", "next_cursor"]), "{backend}");
        assert!(!items(&company).is_empty());
        let by_name = cli.json(&["timeline", "--company", &name.to_uppercase(), "--json"]);
        assert_eq!(by_name["company"], company["company"]);
    }
}

/// Colleagues are not contacts.
fn colleagues_and_bad_addresses_are_not_contacts(cli: &Cli) {
    let backend = cli.label;
    let status = cli.json(&["status", "--json"]);
    let colleague = status[0]["address"].as_str().expect("a mailbox address").to_string();
    let said = cli.fails(&["contacts", "add", "--email", &colleague], 2);
    assert!(said.contains("organisation"), "{backend}: {said}");
    assert!(cli.fails(&["contacts", "add", "--email", "not an address"], 2).contains("not an email address"));
}

/// A CSV import: one good line, one bad address, one duplicate.
fn a_csv_import_reports_bad_lines_and_never_imports_twice(cli: &Cli, root: &std::path::Path) {
    let backend = cli.label;
    let csv = root.join(format!("{backend}-contacts.csv"));
    std::fs::write(
        &csv,
        "Name,Email,Company\nCsv Person,csv.person@example.org,Example\nBad Line,not-an-address,\nCsv Person,CSV.Person@example.org,Example\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let said = cli.fails(&["contacts", "import", csv], 1);
    assert!(said.contains("line 3: "), "{backend}: {said}");
    assert!(said.contains("created 1, updated 0, unchanged 1, failed 1"), "{backend}: {said}");
    let shown = cli.json(&["contacts", "show", "csv.person@example.org", "--json"]);
    assert_eq!(shown["contact"]["name"], "Csv Person");
    assert_eq!(shown["contact"]["source"], "import");
    let said = cli.fails(&["contacts", "import", csv], 1);
    assert!(
        said.contains("created 0, updated 0, unchanged 2, failed 1"),
        "{backend}: a rerun imports nothing twice: {said}"
    );
    let listed = cli.json(&["contacts", "list", "--json", "--search", "csv.person"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{backend}: {listed}");
}

/// Search: a word of a subject finds it; query syntax is just text.
fn search_finds_words_and_treats_query_syntax_as_text(cli: &Cli, all: &[Value]) {
    let backend = cli.label;
    let subject = all
        .iter()
        .find_map(|i| (i["kind"] == "email" && i["is_private"] == false).then(|| i["subject"].as_str()).flatten())
        .expect("an email subject");
    let word = subject.split_whitespace().find(|w| w.len() > 3 && w.chars().all(char::is_alphanumeric));
    if let Some(word) = word {
        let found = cli.json(&["search", word, "--json"]);
        assert!(!items(&found).is_empty(), "{backend}: searching {word:?} of {subject:?}");
    }
    let out = cli.ok(&["search", "\" OR 1=1 -- NEAR(* ) {subject}:x", "--json"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error"), "{backend}: {}", text(&out));
    let out = cli.ok(&["search", "' ; drop table email; --"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error"), "{backend}: {}", text(&out));
}

/// Metadata visibility: subjects are null, never left out; bodies are hidden.
fn metadata_visibility_nulls_subjects_and_hides_bodies(cli: &Cli, address: &str, email_id: &str) {
    let backend = cli.label;
    cli.ok(&["privacy", "set", "--visibility", "metadata"]);
    let page = cli.json(&["timeline", address, "--json", "--limit", "500"]);
    for item in items(&page) {
        assert!(item.as_object().unwrap().contains_key("subject"), "{item}");
        if item["is_private"] == false {
            assert!(item["subject"].is_null(), "{backend}: {item}");
        }
    }
    let said = cli.fails(&["email", "show", email_id], 1);
    assert!(said.contains("hide"), "{backend}: {said}");
    let policy = cli.json(&["privacy", "show", "--json"]);
    assert_eq!(policy["visibility"], "metadata");
}

/// Blocking the contact's domain purges its items; the contact stays.
fn blocking_the_domain_purges_its_items(cli: &Cli, address: &str, domain: &str) {
    let backend = cli.label;
    let said = text(&cli.ok(&["privacy", "block", &format!("@{}", domain.to_uppercase())]));
    assert!(said.contains("Purged"), "{said}");
    let page = cli.json(&["timeline", address, "--json"]);
    assert!(items(&page).is_empty(), "{backend}: blocked items are gone: {page}");
    let policy = cli.json(&["privacy", "show", "--json"]);
    assert_eq!(policy["blocklist"], serde_json::json!([format!("@{domain}")]));
}

/// Every change is in the audit log.
fn every_change_is_in_the_audit_log(cli: &Cli) {
    let backend = cli.label;
    let audit = cli.json(&["privacy", "audit", "--json"]);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"privacy.settings") && actions.contains(&"privacy.block"), "{backend}: {actions:?}");
    assert!(audit.as_array().unwrap().iter().all(|e| e["actor"] == "cli"));
}

/// Disconnecting asks first, then purges what was synced.
fn disconnecting_asks_first_then_purges_what_was_synced(cli: &Cli, address: &str) {
    let backend = cli.label;
    let said = cli.fails(&["integration", "disconnect"], 1);
    assert!(said.contains("--yes"), "{said}");
    assert!(!cli.json(&["status", "--json"]).as_array().unwrap().is_empty(), "{backend}: nothing purged yet");
    let said = text(&cli.ok(&["integration", "disconnect", "--yes"]));
    assert!(said.contains("Disconnected"), "{said}");
    assert_eq!(cli.json(&["status", "--json"]), serde_json::json!([]), "{backend}: no mailboxes left");
    cli.json(&["contacts", "show", address, "--json"]);
    cli.json(&["contacts", "show", "csv.person@example.org", "--json"]);
}

#[test]
fn bad_input_is_refused_with_exit_2_and_what_to_do() {
    let scratch = Scratch::new("contacts-bad");
    let dir = scratch.dir.clone();
    let cli = Cli::new(dir.clone(), format!("sqlite://{}", dir.join("tac.db").display()), "sqlite");
    let said = cli.fails(&["timeline", "nobody@fabrikam.com"], 2);
    assert!(said.contains("tac-crm contacts add --email nobody@fabrikam.com"), "{said}");
    assert!(cli.fails(&["timeline", "nobody@fabrikam.com", "--since", "yesterday"], 2).contains("RFC 3339"));
    assert!(cli.fails(&["contacts", "show", "@@"], 2).contains("not an email address"));
    assert!(cli.fails(&["contacts", "import", &dir.join("missing.csv").to_string_lossy()], 2).contains("cannot read"));
    assert!(cli.fails(&["privacy", "block", "not a domain"], 2).contains("blocklist"));
    assert!(cli.fails(&["privacy", "set"], 2).contains("nothing to change"));
    assert!(cli.fails(&["privacy", "exclude-mailbox", "ann@contoso.com"], 2).contains("tac-crm sync --once"));
    assert!(cli.fails(&["email", "show", "meeting-4"], 2).contains("meeting"));
    assert!(cli.fails(&["timeline", "--company", "fabrikam.com"], 2).contains("no company"));
    let said = cli.fails(&["integration", "disconnect"], 1);
    assert!(said.contains("--yes"), "{said}");
}
