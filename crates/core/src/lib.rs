/*!
TAC's domain: the types that sync produces and the store persists, and the
rules that decide about them. Nothing here does I/O, so every rule can be
tested exhaustively and reused by the CLI, the portal and the sync engine.

- [`address`]: the one address normalisation (DESIGN §5).
- [`records`]: directory, mailbox, email and meeting records.
- [`text`]: readable text from email HTML, for the search index.
*/

pub mod address;
pub mod records;
pub mod text;

pub use address::{AddressError, AddressKind, NormalizedAddress};
pub use records::{
    AttendeeRecord, Direction, DirectoryGroup, DirectoryUser, EmailCopy, EmailRecord, MailboxState, MeetingCopy,
    MeetingRecord, Participant, ParticipantRole, TenantDomain, UnknownVariant,
};
