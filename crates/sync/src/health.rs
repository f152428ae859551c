//! What each mailbox's sync state means to an admin, and what to do about
//! it. `tac-crm status` and the portal's sync health dashboard both show
//! these sentences.
//!
//! The sync stores, with a failed mailbox, the error's code and its advice
//! (from `tac-graph`'s error taxonomy); when no advice was stored, the state
//! alone says what to do.

use chrono::{DateTime, Utc};
use tac_core::MailboxState;
use tac_store::MailboxRow;

/// A short description of the state.
pub fn state_label(state: MailboxState) -> &'static str {
    match state {
        MailboxState::Ok => "Up to date",
        MailboxState::Syncing => "Syncing",
        MailboxState::Backoff => "Waiting (throttled)",
        MailboxState::NoMailbox => "No mailbox",
        MailboxState::AccessDenied => "Access denied",
        MailboxState::Failed => "Failed",
    }
}

/// What to do about the mailbox, or `None` when nothing is wrong.
pub fn mailbox_advice(row: &MailboxRow) -> Option<String> {
    if matches!(row.state, MailboxState::Ok | MailboxState::Syncing) {
        return None;
    }
    let stored = row.last_error_message.as_deref().filter(|m| !m.trim().is_empty());
    let advice = match (row.state, stored) {
        (_, Some(message)) => message.to_owned(),
        (MailboxState::Backoff, None) => {
            "Microsoft is throttling or temporarily unavailable; TAC retries automatically.".to_owned()
        }
        (MailboxState::NoMailbox, None) => {
            "This user has no Exchange Online mailbox (no licence, inactive, or on-premises); nothing to sync."
                .to_owned()
        }
        (MailboxState::AccessDenied, None) => {
            "Access denied. Check that Mail.Read and Calendars.Read are granted as application permissions with \
             admin consent, and that no application access policy excludes this mailbox."
                .to_owned()
        }
        _ => {
            "The last sync of this mailbox failed. Run a sync again; if it fails again, test the connection.".to_owned()
        }
    };
    Some(match (row.state, row.backoff_until) {
        (MailboxState::Backoff, Some(until)) => format!("{advice} Next try after {}.", utc_minute(until)),
        _ => advice,
    })
}

fn utc_minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tac_store::MailboxId;

    fn row(state: MailboxState, message: Option<&str>) -> MailboxRow {
        MailboxRow {
            id: MailboxId(1),
            user_id: "u".into(),
            address: "ann@contoso.com".into(),
            state,
            last_success_at: None,
            last_error_code: message.map(|_| "ErrorAccessDenied".into()),
            last_error_message: message.map(str::to_owned),
            backoff_until: None,
            licensed_at_check: None,
            email_count: 0,
            meeting_count: 0,
            skipped_count: 0,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn stored_advice_wins_and_healthy_mailboxes_need_nothing() {
        assert_eq!(mailbox_advice(&row(MailboxState::Ok, None)), None);
        assert_eq!(mailbox_advice(&row(MailboxState::Syncing, Some("old"))), None);
        assert_eq!(mailbox_advice(&row(MailboxState::AccessDenied, Some("fix it"))).as_deref(), Some("fix it"));
        for state in [MailboxState::Backoff, MailboxState::NoMailbox, MailboxState::AccessDenied, MailboxState::Failed]
        {
            assert!(mailbox_advice(&row(state, None)).is_some_and(|a| a.ends_with('.')), "{state}");
        }
    }
}
