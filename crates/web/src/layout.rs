//! What every HTML page of the portal shares around its content
//! (`base.html`): the title, the signed-in person for the navigation, and
//! the CSRF token of the sign-out form. The pages and the error pages
//! (`error.rs`) both render it.

use crate::CurrentUser;

/// What `base.html` needs: the page title, the signed-in person for the
/// navigation, and the CSRF token of its sign-out form.
pub(crate) struct Layout {
    pub title: String,
    pub user: Option<NavUser>,
    pub csrf: String,
    pub asset_version: &'static str,
}

pub(crate) struct NavUser {
    pub name: String,
    pub is_admin: bool,
}

impl Layout {
    pub fn anonymous(title: &str) -> Self {
        Layout {
            title: title.to_owned(),
            user: None,
            csrf: String::new(),
            asset_version: &crate::statics::ASSET_VERSION,
        }
    }

    pub fn signed_in(title: &str, current: &CurrentUser) -> Self {
        Layout {
            title: title.to_owned(),
            user: Some(NavUser { name: current.user.name().to_owned(), is_admin: current.user.is_admin() }),
            csrf: current.csrf_token.clone(),
            asset_version: &crate::statics::ASSET_VERSION,
        }
    }
}
