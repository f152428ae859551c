//! Who may Sign in with Microsoft, on the Integrations page: every member
//! of the tenant, or only the members of one directory group (the groups
//! the directory sync stored, as for the mailbox scope). The rule itself is
//! applied at sign-in by `auth::microsoft::admit`.
//!
//! - `POST /integrations/sign-in`: saves the choice (`sign_in_group`: a
//!   group object id, or empty for everyone).

use super::{Fields, GroupOption, IntegrationsPage};
use crate::pages::{FieldError, page};
use crate::{AdminUser, AppState, WebError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use tac_sync::connection::validate;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/integrations/sign-in", post(save))
}

/// The sign-in form: the groups to pick from, one of them checked when
/// sign-in is limited to it.
pub(crate) struct SignInView {
    pub groups: Vec<GroupOption>,
    /// No group chosen: everyone in the tenant.
    pub everyone: bool,
    pub error: FieldError,
}

impl SignInView {
    /// The setting as stored.
    pub(crate) async fn load(state: &AppState) -> Result<Self, WebError> {
        let chosen = state.store().sign_in_group(state.workspace()).await?;
        Self::with_choice(state, chosen.as_deref()).await
    }

    async fn with_choice(state: &AppState, chosen: Option<&str>) -> Result<Self, WebError> {
        let known = state.store().directory_groups(state.workspace()).await?;
        let is_chosen = |id: &str| chosen.is_some_and(|c| c.eq_ignore_ascii_case(id));
        let mut groups: Vec<GroupOption> = known
            .iter()
            .map(|g| GroupOption { id: g.id.clone(), name: g.display_name.clone(), checked: is_chosen(&g.id) })
            .collect();
        if let Some(id) = chosen
            && !known.iter().any(|g| g.id.eq_ignore_ascii_case(id))
        {
            groups.push(GroupOption { id: id.to_owned(), name: format!("Group {id}"), checked: true });
        }
        Ok(SignInView { groups, everyone: chosen.is_none(), error: FieldError::default() })
    }
}

async fn save(State(state): State<AppState>, AdminUser(current): AdminUser, body: Bytes) -> Result<Response, WebError> {
    let input = Fields::parse(&body);
    let group = input.get("sign_in_group").trim().to_ascii_lowercase();
    let group = (!group.is_empty()).then_some(group);
    if let Some(bad) = group.as_deref().filter(|g| !validate::is_guid(g)) {
        let mut view = IntegrationsPage::load(&state, &current).await?;
        view.sign_in = SignInView::with_choice(&state, None).await?;
        view.sign_in.error.set(format!("{bad:?} is not a group object id (a GUID): pick a group from the list."));
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    state.store().set_sign_in_group(state.workspace(), group.as_deref()).await?;
    tracing::info!(admin = %current.user.email, limited = group.is_some(), "Microsoft sign-in policy saved");
    let view = IntegrationsPage::load(&state, &current).await?;
    let notice = match view.sign_in.groups.iter().find(|g| g.checked) {
        Some(g) => format!("Saved. Only members of {} can sign in with Microsoft.", g.name),
        None => "Saved. Every member of your organisation can sign in with Microsoft.".to_owned(),
    };
    page(StatusCode::OK, &view.with_notice(notice))
}
