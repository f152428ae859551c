/*!
The JSON API under `/api/v1`, described by the OpenAPI 3.1 document at
`/api/v1/openapi.json` ([`openapi`]).

It serves programs what the portal's pages and `tac-crm` show people, over
the same store calls and JSON shapes (`tac_store::json`), so the CLI's
`--json` output and the API agree. Every request is authenticated by the
portal's session cookie ([`CurrentUser`]; [`crate::AdminUser`] for the admin
endpoints) and scoped to the portal's workspace; unsafe methods also carry
the session's CSRF token in `X-CSRF-Token` (`csrf_token` of `GET /api/v1/me`),
which the CSRF middleware checks before any handler runs.

Errors are RFC 9457 `application/problem+json` (rendered by `crate::error`):
400 for a body that is not JSON or a query that cannot be read, 415 for a
body that is not `application/json`, 422 with an `errors` list (`field`,
`message`) for input that was read but is not acceptable (a bad address, an
unknown kind, a limit out of range, a foreign cursor, an unknown
parameter), 404 for an id that does not exist *in this workspace* (another
workspace's ids are indistinguishable from unknown ones), 403 for a
member on an admin endpoint or an email body the privacy policy hides, 409
for a conflict. Bad input never yields a 500.

The routes are declared once, in [`api_routes!`], which builds the router
and the list of (method, path) pairs that the tests compare with the
OpenAPI document.
*/

mod contacts;
mod input;
pub(crate) mod openapi;
mod status;
mod timeline;

use crate::AppState;
use axum::Router;
use axum::routing::MethodRouter;

/// Declares the API's routes: `path => { method: handler, … }`. Expands to
/// [`router`] and [`ROUTES`], so the list cannot drift from the router.
macro_rules! api_routes {
    ($($path:literal => { $($method:ident : $handler:path),+ $(,)? }),+ $(,)?) => {
        /// Every (method, path) the API serves, as the router has them.
        pub const ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),+];

        /// The API's routes, merged into [`crate::routes`].
        pub(crate) fn router() -> Router<AppState> {
            Router::new()
                $(.route($path, MethodRouter::new()$(.$method($handler))+))+
        }
    };
}

api_routes! {
    "/api/v1/openapi.json" => { get: openapi::document },
    "/api/v1/me" => { get: status::me },
    "/api/v1/contacts" => { get: contacts::list, post: contacts::create },
    "/api/v1/contacts/{id}" => { get: contacts::show, patch: contacts::update, delete: contacts::delete },
    "/api/v1/contacts/{id}/emails" => { post: contacts::add_email, delete: contacts::remove_email },
    "/api/v1/contacts/{id}/timeline" => { get: timeline::contact_timeline },
    "/api/v1/contacts/{id}/summary" => { get: timeline::contact_summary },
    "/api/v1/companies/{id}/timeline" => { get: timeline::company_timeline },
    "/api/v1/search" => { get: timeline::search },
    "/api/v1/emails/{id}/body" => { get: timeline::email_body },
    "/api/v1/mailboxes" => { get: status::mailboxes },
    "/api/v1/sync" => { post: status::request_sync },
    "/api/v1/integration" => { get: status::integration },
}
