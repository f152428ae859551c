//! Sign in with Microsoft, on the Integrations page: who may sign in (every
//! member of the tenant, or only the members of one directory group, from
//! the groups the directory sync stored), and which Entra directory roles
//! make someone a TAC admin (none by default). The rules are applied at
//! sign-in by `auth::microsoft::admit`, and roles also at each directory
//! sync.
//!
//! - `POST /integrations/sign-in`: saves who may sign in (`sign_in_group`:
//!   a group object id, or empty for everyone).
//! - `POST /integrations/admin-roles`: saves the roles (`admin_role`: role
//!   template ids, any number) and applies them to linked accounts at once.

use super::{Fields, GroupOption, IntegrationsPage};
use crate::pages::{FieldError, page};
use crate::{AdminUser, AppState, WebError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use tac_core::records::GLOBAL_ADMINISTRATOR_TEMPLATE;
use tac_sync::connection::validate;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/integrations/sign-in", post(save)).route("/integrations/admin-roles", post(save_admin_roles))
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

/// One Entra role an admin can tick.
pub(crate) struct RoleOption {
    pub template_id: String,
    pub name: String,
    pub description: String,
    /// How many people the last directory sync saw holding it; `None`
    /// when the sync has not read it (not activated, or not synced yet).
    pub holders: Option<u64>,
    pub checked: bool,
}

/// The roles that make someone a TAC admin: the tenant's activated roles
/// as last synced, and Global Administrator always.
pub(crate) struct AdminRolesView {
    pub roles: Vec<RoleOption>,
    /// The directory sync has read the roles at least once.
    pub synced: bool,
    pub error: FieldError,
}

impl AdminRolesView {
    pub(crate) async fn load(state: &AppState) -> Result<Self, WebError> {
        let chosen = state.store().sign_in_admin_roles(state.workspace()).await?;
        Self::with_choice(state, &chosen).await
    }

    async fn with_choice(state: &AppState, chosen: &[String]) -> Result<Self, WebError> {
        let (store, ws) = (state.store(), state.workspace());
        let known = store.directory_roles(ws).await?;
        let counts = store.role_holder_counts(ws).await?;
        let holders = |template: &str| counts.iter().find(|(t, _)| t == template).map_or(0, |(_, n)| *n);
        let is_chosen = |t: &str| chosen.iter().any(|c| c.eq_ignore_ascii_case(t));
        let mut roles = Vec::with_capacity(known.len() + 1);
        if !known.iter().any(|r| r.role_template_id.eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR_TEMPLATE)) {
            roles.push(RoleOption {
                template_id: GLOBAL_ADMINISTRATOR_TEMPLATE.to_owned(),
                name: "Global Administrator".to_owned(),
                description: String::new(),
                holders: None,
                checked: is_chosen(GLOBAL_ADMINISTRATOR_TEMPLATE),
            });
        }
        for role in &known {
            roles.push(RoleOption {
                holders: Some(holders(&role.role_template_id)),
                checked: is_chosen(&role.role_template_id),
                template_id: role.role_template_id.clone(),
                name: role.display_name.clone(),
                description: role.description.clone(),
            });
        }
        // Global Administrator first, then by name.
        roles.sort_by_key(|r| (!r.template_id.eq_ignore_ascii_case(GLOBAL_ADMINISTRATOR_TEMPLATE), r.name.clone()));
        for c in chosen {
            if !roles.iter().any(|r| r.template_id.eq_ignore_ascii_case(c)) {
                roles.push(RoleOption {
                    template_id: c.clone(),
                    name: format!("Role {c}"),
                    description: "The last directory sync did not see this role in the tenant.".to_owned(),
                    holders: None,
                    checked: true,
                });
            }
        }
        Ok(AdminRolesView { roles, synced: !known.is_empty(), error: FieldError::default() })
    }
}

async fn save_admin_roles(
    State(state): State<AppState>,
    AdminUser(current): AdminUser,
    body: Bytes,
) -> Result<Response, WebError> {
    let input = Fields::parse(&body);
    let chosen: Vec<String> = input.all("admin_role").map(|r| r.trim().to_ascii_lowercase()).collect();
    if let Some(bad) = chosen.iter().find(|r| !validate::is_guid(r)) {
        let mut view = IntegrationsPage::load(&state, &current).await?;
        view.admin_roles = AdminRolesView::with_choice(&state, &[]).await?;
        view.admin_roles.error.set(format!("{bad:?} is not a role template id (a GUID): pick roles from the list."));
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    let changes = state.store().set_sign_in_admin_roles(state.workspace(), &chosen, &current.user.email).await?;
    tracing::info!(
        admin = %current.user.email,
        roles = chosen.len(),
        promoted = changes.promoted.len(),
        demoted = changes.demoted.len(),
        "Entra admin roles saved"
    );
    let view = IntegrationsPage::load(&state, &current).await?;
    let names: Vec<&str> = view.admin_roles.roles.iter().filter(|r| r.checked).map(|r| r.name.as_str()).collect();
    let mut notice = if names.is_empty() {
        "Saved. No Entra role makes anyone a TAC admin.".to_owned()
    } else {
        format!("Saved. People who hold {} are TAC admins when they sign in with Microsoft.", names.join(" or "))
    };
    let count = |n: usize| if n == 1 { "1 account".to_owned() } else { format!("{n} accounts") };
    if !changes.promoted.is_empty() {
        notice.push_str(&format!(" {} became admin.", count(changes.promoted.len())));
    }
    if !changes.demoted.is_empty() {
        notice.push_str(&format!(" {} became member again.", count(changes.demoted.len())));
    }
    page(StatusCode::OK, &view.with_notice(notice))
}
