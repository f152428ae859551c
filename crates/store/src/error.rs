//! What can go wrong in the store, named so callers can react: constraint
//! violations become variants where the query runs, and an undecryptable
//! secret tells the admin what to do.

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL is neither `sqlite://…` nor `postgres://…`. Only the scheme is
    /// repeated, because the rest may hold a password.
    #[error("unsupported database URL scheme `{0}`: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DATABASE")]
    UnsupportedUrl(String),

    #[error("could not open the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("could not migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// A unique constraint refused the write (the database enforces
    /// uniqueness; the variant names the constraint instead of checking first).
    #[error("already exists ({constraint})")]
    Conflict { constraint: String },

    /// A check, not-null or foreign-key constraint refused the data.
    #[error("the database rejected the data ({constraint}): {message}")]
    Rejected { constraint: String, message: String },

    /// The caller passed something the store cannot act on.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A contact change refused for one of its fields: which, and what to
    /// do (a lower-case clause; `error::sentence` in the portal makes it a
    /// sentence).
    #[error("{message}")]
    ContactRefused { field: ContactField, message: String },

    /// A search text over the limits (`MAX_SEARCH_CHARS`,
    /// `MAX_SEARCH_WORDS`): why, and what to do.
    #[error("{0}")]
    SearchTooBig(String),

    /// A search ran past [`crate::SEARCH_TIME_BUDGET`] and was stopped, so
    /// that it cannot hold a connection and a core for long.
    #[error(
        "the search took longer than {0} seconds and was stopped: search for rarer words, or narrow it to a \
         contact or a time range"
    )]
    SearchTimedOut(u64),

    #[error("{0} not found")]
    NotFound(&'static str),

    /// The privacy policy hides what was asked for.
    #[error("{0}")]
    Hidden(&'static str),

    /// A contact address that another contact already has.
    #[error("{address} already belongs to contact {contact_id}: add it to that contact, or remove it there first")]
    AddressInUse { address: String, contact_id: i64 },

    /// Contacts are external people; this address is one of the tenant's.
    #[error(
        "{0} belongs to your organisation (a directory user or a verified domain); contacts are external people, \
         and mail among colleagues never appears on a timeline"
    )]
    InternalAddress(String),

    /// A portal user with this email already exists in the workspace.
    #[error("a portal user with the email {email} already exists: sign in as them, or pick another email")]
    UserExists { email: String },

    /// The one-time setup link is unknown, expired or already used.
    #[error(
        "this setup link is not valid: it was already used or has expired; restart `tac-crm serve` for a new \
         one, or create an admin with `tac-crm admin create --email E --password-stdin`"
    )]
    SetupTokenInvalid,

    /// Setup creates the first admin only; one exists.
    #[error("an admin already exists: sign in, and ask an admin to add more users")]
    AdminExists,

    /// The client secret was sealed with another master key, or the stored
    /// bytes were altered. Nothing but re-entering the secret can fix it.
    #[error(
        "the stored client secret cannot be decrypted with the configured master key \
         (secret sealed with key `{stored_key_id}`, configured key is `{configured_key_id}`); \
         the master key was changed or lost: re-enter the client secret \
         (`tac-crm integration set … --client-secret-stdin`)"
    )]
    SecretUndecryptable { stored_key_id: String, configured_key_id: String },

    #[error("invalid master key: {0}")]
    InvalidMasterKey(&'static str),

    /// The operating system's random source or the cipher failed.
    #[error("encryption failed: {0}")]
    Crypto(&'static str),

    /// A stored value does not parse: the database was edited by hand or by a
    /// newer version.
    #[error("stored value in `{column}` is invalid: {detail}")]
    Corrupt { column: &'static str, detail: String },

    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let sqlx::Error::Database(db) = &error else {
            return StoreError::Database(error);
        };
        let constraint = db.constraint().unwrap_or("unnamed constraint").to_owned();
        match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict { constraint },
            sqlx::error::ErrorKind::CheckViolation
            | sqlx::error::ErrorKind::NotNullViolation
            | sqlx::error::ErrorKind::ForeignKeyViolation => {
                StoreError::Rejected { constraint, message: db.message().to_owned() }
            }
            _ => StoreError::Database(error),
        }
    }
}

/// The field of a contact change that [`StoreError::ContactRefused`]
/// names, so the portal and the API can show the refusal beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactField {
    Name,
    /// The contact's addresses.
    Emails,
    Company,
}

impl StoreError {
    /// Whether retrying the same call may succeed: a deadlock or
    /// serialization failure (PostgreSQL), a busy or locked database
    /// (SQLite), a pool timeout or a lost connection. Page ingest is
    /// idempotent, so sync can simply apply the page again.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                // PostgreSQL SQLSTATEs are five characters; SQLite's are
                // (extended) result codes: BUSY 5, 261, 517, 773; LOCKED 6, 262.
                matches!(db.code().as_deref(), Some("40001" | "40P01" | "5" | "261" | "517" | "773" | "6" | "262"))
            }
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
            _ => false,
        }
    }

    /// Whether the database stopped the statement because its time budget
    /// ran out: SQLite's `SQLITE_INTERRUPT` (9, which the progress handler
    /// causes), PostgreSQL's `query_canceled` (57014, `statement_timeout`).
    pub(crate) fn is_interrupted(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => matches!(db.code().as_deref(), Some("9" | "57014")),
            _ => false,
        }
    }

    pub(crate) fn corrupt(column: &'static str, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt { column, detail: detail.to_string() }
    }
}
