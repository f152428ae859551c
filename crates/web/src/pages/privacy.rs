//! The privacy settings (docs/architecture.md §5): visibility level,
//! contact auto-creation, retention, internal-only content, the blocklist
//! and excluded mailboxes. The same store calls as `tac-crm privacy …`:
//! each applies to data already stored and writes the audit log, naming the
//! admin's email as the actor.
//!
//! The forms sit on the Integrations page, which routes their posts here
//! (`POST /integrations/privacy|blocklist|…`) and shows the [`Answer`]: a
//! notice, or the forms again with what to fix.

use super::{FieldError, Fields};
use crate::error::sentence;
use crate::{AppState, CurrentUser, WebError};
use axum::body::Bytes;
use tac_core::privacy::{AutoCreate, BlockEntry, Visibility};
use tac_store::{PrivacySettings, PurgeCounts, StoreError};

/// What a privacy form did.
pub(crate) enum Answer {
    /// Saved: what changed, for the page's notice.
    Saved(String),
    /// Refused: the forms with what was typed and what to fix.
    Refused(Box<PrivacyView>),
}

/// The longest retention accepted (100 years).
const MAX_RETENTION_DAYS: u32 = 36_500;

/// A choice of a `<select>`.
pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub(crate) struct ExcludedView {
    pub user_id: String,
    pub label: String,
}

/// The privacy forms: the policy as stored, or what was typed.
pub(crate) struct PrivacyView {
    pub visibility: Vec<Choice>,
    pub auto_create: Vec<Choice>,
    /// Empty: keep everything.
    pub retention_days: String,
    pub retention_error: FieldError,
    pub keep_internal: bool,
    pub blocklist: Vec<String>,
    pub block_entry: String,
    pub block_error: FieldError,
    pub excluded: Vec<ExcludedView>,
    pub exclude_address: String,
    pub exclude_error: FieldError,
}

fn visibility_choices(current: Visibility) -> Vec<Choice> {
    let options = [
        (Visibility::Metadata, "metadata: who and when only"),
        (Visibility::Subject, "subject: who, when and subjects"),
        (Visibility::Full, "full: subjects and bodies"),
    ];
    choices(options, current, |v| v.as_str())
}

fn auto_create_choices(current: AutoCreate) -> Vec<Choice> {
    let options = [
        (AutoCreate::None, "none: contacts are only added by hand or by import"),
        (AutoCreate::Sent, "sent: people our users wrote to or invited"),
        (AutoCreate::SentAndReceived, "sent_and_received: people our users wrote to or heard from"),
    ];
    choices(options, current, |a| a.as_str())
}

/// One choice per option, labelled, with `current` selected; `value` is
/// what the form sends for an option.
fn choices<T: PartialEq, const N: usize>(
    options: [(T, &'static str); N],
    current: T,
    value: impl Fn(&T) -> &'static str,
) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(option, label)| Choice { value: value(&option), label, selected: option == current })
        .collect()
}

impl PrivacyView {
    pub(crate) async fn load(state: &AppState) -> Result<Self, WebError> {
        let policy = state.store().privacy_policy(state.workspace()).await?;
        let users = state.store().directory_users(state.workspace()).await?;
        let excluded = policy
            .excluded_mailboxes
            .iter()
            .map(|id| match users.iter().find(|u| u.id.eq_ignore_ascii_case(id)) {
                Some(u) => ExcludedView { user_id: id.clone(), label: format!("{} ({})", u.address(), u.display_name) },
                None => ExcludedView { user_id: id.clone(), label: format!("{id} (no longer in the directory)") },
            })
            .collect();
        Ok(PrivacyView {
            visibility: visibility_choices(policy.visibility),
            auto_create: auto_create_choices(policy.auto_create),
            retention_days: policy.retention_days.map(|d| d.to_string()).unwrap_or_default(),
            retention_error: FieldError::default(),
            keep_internal: policy.keep_internal,
            blocklist: policy.blocklist.entries().iter().map(|e| e.as_str().to_owned()).collect(),
            block_entry: String::new(),
            block_error: FieldError::default(),
            excluded,
            exclude_address: String::new(),
            exclude_error: FieldError::default(),
        })
    }
}

/// `Purged 3 emails, 1 meetings and 0 auto-created contacts.`
fn purged_text(p: &PurgeCounts) -> String {
    format!("Purged {} emails, {} meetings and {} auto-created contacts.", p.emails, p.meetings, p.contacts)
}

/// The forms as stored, edited to show what was typed and what to fix.
async fn invalid(state: &AppState, edit: impl FnOnce(&mut PrivacyView)) -> Result<Answer, WebError> {
    let mut view = PrivacyView::load(state).await?;
    edit(&mut view);
    Ok(Answer::Refused(Box::new(view)))
}

/// `POST /integrations/privacy`: the policy.
pub(crate) async fn set(state: AppState, current: CurrentUser, body: Bytes) -> Result<Answer, WebError> {
    let input = Fields::parse(&body);
    let current_policy = state.store().privacy_policy(state.workspace()).await?;
    // The selects offer only valid values; anything else keeps the setting.
    let visibility = input.get("visibility").parse::<Visibility>().unwrap_or(current_policy.visibility);
    let auto_create = input.get("auto_create").parse::<AutoCreate>().unwrap_or(current_policy.auto_create);
    // An unticked checkbox sends nothing: the form always holds it.
    let keep_internal = input.get("keep_internal") == "on";
    let typed = input.get("retention_days").trim().to_owned();
    let retention_days = if typed.is_empty() {
        None
    } else {
        match typed.parse::<u32>() {
            Ok(days) if (1..=MAX_RETENTION_DAYS).contains(&days) => Some(days),
            _ => {
                return invalid(&state, |p| {
                    p.visibility = visibility_choices(visibility);
                    p.auto_create = auto_create_choices(auto_create);
                    p.retention_days = typed;
                    p.keep_internal = keep_internal;
                    p.retention_error.set(format!(
                        "Enter a number of days between 1 and {MAX_RETENTION_DAYS}, or leave it empty to keep everything."
                    ));
                })
                .await;
            }
        }
    };
    let settings = PrivacySettings { visibility, auto_create, retention_days, keep_internal };
    let purged = state.store().set_privacy_settings(state.workspace(), settings, &current.user.email).await?;
    let mut notice = format!("Privacy settings saved. {}", purged_text(&purged));
    if visibility < current_policy.visibility {
        notice.push_str(&format!(" Stored content that `{visibility}` hides was removed."));
    } else if visibility > current_policy.visibility {
        notice.push_str(&format!(" The next sync reads content again to fill in what `{visibility}` shows."));
    }
    if current_policy.keep_internal && !keep_internal {
        notice.push_str(" Stored content of internal-only mail and meetings was removed.");
    } else if keep_internal && !current_policy.keep_internal {
        notice.push_str(" The next sync reads internal-only mail and meetings again.");
    }
    Ok(Answer::Saved(notice))
}

/// `POST /integrations/blocklist`: blocks an address or a domain.
pub(crate) async fn block(state: AppState, current: CurrentUser, body: Bytes) -> Result<Answer, WebError> {
    let input = Fields::parse(&body);
    let typed = input.get("entry").trim().to_owned();
    let entry = match BlockEntry::parse(&typed) {
        Ok(entry) => entry,
        Err(e) => {
            let message = sentence(&e.to_string());
            return invalid(&state, |p| {
                p.block_entry = typed;
                p.block_error.set(message);
            })
            .await;
        }
    };
    let purged = state.store().add_block(state.workspace(), &entry, &current.user.email).await?;
    Ok(Answer::Saved(format!("Blocked {entry}. {}", purged_text(&purged))))
}

/// `POST /integrations/blocklist/remove`.
pub(crate) async fn unblock(state: AppState, current: CurrentUser, body: Bytes) -> Result<Answer, WebError> {
    let input = Fields::parse(&body);
    let entry = BlockEntry::parse(input.get("entry")).map_err(|e| WebError::BadRequest(sentence(&e.to_string())))?;
    match state.store().remove_block(state.workspace(), &entry, &current.user.email).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => {
            return Ok(Answer::Saved(format!("{entry} is not on the blocklist (any more).")));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Answer::Saved(format!(
        "Unblocked {entry}. What was purged stays purged; new mail is synced from the next sync on."
    )))
}

/// `POST /integrations/excluded`: stops syncing a mailbox.
pub(crate) async fn exclude(state: AppState, current: CurrentUser, body: Bytes) -> Result<Answer, WebError> {
    let input = Fields::parse(&body);
    let typed = input.get("address").trim().to_owned();
    let users = state.store().directory_users(state.workspace()).await?;
    let Some(user) = users.into_iter().find(|u| !typed.is_empty() && u.has_address(&typed)) else {
        let message = if typed.is_empty() {
            "Enter the team member's address.".to_owned()
        } else {
            format!(
                "No one in the directory has the address {typed}: check the spelling, or sync first to refresh the directory."
            )
        };
        return invalid(&state, |p| {
            p.exclude_address = typed;
            p.exclude_error.set(message);
        })
        .await;
    };
    let purged = state.store().exclude_mailbox(state.workspace(), &user.id, &current.user.email).await?;
    Ok(Answer::Saved(format!(
        "Excluded {} ({}) from sync. {}",
        user.address(),
        user.display_name,
        purged_text(&purged)
    )))
}

/// `POST /integrations/excluded/remove`: syncs a mailbox again.
pub(crate) async fn include(state: AppState, current: CurrentUser, body: Bytes) -> Result<Answer, WebError> {
    let input = Fields::parse(&body);
    let user_id = input.get("user_id").trim();
    if user_id.is_empty() {
        return Err(WebError::BadRequest("Choose a mailbox to sync again.".to_owned()));
    }
    match state.store().include_mailbox(state.workspace(), user_id, &current.user.email).await {
        Ok(()) => Ok(Answer::Saved("The mailbox is synced again from the next sync on.".to_owned())),
        Err(StoreError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}
