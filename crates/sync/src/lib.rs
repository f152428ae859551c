/*!
TAC's sync engine.

It reads the directory, then each mailbox's mail folders and calendar through
`tac-graph`, turns every item into `tac-core` records, and hands them to
`tac-store` page by page with the cursor in the same transaction, so a crash
at any moment resumes without losing or duplicating anything.
*/

pub mod connection;
pub mod engine;
pub mod health;
pub mod normalize;

pub use engine::{MailboxReport, MailboxScope, Progress, Quiet, SyncError, SyncOptions, SyncReport, sync_once};
