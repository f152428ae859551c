/*!
TAC's client for Microsoft Entra ID and Microsoft Graph.

It owns everything about talking to Microsoft and nothing about the database:
client-credentials tokens (cached), the connection test that proves what the
app's permissions allow ([`capabilities`]), typed resources, list paging and delta rounds, retries that
honour `Retry-After`, and an error taxonomy that tells the admin what to do.

Login and Graph base URLs come from [`Cloud`]: the public cloud by default,
national clouds or the emulator when configured. Links in responses are
followed only to the configured Graph origin, so the bearer token never leaves it.

```no_run
# async fn run() -> Result<(), tac_graph::GraphError> {
use secrecy::SecretString;
use tac_graph::{AppCredentials, Cloud, GraphClient, RetryPolicy};
let client = GraphClient::new(
    Cloud::default(),
    AppCredentials { tenant_id: "contoso.com".into(), client_id: "…".into(), client_secret: SecretString::from("…") },
    RetryPolicy::default(),
)?;
let plan = tac_graph::capabilities::ProbePlan { mail: true, calendars: true, mailboxes: Vec::new() };
let report = client.probe_capabilities(&plan).await?;
println!("failed: {:?}", report.failed());
# Ok(()) }
```
*/

pub mod capabilities;
pub mod client;
pub mod cloud;
pub mod delta;
pub mod error;
pub mod oidc;
pub mod resources;
pub mod retry;
pub mod timezone;
pub mod token;
pub mod validate;

pub use capabilities::{Capability, CapabilityCheck, CapabilityReport, Outcome, ProbePlan};
pub use client::{GraphClient, Prefer};
pub use cloud::{Cloud, CloudPolicy, MICROSOFT_CLOUDS};
pub use delta::{Cursor, DeltaItem, DeltaPage, ItemError, RawPage};
pub use error::{ApiError, AuthError, ErrorClass, GraphError};
pub use retry::RetryPolicy;
pub use token::{ADMIN_CONSENT_FIX, APPLICATION_PERMISSIONS, AccessToken, AppCredentials, SIGN_IN_PERMISSIONS};
