/*!
The plain records that sync writes and the store persists.

They are the hand-off point between `tac-sync` (which builds them from Graph
payloads, after normalising addresses and applying the privacy filter) and
`tac-store` (which deduplicates and saves them). They hold data only: no I/O,
no Graph field names, no database ids. Times are UTC.

A message or event that several mailboxes hold is one *record* (an
[`EmailRecord`], deduplicated by `internetMessageId`; a [`MeetingRecord`],
deduplicated by `iCalUId`) plus one *copy* per mailbox ([`EmailCopy`],
[`MeetingCopy`]) carrying what differs between mailboxes: the immutable Graph
id, the folder, read state, direction or the mailbox's own response.
*/

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A value that is not one of an enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} (expected one of: {expected})")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Implements `as_str`, `Display` and `FromStr` with the snake_case names that
/// serde also uses, so the database, JSON and the CLI spell values one way.
macro_rules! named_enum {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable snake_case name, as stored and serialised.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::records::UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::records::UnknownVariant {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: concat!($($name, ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }
    };
}
pub(crate) use named_enum;

/// An internal person, from Entra ID `/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// The Graph object id.
    pub id: String,
    pub display_name: String,
    pub user_principal_name: String,
    /// The primary SMTP address; `None` for users without a mailbox.
    pub mail: Option<String>,
    /// As Graph returns them (`SMTP:primary`, `smtp:alias`, `X500:/o=…`).
    pub proxy_addresses: Vec<String>,
    pub account_enabled: bool,
}

impl DirectoryUser {
    /// Whether `input` is one of this user's addresses: the primary address,
    /// the sign-in name or an SMTP alias, in any case (`mailto:` ignored).
    pub fn has_address(&self, input: &str) -> bool {
        let wanted = crate::address::canonical(input);
        let aliases = self.proxy_addresses.iter().filter_map(|p| {
            let (kind, rest) = p.split_once(':')?;
            kind.eq_ignore_ascii_case("smtp").then_some(rest)
        });
        self.mail
            .iter()
            .map(String::as_str)
            .chain([self.user_principal_name.as_str()])
            .chain(aliases)
            .any(|a| crate::address::canonical(a) == wanted)
    }

    /// The address to show: the primary address, else the sign-in name.
    pub fn address(&self) -> &str {
        self.mail.as_deref().unwrap_or(&self.user_principal_name)
    }
}

/// A group from Entra ID `/groups`; its members are `(group_id, user_id)` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryGroup {
    /// The Graph object id.
    pub id: String,
    pub display_name: String,
    pub mail: Option<String>,
}

/// An activated Entra directory role from `/directoryRoles`; its holders
/// are `(role_id, user_id)` pairs. `role_template_id` names the built-in
/// role (Global Administrator is `62e90394-69f5-4237-9190-012177145e10`
/// in every tenant); `id` is this tenant's object id for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryRole {
    pub id: String,
    pub role_template_id: String,
    pub display_name: String,
    pub description: String,
}

/// The template id of Entra's Global Administrator role, the same in every
/// tenant ("Microsoft Entra built-in roles").
pub const GLOBAL_ADMINISTRATOR_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";

/// A verified domain of the tenant, from `/domains` or `/organization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantDomain {
    pub name: String,
    pub is_default: bool,
    pub is_initial: bool,
}

/// Where a mailbox's sync stands (docs/architecture.md §3, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailboxState {
    /// The last round finished.
    Ok,
    /// A round is running.
    Syncing,
    /// Throttled or failing transiently; retried after `backoff_until`.
    Backoff,
    /// The user has no Exchange Online mailbox (404 `MailboxNotEnabledForRESTAPI`
    /// or an inactive mailbox). Not a failure.
    NoMailbox,
    /// 403 `ErrorAccessDenied`, for example an application access policy.
    AccessDenied,
    /// A permanent failure; the last error says why.
    Failed,
}

named_enum!(MailboxState, "mailbox state", {
    Ok => "ok",
    Syncing => "syncing",
    Backoff => "backoff",
    NoMailbox => "no_mailbox",
    AccessDenied => "access_denied",
    Failed => "failed",
});

/// How a person takes part in an email or a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    From,
    To,
    Cc,
    Bcc,
    Organizer,
    Attendee,
}

named_enum!(ParticipantRole, "participant role", {
    From => "from",
    To => "to",
    Cc => "cc",
    Bcc => "bcc",
    Organizer => "organizer",
    Attendee => "attendee",
});

/// One person on an email or meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub role: ParticipantRole,
    /// Normalised with [`crate::address::normalize`].
    pub address: String,
    /// The display name as the message gave it; may be empty.
    pub name: String,
}

/// Whether a mailbox received a message or sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

named_enum!(Direction, "direction", {
    Inbound => "inbound",
    Outbound => "outbound",
});

/// An email, once per workspace however many mailboxes hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRecord {
    /// The RFC 5322 `Message-ID`, angle brackets included: the dedupe key.
    pub internet_message_id: String,
    pub conversation_id: Option<String>,
    pub subject: String,
    pub body_html: String,
    pub body_preview: String,
    pub sent_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub has_attachments: bool,
    /// Graph's `importance`: `low`, `normal` or `high`.
    pub importance: String,
    /// Sensitivity private or confidential: shown as metadata only.
    pub is_private: bool,
    /// Graph's `meetingMessageType` for invitations and responses.
    pub meeting_message_type: Option<String>,
    pub participants: Vec<Participant>,
    /// Every participant is one of ours (see [`crate::internal`]): kept as
    /// metadata only unless the workspace keeps internal-only mail, and
    /// never shown to members from other people's mailboxes.
    #[serde(default)]
    pub internal_only: bool,
}

/// One mailbox's copy of an email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCopy {
    /// The immutable Graph id (`Prefer: IdType="ImmutableId"`), which survives
    /// moves between folders.
    pub graph_id: String,
    pub folder_id: String,
    pub direction: Direction,
    pub is_read: bool,
}

/// A meeting (one occurrence, each with its own iCalUId), once per workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRecord {
    /// Graph's `iCalUId`: the dedupe key.
    pub ical_uid: String,
    pub series_master_id: Option<String>,
    /// Graph's `type`: `singleInstance`, `occurrence`, `exception` or `seriesMaster`.
    pub event_type: String,
    pub subject: String,
    pub body_html: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    /// Graph's `sensitivity`: `normal`, `personal`, `private` or `confidential`.
    pub sensitivity: String,
    pub original_time_zone: Option<String>,
    pub location: Option<String>,
    pub online_meeting_url: Option<String>,
    pub organizer: Participant,
    pub attendees: Vec<AttendeeRecord>,
    /// The organizer and every attendee are ours: see
    /// [`EmailRecord::internal_only`].
    #[serde(default)]
    pub internal_only: bool,
}

/// An attendee of a meeting as the event lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendeeRecord {
    /// Normalised with [`crate::address::normalize`].
    pub address: String,
    pub name: String,
    /// Graph's attendee `type`: `required`, `optional` or `resource`.
    pub kind: String,
    /// Graph's `status.response`, for example `accepted` or `none`.
    pub response: String,
}

/// One mailbox's copy of a meeting, with that mailbox's own response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingCopy {
    /// The immutable Graph event id in this mailbox.
    pub graph_id: String,
    /// Graph's `responseStatus.response` for this mailbox's owner.
    pub response: String,
    pub is_organizer: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_state_names_round_trip() {
        for state in MailboxState::ALL {
            assert_eq!(state.as_str().parse::<MailboxState>(), Ok(*state));
            assert_eq!(serde_json::to_string(state).unwrap(), format!("\"{}\"", state.as_str()));
        }
        assert_eq!(MailboxState::NoMailbox.as_str(), "no_mailbox");
        assert_eq!(MailboxState::AccessDenied.to_string(), "access_denied");
        let err = "paused".parse::<MailboxState>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`paused` is not a valid mailbox state (expected one of: ok, syncing, backoff, no_mailbox, access_denied, failed)"
        );
    }

    #[test]
    fn role_and_direction_names_round_trip() {
        for role in ParticipantRole::ALL {
            assert_eq!(role.as_str().parse::<ParticipantRole>(), Ok(*role));
        }
        for direction in Direction::ALL {
            assert_eq!(direction.as_str().parse::<Direction>(), Ok(*direction));
            assert_eq!(serde_json::to_string(direction).unwrap(), format!("\"{direction}\""));
        }
    }
}
