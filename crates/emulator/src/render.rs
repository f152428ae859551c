//! Graph's JSON shapes for users, groups, folders, messages and events.
//!
//! Field names, nesting and value formats follow Microsoft's published
//! responses (see `graph-reference/examples/`); the fidelity tests check
//! them, and every field against Graph's metadata ([`crate::schema`]).
//! `$select` arrives resolved (a [`Selection`]) and is applied here, by the
//! item's actual type, so a cast such as
//! `microsoft.graph.eventMessage/meetingMessageType` reaches eventMessages only.

use crate::corpus::{Address, Event, EventKey, FolderKind, Message, html_to_text};
use crate::ids;
use crate::org::{DirectoryRole, Group, Organization, RoleMember, User};
use crate::schema::Selection;
use crate::tz::{Zone, utc_stamp};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// Per-request rendering choices, from the URL and the `Prefer` header.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// Graph's base URL as clients reach it, e.g. `https://graph.microsoft.com/v1.0`.
    pub base: String,
    pub immutable_ids: bool,
    pub text_body: bool,
    pub zone: Zone,
}

/// A folder and its counts, for rendering.
#[derive(Debug, Clone)]
pub struct FolderInfo<'a> {
    pub kind: FolderKind,
    pub name: &'a str,
    pub parent: Option<FolderKind>,
    pub children: usize,
    pub total: usize,
    pub unread: usize,
}

fn email(a: &Address) -> Value {
    json!({"emailAddress": {"name": a.name, "address": a.address}})
}

fn etag(version: u64, salt: u64) -> (String, String) {
    use base64::Engine;
    let mut bytes = vec![0x09, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00];
    bytes.extend_from_slice(&crate::rng::hash(salt, &[version]).to_be_bytes());
    bytes.extend_from_slice(&version.to_be_bytes()[4..]);
    let change_key = base64::engine::general_purpose::STANDARD.encode(bytes);
    (format!("W/\"{change_key}\""), change_key)
}

impl RenderContext {
    fn date_time_zone(&self, at: DateTime<Utc>) -> Value {
        json!({"dateTime": self.zone.format(at), "timeZone": self.zone.name})
    }

    fn body(&self, html: &str) -> Value {
        if self.text_body {
            json!({"contentType": "text", "content": html_to_text(html)})
        } else {
            json!({"contentType": "html", "content": html})
        }
    }

    /// A message. `annotate_type` adds `@odata.type` to plain messages too (delta does).
    pub fn message(
        &self,
        m: &Message,
        moves: u16,
        select: &Selection,
        annotate_type: bool,
        expand_sensitivity: bool,
    ) -> Value {
        if let Some(raw) = &m.raw {
            return raw.clone();
        }
        let id = ids::message_id(m.mailbox, m.key, (!self.immutable_ids).then_some(moves));
        let (etag, change_key) = etag(m.version, m.key.index as u64 ^ ((m.mailbox as u64) << 32));
        let preview: String = html_to_text(&m.body_html).chars().take(255).collect();
        let mut o = Map::new();
        let item_type = match m.meeting.as_ref().map(|x| x.kind) {
            Some("meetingRequest") => "eventMessageRequest",
            Some("meetingAccepted" | "meetingTenativelyAccepted" | "meetingDeclined") => "eventMessageResponse",
            Some(_) => "eventMessage",
            None => "message",
        };
        if item_type != "message" || annotate_type {
            o.insert("@odata.type".into(), json!(format!("#microsoft.graph.{item_type}")));
        }
        o.insert("@odata.etag".into(), json!(etag));
        o.insert("id".into(), json!(id));
        o.insert("createdDateTime".into(), json!(utc_stamp(m.received)));
        o.insert("lastModifiedDateTime".into(), json!(utc_stamp(m.received)));
        o.insert("changeKey".into(), json!(change_key));
        o.insert("categories".into(), json!(m.categories));
        o.insert("receivedDateTime".into(), json!(utc_stamp(m.received)));
        o.insert("sentDateTime".into(), json!(utc_stamp(m.sent)));
        o.insert("hasAttachments".into(), json!(m.has_attachments));
        o.insert("internetMessageId".into(), json!(m.internet_message_id));
        o.insert("subject".into(), json!(m.subject));
        o.insert("bodyPreview".into(), json!(preview));
        o.insert("importance".into(), json!(m.importance));
        o.insert("parentFolderId".into(), json!(ids::folder_id(m.mailbox, m.folder)));
        o.insert("conversationId".into(), json!(m.conversation_id));
        o.insert("conversationIndex".into(), json!(crate::corpus::b64(&m.key.index.to_be_bytes())));
        o.insert("isDeliveryReceiptRequested".into(), json!(false));
        o.insert("isReadReceiptRequested".into(), json!(false));
        o.insert("isRead".into(), json!(m.is_read));
        o.insert("isDraft".into(), json!(m.is_draft));
        o.insert("webLink".into(), owa_link("ItemID", &id, "viewmodel=ReadMessageItem"));
        o.insert("inferenceClassification".into(), json!(m.inference));
        o.insert("body".into(), self.body(&m.body_html));
        o.insert("sender".into(), email(&m.from));
        o.insert("from".into(), email(&m.from));
        o.insert("toRecipients".into(), Value::Array(m.to.iter().map(email).collect()));
        o.insert("ccRecipients".into(), Value::Array(m.cc.iter().map(email).collect()));
        o.insert("bccRecipients".into(), Value::Array(m.bcc.iter().map(email).collect()));
        o.insert("replyTo".into(), json!([]));
        o.insert("flag".into(), json!({"flagStatus": "notFlagged"}));
        if let Some(meeting) = &m.meeting {
            o.insert("meetingMessageType".into(), json!(meeting.kind));
            if meeting.kind != "meetingCancelled" {
                o.insert("startDateTime".into(), self.date_time_zone(meeting.start));
                o.insert("endDateTime".into(), self.date_time_zone(meeting.end));
                o.insert(
                    "location".into(),
                    json!({"displayName": meeting.location, "locationType": "default", "uniqueIdType": "unknown"}),
                );
                o.insert("type".into(), json!("singleInstance"));
                o.insert("isAllDay".into(), json!(meeting.is_all_day));
                o.insert("isOutOfDate".into(), json!(false));
                o.insert("isDelegated".into(), json!(false));
            }
            if let Some(response) = match meeting.kind {
                "meetingAccepted" => Some("accepted"),
                "meetingTenativelyAccepted" => Some("tentativelyAccepted"),
                "meetingDeclined" => Some("declined"),
                _ => None,
            } {
                o.insert("responseType".into(), json!(response));
            }
        }
        let mut out = select.apply(o, item_type);
        // `$expand=singleValueExtendedProperties($filter=id eq 'Integer
        // 0x0036')`: PidTagSensitivity, with Graph's normalised id. Mail that
        // never had the property set (here: normal) comes without the
        // collection, as Graph omits it when nothing matches.
        let value = match m.sensitivity {
            "personal" => Some("1"),
            "private" => Some("2"),
            "confidential" => Some("3"),
            _ => None,
        };
        if let (true, Some(value)) = (expand_sensitivity, value) {
            out.insert("singleValueExtendedProperties".into(), json!([{"id": "Integer 0x36", "value": value}]));
        }
        Value::Object(out)
    }

    /// An event, occurrence or series master.
    pub fn event(&self, e: &Event, select: &Selection) -> Value {
        let id = ids::event_id(e.mailbox, e.key);
        let (etag, change_key) = etag(e.version, e.key.index as u64 ^ ((e.mailbox as u64) << 32));
        let (start, end) = if e.is_all_day {
            // All-day events float: midnight to midnight in whatever zone is asked for.
            let day = |t: DateTime<Utc>| {
                let local = t.with_timezone(&e.original_zone.tz).date_naive();
                json!({"dateTime": format!("{}T00:00:00.0000000", local.format("%Y-%m-%d")), "timeZone": self.zone.name})
            };
            (day(e.start), day(e.end))
        } else {
            (self.date_time_zone(e.start), self.date_time_zone(e.end))
        };
        let attendees = event_attendees(e);
        let series_master_id = match e.kind {
            "occurrence" | "exception" => {
                Some(ids::event_id(e.mailbox, EventKey { occurrence: EventKey::MASTER, ..e.key }))
            }
            _ => None,
        };
        let location = event_location(e);
        let mut o = Map::new();
        o.insert("@odata.etag".into(), json!(etag));
        o.insert("id".into(), json!(id));
        o.insert("createdDateTime".into(), json!(format!("{}Z", crate::tz::seven_digits(e.created.naive_utc()))));
        o.insert("lastModifiedDateTime".into(), json!(format!("{}Z", crate::tz::seven_digits(e.modified.naive_utc()))));
        o.insert("changeKey".into(), json!(change_key));
        o.insert("categories".into(), json!([]));
        o.insert("transactionId".into(), Value::Null);
        o.insert("originalStartTimeZone".into(), json!(e.original_zone.name));
        o.insert("originalEndTimeZone".into(), json!(e.original_zone.name));
        o.insert("iCalUId".into(), json!(e.ical_uid));
        o.insert("reminderMinutesBeforeStart".into(), json!(if e.is_all_day { 1080 } else { 15 }));
        o.insert("isReminderOn".into(), json!(!e.is_all_day));
        o.insert("hasAttachments".into(), json!(false));
        o.insert("subject".into(), json!(e.subject));
        o.insert("bodyPreview".into(), json!(html_to_text(&e.body_html).chars().take(255).collect::<String>()));
        o.insert("importance".into(), json!("normal"));
        o.insert("sensitivity".into(), json!(e.sensitivity));
        o.insert("isAllDay".into(), json!(e.is_all_day));
        o.insert("isCancelled".into(), json!(e.is_cancelled));
        o.insert("isOrganizer".into(), json!(e.is_organizer));
        o.insert("responseRequested".into(), json!(true));
        o.insert("seriesMasterId".into(), json!(series_master_id));
        o.insert("showAs".into(), json!(e.show_as));
        o.insert("type".into(), json!(e.kind));
        o.insert("webLink".into(), owa_link("itemid", &id, "path=/calendar/item"));
        o.insert("onlineMeetingUrl".into(), Value::Null);
        o.insert("isOnlineMeeting".into(), json!(e.join_url.is_some()));
        o.insert(
            "onlineMeetingProvider".into(),
            json!(if e.join_url.is_some() { "teamsForBusiness" } else { "unknown" }),
        );
        o.insert("allowNewTimeProposals".into(), json!(true));
        o.insert("isDraft".into(), json!(false));
        o.insert("hideAttendees".into(), json!(false));
        o.insert(
            "responseStatus".into(),
            json!({"response": e.response, "time": if e.response == "none" { "0001-01-01T00:00:00Z".to_string() } else { utc_stamp(e.created + chrono::Duration::hours(1)) }}),
        );
        o.insert("body".into(), self.body(&e.body_html));
        o.insert("start".into(), start);
        o.insert("end".into(), end);
        o.insert("location".into(), location.clone());
        o.insert("locations".into(), if e.location.is_empty() { json!([]) } else { json!([location]) });
        o.insert("recurrence".into(), event_recurrence(e));
        o.insert("attendees".into(), Value::Array(attendees));
        o.insert("organizer".into(), email(&e.organizer));
        o.insert(
            "onlineMeeting".into(),
            match &e.join_url {
                Some(url) => json!({"joinUrl": url, "conferenceId": format!("{}", e.key.index as u64 * 7919 + 100_000_000), "tollNumber": "+1 425-555-0100"}),
                None => Value::Null,
            },
        );
        Value::Object(select.apply(o, "event"))
    }

    /// A mail folder.
    pub fn folder(&self, mailbox: usize, f: &FolderInfo, select: &Selection) -> Value {
        let mut o = Map::new();
        if f.kind.is_search_folder() {
            o.insert("@odata.type".into(), json!("#microsoft.graph.mailSearchFolder"));
        }
        o.insert("id".into(), json!(ids::folder_id(mailbox, f.kind)));
        o.insert("displayName".into(), json!(f.name));
        o.insert(
            "parentFolderId".into(),
            json!(ids::folder_id(mailbox, f.parent.unwrap_or(FolderKind::MsgFolderRoot))),
        );
        o.insert("childFolderCount".into(), json!(f.children));
        o.insert("unreadItemCount".into(), json!(f.unread));
        o.insert("totalItemCount".into(), json!(f.total));
        o.insert("isHidden".into(), json!(false));
        if f.kind.is_search_folder() {
            o.insert("isSupported".into(), json!(true));
            o.insert("filterQuery".into(), json!("contains(subject, 'weekly digest')"));
        }
        let item_type = if f.kind.is_search_folder() { "mailSearchFolder" } else { "mailFolder" };
        Value::Object(select.apply(o, item_type))
    }
}

fn weekday_name(d: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match d {
        Mon => "monday",
        Tue => "tuesday",
        Wed => "wednesday",
        Thu => "thursday",
        Fri => "friday",
        Sat => "saturday",
        Sun => "sunday",
    }
}

/// An item's `webLink` into Outlook on the web: the id as `id_param` (Graph
/// spells it `ItemID` for mail and `itemid` for events) and what opens it.
fn owa_link(id_param: &str, id: &str, view: &str) -> Value {
    json!(format!("https://outlook.office365.com/owa/?{id_param}={}&exvsurl=1&{view}", url_escape(id)))
}

/// Percent-encodes the characters of base64 ids that URLs reserve.
pub fn url_escape(s: &str) -> String {
    s.replace('%', "%25").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

/// The properties `/users` returns without `$select` (docs/graph-facts.md §2).
pub const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// A directory user, every property the emulator knows: `$filter` reads
/// them all, and [`user_selected`] keeps what a response may carry.
pub fn user(org: &Organization, u: &User) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("businessPhones".into(), json!([format!("+1 425 555 {:04}", 100 + u.index)]));
    o.insert("displayName".into(), json!(u.display_name));
    o.insert("givenName".into(), json!(u.given_name));
    o.insert("jobTitle".into(), json!(u.job_title));
    o.insert("mail".into(), json!(u.mail));
    o.insert(
        "mobilePhone".into(),
        if u.index.is_multiple_of(2) { json!(format!("+1 206 555 {:04}", 200 + u.index)) } else { Value::Null },
    );
    o.insert("officeLocation".into(), json!(u.office_location));
    o.insert("preferredLanguage".into(), json!("en-US"));
    o.insert("surname".into(), json!(u.surname));
    o.insert("userPrincipalName".into(), json!(u.user_principal_name));
    o.insert("id".into(), json!(u.id));
    o.insert("accountEnabled".into(), json!(u.account_enabled));
    o.insert("proxyAddresses".into(), json!(u.proxy_addresses));
    o.insert("department".into(), json!(u.department));
    o.insert("userType".into(), json!("Member"));
    o.insert("createdDateTime".into(), json!("2021-03-01T09:00:00Z"));
    o.insert("companyName".into(), json!(org.display_name));
    o.insert("usageLocation".into(), json!("US"));
    o.insert("otherMails".into(), json!([]));
    o.insert("mailNickname".into(), json!(u.user_principal_name.split('@').next().unwrap_or_default()));
    o.insert("employeeId".into(), json!(format!("E{:05}", u.index)));
    o.insert("onPremisesSyncEnabled".into(), Value::Null);
    o.insert("city".into(), Value::Null);
    o.insert("country".into(), Value::Null);
    o.insert("state".into(), Value::Null);
    o.insert("streetAddress".into(), Value::Null);
    o.insert("postalCode".into(), Value::Null);
    o.insert(
        "assignedLicenses".into(),
        if u.has_mailbox {
            json!([{"disabledPlans": [], "skuId": "05e9a617-0261-4cee-bb44-138d3ef5d965"}])
        } else {
            json!([])
        },
    );
    o
}

/// A user as a response carries it: the selected properties, or without
/// `$select` only Graph's default ones.
pub fn user_selected(org: &Organization, u: &User, select: &Selection) -> Value {
    let full = user(org, u);
    Value::Object(match select.keys {
        Some(_) => select.apply(full, "user"),
        None => Selection::only(USER_DEFAULT).apply(full, "user"),
    })
}

/// A group.
pub fn group(g: &Group, select: &Selection) -> Value {
    let o = json!({
        "id": g.id,
        "deletedDateTime": null,
        "classification": null,
        "createdDateTime": "2021-03-01T09:00:00Z",
        "description": g.description,
        "displayName": g.display_name,
        "groupTypes": if g.unified { json!(["Unified"]) } else { json!([]) },
        "mail": g.mail,
        "mailEnabled": g.mail_enabled,
        "mailNickname": g.mail_nickname,
        "securityEnabled": g.security_enabled,
        "visibility": if g.unified { json!("Private") } else { Value::Null },
    });
    match o {
        Value::Object(map) => Value::Object(select.apply(map, "group")),
        other => other,
    }
}

/// An activated directory role.
pub fn directory_role(role: &DirectoryRole, select: &Selection) -> Value {
    let t = role.template();
    let o = json!({
        "id": role.id,
        "deletedDateTime": null,
        "description": t.description,
        "displayName": t.display_name,
        "roleTemplateId": t.template_id,
    });
    match o {
        Value::Object(map) => Value::Object(select.apply(map, "directoryRole")),
        other => other,
    }
}

/// Which kinds of directory object the caller may read in full.
#[derive(Debug, Clone, Copy)]
pub struct Readable {
    pub users: bool,
    pub groups: bool,
}

/// Every property but the id set to null: what Graph answers for a member
/// the caller may not read (permissions-overview, "Limited information
/// returned for inaccessible member objects").
fn limited(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        for (k, value) in map.iter_mut() {
            if k != "id" {
                *value = Value::Null;
            }
        }
    }
    v
}

/// A directory role's member, as a directoryObject with its `@odata.type`;
/// one of a kind the caller may not read is its id alone.
pub fn role_member(org: &Organization, member: &RoleMember, select: &Selection, readable: Readable) -> Value {
    let (ty, mut map) = match member {
        RoleMember::User(u) => {
            let v = user_selected(org, &org.users[*u], select);
            ("#microsoft.graph.user", if readable.users { v } else { limited(v) })
        }
        RoleMember::Group(g) => {
            let v = group(&org.groups[*g], select);
            ("#microsoft.graph.group", if readable.groups { v } else { limited(v) })
        }
        RoleMember::ServicePrincipal { id, app_id, display_name } => {
            let full = json!({
                "id": id,
                "deletedDateTime": null,
                "accountEnabled": true,
                "appDisplayName": display_name,
                "appId": app_id,
                "displayName": display_name,
                "servicePrincipalType": "Application",
            });
            let v = match full {
                Value::Object(map) => Value::Object(select.apply(map, "servicePrincipal")),
                other => other,
            };
            ("#microsoft.graph.servicePrincipal", v)
        }
    };
    let mut out = serde_json::Map::new();
    out.insert("@odata.type".into(), json!(ty));
    if let Value::Object(m) = &mut map {
        out.extend(std::mem::take(m));
    }
    Value::Object(out)
}

/// The tenant's `/organization` entry.
pub fn organization(org: &Organization) -> Value {
    json!({
        "id": org.tenant_id,
        "deletedDateTime": null,
        "businessPhones": ["+1 425 555 0100"],
        "city": "Redmond",
        "country": null,
        "countryLetterCode": "US",
        "createdDateTime": "2021-03-01T09:00:00Z",
        "displayName": org.display_name,
        "tenantType": "AAD",
        "verifiedDomains": org.domains.iter().map(|d| json!({
            "capabilities": if d.is_initial { "Email, OfficeCommunicationsOnline" } else { "Email" },
            "isDefault": d.is_default,
            "isInitial": d.is_initial,
            "name": d.name,
            "type": "Managed",
        })).collect::<Vec<_>>(),
    })
}

/// An event's attendees, each with its response.
fn event_attendees(e: &Event) -> Vec<Value> {
    e
        .attendees
        .iter()
        .map(|a| {
            json!({
                "type": a.kind,
                "status": {"response": a.response, "time": if a.response == "none" { "0001-01-01T00:00:00Z".to_string() } else { utc_stamp(e.created + chrono::Duration::hours(2)) }},
                "emailAddress": {"name": a.address.name, "address": a.address.address},
            })
        })
        .collect()
}

/// Where an event is: a physical place comes with an address and
/// coordinates, as Outlook resolves it.
fn event_location(e: &Event) -> Value {
    let mut location = json!({"displayName": e.location, "locationType": "default", "uniqueId": e.location, "uniqueIdType": "private"});
    if !e.location.is_empty() && e.join_url.is_none() {
        // A physical place: Outlook resolves it to an address and coordinates.
        let h = crate::rng::hash(7, &[e.location.len() as u64, e.location.bytes().map(u64::from).sum()]);
        location["address"] = json!({"street": format!("{} Main Street", 100 + h % 900), "city": "Seattle", "state": "WA", "countryOrRegion": "United States", "postalCode": format!("98{:03}", h % 1000)});
        location["coordinates"] =
            json!({"latitude": 47.6 + (h % 100) as f64 / 1000.0, "longitude": -122.3 - (h % 77) as f64 / 1000.0});
    }
    location
}

/// An event's recurrence: series masters repeat weekly.
fn event_recurrence(e: &Event) -> Value {
    match &e.recurrence {
        Some(r) => json!({
            "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                        "daysOfWeek": [weekday_name(r.day_of_week)], "firstDayOfWeek": "sunday", "index": "first"},
            "range": {"type": "numbered", "startDate": r.start_date.format("%Y-%m-%d").to_string(),
                      "endDate": "0001-01-01", "recurrenceTimeZone": e.original_zone.name,
                      "numberOfOccurrences": r.occurrences}
        }),
        None => Value::Null,
    }
}
