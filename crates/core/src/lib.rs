/*!
TAC's domain: the types that sync produces and the store persists, and the
rules that decide about them. Nothing here does I/O, so every rule can be
tested exhaustively and reused by the CLI, the portal and the sync engine.

- [`address`]: the one address normalisation (docs/architecture.md §5).
- [`records`]: directory, mailbox, email and meeting records.
- [`text`]: readable text from email HTML, for the search index.
- [`internal`]: the internal-or-external decision.
- [`timeline`]: timeline items as shown, after the privacy rules.
- [`privacy`]: visibility levels, the blocklist, auto-creation policy and
  data minimisation (docs/architecture.md §5): the one place the privacy rules live.
- [`contacts`]: contact names, role addresses, company domains and whom
  auto-creation proposes.
- [`insights`]: follow-up status and relationship strength, with formulas.
- [`sanitize`]: email HTML made safe to display (ammonia).
- [`contact_csv`]: contacts from an imported CSV file, checked row by row.
*/

pub mod address;
pub mod contact_csv;
pub mod contacts;
pub mod insights;
pub mod internal;
pub mod privacy;
pub mod records;
pub mod sanitize;
pub mod text;
pub mod timeline;

pub use address::{AddressError, AddressKind, NormalizedAddress};
pub use records::{
    AttendeeRecord, Direction, DirectoryGroup, DirectoryRole, DirectoryUser, EmailCopy, EmailRecord, MailboxState,
    MeetingCopy, MeetingRecord, Participant, ParticipantRole, TenantDomain, UnknownVariant,
};
