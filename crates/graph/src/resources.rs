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
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    /// The licences assigned (only their presence is read).
    pub assigned_licenses: Option<Vec<serde_json::Value>>,
}

impl User {
    /// A guest of the tenant (`userType` Guest, or `#EXT#` in the principal
    /// name): its mailbox, if any, lives in its home organisation.
    pub fn is_guest(&self) -> bool {
        self.user_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
            || self.user_principal_name.as_deref().is_some_and(|u| u.to_ascii_uppercase().contains("#EXT#"))
    }

    /// Whether the directory shows any licence; `None` when not read.
    pub fn is_licensed(&self) -> Option<bool> {
        self.assigned_licenses.as_ref().map(|l| !l.is_empty())
    }
}

/// The `$select` TAC uses for users.
pub const USER_SELECT: &str =
    "id,displayName,userPrincipalName,mail,proxyAddresses,accountEnabled,userType,assignedLicenses";

/// A group.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
}

/// An activated Entra directory role. `role_template_id` names the
/// built-in role and is the same in every tenant; `id` is this tenant's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryRole {
    pub id: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub role_template_id: Option<String>,
}

/// A group or role member: a user, a group, a device, an app…
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

    pub fn is_group(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.group")
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
    /// Asked for with its cast (see [`MESSAGE_SELECT`]); read it through
    /// [`Message::meeting_kind`].
    pub meeting_message_type: Option<String>,
    /// Present when expanded ([`MESSAGE_EXPAND`]) and set on the item.
    #[serde(default)]
    pub single_value_extended_properties: Vec<SingleValueExtendedProperty>,
}

/// What a message is to the calendar, from [`Message::meeting_kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingKind {
    /// A plain message.
    NotMeeting,
    /// An invitation, cancellation or response: Graph's `meetingMessageType`
    /// value (`meetingRequest`, `meetingCancelled`, `meetingAccepted`,
    /// `meetingTenativelyAccepted` — Graph's spelling — or `meetingDeclined`).
    Meeting(&'static str),
    /// An eventMessage whose kind cannot be told: `meetingMessageType`
    /// missing or a value Graph does not document (the raw value, if any).
    /// Stored as an email and noted, never dropped.
    Unknown(Option<String>),
}

/// The `meetingMessageType` values Graph v1.0 documents, bar `none`.
const MEETING_MESSAGE_TYPES: [&str; 5] =
    ["meetingRequest", "meetingCancelled", "meetingAccepted", "meetingTenativelyAccepted", "meetingDeclined"];

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
    /// Whether this is an invitation, a cancellation or a response. Graph
    /// sends `meetingMessageType` when it is selected with its cast; where
    /// a service leaves it out, an invitation still shows by its
    /// `@odata.type` (`#microsoft.graph.eventMessageRequest`).
    pub fn meeting_kind(&self) -> MeetingKind {
        let odata_type = self.odata_type.as_deref().unwrap_or("#microsoft.graph.message");
        let is_event_message = odata_type.starts_with("#microsoft.graph.eventMessage");
        match self.meeting_message_type.as_deref() {
            Some(t) => match MEETING_MESSAGE_TYPES.iter().find(|known| **known == t) {
                Some(known) => MeetingKind::Meeting(known),
                None if t == "none" => MeetingKind::NotMeeting,
                None => MeetingKind::Unknown(Some(t.to_string())),
            },
            None if odata_type == "#microsoft.graph.eventMessageRequest" => MeetingKind::Meeting("meetingRequest"),
            None if is_event_message => MeetingKind::Unknown(None),
            None => MeetingKind::NotMeeting,
        }
    }

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
/// Message delta supports `$expand` (docs/graph-facts.md §3).
pub const MESSAGE_EXPAND: &str = "singleValueExtendedProperties($filter=id%20eq%20'Integer%200x0036')";

/// The `$select` TAC uses for message delta. `meetingMessageType` belongs to
/// the derived type eventMessage, so it is named with its cast: bare, Graph
/// refuses it on `/messages` and leaves it out on delta (docs/graph-facts.md §8).
pub const MESSAGE_SELECT: &str = "subject,bodyPreview,body,from,sender,toRecipients,ccRecipients,bccRecipients,receivedDateTime,sentDateTime,internetMessageId,conversationId,parentFolderId,isRead,isDraft,hasAttachments,importance,microsoft.graph.eventMessage/meetingMessageType";

/// The `$select` for an app with only Mail.ReadBasic.All, which may not
/// read bodies, previews or extended properties (docs/graph-facts.md §8): the same without
/// `body` and `bodyPreview`, and used without [`MESSAGE_EXPAND`].
pub const MESSAGE_SELECT_BASIC: &str = "subject,from,sender,toRecipients,ccRecipients,bccRecipients,receivedDateTime,sentDateTime,internetMessageId,conversationId,parentFolderId,isRead,isDraft,hasAttachments,importance,microsoft.graph.eventMessage/meetingMessageType";

/// `{"dateTime", "timeZone"}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    pub date_time: String,
    pub time_zone: Option<String>,
}

impl DateTimeTimeZone {
    /// The UTC instant; Graph's zone defaults to UTC when absent. A zone
    /// that cannot be resolved is read as UTC, with a note saying so.
    pub fn to_utc(&self) -> Result<(DateTime<Utc>, Option<String>), crate::timezone::TimeError> {
        crate::timezone::to_utc_or_as_utc(&self.date_time, self.time_zone.as_deref().unwrap_or("UTC"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(v: serde_json::Value) -> Message {
        serde_json::from_value(v).expect("a message")
    }

    #[test]
    fn meeting_kind_reads_the_type_then_the_odata_type() {
        let kind = |v| message(v).meeting_kind();
        assert_eq!(kind(json!({"id": "a"})), MeetingKind::NotMeeting);
        assert_eq!(
            kind(
                json!({"id": "a", "@odata.type": "#microsoft.graph.eventMessage", "meetingMessageType": "meetingCancelled"})
            ),
            MeetingKind::Meeting("meetingCancelled")
        );
        assert_eq!(
            kind(json!({"id": "a", "@odata.type": "#microsoft.graph.eventMessageRequest"})),
            MeetingKind::Meeting("meetingRequest"),
            "an invitation without its meetingMessageType still shows as one"
        );
        assert_eq!(
            kind(json!({"id": "a", "@odata.type": "#microsoft.graph.eventMessageResponse"})),
            MeetingKind::Unknown(None)
        );
        assert_eq!(
            kind(
                json!({"id": "a", "@odata.type": "#microsoft.graph.eventMessage", "meetingMessageType": "meetingForwarded"})
            ),
            MeetingKind::Unknown(Some("meetingForwarded".into()))
        );
        assert_eq!(kind(json!({"id": "a", "meetingMessageType": "none"})), MeetingKind::NotMeeting);
    }
}
