-- Contacts, the activity index and privacy settings (issue: contacts,
-- matching, privacy and the timeline). PostgreSQL twin:
-- ../postgres/0002_contacts_activity_privacy.sql.

-- Where a contact came from: typed or imported by a person, or created by
-- the auto-creation policy from synced mail. Disconnecting purges the
-- automatic ones with the synced data; people's own contacts stay.
alter table contact add column source text not null default 'manual'
    check (source in ('manual', 'import', 'auto'));
create index contact_company on contact (workspace_id, company_id);
create index company_name on company (workspace_id, name);

-- The activity index is rebuilt with one typed reference per kind, so that
-- deleting an email or meeting (retention, blocklist, excluded mailbox,
-- disconnect) removes its timeline entries by cascade: no orphan can point
-- at a purged item. Nothing wrote the old table yet.
drop table activity;
create table activity (
    id integer primary key,
    workspace_id integer not null,
    contact_id integer not null,
    -- When it happened: an email's sent time, a meeting's start.
    occurred_at text not null,
    kind text not null check (kind in ('email', 'meeting')),
    email_id integer,
    meeting_id integer,
    -- For emails, seen from the contact: inbound when they sent it.
    direction text check (direction in ('inbound', 'outbound')),
    check ((kind = 'email') = (email_id is not null)),
    check ((kind = 'meeting') = (meeting_id is not null)),
    check ((kind = 'email') = (direction is not null)),
    unique (contact_id, email_id),
    unique (contact_id, meeting_id),
    foreign key (workspace_id, contact_id) references contact (workspace_id, id) on delete cascade,
    foreign key (workspace_id, email_id) references email (workspace_id, id) on delete cascade,
    foreign key (workspace_id, meeting_id) references meeting (workspace_id, id) on delete cascade
);
create index activity_timeline on activity (workspace_id, contact_id, occurred_at);
create index activity_email on activity (email_id);
create index activity_meeting on activity (meeting_id);

-- email_participant.contact_id and meeting_attendee.contact_id stay unused:
-- matching goes through contact_email by address, and the activity index
-- holds the result.

create index meeting_organizer on meeting (workspace_id, organizer_address);

-- Meeting subjects and locations, searchable like email (see email_fts).
create virtual table meeting_fts using fts5 (
    subject,
    location,
    content = 'meeting',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
insert into meeting_fts (rowid, subject, location) select id, subject, coalesce(location, '') from meeting;

create trigger meeting_fts_after_insert after insert on meeting begin
    insert into meeting_fts (rowid, subject, location) values (new.id, new.subject, coalesce(new.location, ''));
end;

create trigger meeting_fts_after_delete after delete on meeting begin
    insert into meeting_fts (meeting_fts, rowid, subject, location)
    values ('delete', old.id, old.subject, coalesce(old.location, ''));
end;

create trigger meeting_fts_after_update after update of subject, location on meeting
when old.subject <> new.subject or coalesce(old.location, '') <> coalesce(new.location, '') begin
    insert into meeting_fts (meeting_fts, rowid, subject, location)
    values ('delete', old.id, old.subject, coalesce(old.location, ''));
    insert into meeting_fts (rowid, subject, location) values (new.id, new.subject, coalesce(new.location, ''));
end;

-- The workspace's privacy policy (DESIGN §5); no row means the defaults.
-- The blocklist is its own table (0001); excluded mailboxes are below.
create table privacy_policy (
    workspace_id integer primary key references workspace (id) on delete cascade,
    visibility text not null check (visibility in ('metadata', 'subject', 'full')),
    auto_create text not null check (auto_create in ('none', 'sent', 'sent_and_received')),
    retention_days integer check (retention_days is null or retention_days > 0),
    updated_at text not null
);

-- Directory users whose mailboxes are never synced.
create table excluded_mailbox (
    workspace_id integer not null references workspace (id) on delete cascade,
    user_id text not null,
    created_at text not null,
    primary key (workspace_id, user_id)
);
