//! `tac-crm timeline`, `tac-crm search` and `tac-crm email show`: reading
//! the activity history.
//!
//! The store applies the privacy policy to every item before it gets here,
//! so this module only turns flags into a `TimelineQuery` and prints pages:
//! the docs/architecture.md §6 timeline JSON (which scripts depend on) or one line per
//! item for people, with the cursor for the next page.

use crate::contacts::find_contact;
use crate::settings::{Config, Settings};
use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::process::ExitCode;
use tac_core::records::Direction;
use tac_core::timeline::{ActivityKind, Person, TimelineCursor, TimelineItem, group_by_thread, parse_time_bound};
use tac_store::{CompanyRow, EmailId, StoreError, TimelinePage, TimelineQuery};

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Any of the contact's addresses.
    #[arg(required_unless_present = "company", conflicts_with = "company")]
    email: Option<String>,
    /// A company's timeline instead of a contact's: its domain (contoso.com) or its name.
    #[arg(long)]
    company: Option<String>,
    #[command(flatten)]
    filter: Filter,
    /// Only items a team member's mailbox holds (their address).
    #[arg(long)]
    team_member: Option<String>,
    /// Only emails the contact sent (inbound) or received from us (outbound).
    #[arg(long)]
    direction: Option<Direction>,
    /// Plain words over subjects and bodies, as far as the visibility level allows.
    #[arg(long)]
    search: Option<String>,
    /// Group the page's emails into threads (meetings are left out).
    #[arg(long)]
    threads: bool,
}

/// The flags `timeline` and `search` share.
#[derive(Debug, Args)]
pub struct Filter {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Only emails or only meetings.
    #[arg(long)]
    kind: Option<ActivityKind>,
    /// Items per page (at most 500).
    #[arg(long, default_value_t = TimelineQuery::DEFAULT_LIMIT, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// Continue after the previous page: its `next_cursor`.
    #[arg(long)]
    cursor: Option<String>,
    /// From this time on: RFC 3339 (2026-03-01T09:00:00Z) or a date (2026-03-01, from its start, UTC).
    #[arg(long, value_parser = parse_since)]
    since: Option<DateTime<Utc>>,
    /// Before this time: RFC 3339, or a date (2026-03-31, up to its end, UTC).
    #[arg(long, value_parser = parse_until)]
    until: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Plain words; every word must match. Punctuation and operators are just text.
    query: String,
    #[command(flatten)]
    filter: Filter,
}

#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// Print an email's body (sanitised), as far as the privacy settings allow.
    Show(EmailShowArgs),
}

#[derive(Debug, Args)]
pub struct EmailShowArgs {
    /// The email's id from a timeline (`email-123`, or just `123`).
    id: String,
    /// Print the sanitised HTML instead of the text.
    #[arg(long)]
    html: bool,
    /// Keep remote images in the HTML (they are removed by default: they tell the sender you read it).
    #[arg(long)]
    allow_images: bool,
}

fn parse_since(input: &str) -> Result<DateTime<Utc>, String> {
    parse_time_bound(input, false)
}

fn parse_until(input: &str) -> Result<DateTime<Utc>, String> {
    parse_time_bound(input, true)
}

impl Filter {
    fn query(&self) -> anyhow::Result<TimelineQuery> {
        let cursor = self.cursor.as_deref().map(TimelineCursor::decode).transpose()?;
        if let (Some(since), Some(until)) = (self.since, self.until) {
            anyhow::ensure!(since < until, "--since must be before --until");
        }
        Ok(TimelineQuery {
            kind: self.kind,
            from: self.since,
            to: self.until,
            limit: self.limit,
            cursor,
            ..TimelineQuery::default()
        })
    }
}

pub async fn run(config: &Config, args: TimelineArgs) -> anyhow::Result<ExitCode> {
    let s = Settings::build(config).await?;
    let mut query = args.filter.query()?;
    query.team_member = args.team_member.as_deref().map(|a| a.trim().to_string());
    query.direction = args.direction;
    query.search = args.search.clone().filter(|q| !q.trim().is_empty());
    let now = Utc::now();
    let (head, page) = match (&args.email, &args.company) {
        (Some(email), _) => {
            let contact = find_contact(&s, email).await?;
            let page = s.store.timeline(s.workspace, contact.id, &query, now).await.map_err(|e| explain(e, &args))?;
            let summary = s.store.contact_summary(s.workspace, contact.id, now).await?;
            (serde_json::to_value(tac_store::json::contact_timeline(&contact, &summary, &page))?, page)
        }
        (None, Some(company)) => {
            let company = find_company(&s, company).await?;
            let page =
                s.store.company_timeline(s.workspace, company.id, &query, now).await.map_err(|e| explain(e, &args))?;
            (serde_json::to_value(tac_store::json::company_timeline(&company, &page))?, page)
        }
        (None, None) => bail!("give a contact's address, or --company NAME_OR_DOMAIN"),
    };
    print_page(head, &page, args.filter.json, args.threads)?;
    Ok(ExitCode::SUCCESS)
}

/// Store errors a timeline query can cause, with what to do about them.
fn explain(e: StoreError, args: &TimelineArgs) -> anyhow::Error {
    match (e, &args.team_member) {
        (StoreError::NotFound("team member's mailbox"), Some(member)) => anyhow!(
            "{member} is not a synced mailbox: `tac-crm status` lists them (run `tac-crm sync --once` if it is new)"
        ),
        (other, _) => anyhow::Error::new(other),
    }
}

/// A company by domain (`contoso.com` or `@contoso.com`), else by name, in any case.
async fn find_company(s: &Settings, input: &str) -> anyhow::Result<CompanyRow> {
    let wanted = input.trim().trim_start_matches('@').to_lowercase();
    let companies = s.store.companies(s.workspace).await?;
    if let Some(c) = companies.iter().find(|c| c.domain.as_deref().is_some_and(|d| d.to_lowercase() == wanted)) {
        return Ok(c.clone());
    }
    let named: Vec<&CompanyRow> = companies.iter().filter(|c| c.name.to_lowercase() == wanted).collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no company has the domain or name `{}`: companies come from contacts' work domains and \
             `--company`; see `tac-crm contacts list`",
            input.trim()
        ),
        several => {
            let domains: Vec<&str> = several.iter().filter_map(|c| c.domain.as_deref()).collect();
            bail!("several companies are named `{}`: give the domain instead ({})", input.trim(), domains.join(", "))
        }
    }
}

pub async fn search(config: &Config, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let s = Settings::build(config).await?;
    let mut query = args.filter.query()?;
    query.search = Some(args.query.clone());
    let page = match s.store.search(s.workspace, &query, &tac_store::Viewer::operator(), Utc::now()).await {
        Ok(page) => page,
        Err(StoreError::InvalidInput(message)) => {
            bail!("{message}: `{}` has no word of letters or digits to search for", args.query)
        }
        Err(e) => return Err(e.into()),
    };
    if page.items.is_empty() && !args.filter.json {
        let policy = s.store.privacy_policy(s.workspace).await?;
        if policy.visibility == tac_core::privacy::Visibility::Metadata {
            println!("Nothing found: the visibility level is `metadata`, so no subject or body is searchable.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    print_page(
        serde_json::to_value(tac_store::json::search_results(&args.query, &page))?,
        &page,
        args.filter.json,
        false,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a page: its JSON (`tac_store::json`, the API's shape too), with
/// the threads when asked, or one line per item as text.
fn print_page(head: Value, page: &TimelinePage, as_json: bool, threads: bool) -> anyhow::Result<()> {
    if as_json {
        let mut out = match head {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        if threads {
            out.insert("threads".into(), serde_json::to_value(group_by_thread(&page.items))?);
        }
        println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
        return Ok(());
    }
    if let Some(contact) = head.get("contact") {
        let emails: Vec<&str> = contact["emails"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        println!("{} <{}>", contact["name"].as_str().unwrap_or(""), emails.join(", "));
    } else if let Some(company) = head.get("company") {
        println!("{} ({})", company["name"].as_str().unwrap_or(""), company["domain"].as_str().unwrap_or("no domain"));
    }
    if page.items.is_empty() {
        println!("Nothing on this page.");
    } else if threads {
        for thread in group_by_thread(&page.items) {
            let count = match thread.emails.len() {
                1 => "1 email".to_string(),
                n => format!("{n} emails"),
            };
            println!(
                "{}  {} ({count})",
                thread.last_at.format("%Y-%m-%d %H:%M"),
                thread.subject.as_deref().unwrap_or("(hidden)"),
            );
            for e in thread.emails {
                println!("    {}", line(&TimelineItem::Email(e)));
            }
        }
    } else {
        for item in &page.items {
            println!("{}", line(item));
        }
    }
    if let Some(next) = &page.next_cursor {
        println!("more: --cursor {next}");
    }
    Ok(())
}

/// One item as a line: date (UTC), kind and direction, subject, people, id.
fn line(item: &TimelineItem) -> String {
    match item {
        TimelineItem::Email(e) => {
            let arrow = match e.direction {
                Direction::Inbound => "✉ in ",
                Direction::Outbound => "✉ out",
            };
            let from = e.from.as_ref().map_or("?", |p| p.address.as_str());
            let to: Vec<&Person> = e.to.iter().chain(&e.cc).collect();
            format!(
                "{}  {arrow}  {}  {from} → {}  [{}]",
                e.occurred_at.format("%Y-%m-%d %H:%M"),
                e.subject.as_deref().unwrap_or("(hidden)"),
                people(&to),
                e.id
            )
        }
        TimelineItem::Meeting(m) => {
            let mut flags = String::new();
            if m.is_cancelled {
                flags.push_str(" (cancelled)");
            }
            if m.is_upcoming {
                flags.push_str(" (upcoming)");
            }
            let attendees: Vec<Person> =
                m.attendees.iter().map(|a| Person { name: a.name.clone(), address: a.address.clone() }).collect();
            format!(
                "{}  📅     {}{flags}  {} with {}  [{}]",
                m.occurred_at.format("%Y-%m-%d %H:%M"),
                m.subject.as_deref().unwrap_or("(hidden)"),
                m.organizer.address,
                people(&attendees.iter().collect::<Vec<_>>()),
                m.id
            )
        }
    }
}

/// Up to three addresses, then how many more.
fn people(list: &[&Person]) -> String {
    const SHOWN: usize = 3;
    let mut out: Vec<&str> = list.iter().take(SHOWN).map(|p| p.address.as_str()).collect();
    let more = list.len().saturating_sub(SHOWN);
    let more_text = format!("+{more} more");
    if more > 0 {
        out.push(&more_text);
    }
    if out.is_empty() { "nobody".to_string() } else { out.join(", ") }
}

pub async fn email(config: &Config, command: EmailCommand) -> anyhow::Result<ExitCode> {
    let EmailCommand::Show(args) = command;
    let id = parse_email_id(&args.id)?;
    let s = Settings::build(config).await?;
    let body = match s.store.email_body(s.workspace, id, &tac_store::Viewer::operator(), args.allow_images).await {
        Ok(body) => body,
        Err(StoreError::Hidden(reason)) => {
            eprintln!("{reason}");
            return Ok(ExitCode::from(1));
        }
        Err(StoreError::NotFound(_)) => bail!(
            "no email has the id {}: take the `id` of an email from `tac-crm timeline EMAIL` (for example email-123)",
            args.id.trim()
        ),
        Err(e) => return Err(e.into()),
    };
    if args.html {
        println!("{}", body.html);
    } else {
        println!("{}", body.text);
    }
    if body.blocked_images > 0 && !args.allow_images {
        eprintln!("{} remote images were removed: add --allow-images to keep them in the HTML", body.blocked_images);
    }
    Ok(ExitCode::SUCCESS)
}

/// `email-123` or `123`.
fn parse_email_id(input: &str) -> anyhow::Result<EmailId> {
    let input = input.trim();
    if input.starts_with("meeting-") {
        bail!("{input} is a meeting: only emails have a body to show (the timeline shows the meeting's details)");
    }
    let digits = input.strip_prefix("email-").unwrap_or(input);
    digits.parse::<i64>().ok().filter(|n| *n > 0).map(EmailId).ok_or_else(|| {
        anyhow!("`{input}` is not an email id: take the `id` of an email from `tac-crm timeline EMAIL` (for example email-123)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_dates_and_until_a_date_includes_it() {
        assert_eq!(parse_since("2026-03-01").unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert_eq!(parse_until("2026-03-01").unwrap().to_rfc3339(), "2026-03-02T00:00:00+00:00");
        assert_eq!(parse_since("2026-03-01T10:00:00+02:00").unwrap().to_rfc3339(), "2026-03-01T08:00:00+00:00");
        assert!(parse_since("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(parse_until("+262143-12-31").is_err());
    }

    #[test]
    fn email_ids_take_the_timeline_form_or_a_number() {
        assert_eq!(parse_email_id("email-12").unwrap(), EmailId(12));
        assert_eq!(parse_email_id(" 7 ").unwrap(), EmailId(7));
        assert!(parse_email_id("meeting-3").unwrap_err().to_string().contains("meeting"));
        assert!(parse_email_id("email-").is_err());
        assert!(parse_email_id("-4").is_err());
    }
}
