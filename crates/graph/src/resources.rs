//! Typed Graph resources: only the properties TAC reads, each optional where
//! Graph may leave it out, so a sparse item still decodes.
//!
//! <https://learn.microsoft.com/graph/api/resources/message>,
//! <https://learn.microsoft.com/graph/api/resources/event>.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// `/organization`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub verified_domains: Vec<VerifiedDomain>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedDomain {
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub is_initial: bool,
}

/// A directory user.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    #[serde(default)]
    pub proxy_addresses: Vec<String>,
    pub account_enabled: Option<bool>,
}

/// The `$select` TAC uses for users.
pub const USER_SELECT: &str = "id,displayName,userPrincipalName,mail,proxyAddresses,accountEnabled";

/// A group.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
}

/// A group member: a user, a group, a device…
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DirectoryObject {
    pub id: String,
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
}

impl DirectoryObject {
    pub fn is_user(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.user")
    }
}

/// A mail folder.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MailFolder {
    pub id: String,
    pub display_name: Option<String>,
    pub parent_folder_id: Option<String>,
    #[serde(default)]
    pub child_folder_count: u32,
    pub total_item_count: Option<u64>,
    #[serde(default)]
    pub is_hidden: bool,
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
}

impl MailFolder {
    /// Search folders are views over other folders; their items are synced where they live.
    pub fn is_search_folder(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.mailSearchFolder")
    }
}

/// `{"emailAddress": {"name", "address"}}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    #[serde(default)]
    pub email_address: EmailAddress,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    pub content_type: Option<String>,
    pub content: Option<String>,
}

/// A message or eventMessage.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    pub subject: Option<String>,
    pub body_preview: Option<String>,
    pub body: Option<ItemBody>,
    pub from: Option<Recipient>,
    pub sender: Option<Recipient>,
    #[serde(default)]
    pub to_recipients: Vec<Recipient>,
    #[serde(default)]
    pub cc_recipients: Vec<Recipient>,
    #[serde(default)]
    pub bcc_recipients: Vec<Recipient>,
    pub received_date_time: Option<DateTime<Utc>>,
    pub sent_date_time: Option<DateTime<Utc>>,
    pub internet_message_id: Option<String>,
    pub conversation_id: Option<String>,
    pub parent_folder_id: Option<String>,
    pub is_read: Option<bool>,
    pub is_draft: Option<bool>,
    pub has_attachments: Option<bool>,
    pub importance: Option<String>,
    /// Set on eventMessages: `meetingRequest`, `meetingCancelled`, …
    pub meeting_message_type: Option<String>,
    /// Present when expanded ([`MESSAGE_EXPAND`]) and set on the item.
    #[serde(default)]
    pub single_value_extended_properties: Vec<SingleValueExtendedProperty>,
}

/// One MAPI property expanded onto an item. Graph normalises the id it
/// returns (`Integer 0x36` for a requested `Integer 0x0036`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SingleValueExtendedProperty {
    pub id: String,
    pub value: Option<String>,
}

/// Outlook's sensitivity of a message (PidTagSensitivity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageSensitivity {
    Normal,
    Personal,
    Private,
    Confidential,
}

impl Message {
    /// The sensitivity the sender set, from the expanded PidTagSensitivity
    /// (0 normal, 1 personal, 2 private, 3 confidential). Absent or
    /// unreadable: normal, as Outlook treats a message without it.
    pub fn sensitivity(&self) -> MessageSensitivity {
        let value = self
            .single_value_extended_properties
            .iter()
            .find(|p| is_sensitivity_tag(&p.id))
            .and_then(|p| p.value.as_deref())
            .and_then(|v| v.trim().parse::<u32>().ok());
        match value {
            Some(1) => MessageSensitivity::Personal,
            Some(2) => MessageSensitivity::Private,
            Some(3) => MessageSensitivity::Confidential,
            _ => MessageSensitivity::Normal,
        }
    }
}

/// Whether an extended property id names PidTagSensitivity: `Integer
/// 0x0036` in any case, with or without leading zeros.
fn is_sensitivity_tag(id: &str) -> bool {
    let mut parts = id.split_whitespace();
    let (Some(kind), Some(tag), None) = (parts.next(), parts.next(), parts.next()) else { return false };
    let hex = tag.strip_prefix("0x").or_else(|| tag.strip_prefix("0X"));
    kind.eq_ignore_ascii_case("Integer") && hex.and_then(|h| u32::from_str_radix(h, 16).ok()) == Some(0x36)
}

/// The `$expand` TAC uses for message delta, URL-encoded: the sender's
/// sensitivity, so private and confidential mail is stored metadata-only.
/// Message delta supports `$expand` (FACTS: delta-query-messages).
pub const MESSAGE_EXPAND: &str = "singleValueExtendedProperties($filter=id%20eq%20'Integer%200x0036')";

/// The `$select` TAC uses for message delta.
pub const MESSAGE_SELECT: &str = "subject,bodyPreview,body,from,sender,toRecipients,ccRecipients,bccRecipients,receivedDateTime,sentDateTime,internetMessageId,conversationId,parentFolderId,isRead,isDraft,hasAttachments,importance,meetingMessageType";

/// `{"dateTime", "timeZone"}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    pub date_time: String,
    pub time_zone: Option<String>,
}

impl DateTimeTimeZone {
    /// The UTC instant; Graph's zone defaults to UTC when absent.
    pub fn to_utc(&self) -> Result<DateTime<Utc>, crate::timezone::TimeError> {
        crate::timezone::to_utc(&self.date_time, self.time_zone.as_deref().unwrap_or("UTC"))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus {
    pub response: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<ResponseStatus>,
    #[serde(default)]
    pub email_address: EmailAddress,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OnlineMeeting {
    pub join_url: Option<String>,
}

/// A calendar item: a single meeting, an occurrence, an exception or a series master.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(rename = "iCalUId")]
    pub ical_uid: Option<String>,
    pub subject: Option<String>,
    pub body_preview: Option<String>,
    pub body: Option<ItemBody>,
    pub start: Option<DateTimeTimeZone>,
    pub end: Option<DateTimeTimeZone>,
    #[serde(default)]
    pub is_all_day: bool,
    #[serde(default)]
    pub is_cancelled: bool,
    #[serde(default)]
    pub is_organizer: bool,
    pub sensitivity: Option<String>,
    pub show_as: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub series_master_id: Option<String>,
    pub original_start_time_zone: Option<String>,
    pub location: Option<Location>,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    pub organizer: Option<Recipient>,
    pub online_meeting: Option<OnlineMeeting>,
    pub online_meeting_url: Option<String>,
    pub response_status: Option<ResponseStatus>,
}
