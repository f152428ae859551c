-- TAC schema, SQLite flavour (DESIGN §3).
--
-- The PostgreSQL twin is ../postgres/0001_initial.sql: keep both in step, same
-- tables, columns, keys and checks. Differences are only in types (times are
-- RFC 3339 text written by sqlx's chrono support, booleans are 0/1, JSON is
-- text) and in full-text search (FTS5 here, tsvector there).
--
-- Every row carries workspace_id. Child tables reference their parent by
-- (workspace_id, id), so a row can never point into another workspace.

create table workspace (
    id integer primary key,
    name text not null unique,
    created_at text not null
);

-- One per workspace. The client secret is AES-256-GCM ciphertext (tag
-- appended) with this row's id as AAD; the four secret columns are null until
-- an admin sets a secret.
create table integration (
    id integer primary key,
    workspace_id integer not null unique references workspace (id) on delete cascade,
    tenant_id text not null,
    client_id text not null,
    secret_ciphertext blob,
    secret_nonce blob,
    secret_key_id text,
    secret_set_at text,
    login_url text not null,
    graph_url text not null,
    import_emails integer not null,
    calendar_sync integer not null,
    -- JSON: "all" or {"groups": ["<group object id>", …]}
    mailbox_scope text not null,
    backfill_days integer not null check (backfill_days >= 0),
    status text not null check (status in ('unverified', 'connected', 'failed')),
    last_error text,
    updated_at text not null,
    check ((secret_ciphertext is null) = (secret_nonce is null))
);

-- The tenant's directory, replaced as a whole by each directory sync.
create table directory_user (
    workspace_id integer not null references workspace (id) on delete cascade,
    id text not null, -- Graph object id
    display_name text not null,
    user_principal_name text not null,
    mail text,
    proxy_addresses text not null, -- JSON array, as Graph returns it
    account_enabled integer not null,
    primary key (workspace_id, id)
);

create table directory_group (
    workspace_id integer not null references workspace (id) on delete cascade,
    id text not null, -- Graph object id
    display_name text not null,
    mail text,
    primary key (workspace_id, id)
);

-- No foreign keys to user or group: Graph lists members (devices, guests,
-- nested groups) that the directory sync does not keep.
create table group_member (
    workspace_id integer not null references workspace (id) on delete cascade,
    group_id text not null,
    user_id text not null,
    primary key (workspace_id, group_id, user_id)
);

create table tenant_domain (
    workspace_id integer not null references workspace (id) on delete cascade,
    name text not null,
    is_default integer not null,
    is_initial integer not null,
    primary key (workspace_id, name)
);

-- One per synced user. Counts are computed from the copies when read.
create table mailbox (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    user_id text not null, -- directory_user.id
    address text not null,
    state text not null
        check (state in ('ok', 'syncing', 'backoff', 'no_mailbox', 'access_denied', 'failed')),
    last_success_at text,
    last_error_code text,
    last_error_message text,
    backoff_until text,
    created_at text not null,
    updated_at text not null,
    unique (workspace_id, user_id),
    unique (workspace_id, id)
);

-- Items that failed to decode (DESIGN §4 "Bad data"), once per item.
create table skipped_item (
    id integer primary key,
    workspace_id integer not null,
    mailbox_id integer not null,
    item_id text not null,
    reason text not null,
    first_seen_at text not null,
    last_seen_at text not null,
    unique (workspace_id, mailbox_id, item_id),
    foreign key (workspace_id, mailbox_id) references mailbox (workspace_id, id) on delete cascade
);

-- scope is 'calendar' or 'folder:<Graph folder id>'. A next link is saved in
-- the same transaction as its page's rows; a delta link ends a round.
create table sync_cursor (
    workspace_id integer not null,
    mailbox_id integer not null,
    scope text not null,
    kind text not null check (kind in ('next_link', 'delta_link')),
    url text not null,
    updated_at text not null,
    primary key (workspace_id, mailbox_id, scope),
    foreign key (workspace_id, mailbox_id) references mailbox (workspace_id, id) on delete cascade
);

-- Contacts are external people; created here so that participants and
-- attendees can point at them once matching exists.
create table company (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    name text not null,
    domain text,
    created_at text not null,
    unique (workspace_id, domain),
    unique (workspace_id, id)
);

create table contact (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    name text not null,
    company_id integer references company (id) on delete set null,
    created_at text not null,
    updated_at text not null,
    unique (workspace_id, id)
);

-- Several addresses per contact, each normalised and unique per workspace.
create table contact_email (
    id integer primary key,
    workspace_id integer not null,
    contact_id integer not null,
    address text not null,
    created_at text not null,
    unique (workspace_id, address),
    foreign key (workspace_id, contact_id) references contact (workspace_id, id) on delete cascade
);
create index contact_email_contact on contact_email (contact_id);

-- Deduplicated workspace-wide by Message-ID. body_text is body_html reduced
-- to words, for search.
create table email (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    internet_message_id text not null check (internet_message_id <> ''),
    conversation_id text,
    subject text not null,
    body_html text not null,
    body_preview text not null,
    body_text text not null,
    sent_at text not null,
    received_at text not null,
    has_attachments integer not null,
    importance text not null,
    is_private integer not null,
    meeting_message_type text,
    -- Hex SHA-256 of the record as ingested, participants included: a page
    -- that brings the same record again skips the row and its participants.
    fingerprint text not null,
    created_at text not null,
    updated_at text not null,
    unique (workspace_id, internet_message_id),
    unique (workspace_id, id)
);
create index email_sent_at on email (workspace_id, sent_at);
create index email_conversation on email (workspace_id, conversation_id);

-- One per (mailbox, immutable id). A move updates folder_id; a removal sets
-- removed_at and keeps the row.
create table email_copy (
    id integer primary key,
    workspace_id integer not null,
    mailbox_id integer not null,
    email_id integer not null,
    graph_id text not null check (graph_id <> ''),
    folder_id text not null,
    direction text not null check (direction in ('inbound', 'outbound')),
    is_read integer not null,
    removed_at text,
    created_at text not null,
    updated_at text not null,
    unique (workspace_id, mailbox_id, graph_id),
    foreign key (workspace_id, mailbox_id) references mailbox (workspace_id, id) on delete cascade,
    foreign key (workspace_id, email_id) references email (workspace_id, id) on delete cascade
);
create index email_copy_email on email_copy (email_id);

create table email_participant (
    id integer primary key,
    workspace_id integer not null,
    email_id integer not null,
    role text not null check (role in ('from', 'to', 'cc', 'bcc', 'organizer', 'attendee')),
    address text not null,
    name text not null,
    contact_id integer references contact (id) on delete set null,
    unique (email_id, role, address),
    foreign key (workspace_id, email_id) references email (workspace_id, id) on delete cascade
);
create index email_participant_address on email_participant (workspace_id, address);

-- Full-text index over subject and body text, kept in step by triggers.
create virtual table email_fts using fts5 (
    subject,
    body_text,
    content = 'email',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

create trigger email_fts_after_insert after insert on email begin
    insert into email_fts (rowid, subject, body_text) values (new.id, new.subject, new.body_text);
end;

create trigger email_fts_after_delete after delete on email begin
    insert into email_fts (email_fts, rowid, subject, body_text)
    values ('delete', old.id, old.subject, old.body_text);
end;

-- Only when the indexed text changed: ingest rewrites an email whose other
-- fields differ (received time, participants) without re-indexing it.
create trigger email_fts_after_update after update of subject, body_text on email
when old.subject <> new.subject or old.body_text <> new.body_text begin
    insert into email_fts (email_fts, rowid, subject, body_text)
    values ('delete', old.id, old.subject, old.body_text);
    insert into email_fts (rowid, subject, body_text) values (new.id, new.subject, new.body_text);
end;

-- Deduplicated by iCalUId; each occurrence of a series has its own.
create table meeting (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    ical_uid text not null check (ical_uid <> ''),
    series_master_id text,
    event_type text not null,
    subject text not null,
    body_html text not null,
    start_at text not null,
    end_at text not null,
    is_all_day integer not null,
    is_cancelled integer not null,
    sensitivity text not null,
    original_time_zone text,
    location text,
    online_meeting_url text,
    organizer_address text not null,
    organizer_name text not null,
    -- Hex SHA-256 of the stored record, attendees included (see email).
    fingerprint text not null,
    created_at text not null,
    updated_at text not null,
    unique (workspace_id, ical_uid),
    unique (workspace_id, id)
);
create index meeting_start_at on meeting (workspace_id, start_at);

-- One per (mailbox, event id), with that mailbox's own response.
create table meeting_copy (
    id integer primary key,
    workspace_id integer not null,
    mailbox_id integer not null,
    meeting_id integer not null,
    graph_id text not null check (graph_id <> ''),
    response text not null,
    is_organizer integer not null,
    removed_at text,
    created_at text not null,
    updated_at text not null,
    unique (workspace_id, mailbox_id, graph_id),
    foreign key (workspace_id, mailbox_id) references mailbox (workspace_id, id) on delete cascade,
    foreign key (workspace_id, meeting_id) references meeting (workspace_id, id) on delete cascade
);
create index meeting_copy_meeting on meeting_copy (meeting_id);

create table meeting_attendee (
    id integer primary key,
    workspace_id integer not null,
    meeting_id integer not null,
    address text not null,
    name text not null,
    kind text not null, -- required | optional | resource
    response text not null,
    contact_id integer references contact (id) on delete set null,
    unique (meeting_id, address),
    foreign key (workspace_id, meeting_id) references meeting (workspace_id, id) on delete cascade
);
create index meeting_attendee_address on meeting_attendee (workspace_id, address);

-- The timeline index: what a contact did when. ref_id is an email or meeting id.
create table activity (
    id integer primary key,
    workspace_id integer not null,
    contact_id integer not null,
    occurred_at text not null,
    kind text not null check (kind in ('email', 'meeting')),
    ref_id integer not null,
    unique (contact_id, kind, ref_id),
    foreign key (workspace_id, contact_id) references contact (workspace_id, id) on delete cascade
);
create index activity_timeline on activity (workspace_id, contact_id, occurred_at);

-- An address or '@domain' (which also covers subdomains), lowercase.
create table blocklist (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    entry text not null,
    created_at text not null,
    unique (workspace_id, entry)
);

create table audit_log (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    at text not null,
    actor text not null,
    action text not null,
    detail text -- JSON
);
create index audit_log_at on audit_log (workspace_id, at);

create table portal_user (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    email text not null,
    password_hash text, -- argon2; null for users who only sign in with OIDC
    created_at text not null,
    unique (workspace_id, email),
    unique (workspace_id, id)
);

-- id is a hash of the session token, never the token itself.
create table session (
    id text primary key,
    workspace_id integer not null,
    portal_user_id integer not null,
    csrf_token text not null,
    created_at text not null,
    expires_at text not null,
    foreign key (workspace_id, portal_user_id) references portal_user (workspace_id, id) on delete cascade
);
create index session_expires_at on session (expires_at);
